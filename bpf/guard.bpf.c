// SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause)
/*
 * memqosd "guard" program: detection of fork+malloc storms (job 4), tracing only, so it works on a
 * stock kernel; containment is user space's (src/guard.c) until the kernel can throttle a charging
 * task below memory.high. Buckets, records and their arithmetic: include/memqosd/guard.h.
 *
 * Hooks:
 *  - charges: fexit/__mem_cgroup_charge (every folio charged, its real size, to the memcg it went
 *    to), or, on kernels without BPF trampolines, tp_btf/mod_memcg_lruvec_state (anon and file pages
 *    newly accounted to a memcg);
 *  - forks: tp_btf/sched_process_fork (every new task, counted in the child's cgroup).
 * The uid is the current task's (the one that charges, the parent that forks).
 */

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "memqosd.bpf.h"
#include "memqosd/guard.h"

char LICENSE[] SEC("license") = "GPL";

#define PAGE_BYTES 4096ULL
#define NS_PER_MS 1000000ULL
#define REFILL_MS_MAX (1ULL << 20) /* refill arithmetic stays within 64 bits (rate <= 2^40 per s) */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MEMQOSD_GUARD_RINGBUF_BYTES);
} memqosd_guard_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MEMQOSD_MAX_TENANTS);
	__type(key, __u32);
	__type(value, struct memqosd_guard_conf);
} memqosd_guard_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MEMQOSD_MAX_TENANTS);
	__type(key, __u32);
	__type(value, struct memqosd_guard_state);
} memqosd_guard_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MEMQOSD_GUARD_UID_ENTRIES);
	__type(key, struct memqosd_guard_uid_key);
	__type(value, struct memqosd_guard_state);
} memqosd_guard_uid SEC(".maps");

__u64 guard_dropped; /* records the ring buffer had no room for */
__u64 guard_uid_full; /* (tenant, uid) pairs not tracked: memqosd_guard_uid was full */

/*
 * Refill b (rate units per second, at most burst) and take amount from it. Under the state's lock.
 * Returns MEMQOSD_GUARD_START when this puts the bucket in debt, MEMQOSD_GUARD_STOP when a stormy
 * bucket is back at half its burst, else 0.
 */
static __always_inline __u32 bucket_take(struct memqosd_guard_bucket *b, __u64 rate, __u64 burst, __u64 amount,
					 __u64 count, __u64 now)
{
	__u64 ms;
	__s64 t;

	if (b->last_ns == 0) {
		b->tokens = (__s64)burst;
		b->last_ns = now;
	}
	ms = now > b->last_ns ? (now - b->last_ns) / NS_PER_MS : 0;
	if (ms >= REFILL_MS_MAX) {
		b->tokens = (__s64)burst;
		b->last_ns = now;
	} else if (ms > 0) {
		t = b->tokens + (__s64)(rate * ms / 1000);
		b->tokens = t > (__s64)burst ? (__s64)burst : t;
		b->last_ns += ms * NS_PER_MS;
	}
	b->tokens -= (__s64)amount;
	b->total += count;
	if (b->tokens < 0 && !b->storm) {
		b->storm = 1;
		return MEMQOSD_GUARD_START;
	}
	if (b->storm && b->tokens >= (__s64)(burst / 2)) {
		b->storm = 0;
		return MEMQOSD_GUARD_STOP;
	}
	return 0;
}

static __always_inline void emit(__u32 kind, __u32 tenant, __u32 uid, __u32 bucket, __u64 cgid, __s64 tokens,
				 __u64 total, __u64 now)
{
	struct memqosd_guard_event *e;

	e = bpf_ringbuf_reserve(&memqosd_guard_rb, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&guard_dropped, 1);
		return;
	}
	e->kind = kind;
	e->tenant_id = tenant;
	e->uid = uid;
	e->bucket = bucket;
	e->cgroup_id = cgid;
	e->ts_ns = now;
	e->tokens = tokens;
	e->total = total;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
}

