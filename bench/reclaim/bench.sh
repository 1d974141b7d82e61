#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Guest side of bench/reclaim/run. Three tenants run tests/vm/reclaim/workload.c (256 MiB, 64 MiB
# hot) side by side for BENCH_SEC: "event" under memqosd's proactive reclaim, "poll" under a
# senpai-style loop (bench/reclaim/poller.c, 1 s tick) with the same target and step, "none" with
# no reclaim (the baseline). memory.current of the three is sampled every second by this script
# (neither agent pays for it). Prints: GiB-minutes saved against "none", throughput (page touches)
# relative to "none", PSI some avg10 at the end, and each agent's CPU time, split into the agent
# proper (memqosd: its event-loop thread; the poller: all but its memory.reclaim writes) and the
# kernel's reclaim done in its writes (memqosd: the writer threads). The three workloads share vCPU 0
# (fairly, so their throughputs compare), the two agents run on vCPU 1.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
MEMQOSD=${MEMQOSD_BIN:-${MEMQOSD_VM_BUILD:-$top/build}/src/memqosd}
SEC=${BENCH_SEC:-150}
TARGET=50 STEP=5 STEPMAX=$((64 << 20)) HOLD=5 REFAULT=5
W=$(mktemp -d /tmp/reclaim-bench.XXXXXX)
CG=/sys/fs/cgroup/reclaim-bench
cc -O2 -o "$W/workload" "$top/tests/vm/reclaim/workload.c" || exit 1
cc -O2 -o "$W/poller" "$top/bench/reclaim/poller.c" || exit 1

# The integration tests' helpers: a private system bus (start_private_bus), cleaned up at exit.
. "$top/tests/integration/lib.sh"
start_private_bus

mkdir -p "$CG" && echo +memory >"$CG/cgroup.subtree_control"
for t in event poll none; do mkdir -p "$CG/$t"; done
mkdir -p "$W/conf/tenants.d"
printf '[Daemon]\nCgroupRoot=%s\n' "$CG" >"$W/conf/memqosd.conf"
printf '[Tenant]\nCgroup=event\nPriority=50\nPolicy=none\n[Reclaim]\nEnable=yes\nPressureTarget=0.%02u\nStepPercent=%u\nStepMax=%u\nIntervalSec=1s\nHoldSec=%us\nRefaultPercent=%u\n' \
	"$TARGET" "$STEP" "$STEPMAX" "$HOLD" "$REFAULT" >"$W/conf/tenants.d/event.conf"
taskset -c 1 "$MEMQOSD" --config-dir "$W/conf" --state-dir "$W/state" >"$W/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 300); do busctl --system status org.memqosd1 >/dev/null 2>&1 && break; sleep 0.2; done

# CPU time (usec) of a thread: schedstat's first field (ns) when there, else utime+stime ticks.
thread_cpu() {
	if [ -r "$1/schedstat" ]; then
		echo $(( $(cut -d' ' -f1 "$1/schedstat") / 1000 ))
	else
		awk '{ print ($14 + $15) * 10000 }' "$1/stat"
	fi
}
memqosd_cpu() { # main thread, other threads
	local main=0 other=0 d
	for d in /proc/$DAEMON/task/*; do
		if [ "${d##*/}" = "$DAEMON" ]; then main=$(thread_cpu "$d"); else other=$((other + $(thread_cpu "$d"))); fi
	done
	echo "$main $other"
}

for t in event poll none; do
	taskset -c 0 sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG/$t" "$W/workload" 256 64 "$W/$t.out" 2>/dev/null &
	eval "WL_$t=$!"
done
read -r m0 o0 < <(memqosd_cpu)
taskset -c 1 "$W/poller" "$CG/poll" "$TARGET" "$STEP" "$STEPMAX" "$HOLD" "$REFAULT" "$SEC" >"$W/poller.out" &
POLLER=$!
: >"$W/samples"
for _ in $(seq "$SEC"); do
	echo "$(cat "$CG/event/memory.current") $(cat "$CG/poll/memory.current") $(cat "$CG/none/memory.current")" >>"$W/samples"
	sleep 1
done
wait "$POLLER"
read -r m1 o1 < <(memqosd_cpu)
t_event=$(cut -d' ' -f2 "$W/event.out") t_poll=$(cut -d' ' -f2 "$W/poll.out") t_none=$(cut -d' ' -f2 "$W/none.out")
psi() { sed -n 's/^some avg10=\([0-9.]*\) .*/\1/p' "$CG/$1/memory.pressure"; }
p_event=$(psi event) p_poll=$(psi poll) p_none=$(psi none)
status=$("$MEMQOSD" status --json)
for t in event poll none; do eval "kill \$WL_$t"; done
kill "$DAEMON"; wait "$DAEMON" 2>/dev/null

python3 - "$W/samples" "$W/poller.out" "$SEC" "$t_event" "$t_poll" "$t_none" "$p_event" "$p_poll" "$p_none" \
	"$((m1 - m0))" "$((o1 - o0))" "$status" <<'PY'
import json, sys
samples = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
p = dict(zip(open(sys.argv[2]).read().split()[1::2], open(sys.argv[2]).read().split()[2::2]))
sec = int(sys.argv[3])
t_event, t_poll, t_none = map(int, sys.argv[4:7])
psi = sys.argv[7:10]
m_main, m_other = int(sys.argv[10]), int(sys.argv[11])
st = json.loads(sys.argv[12])
ev = [x for x in st["reclaim"] if x["name"] == "event"][0]
def gib_min(i):
    return sum(max(0, s[2] - s[i]) for s in samples) / 2**30 / 60
p_cpu, p_write = int(p["cpu_usec"]), int(p["write_cpu_usec"])
print(f"proactive reclaim benchmark: {sec} s, 3 tenants x 256 MiB (64 MiB hot), PressureTarget 0.50 %, step 5 % (max 64M), hold 5 s")
print(f"{'':24} {'memqosd (events)':>18} {'poller (1 s tick)':>18} {'no reclaim':>12}")
print(f"{'saved, GiB-minutes':24} {gib_min(0):18.3f} {gib_min(1):18.3f} {0:12.3f}")
print(f"{'memory.current at end':24} {samples[-1][0] / 2**20:15.1f} MiB {samples[-1][1] / 2**20:15.1f} MiB {samples[-1][2] / 2**20:8.1f} MiB")
print(f"{'throughput vs none':24} {t_event / t_none:17.3f}x {t_poll / t_none:17.3f}x {1:11.3f}x")
print(f"{'PSI some avg10 at end':24} {psi[0]:>16} % {psi[1]:>16} % {psi[2]:>10} %")
print(f"{'agent CPU (ms)':24} {m_main / 1000:18.1f} {(p_cpu - p_write) / 1000:18.1f} {'-':>12}")
print(f"{'reclaim writes CPU (ms)':24} {m_other / 1000:18.1f} {p_write / 1000:18.1f} {'-':>12}")
print(f"{'steps / back-offs':24} {str(ev['steps']) + ' / ' + str(ev['backoffs']):>18} {p['steps'] + ' / ' + p['backoffs']:>18} {'-':>12}")
ratio = m_main / max(1, p_cpu - p_write)
print(f"agent CPU ratio memqosd/poller: {ratio:.3f} (target <= 0.100: {'met' if ratio <= 0.1 else 'MISSED'}); "
      f"saving ratio {gib_min(0) / max(1e-9, gib_min(1)):.2f} (target >= 1: {'met' if gib_min(0) >= gib_min(1) else 'MISSED'})")
PY
rm -rf "$W"
rmdir "$CG"/* "$CG" 2>/dev/null
exit 0
