/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 17: who may attach a memcg_ops link, and where (kernel-patches/0001). Link creation with a
 * cgroup target is checked as a change to the cgroup, with the credentials of the process creating
 * the link: the root cgroup needs CAP_SYS_ADMIN; any other cgroup CAP_BPF (or CAP_SYS_ADMIN) and
 * write+search permission on its directory; capabilities count in the initial user namespace only;
 * with nsdelegate a process in a cgroup namespace may attach only below its namespace's root. All
 * attempts use one map whose value root wrote; the other processes are forked children that hold its
 * fd, which is all that creating a struct_ops link took before (6.12 checks no capability there).
 *
 *   root:                     attaches to the root cgroup and to t17/closed (root's, mode 0755)
 *   uid 1000, only CAP_BPF:   root cgroup EPERM; t17/closed, which it can open, EACCES; t17/secret
 *                             (0700) through an fd root opened, EACCES; t17/deleg, delegated to it
 *                             (chowned), attaches; an O_PATH fd of t17/deleg and a non-cgroup fd EBADF
 *   uid 1000, no capability:  t17/deleg and the root cgroup EPERM
 *   root in a new user ns:    (every capability there, none in the initial one) t17/closed and the
 *                             root cgroup EPERM
 *   root in a cgroup ns at t17/ns (the guest mounts cgroup2 with nsdelegate): t17/closed, outside
 *                             it, ENOENT; t17/ns, its root, EPERM; t17/ns/inner attaches
 *   root:                     a removed cgroup, through an fd opened before rmdir, ENOENT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt-common.h"
#include "ops-link.h"

#define USER 1000

struct t17 {
	const struct bpf_map *map;
	const char *rootcg;		/* the root cgroup (cgroupfs mount point) */
	char closed[PATH_MAX];		/* root's, 0755 */
	char secret[PATH_MAX];		/* root's, 0700 */
	char deleg[PATH_MAX];		/* delegated to USER */
	char ns[PATH_MAX];		/* root of the cgroup namespace of one child */
	char ns_home[PATH_MAX];		/* where that child lives */
	char ns_inner[PATH_MAX];	/* a memcg inside its namespace */
	int secret_fd;			/* opened by root before any fork */
	int closed_fd;
};

/*
 * One attempt: attach through fd (or, if fd < 0, take it as the errno of an open that failed) and
 * compare with want (0 or negative errno). who names the process in the output.
 */
static void attempt(struct kt_report *r, const char *who, const struct t17 *t, int fd, int want, const char *what)
{
	int ret = fd < 0 ? fd : ops_link_try(t->map, fd);

	kt_check(r, ret == want, "[%s] %s: %s (want %s)%s", who, what,
		 ret == 0 ? "attached" : strerror(-ret), want == 0 ? "attached" : strerror(-want),
		 ret == 0 && want != 0 ? ": a refused attach succeeded" : "");
}

/* Opens path for reading and tries the attach; an open that fails counts as the attempt's result. */
static void attempt_path(struct kt_report *r, const char *who, const struct t17 *t, const char *path, int want,
			 const char *what)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	attempt(r, who, t, fd < 0 ? -errno : fd, want, what);
	if (fd >= 0)
		close(fd);
}

static int as_user_cap_bpf(const struct t17 *t, struct kt_report *r)
{
	int fd, ret = kt_become(USER, 1ull << CAP_BPF);

	if (ret < 0) {
		printf("  becoming uid %d with CAP_BPF only: %s\n", USER, strerror(-ret));
		return 100;
	}
	attempt_path(r, r->test, t, t->rootcg, -EPERM, "the root cgroup: no CAP_SYS_ADMIN");
	attempt_path(r, r->test, t, t->closed, -EACCES, "t17/closed, root's (0755: it can open it)");
	attempt(r, r->test, t, t->secret_fd, -EACCES, "t17/secret (0700) through an fd opened by root");
	attempt_path(r, r->test, t, t->deleg, 0, "t17/deleg, delegated to it");
	fd = open(t->deleg, O_PATH | O_DIRECTORY | O_CLOEXEC);
	attempt(r, r->test, t, fd < 0 ? -errno : fd, -EBADF, "an O_PATH fd of t17/deleg");
	if (fd >= 0)
		close(fd);
	fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	attempt(r, r->test, t, fd < 0 ? -errno : fd, -EBADF, "an fd that is not a cgroup (/proc/self/status)");
	if (fd >= 0)
		close(fd);
	return r->failures;
}

static int as_user_no_caps(const struct t17 *t, struct kt_report *r)
{
	int ret = kt_become(USER, 0);

	if (ret < 0) {
		printf("  becoming uid %d without capabilities: %s\n", USER, strerror(-ret));
		return 100;
	}
	attempt_path(r, r->test, t, t->deleg, -EPERM, "t17/deleg, delegated to it, but no CAP_BPF");
	attempt_path(r, r->test, t, t->rootcg, -EPERM, "the root cgroup");
	return r->failures;
}

