/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of src/sample-model.c: the aggregation of allocation samples into stacks (job 2), its
 * windows, the growth/live arithmetic with frees, ranking, eviction, and the JSON/folded/table output.
 */

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sample-model.h"
#include "util.h"

#define SEC(x) ((uint64_t) (x) * USEC_PER_SEC)
#define MIB(x) ((uint64_t) (x) << 20)

static void *mfree(void *p)
{
	free(p);
	return NULL;
}

static const char *const leak_frames[] = { "leak_one (leaker+0x10)", "main (leaker+0x80)" };
static const char *const churn_frames[] = { "churn (leaker+0x40)", "main (leaker+0x90)" };
static const char *const read_frames[] = { "read_file (leaker+0x60)", "main (leaker+0xa0)" };

static void add(SampleModel *m, uint32_t tenant, uint64_t seq, uint64_t weight, uint64_t usec,
		const char *const *frames, size_t n)
{
	SampleInput in = {
		.tenant_id = tenant, .seq = seq, .weight = weight, .usec = usec, .comm = "leaker",
		.frames = frames, .n_frames = n, .tracked = true,
	};

	assert_int_equal(sample_model_add(m, &in), 0);
}

static void test_exp_table(void **state)
{
	uint32_t t[MEMQOSD_SAMPLE_EXP_TABLE];
	double sum = 0;

	(void) state;
	sample_exp_table(t, MEMQOSD_SAMPLE_EXP_TABLE);
	for (size_t i = 0; i < MEMQOSD_SAMPLE_EXP_TABLE; i++) {
		sum += t[i];
		if (i)
			assert_true(t[i] < t[i - 1]);
	}
	/* Mean of Exp(1) is 1: the table's mean within 0.5 %. */
	assert_true(fabs(sum / MEMQOSD_SAMPLE_EXP_TABLE / 65536.0 - 1.0) < 0.005);
	/* Median of Exp(1) is ln 2. */
	assert_true(fabs(t[MEMQOSD_SAMPLE_EXP_TABLE / 2] / 65536.0 - log(2.0)) < 0.01);
}

static void test_sort_names(void **state)
{
	(void) state;
	assert_int_equal(sample_sort_from_string("growth"), SAMPLE_SORT_GROWTH);
	assert_int_equal(sample_sort_from_string("alloc"), SAMPLE_SORT_ALLOC);
	assert_int_equal(sample_sort_from_string("live"), SAMPLE_SORT_LIVE);
	assert_int_equal(sample_sort_from_string("size"), _SAMPLE_SORT_INVALID);
	assert_int_equal(sample_sort_from_string(NULL), _SAMPLE_SORT_INVALID);
	assert_string_equal(sample_sort_to_string(SAMPLE_SORT_LIVE), "live");
}

