/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Helpers for unit tests that work in a mkdtemp() directory. Include after <cmocka.h>: failures
 * are cmocka assertions.
 */

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static inline int test_rm_entry_(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void) st;
	(void) type;
	(void) ftw;
	return remove(path);
}

/* Remove a directory tree without following symlinks; asserts that it worked. */
static inline void test_rm_rf(const char *dir)
{
	assert_int_equal(nftw(dir, test_rm_entry_, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* Write dir/rel with content, creating the directories in rel as needed. */
static inline void test_write_file(const char *dir, const char *rel, const char *content)
{
	char path[PATH_MAX];
	FILE *fp;

	assert_true((size_t) snprintf(path, sizeof(path), "%s/%s", dir, rel) < sizeof(path));
	for (char *s = strchr(path + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*s = '/';
	}
	fp = fopen(path, "we");
	assert_non_null(fp);
	assert_true(fputs(content, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}
