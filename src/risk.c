/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The OOM forecast wired to the manager; see risk.h.
 */

#include "risk.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "journal-ids.h"
#include "memqosd/event.h"
#include "memqosd/policy-abi.h"
#include "util.h"

#define RISK_LISTENERS_MAX 4

typedef struct HookRun HookRun;

typedef struct RiskTenant {
	Risk *risk;
	Tenant *t;
	/*
	 * Held exactly while sampling (is_sampling()): a quiet tenant holds none (4 KiB of sample
	 * ring each, most of the daemon's memory at 1,000 tenants before issue 12); sampling_stop()
	 * frees it.
	 */
	ForecastState *st;
	sd_event_source *timer;

	CgroupMemoryEvents last_events;   /* at the previous sample */
	uint64_t charge_fails;            /* BPF CHARGE_FAIL records since the previous sample */
	uint64_t last_charge_fails;       /* ... in the last sampling period */

	/* the last report */
	RiskLevel level, previous;
	uint64_t changed_usec;            /* CLOCK_REALTIME of the last change */
	uint64_t eta_usec;
	ForecastMeasure m;
	double growth, psi_some, psi_full;
	char reason[FORECAST_REASON_MAX];

	uint64_t hook_last;               /* CLOCK_MONOTONIC of the last hook start */
	HookRun *hook;                    /* running now */
} RiskTenant;

/* A tenant samples for the OOM forecast exactly while it holds a forecast state. */
static inline bool is_sampling(const RiskTenant *rt)
{
	return rt->st != NULL;
}

struct HookRun {
	HookRun *next;
	Risk *risk;
	RiskTenant *rt;                   /* NULL once the tenant is gone */
	char *tenant;
	char level[16];
	pid_t pid;
	uint64_t start;
	bool killed;
	sd_event_source *child, *timeout;
};

struct Risk {
	Manager *m;
	struct {
		RiskListener fn;
		void *userdata;
	} listeners[RISK_LISTENERS_MAX];
	size_t n_listeners;
	void (*urgency_fn)(void *userdata);
	void *urgency_data;
	HookRun *hooks;
};

static RiskTenant *rt_of(const Tenant *t)
{
	return t->state == TENANT_ACTIVE ? t->risk_data : NULL;
}

static const ForecastParams *params_of(const RiskTenant *rt)
{
	return &rt->t->config->forecast;
}

/* ---- reading ---- */

static int read_stat(int cg_fd, ForecastRaw *raw, uint64_t *refaults)
{
	static const char *const keys[] = { "anon", "shmem", "kernel", "slab_reclaimable", "file",
					    "workingset_refault_file" };
	uint64_t *const values[] = { &raw->anon, &raw->shmem, &raw->kernel, &raw->slab_reclaimable, &raw->file,
				     refaults };
	int r = cgroup_read_keyed_many(cg_fd, "memory.stat", keys, values, ELEMENTSOF(keys));

	return r < 0 ? r : 0;
}

static void read_meminfo(ForecastRaw *raw)
{
	static const char *const keys[] = { "MemTotal:", "MemAvailable:", "SwapFree:" };
	uint64_t *const values[] = { &raw->mem_total, &raw->mem_available, &raw->swap_free };
	char buf[8192];

	if (cgroup_read_text(AT_FDCWD, "/proc/meminfo", buf, sizeof(buf)) < 0)
		return;
	/* "MemTotal:       16314920 kB": the value's leading padding and unit are skipped. */
	(void) cgroup_parse_keyed(buf, keys, values, ELEMENTSOF(keys), false);
	for (size_t i = 0; i < ELEMENTSOF(values); i++)
		*values[i] *= 1024;
}

/*
 * Ancestors between the cgroup root and the tenant (exclusive), with their memory.max and
 * memory.current; raw->swap_max gets the lowest memory.swap.max of them and of the tenant.
 */
