/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The OOM forecast, wired to the manager (the model is src/forecast.h). Attaches to the manager
 * through ManagerHooks like the control loop, and owns per tenant a RiskTenant in Tenant.risk_data.
 *
 * Which tenants are sampled. Sampling (memory.stat, memory.current, memory.max and memory.current
 * of the ancestors, memory.swap.*, memory.pressure, /proc/meminfo; every SampleSec=) runs only for
 * tenants near their limit. A tenant starts being sampled on evidence the daemon already gets; there
 * is no timer over the tenants that are not sampled (they cost nothing):
 *   - its PSI trigger fired (pressure hook),
 *   - memory.events max/oom/oom_kill rose (events hook),
 *   - a BPF NEAR_MAX, CHARGE_FAIL or WATCH record (policy_event hook). WATCH is the forecast's own
 *     watermark (memqosd_watch() in bpf/memqosd.bpf.h): on a charge, at most once a second, the
 *     tightest memory.max of the tenant and its ancestors at WatchPercent= or growing toward it
 *     within WatchSec= (the daemon's [Forecast] values, published by the control loop).
 * It stops once the model is back at ok with no watch condition.
 *
 * Every level change (and every RepeatSec= while critical) is reported: a journal record
 * (MEMQOSD_MESSAGE_OOM_RISK), the listeners (the D-Bus face in risk-bus.c sends the OomRisk
 * signal, which `memqosd watch` subscribes to), the urgency listener (the control loop re-decides),
 * and the tenant's Hook= if any: spawned without blocking the loop, with the event in its
 * environment, killed after HookTimeoutSec=, at most once per HookMinIntervalSec= and never twice
 * at once per tenant; its outcome is logged.
 *
 * Lifetime: risk_install() before manager_start(); free after manager_run() and before the Manager
 * (declare it after the Manager so its cleanup runs first).
 */

#include "forecast.h"
#include "manager.h"

typedef struct Risk Risk;

/* One tenant's state as reported (a level change, or the current state). Strings are borrowed. */
typedef struct RiskReport {
	const char *tenant, *cgroup;
	RiskLevel level, previous;
	uint64_t time_usec;          /* CLOCK_REALTIME of the change (or of the snapshot) */
	uint64_t eta_usec;           /* FORECAST_NO_ETA if no OOM is forecast */
	uint64_t usage, limit;       /* what the estimate used */
	const char *reason;
	/* evidence */
	double growth, psi_some, psi_full;  /* bytes/s; percent (< 0 unknown) */
	uint64_t demand, room, swap_room;
	const char *limit_kind;
	CgroupMemoryEvents events;
	uint64_t charge_failures;    /* BPF CHARGE_FAIL records in the last sampling period */
	bool repeat;                 /* a periodic repeat while critical, not a change */
	bool sampling;               /* the tenant is being sampled now */
	bool enabled;                /* Enable= */
	bool active;                 /* the tenant's cgroup exists */
} RiskReport;

typedef void (*RiskListener)(const RiskReport *r, void *userdata);

int risk_install(Manager *m, Risk **ret);
Risk *risk_free(Risk *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Risk *, risk_free);

Manager *risk_manager(const Risk *r);

/* Called on every report, in the order added; -ENOSPC beyond a few. */
int risk_add_listener(Risk *r, RiskListener fn, void *userdata);
/* Called (fn(userdata)) when a tenant's urgency (risk_tenant_urgent()) may have changed. */
void risk_set_urgency_listener(Risk *r, void (*fn)(void *userdata), void *userdata);

/* The current state of t (a fresh reading of usage and limit if it is not sampled). */
int risk_get(Risk *r, Tenant *t, RiskReport *ret, char *reason_buf, size_t reason_size);

/* Warning or worse against a limit shared with other tenants (ControlUrgencyFn). */
bool risk_tenant_urgent(const Tenant *t, void *userdata);
