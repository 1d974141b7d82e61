// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Test 14's witness of the memcg_ops static key: the memory controller calls __memcg_ops_charge()
 * only while the key is on (a memcg_ops is attached somewhere), so with nothing attached this
 * fentry program counts nothing, whatever memcg charges.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

__u64 hook_calls;

SEC("fentry/__memcg_ops_charge")
int BPF_PROG(kt_hook_calls)
{
	__sync_fetch_and_add(&hook_calls, 1);
	return 0;
}
