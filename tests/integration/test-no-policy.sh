#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# More tenants than tenant ids (the BPF maps hold 4,095): on a real cgroup v2 tree (the VM guest:
# tests/vm/run) with BPF, 4,100 tenants with Policy=observe. The last 5 (in name order) get no id,
# hence no BPF policy: each must be visible as state "no-policy" in `memqosd status` (D-Bus
# ListTenants and GetTenant) with a journal record, never as "active"; a reload that removes
# tenants frees ids and a profile change then gives the no-policy tenants their policy.
#
#   tests/integration/test-no-policy.sh PATH/TO/memqosd
#
# Refuses (exit 77, loudly) where /sys/fs/cgroup is not cgroup2 with the memory controller (this
# project's host) or the kernel offers no BPF mode (psi-only: no tenant gets a BPF policy there).
set -u

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd}")
. "$(dirname "$0")/lib.sh"
[ -x "$MEMQOSD" ] || abort "$MEMQOSD is not executable"
it_require_root "the no-policy integration test"

if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ] ||
	! grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	echo "!!! SKIPPED: /sys/fs/cgroup is not cgroup v2 with the memory controller here;" \
		"this test runs in the VM guest (tests/vm/run) !!!"
	exit 77
fi
it_require_tools dbus-daemon python3

N=4100
IDS=4095
SCRATCH=memqosd-np-$$
CGR=/sys/fs/cgroup/$SCRATCH
CONF=$T/conf

remove_scratch() {
	[ -d "$CGR" ] || return 0
	find "$CGR" -mindepth 1 -maxdepth 1 -type d -exec rmdir {} + 2>/dev/null
	rmdir "$CGR" 2>/dev/null
}
CLEANUP_HOOK=remove_scratch

mkdir "$CGR" || abort "cannot create $CGR"
echo +memory >"$CGR/cgroup.subtree_control" || abort "cannot enable +memory under $CGR"
mkdir -p "$CONF/tenants.d"
printf '[Daemon]\nLogLevel=debug\n[Control]\nHousekeepingSec=1h\n' >"$CONF/memqosd.conf"
# One mkdir for all (forks are slow in an emulated guest); the profiles with builtins only.
mkdir "$CGR"/t{0000..4099} || abort "cannot create the tenant cgroups"
for i in {0000..4099}; do
	printf '[Tenant]\nCgroup=%s/t%s\nPriority=10\nPolicy=observe\n' "$SCRATCH" "$i" >"$CONF/tenants.d/t$i.conf"
done
ok "$N cgroups and profiles created"

start_private_bus
start_notify_listener
t0=$(date +%s)
NOTIFY_SOCKET=$T/notify.sock "$MEMQOSD" --config-dir "$CONF" --state-dir "$T/state" >"$LOG" 2>&1 &
DAEMON_PID=$!
wait_for 600 contains "$NOTIFY_LOG" "READY=1" || abort "daemon did not become ready"
ok "daemon ready with $N tenants in $(( $(date +%s) - t0 )) s"
if grep -q "mode psi-only" "$LOG"; then
	echo "!!! SKIPPED: no BPF mode on this kernel (psi-only), nobody gets a BPF policy !!!"
	exit 77
fi

"$MEMQOSD" status >"$T/status" 2>&1
check "status lists all $N tenants" [ "$(grep -c "^t[0-9]" "$T/status")" -eq "$N" ]
check "the first $IDS are active" [ "$(grep -Ec ' active$' "$T/status")" -eq "$IDS" ]
check "the last $((N - IDS)) are no-policy, not active" \
	bash -c "[ \"\$(grep -E ' no-policy$' '$T/status' | awk '{print \$1}' | tr '\n' ' ')\" = 't4095 t4096 t4097 t4098 t4099 ' ]"
"$MEMQOSD" status t4099 >"$T/one" 2>&1
check "GetTenant shows no-policy too, with live values" \
	grep -Eq '^t4099 .* max \(max\.\.max\) +[0-9.]+[KMG]? +[0-9.]+% +observe +no-policy$' "$T/one"
check "a journal record for each (MESSAGE_ID, reason)" \
	[ "$(grep -c 'Tenant t409[5-9]: no BPF policy (no tenant id left' "$LOG")" -eq 5 ]
check "the no-policy tenants are still under control (PSI trigger armed)" \
	contains "$LOG" "Tenant t4099: PSI trigger armed on memory.pressure"

# Remove ten tenants (their ids are freed), change the no-policy tenants' profiles: they get ids.
for i in 0000 0001 0002 0003 0004 0005 0006 0007 0008 0009; do rm "$CONF/tenants.d/t$i.conf"; done
for i in 4095 4096 4097 4098 4099; do
	printf '[Tenant]\nCgroup=%s/t%s\nPriority=11\nPolicy=observe\n' "$SCRATCH" "$i" >"$CONF/tenants.d/t$i.conf"
done
timeout 300 "$MEMQOSD" reload >"$T/out" 2>&1
check "reload removing 10 tenants and changing the 5 exits 0" [ $? -eq 0 ]
"$MEMQOSD" status >"$T/status" 2>&1
check "after the reload, no tenant is no-policy" bash -c "! grep -q ' no-policy$' '$T/status'"
check "... all $((N - 10)) are active" [ "$(grep -Ec ' active$' "$T/status")" -eq $((N - 10)) ]

stop_daemon
check "daemon exits 0 on SIGTERM" [ "$DAEMON_RC" -eq 0 ]
it_finish
