/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 18: race stress for the debug kernel (issue 7, "Tests and stress"). For SECS seconds
 * (argument, default 60) four threads race, each looping:
 *   attach      attaches ops_life (kt.bpf.c, MEMCG_OPS_F_ALLOW_OVERRIDE) to t18/att by a link,
 *               updates the link to ops_a and back, destroys it; every step must succeed;
 *   churn       creates t18/att/d<i> (memory enabled for its children) and d<i>/e, moves the
 *               "mover" worker into e and back to t18/att/home, removes e and d<i>;
 *   subattach   attaches ops_b to the newest d<i> or d<i>/e (alternately) and destroys the link
 *               again, racing the removal: ENOENT or EINVAL (the cgroup went away) are counted as
 *               refusals, any other error fails the test; a link that was hung up (the cgroup
 *               was removed while attached) is counted;
 *   controller  attaches ops_c to t18/p/c, disables the memory controller in t18/p and enables
 *               it again; the link must then report EPOLLHUP (its memcg went offline).
 * Meanwhile tasks charge: workers that touch and drop anonymous memory in att/w0, att/w1,
 * att/hi/w (att/hi has memory.high=8M: reclaim and throttling, so high_delay and below_low/min
 * run), p/c, the mover, and t18/free (no policy while the static key is on); and a process in
 * att/net that sends TCP traffic to itself over loopback, whose receive path charges socket
 * memory in softirq. An fentry program (kt8.bpf.c) counts the charges of att/net that reach the
 * memcg_ops hook in softirq with a policy in effect.
 * Asserted: every thread, worker and the socket process made progress (counts printed); no
 * unexpected error in any thread; softirq charges ran with a policy; afterwards, with every link
 * closed and the subtrees removed, nr_dying_descendants and nr_dying_subsys_memory of t18 return
 * to their values before the test, and the static key is off (kt4.bpf.c counts no
 * __memcg_ops_charge() call while t18/free charges 4 MiB); the kernel log has no WARNING, BUG,
 * KASAN, lockdep or RCU report before or after (a report before fails too: lockdep turns itself
 * off after its first one).
 * Before the leak check, what holds removed memcgs without a leak is released in stages, each
 * followed by a wait, and the stage that released them is printed (release_stages()): t18
 * reclaimed, caches dropped, a charge from t18/free on every CPU (charge stocks), swapoff and
 * swapon. In 60 s runs a removed leaf and its two ancestors stayed dying with 1-20 swap entries
 * still charged to t18 (memory.swap.current) and no task, page cache or swap-cache page left in
 * it; only swapoff released them (swapped-out pages of att/hi/w's reclaim whose entries were
 * not freed with the task, not a reference of the series). No stage closes a link or touches
 * the series' state: KT_STRESS_LEAK=1 keeps a link on a removed cgroup open through the check,
 * which then fails.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt-common.h"
#include "kt4.skel.h"
#include "kt8.skel.h"
#include "ops-link.h"

#define MiB (1024ull * 1024)

enum { SLOT_W0 = 1, SLOT_NET, SLOT_C, SLOT_HOME, SLOT_HI, SLOT_FREE };
enum { R_ATTACH, R_CHURN, R_SUBATTACH, R_CONTROLLER, R_MAX };
enum { W_FREE, W_W0, W_W1, W_HI, W_C, W_MOVER, W_MAX };

static const char *const worker_name[W_MAX] = { "free", "att/w0", "att/w1", "att/hi/w", "p/c", "mover" };

/* One racing thread's counts; written by that thread only, read after it was joined. */
struct racer {
	const char *name;
	pthread_t thread;
	uint64_t iters;		/* loops completed */
	uint64_t attached;	/* links created */
	uint64_t refused;	/* expected refusals (subattach: the cgroup went away) */
	uint64_t hungup;	/* links that reported EPOLLHUP before they were destroyed */
	uint64_t errors;	/* unexpected failures */
	char first_error[200];
};

