/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for src/config.c and the value parsers it uses (src/parse-util.c): every parser on
 * good and bad input, every validation error with its exact "FILE:LINE: Key=: ..." text, error
 * collection across files, drop-in precedence, reload diffing, and the shipped conf/ examples.
 * Each loading test gets its own mkdtemp() directory as the configuration directory.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "parse-util.h"
#include "test-util.h"
#include "util.h"

#ifndef MEMQOSD_SOURCE_ROOT
#error "MEMQOSD_SOURCE_ROOT must name the source tree (for conf/)"
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Fixture and helpers                                                                              */

typedef struct Fixture {
	char dir[64];
	Config *config;
	ConfigErrors errors;
} Fixture;

static int setup(void **state)
{
	Fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test-config-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fixture *f = *state;

	config_free(f->config);
	config_errors_clear(&f->errors);
	test_rm_rf(f->dir);
	free(f);
	return 0;
}

static void write_file(const Fixture *f, const char *rel, const char *content)
{
	test_write_file(f->dir, rel, content);
}

static void remove_file(const Fixture *f, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	assert_int_equal(unlink(path), 0);
}

static int load(Fixture *f)
{
	f->config = config_free(f->config);
	config_errors_clear(&f->errors);
	return config_load(f->dir, &f->config, &f->errors);
}

/* Load and expect success with no errors. */
static void load_ok(Fixture *f)
{
	int r = load(f);

	for (size_t i = 0; i < f->errors.n; i++)
		print_message("unexpected error: %s\n", f->errors.lines[i]);
	assert_int_equal(r, 0);
	assert_int_equal(f->errors.n, 0);
	assert_non_null(f->config);
}

/*
 * Assert the collected errors are exactly the given lines, in order. Each '@' in an expected line
 * stands for the fixture directory.
 */
static void assert_errors_(const Fixture *f, const char *const *expected, size_t n)
{
	bool ok = f->errors.n == n;
	char buf[1024];

	for (size_t i = 0; ok && i < n; i++) {
		size_t len = 0;

		for (const char *p = expected[i]; *p && len < sizeof(buf) - sizeof(f->dir); p++)
			if (*p == '@')
				len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s", f->dir);
			else
				buf[len++] = *p;
		buf[len] = '\0';
		if (!streq(buf, f->errors.lines[i])) {
			print_message("error %zu:\n  expected: %s\n  actual:   %s\n", i, buf, f->errors.lines[i]);
			ok = false;
		}
	}
	if (!ok) {
		print_message("%zu errors, expected %zu:\n", f->errors.n, n);
		for (size_t i = 0; i < f->errors.n; i++)
			print_message("  %s\n", f->errors.lines[i]);
	}
	assert_true(ok);
}
#define assert_errors(f, ...)                                                            \
	do {                                                                             \
		const char *const _e_[] = { __VA_ARGS__ };                               \
		assert_errors_((f), _e_, ELEMENTSOF(_e_));                               \
	} while (0)

/* Load, expect -EINVAL, no Config, and exactly the given errors. */
#define assert_load_fails(f, ...)                                                        \
	do {                                                                             \
		assert_int_equal(load(f), -EINVAL);                                      \
		assert_null((f)->config);                                                \
		assert_errors((f), __VA_ARGS__);                                         \
	} while (0)

/* A valid profile with the given extra lines appended to [Tenant]. */
static void write_tenant(const Fixture *f, const char *name, const char *cgroup, int priority, const char *extra)
{
	char rel[256], content[2048];

	snprintf(rel, sizeof(rel), "tenants.d/%s.conf", name);
	snprintf(content, sizeof(content), "[Tenant]\nCgroup=%s\nPriority=%d\n%s", cgroup, priority, extra);
	write_file(f, rel, content);
}

/* ---------------------------------------------------------------------------------------------- */
/* Value parsers                                                                                    */

/* Assert a parser's return value, naming the input if it is wrong. */
#define assert_parse(call, expected, input)                                              \
	do {                                                                             \
		int _r_ = (call);                                                        \
		if (_r_ != (expected))                                                   \
			print_message("input '%s'\n", (input));                          \
		assert_int_equal(_r_, (expected));                                       \
	} while (0)

static void test_parse_size_good(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{ "0", 0 },
		{ "4096", 4096 },
		{ "1K", 1024 },
		{ "1k", 1024 },
		{ "512M", UINT64_C(512) << 20 },
		{ "1536m", UINT64_C(1536) << 20 },
		{ "1G", UINT64_C(1) << 30 },
		{ "2T", UINT64_C(2) << 40 },
		{ "007M", UINT64_C(7) << 20 },
		{ "16777215T", UINT64_C(16777215) << 40 },
		{ "18446744073709551614", UINT64_MAX - 1 },
		{ "max", MEMQOSD_BYTES_MAX },
		{ "infinity", MEMQOSD_BYTES_MAX },
	};
	(void) state;

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		uint64_t v = 42;

		assert_parse(parse_size(good[i].s, &v), 0, good[i].s);
		assert_true(v == good[i].v);
	}
}

static void test_parse_size_bad(void **state)
{
	static const char *const invalid[] = {
		"", "-1", "+1", " 1", "1 ", "1.5G", "12X", "1KB", "1 M", "0x10", "G", "MAX", "Max", "maxx", "1e6",
	};
	static const char *const too_large[] = {
		"18446744073709551616", "99999999999999999999999", "16777216T", "17179869184G",
	};
	(void) state;

	for (size_t i = 0; i < ELEMENTSOF(invalid); i++) {
		uint64_t v = 42;

		assert_parse(parse_size(invalid[i], &v), -EINVAL, invalid[i]);
		assert_true(v == 42); /* untouched on failure */
	}
	for (size_t i = 0; i < ELEMENTSOF(too_large); i++) {
		uint64_t v = 42;

		assert_parse(parse_size(too_large[i], &v), -ERANGE, too_large[i]);
		assert_true(v == 42);
	}
}

