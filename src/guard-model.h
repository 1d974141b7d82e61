/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Job 4, the pure part: the storm guard's escalation state machine, one per tenant and one per
 * (tenant, uid) that stormed. No I/O: the wiring (src/guard.c) feeds it "is this a storm now" (the
 * BPF token buckets, include/memqosd/guard.h) and the time, and carries out the step it returns.
 *
 *   - While the storm lasts, the steps allowed by Actions= are taken in the order pids -> cpu ->
 *     freeze -> kill: the first at once (on the storm's first report), each next one EscalateSec= after the
 *     previous one if the storm is still on.
 *   - A frozen tenant cannot storm, and does not count as quiet either: it stays frozen until HoldSec=
 *     after the freeze, or is killed EscalateSec= after the freeze if kill is allowed.
 *   - Once the storm has been quiet for HoldSec= (counted from the last stormy report, or from the
 *     freeze), every step still in place (pids.max, the freeze) is undone in one step (UNDO) and the
 *     machine is back at rest; a new storm starts from the first step again.
 *   - guard_model_thaw(): `memqosd thaw` lifted the freeze by hand; the tenant is watched as if the
 *     freeze had just been undone (pids.max and cpu.max stay until the hold).
 */

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

typedef enum GuardStep {
	GUARD_STEP_NONE,
	GUARD_STEP_PIDS,     /* lower pids.max to the current count + PidsAllowance= */
	GUARD_STEP_CPU,      /* cpu.max quota = CpuMax= of one CPU (stock kernels' throttle from user space) */
	GUARD_STEP_FREEZE,   /* cgroup.freeze = 1 */
	GUARD_STEP_KILL,     /* cgroup.kill = 1 */
	GUARD_STEP_UNDO,     /* restore pids.max, cpu.max (if lowered) and thaw (if frozen): GuardDecision.undo */
	_GUARD_STEP_MAX,
	_GUARD_STEP_INVALID = -22,
} GuardStep;

/* "pids", "cpu", "freeze", "kill", "undo" ("none" for NONE): the action names of records and signals. */
const char *guard_step_to_string(GuardStep s);

typedef struct GuardState {
	bool storm;                  /* the last report was stormy */
	unsigned in_place;           /* GUARD_ACTION_PIDS / _CPU / _FREEZE currently applied */
	bool killed;                 /* cgroup.kill was written during this storm */
	GuardStep last;              /* the last escalation step taken in this storm (NONE at rest) */
	bool active;                 /* a storm was reported and not undone yet */
	bool quiet;                  /* ... and has been quiet since quiet_since_usec */
	uint64_t storm_since_usec;   /* first stormy report of this storm */
	uint64_t last_step_usec;     /* when the last escalation step was taken */
	uint64_t quiet_since_usec;
} GuardState;

typedef struct GuardDecision {
	GuardStep step;
	unsigned undo;               /* UNDO: the GUARD_ACTION_* bits to undo */
} GuardDecision;

/* At rest: no storm, nothing in place. */
bool guard_model_idle(const GuardState *s);

/*
 * One evaluation: storm is whether the detector says the bucket is in debt now. Returns the one step
 * to take now (the state already counts it as taken), or NONE. Call again at once after a step (a
 * step can be followed immediately by another only for UNDO + nothing, so once is enough), and at
 * guard_model_next_usec() at the latest.
 */
GuardDecision guard_model_step(GuardState *s, const GuardParams *p, bool storm, uint64_t now_usec);

/* When the machine wants to be evaluated next (UINT64_MAX: only on a report). */
uint64_t guard_model_next_usec(const GuardState *s, const GuardParams *p);

/* The freeze was lifted by hand (`memqosd thaw`): no longer in place; the hold starts now. */
void guard_model_thaw(GuardState *s, uint64_t now_usec);

/* The steps a storm would take under these actions, in order (for messages); count returned. */
unsigned guard_model_plan(unsigned actions, GuardStep steps[4]);
