/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 6: lifecycle. Repeated N times (argument, default 12), rotating through four variants:
 *   0 link attached; workers in L/x and L/y charge continuously; the workers are moved out to a
 *     parking cgroup while charging; L/x, L/y and L are removed with the link still attached; then
 *     the link is destroyed (unreg after the cgroup is gone); then the workers stop.
 *   1 as 0, but the workers are SIGKILLed while charging instead of moved.
 *   2 as 0, after the legacy map registration (reg() with link == NULL) was refused (EOPNOTSUPP).
 *   3 the link is destroyed while the workers are still charging inside L, then L is removed.
 * Each round also checks the online/offline hooks for L's children, that the memcg that went away
 * cannot be attached to (through an fd of L opened before it was removed), and that the memory of removed cgroups is not leaked by the attach.
 * At the end the kernel log must hold no WARNING, BUG, KASAN, lockdep or RCU splat (run it on the
 * debug kernel: tests/vm/run --variant debug).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <unistd.h>

#include "kt-common.h"
#include "memqosd/memcg-link.h"
#include "ops-link.h"

#define MiB (1024ull * 1024)

static bool wait_for(__u64 *counter, uint64_t want, unsigned int ms)
{
	for (unsigned int waited = 0; waited <= ms; waited += 20) {
		if (__atomic_load_n(counter, __ATOMIC_SEQ_CST) >= want)
			return true;
		kt_sleep_ms(20);
	}
	return false;
}