static void read_ancestors(Manager *m, const Tenant *t, ForecastRaw *raw)
{
	const char *cg = t->config->cgroup;

	raw->n_ancestors = 0;
	for (const char *p = strchr(cg, '/'); p && raw->n_ancestors < FORECAST_MAX_ANCESTORS; p = strchr(p + 1, '/')) {
		_cleanup_free_ char *rel = strndup(cg, (size_t) (p - cg));
		_cleanup_close_ int fd = -EBADF;
		ForecastAncestor a = { .max = UINT64_MAX };
		uint64_t swap_max;

		if (!rel || cgroup_open(m->root, rel, &fd) < 0)
			continue;
		if (cgroup_read_u64(fd, "memory.max", &a.max) < 0 || cgroup_read_u64(fd, "memory.current", &a.current) < 0)
			continue;
		if (cgroup_read_u64(fd, "memory.swap.max", &swap_max) >= 0 && swap_max < raw->swap_max)
			raw->swap_max = swap_max;
		if (a.max != UINT64_MAX)
			raw->ancestors[raw->n_ancestors++] = a;
	}
}

/* One full reading; -ENOENT/-ENODEV if the cgroup vanished. */
static int read_raw(RiskTenant *rt, ForecastRaw *raw, uint64_t *refaults, double *psi_some, double *psi_full)
{
	Tenant *t = rt->t;
	Manager *m = rt->risk->m;
	CgroupPressure p;
	int r;

	*raw = (ForecastRaw) { .max = UINT64_MAX, .swap_max = UINT64_MAX };
	*refaults = 0;
	r = read_stat(t->cg_fd, raw, refaults);
	if (r < 0)
		return r;
	r = cgroup_read_u64(t->cg_fd, "memory.current", &raw->current);
	if (r < 0)
		return r;
	r = cgroup_read_u64(t->cg_fd, "memory.max", &raw->max);
	if (r < 0)
		return r;
	if (cgroup_read_u64(t->cg_fd, "memory.swap.current", &raw->swap_current) < 0)
		raw->swap_current = 0;
	if (cgroup_read_u64(t->cg_fd, "memory.swap.max", &raw->swap_max) < 0)
		raw->swap_max = UINT64_MAX;
	read_ancestors(m, t, raw);
	read_meminfo(raw);
	/* Without swap configured at all, SwapFree is 0: no swap room. */
	*psi_some = *psi_full = -1;
	if (cgroup_read_pressure(t->cg_fd, &p) >= 0) {
		*psi_some = p.some_avg10 / 100.0;
		*psi_full = p.has_full ? p.full_avg10 / 100.0 : -1;
	}
	return 0;
}

/* ---- reporting ---- */

static void fill_report(const RiskTenant *rt, RiskReport *ret)
{
	const Tenant *t = rt->t;

	*ret = (RiskReport) {
		.tenant = t->config->name,
		.cgroup = t->config->cgroup,
		.level = rt->level,
		.previous = rt->previous,
		.time_usec = rt->changed_usec,
		.eta_usec = rt->eta_usec,
		.usage = rt->m.usage,
		.limit = rt->m.limit,
		.reason = rt->reason,
		.growth = rt->growth,
		.psi_some = rt->psi_some,
		.psi_full = rt->psi_full,
		.demand = rt->m.demand,
		.room = rt->m.room,
		.swap_room = rt->m.swap_room,
		.limit_kind = forecast_limit_kind_to_string(rt->m.limit_kind),
		.events = t->events,
		.charge_failures = rt->last_charge_fails,
		.sampling = is_sampling(rt),
		.enabled = params_of(rt)->enable,
		.active = true,
	};
}

static void hook_run(Risk *r, RiskTenant *rt, const RiskReport *rep);

/* Heading for an OOM that has not happened yet. */
static bool level_urgent(RiskLevel l)
{
	return l == RISK_WARNING || l == RISK_CRITICAL;
}

