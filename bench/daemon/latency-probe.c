/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench/daemon latency probe: waits (poll POLLPRI) for the first increase of the "high" count in
 * TENANT/memory.events — the tenant's first over-memory.high event — then watches the memory.high
 * of every WATCH cgroup (1 ms resolution) until one of them changes, i.e. until the controller under
 * test (memqosd, or the 1 s poller) reacted. Prints "latency_ms=X" (or "latency_ms=timeout"); a
 * memory.high that changes before any over-high event counts as 0 (the controller was ahead).
 *
 *   latency-probe TIMEOUT_S TENANT WATCH...
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int slurp(int fd, char *buf, size_t n)
{
	ssize_t k = pread(fd, buf, n - 1, 0);

	if (k < 0)
		return -1;
	buf[k] = 0;
	return 0;
}

static unsigned long long high_count(int fd)
{
	char buf[1024], *p;

	if (slurp(fd, buf, sizeof(buf)) < 0)
		return 0;
	p = strstr(buf, "\nhigh ");
	return p ? strtoull(p + 6, NULL, 10) : 0;
}

int main(int argc, char *argv[])
{
	char path[4096], buf[64], initial[16][64];
	double timeout, deadline, t0;
	unsigned long long h0;
	int efd, wfd[16], nw;

	if (argc < 4 || argc - 3 > 16) {
		fprintf(stderr, "usage: latency-probe TIMEOUT_S TENANT WATCH...\n");
		return 2;
	}
	timeout = strtod(argv[1], NULL);
	snprintf(path, sizeof(path), "%s/memory.events", argv[2]);
	efd = open(path, O_RDONLY | O_CLOEXEC);
	if (efd < 0) {
		perror(path);
		return 1;
	}
	nw = argc - 3;
	for (int i = 0; i < nw; i++) {
		snprintf(path, sizeof(path), "%s/memory.high", argv[3 + i]);
		wfd[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (wfd[i] < 0 || slurp(wfd[i], initial[i], sizeof(initial[i])) < 0) {
			perror(path);
			return 1;
		}
	}
	printf("probe: ready\n");
	fflush(stdout);

	deadline = now() + timeout;
	h0 = high_count(efd);
	for (;;) {
		struct pollfd p = { .fd = efd, .events = POLLPRI };

		if (high_count(efd) > h0)
			break;
		/* The controller may act on pressure before the tenant ever goes over its limit. */
		for (int i = 0; i < nw; i++)
			if (slurp(wfd[i], buf, sizeof(buf)) == 0 && strcmp(buf, initial[i])) {
				printf("latency_ms=0 (acted before the first over-high event)\n");
				return 0;
			}
		if (now() > deadline) {
			printf("latency_ms=timeout (no over-high event)\n");
			return 1;
		}
		(void) poll(&p, 1, 1);
	}
	t0 = now();
	while (now() < deadline) {
		for (int i = 0; i < nw; i++)
			if (slurp(wfd[i], buf, sizeof(buf)) == 0 && strcmp(buf, initial[i])) {
				printf("latency_ms=%.1f\n", (now() - t0) * 1000);
				return 0;
			}
		usleep(1000);
	}
	printf("latency_ms=timeout\n");
	return 1;
}
