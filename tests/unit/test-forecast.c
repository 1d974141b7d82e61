/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of src/forecast.c, the OOM forecast model.
 *
 * A small simulator produces one sample per second of a workload described by a table row: how its
 * anon memory and page cache evolve, its memory.max, the swap it may use. Memory above memory.max
 * goes to swap while there is swap; the kernel "OOM-kills" when anon no longer fits in memory.max
 * plus swap (then memory.events oom_kill rises, and the workload stops). The model sees what
 * memqosd would read. Each row states what must happen: the warning and critical lead before the
 * OOM, the ETA accuracy at the warning, or that no warning ever comes.
 */

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "forecast.h"
#include "util.h"

#define MIB(x) ((uint64_t) (x) << 20)
#define SEC(x) ((uint64_t) (x) * USEC_PER_SEC)

typedef enum Shape {
	LEAK,      /* anon = base + rate * t */
	SAWTOOTH,  /* anon ramps from base by amplitude over ramp seconds, drops, pauses, repeats */
	READER,    /* anon = base; page cache fills what is left and keeps refaulting */
	STEP,      /* anon = base, then base + amplitude from t = ramp */
	NOISY,     /* LEAK plus deterministic noise of +-amplitude */
	LEAK_STOP, /* LEAK until t = ramp, then flat */
	BURSTY,    /* LEAK that runs for ramp seconds, then stalls (descheduled) for period - ramp */
} Shape;

typedef struct Workload {
	const char *name;
	Shape shape;
	unsigned base, rate, amplitude, ramp, period; /* MiB, MiB/s, MiB, s, s */
	unsigned limit;                               /* memory.max, MiB */
	unsigned swap;                                /* swap the tenant may fill, MiB */
	unsigned seconds;                             /* how long to run (ends earlier at an OOM) */
	/* expectations */
	bool expect_oom;
	RiskLevel max_level_without_oom;              /* highest level allowed if no OOM is expected */
	RiskLevel final_level;                        /* ... and where it must end */
} Workload;

typedef struct Outcome {
	int oom_at;                    /* second of the OOM kill, -1 none */
	int level_at[_RISK_LEVEL_MAX]; /* first second at each level, -1 never */
	double eta_at_warning;         /* seconds */
	RiskLevel max_level;
	unsigned changes;
	unsigned downs_before_oom;     /* level decreases before the OOM */
	RiskLevel final_level;
} Outcome;

static uint64_t lcg(uint64_t *x)
{
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return *x >> 33;
}

static double anon_mib(const Workload *w, unsigned t, uint64_t *rng)
{
	switch (w->shape) {
	case LEAK:
		return w->base + (double) w->rate * t;
	case LEAK_STOP:
		return w->base + (double) w->rate * (t < w->ramp ? t : w->ramp);
	case NOISY:
		return w->base + (double) w->rate * t + ((double) (lcg(rng) % 2001) / 1000.0 - 1.0) * w->amplitude;
	case SAWTOOTH: {
		unsigned ph = t % w->period;

		return ph < w->ramp ? w->base + (double) w->amplitude * ph / w->ramp : w->base;
	}
	case BURSTY:
		return w->base + (double) w->rate * ((t / w->period) * w->ramp + (t % w->period < w->ramp ? t % w->period : w->ramp));
	case READER:
		return w->base;
	case STEP:
		return t < w->ramp ? w->base : w->base + w->amplitude;
	}
	return 0;
}