static void journal_record(Risk *r, const RiskReport *rep)
{
	char f_tenant[256], f_cgroup[512], f_level[64], f_prev[64], f_eta[64], f_usage[64], f_limit[64],
		f_reason[256], f_growth[64], f_kind[64], eta[48], u[32], l[32];
	const char *fields[] = { f_tenant, f_cgroup, f_level, f_prev, f_usage, f_limit, f_reason, f_growth, f_kind,
				 rep->eta_usec != FORECAST_NO_ETA ? f_eta : NULL, NULL };
	int level = rep->level >= RISK_CRITICAL ? LOG_ERR : rep->level == RISK_WARNING ? LOG_WARNING : LOG_NOTICE;

	snprintf(f_tenant, sizeof(f_tenant), "MEMQOSD_TENANT=%s", rep->tenant);
	snprintf(f_cgroup, sizeof(f_cgroup), "MEMQOSD_CGROUP=%s", rep->cgroup);
	snprintf(f_level, sizeof(f_level), "MEMQOSD_RISK_LEVEL=%s", risk_level_to_string(rep->level));
	snprintf(f_prev, sizeof(f_prev), "MEMQOSD_RISK_PREVIOUS=%s", risk_level_to_string(rep->previous));
	snprintf(f_eta, sizeof(f_eta), "MEMQOSD_ETA_USEC=%" PRIu64, rep->eta_usec);
	snprintf(f_usage, sizeof(f_usage), "MEMQOSD_USAGE=%" PRIu64, rep->usage);
	snprintf(f_limit, sizeof(f_limit), "MEMQOSD_LIMIT=%" PRIu64, rep->limit);
	snprintf(f_reason, sizeof(f_reason), "MEMQOSD_REASON=%s", rep->reason);
	snprintf(f_growth, sizeof(f_growth), "MEMQOSD_GROWTH_BPS=%.0f", rep->growth);
	snprintf(f_kind, sizeof(f_kind), "MEMQOSD_LIMIT_KIND=%s", rep->limit_kind ?: "");
	if (rep->eta_usec == FORECAST_NO_ETA)
		snprintf(eta, sizeof(eta), "no OOM forecast");
	else
		snprintf(eta, sizeof(eta), "OOM forecast in %.0f s", (double) rep->eta_usec / 1e6);
	cgroup_format_bytes(rep->usage, u, sizeof(u));
	cgroup_format_bytes(rep->limit, l, sizeof(l));
	log_struct(&r->m->log, level, MEMQOSD_MESSAGE_OOM_RISK, fields, "Tenant %s: OOM risk %s%s (was %s): %s, usage %s of %s: %s",
		   rep->tenant, risk_level_to_string(rep->level), rep->repeat ? ", still" : "",
		   risk_level_to_string(rep->previous), eta, u, l, rep->reason);
}

static void report(Risk *r, RiskTenant *rt, bool repeat)
{
	RiskReport rep;
	bool was_urgent, urgent;

	fill_report(rt, &rep);
	rep.repeat = repeat;
	rep.time_usec = clock_usec(CLOCK_REALTIME);
	/* The signal first: a control plane waits for it; the journal write may take a while. */
	for (size_t i = 0; i < r->n_listeners; i++)
		r->listeners[i].fn(&rep, r->listeners[i].userdata);
	journal_record(r, &rep);
	if (!repeat)
		hook_run(r, rt, &rep);

	was_urgent = level_urgent(rt->previous) && rt->m.limit_kind != FORECAST_LIMIT_OWN;
	urgent = level_urgent(rt->level) && rt->m.limit_kind != FORECAST_LIMIT_OWN;
	if (was_urgent != urgent && r->urgency_fn)
		r->urgency_fn(r->urgency_data);
}

/* ---- sampling ---- */

static void sampling_stop(RiskTenant *rt)
{
	(void) sd_event_source_set_enabled(rt->timer, SD_EVENT_OFF);
	free(rt->st);
	rt->st = NULL;
	rt->level = RISK_OK;
}

