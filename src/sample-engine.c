/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "policy.h"
#include "sample-engine.h"
#include "sample-model.h"

#include "sample.skel.h"

/* Records drained per loop iteration (the epoll fd is level-triggered: the rest comes next time). */
#define SAMPLE_RING_DRAIN_MAX 512

struct SampleEngine {
	const Logger *log;
	struct sample_bpf *skel;
	PolicyRing ring;
	const char *flavour;
	SampleRecordHandler handler;
	void *userdata;
	uint64_t ids_used[MEMQOSD_MAX_TENANTS / 64]; /* tenant ids ever set: their charge counters */
};

static int ring_record(void *ctx, void *data, size_t size)
{
	SampleEngine *e = ctx;

	if (size >= sizeof(struct memqosd_sample_head) && e->handler)
		e->handler(data, size, e->userdata);
	return 0;
}

/* What the running kernel offers the sampler (BTF). */
typedef struct SampleHooks {
	bool charge;     /* __mem_cgroup_charge: the fentry flavour */
	bool kmem_page;  /* __memcg_kmem_charge_page / __memcg_kmem_uncharge_page */
	bool slab;       /* __memcg_slab_post_alloc_hook / __memcg_slab_free_hook */
	bool tp;         /* the mod_memcg_lruvec_state tracepoint: the tracepoint flavour */
	bool tp_delete;  /* the mm_filemap_delete_from_page_cache tracepoint */
} SampleHooks;

static int sample_try(SampleEngine *e, bool fentry, const SampleHooks *hooks)
{
	struct sample_bpf *skel = sample_bpf__open();
	int r;

	if (!skel)
		return log_debug_errno(e->log, negative_errno(), "Failed to open the sampler: %m");
	sample_exp_table((uint32_t *) skel->rodata->exp_table, MEMQOSD_SAMPLE_EXP_TABLE);
	skel->rodata->tp_flavour = !fentry;
	(void) bpf_program__set_autoload(skel->progs.sample_charge, fentry);
	(void) bpf_program__set_autoload(skel->progs.sample_uncharge, fentry);
	(void) bpf_program__set_autoload(skel->progs.sample_uncharge_folios, fentry);
	(void) bpf_program__set_autoload(skel->progs.sample_kmem_page, fentry && hooks->kmem_page);
	(void) bpf_program__set_autoload(skel->progs.sample_kmem_uncharge, fentry && hooks->kmem_page);
	(void) bpf_program__set_autoload(skel->progs.sample_slab, fentry && hooks->slab);
	(void) bpf_program__set_autoload(skel->progs.sample_slab_free, fentry && hooks->slab);
	(void) bpf_program__set_autoload(skel->progs.sample_tp_charge, !fentry);
	(void) bpf_program__set_autoload(skel->progs.sample_tp_file_free, !fentry && hooks->tp_delete);
	r = sample_bpf__load(skel);
	if (r >= 0)
		r = sample_bpf__attach(skel);
	if (r < 0) {
		(void) log_debug_errno(e->log, r, "Failed to load or attach the sampler (%s): %m",
				       fentry ? "fentry" : "tracepoints");
		sample_bpf__destroy(skel);
		return r;
	}
	e->skel = skel;
	e->flavour = fentry ? "fentry" : "tracepoints";
	return 0;
}

