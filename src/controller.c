/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control loop's decision function; see controller.h for the rules. Everything here is
 * arithmetic on the state handed in: no I/O, no clock, no logging, no allocation.
 */

#include <errno.h>
#include <stdio.h>

#include "controller.h"
#include "util.h"

static const char *const reason_names[_CONTROL_REASON_MAX] = {
	[CONTROL_REASON_SQUEEZE] = "squeeze",
	[CONTROL_REASON_RAISE] = "raise",
	[CONTROL_REASON_RELAX] = "relax",
	[CONTROL_REASON_CLAMP] = "clamp",
};

static const char *const event_names[_CONTROL_EVENT_MAX] = {
	[CONTROL_EVENT_PRESSURE] = "pressure",
	[CONTROL_EVENT_PRESSURE_END] = "pressure-end",
	[CONTROL_EVENT_HOST_PRESSURE] = "host-pressure",
	[CONTROL_EVENT_HOST_PRESSURE_END] = "host-pressure-end",
	[CONTROL_EVENT_OVER_HIGH] = "over-high",
	[CONTROL_EVENT_CHARGE_FAIL] = "charge-fail",
	[CONTROL_EVENT_TICK] = "tick",
};

const char *control_reason_to_string(ControlReason r)
{
	if (r < 0 || r >= _CONTROL_REASON_MAX)
		return NULL;
	return reason_names[r];
}

