#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The storm guard's containment figures, side by side in one VM run (bench/guard/run; =n kernel:
# detection in BPF tracing, containment from user space). Three cgroups: a fork+malloc storm
# (tests/vm/guard/storm.c: 300 forks/s x 16 MiB, at most 64 alive), a neighbour keeping a 256 MiB
# working set hot, and a latency probe (every 10 ms: 256 KiB allocated and touched). Phases of
# MEMQOSD_BENCH_SECONDS (12) each:
#   baseline   neighbour + probe, no storm
#   no guard   + the storm, memqosd not running
#   guard      + the storm, memqosd with [Guard] on the storm tenant (Actions=pids freeze,
#              ChargeRate=64M, ChargeBurst=128M, ForkRate=50, ForkBurst=50, EscalateSec=1s)
#   baseline   again, to see drift
# Prints: neighbour MiB/s (and x of baseline), probe p50/p99 (and x of baseline), OOM kills outside
# the storm, time from the storm's start to the guard's first step (pids.max changes), and the
# storm's charge rate 2..4 s after it (without the guard: 2..4 s after the start), against the
# targets of issue 11 (neighbour >= 0.7x, probe p99 <= 3x, no OOM kill outside the storm).
# Every storm is bounded by memory.max 768M, pids.max 4096 and its own time limit, and killed at
# the end of its phase. Numbers are TCG-emulated (no KVM): compare ratios, not absolute values.
#   bench/guard/bench.sh PATH/TO/memqosd      (in the guest)
set -u

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd}")
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
. "$TOP/tests/integration/lib.sh"
. "$TOP/tests/vm/guard/lib.sh"
if [ "${MEMQOSD_VM:-0}" != 1 ]; then
	echo "!!! NOT RUN: the guard benchmark runs only in the VM guest (bench/guard/run) !!!"
	exit 77
fi
it_require_root "the guard benchmark"
it_require_tools dbus-daemon python3 cc
DUR=${MEMQOSD_BENCH_SECONDS:-12}
SCRATCH=gbench-$$
CGR=/sys/fs/cgroup/$SCRATCH
CONF=$T/conf
remove_scratch() { remove_cgroups storm neighbour probe; }
CLEANUP_HOOK=remove_scratch

cc -O2 -o "$T/storm" "$TOP/tests/vm/guard/storm.c" && cc -O2 -o "$T/load" "$HERE/load.c" || abort "cannot build the workloads"
mkdir "$CGR" && echo "+memory +pids" >"$CGR/cgroup.subtree_control" || abort "cannot create $CGR"
for c in storm neighbour probe; do
	mkdir "$CGR/$c" && echo 4096 >"$CGR/$c/pids.max" || abort "cannot create $CGR/$c"
done
echo 768M >"$CGR/storm/memory.max"
echo 512M >"$CGR/neighbour/memory.max"
echo 256M >"$CGR/probe/memory.max"
mkdir -p "$CONF/tenants.d"
printf '[Daemon]\nLogLevel=info\n[Control]\nHousekeepingSec=1h\n[Forecast]\nEnable=no\n' >"$CONF/memqosd.conf"
profile storm "[Tenant]\nCgroup=$SCRATCH/storm\nPriority=10\nPolicy=none\n[Guard]\nEnable=yes\nChargeRate=64M\nChargeBurst=128M\nForkRate=50\nForkBurst=50\nActions=pids freeze\nEscalateSec=1s\nHoldSec=60s\nPidsAllowance=8\n"
"$MEMQOSD" check --config-dir "$CONF" >/dev/null || abort "memqosd check refuses the benchmark's configuration"
start_private_bus