/* Leak: 1 MiB/s kept. Churn: 4 MiB/s allocated, all freed a second later. */
static void test_leak_and_churn_rank(void **state)
{
	_cleanup_(sample_model_freep) SampleModel *m = NULL;
	_cleanup_free_ SampleRow *rows = NULL;
	uint64_t seq = 0;
	size_t n;

	(void) state;
	assert_int_equal(sample_model_new(SEC(600), 16, &m), 0);
	for (int t = 0; t < 60; t++) {
		add(m, 1, ++seq, MIB(1), SEC(t), leak_frames, 2);
		for (int j = 0; j < 4; j++) {
			add(m, 1, ++seq, MIB(1), SEC(t), churn_frames, 2);
			assert_true(sample_model_free_seq(m, seq, MIB(1), SEC(t) + 500000));
		}
	}
	assert_int_equal(sample_model_top(m, 1, SEC(600), SEC(60), SAMPLE_SORT_GROWTH, 10, &rows, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].frames[0], leak_frames[0]);
	assert_int_equal(rows[0].growth_bytes, (int64_t) MIB(60));
	assert_int_equal(rows[0].live_bytes, MIB(60));
	assert_int_equal(rows[0].samples, 60);
	/* Seen since t = 0: its rate is over 60 s, not the 600 s window (60 MiB/min, not 6). */
	assert_int_equal(rows[0].span_usec, SEC(60));
	assert_int_equal(sample_growth_per_min(rows[0].growth_bytes, rows[0].span_usec), (int64_t) MIB(60));
	assert_int_equal(rows[1].alloc_bytes, MIB(240));
	assert_int_equal(rows[1].freed_bytes, MIB(240));
	assert_int_equal(rows[1].growth_bytes, 0);
	assert_int_equal(rows[1].live_bytes, 0);
	rows = mfree(rows);

	assert_int_equal(sample_model_top(m, 1, SEC(600), SEC(60), SAMPLE_SORT_ALLOC, 10, &rows, &n), 0);
	assert_string_equal(rows[0].frames[0], churn_frames[0]);
	rows = mfree(rows);

	assert_int_equal(sample_model_top(m, 1, SEC(600), SEC(60), SAMPLE_SORT_LIVE, 1, &rows, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].frames[0], leak_frames[0]);
	rows = mfree(rows);

	/* Another tenant sees nothing; 0 = every tenant sees both. */
	assert_int_equal(sample_model_top(m, 2, SEC(600), SEC(60), SAMPLE_SORT_ALLOC, 10, &rows, &n), 0);
	assert_int_equal(n, 0);
	rows = mfree(rows);
	assert_int_equal(sample_model_top(m, 0, SEC(600), SEC(60), SAMPLE_SORT_ALLOC, 10, &rows, &n), 0);
	assert_int_equal(n, 2);
}

/* The leak frees everything: live falls to zero, growth over the window is net. */
static void test_leak_freed(void **state)
{
	_cleanup_(sample_model_freep) SampleModel *m = NULL;
	_cleanup_free_ SampleRow *rows = NULL;
	size_t n;

	(void) state;
	assert_int_equal(sample_model_new(SEC(60), 16, &m), 0);
	for (uint64_t s = 1; s <= 100; s++)
		add(m, 3, s, MIB(1), SEC(s / 10), leak_frames, 2);
	for (uint64_t s = 1; s <= 100; s++)
		assert_true(sample_model_free_seq(m, s, MIB(1), SEC(11)));
	/* Freed twice: the second is unknown. */
	assert_false(sample_model_free_seq(m, 1, MIB(1), SEC(11)));
	assert_false(sample_model_free_seq(m, 12345, MIB(1), SEC(11)));
	assert_int_equal(sample_model_top(m, 3, SEC(60), SEC(12), SAMPLE_SORT_GROWTH, 10, &rows, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].live_bytes, 0);
	assert_int_equal(rows[0].alloc_bytes, MIB(100));
	assert_int_equal(rows[0].freed_bytes, MIB(100));
	assert_int_equal(rows[0].growth_bytes, 0);
	rows = mfree(rows);
	/* A 6 s window (one bucket, 6..12 s) at t = 11 s holds the frees (at 11 s) and the allocations of
	 * 6..10 s (seqs 60..100: 41 MiB): growth is negative there. */
	assert_int_equal(sample_model_top(m, 3, SEC(6), SEC(11), SAMPLE_SORT_GROWTH, 10, &rows, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].freed_bytes, MIB(100));
	assert_int_equal(rows[0].alloc_bytes, MIB(41));
	assert_int_equal(rows[0].growth_bytes, -(int64_t) MIB(59));
}