struct stress {
	struct kt *s;
	char base[PATH_MAX], att[PATH_MAX], home[PATH_MAX], p[PATH_MAX], c[PATH_MAX];
	pid_t mover;
	atomic_uint gen;	/* the newest att/d<gen> (0: none yet) */
	atomic_bool stop;
	uint64_t dying0, zombies0;	/* t18's dying counts before the test */
	struct racer racer[R_MAX];
};

/* The socket process: its pid and the pipes it reports through. */
struct net_proc {
	pid_t pid;
	int ready_fd;
	int stop_fd;		/* closing it tells the process to stop */
	int result_fd;
};

/* The counters are read by the main thread while the racers run (progress notes). */
static void count(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void racer_error(struct racer *rc, const char *what, int err)
{
	if (__atomic_fetch_add(&rc->errors, 1, __ATOMIC_RELAXED) == 0)
		snprintf(rc->first_error, sizeof(rc->first_error), "%s: %s", what, strerror(-err));
	kt_sleep_ms(10);
}

static bool link_hung_up(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLHUP);
}

static void *attach_loop(void *arg)
{
	struct stress *st = arg;
	struct racer *rc = &st->racer[R_ATTACH];

	while (!atomic_load(&st->stop)) {
		int fd = ops_link_create(st->s->maps.ops_life, st->att), err;

		if (fd < 0) {
			racer_error(rc, "attach ops_life to att", fd);
			continue;
		}
		count(&rc->attached);
		err = ops_link_update(fd, st->s->maps.ops_a);
		if (err < 0)
			racer_error(rc, "update att's link to ops_a", err);
		err = ops_link_update(fd, st->s->maps.ops_life);
		if (err < 0)
			racer_error(rc, "update att's link back to ops_life", err);
		close(fd);
		count(&rc->iters);
	}
	return NULL;
}

static void *churn_loop(void *arg)
{
	struct stress *st = arg;
	struct racer *rc = &st->racer[R_CHURN];
	char d[PATH_MAX], e[PATH_MAX], name[32];
	int err;

	for (unsigned int i = 1; !atomic_load(&st->stop); i++) {
		snprintf(name, sizeof(name), "d%u", i);
		cg_path(d, sizeof(d), st->att, name);
		cg_path(e, sizeof(e), d, "e");
		err = mkdir(d, 0755) < 0 ? -errno : 0;
		if (!err)
			err = cg_write(d, "cgroup.subtree_control", "+memory");
		if (!err)
			err = mkdir(e, 0755) < 0 ? -errno : 0;
		if (err < 0) {
			racer_error(rc, "mkdir att/d<i>/e", err);
			cg_rmtree(d);
			continue;
		}
		atomic_store(&st->gen, i);
		err = cg_move(e, st->mover);
		if (err < 0)
			racer_error(rc, "move the mover into att/d<i>/e", err);
		kt_sleep_ms(5);
		err = cg_move(st->home, st->mover);
		if (err < 0)
			racer_error(rc, "move the mover back to att/home", err);
		err = cg_rmtree(d);
		if (err < 0)
			racer_error(rc, "rmdir att/d<i>/e and att/d<i>", err);
		count(&rc->iters);
	}
	return NULL;
}

static void *subattach_loop(void *arg)
{
	struct stress *st = arg;
	struct racer *rc = &st->racer[R_SUBATTACH];
	char path[PATH_MAX];

	while (!atomic_load(&st->stop)) {
		unsigned int gen = atomic_load(&st->gen);
		int fd;

		if (!gen) {
			kt_sleep_ms(1);
			continue;
		}
		snprintf(path, sizeof(path), get(&rc->iters) % 2 ? "%s/d%u/e" : "%s/d%u", st->att, gen);
		fd = ops_link_create(st->s->maps.ops_b, path);
		if (fd >= 0) {
			count(&rc->attached);
			kt_sleep_ms(2);
			if (link_hung_up(fd))
				count(&rc->hungup);
			close(fd);
		} else if (fd == -ENOENT || fd == -EINVAL) {
			count(&rc->refused);
		} else {
			racer_error(rc, "attach ops_b to att/d<i>[/e]", fd);
		}
		count(&rc->iters);
	}
	return NULL;
}