static void test_parse_int_range(void **state)
{
	int v = 42;
	(void) state;

	assert_int_equal(parse_int_range("0", 0, 100, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_int_range("100", 0, 100, &v), 0);
	assert_int_equal(v, 100);
	assert_int_equal(parse_int_range("007", 0, 100, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(parse_int_range("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(parse_int_range("-2147483648", INT_MIN, INT_MAX, &v), 0);
	assert_int_equal(v, INT_MIN);

	v = 42;
	assert_int_equal(parse_int_range("101", 0, 100, &v), -ERANGE);
	assert_int_equal(parse_int_range("-1", 0, 100, &v), -ERANGE);
	assert_int_equal(parse_int_range("2147483648", INT_MIN, INT_MAX, &v), -ERANGE);
	assert_int_equal(parse_int_range("99999999999999999999", 0, 100, &v), -ERANGE);
	assert_int_equal(v, 42);

	static const char *const invalid[] = { "", "abc", "1.0", "+1", "5 ", " 5", "--1", "-", "1e2", "0x1", "5%" };
	for (size_t i = 0; i < ELEMENTSOF(invalid); i++) {
		assert_parse(parse_int_range(invalid[i], -100, 100, &v), -EINVAL, invalid[i]);
	}
	assert_int_equal(v, 42);
}

static void test_parse_boolean(void **state)
{
	static const char *const yes[] = { "yes", "YES", "true", "True", "on", "1" };
	static const char *const no[] = { "no", "No", "false", "FALSE", "off", "0" };
	static const char *const bad[] = { "", "maybe", "2", "yess", "y", "n", " yes", "on " };
	bool b;
	(void) state;

	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		b = false;
		assert_int_equal(parse_boolean(yes[i], &b), 0);
		assert_true(b);
	}
	for (size_t i = 0; i < ELEMENTSOF(no); i++) {
		b = true;
		assert_int_equal(parse_boolean(no[i], &b), 0);
		assert_false(b);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		b = true;
		assert_parse(parse_boolean(bad[i], &b), -EINVAL, bad[i]);
		assert_true(b);
	}
}

static void test_parse_duration_good(void **state)
{
	static const struct {
		const char *s;
		uint64_t usec;
	} good[] = {
		{ "0", 0 },
		{ "5", 5 * USEC_PER_SEC },         /* bare number: seconds */
		{ "0.5", 500 * USEC_PER_MSEC },
		{ "500us", 500 },
		{ "500usec", 500 },
		{ "100ms", 100 * USEC_PER_MSEC },
		{ "250msec", 250 * USEC_PER_MSEC },
		{ "1s", USEC_PER_SEC },
		{ "10sec", 10 * USEC_PER_SEC },
		{ "1.5s", 1500 * USEC_PER_MSEC },
		{ "0.001s", USEC_PER_MSEC },
		{ "0.0000009s", 0 },                  /* below 1us rounds down */
		{ "2min", 120 * USEC_PER_SEC },
		{ "3m", 180 * USEC_PER_SEC },
		{ "1h", 3600 * USEC_PER_SEC },
		{ "2hour", 7200 * USEC_PER_SEC },
		{ "1.25h", 4500 * USEC_PER_SEC },
		{ "0.123456789123h", UINT64_C(444444440) },  /* digits after the 9th are ignored */
	};
	(void) state;

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		uint64_t v = 42;

		assert_parse(parse_duration(good[i].s, &v), 0, good[i].s);
		assert_int_equal(v, good[i].usec);
	}
}

static void test_parse_duration_bad(void **state)
{
	static const char *const invalid[] = {
		"", "s", "1x", "1.s", ".5s", "-1s", "+1s", "1 s", " 1s", "1s ", "1S", "1sec2", "1s500ms", "1..5s", "ms",
	};
	static const char *const too_large[] = { "18446744073709551616", "5124095577h", "18446744073709551615s" };
	uint64_t v = 42;
	(void) state;

	for (size_t i = 0; i < ELEMENTSOF(invalid); i++) {
		assert_parse(parse_duration(invalid[i], &v), -EINVAL, invalid[i]);
	}
	for (size_t i = 0; i < ELEMENTSOF(too_large); i++) {
		assert_parse(parse_duration(too_large[i], &v), -ERANGE, too_large[i]);
	}
	assert_int_equal(v, 42);
}

static void test_parse_log_level(void **state)
{
	int v = -1;
	(void) state;

	assert_int_equal(parse_log_level("err", &v), 0);
	assert_int_equal(v, LOG_ERR);
	assert_int_equal(parse_log_level("warning", &v), 0);
	assert_int_equal(v, LOG_WARNING);
	assert_int_equal(parse_log_level("notice", &v), 0);
	assert_int_equal(v, LOG_NOTICE);
	assert_int_equal(parse_log_level("INFO", &v), 0);
	assert_int_equal(v, LOG_INFO);
	assert_int_equal(parse_log_level("debug", &v), 0);
	assert_int_equal(v, LOG_DEBUG);
	assert_int_equal(parse_log_level("emerg", &v), 0);
	assert_int_equal(v, LOG_EMERG);
	assert_int_equal(parse_log_level("5", &v), 0);
	assert_int_equal(v, 5);

	v = -1;
	assert_int_equal(parse_log_level("8", &v), -ERANGE);
	assert_int_equal(parse_log_level("verbose", &v), -EINVAL);
	assert_int_equal(parse_log_level("", &v), -EINVAL);
	assert_int_equal(parse_log_level("error", &v), -EINVAL);
	assert_int_equal(v, -1);
}

static void test_format_size(void **state)
{
	static const uint64_t values[] = {
		0, 1, 1000, 1024, 1536, UINT64_C(512) << 20, UINT64_C(1536) << 20, UINT64_C(1) << 30,
		(UINT64_C(1) << 30) + 1, UINT64_C(3) << 40, UINT64_MAX - 1, MEMQOSD_BYTES_MAX,
	};
	char buf[FORMAT_VALUE_MAX];
	(void) state;

	assert_string_equal(format_size(buf, 0), "0");
	assert_string_equal(format_size(buf, 1000), "1000");
	assert_string_equal(format_size(buf, 1536), "1536");  /* not a whole K? 1536 = 1.5K: bytes */
	assert_string_equal(format_size(buf, 2048), "2K");
	assert_string_equal(format_size(buf, UINT64_C(1536) << 20), "1536M");
	assert_string_equal(format_size(buf, UINT64_C(1) << 30), "1G");
	assert_string_equal(format_size(buf, UINT64_C(3) << 40), "3T");
	assert_string_equal(format_size(buf, MEMQOSD_BYTES_MAX), "max");

	for (size_t i = 0; i < ELEMENTSOF(values); i++) {
		uint64_t back = 42;

		assert_int_equal(parse_size(format_size(buf, values[i]), &back), 0);
		assert_true(back == values[i]);
	}
}

static void test_format_duration(void **state)
{
	static const uint64_t values[] = {
		0, 1, 999, 1000, 100 * USEC_PER_MSEC, USEC_PER_SEC, 90 * USEC_PER_SEC, 120 * USEC_PER_SEC,
		3600 * USEC_PER_SEC, 5400 * USEC_PER_SEC, UINT64_MAX,
	};
	char buf[FORMAT_VALUE_MAX];
	(void) state;

	assert_string_equal(format_duration(buf, 0), "0");
	assert_string_equal(format_duration(buf, 7), "7us");
	assert_string_equal(format_duration(buf, 100 * USEC_PER_MSEC), "100ms");
	assert_string_equal(format_duration(buf, 1500 * USEC_PER_MSEC), "1500ms");
	assert_string_equal(format_duration(buf, 90 * USEC_PER_SEC), "90s");
	assert_string_equal(format_duration(buf, 120 * USEC_PER_SEC), "2min");
	assert_string_equal(format_duration(buf, 7200 * USEC_PER_SEC), "2h");

	for (size_t i = 0; i < ELEMENTSOF(values); i++) {
		uint64_t back = 42;

		assert_int_equal(parse_duration(format_duration(buf, values[i]), &back), 0);
		assert_true(back == values[i]);
	}
}

static void test_policy_kind_strings(void **state)
{
	(void) state;

	for (int k = 0; k < _POLICY_MAX; k++)
		assert_int_equal(policy_kind_from_string(policy_kind_to_string((PolicyKind) k)), k);
	assert_string_equal(policy_kind_to_string(POLICY_PRIORITY), "priority");
	assert_string_equal(policy_kind_to_string(POLICY_OBSERVE), "observe");
	assert_string_equal(policy_kind_to_string(POLICY_NONE), "none");
	assert_null(policy_kind_to_string(_POLICY_MAX));
	assert_null(policy_kind_to_string(_POLICY_INVALID));
	assert_int_equal(policy_kind_from_string("Priority"), _POLICY_INVALID);
	assert_int_equal(policy_kind_from_string(""), _POLICY_INVALID);
	assert_int_equal(policy_kind_from_string(NULL), _POLICY_INVALID);
}

static void test_config_errors_add(void **state)
{
	ConfigErrors e = {};
	(void) state;

	assert_int_equal(config_errors_add(&e, "/a/b.conf", 3, "Priority", "bad %d", 7), 0);
	assert_int_equal(config_errors_add(&e, "/a/c.conf", 0, NULL, "whole file"), 0);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.lines[0], "/a/b.conf:3: Priority=: bad 7");
	assert_string_equal(e.lines[1], "/a/c.conf:0: whole file");
	config_errors_clear(&e);
	assert_int_equal(e.n, 0);
	assert_null(e.lines);
	config_errors_clear(&e); /* idempotent */
}

/* ---------------------------------------------------------------------------------------------- */
/* memqosd.conf and drop-ins                                                                        */

static void assert_control_equal(const ControlParams *a, const ControlParams *b)
{
	assert_int_equal(a->psi_full, b->psi_full);
	assert_int_equal(a->psi_stall_usec, b->psi_stall_usec);
	assert_int_equal(a->psi_window_usec, b->psi_window_usec);
	assert_int_equal(a->step_percent, b->step_percent);
	assert_int_equal(a->relax_percent, b->relax_percent);
	assert_int_equal(a->hold_usec, b->hold_usec);
	assert_int_equal(a->relax_ceiling_usec, b->relax_ceiling_usec);
	assert_int_equal(a->min_interval_usec, b->min_interval_usec);
	assert_int_equal(a->headroom_bytes, b->headroom_bytes);
	assert_int_equal(a->housekeeping_usec, b->housekeeping_usec);
	assert_int_equal(a->write_timeout_usec, b->write_timeout_usec);
}

static void test_control_defaults(void **state)
{
	ControlParams c;
	(void) state;

	memset(&c, 0xff, sizeof(c));
	config_control_defaults(&c);
	assert_false(c.psi_full);
	assert_int_equal(c.psi_stall_usec, 100 * USEC_PER_MSEC);
	assert_int_equal(c.psi_window_usec, USEC_PER_SEC);
	assert_int_equal(c.step_percent, 10);
	assert_int_equal(c.relax_percent, 5);
	assert_int_equal(c.hold_usec, 10 * USEC_PER_SEC);
	assert_int_equal(c.relax_ceiling_usec, 120 * USEC_PER_SEC);
	assert_int_equal(c.min_interval_usec, USEC_PER_SEC);
	assert_int_equal(c.headroom_bytes, 32 << 20);
	assert_int_equal(c.housekeeping_usec, 30 * USEC_PER_SEC);
	assert_int_equal(c.write_timeout_usec, 5 * USEC_PER_SEC);
}

/* An empty directory is a valid configuration: defaults, no tenants. */
static void test_load_empty_dir(void **state)
{
	Fixture *f = *state;
	ControlParams defaults;

	load_ok(f);
	assert_string_equal(f->config->dir, f->dir);
	assert_false(f->config->daemon.dry_run);
	assert_int_equal(f->config->daemon.log_level, LOG_INFO);
	assert_null(f->config->daemon.cgroup_root);
	config_control_defaults(&defaults);
	assert_control_equal(&f->config->daemon.control, &defaults);
	assert_int_equal(f->config->n_tenants, 0);
}

/* Empty directories are fine too. */
static void test_load_empty_subdirs(void **state)
{
	Fixture *f = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/tenants.d", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/memqosd.conf.d", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	write_file(f, "memqosd.conf", "");
	load_ok(f);
	assert_int_equal(f->config->n_tenants, 0);
	assert_int_equal(f->config->daemon.log_level, LOG_INFO);
}

static void test_load_missing_dir(void **state)
{
	Fixture *f = *state;
	char missing[PATH_MAX];

	snprintf(missing, sizeof(missing), "%s/nope", f->dir);
	assert_int_equal(config_load(missing, &f->config, &f->errors), -ENOENT);
	assert_null(f->config);
	assert_errors(f, "@/nope:0: configuration directory: No such file or directory");
}

static void test_load_dir_is_file(void **state)
{
	Fixture *f = *state;
	char file[PATH_MAX];

	write_file(f, "plain", "");
	snprintf(file, sizeof(file), "%s/plain", f->dir);
	assert_int_equal(config_load(file, &f->config, &f->errors), -ENOTDIR);
	assert_null(f->config);
	assert_errors(f, "@/plain:0: configuration directory: Not a directory");
}

static void test_load_not_directories(void **state)
{
	Fixture *f = *state;
	char path[PATH_MAX];

	write_file(f, "tenants.d", "");
	write_file(f, "memqosd.conf.d", "");
	snprintf(path, sizeof(path), "%s/memqosd.conf", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(load(f), -ENOTDIR);
	assert_null(f->config);
	assert_errors(f,
		"@/memqosd.conf:0: not a regular file (a directory), refusing to read it",
		"@/memqosd.conf.d:0: cannot read directory: Not a directory",
		"@/tenants.d:0: cannot read directory: Not a directory");
}

/* A trailing '/' on the directory does not end up in file names. */
static void test_load_dir_trailing_slash(void **state)
{
	Fixture *f = *state;
	char dir[PATH_MAX];

	write_tenant(f, "web", "tenants/web", 50, "Bogus=1\n");
	snprintf(dir, sizeof(dir), "%s//", f->dir);
	assert_int_equal(config_load(dir, &f->config, &f->errors), -EINVAL);
	assert_errors(f, "@/tenants.d/web.conf:4: Bogus=: unknown key in section [Tenant]");
}

static void test_daemon_all_keys(void **state)
{
	Fixture *f = *state;
	const ControlParams *c;

	write_file(f, "memqosd.conf",
		   "# comment\n"
		   "; another comment\n"
		   "[Daemon]\n"
		   "DryRun=yes\n"
		   "LogLevel=debug\n"
		   "CgroupRoot=/sys/fs/cgroup//memqosd.slice/\n"
		   "\n"
		   "[Control]\n"
		   "PressureType=full\n"
		   "PressureThresholdSec=150ms\n"
		   "PressureWindowSec=2s\n"
		   "StepPercent=25\n"
		   "RelaxPercent=3\n"
		   "HoldSec=0\n"
		   "MinIntervalSec=500ms\n"
		   "Headroom=64M\n"
		   "HousekeepingSec=1min\n"
		   "WriteTimeoutSec=2.5s\n"
		   "RelaxCeilingSec=90s\n");
	load_ok(f);
	assert_true(f->config->daemon.dry_run);
	assert_int_equal(f->config->daemon.log_level, LOG_DEBUG);
	assert_string_equal(f->config->daemon.cgroup_root, "/sys/fs/cgroup/memqosd.slice");
	c = &f->config->daemon.control;
	assert_true(c->psi_full);
	assert_int_equal(c->psi_stall_usec, 150 * USEC_PER_MSEC);
	assert_int_equal(c->psi_window_usec, 2 * USEC_PER_SEC);
	assert_int_equal(c->step_percent, 25);
	assert_int_equal(c->relax_percent, 3);
	assert_int_equal(c->hold_usec, 0);
	assert_int_equal(c->min_interval_usec, 500 * USEC_PER_MSEC);
	assert_int_equal(c->headroom_bytes, 64 << 20);
	assert_int_equal(c->housekeeping_usec, 60 * USEC_PER_SEC);
	assert_int_equal(c->write_timeout_usec, 2500 * USEC_PER_MSEC);
	assert_int_equal(c->relax_ceiling_usec, 90 * USEC_PER_SEC);
}

/* main < 10-a.conf < 2-b.conf (byte order, not numeric); other names in the directory are ignored. */
static void test_dropin_precedence(void **state)
{
	Fixture *f = *state;
	const DaemonConfig *d;

	write_file(f, "memqosd.conf",
		   "[Daemon]\nLogLevel=err\nDryRun=yes\n[Control]\nStepPercent=20\nHoldSec=3s\nRelaxPercent=7\n");
	write_file(f, "memqosd.conf.d/10-a.conf", "[Daemon]\nLogLevel=warning\n[Control]\nStepPercent=30\nHoldSec=4s\n");
	write_file(f, "memqosd.conf.d/2-b.conf", "[Daemon]\nLogLevel=debug\n[Control]\nHoldSec=5s\n");
	write_file(f, "memqosd.conf.d/3-c.conf.bak", "garbage\n");
	write_file(f, "memqosd.conf.d/.4-d.conf", "garbage\n");
	write_file(f, "memqosd.conf.d/README", "garbage\n");
	load_ok(f);
	d = &f->config->daemon;
	assert_int_equal(d->log_level, LOG_DEBUG);          /* 2-b.conf */
	assert_int_equal(d->control.hold_usec, 5 * USEC_PER_SEC);
	assert_int_equal(d->control.step_percent, 30);      /* 10-a.conf */
	assert_int_equal(d->control.relax_percent, 7);      /* main */
	assert_true(d->dry_run);                            /* main */
	assert_int_equal(d->control.min_interval_usec, USEC_PER_SEC); /* default */
}

/* Drop-ins apply even without a main file; an empty CgroupRoot= goes back to "discover". */
static void test_dropin_without_main_and_reset(void **state)
{
	Fixture *f = *state;

	write_file(f, "memqosd.conf.d/a.conf", "[Daemon]\nCgroupRoot=/sys/fs/cgroup\n");
	load_ok(f);
	assert_string_equal(f->config->daemon.cgroup_root, "/sys/fs/cgroup");

	write_file(f, "memqosd.conf.d/b.conf", "[Daemon]\nCgroupRoot=\n");
	load_ok(f);
	assert_null(f->config->daemon.cgroup_root);
	assert_null(f->config->daemon.metrics_listen);
}

/* Values that are fine on their own but contradict each other across files. */
static void test_control_threshold_longer_than_window(void **state)
{
	Fixture *f = *state;

	write_file(f, "memqosd.conf", "[Control]\nPressureThresholdSec=800ms\n");
	write_file(f, "memqosd.conf.d/a.conf", "[Control]\n\nPressureWindowSec=600ms\n");
	assert_load_fails(f, "@/memqosd.conf:2: PressureThresholdSec=: 800ms is longer than PressureWindowSec= (600ms)");

	/* The assignment that won is blamed. */
	write_file(f, "memqosd.conf", "[Control]\n");
	write_file(f, "memqosd.conf.d/a.conf", "[Control]\nPressureThresholdSec=2s\n");
	write_file(f, "memqosd.conf.d/b.conf", "[Control]\nPressureThresholdSec=10s\n");
	assert_load_fails(f, "@/memqosd.conf.d/b.conf:2: PressureThresholdSec=: 10s is longer than PressureWindowSec= (1s)");

	/* A later drop-in repairs it. */
	write_file(f, "memqosd.conf.d/c.conf", "[Control]\nPressureWindowSec=10s\n");
	load_ok(f);
	assert_int_equal(f->config->daemon.control.psi_stall_usec, 10 * USEC_PER_SEC);
}

static void test_control_bad_values(void **state)
{
	Fixture *f = *state;

	write_file(f, "memqosd.conf",
		   "[Daemon]\n"
		   "DryRun=maybe\n"
		   "LogLevel=loud\n"
		   "CgroupRoot=sys/fs/cgroup\n"
		   "[Control]\n"
		   "PressureType=partial\n"
		   "PressureThresholdSec=0\n"
		   "PressureWindowSec=100ms\n"
		   "StepPercent=0\n"
		   "RelaxPercent=101\n"
		   "HoldSec=soon\n"
		   "MinIntervalSec=10ms\n"
		   "Headroom=max\n"
		   "HousekeepingSec=2h\n"
		   "WriteTimeoutSec=x\n"
		   "RelaxCeilingSec=2h\n");
	write_file(f, "memqosd.conf.d/a.conf", "[Daemon]\nCgroupRoot=/sys/fs/../cgroup\n[Control]\nHeadroom=lots\n");
	assert_load_fails(f,
		"@/memqosd.conf:2: DryRun=: invalid boolean 'maybe' (expected yes/no, true/false, on/off, 1/0)",
		"@/memqosd.conf:3: LogLevel=: invalid log level 'loud' (expected emerg, alert, crit, err, warning, notice, info, debug or 0..7)",
		"@/memqosd.conf:4: CgroupRoot=: 'sys/fs/cgroup' is not an absolute path",
		"@/memqosd.conf:6: PressureType=: invalid pressure type 'partial' (expected some or full)",
		"@/memqosd.conf:7: PressureThresholdSec=: '0' is out of range (1us..10s)",
		"@/memqosd.conf:8: PressureWindowSec=: '100ms' is out of range (500ms..10s)",
		"@/memqosd.conf:9: StepPercent=: '0' is out of range (1..100)",
		"@/memqosd.conf:10: RelaxPercent=: '101' is out of range (1..100)",
		"@/memqosd.conf:11: HoldSec=: invalid duration 'soon' (expected e.g. 500ms, 1s, 1.5s, 2min)",
		"@/memqosd.conf:12: MinIntervalSec=: '10ms' is out of range (100ms..1h)",
		"@/memqosd.conf:13: Headroom=: invalid size 'max' (expected bytes or a number with suffix K, M, G or T)",
		"@/memqosd.conf:14: HousekeepingSec=: '2h' is out of range (1s..1h)",
		"@/memqosd.conf:15: WriteTimeoutSec=: invalid duration 'x' (expected e.g. 500ms, 1s, 1.5s, 2min)",
		"@/memqosd.conf:16: RelaxCeilingSec=: '2h' is out of range (0..1h)",
		"@/memqosd.conf.d/a.conf:2: CgroupRoot=: '/sys/fs/../cgroup' must not contain '..' or control characters",
		"@/memqosd.conf.d/a.conf:4: Headroom=: invalid size 'lots' (expected bytes or a number with suffix K, M, G or T)");
}

static void test_daemon_unknown_section_and_key(void **state)
{
	Fixture *f = *state;

	write_file(f, "memqosd.conf",
		   "[Daemon]\n"
		   "Verbose=yes\n"
		   "loglevel=debug\n"
		   "[Tenant]\n"
		   "Cgroup=a\n"
		   "[Control]\n"
		   "DryRun=yes\n");
	assert_load_fails(f,
		"@/memqosd.conf:2: Verbose=: unknown key in section [Daemon]",
		"@/memqosd.conf:3: loglevel=: unknown key in section [Daemon] (keys are case-sensitive: LogLevel=)",
		"@/memqosd.conf:4: [Tenant]: unknown section (expected [Daemon], [Control], [Forecast], [Sampling], [Reclaim], [Guard], [Metrics])",
		"@/memqosd.conf:7: DryRun=: unknown key in section [Control]");
}

/* The same key twice in one file is an error; in two files it is precedence. */
static void test_daemon_duplicate_key(void **state)
{
	Fixture *f = *state;

	write_file(f, "memqosd.conf", "[Control]\nStepPercent=20\n[Daemon]\nDryRun=no\n[Control]\nStepPercent=30\n");
	assert_load_fails(f, "@/memqosd.conf:6: StepPercent=: duplicate key, already set on line 2");
}

/* ---------------------------------------------------------------------------------------------- */
/* Tenant profiles                                                                                  */

static void test_tenant_all_keys(void **state)
{
	Fixture *f = *state;
	const TenantConfig *t;
	char expected[PATH_MAX];

	write_file(f, "tenants.d/web.conf",
		   "# web tier\n"
		   "[Tenant]\n"
		   "Cgroup=tenants/web\n"
		   "Priority=80\n"
		   "MemoryHighMin=768M\n"
		   "MemoryHighMax=1536M\n"
		   "MemoryLow=256M\n"
		   "Policy=observe\n");
	load_ok(f);
	assert_int_equal(f->config->n_tenants, 1);
	t = f->config->tenants[0];
	assert_string_equal(t->name, "web");
	snprintf(expected, sizeof(expected), "%s/tenants.d/web.conf", f->dir);
	assert_string_equal(t->file, expected);
	assert_int_equal(t->cgroup_line, 3);
	assert_string_equal(t->cgroup, "tenants/web");
	assert_int_equal(t->priority, 80);
	assert_true(t->memory_high_min == UINT64_C(768) << 20);
	assert_true(t->memory_high_max == UINT64_C(1536) << 20);
	assert_true(t->has_memory_low);
	assert_true(t->memory_low == UINT64_C(256) << 20);
	assert_int_equal(t->policy, POLICY_OBSERVE);
}

/* MemoryHighMax= defaults to max, MemoryHighMin= to MemoryHighMax=, no MemoryLow=, Policy=priority. */
static void test_tenant_defaults(void **state)
{
	Fixture *f = *state;
	const TenantConfig *t;

	write_tenant(f, "a", "a", 0, "");
	write_tenant(f, "b", "b", 100, "MemoryHighMax=1G\n");
	write_tenant(f, "c", "c", 50, "MemoryHighMin=512M\n");
	write_tenant(f, "d", "d", 50, "MemoryLow=0\nPolicy=none\n");
	load_ok(f);
	assert_int_equal(f->config->n_tenants, 4);

	t = config_find_tenant(f->config, "a");
	assert_non_null(t);
	assert_int_equal(t->priority, 0);
	assert_true(t->memory_high_max == MEMQOSD_BYTES_MAX);
	assert_true(t->memory_high_min == MEMQOSD_BYTES_MAX);
	assert_false(t->has_memory_low);
	assert_int_equal(t->policy, POLICY_PRIORITY);

	t = config_find_tenant(f->config, "b");
	assert_non_null(t);
	assert_true(t->memory_high_max == UINT64_C(1) << 30);
	assert_true(t->memory_high_min == UINT64_C(1) << 30);

	t = config_find_tenant(f->config, "c");
	assert_non_null(t);
	assert_true(t->memory_high_min == UINT64_C(512) << 20);
	assert_true(t->memory_high_max == MEMQOSD_BYTES_MAX);

	t = config_find_tenant(f->config, "d");
	assert_non_null(t);
	assert_true(t->has_memory_low);
	assert_true(t->memory_low == 0);
	assert_int_equal(t->policy, POLICY_NONE);
}

static void test_tenant_syntax_details(void **state)
{
	Fixture *f = *state;
	const TenantConfig *t;

	/* Indentation is not a continuation line, ';' after whitespace starts a comment, ':' also assigns. */
	write_file(f, "tenants.d/web.conf",
		   "\xEF\xBB\xBF[Tenant] ; the only section\n"
		   "    Cgroup = tenants/web\n"
		   "\tPriority=80 ; important\n"
		   "MemoryHighMax: 2G\n"
		   "\n"
		   "   # indented comment\n");
	load_ok(f);
	t = config_find_tenant(f->config, "web");
	assert_non_null(t);
	assert_string_equal(t->cgroup, "tenants/web");
	assert_int_equal(t->priority, 80);
	assert_true(t->memory_high_max == UINT64_C(2) << 30);
	assert_int_equal(t->cgroup_line, 2);
}

static void test_tenant_cgroup_normalised(void **state)
{
	Fixture *f = *state;

	write_tenant(f, "a", "tenants//web/", 1, "");
	write_tenant(f, "b", "./tenants/./batch//", 1, "");
	write_tenant(f, "c", "x", 1, "");
	load_ok(f);
	assert_string_equal(config_find_tenant(f->config, "a")->cgroup, "tenants/web");
	assert_string_equal(config_find_tenant(f->config, "b")->cgroup, "tenants/batch");
	assert_string_equal(config_find_tenant(f->config, "c")->cgroup, "x");
}

static void test_tenant_cgroup_escapes(void **state)
{
	Fixture *f = *state;

	write_file(f, "tenants.d/a.conf", "[Tenant]\nPriority=1\nCgroup=/sys/fs/cgroup/web\n");
	write_file(f, "tenants.d/b.conf", "[Tenant]\nPriority=1\nCgroup=../web\n");
	write_file(f, "tenants.d/c.conf", "[Tenant]\nPriority=1\nCgroup=tenants/../../web\n");
	write_file(f, "tenants.d/d.conf", "[Tenant]\nPriority=1\nCgroup=tenants/..\n");
	write_file(f, "tenants.d/e.conf", "[Tenant]\nPriority=1\nCgroup=\n");
	write_file(f, "tenants.d/f.conf", "[Tenant]\nPriority=1\nCgroup=./\n");
	write_file(f, "tenants.d/g.conf", "[Tenant]\nPriority=1\nCgroup=//\n");
	write_file(f, "tenants.d/h.conf", "[Tenant]\nPriority=1\nCgroup=a/\x01/b\n");
	write_file(f, "tenants.d/ok.conf", "[Tenant]\nPriority=1\nCgroup=a..b/..c/d..\n");
	assert_load_fails(f,
		"@/tenants.d/a.conf:3: Cgroup=: '/sys/fs/cgroup/web' is absolute, expected a path relative to the cgroup root",
		"@/tenants.d/b.conf:3: Cgroup=: '../web' contains '..', which could escape the cgroup root",
		"@/tenants.d/c.conf:3: Cgroup=: 'tenants/../../web' contains '..', which could escape the cgroup root",
		"@/tenants.d/d.conf:3: Cgroup=: 'tenants/..' contains '..', which could escape the cgroup root",
		"@/tenants.d/e.conf:3: Cgroup=: empty path",
		"@/tenants.d/f.conf:3: Cgroup=: './' is the cgroup root itself, expected a cgroup below it",
		"@/tenants.d/g.conf:3: Cgroup=: '//' is absolute, expected a path relative to the cgroup root",
		"@/tenants.d/h.conf:3: Cgroup=: 'a/\x01/b' contains control characters");
}

/*
 * Spaces at either end of a path component are refused (inih strips the value's ends, so "a /"
 * would otherwise become the cgroup "a "); spaces inside a component are a valid name.
 */
static void test_tenant_cgroup_spaces(void **state)
{
	Fixture *f = *state;

	write_file(f, "tenants.d/a.conf", "[Tenant]\nPriority=1\nCgroup=a /\n");
	write_file(f, "tenants.d/b.conf", "[Tenant]\nPriority=1\nCgroup=x/ b/c\n");
	write_file(f, "tenants.d/c.conf", "[Tenant]\nPriority=1\nCgroup=x/b /c\n");
	write_file(f, "tenants.d/d.conf", "[Tenant]\nPriority=1\nCgroup=/ \n");
	write_file(f, "tenants.d/e.conf", "[Tenant]\nPriority=1\nCgroup=./ /\n");
	write_file(f, "memqosd.conf", "[Daemon]\nCgroupRoot=/sys/fs/cgroup /\n");
	assert_load_fails(f,
		"@/memqosd.conf:2: CgroupRoot=: '/sys/fs/cgroup /': path component 'cgroup ' begins or ends with a space (cgroup names with surrounding spaces are not accepted)",
		"@/tenants.d/a.conf:3: Cgroup=: 'a /': path component 'a ' begins or ends with a space (cgroup names with surrounding spaces are not accepted)",
		"@/tenants.d/b.conf:3: Cgroup=: 'x/ b/c': path component ' b' begins or ends with a space (cgroup names with surrounding spaces are not accepted)",
		"@/tenants.d/c.conf:3: Cgroup=: 'x/b /c': path component 'b ' begins or ends with a space (cgroup names with surrounding spaces are not accepted)",
		"@/tenants.d/d.conf:3: Cgroup=: '/' is absolute, expected a path relative to the cgroup root",
		"@/tenants.d/e.conf:3: Cgroup=: './ /': path component ' ' begins or ends with a space (cgroup names with surrounding spaces are not accepted)");

	test_rm_rf(f->dir);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	write_file(f, "tenants.d/ok.conf", "[Tenant]\nPriority=1\nCgroup=  my job/x y  \n");
	load_ok(f);
	assert_string_equal(config_find_tenant(f->config, "ok")->cgroup, "my job/x y");
}

/* A NUL byte inside a line is an error on that line, naming the key; it does not hide the rest. */
static void test_nul_byte(void **state)
{
	static const char text[] = "[Tenant]\nCgroup=a\nPriority=1\0junk\nMemoryLow\0=1M\n# c\0\n"
				   "\0\n  Policy = none\0x\n";
	static const char longline[] = "[Tenant]\nCgroup=a\nPriority=1\nMemoryHighMax=1G";
	Fixture *f = *state;
	char path[PATH_MAX], buf[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/tenants.d", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/tenants.d/n.conf", f->dir);
	fp = fopen(path, "we");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, sizeof(text) - 1, fp), sizeof(text) - 1);
	assert_int_equal(fclose(fp), 0);

	/* Over-long lines are still found when the NUL comes early. */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, longline, sizeof(longline) - 1);
	buf[sizeof(longline) - 1] = '\0';
	buf[sizeof(buf) - 1] = '\n';
	snprintf(path, sizeof(path), "%s/tenants.d/o.conf", f->dir);
	fp = fopen(path, "we");
	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, sizeof(buf), fp), sizeof(buf));
	assert_int_equal(fclose(fp), 0);

	assert_load_fails(f,
		"@/tenants.d/n.conf:3: Priority=: NUL byte inside the line",
		"@/tenants.d/n.conf:4: NUL byte inside the line",
		"@/tenants.d/n.conf:5: NUL byte inside the line",
		"@/tenants.d/n.conf:6: NUL byte inside the line",
		"@/tenants.d/n.conf:7: Policy=: NUL byte inside the line",
		"@/tenants.d/n.conf:0: Priority=: required key missing in section [Tenant]",
		"@/tenants.d/o.conf:4: line too long (at most 199 characters)");
}

