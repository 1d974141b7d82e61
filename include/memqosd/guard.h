/* SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause) */
/*
 * The storm guard (job 4): bpf/guard.bpf.c <-> src/guard.c.
 *
 * Per tenant (ARRAY by tenant id) and per (tenant, uid) (HASH), two token buckets: bytes charged and
 * forks. A bucket holds at most `burst` tokens and refills at `rate` per second; every charge takes
 * its bytes, every fork one token (scaled by MEMQOSD_GUARD_FORK_UNIT to keep integer precision). A
 * bucket in debt (tokens < 0) is a storm: the first charge or fork that puts it there sends
 * MEMQOSD_GUARD_START on memqosd_guard_rb; the first charge or fork that finds it refilled to half its
 * burst again sends MEMQOSD_GUARD_STOP. A storm that stops dead (frozen, killed) sends no STOP: user
 * space evaluates the bucket from the map (guard_bucket_refill() semantics, same arithmetic) on its
 * tick. Rates are 0 = not checked.
 */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/bpf.h>
#include <linux/types.h>
#endif

#define MEMQOSD_GUARD_RINGBUF_BYTES (256U << 10)
#define MEMQOSD_GUARD_UID_ENTRIES 16384
#define MEMQOSD_GUARD_FORK_UNIT 1000     /* fork tokens are in thousandths of a fork */

enum {
	MEMQOSD_GUARD_START = 1,
	MEMQOSD_GUARD_STOP = 2,
};

enum {
	MEMQOSD_GUARD_CHARGE = 1,    /* the bytes bucket */
	MEMQOSD_GUARD_FORK = 2,      /* the forks bucket */
};

#define MEMQOSD_GUARD_NO_UID 0xffffffffU /* the tenant-wide bucket */

/* Limits of one tenant (memqosd_guard_conf[tenant_id]); enabled = 0: not checked. */
struct memqosd_guard_conf {
	__u64 charge_rate;           /* bytes per second */
	__u64 charge_burst;          /* bytes */
	__u64 fork_rate;             /* forks per second */
	__u64 fork_burst;            /* forks */
	__u64 uid_charge_rate;       /* per uid within the tenant; 0 = off */
	__u64 uid_charge_burst;
	__u64 uid_fork_rate;
	__u64 uid_fork_burst;
	__u32 enabled;
	__u32 pad;
};

/* One token bucket. */
struct memqosd_guard_bucket {
	__s64 tokens;                /* bytes, or forks x MEMQOSD_GUARD_FORK_UNIT */
	__u64 last_ns;               /* last refill (bpf_ktime_get_ns), 0 = never used */
	__u64 total;                 /* bytes charged / forks since the bucket was created */
	__u32 storm;                 /* in debt since the last START */
	__u32 pad;
};

/* memqosd_guard_state[tenant_id] and memqosd_guard_uid[(tenant_id, uid)]. */
struct memqosd_guard_state {
	struct bpf_spin_lock lock;
	__u32 pad;
	struct memqosd_guard_bucket charge;
	struct memqosd_guard_bucket fork;
};

struct memqosd_guard_uid_key {
	__u32 tenant_id;
	__u32 uid;
};

/* A record on memqosd_guard_rb. */
struct memqosd_guard_event {
	__u32 kind;                  /* MEMQOSD_GUARD_START / STOP */
	__u32 tenant_id;
	__u32 uid;                   /* MEMQOSD_GUARD_NO_UID: the tenant's bucket */
	__u32 bucket;                /* MEMQOSD_GUARD_CHARGE / FORK */
	__u64 cgroup_id;             /* the tenant's cgroup */
	__u64 ts_ns;
	__s64 tokens;                /* after this charge/fork */
	__u64 total;                 /* bytes / forks counted in this bucket so far */
	__u32 pid;                   /* the task that crossed */
	__u32 pad;
};
