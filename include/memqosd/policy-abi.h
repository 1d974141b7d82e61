/* SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause) */
/*
 * Maps shared between memqosd's BPF policies (bpf/) and the loader (src/policy.c). The loader creates
 * each shared map once and hands the same fd to every policy instance (bpf_map__reuse_fd), so all
 * instances of all policies report into one ring buffer and read one control block.
 *
 *   memqosd_events   RINGBUF  struct memqosd_event records (include/memqosd/event.h)
 *   memqosd_tenants  HASH     cgroup id (__u64) -> struct memqosd_tenant_key; maintained by the daemon;
 *                             the tracing policy only reports cgroups found here (or below them)
 *   memqosd_stats    ARRAY    [tenant id] -> struct memqosd_tenant_stats; counters the policies bump
 *                             on every hook, whether or not an event went to the ring buffer. Index 0
 *                             collects what could not be attributed, and ring buffer drops.
 *   memqosd_control  ARRAY    [0] -> struct memqosd_control; written by the daemon from its PSI view
 *   memqosd_params   HASH     cgroup id (__u64) -> struct memqosd_priority_params; one entry per tenant
 *                             under the priority policy, written by the daemon (issue 12: one loaded
 *                             program serves every tenant). The policy looks up the charged memcg's
 *                             cgroup, then its ancestors (the kernel runs a cgroup's ops for its
 *                             descendants too); a memcg with no entry gets the kernel's answers
 *
 * Event semantics per kind (struct memqosd_event):
 *   CHARGE       sampled: at most one per MEMQOSD_CHARGE_INTERVAL_NS per tenant, and only while
 *                the control block's charge_records is set (not by the daemon);
 *                pages = pages of this charge, value = charges since the previous CHARGE event
 *                (charges past the per-CPU stock, as in memqosd_tenant_stats.charges; the struct_ops
 *                policy reports the successful ones, the tracing policy every attempt)
 *   CHARGE_FAIL  pages = pages requested, value = charges failed since the previous CHARGE_FAIL event
 *   OVER_HIGH    pages = pages over memory.high (task's backlog), value = occurrences since the last
 *                OVER_HIGH event; flags MEMQOSD_EVF_PENALTY: value is the penalty in jiffies instead
 *   RECLAIM      pages = pages this reclaim pass freed, value = passes since the previous RECLAIM record
 *   PROTECT      pages = usage, value = effective low the kernel computed
 *   NEAR_MAX     pages = usage, value = memory.max, both in pages
 *   WATCH        pages = usage, value = memory.max of the tightest counter of the memcg and its
 *                ancestors, in pages; flags MEMQOSD_EVF_GROWING: growing toward it within watch_ms
 *                (else: at watch_permille of it). At most one look per second per tenant, on a
 *                charge (memqosd_watch() in bpf/memqosd.bpf.h); never coalesced
 * Repeated events of one kind and tenant are coalesced: at most one per MEMQOSD_EMIT_INTERVAL_NS
 * (MEMQOSD_CHARGE_INTERVAL_NS for CHARGE); value then counts the occurrences since the previous
 * record. The counters in memqosd_stats are exact either way (best effort under concurrent updates
 * of the coalescing state from several CPUs: an occurrence may be counted in the next record).
 */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define MEMQOSD_MAX_TENANTS 4096        /* tenant ids are 1..MEMQOSD_MAX_TENANTS-1 */
#define MEMQOSD_RINGBUF_BYTES (256 * 1024)
#define MEMQOSD_CHARGE_INTERVAL_NS (100ULL * 1000 * 1000)
#define MEMQOSD_EMIT_INTERVAL_NS (10ULL * 1000 * 1000)
#define MEMQOSD_ANCESTOR_DEPTH 8        /* how far up the tracing policy looks for a managed cgroup */
#define MEMQOSD_NO_PRIORITY (-1)

#define MEMQOSD_EVF_PENALTY 0x1         /* OVER_HIGH: value is a penalty in jiffies */
#define MEMQOSD_EVF_STRUCT_OPS 0x2      /* sent by the struct_ops policy */
#define MEMQOSD_EVF_GROWING 0x4         /* WATCH: growing toward the limit (not only near it) */

struct memqosd_tenant_key {
	__u32 tenant_id;
	__u32 flags;
};

/* Kinds of struct memqosd_event index the last-emit times. */
#define MEMQOSD_STAT_KINDS 8

struct memqosd_tenant_stats {
	/*
	 * Charges past the per-CPU stock: try_charge_memcg() calls that consume_stock() could not serve,
	 * successful or not (about one per MEMCG_CHARGE_BATCH = 64 pages of steady faulting). Both policies
	 * count these: the struct_ops charge hook runs only for them, the tracing policy checks the stock
	 * on entry (bpf/observe.bpf.c). Exception: the tracepoint flavour of the tracing policy counts
	 * accounting updates of mapped memory instead (about one per page).
	 */
	__u64 charges;
	__u64 charge_pages;     /* pages those charges asked for */
	__u64 charge_fails;
	__u64 over_high;        /* genuine over-high returns to user space / high_delay calls */
	__u64 reclaims;         /* memcg reclaim passes */
	__u64 reclaim_pages;    /* pages they reclaimed */
	__u64 protects;         /* below_low/below_min answered "protected" */
	__u64 events;           /* records put on the ring buffer */
	__u64 drops;            /* records the ring buffer had no room for */
	__u64 pending[MEMQOSD_STAT_KINDS];   /* occurrences coalesced since the last emit, per kind */
	__u64 last_emit_ns[MEMQOSD_STAT_KINDS];
	__u64 watch_ns;         /* the forecast's entry check (memqosd_watch()): last look */
	__u64 watch_usage;      /* ... and the usage it saw, pages */
};

/*
 * A tenant's parameters for the priority policy (bpf/priority.bpf.c), what the profile says in the
 * units the hooks use (src/policy-params.h encodes them). A reload that changes them is one
 * bpf_map_update_elem() of the tenant's entry: the hash map links a new element in and unlinks the
 * old one, never writing an element a hook may be reading in place; a hook copies the entry and
 * checks that the copy's cgroup_id is the key it looked up (a freed element may be reused for another
 * key at once), so it acts on the old or the new parameters, never a mix of two tenants'.
 */
struct memqosd_priority_params {
	__u64 cgroup_id;            /* the key, repeated */
	__u32 tenant_id;            /* index of memqosd_stats; events carry it */
	__s32 priority;
	__u64 protect_pages;        /* MemoryLow= in pages; 0: no dynamic protection */
	__u64 delay_floor_jiffies;  /* 0: never throttle harder than the kernel */
	__u32 extra_reclaim_pages;  /* on a failed charge; the kernel clamps it */
	__u32 near_max_permille;    /* NEAR_MAX records from this share of memory.max */
};

struct memqosd_control {
	__s32 max_pressured_priority;  /* highest priority of a tenant under pressure now or whose squeeze
					* is held (controller_tenant_demand()), or -1 */
	__u32 host_pressured;          /* the host / common parent is under pressure or near its limit */
	__u64 generation;              /* bumped by the daemon on every update */
	/* The OOM forecast's entry (WATCH records): [Forecast] WatchPercent=, WatchSec=, MinGrowth= of
	 * memqosd.conf; watch_permille 0 = no WATCH records. */
	__u32 watch_permille;
	/* 1: send CHARGE records (tools and tests). 0, the daemon's setting: none; no daemon module
	 * reads them, and they would wake it for every charging tenant nobody pressures (issue 12). */
	__u32 charge_records;
	__u64 watch_ms;
	__u64 watch_min_growth_pages;  /* per second */
};
