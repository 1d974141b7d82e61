#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# VM test of issue 17 (job 1, steady): the squeeze holds while the higher-priority tenant still needs
# the memory, without oscillating, every run. Run inside the guest (tests/vm/policy/steady runs it):
#   tests/vm/run -- tests/vm/policy/steady.sh SCENARIO:RUNS...
# Scenarios (two tenants with 200 MiB working sets in a parent limited to 300M, zram swap,
# MemoryHighMin 128M (high, priority 90) / 48M (low, priority 10), MemoryHighMax=max, the high
# tenant starting 2 s after the low one and running DUR (40) s):
#   main   parent limited by memory.max; the others stop when the high tenant ends
#   three  as main plus a middle tenant (priority 50, MemoryHighMin 64M, 100 MiB working set), the
#          parent at 330M: the low tenant goes to its minimum first, then the middle one gives a little
#   mhigh  as main, but the parent is limited by memory.high instead of memory.max
#   early  as main, but the high tenant finishes first: the low one goes on, and must be fully
#          relaxed (memory.high back to max) within RELAX_BOUND (60) s
#   off    the control: main without memqosd; the high tenant must fall below 0.9x its solo rate
#          (per calibrated CPU unit), which shows the ratio can catch a memory-starved tenant
# MEMQOSD_STEADY_FILL=random fills pages with incompressible data (slower under emulation).
# The high tenant's solo rate is measured twice (short form: once) at the start of the boot, alone in the same parent
# with the same CPU layout as the contended runs (PIN: the high tenant alone on CPU 0, a CPU-only
# neighbour always busy on CPU 1, see setup() and solo()); the best counts. Every run prints the ratios to it (per
# calibrated CPU unit (tail_unit_rate of hog.c) and per second of the hog's own CPU time over its
# last HOG_TAIL_SECONDS (15) s, and wall clock over that window and the whole run); with
# MEMQOSD_STEADY_RATIO=1 (the long suite) it checks the first is >= 0.9. Under qemu TCG the guest's
# CPU time includes the time the host did not run the vCPU, and on this 2-core shared host that
# share swings several-fold within a minute: per CPU-second the hog ran 0.21x its solo rate with
# its working set resident (9 major faults). The calibrated rate divides that share out (hog.c);
# the short form in tests/vm/all only prints the ratios. Every run checks: the high tenant keeps
# its working set (at most 5% of it in major faults over its last 15 s); the low (and middle) tenant survives and makes progress; the low tenant's
# memory.high is lowered while the high tenant runs and still lowered when it ends (early: back to
# max within RELAX_BOUND s after, daemon still running), and restored when the daemon stops; squeeze/relax reversals while the high tenant runs are at most 2 per minute. Each run
# prints a "# RUN" line with its figures; the end a "# SUMMARY" line.
. "$(dirname "$0")/lib.sh"

