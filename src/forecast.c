/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The OOM forecast model; see forecast.h for what it computes and the level rules. Arithmetic on the
 * state handed in: no I/O, no clock, no logging, no allocation.
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "forecast.h"
#include "util.h"

static const char *const level_names[_RISK_LEVEL_MAX] = {
	[RISK_OK] = "ok",
	[RISK_WATCH] = "watch",
	[RISK_WARNING] = "warning",
	[RISK_CRITICAL] = "critical",
	[RISK_OOM] = "oom",
};

static const char *const limit_kind_names[_FORECAST_LIMIT_MAX] = {
	[FORECAST_LIMIT_OWN] = "memory.max",
	[FORECAST_LIMIT_ANCESTOR] = "ancestor memory.max",
	[FORECAST_LIMIT_HOST] = "host memory",
};

const char *risk_level_to_string(RiskLevel l)
{
	if (l < 0 || l >= _RISK_LEVEL_MAX)
		return NULL;
	return level_names[l];
}

RiskLevel risk_level_from_string(const char *s)
{
	if (!s)
		return _RISK_LEVEL_INVALID;
	for (int l = 0; l < _RISK_LEVEL_MAX; l++)
		if (streq(s, level_names[l]))
			return (RiskLevel) l;
	return _RISK_LEVEL_INVALID;
}

const char *forecast_limit_kind_to_string(ForecastLimitKind k)
{
	if (k < 0 || k >= _FORECAST_LIMIT_MAX)
		return NULL;
	return limit_kind_names[k];
}

static uint64_t sub0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

void forecast_measure(const ForecastRaw *raw, ForecastMeasure *ret)
{
	uint64_t kernel = sub0(raw->kernel, raw->slab_reclaimable), resident, headroom = UINT64_MAX, swap_room;
	ForecastMeasure m = { .limit_kind = FORECAST_LIMIT_HOST };

	resident = add_sat(add_sat(raw->anon, raw->shmem), kernel);
	m.demand = add_sat(resident, raw->swap_current);

	/* The tenant's own limit: its page cache can be reclaimed to make room. */
	if (raw->max != UINT64_MAX) {
		headroom = sub0(raw->max, sub0(raw->current, raw->file));
		m.limit = raw->max;
		m.usage = raw->current;
		m.limit_kind = FORECAST_LIMIT_OWN;
	}
	/* An ancestor's: the siblings' usage counts against it (their cache too: conservative). */
	for (size_t i = 0; i < raw->n_ancestors && i < FORECAST_MAX_ANCESTORS; i++) {
		const ForecastAncestor *a = &raw->ancestors[i];
		uint64_t h;

		if (a->max == UINT64_MAX)
			continue;
		h = add_sat(sub0(a->max, a->current), raw->file);
		if (h < headroom) {
			headroom = h;
			m.limit = a->max;
			m.usage = a->current;
			m.limit_kind = FORECAST_LIMIT_ANCESTOR;
		}
	}
	/* The host's memory is the last limit: MemAvailable counts reclaimable cache already. */
	if (raw->mem_total > 0 && raw->mem_available < headroom) {
		headroom = raw->mem_available;
		m.limit = raw->mem_total;
		m.usage = sub0(raw->mem_total, raw->mem_available);
		m.limit_kind = FORECAST_LIMIT_HOST;
	}
	if (headroom == UINT64_MAX)
		headroom = 0; /* nothing known: no room claimed */

	swap_room = min_u64(sub0(raw->swap_max, raw->swap_current), raw->swap_free);
	m.swap_room = swap_room;
	m.room = add_sat(headroom, swap_room);
	*ret = m;
}

void forecast_init(ForecastState *s)
{
	*s = (ForecastState) { .level = RISK_OK };
}

static const ForecastSample *sample_at(const ForecastState *s, size_t age)
{
	/* age 0 = newest */
	return &s->ring[(s->head + FORECAST_MAX_SAMPLES - 1 - age) % FORECAST_MAX_SAMPLES];
}

