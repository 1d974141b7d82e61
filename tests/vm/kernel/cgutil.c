/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include "cgutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/btf.h>

void kt_check(struct kt_report *r, bool ok, const char *fmt, ...)
{
	va_list ap;

	r->checks++;
	if (!ok)
		r->failures++;
	printf("  %s: ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void kt_note(struct kt_report *r, const char *fmt, ...)
{
	va_list ap;

	(void)r;
	printf("  .. ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

int kt_finish(struct kt_report *r)
{
	if (r->checks == 0) {
		printf("%s: FAIL (no checks ran)\n", r->test);
		return 1;
	}
	printf("%s: %s (%d checks, %d failed)\n", r->test, r->failures ? "FAIL" : "PASS", r->checks,
	       r->failures);
	fflush(stdout);
	return r->failures ? 1 : 0;
}

void kt_die(struct kt_report *r, const char *fmt, ...)
{
	va_list ap;

	printf("%s: SETUP ERROR: ", r->test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	exit(2);
}

const char *kt_cgroot(void)
{
	const char *e = getenv("KT_CGROOT");

	return e && *e ? e : "/sys/fs/cgroup/memqosd-kt";
}

void cg_path(char *buf, size_t len, const char *parent, const char *name)
{
	snprintf(buf, len, "%s/%s", parent, name);
}

int cg_own(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[PATH_MAX - 64];
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = 0;
			snprintf(buf, len, "/sys/fs/cgroup%s", line + 3);
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

static int rmtree_once(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char sub[PATH_MAX];

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		r = rmtree_once(sub);
		if (r < 0)
			break;
	}
	closedir(d);
	if (r < 0)
		return r;
	if (rmdir(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int cg_rmtree(const char *path)
{
	int r = 0;

	/* Exiting tasks keep a cgroup busy for a moment. */
	for (int i = 0; i < 100; i++) {
		r = rmtree_once(path);
		if (r != -EBUSY)
			return r;
		kt_sleep_ms(50);
	}
	return r;
}

int cg_mkdir(const char *path)
{
	int r = cg_rmtree(path);

	if (r < 0)
		return r;
	if (mkdir(path, 0755) < 0)
		return -errno;
	return 0;
}

static int write_file(const char *path, const char *buf)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int r = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, buf, strlen(buf));
	if (n < 0)
		r = -errno;
	else if ((size_t)n != strlen(buf))
		r = -EIO;
	close(fd);
	return r;
}

int cg_write(const char *cg, const char *file, const char *fmt, ...)
{
	char path[PATH_MAX], buf[256];
	va_list ap;

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return write_file(path, buf);
}

static int read_file(const char *cg, const char *file, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int cg_read_u64(const char *cg, const char *file, uint64_t *ret)
{
	char buf[64], *end;
	unsigned long long v;
	int r = read_file(cg, file, buf, sizeof(buf));

	if (r < 0)
		return r;
	if (!strncmp(buf, "max", 3)) {
		*ret = UINT64_MAX;
		return 0;
	}
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	*ret = v;
	return 0;
}

int cg_read_key(const char *cg, const char *file, const char *key, uint64_t *ret)
{
	char buf[8192];
	size_t klen = strlen(key);
	int r = read_file(cg, file, buf, sizeof(buf));

	if (r < 0)
		return r;
	for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (!strncmp(line, key, klen) && line[klen] == ' ') {
			*ret = strtoull(line + klen + 1, NULL, 10);
			return 0;
		}
	}
	return -ENOENT;
}

int cg_id(const char *cg, uint64_t *ret)
{
	struct stat st;

	if (stat(cg, &st) < 0)
		return -errno;
	*ret = st.st_ino;
	return 0;
}

int cg_move(const char *cg, pid_t pid)
{
	return cg_write(cg, "cgroup.procs", "%d", (int)pid);
}

int kt_kernel_has_memcg_ops(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	int id;

	if (!btf)
		return -errno;
	id = btf__find_by_name_kind(btf, "memcg_ops", BTF_KIND_STRUCT);
	btf__free(btf);
	return id > 0;
}

uint64_t kt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void kt_sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static volatile sig_atomic_t worker_stop_flag;

static void worker_on_signal(int sig)
{
	(void)sig;
	worker_stop_flag = 1;
}

/*
 * Writes one byte per page, yielding the CPU after every yield_pages pages (0: never); stops early
 * when told to. Returns the pages touched.
 */
static uint64_t touch_region(volatile char *p, size_t bytes, size_t pagesz, uint64_t round,
			     unsigned int yield_pages)
{
	uint64_t n = 0;

	for (size_t off = 0; off < bytes; off += pagesz) {
		if ((n & 63) == 0 && worker_stop_flag)
			break;
		p[off] = (char)(((off / pagesz) + round) | 1);
		n++;
		if (yield_pages && n % yield_pages == 0)
			sched_yield();
	}
	return n;
}

static void full_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3);
		p += n;
		len -= (size_t)n;
	}
}


static void __attribute__((noreturn)) worker_main(const char *cg, const struct kt_work *work, int ready_fd,
						   int result_fd)
{
	struct sigaction sa = { .sa_handler = worker_on_signal };
	struct kt_result res = { 0 };
	size_t pagesz = (size_t)sysconf(_SC_PAGESIZE);
	char *p;
	uint64_t start;
	char c = 1;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (cg_move(cg, 0) < 0) {
		res.status = 10;
		full_write(result_fd, &res, sizeof(res));
		_exit(10);
	}
	p = mmap(NULL, work->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		res.status = 11;
		full_write(result_fd, &res, sizeof(res));
		_exit(11);
	}

	if (work->hold) {
		sigset_t block, old;

		res.pages = touch_region(p, work->bytes, pagesz, 0, work->yield_pages);
		res.rounds = 1;
		sigemptyset(&block);
		sigaddset(&block, SIGUSR1);
		sigaddset(&block, SIGTERM);
		sigprocmask(SIG_BLOCK, &block, &old);
		full_write(ready_fd, &c, 1);
		while (!worker_stop_flag)
			sigsuspend(&old);
		full_write(result_fd, &res, sizeof(res));
		_exit(0);
	}

	full_write(ready_fd, &c, 1);
	start = kt_now_ns();
	for (uint64_t round = 0; !worker_stop_flag && (!work->rounds || round < work->rounds); round++) {
		res.pages += touch_region(p, work->bytes, pagesz, round, work->yield_pages);
		if (work->drop)
			madvise(p, work->bytes, MADV_DONTNEED);
		res.rounds++;
	}
	res.ns = kt_now_ns() - start;
	munmap(p, work->bytes);
	full_write(result_fd, &res, sizeof(res));
	_exit(0);
}

int kt_worker_start(struct kt_worker *w, const char *cg, const struct kt_work *work)
{
	int ready[2], result[2];
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(result, O_CLOEXEC) < 0) {
		close(ready[0]);
		close(ready[1]);
		return -errno;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		int r = -errno;

		close(ready[0]);
		close(ready[1]);
		close(result[0]);
		close(result[1]);
		return r;
	}
	if (pid == 0) {
		close(ready[0]);
		close(result[0]);
		worker_main(cg, work, ready[1], result[1]);
	}
	close(ready[1]);
	close(result[1]);
	w->pid = pid;
	w->ready_fd = ready[0];
	w->result_fd = result[0];
	return 0;
}

int kt_worker_wait_ready(struct kt_worker *w)
{
	char c;
	ssize_t n;

	do
		n = read(w->ready_fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -EIO;
}

int kt_worker_join(struct kt_worker *w, struct kt_result *res)
{
	struct kt_result tmp = { .status = -1 };
	ssize_t n;
	int status;

	do
		n = read(w->result_fd, &tmp, sizeof(tmp));
	while (n < 0 && errno == EINTR);
	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	close(w->ready_fd);
	close(w->result_fd);
	w->pid = 0;
	if (n != (ssize_t)sizeof(tmp))
		tmp.status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -EIO;
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		tmp.status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	if (res)
		*res = tmp;
	return tmp.status ? -EIO : 0;
}

int kt_worker_stop(struct kt_worker *w, struct kt_result *res)
{
	if (w->pid > 0)
		kill(w->pid, SIGUSR1);
	return kt_worker_join(w, res);
}

int kt_run(const char *cg, const struct kt_work *work, struct kt_result *res)
{
	struct kt_worker w;
	int r = kt_worker_start(&w, cg, work);

	if (r < 0) {
		if (res)
			res->status = r;
		return r;
	}
	return kt_worker_join(&w, res);
}