static void *controller_loop(void *arg)
{
	struct stress *st = arg;
	struct racer *rc = &st->racer[R_CONTROLLER];

	while (!atomic_load(&st->stop)) {
		int fd = ops_link_create(st->s->maps.ops_c, st->c), err;

		if (fd < 0)
			racer_error(rc, "attach ops_c to p/c", fd);
		else
			count(&rc->attached);
		err = cg_write(st->p, "cgroup.subtree_control", "-memory");
		if (err < 0)
			racer_error(rc, "disable memory in p", err);
		err = cg_write(st->p, "cgroup.subtree_control", "+memory");
		if (err < 0)
			racer_error(rc, "enable memory in p", err);
		if (fd >= 0) {
			/* Enabling waits for the old memcg to go offline, which hangs up the link. */
			if (link_hung_up(fd))
				count(&rc->hungup);
			else
				racer_error(rc, "p/c's link after memory was disabled and enabled in p: no EPOLLHUP",
					    -EPROTO);
			close(fd);
		}
		count(&rc->iters);
	}
	return NULL;
}

/* The socket process: TCP over loopback to itself until stop_fd reads EOF; reports bytes received. */
static void __attribute__((noreturn)) net_main(const char *cg, int ready_fd, int stop_fd, int result_fd)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct pollfd stop = { .fd = stop_fd, .events = POLLIN };
	socklen_t alen = sizeof(addr);
	size_t len = 64 * 1024;
	char *buf = calloc(1, len);
	uint64_t bytes = 0;
	int lfd, cfd, sfd;
	char c = 1;

	if (!buf || cg_move(cg, 0) < 0)
		_exit(10);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || cfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0 ||
	    connect(cfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		_exit(11);
	sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (sfd < 0)
		_exit(12);
	/* Abortive close: no orphaned socket keeps the memcg after the process exits. */
	setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	setsockopt(sfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (write(ready_fd, &c, 1) != 1)
		_exit(13);
	while (poll(&stop, 1, 0) == 0) {
		ssize_t n = send(cfd, buf, len, MSG_DONTWAIT);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			_exit(14);
		while ((n = recv(sfd, buf, len, MSG_DONTWAIT)) > 0)
			bytes += (uint64_t)n;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			_exit(15);
	}
	close(cfd);
	close(sfd);
	close(lfd);
	if (write(result_fd, &bytes, sizeof(bytes)) != sizeof(bytes))
		_exit(16);
	_exit(0);
}

static int net_start(struct net_proc *np, const char *cg)
{
	int ready[2], stop[2], result[2];
	char c;

	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(stop, O_CLOEXEC) < 0 || pipe2(result, O_CLOEXEC) < 0)
		return -errno;
	fflush(stdout);
	np->pid = fork();
	if (np->pid < 0)
		return -errno;
	if (np->pid == 0) {
		close(ready[0]);
		close(stop[1]);
		close(result[0]);
		net_main(cg, ready[1], stop[0], result[1]);
	}
	close(ready[1]);
	close(stop[0]);
	close(result[1]);
	np->ready_fd = ready[0];
	np->stop_fd = stop[1];
	np->result_fd = result[0];
	return read(np->ready_fd, &c, 1) == 1 ? 0 : -EIO;
}