/* FIFOs, devices, symlinks to them: refused at once (a FIFO used to block the parser forever). */
static void test_not_regular_files_do_not_block(void **state)
{
	Fixture *f = *state;
	char path[PATH_MAX];

	write_tenant(f, "ok", "ok", 1, "");
	snprintf(path, sizeof(path), "%s/tenants.d/fifo.conf", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/tenants.d/null.conf", f->dir);
	assert_int_equal(symlink("/dev/null", path), 0);
	snprintf(path, sizeof(path), "%s/tenants.d/tofifo.conf", f->dir);
	assert_int_equal(symlink("fifo.conf", path), 0);
	snprintf(path, sizeof(path), "%s/memqosd.conf.d", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/memqosd.conf.d/x.conf", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_load_fails(f,
		"@/memqosd.conf.d/x.conf:0: not a regular file (a FIFO), refusing to read it",
		"@/tenants.d/fifo.conf:0: not a regular file (a FIFO), refusing to read it",
		"@/tenants.d/null.conf:0: not a regular file (a character device), refusing to read it",
		"@/tenants.d/tofifo.conf:0: not a regular file (a FIFO), refusing to read it");
}

/* Larger than CONFIG_FILE_SIZE_MAX: refused as a whole, without reading it. */
static void test_file_too_large(void **state)
{
	Fixture *f = *state;
	char path[PATH_MAX], expect[256];
	int fd;

	write_tenant(f, "big", "big", 1, "");
	snprintf(path, sizeof(path), "%s/tenants.d/big.conf", f->dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t) CONFIG_FILE_SIZE_MAX + 1), 0);
	assert_int_equal(close(fd), 0);
	snprintf(expect, sizeof(expect), "@/tenants.d/big.conf:0: file too large (%llu bytes, at most %llu)",
		 (unsigned long long) CONFIG_FILE_SIZE_MAX + 1, (unsigned long long) CONFIG_FILE_SIZE_MAX);
	assert_load_fails(f, expect);
}

