// SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause)
/*
 * memqosd "sample" program: sampled allocation stacks per tenant (job 2). Tracing only: it records
 * which code charges memory to a tenant, the struct_ops policy (if any) keeps doing the decisions.
 * Sampling rule, records and back-off: include/memqosd/sample.h.
 *
 * Two flavours (the loader picks one):
 *  - fentry/fexit (kernels with BPF trampolines, e.g. the patched 6.12 guest):
 *    fexit/__mem_cgroup_charge sees every folio charge (user pages and page cache) with its real
 *    size, once per folio, whatever the per-CPU charge stock did: the stock only batches the page
 *    counter, the folio is charged either way. The memcg is the one the folio was charged to
 *    (folio->memcg_data), so a charge to another cgroup than the current task's is attributed right.
 *    Kernel memory: fexit/__memcg_slab_post_alloc_hook (slab objects of accounted caches, at their
 *    charged size) and fexit/__memcg_kmem_charge_page (__GFP_ACCOUNT pages), where the kernel has
 *    them. Sampled folios, kmem pages and slab objects are remembered and their uncharge
 *    (fentry/__mem_cgroup_uncharge[_folios], __memcg_kmem_uncharge_page, __memcg_slab_free_hook)
 *    sends a FREE record; tp_btf/mm_filemap_add_to_page_cache names the file of a sampled page-cache
 *    folio (FILE record).
 *  - tracepoint (no trampolines, e.g. this project's 6.18 build host): tp_btf/mod_memcg_lruvec_state,
 *    positive NR_ANON_MAPPED / NR_FILE_PAGES deltas of a memcg (memory newly accounted to it, about
 *    one call per page mapped) and NR_SLAB_{UN,}RECLAIMABLE_B (the kernel flushing its per-CPU slab
 *    byte stock, in pages). Page cache gets its folio from mm_filemap_add_to_page_cache right after
 *    (same CPU and task: the sample waits for it), hence its file and, at
 *    mm_filemap_delete_from_page_cache, its free. No tracepoint names the folio of an anonymous
 *    charge or the objects of a slab flush: those have no FREE records in this flavour.
 *
 * Each ALLOC record carries the user registers at kernel entry and a slice of the user stack above
 * sp (for DWARF unwinding in user space: Debian's binaries have no frame pointers), the frame-pointer
 * user stack as a fallback, and the kernel stack.
 *
 * Cost on the hot paths: a charge with no sample point makes one map lookup (this CPU's struct
 * memqosd_sample_cpu: the last memcg charged here by css serial number, its tenant, a copy of its
 * settings and its countdown) and a few loads, no helper call; an uncharge hook returns at once
 * while no object of its kind is tracked (live_count per kind), and otherwise checks a counting
 * filter (a global array, no map lookup) before the hash of tracked objects.
 */

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "memqosd.bpf.h"
#include "memqosd/sample.h"

char LICENSE[] SEC("license") = "GPL";

#define PAGE_BYTES 4096ULL
#define KTHREAD_FLAG 0x00200000 /* PF_KTHREAD */
#define MEMCG_DATA_FLAGS 3ULL   /* low bits of folio->memcg_data (MEMCG_DATA_OBJEXTS | MEMCG_DATA_KMEM) */

/* Quantiles of Exp(1) in 1/65536 units (sample_exp_table()), filled by the loader. */
const volatile __u32 exp_table[MEMQOSD_SAMPLE_EXP_TABLE];
/* Set by the loader when it loads the tracepoint flavour: the other flavour's code is left out. */
const volatile bool tp_flavour;


/* What a tracked (sampled, not yet uncharged) object is: its uncharge hooks skip while none is live. */
enum live_kind {
	LIVE_FOLIO,
	LIVE_KMEM_PAGE,
	LIVE_SLAB,
	LIVE_KINDS,
};

struct live_entry {
	__u64 seq;
	__u64 weight;
	__u32 tenant_id;
	__u16 flags;
	__u16 kind;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MEMQOSD_SAMPLE_RINGBUF_BYTES);
} memqosd_sample_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MEMQOSD_MAX_TENANTS);
	__type(key, __u32);
	__type(value, struct memqosd_sample_conf);
} memqosd_sample_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MEMQOSD_MAX_TENANTS);
	__type(key, __u32);
	__type(value, struct memqosd_sample_state);
} memqosd_sampler SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct memqosd_sample_counters);
} memqosd_sample_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MEMQOSD_SAMPLE_LIVE_ENTRIES);
	__type(key, __u64);
	__type(value, struct live_entry);
} memqosd_sample_live SEC(".maps");