static void sample(RiskTenant *rt)
{
	Risk *r = rt->risk;
	Tenant *t = rt->t;
	const ForecastParams *p = params_of(rt);
	ForecastRaw raw;
	ForecastInput in = {};
	ForecastResult res;
	RiskLevel before = rt->level;
	uint64_t refaults;
	int k;

	k = read_raw(rt, &raw, &refaults, &in.psi_some, &in.psi_full);
	if (k < 0) {
		log_debug_errno(&r->m->log, k, "Tenant %s: cannot read its memory state for the forecast: %m", t->config->name);
		return; /* a vanished cgroup is released by the manager, which detaches us */
	}
	forecast_measure(&raw, &in.m);
	in.now = clock_usec(CLOCK_MONOTONIC);
	in.file = raw.file;
	in.refaults = refaults;
	in.d_max = t->events.max - rt->last_events.max;
	in.d_oom = t->events.oom - rt->last_events.oom;
	in.d_oom_kill = t->events.oom_kill - rt->last_events.oom_kill;
	in.charge_fails = rt->charge_fails;
	rt->last_events = t->events;
	rt->last_charge_fails = rt->charge_fails;
	rt->charge_fails = 0;

	if (!rt->st || forecast_step(rt->st, p, &in, &res) < 0)
		return;
	rt->m = res.m;
	rt->eta_usec = res.eta_usec;
	rt->growth = res.growth;
	rt->psi_some = in.psi_some;
	rt->psi_full = in.psi_full;
	snprintf(rt->reason, sizeof(rt->reason), "%s", res.reason);
	log_debug(&r->m->log, "Tenant %s: forecast %s, demand %" PRIu64 " (hot file %" PRIu64 "), room %" PRIu64 ", growth %.0f B/s (r2 %.2f), eta %s%.1f s",
		  t->config->name, risk_level_to_string(res.level), res.m.demand, res.hot_file, res.m.room, res.growth, res.fit_r2,
		  res.eta_usec == FORECAST_NO_ETA ? "none " : "", res.eta_usec == FORECAST_NO_ETA ? 0.0 : res.eta_usec / 1e6);

	if (res.changed) {
		rt->previous = before;
		rt->level = res.level;
		rt->changed_usec = clock_usec(CLOCK_REALTIME);
		report(r, rt, false);
	} else if (res.repeat)
		report(r, rt, true);

	if (!res.sampling) {
		log_debug(&r->m->log, "Tenant %s: back to ok, sampling stops", t->config->name);
		sampling_stop(rt);
	}
}