static void run(const Workload *w, const ForecastParams *p, Outcome *o)
{
	ForecastState s;
	uint64_t rng = 42, refaults = 0, oom_kills = 0, prev_kills = 0;
	RiskLevel last = RISK_OK;

	forecast_init(&s);
	*o = (Outcome) { .oom_at = -1, .eta_at_warning = -1 };
	for (int l = 0; l < _RISK_LEVEL_MAX; l++)
		o->level_at[l] = -1;

	for (unsigned t = 1; t <= w->seconds; t++) {
		double anon = anon_mib(w, t, &rng), in_mem, swapped = 0, file;
		ForecastRaw raw = {};
		ForecastInput in = {};
		ForecastResult r;
		bool dead = o->oom_at >= 0;

		if (anon < 0)
			anon = 0;
		/* Above memory.max, anon goes to swap while there is swap; beyond that, the OOM killer. */
		in_mem = anon;
		if (in_mem > w->limit) {
			swapped = in_mem - w->limit;
			in_mem = w->limit;
		}
		if (!dead && swapped > w->swap) {
			oom_kills++;
			o->oom_at = (int) t;
			dead = true;
		}
		if (dead) {
			in_mem = 16; /* the killed process' memory is gone */
			swapped = 0;
		}
		file = w->shape == READER ? w->limit - in_mem : (w->limit - in_mem) / 4;
		if (w->shape == READER)
			refaults += (uint64_t) MIB(file) / 4096 / 4; /* re-reads a quarter of the cache per second */

		raw = (ForecastRaw) {
			.anon = MIB(in_mem),
			.kernel = MIB(4),
			.file = (uint64_t) (file * 1048576.0),
			.current = (uint64_t) ((in_mem + 4 + file) * 1048576.0),
			.max = MIB(w->limit),
			.swap_current = (uint64_t) (swapped * 1048576.0),
			.swap_max = UINT64_MAX,
			.swap_free = (uint64_t) ((w->swap - (swapped < w->swap ? swapped : w->swap)) * 1048576.0),
			.mem_total = MIB(64 * 1024),
			.mem_available = MIB(32 * 1024),
		};
		forecast_measure(&raw, &in.m);
		in.now = SEC(t);
		in.file = raw.file;
		in.refaults = refaults;
		in.psi_some = in.psi_full = -1;
		in.d_oom_kill = oom_kills - prev_kills;
		prev_kills = oom_kills;

		assert_int_equal(forecast_step(&s, p, &in, &r), 0);
		assert_int_equal(r.previous, last);
		assert_int_equal(r.changed, r.level != last);
		if (r.changed) {
			o->changes++;
			if (r.level < last && o->oom_at < 0)
				o->downs_before_oom++;
		}
		if (o->level_at[r.level] < 0) {
			o->level_at[r.level] = (int) t;
			if (r.level == RISK_WARNING)
				o->eta_at_warning = r.eta_usec == FORECAST_NO_ETA ? -1 : (double) r.eta_usec / 1e6;
		}
		if (r.level > o->max_level)
			o->max_level = r.level;
		last = r.level;
		o->final_level = r.level;
		if (dead && t > (unsigned) o->oom_at + 3)
			break;
	}
}

static ForecastParams defaults(void)
{
	ForecastParams p;

	config_forecast_defaults(&p);
	return p;
}

static void print_outcome(const Workload *w, const Outcome *o)
{
	print_message("%-22s oom@%d watch@%d warning@%d critical@%d oom-level@%d eta@warning=%.1fs max=%s changes=%u\n",
		      w->name, o->oom_at, o->level_at[RISK_WATCH], o->level_at[RISK_WARNING], o->level_at[RISK_CRITICAL],
		      o->level_at[RISK_OOM], o->eta_at_warning, risk_level_to_string(o->max_level), o->changes);
}

