/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Proactive reclaim (issue 14), pure part: how much to reclaim next, when to back off, when to
 * stop for good and when to start again, who goes first under host pressure, and what was saved.
 * No I/O, no clock of its own (every call is given "now"); table-tested in
 * tests/unit/test-reclaim-model.c. The wiring (src/reclaim.h) feeds it memory.current, the
 * tenant's PSI, refault records from bpf/reclaim.bpf.c and the results of memory.reclaim writes.
 *
 * Phases of one tenant:
 *   PROBING   a step (memory.reclaim of reclaim_model_step() bytes) every IntervalSec=, while the
 *             tenant's PSI some avg10 stays under PressureTarget= and what it refaults after a step
 *             stays under RefaultPercent= of that step.
 *   BACKOFF   refaults or pressure: no step for HoldSec= (doubled for each back-off in a row that
 *             brought no progress, at most 8x). Then PROBING again, or SETTLED after
 *             RECLAIM_FUTILE_MAX such back-offs in a row. Progress is net of refaults: a round
 *             that kept less than half of what it reclaimed by the end of its hold (the rest came
 *             back as refaults: the steps reached the hot set) counts as futile, so a tenant at
 *             its working set settles instead of taking and giving back the same pages every
 *             HoldSec=.
 *   SETTLED   the tenant is at its working set (a step came back -EAGAIN: nothing cold is left, or
 *             it kept backing off): no timer, no file read. It starts PROBING again when
 *             memory.current (read by the manager's housekeeping tick anyway) has grown by
 *             RECLAIM_REGROW_PERCENT since it settled, or when the host is under pressure.
 *
 * Under host pressure (src/reclaim.c: the host-wide PSI trigger fired within the last 10 s), the rule is:
 *   1. Order (reclaim_model_may_step()): a tenant steps only if every tenant of lower priority has
 *      nothing cold left to give: it is SETTLED, or no step of RECLAIM_STEP_MIN fits above its
 *      floor, or it is not active. A lower tenant that is PROBING or in BACKOFF, whatever the
 *      cause of the back-off, still counts as having cold memory and holds the higher ones back:
 *      a higher tenant's set is not touched while a lower one may still give.
 *   2. Depth (reclaim_model_step()): steps are 1x-5x the lower the priority.
 *   3. Its own PSI does not stop the tenant (reclaim_model_backoff() ignores RECLAIM_CAUSE_PRESSURE):
 *      under host pressure a tenant's PSI measures the host's shortage (the kernel's own reclaim
 *      and the swap-in of what it took) as much as anything memqosd does, and a lower tenant that
 *      backed off on it before its first step would hand its turn to the higher ones. Refaults
 *      after its own steps (the BPF budget) still back it off, and RECLAIM_FUTILE_MAX futile
 *      rounds (its steps reach its hot set) settle it: that, -EAGAIN or its floor is "nothing
 *      cold left", and the next priority goes.
 *   4. Settled tenants wake once per episode of host pressure (reclaim_model_wake()), so a lower
 *      tenant that settles again under it stays settled and does not take the turn back.
 *
 * "saved" is an estimate: the bytes reclaimed (memory.current's drop across each step, at most the
 * step) minus the bytes that came back as refaults since reclaim started, never negative.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Steps smaller than this are not worth a write: the tenant is at its floor. */
#define RECLAIM_STEP_MIN (UINT64_C(256) << 10)
/* Back-offs in a row without RECLAIM_STEP_MIN of progress after which the tenant settles. */
#define RECLAIM_FUTILE_MAX 3
/* A settled tenant starts probing again once memory.current grew by this much (% of where it settled). */
#define RECLAIM_REGROW_PERCENT 10
#define RECLAIM_PAGE_SIZE 4096
/* A step doubles after each clean one, up to 2^RECLAIM_RAMP_MAX times the first (reclaim_model_next_step()). */
#define RECLAIM_RAMP_MAX 4

typedef enum ReclaimPhase {
	RECLAIM_PROBING,
	RECLAIM_BACKOFF,
	RECLAIM_SETTLED,
	_RECLAIM_PHASE_MAX,
	_RECLAIM_PHASE_INVALID = -22,
} ReclaimPhase;

const char *reclaim_phase_to_string(ReclaimPhase p);

typedef enum ReclaimCause {
	RECLAIM_CAUSE_REFAULT,       /* refaults after a step crossed RefaultPercent= (BPF record) */
	RECLAIM_CAUSE_PRESSURE,      /* PSI some avg10 at or above PressureTarget=, or the PSI trigger fired */
	_RECLAIM_CAUSE_MAX,
	_RECLAIM_CAUSE_INVALID = -22,
} ReclaimCause;

const char *reclaim_cause_to_string(ReclaimCause c);

typedef struct ReclaimModel {
	ReclaimPhase phase;
	uint64_t reclaimed_bytes;    /* over the tenant's life in memqosd */
	uint64_t refaulted_bytes;    /* refaults since reclaim started (set from the BPF counter) */
	uint64_t steps;              /* memory.reclaim writes completed */
	uint64_t backoffs;
	unsigned futile;             /* back-offs in a row without progress */
	uint64_t progress_bytes;     /* reclaimed since the last back-off */
	uint64_t refault_mark;       /* refaulted_bytes when this round of probing began */
	uint64_t held_progress;      /* BACKOFF: what the round before it reclaimed */
	bool held_futile;            /* BACKOFF: already counted as futile when it began */
	uint64_t hold_until_usec;    /* BACKOFF: when it ends */
	uint64_t settled_current;    /* SETTLED: memory.current when it settled */
	uint64_t last_step_bytes;    /* the last step asked for */
	ReclaimCause last_cause;
	uint64_t last_backoff_usec;  /* when the last back-off happened; 0 = never */
	bool host_woken;             /* woken by host pressure in this episode of it */
	unsigned ramp;               /* clean steps in a row (at most RECLAIM_RAMP_MAX): the next is 2^ramp times larger */
} ReclaimModel;

void reclaim_model_init(ReclaimModel *m);

/*
 * The floor reclaim never goes under: the largest of Floor=, MemoryLow= (if set) and MemoryHighMin=
 * (if it is not "max").
 */
uint64_t reclaim_model_floor(const TenantConfig *c);

/*
 * Bytes the next step reclaims: StepPercent= of what lies above the floor, at most StepMax=; under
 * host pressure (100 - priority) / 25 + 1 times that (priority 0: 5x, 100: 1x), at most 4x
 * StepMax=; rounded down to pages. 0 if below RECLAIM_STEP_MIN (nothing left above the floor).
 */
uint64_t reclaim_model_step(const ReclaimParams *p, uint64_t current, uint64_t floor, int priority,
			    bool host_pressure);

/*
 * The step the tenant takes now: reclaim_model_step()'s size times 2^m->ramp. The ramp counts the
 * clean steps in a row (each reclaimed at least half of what it asked, with no back-off since), so
 * a tenant far above its hot set gets there in a few large steps instead of many small ones (each
 * step costs a timer, file reads and a write: the descent, not the holding, is what the agent's
 * CPU goes to). A ramped step is at most StepMax= (4x under host pressure) and at most half of what
 * lies above the floor; it overshoots into the hot set by at most what the refault budget lets
 * through before the write is interrupted. Any back-off, settling or waking starts the ramp again.
 */
uint64_t reclaim_model_next_step(const ReclaimModel *m, const ReclaimParams *p, uint64_t current, uint64_t floor,
				 int priority, bool host_pressure);

/* Pages of refaults after a step of step_bytes that make the tenant back off (at least 1). */
uint64_t reclaim_model_refault_budget(const ReclaimParams *p, uint64_t step_bytes);

/* The tenant's PSI some avg10 (hundredths of %) is at or above the target. */
bool reclaim_model_over_target(const ReclaimParams *p, unsigned avg10);

/*
 * A step completed: memory.current was before/after, result the write's (0, -EAGAIN: the kernel
 * could not reclaim all of it, other: failed). Returns the bytes counted as reclaimed. A step that
 * came back -EAGAIN settles the tenant (nothing cold left) at `after`. A complete step that
 * reclaimed at least half of what it asked for is clean: the ramp goes up.
 */
uint64_t reclaim_model_step_done(ReclaimModel *m, uint64_t requested, uint64_t before, uint64_t after, int result);

/*
 * Refaults or pressure: stop and hold. Returns false if the tenant does not back off: it was
 * already backing off, or the cause is its own pressure while the host is under pressure (rule 3).
 */
bool reclaim_model_backoff(ReclaimModel *m, const ReclaimParams *p, ReclaimCause cause, bool host_pressure,
			   uint64_t now_usec);

/*
 * BACKOFF whose hold is over: PROBING again, or SETTLED at current after too many futile back-offs.
 * refaulted_bytes must be up to date: a round whose reclaim came back as refaults is futile.
 */
void reclaim_model_hold_over(ReclaimModel *m, uint64_t current, uint64_t now_usec);

/*
 * A SETTLED tenant should probe again: it grew, or host pressure began (once per episode: rule 4;
 * a call without host pressure ends the episode). Switches it to PROBING if so.
 */
bool reclaim_model_wake(ReclaimModel *m, uint64_t current, bool host_pressure);

/* One tenant, as the priority order sees it. */
typedef struct ReclaimCandidate {
	int priority;
	ReclaimPhase phase;
	bool above_floor;            /* active, and a step of at least RECLAIM_STEP_MIN is possible */
} ReclaimCandidate;

/*
 * May candidate `self` of all[0..n) step now? Always without host pressure; under it only if every
 * candidate of lower priority has nothing cold left: SETTLED or not above its floor (rule 1).
 */
bool reclaim_model_may_step(const ReclaimCandidate *all, size_t n, size_t self, bool host_pressure);

/* reclaimed - refaulted, never negative. */
uint64_t reclaim_model_saved(const ReclaimModel *m);
