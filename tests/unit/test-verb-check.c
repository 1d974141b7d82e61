/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for src/verb-check.c (`memqosd check`): exit status, one error per stderr line, one
 * summary line per tenant on stdout. stdout and stderr are redirected to files around each call.
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

#include "test-util.h"
#include "util.h"
#include "verb-check.h"

#ifndef MEMQOSD_SOURCE_ROOT
#error "MEMQOSD_SOURCE_ROOT must name the source tree (for conf/)"
#endif

typedef struct Fixture {
	char dir[64];
	char out[4096];
	char err[4096];
} Fixture;

static int setup(void **state)
{
	Fixture *f = calloc(1, sizeof(*f));
	char path[PATH_MAX];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test-verb-check-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/tenants.d", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
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

static void write_profile(const Fixture *f, const char *name, const char *content)
{
	char rel[NAME_MAX + 16];

	snprintf(rel, sizeof(rel), "tenants.d/%s.conf", name);
	test_write_file(f->dir, rel, content);
}

/* Point fd at a fresh temporary file; returns the saved original. */
static int redirect(int fd, char *tmpl)
{
	int saved = dup(fd), tmp = mkstemp(tmpl);

	assert_true(saved >= 0);
	assert_true(tmp >= 0);
	assert_int_equal(dup2(tmp, fd), fd);
	assert_int_equal(close(tmp), 0);
	return saved;
}

static void restore(int fd, int saved, const char *tmpl, char *buf, size_t size)
{
	int in;
	ssize_t n;

	assert_int_equal(dup2(saved, fd), fd);
	assert_int_equal(close(saved), 0);
	in = open(tmpl, O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	n = read(in, buf, size - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_int_equal(close(in), 0);
	assert_int_equal(unlink(tmpl), 0);
}

/* Run verb_check(dir, json) and capture what it printed. */
static int run_check_json(Fixture *f, const char *dir, bool json)
{
	char out_tmpl[] = "/tmp/test-verb-check-out-XXXXXX", err_tmpl[] = "/tmp/test-verb-check-err-XXXXXX";
	int saved_out, saved_err, r;

	fflush(stdout);
	fflush(stderr);
	saved_out = redirect(STDOUT_FILENO, out_tmpl);
	saved_err = redirect(STDERR_FILENO, err_tmpl);
	r = verb_check(dir, json);
	fflush(stdout);
	fflush(stderr);
	restore(STDERR_FILENO, saved_err, err_tmpl, f->err, sizeof(f->err));
	restore(STDOUT_FILENO, saved_out, out_tmpl, f->out, sizeof(f->out));
	return r;
}

static int run_check(Fixture *f, const char *dir)
{
	return run_check_json(f, dir, false);
}

static void test_check_ok(void **state)
{
	Fixture *f = *state;

	write_profile(f, "web", "[Tenant]\nCgroup=tenants/web\nPriority=80\nMemoryHighMin=768M\nMemoryHighMax=1536M\nMemoryLow=256M\n");
	write_profile(f, "batch", "[Tenant]\nCgroup=tenants/batch\nPriority=20\nMemoryHighMax=1G\nPolicy=observe\n");
	assert_int_equal(run_check(f, f->dir), 0);
	assert_string_equal(f->err, "");
	assert_string_equal(f->out,
		"batch: cgroup=tenants/batch priority=20 memory.high=1G..1G memory.low=unset policy=observe\n"
		"web: cgroup=tenants/web priority=80 memory.high=768M..1536M memory.low=256M policy=priority\n");
}

static void test_check_no_tenants(void **state)
{
	Fixture *f = *state;

	assert_int_equal(run_check(f, f->dir), 0);
	assert_string_equal(f->out, "");
	assert_string_equal(f->err, "");
}

/* Every error, one per line on stderr, nothing on stdout, status 1. */
static void test_check_errors(void **state)
{
	Fixture *f = *state;
	char expected[2048];

	write_profile(f, "ok", "[Tenant]\nCgroup=ok\nPriority=1\n");
	write_profile(f, "a", "[Tenant]\nCgroup=../x\nPriority=1000\n");
	write_profile(f, "b", "[Tenant]\nPriority=1\n");
	assert_int_equal(run_check(f, f->dir), 1);
	assert_string_equal(f->out, "");
	snprintf(expected, sizeof(expected),
		 "%1$s/tenants.d/a.conf:2: Cgroup=: '../x' contains '..', which could escape the cgroup root\n"
		 "%1$s/tenants.d/a.conf:3: Priority=: '1000' is out of range (0..100)\n"
		 "%1$s/tenants.d/b.conf:0: Cgroup=: required key missing in section [Tenant]\n",
		 f->dir);
	assert_string_equal(f->err, expected);
}

static void test_check_missing_dir(void **state)
{
	Fixture *f = *state;
	char dir[PATH_MAX], expected[PATH_MAX + 128];

	snprintf(dir, sizeof(dir), "%s/missing", f->dir);
	assert_int_equal(run_check(f, dir), 1);
	assert_string_equal(f->out, "");
	snprintf(expected, sizeof(expected), "%s:0: configuration directory: No such file or directory\n", dir);
	assert_string_equal(f->err, expected);
}

/* The shipped examples pass `memqosd check`. */
static void test_check_shipped_conf(void **state)
{
	Fixture *f = *state;

	assert_int_equal(run_check(f, MEMQOSD_SOURCE_ROOT "/conf"), 0);
	assert_string_equal(f->err, "");
	assert_non_null(strstr(f->out, "web: cgroup=tenants/web priority=80 "));
	assert_non_null(strstr(f->out, "batch: cgroup=tenants/batch priority=20 "));
}

/* A template is listed as one; a broken pattern is an error naming file, line and key. */
static void test_check_template(void **state)
{
	Fixture *f = *state;
	char expected[2048];

	write_profile(f, "pods", "[Tenant]\nCgroup=kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod*.slice\n"
				 "Priority=10\nMemoryHighMin=64M\nMemoryHighMax=max\n");
	assert_int_equal(run_check(f, f->dir), 0);
	assert_string_equal(f->err, "");
	assert_string_equal(f->out, "pods: template=kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod*.slice "
				    "priority=10 memory.high=64M..max memory.low=unset policy=priority\n");

	write_profile(f, "bad", "[Tenant]\nPriority=1\nCgroup=a/[bc/d\n");
	write_profile(f, "bad2", "[Tenant]\nCgroup=a/**/x.scope\nPriority=1\n");
	assert_int_equal(run_check(f, f->dir), 1);
	assert_string_equal(f->out, "");
	snprintf(expected, sizeof(expected),
		 "%1$s/tenants.d/bad.conf:3: Cgroup=: 'a/[bc/d' is not a valid cgroup pattern: a '[' is not closed by a "
		 "']' within its path component (a pattern never matches across '/')\n"
		 "%1$s/tenants.d/bad2.conf:2: Cgroup=: 'a/**/x.scope' is not a valid cgroup pattern: '**' is not "
		 "supported: a pattern component matches exactly one path component\n",
		 f->dir);
	assert_string_equal(f->err, expected);
}

/* --json: one object on stdout, valid or not; errors as their text lines. */
static void test_check_json(void **state)
{
	Fixture *f = *state;
	char expected[4096];

	write_profile(f, "web", "[Tenant]\nCgroup=tenants/web\nPriority=80\nMemoryHighMin=768M\nMemoryHighMax=1536M\nMemoryLow=256M\n");
	write_profile(f, "pods", "[Tenant]\nCgroup=pods/*.scope\nPriority=10\nMemoryHighMax=max\n");
	assert_int_equal(run_check_json(f, f->dir, true), 0);
	assert_string_equal(f->err, "");
	snprintf(expected, sizeof(expected),
		 "{\"valid\":true,\"error_count\":0,\"errors\":[],\"tenants\":["
		 "{\"name\":\"pods\",\"kind\":\"template\",\"cgroup\":\"pods/*.scope\",\"file\":\"%1$s/tenants.d/pods.conf\","
		 "\"priority\":10,\"memory_high_min\":\"max\",\"memory_high_max\":\"max\",\"memory_low\":null,\"policy\":\"priority\"},"
		 "{\"name\":\"web\",\"kind\":\"tenant\",\"cgroup\":\"tenants/web\",\"file\":\"%1$s/tenants.d/web.conf\","
		 "\"priority\":80,\"memory_high_min\":805306368,\"memory_high_max\":1610612736,\"memory_low\":268435456,"
		 "\"policy\":\"priority\"}]}\n",
		 f->dir);
	assert_string_equal(f->out, expected);

	write_profile(f, "bad", "[Tenant]\nCgroup=x/[\nPriority=1\n");
	assert_int_equal(run_check_json(f, f->dir, true), 1);
	assert_string_equal(f->err, "");
	snprintf(expected, sizeof(expected),
		 "{\"valid\":false,\"error_count\":1,\"errors\":[\"%1$s/tenants.d/bad.conf:2: Cgroup=: 'x/[' is not a valid "
		 "cgroup pattern: a '[' is not closed by a ']' within its path component (a pattern never matches across "
		 "'/')\"],\"tenants\":[]}\n",
		 f->dir);
	assert_string_equal(f->out, expected);
}

/* The Kubernetes example (conf/kubernetes) passes `memqosd check`: three templates. */
static void test_check_kubernetes_example(void **state)
{
	Fixture *f = *state;

	assert_int_equal(run_check(f, MEMQOSD_SOURCE_ROOT "/conf/kubernetes"), 0);
	assert_string_equal(f->err, "");
	assert_non_null(strstr(f->out, "k8s-besteffort: template=kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod*.slice "));
	assert_non_null(strstr(f->out, "k8s-burstable: template=kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod*.slice "));
	assert_non_null(strstr(f->out, "k8s-guaranteed: template=kubepods.slice/kubepods-pod*.slice "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_check_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_no_tenants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_missing_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_shipped_conf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_template, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_kubernetes_example, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
