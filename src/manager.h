/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The Manager: one sd-event loop, the loaded Config and one Tenant per profile. The D-Bus API (src/bus.h)
 * and the other faces are modules on its hook table; the manager calls none of them directly.
 *
 * Tenant lifecycle:
 *   WAITING  cgroup does not exist (yet): an inotify watch on its deepest existing ancestor (and every
 *            reload) retries; when it appears the tenant becomes ACTIVE.
 *   ACTIVE   cgroup open (fd beneath the root), memory.high/low recorded as found (original_*), memory.high
 *            brought into [MemoryHighMin, MemoryHighMax] (start-up rule, reason "clamp"), MemoryLow=
 *            written if configured; PSI trigger + memory.events watch armed; on cgroupfs memory.high
 *            is watched too (IN_MODIFY): a value another writer sets is taken as found and clamped.
 *   released: the cgroup vanished (ENOENT/ENODEV on I/O, or removed from its parent dir): logged,
 *            sources dropped, nothing to restore; the tenant goes back to WAITING.
 *   removed (by reload) / daemon stop: everything memqosd changed is restored to original_*: the
 *            tenant is "retiring" until the writer has reported every restore write (reload: it
 *            leaves the list for m->retired meanwhile; stop: writer_drain() waits). Its originals
 *            and state record are kept until then, and dropped only if every restore succeeded (or
 *            the cgroup is gone); a failed restore keeps the record, so the next start retries.
 *            A cgroup with a retiring tenant is not taken again until that tenant is done.
 *
 * Every memory.high/memory.low write goes through the writer (src/writer.h), off the loop: a
 * write is *submitted* (high_written / low_written set: a restore is due from then on, even while
 * it is in flight) and *completed* later (t->high / t->low updated, the journal record logged).
 * Only ENOENT/ENODEV on I/O, confirmed by the cgroup's path no longer leading to the same
 * directory, mean "gone"; any other error (EMFILE, ENOMEM, ...) is transient: the tenant keeps its
 * originals, record and watches, and the next event or tick retries.
 *
 * Originals survive an unclean exit (src/state.h): on activation the originals are written to a
 * record in the state directory, or, if a record for this cgroup id and path is already there (a
 * previous memqosd died without restoring), taken from it instead of the values found (which are
 * then that memqosd's leftovers; logged with reason "recovered after unclean exit"). The record is
 * removed once restored, or when the cgroup vanished. At start, records whose cgroup is gone are
 * removed and those of cgroups no profile manages any more are restored and removed.
 *
 * Hook points for the modules (the control loop, the OOM forecast): see ManagerHooks,
 * manager_add_hooks(), manager_apply_high(), manager_set_mode(), Tenant.policy_data/risk_data.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "cgroup.h"
#include "config.h"
#include "log.h"
#include "util.h"
#include "writer.h"

/* A restore that fails for a transient reason while the daemon runs on is retried this often. */
#define MANAGER_RESTORE_RETRIES 3

/* Tenants activated at start between two iterations of the loop (see manager_start()). */
#define MANAGER_START_BATCH 512

typedef struct Manager Manager;

typedef enum TenantState {
	TENANT_WAITING,
	TENANT_ACTIVE,
	_TENANT_STATE_MAX,
	_TENANT_STATE_INVALID = -22,
} TenantState;

const char *tenant_state_to_string(TenantState s);

/*
 * What status/D-Bus show for a tenant: its state, except "no-policy" for an ACTIVE tenant whose
 * profile asks for a BPF policy it could not get (tenant ids exhausted, the policy failed to load or
 * attach). Such a tenant is still squeezed and relaxed on PSI and memory.events, but the kernel side
 * (throttling, protection, charge events) is missing, and that must not look like "active".
 */
#define TENANT_STATE_NO_POLICY "no-policy"
typedef struct Tenant Tenant;
const char *tenant_state_describe(const Tenant *t);

struct Tenant {
	Manager *manager;
	TenantConfig *config;        /* borrowed from manager->config; replaced on reload */
	TenantState state;
	bool activation_warned;      /* a WAITING tenant's activation problem was logged loudly once */
	bool no_policy;              /* ACTIVE without the BPF policy its profile asks for (set by the policy code) */
	bool gone;                   /* a template instance whose cgroup went away: dropped by the next sweep */

	/* ACTIVE only */
	int cg_fd;                   /* O_DIRECTORY fd of the tenant's cgroup, beneath the root */
	uint64_t cgroup_id;          /* inode of the cgroup directory (= kernel cgroup id on cgroupfs) */
	uint64_t original_high;      /* memory.high as found when the tenant became active (or as recorded, if recovered) */
	uint64_t original_low;       /* memory.low as found */
	bool has_original_low;       /* memory.low was readable */
	bool high_written;           /* memqosd wrote memory.high since activation: restore on stop */
	bool low_written;            /* memqosd wrote memory.low: restore on stop */
	bool recorded;               /* originals are in the state directory (ours to remove once restored) */
	bool recovered;              /* originals came from a record left by an unclean exit */
	bool frozen_marked;          /* the record on disk says Frozen=yes (paused round in flight) */
	bool pause_unmarked_warned;  /* told that a crash inside a pause would leave it frozen */
	unsigned paused_pending;     /* WRITER_KIND_CONTINUE_PAUSED writes submitted, not yet reported */
	uint64_t high;               /* memory.high as memqosd last wrote (completed)/read it (intended value in dry-run) */
	uint64_t high_submitted;     /* the last memory.high handed to the writer (= high when idle) */
	uint64_t low;                /* memory.low as last written (completed) or read */
	uint64_t current;            /* memory.current at the last read */
	unsigned pressure_avg10;     /* memory.pressure some avg10 (hundredths of %) at the last read */
	bool has_pressure;           /* pressure_avg10 is valid */
	uint64_t observed_usec;      /* CLOCK_MONOTONIC of the last read of both (manager_tenant_observe()) */
	WriterTarget *writer;        /* this cgroup in the writer (ACTIVE and retiring) */

	/* Retiring (removed by reload / stop, restore writes outstanding) */
	bool retiring;
	bool orphan;                 /* not a profile's: a record's cgroup no profile manages any more */
	bool restore_failed;         /* a restore write failed for another reason than a gone cgroup */
	unsigned restores_pending;
	unsigned restore_retries;    /* of a failed restore write, while the daemon runs on (reload) */
	sd_event_source *retry_source[_WRITER_FILE_MAX]; /* a failed restore write is tried again */
	char *retire_reason;
	TenantConfig *own_config;    /* copy of the profile, for a tenant that outlives its Config */
	CgroupMemoryEvents events;   /* last memory.events read */
	bool pressure_trigger;       /* a PSI trigger is armed */
	bool pressured;              /* PSI trigger fired since the controller last cleared it */
	uint64_t last_pressure_usec; /* CLOCK_MONOTONIC of the last trigger; 0 = never */

	sd_event_source *pressure_source;  /* POLLPRI on the memory.pressure trigger fd */
	sd_event_source *events_source;    /* POLLPRI / inotify on memory.events */
	struct DirWatch *parent_watch;     /* inotify on parent (ACTIVE: vanish) or ancestor (WAITING) */
	sd_event_source *high_watch;       /* inotify IN_MODIFY on memory.high: another writer (cgroupfs only) */

	void *policy_data;           /* owned by the controller/policy code through ManagerHooks */
	void *risk_data;             /* owned by the OOM forecast (src/risk.c) through ManagerHooks */
};

struct memqosd_event;

/*
 * Callbacks into the policy/control code. All optional. Called on the event loop.
 * tenant_attach: the tenant became ACTIVE (cgroup open, originals recorded, clamped); return <0 to log
 *   a warning (the tenant stays active without policy).
 * tenant_detach: before the tenant leaves ACTIVE (release, removal, stop); restore happens after.
 * tenant_changed: a reload changed the profile of an ACTIVE tenant (same cgroup); old is still valid
 *   during the call.
 * pressure: the PSI trigger fired (t->pressured, t->last_pressure_usec set).
 * events: memory.events changed (t->events updated; old counters in prev).
 * housekeeping: the slow tick. It reads no file of an active tenant (issue 12: idle cost independent
 *   of the number of quiet tenants): a hook that needs fresh values reads them itself.
 * policy_event: a BPF ring-buffer record about the tenant, passed on by whoever owns the policies
 *   (manager_policy_event()).
 * Several modules may register a table each (manager_add_hooks()); they are called in the order
 * they were added.
 * written: a write submitted with manager_apply_high()/manager_reclaim_more() completed (t->high
 *   already updated on success); not called for restores or for a tenant that left ACTIVE.
 * config_applied: a configuration was put in place: at start (old = NULL; after the profiles'
 *   tenants were activated, before stale state records are swept) and after every reload that was
 *   applied (old still valid during the call; the profiles' tenants are already updated).
 * started: manager_start() took every tenant it could (what was handed over and nobody claimed can go).
 * status_changed: the mode, the tenant count or states, dry-run or the reload count changed (what
 *   STATUS= and the bus properties show).
 * On a stop for a restart (m->handover) tenant_detach is called as on any stop; the policy code
 *   leaves its kernel objects to the fd store then, and the manager restores nothing.
 */
typedef struct ManagerHooks {
	int (*tenant_attach)(Manager *m, Tenant *t, void *userdata);
	void (*tenant_detach)(Manager *m, Tenant *t, void *userdata);
	int (*tenant_changed)(Manager *m, Tenant *t, const TenantConfig *old, void *userdata);
	void (*pressure)(Manager *m, Tenant *t, void *userdata);
	void (*events)(Manager *m, Tenant *t, const CgroupMemoryEvents *prev, void *userdata);
	void (*housekeeping)(Manager *m, void *userdata);
	void (*policy_event)(Manager *m, Tenant *t, const struct memqosd_event *ev, void *userdata);
	void (*written)(Manager *m, Tenant *t, const WriterCompletion *c, void *userdata);
	void (*config_applied)(Manager *m, const Config *old, void *userdata);
	void (*started)(Manager *m, void *userdata);
	void (*status_changed)(Manager *m, void *userdata);
	void *userdata;
} ManagerHooks;

#define MANAGER_HOOKS_MAX 16

typedef struct ManagerOptions {
	const char *config_dir;      /* NULL = MEMQOSD_DEFAULT_CONFIG_DIR */
	const char *cgroup_root;     /* --cgroup-root; NULL = config's CgroupRoot= or libcgroup discovery */
	bool dry_run;                /* --dry-run (ORed with DryRun=) */
	int log_level;               /* --log-level; -1 = from config */
	const char *state_dir;       /* --state-dir; NULL = $RUNTIME_DIRECTORY or MEMQOSD_DEFAULT_STATE_DIR */
} ManagerOptions;

struct Manager {
	Logger log;
	sd_event *event;

	char *config_dir;
	char *cgroup_root_arg;
	bool dry_run_arg;
	int log_level_arg;
	char *state_dir_arg;

	char *state_dir;             /* where the originals are kept (src/state.h) */
	int state_fd;                /* its fd; -EBADF: not usable, originals are not persisted */

	Config *config;
	bool dry_run;
	CgroupRoot *root;

	Tenant **tenants;            /* profiles (config->tenants without the templates) and template instances, sorted by name */
	size_t n_tenants;
	Tenant **retired;            /* removed by a reload, restore writes still outstanding */
	size_t n_retired;

	Writer *writer;              /* the one path for memory.high/low writes */
	struct DirWatches *dir_watches; /* the tenants' parent/ancestor watches, shared per directory */
	struct FdStore *fdstore;     /* systemd's file-descriptor store (src/fdstore.h) */
	bool handover;               /* stopping for a restart: policies and values stay for the next start */
	bool stopping;               /* manager_stop() runs: a failed restore is not retried (the record is) */
	unsigned stop_restore_failures; /* restores that failed during manager_stop() (records kept) */
	struct SettleWaiter *settle_waiters; /* see manager_when_settled() */
	sd_event_source *settle_timer;
	sd_event_source *settle_defer;   /* after a completion: are the waiters' writes done? */

	sd_event_source *housekeeping;
	sd_event_source *instance_sweep; /* drops template instances whose cgroup went away */
	uint64_t n_reloads;
	uint64_t n_reloads_refused;  /* reloads whose configuration had errors (the old one kept running) */
	char mode[16];               /* "psi-only"; the policy loader sets "struct_ops" / "tracing" */

	ManagerHooks hooks[MANAGER_HOOKS_MAX];
	size_t n_hooks;
};

/* Register a module's hooks (copied); -ENOSPC beyond MANAGER_HOOKS_MAX. */
int manager_add_hooks(Manager *m, const ManagerHooks *h);
/* Unregister the table(s) with this userdata. */
void manager_remove_hooks(Manager *m, const void *userdata);
/* Pass a BPF record about t to every module's policy_event hook. */
void manager_policy_event(Manager *m, Tenant *t, const struct memqosd_event *ev);

int manager_new(const ManagerOptions *o, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Load config, open the cgroup root, set up tenants, call the started hooks (the bus connects), READY=1. */
int manager_start(Manager *m);
/* Run the loop until SIGTERM/SIGINT; then restore everything. Returns the loop's exit code. */
int manager_run(Manager *m);
/* Restore every ACTIVE tenant's memory.high/low and drop all tenants (called by manager_run()). */
void manager_stop(Manager *m);

/*
 * Reload: load and validate the whole configuration; on error keep the old one untouched, log
 * every error and return -EINVAL with the errors in *ret_errors (caller clears). On success apply
 * the difference. Sends RELOADING=1/READY=1.
 */
int manager_reload(Manager *m, ConfigErrors *ret_errors);

/*
 * The one place memory.high is written: handed to the writer (off the loop, bounded by
 * WriteTimeoutSec=, ordered per cgroup, superseding a queued write). Returns once submitted;
 * on completion the manager logs a MEMQOSD_MESSAGE_HIGH_CHANGED record (tenant, cgroup, old, new,
 * reason), updates t->high and calls hooks.written; a vanished cgroup releases the tenant then.
 * Dry-run: logs "Would change" and updates t->high at once, writes nothing. -ENOENT if the tenant
 * is not ACTIVE (or retiring).
 */
int manager_apply_high(Manager *m, Tenant *t, uint64_t new_high, const char *reason);
/*
 * Write the same memory.high again (another bounded round of reclaim, see
 * controller_reclaim_after_write()); paused: with the tenant's cgroup frozen while it runs. No record
 * of a change (the value does not change); the caller logs a paused round.
 */
int manager_reclaim_more(Manager *m, Tenant *t, uint64_t high, const char *reason, bool paused);
/* Same for memory.low (MEMQOSD_MESSAGE_LOW_CHANGED on completion). */
int manager_apply_low(Manager *m, Tenant *t, uint64_t new_low, const char *reason);
/*
 * Ask the kernel to reclaim bytes from the tenant (memory.reclaim), through the writer like every
 * write: off the loop, bounded by WriteTimeoutSec=, a queued one superseded by a newer one. Nothing
 * to restore, no record; hooks.written gets the completion (result -EAGAIN: the kernel reclaimed
 * less; -EINTR: interrupted at the timeout). -EROFS in dry-run (nothing is written), -ENOENT if the
 * tenant is not ACTIVE.
 */
int manager_reclaim(Manager *m, Tenant *t, uint64_t bytes, const char *reason);
/* A write of this tenant is queued or in flight. */
bool manager_tenant_busy(const Tenant *t);
/* Wait (blocking, bounded by the writer's timeouts) until every submitted write completed. Tests. */
void manager_settle(Manager *m);
/*
 * Call cb once the writes submitted so far have completed (at once if none is outstanding), or
 * after 2 x WriteTimeoutSec at the latest (the control loop may keep a tenant busy). On the loop.
 * READY=1 after start and reload, and the D-Bus Reload() reply, wait so: what they report is
 * written. cb gets timed_out=true if the bound was hit, and is called with m=NULL if the manager
 * is freed first (to release userdata).
 */
typedef void (*manager_settled_t)(Manager *m, bool timed_out, void *userdata);
int manager_when_settled(Manager *m, manager_settled_t cb, void *userdata);

/* Mode shown by status/D-Bus/journal: "psi-only", "struct_ops", "tracing". */
void manager_set_mode(Manager *m, const char *mode);

Tenant *manager_find_tenant(Manager *m, const char *name);

/*
 * Template instances (src/instances.h decides when; the manager owns them like any tenant).
 * manager_add_instance: takes c (an instance's own TenantConfig: c->template set, c->cgroup a real
 *   cgroup), inserts a tenant in name order and activates it. -EEXIST (c freed) if a tenant of that
 *   name or on that cgroup exists. When the instance's cgroup goes away, the manager logs it and
 *   drops the tenant by itself (nothing to restore).
 * manager_remove_instance: the template was removed or changed its pattern (reload), or the bound
 *   was lowered: restore what memqosd changed (retire, as a removed profile) and drop the tenant.
 * manager_reconfigure_instance: the template's settings changed (reload): takes c, as a changed
 *   profile is applied.
 */
int manager_add_instance(Manager *m, TenantConfig *c, Tenant **ret);
void manager_remove_instance(Manager *m, Tenant *t, const char *why);
void manager_reconfigure_instance(Manager *m, Tenant *t, TenantConfig *c);
/* The tenant managing this cgroup (profile or instance), or NULL. */
Tenant *manager_find_tenant_by_cgroup(Manager *m, const char *cgroup);
size_t manager_count_waiting(const Manager *m);

/* Refresh t->current (and release the tenant if its cgroup vanished for sure). */
int manager_tenant_refresh(Manager *m, Tenant *t);
/*
 * For readers of the cached values (the bus, the metrics, the housekeeping hooks): read
 * memory.current and memory.pressure of an active tenant again if the last read is more than
 * max_age_usec old (0: always). Never releases the tenant (its directory watch and PSI trigger
 * notice a removed cgroup); on an error the previous values stay. Safe while walking m->tenants.
 */
void manager_tenant_observe(Tenant *t, uint64_t max_age_usec);

/* One-line summary for STATUS= and the start record. */
void manager_status_line(const Manager *m, char *buf, size_t n);
