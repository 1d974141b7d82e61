/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of src/guard-model.c: the storm guard's escalation state machine, as tables of reports
 * (time, storm or not) and the step each must produce.
 */

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "guard-model.h"
#include "util.h"

#define MS(x) ((uint64_t) (x) * USEC_PER_MSEC)

typedef struct Row {
	uint64_t t_ms;
	bool storm;
	GuardStep step;
	unsigned undo;
} Row;

static GuardParams params(unsigned actions)
{
	GuardParams p;

	config_guard_defaults(&p);
	p.actions = actions;
	p.escalate_usec = MS(2000);
	p.hold_usec = MS(5000);
	return p;
}

static void run(const char *name, const GuardParams *p, const Row *rows, size_t n, GuardState *s)
{
	for (size_t i = 0; i < n; i++) {
		GuardDecision d = guard_model_step(s, p, rows[i].storm, MS(rows[i].t_ms));

		if (d.step != rows[i].step || d.undo != rows[i].undo) {
			print_error("%s row %zu (t=%" PRIu64 "ms storm=%d): got %s undo=%u, expected %s undo=%u\n", name, i,
				    rows[i].t_ms, rows[i].storm, guard_step_to_string(d.step), d.undo,
				    guard_step_to_string(rows[i].step), rows[i].undo);
			fail();
		}
	}
}

/* pids, then freeze after EscalateSec= while it lasts; the freeze makes it quiet; undo after the hold. */
static void test_escalate_and_undo(void **state)
{
	GuardParams p = params(GUARD_ACTION_PIDS | GUARD_ACTION_FREEZE);
	GuardState s = {};
	const Row rows[] = {
		{ 0, false, GUARD_STEP_NONE, 0 },
		{ 1000, true, GUARD_STEP_PIDS, 0 },     /* at once */
		{ 1500, true, GUARD_STEP_NONE, 0 },
		{ 2999, true, GUARD_STEP_NONE, 0 },     /* escalate 2 s after the previous step */
		{ 3000, true, GUARD_STEP_FREEZE, 0 },
		{ 3500, true, GUARD_STEP_NONE, 0 },     /* stale report: frozen tasks charge nothing */
		{ 5000, false, GUARD_STEP_NONE, 0 },    /* nothing after freeze without kill */
		{ 7999, false, GUARD_STEP_NONE, 0 },    /* hold counts from the freeze */
		{ 8000, false, GUARD_STEP_UNDO, GUARD_ACTION_PIDS | GUARD_ACTION_FREEZE },
		{ 8100, false, GUARD_STEP_NONE, 0 },
	};

	(void) state;
	run("escalate", &p, rows, ELEMENTSOF(rows), &s);
	assert_true(guard_model_idle(&s));
	assert_int_equal(guard_model_next_usec(&s, &p), UINT64_MAX);
}

/* A storm that stops after the pids step is undone HoldSec= after its last stormy report. */
static void test_pids_only_quiet(void **state)
{
	GuardParams p = params(GUARD_ACTION_PIDS | GUARD_ACTION_FREEZE);
	GuardState s = {};
	const Row rows[] = {
		{ 0, true, GUARD_STEP_PIDS, 0 },
		{ 1000, false, GUARD_STEP_NONE, 0 },    /* quiet from here */
		{ 2500, false, GUARD_STEP_NONE, 0 },    /* no escalation while quiet */
		{ 3000, true, GUARD_STEP_FREEZE, 0 },   /* back, 3 s after the pids step: escalate */
	};
	const Row rows2[] = {
		{ 0, true, GUARD_STEP_PIDS, 0 },
		{ 1000, false, GUARD_STEP_NONE, 0 },
		{ 5999, false, GUARD_STEP_NONE, 0 },
		{ 6000, false, GUARD_STEP_UNDO, GUARD_ACTION_PIDS },
		{ 7000, true, GUARD_STEP_PIDS, 0 },     /* a new storm starts over */
	};

	(void) state;
	run("pids-quiet", &p, rows, ELEMENTSOF(rows), &s);
	s = (GuardState) {};
	run("pids-undo", &p, rows2, ELEMENTSOF(rows2), &s);
	assert_false(guard_model_idle(&s));
	assert_int_equal(guard_model_next_usec(&s, &p), MS(9000));
}

