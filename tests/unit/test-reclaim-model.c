/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of src/reclaim-model.c: step sizing (floor, cap, host pressure by priority), the refault
 * budget, back-off and its hold (net of refaults: a round whose gain came back is futile), settling
 * and waking, the priority rule under host pressure (order, depth, own pressure ignored, one wake
 * per episode; a two-tenant run of the pure parts), and the "saved" estimate.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>

#include <cmocka.h>

#include "reclaim-model.h"
#include "util.h"

#define SEC(x) ((uint64_t) (x) * USEC_PER_SEC)
#define MIB(x) ((uint64_t) (x) << 20)
#define KIB(x) ((uint64_t) (x) << 10)

static ReclaimParams params(void)
{
	ReclaimParams p;

	config_reclaim_defaults(&p);
	return p;
}

static void test_step_table(void **state)
{
	static const struct {
		uint64_t current, floor;
		int priority;
		bool host;
		unsigned percent;
		uint64_t step_max;
		uint64_t want;
	} rows[] = {
		/* 2 % of what lies above the floor, page-rounded */
		{ MIB(1000), 0, 50, false, 2, MIB(64), 20971520 },
		{ MIB(1000), MIB(500), 50, false, 2, MIB(64), 10485760 },
		/* capped at StepMax= */
		{ MIB(8000), 0, 50, false, 2, MIB(64), MIB(64) },
		/* at the floor, below it, or too little above it: nothing */
		{ MIB(100), MIB(100), 50, false, 2, MIB(64), 0 },
		{ MIB(90), MIB(100), 50, false, 2, MIB(64), 0 },
		{ MIB(110), MIB(100), 50, false, 2, MIB(64), 0 },  /* 2 % of 10M < 256K */
		/* host pressure: priority 0 five times, 100 once, 50 three times; cap 4x StepMax= */
		{ MIB(1000), 0, 0, true, 2, MIB(64), MIB(100) },
		{ MIB(1000), 0, 100, true, 2, MIB(64), 20971520 },
		{ MIB(1000), 0, 50, true, 2, MIB(64), 62914560 },
		{ MIB(8000), 0, 0, true, 2, MIB(64), MIB(256) },
		/* a step never exceeds what lies above the floor */
		{ MIB(101), MIB(100), 0, true, 50, MIB(64), MIB(1) },
		/* odd sizes are rounded down to pages */
		{ MIB(1000) + 12345, 0, 50, false, 2, MIB(64), 20971520 },
	};

	(void) state;
	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		ReclaimParams p = params();
		uint64_t got;

		p.step_percent = rows[i].percent;
		p.step_max_bytes = rows[i].step_max;
		got = reclaim_model_step(&p, rows[i].current, rows[i].floor, rows[i].priority, rows[i].host);
		if (got != rows[i].want)
			fail_msg("row %zu: step %" PRIu64 ", expected %" PRIu64, i, got, rows[i].want);
		assert_int_equal(got % 4096, 0);
	}
}

/*
 * The ramp: a tenant 192 MiB above its 64 MiB hot set (the benchmark's 256 MiB / 64 MiB hot) with
 * the default 2 % steps. Unramped the descent is a geometric series (each step 2 % of what is left:
 * about 70 steps); ramped, each clean step doubles the next, up to 16x, never more than StepMax= or
 * half of what lies above the floor. The kernel reclaims cold memory first and comes back -EAGAIN
 * once a step reaches the hot set.
 */
static unsigned descend(bool ramped, uint64_t *biggest)
{
	ReclaimParams p = params();
	ReclaimModel m;
	uint64_t current = MIB(256), hot = MIB(64);
	unsigned steps = 0;

	reclaim_model_init(&m);
	*biggest = 0;
	while (m.phase == RECLAIM_PROBING && steps < 1000) {
		uint64_t step = ramped ? reclaim_model_next_step(&m, &p, current, 0, 50, false)
				       : reclaim_model_step(&p, current, 0, 50, false);
		uint64_t got;

		if (step == 0)
			break;
		assert_true(step <= p.step_max_bytes);
		if (m.ramp > 0)
			assert_true(step <= current / 2);
		if (step > *biggest)
			*biggest = step;
		got = current - hot < step ? current - hot : step;
		(void) reclaim_model_step_done(&m, step, current, current - got, got < step ? -EAGAIN : 0);
		current -= got;
		steps++;
	}
	assert_int_equal(m.phase, RECLAIM_SETTLED);
	assert_int_equal(current, hot);
	return steps;
}

