// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Workloads of the storm-guard VM test (tests/vm/guard/guard.sh). Every mode stops by itself after
 * SECONDS and logs "REALTIME_MS BYTES FORKS FORK_FAILURES" every 100 ms to LOG (bytes allocated and
 * touched so far, forks done, forks refused), so the test can read rates at any point in time.
 *
 *   storm FORKS_PER_SEC CHILD_MIB MAX_LIVE SECONDS LOG   fork+malloc storm: each child allocates and
 *                                                        touches CHILD_MIB, holds it 100 ms, exits
 *   burst BURST_MIB STEADY_MIB_PER_SEC SECONDS LOG       BURST_MIB at once (kept), then steady
 *                                                        allocations of 1 MiB freed again
 *   steady MIB_PER_SEC SECONDS LOG                       steady: 1 MiB allocated, touched, freed
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB (1UL << 20)

struct counters {
	_Atomic uint64_t bytes, forks, fork_fail;
};

static struct counters *c;
static FILE *logf;

static double now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void log_line(void)
{
	fprintf(logf, "%.0f %llu %llu %llu\n", now_s(CLOCK_REALTIME) * 1000, (unsigned long long)atomic_load(&c->bytes),
		(unsigned long long)atomic_load(&c->forks), (unsigned long long)atomic_load(&c->fork_fail));
	fflush(logf);
}

static void touch(size_t bytes, int keep)
{
	char *p = malloc(bytes);

	if (!p)
		return;
	for (size_t i = 0; i < bytes; i += 4096)
		p[i] = (char)i;
	atomic_fetch_add(&c->bytes, bytes);
	if (!keep)
		free(p);
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

static int storm(int rate, int child_mib, int max_live, double seconds)
{
	double start = now_s(CLOCK_MONOTONIC), next_log = start, next_fork = start;
	int live = 0;

	while (now_s(CLOCK_MONOTONIC) - start < seconds) {
		double t = now_s(CLOCK_MONOTONIC);

		while (waitpid(-1, NULL, WNOHANG) > 0)
			live--;
		if (t >= next_log) {
			log_line();
			next_log += 0.1;
		}
		if (t < next_fork || live >= max_live) {
			sleep_s(0.001);
			continue;
		}
		next_fork += 1.0 / rate;
		if (next_fork < t - 1)
			next_fork = t; /* no catching up after a stall */
		pid_t pid = fork();
		if (pid == 0) {
			touch((size_t)child_mib * MIB, 1);
			sleep_s(0.1);
			_exit(0);
		}
		if (pid < 0) {
			atomic_fetch_add(&c->fork_fail, 1);
			continue;
		}
		atomic_fetch_add(&c->forks, 1);
		live++;
	}
	log_line();
	kill(0, SIGKILL); /* the children too (own process group) */
	return 0;
}

static int steady(int burst_mib, int mib_per_sec, double seconds)
{
	double start = now_s(CLOCK_MONOTONIC), next_log = start;
	uint64_t done = 0;

	if (burst_mib > 0) {
		double t0 = now_s(CLOCK_MONOTONIC);

		touch((size_t)burst_mib * MIB, 1);
		fprintf(stderr, "burst: %d MiB in %.2f s\n", burst_mib, now_s(CLOCK_MONOTONIC) - t0);
	}
	while (now_s(CLOCK_MONOTONIC) - start < seconds) {
		double t = now_s(CLOCK_MONOTONIC);

		if (t >= next_log) {
			log_line();
			next_log += 0.1;
		}
		if (done < (uint64_t)((t - start) * mib_per_sec)) {
			touch(MIB, 0);
			done++;
		} else {
			sleep_s(0.005);
		}
	}
	log_line();
	return 0;
}

int main(int argc, char **argv)
{
	c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED)
		return 1;
	setpgid(0, 0);
	if (argc == 7 && !strcmp(argv[1], "storm")) {
		logf = fopen(argv[6], "w");
		return logf ? storm(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atof(argv[5])) : 1;
	}
	if (argc == 6 && !strcmp(argv[1], "burst")) {
		logf = fopen(argv[5], "w");
		return logf ? steady(atoi(argv[2]), atoi(argv[3]), atof(argv[4])) : 1;
	}
	if (argc == 5 && !strcmp(argv[1], "steady")) {
		logf = fopen(argv[4], "w");
		return logf ? steady(0, atoi(argv[2]), atof(argv[3])) : 1;
	}
	fprintf(stderr, "usage: see the comment at the top of storm.c\n");
	return 2;
}
