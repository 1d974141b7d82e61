/* SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause) */
/*
 * Maps and helpers shared by memqosd's BPF policies. Include after vmlinux.h and the libbpf headers.
 * The loader (src/policy.c) creates these maps once and reuses their fds in every policy instance,
 * so all policies report into one ring buffer; see include/memqosd/policy-abi.h.
 */
#pragma once

#include "memqosd/event.h"
#include "memqosd/policy-abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MEMQOSD_RINGBUF_BYTES);
} memqosd_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MEMQOSD_MAX_TENANTS);
	__type(key, __u64);
	__type(value, struct memqosd_tenant_key);
} memqosd_tenants SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MEMQOSD_MAX_TENANTS);
	__type(key, __u32);
	__type(value, struct memqosd_tenant_stats);
} memqosd_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct memqosd_control);
} memqosd_control SEC(".maps");

static __always_inline struct memqosd_tenant_stats *memqosd_stats_of(__u32 tenant_id)
{
	return bpf_map_lookup_elem(&memqosd_stats, &tenant_id);
}

static __always_inline struct memqosd_control *memqosd_control_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&memqosd_control, &zero);
}

/* CHARGE records are sent only when asked for (struct memqosd_control.charge_records). */
static __always_inline bool memqosd_charge_records(void)
{
	struct memqosd_control *c = memqosd_control_get();

	return c && c->charge_records;
}

/* Cgroup id (kernfs node id = directory inode) of the cgroup a memcg belongs to. */
static __always_inline __u64 memqosd_memcg_cgroup_id(struct mem_cgroup *memcg)
{
	return BPF_CORE_READ(memcg, css.cgroup, kn, id);
}

/*
 * The managed tenant a cgroup belongs to: the cgroup itself or its nearest ancestor (at most
 * MEMQOSD_ANCESTOR_DEPTH levels up) found in memqosd_tenants. 0 if none.
 */
static __always_inline __u32 memqosd_tenant_of_css(struct cgroup_subsys_state *css, __u64 *ret_cgid)
{
	for (int i = 0; i < MEMQOSD_ANCESTOR_DEPTH && css; i++) {
		__u64 id = BPF_CORE_READ(css, cgroup, kn, id);
		struct memqosd_tenant_key *k = bpf_map_lookup_elem(&memqosd_tenants, &id);

		if (k) {
			*ret_cgid = id;
			return k->tenant_id;
		}
		css = BPF_CORE_READ(css, parent);
	}
	return 0;
}

/*
 * What every hook of the tracing policy starts with: the managed tenant a memory cgroup (its css, as
 * &memcg->css or a task's memory css; NULL allowed) belongs to, and that tenant's counters. Returns
 * NULL when the cgroup is no tenant's (nor below one); otherwise sets *ret_tenant and *ret_cgid (the
 * cgroup id of the tenant's cgroup, which events carry).
 */
static __always_inline struct memqosd_tenant_stats *memqosd_traced_tenant(struct cgroup_subsys_state *css,
									   __u32 *ret_tenant, __u64 *ret_cgid)
{
	__u32 tenant = memqosd_tenant_of_css(css, ret_cgid);

	*ret_tenant = tenant;
	return tenant ? memqosd_stats_of(tenant) : NULL;
}

/*
 * Send one event, coalescing repeats of a kind per tenant (policy-abi.h). `value` is used as is when
 * coalesce is false; otherwise it is replaced by the number of occurrences since the last record.
 * Returns true if a record went to the ring buffer.
 */
static __always_inline bool memqosd_emit(__u32 tenant_id, __u64 cgid, __u16 kind, __u64 pages, __u64 value,
					 __u16 flags, bool coalesce)
{
	struct memqosd_tenant_stats *st = memqosd_stats_of(tenant_id);
	struct memqosd_event *e;
	__u64 now = bpf_ktime_get_ns(), interval;

	if (!st || kind >= MEMQOSD_STAT_KINDS)
		return false;

	if (coalesce) {
		interval = kind == MEMQOSD_EV_CHARGE ? MEMQOSD_CHARGE_INTERVAL_NS : MEMQOSD_EMIT_INTERVAL_NS;
		__sync_fetch_and_add(&st->pending[kind], 1);
		if (now - st->last_emit_ns[kind] < interval)
			return false;
		st->last_emit_ns[kind] = now;
		value = __sync_lock_test_and_set(&st->pending[kind], 0);
	}

	e = bpf_ringbuf_reserve(&memqosd_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&st->drops, 1);
		return false;
	}
	e->ts_ns = now;
	e->cgroup_id = cgid;
	e->pages = pages;
	e->value = value;
	e->tenant_id = tenant_id;
	e->kind = kind;
	e->flags = flags;
	bpf_ringbuf_submit(e, 0);
	__sync_fetch_and_add(&st->events, 1);
	return true;
}