static void test_ramp(void **state)
{
	ReclaimParams p = params();
	ReclaimModel m;
	uint64_t biggest, plain_biggest;
	unsigned plain = descend(false, &plain_biggest), ramped = descend(true, &biggest);

	(void) state;
	print_message("descent 256 -> 64 MiB at 2 %%: %u steps plain (largest %" PRIu64 " KiB), %u ramped (largest %" PRIu64 " KiB)\n",
		      plain, plain_biggest >> 10, ramped, biggest >> 10);
	assert_true(plain > 60);
	assert_true(ramped <= 8);
	assert_true(biggest <= p.step_max_bytes);

	/* doubling: 2 % of 1000M, then 4 %, 8 %, 16 %, 32 % of what is left (at most half of it, StepMax=) */
	p.step_max_bytes = MIB(4096);
	reclaim_model_init(&m);
	assert_int_equal(reclaim_model_next_step(&m, &p, MIB(1000), 0, 50, false), 20971520);
	(void) reclaim_model_step_done(&m, MIB(20), MIB(1000), MIB(980), 0);
	assert_int_equal(m.ramp, 1);
	assert_int_equal(reclaim_model_next_step(&m, &p, MIB(1000), 0, 50, false), 41943040);
	m.ramp = RECLAIM_RAMP_MAX;
	assert_int_equal(reclaim_model_next_step(&m, &p, MIB(1000), 0, 50, false), 335544320);
	/* never past RECLAIM_RAMP_MAX */
	(void) reclaim_model_step_done(&m, MIB(20), MIB(1000), MIB(980), 0);
	assert_int_equal(m.ramp, RECLAIM_RAMP_MAX);
	/* at most half of what lies above the floor (10 % of 100M ramped 16x is 160M) */
	p.step_percent = 10;
	assert_int_equal(reclaim_model_next_step(&m, &p, MIB(300), MIB(200), 50, false), MIB(50));
	/* near the floor, half is under the minimum: the plain step, if it is not */
	p.step_percent = 100;
	assert_int_equal(reclaim_model_next_step(&m, &p, MIB(200) + KIB(400), MIB(200), 50, false), KIB(400));

	/* a step that got less than half of what it asked is not clean: no ramp */
	p = params();
	reclaim_model_init(&m);
	(void) reclaim_model_step_done(&m, MIB(20), MIB(1000), MIB(991), 0);
	assert_int_equal(m.ramp, 0);
	/* a failed write neither */
	(void) reclaim_model_step_done(&m, MIB(20), MIB(1000), MIB(980), -EBUSY);
	assert_int_equal(m.ramp, 0);
	(void) reclaim_model_step_done(&m, MIB(20), MIB(1000), MIB(980), 0);
	(void) reclaim_model_step_done(&m, MIB(20), MIB(980), MIB(960), 0);
	assert_int_equal(m.ramp, 2);
	/* a back-off starts it again */
	assert_true(reclaim_model_backoff(&m, &p, RECLAIM_CAUSE_REFAULT, false, SEC(100)));
	assert_int_equal(m.ramp, 0);
	reclaim_model_hold_over(&m, MIB(960), SEC(200));
	assert_int_equal(m.phase, RECLAIM_PROBING);
	assert_int_equal(reclaim_model_next_step(&m, &p, MIB(1000), 0, 50, false), 20971520);
	/* and so does settling (-EAGAIN), and waking */
	(void) reclaim_model_step_done(&m, MIB(20), MIB(1000), MIB(980), 0);
	(void) reclaim_model_step_done(&m, MIB(20), MIB(980), MIB(970), -EAGAIN);
	assert_int_equal(m.ramp, 0);
	m.ramp = 3;
	assert_true(reclaim_model_wake(&m, MIB(2000), false));
	assert_int_equal(m.ramp, 0);
}

