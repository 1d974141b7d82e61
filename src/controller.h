/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The control loop's decision function. Pure: no I/O, no clock, no logging. The manager feeds it
 * events (PSI triggers, BPF ring-buffer events, housekeeping ticks) with the current time, gets back
 * the memory.high writes to make, makes them (off the event loop), and reports each completed write
 * with controller_write_done().
 *
 * Rules (issue 4, refined by issue 17):
 *  - SQUEEZE: while a tenant of priority P is under pressure AND there is contention (the host, or
 *    the tenants' common parent, is under pressure: ControlState.host_*; or the tenants' nearest
 *    common ancestor with a limit is near it: ControlState.limit_near), lower memory.high of tenants
 *    with priority strictly below P toward their MemoryHighMin, lowest priority level first, one
 *    bounded step per tenant per MinIntervalSec, taken below min(memory.high, memory.current): a
 *    tenant an ancestor's limit already pushed under its memory.high is stepped from its usage, so
 *    every step frees memory (issue 17). A level is passed over only when every tenant in it
 *    is at MemoryHighMin or cannot be lowered now because of the headroom rule; a rate-limited
 *    tenant keeps its level "busy".
 *  - RAISE: the pressured tenant itself (same condition) is raised toward MemoryHighMax, unless a
 *    strictly higher-priority tenant was under pressure within HoldSec (higher priority wins). Only
 *    from its baseline up: below it (squeezed) a tenant comes back by RELAX steps only, so the
 *    room it gave up is returned gradually and the squeeze does not oscillate.
 *  - HOLD: a tenant below its baseline stays where it is while the higher-priority tenant that
 *    caused its last squeeze (the most important one under pressure then; any strictly
 *    higher-priority tenant if that is not known) still has DEMAND (controller_tenant_demand()):
 *    it is under pressure now, or, unless it has released memory since its last pressure (usage
 *    fell below half its peak while it was not under pressure, see controller_note_sample()), its
 *    pressure ended less than HoldSec ago or it was active (ran or refaulted) less than HoldSec
 *    ago. Quiet pressure after a squeeze is the squeeze working, not the end of the need. Likewise
 *    a raised tenant is not lowered back while it has demand itself.
 *  - RELAX: once no demand holds it, memory.high moves back toward the baseline by RelaxPercent steps,
 *    at most once per MinIntervalSec. A tenant that was squeezed again after relaxing learned the
 *    level at which pressure came back (the CEILING: min(memory.high, memory.current) before that
 *    squeeze); for RelaxCeilingSec, and as long as a higher-priority tenant that has not released
 *    its memory since is there, relaxing stops one squeeze step below that level.
 *  - AT RISK (issue 9): a tenant the OOM forecast puts at warning or worse against a limit it shares
 *    with other tenants (an ancestor's memory.max or the host's memory) is squeezed for like a
 *    pressured tenant on a pressured host: tenants of strictly lower priority give way first, by
 *    the same bounded steps, inside their bounds, even if no PSI trigger fired.
 *  - FIRST SIGNAL (issue 12): an over-high or charge-failure signal (memory.events or a BPF
 *    ring-buffer record) says the tenant wants more than it may have now. If the tenants' common
 *    limited ancestor, sampled when deciding (ControlState.limit_room), has less room left than that
 *    tenant's next step plus Headroom, and another active tenant shares it, that is contention too,
 *    for CONTROL_SIGNAL_FRESH_WINDOWS PSI windows after the signal: the squeeze (or raise) starts on
 *    the signal itself instead of waiting for the parent's PSI trigger. A tenant alone, or one whose
 *    step still fits, is untouched as before; PSI pressure alone never counts this way.
 *  - CLAMP: a memory.high found outside [MemoryHighMin, MemoryHighMax] is moved to the nearer bound.
 *  - Never: a value outside the bounds; a lowering below memory.current - Headroom in one step
 *    (except CLAMP down to MemoryHighMax: the bound wins); any SQUEEZE or RAISE without contention.
 * Hysteresis makes a squeezed tenant's trajectory monotone while the demand lasts: it goes down only
 * while pressure is present and up only after the demand that caused it is gone.
 *
 * Pressure bookkeeping: a PSI trigger fires at most once per window while the stall threshold is
 * exceeded, and never says "ended". So every pressure event (re)starts a pressure episode, an
 * explicit *_END event ends it, and an episode with no new event for 2 * PressureWindowSec is over
 * (CONTROL_PRESSURE_GRACE_WINDOWS). Over-high and charge-failure events count as pressure on the
 * tenant they name.
 *
 * Demand bookkeeping (issue 17): the manager samples each tenant's memory.current, CPU time and
 * refault counters (controller_note_sample()) before deciding, whenever a tenant is pressured or away
 * from its baseline; the same call watches memory.high moves to learn the relax ceiling. A tenant
 * refaulting at CONTROL_REFAULT_PRESSURE_PAGES per second or more is under pressure (it wants back
 * memory it had: a squeeze that left it refaulting is not deep enough), even when its PSI is below
 * the trigger's threshold.
 *
 * Times are CLOCK_MONOTONIC microseconds; 0 means "never", so `now` must be > 0.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CONTROL_PRESSURE_GRACE_WINDOWS 2
