/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "guard-model.h"
#include "util.h"

static const char *const guard_step_table[_GUARD_STEP_MAX] = {
	[GUARD_STEP_NONE] = "none",
	[GUARD_STEP_PIDS] = "pids",
	[GUARD_STEP_CPU] = "cpu",
	[GUARD_STEP_FREEZE] = "freeze",
	[GUARD_STEP_KILL] = "kill",
	[GUARD_STEP_UNDO] = "undo",
};

const char *guard_step_to_string(GuardStep s)
{
	if (s < 0 || s >= _GUARD_STEP_MAX)
		return NULL;
	return guard_step_table[s];
}

unsigned guard_model_plan(unsigned actions, GuardStep steps[4])
{
	unsigned n = 0;

	if (actions & GUARD_ACTION_PIDS)
		steps[n++] = GUARD_STEP_PIDS;
	if (actions & GUARD_ACTION_CPU)
		steps[n++] = GUARD_STEP_CPU;
	if (actions & GUARD_ACTION_FREEZE)
		steps[n++] = GUARD_STEP_FREEZE;
	if (actions & GUARD_ACTION_KILL)
		steps[n++] = GUARD_STEP_KILL;
	return n;
}

bool guard_model_idle(const GuardState *s)
{
	return !s->active && s->in_place == 0;
}

/* The next escalation step after s->last allowed by actions, or NONE. */
static GuardStep next_step(const GuardState *s, unsigned actions)
{
	GuardStep steps[4];
	unsigned n = guard_model_plan(actions, steps);

	if (s->killed)
		return GUARD_STEP_NONE;
	for (unsigned i = 0; i < n; i++)
		if (steps[i] > s->last)
			return steps[i];
	return GUARD_STEP_NONE;
}

static void take(GuardState *s, GuardStep step, uint64_t now)
{
	s->last = step;
	s->last_step_usec = now;
	if (step == GUARD_STEP_PIDS)
		s->in_place |= GUARD_ACTION_PIDS;
	else if (step == GUARD_STEP_CPU)
		s->in_place |= GUARD_ACTION_CPU;
	else if (step == GUARD_STEP_FREEZE) {
		s->in_place |= GUARD_ACTION_FREEZE;
		s->quiet = true; /* frozen: nothing can storm; the hold counts from here */
		s->quiet_since_usec = now;
	} else if (step == GUARD_STEP_KILL)
		s->killed = true;
}

static bool frozen(const GuardState *s)
{
	return s->in_place & GUARD_ACTION_FREEZE;
}

GuardDecision guard_model_step(GuardState *s, const GuardParams *p, bool storm, uint64_t now)
{
	GuardStep step;

	if (frozen(s))
		storm = false; /* a stale report: frozen tasks charge nothing */

	if (storm) {
		s->quiet = false;
		if (!s->active) {
			s->active = true;
			s->storm_since_usec = now;
			s->last = GUARD_STEP_NONE;
			s->killed = false;
			s->last_step_usec = 0;
		}
	} else if (s->active && !s->quiet) {
		s->quiet = true;
		s->quiet_since_usec = now;
	}
	s->storm = storm;
	if (!s->active)
		return (GuardDecision) {};

	/* Escalate: at once on a new storm, then every EscalateSec= while it lasts (or while frozen). */
	if (storm || frozen(s)) {
		step = next_step(s, p->actions);
		if (step != GUARD_STEP_NONE && (s->last == GUARD_STEP_NONE || now - s->last_step_usec >= p->escalate_usec) &&
		    (storm || step == GUARD_STEP_KILL)) {
			take(s, step, now);
			return (GuardDecision) { .step = step };
		}
		if (storm)
			return (GuardDecision) {};
	}

	/* Quiet (or frozen with nothing left to do): undo after the hold. */
	if (s->quiet && now - s->quiet_since_usec >= p->hold_usec) {
		GuardDecision d = { .step = GUARD_STEP_UNDO, .undo = s->in_place };

		*s = (GuardState) {};
		if (d.undo == 0)
			d.step = GUARD_STEP_NONE; /* nothing was in place (detect only, or killed without pids) */
		return d;
	}
	return (GuardDecision) {};
}

uint64_t guard_model_next_usec(const GuardState *s, const GuardParams *p)
{
	uint64_t next = UINT64_MAX;

	if (!s->active)
		return next;
	if ((s->storm || frozen(s)) && next_step(s, p->actions) != GUARD_STEP_NONE && s->last != GUARD_STEP_NONE)
		next = s->last_step_usec + p->escalate_usec;
	if (s->quiet && s->quiet_since_usec + p->hold_usec < next)
		next = s->quiet_since_usec + p->hold_usec;
	return next;
}

void guard_model_thaw(GuardState *s, uint64_t now)
{
	s->in_place &= ~(unsigned) GUARD_ACTION_FREEZE;
	s->storm = false;
	if (s->active) {
		s->quiet = true;
		s->quiet_since_usec = now;
		/* If the storm resumes, the freeze is the next step again (EscalateSec= from now). */
		if (s->last >= GUARD_STEP_FREEZE && !s->killed)
			s->last = GUARD_STEP_CPU;
		s->last_step_usec = now;
	}
}
