/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Value parsers for configuration files (declared in config.h) and their inverse formatters
 * (parse-util.h). Pure functions: no I/O, no logging, no allocation. Every parser accepts exactly
 * the documented syntax with no surrounding whitespace (inih already strips it) and never writes
 * its output argument on failure.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"
#include "parse-util.h"
#include "util.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Parse a run of decimal digits at *s into *ret, advancing *s past them. No sign, no whitespace,
 * at least one digit. -EINVAL if there is no digit, -ERANGE on overflow of uint64_t.
 */
static int parse_digits(const char **s, uint64_t *ret)
{
	const char *p = *s;
	uint64_t v = 0;

	if (!is_digit(*p))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		unsigned d = (unsigned) (*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*s = p;
	*ret = v;
	return 0;
}

int parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		char suffix;
		unsigned shift;
	} suffixes[] = {
		{ 'K', 10 }, { 'M', 20 }, { 'G', 30 }, { 'T', 40 },
		{ 'k', 10 }, { 'm', 20 }, { 'g', 30 }, { 't', 40 },
	};
	unsigned shift = 0;
	uint64_t v;
	int r;

	if (!s)
		return -EINVAL;
	if (streq(s, "max") || streq(s, "infinity")) {
		*ret = MEMQOSD_BYTES_MAX;
		return 0;
	}

	r = parse_digits(&s, &v);
	if (r < 0)
		return r;
	if (*s != '\0') {
		size_t i;

		for (i = 0; i < ELEMENTSOF(suffixes); i++)
			if (*s == suffixes[i].suffix)
				break;
		if (i >= ELEMENTSOF(suffixes) || s[1] != '\0')
			return -EINVAL;
		shift = suffixes[i].shift;
	}
	if (shift > 0 && v > (UINT64_MAX >> shift))
		return -ERANGE;

	*ret = v << shift;
	return 0;
}

int parse_int_range(const char *s, int min, int max, int *ret)
{
	bool negative = false;
	uint64_t v;
	int64_t value;
	int r;

	if (!s)
		return -EINVAL;
	if (*s == '-') {
		negative = true;
		s++;
	}

	r = parse_digits(&s, &v);
	if (r < 0)
		return r;
	if (*s != '\0')
		return -EINVAL;
	if (v > (uint64_t) INT64_MAX)
		return -ERANGE;

	value = negative ? -(int64_t) v : (int64_t) v;
	if (value < min || value > max)
		return -ERANGE;

	*ret = (int) value;
	return 0;
}

