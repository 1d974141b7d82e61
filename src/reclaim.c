/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Proactive reclaim, wiring; see reclaim.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bus.h"
#include "cgroup.h"
#include "journal-ids.h"
#include "memqosd/reclaim.h"
#include "policy.h"
#include "reclaim.h"

#include "reclaim.skel.h"

#define RECLAIM_RING_DRAIN_MAX 256
#define HOST_PRESSURE_FILE "/proc/pressure/memory"

typedef struct ReclaimTenant {
	Reclaim *r;
	Tenant *t;
	uint32_t id;                 /* key of the tenant in the BPF map's values */
	uint64_t cgroup_id;
	ReclaimModel model;
	sd_event_source *timer;      /* the next step (PROBING) or the end of the hold (BACKOFF); none SETTLED */
	bool in_flight;              /* a memory.reclaim write is queued or running */
	uint64_t step_usec;          /* when the last step was submitted: the next is due IntervalSec= after */
	uint64_t current_usec;       /* when the last step's completion read memory.current */
	uint64_t before;             /* memory.current when the step in flight was submitted */
	uint64_t requested;
	uint64_t last_backoff_latency_usec; /* first refault -> back-off; 0 = none measured */
	/* rate-limited records */
	uint64_t log_progress_usec;  /* when the last progress record went out */
	uint64_t log_progress_bytes; /* reclaimed since then */
	uint64_t log_backoff_usec;
	unsigned log_backoff_suppressed;
	bool dry_run_logged;
	bool waiting;                /* held back by a lower priority under host pressure (logged once) */
} ReclaimTenant;

struct Reclaim {
	Manager *m;
	struct reclaim_bpf *skel;
	PolicyRing ring;
	const char *flavour;         /* NULL until loaded */
	bool load_failed;            /* tried once; PSI only */
	PolicyIdAllocator ids;
	ReclaimTenant **tenants;
	size_t n_tenants;
	uint64_t reclaimed_total;    /* of tenants gone too */

	int host_fd;
	sd_event_source *host_source;
	sd_event_source *host_timer; /* end of host pressure */
	bool host_pressure;
	bool host_tried;
	sd_bus_slot *slot;
};

static void tenant_step_later(ReclaimTenant *rt, uint64_t delay);

static const char *fmt_bytes(char *buf, size_t n, uint64_t v)
{
	return cgroup_format_bytes(v, buf, n);
}

/* ---- BPF ---- */

static ReclaimTenant *find_by_id(Reclaim *r, uint32_t id)
{
	for (size_t i = 0; i < r->n_tenants; i++)
		if (r->tenants[i]->id == id)
			return r->tenants[i];
	return NULL;
}

static ReclaimTenant *find(Reclaim *r, const Tenant *t)
{
	for (size_t i = 0; i < r->n_tenants; i++)
		if (r->tenants[i]->t == t)
			return r->tenants[i];
	return NULL;
}

static bool tenant_backoff(ReclaimTenant *rt, ReclaimCause cause, uint64_t latency_usec);

