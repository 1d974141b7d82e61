/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 13: the cost of propagating a policy over a large subtree (issue 7, defect 6).
 * Builds t13 with F children of F grandchildren each (F = FANOUT = 100 unless given: 10,100 online
 * memcgs), plus Z = F / ZOMBIE_DIV removed children of F removed grandchildren each (2,020 memcgs),
 * kept dying (offline, still in the cgroup tree) by one page of a memfd charged to each dying
 * grandchild; child c1 gets a policy of its own (ops_b). Then attaches ops_a (kt.bpf.c: a charge
 * hook only) to t13 by a link and destroys the link.
 *
 * What it measures is the work of the propagation walk, counted, not timed: kt5.bpf.c counts the
 * css_next_descendant_pre() calls of the attaching thread, one per memcg the walk visits plus one
 * that ends it. A walk that skips what cannot change (the subtree below an offline memcg, the
 * subtree below a descendant with its own attachment) visits t13, its online children and their
 * grandchildren except c1's, and each dying child once: 1 + F + F(F-1) + Z memcgs. The series
 * before "bound the cost of memcg_ops propagation" visits every memcg below t13, dying ones
 * included: F + ZF more (2,100 with F = 100). Asserted: the attach's and the detach's count
 * are the skipping walk's, within WALK_SLACK calls (none expected) - this fails on the old series.
 *
 * Also asserted: the policy reaches the first and the last grandchild and is gone from them after
 * the detach; attaching again after half of the children were removed still reaches the remaining
 * grandchildren; and a 1 ms ticker thread on the attaching CPU gets to run during an attach or
 * detach that takes at least GAP_MIN_MS (the walk offers to reschedule every 256 memcgs): its
 * longest gap is less than half of the operation's time in at least one of GAP_ROUNDS attach and
 * detach rounds. One round is not enough: under TCG on a loaded host a vCPU thread can be
 * descheduled for a few hundred milliseconds, which the guest sees as a gap in both threads; a walk
 * that never reschedules (the old series) shows the gap in every round. In the guest the walk
 * usually takes less than GAP_MIN_MS, and then the gaps are reported, not asserted. Times are
 * reported, not asserted (qemu without KVM on a shared host).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kt-common.h"
#include "kt5.skel.h"
#include "kt7.skel.h"
#include "ops-link.h"

#define MiB (1024ull * 1024)
#define FANOUT 100
/* Dying subtrees below t13: fanout / ZOMBIE_DIV children of fanout grandchildren each. */
#define ZOMBIE_DIV 5
/* How long the removed memcgs may take to go offline (a grace period and a workqueue each). */
#define OFFLINE_WAIT_S 300
/* css_next_descendant_pre() calls of the attaching thread allowed outside the walk (none expected). */
#define WALK_SLACK 8
/*
 * An attach or detach shorter than this cannot tell a walk that reschedules from one that does not:
 * the walk gives up the CPU only once the scheduler asks for it (need_resched()), which on the
 * test kernel (HZ=250, no wakeup preemption of a running slice) can take up to two ticks and a
 * slice, so gaps of 5-9 ms were seen during 13-22 ms walks that rescheduled.
 */
#define GAP_MIN_MS 40.0
/* Attach and detach rounds; the walk must let the ticker run in one of them (see the top). */
#define GAP_ROUNDS 3

struct ticker {
	pthread_t thread;
	int stop;
	int armed;
	uint64_t max_gap_ns;
};

static void *tick(void *arg)
{
	struct ticker *t = arg;
	struct timespec ms = { .tv_sec = 0, .tv_nsec = 1000000 };
	uint64_t last = kt_now_ns();

	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now;

		nanosleep(&ms, NULL);
		now = kt_now_ns();
		if (__atomic_load_n(&t->armed, __ATOMIC_ACQUIRE) && now - last > t->max_gap_ns)
			t->max_gap_ns = now - last;
		last = now;
	}
	return NULL;
}

