/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench/daemon ring-buffer load: one child per cgroup directory given, each moved into its cgroup
 * (cgroup.procs) and then, for SECONDS, mapping, touching and unmapping CHUNK_KIB of anonymous
 * memory in a loop: every round charges the cgroup and uncharges it again, so each tenant's BPF
 * policy sees a steady stream of charges (and, near its limits, over-high and near-max events).
 * Prints "charger: children=N rounds=R" when all children are done.
 *
 *   charger SECONDS CHUNK_KIB CGROUP_DIR...
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int enter(const char *dir)
{
	char path[4096];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ok = write(fd, "0\n", 2) == 2;
	close(fd);
	return ok ? 0 : -EIO;
}

static int child(const char *dir, double end, size_t bytes, int report_fd)
{
	unsigned long rounds = 0;

	if (enter(dir) < 0) {
		fprintf(stderr, "charger: cannot enter %s\n", dir);
		return 1;
	}
	while (now() < end) {
		char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return 1;
		for (size_t o = 0; o < bytes; o += 4096)
			p[o] = (char) rounds;
		munmap(p, bytes);
		rounds++;
	}
	return write(report_fd, &rounds, sizeof(rounds)) == sizeof(rounds) ? 0 : 1;
}

int main(int argc, char *argv[])
{
	unsigned long total = 0, r;
	int pipefd[2], n = 0;
	double end;
	size_t bytes;

	if (argc < 4) {
		fprintf(stderr, "usage: charger SECONDS CHUNK_KIB CGROUP_DIR...\n");
		return 2;
	}
	end = now() + strtod(argv[1], NULL);
	bytes = strtoul(argv[2], NULL, 10) * 1024;
	if (bytes == 0 || pipe(pipefd) < 0)
		return 2;
	for (int i = 3; i < argc; i++) {
		pid_t pid = fork();

		if (pid < 0)
			break;
		if (pid == 0) {
			close(pipefd[0]);
			_exit(child(argv[i], end, bytes, pipefd[1]));
		}
		n++;
	}
	close(pipefd[1]);
	while (read(pipefd[0], &r, sizeof(r)) == sizeof(r))
		total += r;
	while (wait(NULL) > 0)
		;
	printf("charger: children=%d rounds=%lu\n", n, total);
	return 0;
}
