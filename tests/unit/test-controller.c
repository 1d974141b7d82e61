/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of src/controller.c, the pure decision function of the control loop.
 *
 * A small simulator plays a scenario: tenants with a memory demand (memory.current follows
 * min(demand, memory.high), as if reclaim were instant), pressure episodes turned into one PSI event
 * per second (what a 1s-window trigger delivers), and the wakeups the controller asks for. Every
 * action is applied at once and checked against the invariants (bounds, headroom, rate limit, step
 * size, hysteresis). The table scenarios then compare each tenant's memory.high trajectory with the
 * one worked out by hand from the rules in controller.h; the property tests run random scenarios.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "controller.h"
#include "util.h"

#define MIB(x) ((uint64_t) (x) << 20)
#define SEC(x) ((uint64_t) (x) * USEC_PER_SEC)
#define MAXT 6
#define MAXP 16
#define MAXW 512
#define HOST (-1)
#define NONE UINT64_MAX

typedef struct SimTenant {
	const char *name;
	int priority;
	unsigned min, max, baseline, high, demand; /* MiB; max == 0 means "max" */
} SimTenant;

typedef struct Pressure {
	int tenant;             /* HOST or index */
	unsigned from, to;      /* one event per second in [from, to] */
	ControlEventKind kind;  /* CONTROL_EVENT_PRESSURE if 0 */
} Pressure;

/* Tenant uses one full CPU during [from, to) seconds (its cpu.stat usage_usec advances). */
typedef struct Run {
	int tenant;
	unsigned from, to;
} Run;

/* From `at` seconds on, the tenant's demand (what memory.current follows) is mib MiB. */
typedef struct DemandChange {
	int tenant;
	unsigned at, mib;
} DemandChange;

typedef struct Point {
	unsigned t;    /* seconds */
	unsigned mib;  /* memory.high written */
} Point;

typedef struct Write {
	uint64_t t;
	uint64_t old_high, new_high, current_before;
	ControlReason reason;
} Write;

typedef struct SimEvent {
	uint64_t t;
	ControlEvent ev;
} SimEvent;

typedef struct Sim {
	ControlParams p;
	ControlTenant tenants[MAXT];
	uint64_t demand[MAXT];
	size_t n;
	ControlState s;
	Write writes[MAXT][MAXW];
	size_t n_writes[MAXT];
	size_t n_ticks;
	uint64_t last_wakeup;
	const Run *runs;
	size_t n_runs;
	const DemandChange *demands;
	size_t n_demands;
	uint64_t demand0[MAXT];
} Sim;

static uint64_t mib_or_max(unsigned v)
{
	return v == 0 ? MEMQOSD_BYTES_MAX : MIB(v);
}

static void params_default(ControlParams *p)
{
	*p = (ControlParams) {
		.psi_stall_usec = 100 * USEC_PER_MSEC,
		.psi_window_usec = SEC(1),
		.step_percent = 10,
		.relax_percent = 5,
		.hold_usec = SEC(10),
		.relax_ceiling_usec = SEC(120),
		.min_interval_usec = SEC(1),
		.headroom_bytes = MIB(64),
		.housekeeping_usec = SEC(30),
		.write_timeout_usec = SEC(5),
	};
}

static uint64_t step_bound(const ControlTenant *t, unsigned percent)
{
	uint64_t range;

	if (t->high_max == MEMQOSD_BYTES_MAX)
		return UINT64_MAX;
	range = t->high_max - t->high_min;
	return range / 100 * percent + range % 100 * percent / 100 > CONTROL_MIN_STEP ?
		range / 100 * percent + range % 100 * percent / 100 : CONTROL_MIN_STEP;
}

static void sim_init(Sim *sim, const ControlParams *p, const SimTenant *t, size_t n)
{
	memset(sim, 0, sizeof(*sim));
	sim->p = *p;
	sim->n = n;
	for (size_t i = 0; i < n; i++) {
		sim->tenants[i] = (ControlTenant) {
			.name = t[i].name,
			.priority = t[i].priority,
			.high_min = MIB(t[i].min),
			.high_max = mib_or_max(t[i].max),
			.baseline = mib_or_max(t[i].baseline),
			.high = mib_or_max(t[i].high),
			.active = true,
		};
		sim->demand[i] = MIB(t[i].demand);
		sim->demand0[i] = sim->demand[i];
		sim->tenants[i].current = sim->demand[i] < sim->tenants[i].high ? sim->demand[i] : sim->tenants[i].high;
	}
	sim->s = (ControlState) { .tenants = sim->tenants, .n_tenants = n };
	sim->last_wakeup = NONE;
}

/* Invariants every single action must satisfy. */
static void check_action(Sim *sim, const ControlAction *a, uint64_t now)
{
	const ControlTenant *t = &sim->tenants[a->tenant];
	uint64_t baseline = control_baseline(t->baseline, t->high_min, t->high_max);
	size_t nw = sim->n_writes[a->tenant];

	assert_true(a->tenant < sim->n);
	assert_int_equal(a->old_high, t->high);
	assert_true(a->new_high != a->old_high);
	assert_non_null(control_reason_to_string(a->reason));
	assert_true(strlen(a->text) > 0);

	/* Never out of bounds. */
	assert_true(a->new_high >= t->high_min);
	assert_true(a->new_high <= t->high_max);

	/* Rate limit. */
	if (nw > 0)
		assert_true(now >= sim->writes[a->tenant][nw - 1].t + sim->p.min_interval_usec);

	switch (a->reason) {
	case CONTROL_REASON_SQUEEZE:
		assert_true(a->new_high < a->old_high);
		break;
	case CONTROL_REASON_RAISE:
		assert_true(a->new_high > a->old_high);
		assert_true(a->old_high >= baseline); /* a squeezed tenant comes back by relaxing */
		break;
	case CONTROL_REASON_RELAX:
		/* Toward the baseline, never across it. */
		if (a->old_high < baseline)
			assert_true(a->new_high > a->old_high && a->new_high <= baseline);
		else
			assert_true(a->new_high < a->old_high && a->new_high >= baseline);
		break;
	case CONTROL_REASON_CLAMP:
		assert_true(a->old_high > t->high_max || a->old_high < t->high_min);
		break;
	default:
		fail_msg("bad reason %d", a->reason);
	}

	/* Headroom: a squeeze or relax never goes below memory.current - Headroom in one step. */
	if (a->reason != CONTROL_REASON_CLAMP && a->new_high < a->old_high && t->current > sim->p.headroom_bytes)
		assert_true(a->new_high >= t->current - sim->p.headroom_bytes);

	/*
	 * Bounded steps (a relax to an unlimited baseline may jump to "max"). A squeeze is bounded
	 * below what the tenant uses or may use now, min(memory.high, memory.current): lowering a
	 * memory.high the tenant is not near frees nothing until it reaches the usage.
	 */
	if (a->old_high != MEMQOSD_BYTES_MAX && a->new_high != MEMQOSD_BYTES_MAX && a->reason != CONTROL_REASON_CLAMP) {
		unsigned pct = a->reason == CONTROL_REASON_RELAX ? sim->p.relax_percent : sim->p.step_percent;
		uint64_t d;

		if (a->reason == CONTROL_REASON_SQUEEZE) {
			uint64_t from = t->current < a->old_high ? t->current : a->old_high;

			d = from > a->new_high ? from - a->new_high : 0; /* at or above the usage: nothing reclaimed */
		} else
			d = a->new_high > a->old_high ? a->new_high - a->old_high : a->old_high - a->new_high;
		assert_true(d <= step_bound(t, pct));
	}

	/* Hysteresis: a relax comes at least HoldSec after the last move away from the baseline. */
	if (a->reason == CONTROL_REASON_RELAX)
		for (size_t k = nw; k > 0; k--) {
			const Write *w = &sim->writes[a->tenant][k - 1];

			if ((a->old_high < baseline && w->reason == CONTROL_REASON_SQUEEZE) ||
			    (a->old_high > baseline && w->reason == CONTROL_REASON_RAISE)) {
				assert_true(now >= w->t + sim->p.hold_usec);
				break;
			}
		}
}

/* What the manager samples before deciding: usage (following the demand), CPU time, no refaults. */
static void sim_sample(Sim *sim, uint64_t now)
{
	for (size_t i = 0; i < sim->n; i++) {
		ControlTenant *t = &sim->tenants[i];
		uint64_t cpu = 0;

		sim->demand[i] = sim->demand0[i];
		for (size_t k = 0; k < sim->n_demands; k++)
			if (sim->demands[k].tenant == (int) i && SEC(sim->demands[k].at) <= now)
				sim->demand[i] = MIB(sim->demands[k].mib);
		for (size_t k = 0; k < sim->n_runs; k++) {
			uint64_t from = SEC(sim->runs[k].from), to = SEC(sim->runs[k].to);

			if (sim->runs[k].tenant == (int) i && now > from)
				cpu += (now < to ? now : to) - from;
		}
		assert_int_equal(controller_note_sample(&sim->s, &sim->p, i,
							&(ControlSample) {
								.current = sim->demand[i] < t->high ? sim->demand[i] : t->high,
								.cpu_usec = cpu,
							}, now), 0);
	}
}