/* Buckets older than the window drop out; a window longer than what is kept is refused. */
static void test_windows(void **state)
{
	_cleanup_(sample_model_freep) SampleModel *m = NULL;
	_cleanup_free_ SampleRow *rows = NULL;
	size_t n;

	(void) state;
	assert_int_equal(sample_model_new(SEC(100), 16, &m), 0);
	add(m, 1, 1, MIB(5), SEC(5), leak_frames, 2);    /* bucket 0 */
	add(m, 1, 2, MIB(7), SEC(95), leak_frames, 2);   /* bucket 9 */
	assert_int_equal(sample_model_top(m, 1, SEC(100), SEC(99), SAMPLE_SORT_ALLOC, 10, &rows, &n), 0);
	assert_int_equal(rows[0].alloc_bytes, MIB(12));
	rows = mfree(rows);
	assert_int_equal(sample_model_top(m, 1, SEC(10), SEC(99), SAMPLE_SORT_ALLOC, 10, &rows, &n), 0);
	assert_int_equal(rows[0].alloc_bytes, MIB(7));
	rows = mfree(rows);
	/* At 105 s the first bucket (0..10 s) has left the window; live is not windowed. */
	assert_int_equal(sample_model_top(m, 1, SEC(100), SEC(105), SAMPLE_SORT_ALLOC, 10, &rows, &n), 0);
	assert_int_equal(rows[0].alloc_bytes, MIB(7));
	assert_int_equal(rows[0].live_bytes, MIB(12));
	/* Buckets of 10 s: at 105 s the ten summed begin at 10 s (the stack was seen before). */
	assert_int_equal(rows[0].span_usec, SEC(95));
	rows = mfree(rows);
	/* A new sample at 205 s reuses bucket 0's slot: it must not inherit the old bytes. */
	add(m, 1, 3, MIB(1), SEC(205), leak_frames, 2);
	assert_int_equal(sample_model_top(m, 1, SEC(100), SEC(205), SAMPLE_SORT_ALLOC, 10, &rows, &n), 0);
	assert_int_equal(rows[0].alloc_bytes, MIB(1));
	rows = mfree(rows);

	assert_int_equal(sample_model_top(m, 1, SEC(101), SEC(205), SAMPLE_SORT_ALLOC, 10, &rows, &n), -ERANGE);
	assert_int_equal(sample_model_top(m, 1, 0, SEC(205), SAMPLE_SORT_ALLOC, 10, &rows, &n), -ERANGE);
	assert_int_equal(sample_model_new(5, 16, &m) == -EINVAL, true);
}

/* At max_stacks the stack with the least in the window + live goes. */
static void test_eviction(void **state)
{
	_cleanup_(sample_model_freep) SampleModel *m = NULL;
	_cleanup_free_ SampleRow *rows = NULL;
	size_t n;

	(void) state;
	assert_int_equal(sample_model_new(SEC(60), 2, &m), 0);
	add(m, 1, 1, MIB(8), SEC(1), leak_frames, 2);
	add(m, 1, 2, MIB(1), SEC(1), churn_frames, 2);
	add(m, 2, 3, MIB(1), SEC(1), churn_frames, 2);   /* another tenant: its own quota */
	add(m, 1, 4, MIB(2), SEC(2), read_frames, 2);    /* evicts tenant 1's churn */
	assert_int_equal(sample_model_top(m, 1, SEC(60), SEC(3), SAMPLE_SORT_ALLOC, 10, &rows, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].frames[0], leak_frames[0]);
	assert_string_equal(rows[1].frames[0], read_frames[0]);
	rows = mfree(rows);
	/* The evicted stack's free is not attributed anywhere. */
	assert_false(sample_model_free_seq(m, 2, MIB(1), SEC(3)));
	assert_int_equal(sample_model_top(m, 2, SEC(60), SEC(3), SAMPLE_SORT_ALLOC, 10, &rows, &n), 0);
	assert_int_equal(n, 1);
	rows = mfree(rows);
	/* Tenant 2 may keep only 1 stack: a second one evicts its first. */
	assert_int_equal(sample_model_set_max_stacks(m, 2, 1), 0);
	assert_int_equal(sample_model_set_max_stacks(m, MEMQOSD_MAX_TENANTS, 1), -EINVAL);
	add(m, 2, 5, MIB(4), SEC(2), leak_frames, 2);
	rows = mfree(rows);
	assert_int_equal(sample_model_top(m, 2, SEC(60), SEC(3), SAMPLE_SORT_ALLOC, 10, &rows, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].frames[0], leak_frames[0]);
	rows = mfree(rows);
	sample_model_forget_tenant(m, 1);
	assert_int_equal(sample_model_top(m, 1, SEC(60), SEC(3), SAMPLE_SORT_ALLOC, 10, &rows, &n), 0);
	assert_int_equal(n, 0);
	assert_false(sample_model_free_seq(m, 1, MIB(8), SEC(3)));
}

