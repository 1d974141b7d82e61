/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where the sampler's per-charge cost goes, on whatever kernel this runs on (this project's 6.18
 * build host: the tracepoint flavour), without a cgroup of its own: the sampler is pointed at the
 * memcg this process already charges (nothing is created or moved). With the kernel's BPF run-time
 * statistics on, this process faults in M MiB of anonymous memory page by page and drops it with
 * MADV_DONTNEED, K times, once per setting:
 *   never     sampling on but SampleSize=1T: every hook runs, no sample is taken (the per-charge cost)
 *   1M        the default SampleSize=1M, user-memory samples without kernel stacks
 *   1M+kstack SampleSize=1M with KernelStacks=yes
 *   64K       SampleSize=64K (16 times the samples: the per-sample cost stands out)
 * and prints per setting the runs per page of every sampler program, its mean run time, and the
 * cost of one sample: (run time - runs x the mean run time of "never") / samples. Other processes
 * of the same memcg charge it too: their charges are in the runs (not in the pages).
 *
 *   sample-host [--mib M] [--iters K]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "prog-stats.h"
#include "sample-engine.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../../tests/host/memcg-self.h"
#pragma GCC diagnostic pop

static void count(const void *record, size_t size, void *userdata)
{
	(void) record;
	(void) size;
	(*(uint64_t *) userdata)++;
}

static void touch(SampleEngine *e, size_t mib, int iters)
{
	size_t bytes = mib << 20;
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return;
	(void) madvise(p, bytes, MADV_NOHUGEPAGE);
	for (int i = 0; i < iters; i++) {
		for (size_t off = 0; off < bytes; off += 4096) {
			((volatile char *) p)[off] = 1;
			if ((off & ((1 << 20) - 1)) == 0)
				(void) sample_engine_poll(e, 0);
		}
		(void) madvise(p, bytes, MADV_DONTNEED);
	}
	(void) munmap(p, bytes);
	(void) sample_engine_poll(e, 0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "iters", required_argument, NULL, 'i' },
		{}
	};
	static const struct {
		const char *name;
		uint64_t bytes;
		uint32_t kstack;
	} set[] = {
		{ "never", 1ULL << 40, 0 },
		{ "1M", 1 << 20, 0 },
		{ "1M+kstack", 1 << 20, 1 },
		{ "64K", 64 << 10, 0 },
	};
	static ProgStats before, after, tot[4];
	size_t mib = 64;
	int iters = 4, c, stats_fd, r;
	double base_ns = 0;
	uint64_t memcg = 0, records = 0;
	char path[4096];
	Logger log;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		switch (c) {
		case 'm': mib = (size_t) atoi(optarg); break;
		case 'i': iters = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [--mib M] [--iters K]\n", argv[0]);
			return 2;
		}
	if (mib == 0 || iters < 1) {
		fprintf(stderr, "sample-host: --mib >= 1, --iters >= 1\n");
		return 2;
	}
	logger_init(&log, LOG_WARNING);
	r = own_memcg_id(&memcg, path, sizeof(path));
	if (r < 0) {
		fprintf(stderr, "sample-host: no memcg of this process to sample: %s\n", strerror(-r));
		return 1;
	}
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0) {
		fprintf(stderr, "sample-host: cannot enable BPF statistics: %s\n", strerror(-stats_fd));
		return 1;
	}
	printf("sample-host: memcg %s, %zu MiB x %d fault+MADV_DONTNEED passes per setting\n", path, mib, iters);
	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
		_cleanup_(sample_engine_freep) SampleEngine *e = NULL;
		struct memqosd_sample_conf conf = {
			.sample_bytes = set[i].bytes, .large_bytes = 256 << 10, .enabled = 1, .max_per_sec = 1000000,
			.kernel_stacks = set[i].kstack,
		};
		struct memqosd_sample_counters k = {};
		double pages = (double) (mib << 8) * iters, runs = 0, ns = 0;

		r = sample_engine_new(&log, count, &records, &e);
		if (r >= 0)
			r = sample_engine_set_tenant(e, 1, memcg, &conf);
		if (r < 0) {
			fprintf(stderr, "sample-host: cannot load the sampler: %s\n", strerror(-r));
			return 1;
		}
		prog_stats(&before);
		touch(e, mib, iters);
		prog_stats(&after);
		prog_stats_add(&tot[i], &before, &after);
		(void) sample_engine_counters(e, &k);
		for (int j = 0; j < tot[i].n; j++)
			if (tot[i].cnt[j] && strncmp(tot[i].name[j], "sample_", 7) == 0) {
				printf("  %-10s PROG %-16s %8.3f runs/page %8.1f ns/run\n", set[i].name, tot[i].name[j],
				       tot[i].cnt[j] / pages, (double) tot[i].ns[j] / (double) tot[i].cnt[j]);
				runs += (double) tot[i].cnt[j];
				ns += (double) tot[i].ns[j];
			}
		if (i == 0)
			base_ns = runs ? ns / runs : 0;
		printf("  %-10s %llu samples (%.4f per page), %.1f ns of BPF per page", set[i].name,
		       (unsigned long long) k.samples, k.samples / pages, ns / pages);
		if (i > 0 && k.samples)
			printf(", %.0f ns per sample", (ns - runs * base_ns) / (double) k.samples);
		printf("\n");
	}
	close(stats_fd);
	return 0;
}
