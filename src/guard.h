/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Job 4, wiring: the fork+malloc storm guard. Attached to the manager through its hook table. For
 * every ACTIVE tenant whose [Guard] has Enable=yes, its cgroup goes into bpf/guard.bpf.c (loaded on
 * the first such tenant; tracing, so any kernel with BTF): token buckets for bytes charged and forks,
 * per tenant and per (tenant, uid) (include/memqosd/guard.h). A bucket in debt is a storm; the
 * escalation (src/guard-model.h) is carried out here:
 *
 *   tenant storm: pids.max = pids.current + PidsAllowance=, cpu.max quota = CpuMax= of one CPU,
 *     cgroup.freeze = 1, cgroup.kill = 1 (as Actions= allows), each through the manager's writer
 *     (off the loop, bounded by WriteTimeoutSec=); undo writes the pids.max and cpu.max quota found
 *     before and cgroup.freeze = 0. A kill is reported once cgroup.events says "populated 0".
 *   uid storm: only that uid's processes in the tenant (and below): freeze = SIGSTOP, kill = SIGKILL
 *     (repeated every tick until none is left), undo = SIGCONT; pids and cpu are tenant-wide steps
 *     and are skipped.
 *
 * Every step is a journal record (MEMQOSD_MESSAGE_GUARD_ACTION) and a D-Bus signal:
 *   Guard(s tenant, s cgroup, s action, u uid, t time_usec, s reason, a{sv} measured, a{sv} limits)
 * uid = MEMQOSD_GUARD_NO_UID (4294967295) for the whole tenant; time_usec CLOCK_REALTIME; measured:
 * charge_bytes_per_sec (d), forks_per_sec (d), pids_current (t); limits: charge_rate (t),
 * charge_burst (t), fork_rate (t), fork_burst (t), pids_max (t, the value written; "max" = 2^64-1),
 * cpu_max (t, the cpu.max quota written, microseconds per period; 0 before any cpu step),
 * actions (s), mode (s: "user-space": contained from user space only, no kernel throttling).
 * `memqosd watch --json` prints each as {"event":"guard",...}.
 *
 * What to undo survives a crash: before the first step the guard writes its record guard-CGROUPID
 * in the state directory (src/state.h, kind guard: the pids.max and cpu.max quota found, Frozen=yes, the uids it
 * stopped), through the same writer and reader as the cgroup's originals. A restarted memqosd that
 * finds the record when the tenant becomes active undoes it at once with state_record_undo() (the
 * same undo as for a paused round of reclaim; action "recover") and removes it; the start's sweep
 * (manager.c) does the same for the record of a cgroup no profile names any more. Records in the
 * previous release's format are read too (an upgrade undoes what the old daemon left).
 *
 * Thaw(s tenant) (root only; `memqosd thaw TENANT`): lifts the freeze (and SIGCONTs stopped uids) at
 * once; the rest is undone after HoldSec= as usual.
 */

#include <systemd/sd-bus.h>

#include "manager.h"

#define MEMQOSD_BUS_ERROR_NOT_FROZEN "org.memqosd1.NotFrozen"
#define MEMQOSD_BUS_GUARD_FIELDS "sssutsa{sv}a{sv}"
/* How often an active storm is looked at (bucket state, rates, next step). */
#define GUARD_TICK_USEC (250 * USEC_PER_MSEC)
/* How often the totals of enabled tenants are sampled while nothing storms (rate at a storm's start). */
#define GUARD_IDLE_TICK_USEC (1 * USEC_PER_SEC)

typedef struct Guard Guard;

int guard_install(Manager *m, Guard **ret);
Guard *guard_free(Guard *g);
DEFINE_TRIVIAL_CLEANUP_FUNC(Guard *, guard_free);

/* Thaw() and the Guard signal on the manager's bus (no-op without a bus). */
int guard_bus_register(Guard *g, sd_bus *bus);

/* Lift the freeze of tenant now (-ENOENT unknown tenant, -ENODATA not frozen by the guard). */
int guard_thaw(Guard *g, const char *tenant);
