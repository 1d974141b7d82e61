// SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause)
/*
 * memqosd "observe" policy: tracing only, for kernels without memcg_ops (any kernel with BTF and
 * fentry). One instance serves all tenants; it reports only cgroups the daemon put in
 * memqosd_tenants (or their descendants).
 *
 *  - fentry/try_charge_memcg: the charges that go past the per-CPU charge stock, the same ones the
 *    struct_ops policy's charge hook sees. try_charge_memcg() is entered for every charge, and in
 *    6.12 its first step, consume_stock() (inlined, so not traceable itself), serves most of them
 *    from pages the CPU charged ahead in batches of MEMCG_CHARGE_BATCH; the page counters, the limits
 *    and the struct_ops hook are only reached when it cannot. The program evaluates consume_stock()'s
 *    test on this CPU's stock (memcg_stock) on entry and ignores the charges it will serve. The stock
 *    may change between the program and the test (an interrupt charging on this CPU, preemption): a
 *    rare charge is then misjudged. Charges past the stock are counted exactly per tenant, near
 *    memory.max goes to the ring buffer (coalesced), the charge itself only as a sample. On a kernel
 *    whose stock layout differs from 6.12's (6.18's keeps several memcgs per CPU) it cannot tell and
 *    counts every charge, stock hits included.
 *  - fexit/try_charge_memcg: failed charges (always past the stock), to the ring buffer (coalesced).
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
 *    i.e. memory newly accounted to it, reported as CHARGE (pages = the delta). These are not the
 *    charges of the fentry flavour: the counter then counts accounting updates (about one per page
 *    mapped), not charges past the stock. Charge failures and over-high throttling are not visible
 *    there: memory.events and PSI cover them.
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

/* MEMCG_CHARGE_BATCH of 6.12 (include/linux/memcontrol.h; a macro, so not in BTF). */
#define KERNEL_MEMCG_CHARGE_BATCH 64U

/* The per-CPU charge stock of mm/memcontrol.c; 6.12's layout (one cached memcg per CPU). */
extern struct memcg_stock_pcp memcg_stock __ksym __weak;

/*
 * Whether try_charge_memcg(memcg, .., nr_pages), entered now on this CPU, will be served by
 * consume_stock(): the stock caches this memcg and holds enough pages. False when this kernel's stock
 * is not 6.12's (the CO-RE checks fail on 6.18's arrays): every charge then counts.
 */
static __always_inline bool served_by_stock(struct mem_cgroup *memcg, unsigned int nr_pages)
{
	struct memcg_stock_pcp *stock;

	if (!bpf_ksym_exists(&memcg_stock) || !bpf_core_field_exists(struct memcg_stock_pcp, cached) ||
	    !bpf_core_field_exists(struct memcg_stock_pcp, nr_pages))
		return false;
	if (nr_pages > KERNEL_MEMCG_CHARGE_BATCH)
		return false;
	stock = bpf_this_cpu_ptr(&memcg_stock);
	return BPF_CORE_READ(stock, cached) == memcg && BPF_CORE_READ(stock, nr_pages) >= nr_pages;
}

SEC("fentry/try_charge_memcg")
int BPF_PROG(observe_charge, struct mem_cgroup *memcg, gfp_t gfp_mask, unsigned int nr_pages)
{
	struct memqosd_tenant_stats *st;
	__u64 cgid = 0, usage, max;
	__u32 tenant;

	if (served_by_stock(memcg, nr_pages))
		return 0; /* the common case; the struct_ops hook does not see these either */
	st = memqosd_traced_tenant(&memcg->css, &tenant, &cgid);
	if (!st)
		return 0;

	__sync_fetch_and_add(&st->charges, 1);
	__sync_fetch_and_add(&st->charge_pages, nr_pages);
	/* Before the charge: the usage it will bring. */
	memqosd_memcg_usage(memcg, &usage, &max);
	if (memqosd_near_max(usage + nr_pages, max, near_max_permille))
		memqosd_emit(tenant, cgid, MEMQOSD_EV_NEAR_MAX, usage + nr_pages, max, 0, true);
	memqosd_watch(st, tenant, cgid, memcg, 0);
	if (memqosd_charge_records())
		memqosd_emit(tenant, cgid, MEMQOSD_EV_CHARGE, nr_pages, 0, 0, true);
	return 0;
}

SEC("fexit/try_charge_memcg")
int BPF_PROG(observe_charge_fail, struct mem_cgroup *memcg, gfp_t gfp_mask, unsigned int nr_pages, int ret)
{
	struct memqosd_tenant_stats *st;
	__u64 cgid = 0;
	__u32 tenant;

	if (ret == 0)
		return 0;
	st = memqosd_traced_tenant(&memcg->css, &tenant, &cgid);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->charge_fails, 1);
	memqosd_emit(tenant, cgid, MEMQOSD_EV_CHARGE_FAIL, nr_pages, 0, 0, true);
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
	st = memqosd_traced_tenant(css, &tenant, &cgid);
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

	st = memqosd_traced_tenant(&memcg->css, &tenant, &cgid);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->reclaims, 1);
	__sync_fetch_and_add(&st->reclaim_pages, reclaimed);
	memqosd_emit(tenant, cgid, MEMQOSD_EV_RECLAIM, reclaimed, 0, 0, true);
	return 0;
}

/* ---- tracepoint flavour (no BPF trampolines) ---- */

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
	st = memqosd_traced_tenant(&memcg->css, &tenant, &cgid);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->charges, 1);
	__sync_fetch_and_add(&st->charge_pages, val);
	memqosd_memcg_usage(memcg, &usage, &max);
	if (memqosd_near_max(usage, max, near_max_permille))
		memqosd_emit(tenant, cgid, MEMQOSD_EV_NEAR_MAX, usage, max, 0, true);
	memqosd_watch(st, tenant, cgid, memcg, 0);
	if (memqosd_charge_records())
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
	st = memqosd_traced_tenant(&memcg->css, &tenant, &cgid);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->reclaims, 1);
	__sync_fetch_and_add(&st->reclaim_pages, val);
	memqosd_emit(tenant, cgid, MEMQOSD_EV_RECLAIM, val, 0, 0, true);
	return 0;
}
