/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The live control loop; see control-loop.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "control-loop.h"
#include "controller.h"
#include "journal-ids.h"

/* Over-high sleep floor the priority policy applies to outranked tenants while it matters. */
#define CONTROL_DELAY_FLOOR_MS 50

typedef struct TenantControl {
	uint32_t tenant_id;
	bool pressured;
	uint64_t last_pressure_usec;
	uint64_t signal_usec;           /* last over-high / charge-failure signal (controller FIRST SIGNAL) */
	uint64_t last_write_usec;
	unsigned continuations;         /* reclaim rounds after the last change (controller_reclaim_after_write()) */
	ControlHistory hist;            /* demand and learned ceiling (controller_note_sample()) */
} TenantControl;

struct ControlLoop {
	Manager *m;
	PolicyEngine *engine;
	PolicyMode mode;
	char mode_reason[256];

	bool host_pressured;
	uint64_t host_last_pressure_usec;
	int host_fd;
	sd_event_source *host_source;
	bool host_setup_done;

	sd_event_source *wakeup;
	sd_event_source *defer;
	/* manager_start() is taking the tenants: one decision once it is done (hook_started), not one
	 * per batch of activations (each an O(tenants) view: O(N^2) over a start; issue 12). */
	bool starting;

	Tenant *by_id[MEMQOSD_MAX_TENANTS]; /* tenant_id -> Tenant, for ring-buffer events */

	PolicyIdAllocator ids;          /* tenant ids for the BPF maps */
	uint64_t lost_reported;
	int published_prio;
	bool published_host;
	/* The OOM forecast's entry parameters as published to the BPF policies (WATCH records). */
	unsigned watch_percent;
	uint64_t watch_usec, watch_growth;
	bool watch_published;

	/*
	 * The first pressure signal of the current episode not yet answered by a write (issue 12's
	 * "first pressure signal -> memory.high write started"): CLOCK_MONOTONIC µs (a ring-buffer
	 * record's own time stamp, else when the loop saw the signal) and what it was; 0 = none.
	 */
	uint64_t signal_usec;
	uint64_t signal_last_usec;      /* the latest signal of that episode */
	char signal_what[96];
	/*
	 * The signal (signal_usec) whose first decision has run: that decision reads only
	 * memory.current, and the activity samples follow in the next one (issue 12: the write first).
	 */
	uint64_t fast_signal_usec;

	/* Start-up costs, logged once it is done (issue 12): mode detection, the policies' attaches. */
	uint64_t detect_usec, attach_usec, attach_first_usec;
	unsigned n_attached;

	ControlUrgencyFn urgent;
	void *urgent_data;
	/* The tenants' nearest common ancestor with a limit, as last sampled (for reason texts). */
	char limit_where[320];
	char room_where[384];
	/*
	 * That ancestor, kept open between decisions (issue 12: a decision on a tenant's first signal
	 * reads its limit and usage, three reads, instead of walking the tenants and the tree again).
	 * Found again (O(tenants)) only when stale: after tenants came, went or changed, at every
	 * housekeeping tick (an ancestor may have gained a limit), or when its limit was removed.
	 * limit_fd < 0: no ancestor has a limit.
	 */
	int limit_fd;
	bool limit_stale;
	char limit_rel[256];
};

static const ControlParams *params(const ControlLoop *cl)
{
	return &cl->m->config->daemon.control;
}

static TenantControl *tc_of(const Tenant *t)
{
	return t->state == TENANT_ACTIVE ? t->policy_data : NULL;
}

static uint64_t now_usec(const ControlLoop *cl)
{
	uint64_t now = 0;

	(void) sd_event_now(cl->m->event, CLOCK_MONOTONIC, &now);
	return now ?: 1;
}

/*
 * A pressure signal arrived at `at` (0: now): the start of the episode's clock if none runs. One that
 * comes more than a pressure episode's grace after the previous signal starts a new episode (the
 * last one ended without a write, and no decision may have run since to say so).
 */
static void signal_seen(ControlLoop *cl, uint64_t at, const char *kind, const Tenant *t)
{
	uint64_t window = cl->m->config ? params(cl)->psi_window_usec : 0;
	uint64_t grace = CONTROL_PRESSURE_GRACE_WINDOWS * (window ?: USEC_PER_SEC);

	at = at ?: clock_usec(CLOCK_MONOTONIC);
	if (cl->signal_usec != 0 && (at < cl->signal_last_usec || at - cl->signal_last_usec <= grace)) {
		cl->signal_last_usec = at > cl->signal_last_usec ? at : cl->signal_last_usec;
		return;
	}
	cl->signal_usec = at;
	cl->signal_last_usec = at;
	(void) snprintf(cl->signal_what, sizeof(cl->signal_what), "%s%s%s", kind, t ? " of " : " of the host",
			t ? t->config->name : "");
}

static void schedule_decision(ControlLoop *cl)
{
	(void) sd_event_source_set_enabled(cl->defer, SD_EVENT_ONESHOT);
}

/* ---- the controller's view of the manager's tenants ---- */

typedef struct View {
	ControlTenant *ct;
	ControlState s;
} View;

static int view_build(ControlLoop *cl, View *v)
{
	Manager *m = cl->m;

	v->ct = calloc(m->n_tenants ?: 1, sizeof(ControlTenant));
	if (!v->ct)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_tenants; i++) {
		Tenant *t = m->tenants[i];
		TenantControl *tc = tc_of(t);
		const TenantConfig *c = t->config;

		v->ct[i] = (ControlTenant) {
			.name = c->name,
			.priority = c->priority,
			.high_min = c->memory_high_min,
			.high_max = c->memory_high_max,
			.baseline = tc ? control_baseline(t->original_high, c->memory_high_min, c->memory_high_max) : 0,
			.high = t->high,
			.current = t->current,
			.active = tc != NULL,
			.busy = tc && manager_tenant_busy(t),
			.at_risk = tc && cl->urgent && cl->urgent(t, cl->urgent_data),
			.pressured = tc && tc->pressured,
			.last_pressure_usec = tc ? tc->last_pressure_usec : 0,
			.signal_usec = tc ? tc->signal_usec : 0,
			.last_write_usec = tc ? tc->last_write_usec : 0,
		};
		if (tc)
			v->ct[i].hist = tc->hist;
	}
	v->s = (ControlState) {
		.tenants = v->ct,
		.n_tenants = m->n_tenants,
		.host_pressured = cl->host_pressured,
		.host_last_pressure_usec = cl->host_last_pressure_usec,
	};
	return 0;
}