static int ring_record(void *ctx, void *data, size_t size)
{
	const struct memqosd_reclaim_event *e = data;
	Reclaim *r = ctx;
	ReclaimTenant *rt;
	uint64_t now_ns, latency = 0;
	struct timespec ts;

	if (size < sizeof(*e))
		return 0;
	rt = find_by_id(r, e->tenant_id);
	if (!rt || rt->cgroup_id != e->cgroup_id)
		return 0;  /* a record for a tenant that left meanwhile */
	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ns = (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
	if (e->first_ns && now_ns > e->first_ns)
		latency = (now_ns - e->first_ns) / NSEC_PER_USEC;
	rt->model.refaulted_bytes = (e->refaults) * RECLAIM_PAGE_SIZE;
	(void) tenant_backoff(rt, RECLAIM_CAUSE_REFAULT, latency ?: 1);
	return 0;
}

static int engine_try(Reclaim *r, bool fentry)
{
	struct reclaim_bpf *skel = reclaim_bpf__open();
	int k;

	if (!skel)
		return log_debug_errno(&r->m->log, negative_errno(), "reclaim: failed to open the BPF object: %m");
	(void) bpf_program__set_autoload(skel->progs.reclaim_refault, fentry);
	(void) bpf_program__set_autoload(skel->progs.reclaim_tp_refault, !fentry);
	k = reclaim_bpf__load(skel);
	if (k >= 0)
		k = reclaim_bpf__attach(skel);
	if (k < 0) {
		(void) log_debug_errno(&r->m->log, k, "reclaim: failed to load or attach the refault counter (%s): %m",
				       fentry ? "fentry" : "tracepoint");
		reclaim_bpf__destroy(skel);
		return k;
	}
	r->skel = skel;
	r->flavour = fentry ? "fentry" : "tracepoint";
	return 0;
}

/* Load the refault counter once; without it, reclaim backs off on pressure only (logged). */
static void engine_load(Reclaim *r)
{
	bool has_fn = false, has_tp = false;
	struct btf *btf;
	int k = -EOPNOTSUPP;

	if (r->skel || r->load_failed)
		return;
	r->load_failed = true;
	policy_libbpf_log(&r->m->log);
	btf = btf__load_vmlinux_btf();
	if (btf) {
		has_fn = btf__find_by_name_kind(btf, "workingset_refault", BTF_KIND_FUNC) >= 0;
		has_tp = btf__find_by_name_kind(btf, "btf_trace_mod_memcg_lruvec_state", BTF_KIND_TYPEDEF) >= 0;
		btf__free(btf);
	}
	if (has_fn)
		k = engine_try(r, true);
	if (!r->skel && has_tp)
		k = engine_try(r, false);
	if (r->skel) {
		r->ring = (PolicyRing) { .log = &r->m->log, .drain_max = RECLAIM_RING_DRAIN_MAX,
					 .description = "reclaim-ringbuf" };
		r->ring.rb = ring_buffer__new(bpf_map__fd(r->skel->maps.memqosd_reclaim_rb), ring_record, r, NULL);
		k = r->ring.rb ? policy_ring_attach(&r->ring, r->m->event) : negative_errno();
		if (k >= 0) {
			r->load_failed = false;
			log_info(&r->m->log, "Proactive reclaim: refaults counted in the kernel (%s)", r->flavour);
			return;
		}
		policy_ring_clear(&r->ring);
		reclaim_bpf__destroy(r->skel);
		r->skel = NULL;
		r->flavour = NULL;
	}
	log_warning_errno(&r->m->log, k,
			  "Proactive reclaim: cannot count refaults in the kernel (%m); reclaim backs off on pressure only");
}

static int map_fd(Reclaim *r)
{
	return r->skel ? bpf_map__fd(r->skel->maps.memqosd_reclaim_tenants) : -EBADF;
}

/* Arm (threshold = refaults so far + budget) or disarm the tenant's entry; reads the counter. */
static void tenant_arm(ReclaimTenant *rt, uint64_t budget_pages)
{
	struct memqosd_reclaim_tenant v;
	int fd = map_fd(rt->r);

	if (fd < 0 || bpf_map_lookup_elem(fd, &rt->cgroup_id, &v) < 0)
		return;
	rt->model.refaulted_bytes = v.refaults * RECLAIM_PAGE_SIZE;
	v.armed = budget_pages > 0;
	v.threshold = v.refaults + budget_pages;
	v.first_ns = 0;
	(void) bpf_map_update_elem(fd, &rt->cgroup_id, &v, BPF_EXIST);
}

static void tenant_read_refaults(ReclaimTenant *rt)
{
	struct memqosd_reclaim_tenant v;
	int fd = map_fd(rt->r);

	if (fd >= 0 && bpf_map_lookup_elem(fd, &rt->cgroup_id, &v) >= 0)
		rt->model.refaulted_bytes = v.refaults * RECLAIM_PAGE_SIZE;
}

/* ---- records ---- */

/* force: now, whatever the rate limit; settled: also with nothing new reclaimed (the phase is the news). */
static void log_progress(ReclaimTenant *rt, bool force, bool settled)
{
	char f_tenant[256], f_cgroup[4200], f_bytes[64], f_total[64], f_saved[64], f_phase[64];
	char a[32], b[32], c[32], d[32];
	const Tenant *t = rt->t;
	uint64_t now = clock_usec(CLOCK_MONOTONIC);

	if ((rt->log_progress_bytes == 0 && !settled) ||
	    (!force && rt->log_progress_usec && now - rt->log_progress_usec < RECLAIM_LOG_INTERVAL_USEC))
		return;
	tenant_read_refaults(rt);
	(void) snprintf(f_tenant, sizeof(f_tenant), "MEMQOSD_TENANT=%s", t->config->name);
	(void) snprintf(f_cgroup, sizeof(f_cgroup), "MEMQOSD_CGROUP=%s", t->config->cgroup);
	(void) snprintf(f_bytes, sizeof(f_bytes), "MEMQOSD_RECLAIMED_BYTES=%" PRIu64, rt->log_progress_bytes);
	(void) snprintf(f_total, sizeof(f_total), "MEMQOSD_RECLAIMED_TOTAL=%" PRIu64, rt->model.reclaimed_bytes);
	(void) snprintf(f_saved, sizeof(f_saved), "MEMQOSD_SAVED_BYTES=%" PRIu64, reclaim_model_saved(&rt->model));
	(void) snprintf(f_phase, sizeof(f_phase), "MEMQOSD_RECLAIM_PHASE=%s", reclaim_phase_to_string(rt->model.phase));
	log_struct(&rt->r->m->log, LOG_INFO, MEMQOSD_MESSAGE_RECLAIM_PROGRESS,
		   (const char *const[]) { f_tenant, f_cgroup, f_bytes, f_total, f_saved, f_phase, NULL },
		   "Tenant %s: reclaimed %s (total %s, saved %s), memory.current %s, %s", t->config->name,
		   fmt_bytes(a, sizeof(a), rt->log_progress_bytes), fmt_bytes(b, sizeof(b), rt->model.reclaimed_bytes),
		   fmt_bytes(c, sizeof(c), reclaim_model_saved(&rt->model)), fmt_bytes(d, sizeof(d), t->current),
		   reclaim_phase_to_string(rt->model.phase));
	rt->log_progress_usec = now;
	rt->log_progress_bytes = 0;
}

static void log_backoff(ReclaimTenant *rt, ReclaimCause cause, uint64_t latency_usec)
{
	char f_tenant[256], f_cgroup[4200], f_cause[64], f_latency[64], f_hold[64], f_more[64];
	const Tenant *t = rt->t;
	uint64_t now = clock_usec(CLOCK_MONOTONIC);

	/* A back-off after reclaim made progress is news (at most one per RECLAIM_LOG_PROGRESS_BACKOFF_USEC);
	 * back-offs in a row without progress, one per RECLAIM_LOG_INTERVAL_USEC. */
	if (rt->log_backoff_usec &&
	    now - rt->log_backoff_usec < (rt->model.futile == 0 ? RECLAIM_LOG_PROGRESS_BACKOFF_USEC : RECLAIM_LOG_INTERVAL_USEC)) {
		rt->log_backoff_suppressed++;
		return;
	}
	(void) snprintf(f_tenant, sizeof(f_tenant), "MEMQOSD_TENANT=%s", t->config->name);
	(void) snprintf(f_cgroup, sizeof(f_cgroup), "MEMQOSD_CGROUP=%s", t->config->cgroup);
	(void) snprintf(f_cause, sizeof(f_cause), "MEMQOSD_BACKOFF_CAUSE=%s", reclaim_cause_to_string(cause));
	(void) snprintf(f_latency, sizeof(f_latency), "MEMQOSD_BACKOFF_USEC=%" PRIu64, latency_usec);
	(void) snprintf(f_hold, sizeof(f_hold), "MEMQOSD_HOLD_USEC=%" PRIu64,
			rt->model.hold_until_usec > now ? rt->model.hold_until_usec - now : 0);
	(void) snprintf(f_more, sizeof(f_more), "MEMQOSD_SUPPRESSED=%u", rt->log_backoff_suppressed);
	if (latency_usec)
		log_struct(&rt->r->m->log, LOG_INFO, MEMQOSD_MESSAGE_RECLAIM_BACKOFF,
			   (const char *const[]) { f_tenant, f_cgroup, f_cause, f_latency, f_hold, f_more, NULL },
			   "Tenant %s: reclaim backed off (%s) %" PRIu64 ".%03" PRIu64 " ms after the first refault, "
			   "holding %" PRIu64 " s (%u more back-offs not logged)", t->config->name,
			   reclaim_cause_to_string(cause), latency_usec / 1000, latency_usec % 1000,
			   (uint64_t) ((rt->model.hold_until_usec - rt->model.last_backoff_usec) / USEC_PER_SEC),
			   rt->log_backoff_suppressed);
	else
		log_struct(&rt->r->m->log, LOG_INFO, MEMQOSD_MESSAGE_RECLAIM_BACKOFF,
			   (const char *const[]) { f_tenant, f_cgroup, f_cause, f_hold, f_more, NULL },
			   "Tenant %s: reclaim backed off (%s), holding %" PRIu64 " s (%u more back-offs not logged)",
			   t->config->name, reclaim_cause_to_string(cause),
			   (uint64_t) ((rt->model.hold_until_usec - rt->model.last_backoff_usec) / USEC_PER_SEC),
			   rt->log_backoff_suppressed);
	rt->log_backoff_usec = now;
	rt->log_backoff_suppressed = 0;
}

/* ---- the steps ---- */

/* Active and with a step to take: a tenant without its cgroup holds no one back. */
static bool tenant_above_floor(const ReclaimTenant *rt, bool host)
{
	return rt->t->state == TENANT_ACTIVE && reclaim_model_step(&rt->t->config->reclaim, rt->t->current, reclaim_model_floor(rt->t->config),
				  rt->t->config->priority, host) > 0;
}

static bool tenant_may_step(ReclaimTenant *rt)
{
	Reclaim *r = rt->r;
	ReclaimCandidate *c;
	size_t self = 0;
	bool ok;

	if (!r->host_pressure)
		return true;
	c = calloc(r->n_tenants, sizeof(*c));
	if (!c)
		return true;
	for (size_t i = 0; i < r->n_tenants; i++) {
		ReclaimTenant *o = r->tenants[i];

		if (o == rt)
			self = i;
		c[i] = (ReclaimCandidate) {
			.priority = o->t->config->priority,
			.phase = o->model.phase,
			.above_floor = tenant_above_floor(o, true),
		};
	}
	ok = reclaim_model_may_step(c, r->n_tenants, self, true);
	free(c);
	return ok;
}

/* Waiting tenants of higher priority may go now (a lower one settled or left). */
static void kick_waiting(Reclaim *r)
{
	if (!r->host_pressure)
		return;
	for (size_t i = 0; i < r->n_tenants; i++) {
		ReclaimTenant *o = r->tenants[i];

		if (o->model.phase == RECLAIM_PROBING && !o->in_flight && o->timer)
			tenant_step_later(o, 0);
	}
}

static void tenant_settle(ReclaimTenant *rt)
{
	rt->timer = sd_event_source_disable_unref(rt->timer);
	tenant_arm(rt, 0);
	log_progress(rt, true, true);
	kick_waiting(rt->r);
}

static int on_step(sd_event_source *s, uint64_t usec, void *userdata)
{
	ReclaimTenant *rt = userdata;
	Tenant *t = rt->t;
	Manager *m = rt->r->m;
	const ReclaimParams *p = &t->config->reclaim;
	CgroupPressure pr;
	uint64_t step, now = clock_usec(CLOCK_MONOTONIC);
	char reason[64];
	int k;

	(void) s;
	(void) usec;
	if (rt->in_flight)
		return 0;  /* the completion schedules the next one */
	if (rt->model.phase == RECLAIM_BACKOFF) {
		if (manager_tenant_refresh(m, t) < 0 || t->state != TENANT_ACTIVE)
			return 0;
		rt->current_usec = now;
		tenant_read_refaults(rt);  /* the hold's refaults decide whether the round was futile */
		reclaim_model_hold_over(&rt->model, t->current, now);
		if (rt->model.phase == RECLAIM_SETTLED) {
			tenant_settle(rt);
			return 0;
		}
		if (rt->model.phase == RECLAIM_BACKOFF) {
			tenant_step_later(rt, rt->model.hold_until_usec - now);
			return 0;
		}
	}
	if (rt->model.phase != RECLAIM_PROBING)
		return 0;
	/* The last step's completion read memory.current less than an interval ago: size this one by it. */
	if ((now - rt->current_usec > p->interval_usec && manager_tenant_refresh(m, t) < 0) || t->state != TENANT_ACTIVE)
		return 0;
	/* Under host pressure the model ignores the tenant's own pressure (reclaim-model.h, rule 3). */
	if (cgroup_read_pressure(t->cg_fd, &pr) >= 0 && reclaim_model_over_target(p, pr.some_avg10) &&
	    tenant_backoff(rt, RECLAIM_CAUSE_PRESSURE, 0))
		return 0;
	step = reclaim_model_next_step(&rt->model, p, t->current, reclaim_model_floor(t->config), t->config->priority,
				       rt->r->host_pressure);
	if (step == 0) {
		rt->model.phase = RECLAIM_SETTLED;
		rt->model.settled_current = t->current;
		tenant_settle(rt);
		return 0;
	}
	if (!tenant_may_step(rt)) {
		if (!rt->waiting)
			log_info(&m->log, "Tenant %s: reclaim waits for lower priorities (host memory pressure)",
				 t->config->name);
		rt->waiting = true;
		tenant_step_later(rt, p->interval_usec);
		return 0;
	}
	if (rt->waiting)
		log_info(&m->log, "Tenant %s: %s", t->config->name,
			 rt->r->host_pressure ? "lower priorities have nothing cold left, reclaiming (host memory pressure)"
					      : "host memory pressure is over, reclaiming");
	rt->waiting = false;
	tenant_arm(rt, reclaim_model_refault_budget(p, step));
	(void) snprintf(reason, sizeof(reason), "proactive reclaim%s", rt->r->host_pressure ? " (host pressure)" : "");
	k = manager_reclaim(m, t, step, reason);
	if (k == -EROFS) {
		if (!rt->dry_run_logged)
			log_info(&m->log, "Tenant %s: would reclaim %" PRIu64 " bytes (dry run); reclaim stays off",
				 t->config->name, step);
		rt->dry_run_logged = true;
		rt->model.phase = RECLAIM_SETTLED;
		rt->model.settled_current = t->current;
		tenant_settle(rt);
		return 0;
	}
	if (k < 0) {
		tenant_step_later(rt, p->interval_usec);
		return 0;
	}
	rt->in_flight = true;
	rt->step_usec = now;
	rt->before = t->current;
	rt->requested = step;
	rt->model.last_step_bytes = step;
	return 0;
}

static void tenant_step_later(ReclaimTenant *rt, uint64_t delay)
{
	Manager *m = rt->r->m;

	if (rt->timer) {
		(void) sd_event_source_set_time_relative(rt->timer, delay);
		(void) sd_event_source_set_enabled(rt->timer, SD_EVENT_ONESHOT);
		return;
	}
	if (sd_event_add_time_relative(m->event, &rt->timer, CLOCK_MONOTONIC, delay, 10 * USEC_PER_MSEC, on_step,
				       rt) >= 0)
		(void) sd_event_source_set_description(rt->timer, "reclaim-step");
	else
		log_warning(&m->log, "Tenant %s: cannot schedule reclaim", rt->t->config->name);
}

/* Returns whether the tenant backed off (the model may decline: reclaim-model.h, rule 3). */
static bool tenant_backoff(ReclaimTenant *rt, ReclaimCause cause, uint64_t latency_usec)
{
	uint64_t now = clock_usec(CLOCK_MONOTONIC);

	if (rt->model.phase == RECLAIM_SETTLED)
		return false;  /* not reclaiming: nothing to stop */
	if (!reclaim_model_backoff(&rt->model, &rt->t->config->reclaim, cause, rt->r->host_pressure, now))
		return false;
	if (rt->in_flight && rt->t->writer)
		writer_target_interrupt(rt->t->writer);  /* stop the kernel's reclaim now */
	tenant_arm(rt, 0);
	if (latency_usec)
		rt->last_backoff_latency_usec = latency_usec;
	log_backoff(rt, cause, latency_usec);
	if (!rt->in_flight)
		tenant_step_later(rt, rt->model.hold_until_usec - now);
	return true;
}

/* ---- hooks ---- */

static void tenant_remove(Reclaim *r, size_t i)
{
	ReclaimTenant *rt = r->tenants[i];
	int fd = map_fd(r);

	log_progress(rt, true, false);
	if (fd >= 0)
		(void) bpf_map_delete_elem(fd, &rt->cgroup_id);
	sd_event_source_disable_unref(rt->timer);
	policy_id_free(&r->ids, rt->id);
	free(rt);
	r->tenants[i] = r->tenants[--r->n_tenants];
}

static int tenant_add(Reclaim *r, Tenant *t)
{
	ReclaimTenant *rt, **a;
	int fd;

	engine_load(r);
	a = realloc(r->tenants, (r->n_tenants + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	r->tenants = a;
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	*rt = (ReclaimTenant) { .r = r, .t = t, .id = policy_id_alloc(&r->ids), .cgroup_id = t->cgroup_id };
	if (rt->id == 0) {
		free(rt);
		return -ENOSPC;
	}
	reclaim_model_init(&rt->model);
	fd = map_fd(r);
	if (fd >= 0) {
		struct memqosd_reclaim_tenant v = { .tenant_id = rt->id };

		if (bpf_map_update_elem(fd, &rt->cgroup_id, &v, BPF_ANY) < 0)
			log_warning_errno(&r->m->log, negative_errno(),
					  "Tenant %s: cannot count its refaults (%m); reclaim backs off on pressure only",
					  t->config->name);
	}
	r->tenants[r->n_tenants++] = rt;
	tenant_step_later(rt, t->config->reclaim.interval_usec);
	return 0;
}

static int hook_attach(Manager *m, Tenant *t, void *userdata)
{
	Reclaim *r = userdata;
	int k;

	if (!t->config->reclaim.enable || find(r, t))
		return 0;
	k = tenant_add(r, t);
	if (k < 0)
		return log_warning_errno(&m->log, k, "Tenant %s: cannot start proactive reclaim: %m", t->config->name);
	return 0;
}

static void hook_detach(Manager *m, Tenant *t, void *userdata)
{
	Reclaim *r = userdata;

	(void) m;
	for (size_t i = 0; i < r->n_tenants; i++)
		if (r->tenants[i]->t == t) {
			r->reclaimed_total += r->tenants[i]->model.reclaimed_bytes;
			tenant_remove(r, i);
			kick_waiting(r);  /* it held no one back any more */
			return;
		}
}

static int hook_changed(Manager *m, Tenant *t, const TenantConfig *old, void *userdata)
{
	Reclaim *r = userdata;
	ReclaimTenant *rt = find(r, t);

	(void) old;
	if (!t->config->reclaim.enable) {
		hook_detach(m, t, r);
		return 0;
	}
	if (!rt)
		return hook_attach(m, t, r);
	/* New settings: probe again with them. */
	if (rt->model.phase == RECLAIM_SETTLED) {
		rt->model.phase = RECLAIM_PROBING;
		rt->model.futile = 0;
		rt->model.ramp = 0;
		rt->model.refault_mark = rt->model.refaulted_bytes;
		tenant_step_later(rt, t->config->reclaim.interval_usec);
	}
	return 0;
}

static void hook_pressure(Manager *m, Tenant *t, void *userdata)
{
	ReclaimTenant *rt = find(userdata, t);

	(void) m;
	if (rt && rt->model.phase == RECLAIM_PROBING)
		(void) tenant_backoff(rt, RECLAIM_CAUSE_PRESSURE, 0);
}

static void hook_written(Manager *m, Tenant *t, const WriterCompletion *c, void *userdata)
{
	ReclaimTenant *rt = find(userdata, t);
	uint64_t got;

	if (!rt || c->file != WRITER_MEMORY_RECLAIM || !rt->in_flight)
		return;
	rt->in_flight = false;
	if (manager_tenant_refresh(m, t) < 0 || t->state != TENANT_ACTIVE)
		return;
	rt->current_usec = clock_usec(CLOCK_MONOTONIC);
	got = reclaim_model_step_done(&rt->model, rt->requested, rt->before, t->current,
				      c->result == -EINTR ? 0 : c->result);
	rt->log_progress_bytes += got;
	if (c->result < 0 && c->result != -EAGAIN && c->result != -EINTR)
		log_debug_errno(&m->log, c->result, "Tenant %s: memory.reclaim failed: %m", t->config->name);
	switch (rt->model.phase) {
	case RECLAIM_PROBING:
		/* IntervalSec= from step to step, as a poller's tick: the write's own time counts in it. */
		log_progress(rt, false, false);
		tenant_step_later(rt, rt->step_usec + t->config->reclaim.interval_usec > rt->current_usec
					      ? rt->step_usec + t->config->reclaim.interval_usec - rt->current_usec : 0);
		break;
	case RECLAIM_BACKOFF:
		tenant_step_later(rt, rt->model.hold_until_usec > clock_usec(CLOCK_MONOTONIC) ? rt->model.hold_until_usec - clock_usec(CLOCK_MONOTONIC) : 0);
		break;
	default:
		tenant_settle(rt);
		break;
	}
}

static void hook_housekeeping(Manager *m, void *userdata)
{
	Reclaim *r = userdata;

	(void) m;
	for (size_t i = 0; i < r->n_tenants; i++) {
		ReclaimTenant *rt = r->tenants[i];

		/* The tick reads nothing of its own for quiet tenants: a tenant with reclaim on is read here. */
		manager_tenant_observe(rt->t, 0);
		if (reclaim_model_wake(&rt->model, rt->t->current, r->host_pressure))
			tenant_step_later(rt, 0);
	}
}

/* ---- host pressure ---- */

static int on_host_over(sd_event_source *s, uint64_t usec, void *userdata)
{
	Reclaim *r = userdata;

	(void) s;
	(void) usec;
	r->host_pressure = false;
	log_info(&r->m->log, "Proactive reclaim: host pressure is over");
	return 0;
}

static int on_host_pressure(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	Reclaim *r = userdata;

	(void) s;
	(void) fd;
	if (revents & EPOLLERR) {
		r->host_source = sd_event_source_disable_unref(r->host_source);
		return 0;
	}
	if (!r->host_pressure)
		log_info(&r->m->log, "Proactive reclaim: host memory pressure, lower priorities first");
	r->host_pressure = true;
	if (r->host_timer) {
		(void) sd_event_source_set_time_relative(r->host_timer, RECLAIM_HOST_HOLD_USEC);
		(void) sd_event_source_set_enabled(r->host_timer, SD_EVENT_ONESHOT);
	} else
		(void) sd_event_add_time_relative(r->m->event, &r->host_timer, CLOCK_MONOTONIC, RECLAIM_HOST_HOLD_USEC,
						  USEC_PER_SEC, on_host_over, r);
	for (size_t i = 0; i < r->n_tenants; i++) {
		manager_tenant_observe(r->tenants[i]->t, 0);
		if (reclaim_model_wake(&r->tenants[i]->model, r->tenants[i]->t->current, true))
			tenant_step_later(r->tenants[i], 0);
	}
	return 0;
}

/* The host-wide PSI trigger, armed once the first tenant enables reclaim on a real cgroup2 tree. */
static void host_arm(Reclaim *r)
{
	const ControlParams *cp;
	char buf[64];
	int fd, len, k;

	if (r->host_tried || r->n_tenants == 0 || !r->m->root || !r->m->root->cgroupfs || !r->m->config)
		return;
	r->host_tried = true;
	cp = &r->m->config->daemon.control;
	fd = open(HOST_PRESSURE_FILE, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		log_warning_errno(&r->m->log, negative_errno(), "Proactive reclaim: cannot open " HOST_PRESSURE_FILE
				  " (%m): no priority order under host pressure");
		return;
	}
	len = snprintf(buf, sizeof(buf), "%s %" PRIu64 " %" PRIu64, cp->psi_full ? "full" : "some", cp->psi_stall_usec,
		       cp->psi_window_usec);
	if (write(fd, buf, (size_t) len + 1) < 0 ||
	    (k = sd_event_add_io(r->m->event, &r->host_source, fd, EPOLLPRI, on_host_pressure, r)) < 0) {
		log_warning_errno(&r->m->log, negative_errno(), "Proactive reclaim: cannot arm the host PSI trigger (%m)");
		close(fd);
		return;
	}
	(void) sd_event_source_set_io_fd_own(r->host_source, true);
	(void) sd_event_source_set_description(r->host_source, "reclaim-host-psi");
	r->host_fd = fd;
}

static void hook_started(Manager *m, void *userdata)
{
	(void) m;
	host_arm(userdata);
}

static void hook_config_applied(Manager *m, const Config *old, void *userdata)
{
	(void) m;
	(void) old;
	host_arm(userdata);
}

/* ---- status, D-Bus ---- */

const char *reclaim_flavour(const Reclaim *r)
{
	return r && r->flavour ? r->flavour : "none";
}

int reclaim_get(Reclaim *r, const Tenant *t, ReclaimStatus *ret)
{
	ReclaimTenant *rt = find(r, t);

	if (!rt)
		return -ENOENT;
	tenant_read_refaults(rt);
	*ret = (ReclaimStatus) {
		.tenant = t->config->name,
		.phase = rt->model.phase,
		.reclaimed_bytes = rt->model.reclaimed_bytes,
		.saved_bytes = reclaim_model_saved(&rt->model),
		.refaulted_bytes = rt->model.refaulted_bytes,
		.steps = rt->model.steps,
		.backoffs = rt->model.backoffs,
		.last_backoff_usec = rt->last_backoff_latency_usec,
		.floor_bytes = reclaim_model_floor(t->config),
	};
	return 0;
}

static int method_list_reclaim(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	Reclaim *r = userdata;
	Manager *m = r->m;
	int k;

	(void) error;
	k = sd_bus_message_new_method_return(msg, &reply);
	if (k < 0)
		return k;
	k = sd_bus_message_open_container(reply, 'a', MEMQOSD_BUS_RECLAIM_SIGNATURE);
	if (k < 0)
		return k;
	for (size_t i = 0; i < m->n_tenants; i++) {
		ReclaimStatus st;

		if (reclaim_get(r, m->tenants[i], &st) < 0)
			continue;
		k = sd_bus_message_append(reply, MEMQOSD_BUS_RECLAIM_SIGNATURE, st.tenant, reclaim_phase_to_string(st.phase),
					  st.reclaimed_bytes, st.saved_bytes, st.refaulted_bytes, st.steps, st.backoffs,
					  st.last_backoff_usec, st.floor_bytes);
		if (k < 0)
			return k;
	}
	k = sd_bus_message_close_container(reply);
	if (k < 0)
		return k;
	return sd_bus_send(NULL, reply, NULL);
}

static int property_get_totals(sd_bus *bus, const char *path, const char *interface, const char *property,
			       sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	Reclaim *r = userdata;
	uint64_t reclaimed = r->reclaimed_total, saved = 0;

	(void) bus;
	(void) path;
	(void) interface;
	(void) error;
	for (size_t i = 0; i < r->n_tenants; i++) {
		tenant_read_refaults(r->tenants[i]);
		reclaimed += r->tenants[i]->model.reclaimed_bytes;
		saved += reclaim_model_saved(&r->tenants[i]->model);
	}
	return sd_bus_message_append(reply, "t", streq(property, "ReclaimedBytes") ? reclaimed : saved);
}

static const sd_bus_vtable reclaim_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("ReclaimedBytes", "t", property_get_totals, 0, 0),
	SD_BUS_PROPERTY("ReclaimSavedBytes", "t", property_get_totals, 0, 0),
	SD_BUS_METHOD_WITH_NAMES("ListReclaim", NULL, , "a" MEMQOSD_BUS_RECLAIM_SIGNATURE, SD_BUS_PARAM(tenants),
				 method_list_reclaim, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END,
};

int reclaim_bus_register(Reclaim *r, sd_bus *bus)
{
	int k;

	if (!bus)
		return 0;
	k = sd_bus_add_object_vtable(bus, &r->slot, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, reclaim_vtable, r);
	if (k < 0)
		return log_warning_errno(&r->m->log, k, "Cannot register ListReclaim on D-Bus: %m");
	return 0;
}

/* ---- lifetime ---- */

int reclaim_install(Manager *m, Reclaim **ret)
{
	_cleanup_(reclaim_freep) Reclaim *r = NULL;
	int k;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->m = m;
	r->host_fd = -EBADF;
	policy_id_init(&r->ids);
	k = manager_add_hooks(m, &(ManagerHooks) {
		.tenant_attach = hook_attach,
		.tenant_detach = hook_detach,
		.tenant_changed = hook_changed,
		.pressure = hook_pressure,
		.housekeeping = hook_housekeeping,
		.written = hook_written,
		.config_applied = hook_config_applied,
		.started = hook_started,
		.userdata = r,
	});
	if (k < 0)
		return log_error_errno(&m->log, k, "Cannot register proactive reclaim's hooks: %m");
	*ret = TAKE_PTR(r);
	return 0;
}

Reclaim *reclaim_free(Reclaim *r)
{
	if (!r)
		return NULL;
	if (r->m)
		manager_remove_hooks(r->m, r);
	while (r->n_tenants > 0)
		tenant_remove(r, r->n_tenants - 1);
	free(r->tenants);
	sd_bus_slot_unref(r->slot);
	sd_event_source_disable_unref(r->host_source); /* owns host_fd */
	sd_event_source_disable_unref(r->host_timer);
	policy_ring_clear(&r->ring);
	reclaim_bpf__destroy(r->skel);
	free(r);
	return NULL;
}
