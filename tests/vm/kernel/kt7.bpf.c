// SPDX-License-Identifier: GPL-2.0
/*
 * Test 16's programs (review blocker B1: ->offline() must not wait for a grace period under
 * cgroup_mutex). ops_off has only ->offline(), which counts its calls; ops_plain has only a
 * charge hook that does nothing, for the comparison without ->offline(). kt_off_enter/exit mark
 * the thread inside memcg_bpf_offline() (css offlining runs under cgroup_mutex there), and
 * kt_sync counts the synchronize_rcu() calls such a thread makes.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

__u64 offline_calls;		/* ops_off's ->offline() runs */
__u64 offline_entered;		/* memcg_bpf_offline() calls while tracing */
__u64 syncs_in_offline;		/* synchronize_rcu() calls made inside memcg_bpf_offline() */
__u32 tracing;			/* 0: the tracing programs count nothing */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);	/* thread id */
	__type(value, __u8);
} in_offline SEC(".maps");

SEC("fentry/memcg_bpf_offline")
int BPF_PROG(kt_off_enter, struct mem_cgroup *memcg)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u8 one = 1;

	if (!tracing)
		return 0;
	__sync_fetch_and_add(&offline_entered, 1);
	bpf_map_update_elem(&in_offline, &tid, &one, BPF_ANY);
	return 0;
}

SEC("fexit/memcg_bpf_offline")
int BPF_PROG(kt_off_exit, struct mem_cgroup *memcg)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&in_offline, &tid);
	return 0;
}

SEC("fentry/synchronize_rcu")
int BPF_PROG(kt_sync)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (bpf_map_lookup_elem(&in_offline, &tid))
		__sync_fetch_and_add(&syncs_in_offline, 1);
	return 0;
}

SEC("struct_ops/offline")
void BPF_PROG(off_offline, struct mem_cgroup *memcg)
{
	__sync_fetch_and_add(&offline_calls, 1);
}

SEC("struct_ops/charge")
void BPF_PROG(plain_charge, struct mem_cgroup *memcg, struct memcg_charge_info *info)
{
}

SEC(".struct_ops.link")
struct memcg_ops ops_off = {
	.offline = (void *)off_offline,
	.name = "kt7_off",
};

SEC(".struct_ops.link")
struct memcg_ops ops_plain = {
	.charge = (void *)plain_charge,
	.name = "kt7_plain",
};