/* Least squares of demand over time for the samples not older than window before the newest. */
static bool fit(const ForecastState *s, uint64_t window_usec, size_t min_samples, double *ret_slope, double *ret_r2)
{
	const ForecastSample *newest;
	double st = 0, sy = 0, stt = 0, sty = 0, syy = 0, n = 0, var_t, var_y, cov;
	size_t k;

	if (s->n == 0)
		return false;
	newest = sample_at(s, 0);
	for (k = 0; k < s->n; k++) {
		const ForecastSample *x = sample_at(s, k);
		double t, y;

		if (newest->t - x->t > window_usec)
			break;
		t = -(double) (newest->t - x->t) / 1e6;
		y = (double) x->demand + s->hot_fraction * (double) x->file;
		st += t;
		sy += y;
		stt += t * t;
		sty += t * y;
		syy += y * y;
		n++;
	}
	if (k < min_samples)
		return false;
	var_t = stt - st * st / n;
	var_y = syy - sy * sy / n;
	cov = sty - st * sy / n;
	if (var_t <= 0)
		return false;
	*ret_slope = cov / var_t;
	*ret_r2 = var_y > 0 ? cov * cov / (var_t * var_y) : 1.0;
	return true;
}

bool forecast_growth(const ForecastState *s, uint64_t window_usec, uint64_t min_growth, double *ret_growth,
		     double *ret_r2)
{
	double slope, r2, recent, recent_r2;

	if (!fit(s, window_usec, FORECAST_MIN_SAMPLES, &slope, &r2))
		return false;
	/*
	 * The last seconds must grow too: a step that stopped or a sawtooth going down is no trend.
	 * Only "not growing" counts here, not "growing slower": a leaking process that a loaded
	 * machine runs in bursts still leaks.
	 */
	if (!fit(s, FORECAST_RECENT_USEC, 3, &recent, &recent_r2))
		return false;
	*ret_growth = recent < (double) min_growth ? recent : slope;
	*ret_r2 = r2;
	return true;
}

static void push(ForecastState *s, const ForecastInput *in)
{
	s->ring[s->head] = (ForecastSample) { .t = in->now, .demand = in->m.demand, .file = in->file,
					       .refaults = in->refaults };
	s->head = (s->head + 1) % FORECAST_MAX_SAMPLES;
	if (s->n < FORECAST_MAX_SAMPLES)
		s->n++;
}

/* Thrashing: file refaults within FORECAST_THRASH_WINDOW_USEC >= ThrashPercent= of the file pages. */
static void update_thrashing(ForecastState *s, const ForecastParams *p, const ForecastInput *in)
{
	uint64_t refaulted;

	if (s->refault_t == 0 || in->refaults < s->refault_ref) {
		s->refault_t = in->now;
		s->refault_ref = in->refaults;
		return;
	}
	refaulted = (in->refaults - s->refault_ref) * 4096;
	if (refaulted >= (in->file / 100) * p->thrash_percent && refaulted > 0)
		s->thrashing = true;
	if (in->now - s->refault_t >= FORECAST_THRASH_WINDOW_USEC) {
		s->thrashing = refaulted >= (in->file / 100) * p->thrash_percent && refaulted > 0;
		s->refault_t = in->now;
		s->refault_ref = in->refaults;
	}
	if (!s->thrashing)
		s->thrash_since = 0;
	else if (s->thrash_since == 0)
		s->thrash_since = s->n > 0 ? sample_at(s, 0)->t : in->now;
}

/*
 * The file pages that count as unreclaimable now: while thrashing, what the tenant refaults within
 * FORECAST_THRASH_WINDOW_USEC at the rate seen since the episode began (at most the last window),
 * capped at its file pages. The rate, not the count, so the onset is a step, not a ramp as long as
 * the window (a ramp that long would pass for a trend).
 */
