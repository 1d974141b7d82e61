#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The real daemon on a real cgroup v2 memory controller (the VM guest: tests/vm/run). No
# --cgroup-root: libcgroup finds the cgroup2 mount. Under a scratch cgroup /sys/fs/cgroup/memqosd-it-*
# it checks: discovery, cgroup id = directory inode, start-up clamp written to the kernel, POLLPRI on
# memory.events delivering a "high" event while a process is throttled, the PSI trigger armed and
# firing, a removed cgroup released, SIGTERM restoring memory.high.
#
#   tests/integration/test-cgroupfs.sh PATH/TO/memqosd
#
# Refuses (exit 77, loudly) anywhere /sys/fs/cgroup is not cgroup2 with the memory controller, such
# as this project's host (memory on cgroup v1), so it never touches a host's cgroup v1 trees.
set -u

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd}")
. "$(dirname "$0")/lib.sh"
[ -x "$MEMQOSD" ] || abort "$MEMQOSD is not executable"
it_require_root "the cgroupfs integration test"

if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ] ||
	! grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	echo "!!! SKIPPED: /sys/fs/cgroup is not cgroup v2 with the memory controller here;" \
		"this test runs in the VM guest (tests/vm/run) !!!"
	exit 77
fi
it_require_tools dbus-daemon python3

SCRATCH=memqosd-it-$$
CGR=/sys/fs/cgroup/$SCRATCH
CONF=$T/conf

remove_scratch() {
	local d
	[ -d "$CGR" ] || return 0
	for d in "$CGR"/*/; do
		[ -d "$d" ] || continue
		while read -r pid; do echo "$pid" >/sys/fs/cgroup/cgroup.procs; done <"$d/cgroup.procs" 2>/dev/null
		rmdir "$d" 2>/dev/null
	done
	rmdir "$CGR" 2>/dev/null
}
CLEANUP_HOOK=remove_scratch

mkdir "$CGR" || abort "cannot create $CGR"
echo +memory >"$CGR/cgroup.subtree_control" || abort "cannot enable +memory under $CGR"
mkdir "$CGR/web" "$CGR/batch" || abort "cannot create tenant cgroups"
echo 536870912 >"$CGR/batch/memory.high"

mkdir -p "$CONF/tenants.d"
# A 1ms stall per 500ms window is a trigger any throttled tenant trips.
printf '[Daemon]\nLogLevel=debug\n[Control]\nPressureThresholdSec=1ms\nPressureWindowSec=500ms\nHousekeepingSec=1h\n' \
	>"$CONF/memqosd.conf"
profile web "[Tenant]\nCgroup=$SCRATCH/web\nPriority=80\nMemoryHighMin=8M\nMemoryHighMax=16M\nMemoryLow=4M\n"
profile batch "[Tenant]\nCgroup=$SCRATCH/batch\nPriority=20\nMemoryHighMin=256M\nMemoryHighMax=1G\n"

start_private_bus
start_notify_listener

NOTIFY_SOCKET=$T/notify.sock "$MEMQOSD" --config-dir "$CONF" --state-dir "$T/state" >"$LOG" 2>&1 &
DAEMON_PID=$!
wait_for 20 contains "$NOTIFY_LOG" "READY=1" || abort "daemon did not become ready"
ok "daemon ready on the real cgroup2 tree found by libcgroup"
check "no --cgroup-root: the cgroup v2 check was not skipped" bash -c "! grep -q 'as given' '$LOG'"
check "cgroup id is the cgroup directory's inode" \
	contains "$LOG" "Tenant web: managing cgroup $SCRATCH/web (id $(stat -c %i "$CGR/web"))"
check "start-up clamp written to the kernel" file_is "$CGR/web/memory.high" 16777216
check "MemoryLow= written to the kernel" file_is "$CGR/web/memory.low" 4194304
check "batch inside its bounds: untouched" file_is "$CGR/batch/memory.high" 536870912
check "PSI trigger armed on memory.pressure" contains "$LOG" "Tenant web: PSI trigger armed on memory.pressure (some 1000us per 500000us window)"
check "memory.events watched with POLLPRI" contains "$LOG" "Tenant web: watching memory.events (POLLPRI)"
"$MEMQOSD" status >"$T/status" 2>&1
check "status lists both tenants as active" \
	bash -c "grep -Eq '^web .* active$' '$T/status' && grep -Eq '^batch .* active$' '$T/status'"

# A process in web allocating 64M against memory.high=16M is throttled: memory.events "high" rises
# (POLLPRI wakes the daemon) and it stalls on memory (the PSI trigger fires).
(
	echo $BASHPID >"$CGR/web/cgroup.procs" &&
		exec python3 -c 'import time; b = b"x" * (64 << 20); time.sleep(1)'
) &
LOAD_PID=$!
check "POLLPRI on memory.events: daemon saw the high event" \
	wait_for 30 grep -Eq 'Tenant web: memory.events low=[0-9]+ high=[1-9]' "$LOG"
check "PSI trigger fired for the throttled tenant" wait_for 30 contains "$LOG" "Tenant web: memory pressure trigger fired"
wait "$LOAD_PID"
check "the throttled process still finished" [ $? -eq 0 ]

# A removed cgroup is released, not fatal.
rmdir "$CGR/batch"
check "removed cgroup released" wait_for 10 contains "$LOG" "Tenant batch released: cgroup $SCRATCH/batch vanished"
check "daemon alive after the removal" kill -0 "$DAEMON_PID"

stop_daemon
check "SIGTERM: clean exit" [ "$DAEMON_RC" -eq 0 ]
check "SIGTERM restored memory.high in the kernel" file_is "$CGR/web/memory.high" max
check "SIGTERM restored memory.low in the kernel" file_is "$CGR/web/memory.low" 0

it_finish