static void sim_decide(Sim *sim, const ControlEvent *ev, uint64_t now)
{
	ControlAction actions[MAXT];
	uint64_t wakeup;
	int r;

	sim_sample(sim, now);
	r = controller_step(&sim->s, &sim->p, ev, now, actions, ELEMENTSOF(actions), &wakeup);
	assert_true(r >= 0);
	/* Apply the writes, then decide again as the manager does after each completed write. */
	for (;;) {
		for (int k = 0; k < r; k++) {
			ControlAction *a = &actions[k];
			ControlTenant *t = &sim->tenants[a->tenant];
			size_t *nw = &sim->n_writes[a->tenant];

			check_action(sim, a, now);
			assert_true(*nw < MAXW);
			sim->writes[a->tenant][(*nw)++] = (Write) {
				.t = now,
				.old_high = a->old_high,
				.new_high = a->new_high,
				.current_before = t->current,
				.reason = a->reason,
			};
			t->busy = true;
			controller_write_done(&sim->s, a->tenant, a->new_high, now);
			assert_false(t->busy);
			t->current = sim->demand[a->tenant] < t->high ? sim->demand[a->tenant] : t->high;
		}
		if (r == 0)
			break;
		sim_sample(sim, now);
		r = controller_decide(&sim->s, &sim->p, now, actions, ELEMENTSOF(actions), &wakeup);
		assert_true(r >= 0);
	}
	/* Never a wakeup in the past or now: that would be a busy loop. */
	assert_true(wakeup == CONTROL_NO_WAKEUP || wakeup > now);
	sim->last_wakeup = wakeup;
}

static int cmp_event(const void *a, const void *b)
{
	const SimEvent *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return 0;
}

/* Plays events (sorted, stable for equal times) and the controller's wakeups until `end`. */
static void sim_run(Sim *sim, SimEvent *events, size_t n_events, uint64_t end)
{
	size_t next = 0;
	uint64_t now;

	/* Start-up decision, as the manager makes when it takes the tenants over. */
	sim_decide(sim, &(ControlEvent) { .kind = CONTROL_EVENT_TICK }, SEC(1));

	for (;;) {
		uint64_t te = next < n_events ? events[next].t : NONE;

		if (te == NONE && sim->last_wakeup == CONTROL_NO_WAKEUP)
			break;
		if (te != NONE && te <= sim->last_wakeup) {
			now = te;
			if (now > end)
				break;
			sim_decide(sim, &events[next].ev, now);
			next++;
		} else {
			now = sim->last_wakeup;
			if (now > end)
				break;
			sim->n_ticks++;
			sim_decide(sim, &(ControlEvent) { .kind = CONTROL_EVENT_TICK }, now);
		}
	}
}

static size_t expand_pressure(const Pressure *pr, size_t n, SimEvent *out, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		for (unsigned t = pr[i].from; t <= pr[i].to; t++) {
			ControlEventKind kind = pr[i].kind ?: CONTROL_EVENT_PRESSURE;

			assert_true(k < max);
			if (pr[i].tenant == HOST)
				kind = kind == CONTROL_EVENT_PRESSURE_END ? CONTROL_EVENT_HOST_PRESSURE_END :
								      CONTROL_EVENT_HOST_PRESSURE;
			out[k++] = (SimEvent) {
				.t = SEC(t),
				.ev = { .kind = kind, .tenant = pr[i].tenant == HOST ? 0 : (size_t) pr[i].tenant },
			};
		}
	/* qsort is not stable: keep the listed order for equal times by sorting on (t, index). */
	for (size_t i = 0; i < k; i++)
		out[i].t = out[i].t * 64 + i;
	qsort(out, k, sizeof(*out), cmp_event);
	for (size_t i = 0; i < k; i++)
		out[i].t /= 64;
	return k;
}

static void assert_trajectory(const Sim *sim, size_t i, const Point *expected)
{
	size_t n = 0;

	while (expected[n].t != 0)
		n++;
	for (size_t k = 0; k < sim->n_writes[i] || k < n; k++) {
		if (k >= n || k >= sim->n_writes[i] || sim->writes[i][k].t != SEC(expected[k].t) ||
		    sim->writes[i][k].new_high != MIB(expected[k].mib)) {
			for (size_t j = 0; j < sim->n_writes[i]; j++)
				print_message("  %s write %zu: t=%.6fs high=%.3fM (%s)\n", sim->tenants[i].name, j,
					      (double) sim->writes[i][j].t / 1e6,
					      (double) sim->writes[i][j].new_high / (1 << 20),
					      control_reason_to_string(sim->writes[i][j].reason));
			fail_msg("tenant %s: write %zu differs from expected (t=%us high=%uM)", sim->tenants[i].name,
				 k, k < n ? expected[k].t : 0, k < n ? expected[k].mib : 0);
		}
	}
}

typedef struct Scenario {
	const char *name;
	SimTenant tenants[MAXT];
	size_t n_tenants;
	uint64_t headroom_mib;      /* 0 = default 64M */
	Pressure pressure[MAXP];
	size_t n_pressure;
	unsigned end;
	const Point *expected[MAXT]; /* NULL-terminated by {0, 0}; a tenant with {{0,0}} has no writes */
	unsigned max_ticks;          /* upper bound on wakeups the controller may ask for */
	Run runs[MAXP];              /* CPU activity (issue 17) */
	size_t n_runs;
	DemandChange demands[MAXP];  /* usage changes (issue 17) */
	size_t n_demands;
	bool limit_near;             /* the common parent is near its limit throughout */
	bool holding;                /* still holding at the end: a wakeup is pending */
} Scenario;

static const Point no_writes[] = { { 0, 0 } };

/* H (90) under pressure together with the host for 5 s; L (10) shares the host. */
#define TENANT_H { "H", 90, 256, 1056, 512, 512, 500 }
#define TENANT_L { "L", 10, 112, 512, 512, 512, 512 }

static const Point a_low[] = {
	/* squeeze by 10% of 400M while pressure lasts (events 1..5, episode open until 7) */
	{ 1, 472 }, { 2, 432 }, { 3, 392 }, { 4, 352 }, { 5, 312 }, { 6, 272 }, { 7, 232 },
	/* host episode ended at 7, HoldSec 10: relax by 5% of 400M from 17 on */
	{ 17, 252 }, { 18, 272 }, { 19, 292 }, { 20, 312 }, { 21, 332 }, { 22, 352 }, { 23, 372 },
	{ 24, 392 }, { 25, 412 }, { 26, 432 }, { 27, 452 }, { 28, 472 }, { 29, 492 }, { 30, 512 },
	{ 0, 0 },
};
static const Point a_high[] = {
	/* raise by 10% of 800M up to MemoryHighMax */
	{ 1, 592 }, { 2, 672 }, { 3, 752 }, { 4, 832 }, { 5, 912 }, { 6, 992 }, { 7, 1056 },
	/* relax down by 5% of 800M to the baseline */
	{ 17, 1016 }, { 18, 976 }, { 19, 936 }, { 20, 896 }, { 21, 856 }, { 22, 816 }, { 23, 776 },
	{ 24, 736 }, { 25, 696 }, { 26, 656 }, { 27, 616 }, { 28, 576 }, { 29, 536 }, { 30, 512 },
	{ 0, 0 },
};

static const Point c_low[] = {
	/* Headroom 16M: each step stops at memory.current - 16M (L uses its whole 512M) */
	{ 1, 496 }, { 2, 480 }, { 3, 464 }, { 4, 448 }, { 5, 432 },
	{ 15, 452 }, { 16, 472 }, { 17, 492 }, { 18, 512 },
	{ 0, 0 },
};
static const Point c_high[] = {
	{ 1, 592 }, { 2, 672 }, { 3, 752 }, { 4, 832 }, { 5, 912 },
	{ 15, 872 }, { 16, 832 }, { 17, 792 }, { 18, 752 }, { 19, 712 }, { 20, 672 }, { 21, 632 },
	{ 22, 592 }, { 23, 552 }, { 24, 512 },
	{ 0, 0 },
};

static const Point d_high[] = {
	{ 1, 592 }, { 2, 672 }, { 3, 752 }, { 4, 832 }, { 5, 912 }, { 6, 992 }, { 0, 0 },
};
static const Point d_mid[] = {
	/* only once L is at its MemoryHighMin (reached at 1: the decision after that write moves on);
	 * each step from M's usage (500M, under its 512M) */
	{ 1, 460 }, { 2, 420 }, { 3, 380 }, { 4, 340 }, { 5, 300 }, { 6, 260 }, { 0, 0 },
};
static const Point d_low[] = {
	/* L uses 100M under its memory.high of 192M (issue 17's "three": an ancestor's limit took
	 * it): one step from its usage takes it to MemoryHighMin, not two from memory.high */
	{ 1, 112 }, { 0, 0 },
};

static const Point e_low[] = {
	/* bursts every 8s (< HoldSec): L only ever goes down, never relaxes in between */
	{ 1, 472 }, { 2, 432 }, { 3, 392 }, { 9, 352 }, { 10, 312 }, { 11, 272 },
	{ 17, 232 }, { 18, 192 }, { 19, 152 }, { 25, 112 },
	/* H's last episode ended at 27: from 37 nobody more important needs the room, although the
	 * host is still under pressure */
	{ 37, 132 }, { 38, 152 }, { 39, 172 }, { 40, 192 }, { 0, 0 },
};
static const Point e_high[] = {
	{ 1, 592 }, { 2, 672 }, { 3, 752 }, { 9, 832 }, { 10, 912 }, { 11, 992 }, { 17, 1056 },
	{ 37, 1016 }, { 38, 976 }, { 39, 936 }, { 40, 896 }, { 0, 0 },
};

