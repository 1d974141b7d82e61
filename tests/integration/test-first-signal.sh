#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration test of issue 12's FIRST SIGNAL rule (src/controller.h) with the real memqosd binary on a
# fake cgroup tree (--cgroup-root) and a private dbus-daemon. Two tenants share "tenants", whose
# memory.max is 400M; H (priority 90, memory.high 96M) goes over its memory.high (a memory.events
# "high" change, what the kernel or a BPF OVER_HIGH record reports first). No PSI trigger fires,
# the host is quiet. Checks:
#  - room enough (200M left, more than H's next step of 33.6M plus Headroom= 32M): nothing is
#    written, neither L squeezed nor H raised (no contention, as before);
#  - room short (42M left): the same signal squeezes L at once, one step, with the reason naming the
#    ancestor's missing room, and the control loop's time stamp from the signal to the write;
#  - the squeeze is one step inside the bounds, taken below L's usage (never below memory.current -
#    Headroom=).
# Runs as root (like the other fake-tree daemon tests); exits 77 (skip) loudly otherwise.
set -u

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd}")
. "$(dirname "$0")/lib.sh"
[ -x "$MEMQOSD" ] || abort "$MEMQOSD is not executable"
it_require_root "the first-signal integration test"
it_require_tools dbus-daemon busctl

M=1048576
CG=$T/cg
CONF=$T/conf
mkdir -p "$CG/tenants" "$CONF/tenants.d"
make_fake_cgroup "$CG/tenants/H" $((96 * M))
make_fake_cgroup "$CG/tenants/L" $((400 * M))
echo $((100 * M)) >"$CG/tenants/H/memory.current"
echo $((260 * M)) >"$CG/tenants/L/memory.current"
# The tenants' common parent: a limit of 400M, 200M used (room for a step and Headroom=).
echo max >"$CG/tenants/memory.high"
echo $((400 * M)) >"$CG/tenants/memory.max"
echo $((200 * M)) >"$CG/tenants/memory.current"
printf '[Daemon]\nLogLevel=debug\n[Control]\nHousekeepingSec=1h\nHeadroom=32M\nStepPercent=10\n' >"$CONF/memqosd.conf"
profile H '[Tenant]\nCgroup=tenants/H\nPriority=90\nMemoryHighMin=64M\nMemoryHighMax=400M\n'
profile L '[Tenant]\nCgroup=tenants/L\nPriority=10\nMemoryHighMin=64M\nMemoryHighMax=400M\n'

start_private_bus
"$MEMQOSD" --config-dir "$CONF" --cgroup-root "$CG" --state-dir "$T/state" >"$LOG" 2>&1 &
DAEMON_PID=$!
check "daemon started" wait_for 10 grep -q "memqosd started" "$LOG"
sleep 1
check "both inside their bounds: untouched at start" \
	bash -c "[ \$(cat '$CG/tenants/L/memory.high') = $((400 * M)) ] && [ \$(cat '$CG/tenants/H/memory.high') = $((96 * M)) ]"

# H over its memory.high, the parent with room: no contention, nothing written.
printf 'low 0\nhigh 1\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n' >"$CG/tenants/H/memory.events"
check "room enough: the signal is seen" wait_for 10 grep -q "memory.events low=0 high=1" "$LOG"
sleep 3
check "room enough: L not squeezed" file_is "$CG/tenants/L/memory.high" $((400 * M))
check "room enough: H not raised" file_is "$CG/tenants/H/memory.high" $((96 * M))
check "room enough: no squeeze or raise logged" bash -c "! grep -Eq 'squeeze:|raise:' '$LOG'"

# The parent fills (358M of 400M: 42M left, below 33.6M + 32M); H goes over its memory.high again.
echo $((358 * M)) >"$CG/tenants/memory.current"
printf 'low 0\nhigh 2\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n' >"$CG/tenants/H/memory.events"
check "room short: L squeezed on the signal" \
	wait_for 5 bash -c "[ \$(cat '$CG/tenants/L/memory.high') -lt $((400 * M)) ]"
l=$(cat "$CG/tenants/L/memory.high")
# One step: 10 % of L's range (336M) down from its usage (260M, under its memory.high of 400M:
# steps from memory.high would free nothing until they reached it), not below memory.current -
# Headroom= (228M), and below the usage (it frees memory).
check "room short: one step inside the bounds ($l)" \
	bash -c "[ $l -ge $((260 * M - 336 * M / 10 - 4096)) ] && [ $l -ge $((228 * M)) ] && [ $l -lt $((260 * M)) ]"
check "room short: the reason names the missing room" \
	contains "$LOG" "squeeze: higher-priority tenant H under pressure while tenants has no room under its memory.max for its next step"
check "room short: the time stamp from the first signal" \
	grep -Eq 'memory.high write started [0-9]+ us after the first pressure signal \(memory.events high of H\)' "$LOG"
us=$(sed -n 's/.*write started \([0-9]*\) us after the first pressure signal (memory.events high of H).*/\1/p' "$LOG" | head -n 1)
echo "# first signal -> write started: ${us:-?} us (fake tree, inotify on memory.events)"
# The clock starts at this episode's signal, not at the first one 3 s ago (that episode ended unanswered).
check "room short: the write started within 1.5 s of its signal (${us:-?} us)" [ "${us:-9999999}" -lt 1500000 ]

stop_daemon
check "daemon exits 0" [ "$DAEMON_RC" -eq 0 ]
it_finish
