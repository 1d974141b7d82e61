/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 13: the cost of propagating a policy over a large subtree (issue 7, defect 6).
 * Builds t13 with FANOUT children of FANOUT grandchildren each (10,100 memcgs), then attaches
 * ops_a (kt.bpf.c: a charge hook only) to t13 by a link and destroys the link, timing each. A
 * ticker thread on the same CPU as the attaching thread wakes up every millisecond and records
 * the longest gap between two wake-ups during the attach and the detach: without rescheduling in
 * the walk (the series before "bound the cost of memcg_ops propagation", on this kernel without
 * CONFIG_PREEMPT) that gap is the whole walk; now the walk offers to reschedule every 256 memcgs.
 * Asserted: the policy reaches the first and the last grandchild, is gone from them after the
 * detach, attaching again after half of the subtree was removed still reaches the remaining
 * grandchildren, and for an attach or detach that took at least GAP_MIN_MS the ticker's longest
 * gap is less than half of it (fails on the old series, whose gap is the whole walk). The times
 * themselves are reported, not asserted (qemu without KVM on a shared host).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kt-common.h"
#include "ops-link.h"

#define MiB (1024ull * 1024)
#define FANOUT 100
/* An attach or detach shorter than this cannot tell a walk that reschedules from one that does not. */
#define GAP_MIN_MS 10.0

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

/* The walk rescheduled if the ticker's longest gap is not most of the operation's time. */
static void check_gap(struct kt_report *r, const char *what, uint64_t op_ns, uint64_t gap_ns)
{
	double op = (double)op_ns / 1e6, gap = (double)gap_ns / 1e6;

	if (op < GAP_MIN_MS) {
		kt_note(r, "WARNING: %s took %.2f ms (< %.0f ms): too short to tell whether the walk reschedules",
			what, op, GAP_MIN_MS);
		return;
	}
	kt_check(r, gap < op / 2, "%s: the ticker on the same CPU ran during the walk (longest gap %.2f ms of %.2f ms)",
		 what, gap, op);
}

static void run_in(struct kt_report *r, const char *cg)
{
	struct kt_work work = { .bytes = 4 * MiB, .rounds = 1, .drop = false };
	struct kt_result res;

	if (kt_run(cg, &work, &res) < 0 || res.status)
		kt_die(r, "worker in %s failed", cg);
}

int main(int argc, char **argv)
{
	struct kt_report r = { .test = "test13-propagate" };
	unsigned int fanout = argc > 1 ? (unsigned int)atoi(argv[1]) : FANOUT;
	char base[PATH_MAX], c[PATH_MAX], g[PATH_MAX], first[PATH_MAX], last[PATH_MAX], name[32];
	uint64_t first_id = 0, last_id = 0, t0, attach_ns, detach_ns, reattach_ns;
	uint64_t gap_attach, gap_detach, dying = 0;
	struct ticker tk = { 0 };
	struct bpf_link *link;
	cpu_set_t cpu0;
	struct kt *s;
	int err;

	if (fanout < 2)
		kt_die(&r, "fanout %u: at least 2", fanout);
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

	s = kt_open_or_die(&r);
	s->struct_ops.ops_a->flags = 0;
	kt_load_or_die(&r, s);
	if (kt_slot(s, first_id, 1) || kt_slot(s, last_id, 2))
		kt_die(&r, "filling the slots map: %s", strerror(errno));

	if (pthread_create(&tk.thread, NULL, tick, &tk))
		kt_die(&r, "pthread_create failed");

	/*
	 * Attach over the whole subtree. The map's value (the ops and their trampolines) is written
	 * first, untimed: the timed part is the link's creation, i.e. reg() and its walk.
	 */
	err = ops_link_write_value(s->maps.ops_a);
	if (err < 0)
		kt_die(&r, "writing ops_a's value: %s", strerror(-err));
	arm(&tk);
	t0 = kt_now_ns();
	link = kt_attach_ops(s->maps.ops_a, base, &err);
	attach_ns = kt_now_ns() - t0;
	gap_attach = disarm(&tk);
	kt_check(&r, link != NULL, "attach over %u memcgs: %s", fanout + fanout * fanout + 1,
		 link ? "ok" : strerror(-err));
	if (!link)
		goto out;
	run_in(&r, first);
	run_in(&r, last);
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1) > 0, "the policy reached the first grandchild (%llu calls)",
		 (unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1));
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2) > 0, "the policy reached the last grandchild (%llu calls)",
		 (unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2));

	/* Detach. */
	arm(&tk);
	t0 = kt_now_ns();
	bpf_link__destroy(link);
	detach_ns = kt_now_ns() - t0;
	gap_detach = disarm(&tk);
	link = NULL;
	kt_reset_counters(s);
	run_in(&r, first);
	run_in(&r, last);
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1) == 0 && kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2) == 0,
		 "after the detach no grandchild reaches the policy (%llu, %llu calls)",
		 (unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1),
		 (unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2));
	kt_note(&r, "attach over %u memcgs: %.2f ms (longest gap of a 1 ms ticker on the same CPU: %.2f ms)",
		fanout + fanout * fanout + 1, (double)attach_ns / 1e6, (double)gap_attach / 1e6);
	kt_note(&r, "detach over %u memcgs: %.2f ms (longest ticker gap: %.2f ms)", fanout + fanout * fanout + 1,
		(double)detach_ns / 1e6, (double)gap_detach / 1e6);
	check_gap(&r, "attach", attach_ns, gap_attach);
	check_gap(&r, "detach", detach_ns, gap_detach);

	/* Remove the first half of the children (with their grandchildren), attach again. */
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
	kt_teardown(s, base, link);
	return kt_finish(&r);
}
