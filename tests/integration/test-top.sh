#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration test of `memqosd top` (issue 10) with the real memqosd binary on a fake cgroup tree
# (--cgroup-root) and a private dbus-daemon. No real memory cgroup is behind the fake tree, so no
# sample arrives: this checks the interface and the bad input, the stacks themselves are checked in
# the VM guest (tests/vm/sample) and by tests/host/test-sample.
#  - `memqosd check`: bad [Sampling] values are errors with FILE:LINE and key;
#  - without a daemon: exit 3;
#  - a tenant with sampling off, an unknown tenant, a window longer than kept, an unprivileged caller,
#    sampling off for every tenant: exit 1 and a clear message each;
#  - a sampled tenant: `top --json` prints one object with the contract's fields, `top` a table,
#    `top --folded` nothing (no stacks yet); TopAllocations over busctl.
# Runs as root; exits 77 (skip) loudly otherwise.
set -u

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd}")
. "$(dirname "$0")/lib.sh"
[ -x "$MEMQOSD" ] || abort "$MEMQOSD is not executable"
it_require_root "the top integration test (it loads BPF and calls the bus as nobody)"
it_require_tools dbus-daemon setpriv python3 busctl

CG=$T/cg
CONF=$T/conf
mkdir -p "$CG/tenants" "$CONF/tenants.d"
for t in sampled plain; do
	make_fake_cgroup "$CG/tenants/$t" max
done
printf '[Daemon]\nLogLevel=debug\n[Sampling]\nWindowSec=10min\n' >"$CONF/memqosd.conf"
profile sampled '[Tenant]\nCgroup=tenants/sampled\nPriority=50\n[Sampling]\nEnable=yes\nSampleSize=512K\n'
profile plain '[Tenant]\nCgroup=tenants/plain\nPriority=10\n'

# --- check: FILE:LINE errors ------------------------------------------------------------------
mkdir -p "$T/bad/tenants.d"
printf '[Sampling]\nEnable=perhaps\n' >"$T/bad/memqosd.conf"
printf '[Tenant]\nCgroup=x\nPriority=1\n[Sampling]\nSampleSize=2G\nStackDepth=65\nWindowSec=5s\n' \
	>"$T/bad/tenants.d/x.conf"
"$MEMQOSD" check --config-dir "$T/bad" >"$T/out" 2>"$T/err"
rc=$?
check "check: bad [Sampling] values fail" [ "$rc" -eq 1 ]
check "check: Enable= named with file and line" contains "$T/err" "$T/bad/memqosd.conf:2: Enable=: invalid boolean 'perhaps'"
check "check: SampleSize= out of range" contains "$T/err" "$T/bad/tenants.d/x.conf:5: SampleSize=: '2G' is out of range (4K..1G)"
check "check: StackDepth= out of range" contains "$T/err" "$T/bad/tenants.d/x.conf:6: StackDepth=: '65' is out of range (1..64)"
check "check: WindowSec= out of range" contains "$T/err" "$T/bad/tenants.d/x.conf:7: WindowSec=: '5s' is out of range (1min..24h)"

# --- options ------------------------------------------------------------------------------------
"$MEMQOSD" top --sort size >"$T/out" 2>"$T/err"
check "top --sort size is refused" bash -c "[ $? -eq 1 ] && grep -q \"unknown key 'size'\" '$T/err'"
"$MEMQOSD" top -n 0 >"$T/out" 2>"$T/err"
check "top -n 0 is refused" bash -c "[ $? -eq 1 ] && grep -q 'not a number of stacks' '$T/err'"

start_private_bus
"$MEMQOSD" top sampled >"$T/out" 2>"$T/err"
rc=$?
check "top without a daemon exits 3" [ "$rc" -eq 3 ]

"$MEMQOSD" --config-dir "$CONF" --cgroup-root "$CG" --state-dir "$T/state" >"$LOG" 2>&1 &
DAEMON_PID=$!
check "daemon is on the bus" wait_for 10 busctl --system status org.memqosd1
check "daemon activated both tenants" wait_for 10 bash -c "\"$MEMQOSD\" status | grep -c ' active\$' | grep -qx 2"

