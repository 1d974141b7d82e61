#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration test of the storm guard (issue 11) with the real memqosd binary on a fake cgroup tree
# (--cgroup-root) and a private dbus-daemon. No kernel is behind the fake tree, so no storm is
# detected here (tests/vm/guard does that); this checks what works without one:
#  - `memqosd check`: bad [Guard] values are errors with FILE:LINE and key;
#  - the undo after a crash: a guard record planted in the state directory (pids.max and a freeze
#    left by a "dead" memqosd) is undone when the tenant becomes active (pids.max written back,
#    cgroup.freeze 0, a "recover" record), and the record removed; a tenant without [Guard] is
#    recovered too, from a record in the previous release's format (an upgrade); a record of a
#    cgroup no profile names any more is undone by the start's sweep; a corrupt one is removed;
#  - `memqosd thaw`: no daemon (3), unknown tenant (1), a tenant the guard has not frozen (1), a
#    caller who is not root (1).
# Runs as root; exits 77 (skip) loudly otherwise.
set -u

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd}")
. "$(dirname "$0")/lib.sh"
[ -x "$MEMQOSD" ] || abort "$MEMQOSD is not executable"
it_require_root "the guard integration test (it calls the bus as nobody)"
it_require_tools dbus-daemon setpriv

CG=$T/cg
CONF=$T/conf
mkdir -p "$CG/tenants" "$CONF/tenants.d" "$T/state"
chmod 700 "$T/state"
for t in guarded plain orphan; do
	make_fake_cgroup "$CG/tenants/$t" max
	echo 20 >"$CG/tenants/$t/pids.max"
	echo 12 >"$CG/tenants/$t/pids.current"
	echo 1 >"$CG/tenants/$t/cgroup.freeze"
	echo "10000 100000" >"$CG/tenants/$t/cpu.max"
done
printf '[Daemon]\nLogLevel=debug\n' >"$CONF/memqosd.conf"
profile guarded '[Tenant]\nCgroup=tenants/guarded\nPriority=50\nPolicy=none\n[Guard]\nEnable=yes\nActions=pids cpu freeze kill\nCpuMax=20%\n'
profile plain '[Tenant]\nCgroup=tenants/plain\nPriority=10\nPolicy=none\n'

# --- check: FILE:LINE errors ------------------------------------------------------------------
mkdir -p "$T/bad/tenants.d"
printf '[Guard]\nEnable=perhaps\nActions=pids,pause\n' >"$T/bad/memqosd.conf"
printf '[Tenant]\nCgroup=x\nPriority=1\n[Guard]\nChargeRate=lots\nHoldSec=0\nCpuMax=10\n' >"$T/bad/tenants.d/x.conf"
"$MEMQOSD" check --config-dir "$T/bad" >"$T/out" 2>"$T/err"
rc=$?
check "check: bad [Guard] values fail" [ "$rc" -eq 1 ]
check "check: Enable= named with file and line" contains "$T/err" "$T/bad/memqosd.conf:2: Enable=: invalid boolean 'perhaps'"
check "check: an unknown action" contains "$T/err" "$T/bad/memqosd.conf:3: Actions=: unknown action 'pause' (expected pids, cpu, freeze or kill)"
check "check: CpuMax= without %" contains "$T/err" "$T/bad/tenants.d/x.conf:7: CpuMax=: invalid CPU share '10' (expected a percentage of one CPU, e.g. 10%)"
check "check: ChargeRate= not a size" contains "$T/err" "$T/bad/tenants.d/x.conf:5: ChargeRate=: invalid size 'lots'"
check "check: HoldSec= out of range" contains "$T/err" "$T/bad/tenants.d/x.conf:6: HoldSec=: '0' is out of range (1s..24h)"
"$MEMQOSD" check --config-dir "$CONF" >"$T/out" 2>&1
check "check: the test's configuration is valid" [ $? -eq 0 ]

