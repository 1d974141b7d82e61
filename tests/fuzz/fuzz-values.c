/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The value parsers of profiles (parse_size, parse_duration, parse_int_range, parse_boolean,
 * parse_log_level) and of cgroup files (cgroup_parse_u64), checked against references:
 *  - parse(format(x)) == x for every x (format_size, format_duration, the kernel's "max"/decimal);
 *  - a value that parses re-formats to text that parses to the same value;
 *  - parse_int_range agrees with strtol on the decimal strings it accepts, and never returns a value
 *    outside its range; failures never write the output.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>

#include "cgroup.h"
#include "config.h"
#include "fuzz-util.h"
#include "parse-util.h"

#define SENTINEL UINT64_C(0x5a5a5a5a5a5a5a5a)

static void check_size(const char *s)
{
	char buf[FORMAT_VALUE_MAX];
	uint64_t v = SENTINEL, w = SENTINEL;
	int r = parse_size(s, &v);

	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
	if (r < 0) {
		FUZZ_CHECK(v == SENTINEL);
		return;
	}
	FUZZ_CHECK(parse_size(format_size(buf, v), &w) == 0 && w == v);
}

static void check_duration(const char *s)
{
	char buf[FORMAT_VALUE_MAX];
	uint64_t v = SENTINEL, w = SENTINEL;
	int r = parse_duration(s, &v);

	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
	if (r < 0) {
		FUZZ_CHECK(v == SENTINEL);
		return;
	}
	FUZZ_CHECK(parse_duration(format_duration(buf, v), &w) == 0 && w == v);
}

static void check_int(const char *s, int min, int max)
{
	int v = 12345, r = parse_int_range(s, min, max, &v);
	char *end;
	long ref;

	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
	if (r < 0) {
		FUZZ_CHECK(v == 12345);
		return;
	}
	FUZZ_CHECK(v >= min && v <= max);
	errno = 0;
	ref = strtol(s, &end, 10);
	FUZZ_CHECK(errno == 0 && *end == '\0' && ref == v);
}

static void check_cgroup_u64(const char *s)
{
	uint64_t v = SENTINEL, w = SENTINEL;
	char buf[32];
	int r = cgroup_parse_u64(s, &v);

	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
	if (r < 0) {
		FUZZ_CHECK(v == SENTINEL);
		return;
	}
	/* What cgroup_write_u64() writes. */
	if (v == UINT64_MAX)
		snprintf(buf, sizeof(buf), "max\n");
	else
		snprintf(buf, sizeof(buf), "%" PRIu64 "\n", v);
	FUZZ_CHECK(cgroup_parse_u64(buf, &w) == 0 && w == v);
	/* Accepted text holds a number or max and nothing else but whitespace. */
	FUZZ_CHECK(!strstr(s, "max") || v == UINT64_MAX);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s = fuzz_strndup(data, size);
	uint64_t x = 0;
	bool b;
	int l;

	check_size(s);
	check_duration(s);
	check_int(s, 0, 100);
	check_int(s, -5, 7);
	check_int(s, INT32_MIN, INT32_MAX);
	check_cgroup_u64(s);
	(void) parse_boolean(s, &b);
	if (parse_log_level(s, &l) == 0)
		FUZZ_CHECK(l >= 0 && l <= 7);

	/* The other direction: every 64-bit value formats to text that parses back to it. */
	memcpy(&x, data, size < sizeof(x) ? size : sizeof(x));
	{
		char buf[FORMAT_VALUE_MAX];
		uint64_t w = SENTINEL;

		FUZZ_CHECK(parse_size(format_size(buf, x), &w) == 0 && w == x);
		w = SENTINEL;
		FUZZ_CHECK(parse_duration(format_duration(buf, x), &w) == 0 && w == x);
	}

	free(s);
	return 0;
}
