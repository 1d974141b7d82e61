#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Proactive reclaim on a real kernel (issue 14), in a plain VM guest (tests/vm/reclaim/run): memqosd
# on a private system bus, real cgroup v2, zram swap (the guest's), the classic LRU or MGLRU (the
# guest kernel has both, MGLRU off at boot; "mglru" below). tests/vm/reclaim/workload.c allocates
# a set and keeps part of it hot. Scenarios, one after the other, each with its reference tenant (same workload, reclaim
# off) running at the same time so both see the same (emulated, shared) CPU:
#   quarter   256 MiB, 64 MiB hot: its baseline first, reclaim off (baseline()), then reclaim on
#             (reload): within QUARTER_SEC, memory.current near the hot set (ratio printed, <= 1.6),
#             throughput over the last 20 s >= 0.95x its own before reclaim (each taken against
#             the reference over the same window, per calibrated CPU unit), PSI some avg10 under
#             PressureTarget= at the end;
#   phase     256 MiB, 32 MiB hot, small steps (reclaim goes on for long): then SIGUSR1 makes the
#             whole set hot: a back-off (refault) record follows, and the time from the first refault
#             (BPF) to the back-off is < 1 s; printed;
#   allhot    128 MiB, all hot, baseline then reclaim on as quarter: saved <= 10 % of the set,
#             memory.current >= 90 % of it, throughput >= 0.95x its own before reclaim;
#   noise     (not run by default) two unreclaimed quarter-shaped workloads, measured as quarter
#             is: the ratio's noise (printed, no check);
#   noswap    swap off (swapoff -a): the tenant reads NOSWAP_MIB (156) of a file once (the guest kernel's
#             vmlinux, over 9p with cache=loose: clean page cache charged to it), then keeps 32 MiB
#             of anonymous memory hot; reclaim on (reload): within NOSWAP_SEC its page cache is
#             reclaimed (file < 16 MiB), memory.current near the anonymous set (ratio <= 1.6), the
#             anonymous set untouched (it cannot be: no swap), settled, PSI under the target; swap
#             on again after it;
#   priority  two quarter-hot tenants, priority 10 and 90, enabled (reload) while a hog keeps the
#             whole guest under memory pressure: the lower one is reclaimed first (the higher one
#             has reclaimed nothing when the lower one first has), more, and the higher one's first
#             reclaim finds the lower one settled (nothing cold left; src/reclaim-model.h's rule).
#   mglru     not a scenario: switches the guest to MGLRU (/sys/kernel/mm/lru_gen/enabled = y) for
#             the scenarios after it (the guest kernel boots with the classic LRU); "classic"
#             switches back. Each scenario but phase runs once per guest (its tenants keep their
#             counters): "mglru phase" after the classic ones is the short MGLRU check.
# Also: status --json carries the counters, the journal records (stderr here) are rate-limited.
#   tests/vm/reclaim/reclaim.sh PATH/TO/memqosd [KNOB=VALUE...] [SCENARIO...]
# Knobs: QUARTER_SEC (75), NOSWAP_SEC (90), NOSWAP_MIB (156), PRIO_SEC (40); see below.
set -u

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd [KNOB=VALUE...] [SCENARIO...]}")
shift
# KNOB=VALUE arguments set the knobs below (the guest gets only MEMQOSD_* variables from the host).
SCENARIOS=
for a in "$@"; do
	case $a in
	QUARTER_SEC=[0-9]* | NOSWAP_SEC=[0-9]* | NOSWAP_MIB=[0-9]* | PRIO_SEC=[0-9]*) export "${a?}" ;;
	*=*) echo "unknown knob $a" >&2; exit 2 ;;
	*) SCENARIOS="$SCENARIOS $a" ;;
	esac
