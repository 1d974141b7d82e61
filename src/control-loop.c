/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The live control loop; see control-loop.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "cgroup.h"
#include "control-loop.h"
#include "controller.h"

/* Over-high sleep floor the priority policy applies to outranked tenants while it matters. */
#define CONTROL_DELAY_FLOOR_MS 50
/* At most this many extra bounded reclaim rounds after an interrupted write (then the kernel's own
 * over-high reclaim on the tenant's charges has to do, and the controller gets its turn again). */
#define MAX_CONTINUATIONS 6
/* Signal that interrupts a memory.high write stuck in reclaim (only ever sent to a writer thread). */
#define WRITE_INTERRUPT_SIGNAL (SIGRTMIN + 2)

typedef struct TenantControl {
	uint32_t tenant_id;
	bool pressured;
	uint64_t last_pressure_usec;
	uint64_t last_write_usec;
	bool busy;                      /* a write is in flight */
	unsigned continuations;         /* reclaim rounds after an interrupted write (bounded) */
	ControlHistory hist;            /* demand and learned ceiling (controller_note_sample()) */
} TenantControl;

typedef struct WriteJob {
	struct WriteJob *next;
	ControlLoop *cl;
	char *tenant;                   /* name: the Tenant may be gone when the write completes */
	uint32_t tenant_id;
	int fd;                         /* dup of the cgroup fd */
	uint64_t old_high, new_high;
	char reason[CONTROL_REASON_TEXT_MAX];
	int result;
	bool done;                      /* under cl->lock */
	bool interrupted;
	bool continuation;              /* same value again, to keep reclaiming after an interrupt */
	pthread_t thread;
	sd_event_source *timeout;
} WriteJob;

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

	int done_fd;                    /* eventfd: a write job finished */
	sd_event_source *done_source;
	pthread_mutex_t lock;
	WriteJob *jobs;

	uint64_t lost_reported;
	int published_prio;
	bool published_host;

	/* The tenants' nearest common ancestor with a limit, as last sampled (for reason texts). */
	char limit_where[256];
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
			.busy = tc && tc->busy,
			.pressured = tc && tc->pressured,
			.last_pressure_usec = tc ? tc->last_pressure_usec : 0,
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
		tc->hist = v->ct[i].hist;
	}
	cl->host_pressured = v->s.host_pressured;
	cl->host_last_pressure_usec = v->s.host_last_pressure_usec;
	free(v->ct);
	v->ct = NULL;
}

/* Record an input now; decide once this loop iteration is done (inputs come in bursts). */
static void note(ControlLoop *cl, ControlEventKind kind, const Tenant *t)
{
	Manager *m = cl->m;
	ControlEvent ev = { .kind = kind };
	View v;

	if (!m->config)
		return;
	if (t) {
		size_t i;

		for (i = 0; i < m->n_tenants && m->tenants[i] != t; i++)
			;
		if (i >= m->n_tenants || !tc_of(t))
			return;
		ev.tenant = i;
	}
	if (view_build(cl, &v) < 0)
		return;
	(void) controller_note_event(&v.s, params(cl), &ev, now_usec(cl));
	view_store(cl, &v);
	schedule_decision(cl);
}

/* ---- memory.high writes ---- */

static void *write_thread(void *userdata)
{
	WriteJob *job = userdata;
	sigset_t ss;
	int r;

	/* Only the interrupt signal reaches this thread; it makes the kernel stop reclaiming. */
	sigemptyset(&ss);
	sigaddset(&ss, WRITE_INTERRUPT_SIGNAL);
	(void) pthread_sigmask(SIG_UNBLOCK, &ss, NULL);

	r = cgroup_write_u64(job->fd, "memory.high", job->new_high);

	pthread_mutex_lock(&job->cl->lock);
	job->result = r;
	job->done = true;
	pthread_mutex_unlock(&job->cl->lock);
	(void) eventfd_write(job->cl->done_fd, 1);
	return NULL;
}

static void interrupt_handler(int sig)
{
	(void) sig;
}

static int on_write_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	WriteJob *job = userdata;

	(void) s;
	(void) usec;
	pthread_mutex_lock(&job->cl->lock);
	if (!job->done) {
		job->interrupted = true;
		(void) pthread_kill(job->thread, WRITE_INTERRUPT_SIGNAL);
	}
	pthread_mutex_unlock(&job->cl->lock);
	(void) log_warning(&job->cl->m->log,
			   "Tenant %s: memory.high write still reclaiming after %llums, interrupting it "
			   "(the new limit is in place; the kernel reclaims the rest on the next charges)",
			   job->tenant, (unsigned long long) (params(job->cl)->write_timeout_usec / USEC_PER_MSEC));
	return 0;
}

