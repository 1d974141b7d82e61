/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for src/state.c: the record format round-trips every value a record can hold (paths
 * with spaces at either end, '=', ';', '#', '%', newlines, every byte 1..255), the reader refuses
 * anything the writer cannot have written (Frozen= other than "yes" included), records that are not regular files do not block, and
 * an unsafe state directory (wrong owner, group/other-writable) is refused. The storm guard's
 * records (kind guard: PidsMax=, StoppedUids=, Frozen=yes) use the same format and reader; the
 * previous release's guard format still reads (legacy), exactly as its writer made it; and
 * state_record_undo() puts back what either kind says was left changed, on a fake cgroup.
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
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
	assert_int_equal(state_record_parse(text, len, STATE_RECORD_ORIGINALS, 42, &out), 0);
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
	assert_int_equal(state_record_parse(old, strlen(old), STATE_RECORD_ORIGINALS, 7, &r), 0);
	assert_string_equal(r.root, "/sys/fs/cgroup");
	assert_string_equal(r.cgroup, "tenants/web");
	assert_true(r.high == UINT64_MAX);
	assert_true(r.has_low && r.low == 0);
	state_record_done(&r);
}

static void assert_bad(const char *text)
{
	StateRecord r = {};

	if (state_record_parse(text, strlen(text), STATE_RECORD_ORIGINALS, 1, &r) != -EBADMSG) {
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
		assert_int_equal(state_record_parse(text, len, STATE_RECORD_ORIGINALS, 9, &out), 0);
		assert_int_equal(out.frozen, frozen);
		assert_string_equal(out.cgroup, "tenants/batch");
		assert_true(out.high == 536870912 && !out.has_low);
		state_record_done(&out);
	}

	/* Anywhere in the section, with or without MemoryLow=. */
	static const char mid[] = "[Cgroup]\nFrozen=yes\nRoot=/r\nPath=p\nMemoryHigh=1\nMemoryLow=2\n";
	assert_int_equal(state_record_parse(mid, strlen(mid), STATE_RECORD_ORIGINALS, 1, &out), 0);
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


/* ---- the storm guard's records ---- */

static void test_guard_round_trip(void **state)
{
	StateRecord in = { .kind = STATE_RECORD_GUARD, .id = 77, .root = (char *) "/sys/fs/cgroup",
			   .cgroup = (char *) "t s/%storm", .frozen = true, .has_pids_max = true, .pids_max = UINT64_MAX,
			   .has_cpu_max = true, .cpu_max = 50000, .stopped_uids = { 1001, 0, 4294967294u }, .n_stopped_uids = 3 }, out = {};
	_cleanup_free_ char *text = NULL;
	size_t len;

	(void) state;
	assert_int_equal(state_record_format(&in, &text, &len), 0);
	assert_non_null(strstr(text, "[Cgroup]\nRoot=/sys/fs/cgroup\nPath=t%20s/%25storm\nFrozen=yes\nPidsMax=max\n"
				     "CpuMax=50000\nStoppedUids=1001 0 4294967294\n"));
	assert_null(strstr(text, "MemoryHigh"));
	assert_int_equal(state_record_parse(text, len, STATE_RECORD_GUARD, 77, &out), 0);
	assert_int_equal(out.kind, STATE_RECORD_GUARD);
	assert_string_equal(out.cgroup, "t s/%storm");
	assert_true(out.frozen && out.has_pids_max && out.pids_max == UINT64_MAX && !out.legacy);
	assert_true(out.has_cpu_max && out.cpu_max == 50000);
	assert_int_equal(out.n_stopped_uids, 3);
	assert_true(out.stopped_uids[0] == 1001 && out.stopped_uids[1] == 0 && out.stopped_uids[2] == 4294967294u);
	state_record_done(&out);
	/* Not an originals record (no MemoryHigh=, guard keys). */
	assert_int_equal(state_record_parse(text, len, STATE_RECORD_ORIGINALS, 77, &out), -EBADMSG);

	/* Only what is in place is written: nothing but the cgroup. */
	in = (StateRecord) { .kind = STATE_RECORD_GUARD, .id = 1, .root = (char *) "/r", .cgroup = (char *) "p",
			     .has_pids_max = true, .pids_max = 20 };
	free(text);
	text = NULL;
	assert_int_equal(state_record_format(&in, &text, &len), 0);
	assert_null(strstr(text, "Frozen"));
	assert_null(strstr(text, "StoppedUids"));
	assert_null(strstr(text, "CpuMax"));
	assert_int_equal(state_record_parse(text, len, STATE_RECORD_GUARD, 1, &out), 0);
	assert_true(!out.frozen && out.pids_max == 20 && out.n_stopped_uids == 0);
	state_record_done(&out);
}

static void test_guard_format_refuses(void **state)
{
	StateRecord r = { .kind = STATE_RECORD_GUARD, .id = 1, .root = (char *) "/r", .cgroup = (char *) "p" };
	char *text = NULL;
	size_t len;

	(void) state;
	r.has_low = true;                        /* an originals key */
	assert_int_equal(state_record_format(&r, &text, &len), -EINVAL);
	r.has_low = false;
	r.stopped_uids[0] = r.stopped_uids[1] = 5; /* repeated uid */
	r.n_stopped_uids = 2;
	assert_int_equal(state_record_format(&r, &text, &len), -EINVAL);
	r.stopped_uids[1] = UINT32_MAX;          /* (uid_t) -1 */
	assert_int_equal(state_record_format(&r, &text, &len), -EINVAL);
	r.n_stopped_uids = STATE_UIDS_MAX + 1;
	assert_int_equal(state_record_format(&r, &text, &len), -EINVAL);
	r.n_stopped_uids = 0;
	r.legacy = true;                         /* never written again */
	assert_int_equal(state_record_format(&r, &text, &len), -EINVAL);
	r = (StateRecord) { .kind = STATE_RECORD_ORIGINALS, .id = 1, .root = (char *) "/r", .cgroup = (char *) "p",
			    .has_pids_max = true };  /* a guard key */
	assert_int_equal(state_record_format(&r, &text, &len), -EINVAL);
	r.has_pids_max = false;
	r.has_cpu_max = true;
	assert_int_equal(state_record_format(&r, &text, &len), -EINVAL);
	r.has_cpu_max = false;
	r.kind = _STATE_RECORD_KIND_MAX;
	r.has_pids_max = false;
	assert_int_equal(state_record_format(&r, &text, &len), -EINVAL);
	assert_null(text);
}

static void assert_bad_guard(const char *text)
{
	StateRecord r = {};

	if (state_record_parse(text, strlen(text), STATE_RECORD_GUARD, 1, &r) != -EBADMSG) {
		print_message("accepted as a guard record: %s\n", text);
		fail();
	}
	assert_null(r.root);
}

#define G "[Cgroup]\nRoot=/r\nPath=p\n"

static void test_guard_reader_strict(void **state)
{
	StateRecord r = {};
	static const char ok[] = G "StoppedUids=0 7\nPidsMax=3\n";  /* any order within the section */

	(void) state;
	assert_int_equal(state_record_parse(ok, strlen(ok), STATE_RECORD_GUARD, 1, &r), 0);
	assert_true(r.n_stopped_uids == 2 && r.pids_max == 3);
	state_record_done(&r);

	assert_bad_guard("[Cgroup]\nPath=p\nPidsMax=1\n");               /* no Root */
	assert_bad_guard(G "MemoryHigh=1\n");                            /* an originals key */
	assert_bad_guard(G "MemoryLow=1\n");
	assert_bad_guard(G "PidsMax=1\nPidsMax=1\n");                    /* repeated */
	assert_bad_guard(G "CpuMax=1\nCpuMax=1\n");
	assert_bad_guard(G "CpuMax=50000 100000\n");                      /* the quota alone */
	assert_bad_guard(G "CpuMax=\n");
	assert_bad_guard(G "PidsMax=-1\n");
	assert_bad_guard(G "PidsMax=\n");
	assert_bad_guard(G "Frozen=1\n");                                /* the legacy value */
	assert_bad_guard(G "StoppedUids=\n");                            /* never written empty */
	assert_bad_guard(G "StoppedUids=1  2\n");
	assert_bad_guard(G "StoppedUids=1 2 \n");
	assert_bad_guard(G "StoppedUids= 1\n");
	assert_bad_guard(G "StoppedUids=1,2\n");
	assert_bad_guard(G "StoppedUids=01\n");
	assert_bad_guard(G "StoppedUids=max\n");
	assert_bad_guard(G "StoppedUids=4294967295\n");                  /* (uid_t) -1 */
	assert_bad_guard(G "StoppedUids=4294967296\n");
	assert_bad_guard(G "StoppedUids=3 3\n");                         /* repeated uid */
	assert_bad_guard(G "StoppedUids=1\nStoppedUids=2\n");
	assert_bad_guard(G "PidsMax=1");                                 /* torn */
	{
		char many[STATE_UIDS_MAX * 4 + 64];
		size_t l = (size_t) snprintf(many, sizeof(many), G "StoppedUids=");

		for (int i = 0; i <= STATE_UIDS_MAX; i++)
			l += (size_t) snprintf(many + l, sizeof(many) - l, "%s%d", i ? " " : "", i);
		snprintf(many + l, sizeof(many) - l, "\n");
		assert_bad_guard(many);                                  /* more than STATE_UIDS_MAX */
	}
	/* An originals record is not a guard record, and the other way round. */
	assert_bad_guard(G "MemoryHigh=1\nFrozen=yes\n");
	assert_bad(G "MemoryHigh=1\nPidsMax=1\n");
	assert_bad(G "MemoryHigh=1\nStoppedUids=1\n");
	assert_bad(G "MemoryHigh=1\nCpuMax=max\n");
	assert_bad("[Guard]\nFrozen=1\nStoppedUids=\n");                 /* the legacy form is guard only */
}

/* What the previous release's writer produced reads the same, as a legacy record (no Root/Path). */
static void test_guard_reads_legacy(void **state)
{
	static const struct {
		const char *text;
		bool has_pids, frozen;
		uint64_t pids;
		size_t n_uids;
	} cases[] = {
		{ "[Guard]\nPidsMax=max\nFrozen=1\nStoppedUids=\n", true, true, UINT64_MAX, 0 },
		{ "[Guard]\nPidsMax=4096\nFrozen=0\nStoppedUids=1001 1002\n", true, false, 4096, 2 },
		{ "[Guard]\nFrozen=1\nStoppedUids=1002\n", false, true, 0, 1 },
		{ "[Guard]\nFrozen=0\nStoppedUids=\n", false, false, 0, 0 },
	};

	(void) state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		StateRecord r = {};

		assert_int_equal(state_record_parse(cases[i].text, strlen(cases[i].text), STATE_RECORD_GUARD, 5, &r), 0);
		assert_true(r.legacy && r.kind == STATE_RECORD_GUARD && r.id == 5);
		assert_null(r.root);
		assert_null(r.cgroup);
		assert_int_equal(r.has_pids_max, cases[i].has_pids);
		assert_true(!r.has_pids_max || r.pids_max == cases[i].pids);
		assert_int_equal(r.frozen, cases[i].frozen);
		assert_int_equal(r.n_stopped_uids, cases[i].n_uids);
		state_record_done(&r);
	}

	assert_bad_guard("[Guard]\n");                                       /* no Frozen/StoppedUids */
	assert_bad_guard("[Guard]\nFrozen=1\n");                             /* StoppedUids= always written */
	assert_bad_guard("[Guard]\nFrozen=yes\nStoppedUids=\n");
	assert_bad_guard("[Guard]\nFrozen=2\nStoppedUids=\n");
	assert_bad_guard("[Guard]\nFrozen=1\nPidsMax=1\nStoppedUids=\n");    /* PidsMax= came first */
	assert_bad_guard("[Guard]\nStoppedUids=\nFrozen=1\n");
	assert_bad_guard("[Guard]\nFrozen=1\nStoppedUids=\nFrozen=1\n");
	assert_bad_guard("[Guard]\nFrozen=1\nStoppedUids=1 x\n");
	assert_bad_guard("[Guard]\nFrozen=1\nStoppedUids=");                 /* torn */
	assert_bad_guard("[Guard]\n# comment\nFrozen=1\nStoppedUids=\n");
	assert_bad_guard("[Guard]\nRoot=/r\nFrozen=1\nStoppedUids=\n");
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
	assert_int_equal(state_record_read(dfd, STATE_RECORD_ORIGINALS, 1234, &out), 0);
	assert_string_equal(out.cgroup, "a ");
	assert_true(out.high == 99);
	state_record_done(&out);
	assert_int_equal(state_record_read(dfd, STATE_RECORD_ORIGINALS, 1235, &out), -ENOENT);

	/* A FIFO, a directory, a symlink under a record's name: corrupt, and the read returns at once. */
	snprintf(path, sizeof(path), "%s/77", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(state_record_read(dfd, STATE_RECORD_ORIGINALS, 77, &out), -EBADMSG);
	snprintf(path, sizeof(path), "%s/78", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(state_record_read(dfd, STATE_RECORD_ORIGINALS, 78, &out), -EBADMSG);
	snprintf(path, sizeof(path), "%s/79", f->dir);
	assert_int_equal(symlink("1234", path), 0);
	assert_int_equal(state_record_read(dfd, STATE_RECORD_ORIGINALS, 79, &out), -EBADMSG);
	/* Too large. */
	snprintf(path, sizeof(path), "%s/80", f->dir);
	{
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, STATE_RECORD_SIZE_MAX + 1), 0);
		assert_int_equal(close(fd), 0);
	}
	assert_int_equal(state_record_read(dfd, STATE_RECORD_ORIGINALS, 80, &out), -EBADMSG);

	/* A guard record of the same cgroup: its own file, listed apart. */
	{
		StateRecord g = { .kind = STATE_RECORD_GUARD, .id = 1234, .root = (char *) "/sys/fs/cgroup",
				  .cgroup = (char *) "a ", .frozen = true };
		_cleanup_free_ uint64_t *gids = NULL;
		size_t ng = 0;

		assert_int_equal(state_record_write(dfd, &g), 0);
		snprintf(path, sizeof(path), "%s/guard-1234", f->dir);
		assert_int_equal(access(path, F_OK), 0);
		assert_int_equal(state_record_read(dfd, STATE_RECORD_ORIGINALS, 1234, &out), 0);
		assert_true(out.high == 99 && !out.frozen);
		state_record_done(&out);
		assert_int_equal(state_record_read(dfd, STATE_RECORD_GUARD, 1234, &out), 0);
		assert_true(out.frozen);
		state_record_done(&out);
		/* Names that only look like guard records are skipped. */
		snprintf(path, sizeof(path), "%s/guard-x1", f->dir);
		assert_int_equal(mkdir(path, 0700), 0);
		snprintf(path, sizeof(path), "%s/guard-0", f->dir);
		assert_int_equal(mkdir(path, 0700), 0);
		assert_int_equal(state_list(dfd, STATE_RECORD_GUARD, &gids, &ng), 0);
		assert_int_equal(ng, 1);
		assert_true(gids[0] == 1234);
		assert_int_equal(state_record_remove(dfd, STATE_RECORD_GUARD, 1234), 0);
		assert_int_equal(state_record_read(dfd, STATE_RECORD_GUARD, 1234, &out), -ENOENT);
	}

	assert_int_equal(state_list(dfd, STATE_RECORD_ORIGINALS, &ids, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(state_record_remove(dfd, STATE_RECORD_ORIGINALS, 1234), 0);
	assert_int_equal(state_record_remove(dfd, STATE_RECORD_ORIGINALS, 1234), 0);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "we");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static void assert_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX], buf[128] = "";
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "re");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, text);
}

