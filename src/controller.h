/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The control loop's decision function. Pure: no I/O, no clock, no logging. The manager feeds it
 * events (PSI triggers, BPF ring-buffer events, housekeeping ticks) with the current time, gets back
 * the memory.high writes to make, makes them (off the event loop), and reports each completed write
 * with controller_write_done().
 *
 * Rules (issue 4):
 *  - SQUEEZE: while a tenant of priority P is under pressure AND the host (or the tenants' common
 *    parent) is under pressure, lower memory.high of tenants with priority strictly below P toward
 *    their MemoryHighMin, lowest priority level first, one bounded step per tenant per MinIntervalSec.
 *    A level is passed over only when every tenant in it is at MemoryHighMin or cannot be lowered
 *    now because of the headroom rule; a rate-limited tenant keeps its level "busy".
 *  - RAISE: the pressured tenant itself (same condition) is raised toward MemoryHighMax, unless a
 *    strictly higher-priority tenant was under pressure within HoldSec (higher priority wins). Only
 *    from its baseline up: below it (squeezed) a tenant comes back by RELAX steps only, so the
 *    room it gave up is returned gradually and the squeeze does not oscillate.
 *  - RELAX: once the reason for a squeeze (resp. raise) has been absent for HoldSec, memory.high moves
 *    back toward the baseline by RelaxPercent steps, at most once per MinIntervalSec.
 *  - AT RISK (issue 9): a tenant the OOM forecast puts at warning or worse against a limit it shares
 *    with other tenants (an ancestor's memory.max or the host's memory) is squeezed for like a
 *    pressured tenant on a pressured host: tenants of strictly lower priority give way first, by
 *    the same bounded steps, inside their bounds, even if no PSI trigger fired.
 *  - CLAMP: a memory.high found outside [MemoryHighMin, MemoryHighMax] is moved to the nearer bound.
 *  - Never: a value outside the bounds; a lowering below memory.current - Headroom in one step
 *    (except CLAMP down to MemoryHighMax: the bound wins); any write for a tenant alone or on a quiet
 *    host (no pressure on the host means no SQUEEZE and no RAISE).
 * Hysteresis makes a squeezed tenant's trajectory monotone while pressure lasts: it goes down only
 * while pressure is present and up only after HoldSec without it.
 *
 * Pressure bookkeeping: a PSI trigger fires at most once per window while the stall threshold is
 * exceeded, and never says "ended". So every pressure event (re)starts a pressure episode, an
 * explicit *_END event ends it, and an episode with no new event for 2 * PressureWindowSec is over
 * (CONTROL_PRESSURE_GRACE_WINDOWS). Over-high and charge-failure events count as pressure on the
 * tenant they name.
 *
 * Times are CLOCK_MONOTONIC microseconds; 0 means "never", so `now` must be > 0.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CONTROL_PRESSURE_GRACE_WINDOWS 2
#define CONTROL_PAGE_SIZE 4096ULL
/* Smallest step, for tenants whose range and usage are tiny or unknown. */
#define CONTROL_MIN_STEP (1024ULL * 1024ULL)
#define CONTROL_NO_WAKEUP UINT64_MAX

typedef struct ControlTenant {
	const char *name;            /* borrowed, for reason texts; may be NULL */
	int priority;                /* 0..100, higher is more important */
	uint64_t high_min;           /* MemoryHighMin= (bytes) */
	uint64_t high_max;           /* MemoryHighMax= (bytes; UINT64_MAX = max) */
	uint64_t baseline;           /* where memory.high rests: control_baseline() */
	uint64_t high;               /* memory.high now (UINT64_MAX = max) */
	uint64_t current;            /* memory.current (last read) */
	bool active;                 /* cgroup exists and is managed; inactive tenants are ignored */
	bool busy;                   /* a write is in flight: no new action for this tenant */
	bool at_risk;                /* the OOM forecast says warning or worse, against a shared limit */

	/* Bookkeeping, updated by controller_note_event() and controller_write_done(). */
	bool pressured;              /* inside a pressure episode */
	uint64_t last_pressure_usec; /* last pressure evidence (start, repeat or end); 0 = never */
	uint64_t last_write_usec;    /* last completed write; 0 = never */
} ControlTenant;