static const Point f_a[] = {
	{ 1, 592 }, { 2, 672 }, { 3, 752 }, { 4, 832 }, { 5, 912 }, { 6, 992 }, { 7, 1056 }, { 0, 0 },
};

static const Point g_clamp_down[] = { { 1, 1056 }, { 0, 0 } };
static const Point g_clamp_up[] = { { 1, 256 }, { 0, 0 } };

static const Point h_low[] = {
	/* H's pressure ends explicitly at 3: the squeeze stops at once (no 2s expiry) */
	{ 1, 472 }, { 2, 432 },
	/* L itself is throttled over memory.high (events 4..20) with the host under pressure, but
	 * stays put while H's pressure is recent (until 3 + 10); then it relaxes back to its baseline
	 * by RelaxPercent steps (not raised: it is below its baseline) */
	{ 13, 452 }, { 14, 472 }, { 15, 492 }, { 16, 512 }, { 0, 0 },
};
static const Point h_high[] = {
	{ 1, 592 }, { 2, 672 },
	/* H's relax down waits until 3 + 10 */
	{ 13, 632 }, { 14, 592 }, { 15, 552 }, { 16, 512 }, { 0, 0 },
};

/*
 * Issue 17. The simulator's tenants now also run (CPU time advances) and their usage follows a demand
 * that can change; the controller samples both before each decision, as the control loop does.
 *
 * i: the oscillation of the issue. H is under pressure 1..5, squeezes L, then its pressure goes quiet
 * (its working set is resident) while it keeps running: L is held at 232M, H stays raised; the only
 * wakeups are the HoldSec re-checks of H's activity. (Before issue 17 both relaxed from 17 on.)
 */
static const Point i_high[] = {
	{ 1, 592 }, { 2, 672 }, { 3, 752 }, { 4, 832 }, { 5, 912 }, { 6, 992 }, { 7, 1056 }, { 0, 0 },
};
static const Point i_low[] = {
	{ 1, 472 }, { 2, 432 }, { 3, 392 }, { 4, 352 }, { 5, 312 }, { 6, 272 }, { 7, 232 }, { 0, 0 },
};
/* j: H exits at 30 (usage 0, no CPU). The re-check at 37 sees the usage fall (a release): both
 * relax at once, L fully back to its baseline within 14 s. */
static const Point j_high[] = {
	{ 1, 592 }, { 2, 672 }, { 3, 752 }, { 4, 832 }, { 5, 912 }, { 6, 992 }, { 7, 1056 }, { 37, 1016 },
	{ 38, 976 }, { 39, 936 }, { 40, 896 }, { 41, 856 }, { 42, 816 }, { 43, 776 }, { 44, 736 },
	{ 45, 696 }, { 46, 656 }, { 47, 616 }, { 48, 576 }, { 49, 536 }, { 50, 512 }, { 0, 0 },
};
static const Point j_low[] = {
	{ 1, 472 }, { 2, 432 }, { 3, 392 }, { 4, 352 }, { 5, 312 }, { 6, 272 }, { 7, 232 }, { 37, 252 },
	{ 38, 272 }, { 39, 292 }, { 40, 312 }, { 41, 332 }, { 42, 352 }, { 43, 372 }, { 44, 392 },
	{ 45, 412 }, { 46, 432 }, { 47, 452 }, { 48, 472 }, { 49, 492 }, { 50, 512 }, { 0, 0 },
};
/* k: H stops running at 30 but keeps its memory. Activity seen up to the sample at 37 (it ran
 * 27..30), none at 47: demand gone HoldSec after that sample, then the relax. */
static const Point k_high[] = {
	{ 1, 592 }, { 2, 672 }, { 3, 752 }, { 4, 832 }, { 5, 912 }, { 6, 992 }, { 7, 1056 }, { 47, 1016 },
	{ 48, 976 }, { 49, 936 }, { 50, 896 }, { 51, 856 }, { 52, 816 }, { 53, 776 }, { 54, 736 },
	{ 55, 696 }, { 56, 656 }, { 57, 616 }, { 58, 576 }, { 59, 536 }, { 60, 512 }, { 0, 0 },
};
static const Point k_low[] = {
	{ 1, 472 }, { 2, 432 }, { 3, 392 }, { 4, 352 }, { 5, 312 }, { 6, 272 }, { 7, 232 }, { 47, 252 },
	{ 48, 272 }, { 49, 292 }, { 50, 312 }, { 51, 332 }, { 52, 352 }, { 53, 372 }, { 54, 392 },
	{ 55, 412 }, { 56, 432 }, { 57, 452 }, { 58, 472 }, { 59, 492 }, { 60, 512 }, { 0, 0 },
};
/* l: H idle from 20: L relaxes from 37 (252, 272), H's pressure comes back at 38: L is squeezed
 * from 272 at 39, which it learns as the level that brought pressure back. After H goes idle
 * again (60) L relaxes only to 272 - one squeeze step (40M) = 232M, until the ceiling expires
 * at 39 + RelaxCeilingSec (120) = 159; then on to the baseline. */
static const Point l_high[] = {
	{ 1, 592 }, { 2, 672 }, { 3, 752 }, { 4, 832 }, { 5, 912 }, { 6, 992 }, { 7, 1056 }, { 37, 1016 },
	{ 38, 976 }, { 39, 1056 }, { 71, 1016 }, { 72, 976 }, { 73, 936 }, { 74, 896 }, { 75, 856 },
	{ 76, 816 }, { 77, 776 }, { 78, 736 }, { 79, 696 }, { 80, 656 }, { 81, 616 }, { 82, 576 },
	{ 83, 536 }, { 84, 512 }, { 0, 0 },
};
static const Point l_low[] = {
	{ 1, 472 }, { 2, 432 }, { 3, 392 }, { 4, 352 }, { 5, 312 }, { 6, 272 }, { 7, 232 }, { 37, 252 },
	{ 38, 272 }, { 39, 232 }, { 40, 192 }, { 41, 152 }, { 71, 172 }, { 72, 192 }, { 73, 212 },
	{ 74, 232 }, { 159, 252 }, { 160, 272 }, { 161, 292 }, { 162, 312 }, { 163, 332 }, { 164, 352 },
	{ 165, 372 }, { 166, 392 }, { 167, 412 }, { 168, 432 }, { 169, 452 }, { 170, 472 }, { 171, 492 },
	{ 172, 512 }, { 0, 0 },
};
/* m: as l, but H exits at 100: its release ends the learned ceiling, L relaxes fully at once. */
static const Point m_high[] = {
	{ 1, 592 }, { 2, 672 }, { 3, 752 }, { 4, 832 }, { 5, 912 }, { 6, 992 }, { 7, 1056 }, { 37, 1016 },
	{ 38, 976 }, { 39, 1056 }, { 101, 1016 }, { 102, 976 }, { 103, 936 }, { 104, 896 }, { 105, 856 },
	{ 106, 816 }, { 107, 776 }, { 108, 736 }, { 109, 696 }, { 110, 656 }, { 111, 616 }, { 112, 576 },
	{ 113, 536 }, { 114, 512 }, { 0, 0 },
};
static const Point m_low[] = {
	{ 1, 472 }, { 2, 432 }, { 3, 392 }, { 4, 352 }, { 5, 312 }, { 6, 272 }, { 7, 232 }, { 37, 252 },
	{ 38, 272 }, { 39, 232 }, { 40, 192 }, { 41, 152 }, { 101, 172 }, { 102, 192 }, { 103, 212 },
	{ 104, 232 }, { 105, 252 }, { 106, 272 }, { 107, 292 }, { 108, 312 }, { 109, 332 }, { 110, 352 },
	{ 111, 372 }, { 112, 392 }, { 113, 412 }, { 114, 432 }, { 115, 452 }, { 116, 472 }, { 117, 492 },
	{ 118, 512 }, { 0, 0 },
};
/* n: three priorities (as d). L to its MemoryHighMin first, then M; both held while H runs; H
 * exits at 40 (release seen at 46): both relax to their baselines. M's own pressure while it was
 * squeezed (6..7) and its running on do not hold L: H caused L's squeeze, and H is gone. */
static const Point n_high[] = {
	{ 1, 592 }, { 2, 672 }, { 3, 752 }, { 4, 832 }, { 5, 912 }, { 6, 992 }, { 46, 952 }, { 47, 912 },
	{ 48, 872 }, { 49, 832 }, { 50, 792 }, { 51, 752 }, { 52, 712 }, { 53, 672 }, { 54, 632 },
	{ 55, 592 }, { 56, 552 }, { 57, 512 }, { 0, 0 },
};
static const Point n_mid[] = {
	{ 1, 460 }, { 2, 420 }, { 3, 380 }, { 4, 340 }, { 5, 300 }, { 6, 260 }, { 46, 280 }, { 47, 300 },
	{ 48, 320 }, { 49, 340 }, { 50, 360 }, { 51, 380 }, { 52, 400 }, { 53, 420 }, { 54, 440 },
	{ 55, 460 }, { 56, 480 }, { 57, 500 }, { 58, 512 }, { 0, 0 },
};
static const Point n_low[] = {
	/* L uses 100M under its 192M: one step (from the usage) to its MemoryHighMin */
	{ 1, 112 }, { 46, 132 }, { 47, 152 }, { 48, 172 }, { 49, 192 }, { 0, 0 },
};
/* o: the host is never under pressure, but the tenants' common parent is near its limit: that is
 * contention too, H's pressure squeezes L, and the squeeze holds while H runs. */