static void view_store(ControlLoop *cl, View *v)
{
	Manager *m = cl->m;

	for (size_t i = 0; i < m->n_tenants && i < v->s.n_tenants; i++) {
		TenantControl *tc = tc_of(m->tenants[i]);

		if (!tc)
			continue;
		tc->pressured = v->ct[i].pressured;
		tc->last_pressure_usec = v->ct[i].last_pressure_usec;
		tc->signal_usec = v->ct[i].signal_usec;
		tc->hist = v->ct[i].hist;
	}
	cl->host_pressured = v->s.host_pressured;
	cl->host_last_pressure_usec = v->s.host_last_pressure_usec;
	free(v->ct);
	v->ct = NULL;
}

/*
 * Record an input now; decide once this loop iteration is done (inputs come in bursts). O(1): the
 * controller's bookkeeping for one event touches only that tenant (or the host), so it gets a view
 * of just that.
 */
static void note(ControlLoop *cl, ControlEventKind kind, const Tenant *t)
{
	Manager *m = cl->m;
	ControlEvent ev = { .kind = kind };
	TenantControl *tc = NULL;
	ControlTenant ct = {};
	ControlState s = {
		.host_pressured = cl->host_pressured,
		.host_last_pressure_usec = cl->host_last_pressure_usec,
	};

	if (!m->config)
		return;
	if (t) {
		tc = tc_of(t);
		if (!tc)
			return;
		ct = (ControlTenant) {
			.name = t->config->name,
			.active = true,
			.pressured = tc->pressured,
			.last_pressure_usec = tc->last_pressure_usec,
			.signal_usec = tc->signal_usec,
		};
		s.tenants = &ct;
		s.n_tenants = 1;
	}
	if (controller_note_event(&s, params(cl), &ev, now_usec(cl)) < 0)
		return;
	if (tc) {
		tc->pressured = ct.pressured;
		tc->last_pressure_usec = ct.last_pressure_usec;
		tc->signal_usec = ct.signal_usec;
	}
	cl->host_pressured = s.host_pressured;
	cl->host_last_pressure_usec = s.host_last_pressure_usec;
	schedule_decision(cl);
}

/* ---- memory.high writes: through the manager, to the writer ---- */

/*
 * A write of ours completed. A tenant that only touches memory it already has never charges, so
 * nothing else reclaims what is above its new memory.high: the controller decides whether another
 * bounded round of reclaim is due, and whether with the tenant paused
 * (controller_reclaim_after_write()), as long as the limit is ours.
 */
static void hook_written(Manager *m, Tenant *t, const WriterCompletion *c, void *userdata)
{
	ControlLoop *cl = userdata;
	TenantControl *tc = tc_of(t);
	bool cont = c->kind == WRITER_KIND_CONTINUE || c->kind == WRITER_KIND_CONTINUE_PAUSED;
	ControlReclaim next;

	if (!tc || c->file != WRITER_MEMORY_HIGH)
		return;
	if (!cont) {
		tc->last_write_usec = now_usec(cl);
		tc->continuations = 0;
	}
	if (c->result < 0 || t->high != c->value || m->dry_run || manager_tenant_refresh(m, t) < 0 || !tc_of(t))
		goto out;
	if (c->paused)
		(void) log_info(&m->log, "Tenant %s: reclaimed with it paused for %llu ms%s: memory.current %llu, "
				"memory.high %llu", t->config->name,
				(unsigned long long) (c->duration_usec / USEC_PER_MSEC),
				c->interrupted ? " (interrupted at the write timeout)" : "",
				(unsigned long long) t->current, (unsigned long long) c->value);
	/* This write counts as outstanding until the hooks return: busy means another one is queued. */
	if (writer_target_outstanding(t->writer) > 1)
		goto out;
	next = controller_reclaim_after_write(c->value, t->current, c->interrupted, c->paused, tc->continuations);
	if (next == CONTROL_RECLAIM_DONE)
		goto out;
	if (next == CONTROL_RECLAIM_PAUSED)
		(void) log_info(&m->log, "Tenant %s: %llu bytes above memory.high %llu after reclaim %s; reclaiming "
				"with it paused (cgroup.freeze) for at most the write timeout", t->config->name,
				(unsigned long long) (t->current - c->value), (unsigned long long) c->value,
				c->interrupted ? "was interrupted" : "found only recently used pages");
	else
		(void) log_debug(&m->log, "Tenant %s: still %llu bytes above memory.high, reclaiming on", t->config->name,
				 (unsigned long long) (t->current - c->value));
	if (manager_reclaim_more(m, t, c->value, c->reason, next == CONTROL_RECLAIM_PAUSED) >= 0)
		tc->continuations++;
out:
	schedule_decision(cl);
}

static void apply_action(ControlLoop *cl, Tenant *t, const ControlAction *a)
{
	TenantControl *tc = t->policy_data;
	uint64_t now;

	if (manager_apply_high(cl->m, t, a->new_high, a->text) < 0)
		return;
	if (cl->m->dry_run && tc_of(t))
		tc->last_write_usec = now_usec(cl); /* dry-run: "done" at once */
	if (cl->signal_usec == 0 || (a->reason != CONTROL_REASON_SQUEEZE && a->reason != CONTROL_REASON_RAISE))
		return;
	/* The time stamp bench/daemon reads: the write is with the writer now. */
	now = clock_usec(CLOCK_MONOTONIC);
	(void) log_info(&cl->m->log, "Tenant %s: memory.high write started %llu us after the first pressure signal (%s)",
			t->config->name, (unsigned long long) (now > cl->signal_usec ? now - cl->signal_usec : 0),
			cl->signal_what);
	cl->signal_usec = 0;
}

