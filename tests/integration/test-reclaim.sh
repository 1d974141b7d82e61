#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration test of proactive reclaim's wiring (issue 14) with the real memqosd binary on a fake
# cgroup tree (--cgroup-root, plain files) and a private dbus-daemon. No kernel reclaims behind the
# fake tree (memory.current stays put), so this checks the interface; what reclaim achieves is
# checked in the VM guest (tests/vm/reclaim):
#  - `memqosd check`: bad [Reclaim] values are errors with FILE:LINE and key;
#  - a tenant with Enable=yes gets memory.reclaim written with StepPercent= of what lies above its
#    floor (the writer's file), one step per IntervalSec=; a tenant without it gets nothing;
#  - a tenant at its floor is not written at all (settled);
#  - status, status --json ("reclaim": phase, steps) and ListReclaim/ReclaimedBytes over busctl;
#  - reload switching Enable= off stops the writes; dry-run writes nothing.
# Runs as root (the BPF refault counter is loaded if the kernel allows; not required here).
set -u

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd}")
. "$(dirname "$0")/lib.sh"
[ -x "$MEMQOSD" ] || abort "$MEMQOSD is not executable"
it_require_root "the reclaim integration test"
it_require_tools dbus-daemon python3 busctl

CG=$T/cg
CONF=$T/conf
mkdir -p "$CG/tenants" "$CONF/tenants.d"
for t in cold plain floored; do
	make_fake_cgroup "$CG/tenants/$t" max
	: >"$CG/tenants/$t/memory.reclaim"
done
printf '[Daemon]\nLogLevel=debug\n' >"$CONF/memqosd.conf"
# memory.current of the fake tree is 100M: 10 % of (100M - 20M) = 8M = 8388608 bytes per step.
profile cold '[Tenant]\nCgroup=tenants/cold\nPriority=50\nPolicy=none\n[Reclaim]\nEnable=yes\nStepPercent=10\nFloor=20M\nIntervalSec=200ms\nPressureTarget=5%\n'
profile plain '[Tenant]\nCgroup=tenants/plain\nPriority=10\nPolicy=none\n'
profile floored '[Tenant]\nCgroup=tenants/floored\nPriority=10\nPolicy=none\nMemoryLow=100M\n[Reclaim]\nEnable=yes\nIntervalSec=200ms\nPressureTarget=5%\n'

# --- check: FILE:LINE errors ------------------------------------------------------------------
mkdir -p "$T/bad/tenants.d"
printf '[Reclaim]\nEnable=perhaps\nPressureTarget=1.234\n' >"$T/bad/memqosd.conf"
printf '[Tenant]\nCgroup=x\nPriority=1\n[Reclaim]\nStepPercent=0\nHoldSec=2h\n' >"$T/bad/tenants.d/x.conf"
"$MEMQOSD" check --config-dir "$T/bad" >"$T/out" 2>"$T/err"
rc=$?
check "check: bad [Reclaim] values fail" [ "$rc" -eq 1 ]
check "check: Enable= named with file and line" contains "$T/err" "$T/bad/memqosd.conf:2: Enable=: invalid boolean 'perhaps'"
check "check: PressureTarget= with three decimals" contains "$T/err" "$T/bad/memqosd.conf:3: PressureTarget=: invalid percentage '1.234'"
check "check: StepPercent= out of range" contains "$T/err" "$T/bad/tenants.d/x.conf:5: StepPercent=: '0' is out of range (1..50)"
check "check: HoldSec= out of range" contains "$T/err" "$T/bad/tenants.d/x.conf:6: HoldSec=: '2h' is out of range (1s..1h)"
"$MEMQOSD" check --config-dir "$CONF" >"$T/out" 2>&1
check "check: the good configuration passes" [ $? -eq 0 ]

start_private_bus
"$MEMQOSD" --config-dir "$CONF" --cgroup-root "$CG" --state-dir "$T/state" >"$LOG" 2>&1 &
DAEMON_PID=$!
check "daemon is on the bus" wait_for 10 busctl --system status org.memqosd1
check "cold: memory.reclaim written with 10 % of what lies above the floor" \
	wait_for 10 file_is "$CG/tenants/cold/memory.reclaim" 8388608
steps() {
	"$MEMQOSD" status --json | python3 -c '
import json, sys
r = {x["name"]: x for x in json.load(sys.stdin)["reclaim"]}
print(r[sys.argv[1]][sys.argv[2]] if sys.argv[1] in r else "none")' "$1" "${2:-steps}"
}
check "cold: a step per IntervalSec= (>= 5 steps)" wait_for 10 bash -c "[ \$(\"$MEMQOSD\" status --json | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin)[\"reclaim\"] if x[\"name\"]==\"cold\"][0][\"steps\"])') -ge 5 ]"
check "cold: still probing (the fake memory.current never falls)" [ "$(steps cold phase)" = probing ]
check "plain: reclaim off, no row" [ "$(steps plain)" = none ]
check "plain: nothing written" [ ! -s "$CG/tenants/plain/memory.reclaim" ]
check "floored: at its floor (MemoryLow=100M): settled" [ "$(steps floored phase)" = settled ]
check "floored: nothing written" [ ! -s "$CG/tenants/floored/memory.reclaim" ]
check "floored: the floor is MemoryLow=" [ "$(steps floored floor_bytes)" = 104857600 ]
"$MEMQOSD" status >"$T/status"
check "status prints the RECLAIM table" grep -qE '^cold +probing ' "$T/status"
sed -n '/RECLAIM/,$p' "$T/status"
out=$(busctl --system call org.memqosd1 /org/memqosd1 org.memqosd1.Manager ListReclaim)
check "ListReclaim over the bus lists cold and floored ($out)" bash -c "echo '$out' | grep -q '^a(ssttttttt) 2 \"cold\" \"probing\"'"
out=$(busctl --system get-property org.memqosd1 /org/memqosd1 org.memqosd1.Manager ReclaimedBytes)
check "ReclaimedBytes property ($out: nothing fell on a fake tree)" [ "$out" = "t 0" ]

# reload: Enable=no stops the writes
profile cold '[Tenant]\nCgroup=tenants/cold\nPriority=50\nPolicy=none\n'
"$MEMQOSD" reload >/dev/null
check "after a reload with Enable=no: no reclaim row" wait_for 5 bash -c "[ \"\$(\"$MEMQOSD\" status --json | python3 -c 'import json,sys; print(len([x for x in json.load(sys.stdin)[\"reclaim\"] if x[\"name\"]==\"cold\"]))')\" = 0 ]"
: >"$CG/tenants/cold/memory.reclaim"
sleep 1
check "after a reload with Enable=no: nothing written" [ ! -s "$CG/tenants/cold/memory.reclaim" ]
stop_daemon
check "daemon exits 0" [ "$DAEMON_RC" -eq 0 ]

# dry-run: nothing written, said once
profile cold '[Tenant]\nCgroup=tenants/cold\nPriority=50\nPolicy=none\n[Reclaim]\nEnable=yes\nIntervalSec=200ms\nPressureTarget=5%\n'
: >"$LOG"
"$MEMQOSD" --config-dir "$CONF" --cgroup-root "$CG" --state-dir "$T/state" --dry-run >"$LOG" 2>&1 &
DAEMON_PID=$!
check "dry-run: says what it would reclaim" wait_for 10 grep -q 'Tenant cold: would reclaim' "$LOG"
sleep 1
check "dry-run: nothing written" [ ! -s "$CG/tenants/cold/memory.reclaim" ]
stop_daemon
it_finish