static void test_floor(void **state)
{
	TenantConfig c = { .memory_high_min = MEMQOSD_BYTES_MAX, .memory_high_max = MEMQOSD_BYTES_MAX };

	(void) state;
	config_reclaim_defaults(&c.reclaim);
	assert_int_equal(reclaim_model_floor(&c), 0);
	c.reclaim.floor_bytes = MIB(100);
	assert_int_equal(reclaim_model_floor(&c), MIB(100));
	c.has_memory_low = true;
	c.memory_low = MIB(200);
	assert_int_equal(reclaim_model_floor(&c), MIB(200));
	c.memory_high_min = MIB(300);
	assert_int_equal(reclaim_model_floor(&c), MIB(300));
	c.memory_high_min = MIB(50);
	assert_int_equal(reclaim_model_floor(&c), MIB(200));
}

static void test_refault_budget(void **state)
{
	ReclaimParams p = params();

	(void) state;
	/* 5 % of a 20M step (5120 pages) is 256 pages */
	assert_int_equal(reclaim_model_refault_budget(&p, MIB(20)), 256);
	/* never 0: one refault is the least that counts */
	assert_int_equal(reclaim_model_refault_budget(&p, 4096), 1);
	p.refault_percent = 100;
	assert_int_equal(reclaim_model_refault_budget(&p, MIB(1)), 256);
	/* PressureTarget= is inclusive */
	assert_false(reclaim_model_over_target(&p, 9));
	assert_true(reclaim_model_over_target(&p, 10));
}

static void test_step_done(void **state)
{
	ReclaimModel m;

	(void) state;
	reclaim_model_init(&m);
	/* counted: the drop, at most what was asked for */
	assert_int_equal(reclaim_model_step_done(&m, MIB(10), MIB(500), MIB(490), 0), MIB(10));
	assert_int_equal(reclaim_model_step_done(&m, MIB(10), MIB(490), MIB(400), 0), MIB(10));
	/* memory.current went up meanwhile: nothing counted */
	assert_int_equal(reclaim_model_step_done(&m, MIB(10), MIB(400), MIB(420), 0), 0);
	/* a failed write counts nothing and is no step */
	assert_int_equal(reclaim_model_step_done(&m, MIB(10), MIB(420), MIB(300), -EBUSY), 0);
	assert_int_equal(m.steps, 3);
	assert_int_equal(m.reclaimed_bytes, MIB(20));
	assert_int_equal(m.phase, RECLAIM_PROBING);
	/* -EAGAIN: partial, counted, and the tenant settles where it is */
	assert_int_equal(reclaim_model_step_done(&m, MIB(10), MIB(420), MIB(416), -EAGAIN), MIB(4));
	assert_int_equal(m.phase, RECLAIM_SETTLED);
	assert_int_equal(m.settled_current, MIB(416));
	assert_int_equal(m.reclaimed_bytes, MIB(24));
}

static void test_backoff_hold(void **state)
{
	ReclaimParams p = params();
	ReclaimModel m;

	(void) state;
	reclaim_model_init(&m);
	(void) reclaim_model_step_done(&m, MIB(10), MIB(500), MIB(490), 0);
	/* progress before it: plain hold */
	assert_true(reclaim_model_backoff(&m, &p, RECLAIM_CAUSE_REFAULT, false, SEC(100)));
	assert_false(reclaim_model_backoff(&m, &p, RECLAIM_CAUSE_PRESSURE, false, SEC(101)));  /* already */
	assert_int_equal(m.phase, RECLAIM_BACKOFF);
	assert_int_equal(m.hold_until_usec, SEC(130));
	assert_int_equal(m.last_cause, RECLAIM_CAUSE_REFAULT);
	assert_int_equal(m.backoffs, 1);
	reclaim_model_hold_over(&m, MIB(490), SEC(129));
	assert_int_equal(m.phase, RECLAIM_BACKOFF);
	reclaim_model_hold_over(&m, MIB(490), SEC(130));
	assert_int_equal(m.phase, RECLAIM_PROBING);

	/* futile back-offs in a row: hold 30, 60, then settle after the third */
	assert_true(reclaim_model_backoff(&m, &p, RECLAIM_CAUSE_REFAULT, false, SEC(200)));
	assert_int_equal(m.futile, 1);
	assert_int_equal(m.hold_until_usec, SEC(230));
	reclaim_model_hold_over(&m, MIB(490), SEC(230));
	assert_true(reclaim_model_backoff(&m, &p, RECLAIM_CAUSE_PRESSURE, false, SEC(300)));
	assert_int_equal(m.hold_until_usec, SEC(360));
	reclaim_model_hold_over(&m, MIB(490), SEC(360));
	assert_int_equal(m.phase, RECLAIM_PROBING);
	assert_true(reclaim_model_backoff(&m, &p, RECLAIM_CAUSE_REFAULT, false, SEC(400)));
	assert_int_equal(m.hold_until_usec, SEC(400) + SEC(120));
	reclaim_model_hold_over(&m, MIB(480), SEC(520));
	assert_int_equal(m.phase, RECLAIM_SETTLED);
	assert_int_equal(m.settled_current, MIB(480));
}

