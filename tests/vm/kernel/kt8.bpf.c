// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Test 18's witness of charges from softirq: fentry on __memcg_ops_charge(), which the memory
 * controller calls for a charge that missed the per-CPU stock while a memcg_ops is attached
 * somewhere. It counts the calls for one memcg (the cgroup whose sockets carry loopback traffic)
 * made while the CPU serves a softirq (the receive path of a TCP socket), and of those the calls
 * for which the memcg had a policy in effect, which the kernel then runs in that softirq.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* x86's per-CPU preempt count; SOFTIRQ_OFFSET is set while a softirq is being served. */
extern struct pcpu_hot pcpu_hot __ksym;
#define KT8_SOFTIRQ_OFFSET 0x100

__u64 net_cg;			/* cgroup id of the watched memcg (0: count nothing) */
__u64 calls;			/* calls for it */
__u64 softirq_calls;		/* ... of which in softirq */
__u64 softirq_with_ops;		/* ... of which with a policy in effect for the memcg */

SEC("fentry/__memcg_ops_charge")
int BPF_PROG(kt_softirq_charge, struct mem_cgroup *memcg)
{
	struct pcpu_hot *hot = bpf_this_cpu_ptr(&pcpu_hot);

	if (!net_cg || memcg->css.cgroup->kn->id != net_cg)
		return 0;
	__sync_fetch_and_add(&calls, 1);
	if (!(hot->preempt_count & KT8_SOFTIRQ_OFFSET))
		return 0;
	__sync_fetch_and_add(&softirq_calls, 1);
	if (memcg->bpf.ops)
		__sync_fetch_and_add(&softirq_with_ops, 1);
	return 0;
}