const char *control_event_kind_to_string(ControlEventKind k)
{
	if (k < 0 || k >= _CONTROL_EVENT_MAX)
		return NULL;
	return event_names[k];
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

uint64_t control_baseline(uint64_t original, uint64_t min, uint64_t max)
{
	if (min > max)
		min = max;
	return min_u64(max_u64(original, min), max);
}

static uint64_t grace_usec(const ControlParams *p)
{
	uint64_t w = p->psi_window_usec > 0 ? p->psi_window_usec : USEC_PER_SEC;

	return CONTROL_PRESSURE_GRACE_WINDOWS * w;
}

/* Pressure episode bookkeeping, shared by tenants and the host. */
static bool episode_open(bool flag, uint64_t last, uint64_t grace, uint64_t now)
{
	return flag && (now <= last || now - last <= grace);
}

/* When the last episode ended (or will end without news); 0 if there never was one. */
static uint64_t episode_end(bool flag, uint64_t last, uint64_t grace)
{
	if (last == 0)
		return 0;
	return flag ? sat_add(last, grace) : last;
}

/* Open, or ended less than hold ago. */
static bool episode_recent(bool flag, uint64_t last, uint64_t grace, uint64_t hold, uint64_t now)
{
	uint64_t end;

	if (episode_open(flag, last, grace, now))
		return true;
	end = episode_end(flag, last, grace);
	return end != 0 && now < sat_add(end, hold);
}

/* The next time episode_open()/episode_recent() change their answer, or CONTROL_NO_WAKEUP. */
static uint64_t episode_next_change(bool flag, uint64_t last, uint64_t grace, uint64_t hold, uint64_t now)
{
	uint64_t end;

	if (last == 0)
		return CONTROL_NO_WAKEUP;
	if (episode_open(flag, last, grace, now))
		return sat_add(sat_add(last, grace), 1);
	end = episode_end(flag, last, grace);
	if (now < sat_add(end, hold))
		return sat_add(end, hold);
	return CONTROL_NO_WAKEUP;
}

bool controller_tenant_pressured(const ControlTenant *t, const ControlParams *p, uint64_t now)
{
	return episode_open(t->pressured, t->last_pressure_usec, grace_usec(p), now);
}

static bool tenant_recent(const ControlTenant *t, const ControlParams *p, uint64_t now)
{
	return episode_recent(t->pressured, t->last_pressure_usec, grace_usec(p), p->hold_usec, now);
}

static void episode_start(bool *flag, uint64_t *last, uint64_t now)
{
	*flag = true;
	*last = now;
}

static void episode_stop(bool *flag, uint64_t *last, uint64_t grace, uint64_t now)
{
	if (!*flag)
		return;
	*flag = false;
	/* An episode that already expired ended at its expiry, not now. */
	*last = min_u64(now, sat_add(*last, grace));
}

int controller_note_event(ControlState *s, const ControlParams *p, const ControlEvent *ev, uint64_t now)
{
	ControlTenant *t = NULL;

	if (!s || !p || !ev || now == 0)
		return -EINVAL;

	switch (ev->kind) {
	case CONTROL_EVENT_PRESSURE:
	case CONTROL_EVENT_PRESSURE_END:
	case CONTROL_EVENT_OVER_HIGH:
	case CONTROL_EVENT_CHARGE_FAIL:
		if (ev->tenant >= s->n_tenants)
			return -EINVAL;
		t = &s->tenants[ev->tenant];
		break;
	case CONTROL_EVENT_HOST_PRESSURE:
	case CONTROL_EVENT_HOST_PRESSURE_END:
	case CONTROL_EVENT_TICK:
		break;
	default:
		return -EINVAL;
	}

	switch (ev->kind) {
	case CONTROL_EVENT_PRESSURE:
	case CONTROL_EVENT_OVER_HIGH:
	case CONTROL_EVENT_CHARGE_FAIL:
		episode_start(&t->pressured, &t->last_pressure_usec, now);
		break;
	case CONTROL_EVENT_PRESSURE_END:
		episode_stop(&t->pressured, &t->last_pressure_usec, grace_usec(p), now);
		break;
	case CONTROL_EVENT_HOST_PRESSURE:
		episode_start(&s->host_pressured, &s->host_last_pressure_usec, now);
		break;
	case CONTROL_EVENT_HOST_PRESSURE_END:
		episode_stop(&s->host_pressured, &s->host_last_pressure_usec, grace_usec(p), now);
		break;
	default:
		break;
	}
	return 0;
}

/* Base of the step sizes: the tenant's range, or (range unbounded) its baseline or usage. */
static uint64_t step_bytes(const ControlTenant *t, unsigned percent)
{
	uint64_t base, step;

	if (t->high_max != MEMQOSD_BYTES_MAX)
		base = t->high_max - min_u64(t->high_min, t->high_max);
	else if (t->baseline != MEMQOSD_BYTES_MAX)
		base = t->baseline;
	else
		base = max_u64(t->current, t->high_min);

	step = base / 100 * percent + base % 100 * percent / 100;
	step -= step % CONTROL_PAGE_SIZE;
	return max_u64(step, CONTROL_MIN_STEP);
}

/*
 * Lowering by `amount`, never below `floor_extra` (the baseline for a relax), MemoryHighMin, or
 * memory.current - headroom. Returns false if that would not lower anything.
 */
static bool lower_target(const ControlTenant *t, const ControlParams *p, uint64_t amount, uint64_t floor_extra,
			 uint64_t *ret)
{
	uint64_t from, floor, target;

	/* From "max", start at the usage: that is where the limit starts to bite. */
	from = t->high == MEMQOSD_BYTES_MAX ? t->current : t->high;
	floor = max_u64(max_u64(t->high_min, floor_extra), sat_sub(t->current, p->headroom_bytes));
	target = max_u64(sat_sub(from, amount), floor);
	target = min_u64(target, t->high_max);
	if (target >= t->high)
		return false;
	*ret = target;
	return true;
}

static bool raise_target(const ControlTenant *t, uint64_t amount, uint64_t ceiling, uint64_t *ret)
{
	uint64_t target;

	if (t->high >= ceiling)
		return false;
	target = min_u64(sat_add(t->high, amount), ceiling);
	*ret = target;
	return true;
}

static bool relax_up_target(const ControlTenant *t, uint64_t amount, uint64_t baseline, uint64_t *ret)
{
	if (t->high >= baseline)
		return false;
	/* Toward an unlimited baseline: go all the way once usage is no longer near the limit. */
	if (baseline == MEMQOSD_BYTES_MAX && sat_add(t->current, amount) <= t->high) {
		*ret = MEMQOSD_BYTES_MAX;
		return true;
	}
	return raise_target(t, amount, baseline, ret);
}

static bool rate_limited(const ControlTenant *t, const ControlParams *p, uint64_t now, uint64_t *wakeup)
{
	uint64_t next;

	if (t->last_write_usec == 0)
		return false;
	next = sat_add(t->last_write_usec, p->min_interval_usec);
	if (now >= next)
		return false;
	*wakeup = min_u64(*wakeup, next);
	return true;
}

static const char *tenant_name(const ControlTenant *t)
{
	return t->name ?: "?";
}

static int add_action(ControlAction *actions, size_t n_actions, size_t *n, const ControlState *s, size_t i,
		      uint64_t new_high, ControlReason reason, const char *fmt_tenant, bool for_risk, uint64_t hold_s)
{
	const ControlTenant *t = &s->tenants[i];
	ControlAction *a;

	if (*n >= n_actions)
		return -ENOBUFS;
	a = &actions[(*n)++];
	*a = (ControlAction) {
		.tenant = i,
		.old_high = t->high,
		.new_high = new_high,
		.reason = reason,
	};

	switch (reason) {
	case CONTROL_REASON_SQUEEZE:
		if (for_risk)
			(void) snprintf(a->text, sizeof(a->text),
					"squeeze: higher-priority tenant %s is forecast to run out of memory", fmt_tenant);
		else
			(void) snprintf(a->text, sizeof(a->text),
					"squeeze: higher-priority tenant %s under pressure while the host is", fmt_tenant);
		break;
	case CONTROL_REASON_RAISE:
		(void) snprintf(a->text, sizeof(a->text),
				"raise: %s under pressure while the host is, no higher-priority tenant is",
				tenant_name(t));
		break;
	case CONTROL_REASON_RELAX:
		(void) snprintf(a->text, sizeof(a->text),
				"relax toward baseline: no reason to hold for %llus", (unsigned long long) hold_s);
		break;
	case CONTROL_REASON_CLAMP:
		(void) snprintf(a->text, sizeof(a->text), "clamp into MemoryHighMin..MemoryHighMax");
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

int controller_decide(const ControlState *s, const ControlParams *p, uint64_t now,
		      ControlAction *actions, size_t n_actions, uint64_t *ret_next_wakeup)
{
	uint64_t grace, hold_s, wakeup = CONTROL_NO_WAKEUP, recency_wakeup = CONTROL_NO_WAKEUP;
	bool host_now, host_recent, off_baseline = false, squeeze_active, squeeze_for_risk = false;
	int top_now = -1, max_recent = -1, squeeze_level = -1, top_risk = -1, squeeze_top;
	size_t top_idx = 0, risk_idx = 0, squeeze_idx, n = 0;
	int r;

	if (!s || !p || now == 0 || (s->n_tenants > 0 && !s->tenants) || (n_actions > 0 && !actions))
		return -EINVAL;

	grace = grace_usec(p);
	hold_s = p->hold_usec / USEC_PER_SEC;
	host_now = episode_open(s->host_pressured, s->host_last_pressure_usec, grace, now);
	host_recent = episode_recent(s->host_pressured, s->host_last_pressure_usec, grace, p->hold_usec, now);
	recency_wakeup = episode_next_change(s->host_pressured, s->host_last_pressure_usec, grace, p->hold_usec,
					     now);

	/* Who is under pressure now, and who was recently. */
	for (size_t i = 0; i < s->n_tenants; i++) {
		const ControlTenant *t = &s->tenants[i];

		if (!t->active)
			continue;
		recency_wakeup = min_u64(recency_wakeup,
					 episode_next_change(t->pressured, t->last_pressure_usec, grace,
							     p->hold_usec, now));
		if (t->high != control_baseline(t->baseline, t->high_min, t->high_max))
			off_baseline = true;
		if (tenant_recent(t, p, now) && t->priority > max_recent)
			max_recent = t->priority;
		if (controller_tenant_pressured(t, p, now) && t->priority > top_now) {
			top_now = t->priority;
			top_idx = i;
		}
		if (t->at_risk && t->priority > top_risk) {
			top_risk = t->priority;
			risk_idx = i;
		}
	}
	/* Squeeze for the most important tenant under pressure on a pressured host, or at risk of an OOM. */
	squeeze_top = host_now ? top_now : -1;
	squeeze_idx = top_idx;
	if (top_risk > squeeze_top) {
		squeeze_top = top_risk;
		squeeze_idx = risk_idx;
		squeeze_for_risk = true;
	}
	squeeze_active = squeeze_top >= 0;

	/* Lowest priority level among squeeze candidates that can still go down. */
	if (squeeze_active)
		for (size_t i = 0; i < s->n_tenants; i++) {
			const ControlTenant *t = &s->tenants[i];
			uint64_t target;
			bool can;

			if (!t->active || t->priority >= squeeze_top)
				continue;
			if (t->high > t->high_max || t->high < t->high_min)
				continue; /* clamped first */
			if (t->busy)
				can = t->high > t->high_min;
			else
				can = lower_target(t, p, step_bytes(t, p->step_percent), 0, &target);
			if (can && (squeeze_level < 0 || t->priority < squeeze_level))
				squeeze_level = t->priority;
		}

	for (size_t i = 0; i < s->n_tenants; i++) {
		const ControlTenant *t = &s->tenants[i];
		uint64_t baseline, target;

		if (!t->active || t->busy)
			continue;
		baseline = control_baseline(t->baseline, t->high_min, t->high_max);

		/* CLAMP: bounds first, whatever else is going on. */
		if (t->high > t->high_max || t->high < t->high_min) {
			if (rate_limited(t, p, now, &wakeup))
				continue;
			r = add_action(actions, n_actions, &n, s, i,
				       t->high > t->high_max ? t->high_max : t->high_min,
				       CONTROL_REASON_CLAMP, NULL, false, hold_s);
			if (r < 0)
				return r;
			continue;
		}

		/* SQUEEZE: a strictly higher-priority tenant and the host are under pressure now. */
		if (squeeze_active && t->priority < squeeze_top) {
			if (t->priority != squeeze_level)
				continue; /* held; its turn comes when lower levels are exhausted */
			if (!lower_target(t, p, step_bytes(t, p->step_percent), 0, &target))
				continue;
			if (rate_limited(t, p, now, &wakeup))
				continue;
			r = add_action(actions, n_actions, &n, s, i, target, CONTROL_REASON_SQUEEZE,
				       tenant_name(&s->tenants[squeeze_idx]), squeeze_for_risk, hold_s);
			if (r < 0)
				return r;
			continue;
		}

		/* RAISE: this tenant and the host are under pressure, nobody more important recently.
		 * Only from the baseline up: a squeezed tenant comes back by RELAX steps, gradually, so
		 * the room it gave up is not snatched back from the tenant that needed it. */
		if (host_now && controller_tenant_pressured(t, p, now) && t->high >= baseline) {
			if (t->priority < max_recent)
				continue; /* a more important tenant's pressure is recent: stay put */
			if (!raise_target(t, step_bytes(t, p->step_percent), t->high_max, &target))
				continue;
			if (rate_limited(t, p, now, &wakeup))
				continue;
			r = add_action(actions, n_actions, &n, s, i, target, CONTROL_REASON_RAISE, NULL, false, hold_s);
			if (r < 0)
				return r;
			continue;
		}

		/* RELAX: the reason that moved it away from the baseline has been gone for HoldSec. */
		if (t->high < baseline) {
			if (host_recent && t->priority < max_recent)
				continue;
			if (!relax_up_target(t, step_bytes(t, p->relax_percent), baseline, &target))
				continue;
		} else if (t->high > baseline) {
			if (host_recent && tenant_recent(t, p, now))
				continue;
			if (!lower_target(t, p, step_bytes(t, p->relax_percent), baseline, &target))
				continue;
		} else
			continue;
		if (rate_limited(t, p, now, &wakeup))
			continue;
		r = add_action(actions, n_actions, &n, s, i, target, CONTROL_REASON_RELAX, NULL, false, hold_s);
		if (r < 0)
			return r;
	}

	/* Hold and episode expiry only matter while someone is away from its baseline. */
	if (off_baseline)
		wakeup = min_u64(wakeup, recency_wakeup);
	if (wakeup <= now)
		wakeup = CONTROL_NO_WAKEUP; /* defensive: never ask for a busy loop */
	if (ret_next_wakeup)
		*ret_next_wakeup = wakeup;
	return (int) n;
}

int controller_step(ControlState *s, const ControlParams *p, const ControlEvent *ev, uint64_t now,
		    ControlAction *actions, size_t n_actions, uint64_t *ret_next_wakeup)
{
	int r;

	r = controller_note_event(s, p, ev, now);
	if (r < 0)
		return r;
	return controller_decide(s, p, now, actions, n_actions, ret_next_wakeup);
}

void controller_write_done(ControlState *s, size_t tenant, uint64_t new_high, uint64_t now)
{
	if (!s || tenant >= s->n_tenants)
		return;
	s->tenants[tenant].high = new_high;
	s->tenants[tenant].last_write_usec = now;
	s->tenants[tenant].busy = false;
}