static int on_sample(sd_event_source *s, uint64_t usec, void *userdata)
{
	RiskTenant *rt = userdata;
	Tenant *t = rt->t;

	(void) usec;
	sample(rt);
	/* sample() may have released the tenant (and freed rt) through the manager: check. */
	if (t->state != TENANT_ACTIVE || t->risk_data != rt || !is_sampling(rt))
		return 0;
	(void) sd_event_source_set_time_relative(s, params_of(rt)->sample_usec);
	return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* Start sampling (now, if asked: a kill or a failed charge must be reported at once). */
static void sampling_start(RiskTenant *rt, const char *why, bool now)
{
	if (!params_of(rt)->enable)
		return;
	if (!is_sampling(rt)) {
		rt->st = malloc(sizeof(*rt->st));
		if (!rt->st) {
			log_warning_errno(&rt->risk->m->log, -ENOMEM, "Tenant %s: no memory for the OOM forecast: %m",
					  rt->t->config->name);
			return;
		}
		forecast_init(rt->st);
		rt->last_events = rt->t->events;
		log_debug(&rt->risk->m->log, "Tenant %s: sampling for the OOM forecast (%s)", rt->t->config->name, why);
		now = true;
	}
	if (now) {
		(void) sd_event_source_set_time_relative(rt->timer, 0);
		(void) sd_event_source_set_enabled(rt->timer, SD_EVENT_ONESHOT);
	}
}

/* ---- hooks into the manager ---- */

static int hook_attach(Manager *m, Tenant *t, void *userdata)
{
	Risk *r = userdata;
	RiskTenant *rt;
	int k;

	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	*rt = (RiskTenant) { .risk = r, .t = t, .eta_usec = FORECAST_NO_ETA };
	snprintf(rt->reason, sizeof(rt->reason), "not near its limit");
	k = sd_event_add_time_relative(m->event, &rt->timer, CLOCK_MONOTONIC, 0, 0, on_sample, rt);
	if (k < 0) {
		free(rt);
		return log_warning_errno(&m->log, k, "Tenant %s: cannot set up the forecast timer: %m", t->config->name);
	}
	(void) sd_event_source_set_enabled(rt->timer, SD_EVENT_OFF);
	(void) sd_event_source_set_description(rt->timer, "risk-sample");
	t->risk_data = rt;
	rt->changed_usec = clock_usec(CLOCK_REALTIME);
	return 0;
}

static void hook_detach(Manager *m, Tenant *t, void *userdata)
{
	RiskTenant *rt = t->risk_data;

	(void) m;
	(void) userdata;
	if (!rt)
		return;
	if (rt->hook)
		rt->hook->rt = NULL;  /* it keeps running; its outcome is still logged */
	sd_event_source_disable_unref(rt->timer);
	free(rt->st);
	free(rt);
	t->risk_data = NULL;
}

static int hook_changed(Manager *m, Tenant *t, const TenantConfig *old, void *userdata)
{
	RiskTenant *rt = rt_of(t);

	(void) m;
	(void) old;
	(void) userdata;
	if (rt && !t->config->forecast.enable && is_sampling(rt))
		sampling_stop(rt);
	return 0;
}

static void hook_pressure(Manager *m, Tenant *t, void *userdata)
{
	RiskTenant *rt = rt_of(t);

	(void) m;
	(void) userdata;
	if (rt)
		sampling_start(rt, "memory pressure", false);
}

static void hook_events(Manager *m, Tenant *t, const CgroupMemoryEvents *prev, void *userdata)
{
	RiskTenant *rt = rt_of(t);

	(void) m;
	(void) userdata;
	if (!rt)
		return;
	if (t->events.oom_kill > prev->oom_kill || t->events.oom > prev->oom)
		sampling_start(rt, "memory.events oom", true);
	else if (t->events.max > prev->max)
		sampling_start(rt, "memory.events max", false);
}

static void hook_policy_event(Manager *m, Tenant *t, const struct memqosd_event *ev, void *userdata)
{
	RiskTenant *rt = rt_of(t);

	(void) m;
	(void) userdata;
	if (!rt)
		return;
	if (ev->kind == MEMQOSD_EV_CHARGE_FAIL) {
		rt->charge_fails++;
		sampling_start(rt, "BPF charge failure", false);
	} else if (ev->kind == MEMQOSD_EV_NEAR_MAX)
		sampling_start(rt, "BPF near memory.max", false);
	else if (ev->kind == MEMQOSD_EV_WATCH)
		sampling_start(rt, ev->flags & MEMQOSD_EVF_GROWING ? "BPF: growing toward its memory.max"
								   : "BPF: at WatchPercent= of its memory.max", false);
}

/* ---- the Hook= command ---- */

static HookRun *hook_free(HookRun *h)
{
	if (!h)
		return NULL;
	sd_event_source_disable_unref(h->child);
	sd_event_source_disable_unref(h->timeout);
	free(h->tenant);
	free(h);
	return NULL;
}

static void hook_unlink(Risk *r, HookRun *h)
{
	for (HookRun **p = &r->hooks; *p; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			break;
		}
	if (h->rt)
		h->rt->hook = NULL;
}

static int on_hook_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	HookRun *h = userdata;
	Risk *r = h->risk;
	double secs = (double) (clock_usec(CLOCK_MONOTONIC) - h->start) / 1e6;

	(void) s;
	if (h->killed)
		log_warning(&r->m->log, "Tenant %s: hook for level %s killed after %.1f s (HookTimeoutSec=)", h->tenant,
			    h->level, secs);
	else if (si->si_code == CLD_EXITED && si->si_status == 0)
		log_info(&r->m->log, "Tenant %s: hook for level %s succeeded in %.1f s", h->tenant, h->level, secs);
	else if (si->si_code == CLD_EXITED)
		log_warning(&r->m->log, "Tenant %s: hook for level %s failed with exit status %d after %.1f s", h->tenant,
			    h->level, si->si_status, secs);
	else
		log_warning(&r->m->log, "Tenant %s: hook for level %s died of signal %d after %.1f s", h->tenant, h->level,
			    si->si_status, secs);
	hook_unlink(r, h);
	hook_free(h);
	return 0;
}

static int on_hook_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	HookRun *h = userdata;

	(void) s;
	(void) usec;
	h->killed = true;
	(void) kill(h->pid, SIGKILL);
	return 0;
}