static const Point o_high[] = {
	{ 1, 592 }, { 2, 672 }, { 3, 752 }, { 4, 832 }, { 5, 912 }, { 6, 992 }, { 7, 1056 }, { 0, 0 },
};
static const Point o_low[] = {
	{ 1, 472 }, { 2, 432 }, { 3, 392 }, { 4, 352 }, { 5, 312 }, { 6, 272 }, { 7, 232 }, { 0, 0 },
};

static const Scenario scenarios[] = {
	{
		.name = "squeeze low, raise high, relax both after HoldSec",
		.tenants = { TENANT_H, TENANT_L },
		.n_tenants = 2,
		.pressure = { { HOST, 1, 5, 0 }, { 0, 1, 5, 0 } },
		.n_pressure = 2,
		.end = 60,
		.expected = { a_high, a_low },
		.max_ticks = 30,
	},
	{
		.name = "quiet host: a pressured tenant squeezes nobody and is not raised",
		.tenants = { TENANT_H, TENANT_L },
		.n_tenants = 2,
		.pressure = { { 0, 1, 20, 0 }, { 1, 5, 20, 0 } },
		.n_pressure = 2,
		.end = 60,
		.expected = { no_writes, no_writes },
		.max_ticks = 0,
	},
	{
		.name = "alone on a pressured host, not itself pressured: untouched",
		.tenants = { TENANT_L },
		.n_tenants = 1,
		.pressure = { { HOST, 1, 20, 0 } },
		.n_pressure = 1,
		.end = 60,
		.expected = { no_writes },
		.max_ticks = 0,
	},
	{
		.name = "alone, pressured, quiet host: untouched",
		.tenants = { TENANT_L },
		.n_tenants = 1,
		.pressure = { { 0, 1, 20, 0 }, { 0, 5, 5, CONTROL_EVENT_OVER_HIGH },
			      { 0, 6, 6, CONTROL_EVENT_CHARGE_FAIL } },
		.n_pressure = 3,
		.end = 60,
		.expected = { no_writes },
		.max_ticks = 0,
	},
	{
		.name = "headroom bounds each lowering step",
		.tenants = { TENANT_H, TENANT_L },
		.n_tenants = 2,
		.headroom_mib = 16,
		.pressure = { { HOST, 1, 3, 0 }, { 0, 1, 3, 0 } },
		.n_pressure = 2,
		.end = 60,
		.expected = { c_high, c_low },
		.max_ticks = 30,
	},
	{
		.name = "lowest priority first, next level when it is at MemoryHighMin",
		.tenants = { TENANT_H, { "M", 50, 112, 512, 512, 512, 500 }, { "L", 10, 112, 512, 192, 192, 100 } },
		.n_tenants = 3,
		.pressure = { { HOST, 1, 4, 0 }, { 0, 1, 4, 0 } },
		.n_pressure = 2,
		.end = 10,
		.expected = { d_high, d_mid, d_low },
		.max_ticks = 10,
	},
	{
		.name = "bursts shorter apart than HoldSec: monotone, no oscillation",
		.tenants = { TENANT_H, TENANT_L },
		.n_tenants = 2,
		.pressure = { { HOST, 1, 40, 0 }, { 0, 1, 1, 0 }, { 0, 9, 9, 0 }, { 0, 17, 17, 0 }, { 0, 25, 25, 0 } },
		.n_pressure = 5,
		.end = 40,
		.expected = { e_high, e_low },
		.max_ticks = 40,
	},
	{
		.name = "equal priority is never squeezed",
		.tenants = { { "A", 50, 256, 1056, 512, 512, 500 }, { "B", 50, 112, 512, 512, 512, 500 } },
		.n_tenants = 2,
		.pressure = { { HOST, 1, 5, 0 }, { 0, 1, 5, 0 } },
		.n_pressure = 2,
		.end = 12,
		.expected = { f_a, no_writes },
		.max_ticks = 12,
	},
	{
		.name = "out of bounds is clamped once, quiet host or not",
		.tenants = { { "big", 50, 256, 1056, 1056, 2048, 500 }, { "small", 50, 256, 1056, 256, 64, 500 } },
		.n_tenants = 2,
		.pressure = { { 1, 30, 30, 0 } },
		.n_pressure = 1,
		.end = 60,
		.expected = { g_clamp_down, g_clamp_up },
		.max_ticks = 0,
	},
	{
		.name = "explicit end, over-high on the squeezed tenant, higher priority wins for HoldSec",
		.tenants = { TENANT_H, TENANT_L },
		.n_tenants = 2,
		/* listed first: at 3 the end arrives before that second's host event */
		.pressure = { { 0, 3, 3, CONTROL_EVENT_PRESSURE_END }, { HOST, 1, 20, 0 }, { 0, 1, 2, 0 },
			      { 1, 4, 20, CONTROL_EVENT_OVER_HIGH } },
		.n_pressure = 4,
		.end = 22,
		.expected = { h_high, h_low },
		.max_ticks = 22,
	},
	{
		.name = "issue 17: pressure, squeeze, quiet while H still runs: hold, no relax",
		.tenants = { TENANT_H, TENANT_L },
		.n_tenants = 2,
		.pressure = { { HOST, 1, 5, 0 }, { 0, 1, 5, 0 } },
		.n_pressure = 2,
		.runs = { { 0, 0, 1000 } },
		.n_runs = 1,
		.end = 120,
		.expected = { i_high, i_low },
		.max_ticks = 20,
		.holding = true,
	},
	{
		.name = "issue 17: H exits (usage falls, stops running): L relaxes fully to its baseline",
		.tenants = { TENANT_H, TENANT_L },
		.n_tenants = 2,
		.pressure = { { HOST, 1, 5, 0 }, { 0, 1, 5, 0 } },
		.n_pressure = 2,
		.runs = { { 0, 0, 30 } },
		.n_runs = 1,
		.demands = { { 0, 30, 0 } },
		.n_demands = 1,
		.end = 120,
		.expected = { j_high, j_low },
		.max_ticks = 60,
	},
	{
		.name = "issue 17: H idle for HoldSec (keeps its memory): L relaxes",
		.tenants = { TENANT_H, TENANT_L },
		.n_tenants = 2,
		.pressure = { { HOST, 1, 5, 0 }, { 0, 1, 5, 0 } },
		.n_pressure = 2,
		.runs = { { 0, 0, 30 } },
		.n_runs = 1,
		.end = 120,
		.expected = { k_high, k_low },
		.max_ticks = 60,
	},
	{
		.name = "issue 17: pressure came back while relaxing: relax stops below the learned level",
		.tenants = { TENANT_H, TENANT_L },
		.n_tenants = 2,
		.pressure = { { HOST, 1, 5, 0 }, { 0, 1, 5, 0 }, { HOST, 38, 39, 0 }, { 0, 38, 39, 0 } },
		.n_pressure = 4,
		.runs = { { 0, 0, 20 }, { 0, 38, 60 } },
		.n_runs = 2,
		.end = 300,
		.expected = { l_high, l_low },
		.max_ticks = 120,
	},
	{
		.name = "issue 17: learned level forgotten when H exits",
		.tenants = { TENANT_H, TENANT_L },
		.n_tenants = 2,
		.pressure = { { HOST, 1, 5, 0 }, { 0, 1, 5, 0 }, { HOST, 38, 39, 0 }, { 0, 38, 39, 0 } },
		.n_pressure = 4,
		.runs = { { 0, 0, 20 }, { 0, 38, 100 } },
		.n_runs = 2,
		.demands = { { 0, 100, 0 } },
		.n_demands = 1,
		.end = 200,
		.expected = { m_high, m_low },
		.max_ticks = 120,
	},
	{
		.name = "issue 17: three priorities: L then M squeezed, both held while H runs, relaxed after it exits",
		.tenants = { TENANT_H, { "M", 50, 112, 512, 512, 512, 500 }, { "L", 10, 112, 512, 192, 192, 100 } },
		.n_tenants = 3,
		/* M itself comes under pressure as it is squeezed (6..7), and keeps running */
		.pressure = { { HOST, 1, 4, 0 }, { 0, 1, 4, 0 }, { 1, 6, 7, 0 } },
		.n_pressure = 3,
		.runs = { { 0, 0, 40 }, { 1, 0, 200 }, { 2, 0, 200 } },
		.n_runs = 3,
		.demands = { { 0, 40, 0 } },
		.n_demands = 1,
		.end = 120,
		.expected = { n_high, n_mid, n_low },
		.max_ticks = 60,
	},
	{
		.name = "issue 17: host quiet, common parent near its limit: squeeze and hold",
		.tenants = { TENANT_H, TENANT_L },
		.n_tenants = 2,
		.pressure = { { 0, 1, 5, 0 } },
		.n_pressure = 1,
		.runs = { { 0, 0, 1000 } },
		.n_runs = 1,
		.limit_near = true,
		.end = 60,
		.expected = { o_high, o_low },
		.max_ticks = 20,
		.holding = true,
	},
};

