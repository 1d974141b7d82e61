/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * memqosd check [--config-dir DIR]: load and validate the whole configuration (NULL: the default
 * directory). Every problem goes to stderr, one "FILE:LINE: Key=: what is wrong" per line, and the
 * result is 1. Otherwise one line per tenant goes to stdout and the result is 0. The return value is
 * meant as the process exit status.
 */
int verb_check(const char *config_dir);