static uint64_t hot_file(const ForecastState *s, const ForecastInput *in)
{
	const ForecastSample *from = NULL;
	double rate;

	if (!s->thrashing || s->thrash_since == 0)
		return 0;
	for (size_t k = 0; k < s->n; k++) {
		const ForecastSample *x = sample_at(s, k);

		if (x->t < s->thrash_since || in->now - x->t > FORECAST_THRASH_WINDOW_USEC)
			break;
		from = x;
	}
	if (!from || in->now - from->t < USEC_PER_SEC || in->refaults < from->refaults)
		return 0;
	rate = (double) (in->refaults - from->refaults) * 4096.0 / ((double) (in->now - from->t) / 1e6);
	return min_u64(in->file, (uint64_t) (rate * (double) FORECAST_THRASH_WINDOW_USEC / 1e6));
}

static bool held(uint64_t since, uint64_t now, uint64_t duration)
{
	return since != 0 && now - since >= duration;
}

/* A condition's start; one sample without it is forgiven (a loaded machine samples unevenly). */
static void track(uint64_t *since, unsigned *misses, bool cond, uint64_t now)
{
	if (cond) {
		*misses = 0;
		if (*since == 0)
			*since = now;
	} else if (++*misses >= 2)
		*since = 0;
}

static void format_mib(char *buf, size_t n, double bytes)
{
	(void) snprintf(buf, n, "%.1f MiB", bytes / (1024.0 * 1024.0));
}