/* Stops the socket process; its bytes received, or negative (its exit status negated). */
static int64_t net_stop(struct net_proc *np)
{
	uint64_t bytes = 0;
	ssize_t n;
	int status = 0;

	close(np->stop_fd);
	n = read(np->result_fd, &bytes, sizeof(bytes));
	while (waitpid(np->pid, &status, 0) < 0 && errno == EINTR)
		;
	close(np->ready_fd);
	close(np->result_fd);
	if (n != (ssize_t)sizeof(bytes))
		return WIFEXITED(status) ? -WEXITSTATUS(status) : -128 - (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return (int64_t)bytes;
}

/* What t18 still holds: charges (of its dying descendants: the live ones are gone), links open. */
static void leftovers(struct kt_report *r, const char *base, const char *when)
{
	static const char *const keys[] = { "anon", "file", "kernel", "sock", "shmem", "swapcached", "slab",
					    "percpu", "file_mapped" };
	uint64_t cur = 0, sw = 0, dying = 0, zombies = 0, v;
	char line[512] = "";
	unsigned int links = 0;
	size_t n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char target[64];
		ssize_t len = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);

		if (len > 0) {
			target[len] = 0;
			links += strcmp(target, "anon_inode:bpf_link") == 0;
		}
	}
	if (d)
		closedir(d);
	(void)cg_read_u64(base, "memory.current", &cur);
	(void)cg_read_u64(base, "memory.swap.current", &sw);
	(void)cg_read_key(base, "cgroup.stat", "nr_dying_descendants", &dying);
	(void)cg_read_key(base, "cgroup.stat", "nr_dying_subsys_memory", &zombies);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && n < sizeof(line); i++)
		if (cg_read_key(base, "memory.stat", keys[i], &v) == 0)
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%llu", keys[i], (unsigned long long)v);
	{
		FILE *f = fopen("/proc/net/sockstat", "re");
		char l[256];

		while (f && fgets(l, sizeof(l), f))
			if (strncmp(l, "TCP:", 4) == 0)
				kt_note(r, "%s: sockstat %.*s", when, (int)strcspn(l, "\n"), l);
		if (f)
			fclose(f);
	}
	kt_note(r, "%s: dying %llu, dying memory %llu; bpf links open in this process %u (kt4's fentry link is one); t18 memory.current %llu, memory.swap.current %llu;%s",
		when, (unsigned long long)dying, (unsigned long long)zombies, links, (unsigned long long)cur,
		(unsigned long long)sw, line);
}

/* A child pinned to each CPU in turn charges @bytes from @cg: replaces each CPU's charge stock. */
static void charge_each_cpu(struct kt_report *r, const char *cg, size_t bytes)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	for (long cpu = 0; cpu < ncpu; cpu++) {
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			cpu_set_t set;
			char *p;

			CPU_ZERO(&set);
			CPU_SET((int)cpu, &set);
			if (sched_setaffinity(0, sizeof(set), &set) < 0 || cg_move(cg, 0) < 0)
				_exit(1);
			p = malloc(bytes);
			if (!p)
				_exit(1);
			memset(p, 1, bytes);
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			kt_note(r, "charging from %s on CPU %ld failed", cg, cpu);
	}
}

/* swapoff and swapon again every swap device: swapoff drains every CPU's swap slot cache. */
static void swap_cycle(struct kt_report *r)
{
	FILE *f = fopen("/proc/swaps", "re");
	char line[512], dev[256];

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s", dev) == 1 && dev[0] == '/' &&
		    (swapoff(dev) < 0 || swapon(dev, 0) < 0))
			kt_note(r, "swapoff/swapon %s: %s", dev, strerror(errno));
	if (f)
		fclose(f);
}

/* Waits up to @secs for t18's dying counts to be back at the baseline. */
static bool dying_back(struct kt_report *r, const struct stress *st, unsigned int secs)
{
	double waited;

	return kt_wait_stat(r, st->base, "nr_dying_descendants", st->dying0, secs, &waited) <= st->dying0 &&
	       kt_wait_stat(r, st->base, "nr_dying_subsys_memory", st->zombies0, 1, &waited) <= st->zombies0;
}

