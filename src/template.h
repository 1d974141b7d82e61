/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Template tenants: pure pattern matching and instance naming (no I/O; src/instances.[ch] wires it).
 *
 * A profile whose Cgroup= has a shell glob character ('*', '?' or '[') in any path component is a
 * template. The pattern is matched component by component with fnmatch(3) (flags FNM_PERIOD: a
 * leading '.' is matched only literally); a component never matches across '/'. A template has no
 * cgroup of its own: every cgroup that matches the whole pattern gets a tenant instance.
 *
 * Instance names: TEMPLATE@SUFFIX, where SUFFIX is the part of the cgroup's path from the first
 * component that has a glob character on, with every byte outside [A-Za-z0-9.-] written as '_'
 * followed by two lowercase hex digits ('/' is "_2f", '_' is "_5f", '@' is "_40"). The rule is
 * reversible (two cgroups never share a name), and the result only holds characters that D-Bus
 * strings, journal field values, file names and shell words take as they are. Profile names cannot
 * hold '@', so an instance name never equals a profile's, and the template of an instance is the
 * part of its name before the '@'.
 */

#include <stdbool.h>
#include <stddef.h>

#define TEMPLATE_NAME_SEPARATOR '@'

/* Does this (normalised) Cgroup= value have a glob character in any component? */
bool template_is_pattern(const char *cgroup);

/*
 * Validate a pattern: every component must be a well-formed fnmatch pattern (a '[' is closed by a
 * ']', a trailing '\' escapes nothing). 0 if valid; -EINVAL with a description (static string) in
 * *ret_why otherwise.
 */
int template_pattern_check(const char *pattern, const char **ret_why);

/* Number of leading components without glob characters (the literal prefix). */
size_t template_literal_depth(const char *pattern);

/* Number of components. */
size_t template_depth(const char *pattern);

/*
 * Component i (0-based) of a normalised path into buf (NUL-terminated, at most n bytes with the
 * NUL). Returns its length, -ENOENT if there is no component i, -ENAMETOOLONG if it does not fit.
 */
int template_component(const char *path, size_t i, char *buf, size_t n);

/* Does name (one path component) match the pattern component pat? */
bool template_component_match(const char *pat, const char *name);

/* Does the whole normalised path match the pattern, component by component? */
bool template_match(const char *pattern, const char *path);

/*
 * The instance name of cgroup path (which matches pattern) under template template_name, as
 * described above. 0, or -ENOMEM / -EINVAL (path does not match).
 */
int template_instance_name(const char *template_name, const char *pattern, const char *path, char **ret);

/* The template part of an instance name into buf; false if name is not an instance name. */
bool template_of_instance(const char *name, char *buf, size_t n);