done
SCENARIOS=${SCENARIOS# }
SCENARIOS=${SCENARIOS:-quarter phase allhot noswap priority}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../integration/lib.sh"

if [ "${MEMQOSD_VM:-0}" != 1 ]; then
	echo "!!! SKIPPED: runs only in the VM guest (tests/vm/reclaim/run) !!!"
	exit 77
fi
it_require_root "the reclaim VM test"
it_require_tools dbus-daemon python3 cc busctl taskset

QUARTER_SEC=${QUARTER_SEC:-75}
NOSWAP_SEC=${NOSWAP_SEC:-90}
NOSWAP_MIB=${NOSWAP_MIB:-156}  # of the file read once (vmlinux: 156 MiB)
PRIO_SEC=${PRIO_SEC:-40}       # of status samples under host pressure
START_ALL=$(date +%s)
SCRATCH=reclaim-$$
CGR=/sys/fs/cgroup/$SCRATCH
CONF=$T/conf
PIDS=
remove_scratch() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for d in "$CGR"/*/; do [ -f "$d/cgroup.kill" ] && echo 1 >"$d/cgroup.kill"; done
	sleep 0.5
	rmdir "$CGR"/*/ "$CGR" 2>/dev/null
}
CLEANUP_HOOK=remove_scratch

cc -O2 -o "$T/workload" "$HERE/workload.c" || abort "cannot build workload.c"
WL=$T/workload
mkdir "$CGR" && echo +memory >"$CGR/cgroup.subtree_control" || abort "cannot create $CGR"
swapon --show=NAME,SIZE --noheadings | sed 's/^/# swap: /'
[ -d /sys/kernel/mm/lru_gen ] && echo "# MGLRU: $(cat /sys/kernel/mm/lru_gen/enabled)" ||
	echo "# MGLRU: not in this kernel (CONFIG_LRU_GEN unset): classic LRU only"
# lru_switch y|n: MGLRU on or off for what follows; a kernel without it fails the run (loudly).
lru_switch() {
	[ -w /sys/kernel/mm/lru_gen/enabled ] || abort "MGLRU asked for, but this kernel has no /sys/kernel/mm/lru_gen"
	echo "$1" >/sys/kernel/mm/lru_gen/enabled || abort "cannot write $1 to /sys/kernel/mm/lru_gen/enabled"
	v=$(cat /sys/kernel/mm/lru_gen/enabled)
	echo "# MGLRU: /sys/kernel/mm/lru_gen/enabled = $v"
	if [ "$1" = y ]; then
		check "MGLRU is on (lru_gen/enabled $v)" [ "$v" != 0x0000 ]
	else
		check "MGLRU is off (lru_gen/enabled $v)" [ "$v" = 0x0000 ]
	fi
	LRU=$([ "$1" = y ] && echo MGLRU || echo classic)
}
LRU=classic
[ -r /sys/kernel/mm/lru_gen/enabled ] && [ "$(cat /sys/kernel/mm/lru_gen/enabled)" != 0x0000 ] && LRU=MGLRU

