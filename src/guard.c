/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bus.h"
#include "guard-model.h"
#include "guard.h"
#include "journal-ids.h"
#include "memqosd/guard.h"
#include "parse-util.h"
#include "state.h"
#include "policy.h"

#include "guard.skel.h"

#define GUARD_RING_DRAIN_MAX 256
/* How long a kill may take until every process is gone, and how often it is repeated meanwhile. */
#define GUARD_KILL_WAIT_USEC (5 * USEC_PER_SEC)
#define GUARD_KILL_REPEAT_USEC (1 * USEC_PER_SEC)
#define GUARD_UIDS_MAX 64            /* uids of one tenant tracked in user space */

/* Rates measured from a bucket pair's totals between two looks. */
typedef struct GuardRates {
	uint64_t last_charge_total, last_fork_total, last_sample_usec;
	double charge_bps, fork_rate;
	/* When the charge ([0]) and fork ([1]) buckets went into debt (the BPF record's CLOCK_MONOTONIC
	 * ns); 0 while not in debt. Records say how long the earliest has been (in_debt_ms). */
	uint64_t debt_ns[2];
} GuardRates;

typedef struct GuardUid {
	uint32_t uid;
	GuardState s;
	bool stopped;                /* its processes were sent SIGSTOP */
	bool killing;                /* SIGKILLed, not all gone yet: SIGKILL again on every tick */
	uint64_t kill_since_usec;
	unsigned killed;             /* processes signalled by the first pass */
	GuardRates rates;
} GuardUid;

typedef struct GuardTenant {
	Guard *g;
	Tenant *t;                   /* NULL once detached (retiring: undo writes outstanding) */
	char *name, *cgroup;         /* copies, for records after detach */
	uint32_t id;
	uint64_t cgroup_id;
	GuardParams p;
	GuardState s;
	WriterTarget *wt;
	GuardUid uids[GUARD_UIDS_MAX];
	size_t n_uids;

	uint64_t orig_pids_max;      /* pids.max before the guard lowered it */
	bool pids_saved;             /* orig_pids_max is valid and on disk */
	bool pids_lowered;           /* pids.max write submitted (restore due) */
	bool frozen;                 /* cgroup.freeze = 1 submitted (thaw due) */
	bool killing;                /* cgroup.kill written, cgroup.events not yet "populated 0" */
	uint64_t kill_since_usec;    /* first cgroup.kill write completed */
	uint64_t kill_last_usec;     /* last cgroup.kill write submitted */
	unsigned kill_writes;
	uint64_t pids_limit;         /* the value written */
	uint64_t orig_cpu_quota;     /* cpu.max's quota before the guard lowered it (UINT64_MAX = max) */
	bool cpu_saved;              /* orig_cpu_quota is valid and on disk */
	bool cpu_lowered;            /* cpu.max write submitted (restore due) */
	uint64_t cpu_limit;          /* the quota written */

	GuardRates rates;
} GuardTenant;

struct Guard {
	Manager *m;
	struct guard_bpf *skel;
	PolicyRing ring;
	const char *flavour;
	int engine_error;
	PolicyIdAllocator ids;
	GuardTenant **tenants;       /* attached and retiring */
	size_t n_tenants;
	sd_event_source *timer;
	sd_bus *bus;
	sd_bus_slot *slot;
	uint64_t records;
};

static GuardTenant *tenant_by_id(Guard *g, uint32_t id)
{
	for (size_t i = 0; i < g->n_tenants; i++)
		if (g->tenants[i]->id == id && g->tenants[i]->t)
			return g->tenants[i];
	return NULL;
}

static GuardTenant *tenant_by_ptr(Guard *g, const Tenant *t)
{
	for (size_t i = 0; i < g->n_tenants; i++)
		if (g->tenants[i]->t == t)
			return g->tenants[i];
	return NULL;
}

/* ---- the BPF side ---- */

static int ring_record(void *ctx, void *data, size_t size);

static int engine_try(Guard *g, bool fentry)
{
	struct guard_bpf *skel = guard_bpf__open();
	int r;

	if (!skel)
		return log_debug_errno(&g->m->log, negative_errno(), "Failed to open the guard: %m");
	(void) bpf_program__set_autoload(skel->progs.guard_charge, fentry);
	(void) bpf_program__set_autoload(skel->progs.guard_tp_charge, !fentry);
	r = guard_bpf__load(skel);
	if (r >= 0)
		r = guard_bpf__attach(skel);
	if (r < 0) {
		(void) log_debug_errno(&g->m->log, r, "Failed to load or attach the guard (%s): %m",
				       fentry ? "fentry" : "tracepoints");
		guard_bpf__destroy(skel);
		return r;
	}
	g->skel = skel;
	g->flavour = fentry ? "fentry" : "tracepoints";
	return 0;
}

static int ensure_engine(Guard *g)
{
	bool has_charge, has_tp;
	struct btf *btf;
	int r = -EOPNOTSUPP;

	if (g->skel)
		return 0;
	if (g->engine_error < 0)
		return g->engine_error;
	policy_libbpf_log(&g->m->log);
	btf = btf__load_vmlinux_btf();
	if (!btf) {
		r = negative_errno();
		goto fail;
	}
	has_charge = btf__find_by_name_kind(btf, "__mem_cgroup_charge", BTF_KIND_FUNC) >= 0;
	has_tp = btf__find_by_name_kind(btf, "btf_trace_mod_memcg_lruvec_state", BTF_KIND_TYPEDEF) >= 0;
	btf__free(btf);
	if (has_charge)
		r = engine_try(g, true);
	if (!g->skel && has_tp)
		r = engine_try(g, false);
	if (!g->skel)
		goto fail;
	g->ring = (PolicyRing) { .log = &g->m->log, .drain_max = GUARD_RING_DRAIN_MAX, .description = "guard-ringbuf" };
	g->ring.rb = ring_buffer__new(bpf_map__fd(g->skel->maps.memqosd_guard_rb), ring_record, g, NULL);
	if (!g->ring.rb) {
		r = negative_errno();
		goto fail;
	}
	r = policy_ring_attach(&g->ring, g->m->event);
	if (r < 0)
		goto fail;
	log_info(&g->m->log, "Storm guard started (%s; containment from user space: pids.max, cpu.max, cgroup.freeze, cgroup.kill)",
		 g->flavour);
	return 0;
fail:
	policy_ring_clear(&g->ring);
	guard_bpf__destroy(g->skel);
	g->skel = NULL;
	g->engine_error = r < 0 ? r : -EOPNOTSUPP;
	return log_warning_errno(&g->m->log, g->engine_error,
				 "Storm guard cannot start (BPF tracing refused or unsupported here): %m");
}

