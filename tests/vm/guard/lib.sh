# SPDX-License-Identifier: LGPL-2.1-or-later
# Helpers shared by the storm-guard VM test (tests/vm/guard/guard.sh) and benchmark
# (bench/guard/bench.sh), sourced after tests/integration/lib.sh; $CGR is the scratch cgroup.

# in_cgroup CGROUP [setpriv args] -- CMD...: run CMD in CGROUP (background)
in_cgroup() {
	local cg=$1
	shift
	sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CGR/$cg" "$@"
}
# rate LOG FROM_MS TO_MS: bytes/s of a storm.c log between two times (last line at or before each)
rate() {
	python3 - "$@" <<'EOP'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
def at(t):
    v = rows[0][1]
    for r in rows:
        if r[0] <= t: v = r[1]
    return v
a, b = float(sys.argv[2]), float(sys.argv[3])
print(int((at(b) - at(a)) / ((b - a) / 1000)))
EOP
}
# remove_cgroups NAME...: thaw, kill and remove the scratch cgroups $CGR/NAME, then $CGR
remove_cgroups() {
	for c in "$@"; do
		[ -d "$CGR/$c" ] || continue
		echo 0 >"$CGR/$c/cgroup.freeze" 2>/dev/null
		echo 1 >"$CGR/$c/cgroup.kill" 2>/dev/null
	done
	sleep 0.5
	rmdir "$CGR"/* "$CGR" 2>/dev/null
}