# start NAME SIZE_MIB HOT_MIB [CPU]: the workload in cgroup NAME; its progress in $T/NAME.out. The
# workloads run on CPU 0 (default) and memqosd on CPU 1: a tenant and its reference share one vCPU
# fairly, so the throughput ratio does not depend on how fast each emulated vCPU happens to run.
start() {
	mkdir -p "$CGR/$1"
	taskset -c "${4:-0}" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CGR/$1" "$WL" "$2" "$3" "$T/$1.out" 2>"$T/$1.err" &
	PIDS="$PIDS $!"
	eval "PID_$1=$!"
}
# snap NAME: "SECONDS TOUCHES CPU CAL_CPU CAL_STEPS MINFLT MAJFLT NVCSW" of workload NAME now: its
# own progress line (seconds since its start, touches, CPU time and calibration loop then, see
# workload.c) and, from /proc, its minor and major faults and involuntary context switches so far.
snap() {
	local pid
	eval "pid=\$PID_$1"
	echo "$(cat "$T/$1.out" 2>/dev/null) $(awk '{ print $10, $12 }' "/proc/$pid/stat")" \
		"$(sed -n 's/^nonvoluntary_ctxt_switches:[[:space:]]*//p' "/proc/$pid/status")"
}
# vmsnap NAME: the counters of cgroup NAME that reclaim moves, and the guest's TLB shootdowns and
# function-call IPIs (the guest kernel has no /proc/vmstat event counters).
vmsnap() {
	echo "$(awk '/^(pgscan|pgsteal|pgmajfault|workingset_refault_anon) / { printf "%s=%s ", $1, $2 }' "$CGR/$1/memory.stat")" \
		"$(awk '$1 == "TLB:" { printf "tlb_shootdowns=%d ", $2 + $3 } $1 == "CAL:" { printf "call_ipis=%d ", $2 + $3 }' /proc/interrupts)"
}
# mark A B: snapshots of workloads A and B and of A's and the guest's counters, for window().
mark() { snap "$1" >"$T/$1.s0"; snap "$2" >"$T/$2.s0"; vmsnap "$1" >"$T/vm.s0"; }
# window A B: what A and B did since mark(): touches per second of their own clock, per CPU-second
# and per calibrated CPU unit (10^9 steps' worth, see workload.c), share of the window on a CPU,
# faults, involuntary switches, and the guest's counter deltas (printed); sets WIN_RATIO (A's
# touches per calibrated unit over B's: what reclaim costs the tenant in its own context, faults
# and TLB misses, without the host's share of the vCPU, which moves the others by +-20 % between
# two identical workloads, see the noise scenario), WIN_WALL_RATIO and WIN_CPU_RATIO (the same per
# second and per CPU-second; each between its own progress lines, so a line up to 1 s old skews
# nothing).
window() {
	snap "$1" >"$T/$1.s1"
	snap "$2" >"$T/$2.s1"
	vmsnap "$1" >"$T/vm.s1"
	python3 - "$T" "$1" "$2" >"$T/window" <<'PY'
import sys
d, na, nb = sys.argv[1:4]
rd = lambda f: open(f"{d}/{f}").read().split()
vm0, vm1 = (dict(kv.split("=") for kv in rd(f)) for f in ("vm.s0", "vm.s1"))
def rates(n):
    x0, x1 = (list(map(float, rd(f"{n}.{s}"))) for s in ("s0", "s1"))
    dt, dn, cpu, cal, steps = (x1[i] - x0[i] for i in range(5))
    unit = dn / ((cpu - cal) * steps / cal) * 1e9 if cal > 0 and cpu > cal else 0
    r = (unit, dn / dt if dt > 0 else 0, dn / cpu if cpu > 0 else 0)
    print(f"# {n}: {r[0]:.0f} touches per calibrated unit ({steps / max(cal, 1e-9) / 1e6:.0f} M steps per CPU-second), "
          f"{r[1]:.0f} per second over {dt:.1f} s, {r[2]:.0f} per CPU-second; on a CPU {cpu:.2f} s "
          f"({100 * cpu / max(dt, 0.1):.0f} % of the window); {x1[5] - x0[5]:.0f} minor and {x1[6] - x0[6]:.0f} "
          f"major faults, {x1[7] - x0[7]:.0f} involuntary switches")
    return r
ra, rb = rates(na), rates(nb)
print(f"# {na}'s memory.stat and the guest: " + " ".join(f"{k}+{int(vm1[k]) - int(vm0[k])}" for k in vm1 if k in vm0))
print("WIN " + " ".join(f"{x / max(y, 1):.3f}" for x, y in zip(ra, rb)))
PY
	grep -v '^WIN ' "$T/window"
	read -r _ WIN_RATIO WIN_WALL_RATIO WIN_CPU_RATIO <<<"$(grep '^WIN ' "$T/window")"
}
# baseline A B: once both workloads are past their fill, A's rate over B's for 20 s before anything
# is reclaimed (BASE_RATIO, per calibrated CPU unit). Two identical workloads on one vCPU differ by
# up to 20 % for the whole boot (0.83x in the noise scenario: where each one's pages happen to lie,
# not anything they do), so a tenant is compared with its own baseline: after / before, each as
# its ratio to the reference over the same window (which cancels how fast the vCPU ran then).
baseline() {
	wait_for 180 sh -c "[ -s '$T/$1.out' ] && [ -s '$T/$2.out' ]" || fail "$1/$2: no progress line within 180 s"
	sleep 2
	mark "$1" "$2"
	sleep 20
	echo "# baseline, before any reclaim:"
	window "$1" "$2"
	BASE_RATIO=$WIN_RATIO
}
# did AFTER BEFORE: AFTER / BEFORE to 3 decimals.
did() { python3 -c "print(f'{$1 / max($2, 1e-9):.3f}')"; }
current() { cat "$CGR/$1/memory.current"; }
avg10() { sed -n 's/^some avg10=\([0-9.]*\) .*/\1/p' "$CGR/$1/memory.pressure"; }
# field NAME KEY: a value of tenant NAME in status --json's "reclaim" array
field() {
	"$MEMQOSD" status --json | python3 -c '
import json, sys
o = json.load(sys.stdin)
r = [x for x in o["reclaim"] if x["name"] == sys.argv[1]]
print(r[0][sys.argv[2]] if r else "none")' "$1" "$2"
}
phase_is() { [ "$(field "$1" phase)" = "$2" ]; }
reclaimed_ge() { [ "$(field "$1" reclaimed_bytes)" -ge "$2" ] 2>/dev/null; }
backoffs_gt() { [ "$(field "$1" backoffs)" -gt "$2" ] 2>/dev/null; }
mib() { python3 -c "print(f'{$1 / 2**20:.1f}')"; }
ratio() { python3 -c "print(f'{$1 / max(1, $2):.3f}')"; }
ge() { python3 -c "import sys; sys.exit(0 if $1 >= $2 else 1)"; }
stop_wl() { for n in "$@"; do eval "kill \$PID_$n" 2>/dev/null; done; sleep 0.3; }

