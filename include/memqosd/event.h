/* SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause) */
/*
 * The one event record that memqosd's BPF policies (bpf/) send to the daemon (src/) through the
 * shared BPF ring buffer. Included by BPF programs (after vmlinux.h) and by user space.
 */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

enum memqosd_event_kind {
	MEMQOSD_EV_CHARGE = 1,       /* a charge went past the per-CPU stock (sampled) */
	MEMQOSD_EV_CHARGE_FAIL = 2,  /* try_charge_memcg() failed: over memory.max */
	MEMQOSD_EV_OVER_HIGH = 3,    /* tenant throttled for exceeding memory.high */
	MEMQOSD_EV_RECLAIM = 4,      /* direct memcg reclaim ran on the tenant's behalf */
	MEMQOSD_EV_PROTECT = 5,      /* the policy granted memory.low/min style protection */
	MEMQOSD_EV_NEAR_MAX = 6,     /* usage crossed the near-memory.max watermark */
	MEMQOSD_EV_WATCH = 7,        /* near or growing toward the tightest memory.max: the forecast's entry */
	_MEMQOSD_EV_MAX,
};

struct memqosd_event {
	__u64 ts_ns;      /* bpf_ktime_get_ns() */
	__u64 cgroup_id;  /* cgroup id (inode number of the cgroup directory) */
	__u64 pages;      /* pages concerned (charge size, reclaim target, delay in jiffies...) */
	__u64 value;      /* kind-specific: usage in pages, penalty, return code */
	__u32 tenant_id;  /* daemon-assigned tenant id (rodata / map value); 0 = unknown */
	__u16 kind;       /* enum memqosd_event_kind */
	__u16 flags;
};
