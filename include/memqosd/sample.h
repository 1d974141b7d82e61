/* SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause) */
/*
 * Records of the allocation sampler (bpf/sample.bpf.c -> src/sample-model.c), job 2 ("what is eating
 * this tenant's memory"). The sampler has a ring buffer of its own (memqosd_sample_rb), so a storm of
 * samples never crowds out the control events in memqosd_events.
 *
 * Sampling is by bytes charged, per tenant and CPU: sample points fall on the charged bytes as a
 * Poisson process of mean interval `sample_bytes` (exponential gaps drawn from a quantile table the
 * loader computes, sample_exp_table()). A charge of s bytes that holds k >= 1 points is recorded once
 * with weight k * interval, so the sum of weights estimates the bytes charged without bias whatever
 * the charge sizes. Every charge of at least `large_bytes` is recorded on its own with weight = its
 * size (and does not consume sample points). Under a storm (more than max_per_sec samples in a second
 * on a CPU) the interval doubles, up to 2^MEMQOSD_SAMPLE_MAX_SHIFT; it halves again after a quiet
 * second. Records the ring buffer has no room for are counted in memqosd_sample_counters.dropped.
 *
 * Frees: a sampled folio, kmem page or slab object is remembered (memqosd_sample_live: its address ->
 * seq, weight); when it is uncharged a FREE record returns its weight to the sample with that seq.
 */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define MEMQOSD_SAMPLE_RINGBUF_BYTES (4U << 20)
#define MEMQOSD_SAMPLE_LIVE_ENTRIES 65536
#define MEMQOSD_SAMPLE_STACK_BYTES 8192      /* user stack slice copied above the user sp */
#define MEMQOSD_SAMPLE_STACK_CHUNK 1024      /* copied in chunks; stops at the first unreadable one */
#define MEMQOSD_SAMPLE_KSTACK_DEPTH 24       /* kernel frames (bpf_get_stack) */
#define MEMQOSD_SAMPLE_USTACK_DEPTH 32       /* user frames by frame pointers (a fallback) */
#define MEMQOSD_SAMPLE_EXP_TABLE 256         /* quantiles of Exp(1), in 1/65536 units */
#define MEMQOSD_SAMPLE_MAX_SHIFT 10          /* back-off: the interval grows at most 1024-fold */
#define MEMQOSD_SAMPLE_MAX_POINTS 64         /* sample points counted in one charge (bounded loop) */
#define MEMQOSD_SAMPLE_NREGS 17              /* x86-64 DWARF registers 0..16 (rax..r15, rip) */
#define MEMQOSD_SAMPLE_BUILD_ID_DEPTH 8      /* user frames as build-id + file offset (bpf_get_stack) */
#define MEMQOSD_SAMPLE_BUILD_ID_SIZE 20

enum {
	MEMQOSD_SAMPLE_ALLOC = 1,   /* struct memqosd_sample */
	MEMQOSD_SAMPLE_FREE = 2,    /* struct memqosd_sample_free: a sampled folio was uncharged */
	MEMQOSD_SAMPLE_FILE = 3,    /* struct memqosd_sample_file: the sampled folio went into a file's page cache */
};

#define MEMQOSD_SAMPLEF_LARGE 0x1      /* recorded because bytes >= large_bytes (weight = bytes) */
#define MEMQOSD_SAMPLEF_USER 0x2       /* regs and ustack are the task's user state */
#define MEMQOSD_SAMPLEF_TRACKED 0x4    /* in memqosd_sample_live: a FREE record will follow the uncharge */
#define MEMQOSD_SAMPLEF_NO_MM 0x8      /* charged without an mm (page cache): a FILE record may follow */
#define MEMQOSD_SAMPLEF_NO_EXEC 0x10   /* the process has not exec'd since its fork: ppid's mappings are its own */
#define MEMQOSD_SAMPLEF_KMEM 0x20      /* kernel memory (slab objects, kmem pages): the kernel stack tells what */

/*
 * One user frame as the kernel resolves it (struct bpf_stack_build_id, BPF_F_USER_BUILD_ID): the
 * build-id of the file mapped there and the address's offset in the file (status VALID), or only
 * the address (status IP: no file, or its build-id could not be read).
 */
enum {
	MEMQOSD_SAMPLE_BUILD_ID_EMPTY = 0,
	MEMQOSD_SAMPLE_BUILD_ID_VALID = 1,
	MEMQOSD_SAMPLE_BUILD_ID_IP = 2,
};

struct memqosd_sample_build_id {
	__s32 status;
	__u8 build_id[MEMQOSD_SAMPLE_BUILD_ID_SIZE];
	__u64 offset;               /* file offset (VALID) or address (IP) */
};

/* The first bytes of every record. */
struct memqosd_sample_head {
	__u16 kind;
	__u16 flags;
	__u32 tenant_id;
	__u64 seq;                  /* per boot, unique per ALLOC record; FREE/FILE refer to it */
	__u64 ts_ns;                /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
};