/* After the subtrees were removed: release what legitimately holds removed memcgs, stage by stage. */
static void release_stages(struct kt_report *r, const struct stress *st, const char *free_cg)
{
	static const char *const stage[] = {
		"t18 reclaimed (memory.reclaim 64M)",
		"page cache and slab dropped (vm.drop_caches=3), t18 reclaimed again",
		"2 MiB charged from t18/free on every CPU (replaces each CPU's charge stock)",
		"swapoff and swapon of every swap device (frees every swap entry no task holds)",
	};

	for (size_t i = 0; i < sizeof(stage) / sizeof(stage[0]); i++) {
		if (i == 1) {
			FILE *f = fopen("/proc/sys/vm/drop_caches", "we");

			if (f) {
				fputs("3", f);
				fclose(f);
			}
		}
		if (i < 2) {	/* EAGAIN: less than asked for was reclaimable */
			(void)cg_write(st->base, "memory.reclaim", "64M");
		} else if (i == 2) {
			charge_each_cpu(r, free_cg, 2 * MiB);
		} else {
			swap_cycle(r);
		}
		if (dying_back(r, st, i == 0 || i == 3 ? 10 : 5)) {
			kt_note(r, "removed memcgs released after: %s", stage[i]);
			return;
		}
		leftovers(r, st->base, stage[i]);
	}
}

/* Calls of __memcg_ops_charge() while cg charges 4 MiB: 0 iff the static key is off. */
static uint64_t key_witness(struct kt_report *r, struct kt4 *w, const char *cg)
{
	struct kt_work work = { .bytes = 4 * MiB, .rounds = 1 };
	struct kt_result res = { 0 };

	__atomic_store_n(&w->bss->hook_calls, 0, __ATOMIC_SEQ_CST);
	if (kt_run(cg, &work, &res) < 0 || res.status)
		kt_die(r, "worker in %s failed (status %d)", cg, res.status);
	return __atomic_load_n(&w->bss->hook_calls, __ATOMIC_SEQ_CST);
}

static void progress(struct kt_report *r, struct stress *st, unsigned int secs)
{
	const struct racer *rc = st->racer;

	kt_note(r, "%u s: attach %llu, churn %llu, subattach %llu (%llu attached, %llu refused), controller %llu",
		secs, (unsigned long long)get(&rc[R_ATTACH].iters), (unsigned long long)get(&rc[R_CHURN].iters),
		(unsigned long long)get(&rc[R_SUBATTACH].iters), (unsigned long long)get(&rc[R_SUBATTACH].attached),
		(unsigned long long)get(&rc[R_SUBATTACH].refused), (unsigned long long)get(&rc[R_CONTROLLER].iters));
}

static void report_racer(struct kt_report *r, const struct racer *rc, uint64_t need)
{
	kt_check(r, need > 0 && rc->errors == 0,
		 "thread %s: %llu iterations, %llu links created, %llu refused, %llu hung up; %llu unexpected errors%s%s",
		 rc->name, (unsigned long long)rc->iters, (unsigned long long)rc->attached,
		 (unsigned long long)rc->refused, (unsigned long long)rc->hungup, (unsigned long long)rc->errors,
		 rc->errors ? ", first: " : need ? "" : " (NO PROGRESS)", rc->first_error);
}

