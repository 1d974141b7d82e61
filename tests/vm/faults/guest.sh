#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The fault matrix rows that need the real kernel (issue 8), inside the guest of tests/vm/run:
#   no-memcg-ops      (kernel variant nobpf) the daemon falls back to tracing, acts, restores
#   ringbuf-overflow  the daemon stopped (SIGSTOP) while 24 squeezed tenants emit events: the ring
#                     buffer overflows, losses are reported, the daemon carries on and restores
#   verifier          (a -Dfault-injection=true build: $MEMQOSD_FI_BIN, else the memqosd of lib.sh;
#                     MEMQOSD_FAULT_VERIFIER=victim) the kernel's
#                     verifier rejects one tenant's policy: it runs without one, the others keep
#                     theirs, everything is restored
# Each prints "ROW <fault>: <outcome>" for tests/vm/faults/run, and ok/FAIL checks.
#   tests/vm/faults/guest.sh SCENARIO...
POLICY_DIR=$(cd "$(dirname "$0")/../policy" && pwd) # its lib.sh and hog.c
. "$POLICY_DIR/lib.sh"

row() { echo "ROW $1: $2"; }
# wait_value FILE VALUE: up to 10 s (the start-up writes run off the loop, after "started")
wait_value() {
	for _ in $(seq 1 100); do [ "$(cat "$1")" = "$2" ] && return 0; sleep 0.1; done
	return 1
}
no_records() { test -z "$(ls -A /run/memqosd 2>/dev/null)"; }

# common: parent mq (memory.max 512M), tenants with known originals
setup_tree() {
	stop_daemon
	[ -d "$CG/mq" ] && for d in "$CG"/mq/*/; do rmdir "$d" 2>/dev/null; done
	rmdir "$CG/mq" 2>/dev/null
	mkparent mq 512M
	conf "$W/conf-$1" "$CG/mq"
	printf 'HousekeepingSec=1s\n' >>"$W/conf-$1/memqosd.conf"
}

no_memcg_ops() {
	f0=$failures
	setup_tree nobpf
	mkdir -p "$CG/mq/high" "$CG/mq/low"
	echo 400M >"$CG/mq/low/memory.high"
	tenant "$W/conf-nobpf" high 90 192M 480M
	tenant "$W/conf-nobpf" low 10 64M 480M
	start_daemon "$W/conf-nobpf" || { row "kernel without memcg_ops" "FAIL (no start)"; return; }
	check "no memcg_ops: not struct_ops mode" sh -c "! grep -q 'Policy mode struct_ops' '$W/daemon.log'"
	check "no memcg_ops: tracing or psi-only, said so" grep -Eq "Policy mode (tracing|psi-only)" "$W/daemon.log"
	check "no memcg_ops: high clamped to 480M" wait_value "$CG/mq/high/memory.high" 503316480
	stop_daemon
	check "no memcg_ops: exit 0" test "${DAEMON_RC:-1}" = 0
	check "no memcg_ops: no state record left" no_records
	check "no memcg_ops: high restored to max" grep -qx max "$CG/mq/high/memory.high"
	check "no memcg_ops: low restored to 400M" test "$(cat "$CG/mq/low/memory.high")" = 419430400
	if [ "$failures" = "$f0" ]; then row "kernel without memcg_ops" "PASS: $(sed -n 's/.*Policy mode \([a-z_-]*\).*/\1/p' "$W/daemon.log" | head -1) mode, clamps, restores"
	else row "kernel without memcg_ops" "FAIL ($((failures - f0)) checks)"; fi
}