mkdir -p "$CONF/tenants.d"
printf '[Daemon]\nLogLevel=info\n[Control]\nHousekeepingSec=5s\n' >"$CONF/memqosd.conf"
# Policy=none: the BPF policies are not what is tested here; the reclaim program loads regardless.
common="[Tenant]\nPriority=50\nPolicy=none\n"
for n in quarter quarterref noiseref phase allhot allhotref noswap low high hog; do mkdir -p "$CGR/$n"; done
# quarter and allhot start with reclaim off: their baseline is taken first (see baseline()).
quarter_profile() {
	profile quarter "${common}Cgroup=$SCRATCH/quarter\n[Reclaim]\nEnable=$1\nStepPercent=10\nIntervalSec=500ms\nHoldSec=5s\nPressureTarget=0.5%\n"
}
quarter_profile no
profile quarterref "${common}Cgroup=$SCRATCH/quarterref\n"
profile phase "${common}Cgroup=$SCRATCH/phase\n[Reclaim]\nEnable=yes\nStepPercent=1\nStepMax=1M\nIntervalSec=500ms\nHoldSec=5s\nPressureTarget=0.5%\n"
allhot_profile() {
	profile allhot "${common}Cgroup=$SCRATCH/allhot\n[Reclaim]\nEnable=$1\nStepPercent=10\nIntervalSec=500ms\nHoldSec=5s\nPressureTarget=0.5%\n"
}
allhot_profile no
profile allhotref "${common}Cgroup=$SCRATCH/allhotref\n"
prio_profiles() {
	profile low "[Tenant]\nPriority=10\nPolicy=none\nCgroup=$SCRATCH/low\n[Reclaim]\nEnable=$1\nStepPercent=5\nIntervalSec=3s\nHoldSec=5s\nPressureTarget=5%\n"
	profile high "[Tenant]\nPriority=90\nPolicy=none\nCgroup=$SCRATCH/high\n[Reclaim]\nEnable=$1\nStepPercent=5\nIntervalSec=3s\nHoldSec=5s\nPressureTarget=5%\n"
}
prio_profiles no
noswap_profile() {
	profile noswap "${common}Cgroup=$SCRATCH/noswap\n[Reclaim]\nEnable=$1\nStepPercent=10\nIntervalSec=500ms\nHoldSec=5s\nPressureTarget=0.5%\n"
}
noswap_profile no

start_private_bus
taskset -c 1 "$MEMQOSD" --config-dir "$CONF" --state-dir "$T/state" >"$LOG" 2>&1 &
DAEMON_PID=$!
check "daemon is on the bus" wait_for 60 sh -c 'busctl --system status org.memqosd1 >/dev/null 2>&1'
check "refaults are counted in the kernel" wait_for 30 grep -q 'Proactive reclaim: refaults counted in the kernel' "$LOG"
grep -o 'refaults counted in the kernel ([a-z]*)' "$LOG" | sed 's/^/# /'

