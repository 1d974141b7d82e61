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

static uint64_t step_bytes(const ControlTenant *t, unsigned percent);

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

bool controller_tenant_demand(const ControlTenant *t, const ControlParams *p, uint64_t now)
{
	if (!t->active)
		return false;
	if (controller_tenant_pressured(t, p, now) || t->at_risk)
		return true; /* at risk of an OOM (issue 9): it still needs the room it was given */
	/* Never pressured: never the cause of a squeeze. Released since: the need is gone. */
	if (t->last_pressure_usec == 0 || t->hist.released_usec > t->last_pressure_usec)
		return false;
	if (tenant_recent(t, p, now))
		return true;
	return t->hist.last_active_usec != 0 && now < sat_add(t->hist.last_active_usec, p->hold_usec);
}

/* When controller_tenant_demand() may turn false without new input; CONTROL_NO_WAKEUP if never. */
static uint64_t demand_next_change(const ControlTenant *t, const ControlParams *p, uint64_t now)
{
	uint64_t w = episode_next_change(t->pressured, t->last_pressure_usec, grace_usec(p), p->hold_usec, now);
	uint64_t a = sat_add(t->hist.last_active_usec, p->hold_usec);

	if (t->hist.last_active_usec != 0 && a > now)
		w = w == CONTROL_NO_WAKEUP ? a : max_u64(w, a);
	return w;
}

int controller_note_sample(ControlState *s, const ControlParams *p, size_t i, const ControlSample *sm,
			   uint64_t now)
{
	ControlTenant *t;
	ControlHistory *h;
	uint64_t baseline;

	if (!s || !p || !sm || now == 0 || i >= s->n_tenants)
		return -EINVAL;
	t = &s->tenants[i];
	h = &t->hist;
	baseline = control_baseline(t->baseline, t->high_min, t->high_max);

	/* Activity: compared over at least CONTROL_SAMPLE_MIN_USEC; closer samples accumulate. */
	if (h->sample_usec == 0 || now < h->sample_usec) {
		h->sample_usec = now;
		h->cpu_usec = sm->cpu_usec;
		h->refaults = sm->refaults;
	} else if (now - h->sample_usec >= CONTROL_SAMPLE_MIN_USEC) {
		uint64_t dt = now - h->sample_usec;
		bool ran = sm->cpu_usec > h->cpu_usec &&
			   (sm->cpu_usec - h->cpu_usec) * 100 >= dt * CONTROL_ACTIVE_CPU_PERCENT;

		if (ran || sm->refaults > h->refaults)
			h->last_active_usec = now;
		/* Refaulting fast: it wants back memory it had, which is pressure whatever PSI says. */
		if (sm->refaults > h->refaults &&
		    (sm->refaults - h->refaults) * USEC_PER_SEC >= CONTROL_REFAULT_PRESSURE_PAGES * dt)
			episode_start(&t->pressured, &t->last_pressure_usec, now);
		h->sample_usec = now;
		h->cpu_usec = sm->cpu_usec;
		h->refaults = sm->refaults;
	}

	/*
	 * Usage: a fall below half the peak is a release (the tenant exited or gave its memory up),
	 * unless the tenant is under pressure (PSI, or the refaults above): then reclaim took what it
	 * still wants (issue 17: a thrashing tenant pushed down by its parent's limit).
	 */
	if (sm->current >= h->usage_peak)
		h->usage_peak = sm->current;
	else if (sm->current < h->usage_peak / CONTROL_RELEASE_DIVISOR &&
		 h->usage_peak - sm->current >= CONTROL_RELEASE_MIN && !controller_tenant_pressured(t, p, now)) {
		h->released_usec = now;
		h->usage_peak = sm->current;
	}

	/* memory.high moves since the previous sample: a lowering below the baseline after a relax
	 * means pressure came back at the relaxed level; remember it. */
	if (h->seen) {
		if (t->high > h->seen_high && h->seen_high < baseline)
			h->relaxed_up = true;
		else if (t->high < h->seen_high && t->high < baseline) {
			/* The cause: the most important tenant above it under pressure (or at risk) now. */
			int top = t->priority;

			for (size_t j = 0; j < s->n_tenants; j++)
				if (s->tenants[j].active && s->tenants[j].priority > top &&
				    (controller_tenant_pressured(&s->tenants[j], p, now) || s->tenants[j].at_risk)) {
					top = s->tenants[j].priority;
					h->has_cause = true;
					h->cause = j;
					h->cause_priority = top;
				}
			if (h->relaxed_up && p->relax_ceiling_usec > 0) {
				h->ceiling = min_u64(h->seen_high, h->seen_current);
				h->ceiling_usec = now;
			}
			h->relaxed_up = false;
		}
	}
	h->seen = true;
	h->seen_high = t->high;
	h->seen_current = sm->current;
	t->current = sm->current;
	return 0;
}