typedef struct ControlState {
	ControlTenant *tenants;
	size_t n_tenants;
	bool host_pressured;
	uint64_t host_last_pressure_usec;
} ControlState;

typedef enum ControlEventKind {
	CONTROL_EVENT_PRESSURE,          /* PSI trigger fired on tenant's memory.pressure */
	CONTROL_EVENT_PRESSURE_END,      /* tenant's pressure known to be over */
	CONTROL_EVENT_HOST_PRESSURE,     /* PSI trigger fired on the host / common parent */
	CONTROL_EVENT_HOST_PRESSURE_END,
	CONTROL_EVENT_OVER_HIGH,         /* tenant throttled over memory.high (BPF or memory.events) */
	CONTROL_EVENT_CHARGE_FAIL,       /* charge failed / near memory.max */
	CONTROL_EVENT_TICK,              /* housekeeping tick or a requested wakeup */
	_CONTROL_EVENT_MAX,
	_CONTROL_EVENT_INVALID = -22,
} ControlEventKind;

typedef struct ControlEvent {
	ControlEventKind kind;
	size_t tenant;                   /* for tenant events */
} ControlEvent;

typedef enum ControlReason {
	CONTROL_REASON_SQUEEZE,
	CONTROL_REASON_RAISE,
	CONTROL_REASON_RELAX,
	CONTROL_REASON_CLAMP,
	_CONTROL_REASON_MAX,
	_CONTROL_REASON_INVALID = -22,
} ControlReason;

#define CONTROL_REASON_TEXT_MAX 192

typedef struct ControlAction {
	size_t tenant;
	uint64_t old_high;
	uint64_t new_high;               /* UINT64_MAX = write "max" */
	ControlReason reason;
	char text[CONTROL_REASON_TEXT_MAX]; /* e.g. "squeeze: web (priority 90) and host under pressure" */
} ControlAction;

const char *control_reason_to_string(ControlReason r);
const char *control_event_kind_to_string(ControlEventKind k);

/* The original (or configured) memory.high clamped into [min, max]. */
uint64_t control_baseline(uint64_t original, uint64_t min, uint64_t max);

/* Updates pressure bookkeeping from ev. Returns -EINVAL for an unknown kind or tenant index. */
int controller_note_event(ControlState *s, const ControlParams *p, const ControlEvent *ev, uint64_t now);

/*
 * Decides on the current state (not modified). Writes at most one action per tenant into actions
 * (capacity n_actions; n_tenants is always enough) and returns their number, or -EINVAL on bad
 * arguments, -ENOBUFS if actions is too small. *ret_next_wakeup (optional) gets the earliest time at
 * which a decision may change without new events (a rate limit, a hold or a pressure episode
 * expiring), CONTROL_NO_WAKEUP if none: nothing needs a timer then.
 */
int controller_decide(const ControlState *s, const ControlParams *p, uint64_t now,
		      ControlAction *actions, size_t n_actions, uint64_t *ret_next_wakeup);

/* note_event + decide. */
int controller_step(ControlState *s, const ControlParams *p, const ControlEvent *ev, uint64_t now,
		    ControlAction *actions, size_t n_actions, uint64_t *ret_next_wakeup);

/* A write finished: memory.high is now new_high (as read back or as written). */
void controller_write_done(ControlState *s, size_t tenant, uint64_t new_high, uint64_t now);

/* Whether tenant i counts as under pressure at `now` (episode open and not expired). */
bool controller_tenant_pressured(const ControlTenant *t, const ControlParams *p, uint64_t now);