static int in_user_ns(const struct t17 *t, struct kt_report *r)
{
	int rootfd = open(t->rootcg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (rootfd < 0 || unshare(CLONE_NEWUSER) < 0) {
		printf("  open %s / unshare(CLONE_NEWUSER): %s\n", t->rootcg, strerror(errno));
		return 100;
	}
	attempt(r, r->test, t, t->closed_fd, -EPERM, "t17/closed: capabilities only in its own user namespace");
	attempt(r, r->test, t, rootfd, -EPERM, "the root cgroup");
	close(rootfd);
	return r->failures;
}

static int in_cgroup_ns(const struct t17 *t, struct kt_report *r)
{
	int ret;

	/* Join t17/ns, make it the namespace's root, move on to ns/home and give ns/inner a memcg. */
	ret = cg_move(t->ns, getpid());
	if (ret >= 0)
		ret = unshare(CLONE_NEWCGROUP) < 0 ? -errno : 0;
	if (ret >= 0)
		ret = cg_move(t->ns_home, getpid());
	if (ret >= 0)
		ret = cg_write(t->ns, "cgroup.subtree_control", "+memory");
	if (ret < 0) {
		printf("  entering a cgroup namespace at %s: %s\n", t->ns, strerror(-ret));
		return 100;
	}
	attempt(r, r->test, t, t->closed_fd, -ENOENT, "t17/closed, outside the namespace (fd opened before)");
	attempt_path(r, r->test, t, t->ns, -EPERM, "t17/ns, the namespace's root");
	attempt_path(r, r->test, t, t->ns_inner, 0, "t17/ns/inner, inside the namespace");
	return r->failures;
}

/* Runs fn in a forked child with a report of its own; one check in r for the child's outcome. */
static void in_child(struct kt_report *r, const struct t17 *t, int (*fn)(const struct t17 *, struct kt_report *),
		     const char *name)
{
	struct kt_report cr = { .test = name };
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		kt_die(r, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(fn(t, &cr));
	if (waitpid(pid, &status, 0) < 0)
		kt_die(r, "waitpid: %s", strerror(errno));
	kt_check(r, WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: %s", name,
		 !WIFEXITED(status) ? "killed" :
		 WEXITSTATUS(status) == 0 ? "every attempt as required" :
		 WEXITSTATUS(status) >= 100 ? "setup failed" : "some attempts not as required (above)");
}

static int mounted_nsdelegate(const char *mnt)
{
	char line[1024], dir[PATH_MAX], type[64], opts[512];
	int found = 0;
	FILE *f = fopen("/proc/self/mounts", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %4095s %63s %511s", dir, type, opts) == 3 && strcmp(dir, mnt) == 0 &&
		    strcmp(type, "cgroup2") == 0)
			found = strstr(opts, "nsdelegate") != NULL;
	fclose(f);
	return found;
}

static void mk(struct kt_report *r, const char *parent, const char *name, char *buf)
{
	kt_sub_cgroup(r, parent, name, false, buf, PATH_MAX, NULL);
}

int main(void)
{
	struct kt_report r = { .test = "test17-perm" };
	static const char *const delegated[] = { "", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control" };
	char base[PATH_MAX], gone[PATH_MAX], p[PATH_MAX + 32];
	struct t17 t = { .rootcg = "/sys/fs/cgroup", .secret_fd = -1, .closed_fd = -1 };
	int fd, ret;
	struct kt *s;

	kt_libbpf_setup();
	kt_require_memcg_ops(&r);
	kt_test_cgroup(&r, "t17", base, sizeof(base));
	mk(&r, base, "closed", t.closed);
	mk(&r, base, "secret", t.secret);
	mk(&r, base, "deleg", t.deleg);
	mk(&r, base, "ns", t.ns);
	mk(&r, t.ns, "home", t.ns_home);
	mk(&r, t.ns, "inner", t.ns_inner);
	mk(&r, base, "gone", gone);
	if (chmod(t.secret, 0700) < 0)
		kt_die(&r, "chmod 0700 %s: %s", t.secret, strerror(errno));
	for (size_t i = 0; i < sizeof(delegated) / sizeof(delegated[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", t.deleg, delegated[i]);
		if (chown(p, USER, USER) < 0)
			kt_die(&r, "chown %d %s: %s", USER, p, strerror(errno));
	}

	s = kt_open_or_die(&r);
	/* ALLOW_OVERRIDE: an attachment that a failing kernel leaves on the root blocks nothing below. */
	s->struct_ops.ops_c->flags = KT_MEMCG_OPS_F_ALLOW_OVERRIDE;
	kt_load_or_die(&r, s);
	t.map = s->maps.ops_c;
	ret = ops_link_write_value(t.map);
	if (ret < 0)
		kt_die(&r, "writing the value of ops_c: %s", strerror(-ret));
	t.secret_fd = open(t.secret, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	t.closed_fd = open(t.closed, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t.secret_fd < 0 || t.closed_fd < 0)
		kt_die(&r, "opening %s and %s: %s", t.secret, t.closed, strerror(errno));

	attempt_path(&r, "root", &t, t.rootcg, 0, "the root cgroup, with CAP_SYS_ADMIN");
	attempt(&r, "root", &t, t.closed_fd, 0, "t17/closed");

	in_child(&r, &t, as_user_cap_bpf, "uid 1000, CAP_BPF only");
	in_child(&r, &t, as_user_no_caps, "uid 1000, no capability");
	in_child(&r, &t, in_user_ns, "root in a new user namespace");
	kt_check(&r, mounted_nsdelegate(t.rootcg), "%s is mounted with nsdelegate (tests/vm/lib/guest-init)", t.rootcg);
	in_child(&r, &t, in_cgroup_ns, "root in a cgroup namespace at t17/ns");

	fd = open(gone, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || rmdir(gone) < 0)
		kt_die(&r, "open and rmdir %s: %s", gone, strerror(errno));
	attempt(&r, "root", &t, fd, -ENOENT, "a removed cgroup, through an fd opened before rmdir");
	close(fd);

	close(t.secret_fd);
	close(t.closed_fd);
	kt_teardown_links(s, base, NULL, 0);
	return kt_finish(&r);
}