/*
 * 128k bad lines: only CONFIG_ERRORS_MAX are kept, all are counted, and the joined text (what
 * `check` prints and the D-Bus reply carries) is bounded.
 */
static void test_many_errors_bounded(void **state)
{
	enum { N = 128 * 1024 };
	Fixture *f = *state;
	_cleanup_free_ char *joined = NULL;
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/tenants.d", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/tenants.d/bad.conf", f->dir);
	fp = fopen(path, "we");
	assert_non_null(fp);
	fputs("[Tenant]\nCgroup=x\nPriority=1\n", fp);
	for (unsigned i = 0; i < N; i++)
		fputs("x\n", fp);
	assert_int_equal(fclose(fp), 0);

	assert_int_equal(load(f), -EINVAL);
	assert_null(f->config);
	assert_int_equal(f->errors.n, CONFIG_ERRORS_MAX);
	assert_int_equal(f->errors.n_total, N);
	joined = config_errors_join(&f->errors, "\n");
	assert_non_null(joined);
	assert_true(strlen(joined) < CONFIG_ERRORS_MAX * 256);
	assert_non_null(strstr(joined, "... and 130972 more errors (only the first 100 are shown)"));
	assert_ptr_equal(strchr(joined, '\n'), strstr(joined, "\n"));
}

static void test_tenant_same_cgroup(void **state)
{
	Fixture *f = *state;

	write_tenant(f, "web", "tenants/web", 80, "");
	write_tenant(f, "web2", "tenants//web/", 10, "");
	write_tenant(f, "alpha", "tenants/alpha", 10, "");
	write_file(f, "tenants.d/zeta.conf", "[Tenant]\nPriority=5\n\nCgroup=./tenants/web\n");
	assert_load_fails(f,
		"@/tenants.d/web2.conf:2: Cgroup=: cgroup 'tenants/web' is already used by tenant 'web' (@/tenants.d/web.conf:2)",
		"@/tenants.d/zeta.conf:4: Cgroup=: cgroup 'tenants/web' is already used by tenant 'web' (@/tenants.d/web.conf:2)");
}

static void test_tenant_missing_required(void **state)
{
	Fixture *f = *state;

	write_file(f, "tenants.d/a.conf", "[Tenant]\nPriority=1\n");
	write_file(f, "tenants.d/b.conf", "[Tenant]\nCgroup=b\n");
	write_file(f, "tenants.d/c.conf", "");
	write_file(f, "tenants.d/d.conf", "# nothing but a comment\n[Tenant]\n");
	assert_load_fails(f,
		"@/tenants.d/a.conf:0: Cgroup=: required key missing in section [Tenant]",
		"@/tenants.d/b.conf:0: Priority=: required key missing in section [Tenant]",
		"@/tenants.d/c.conf:0: Cgroup=: required key missing in section [Tenant]",
		"@/tenants.d/c.conf:0: Priority=: required key missing in section [Tenant]",
		"@/tenants.d/d.conf:0: Cgroup=: required key missing in section [Tenant]",
		"@/tenants.d/d.conf:0: Priority=: required key missing in section [Tenant]");
}