/* Per CPU: the last memcg charged, its tenant, settings and countdown (include/memqosd/sample.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct memqosd_sample_cpu);
} memqosd_sample_cpu SEC(".maps");

/*
 * A counting filter in front of memqosd_sample_live: slot hash(key) counts the tracked objects that
 * hash there, so that an uncharge of an object never sampled (nearly all) costs a load from a global
 * array (no map lookup), not a hash lookup.
 */
#define LIVE_FILTER_SLOTS (MEMQOSD_SAMPLE_LIVE_ENTRIES * 4)

__u32 live_filter[LIVE_FILTER_SLOTS];
__u64 sample_seq;
/* Entries in memqosd_sample_live per enum live_kind (approximate; only a shortcut). */
__u64 live_count[LIVE_KINDS];
volatile __u64 tenants_gen; /* bumped by the loader after every change of the tenants or their settings */

/*
 * The filter hashes an object's address, which the verifier lets no program shift or multiply while
 * it knows it for a pointer: keys reach it as plain numbers (bpf_get_func_arg, copies of batches),
 * or through as_number() where that is rare (the sample path, page-cache removal).
 */
static __always_inline __u64 as_number(__u64 v)
{
	__u64 n = 0;

	bpf_probe_read_kernel(&n, sizeof(n), &v);
	return n;
}

static __always_inline __u32 live_filter_slot(__u64 key)
{
	return (__u32)((key >> 6) * 0x9E3779B97F4A7C15ULL >> 40) & (LIVE_FILTER_SLOTS - 1);
}

static __always_inline struct memqosd_sample_counters *counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&memqosd_sample_counters, &zero);
}

static __always_inline __u64 draw_gap(__u64 interval)
{
	__u32 q = exp_table[bpf_get_prandom_u32() & (MEMQOSD_SAMPLE_EXP_TABLE - 1)];

	return (interval * q) >> 16;
}

/*
 * A charge of `bytes` to this CPU's cached tenant, counted down: true if it may be recorded (it is
 * large, or its bytes reach the next sample point: sample_weight() tells). The common case (no
 * sample point in this charge) is this and nothing else, in the value the tenant lookup returned:
 * the clock, the back-off window and the draws only run at a sample point (or at the first charge
 * after the countdown was disarmed: armed == 0 keeps credit <= 0).
 */
static __always_inline bool countdown(struct memqosd_sample_cpu *pc, __u64 bytes)
{
	struct memqosd_sample_state *s = &pc->state;

	s->charges++;
	s->charged_bytes += bytes;
	if (bytes >= pc->large_min)
		return true;
	s->credit -= bytes;
	return s->credit <= 0;
}

/*
 * After countdown() returned true: how many bytes the charge stands for in the sample (0: none).
 * Large charges stand for themselves.
 */
static __always_inline __u64 sample_weight(struct memqosd_sample_cpu *pc, __u64 bytes)
{
	struct memqosd_sample_state *s = &pc->state;
	const struct memqosd_sample_conf *conf = &pc->conf;
	__u64 now, interval;
	__u32 k = 0;

	if (bytes >= pc->large_min)
		return bytes;
	if (conf->sample_bytes == 0)
		return 0;

	now = bpf_ktime_get_ns();
	if (now - s->win_start_ns >= 1000000000ULL) {
		if (s->shift > 0 && s->win_count < conf->max_per_sec / 4)
			s->shift--;
		s->win_start_ns = now;
		s->win_count = 0;
	}
	interval = conf->sample_bytes << (s->shift & 31);
	if (!s->armed) {
		s->credit = draw_gap(interval) - bytes;
		s->armed = 1;
	}
	for (int i = 0; i < MEMQOSD_SAMPLE_MAX_POINTS && s->credit <= 0; i++) {
		k++;
		s->credit += draw_gap(interval);
	}
	if (k == 0)
		return 0;
	if (conf->max_per_sec && ++s->win_count > conf->max_per_sec && s->shift < MEMQOSD_SAMPLE_MAX_SHIFT) {
		struct memqosd_sample_counters *c = counters();

		s->shift++;
		s->win_count = 0;
		if (c)
			c->backoffs++;
	}
	return k * interval;
}