/* kill only if allowed: after the freeze, EscalateSec= later, even though frozen means quiet. */
static void test_kill(void **state)
{
	GuardParams p = params(GUARD_ACTION_PIDS | GUARD_ACTION_FREEZE | GUARD_ACTION_KILL);
	GuardState s = {};
	const Row rows[] = {
		{ 0, true, GUARD_STEP_PIDS, 0 },
		{ 2000, true, GUARD_STEP_FREEZE, 0 },
		{ 3000, false, GUARD_STEP_NONE, 0 },
		{ 4000, false, GUARD_STEP_KILL, 0 },
		{ 5000, false, GUARD_STEP_NONE, 0 },
		{ 7000, false, GUARD_STEP_UNDO, GUARD_ACTION_PIDS | GUARD_ACTION_FREEZE }, /* 5 s after the freeze */
	};

	(void) state;
	run("kill", &p, rows, ELEMENTSOF(rows), &s);
	assert_true(guard_model_idle(&s));
}

/* Only the allowed steps, in order; none allowed: report only (never a step). */
static void test_allowed_subsets(void **state)
{
	GuardParams freeze = params(GUARD_ACTION_FREEZE), none = params(0), kill = params(GUARD_ACTION_KILL);
	GuardState s = {};
	const Row rows_freeze[] = {
		{ 0, true, GUARD_STEP_FREEZE, 0 },
		{ 5000, false, GUARD_STEP_UNDO, GUARD_ACTION_FREEZE },
	};
	const Row rows_none[] = {
		{ 0, true, GUARD_STEP_NONE, 0 },
		{ 3000, true, GUARD_STEP_NONE, 0 },
		{ 4000, false, GUARD_STEP_NONE, 0 },
		{ 9000, false, GUARD_STEP_NONE, 0 },
	};
	const Row rows_kill[] = {
		{ 0, true, GUARD_STEP_KILL, 0 },
		{ 500, true, GUARD_STEP_NONE, 0 },      /* nothing after kill */
		{ 3000, true, GUARD_STEP_NONE, 0 },
		{ 4000, false, GUARD_STEP_NONE, 0 },
		{ 9000, false, GUARD_STEP_NONE, 0 },    /* nothing to undo */
	};
	GuardStep plan[4];

	(void) state;
	run("freeze", &freeze, rows_freeze, ELEMENTSOF(rows_freeze), &s);
	s = (GuardState) {};
	run("none", &none, rows_none, ELEMENTSOF(rows_none), &s);
	assert_true(guard_model_idle(&s));
	s = (GuardState) {};
	run("kill", &kill, rows_kill, ELEMENTSOF(rows_kill), &s);
	assert_true(guard_model_idle(&s));
	assert_int_equal(guard_model_plan(GUARD_ACTION_KILL | GUARD_ACTION_PIDS, plan), 2);
	assert_int_equal(plan[0], GUARD_STEP_PIDS);
	assert_int_equal(plan[1], GUARD_STEP_KILL);
}

/* `memqosd thaw`: the freeze is gone; the rest is undone after the hold; a new storm escalates on. */
static void test_thaw(void **state)
{
	GuardParams p = params(GUARD_ACTION_PIDS | GUARD_ACTION_FREEZE);
	GuardState s = {};
	const Row before[] = {
		{ 0, true, GUARD_STEP_PIDS, 0 },
		{ 2000, true, GUARD_STEP_FREEZE, 0 },
	};
	const Row after[] = {
		{ 3500, false, GUARD_STEP_NONE, 0 },
		{ 7999, false, GUARD_STEP_NONE, 0 },
		{ 8000, false, GUARD_STEP_UNDO, GUARD_ACTION_PIDS }, /* the freeze is not undone twice */
	};
	const Row again[] = {
		{ 3500, true, GUARD_STEP_NONE, 0 },     /* EscalateSec= from the thaw */
		{ 5000, true, GUARD_STEP_FREEZE, 0 },
	};

	(void) state;
	run("thaw-before", &p, before, ELEMENTSOF(before), &s);
	guard_model_thaw(&s, MS(3000));
	assert_int_equal(s.in_place, GUARD_ACTION_PIDS);
	run("thaw-after", &p, after, ELEMENTSOF(after), &s);

	s = (GuardState) {};
	run("thaw-before2", &p, before, ELEMENTSOF(before), &s);
	guard_model_thaw(&s, MS(3000));
	run("thaw-again", &p, again, ELEMENTSOF(again), &s);
}

/*
 * Actions=pids cpu freeze kill: cpu.max comes between pids and the freeze, EscalateSec= apart; the
 * undo covers pids and cpu (and the freeze); after a hand thaw a resumed storm is frozen again, not
 * throttled again (cpu.max is still in place).
 */
