// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Test 13's count of the work a propagation does: memcg_bpf_propagate() steps through the subtree
 * with css_for_each_descendant_pre(), one css_next_descendant_pre() call per memcg it visits plus
 * one that ends the walk. This fentry program counts those calls made by one thread (walker_tid,
 * the thread that attaches or detaches), so other walks of the cgroup core on other CPUs or in
 * kworkers do not count.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

__u32 walker_tid;
__u64 walk_steps;

SEC("fentry/css_next_descendant_pre")
int BPF_PROG(kt_walk_step)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (walker_tid && tid == walker_tid)
		__sync_fetch_and_add(&walk_steps, 1);
	return 0;
}
