// SPDX-License-Identifier: GPL-2.0
/*
 * Test policies for the memcg_ops kernel tests (tests/vm/kernel/).
 *
 * Every struct_ops map here carries a tag (enum kt_tag); its hooks count calls per tag, hook and
 * cgroup slot, so a test can tell which ops ran for which cgroup. User space maps cgroup ids to
 * slots through the `slots` hash map and reads the counters from .bss.
 *
 * The independent reference (tests 1 and 3): fentry on try_charge_memcg() remembers the address of
 * each watched memcg's `memory` page counter; fentry on page_counter_try_charge() counts calls on
 * that counter. On cgroup v2, try_charge_memcg() is the only caller that charges memcg->memory, and
 * it does so exactly once per charge that missed the per-CPU stock when no limit is hit, which is
 * where the contract places the charge hook. So without limits: hook calls == reference calls.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "kt.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);	/* cgroup id */
	__type(value, __u32);	/* slot */
} slots SEC(".maps");

__u64 cnt[KT_TAG_MAX][KT_HOOK_MAX][KT_NSLOT];
__u64 anomaly[5][KT_NSLOT];	/* per KT_ANOM_* bit */
__u64 charge_fail[KT_NSLOT];	/* charge hook calls with success == false */
__u64 ref_calls[KT_NSLOT];	/* fentry try_charge_memcg, stock hits included */
__u64 ref_cnt[KT_NSLOT];	/* page_counter_try_charge on the slot's memcg->memory */
__u64 watch_addr[KT_NSLOT];
__u64 online_any[KT_TAG_MAX];
__u64 offline_any[KT_TAG_MAX];

__u64 thr_floor;		/* jiffies ops_thr's high_delay returns */
__u64 thr_max_penalty;		/* largest penalty ops_thr was offered */
int prot_ret;			/* what ops_prot's below_low returns */

static __always_inline __u32 slot_of(struct mem_cgroup *memcg)
{
	__u64 id;
	__u32 *slot;

	if (!memcg)
		return 0;
	id = memcg->css.cgroup->kn->id;
	slot = bpf_map_lookup_elem(&slots, &id);
	if (!slot || *slot >= KT_NSLOT)
		return 0;
	return *slot;
}

static __always_inline void bump(int tag, int hook, __u32 slot)
{
	if (tag < 0 || tag >= KT_TAG_MAX || hook < 0 || hook >= KT_HOOK_MAX || slot >= KT_NSLOT)
		return;
	__sync_fetch_and_add(&cnt[tag][hook][slot], 1);
}

static __always_inline void on_charge(int tag, struct mem_cgroup *memcg,
				      struct memcg_charge_info *info)
{
	__u32 slot = slot_of(memcg);

	bump(tag, KT_HOOK_CHARGE, slot);
	if (!memcg)
		__sync_fetch_and_add(&anomaly[4][slot], 1);
	if (!info->nr_pages)
		__sync_fetch_and_add(&anomaly[0][slot], 1);
	if (info->reclaim_pages)
		__sync_fetch_and_add(&anomaly[1][slot], 1);
	if (!info->success) {
		__sync_fetch_and_add(&charge_fail[slot], 1);
		if (!info->over_limit)
			__sync_fetch_and_add(&anomaly[3][slot], 1);
	}
}

#define KT_CHARGE(name, tag)                                                          \
	SEC("struct_ops/charge")                                                      \
	void BPF_PROG(name, struct mem_cgroup *memcg, struct memcg_charge_info *info) \
	{                                                                             \
		on_charge(tag, memcg, info);                                          \
	}

KT_CHARGE(a_charge, KT_TAG_A)
KT_CHARGE(b_charge, KT_TAG_B)
KT_CHARGE(c_charge, KT_TAG_C)
KT_CHARGE(thr_charge, KT_TAG_THR)
KT_CHARGE(prot_charge, KT_TAG_PROT)
KT_CHARGE(life_charge, KT_TAG_LIFE)
KT_CHARGE(legacy_charge, KT_TAG_LEGACY)

SEC("struct_ops/high_delay")
unsigned long BPF_PROG(thr_high_delay, struct mem_cgroup *memcg, unsigned long penalty)
{
	bump(KT_TAG_THR, KT_HOOK_HIGH_DELAY, slot_of(memcg));
	if (penalty > thr_max_penalty)
		thr_max_penalty = penalty;
	return thr_floor;
}

SEC("struct_ops/below_low")
int BPF_PROG(prot_below_low, struct mem_cgroup *memcg, unsigned long elow, unsigned long usage)
{
	bump(KT_TAG_PROT, KT_HOOK_BELOW_LOW, slot_of(memcg));
	return prot_ret;
}

SEC("struct_ops/below_min")
int BPF_PROG(prot_below_min, struct mem_cgroup *memcg, unsigned long emin, unsigned long usage)
{
	bump(KT_TAG_PROT, KT_HOOK_BELOW_MIN, slot_of(memcg));
	return -1;
}

