/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 4: the over-memory.high throttling hook.
 * Two sibling cgroups s1 and s2, memory.high=32M each, each running the same loop over a 40 MiB
 * anonymous region (zram swap on, so the 8 MiB overage is reclaimable). Phase 1: no policy.
 * Phase 2: s1's policy returns a delay floor from high_delay; s2's policy returns 0 (keep the
 * kernel's penalty). Both phases run the two loops concurrently for the same time; throughput is
 * pages touched per second. s1 must be >= 1.5x slower than s2 under the policy and than itself
 * without it; s2 must not be slowed (>= 1/1.5 of its own baseline).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt-common.h"

#define MiB (1024ull * 1024)
#define RATIO 1.5

static void phase(struct kt_report *r, const char *s1, const char *s2, unsigned int ms, double *rate1,
		  double *rate2)
{
	struct kt_work work = { .bytes = 40 * MiB, .rounds = 0, .drop = false };
	struct kt_result res1 = { 0 }, res2 = { 0 };
	struct kt_worker w1, w2;

	if (kt_worker_start(&w1, s1, &work) < 0 || kt_worker_start(&w2, s2, &work) < 0)
		kt_die(r, "starting workers: %s", strerror(errno));
	if (kt_worker_wait_ready(&w1) < 0 || kt_worker_wait_ready(&w2) < 0)
		kt_die(r, "workers did not start");
	kt_sleep_ms(ms);
	kt_worker_stop(&w1, &res1);
	kt_worker_stop(&w2, &res2);
	if (res1.status || res2.status || !res1.ns || !res2.ns)
		kt_die(r, "worker failed (status %d, %d)", res1.status, res2.status);
	*rate1 = (double)res1.pages * 1e9 / (double)res1.ns;
	*rate2 = (double)res2.pages * 1e9 / (double)res2.ns;
}

static uint64_t high_events(const char *cg)
{
	uint64_t v = 0;

	(void)cg_read_key(cg, "memory.events", "high", &v);
	return v;
}

int main(int argc, char **argv)
{
	struct kt_report r = { .test = "test4-throttle" };
	unsigned int ms = argc > 1 ? (unsigned int)atoi(argv[1]) * 1000 : 5000;
	unsigned int floor_jiffies = argc > 2 ? (unsigned int)atoi(argv[2]) : 25;
	char base[PATH_MAX], s1[PATH_MAX], s2[PATH_MAX];
	struct bpf_link *l1 = NULL, *l2 = NULL;
	double r1b, r2b, r1p, r2p;
	uint64_t id1, id2, h1b, h2b, h1p, h2p;
	struct kt *s;
	int err;

	kt_libbpf_setup();
	kt_require_memcg_ops(&r);
	kt_require_swap(&r);
	kt_test_cgroup(&r, "t4", base, sizeof(base));
	kt_sub_cgroup(&r, base, "s1", false, s1, sizeof(s1), &id1);
	kt_sub_cgroup(&r, base, "s2", false, s2, sizeof(s2), &id2);
	if (cg_write(s1, "memory.high", "%llu", 32 * MiB) < 0 || cg_write(s2, "memory.high", "%llu", 32 * MiB) < 0)
		kt_die(&r, "setting memory.high: %s", strerror(errno));

	s = kt_open_or_die(&r);
	kt_load_or_die(&r, s);
	if (kt_slot(s, id1, 1) || kt_slot(s, id2, 2))
		kt_die(&r, "filling the slots map: %s", strerror(errno));

	/* Phase 1: no policy. */
	phase(&r, s1, s2, ms, &r1b, &r2b);
	h1b = high_events(s1);
	h2b = high_events(s2);
	kt_note(&r, "baseline: s1 %.0f pages/s, s2 %.0f pages/s (memory.events high: %llu, %llu)", r1b, r2b,
		(unsigned long long)h1b, (unsigned long long)h2b);

	/* Phase 2: s1 gets a delay floor, s2 a policy that keeps the kernel's penalty. */
	s->bss->thr_floor = floor_jiffies;
	kt_reset_counters(s);
	l1 = kt_attach_ops(s->maps.ops_thr, s1, &err);
	kt_check(&r, l1 != NULL, "attach the throttling policy (floor %u jiffies) to s1: %s", floor_jiffies,
		 l1 ? "ok" : strerror(-err));
	l2 = kt_attach_ops(s->maps.ops_life, s2, &err);
	kt_check(&r, l2 != NULL, "attach a policy returning 0 from high_delay to s2: %s", l2 ? "ok" : strerror(-err));
	if (!l1 || !l2)
		goto out;
	phase(&r, s1, s2, ms, &r1p, &r2p);
	h1p = high_events(s1) - h1b;
	h2p = high_events(s2) - h2b;
	kt_note(&r, "policy:   s1 %.0f pages/s, s2 %.0f pages/s (memory.events high: +%llu, +%llu)", r1p, r2p,
		(unsigned long long)h1p, (unsigned long long)h2p);
	kt_note(&r, "high_delay calls: s1 %llu (largest kernel penalty offered %llu jiffies), s2 %llu",
		(unsigned long long)kt_cnt(s, KT_TAG_THR, KT_HOOK_HIGH_DELAY, 1),
		(unsigned long long)s->bss->thr_max_penalty,
		(unsigned long long)kt_cnt(s, KT_TAG_LIFE, KT_HOOK_HIGH_DELAY, 2));
	kt_note(&r, "ratios: s2/s1 under policy %.2f; s1 baseline/policy %.2f; s2 policy/baseline %.2f", r2p / r1p,
		r1b / r1p, r2p / r2b);

	kt_check(&r, h1b > 0 && h2b > 0, "both cgroups went over memory.high in the baseline");
	kt_check(&r, kt_cnt(s, KT_TAG_THR, KT_HOOK_HIGH_DELAY, 1) > 0, "high_delay ran for s1");
	kt_check(&r, kt_cnt(s, KT_TAG_THR, KT_HOOK_HIGH_DELAY, 2) == 0, "s1's high_delay never ran for s2");
	kt_check(&r, kt_cnt(s, KT_TAG_LIFE, KT_HOOK_HIGH_DELAY, 2) > 0, "s2's own high_delay ran for s2");
	kt_check(&r, r2p / r1p >= RATIO, "s1 (delay floor) runs >= %.1fx slower than s2: %.2fx", RATIO, r2p / r1p);
	kt_check(&r, r1b / r1p >= RATIO, "s1 runs >= %.1fx slower than without the policy: %.2fx", RATIO, r1b / r1p);
	kt_check(&r, r2p >= r2b / RATIO, "s2 (policy returning 0) is not slowed: %.2fx of its baseline", r2p / r2b);

out:
	kt_teardown(s, base, l1, l2);
	return kt_finish(&r);
}
