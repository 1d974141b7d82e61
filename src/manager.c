/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "manager.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "dir-watch.h"
#include "fdstore.h"
#include "journal-ids.h"
#include "state.h"
#include "util.h"

static const char *const tenant_state_table[_TENANT_STATE_MAX] = {
	[TENANT_WAITING] = "waiting",
	[TENANT_ACTIVE] = "active",
};

const char *tenant_state_to_string(TenantState s)
{
	if (s < 0 || s >= _TENANT_STATE_MAX)
		return NULL;
	return tenant_state_table[s];
}

const char *tenant_state_describe(const Tenant *t)
{
	if (t->state == TENANT_ACTIVE && t->no_policy)
		return TENANT_STATE_NO_POLICY;
	return tenant_state_to_string(t->state);
}

#define FOREACH_HOOK(m, h) for (const ManagerHooks *h = (m)->hooks; h < (m)->hooks + (m)->n_hooks; h++)

int manager_add_hooks(Manager *m, const ManagerHooks *h)
{
	if (m->n_hooks >= MANAGER_HOOKS_MAX)
		return -ENOSPC;
	m->hooks[m->n_hooks++] = *h;
	return 0;
}

void manager_remove_hooks(Manager *m, const void *userdata)
{
	size_t j = 0;

	for (size_t i = 0; i < m->n_hooks; i++)
		if (m->hooks[i].userdata != userdata)
			m->hooks[j++] = m->hooks[i];
	m->n_hooks = j;
}

static void manager_status_changed(Manager *m)
{
	FOREACH_HOOK(m, h)
		if (h->status_changed)
			h->status_changed(m, h->userdata);
}

void manager_policy_event(Manager *m, Tenant *t, const struct memqosd_event *ev)
{
	FOREACH_HOOK(m, h)
		if (h->policy_event)
			h->policy_event(m, t, ev, h->userdata);
}

static uint64_t clamp_high(uint64_t v, const TenantConfig *c)
{
	if (v < c->memory_high_min)
		return c->memory_high_min;
	if (v > c->memory_high_max)
		return c->memory_high_max;
	return v;
}

/* Structured record about one tenant. extra: one more "KEY=value" field, or NULL. */
static void log_tenant(const Manager *m, const Tenant *t, int level, const char *message_id, const char *old,
		       const char *new, const char *reason, const char *extra, const char *fmt, ...)
	__attribute__((format(printf, 9, 10)));

static void log_tenant(const Manager *m, const Tenant *t, int level, const char *message_id, const char *old,
		       const char *new, const char *reason, const char *extra, const char *fmt, ...)
{
	_cleanup_free_ char *f_tenant = NULL, *f_cgroup = NULL, *f_old = NULL, *f_new = NULL,
		*f_reason = NULL, *f_id = NULL, *f_template = NULL;
	const char *fields[10] = {};
	size_t n = 0;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (asprintf(&f_tenant, "MEMQOSD_TENANT=%s", t->config->name) >= 0)
		fields[n++] = f_tenant;
	if (asprintf(&f_cgroup, "MEMQOSD_CGROUP=%s", t->config->cgroup) >= 0)
		fields[n++] = f_cgroup;
	if (t->config->template && asprintf(&f_template, "MEMQOSD_TEMPLATE=%s", t->config->template) >= 0)
		fields[n++] = f_template;
	if (old && asprintf(&f_old, "MEMQOSD_OLD=%s", old) >= 0)
		fields[n++] = f_old;
	if (new && asprintf(&f_new, "MEMQOSD_NEW=%s", new) >= 0)
		fields[n++] = f_new;
	if (reason && asprintf(&f_reason, "MEMQOSD_REASON=%s", reason) >= 0)
		fields[n++] = f_reason;
	if (t->state == TENANT_ACTIVE && asprintf(&f_id, "MEMQOSD_CGROUP_ID=%" PRIu64, t->cgroup_id) >= 0)
		fields[n++] = f_id;
	if (m->dry_run)
		fields[n++] = "MEMQOSD_DRY_RUN=1";
	if (extra)
		fields[n++] = extra;
	fields[n] = NULL;

	log_struct(&m->log, level, message_id, fields, "%s", msg);
}

static void tenant_drop_sources(Tenant *t)
{
	for (size_t i = 0; i < ELEMENTSOF(t->retry_source); i++)
		t->retry_source[i] = sd_event_source_disable_unref(t->retry_source[i]);
	t->pressure_source = sd_event_source_disable_unref(t->pressure_source);
	t->events_source = sd_event_source_disable_unref(t->events_source);
	t->parent_watch = dir_watch_remove(t->parent_watch);
	t->high_watch = sd_event_source_disable_unref(t->high_watch);
	t->pressure_trigger = false;
}

/* A retiring tenant may outlive the Config its profile belongs to (reload): keep its own copy. */
static int tenant_own_config(Tenant *t)
{
	TenantConfig *c;

	if (t->own_config)
		return 0;
	c = tenant_config_dup(t->config);
	if (!c)
		return -ENOMEM;
	t->own_config = t->config = c;
	return 0;
}

static Tenant *tenant_free(Tenant *t)
{
	if (!t)
		return NULL;
	tenant_drop_sources(t);
	t->writer = writer_target_unlink(t->writer); /* closes cg_fd (the writer's) once idle */
	t->cg_fd = -EBADF;
	free(t->retire_reason);
	tenant_config_free(t->own_config);
	free(t);
	return NULL;
}

static int tenant_new(Manager *m, TenantConfig *c, Tenant **ret)
{
	Tenant *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->manager = m;
	t->config = c;
	t->state = TENANT_WAITING;
	t->cg_fd = -EBADF;
	*ret = t;
	return 0;
}

static int tenant_activate(Manager *m, Tenant *t, bool log_waiting);
static void tenant_release(Manager *m, Tenant *t, const char *why);
static bool manager_cgroup_retiring(const Manager *m, const char *cgroup);
static void tenant_refresh_pressure(Tenant *t);
static void manager_tenants_changed(Manager *m);
static void manager_add_retired(Manager *m, Tenant *t);

/*
 * Is the cgroup t->cg_fd refers to gone: its path leads nowhere (ENOENT/ENODEV/ENOTDIR) or to
 * another directory? 1 gone, 0 still there, negative errno: cannot tell now (EMFILE, ENOMEM, ...),
 * which callers treat as "still there": a transient error must never cost a tenant its originals.
 */
static int tenant_is_gone(Manager *m, Tenant *t)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat a, b;
	int r;

	r = cgroup_open(m->root, t->config->cgroup, &fd);
	if (cgroup_errno_is_gone(r) || r == -ENOTDIR)
		return 1;
	if (r < 0)
		return r;
	if (fstat(fd, &a) < 0 || fstat(t->cg_fd, &b) < 0)
		return negative_errno();
	return a.st_dev != b.st_dev || a.st_ino != b.st_ino;
}

/*
 * An I/O error on an active tenant: if the cgroup vanished, release it (and pick a replacement up
 * if one already exists). Any other error is transient: logged, the tenant stays. Returns r.
 */
static int tenant_handle_io_error(Manager *m, Tenant *t, int r, const char *what)
{
	if (t->state != TENANT_ACTIVE || t->retiring)
		return r;
	if (cgroup_errno_is_gone(r) && tenant_is_gone(m, t) > 0) {
		tenant_release(m, t, what);
		return r;
	}
	log_warning_errno(&m->log, r, "Tenant %s: cannot %s in cgroup %s: %m", t->config->name, what,
			  t->config->cgroup);
	return r;
}

/*
 * Originals on disk (src/state.h), so that a restart after an unclean exit does not take memqosd's
 * own leftovers for them. Never fatal: without a usable state directory memqosd works as before.
 * tenant_write_record() writes the tenant's record: its originals, and Frozen=yes if frozen.
 */
static int tenant_write_record(Manager *m, Tenant *t, bool frozen)
{
	StateRecord rec = {
		.kind = STATE_RECORD_ORIGINALS,
		.id = t->cgroup_id,
		.root = m->root->path,
		.cgroup = t->config->cgroup,
		.high = t->original_high,
		.low = t->original_low,
		.has_low = t->has_original_low,
		.frozen = frozen,
	};

	return state_record_write(m->state_fd, &rec);
}

static void tenant_record_originals(Manager *m, Tenant *t)
{
	int r;

	if (t->recorded || m->state_fd < 0 || m->dry_run || t->state != TENANT_ACTIVE)
		return;
	r = tenant_write_record(m, t, t->frozen_marked);
	if (r < 0) {
		log_warning_errno(&m->log, r,
				  "Tenant %s: cannot record its original memory.high/low in %s, continuing without "
				  "(they will not survive an unclean exit): %m", t->config->name, m->state_dir);
		return;
	}
	t->recorded = true;
}

/*
 * Before a paused write is handed to the writer: mark the record Frozen=yes, so that a memqosd
 * killed inside the round leaves a mark by which the next start thaws the cgroup. A cgroup frozen
 * already (by someone else) is not marked: the writer does not pause it, and a restart must not
 * thaw it either. Without a state directory (or if the record cannot be written) the round still
 * runs paused, and the log says what a crash inside it would leave.
 */
static void tenant_mark_paused(Manager *m, Tenant *t)
{
	uint64_t frozen;
	int r;

	t->paused_pending++;
	if (t->frozen_marked)
		return;
	if (cgroup_read_u64(t->cg_fd, "cgroup.freeze", &frozen) < 0 || frozen != 0)
		return; /* no freezer, or frozen by someone else: the writer will not pause it */
	r = m->state_fd < 0 ? -EBADF : tenant_write_record(m, t, true);
	if (r >= 0) {
		t->frozen_marked = t->recorded = true;
		return;
	}
	if (t->pause_unmarked_warned)
		return;
	if (m->state_fd < 0)
		log_warning(&m->log, "Tenant %s: no state directory, so a memqosd killed inside a paused round of "
			    "reclaim would leave cgroup %s frozen until 0 is written to its cgroup.freeze",
			    t->config->name, t->config->cgroup);
	else
		log_warning_errno(&m->log, r, "Tenant %s: cannot mark state record %s/%" PRIu64 " Frozen=yes (%m), "
				  "so a memqosd killed inside a paused round of reclaim would leave cgroup %s frozen "
				  "until 0 is written to its cgroup.freeze", t->config->name, m->state_dir,
				  t->cgroup_id, t->config->cgroup);
	t->pause_unmarked_warned = true;
}

/* A paused write was reported: once none is left, the record loses its mark (unless still frozen). */
static void tenant_unmark_paused(Manager *m, Tenant *t, const WriterCompletion *c)
{
	int r;

	if (t->paused_pending > 0)
		t->paused_pending--;
	if (!t->frozen_marked || t->paused_pending > 0)
		return;
	if (c->paused && c->thaw_result < 0 && !cgroup_errno_is_gone(c->thaw_result))
		return; /* it may still be frozen: the mark stays, so a restart thaws it */
	if (!t->recorded || m->state_fd < 0) {
		t->frozen_marked = false;
		return;
	}
	r = tenant_write_record(m, t, false);
	if (r < 0) {
		log_warning_errno(&m->log, r, "Tenant %s: cannot clear Frozen=yes in state record %s/%" PRIu64
				  " (a restart will check its cgroup.freeze): %m", t->config->name, m->state_dir,
				  t->cgroup_id);
		return;
	}
	t->frozen_marked = false;
}

/*
 * A record marked Frozen=yes: the memqosd that wrote it died inside a paused round. Thaw the cgroup
 * if it still reads frozen (even if someone else froze it since: the mark says the last freeze
 * seen was ours; README, Limits). Whether the mark may be cleared. Dry-run writes nothing.
 */