/*
 * The quarter-hot tenant at its hot set (VM run, 2026-11-30: 11 back-offs, 1,191 major faults in
 * the measured 20 s): each round's 6.5 MiB step took hot pages, they came back as refaults during
 * the hold, and a round that reclaimed anything counted as progress, so it never settled. A table
 * of rounds: what the round reclaimed, the refaults by its back-off and by the end of its hold.
 */
static void test_gain_given_back(void **state)
{
	static const struct {
		uint64_t reclaimed, refaulted_at_backoff, refaulted_at_hold_end;
		unsigned want_futile;
		ReclaimPhase want_phase;  /* after the hold */
	} rounds[] = {
		{ MIB(20), 0, KIB(512), 0, RECLAIM_PROBING },              /* cold memory: it stays out */
		{ MIB(6) + KIB(512), KIB(16), MIB(6), 1, RECLAIM_PROBING }, /* hot pages: they came back */
		{ MIB(6) + KIB(512), KIB(16), MIB(6) + KIB(256), 2, RECLAIM_PROBING },
		{ MIB(6) + KIB(512), KIB(16), MIB(6) + KIB(400), 3, RECLAIM_SETTLED },
	};
	ReclaimParams p = params();
	ReclaimModel m;
	uint64_t now = SEC(100), refaulted = 0, current = MIB(256);

	(void) state;
	reclaim_model_init(&m);
	for (size_t i = 0; i < ELEMENTSOF(rounds); i++) {
		uint64_t base = refaulted;

		(void) reclaim_model_step_done(&m, rounds[i].reclaimed, current, current - rounds[i].reclaimed, 0);
		current -= rounds[i].reclaimed;
		m.refaulted_bytes = base + rounds[i].refaulted_at_backoff;
		assert_true(reclaim_model_backoff(&m, &p, RECLAIM_CAUSE_REFAULT, false, now));
		/* not judged futile yet: a plain hold, whatever the rounds before */
		assert_int_equal(m.hold_until_usec, now + p.hold_usec);
		refaulted = base + rounds[i].refaulted_at_hold_end;
		m.refaulted_bytes = refaulted;
		current += rounds[i].refaulted_at_hold_end;
		now = m.hold_until_usec;
		reclaim_model_hold_over(&m, current, now);
		assert_int_equal(m.futile, rounds[i].want_futile);
		assert_int_equal(m.phase, rounds[i].want_phase);
	}
	assert_int_equal(m.settled_current, current);

	/* A round with a real net gain in between resets the count. */
	reclaim_model_init(&m);
	m.refaulted_bytes = refaulted = 0;
	for (unsigned k = 0; k < 5; k++) {
		bool real = k == 2;

		(void) reclaim_model_step_done(&m, MIB(6), MIB(100), MIB(94), 0);
		assert_true(reclaim_model_backoff(&m, &p, RECLAIM_CAUSE_REFAULT, false, now));
		refaulted += real ? MIB(1) : MIB(6);
		m.refaulted_bytes = refaulted;
		now = m.hold_until_usec;
		reclaim_model_hold_over(&m, MIB(100), now);
		assert_int_equal(m.futile, k < 2 ? k + 1 : k - 2);
		assert_int_equal(m.phase, RECLAIM_PROBING);
	}
}

