/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A senpai-style user-space proactive-reclaim loop, the comparison point of bench/reclaim/run.
 * Written for this benchmark from the description of senpai's memory.reclaim ("immediate back-off",
 * TMO) mode in the project's research notes: every tick (1 s, as senpai's) it reads the cgroup's
 * memory.pressure and memory.stat; if PSI some avg10 is under the target and the workingset
 * refaults since the last tick stay under RefaultPercent= of the last step, it writes
 * memory.reclaim with the same step memqosd would use (StepPercent= of memory.current, at most
 * StepMax=); otherwise it holds for HOLD ticks. Same target, same step, so the two differ only in
 * how they learn that the tenant feels it: polling here, kernel events in memqosd.
 *
 *   poller CGROUP_DIR TARGET_HUNDREDTHS STEP_PERCENT STEP_MAX_BYTES HOLD_TICKS REFAULT_PERCENT SECONDS
 * Prints at the end: "poller: ticks N steps N backoffs N reclaimed BYTES cpu_usec N write_cpu_usec N
 * tail_cpu_usec N tail_write_cpu_usec N", the tail ones being the CPU and write CPU so far when the
 * last TAIL_TICKS ticks began (the benchmark's steady-state figure).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define TAIL_TICKS 60

/* The whole of DIR/NAME into buf (NUL-terminated); -errno on failure. */
static int read_file(const char *dir, const char *name, char *buf, size_t n)
{
	char path[4096];
	size_t k;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	k = fread(buf, 1, n - 1, f);
	buf[k] = '\0';
	return fclose(f) == 0 ? 0 : -EIO;
}

static uint64_t keyed(const char *buf, const char *key)
{
	const char *p = buf;
	size_t n = strlen(key);

	while (p && *p) {
		if (strncmp(p, key, n) == 0 && p[n] == ' ')
			return strtoull(p + n + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return 0;
}

static uint64_t thread_cpu_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

int main(int argc, char *argv[])
{
	uint64_t step_max, reclaimed = 0, write_cpu = 0, last_refaults = 0, last_step = 0, tail_cpu = 0, tail_write = 0;
	unsigned target, step_pct, hold_ticks, refault_pct, seconds, hold = 0;
	unsigned long ticks = 0, steps = 0, backoffs = 0;
	struct timespec next;
	struct rusage ru;
	const char *cg;
	char buf[8192];

	if (argc != 8) {
		fprintf(stderr, "usage: %s CGROUP_DIR TARGET STEP_PERCENT STEP_MAX HOLD_TICKS REFAULT_PERCENT SECONDS\n", argv[0]);
		return 2;
	}
	cg = argv[1];
	target = (unsigned) strtoul(argv[2], NULL, 10);
	step_pct = (unsigned) strtoul(argv[3], NULL, 10);
	step_max = strtoull(argv[4], NULL, 10);
	hold_ticks = (unsigned) strtoul(argv[5], NULL, 10);
	refault_pct = (unsigned) strtoul(argv[6], NULL, 10);
	seconds = (unsigned) strtoul(argv[7], NULL, 10);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (; ticks < seconds; ticks++) {
		unsigned whole = 0, frac = 0, avg10;
		uint64_t current, refaults, step;
		char *p;

		if (ticks + TAIL_TICKS == seconds) {
			tail_cpu = thread_cpu_usec();
			tail_write = write_cpu;
		}
		next.tv_sec++;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		if (read_file(cg, "memory.pressure", buf, sizeof(buf)) < 0)
			break;
		p = strstr(buf, "some avg10=");
		if (p)
			sscanf(p, "some avg10=%u.%u", &whole, &frac);
		avg10 = whole * 100 + frac;
		if (read_file(cg, "memory.current", buf, sizeof(buf)) < 0)
			break;
		current = strtoull(buf, NULL, 10);
		if (read_file(cg, "memory.stat", buf, sizeof(buf)) < 0)
			break;
		refaults = keyed(buf, "workingset_refault_anon") + keyed(buf, "workingset_refault_file");
		if (ticks > 0 && last_step &&
		    (refaults - last_refaults) * 4096 * 100 > last_step * refault_pct && hold == 0) {
			hold = hold_ticks;
			backoffs++;
		}
		last_refaults = refaults;
		if (avg10 >= target && hold == 0) {
			hold = hold_ticks;
			backoffs++;
		}
		if (hold > 0) {
			hold--;
			last_step = 0;
			continue;
		}
		step = current / 100 * step_pct;
		if (step > step_max)
			step = step_max;
		step -= step % 4096;
		last_step = 0;
		if (step >= (256 << 10)) {
			char path[4096], v[32];
			uint64_t c0 = thread_cpu_usec();
			int fd;

			snprintf(path, sizeof(path), "%s/memory.reclaim", cg);
			fd = open(path, O_WRONLY | O_CLOEXEC);
			if (fd >= 0) {
				int n = snprintf(v, sizeof(v), "%" PRIu64, step);

				if (write(fd, v, (size_t) n) == n || errno == EAGAIN) {
					steps++;
					last_step = step;
				}
				close(fd);
			}
			write_cpu += thread_cpu_usec() - c0;
			if (read_file(cg, "memory.current", buf, sizeof(buf)) == 0) {
				uint64_t after = strtoull(buf, NULL, 10);

				if (after < current)
					reclaimed += current - after < step ? current - after : step;
			}
		}
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("poller: ticks %lu steps %lu backoffs %lu reclaimed %" PRIu64 " cpu_usec %" PRIu64 " write_cpu_usec %" PRIu64
	       " tail_cpu_usec %" PRIu64 " tail_write_cpu_usec %" PRIu64 "\n",
	       ticks, steps, backoffs, reclaimed,
	       (uint64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + (uint64_t) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec),
	       write_cpu, tail_cpu, tail_write);
	return 0;
}