struct memqosd_sample {
	struct memqosd_sample_head h;
	__u64 cgroup_id;            /* the tenant's cgroup */
	__u64 weight;               /* bytes this record stands for */
	__u64 bytes;                /* bytes of this charge */
	__u64 mm_id;                /* address of the task's mm: a new one after exec (0: none) */
	__u32 pid;                  /* tgid */
	__u32 tid;
	__u32 ppid;                 /* tgid of the parent */
	__u32 pad2;
	char comm[16];
	__s32 n_kips;               /* kernel frames in kips (<0: error of bpf_get_stack) */
	__s32 n_uips;               /* user frames found by frame pointers in uips */
	__u32 ustack_len;           /* bytes valid in ustack (from regs[7], the user sp) */
	__u32 pad;
	__u64 regs[MEMQOSD_SAMPLE_NREGS];  /* DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip */
	__u64 kips[MEMQOSD_SAMPLE_KSTACK_DEPTH];
	__u64 uips[MEMQOSD_SAMPLE_USTACK_DEPTH];
	/*
	 * The first frames by frame pointers again, as build-id + file offset: what names them when
	 * the process is gone before its mappings were read (it exec'd, ran a few ms and exited);
	 * frame 0 (the interrupted instruction) is always right, the others only with frame pointers.
	 */
	__s32 n_bids;
	__u32 pad3;
	struct memqosd_sample_build_id bids[MEMQOSD_SAMPLE_BUILD_ID_DEPTH];
	__u8 ustack[MEMQOSD_SAMPLE_STACK_BYTES];
};

struct memqosd_sample_free {
	struct memqosd_sample_head h;
	__u64 weight;               /* the weight of the ALLOC record seq, now freed */
};

struct memqosd_sample_file {
	struct memqosd_sample_head h;
	__u64 ino;
	__u32 dev;                  /* kernel dev_t (MAJOR << 20 | MINOR) */
	__u32 pid;                  /* tgid of the task that added the folio to the page cache */
};

/* Per CPU (PERCPU_ARRAY[1]); the loader sums them. */
struct memqosd_sample_counters {
	__u64 charges;              /* charges of traced tenants seen (memqosd_sample_state, _cpu) */
	__u64 charged_bytes;
	__u64 samples;              /* ALLOC records submitted */
	__u64 large;                /* of which large */
	__u64 dropped;              /* records the ring buffer had no room for */
	__u64 backoffs;             /* times the interval doubled */
	__u64 frees;                /* FREE records submitted */
	__u64 live_full;            /* sampled folios not tracked: memqosd_sample_live full */
};

/*
 * Per tenant and CPU (PERCPU_ARRAY[MEMQOSD_MAX_TENANTS]): the sampler's countdown, while the tenant
 * is not the one cached in this CPU's struct memqosd_sample_cpu (which has it then). The charge
 * counters live here (not in memqosd_sample_counters) so that a charge with no sample point touches
 * one map value; the loader adds them up. armed == 0: a new gap is drawn at the next charge (credit
 * is then <= 0 too, so that the countdown alone decides).
 */
struct memqosd_sample_state {
	__s64 credit;               /* bytes until the next sample point */
	__u64 win_start_ns;         /* back-off window (1 s) */
	__u32 win_count;            /* samples in this window */
	__u32 shift;                /* interval = sample_bytes << shift */
	__u32 armed;
	__u32 pad;
	__u64 charges;              /* charges of this tenant seen */
	__u64 charged_bytes;
};

/* Per tenant (ARRAY[MEMQOSD_MAX_TENANTS], written by the daemon): sampling is off where enabled == 0. */
struct memqosd_sample_conf {
	__u64 sample_bytes;         /* mean interval between sample points, bytes charged */
	__u64 large_bytes;          /* charges of at least this many bytes are all recorded; 0 = none */
	__u32 enabled;
	__u32 max_per_sec;          /* per CPU: above this the interval doubles (back-off) */
};

/*
 * Per CPU (PERCPU_ARRAY[1], memqosd_sample_cpu): everything a charge with no sample point touches,
 * in one map value. The memcg of the last charge on this CPU, by its css serial number (one load
 * from the memcg; never reused, unlike an address), the tenant it belongs to (0: none), a copy of
 * that tenant's settings, and the tenant's countdown on this CPU, which lives here while the tenant
 * is the cached one (in memqosd_sampler otherwise: stored back there when another tenant's memcg
 * is charged on this CPU). Valid while the program's tenants_gen is unchanged (the loader bumps it
 * after every change of the tenants or their settings). state.charges and state.charged_bytes
 * count from the moment the countdown was loaded here and are added to memqosd_sampler when it is
 * stored back: the loader adds both up.
 */
struct memqosd_sample_cpu {
	__u64 serial;               /* css serial number of the cached memcg (0: nothing cached) */
	__u64 gen;                  /* tenants_gen when it was looked up */
	__u64 tenant_cgid;          /* the tenant's cgroup */
	__u32 tenant;               /* the tenant (0: the memcg is no tenant's) */
	__u32 sampling;             /* tenant != 0 and conf.enabled */
	__u64 large_min;            /* conf.large_bytes, or ~0 when none */
	struct memqosd_sample_conf conf;
	struct memqosd_sample_state state;
};
