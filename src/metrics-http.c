/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Prometheus endpoint: counters kept through ManagerHooks, snapshots built on the loop on demand,
 * libmicrohttpd serving them from its own thread (see metrics-http.h).
 */

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "metrics-http.h"
#include "metrics.h"
#include "parse-util.h"
#include "policy.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Counters that only the hooks see, kept by tenant name (sorted) so they outlive a release. */
typedef struct TenantCounters {
	char *name;
	uint64_t adjustments[_METRICS_REASON_MAX];
} TenantCounters;

struct Metrics {
	Manager *m;
	const char *version;            /* static string */
	const ControlLoop *cl;
	TenantCounters *counters;
	size_t n_counters;

	struct MHD_Daemon *mhd;
	bool systemd_socket;            /* the listening socket is systemd's: never shut it down */
	int request_fd;                 /* eventfd: the HTTP thread asks the loop for a snapshot */
	sd_event_source *request_source;

	/* Shared with the HTTP thread. */
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* on CLOCK_MONOTONIC */
	char *text;                     /* the last snapshot rendered; NULL before the first */
	size_t text_len;
	uint64_t generation;            /* bumped per snapshot published */
};

static int counters_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const TenantCounters *) elem)->name);
}

static TenantCounters *counters_find(Metrics *ms, const char *name)
{
	return bsearch(name, ms->counters, ms->n_counters, sizeof(TenantCounters), counters_cmp);
}

static TenantCounters *counters_get(Metrics *ms, const char *name)
{
	TenantCounters *c = counters_find(ms, name), *n;
	size_t at = 0;

	if (c)
		return c;
	n = realloc(ms->counters, (ms->n_counters + 1) * sizeof(TenantCounters));
	if (!n)
		return NULL;
	ms->counters = n;
	while (at < ms->n_counters && strcmp(ms->counters[at].name, name) < 0)
		at++;
	memmove(ms->counters + at + 1, ms->counters + at, (ms->n_counters - at) * sizeof(TenantCounters));
	ms->counters[at] = (TenantCounters) { .name = strdup(name) };
	if (!ms->counters[at].name) {
		memmove(ms->counters + at, ms->counters + at + 1, (ms->n_counters - at) * sizeof(TenantCounters));
		return NULL;
	}
	ms->n_counters++;
	return ms->counters + at;
}

/* Drop the counters of tenants the configuration no longer has (m->tenants is sorted by name too). */
static void counters_prune(Metrics *ms)
{
	size_t j = 0, k = 0;

	for (size_t i = 0; i < ms->n_counters; i++) {
		while (k < ms->m->n_tenants && strcmp(ms->m->tenants[k]->config->name, ms->counters[i].name) < 0)
			k++;
		if (k < ms->m->n_tenants && streq(ms->m->tenants[k]->config->name, ms->counters[i].name))
			ms->counters[j++] = ms->counters[i];
		else
			free(ms->counters[i].name);
	}
	ms->n_counters = j;
}

static void hook_written(Manager *m, Tenant *t, const WriterCompletion *c, void *userdata)
{
	Metrics *ms = userdata;
	TenantCounters *tc;

	(void) m;
	if (c->file != WRITER_MEMORY_HIGH || c->kind != WRITER_KIND_CHANGE || c->result < 0)
		return;
	tc = counters_get(ms, t->config->name);
	if (tc)
		tc->adjustments[metrics_reason_classify(c->reason)]++;
}

static void fill_tenant(Metrics *ms, const Tenant *t, MetricsTenant *mt)
{
	const TenantConfig *c = t->config;
	const TenantCounters *tc = counters_find(ms, c->name);
	struct memqosd_tenant_stats st;

	*mt = (MetricsTenant) {
		.name = c->name,
		.cgroup = c->cgroup,
		.state = tenant_state_describe(t),
		.priority = c->priority,
		.high_min = c->memory_high_min,
		.high_max = c->memory_high_max,
		.active = t->state == TENANT_ACTIVE,
		.high = t->high,
		.current = t->current,
		.has_pressure = t->has_pressure,
		.pressure_avg10 = t->pressure_avg10,
	};
	if (tc)
		memcpy(mt->adjustments, tc->adjustments, sizeof(mt->adjustments));
	/* A map lookup, not a cgroup file: the policies' own counters. */
	if (t->state == TENANT_ACTIVE && control_loop_tenant_stats(ms->cl, t, &st) >= 0) {
		mt->has_policy_stats = true;
		mt->policy_events[METRICS_POLICY_CHARGE] = st.charges;
		mt->policy_events[METRICS_POLICY_CHARGE_FAIL] = st.charge_fails;
		mt->policy_events[METRICS_POLICY_OVER_HIGH] = st.over_high;
		mt->policy_events[METRICS_POLICY_RECLAIM] = st.reclaims;
		mt->policy_events[METRICS_POLICY_PROTECT] = st.protects;
		mt->lost_events = st.drops;
	}
}

