/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for src/handover.c: fd-store names of policy links round-trip and reject anything
 * else (another object, another format, FDNAME= rules), the adopt/replace/close decision on a
 * table of stored vs wanted links, and the steps each decision takes with one shared program and
 * per-tenant parameters in a map (issue 12).
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "handover.h"

static void test_name_round_trip(void **state)
{
	const HandoverLink cases[] = {
		{ .cgroup_id = 1, .tenant_id = 1, .program = 0, .params = 0 },
		{ .cgroup_id = 12345, .tenant_id = 4095, .program = UINT64_C(0x0123456789abcdef), .params = 42 },
		{ .cgroup_id = UINT64_MAX, .tenant_id = UINT32_MAX, .program = UINT64_MAX, .params = UINT64_MAX },
	};
	char name[HANDOVER_NAME_MAX + 1];

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		HandoverLink back;

		assert_int_equal(handover_link_name(&cases[i], name, sizeof(name)), 0);
		assert_true(handover_name_valid(name));
		assert_int_equal(handover_link_parse(name, &back), 0);
		assert_true(back.cgroup_id == cases[i].cgroup_id);
		assert_true(back.tenant_id == cases[i].tenant_id);
		assert_true(back.program == cases[i].program);
		assert_true(back.params == cases[i].params);
	}
	assert_int_equal(handover_link_name(&cases[1], name, 20), -ENOBUFS);
	assert_int_equal(handover_link_name(&cases[1], name, sizeof(name)), 0);
	assert_string_equal(name, "memqosd.link.12345.4095.0123456789abcdef.000000000000002a");
}

static void test_name_rejects(void **state)
{
	const char *bad[] = {
		"memqosd.map.events",
		"memqosd.link.",
		"memqosd.link.1.1.0123456789abcdef",                        /* a field missing */
		"memqosd.link.1.1.0123456789abcdef.0123456789abcdef.1",     /* one too many */
		"memqosd.link.0.1.0123456789abcdef.0123456789abcdef",       /* cgroup id 0 */
		"memqosd.link.1.0.0123456789abcdef.0123456789abcdef",       /* tenant id 0 */
		"memqosd.link.01.1.0123456789abcdef.0123456789abcdef",      /* leading zero */
		"memqosd.link.1.4294967296.0123456789abcdef.0123456789abcdef", /* tenant id > 32 bit */
		"memqosd.link.18446744073709551616.1.0123456789abcdef.0123456789abcdef", /* overflow */
		"memqosd.link.1.1.0123456789ABCDEF.0123456789abcdef",       /* uppercase hex */
		"memqosd.link.1.1.0123456789abcde.0123456789abcdef",        /* 15 digits */
		"memqosd.link.1.1.0123456789abcdef.0123456789abcdef0",      /* 17 digits */
		"memqosd.link.x.1.0123456789abcdef.0123456789abcdef",
		"other.link.1.1.0123456789abcdef.0123456789abcdef",
		"",
	};
	HandoverLink l;

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(handover_link_parse(bad[i], &l), -EINVAL);
	assert_int_equal(handover_link_parse(NULL, &l), -EINVAL);

	assert_false(handover_name_valid(""));
	assert_false(handover_name_valid("a:b"));
	assert_false(handover_name_valid("a b"));
	assert_false(handover_name_valid("a\nb"));
	assert_true(handover_name_valid("memqosd.map.events"));
	{
		char longname[HANDOVER_NAME_MAX + 2];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = 0;
		assert_false(handover_name_valid(longname));
		longname[HANDOVER_NAME_MAX] = 0;
		assert_true(handover_name_valid(longname));
	}
}

static void test_decide(void **state)
{
	const HandoverLink stored = { .cgroup_id = 7, .tenant_id = 3, .program = 100, .params = 200 };
	const struct {
		HandoverLink wanted;
		bool none, maps_kept;
		HandoverAction want;
	} t[] = {
		{ { 7, 3, 100, 200 }, false, true, HANDOVER_ADOPT },
		{ { 7, 3, 100, 200 }, false, false, HANDOVER_REPLACE_PROGRAM }, /* new maps: must report there */
		{ { 7, 3, 101, 200 }, false, true, HANDOVER_REPLACE_PROGRAM },
		{ { 7, 3, 101, 201 }, false, true, HANDOVER_REPLACE_PROGRAM },
		{ { 7, 3, 100, 201 }, false, true, HANDOVER_REPLACE_PARAMS },
		{ { 7, 4, 100, 200 }, false, true, HANDOVER_REPLACE_PARAMS },   /* the id was taken */
		{ { 8, 3, 100, 200 }, false, true, HANDOVER_CLOSE },            /* another cgroup */
		{ { 0, 0, 0, 0 }, true, true, HANDOVER_CLOSE },                 /* nobody wants it */
	};

	(void) state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(handover_decide(&stored, t[i].none ? NULL : &t[i].wanted, t[i].maps_kept), t[i].want);
	for (int a = 0; a < _HANDOVER_ACTION_MAX; a++)
		assert_non_null(handover_action_to_string(a));
}

static void test_steps(void **state)
{
	const unsigned L = HANDOVER_STEP_LOAD, P = HANDOVER_STEP_PARAMS, A = HANDOVER_STEP_ATTACH,
		       R = HANDOVER_STEP_RELINK, N = HANDOVER_STEP_RENAME, D = HANDOVER_STEP_DETACH,
		       F = HANDOVER_STEP_FORGET;

	(void) state;
	/* Adopted as it is: nothing loaded, verified or written. */
	assert_int_equal(handover_steps(HANDOVER_ADOPT, true), 0);
	/* A profile edit across a restart: one map update, the link and its program stay. */
	assert_int_equal(handover_steps(HANDOVER_REPLACE_PARAMS, true), P | N);
	/* An upgrade: this build's program (loaded once), the entry, then the link moved to it. */
	assert_int_equal(handover_steps(HANDOVER_REPLACE_PROGRAM, true), L | P | R | N);
	assert_int_equal(handover_steps(HANDOVER_CLOSE, true), D | F);
	/* No stored link: whatever the decision would be, a new attach. */
	for (int a = 0; a < _HANDOVER_ACTION_MAX; a++)
		assert_int_equal(handover_steps(a, false), L | P | A | N);
	/* Only a relink or a new link needs the program; nothing both relinks and attaches. */
	for (int a = 0; a < _HANDOVER_ACTION_MAX; a++)
		for (int have = 0; have < 2; have++) {
			unsigned s = handover_steps(a, have);

			assert_int_equal(!!(s & L), !!(s & (R | A)));
			assert_false((s & R) && (s & A));
			assert_false((s & D) && (s & (P | R | A | N)));
		}
}

static void test_hash(void **state)
{
	const char a[] = "abc", b[] = "abd";

	(void) state;
	/* FNV-1a 64 of "" and "a" (published test vectors of the algorithm). */
	assert_true(handover_hash(HANDOVER_HASH_INIT, "", 0) == UINT64_C(0xcbf29ce484222325));
	assert_true(handover_hash(HANDOVER_HASH_INIT, "a", 1) == UINT64_C(0xaf63dc4c8601ec8c));
	assert_true(handover_hash(HANDOVER_HASH_INIT, a, 3) != handover_hash(HANDOVER_HASH_INIT, b, 3));
	/* Chained: hashing in two parts is hashing the whole. */
	assert_true(handover_hash(handover_hash(HANDOVER_HASH_INIT, a, 1), a + 1, 2) ==
		    handover_hash(HANDOVER_HASH_INIT, a, 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_round_trip),
		cmocka_unit_test(test_name_rejects),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