static struct memqosd_guard_conf conf_of(const GuardParams *p)
{
	return (struct memqosd_guard_conf) {
		.charge_rate = p->charge_rate,
		.charge_burst = p->charge_burst,
		.fork_rate = p->fork_rate,
		.fork_burst = p->fork_burst,
		.uid_charge_rate = p->uid_charge_rate,
		.uid_charge_burst = p->uid_charge_burst ? p->uid_charge_burst : p->charge_burst,
		.uid_fork_rate = p->uid_fork_rate,
		.uid_fork_burst = p->uid_fork_burst ? p->uid_fork_burst : p->fork_burst,
		.enabled = p->enable,
	};
}

static int engine_set(Guard *g, GuardTenant *gt)
{
	struct memqosd_guard_conf conf = conf_of(&gt->p);
	struct memqosd_tenant_key key = { .tenant_id = gt->id };
	struct memqosd_guard_state zero = {};

	if (bpf_map_update_elem(bpf_map__fd(g->skel->maps.memqosd_guard_state), &gt->id, &zero, BPF_ANY) < 0 ||
	    bpf_map_update_elem(bpf_map__fd(g->skel->maps.memqosd_guard_conf), &gt->id, &conf, BPF_ANY) < 0 ||
	    bpf_map_update_elem(bpf_map__fd(g->skel->maps.memqosd_tenants), &gt->cgroup_id, &key, BPF_ANY) < 0)
		return negative_errno();
	return 0;
}

static void engine_remove(Guard *g, GuardTenant *gt)
{
	struct memqosd_guard_conf off = {};
	struct memqosd_guard_uid_key k, next;
	int fd;

	if (!g->skel)
		return;
	(void) bpf_map_delete_elem(bpf_map__fd(g->skel->maps.memqosd_tenants), &gt->cgroup_id);
	(void) bpf_map_update_elem(bpf_map__fd(g->skel->maps.memqosd_guard_conf), &gt->id, &off, BPF_ANY);
	fd = bpf_map__fd(g->skel->maps.memqosd_guard_uid);
	for (int r = bpf_map_get_next_key(fd, NULL, &k); r == 0; k = next) {
		r = bpf_map_get_next_key(fd, &k, &next);
		if (k.tenant_id == gt->id)
			(void) bpf_map_delete_elem(fd, &k);
	}
}

/* The bucket as it stands now (refilled to now, as the BPF side would): still in a storm? */
static bool bucket_stormy(const struct memqosd_guard_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	uint64_t ms;
	__int128 t;

	if (!b->storm || rate == 0)
		return false;
	ms = now_ns > b->last_ns ? (now_ns - b->last_ns) / 1000000 : 0;
	t = (__int128) b->tokens + (__int128) rate * ms / 1000;
	return t < (__int128) (burst / 2);
}

static int read_state(Guard *g, GuardTenant *gt, const GuardUid *u, struct memqosd_guard_state *ret)
{
	if (!u)
		return bpf_map_lookup_elem_flags(bpf_map__fd(g->skel->maps.memqosd_guard_state), &gt->id, ret,
						 BPF_F_LOCK) < 0 ? negative_errno() : 0;
	struct memqosd_guard_uid_key k = { .tenant_id = gt->id, .uid = u->uid };

	return bpf_map_lookup_elem_flags(bpf_map__fd(g->skel->maps.memqosd_guard_uid), &k, ret, BPF_F_LOCK) < 0 ?
		negative_errno() : 0;
}

/* Is the tenant (u = NULL) or the uid in a storm now? */
static bool stormy(Guard *g, GuardTenant *gt, const GuardUid *u, struct memqosd_guard_state *st)
{
	struct memqosd_guard_conf c = conf_of(&gt->p);
	uint64_t now_ns = clock_usec(CLOCK_MONOTONIC) * NSEC_PER_USEC;

	if (read_state(g, gt, u, st) < 0)
		return false;
	if (!u)
		return bucket_stormy(&st->charge, c.charge_rate, c.charge_burst, now_ns) ||
		       bucket_stormy(&st->fork, c.fork_rate * MEMQOSD_GUARD_FORK_UNIT,
				     c.fork_burst * MEMQOSD_GUARD_FORK_UNIT, now_ns);
	return bucket_stormy(&st->charge, c.uid_charge_rate, c.uid_charge_burst, now_ns) ||
	       bucket_stormy(&st->fork, c.uid_fork_rate * MEMQOSD_GUARD_FORK_UNIT,
			     c.uid_fork_burst * MEMQOSD_GUARD_FORK_UNIT, now_ns);
}

/* ---- the state record (src/state.h, kind guard): what to undo after a crash ---- */

static int record_write(GuardTenant *gt)
{
	Manager *m = gt->g->m;
	StateRecord rec = {
		.kind = STATE_RECORD_GUARD,
		.id = gt->cgroup_id,
		.root = m->root->path,
		.cgroup = gt->cgroup,
		.frozen = gt->frozen,
		.has_pids_max = gt->pids_saved,
		.pids_max = gt->orig_pids_max,
		.has_cpu_max = gt->cpu_saved,
		.cpu_max = gt->orig_cpu_quota,
	};

	if (m->state_fd < 0 || m->dry_run)
		return -EBADF;
	for (size_t i = 0; i < gt->n_uids && rec.n_stopped_uids < STATE_UIDS_MAX; i++)
		if (gt->uids[i].stopped)
			rec.stopped_uids[rec.n_stopped_uids++] = gt->uids[i].uid;
	return state_record_write(m->state_fd, &rec);
}

static void record_remove(GuardTenant *gt)
{
	Manager *m = gt->g->m;

	if (m->state_fd >= 0 && !m->dry_run)
		(void) state_record_remove(m->state_fd, STATE_RECORD_GUARD, gt->cgroup_id);
}

/* ---- records, signals ---- */