static void test_scenarios(void **state)
{
	(void) state;

	for (size_t k = 0; k < ELEMENTSOF(scenarios); k++) {
		const Scenario *sc = &scenarios[k];
		SimEvent events[512];
		ControlParams p;
		size_t n_events;
		Sim *sim;

		print_message("scenario: %s\n", sc->name);
		params_default(&p);
		if (sc->headroom_mib)
			p.headroom_bytes = MIB(sc->headroom_mib);
		sim = calloc(1, sizeof(Sim));
		assert_non_null(sim);
		sim_init(sim, &p, sc->tenants, sc->n_tenants);
		sim->runs = sc->runs;
		sim->n_runs = sc->n_runs;
		sim->demands = sc->demands;
		sim->n_demands = sc->n_demands;
		sim->s.limit_near = sc->limit_near;
		n_events = expand_pressure(sc->pressure, sc->n_pressure, events, ELEMENTSOF(events));
		sim_run(sim, events, n_events, SEC(sc->end));
		for (size_t i = 0; i < sc->n_tenants; i++)
			assert_trajectory(sim, i, sc->expected[i]);
		if (sim->n_ticks > sc->max_ticks)
			fail_msg("%zu wakeups, expected at most %u", sim->n_ticks, sc->max_ticks);
		/* Once everything is back at its baseline, nothing needs a timer. */
		if (sc->end >= 60 && !sc->holding)
			assert_int_equal(sim->last_wakeup, CONTROL_NO_WAKEUP);
		free(sim);
	}
}

/* Deterministic xorshift, so a failing seed can be replayed. */
static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static unsigned rnd_range(uint64_t *x, unsigned lo, unsigned hi)
{
	return lo + (unsigned) (rnd(x) % (hi - lo + 1));
}

static size_t random_scenario(uint64_t seed, bool with_host, Sim *sim, SimEvent *events, size_t max_events)
{
	SimTenant t[MAXT];
	ControlParams p;
	size_t n, k = 0;
	uint64_t x = seed * 2654435761ULL + 1;

	params_default(&p);
	p.step_percent = rnd_range(&x, 5, 30);
	p.relax_percent = rnd_range(&x, 2, 20);
	p.hold_usec = SEC(rnd_range(&x, 2, 20));
	p.min_interval_usec = rnd_range(&x, 500, 3000) * USEC_PER_MSEC;
	p.headroom_bytes = MIB(rnd_range(&x, 8, 128));

	n = rnd_range(&x, 1, MAXT);
	for (size_t i = 0; i < n; i++) {
		unsigned min = rnd_range(&x, 16, 128) * 4;
		unsigned max = rnd(&x) % 10 == 0 ? 0 : min + rnd_range(&x, 0, 256) * 4;
		unsigned baseline = max == 0 ? (rnd(&x) % 2 ? 0 : min + rnd_range(&x, 0, 256) * 4)
					     : rnd_range(&x, min, max);

		t[i] = (SimTenant) {
			.name = "r",
			.priority = (int) rnd_range(&x, 0, 4) * 25,
			.min = min,
			.max = max,
			.baseline = baseline,
			.high = baseline,
			.demand = rnd_range(&x, 32, 1500),
		};
	}
	sim_init(sim, &p, t, n);

	/* Up to 12 random episodes within the first 200s, then quiet. */
	for (unsigned e = rnd_range(&x, 1, 12); e > 0; e--) {
		int who = (int) (rnd(&x) % (n + (with_host ? 1 : 0))) - (with_host ? 1 : 0);
		unsigned from = rnd_range(&x, 1, 190), len = rnd_range(&x, 0, 30);
		static const ControlEventKind kinds[] = {
			CONTROL_EVENT_PRESSURE, CONTROL_EVENT_PRESSURE, CONTROL_EVENT_OVER_HIGH,
			CONTROL_EVENT_CHARGE_FAIL, CONTROL_EVENT_PRESSURE_END,
		};
		ControlEventKind kind = kinds[rnd(&x) % ELEMENTSOF(kinds)];

		for (unsigned s = from; s <= from + len && k < max_events; s++) {
			ControlEventKind kk = kind;

			if (who == HOST)
				kk = kind == CONTROL_EVENT_PRESSURE_END ? CONTROL_EVENT_HOST_PRESSURE_END
									: CONTROL_EVENT_HOST_PRESSURE;
			/* sub-second jitter: PSI windows do not line up with anything */
			events[k++] = (SimEvent) {
				.t = SEC(s) + rnd(&x) % USEC_PER_SEC,
				.ev = { .kind = kk, .tenant = who == HOST ? 0 : (size_t) who },
			};
		}
	}
	for (size_t i = 0; i < k; i++)
		events[i].t = events[i].t * 64 + i;
	qsort(events, k, sizeof(*events), cmp_event);
	for (size_t i = 0; i < k; i++)
		events[i].t /= 64;
	return k;
}

static void test_random_properties(void **state)
{
	(void) state;

	for (uint64_t seed = 1; seed <= 300; seed++) {
		SimEvent events[512];
		size_t n_events;
		Sim *sim = calloc(1, sizeof(Sim));

		assert_non_null(sim);
		n_events = random_scenario(seed, true, sim, events, ELEMENTSOF(events));
		/* check_action() asserts bounds, headroom, rate, steps and hysteresis on every write. */
		sim_run(sim, events, n_events, SEC(20000));

		/* Long after the last event everything is back at its baseline and no timer is wanted. */
		for (size_t i = 0; i < sim->n; i++) {
			const ControlTenant *t = &sim->tenants[i];

			if (t->high != control_baseline(t->baseline, t->high_min, t->high_max))
				fail_msg("seed %llu: tenant %zu at %llu, baseline %llu", (unsigned long long) seed, i,
					 (unsigned long long) t->high, (unsigned long long) t->baseline);
		}
		assert_int_equal(sim->last_wakeup, CONTROL_NO_WAKEUP);
		free(sim);
	}
}

static void test_random_quiet_host_never_writes(void **state)
{
	(void) state;

	for (uint64_t seed = 1; seed <= 300; seed++) {
		SimEvent events[512];
		size_t n_events;
		Sim *sim = calloc(1, sizeof(Sim));

		assert_non_null(sim);
		n_events = random_scenario(seed, false, sim, events, ELEMENTSOF(events));
		sim_run(sim, events, n_events, SEC(20000));
		for (size_t i = 0; i < sim->n; i++)
			if (sim->n_writes[i] != 0)
				fail_msg("seed %llu: tenant %zu written %zu times on a quiet host",
					 (unsigned long long) seed, i, sim->n_writes[i]);
		assert_int_equal(sim->n_ticks, 0);
		free(sim);
	}
}

static void test_rate_limit_and_busy(void **state)
{
	ControlTenant t[2] = {
		{ .name = "H", .priority = 90, .high_min = MIB(256), .high_max = MIB(1056), .baseline = MIB(512),
		  .high = MIB(512), .current = MIB(500), .active = true },
		{ .name = "L", .priority = 10, .high_min = MIB(112), .high_max = MIB(512), .baseline = MIB(512),
		  .high = MIB(512), .current = MIB(500), .active = true },
	};
	ControlState s = { .tenants = t, .n_tenants = 2 };
	ControlAction a[2];
	ControlParams p;
	uint64_t wakeup;

	(void) state;
	params_default(&p);
	assert_int_equal(controller_step(&s, &p, &(ControlEvent) { .kind = CONTROL_EVENT_HOST_PRESSURE }, SEC(100),
					 a, 2, &wakeup), 0);
	assert_int_equal(wakeup, CONTROL_NO_WAKEUP);

	/* A write in flight: no second action for that tenant. */
	t[1].busy = true;
	assert_int_equal(controller_step(&s, &p, &(ControlEvent) { .kind = CONTROL_EVENT_PRESSURE, .tenant = 0 },
					 SEC(100), a, 2, &wakeup), 1);
	assert_int_equal(a[0].tenant, 0);
	assert_int_equal(a[0].reason, CONTROL_REASON_RAISE);
	assert_non_null(strstr(a[0].text, "H"));
	controller_write_done(&s, 0, a[0].new_high, SEC(100));
	controller_write_done(&s, 1, MIB(472), SEC(100));
	assert_false(t[1].busy);

	/* Within MinIntervalSec: nothing, and the wakeup says when. */
	assert_int_equal(controller_decide(&s, &p, SEC(100) + 1, a, 2, &wakeup), 0);
	assert_int_equal(wakeup, SEC(101));
	assert_int_equal(controller_decide(&s, &p, SEC(101), a, 2, &wakeup), 2);
	assert_int_equal(a[1].reason, CONTROL_REASON_SQUEEZE);
	assert_non_null(strstr(a[1].text, "H"));

	/* Inactive tenants (cgroup gone or waiting) are ignored. */
	t[1].active = false;
	assert_int_equal(controller_decide(&s, &p, SEC(101), a, 2, &wakeup), 1);
	assert_int_equal(a[0].tenant, 0);
}

