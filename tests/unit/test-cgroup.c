/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cgroup layer (src/cgroup.c) against a temporary fake cgroup tree of plain files (mkdtemp):
 * value parsing, writes, openat2 confinement (symlinks, ".."), vanished cgroups, and the features
 * that need real cgroupfs declining cleanly on a fake tree.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "cgroup.h"
#include "util.h"
#include "test-util.h"
#include "fake-cgroup.h"

typedef struct Fixture {
	char dir[64];
	CgroupRoot *root;
} Fixture;

static int setup(void **state)
{
	Fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-cgroup-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fake_cgroup(f->dir, "web", "max\n");
	fake_cgroup(f->dir, "tenants/batch", "max\n");
	assert_int_equal(cgroup_root_open(f->dir, &f->root), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fixture *f = *state;

	cgroup_root_free(f->root);
	test_rm_rf(f->dir);
	free(f);
	return 0;
}

static int open_cg(Fixture *f, const char *rel)
{
	int fd = -EBADF;

	assert_int_equal(cgroup_open(f->root, rel, &fd), 0);
	assert_true(fd >= 0);
	return fd;
}

static void test_root_is_not_cgroupfs(void **state)
{
	Fixture *f = *state;

	assert_false(f->root->cgroupfs);
	assert_string_equal(f->root->path, f->dir);
	assert_int_equal(cgroup_root_open("/nonexistent/memqosd-root", &(CgroupRoot *) { NULL }), -ENOENT);
}

static void test_read_u64(void **state)
{
	Fixture *f = *state;
	_cleanup_close_ int fd = open_cg(f, "web");
	uint64_t v = 0;

	assert_int_equal(cgroup_read_u64(fd, "memory.current", &v), 0);
	assert_int_equal(v, 104857600);
	assert_int_equal(cgroup_read_u64(fd, "memory.high", &v), 0);
	assert_true(v == UINT64_MAX);

	/* missing file, garbage, trailing junk, negative */
	assert_int_equal(cgroup_read_u64(fd, "memory.nope", &v), -ENOENT);
	test_write_file(f->dir, "web/memory.low", "lots\n");
	assert_int_equal(cgroup_read_u64(fd, "memory.low", &v), -EINVAL);
	test_write_file(f->dir, "web/memory.low", "12 34\n");
	assert_int_equal(cgroup_read_u64(fd, "memory.low", &v), -EINVAL);
	test_write_file(f->dir, "web/memory.low", "-1\n");
	assert_int_equal(cgroup_read_u64(fd, "memory.low", &v), -EINVAL);
	test_write_file(f->dir, "web/memory.low", "maxx\n");
	assert_int_equal(cgroup_read_u64(fd, "memory.low", &v), -EINVAL);
	test_write_file(f->dir, "web/memory.low", "99999999999999999999999\n");
	assert_int_equal(cgroup_read_u64(fd, "memory.low", &v), -ERANGE);
}

/* The value parser alone: "max" or a number, surrounding whitespace only; nothing after it. */
static void test_parse_u64_strict(void **state)
{
	uint64_t v = 7;

	(void) state;
	assert_int_equal(cgroup_parse_u64("max junk", &v), -EINVAL);
	assert_int_equal(cgroup_parse_u64("max\njunk", &v), -EINVAL);
	assert_int_equal(cgroup_parse_u64("max 1", &v), -EINVAL);
	assert_int_equal(cgroup_parse_u64("1 max", &v), -EINVAL);
	assert_int_equal(cgroup_parse_u64("", &v), -EINVAL);
	assert_int_equal(cgroup_parse_u64("+1", &v), -EINVAL);
	/* UINT64_MAX as digits would read as "max": the kernel never prints it, refuse it. */
	assert_int_equal(cgroup_parse_u64("18446744073709551615", &v), -ERANGE);
	assert_int_equal(v, 7);
	assert_int_equal(cgroup_parse_u64(" max \n", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(cgroup_parse_u64("18446744073709551614\n", &v), 0);
	assert_true(v == UINT64_MAX - 1);
}

static void test_write_u64(void **state)
{
	Fixture *f = *state;
	_cleanup_close_ int fd = open_cg(f, "web");
	uint64_t v = 0;

	assert_int_equal(cgroup_write_u64(fd, "memory.high", 536870912), 0);
	assert_string_equal(fake_read(f->dir, "web/memory.high"), "536870912\n");
	assert_int_equal(cgroup_read_u64(fd, "memory.high", &v), 0);
	assert_int_equal(v, 536870912);

	/* A shorter value fully replaces a longer one; UINT64_MAX is written as "max". */
	assert_int_equal(cgroup_write_u64(fd, "memory.high", UINT64_MAX), 0);
	assert_string_equal(fake_read(f->dir, "web/memory.high"), "max\n");
	assert_int_equal(cgroup_write_u64(fd, "memory.low", 0), 0);
	assert_string_equal(fake_read(f->dir, "web/memory.low"), "0\n");

	/* memory.* files are never created by a write */
	assert_int_equal(cgroup_write_u64(fd, "memory.nope", 1), -ENOENT);
}

static void test_restore_roundtrip(void **state)
{
	Fixture *f = *state;
	_cleanup_close_ int fd = open_cg(f, "tenants/batch");
	uint64_t original = 0, v = 0;

	/* What the manager does: record as found, change, put the recorded value back. */
	test_write_file(f->dir, "tenants/batch/memory.high", "1073741824\n");
	assert_int_equal(cgroup_read_u64(fd, "memory.high", &original), 0);
	assert_int_equal(cgroup_write_u64(fd, "memory.high", 268435456), 0);
	assert_int_equal(cgroup_read_u64(fd, "memory.high", &v), 0);
	assert_int_equal(v, 268435456);
	assert_int_equal(cgroup_write_u64(fd, "memory.high", original), 0);
	assert_string_equal(fake_read(f->dir, "tenants/batch/memory.high"), "1073741824\n");
}

static void test_read_keyed(void **state)
{
	Fixture *f = *state;
	_cleanup_close_ int fd = open_cg(f, "web");
	uint64_t v = 0;

	assert_int_equal(cgroup_read_keyed(fd, "memory.stat", "file", &v), 0);
	assert_int_equal(v, 8192);
	assert_int_equal(cgroup_read_keyed(fd, "memory.stat", "anon", &v), 0);
	assert_int_equal(v, 4096);
	/* a prefix of a key is not the key */
	assert_int_equal(cgroup_read_keyed(fd, "memory.stat", "fil", &v), -ENOKEY);
	assert_int_equal(cgroup_read_keyed(fd, "memory.stat", "shmem", &v), -ENOKEY);
	assert_int_equal(cgroup_read_keyed(fd, "memory.events", "oom_kill", &v), 0);
	assert_int_equal(v, 5);
}

static void test_memory_events(void **state)
{
	Fixture *f = *state;
	_cleanup_close_ int fd = open_cg(f, "web");
	_cleanup_close_ int efd = -EBADF;
	CgroupMemoryEvents ev = {};
	bool use_inotify = false;

	assert_int_equal(cgroup_read_memory_events(fd, &ev), 0);
	assert_int_equal(ev.low, 1);
	assert_int_equal(ev.high, 22);
	assert_int_equal(ev.max, 333);
	assert_int_equal(ev.oom, 4);
	assert_int_equal(ev.oom_kill, 5);
	assert_int_equal(ev.oom_group_kill, 0);

	/* The notification fd re-reads from offset 0 and sees new contents. */
	assert_int_equal(cgroup_events_open(f->root, fd, &efd, &use_inotify), 0);
	assert_true(use_inotify); /* fake tree: no POLLPRI, inotify instead */
	test_write_file(f->dir, "web/memory.events", "low 0\nhigh 23\nmax 0\noom 0\noom_kill 0\n");
	assert_int_equal(cgroup_read_memory_events_fd(efd, &ev), 0);
	assert_int_equal(ev.high, 23);
	assert_int_equal(ev.max, 0);

	test_write_file(f->dir, "web/memory.events", "high\n");
	assert_int_equal(cgroup_read_memory_events(fd, &ev), -EINVAL);
	test_write_file(f->dir, "web/memory.events", "high x\n");
	assert_int_equal(cgroup_read_memory_events(fd, &ev), -EINVAL);
	test_write_file(f->dir, "web/memory.events", "");
	assert_int_equal(cgroup_read_memory_events(fd, &ev), -EINVAL);
}

static void test_parse_keyed_lenient(void **state)
{
	static const char *const keys[] = { "MemTotal:", "SwapFree:", "Absent:" };
	char meminfo[] = "MemTotal:       16314920 kB\nMemFree:  1 kB\njunk\nSwapFree:   0 kB\n";
	char stat[] = "anon 4096\nfile 8192\nfile_mapped 1\n";
	static const char *const skeys[] = { "file", "anon" };
	uint64_t total = 7, swap = 7, absent = 7, file = 0, anon = 0;
	uint64_t *const values[] = { &total, &swap, &absent };
	uint64_t *const svalues[] = { &file, &anon };

	(void) state;
	/* /proc/meminfo's padded "key: value kB" lines; a line without a value is skipped */
	assert_int_equal(cgroup_parse_keyed(meminfo, keys, values, ELEMENTSOF(keys), false), 2);
	assert_int_equal(total, 16314920);
	assert_int_equal(swap, 0);
	assert_int_equal(absent, 7);
	/* memory.stat: whole keys only ("file_mapped" is not "file") */
	assert_int_equal(cgroup_parse_keyed(stat, skeys, svalues, ELEMENTSOF(skeys), false), 2);
	assert_int_equal(file, 8192);
	assert_int_equal(anon, 4096);
	/* strict: the same junk line is an error */
	char bad[] = "file 1\njunk\n";
	assert_int_equal(cgroup_parse_keyed(bad, skeys, svalues, ELEMENTSOF(skeys), true), -EINVAL);
}

static void test_pressure(void **state)
{
	Fixture *f = *state;
	_cleanup_close_ int fd = open_cg(f, "web");
	CgroupPressure p = {};

	assert_int_equal(cgroup_read_pressure(fd, &p), 0);
	assert_int_equal(p.some_avg10, 123);
	assert_int_equal(p.some_avg60, 50);
	assert_int_equal(p.some_avg300, 7);
	assert_int_equal(p.some_total, 123456);
	assert_true(p.has_full);
	assert_int_equal(p.full_avg10, 5);
	assert_int_equal(p.full_total, 42);

	/* "some" alone is valid (older kernels) */
	test_write_file(f->dir, "web/memory.pressure", "some avg10=100.00 avg60=9.9 avg300=0 total=1\n");
	assert_int_equal(cgroup_read_pressure(fd, &p), 0);
	assert_int_equal(p.some_avg10, 10000);
	assert_int_equal(p.some_avg60, 990);
	assert_false(p.has_full);

	test_write_file(f->dir, "web/memory.pressure", "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
	assert_int_equal(cgroup_read_pressure(fd, &p), -EINVAL);
	test_write_file(f->dir, "web/memory.pressure", "some avg10=0.00 avg60=0.00 total=0\n");
	assert_int_equal(cgroup_read_pressure(fd, &p), -EINVAL);
	test_write_file(f->dir, "web/memory.pressure", "some avg10=abc avg60=0.00 avg300=0.00 total=0\n");
	assert_int_equal(cgroup_read_pressure(fd, &p), -EINVAL);
	test_write_file(f->dir, "web/memory.pressure", "some avg10=101.00 avg60=0.00 avg300=0.00 total=0\n");
	assert_int_equal(cgroup_read_pressure(fd, &p), -EINVAL);
}

static void test_pressure_trigger_declines_on_fake_tree(void **state)
{
	Fixture *f = *state;
	_cleanup_close_ int fd = open_cg(f, "web");
	int tfd = -EBADF;
	char before[4096];

	snprintf(before, sizeof(before), "%s", fake_read(f->dir, "web/memory.pressure"));
	assert_int_equal(cgroup_pressure_trigger_open(f->root, fd, false, 100000, 1000000, &tfd), -EOPNOTSUPP);
	assert_int_equal(tfd, -EBADF);
	/* and the fake file was not overwritten with a trigger string */
	assert_string_equal(fake_read(f->dir, "web/memory.pressure"), before);
}

static void test_open_confined(void **state)
{
	Fixture *f = *state;
	char link[512], target[512];
	int fd = -EBADF;

	assert_int_equal(cgroup_open(f->root, "tenants/missing", &fd), -ENOENT);
	assert_int_equal(cgroup_open(f->root, "web/memory.high", &fd), -ENOTDIR);
	/* ".." cannot leave the root */
	assert_int_equal(cgroup_open(f->root, "../", &fd), -EXDEV);
	assert_int_equal(cgroup_open(f->root, "tenants/../..", &fd), -EXDEV);
	/* absolute paths are not beneath anything */
	assert_int_equal(cgroup_open(f->root, "/tmp", &fd), -EXDEV);

	/* a symlink inside the root pointing outside, and one pointing inside: both refused */
	snprintf(link, sizeof(link), "%s/escape", f->dir);
	assert_int_equal(symlink("/tmp", link), 0);
	assert_int_equal(cgroup_open(f->root, "escape", &fd), -ELOOP);
	snprintf(link, sizeof(link), "%s/tenants/alias", f->dir);
	snprintf(target, sizeof(target), "%s/web", f->dir);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(cgroup_open(f->root, "tenants/alias", &fd), -ELOOP);
	snprintf(link, sizeof(link), "%s/tenants/rel", f->dir);
	assert_int_equal(symlink("../web", link), 0);
	assert_int_equal(cgroup_open(f->root, "tenants/rel", &fd), -ELOOP);
	/* a symlink in the middle of the path too */
	assert_int_equal(cgroup_open(f->root, "escape/x", &fd), -ELOOP);
	assert_int_equal(fd, -EBADF);
}

/* The openat2()-less path (old kernels, systemd's RestrictSUIDSGID= seccomp filter) gives the same answers. */
static void test_open_walk_fallback(void **state)
{
	Fixture *f = *state;
	const int flags = O_DIRECTORY | O_RDONLY;
	char link[512];
	struct stat a, b;
	int fd;

	fd = cgroup_openat_beneath_walk(f->root->fd, "tenants/batch", flags);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &a), 0);
	close(fd);
	fd = -EBADF;
	assert_int_equal(cgroup_open(f->root, "tenants/batch", &fd), 0);
	assert_int_equal(fstat(fd, &b), 0);
	close(fd);
	assert_int_equal(a.st_ino, b.st_ino);
	fd = cgroup_openat_beneath_walk(f->root->fd, "./tenants//batch/", flags);
	assert_true(fd >= 0);
	close(fd);

	assert_int_equal(cgroup_openat_beneath_walk(f->root->fd, "tenants/missing", flags), -ENOENT);
	assert_int_equal(cgroup_openat_beneath_walk(f->root->fd, "web/memory.high", flags), -ENOTDIR);
	assert_int_equal(cgroup_openat_beneath_walk(f->root->fd, "../", flags), -EXDEV);
	assert_int_equal(cgroup_openat_beneath_walk(f->root->fd, "tenants/../web", flags), -EXDEV);
	assert_int_equal(cgroup_openat_beneath_walk(f->root->fd, "/tmp", flags), -EXDEV);
	snprintf(link, sizeof(link), "%s/escape", f->dir);
	assert_int_equal(symlink("/tmp", link), 0);
	assert_int_equal(cgroup_openat_beneath_walk(f->root->fd, "escape", flags), -ELOOP);
	assert_int_equal(cgroup_openat_beneath_walk(f->root->fd, "escape/x", flags), -ELOOP);
	snprintf(link, sizeof(link), "%s/tenants/rel", f->dir);
	assert_int_equal(symlink("../web", link), 0);
	assert_int_equal(cgroup_openat_beneath_walk(f->root->fd, "tenants/rel", flags), -ELOOP);
	assert_int_equal(cgroup_openat_beneath_walk(f->root->fd, "tenants", O_RDWR), -EINVAL);
}

static void test_existing_ancestor_and_id(void **state)
{
	Fixture *f = *state;
	_cleanup_close_ int fd = -EBADF, batch = -EBADF;
	struct stat st_tenants, st;
	char p[512];
	uint64_t id = 0;

	snprintf(p, sizeof(p), "%s/tenants", f->dir);
	assert_int_equal(stat(p, &st_tenants), 0);

	assert_int_equal(cgroup_open_existing_ancestor(f->root, "tenants/a/b/c", &fd), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_ino, st_tenants.st_ino);
	close(fd);
	fd = -EBADF;

	/* nothing exists: the root itself */
	assert_int_equal(cgroup_open_existing_ancestor(f->root, "nope/deeper", &fd), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(stat(f->dir, &st_tenants), 0);
	assert_int_equal(st.st_ino, st_tenants.st_ino);

	/* the cgroup id is the directory's inode */
	batch = open_cg(f, "tenants/batch");
	snprintf(p, sizeof(p), "%s/tenants/batch", f->dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(cgroup_get_id(batch, &id), 0);
	assert_int_equal(id, st.st_ino);
}

static void test_vanished(void **state)
{
	Fixture *f = *state;
	_cleanup_close_ int fd = open_cg(f, "tenants/batch");
	char p[512];
	uint64_t v;
	int r;

	assert_int_equal(cgroup_read_u64(fd, "memory.current", &v), 0);

	/* the cgroup goes away while memqosd holds its fd */
	snprintf(p, sizeof(p), "%s/tenants/batch", f->dir);
	test_rm_rf(p);

	r = cgroup_read_u64(fd, "memory.current", &v);
	assert_int_equal(r, -ENOENT);
	assert_true(cgroup_errno_is_gone(r));
	r = cgroup_write_u64(fd, "memory.high", 1);
	assert_true(cgroup_errno_is_gone(r));
	assert_int_equal(cgroup_open(f->root, "tenants/batch", &(int) { -EBADF }), -ENOENT);
	assert_false(cgroup_errno_is_gone(-EACCES));
	assert_true(cgroup_errno_is_gone(-ENODEV));
}

static void test_format_bytes(void **state)
{
	char buf[32];

	(void) state;
	assert_string_equal(cgroup_format_bytes(UINT64_MAX, buf, sizeof(buf)), "max");
	assert_string_equal(cgroup_format_bytes(0, buf, sizeof(buf)), "0");
	assert_string_equal(cgroup_format_bytes(1536ULL << 20, buf, sizeof(buf)), "1536M");
	assert_string_equal(cgroup_format_bytes(1ULL << 30, buf, sizeof(buf)), "1G");
	assert_string_equal(cgroup_format_bytes(3ULL << 40, buf, sizeof(buf)), "3T");
	assert_string_equal(cgroup_format_bytes(4096, buf, sizeof(buf)), "4K");
	assert_string_equal(cgroup_format_bytes(123456789, buf, sizeof(buf)), "123456789");
}

static void test_discover(void **state)
{
	_cleanup_free_ char *path = NULL, *why = NULL;
	struct statfs sfs;
	int r;

	(void) state;
	/*
	 * Host-dependent by nature, so assert the contract either way: success only with a cgroup2
	 * mount, failure only with a reason. On this project's host (memory on cgroup v1) it fails and
	 * must say "v1"; in the VM guest it succeeds.
	 */
	r = cgroup_discover_memory_v2(&path, &why);
	if (r == 0) {
		assert_non_null(path);
		assert_int_equal(statfs(path, &sfs), 0);
		assert_true(sfs.f_type == CGROUP2_SUPER_MAGIC);
		print_message("memory controller on cgroup v2 at %s\n", path);
	} else {
		assert_int_equal(r, -EOPNOTSUPP);
		assert_non_null(why);
		assert_null(path);
		/* memory mounted as a v1 hierarchy (this host): the reason names v1 */
		if (statfs("/sys/fs/cgroup/memory", &sfs) == 0 && sfs.f_type == CGROUP_SUPER_MAGIC)
			assert_non_null(strstr(why, "cgroup v1"));
		print_message("no cgroup v2 memory controller here: %s\n", why);
	}
}

/*
 * cgroup_signal_uid(): every process of the uid in the cgroup and below, not others' processes, and
 * not zombies (a zombie cannot be signalled, and counting it would keep a kill from ever seeing
 * "none left").
 */
static void test_signal_uid(void **state)
{
	Fixture *f = *state;
	_cleanup_close_ int fd = open_cg(f, "tenants");
	char procs[64], path[PATH_MAX];
	pid_t live, zombie;
	int status, n_other, n_mine, n_again;

	live = fork();
	assert_true(live >= 0);
	if (live == 0)
		for (;;)
			pause();
	zombie = fork();
	assert_true(zombie >= 0);
	if (zombie == 0)
		_exit(0);
	for (int i = 0; i < 500; i++) { /* until it is a zombie */
		char st = '?', line[256];
		FILE *p;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int) zombie);
		p = fopen(path, "re");
		assert_non_null(p);
		if (fgets(line, sizeof(line), p) && strrchr(line, ')'))
			st = strrchr(line, ')')[2];
		fclose(p);
		if (st == 'Z')
			break;
		usleep(10000);
	}
	/* The live one one level down, the zombie in the cgroup itself. */
	snprintf(procs, sizeof(procs), "%d\n", (int) zombie);
	test_write_file(f->dir, "tenants/cgroup.procs", procs);
	snprintf(procs, sizeof(procs), "%d\n", (int) live);
	test_write_file(f->dir, "tenants/batch/cgroup.procs", procs);

	n_other = cgroup_signal_uid(fd, (uint32_t) getuid() + 1, SIGKILL); /* another uid */
	n_again = cgroup_signal_uid(fd, (uint32_t) getuid(), 0);           /* the same fd walked again */
	n_mine = cgroup_signal_uid(fd, (uint32_t) getuid(), SIGKILL);      /* the live one, one level down */
	(void) kill(live, SIGKILL);                                        /* no orphan if it failed */
	assert_int_equal(n_other, 0);
	assert_int_equal(n_again, 1);
	assert_int_equal(n_mine, 1);
	assert_int_equal(waitpid(live, &status, 0), live);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(waitpid(zombie, &status, 0), zombie);
	/* Both gone now: nothing to signal. */
	assert_int_equal(cgroup_signal_uid(fd, (uint32_t) getuid(), SIGKILL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_root_is_not_cgroupfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_u64, setup, teardown),
		cmocka_unit_test(test_parse_u64_strict),
		cmocka_unit_test_setup_teardown(test_write_u64, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_keyed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_events, setup, teardown),
		cmocka_unit_test(test_parse_keyed_lenient),
		cmocka_unit_test_setup_teardown(test_pressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pressure_trigger_declines_on_fake_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_confined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_walk_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_ancestor_and_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished, setup, teardown),
		cmocka_unit_test(test_format_bytes),
		cmocka_unit_test_setup_teardown(test_signal_uid, setup, teardown),
		cmocka_unit_test(test_discover),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