/* ---- deciding ---- */

/*
 * Decision inputs beyond pressure events (issue 17), read only while they can matter: some tenant is
 * under pressure or away from its baseline. Then every active tenant's usage, CPU time and refaults
 * (the demand of a squeeze's cause) and the tenants' nearest common ancestor with a limit.
 */
static bool inputs_needed(const View *v, const ControlParams *p, uint64_t now)
{
	for (size_t i = 0; i < v->s.n_tenants; i++) {
		const ControlTenant *t = &v->ct[i];

		if (!t->active)
			continue;
		if (controller_tenant_pressured(t, p, now) ||
		    t->high != control_baseline(t->baseline, t->high_min, t->high_max))
			return true;
	}
	return false;
}

/* The highest priority of a tenant under pressure or at risk; INT_MIN if none. */
static int pressured_top(const View *v, const ControlParams *p, uint64_t now)
{
	int top = INT_MIN;

	for (size_t i = 0; i < v->s.n_tenants; i++) {
		const ControlTenant *t = &v->ct[i];

		if (t->active && (controller_tenant_pressured(t, p, now) || t->at_risk) && t->priority > top)
			top = t->priority;
	}
	return top;
}

/*
 * Whether the first decision on a signal needs t's usage now: t is under pressure or at risk (a
 * raise), below the most important such tenant (a squeeze), or away from its baseline (a relax).
 * A quiet tenant at its baseline above them all can get no action from that decision.
 */
static bool refresh_first(const ControlTenant *t, const ControlParams *p, uint64_t now, int top)
{
	return t->active && (controller_tenant_pressured(t, p, now) || t->at_risk || t->priority < top ||
			     t->high != control_baseline(t->baseline, t->high_min, t->high_max));
}

/*
 * Activity (CPU time, refaults) of every active tenant, read only when the controller will compare
 * it: once CONTROL_SAMPLE_MIN_USEC passed since the tenant's last sample (closer samples change
 * nothing in controller_note_sample(), so a burst of decisions in one episode reads each file once).
 */
static void sample_tenants(ControlLoop *cl, View *v, uint64_t now)
{
	static const char *const stat_keys[] = { "workingset_refault_anon", "workingset_refault_file" };
	Manager *m = cl->m;

	for (size_t i = 0; i < v->s.n_tenants && i < m->n_tenants; i++) {
		Tenant *t = m->tenants[i];
		const ControlHistory *h = &v->ct[i].hist;
		ControlSample sm = { .current = t->current, .cpu_usec = h->cpu_usec, .refaults = h->refaults };
		uint64_t anon = 0, file = 0;
		uint64_t *const stat_values[] = { &anon, &file };

		if (!v->ct[i].active || !tc_of(t))
			continue;
		if (h->sample_usec == 0 || now < h->sample_usec || now - h->sample_usec >= CONTROL_SAMPLE_MIN_USEC) {
			/* Missing files (no cpu.stat on an old kernel, a fake tree) read as "no activity". */
			sm.cpu_usec = 0;
			(void) cgroup_read_keyed(t->cg_fd, "cpu.stat", "usage_usec", &sm.cpu_usec);
			(void) cgroup_read_keyed_many(t->cg_fd, "memory.stat", stat_keys, stat_values,
						      ELEMENTSOF(stat_keys));
			sm.refaults = anon + file;
		}
		(void) controller_note_sample(&v->s, params(cl), i, &sm, now);
	}
}

/* Length of the common leading path components of a and b ("x/y" and "x/z" -> 1 ("x")). */
static size_t common_prefix(const char *a, const char *b)
{
	size_t n = 0, last = 0;

	for (;; n++) {
		if ((a[n] == '/' || a[n] == '\0') && (b[n] == '/' || b[n] == '\0'))
			last = n;
		if (a[n] != b[n] || a[n] == '\0')
			break;
	}
	return last;
}

/* min(memory.max, memory.high) of the cgroup at fd; which of the two it is in *ret_file. */
static uint64_t limit_read(int fd, const char **ret_file)
{
	uint64_t max = MEMQOSD_BYTES_MAX, high = MEMQOSD_BYTES_MAX;

	(void) cgroup_read_u64(fd, "memory.max", &max);
	(void) cgroup_read_u64(fd, "memory.high", &high);
	*ret_file = max <= high ? "memory.max" : "memory.high";
	return max < high ? max : high;
}

/*
 * Find the tenants' nearest common ancestor with memory.max or memory.high below "max" (the cgroup
 * root included, when it has them) and keep it open in cl->limit_fd. A common ancestor that is itself
 * a tenant's cgroup does not count (its memory.high is ours). O(tenants): only when the cache is stale.
 */
static void limit_find(ControlLoop *cl)
{
	Manager *m = cl->m;
	_cleanup_free_ char *rel = NULL;
	size_t len = SIZE_MAX;
	const char *first = NULL;

	cl->limit_stale = false;
	closep(&cl->limit_fd);
	cl->limit_rel[0] = '\0';
	if (!m->root)
		return;
	for (size_t i = 0; i < m->n_tenants; i++) {
		const char *c = m->tenants[i]->config->cgroup;

		if (!tc_of(m->tenants[i]))
			continue;
		if (!first) {
			first = c;
			len = strlen(c);
		} else {
			size_t k = common_prefix(first, c);

			len = k < len ? k : len;
		}
	}
	if (!first)
		return;
	rel = strndup(first, len);
	if (!rel)
		return;
	for (size_t i = 0; i < m->n_tenants; i++)
		if (tc_of(m->tenants[i]) && streq(m->tenants[i]->config->cgroup, rel)) {
			char *slash = strrchr(rel, '/');

			*(slash ?: rel) = '\0';
			break;
		}

	for (;;) {
		_cleanup_close_ int fd = -EBADF;
		const char *file;
		char *slash;

		if (cgroup_open(m->root, rel, &fd) >= 0) {
			if (limit_read(fd, &file) != MEMQOSD_BYTES_MAX) {
				cl->limit_fd = TAKE_FD(fd);
				(void) snprintf(cl->limit_rel, sizeof(cl->limit_rel), "%s", *rel ? rel : "the cgroup root");
				return;
			}
		}
		if (!*rel)
			return;
		slash = strrchr(rel, '/');
		*(slash ?: rel) = '\0';
	}
}

