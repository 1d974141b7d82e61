/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Value parsing and formatting helpers. The parsers themselves (parse_size(), parse_int_range(),
 * parse_boolean(), parse_duration(), parse_log_level()) are declared in config.h, which is their
 * public contract; they are implemented in parse-util.c together with the formatters below.
 */

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

/* Large enough for any format_size()/format_duration() result, including the NUL. */
#define FORMAT_VALUE_MAX 32

/*
 * Format bytes the way a profile would spell them: "max" for MEMQOSD_BYTES_MAX, else the largest
 * binary suffix (T, G, M, K) that represents the value exactly ("512M", "1536M", "1G"), else plain
 * bytes. parse_size(format_size(x)) == x for every x. Returns buf.
 */
const char *format_size(char buf[static FORMAT_VALUE_MAX], uint64_t bytes);

/*
 * Format microseconds with the largest unit (h, min, s, ms, us) that represents the value exactly:
 * "100ms", "1s", "90s", "2min". parse_duration(format_duration(x)) == x. Returns buf.
 */
const char *format_duration(char buf[static FORMAT_VALUE_MAX], uint64_t usec);

/*
 * Listen=: "ADDRESS:PORT" with an IPv4 address ("127.0.0.1:9262", "0.0.0.0:9262") or a bracketed
 * IPv6 address ("[::1]:9262", "[::]:9262"); port 1..65535. Numeric only (no host names: nothing is
 * resolved at start-up). -EINVAL on anything else.
 */
int parse_listen_address(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len);