/* HOLD: whether the tenant that caused t's squeeze (any more important one, if unknown) has demand. */
static bool held_by_demand(const ControlState *s, const ControlTenant *t, const ControlParams *p, uint64_t now,
			   int max_demand)
{
	const ControlHistory *h = &t->hist;

	if (h->has_cause && h->cause < s->n_tenants && s->tenants[h->cause].priority == h->cause_priority &&
	    h->cause_priority > t->priority)
		return controller_tenant_demand(&s->tenants[h->cause], p, now);
	return t->priority < max_demand;
}

/* The learned ceiling of a squeezed tenant, if it is in force: *ret = highest level a relax may reach. */
static bool ceiling_in_force(const ControlState *s, const ControlTenant *t, const ControlParams *p, uint64_t now,
			     uint64_t *ret, uint64_t *wakeup)
{
	const ControlHistory *h = &t->hist;
	uint64_t until;
	bool cause = false;

	if (h->ceiling_usec == 0 || p->relax_ceiling_usec == 0)
		return false;
	until = sat_add(h->ceiling_usec, p->relax_ceiling_usec);
	if (now >= until)
		return false;
	/* Only while a more important tenant that could bring the pressure back is still there. */
	for (size_t j = 0; j < s->n_tenants && !cause; j++)
		cause = s->tenants[j].active && s->tenants[j].priority > t->priority &&
			s->tenants[j].hist.released_usec <= h->ceiling_usec;
	if (!cause)
		return false;
	*ret = max_u64(sat_sub(h->ceiling, step_bytes(t, p->step_percent)), t->high_min);
	*wakeup = min_u64(*wakeup, until);
	return true;
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
	case CONTROL_EVENT_OVER_HIGH:
	case CONTROL_EVENT_CHARGE_FAIL:
		t->signal_usec = now;
		episode_start(&t->pressured, &t->last_pressure_usec, now);
		break;
	case CONTROL_EVENT_PRESSURE:
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
 *
 * A squeeze (from_usage) steps down from the usage when memory.high is above it: from "max", or
 * from a limit the tenant has fallen below because an ancestor's limit reclaimed it (issue 17:
 * a low tenant at 29M under a memory.high of 111M). A step from memory.high would free nothing
 * until it reached the usage, and meanwhile the ancestor's own reclaim takes the room from every
 * tenant under it, the more important ones included. A relax down toward the baseline keeps
 * stepping from memory.high (from "max": the usage).
 */
static bool lower_target(const ControlTenant *t, const ControlParams *p, uint64_t amount, uint64_t floor_extra,
			 bool from_usage, uint64_t *ret)
{
	uint64_t from, floor, target;

	if (from_usage || t->high == MEMQOSD_BYTES_MAX)
		from = min_u64(t->high, t->current);
	else
		from = t->high;
	floor = max_u64(max_u64(t->high_min, floor_extra), sat_sub(t->current, p->headroom_bytes));
	target = max_u64(sat_sub(from, amount), floor);
	target = min_u64(target, t->high_max);
	if (target >= t->high)
		return false;
	*ret = target;
	return true;
}

