/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 3: atomic policy swap through the link (BPF_LINK_UPDATE) while two workers in the
 * tenant charge continuously. The link is flipped between ops A and ops B as fast as the syscalls
 * go for a few seconds. Soundness: on cgroup v2 without limits every charge that misses the per-CPU
 * stock calls page_counter_try_charge(&memcg->memory) exactly once and then the charge hook exactly
 * once (MEMCG_OPS.md). An fentry program counts the former independently of memcg_ops. If a swap
 * ever left a window with no ops (or a freed one), hooks(A) + hooks(B) < reference; a double call
 * would make it greater. Both must be exactly equal, and both ops must have run.
 * The update keeps the link's target: link info and fdinfo still name the tenant's cgroup, with
 * the new map; an update to ops with other flags (MEMCG_OPS_F_ALLOW_OVERRIDE) is refused (EINVAL).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt-common.h"
#include "ops-link.h"

#include <bpf/bpf.h>

#define MiB (1024ull * 1024)

int main(int argc, char **argv)
{
	struct kt_report r = { .test = "test3-update" };
	struct kt_work work = { .bytes = 8 * MiB, .rounds = 0, .drop = true };
	unsigned int seconds = argc > 1 ? (unsigned int)atoi(argv[1]) : 4;
	char base[PATH_MAX], t[PATH_MAX];
	struct bpf_link *ref1, *ref2, *link;
	struct kt_worker w1, w2;
	struct kt_result res1 = { 0 }, res2 = { 0 };
	uint64_t idt, end, ha, hb, ref, swaps = 0, swap_fail = 0;
	int first_err = 0, err;
	struct kt *s;

	kt_libbpf_setup();
	kt_require_memcg_ops(&r);
	kt_test_cgroup(&r, "t3", base, sizeof(base));
	kt_sub_cgroup(&r, base, "t", false, t, sizeof(t), &idt);

	s = kt_open_or_die(&r);
	s->struct_ops.ops_c->flags = KT_MEMCG_OPS_F_ALLOW_OVERRIDE;
	kt_load_or_die(&r, s);
	if (kt_slot(s, idt, 1))
		kt_die(&r, "filling the slots map: %s", strerror(errno));
	kt_attach_ref_or_die(&r, s, &ref1, &ref2);

	link = kt_attach_ops(s->maps.ops_a, t, &err);
	kt_check(&r, link != NULL, "attach A to %s: %s", t, link ? "ok" : strerror(-err));
	if (!link)
		goto out;

	kt_reset_counters(s);
	if (kt_worker_start(&w1, t, &work) < 0 || kt_worker_start(&w2, t, &work) < 0)
		kt_die(&r, "starting workers: %s", strerror(errno));
	if (kt_worker_wait_ready(&w1) < 0 || kt_worker_wait_ready(&w2) < 0)
		kt_die(&r, "workers did not start");
	kt_sleep_ms(200);

	end = kt_now_ns() + (uint64_t)seconds * 1000000000ull;
	while (kt_now_ns() < end) {
		struct bpf_map *next = swaps % 2 == 0 ? s->maps.ops_b : s->maps.ops_a;

		err = ops_link_update(bpf_link__fd(link), next);
		if (err) {
			swap_fail++;
			if (!first_err)
				first_err = err;
		}
		swaps++;
	}
	/* End on B, then let the workers run a little longer under it. */
	if (swaps % 2 == 0) {
		err = ops_link_update(bpf_link__fd(link), s->maps.ops_b);
		swaps++;
		if (err) {
			swap_fail++;
			if (!first_err)
				first_err = err;
		}
	}
	kt_sleep_ms(200);
	kt_worker_stop(&w1, &res1);
	kt_worker_stop(&w2, &res2);
	kt_check(&r, res1.status == 0 && res2.status == 0, "workers ran (%llu + %llu pages charged)",
		 (unsigned long long)res1.pages, (unsigned long long)res2.pages);

	ha = kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1);
	hb = kt_cnt(s, KT_TAG_B, KT_HOOK_CHARGE, 1);
	ref = s->bss->ref_cnt[1];
	kt_note(&r, "%llu swaps in %u s; hooks A=%llu B=%llu sum=%llu; reference=%llu", (unsigned long long)swaps,
		seconds, (unsigned long long)ha, (unsigned long long)hb, (unsigned long long)(ha + hb),
		(unsigned long long)ref);
	kt_check(&r, swap_fail == 0, "every link update succeeded (%llu failed, first: %s)",
		 (unsigned long long)swap_fail, first_err ? strerror(-first_err) : "none");
	kt_check(&r, swaps >= 20, "the link was swapped many times while charging (%llu)", (unsigned long long)swaps);
	kt_check(&r, ha > 0 && hb > 0, "both the old and the new ops observed charges");
	kt_check(&r, ref > 0 && ha + hb == ref,
		 "no charge went unobserved (or was observed twice) across the swaps: A+B == reference");
	kt_check(&r, kt_anomalies(s, 1) == 0, "memcg_charge_info consistent on every call");

	/* The link now runs B only. */
	kt_reset_counters(s);
	{
		struct kt_work once = { .bytes = 8 * MiB, .rounds = 2, .drop = true };
		struct kt_result res = { 0 };

		if (kt_run(t, &once, &res) < 0)
			kt_die(&r, "worker in %s failed (status %d)", t, res.status);
	}
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1) == 0 &&
			     kt_cnt(s, KT_TAG_B, KT_HOOK_CHARGE, 1) == s->bss->ref_cnt[1] && s->bss->ref_cnt[1] > 0,
		 "after the last swap only B runs (A=%llu B=%llu reference=%llu)",
		 (unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1),
		 (unsigned long long)kt_cnt(s, KT_TAG_B, KT_HOOK_CHARGE, 1), (unsigned long long)s->bss->ref_cnt[1]);

	/* The update kept the target; other flags are refused and change nothing. */
	{
		uint64_t cg = 0, fdinfo_cg = 0;
		uint32_t map_id = 0;
		int e1 = ops_link_info(bpf_link__fd(link), &cg, &map_id);
		int e2 = ops_link_fdinfo_cgroup_id(bpf_link__fd(link), &fdinfo_cg);
		struct bpf_map_info mi = { 0 };
		uint32_t len = sizeof(mi);

		if (bpf_map_get_info_by_fd(bpf_map__fd(s->maps.ops_b), &mi, &len) < 0)
			kt_die(&r, "map info of ops_b: %s", strerror(errno));
		kt_check(&r, e1 == 0 && cg == idt && map_id == mi.id,
			 "after %llu updates link info names the same cgroup %llu (got %llu, %s) and map B (%u, got %u)",
			 (unsigned long long)swaps, (unsigned long long)idt, (unsigned long long)cg,
			 e1 ? strerror(-e1) : "ok", mi.id, map_id);
		kt_check(&r, e2 == 0 && fdinfo_cg == idt, "fdinfo of the link: cgroup_id %llu (%s)",
			 (unsigned long long)fdinfo_cg, e2 ? strerror(-e2) : "ok");
		err = ops_link_update(bpf_link__fd(link), s->maps.ops_c);
		kt_check(&r, err == -EINVAL, "update to ops with other flags (ALLOW_OVERRIDE) -> EINVAL (got %s)",
			 err ? strerror(-err) : "success");
		e1 = ops_link_info(bpf_link__fd(link), &cg, &map_id);
		kt_check(&r, e1 == 0 && cg == idt && map_id == mi.id, "the refused update left the link as it was");
	}

out:
	kt_teardown(s, base, link, ref1, ref2);
	return kt_finish(&r);
}