int main(int argc, char **argv)
{
	struct stress st = {
		.racer = { [R_ATTACH] = { .name = "attach" }, [R_CHURN] = { .name = "churn" },
			   [R_SUBATTACH] = { .name = "subattach" }, [R_CONTROLLER] = { .name = "controller" } },
	};
	static void *(*const loops[R_MAX])(void *) = { attach_loop, churn_loop, subattach_loop, controller_loop };
	struct kt_report r = { .test = "test18-stress" };
	unsigned int secs = argc > 1 ? (unsigned int)atoi(argv[1]) : 60;
	char cg[W_MAX][PATH_MAX], net[PATH_MAX], hi[PATH_MAX];
	struct kt_worker wk[W_MAX];
	struct kt_work work = { .bytes = 4 * MiB, .drop = true };
	uint64_t v, calls, id;
	int leak_fd = -1;
	struct net_proc np = { .pid = -1, .ready_fd = -1, .stop_fd = -1, .result_fd = -1 };
	struct kt4 *w;
	struct kt8 *k8;
	int64_t bytes;
	double waited;
	int splats;

	kt_libbpf_setup();
	kt_require_memcg_ops(&r);
	kt_note(&r, "kernel: %s", kt_kernel_is_debug() ? "debug (KASAN/lockdep detected in the log)" :
						      "NOT a debug kernel: KASAN and lockdep do not check this run");
	splats = kt_scan_kernel_log(&r);
	kt_check(&r, splats == 0, "kernel log clean before the stress (%d suspicious lines)", splats);

	/* The tree (see the top of the file). */
	kt_test_cgroup(&r, "t18", st.base, sizeof(st.base));
	if (cg_read_key(st.base, "cgroup.stat", "nr_dying_descendants", &st.dying0) < 0 ||
	    cg_read_key(st.base, "cgroup.stat", "nr_dying_subsys_memory", &st.zombies0) < 0)
		kt_die(&r, "reading %s/cgroup.stat: %s", st.base, strerror(errno));
	kt_sub_cgroup(&r, st.base, "att", true, st.att, sizeof(st.att), NULL);
	kt_sub_cgroup(&r, st.base, "p", true, st.p, sizeof(st.p), NULL);
	kt_sub_cgroup(&r, st.p, "c", false, st.c, sizeof(st.c), NULL);
	kt_sub_cgroup(&r, st.att, "home", false, st.home, sizeof(st.home), NULL);
	kt_sub_cgroup(&r, st.att, "hi", true, hi, sizeof(hi), NULL);
	kt_sub_cgroup(&r, st.att, "net", false, net, sizeof(net), NULL);
	kt_sub_cgroup(&r, st.base, "free", false, cg[W_FREE], PATH_MAX, NULL);
	kt_sub_cgroup(&r, st.att, "w0", false, cg[W_W0], PATH_MAX, NULL);
	kt_sub_cgroup(&r, st.att, "w1", false, cg[W_W1], PATH_MAX, NULL);
	kt_sub_cgroup(&r, hi, "w", false, cg[W_HI], PATH_MAX, NULL);
	snprintf(cg[W_C], PATH_MAX, "%s", st.c);
	snprintf(cg[W_MOVER], PATH_MAX, "%s", st.home);
	if (cg_write(hi, "memory.high", "8M") < 0)
		kt_die(&r, "setting %s/memory.high: %s", hi, strerror(errno));

	st.s = kt_open_or_die(&r);
	st.s->struct_ops.ops_life->flags = KT_MEMCG_OPS_F_ALLOW_OVERRIDE;
	st.s->struct_ops.ops_a->flags = KT_MEMCG_OPS_F_ALLOW_OVERRIDE;
	st.s->struct_ops.ops_b->flags = 0;
	st.s->struct_ops.ops_c->flags = 0;
	kt_load_or_die(&r, st.s);
	{
		static const int slot_of[W_MAX] = { SLOT_FREE, SLOT_W0, 0, SLOT_HI, SLOT_C, SLOT_HOME };

		for (int i = 0; i < W_MAX; i++)
			if (slot_of[i] && (cg_id(cg[i], &id) < 0 || kt_slot(st.s, id, slot_of[i])))
				kt_die(&r, "filling the slots map for %s: %s", cg[i], strerror(errno));
		if (cg_id(net, &id) < 0 || kt_slot(st.s, id, SLOT_NET))
			kt_die(&r, "filling the slots map for %s: %s", net, strerror(errno));
	}
	/* Write the maps' values once here (their layout is read from BTF once, not thread-safe). */
	if (ops_link_write_value(st.s->maps.ops_life) < 0 || ops_link_write_value(st.s->maps.ops_a) < 0 ||
	    ops_link_write_value(st.s->maps.ops_b) < 0 || ops_link_write_value(st.s->maps.ops_c) < 0)
		kt_die(&r, "writing the struct_ops maps' values failed");

	w = kt4__open_and_load();
	if (!w || kt4__attach(w))
		kt_die(&r, "loading or attaching kt4 (fentry/__memcg_ops_charge): %s", strerror(errno));
	calls = key_witness(&r, w, cg[W_FREE]);
	kt_check(&r, calls == 0, "before the stress, nothing attached: the static key is off (%llu calls)",
		 (unsigned long long)calls);
	k8 = kt8__open_and_load();
	if (!k8 || kt8__attach(k8))
		kt_die(&r, "loading or attaching kt8 (fentry/__memcg_ops_charge, softirq): %s", strerror(errno));
	if (cg_id(net, &id) < 0)
		kt_die(&r, "stat %s: %s", net, strerror(errno));
	k8->bss->net_cg = id;

	/* Charging tasks first (no fork from a threaded process), then the racing threads. */
	for (int i = 0; i < W_MAX; i++) {
		work.bytes = i == W_HI ? 12 * MiB : 4 * MiB;
		if (kt_worker_start(&wk[i], cg[i], &work) < 0 || kt_worker_wait_ready(&wk[i]) < 0)
			kt_die(&r, "starting the worker in %s failed", cg[i]);
	}
	st.mover = wk[W_MOVER].pid;
	if (net_start(&np, net) < 0)
		kt_die(&r, "starting the socket process in %s failed", net);
	kt_note(&r, "racing for %u s: 4 threads, %d charging workers, TCP over loopback in att/net", secs, W_MAX);
	for (int i = 0; i < R_MAX; i++)
		if (pthread_create(&st.racer[i].thread, NULL, loops[i], &st))
			kt_die(&r, "pthread_create failed");
	for (unsigned int t = 0; t < secs; t++) {
		kt_sleep_ms(1000);
		if ((t + 1) % 15 == 0 && t + 1 < secs)
			progress(&r, &st, t + 1);
	}
	atomic_store(&st.stop, true);
	for (int i = 0; i < R_MAX; i++)
		pthread_join(st.racer[i].thread, NULL);

	/* Progress and errors of every racer. */
	report_racer(&r, &st.racer[R_ATTACH], st.racer[R_ATTACH].iters);
	report_racer(&r, &st.racer[R_CHURN], st.racer[R_CHURN].iters);
	report_racer(&r, &st.racer[R_SUBATTACH], st.racer[R_SUBATTACH].attached);
	report_racer(&r, &st.racer[R_CONTROLLER], st.racer[R_CONTROLLER].iters);
	for (int i = 0; i < W_MAX; i++) {
		struct kt_result res = { 0 };

		kt_worker_stop(&wk[i], &res);
		kt_check(&r, res.status == 0 && res.rounds > 0, "worker %s: %llu rounds of %llu MiB touched and dropped (status %d)",
			 worker_name[i], (unsigned long long)res.rounds, (unsigned long long)(i == W_HI ? 12 : 4),
			 res.status);
	}
	bytes = net_stop(&np);
	kt_check(&r, bytes > 0, "socket process in att/net: %lld bytes over loopback (negative: exit status)",
		 (long long)bytes);
	kt_check(&r, k8->bss->softirq_with_ops > 0,
		 "charges of att/net in softirq with a policy in effect: %llu (of %llu in softirq, %llu in all)",
		 (unsigned long long)k8->bss->softirq_with_ops, (unsigned long long)k8->bss->softirq_calls,
		 (unsigned long long)k8->bss->calls);
	v = kt_cnt(st.s, KT_TAG_LIFE, KT_HOOK_CHARGE, SLOT_W0) + kt_cnt(st.s, KT_TAG_A, KT_HOOK_CHARGE, SLOT_W0);
	kt_check(&r, v > 0, "att/w0's charges reached att's policies: %llu calls (high_delay %llu, below_low %llu, below_min %llu for att/hi/w; online %llu, offline %llu)",
		 (unsigned long long)v, (unsigned long long)kt_cnt(st.s, KT_TAG_LIFE, KT_HOOK_HIGH_DELAY, SLOT_HI),
		 (unsigned long long)kt_cnt(st.s, KT_TAG_LIFE, KT_HOOK_BELOW_LOW, SLOT_HI),
		 (unsigned long long)kt_cnt(st.s, KT_TAG_LIFE, KT_HOOK_BELOW_MIN, SLOT_HI),
		 (unsigned long long)st.s->bss->online_any[KT_TAG_LIFE],
		 (unsigned long long)st.s->bss->offline_any[KT_TAG_LIFE]);

	/* Leaks: every link is closed; remove the subtrees and wait for the dying cgroups to go. */
	kt8__destroy(k8);
	if (getenv("KT_STRESS_LEAK")) {
		/* The check's own check: a link left open on a removed cgroup pins it (patch 11). */
		char leak[PATH_MAX];

		kt_sub_cgroup(&r, st.att, "leak", false, leak, sizeof(leak), NULL);
		leak_fd = ops_link_create(st.s->maps.ops_b, leak);
		if (leak_fd < 0)
			kt_die(&r, "KT_STRESS_LEAK: attaching ops_b to %s: %s", leak, strerror(-leak_fd));
		kt_note(&r, "KT_STRESS_LEAK: a link on att/leak stays open through the leak check, which must fail");
	}
	if (cg_rmtree(st.att) < 0 || cg_rmtree(st.p) < 0)
		kt_die(&r, "removing %s and %s: %s", st.att, st.p, strerror(errno));
	/*
	 * What may still hold a removed memcg without any leak: pages charged to it (page cache,
	 * swap cache), the per-CPU charge stock (a css reference on the last memcg charged on that
	 * CPU, which the drain at offline can miss), and swap entries charged to it (each holds
	 * the memcg's swap charge and an id reference until the entry is freed). Release them
	 * stage by stage and say which stage it took; a reference held by a link or by the
	 * series is released by none of them (KT_STRESS_LEAK=1 shows the check then fails).
	 */
	release_stages(&r, &st, cg[W_FREE]);
	v = kt_wait_stat(&r, st.base, "nr_dying_descendants", st.dying0, 30, &waited);
	kt_check(&r, v <= st.dying0, "subtrees removed: nr_dying_descendants of t18 back to %llu (now %llu)",
		 (unsigned long long)st.dying0, (unsigned long long)v);
	v = kt_wait_stat(&r, st.base, "nr_dying_subsys_memory", st.zombies0, 5, &waited);
	kt_check(&r, v <= st.zombies0, "subtrees removed: nr_dying_subsys_memory of t18 back to %llu (now %llu)",
		 (unsigned long long)st.zombies0, (unsigned long long)v);
	if (leak_fd >= 0)
		close(leak_fd);
	calls = key_witness(&r, w, cg[W_FREE]);
	kt_check(&r, calls == 0, "after the stress, nothing attached: the static key is off (%llu calls)",
		 (unsigned long long)calls);
	kt4__destroy(w);
	kt_teardown(st.s, st.base, NULL);

	kt_sleep_ms(500);
	splats = kt_scan_kernel_log(&r);
	kt_check(&r, splats == 0, "kernel log has no WARNING/BUG/KASAN/lockdep/RCU report after the stress (%d suspicious lines)",
		 splats);
	return kt_finish(&r);
}