bool controller_signal_contended(const ControlState *s, const ControlParams *p, size_t i, bool sharing,
				 uint64_t now)
{
	const ControlTenant *t;
	uint64_t fresh;

	if (!s || !p || i >= s->n_tenants || !sharing || !s->limit_known)
		return false;
	t = &s->tenants[i];
	fresh = CONTROL_SIGNAL_FRESH_WINDOWS * (p->psi_window_usec > 0 ? p->psi_window_usec : USEC_PER_SEC);
	if (!t->active || t->signal_usec == 0 || now < t->signal_usec || now - t->signal_usec > fresh)
		return false;
	/* The ancestor cannot give the tenant its next step and keep Headroom= free. */
	return s->limit_room < sat_add(step_bytes(t, p->step_percent), p->headroom_bytes);
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
		      uint64_t new_high, ControlReason reason, const char *fmt_tenant, const char *where,
		      uint64_t ceiling, bool for_risk)
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
					"squeeze: higher-priority tenant %s under pressure while %s", fmt_tenant, where);
		break;
	case CONTROL_REASON_RAISE:
		(void) snprintf(a->text, sizeof(a->text),
				"raise: %s under pressure while %s, no higher-priority tenant is",
				tenant_name(t), where);
		break;
	case CONTROL_REASON_RELAX:
		if (ceiling != MEMQOSD_BYTES_MAX)
			(void) snprintf(a->text, sizeof(a->text),
					"relax toward learned level %llu: no higher-priority demand, pressure came back "
					"above it", (unsigned long long) ceiling);
		else
			(void) snprintf(a->text, sizeof(a->text),
					"relax toward baseline: no higher-priority demand (pressure, activity or "
					"usage) left");
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
	uint64_t grace, wakeup = CONTROL_NO_WAKEUP, recency_wakeup = CONTROL_NO_WAKEUP;
	bool host_now, contended, off_baseline = false, squeeze_active, squeeze_for_risk = false;
	int top_now = -1, max_recent = -1, max_demand = -1, squeeze_level = -1, top_risk = -1, squeeze_top;
	const char *where;
	size_t top_idx = 0, risk_idx = 0, squeeze_idx, n = 0;
	int r;

	if (!s || !p || now == 0 || (s->n_tenants > 0 && !s->tenants) || (n_actions > 0 && !actions))
		return -EINVAL;

	grace = grace_usec(p);
	host_now = episode_open(s->host_pressured, s->host_last_pressure_usec, grace, now);
	contended = host_now || s->limit_near;
	where = host_now ? "the host is" : "its parent is near its limit";
	if (!host_now && s->limit_where)
		where = s->limit_where;
	/* FIRST SIGNAL: a pressured tenant's fresh over-high / charge failure the ancestor has no room for. */
	if (!contended) {
		size_t n_active = 0;

		for (size_t i = 0; i < s->n_tenants && n_active < 2; i++)
			n_active += s->tenants[i].active;
		for (size_t i = 0; i < s->n_tenants && !contended && n_active >= 2; i++)
			if (controller_signal_contended(s, p, i, true, now)) {
				contended = true;
				where = s->room_where ?: "its parent has no room for its next step";
			}
	}
	recency_wakeup = episode_next_change(s->host_pressured, s->host_last_pressure_usec, grace, p->hold_usec,
					     now);

	/* Who is under pressure now, who was recently, and who still has demand. */
	for (size_t i = 0; i < s->n_tenants; i++) {
		const ControlTenant *t = &s->tenants[i];

		if (!t->active)
			continue;
		recency_wakeup = min_u64(recency_wakeup, demand_next_change(t, p, now));
		if (t->high != control_baseline(t->baseline, t->high_min, t->high_max))
			off_baseline = true;
		if (tenant_recent(t, p, now) && t->priority > max_recent)
			max_recent = t->priority;
		if (controller_tenant_demand(t, p, now) && t->priority > max_demand)
			max_demand = t->priority;
		if (controller_tenant_pressured(t, p, now) && t->priority > top_now) {
			top_now = t->priority;
			top_idx = i;
		}
		if (t->at_risk && t->priority > top_risk) {
			top_risk = t->priority;
			risk_idx = i;
		}
	}
	/*
	 * Squeeze for the most important tenant under pressure while there is contention, or for the
	 * most important one the OOM forecast puts at risk against a shared limit (issue 9).
	 */
	squeeze_top = contended ? top_now : -1;
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
				can = lower_target(t, p, step_bytes(t, p->step_percent), 0, true, &target);
			if (can && (squeeze_level < 0 || t->priority < squeeze_level))
				squeeze_level = t->priority;
		}

	for (size_t i = 0; i < s->n_tenants; i++) {
		const ControlTenant *t = &s->tenants[i];
		uint64_t baseline, target, ceiling = MEMQOSD_BYTES_MAX;

		if (!t->active || t->busy)
			continue;
		baseline = control_baseline(t->baseline, t->high_min, t->high_max);

		/* CLAMP: bounds first, whatever else is going on. */
		if (t->high > t->high_max || t->high < t->high_min) {
			if (rate_limited(t, p, now, &wakeup))
				continue;
			r = add_action(actions, n_actions, &n, s, i,
				       t->high > t->high_max ? t->high_max : t->high_min,
				       CONTROL_REASON_CLAMP, NULL, where, ceiling, false);
			if (r < 0)
				return r;
			continue;
		}

		/* SQUEEZE: a strictly higher-priority tenant is under pressure with contention, or at risk. */
		if (squeeze_active && t->priority < squeeze_top) {
			if (t->priority != squeeze_level)
				continue; /* held; its turn comes when lower levels are exhausted */
			if (!lower_target(t, p, step_bytes(t, p->step_percent), 0, true, &target))
				continue;
			if (rate_limited(t, p, now, &wakeup))
				continue;
			r = add_action(actions, n_actions, &n, s, i, target, CONTROL_REASON_SQUEEZE,
				       tenant_name(&s->tenants[squeeze_idx]), where, ceiling, squeeze_for_risk);
			if (r < 0)
				return r;
			continue;
		}

		/* RAISE: this tenant is under pressure with contention, nobody more important recently.
		 * Only from the baseline up: a squeezed tenant comes back by RELAX steps, gradually, so
		 * the room it gave up is not snatched back from the tenant that needed it. */
		if (contended && controller_tenant_pressured(t, p, now) && t->high >= baseline) {
			if (t->priority < max_recent)
				continue; /* a more important tenant's pressure is recent: stay put */
			if (!raise_target(t, step_bytes(t, p->step_percent), t->high_max, &target))
				continue;
			if (rate_limited(t, p, now, &wakeup))
				continue;
			r = add_action(actions, n_actions, &n, s, i, target, CONTROL_REASON_RAISE, NULL, where,
				       ceiling, false);
			if (r < 0)
				return r;
			continue;
		}

		/* HOLD, then RELAX once the demand that moved it away from the baseline is gone. */
		if (t->high < baseline) {
			uint64_t limit = baseline;

			if (held_by_demand(s, t, p, now, max_demand))
				continue; /* the more important tenant that caused it still holds or wants the memory */
			if (ceiling_in_force(s, t, p, now, &ceiling, &wakeup))
				limit = min_u64(limit, ceiling);
			else
				ceiling = MEMQOSD_BYTES_MAX;
			if (!relax_up_target(t, step_bytes(t, p->relax_percent), limit, &target))
				continue;
		} else if (t->high > baseline) {
			if (controller_tenant_demand(t, p, now))
				continue;
			if (!lower_target(t, p, step_bytes(t, p->relax_percent), baseline, false, &target))
				continue;
		} else
			continue;
		if (rate_limited(t, p, now, &wakeup))
			continue;
		r = add_action(actions, n_actions, &n, s, i, target, CONTROL_REASON_RELAX, NULL, where, ceiling, false);
		if (r < 0)
			return r;
	}

	/* Hold, demand and episode expiry only matter while someone is away from its baseline. */
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

ControlReclaim controller_reclaim_after_write(uint64_t high, uint64_t current, bool interrupted, bool paused,
					      unsigned rounds)
{
	if (high == MEMQOSD_BYTES_MAX || current <= sat_add(high, CONTROL_RECLAIM_SLACK))
		return CONTROL_RECLAIM_DONE;
	if (rounds >= CONTROL_RECLAIM_ROUNDS_MAX)
		return CONTROL_RECLAIM_DONE;
	if (paused)
		return interrupted ? CONTROL_RECLAIM_PAUSED : CONTROL_RECLAIM_DONE;
	return interrupted ? CONTROL_RECLAIM_AGAIN : CONTROL_RECLAIM_PAUSED;
}

void controller_write_done(ControlState *s, size_t tenant, uint64_t new_high, uint64_t now)
{
	if (!s || tenant >= s->n_tenants)
		return;
	s->tenants[tenant].high = new_high;
	s->tenants[tenant].last_write_usec = now;
	s->tenants[tenant].busy = false;
}