int parse_boolean(const char *s, bool *ret)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcaseeq_ascii(s, yes[i])) {
			*ret = true;
			return 0;
		}
		if (strcaseeq_ascii(s, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* The first N_CANONICAL_UNITS entries are the ones format_duration() prints. */
#define N_CANONICAL_UNITS 5
static const struct {
	const char *name;
	uint64_t usec;
} duration_units[] = {
	/* Ordered largest first: format_duration() picks the first unit that divides the value. */
	{ "h", 3600 * USEC_PER_SEC },
	{ "min", 60 * USEC_PER_SEC },
	{ "s", USEC_PER_SEC },
	{ "ms", USEC_PER_MSEC },
	{ "us", 1 },
	/* Accepted spellings that are never printed. */
	{ "hour", 3600 * USEC_PER_SEC },
	{ "m", 60 * USEC_PER_SEC },
	{ "sec", USEC_PER_SEC },
	{ "msec", USEC_PER_MSEC },
	{ "usec", 1 },
};

int parse_duration(const char *s, uint64_t *ret_usec)
{
	uint64_t whole, unit = USEC_PER_SEC, frac_usec = 0;
	const char *frac = NULL;
	size_t n_frac = 0;
	int r;

	if (!s)
		return -EINVAL;

	r = parse_digits(&s, &whole);
	if (r < 0)
		return r;
	if (*s == '.') {
		s++;
		frac = s;
		while (is_digit(*s))
			s++;
		n_frac = (size_t) (s - frac);
		if (n_frac == 0)
			return -EINVAL;
	}

	if (*s != '\0') {
		size_t i;

		for (i = 0; i < ELEMENTSOF(duration_units); i++)
			if (streq(s, duration_units[i].name))
				break;
		if (i >= ELEMENTSOF(duration_units))
			return -EINVAL;
		unit = duration_units[i].usec;
	}

	if (whole > UINT64_MAX / unit)
		return -ERANGE;

	/* The fraction, rounded down to whole microseconds; digits beyond the 9th cannot matter. */
	if (frac) {
		uint64_t digits = 0, scale = 1;

		for (size_t i = 0; i < n_frac && i < 9; i++) {
			digits = digits * 10 + (uint64_t) (frac[i] - '0');
			scale *= 10;
		}
		/* unit <= 3.6e9 and digits < 1e9, so the product fits in 64 bits. */
		frac_usec = unit * digits / scale;
	}

	if (whole * unit > UINT64_MAX - frac_usec)
		return -ERANGE;

	*ret_usec = whole * unit + frac_usec;
	return 0;
}

/* A non-negative decimal with at most two decimals and an optional '%', in hundredths. */
int parse_hundredths(const char *s, unsigned *ret)
{
	uint64_t whole, frac = 0;
	const char *p = s;
	int r;

	if (!s)
		return -EINVAL;
	r = parse_digits(&p, &whole);
	if (r < 0)
		return r;
	if (*p == '.') {
		const char *q = ++p;

		r = parse_digits(&p, &frac);
		if (r < 0 || p - q > 2)
			return -EINVAL;
		if (p - q == 1)
			frac *= 10;
	}
	if (*p == '%')
		p++;
	if (*p != '\0')
		return -EINVAL;
	if (whole > UINT32_MAX / 100 - 1)
		return -ERANGE;
	*ret = (unsigned) (whole * 100 + frac);
	return 0;
}

int parse_log_level(const char *s, int *ret)
{
	static const char *const names[] = {
		[LOG_EMERG] = "emerg",   [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
		[LOG_ERR] = "err",       [LOG_WARNING] = "warning",
		[LOG_NOTICE] = "notice", [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
	};

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (strcaseeq_ascii(s, names[i])) {
			*ret = (int) i;
			return 0;
		}

	return parse_int_range(s, LOG_EMERG, LOG_DEBUG, ret);
}

const char *format_size(char buf[static FORMAT_VALUE_MAX], uint64_t bytes)
{
	static const struct {
		char suffix;
		unsigned shift;
	} suffixes[] = { { 'T', 40 }, { 'G', 30 }, { 'M', 20 }, { 'K', 10 } };

	if (bytes == MEMQOSD_BYTES_MAX) {
		snprintf(buf, FORMAT_VALUE_MAX, "max");
		return buf;
	}
	for (size_t i = 0; bytes > 0 && i < ELEMENTSOF(suffixes); i++) {
		uint64_t unit = UINT64_C(1) << suffixes[i].shift;

		if (bytes % unit == 0) {
			snprintf(buf, FORMAT_VALUE_MAX, "%" PRIu64 "%c", bytes / unit, suffixes[i].suffix);
			return buf;
		}
	}
	snprintf(buf, FORMAT_VALUE_MAX, "%" PRIu64, bytes);
	return buf;
}

const char *format_duration(char buf[static FORMAT_VALUE_MAX], uint64_t usec)
{
	if (usec == 0) {
		snprintf(buf, FORMAT_VALUE_MAX, "0");
		return buf;
	}
	/* Canonical units are ordered largest first and end with "us", which divides everything. */
	for (size_t i = 0; i < N_CANONICAL_UNITS; i++)
		if (usec % duration_units[i].usec == 0) {
			snprintf(buf, FORMAT_VALUE_MAX, "%" PRIu64 "%s", usec / duration_units[i].usec,
				 duration_units[i].name);
			break;
		}
	return buf;
}

static int parse_port(const char *s, in_port_t *ret)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > 65535)
		return -EINVAL;
	*ret = htons((uint16_t) v);
	return 0;
}

int parse_listen_address(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	in_port_t port;
	size_t n;

	if (!s)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (s[0] == '[') {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *) ret;
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		n = (size_t) (close - s - 1);
		if (n == 0 || n >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (parse_port(close + 2, &port) < 0 || inet_pton(AF_INET6, host, &sa->sin6_addr) != 1)
			return -EINVAL;
		sa->sin6_family = AF_INET6;
		sa->sin6_port = port;
		*ret_len = sizeof(*sa);
		return 0;
	}

	struct sockaddr_in *sa = (struct sockaddr_in *) ret;

	colon = strrchr(s, ':');
	if (!colon)
		return -EINVAL;
	n = (size_t) (colon - s);
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	if (parse_port(colon + 1, &port) < 0 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	sa->sin_family = AF_INET;
	sa->sin_port = port;
	*ret_len = sizeof(*sa);
	return 0;
}