static void test_wake(void **state)
{
	ReclaimModel m;

	(void) state;
	reclaim_model_init(&m);
	/* only a settled tenant wakes */
	assert_false(reclaim_model_wake(&m, MIB(1000), true));
	(void) reclaim_model_step_done(&m, MIB(10), MIB(410), MIB(400), -EAGAIN);
	assert_int_equal(m.phase, RECLAIM_SETTLED);
	/* grown less than 10 %: stays */
	assert_false(reclaim_model_wake(&m, MIB(439), false));
	assert_int_equal(m.phase, RECLAIM_SETTLED);
	/* 10 %: probes again */
	assert_true(reclaim_model_wake(&m, MIB(440), false));
	assert_int_equal(m.phase, RECLAIM_PROBING);
	/* host pressure wakes it whatever its size, once per episode of it */
	(void) reclaim_model_step_done(&m, MIB(10), MIB(410), MIB(400), -EAGAIN);
	assert_true(reclaim_model_wake(&m, MIB(300), true));
	(void) reclaim_model_step_done(&m, MIB(10), MIB(300), MIB(295), -EAGAIN);
	assert_false(reclaim_model_wake(&m, MIB(295), true));
	assert_int_equal(m.phase, RECLAIM_SETTLED);
	/* ... unless it grew */
	assert_true(reclaim_model_wake(&m, MIB(330), true));
	(void) reclaim_model_step_done(&m, MIB(10), MIB(330), MIB(325), -EAGAIN);
	/* the episode ends (a call without host pressure): the next one wakes it again */
	assert_false(reclaim_model_wake(&m, MIB(325), false));
	assert_true(reclaim_model_wake(&m, MIB(325), true));
	/* a tiny tenant needs RECLAIM_STEP_MIN of growth, not 10 % of nothing */
	reclaim_model_init(&m);
	(void) reclaim_model_step_done(&m, KIB(8), KIB(8), KIB(4), -EAGAIN);
	assert_false(reclaim_model_wake(&m, KIB(100), false));
	assert_true(reclaim_model_wake(&m, KIB(4) + RECLAIM_STEP_MIN, false));
}

static void test_priority_order(void **state)
{
	/* low (10), mid (50), high (90), all probing with cold memory */
	ReclaimCandidate c[] = {
		{ .priority = 90, .phase = RECLAIM_PROBING, .above_floor = true },
		{ .priority = 10, .phase = RECLAIM_PROBING, .above_floor = true },
		{ .priority = 50, .phase = RECLAIM_PROBING, .above_floor = true },
	};
	/* what holds a higher tenant back under host pressure: a lower one in this phase, above its floor */
	static const struct {
		ReclaimPhase phase;
		bool above_floor;
		bool holds;
	} rows[] = {
		{ RECLAIM_PROBING, true, true },   /* it still has cold memory */
		{ RECLAIM_BACKOFF, true, true },   /* backing off (refaults or pressure) is not "nothing cold left" */
		{ RECLAIM_SETTLED, true, false },  /* -EAGAIN or futile rounds: nothing cold left */
		{ RECLAIM_PROBING, false, false }, /* at its floor (or no cgroup) */
		{ RECLAIM_BACKOFF, false, false },
	};

	(void) state;
	/* no host pressure: everyone at its own pace, whatever the others do */
	for (size_t i = 0; i < ELEMENTSOF(c); i++)
		assert_true(reclaim_model_may_step(c, ELEMENTSOF(c), i, false));
	/* host pressure: only the lowest */
	assert_false(reclaim_model_may_step(c, ELEMENTSOF(c), 0, true));
	assert_true(reclaim_model_may_step(c, ELEMENTSOF(c), 1, true));
	assert_false(reclaim_model_may_step(c, ELEMENTSOF(c), 2, true));
	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		c[1].phase = rows[i].phase;
		c[1].above_floor = rows[i].above_floor;
		assert_int_equal(reclaim_model_may_step(c, ELEMENTSOF(c), 2, true), !rows[i].holds);
		assert_false(reclaim_model_may_step(c, ELEMENTSOF(c), 0, true));  /* mid still probing */
		assert_true(reclaim_model_may_step(c, ELEMENTSOF(c), 1, true));  /* nobody below the lowest */
		assert_true(reclaim_model_may_step(c, ELEMENTSOF(c), 2, false));
	}
	/* low and mid both done: the highest goes */
	c[1].phase = RECLAIM_SETTLED;
	c[2].phase = RECLAIM_SETTLED;
	assert_true(reclaim_model_may_step(c, ELEMENTSOF(c), 0, true));
	/* equal priorities do not wait for each other */
	c[1] = (ReclaimCandidate) { .priority = 90, .phase = RECLAIM_PROBING, .above_floor = true };
	assert_true(reclaim_model_may_step(c, ELEMENTSOF(c), 0, true));
	assert_true(reclaim_model_may_step(c, ELEMENTSOF(c), 1, true));
}