static void emit(GuardTenant *gt, const GuardUid *u, const char *action, const char *reason, int result)
{
	Guard *g = gt->g;
	char f[12][96], acts[32], msg[512], who[48];
	const char *fields[13];
	size_t n = 0;
	uint32_t uid = u ? u->uid : MEMQOSD_GUARD_NO_UID;
	const GuardRates *rt = u ? &u->rates : &gt->rates;
	struct memqosd_guard_conf conf = conf_of(&gt->p);
	uint64_t pids_current = 0, now_ns = clock_usec(CLOCK_MONOTONIC) * NSEC_PER_USEC, debt_ns = 0;
	double in_debt_ms;

	if (gt->t)
		(void) cgroup_read_u64(gt->t->cg_fd, "pids.current", &pids_current);
	for (size_t i = 0; i < 2; i++)
		if (rt->debt_ns[i] && (!debt_ns || rt->debt_ns[i] < debt_ns))
			debt_ns = rt->debt_ns[i];
	in_debt_ms = (double) (now_ns > debt_ns ? now_ns - debt_ns : 0) / 1e6;
	snprintf(f[n], sizeof(f[n]), "MEMQOSD_TENANT=%s", gt->name), n++;
	snprintf(f[n], sizeof(f[n]), "MEMQOSD_CGROUP=%s", gt->cgroup), n++;
	snprintf(f[n], sizeof(f[n]), "MEMQOSD_GUARD_ACTION=%s", action), n++;
	snprintf(f[n], sizeof(f[n]), "MEMQOSD_CHARGE_BPS=%.0f", rt->charge_bps), n++;
	snprintf(f[n], sizeof(f[n]), "MEMQOSD_FORK_RATE=%.1f", rt->fork_rate), n++;
	snprintf(f[n], sizeof(f[n]), "MEMQOSD_CHARGE_RATE=%" PRIu64, u ? gt->p.uid_charge_rate : gt->p.charge_rate), n++;
	snprintf(f[n], sizeof(f[n]), "MEMQOSD_FORK_LIMIT=%u", u ? gt->p.uid_fork_rate : gt->p.fork_rate), n++;
	snprintf(f[n], sizeof(f[n]), "MEMQOSD_RESULT=%s", result < 0 ? strerror(-result) : "ok"), n++;
	snprintf(f[n], sizeof(f[n]), "MEMQOSD_CGROUP_ID=%" PRIu64, gt->cgroup_id), n++;
	if (u)
		snprintf(f[n], sizeof(f[n]), "MEMQOSD_UID=%" PRIu32, u->uid), n++;
	if (debt_ns)
		snprintf(f[n], sizeof(f[n]), "MEMQOSD_IN_DEBT_MS=%.1f", in_debt_ms), n++;
	for (size_t i = 0; i < n; i++)
		fields[i] = f[i];
	fields[n] = NULL;
	if (u)
		snprintf(who, sizeof(who), "uid %" PRIu32 " of tenant %s", u->uid, gt->name);
	else
		snprintf(who, sizeof(who), "tenant %s", gt->name);
	snprintf(msg, sizeof(msg), "Storm guard: %s on %s (%s): %s; measured %.1f MiB/s, %.0f forks/s%s%s", action, who,
		 gt->cgroup, reason, rt->charge_bps / (1 << 20), rt->fork_rate, result < 0 ? "; failed: " : "",
		 result < 0 ? strerror(-result) : "");
	log_struct(&g->m->log, result < 0 ? LOG_WARNING : LOG_NOTICE, MEMQOSD_MESSAGE_GUARD_ACTION, fields, "%s", msg);

	if (g->bus) {
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
		int k;

		k = sd_bus_message_new_signal(g->bus, &sig, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, "Guard");
		if (k >= 0)
			k = sd_bus_message_append(sig, "sssuts", gt->name, gt->cgroup, action, uid,
						  clock_usec(CLOCK_REALTIME), reason);
		if (k >= 0)
			k = sd_bus_message_open_container(sig, 'a', "{sv}");
		if (k >= 0)
			k = sd_bus_message_append(sig, "{sv}{sv}{sv}{sv}", "charge_bytes_per_sec", "d", rt->charge_bps,
						  "forks_per_sec", "d", rt->fork_rate, "pids_current", "t", pids_current,
						  "ok", "b", (int) (result >= 0));
		if (k >= 0 && debt_ns)
			k = sd_bus_message_append(sig, "{sv}", "in_debt_ms", "d", in_debt_ms);
		if (k >= 0)
			k = sd_bus_message_close_container(sig);
		if (k >= 0)
			k = sd_bus_message_append(sig, "a{sv}", 8,
						  "charge_rate", "t", u ? conf.uid_charge_rate : conf.charge_rate,
						  "charge_burst", "t", u ? conf.uid_charge_burst : conf.charge_burst,
						  "fork_rate", "t", u ? conf.uid_fork_rate : conf.fork_rate,
						  "fork_burst", "t", u ? conf.uid_fork_burst : conf.fork_burst,
						  "pids_max", "t", gt->pids_limit,
						  "cpu_max", "t", gt->cpu_limit,
						  "actions", "s", guard_actions_to_string(gt->p.actions, acts, sizeof(acts)),
						  "mode", "s", "user-space");
		if (k >= 0)
			k = sd_bus_send(g->bus, sig, NULL);
		if (k < 0)
			log_warning_errno(&g->m->log, k, "Cannot send the Guard signal for tenant %s: %m", gt->name);
	}
}

/* ---- carrying out the steps ---- */

typedef enum GuardWrite {
	GW_PIDS = 1,
	GW_FREEZE,
	GW_KILL,
	GW_RESTORE_PIDS,
	GW_THAW,
	GW_HAND_THAW,                /* memqosd thaw */
	GW_CPU,
	GW_RESTORE_CPU,
} GuardWrite;

static const char *const write_action[] = {
	[GW_PIDS] = "pids", [GW_FREEZE] = "freeze", [GW_KILL] = "kill", [GW_RESTORE_PIDS] = "undo", [GW_THAW] = "undo",
	[GW_HAND_THAW] = "thaw", [GW_CPU] = "cpu", [GW_RESTORE_CPU] = "undo",
};

static int submit(GuardTenant *gt, WriterFile file, uint64_t value, GuardWrite what, const char *reason)
{
	char r[WRITER_REASON_MAX];

	if (!gt->wt)
		return -EBADF;
	/* The reason carries the step (parsed back on completion) and the text for the record. */
	snprintf(r, sizeof(r), "%d:%s", (int) what, reason);
	return writer_submit(gt->wt, file, WRITER_KIND_CHANGE, 0, value, r);
}

