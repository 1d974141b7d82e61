// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Workloads of the storm-guard benchmark (bench/guard/bench.sh), beside the storm of
 * tests/vm/guard/storm.c:
 *
 *   neighbour WORKING_SET_MIB SECONDS   keeps a working set hot: writes one byte of every page of it,
 *                                       over and over; prints "mib_per_sec=X" (pages touched x 4 KiB)
 *   probe SECONDS                       latency probe: every 10 ms wakes up, allocates, touches and
 *                                       frees 256 KiB; each sample is the time from the intended
 *                                       wake-up to the end of the touch; prints
 *                                       "p50_us=X p99_us=Y max_us=Z n=N"
 *   watch FILE SECONDS                  polls FILE every 2 ms; prints the CLOCK_REALTIME ms of its
 *                                       first change ("changed_ms=X"), or "changed_ms=none"
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int neighbour(size_t mib, double seconds)
{
	size_t size = mib << 20;
	char *p = malloc(size);
	double start, t;
	uint64_t pages = 0;

	if (!p)
		return 1;
	memset(p, 1, size); /* resident before the clock starts */
	start = now_s(CLOCK_MONOTONIC);
	do {
		for (size_t i = 0; i < size; i += 4096)
			p[i]++;
		pages += size / 4096;
		t = now_s(CLOCK_MONOTONIC);
	} while (t - start < seconds);
	printf("mib_per_sec=%.1f\n", (double)pages * 4096 / (1 << 20) / (t - start));
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int probe(double seconds)
{
	size_t cap = (size_t)(seconds * 100) + 16, n = 0;
	double *lat = calloc(cap, sizeof(*lat)), start = now_s(CLOCK_MONOTONIC), due = start;

	if (!lat)
		return 1;
	while (n < cap && due - start < seconds) {
		struct timespec ts;
		char *buf;

		due += 0.010;
		ts.tv_sec = (time_t)due;
		ts.tv_nsec = (long)((due - (double)ts.tv_sec) * 1e9);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		buf = malloc(256 << 10);
		if (buf) {
			for (size_t i = 0; i < (256 << 10); i += 4096)
				buf[i] = (char)i;
			free(buf);
		}
		lat[n++] = (now_s(CLOCK_MONOTONIC) - due) * 1e6;
		if (now_s(CLOCK_MONOTONIC) > due + 0.010)
			due = now_s(CLOCK_MONOTONIC); /* late: no catching up */
	}
	qsort(lat, n, sizeof(*lat), cmp);
	printf("p50_us=%.0f p99_us=%.0f max_us=%.0f n=%zu\n", n ? lat[n / 2] : 0, n ? lat[(size_t)(n * 0.99)] : 0,
	       n ? lat[n - 1] : 0, n);
	return 0;
}

static int slurp(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "re");
	size_t k;

	if (!f)
		return -1;
	k = fread(buf, 1, n - 1, f);
	buf[k] = 0;
	fclose(f);
	return 0;
}

static int watch(const char *path, double seconds)
{
	char first[256], cur[256];
	double start = now_s(CLOCK_MONOTONIC);

	if (slurp(path, first, sizeof(first)) < 0)
		return 1;
	while (now_s(CLOCK_MONOTONIC) - start < seconds) {
		if (slurp(path, cur, sizeof(cur)) == 0 && strcmp(cur, first) != 0) {
			printf("changed_ms=%.0f\n", now_s(CLOCK_REALTIME) * 1000);
			return 0;
		}
		usleep(2000);
	}
	printf("changed_ms=none\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "neighbour"))
		return neighbour((size_t)atoi(argv[2]), atof(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "probe"))
		return probe(atof(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "watch"))
		return watch(argv[2], atof(argv[3]));
	fprintf(stderr, "usage: load neighbour MIB SECONDS | probe SECONDS | watch FILE SECONDS\n");
	return 2;
}
