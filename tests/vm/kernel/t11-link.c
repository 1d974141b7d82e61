/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 11: the link attach (kernel-patches/0001, 0002). A memcg_ops is attached by a struct_ops
 * link whose target is a cgroup fd (BPF_F_CGROUP_FD):
 *   1. one map backs links to two cgroups a and b; each link's info and fdinfo name its cgroup and
 *      the map; a's and b's charges reach the map's hook, their sibling c's do not; detaching a's
 *      link leaves b's attached;
 *   2. refused: an fd that is not a cgroup (a regular file), an O_PATH fd of a cgroup, a cgroup
 *      without the memory controller, a link without a target, unknown flags, a second link on a
 *      cgroup that already has one (even under ALLOW_OVERRIDE), the legacy registration without a
 *      link (EOPNOTSUPP), and a cgroup target for another struct_ops type (tcp_congestion_ops);
 *   3. a caller with CAP_BPF but another uid cannot open a cgroup directory of mode 0700, so it
 *      cannot attach to it (and its O_PATH fd is refused), while it attaches to a cgroup delegated to
 *      it (chowned: the attach needs write permission on the directory; test 17 has the whole rule).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "kt-common.h"
#include "kt3.skel.h"
#include "memqosd/memcg-link.h"
#include "ops-link.h"

#define MiB (1024ull * 1024)
#define NOBODY 65534

static void run_or_die(struct kt_report *r, const char *cg)
{
	struct kt_work work = { .bytes = 8 * MiB, .rounds = 2, .drop = true };
	struct kt_result res;

	if (kt_run(cg, &work, &res) < 0)
		kt_die(r, "worker in %s failed (status %d)", cg, res.status);
}

static void check_info(struct kt_report *r, struct bpf_link *l, const char *cg, uint64_t id, uint32_t map_id)
{
	uint64_t cgid = 0, fcg = 0;
	uint32_t mid = 0;
	int e1 = ops_link_info(bpf_link__fd(l), &cgid, &mid);
	int e2 = ops_link_fdinfo_cgroup_id(bpf_link__fd(l), &fcg);

	kt_check(r, e1 == 0 && cgid == id && mid == map_id,
		 "link info of the link to %s: struct_ops.cgroup_id %llu (want %llu), map_id %u (want %u)%s%s", cg,
		 (unsigned long long)cgid, (unsigned long long)id, mid, map_id, e1 ? ": " : "", e1 ? strerror(-e1) : "");
	kt_check(r, e2 == 0 && fcg == id, "fdinfo of the link to %s: cgroup_id %llu (want %llu)%s%s", cg,
		 (unsigned long long)fcg, (unsigned long long)id, e2 ? ": " : "", e2 ? strerror(-e2) : "");
}

/* Expect the attach of map with target fd and flags to fail with want (negative errno). */
static void refused(struct kt_report *r, const struct bpf_map *map, int fd, uint32_t flags, int want, const char *what)
{
	int ret = ops_link_create_fd(map, fd, flags);

	kt_check(r, ret == want, "%s -> %s (got %s)", what, strerror(-want), ret >= 0 ? "success" : strerror(-ret));
	if (ret >= 0)
		close(ret);
}