/* Copy the user registers (DWARF order) and a slice of the user stack; false if not a user task. */
static __always_inline bool copy_user_state(struct memqosd_sample *r)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs;
	__u64 sp;

	r->mm_id = (__u64)task->mm;
	if (!task->mm || (task->flags & KTHREAD_FLAG))
		return false;
	r->ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (task->self_exec_id == task->parent_exec_id)
		r->h.flags |= MEMQOSD_SAMPLEF_NO_EXEC;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs || (BPF_CORE_READ(regs, cs) & 3) != 3)
		return false;
	r->regs[0] = BPF_CORE_READ(regs, ax);
	r->regs[1] = BPF_CORE_READ(regs, dx);
	r->regs[2] = BPF_CORE_READ(regs, cx);
	r->regs[3] = BPF_CORE_READ(regs, bx);
	r->regs[4] = BPF_CORE_READ(regs, si);
	r->regs[5] = BPF_CORE_READ(regs, di);
	r->regs[6] = BPF_CORE_READ(regs, bp);
	r->regs[7] = sp = BPF_CORE_READ(regs, sp);
	r->regs[8] = BPF_CORE_READ(regs, r8);
	r->regs[9] = BPF_CORE_READ(regs, r9);
	r->regs[10] = BPF_CORE_READ(regs, r10);
	r->regs[11] = BPF_CORE_READ(regs, r11);
	r->regs[12] = BPF_CORE_READ(regs, r12);
	r->regs[13] = BPF_CORE_READ(regs, r13);
	r->regs[14] = BPF_CORE_READ(regs, r14);
	r->regs[15] = BPF_CORE_READ(regs, r15);
	r->regs[16] = BPF_CORE_READ(regs, ip);
	for (int i = 0; i < MEMQOSD_SAMPLE_STACK_BYTES / MEMQOSD_SAMPLE_STACK_CHUNK; i++) {
		if (bpf_probe_read_user(&r->ustack[i * MEMQOSD_SAMPLE_STACK_CHUNK], MEMQOSD_SAMPLE_STACK_CHUNK,
					(void *)(sp + i * MEMQOSD_SAMPLE_STACK_CHUNK)))
			break;
		r->ustack_len += MEMQOSD_SAMPLE_STACK_CHUNK;
	}
	return true;
}

/*
 * Reserve a record of `size` bytes (a constant) in the sampler's ring buffer and fill its head; NULL
 * when the ring buffer is full (counted as dropped). Every record goes through here.
 */
static __always_inline void *reserve_record(__u32 size, __u16 kind, __u32 tenant, __u64 seq)
{
	struct memqosd_sample_head *h = bpf_ringbuf_reserve(&memqosd_sample_rb, size, 0);

	if (!h) {
		struct memqosd_sample_counters *c = counters();

		if (c)
			c->dropped++;
		return NULL;
	}
	h->kind = kind;
	h->flags = 0;
	h->tenant_id = tenant;
	h->seq = seq;
	h->ts_ns = bpf_ktime_get_ns();
	return h;
}

/*
 * This CPU's cached tenant changes from pc->tenant to `tenant`: the old one's countdown and charge
 * counts go back to memqosd_sampler (disarmed if its sample size changed meanwhile: the loader's
 * disarm must not be undone), the new one's come from there.
 */
static __noinline void switch_tenant(struct memqosd_sample_cpu *pc, __u32 tenant)
{
	struct memqosd_sample_state *s;
	struct memqosd_sample_conf *now;
	__u32 old = pc->tenant;

	if (old && (s = bpf_map_lookup_elem(&memqosd_sampler, &old))) {
		__u64 charges = s->charges + pc->state.charges, charged = s->charged_bytes + pc->state.charged_bytes;

		now = bpf_map_lookup_elem(&memqosd_sample_conf, &old);
		*s = pc->state;
		s->charges = charges;
		s->charged_bytes = charged;
		if (!now || now->sample_bytes != pc->conf.sample_bytes) {
			s->armed = 0;
			s->credit = 0;
		}
	}
	__builtin_memset(&pc->state, 0, sizeof(pc->state));
	if (tenant && (s = bpf_map_lookup_elem(&memqosd_sampler, &tenant))) {
		pc->state = *s;
		pc->state.charges = 0;
		pc->state.charged_bytes = 0;
		if (!pc->state.armed)
			pc->state.credit = 0;
	}
	pc->tenant = tenant;
}