static bool manager_thaw_leftover(Manager *m, int cg_fd, const char *name, const StateRecord *rec)
{
	StateUndo u;
	uint64_t frozen;
	int r;

	if (m->dry_run) {
		r = cgroup_read_u64(cg_fd, "cgroup.freeze", &frozen);
		if (r >= 0 && frozen != 0)
			log_warning(&m->log, "Tenant %s: cgroup %s was left frozen by a memqosd that died inside a paused "
				    "round of reclaim (state record %s/%" PRIu64 "); dry-run does not thaw it: write 0 to "
				    "its cgroup.freeze", name, rec->cgroup, m->state_dir, rec->id);
		return false;
	}
	/* The one undo after an unclean exit (src/state.h), shared with the storm guard's records. */
	r = state_record_undo(cg_fd, rec, &u);
	if (r < 0) {
		log_error_errno(&m->log, r, "Tenant %s: cgroup %s was left frozen by a memqosd that died inside a "
				"paused round of reclaim, and cannot be thawed (keeping Frozen=yes in %s/%" PRIu64 "): %m",
				name, rec->cgroup, m->state_dir, rec->id);
		return false;
	}
	if (u.thaw > 0)
		log_notice(&m->log, "Tenant %s: thawed cgroup %s (cgroup.freeze 1 -> 0), left frozen by a memqosd that "
			   "died inside a paused round of reclaim (state record %s/%" PRIu64 ")", name, rec->cgroup,
			   m->state_dir, rec->id);
	else
		log_info(&m->log, "Tenant %s: state record %s/%" PRIu64 " says a paused round was running at an "
			 "unclean exit; cgroup %s is not frozen", name, m->state_dir, rec->id, rec->cgroup);
	return true;
}

static void tenant_forget_originals(Manager *m, Tenant *t)
{
	int r;

	if (!t->recorded)
		return;
	t->recorded = false;
	r = state_record_remove(m->state_fd, STATE_RECORD_ORIGINALS, t->cgroup_id);
	if (r < 0)
		log_warning_errno(&m->log, r, "Tenant %s: cannot remove state record %s/%" PRIu64 ": %m",
				  t->config->name, m->state_dir, t->cgroup_id);
}

/* A record for this cgroup left by a memqosd that died without restoring: its originals win. */
static void tenant_recover_originals(Manager *m, Tenant *t)
{
	StateRecord rec = {};
	int r;

	t->recovered = t->recorded = false;
	if (m->state_fd < 0)
		return;
	r = state_record_read(m->state_fd, STATE_RECORD_ORIGINALS, t->cgroup_id, &rec);
	if (r == -ENOENT)
		return;
	if (r < 0) {
		log_warning_errno(&m->log, r,
				  "Tenant %s: state record %s/%" PRIu64 " is unreadable or corrupt (%m), ignoring it: "
				  "memory.high/low as found are taken as the originals", t->config->name, m->state_dir,
				  t->cgroup_id);
		return;
	}
	if (!streq(rec.root, m->root->path) || !streq(rec.cgroup, t->config->cgroup))
		log_notice(&m->log, "Tenant %s: state record %s/%" PRIu64 " is for cgroup %s under %s (cgroup id reused), ignoring it",
			   t->config->name, m->state_dir, t->cgroup_id, rec.cgroup, rec.root);
	else {
		t->original_high = rec.high;
		if (rec.has_low) {
			t->original_low = rec.low;
			t->has_original_low = true;
		}
		t->recovered = true;
		t->recorded = !m->dry_run;
		if (rec.frozen && manager_thaw_leftover(m, t->cg_fd, t->config->name, &rec) && !m->dry_run) {
			r = tenant_write_record(m, t, false);
			if (r < 0)
				log_warning_errno(&m->log, r, "Tenant %s: cannot clear Frozen=yes in state record %s/%"
						  PRIu64 ": %m", t->config->name, m->state_dir, t->cgroup_id);
		}
	}
	state_record_done(&rec);
}

/*
 * The record of a new memory.high/low, written when the write returned. write_usec is how long it
 * took: the value was in the file when the write began (the kernel's reclaim for it ran after), so
 * a long write's record says so and carries MEMQOSD_WRITE_USEC for readers that order events.
 */
static void log_value_change(Manager *m, Tenant *t, WriterFile file, uint64_t old, uint64_t new, const char *reason,
			     uint64_t write_usec)
{
	char o[32], n[32], took[96] = "", f_write[64];

	cgroup_format_bytes(old, o, sizeof(o));
	cgroup_format_bytes(new, n, sizeof(n));
	(void) snprintf(f_write, sizeof(f_write), "MEMQOSD_WRITE_USEC=%" PRIu64, write_usec);
	if (write_usec >= USEC_PER_SEC)
		(void) snprintf(took, sizeof(took), "; in place since %" PRIu64 ".%" PRIu64 " s ago (the write's reclaim took that long)",
				(uint64_t) (write_usec / USEC_PER_SEC), (uint64_t) (write_usec % USEC_PER_SEC / (USEC_PER_SEC / 10)));
	log_tenant(m, t, LOG_INFO, file == WRITER_MEMORY_HIGH ? MEMQOSD_MESSAGE_HIGH_CHANGED : MEMQOSD_MESSAGE_LOW_CHANGED,
		   o, n, reason, m->dry_run ? NULL : f_write, "%s %s of %s (%s): %s -> %s (%s)%s",
			 m->dry_run ? "Would change (dry-run)" : "Changed", writer_file_to_string(file), t->config->name,
			 t->config->cgroup, o, n, reason, took);
}

/* Hand one write to the writer. The record of the originals is on disk before the first write. */
static int tenant_submit(Manager *m, Tenant *t, WriterFile file, WriterKind kind, uint64_t value, const char *reason)
{
	uint64_t old = file == WRITER_MEMORY_HIGH ? t->high_submitted : file == WRITER_MEMORY_LOW ? t->low : 0;
	int r;

	if (t->state != TENANT_ACTIVE || !t->writer || (t->retiring && kind != WRITER_KIND_RESTORE))
		return -ENOENT;
	tenant_record_originals(m, t); /* no-op unless DryRun= was switched off by a reload */
	if (kind == WRITER_KIND_CONTINUE_PAUSED)
		tenant_mark_paused(m, t);
	r = writer_submit(t->writer, file, kind, old, value, reason);
	if (r < 0 && kind == WRITER_KIND_CONTINUE_PAUSED)
		tenant_unmark_paused(m, t, &(WriterCompletion) { .kind = kind });
	if (r < 0)
		return log_warning_errno(&m->log, r, "Tenant %s: cannot queue the write %s=%" PRIu64 " (%s): %m",
					 t->config->name, writer_file_to_string(file), value, reason);
	if (file == WRITER_MEMORY_HIGH) {
		t->high_written = true; /* from now on a restore is due, even while the write is in flight */
		t->high_submitted = value;
	} else if (file == WRITER_MEMORY_LOW)
		t->low_written = true;
	return 0;
}

int manager_apply_high(Manager *m, Tenant *t, uint64_t new_high, const char *reason)
{
	if (t->state != TENANT_ACTIVE || t->retiring)
		return -ENOENT;
	if (m->dry_run) {
		log_value_change(m, t, WRITER_MEMORY_HIGH, t->high, new_high, reason, 0);
		t->high = t->high_submitted = new_high;
		return 0;
	}
	return tenant_submit(m, t, WRITER_MEMORY_HIGH, WRITER_KIND_CHANGE, new_high, reason);
}

int manager_reclaim_more(Manager *m, Tenant *t, uint64_t high, const char *reason, bool paused)
{
	if (t->state != TENANT_ACTIVE || t->retiring || m->dry_run)
		return -ENOENT;
	return tenant_submit(m, t, WRITER_MEMORY_HIGH, paused ? WRITER_KIND_CONTINUE_PAUSED : WRITER_KIND_CONTINUE,
			     high, reason);
}

int manager_apply_low(Manager *m, Tenant *t, uint64_t new_low, const char *reason)
{
	if (t->state != TENANT_ACTIVE || t->retiring)
		return -ENOENT;
	if (m->dry_run) {
		log_value_change(m, t, WRITER_MEMORY_LOW, t->low, new_low, reason, 0);
		return 0;
	}
	return tenant_submit(m, t, WRITER_MEMORY_LOW, WRITER_KIND_CHANGE, new_low, reason);
}

int manager_reclaim(Manager *m, Tenant *t, uint64_t bytes, const char *reason)
{
	if (t->state != TENANT_ACTIVE || t->retiring)
		return -ENOENT;
	if (m->dry_run)
		return -EROFS;
	return tenant_submit(m, t, WRITER_MEMORY_RECLAIM, WRITER_KIND_CHANGE, bytes, reason);
}

bool manager_tenant_busy(const Tenant *t)
{
	return writer_target_outstanding(t->writer) > 0;
}

void manager_settle(Manager *m)
{
	writer_drain(m->writer);
}

typedef struct SettleWaiter {
	struct SettleWaiter *next;
	manager_settled_t cb;
	void *userdata;
} SettleWaiter;

/* Call the waiters if the writes are done (or always, if force). */
static void manager_check_settled(Manager *m, bool force)
{
	SettleWaiter *list;

	if (!m->settle_waiters || (!force && writer_outstanding(m->writer) > 0))
		return;
	list = TAKE_PTR(m->settle_waiters);
	(void) sd_event_source_set_enabled(m->settle_timer, SD_EVENT_OFF);
	while (list) {
		SettleWaiter *w = list;

		list = w->next;
		w->cb(m, force, w->userdata);
		free(w);
	}
}

static int on_settle_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	Manager *m = userdata;

	(void) s;
	(void) usec;
	log_warning(&m->log, "Writes still outstanding after 2 x WriteTimeoutSec=, not waiting for them any longer");
	manager_check_settled(m, /* force= */ true);
	return 0;
}

int manager_when_settled(Manager *m, manager_settled_t cb, void *userdata)
{
	SettleWaiter *w, **p;
	int r;

	if (writer_outstanding(m->writer) == 0) {
		cb(m, false, userdata);
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->cb = cb;
	w->userdata = userdata;
	for (p = &m->settle_waiters; *p; p = &(*p)->next)
		;
	*p = w;
	if (!m->settle_timer) {
		r = sd_event_add_time_relative(m->event, &m->settle_timer, CLOCK_MONOTONIC, 0, 0, on_settle_timeout, m);
		if (r < 0) {
			/* The waiter stays (the last completion calls it), only without the bound. */
			log_warning_errno(&m->log, r, "Cannot arm the settle timeout, ignoring: %m");
			return 0;
		}
		(void) sd_event_source_set_description(m->settle_timer, "settle-timeout");
		/* Born enabled at time 0: off, so that the bound below is armed instead of firing now. */
		(void) sd_event_source_set_enabled(m->settle_timer, SD_EVENT_OFF);
	}
	if (sd_event_source_get_enabled(m->settle_timer, NULL) <= 0) {
		(void) sd_event_source_set_time_relative(m->settle_timer,
							 2 * m->config->daemon.control.write_timeout_usec);
		(void) sd_event_source_set_enabled(m->settle_timer, SD_EVENT_ONESHOT);
	}
	return 0;
}

static int on_settle_defer(sd_event_source *s, void *userdata)
{
	(void) s;
	manager_check_settled(userdata, /* force= */ false);
	return 0;
}

static void notify_ready_when_settled(Manager *m, bool timed_out, void *userdata);

static void tenant_finish_retire(Manager *m, Tenant *t);

static void tenant_restore_done(Manager *m, Tenant *t, const WriterCompletion *c);

static int on_restore_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	Tenant *t = userdata;
	Manager *m = t->manager;
	WriterFile f = s == t->retry_source[WRITER_MEMORY_HIGH] ? WRITER_MEMORY_HIGH : WRITER_MEMORY_LOW;
	WriterCompletion c = {
		.file = f,
		.kind = WRITER_KIND_RESTORE,
		.value = f == WRITER_MEMORY_HIGH ? t->original_high : t->original_low,
	};

	(void) usec;
	t->retry_source[f] = sd_event_source_disable_unref(t->retry_source[f]);
	(void) snprintf(c.reason, sizeof(c.reason), "%s", t->retire_reason ?: "restore");
	c.result = tenant_submit(m, t, f, WRITER_KIND_RESTORE, c.value, c.reason);
	if (c.result < 0)
		tenant_restore_done(m, t, &c); /* counts as another failed attempt */
	return 0;
}

