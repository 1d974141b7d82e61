// SPDX-License-Identifier: GPL-2.0
/*
 * Policies for the charge-path microbenchmark (bench/charge/).
 *   ops_noop:     every memcg_ops hook, each doing nothing (returns "kernel's decision").
 *   ops_throttle: a throttling policy as a tenant would run it: counts charges per CPU and returns
 *                 a delay floor from high_delay. In the benchmark the cgroup never reaches
 *                 memory.high, so it is attached but idle on the throttling side. Its parameter
 *                 (floor_jiffies) is rodata, as memqosd's priority policy had it per tenant.
 *   ops_map:      the same with the parameters looked up per call as memqosd's priority policy does
 *                 since issue 12 (one program for every tenant): the charged memcg's cgroup id read
 *                 through BTF pointers, one hash lookup of a 40-byte entry (the benchmark fills the
 *                 map with 1,000 entries), the entry copied and its key checked. The difference to
 *                 ops_throttle is the cost of that lookup.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u64 floor_jiffies = 5;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} charges SEC(".maps");

/* The shape of struct memqosd_priority_params (include/memqosd/policy-abi.h). */
struct bench_params {
	__u64 cgroup_id;
	__u32 tenant_id;
	__s32 priority;
	__u64 protect_pages;
	__u64 delay_floor_jiffies;
	__u32 extra_reclaim_pages;
	__u32 near_max_permille;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct bench_params);
} params SEC(".maps");

SEC("struct_ops/charge")
void BPF_PROG(noop_charge, struct mem_cgroup *memcg, struct memcg_charge_info *info)
{
}

SEC("struct_ops/high_delay")
unsigned long BPF_PROG(noop_high_delay, struct mem_cgroup *memcg, unsigned long penalty)
{
	return 0;
}

SEC("struct_ops/below_low")
int BPF_PROG(noop_below_low, struct mem_cgroup *memcg, unsigned long elow, unsigned long usage)
{
	return -1;
}

SEC("struct_ops/below_min")
int BPF_PROG(noop_below_min, struct mem_cgroup *memcg, unsigned long emin, unsigned long usage)
{
	return -1;
}

SEC("struct_ops/online")
void BPF_PROG(noop_online, struct mem_cgroup *memcg)
{
}

SEC("struct_ops/offline")
void BPF_PROG(noop_offline, struct mem_cgroup *memcg)
{
}

SEC("struct_ops/charge")
void BPF_PROG(thr_charge, struct mem_cgroup *memcg, struct memcg_charge_info *info)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&charges, &zero);

	if (n)
		*n += info->nr_pages;
}

SEC("struct_ops/high_delay")
unsigned long BPF_PROG(thr_high_delay, struct mem_cgroup *memcg, unsigned long penalty)
{
	return floor_jiffies;
}

static __always_inline bool map_params(struct mem_cgroup *memcg, struct bench_params *p)
{
	struct cgroup *cg = memcg->css.cgroup;
	struct bench_params *v;
	__u64 id;

	if (!cg || !cg->kn)
		return false;
	id = cg->kn->id;
	v = bpf_map_lookup_elem(&params, &id);
	if (!v)
		return false;
	*p = *v;
	return p->cgroup_id == id;
}

SEC("struct_ops/charge")
void BPF_PROG(map_charge, struct mem_cgroup *memcg, struct memcg_charge_info *info)
{
	struct bench_params p;
	__u32 zero = 0;
	__u64 *n;

	if (!map_params(memcg, &p))
		return;
	n = bpf_map_lookup_elem(&charges, &zero);
	if (n)
		*n += info->nr_pages;
}

SEC("struct_ops/high_delay")
unsigned long BPF_PROG(map_high_delay, struct mem_cgroup *memcg, unsigned long penalty)
{
	struct bench_params p;

	return map_params(memcg, &p) ? p.delay_floor_jiffies : 0;
}

SEC(".struct_ops.link")
struct memcg_ops ops_noop = {
	.charge = (void *)noop_charge,
	.high_delay = (void *)noop_high_delay,
	.below_low = (void *)noop_below_low,
	.below_min = (void *)noop_below_min,
	.online = (void *)noop_online,
	.offline = (void *)noop_offline,
	.name = "bench_noop",
};

SEC(".struct_ops.link")
struct memcg_ops ops_throttle = {
	.charge = (void *)thr_charge,
	.high_delay = (void *)thr_high_delay,
	.name = "bench_throttle",
};

SEC(".struct_ops.link")
struct memcg_ops ops_map = {
	.charge = (void *)map_charge,
	.high_delay = (void *)map_high_delay,
	.name = "bench_map",
};