/* A required key that is present but invalid is reported once, as invalid. */
static void test_tenant_bad_numbers(void **state)
{
	Fixture *f = *state;

	write_file(f, "tenants.d/a.conf", "[Tenant]\nCgroup=a\nPriority=high\n");
	write_file(f, "tenants.d/b.conf", "[Tenant]\nCgroup=b\nPriority=101\n");
	write_file(f, "tenants.d/c.conf", "[Tenant]\nCgroup=c\nPriority=-1\n");
	write_file(f, "tenants.d/d.conf", "[Tenant]\nCgroup=d\nPriority=50.5\n");
	write_file(f, "tenants.d/e.conf", "[Tenant]\nCgroup=e\nPriority=\n");
	write_file(f, "tenants.d/f.conf", "[Tenant]\nCgroup=f\nPriority=80 # high\n");
	assert_load_fails(f,
		"@/tenants.d/a.conf:3: Priority=: invalid integer 'high'",
		"@/tenants.d/b.conf:3: Priority=: '101' is out of range (0..100)",
		"@/tenants.d/c.conf:3: Priority=: '-1' is out of range (0..100)",
		"@/tenants.d/d.conf:3: Priority=: invalid integer '50.5'",
		"@/tenants.d/e.conf:3: Priority=: invalid integer ''",
		"@/tenants.d/f.conf:3: Priority=: invalid integer '80 # high'");
}

static void test_tenant_bad_sizes(void **state)
{
	Fixture *f = *state;

	write_tenant(f, "a", "a", 1, "MemoryHighMin=12X\nMemoryHighMax=1.5G\nMemoryLow=-1\n");
	write_tenant(f, "b", "b", 1, "MemoryHighMax=99999999999T\nMemoryLow=\n");
	assert_load_fails(f,
		"@/tenants.d/a.conf:4: MemoryHighMin=: invalid size '12X' (expected bytes or a number with suffix K, M, G or T, or max)",
		"@/tenants.d/a.conf:5: MemoryHighMax=: invalid size '1.5G' (expected bytes or a number with suffix K, M, G or T, or max)",
		"@/tenants.d/a.conf:6: MemoryLow=: invalid size '-1' (expected bytes or a number with suffix K, M, G or T, or max)",
		"@/tenants.d/b.conf:4: MemoryHighMax=: size '99999999999T' is too large",
		"@/tenants.d/b.conf:5: MemoryLow=: invalid size '' (expected bytes or a number with suffix K, M, G or T, or max)");
}

/* [Guard]: defaults from memqosd.conf, overrides in a profile, every key validated. */
static void test_guard(void **state)
{
	Fixture *f = *state;
	const TenantConfig *a, *b;
	char buf[64];

	write_file(f, "memqosd.conf", "[Guard]\nEnable=yes\nChargeRate=64M\nForkRate=50\nActions=pids,freeze,kill\n");
	write_tenant(f, "a", "a", 1, "[Guard]\nChargeBurst=512M\nPerUidChargeRate=32M\nPerUidForkRate=20\n"
		     "Actions=freeze\nPidsAllowance=4\nEscalateSec=500ms\nHoldSec=3s\n");
	write_tenant(f, "b", "b", 1, "");
	write_tenant(f, "c", "c", 1, "[Guard]\nActions=kill cpu freeze pids\nCpuMax=250%\n");
	load_ok(f);
	a = config_find_tenant(f->config, "a");
	b = config_find_tenant(f->config, "b");
	assert_true(a->guard.enable);
	assert_int_equal(a->guard.charge_rate, 64 << 20);
	assert_int_equal(a->guard.charge_burst, 512 << 20);
	assert_int_equal(a->guard.fork_rate, 50);
	assert_int_equal(a->guard.fork_burst, 500);
	assert_int_equal(a->guard.uid_charge_rate, 32 << 20);
	assert_int_equal(a->guard.uid_fork_rate, 20);
	assert_int_equal(a->guard.actions, GUARD_ACTION_FREEZE);
	assert_int_equal(a->guard.pids_allowance, 4);
	assert_int_equal(a->guard.escalate_usec, 500 * USEC_PER_MSEC);
	assert_int_equal(a->guard.hold_usec, 3 * USEC_PER_SEC);
	assert_true(b->guard.enable);
	assert_int_equal(b->guard.actions, GUARD_ACTION_PIDS | GUARD_ACTION_FREEZE | GUARD_ACTION_KILL);
	assert_string_equal(guard_actions_to_string(b->guard.actions, buf, sizeof(buf)), "pids freeze kill");
	assert_false(tenant_config_equal(a, b));
	assert_string_equal(guard_actions_to_string(0, buf, sizeof(buf)), "");
	assert_int_equal(b->guard.cpu_max_percent, 10);                 /* the default */
	a = config_find_tenant(f->config, "c");
	assert_int_equal(a->guard.actions, GUARD_ACTION_PIDS | GUARD_ACTION_CPU | GUARD_ACTION_FREEZE | GUARD_ACTION_KILL);
	assert_int_equal(a->guard.cpu_max_percent, 250);
	assert_string_equal(guard_actions_to_string(a->guard.actions, buf, sizeof(buf)), "pids cpu freeze kill");
	assert_false(tenant_config_equal(a, b));

	config_free(f->config);
	f->config = NULL;
	write_file(f, "memqosd.conf", "");
	write_tenant(f, "a", "a", 1, "[Guard]\nEnable=maybe\nChargeRate=fast\nChargeBurst=1K\nForkRate=-1\n"
		     "ForkBurst=0\nActions=pids stop\nPidsAllowance=0\nEscalateSec=1ms\nHoldSec=2d\nRate=1\n");
	write_tenant(f, "b", "b", 1, "[Guard]\nActions=\nChargeRate=max\nCpuMax=10\n");
	write_tenant(f, "c", "c", 1, "[Guard]\nCpuMax=0%\n");
	write_tenant(f, "d", "d", 1, "[Guard]\nCpuMax=10001%\n");
	write_tenant(f, "e", "e", 1, "[Guard]\nCpuMax=x%\n");
	write_tenant(f, "g", "g", 1, "[Guard]\nCpuMax=%\n");
	assert_load_fails(f,
		"@/tenants.d/a.conf:5: Enable=: invalid boolean 'maybe' (expected yes/no, true/false, on/off, 1/0)",
		"@/tenants.d/a.conf:6: ChargeRate=: invalid size 'fast' (expected bytes or a number with suffix K, M, G or T)",
		"@/tenants.d/a.conf:7: ChargeBurst=: '1K' is out of range (1M..1T)",
		"@/tenants.d/a.conf:8: ForkRate=: '-1' is out of range (0..1000000)",
		"@/tenants.d/a.conf:9: ForkBurst=: '0' is out of range (1..1000000)",
		"@/tenants.d/a.conf:10: Actions=: unknown action 'stop' (expected pids, cpu, freeze or kill)",
		"@/tenants.d/a.conf:11: PidsAllowance=: '0' is out of range (1..100000)",
		"@/tenants.d/a.conf:12: EscalateSec=: '1ms' is out of range (100ms..1h)",
		"@/tenants.d/a.conf:13: HoldSec=: invalid duration '2d' (expected e.g. 500ms, 1s, 1.5s, 2min)",
		"@/tenants.d/a.conf:14: Rate=: unknown key in section [Guard]",
		"@/tenants.d/b.conf:6: ChargeRate=: invalid size 'max' (expected bytes or a number with suffix K, M, G or T)",
		"@/tenants.d/b.conf:7: CpuMax=: invalid CPU share '10' (expected a percentage of one CPU, e.g. 10%)",
		"@/tenants.d/c.conf:5: CpuMax=: '0%' is out of range (1%..10000%)",
		"@/tenants.d/d.conf:5: CpuMax=: '10001%' is out of range (1%..10000%)",
		"@/tenants.d/e.conf:5: CpuMax=: invalid CPU share 'x%' (expected a percentage of one CPU, e.g. 10%)",
		"@/tenants.d/g.conf:5: CpuMax=: invalid CPU share '%' (expected a percentage of one CPU, e.g. 10%)");
}

static void test_tenant_min_above_max(void **state)
{
	Fixture *f = *state;

	write_tenant(f, "a", "a", 1, "MemoryHighMin=2G\nMemoryHighMax=1G\n");
	write_tenant(f, "b", "b", 1, "MemoryHighMax=1G\nMemoryHighMin=1025M\n");
	write_tenant(f, "c", "c", 1, "MemoryHighMin=1G\nMemoryHighMax=1G\n");  /* equal is fine */
	write_tenant(f, "d", "d", 1, "MemoryHighMin=max\n");                   /* Max defaults to max */
	/* An invalid Max is reported alone, not compared. */
	write_tenant(f, "e", "e", 1, "MemoryHighMin=2G\nMemoryHighMax=lots\n");
	assert_load_fails(f,
		"@/tenants.d/a.conf:4: MemoryHighMin=: 2G is larger than MemoryHighMax= (1G)",
		"@/tenants.d/b.conf:5: MemoryHighMin=: 1025M is larger than MemoryHighMax= (1G)",
		"@/tenants.d/e.conf:5: MemoryHighMax=: invalid size 'lots' (expected bytes or a number with suffix K, M, G or T, or max)");
}

static void test_tenant_low_above_max(void **state)
{
	Fixture *f = *state;

	write_tenant(f, "a", "a", 1, "MemoryHighMax=1G\nMemoryLow=2G\n");
	write_tenant(f, "b", "b", 1, "MemoryHighMax=1G\nMemoryLow=max\n");
	write_tenant(f, "c", "c", 1, "MemoryLow=max\n");                      /* Max is max */
	write_tenant(f, "d", "d", 1, "MemoryHighMin=256M\nMemoryHighMax=1G\nMemoryLow=1G\n");
	assert_load_fails(f,
		"@/tenants.d/a.conf:5: MemoryLow=: 2G is larger than MemoryHighMax= (1G)",
		"@/tenants.d/b.conf:5: MemoryLow=: max is larger than MemoryHighMax= (1G)");
}

static void test_tenant_bad_policy(void **state)
{
	Fixture *f = *state;

	write_tenant(f, "a", "a", 1, "Policy=fancy\n");
	write_tenant(f, "b", "b", 1, "Policy=Priority\n");
	assert_load_fails(f,
		"@/tenants.d/a.conf:4: Policy=: unknown policy 'fancy' (expected priority, observe or none)",
		"@/tenants.d/b.conf:4: Policy=: unknown policy 'Priority' (expected priority, observe or none)");
}

static void test_tenant_unknown_section_and_key(void **state)
{
	Fixture *f = *state;

	write_file(f, "tenants.d/a.conf",
		   "[Tenant]\n"
		   "Cgroup=a\n"
		   "Priority=1\n"
		   "MemoryMax=1G\n"
		   "cgroup=b\n"
		   "[Pressure]\n"
		   "Threshold=1\n"
		   "[Empty]\n"
		   "[tenant]\n");
	assert_load_fails(f,
		"@/tenants.d/a.conf:4: MemoryMax=: unknown key in section [Tenant]",
		"@/tenants.d/a.conf:5: cgroup=: unknown key in section [Tenant] (keys are case-sensitive: Cgroup=)",
		"@/tenants.d/a.conf:6: [Pressure]: unknown section (expected [Tenant], [Forecast], [Sampling], [Reclaim], [Guard])",
		"@/tenants.d/a.conf:8: [Empty]: unknown section (expected [Tenant], [Forecast], [Sampling], [Reclaim], [Guard])",
		"@/tenants.d/a.conf:9: [tenant]: unknown section (expected [Tenant], [Forecast], [Sampling], [Reclaim], [Guard])");
}