static const Workload workloads[] = {
	/* name                 shape      base rate ampl ramp period limit swap secs oom    without an OOM: max, final level */
	{ "steady leak 16M/s",  LEAK,      64,  16,  0,   0,   0,     768,  0,   200, true,  RISK_OOM, RISK_OOM },
	{ "slow leak 4M/s",     LEAK,      64,  4,   0,   0,   0,     768,  0,   400, true,  RISK_OOM, RISK_OOM },
	{ "leak into swap",     LEAK,      64,  16,  0,   0,   0,     512,  512, 300, true,  RISK_OOM, RISK_OOM },
	{ "noisy leak 8M/s",    NOISY,     64,  8,   24,  0,   0,     1024, 0,   400, true,  RISK_OOM, RISK_OOM },
	/* A leak on a loaded machine: 2 s of 16 MiB/s, 3 s descheduled, repeat. */
	{ "bursty leak 16M/s",  BURSTY,    64,  16,  0,   2,   5,     768,  0,   400, true,  RISK_OOM, RISK_OOM },
	{ "sawtooth 400M/10s",  SAWTOOTH,  64,  0,   400, 10,  14,    768,  0,   300, false, RISK_WATCH, RISK_WATCH },
	{ "sawtooth 400M/4s",   SAWTOOTH,  340, 0,   400, 4,   6,     768,  0,   300, false, RISK_WATCH, RISK_WATCH },
	/* A 20 s ramp toward the limit looks like a leak for longer than MinDurationSec=: it may warn
	 * (the ETA was right for as long as it lasted), never go critical, and it settles at watch. */
	{ "sawtooth 300M/20s",  SAWTOOTH,  200, 0,   300, 20,  25,    768,  0,   300, false, RISK_WARNING, RISK_WATCH },
	{ "page-cache reader",  READER,    64,  0,   0,   0,   0,     512,  0,   300, false, RISK_WATCH, RISK_WATCH },
	{ "step to 85%",        STEP,      64,  0,   590, 10,  0,     768,  0,   300, false, RISK_WATCH, RISK_WATCH },
	/* Leaks for 20 s (warned: it was heading for the OOM), then stops: the warning is left. */
	{ "leak that stops",    LEAK_STOP, 64,  16,  0,   20,  0,     768,  0,   300, false, RISK_WARNING, RISK_WATCH },
};

static void test_workloads(void **state)
{
	const ForecastParams p = defaults();

	(void) state;
	for (size_t i = 0; i < ELEMENTSOF(workloads); i++) {
		const Workload *w = &workloads[i];
		Outcome o;

		run(w, &p, &o);
		print_outcome(w, &o);
		if (!w->expect_oom) {
			assert_int_equal(o.oom_at, -1);
			assert_true(o.max_level <= w->max_level_without_oom);
			assert_true(o.final_level <= w->final_level);
			continue;
		}
		assert_true(o.oom_at > 0);
		/* Warning at least 15 s before the OOM, critical before it, the oom level at it. */
		assert_true(o.level_at[RISK_WARNING] > 0);
		assert_true(o.oom_at - o.level_at[RISK_WARNING] >= 15);
		assert_true(o.level_at[RISK_CRITICAL] > 0 && o.level_at[RISK_CRITICAL] < o.oom_at);
		assert_int_equal(o.level_at[RISK_OOM], o.oom_at);
		/* The ETA given with the warning within +-25 % of what remained. */
		assert_true(o.eta_at_warning > 0);
		assert_true(fabs(o.eta_at_warning - (o.oom_at - o.level_at[RISK_WARNING])) <=
			    0.25 * (o.oom_at - o.level_at[RISK_WARNING]));
		/* Monotone on the way to the OOM: no flapping. */
		assert_int_equal(o.downs_before_oom, 0);
	}
}

/* Without the swap in the room, the same leak would be forecast to OOM at memory.max. */
static void test_swap_counted(void **state)
{
	ForecastRaw raw = {
		.anon = MIB(500), .file = MIB(10), .current = MIB(510), .max = MIB(512),
		.swap_current = MIB(100), .swap_max = UINT64_MAX, .swap_free = MIB(300),
	};
	ForecastMeasure m;

	(void) state;
	forecast_measure(&raw, &m);
	assert_int_equal(m.demand, MIB(600));
	assert_int_equal(m.swap_room, MIB(300));
	assert_int_equal(m.room, MIB(12) + MIB(300));
	assert_int_equal(m.limit_kind, FORECAST_LIMIT_OWN);
	assert_int_equal(m.limit, MIB(512));

	/* memory.swap.max of the chain caps it. */
	raw.swap_max = MIB(150);
	forecast_measure(&raw, &m);
	assert_int_equal(m.swap_room, MIB(50));
	/* No swap at all. */
	raw.swap_max = UINT64_MAX;
	raw.swap_free = 0;
	forecast_measure(&raw, &m);
	assert_int_equal(m.room, MIB(12));
}