# --- thaw without a daemon --------------------------------------------------------------------
start_private_bus
"$MEMQOSD" thaw guarded >"$T/out" 2>"$T/err"
check "thaw without a daemon exits 3" [ $? -eq 3 ]
"$MEMQOSD" thaw >"$T/out" 2>"$T/err"
check "thaw without a tenant is refused" bash -c "[ $? -eq 1 ] && grep -q 'thaw needs a TENANT' '$T/err'"

# --- the undo after a crash ---------------------------------------------------------------------
# guarded: this release's format; plain: the previous release's (upgrade); orphan: no profile.
id=$(stat -c %i "$CG/tenants/guarded")
printf '[Cgroup]\nRoot=%s\nPath=tenants/guarded\nFrozen=yes\nPidsMax=max\nCpuMax=max\n' "$CG" >"$T/state/guard-$id"
id=$(stat -c %i "$CG/tenants/plain")
printf '[Guard]\nPidsMax=max\nFrozen=1\nStoppedUids=\n' >"$T/state/guard-$id"
id=$(stat -c %i "$CG/tenants/orphan")
printf '[Cgroup]\nRoot=%s\nPath=tenants/orphan\nFrozen=yes\nPidsMax=max\n' "$CG" >"$T/state/guard-$id"
printf '[Cgroup]\nRoot=%s\nPath=tenants/gone\nFrozen=1\n' "$CG" >"$T/state/guard-999999999"
"$MEMQOSD" --config-dir "$CONF" --cgroup-root "$CG" --state-dir "$T/state" >"$LOG" 2>&1 &
DAEMON_PID=$!
check "daemon is on the bus" wait_for 10 busctl --system status org.memqosd1
for t in guarded plain; do
	check "recover ($t): pids.max written back" wait_for 10 file_is "$CG/tenants/$t/pids.max" max
	check "recover ($t): thawed" wait_for 10 file_is "$CG/tenants/$t/cgroup.freeze" 0
	check "recover ($t): recorded" wait_for 10 grep -q "Storm guard: recover on tenant $t" "$LOG"
done
check "recover (guarded): cpu.max quota written back" file_is "$CG/tenants/guarded/cpu.max" max
check "recover (guarded): the cpu.max undo recorded" grep -q "Storm guard: recover on tenant guarded.*cpu.max restored" "$LOG"
check "recover (plain): cpu.max untouched (the legacy record has none)" file_is "$CG/tenants/plain/cpu.max" "10000 100000"
check "recover (orphan, no profile): pids.max written back by the sweep" wait_for 10 file_is "$CG/tenants/orphan/pids.max" max
check "recover (orphan): thawed" wait_for 10 file_is "$CG/tenants/orphan/cgroup.freeze" 0
check "recover (orphan): logged" grep -q "Undid what the storm guard left in cgroup tenants/orphan" "$LOG"
check "recover: a corrupt guard record is removed, named in the log" grep -q "guard-999999999 is corrupt, removing it" "$LOG"
check "recover: the records are removed" wait_for 10 bash -c "! ls '$T/state' | grep -q '^guard-'"

# --- thaw ---------------------------------------------------------------------------------------
"$MEMQOSD" thaw nosuch >"$T/out" 2>"$T/err"
check "thaw of an unknown tenant exits 1" bash -c "[ $? -eq 1 ] && grep -q \"No tenant 'nosuch'\" '$T/err'"
"$MEMQOSD" thaw guarded >"$T/out" 2>"$T/err"
check "thaw of a tenant the guard has not frozen exits 1" \
	bash -c "[ $? -eq 1 ] && grep -q 'not frozen by the storm guard' '$T/err'"
setpriv --reuid nobody --regid nogroup --clear-groups "$MEMQOSD" thaw guarded >"$T/out" 2>"$T/err"
check "thaw by a non-root caller exits 1" bash -c "[ $? -eq 1 ] && grep -q 'Only root may thaw' '$T/err'"

stop_daemon
check "daemon exits 0" [ "$DAEMON_RC" -eq 0 ]
it_finish