/* The first-signal tests' pair: H (90) over its memory.high of 96M, L (10) holding 260M. */
static void first_signal_tenants(ControlTenant t[2])
{
	t[0] = (ControlTenant) { .name = "H", .priority = 90, .high_min = MIB(64), .high_max = MIB(400),
				 .baseline = MIB(96), .high = MIB(96), .current = MIB(100), .active = true };
	t[1] = (ControlTenant) { .name = "L", .priority = 10, .high_min = MIB(64), .high_max = MIB(400),
				 .baseline = MIB(400), .high = MIB(400), .current = MIB(260), .active = true };
}

/*
 * Issue 12, the immediate path: a tenant's first signal (a ring-buffer OVER_HIGH or CHARGE_FAIL
 * record, NEAR_MAX included, which the control loop passes as CHARGE_FAIL; or its PSI trigger)
 * that calls for a squeeze gives the write in the same step, at the signal's own time: no wakeup,
 * no next PSI window. Rows: the contention known before the signal (host PSI earlier in its
 * window, or the limit near), the signal, and whether the step at that instant squeezes L.
 */
static void test_first_signal_acts_at_once(void **state)
{
	static const struct {
		const char *name;
		bool host;                 /* host PSI fired 300 ms before the signal */
		bool limit_near;
		ControlEventKind signal;   /* on H */
		bool squeeze;              /* L squeezed in the same step */
	} rows[] = {
		{ "over-high, host under pressure", true, false, CONTROL_EVENT_OVER_HIGH, true },
		{ "charge failure, host under pressure", true, false, CONTROL_EVENT_CHARGE_FAIL, true },
		{ "PSI trigger, host under pressure", true, false, CONTROL_EVENT_PRESSURE, true },
		{ "over-high, parent near its limit", false, true, CONTROL_EVENT_OVER_HIGH, true },
		{ "charge failure, parent near its limit", false, true, CONTROL_EVENT_CHARGE_FAIL, true },
		{ "over-high, no contention", false, false, CONTROL_EVENT_OVER_HIGH, false },
		{ "charge failure, no contention", false, false, CONTROL_EVENT_CHARGE_FAIL, false },
	};

	(void) state;
	for (size_t k = 0; k < ELEMENTSOF(rows); k++) {
		ControlTenant t[2];
		ControlState s = { .tenants = t, .n_tenants = 2, .limit_near = rows[k].limit_near };
		uint64_t at = SEC(100), signal = at + 300 * USEC_PER_MSEC, wakeup;
		ControlAction a[2];
		int n, squeezed = -1;
		ControlParams p;

		print_message("first signal: %s\n", rows[k].name);
		first_signal_tenants(t);
		params_default(&p);
		if (rows[k].host) {
			/* Contention alone (no tenant under pressure) writes nothing. */
			assert_int_equal(controller_step(&s, &p, &(ControlEvent) { .kind = CONTROL_EVENT_HOST_PRESSURE },
							 at, a, 2, &wakeup), 0);
		}
		n = controller_step(&s, &p, &(ControlEvent) { .kind = rows[k].signal, .tenant = 0 }, signal, a, 2,
				    &wakeup);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++)
			if (a[i].tenant == 1 && a[i].reason == CONTROL_REASON_SQUEEZE) {
				squeezed = i;
				assert_true(a[i].new_high < MIB(400));
				assert_true(a[i].new_high >= MIB(64));
				assert_non_null(strstr(a[i].text, "H"));
			}
		if (rows[k].squeeze)
			assert_true(squeezed >= 0);
		else {
			assert_int_equal(n, 0);
			/* Nothing to wait for either: no wakeup that would act later on this signal alone. */
			for (uint64_t w = wakeup; w != CONTROL_NO_WAKEUP && w < signal + SEC(60);) {
				assert_int_equal(controller_decide(&s, &p, w, a, 2, &w), 0);
			}
		}
	}
}

/*
 * Issue 12, FIRST SIGNAL: an over-high / charge-failure signal is contention by itself when the
 * tenants' limited ancestor, sampled when deciding, has less room than the signalling tenant's next
 * step plus Headroom and another tenant shares it. H's step is 10 % of 336 MiB (33.6 MiB), Headroom=
 * 64 MiB: the boundary is 97.6 MiB of room. Rows: the signal, the room, whether L is there, the age
 * of the signal when deciding (ms), and whether L is squeezed in that step.
 */
static void test_first_signal_room(void **state)
{
	static const struct {
		const char *name;
		ControlEventKind signal;   /* on H */
		unsigned room_mib;         /* 0: limit not known */
		bool alone;
		unsigned age_ms;
		bool squeeze;
	} rows[] = {
		{ "over-high, 40 MiB left", CONTROL_EVENT_OVER_HIGH, 40, false, 0, true },
		{ "charge failure, 40 MiB left", CONTROL_EVENT_CHARGE_FAIL, 40, false, 0, true },
		{ "over-high, 97 MiB left (below step + Headroom)", CONTROL_EVENT_OVER_HIGH, 97, false, 0, true },
		{ "over-high, 98 MiB left (a step and Headroom fit)", CONTROL_EVENT_OVER_HIGH, 98, false, 0, false },
		{ "over-high, 200 MiB left", CONTROL_EVENT_OVER_HIGH, 200, false, 0, false },
		{ "over-high, no limited ancestor", CONTROL_EVENT_OVER_HIGH, 0, false, 0, false },
		{ "PSI trigger alone, 40 MiB left: waits for contention", CONTROL_EVENT_PRESSURE, 40, false, 0, false },
		{ "over-high decided 900 ms later, 40 MiB left", CONTROL_EVENT_OVER_HIGH, 40, false, 900, true },
		{ "over-high decided 1.5 s later (stale), 40 MiB left", CONTROL_EVENT_OVER_HIGH, 40, false, 1500, false },
		{ "alone, over-high, 40 MiB left: untouched", CONTROL_EVENT_OVER_HIGH, 40, true, 0, false },
		{ "alone, charge failure, 1 MiB left: untouched", CONTROL_EVENT_CHARGE_FAIL, 1, true, 0, false },
	};

	(void) state;
	for (size_t k = 0; k < ELEMENTSOF(rows); k++) {
		ControlTenant t[2];
		ControlState s = {
			.tenants = t,
			.n_tenants = rows[k].alone ? 1 : 2,
			.limit_known = rows[k].room_mib > 0,
			.limit_room = MIB(rows[k].room_mib),
			.room_where = "mq has no room under its memory.max for its next step",
		};
		uint64_t at = SEC(100), wakeup;
		ControlAction a[2];
		int n, squeezed = -1;
		ControlParams p;

		print_message("first signal room: %s\n", rows[k].name);
		first_signal_tenants(t);
		params_default(&p);
		assert_int_equal(controller_note_event(&s, &p, &(ControlEvent) { .kind = rows[k].signal, .tenant = 0 },
						       at), 0);
		n = controller_decide(&s, &p, at + (uint64_t) rows[k].age_ms * USEC_PER_MSEC, a, 2, &wakeup);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			/* Whatever acts, acts for this reason, inside the bounds and the headroom rule. */
			assert_non_null(strstr(a[i].text, "mq has no room"));
			assert_true(a[i].new_high >= s.tenants[a[i].tenant].high_min);
			assert_true(a[i].new_high <= s.tenants[a[i].tenant].high_max);
			if (a[i].tenant == 1) {
				assert_int_equal(a[i].reason, CONTROL_REASON_SQUEEZE);
				assert_non_null(strstr(a[i].text, "tenant H"));
				/* One step below its usage (260M, under its memory.high of 400M), never below
				 * memory.current - Headroom. */
				assert_true(a[i].new_high >= MIB(260) - step_bound(&t[1], p.step_percent));
				assert_true(a[i].new_high >= MIB(260) - p.headroom_bytes);
				assert_true(a[i].new_high < MIB(400));
				squeezed = i;
			}
		}
		if (rows[k].squeeze)
			assert_true(squeezed >= 0);
		else
			assert_int_equal(n, 0);
	}
}

/*
 * FIRST SIGNAL keeps the steps: over-high records every 10 ms for 5 s with the ancestor staying
 * short of room lower L at most once per MinIntervalSec=, one step each, and nothing acts twice.
 */
static void test_first_signal_rate_limited(void **state)
{
	ControlTenant t[2];
	ControlState s = { .tenants = t, .n_tenants = 2, .limit_known = true, .limit_room = MIB(20) };
	uint64_t last_l = 0, prev_high = MIB(260); /* L's usage, below its memory.high: steps start there */
	unsigned writes_l = 0;
	ControlAction a[2];
	ControlParams p;

	(void) state;
	first_signal_tenants(t);
	params_default(&p);
	for (uint64_t now = SEC(100); now < SEC(105); now += 10 * USEC_PER_MSEC) {
		int n = controller_step(&s, &p, &(ControlEvent) { .kind = CONTROL_EVENT_OVER_HIGH, .tenant = 0 }, now, a,
					2, NULL);

		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			if (a[i].tenant == 1) {
				assert_int_equal(a[i].reason, CONTROL_REASON_SQUEEZE);
				assert_true(last_l == 0 || now - last_l >= p.min_interval_usec);
				assert_true(prev_high - a[i].new_high <= step_bound(&t[1], p.step_percent));
				prev_high = a[i].new_high;
				last_l = now;
				writes_l++;
				/* The write's reclaim brings L's usage down to the new limit. */
				if (t[1].current > a[i].new_high)
					t[1].current = a[i].new_high;
			}
			controller_write_done(&s, a[i].tenant, a[i].new_high, now);
		}
	}
	/* At 0, 1, 2, 3, 4 s: five steps, the first on the first record. */
	assert_int_equal(writes_l, 5);
	assert_true(t[1].high >= MIB(64));
}