for s in $SCENARIOS; do
S0=$(date +%s)
case $s in
quarter)
	echo "--- quarter ($LRU LRU): 256 MiB, 64 MiB hot ---"
	start quarter 256 64
	start quarterref 256 64
	baseline quarter quarterref
	quarter_profile yes
	"$MEMQOSD" reload >/dev/null || fail "quarter: reload (reclaim on) failed"
	T0=$(date +%s)
	sleep $((QUARTER_SEC - 20))
	s0=$(field quarter steps) ph0=$(field quarter phase)
	mark quarter quarterref
	sleep 20
	echo "# with reclaim, the last 20 s:"
	window quarter quarterref
	s1=$(field quarter steps)
	cur=$(current quarter) ref=$(current quarterref) psi=$(avg10 quarter)
	rec=$(field quarter reclaimed_bytes) saved=$(field quarter saved_bytes)
	r_mem=$(ratio "$cur" $((64 << 20)))
	r_tp=$(did "$WIN_RATIO" "$BASE_RATIO")
	echo "# quarter after $(($(date +%s) - T0)) s: memory.current $(mib "$cur") MiB (reference $(mib "$ref") MiB), hot set 64 MiB: ratio $r_mem"
	echo "# quarter: reclaimed $(mib "$rec") MiB, saved $(mib "$saved") MiB, phase $(field quarter phase), back-offs $(field quarter backoffs)"
	echo "# quarter: throughput over the last 20 s ${r_tp}x its own without reclaim (to the reference per calibrated CPU unit: ${WIN_RATIO}x now, ${BASE_RATIO}x before reclaim; per second ${WIN_WALL_RATIO}x, per CPU-second ${WIN_CPU_RATIO}x now); PSI some avg10 $psi % (target 0.5 %)"
	check "quarter: memory.current near the hot set (ratio $r_mem <= 1.6)" ge 1.6 "$r_mem"
	check "quarter: throughput >= 0.95x without reclaim (${r_tp}x)" ge "$r_tp" 0.95
	check "quarter: PSI some avg10 under the target ($psi < 0.5)" ge 0.5 "$psi"
	check "quarter: the reference was not touched (memory.current >= 250 MiB)" ge "$ref" $((250 << 20))
	if [ "$ph0" = settled ]; then
		check "quarter: settled, it costs nothing: no step in the last 20 s ($s0 -> $s1)" [ "$s0" = "$s1" ]
	else
		echo "# quarter: not settled 20 s before the end ($ph0): the no-step check does not apply"
	fi
	stop_wl quarter quarterref
	;;
noise)
	# Not run by default: two workloads of the quarter scenario's shape, neither reclaimed, measured
	# like it: how far apart two identical workloads on one vCPU are (the ratio's noise).
	echo "--- noise: two 256 MiB / 64 MiB hot workloads, no reclaim ---"
	start quarterref 256 64
	start noiseref 256 64
	baseline quarterref noiseref
	sleep $((QUARTER_SEC - 20))
	mark quarterref noiseref
	sleep 20
	window quarterref noiseref
	echo "# noise: the last 20 s ${WIN_RATIO}x the other's per calibrated CPU unit (per second ${WIN_WALL_RATIO}x, per CPU-second ${WIN_CPU_RATIO}x); against the baseline as the quarter scenario takes it: $(did "$WIN_RATIO" "$BASE_RATIO")x"
	stop_wl quarterref noiseref
	;;
