/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Names and decisions of the restart handover; see handover.h.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "handover.h"
#include "util.h"

uint64_t handover_hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

bool handover_name_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n == 0 || n > HANDOVER_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] <= ' ' || name[i] > '~' || name[i] == ':')
			return false;
	return true;
}

int handover_link_name(const HandoverLink *l, char *buf, size_t size)
{
	int n;

	n = snprintf(buf, size, HANDOVER_LINK_PREFIX "%" PRIu64 ".%" PRIu32 ".%016" PRIx64 ".%016" PRIx64,
		     l->cgroup_id, l->tenant_id, l->program, l->params);
	if (n < 0 || (size_t) n >= size)
		return -ENOBUFS;
	return 0;
}

/* A decimal or (exactly 16 digits) hex field ending at '.' or the end; advances *p past it. */
static int parse_field(const char **p, bool hex, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	size_t n = 0;

	for (; *s && *s != '.'; s++, n++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned) (*s - '0');
		else if (hex && *s >= 'a' && *s <= 'f')
			d = (unsigned) (*s - 'a' + 10);
		else
			return -EINVAL;
		if (hex)
			v = v << 4 | d;
		else {
			if (v > (UINT64_MAX - d) / 10)
				return -EINVAL;
			v = v * 10 + d;
		}
	}
	if (n == 0 || (hex && n != 16) || (!hex && n > 1 && (*p)[0] == '0'))
		return -EINVAL;
	*p = *s ? s + 1 : s;
	*ret = v;
	return *s ? 1 : 0; /* 1: more fields follow */
}

int handover_link_parse(const char *name, HandoverLink *ret)
{
	const char *p;
	uint64_t f[4];
	int r = 0;

	if (!name || strncmp(name, HANDOVER_LINK_PREFIX, strlen(HANDOVER_LINK_PREFIX)) != 0)
		return -EINVAL;
	p = name + strlen(HANDOVER_LINK_PREFIX);
	for (size_t i = 0; i < ELEMENTSOF(f); i++) {
		r = parse_field(&p, i >= 2, &f[i]);
		if (r < 0 || (r == 0) != (i == ELEMENTSOF(f) - 1))
			return -EINVAL;
	}
	if (f[0] == 0 || f[1] == 0 || f[1] > UINT32_MAX)
		return -EINVAL;
	*ret = (HandoverLink) { .cgroup_id = f[0], .tenant_id = (uint32_t) f[1], .program = f[2], .params = f[3] };
	return 0;
}

static const char *const action_names[_HANDOVER_ACTION_MAX] = {
	[HANDOVER_ADOPT] = "adopt",
	[HANDOVER_REPLACE_PROGRAM] = "replace-program",
	[HANDOVER_REPLACE_PARAMS] = "replace-params",
	[HANDOVER_CLOSE] = "close",
};

const char *handover_action_to_string(HandoverAction a)
{
	return a < _HANDOVER_ACTION_MAX ? action_names[a] : NULL;
}

HandoverAction handover_decide(const HandoverLink *stored, const HandoverLink *wanted, bool maps_kept)
{
	if (!wanted || wanted->cgroup_id != stored->cgroup_id)
		return HANDOVER_CLOSE;
	if (wanted->program != stored->program || !maps_kept)
		return HANDOVER_REPLACE_PROGRAM;
	if (wanted->tenant_id != stored->tenant_id || wanted->params != stored->params)
		return HANDOVER_REPLACE_PARAMS;
	return HANDOVER_ADOPT;
}

unsigned handover_steps(HandoverAction a, bool have_stored)
{
	if (!have_stored)
		return HANDOVER_STEP_LOAD | HANDOVER_STEP_PARAMS | HANDOVER_STEP_ATTACH | HANDOVER_STEP_RENAME;
	switch (a) {
	case HANDOVER_ADOPT:
		return 0;
	case HANDOVER_REPLACE_PARAMS:
		return HANDOVER_STEP_PARAMS | HANDOVER_STEP_RENAME;
	case HANDOVER_REPLACE_PROGRAM:
		return HANDOVER_STEP_LOAD | HANDOVER_STEP_PARAMS | HANDOVER_STEP_RELINK | HANDOVER_STEP_RENAME;
	case HANDOVER_CLOSE:
	default:
		return HANDOVER_STEP_DETACH | HANDOVER_STEP_FORGET;
	}
}