# 24 tenants far over memory.high, the daemon stopped for 60 s: enough events for the 256 KiB ring
# under emulation, where each tenant emits far below the BPF side's 100/s cap.
RING_TENANTS=24
RING_STOP=60
ringbuf_overflow() {
	f0=$failures
	setup_tree ring
	pids=
	for i in $(seq 1 $RING_TENANTS); do
		mkdir -p "$CG/mq/t$i"
		tenant "$W/conf-ring" "t$i" $((i * 4)) 8M 480M
		# far over memory.high: every charge is over high (events at the BPF side's coalescing rate)
		echo 8M >"$CG/mq/t$i/memory.high"
	done
	START_WAIT=900 start_daemon "$W/conf-ring" || { row "ring buffer overflowing" "FAIL (no start)"; return; }
	for i in $(seq 1 $RING_TENANTS); do
		run_in "mq/t$i" "$HOG" "t$i" 20 $((RING_STOP + 20)) >/dev/null 2>&1 &
		pids="$pids $!"
	done
	sleep 3
	kill -STOP "$DAEMON_PID"
	sleep "$RING_STOP"
	kill -CONT "$DAEMON_PID"
	lost=0
	for _ in $(seq 1 50); do
		lost=$(sed -n 's/.*BPF ring buffer: \([0-9]*\) events lost.*/\1/p' "$W/daemon.log" | head -1)
		[ -n "$lost" ] && break
		sleep 0.2
	done
	t0=$(date +%s)
	check "ring overflow: the daemon answers after the flood" sh -c "timeout 20 '$MEMQOSD' status t1 >/dev/null 2>&1 || kill -0 $DAEMON_PID"
	kill $pids 2>/dev/null
	wait $pids 2>/dev/null
	stop_daemon
	check "ring overflow: exit 0" test "${DAEMON_RC:-1}" = 0
	check "ring overflow: no state record left" no_records
	for i in $(seq 1 $RING_TENANTS); do
		check "ring overflow: t$i back at 8M" test "$(cat "$CG/mq/t$i/memory.high")" = 8388608
	done
	if [ -z "$lost" ]; then
		row "ring buffer overflowing" "NOT PRODUCED: no event lost in $RING_STOP s (restores checked: $([ "$failures" = "$f0" ] && echo PASS || echo FAIL))"
		echo "!!! ring buffer overflow NOT PRODUCED in this run !!!"
	elif [ "$failures" = "$f0" ]; then row "ring buffer overflowing" "PASS: $lost events lost and reported, daemon carried on, restored"
	else row "ring buffer overflowing" "FAIL ($((failures - f0)) checks)"; fi
}

verifier() {
	f0=$failures
	bin=$MEMQOSD
	[ -n "${MEMQOSD_FI_BIN:-}" ] && MEMQOSD=$MEMQOSD_FI_BIN
	setup_tree verifier
	mkdir -p "$CG/mq/high" "$CG/mq/victim"
	tenant "$W/conf-verifier" high 90 192M 480M
	tenant "$W/conf-verifier" victim 10 64M 480M
	export MEMQOSD_FAULT_VERIFIER=victim
	start_daemon "$W/conf-verifier" || { row "verifier rejecting a policy" "FAIL (no start)"; return; }
	unset MEMQOSD_FAULT_VERIFIER
	check "verifier: the kernel's verifier refused victim's policy" grep -Eq "unreachable insn|infinite loop|back-edge" "$W/daemon.log"
	check "verifier: victim runs without a policy, said so" grep -q "Tenant victim: no BPF policy (the policy failed to load or attach" "$W/daemon.log"
	check "verifier: high kept its policy" test "$(struct_ops_count)" = 1
	check "verifier: victim still managed (clamped to 480M)" wait_value "$CG/mq/victim/memory.high" 503316480
	stop_daemon
	check "verifier: exit 0" test "${DAEMON_RC:-1}" = 0
	check "verifier: no state record left" no_records
	check "verifier: no policy left" test "$(struct_ops_count)" = 0
	check "verifier: both restored to max" sh -c "grep -qx max '$CG/mq/high/memory.high' && grep -qx max '$CG/mq/victim/memory.high'"
	MEMQOSD=$bin
	if [ "$failures" = "$f0" ]; then row "verifier rejecting a policy" "PASS: tenant runs without policy, others keep theirs, restored"
	else row "verifier rejecting a policy" "FAIL ($((failures - f0)) checks)"; fi
}

for s in "$@"; do
	case "$s" in
	no-memcg-ops) no_memcg_ops ;;
	ringbuf-overflow) ringbuf_overflow ;;
	verifier) verifier ;;
	*) fail "unknown scenario $s" ;;
	esac
done
finish
