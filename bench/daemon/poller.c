/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The comparison point for bench/daemon: a senpai-style poller. Every INTERVAL it reads
 * memory.pressure and memory.current of every tenant (and memory.events of the first), like a
 * userspace controller without events would. With --act it also does memqosd's job the polling
 * way: when the first tenant's memory.events "high" count grew since the last tick and the parent's
 * memory.pressure "some" total grew too, it lowers the second tenant's memory.high by STEP bytes.
 *
 *   poller [--act PARENT STEP] INTERVAL_MS SECONDS TENANT_DIR...
 * Prints "poller: ticks=N writes=M cpu_ms=C" at the end (its own user+system CPU time).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int read_file(const char *dir, const char *name, char *buf, size_t n)
{
	char path[4096];
	ssize_t k;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	k = read(fd, buf, n - 1);
	close(fd);
	if (k < 0)
		return -errno;
	buf[k] = 0;
	return 0;
}

static unsigned long long keyed(const char *buf, const char *key)
{
	const char *p = strstr(buf, key);

	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char *argv[])
{
	const char *parent = NULL;
	unsigned long long step = 0, last_high = 0, last_parent = 0, ticks = 0, writes = 0;
	double interval, end;
	char buf[4096];
	int i = 1;

	if (argc > 3 && !strcmp(argv[1], "--act")) {
		parent = argv[2];
		step = strtoull(argv[3], NULL, 10);
		i = 4;
	}
	if (argc - i < 3) {
		fprintf(stderr, "usage: poller [--act PARENT STEP] INTERVAL_MS SECONDS TENANT_DIR...\n");
		return 2;
	}
	interval = strtod(argv[i], NULL) / 1000.0;
	end = now() + strtod(argv[i + 1], NULL);
	i += 2;

	while (now() < end) {
		unsigned long long high = 0, some = 0;

		for (int t = i; t < argc; t++) {
			(void) read_file(argv[t], "memory.pressure", buf, sizeof(buf));
			(void) read_file(argv[t], "memory.current", buf, sizeof(buf));
		}
		if (parent) {
			if (read_file(argv[i], "memory.events", buf, sizeof(buf)) == 0)
				high = keyed(buf, "\nhigh ");
			if (read_file(parent, "memory.pressure", buf, sizeof(buf)) == 0)
				some = keyed(buf, "total=");
			if (ticks > 0 && high > last_high && some > last_parent && argc - i >= 2) {
				unsigned long long cur;
				char path[4096];
				FILE *f;

				if (read_file(argv[i + 1], "memory.high", buf, sizeof(buf)) == 0) {
					cur = strncmp(buf, "max", 3) ? strtoull(buf, NULL, 10) : 0;
					if (cur == 0 && read_file(argv[i + 1], "memory.current", buf, sizeof(buf)) == 0)
						cur = strtoull(buf, NULL, 10);
					snprintf(path, sizeof(path), "%s/memory.high", argv[i + 1]);
					f = fopen(path, "we");
					if (f) {
						fprintf(f, "%llu\n", cur > step ? cur - step : cur);
						fclose(f);
						writes++;
					}
				}
			}
			last_high = high;
			last_parent = some;
		}
		ticks++;
		usleep((useconds_t) (interval * 1e6));
	}
	{
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		printf("poller: ticks=%llu writes=%llu cpu_ms=%.0f\n", ticks, writes,
		       ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 +
			       ru.ru_stime.tv_usec / 1e3);
	}
	return 0;
}