/* Submit the write that puts file back to value if *in_place says the guard changed it. */
static int restore(GuardTenant *gt, bool *in_place, WriterFile file, uint64_t value, GuardWrite what, const char *why,
		   const char *done)
{
	char reason[128];

	if (!*in_place)
		return 0;
	*in_place = false;
	snprintf(reason, sizeof(reason), "%s: %s", why, done);
	return submit(gt, file, value, what, reason);
}

/*
 * Lift, through the writer, what the guard has in place for gt, in StateUndoStep's order (the order
 * state_record_undo() follows after a crash): stopped uids continue (only if uids, a tenant that
 * leaves), then cpu.max and pids.max go back and the thaw comes last, each of these only if its
 * GUARD_ACTION_* bit is in actions. Each step is recorded as "undo" with "why: what". Returns the
 * first error of a submit (every step is tried).
 */
static int undo_in_place(GuardTenant *gt, unsigned actions, bool uids, const char *why)
{
	char reason[128];
	int r = 0, k;

	for (StateUndoStep step = 0; step < _STATE_UNDO_STEP_MAX; step++) {
		k = 0;
		switch (step) {
		case STATE_UNDO_CONTINUE_UIDS:
			for (size_t i = 0; uids && i < gt->n_uids; i++)
				if (gt->uids[i].stopped) {
					int n = cgroup_signal_uid(gt->t->cg_fd, gt->uids[i].uid, SIGCONT);

					gt->uids[i].stopped = false;
					snprintf(reason, sizeof(reason), "%s: its processes continued (SIGCONT)", why);
					emit(gt, &gt->uids[i], "undo", reason, n < 0 ? n : 0);
				}
			break;
		case STATE_UNDO_CPU_MAX:
			if (actions & GUARD_ACTION_CPU)
				k = restore(gt, &gt->cpu_lowered, WRITER_CPU_MAX, gt->orig_cpu_quota, GW_RESTORE_CPU,
					    why, "cpu.max restored");
			break;
		case STATE_UNDO_PIDS_MAX:
			if (actions & GUARD_ACTION_PIDS)
				k = restore(gt, &gt->pids_lowered, WRITER_PIDS_MAX, gt->orig_pids_max, GW_RESTORE_PIDS,
					    why, "pids.max restored");
			break;
		case STATE_UNDO_THAW:
			if (actions & GUARD_ACTION_FREEZE)
				k = restore(gt, &gt->frozen, WRITER_CGROUP_FREEZE, 0, GW_THAW, why, "thawed");
			break;
		default:
			break;
		}
		if (k < 0 && r == 0)
			r = k;
	}
	return r;
}

static void tenant_maybe_retire(GuardTenant *gt);
static void arm_timer(Guard *g);

static void on_written(WriterTarget *wt, void *owner, const WriterCompletion *c, void *userdata)
{
	GuardTenant *gt = owner;
	const char *reason;
	char *end;
	long what;

	(void) wt;
	(void) userdata;
	what = strtol(c->reason, &end, 10);
	reason = *end == ':' ? end + 1 : c->reason;
	if (what < GW_PIDS || what > GW_RESTORE_CPU)
		return;
	if (what == GW_KILL && c->result >= 0 && gt->t) {
		/* Reported once every process is gone (or not, after GUARD_KILL_WAIT_USEC): kill_check(). */
		if (!gt->killing) {
			gt->killing = true;
			gt->kill_since_usec = clock_usec(CLOCK_MONOTONIC);
		}
		arm_timer(gt->g);
	} else
		emit(gt, NULL, write_action[what], reason, c->result);
	if (writer_target_outstanding(gt->wt) <= 1 && !gt->pids_lowered && !gt->cpu_lowered && !gt->frozen) {
		bool stopped = false;

		for (size_t i = 0; i < gt->n_uids; i++)
			stopped |= gt->uids[i].stopped;
		if (!stopped && c->result >= 0) {
			record_remove(gt);
			gt->pids_saved = gt->cpu_saved = false; /* the next storm saves them afresh */
		}
	}
	tenant_maybe_retire(gt);
}

/* A limit the guard sets is never above what the operator had set (orig; UINT64_MAX = max). */
static uint64_t not_above(uint64_t limit, uint64_t orig)
{
	return orig != UINT64_MAX && orig < limit ? orig : limit;
}

/* cpu.max: "QUOTA PERIOD", QUOTA "max" or microseconds. */
static int read_cpu_max(int cg_fd, uint64_t *ret_quota, uint64_t *ret_period)
{
	char buf[64], *sp;
	int r;

	r = cgroup_read_text(cg_fd, "cpu.max", buf, sizeof(buf));
	if (r < 0)
		return r;
	sp = strchr(buf, ' ');
	if (!sp)
		return -EINVAL;
	*sp++ = '\0';
	r = cgroup_parse_u64(buf, ret_quota);
	if (r >= 0)
		r = cgroup_parse_u64(sp, ret_period);
	if (r >= 0 && (*ret_period == 0 || *ret_period == UINT64_MAX))
		r = -EINVAL;
	return r;
}

