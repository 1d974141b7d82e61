// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The allocation-sampling VM test's workload (tests/vm/sample/sample.sh), built there with
 * -O2 -fomit-frame-pointer (as Debian builds programs). One process, distinct functions:
 *   leak_steady   keeps RATE MiB per second (800 KiB chunks, each in its own mapping)
 *   churn         allocates and frees 10 x RATE MiB per second (4 MiB at a time), keeps nothing
 *   read_file     maps FILE and reads it (page cache charged to the tenant), once, and keeps it mapped
 *   short_lived   every second a child that allocates 4 MiB and exits after 40 ms
 *   exec_lived    every second a child that execs this program again (--exec-lived), allocates
 *                 2 MiB and exits at once: it lives well under 50 ms, and its new image is gone
 *                 before memqosd can read its mappings (it prints how long it lived)
 *   make_files    once, creates FILES empty files in STATUS.d (kernel memory: a dentry and an inode
 *                 each, slab objects charged to the tenant), kept until exit
 * for SECONDS seconds; then it holds what it leaked until SIGUSR1, frees it all, and waits for
 * SIGTERM. Progress (bytes leaked so far) goes to STATUS, rewritten every tick.
 *
 *   workload RATE_MIB SECONDS FILE STATUS [FILES]
 *   workload --exec-lived FORK_NS   (the exec'd child)
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (800 << 10)
#define MAX_CHUNKS 4096

static void *chunks[MAX_CHUNKS];
static int n_chunks;
static volatile sig_atomic_t release, stop;

static void on_usr1(int sig) { (void) sig; release = 1; }
static void on_term(int sig) { (void) sig; stop = 1; }

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Mappings of their own (not malloc: glibc's dynamic mmap threshold would move the churn into the
 * heap, whose freed memory is not returned to the kernel). */
static char *alloc_bytes(size_t n)
{
	char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		abort();
	return p;
}

static void touch(char *p, size_t n, int v)
{
	for (size_t off = 0; off < n; off += 4096)
		p[off] = (char) v;
}

__attribute__((noinline)) static void leak_steady(void)
{
	char *p;

	if (n_chunks == MAX_CHUNKS)
		return;
	p = alloc_bytes(CHUNK);
	touch(p, CHUNK, n_chunks);
	chunks[n_chunks++] = p;
}

__attribute__((noinline)) static void churn(size_t bytes)
{
	char *p = alloc_bytes(bytes);

	touch(p, bytes, 7);
	munmap(p, bytes);
}

/* The file stays mapped and open (a reader that keeps its data), so its name can be found. */
__attribute__((noinline)) static unsigned long read_file(const char *path)
{
	unsigned long sum = 0;
	struct stat st;
	char *p;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0)
		abort();
	p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		abort();
	for (off_t off = 0; off < st.st_size; off += 4096)
		sum += (unsigned char) p[off];
	return sum;
}

__attribute__((noinline)) static int make_files(const char *dir, int n)
{
	char path[4096];
	int made = 0;

	if (mkdir(dir, 0700) < 0)
		return 0;
	for (int i = 0; i < n; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
		if (fd >= 0) {
			close(fd);
			made++;
		}
	}
	return made;
}

__attribute__((noinline)) static void short_lived(void)
{
	char *p = alloc_bytes(4 << 20);

	touch(p, 4 << 20, 3);
	usleep(40000);
	_exit(0);
}

__attribute__((noinline)) static void exec_lived(double forked)
{
	char *p = alloc_bytes(2 << 20);

	touch(p, 2 << 20, 5);
	printf("exec-lived: lived %.1f ms\n", (now() - forked) * 1000);
	fflush(stdout);
	_exit(0);
}

static void spawn_exec(void)
{
	char arg[64];
	pid_t pid;

	snprintf(arg, sizeof(arg), "%.9f", now());
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "workload", "--exec-lived", arg, (char *) NULL);
		_exit(127);
	}
}

static void spawn_short(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_NAME, "short-lived");
		short_lived();
	}
}

int main(int argc, char **argv)
{
	double rate, seconds, start, next_short;
	const char *file, *status;
	unsigned long sum;
	long leaked_target, churned = 0;
	char dir[4096];
	int files = 0;

	if (argc == 3 && strcmp(argv[1], "--exec-lived") == 0) {
		prctl(PR_SET_NAME, "exec-lived");
		exec_lived(atof(argv[2]));
	}
	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: workload RATE_MIB SECONDS FILE STATUS [FILES]\n");
		return 2;
	}
	rate = atof(argv[1]);
	seconds = atof(argv[2]);
	file = argv[3];
	status = argv[4];
	signal(SIGUSR1, on_usr1);
	signal(SIGTERM, on_term);
	signal(SIGCHLD, SIG_DFL);

	sum = read_file(file);
	if (argc == 6) {
		snprintf(dir, sizeof(dir), "%s.d", status);
		files = make_files(dir, atoi(argv[5]));
		printf("workload: created %d files in %s\n", files, dir);
	}
	start = now();
	next_short = start;
	while (now() - start < seconds && !stop) {
		double t = now() - start;
		FILE *f;

		leaked_target = (long) (rate * (1 << 20) * t);
		while ((long) n_chunks * CHUNK < leaked_target)
			leak_steady();
		while (churned < (long) (rate * 10 * (1 << 20) * t)) {
			churn(4 << 20);
			churned += 4 << 20;
		}
		if (now() >= next_short) {
			spawn_short();
			spawn_exec();
			next_short += 1.0;
		}
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		f = fopen(status, "w");
		if (f) {
			fprintf(f, "%ld\n", (long) n_chunks * CHUNK);
			fclose(f);
		}
		usleep(100000);
	}
	printf("workload: leaked %ld bytes in %d chunks, churned %ld bytes, file sum %lu\n", (long) n_chunks * CHUNK,
	       n_chunks, churned, sum);
	fflush(stdout);
	while (!release && !stop)
		pause();
	for (int i = 0; i < n_chunks; i++)
		munmap(chunks[i], CHUNK);
	printf("workload: freed the leak\n");
	fflush(stdout);
	while (!stop)
		pause();
	return 0;
}
