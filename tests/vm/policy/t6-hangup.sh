#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# VM test (6): the kernel drops a tenant's policy when the tenant's memory cgroup goes offline (here:
# the memory controller is disabled in its parent) and hangs up the policy's struct_ops link
# (EPOLLHUP). memqosd logs it, closes that link and deletes the tenant's parameter entry (one
# program serves every tenant); the other tenant keeps its link and entry, and the daemon runs on.
# Run inside the guest: tests/vm/run -- tests/vm/policy/t6-hangup.sh
. "$(dirname "$0")/lib.sh"

mkparent mq 512M
mkdir -p "$CG/mq/high" "$CG/mq/lowp/low"
echo +memory > "$CG/mq/lowp/cgroup.subtree_control"

conf "$W/conf" "$CG/mq"
tenant "$W/conf" high 90 192M 480M
tenant "$W/conf" lowp/low 10 64M 480M
start_daemon "$W/conf" || finish
check "both tenants got a struct_ops policy" test "$(struct_ops_count)" = 2
check "low's parameter entry says priority 10" test "$(params_priority "$CG/mq/lowp/low")" = 10

# low's memcg goes offline; its cgroup stays, so only the link's hang-up can tell the daemon.
echo -memory > "$CG/mq/lowp/cgroup.subtree_control"
for _ in $(seq 1 100); do
	grep -q "the kernel detached its policy" "$W/daemon.log" && break
	sleep 0.1
done
check "the daemon logs that the kernel detached a policy" grep -q "the kernel detached its policy" "$W/daemon.log"
for _ in $(seq 1 50); do
	[ "$(struct_ops_count)" = 1 ] && break
	sleep 0.1
done
check "the dropped policy's link is closed, the other tenant's stays ($(struct_ops_count) left)" test "$(struct_ops_count)" = 1
# One program serves both tenants: the hang-up deletes low's parameter entry only.
check "low's parameter entry is deleted" test "$(params_priority "$CG/mq/lowp/low")" = none
check "high's parameter entry stays (priority 90)" test "$(params_priority "$CG/mq/high")" = 90
check "the daemon is still running" kill -0 "$DAEMON_PID"

stop_daemon
check "daemon exits 0 on SIGTERM" test "${DAEMON_RC:-1}" = 0
check "no struct_ops policy left" test "$(struct_ops_count)" = 0
finish
