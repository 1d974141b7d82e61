/* SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause) */
/*
 * How a memcg_ops policy is attached on memqosd's patched kernel (kernel-patches/0001 and 0002):
 * BPF_LINK_CREATE on the struct_ops map, attach type BPF_STRUCT_OPS, flags BPF_F_CGROUP_FD and
 * target_fd an fd of the cgroup v2 directory (opened for reading: O_PATH fds are refused). The link
 * reports its cgroup in bpf_link_info.struct_ops.cgroup_id. The system's <linux/bpf.h> predates
 * both, so they are spelled here once for the daemon, the benchmarks and the kernel tests.
 */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#ifndef BPF_F_CGROUP_FD
#define BPF_F_CGROUP_FD (1U << 7)
#endif

/* enum bpf_attach_type's BPF_STRUCT_OPS (linux 6.4 UAPI), an enumerator: not testable with #ifdef. */
#define MEMQOSD_BPF_STRUCT_OPS 44

/* bpf_link_info.struct_ops as the series defines it: the per-type union starts with it. */
struct memqosd_struct_ops_link_info {
	__u32 map_id;
	__u32 pad;
	__u64 cgroup_id; /* 0: the link has no target */
};
