/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Proactive reclaim, pure part; see reclaim-model.h.
 */

#include <errno.h>

#include "reclaim-model.h"
#include "util.h"

static const char *const phase_names[_RECLAIM_PHASE_MAX] = {
	[RECLAIM_PROBING] = "probing",
	[RECLAIM_BACKOFF] = "backoff",
	[RECLAIM_SETTLED] = "settled",
};

const char *reclaim_phase_to_string(ReclaimPhase p)
{
	return p >= 0 && p < _RECLAIM_PHASE_MAX ? phase_names[p] : NULL;
}

static const char *const cause_names[_RECLAIM_CAUSE_MAX] = {
	[RECLAIM_CAUSE_REFAULT] = "refault",
	[RECLAIM_CAUSE_PRESSURE] = "pressure",
};

const char *reclaim_cause_to_string(ReclaimCause c)
{
	return c >= 0 && c < _RECLAIM_CAUSE_MAX ? cause_names[c] : NULL;
}

void reclaim_model_init(ReclaimModel *m)
{
	*m = (ReclaimModel) { .phase = RECLAIM_PROBING };
}

uint64_t reclaim_model_floor(const TenantConfig *c)
{
	uint64_t f = c->reclaim.floor_bytes;

	if (c->has_memory_low && c->memory_low > f)
		f = c->memory_low;
	if (c->memory_high_min != MEMQOSD_BYTES_MAX && c->memory_high_min > f)
		f = c->memory_high_min;
	return f;
}

static uint64_t step_sized(const ReclaimParams *p, uint64_t current, uint64_t floor, int priority,
			   bool host_pressure, unsigned ramp)
{
	uint64_t above, step, cap = p->step_max_bytes;

	if (current <= floor)
		return 0;
	above = current - floor;
	step = above / 100 * p->step_percent + above % 100 * p->step_percent / 100;
	if (host_pressure) {
		int prio = priority < 0 ? 0 : priority > 100 ? 100 : priority;

		step *= (uint64_t) ((100 - prio) / 25 + 1);
		cap *= 4;
	}
	if (ramp > 0) {
		step = step > cap >> ramp ? cap : step << ramp;
		if (step > above / 2)
			step = above / 2;
	}
	if (step > cap)
		step = cap;
	if (step > above)
		step = above;
	step -= step % RECLAIM_PAGE_SIZE;
	return step < RECLAIM_STEP_MIN ? 0 : step;
}

uint64_t reclaim_model_step(const ReclaimParams *p, uint64_t current, uint64_t floor, int priority,
			    bool host_pressure)
{
	return step_sized(p, current, floor, priority, host_pressure, 0);
}

uint64_t reclaim_model_next_step(const ReclaimModel *m, const ReclaimParams *p, uint64_t current, uint64_t floor,
				 int priority, bool host_pressure)
{
	uint64_t step = step_sized(p, current, floor, priority, host_pressure, m->ramp);

	/* Near the floor half of what is left may be under the minimum where the plain step is not. */
	return step > 0 ? step : step_sized(p, current, floor, priority, host_pressure, 0);
}

uint64_t reclaim_model_refault_budget(const ReclaimParams *p, uint64_t step_bytes)
{
	uint64_t pages = step_bytes / RECLAIM_PAGE_SIZE * p->refault_percent / 100;

	return pages > 0 ? pages : 1;
}

bool reclaim_model_over_target(const ReclaimParams *p, unsigned avg10)
{
	return avg10 >= p->pressure_target;
}

uint64_t reclaim_model_step_done(ReclaimModel *m, uint64_t requested, uint64_t before, uint64_t after, int result)
{
	uint64_t got = before > after ? before - after : 0;

	if (result < 0 && result != -EAGAIN)
		return 0;  /* not written: nothing reclaimed by us, whatever memory.current did */
	if (got > requested)
		got = requested;  /* the rest is the tenant freeing memory itself */
	m->steps++;
	m->reclaimed_bytes += got;
	m->progress_bytes += got;
	if (result == -EAGAIN && m->phase == RECLAIM_PROBING) {
		m->phase = RECLAIM_SETTLED;
		m->settled_current = after;
		m->futile = 0;
		m->ramp = 0;
	} else if (result == 0 && m->phase == RECLAIM_PROBING && got >= requested / 2 && m->ramp < RECLAIM_RAMP_MAX)
		m->ramp++;
	return got;
}