/* Under host pressure a tenant's own pressure does not back it off; its refaults still do. */
static void test_host_pressure_backoff(void **state)
{
	ReclaimParams p = params();
	ReclaimModel m;

	(void) state;
	reclaim_model_init(&m);
	assert_false(reclaim_model_backoff(&m, &p, RECLAIM_CAUSE_PRESSURE, true, SEC(10)));
	assert_int_equal(m.phase, RECLAIM_PROBING);
	assert_int_equal(m.backoffs, 0);
	assert_int_equal(m.futile, 0);
	/* without host pressure the same pressure stops it */
	assert_true(reclaim_model_backoff(&m, &p, RECLAIM_CAUSE_PRESSURE, false, SEC(11)));
	assert_int_equal(m.phase, RECLAIM_BACKOFF);
	reclaim_model_hold_over(&m, MIB(200), SEC(11) + p.hold_usec);
	assert_int_equal(m.phase, RECLAIM_PROBING);
	/* refaults after its step stop it under host pressure too */
	(void) reclaim_model_step_done(&m, MIB(10), MIB(200), MIB(190), 0);
	assert_true(reclaim_model_backoff(&m, &p, RECLAIM_CAUSE_REFAULT, true, SEC(100)));
	assert_int_equal(m.last_cause, RECLAIM_CAUSE_REFAULT);
}

/*
 * The pure parts together, as src/reclaim.c drives them: two tenants of 200 MiB with 50 MiB hot,
 * priority 10 and 90, one tick a second, host pressure throughout and both tenants' own PSI over
 * their target on every tick (what the VM's hog does). The kernel reclaims a step's worth of cold
 * memory, and comes back -EAGAIN once the step reaches the hot set (the hot pages stay: nothing
 * refaults). Expected: the low tenant steps first, deeper, down to its hot set; the high one does
 * not step until the low one has settled. Without host pressure both back off on their own PSI.
 */
typedef struct SimTenant {
	int priority;
	uint64_t current, hot;
	ReclaimModel m;
	int first_step;              /* tick of its first step, -1 = none */
	uint64_t biggest_step;
} SimTenant;

static void sim_run(SimTenant *t, size_t n, bool host, int ticks)
{
	ReclaimParams p = params();

	p.step_percent = 5;
	p.hold_usec = SEC(5);
	for (size_t i = 0; i < n; i++) {
		reclaim_model_init(&t[i].m);
		t[i].first_step = -1;
		t[i].biggest_step = 0;
	}
	for (int k = 0; k < ticks; k++) {
		uint64_t now = SEC(1000 + k);

		for (size_t i = 0; i < n; i++) {
			SimTenant *s = &t[i];
			ReclaimCandidate c[8];
			uint64_t step, got;

			assert_true(n <= ELEMENTSOF(c));
			(void) reclaim_model_wake(&s->m, s->current, host);
			reclaim_model_hold_over(&s->m, s->current, now);
			if (s->m.phase != RECLAIM_PROBING)
				continue;
			/* its PSI trigger, and avg10 over the target when the step is due */
			if (reclaim_model_backoff(&s->m, &p, RECLAIM_CAUSE_PRESSURE, host, now))
				continue;
			for (size_t j = 0; j < n; j++)
				c[j] = (ReclaimCandidate) {
					.priority = t[j].priority,
					.phase = t[j].m.phase,
					.above_floor = reclaim_model_step(&p, t[j].current, 0, t[j].priority, host) > 0,
				};
			if (!reclaim_model_may_step(c, n, i, host))
				continue;
			step = reclaim_model_step(&p, s->current, 0, s->priority, host);
			if (step == 0)
				continue;
			if (s->first_step < 0)
				s->first_step = k;
			if (step > s->biggest_step)
				s->biggest_step = step;
			got = s->current - s->hot < step ? s->current - s->hot : step;
			(void) reclaim_model_step_done(&s->m, step, s->current, s->current - got, got < step ? -EAGAIN : 0);
			s->current -= got;
			/* the higher one's set is untouched while the lower one has cold memory */
			for (size_t j = 0; j < n; j++)
				if (t[j].priority < s->priority)
					assert_int_equal(t[j].current, t[j].hot);
		}
	}
}