static int one_round(struct kt_report *r, const char *base, const char *parking, int i)
{
	struct kt_work work = { .bytes = 8 * MiB, .rounds = 0, .drop = true };
	char l[PATH_MAX], x[PATH_MAX], y[PATH_MAX], name[32];
	int variant = i % 4, err, failures = r->failures;
	struct bpf_link *link = NULL;
	bool stale;
	struct kt_worker wx, wy;
	struct kt_result res;
	uint64_t idl, idx, idy;
	bool legacy = variant == 2;
	struct kt *s, *s2;
	int tag = KT_TAG_LIFE, lfd;

	snprintf(name, sizeof(name), "l%d", i);
	kt_sub_cgroup(r, base, name, true, l, sizeof(l), &idl);

	s = kt_open_or_die(r);
	kt_load_or_die(r, s);
	lfd = open(l, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lfd < 0)
		kt_die(r, "open %s: %s", l, strerror(errno));
	if (legacy) {
		struct bpf_link *ll;

		kt_libbpf_quiet(true);
		ll = bpf_map__attach_struct_ops(s->maps.ops_legacy);
		err = ll ? 0 : -errno;
		kt_libbpf_quiet(false);
		kt_check(r, !ll && err == -EOPNOTSUPP,
			 "round %d: registering a memcg_ops without a link (legacy map update) -> EOPNOTSUPP (got %s)", i,
			 ll ? "success" : strerror(-err));
		bpf_link__destroy(ll);
	}
	link = kt_attach_ops(s->maps.ops_life, l, &err);
	if (!link) {
		kt_check(r, false, "round %d: attach ops to %s: %s", i, l, strerror(-err));
		close(lfd);
		kt__destroy(s);
		cg_rmtree(l);
		return -1;
	}

	/* Children created under the attached memcg must be reported online. */
	kt_sub_cgroup(r, l, "x", false, x, sizeof(x), &idx);
	kt_sub_cgroup(r, l, "y", false, y, sizeof(y), &idy);
	if (kt_slot(s, idx, 1) || kt_slot(s, idy, 2) || kt_slot(s, idl, 3))
		kt_die(r, "filling the slots map: %s", strerror(errno));
	if (!wait_for(&s->bss->online_any[tag], 2, 10000))
		kt_check(r, false, "round %d: online hook saw both new children (%llu)", i,
			 (unsigned long long)s->bss->online_any[tag]);

	if (kt_worker_start(&wx, x, &work) < 0 || kt_worker_start(&wy, y, &work) < 0)
		kt_die(r, "starting workers: %s", strerror(errno));
	if (kt_worker_wait_ready(&wx) < 0 || kt_worker_wait_ready(&wy) < 0)
		kt_die(r, "workers did not start");
	kt_sleep_ms(150);
	if (!wait_for(&s->bss->cnt[tag][KT_HOOK_CHARGE][1], 1, 10000))
		kt_check(r, false, "round %d: charge hook ran for L/x", i);

	if (variant == 3) {
		/* Detach while charges are in flight inside L, then remove L. */
		bpf_link__destroy(link);
		link = NULL;
		kt_sleep_ms(100);
		kt_worker_stop(&wx, &res);
		kt_worker_stop(&wy, &res);
	} else if (variant == 1) {
		kill(wx.pid, SIGKILL);
		kill(wy.pid, SIGKILL);
		kt_worker_join(&wx, NULL);
		kt_worker_join(&wy, NULL);
	} else {
		/* Move the charging workers out; their pages stay charged to the dying memcgs. */
		if (cg_move(parking, wx.pid) < 0 || cg_move(parking, wy.pid) < 0)
			kt_die(r, "moving workers to %s: %s", parking, strerror(errno));
	}

	if (cg_rmtree(l) < 0)
		kt_check(r, false, "round %d: remove %s: %s", i, l, strerror(errno));
	/* Offline is reported asynchronously after rmdir (variant 3 detached before). */
	if (variant != 3 && !wait_for(&s->bss->offline_any[tag], 2, 10000))
		kt_check(r, false, "round %d: offline hook saw both removed children (%llu)", i,
			 (unsigned long long)s->bss->offline_any[tag]);

	/* unreg after the cgroup is gone. */
	bpf_link__destroy(link);
	link = NULL;
	if (variant == 0 || variant == 2) {
		kt_sleep_ms(50);
		kt_worker_stop(&wx, &res);
		kt_worker_stop(&wy, &res);
	}

	/* The removed cgroup must not be attachable any more, not even through an fd opened before. */
	s2 = kt_open_or_die(r);
	kt_load_or_die(r, s2);
	err = ops_link_create_fd(s2->maps.ops_life, lfd, BPF_F_CGROUP_FD);
	stale = err >= 0;
	if (stale) {
		kt_check(r, false, "round %d: attaching to the removed cgroup %s (id %llu) must fail, it succeeded", i,
			 l, (unsigned long long)idl);
		close(err);
	}
	close(lfd);
	kt_note(r, "round %d (%s): charge hooks L/x %llu L/y %llu, online %llu, offline %llu; attach to removed cgroup: %s",
		i, variant == 0 ? "link, workers moved out" : variant == 1 ? "link, workers killed" :
		   variant == 2 ? "legacy refused, link, workers moved out" : "link destroyed while charging",
		(unsigned long long)s->bss->cnt[tag][KT_HOOK_CHARGE][1],
		(unsigned long long)s->bss->cnt[tag][KT_HOOK_CHARGE][2],
		(unsigned long long)s->bss->online_any[tag], (unsigned long long)s->bss->offline_any[tag],
		stale ? "succeeded (BAD)" : strerror(-err));
	kt__destroy(s2);
	kt__destroy(s);
	return r->failures == failures ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct kt_report r = { .test = "test6-lifecycle" };
	int rounds = argc > 1 ? atoi(argv[1]) : 12, bad_rounds = 0, splats;
	char base[PATH_MAX], parking[PATH_MAX];

	kt_libbpf_setup();
	kt_require_memcg_ops(&r);
	kt_note(&r, "kernel: %s", kt_kernel_is_debug() ? "debug (KASAN/lockdep detected in the log)" :
						   "NOT a debug kernel: splat detection is weaker; run with --variant debug");
	splats = kt_scan_kernel_log(&r);
	kt_check(&r, splats == 0, "kernel log clean before the test (%d suspicious lines)", splats);

	kt_test_cgroup(&r, "t6", base, sizeof(base));
	kt_sub_cgroup(&r, base, "parking", false, parking, sizeof(parking), NULL);

	for (int i = 0; i < rounds; i++) {
		if (one_round(&r, base, parking, i) < 0)
			bad_rounds++;
	}
	kt_check(&r, bad_rounds == 0, "%d rounds of attach / charge / remove cgroup / detach: %d bad", rounds,
		 bad_rounds);

	cg_rmtree(base);
	kt_sleep_ms(500);
	splats = kt_scan_kernel_log(&r);
	kt_check(&r, splats == 0, "kernel log has no WARNING/BUG/KASAN/lockdep splat (%d suspicious lines)", splats);
	return kt_finish(&r);
}