static void test_cpu_step(void **state)
{
	GuardParams p = params(GUARD_ACTION_PIDS | GUARD_ACTION_CPU | GUARD_ACTION_FREEZE | GUARD_ACTION_KILL);
	GuardParams cpu_only = params(GUARD_ACTION_CPU);
	GuardState s = {};
	const Row rows[] = {
		{ 0, true, GUARD_STEP_PIDS, 0 },
		{ 1000, true, GUARD_STEP_NONE, 0 },
		{ 2000, true, GUARD_STEP_CPU, 0 },
		{ 4000, true, GUARD_STEP_FREEZE, 0 },
		{ 6000, false, GUARD_STEP_KILL, 0 },    /* frozen, kill allowed */
		{ 9000, false, GUARD_STEP_UNDO, GUARD_ACTION_PIDS | GUARD_ACTION_CPU | GUARD_ACTION_FREEZE },
	};
	const Row quiet[] = {
		{ 0, true, GUARD_STEP_CPU, 0 },         /* the only step, at once */
		{ 3000, true, GUARD_STEP_NONE, 0 },     /* nothing after it */
		{ 4000, false, GUARD_STEP_NONE, 0 },
		{ 9000, false, GUARD_STEP_UNDO, GUARD_ACTION_CPU },
	};
	const Row thawed[] = {
		{ 0, true, GUARD_STEP_PIDS, 0 },
		{ 2000, true, GUARD_STEP_CPU, 0 },
		{ 4000, true, GUARD_STEP_FREEZE, 0 },
	};
	const Row again[] = {
		{ 5500, true, GUARD_STEP_NONE, 0 },
		{ 7000, true, GUARD_STEP_FREEZE, 0 },   /* not CPU again */
	};
	GuardStep plan[4];
	char buf[64];

	(void) state;
	run("cpu", &p, rows, ELEMENTSOF(rows), &s);
	assert_true(guard_model_idle(&s));
	s = (GuardState) {};
	run("cpu-only", &cpu_only, quiet, ELEMENTSOF(quiet), &s);
	s = (GuardState) {};
	run("cpu-thawed", &p, thawed, ELEMENTSOF(thawed), &s);
	guard_model_thaw(&s, MS(5000));
	assert_int_equal(s.in_place, GUARD_ACTION_PIDS | GUARD_ACTION_CPU);
	run("cpu-again", &p, again, ELEMENTSOF(again), &s);

	assert_int_equal(guard_model_plan(p.actions, plan), 4);
	assert_true(plan[0] == GUARD_STEP_PIDS && plan[1] == GUARD_STEP_CPU && plan[2] == GUARD_STEP_FREEZE &&
		    plan[3] == GUARD_STEP_KILL);
	assert_string_equal(guard_step_to_string(GUARD_STEP_CPU), "cpu");
	assert_string_equal(guard_actions_to_string(p.actions, buf, sizeof(buf)), "pids cpu freeze kill");
}

static void test_next_usec(void **state)
{
	GuardParams p = params(GUARD_ACTION_PIDS | GUARD_ACTION_FREEZE);
	GuardState s = {};

	(void) state;
	assert_int_equal(guard_model_next_usec(&s, &p), UINT64_MAX);
	assert_int_equal(guard_model_step(&s, &p, true, MS(100)).step, GUARD_STEP_PIDS);
	assert_int_equal(guard_model_next_usec(&s, &p), MS(2100));  /* the freeze */
	assert_int_equal(guard_model_step(&s, &p, false, MS(200)).step, GUARD_STEP_NONE);
	assert_int_equal(guard_model_next_usec(&s, &p), MS(5200));  /* the hold */
	assert_int_equal(guard_model_step(&s, &p, true, MS(2100)).step, GUARD_STEP_FREEZE);
	assert_int_equal(guard_model_next_usec(&s, &p), MS(7100));
	assert_string_equal(guard_step_to_string(GUARD_STEP_UNDO), "undo");
	assert_null(guard_step_to_string(_GUARD_STEP_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escalate_and_undo),
		cmocka_unit_test(test_pids_only_quiet),
		cmocka_unit_test(test_kill),
		cmocka_unit_test(test_allowed_subsets),
		cmocka_unit_test(test_thaw),
		cmocka_unit_test(test_cpu_step),
		cmocka_unit_test(test_next_usec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
