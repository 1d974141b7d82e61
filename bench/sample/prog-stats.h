/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The kernel's BPF run-time statistics (BPF_ENABLE_STATS) of every loaded program, for the sampling
 * benchmarks: snapshots by program id, differences summed by program name; and quantiles of figures.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

/* Run counts and run time of every loaded BPF program, by program id. */
#define MAX_PROGS 256
typedef struct ProgStats {
	uint32_t id[MAX_PROGS];
	char name[MAX_PROGS][BPF_OBJ_NAME_LEN];
	uint64_t cnt[MAX_PROGS], ns[MAX_PROGS];
	int n;
} ProgStats;

static void prog_stats(ProgStats *ps)
{
	uint32_t id = 0;

	ps->n = 0;
	while (ps->n < MAX_PROGS && bpf_prog_get_next_id(id, &id) == 0) {
		struct bpf_prog_info info = {};
		uint32_t len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (bpf_prog_get_info_by_fd(fd, &info, &len) == 0) {
			ps->id[ps->n] = id;
			memcpy(ps->name[ps->n], info.name, sizeof(ps->name[0]));
			ps->cnt[ps->n] = info.run_cnt;
			ps->ns[ps->n] = info.run_time_ns;
			ps->n++;
		}
		close(fd);
	}
}

/* Add after - before (by program id) to the totals, by program name. */
static void prog_stats_add(ProgStats *tot, const ProgStats *before, const ProgStats *after)
{
	for (int i = 0; i < after->n; i++) {
		uint64_t c = after->cnt[i], ns = after->ns[i];
		int j;

		for (j = 0; j < before->n; j++)
			if (before->id[j] == after->id[i]) {
				c -= before->cnt[j];
				ns -= before->ns[j];
				break;
			}
		for (j = 0; j < tot->n; j++)
			if (strcmp(tot->name[j], after->name[i]) == 0)
				break;
		if (j == tot->n) {
			if (tot->n == MAX_PROGS)
				continue;
			memcpy(tot->name[j], after->name[i], sizeof(tot->name[0]));
			tot->cnt[j] = tot->ns[j] = 0;
			tot->n++;
		}
		tot->cnt[j] += c;
		tot->ns[j] += ns;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* q-quantile (0..1) of v[0..n) by nearest rank; v is sorted in place. */
static double quantile(double *v, int n, double q)
{
	qsort(v, (size_t) n, sizeof(*v), cmp_double);
	return v[(int) (q * (n - 1) + 0.5)];
}