/*
 * A round (the steps since refault_mark) that reclaimed `progress` bytes is futile if it kept less
 * than RECLAIM_STEP_MIN, or less than half of it: the rest came back as refaults since.
 */
static bool round_futile(const ReclaimModel *m, uint64_t progress)
{
	uint64_t back = m->refaulted_bytes > m->refault_mark ? m->refaulted_bytes - m->refault_mark : 0;
	uint64_t kept = progress > back ? progress - back : 0;

	return kept < RECLAIM_STEP_MIN || kept < progress / 2;
}

bool reclaim_model_backoff(ReclaimModel *m, const ReclaimParams *p, ReclaimCause cause, bool host_pressure,
			   uint64_t now_usec)
{
	unsigned shift;

	if (m->phase == RECLAIM_BACKOFF || (cause == RECLAIM_CAUSE_PRESSURE && host_pressure))
		return false;
	/* Futile already (nothing gained, or it came back): longer hold. Otherwise it is judged
	 * when the hold is over, with the refaults of the hold counted. */
	m->held_futile = round_futile(m, m->progress_bytes);
	if (m->held_futile)
		m->futile++;
	m->held_progress = m->progress_bytes;
	shift = m->futile > 3 ? 3 : m->futile;
	m->phase = RECLAIM_BACKOFF;
	m->ramp = 0;
	m->hold_until_usec = now_usec + (p->hold_usec << (shift > 0 && m->held_futile ? shift - 1 : 0));
	m->progress_bytes = 0;
	m->backoffs++;
	m->last_cause = cause;
	m->last_backoff_usec = now_usec;
	return true;
}

void reclaim_model_hold_over(ReclaimModel *m, uint64_t current, uint64_t now_usec)
{
	if (m->phase != RECLAIM_BACKOFF || now_usec < m->hold_until_usec)
		return;
	if (!m->held_futile) {
		if (round_futile(m, m->held_progress))
			m->futile++;  /* what the round took came back during the hold */
		else
			m->futile = 0;
	}
	if (m->futile >= RECLAIM_FUTILE_MAX) {
		m->phase = RECLAIM_SETTLED;
		m->settled_current = current;
	} else {
		m->phase = RECLAIM_PROBING;
		m->refault_mark = m->refaulted_bytes;
	}
}

bool reclaim_model_wake(ReclaimModel *m, uint64_t current, bool host_pressure)
{
	uint64_t grown;
	bool host_wake;

	if (!host_pressure)
		m->host_woken = false;  /* the episode is over: the next one wakes it again */
	if (m->phase != RECLAIM_SETTLED)
		return false;
	grown = m->settled_current / 100 * RECLAIM_REGROW_PERCENT;
	if (grown < RECLAIM_STEP_MIN)
		grown = RECLAIM_STEP_MIN;
	host_wake = host_pressure && !m->host_woken;
	if (!host_wake && current < m->settled_current + grown)
		return false;
	if (host_wake)
		m->host_woken = true;
	m->phase = RECLAIM_PROBING;
	m->futile = 0;
	m->ramp = 0;
	m->progress_bytes = 0;
	m->refault_mark = m->refaulted_bytes;
	return true;
}

bool reclaim_model_may_step(const ReclaimCandidate *all, size_t n, size_t self, bool host_pressure)
{
	if (!host_pressure)
		return true;
	for (size_t i = 0; i < n; i++)
		if (i != self && all[i].priority < all[self].priority && all[i].phase != RECLAIM_SETTLED &&
		    all[i].above_floor)
			return false;
	return true;
}

uint64_t reclaim_model_saved(const ReclaimModel *m)
{
	return m->reclaimed_bytes > m->refaulted_bytes ? m->reclaimed_bytes - m->refaulted_bytes : 0;
}