/* A FILE record moves its sample to the stack with the file as the innermost frame. */
static void test_file(void **state)
{
	_cleanup_(sample_model_freep) SampleModel *m = NULL;
	_cleanup_free_ SampleRow *rows = NULL;
	size_t n;

	(void) state;
	assert_int_equal(sample_model_new(SEC(60), 16, &m), 0);
	add(m, 1, 1, MIB(1), SEC(1), read_frames, 2);
	add(m, 1, 2, MIB(1), SEC(1), read_frames, 2);
	assert_true(sample_model_set_file(m, 2, "/data/big.bin"));
	assert_false(sample_model_set_file(m, 2, "/data/big.bin"));
	assert_false(sample_model_set_file(m, 99, "/x"));
	assert_int_equal(sample_model_top(m, 1, SEC(60), SEC(2), SAMPLE_SORT_ALLOC, 10, &rows, &n), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(rows[i].alloc_bytes, MIB(1));
		assert_int_equal(rows[i].live_bytes, MIB(1));
	}
	assert_true(strcmp(rows[0].frames[0], "[file] /data/big.bin") == 0 ||
		    strcmp(rows[1].frames[0], "[file] /data/big.bin") == 0);
	rows = mfree(rows);
	/* Its free goes to the file's stack. */
	assert_true(sample_model_free_seq(m, 2, MIB(1), SEC(2)));
	assert_int_equal(sample_model_top(m, 1, SEC(60), SEC(2), SAMPLE_SORT_LIVE, 10, &rows, &n), 0);
	assert_string_equal(rows[0].frames[0], read_frames[0]);
	assert_int_equal(rows[0].live_bytes, MIB(1));
	assert_string_equal(rows[1].frames[0], "[file] /data/big.bin");
	assert_int_equal(rows[1].live_bytes, 0);
}

/* Many live seqs (hash collisions, backward-shift removal): every free still finds its sample. */
static void test_many_seqs(void **state)
{
	_cleanup_(sample_model_freep) SampleModel *m = NULL;
	_cleanup_free_ SampleRow *rows = NULL;
	const uint64_t N = 60000;
	size_t n;

	(void) state;
	assert_int_equal(sample_model_new(SEC(60), 16, &m), 0);
	for (uint64_t s = 1; s <= N; s++)
		add(m, 1, s * 7919, 4096, SEC(1), leak_frames, 2);
	/* Free in an order unrelated to insertion. */
	for (uint64_t i = 0; i < N; i++) {
		uint64_t s = (i * 40507) % N + 1; /* 40507 is coprime with N: a permutation */;

		assert_true(sample_model_free_seq(m, s * 7919, 4096, SEC(2)));
	}
	assert_int_equal(sample_model_top(m, 1, SEC(60), SEC(2), SAMPLE_SORT_LIVE, 10, &rows, &n), 0);
	assert_int_equal(rows[0].live_bytes, 0);
	assert_int_equal(rows[0].freed_bytes, N * 4096);
}

static void test_human(void **state)
{
	char b[16];

	(void) state;
	assert_string_equal(sample_format_human(b, 0), "0B");
	assert_string_equal(sample_format_human(b, 1023), "1023B");
	assert_string_equal(sample_format_human(b, 1536), "1.5K");
	assert_string_equal(sample_format_human(b, (int64_t) MIB(640)), "640M");
	assert_string_equal(sample_format_human(b, -(int64_t) MIB(3072)), "-3.0G");
	assert_int_equal(sample_growth_per_min((int64_t) MIB(10), SEC(600)), (int64_t) MIB(1));
	assert_int_equal(sample_growth_per_min(-(int64_t) MIB(2), SEC(30)), -(int64_t) MIB(4));
}

static char *capture(void (*fn)(FILE *, const SampleReport *, SampleSort), void (*fn2)(FILE *, const SampleReport *),
		     const SampleReport *r, SampleSort sort)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (fn)
		fn(f, r, sort);
	else
		fn2(f, r);
	fclose(f);
	return buf;
}