int sample_engine_new(const Logger *log, SampleRecordHandler handler, void *userdata, SampleEngine **ret)
{
	_cleanup_(sample_engine_freep) SampleEngine *e = NULL;
	SampleHooks hooks;
	struct btf *btf;
	int r = -EOPNOTSUPP;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	*e = (SampleEngine) { .log = log, .handler = handler, .userdata = userdata };
	policy_libbpf_log(log);

	btf = btf__load_vmlinux_btf();
	if (!btf)
		return log_debug_errno(log, negative_errno(), "sampler: no kernel BTF: %m");
	hooks = (SampleHooks) {
		.charge = btf__find_by_name_kind(btf, "__mem_cgroup_charge", BTF_KIND_FUNC) >= 0,
		.kmem_page = btf__find_by_name_kind(btf, "__memcg_kmem_charge_page", BTF_KIND_FUNC) >= 0 &&
			     btf__find_by_name_kind(btf, "__memcg_kmem_uncharge_page", BTF_KIND_FUNC) >= 0,
		.slab = btf__find_by_name_kind(btf, "__memcg_slab_post_alloc_hook", BTF_KIND_FUNC) >= 0 &&
			btf__find_by_name_kind(btf, "__memcg_slab_free_hook", BTF_KIND_FUNC) >= 0,
		.tp = btf__find_by_name_kind(btf, "btf_trace_mod_memcg_lruvec_state", BTF_KIND_TYPEDEF) >= 0,
		.tp_delete = btf__find_by_name_kind(btf, "btf_trace_mm_filemap_delete_from_page_cache",
						    BTF_KIND_TYPEDEF) >= 0,
	};
	btf__free(btf);

	if (hooks.charge)
		r = sample_try(e, true, &hooks);
	if (!e->skel && hooks.tp)
		r = sample_try(e, false, &hooks);
	if (!e->skel)
		return r;

	e->ring = (PolicyRing) { .log = log, .drain_max = SAMPLE_RING_DRAIN_MAX, .description = "sample-ringbuf" };
	e->ring.rb = ring_buffer__new(bpf_map__fd(e->skel->maps.memqosd_sample_rb), ring_record, e, NULL);
	if (!e->ring.rb)
		return log_debug_errno(log, negative_errno(), "sampler: failed to set up the ring buffer reader: %m");
	*ret = TAKE_PTR(e);
	return 0;
}

SampleEngine *sample_engine_free(SampleEngine *e)
{
	if (!e)
		return NULL;
	policy_ring_clear(&e->ring);
	sample_bpf__destroy(e->skel);
	free(e);
	return NULL;
}

const char *sample_engine_flavour(const SampleEngine *e)
{
	return e && e->flavour ? e->flavour : "none";
}

int sample_engine_set_attached(SampleEngine *e, bool attached)
{
	if (!e)
		return -EINVAL;
	if (!attached) {
		sample_bpf__detach(e->skel);
		return 0;
	}
	return sample_bpf__attach(e->skel);
}

/*
 * A tenant's sample size changed: every CPU's countdown still runs down the gap drawn at the old
 * size (after SampleSize=1G -> 1M, about 1G more bytes before the first sample). Disarmed, each CPU
 * draws a new gap at its next charge. This is for the countdowns kept in memqosd_sampler; a CPU
 * that has the tenant cached (struct memqosd_sample_cpu) disarms its own copy when it sees the new
 * size (after the tenants_gen bump). Best effort: a charge counted by the program between the read
 * and the write is lost from the tenant's charge counters.
 */
static void sample_disarm(SampleEngine *e, uint32_t tenant_id)
{
	int fd = bpf_map__fd(e->skel->maps.memqosd_sampler), ncpu = libbpf_num_possible_cpus();
	_cleanup_free_ struct memqosd_sample_state *st = NULL;

	if (ncpu <= 0 || !(st = calloc((size_t) ncpu, sizeof(*st))) || bpf_map_lookup_elem(fd, &tenant_id, st) < 0)
		return;
	for (int i = 0; i < ncpu; i++) {
		st[i].armed = 0;
		st[i].credit = 0; /* the program's countdown alone decides: credit <= 0 draws */
	}
	(void) bpf_map_update_elem(fd, &tenant_id, st, BPF_ANY);
}