static void test_tenant_duplicate_key(void **state)
{
	Fixture *f = *state;

	write_file(f, "tenants.d/a.conf",
		   "[Tenant]\nCgroup=a\nPriority=1\nPriority=2\n[Tenant]\n  Cgroup=b\nPriority=3\n");
	assert_load_fails(f,
		"@/tenants.d/a.conf:4: Priority=: duplicate key, already set on line 3",
		"@/tenants.d/a.conf:6: Cgroup=: duplicate key, already set on line 2",
		"@/tenants.d/a.conf:7: Priority=: duplicate key, already set on line 3");
}

static void test_tenant_syntax_errors(void **state)
{
	Fixture *f = *state;
	char long_comment[512], long_value[256];

	/* A 510-character comment is fine; a 200-character assignment is not. */
	memset(long_comment, 'x', sizeof(long_comment));
	memcpy(long_comment, "# ", 2);
	long_comment[sizeof(long_comment) - 2] = '\n';
	long_comment[sizeof(long_comment) - 1] = '\0';
	memset(long_value, 'y', sizeof(long_value));
	memcpy(long_value, "Cgroup=", 7);
	long_value[200] = '\n';
	long_value[201] = '\0';

	write_file(f, "tenants.d/a.conf",
		   "Cgroup=a\n"
		   "[Tenant]\n"
		   "Priority 1\n"
		   "Priority=1\n"
		   "=orphan\n"
		   "[Tenant\n"
		   "[Tenant] extra\n");
	{
		char content[1024];

		snprintf(content, sizeof(content), "[Tenant]\n%s%sPriority=2\n", long_comment, long_value);
		write_file(f, "tenants.d/b.conf", content);
	}
	assert_load_fails(f,
		"@/tenants.d/a.conf:1: Cgroup=: assignment outside of any section",
		"@/tenants.d/a.conf:3: syntax error, expected Key=value, [Section] or a comment",
		"@/tenants.d/a.conf:5: syntax error, missing key name before '='",
		"@/tenants.d/a.conf:6: syntax error, section header without ']'",
		"@/tenants.d/a.conf:7: syntax error, unexpected text after section header",
		"@/tenants.d/a.conf:0: Cgroup=: required key missing in section [Tenant]",
		"@/tenants.d/b.conf:3: line too long (at most 199 characters)",
		"@/tenants.d/b.conf:0: Cgroup=: required key missing in section [Tenant]");
}

static void test_tenant_names(void **state)
{
	Fixture *f = *state;

	write_tenant(f, "Web_1.prod-x", "a", 1, "");
	write_tenant(f, "bad name", "b", 1, "");
	write_tenant(f, "bad$", "c", 1, "");
	write_file(f, "tenants.d/.conf", "garbage\n");           /* hidden: ignored */
	write_file(f, "tenants.d/.web.conf.swp", "garbage\n");   /* not *.conf */
	write_file(f, "tenants.d/web.conf~", "garbage\n");
	write_file(f, "tenants.d/web.conf.dpkg-old", "garbage\n");
	write_file(f, "tenants.d/README", "garbage\n");
	assert_load_fails(f,
		"@/tenants.d/bad name.conf:0: invalid tenant name 'bad name' (allowed characters: A-Z a-z 0-9 _ . -)",
		"@/tenants.d/bad$.conf:0: invalid tenant name 'bad$' (allowed characters: A-Z a-z 0-9 _ . -)");

	remove_file(f, "tenants.d/bad name.conf");
	remove_file(f, "tenants.d/bad$.conf");
	load_ok(f);
	assert_int_equal(f->config->n_tenants, 1);
	assert_string_equal(f->config->tenants[0]->name, "Web_1.prod-x");
}

