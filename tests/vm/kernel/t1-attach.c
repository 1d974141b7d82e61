/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 1: memcg_ops is in the kernel's BTF; a policy attached to cgroup `a` sees the charges of `a`
 * and of its descendant `a/c`, and none of its sibling `b`. The charge hook's call count must equal
 * an independent count of page_counter_try_charge() calls on the same memcg (see kt.bpf.c), and every
 * memcg_charge_info it got must be consistent.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "kt-common.h"

#define MiB (1024ull * 1024)

int main(void)
{
	struct kt_report r = { .test = "test1-attach" };
	struct kt_work work = { .bytes = 16 * MiB, .rounds = 4, .drop = true };
	char base[PATH_MAX], a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
	struct bpf_link *ref1, *ref2, *link;
	uint64_t ida, idb, idc;
	struct kt_worker wb, wc;
	struct kt_result res;
	struct kt *s;
	int has, err;

	kt_libbpf_setup();
	has = kt_kernel_has_memcg_ops();
	kt_check(&r, has == 1, "struct memcg_ops is in the kernel's BTF (/sys/kernel/btf/vmlinux): %s",
		 has == 1 ? "yes" : has == 0 ? "no" : strerror(-has));
	if (has != 1)
		return kt_finish(&r);

	kt_test_cgroup(&r, "t1", base, sizeof(base));
	kt_sub_cgroup(&r, base, "a", false, a, sizeof(a), &ida);
	kt_sub_cgroup(&r, base, "b", false, b, sizeof(b), &idb);

	s = kt_open_or_die(&r);
	kt_load_or_die(&r, s);
	if (kt_slot(s, ida, 1) || kt_slot(s, idb, 2))
		kt_die(&r, "filling the slots map: %s", strerror(errno));
	kt_attach_ref_or_die(&r, s, &ref1, &ref2);

	link = kt_attach_ops(s->maps.ops_a, a, &err);
	kt_check(&r, link != NULL, "attach ops_a to %s (id %llu) through a BPF link: %s", a,
		 (unsigned long long)ida, link ? "ok" : strerror(-err));
	if (!link)
		goto out;

	/* Phase 1: charges in `a` itself and in its sibling `b`. */
	kt_reset_counters(s);
	if (kt_run(a, &work, &res) < 0)
		kt_die(&r, "worker in %s failed (status %d)", a, res.status);
	if (kt_run(b, &work, &res) < 0)
		kt_die(&r, "worker in %s failed (status %d)", b, res.status);

	kt_note(&r, "a: hook=%llu reference=%llu (try_charge_memcg calls %llu); b: hook=%llu reference=%llu",
		(unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1),
		(unsigned long long)s->bss->ref_cnt[1], (unsigned long long)s->bss->ref_calls[1],
		(unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2),
		(unsigned long long)s->bss->ref_cnt[2]);
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1) > 0, "charge hook fired for charges in a");
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1) == s->bss->ref_cnt[1],
		 "every charge of a that missed the per-CPU stock reached the hook (hook == reference)");
	kt_check(&r, s->bss->ref_cnt[2] > 0, "b was charged (reference counter saw it)");
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2) == 0, "charge hook did not fire for sibling b");
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 0) == 0,
		 "charge hook did not fire for any other cgroup");
	kt_check(&r, kt_anomalies(s, 1) == 0,
		 "memcg_charge_info consistent on every call (nr_pages>0, reclaim_pages==0 on entry, over_limit set on every failure)");

	/* Phase 2: `a` gets a child `c`; run c and b at the same time. */
	if (cg_write(a, "cgroup.subtree_control", "+memory") < 0)
		kt_die(&r, "enabling memory in %s: %s", a, strerror(errno));
	kt_sub_cgroup(&r, a, "c", false, c, sizeof(c), &idc);
	if (kt_slot(s, idc, 3))
		kt_die(&r, "filling the slots map: %s", strerror(errno));
	kt_reset_counters(s);
	if (kt_worker_start(&wc, c, &work) < 0 || kt_worker_start(&wb, b, &work) < 0)
		kt_die(&r, "starting workers: %s", strerror(errno));
	if (kt_worker_join(&wc, &res) < 0)
		kt_die(&r, "worker in %s failed (status %d)", c, res.status);
	if (kt_worker_join(&wb, &res) < 0)
		kt_die(&r, "worker in %s failed (status %d)", b, res.status);

	kt_note(&r, "a/c: hook=%llu reference=%llu; b: hook=%llu reference=%llu",
		(unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 3),
		(unsigned long long)s->bss->ref_cnt[3],
		(unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2),
		(unsigned long long)s->bss->ref_cnt[2]);
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 3) > 0,
		 "charge hook of a's ops fired for descendant a/c");
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 3) == s->bss->ref_cnt[3],
		 "every stock-missing charge of a/c reached the hook (hook == reference)");
	kt_check(&r, s->bss->ref_cnt[2] > 0 && kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2) == 0,
		 "sibling b charged concurrently, never seen by the hook");
	kt_check(&r, kt_anomalies(s, 3) == 0, "memcg_charge_info consistent for a/c");

	/* Phase 3: after detach, nothing. */
	bpf_link__destroy(link);
	link = NULL;
	kt_reset_counters(s);
	if (kt_run(c, &work, &res) < 0)
		kt_die(&r, "worker in %s failed (status %d)", c, res.status);
	kt_check(&r, s->bss->ref_cnt[3] > 0 && kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 3) == 0,
		 "after the link is destroyed the hook no longer fires (reference=%llu hook=%llu)",
		 (unsigned long long)s->bss->ref_cnt[3],
		 (unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 3));

out:
	kt_teardown(s, base, link, ref1, ref2);
	return kt_finish(&r);
}
