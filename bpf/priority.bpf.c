// SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause)
/*
 * memqosd "priority" policy: a struct memcg_ops (patched kernel, CONFIG_MEMCG_BPF). One loaded
 * instance serves every tenant (issue 12, "verify once, attach many"): the daemon attaches its
 * struct_ops map to each tenant's cgroup through a struct_ops link whose target is the cgroup's fd
 * (memqosd/memcg-link.h), and the tenant's parameters live in memqosd_params, keyed by cgroup id
 * (struct memqosd_priority_params, include/memqosd/policy-abi.h). A hook finds them from the memcg it
 * is called for: that memcg's cgroup, else its nearest ancestor with an entry (a cgroup's ops also run
 * for its descendants); a memcg with no entry gets the kernel's answers and is not counted. It shares
 * the maps in memqosd.bpf.h with the other policies: the ring buffer they report into and the control
 * block the daemon keeps current from its PSI view (highest priority under pressure, host pressure).
 *
 *  - high_delay: while a tenant more important than this one is under pressure together with the
 *    host, an over-high task of this tenant sleeps at least delay_floor_jiffies: low-priority tenants
 *    are throttled harder exactly when that frees memory for the ones that matter. Otherwise the
 *    kernel's penalty stands.
 *  - below_low: while the host is under pressure and nobody more important is, usage up
 *    to protect_pages counts as protected from reclaim (the tenant's MemoryLow=); when a more
 *    important tenant is under pressure the protection is withdrawn. Without MemoryLow= (0) and in
 *    every other case the kernel decides. below_min is left to the kernel: memory.min is the admin's
 *    hard floor, never withdrawn nor extended.
 *  - charge: runs for the charges that miss the per-CPU stock (kernel-patches/ call it from
 *    try_charge_memcg() past consume_stock()) and counts them, the same charges the tracing policy
 *    counts; reports failures (asking the kernel for extra_reclaim_pages more reclaim first, for
 *    tenants with that set) and charges that bring usage near memory.max.
 */

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "memqosd.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Per-tenant parameters: see policy-abi.h (created by the daemon and shared, like the maps above). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MEMQOSD_MAX_TENANTS);
	__type(key, __u64);
	__type(value, struct memqosd_priority_params);
} memqosd_params SEC(".maps");

/*
 * Test builds only: bpf/meson.build compiles this file a second time with MEMQOSD_POLICY_NEXT=1
 * into memqosd-next, the same policy as a different program (another object, ops name
 * "memqosd_prio_n"), to test an upgrade that changes the program across a restart
 * (tests/integration/test-handover.sh).
 */
#ifndef MEMQOSD_POLICY_NEXT
#define MEMQOSD_POLICY_NEXT 0
#endif
const volatile __u32 policy_build = MEMQOSD_POLICY_NEXT;

/*
 * The parameters of the tenant memcg belongs to, copied into *p: the memcg's own cgroup first (one
 * lookup for a tenant's own cgroup, the usual case), then its ancestors. Direct loads through the
 * hook's BTF pointers (no probe-read helper calls). False if none has an entry, or if the element
 * was reused for another key while it was copied (see struct memqosd_priority_params).
 */
static __always_inline bool tenant_params(struct mem_cgroup *memcg, struct memqosd_priority_params *p)
{
	struct cgroup_subsys_state *css = &memcg->css;

	for (int i = 0; i < MEMQOSD_ANCESTOR_DEPTH && css; i++) {
		struct cgroup *cg = css->cgroup;
		struct memqosd_priority_params *v;
		__u64 id;

		if (!cg || !cg->kn)
			return false;
		id = cg->kn->id;
		v = bpf_map_lookup_elem(&memqosd_params, &id);
		if (v) {
			*p = *v;
			return p->cgroup_id == id && p->tenant_id != 0;
		}
		css = css->parent;
	}
	return false;
}

/* Whether someone more important than this tenant is under pressure while the host is. */
static __always_inline bool outranked_under_pressure(const struct memqosd_priority_params *p)
{
	struct memqosd_control *c = memqosd_control_get();

	return c && c->host_pressured && c->max_pressured_priority > p->priority;
}

static __always_inline bool host_pressured(void)
{
	struct memqosd_control *c = memqosd_control_get();

	return c && c->host_pressured;
}