/* Child: drop to uid/gid NOBODY keeping only CAP_BPF, then try the attaches. Exit status = failures. */
static int unprivileged(const struct bpf_map *map, const char *closed_cg, const char *open_cg)
{
	int fails = 0, fd, ret;

	ret = kt_become(NOBODY, 1ull << CAP_BPF);
	if (ret < 0) {
		printf("  child: becoming uid %d with CAP_BPF only: %s\n", NOBODY, strerror(-ret));
		return 100;
	}

	fd = open(closed_cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	printf("  child (uid %d, CAP_BPF only): open(%s) for reading: %s\n", (int)getuid(), closed_cg,
	       fd < 0 ? strerror(errno) : "opened (BAD)");
	if (fd >= 0) {
		fails++;
		close(fd);
	}
	fd = open(closed_cg, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		printf("  child: O_PATH open of %s: %s\n", closed_cg, strerror(errno));
		fails++;
	} else {
		ret = ops_link_try(map, fd);
		printf("  child: attach through the O_PATH fd of %s: %s\n", closed_cg,
		       ret < 0 ? strerror(-ret) : "attached (BAD)");
		fails += ret != -EBADF;
		close(fd);
	}
	fd = open(open_cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		printf("  child: open(%s): %s\n", open_cg, strerror(errno));
		fails++;
	} else {
		ret = ops_link_try(map, fd);
		printf("  child: attach to %s, delegated to it: %s\n", open_cg, ret < 0 ? strerror(-ret) : "attached");
		fails += ret != 0;
		close(fd);
	}
	return fails;
}

int main(void)
{
	struct kt_report r = { .test = "test11-link" };
	char base[PATH_MAX], a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], nm[PATH_MAX], u1[PATH_MAX], u2[PATH_MAX];
	struct bpf_link *la = NULL, *lb = NULL, *tmp;
	struct bpf_map_info mi = { 0 };
	uint32_t len = sizeof(mi);
	uint64_t ida, idb, idc, idn;
	struct kt3 *s3 = NULL;
	struct kt *s;
	int err, fd, status;
	pid_t pid;

	kt_libbpf_setup();
	kt_require_memcg_ops(&r);
	kt_test_cgroup(&r, "t11", base, sizeof(base));
	/*
	 * a, b and c have the memory controller (base enables it for its children) and none enables
	 * it for its own: workers run in them (cgroup v2 keeps processes out of a cgroup whose
	 * subtree_control has a controller), and b/nm has no memory controller.
	 */
	kt_sub_cgroup(&r, base, "a", false, a, sizeof(a), &ida);
	kt_sub_cgroup(&r, base, "b", false, b, sizeof(b), &idb);
	kt_sub_cgroup(&r, base, "c", false, c, sizeof(c), &idc);
	kt_sub_cgroup(&r, b, "nm", false, nm, sizeof(nm), &idn);
	kt_sub_cgroup(&r, base, "u1", false, u1, sizeof(u1), NULL);
	kt_sub_cgroup(&r, base, "u2", false, u2, sizeof(u2), NULL);

	s = kt_open_or_die(&r);
	s->struct_ops.ops_c->flags = KT_MEMCG_OPS_F_ALLOW_OVERRIDE;
	kt_load_or_die(&r, s);
	if (kt_slot(s, ida, 1) || kt_slot(s, idb, 2) || kt_slot(s, idc, 3))
		kt_die(&r, "filling the slots map: %s", strerror(errno));
	if (bpf_map_get_info_by_fd(bpf_map__fd(s->maps.ops_a), &mi, &len) < 0)
		kt_die(&r, "map info: %s", strerror(errno));

	/* 1. One map, two cgroups. */
	la = kt_attach_ops(s->maps.ops_a, a, &err);
	kt_check(&r, la != NULL, "attach map ops_a to %s by its fd: %s", a, la ? "ok" : strerror(-err));
	lb = kt_attach_ops(s->maps.ops_a, b, &err);
	kt_check(&r, lb != NULL, "attach the same map ops_a to %s too: %s", b, lb ? "ok" : strerror(-err));
	if (!la || !lb)
		goto out;
	check_info(&r, la, a, ida, mi.id);
	check_info(&r, lb, b, idb, mi.id);
	kt_reset_counters(s);
	run_or_die(&r, a);
	run_or_die(&r, b);
	run_or_die(&r, c);
	kt_note(&r, "hook of ops_a: a %llu (reference %llu), b %llu (reference %llu), c %llu (reference %llu)",
		(unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1), (unsigned long long)s->bss->ref_cnt[1],
		(unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2), (unsigned long long)s->bss->ref_cnt[2],
		(unsigned long long)kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 3), (unsigned long long)s->bss->ref_cnt[3]);
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1) > 0 && kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2) > 0,
		 "the one map's charge hook ran for both a and b");
	kt_check(&r, kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 3) == 0, "and never for their sibling c");

	/* 2. Refusals. */
	fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	refused(&r, s->maps.ops_b, fd, BPF_F_CGROUP_FD, -EBADF, "target fd that is not a cgroup (/proc/self/status)");
	close(fd);
	fd = open(c, O_PATH | O_DIRECTORY | O_CLOEXEC);
	refused(&r, s->maps.ops_b, fd, BPF_F_CGROUP_FD, -EBADF, "O_PATH fd of a cgroup");
	close(fd);
	fd = open(nm, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	refused(&r, s->maps.ops_b, fd, BPF_F_CGROUP_FD, -EINVAL, "cgroup without the memory controller (b/nm)");
	close(fd);
	fd = open(c, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	refused(&r, s->maps.ops_b, fd, 0, -EINVAL, "memcg_ops link without a target (no BPF_F_CGROUP_FD)");
	refused(&r, s->maps.ops_b, fd, BPF_F_CGROUP_FD | (1U << 8), -EINVAL, "unknown link_create flag (1 << 8)");
	close(fd);
	/* A cgroup has at most one attachment: even when its ops allows override. */
	bpf_link__destroy(la);
	la = kt_attach_ops(s->maps.ops_c, a, &err);
	kt_check(&r, la != NULL, "attach ops_c (ALLOW_OVERRIDE) to a: %s", la ? "ok" : strerror(-err));
	fd = open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	refused(&r, s->maps.ops_b, fd, BPF_F_CGROUP_FD, -EBUSY, "a second link on a (stacking is refused)");
	close(fd);
	kt_libbpf_quiet(true);
	tmp = bpf_map__attach_struct_ops(s->maps.ops_legacy);
	err = tmp ? 0 : -errno;
	kt_libbpf_quiet(false);
	kt_check(&r, !tmp && err == -EOPNOTSUPP, "registration without a link (legacy map update) -> EOPNOTSUPP (got %s)",
		 tmp ? "success" : strerror(-err));
	bpf_link__destroy(tmp);

	s3 = kt3__open_and_load();
	if (!s3) {
		kt_check(&r, false, "loading the tcp_congestion_ops of kt3.bpf.c: %s", strerror(errno));
	} else {
		/* libbpf writes the map's value with a link of its own (no target), then drops it. */
		tmp = bpf_map__attach_struct_ops(s3->maps.kt_ca);
		kt_check(&r, tmp != NULL, "tcp_congestion_ops kt_ca attached without a target: %s",
			 tmp ? "ok" : strerror(errno));
		bpf_link__destroy(tmp);
		fd = open(c, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		err = ops_link_try(s3->maps.kt_ca, fd);
		kt_check(&r, err == -EOPNOTSUPP,
			 "a cgroup target for another struct_ops type (tcp_congestion_ops) -> EOPNOTSUPP (got %s)",
			 err ? strerror(-err) : "success");
		close(fd);
	}

	/* Detaching a's link leaves b's. */
	bpf_link__destroy(la);
	la = NULL;
	kt_reset_counters(s);
	run_or_die(&r, a);
	run_or_die(&r, b);
	kt_check(&r, kt_cnt(s, KT_TAG_C, KT_HOOK_CHARGE, 1) == 0 && kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 1) == 0 &&
			     kt_cnt(s, KT_TAG_A, KT_HOOK_CHARGE, 2) > 0,
		 "after a's link is gone nothing runs for a, and b's link of the same map still runs");
	bpf_link__destroy(lb);
	lb = NULL;

	/* 3. Permission: the cgroup's directory is the check. */
	if (chmod(u1, 0700) < 0)
		kt_die(&r, "chmod 0700 %s: %s", u1, strerror(errno));
	if (chown(u2, NOBODY, NOBODY) < 0)
		kt_die(&r, "chown %d %s: %s", NOBODY, u2, strerror(errno));
	if (ops_link_write_value(s->maps.ops_b) < 0)
		kt_die(&r, "writing the value of ops_b: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		kt_die(&r, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(unprivileged(s->maps.ops_b, u1, u2));
	if (waitpid(pid, &status, 0) < 0)
		kt_die(&r, "waitpid: %s", strerror(errno));
	kt_check(&r, WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "uid %d with CAP_BPF: cannot open or attach to %s (mode 0700), its O_PATH fd is refused (EBADF), "
		 "and it attaches to %s, delegated to it (%d problems)", NOBODY, u1, u2,
		 WIFEXITED(status) ? WEXITSTATUS(status) : -1);

out:
	kt3__destroy(s3);
	kt_teardown(s, base, la, lb);
	return kt_finish(&r);
}
