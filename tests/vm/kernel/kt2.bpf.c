// SPDX-License-Identifier: GPL-2.0
/*
 * Test policies for the v2 defect tests (tests/vm/kernel/t8..t10):
 *
 * t8: ops_fail asks for more extra reclaim than the cap on every failing charge; fentry programs
 *     watch the reclaim the kernel does for the target cgroup's tasks and the OOM killer's entry.
 * t9: ops_rec's charge hook initialises a bpf_timer (a memcg-accounted allocation charged to the
 *     memcg the maps were created in), so the hook can be reached again from inside itself.
 * t10: ops_off's offline hook records the cgroup and keeps running for a while; every other hook
 *     counts the calls it gets for a cgroup it was already told went offline.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define KT2_SIGKILL 9
#define KT2_PF_EXITING 0x00000004

/* ---- t8 ---- */
__u64 fail_cg;			/* cgroup id of the test cgroup (charged memcg and tasks) */
__u64 ask_pages;		/* what ops_fail writes to reclaim_pages on a failing charge */
__u64 cap;			/* MEMCG_OPS_MAX_RECLAIM_PAGES from the kernel's BTF (0: not there) */
__u64 seq;			/* event clock */
__u64 fail_calls;		/* ->charge() with success == false for the test cgroup */
__u64 fail_nonblock;		/* ... of which with a gfp mask that may not block */
__u64 fail_dying;		/* ... of which while the task was dying */
__u64 first_fail_seq;
__u64 charges;			/* try_charge_memcg() entries by the test cgroup's tasks */
__u64 cap_calls;		/* reclaim of exactly cap pages by the test cgroup's tasks */
__u64 over_cap;			/* reclaim of more than cap pages */
__u64 cap_twice;		/* a second cap-sized reclaim within one charge */
__u64 cap_nonblock;		/* cap-sized reclaim with a non-blocking gfp mask */
__u64 cap_dying;		/* cap-sized reclaim while the task was dying (OOM victim, SIGKILL, exiting) */
__u64 cap_elsewhere;		/* cap-sized reclaim of a memcg other than the charging one (fail_cg) */
__u64 last_cap_charge;
__u64 oom_calls;		/* mem_cgroup_out_of_memory() entries by the test cgroup's tasks */
__u64 first_oom_seq;

static __always_inline __u64 tick(void)
{
	return __sync_add_and_fetch(&seq, 1);
}

static __always_inline bool task_dying(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	return t->signal->oom_mm || (t->pending.signal.sig[0] & (1UL << (KT2_SIGKILL - 1))) ||
	       (t->flags & KT2_PF_EXITING);
}

/* The cap the kernel applies to reclaim_pages, from its BTF (0 if the enum is not there). */
static __always_inline void read_cap(void)
{
	if (!cap && bpf_core_enum_value_exists(enum memcg_ops_limits, MEMCG_OPS_MAX_RECLAIM_PAGES))
		cap = bpf_core_enum_value(enum memcg_ops_limits, MEMCG_OPS_MAX_RECLAIM_PAGES);
}

SEC("struct_ops/charge")
void BPF_PROG(fail_charge, struct mem_cgroup *memcg, struct memcg_charge_info *info)
{
	read_cap();
	if (info->success || memcg->css.cgroup->kn->id != fail_cg)
		return;
	__sync_fetch_and_add(&fail_calls, 1);
	if (!(info->gfp_mask & (1U << ___GFP_DIRECT_RECLAIM_BIT)))
		__sync_fetch_and_add(&fail_nonblock, 1);
	if (task_dying())
		__sync_fetch_and_add(&fail_dying, 1);
	if (!first_fail_seq)
		first_fail_seq = tick();
	info->reclaim_pages = ask_pages;
}

SEC("fentry/try_charge_memcg")
int BPF_PROG(t8_charge, struct mem_cgroup *memcg, gfp_t gfp_mask, unsigned int nr_pages)
{
	if (fail_cg && bpf_get_current_cgroup_id() == fail_cg)
		__sync_fetch_and_add(&charges, 1);
	return 0;
}

SEC("fentry/try_to_free_mem_cgroup_pages")
int BPF_PROG(t8_reclaim, struct mem_cgroup *memcg, unsigned long nr_pages, gfp_t gfp_mask)
{
	if (!fail_cg || !cap)
		return 0;
	/* A non-blocking charge may run in any context (softirq): no cgroup filter here. */
	if (nr_pages == cap && !(gfp_mask & (1U << ___GFP_DIRECT_RECLAIM_BIT)))
		__sync_fetch_and_add(&cap_nonblock, 1);
	if (bpf_get_current_cgroup_id() != fail_cg)
		return 0;
	if (nr_pages > cap)
		__sync_fetch_and_add(&over_cap, 1);
	if (nr_pages != cap)
		return 0;
	__sync_fetch_and_add(&cap_calls, 1);
	if (memcg->css.cgroup->kn->id != fail_cg)
		__sync_fetch_and_add(&cap_elsewhere, 1);
	if (last_cap_charge == charges)
		__sync_fetch_and_add(&cap_twice, 1);
	last_cap_charge = charges;
	if (task_dying())
		__sync_fetch_and_add(&cap_dying, 1);
	return 0;
}

