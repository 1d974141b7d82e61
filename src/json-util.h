/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small JSON writers shared by the client verbs (status, check, watch). */

#include <stdint.h>
#include <stdio.h>

/* s as a JSON string (quotes, escapes); NULL as null. */
void json_string(FILE *f, const char *s);
/*
 * A byte count: a number, the string "max" for UINT64_MAX (no limit), or null when !known.
 * (UINT64_MAX does not survive a double; "max" is what the cgroup file says.)
 */
void json_bytes(FILE *f, uint64_t v, int known);