/* A restore write completed. */
static void tenant_restore_done(Manager *m, Tenant *t, const WriterCompletion *c)
{
	const char *file = writer_file_to_string(c->file);
	uint64_t now = c->file == WRITER_MEMORY_HIGH ? t->high : t->low;
	char o[32], n[32];

	cgroup_format_bytes(now, o, sizeof(o));
	cgroup_format_bytes(c->value, n, sizeof(n));
	if (c->result >= 0) {
		if (t->orphan)
			log_tenant(m, t, LOG_NOTICE, MEMQOSD_MESSAGE_RESTORED, o, n, c->reason, NULL,
				   "Restored %s of cgroup %s, which no profile manages any more (%s): %s -> %s", file,
				   t->config->cgroup, c->reason, o, n);
		else
			log_tenant(m, t, LOG_INFO, MEMQOSD_MESSAGE_RESTORED, o, n, c->reason, NULL,
				   "Restored %s of %s (%s): %s -> %s (%s)", file, t->config->name, t->config->cgroup, o,
				   n, c->reason);
		if (c->file == WRITER_MEMORY_HIGH) {
			t->high = t->high_submitted = c->value;
			t->high_written = false;
		} else {
			t->low = c->value;
			t->low_written = false;
		}
	} else if (cgroup_errno_is_gone(c->result) && tenant_is_gone(m, t) > 0)
		log_debug_errno(&m->log, c->result, "Tenant %s: cannot restore %s=%s, cgroup gone: %m", t->config->name,
				file, n);
	else if (!m->stopping && t->restore_retries < MANAGER_RESTORE_RETRIES &&
		 sd_event_add_time_relative(m->event, &t->retry_source[c->file], CLOCK_MONOTONIC, USEC_PER_SEC, 0,
					    on_restore_retry, t) >= 0) {
		/* Transient (EMFILE, ENOMEM, an interrupted write...): try again in a second; still pending. */
		t->restore_retries++;
		log_warning_errno(&m->log, c->result, "Tenant %s: cannot restore %s=%s (%s): %m; retrying (%u/%u)",
				  t->config->name, file, n, c->reason, t->restore_retries, MANAGER_RESTORE_RETRIES);
		return;
	} else {
		t->restore_failed = true;
		if (m->stopping)
			m->stop_restore_failures++;
		log_warning_errno(&m->log, c->result,
				  "Tenant %s: cannot restore %s=%s (%s): %m; keeping its state record, the next start "
				  "restores it", t->config->name, file, n, c->reason);
	}
	if (t->restores_pending > 0 && --t->restores_pending == 0)
		tenant_finish_retire(m, t);
}

/* Every write of the tenant comes back here, on the loop. */
static void on_write_done(WriterTarget *wt, void *owner, const WriterCompletion *c, void *userdata)
{
	Manager *m = userdata;
	Tenant *t = owner;

	(void) wt;
	/* The write counts as outstanding until this returns: look at the waiters afterwards. */
	if (m->settle_waiters)
		(void) sd_event_source_set_enabled(m->settle_defer, SD_EVENT_ONESHOT);
	if (c->paused && c->thaw_result < 0)
		log_error_errno(&m->log, c->thaw_result,
				"Tenant %s: cannot thaw its cgroup after reclaiming with it paused (cgroup.freeze=0): %m",
				t->config->name);
	if (c->kind == WRITER_KIND_CONTINUE_PAUSED)
		tenant_unmark_paused(m, t, c);
	if (c->kind == WRITER_KIND_RESTORE) {
		tenant_restore_done(m, t, c);
		return;
	}
	if (c->file == WRITER_MEMORY_RECLAIM) {
		/* -EAGAIN (less than asked could be reclaimed) and -EINTR (the timeout) are answers, not
		 * failures: the hook judges them. Only a vanished cgroup concerns the manager. */
		if (cgroup_errno_is_gone(c->result))
			(void) tenant_handle_io_error(m, t, c->result, "write memory.reclaim");
	} else if (c->result < 0) {
		/* Not written: what the file holds is what the last completed write left. */
		if (c->file == WRITER_MEMORY_HIGH && writer_target_outstanding(t->writer) <= 1)
			t->high_submitted = t->high;
		if (!cgroup_errno_is_gone(c->result))
			log_warning_errno(&m->log, c->result, "Tenant %s: failed to write %s=%" PRIu64 " (%s), will retry: %m",
					  t->config->name, writer_file_to_string(c->file), c->value, c->reason);
		(void) tenant_handle_io_error(m, t, c->result, c->file == WRITER_MEMORY_HIGH ? "write memory.high" : "write memory.low");
	} else if (c->file == WRITER_MEMORY_HIGH) {
		t->high = c->value;
		if (c->kind != WRITER_KIND_CONTINUE && c->kind != WRITER_KIND_CONTINUE_PAUSED)
			log_value_change(m, t, c->file, c->old_value, c->value, c->reason, c->duration_usec);
	} else {
		t->low = c->value;
		log_value_change(m, t, c->file, c->old_value, c->value, c->reason, c->duration_usec);
	}
	FOREACH_HOOK(m, h)
		if (t->state == TENANT_ACTIVE && !t->retiring && h->written)
			h->written(m, t, c, h->userdata);
}

/* Leave ACTIVE: hooks, sources, fd, writer target. Does not restore. */
static void tenant_deactivate(Manager *m, Tenant *t)
{
	if (t->state != TENANT_ACTIVE)
		return;
	if (!t->retiring)
		FOREACH_HOOK(m, h)
			if (h->tenant_detach)
				h->tenant_detach(m, t, h->userdata);
	tenant_drop_sources(t);
	t->writer = writer_target_unlink(t->writer); /* closes cg_fd (the writer's) once idle */
	t->cg_fd = -EBADF;
	t->state = TENANT_WAITING;
	t->high_written = t->low_written = false;
	t->recorded = t->recovered = false;
	t->frozen_marked = false; /* writes in flight finish unreported: a restart checks the mark */
	t->paused_pending = 0;
	t->pressured = false;
	t->retiring = t->restore_failed = false;
	t->restores_pending = t->restore_retries = 0;
}

static void tenant_release(Manager *m, Tenant *t, const char *why)
{
	if (t->state != TENANT_ACTIVE)
		return;
	if (t->config->template) {
		/* An instance follows its cgroup: gone with it (a new cgroup of that path is a new instance). */
		log_tenant(m, t, LOG_NOTICE, MEMQOSD_MESSAGE_TENANT_RELEASED, NULL, NULL, why, NULL,
			   "Tenant %s (instance of template %s) removed: cgroup %s vanished (%s)", t->config->name,
			   t->config->template, t->config->cgroup, why);
		tenant_forget_originals(m, t);
		tenant_deactivate(m, t);
		t->has_pressure = false;
		t->gone = true;
		(void) sd_event_source_set_enabled(m->instance_sweep, SD_EVENT_ONESHOT);
		manager_tenants_changed(m);
		return;
	}
	log_tenant(m, t, LOG_NOTICE, MEMQOSD_MESSAGE_TENANT_RELEASED, NULL, NULL, why, NULL,
		   "Tenant %s released: cgroup %s vanished (%s); waiting for it to reappear", t->config->name,
		   t->config->cgroup, why);
	tenant_forget_originals(m, t);
	tenant_deactivate(m, t);
	t->has_pressure = false;
	/* A new cgroup may already be there under the same name; else this arms the waiting watch. */
	(void) tenant_activate(m, t, /* log_waiting= */ false);
	manager_tenants_changed(m);
}

static void on_parent_event(const struct inotify_event *ev, void *userdata)
{
	Tenant *t = userdata;
	Manager *m = t->manager;

	log_debug(&m->log, "Tenant %s: inotify mask 0x%x on %s", t->config->name, ev->mask,
		  ev->len > 0 ? ev->name : "(watched dir)");

	if (t->state == TENANT_WAITING) {
		if (!t->gone && tenant_activate(m, t, /* log_waiting= */ false) > 0)
			manager_tenants_changed(m);
	} else if (tenant_is_gone(m, t) > 0)
		tenant_release(m, t, "cgroup directory removed");
}

static int on_pressure(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	Tenant *t = userdata;
	Manager *m = t->manager;

	(void) s;
	(void) fd;
	if (revents & (EPOLLERR | EPOLLHUP)) {
		if (tenant_is_gone(m, t) > 0) {
			tenant_release(m, t, "memory.pressure trigger closed");
			return 0;
		}
		/* The trigger fd is dead for some other reason: stop polling it rather than spin. */
		log_warning(&m->log, "Tenant %s: PSI trigger reported an error, disabling it", t->config->name);
		t->pressure_source = sd_event_source_disable_unref(t->pressure_source);
		t->pressure_trigger = false;
		return 0;
	}

	t->pressured = true;
	t->last_pressure_usec = clock_usec(CLOCK_MONOTONIC);
	log_debug(&m->log, "Tenant %s: memory pressure trigger fired", t->config->name);
	FOREACH_HOOK(m, h)
		if (h->pressure)
			h->pressure(m, t, h->userdata);
	return 0;
}

/* A fake tree (tests): a write to the tenant's memory.pressure file stands for the trigger firing. */
static int on_pressure_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata)
{
	Tenant *t = userdata;

	(void) ev;
	return on_pressure(s, -EBADF, 0, t);
}

static void tenant_events_changed(Manager *m, Tenant *t, int events_fd)
{
	CgroupMemoryEvents prev = t->events;
	int r;

	r = cgroup_read_memory_events_fd(events_fd, &t->events);
	if (r < 0) {
		(void) tenant_handle_io_error(m, t, r, "read memory.events");
		return;
	}
	log_debug(&m->log,
		  "Tenant %s: memory.events low=%" PRIu64 " high=%" PRIu64 " max=%" PRIu64 " oom=%" PRIu64
		  " oom_kill=%" PRIu64,
		  t->config->name, t->events.low, t->events.high, t->events.max, t->events.oom, t->events.oom_kill);
	if (memcmp(&prev, &t->events, sizeof(prev)) != 0)
		FOREACH_HOOK(m, h)
			if (h->events)
				h->events(m, t, &prev, h->userdata);
}

static int on_events_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	Tenant *t = userdata;

	(void) s;
	(void) revents;
	tenant_events_changed(t->manager, t, fd);
	return 0;
}

static int on_events_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata)
{
	Tenant *t = userdata;
	Manager *m = t->manager;
	_cleanup_close_ int fd = -EBADF;

	(void) s;
	(void) ev;
	fd = openat(t->cg_fd, "memory.events", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		(void) tenant_handle_io_error(m, t, negative_errno(), "open memory.events");
		return 0;
	}
	tenant_events_changed(m, t, fd);
	return 0;
}

static char *parent_of(const char *rel)
{
	const char *slash = strrchr(rel, '/');

	return slash ? strndup(rel, (size_t) (slash - rel)) : strdup("");
}

static int tenant_watch(Manager *m, Tenant *t, bool waiting)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *parent = NULL;
	const char *slash;
	int r;

	t->parent_watch = dir_watch_remove(t->parent_watch);

	if (waiting)
		r = cgroup_open_existing_ancestor(m->root, t->config->cgroup, &fd);
	else {
		parent = parent_of(t->config->cgroup);
		if (!parent)
			return -ENOMEM;
		r = cgroup_open(m->root, parent, &fd);
	}
	if (r < 0)
		return log_warning_errno(&m->log, r, "Tenant %s: cannot open a directory to watch for %s: %m",
					 t->config->name, t->config->cgroup);

	/* ACTIVE: only its own entry in the parent matters; WAITING: any entry of the ancestor may lead to it. */
	slash = strrchr(t->config->cgroup, '/');
	r = dir_watch_add(m->dir_watches, fd, waiting ? NULL : slash ? slash + 1 : t->config->cgroup,
			  on_parent_event, t, &t->parent_watch);
	if (r < 0)
		return log_warning_errno(&m->log, r, "Tenant %s: cannot watch for cgroup %s: %m", t->config->name,
					 t->config->cgroup);
	return 0;
}

