/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 8: the failed-charge hook runs before the OOM path, honours at most the cap once per charge,
 * and gives nothing to dying tasks (issue 7, defect 1).
 * Cgroup p: memory.max=16M, memory.swap.max=0, policy ops_fail (kt2.bpf.c) asking for far more extra
 * reclaim than the kernel's cap on every failing charge.
 *  A. A writer with oom_score_adj=-1000 fills a tmpfs file until a write fails: the policy is told
 *     of the failing charge before the OOM killer is entered, the kernel reclaims exactly the cap
 *     (MEMCG_OPS_MAX_RECLAIM_PAGES, read from the kernel's BTF) at most once per charge and only for
 *     blocking charges, and the write fails with ENOMEM without an OOM kill.
 *     (No charge in this test is GFP_NOWAIT: 6.12 charges socket memory in softirq with GFP_ATOMIC,
 *     which is forced. The check that no cap-sized reclaim ever runs with a non-blocking gfp mask
 *     covers any such charge on the system while the test runs.)
 *  B. The same with a policy that asks for nothing: no extra reclaim at all.
 *  C. An anonymous hog is OOM-killed: no extra reclaim while it is dying.
 *  D. The limit is on the parent q of the writer's cgroup q/a (policy on q/a): the extra reclaim
 *     targets q/a, never the parent's whole subtree (siblings included).
 * On the v1 series the hook ran after the OOM killer and gave dying tasks extra reclaim.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt-common.h"
#include "kt2-open.h"

#define MiB (1024ull * 1024)
#define TMPFS "/run/kt8-tmpfs"

/* Child: joins cg, fills path through write() until it fails; exits with the errno (0 if none). */
static int writer(const char *cg, const char *path)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		static char buf[1 << 20];
		int fd, adj;
		ssize_t n;

		if (cg_move(cg, getpid()) < 0)
			_exit(200);
		adj = open("/proc/self/oom_score_adj", O_WRONLY);
		if (adj < 0 || write(adj, "-1000", 5) != 5)
			_exit(201);
		close(adj);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(202);
		memset(buf, 0x5a, sizeof(buf));
		/* Short writes are fine; a write that fails ends it (at most 1024 writes). */
		for (int i = 0; i < 1024; i++) {
			n = write(fd, buf, sizeof(buf));
			if (n < 0)
				_exit(errno & 0x7f);
		}
		_exit(0);
	}
	return pid;
}

/* Child: joins cg and touches 64 MiB of anonymous memory (OOM-killed under memory.max=16M). */
static int hog(const char *cg)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		size_t len = 64 * MiB;
		char *p;

		if (cg_move(cg, getpid()) < 0)
			_exit(200);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			_exit(201);
		for (size_t off = 0; off < len; off += 4096)
			p[off] = 1;
		_exit(0);
	}
	return pid;
}

