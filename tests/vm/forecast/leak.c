/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Workloads of the OOM forecast VM test (tests/vm/forecast):
 *   leak RATE_MIB [random]                  allocate and touch RATE MiB/s of anonymous memory, in
 *                                           steps of a tenth of a second, until killed
 *   sawtooth SIZE_MIB RAMP_S PAUSE_S SECONDS grow to SIZE over RAMP_S, free it all, pause, repeat
 *   hold SIZE_MIB SECONDS                   allocate and touch SIZE, then read a word of every page
 *                                           once a second (a working set in use) for SECONDS
 * With "random", pages get pseudo-random words, so zram cannot compress them away. The pace is kept
 * by the wall clock: a slow (loaded, emulated) machine catches up instead of drifting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024UL * 1024UL)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static unsigned long x = 88172645463325252UL;

static void touch(char *p, size_t len, int random_fill)
{
	for (size_t off = 0; off < len; off += 4096) {
		if (random_fill)
			for (size_t w = 0; w < 4096; w += sizeof(unsigned long)) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				memcpy(p + off + w, &x, sizeof(x));
			}
		else
			p[off] = 1;
	}
}

static int leak(double rate, int random_fill)
{
	double start = now();
	size_t done = 0;

	for (;;) {
		size_t want = (size_t) ((now() - start) * rate) * MIB, len;
		char *p;

		if (want > done) {
			len = want - done;
			p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED) {
				perror("mmap");
				return 1;
			}
			touch(p, len, random_fill);
			done = want;
		}
		usleep(100000);
	}
}

static int sawtooth(size_t size, double ramp, double pause, double seconds)
{
	double start = now();

	while (now() - start < seconds) {
		char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		double t0 = now();
		size_t done = 0;

		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		while (done < size) {
			size_t want = (size_t) ((now() - t0) / ramp * (double) size);

			want = want > size ? size : want - want % 4096;
			if (want > done) {
				touch(p + done, want - done, 0);
				done = want;
			}
			usleep(100000);
		}
		/* What the test compares with MinDurationSec=: a loaded machine stretches the ramps. */
		printf("sawtooth: ramp of %zu MiB took %.1f s\n", size / MIB, now() - t0);
		fflush(stdout);
		munmap(p, size);
		usleep((useconds_t) (pause * 1e6));
	}
	return 0;
}

static int hold(size_t size, double seconds)
{
	double start = now();
	volatile char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long sum = 0;

	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	touch((char *) p, size, 0);
	while (now() - start < seconds) {
		for (size_t off = 0; off < size; off += 4096)
			sum += (unsigned long) p[off];
		sleep(1);
	}
	return sum == 0; /* every page was touched with 1 */
}

int main(int argc, char *argv[])
{
	if (argc >= 3 && !strcmp(argv[1], "leak"))
		return leak(strtod(argv[2], NULL), argc > 3 && !strcmp(argv[3], "random"));
	if (argc == 4 && !strcmp(argv[1], "hold"))
		return hold(strtoul(argv[2], NULL, 10) * MIB, strtod(argv[3], NULL));
	if (argc == 6 && !strcmp(argv[1], "sawtooth"))
		return sawtooth(strtoul(argv[2], NULL, 10) * MIB, strtod(argv[3], NULL), strtod(argv[4], NULL),
				strtod(argv[5], NULL));
	fprintf(stderr, "usage: leak leak RATE_MIB [random] | leak sawtooth SIZE_MIB RAMP_S PAUSE_S SECONDS |\n"
			"       leak hold SIZE_MIB SECONDS\n");
	return 2;
}
