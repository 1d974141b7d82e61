/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 2: inheritance and override.
 *   parent P (ops tags: A without the override flag, C with MEMCG_OPS_F_ALLOW_OVERRIDE)
 *   ├── child X   (ops tag B tries to attach here)
 *   └── child Y   (always inherits)
 * 1. A on P: X and Y inherit A. B on X -> EBUSY; a second ops on P itself -> EBUSY.
 * 2. A replaced by C (override allowed): B on X succeeds; X's charges go to B only, Y's still to C.
 * 3. B detached: X is back on C.  4. C detached: nobody sees anything.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "kt-common.h"

#define MiB (1024ull * 1024)

static void run_or_die(struct kt_report *r, const char *cg)
{
	struct kt_work work = { .bytes = 8 * MiB, .rounds = 4, .drop = true };
	struct kt_result res = { 0 };

	if (kt_run(cg, &work, &res) < 0)
		kt_die(r, "worker in %s failed (status %d)", cg, res.status);
}

enum { SLOT_P = 1, SLOT_X = 2, SLOT_Y = 3 };

static void show(struct kt_report *r, struct kt *s, const char *what)
{
	kt_note(r, "%s: X: A=%llu B=%llu C=%llu ref=%llu | Y: A=%llu B=%llu C=%llu ref=%llu", what,
		(unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, SLOT_X),
		(unsigned long long)kt_cnt(s, KT_TAG_B, KT_HOOK_CHARGE, SLOT_X),
		(unsigned long long)kt_cnt(s, KT_TAG_C, KT_HOOK_CHARGE, SLOT_X),
		(unsigned long long)s->bss->ref_cnt[SLOT_X],
		(unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, SLOT_Y),
		(unsigned long long)kt_cnt(s, KT_TAG_B, KT_HOOK_CHARGE, SLOT_Y),
		(unsigned long long)kt_cnt(s, KT_TAG_C, KT_HOOK_CHARGE, SLOT_Y),
		(unsigned long long)s->bss->ref_cnt[SLOT_Y]);
}

