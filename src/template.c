/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "template.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define GLOB_CHARS "*?["

/* Component boundaries: *p at the start of a component, returns its length and advances. */
static size_t next_component(const char **p)
{
	size_t l;

	*p += strspn(*p, "/");
	l = strcspn(*p, "/");
	return l;
}

static bool component_has_glob(const char *c, size_t l)
{
	for (size_t i = 0; i < l; i++) {
		if (c[i] == '\\') {
			i++; /* an escaped character is literal */
			continue;
		}
		if (strchr(GLOB_CHARS, c[i]))
			return true;
	}
	return false;
}

bool template_is_pattern(const char *cgroup)
{
	return cgroup && template_literal_depth(cgroup) < template_depth(cgroup);
}

size_t template_depth(const char *pattern)
{
	size_t n = 0;

	for (const char *p = pattern;;) {
		size_t l = next_component(&p);

		if (l == 0)
			return n;
		n++;
		p += l;
	}
}

size_t template_literal_depth(const char *pattern)
{
	size_t n = 0;

	for (const char *p = pattern;;) {
		size_t l = next_component(&p);

		if (l == 0 || component_has_glob(p, l))
			return n;
		n++;
		p += l;
	}
}

/* One component: brackets closed, no dangling escape. */
static int component_check(const char *c, size_t l, const char **ret_why)
{
	for (size_t i = 0; i < l; i++) {
		if (c[i] == '\\') {
			if (i + 1 >= l) {
				*ret_why = "a '\\' at the end of a path component escapes nothing";
				return -EINVAL;
			}
			i++;
		} else if (c[i] == '[') {
			size_t j = i + 1;

			/* "[!]...]" and "[]...]": a ']' right after the opening is a member, not the end. */
			if (j < l && (c[j] == '!' || c[j] == '^'))
				j++;
			if (j < l && c[j] == ']')
				j++;
			while (j < l && c[j] != ']')
				j++;
			if (j >= l) {
				*ret_why = "a '[' is not closed by a ']' within its path component (a pattern never matches across '/')";
				return -EINVAL;
			}
			if (j == i + 1 || (j == i + 2 && (c[i + 1] == '!' || c[i + 1] == '^'))) {
				*ret_why = "empty bracket expression '[]'";
				return -EINVAL;
			}
			i = j;
		}
	}
	return 0;
}

int template_pattern_check(const char *pattern, const char **ret_why)
{
	for (const char *p = pattern;;) {
		size_t l = next_component(&p);
		int r;

		if (l == 0)
			return 0;
		if (l == 2 && p[0] == '*' && p[1] == '*') {
			*ret_why = "'**' is not supported: a pattern component matches exactly one path component";
			return -EINVAL;
		}
		r = component_check(p, l, ret_why);
		if (r < 0)
			return r;
		p += l;
	}
}

int template_component(const char *path, size_t i, char *buf, size_t n)
{
	for (const char *p = path;;) {
		size_t l = next_component(&p);

		if (l == 0)
			return -ENOENT;
		if (i-- == 0) {
			if (l + 1 > n)
				return -ENAMETOOLONG;
			memcpy(buf, p, l);
			buf[l] = '\0';
			return (int) l;
		}
		p += l;
	}
}

bool template_component_match(const char *pat, const char *name)
{
	return fnmatch(pat, name, FNM_PERIOD) == 0;
}

bool template_match(const char *pattern, const char *path)
{
	const char *p = pattern, *q = path;

	for (;;) {
		size_t lp = next_component(&p), lq = next_component(&q);
		_cleanup_free_ char *cp = NULL, *cq = NULL;

		if (lp == 0 || lq == 0)
			return lp == lq;
		cp = strndup(p, lp);
		cq = strndup(q, lq);
		if (!cp || !cq || !template_component_match(cp, cq))
			return false;
		p += lp;
		q += lq;
	}
}

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

int template_instance_name(const char *template_name, const char *pattern, const char *path, char **ret)
{
	size_t skip = template_literal_depth(pattern), tl = strlen(template_name);
	const char *s = path;
	char *out, *o;

	if (!template_match(pattern, path))
		return -EINVAL;
	/* Skip the literal prefix's components (they are the same for every instance). */
	for (size_t i = 0; i < skip; i++) {
		size_t l = next_component(&s);

		s += l;
	}
	s += strspn(s, "/");

	out = malloc(tl + 1 + 3 * strlen(s) + 1);
	if (!out)
		return -ENOMEM;
	memcpy(out, template_name, tl);
	o = out + tl;
	*o++ = TEMPLATE_NAME_SEPARATOR;
	for (; *s; s++) {
		if (name_char_ok(*s))
			*o++ = *s;
		else
			o += sprintf(o, "_%02x", (unsigned char) *s);
	}
	*o = '\0';
	*ret = out;
	return 0;
}

bool template_of_instance(const char *name, char *buf, size_t n)
{
	const char *at = strchr(name, TEMPLATE_NAME_SEPARATOR);

	if (!at || (size_t) (at - name) + 1 > n)
		return false;
	memcpy(buf, name, (size_t) (at - name));
	buf[at - name] = '\0';
	return true;
}