static void arm(struct ticker *t)
{
	t->max_gap_ns = 0;
	__atomic_store_n(&t->armed, 1, __ATOMIC_RELEASE);
}

static uint64_t disarm(struct ticker *t)
{
	/* Let the ticker see the end of the timed call before reading its gap. */
	kt_sleep_ms(20);
	__atomic_store_n(&t->armed, 0, __ATOMIC_RELEASE);
	kt_sleep_ms(5);
	return t->max_gap_ns;
}

/* What the rounds showed of one operation (attach or detach): whether the ticker ran during it. */
struct gap_verdict {
	const char *what;
	unsigned int long_ops;	/* rounds in which the operation took at least GAP_MIN_MS */
	unsigned int ticked;	/* of those, rounds whose longest ticker gap was less than half of it */
};

static void gap_round(struct kt_report *r, struct gap_verdict *v, unsigned int round, uint64_t op_ns, uint64_t gap_ns)
{
	double op = (double)op_ns / 1e6, gap = (double)gap_ns / 1e6;

	kt_note(r, "round %u: %s %.2f ms, longest gap of a 1 ms ticker on the same CPU %.2f ms", round, v->what, op,
		gap);
	if (op < GAP_MIN_MS)
		return;
	v->long_ops++;
	if (gap < op / 2)
		v->ticked++;
}

static void gap_check(struct kt_report *r, const struct gap_verdict *v)
{
	if (!v->long_ops) {
		kt_note(r, "WARNING: every %s took < %.0f ms: too short to tell whether the walk reschedules", v->what,
			GAP_MIN_MS);
		return;
	}
	kt_check(r, v->ticked > 0,
		 "%s: the ticker on the same CPU ran during the walk (longest gap < half the time) in %u of %u rounds "
		 "that took >= %.0f ms", v->what, v->ticked, v->long_ops, GAP_MIN_MS);
}

static void run_in(struct kt_report *r, const char *cg)
{
	struct kt_work work = { .bytes = 4 * MiB, .rounds = 1, .drop = false };
	struct kt_result res;

	if (kt_run(cg, &work, &res) < 0 || res.status)
		kt_die(r, "worker in %s failed", cg);
}

/*
 * nz children of nzf grandchildren below base, each grandchild charged one page of
 * the memfd mfd (this process joins it, writes the page, and goes back home), then all removed: the
 * pages keep the grandchildren, and so their parents, dying. Returns nothing; dies on a failure.
 */
static void make_zombies(struct kt_report *r, const char *base, int mfd, unsigned int nz, unsigned int nzf)
{
	long psz = sysconf(_SC_PAGESIZE);
	char home[PATH_MAX], z[PATH_MAX], g[PATH_MAX], name[32];
	char *page = calloc(1, (size_t)psz);
	off_t off = 0;

	if (!page)
		kt_die(r, "out of memory");
	memset(page, 0x5a, (size_t)psz);
	if (cg_own(home, sizeof(home)) < 0)
		kt_die(r, "reading /proc/self/cgroup: %s", strerror(errno));
	for (unsigned int i = 0; i < nz; i++) {
		snprintf(name, sizeof(name), "z%u", i);
		kt_sub_cgroup(r, base, name, true, z, sizeof(z), NULL);
		for (unsigned int j = 0; j < nzf; j++) {
			snprintf(name, sizeof(name), "g%u", j);
			kt_sub_cgroup(r, z, name, false, g, sizeof(g), NULL);
			if (cg_move(g, getpid()) < 0)
				kt_die(r, "joining %s: %s", g, strerror(errno));
			if (pwrite(mfd, page, (size_t)psz, off) != psz)
				kt_die(r, "writing a page of the memfd in %s: %s", g, strerror(errno));
			off += psz;
		}
	}
	if (cg_move(home, getpid()) < 0)
		kt_die(r, "going back to %s: %s", home, strerror(errno));
	free(page);
	for (unsigned int i = 0; i < nz; i++) {
		snprintf(name, sizeof(name), "z%u", i);
		cg_path(z, sizeof(z), base, name);
		if (cg_rmtree(z) < 0)
			kt_die(r, "rmdir %s: %s", z, strerror(errno));
	}
}