/* An over-high / charge-failure signal establishes contention (FIRST SIGNAL) for this many windows. */
#define CONTROL_SIGNAL_FRESH_WINDOWS 1
#define CONTROL_PAGE_SIZE 4096ULL
/* Smallest step, for tenants whose range and usage are tiny or unknown. */
#define CONTROL_MIN_STEP (1024ULL * 1024ULL)
#define CONTROL_NO_WAKEUP UINT64_MAX
/* A sample counts as activity if the tenant used at least this much of one CPU since the last one. */
#define CONTROL_ACTIVE_CPU_PERCENT 1
/* Samples closer together than this are not compared (too short to tell idle from running). */
#define CONTROL_SAMPLE_MIN_USEC (250ULL * 1000ULL)
/* Usage below 1/CONTROL_RELEASE_DIVISOR of its peak (and at least CONTROL_RELEASE_MIN lower) is a release. */
#define CONTROL_RELEASE_DIVISOR 2
/* Refaults per second (pages) from which a sample counts as pressure on the tenant (1 MiB/s). */
#define CONTROL_REFAULT_PRESSURE_PAGES 256ULL
#define CONTROL_RELEASE_MIN (8ULL * 1024ULL * 1024ULL)

/* Bookkeeping of demand and of the learned relax ceiling, kept by controller_note_sample(). */
typedef struct ControlHistory {
	uint64_t sample_usec;        /* last compared sample; 0 = none yet */
	uint64_t cpu_usec;           /* its CPU time counter (cpu.stat usage_usec) */
	uint64_t refaults;           /* its refault counter (memory.stat workingset_refault_*) */
	uint64_t last_active_usec;   /* last sample showing CPU use or refaults; 0 = never */
	uint64_t usage_peak;         /* highest memory.current since the last release */
	uint64_t released_usec;      /* when usage last fell below half its peak; 0 = never */
	bool seen;                   /* seen_high/seen_current are valid */
	uint64_t seen_high;          /* memory.high at the previous sample */
	uint64_t seen_current;       /* memory.current at the previous sample */
	bool relaxed_up;             /* moved up while below the baseline since the last lowering */
	bool has_cause;              /* cause/cause_priority are valid */
	size_t cause;                /* index of the tenant whose pressure made the last lowering */
	int cause_priority;          /* its priority then (checks the index after a reload) */
	uint64_t ceiling;            /* learned level at which pressure came back */
	uint64_t ceiling_usec;       /* when it was learned; 0 = no ceiling */
} ControlHistory;

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
	uint64_t signal_usec;        /* last over-high or charge-failure signal; 0 = never */
	uint64_t last_write_usec;    /* last completed write; 0 = never */
	ControlHistory hist;         /* demand and ceiling, updated by controller_note_sample() */
} ControlTenant;