static void do_tenant_step(GuardTenant *gt, GuardDecision d)
{
	Tenant *t = gt->t;
	char reason[160];
	uint64_t cur = 0;
	int r;

	switch (d.step) {
	case GUARD_STEP_PIDS:
		if (cgroup_read_u64(t->cg_fd, "pids.current", &cur) < 0) {
			emit(gt, NULL, "pids", "pids.current unreadable (pids controller not enabled for this cgroup?)", -ENOENT);
			return;
		}
		if (!gt->pids_saved) {
			r = cgroup_read_u64(t->cg_fd, "pids.max", &gt->orig_pids_max);
			if (r < 0) {
				emit(gt, NULL, "pids", "pids.max unreadable", r);
				return;
			}
			gt->pids_saved = true;
		}
		gt->pids_limit = not_above(cur + gt->p.pids_allowance, gt->orig_pids_max);
		gt->pids_lowered = true;
		(void) record_write(gt);
		snprintf(reason, sizeof(reason), "storm: pids.max %" PRIu64 " (pids.current %" PRIu64 " + %u)",
			 gt->pids_limit, cur, gt->p.pids_allowance);
		r = submit(gt, WRITER_PIDS_MAX, gt->pids_limit, GW_PIDS, reason);
		break;
	case GUARD_STEP_CPU: {
		uint64_t quota, period;

		r = read_cpu_max(t->cg_fd, &quota, &period);
		if (r < 0) {
			emit(gt, NULL, "cpu", "cpu.max unreadable (cpu controller not enabled for this cgroup?)", r);
			return;
		}
		if (!gt->cpu_saved) {
			gt->orig_cpu_quota = quota;
			gt->cpu_saved = true;
		}
		/* CpuMax= of one CPU; the kernel's floor is 1 ms per period. */
		quota = period * gt->p.cpu_max_percent / 100;
		gt->cpu_limit = not_above(quota < 1000 ? 1000 : quota, gt->orig_cpu_quota);
		gt->cpu_lowered = true;
		(void) record_write(gt);
		snprintf(reason, sizeof(reason), "storm went on: cpu.max %" PRIu64 " %" PRIu64 " (CpuMax=%u%% of one CPU)",
			 gt->cpu_limit, period, gt->p.cpu_max_percent);
		r = submit(gt, WRITER_CPU_MAX, gt->cpu_limit, GW_CPU, reason);
		break;
	}
	case GUARD_STEP_FREEZE:
		gt->frozen = true;
		(void) record_write(gt);
		r = submit(gt, WRITER_CGROUP_FREEZE, 1, GW_FREEZE, "storm went on: cgroup.freeze");
		break;
	case GUARD_STEP_KILL:
		gt->kill_writes = 1;
		gt->kill_last_usec = clock_usec(CLOCK_MONOTONIC);
		r = submit(gt, WRITER_CGROUP_KILL, 1, GW_KILL, "storm went on while frozen, kill allowed: cgroup.kill");
		break;
	case GUARD_STEP_UNDO:
		r = undo_in_place(gt, d.undo, false, "storm over for HoldSec=");
		break;
	default:
		return;
	}
	if (r < 0)
		emit(gt, NULL, guard_step_to_string(d.step), "cannot submit the write", r);
}

static void do_uid_step(GuardTenant *gt, GuardUid *u, GuardDecision d)
{
	int n;

	switch (d.step) {
	case GUARD_STEP_PIDS:
		emit(gt, u, "pids", "skipped: pids.max is tenant-wide, not applied for one uid", 0);
		break;
	case GUARD_STEP_CPU:
		emit(gt, u, "cpu", "skipped: cpu.max is tenant-wide, not applied for one uid", 0);
		break;
	case GUARD_STEP_FREEZE:
		u->stopped = true;
		(void) record_write(gt);
		n = cgroup_signal_uid(gt->t->cg_fd, u->uid, SIGSTOP);
		emit(gt, u, "freeze", "uid storm: its processes stopped (SIGSTOP)", n < 0 ? n : 0);
		break;
	case GUARD_STEP_KILL:
		/*
		 * One pass misses children forked after cgroup.procs was read (by processes not stopped
		 * yet): SIGKILL again on every tick until none is left (kill_check()), then report.
		 */
		n = cgroup_signal_uid(gt->t->cg_fd, u->uid, SIGKILL);
		if (n < 0) {
			emit(gt, u, "kill", "uid storm went on, kill allowed: cannot list its processes", n);
			break;
		}
		u->killing = true;
		u->killed = (unsigned) n;
		u->kill_since_usec = clock_usec(CLOCK_MONOTONIC);
		break;
	case GUARD_STEP_UNDO:
		if (u->stopped) {
			n = cgroup_signal_uid(gt->t->cg_fd, u->uid, SIGCONT);
			u->stopped = false;
			(void) record_write(gt);
			emit(gt, u, "undo", "uid storm over for HoldSec=: its processes continued (SIGCONT)", n < 0 ? n : 0);
		}
		break;
	default:
		break;
	}
}

/* While a uid is stopped, its new processes (forked just before) are stopped too. */
static void restop_uids(GuardTenant *gt)
{
	for (size_t i = 0; i < gt->n_uids; i++)
		if (gt->uids[i].stopped)
			(void) cgroup_signal_uid(gt->t->cg_fd, gt->uids[i].uid, SIGSTOP);
}

static void sample_rates(GuardRates *g, const struct memqosd_guard_state *st, uint64_t now)
{
	if (g->last_sample_usec && now > g->last_sample_usec) {
		double dt = (double) (now - g->last_sample_usec) / USEC_PER_SEC;

		if (dt < 0.05)
			return;
		g->charge_bps = (double) (st->charge.total - g->last_charge_total) / dt;
		g->fork_rate = (double) (st->fork.total - g->last_fork_total) / dt;
	}
	g->last_charge_total = st->charge.total;
	g->last_fork_total = st->fork.total;
	g->last_sample_usec = now;
}

static GuardUid *uid_get(GuardTenant *gt, uint32_t uid, bool create)
{
	for (size_t i = 0; i < gt->n_uids; i++)
		if (gt->uids[i].uid == uid)
			return &gt->uids[i];
	if (!create || gt->n_uids >= GUARD_UIDS_MAX)
		return NULL;
	gt->uids[gt->n_uids] = (GuardUid) { .uid = uid };
	return &gt->uids[gt->n_uids++];
}

static bool tenant_busy(const GuardTenant *gt)
{
	if (!guard_model_idle(&gt->s) || gt->killing)
		return true;
	for (size_t i = 0; i < gt->n_uids; i++)
		if (!guard_model_idle(&gt->uids[i].s) || gt->uids[i].killing)
			return true;
	return false;
}

/*
 * A kill is reported once it is done: for the tenant, once cgroup.events says "populated 0" (every
 * process exited; cgroup.kill is written again every GUARD_KILL_REPEAT_USEC meanwhile); for a uid,
 * once a SIGKILL pass finds none of its processes left. After GUARD_KILL_WAIT_USEC it is reported
 * as failed (-EBUSY) with what is left.
 */
