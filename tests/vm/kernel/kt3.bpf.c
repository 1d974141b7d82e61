// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Test 11's struct_ops of another type than memcg_ops: a minimal TCP congestion control. Only
 * memcg_ops accepts a cgroup as the target of its links; this one must be refused (EOPNOTSUPP).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("struct_ops")
__u32 BPF_PROG(kt_ca_ssthresh, struct sock *sk)
{
	return 2;
}

SEC("struct_ops")
void BPF_PROG(kt_ca_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops")
__u32 BPF_PROG(kt_ca_undo_cwnd, struct sock *sk)
{
	return 2;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops kt_ca = {
	.ssthresh = (void *)kt_ca_ssthresh,
	.cong_avoid = (void *)kt_ca_cong_avoid,
	.undo_cwnd = (void *)kt_ca_undo_cwnd,
	.name = "kt_ca",
};