/* The tightest limit binds: own, an ancestor's (siblings' usage counts), or the host. */
static void test_limits(void **state)
{
	ForecastRaw raw = {
		.anon = MIB(100), .file = MIB(50), .current = MIB(150), .max = UINT64_MAX,
		.swap_max = UINT64_MAX, .mem_total = MIB(4096), .mem_available = MIB(2000),
		.ancestors = { { .max = UINT64_MAX, .current = MIB(3000) }, { .max = MIB(1024), .current = MIB(900) } },
		.n_ancestors = 2,
	};
	ForecastMeasure m;

	(void) state;
	forecast_measure(&raw, &m);
	assert_int_equal(m.limit_kind, FORECAST_LIMIT_ANCESTOR);
	assert_int_equal(m.limit, MIB(1024));
	assert_int_equal(m.usage, MIB(900));
	assert_int_equal(m.room, MIB(124) + MIB(50));

	raw.max = MIB(200);
	forecast_measure(&raw, &m);
	assert_int_equal(m.limit_kind, FORECAST_LIMIT_OWN);
	assert_int_equal(m.room, MIB(100));

	raw.max = UINT64_MAX;
	raw.n_ancestors = 0;
	raw.mem_available = MIB(700);
	forecast_measure(&raw, &m);
	assert_int_equal(m.limit_kind, FORECAST_LIMIT_HOST);
	assert_int_equal(m.limit, MIB(4096));
	assert_int_equal(m.usage, MIB(4096 - 700));
	assert_int_equal(m.room, MIB(700));
	/* Unreclaimable slab is demand, reclaimable slab is not. */
	raw.kernel = MIB(30);
	raw.slab_reclaimable = MIB(20);
	forecast_measure(&raw, &m);
	assert_int_equal(m.demand, MIB(110));
}

static ForecastInput input(uint64_t t, uint64_t demand, uint64_t room)
{
	return (ForecastInput) {
		.now = SEC(t),
		.m = { .demand = MIB(demand), .room = MIB(room), .limit = MIB(demand + room), .usage = MIB(demand) },
		.psi_some = -1,
		.psi_full = -1,
	};
}

/* Critical repeats every RepeatSec=; an oom_kill is the oom level at once, then watch again. */
static void test_repeat_and_oom(void **state)
{
	ForecastParams p = defaults();
	ForecastState s;
	ForecastResult r;
	ForecastInput in;
	unsigned repeats = 0;
	int crit_at = -1;

	(void) state;
	forecast_init(&s);
	/* 2 MiB/s with 100 MiB of room falling: ETA crosses 60 s and 10 s. Room never reaches 0. */
	for (unsigned t = 1; t <= 120; t++) {
		in = input(t, 100 + 2 * t, t < 95 ? 200 - 2 * t : 10);
		assert_int_equal(forecast_step(&s, &p, &in, &r), 0);
		if (r.level == RISK_CRITICAL && crit_at < 0)
			crit_at = (int) t;
		if (r.repeat) {
			assert_int_equal(r.level, RISK_CRITICAL);
			assert_false(r.changed);
			repeats++;
		}
	}
	assert_true(crit_at > 0);
	/* Critical from ~t=96 to 120: one repeat after 30 s at most. */
	assert_true(repeats <= 1);

	in = input(121, 16, 700);
	in.d_oom_kill = 1;
	assert_int_equal(forecast_step(&s, &p, &in, &r), 0);
	assert_int_equal(r.level, RISK_OOM);
	assert_true(r.changed);
	assert_non_null(strstr(r.reason, "oom_kill"));
	in = input(122, 16, 700);
	in.m.demand = MIB(700); /* near the limit again: watch */
	in.m.room = MIB(50);
	assert_int_equal(forecast_step(&s, &p, &in, &r), 0);
	assert_int_equal(r.previous, RISK_OOM);
	assert_int_equal(r.level, RISK_WATCH);
}

/* memory.events oom (a charge failed at the limit) is critical at once, whatever the fit says. */
static void test_charge_failure_is_critical(void **state)
{
	ForecastParams p = defaults();
	ForecastState s;
	ForecastResult r;
	ForecastInput in;

	(void) state;
	forecast_init(&s);
	in = input(1, 500, 10);
	assert_int_equal(forecast_step(&s, &p, &in, &r), 0);
	assert_int_equal(r.level, RISK_WATCH);
	in = input(2, 500, 10);
	in.d_oom = 1;
	assert_int_equal(forecast_step(&s, &p, &in, &r), 0);
	assert_int_equal(r.level, RISK_CRITICAL);
	/* Then quiet and flat: critical is left after HoldSec=, not before. */
	for (unsigned t = 3; t < 3 + 29; t++) {
		in = input(t, 500, 10);
		assert_int_equal(forecast_step(&s, &p, &in, &r), 0);
		assert_int_equal(r.level, RISK_CRITICAL);
	}
	in = input(33, 500, 10);
	assert_int_equal(forecast_step(&s, &p, &in, &r), 0);
	assert_int_equal(r.level, RISK_WATCH);
}