int sample_engine_set_tenant(SampleEngine *e, uint32_t tenant_id, uint64_t cgroup_id,
			     const struct memqosd_sample_conf *conf)
{
	struct memqosd_tenant_key key = { .tenant_id = tenant_id };
	struct memqosd_sample_conf old = {};

	if (!e || tenant_id == 0 || tenant_id >= MEMQOSD_MAX_TENANTS)
		return -EINVAL;
	(void) bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.memqosd_sample_conf), &tenant_id, &old);
	/* Settings first, so the first charge seen already has them. */
	if (bpf_map_update_elem(bpf_map__fd(e->skel->maps.memqosd_sample_conf), &tenant_id, conf, BPF_ANY) < 0)
		return negative_errno();
	if (old.sample_bytes != conf->sample_bytes)
		sample_disarm(e, tenant_id);
	if (bpf_map_update_elem(bpf_map__fd(e->skel->maps.memqosd_tenants), &cgroup_id, &key, BPF_ANY) < 0)
		return negative_errno();
	e->ids_used[tenant_id / 64] |= 1ULL << (tenant_id % 64);
	/* The programs' per-CPU memcg caches hold tenant lookups made before: they are stale now. */
	__atomic_fetch_add(&e->skel->bss->tenants_gen, 1, __ATOMIC_SEQ_CST);
	return 0;
}

void sample_engine_remove_tenant(SampleEngine *e, uint32_t tenant_id, uint64_t cgroup_id)
{
	struct memqosd_sample_conf off = {};

	if (!e || tenant_id == 0 || tenant_id >= MEMQOSD_MAX_TENANTS)
		return;
	(void) bpf_map_delete_elem(bpf_map__fd(e->skel->maps.memqosd_tenants), &cgroup_id);
	(void) bpf_map_update_elem(bpf_map__fd(e->skel->maps.memqosd_sample_conf), &tenant_id, &off, BPF_ANY);
	__atomic_fetch_add(&e->skel->bss->tenants_gen, 1, __ATOMIC_SEQ_CST);
}

int sample_engine_attach_event(SampleEngine *e, sd_event *event)
{
	if (!e)
		return -EINVAL;
	return policy_ring_attach(&e->ring, event);
}

int sample_engine_poll(SampleEngine *e, int timeout_ms)
{
	if (!e)
		return -EINVAL;
	return ring_buffer__poll(e->ring.rb, timeout_ms);
}

int sample_engine_counters(const SampleEngine *e, struct memqosd_sample_counters *ret)
{
	int ncpu = libbpf_num_possible_cpus();
	_cleanup_free_ struct memqosd_sample_counters *per = NULL;
	_cleanup_free_ struct memqosd_sample_state *st = NULL;
	_cleanup_free_ struct memqosd_sample_cpu *pc = NULL;
	struct memqosd_sample_counters sum = {};
	uint32_t zero = 0;

	if (!e || ncpu <= 0)
		return -EINVAL;
	per = calloc((size_t) ncpu, sizeof(*per));
	st = calloc((size_t) ncpu, sizeof(*st));
	pc = calloc((size_t) ncpu, sizeof(*pc));
	if (!per || !st || !pc)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.memqosd_sample_counters), &zero, per) < 0)
		return negative_errno();
	for (int i = 0; i < ncpu; i++) {
		sum.samples += per[i].samples;
		sum.large += per[i].large;
		sum.dropped += per[i].dropped;
		sum.backoffs += per[i].backoffs;
		sum.frees += per[i].frees;
		sum.live_full += per[i].live_full;
	}
	for (uint32_t t = 1; t < MEMQOSD_MAX_TENANTS; t++) {
		if (!(e->ids_used[t / 64] & (1ULL << (t % 64))) ||
		    bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.memqosd_sampler), &t, st) < 0)
			continue;
		for (int i = 0; i < ncpu; i++) {
			sum.charges += st[i].charges;
			sum.charged_bytes += st[i].charged_bytes;
		}
	}
	/* The charges counted in each CPU's cached countdown since it was loaded (not yet stored back). */
	if (bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.memqosd_sample_cpu), &zero, pc) == 0)
		for (int i = 0; i < ncpu; i++) {
			if (!pc[i].tenant)
				continue;
			sum.charges += pc[i].state.charges;
			sum.charged_bytes += pc[i].state.charged_bytes;
		}
	*ret = sum;
	return 0;
}