/* The walk's steps of what the attaching thread did since the last call. */
static uint64_t walk_steps(struct kt5 *w, uint64_t *last)
{
	uint64_t now = __atomic_load_n(&w->bss->walk_steps, __ATOMIC_RELAXED), d = now - *last;

	*last = now;
	return d;
}

static void check_walk(struct kt_report *r, const char *what, uint64_t steps, uint64_t want, uint64_t old)
{
	kt_check(r, steps >= want && steps <= want + WALK_SLACK,
		 "%s: the walk took %llu steps, the skipping walk's %llu (one per online memcg that inherits, one per "
		 "skipped subtree, one to end; the walk of every memcg, dying ones included, would take %llu)",
		 what, (unsigned long long)steps, (unsigned long long)want, (unsigned long long)old);
}

int main(int argc, char **argv)
{
	struct kt_report r = { .test = "test13-propagate" };
	unsigned int fanout = argc > 1 ? (unsigned int)atoi(argv[1]) : FANOUT;
	char base[PATH_MAX], c[PATH_MAX], g[PATH_MAX], first[PATH_MAX], last[PATH_MAX], own[PATH_MAX], name[32];
	uint64_t first_id = 0, last_id = 0, t0, attach_ns, detach_ns, reattach_ns, steps_seen = 0;
	uint64_t dying = 0, want_steps, old_steps, t1;
	struct bpf_link *off_links[2];
	struct kt7 *off;
	struct gap_verdict gaps[2] = { { .what = "attach" }, { .what = "detach" } };
	struct bpf_link *link, *own_link;
	struct ticker tk = { 0 };
	cpu_set_t cpu0;
	struct kt5 *w;
	struct kt *s;
	unsigned int nz;
	int err, mfd;

	if (fanout < ZOMBIE_DIV)
		kt_die(&r, "fanout %u: at least %u", fanout, ZOMBIE_DIV);
	nz = fanout / ZOMBIE_DIV;
	kt_libbpf_setup();
	kt_require_memcg_ops(&r);
	kt_test_cgroup(&r, "t13", base, sizeof(base));

	/* The ticker and the attaching thread share CPU 0 (threads inherit the mask). */
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	if (sched_setaffinity(0, sizeof(cpu0), &cpu0) < 0)
		kt_die(&r, "sched_setaffinity: %s", strerror(errno));

	t0 = kt_now_ns();
	for (unsigned int i = 0; i < fanout; i++) {
		snprintf(name, sizeof(name), "c%u", i);
		kt_sub_cgroup(&r, base, name, true, c, sizeof(c), NULL);
		if (i == 1)
			snprintf(own, sizeof(own), "%s", c);
		for (unsigned int j = 0; j < fanout; j++) {
			bool edge = (i == 0 && j == 0) || (i == fanout - 1 && j == fanout - 1);
			uint64_t id = 0;

			snprintf(name, sizeof(name), "g%u", j);
			kt_sub_cgroup(&r, c, name, false, g, sizeof(g), edge ? &id : NULL);
			if (i == 0 && j == 0) {
				snprintf(first, sizeof(first), "%s", g);
				first_id = id;
			} else if (edge) {
				snprintf(last, sizeof(last), "%s", g);
				last_id = id;
			}
		}
	}
	kt_note(&r, "created %u memcgs below t13 in %.1f s", fanout + fanout * fanout,
		(double)(kt_now_ns() - t0) / 1e9);

	/* The dying subtrees, created after the online children: the walk meets them last. */
	t0 = kt_now_ns();
	mfd = memfd_create("t13-pin", MFD_CLOEXEC);
	if (mfd < 0)
		kt_die(&r, "memfd_create: %s", strerror(errno));
	/*
	 * rmdir returns before the css goes offline (css_killed_work_fn() runs after a grace period,
	 * from a workqueue), and nr_dying_descendants counts a cgroup from rmdir on: wait until every
	 * removed memcg went through memcg_bpf_offline() (kt7's fentry program counts the calls), or
	 * a walk right after could still meet some of them online (10,122 steps once, a loaded host).
	 */
	off = kt7__open_and_load();
	if (!off)
		kt_die(&r, "opening/loading kt7: %s (KT_VERBOSE=1 shows the verifier log)", strerror(errno));
	off_links[0] = bpf_program__attach(off->progs.kt_off_enter);
	off_links[1] = bpf_program__attach(off->progs.kt_off_exit);
	if (!off_links[0] || !off_links[1])
		kt_die(&r, "attaching fentry/fexit memcg_bpf_offline: %s", strerror(errno));
	off->bss->tracing = 1;
	make_zombies(&r, base, mfd, nz, fanout);
	for (t1 = kt_now_ns(); off->bss->offline_entered < nz * (fanout + 1); kt_sleep_ms(20))
		if (kt_now_ns() - t1 > OFFLINE_WAIT_S * 1000000000ull)
			kt_die(&r, "only %llu of %u removed memcgs went offline within %u s",
			       (unsigned long long)off->bss->offline_entered, nz * (fanout + 1), OFFLINE_WAIT_S);
	kt_note(&r, "all %u removed memcgs offline %.2f s after the last rmdir", nz * (fanout + 1),
		(double)(kt_now_ns() - t1) / 1e9);
	bpf_link__destroy(off_links[0]);
	bpf_link__destroy(off_links[1]);
	kt7__destroy(off);
	if (cg_read_key(base, "cgroup.stat", "nr_dying_descendants", &dying) < 0)
		kt_die(&r, "reading %s/cgroup.stat: %s", base, strerror(errno));
	kt_note(&r, "%u removed memcgs below t13 kept dying by a page each in %.1f s; nr_dying_descendants %llu",
		nz * (fanout + 1), (double)(kt_now_ns() - t0) / 1e9, (unsigned long long)dying);
	if (dying < nz * (fanout + 1))
		kt_die(&r, "only %llu dying memcgs below t13 (want %u): the test cannot show the walk skipping them",
		       (unsigned long long)dying, nz * (fanout + 1));

	s = kt_open_or_die(&r);
	s->struct_ops.ops_a->flags = 0;
	kt_load_or_die(&r, s);
	if (kt_slot(s, first_id, 1) || kt_slot(s, last_id, 2))
		kt_die(&r, "filling the slots map: %s", strerror(errno));
	/* c1's own policy: the walk from t13 leaves c1's subtree to it. */
	own_link = kt_attach_ops(s->maps.ops_b, own, &err);
	if (!own_link)
		kt_die(&r, "attaching ops_b to %s: %s", own, strerror(-err));

	w = kt5__open_and_load();
	if (!w)
		kt_die(&r, "loading the kt5 BPF object: %s", strerror(errno));
	w->bss->walker_tid = (uint32_t)gettid();
	if (kt5__attach(w))
		kt_die(&r, "attaching fentry/css_next_descendant_pre: %s", strerror(errno));
	want_steps = 1 + fanout + (uint64_t)fanout * (fanout - 1) + nz + 1;
	old_steps = 1 + fanout + (uint64_t)fanout * fanout + nz * (fanout + 1) + 1;

	if (pthread_create(&tk.thread, NULL, tick, &tk))
		kt_die(&r, "pthread_create failed");

	/*
	 * Attach over the whole subtree and detach, GAP_ROUNDS times. The map's value (the ops and
	 * their trampolines) is written first, untimed: the timed part is the link's creation, i.e.
	 * reg() and its walk, and its destruction.
	 */
	err = ops_link_write_value(s->maps.ops_a);
	if (err < 0)
		kt_die(&r, "writing ops_a's value: %s", strerror(-err));
	for (unsigned int round = 1; round <= GAP_ROUNDS; round++) {
		uint64_t gap_attach, gap_detach, steps_attach, steps_detach;

		(void)walk_steps(w, &steps_seen);
		arm(&tk);
		t0 = kt_now_ns();
		link = kt_attach_ops(s->maps.ops_a, base, &err);
		attach_ns = kt_now_ns() - t0;
		steps_attach = walk_steps(w, &steps_seen);
		gap_attach = disarm(&tk);
		kt_check(&r, link != NULL, "round %u: attach over %u online memcgs: %s", round,
			 fanout + fanout * fanout + 1, link ? "ok" : strerror(-err));
		if (!link)
			goto out;
		if (round == 1) {
			run_in(&r, first);
			run_in(&r, last);
			kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1) > 0,
				 "the policy reached the first grandchild (%llu calls)",
				 (unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1));
			kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2) > 0,
				 "the policy reached the last grandchild (%llu calls)",
				 (unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2));
		}

		(void)walk_steps(w, &steps_seen);
		arm(&tk);
		t0 = kt_now_ns();
		bpf_link__destroy(link);
		detach_ns = kt_now_ns() - t0;
		steps_detach = walk_steps(w, &steps_seen);
		gap_detach = disarm(&tk);
		link = NULL;
		if (round == 1) {
			kt_reset_counters(s);
			run_in(&r, first);
			run_in(&r, last);
			kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1) == 0 && kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2) == 0,
				 "after the detach no grandchild reaches the policy (%llu, %llu calls)",
				 (unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1),
				 (unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2));
		}
		snprintf(name, sizeof(name), "round %u: attach", round);
		check_walk(&r, name, steps_attach, want_steps, old_steps);
		snprintf(name, sizeof(name), "round %u: detach", round);
		check_walk(&r, name, steps_detach, want_steps, old_steps);
		gap_round(&r, &gaps[0], round, attach_ns, gap_attach);
		gap_round(&r, &gaps[1], round, detach_ns, gap_detach);
	}
	kt_note(&r, "below t13: %u online memcgs, %u dying", fanout + fanout * fanout + 1, nz * (fanout + 1));
	gap_check(&r, &gaps[0]);
	gap_check(&r, &gaps[1]);

	/* Let the dying memcgs go; then remove the first half of the children, attach again. */
	close(mfd);
	bpf_link__destroy(own_link);
	own_link = NULL;
	t0 = kt_now_ns();
	for (unsigned int i = 0; i < fanout / 2; i++) {
		snprintf(name, sizeof(name), "c%u", i);
		cg_path(c, sizeof(c), base, name);
		if (cg_rmtree(c) < 0)
			kt_die(&r, "rmdir %s: %s", c, strerror(errno));
	}
	(void)cg_read_key(base, "cgroup.stat", "nr_dying_descendants", &dying);
	kt_note(&r, "removed %u memcgs in %.1f s; nr_dying_descendants %llu", fanout / 2 * (fanout + 1),
		(double)(kt_now_ns() - t0) / 1e9, (unsigned long long)dying);
	kt_reset_counters(s);
	t0 = kt_now_ns();
	link = kt_attach_ops(s->maps.ops_a, base, &err);
	reattach_ns = kt_now_ns() - t0;
	kt_check(&r, link != NULL, "attach again over the remaining half: %s", link ? "ok" : strerror(-err));
	if (!link)
		goto out;
	run_in(&r, last);
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2) > 0, "the policy reached the last grandchild again");
	kt_note(&r, "attach over the remaining %u memcgs: %.2f ms", fanout - fanout / 2 + (fanout - fanout / 2) * fanout + 1,
		(double)reattach_ns / 1e6);

out:
	__atomic_store_n(&tk.stop, 1, __ATOMIC_RELEASE);
	pthread_join(tk.thread, NULL);
	kt5__destroy(w);
	kt_teardown(s, base, link, own_link);
	return kt_finish(&r);
}