static void reset(struct kt2 *s)
{
	struct kt2__bss *b = s->bss;

	b->cap_elsewhere = 0;
	b->fail_calls = b->fail_nonblock = b->fail_dying = b->first_fail_seq = 0;
	b->charges = b->cap_calls = b->over_cap = b->cap_twice = b->cap_nonblock = b->cap_dying = 0;
	b->last_cap_charge = (uint64_t)-1;
	b->oom_calls = b->first_oom_seq = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static uint64_t event(const char *cg, const char *key)
{
	uint64_t v = 0;

	(void)cg_read_key(cg, "memory.events", key, &v);
	return v;
}

static void show(struct kt_report *r, const char *phase, struct kt2__bss *b)
{
	kt_note(r, "%s: charges %llu, failing-charge hook calls %llu (non-blocking %llu, dying %llu), "
		"cap-sized reclaims %llu (over cap %llu, twice in a charge %llu, non-blocking %llu, dying %llu, "
		"of another memcg %llu), "
		"OOM entries %llu, first hook call at t=%llu, first OOM entry at t=%llu",
		phase, (unsigned long long)b->charges, (unsigned long long)b->fail_calls,
		(unsigned long long)b->fail_nonblock, (unsigned long long)b->fail_dying,
		(unsigned long long)b->cap_calls, (unsigned long long)b->over_cap,
		(unsigned long long)b->cap_twice, (unsigned long long)b->cap_nonblock,
		(unsigned long long)b->cap_dying, (unsigned long long)b->cap_elsewhere,
		(unsigned long long)b->oom_calls,
		(unsigned long long)b->first_fail_seq, (unsigned long long)b->first_oom_seq);
}

static int wait_child(struct kt_report *r, pid_t pid)
{
	int st;

	if (pid < 0)
		kt_die(r, "fork: %s", strerror((int)-pid));
	if (waitpid(pid, &st, 0) != pid)
		kt_die(r, "waitpid: %s", strerror(errno));
	return st;
}

int main(void)
{
	struct kt_report r = { .test = "test8-prefail" };
	char base[PATH_MAX], p[PATH_MAX], q[PATH_MAX], qa[PATH_MAX];
	struct bpf_link *ops = NULL, *f1 = NULL, *f2 = NULL, *f3 = NULL;
	uint64_t pid_cg, qa_cg, kills0, ooms0;
	struct kt2__bss *b;
	struct kt2 *s;
	int st, err;

	kt_libbpf_setup();
	kt_require_memcg_ops(&r);
	kt_test_cgroup(&r, "t8", base, sizeof(base));
	kt_sub_cgroup(&r, base, "p", false, p, sizeof(p), &pid_cg);
	if (cg_write(p, "memory.max", "%llu", 16 * MiB) < 0 || cg_write(p, "memory.swap.max", "0") < 0)
		kt_die(&r, "setting memory.max/memory.swap.max on %s: %s", p, strerror(errno));
	if (mkdir(TMPFS, 0700) < 0 && errno != EEXIST)
		kt_die(&r, "mkdir %s: %s", TMPFS, strerror(errno));
	if (mount("kt8", TMPFS, "tmpfs", 0, "size=256m") < 0)
		kt_die(&r, "mount tmpfs on %s: %s", TMPFS, strerror(errno));

	s = kt2_open_for(&r, KT2_T8);
	kt2_load_or_die(&r, s);
	b = s->bss;
	f1 = bpf_program__attach(s->progs.t8_charge);
	f2 = bpf_program__attach(s->progs.t8_reclaim);
	f3 = bpf_program__attach(s->progs.t8_oom);
	if (!f1 || !f2 || !f3)
		kt_die(&r, "attaching the fentry programs: %s", strerror(errno));
	ops = kt_attach_ops(s->maps.ops_fail, p, &err);
	if (!ops)
		kt_die(&r, "attaching ops_fail to %s: %s", p, strerror(-err));
	b->fail_cg = pid_cg;

	/* A: the policy asks for 1<<20 pages on every failing charge. */
	reset(s);
	b->ask_pages = 1u << 20;
	kills0 = event(p, "oom_kill");
	ooms0 = event(p, "oom");
	st = wait_child(&r, writer(p, TMPFS "/a"));
	show(&r, "A (asks for 1<<20 pages)", b);
	kt_note(&r, "A: cap from the kernel's BTF (MEMCG_OPS_MAX_RECLAIM_PAGES): %llu pages; memory.events oom +%llu",
		(unsigned long long)b->cap, (unsigned long long)(event(p, "oom") - ooms0));
	kt_check(&r, b->cap > 0, "the kernel's BTF names the reclaim cap (enum memcg_ops_limits)");
	kt_check(&r, WIFEXITED(st) && WEXITSTATUS(st) == ENOMEM,
		 "the -1000 writer's write fails with ENOMEM and it is not killed (status 0x%x)", st);
	kt_check(&r, event(p, "oom_kill") == kills0, "no OOM kill");
	kt_check(&r, b->fail_calls > 0, "the policy was told of failing charges");
	kt_check(&r, b->cap_calls > 0, "the kernel did extra reclaim of exactly the cap");
	kt_check(&r, b->over_cap == 0, "never more than the cap");
	kt_check(&r, b->cap_twice == 0, "at most once per charge");
	kt_check(&r, b->cap_calls <= b->fail_calls, "no more extra reclaims than failing-charge hook calls");
	kt_check(&r, b->cap_nonblock == 0, "no extra reclaim for a charge that may not block");
	kt_check(&r, b->cap_elsewhere == 0, "the extra reclaim targets the charging memcg");
	kt_check(&r, b->oom_calls > 0, "the OOM path still ran when the extra reclaim did not help");
	kt_check(&r, b->first_fail_seq && b->first_oom_seq && b->first_fail_seq < b->first_oom_seq,
		 "the failing-charge hook ran before the OOM killer was entered");
	unlink(TMPFS "/a");

	/* B: the policy asks for nothing. */
	reset(s);
	b->ask_pages = 0;
	st = wait_child(&r, writer(p, TMPFS "/b"));
	show(&r, "B (asks for nothing)", b);
	kt_check(&r, WIFEXITED(st) && WEXITSTATUS(st) == ENOMEM, "B: the write fails with ENOMEM (status 0x%x)", st);
	kt_check(&r, b->fail_calls > 0 && b->cap_calls == 0, "B: told of failing charges, no extra reclaim");
	kt_check(&r, event(p, "oom_kill") == kills0, "B: no OOM kill");
	unlink(TMPFS "/b");

	/* C: an OOM-killed hog. */
	reset(s);
	b->ask_pages = 1u << 20;
	st = wait_child(&r, hog(p));
	show(&r, "C (OOM-killed hog)", b);
	kt_check(&r, WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "C: the hog was OOM-killed (status 0x%x)", st);
	kt_check(&r, event(p, "oom_kill") > kills0, "C: memory.events oom_kill went up");
	kt_check(&r, b->cap_dying == 0, "C: no extra reclaim for the dying OOM victim");

	/* D: the limit is on the parent; the policy (moved to q/a) must not reclaim from all of q. */
	bpf_link__destroy(ops);
	bpf_link__destroy(f1);
	bpf_link__destroy(f2);
	bpf_link__destroy(f3);
	kt2__destroy(s);
	kt_sub_cgroup(&r, base, "q", true, q, sizeof(q), NULL);
	kt_sub_cgroup(&r, q, "a", false, qa, sizeof(qa), &qa_cg);
	if (cg_write(q, "memory.max", "%llu", 16 * MiB) < 0 || cg_write(q, "memory.swap.max", "0") < 0)
		kt_die(&r, "setting memory.max/memory.swap.max on %s: %s", q, strerror(errno));
	s = kt2_open_for(&r, KT2_T8);
	kt2_load_or_die(&r, s);
	b = s->bss;
	f1 = bpf_program__attach(s->progs.t8_charge);
	f2 = bpf_program__attach(s->progs.t8_reclaim);
	f3 = bpf_program__attach(s->progs.t8_oom);
	ops = kt_attach_ops(s->maps.ops_fail, qa, &err);
	if (!f1 || !f2 || !f3 || !ops)
		kt_die(&r, "attaching the programs and ops_fail to %s: %s", qa, strerror(errno));
	b->fail_cg = qa_cg;
	reset(s);
	b->ask_pages = 1u << 20;
	st = wait_child(&r, writer(qa, TMPFS "/d"));
	show(&r, "D (limit on the parent)", b);
	kt_check(&r, WIFEXITED(st) && WEXITSTATUS(st) == ENOMEM, "D: the write fails with ENOMEM (status 0x%x)", st);
	kt_check(&r, b->cap_calls > 0, "D: extra reclaim ran");
	kt_check(&r, b->cap_elsewhere == 0, "D: it reclaimed from q/a only, not from the parent q's subtree");
	unlink(TMPFS "/d");

	bpf_link__destroy(ops);
	bpf_link__destroy(f1);
	bpf_link__destroy(f2);
	bpf_link__destroy(f3);
	kt2__destroy(s);
	umount(TMPFS);
	rmdir(TMPFS);
	cg_rmtree(base);
	return kt_finish(&r);
}