static void kill_check(GuardTenant *gt, uint64_t now)
{
	char reason[160];

	if (gt->killing && writer_target_outstanding(gt->wt) == 0) {
		uint64_t populated = 1, left = 0;
		int r = cgroup_read_keyed(gt->t->cg_fd, "cgroup.events", "populated", &populated);

		if (r >= 0 && populated == 0) {
			snprintf(reason, sizeof(reason), "storm went on while frozen, kill allowed: cgroup.kill, every process "
				 "gone after %" PRIu64 " ms (%u writes)", (uint64_t) ((now - gt->kill_since_usec) / USEC_PER_MSEC),
				 gt->kill_writes);
			gt->killing = false;
			emit(gt, NULL, "kill", reason, 0);
		} else if (now - gt->kill_since_usec >= GUARD_KILL_WAIT_USEC) {
			(void) cgroup_read_u64(gt->t->cg_fd, "pids.current", &left);
			snprintf(reason, sizeof(reason), "cgroup.kill written %u times: %" PRIu64 " tasks still there after %"
				 PRIu64 " ms", gt->kill_writes, left, (uint64_t) ((now - gt->kill_since_usec) / USEC_PER_MSEC));
			gt->killing = false;
			emit(gt, NULL, "kill", reason, r < 0 ? r : -EBUSY);
		} else if (now - gt->kill_last_usec >= GUARD_KILL_REPEAT_USEC) {
			gt->kill_writes++;
			gt->kill_last_usec = now;
			(void) submit(gt, WRITER_CGROUP_KILL, 1, GW_KILL, "cgroup.kill again: processes left");
		}
	}
	for (size_t i = 0; i < gt->n_uids; i++) {
		GuardUid *u = &gt->uids[i];
		int n;

		if (!u->killing)
			continue;
		n = cgroup_signal_uid(gt->t->cg_fd, u->uid, SIGKILL);
		if (n == 0) {
			snprintf(reason, sizeof(reason), "uid storm went on, kill allowed: its %u processes killed (SIGKILL), "
				 "none left after %" PRIu64 " ms", u->killed, (uint64_t) ((now - u->kill_since_usec) / USEC_PER_MSEC));
			u->killing = false;
			emit(gt, u, "kill", reason, 0);
		} else if (now - u->kill_since_usec >= GUARD_KILL_WAIT_USEC) {
			snprintf(reason, sizeof(reason), "uid storm went on, kill allowed: %d of its processes still there "
				 "after %" PRIu64 " ms of SIGKILL", n, (uint64_t) ((now - u->kill_since_usec) / USEC_PER_MSEC));
			u->killing = false;
			emit(gt, u, "kill", reason, n < 0 ? n : -EBUSY);
		}
	}
}

/* Evaluate one tenant now: detection, rates, the model, the step. */
static void evaluate(GuardTenant *gt)
{
	Guard *g = gt->g;
	struct memqosd_guard_state st = {};
	uint64_t now = clock_usec(CLOCK_MONOTONIC);
	GuardDecision d;
	bool storm;

	if (!gt->t || !g->skel)
		return;
	storm = stormy(g, gt, NULL, &st);
	sample_rates(&gt->rates, &st, now);
	d = guard_model_step(&gt->s, &gt->p, storm, now);
	if (d.step != GUARD_STEP_NONE)
		do_tenant_step(gt, d);

	for (size_t i = 0; i < gt->n_uids; i++) {
		GuardUid *u = &gt->uids[i];
		struct memqosd_guard_state ust = {};

		storm = stormy(g, gt, u, &ust);
		sample_rates(&u->rates, &ust, now);
		d = guard_model_step(&u->s, &gt->p, storm, now);
		if (d.step != GUARD_STEP_NONE)
			do_uid_step(gt, u, d);
	}
	restop_uids(gt);
	kill_check(gt, now);
	/* Forget uids at rest. */
	for (size_t i = 0; i < gt->n_uids;)
		if (guard_model_idle(&gt->uids[i].s) && !gt->uids[i].stopped && !gt->uids[i].killing)
			gt->uids[i] = gt->uids[--gt->n_uids];
		else
			i++;
}

static void arm_timer(Guard *g)
{
	uint64_t period = GUARD_IDLE_TICK_USEC;
	bool any = false;

	for (size_t i = 0; i < g->n_tenants; i++)
		if (g->tenants[i]->t) {
			any = true;
			if (tenant_busy(g->tenants[i]))
				period = GUARD_TICK_USEC;
		}
	if (!g->timer)
		return;
	if (!any) {
		(void) sd_event_source_set_enabled(g->timer, SD_EVENT_OFF);
		return;
	}
	(void) sd_event_source_set_time_relative(g->timer, period);
	(void) sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	Guard *g = userdata;

	(void) s;
	(void) usec;
	for (size_t i = 0; i < g->n_tenants; i++)
		evaluate(g->tenants[i]);
	arm_timer(g);
	return 0;
}

static int ring_record(void *ctx, void *data, size_t size)
{
	const struct memqosd_guard_event *e = data;
	Guard *g = ctx;
	GuardTenant *gt;
	GuardUid *u = NULL;
	GuardRates *rt;

	if (size < sizeof(*e))
		return 0;
	g->records++;
	gt = tenant_by_id(g, e->tenant_id);
	if (!gt)
		return 0;
	log_debug(&g->m->log, "Guard: tenant %s uid %" PRIu32 " %s bucket %s (tokens %" PRIi64 ")", gt->name, e->uid,
		  e->bucket == MEMQOSD_GUARD_FORK ? "fork" : "charge", e->kind == MEMQOSD_GUARD_START ? "in debt" : "refilled",
		  (int64_t) e->tokens);
	if (e->uid != MEMQOSD_GUARD_NO_UID) {
		u = uid_get(gt, e->uid, e->kind == MEMQOSD_GUARD_START);
		if (!u && e->kind == MEMQOSD_GUARD_START)
			log_warning(&g->m->log, "Guard: tenant %s: more than %d uids storming, uid %" PRIu32 " not contained",
				    gt->name, GUARD_UIDS_MAX, e->uid);
	}
	rt = e->uid == MEMQOSD_GUARD_NO_UID ? &gt->rates : u ? &u->rates : NULL;
	if (rt)
		rt->debt_ns[e->bucket == MEMQOSD_GUARD_FORK] = e->kind == MEMQOSD_GUARD_START ? (e->ts_ns ? e->ts_ns : 1) : 0;
	evaluate(gt);
	arm_timer(g);
	return 0;
}

/* ---- tenants ---- */

static GuardTenant *tenant_free(GuardTenant *gt)
{
	if (!gt)
		return NULL;
	writer_target_unlink(gt->wt);
	free(gt->name);
	free(gt->cgroup);
	free(gt);
	return NULL;
}

