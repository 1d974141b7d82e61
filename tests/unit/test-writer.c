/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The writer (src/writer.c) on a fake cgroup directory: writes land and are reported once with
 * their result; per cgroup they run in order; a newer write supersedes a queued one of the same
 * file; a write blocked (memory.high a FIFO with a full pipe: the "slow kernel" of the integration
 * tests) is interrupted after the timeout and reported as failed (-EINTR) without blocking the
 * caller; an unlinked target is never reported (a recycled tenant cannot be credited with an old
 * cgroup's write); writer_free() joins a worker stuck in a write; a paused round freezes the cgroup
 * only while it runs.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "writer.h"
#include "util.h"
#include "test-util.h"
#include "fake-cgroup.h"

typedef struct Report {
	int n;
	WriterCompletion c[16];
	void *owner[16];
} Report;

typedef struct Fixture {
	char dir[64];
	int cg_fd;
	Logger log;
	Report rep;
	Writer *w;
} Fixture;

static void on_done(WriterTarget *wt, void *owner, const WriterCompletion *c, void *userdata)
{
	Report *rep = userdata;

	(void) wt;
	assert_true(rep->n < 16);
	rep->owner[rep->n] = owner;
	rep->c[rep->n++] = *c;
}

static int setup(void **state)
{
	Fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-writer-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fake_cgroup(f->dir, "cg", "max\n");
	f->cg_fd = openat(AT_FDCWD, f->dir, O_DIRECTORY | O_CLOEXEC);
	assert_true(f->cg_fd >= 0);
	{
		int fd = openat(f->cg_fd, "cg", O_DIRECTORY | O_CLOEXEC);

		assert_true(fd >= 0);
		close(f->cg_fd);
		f->cg_fd = fd;
	}
	logger_init(&f->log, LOG_DEBUG);
	assert_int_equal(writer_new(NULL, &f->log, on_done, &f->rep, &f->w), 0);
	writer_set_timeout(f->w, 200 * USEC_PER_MSEC);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fixture *f = *state;

	writer_free(f->w);
	close(f->cg_fd);
	test_rm_rf(f->dir);
	free(f);
	return 0;
}

static void test_write_reported_once(void **state)
{
	Fixture *f = *state;
	WriterTarget *t;
	int owner;

	assert_int_equal(writer_target_new(f->w, f->cg_fd, "cg", &owner, &t), 0);
	assert_int_equal(writer_submit(t, WRITER_MEMORY_HIGH, WRITER_KIND_CHANGE, UINT64_MAX, 1ULL << 30, "test"), 0);
	assert_int_equal(writer_target_outstanding(t), 1);
	writer_drain(f->w);
	assert_int_equal(writer_target_outstanding(t), 0);
	assert_int_equal(f->rep.n, 1);
	assert_ptr_equal(f->rep.owner[0], &owner);
	assert_int_equal(f->rep.c[0].result, 0);
	assert_int_equal(f->rep.c[0].value, 1ULL << 30);
	assert_true(f->rep.c[0].old_value == UINT64_MAX);
	assert_string_equal(f->rep.c[0].reason, "test");
	assert_false(f->rep.c[0].interrupted);
	assert_string_equal(fake_read(f->dir, "cg/memory.high"), "1073741824\n");
	writer_drain(f->w);
	assert_int_equal(f->rep.n, 1);
	writer_target_unlink(t);
}

/* adopt: the writer takes the owner's fd (no second one), lends it, and closes it once unlinked and idle. */
static void test_adopt_owns_fd(void **state)
{
	Fixture *f = *state;
	WriterTarget *t;
	struct stat a, b;
	int owner, fd, lent;

	fd = fcntl(f->cg_fd, F_DUPFD_CLOEXEC, 3);
	assert_true(fd >= 0);
	assert_int_equal(writer_target_adopt(f->w, &fd, "cg", &owner, &t), 0);
	assert_int_equal(fd, -EBADF);
	lent = writer_target_fd(t);
	assert_true(lent >= 0);
	assert_int_equal(fstat(lent, &a), 0);
	assert_int_equal(fstat(f->cg_fd, &b), 0);
	assert_true(a.st_ino == b.st_ino);
	assert_int_equal(writer_submit(t, WRITER_MEMORY_HIGH, WRITER_KIND_CHANGE, UINT64_MAX, 1ULL << 20, "adopt"), 0);
	writer_drain(f->w);
	assert_int_equal(f->rep.n, 1);
	assert_string_equal(fake_read(f->dir, "cg/memory.high"), "1048576\n");
	writer_target_unlink(t);
	assert_int_equal(fcntl(lent, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
}

/* memory.reclaim goes through the same path: its own file, reported with its value and kind. */
static void test_reclaim_file(void **state)
{
	Fixture *f = *state;
	WriterTarget *t;
	int owner, fd;

	assert_string_equal(writer_file_to_string(WRITER_MEMORY_RECLAIM), "memory.reclaim");
	assert_null(writer_file_to_string(_WRITER_FILE_MAX));
	fd = openat(f->cg_fd, "memory.reclaim", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(writer_target_new(f->w, f->cg_fd, "cg", &owner, &t), 0);
	assert_int_equal(writer_submit(t, WRITER_MEMORY_RECLAIM, WRITER_KIND_CHANGE, 0, 8 << 20, "reclaim"), 0);
	assert_int_equal(writer_submit(t, WRITER_MEMORY_HIGH, WRITER_KIND_CHANGE, UINT64_MAX, 1ULL << 30, "high"), 0);
	writer_drain(f->w);
	assert_int_equal(f->rep.n, 2);
	assert_int_equal(f->rep.c[0].file, WRITER_MEMORY_RECLAIM);
	assert_int_equal(f->rep.c[0].result, 0);
	assert_int_equal(f->rep.c[0].value, 8 << 20);
	assert_string_equal(fake_read(f->dir, "cg/memory.reclaim"), "8388608\n");
	/* the memory.high write is its own, not superseded by the reclaim (another file) */
	assert_int_equal(f->rep.c[1].file, WRITER_MEMORY_HIGH);
	assert_string_equal(fake_read(f->dir, "cg/memory.high"), "1073741824\n");
	writer_target_unlink(t);
}

static void test_error_reported(void **state)
{
	Fixture *f = *state;
	WriterTarget *t;
	char path[256];
	int owner;

	assert_int_equal(writer_target_new(f->w, f->cg_fd, "cg", &owner, &t), 0);
	snprintf(path, sizeof(path), "%s/cg/memory.low", f->dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(writer_submit(t, WRITER_MEMORY_LOW, WRITER_KIND_CHANGE, 0, 1 << 20, "gone"), 0);
	writer_drain(f->w);
	assert_int_equal(f->rep.n, 1);
	assert_int_equal(f->rep.c[0].result, -ENOENT);
	assert_int_equal(f->rep.c[0].file, WRITER_MEMORY_LOW);
	writer_target_unlink(t);
}

static int make_slow(Fixture *f)
{
	return fake_stuck_file(f->dir, "cg", "memory.high");
}

/* Everything readable from the FIFO without the junk. */
static void drain_fifo(int fd, char *buf, size_t n)
{
	char chunk[65536];
	size_t k = 0;
	ssize_t r;

	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		for (ssize_t i = 0; i < r; i++)
			if (chunk[i] != 'x' && k + 1 < n)
				buf[k++] = chunk[i];
	buf[k] = '\0';
}

/*
 * Drain the FIFO into buf until it holds want, for up to 10 s: under load the writer thread may not
 * have reached its write yet when the test first looks.
 */
static void drain_fifo_until(int fd, char *buf, size_t n, const char *want)
{
	for (int i = 0; i < 1000; i++) {
		size_t have = strlen(buf);

		drain_fifo(fd, buf + have, n - have);
		if (strcmp(buf, want) == 0 || strncmp(buf, want, strlen(buf)) != 0)
			return;
		usleep(10 * 1000);
	}
}

static void test_queue_order_and_supersede(void **state)
{
	Fixture *f = *state;
	WriterTarget *t;
	char got[256] = "";
	int owner, fifo;

	writer_set_timeout(f->w, 10 * USEC_PER_SEC);
	fifo = make_slow(f);
	assert_int_equal(writer_target_new(f->w, f->cg_fd, "cg", &owner, &t), 0);
	assert_int_equal(writer_submit(t, WRITER_MEMORY_HIGH, WRITER_KIND_CHANGE, UINT64_MAX, 100, "first"), 0);
	usleep(500 * 1000); /* the first is in flight, blocked (a loaded host needs more than 100 ms) */
	assert_int_equal(writer_submit(t, WRITER_MEMORY_LOW, WRITER_KIND_CHANGE, 0, 7, "low"), 0);
	assert_int_equal(writer_submit(t, WRITER_MEMORY_HIGH, WRITER_KIND_CHANGE, 100, 200, "second"), 0);
	assert_int_equal(writer_submit(t, WRITER_MEMORY_HIGH, WRITER_KIND_RESTORE, 200, 300, "third"), 0);
	assert_int_equal(writer_target_outstanding(t), 3); /* "second" was superseded by "third" */
	usleep(100 * 1000);
	assert_int_equal(f->rep.n, 0);               /* nothing passes the write in flight */
	drain_fifo_until(fifo, got, sizeof(got), "100\n");       /* "first" lands */
	drain_fifo_until(fifo, got, sizeof(got), "100\n300\n");  /* then "third" */
	writer_drain(f->w);
	assert_string_equal(got, "100\n300\n");
	assert_int_equal(f->rep.n, 3);
	assert_string_equal(f->rep.c[0].reason, "first");
	/* in submission order per cgroup: low was queued before the superseding high write */
	assert_int_equal(f->rep.c[1].file, WRITER_MEMORY_LOW);
	assert_string_equal(f->rep.c[2].reason, "third");
	assert_int_equal(f->rep.c[2].kind, WRITER_KIND_RESTORE);
	/* superseded: the file still held what "first" wrote */
	assert_int_equal(f->rep.c[2].old_value, 100);
	assert_string_equal(fake_read(f->dir, "cg/memory.low"), "7\n");
	close(fifo);
	writer_target_unlink(t);
}

static void test_timeout_interrupts(void **state)
{
	Fixture *f = *state;
	WriterTarget *t;
	WriterStats st;
	struct timespec a, b;
	int owner, fifo;
	long ms;

	fifo = make_slow(f);
	assert_int_equal(writer_target_new(f->w, f->cg_fd, "cg", &owner, &t), 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(writer_submit(t, WRITER_MEMORY_HIGH, WRITER_KIND_CHANGE, UINT64_MAX, 100, "stuck"), 0);
	writer_drain(f->w); /* bounded by the 200ms timeout */
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= 150);
	assert_true(ms < 5000);
	assert_int_equal(f->rep.n, 1);
	assert_true(f->rep.c[0].interrupted);
	assert_int_equal(f->rep.c[0].result, -EINTR); /* the FIFO took nothing: reported as failed */
	writer_get_stats(f->w, &st);
	assert_int_equal(st.interrupted, 1);
	assert_int_equal(st.failed, 1);
	close(fifo);
	writer_target_unlink(t);
}

static void test_unlinked_never_reported(void **state)
{
	Fixture *f = *state;
	WriterTarget *t, *t2;
	int owner, owner2, fifo;

	writer_set_timeout(f->w, 300 * USEC_PER_MSEC);
	fifo = make_slow(f);
	assert_int_equal(writer_target_new(f->w, f->cg_fd, "cg", &owner, &t), 0);
	assert_int_equal(writer_submit(t, WRITER_MEMORY_HIGH, WRITER_KIND_CHANGE, UINT64_MAX, 100, "old cgroup"), 0);
	assert_int_equal(writer_submit(t, WRITER_MEMORY_LOW, WRITER_KIND_CHANGE, 0, 5, "queued"), 0);
	usleep(100 * 1000);
	/* the owner lets go (cgroup gone) and a new target (same tenant, new cgroup) takes its place */
	writer_target_unlink(t);
	assert_int_equal(writer_target_new(f->w, f->cg_fd, "cg", &owner2, &t2), 0);
	assert_int_equal(writer_submit(t2, WRITER_MEMORY_LOW, WRITER_KIND_CHANGE, 0, 9, "new cgroup"), 0);
	writer_drain(f->w);
	/* the new target's write was not held up by the old cgroup's write, and only it is reported */
	assert_int_equal(f->rep.n, 1);
	assert_ptr_equal(f->rep.owner[0], &owner2);
	assert_string_equal(f->rep.c[0].reason, "new cgroup");
	assert_string_equal(fake_read(f->dir, "cg/memory.low"), "9\n");
	writer_target_unlink(t2);
	/* writer_free() (teardown) interrupts the old write still blocked and joins its thread */
	close(fifo);
}

/*
 * A paused round (issue 17): the cgroup is frozen while the write runs (it blocks in a FIFO here,
 * as memory.high does in the kernel's reclaim) and thawed before it is reported, even when the
 * timeout cut it short; a cgroup frozen by someone else stays frozen and is not counted as paused;
 * without cgroup.freeze (not cgroupfs) the write runs unpaused; only the paused kind freezes.
 */
static void test_paused_write(void **state)
{
	Fixture *f = *state;
	WriterTarget *t;
	char path[256];
	int owner, fifo;

	test_write_file(f->dir, "cg/cgroup.freeze", "0\n");
	fifo = make_slow(f);
	assert_int_equal(writer_target_new(f->w, f->cg_fd, "cg", &owner, &t), 0);
	assert_int_equal(writer_submit(t, WRITER_MEMORY_HIGH, WRITER_KIND_CONTINUE_PAUSED, 100, 100, "paused"), 0);
	usleep(100 * 1000);
	assert_string_equal(fake_read(f->dir, "cg/cgroup.freeze"), "1\n"); /* frozen while it runs */
	writer_drain(f->w);
	assert_int_equal(f->rep.n, 1);
	assert_true(f->rep.c[0].interrupted);
	assert_true(f->rep.c[0].paused);
	assert_int_equal(f->rep.c[0].thaw_result, 0);
	assert_string_equal(fake_read(f->dir, "cg/cgroup.freeze"), "0\n"); /* thawed before the report */
	close(fifo);

	/* Frozen by someone else: left alone. */
	snprintf(path, sizeof(path), "%s/cg/memory.high", f->dir);
	assert_int_equal(unlink(path), 0);
	test_write_file(f->dir, "cg/memory.high", "100\n");
	test_write_file(f->dir, "cg/cgroup.freeze", "1\n");
	assert_int_equal(writer_submit(t, WRITER_MEMORY_HIGH, WRITER_KIND_CONTINUE_PAUSED, 100, 100, "theirs"), 0);
	writer_drain(f->w);
	assert_int_equal(f->rep.n, 2);
	assert_false(f->rep.c[1].paused);
	assert_int_equal(f->rep.c[1].result, 0);
	assert_string_equal(fake_read(f->dir, "cg/cgroup.freeze"), "1\n");

	/* The unpaused kind never freezes. */
	test_write_file(f->dir, "cg/cgroup.freeze", "0\n");
	assert_int_equal(writer_submit(t, WRITER_MEMORY_HIGH, WRITER_KIND_CONTINUE, 100, 90, "running"), 0);
	writer_drain(f->w);
	assert_int_equal(f->rep.n, 3);
	assert_false(f->rep.c[2].paused);
	assert_string_equal(fake_read(f->dir, "cg/cgroup.freeze"), "0\n");

	/* No cgroup.freeze: written, unpaused. */
	snprintf(path, sizeof(path), "%s/cg/cgroup.freeze", f->dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(writer_submit(t, WRITER_MEMORY_HIGH, WRITER_KIND_CONTINUE_PAUSED, 90, 80, "no freezer"), 0);
	writer_drain(f->w);
	assert_int_equal(f->rep.n, 4);
	assert_false(f->rep.c[3].paused);
	assert_int_equal(f->rep.c[3].result, 0);
	assert_string_equal(fake_read(f->dir, "cg/memory.high"), "80\n");
	writer_target_unlink(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_reported_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_owns_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reclaim_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_order_and_supersede, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_interrupts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlinked_never_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paused_write, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
