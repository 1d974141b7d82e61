#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# VM test (2): a reload that changes the low tenant's priority is one update of its entry in the
# priority policy's parameter map (issue 12): the same links keep pointing at the same struct_ops
# map (no program swap, nothing verified again), the entry says the new priority, the tenant is
# never without a policy (sampled continuously during the reload), and its BPF event counters
# continue instead of restarting. Run inside the guest:
#   tests/vm/run -- tests/vm/policy/t2-reload.sh
. "$(dirname "$0")/lib.sh"

BPFTOOL=${MEMQOSD_CACHE:-/var/cache/memqosd}/tools/sbin/bpftool
# "LINK_ID MAP_ID" of every struct_ops link (bpftool's JSON has one object per link).
links() {
	"$BPFTOOL" -j link show 2>/dev/null | python3 -c '
import json, sys
for l in json.load(sys.stdin):
    if l.get("type") == "struct_ops":
        print(l["id"], l.get("map_id"))' | sort
}

mkparent mq 512M
mkdir -p "$CG/mq/high" "$CG/mq/low"
conf "$W/conf" "$CG/mq"
tenant "$W/conf" high 90 192M 480M
tenant "$W/conf" low 10 64M 480M
start_daemon "$W/conf" || finish

run_in mq/high "$HOG" high 300 40 > "$W/high.out" &
hp=$!
run_in mq/low "$HOG" low 300 40 > "$W/low.out" &
lp=$!
sleep 5
"$BPFTOOL" link show
links > "$W/links.before"
echo "# struct_ops links before (link map):"; cat "$W/links.before"
check "two struct_ops links before the reload" test "$(wc -l < "$W/links.before")" = 2
check "both links share one struct_ops map (one program for every tenant)" \
	test "$(cut -d' ' -f2 "$W/links.before" | sort -u | wc -l)" = 1
check "low's parameter entry says priority 10 before" test "$(params_priority "$CG/mq/low")" = 10
check "high's parameter entry says priority 90" test "$(params_priority "$CG/mq/high")" = 90

# Sample the number of attached memqosd policies as fast as bpftool allows during the reload.
( while [ ! -e "$W/stop-sampling" ]; do struct_ops_count; done > "$W/samples" ) &
sampler=$!
sleep 1
sed -i 's/^Priority=10$/Priority=30/' "$W/conf/tenants.d/low.conf"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 100); do grep -q "Tenant low: policy now" "$W/daemon.log" && break; sleep 0.2; done
sleep 1
touch "$W/stop-sampling"
wait $sampler
links > "$W/links.after"
echo "# struct_ops links after:"; cat "$W/links.after"
grep "policy now" "$W/daemon.log"

check "the reload changed low's policy" grep -q "Tenant low: policy now priority (struct_ops) (priority 30)" "$W/daemon.log"
check "same link ids after the swap (updated in place, never detached)" \
	test "$(cut -d' ' -f1 "$W/links.after")" = "$(cut -d' ' -f1 "$W/links.before")"
check "no link points at another struct_ops map (a parameter update, no program swap)" \
	cmp -s "$W/links.before" "$W/links.after"
check "low's parameter entry now says priority 30" test "$(params_priority "$CG/mq/low")" = 30
check "high's parameter entry unchanged" test "$(params_priority "$CG/mq/high")" = 90
# Fewer than 2 (or no number) would be a window without a policy.
n=$(wc -l < "$W/samples"); bad=$(awk '!/^[0-9]+$/ || $1 < 2' "$W/samples" | wc -l)
echo "# $n samples of the policy count during the reload (distribution: $(sort -n "$W/samples" | uniq -c | tr -s ' \n' ' ')), $bad below 2"
check "never fewer than two policies attached during the reload ($n samples)" test "$n" -gt 0 -a "$bad" = 0
before=$(sed -n 's/.*Tenant low: policy now.*charges \([0-9]*\) -> \([0-9]*\).*/\1/p' "$W/daemon.log")
after=$(sed -n 's/.*Tenant low: policy now.*charges \([0-9]*\) -> \([0-9]*\).*/\2/p' "$W/daemon.log")
check "low's BPF counters continue across the swap (charges ${before:-?} -> ${after:-?}, nonzero)" \
	test "${before:-0}" -gt 0 -a "${after:-0}" -ge "${before:-1}"
check "high's policy untouched by the reload" sh -c "! grep -q 'Tenant high: policy now' '$W/daemon.log'"
kill $hp $lp 2>/dev/null
wait $hp $lp 2>/dev/null
finish