oom_kills() { sed -n 's/^oom_kill //p' "$CGR/$1/memory.events"; }
# phase NAME STORM(0/1) GUARD(0/1): prints "NAME nb_mib_s p50_us p99_us max_us oom_outside act_ms storm_after_mib_s"
phase() {
	local name=$1 storm=$2 guard=$3 oom0 nb pr act=- after=- t0 sp= stp=
	oom0=$(($(oom_kills neighbour) + $(oom_kills probe)))
	if [ "$guard" = 1 ]; then
		: >"$LOG"
		"$MEMQOSD" --config-dir "$CONF" --state-dir "$T/state" >>"$LOG" 2>&1 &
		DAEMON_PID=$!
		wait_for 60 grep -q 'Tenant storm: storm guard on' "$LOG" || abort "the guard did not start"
	fi
	in_cgroup neighbour "$T/load" neighbour 256 "$DUR" >"$T/nb.out" &
	local nbp=$!
	in_cgroup probe "$T/load" probe "$DUR" >"$T/pr.out" &
	local prp=$!
	sleep 1
	if [ "$storm" = 1 ]; then
		"$T/load" watch "$CGR/storm/pids.max" "$((DUR - 2))" >"$T/watch.out" &
		sp=$!
		in_cgroup storm "$T/storm" storm 300 16 64 "$((DUR - 2))" "$T/storm-$name.log" &
		stp=$!
	fi
	wait "$nbp" "$prp"
	if [ "$storm" = 1 ]; then
		wait "$sp"
		echo 1 >"$CGR/storm/cgroup.kill"
		wait "$stp" 2>/dev/null
		t0=$(head -n1 "$T/storm-$name.log" | cut -d' ' -f1)
		act=$(sed -n 's/changed_ms=//p' "$T/watch.out")
		if [ "$act" = none ]; then
			act=-
			after=$(($(rate "$T/storm-$name.log" "$((t0 + 2000))" "$((t0 + 4000))") >> 20))
		else
			after=$(($(rate "$T/storm-$name.log" "$((act + 2000))" "$((act + 4000))") >> 20))
			act=$((act - t0))
		fi
	fi
	if [ "$guard" = 1 ]; then
		stop_daemon
		grep 'Storm guard:' "$LOG" | sed 's/^/    # /' | head -n 6 >&2
	fi
	echo 0 >"$CGR/storm/cgroup.freeze"
	echo 4096 >"$CGR/storm/pids.max"
	nb=$(sed -n 's/mib_per_sec=//p' "$T/nb.out")
	pr=$(sed -n 's/p50_us=\([0-9]*\) p99_us=\([0-9]*\) max_us=\([0-9]*\).*/\1 \2 \3/p' "$T/pr.out")
	echo "$name ${nb:-0} ${pr:-0 0 0} $(($(oom_kills neighbour) + $(oom_kills probe) - oom0)) $act $after"
	sleep 2
}

B1=$(phase baseline 0 0)
NG=$(phase no-guard 1 0)
GD=$(phase guard 1 1)
B2=$(phase baseline-again 0 0)

x() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2fx", a / b; else print "-" }'; }
yes_no() { awk -v c="$1" 'BEGIN { print (c ? "met" : "MISSED") }'; }
set -- $B1; bnb=$2 bp99=$4
echo
echo "storm-guard benchmark (qemu TCG guest, kernel $(uname -r), $(nproc) vCPU; storm 300 forks/s x 16 MiB; ${DUR}s phases)"
echo
printf "%-16s %12s %8s %9s %9s %8s %9s %12s %14s\n" phase "neighbour" "" "probe p50" "probe p99" "" "OOM kills" "guard acted" "storm MiB/s"
printf "%-16s %12s %8s %9s %9s %8s %9s %12s %14s\n" "" "MiB/s" "x base" "us" "us" "x base" "outside" "after, ms" "2..4 s after"
for row in "$B1" "$NG" "$GD" "$B2"; do
	set -- $row
	printf "%-16s %12s %8s %9s %9s %8s %9s %12s %14s\n" "$1" "$2" "$(x "$2" "$bnb")" "$3" "$4" "$(x "$4" "$bp99")" "$6" "$7" "$8"
done
set -- $GD
gnb=$2 gp99=$4 goom=$6
set -- $NG
echo
echo "targets (issue 11), with the guard: neighbour >= 0.7x: $(yes_no "$(awk -v a="$gnb" -v b="$bnb" 'BEGIN { print (a >= 0.7 * b) }')")" \
	"(without: $(x "$2" "$bnb")); probe p99 <= 3x: $(yes_no "$(awk -v a="$gp99" -v b="$bp99" 'BEGIN { print (a <= 3 * b) }')")" \
	"(without: $(x "$4" "$bp99")); no OOM kill outside the storm: $(yes_no "$([ "$goom" = 0 ] && echo 1 || echo 0)")"
echo "(storm MiB/s 2..4 s after: with the guard, after its first step; without, after the storm's start; ChargeRate=64M)"
exit 0