/* On the loop: render what the daemon holds now and hand it to the HTTP thread. */
static int publish(Metrics *ms)
{
	Manager *m = ms->m;
	const PolicyEngine *e = control_loop_engine(ms->cl);
	_cleanup_free_ MetricsTenant *tenants = calloc(m->n_tenants ? m->n_tenants : 1, sizeof(MetricsTenant));
	WriterStats ws = {};
	MetricsSnapshot s;
	char *text, *old;
	size_t len = 0;
	int r;

	if (!tenants)
		return -ENOMEM;
	counters_prune(ms);
	for (size_t i = 0; i < m->n_tenants; i++) {
		/* Values older than the housekeeping period are read again (the tick does not). */
		if (m->config)
			manager_tenant_observe(m->tenants[i], m->config->daemon.control.housekeeping_usec);
		fill_tenant(ms, m->tenants[i], tenants + i);
	}
	if (m->writer)
		writer_get_stats(m->writer, &ws);
	s = (MetricsSnapshot) {
		.version = ms->version,
		.mode = m->mode,
		.pressure_type = m->config && m->config->daemon.control.psi_full ? "full" : "some",
		.dry_run = m->dry_run,
		.reloads_ok = m->n_reloads,
		.reloads_refused = m->n_reloads_refused,
		.write_timeouts = ws.interrupted,
		.write_failures = ws.failed,
		.has_bpf = e != NULL,
		.bpf_events_delivered = policy_engine_delivered(e),
		.bpf_events_lost = policy_engine_lost_events(e),
		.tenants = tenants,
		.n_tenants = m->n_tenants,
	};
	r = metrics_render(&s, &text, &len);
	if (r < 0)
		return r;

	pthread_mutex_lock(&ms->lock);
	old = ms->text;
	ms->text = text;
	ms->text_len = len;
	ms->generation++;
	pthread_cond_broadcast(&ms->cond);
	pthread_mutex_unlock(&ms->lock);
	free(old);
	return 0;
}

static int on_request(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	Metrics *ms = userdata;
	uint64_t n;
	int r;

	(void) s;
	(void) revents;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
		log_warning_errno(&ms->m->log, -errno, "Metrics: cannot read the request eventfd: %m");
		return 0;
	}
	r = publish(ms);
	if (r < 0)
		log_warning_errno(&ms->m->log, r, "Metrics: cannot render a snapshot: %m");
	return 0;
}

/* ---- the HTTP thread ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!resp) {
		free(body);
		return MHD_NO;
	}
	(void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				       status == MHD_HTTP_OK ? METRICS_CONTENT_TYPE : "text/plain; charset=utf-8");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	char *body = strdup(text);

	return body ? reply(c, status, body, strlen(body)) : MHD_NO;
}

/* Ask the loop for a fresh snapshot and wait for it, bounded; a copy of the newest one in *ret. */
static int fresh_snapshot(Metrics *ms, char **ret, size_t *ret_len)
{
	struct timespec deadline;
	uint64_t one = 1, gen;
	int r = 0;

	(void) clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += METRICS_SNAPSHOT_WAIT_USEC / USEC_PER_SEC;

	pthread_mutex_lock(&ms->lock);
	gen = ms->generation;
	if (write(ms->request_fd, &one, sizeof(one)) < 0)
		r = -errno;
	while (r == 0 && ms->generation == gen)
		r = -pthread_cond_timedwait(&ms->cond, &ms->lock, &deadline);
	/* Timed out: the loop is busy; the previous snapshot is what there is. */
	if (ms->text) {
		*ret = malloc(ms->text_len + 1);
		if (*ret) {
			memcpy(*ret, ms->text, ms->text_len + 1);
			*ret_len = ms->text_len;
			r = 0;
		} else
			r = -ENOMEM;
	} else if (r == 0)
		r = -ENODATA;
	pthread_mutex_unlock(&ms->lock);
	return r;
}

static enum MHD_Result on_http(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *upload_data, size_t *upload_data_size,
			       void **con_cls)
{
	Metrics *ms = cls;
	char *body = NULL;
	size_t len = 0;

	(void) version;
	(void) upload_data;
	if (*upload_data_size > 0) {
		*upload_data_size = 0;  /* a body on a GET is ignored */
		return MHD_YES;
	}
	(void) con_cls;
	if (!streq(url, "/metrics"))
		return reply_text(c, MHD_HTTP_NOT_FOUND, "memqosd serves /metrics only\n");
	if (!streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET /metrics\n");
	if (fresh_snapshot(ms, &body, &len) < 0)
		return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no snapshot yet: the daemon is busy\n");
	return reply(c, MHD_HTTP_OK, body, len);
}

/* ---- set-up ---- */

int metrics_install(Manager *m, const ControlLoop *cl, const char *version, Metrics **ret)
{
	_cleanup_(metrics_freep) Metrics *ms = calloc(1, sizeof(Metrics));
	pthread_condattr_t ca;
	int r;

	if (!ms)
		return log_error_errno(&m->log, -ENOMEM, "Metrics: %m");
	ms->m = m;
	ms->cl = cl;
	ms->version = version;
	ms->request_fd = -EBADF;
	(void) pthread_mutex_init(&ms->lock, NULL);
	(void) pthread_condattr_init(&ca);
	(void) pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	(void) pthread_cond_init(&ms->cond, &ca);
	(void) pthread_condattr_destroy(&ca);

	r = manager_add_hooks(m, &(ManagerHooks) { .written = hook_written, .userdata = ms });
	if (r < 0)
		return log_error_errno(&m->log, r, "Cannot register the metrics hooks: %m");
	*ret = TAKE_PTR(ms);
	return 0;
}

/* The socket systemd passed under METRICS_SOCKET_NAME (received with the manager's FdStore, which
 * takes every fd systemd passes), or -EBADF. */
static int socket_from_systemd(Metrics *ms)
{
	int fd = fdstore_take(ms->m->fdstore, METRICS_SOCKET_NAME);

	if (fd < 0)
		return -EBADF;
	if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
		log_warning(&ms->m->log, "Metrics: the fd systemd passed as '%s' is not a listening stream socket, "
			    "closing it", METRICS_SOCKET_NAME);
		(void) close(fd);
		return -EBADF;
	}
	return fd;
}