static char proc_state(pid_t pid)
{
	char path[64], line[256];
	char st = '?';
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	fp = fopen(path, "re");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "State: %c", &st) == 1)
			break;
	fclose(fp);
	return st;
}

/*
 * The one undo after an unclean exit, on a fake cgroup (plain files): a guard record (stopped uid,
 * pids.max, frozen) and an originals record marked Frozen=yes both come back to how they were.
 */
static void test_undo(void **state)
{
	Fixture *f = *state;
	char procs[32];
	StateRecord g = { .kind = STATE_RECORD_GUARD, .id = 1, .root = (char *) "/x", .cgroup = (char *) "y",
			  .frozen = true, .has_pids_max = true, .pids_max = UINT64_MAX, .has_cpu_max = true,
			  .cpu_max = UINT64_MAX, .stopped_uids = { (uint32_t) getuid() }, .n_stopped_uids = 1 };
	StateRecord o = { .kind = STATE_RECORD_ORIGINALS, .id = 1, .root = (char *) "/x", .cgroup = (char *) "y",
			  .high = 5, .frozen = true };
	_cleanup_close_ int cg = -EBADF;
	StateUndo u;
	pid_t child;
	int status;

	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		for (;;)
			pause();
	}
	assert_int_equal(kill(child, SIGSTOP), 0);
	for (int i = 0; i < 200 && proc_state(child) != 'T'; i++)
		usleep(10000);
	assert_int_equal(proc_state(child), 'T');

	snprintf(procs, sizeof(procs), "%d\n", (int) child);
	write_file(f->dir, "cgroup.procs", procs);
	write_file(f->dir, "pids.max", "12\n");
	write_file(f->dir, "cpu.max", "10000 100000\n");
	write_file(f->dir, "cgroup.freeze", "1\n");
	cg = open(f->dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	assert_true(cg >= 0);

	assert_int_equal(state_record_undo(cg, &g, &u), 0);
	assert_int_equal(u.uids, 1);
	assert_int_equal(u.continued, 1);
	assert_int_equal(u.pids_max, 1);
	assert_int_equal(u.cpu_max, 1);
	assert_int_equal(u.thaw, 1);
	assert_file(f->dir, "pids.max", "max\n");
	assert_file(f->dir, "cpu.max", "max\n");   /* the quota alone: the kernel keeps the period */
	assert_file(f->dir, "cgroup.freeze", "0\n");
	for (int i = 0; i < 200 && proc_state(child) == 'T'; i++)
		usleep(10000);
	assert_int_not_equal(proc_state(child), 'T');

	/* Again: nothing frozen any more, nothing stopped; pids.max written again (the same value). */
	assert_int_equal(state_record_undo(cg, &g, &u), 0);
	assert_int_equal(u.thaw, 0);

	/* The paused round's mark: only the thaw, pids.max untouched. */
	write_file(f->dir, "pids.max", "12\n");
	write_file(f->dir, "cgroup.freeze", "1\n");
	assert_int_equal(state_record_undo(cg, &o, &u), 0);
	assert_true(u.thaw == 1 && u.pids_max == 0 && u.cpu_max == 0 && u.uids == 0);
	assert_file(f->dir, "cgroup.freeze", "0\n");
	assert_file(f->dir, "pids.max", "12\n");

	/* No freezer (cgroup gone): nothing left frozen, not an error; pids.max unwritable is one. */
	write_file(f->dir, "cgroup.freeze", "1\n");
	{
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/cgroup.freeze", f->dir);
		assert_int_equal(unlink(path), 0);
		assert_int_equal(state_record_undo(cg, &o, &u), 0);
		snprintf(path, sizeof(path), "%s/pids.max", f->dir);
		assert_int_equal(unlink(path), 0);
		assert_int_equal(mkdir(path, 0700), 0);
		assert_true(state_record_undo(cg, &g, &u) < 0);
		assert_true(u.pids_max < 0);
	}

	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
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
		cmocka_unit_test(test_guard_round_trip),
		cmocka_unit_test(test_guard_format_refuses),
		cmocka_unit_test(test_guard_reader_strict),
		cmocka_unit_test(test_guard_reads_legacy),
		cmocka_unit_test_setup_teardown(test_write_read_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsafe_dir_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undo, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
