/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The live control loop: glues the BPF policies (policy.c), PSI triggers and memory.events (the
 * manager's cgroup sources) and the decision function (controller.c) to memory.high writes, through
 * ManagerHooks. All on the manager's sd-event loop. Its memory.high writes go through the manager to
 * the writer (src/writer.h), off the loop and bounded by WriteTimeoutSec=; the controller sees a
 * tenant with a write outstanding as busy, and hooks.written reports each completion. A write that
 * left the tenant above the new limit is followed by at most CONTROL_RECLAIM_ROUNDS_MAX further
 * bounded rounds of the same value, with the tenant paused (cgroup.freeze) when reclaim found only
 * recently used pages (controller_reclaim_after_write()).
 *
 * Inputs, all event driven: the tenant's PSI trigger (pressure), memory.events changes (high -> over
 * high, max/oom -> charge failure), ring-buffer records (OVER_HIGH, CHARGE_FAIL, NEAR_MAX), a PSI
 * trigger on the host (the cgroup root's memory.pressure, or /proc/pressure/memory), the manager's
 * housekeeping tick, and the controller's own wakeups (rate limits, holds) — none when idle.
 *
 * Lifetime: control_loop_install() before manager_start() (it sets m->hooks and the mode); free the
 * loop after manager_run() (which detaches every tenant) and before the Manager: declare it after
 * the Manager so its cleanup runs first. Freeing it detaches every BPF policy.
 */

#include "manager.h"
#include "policy.h"

typedef struct ControlLoop ControlLoop;

int control_loop_install(Manager *m, ControlLoop **ret);
ControlLoop *control_loop_free(ControlLoop *cl);
DEFINE_TRIVIAL_CLEANUP_FUNC(ControlLoop *, control_loop_free);

/*
 * Urgency from another module (the OOM forecast, wired in main.c): urgent(t) true means t is
 * forecast to run out of memory against a limit it shares, so lower-priority tenants give way
 * (controller.h, AT RISK). control_loop_reconsider() asks for a fresh decision when that changes.
 */
typedef bool (*ControlUrgencyFn)(const Tenant *t, void *userdata);
void control_loop_set_urgency(ControlLoop *cl, ControlUrgencyFn fn, void *userdata);
void control_loop_reconsider(void *cl);

PolicyMode control_loop_mode(const ControlLoop *cl);
const PolicyEngine *control_loop_engine(const ControlLoop *cl);
/* The BPF stats map counters of an ACTIVE tenant's policy; -ENOENT without an engine or tenant id. */
int control_loop_tenant_stats(const ControlLoop *cl, const Tenant *t, struct memqosd_tenant_stats *ret);
