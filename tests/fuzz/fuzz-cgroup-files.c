/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parsers of the kernel's cgroup files: memory.events and memory.pressure (src/cgroup.c).
 * Invariants: no crash or overread on any bytes; parsed pressure averages are within 0..100.00%;
 * parsed memory.events re-formatted as the kernel prints them parse back to the same counters.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>

#include "cgroup.h"
#include "fuzz-util.h"

static void check_events(const unsigned char *data, size_t size)
{
	CgroupMemoryEvents ev, back;
	char *s = fuzz_strndup(data, size), *text = NULL;
	int r;

	memset(&ev, 0x5a, sizeof(ev));
	r = cgroup_parse_memory_events(s, &ev);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
	if (r == 0) {
		FUZZ_CHECK(asprintf(&text,
				    "low %" PRIu64 "\nhigh %" PRIu64 "\nmax %" PRIu64 "\noom %" PRIu64
				    "\noom_kill %" PRIu64 "\noom_group_kill %" PRIu64 "\n",
				    ev.low, ev.high, ev.max, ev.oom, ev.oom_kill, ev.oom_group_kill) > 0);
		/* "max" is a valid value in the parser's eyes (UINT64_MAX); the kernel prints counters. */
		if (ev.low != UINT64_MAX && ev.high != UINT64_MAX && ev.max != UINT64_MAX && ev.oom != UINT64_MAX &&
		    ev.oom_kill != UINT64_MAX && ev.oom_group_kill != UINT64_MAX) {
			FUZZ_CHECK(cgroup_parse_memory_events(text, &back) == 0);
			FUZZ_CHECK(memcmp(&ev, &back, sizeof(ev)) == 0);
		}
		free(text);
	}
	free(s);
}

static void check_pressure(const unsigned char *data, size_t size)
{
	CgroupPressure p;
	char *s = fuzz_strndup(data, size);
	int r;

	r = cgroup_parse_pressure(s, &p);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
	if (r == 0) {
		FUZZ_CHECK(p.some_avg10 <= 10000 && p.some_avg60 <= 10000 && p.some_avg300 <= 10000);
		FUZZ_CHECK(p.full_avg10 <= 10000 && p.full_avg60 <= 10000 && p.full_avg300 <= 10000);
		FUZZ_CHECK(p.has_full || (p.full_avg10 == 0 && p.full_total == 0));
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	check_events(data, size);
	check_pressure(data, size);
	return 0;
}
