// SPDX-License-Identifier: GPL-2.0
/*
 * Test 15's policies: three memcg_ops (tags X, Y, Z) with only ->online() and ->offline(), which
 * count their calls per cgroup slot and keep, per slot, which ops was last told that it applies
 * (holder: tag + 1, 0 for none). An ->online() while another ops holds the slot, or an ->offline()
 * by an ops that does not hold it, is counted in `unpaired`: the replay must end one policy's hold
 * on a memcg before the next one's starts, and pair every ->online() with one ->offline().
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kt.h"

char LICENSE[] SEC("license") = "GPL";

#define KT6_TAGS 3

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);	/* cgroup id */
	__type(value, __u32);	/* slot */
} slots SEC(".maps");

__u64 on[KT6_TAGS][KT_NSLOT];
__u64 off[KT6_TAGS][KT_NSLOT];
__u32 holder[KT_NSLOT];
__u64 unpaired;

static __always_inline __u32 slot_of(struct mem_cgroup *memcg)
{
	__u64 id = memcg->css.cgroup->kn->id;
	__u32 *slot = bpf_map_lookup_elem(&slots, &id);

	if (!slot || *slot >= KT_NSLOT)
		return 0;
	return *slot;
}

/* Called under memcg_bpf_mutex: no two of these run at once. */
static __always_inline void note(int tag, bool online, struct mem_cgroup *memcg)
{
	__u32 slot = slot_of(memcg);

	if (tag < 0 || tag >= KT6_TAGS || slot >= KT_NSLOT)
		return;
	if (online) {
		on[tag][slot]++;
		if (slot && holder[slot])
			unpaired++;
		holder[slot] = tag + 1;
	} else {
		off[tag][slot]++;
		if (slot && holder[slot] != (__u32)tag + 1)
			unpaired++;
		holder[slot] = 0;
	}
}

#define KT6_OPS(pfx, tag)                                                             \
	SEC("struct_ops/online")                                                      \
	void BPF_PROG(pfx##_online, struct mem_cgroup *memcg)                         \
	{                                                                             \
		note(tag, true, memcg);                                               \
	}                                                                             \
	SEC("struct_ops/offline")                                                     \
	void BPF_PROG(pfx##_offline, struct mem_cgroup *memcg)                        \
	{                                                                             \
		note(tag, false, memcg);                                              \
	}                                                                             \
	SEC(".struct_ops.link")                                                       \
	struct memcg_ops ops_##pfx = {                                                \
		.online = (void *)pfx##_online,                                       \
		.offline = (void *)pfx##_offline,                                     \
		.name = "kt6_" #pfx,                                                  \
	}

KT6_OPS(x, 0);
KT6_OPS(y, 1);
KT6_OPS(z, 2);