/*
 * A miss of this CPU's cache (another memcg, or the tenants changed): look the memcg's tenant up
 * (the ancestor walk, hash lookups) and cache it with its settings and countdown.
 */
static __noinline void refresh_cpu(struct memqosd_sample_cpu *pc, struct mem_cgroup *memcg, __u64 serial, __u64 gen)
{
	struct memqosd_sample_conf *conf;
	__u64 cgid = 0;
	__u32 tenant;

	tenant = memcg ? memqosd_tenant_of_css(&memcg->css, &cgid) : 0;
	conf = tenant ? bpf_map_lookup_elem(&memqosd_sample_conf, &tenant) : NULL;
	if (tenant != pc->tenant) {
		switch_tenant(pc, tenant);
	} else if (conf && conf->sample_bytes != pc->conf.sample_bytes) {
		/* The same tenant with a new sample size: the old gap is not run down (sample_disarm()). */
		pc->state.armed = 0;
		pc->state.credit = 0;
	}
	if (conf) {
		pc->conf = *conf;
	} else {
		__builtin_memset(&pc->conf, 0, sizeof(pc->conf));
	}
	pc->sampling = tenant && pc->conf.enabled;
	pc->large_min = pc->conf.large_bytes ? pc->conf.large_bytes : ~0ULL;
	pc->tenant_cgid = tenant ? cgid : 0;
	pc->serial = serial;
	pc->gen = gen; /* read before the lookup: a change during it makes this entry stale */
}

/*
 * This CPU's cache entry if a charge to `memcg` belongs to a tenant that samples: its settings and
 * countdown are in it; NULL otherwise. Every charge handler of both flavours starts here. A charge
 * to the memcg of the last charge on this CPU (charges come in runs) is one map lookup and a load of
 * the memcg's css serial number (bpf_core_cast: a plain load, no helper call).
 */
static __always_inline struct memqosd_sample_cpu *sampling_tenant(struct mem_cgroup *memcg)
{
	struct memqosd_sample_cpu *pc;
	__u64 serial, gen;
	__u32 zero = 0;

	if (!memcg)
		return NULL;
	pc = bpf_map_lookup_elem(&memqosd_sample_cpu, &zero);
	if (!pc)
		return NULL;
	serial = bpf_core_cast(memcg, struct mem_cgroup)->css.serial_nr;
	gen = tenants_gen;
	if (pc->serial != serial || pc->gen != gen)
		refresh_cpu(pc, memcg, serial, gen);
	return pc->sampling ? pc : NULL;
}

/*
 * Remember a sampled object (folio, kmem page, slab object: `kind`) so that its uncharge sends a FREE
 * record.
 */
static __always_inline bool track(__u64 key, __u16 kind, __u64 seq, __u64 weight, __u32 tenant, __u16 flags)
{
	struct live_entry le = { .seq = seq, .weight = weight, .tenant_id = tenant, .flags = flags, .kind = kind };
	struct memqosd_sample_counters *c;
	struct live_entry *old;
	__u32 slot;

	key = as_number(key);
	old = bpf_map_lookup_elem(&memqosd_sample_live, &key);
	slot = live_filter_slot(key);

	/*
	 * Replacing an entry (the object was freed without an uncharge seen) keeps its filter count;
	 * the count of its kind moves to the new one's.
	 */
	if (old) {
		__u16 was = old->kind;

		if (was < LIVE_KINDS)
			__sync_fetch_and_sub(&live_count[was], 1);
	}
	if (bpf_map_update_elem(&memqosd_sample_live, &key, &le, BPF_ANY) == 0) {
		if (kind < LIVE_KINDS)
			__sync_fetch_and_add(&live_count[kind], 1);
		if (!old)
			__sync_fetch_and_add(&live_filter[slot], 1);
		return true;
	}
	if (old && bpf_map_delete_elem(&memqosd_sample_live, &key) == 0)
		__sync_fetch_and_sub(&live_filter[slot], 1);
	c = counters();
	if (c)
		c->live_full++;
	return false;
}