SEC("fentry/mem_cgroup_out_of_memory")
int BPF_PROG(t8_oom, struct mem_cgroup *memcg, gfp_t gfp_mask, int order)
{
	if (!fail_cg || bpf_get_current_cgroup_id() != fail_cg)
		return 0;
	__sync_fetch_and_add(&oom_calls, 1);
	if (!first_oom_seq)
		first_oom_seq = tick();
	return 0;
}

SEC(".struct_ops.link")
struct memcg_ops ops_fail = {
	.charge = (void *)fail_charge,
	.name = "kt2_fail",
};

/* ---- t9 ---- */
struct kt2_timer {
	struct bpf_timer t;
};

#define KT2_TIMERS 4096

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KT2_TIMERS);
	__type(key, __u32);
	__type(value, struct kt2_timer);
} timers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} depth SEC(".maps");

__u64 rec_outer_cg;		/* the cgroup whose charges allocate timers */
__u64 rec_inner_cg;		/* the cgroup the maps (and so the timers) are charged to */
__u64 rec_armed;
__u64 rec_next;			/* next timer slot */
__u64 rec_calls;		/* charge hook runs */
__u64 rec_nested;		/* charge hook runs that started while another one ran on this CPU */
__u64 rec_timer_inits;		/* successful bpf_timer_init() calls */
__u64 rec_inner_charges;	/* try_charge_memcg() of the inner cgroup while the hook ran */

SEC("struct_ops/charge")
void BPF_PROG(rec_charge, struct mem_cgroup *memcg, struct memcg_charge_info *info)
{
	__u32 zero = 0, slot;
	__u64 *d = bpf_map_lookup_elem(&depth, &zero);
	struct kt2_timer *e;

	if (!d)
		return;
	if (*d)
		__sync_fetch_and_add(&rec_nested, 1);
	*d += 1;
	__sync_fetch_and_add(&rec_calls, 1);
	if (rec_armed && memcg->css.cgroup->kn->id == rec_outer_cg) {
		slot = __sync_fetch_and_add(&rec_next, 1);
		if (slot < KT2_TIMERS) {
			e = bpf_map_lookup_elem(&timers, &slot);
			if (e && !bpf_timer_init(&e->t, &timers, 1 /* CLOCK_MONOTONIC */))
				__sync_fetch_and_add(&rec_timer_inits, 1);
		}
	}
	*d -= 1;
}

SEC("fentry/try_charge_memcg")
int BPF_PROG(t9_charge, struct mem_cgroup *memcg, gfp_t gfp_mask, unsigned int nr_pages)
{
	__u32 zero = 0;
	__u64 *d;

	if (!rec_inner_cg || memcg->css.cgroup->kn->id != rec_inner_cg)
		return 0;
	d = bpf_map_lookup_elem(&depth, &zero);
	if (d && *d)
		__sync_fetch_and_add(&rec_inner_charges, 1);
	return 0;
}

SEC(".struct_ops.link")
struct memcg_ops ops_rec = {
	.charge = (void *)rec_charge,
	.name = "kt2_rec",
};

/* ---- t10 ---- */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} gone SEC(".maps");

__u64 off_calls;		/* ->offline() runs */
__u64 off_spin;			/* bpf_loop iterations ->offline() spends (widens the window) */
__u64 off_after;		/* other hooks called for a memcg after its ->offline() */
__u64 off_hooks;		/* other hooks called at all */

static long spin_cb(__u64 i, void *ctx)
{
	return 0;
}

static __always_inline void after_check(struct mem_cgroup *memcg)
{
	__u64 id = memcg->css.cgroup->kn->id;

	__sync_fetch_and_add(&off_hooks, 1);
	if (bpf_map_lookup_elem(&gone, &id))
		__sync_fetch_and_add(&off_after, 1);
}

SEC("struct_ops/offline")
void BPF_PROG(off_offline, struct mem_cgroup *memcg)
{
	__u64 id = memcg->css.cgroup->kn->id, one = 1;

	bpf_map_update_elem(&gone, &id, &one, BPF_ANY);
	__sync_fetch_and_add(&off_calls, 1);
	bpf_loop(off_spin, spin_cb, NULL, 0);
}

SEC("struct_ops/charge")
void BPF_PROG(off_charge, struct mem_cgroup *memcg, struct memcg_charge_info *info)
{
	after_check(memcg);
}

SEC("struct_ops/below_low")
int BPF_PROG(off_below_low, struct mem_cgroup *memcg, unsigned long elow, unsigned long usage)
{
	after_check(memcg);
	return -1;
}

SEC("struct_ops/below_min")
int BPF_PROG(off_below_min, struct mem_cgroup *memcg, unsigned long emin, unsigned long usage)
{
	after_check(memcg);
	return -1;
}

SEC(".struct_ops.link")
struct memcg_ops ops_off = {
	.charge = (void *)off_charge,
	.below_low = (void *)off_below_low,
	.below_min = (void *)off_below_min,
	.offline = (void *)off_offline,
	.name = "kt2_off",
};