/*
 * Sample that ancestor: v->s.limit_near if its memory.current is within Headroom= of its limit, and
 * its room (for the controller's FIRST SIGNAL rule). Three reads when the cache holds.
 */
static void sample_limit(ControlLoop *cl, View *v)
{
	uint64_t cur, limit;
	const char *file;

	v->s.limit_near = false;
	v->s.limit_where = NULL;
	v->s.limit_known = false;
	v->s.room_where = NULL;
	if (cl->limit_stale)
		limit_find(cl);
	if (cl->limit_fd < 0)
		return;
	limit = limit_read(cl->limit_fd, &file);
	if (limit == MEMQOSD_BYTES_MAX) {
		/* Its limit was removed: look again (a higher ancestor may have one). */
		limit_find(cl);
		if (cl->limit_fd < 0)
			return;
		limit = limit_read(cl->limit_fd, &file);
	}
	if (limit == MEMQOSD_BYTES_MAX || cgroup_read_u64(cl->limit_fd, "memory.current", &cur) < 0) {
		cl->limit_stale = true; /* gone or unreadable: find it again next time */
		return;
	}
	v->s.limit_near = cur + params(cl)->headroom_bytes >= limit;
	(void) snprintf(cl->limit_where, sizeof(cl->limit_where), "%s is near its %s", cl->limit_rel, file);
	v->s.limit_where = cl->limit_where;
	v->s.limit_known = true;
	v->s.limit_room = limit > cur ? limit - cur : 0;
	(void) snprintf(cl->room_where, sizeof(cl->room_where), "%s has no room under its %s for its next step",
			cl->limit_rel, file);
	v->s.room_where = cl->room_where;
}

static void publish_control(ControlLoop *cl, const View *v, uint64_t now)
{
	int prio = MEMQOSD_NO_PRIORITY;
	bool host;

	if (!cl->engine)
		return;
	/* While a squeeze is held for a tenant (its demand persists, issue 17), the policies keep
	 * throttling the tenants it outranks as they do while it is under pressure. */
	for (size_t i = 0; i < v->s.n_tenants; i++)
		if (v->ct[i].active && controller_tenant_demand(&v->ct[i], params(cl), now) && v->ct[i].priority > prio)
			prio = v->ct[i].priority;
	host = v->s.limit_near || (v->s.host_pressured &&
	       now - v->s.host_last_pressure_usec <= CONTROL_PRESSURE_GRACE_WINDOWS * params(cl)->psi_window_usec);
	if (prio == cl->published_prio && host == cl->published_host)
		return;
	if (policy_engine_set_control(cl->engine, prio, host) >= 0) {
		cl->published_prio = prio;
		cl->published_host = host;
		(void) log_debug(&cl->m->log, "Control block: highest priority with demand %d, host %s", prio,
				 host ? "under pressure" : "quiet");
	}
}

static void decide(ControlLoop *cl)
{
	Manager *m = cl->m;
	_cleanup_free_ ControlAction *actions = NULL;
	_cleanup_free_ Tenant **snapshot = NULL;
	uint64_t now = now_usec(cl), wakeup = CONTROL_NO_WAKEUP;
	bool needed, fast = false;
	int top;
	size_t n;
	View v;
	int r;

	if (!m->config)
		return;
	if (view_build(cl, &v) < 0)
		goto oom;
	/*
	 * Quiet (no tenant pressured or away from its baseline): nothing the controller can decide
	 * depends on usage, so no file is read (issue 12: the idle cost must not grow with quiet
	 * tenants). Else fresh usage for the headroom rule first (a vanished cgroup is released by the
	 * manager here), then the view again.
	 */
	needed = inputs_needed(&v, params(cl), now);
	if (!needed && !(cl->host_pressured && now - cl->host_last_pressure_usec <=
			 CONTROL_PRESSURE_GRACE_WINDOWS * params(cl)->psi_window_usec))
		cl->signal_usec = 0; /* the episode ended without a write */
	if (needed) {
		/*
		 * The first decision on an unanswered first signal hands its writes over before reading
		 * the tenants it cannot act on (issue 12: the signal -> write time must not grow with
		 * quiet tenants): it reads memory.current only of those refresh_first() names, and no
		 * activity; the decision right after it reads everything as usual.
		 */
		fast = cl->signal_usec != 0 && cl->fast_signal_usec != cl->signal_usec;
		if (fast)
			cl->fast_signal_usec = cl->signal_usec;
		top = fast ? pressured_top(&v, params(cl), now) : INT_MIN;
		for (size_t i = 0; i < m->n_tenants && i < v.s.n_tenants; i++)
			if (tc_of(m->tenants[i]) && (!fast || refresh_first(&v.ct[i], params(cl), now, top)))
				(void) manager_tenant_refresh(m, m->tenants[i]);
		free(v.ct);
		if (view_build(cl, &v) < 0)
			goto oom;
		if (!fast)
			sample_tenants(cl, &v, now);
		sample_limit(cl, &v);
	}

	n = m->n_tenants;
	actions = calloc(n ?: 1, sizeof(ControlAction));
	snapshot = calloc(n ?: 1, sizeof(Tenant *));
	if (!actions || !snapshot) {
		free(v.ct);
		goto oom;
	}
	memcpy(snapshot, m->tenants, n * sizeof(Tenant *));
	r = controller_decide(&v.s, params(cl), now, actions, n, &wakeup);
	publish_control(cl, &v, now);
	view_store(cl, &v);
	if (r < 0) {
		(void) log_error_errno(&m->log, r, "Control decision failed: %m");
		return;
	}

	for (int k = 0; k < r; k++) {
		Tenant *t = snapshot[actions[k].tenant];

		/* An earlier write in this batch may have released a tenant (cgroup gone). */
		if (!tc_of(t))
			continue;
		apply_action(cl, t, &actions[k]);
	}
	if (fast)
		schedule_decision(cl); /* the activity samples this one skipped */

	if (wakeup == CONTROL_NO_WAKEUP)
		(void) sd_event_source_set_enabled(cl->wakeup, SD_EVENT_OFF);
	else {
		(void) sd_event_source_set_time(cl->wakeup, wakeup);
		(void) sd_event_source_set_enabled(cl->wakeup, SD_EVENT_ONESHOT);
	}
	return;
oom:
	(void) log_error(&m->log, "Out of memory in the control loop");
}