/*
 * An ALLOC record: the sample's stacks; `key` (0: none) is the object (of `kind`) whose uncharge
 * frees it.
 */
static __always_inline void emit_alloc(void *ctx, __u32 tenant, __u64 cgid, __u64 weight, __u64 bytes,
				       __u16 flags, __u64 key, __u16 kind)
{
	struct memqosd_sample_counters *c = counters();
	struct memqosd_sample *r;
	__u64 seq = __sync_fetch_and_add(&sample_seq, 1) + 1;
	long n;

	r = reserve_record(sizeof(*r), MEMQOSD_SAMPLE_ALLOC, tenant, seq);
	if (!r)
		return;
	r->cgroup_id = cgid;
	r->weight = weight;
	r->bytes = bytes;
	n = bpf_get_current_pid_tgid();
	r->pid = (__u64)n >> 32;
	r->tid = (__u32)n;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	r->ustack_len = 0;
	r->pad = 0;
	r->mm_id = 0;
	r->ppid = 0;
	r->pad2 = 0;
	n = bpf_get_stack(ctx, r->kips, sizeof(r->kips), 0);
	r->n_kips = n < 0 ? (__s32)n : (__s32)((__u64)n / 8);
	if (copy_user_state(r)) {
		flags |= MEMQOSD_SAMPLEF_USER;
		n = bpf_get_stack(ctx, r->uips, sizeof(r->uips), BPF_F_USER_STACK);
		r->n_uips = n < 0 ? 0 : (__s32)((__u64)n / 8);
		n = bpf_get_stack(ctx, r->bids, sizeof(r->bids), BPF_F_USER_STACK | BPF_F_USER_BUILD_ID);
		r->n_bids = n < 0 ? 0 : (__s32)((__u64)n / sizeof(r->bids[0]));
	} else {
		r->n_uips = 0;
		r->n_bids = 0;
	}
	r->pad3 = 0;
	if (key && track(key, kind, seq, weight, tenant, flags))
		flags |= MEMQOSD_SAMPLEF_TRACKED;
	r->h.flags |= flags;
	bpf_ringbuf_submit(r, 0);
	if (c) {
		c->samples++;
		if (flags & MEMQOSD_SAMPLEF_LARGE)
			c->large++;
	}
}

/*
 * A charge countdown() let through: an ALLOC record if it holds a sample point or is large. Out of
 * line, so that the programs' common path stays short (fewer registers saved on every run).
 * flags_kind: the record's flags | the kind of `key` << 16.
 */
static __noinline void sample_point(void *ctx, struct memqosd_sample_cpu *pc, __u64 bytes, __u64 key, __u32 flags_kind)
{
	__u16 flags = (__u16)flags_kind;
	__u64 weight = sample_weight(pc, bytes);

	if (!weight)
		return;
	if (bytes >= pc->large_min)
		flags |= MEMQOSD_SAMPLEF_LARGE;
	emit_alloc(ctx, pc->tenant, pc->tenant_cgid, weight, bytes, flags, key, (__u16)(flags_kind >> 16));
}

/*
 * A charge of `bytes` to pc's tenant (sampling_tenant()): an ALLOC record if it holds a sample point
 * or is large. `key` (of `kind`): the object whose uncharge frees the sample.
 */
static __always_inline void charged(void *ctx, struct memqosd_sample_cpu *pc, __u64 bytes, __u16 flags, __u64 key,
				    __u16 kind)
{
	if (countdown(pc, bytes))
		sample_point(ctx, pc, bytes, key, flags | (__u32)kind << 16);
}

/* A charge of `bytes` to the memcg `memcg`: sample it if its tenant samples (see charged()). */
static __always_inline void on_charge(void *ctx, struct mem_cgroup *memcg, __u64 bytes, __u16 flags, __u64 key,
				      __u16 kind)
{
	struct memqosd_sample_cpu *pc = sampling_tenant(memcg);

	if (pc)
		charged(ctx, pc, bytes, flags, key, kind);
}