/* Every hook, doing nothing but count: for the lifecycle test. */
#define KT_ALL_HOOKS(pfx, tag)                                                        \
	SEC("struct_ops/high_delay")                                                  \
	unsigned long BPF_PROG(pfx##_high_delay, struct mem_cgroup *memcg,            \
			       unsigned long penalty)                                 \
	{                                                                             \
		bump(tag, KT_HOOK_HIGH_DELAY, slot_of(memcg));                        \
		return 0;                                                             \
	}                                                                             \
	SEC("struct_ops/below_low")                                                   \
	int BPF_PROG(pfx##_below_low, struct mem_cgroup *memcg, unsigned long elow,   \
		     unsigned long usage)                                             \
	{                                                                             \
		bump(tag, KT_HOOK_BELOW_LOW, slot_of(memcg));                         \
		return -1;                                                            \
	}                                                                             \
	SEC("struct_ops/below_min")                                                   \
	int BPF_PROG(pfx##_below_min, struct mem_cgroup *memcg, unsigned long emin,   \
		     unsigned long usage)                                             \
	{                                                                             \
		bump(tag, KT_HOOK_BELOW_MIN, slot_of(memcg));                         \
		return -1;                                                            \
	}                                                                             \
	SEC("struct_ops/online")                                                      \
	void BPF_PROG(pfx##_online, struct mem_cgroup *memcg)                         \
	{                                                                             \
		bump(tag, KT_HOOK_ONLINE, slot_of(memcg));                            \
		__sync_fetch_and_add(&online_any[tag], 1);                            \
	}                                                                             \
	SEC("struct_ops/offline")                                                     \
	void BPF_PROG(pfx##_offline, struct mem_cgroup *memcg)                        \
	{                                                                             \
		bump(tag, KT_HOOK_OFFLINE, slot_of(memcg));                           \
		__sync_fetch_and_add(&offline_any[tag], 1);                           \
	}

KT_ALL_HOOKS(life, KT_TAG_LIFE)
KT_ALL_HOOKS(legacy, KT_TAG_LEGACY)

/* Independent reference counters (see the top of the file). */
SEC("fentry/try_charge_memcg")
int BPF_PROG(ref_try_charge, struct mem_cgroup *memcg, gfp_t gfp_mask, unsigned int nr_pages)
{
	__u32 slot = slot_of(memcg);
	__u64 addr;

	if (!slot)
		return 0;
	__sync_fetch_and_add(&ref_calls[slot], 1);
	addr = (__u64)&memcg->memory;
	if (watch_addr[slot] != addr)
		watch_addr[slot] = addr;
	return 0;
}

SEC("fentry/page_counter_try_charge")
int BPF_PROG(ref_counter_charge, struct page_counter *counter, unsigned long nr_pages,
	     struct page_counter **fail)
{
	__u64 addr = (__u64)counter;
	int i;

	for (i = 1; i < KT_NSLOT; i++) {
		if (watch_addr[i] == addr) {
			__sync_fetch_and_add(&ref_cnt[i], 1);
			break;
		}
	}
	return 0;
}

/* flags are filled in by user space before load; the cgroup is the target of the link (ops-link.h). */
SEC(".struct_ops.link")
struct memcg_ops ops_a = {
	.charge = (void *)a_charge,
	.name = "kt_a",
};

SEC(".struct_ops.link")
struct memcg_ops ops_b = {
	.charge = (void *)b_charge,
	.name = "kt_b",
};

SEC(".struct_ops.link")
struct memcg_ops ops_c = {
	.charge = (void *)c_charge,
	.name = "kt_c",
};

SEC(".struct_ops.link")
struct memcg_ops ops_thr = {
	.charge = (void *)thr_charge,
	.high_delay = (void *)thr_high_delay,
	.name = "kt_thr",
};

SEC(".struct_ops.link")
struct memcg_ops ops_prot = {
	.charge = (void *)prot_charge,
	.below_low = (void *)prot_below_low,
	.below_min = (void *)prot_below_min,
	.name = "kt_prot",
};

SEC(".struct_ops.link")
struct memcg_ops ops_life = {
	.charge = (void *)life_charge,
	.high_delay = (void *)life_high_delay,
	.below_low = (void *)life_below_low,
	.below_min = (void *)life_below_min,
	.online = (void *)life_online,
	.offline = (void *)life_offline,
	.name = "kt_life",
};

/* Registered through the legacy map update (reg() with link == NULL). */
SEC(".struct_ops")
struct memcg_ops ops_legacy = {
	.charge = (void *)legacy_charge,
	.high_delay = (void *)legacy_high_delay,
	.below_low = (void *)legacy_below_low,
	.below_min = (void *)legacy_below_min,
	.online = (void *)legacy_online,
	.offline = (void *)legacy_offline,
	.name = "kt_legacy",
};