/* Count amount (bytes, or one fork) against one state's bucket; report a crossing. */
static __always_inline void account(struct memqosd_guard_state *st, bool fork, __u64 rate, __u64 burst,
				    __u64 amount, __u32 tenant, __u32 uid, __u64 cgid, __u64 now)
{
	struct memqosd_guard_bucket *b = fork ? &st->fork : &st->charge;
	__u64 count = fork ? 1 : amount;
	__u64 total;
	__s64 tokens;
	__u32 kind;

	if (fork) {
		rate *= MEMQOSD_GUARD_FORK_UNIT;
		burst *= MEMQOSD_GUARD_FORK_UNIT;
		amount = MEMQOSD_GUARD_FORK_UNIT;
	}
	bpf_spin_lock(&st->lock);
	kind = bucket_take(b, rate, burst, amount, count, now);
	tokens = b->tokens;
	total = b->total;
	bpf_spin_unlock(&st->lock);
	if (kind)
		emit(kind, tenant, uid, fork ? MEMQOSD_GUARD_FORK : MEMQOSD_GUARD_CHARGE, cgid, tokens, total, now);
}

static __always_inline void on_event(struct cgroup_subsys_state *css, bool fork, __u64 bytes)
{
	struct memqosd_guard_uid_key key;
	struct memqosd_guard_conf *conf;
	struct memqosd_guard_state *st;
	__u64 cgid = 0, now, rate, burst;
	__u32 tenant;

	tenant = memqosd_tenant_of_css(css, &cgid);
	if (!tenant)
		return;
	conf = bpf_map_lookup_elem(&memqosd_guard_conf, &tenant);
	if (!conf || !conf->enabled)
		return;
	now = bpf_ktime_get_ns();

	rate = fork ? conf->fork_rate : conf->charge_rate;
	burst = fork ? conf->fork_burst : conf->charge_burst;
	st = bpf_map_lookup_elem(&memqosd_guard_state, &tenant);
	if (st && rate)
		account(st, fork, rate, burst, bytes, tenant, MEMQOSD_GUARD_NO_UID, cgid, now);

	rate = fork ? conf->uid_fork_rate : conf->uid_charge_rate;
	if (!rate)
		return;
	burst = fork ? conf->uid_fork_burst : conf->uid_charge_burst;
	key.tenant_id = tenant;
	key.uid = (__u32)bpf_get_current_uid_gid();
	st = bpf_map_lookup_elem(&memqosd_guard_uid, &key);
	if (!st) {
		struct memqosd_guard_state zero = {};

		if (bpf_map_update_elem(&memqosd_guard_uid, &key, &zero, BPF_NOEXIST) < 0 &&
		    !bpf_map_lookup_elem(&memqosd_guard_uid, &key)) {
			__sync_fetch_and_add(&guard_uid_full, 1);
			return;
		}
		st = bpf_map_lookup_elem(&memqosd_guard_uid, &key);
		if (!st)
			return;
	}
	account(st, fork, rate, burst, bytes, tenant, key.uid, cgid, now);
}

SEC("fexit/__mem_cgroup_charge")
int BPF_PROG(guard_charge, struct folio *folio, struct mm_struct *mm, gfp_t gfp, int ret)
{
	struct mem_cgroup *memcg;

	if (ret)
		return 0;
	memcg = memqosd_folio_memcg(folio);
	if (memcg)
		on_event(&memcg->css, false, memqosd_folio_bytes(folio));
	return 0;
}

SEC("tp_btf/mod_memcg_lruvec_state")
int BPF_PROG(guard_tp_charge, struct mem_cgroup *memcg, int item, int val)
{
	if (!memqosd_lruvec_item_is_charge(item, val))
		return 0;
	on_event(&memcg->css, false, (__u64)val * PAGE_BYTES);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(guard_fork, struct task_struct *parent, struct task_struct *child)
{
	struct cgroup *cgrp = BPF_CORE_READ(child, cgroups, dfl_cgrp);

	if (cgrp)
		on_event(&cgrp->self, true, 0);
	return 0;
}