/*
 * A tracked object's uncharge (the filter said it may be one): a FREE record returns its sample's
 * weight. key: the object's address as a number (see as_number()).
 */
static __noinline void free_tracked(__u64 key)
{
	struct memqosd_sample_counters *c;
	struct memqosd_sample_free *f;
	struct live_entry *le;
	__u16 kind;

	le = bpf_map_lookup_elem(&memqosd_sample_live, &key);
	if (!le)
		return;
	kind = le->kind;
	f = reserve_record(sizeof(*f), MEMQOSD_SAMPLE_FREE, le->tenant_id, le->seq);
	if (f) {
		f->weight = le->weight;
		bpf_ringbuf_submit(f, 0);
		c = counters();
		if (c)
			c->frees++;
	}
	if (bpf_map_delete_elem(&memqosd_sample_live, &key) == 0) {
		__u32 slot = live_filter_slot(key);

		if (kind < LIVE_KINDS)
			__sync_fetch_and_sub(&live_count[kind], 1);
		if (live_filter[slot])
			__sync_fetch_and_sub(&live_filter[slot], 1);
	}
}

/* An object was uncharged: if it was sampled, a FREE record returns its weight. */
static __always_inline void on_uncharge(__u64 key)
{
	if (live_filter[live_filter_slot(key)])
		free_tracked(key);
}

/* The memcg of an obj_cgroup pointer (low bits are flags). */
static __always_inline struct mem_cgroup *objcg_memcg(__u64 objcg)
{
	objcg &= ~MEMCG_DATA_FLAGS;
	return objcg ? BPF_CORE_READ((struct obj_cgroup *)objcg, memcg) : NULL;
}

/* The size of a folio given as a trusted argument (plain loads, no helper calls). */
static __always_inline __u64 folio_bytes_direct(struct folio *folio)
{
	if (!(folio->flags & (1UL << bpf_core_enum_value(enum pageflags, PG_head))))
		return PAGE_BYTES;
	if (bpf_core_field_exists(folio->_folio_nr_pages))
		return folio->_folio_nr_pages * PAGE_BYTES;
	return memqosd_folio_bytes(folio);
}

SEC("fexit/__mem_cgroup_charge")
int BPF_PROG(sample_charge, struct folio *folio, struct mm_struct *mm, gfp_t gfp, int ret)
{
	struct memqosd_sample_cpu *pc;
	__u64 data;

	if (ret)
		return 0;
	data = folio->memcg_data;
	if (!data || (data & MEMCG_DATA_FLAGS))
		return 0;
	/* The folio's size is read only for a tenant that samples. */
	pc = sampling_tenant((struct mem_cgroup *)data);
	if (pc)
		charged(ctx, pc, folio_bytes_direct(folio), mm ? 0 : MEMQOSD_SAMPLEF_NO_MM, (__u64)folio, LIVE_FOLIO);
	return 0;
}

/*
 * Kernel memory, fentry flavour: pages charged as kmem (__GFP_ACCOUNT page allocations: pipe buffers,
 * page tables, vmalloc'd kernel stacks...), the memcg from the page's obj_cgroup.
 */
SEC("fexit/__memcg_kmem_charge_page")
int BPF_PROG(sample_kmem_page, struct page *page, gfp_t gfp, int order, int ret)
{
	if (ret)
		return 0;
	on_charge(ctx, objcg_memcg(BPF_CORE_READ(page, memcg_data)), PAGE_BYTES << (order & 15),
		  MEMQOSD_SAMPLEF_KMEM, (__u64)page, LIVE_KMEM_PAGE);
	return 0;
}

/*
 * Slab objects charged to a memcg (SLAB_ACCOUNT caches, __GFP_ACCOUNT kmalloc): `size` objects of
 * s->size bytes plus the obj_cgroup pointer each (what obj_cgroup_charge was given), charged to the
 * current task's obj_cgroup. The first object is remembered: its free returns the sample's weight
 * (bulk allocations, size > 1, are rare for accounted caches; then the weight returns with it).
 */