SEC("struct_ops/charge")
void BPF_PROG(memqosd_charge, struct mem_cgroup *memcg, struct memcg_charge_info *info)
{
	struct memqosd_priority_params p;
	struct memqosd_tenant_stats *st;
	__u32 tenant_id;
	__u64 usage, max, tenant_cgroup_id;

	if (!tenant_params(memcg, &p))
		return;
	tenant_id = p.tenant_id;
	tenant_cgroup_id = p.cgroup_id;
	st = memqosd_stats_of(tenant_id);
	if (!st)
		return;
	__sync_fetch_and_add(&st->charges, 1);
	__sync_fetch_and_add(&st->charge_pages, info->nr_pages);
	if (info->retries > 0)
		__sync_fetch_and_add(&st->reclaims, info->retries);

	if (!info->success) {
		__sync_fetch_and_add(&st->charge_fails, 1);
		if (p.extra_reclaim_pages && !outranked_under_pressure(&p))
			info->reclaim_pages = p.extra_reclaim_pages;
		memqosd_emit(tenant_id, tenant_cgroup_id, MEMQOSD_EV_CHARGE_FAIL, info->nr_pages, 0,
			     MEMQOSD_EVF_STRUCT_OPS, true);
		return;
	}

	memqosd_memcg_usage(memcg, &usage, &max);
	if (memqosd_near_max(usage, max, p.near_max_permille))
		memqosd_emit(tenant_id, tenant_cgroup_id, MEMQOSD_EV_NEAR_MAX, usage, max, MEMQOSD_EVF_STRUCT_OPS,
			     true);
	memqosd_watch(st, tenant_id, tenant_cgroup_id, memcg, MEMQOSD_EVF_STRUCT_OPS);
	if (memqosd_charge_records())
		memqosd_emit(tenant_id, tenant_cgroup_id, MEMQOSD_EV_CHARGE, info->nr_pages, 0,
			     MEMQOSD_EVF_STRUCT_OPS, true);
}

SEC("struct_ops/high_delay")
unsigned long BPF_PROG(memqosd_high_delay, struct mem_cgroup *memcg, unsigned long penalty_jiffies)
{
	struct memqosd_priority_params p;
	struct memqosd_tenant_stats *st;
	unsigned long floor = 0;

	if (!tenant_params(memcg, &p))
		return 0; /* a floor of 0: the kernel's penalty */
	st = memqosd_stats_of(p.tenant_id);
	if (st)
		__sync_fetch_and_add(&st->over_high, 1);
	if (p.delay_floor_jiffies && outranked_under_pressure(&p))
		floor = p.delay_floor_jiffies;
	memqosd_emit(p.tenant_id, p.cgroup_id, MEMQOSD_EV_OVER_HIGH,
		     floor > penalty_jiffies ? floor : penalty_jiffies, 0,
		     MEMQOSD_EVF_STRUCT_OPS | MEMQOSD_EVF_PENALTY, true);
	return floor;
}

static __always_inline int protect(struct mem_cgroup *memcg, unsigned long effective, unsigned long usage)
{
	struct memqosd_priority_params p;
	struct memqosd_tenant_stats *st;

	if (!host_pressured() || !tenant_params(memcg, &p))
		return -1;
	if (!p.protect_pages || outranked_under_pressure(&p))
		return -1;
	if (usage > p.protect_pages)
		return -1; /* beyond the working set we protect: the kernel's own answer */
	st = memqosd_stats_of(p.tenant_id);
	if (st)
		__sync_fetch_and_add(&st->protects, 1);
	memqosd_emit(p.tenant_id, p.cgroup_id, MEMQOSD_EV_PROTECT, usage, effective, MEMQOSD_EVF_STRUCT_OPS,
		     true);
	return 1;
}

SEC("struct_ops/below_low")
int BPF_PROG(memqosd_below_low, struct mem_cgroup *memcg, unsigned long elow, unsigned long usage)
{
	return protect(memcg, elow, usage);
}

SEC(".struct_ops.link")
struct memcg_ops memqosd_priority = {
	.charge = (void *) memqosd_charge,
	.high_delay = (void *) memqosd_high_delay,
	.below_low = (void *) memqosd_below_low,
	.flags = 0,
#if MEMQOSD_POLICY_NEXT
	.name = "memqosd_prio_n",
#else
	.name = "memqosd_prio",
#endif
};