/*
 * Someone else wrote memory.high (systemd realizing a unit it has just started or reloaded, an
 * operator): memqosd takes the value as the one it works from, and brings it back into
 * [MemoryHighMin, MemoryHighMax] if it is outside. Our own writes are recognised: a write of ours is
 * outstanding until its completion is handled, and then t->high is its value.
 */
static int on_high_modified(sd_event_source *s, const struct inotify_event *ev, void *userdata)
{
	Tenant *t = userdata;
	Manager *m = t->manager;
	char was[32], now[32];
	uint64_t v, target;
	int r;

	(void) s;
	(void) ev;
	if (t->state != TENANT_ACTIVE || t->retiring || m->dry_run || manager_tenant_busy(t))
		return 0;
	r = cgroup_read_u64(t->cg_fd, "memory.high", &v);
	if (r < 0) {
		(void) tenant_handle_io_error(m, t, r, "read memory.high");
		return 0;
	}
	if (v == t->high)
		return 0;
	cgroup_format_bytes(t->high, was, sizeof(was));
	cgroup_format_bytes(v, now, sizeof(now));
	log_notice(&m->log, "Tenant %s: memory.high of %s set to %s by another writer (memqosd had %s); working from it",
		   t->config->name, t->config->cgroup, now, was);
	t->high = t->high_submitted = v;
	target = clamp_high(v, t->config);
	if (target != v)
		(void) manager_apply_high(m, t, target,
					  "clamp: memory.high set outside [MemoryHighMin, MemoryHighMax] by another writer");
	return 0;
}

static void tenant_watch_high(Manager *m, Tenant *t)
{
	_cleanup_close_ int fd = -EBADF;
	int r;

	if (!m->root->cgroupfs)
		return; /* a fake tree of plain files (or FIFOs, in the fault tests): not watched */
	fd = openat(t->cg_fd, "memory.high", O_PATH | O_CLOEXEC | O_NOFOLLOW);
	r = fd < 0 ? negative_errno()
		   : sd_event_add_inotify_fd(m->event, &t->high_watch, fd, IN_MODIFY, on_high_modified, t);
	if (r < 0)
		log_warning_errno(&m->log, r, "Tenant %s: cannot watch memory.high for other writers, ignoring: %m",
				  t->config->name);
	else
		(void) sd_event_source_set_description(t->high_watch, "tenant-memory-high");
}

