/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 5: the dynamic protection hook (below_low).
 *   p (memory.max = 96M)
 *   ├── v: holds a 48 MiB working set, memory.low = 0
 *   └── h: touches 96 MiB twice, forcing reclaim in p (zram swap on)
 * Run twice on fresh cgroups: without a policy, and with a policy on v whose below_low returns 1.
 * With the policy v must keep clearly more of its working set (memory.current), the hook must have
 * been consulted for v, and v's memory.events must show no low events without the policy (elow=0).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt-common.h"

#define MiB (1024ull * 1024)

struct outcome {
	uint64_t v_before, v_after, v_low, p_max_events;
	uint64_t hook_low, hook_min;
};

static void run_phase(struct kt_report *r, const char *name, bool policy, struct outcome *o)
{
	struct kt_work hold = { .bytes = 48 * MiB, .hold = true };
	struct kt_work hog = { .bytes = 96 * MiB, .rounds = 2, .drop = false };
	char base[PATH_MAX], p[PATH_MAX], v[PATH_MAX], h[PATH_MAX];
	struct kt_result res = { 0 };
	struct bpf_link *link = NULL;
	struct kt_worker wv;
	uint64_t idp, idv, idh;
	struct kt *s;
	int err;

	kt_test_cgroup(r, name, base, sizeof(base));
	kt_sub_cgroup(r, base, "p", true, p, sizeof(p), &idp);
	kt_sub_cgroup(r, p, "v", false, v, sizeof(v), &idv);
	kt_sub_cgroup(r, p, "h", false, h, sizeof(h), &idh);
	if (cg_write(p, "memory.max", "%llu", 96 * MiB) < 0)
		kt_die(r, "setting memory.max: %s", strerror(errno));

	s = kt_open_or_die(r);
	kt_load_or_die(r, s);
	if (kt_slot(s, idv, 1) || kt_slot(s, idh, 2))
		kt_die(r, "filling the slots map: %s", strerror(errno));
	s->bss->prot_ret = 1;
	if (policy) {
		link = kt_attach_ops(s->maps.ops_prot, v, &err);
		kt_check(r, link != NULL, "attach the protecting policy to v: %s", link ? "ok" : strerror(-err));
		if (!link)
			kt_die(r, "cannot continue without the policy");
	}

	if (kt_worker_start(&wv, v, &hold) < 0 || kt_worker_wait_ready(&wv) < 0)
		kt_die(r, "starting the working-set holder in %s", v);
	(void)cg_read_u64(v, "memory.current", &o->v_before);
	if (kt_run(h, &hog, &res) < 0)
		kt_die(r, "the hog in %s failed (status %d; OOM-killed?)", h, res.status);
	(void)cg_read_u64(v, "memory.current", &o->v_after);
	(void)cg_read_key(v, "memory.events", "low", &o->v_low);
	(void)cg_read_key(p, "memory.events", "max", &o->p_max_events);
	o->hook_low = kt_cnt(s, KT_TAG_PROT, KT_HOOK_BELOW_LOW, 1);
	o->hook_min = kt_cnt(s, KT_TAG_PROT, KT_HOOK_BELOW_MIN, 1);
	kt_worker_stop(&wv, &res);

	kt_note(r, "%s: v memory.current %llu KiB before, %llu KiB after the hog; v low events %llu; p max events %llu; below_low calls for v %llu, below_min %llu",
		policy ? "with policy" : "no policy", (unsigned long long)(o->v_before / 1024),
		(unsigned long long)(o->v_after / 1024), (unsigned long long)o->v_low,
		(unsigned long long)o->p_max_events, (unsigned long long)o->hook_low,
		(unsigned long long)o->hook_min);
	kt_teardown(s, base, link);
}

int main(void)
{
	struct kt_report r = { .test = "test5-protect" };
	struct outcome none = { 0 }, prot = { 0 };

	kt_libbpf_setup();
	kt_require_memcg_ops(&r);
	kt_require_swap(&r);

	run_phase(&r, "t5-none", false, &none);
	run_phase(&r, "t5-prot", true, &prot);

	kt_check(&r, none.p_max_events > 0 && prot.p_max_events > 0, "the hog pushed p to memory.max in both runs");
	kt_check(&r, none.v_before >= 44 * MiB && prot.v_before >= 44 * MiB,
		 "v had its working set resident before the hog");
	kt_check(&r, none.v_after < none.v_before * 3 / 4,
		 "without the policy v lost part of its working set (%llu -> %llu KiB)",
		 (unsigned long long)(none.v_before / 1024), (unsigned long long)(none.v_after / 1024));
	kt_check(&r, none.v_low == 0, "without the policy v saw no low events (elow is 0)");
	kt_check(&r, prot.hook_low > 0, "below_low was consulted for v (%llu calls)", (unsigned long long)prot.hook_low);
	kt_check(&r, prot.v_after >= none.v_after + 8 * MiB && prot.v_after >= prot.v_before * 3 / 4,
		 "with the policy v kept its working set: %llu KiB vs %llu KiB without",
		 (unsigned long long)(prot.v_after / 1024), (unsigned long long)(none.v_after / 1024));
	return kt_finish(&r);
}
