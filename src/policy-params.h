/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The priority policy's per-tenant parameters (struct memqosd_priority_params, the value of the
 * memqosd_params BPF map, include/memqosd/policy-abi.h), from a tenant's profile. Pure: the loader
 * (src/policy.c) writes what this computes, the unit tests check it on tables.
 */

#include <stdbool.h>
#include <stdint.h>

#include "memqosd/policy-abi.h"

/* NEAR_MAX records from 95% of memory.max, as before the parameters moved into a map. */
#define POLICY_NEAR_MAX_PERMILLE 950

typedef struct PolicyParamsInput {
	uint64_t cgroup_id;          /* the key */
	uint32_t tenant_id;          /* 1..MEMQOSD_MAX_TENANTS-1 */
	int priority;
	uint64_t protect_bytes;      /* MemoryLow= (0: none) */
	uint64_t delay_floor_ms;     /* over-high sleep floor while outranked (0: none) */
	uint32_t extra_reclaim_pages;
} PolicyParamsInput;

/*
 * Encode in for a kernel with hz jiffies per second and page_size bytes per page: protection in
 * whole pages and the delay floor in whole jiffies, both rounded down (never more than the profile
 * asks; as the per-tenant rodata of earlier versions had them). -EINVAL for a cgroup id or
 * tenant id of 0, a tenant id past MEMQOSD_MAX_TENANTS, hz or page_size 0; -ERANGE if the floor does
 * not fit.
 */
int policy_params_encode(const PolicyParamsInput *in, unsigned hz, uint64_t page_size,
			 struct memqosd_priority_params *ret);

bool policy_params_equal(const struct memqosd_priority_params *a, const struct memqosd_priority_params *b);