static void tenant_arm_sources(Manager *m, Tenant *t)
{
	const ControlParams *cp = &m->config->daemon.control;
	_cleanup_close_ int pfd = -EBADF, efd = -EBADF;
	bool use_inotify;
	int r;

	tenant_watch_high(m, t);
	r = cgroup_pressure_trigger_open(m->root, t->cg_fd, cp->psi_full, cp->psi_stall_usec,
					 cp->psi_window_usec, &pfd);
	if (r == -EOPNOTSUPP) {
		/* Not cgroupfs (a test tree): watch memory.pressure with inotify, as memory.events. */
		pfd = openat(t->cg_fd, "memory.pressure", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		r = pfd < 0 ? negative_errno()
			    : sd_event_add_inotify_fd(m->event, &t->pressure_source, pfd, IN_CLOSE_WRITE,
						      on_pressure_inotify, t);
		log_debug_errno(&m->log, r < 0 ? r : 0, "Tenant %s: %s is not cgroupfs, no PSI trigger%s%s",
				t->config->name, m->root->path, r < 0 ? "" : "; a write to memory.pressure stands for one",
				r < 0 ? ": %m" : "");
	} else if (r < 0)
		log_warning_errno(&m->log, r, "Tenant %s: cannot arm PSI trigger on memory.pressure, ignoring: %m",
				  t->config->name);
	else {
		r = sd_event_add_io(m->event, &t->pressure_source, pfd, EPOLLPRI, on_pressure, t);
		if (r < 0)
			log_warning_errno(&m->log, r, "Tenant %s: cannot poll PSI trigger, ignoring: %m", t->config->name);
		else {
			(void) sd_event_source_set_io_fd_own(t->pressure_source, true);
			(void) sd_event_source_set_description(t->pressure_source, "tenant-psi");
			TAKE_FD(pfd);
			t->pressure_trigger = true;
			log_debug(&m->log, "Tenant %s: PSI trigger armed on memory.pressure (%s %" PRIu64 "us per %" PRIu64 "us window)",
				  t->config->name, cp->psi_full ? "full" : "some", cp->psi_stall_usec, cp->psi_window_usec);
		}
	}

	r = cgroup_events_open(m->root, t->cg_fd, &efd, &use_inotify);
	if (r < 0) {
		log_warning_errno(&m->log, r, "Tenant %s: cannot open memory.events, ignoring: %m", t->config->name);
		return;
	}
	(void) cgroup_read_memory_events_fd(efd, &t->events);
	if (use_inotify)
		r = sd_event_add_inotify_fd(m->event, &t->events_source, efd, IN_MODIFY | IN_CLOSE_WRITE,
					    on_events_inotify, t);
	else {
		r = sd_event_add_io(m->event, &t->events_source, efd, EPOLLPRI, on_events_io, t);
		if (r >= 0) {
			(void) sd_event_source_set_io_fd_own(t->events_source, true);
			TAKE_FD(efd);
		}
	}
	if (r < 0)
		log_warning_errno(&m->log, r, "Tenant %s: cannot watch memory.events, ignoring: %m", t->config->name);
	else {
		(void) sd_event_source_set_description(t->events_source, "tenant-memory-events");
		log_debug(&m->log, "Tenant %s: watching memory.events (%s)", t->config->name,
			  use_inotify ? "inotify, not cgroupfs" : "POLLPRI");
	}
}

/*
 * Try to take the tenant's cgroup into management. Returns 1 if ACTIVE, 0 if WAITING (watch armed),
 * negative errno on failure (tenant stays WAITING).
 */
static int tenant_activate(Manager *m, Tenant *t, bool log_waiting)
{
	_cleanup_close_ int fd = -EBADF;
	const TenantConfig *c = t->config;
	uint64_t target, found_high, found_low;
	bool found_has_low;
	char buf[32], lbuf[32], obuf[32], olbuf[32];
	int r;

	if (t->state == TENANT_ACTIVE)
		return 1;
	if (m->stopping)
		return 0; /* restores are being drained: take nothing new */
	/* A removed tenant's restore of this cgroup is still outstanding: ordered after it. */
	if (manager_cgroup_retiring(m, c->cgroup)) {
		log_debug(&m->log, "Tenant %s: cgroup %s is still being restored, taking it afterwards", c->name, c->cgroup);
		return 0;
	}

	r = cgroup_open(m->root, c->cgroup, &fd);
	if (r == -ENOENT && c->template) {
		/* An instance exists for its cgroup only: gone before it could be taken. */
		log_tenant(m, t, LOG_NOTICE, MEMQOSD_MESSAGE_TENANT_RELEASED, NULL, NULL, "cgroup does not exist", NULL,
			   "Tenant %s (instance of template %s) removed: cgroup %s no longer exists", c->name,
			   c->template, c->cgroup);
		t->parent_watch = dir_watch_remove(t->parent_watch);
		t->gone = true;
		(void) sd_event_source_set_enabled(m->instance_sweep, SD_EVENT_ONESHOT);
		return 0;
	}
	if (r == -ENOENT) {
		if (log_waiting)
			log_tenant(m, t, LOG_NOTICE, MEMQOSD_MESSAGE_TENANT_WAITING, NULL, NULL, "cgroup does not exist", NULL,
				   "Tenant %s: cgroup %s does not exist yet, waiting for it", c->name, c->cgroup);
		(void) tenant_watch(m, t, /* waiting= */ true);
		return 0;
	}
	/* Problems below are retried on every event and tick: say them loudly once, then at debug. */
	if (r == -ELOOP || r == -EXDEV) {
		r = log_full_errno(&m->log, t->activation_warned ? LOG_DEBUG : LOG_ERR, r,
				   "%s:%u: Cgroup=: %s escapes the cgroup root %s or goes through a symlink", c->file,
				   c->cgroup_line, c->cgroup, m->root->path);
		t->activation_warned = true;
		return r;
	}
	if (r < 0) {
		r = log_full_errno(&m->log, t->activation_warned ? LOG_DEBUG : LOG_ERR, r,
				   "%s:%u: Cgroup=: cannot open %s beneath %s: %m", c->file, c->cgroup_line, c->cgroup,
				   m->root->path);
		t->activation_warned = true;
		return r;
	}

	r = cgroup_read_u64(fd, "memory.high", &t->original_high);
	if (r < 0) {
		log_full_errno(&m->log, t->activation_warned ? LOG_DEBUG : LOG_WARNING, r,
			       "Tenant %s: cannot read memory.high of %s (memory controller not enabled for it?), "
			       "waiting: %m", c->name, c->cgroup);
		t->activation_warned = true;
		(void) tenant_watch(m, t, /* waiting= */ true);
		return 0;
	}
	r = cgroup_read_u64(fd, "memory.low", &t->original_low);
	t->has_original_low = r >= 0;
	if (r < 0)
		log_debug_errno(&m->log, r, "Tenant %s: cannot read memory.low: %m", c->name);
	r = cgroup_read_u64(fd, "memory.current", &t->current);
	if (r < 0)
		log_debug_errno(&m->log, r, "Tenant %s: cannot read memory.current: %m", c->name);
	r = cgroup_get_id(fd, &t->cgroup_id);
	if (r < 0)
		return log_error_errno(&m->log, r, "Tenant %s: cannot stat cgroup %s: %m", c->name, c->cgroup);

	found_high = t->original_high;
	found_low = t->original_low;
	found_has_low = t->has_original_low;

	/* One fd per cgroup: the writer keeps it, the tenant borrows it (t->cg_fd) while active. */
	r = writer_target_adopt(m->writer, &fd, c->name, t, &t->writer);
	if (r < 0) {
		r = log_full_errno(&m->log, t->activation_warned ? LOG_DEBUG : LOG_WARNING, r,
				   "Tenant %s: cannot set up writes to %s, retrying later: %m", c->name, c->cgroup);
		t->activation_warned = true;
		return r;
	}
	t->cg_fd = writer_target_fd(t->writer);
	t->state = TENANT_ACTIVE;
	t->activation_warned = false;
	t->pressured = false;
	t->last_pressure_usec = 0;

	/* The values found are memqosd's own if a record of the originals survived an unclean exit. */
	tenant_recover_originals(m, t);
	t->high = t->high_submitted = found_high;
	t->low = found_has_low ? found_low : 0;
	tenant_refresh_pressure(t);
	t->high_written = t->recovered && !m->dry_run && found_high != t->original_high;
	t->low_written = t->recovered && !m->dry_run && found_has_low && t->has_original_low &&
			 found_low != t->original_low;

	log_tenant(m, t, LOG_INFO, MEMQOSD_MESSAGE_TENANT_ACTIVE, NULL, cgroup_format_bytes(found_high, buf, sizeof(buf)),
		   "cgroup present", NULL, "Tenant %s: managing cgroup %s (id %" PRIu64 "), memory.high %s as found",
		   c->name, c->cgroup, t->cgroup_id, buf);
	if (t->recovered) {
		cgroup_format_bytes(found_low, lbuf, sizeof(lbuf));
		cgroup_format_bytes(t->original_high, obuf, sizeof(obuf));
		cgroup_format_bytes(t->original_low, olbuf, sizeof(olbuf));
		log_tenant(m, t, LOG_NOTICE, MEMQOSD_MESSAGE_ORIGINALS_RECOVERED, buf, obuf, "recovered after unclean exit", NULL,
			   "Tenant %s: originals recovered after unclean exit from %s/%" PRIu64 ": memory.high %s "
			   "(found %s), memory.low %s (found %s); they are restored on stop",
			   c->name, m->state_dir, t->cgroup_id, obuf, buf, t->has_original_low ? olbuf : "-",
			   found_has_low ? lbuf : "-");
	}
	tenant_record_originals(m, t);

	/* Start-up rule: memory.high is brought into [MemoryHighMin, MemoryHighMax]. */
	target = clamp_high(t->original_high, c);
	if (target != t->high) {
		r = manager_apply_high(m, t, target, "clamp: memory.high found outside [MemoryHighMin, MemoryHighMax]");
		if (t->state != TENANT_ACTIVE)
			return 0;
	}

	if (c->has_memory_low && (!found_has_low || c->memory_low != found_low)) {
		r = manager_apply_low(m, t, c->memory_low, "profile: MemoryLow=");
		if (t->state != TENANT_ACTIVE)
			return 0;
	} else if (!c->has_memory_low && t->low_written) {
		/* A leftover memory.low the profile no longer asks for: back to the original now. */
		(void) manager_apply_low(m, t, t->original_low, "recovered after unclean exit");
	}

	tenant_arm_sources(m, t);
	(void) tenant_watch(m, t, /* waiting= */ false);

	FOREACH_HOOK(m, h)
		if (h->tenant_attach) {
			r = h->tenant_attach(m, t, h->userdata);
			if (r < 0)
				log_warning_errno(&m->log, r, "Tenant %s: attach failed, continuing without: %m", c->name);
			if (t->state != TENANT_ACTIVE)
				break;
		}
	return 1;
}

/* A reload changed the profile of a tenant on the same cgroup. */
static void tenant_reconfigure(Manager *m, Tenant *t, TenantConfig *new)
{
	const TenantConfig *old = t->config;
	uint64_t target;

	t->config = new;
	if (t->state != TENANT_ACTIVE) {
		(void) tenant_activate(m, t, /* log_waiting= */ false);
		return;
	}

	target = clamp_high(t->high, new);
	if (target != t->high) {
		(void) manager_apply_high(m, t, target, "reload: memory.high outside new [MemoryHighMin, MemoryHighMax]");
		if (t->state != TENANT_ACTIVE)
			return;
	}

	if (new->has_memory_low && (!old->has_memory_low || old->memory_low != new->memory_low))
		(void) manager_apply_low(m, t, new->memory_low, "reload: MemoryLow=");
	else if (!new->has_memory_low && t->low_written && t->has_original_low)
		(void) manager_apply_low(m, t, t->original_low, "reload: MemoryLow= removed, back to the value found");
	if (t->state != TENANT_ACTIVE)
		return;

	FOREACH_HOOK(m, h)
		if (h->tenant_changed)
			(void) h->tenant_changed(m, t, old, h->userdata);
}

static bool manager_cgroup_retiring(const Manager *m, const char *cgroup)
{
	for (size_t i = 0; i < m->n_retired; i++)
		if (streq(m->retired[i]->config->cgroup, cgroup))
			return true;
	return false;
}

/* The restores of a retiring tenant are all reported: drop what is left of it. */
static void tenant_finish_retire(Manager *m, Tenant *t)
{
	bool done = !t->restore_failed;

	if (!done) {
		int g = tenant_is_gone(m, t);

		done = g > 0;
	}
	/* Restored (or nothing left to restore): the record has done its job. Else a restart retries. */
	if (done)
		tenant_forget_originals(m, t);
	tenant_deactivate(m, t);

	for (size_t i = 0; i < m->n_retired; i++)
		if (m->retired[i] == t) {
			m->retired[i] = m->retired[--m->n_retired];
			tenant_free(t);
			/* A tenant of the new configuration may have been waiting for this cgroup. */
			for (size_t j = 0; j < m->n_tenants; j++)
				if (m->tenants[j]->state == TENANT_WAITING && !m->tenants[j]->gone &&
				    tenant_activate(m, m->tenants[j], /* log_waiting= */ false) > 0)
					manager_tenants_changed(m);
			return;
		}
}

/*
 * Leave ACTIVE for good (reload removal, stop): detach the policy, then put back what memqosd
 * changed, through the writer, behind (and interrupting) whatever write is in flight. The tenant is
 * retiring until the writer has reported the restores (see tenant_finish_retire()); returns
 * whether it still is. Originals and record stay until then.
 */
static bool tenant_retire(Manager *m, Tenant *t, const char *why)
{
	if (t->state != TENANT_ACTIVE || t->retiring)
		return t->retiring;
	FOREACH_HOOK(m, h)
		if (h->tenant_detach)
			h->tenant_detach(m, t, h->userdata);
	tenant_drop_sources(t);
	t->parent_watch = dir_watch_remove(t->parent_watch);
	if (tenant_own_config(t) < 0 || !(t->retire_reason = strdup(why))) {
		/* Cannot keep the tenant around: keep its record instead, the next start restores. */
		log_error(&m->log, "Tenant %s: out of memory, not restoring now; its state record stays", t->config->name);
		t->recorded = false;
		m->stop_restore_failures += m->stopping;
		tenant_deactivate(m, t);
		return false;
	}
	t->retiring = true;
	t->restores_pending = 0;
	writer_target_interrupt(t->writer); /* being undone: no need to finish its reclaim */
	if (t->high_written) {
		if (tenant_submit(m, t, WRITER_MEMORY_HIGH, WRITER_KIND_RESTORE, t->original_high, why) >= 0)
			t->restores_pending++;
		else {
			t->restore_failed = true;
			m->stop_restore_failures += m->stopping;
		}
	}
	if (t->low_written && t->has_original_low) {
		if (tenant_submit(m, t, WRITER_MEMORY_LOW, WRITER_KIND_RESTORE, t->original_low, why) >= 0)
			t->restores_pending++;
		else {
			t->restore_failed = true;
			m->stop_restore_failures += m->stopping;
		}
	}
	if (t->restores_pending == 0)
		tenant_finish_retire(m, t);
	return t->retiring;
}

Tenant *manager_find_tenant(Manager *m, const char *name)
{
	size_t lo = 0, hi = m->n_tenants;

	/* m->tenants is sorted by name (the order of config->tenants): binary search. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->tenants[mid]->config->name, name);

		if (c == 0)
			return m->tenants[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

Tenant *manager_find_tenant_by_cgroup(Manager *m, const char *cgroup)
{
	for (size_t i = 0; i < m->n_tenants; i++)
		if (!m->tenants[i]->gone && streq(m->tenants[i]->config->cgroup, cgroup))
			return m->tenants[i];
	return NULL;
}

/* Sort tenants (and the pending configs that go with them) by name. */
static void manager_sort_tenants(Tenant **tenants, TenantConfig **pending, size_t n)
{
	/* Insertion sort: the list is sorted but for the instances appended at the end. */
	for (size_t i = 1; i < n; i++) {
		Tenant *t = tenants[i];
		TenantConfig *p = pending[i];
		size_t j = i;

		for (; j > 0 && strcmp(tenants[j - 1]->config->name, t->config->name) > 0; j--) {
			tenants[j] = tenants[j - 1];
			pending[j] = pending[j - 1];
		}
		tenants[j] = t;
		pending[j] = p;
	}
}

/* Take tenant i out of m->tenants (order kept). */
static void manager_unlink_tenant(Manager *m, size_t i)
{
	memmove(m->tenants + i, m->tenants + i + 1, (m->n_tenants - i - 1) * sizeof(*m->tenants));
	m->n_tenants--;
}

static int manager_index_of(const Manager *m, const Tenant *t, size_t *ret)
{
	for (size_t i = 0; i < m->n_tenants; i++)
		if (m->tenants[i] == t) {
			*ret = i;
			return 0;
		}
	return -ENOENT;
}

/* Drop instances whose cgroup went away (deferred: they may be on the stack of whoever noticed). */
static int on_instance_sweep(sd_event_source *s, void *userdata)
{
	Manager *m = userdata;
	size_t j = 0;

	(void) s;
	for (size_t i = 0; i < m->n_tenants; i++) {
		Tenant *t = m->tenants[i];

		if (t->gone && t->state == TENANT_WAITING)
			tenant_free(t);
		else
			m->tenants[j++] = t;
	}
	m->n_tenants = j;
	manager_tenants_changed(m);
	return 0;
}

int manager_add_instance(Manager *m, TenantConfig *c, Tenant **ret)
{
	Tenant *t, *other, **a;
	size_t i, pos;
	int r;

	other = manager_find_tenant(m, c->name);
	if (other && other->gone && manager_index_of(m, other, &i) >= 0) {
		/* A gone instance of the same name not swept yet: its successor takes the place now. */
		manager_unlink_tenant(m, i);
		tenant_free(other);
		other = NULL;
	}
	if (other || manager_find_tenant_by_cgroup(m, c->cgroup)) {
		tenant_config_free(c);
		return -EEXIST;
	}

	a = reallocarray(m->tenants, m->n_tenants + 1, sizeof(*m->tenants));
	if (!a) {
		tenant_config_free(c);
		return -ENOMEM;
	}
	m->tenants = a;
	r = tenant_new(m, c, &t);
	if (r < 0) {
		tenant_config_free(c);
		return r;
	}
	t->own_config = c;

	for (pos = 0; pos < m->n_tenants && strcmp(m->tenants[pos]->config->name, c->name) < 0; pos++)
		;
	memmove(m->tenants + pos + 1, m->tenants + pos, (m->n_tenants - pos) * sizeof(*m->tenants));
	m->tenants[pos] = t;
	m->n_tenants++;

	log_tenant(m, t, LOG_NOTICE, MEMQOSD_MESSAGE_TENANT_ADDED, NULL, NULL, "template instance", NULL,
		   "Tenant %s (instance of template %s, cgroup %s, priority %d) added: its cgroup appeared", c->name,
		   c->template, c->cgroup, c->priority);
	(void) tenant_activate(m, t, /* log_waiting= */ true);
	manager_tenants_changed(m);
	if (ret)
		*ret = t;
	return 0;
}

void manager_remove_instance(Manager *m, Tenant *t, const char *why)
{
	size_t i;

	if (manager_index_of(m, t, &i) < 0)
		return;
	log_tenant(m, t, LOG_NOTICE, MEMQOSD_MESSAGE_TENANT_REMOVED, NULL, NULL, why, NULL,
		   "Tenant %s (instance of template %s, cgroup %s) removed (%s)", t->config->name, t->config->template,
		   t->config->cgroup, why);
	manager_unlink_tenant(m, i);
	if (tenant_retire(m, t, why))
		manager_add_retired(m, t);
	else
		tenant_free(t);
	manager_tenants_changed(m);
}

void manager_reconfigure_instance(Manager *m, Tenant *t, TenantConfig *c)
{
	TenantConfig *old = t->own_config;

	if (tenant_config_equal(old, c)) {
		tenant_config_free(c);
		return;
	}
	t->own_config = c;
	tenant_reconfigure(m, t, c);
	tenant_config_free(old);
}

size_t manager_count_waiting(const Manager *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_tenants; i++)
		if (m->tenants[i]->state == TENANT_WAITING)
			n++;
	return n;
}

void manager_set_mode(Manager *m, const char *mode)
{
	if (streq(m->mode, mode))
		return;
	snprintf(m->mode, sizeof(m->mode), "%s", mode);
	manager_status_changed(m);
}

void manager_status_line(const Manager *m, char *buf, size_t n)
{
	size_t waiting = manager_count_waiting(m);

	snprintf(buf, n, "%zu tenants (%zu active, %zu waiting), mode %s%s", m->n_tenants, m->n_tenants - waiting,
		 waiting, m->mode, m->dry_run ? ", dry-run" : "");
}

static void manager_notify_status(Manager *m, const char *state)
{
	char line[256];

	manager_status_line(m, line, sizeof(line));
	(void) sd_notifyf(false, "%sSTATUS=%s", state ? state : "", line);
	manager_status_changed(m);
}

/* A tenant changed state: STATUS= and the bus properties follow. */
static void manager_tenants_changed(Manager *m)
{
	manager_notify_status(m, NULL);
}

/* READY=1 once the writes of the start or reload are done: what STATUS= and the bus say is written. */
static void notify_ready_when_settled(Manager *m, bool timed_out, void *userdata)
{
	(void) timed_out;
	(void) userdata;
	if (m)
		manager_notify_status(m, "READY=1\n");
}

/* The bus serves the last values read: at activation, and on demand (manager_tenant_observe()). */
static void tenant_refresh_pressure(Tenant *t)
{
	CgroupPressure p;

	t->has_pressure = t->state == TENANT_ACTIVE && cgroup_read_pressure(t->cg_fd, &p) >= 0;
	if (t->has_pressure)
		t->pressure_avg10 = p.some_avg10;
	t->observed_usec = clock_usec(CLOCK_MONOTONIC);
}

void manager_tenant_observe(Tenant *t, uint64_t max_age_usec)
{
	uint64_t v;

	if (t->state != TENANT_ACTIVE || t->retiring || t->cg_fd < 0)
		return;
	if (max_age_usec > 0 && t->observed_usec > 0 && clock_usec(CLOCK_MONOTONIC) - t->observed_usec < max_age_usec)
		return;
	if (cgroup_read_u64(t->cg_fd, "memory.current", &v) >= 0)
		t->current = v;
	tenant_refresh_pressure(t);
}

int manager_tenant_refresh(Manager *m, Tenant *t)
{
	int r;

	if (t->state != TENANT_ACTIVE)
		return 0;
	r = cgroup_read_u64(t->cg_fd, "memory.current", &t->current);
	if (r < 0)
		return tenant_handle_io_error(m, t, r, "read memory.current");
	return 0;
}

static int on_housekeeping(sd_event_source *s, uint64_t usec, void *userdata)
{
	Manager *m = userdata;

	(void) usec;
	for (size_t i = 0; i < m->n_tenants; i++) {
		Tenant *t = m->tenants[i];

		/*
		 * An active tenant costs the tick nothing (issue 12): a removed cgroup is seen by the
		 * watch on its parent directory (an inotify queue overflow reaches every watch) and by
		 * its PSI trigger; the values the bus shows are read when asked for.
		 */
		if (t->state != TENANT_ACTIVE && !t->gone)
			(void) tenant_activate(m, t, /* log_waiting= */ false);
	}
	FOREACH_HOOK(m, h)
		if (h->housekeeping)
			h->housekeeping(m, h->userdata);
	manager_notify_status(m, NULL);

	return sd_event_source_set_time_relative(s, m->config->daemon.control.housekeeping_usec);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	Manager *m = userdata;
	ConfigErrors errors = {};

	(void) s;
	(void) si;
	(void) manager_reload(m, &errors);
	config_errors_clear(&errors);
	return 0;
}

static void apply_daemon_settings(Manager *m)
{
	m->dry_run = m->dry_run_arg || m->config->daemon.dry_run;
	m->log.max_level = m->log_level_arg >= 0 ? m->log_level_arg : m->config->daemon.log_level;
}

static void log_config_errors(Manager *m, const ConfigErrors *e)
{
	for (size_t i = 0; i < e->n; i++)
		log_error(&m->log, "%s", e->lines[i]);
	if (e->n_total > e->n)
		log_error(&m->log, "... and %zu more errors (only the first %zu are shown)", e->n_total - e->n, e->n);
}

/*
 * Checks that need the cgroup root: a Cgroup= that resolves through a symlink or out of the root.
 * Collected like the parser's errors.
 */
static int manager_check_cgroups(Manager *m, const Config *c, ConfigErrors *errors)
{
	int n = 0;

	for (size_t i = 0; i < c->n_tenants; i++) {
		const TenantConfig *tc = c->tenants[i];
		_cleanup_close_ int fd = -EBADF;
		const Tenant *t;
		int r;

		/*
		 * On reload, a tenant keeping its Cgroup= holds that cgroup open, checked when it was
		 * opened: no walk of its path again (issue 12: no per-tenant file I/O for the unchanged).
		 */
		t = m->n_tenants > 0 ? manager_find_tenant(m, tc->name) : NULL;
		if (t && t->state == TENANT_ACTIVE && t->cg_fd >= 0 && streq(t->config->cgroup, tc->cgroup))
			continue;
		r = cgroup_open_existing_ancestor(m->root, tc->cgroup, &fd);
		if (r == -ELOOP || r == -EXDEV) {
			(void) config_errors_add(errors, tc->file, tc->cgroup_line, "Cgroup",
						 "%s resolves through a symlink or out of the cgroup root %s", tc->cgroup,
						 m->root->path);
			n++;
		} else if (r == -ENOTDIR) {
			(void) config_errors_add(errors, tc->file, tc->cgroup_line, "Cgroup",
						 "%s is not a directory under %s", tc->cgroup, m->root->path);
			n++;
		}
	}
	return n > 0 ? -EINVAL : 0;
}

int manager_new(const ManagerOptions *o, Manager **ret)
{
	_cleanup_(manager_freep) Manager *m = NULL;
	int r;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;

	logger_init(&m->log, o->log_level >= 0 ? o->log_level : LOG_INFO);
	m->log_level_arg = o->log_level;
	m->dry_run_arg = o->dry_run;
	m->state_fd = -EBADF;
	if (o->state_dir) {
		m->state_dir_arg = strdup(o->state_dir);
		if (!m->state_dir_arg)
			return -ENOMEM;
	}
	m->config_dir = strdup(o->config_dir ? o->config_dir : MEMQOSD_DEFAULT_CONFIG_DIR);
	if (!m->config_dir)
		return -ENOMEM;
	if (o->cgroup_root) {
		m->cgroup_root_arg = strdup(o->cgroup_root);
		if (!m->cgroup_root_arg)
			return -ENOMEM;
	}
	manager_set_mode(m, "psi-only");

	r = sd_event_default(&m->event);
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to allocate event loop: %m");

	(void) sd_event_set_watchdog(m->event, true);

	r = sd_event_add_signal(m->event, NULL, SIGHUP | SD_EVENT_SIGNAL_PROCMASK, on_sighup, m);
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to watch SIGHUP: %m");
	r = sd_event_set_signal_exit(m->event, true);
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to set up SIGTERM/SIGINT handling: %m");

	r = fdstore_new(&m->log, &m->fdstore);
	if (r < 0)
		return r;

	r = dir_watches_new(m->event, &m->dir_watches);
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to set up directory watches: %m");
	r = writer_new(m->event, &m->log, on_write_done, m, &m->writer);
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to set up the cgroup writer: %m");
	r = sd_event_add_defer(m->event, &m->settle_defer, on_settle_defer, m);
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to add the settle source: %m");
	(void) sd_event_source_set_enabled(m->settle_defer, SD_EVENT_OFF);
	r = sd_event_add_defer(m->event, &m->instance_sweep, on_instance_sweep, m);
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to add the instance sweep source: %m");
	(void) sd_event_source_set_description(m->instance_sweep, "instance-sweep");
	(void) sd_event_source_set_enabled(m->instance_sweep, SD_EVENT_OFF);

	*ret = TAKE_PTR(m);
	return 0;
}

static int manager_open_root(Manager *m)
{
	_cleanup_free_ char *discovered = NULL, *why = NULL;
	const char *path = m->cgroup_root_arg ? m->cgroup_root_arg : m->config->daemon.cgroup_root;
	int r;

	if (!path) {
		r = cgroup_discover_memory_v2(&discovered, &why);
		if (r < 0)
			return log_error_errno(&m->log, r, "Cannot find a cgroup v2 memory controller: %s",
					       why ? why : "unknown error");
		path = discovered;
	} else
		log_info(&m->log, "Using cgroup root %s as given (libcgroup discovery and the cgroup v2 check skipped)", path);

	r = cgroup_root_open(path, &m->root);
	if (r < 0)
		return log_error_errno(&m->log, r, "Cannot open cgroup root %s: %m", path);
	if (!m->root->cgroupfs && !cgroup_fake_root_allowed())
		return log_error_errno(&m->log, -EMEDIUMTYPE,
				       "Cgroup root %s is not a cgroup2 mount (statfs magic), refusing to manage it "
				       "(tests on a fake tree set " CGROUP_FAKE_ROOT_ENV "=1)", path);
	if (!m->root->cgroupfs)
		log_notice(&m->log, "%s is not cgroupfs (" CGROUP_FAKE_ROOT_ENV "=1): PSI triggers disabled, "
			   "memory.events watched with inotify", path);
	return 0;
}

/* The state directory for the originals (src/state.h). Never fatal. */
static void manager_open_state(Manager *m)
{
	int r;

	r = state_dir_path(m->state_dir_arg, &m->state_dir);
	if (r < 0) {
		log_warning_errno(&m->log, r, "Cannot determine the state directory: %m");
		return;
	}
	r = state_dir_open(m->state_dir, &m->state_fd);
	if (r >= 0 && !m->dry_run && faccessat(m->state_fd, ".", W_OK, AT_EACCESS) < 0) {
		r = negative_errno();
		(void) close(TAKE_FD(m->state_fd));
	}
	if (r == -EPERM)
		log_error(&m->log,
			  "Refusing state directory %s: not owned by root (or uid %u), or writable by group or others "
			  "(records there could be forged); continuing without it: the original memory.high/low of "
			  "tenants will not survive an unclean exit", m->state_dir, (unsigned) geteuid());
	else if (r < 0)
		log_warning_errno(&m->log, r,
				  "Cannot use state directory %s, continuing without it: the original memory.high/low "
				  "of tenants will not survive an unclean exit: %m", m->state_dir);
	else
		log_debug(&m->log, "Keeping the original memory.high/low of tenants in %s", m->state_dir);
}

static void manager_add_retired(Manager *m, Tenant *t)
{
	Tenant **a = reallocarray(m->retired, m->n_retired + 1, sizeof(Tenant *));

	if (!a) {
		/* Out of memory: its record stays, the next start restores. */
		t->recorded = false;
		tenant_deactivate(m, t);
		tenant_free(t);
		return;
	}
	m->retired = a;
	m->retired[m->n_retired++] = t;
}

/*
 * Put back the originals of a cgroup no profile manages any more (removed while memqosd was down):
 * a retiring tenant of its own, so that the writes go through the writer like every other and the
 * record is removed only once they are done.
 */
static int manager_restore_orphan(Manager *m, const StateRecord *rec)
{
	_cleanup_close_ int fd = -EBADF;
	TenantConfig c = { .name = (char *) "(no profile)", .file = (char *) "", .cgroup = rec->cgroup };
	Tenant *t = NULL;
	uint64_t id;
	int r;

	r = cgroup_open(m->root, rec->cgroup, &fd);
	if (r >= 0)
		r = cgroup_get_id(fd, &id);
	if (r >= 0 && id != rec->id)
		r = -ENOENT;
	if (cgroup_errno_is_gone(r))
		return state_record_remove(m->state_fd, STATE_RECORD_ORIGINALS, rec->id);
	if (r >= 0 && rec->frozen && manager_thaw_leftover(m, fd, c.name, rec)) {
		StateRecord cleared = *rec;
		int k;

		cleared.frozen = false;
		k = state_record_write(m->state_fd, &cleared);
		if (k < 0)
			log_warning_errno(&m->log, k, "Cannot clear Frozen=yes in state record %s/%" PRIu64 ": %m",
					  m->state_dir, rec->id);
	}
	if (r >= 0)
		r = tenant_new(m, &c, &t);
	if (r >= 0) {
		t->orphan = true;
		r = tenant_own_config(t);
	}
	if (r >= 0)
		r = writer_target_adopt(m->writer, &fd, rec->cgroup, t, &t->writer);
	if (r < 0) {
		tenant_free(t);
		return log_warning_errno(&m->log, r, "Cannot restore the originals of cgroup %s recorded in %s/%" PRIu64
					 ", keeping the record: %m", rec->cgroup, m->state_dir, rec->id);
	}
	t->cg_fd = writer_target_fd(t->writer);
	t->state = TENANT_ACTIVE;
	t->cgroup_id = rec->id;
	t->original_high = rec->high;
	t->original_low = rec->low;
	t->has_original_low = rec->has_low;
	t->recorded = t->recovered = true;
	if (cgroup_read_u64(t->cg_fd, "memory.high", &t->high) < 0)
		t->high = rec->high;
	t->high_submitted = t->high;
	if (cgroup_read_u64(t->cg_fd, "memory.low", &t->low) < 0)
		t->low = 0;
	t->high_written = true;
	t->low_written = rec->has_low;
	if (tenant_retire(m, t, "recovered after unclean exit"))
		manager_add_retired(m, t);
	else
		tenant_free(t);
	return 0;
}

/*
 * At start, after the tenants took their records: the rest were left by an unclean exit. A gone
 * cgroup's record is removed; a cgroup still there gets its originals back.
 */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

/*
 * A storm guard record (src/state.h) of a cgroup no active tenant has: the guard left pids.max, a
 * freeze or stopped processes there and memqosd died, then the profile went. Undone here with the
 * same undo as the guard's own (state_record_undo()); the record goes once that succeeded.
 */
static void manager_sweep_guard_record(Manager *m, uint64_t id)
{
	_cleanup_close_ int fd = -EBADF;
	StateRecord rec = {};
	StateUndo u;
	uint64_t cg_id;
	int r;

	r = state_record_read(m->state_fd, STATE_RECORD_GUARD, id, &rec);
	if (r == -EBADMSG) {
		log_warning(&m->log, "State record %s/guard-%" PRIu64 " is corrupt, removing it", m->state_dir, id);
		(void) state_record_remove(m->state_fd, STATE_RECORD_GUARD, id);
		return;
	}
	if (r < 0) {
		if (r != -ENOENT)
			log_warning_errno(&m->log, r, "Cannot read state record %s/guard-%" PRIu64 ": %m", m->state_dir, id);
		return;
	}
	if (rec.legacy) {
		log_warning(&m->log, "State record %s/guard-%" PRIu64 " (previous release's format) does not say which cgroup "
			    "it is for; keeping it until a tenant with cgroup id %" PRIu64 " is active again", m->state_dir,
			    id, id);
		goto done;
	}
	if (!streq(rec.root, m->root->path)) {
		log_notice(&m->log, "State record %s/guard-%" PRIu64 " is for cgroup root %s, not %s: leaving it alone",
			   m->state_dir, id, rec.root, m->root->path);
		goto done;
	}
	r = cgroup_open(m->root, rec.cgroup, &fd);
	if (r >= 0)
		r = cgroup_get_id(fd, &cg_id);
	if (r >= 0 && cg_id != id)
		r = -ENOENT;
	if (cgroup_errno_is_gone(r)) {
		log_info(&m->log, "Removing state record %s/guard-%" PRIu64 ": cgroup %s is gone", m->state_dir, id, rec.cgroup);
		(void) state_record_remove(m->state_fd, STATE_RECORD_GUARD, id);
		goto done;
	}
	if (r >= 0)
		r = state_record_undo(fd, &rec, &u);
	if (r < 0) {
		log_error_errno(&m->log, r, "Cannot undo what the storm guard left in cgroup %s (state record %s/guard-%"
				PRIu64 "), keeping the record: %m", rec.cgroup, m->state_dir, id);
		goto done;
	}
	log_notice(&m->log, "Undid what the storm guard left in cgroup %s, which no profile manages now (state record "
		   "%s/guard-%" PRIu64 "): %u processes continued, pids.max %s, %s", rec.cgroup, m->state_dir, id,
		   u.continued, u.pids_max > 0 ? "restored" : "untouched", u.thaw > 0 ? "thawed" : "not frozen");
	(void) state_record_remove(m->state_fd, STATE_RECORD_GUARD, id);
done:
	state_record_done(&rec);
}

static void manager_sweep_state(Manager *m)
{
	_cleanup_free_ uint64_t *ids = NULL, *guard_ids = NULL, *claimed = NULL;
	size_t n = 0, n_guard = 0, n_claimed = 0;
	int r;

	if (m->state_fd < 0 || m->dry_run)
		return;
	r = state_list(m->state_fd, STATE_RECORD_ORIGINALS, &ids, &n);
	if (r >= 0)
		r = state_list(m->state_fd, STATE_RECORD_GUARD, &guard_ids, &n_guard);
	if (r < 0) {
		log_warning_errno(&m->log, r, "Cannot list state directory %s: %m", m->state_dir);
		return;
	}
	/* The ids of active tenants, sorted: one lookup per record, not a scan of every tenant. */
	claimed = calloc(m->n_tenants ?: 1, sizeof(*claimed));
	if (!claimed) {
		log_warning_errno(&m->log, -ENOMEM, "Cannot sweep state directory %s: %m", m->state_dir);
		return;
	}
	for (size_t j = 0; j < m->n_tenants; j++)
		if (m->tenants[j]->state == TENANT_ACTIVE)
			claimed[n_claimed++] = m->tenants[j]->cgroup_id;
	qsort(claimed, n_claimed, sizeof(*claimed), cmp_u64);

	/* Active tenants' guard records were undone when they attached (src/guard.c). */
	for (size_t i = 0; i < n_guard; i++)
		if (!bsearch(&guard_ids[i], claimed, n_claimed, sizeof(*claimed), cmp_u64))
			manager_sweep_guard_record(m, guard_ids[i]);

	for (size_t i = 0; i < n; i++) {
		StateRecord rec = {};

		if (bsearch(&ids[i], claimed, n_claimed, sizeof(*claimed), cmp_u64))
			continue;

		r = state_record_read(m->state_fd, STATE_RECORD_ORIGINALS, ids[i], &rec);
		if (r == -EBADMSG) {
			log_warning(&m->log, "State record %s/%" PRIu64 " is corrupt, removing it", m->state_dir, ids[i]);
			(void) state_record_remove(m->state_fd, STATE_RECORD_ORIGINALS, ids[i]);
			continue;
		}
		if (r < 0) {
			if (r != -ENOENT)
				log_warning_errno(&m->log, r, "Cannot read state record %s/%" PRIu64 ": %m", m->state_dir, ids[i]);
			continue;
		}
		r = state_record_cgroup_exists(&rec);
		if (r == 0) {
			log_info(&m->log, "Removing state record %s/%" PRIu64 ": cgroup %s/%s is gone", m->state_dir, ids[i],
				 rec.root, rec.cgroup);
			(void) state_record_remove(m->state_fd, STATE_RECORD_ORIGINALS, ids[i]);
		} else if (r > 0 && streq(rec.root, m->root->path))
			(void) manager_restore_orphan(m, &rec);
		else if (r > 0)
			log_notice(&m->log, "State record %s/%" PRIu64 " is for cgroup root %s, not %s: leaving it alone",
				   m->state_dir, ids[i], rec.root, m->root->path);
		else
			log_warning_errno(&m->log, r, "Cannot check cgroup %s/%s of state record %s/%" PRIu64 ": %m",
					  rec.root, rec.cgroup, m->state_dir, ids[i]);
		state_record_done(&rec);
	}
}

int manager_start(Manager *m)
{
	ConfigErrors errors = {};
	char line[256];
	uint64_t t0 = clock_usec(CLOCK_MONOTONIC), t_conf, t_cg, t_act;
	int r;

	r = config_load(m->config_dir, &m->config, &errors);
	if (r < 0) {
		log_config_errors(m, &errors);
		config_errors_clear(&errors);
		return log_error_errno(&m->log, r, "Configuration in %s is invalid, not starting", m->config_dir);
	}
	apply_daemon_settings(m);
	writer_set_timeout(m->writer, m->config->daemon.control.write_timeout_usec);

	r = manager_open_root(m);
	if (r < 0)
		return r;

	t_conf = clock_usec(CLOCK_MONOTONIC);
	r = manager_check_cgroups(m, m->config, &errors);
	if (r < 0) {
		log_config_errors(m, &errors);
		config_errors_clear(&errors);
		return log_error_errno(&m->log, r, "Configuration in %s is invalid, not starting", m->config_dir);
	}
	t_cg = clock_usec(CLOCK_MONOTONIC);

	m->tenants = calloc(m->config->n_tenants ? m->config->n_tenants : 1, sizeof(Tenant *));
	if (!m->tenants)
		return -ENOMEM;
	for (size_t i = 0; i < m->config->n_tenants; i++) {
		if (m->config->tenants[i]->is_template)
			continue; /* instances come from src/instances.c (config_applied) */
		r = tenant_new(m, m->config->tenants[i], &m->tenants[m->n_tenants]);
		if (r < 0)
			return r;
		m->n_tenants++;
	}
	manager_open_state(m);
	for (size_t i = 0; i < m->n_tenants; i++) {
		(void) tenant_activate(m, m->tenants[i], /* log_waiting= */ true);
		/*
		 * sd-event keeps a copy of the fd of every inode newly watched with inotify until its loop
		 * next prepares: one loop iteration per batch, or thousands of tenants run out of fds.
		 */
		if ((i + 1) % MANAGER_START_BATCH == 0)
			(void) sd_event_run(m->event, 0);
	}
	t_act = clock_usec(CLOCK_MONOTONIC);
	FOREACH_HOOK(m, h)
		if (h->config_applied)
			h->config_applied(m, NULL, h->userdata);
	manager_sweep_state(m);
	FOREACH_HOOK(m, h)
		if (h->started)
			h->started(m, h->userdata);
	/* Where start-up went (bench/daemon prints it beside its start-up figure; issue 12). */
	log_info(&m->log, "Start-up took %" PRIu64 " ms: configuration %" PRIu64 " ms, cgroup checks %" PRIu64
		 " ms, %zu tenants activated in %" PRIu64 " ms, state sweep and start hooks %" PRIu64 " ms",
		 (clock_usec(CLOCK_MONOTONIC) - t0) / 1000, (t_conf - t0) / 1000, (t_cg - t_conf) / 1000, m->n_tenants,
		 (t_act - t_cg) / 1000, (clock_usec(CLOCK_MONOTONIC) - t_act) / 1000);

	r = sd_event_add_time_relative(m->event, &m->housekeeping, CLOCK_MONOTONIC,
				       m->config->daemon.control.housekeeping_usec, USEC_PER_SEC, on_housekeeping, m);
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to add housekeeping timer: %m");
	(void) sd_event_source_set_description(m->housekeeping, "housekeeping");
	(void) sd_event_source_set_enabled(m->housekeeping, SD_EVENT_ON);

	manager_status_line(m, line, sizeof(line));
	{
		char f_mode[64], f_dir[512];
		const char *fields[] = { f_mode, f_dir, m->dry_run ? "MEMQOSD_DRY_RUN=1" : NULL, NULL };

		snprintf(f_mode, sizeof(f_mode), "MEMQOSD_MODE=%s", m->mode);
		snprintf(f_dir, sizeof(f_dir), "MEMQOSD_CONFIG_DIR=%s", m->config_dir);
		log_struct(&m->log, LOG_INFO, MEMQOSD_MESSAGE_START, fields, "memqosd started: %s, cgroup root %s", line,
			   m->root->path);
	}
	(void) manager_when_settled(m, notify_ready_when_settled, NULL);
	return 0;
}

int manager_reload(Manager *m, ConfigErrors *ret_errors)
{
	Config *new = NULL, *old;
	ConfigDiff diff = {};
	Tenant **tenants = NULL;
	TenantConfig **pending = NULL;
	size_t n = 0;
	uint64_t t0 = clock_usec(CLOCK_MONOTONIC), t_conf;
	int r;

	(void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=Reloading configuration", clock_usec(CLOCK_MONOTONIC));
	log_info(&m->log, "Reloading configuration from %s", m->config_dir);

	r = config_load(m->config_dir, &new, ret_errors);
	if (r >= 0) {
		r = manager_check_cgroups(m, new, ret_errors);
		if (r < 0)
			new = config_free(new);
	}
	if (r >= 0 && new->daemon.cgroup_root && !m->cgroup_root_arg &&
	    (!m->config->daemon.cgroup_root || !streq(new->daemon.cgroup_root, m->config->daemon.cgroup_root)))
		log_warning(&m->log, "CgroupRoot= changed; it takes effect when memqosd restarts");
	if (r >= 0 && (!new->daemon.metrics_listen != !m->config->daemon.metrics_listen ||
		       (new->daemon.metrics_listen && !streq(new->daemon.metrics_listen, m->config->daemon.metrics_listen))))
		log_warning(&m->log, "[Metrics] Listen= changed; it takes effect when memqosd restarts");
	if (r >= 0)
		r = config_diff(m->config, new, &diff);
	t_conf = clock_usec(CLOCK_MONOTONIC);

	if (r < 0) {
		char f_n[32];
		const char *fields[] = { f_n, NULL };

		config_free(new);
		m->n_reloads_refused++;
		log_config_errors(m, ret_errors);
		snprintf(f_n, sizeof(f_n), "MEMQOSD_ERRORS=%zu", ret_errors->n_total);
		log_struct(&m->log, LOG_ERR, MEMQOSD_MESSAGE_RELOAD_REFUSED, fields,
			   "Reload refused: %zu error(s) in the configuration; still running on the previous one",
			   ret_errors->n_total);
		manager_notify_status(m, "READY=1\n");
		return r < 0 ? r : -EINVAL;
	}

	tenants = calloc(new->n_tenants + m->n_tenants + 1, sizeof(Tenant *));
	pending = calloc(new->n_tenants + m->n_tenants + 1, sizeof(TenantConfig *));
	if (!tenants || !pending) {
		free(tenants);
		free(pending);
		config_free(new);
		config_diff_clear(&diff);
		manager_notify_status(m, "READY=1\n");
		return -ENOMEM;
	}

	/* Switch to the new configuration; the old one stays alive until every tenant moved over. */
	old = m->config;
	m->config = new;
	apply_daemon_settings(m);
	writer_set_timeout(m->writer, new->daemon.control.write_timeout_usec);

	/* Removed tenants, and changed ones that moved to another cgroup: restore and drop. */
	for (size_t i = 0; i < m->n_tenants; i++) {
		Tenant *t = m->tenants[i];
		const TenantConfig *nc = config_find_tenant(new, t->config->name);

		if (t->config->template)
			continue; /* instances follow their template: src/instances.c (config_applied) */
		if (nc && !nc->is_template && streq(nc->cgroup, t->config->cgroup))
			continue;
		log_tenant(m, t, LOG_NOTICE, MEMQOSD_MESSAGE_TENANT_REMOVED, NULL, NULL,
			   nc ? "Cgroup= changed" : "profile removed", NULL, "Tenant %s (cgroup %s) removed by reload%s",
			   t->config->name, t->config->cgroup, nc ? " (Cgroup= changed, re-added below)" : "");
		m->tenants[i] = NULL;
		if (tenant_retire(m, t, nc ? "reload: Cgroup= changed" : "reload: profile removed"))
			manager_add_retired(m, t);
		else
			tenant_free(t);
	}

	/*
	 * Build the new list in the new config's order. Both lists are sorted by name (m->tenants by
	 * manager_sort_tenants(), new->tenants by config_load()): one merge pass, not a scan per profile.
	 */
	for (size_t i = 0, j = 0; i < new->n_tenants; i++) {
		TenantConfig *nc = new->tenants[i];
		Tenant *t = NULL;
		int cmp = 1;

		if (nc->is_template)
			continue;
		for (; j < m->n_tenants; j++)
			if (m->tenants[j] && (cmp = strcmp(m->tenants[j]->config->name, nc->name)) >= 0)
				break;
		if (j < m->n_tenants && cmp == 0)
			t = TAKE_PTR(m->tenants[j]);
		if (t) {
			/* Changed profiles are applied once the new list is in place (hooks may walk it). */
			if (tenant_config_equal(t->config, nc))
				t->config = nc;
			else
				pending[n] = nc;
		} else {
			r = tenant_new(m, nc, &t);
			if (r < 0) {
				log_error_errno(&m->log, r, "Tenant %s: cannot allocate: %m", nc->name);
				continue;
			}
			log_tenant(m, t, LOG_NOTICE, MEMQOSD_MESSAGE_TENANT_ADDED, NULL, NULL, "reload", NULL,
				   "Tenant %s (cgroup %s, priority %d) added by reload", nc->name, nc->cgroup, nc->priority);
		}
		tenants[n++] = t;
	}
	/* Instances stay (their configs are their own); then the whole list back in name order. */
	for (size_t j = 0; j < m->n_tenants; j++)
		if (m->tenants[j]) {
			pending[n] = NULL;
			tenants[n++] = TAKE_PTR(m->tenants[j]);
		}
	manager_sort_tenants(tenants, pending, n);

	free(m->tenants);
	m->tenants = tenants;
	m->n_tenants = n;
	for (size_t i = 0; i < n; i++)
		if (pending[i])
			tenant_reconfigure(m, tenants[i], pending[i]);
	free(pending);
	FOREACH_HOOK(m, h)
		if (h->config_applied)
			h->config_applied(m, old, h->userdata);
	config_free(old);

	for (size_t i = 0; i < m->n_tenants; i++)
		if (m->tenants[i]->state == TENANT_WAITING && !m->tenants[i]->gone)
			(void) tenant_activate(m, m->tenants[i], /* log_waiting= */ true);

	m->n_reloads++;
	{
		char f_a[32], f_r[32], f_c[32];
		const char *fields[] = { f_a, f_r, f_c, NULL };

		snprintf(f_a, sizeof(f_a), "MEMQOSD_ADDED=%zu", diff.n_added);
		snprintf(f_r, sizeof(f_r), "MEMQOSD_REMOVED=%zu", diff.n_removed);
		snprintf(f_c, sizeof(f_c), "MEMQOSD_CHANGED=%zu", diff.n_changed);
		log_struct(&m->log, LOG_INFO, MEMQOSD_MESSAGE_RELOAD_OK, fields,
			   "Reloaded configuration: %zu added, %zu removed, %zu changed (%" PRIu64 " ms: read and "
			   "checked in %" PRIu64 " ms, applied in %" PRIu64 " ms)", diff.n_added, diff.n_removed,
			   diff.n_changed, (clock_usec(CLOCK_MONOTONIC) - t0) / 1000, (t_conf - t0) / 1000, (clock_usec(CLOCK_MONOTONIC) - t_conf) / 1000);
	}
	config_diff_clear(&diff);
	(void) sd_event_source_set_time_relative(m->housekeeping, m->config->daemon.control.housekeeping_usec);
	(void) manager_when_settled(m, notify_ready_when_settled, NULL);
	return 0;
}

/* Removed tenants whose restore waits to be retried: now, once (stopping: no more retries). */
static void manager_retry_restores_once(Manager *m)
{
	for (bool again = true; again;) {
		again = false; /* a retry may finish a tenant and reorder m->retired: rescan */
		for (size_t i = 0; i < m->n_retired && !again; i++)
			for (size_t f = 0; f < _WRITER_FILE_MAX && !again; f++)
				if (m->retired[i]->retry_source[f]) {
					(void) on_restore_retry(m->retired[i]->retry_source[f], 0, m->retired[i]);
					again = true;
				}
	}
}

/*
 * A stop for a restart (systemctl restart, a package upgrade; m->handover): the policies stay
 * attached in the fd store and memory.high/low stay as they are, with their records, for the next
 * start, which adopts both. Anything else (stop, shutdown, no store) detaches and restores.
 */
void manager_stop(Manager *m)
{
	size_t n_kept = 0;

	m->handover = !m->stopping && fdstore_stop_is_restart(m->fdstore) > 0;
	(void) sd_notify(false, m->handover ? "STOPPING=1\nSTATUS=Restarting: policies and memory.high/low stay for the next start"
					    : "STOPPING=1\nSTATUS=Restoring memory.high/low and exiting");

	/* Every restore is queued behind (and interrupts) the write in flight of its cgroup, then
	 * waited for: each write is bounded by WriteTimeoutSec=. */
	m->stopping = true;
	manager_retry_restores_once(m);
	for (size_t i = 0; i < m->n_tenants; i++)
		if (m->handover) {
			n_kept += m->tenants[i]->state == TENANT_ACTIVE;
			tenant_deactivate(m, m->tenants[i]); /* detach hooks hand over; no restore, the record stays */
		} else
			(void) tenant_retire(m, m->tenants[i], "daemon stopping");
	if (m->writer)
		writer_drain(m->writer);
	for (size_t i = 0; i < m->n_tenants; i++)
		m->tenants[i] = tenant_free(m->tenants[i]);
	m->n_tenants = 0;
	for (size_t i = 0; i < m->n_retired; i++)
		m->retired[i] = tenant_free(m->retired[i]);
	m->n_retired = 0;

	if (m->handover)
		log_struct(&m->log, LOG_INFO, MEMQOSD_MESSAGE_STOP, NULL,
			   "memqosd stopped for a restart: %zu tenant(s) keep their policies (in systemd's fd store) and "
			   "memory.high/low for the next start", n_kept);
	else if (m->stop_restore_failures > 0)
		log_struct(&m->log, LOG_WARNING, MEMQOSD_MESSAGE_STOP, NULL,
			   "memqosd stopped; %u restore(s) failed, their state records are kept for the next start",
			   m->stop_restore_failures);
	else
		log_struct(&m->log, LOG_INFO, MEMQOSD_MESSAGE_STOP, NULL, "memqosd stopped; every changed memory.high/low restored");
}

int manager_run(Manager *m)
{
	int r;

	r = sd_event_loop(m->event);
	if (r < 0)
		log_error_errno(&m->log, r, "Event loop failed: %m");
	manager_stop(m);
	return r;
}

Manager *manager_free(Manager *m)
{
	if (!m)
		return NULL;

	for (size_t i = 0; i < m->n_tenants; i++)
		tenant_free(m->tenants[i]);
	free(m->tenants);
	for (size_t i = 0; i < m->n_retired; i++)
		tenant_free(m->retired[i]);
	free(m->retired);
	dir_watches_free(m->dir_watches);
	/* After the tenants (they unlink their targets): interrupts and joins every writer thread. */
	writer_free(m->writer);
	fdstore_free(m->fdstore);
	while (m->settle_waiters) {
		SettleWaiter *w = m->settle_waiters;

		m->settle_waiters = w->next;
		w->cb(NULL, true, w->userdata);
		free(w);
	}
	sd_event_source_disable_unref(m->settle_timer);
	sd_event_source_disable_unref(m->settle_defer);
	sd_event_source_disable_unref(m->housekeeping);
	sd_event_source_disable_unref(m->instance_sweep);
	sd_event_unref(m->event);
	config_free(m->config);
	cgroup_root_free(m->root);
	free(m->config_dir);
	free(m->cgroup_root_arg);
	free(m->state_dir_arg);
	free(m->state_dir);
	if (m->state_fd >= 0)
		(void) close(m->state_fd);
	free(m);
	return NULL;
}