int main(void)
{
	struct kt_report r = { .test = "test2-inherit" };
	char base[PATH_MAX], p[PATH_MAX], x[PATH_MAX], y[PATH_MAX];
	struct bpf_link *ref1, *ref2, *la = NULL, *lb = NULL, *lc = NULL, *tmp;
	uint64_t idp, idx, idy;
	struct kt *s;
	int err;

	kt_libbpf_setup();
	kt_require_memcg_ops(&r);
	kt_test_cgroup(&r, "t2", base, sizeof(base));
	kt_sub_cgroup(&r, base, "p", true, p, sizeof(p), &idp);
	kt_sub_cgroup(&r, p, "x", false, x, sizeof(x), &idx);
	kt_sub_cgroup(&r, p, "y", false, y, sizeof(y), &idy);

	s = kt_open_or_die(&r);
	s->struct_ops.ops_a->flags = 0;
	s->struct_ops.ops_b->flags = 0;
	s->struct_ops.ops_c->flags = KT_MEMCG_OPS_F_ALLOW_OVERRIDE;
	/* A second ops for P itself, to check that P's own slot is exclusive. */
	kt_load_or_die(&r, s);
	if (kt_slot(s, idp, SLOT_P) || kt_slot(s, idx, SLOT_X) || kt_slot(s, idy, SLOT_Y))
		kt_die(&r, "filling the slots map: %s", strerror(errno));
	kt_attach_ref_or_die(&r, s, &ref1, &ref2);

	/* 1. A on P, no override. */
	la = kt_attach_ops(s->maps.ops_a, p, &err);
	kt_check(&r, la != NULL, "attach A (flags 0) to P: %s", la ? "ok" : strerror(-err));
	if (!la)
		goto out;
	kt_libbpf_quiet(true);
	tmp = kt_attach_ops(s->maps.ops_b, x, &err);
	kt_libbpf_quiet(false);
	kt_check(&r, !tmp && err == -EBUSY, "attach B to child X while P's ops forbid override -> EBUSY (got %s)",
		 tmp ? "success" : strerror(-err));
	bpf_link__destroy(tmp);
	kt_libbpf_quiet(true);
	tmp = kt_attach_ops(s->maps.ops_thr, p, &err);
	kt_libbpf_quiet(false);
	kt_check(&r, !tmp && err == -EBUSY, "a second ops on P itself -> EBUSY (got %s)",
		 tmp ? "success" : strerror(-err));
	bpf_link__destroy(tmp);

	kt_reset_counters(s);
	run_or_die(&r, x);
	run_or_die(&r, y);
	show(&r, s, "A on P");
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, SLOT_X) == s->bss->ref_cnt[SLOT_X] &&
			     s->bss->ref_cnt[SLOT_X] > 0,
		 "X inherits A: A saw all of X's charges");
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, SLOT_Y) == s->bss->ref_cnt[SLOT_Y] &&
			     s->bss->ref_cnt[SLOT_Y] > 0,
		 "Y inherits A: A saw all of Y's charges");
	kt_check(&r, kt_cnt(s, KT_TAG_B, KT_HOOK_CHARGE, SLOT_X) == 0 &&
			     kt_cnt(s, KT_TAG_THR, KT_HOOK_CHARGE, SLOT_X) == 0,
		 "the rejected ops never ran");

	/* 2. Replace A by C (override allowed), then B on X. */
	bpf_link__destroy(la);
	la = NULL;
	lc = kt_attach_ops(s->maps.ops_c, p, &err);
	kt_check(&r, lc != NULL, "attach C (MEMCG_OPS_F_ALLOW_OVERRIDE) to P after A's link was destroyed: %s",
		 lc ? "ok" : strerror(-err));
	if (!lc)
		goto out;
	lb = kt_attach_ops(s->maps.ops_b, x, &err);
	kt_check(&r, lb != NULL, "attach B to child X under C (override allowed): %s", lb ? "ok" : strerror(-err));
	if (!lb)
		goto out;
	kt_reset_counters(s);
	run_or_die(&r, x);
	run_or_die(&r, y);
	show(&r, s, "C on P, B on X");
	kt_check(&r, kt_cnt(s, KT_TAG_B, KT_HOOK_CHARGE, SLOT_X) == s->bss->ref_cnt[SLOT_X] &&
			     s->bss->ref_cnt[SLOT_X] > 0,
		 "X's charges go to X's own ops B");
	kt_check(&r, kt_cnt(s, KT_TAG_C, KT_HOOK_CHARGE, SLOT_X) == 0 &&
			     kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, SLOT_X) == 0,
		 "parent's ops C (and the detached A) do not see X's charges");
	kt_check(&r, kt_cnt(s, KT_TAG_C, KT_HOOK_CHARGE, SLOT_Y) == s->bss->ref_cnt[SLOT_Y] &&
			     s->bss->ref_cnt[SLOT_Y] > 0 && kt_cnt(s, KT_TAG_B, KT_HOOK_CHARGE, SLOT_Y) == 0,
		 "sibling Y still inherits C, never B");

	/* 3. Detach B: X falls back to C. */
	bpf_link__destroy(lb);
	lb = NULL;
	kt_reset_counters(s);
	run_or_die(&r, x);
	show(&r, s, "B detached");
	kt_check(&r, kt_cnt(s, KT_TAG_C, KT_HOOK_CHARGE, SLOT_X) == s->bss->ref_cnt[SLOT_X] &&
			     s->bss->ref_cnt[SLOT_X] > 0 && kt_cnt(s, KT_TAG_B, KT_HOOK_CHARGE, SLOT_X) == 0,
		 "detaching X's ops restores the parent's C for X");

	/* 4. Detach C: nothing runs. */
	bpf_link__destroy(lc);
	lc = NULL;
	kt_reset_counters(s);
	run_or_die(&r, x);
	run_or_die(&r, y);
	show(&r, s, "all detached");
	kt_check(&r, s->bss->ref_cnt[SLOT_X] > 0 && s->bss->ref_cnt[SLOT_Y] > 0 &&
			     kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, SLOT_X) + kt_cnt(s, KT_TAG_B, KT_HOOK_CHARGE, SLOT_X) +
					     kt_cnt(s, KT_TAG_C, KT_HOOK_CHARGE, SLOT_X) + kt_cnt(s, KT_TAG_C, KT_HOOK_CHARGE, SLOT_Y) ==
				     0,
		 "with every link destroyed no hook runs for X or Y");

	/* 5. With C gone, B attaches to X on its own. */
	lb = kt_attach_ops(s->maps.ops_b, x, &err);
	kt_check(&r, lb != NULL, "B attaches to X when no ancestor has ops: %s", lb ? "ok" : strerror(-err));
	if (lb) {
		kt_reset_counters(s);
		run_or_die(&r, x);
		run_or_die(&r, y);
		show(&r, s, "B on X alone");
		kt_check(&r, kt_cnt(s, KT_TAG_B, KT_HOOK_CHARGE, SLOT_X) == s->bss->ref_cnt[SLOT_X] &&
				     s->bss->ref_cnt[SLOT_X] > 0 && kt_cnt(s, KT_TAG_B, KT_HOOK_CHARGE, SLOT_Y) == 0,
			 "B sees all of X's charges and none of Y's");
	}

out:
	kt_teardown(s, base, la, lb, lc, ref1, ref2);
	return kt_finish(&r);
}
