# SPDX-License-Identifier: LGPL-2.1-or-later
# The measuring side of bench/reclaim/bench.sh (neither agent pays for it): one row a second, on
# an absolute schedule, as JSON lines in OUT:
#   t          CLOCK_MONOTONIC seconds
#   cur        memory.current of each tenant
#   wl         each tenant's workload progress line (tests/vm/reclaim/workload.c)
#   daemon     memqosd's CPU: "main" (its event-loop thread) and "other" (every other thread, the
#              writers among them) from /proc/PID/task/*/stat (utime + stime, which the kernel
#              scales to the thread's exact runtime; 10 ms steps), "total" from the process CPU
#              clock (ns)
#   poller     the poller's CPU (/proc, 10 ms steps) while it runs
#   enabled    the file ENABLED_FILE exists (bench.sh has turned memqosd's reclaim on)
#   python3 sampler.py OUT ROWS DAEMON_PID POLLER_PID_FILE ENABLED_FILE CG_DIR WORK_DIR TENANT...
import json
import os
import sys
import time

out, rows, daemon, poller_file, enabled_file, cg, work = sys.argv[1:8]
tenants = sys.argv[8:]
rows, daemon = int(rows), int(daemon)
TICK = os.sysconf("SC_CLK_TCK")


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def thread_ticks(stat):
    # Fields after the command (which may hold spaces): utime and stime are the 12th and 13th.
    f = stat[stat.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12])


def daemon_cpu():
    main = other = 0
    try:
        tids = os.listdir(f"/proc/{daemon}/task")
    except OSError:
        return None
    for tid in tids:
        s = read(f"/proc/{daemon}/task/{tid}/stat")
        if s is None:
            continue
        if int(tid) == daemon:
            main = thread_ticks(s)
        else:
            other += thread_ticks(s)
    try:
        total = time.clock_gettime((~daemon << 3) | 2)  # the process's CPUCLOCK_SCHED clock
    except OSError:
        total = (main + other) / TICK
    return {"main": main / TICK, "other": other / TICK, "total": total}


def poller_cpu():
    pid = (read(poller_file) or "").strip()
    s = read(f"/proc/{pid}/stat") if pid else None
    return thread_ticks(s) / TICK if s else None


t0 = time.monotonic()
with open(out, "w", buffering=1) as f:
    for i in range(rows):
        delay = t0 + i - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        row = {
            "t": time.monotonic(),
            "cur": {n: int(read(f"{cg}/{n}/memory.current") or 0) for n in tenants},
            "wl": {n: (read(f"{work}/{n}.out") or "").split() for n in tenants},
            "daemon": daemon_cpu(),
            "poller": poller_cpu(),
            "enabled": os.path.exists(enabled_file),
        }
        f.write(json.dumps(row) + "\n")
