/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/*
 * memqosd check [--config-dir DIR]: load and validate the whole configuration (NULL: the default
 * directory). Every problem goes to stderr, one "FILE:LINE: Key=: what is wrong" per line, and the
 * result is 1. Otherwise one line per tenant goes to stdout and the result is 0. The return value is
 * meant as the process exit status.
 *
 * Templates (a Cgroup= pattern) are listed as "NAME: template=PATTERN ...". With json, one object
 * goes to stdout either way: {"valid":b,"error_count":n,"errors":["FILE:LINE: Key=: ..."...],
 * "tenants":[{"name","kind" ("tenant" | "template"),"cgroup","file","priority","memory_high_min",
 * "memory_high_max","memory_low","policy"}...]} (sizes as in status --json).
 */
int verb_check(const char *config_dir, bool json);