SEC("fexit/__memcg_slab_post_alloc_hook")
int BPF_PROG(sample_slab, struct kmem_cache *s, struct list_lru *lru, gfp_t flags, size_t size)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 ret = 0, p = 0;
	void *obj = NULL;

	/* p (void **) is no struct pointer: the verifier lets it be read only as a raw argument. */
	if (bpf_get_func_ret(ctx, &ret) || !(ret & 0xff) || !size || bpf_get_func_arg(ctx, 4, &p))
		return 0;
	bpf_probe_read_kernel(&obj, sizeof(obj), (void *)p);
	if (!obj)
		return 0;
	on_charge(ctx, objcg_memcg((__u64)BPF_CORE_READ(task, objcg)), size * (BPF_CORE_READ(s, size) + sizeof(void *)),
		  MEMQOSD_SAMPLEF_KMEM, (__u64)obj, LIVE_SLAB);
	return 0;
}

SEC("fentry/__mem_cgroup_uncharge")
int BPF_PROG(sample_uncharge, struct folio *folio)
{
	__u64 key = 0;

	if (live_count[LIVE_FOLIO] && !bpf_get_func_arg(ctx, 0, &key))
		on_uncharge(key);
	return 0;
}

SEC("fentry/__mem_cgroup_uncharge_folios")
int BPF_PROG(sample_uncharge_folios, struct folio_batch *folios)
{
	struct folio *batch[31];
	unsigned int nr;

	if (!live_count[LIVE_FOLIO])
		return 0;
	nr = folios->nr;
	/* One copy of the batch (a plain load cannot take a variable index into it). */
	if (bpf_probe_read_kernel(batch, sizeof(batch), folios->folios))
		return 0;
	/* Per folio the filter's hash and one load; the rest (free_tracked()) only for tracked ones. */
	for (int i = 0; i < 31; i++) {
		if (i >= nr)
			break;
		on_uncharge((__u64)batch[i]);
	}
	return 0;
}

SEC("fentry/__memcg_kmem_uncharge_page")
int BPF_PROG(sample_kmem_uncharge, struct page *page, int order)
{
	__u64 key = 0;

	if (live_count[LIVE_KMEM_PAGE] && !bpf_get_func_arg(ctx, 0, &key))
		on_uncharge(key);
	return 0;
}

SEC("fentry/__memcg_slab_free_hook")
int BPF_PROG(sample_slab_free, struct kmem_cache *s, struct slab *slab)
{
	__u64 p = 0, objects = 0;

	if (!live_count[LIVE_SLAB] || bpf_get_func_arg(ctx, 2, &p) || bpf_get_func_arg(ctx, 3, &objects))
		return 0;
	for (int i = 0; i < 16; i++) {
		void *obj = NULL;

		if (i >= (int)objects)
			break;
		bpf_probe_read_kernel(&obj, sizeof(obj), (void **)p + i);
		on_uncharge((__u64)obj);
	}
	return 0;
}

/* ---- tracepoint flavour (no BPF trampolines) ---- */

/*
 * A sampled page-cache charge waits here (per CPU) for the folio: the tracepoint flavour sees
 * NR_FILE_PAGES rise in __filemap_add_folio before mm_filemap_add_to_page_cache names the folio, on
 * the same CPU and task. Shmem has no such tracepoint: its NR_SHMEM rise right after sends the
 * sample without a folio.
 */
struct pending_file {
	__u64 weight;
	__u64 bytes;
	__u64 cgid;
	__u64 ts_ns;
	__u32 tenant;
	__u32 tid;
	__u16 flags;
	__u16 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pending_file);
} memqosd_sample_pending SEC(".maps");

#define PENDING_MAX_NS 100000000ULL /* a pending sample older than this is dropped */

static __always_inline struct pending_file *pending(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&memqosd_sample_pending, &zero);
}

/* Take this CPU's pending sample if it is the current task's: weight 0 if none. */
static __always_inline struct pending_file take_pending(void)
{
	struct pending_file *p = pending(), none = {};
	struct pending_file got;

	if (!p || !p->weight)
		return none;
	got = *p;
	p->weight = 0;
	if (got.tid != (__u32)bpf_get_current_pid_tgid() || bpf_ktime_get_ns() - got.ts_ns > PENDING_MAX_NS)
		return none;
	return got;
}