static void hook_run(Risk *r, RiskTenant *rt, const RiskReport *rep)
{
	const ForecastParams *p = params_of(rt);
	char env[11][320], time_buf[64];
	char *envp[12], *argv[2];
	posix_spawnattr_t attr;
	sigset_t empty;
	HookRun *h;
	uint64_t now = clock_usec(CLOCK_MONOTONIC);
	time_t secs = (time_t) (rep->time_usec / USEC_PER_SEC);
	struct tm tm;
	int k;

	if (!p->hook)
		return;
	if (rt->hook) {
		log_notice(&r->m->log, "Tenant %s: hook for level %s not run: the previous run is still going", rep->tenant,
			   risk_level_to_string(rep->level));
		return;
	}
	if (rt->hook_last != 0 && now - rt->hook_last < p->hook_interval_usec) {
		log_notice(&r->m->log, "Tenant %s: hook for level %s not run: HookMinIntervalSec= since the last run",
			   rep->tenant, risk_level_to_string(rep->level));
		return;
	}

	(void) gmtime_r(&secs, &tm);
	(void) strftime(time_buf, sizeof(time_buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(env[0], sizeof(env[0]), "MEMQOSD_EVENT=risk");
	snprintf(env[1], sizeof(env[1]), "MEMQOSD_TIME=%s.%03uZ", time_buf, (unsigned) (rep->time_usec % USEC_PER_SEC / 1000));
	snprintf(env[2], sizeof(env[2]), "MEMQOSD_TENANT=%s", rep->tenant);
	snprintf(env[3], sizeof(env[3]), "MEMQOSD_CGROUP=%s", rep->cgroup);
	snprintf(env[4], sizeof(env[4]), "MEMQOSD_LEVEL=%s", risk_level_to_string(rep->level));
	snprintf(env[5], sizeof(env[5]), "MEMQOSD_PREVIOUS=%s", risk_level_to_string(rep->previous));
	if (rep->eta_usec == FORECAST_NO_ETA)
		snprintf(env[6], sizeof(env[6]), "MEMQOSD_ETA_SECONDS=");
	else
		snprintf(env[6], sizeof(env[6]), "MEMQOSD_ETA_SECONDS=%.1f", (double) rep->eta_usec / 1e6);
	snprintf(env[7], sizeof(env[7]), "MEMQOSD_USAGE_BYTES=%" PRIu64, rep->usage);
	snprintf(env[8], sizeof(env[8]), "MEMQOSD_LIMIT_BYTES=%" PRIu64, rep->limit);
	snprintf(env[9], sizeof(env[9]), "MEMQOSD_REASON=%s", rep->reason);
	snprintf(env[10], sizeof(env[10]), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	for (size_t i = 0; i < ELEMENTSOF(env); i++)
		envp[i] = env[i];
	envp[ELEMENTSOF(env)] = NULL;
	argv[0] = p->hook;
	argv[1] = NULL;

	h = calloc(1, sizeof(*h));
	if (!h)
		return;
	*h = (HookRun) { .risk = r, .rt = rt, .tenant = strdup(rep->tenant), .start = now };
	snprintf(h->level, sizeof(h->level), "%s", risk_level_to_string(rep->level));

	/* The daemon blocks SIGCHLD and the control loop's interrupt signal: the hook gets neither. */
	sigemptyset(&empty);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &empty);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	k = posix_spawn(&h->pid, p->hook, NULL, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	if (k != 0 || !h->tenant) {
		log_warning_errno(&r->m->log, -(k ?: ENOMEM), "Tenant %s: cannot start hook %s: %m", rep->tenant, p->hook);
		hook_free(h);
		return;
	}
	rt->hook_last = now;
	k = sd_event_add_child(r->m->event, &h->child, h->pid, WEXITED, on_hook_exit, h);
	if (k >= 0)
		k = sd_event_add_time_relative(r->m->event, &h->timeout, CLOCK_MONOTONIC, p->hook_timeout_usec, 0,
					       on_hook_timeout, h);
	if (k < 0) {
		log_warning_errno(&r->m->log, k, "Tenant %s: cannot watch hook %s (pid %d), killing it: %m", rep->tenant,
				  p->hook, (int) h->pid);
		(void) kill(h->pid, SIGKILL);
		(void) waitpid(h->pid, NULL, 0);
		hook_free(h);
		return;
	}
	log_info(&r->m->log, "Tenant %s: hook %s started for level %s (pid %d)", rep->tenant, p->hook, h->level,
		 (int) h->pid);
	rt->hook = h;
	h->next = r->hooks;
	r->hooks = h;
}

/* ---- public ---- */

int risk_get(Risk *r, Tenant *t, RiskReport *ret, char *reason_buf, size_t reason_size)
{
	RiskTenant *rt = rt_of(t);

	if (!rt) {
		*ret = (RiskReport) {
			.tenant = t->config->name,
			.cgroup = t->config->cgroup,
			.level = RISK_OK,
			.previous = RISK_OK,
			.time_usec = clock_usec(CLOCK_REALTIME),
			.eta_usec = FORECAST_NO_ETA,
			.reason = t->state == TENANT_ACTIVE ? "not tracked" : "cgroup does not exist (waiting)",
			.psi_some = -1,
			.psi_full = -1,
			.enabled = t->config->forecast.enable,
		};
		return 0;
	}
	if (!is_sampling(rt)) {
		ForecastRaw raw;
		uint64_t refaults;
		double some, full;

		if (read_raw(rt, &raw, &refaults, &some, &full) >= 0) {
			forecast_measure(&raw, &rt->m);
			rt->psi_some = some;
			rt->psi_full = full;
		}
		rt->eta_usec = FORECAST_NO_ETA;
		rt->growth = 0;
		snprintf(reason_buf, reason_size, "%s", params_of(rt)->enable ? "not near its limit, not sampled"
									: "forecast disabled (Enable=no)");
	} else
		snprintf(reason_buf, reason_size, "%s", rt->reason);
	fill_report(rt, ret);
	ret->reason = reason_buf;
	ret->time_usec = clock_usec(CLOCK_REALTIME);
	(void) r;
	return 0;
}

bool risk_tenant_urgent(const Tenant *t, void *userdata)
{
	const RiskTenant *rt = rt_of(t);

	(void) userdata;
	return rt && level_urgent(rt->level) && rt->m.limit_kind != FORECAST_LIMIT_OWN;
}

Manager *risk_manager(const Risk *r)
{
	return r->m;
}

int risk_add_listener(Risk *r, RiskListener fn, void *userdata)
{
	if (r->n_listeners >= RISK_LISTENERS_MAX)
		return -ENOSPC;
	r->listeners[r->n_listeners].fn = fn;
	r->listeners[r->n_listeners].userdata = userdata;
	r->n_listeners++;
	return 0;
}

void risk_set_urgency_listener(Risk *r, void (*fn)(void *userdata), void *userdata)
{
	r->urgency_fn = fn;
	r->urgency_data = userdata;
}

int risk_install(Manager *m, Risk **ret)
{
	_cleanup_(risk_freep) Risk *r = NULL;
	sigset_t ss;
	int k;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->m = m;

	/* Hook children are reaped through sd-event, which needs SIGCHLD blocked in every thread. */
	sigemptyset(&ss);
	sigaddset(&ss, SIGCHLD);
	(void) pthread_sigmask(SIG_BLOCK, &ss, NULL);

	k = manager_add_hooks(m, &(ManagerHooks) {
		.tenant_attach = hook_attach,
		.tenant_detach = hook_detach,
		.tenant_changed = hook_changed,
		.pressure = hook_pressure,
		.events = hook_events,
		.policy_event = hook_policy_event,
		.userdata = r,
	});
	if (k < 0)
		return log_error_errno(&m->log, k, "Cannot register the forecast's hooks: %m");
	*ret = TAKE_PTR(r);
	return 0;
}

Risk *risk_free(Risk *r)
{
	if (!r)
		return NULL;
	manager_remove_hooks(r->m, r);
	for (size_t i = 0; i < r->m->n_tenants; i++) {
		Tenant *t = r->m->tenants[i];
		RiskTenant *rt = t->risk_data;

		if (!rt)
			continue;
		sd_event_source_disable_unref(rt->timer);
		free(rt->st);
		free(rt);
		t->risk_data = NULL;
	}
	while (r->hooks) {
		HookRun *h = r->hooks;

		r->hooks = h->next;
		hook_free(h);
	}
	free(r);
	return NULL;
}
