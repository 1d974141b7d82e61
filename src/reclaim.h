/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Proactive reclaim (issue 14), wiring: attached to the manager through its hook table. For every
 * ACTIVE tenant whose [Reclaim] has Enable=yes, the pure model (src/reclaim-model.h) decides and
 * this file does:
 *  - a step: memory.current and memory.pressure read, then memory.reclaim written through the
 *    manager's writer (manager_reclaim(): off the loop, bounded by WriteTimeoutSec=); its
 *    completion (hooks.written) reads memory.current again and counts the drop;
 *  - the back-off, at once, without a polling period: a ring-buffer record from bpf/reclaim.bpf.c
 *    when the tenant refaulted RefaultPercent= of the last step (the program is armed after each
 *    step), or the tenant's PSI trigger (hooks.pressure), or its avg10 at the target when a step is
 *    due. A step in flight is interrupted.
 *  - nothing for a tenant that has settled: no timer, no file read, the BPF entry disarmed. The
 *    manager's housekeeping tick (which reads memory.current of every tenant anyway) wakes it when
 *    it has grown; host pressure wakes every settled tenant (once per episode of it).
 *  - host pressure: a PSI trigger on /proc/pressure/memory with the [Control] PressureType=,
 *    PressureThresholdSec= and PressureWindowSec=; for RECLAIM_HOST_HOLD_USEC after the last event
 *    steps are deeper the lower the priority, a tenant steps only when every lower one has nothing
 *    cold left, and a tenant's own PSI does not stop it (the rule: src/reclaim-model.h).
 *
 * Records (rate-limited, per tenant): MEMQOSD_MESSAGE_RECLAIM_PROGRESS at most once per
 * RECLAIM_LOG_INTERVAL_USEC while reclaiming (bytes since the last record, total, saved) and when
 * the tenant settles; MEMQOSD_MESSAGE_RECLAIM_BACKOFF at most once per RECLAIM_LOG_INTERVAL_USEC
 * for back-offs in a row without progress, once per RECLAIM_LOG_PROGRESS_BACKOFF_USEC for one that
 * follows progress (the others counted in the next record), with the cause and, for refaults, the time from the first
 * refault after the step to the back-off (MEMQOSD_BACKOFF_USEC).
 *
 * D-Bus, on org.memqosd1.Manager:
 *   property ReclaimedBytes t        bytes reclaimed, all tenants, since start
 *   property ReclaimSavedBytes t     the saved estimate, all tenants
 *   ListReclaim() -> a(ssttttttt)    per tenant with reclaim enabled: name, phase (probing, backoff,
 *       settled), reclaimed_bytes, saved_bytes, refaulted_bytes, steps, backoffs,
 *       last_backoff_usec (first refault to back-off, 0 = none yet), floor_bytes. Unprivileged.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "manager.h"
#include "reclaim-model.h"

#define RECLAIM_HOST_HOLD_USEC (10 * USEC_PER_SEC)
#define RECLAIM_LOG_INTERVAL_USEC (60 * USEC_PER_SEC)
#define RECLAIM_LOG_PROGRESS_BACKOFF_USEC (10 * USEC_PER_SEC)
#define MEMQOSD_BUS_RECLAIM_SIGNATURE "(ssttttttt)"

typedef struct Reclaim Reclaim;

/* Register the hooks; the BPF program is loaded when the first tenant enables reclaim. */
int reclaim_install(Manager *m, Reclaim **ret);
Reclaim *reclaim_free(Reclaim *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Reclaim *, reclaim_free);

/* ListReclaim and the two properties on the manager's bus (no-op without a bus). */
int reclaim_bus_register(Reclaim *r, sd_bus *bus);

typedef struct ReclaimStatus {
	const char *tenant;
	ReclaimPhase phase;
	uint64_t reclaimed_bytes, saved_bytes, refaulted_bytes, steps, backoffs, last_backoff_usec, floor_bytes;
} ReclaimStatus;

/* The status of tenant t; -ENOENT if reclaim is off for it. Refreshes the refault counter. */
int reclaim_get(Reclaim *r, const Tenant *t, ReclaimStatus *ret);
/* "fentry", "tracepoint" or "none" (no refault back-off, PSI only). */
const char *reclaim_flavour(const Reclaim *r);
