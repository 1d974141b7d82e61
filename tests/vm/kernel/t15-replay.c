/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 15: ->online() and ->offline() are replayed when a policy changes (issue 7, defect 4b).
 * t15 has children a (with a child a1) and b. Three policies with only these two callbacks
 * (kt6.bpf.c: X with MEMCG_OPS_F_ALLOW_OVERRIDE, Y, Z) count their calls per cgroup and check that
 * every ->online() is matched by one ->offline() and that one policy's hold on a memcg ends before
 * the next one's starts (`unpaired`). Asserted, step by step:
 *   1. attaching X to t15 calls X's ->online() once for t15, a, a1 and b (before the replay: never);
 *   2. attaching Y to a (overriding X there): X's ->offline() and Y's ->online() once for a and a1,
 *      nothing for t15 and b;
 *   3. updating Y's link to Z: Y's ->offline() and Z's ->online() once for a and a1;
 *   4. destroying that link: Z's ->offline() for a and a1, X's ->online() again for them;
 *   5. destroying X's link: X's ->offline() as often as its ->online() for all four;
 * and `unpaired` stays 0 throughout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "kt-common.h"
#include "kt6.skel.h"
#include "ops-link.h"

enum { X, Y, Z };
enum { S_T15 = 1, S_A, S_A1, S_B, S_N };

static const char *const slot_name[S_N] = { "", "t15", "a", "a1", "b" };

/*
 * Checks that tag's ->online() and ->offline() counts for every slot are what want_on / want_off
 * say (indexed by slot).
 */
static void expect(struct kt_report *r, struct kt6 *w, const char *step, int tag, const unsigned int *want_on,
		   const unsigned int *want_off)
{
	static const char tags[] = "XYZ";

	for (int s = S_T15; s < S_N; s++) {
		unsigned long long on = w->bss->on[tag][s], off = w->bss->off[tag][s];

		kt_check(r, on == want_on[s] && off == want_off[s],
			 "%s: %c's online/offline for %s: %llu/%llu (want %u/%u)", step, tags[tag], slot_name[s], on,
			 off, want_on[s], want_off[s]);
	}
}

int main(void)
{
	struct kt_report r = { .test = "test15-replay" };
	char base[PATH_MAX], a[PATH_MAX], a1[PATH_MAX], b[PATH_MAX];
	uint64_t id[S_N] = { 0 };
	struct bpf_link *lx = NULL, *ly = NULL;
	struct kt6 *w;
	int err;

	kt_libbpf_setup();
	kt_require_memcg_ops(&r);
	kt_test_cgroup(&r, "t15", base, sizeof(base));
	if (cg_id(base, &id[S_T15]) < 0)
		kt_die(&r, "stat %s: %s", base, strerror(errno));
	kt_sub_cgroup(&r, base, "a", true, a, sizeof(a), &id[S_A]);
	kt_sub_cgroup(&r, a, "a1", false, a1, sizeof(a1), &id[S_A1]);
	kt_sub_cgroup(&r, base, "b", false, b, sizeof(b), &id[S_B]);

	w = kt6__open();
	if (!w)
		kt_die(&r, "opening kt6: %s", strerror(errno));
	w->struct_ops.ops_x->flags = KT_MEMCG_OPS_F_ALLOW_OVERRIDE;
	err = kt6__load(w);
	if (err)
		kt_die(&r, "loading kt6: %s (KT_VERBOSE=1 shows the verifier log)", strerror(-err));
	for (uint32_t s = S_T15; s < S_N; s++) {
		uint64_t key = id[s];

		if (bpf_map__update_elem(w->maps.slots, &key, sizeof(key), &s, sizeof(s), BPF_ANY))
			kt_die(&r, "filling the slots map: %s", strerror(errno));
	}

	/* 1. X over the existing subtree. */
	lx = kt_attach_ops(w->maps.ops_x, base, &err);
	if (!lx)
		kt_die(&r, "attaching X to %s: %s", base, strerror(-err));
	expect(&r, w, "X attached", X, (const unsigned int[S_N]){ 0, 1, 1, 1, 1 }, (const unsigned int[S_N]){ 0 });

	/* 2. Y overrides X on a. */
	ly = kt_attach_ops(w->maps.ops_y, a, &err);
	kt_check(&r, ly != NULL, "attaching Y to a below X (ALLOW_OVERRIDE): %s", ly ? "ok" : strerror(-err));
	if (!ly)
		goto out;
	expect(&r, w, "Y attached to a", X, (const unsigned int[S_N]){ 0, 1, 1, 1, 1 },
	       (const unsigned int[S_N]){ 0, 0, 1, 1, 0 });
	expect(&r, w, "Y attached to a", Y, (const unsigned int[S_N]){ 0, 0, 1, 1, 0 }, (const unsigned int[S_N]){ 0 });

	/* 3. Y's link now runs Z. */
	err = ops_link_update(bpf_link__fd(ly), w->maps.ops_z);
	kt_check(&r, err == 0, "updating a's link from Y to Z: %s", err ? strerror(-err) : "ok");
	expect(&r, w, "a's link updated to Z", Y, (const unsigned int[S_N]){ 0, 0, 1, 1, 0 },
	       (const unsigned int[S_N]){ 0, 0, 1, 1, 0 });
	expect(&r, w, "a's link updated to Z", Z, (const unsigned int[S_N]){ 0, 0, 1, 1, 0 },
	       (const unsigned int[S_N]){ 0 });

	/* 4. a falls back to X. */
	bpf_link__destroy(ly);
	ly = NULL;
	expect(&r, w, "a's link destroyed", Z, (const unsigned int[S_N]){ 0, 0, 1, 1, 0 },
	       (const unsigned int[S_N]){ 0, 0, 1, 1, 0 });
	expect(&r, w, "a's link destroyed", X, (const unsigned int[S_N]){ 0, 1, 2, 2, 1 },
	       (const unsigned int[S_N]){ 0, 0, 1, 1, 0 });

	/* 5. X detached. */
	bpf_link__destroy(lx);
	lx = NULL;
	expect(&r, w, "X's link destroyed", X, (const unsigned int[S_N]){ 0, 1, 2, 2, 1 },
	       (const unsigned int[S_N]){ 0, 1, 2, 2, 1 });

out:
	kt_check(&r, w->bss->unpaired == 0,
		 "every online() matched by one offline(), the old policy's before the new one's (%llu unpaired)",
		 (unsigned long long)w->bss->unpaired);
	bpf_link__destroy(ly);
	bpf_link__destroy(lx);
	kt6__destroy(w);
	cg_rmtree(base);
	return kt_finish(&r);
}
