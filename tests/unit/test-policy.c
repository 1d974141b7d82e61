/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for the pure part of src/policy.c: the tenant id allocator. Every id of the space is
 * handed out exactly once, exhaustion is reported (0), freed ids are reused, and only after the
 * other free ids (round robin).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"

static void test_ids_all_distinct_then_exhausted(void **state)
{
	PolicyIdAllocator a;
	static bool seen[MEMQOSD_MAX_TENANTS];

	(void) state;
	memset(seen, 0, sizeof(seen));
	policy_id_init(&a);
	for (unsigned i = 0; i < POLICY_IDS_MAX; i++) {
		uint32_t id = policy_id_alloc(&a);

		assert_true(id >= 1 && id < MEMQOSD_MAX_TENANTS);
		assert_false(seen[id]);
		seen[id] = true;
	}
	assert_int_equal(a.n_used, POLICY_IDS_MAX);
	/* The 4,096th tenant: no id, said so, nothing corrupted. */
	assert_int_equal(policy_id_alloc(&a), 0);
	assert_int_equal(policy_id_alloc(&a), 0);
	assert_int_equal(a.n_used, POLICY_IDS_MAX);

	/* A freed id is the only one there is, so it comes back. */
	policy_id_free(&a, 1234);
	assert_int_equal(policy_id_alloc(&a), 1234);
	assert_int_equal(policy_id_alloc(&a), 0);

	/* Freeing 0, an id twice, or out of range changes nothing. */
	policy_id_free(&a, 0);
	policy_id_free(&a, MEMQOSD_MAX_TENANTS);
	policy_id_free(&a, 77);
	policy_id_free(&a, 77);
	assert_int_equal(a.n_used, POLICY_IDS_MAX - 1);
	assert_int_equal(policy_id_alloc(&a), 77);
	assert_int_equal(policy_id_alloc(&a), 0);
}

static void test_ids_round_robin(void **state)
{
	PolicyIdAllocator a;
	uint32_t first, again;

	(void) state;
	policy_id_init(&a);
	first = policy_id_alloc(&a);
	assert_int_equal(first, 1);
	assert_int_equal(policy_id_alloc(&a), 2);
	policy_id_free(&a, first);
	/* Id 1 is free, but every id not used yet comes first. */
	for (uint32_t want = 3; want < MEMQOSD_MAX_TENANTS; want++)
		assert_int_equal(policy_id_alloc(&a), want);
	again = policy_id_alloc(&a);
	assert_int_equal(again, 1);
	assert_int_equal(policy_id_alloc(&a), 0);
}

/* Churn: many tenants come and go; the allocator never hands out an id in use, never loses one. */
static void test_ids_churn(void **state)
{
	static bool in_use[MEMQOSD_MAX_TENANTS];
	static uint32_t held[POLICY_IDS_MAX];
	PolicyIdAllocator a;
	size_t n = 0;
	unsigned seed = 42;

	(void) state;
	memset(in_use, 0, sizeof(in_use));
	policy_id_init(&a);
	for (unsigned step = 0; step < 200000; step++) {
		seed = seed * 1103515245 + 12345;
		if (n > 0 && (seed >> 16) % 3 == 0) {
			size_t k = (seed >> 8) % n;

			policy_id_free(&a, held[k]);
			in_use[held[k]] = false;
			held[k] = held[--n];
		} else {
			uint32_t id = policy_id_alloc(&a);

			if (n == POLICY_IDS_MAX) {
				assert_int_equal(id, 0);
				continue;
			}
			assert_true(id >= 1 && id < MEMQOSD_MAX_TENANTS);
			assert_false(in_use[id]);
			in_use[id] = true;
			held[n++] = id;
		}
		assert_int_equal(a.n_used, n);
	}
}

/* An adopted link's id is taken as it was; taken ids are not handed out again, and only once. */
static void test_ids_take(void **state)
{
	PolicyIdAllocator a;

	(void) state;
	policy_id_init(&a);
	assert_true(policy_id_take(&a, 2));
	assert_false(policy_id_take(&a, 2));
	assert_false(policy_id_take(&a, 0));
	assert_false(policy_id_take(&a, MEMQOSD_MAX_TENANTS));
	assert_int_equal(a.n_used, 1);
	assert_int_equal(policy_id_alloc(&a), 1);
	assert_int_equal(policy_id_alloc(&a), 3); /* 2 is taken */
	policy_id_free(&a, 2);
	assert_int_equal(a.n_used, 2);
	assert_true(policy_id_take(&a, 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids_take),
		cmocka_unit_test(test_ids_all_distinct_then_exhausted),
		cmocka_unit_test(test_ids_round_robin),
		cmocka_unit_test(test_ids_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