WS=200
MID_WS=100
DUR=${MEMQOSD_STEADY_SECONDS:-40}
FILL=${MEMQOSD_STEADY_FILL:-}      # "random": incompressible pages (zram swap costs real memory)
export HOG_TAIL_SECONDS=${MEMQOSD_STEADY_TAIL_SECONDS:-15}
# A solo run: its working set in, then the same tail window as the contended runs.
SOLO_DUR=$(( HOG_TAIL_SECONDS + 10 ))
RELAX_BOUND=${MEMQOSD_STEADY_RELAX_BOUND:-60}
MIN_RATIO=0.9
# Asserted throughput ratio only with MEMQOSD_STEADY_RATIO=1 (the long suite); always printed.
ASSERT_RATIO=${MEMQOSD_STEADY_RATIO:-}
# MEMQOSD_STEADY_SOLO_EACH=1: a solo before every contended run and one after the last, and each
# run's ratio (checked, summarised) is to the better of its two neighbouring solos: measured twice in
# the same boot, as the issue asks, but minutes from the run instead of up to an hour. Under TCG a
# boot's speed drifts (the solos at the start of the second long-suite boot ran 12 % faster per
# calibrated unit than the first boot's, and every run of that boot compared with them).
SOLO_EACH=${MEMQOSD_STEADY_SOLO_EACH:-}
# The high tenant's major faults (swap-ins) over its last HOG_TAIL_SECONDS: at most 5% of its
# working set, i.e. it keeps its working set resident once memqosd has acted.
MAX_TAIL_MAJFLT=$(( WS * 256 / 20 ))
MAX_REVERSALS_PER_MIN=2
MIB=1048576
# PIN (default; MEMQOSD_STEADY_PIN= turns it off): every run, solo or contended, has the same CPU
# layout (setup()): the high tenant alone on CPU 0, all others plus a CPU-only neighbour on CPU 1,
# so both vCPUs are busy in every run and the high tenant competes for its vCPU with no one.
PIN=${MEMQOSD_STEADY_PIN-1}
if [ -n "$PIN" ]; then
	command -v taskset > /dev/null || { echo "FAIL - taskset not found: cannot pin (MEMQOSD_STEADY_PIN=)"; exit 1; }
	[ "$(nproc)" -ge 2 ] || { echo "FAIL - pinning needs 2 CPUs, the guest has $(nproc)"; exit 1; }
	# This script, its sampling loop, the daemon it starts and every tenant but the high one
	# run on CPU 1 (they inherit its affinity): a process that runs on the high tenant's vCPU
	# switches address spaces there, and under TCG that changes the hog's speed (see solo()).
	taskset -pc 1 $$ > /dev/null || { echo "FAIL - cannot pin this script to CPU 1"; exit 1; }
fi
# HIGH_PIN: how the high tenant's hog is started (PIN: on CPU 0, alone).
HIGH_PIN=${PIN:+taskset -c 0}

[ $# -gt 0 ] || { echo "usage: steady.sh SCENARIO:RUNS..."; exit 2; }

# populated CHILD: a process runs in mq/CHILD (cgroupfs files have no size: test -s does not work).
populated() { grep -q . "$CG/mq/$1/cgroup.procs" 2>/dev/null; }

# teardown: kill whatever runs in mq (and the CPU neighbour's cgroup) and remove it.
teardown() {
	if [ -d "$CG/mqcpu" ]; then
		echo 1 > "$CG/mqcpu/cgroup.kill"
		for _ in $(seq 1 50); do grep -q . "$CG/mqcpu/cgroup.procs" || break; sleep 0.1; done
		rmdir "$CG/mqcpu"
	fi
	[ -d "$CG/mq" ] || return 0
	for c in "$CG"/mq/*/; do
		[ -f "$c/cgroup.procs" ] || continue
		echo 1 > "$c/cgroup.kill" 2>/dev/null
		for _ in $(seq 1 50); do grep -q . "$c/cgroup.procs" || break; sleep 0.1; done
		rmdir "$c"
	done
	rmdir "$CG/mq"
}

# setup LIMIT SIZE CHILD...: a fresh parent mq limited by LIMIT (memory.max or memory.high) to SIZE.
setup() {
	teardown
	mkdir "$CG/mq"
	echo "+memory" > "$CG/mq/cgroup.subtree_control"
	echo "$2" > "$CG/mq/$1"
	shift 2
	for c; do mkdir "$CG/mq/$c"; done
	# The CPU-only neighbour's cgroup, outside the parent (PIN: it runs on CPU 1 like all but high).
	[ -z "$PIN" ] || mkdir "$CG/mqcpu"
}

# neighbour SECONDS: the CPU-only neighbour (a 1 MiB hog) on CPU 1, outside the parent (PIN only).
neighbour() {
	[ -n "$PIN" ] || return 0
	run_in mqcpu "$HOG" cpu 1 "$1" > /dev/null &
}

# tail_rate OUTPUT_FILE: the MiB/s a hog printed for its last HOG_TAIL_SECONDS; tail_cpu_rate: the
# same per second of its own CPU time.
tail_rate() { sed -n 's/.* tail_rate=\([0-9.]*\).*/\1/p' "$1"; }
tail_cpu_rate() { sed -n 's/.* tail_cpu_rate=\([0-9.]*\).*/\1/p' "$1"; }
tail_majflt() { sed -n 's/.* tail_majflt=\([0-9]*\).*/\1/p' "$1"; }
tail_unit_rate() { sed -n 's/.* tail_unit_rate=\([0-9.]*\).*/\1/p' "$1"; }
tail_cal() { sed -n 's/.* tail_cal=\([0-9.]*\).*/\1/p' "$1"; }
# cpu_fig OUTPUT_FILE: where the CPU went in a hog's tail window (hog.c: its run and run-queue wait
# shares, the guest's busy share) and its memory in huge pages.
cpu_fig() {
	sed -n 's/.* tail_run=\([0-9.]*\) tail_csw=\([0-9.]*\) tail_busy=\([0-9.]*\).*/on CPU \1 of the time, \2 context switches\/s, guest CPUs busy \3/p' "$1"
}
ratio() { awk -v a="${1:-0}" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "0.00" }'; }

# MiB of a memory.high value ("max" stays "max").
mib() { case "$1" in max) echo max ;; *) echo $(( $1 / MIB ))M ;; esac; }