static int on_defer(sd_event_source *s, void *userdata)
{
	(void) s;
	decide(userdata);
	return 0;
}

static int on_wakeup(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void) s;
	(void) usec;
	decide(userdata);
	return 0;
}

/* ---- inputs ---- */

static int on_host_pressure(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	ControlLoop *cl = userdata;

	(void) s;
	(void) fd;
	if (revents & EPOLLERR) {
		(void) log_warning(&cl->m->log, "Host PSI trigger failed, host pressure no longer watched");
		cl->host_source = sd_event_source_disable_unref(cl->host_source);
		return 0;
	}
	signal_seen(cl, 0, "PSI trigger", NULL);
	note(cl, CONTROL_EVENT_HOST_PRESSURE, NULL);
	return 0;
}

static int on_host_pressure_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata)
{
	(void) s;
	(void) ev;
	signal_seen(userdata, 0, "PSI trigger", NULL);
	note(userdata, CONTROL_EVENT_HOST_PRESSURE, NULL);
	return 0;
}

static void host_pressure_setup(ControlLoop *cl)
{
	Manager *m = cl->m;
	const ControlParams *p = params(cl);
	char trigger[96];
	const char *where;
	int fd = -EBADF, r;

	if (cl->host_setup_done || !m->root)
		return;
	cl->host_setup_done = true;
	if (!m->root->cgroupfs) {
		/* A test tree: a write to the root's memory.pressure file stands for the host's trigger. */
		_cleanup_close_ int pfd = openat(m->root->fd, "memory.pressure", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

		r = pfd < 0 ? -ENOENT : sd_event_add_inotify_fd(m->event, &cl->host_source, pfd, IN_CLOSE_WRITE,
								 on_host_pressure_inotify, cl);
		(void) log_debug(&m->log, "Cgroup root is not cgroupfs: host pressure %s",
				 r < 0 ? "not watched" : "is a write to its memory.pressure file");
		return;
	}
	where = "memory.pressure of the cgroup root";
	r = cgroup_pressure_trigger_open(m->root, m->root->fd, p->psi_full, p->psi_stall_usec, p->psi_window_usec,
					 &fd);
	if (r < 0) {
		/* The real cgroup2 root has no memory.pressure: the system-wide file is the same thing. */
		where = "/proc/pressure/memory";
		fd = open(where, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		(void) snprintf(trigger, sizeof(trigger), "%s %llu %llu", p->psi_full ? "full" : "some",
				(unsigned long long) p->psi_stall_usec, (unsigned long long) p->psi_window_usec);
		if (fd < 0 || write(fd, trigger, strlen(trigger) + 1) < 0) {
			(void) log_warning_errno(&m->log, negative_errno(),
						 "Cannot watch host memory pressure (%s), tenants will not be "
						 "squeezed for each other: %m", where);
			closep(&fd);
			return;
		}
	}
	r = sd_event_add_io(m->event, &cl->host_source, fd, EPOLLPRI, on_host_pressure, cl);
	if (r < 0) {
		closep(&fd);
		(void) log_warning_errno(&m->log, r, "Cannot watch host memory pressure: %m");
		return;
	}
	(void) sd_event_source_set_io_fd_own(cl->host_source, true);
	(void) sd_event_source_set_description(cl->host_source, "host-pressure");
	(void) log_info(&m->log, "Watching host memory pressure through %s", where);
}

static void on_ring_event(const struct memqosd_event *ev, void *userdata)
{
	ControlLoop *cl = userdata;
	Tenant *t;

	switch (ev->kind) {
	case MEMQOSD_EV_OVER_HIGH:
	case MEMQOSD_EV_CHARGE_FAIL:
	case MEMQOSD_EV_NEAR_MAX:
	case MEMQOSD_EV_WATCH:
		break;
	default:
		return; /* counted in the stats map; not a control input */
	}
	t = ev->tenant_id < MEMQOSD_MAX_TENANTS ? cl->by_id[ev->tenant_id] : NULL;
	if (!t || !tc_of(t))
		return;
	(void) log_debug(&cl->m->log, "Tenant %s: BPF event %u (pages %llu, value %llu)", t->config->name, ev->kind,
			 (unsigned long long) ev->pages, (unsigned long long) ev->value);
	manager_policy_event(cl->m, t, ev); /* the other modules' view of the same record */
	if (ev->kind == MEMQOSD_EV_WATCH)
		return; /* the OOM forecast's entry only */
	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC: the record's own time is when the kernel saw it. */
	signal_seen(cl, ev->ts_ns / 1000, ev->kind == MEMQOSD_EV_OVER_HIGH ? "BPF over-high" :
		    ev->kind == MEMQOSD_EV_CHARGE_FAIL ? "BPF charge failure" : "BPF near memory.max", t);
	note(cl, ev->kind == MEMQOSD_EV_OVER_HIGH ? CONTROL_EVENT_OVER_HIGH : CONTROL_EVENT_CHARGE_FAIL, t);
}

static void policy_params(const Tenant *t, uint32_t id, PolicyTenant *ret)
{
	const TenantConfig *c = t->config;

	*ret = (PolicyTenant) {
		.tenant_id = id,
		.cgroup_id = t->cgroup_id,
		.cgroup_fd = t->cg_fd,
		.name = c->name,
		.kind = c->policy,
		.priority = c->priority,
		.protect_bytes = c->has_memory_low ? c->memory_low : 0,
		.delay_floor_ms = CONTROL_DELAY_FLOOR_MS,
	};
}

/*
 * The tenant asks for a BPF policy it cannot have: loudly (a journal record, and the "no-policy"
 * state in status/D-Bus). It stays under the control loop on PSI and memory.events.
 */
static void tenant_no_policy(ControlLoop *cl, Tenant *t, int error, const char *why)
{
	_cleanup_free_ char *f_tenant = NULL, *f_cgroup = NULL, *f_policy = NULL, *f_reason = NULL;
	const char *fields[5] = {};

	t->no_policy = true;
	if (asprintf(&f_tenant, "MEMQOSD_TENANT=%s", t->config->name) < 0)
		f_tenant = NULL;
	if (asprintf(&f_cgroup, "MEMQOSD_CGROUP=%s", t->config->cgroup) < 0)
		f_cgroup = NULL;
	if (asprintf(&f_policy, "MEMQOSD_POLICY=%s", policy_kind_to_string(t->config->policy)) < 0)
		f_policy = NULL;
	if (asprintf(&f_reason, "MEMQOSD_REASON=%s%s%s", why, error ? ": " : "", error ? strerror(-error) : "") < 0)
		f_reason = NULL;
	if (f_tenant && f_cgroup && f_policy && f_reason) {
		fields[0] = f_tenant;
		fields[1] = f_cgroup;
		fields[2] = f_policy;
		fields[3] = f_reason;
	}
	log_struct(&cl->m->log, LOG_WARNING, MEMQOSD_MESSAGE_TENANT_NO_POLICY, fields,
		   "Tenant %s: no BPF policy (%s%s%s); state no-policy, PSI and memory.events only", t->config->name,
		   why, error ? ": " : "", error ? strerror(-error) : "");
}

/* Give t its BPF policy, or mark it no-policy. Needs an engine and a policy other than none. */
static void tenant_policy_add(ControlLoop *cl, Tenant *t, TenantControl *tc)
{
	PolicyTenant pt;
	uint64_t t0;
	int r;

	if (tc->tenant_id == 0)
		tc->tenant_id = policy_id_alloc(&cl->ids);
	if (tc->tenant_id == 0) {
		tenant_no_policy(cl, t, 0, "no tenant id left, more tenants than the BPF maps hold");
		return;
	}
	policy_params(t, tc->tenant_id, &pt);
	t0 = clock_usec(CLOCK_MONOTONIC);
	r = policy_tenant_add(cl->engine, &pt);
	if (cl->starting) {
		uint64_t d = clock_usec(CLOCK_MONOTONIC) - t0;

		cl->attach_usec += d;
		if (cl->n_attached == 0 && r >= 0)
			cl->attach_first_usec = d; /* with the program's load and verification */
		cl->n_attached += r >= 0;
	}
	if (r < 0) {
		tenant_no_policy(cl, t, r, "the policy failed to load or attach");
		return;
	}
	t->no_policy = false;
	(void) log_info(&cl->m->log, "Tenant %s: policy %s", t->config->name,
			policy_tenant_describe(cl->engine, tc->tenant_id));
}

/* The id its policy link had in the previous memqosd if that link waits to be adopted and the id
 * is free (else the stored program gets swapped for one with the new id), or a new one. */
static uint32_t tenant_id_for(ControlLoop *cl, const Tenant *t)
{
	uint32_t id = policy_engine_adoptable_tenant(cl->engine, t->cgroup_id);

	if (id > 0 && policy_id_take(&cl->ids, id))
		return id;
	return policy_id_alloc(&cl->ids);
}

/*
 * The daemon's [Forecast] WatchPercent=, WatchSec=, MinGrowth= to the BPF policies, which send the
 * WATCH records the forecast (src/risk.c) starts sampling a tenant on. Called on every attach and
 * housekeeping tick (a reload may change them); writes only a change.
 */
static void publish_watch(ControlLoop *cl)
{
	const ForecastParams *f;
	int r;

	if (!cl->engine || !cl->m->config)
		return;
	f = &cl->m->config->daemon.forecast;
	if (cl->watch_published && cl->watch_percent == f->watch_percent && cl->watch_usec == f->watch_usec &&
	    cl->watch_growth == f->min_growth_bytes)
		return;
	r = policy_engine_set_watch(cl->engine, f->watch_percent, f->watch_usec, f->min_growth_bytes);
	if (r < 0) {
		(void) log_warning_errno(&cl->m->log, r, "Cannot pass the forecast's watch settings to the BPF policies: %m");
		return;
	}
	cl->watch_published = true;
	cl->watch_percent = f->watch_percent;
	cl->watch_usec = f->watch_usec;
	cl->watch_growth = f->min_growth_bytes;
}

static int hook_attach(Manager *m, Tenant *t, void *userdata)
{
	ControlLoop *cl = userdata;
	TenantControl *tc;

	host_pressure_setup(cl);
	if (cl->engine && m->root && !m->root->cgroupfs) {
		(void) log_notice(&m->log, "Cgroup root %s is not cgroup2: BPF policies unloaded, mode psi-only",
				  m->root->path);
		cl->engine = policy_engine_free(cl->engine);
		cl->mode = POLICY_MODE_PSI_ONLY;
		manager_set_mode(m, policy_mode_to_string(cl->mode));
	}
	publish_watch(cl);

	tc = calloc(1, sizeof(*tc));
	if (!tc)
		return -ENOMEM;
	/*
	 * An id for the BPF maps. None left (more than POLICY_IDS_MAX tenants): the tenant is still
	 * controlled on PSI with id 0 (write completions find it by name), but without a BPF policy.
	 */
	tc->tenant_id = tenant_id_for(cl, t);
	t->policy_data = tc;
	t->no_policy = false;
	if (tc->tenant_id > 0 && tc->tenant_id < MEMQOSD_MAX_TENANTS)
		cl->by_id[tc->tenant_id] = t;

	if (cl->engine && t->config->policy != POLICY_NONE)
		tenant_policy_add(cl, t, tc);
	cl->limit_stale = true;
	if (!cl->starting)
		schedule_decision(cl);
	return 0;
}

static void hook_detach(Manager *m, Tenant *t, void *userdata)
{
	ControlLoop *cl = userdata;
	TenantControl *tc = t->policy_data;

	if (!tc)
		return;
	if (m->handover)
		policy_engine_hand_over(cl->engine); /* the links stay attached for the next start */
	if (cl->engine)
		policy_tenant_remove(cl->engine, tc->tenant_id);
	policy_id_free(&cl->ids, tc->tenant_id);
	if (tc->tenant_id < MEMQOSD_MAX_TENANTS && cl->by_id[tc->tenant_id] == t)
		cl->by_id[tc->tenant_id] = NULL;
	/* Writes still outstanding complete to the manager, which owns them: nothing keyed by the id. */
	free(tc);
	t->policy_data = NULL;
	t->no_policy = false;
	cl->limit_stale = true;
	schedule_decision(cl);
}

static int hook_changed(Manager *m, Tenant *t, const TenantConfig *old, void *userdata)
{
	ControlLoop *cl = userdata;
	TenantControl *tc = t->policy_data;
	struct memqosd_tenant_stats before = {}, after = {};
	PolicyTenant pt;
	int r;

	(void) old;
	if (!tc)
		return 0;
	cl->limit_stale = true;
	schedule_decision(cl);
	if (!cl->engine)
		return 0;
	if (t->config->policy == POLICY_NONE) {
		policy_tenant_remove(cl->engine, tc->tenant_id);
		t->no_policy = false;
		return 0;
	}
	if (t->no_policy || tc->tenant_id == 0) {
		/* It had none: try again from scratch (an id may have been freed meanwhile). */
		policy_tenant_remove(cl->engine, tc->tenant_id);
		tenant_policy_add(cl, t, tc);
		return 0;
	}
	policy_params(t, tc->tenant_id, &pt);
	(void) policy_engine_read_stats(cl->engine, tc->tenant_id, &before);
	r = policy_tenant_update(cl->engine, &pt);
	if (r < 0)
		return log_warning_errno(&m->log, r, "Tenant %s: new policy not applied, keeping the old one: %m",
					 t->config->name);
	(void) policy_engine_read_stats(cl->engine, tc->tenant_id, &after);
	/* The counters live in a map shared by all instances: a swap must not reset them. */
	(void) log_info(&m->log, "Tenant %s: policy now %s (priority %d); BPF counters continue: charges %llu -> %llu",
			t->config->name, policy_tenant_describe(cl->engine, tc->tenant_id), t->config->priority,
			(unsigned long long) before.charges, (unsigned long long) after.charges);
	return 0;
}

static void hook_pressure(Manager *m, Tenant *t, void *userdata)
{
	(void) m;
	if (tc_of(t))
		signal_seen(userdata, 0, "PSI trigger", t);
	note(userdata, CONTROL_EVENT_PRESSURE, t);
}

static void hook_events(Manager *m, Tenant *t, const CgroupMemoryEvents *prev, void *userdata)
{
	(void) m;
	if (!tc_of(t))
		return;
	if (t->events.max > prev->max || t->events.oom > prev->oom) {
		signal_seen(userdata, 0, "memory.events max/oom", t);
		note(userdata, CONTROL_EVENT_CHARGE_FAIL, t);
	} else if (t->events.high > prev->high) {
		signal_seen(userdata, 0, "memory.events high", t);
		note(userdata, CONTROL_EVENT_OVER_HIGH, t);
	}
}

/* Start-up is over: stored policy links no tenant claimed are not wanted any more. */
static void hook_started(Manager *m, void *userdata)
{
	ControlLoop *cl = userdata;

	(void) m;
	policy_engine_release_unclaimed(cl->engine);
	if (cl->engine)
		(void) log_info(&cl->m->log, "Start-up: policy mode detected in %llu ms; %u BPF policies attached in %llu ms "
				"(the first, with the program's load and verification, %llu ms)",
				(unsigned long long) (cl->detect_usec / 1000), cl->n_attached,
				(unsigned long long) (cl->attach_usec / 1000), (unsigned long long) (cl->attach_first_usec / 1000));
	cl->starting = false;
	schedule_decision(cl);
}

static void hook_housekeeping(Manager *m, void *userdata)
{
	ControlLoop *cl = userdata;
	uint64_t lost;

	if (cl->engine) {
		lost = policy_engine_lost_events(cl->engine);
		if (lost > cl->lost_reported) {
			(void) log_warning(&m->log, "BPF ring buffer: %llu events lost since the last check (%llu in total)",
					   (unsigned long long) (lost - cl->lost_reported), (unsigned long long) lost);
			cl->lost_reported = lost;
		}
		publish_watch(cl);
	}
	cl->limit_stale = true; /* found again by the next decision that samples it, not now */
	note(cl, CONTROL_EVENT_TICK, NULL);
}

/*
 * Each struct_ops tenant holds about a dozen fds (its maps, programs, BTF and link): 1,000 tenants
 * do not fit the default soft limit of 1024. Raise the soft limit to the hard one, and the hard one
 * to fs.nr_open when allowed, as systemd does for its own daemons.
 */
static void bump_nofile(const Logger *log)
{
	struct rlimit rl;
	unsigned long nr_open = 0;
	FILE *f;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	f = fopen("/proc/sys/fs/nr_open", "re");
	if (f) {
		if (fscanf(f, "%lu", &nr_open) != 1)
			nr_open = 0;
		fclose(f);
	}
	if (nr_open > rl.rlim_max &&
	    setrlimit(RLIMIT_NOFILE, &(struct rlimit) { .rlim_cur = nr_open, .rlim_max = nr_open }) >= 0) {
		(void) log_debug(log, "RLIMIT_NOFILE raised to %lu", nr_open);
		return;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) >= 0)
		(void) log_debug(log, "RLIMIT_NOFILE soft limit raised to %llu", (unsigned long long) rl.rlim_max);
}

static bool is_cgroup2(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) >= 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

int control_loop_install(Manager *m, ControlLoop **ret)
{
	_cleanup_(control_loop_freep) ControlLoop *cl = NULL;
	int r;

	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	*cl = (ControlLoop) {
		.m = m,
		.host_fd = -EBADF,
		.limit_fd = -EBADF,
		.limit_stale = true,
		.published_prio = MEMQOSD_NO_PRIORITY - 1,
		.starting = true,
	};
	policy_id_init(&cl->ids);
	r = sd_event_add_defer(m->event, &cl->defer, on_defer, cl);
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to add the decision source: %m");
	(void) sd_event_source_set_enabled(cl->defer, SD_EVENT_OFF);
	(void) sd_event_source_set_description(cl->defer, "control-decide");
	r = sd_event_add_time(m->event, &cl->wakeup, CLOCK_MONOTONIC, 0, 0, on_wakeup, cl);
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to add the control wakeup timer: %m");
	(void) sd_event_source_set_enabled(cl->wakeup, SD_EVENT_OFF);
	(void) sd_event_source_set_description(cl->wakeup, "control-wakeup");

	bump_nofile(&m->log);
	cl->detect_usec = clock_usec(CLOCK_MONOTONIC);
	cl->mode = policy_detect_mode(NULL, cl->mode_reason, sizeof(cl->mode_reason));
	if (cl->mode != POLICY_MODE_PSI_ONLY && m->cgroup_root_arg && !is_cgroup2(m->cgroup_root_arg)) {
		/* A test tree of plain directories: inode numbers there are no cgroup ids. */
		(void) snprintf(cl->mode_reason, sizeof(cl->mode_reason),
				"cgroup root %s is not cgroup2: BPF policies cannot name its cgroups", m->cgroup_root_arg);
		cl->mode = POLICY_MODE_PSI_ONLY;
	}
	if (cl->mode != POLICY_MODE_PSI_ONLY) {
		r = policy_engine_new(&m->log, cl->mode, m->fdstore, on_ring_event, cl, &cl->engine);
		if (r >= 0)
			r = policy_engine_attach_event(cl->engine, m->event);
		if (r < 0) {
			(void) snprintf(cl->mode_reason + strlen(cl->mode_reason),
					sizeof(cl->mode_reason) - strlen(cl->mode_reason), "; but BPF failed: %s",
					strerror(-r));
			cl->engine = policy_engine_free(cl->engine);
			cl->mode = POLICY_MODE_PSI_ONLY;
		}
	}
	cl->detect_usec = clock_usec(CLOCK_MONOTONIC) - cl->detect_usec;
	manager_set_mode(m, policy_mode_to_string(cl->mode));
	(void) log_info(&m->log, "Policy mode %s: %s%s%s", policy_mode_to_string(cl->mode), cl->mode_reason,
			cl->engine ? ", observe via " : "",
			cl->engine && cl->mode == POLICY_MODE_TRACING ? policy_engine_observe_flavour(cl->engine) : "");

	r = manager_add_hooks(m, &(ManagerHooks) {
		.tenant_attach = hook_attach,
		.tenant_detach = hook_detach,
		.tenant_changed = hook_changed,
		.pressure = hook_pressure,
		.events = hook_events,
		.housekeeping = hook_housekeeping,
		.started = hook_started,
		.written = hook_written,
		.userdata = cl,
	});
	if (r < 0)
		return log_error_errno(&m->log, r, "Cannot register the control loop's hooks: %m");
	*ret = TAKE_PTR(cl);
	return 0;
}

ControlLoop *control_loop_free(ControlLoop *cl)
{
	if (!cl)
		return NULL;
	/* The manager outlives the loop: unhook, and drop what the hooks would have dropped. */
	manager_remove_hooks(cl->m, cl);
	for (size_t i = 0; i < cl->m->n_tenants; i++) {
		free(cl->m->tenants[i]->policy_data);
		cl->m->tenants[i]->policy_data = NULL;
	}
	sd_event_source_disable_unref(cl->host_source);
	closep(&cl->limit_fd);
	sd_event_source_disable_unref(cl->wakeup);
	sd_event_source_disable_unref(cl->defer);
	if (cl->m->handover)
		policy_engine_hand_over(cl->engine); /* also with no tenant active: the maps stay stored */
	policy_engine_free(cl->engine);
	free(cl);
	return NULL;
}

void control_loop_set_urgency(ControlLoop *cl, ControlUrgencyFn fn, void *userdata)
{
	cl->urgent = fn;
	cl->urgent_data = userdata;
}

void control_loop_reconsider(void *userdata)
{
	schedule_decision(userdata);
}

PolicyMode control_loop_mode(const ControlLoop *cl)
{
	return cl ? cl->mode : POLICY_MODE_PSI_ONLY;
}

const PolicyEngine *control_loop_engine(const ControlLoop *cl)
{
	return cl ? cl->engine : NULL;
}

int control_loop_tenant_stats(const ControlLoop *cl, const Tenant *t, struct memqosd_tenant_stats *ret)
{
	const TenantControl *tc = t ? tc_of(t) : NULL;

	if (!cl || !cl->engine || !tc || tc->tenant_id == 0)
		return -ENOENT;
	return policy_engine_read_stats(cl->engine, tc->tenant_id, ret);
}