phase)
	echo "--- phase change ($LRU LRU): 256 MiB, 32 MiB hot, then all of it ---"
	r0=$(field phase reclaimed_bytes)
	[ "$r0" = none ] && r0=0
	start phase 256 32
	# Reclaim is under way (small steps): at least 8 MiB taken (by this run, if phase runs twice).
	wait_for 120 reclaimed_ge phase $((r0 + (8 << 20))) || fail "phase: reclaim did not get going (reclaimed $(field phase reclaimed_bytes))"
	b0=$(field phase backoffs) l0=$(field phase last_backoff_usec)
	echo "# phase: before the change: reclaimed $(mib "$(field phase reclaimed_bytes)") MiB, phase $(field phase phase), back-offs $b0"
	kill -USR1 "$PID_phase"
	T0=$(date +%s.%N)
	if wait_for 30 backoffs_gt phase "$b0"; then
		T1=$(date +%s.%N)
		us=$(field phase last_backoff_usec)
		echo "# phase ($LRU): back-off $(python3 -c "print(f'{$us / 1000:.1f}')") ms after the first refault (BPF clock); seen in status $(python3 -c "print(f'{$T1 - $T0:.2f}')") s after SIGUSR1"
		grep 'phase: reclaim backed off' "$LOG" | tail -n1 | sed 's/^/# /'
		check "phase: the back-off was on refaults (a new latency measured)" [ "$us" != "$l0" ]
		check "phase ($LRU): reclaim backs off within a second of the first refaults ($us us)" ge 1000000 "$us"
	else
		fail "phase: no back-off within 30 s of the phase change; phase $(field phase phase)"
	fi
	stop_wl phase
	;;
allhot)
	echo "--- all hot ($LRU LRU): 128 MiB ---"
	start allhot 128 128
	start allhotref 128 128
	baseline allhot allhotref
	allhot_profile yes
	"$MEMQOSD" reload >/dev/null || fail "allhot: reload (reclaim on) failed"
	sleep 25
	mark allhot allhotref
	sleep 20
	echo "# with reclaim, the last 20 s:"
	window allhot allhotref
	cur=$(current allhot) saved=$(field allhot saved_bytes) rec=$(field allhot reclaimed_bytes)
	r_tp=$(did "$WIN_RATIO" "$BASE_RATIO")
	echo "# allhot: memory.current $(mib "$cur") MiB of 128, reclaimed $(mib "$rec") MiB, saved $(mib "$saved") MiB, back-offs $(field allhot backoffs), phase $(field allhot phase)"
	echo "# allhot: throughput over the last 20 s ${r_tp}x its own without reclaim (to the reference per calibrated CPU unit: ${WIN_RATIO}x now, ${BASE_RATIO}x before reclaim)"
	check "allhot: almost nothing saved (saved <= 12.8 MiB)" ge $(((128 << 20) / 10)) "$saved"
	check "allhot: memory.current >= 90 % of the set" ge "$cur" $(((128 << 20) * 9 / 10))
	check "allhot: throughput >= 0.95x without reclaim (${r_tp}x)" ge "$r_tp" 0.95
	stop_wl allhot allhotref
	;;