static WriteJob *job_free(WriteJob *job)
{
	if (!job)
		return NULL;
	sd_event_source_disable_unref(job->timeout);
	closep(&job->fd);
	free(job->tenant);
	free(job);
	return NULL;
}

static Tenant *find_tenant_id(ControlLoop *cl, const char *name, uint32_t tenant_id)
{
	Tenant *t = name ? manager_find_tenant(cl->m, name) : NULL;

	if (!name)
		for (size_t i = 0; i < cl->m->n_tenants && !t; i++) {
			TenantControl *tc = tc_of(cl->m->tenants[i]);

			if (tc && tc->tenant_id == tenant_id)
				t = cl->m->tenants[i];
		}
	if (!t || !tc_of(t) || ((TenantControl *) t->policy_data)->tenant_id != tenant_id)
		return NULL;
	return t;
}

static bool start_job(ControlLoop *cl, Tenant *t, uint64_t new_high, const char *reason, bool continuation);

static int on_write_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	ControlLoop *cl = userdata;
	WriteJob **p = &cl->jobs;
	eventfd_t v;

	(void) s;
	(void) revents;
	(void) eventfd_read(fd, &v);

	while (*p) {
		WriteJob *job = *p;
		bool done;
		Tenant *t;

		pthread_mutex_lock(&cl->lock);
		done = job->done;
		pthread_mutex_unlock(&cl->lock);
		if (!done) {
			p = &job->next;
			continue;
		}
		*p = job->next;
		(void) pthread_join(job->thread, NULL);

		t = find_tenant_id(cl, job->tenant, job->tenant_id);
		if (t) {
			TenantControl *tc = t->policy_data;

			tc->busy = false;
			tc->last_write_usec = now_usec(cl);
			if (job->interrupted && job->result == -EINTR)
				job->result = 0; /* the limit was set before the reclaim that got interrupted */
			if (!job->continuation || job->result < 0)
				(void) manager_high_written(cl->m, t, job->old_high, job->new_high, job->reason,
							    job->result);
			/*
			 * Interrupted while still above the new limit: a tenant that only touches memory
			 * it already has never charges, so nothing else would reclaim it. Write the same
			 * value again (another bounded round of reclaim) until it is below, as long as
			 * the limit is still ours.
			 */
			if (!job->continuation)
				tc->continuations = 0;
			if (job->interrupted && job->result >= 0 && tc_of(t) && t->high == job->new_high &&
			    tc->continuations < MAX_CONTINUATIONS &&
			    !cl->m->dry_run && manager_tenant_refresh(cl->m, t) >= 0 && tc_of(t) &&
			    t->current > job->new_high) {
				(void) log_debug(&cl->m->log, "Tenant %s: still %llu bytes above memory.high, reclaiming on",
						 t->config->name, (unsigned long long) (t->current - job->new_high));
				if (start_job(cl, t, job->new_high, job->reason, /* continuation= */ true))
					tc->continuations++;
			}
		}
		job_free(job);
		schedule_decision(cl);
	}
	return 0;
}

/* Start an off-loop write of memory.high; false if that could not be set up. */
static bool start_job(ControlLoop *cl, Tenant *t, uint64_t new_high, const char *reason, bool continuation)
{
	Manager *m = cl->m;
	TenantControl *tc = t->policy_data;
	WriteJob *job;
	int r;

	job = calloc(1, sizeof(*job));
	if (!job)
		return false;
	*job = (WriteJob) {
		.cl = cl,
		.tenant = strdup(t->config->name),
		.tenant_id = tc->tenant_id,
		.fd = fcntl(t->cg_fd, F_DUPFD_CLOEXEC, 3),
		.old_high = t->high,
		.new_high = new_high,
		.continuation = continuation,
	};
	(void) snprintf(job->reason, sizeof(job->reason), "%s", reason);
	if (!job->tenant || job->fd < 0)
		goto fail;
	r = sd_event_add_time_relative(m->event, &job->timeout, CLOCK_MONOTONIC, params(cl)->write_timeout_usec, 0,
				       on_write_timeout, job);
	if (r < 0)
		goto fail;
	r = pthread_create(&job->thread, NULL, write_thread, job);
	if (r != 0)
		goto fail;
	tc->busy = true;
	job->next = cl->jobs;
	cl->jobs = job;
	return true;
fail:
	job_free(job);
	return false;
}

