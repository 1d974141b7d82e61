/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The state record format (src/state.c):
 *  - the reader on arbitrary bytes: a record it accepts formats and parses back to the same record;
 *  - the writer on arbitrary values (root and path carved out of the input, any bytes but NUL):
 *    format then parse gives back exactly those values (the round trip defect 6 broke).
 */

#include <errno.h>
#include <stdint.h>

#include "fuzz-util.h"
#include "state.h"

static void check_equal(const StateRecord *a, const StateRecord *b)
{
	FUZZ_CHECK(a->id == b->id);
	FUZZ_CHECK(strcmp(a->root, b->root) == 0);
	FUZZ_CHECK(strcmp(a->cgroup, b->cgroup) == 0);
	FUZZ_CHECK(a->high == b->high);
	FUZZ_CHECK(a->has_low == b->has_low);
	FUZZ_CHECK(!a->has_low || a->low == b->low);
	FUZZ_CHECK(a->frozen == b->frozen);
}

static void round_trip(const StateRecord *r)
{
	StateRecord back = {};
	char *text = NULL;
	size_t len = 0;
	int k;

	k = state_record_format(r, &text, &len);
	if (k == -E2BIG)
		return;
	FUZZ_CHECK(k == 0);
	FUZZ_CHECK(strlen(text) == len && len <= STATE_RECORD_SIZE_MAX);
	FUZZ_CHECK(state_record_parse(text, len, r->id, &back) == 0);
	check_equal(r, &back);
	state_record_done(&back);
	free(text);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	StateRecord r = {};
	uint64_t v[2] = {};
	const char *sep;
	char *s;
	int k;

	/* 1. The reader. */
	k = state_record_parse((const char *) data, size, 99, &r);
	FUZZ_CHECK(k == 0 || k == -EBADMSG);
	if (k == 0) {
		FUZZ_CHECK(r.root && r.root[0] == '/' && r.cgroup && r.cgroup[0]);
		round_trip(&r);
		state_record_done(&r);
	} else
		FUZZ_CHECK(!r.root && !r.cgroup);

	/* 2. The writer: [16 bytes of values] "/" ROOT-REST \x00 PATH (NULs end the strings). */
	if (size < sizeof(v))
		return 0;
	memcpy(v, data, sizeof(v));
	s = fuzz_strndup(data + sizeof(v), size - sizeof(v));
	sep = s + strlen(s);
	if ((size_t) (sep - s) + sizeof(v) < size) {
		char *root = NULL;

		FUZZ_CHECK(asprintf(&root, "/%s", s) > 0);
		r = (StateRecord) { .id = v[0] ^ v[1], .root = root, .cgroup = (char *) sep + 1, .high = v[0],
				    .low = v[1], .has_low = v[1] & 1, .frozen = (v[1] >> 1) & 1 };
		if (r.cgroup[0])
			round_trip(&r);
		free(root);
	}
	free(s);
	return 0;
}
