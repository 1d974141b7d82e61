/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The state record format (src/state.c), both kinds (a cgroup's originals, the storm guard's):
 *  - the reader on arbitrary bytes: a record it accepts formats and parses back to the same record
 *    (a guard record in the previous release's format is accepted but never written: formatting it
 *    is refused);
 *  - the writer on arbitrary values (root and path carved out of the input, any bytes but NUL,
 *    numbers, pids.max, cpu.max and a uid list from its first bytes): format then parse gives back exactly those values
 *    (the round trip defect 6 broke).
 */

#include <errno.h>
#include <stdint.h>

#include "fuzz-util.h"
#include "state.h"

static void check_equal(const StateRecord *a, const StateRecord *b)
{
	FUZZ_CHECK(a->kind == b->kind);
	FUZZ_CHECK(a->id == b->id);
	FUZZ_CHECK(strcmp(a->root, b->root) == 0);
	FUZZ_CHECK(strcmp(a->cgroup, b->cgroup) == 0);
	FUZZ_CHECK(a->kind == STATE_RECORD_GUARD || a->high == b->high);
	FUZZ_CHECK(a->has_low == b->has_low);
	FUZZ_CHECK(!a->has_low || a->low == b->low);
	FUZZ_CHECK(a->frozen == b->frozen);
	FUZZ_CHECK(a->has_pids_max == b->has_pids_max);
	FUZZ_CHECK(!a->has_pids_max || a->pids_max == b->pids_max);
	FUZZ_CHECK(a->has_cpu_max == b->has_cpu_max);
	FUZZ_CHECK(!a->has_cpu_max || a->cpu_max == b->cpu_max);
	FUZZ_CHECK(a->n_stopped_uids == b->n_stopped_uids);
	FUZZ_CHECK(memcmp(a->stopped_uids, b->stopped_uids, a->n_stopped_uids * sizeof(uint32_t)) == 0);
	FUZZ_CHECK(!b->legacy);
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
	FUZZ_CHECK(state_record_parse(text, len, r->kind, r->id, &back) == 0);
	check_equal(r, &back);
	state_record_done(&back);
	/* The other kind never takes it (MemoryHigh= missing or a guard key present, or vice versa). */
	if (r->kind == STATE_RECORD_ORIGINALS || r->has_pids_max || r->has_cpu_max || r->n_stopped_uids > 0)
		FUZZ_CHECK(state_record_parse(text, len, !r->kind, r->id, &back) == -EBADMSG);
	free(text);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	StateRecord r = {};
	uint64_t v[2] = {};
	const char *sep;
	char *s, *text = NULL;
	size_t len;
	int k;

	/* 1. The reader, as either kind. */
	for (StateRecordKind kind = 0; kind < _STATE_RECORD_KIND_MAX; kind++) {
		k = state_record_parse((const char *) data, size, kind, 99, &r);
		FUZZ_CHECK(k == 0 || k == -EBADMSG);
		if (k < 0) {
			FUZZ_CHECK(!r.root && !r.cgroup);
			continue;
		}
		FUZZ_CHECK(r.kind == kind && r.n_stopped_uids <= STATE_UIDS_MAX);
		if (r.legacy) {
			FUZZ_CHECK(kind == STATE_RECORD_GUARD && !r.root && !r.cgroup);
			FUZZ_CHECK(state_record_format(&r, &text, &len) == -EINVAL);
		} else {
			FUZZ_CHECK(r.root && r.root[0] == '/' && r.cgroup && r.cgroup[0]);
			round_trip(&r);
		}
		state_record_done(&r);
	}

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

		/* The guard's record: pids.max from v[0], distinct uids from the bytes of v[1]. */
		r = (StateRecord) { .kind = STATE_RECORD_GUARD, .id = v[0] ^ v[1], .root = root, .cgroup = (char *) sep + 1,
				    .frozen = (v[1] >> 1) & 1, .has_pids_max = v[1] & 1, .pids_max = v[0],
				    .has_cpu_max = (v[1] >> 5) & 1, .cpu_max = v[1] };
		for (unsigned i = 0; i < (v[1] >> 2 & 7); i++)
			r.stopped_uids[r.n_stopped_uids++] = (uint32_t) (v[0] >> (8 * i) & 0xff) * 8 + i;
		if (r.cgroup[0])
			round_trip(&r);
		free(root);
	}
	free(s);
	return 0;
}
