#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# VM test (3): SIGTERM while memqosd is squeezing detaches every policy and restores every
# memory.high to the value found at start (here: 400M for low, "max" for high), even though the
# tenants are still allocating. Run inside the guest: tests/vm/run -- tests/vm/policy/t3-sigterm.sh
. "$(dirname "$0")/lib.sh"

mkparent mq 512M
mkdir -p "$CG/mq/high" "$CG/mq/low"
echo 400M > "$CG/mq/low/memory.high"
low_orig=$(cat "$CG/mq/low/memory.high")

conf "$W/conf" "$CG/mq"
tenant "$W/conf" high 90 192M 480M
tenant "$W/conf" low 10 64M 480M
start_daemon "$W/conf" || finish
check "both tenants got a struct_ops policy" test "$(struct_ops_count)" = 2
check "struct_ops links held by the daemon" test "$("${MEMQOSD_CACHE:-/var/cache/memqosd}/tools/sbin/bpftool" link show 2>/dev/null | grep -c struct_ops)" -ge 2

run_in mq/high "$HOG" high 360 60 > "$W/high.out" &
hp=$!
run_in mq/low "$HOG" low 360 60 > "$W/low.out" &
lp=$!
# Wait until the low tenant has been squeezed below its start value, then stop the daemon.
squeezed=0
for _ in $(seq 1 120); do
	v=$(cat "$CG/mq/low/memory.high")
	if [ "$v" != max ] && [ "$v" -lt "$low_orig" ]; then squeezed=1; break; fi
	sleep 0.5
done
check "low was squeezed below its original memory.high ($(cat "$CG/mq/low/memory.high") < $low_orig)" test $squeezed = 1

stop_daemon
check "daemon exits 0 on SIGTERM" test "${DAEMON_RC:-1}" = 0
check "no struct_ops policy left" test "$(struct_ops_count)" = 0
check "low's memory.high restored to $low_orig" test "$(cat "$CG/mq/low/memory.high")" = "$low_orig"
check "high's memory.high restored to max" grep -qx max "$CG/mq/high/memory.high"
check "restores are journaled" grep -q "estored" "$W/daemon.log"
kill $hp $lp 2>/dev/null
wait $hp $lp 2>/dev/null
finish
