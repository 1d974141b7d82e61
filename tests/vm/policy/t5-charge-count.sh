#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# VM test (5): struct_ops and tracing count the same charges. One workload (a hog faulting in 64 MiB,
# run three times) in one tenant, once under the struct_ops policy (Policy=priority: its charge hook
# runs when try_charge_memcg() misses the per-CPU stock) and once under the tracing policy
# (Policy=observe: fentry/fexit on try_charge_memcg, the same observe program as tracing mode). The
# tenant's "charges" counter (memqosd_stats, read with bpftool) must agree within the stated
# tolerance; counting every try_charge_memcg() call, stock hits included, gives about 64 times more.
# Run inside the guest on the patched kernel: tests/vm/run -- tests/vm/policy/t5-charge-count.sh
. "$(dirname "$0")/lib.sh"

BPFTOOL=${MEMQOSD_CACHE:-/var/cache/memqosd}/tools/sbin/bpftool
MIB=64
RUNS=3
# The tracing count over the struct_ops count must lie in [1/TOL, TOL].
TOL=1.25

[ -x "$BPFTOOL" ] || { echo "bpftool missing at $BPFTOOL (scripts/build-libbpf)"; exit 1; }

# counters TENANT_ID: "charges charge_pages charge_fails" of the running daemon's memqosd_stats map.
counters() {
	id=$("$BPFTOOL" map show name memqosd_stats 2>/dev/null | sed -n 's/^\([0-9]*\): .*/\1/p' | tail -n 1)
	[ -n "$id" ] || { echo "no memqosd_stats map"; return 1; }
	"$BPFTOOL" -j map lookup id "$id" key "$1" 0 0 0 | python3 -c '
import json, sys
v = bytes(int(b, 16) for b in json.load(sys.stdin)["value"])
print(*(int.from_bytes(v[i * 8:i * 8 + 8], "little") for i in range(3)))'
}

workload() {
	for _ in $(seq 1 "$RUNS"); do
		run_in cnt/t "$HOG" t "$MIB" 1 > /dev/null || fail "the hog failed"
	done
}

mkparent cnt max
mkdir -p "$CG/cnt/t"

# phase POLICY: start memqosd with tenant t under POLICY, run the workload; the counter deltas
# ("charges charge_pages charge_fails") go to $W/counts-POLICY, the daemon's log to $W/daemon-POLICY.log.
phase() {
	name=$1
	rm -rf "$W/conf"
	conf "$W/conf" "$CG/cnt"
	tenant "$W/conf" t 50 64M 1G "$name"
	start_daemon "$W/conf" || finish
	before=$(counters 1) || { fail "cannot read the counters: $before"; finish; }
	"$BPFTOOL" prog show > "$W/progs-$name" 2>&1
	workload
	after=$(counters 1) || { fail "cannot read the counters: $after"; finish; }
	stop_daemon
	cp "$W/daemon.log" "$W/daemon-$name.log"
	# shellcheck disable=SC2086
	set -- $before $after
	echo "$(( $4 - $1 )) $(( $5 - $2 )) $(( $6 - $3 ))" > "$W/counts-$name"
}

echo "# struct_ops: Policy=priority"
phase priority
check "daemon ran in struct_ops mode" grep -q "Policy mode struct_ops" "$W/daemon-priority.log"
check "tenant t got the struct_ops policy" grep -q "Tenant t: policy priority (struct_ops)" "$W/daemon-priority.log"

echo "# tracing: Policy=observe"
phase observe
check "tenant t traced by the observe policy" grep -q "Tenant t: policy observe (tracing)" "$W/daemon-observe.log"
check "the observe policy counts at fentry/try_charge_memcg (tracing program observe_charge)" \
	grep -q "tracing  *name observe_charge " "$W/progs-observe"

s=$(cat "$W/counts-priority")
t=$(cat "$W/counts-observe")
set -- $s
s_charges=$1 s_pages=$2 s_fails=$3
set -- $t
t_charges=$1 t_pages=$2 t_fails=$3
pages=$(( RUNS * MIB * 256 ))
echo "# RESULT ${RUNS} x ${MIB} MiB ($pages pages faulted): charges struct_ops $s_charges (pages $s_pages," \
	"fails $s_fails), tracing $t_charges (pages $t_pages, fails $t_fails);" \
	"ratio $(awk -v a="$t_charges" -v b="$s_charges" 'BEGIN { printf "%.3f", b ? a / b : 0 }'), tolerance 1/$TOL..$TOL"

# At least one charge per stock batch of 64 pages (half of it, for margin) in each mode.
check "struct_ops counted the workload's charges ($s_charges >= $((pages / 128)))" test "$s_charges" -ge $((pages / 128))
check "tracing counted the workload's charges ($t_charges >= $((pages / 128)))" test "$t_charges" -ge $((pages / 128))
check "no charge failed" test "$s_fails" = 0 -a "$t_fails" = 0
check "tracing counts what struct_ops counts (ratio $t_charges / $s_charges within 1/$TOL..$TOL)" \
	awk -v a="$t_charges" -v b="$s_charges" -v t="$TOL" 'BEGIN { exit !(b > 0 && a <= b * t && a * t >= b) }'
finish
