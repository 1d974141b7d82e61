/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory hog for the policy VM tests: keeps a working set of SIZE MiB of anonymous memory hot by
 * writing one byte per page in passes, for SECONDS, then prints how much it touched (with "random",
 * pages are first filled with pseudo-random words, so zram swap cannot compress them):
 *   hog NAME: mib=TOUCHED seconds=S rate=MIB_PER_S passes=P
 * Under memory.high throttling or reclaim the rate drops; that is what the tests compare.
 * SIGTERM or SIGINT ends the run early (the line is still printed, for the time it ran).
 *   hog NAME SIZE_MIB SECONDS [random]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void) sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char *argv[])
{
	unsigned long size, pages, touched = 0, passes = 0, x = 88172645463325252UL;
	int random_fill;
	double seconds, start, end;
	char *p;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: hog NAME SIZE_MIB SECONDS [random]\n");
		return 2;
	}
	random_fill = argc == 5 && !strcmp(argv[4], "random");
	size = strtoul(argv[2], NULL, 10) << 20;
	seconds = strtod(argv[3], NULL);
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
			if ((i & 1023) == 0 && (stop || now() >= end))
				break;
		}
		passes++;
	}
	seconds = now() - start;
	printf("hog %s: mib=%lu seconds=%.1f rate=%.1f passes=%lu\n", argv[1], touched / 256, seconds,
	       (double) touched / 256 / seconds, passes);
	return 0;
}
