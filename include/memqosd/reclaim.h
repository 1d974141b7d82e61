/* SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause) */
/*
 * Proactive reclaim's kernel side (bpf/reclaim.bpf.c -> src/reclaim.c), issue 14. The program
 * counts, per tenant, the pages that come back after the kernel evicted them (refaults: a folio
 * charged to the tenant or a cgroup below it is added back with a shadow entry). User space arms a
 * tenant after each memory.reclaim step with a threshold on that counter; the first refault after
 * arming is stamped, and when the counter reaches the threshold one record goes to the ring buffer
 * and the tenant is disarmed. A tenant that does not refault sends nothing; the map is read (not
 * polled) when status asks for the counter.
 */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define MEMQOSD_RECLAIM_RINGBUF_BYTES (64U << 10)
#define MEMQOSD_RECLAIM_MAX_TENANTS 4096
#define MEMQOSD_RECLAIM_ANCESTOR_DEPTH 8

/* Value of the tenant map, keyed by the tenant's cgroup id (inode of its cgroup directory). */
struct memqosd_reclaim_tenant {
	__u32 tenant_id;
	__u32 armed;            /* 1: send a record when refaults reach `threshold` */
	__u64 refaults;         /* pages refaulted since the tenant was added (only grows) */
	__u64 threshold;        /* armed: the value of `refaults` that triggers the record */
	__u64 first_ns;         /* armed: CLOCK_MONOTONIC of the first refault since arming; 0 = none yet */
};

/* One record: the tenant refaulted past its threshold. */
struct memqosd_reclaim_event {
	__u64 ts_ns;            /* CLOCK_MONOTONIC when the threshold was reached */
	__u64 first_ns;         /* the first refault after arming */
	__u64 cgroup_id;
	__u64 refaults;         /* the counter then */
	__u32 tenant_id;
	__u32 pad;
};