/* What the manager read from a tenant's cgroup for controller_note_sample(). */
typedef struct ControlSample {
	uint64_t current;            /* memory.current */
	uint64_t cpu_usec;           /* cumulative CPU time (cpu.stat usage_usec); 0 if unknown */
	uint64_t refaults;           /* cumulative refaults (workingset_refault_anon + _file); 0 if unknown */
} ControlSample;

typedef struct ControlState {
	ControlTenant *tenants;
	size_t n_tenants;
	bool host_pressured;
	uint64_t host_last_pressure_usec;
	/* The tenants' nearest common ancestor with memory.max or memory.high is near that limit
	 * (sampled by the manager when deciding); limit_where names it for reason texts (may be NULL). */
	bool limit_near;
	const char *limit_where;
	/* The same ancestor's room (its limit minus memory.current, 0 at or over it) when limit_known;
	 * for FIRST SIGNAL. room_where names it for reason texts (may be NULL). */
	bool limit_known;
	uint64_t limit_room;
	const char *room_where;
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

/*
 * A sample of tenant i (taken before deciding): updates memory.current, the activity and release
 * bookkeeping, and learns the relax ceiling from memory.high moves since the previous sample.
 * Returns -EINVAL on bad arguments.
 */
int controller_note_sample(ControlState *s, const ControlParams *p, size_t i, const ControlSample *sm,
			   uint64_t now);

/* Whether tenant t still holds or wants memory at `now` (the HOLD rule). */
bool controller_tenant_demand(const ControlTenant *t, const ControlParams *p, uint64_t now);

/* A write finished: memory.high is now new_high (as read back or as written). */
void controller_write_done(ControlState *s, size_t tenant, uint64_t new_high, uint64_t now);

/*
 * STALLED RECLAIM (issue 17). Writing a memory.high below memory.current makes the writer reclaim the
 * difference, in bounded rounds; a tenant that only touches memory it already has never charges, so
 * nothing else reclaims it. After each completed round of ours, whether another is due:
 *  - DONE: memory.current is within CONTROL_RECLAIM_SLACK of memory.high, or
 *    CONTROL_RECLAIM_ROUNDS_MAX rounds followed the change, or a round with the tenant paused came
 *    back before its timeout and left it above (nothing more is reclaimable now: swap full or off);
 *  - AGAIN: the round was interrupted at the write timeout with the tenant running (it was making
 *    progress); the next round runs the same way;
 *  - PAUSED: the kernel gave up before the timeout with the tenant running: its pages are all
 *    recently used (a hot working set touched faster than reclaim ages it), so reclaim rotates them
 *    instead of freeing them. The next round freezes the tenant (cgroup.freeze) for its duration,
 *    bounded by the write timeout, then thaws it; likewise after an interrupted paused round.
 * `rounds` counts the rounds made after the change so far.
 */
typedef enum ControlReclaim {
	CONTROL_RECLAIM_DONE,
	CONTROL_RECLAIM_AGAIN,
	CONTROL_RECLAIM_PAUSED,
	_CONTROL_RECLAIM_MAX,
	_CONTROL_RECLAIM_INVALID = -22,
} ControlReclaim;

#define CONTROL_RECLAIM_ROUNDS_MAX 6
/* Above memory.high by at most this much is "at it" (per-CPU charge stocks, in-flight charges). */
#define CONTROL_RECLAIM_SLACK (2ULL * 1024ULL * 1024ULL)

ControlReclaim controller_reclaim_after_write(uint64_t high, uint64_t current, bool interrupted, bool paused,
					      unsigned rounds);

/*
 * FIRST SIGNAL: whether tenant i's over-high / charge-failure signal establishes contention at `now`
 * (fresh, another active tenant shares the limited ancestor, and its room is below the tenant's next
 * step plus Headroom). `sharing` is whether another active tenant is there. O(1).
 */
bool controller_signal_contended(const ControlState *s, const ControlParams *p, size_t i, bool sharing,
				 uint64_t now);

/* Whether tenant i counts as under pressure at `now` (episode open and not expired). */
bool controller_tenant_pressured(const ControlTenant *t, const ControlParams *p, uint64_t now);