int forecast_step(ForecastState *s, const ForecastParams *p, const ForecastInput *in, ForecastResult *ret)
{
	bool enter[_RISK_LEVEL_MAX] = {}, stay[_RISK_LEVEL_MAX] = {}, have_growth, critical_event, near, stalled;
	double growth = 0, r2 = 0, eta_s = INFINITY;
	uint64_t now = in ? in->now : 0, total;
	RiskLevel level = RISK_OK, cur;
	ForecastResult r = {};
	char room[32], rate[32], hot[32];

	if (!s || !p || !in || !ret || now == 0)
		return -EINVAL;
	if (s->n > 0 && now <= sample_at(s, 0)->t)
		return -EINVAL;

	cur = s->level == RISK_OOM ? RISK_WATCH : s->level;
	r.previous = s->level;

	if (in->d_oom_kill > 0) {
		/* The kernel killed: the history describes a process that is gone. */
		forecast_init(s);
		s->level = RISK_OOM;
		s->last_emit = now;
		r.level = RISK_OOM;
		r.changed = true;
		r.sampling = true;
		r.eta_usec = 0;
		r.m = in->m;
		(void) snprintf(r.reason, sizeof(r.reason), "memory.events oom_kill +%llu: the kernel OOM-killed in the cgroup",
				(unsigned long long) in->d_oom_kill);
		*ret = r;
		return 0;
	}

	update_thrashing(s, p, in);
	r.hot_file = hot_file(s, in);
	r.m = in->m;
	if (r.hot_file > 0) {
		uint64_t memory_room = sub0(r.m.room, r.m.swap_room);

		/* Hot file pages are resident: they take memory, not swap, and cannot make room. */
		r.m.demand = add_sat(r.m.demand, r.hot_file);
		r.m.room = add_sat(sub0(memory_room, r.hot_file), r.m.swap_room);
	}
	s->hot_fraction = in->file > 0 ? (double) r.hot_file / (double) in->file : 0;
	push(s, in);

	have_growth = forecast_growth(s, p->window_usec, p->min_growth_bytes, &growth, &r2) && r2 >= 0.5 &&
		      growth >= (double) p->min_growth_bytes;
	if (have_growth)
		eta_s = (double) r.m.room / growth;
	r.growth = have_growth ? growth : 0;
	r.fit_r2 = r2;
	r.eta_usec = have_growth && eta_s * 1e6 < (double) UINT64_MAX / 2 ? (uint64_t) (eta_s * 1e6) : FORECAST_NO_ETA;

	total = add_sat(in->m.demand, in->m.room);
	near = total > 0 && in->m.demand >= total / 100 * p->watch_percent;
	/*
	 * Stalled at the limit with the unreclaimable part near it, hot file pages left out: a cache
	 * thrasher stalls at its limit for as long as it runs, and that is no OOM coming.
	 */
	stalled = near && in->psi_full >= (double) p->pressure_percent && in->d_max > 0;
	enter[RISK_WATCH] = near ||
			    eta_s * 1e6 < (double) p->watch_usec || (in->psi_some >= (double) p->pressure_percent) ||
			    s->thrashing || in->d_max > 0;
	stay[RISK_WATCH] = enter[RISK_WATCH];

	enter[RISK_WARNING] = eta_s * 1e6 < (double) p->warning_usec || stalled;
	stay[RISK_WARNING] = eta_s * 1e6 < 2.0 * (double) p->warning_usec || stalled;

	critical_event = in->d_oom > 0 || in->charge_fails >= FORECAST_CHARGE_FAIL_CRITICAL;
	enter[RISK_CRITICAL] = eta_s * 1e6 < (double) p->critical_usec || critical_event;
	stay[RISK_CRITICAL] = eta_s * 1e6 < 2.0 * (double) p->critical_usec || critical_event;

	for (int l = RISK_WATCH; l <= RISK_CRITICAL; l++) {
		track(&s->enter_since[l], &s->enter_misses[l], enter[l], now);
		if (stay[l])
			s->stay_lost_at[l] = 0;
		else if (s->stay_lost_at[l] == 0)
			s->stay_lost_at[l] = now;
	}

	/* Levels kept (hysteresis), then levels entered (after their minimum durations). */
	for (int l = RISK_WATCH; l <= RISK_CRITICAL; l++)
		if ((int) cur >= l && (s->stay_lost_at[l] == 0 || now - s->stay_lost_at[l] < p->hold_usec))
			level = (RiskLevel) l;
	if (enter[RISK_WATCH] && level < RISK_WATCH)
		level = RISK_WATCH;
	if (held(s->enter_since[RISK_WARNING], now, p->min_duration_usec) && level < RISK_WARNING)
		level = RISK_WARNING;
	if ((critical_event || (level >= RISK_WARNING &&
				held(s->enter_since[RISK_CRITICAL], now, p->critical_duration_usec))) &&
	    level < RISK_CRITICAL)
		level = RISK_CRITICAL;

	format_mib(room, sizeof(room), (double) r.m.room);
	format_mib(rate, sizeof(rate), growth);
	format_mib(hot, sizeof(hot), (double) r.hot_file);
	if (critical_event)
		(void) snprintf(r.reason, sizeof(r.reason), "%s at %s: memory.events oom +%llu, %llu charge failures",
				in->d_oom > 0 ? "charge failed" : "charges failing",
				forecast_limit_kind_to_string(in->m.limit_kind), (unsigned long long) in->d_oom,
				(unsigned long long) in->charge_fails);
	else if (have_growth)
		(void) snprintf(r.reason, sizeof(r.reason), "unreclaimable memory%s growing %s/s, %s left before %s%s",
				r.hot_file > 0 ? " (thrashed page cache included)" : "", rate, room,
				forecast_limit_kind_to_string(in->m.limit_kind),
				in->m.swap_room > 0 ? " (swap included)" : "");
	else if (stalled)
		(void) snprintf(r.reason, sizeof(r.reason), "PSI full %.1f%% with memory.max being hit", in->psi_full);
	else if (s->thrashing)
		(void) snprintf(r.reason, sizeof(r.reason),
				"thrashing on file refaults: %s of page cache counted as unreclaimable, not growing", hot);
	else if (enter[RISK_WATCH])
		(void) snprintf(r.reason, sizeof(r.reason), "near %s: %s left, no growth trend",
				forecast_limit_kind_to_string(in->m.limit_kind), room);
	else
		(void) snprintf(r.reason, sizeof(r.reason), "%s left before %s, no growth trend", room,
				forecast_limit_kind_to_string(in->m.limit_kind));

	r.level = level;
	r.changed = level != s->level;
	if (r.changed)
		s->last_emit = now;
	else if (level == RISK_CRITICAL && now - s->last_emit >= p->repeat_usec) {
		r.repeat = true;
		s->last_emit = now;
	}
	s->level = level;
	if (s->busy_at == 0 || level > RISK_OK || enter[RISK_WATCH] || have_growth)
		s->busy_at = now;
	r.sampling = now - s->busy_at < p->window_usec;
	*ret = r;
	return 0;
}