/* Levels and durations come from the parameters. */
static void test_durations(void **state)
{
	ForecastParams p = defaults();
	ForecastState s;
	ForecastResult r;
	int warn_at = -1;

	(void) state;
	p.min_duration_usec = SEC(3);
	p.hold_usec = 0;
	forecast_init(&s);
	for (unsigned t = 1; t <= 20; t++) {
		ForecastInput in = input(t, 100 + 4 * t, 200 - 4 * t);

		assert_int_equal(forecast_step(&s, &p, &in, &r), 0);
		if (r.level >= RISK_WARNING && warn_at < 0)
			warn_at = (int) t;
	}
	/* The ETA is < 60 s once 5 samples are in (t = 5): held 3 s gives t = 8. */
	assert_int_equal(warn_at, 8);
	/* Sampling is asked for as long as something is going on. */
	assert_true(r.sampling);
}

/*
 * Page cache is reclaimable unless the tenant thrashes on it. Both tenants' file pages grow 4 MiB/s
 * toward memory.max from 64 MiB of anon: one fills its cache once (no refaults: a reader), the
 * other refaults half its cache per second (its working set no longer fits: the thrashed part
 * counts as unreclaimable, and its growth is a trend).
 */
static RiskLevel run_file_growth(bool thrash, int *warn_at, double *eta_at_warn, uint64_t *hot_seen)
{
	ForecastParams p = defaults();
	ForecastState s;
	ForecastResult r;
	uint64_t refaults = 0;
	RiskLevel max = RISK_OK;

	forecast_init(&s);
	*warn_at = -1;
	*eta_at_warn = -1;
	*hot_seen = 0;
	for (unsigned t = 1; t <= 90; t++) {
		uint64_t file = MIB(100) + MIB(4) * t;
		ForecastRaw raw = {
			.anon = MIB(64), .kernel = MIB(4), .file = file, .current = MIB(68) + file, .max = MIB(512),
			.swap_max = UINT64_MAX, .mem_total = MIB(64 * 1024), .mem_available = MIB(32 * 1024),
		};
		ForecastInput in = { .now = SEC(t), .file = file, .psi_some = -1, .psi_full = -1 };

		if (thrash)
			refaults += file / 2 / 4096;
		in.refaults = refaults;
		forecast_measure(&raw, &in.m);
		assert_int_equal(forecast_step(&s, &p, &in, &r), 0);
		if (r.level >= RISK_WARNING && *warn_at < 0) {
			*warn_at = (int) t;
			*eta_at_warn = (double) r.eta_usec / 1e6;
		}
		if (r.hot_file > *hot_seen)
			*hot_seen = r.hot_file;
		/* The measure reported is the input's, with the hot pages moved from room to demand. */
		assert_int_equal(r.m.demand, in.m.demand + r.hot_file);
		assert_true(r.m.room <= in.m.room);
		if (r.level > max)
			max = r.level;
		if (file + MIB(68) >= MIB(512))
			break;
	}
	return max;
}

static void test_thrashing_file(void **state)
{
	uint64_t hot;
	double eta;
	int warn_at;

	(void) state;
	/* A page-cache reader filling its limit: watch at most (near the limit), no warning. */
	assert_true(run_file_growth(false, &warn_at, &eta, &hot) <= RISK_WATCH);
	assert_int_equal(warn_at, -1);
	assert_int_equal(hot, 0);
	/*
	 * The thrashing working set that keeps growing: warned, with an ETA to the moment its hot
	 * file pages fill memory.max (512 - 68 - (100 + 4t) = 0 at t = 86).
	 */
	assert_true(run_file_growth(true, &warn_at, &eta, &hot) >= RISK_WARNING);
	print_message("thrashing working set: warning at %d s, ETA %.1f s (file fills the limit at 86 s)\n", warn_at, eta);
	assert_true(warn_at > 0 && warn_at <= 86 - 15);
	assert_true(fabs(eta - (86 - warn_at)) <= 0.25 * (86 - warn_at));
	assert_true(hot > MIB(300));
}