static void apply_action(ControlLoop *cl, Tenant *t, const ControlAction *a)
{
	Manager *m = cl->m;
	TenantControl *tc = t->policy_data;
	int r;

	/* Raising, or lowering to a value the usage is below, reclaims nothing: write on the loop. */
	if (m->dry_run || a->new_high >= t->current) {
		r = manager_apply_high(m, t, a->new_high, a->text);
		if (r >= 0 && tc_of(t))
			tc->last_write_usec = now_usec(cl);
		return;
	}
	if (start_job(cl, t, a->new_high, a->text, /* continuation= */ false))
		return;
	(void) log_warning(&m->log, "Tenant %s: cannot start the memory.high write off the loop, writing in place",
			   t->config->name);
	r = manager_apply_high(m, t, a->new_high, a->text);
	if (r >= 0 && tc_of(t))
		tc->last_write_usec = now_usec(cl);
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

static void sample_tenants(ControlLoop *cl, View *v, uint64_t now)
{
	Manager *m = cl->m;

	for (size_t i = 0; i < v->s.n_tenants && i < m->n_tenants; i++) {
		Tenant *t = m->tenants[i];
		ControlSample sm = { .current = t->current };
		uint64_t anon = 0, file = 0;

		if (!v->ct[i].active || !tc_of(t))
			continue;
		/* Missing files (no cpu.stat on an old kernel, a fake tree) read as "no activity". */
		(void) cgroup_read_keyed(t->cg_fd, "cpu.stat", "usage_usec", &sm.cpu_usec);
		(void) cgroup_read_keyed(t->cg_fd, "memory.stat", "workingset_refault_anon", &anon);
		(void) cgroup_read_keyed(t->cg_fd, "memory.stat", "workingset_refault_file", &file);
		sm.refaults = anon + file;
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

/*
 * The tenants' nearest common ancestor with memory.max or memory.high below "max" (the cgroup root
 * included, when it has them): v->s.limit_near if its memory.current is within Headroom= of that
 * limit. A common ancestor that is itself a tenant's cgroup does not count (its memory.high is ours).
 */
static void sample_limit(ControlLoop *cl, View *v)
{
	Manager *m = cl->m;
	_cleanup_free_ char *rel = NULL;
	size_t len = SIZE_MAX;
	const char *first = NULL;

	v->s.limit_near = false;
	v->s.limit_where = NULL;
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
		uint64_t max = MEMQOSD_BYTES_MAX, high = MEMQOSD_BYTES_MAX, cur, limit;
		char *slash;

		if (cgroup_open(m->root, rel, &fd) >= 0) {
			(void) cgroup_read_u64(fd, "memory.max", &max);
			(void) cgroup_read_u64(fd, "memory.high", &high);
			limit = max < high ? max : high;
			if (limit != MEMQOSD_BYTES_MAX) {
				if (cgroup_read_u64(fd, "memory.current", &cur) < 0)
					return;
				v->s.limit_near = cur + params(cl)->headroom_bytes >= limit;
				(void) snprintf(cl->limit_where, sizeof(cl->limit_where), "%s is near its %s",
						*rel ? rel : "the cgroup root", max <= high ? "memory.max" : "memory.high");
				v->s.limit_where = cl->limit_where;
				return;
			}
		}
		if (!*rel)
			return;
		slash = strrchr(rel, '/');
		*(slash ?: rel) = '\0';
	}
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
	size_t n;
	View v;
	int r;

	if (!m->config)
		return;
	/* Fresh usage for the headroom rule; a vanished cgroup is released by the manager here. */
	for (size_t i = 0; i < m->n_tenants; i++)
		if (tc_of(m->tenants[i]))
			(void) manager_tenant_refresh(m, m->tenants[i]);

	n = m->n_tenants;
	actions = calloc(n ?: 1, sizeof(ControlAction));
	snapshot = calloc(n ?: 1, sizeof(Tenant *));
	if (!actions || !snapshot || view_build(cl, &v) < 0) {
		(void) log_error(&m->log, "Out of memory in the control loop");
		return;
	}
	memcpy(snapshot, m->tenants, n * sizeof(Tenant *));

	if (inputs_needed(&v, params(cl), now)) {
		sample_tenants(cl, &v, now);
		sample_limit(cl, &v);
	}
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

	if (wakeup == CONTROL_NO_WAKEUP)
		(void) sd_event_source_set_enabled(cl->wakeup, SD_EVENT_OFF);
	else {
		(void) sd_event_source_set_time(cl->wakeup, wakeup);
		(void) sd_event_source_set_enabled(cl->wakeup, SD_EVENT_ONESHOT);
	}
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
	note(cl, CONTROL_EVENT_HOST_PRESSURE, NULL);
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
		(void) log_debug(&m->log, "Cgroup root is not cgroupfs: host pressure not watched");
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
		break;
	default:
		return; /* counted in the stats map; not a control input */
	}
	t = find_tenant_id(cl, NULL, ev->tenant_id);
	if (!t)
		return;
	(void) log_debug(&cl->m->log, "Tenant %s: BPF event %u (pages %llu, value %llu)", t->config->name, ev->kind,
			 (unsigned long long) ev->pages, (unsigned long long) ev->value);
	note(cl, ev->kind == MEMQOSD_EV_OVER_HIGH ? CONTROL_EVENT_OVER_HIGH : CONTROL_EVENT_CHARGE_FAIL, t);
}

static uint32_t free_tenant_id(ControlLoop *cl)
{
	for (uint32_t id = 1; id < MEMQOSD_MAX_TENANTS; id++) {
		bool used = false;

		for (size_t i = 0; i < cl->m->n_tenants && !used; i++) {
			TenantControl *tc = cl->m->tenants[i]->policy_data;

			used = tc && tc->tenant_id == id;
		}
		if (!used)
			return id;
	}
	return 0;
}

static void policy_params(const Tenant *t, uint32_t id, PolicyTenant *ret)
{
	const TenantConfig *c = t->config;

	*ret = (PolicyTenant) {
		.tenant_id = id,
		.cgroup_id = t->cgroup_id,
		.name = c->name,
		.kind = c->policy,
		.priority = c->priority,
		.protect_bytes = c->has_memory_low ? c->memory_low : 0,
		.delay_floor_ms = CONTROL_DELAY_FLOOR_MS,
	};
}

static int hook_attach(Manager *m, Tenant *t, void *userdata)
{
	ControlLoop *cl = userdata;
	TenantControl *tc;
	PolicyTenant pt;
	int r;

	host_pressure_setup(cl);
	if (cl->engine && m->root && !m->root->cgroupfs) {
		(void) log_notice(&m->log, "Cgroup root %s is not cgroup2: BPF policies unloaded, mode psi-only",
				  m->root->path);
		cl->engine = policy_engine_free(cl->engine);
		cl->mode = POLICY_MODE_PSI_ONLY;
		manager_set_mode(m, policy_mode_to_string(cl->mode));
	}

	tc = calloc(1, sizeof(*tc));
	if (!tc)
		return -ENOMEM;
	tc->tenant_id = free_tenant_id(cl);
	if (tc->tenant_id == 0) {
		free(tc);
		return log_warning_errno(&m->log, -ENOSPC, "Tenant %s: no tenant id left", t->config->name);
	}
	t->policy_data = tc;

	if (cl->engine && t->config->policy != POLICY_NONE) {
		policy_params(t, tc->tenant_id, &pt);
		r = policy_tenant_add(cl->engine, &pt);
		if (r < 0)
			(void) log_warning_errno(&m->log, r, "Tenant %s: BPF policy %s not attached, PSI only: %m",
						 t->config->name, policy_kind_to_string(t->config->policy));
		else
			(void) log_info(&m->log, "Tenant %s: policy %s", t->config->name,
					policy_tenant_describe(cl->engine, tc->tenant_id));
	}
	schedule_decision(cl);
	return 0;
}

static void hook_detach(Manager *m, Tenant *t, void *userdata)
{
	ControlLoop *cl = userdata;
	TenantControl *tc = t->policy_data;

	(void) m;
	if (!tc)
		return;
	if (cl->engine)
		policy_tenant_remove(cl->engine, tc->tenant_id);
	/* A write still in flight finds no tenant with this id when it completes. */
	free(tc);
	t->policy_data = NULL;
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
	schedule_decision(cl);
	if (!cl->engine)
		return 0;
	if (t->config->policy == POLICY_NONE) {
		policy_tenant_remove(cl->engine, tc->tenant_id);
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
	note(userdata, CONTROL_EVENT_PRESSURE, t);
}

static void hook_events(Manager *m, Tenant *t, const CgroupMemoryEvents *prev, void *userdata)
{
	(void) m;
	if (t->events.max > prev->max || t->events.oom > prev->oom)
		note(userdata, CONTROL_EVENT_CHARGE_FAIL, t);
	else if (t->events.high > prev->high)
		note(userdata, CONTROL_EVENT_OVER_HIGH, t);
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
	}
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
	struct sigaction sa = { .sa_handler = interrupt_handler };
	sigset_t ss;
	int r;

	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	*cl = (ControlLoop) {
		.m = m,
		.host_fd = -EBADF,
		.done_fd = -EBADF,
		.published_prio = MEMQOSD_NO_PRIORITY - 1,
	};
	pthread_mutex_init(&cl->lock, NULL);

	/* Writer threads get the interrupt signal; every other thread keeps it blocked. No SA_RESTART:
	 * the blocked write must come back. */
	sigemptyset(&ss);
	sigaddset(&ss, WRITE_INTERRUPT_SIGNAL);
	(void) pthread_sigmask(SIG_BLOCK, &ss, NULL);
	if (sigaction(WRITE_INTERRUPT_SIGNAL, &sa, NULL) < 0)
		return log_error_errno(&m->log, negative_errno(), "Failed to install the write interrupt handler: %m");

	cl->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cl->done_fd < 0)
		return log_error_errno(&m->log, negative_errno(), "Failed to create eventfd: %m");
	r = sd_event_add_io(m->event, &cl->done_source, cl->done_fd, EPOLLIN, on_write_done, cl);
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to watch write completions: %m");
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
	cl->mode = policy_detect_mode(NULL, cl->mode_reason, sizeof(cl->mode_reason));
	if (cl->mode != POLICY_MODE_PSI_ONLY && m->cgroup_root_arg && !is_cgroup2(m->cgroup_root_arg)) {
		/* A test tree of plain directories: inode numbers there are no cgroup ids. */
		(void) snprintf(cl->mode_reason, sizeof(cl->mode_reason),
				"cgroup root %s is not cgroup2: BPF policies cannot name its cgroups", m->cgroup_root_arg);
		cl->mode = POLICY_MODE_PSI_ONLY;
	}
	if (cl->mode != POLICY_MODE_PSI_ONLY) {
		r = policy_engine_new(&m->log, cl->mode, on_ring_event, cl, &cl->engine);
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
	manager_set_mode(m, policy_mode_to_string(cl->mode));
	(void) log_info(&m->log, "Policy mode %s: %s%s%s", policy_mode_to_string(cl->mode), cl->mode_reason,
			cl->engine ? ", observe via " : "",
			cl->engine && cl->mode == POLICY_MODE_TRACING ? policy_engine_observe_flavour(cl->engine) : "");

	m->hooks = (ManagerHooks) {
		.tenant_attach = hook_attach,
		.tenant_detach = hook_detach,
		.tenant_changed = hook_changed,
		.pressure = hook_pressure,
		.events = hook_events,
		.housekeeping = hook_housekeeping,
		.userdata = cl,
	};
	*ret = TAKE_PTR(cl);
	return 0;
}

ControlLoop *control_loop_free(ControlLoop *cl)
{
	if (!cl)
		return NULL;
	/* Writes in flight: interrupt and wait (bounded: the interrupt ends the kernel's reclaim). */
	while (cl->jobs) {
		WriteJob *job = cl->jobs;

		cl->jobs = job->next;
		(void) pthread_kill(job->thread, WRITE_INTERRUPT_SIGNAL);
		(void) pthread_join(job->thread, NULL);
		job_free(job);
	}
	/* The manager outlives the loop: unhook, and drop what the hooks would have dropped. */
	if (cl->m->hooks.userdata == cl)
		cl->m->hooks = (ManagerHooks) {};
	for (size_t i = 0; i < cl->m->n_tenants; i++) {
		free(cl->m->tenants[i]->policy_data);
		cl->m->tenants[i]->policy_data = NULL;
	}
	sd_event_source_disable_unref(cl->host_source);
	sd_event_source_disable_unref(cl->wakeup);
	sd_event_source_disable_unref(cl->defer);
	sd_event_source_disable_unref(cl->done_source);
	closep(&cl->done_fd);
	policy_engine_free(cl->engine);
	pthread_mutex_destroy(&cl->lock);
	free(cl);
	return NULL;
}

PolicyMode control_loop_mode(const ControlLoop *cl)
{
	return cl ? cl->mode : POLICY_MODE_PSI_ONLY;
}

const PolicyEngine *control_loop_engine(const ControlLoop *cl)
{
	return cl ? cl->engine : NULL;
}