static void test_bad_arguments(void **state)
{
	ControlTenant t = { .high_min = 0, .high_max = MIB(100), .baseline = MIB(50), .high = MIB(50), .active = true };
	ControlState s = { .tenants = &t, .n_tenants = 1 };
	ControlAction a[1];
	ControlParams p;

	(void) state;
	params_default(&p);
	assert_int_equal(controller_step(&s, &p, &(ControlEvent) { .kind = CONTROL_EVENT_PRESSURE, .tenant = 1 },
					 SEC(1), a, 1, NULL), -EINVAL);
	assert_int_equal(controller_step(&s, &p, &(ControlEvent) { .kind = _CONTROL_EVENT_MAX }, SEC(1), a, 1, NULL),
			 -EINVAL);
	assert_int_equal(controller_step(&s, &p, &(ControlEvent) { .kind = CONTROL_EVENT_TICK }, 0, a, 1, NULL),
			 -EINVAL);
	assert_int_equal(controller_decide(&s, NULL, SEC(1), a, 1, NULL), -EINVAL);
	/* An action that does not fit is an error, not a silent drop. */
	t.high = MIB(200);
	assert_int_equal(controller_decide(&s, &p, SEC(1), a, 0, NULL), -ENOBUFS);
	assert_int_equal(controller_decide(&s, &p, SEC(1), a, 1, NULL), 1);
	assert_int_equal(a[0].new_high, MIB(100));
	assert_int_equal(a[0].reason, CONTROL_REASON_CLAMP);

	assert_null(control_reason_to_string(_CONTROL_REASON_MAX));
	assert_string_equal(control_reason_to_string(CONTROL_REASON_SQUEEZE), "squeeze");
	assert_string_equal(control_event_kind_to_string(CONTROL_EVENT_OVER_HIGH), "over-high");
}

static void test_baseline_and_unlimited(void **state)
{
	ControlTenant t[2] = {
		{ .name = "H", .priority = 90, .high_min = MIB(256), .high_max = MIB(1024), .baseline = MIB(512),
		  .high = MIB(512), .current = MIB(500), .active = true },
		/* unlimited: memory.high "max", MemoryHighMax=max */
		{ .name = "L", .priority = 10, .high_min = MIB(100), .high_max = MEMQOSD_BYTES_MAX,
		  .baseline = MEMQOSD_BYTES_MAX, .high = MEMQOSD_BYTES_MAX, .current = MIB(800), .active = true },
	};
	ControlState s = { .tenants = t, .n_tenants = 2 };
	ControlAction a[2];
	ControlParams p;
	uint64_t now = SEC(10), wakeup;
	int r;

	(void) state;
	assert_int_equal(control_baseline(MIB(10), MIB(100), MIB(200)), MIB(100));
	assert_int_equal(control_baseline(MIB(300), MIB(100), MIB(200)), MIB(200));
	assert_int_equal(control_baseline(MEMQOSD_BYTES_MAX, MIB(100), MEMQOSD_BYTES_MAX), MEMQOSD_BYTES_MAX);
	assert_int_equal(control_baseline(MIB(150), MIB(100), MIB(200)), MIB(150));

	params_default(&p);
	(void) controller_note_event(&s, &p, &(ControlEvent) { .kind = CONTROL_EVENT_HOST_PRESSURE }, now);
	r = controller_step(&s, &p, &(ControlEvent) { .kind = CONTROL_EVENT_PRESSURE, .tenant = 0 }, now, a, 2,
			    &wakeup);
	assert_int_equal(r, 2);
	/* From "max" a squeeze starts at the usage, limited by the headroom: 800M - 64M. */
	assert_int_equal(a[1].tenant, 1);
	assert_int_equal(a[1].reason, CONTROL_REASON_SQUEEZE);
	assert_int_equal(a[1].new_high, MIB(736));
	controller_write_done(&s, 1, a[1].new_high, now);
	controller_write_done(&s, 0, a[0].new_high, now);
	t[1].current = MIB(736);

	/* Much later, usage well below the limit: the relax goes straight back to "max". */
	t[1].current = MIB(300);
	r = controller_decide(&s, &p, now + SEC(100), a, 2, &wakeup);
	assert_true(r >= 1);
	for (int k = 0; k < r; k++)
		if (a[k].tenant == 1) {
			assert_int_equal(a[k].reason, CONTROL_REASON_RELAX);
			assert_int_equal(a[k].new_high, MEMQOSD_BYTES_MAX);
		}
}


/*
 * Issue 9: a tenant forecast to OOM against a shared limit gets relief from strictly lower-priority
 * tenants, without any PSI trigger, inside their bounds; equal or higher priorities are left alone,
 * and once the risk is gone the squeezed tenant relaxes back.
 */
static void test_at_risk_gets_relief(void **state)
{
	ControlTenant t[4] = {
		{ .name = "web", .priority = 50, .high_min = MIB(256), .high_max = MIB(1024), .baseline = MIB(1024),
		  .high = MIB(1024), .current = MIB(900), .active = true },
		{ .name = "batch", .priority = 10, .high_min = MIB(256), .high_max = MIB(1024), .baseline = MIB(1024),
		  .high = MIB(1024), .current = MIB(1000), .active = true },
		{ .name = "peer", .priority = 50, .high_min = MIB(256), .high_max = MIB(1024), .baseline = MIB(1024),
		  .high = MIB(1024), .current = MIB(1000), .active = true },
		{ .name = "db", .priority = 90, .high_min = MIB(256), .high_max = MIB(1024), .baseline = MIB(1024),
		  .high = MIB(1024), .current = MIB(1000), .active = true },
	};
	ControlState s = { .tenants = t, .n_tenants = 4 };
	ControlAction a[4];
	ControlParams p;
	uint64_t wakeup, now = SEC(100);
	int r;

	(void) state;
	params_default(&p);
	/* Quiet host, nobody at risk: nothing. */
	assert_int_equal(controller_decide(&s, &p, now, a, 4, &wakeup), 0);

	/* web at risk: only batch (lower priority) is squeezed, one bounded step, with the reason. */
	t[0].at_risk = true;
	r = controller_decide(&s, &p, now, a, 4, &wakeup);
	assert_int_equal(r, 1);
	assert_int_equal(a[0].tenant, 1);
	assert_int_equal(a[0].reason, CONTROL_REASON_SQUEEZE);
	assert_true(a[0].new_high < MIB(1024) && a[0].new_high >= MIB(1000) - p.headroom_bytes);
	assert_non_null(strstr(a[0].text, "web is forecast to run out of memory"));

	/* Down to MemoryHighMin at most, however long the risk lasts. */
	for (int k = 0; k < 200; k++) {
		now += SEC(1);
		controller_write_done(&s, 1, a[0].new_high, now);
		t[1].current = t[1].high;
		now += p.min_interval_usec;
		r = controller_decide(&s, &p, now, a, 4, &wakeup);
		if (r == 0)
			break;
		assert_int_equal(r, 1);
		assert_int_equal(a[0].tenant, 1);
		assert_true(a[0].new_high >= MIB(256));
	}
	assert_int_equal(t[1].high, MIB(256));
	assert_int_equal(t[2].high, MIB(1024));
	assert_int_equal(t[3].high, MIB(1024));

	/* The risk is over: batch relaxes back toward its baseline. */
	t[0].at_risk = false;
	now += SEC(1);
	r = controller_decide(&s, &p, now, a, 4, &wakeup);
	assert_int_equal(r, 1);
	assert_int_equal(a[0].tenant, 1);
	assert_int_equal(a[0].reason, CONTROL_REASON_RELAX);

	/* db, the most important, at risk: everybody below gives way, lowest level first. */
	t[1].high = MIB(1024);
	t[3].at_risk = true;
	r = controller_decide(&s, &p, now + SEC(10), a, 4, &wakeup);
	assert_true(r >= 1);
	for (int k = 0; k < r; k++) {
		assert_int_equal(a[k].reason, CONTROL_REASON_SQUEEZE);
		assert_true(a[k].tenant != 3);
		/* Lowest level first: batch before web and peer. */
		assert_int_equal(a[k].tenant, 1);
	}
}