static void tenant_drop(Guard *g, GuardTenant *gt)
{
	for (size_t i = 0; i < g->n_tenants; i++)
		if (g->tenants[i] == gt) {
			g->tenants[i] = g->tenants[--g->n_tenants];
			break;
		}
	tenant_free(gt);
}

/* A detached tenant goes once its undo writes are done. */
static void tenant_maybe_retire(GuardTenant *gt)
{
	if (gt->t || writer_target_outstanding(gt->wt) > 1)
		return;
	tenant_drop(gt->g, gt);
}

/*
 * Undo what a previous memqosd left in place, at once (its record, src/state.h; the same undo as
 * the manager's for a paused round: state_record_undo()), each step recorded as "recover". A record
 * that is corrupt, or names another cgroup (the id was reused), is removed; one whose undo failed
 * stays for the next start.
 */
static void recover(GuardTenant *gt)
{
	Manager *m = gt->g->m;
	StateRecord rec = {};
	StateUndo u = {};
	int r;

	if (m->state_fd < 0)
		return;
	r = state_record_read(m->state_fd, STATE_RECORD_GUARD, gt->cgroup_id, &rec);
	if (r == -ENOENT)
		return;
	if (r < 0) {
		log_error_errno(&m->log, r, "Guard: tenant %s: state record %s/guard-%" PRIu64 " is unreadable or corrupt "
				"(%m), removing it: check pids.max, cgroup.freeze and stopped processes of cgroup %s by hand",
				gt->name, m->state_dir, gt->cgroup_id, gt->cgroup);
		if (r == -EBADMSG && !m->dry_run)
			(void) state_record_remove(m->state_fd, STATE_RECORD_GUARD, gt->cgroup_id);
		return;
	}
	if (!rec.legacy && (!streq(rec.root, m->root->path) || !streq(rec.cgroup, gt->cgroup))) {
		log_notice(&m->log, "Guard: tenant %s: state record %s/guard-%" PRIu64 " is for cgroup %s under %s (cgroup id "
			   "reused), removing it", gt->name, m->state_dir, gt->cgroup_id, rec.cgroup, rec.root);
		if (!m->dry_run)
			(void) state_record_remove(m->state_fd, STATE_RECORD_GUARD, gt->cgroup_id);
		state_record_done(&rec);
		return;
	}
	if (m->dry_run) {
		log_warning(&m->log, "Guard: tenant %s: a previous memqosd left pids.max, cpu.max, a freeze or stopped processes in "
			    "cgroup %s (state record %s/guard-%" PRIu64 "); dry-run does not undo them", gt->name,
			    gt->cgroup, m->state_dir, gt->cgroup_id);
		state_record_done(&rec);
		return;
	}
	r = state_record_undo(gt->t->cg_fd, &rec, &u);
	for (size_t i = 0; i < rec.n_stopped_uids; i++) {
		GuardUid uid = { .uid = rec.stopped_uids[i] };

		emit(gt, &uid, "recover", "left stopped by a previous memqosd: continued (SIGCONT)", u.uids < 0 ? u.uids : 0);
	}
	if (rec.has_cpu_max)
		emit(gt, NULL, "recover", "left by a previous memqosd: cpu.max restored", u.cpu_max < 0 ? u.cpu_max : 0);
	if (rec.has_pids_max) {
		gt->pids_limit = rec.pids_max;
		emit(gt, NULL, "recover", "left by a previous memqosd: pids.max restored", u.pids_max < 0 ? u.pids_max : 0);
	}
	if (rec.frozen)
		emit(gt, NULL, "recover", u.thaw > 0 ? "left frozen by a previous memqosd: thawed" :
		     "marked frozen by a previous memqosd: not frozen now", u.thaw < 0 ? u.thaw : 0);
	if (r >= 0)
		record_remove(gt);
	else
		log_error_errno(&m->log, r, "Guard: tenant %s: cannot undo all a previous memqosd left in cgroup %s, "
				"keeping state record %s/guard-%" PRIu64 " for the next start: %m", gt->name, gt->cgroup,
				m->state_dir, gt->cgroup_id);
	state_record_done(&rec);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(GuardTenant *, tenant_free);

static int tenant_start(Guard *g, Tenant *t)
{
	_cleanup_(tenant_freep) GuardTenant *gt = NULL;
	char rate[FORMAT_VALUE_MAX], burst[FORMAT_VALUE_MAX];
	GuardTenant **n;
	int r;

	gt = calloc(1, sizeof(*gt));
	if (!gt)
		return -ENOMEM;
	*gt = (GuardTenant) { .g = g, .t = t, .cgroup_id = t->cgroup_id, .p = t->config->guard };
	gt->name = strdup(t->config->name);
	gt->cgroup = strdup(t->config->cgroup);
	if (!gt->name || !gt->cgroup)
		return -ENOMEM;
	r = writer_target_new(g->m->writer, t->cg_fd, t->config->name, gt, &gt->wt);
	if (r < 0)
		return r;
	writer_target_set_done(gt->wt, on_written, g);

	/* Leftovers of a crashed memqosd are undone whether or not the guard is still enabled. */
	recover(gt);
	if (gt->p.enable) {
		r = ensure_engine(g);
		if (r >= 0) {
			gt->id = policy_id_alloc(&g->ids);
			if (gt->id == 0)
				r = log_warning_errno(&g->m->log, -ENOSPC, "Tenant %s: no guard slot left", gt->name);
		}
		if (r >= 0) {
			r = engine_set(g, gt);
			if (r < 0) {
				log_warning_errno(&g->m->log, r, "Tenant %s: cannot start the storm guard: %m", gt->name);
				policy_id_free(&g->ids, gt->id);
				gt->id = 0;
			}
		}
		if (r >= 0)
			log_info(&g->m->log, "Tenant %s: storm guard on (%s/s burst %s, %u forks/s burst %u)", gt->name,
				 format_size(rate, gt->p.charge_rate), format_size(burst, gt->p.charge_burst), gt->p.fork_rate,
				 gt->p.fork_burst);
	}
	if (gt->id == 0)
		return 0; /* not guarded: gt goes (leftovers were undone at once) */
	n = realloc(g->tenants, (g->n_tenants + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	g->tenants = n;
	g->tenants[g->n_tenants++] = TAKE_PTR(gt);
	arm_timer(g);
	return 0;
}

/* The tenant leaves (stop, release, reload): undo what is in place now, through the writer. */
static void tenant_stop(Guard *g, GuardTenant *gt, const char *why)
{
	if (gt->id) {
		engine_remove(g, gt);
		policy_id_free(&g->ids, gt->id);
		gt->id = 0;
	}
	(void) undo_in_place(gt, GUARD_ACTION_PIDS | GUARD_ACTION_CPU | GUARD_ACTION_FREEZE, true, why);
	gt->s = (GuardState) {};
	gt->n_uids = 0;
	gt->t = NULL;
	if (writer_target_outstanding(gt->wt) == 0) {
		record_remove(gt);
		tenant_drop(g, gt);
	}
}

static int hook_attach(Manager *m, Tenant *t, void *userdata)
{
	(void) m;
	return tenant_start(userdata, t);
}

static void hook_detach(Manager *m, Tenant *t, void *userdata)
{
	Guard *g = userdata;
	GuardTenant *gt = tenant_by_ptr(g, t);

	(void) m;
	if (gt)
		tenant_stop(g, gt, "tenant no longer managed");
	arm_timer(g);
}

static int hook_changed(Manager *m, Tenant *t, const TenantConfig *old, void *userdata)
{
	Guard *g = userdata;
	GuardTenant *gt = tenant_by_ptr(g, t);

	(void) m;
	if (guard_params_equal(&old->guard, &t->config->guard))
		return 0;
	if (gt && gt->id && t->config->guard.enable) {
		gt->p = t->config->guard; /* new limits; the escalation in progress goes on */
		return engine_set(g, gt);
	}
	if (gt)
		tenant_stop(g, gt, "[Guard] changed");
	return tenant_start(g, t);
}

/* ---- thaw ---- */

int guard_thaw(Guard *g, const char *tenant)
{
	Tenant *t = manager_find_tenant(g->m, tenant);
	GuardTenant *gt = t ? tenant_by_ptr(g, t) : NULL;
	bool any = false;
	uint64_t now = clock_usec(CLOCK_MONOTONIC);

	if (!t)
		return -ENOENT;
	if (!gt)
		return -ENODATA;
	for (size_t i = 0; i < gt->n_uids; i++)
		if (gt->uids[i].stopped) {
			int n = cgroup_signal_uid(t->cg_fd, gt->uids[i].uid, SIGCONT);

			gt->uids[i].stopped = false;
			guard_model_thaw(&gt->uids[i].s, now);
			emit(gt, &gt->uids[i], "thaw", "memqosd thaw: its processes continued (SIGCONT)", n < 0 ? n : 0);
			any = true;
		}
	if (gt->frozen) {
		gt->frozen = false;
		guard_model_thaw(&gt->s, now);
		(void) submit(gt, WRITER_CGROUP_FREEZE, 0, GW_HAND_THAW, "memqosd thaw: the freeze lifted by hand");
		any = true;
	}
	if (!any)
		return -ENODATA;
	(void) record_write(gt);
	arm_timer(g);
	return 0;
}

static int method_thaw(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	Guard *g = userdata;
	const char *name;
	uid_t euid;
	int r;

	r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID, &creds);
	if (r >= 0)
		r = sd_bus_creds_get_euid(creds, &euid);
	if (r < 0)
		return r;
	if (euid != 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
					 "Only root may thaw a tenant; caller's uid is %u", (unsigned) euid);
	r = sd_bus_message_read(msg, "s", &name);
	if (r < 0)
		return r;
	r = guard_thaw(g, name);
	if (r == -ENOENT)
		return sd_bus_error_setf(error, MEMQOSD_BUS_ERROR_NO_SUCH_TENANT, "No tenant '%s' is configured", name);
	if (r == -ENODATA)
		return sd_bus_error_setf(error, MEMQOSD_BUS_ERROR_NOT_FROZEN,
					 "Tenant '%s' is not frozen by the storm guard", name);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, NULL);
}

static const sd_bus_vtable guard_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD_WITH_NAMES("Thaw", "s", SD_BUS_PARAM(tenant), NULL, , method_thaw, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_NAMES("Guard", MEMQOSD_BUS_GUARD_FIELDS,
				 SD_BUS_PARAM(tenant) SD_BUS_PARAM(cgroup) SD_BUS_PARAM(action) SD_BUS_PARAM(uid)
				 SD_BUS_PARAM(time_usec) SD_BUS_PARAM(reason) SD_BUS_PARAM(measured) SD_BUS_PARAM(limits),
				 0),
	SD_BUS_VTABLE_END,
};

int guard_bus_register(Guard *g, sd_bus *bus)
{
	int r;

	if (!bus)
		return 0;
	g->bus = sd_bus_ref(bus);
	r = sd_bus_add_object_vtable(bus, &g->slot, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, guard_vtable, g);
	if (r < 0)
		return log_warning_errno(&g->m->log, r, "Cannot register Thaw/Guard on D-Bus: %m");
	return 0;
}

/* ---- lifetime ---- */

int guard_install(Manager *m, Guard **ret)
{
	_cleanup_(guard_freep) Guard *g = NULL;
	int r;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->m = m;
	policy_id_init(&g->ids);
	r = sd_event_add_time_relative(m->event, &g->timer, CLOCK_MONOTONIC, GUARD_IDLE_TICK_USEC, 10 * USEC_PER_MSEC,
				       on_timer, g);
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to add the guard timer: %m");
	(void) sd_event_source_set_description(g->timer, "guard");
	(void) sd_event_source_set_enabled(g->timer, SD_EVENT_OFF);
	r = manager_add_hooks(m, &(ManagerHooks) {
		.tenant_attach = hook_attach,
		.tenant_detach = hook_detach,
		.tenant_changed = hook_changed,
		.userdata = g,
	});
	if (r < 0)
		return log_error_errno(&m->log, r, "Cannot register the storm guard's hooks: %m");
	*ret = TAKE_PTR(g);
	return 0;
}

Guard *guard_free(Guard *g)
{
	if (!g)
		return NULL;
	if (g->m)
		manager_remove_hooks(g->m, g);
	for (size_t i = 0; i < g->n_tenants; i++)
		tenant_free(g->tenants[i]);
	free(g->tenants);
	sd_bus_slot_unref(g->slot);
	sd_bus_unref(g->bus);
	sd_event_source_disable_unref(g->timer);
	policy_ring_clear(&g->ring);
	guard_bpf__destroy(g->skel);
	free(g);
	return NULL;
}