static void test_host_pressure_turns(void **state)
{
	SimTenant t[] = {
		{ .priority = 90, .current = MIB(200), .hot = MIB(50) },
		{ .priority = 10, .current = MIB(200), .hot = MIB(50) },
	};

	(void) state;
	sim_run(t, ELEMENTSOF(t), true, 120);
	/* the low tenant first, deeper, down to its hot set; the high one after it settled */
	assert_true(t[1].first_step >= 0);
	assert_true(t[0].first_step > t[1].first_step);
	assert_true(t[1].biggest_step > t[0].biggest_step);
	assert_int_equal(t[1].current, MIB(50));
	assert_int_equal(t[1].m.phase, RECLAIM_SETTLED);
	assert_true(t[1].m.host_woken);  /* settled, woken by the episode, settled again */
	/* settled under host pressure, woken once: the turn stayed with the high tenant */
	assert_int_equal(t[0].current, MIB(50));
	assert_int_equal(t[0].m.backoffs, 0);
	assert_int_equal(t[1].m.backoffs, 0);

	/* the same without host pressure: both back off on their own PSI and settle without a step */
	t[0].current = t[1].current = MIB(200);
	sim_run(t, ELEMENTSOF(t), false, 120);
	assert_int_equal(t[0].first_step, -1);
	assert_int_equal(t[1].first_step, -1);
	assert_int_equal(t[0].m.phase, RECLAIM_SETTLED);
	assert_int_equal(t[1].m.phase, RECLAIM_SETTLED);
	assert_int_equal(t[1].current, MIB(200));
}

static void test_saved(void **state)
{
	ReclaimModel m;

	(void) state;
	reclaim_model_init(&m);
	assert_int_equal(reclaim_model_saved(&m), 0);
	(void) reclaim_model_step_done(&m, MIB(64), MIB(1000), MIB(900), 0);
	(void) reclaim_model_step_done(&m, MIB(64), MIB(900), MIB(836), 0);
	assert_int_equal(reclaim_model_saved(&m), MIB(128));
	m.refaulted_bytes = MIB(28);
	assert_int_equal(reclaim_model_saved(&m), MIB(100));
	m.refaulted_bytes = MIB(500);
	assert_int_equal(reclaim_model_saved(&m), 0);
	assert_string_equal(reclaim_phase_to_string(RECLAIM_SETTLED), "settled");
	assert_string_equal(reclaim_cause_to_string(RECLAIM_CAUSE_REFAULT), "refault");
	assert_null(reclaim_phase_to_string(_RECLAIM_PHASE_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_step_table),
		cmocka_unit_test(test_ramp),
		cmocka_unit_test(test_floor),
		cmocka_unit_test(test_refault_budget),
		cmocka_unit_test(test_step_done),
		cmocka_unit_test(test_backoff_hold),
		cmocka_unit_test(test_gain_given_back),
		cmocka_unit_test(test_wake),
		cmocka_unit_test(test_priority_order),
		cmocka_unit_test(test_host_pressure_backoff),
		cmocka_unit_test(test_host_pressure_turns),
		cmocka_unit_test(test_saved),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
