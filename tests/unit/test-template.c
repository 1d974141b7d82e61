/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for src/template.c: what is a pattern, pattern validation, component-by-component
 * matching (fnmatch per component, never across '/'), and the instance naming rule (escaping,
 * reversibility, the characters it may produce).
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "template.h"
#include "util.h"

static void test_is_pattern(void **state)
{
	(void) state;
	assert_false(template_is_pattern("tenants/web"));
	assert_false(template_is_pattern("system.slice/foo.service"));
	assert_true(template_is_pattern("system.slice/*.scope"));
	assert_true(template_is_pattern("a?/b"));
	assert_true(template_is_pattern("a/b/[xy]z"));
	assert_true(template_is_pattern("*/b"));
	/* An escaped glob character is literal. */
	assert_false(template_is_pattern("a/b\\*c"));
	assert_true(template_is_pattern("a/b\\*c*"));
}

static void test_depths(void **state)
{
	(void) state;
	assert_int_equal(template_depth("a/b/c"), 3);
	assert_int_equal(template_literal_depth("a/b/c"), 3);
	assert_int_equal(template_literal_depth("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod*.slice"), 2);
	assert_int_equal(template_literal_depth("*/b/c"), 0);
	assert_int_equal(template_literal_depth("a/*/c"), 1);
}

static void test_component(void **state)
{
	char buf[8];

	(void) state;
	assert_int_equal(template_component("a/bc/def", 0, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "a");
	assert_int_equal(template_component("a/bc/def", 2, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "def");
	assert_int_equal(template_component("a/bc/def", 3, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(template_component("a/abcdefgh", 1, buf, sizeof(buf)), -ENAMETOOLONG);
}

static void test_check(void **state)
{
	const char *why = NULL;

	(void) state;
	assert_int_equal(template_pattern_check("a/*.scope", &why), 0);
	assert_int_equal(template_pattern_check("a/[ab]x/[!c]*", &why), 0);
	assert_int_equal(template_pattern_check("a/[]x]", &why), 0);    /* ']' first is a member */
	assert_int_equal(template_pattern_check("a/[!]x]", &why), 0);
	assert_int_equal(template_pattern_check("a/x\\[y", &why), 0);   /* escaped: literal '[' */

	why = NULL;
	assert_int_equal(template_pattern_check("a/[bc/d]", &why), -EINVAL);
	assert_non_null(strstr(why, "'[' is not closed"));
	why = NULL;
	assert_int_equal(template_pattern_check("a/x[", &why), -EINVAL);
	assert_non_null(strstr(why, "'[' is not closed"));
	why = NULL;
	assert_int_equal(template_pattern_check("a/**/b", &why), -EINVAL);
	assert_non_null(strstr(why, "'**'"));
	why = NULL;
	assert_int_equal(template_pattern_check("a/b\\", &why), -EINVAL);
	assert_non_null(strstr(why, "escapes nothing"));
}

/* Component by component: '*' never crosses '/', depth must be equal. */
static void test_match(void **state)
{
	const char *kube = "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod*.slice";

	(void) state;
	assert_true(template_match(kube, "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0e1f_22.slice"));
	assert_false(template_match(kube, "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice"));
	assert_false(template_match(kube, "kubepods.slice/kubepods-besteffort.slice"));
	assert_false(template_match(kube, "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/c"));

	assert_true(template_match("system.slice/*.scope", "system.slice/run-r1.scope"));
	assert_false(template_match("system.slice/*.scope", "system.slice/a/b.scope"));  /* no '/' in '*' */
	assert_false(template_match("system.slice/*.scope", "system.slice/x.service"));
	assert_true(template_match("*/x", "a/x"));
	assert_false(template_match("*/x", "a/b/x"));
	assert_true(template_match("a/?", "a/b"));
	assert_false(template_match("a/?", "a/bc"));
	assert_true(template_match("a/[bc]d", "a/cd"));
	assert_false(template_match("a/[!bc]d", "a/cd"));
	/* FNM_PERIOD: '*' does not match a leading '.'. */
	assert_false(template_match("a/*", "a/.hidden"));
	assert_true(template_match("a/.*", "a/.hidden"));
	/* Literal components match only themselves. */
	assert_false(template_match("a/b", "a/c"));
	assert_true(template_match("a/b\\*", "a/b*"));
	assert_false(template_match("a/b\\*", "a/bc"));
}

static void test_component_match(void **state)
{
	(void) state;
	assert_true(template_component_match("run-*.scope", "run-r3f.scope"));
	assert_false(template_component_match("run-*.scope", "run-r3f.service"));
}

static void assert_name(const char *tmpl, const char *pattern, const char *path, const char *expected)
{
	_cleanup_free_ char *name = NULL;
	char back[64];

	assert_int_equal(template_instance_name(tmpl, pattern, path, &name), 0);
	assert_string_equal(name, expected);
	assert_true(template_of_instance(name, back, sizeof(back)));
	assert_string_equal(back, tmpl);
	/* Only [A-Za-z0-9._@-]: fine for D-Bus strings, journal values, file names, shell words. */
	assert_int_equal(strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-"), strlen(name));
}

static void test_instance_name(void **state)
{
	_cleanup_free_ char *a = NULL, *b = NULL, *x = NULL;

	(void) state;
	assert_name("k8s-besteffort", "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod*.slice",
		    "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0e1f_22.slice",
		    "k8s-besteffort@kubepods-besteffort-pod0e1f_5f22.slice");
	assert_name("scopes", "system.slice/*.scope", "system.slice/run-r1.scope", "scopes@run-r1.scope");
	/* Several glob components: the suffix keeps its '/', escaped. */
	assert_name("jobs", "batch.slice/*/job-?", "batch.slice/team a/job-1", "jobs@team_20a_2fjob-1");
	assert_name("all", "*/x", "a@b/x", "all@a_40b_2fx");
	assert_name("u", "*", "caf\xc3\xa9", "u@caf_c3_a9");

	/* Reversible: two cgroups that differ only where escaping happens get different names. */
	assert_int_equal(template_instance_name("t", "*/*", "a_2f/b", &a), 0);
	assert_int_equal(template_instance_name("t", "*/*", "a/2f_b", &b), 0);
	assert_string_not_equal(a, b);

	/* A path that does not match has no instance name. */
	assert_int_equal(template_instance_name("t", "a/*.scope", "a/b.service", &x), -EINVAL);
	assert_null(x);
}

static void test_of_instance(void **state)
{
	char buf[8];

	(void) state;
	assert_false(template_of_instance("web", buf, sizeof(buf)));
	assert_true(template_of_instance("pods@x", buf, sizeof(buf)));
	assert_string_equal(buf, "pods");
	assert_false(template_of_instance("longtemplate@x", buf, sizeof(buf)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_pattern),
		cmocka_unit_test(test_depths),
		cmocka_unit_test(test_component),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_component_match),
		cmocka_unit_test(test_instance_name),
		cmocka_unit_test(test_of_instance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