/* controller_note_sample(): what counts as activity, as a release, and as the level to remember. */
static void test_note_sample(void **state)
{
	ControlTenant t[2] = {
		{ .name = "H", .priority = 90, .high_min = MIB(128), .high_max = MEMQOSD_BYTES_MAX,
		  .baseline = MEMQOSD_BYTES_MAX, .high = MEMQOSD_BYTES_MAX, .active = true },
		{ .name = "L", .priority = 10, .high_min = MIB(48), .high_max = MEMQOSD_BYTES_MAX,
		  .baseline = MEMQOSD_BYTES_MAX, .high = MIB(100), .active = true },
	};
	ControlState s = { .tenants = t, .n_tenants = 2 };
	ControlParams p;
	ControlHistory *h = &t[0].hist;

	(void) state;
	params_default(&p);
	assert_int_equal(controller_note_sample(&s, &p, 2, &(ControlSample) {}, SEC(1)), -EINVAL);
	assert_int_equal(controller_note_sample(&s, &p, 0, NULL, SEC(1)), -EINVAL);
	assert_int_equal(controller_note_sample(&s, &p, 0, &(ControlSample) {}, 0), -EINVAL);

	/* The first sample is only a reference. */
	assert_int_equal(controller_note_sample(&s, &p, 0, &(ControlSample) { MIB(200), 1000, 0 }, SEC(10)), 0);
	assert_int_equal(h->last_active_usec, 0);
	assert_int_equal(t[0].current, MIB(200));
	/* Closer than CONTROL_SAMPLE_MIN_USEC: not compared, CPU time accumulates. */
	(void) controller_note_sample(&s, &p, 0, &(ControlSample) { MIB(200), 1000 + 5000, 0 }, SEC(10) + 100000);
	assert_int_equal(h->last_active_usec, 0);
	/* 9 ms of CPU in 1 s is below 1% of one CPU: idle. */
	(void) controller_note_sample(&s, &p, 0, &(ControlSample) { MIB(200), 1000 + 9000, 0 }, SEC(11));
	assert_int_equal(h->last_active_usec, 0);
	/* 10 ms in the next second: active; so is a single refault. */
	(void) controller_note_sample(&s, &p, 0, &(ControlSample) { MIB(200), 1000 + 19000, 0 }, SEC(12));
	assert_int_equal(h->last_active_usec, SEC(12));
	(void) controller_note_sample(&s, &p, 0, &(ControlSample) { MIB(200), 1000 + 19000, 1 }, SEC(13));
	assert_int_equal(h->last_active_usec, SEC(13));
	/* A few refaults are activity, not pressure. */
	assert_false(controller_tenant_pressured(&t[0], &p, SEC(13)));

	/* Demand: pressured once, then active within HoldSec. */
	(void) controller_note_event(&s, &p, &(ControlEvent) { .kind = CONTROL_EVENT_PRESSURE, .tenant = 0 }, SEC(13));
	assert_true(controller_tenant_demand(&t[0], &p, SEC(13) + SEC(25)) == false);
	assert_true(controller_tenant_demand(&t[0], &p, SEC(22)));
	/* Usage falls by a quarter: no release; below half its peak: a release, and no demand. */
	(void) controller_note_sample(&s, &p, 0, &(ControlSample) { MIB(150), 1000 + 19000, 2 }, SEC(16));
	assert_int_equal(h->released_usec, 0);
	assert_int_equal(h->usage_peak, MIB(200));
	(void) controller_note_sample(&s, &p, 0, &(ControlSample) { MIB(90), 1000 + 19000, 3 }, SEC(17));
	assert_int_equal(h->released_usec, SEC(17));
	assert_int_equal(h->usage_peak, MIB(90));
	assert_false(controller_tenant_demand(&t[0], &p, SEC(18)));
	/* New pressure after the release: demand again. */
	(void) controller_note_event(&s, &p, &(ControlEvent) { .kind = CONTROL_EVENT_PRESSURE, .tenant = 0 }, SEC(19));
	assert_true(controller_tenant_demand(&t[0], &p, SEC(19)));
	/* Usage below half its peak while under pressure is reclaim taking the memory it wants (issue
	 * 17: a thrashing high tenant pushed down by its parent's limit), not a release. */
	(void) controller_note_sample(&s, &p, 0, &(ControlSample) { MIB(40), 20000, 3 }, SEC(20));
	assert_int_equal(h->released_usec, SEC(17));
	assert_int_equal(h->usage_peak, MIB(90));
	assert_true(controller_tenant_demand(&t[0], &p, SEC(20)));
	/* Once the pressure is over with the usage still that low, it gave the memory up. */
	(void) controller_note_sample(&s, &p, 0, &(ControlSample) { MIB(40), 20000, 3 }, SEC(22) + 1);
	assert_int_equal(h->released_usec, SEC(22) + 1);
	assert_false(controller_tenant_demand(&t[0], &p, SEC(22) + 1));
	t[0].active = false;
	assert_false(controller_tenant_demand(&t[0], &p, SEC(19)));
	t[0].active = true;
	/* Refaulting at CONTROL_REFAULT_PRESSURE_PAGES per second or more is pressure (PSI quiet). */
	t[0].pressured = false;
	(void) controller_note_sample(&s, &p, 0, &(ControlSample) { MIB(90), 20000, 3 + 1023 }, SEC(40));
	assert_false(controller_tenant_pressured(&t[0], &p, SEC(40)));
	(void) controller_note_sample(&s, &p, 0, &(ControlSample) { MIB(90), 20000, 3 + 1023 + 512 }, SEC(40) + SEC(1) / 2);
	assert_true(controller_tenant_pressured(&t[0], &p, SEC(40) + SEC(1) / 2));
	assert_int_equal(t[0].last_pressure_usec, SEC(40) + SEC(1) / 2);

	/* L: relaxed up from 100M to 120M, then lowered to 90M: pressure came back at 120M (its usage
	 * was 110M then, lower: that is the level learned). A lowering without a relax before it
	 * learns nothing. */
	(void) controller_note_sample(&s, &p, 1, &(ControlSample) { .current = MIB(100) }, SEC(20));
	t[1].high = MIB(80);
	(void) controller_note_sample(&s, &p, 1, &(ControlSample) { .current = MIB(80) }, SEC(21));
	assert_int_equal(t[1].hist.ceiling_usec, 0);
	t[1].high = MIB(120);
	(void) controller_note_sample(&s, &p, 1, &(ControlSample) { .current = MIB(110) }, SEC(22));
	t[1].high = MIB(90);
	(void) controller_note_sample(&s, &p, 1, &(ControlSample) { .current = MIB(90) }, SEC(23));
	assert_int_equal(t[1].hist.ceiling, MIB(110));
	assert_int_equal(t[1].hist.ceiling_usec, SEC(23));
	/* RelaxCeilingSec=0: nothing is learned. */
	p.relax_ceiling_usec = 0;
	t[1].hist = (ControlHistory) {};
	(void) controller_note_sample(&s, &p, 1, &(ControlSample) { .current = MIB(90) }, SEC(30));
	t[1].high = MIB(120);
	(void) controller_note_sample(&s, &p, 1, &(ControlSample) { .current = MIB(110) }, SEC(31));
	t[1].high = MIB(90);
	(void) controller_note_sample(&s, &p, 1, &(ControlSample) { .current = MIB(90) }, SEC(32));
	assert_int_equal(t[1].hist.ceiling_usec, 0);
}

/* Issue 17's stall: after a round of reclaim of ours, is another due, and with the tenant paused? */
static void test_reclaim_after_write(void **state)
{
	static const struct {
		const char *name;
		uint64_t high, current;
		bool interrupted, paused;
		unsigned rounds;
		ControlReclaim want;
	} rows[] = {
		{ "below the new memory.high: done", MIB(168), MIB(160), false, false, 0, CONTROL_RECLAIM_DONE },
		{ "above by the per-CPU stock only: done", MIB(168), MIB(168) + CONTROL_RECLAIM_SLACK, false, false, 0,
		  CONTROL_RECLAIM_DONE },
		{ "memory.high max: nothing to reclaim", MEMQOSD_BYTES_MAX, MIB(500), false, false, 0, CONTROL_RECLAIM_DONE },
		/* The VM stall: 168M written, 200M still used, the kernel gave up (pgscan 237k, pgsteal 18). */
		{ "stall: kernel gave up on a running tenant: pause it", MIB(168), MIB(200), false, false, 0,
		  CONTROL_RECLAIM_PAUSED },
		{ "interrupted at the timeout while running: again, running", MIB(168), MIB(190), true, false, 0,
		  CONTROL_RECLAIM_AGAIN },
		{ "paused round cut by the timeout: paused again", MIB(168), MIB(180), true, true, 1,
		  CONTROL_RECLAIM_PAUSED },
		{ "paused round gave up: nothing reclaimable (swap full or off)", MIB(168), MIB(200), false, true, 1,
		  CONTROL_RECLAIM_DONE },
		{ "bounded: no round after the last", MIB(168), MIB(200), false, false, CONTROL_RECLAIM_ROUNDS_MAX,
		  CONTROL_RECLAIM_DONE },
		{ "bounded, interrupted: none either", MIB(168), MIB(200), true, true, CONTROL_RECLAIM_ROUNDS_MAX,
		  CONTROL_RECLAIM_DONE },
		{ "one round before the bound: still one", MIB(168), MIB(200), true, false,
		  CONTROL_RECLAIM_ROUNDS_MAX - 1, CONTROL_RECLAIM_AGAIN },
	};

	(void) state;
	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		ControlReclaim got = controller_reclaim_after_write(rows[i].high, rows[i].current, rows[i].interrupted,
								      rows[i].paused, rows[i].rounds);

		if (got != rows[i].want)
			fail_msg("%s: got %d, want %d", rows[i].name, got, rows[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_random_properties),
		cmocka_unit_test(test_random_quiet_host_never_writes),
		cmocka_unit_test(test_rate_limit_and_busy),
		cmocka_unit_test(test_first_signal_acts_at_once),
		cmocka_unit_test(test_first_signal_room),
		cmocka_unit_test(test_first_signal_rate_limited),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_baseline_and_unlimited),
		cmocka_unit_test(test_at_risk_gets_relief),
		cmocka_unit_test(test_note_sample),
		cmocka_unit_test(test_reclaim_after_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
