/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for src/policy-params.c: a tenant's profile encoded as the priority policy's map entry
 * (pages, jiffies, the key repeated, no stray bytes), and the refusals.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy-params.h"

static void test_encode_table(void **state)
{
	const struct {
		PolicyParamsInput in;
		unsigned hz;
		uint64_t page;
		uint64_t protect_pages, floor_jiffies;
	} t[] = {
		/* MemoryLow=64M on 4 KiB pages, a 100 ms floor at 250 Hz. */
		{ { 11, 1, 90, 64ULL << 20, 100, 0 }, 250, 4096, 16384, 25 },
		/* Rounded down: 4097 bytes are one page, 10 ms at 250 Hz two jiffies (2.5). */
		{ { 12, 2, 10, 4097, 10, 32 }, 250, 4096, 1, 2 },
		/* 64 KiB pages, 1000 Hz. */
		{ { 13, 4095, -5, 1ULL << 20, 7, 512 }, 1000, 65536, 16, 7 },
		/* Nothing asked: zeros, the kernel's answers. */
		{ { 14, 3, 0, 0, 0, 0 }, 100, 4096, 0, 0 },
		/* Less than a jiffy: no floor. */
		{ { 15, 3, 1, 100, 9, 0 }, 100, 4096, 0, 0 },
	};

	(void) state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct memqosd_priority_params p;

		memset(&p, 0xa5, sizeof(p));
		assert_int_equal(policy_params_encode(&t[i].in, t[i].hz, t[i].page, &p), 0);
		assert_true(p.cgroup_id == t[i].in.cgroup_id);
		assert_int_equal(p.tenant_id, t[i].in.tenant_id);
		assert_int_equal(p.priority, t[i].in.priority);
		assert_true(p.protect_pages == t[i].protect_pages);
		assert_true(p.delay_floor_jiffies == t[i].floor_jiffies);
		assert_int_equal(p.extra_reclaim_pages, t[i].in.extra_reclaim_pages);
		assert_int_equal(p.near_max_permille, POLICY_NEAR_MAX_PERMILLE);
		assert_true(policy_params_equal(&p, &p));
	}
}

static void test_encode_is_whole(void **state)
{
	/* Two encodings of one profile are the same bytes, whatever was in the buffers: what goes into
	 * the map has no stray padding (the value is compared and hashed as bytes elsewhere). */
	const PolicyParamsInput in = { 21, 5, 50, 1 << 20, 30, 16 };
	struct memqosd_priority_params a, b;

	(void) state;
	memset(&a, 0x00, sizeof(a));
	memset(&b, 0xff, sizeof(b));
	assert_int_equal(policy_params_encode(&in, 250, 4096, &a), 0);
	assert_int_equal(policy_params_encode(&in, 250, 4096, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
}

static void test_equal_sees_every_field(void **state)
{
	const PolicyParamsInput base = { 31, 6, 40, 8 << 20, 200, 64 };
	PolicyParamsInput v[6];
	struct memqosd_priority_params p0, p;

	(void) state;
	for (size_t i = 0; i < 6; i++)
		v[i] = base;
	v[0].cgroup_id++;
	v[1].tenant_id++;
	v[2].priority++;
	v[3].protect_bytes += 4096;
	v[4].delay_floor_ms += 10;
	v[5].extra_reclaim_pages++;
	assert_int_equal(policy_params_encode(&base, 100, 4096, &p0), 0);
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(policy_params_encode(&v[i], 100, 4096, &p), 0);
		assert_false(policy_params_equal(&p0, &p));
	}
}

static void test_encode_refuses(void **state)
{
	const PolicyParamsInput ok = { 1, 1, 0, 0, 0, 0 };
	PolicyParamsInput in;
	struct memqosd_priority_params p;

	(void) state;
	in = ok;
	in.cgroup_id = 0;
	assert_int_equal(policy_params_encode(&in, 250, 4096, &p), -EINVAL);
	in = ok;
	in.tenant_id = 0;
	assert_int_equal(policy_params_encode(&in, 250, 4096, &p), -EINVAL);
	in = ok;
	in.tenant_id = MEMQOSD_MAX_TENANTS;
	assert_int_equal(policy_params_encode(&in, 250, 4096, &p), -EINVAL);
	in = ok;
	in.tenant_id = MEMQOSD_MAX_TENANTS - 1;
	assert_int_equal(policy_params_encode(&in, 250, 4096, &p), 0);
	assert_int_equal(policy_params_encode(&ok, 0, 4096, &p), -EINVAL);
	assert_int_equal(policy_params_encode(&ok, 250, 0, &p), -EINVAL);
	assert_int_equal(policy_params_encode(NULL, 250, 4096, &p), -EINVAL);
	in = ok;
	in.delay_floor_ms = UINT64_MAX / 100;
	assert_int_equal(policy_params_encode(&in, 1000, 4096, &p), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_table),
		cmocka_unit_test(test_encode_is_whole),
		cmocka_unit_test(test_equal_sees_every_field),
		cmocka_unit_test(test_encode_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
