# SPDX-License-Identifier: LGPL-2.1-or-later
# Helpers for the policy VM tests (sourced; run inside the guest of tests/vm/run, as root).
# Every check prints "ok - ..." or "FAIL - ..."; finish() exits non-zero if any check failed.

set -u

POLICY_DIR=${POLICY_DIR:-$(cd "$(dirname "$0")" && pwd)}
CHECKOUT=${MEMQOSD_CHECKOUT:-$(cd "$POLICY_DIR/../../.." && pwd)}
# CG, mkparent, run_in: shared with scripts/demo-guest.
. "$CHECKOUT/tests/vm/lib/tenant.sh"
MEMQOSD=${MEMQOSD_BIN:-${MEMQOSD_VM_BUILD:-$CHECKOUT/build}/src/memqosd}
W=$(mktemp -d /tmp/policy-test.XXXXXX)
failures=0
DAEMON_PID=

ok() { echo "ok - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...
	d=$1; shift
	if "$@"; then ok "$d"; else fail "$d"; fi
}
finish() {
	stop_daemon
	if [ "$failures" -gt 0 ]; then
		echo "--- daemon log (last 60 lines) ---"; tail -n 60 "$W/daemon.log" 2>/dev/null
		echo "$failures check(s) failed"; exit 1
	fi
	echo "all checks passed"; exit 0
}

[ "$(id -u)" = 0 ] || { echo "policy tests must run as root in the VM (tests/vm/run)"; exit 1; }
[ -x "$MEMQOSD" ] || { echo "memqosd binary not found at $MEMQOSD (build first, or set MEMQOSD_BIN)"; exit 1; }
grep -q memory "$CG/cgroup.subtree_control" || { echo "no memory controller on cgroup2 at $CG"; exit 1; }

# Build the hog once per guest.
HOG=$W/hog
cc -O2 -o "$HOG" "$POLICY_DIR/hog.c" || { echo "cannot build hog.c"; exit 1; }

# conf DIR ROOT: a config dir with [Daemon] CgroupRoot=ROOT, debug logging.
conf() {
	mkdir -p "$1/tenants.d"
	cat > "$1/memqosd.conf" <<EOC
[Daemon]
CgroupRoot=$2
LogLevel=debug
[Control]
HoldSec=5s
EOC
}

# tenant DIR CGROUP PRIORITY MIN MAX [POLICY]: the profile of the tenant in CGROUP (relative to the
# root; a nested one like a/b is the tenant a-b, its profile tenants.d/a-b.conf).
tenant() {
	cat > "$1/tenants.d/$(echo "$2" | tr / -).conf" <<EOC
[Tenant]
Cgroup=$2
Priority=$3
MemoryHighMin=$4
MemoryHighMax=$5
Policy=${6:-priority}
EOC
}

start_daemon() { # start_daemon CONFDIR   (waits START_WAIT x 0.1 s, default 100, for "started")
	"$MEMQOSD" --config-dir "$1" > "$W/daemon.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 1 "${START_WAIT:-100}"); do
		grep -q "memqosd started" "$W/daemon.log" 2>/dev/null && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "daemon did not start:"; cat "$W/daemon.log"; return 1
}

stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_RC=$?
	DAEMON_PID=
}

# rate OUTPUT_FILE: the MiB/s a hog printed.
rate() { sed -n 's/.* rate=\([0-9.]*\).*/\1/p' "$1"; }

# Number of struct_ops links to a struct_ops map named like ours: the cgroups that have a memqosd
# priority policy (one map backs every tenant's link since issue 12).
struct_ops_count() {
	bpftool=${MEMQOSD_CACHE:-/var/cache/memqosd}/tools/sbin/bpftool
	[ -x "$bpftool" ] || { echo "?"; return; }
	python3 -c '
import json, subprocess, sys
def show(*what):
    out = subprocess.run([sys.argv[1], "-j", *what], capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []
ours = {m["id"] for m in show("map", "show") if m.get("type") == "struct_ops" and m.get("name", "").startswith("memqosd_prio")}
print(sum(1 for l in show("link", "show") if l.get("type") == "struct_ops" and l.get("map_id") in ours))' "$bpftool"
}

# params_priority CGROUP-DIR: the priority in that cgroup's parameter entry, or "none".
params_priority() {
	python3 "$POLICY_DIR/params-priority.py" "${MEMQOSD_CACHE:-/var/cache/memqosd}/tools/sbin/bpftool" "$1"
}

# writes TENANT [FROM [TO]]: the reasons ("squeeze", "relax", ...) of TENANT's memory.high changes
# in lines FROM..TO (default: all) of the daemon log, one per line.
writes() {
	sed -n "${2:-1},${3:-\$}p" "$W/daemon.log" | grep "Changed memory.high of $1 (" |
		sed 's/.* -> [^ ]* (\([a-z]*\).*/\1/'
}

# reversals FILE: direction changes in a sequence of "squeeze"/"relax" words (one per line): a
# squeeze after a relax or a relax after a squeeze (issue 17's oscillation measure).
reversals() { awk '{ if (NR > 1 && $1 != prev) n++; prev = $1 } END { print n + 0 }' "$1"; }

# fcmp A OP B: float comparison through awk.
fcmp() { awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"; }