static const char *name_of(uint32_t id, void *userdata)
{
	(void) userdata;
	return id == 1 ? "web" : "batch";
}

static void test_output(void **state)
{
	static const char *const frames[] = { "parse_row (libfoo.so+0x1a2b)", "main (app+0x40)" };
	static const char *const quoted[] = { "we\"ird" };
	SampleRow rows[] = {
		{ .tenant_id = 1, .alloc_bytes = 3 << 20, .freed_bytes = 1 << 20, .growth_bytes = 2 << 20,
		  .live_bytes = 2 << 20, .samples = 3, .comm = "app", .frames = frames, .n_frames = 2 },
		{ .tenant_id = 2, .alloc_bytes = 4096, .freed_bytes = 8192, .growth_bytes = -4096,
		  .live_bytes = 0, .samples = 1, .comm = "x;y", .frames = quoted, .n_frames = 1 },
		{ .tenant_id = 2, .alloc_bytes = 4096, .growth_bytes = 4096, .live_bytes = 4096, .samples = 1,
		  .comm = "z" },
	};
	SampleReport r = {
		.tenant = "web", .window_usec = SEC(600), .sample_bytes = 1 << 20, .dropped = 7,
		.rows = rows, .n_rows = 1,
	};
	_cleanup_free_ char *json = NULL, *json_all = NULL, *folded = NULL, *table = NULL;

	(void) state;
	json = capture(NULL, sample_print_json, &r, 0);
	assert_string_equal(json,
		"{\"tenant\":\"web\",\"window_seconds\":600,\"sample_bytes\":1048576,\"dropped\":7,\"stacks\":["
		"{\"alloc_bytes\":3145728,\"freed_bytes\":1048576,\"growth_bytes\":2097152,\"live_bytes\":2097152,"
		"\"samples\":3,\"comm\":\"app\",\"frames\":[\"parse_row (libfoo.so+0x1a2b)\",\"main (app+0x40)\"]}]}\n");

	r.tenant = NULL;
	r.n_rows = 3;
	r.tenant_name = name_of;
	json_all = capture(NULL, sample_print_json, &r, 0);
	assert_non_null(strstr(json_all, "{\"tenant\":null,"));
	assert_non_null(strstr(json_all, "\"comm\":\"x;y\",\"tenant\":\"batch\",\"frames\":[\"we\\\"ird\"]"));
	assert_non_null(strstr(json_all, "\"comm\":\"z\",\"tenant\":\"batch\",\"frames\":[\"[unknown]\"]"));
	assert_non_null(strstr(json_all, "\"growth_bytes\":-4096"));

	folded = capture(sample_print_folded, NULL, &r, SAMPLE_SORT_GROWTH);
	assert_string_equal(folded,
		"web;app;main (app+0x40);parse_row (libfoo.so+0x1a2b) 2097152\n"
		"batch;x:y;we\"ird 0\n"
		"batch;z;[unknown] 4096\n");

	r.tenant = "web";
	r.n_rows = 1;
	r.tenant_name = NULL;
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		sample_print_table(f, &r, 1);
		fclose(f);
		table = buf;
	}
	/* Human units, growth per minute (2 MiB over 10 min = 204.8K/min), the leading frame only. */
	assert_non_null(strstr(table, "web: top 1 stacks over 600s (1 sample per 1.0M charged, 7 dropped)"));
	assert_non_null(strstr(table, "GROWTH/MIN"));
	assert_non_null(strstr(table, "205K"));
	assert_non_null(strstr(table, "3.0M"));
	assert_non_null(strstr(table, "parse_row (libfoo.so+0x1a2b)"));
	assert_null(strstr(table, "main (app+0x40)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exp_table),
		cmocka_unit_test(test_sort_names),
		cmocka_unit_test(test_leak_and_churn_rank),
		cmocka_unit_test(test_leak_freed),
		cmocka_unit_test(test_windows),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_many_seqs),
		cmocka_unit_test(test_human),
		cmocka_unit_test(test_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
