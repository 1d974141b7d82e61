// SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause)
/*
 * memqosd "observe" policy: tracing only, for kernels without memcg_ops (any kernel with BTF and
 * fentry). One instance serves all tenants; it reports only cgroups the daemon put in
 * memqosd_tenants (or their descendants).
 *
 *  - fexit/try_charge_memcg: every charge past the per-CPU stock. Counted exactly per tenant;
 *    failures and "near memory.max" go to the ring buffer (coalesced), successes only as a sample.
 *  - fentry/mem_cgroup_handle_over_high (6.12) or __mem_cgroup_handle_over_high (6.13+): entered on
 *    many returns to user space with nothing over the limit, so only entries with the task's
 *    memcg_nr_pages_over_high set count as over-high throttling. The loader enables whichever of
 *    the two exists.
 *  - fexit/try_to_free_mem_cgroup_pages: every memcg reclaim pass (charge path, over-high path,
 *    memory.high/max writes, memory.reclaim), with the memcg it reclaimed from and the result. The
 *    vmscan memcg_reclaim tracepoints do not name the memcg, so they are not used.
 *
 * Kernels without BPF trampolines (no ftrace: fentry/fexit refuse to load, e.g. this project's
 * 6.18 build host) get the tracepoint flavour instead, from the memcg tracepoints of 6.13+
 * (the loader picks one flavour at load time):
 *  - tp_btf/mod_memcg_lruvec_state: positive NR_ANON_MAPPED / NR_FILE_PAGES deltas of a memcg,
 *    i.e. memory newly accounted to it, reported as CHARGE (pages = the delta). Charge failures and
 *    over-high throttling are not visible there: memory.events and PSI cover them.
 *  - tp_btf/count_memcg_events: PGSTEAL_* (pages reclaimed from the memcg) as RECLAIM.
 */

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "memqosd.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Usage at or above this fraction of memory.max (per mille) is "near max". */
const volatile __u32 near_max_permille = 950;

SEC("fexit/try_charge_memcg")
int BPF_PROG(observe_charge, struct mem_cgroup *memcg, gfp_t gfp_mask, unsigned int nr_pages, int ret)
{
	struct memqosd_tenant_stats *st;
	__u64 cgid = 0, usage, max;
	__u32 tenant;

	tenant = memqosd_tenant_of_memcg(memcg, &cgid);
	if (!tenant)
		return 0;
	st = memqosd_stats_of(tenant);
	if (!st)
		return 0;

	__sync_fetch_and_add(&st->charges, 1);
	__sync_fetch_and_add(&st->charge_pages, nr_pages);
	if (ret != 0) {
		__sync_fetch_and_add(&st->charge_fails, 1);
		memqosd_emit(tenant, cgid, MEMQOSD_EV_CHARGE_FAIL, nr_pages, 0, 0, true);
		return 0;
	}

	memqosd_memcg_usage(memcg, &usage, &max);
	if (memqosd_near_max(usage, max, near_max_permille))
		memqosd_emit(tenant, cgid, MEMQOSD_EV_NEAR_MAX, usage, max, 0, true);
	memqosd_emit(tenant, cgid, MEMQOSD_EV_CHARGE, nr_pages, 0, 0, true);
	return 0;
}

static __always_inline int over_high(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct cgroup_subsys_state *css;
	struct memqosd_tenant_stats *st;
	unsigned int nr;
	__u64 cgid = 0;
	__u32 tenant;

	nr = BPF_CORE_READ(task, memcg_nr_pages_over_high);
	if (nr == 0)
		return 0; /* the common case: a return to user space with nothing over memory.high */

	css = BPF_CORE_READ(task, cgroups, subsys[bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id)]);
	tenant = memqosd_tenant_of_css(css, &cgid);
	if (!tenant)
		return 0;
	st = memqosd_stats_of(tenant);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->over_high, 1);
	memqosd_emit(tenant, cgid, MEMQOSD_EV_OVER_HIGH, nr, 0, 0, true);
	return 0;
}

SEC("fentry/mem_cgroup_handle_over_high")
int BPF_PROG(observe_over_high_612, gfp_t gfp_mask)
{
	return over_high();
}

SEC("fentry/__mem_cgroup_handle_over_high")
int BPF_PROG(observe_over_high, gfp_t gfp_mask)
{
	return over_high();
}

SEC("fexit/try_to_free_mem_cgroup_pages")
int BPF_PROG(observe_reclaim, struct mem_cgroup *memcg, unsigned long nr_pages, gfp_t gfp_mask,
	     unsigned int reclaim_options, int *swappiness, unsigned long reclaimed)
{
	struct memqosd_tenant_stats *st;
	__u64 cgid = 0;
	__u32 tenant;

	tenant = memqosd_tenant_of_memcg(memcg, &cgid);
	if (!tenant)
		return 0;
	st = memqosd_stats_of(tenant);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->reclaims, 1);
	__sync_fetch_and_add(&st->reclaim_pages, reclaimed);
	memqosd_emit(tenant, cgid, MEMQOSD_EV_RECLAIM, reclaimed, 0, 0, true);
	return 0;
}

/* ---- tracepoint flavour (no BPF trampolines) ---- */

static __always_inline struct memqosd_tenant_stats *tp_tenant(struct mem_cgroup *memcg, __u32 *tenant, __u64 *cgid)
{
	*tenant = memqosd_tenant_of_memcg(memcg, cgid);
	if (!*tenant)
		return NULL;
	return memqosd_stats_of(*tenant);
}

SEC("tp_btf/mod_memcg_lruvec_state")
int BPF_PROG(observe_tp_charge, struct mem_cgroup *memcg, int item, int val)
{
	struct memqosd_tenant_stats *st;
	__u64 cgid = 0, usage, max;
	__u32 tenant;

	if (val <= 0)
		return 0;
	if (item != bpf_core_enum_value(enum node_stat_item, NR_ANON_MAPPED) &&
	    item != bpf_core_enum_value(enum node_stat_item, NR_FILE_PAGES))
		return 0;
	st = tp_tenant(memcg, &tenant, &cgid);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->charges, 1);
	__sync_fetch_and_add(&st->charge_pages, val);
	memqosd_memcg_usage(memcg, &usage, &max);
	if (memqosd_near_max(usage, max, near_max_permille))
		memqosd_emit(tenant, cgid, MEMQOSD_EV_NEAR_MAX, usage, max, 0, true);
	memqosd_emit(tenant, cgid, MEMQOSD_EV_CHARGE, val, 0, 0, true);
	return 0;
}

SEC("tp_btf/count_memcg_events")
int BPF_PROG(observe_tp_reclaim, struct mem_cgroup *memcg, int item, unsigned long val)
{
	struct memqosd_tenant_stats *st;
	__u64 cgid = 0;
	__u32 tenant;

	if (val == 0)
		return 0;
	if (item != bpf_core_enum_value(enum vm_event_item, PGSTEAL_DIRECT) &&
	    item != bpf_core_enum_value(enum vm_event_item, PGSTEAL_KSWAPD))
		return 0;
	st = tp_tenant(memcg, &tenant, &cgid);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->reclaims, 1);
	__sync_fetch_and_add(&st->reclaim_pages, val);
	memqosd_emit(tenant, cgid, MEMQOSD_EV_RECLAIM, val, 0, 0, true);
	return 0;
}
