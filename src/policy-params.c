/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Encoding of the priority policy's per-tenant parameters; see policy-params.h.
 */

#include <errno.h>
#include <string.h>

#include "policy-params.h"

int policy_params_encode(const PolicyParamsInput *in, unsigned hz, uint64_t page_size,
			 struct memqosd_priority_params *ret)
{
	uint64_t floor;

	if (!in || !ret || in->cgroup_id == 0 || in->tenant_id == 0 || in->tenant_id >= MEMQOSD_MAX_TENANTS ||
	    hz == 0 || page_size == 0)
		return -EINVAL;
	if (in->delay_floor_ms > UINT64_MAX / hz)
		return -ERANGE;
	floor = in->delay_floor_ms * hz / 1000;
	memset(ret, 0, sizeof(*ret)); /* no stray padding bytes in the map */
	ret->cgroup_id = in->cgroup_id;
	ret->tenant_id = in->tenant_id;
	ret->priority = in->priority;
	ret->protect_pages = in->protect_bytes / page_size;
	ret->delay_floor_jiffies = floor;
	ret->extra_reclaim_pages = in->extra_reclaim_pages;
	ret->near_max_permille = POLICY_NEAR_MAX_PERMILLE;
	return 0;
}

bool policy_params_equal(const struct memqosd_priority_params *a, const struct memqosd_priority_params *b)
{
	return a->cgroup_id == b->cgroup_id && a->tenant_id == b->tenant_id && a->priority == b->priority &&
	       a->protect_pages == b->protect_pages && a->delay_floor_jiffies == b->delay_floor_jiffies &&
	       a->extra_reclaim_pages == b->extra_reclaim_pages && a->near_max_permille == b->near_max_permille;
}
