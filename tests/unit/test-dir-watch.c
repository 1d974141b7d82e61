/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for src/dir-watch.c: one shared watch per directory, events dispatched by entry name,
 * events about the directory itself to every watch, handlers that remove watches.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dir-watch.h"
#include "test-util.h"
#include "util.h"

static int safe_close_(int fd)
{
	if (fd >= 0)
		(void) close(fd);
	return -EBADF;
}

typedef struct Hit {
	unsigned n;
	uint32_t last_mask;
	DirWatch **remove_self; /* the handler removes this watch */
} Hit;

static void on_hit(const struct inotify_event *ev, void *userdata)
{
	Hit *h = userdata;

	h->n++;
	h->last_mask = ev->mask;
	if (h->remove_self)
		*h->remove_self = dir_watch_remove(*h->remove_self);
}

static void run_loop(sd_event *e)
{
	for (int i = 0; i < 10; i++)
		assert_true(sd_event_run(e, 20 * 1000) >= 0);
}

static void test_dispatch_by_name(void **state)
{
	char dir[] = "/tmp/memqosd-test-dir-watch.XXXXXX", path[128];
	_cleanup_close_ int fd = -EBADF, fd2 = -EBADF;
	sd_event *e = NULL;
	DirWatches *w = NULL;
	DirWatch *a = NULL, *b = NULL, *any = NULL, *b2 = NULL;
	Hit ha = {}, hb = {}, hany = {}, hb2 = {};

	(void) state;
	assert_non_null(mkdtemp(dir));
	fd = open(dir, O_DIRECTORY | O_CLOEXEC);
	fd2 = open(dir, O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0 && fd2 >= 0);
	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(dir_watches_new(e, &w), 0);
	assert_int_equal(dir_watch_add(w, fd, "a", on_hit, &ha, &a), 0);
	assert_int_equal(dir_watch_add(w, fd2, "b", on_hit, &hb, &b), 0); /* another fd, same directory */
	assert_int_equal(dir_watch_add(w, fd, NULL, on_hit, &hany, &any), 0);
	assert_int_equal(dir_watch_add(w, fd, "b", on_hit, &hb2, &b2), 0);
	hb2.remove_self = &b2;

	snprintf(path, sizeof(path), "%s/a", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	run_loop(e);
	assert_int_equal(ha.n, 1);
	assert_true(ha.last_mask & IN_CREATE);
	assert_int_equal(hb.n, 0);
	assert_int_equal(hb2.n, 0);
	assert_int_equal(hany.n, 1);

	snprintf(path, sizeof(path), "%s/b", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(rmdir(path), 0);
	run_loop(e);
	assert_int_equal(ha.n, 1);
	assert_int_equal(hb.n, 2);      /* created, removed */
	assert_true(hb.last_mask & IN_DELETE);
	assert_int_equal(hb2.n, 1);     /* removed itself on the first */
	assert_null(b2);
	assert_int_equal(hany.n, 3);

	/* The directory itself goes: every watch hears it (once nothing holds it open). */
	fd = safe_close_(fd);
	fd2 = safe_close_(fd2);
	snprintf(path, sizeof(path), "%s/a", dir);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rmdir(dir), 0);
	run_loop(e);
	assert_int_equal(ha.n, 4);      /* a removed, then the directory: IN_DELETE_SELF, IN_IGNORED */
	assert_true(ha.last_mask & IN_IGNORED);
	assert_int_equal(hb.n, 4);
	assert_int_equal(hany.n, 6);

	a = dir_watch_remove(a);
	b = dir_watch_remove(b);
	any = dir_watch_remove(any);
	dir_watches_free(w);
	sd_event_unref(e);
}

/* Many watches in one directory: adding and removing them is not quadratic (sd-event's merge was). */
static void test_many(void **state)
{
	char dir[] = "/tmp/memqosd-test-dir-watch.XXXXXX", name[32], path[128];
	_cleanup_close_ int fd = -EBADF;
	enum { N = 20000 };
	DirWatch **x = calloc(N, sizeof(*x));
	Hit *h = calloc(N, sizeof(*h));
	sd_event *e = NULL;
	DirWatches *w = NULL;

	(void) state;
	assert_non_null(x);
	assert_non_null(h);
	assert_non_null(mkdtemp(dir));
	fd = open(dir, O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(dir_watches_new(e, &w), 0);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "t%05d", i);
		assert_int_equal(dir_watch_add(w, fd, name, on_hit, &h[i], &x[i]), 0);
	}
	snprintf(path, sizeof(path), "%s/t12345", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	run_loop(e);
	for (int i = 0; i < N; i++)
		assert_int_equal(h[i].n, i == 12345 ? 1u : 0u);
	for (int i = 0; i < N; i++)
		x[i] = dir_watch_remove(x[i]);
	dir_watches_free(w);
	sd_event_unref(e);
	test_rm_rf(dir);
	free(x);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_by_name),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