# --- bad input --------------------------------------------------------------------------------
"$MEMQOSD" top plain >"$T/out" 2>"$T/err"
rc=$?
check "top of a tenant with sampling off exits 1" [ "$rc" -eq 1 ]
check "... and says how to turn it on" contains "$T/err" "Sampling is off for tenant 'plain': set Enable=yes in the [Sampling] section"
"$MEMQOSD" top nope >"$T/out" 2>"$T/err"
rc=$?
check "top of an unknown tenant exits 1" [ "$rc" -eq 1 ]
check "... and names it" contains "$T/err" "No tenant 'nope' is configured"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$MEMQOSD" top sampled >"$T/out" 2>"$T/err"
rc=$?
check "top as nobody exits 1" [ "$rc" -eq 1 ]
check "... because stacks are root only" contains "$T/err" "Only root may read allocation stacks"

if grep -q 'Allocation sampling started' "$LOG"; then
	echo "# the sampler loaded ($(grep -o 'Allocation sampling started ([a-z]*)' "$LOG"))"
	"$MEMQOSD" top sampled --window 2h >"$T/out" 2>"$T/err"
	rc=$?
	check "top with a window longer than kept exits 1" [ "$rc" -eq 1 ]
	check "... and says what is kept" contains "$T/err" "Window 2h is longer than what is kept for tenant sampled (WindowSec=10min)"

	"$MEMQOSD" top sampled --json >"$T/top.json" 2>"$T/err"
	check "top --json exits 0" [ $? -eq 0 ]
	check "top --json: one object with the contract's fields" python3 - "$T/top.json" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, lines
o = json.loads(lines[0])
assert set(o) == {"tenant", "window_seconds", "sample_bytes", "dropped", "stacks"}, o
assert o["tenant"] == "sampled" and o["window_seconds"] == 600 and o["sample_bytes"] == 524288, o
assert isinstance(o["dropped"], int) and o["stacks"] == [], o
PY
	"$MEMQOSD" top --json -n 3 --window 5min >"$T/all.json" 2>"$T/err"
	check "top --json of every tenant" python3 -c "
import json, sys
o = json.load(open('$T/all.json'))
assert o['tenant'] is None and o['window_seconds'] == 300, o
"
	"$MEMQOSD" top sampled >"$T/top.txt" 2>"$T/err"
	check "top prints a table header" grep -q 'GROWTH/MIN +ALLOC +FREED +LIVE' <(sed 's/  */ +/g' "$T/top.txt")
	check "top names tenant, window and sample size" contains "$T/top.txt" "sampled: top 0 stacks over 600s (1 sample per 512K charged"
	"$MEMQOSD" top sampled --folded >"$T/top.folded" 2>"$T/err"
	check "top --folded exits 0, no stacks yet" bash -c "[ $? -eq 0 ] && [ ! -s '$T/top.folded' ]"
	busctl --system call org.memqosd1 /org/memqosd1 org.memqosd1.Manager TopAllocations stus sampled 0 5 live \
		>"$T/out" 2>&1
	check "TopAllocations over busctl" grep -q '^ttta(sttxtttsas) 600000000 524288 [0-9]* 0$' "$T/out"
	busctl --system call org.memqosd1 /org/memqosd1 org.memqosd1.Manager TopAllocations stus sampled 0 5 size \
		>"$T/out" 2>&1
	check "TopAllocations with a bad sort: InvalidArgs" contains "$T/out" "Unknown sort 'size'"
else
	echo "# the sampler did not load here (no BPF tracing): top must say so"
	grep 'Allocation sampling cannot start' "$LOG"
	"$MEMQOSD" top sampled >"$T/out" 2>"$T/err"
	rc=$?
	check "top where sampling cannot start exits 1" [ "$rc" -eq 1 ]
	check "... and says why" contains "$T/err" "Sampling could not start on this system"
fi

# Sampling off everywhere: reload without Enable=.
profile sampled '[Tenant]\nCgroup=tenants/sampled\nPriority=50\n'
"$MEMQOSD" reload >"$T/out" 2>&1
check "reload with sampling off" [ $? -eq 0 ]
"$MEMQOSD" top >"$T/out" 2>"$T/err"
rc=$?
check "top with sampling off for every tenant exits 1" [ "$rc" -eq 1 ]
check "... and says so" contains "$T/err" "Sampling is off for every tenant"

stop_daemon
check "daemon exits 0" [ "$DAEMON_RC" -eq 0 ]
it_finish
