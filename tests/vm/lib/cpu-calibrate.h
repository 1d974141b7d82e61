/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A CPU-speed yardstick for the guest workloads (tests/vm/policy/hog.c, tests/vm/reclaim/workload.c).
 * Under qemu TCG the guest's CPU time also counts the time the host did not run the vCPU (there is
 * no steal time), so rates per CPU-second move with the host's load. A workload that now and then
 * runs calibrate() (CAL_ITERS register-only steps, no memory traffic) and divides the speed it
 * measured out of its own CPU time gets rates that the vCPU's host share cancels out of, while
 * faults, reclaim and TLB misses in its own context still count.
 */
#pragma once

#include <time.h>

#define CAL_ITERS 16384UL

static volatile unsigned long cal_sink;

static inline double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* CAL_ITERS xorshift steps, registers only; returns the thread CPU time they took. */
static inline double calibrate(void)
{
	unsigned long y = cal_sink | 1;
	double t0 = thread_cpu();

	for (unsigned long k = 0; k < CAL_ITERS; k++) {
		y ^= y << 13;
		y ^= y >> 7;
		y ^= y << 17;
	}
	cal_sink = y;
	return thread_cpu() - t0;
}
