/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 9: a memcg_ops program that charges memory does not re-enter itself (issue 7, defect 5).
 * Cgroup t9 (policy ops_rec from kt2.bpf.c) and its children t9/maps and t9/work. The test loads kt2
 * while it is in t9/maps, so the maps, and every bpf_timer the program later allocates, are charged
 * there. A worker allocates in t9/work; the charge hook, for those charges, initialises one more timer: every few dozen of them the
 * allocation charges a page to t9/maps, whose per-CPU stock missed, which reaches the charge hook
 * again from inside the running program. The kernel must skip that nested call and count it in
 * /sys/kernel/mm/memcg_ops/recursion_misses; the program counts any nested run it sees.
 * On the v1 series there is no guard: the nested hook runs the program again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt-common.h"
#include "kt2-open.h"

#define MiB (1024ull * 1024)
#define MISSES "/sys/kernel/mm/memcg_ops/recursion_misses"

static int read_misses(uint64_t *v)
{
	FILE *f = fopen(MISSES, "re");
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%llu", (unsigned long long *)v) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

int main(void)
{
	struct kt_report r = { .test = "test9-recursion" };
	char base[PATH_MAX], maps[PATH_MAX], work_cg[PATH_MAX], home[PATH_MAX];
	struct kt_work work = { .bytes = 8 * MiB, .rounds = 40, .drop = true };
	struct bpf_link *ops = NULL, *f1 = NULL;
	uint64_t base_id, maps_id, work_id, m0 = 0, m1 = 0;
	struct kt_result res = { 0 };
	struct kt2__bss *b;
	struct kt2 *s;
	int err, have_misses;

	kt_libbpf_setup();
	kt_require_memcg_ops(&r);
	kt_test_cgroup(&r, "t9", base, sizeof(base));
	if (cg_id(base, &base_id) < 0)
		kt_die(&r, "stat %s: %s", base, strerror(errno));
	kt_sub_cgroup(&r, base, "maps", false, maps, sizeof(maps), &maps_id);
	kt_sub_cgroup(&r, base, "work", false, work_cg, sizeof(work_cg), &work_id);
	if (cg_own(home, sizeof(home)) < 0)
		kt_die(&r, "reading /proc/self/cgroup: %s", strerror(errno));

	s = kt2_open_for(&r, KT2_T9);
	/* Create the maps from inside t9/maps, then leave it. */
	if (cg_move(maps, getpid()) < 0)
		kt_die(&r, "joining %s: %s", maps, strerror(errno));
	err = kt2__load(s);
	if (cg_move(home, getpid()) < 0)
		kt_die(&r, "leaving %s: %s", maps, strerror(errno));
	if (err)
		kt_die(&r, "loading kt2: %s (KT_VERBOSE=1 shows the verifier log)", strerror(-err));
	b = s->bss;
	b->rec_outer_cg = work_id;
	b->rec_inner_cg = maps_id;
	f1 = bpf_program__attach(s->progs.t9_charge);
	if (!f1)
		kt_die(&r, "attaching fentry/try_charge_memcg: %s", strerror(errno));
	ops = kt_attach_ops(s->maps.ops_rec, base, &err);
	if (!ops)
		kt_die(&r, "attaching ops_rec to %s: %s", base, strerror(-err));

	have_misses = read_misses(&m0);
	b->rec_armed = 1;
	if (kt_run(work_cg, &work, &res) < 0 || res.status)
		kt_die(&r, "the allocating worker failed (status %d)", res.status);
	b->rec_armed = 0;
	if (have_misses == 0)
		have_misses = read_misses(&m1);

	kt_note(&r, "charge hook runs %llu, timers initialised %llu, charges of t9/maps from inside the hook %llu, "
		"nested runs seen by the program %llu, recursion_misses +%llu",
		(unsigned long long)b->rec_calls, (unsigned long long)b->rec_timer_inits,
		(unsigned long long)b->rec_inner_charges, (unsigned long long)b->rec_nested,
		(unsigned long long)(m1 - m0));
	kt_check(&r, have_misses == 0, "%s is readable", MISSES);
	kt_check(&r, b->rec_timer_inits > 0, "the program allocated timers from inside the charge hook");
	kt_check(&r, b->rec_inner_charges > 0, "those allocations charged t9/maps while the hook ran");
	kt_check(&r, b->rec_nested == 0, "the program never ran nested inside itself");
	kt_check(&r, m1 > m0, "the kernel counted the skipped nested calls");

	bpf_link__destroy(ops);
	bpf_link__destroy(f1);
	kt2__destroy(s);
	cg_rmtree(base);
	return kt_finish(&r);
}