static void test_tenant_not_regular_file(void **state)
{
	Fixture *f = *state;
	char path[PATH_MAX], target[PATH_MAX];

	write_tenant(f, "ok", "ok", 1, "");
	snprintf(path, sizeof(path), "%s/tenants.d/dir.conf", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(load(f), -EINVAL);
	assert_errors(f, "@/tenants.d/dir.conf:0: not a regular file (a directory), refusing to read it");
	assert_int_equal(rmdir(path), 0);

	/* A symlink to a profile is followed; a dangling one cannot be read. */
	snprintf(path, sizeof(path), "%s/tenants.d/link.conf", f->dir);
	snprintf(target, sizeof(target), "%s/elsewhere.conf", f->dir);
	write_file(f, "elsewhere.conf", "[Tenant]\nCgroup=l\nPriority=2\n");
	assert_int_equal(symlink(target, path), 0);
	load_ok(f);
	assert_int_equal(f->config->n_tenants, 2);
	assert_int_equal(unlink(target), 0);
	assert_int_equal(load(f), -ENOENT);
	assert_null(f->config);
	assert_errors(f, "@/tenants.d/link.conf:0: cannot open: No such file or directory");
}

/* Everything wrong in every file is reported in one run, in file then line order. */
static void test_all_errors_collected(void **state)
{
	Fixture *f = *state;

	write_file(f, "memqosd.conf", "[Daemon]\nDryRun=perhaps\nLogLevel=chatty\n[Nope]\n");
	write_file(f, "memqosd.conf.d/50-x.conf", "[Control]\nStepPercent=1000\n");
	write_tenant(f, "good", "good", 10, "");
	write_file(f, "tenants.d/one.conf", "[Tenant]\nCgroup=/abs\nPriority=x\nMemoryHighMin=1G\nMemoryHighMax=1M\nFoo=bar\n");
	write_file(f, "tenants.d/two.conf", "[Tenant]\nPriority=200\nPolicy=magic\n");
	assert_load_fails(f,
		"@/memqosd.conf:2: DryRun=: invalid boolean 'perhaps' (expected yes/no, true/false, on/off, 1/0)",
		"@/memqosd.conf:3: LogLevel=: invalid log level 'chatty' (expected emerg, alert, crit, err, warning, notice, info, debug or 0..7)",
		"@/memqosd.conf:4: [Nope]: unknown section (expected [Daemon], [Control], [Forecast], [Sampling], [Reclaim], [Guard], [Metrics])",
		"@/memqosd.conf.d/50-x.conf:2: StepPercent=: '1000' is out of range (1..100)",
		"@/tenants.d/one.conf:2: Cgroup=: '/abs' is absolute, expected a path relative to the cgroup root",
		"@/tenants.d/one.conf:3: Priority=: invalid integer 'x'",
		"@/tenants.d/one.conf:6: Foo=: unknown key in section [Tenant]",
		"@/tenants.d/one.conf:4: MemoryHighMin=: 1G is larger than MemoryHighMax= (1M)",
		"@/tenants.d/two.conf:2: Priority=: '200' is out of range (0..100)",
		"@/tenants.d/two.conf:3: Policy=: unknown policy 'magic' (expected priority, observe or none)",
		"@/tenants.d/two.conf:0: Cgroup=: required key missing in section [Tenant]");
}

/* Errors are appended to what the caller already has. */
static void test_errors_appended(void **state)
{
	Fixture *f = *state;

	write_tenant(f, "a", "a", 1, "Bad=1\n");
	assert_int_equal(config_errors_add(&f->errors, "earlier", 1, NULL, "kept"), 0);
	assert_int_equal(config_load(f->dir, &f->config, &f->errors), -EINVAL);
	assert_errors(f, "earlier:1: kept", "@/tenants.d/a.conf:4: Bad=: unknown key in section [Tenant]");
}

/* ---------------------------------------------------------------------------------------------- */
/* Lookup and diffing                                                                               */

static void test_tenants_sorted_and_found(void **state)
{
	Fixture *f = *state;
	static const char *const order[] = { "a", "a.b", "a_c", "b", "z" };

	/* File order is "a.b.conf" < "a.conf" < "a_c.conf"; name order is a < a.b < a_c. */
	write_tenant(f, "z", "z", 1, "");
	write_tenant(f, "a.b", "ab", 1, "");
	write_tenant(f, "a", "a", 1, "");
	write_tenant(f, "a_c", "ac", 1, "");
	write_tenant(f, "b", "b", 1, "");
	load_ok(f);
	assert_int_equal(f->config->n_tenants, ELEMENTSOF(order));
	for (size_t i = 0; i < ELEMENTSOF(order); i++) {
		assert_string_equal(f->config->tenants[i]->name, order[i]);
		assert_ptr_equal(config_find_tenant(f->config, order[i]), f->config->tenants[i]);
	}
	assert_null(config_find_tenant(f->config, "c"));
	assert_null(config_find_tenant(f->config, ""));
	assert_null(config_find_tenant(f->config, NULL));
	assert_null(config_find_tenant(NULL, "a"));
}

static void assert_names(const char *const *actual, size_t n, const char *const *expected, size_t n_expected)
{
	assert_int_equal(n, n_expected);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(actual[i], expected[i]);
}
#define assert_diff_names(actual, n, ...)                                                \
	do {                                                                             \
		const char *const _x_[] = { __VA_ARGS__ };                               \
		assert_names((actual), (n), _x_, ELEMENTSOF(_x_));                       \
	} while (0)

static void test_diff(void **state)
{
	Fixture *f = *state;
	Config *old;
	ConfigDiff d = {};

	write_tenant(f, "keep", "keep", 50, "MemoryLow=1G\n");
	write_tenant(f, "gone", "gone", 50, "");
	write_tenant(f, "prio", "prio", 50, "");
	write_tenant(f, "cg", "cg", 50, "");
	write_tenant(f, "min", "min", 50, "MemoryHighMin=1G\n");
	write_tenant(f, "max", "max", 50, "MemoryHighMax=2G\n");
	write_tenant(f, "low", "low", 50, "MemoryLow=1G\n");
	write_tenant(f, "lowset", "lowset", 50, "");
	write_tenant(f, "pol", "pol", 50, "");
	write_tenant(f, "cosmetic", "cosmetic", 50, "");
	load_ok(f);
	old = TAKE_PTR(f->config);

	/* Initial start: everything is added. */
	assert_int_equal(config_diff(NULL, old, &d), 0);
	assert_diff_names(d.added, d.n_added, "cg", "cosmetic", "gone", "keep", "low", "lowset", "max", "min", "pol", "prio");
	assert_int_equal(d.n_removed, 0);
	assert_int_equal(d.n_changed, 0);
	config_diff_clear(&d);

	/* Same files again: nothing. */
	load_ok(f);
	assert_int_equal(config_diff(old, f->config, &d), 0);
	assert_int_equal(d.n_added + d.n_removed + d.n_changed, 0);
	config_diff_clear(&d);

	remove_file(f, "tenants.d/gone.conf");
	write_tenant(f, "new", "new", 50, "");
	write_tenant(f, "prio", "prio", 51, "");
	write_tenant(f, "cg", "cg2", 50, "");
	write_tenant(f, "min", "min", 50, "MemoryHighMin=1023M\n");
	write_tenant(f, "max", "max", 50, "MemoryHighMax=3G\n");
	write_tenant(f, "low", "low", 50, "MemoryLow=2G\n");
	write_tenant(f, "lowset", "lowset", 50, "MemoryLow=0\n");
	write_tenant(f, "pol", "pol", 50, "Policy=observe\n");
	/* Written differently, same meaning: not a change. */
	write_tenant(f, "cosmetic", "./cosmetic/", 50, "# comment\nMemoryHighMax=max\nPolicy=priority\n");
	load_ok(f);
	assert_int_equal(config_diff(old, f->config, &d), 0);
	assert_diff_names(d.added, d.n_added, "new");
	assert_diff_names(d.removed, d.n_removed, "gone");
	assert_diff_names(d.changed, d.n_changed, "cg", "low", "lowset", "max", "min", "pol", "prio");
	/* added/changed borrow from the new config, removed from the old one. */
	assert_ptr_equal(d.added[0], config_find_tenant(f->config, "new")->name);
	assert_ptr_equal(d.removed[0], config_find_tenant(old, "gone")->name);
	assert_ptr_equal(d.changed[0], config_find_tenant(f->config, "cg")->name);
	config_diff_clear(&d);
	assert_int_equal(d.n_added + d.n_removed + d.n_changed, 0);
	assert_null(d.added);

	/* Everything removed. */
	assert_int_equal(config_diff(old, NULL, &d), 0);
	assert_int_equal(d.n_removed, old->n_tenants);
	assert_int_equal(d.n_added + d.n_changed, 0);
	config_diff_clear(&d);

	config_free(old);
}

static void test_tenant_config_equal(void **state)
{
	TenantConfig a = {
		.name = (char *) "t", .file = (char *) "/x/t.conf", .cgroup_line = 2, .cgroup = (char *) "c",
		.priority = 5, .memory_high_min = 1, .memory_high_max = 2, .has_memory_low = false,
		.memory_low = 7, .policy = POLICY_NONE,
	};
	TenantConfig b = a;
	(void) state;

	assert_true(tenant_config_equal(&a, &b));
	b.file = (char *) "/y/t.conf";
	b.cgroup_line = 9;
	b.memory_low = 8; /* ignored while has_memory_low is false */
	assert_true(tenant_config_equal(&a, &b));
	b.has_memory_low = true;
	assert_false(tenant_config_equal(&a, &b));
	b = a;
	b.name = (char *) "u";
	assert_false(tenant_config_equal(&a, &b));
	assert_true(tenant_config_equal(NULL, NULL));
	assert_false(tenant_config_equal(&a, NULL));
}

/* ---------------------------------------------------------------------------------------------- */
/* Shipped examples                                                                                 */

static void test_shipped_conf_validates(void **state)
{
	Fixture *f = *state;
	const TenantConfig *web, *batch;
	ControlParams defaults;

	assert_int_equal(config_load(MEMQOSD_SOURCE_ROOT "/conf", &f->config, &f->errors), 0);
	assert_int_equal(f->errors.n, 0);
	assert_true(f->config->n_tenants >= 2);
	for (size_t i = 0; i < f->config->n_tenants; i++) {
		const TenantConfig *t = f->config->tenants[i];

		assert_true(t->memory_high_min <= t->memory_high_max);
		assert_true(t->memory_high_max != MEMQOSD_BYTES_MAX); /* examples show real bounds */
	}
	web = config_find_tenant(f->config, "web");
	batch = config_find_tenant(f->config, "batch");
	assert_non_null(web);
	assert_non_null(batch);
	assert_true(web->priority > batch->priority);
	assert_string_not_equal(web->cgroup, batch->cgroup);

	/* memqosd.conf ships every key commented out: the daemon runs on defaults. */
	config_control_defaults(&defaults);
	assert_control_equal(&f->config->daemon.control, &defaults);
	assert_false(f->config->daemon.dry_run);
	assert_null(f->config->daemon.cgroup_root);
}

/*
 * The defaults documented in conf/memqosd.conf ("#Key=value" lines) are the real ones: uncomment
 * every such line into a fresh memqosd.conf and the result must equal the built-in defaults.
 */
static void test_shipped_conf_documents_defaults(void **state)
{
	Fixture *f = *state;
	FILE *in, *out;
	char line[512], path[PATH_MAX];
	ControlParams defaults;
	ForecastParams forecast;
	SamplingParams sampling;
	ReclaimParams reclaim;
	GuardParams guard;
	unsigned n_keys = 0;

	in = fopen(MEMQOSD_SOURCE_ROOT "/conf/memqosd.conf", "r");
	assert_non_null(in);
	snprintf(path, sizeof(path), "%s/memqosd.conf", f->dir);
	out = fopen(path, "w");
	assert_non_null(out);
	while (fgets(line, sizeof(line), in)) {
		if (line[0] == '#' && line[1] >= 'A' && line[1] <= 'Z' && strchr(line, '=')) {
			fputs(line + 1, out);
			n_keys++;
		} else if (line[0] == '[')
			fputs(line, out);
	}
	fclose(in);
	assert_int_equal(fclose(out), 0);

	/* Every key in the table is documented: 4 in [Daemon], 11 in [Control], 17 in [Forecast],
	 * 10 in [Sampling], 8 in [Reclaim], 14 in [Guard], 1 in [Metrics]. */
	assert_int_equal(n_keys, 65);
	load_ok(f);
	config_control_defaults(&defaults);
	assert_control_equal(&f->config->daemon.control, &defaults);
	config_forecast_defaults(&forecast);
	assert_true(forecast_params_equal(&f->config->daemon.forecast, &forecast));
	config_sampling_defaults(&sampling);
	assert_true(sampling_params_equal(&f->config->daemon.sampling, &sampling));
	config_reclaim_defaults(&reclaim);
	assert_true(reclaim_params_equal(&f->config->daemon.reclaim, &reclaim));
	config_guard_defaults(&guard);
	assert_true(guard_params_equal(&f->config->daemon.guard, &guard));
	assert_false(f->config->daemon.dry_run);
	assert_int_equal(f->config->daemon.log_level, LOG_INFO);
	assert_null(f->config->daemon.cgroup_root);
	assert_int_equal(f->config->daemon.template_instances_max, CONFIG_TEMPLATE_INSTANCES_MAX_DEFAULT);
}

/* Templates: a Cgroup= with glob characters; TemplateInstancesMax= and its range. */
static void test_templates(void **state)
{
	Fixture *f = *state;
	const TenantConfig *t;
	TenantConfig *copy;

	write_file(f, "memqosd.conf", "[Daemon]\nTemplateInstancesMax=7\n");
	write_tenant(f, "pods", "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod*.slice", 10, "");
	write_tenant(f, "web", "tenants/web", 80, "");
	load_ok(f);
	assert_int_equal(f->config->daemon.template_instances_max, 7);
	t = config_find_tenant(f->config, "pods");
	assert_true(t->is_template);
	assert_null(t->template);
	assert_false(config_find_tenant(f->config, "web")->is_template);

	/* A deep copy is equal and independent. */
	copy = tenant_config_dup(t);
	assert_non_null(copy);
	assert_true(tenant_config_equal(copy, t));
	assert_ptr_not_equal(copy->cgroup, t->cgroup);
	copy->template = strdup("pods");
	assert_false(tenant_config_equal(copy, t));
	tenant_config_free(copy);

	config_free(f->config);
	f->config = NULL;
	write_file(f, "memqosd.conf", "[Daemon]\nTemplateInstancesMax=0\n");
	assert_int_equal(config_load(f->dir, &f->config, &f->errors), -EINVAL);
	assert_int_equal(f->errors.n, 1);
	assert_non_null(strstr(f->errors.lines[0], "memqosd.conf:2: TemplateInstancesMax=: '0' is out of range (1..65536)"));
}

/* [Forecast]: defaults from memqosd.conf, overridden per tenant; cross-key checks; the hook exists. */
static void test_forecast(void **state)
{
	Fixture *f = *state;
	char conf[1024];

	write_file(f, "memqosd.conf", "[Forecast]\nWarningSec=90s\nHook=/bin/true\n");
	write_tenant(f, "a", "a", 10, "");
	write_tenant(f, "b", "b", 20, "[Forecast]\nEnable=no\nWarningSec=30s\nCriticalSec=5s\nHook=\n");
	load_ok(f);
	assert_int_equal(f->config->daemon.forecast.warning_usec, 90 * USEC_PER_SEC);
	assert_int_equal(f->config->tenants[0]->forecast.warning_usec, 90 * USEC_PER_SEC);
	assert_true(f->config->tenants[0]->forecast.enable);
	assert_string_equal(f->config->tenants[0]->forecast.hook, "/bin/true");
	assert_false(f->config->tenants[1]->forecast.enable);
	assert_int_equal(f->config->tenants[1]->forecast.warning_usec, 30 * USEC_PER_SEC);
	assert_int_equal(f->config->tenants[1]->forecast.critical_usec, 5 * USEC_PER_SEC);
	assert_null(f->config->tenants[1]->forecast.hook);
	assert_false(tenant_config_equal(f->config->tenants[0], f->config->tenants[1]));
	config_free(f->config);
	f->config = NULL;

	/* Bad values, an inconsistent pair, hooks that are missing or not executable. */
	write_file(f, "memqosd.conf", "[Forecast]\nWarningSec=5s\nSampleSec=10ms\nHook=relative/path\n");
	write_tenant(f, "a", "a", 10, "[Forecast]\nHook=/nonexistent/hook\n");
	snprintf(conf, sizeof(conf), "[Forecast]\nHook=%s/memqosd.conf\nWatchPercent=0\n", f->dir);
	write_tenant(f, "b", "b", 20, conf);
	assert_load_fails(f,
		"@/memqosd.conf:3: SampleSec=: '10ms' is out of range (100ms..1min)",
		"@/memqosd.conf:4: Hook=: 'relative/path' is not an absolute path",
		"@/memqosd.conf:2: WarningSec=: CriticalSec= (10s) must be shorter than WarningSec= (5s)",
		"@/tenants.d/a.conf:5: Hook=: /nonexistent/hook: No such file or directory",
		"@/tenants.d/b.conf:5: Hook=: @/memqosd.conf is not an executable file",
		"@/tenants.d/b.conf:6: WatchPercent=: '0' is out of range (1..100)");

	/* A profile that makes the inherited values inconsistent is blamed on its own line. */
	write_file(f, "memqosd.conf", "");
	write_tenant(f, "a", "a", 10, "");
	write_tenant(f, "b", "b", 20, "[Forecast]\nWatchSec=30s\n");
	assert_load_fails(f, "@/tenants.d/b.conf:5: WatchSec=: WarningSec= (1min) must not be longer than WatchSec= (30s)");
}

/* [Sampling]: off by default, defaults from memqosd.conf, overridden per tenant, FILE:LINE errors. */
static void test_sampling(void **state)
{
	Fixture *f = *state;

	write_file(f, "memqosd.conf", "[Sampling]\nSampleSize=512K\nWindowSec=20min\n");
	write_tenant(f, "a", "a", 10, "");
	write_tenant(f, "b", "b", 20, "[Sampling]\nEnable=yes\nLargeAllocation=0\nStackDepth=16\nMaxStacks=64\n"
				      "GrowthAlert=10M\nKernelStacks=yes\n");
	load_ok(f);
	assert_false(f->config->daemon.sampling.enable);
	assert_int_equal(f->config->daemon.sampling.sample_bytes, 512 << 10);
	assert_false(f->config->tenants[0]->sampling.enable);
	assert_int_equal(f->config->tenants[0]->sampling.sample_bytes, 512 << 10);
	assert_int_equal(f->config->tenants[0]->sampling.window_usec, 1200 * USEC_PER_SEC);
	assert_int_equal(f->config->tenants[0]->sampling.large_bytes, 256 << 10);
	assert_true(f->config->tenants[1]->sampling.enable);
	assert_int_equal(f->config->tenants[1]->sampling.large_bytes, 0);
	assert_int_equal(f->config->tenants[1]->sampling.stack_depth, 16);
	assert_int_equal(f->config->tenants[1]->sampling.max_stacks, 64);
	assert_int_equal(f->config->tenants[1]->sampling.growth_alert_bytes, 10 << 20);
	assert_true(f->config->tenants[1]->sampling.kernel_stacks);
	assert_int_equal(f->config->tenants[1]->sampling.sample_bytes, 512 << 10);
	assert_false(tenant_config_equal(f->config->tenants[0], f->config->tenants[1]));
	config_free(f->config);
	f->config = NULL;

	write_file(f, "memqosd.conf", "[Sampling]\nEnable=maybe\nSampleSize=1K\nWindowSec=10s\n");
	write_tenant(f, "a", "a", 10, "[Sampling]\nStackDepth=0\nMaxStacks=1000000\nSampleSize=max\nBogus=1\n");
	assert_load_fails(f,
		"@/memqosd.conf:2: Enable=: invalid boolean 'maybe' (expected yes/no, true/false, on/off, 1/0)",
		"@/memqosd.conf:3: SampleSize=: '1K' is out of range (4K..1G)",
		"@/memqosd.conf:4: WindowSec=: '10s' is out of range (1min..24h)",
		"@/tenants.d/a.conf:5: StackDepth=: '0' is out of range (1..64)",
		"@/tenants.d/a.conf:6: MaxStacks=: '1000000' is out of range (16..65536)",
		"@/tenants.d/a.conf:7: SampleSize=: invalid size 'max' (expected bytes or a number with suffix K, M, G or T)",
		"@/tenants.d/a.conf:8: Bogus=: unknown key in section [Sampling]");
}

/* [Reclaim]: off by default, defaults from memqosd.conf, overridden per tenant, FILE:LINE errors. */
static void test_reclaim(void **state)
{
	static const struct {
		const char *s;
		int r;
		unsigned v;
	} pct[] = {
		{ "0.1", 0, 10 }, { "0.10", 0, 10 }, { "0.25%", 0, 25 }, { "2", 0, 200 }, { "100%", 0, 10000 },
		{ "0.05", 0, 5 }, { "", -EINVAL, 0 }, { ".5", -EINVAL, 0 }, { "0.125", -EINVAL, 0 },
		{ "1.", -EINVAL, 0 }, { "-1", -EINVAL, 0 }, { "1%%", -EINVAL, 0 }, { "1 %", -EINVAL, 0 },
		{ "99999999999", -ERANGE, 0 },
	};
	Fixture *f = *state;

	for (size_t i = 0; i < ELEMENTSOF(pct); i++) {
		unsigned v = 4242;
		int r = parse_hundredths(pct[i].s, &v);

		if (r != pct[i].r || (r == 0 && v != pct[i].v) || (r < 0 && v != 4242))
			fail_msg("parse_hundredths(\"%s\") = %d, %u", pct[i].s, r, v);
	}

	write_file(f, "memqosd.conf", "[Reclaim]\nPressureTarget=0.2%\nHoldSec=10s\n");
	write_tenant(f, "a", "a", 10, "");
	write_tenant(f, "b", "b", 20, "[Reclaim]\nEnable=yes\nStepPercent=5\nStepMax=16M\nFloor=100M\n"
				      "IntervalSec=500ms\nRefaultPercent=20\n");
	load_ok(f);
	assert_false(f->config->daemon.reclaim.enable);
	assert_int_equal(f->config->daemon.reclaim.pressure_target, 20);
	assert_false(f->config->tenants[0]->reclaim.enable);
	assert_int_equal(f->config->tenants[0]->reclaim.pressure_target, 20);
	assert_int_equal(f->config->tenants[0]->reclaim.hold_usec, 10 * USEC_PER_SEC);
	assert_int_equal(f->config->tenants[0]->reclaim.step_percent, 2);
	assert_true(f->config->tenants[1]->reclaim.enable);
	assert_int_equal(f->config->tenants[1]->reclaim.pressure_target, 20);
	assert_int_equal(f->config->tenants[1]->reclaim.step_percent, 5);
	assert_int_equal(f->config->tenants[1]->reclaim.step_max_bytes, 16 << 20);
	assert_int_equal(f->config->tenants[1]->reclaim.floor_bytes, 100 << 20);
	assert_int_equal(f->config->tenants[1]->reclaim.interval_usec, 500 * USEC_PER_MSEC);
	assert_int_equal(f->config->tenants[1]->reclaim.refault_percent, 20);
	assert_false(tenant_config_equal(f->config->tenants[0], f->config->tenants[1]));
	config_free(f->config);
	f->config = NULL;

	write_file(f, "memqosd.conf", "[Reclaim]\nEnable=sometimes\nPressureTarget=0\nStepMax=1K\n");
	write_tenant(f, "a", "a", 10, "[Reclaim]\nStepPercent=60\nIntervalSec=10ms\nHoldSec=0\n"
				      "PressureTarget=0.125\nRefaultPercent=0\nFloor=max\nBogus=1\n");
	assert_load_fails(f,
		"@/memqosd.conf:2: Enable=: invalid boolean 'sometimes' (expected yes/no, true/false, on/off, 1/0)",
		"@/memqosd.conf:3: PressureTarget=: invalid percentage '0' (expected 0.01..100.00, at most two "
		"decimals, e.g. 0.1 or 0.25%)",
		"@/memqosd.conf:4: StepMax=: '1K' is out of range (64K..4G)",
		"@/tenants.d/a.conf:5: StepPercent=: '60' is out of range (1..50)",
		"@/tenants.d/a.conf:6: IntervalSec=: '10ms' is out of range (100ms..1h)",
		"@/tenants.d/a.conf:7: HoldSec=: '0' is out of range (1s..1h)",
		"@/tenants.d/a.conf:8: PressureTarget=: invalid percentage '0.125' (expected 0.01..100.00, at most two "
		"decimals, e.g. 0.1 or 0.25%)",
		"@/tenants.d/a.conf:9: RefaultPercent=: '0' is out of range (1..100)",
		"@/tenants.d/a.conf:10: Floor=: invalid size 'max' (expected bytes or a number with suffix K, M, G or T)",
		"@/tenants.d/a.conf:11: Bogus=: unknown key in section [Reclaim]");
}

/* [Metrics] Listen=: the parser (parse-util.c) and the key. */
static void test_parse_listen(void **state)
{
	static const char *const bad[] = {
		"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:80x", ":9262",
		"localhost:9262", "::1:9262", "[::1]", "[::1]9262", "[]:9262", "[127.0.0.1]:9262", "1.2.3:9262",
		"127.0.0.1:-1", "127.0.0.1: 80",
	};
	struct sockaddr_storage sa;
	socklen_t len;
	char buf[INET6_ADDRSTRLEN];

	(void) state;
	assert_int_equal(parse_listen_address("127.0.0.1:9262", &sa, &len), 0);
	assert_int_equal(sa.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *) &sa)->sin_port), 9262);
	assert_string_equal(inet_ntop(AF_INET, &((struct sockaddr_in *) &sa)->sin_addr, buf, sizeof(buf)), "127.0.0.1");

	assert_int_equal(parse_listen_address("[::1]:65535", &sa, &len), 0);
	assert_int_equal(sa.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(((struct sockaddr_in6 *) &sa)->sin6_port), 65535);
	assert_string_equal(inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &sa)->sin6_addr, buf, sizeof(buf)), "::1");

	assert_int_equal(parse_listen_address("0.0.0.0:1", &sa, &len), 0);
	assert_int_equal(parse_listen_address("[::]:9262", &sa, &len), 0);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (parse_listen_address(bad[i], &sa, &len) != -EINVAL)
			fail_msg("Listen=%s accepted", bad[i]);
}

