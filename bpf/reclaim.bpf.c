// SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause)
/*
 * memqosd "reclaim" program: refaults per tenant, for proactive reclaim's event-driven back-off
 * (issue 14; records and arming: include/memqosd/reclaim.h). Tracing only, maps of its own.
 *
 * Two flavours (the loader picks one):
 *  - fentry/workingset_refault (kernels with BPF trampolines, the 6.12 guest): called when a folio
 *    that was evicted comes back into the page cache or the swap cache with its shadow entry, after
 *    it was charged (filemap_add_folio, the swap-in paths), with the classic LRU and with MGLRU
 *    alike. The memcg is the folio's (folio->memcg_data). Every such call counts, whether or not the
 *    kernel then judges the refault "recent" enough to activate the folio: any page memqosd pushed
 *    out that is needed again is a reason to stop.
 *  - tp_btf/mod_memcg_lruvec_state (no trampolines): positive WORKINGSET_REFAULT_ANON/FILE deltas
 *    of a memcg, i.e. only the refaults the kernel judged recent.
 */

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "memqosd/reclaim.h"

char LICENSE[] SEC("license") = "GPL";

#define MEMCG_DATA_FLAGS 3ULL   /* low bits of folio->memcg_data (MEMCG_DATA_OBJEXTS | MEMCG_DATA_KMEM) */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MEMQOSD_RECLAIM_RINGBUF_BYTES);
} memqosd_reclaim_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MEMQOSD_RECLAIM_MAX_TENANTS);
	__type(key, __u64);
	__type(value, struct memqosd_reclaim_tenant);
} memqosd_reclaim_tenants SEC(".maps");

/* Records the ring buffer had no room for. */
__u64 reclaim_dropped;

/* The tenant entry of a memcg: its own cgroup's or its nearest ancestor's. */
static __always_inline struct memqosd_reclaim_tenant *tenant_of(struct mem_cgroup *memcg, __u64 *ret_cgid)
{
	struct cgroup_subsys_state *css = memcg ? &memcg->css : NULL;

	for (int i = 0; i < MEMQOSD_RECLAIM_ANCESTOR_DEPTH && css; i++) {
		__u64 id = BPF_CORE_READ(css, cgroup, kn, id);
		struct memqosd_reclaim_tenant *t = bpf_map_lookup_elem(&memqosd_reclaim_tenants, &id);

		if (t) {
			*ret_cgid = id;
			return t;
		}
		css = BPF_CORE_READ(css, parent);
	}
	return NULL;
}

static __always_inline void on_refault(struct mem_cgroup *memcg, __u64 pages)
{
	struct memqosd_reclaim_tenant *t;
	struct memqosd_reclaim_event *e;
	__u64 cgid = 0, now, total;

	t = tenant_of(memcg, &cgid);
	if (!t)
		return;
	total = __sync_fetch_and_add(&t->refaults, pages) + pages;
	if (!t->armed)
		return;
	now = bpf_ktime_get_ns();
	if (!t->first_ns)
		t->first_ns = now;
	if (total < t->threshold)
		return;
	/* One record per arming, even with refaults on several CPUs at once. */
	if (!__sync_bool_compare_and_swap(&t->armed, 1, 0))
		return;
	e = bpf_ringbuf_reserve(&memqosd_reclaim_rb, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&reclaim_dropped, 1);
		return;
	}
	e->ts_ns = now;
	e->first_ns = t->first_ns;
	e->cgroup_id = cgid;
	e->refaults = total;
	e->tenant_id = t->tenant_id;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
}

SEC("fentry/workingset_refault")
int BPF_PROG(reclaim_refault, struct folio *folio, void *shadow)
{
	__u64 data = BPF_CORE_READ(folio, memcg_data);
	__u64 order = 0;
	__u64 flags = BPF_CORE_READ(folio, page.flags);

	/* A large folio: order in the second page's flags/_flags_1 (PG_head set on the first). */
	if (flags & (1ULL << bpf_core_enum_value(enum pageflags, PG_head)))
		order = BPF_CORE_READ(folio, _flags_1) & 0xff;
	if (order > 20)
		order = 0;
	on_refault((struct mem_cgroup *)(data & ~MEMCG_DATA_FLAGS), 1ULL << order);
	return 0;
}

SEC("tp_btf/mod_memcg_lruvec_state")
int BPF_PROG(reclaim_tp_refault, struct mem_cgroup *memcg, int item, int val)
{
	if (val <= 0)
		return 0;
	if (item != bpf_core_enum_value(enum node_stat_item, WORKINGSET_REFAULT_ANON) &&
	    item != bpf_core_enum_value(enum node_stat_item, WORKINGSET_REFAULT_FILE))
		return 0;
	on_refault(memcg, (__u64)val);
	return 0;
}