# probe T0: with MEMQOSD_STEADY_PROBE=1, once a second until killed, what decides whether the low
# tenant's memory can be reclaimed: its and the parent's memory files, swap and zram, the daemon's
# threads (a memory.high write in progress shows in their wait channel).
probe() {
	while :; do
		echo "## $(( $(date +%s) - $1 )) s"
		for c in low high; do
			echo "$c high=$(cat $CG/mq/$c/memory.high) cur=$(cat $CG/mq/$c/memory.current)" \
				"swap=$(cat $CG/mq/$c/memory.swap.current)/$(cat $CG/mq/$c/memory.swap.max)" \
				"events: $(tr '\n' ' ' < $CG/mq/$c/memory.events)"
			grep -E '^(anon|file|active_anon|inactive_anon|pgscan|pgsteal|pgmajfault|workingset_refault_anon|pswpin|pswpout|zswpout|workingset_activate_anon|workingset_restore_anon) ' \
				"$CG/mq/$c/memory.stat" | tr '\n' ' '; echo
		done
		echo "mq cur=$(cat $CG/mq/memory.current) max=$(cat $CG/mq/memory.max) high=$(cat $CG/mq/memory.high)" \
			"events: $(tr '\n' ' ' < $CG/mq/memory.events)"
		tail -n +2 /proc/swaps | tr '\n' ' '; echo "zram mm_stat: $(cat /sys/block/zram0/mm_stat 2>/dev/null)"
		grep -E '^(MemFree|SwapFree)' /proc/meminfo | tr '\n' ' '; echo
		[ -n "$DAEMON_PID" ] && for t in /proc/$DAEMON_PID/task/*; do
			printf '%s:%s:%s ' "$(cat $t/comm)" "$(cut -d' ' -f3 $t/stat)" "$(cat $t/wchan)"
		done; echo
		sleep 1
	done
}

# Solo: the high tenant alone in the parent (no other memory user), twice, the best counts. A
# CPU-only neighbour (a 1 MiB hog) runs meanwhile, on CPU 1 as in every contended run (PIN), so
# that both vCPUs are busy in both: on 2 emulated vCPUs of a shared host the CPU layout, not
# memory, otherwise sets the rate. (Without PIN the neighbour runs in the low tenant's cgroup,
# unpinned: the layout before issue 17's fair baseline.) With MEMQOSD_STEADY_ALONE=1 one run
# without the neighbour is printed for reference.
solo() { # solo OUT [NEIGHBOUR]
	setup memory.max 300M high low
	if [ -n "${2:-}" ]; then
		if [ -n "$PIN" ]; then neighbour "$SOLO_DUR"; else run_in mq/low "$HOG" cpu 1 "$SOLO_DUR" > /dev/null & fi
	fi
	if [ "${2:-}" = ticker ]; then
		# For reference: a process that wakes 50 times a second on the high tenant's CPU.
		run_in mqcpu taskset -c 0 "$HOG" ticker 0 "$SOLO_DUR" > /dev/null &
	fi
	run_in mq/high $HIGH_PIN "$HOG" high $WS "$SOLO_DUR" $FILL > "$1"
	wait
}
# MEMQOSD_STEADY_SOLO_RUNS=1 (the short form, which only prints the ratio): one solo run, 25 s less.
SOLO_RUNS=${MEMQOSD_STEADY_SOLO_RUNS:-2}
echo "# solo: the high tenant alone in the parent, ${SOLO_DUR}s, $SOLO_RUNS time(s) with a CPU-only neighbour${MEMQOSD_STEADY_ALONE:+, once alone}"
solo_best=0
solo_tail=0
solo_cpu=0
solo_unit=0
# solo_measure NAME LABEL: one solo run with the neighbour, printed; its figures in s, st, scpu, sunit.
solo_measure() {
	solo "$W/$1.out" neighbour
	s=$(rate "$W/$1.out")
	st=$(tail_rate "$W/$1.out")
	scpu=$(tail_cpu_rate "$W/$1.out")
	sunit=$(tail_unit_rate "$W/$1.out")
	echo "# $2: ${s:-?} MiB/s; last ${HOG_TAIL_SECONDS}s ${st:-?} MiB/s, ${scpu:-?} MiB per CPU-second," \
		"${sunit:-?} MiB per calibrated unit (calibration loop $(tail_cal "$W/$1.out") M steps per CPU-second); $(cpu_fig "$W/$1.out")"
}
for i in $(seq 1 "$SOLO_RUNS"); do
	solo_measure "solo$i" "solo $i"
	fcmp "${s:-0}" ">" "$solo_best" && solo_best=$s
	fcmp "${st:-0}" ">" "$solo_tail" && solo_tail=$st
	fcmp "${scpu:-0}" ">" "$solo_cpu" && solo_cpu=$scpu
	fcmp "${sunit:-0}" ">" "$solo_unit" && solo_unit=$sunit
done
check "solo rate measured (best $solo_best MiB/s; last ${HOG_TAIL_SECONDS}s $solo_tail MiB/s, $solo_cpu MiB/CPU-s, $solo_unit MiB/unit)" \
	fcmp "$solo_unit" ">" 0
if [ -n "${MEMQOSD_STEADY_ALONE:-}" ]; then
	solo "$W/alone.out"
	echo "# alone (no neighbour, for reference): $(rate "$W/alone.out") MiB/s; last ${HOG_TAIL_SECONDS}s" \
		"$(tail_rate "$W/alone.out") MiB/s, $(tail_cpu_rate "$W/alone.out") MiB per CPU-second," \
		"$(tail_unit_rate "$W/alone.out") MiB per calibrated unit; $(cpu_fig "$W/alone.out")"
	if [ -n "$PIN" ]; then
		solo "$W/ticker.out" ticker
		echo "# solo with a ticker on its CPU (a process waking 50 times a second; for reference):" \
			"$(rate "$W/ticker.out") MiB/s; last ${HOG_TAIL_SECONDS}s $(tail_rate "$W/ticker.out") MiB/s," \
			"$(tail_cpu_rate "$W/ticker.out") MiB per CPU-second, $(tail_unit_rate "$W/ticker.out") MiB per calibrated unit;" \
			"$(cpu_fig "$W/ticker.out")"
	fi
fi

: > "$W/summary"
n_runs=0

# ratio_checks SCENARIO K RATIO RPM RELAXED WHOLE TAIL CPU: the checks on the ratio per calibrated
# unit and the summary row (at once, or with SOLO_EACH once the solo after the run is measured).
ratio_checks() {
	if [ "$1" = off ]; then
		# The control: the same scenario as main without memqosd. The ratio must fall below
		# MIN_RATIO here, or it could not show a memory-starved high tenant.
		check "$1 $2: control without memqosd: high tenant below $MIN_RATIO x its solo rate per calibrated CPU unit ($3)" \
			fcmp "$3" "<" "$MIN_RATIO"
	elif [ -n "$ASSERT_RATIO" ]; then
		check "$1 $2: high tenant keeps >= $MIN_RATIO x its solo rate per calibrated CPU unit over its last ${HOG_TAIL_SECONDS}s ($3)" \
			fcmp "$3" ">=" "$MIN_RATIO"
	fi
	echo "$1 $3 $4 $5 $6 $7 $8" >> "$W/summary"
}
pending=
prev_unit=$solo_unit
# settle_pending NAME (SOLO_EACH): the solo after the pending run, its ratio to the better of the
# solos before and after it, its checks; the solo after is the next run's solo before.
settle_pending() {
	solo_measure "solo-after-$1" "solo after $1"
	# shellcheck disable=SC2086 # the pending figures are words
	set -- $pending
	best=$prev_unit
	fcmp "${sunit:-0}" ">" "${best:-0}" && best=$sunit
	u=$(ratio "$3" "$best")
	echo "# RUN $1 $2: high/solo per calibrated unit last ${HOG_TAIL_SECONDS}s $u against the better of its neighbouring solos ($3 vs $best; before ${prev_unit:-?}, after ${sunit:-?})"
	prev_unit=$sunit
	pending=
	ratio_checks "$1" "$2" "$u" "$4" "$5" "$6" "$7" "$8"
}

run_one() { # run_one SCENARIO K N
	sc=$1 k=$2 n=$3
	failures_before=$failures
	others="low"
	case "$sc" in
	three) setup memory.max 330M high mid low; others="mid low" ;;
	mhigh) setup memory.high 300M high low ;;
	main | early | off) setup memory.max 300M high low ;;
	*) fail "unknown scenario $sc"; return ;;
	esac
	hdur=$DUR
	rm -rf "$W/conf"
	conf "$W/conf" "$CG/mq"
	tenant "$W/conf" high 90 128M max
	tenant "$W/conf" low 10 48M max
	[ "$sc" = three ] && tenant "$W/conf" mid 50 64M max
	if [ "$sc" = off ]; then
		: > "$W/daemon.log"
	else
		start_daemon "$W/conf" > /dev/null || { fail "$sc $k: daemon did not start"; return; }
	fi

	# The others run until they are stopped (after the relax check), the high tenant hdur seconds.
	long=$(( hdur + RELAX_BOUND + 60 ))
	neighbour "$long"
	run_in mq/low "$HOG" low $WS $long $FILL > "$W/low.out" &
	lp=$!
	mp=
	if [ "$sc" = three ]; then
		run_in mq/mid "$HOG" mid $MID_WS $long $FILL > "$W/mid.out" &
		mp=$!
	fi
	sleep 2
	from=$(( $(wc -l < "$W/daemon.log") + 1 ))
	to=$from
	t0=$(date +%s)
	run_in mq/high $HIGH_PIN "$HOG" high $WS "$hdur" $FILL > "$W/high.out" &
	hp=$!
	: > "$W/low-high.samples"
	: > "$W/trace"
	pp=
	if [ -n "${MEMQOSD_STEADY_PROBE:-}" ]; then
		probe "$t0" > "$W/probe" 2>&1 &
		pp=$!
	fi
	deadline=$(( t0 + hdur + 60 ))
	for _ in $(seq 1 100); do populated high && break; sleep 0.1; done
	# (Its cgroup empties when it exits; kill -0 would still see the unreaped subshell.)
	while populated high && [ "$(date +%s)" -lt $deadline ]; do
		# The window "while the high tenant ran" ends at the last log line seen while it did.
		to=$(wc -l < "$W/daemon.log")
		cat "$CG/mq/low/memory.high" >> "$W/low-high.samples"
		echo "$(( $(date +%s) - t0 )) low $(mib "$(cat "$CG/mq/low/memory.high")")/$(mib "$(cat "$CG/mq/low/memory.current")")" \
			"high $(mib "$(cat "$CG/mq/high/memory.current")") refaults" \
			"$(sed -n 's/^workingset_refault_anon //p' "$CG/mq/high/memory.stat")" >> "$W/trace"
		sleep 0.5
	done
	if kill -0 $hp 2>/dev/null; then
		fail "$sc $k: the high tenant did not finish within ${hdur}s + 60s"
		kill -9 $hp 2>/dev/null
	fi
	wait $hp
	t1=$(date +%s)
	held=$(tail -n 1 "$W/low-high.samples")

	# early: after the high tenant, every other tenant's memory.high back to max within RELAX_BOUND.
	relaxed=
	[ "$sc" = early ] && while [ $(( $(date +%s) - t1 )) -le "$RELAX_BOUND" ]; do
		all=yes
		for o in $others; do grep -qx max "$CG/mq/$o/memory.high" || all=; done
		if [ -n "$all" ]; then relaxed=$(( $(date +%s) - t1 )); break; fi
		sleep 0.5
	done
	for o in $others; do kill -TERM $(cat "$CG/mq/$o/cgroup.procs") 2>/dev/null; done
	[ -n "$PIN" ] && echo 1 > "$CG/mqcpu/cgroup.kill"
	wait $lp $mp
	all_to=$(wc -l < "$W/daemon.log")
	if [ -n "$pp" ]; then
		kill $pp 2>/dev/null; wait $pp
		echo "--- $sc $k: probe ---"; cat "$W/probe"
		echo "--- $sc $k: daemon log ---"; grep -v "^$" "$W/daemon.log" | tail -n 200
	fi
	stop_daemon

	hr=$(rate "$W/high.out"); lr=$(rate "$W/low.out"); mr=
	[ "$sc" = three ] && mr=$(rate "$W/mid.out")
	ratio=$(ratio "$hr" "$solo_best")
	ht=$(tail_rate "$W/high.out")
	tratio=$(ratio "$ht" "$solo_tail")
	hc=$(tail_cpu_rate "$W/high.out")
	cratio=$(ratio "$hc" "$solo_cpu")
	hu=$(tail_unit_rate "$W/high.out")
	uratio=$(ratio "$hu" "$solo_unit")
	hm=$(tail_majflt "$W/high.out")
	low_min=$(grep -v max "$W/low-high.samples" | sort -n | head -n 1)
	rev=0; squeezes=0; relaxes=0
	for o in $others; do
		writes "$o" "$from" "$to" > "$W/writes-$o"
		rev=$(( rev + $(reversals "$W/writes-$o") ))
		writes "$o" 1 "$all_to" > "$W/all-writes-$o"
		squeezes=$(( squeezes + $(grep -c squeeze "$W/all-writes-$o") ))
		relaxes=$(( relaxes + $(grep -c relax "$W/all-writes-$o") ))
	done
	secs=$(( t1 - t0 ))
	[ "$secs" -gt 0 ] || secs=1
	rpm=$(awk -v r="$rev" -v s="$secs" 'BEGIN { printf "%.1f", r * 60 / s }')

	echo "# RUN $sc $k/$n: high/solo per calibrated unit last ${HOG_TAIL_SECONDS}s $uratio (${hu:-?} vs $solo_unit, calibration loop $(tail_cal "$W/high.out") M steps/CPU-s);" \
		"last ${HOG_TAIL_SECONDS}s $tratio (${ht:-?} vs $solo_tail MiB/s), whole run $ratio" \
		"(${hr:-?} vs ${solo_best} MiB/s), per CPU-second last ${HOG_TAIL_SECONDS}s $cratio (${hc:-?} vs $solo_cpu);" \
		"high's major faults in its last ${HOG_TAIL_SECONDS}s: ${hm:-?}; high $(cpu_fig "$W/high.out");" \
		"low ${lr:-?}${mr:+, mid $mr} MiB/s;" \
		"low memory.high min $(mib "${low_min:-max}") while high ran${relaxed:+; relaxed to max ${relaxed}s after it ended};" \
		"reversals while high ran: $rev in ${secs}s = $rpm/min; writes: $squeezes squeeze, $relaxes relax"
	echo "# paused reclaim rounds of low: $(grep -c "Tenant low: reclaimed with it paused" "$W/daemon.log")"
	if [ -n "$SOLO_EACH" ]; then
		pending="$sc $k ${hu:-0} $rpm ${relaxed:--} $ratio $tratio $cratio"
	else
		ratio_checks "$sc" "$k" "$uratio" "$rpm" "${relaxed:--}" "$ratio" "$tratio" "$cratio"
	fi
	echo "--- $sc $k: trace (seconds, low memory.high/current, high current and refaults) ---"; cat "$W/trace"

	if [ "$sc" = off ]; then
		echo "# $sc $k: ${hm:-?} major faults in the high tenant's last ${HOG_TAIL_SECONDS}s"
		check "$sc $k: the high tenant ran to its end (its rate was printed: ${hu:-none})" test -n "$hu"
		check "$sc $k: low tenant survived (${lr:-no output} MiB/s)" fcmp "${lr:-0}" ">" 0
		n_runs=$(( n_runs + 1 ))
		return
	fi
	check "$sc $k: high tenant keeps its working set: <= $MAX_TAIL_MAJFLT major faults in its last ${HOG_TAIL_SECONDS}s (${hm:-no output})" \
		test "${hm:-999999999}" -le "$MAX_TAIL_MAJFLT"
	check "$sc $k: low tenant survived and made progress (${lr:-no output} MiB/s)" fcmp "${lr:-0}" ">" 0
	[ "$sc" = three ] && check "$sc $k: middle tenant survived and made progress (${mr:-no output} MiB/s)" fcmp "${mr:-0}" ">" 0
	check "$sc $k: low's memory.high lowered while the high tenant ran" test -n "$low_min"
	check "$sc $k: and still lowered when it ended (${held:-?})" test -n "$held" -a "$held" != max
	check "$sc $k: low's memory.high never below MemoryHighMin 48M" fcmp "${low_min:-$((48 * MIB))}" ">=" $((48 * MIB))
	[ "$sc" = early ] &&
		check "$sc $k: relaxed back to max within ${RELAX_BOUND}s after the high tenant ended (${relaxed:-not})" test -n "$relaxed"
	check "$sc $k: at most $MAX_REVERSALS_PER_MIN squeeze/relax reversals per minute while it ran ($rpm)" \
		fcmp "$rpm" "<=" "$MAX_REVERSALS_PER_MIN"
	check "$sc $k: daemon exits 0 on SIGTERM" test "${DAEMON_RC:-1}" = 0
	for c in high $others; do
		check "$sc $k: $c's memory.high restored to max on stop" grep -qx max "$CG/mq/$c/memory.high"
	done
	if [ "$failures" -gt "$failures_before" ]; then
		echo "--- $sc $k: trace (seconds, low memory.high/current, high current) ---"; cat "$W/trace"
		echo "--- $sc $k: daemon log, memory.high changes and paused reclaim ---"
		grep -E "Changed memory.high|paused" "$W/daemon.log"
	fi
	n_runs=$(( n_runs + 1 ))
}

for arg; do
	sc=${arg%%:*}
	n=${arg#*:}
	[ "$n" = "$arg" ] && n=1
	for k in $(seq 1 "$n"); do
		run_one "$sc" "$k" "$n"
		[ -n "$SOLO_EACH" ] && [ -n "$pending" ] && settle_pending "$sc-$k"
	done
done
teardown

awk -v runs="$n_runs" '$1 == "off" { if (offn++ == 0 || $2 > offmax) offmax = $2; next }
{
	if (min == "" || $2 < min) min = $2
	if ($3 > maxr) maxr = $3
	if ($1 == "early") { if ($4 == "-") miss++; else if ($4 > maxt) maxt = $4 }
	if ($2 < 0.9) low++
	if (wmin == "" || $5 < wmin) wmin = $5
	if (tmin == "" || $6 < tmin) tmin = $6
	if (cmin == "" || $7 < cmin) cmin = $7
} END {
	printf "# SUMMARY steady: %d runs; high/solo per calibrated unit (last '"$HOG_TAIL_SECONDS"'s) min %.2f (%d below 0.9); per CPU-second min %.2f; wall clock min %.2f (last '"$HOG_TAIL_SECONDS"'s), %.2f (whole run); reversals/min max %.1f; early: relaxed to max within %ss at most after the high tenant (%d runs not within the bound)", runs - offn, min, low, cmin, tmin, wmin, maxr, maxt + 0, miss
	if (offn) printf "; control without memqosd (off): %d runs, ratio per calibrated unit at most %.2f", offn, offmax
	printf "\n"
}' "$W/summary"
cat "$W/summary"
finish
