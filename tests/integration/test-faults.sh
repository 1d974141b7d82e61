#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The fault matrix (issue 8): the real memqosd on a fake cgroup tree (--cgroup-root) with a private
# dbus-daemon, one scenario per fault, each asserting that every tenant ends at its original value
# after a clean stop (or its configured bound while running) and that no state record is lost or
# left over. Prints a (fault, outcome) matrix at the end. Slow kernel writes are simulated by
# tests/integration/slow-kernel.py (memory.high becomes a FIFO whose writes block until drained);
# pressure on a fake tree is a write to a memory.pressure file (the root's: the host's).
#
#   tests/integration/test-faults.sh PATH/TO/memqosd
#
# Faults that need the real kernel (verifier rejecting a policy, ring buffer overflowing, a kernel
# without memcg_ops) are not produced here; the matrix says so in capitals, never silently.
# Runs as root (unshare/mount for the read-only state directory); exits 77 (skip) loudly otherwise.
set -u

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd}")
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
[ -x "$MEMQOSD" ] || abort "$MEMQOSD is not executable"
it_require_root "the fault matrix (it bind-mounts a read-only state directory in a private namespace)"
it_require_tools dbus-daemon python3 prlimit unshare mount

MATRIX=
SLOW_PID=
row() { MATRIX="$MATRIX$(printf '%-48s %s' "$1" "$2")
"; }
# outcome FAULT FAILED_BEFORE: PASS if no check failed since, else FAIL
# A failed scenario prints its own daemon's log and last exit status right away (it_cleanup prints
# only the last scenario's log).
outcome() {
	if [ "$FAILED" -eq "$2" ]; then
		row "$1" "PASS: $3"
		return
	fi
	row "$1" "FAIL ($((FAILED - $2)) checks)"
	echo "--- $1: daemon log ($LOG), last exit status ${DAEMON_RC:-none} ---"
	cat "$LOG"
	echo "--- state directory of $1 ---"
	ls -la "$STATE"
	echo "--- end of $1 ---"
}

stop_slow() {
	[ -n "$SLOW_PID" ] || return 0
	kill -TERM "$SLOW_PID" 2>/dev/null
	wait "$SLOW_PID" 2>/dev/null
	SLOW_PID=
}
CLEANUP_HOOK=stop_slow

# slow_kernel FILE MODE DELAY: FILE becomes a slow FIFO (see slow-kernel.py); values in FILE.values
slow_kernel() {
	rm -f "$1.values" "$1.values.ready"
	python3 "$HERE/slow-kernel.py" "$1" "$2" "$3" "$1.values" &
	SLOW_PID=$!
	wait_for 10 test -e "$1.values.ready" || abort "slow kernel for $1 did not start"
}

# setup NAME: a fresh tree and configuration under $T/NAME: web (priority 80, found at max, clamped
# to 1536M) and batch (priority 20, found at 512M, 600M in use; squeezable toward 256M).
setup() {
	D=$T/$1
	CG=$D/cg
	CONF=$D/conf
	STATE=$D/state
	LOG=$D/daemon.log
	DAEMON_RC=
	mkdir -p "$CG/tenants" "$CONF/tenants.d" "$STATE"
	chmod 700 "$STATE"
	echo 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0' >"$CG/memory.pressure"
	make_fake_cgroup "$CG/tenants/web" max
	make_fake_cgroup "$CG/tenants/batch" 536870912
	echo 629145600 >"$CG/tenants/batch/memory.current"
	printf '[Daemon]\nLogLevel=debug\n[Control]\nHousekeepingSec=1s\nWriteTimeoutSec=%s\nHeadroom=1G\nMinIntervalSec=100ms\nHoldSec=1h\n' \
		"${WTO:-1s}" >"$CONF/memqosd.conf"
	profile web '[Tenant]\nCgroup=tenants/web\nPriority=80\nMemoryHighMin=768M\nMemoryHighMax=1536M\nMemoryLow=256M\n'
	profile batch '[Tenant]\nCgroup=tenants/batch\nPriority=20\nMemoryHighMin=256M\nMemoryHighMax=1G\n'
	: >"$NOTIFY_LOG"
}

# start [PREFIX...]: run the daemon (optionally under a wrapper command); waits for READY=1
start() {
	NOTIFY_SOCKET=$T/notify.sock "$@" "$MEMQOSD" --config-dir "$CONF" --cgroup-root "$CG" --state-dir "$STATE" \
		>>"$LOG" 2>&1 &
	DAEMON_PID=$!
	wait_for 15 contains "$NOTIFY_LOG" "READY=1" || abort "daemon did not send READY=1 ($LOG)"
	wait_for 5 file_is "$CG/tenants/web/memory.high" 1610612736 || abort "start-up clamp not written"
}

# stop_timed MAX_SECONDS: SIGTERM, wait, check the exit status and the time it took
stop_timed() {
	local t0=$(date +%s)
	stop_daemon
	check "$1: clean stop, exit 0" [ "$DAEMON_RC" -eq 0 ]
	check "$1: stop took at most $2 s" [ $(($(date +%s) - t0)) -le "$2" ]
}

# originals_back WHAT: both tenants at the values found, and no record left
originals_back() {
	check "$1: web's memory.high back to max" file_is "$CG/tenants/web/memory.high" max
	check "$1: web's memory.low back to 0" file_is "$CG/tenants/web/memory.low" 0
	check "$1: batch's memory.high back to 512M" file_is "$CG/tenants/batch/memory.high" 536870912
	check "$1: no state record left" bash -c "[ -z \"\$(ls -A '$STATE')\" ]"
}

# squeeze: web and the host under pressure (fake tree: writes to memory.pressure), batch squeezed
squeeze() {
	echo 'some avg10=50.00 avg60=10.00 avg300=1.00 total=99999' >"$CG/tenants/web/memory.pressure"
	echo 'some avg10=50.00 avg60=10.00 avg300=1.00 total=99999' >"$CG/memory.pressure"
}

# squeeze_in_flight NAME LABEL: a daemon (WriteTimeoutSec=5s) whose squeeze write of batch is in
# flight (each memory.high write of batch takes up to 1.5 s)
squeeze_in_flight() {
	WTO=5s setup "$1"
	start
	slow_kernel "$CG/tenants/batch/memory.high" slow 1.5
	squeeze
	check "$2: squeeze started" wait_for 10 contains "$LOG" "squeeze"
	sleep 0.3
}

start_private_bus
start_notify_listener
BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS

# --- 1. stop during an in-flight squeeze write (defect 1) ------------------------------------------
fault_inflight_stop() {
	local f0=$FAILED
	squeeze_in_flight inflight-stop "in-flight stop"
	stop_timed "in-flight stop" 10
	stop_slow
	check "in-flight stop: restore logged" contains "$LOG" "Restored memory.high of batch"
	check "in-flight stop: last value batch's memory.high got is the original" \
		bash -c "[ \"\$(tail -n1 '$CG/tenants/batch/memory.high.values')\" = 536870912 ]"
	originals_back "in-flight stop"
	outcome "SIGTERM during an in-flight squeeze write" "$f0" "restore waited for, original back"
}

# --- 2. reload removing a tenant during its in-flight write (defect 1) ------------------------------
fault_inflight_reload() {
	local f0=$FAILED
	squeeze_in_flight inflight-reload "in-flight reload"
	rm "$CONF/tenants.d/batch.conf"
	kill -HUP "$DAEMON_PID"
	check "in-flight reload: restore completes after the reload" wait_for 10 contains "$LOG" "Restored memory.high of batch"
	BATCH_ID=$(stat -c %i "$CG/tenants/batch")
	check "in-flight reload: batch's record removed once restored" wait_for 5 bash -c "[ ! -e '$STATE/$BATCH_ID' ]"
	stop_slow
	check "in-flight reload: last value batch's memory.high got is the original" \
		bash -c "[ \"\$(tail -n1 '$CG/tenants/batch/memory.high.values')\" = 536870912 ]"
	stop_timed "in-flight reload" 10
	originals_back "in-flight reload"
	outcome "reload removing a tenant during its write" "$f0" "restore after the write, record kept until then"
}

# --- 3. cgroup removed mid-write ---------------------------------------------------------------------
fault_removed() {
	local f0=$FAILED
	setup removed
	start
	slow_kernel "$CG/tenants/batch/memory.high" stuck 0
	profile batch '[Tenant]\nCgroup=tenants/batch\nPriority=20\nMemoryHighMin=256M\nMemoryHighMax=400M\n'
	kill -HUP "$DAEMON_PID"
	sleep 0.3
	BATCH_ID=$(stat -c %i "$CG/tenants/batch")
	rm -rf "$CG/tenants/batch"
	check "removed: tenant released" wait_for 10 contains "$LOG" "Tenant batch released"
	check "removed: daemon still running" kill -0 "$DAEMON_PID"
	check "removed: batch's record removed (nothing left to restore)" wait_for 5 bash -c "[ ! -e '$STATE/$BATCH_ID' ]"
	stop_slow
	make_fake_cgroup "$CG/tenants/batch" 536870912
	check "removed: a new cgroup of that name is taken and clamped" wait_for 10 file_is "$CG/tenants/batch/memory.high" 419430400
	stop_timed "removed" 10
	originals_back "removed"
	outcome "cgroup removed mid-write" "$f0" "released, record dropped, new cgroup taken"
}

# --- 3b. the reader of a file vanishes under a blocked write (EPIPE, not SIGPIPE) -----------------------
# A write blocked on a FIFO whose reader exits fails with EPIPE; with SIGPIPE at its default the
# whole daemon died there, before restoring anything (seen in "removed" when slow-kernel.py exited).
fault_epipe() {
	local f0=$FAILED
	setup epipe
	start
	slow_kernel "$CG/tenants/batch/memory.high" stuck 0
	profile batch '[Tenant]\nCgroup=tenants/batch\nPriority=20\nMemoryHighMin=256M\nMemoryHighMax=400M\n'
	kill -HUP "$DAEMON_PID"
	check "epipe: the write is blocked" wait_for 10 contains "$LOG" "Reloaded configuration"
	sleep 0.3
	kill -KILL "$SLOW_PID" # the reader goes without draining: the blocked write gets EPIPE
	wait "$SLOW_PID" 2>/dev/null
	SLOW_PID=
	sleep 1
	check "epipe: daemon still running" kill -0 "$DAEMON_PID"
	rm -f "$CG/tenants/batch/memory.high"
	echo 536870912 >"$CG/tenants/batch/memory.high" # a regular file again, as found
	stop_timed "epipe" 10
	originals_back "epipe"
	outcome "reader of a file gone under a blocked write" "$f0" "EPIPE handled, daemon runs on, restores"
}

# --- 4. writer stuck past WriteTimeoutSec ------------------------------------------------------------
fault_stuck() {
	local f0=$FAILED
	setup stuck
	start
	slow_kernel "$CG/tenants/batch/memory.high" stuck 0
	profile batch '[Tenant]\nCgroup=tenants/batch\nPriority=20\nMemoryHighMin=256M\nMemoryHighMax=400M\n'
	kill -HUP "$DAEMON_PID"
	check "stuck: the loop answers the bus while the write is stuck" \
		bash -c "timeout 2 '$MEMQOSD' status batch | grep -q '^batch '"
	check "stuck: the write is interrupted after WriteTimeoutSec" wait_for 10 contains "$LOG" "interrupting it"
	check "stuck: the failed write is reported" wait_for 5 contains "$LOG" "failed to write memory.high=419430400"
	BATCH_ID=$(stat -c %i "$CG/tenants/batch")
	stop_timed "stuck" 10
	check "stuck: the restore (stuck too) failed, so batch's record is kept" test -e "$STATE/$BATCH_ID"
	check "stuck: the stop message counts the failed restore" contains "$LOG" "1 restore(s) failed"
	stop_slow
	: >"$NOTIFY_LOG"
	start
	stop_timed "stuck, after a restart" 10
	originals_back "stuck, after a restart"
	outcome "writer stuck past WriteTimeoutSec" "$f0" "interrupted; record kept; restart restores"
}

# --- 5. SIGKILL mid-squeeze, restart, clean stop ------------------------------------------------------
fault_sigkill() {
	local f0=$FAILED
	squeeze_in_flight sigkill "sigkill"
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
	stop_slow
	echo 419430400 >"$CG/tenants/batch/memory.high" # the kernel had taken the squeezed limit
	: >"$NOTIFY_LOG"
	start
	check "sigkill: the restart recovers batch's original" contains "$LOG" "memory.high 512M (found 400M)"
	stop_timed "sigkill" 10
	originals_back "sigkill"
	outcome "SIGKILL mid-squeeze, restart, clean stop" "$f0" "originals recovered and restored"
}

# --- 6. SIGTERM and SIGHUP storms during a reload -------------------------------------------------------
fault_storm() {
	local f0=$FAILED
	WTO=5s setup storm # each write takes up to 0.5 s: a margin for a loaded machine
	start
	slow_kernel "$CG/tenants/batch/memory.high" slow 0.5
	profile batch '[Tenant]\nCgroup=tenants/batch\nPriority=20\nMemoryHighMin=256M\nMemoryHighMax=400M\n'
	for i in $(seq 1 30); do kill -HUP "$DAEMON_PID"; done
	for i in 1 2 3; do kill -TERM "$DAEMON_PID"; kill -HUP "$DAEMON_PID"; done
	t0=$(date +%s)
	wait "$DAEMON_PID"
	DAEMON_RC=$?
	DAEMON_PID=
	check "storm: clean exit 0" [ "$DAEMON_RC" -eq 0 ]
	check "storm: exit within 10 s" [ $(($(date +%s) - t0)) -le 10 ]
	stop_slow
	originals_back "storm"
	outcome "SIGTERM and SIGHUP storms during a reload" "$f0" "one clean stop, originals back"
}

# --- 7. fd exhaustion (defect 4) -----------------------------------------------------------------------
fault_fds() {
	local f0=$FAILED
	setup fds
	start
	WEB_ID=$(stat -c %i "$CG/tenants/web")
	nofile=$(prlimit --pid "$DAEMON_PID" --nofile --noheadings --raw --output SOFT)

	prlimit --pid "$DAEMON_PID" --nofile=3: # fds 0-2 are taken: every new fd fails
	# The housekeeping tick reads nothing of an active tenant (issue 12); a memory.events change
	# does: each open in its handler fails with EMFILE.
	for _ in 1 2 3 4 5; do
		: >>"$CG/tenants/web/memory.events"
		sleep 0.5
	done
	prlimit --pid "$DAEMON_PID" --nofile="$nofile":
	sleep 1.5
	check "fds: no tenant released for EMFILE" bash -c "! grep -q 'released' '$LOG'"
	check "fds: web's record kept" test -e "$STATE/$WEB_ID"
	check "fds: the transient error was logged" contains "$LOG" "Too many open files"
	"$MEMQOSD" status web >"$D/status" 2>&1
	check "fds: web still active" grep -Eq '^web .* active$' "$D/status"
	stop_timed "fds" 10
	originals_back "fds"
	outcome "fd exhaustion (RLIMIT_NOFILE lowered 2.5 s)" "$f0" "tenants kept, originals restored"
}

# --- 8. bus absent at start, and vanishing later ---------------------------------------------------------
fault_bus() {
	local f0=$FAILED
	setup bus
	DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/no-such-bus start
	check "bus absent: runs without the D-Bus API" contains "$LOG" "continuing without the D-Bus API"
	stop_timed "bus absent" 10
	originals_back "bus absent"
	: >"$NOTIFY_LOG"
	start
	kill "$BUS_PID"
	wait "$BUS_PID" 2>/dev/null
	BUS_PID=
	sleep 1
	check "bus vanished: daemon still running" kill -0 "$DAEMON_PID"
	profile batch '[Tenant]\nCgroup=tenants/batch\nPriority=20\nMemoryHighMin=256M\nMemoryHighMax=400M\n'
	kill -HUP "$DAEMON_PID"
	check "bus vanished: SIGHUP still reloads" wait_for 10 file_is "$CG/tenants/batch/memory.high" 419430400
	stop_timed "bus vanished" 10
	originals_back "bus vanished"
	rm -f "$T/bus.sock"
	start_private_bus
	outcome "bus absent at start, vanishing later" "$f0" "runs on, reloads on SIGHUP, restores"
}

# --- 9. state directory unwritable ------------------------------------------------------------------------
fault_rostate() {
	local f0=$FAILED
	setup rostate
	start unshare -m sh -c 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"' "$STATE"
	check "read-only state dir: warned, runs without it" contains "$LOG" "Cannot use state directory $STATE"
	check "read-only state dir: daemon running" kill -0 "$DAEMON_PID"
	stop_timed "read-only state dir" 10
	originals_back "read-only state dir"
	outcome "state directory unwritable (read-only mount)" "$f0" "runs, clean stop restores"
}

# --- 10. reclaim that stalls (issue 17): usage stays above the squeezed memory.high -----------------------
# batch's memory.current is a plain file: every write "returns" with batch still above, before the
# write timeout, as the kernel's reclaim does on a hot working set; the next round must pause it.
fault_stall() {
	local f0=$FAILED
	setup stall
	echo 0 >"$CG/tenants/batch/cgroup.freeze"
	start
	squeeze
	wait_for 10 contains "$LOG" "reclaimed with it paused for" || true
	check "stall: batch squeezed" contains "$LOG" "Changed memory.high of batch"
	check "stall: a paused round after reclaim gave up" \
		contains "$LOG" "after reclaim found only recently used pages; reclaiming with it paused"
	check "stall: the round ran paused (writer froze and thawed batch)" contains "$LOG" "reclaimed with it paused for"
	check "stall: no round after a paused one that gave up" \
		bash -c "[ \$(grep -c 'reclaiming with it paused' '$LOG') -le \$(grep -c 'Changed memory.high of batch' '$LOG') ]"
	# A later change may be in its own paused round right now: thawed once that round ends.
	check "stall: batch thawed" wait_for 10 file_is "$CG/tenants/batch/cgroup.freeze" 0
	stop_timed "stall" 10
	check "stall: batch still thawed after the stop" file_is "$CG/tenants/batch/cgroup.freeze" 0
	originals_back "stall"
	outcome "reclaim stalled above a squeezed memory.high" "$f0" "one paused round per change, thawed, restored"
}

# --- 11. SIGKILL inside a paused round (issue 17 follow-up): no tenant left frozen ------------------------
# As in 10, batch stays above every squeeze, so the round after one runs paused; here batch's
# memory.high holds every write (slow kernel, hold mode): the squeeze write is let through once it
# blocks (a writer thread in pipe_write), the paused write after it stays blocked, and memqosd is
# SIGKILLed then: batch is left frozen, its record marked Frozen=yes. pause_killed NAME does that.
writer_blocked() {
	grep -qs pipe_write /proc/"$DAEMON_PID"/task/*/wchan
}

pause_killed() {
	WTO=10s setup "$1"
	echo 0 >"$CG/tenants/batch/cgroup.freeze"
	start
	REC=$STATE/$(stat -c %i "$CG/tenants/batch")
	check "$1: batch's record written at start, unmarked" bash -c "[ -f '$REC' ] && ! grep -q Frozen '$REC'"
	slow_kernel "$CG/tenants/batch/memory.high" hold 0
	squeeze
	check "$1: the squeeze write of batch blocks" wait_for 20 writer_blocked
	kill -USR1 "$SLOW_PID"
	check "$1: a paused round started" wait_for 20 contains "$LOG" "reclaiming with it paused"
	check "$1: record marked Frozen=yes while the writer has batch frozen" wait_for 10 \
		bash -c "grep -qx Frozen=yes '$REC' && [ \"\$(cat '$CG/tenants/batch/cgroup.freeze')\" = 1 ]"
	check "$1: the paused write blocks" wait_for 10 writer_blocked
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
	stop_slow
	check "$1: batch left frozen by the SIGKILL" file_is "$CG/tenants/batch/cgroup.freeze" 1
	check "$1: the record still says Frozen=yes" grep -qx Frozen=yes "$REC"
	check "$1: batch left squeezed" bash -c "[ \$(cat '$CG/tenants/batch/memory.high') -lt 536870912 ]"
	# calm: the restart has no reason to squeeze again
	echo 'some avg10=0.00 avg60=0.00 avg300=0.00 total=99999' >"$CG/tenants/web/memory.pressure"
	echo 'some avg10=0.00 avg60=0.00 avg300=0.00 total=99999' >"$CG/memory.pressure"
	: >"$NOTIFY_LOG"
}

# the tenant configured again: its own record thaws it
fault_sigkill_paused() {
	local f0=$FAILED
	pause_killed sigkill-paused
	start
	check "sigkill-paused: the restart thawed batch (logged)" \
		contains "$LOG" "Tenant batch: thawed cgroup tenants/batch (cgroup.freeze 1 -> 0)"
	check "sigkill-paused: batch thawed" file_is "$CG/tenants/batch/cgroup.freeze" 0
	check "sigkill-paused: mark cleared, record kept" bash -c "[ -f '$REC' ] && ! grep -q Frozen '$REC'"
	check "sigkill-paused: the restart recovers batch's original" contains "$LOG" "memory.high 512M (found"
	stop_timed "sigkill-paused" 10
	check "sigkill-paused: batch still thawed after the stop" file_is "$CG/tenants/batch/cgroup.freeze" 0
	originals_back "sigkill-paused"
	outcome "SIGKILL in a paused round, restart" "$f0" "thawed, mark cleared, original restored"
}

# the tenant no longer configured: the sweep of leftover records thaws it
fault_sigkill_paused_orphan() {
	local f0=$FAILED
	pause_killed sigkill-paused-orphan
	rm "$CONF/tenants.d/batch.conf"
	start
	check "sigkill-paused-orphan: the sweep thawed batch (logged)" \
		wait_for 10 contains "$LOG" "thawed cgroup tenants/batch (cgroup.freeze 1 -> 0)"
	check "sigkill-paused-orphan: batch thawed" file_is "$CG/tenants/batch/cgroup.freeze" 0
	check "sigkill-paused-orphan: batch's original restored" wait_for 10 \
		file_is "$CG/tenants/batch/memory.high" 536870912
	check "sigkill-paused-orphan: batch's record removed" wait_for 10 bash -c "[ ! -e '$REC' ]"
	stop_timed "sigkill-paused-orphan" 10
	originals_back "sigkill-paused-orphan"
	outcome "SIGKILL in a paused round, tenant unconfigured" "$f0" "sweep thaws, restores, removes the record"
}

# FAULTS="name ..." runs only those (for debugging); the others are listed as not run, loudly.
for name in inflight-stop inflight-reload removed epipe stuck sigkill storm fds bus rostate stall sigkill-paused \
	sigkill-paused-orphan; do
	if [ -n "${FAULTS:-}" ] && ! [[ " $FAULTS " == *" $name "* ]]; then
		row "$name" "NOT RUN (FAULTS=$FAULTS)"
		continue
	fi
	"fault_${name//-/_}"
done

# --- faults this host cannot produce ------------------------------------------------------------------------
row "verifier rejecting a policy" "NOT PRODUCED ON THIS HOST: needs BPF and the guest kernel"
row "ring buffer overflowing" "NOT PRODUCED ON THIS HOST: needs BPF and the guest kernel"
row "kernel without memcg_ops" "NOT PRODUCED ON THIS HOST: needs the CONFIG_MEMCG_BPF=n guest kernel"

printf '\n=== fault matrix (fault, outcome) ===\n%s\n' "$MATRIX"
it_finish