SEC("tp_btf/mod_memcg_lruvec_state")
int BPF_PROG(sample_tp_charge, struct mem_cgroup *memcg, int item, int val)
{
	struct memqosd_sample_cpu *pc;
	struct pending_file *p;
	__u64 weight, bytes;
	__u16 flags = 0;

	if (val <= 0)
		return 0;
	if (item == bpf_core_enum_value(enum node_stat_item, NR_SHMEM)) {
		struct pending_file got = take_pending();

		if (got.weight)
			emit_alloc(ctx, got.tenant, got.cgid, got.weight, got.bytes, got.flags, 0, 0);
		return 0;
	}
	if (item == bpf_core_enum_value(enum node_stat_item, NR_SLAB_RECLAIMABLE_B) ||
	    item == bpf_core_enum_value(enum node_stat_item, NR_SLAB_UNRECLAIMABLE_B)) {
		/* The kernel flushes its per-CPU slab byte stock here, the value in pages (rounded). */
		bytes = (__u64)val * PAGE_BYTES;
		flags = MEMQOSD_SAMPLEF_KMEM;
	} else if (memqosd_lruvec_item_is_charge(item, val)) {
		bytes = (__u64)val * PAGE_BYTES;
	} else {
		return 0;
	}
	if (item == bpf_core_enum_value(enum node_stat_item, NR_FILE_PAGES)) {
		p = pending();
		if (p)
			p->weight = 0; /* whatever waited was not this CPU's next page-cache folio */
	}
	pc = sampling_tenant(memcg);
	if (!pc)
		return 0;
	if (!countdown(pc, bytes))
		return 0;
	weight = sample_weight(pc, bytes);
	if (!weight)
		return 0;
	if (bytes >= pc->large_min)
		flags |= MEMQOSD_SAMPLEF_LARGE;
	if (item == bpf_core_enum_value(enum node_stat_item, NR_FILE_PAGES) && (p = pending())) {
		*p = (struct pending_file){ .weight = weight, .bytes = bytes, .cgid = pc->tenant_cgid,
					    .ts_ns = bpf_ktime_get_ns(), .tenant = pc->tenant,
					    .tid = (__u32)bpf_get_current_pid_tgid(),
					    .flags = flags | MEMQOSD_SAMPLEF_NO_MM };
		return 0;
	}
	emit_alloc(ctx, pc->tenant, pc->tenant_cgid, weight, bytes, flags, 0, 0);
	return 0;
}

/* Page cache leaving (tracepoint flavour): the folio is uncharged from the tenant's file pages. */
SEC("tp_btf/mm_filemap_delete_from_page_cache")
int BPF_PROG(sample_tp_file_free, struct folio *folio)
{
	if (live_count[LIVE_FOLIO])
		on_uncharge(as_number((__u64)folio));
	return 0;
}

/* ---- both flavours ---- */

/*
 * A folio went into a file's page cache. Tracepoint flavour: a sampled charge waiting for it is sent
 * now, with the folio (so its removal frees it). Both: a sampled folio charged without an mm gets
 * its file (FILE record).
 */
SEC("tp_btf/mm_filemap_add_to_page_cache")
int BPF_PROG(sample_file, struct folio *folio)
{
	struct memqosd_sample_file *f;
	struct live_entry *le;
	__u64 key = (__u64)folio;

	if (tp_flavour) {
		struct pending_file got = take_pending();

		if (got.weight)
			emit_alloc(ctx, got.tenant, got.cgid, got.weight, got.bytes, got.flags, key, LIVE_FOLIO);
	}
	if (!live_count[LIVE_FOLIO])
		return 0;
	key = as_number(key);
	if (!live_filter[live_filter_slot(key)])
		return 0; /* not a tracked folio: no hash lookup */
	le = bpf_map_lookup_elem(&memqosd_sample_live, &key);
	if (!le || !(le->flags & MEMQOSD_SAMPLEF_NO_MM))
		return 0;
	le->flags &= ~MEMQOSD_SAMPLEF_NO_MM;
	f = reserve_record(sizeof(*f), MEMQOSD_SAMPLE_FILE, le->tenant_id, le->seq);
	if (!f)
		return 0;
	f->ino = BPF_CORE_READ(folio, mapping, host, i_ino);
	f->dev = BPF_CORE_READ(folio, mapping, host, i_sb, s_dev);
	f->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_ringbuf_submit(f, 0);
	return 0;
}
