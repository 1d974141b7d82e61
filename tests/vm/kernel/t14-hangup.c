/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 14: an attachment goes away with its cgroup (issue 7, defect 4c).
 *   t14
 *   ├── a   ops A attached by link LA, then removed (rmdir)
 *   ├── w   no policy: charges here show whether the static key is on
 *   └── p   memory controller enabled for its children
 *       └── c   ops A attached by link LC, then the controller is disabled in p and enabled again
 * Asserted, for both ways a memcg goes offline: the link's poll reports nothing while the policy
 * is attached and EPOLLHUP within 10 s after; with nothing else attached the static key is off
 * (an fentry program on __memcg_ops_charge(), which the memory controller only calls while the
 * key is on, counts no call while w charges 4 MiB); updating the hung-up link fails with ENOLINK;
 * destroying it afterwards is harmless. After the controller is enabled again, c charges without
 * reaching the policy. Leak checks: with both links still open, the removed memcgs are no longer
 * pinned (nr_dying_subsys_memory of t14 returns to its value before the test within 30 s); once
 * both links are closed, nr_dying_descendants (the removed cgroup a, which its link references)
 * returns to its value before the test within 30 s.
 * On the series before "detach memcg_ops when its cgroup goes offline" the poll stays silent,
 * the key stays on and the update succeeds.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "kt-common.h"
#include "kt4.skel.h"
#include "ops-link.h"

#define MiB (1024ull * 1024)

enum { SLOT_A = 1, SLOT_C = 2, SLOT_W = 3 };

static void run_in(struct kt_report *r, const char *cg)
{
	struct kt_work work = { .bytes = 4 * MiB, .rounds = 1, .drop = false };
	struct kt_result res = { 0 };

	if (kt_run(cg, &work, &res) < 0 || res.status)
		kt_die(r, "worker in %s failed (status %d)", cg, res.status);
}

/* The link's poll events after waiting up to ms (0: do not wait). */
static short link_events(struct bpf_link *link, int ms)
{
	struct pollfd pfd = { .fd = bpf_link__fd(link), .events = POLLIN };
	int n = poll(&pfd, 1, ms);

	return n > 0 ? pfd.revents : 0;
}

/* Calls of __memcg_ops_charge() while w charges 4 MiB: 0 iff the static key is off. */
static uint64_t key_witness(struct kt_report *r, struct kt4 *w, const char *cg)
{
	__atomic_store_n(&w->bss->hook_calls, 0, __ATOMIC_SEQ_CST);
	run_in(r, cg);
	return __atomic_load_n(&w->bss->hook_calls, __ATOMIC_SEQ_CST);
}

/* The attached policy goes offline with its memcg; what the link and the kernel show then. */
static void check_hung_up(struct kt_report *r, struct kt *s, struct kt4 *w, struct bpf_link *link,
			  const char *how, const char *wcg)
{
	uint64_t t0 = kt_now_ns(), calls;
	short ev = link_events(link, 10000);
	int err;

	kt_check(r, ev & POLLHUP, "%s: the link's poll reports EPOLLHUP (events 0x%x after %.2f s)", how,
		 (unsigned int)ev, (double)(kt_now_ns() - t0) / 1e9);
	calls = key_witness(r, w, wcg);
	kt_check(r, calls == 0, "%s, nothing else attached: the static key is off (__memcg_ops_charge called %llu times)",
		 how, (unsigned long long)calls);
	err = ops_link_update(bpf_link__fd(link), s->maps.ops_b);
	kt_check(r, err == -ENOLINK, "%s: updating the hung-up link fails with ENOLINK (got %s)", how,
		 err ? strerror(-err) : "success");
}