int metrics_start(Metrics *ms)
{
	const char *listen = ms->m->config ? ms->m->config->daemon.metrics_listen : NULL;
	struct sockaddr_storage sa;
	socklen_t sa_len = 0;
	/* MHD_USE_ITC: needed for MHD_quiesce_daemon(), which hands systemd's socket back intact. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC;
	int fd = socket_from_systemd(ms), r;

	if (fd < 0 && !listen)
		return 0;  /* off */
	if (fd < 0) {
		r = parse_listen_address(listen, &sa, &sa_len);
		if (r < 0)  /* config.c validated it already */
			return log_error_errno(&ms->m->log, r, "Metrics: [Metrics] Listen=%s is not ADDRESS:PORT", listen);
		if (sa.ss_family == AF_INET6)
			flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_storage own;
		socklen_t own_len = sizeof(own);

		if (getsockname(fd, (struct sockaddr *) &own, &own_len) == 0 && own.ss_family == AF_INET6)
			flags |= MHD_USE_IPv6;
	}
	if (fd >= 0 && listen)
		log_notice(&ms->m->log, "Metrics: serving on the socket systemd passed; [Metrics] Listen=%s is not used",
			   listen);

	ms->request_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ms->request_fd < 0) {
		r = -errno;
		if (fd >= 0)
			(void) close(fd);
		return log_error_errno(&ms->m->log, r, "Metrics: cannot create an eventfd: %m");
	}
	r = sd_event_add_io(ms->m->event, &ms->request_source, ms->request_fd, EPOLLIN, on_request, ms);
	if (r < 0) {
		if (fd >= 0)
			(void) close(fd);
		return log_error_errno(&ms->m->log, r, "Metrics: cannot watch the eventfd: %m");
	}
	/* A first snapshot, so that a scrape during a long busy stretch still gets an answer. */
	(void) publish(ms);

	errno = 0;
	if (fd >= 0)
		ms->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_http, ms, MHD_OPTION_LISTEN_SOCKET, fd,
					   MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
					   MHD_OPTION_END);
	else
		ms->mhd = MHD_start_daemon(flags, 1, NULL, NULL, on_http, ms, MHD_OPTION_SOCK_ADDR,
					   (struct sockaddr *) &sa, MHD_OPTION_CONNECTION_LIMIT, 16u,
					   MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!ms->mhd) {
		r = errno > 0 ? -errno : -EIO;
		if (fd >= 0)
			(void) close(fd);
		return log_error_errno(&ms->m->log, r, "Metrics: cannot serve %s: %m; running without metrics",
				       fd >= 0 ? "on the socket systemd passed" : listen);
	}
	ms->systemd_socket = fd >= 0;
	log_info(&ms->m->log, "Metrics: serving Prometheus metrics at /metrics on %s",
		 fd >= 0 ? "the socket systemd passed (memqosd-metrics.socket)" : listen);
	return 1;
}

Metrics *metrics_free(Metrics *ms)
{
	if (!ms)
		return NULL;
	if (ms->mhd) {
		/*
		 * MHD_stop_daemon() shuts a listening socket down, and a socket unit whose socket was shut
		 * down fails ("Got POLLHUP on a listening socket"): take systemd's socket back first and
		 * only close our copy, so that the next scrape starts memqosd again.
		 */
		MHD_socket lfd = ms->systemd_socket ? MHD_quiesce_daemon(ms->mhd) : MHD_INVALID_SOCKET;

		MHD_stop_daemon(ms->mhd);  /* joins the HTTP thread: nothing uses ms after this */
		if (lfd != MHD_INVALID_SOCKET)
			(void) close(lfd);
	}
	manager_remove_hooks(ms->m, ms);
	sd_event_source_disable_unref(ms->request_source);
	if (ms->request_fd >= 0)
		(void) close(ms->request_fd);
	for (size_t i = 0; i < ms->n_counters; i++)
		free(ms->counters[i].name);
	free(ms->counters);
	free(ms->text);
	pthread_mutex_destroy(&ms->lock);
	pthread_cond_destroy(&ms->cond);
	free(ms);
	return NULL;
}
