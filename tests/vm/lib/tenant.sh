# SPDX-License-Identifier: LGPL-2.1-or-later
# Tenant cgroups in a tests/vm/run guest (root, cgroup2 at /sys/fs/cgroup): make them, run programs in
# them. Sourced by scripts/demo-guest and tests/vm/policy/lib.sh; sourcing it only defines CG and the
# functions below (no checks, no temporary files, no set options).

CG=/sys/fs/cgroup

# mkparent NAME MAX: a common parent with memory.max MAX (the contended resource; zram swap takes
# the overflow) and +memory for its children.
mkparent() {
	mkdir -p "$CG/$1"
	echo "+memory" > "$CG/$1/cgroup.subtree_control"
	echo "$2" > "$CG/$1/memory.max"
}

# run_in CGROUP CMD...: run CMD inside CGROUP (relative to $CG): a shell moves itself there, then
# becomes CMD, so nothing of the caller is charged to the tenant.
run_in() {
	_run_in_cg=$1
	shift
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/$_run_in_cg" "$@"
}