static void test_metrics_listen(void **state)
{
	Fixture *f = *state;

	write_file(f, "memqosd.conf", "[Metrics]\nListen=[::1]:9262\n");
	load_ok(f);
	assert_string_equal(f->config->daemon.metrics_listen, "[::1]:9262");

	write_file(f, "memqosd.conf", "[Metrics]\nListen=127.0.0.1:9262\n");
	write_file(f, "memqosd.conf.d/off.conf", "[Metrics]\nListen=\n");
	load_ok(f);
	assert_null(f->config->daemon.metrics_listen);

	write_file(f, "memqosd.conf", "[Metrics]\nListen=localhost:9262\n");
	remove_file(f, "memqosd.conf.d/off.conf");
	assert_load_fails(f, "@/memqosd.conf:2: Listen=: 'localhost:9262' is not ADDRESS:PORT (a numeric IPv4 "
			  "address, or an IPv6 address in [], and a port 1..65535)");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size_good),
		cmocka_unit_test(test_parse_size_bad),
		cmocka_unit_test(test_parse_int_range),
		cmocka_unit_test(test_parse_boolean),
		cmocka_unit_test(test_parse_duration_good),
		cmocka_unit_test(test_parse_duration_bad),
		cmocka_unit_test(test_parse_log_level),
		cmocka_unit_test(test_format_size),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_policy_kind_strings),
		cmocka_unit_test(test_config_errors_add),
		cmocka_unit_test(test_control_defaults),
		T(test_forecast),
		T(test_sampling),
		T(test_reclaim),
		cmocka_unit_test(test_tenant_config_equal),
		T(test_load_empty_dir),
		T(test_load_empty_subdirs),
		T(test_load_missing_dir),
		T(test_load_dir_is_file),
		T(test_load_not_directories),
		T(test_load_dir_trailing_slash),
		T(test_daemon_all_keys),
		T(test_dropin_precedence),
		T(test_dropin_without_main_and_reset),
		T(test_control_threshold_longer_than_window),
		T(test_control_bad_values),
		T(test_daemon_unknown_section_and_key),
		T(test_daemon_duplicate_key),
		T(test_tenant_all_keys),
		T(test_tenant_defaults),
		T(test_tenant_syntax_details),
		T(test_tenant_cgroup_normalised),
		T(test_tenant_cgroup_escapes),
		T(test_tenant_cgroup_spaces),
		T(test_nul_byte),
		T(test_not_regular_files_do_not_block),
		T(test_file_too_large),
		T(test_many_errors_bounded),
		T(test_tenant_same_cgroup),
		T(test_tenant_missing_required),
		T(test_tenant_bad_numbers),
		T(test_tenant_bad_sizes),
		T(test_guard),
		T(test_tenant_min_above_max),
		T(test_tenant_low_above_max),
		T(test_tenant_bad_policy),
		T(test_tenant_unknown_section_and_key),
		T(test_tenant_duplicate_key),
		T(test_tenant_syntax_errors),
		T(test_tenant_names),
		T(test_tenant_not_regular_file),
		T(test_all_errors_collected),
		T(test_errors_appended),
		T(test_tenants_sorted_and_found),
		T(test_diff),
		T(test_shipped_conf_validates),
		T(test_shipped_conf_documents_defaults),
		T(test_metrics_listen),
		cmocka_unit_test(test_parse_listen),
		T(test_templates),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
