# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers of the integration tests (sourced). Provides: a temporary directory $T, TAP-like
# check/ok/fail counters, wait_for, a private system dbus-daemon (start_private_bus), a notify
# socket that records every sd_notify datagram (start_notify_listener), fake cgroup directories
# (make_fake_cgroup), profiles (profile), and cleanup of everything started (it_finish).

T=$(mktemp -d /tmp/memqosd-it.XXXXXX)
# The fake cgroup trees of these tests are plain files; without this memqosd refuses a root that is
# not cgroup2.
export MEMQOSD_TEST_FAKE_CGROUP_ROOT=1
chmod 755 "$T"
LOG=$T/daemon.log
NOTIFY_LOG=$T/notify.log
DAEMON_PID=
BUS_PID=
NOTIFY_PID=
FAILED=0
PASSED=0
CLEANUP_HOOK=:

it_cleanup() {
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
	$CLEANUP_HOOK
	[ -n "$BUS_PID" ] && kill "$BUS_PID" 2>/dev/null
	[ -n "$NOTIFY_PID" ] && kill "$NOTIFY_PID" 2>/dev/null
	wait 2>/dev/null
	if [ "$FAILED" -ne 0 ]; then
		echo "--- daemon log ---"
		cat "$LOG" 2>/dev/null
		echo "--- notify messages ---"
		cat "$NOTIFY_LOG" 2>/dev/null
	fi
	rm -rf "$T"
}
trap it_cleanup EXIT

ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
# check DESCRIPTION COMMAND...
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
# abort DESCRIPTION: a precondition failed, nothing after it can run
abort() { FAILED=$((FAILED + 1)); echo "FAIL - $* (aborting)"; exit 1; }
# wait_for SECONDS COMMAND...: poll until COMMAND succeeds
wait_for() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}
file_is() { [ "$(cat "$1")" = "$2" ]; }
contains() { grep -qF -- "$2" "$1"; }

it_finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

it_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "!!! SKIPPED: $1 must run as root !!!"
		exit 77
	fi
}

# it_memqosd_arg PATH: the memqosd binary a test was given, as $MEMQOSD (absolute), and its meson
# build directory (PATH is BUILD/src/memqosd) as $BUILD; aborts unless PATH is an executable.
it_memqosd_arg() {
	if [ -z "${1:-}" ]; then
		echo "usage: $0 PATH/TO/BUILD/src/memqosd" >&2
		exit 2
	fi
	MEMQOSD=$(readlink -f "$1")
	BUILD=$(dirname "$(dirname "$MEMQOSD")")
	[ -x "$MEMQOSD" ] || abort "$MEMQOSD is not executable"
}

# it_require_systemd_guest WHAT: WHAT installs into the system, so it runs only in the VM guest booted
# with systemd (tests/vm/run --systemd), whose root is thrown away at power-off: elsewhere it exits
# 77 loudly. It must run as root, and the guest must have the cgroup v2 memory controller.
it_require_systemd_guest() {
	if [ "${MEMQOSD_VM:-0}" != 1 ] || [ ! -d /run/systemd/system ]; then
		echo "!!! SKIPPED: $1 installs into the system; it runs only in the VM guest booted" \
			"with systemd (tests/vm/run --systemd) !!!"
		exit 77
	fi
	it_require_root "$1"
	if [ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ] ||
		! grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
		abort "the VM guest has no cgroup v2 memory controller"
	fi
}

it_require_tools() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || abort "$tool is missing (scripts/install-deps installs it)"
	done
}

# A private system bus that lets everybody in; exports DBUS_SYSTEM_BUS_ADDRESS.
start_private_bus() {
	cat >"$T/bus.conf" <<EOB
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$T/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOB
	dbus-daemon --config-file="$T/bus.conf" --nofork --print-address=3 3>"$T/bus.address" 2>"$T/bus.log" &
	BUS_PID=$!
	wait_for 10 test -s "$T/bus.address" || abort "private dbus-daemon did not start"
	DBUS_SYSTEM_BUS_ADDRESS=$(head -n1 "$T/bus.address")
	export DBUS_SYSTEM_BUS_ADDRESS
}

# Records every datagram sent to $T/notify.sock in $NOTIFY_LOG (each followed by a "--" line).
start_notify_listener() {
	python3 -u -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as log:
    while True:
        log.write(s.recv(4096).decode() + "\n--\n")
        log.flush()
' "$T/notify.sock" "$NOTIFY_LOG" &
	NOTIFY_PID=$!
	wait_for 10 test -S "$T/notify.sock" || abort "notify listener did not start"
}

# make_fake_cgroup DIR HIGH: a directory of plain files shaped like a memory cgroup
make_fake_cgroup() {
	mkdir -p "$1"
	echo "$2" >"$1/memory.high"
	echo 0 >"$1/memory.low"
	echo 104857600 >"$1/memory.current"
	printf 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n' >"$1/memory.events"
	printf 'some avg10=2.50 avg60=1.00 avg300=0.10 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n' \
		>"$1/memory.pressure"
}

# profile NAME CONTENT (printf %b escapes) into $CONF/tenants.d/NAME.conf
profile() {
	printf '%b' "$2" >"$CONF/tenants.d/$1.conf"
}

# stop_daemon: SIGTERM the daemon started as $DAEMON_PID, wait; its exit status is in $DAEMON_RC
stop_daemon() {
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID"
	DAEMON_RC=$?
	DAEMON_PID=
}

# install_system_wide MEMQOSD BUILD SRC: what `meson install` would put in place, into the VM guest's
# throw-away root: the binary where the unit expects it, the unit, the bus policy and the catalog.
install_system_wide() {
	local unit=$2/systemd/memqosd.service bindir
	[ -f "$unit" ] || abort "$unit is missing (build first)"
	bindir=$(sed -n 's|^ExecStart=\(.*\)/memqosd$|\1|p' "$unit")
	install -D -m 0755 "$1" "$bindir/memqosd" || abort "cannot install the binary into $bindir"
	install -D -m 0644 "$unit" /etc/systemd/system/memqosd.service
	install -D -m 0644 "$3/systemd/org.memqosd1.conf" /etc/dbus-1/system.d/org.memqosd1.conf
	install -D -m 0644 "$3/systemd/memqosd.catalog" /usr/lib/systemd/catalog/memqosd.catalog
	journalctl --update-catalog || abort "journalctl --update-catalog failed"
	systemctl reload dbus.service || abort "cannot make dbus-daemon re-read its policy"
	systemctl daemon-reload
}
