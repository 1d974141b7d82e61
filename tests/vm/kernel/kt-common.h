/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the memcg_ops kernel tests: the kt.bpf.c skeleton, slots and counters. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <bpf/libbpf.h>

#include "cgutil.h"
#include "kt.h"
#include "kt.skel.h"

/* Creates <cgroot>/<name> with the memory controller enabled for its children. */
void kt_test_cgroup(struct kt_report *r, const char *name, char *buf, size_t len);
/* Creates <parent>/<name>; with_children: enables +memory in its subtree_control too. */
void kt_sub_cgroup(struct kt_report *r, const char *parent, const char *name, bool with_children,
		   char *buf, size_t len, uint64_t *ret_id);

/* libbpf messages: warnings and errors to stderr; debug too with KT_VERBOSE=1. */
void kt_libbpf_setup(void);
/* Dies loudly (exit 2) unless the running kernel's BTF has struct memcg_ops. */
void kt_require_memcg_ops(struct kt_report *r);
/* Dies loudly (exit 2) unless a swap device is active (tests 4 and 5 reclaim anonymous memory). */
void kt_require_swap(struct kt_report *r);

struct kt *kt_open_or_die(struct kt_report *r);
void kt_load_or_die(struct kt_report *r, struct kt *s);
/* Attaches the fentry reference programs. */
void kt_attach_ref_or_die(struct kt_report *r, struct kt *s, struct bpf_link **l1, struct bpf_link **l2);

int kt_slot(struct kt *s, uint64_t cgid, uint32_t slot);
void kt_reset_counters(struct kt *s);
uint64_t kt_cnt(struct kt *s, int tag, int hook, uint32_t slot);
uint64_t kt_anomalies(struct kt *s, uint32_t slot);

/*
 * End of a test (or phase): destroys the given links (NULL ones are skipped), then the skeleton,
 * then the cgroup tree at base.  kt_teardown(s, base, link1, link2, ...) counts the links itself.
 */
void kt_teardown_links(struct kt *s, const char *base, struct bpf_link *const *links, size_t n);
#define kt_teardown(s, base, ...)                                                                  \
	kt_teardown_links(s, base, (struct bpf_link *const[]){ __VA_ARGS__ },                      \
			  sizeof((struct bpf_link *const[]){ __VA_ARGS__ }) / sizeof(struct bpf_link *))

/*
 * Attaches map to the cgroup directory `cgroup` by a struct_ops link with BPF_F_CGROUP_FD
 * (ops-link.h); returns NULL and sets *ret_err (negative errno) on failure.
 */
struct bpf_link *kt_attach_ops(struct bpf_map *map, const char *cgroup, int *ret_err);
/* Suppress libbpf warnings around an attach that is expected to fail. */
void kt_libbpf_quiet(bool quiet);
/*
 * Becomes uid (and gid) uid with no supplementary groups, keeping exactly the capabilities in caps
 * (bit n = capability n) as permitted and effective. For forked children of the tests. 0 or -errno.
 */
int kt_become(uid_t uid, uint64_t caps);

/*
 * Prints (up to 40) and counts the kernel log's lines that report a WARNING, BUG, KASAN, lockdep
 * or RCU problem (a splat, a stall, a hung task). Dies (exit 2) if the log cannot be read.
 */
int kt_scan_kernel_log(struct kt_report *r);
/* true if the kernel log shows KASAN or lockdep initialised (the debug kernel). */
bool kt_kernel_is_debug(void);
/*
 * Waits up to limit_s seconds for the key of cg's cgroup.stat (nr_dying_descendants, ...) to drop
 * to at most baseline, polling every 200 ms; returns its last value and the time waited.
 */
uint64_t kt_wait_stat(struct kt_report *r, const char *cg, const char *key, uint64_t baseline, unsigned int limit_s,
		      double *ret_secs);