int main(void)
{
	struct kt_report r = { .test = "test14-hangup" };
	char base[PATH_MAX], a[PATH_MAX], wcg[PATH_MAX], p[PATH_MAX], c[PATH_MAX];
	uint64_t ida, idc, idw, dying0 = 0, zombies0 = 0, v, calls;
	double secs;
	struct bpf_link *la = NULL, *lc = NULL;
	struct kt4 *w;
	struct kt *s;
	int err;

	kt_libbpf_setup();
	kt_require_memcg_ops(&r);
	kt_test_cgroup(&r, "t14", base, sizeof(base));
	kt_sub_cgroup(&r, base, "a", false, a, sizeof(a), &ida);
	kt_sub_cgroup(&r, base, "w", false, wcg, sizeof(wcg), &idw);
	kt_sub_cgroup(&r, base, "p", true, p, sizeof(p), NULL);
	kt_sub_cgroup(&r, p, "c", false, c, sizeof(c), &idc);
	if (cg_read_key(base, "cgroup.stat", "nr_dying_descendants", &dying0) < 0 ||
	    cg_read_key(base, "cgroup.stat", "nr_dying_subsys_memory", &zombies0) < 0)
		kt_die(&r, "reading %s/cgroup.stat: %s", base, strerror(errno));

	s = kt_open_or_die(&r);
	s->struct_ops.ops_a->flags = 0;
	s->struct_ops.ops_b->flags = 0;
	kt_load_or_die(&r, s);
	if (kt_slot(s, ida, SLOT_A) || kt_slot(s, idc, SLOT_C) || kt_slot(s, idw, SLOT_W))
		kt_die(&r, "filling the slots map: %s", strerror(errno));
	w = kt4__open_and_load();
	if (!w)
		kt_die(&r, "loading the kt4 BPF object: %s", strerror(errno));
	if (kt4__attach(w))
		kt_die(&r, "attaching fentry/__memcg_ops_charge: %s", strerror(errno));

	calls = key_witness(&r, w, wcg);
	kt_check(&r, calls == 0, "before any attach the static key is off (__memcg_ops_charge called %llu times)",
		 (unsigned long long)calls);

	/* 1. The cgroup is removed. */
	la = kt_attach_ops(s->maps.ops_a, a, &err);
	if (!la)
		kt_die(&r, "attaching A to %s: %s", a, strerror(-err));
	run_in(&r, a);
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, SLOT_A) > 0, "A runs for a's charges (%llu calls)",
		 (unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, SLOT_A));
	calls = key_witness(&r, w, wcg);
	kt_check(&r, calls > 0, "with A attached the static key is on (__memcg_ops_charge called %llu times for w)",
		 (unsigned long long)calls);
	kt_check(&r, !(link_events(la, 0) & POLLHUP), "while a exists the link's poll reports nothing");
	if (cg_rmtree(a) < 0)
		kt_die(&r, "rmdir %s: %s", a, strerror(errno));
	check_hung_up(&r, s, w, la, "a removed", wcg);

	/* 2. The memory controller is disabled in p, then enabled again. */
	lc = kt_attach_ops(s->maps.ops_a, c, &err);
	if (!lc)
		kt_die(&r, "attaching A to %s: %s", c, strerror(-err));
	kt_reset_counters(s);
	run_in(&r, c);
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, SLOT_C) > 0, "A runs for c's charges (%llu calls)",
		 (unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, SLOT_C));
	if (cg_write(p, "cgroup.subtree_control", "-memory") < 0)
		kt_die(&r, "disabling memory in %s: %s", p, strerror(errno));
	check_hung_up(&r, s, w, lc, "memory disabled in c's parent", wcg);
	if (cg_write(p, "cgroup.subtree_control", "+memory") < 0)
		kt_die(&r, "enabling memory in %s again: %s", p, strerror(errno));
	kt_reset_counters(s);
	run_in(&r, c);
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, SLOT_C) == 0,
		 "memory enabled again: c's new memcg starts without a policy (A called %llu times)",
		 (unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, SLOT_C));

	/* 3. The hung-up links no longer pin the memcgs; closing them releases the removed cgroup. */
	v = kt_wait_stat(&r, base, "nr_dying_subsys_memory", zombies0, 30, &secs);
	kt_check(&r, v <= zombies0, "links still open: nr_dying_subsys_memory of t14 back to %llu (now %llu, after %.1f s)",
		 (unsigned long long)zombies0, (unsigned long long)v, secs);
	bpf_link__destroy(la);
	bpf_link__destroy(lc);
	la = lc = NULL;
	v = kt_wait_stat(&r, base, "nr_dying_descendants", dying0, 30, &secs);
	kt_check(&r, v <= dying0, "links closed: nr_dying_descendants of t14 back to %llu (now %llu, after %.1f s)",
		 (unsigned long long)dying0, (unsigned long long)v, secs);
	calls = key_witness(&r, w, wcg);
	kt_check(&r, calls == 0, "at the end the static key is off (__memcg_ops_charge called %llu times)",
		 (unsigned long long)calls);

	kt4__destroy(w);
	kt_teardown(s, base, la, lc);
	return kt_finish(&r);
}