noswap)
	echo "--- no swap ($LRU LRU): $NOSWAP_MIB MiB of page cache read once, 32 MiB anonymous hot ---"
	big=${MEMQOSD_VM_KERNEL_DIR:-}/vmlinux
	[ -r "$big" ] || abort "noswap: no vmlinux to read ($big)"
	swaps=$(swapon --show=NAME --noheadings)
	swapoff -a || abort "noswap: swapoff failed"
	check "noswap: no swap in the guest" [ -z "$(swapon --show --noheadings)" ]
	sync
	echo 1 >/proc/sys/vm/drop_caches  # the file's pages, if cached, are charged to the reader
	mkdir -p "$CGR/noswap"
	taskset -c 0 sh -c 'echo $$ >"$0/cgroup.procs" && head -c "$4" "$1" >/dev/null && exec "$2" 32 32 "$3"' \
		"$CGR/noswap" "$big" "$WL" "$T/noswap.out" $((NOSWAP_MIB << 20)) 2>"$T/noswap.err" &
	PIDS="$PIDS $!"
	PID_noswap=$!
	wait_for 180 sh -c "[ -s '$T/noswap.out' ]" || fail "noswap: no progress line within 180 s"
	sleep 2
	fstat() { sed -n "s/^$2 //p" "$CGR/$1/memory.stat"; }
	f0=$(fstat noswap file) a0=$(fstat noswap anon) c0=$(current noswap)
	echo "# noswap: before reclaim: memory.current $(mib "$c0") MiB, file $(mib "$f0") MiB, anon $(mib "$a0") MiB"
	check "noswap: the file's page cache is charged to the tenant (file >= 80 % of $NOSWAP_MIB MiB)" ge "$f0" $((NOSWAP_MIB * 8 / 10 << 20))
	noswap_profile yes
	"$MEMQOSD" reload >/dev/null || fail "noswap: reload (reclaim on) failed"
	T0=$(date +%s)
	wait_for "$NOSWAP_SEC" phase_is noswap settled || echo "# noswap: not settled within $NOSWAP_SEC s"
	f1=$(fstat noswap file) a1=$(fstat noswap anon) c1=$(current noswap) psi=$(avg10 noswap)
	rec=$(field noswap reclaimed_bytes)
	r_mem=$(ratio "$c1" $((32 << 20)))
	echo "# noswap: after $(($(date +%s) - T0)) s: memory.current $(mib "$c1") MiB, file $(mib "$f1") MiB, anon $(mib "$a1") MiB; reclaimed $(mib "$rec") MiB, saved $(mib "$(field noswap saved_bytes)") MiB, phase $(field noswap phase), steps $(field noswap steps), back-offs $(field noswap backoffs); PSI some avg10 $psi %"
	check "noswap: the page cache was reclaimed (file $(mib "$f1") MiB < 16 MiB)" ge $((16 << 20)) "$f1"
	check "noswap: reclaimed >= 60 % of the file ($(mib "$rec") MiB)" ge "$rec" $((NOSWAP_MIB * 6 / 10 << 20))
	check "noswap: memory.current near the anonymous set (ratio $r_mem <= 1.6)" ge 1.6 "$r_mem"
	check "noswap: the anonymous set is untouched (anon $(mib "$a1") MiB >= 32 MiB)" ge "$a1" $((32 << 20))
	check "noswap: settled (nothing cold left)" [ "$(field noswap phase)" = settled ]
	check "noswap: PSI some avg10 under the target ($psi < 0.5)" ge 0.5 "$psi"
	stop_wl noswap
	for d in $swaps; do swapon "$d" || abort "noswap: cannot turn swap on again ($d)"; done
	check "noswap: swap is on again ($swaps)" [ "$(swapon --show=NAME --noheadings)" = "$swaps" ]
	;;
priority)
	echo "--- two priorities under host pressure ($LRU LRU) ---"
	start low 200 50
	start high 200 50
	sleep 10
	total=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
	# More than the RAM the two tenants leave: the rest goes to zram, the whole guest feels it.
	hog=$(( total / 1024 - 400 + 100 ))
	echo "# host: MemTotal $((total / 1024)) MiB; hog of $hog MiB, all hot"
	start hog "$hog" "$hog" 1
	wait_for 90 sh -c 'v=$(sed -n "s/^some avg10=\([0-9]*\).*/\1/p" /proc/pressure/memory); [ "${v:-0}" -ge 5 ]' ||
		fail "priority: no host pressure (/proc/pressure/memory: $(head -1 /proc/pressure/memory))"
	echo "# host: $(head -1 /proc/pressure/memory)"
	prio_profiles yes
	"$MEMQOSD" reload >/dev/null || fail "priority: reload failed"
	: >"$T/timeline"
	end=$(($(date +%s) + PRIO_SEC))
	while [ "$(date +%s)" -lt "$end" ]; do
		"$MEMQOSD" status --json >>"$T/timeline" 2>/dev/null
		sleep 0.5
	done
	python3 - "$T/timeline" "$LOG" >"$T/verdict" <<'PY'
import json, re, sys
# Each tenant's first progress record is logged when its first step that reclaimed anything
# completes (the rate limit starts then): the log's order is the order of the first steps, which
# status samples a few seconds apart under TCG may not separate.
log = open(sys.argv[2], errors="replace").read().splitlines()
firsts = []
for line in log:
    m = re.search(r"Tenant (low|high): reclaimed", line)
    if m and m.group(1) not in firsts:
        firsts.append(m.group(1))
print(f"# priority: first progress records in the log: {firsts}")
ok = bool(firsts) and firsts[0] == "low"
print(("ok" if ok else "FAIL") + " - priority: the lower priority is reclaimed first (first progress records)")
rows = []
for line in open(sys.argv[1]):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    r = {x["name"]: x for x in o["reclaim"]}
    if "low" in r and "high" in r:
        rows.append((r["low"]["reclaimed_bytes"], r["high"]["reclaimed_bytes"], r["low"]["phase"]))
