/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory hog for the policy VM tests: keeps a working set of SIZE MiB of anonymous memory hot by
 * writing one byte per page in passes, for SECONDS, then prints how much it touched (with "random",
 * pages are first filled with pseudo-random words, so zram swap cannot compress them):
 *   hog NAME: mib=TOUCHED seconds=S rate=MIB_PER_S passes=P
 * Under memory.high throttling or reclaim the rate drops; that is what the tests compare.
 * SIGTERM or SIGINT ends the run early (the line is still printed, for the time it ran). With
 * HOG_TAIL_SECONDS=S in the environment the line also gives the rate over the last S seconds
 * (tail_rate=), the steady state once a controller has acted, and the same per second of the hog's
 * own CPU time (tail_cpu_rate=: MiB per CPU-second, which CPU time taken by other processes does
 * not change but faults and reclaim in the hog's context do), and its major faults in that window
 * (tail_majflt=: pages it had to get back from swap, 0 while its working set stays resident).
 * Under qemu TCG the guest's CPU time also counts the time the host did not run the vCPU (there is
 * no steal time), so a loaded host lowers tail_cpu_rate as much as a memory problem would. In the
 * tail window the hog therefore also times, CAL_REPEAT times per checkpoint, a register-only
 * loop of CAL_ITERS steps (no memory traffic) on its thread's CPU clock: tail_unit_rate= is MiB touched
 * per 10^9 such steps' worth of its CPU time (the touching time divided by how fast the loop ran
 * meanwhile), which the vCPU's share of the host cancels out of and faults, reclaim and TLB
 * misses in the hog's context do not; tail_cal= is the loop's speed (million steps per CPU-second).
 * Where the CPU went in the tail window (the guest's view): tail_run= is the hog's CPU time as a
 * fraction of the window (below 1 when it slept or waited for a CPU), tail_csw= its context
 * switches per second, tail_busy= the share of all guest CPUs that was not idle (/proc/stat;
 * under TCG an idle vCPU gives its host core back, a busy one competes for it).
 *   hog NAME SIZE_MIB SECONDS [random]
 * SIZE_MIB 0 makes a ticker instead: no memory, it wakes every 20 ms for SECONDS.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "../lib/cpu-calibrate.h"

/*
 * How often the calibration loop runs at each checkpoint of 1024 pages in the tail window. Each
 * run is a sample of the host's share of the vCPU: one that the host happens to deschedule counts
 * the whole gap, so the estimate's noise falls with the time spent in the loop. Twice per
 * checkpoint it takes about a quarter of the window; once per 8 checkpoints (2 %) solo runs of
 * one boot differed by up to 25 %.
 */
#define CAL_REPEAT 2

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void) sig;
	stop = 1;
}

static long major_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_majflt;
}

/* Context switches of the hog so far (voluntary and involuntary). */
static long switches(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec +
	       (double) ru.ru_stime.tv_usec / 1e6;
}

/* Busy and total jiffies of all guest CPUs (/proc/stat; idle and iowait count as not busy). */
static void cpu_jiffies(double *busy, double *total)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");

	*busy = *total = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &v[6], &v[7]) == 8) {
		for (int i = 0; i < 8; i++)
			*total += (double) v[i];
		*busy = *total - (double) v[3] - (double) v[4];
	}
	fclose(f);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char *argv[])
{
	unsigned long size, pages, touched = 0, passes = 0, x = 88172645463325252UL, tail_touched = 0;
	int random_fill;
	double seconds, start, end, tail = 0, tail_start = 0, tail_cpu = 0, tail_thread_cpu = 0, cal_cpu = 0;
	double busy0 = 0, total0 = 0;
	unsigned long cal_runs = 0;
	long tail_majflt = 0, tail_switches = 0;
	const char *e = getenv("HOG_TAIL_SECONDS");
	char *p;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: hog NAME SIZE_MIB SECONDS [random]\n");
		return 2;
	}
	random_fill = argc == 5 && !strcmp(argv[4], "random");
	size = strtoul(argv[2], NULL, 10) << 20;
	seconds = strtod(argv[3], NULL);
	if (size == 0) {
		/* SIZE 0: a ticker, no memory: wakes every 20 ms for SECONDS, then exits. */
		struct timespec tick = { .tv_nsec = 20000000 };

		for (end = now() + seconds; now() < end && !stop;)
			nanosleep(&tick, NULL);
		return 0;
	}
	pages = size / 4096;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	start = now();
	end = start + seconds;
	if (e)
		tail = strtod(e, NULL);
	while (now() < end && !stop) {
		for (unsigned long i = 0; i < pages; i++) {
			/* First touch fills the page with pseudo-random words: incompressible, so zram
			 * swap costs real memory and real time, as it would with real data. */
			if (passes == 0 && random_fill)
				for (unsigned long w = 0; w < 4096 / sizeof(unsigned long); w++) {
					x ^= x << 13;
					x ^= x >> 7;
					x ^= x << 17;
					((unsigned long *) (p + i * 4096))[w] = x;
				}
			p[i * 4096] = (char) passes;
			touched++;
			if ((i & 1023) == 0) {
				double t = now();

				if (tail > 0 && tail_start == 0 && t >= end - tail) {
					tail_start = t;
					tail_touched = touched;
					tail_cpu = cpu_seconds();
					tail_majflt = major_faults();
					tail_thread_cpu = thread_cpu();
					tail_switches = switches();
					cpu_jiffies(&busy0, &total0);
				}
				for (int r = 0; tail_start > 0 && r < CAL_REPEAT; r++) {
					cal_cpu += calibrate();
					cal_runs++;
				}
				if (stop || t >= end)
					break;
			}
		}
		passes++;
	}
	end = now();
	seconds = end - start;
	printf("hog %s: mib=%lu seconds=%.1f rate=%.1f passes=%lu", argv[1], touched / 256, seconds,
	       (double) touched / 256 / seconds, passes);
	if (tail_start > 0 && end > tail_start) {
		double cpu = cpu_seconds() - tail_cpu;

		printf(" tail_rate=%.1f", (double) (touched - tail_touched) / 256 / (end - tail_start));
		if (cpu > 0)
			printf(" tail_cpu_rate=%.1f", (double) (touched - tail_touched) / 256 / cpu);
		printf(" tail_majflt=%ld", major_faults() - tail_majflt);
		{
			double busy, total, w = end - tail_start;

			cpu_jiffies(&busy, &total);
			printf(" tail_run=%.2f tail_csw=%.1f", (cpu_seconds() - tail_cpu) / w,
			       (double) (switches() - tail_switches) / w);
			if (total > total0)
				printf(" tail_busy=%.2f", (busy - busy0) / (total - total0));
		}
		if (cal_runs > 0 && cal_cpu > 0) {
			double speed = (double) (cal_runs * CAL_ITERS) / cal_cpu; /* steps per CPU-second */
			double touch_cpu = thread_cpu() - tail_thread_cpu - cal_cpu;

			if (touch_cpu > 0)
				printf(" tail_unit_rate=%.1f tail_cal=%.1f",
				       (double) (touched - tail_touched) / 256 / (touch_cpu * speed) * 1e9, speed / 1e6);
		}
	}
	printf("\n");
	return 0;
}
