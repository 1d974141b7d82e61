/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Workload of the proactive-reclaim VM test and benchmark (tests/vm/reclaim/, bench/reclaim/):
 * allocates SIZE MiB of anonymous memory (filled with compressible but not trivial data, so zram
 * has work to do), then touches the first HOT MiB over and over, one write per page, and counts the
 * page touches. SIGUSR1 is the phase change: from then on the whole set is hot. Every second it
 * writes "SECONDS TOUCHES CPU CAL_CPU CAL_STEPS" (cumulative) to OUT (replaced by a rename), so the
 * test can take throughput over any window: CPU is its thread's CPU time, CAL_CPU the part of it
 * spent in a register-only loop of CAL_ITERS steps run every CAL_EVERY checkpoints, CAL_STEPS its
 * steps. Under qemu TCG the guest's CPU time includes the time the host did not run the vCPU;
 * touches per (CPU - CAL_CPU) x CAL_STEPS / CAL_CPU divide that out, but not faults or TLB misses.
 *
 *   workload SIZE_MIB HOT_MIB OUT
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "../lib/cpu-calibrate.h"
#include <unistd.h>

#define PAGE 4096UL

/* How often the calibration loop runs, in checkpoints of 4096 touches. */
#define CAL_EVERY 4

static volatile sig_atomic_t all_hot;

static void on_usr1(int sig)
{
	(void) sig;
	all_hot = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char *argv[])
{
	unsigned long size, hot, pages, hot_pages, touches = 0, checkpoints = 0, cal_steps = 0;
	double start, last, cpu0, cal_cpu = 0;
	unsigned char *p;
	char tmp[4096];
	FILE *out;

	if (argc != 4) {
		fprintf(stderr, "usage: %s SIZE_MIB HOT_MIB OUT\n", argv[0]);
		return 2;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", argv[3]) >= (int) sizeof(tmp))
		return 2;
	size = strtoul(argv[1], NULL, 10) << 20;
	hot = strtoul(argv[2], NULL, 10) << 20;
	if (hot > size || hot == 0)
		return 2;
	signal(SIGUSR1, on_usr1);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	pages = size / PAGE;
	hot_pages = hot / PAGE;
	/* Each page: a counter pattern with some entropy (zram compresses it about 4:1). */
	for (unsigned long i = 0; i < pages; i++)
		for (unsigned long j = 0; j < PAGE; j += 64)
			memset(p + i * PAGE + j, (int) ((i * 31 + j) & 0xff), 16);
	start = last = now();
	cpu0 = thread_cpu();
	fprintf(stderr, "workload: %lu MiB allocated, %lu MiB hot\n", size >> 20, hot >> 20);
	for (unsigned long i = 0;; i++) {
		unsigned long n = all_hot ? pages : hot_pages;

		p[(i % n) * PAGE + (i & 0x3f) * 8] += 1;
		touches++;
		if ((touches & 0xfff) == 0) {
			double t = now();

			if (++checkpoints % CAL_EVERY == 0) {
				cal_cpu += calibrate();
				cal_steps += CAL_ITERS;
			}
			if (t - last >= 1.0) {
				/* Written aside and renamed over OUT: a reader never sees it empty. */
				out = fopen(tmp, "w");
				if (out) {
					fprintf(out, "%.3f %lu %.6f %.6f %lu\n", t - start, touches, thread_cpu() - cpu0, cal_cpu,
						cal_steps);
					if (fclose(out) == 0)
						(void) rename(tmp, argv[3]);
				}
				last = t;
			}
		}
	}
}