if not rows:
    print("FAIL - priority: no status samples with both tenants")
    sys.exit()
first_low = next((i for i, x in enumerate(rows) if x[0] > 0), None)
first_high = next((i for i, x in enumerate(rows) if x[1] > 0), None)
print(f"# priority: {len(rows)} samples; low first reclaimed at sample {first_low}, high at {first_high}; "
      f"at the end low {rows[-1][0] / 2**20:.1f} MiB, high {rows[-1][1] / 2**20:.1f} MiB")
ok = first_low is not None and (first_high is None or first_low <= first_high)
print(("ok" if ok else "FAIL") + " - priority: the higher one did not reclaim before the lower one (status samples)")
ok = rows[-1][0] > rows[-1][1]
print(("ok" if ok else "FAIL") + " - priority: the lower priority gave more")
if first_high is not None:
    print(f"# priority: at the first status sample with high reclaimed, low was {rows[first_high][2]} with {rows[first_high][0] / 2**20:.1f} MiB reclaimed")
# The samples are up to ~2 s apart under TCG: low may settle, high step, and low wake again (it
# grew back by its refaults) between two of them. The log is in order: low's phase from its records
# (a progress record ends with the phase, and settling always writes one; a back-off record), and
# the line high writes when it stops waiting for lower priorities.
low = None
waited = False
verdict = None
for line in log:
    m = re.search(r"Tenant low: reclaimed .*, (probing|backoff|settled)$", line.rstrip())
    if m:
        low = m.group(1)
    elif "Tenant low: reclaim backed off" in line:
        low = "backoff"
    elif "Tenant high: reclaim waits for lower priorities" in line:
        waited = True
    elif verdict is None and "Tenant high: lower priorities have nothing cold left" in line:
        verdict = low
    elif verdict is None and "Tenant high: host memory pressure is over" in line:
        verdict = "pressure over"
    elif verdict is None and "Tenant high: reclaimed" in line:
        verdict = "no wait"
print(f"# priority: high waited: {waited}; low's phase when high went (log): {verdict}")
for line in [l for l in log if re.search(r"Proactive reclaim: host|Tenant (low|high): (reclaim|lower|host)", l)][:24]:
    print("#   " + line.rstrip())
print(("ok" if waited else "FAIL") + " - priority: the higher one waited for the lower one under host pressure")
# After the host's pressure is over the order does not apply (rule 1 is for host pressure only).
ok = verdict in (None, "settled", "pressure over")
print(("ok" if ok else "FAIL") + " - priority: the higher one went only once the lower one had nothing cold left (log order)")
PY
	while read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"FAIL - "*) fail "${line#FAIL - }" ;;
		*) echo "$line" ;;
		esac
	done <"$T/verdict"
	check "priority: host pressure was seen by memqosd" grep -q 'host memory pressure, lower priorities first' "$LOG"
	stop_wl hog low high
	;;
mglru) lru_switch y ;;
classic) lru_switch n ;;
*) abort "unknown scenario $s" ;;
esac
echo "# scenario $s: $(($(date +%s) - S0)) s"
done
echo "# all scenarios ($SCENARIOS): $(($(date +%s) - START_ALL)) s in the guest, from the script's start"

echo "--- memqosd status ---"
"$MEMQOSD" status | sed -n '/RECLAIM/,$p'
n_prog=$(grep -c 'quarter: reclaimed' "$LOG")
echo "# records: $(grep -c 'reclaimed .*(total' "$LOG") progress, $(grep -c 'reclaim backed off' "$LOG") back-off"
grep -E 'reclaim backed off|: reclaimed ' "$LOG" | head -8 | sed 's/^/# /'
check "progress records are rate-limited (quarter: $n_prog in the run, at most one a minute + settling)" \
	[ "$n_prog" -le $(( ($(date +%s) - ${START_ALL:-$(date +%s)}) / 60 + 6 )) ]
stop_daemon
check "daemon exits 0" [ "$DAEMON_RC" -eq 0 ]
it_finish