/* Usage and limit of a memcg's memory counter, in pages. */
static __always_inline void memqosd_memcg_usage(struct mem_cgroup *memcg, __u64 *usage, __u64 *max)
{
	*usage = BPF_CORE_READ(memcg, memory.usage.counter);
	*max = BPF_CORE_READ(memcg, memory.max);
}

/* usage >= max * permille / 1000 (max unlimited never is). */
static __always_inline bool memqosd_near_max(__u64 usage, __u64 max, __u32 permille)
{
	if (max == 0 || max >= (~0UL >> 13)) /* PAGE_COUNTER_MAX is LONG_MAX / PAGE_SIZE */
		return false;
	return usage * 1000 >= max * permille;
}

/*
 * The OOM forecast's entry (src/risk.h): at most once per second per tenant, on a charge, look at
 * the tightest memory counter of the charged memcg and its ancestors (the least room under a finite
 * memory.max) and send a WATCH record if its usage is at watch_permille of the limit, or has grown
 * since the previous look (at least watch_min_growth_pages per second) fast enough to reach the
 * limit within watch_ms. Parameters come from the control block; watch_permille 0 turns this off.
 * The daemon starts sampling the tenant on it: a tenant that does not charge costs nothing.
 */
static __always_inline void memqosd_watch(struct memqosd_tenant_stats *st, __u32 tenant_id, __u64 cgid,
					  struct mem_cgroup *memcg, __u16 flags)
{
	struct memqosd_control *c = memqosd_control_get();
	struct page_counter *pc = __builtin_preserve_access_index(&memcg->memory);
	__u64 now = bpf_ktime_get_ns(), last, prev, usage = 0, max = 0, room = ~0ULL, dt_ms, grown;
	bool near, growing = false;

	if (!st || !c || c->watch_permille == 0)
		return;
	last = st->watch_ns;
	if (last != 0 && now - last < 1000000000ULL)
		return;
	for (int i = 0; i < MEMQOSD_ANCESTOR_DEPTH && pc; i++) {
		__u64 u = BPF_CORE_READ(pc, usage.counter), m = BPF_CORE_READ(pc, max);

		if (m != 0 && m < (~0UL >> 13)) {
			__u64 left = m > u ? m - u : 0;

			if (left < room) {
				room = left;
				usage = u;
				max = m;
			}
		}
		pc = BPF_CORE_READ(pc, parent);
	}
	prev = st->watch_usage;
	st->watch_ns = now;
	st->watch_usage = usage;
	if (max == 0)
		return; /* no finite memory.max up to the root: PSI and memory.events cover it */
	near = usage * 1000 >= max * c->watch_permille;
	dt_ms = (now - last) / 1000000;
	if (last != 0 && usage > prev && dt_ms > 0) {
		grown = usage - prev;
		growing = grown * 1000 >= c->watch_min_growth_pages * dt_ms && room * dt_ms < grown * c->watch_ms;
	}
	if (near || growing)
		memqosd_emit(tenant_id, cgid, MEMQOSD_EV_WATCH, usage, max, flags | (growing ? MEMQOSD_EVF_GROWING : 0),
			     false);
}

/* Bytes of a folio (a head page's order, or one page). */
static __always_inline __u64 memqosd_folio_bytes(struct folio *folio)
{
	unsigned long flags = BPF_CORE_READ(folio, flags);

	if (!(flags & (1UL << bpf_core_enum_value(enum pageflags, PG_head))))
		return 4096ULL;
	if (bpf_core_field_exists(folio->_folio_nr_pages))
		return BPF_CORE_READ(folio, _folio_nr_pages) * 4096ULL;
	return 4096ULL << (BPF_CORE_READ(folio, _flags_1) & 0xff);
}

/* The memcg a folio was charged to (plain memcg_data, not objcg/kmem); NULL if none. */
static __always_inline struct mem_cgroup *memqosd_folio_memcg(struct folio *folio)
{
	__u64 data = BPF_CORE_READ(folio, memcg_data);

	if (!data || (data & 3ULL)) /* MEMCG_DATA_OBJEXTS | MEMCG_DATA_KMEM */
		return NULL;
	return (struct mem_cgroup *)data;
}

/* A mod_memcg_lruvec_state update that accounts new memory to a memcg (anon mapped, page cache). */
static __always_inline bool memqosd_lruvec_item_is_charge(int item, int val)
{
	return val > 0 && (item == bpf_core_enum_value(enum node_stat_item, NR_ANON_MAPPED) ||
			   item == bpf_core_enum_value(enum node_stat_item, NR_FILE_PAGES));
}