/*
 * A reader re-reading a file larger than its limit: the cache fills in 7 s, then from the second
 * pass on every page read is a refault. Thrashing, at a steady rate: watch, never a warning.
 */
static void test_thrashing_reader(void **state)
{
	ForecastParams p = defaults();
	ForecastState s;
	ForecastResult r;
	uint64_t refaults = 0, hot = 0;

	(void) state;
	forecast_init(&s);
	for (unsigned t = 1; t <= 120; t++) {
		uint64_t file = t < 7 ? MIB(64) * t : MIB(440);
		ForecastRaw raw = {
			.anon = MIB(64), .kernel = MIB(4), .file = file, .current = MIB(68) + file, .max = MIB(512),
			.swap_max = UINT64_MAX, .mem_total = MIB(64 * 1024), .mem_available = MIB(32 * 1024),
		};
		ForecastInput in = { .now = SEC(t), .file = file, .psi_some = 40, .psi_full = 20, .d_max = 50 };

		if (t >= 10)
			refaults += MIB(100) / 4096;
		in.refaults = refaults;
		forecast_measure(&raw, &in.m);
		assert_int_equal(forecast_step(&s, &p, &in, &r), 0);
		assert_true(r.level <= RISK_WATCH);
		if (r.hot_file > hot)
			hot = r.hot_file;
	}
	/* Thrashing, and counted: its whole cache is refaulted within 10 s. */
	assert_int_equal(hot, MIB(440));
	assert_non_null(strstr(r.reason, "thrashing"));
}

static void test_bad_arguments(void **state)
{
	ForecastParams p = defaults();
	ForecastState s;
	ForecastResult r;
	ForecastInput in = input(5, 1, 1);

	(void) state;
	forecast_init(&s);
	assert_int_equal(forecast_step(NULL, &p, &in, &r), -EINVAL);
	assert_int_equal(forecast_step(&s, &p, &in, &r), 0);
	/* Time must move forward. */
	assert_int_equal(forecast_step(&s, &p, &in, &r), -EINVAL);
	in.now = 0;
	assert_int_equal(forecast_step(&s, &p, &in, &r), -EINVAL);

	assert_string_equal(risk_level_to_string(RISK_WARNING), "warning");
	assert_int_equal(risk_level_from_string("critical"), RISK_CRITICAL);
	assert_int_equal(risk_level_from_string("bad"), _RISK_LEVEL_INVALID);
	assert_null(risk_level_to_string(_RISK_LEVEL_MAX));
}


/* Stalls at memory.max warn only if the unreclaimable part is near it: a cache thrasher does not. */
static void test_stall_rule(void **state)
{
	ForecastParams p = defaults();
	ForecastState s;
	ForecastResult r;
	ForecastInput in;

	(void) state;
	forecast_init(&s);
	for (unsigned t = 1; t <= 40; t++) {
		in = input(t, 60, 400);   /* 60 MiB of anon, the rest of the limit is cache */
		in.psi_full = 50;
		in.psi_some = 60;
		in.d_max = 10;
		assert_int_equal(forecast_step(&s, &p, &in, &r), 0);
		assert_true(r.level <= RISK_WATCH);
	}
	forecast_init(&s);
	for (unsigned t = 1; t <= 12; t++) {
		in = input(t, 450, 10);   /* anon at the limit, stalling, no growth left to fit */
		in.psi_full = 50;
		in.d_max = 10;
		assert_int_equal(forecast_step(&s, &p, &in, &r), 0);
	}
	assert_int_equal(r.level, RISK_WARNING);
	assert_non_null(strstr(r.reason, "PSI full"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workloads),
		cmocka_unit_test(test_swap_counted),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_repeat_and_oom),
		cmocka_unit_test(test_charge_failure_is_critical),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_thrashing_file),
		cmocka_unit_test(test_thrashing_reader),
		cmocka_unit_test(test_stall_rule),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
