#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# VM test (1): two tenants, high (90) and low (10) priority, both allocating under pressure of their
# common parent (memory.max 512M for two 360M working sets). The low tenant's memory.high goes down
# within its bounds, the high tenant keeps more throughput than without memqosd, and the low tenant
# keeps making progress. Run inside the guest: tests/vm/run -- tests/vm/policy/t1-priority.sh
# With --variant nobpf (CONFIG_MEMCG_BPF=n) it is VM test (4): the same scenario in tracing mode.
. "$(dirname "$0")/lib.sh"

DUR=${MEMQOSD_T1_SECONDS:-20}
WS=360
# Optionally the low tenant starts first (HEADSTART seconds) and the important one arrives later.
HEADSTART=${MEMQOSD_T1_HEADSTART:-0}

mkparent mq 512M
mkdir -p "$CG/mq/high" "$CG/mq/low"

# Phases A (no memqosd), B (memqosd), A again: B is compared with the mean of the two A runs, so
# neither a cold start nor a warmed-up swap favours memqosd. (Without memqosd, which tenant ends up
# resident is partly luck: a single A run occasionally has the high tenant win the race.)
phase_a() { # phase_a SUFFIX
	echo "# phase A$1: no memqosd, ${DUR}s"
	run_in mq/low "$HOG" low $WS "$DUR" > "$W/a$1-low.out" &
	sleep "$HEADSTART"
	run_in mq/high "$HOG" high $WS "$DUR" > "$W/a$1-high.out" &
	wait
	cat "$W/a$1-high.out" "$W/a$1-low.out"
}
phase_a 1

echo "# phase B: memqosd, ${DUR}s"
conf "$W/conf" "$CG/mq"
tenant "$W/conf" high 90 192M 480M
tenant "$W/conf" low 10 64M 480M
start_daemon "$W/conf" || finish
if [ "${MEMQOSD_VM_VARIANT:-default}" = nobpf ]; then
	# VM test (4): the kernel built with CONFIG_MEMCG_BPF=n has no memcg_ops: tracing mode.
	check "daemon runs in tracing mode (CONFIG_MEMCG_BPF=n)" grep -q "Policy mode tracing" "$W/daemon.log"
	check "both tenants traced by the observe policy" \
		test "$(grep -c "Tenant \(low\|high\): policy priority (tracing)" "$W/daemon.log")" = 2
else
	check "daemon runs in struct_ops mode" grep -q "Policy mode struct_ops" "$W/daemon.log"
	check "both tenants got a struct_ops policy" test "$(struct_ops_count)" = 2
fi

run_in mq/low "$HOG" low $WS "$DUR" > "$W/b-low.out" &
lp=$!
sleep "$HEADSTART"
run_in mq/high "$HOG" high $WS "$DUR" > "$W/b-high.out" &
hp=$!
: > "$W/low-high.samples"
deadline=$(( $(date +%s) + DUR + 60 ))
while { kill -0 $hp 2>/dev/null || kill -0 $lp 2>/dev/null; } && [ "$(date +%s)" -lt $deadline ]; do
	cat "$CG/mq/low/memory.high" >> "$W/low-high.samples"
	echo "$(date +%s) low high=$(cat $CG/mq/low/memory.high) cur=$(cat $CG/mq/low/memory.current)" \
		"high high=$(cat $CG/mq/high/memory.high) cur=$(cat $CG/mq/high/memory.current)" >> "$W/trace"
	sleep 0.5
done
if kill -0 $hp 2>/dev/null || kill -0 $lp 2>/dev/null; then
	fail "hogs did not finish within ${DUR}s + 60s"
	tail -n 20 "$W/trace"
	kill -9 $hp $lp 2>/dev/null
fi
wait $hp $lp
cat "$W/b-high.out" "$W/b-low.out"
low_min=$(grep -v max "$W/low-high.samples" | sort -n | head -n 1)
low_max=$(grep -v max "$W/low-high.samples" | sort -n | tail -n 1)
echo "# low memory.high during phase B: min ${low_min:-?} max ${low_max:-?} ($(wc -l < "$W/low-high.samples") samples)"
grep -E "memory.high of (low|high)" "$W/daemon.log" | head -n 40
echo "# trace (time, memory.high and memory.current of both tenants):"; cat "$W/trace"

check "low's memory.high went down (below its MemoryHighMax 480M)" fcmp "${low_min:-503316480}" "<" 503316480
check "low's memory.high never below MemoryHighMin 64M" fcmp "${low_min:-0}" ">=" 67108864
check "low's memory.high never above MemoryHighMax 480M" fcmp "${low_max:-0}" "<=" 503316480
check "every write is journaled with a reason" grep -q "Changed memory.high of low .*squeeze" "$W/daemon.log"
stop_daemon
check "daemon exits 0 on SIGTERM" test "${DAEMON_RC:-1}" = 0
check "no struct_ops policy left after exit" test "$(struct_ops_count)" = 0
check "low's memory.high restored to max" grep -qx max "$CG/mq/low/memory.high"
check "high's memory.high restored to max" grep -qx max "$CG/mq/high/memory.high"

phase_a 2
a1=$(rate "$W/a1-high.out"); a2=$(rate "$W/a2-high.out"); b=$(rate "$W/b-high.out")
a=$(awk -v x="$a1" -v y="$a2" 'BEGIN { print (x + y) / 2 }')
la=$(rate "$W/a1-low.out"); lb=$(rate "$W/b-low.out")
echo "# RESULT high tenant: ${a1} / ${a2} MiB/s without memqosd, ${b} MiB/s with; low tenant: ${la} -> ${lb} MiB/s"
check "high tenant keeps more throughput than without memqosd (mean of the two runs, $a)" fcmp "$b" ">" "$a"
check "low tenant keeps making progress" fcmp "$lb" ">" 0
finish
