/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared between kt.bpf.c and the kernel VM test programs: the layout of the counters the test
 * policies keep. User space assigns each cgroup it watches a slot (1..KT_NSLOT-1) in the `slots`
 * hash map (cgroup id -> slot); slot 0 collects everything else.
 */
#pragma once

#define KT_NSLOT 8

/* One tag per struct_ops map in kt.bpf.c, so counters show which ops ran. */
enum kt_tag {
	KT_TAG_A,
	KT_TAG_B,
	KT_TAG_C,
	KT_TAG_THR,
	KT_TAG_PROT,
	KT_TAG_LIFE,
	KT_TAG_LEGACY,
	KT_TAG_MAX,
};

enum kt_hook {
	KT_HOOK_CHARGE,
	KT_HOOK_HIGH_DELAY,
	KT_HOOK_BELOW_LOW,
	KT_HOOK_BELOW_MIN,
	KT_HOOK_ONLINE,
	KT_HOOK_OFFLINE,
	KT_HOOK_MAX,
};

/* Bits of `anomaly`: a charge hook saw an argument the contract (MEMCG_OPS.md) rules out. */
#define KT_ANOM_NR_PAGES     (1U << 0) /* nr_pages == 0 */
#define KT_ANOM_RECLAIM      (1U << 1) /* reclaim_pages != 0 on entry */
#define KT_ANOM_UNUSED       (1U << 2) /* (success with over_limit set is legal: forced/retried charge) */
#define KT_ANOM_FAIL_NOLIMIT (1U << 3) /* failure without over_limit */
#define KT_ANOM_MEMCG        (1U << 4) /* memcg argument NULL */

/* memcg_ops flag (MEMCG_OPS.md); #defines are not in BTF, so user space spells it here. */
#define KT_MEMCG_OPS_F_ALLOW_OVERRIDE (1U << 0)
