/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Job 2, pure part: aggregation of allocation samples (include/memqosd/sample.h) into stacks per
 * tenant over a sliding window, and the reports `memqosd top` prints. No BPF, no I/O but the FILE *
 * the printers are given; unit-tested on tables (tests/unit/test-sample-model.c).
 *
 * A SampleModel holds, per tenant, the stacks it has seen (at most max_stacks; beyond that the stack
 * with the least bytes in the window and live is evicted), each with a ring of SAMPLE_BUCKETS buckets
 * of window/SAMPLE_BUCKETS: bytes allocated (sum of sample weights), bytes freed (weights of FREE
 * records whose ALLOC was this stack's) and samples. "live" is not windowed: the weight of this
 * stack's samples whose memory has not been uncharged yet. The seq of each live sample is kept
 * (bounded by SAMPLE_LIVE_MAX) so that a FREE record finds its stack.
 *
 * Query over a window W <= the kept window: alloc = Σ alloc of the buckets within W, freed likewise,
 * growth = alloc - freed (signed), live. Sorted by growth, alloc or live, descending.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "memqosd/policy-abi.h"
#include "memqosd/sample.h"
#include "util.h"

#define SAMPLE_BUCKETS 10
#define SAMPLE_LIVE_MAX (2 * MEMQOSD_SAMPLE_LIVE_ENTRIES)
#define SAMPLE_FRAMES_MAX 64

typedef enum SampleSort {
	SAMPLE_SORT_GROWTH,
	SAMPLE_SORT_ALLOC,
	SAMPLE_SORT_LIVE,
	_SAMPLE_SORT_MAX,
	_SAMPLE_SORT_INVALID = -22,
} SampleSort;

const char *sample_sort_to_string(SampleSort s);
SampleSort sample_sort_from_string(const char *s);

/*
 * Quantiles of Exp(1) for the BPF sampler's gaps: table[i] = -ln((i + 0.5) / n) * 65536, rounded.
 * Their mean is within 0.5 % of 65536 for n = MEMQOSD_SAMPLE_EXP_TABLE.
 */
void sample_exp_table(uint32_t *table, size_t n);

/* One resolved sample: what the wiring (src/sample.c) makes of an ALLOC record. */
typedef struct SampleInput {
	uint32_t tenant_id;
	uint64_t seq;
	uint64_t weight;
	uint64_t usec;               /* CLOCK_MONOTONIC, as the model's clock */
	const char *comm;
	const char *const *frames;   /* innermost first */
	size_t n_frames;
	bool tracked;                /* a FREE record may follow */
} SampleInput;

typedef struct SampleModel SampleModel;

/* window_usec is what is kept (>= SAMPLE_BUCKETS us); max_stacks per tenant (>= 1). */
int sample_model_new(uint64_t window_usec, size_t max_stacks, SampleModel **ret);
SampleModel *sample_model_free(SampleModel *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(SampleModel *, sample_model_free);

uint64_t sample_model_window(const SampleModel *m);
/* Stacks kept for one tenant (>= 1; tenant_id < MEMQOSD_MAX_TENANTS), instead of the model's default. */
int sample_model_set_max_stacks(SampleModel *m, uint32_t tenant_id, size_t max_stacks);

/* Add an ALLOC sample. -ENOMEM only. */
int sample_model_add(SampleModel *m, const SampleInput *in);
/* A FREE record: the weight of sample seq was uncharged at usec. false if seq is unknown. */
bool sample_model_free_seq(SampleModel *m, uint64_t seq, uint64_t weight, uint64_t usec);
/* A FILE record: sample seq's memory is page cache of `file` (a path or "dev:ino"); joins the stack's frames. */
bool sample_model_set_file(SampleModel *m, uint64_t seq, const char *file);
/* Drop a tenant's stacks (tenant removed). */
void sample_model_forget_tenant(SampleModel *m, uint32_t tenant_id);

typedef struct SampleRow {
	uint32_t tenant_id;
	uint64_t alloc_bytes;
	uint64_t freed_bytes;
	int64_t growth_bytes;
	uint64_t live_bytes;
	uint64_t samples;
	uint64_t span_usec;          /* the time the summed data cover: from the oldest bucket included (or the
				      * stack's first sample, if later) to now; the base of its rate */
	const char *comm;            /* borrowed from the model: valid until it changes */
	const char *const *frames;
	size_t n_frames;
} SampleRow;

/*
 * The top n rows of tenant_id (0 = every tenant) over the last window_usec before now_usec, sorted.
 * -ERANGE if window_usec exceeds what is kept (or is 0). *ret_rows is malloc'ed (free() it).
 */
int sample_model_top(const SampleModel *m, uint32_t tenant_id, uint64_t window_usec, uint64_t now_usec,
		     SampleSort sort, size_t n, SampleRow **ret_rows, size_t *ret_n);

/* Growth per minute over a span (span_usec > 0; rows: their span_usec). */
int64_t sample_growth_per_min(int64_t growth_bytes, uint64_t window_usec);

/* "12.5M", "640K", "-3.0G", "512B": a size for a person. */
const char *sample_format_human(char buf[static 16], int64_t bytes);

typedef struct SampleReport {
	const char *tenant;          /* NULL: every tenant */
	uint64_t window_usec;
	uint64_t sample_bytes;
	uint64_t dropped;
	const SampleRow *rows;
	size_t n_rows;
	const char *(*tenant_name)(uint32_t tenant_id, void *userdata); /* for rows of several tenants; may be NULL */
	void *userdata;
} SampleReport;

/* The one JSON object of `memqosd top --json` (with a newline). */
void sample_print_json(FILE *f, const SampleReport *r);
/* Folded stacks, "comm;outermost;...;innermost VALUE" per row, VALUE the sort key in bytes (>= 0). */
void sample_print_folded(FILE *f, const SampleReport *r, SampleSort sort);
/* The table a person reads: sizes in human units, growth per minute (over each row's span), the
 * leading frames. */
void sample_print_table(FILE *f, const SampleReport *r, size_t leading_frames);
