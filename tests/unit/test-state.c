/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for src/state.c: the record format round-trips every value a record can hold (paths
 * with spaces at either end, '=', ';', '#', '%', newlines, every byte 1..255), the reader refuses
 * anything the writer cannot have written (Frozen= other than "yes" included), records that are not regular files do not block, and
 * an unsafe state directory (wrong owner, group/other-writable) is refused.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "state.h"
#include "test-util.h"
#include "util.h"

static void assert_round_trip(const char *root, const char *cgroup, uint64_t high, bool has_low, uint64_t low)
{
	StateRecord in = { .id = 42, .root = (char *) root, .cgroup = (char *) cgroup, .high = high,
			   .has_low = has_low, .low = low }, out = {};
	_cleanup_free_ char *text = NULL;
	size_t len;

	assert_int_equal(state_record_format(&in, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	assert_int_equal(state_record_parse(text, len, 42, &out), 0);
	assert_string_equal(out.root, root);
	assert_string_equal(out.cgroup, cgroup);
	assert_true(out.high == high);
	assert_int_equal(out.has_low, has_low);
	if (has_low)
		assert_true(out.low == low);
	assert_true(out.id == 42);
	state_record_done(&out);
}

static void test_round_trip_hostile(void **state)
{
	char every[256];

	(void) state;
	assert_round_trip("/sys/fs/cgroup", "tenants/web", UINT64_MAX, true, 0);
	assert_round_trip("/sys/fs/cgroup", "a ", 1, false, 0);   /* the fuzzer's "Cgroup=a /" */
	assert_round_trip("/sys/fs/cgroup ", " a", 0, true, UINT64_MAX);
	assert_round_trip("/x", "a = b ; c # d", UINT64_MAX - 1, true, 1);
	assert_round_trip("/x", "%41%%\n[Cgroup]\nMemoryHigh=1", 5, false, 0);
	assert_round_trip("/x\t\r\n", "\x7f\xff\xc3\xa9/\x01", 5, false, 0);

	for (int i = 1; i < 256; i++)
		every[i - 1] = (char) i;
	every[255] = '\0';
	assert_round_trip("/", every, 123456789, true, 987654321);
}

/* Records the earlier inih-based writer produced (plain paths) still read the same. */
static void test_reads_earlier_format(void **state)
{
	static const char old[] = "# memqosd: the values of this cgroup before memqosd changed them; removed once restored.\n"
				  "[Cgroup]\nRoot=/sys/fs/cgroup\nPath=tenants/web\nMemoryHigh=max\nMemoryLow=0\n";
	StateRecord r = {};

	(void) state;
	assert_int_equal(state_record_parse(old, strlen(old), 7, &r), 0);
	assert_string_equal(r.root, "/sys/fs/cgroup");
	assert_string_equal(r.cgroup, "tenants/web");
	assert_true(r.high == UINT64_MAX);
	assert_true(r.has_low && r.low == 0);
	state_record_done(&r);
}

static void assert_bad(const char *text)
{
	StateRecord r = {};

	if (state_record_parse(text, strlen(text), 1, &r) != -EBADMSG) {
		print_message("accepted: %s\n", text);
		fail();
	}
	assert_null(r.root);
}

static void test_reader_strict(void **state)
{
	(void) state;
	assert_bad("");
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\n");                               /* no MemoryHigh */
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=1");                   /* torn last line */
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=max junk\n");
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh= 1\n");
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=18446744073709551615\n");
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=99999999999999999999\n");
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=1\nMemoryHigh=2\n");  /* repeated */
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=1\nBogus=2\n");
	assert_bad("[Cgroup]\nRoot=/r\nPath=a b\nMemoryHigh=1\n");              /* unescaped space */
	assert_bad("[Cgroup]\nRoot=/r\nPath=a%2\nMemoryHigh=1\n");              /* short escape */
	assert_bad("[Cgroup]\nRoot=/r\nPath=a%zz\nMemoryHigh=1\n");
	assert_bad("[Cgroup]\nRoot=/r\nPath=a%00\nMemoryHigh=1\n");             /* NUL */
	assert_bad("[Cgroup]\nRoot=r\nPath=p\nMemoryHigh=1\n");                 /* relative root */
	assert_bad("[Cgroup]\nRoot=/r\nPath=\nMemoryHigh=1\n");
	assert_bad("Root=/r\nPath=p\nMemoryHigh=1\n");                          /* no section */
	assert_bad("[Other]\nRoot=/r\nPath=p\nMemoryHigh=1\n");
	assert_bad("[Cgroup]\n[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=1\n");
}

/* Frozen=yes (a paused round may be running) round-trips; a record without it reads as not frozen. */
static void test_frozen_mark(void **state)
{
	StateRecord in = { .id = 9, .root = (char *) "/sys/fs/cgroup", .cgroup = (char *) "tenants/batch",
			   .high = 536870912 }, out = {};

	(void) state;
	for (int frozen = 0; frozen <= 1; frozen++) {
		_cleanup_free_ char *text = NULL;
		size_t len;

		in.frozen = frozen;
		assert_int_equal(state_record_format(&in, &text, &len), 0);
		assert_int_equal(strstr(text, "\nFrozen=yes\n") != NULL, frozen);
		assert_int_equal(strstr(text, "Frozen") != NULL, frozen);
		assert_int_equal(state_record_parse(text, len, 9, &out), 0);
		assert_int_equal(out.frozen, frozen);
		assert_string_equal(out.cgroup, "tenants/batch");
		assert_true(out.high == 536870912 && !out.has_low);
		state_record_done(&out);
	}

	/* Anywhere in the section, with or without MemoryLow=. */
	static const char mid[] = "[Cgroup]\nFrozen=yes\nRoot=/r\nPath=p\nMemoryHigh=1\nMemoryLow=2\n";
	assert_int_equal(state_record_parse(mid, strlen(mid), 1, &out), 0);
	assert_true(out.frozen && out.has_low && out.low == 2);
	state_record_done(&out);
}

static void test_frozen_strict(void **state)
{
	(void) state;
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=1\nFrozen=no\n");    /* never written */
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=1\nFrozen=\n");
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=1\nFrozen=1\n");
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=1\nFrozen=Yes\n");
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=1\nFrozen=yes \n");
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=1\nFrozen= yes\n");
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=1\nFrozen=yess\n");
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=1\nFrozen=yes\nFrozen=yes\n"); /* repeated */
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=1\nFrozen=yes");      /* torn last line */
	assert_bad("Frozen=yes\n[Cgroup]\nRoot=/r\nPath=p\nMemoryHigh=1\n");   /* before the section */
	assert_bad("[Cgroup]\nRoot=/r\nPath=p\nFrozen=yes\n");                  /* still needs MemoryHigh */
}

typedef struct Fixture {
	char dir[64];
} Fixture;

static int setup(void **state)
{
	Fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test-state-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fixture *f = *state;

	test_rm_rf(f->dir);
	free(f);
	return 0;
}

static void test_write_read_files(void **state)
{
	Fixture *f = *state;
	StateRecord in = { .id = 1234, .root = (char *) "/sys/fs/cgroup", .cgroup = (char *) "a ", .high = 99 },
		    out = {};
	_cleanup_close_ int dfd = -EBADF;
	_cleanup_free_ uint64_t *ids = NULL;
	char path[PATH_MAX];
	size_t n = 0;

	assert_int_equal(state_dir_open(f->dir, &dfd), 0);
	assert_int_equal(state_record_write(dfd, &in), 0);
	assert_int_equal(state_record_read(dfd, 1234, &out), 0);
	assert_string_equal(out.cgroup, "a ");
	assert_true(out.high == 99);
	state_record_done(&out);
	assert_int_equal(state_record_read(dfd, 1235, &out), -ENOENT);

	/* A FIFO, a directory, a symlink under a record's name: corrupt, and the read returns at once. */
	snprintf(path, sizeof(path), "%s/77", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(state_record_read(dfd, 77, &out), -EBADMSG);
	snprintf(path, sizeof(path), "%s/78", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(state_record_read(dfd, 78, &out), -EBADMSG);
	snprintf(path, sizeof(path), "%s/79", f->dir);
	assert_int_equal(symlink("1234", path), 0);
	assert_int_equal(state_record_read(dfd, 79, &out), -EBADMSG);
	/* Too large. */
	snprintf(path, sizeof(path), "%s/80", f->dir);
	{
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, STATE_RECORD_SIZE_MAX + 1), 0);
		assert_int_equal(close(fd), 0);
	}
	assert_int_equal(state_record_read(dfd, 80, &out), -EBADMSG);

	assert_int_equal(state_list(dfd, &ids, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(state_record_remove(dfd, 1234), 0);
	assert_int_equal(state_record_remove(dfd, 1234), 0);
}

static void test_unsafe_dir_refused(void **state)
{
	Fixture *f = *state;
	char path[PATH_MAX];
	int fd = -EBADF;

	snprintf(path, sizeof(path), "%s/s", f->dir);
	assert_int_equal(state_dir_open(path, &fd), 0);  /* created 0700, ours */
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, 0770), 0);
	assert_int_equal(state_dir_open(path, &fd), -EPERM);
	assert_int_equal(chmod(path, 0702), 0);
	assert_int_equal(state_dir_open(path, &fd), -EPERM);
	assert_int_equal(chmod(path, 0755), 0);
	assert_int_equal(state_dir_open(path, &fd), 0);
	assert_int_equal(close(fd), 0);

	if (geteuid() != 0) {
		print_message("!!! owner check: needs root to chown, skipped (the mode checks above ran) !!!\n");
		return;
	}
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(state_dir_open(path, &fd), -EPERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_hostile),
		cmocka_unit_test(test_reads_earlier_format),
		cmocka_unit_test(test_reader_strict),
		cmocka_unit_test(test_frozen_mark),
		cmocka_unit_test(test_frozen_strict),
		cmocka_unit_test_setup_teardown(test_write_read_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsafe_dir_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
