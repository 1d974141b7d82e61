/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The BPF policy loader; see policy.h.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "fdstore.h"
#include "handover.h"
#include "policy-params.h"
#include "policy.h"
#include "memqosd/memcg-link.h"

#include "observe.skel.h"
#if MEMQOSD_POLICY_NEXT
#include "priority_next.skel.h" /* test builds: memqosd-next, see bpf/meson.build */
#define HAVE_PRIORITY_SKEL 1
#elif __has_include("priority.skel.h")
#include "priority.skel.h"
#define HAVE_PRIORITY_SKEL 1
#else
#define HAVE_PRIORITY_SKEL 0
#endif

typedef struct PolicyInstance {
	uint32_t tenant_id;
	PolicyKind kind;
	bool traced;               /* in memqosd_tenants for the observe policy */
	bool has_params;           /* its cgroup has an entry in memqosd_params */
	uint64_t cgroup_id;
	int link_fd;               /* its attachment, a struct_ops link (to the engine's struct_ops map,
				    * or, adopted, to the previous memqosd's); -EBADF: none */
	sd_event_source *hup;      /* watches link_fd for EPOLLHUP: the kernel dropped the attachment */
	char store_name[HANDOVER_NAME_MAX + 1]; /* the link's name in the fd store; "": not there */
} PolicyInstance;

/* A link handed back by systemd at start, not yet claimed by a tenant. */
typedef struct PolicyAdoptable {
	HandoverLink id;
	char name[HANDOVER_NAME_MAX + 1];
	int fd;
} PolicyAdoptable;

struct PolicyEngine {
	const Logger *log;
	PolicyMode mode;
	int events_fd, tenants_fd, stats_fd, control_fd, params_fd;
	PolicyRing ring;
#if HAVE_PRIORITY_SKEL
	/* The priority policy, loaded (and verified) once, on the first tenant that needs it; every
	 * tenant's link points at its struct_ops map (issue 12). NULL: not loaded. */
	struct priority_bpf *prio;
#endif
	struct observe_bpf *observe;
	bool has_over_high_612, has_over_high, has_try_charge, has_memcg_tracepoints;
	const char *observe_flavour;      /* "fentry" or "tracepoints" once loaded */
	PolicyInstance *instances;
	size_t n_instances;
	PolicyEventHandler handler;
	void *userdata;
	uint64_t delivered;
	unsigned hz;
	FdStore *store;                   /* systemd's fd store, or NULL */
	uint64_t program;                 /* identity of the priority object (handover.h) */
	bool maps_adopted;                /* the shared maps came from the fd store */
	size_t ops_offset;                /* of the ops in a memcg_ops struct_ops map's value; 0: unknown */
	bool handing_over;                /* freeing leaves links attached for the next start */
	PolicyAdoptable *adoptable;
	size_t n_adoptable;
	sd_event *event;                  /* the loop the links' hang-ups are watched on, once attached */
};

/*
 * libbpf's print callback has no user pointer: the one piece of global state in memqosd. Set by
 * policy_engine_new(), cleared when that engine is freed.
 */
static const Logger *libbpf_logger;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	if (!libbpf_logger || level == LIBBPF_DEBUG)
		return 0;
	(void) vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = 0;
	(void) log_debug(libbpf_logger, "%s", buf); /* libbpf prefixes "libbpf: " itself */
	return 0;
}

void policy_libbpf_log(const Logger *log)
{
	libbpf_logger = log;
	(void) libbpf_set_print(libbpf_print);
}

static const char *const mode_names[_POLICY_MODE_MAX] = {
	[POLICY_MODE_PSI_ONLY] = "psi-only",
	[POLICY_MODE_TRACING] = "tracing",
	[POLICY_MODE_STRUCT_OPS] = "struct_ops",
};

const char *policy_mode_to_string(PolicyMode m)
{
	if (m < 0 || m >= _POLICY_MODE_MAX)
		return NULL;
	return mode_names[m];
}

static struct btf *load_btf(const char *path)
{
	return path ? btf__parse(path, NULL) : btf__load_vmlinux_btf();
}

PolicyMode policy_detect_mode(const char *btf_path, char *reason, size_t reason_size)
{
	struct btf *btf;
	PolicyMode m;

	btf = load_btf(btf_path);
	if (!btf) {
		(void) snprintf(reason, reason_size, "kernel BTF not readable (%s): %s",
				btf_path ?: "/sys/kernel/btf/vmlinux", strerror(errno));
		return POLICY_MODE_PSI_ONLY;
	}
	if (btf__find_by_name_kind(btf, "memcg_ops", BTF_KIND_STRUCT) >= 0) {
		if (HAVE_PRIORITY_SKEL) {
			(void) snprintf(reason, reason_size, "kernel has memcg_ops (CONFIG_MEMCG_BPF)");
			m = POLICY_MODE_STRUCT_OPS;
		} else {
			(void) snprintf(reason, reason_size,
					"kernel has memcg_ops but this build has no priority policy (vmlinux.h without memcg_ops)");
			m = POLICY_MODE_TRACING;
		}
	} else if (btf__find_by_name_kind(btf, "try_charge_memcg", BTF_KIND_FUNC) >= 0) {
		(void) snprintf(reason, reason_size, "kernel has no memcg_ops (not our patched kernel, or CONFIG_MEMCG_BPF=n)");
		m = POLICY_MODE_TRACING;
	} else {
		(void) snprintf(reason, reason_size, "kernel BTF has neither memcg_ops nor try_charge_memcg");
		m = POLICY_MODE_PSI_ONLY;
	}
	btf__free(btf);
	return m;
}

static int ring_record(void *ctx, void *data, size_t size)
{
	PolicyEngine *e = ctx;

	if (size < sizeof(struct memqosd_event))
		return 0;
	e->delivered++;
	if (e->handler)
		e->handler(data, e->userdata);
	return 0;
}

static int create_shared_maps(PolicyEngine *e)
{
	e->maps_adopted = false;
	e->events_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "memqosd_events", 0, 0, MEMQOSD_RINGBUF_BYTES, NULL);
	if (e->events_fd < 0)
		return log_debug_errno(e->log, e->events_fd, "Failed to create the ring buffer: %m");
	e->tenants_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "memqosd_tenants", sizeof(uint64_t),
				       sizeof(struct memqosd_tenant_key), MEMQOSD_MAX_TENANTS, NULL);
	if (e->tenants_fd < 0)
		return log_debug_errno(e->log, e->tenants_fd, "Failed to create the tenant map: %m");
	e->stats_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "memqosd_stats", sizeof(uint32_t),
				     sizeof(struct memqosd_tenant_stats), MEMQOSD_MAX_TENANTS, NULL);
	if (e->stats_fd < 0)
		return log_debug_errno(e->log, e->stats_fd, "Failed to create the stats map: %m");
	e->control_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "memqosd_control", sizeof(uint32_t),
				       sizeof(struct memqosd_control), 1, NULL);
	if (e->control_fd < 0)
		return log_debug_errno(e->log, e->control_fd, "Failed to create the control map: %m");
	e->params_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "memqosd_params", sizeof(uint64_t),
				      sizeof(struct memqosd_priority_params), MEMQOSD_MAX_TENANTS, NULL);
	if (e->params_fd < 0)
		return log_debug_errno(e->log, e->params_fd, "Failed to create the parameter map: %m");
	return 0;
}

/* The shared maps in the fd store, their names there and what they must be to be adopted. */
typedef struct SharedMapSpec {
	const char *name;
	size_t fd_offset;
	uint32_t type, key_size, value_size, max_entries;
} SharedMapSpec;

static const SharedMapSpec shared_maps[] = {
	{ HANDOVER_MAP_PREFIX "events", offsetof(PolicyEngine, events_fd), BPF_MAP_TYPE_RINGBUF, 0, 0, MEMQOSD_RINGBUF_BYTES },
	{ HANDOVER_MAP_PREFIX "tenants", offsetof(PolicyEngine, tenants_fd), BPF_MAP_TYPE_HASH, sizeof(uint64_t),
	  sizeof(struct memqosd_tenant_key), MEMQOSD_MAX_TENANTS },
	{ HANDOVER_MAP_PREFIX "stats", offsetof(PolicyEngine, stats_fd), BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
	  sizeof(struct memqosd_tenant_stats), MEMQOSD_MAX_TENANTS },
	{ HANDOVER_MAP_PREFIX "control", offsetof(PolicyEngine, control_fd), BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
	  sizeof(struct memqosd_control), 1 },
	/* Absent from the store of a memqosd before issue 12 (parameters in rodata): then nothing is
	 * adopted and every stored link gets this build's program (replace-program). */
	{ HANDOVER_MAP_PREFIX "params", offsetof(PolicyEngine, params_fd), BPF_MAP_TYPE_HASH, sizeof(uint64_t),
	  sizeof(struct memqosd_priority_params), MEMQOSD_MAX_TENANTS },
};

static int *shared_fd(PolicyEngine *e, const SharedMapSpec *m)
{
	return (int *) ((char *) e + m->fd_offset);
}

/*
 * The shared maps a previous memqosd handed to the fd store, if all of them are there and have the
 * layout this build uses: the adopted programs report into them, so the ring buffer's unread records
 * and the counters carry on. Otherwise new maps (and the stored programs get replaced).
 */
static void adopt_shared_maps(PolicyEngine *e)
{
	size_t n = 0;

	for (size_t i = 0; i < ELEMENTSOF(shared_maps); i++) {
		const SharedMapSpec *m = &shared_maps[i];
		struct bpf_map_info info = {};
		uint32_t len = sizeof(info);
		int fd = fdstore_take(e->store, m->name);

		if (fd < 0)
			continue;
		if (bpf_map_get_info_by_fd(fd, &info, &len) < 0 || info.type != m->type || info.key_size != m->key_size ||
		    info.value_size != m->value_size || info.max_entries != m->max_entries) {
			(void) log_notice(e->log, "Stored map %s has another layout (an older memqosd?), not adopting it", m->name);
			(void) close(fd);
			continue;
		}
		*shared_fd(e, m) = fd;
		n++;
	}
	if (n == ELEMENTSOF(shared_maps)) {
		e->maps_adopted = true;
		(void) log_info(e->log, "Adopted the shared BPF maps from the fd store (ring buffer, tenants, counters, control, "
				"parameters)");
		return;
	}
	for (size_t i = 0; i < ELEMENTSOF(shared_maps); i++)
		closep(shared_fd(e, &shared_maps[i]));
}

/* Hand the shared maps to the fd store (replacing what is stored under their names). Only the
 * struct_ops policies are handed over; the tracing ones are loaded again by the next start. */
static void store_shared_maps(PolicyEngine *e)
{
	if (e->maps_adopted || !fdstore_enabled(e->store) || e->mode != POLICY_MODE_STRUCT_OPS)
		return;
	for (size_t i = 0; i < ELEMENTSOF(shared_maps); i++) {
		(void) fdstore_remove(e->store, shared_maps[i].name);
		(void) fdstore_put(e->store, shared_maps[i].name, *shared_fd(e, &shared_maps[i]));
	}
}

static int reuse_shared(PolicyEngine *e, struct bpf_map *events, struct bpf_map *tenants, struct bpf_map *stats,
			struct bpf_map *control)
{
	int r;

	r = bpf_map__reuse_fd(events, e->events_fd);
	if (r >= 0)
		r = bpf_map__reuse_fd(tenants, e->tenants_fd);
	if (r >= 0)
		r = bpf_map__reuse_fd(stats, e->stats_fd);
	if (r >= 0)
		r = bpf_map__reuse_fd(control, e->control_fd);
	return r < 0 ? r : 0;
}

static int observe_try(PolicyEngine *e, bool fentry)
{
	struct observe_bpf *skel;
	int r;

	skel = observe_bpf__open();
	if (!skel)
		return log_debug_errno(e->log, negative_errno(), "Failed to open the observe policy: %m");
	r = reuse_shared(e, skel->maps.memqosd_events, skel->maps.memqosd_tenants, skel->maps.memqosd_stats,
			 skel->maps.memqosd_control);
	if (r < 0)
		goto fail;
	/* One flavour per load. The over-high entry point was renamed in 6.13: load the one this
	 * kernel has (or none). */
	(void) bpf_program__set_autoload(skel->progs.observe_charge, fentry);
	(void) bpf_program__set_autoload(skel->progs.observe_charge_fail, fentry);
	(void) bpf_program__set_autoload(skel->progs.observe_reclaim, fentry);
	(void) bpf_program__set_autoload(skel->progs.observe_over_high_612, fentry && e->has_over_high_612);
	(void) bpf_program__set_autoload(skel->progs.observe_over_high,
					 fentry && e->has_over_high && !e->has_over_high_612);
	(void) bpf_program__set_autoload(skel->progs.observe_tp_charge, !fentry);
	(void) bpf_program__set_autoload(skel->progs.observe_tp_reclaim, !fentry);
	r = observe_bpf__load(skel);
	if (r < 0) {
		(void) log_debug_errno(e->log, r, "Failed to load the observe policy (%s): %m",
				       fentry ? "fentry" : "tracepoints");
		goto fail;
	}
	r = observe_bpf__attach(skel);
	if (r < 0) {
		(void) log_debug_errno(e->log, r, "Failed to attach the observe policy (%s): %m",
				       fentry ? "fentry" : "tracepoints");
		goto fail;
	}
	e->observe = skel;
	e->observe_flavour = fentry ? "fentry" : "tracepoints";
	return 0;
fail:
	observe_bpf__destroy(skel);
	return r;
}

/* fentry/fexit where the kernel has BPF trampolines, else the memcg tracepoints (observe.bpf.c). */
static int observe_load(PolicyEngine *e)
{
	int r = -EOPNOTSUPP;

	if (e->observe)
		return 0;
	if (e->has_try_charge) {
		r = observe_try(e, true);
		if (r >= 0)
			return 0;
	}
	if (e->has_memcg_tracepoints) {
		int k = observe_try(e, false);

		if (k >= 0) {
			(void) log_debug(e->log, "observe policy: fentry unavailable, using the memcg tracepoints");
			return 0;
		}
		if (r == -EOPNOTSUPP)
			r = k;
	}
	return r;
}

/* Detach and forget a stored link nobody will use. */
static void link_discard(PolicyEngine *e, const char *name, int fd)
{
	(void) bpf_link_detach(fd);
	(void) close(fd);
	(void) fdstore_remove(e->store, name);
}

#if HAVE_PRIORITY_SKEL
typedef struct priority_bpf__memqosd_priority__memcg_ops PriorityOps;
/* A struct_ops map's value (struct bpf_struct_ops_memcg_ops): the kernel's refcount and state, then,
 * cacheline-aligned at e->ops_offset (from the kernel's BTF), the ops as loaded, with the id of each
 * program in its function pointer (linux 6.12 bpf_struct_ops_map_update_elem()). */
static const size_t priority_prog_slots[] = {
	offsetof(PriorityOps, charge), offsetof(PriorityOps, high_delay), offsetof(PriorityOps, below_low),
	offsetof(PriorityOps, below_min), offsetof(PriorityOps, online), offsetof(PriorityOps, offline),
};

/*
 * Is fd what its name says: a struct_ops link to a memqosd priority map for that cgroup, whose
 * programs are struct_ops programs of ours? 0, or -EBADMSG with why.
 */
static int link_verify(PolicyEngine *e, int fd, const HandoverLink *id, char *why, size_t why_size)
{
	struct bpf_link_info li = {};
	struct bpf_map_info mi = {};
	uint32_t len = sizeof(li);
	_cleanup_close_ int mfd = -EBADF;
	_cleanup_free_ uint8_t *value = NULL;
	struct memqosd_struct_ops_link_info so;
	uint32_t zero = 0, map_id;
	uint64_t cgroup_id;
	size_t n_progs = 0;

	if (bpf_link_get_info_by_fd(fd, &li, &len) < 0 || li.type != BPF_LINK_TYPE_STRUCT_OPS) {
		(void) snprintf(why, why_size, "not a struct_ops link");
		return -EBADMSG;
	}
	/* info.struct_ops (map_id since linux 6.4, the target cgroup's id from the series) starts the
	 * per-type union; the system's <linux/bpf.h> may predate both. */
	memcpy(&so, (const char *) &li + offsetof(struct bpf_link_info, raw_tracepoint), sizeof(so));
	map_id = so.map_id;
	cgroup_id = so.cgroup_id;
	if (cgroup_id != id->cgroup_id) {
		(void) snprintf(why, why_size, "link %u is attached to cgroup %llu, not %llu", li.id,
				(unsigned long long) cgroup_id, (unsigned long long) id->cgroup_id);
		return -EBADMSG;
	}
	mfd = bpf_map_get_fd_by_id(map_id);
	len = sizeof(mi);
	if (mfd < 0 || bpf_map_get_info_by_fd(mfd, &mi, &len) < 0) {
		(void) snprintf(why, why_size, "its struct_ops map %u is not readable: %s", map_id,
				strerror(errno));
		return -EBADMSG;
	}
	if (mi.type != BPF_MAP_TYPE_STRUCT_OPS || strncmp(mi.name, "memqosd_priority", sizeof(mi.name) - 1) != 0 ||
	    e->ops_offset == 0 || mi.value_size < e->ops_offset + sizeof(PriorityOps)) {
		(void) snprintf(why, why_size, "map %u (%s) is not a memqosd priority policy", mi.id, mi.name);
		return -EBADMSG;
	}
	value = calloc(1, mi.value_size);
	if (!value)
		return -ENOMEM;
	if (bpf_map_lookup_elem(mfd, &zero, value) < 0) {
		(void) snprintf(why, why_size, "map %u cannot be read: %s", mi.id, strerror(errno));
		return -EBADMSG;
	}
	for (size_t i = 0; i < ELEMENTSOF(priority_prog_slots); i++) {
		struct bpf_prog_info pi = {};
		_cleanup_close_ int pfd = -EBADF;
		uint64_t prog_id;

		memcpy(&prog_id, value + e->ops_offset + priority_prog_slots[i], sizeof(prog_id));
		if (prog_id == 0)
			continue;
		pfd = bpf_prog_get_fd_by_id((uint32_t) prog_id);
		len = sizeof(pi);
		if (pfd < 0 || bpf_prog_get_info_by_fd(pfd, &pi, &len) < 0 || pi.type != BPF_PROG_TYPE_STRUCT_OPS ||
		    strncmp(pi.name, "memqosd_", 8) != 0) {
			(void) snprintf(why, why_size, "program %llu of map %u is not a memqosd struct_ops program",
					(unsigned long long) prog_id, mi.id);
			return -EBADMSG;
		}
		n_progs++;
	}
	if (n_progs == 0) {
		(void) snprintf(why, why_size, "map %u has no programs", mi.id);
		return -EBADMSG;
	}
	(void) log_debug(e->log, "Stored link %u: struct_ops map %u, cgroup %llu, %zu programs", li.id, mi.id,
			 (unsigned long long) cgroup_id, n_progs);
	return 0;
}
#endif

/*
 * The policy links a previous memqosd handed to the fd store: verified and kept aside until a tenant
 * claims its own (instance_install()); policy_engine_release_unclaimed() detaches the rest.
 */
static void adopt_links(PolicyEngine *e)
{
	for (size_t i = 0; i < fdstore_count(e->store); i++) {
		const char *name = fdstore_name(e->store, i);
		char nbuf[HANDOVER_NAME_MAX + 1], why[160] = "";
		HandoverLink id;
		PolicyAdoptable *n;
		int fd, r = -EOPNOTSUPP;

		if (!name || strncmp(name, HANDOVER_LINK_PREFIX, strlen(HANDOVER_LINK_PREFIX)) != 0)
			continue;
		(void) snprintf(nbuf, sizeof(nbuf), "%s", name);
		fd = fdstore_take(e->store, nbuf);
		if (fd < 0)
			continue;
		if (handover_link_parse(nbuf, &id) < 0) {
			(void) log_notice(e->log, "Stored link %s is not one this memqosd understands, detaching it", nbuf);
			link_discard(e, nbuf, fd);
			continue;
		}
#if HAVE_PRIORITY_SKEL
		if (e->mode == POLICY_MODE_STRUCT_OPS)
			r = link_verify(e, fd, &id, why, sizeof(why));
		else
#endif
			(void) snprintf(why, sizeof(why), "mode %s has no struct_ops policies", policy_mode_to_string(e->mode));
		if (r < 0) {
			(void) log_notice(e->log, "Stored link %s cannot be adopted (%s), detaching it", nbuf, why);
			link_discard(e, nbuf, fd);
			continue;
		}
		n = reallocarray(e->adoptable, e->n_adoptable + 1, sizeof(*e->adoptable));
		if (!n) {
			(void) close(fd); /* the store keeps it; the next start may adopt it */
			continue;
		}
		e->adoptable = n;
		n[e->n_adoptable] = (PolicyAdoptable) { .id = id, .fd = fd };
		memcpy(n[e->n_adoptable].name, nbuf, sizeof(nbuf));
		e->n_adoptable++;
	}
	if (e->n_adoptable > 0)
		(void) log_info(e->log, "%zu policy link(s) handed back by systemd, still attached", e->n_adoptable);
}

static PolicyAdoptable *adoptable_find(PolicyEngine *e, uint64_t cgroup_id)
{
	for (size_t i = 0; i < e->n_adoptable; i++)
		if (e->adoptable[i].id.cgroup_id == cgroup_id)
			return &e->adoptable[i];
	return NULL;
}

static void adoptable_drop(PolicyEngine *e, PolicyAdoptable *a)
{
	*a = e->adoptable[--e->n_adoptable];
}

static PolicyInstance *instance_find_cgroup(const PolicyEngine *e, uint64_t cgroup_id)
{
	for (size_t i = 0; i < e->n_instances; i++)
		if (e->instances[i].cgroup_id == cgroup_id)
			return &e->instances[i];
	return NULL;
}

/*
 * Delete the parameter entries no tenant of ours has: those of an adopted map whose tenants went
 * away while no memqosd ran, or whose stored links were detached above. Once, after start-up: one
 * walk of the map (the stale keys collected first: deleting during the walk would restart it).
 */
static void params_sweep(PolicyEngine *e)
{
	_cleanup_free_ uint64_t *stale = NULL;
	uint64_t key, *prev = NULL;
	size_t n = 0;

	if (e->params_fd < 0)
		return;
	stale = calloc(MEMQOSD_MAX_TENANTS, sizeof(*stale));
	if (!stale)
		return;
	while (n < MEMQOSD_MAX_TENANTS && bpf_map_get_next_key(e->params_fd, prev, &key) >= 0) {
		PolicyInstance *in = instance_find_cgroup(e, key);

		if (!in || !in->has_params)
			stale[n++] = key;
		prev = &key;
	}
	for (size_t i = 0; i < n; i++)
		(void) bpf_map_delete_elem(e->params_fd, &stale[i]);
	if (n > 0)
		(void) log_debug(e->log, "Deleted %zu policy parameter entr%s no tenant has", n, n == 1 ? "y" : "ies");
}

uint32_t policy_engine_adoptable_tenant(const PolicyEngine *e, uint64_t cgroup_id)
{
	if (!e)
		return 0;
	for (size_t i = 0; i < e->n_adoptable; i++)
		if (e->adoptable[i].id.cgroup_id == cgroup_id)
			return e->adoptable[i].id.tenant_id;
	return 0;
}

void policy_engine_release_unclaimed(PolicyEngine *e)
{
	if (!e)
		return;
	while (e->n_adoptable > 0) {
		PolicyAdoptable *a = &e->adoptable[e->n_adoptable - 1];

		if (e->handing_over)
			(void) close(a->fd); /* still in the store for the next start */
		else {
			(void) log_info(e->log, "Detaching stored policy link %s: no tenant wants it any more", a->name);
			link_discard(e, a->name, a->fd);
		}
		e->n_adoptable--;
	}
	if (!e->handing_over)
		params_sweep(e);
}

void policy_engine_hand_over(PolicyEngine *e)
{
	if (e && fdstore_enabled(e->store))
		e->handing_over = true;
}

bool policy_engine_handing_over(const PolicyEngine *e)
{
	return e && e->handing_over;
}

static unsigned kernel_hz(void)
{
	struct timespec ts;

	/* The coarse clocks tick with the jiffy: their resolution is 1/HZ. */
	if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts) < 0 || ts.tv_sec != 0 || ts.tv_nsec <= 0)
		return 250;
	return (unsigned) ((1000000000L + ts.tv_nsec / 2) / ts.tv_nsec);
}

static void adopt_links(PolicyEngine *e);

/* Byte offset of member "data" (the ops) in the kernel's value type of a struct_ops map; 0: none. */
static size_t struct_ops_data_offset(const struct btf *btf, const char *value_type)
{
	const struct btf_member *m;
	const struct btf_type *t;
	int id;

	id = btf__find_by_name_kind(btf, value_type, BTF_KIND_STRUCT);
	if (id < 0)
		return 0;
	t = btf__type_by_id(btf, id);
	m = btf_members(t);
	for (unsigned i = 0; i < btf_vlen(t); i++, m++) {
		const char *name = btf__name_by_offset(btf, m->name_off);

		if (name && streq(name, "data"))
			return btf_member_bit_offset(t, i) / 8;
	}
	return 0;
}

int policy_engine_new(const Logger *log, PolicyMode mode, FdStore *store, PolicyEventHandler handler, void *userdata,
		      PolicyEngine **ret)
{
	_cleanup_(policy_engine_freep) PolicyEngine *e = NULL;
	struct btf *btf;
	int r;

	if (!log || !ret || mode < 0 || mode >= _POLICY_MODE_MAX)
		return -EINVAL;
	if (mode == POLICY_MODE_PSI_ONLY)
		return -EOPNOTSUPP;
#if !HAVE_PRIORITY_SKEL
	if (mode == POLICY_MODE_STRUCT_OPS)
		return -EOPNOTSUPP;
#endif

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	*e = (PolicyEngine) {
		.log = log,
		.mode = mode,
		.events_fd = -EBADF,
		.tenants_fd = -EBADF,
		.stats_fd = -EBADF,
		.control_fd = -EBADF,
		.params_fd = -EBADF,
		.handler = handler,
		.userdata = userdata,
		.hz = kernel_hz(),
		.store = store,
	};
#if HAVE_PRIORITY_SKEL
	{
		size_t sz = 0;
		const void *elf = priority_bpf__elf_bytes(&sz);

		e->program = handover_hash(HANDOVER_HASH_INIT, elf, sz);
	}
#endif

	policy_libbpf_log(log);

	btf = btf__load_vmlinux_btf();
	if (btf) {
		e->has_over_high_612 = btf__find_by_name_kind(btf, "mem_cgroup_handle_over_high", BTF_KIND_FUNC) >= 0;
		e->has_over_high = btf__find_by_name_kind(btf, "__mem_cgroup_handle_over_high", BTF_KIND_FUNC) >= 0;
		e->has_try_charge = btf__find_by_name_kind(btf, "try_charge_memcg", BTF_KIND_FUNC) >= 0;
		e->ops_offset = struct_ops_data_offset(btf, "bpf_struct_ops_memcg_ops");
		e->has_memcg_tracepoints =
			btf__find_by_name_kind(btf, "btf_trace_mod_memcg_lruvec_state", BTF_KIND_TYPEDEF) >= 0 &&
			btf__find_by_name_kind(btf, "btf_trace_count_memcg_events", BTF_KIND_TYPEDEF) >= 0;
		btf__free(btf);
	}

	if (mode == POLICY_MODE_STRUCT_OPS)
		adopt_shared_maps(e);
	if (!e->maps_adopted) {
		r = create_shared_maps(e);
		if (r < 0)
			return r;
	}
	store_shared_maps(e);
	adopt_links(e);
	r = policy_engine_set_control(e, MEMQOSD_NO_PRIORITY, false);
	if (r < 0)
		return r;

	e->ring = (PolicyRing) { .log = log, .drain_max = 1024, .description = "bpf-ringbuf" };
	e->ring.rb = ring_buffer__new(e->events_fd, ring_record, e, NULL);
	if (!e->ring.rb)
		return log_debug_errno(log, negative_errno(), "Failed to set up the ring buffer reader: %m");

	if (mode == POLICY_MODE_TRACING) {
		r = observe_load(e);
		if (r < 0)
			return r;
	}

	*ret = TAKE_PTR(e);
	return 0;
}

static void instance_detach(PolicyEngine *e, PolicyInstance *in)
{
	in->hup = sd_event_source_disable_unref(in->hup);
	if (in->traced) {
		(void) bpf_map_delete_elem(e->tenants_fd, &in->cgroup_id);
		in->traced = false;
	}
	if (in->link_fd >= 0) {
		/* Handing over: the fd store keeps the link attached for the next start. Else detach now,
		 * whoever else holds the link (the store's copy goes with FDSTOREREMOVE). */
		if (!e->handing_over) {
			(void) bpf_link_detach(in->link_fd);
			if (in->store_name[0])
				(void) fdstore_remove(e->store, in->store_name);
		}
		closep(&in->link_fd);
		in->store_name[0] = 0;
	}
	/* After the detach: no hook of this tenant runs any more. Handing over, the next memqosd
	 * adopts the entry with the map. */
	if (in->has_params) {
		if (!e->handing_over)
			(void) bpf_map_delete_elem(e->params_fd, &in->cgroup_id);
		in->has_params = false;
	}
}

PolicyEngine *policy_engine_free(PolicyEngine *e)
{
	if (!e)
		return NULL;
	for (size_t i = 0; i < e->n_instances; i++)
		instance_detach(e, &e->instances[i]);
	free(e->instances);
	policy_ring_clear(&e->ring);
	policy_engine_release_unclaimed(e);
	free(e->adoptable);
	e->event = sd_event_unref(e->event);
	if (!e->handing_over && fdstore_enabled(e->store))
		for (size_t i = 0; i < ELEMENTSOF(shared_maps); i++)
			(void) fdstore_remove(e->store, shared_maps[i].name);
	observe_bpf__destroy(e->observe);
#if HAVE_PRIORITY_SKEL
	/* The links (the store's, when handing over) keep the struct_ops map and its programs alive. */
	priority_bpf__destroy(e->prio);
#endif
	closep(&e->params_fd);
	closep(&e->events_fd);
	closep(&e->tenants_fd);
	closep(&e->stats_fd);
	closep(&e->control_fd);
	if (libbpf_logger == e->log) {
		(void) libbpf_set_print(NULL);
		libbpf_logger = NULL;
	}
	free(e);
	return NULL;
}

PolicyMode policy_engine_mode(const PolicyEngine *e)
{
	return e ? e->mode : POLICY_MODE_PSI_ONLY;
}

static int on_ring_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	PolicyRing *ring = userdata;
	int r;

	(void) s;
	(void) fd;
	(void) revents;
	/*
	 * At most drain_max records per loop iteration: a flood must not starve signals, the bus and
	 * the watchdog. The epoll fd is level-triggered, so the rest comes next iteration.
	 */
	r = ring_buffer__consume_n(ring->rb, ring->drain_max);
	if (r < 0)
		(void) log_warning_errno(ring->log, r, "Failed to consume the BPF ring buffer %s, ignoring: %m",
					 ring->description);
	return 0;
}

int policy_ring_attach(PolicyRing *ring, sd_event *event)
{
	int r;

	if (!ring || !ring->rb || !event)
		return -EINVAL;
	r = sd_event_add_io(event, &ring->source, ring_buffer__epoll_fd(ring->rb), EPOLLIN, on_ring_io, ring);
	if (r < 0)
		return r;
	(void) sd_event_source_set_description(ring->source, ring->description);
	return 0;
}

void policy_ring_clear(PolicyRing *ring)
{
	ring->source = sd_event_source_disable_unref(ring->source);
	ring_buffer__free(ring->rb);
	ring->rb = NULL;
}

/*
 * The kernel drops a policy's attachment when the tenant's memory cgroup goes offline (the cgroup
 * was removed, or the memory controller disabled in it) and hangs up the link: polling it reports
 * EPOLLHUP. The link then attaches nothing; drop it (and its copy in the fd store) and say so.
 */
static int on_link_hup(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	PolicyEngine *e = userdata;
	PolicyInstance *in = NULL;

	(void) fd;
	(void) revents;
	for (size_t i = 0; i < e->n_instances && !in; i++)
		if (e->instances[i].hup == s)
			in = &e->instances[i];
	if (!in)
		return 0;
	(void) log_warning(e->log, "Tenant %" PRIu32 ": the kernel detached its policy (cgroup %llu removed or "
			   "its memory controller disabled); dropping the policy link",
			   in->tenant_id, (unsigned long long) in->cgroup_id);
	in->hup = sd_event_source_disable_unref(in->hup);
	if (in->store_name[0])
		(void) fdstore_remove(e->store, in->store_name);
	in->store_name[0] = 0;
	closep(&in->link_fd);
	/* The cgroup is gone: its parameters entry would never be read again. */
	if (in->has_params) {
		(void) bpf_map_delete_elem(e->params_fd, &in->cgroup_id);
		in->has_params = false;
	}
	return 0;
}

static int instance_watch(PolicyEngine *e, PolicyInstance *in)
{
	int r;

	if (!e->event || in->link_fd < 0 || in->hup)
		return 0;
	r = sd_event_add_io(e->event, &in->hup, in->link_fd, EPOLLHUP, on_link_hup, e);
	if (r < 0)
		return log_debug_errno(e->log, r, "Tenant %" PRIu32 ": cannot watch its policy link: %m", in->tenant_id);
	(void) sd_event_source_set_description(in->hup, "policy-link-hup");
	return 0;
}

int policy_engine_attach_event(PolicyEngine *e, sd_event *event)
{
	int r;

	if (!e || !event)
		return -EINVAL;
	r = policy_ring_attach(&e->ring, event);
	if (r < 0)
		return r;
	e->event = sd_event_ref(event);
	for (size_t i = 0; i < e->n_instances; i++)
		(void) instance_watch(e, &e->instances[i]);
	return 0;
}

int policy_engine_poll(PolicyEngine *e, int timeout_ms)
{
	if (!e)
		return -EINVAL;
	return ring_buffer__poll(e->ring.rb, timeout_ms);
}

static PolicyInstance *instance_find(const PolicyEngine *e, uint32_t tenant_id)
{
	for (size_t i = 0; i < e->n_instances; i++)
		if (e->instances[i].tenant_id == tenant_id)
			return &e->instances[i];
	return NULL;
}

static int stats_reset(PolicyEngine *e, uint32_t tenant_id)
{
	struct memqosd_tenant_stats zero = {};

	if (bpf_map_update_elem(e->stats_fd, &tenant_id, &zero, BPF_ANY) < 0)
		return negative_errno();
	return 0;
}

#if HAVE_PRIORITY_SKEL
#if MEMQOSD_FAULT_INJECTION
/*
 * Test builds only (meson -Dfault-injection=true, tests/vm/faults): MEMQOSD_FAULT_VERIFIER=NAME
 * makes the kernel's verifier reject tenant NAME's policy: its first program gets two unreachable
 * instructions appended ("r0 = 0; exit"), which the verifier refuses ("unreachable insn"). The
 * program's own instructions, and so its relocations, are left as they are.
 */
static void fault_verifier_reject(struct bpf_object *obj, const char *tenant)
{
	const char *want = getenv("MEMQOSD_FAULT_VERIFIER");
	_cleanup_free_ struct bpf_insn *insns = NULL;
	struct bpf_program *prog;
	size_t n;

	if (!want || !streq(want, tenant))
		return;
	prog = bpf_object__next_program(obj, NULL);
	if (!prog)
		return;
	n = bpf_program__insn_cnt(prog);
	insns = calloc(n + 2, sizeof(*insns));
	if (!insns)
		return;
	memcpy(insns, bpf_program__insns(prog), n * sizeof(*insns));
	insns[n] = (struct bpf_insn) { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0 };
	insns[n + 1] = (struct bpf_insn) { .code = BPF_JMP | BPF_EXIT };
	(void) bpf_program__set_insns(prog, insns, n + 2);
}
#endif

/*
 * Load the priority policy once for the engine: open, share the maps, load (the one verification
 * every struct_ops tenant relies on) and give its struct_ops map its value (priority_write_value()),
 * so that each tenant then costs one link. Not attached here.
 */
static int priority_write_value(PolicyEngine *e, struct priority_bpf *skel);

/* Open the priority policy with the engine's shared maps (not loaded). */
static int priority_open(PolicyEngine *e, struct priority_bpf **ret)
{
	struct priority_bpf *skel;
	int r;

	skel = priority_bpf__open();
	if (!skel)
		return log_debug_errno(e->log, negative_errno(), "Failed to open the priority policy: %m");
	r = reuse_shared(e, skel->maps.memqosd_events, skel->maps.memqosd_tenants, skel->maps.memqosd_stats,
			 skel->maps.memqosd_control);
	if (r >= 0)
		r = bpf_map__reuse_fd(skel->maps.memqosd_params, e->params_fd);
	if (r < 0) {
		priority_bpf__destroy(skel);
		return r;
	}
	/* The daemon holds the links; never let a skeleton-wide attach create one. */
	(void) bpf_map__set_autoattach(skel->maps.memqosd_priority, false);
	*ret = skel;
	return 0;
}

static int priority_load(PolicyEngine *e)
{
	struct priority_bpf *skel = NULL;
	int r;

	if (e->prio)
		return 0;
	r = priority_open(e, &skel);
	if (r < 0)
		return r;
	r = priority_bpf__load(skel);
	if (r < 0) {
		(void) log_debug_errno(e->log, r, "Failed to load the priority policy: %m");
		goto fail;
	}
	r = priority_write_value(e, skel);
	if (r < 0) {
		(void) log_debug_errno(e->log, r, "Failed to fill the priority policy's struct_ops map: %m");
		goto fail;
	}
	e->prio = skel;
	(void) log_debug(e->log, "Loaded the priority policy (struct_ops map %s), shared by every struct_ops tenant",
			 bpf_map__name(skel->maps.memqosd_priority));
	return 0;
fail:
	priority_bpf__destroy(skel);
	return r;
}

#if MEMQOSD_FAULT_INJECTION
/* Test builds: MEMQOSD_FAULT_VERIFIER=NAME: tenant NAME's policy is a separate load of the program,
 * made unverifiable (fault_verifier_reject()), so that its refusal hits that tenant alone. */
static int fault_priority_load(PolicyEngine *e, const PolicyTenant *t)
{
	const char *want = getenv("MEMQOSD_FAULT_VERIFIER");
	struct priority_bpf *skel = NULL;
	int r;

	if (!want || !streq(want, t->name))
		return 0;
	r = priority_open(e, &skel);
	if (r < 0)
		return r;
	fault_verifier_reject(skel->obj, t->name);
	r = priority_bpf__load(skel);
	priority_bpf__destroy(skel);
	if (r >= 0)
		r = -ENOEXEC; /* the injected fault did not take: still refuse, loudly */
	return log_debug_errno(e->log, r, "%s: failed to load the priority policy: %m", t->name);
}
#endif
#endif

#if HAVE_PRIORITY_SKEL
/* What the name of t's link in the fd store says: this build's program, t's parameters. */
static HandoverLink priority_identity(const PolicyEngine *e, const PolicyTenant *t)
{
	uint64_t v[4] = {
		(uint64_t) (int64_t) t->priority,
		t->protect_bytes,
		t->delay_floor_ms * e->hz / 1000,
		t->extra_reclaim_pages,
	};

	return (HandoverLink) {
		.cgroup_id = t->cgroup_id,
		.tenant_id = t->tenant_id,
		.program = e->program,
		.params = handover_hash(HANDOVER_HASH_INIT, v, sizeof(v)),
	};
}

/*
 * Give skel's struct_ops map its value, once, right after the load. The map of a link-based
 * struct_ops gets its value (the ops, with the fds of their programs) only when libbpf attaches or
 * updates its own bpf_link; the daemon holds its links as fds, so the value is written here the way
 * libbpf would, from the skeleton's copy of the ops, laid out as the kernel's value type
 * (e->ops_offset).
 */
static int priority_write_value(PolicyEngine *e, struct priority_bpf *skel)
{
	const PriorityOps *ops = skel->struct_ops.memqosd_priority;
	struct bpf_map *map = skel->maps.memqosd_priority;
	_cleanup_free_ uint8_t *value = NULL;
	size_t size = bpf_map__value_size(map);
	uint32_t zero = 0;

	if (e->ops_offset == 0 || size < e->ops_offset + sizeof(PriorityOps))
		return -EOPNOTSUPP;
	value = calloc(1, size);
	if (!value)
		return -ENOMEM;
	memcpy(value + e->ops_offset, ops, sizeof(*ops));
	for (size_t i = 0; i < ELEMENTSOF(priority_prog_slots); i++) {
		struct bpf_program *prog;
		uint64_t fd = 0;

		memcpy(&prog, (const uint8_t *) ops + priority_prog_slots[i], sizeof(prog));
		if (prog)
			fd = (uint64_t) bpf_program__fd(prog);
		memcpy(value + e->ops_offset + priority_prog_slots[i], &fd, sizeof(fd));
	}
	if (bpf_map_update_elem(bpf_map__fd(map), &zero, value, 0) < 0 && errno != EBUSY)
		return negative_errno();
	return 0;
}

/* Point the struct_ops link link_fd at the engine's struct_ops map (atomic: the cgroup is never
 * without a policy). */
static int priority_relink(PolicyEngine *e, int link_fd)
{
	if (bpf_link_update(link_fd, bpf_map__fd(e->prio->maps.memqosd_priority), NULL) < 0)
		return negative_errno();
	return 0;
}

/* Attach the engine's struct_ops map to t's cgroup (memqosd/memcg-link.h): a struct_ops link whose
 * target is the cgroup's fd. Returns the link's fd (close-on-exec). */
static int priority_attach(PolicyEngine *e, const PolicyTenant *t)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = BPF_F_CGROUP_FD);
	int r;

	if (t->cgroup_fd < 0)
		return -EBADF;
	r = bpf_link_create(bpf_map__fd(e->prio->maps.memqosd_priority), t->cgroup_fd, MEMQOSD_BPF_STRUCT_OPS, &opts);
	return r < 0 ? -errno : r;
}

/* Write t's parameter entry (one map update: atomic for the tenant, policy-abi.h). */
static int params_write(PolicyEngine *e, PolicyInstance *in, const PolicyTenant *t)
{
	PolicyParamsInput pin = {
		.cgroup_id = t->cgroup_id,
		.tenant_id = t->tenant_id,
		.priority = t->priority,
		.protect_bytes = t->protect_bytes,
		.delay_floor_ms = t->delay_floor_ms,
		.extra_reclaim_pages = t->extra_reclaim_pages,
	};
	struct memqosd_priority_params p;
	int r;

	r = policy_params_encode(&pin, e->hz, (uint64_t) sysconf(_SC_PAGESIZE), &p);
	if (r < 0)
		return r;
	if (bpf_map_update_elem(e->params_fd, &t->cgroup_id, &p, BPF_ANY) < 0)
		return log_debug_errno(e->log, negative_errno(), "%s: failed to write the policy parameters: %m", t->name);
	in->has_params = true;
	return 0;
}

/* Hand in's link to the fd store under the name for id (the old name, if any, removed first:
 * systemd ignores a second copy of an fd it already keeps). */
static void store_link(PolicyEngine *e, PolicyInstance *in, const HandoverLink *id)
{
	char name[HANDOVER_NAME_MAX + 1];

	if (!fdstore_enabled(e->store) || in->link_fd < 0 || handover_link_name(id, name, sizeof(name)) < 0)
		return;
	if (in->store_name[0] && !streq(in->store_name, name))
		(void) fdstore_remove(e->store, in->store_name);
	in->store_name[0] = 0;
	if (fdstore_put(e->store, name, in->link_fd) >= 0)
		memcpy(in->store_name, name, sizeof(name));
}
#endif

static int instance_install(PolicyEngine *e, PolicyInstance *in, const PolicyTenant *t)
{
	int r;

	in->tenant_id = t->tenant_id;
	in->cgroup_id = t->cgroup_id;
	in->kind = t->kind;

	if (t->kind == POLICY_NONE)
		return 0;

#if HAVE_PRIORITY_SKEL
	if (t->kind == POLICY_PRIORITY && e->mode == POLICY_MODE_STRUCT_OPS) {
		PolicyAdoptable *a = adoptable_find(e, t->cgroup_id);
		HandoverLink want = priority_identity(e, t);
		HandoverAction act = a ? handover_decide(&a->id, &want, e->maps_adopted) : HANDOVER_CLOSE;
		unsigned steps = handover_steps(act, a != NULL);

#if MEMQOSD_FAULT_INJECTION
		r = fault_priority_load(e, t);
		if (r < 0)
			return r;
#endif
		if (steps & HANDOVER_STEP_LOAD) {
			r = priority_load(e);
			if (r < 0)
				return r;
		}
		if (a && (steps & HANDOVER_STEP_RELINK)) {
			r = params_write(e, in, t);
			if (r >= 0)
				r = priority_relink(e, a->fd);
			if (r < 0) {
				(void) log_warning_errno(e->log, r, "%s: cannot swap the stored policy link, detaching it and "
							 "attaching anew: %m", t->name);
				link_discard(e, a->name, TAKE_FD(a->fd));
				adoptable_drop(e, a);
				a = NULL; /* on as for a tenant without a stored link: the program is loaded */
			}
		} else if (a && (steps & HANDOVER_STEP_PARAMS)) {
			r = params_write(e, in, t);
			if (r < 0)
				return r; /* the stored link stays adoptable; released after start-up */
		}
		if (a) {
			in->link_fd = TAKE_FD(a->fd);
			memcpy(in->store_name, a->name, sizeof(in->store_name));
			in->has_params = true; /* the entry is in the adopted (or, relinked, our own) map */
			adoptable_drop(e, a);
			if (act == HANDOVER_ADOPT)
				(void) log_info(e->log, "%s: adopted its policy link from the previous memqosd (%s), never detached",
						t->name, in->store_name);
			else
				(void) log_info(e->log, "%s: replaced the policy of the previous memqosd atomically (%s: %s)",
						t->name, handover_action_to_string(act),
						act == HANDOVER_REPLACE_PROGRAM ? "another program, the same link"
										: "other parameters, one map update, the same program");
			if (steps & HANDOVER_STEP_RENAME)
				store_link(e, in, &want);
			return 0;
		}

		/* No stored link (or it could not be swapped): the entry first, so that the first hook
		 * after the attach finds it, then the link. */
		r = params_write(e, in, t);
		if (r < 0)
			return r;
		r = priority_attach(e, t);
		if (r < 0)
			return log_debug_errno(e->log, r, "%s: failed to attach the priority policy: %m", t->name);
		/* The instance owns the link's fd from here on (handed to the fd store, detached explicitly). */
		in->link_fd = r;
		store_link(e, in, &want);
		return 0;
	}
#endif

	/* Tracing: the observe policy (loaded on first use in struct_ops mode) reports this cgroup. */
	r = observe_load(e);
	if (r < 0)
		return r;
	{
		struct memqosd_tenant_key key = { .tenant_id = t->tenant_id };

		if (bpf_map_update_elem(e->tenants_fd, &t->cgroup_id, &key, BPF_ANY) < 0)
			return log_debug_errno(e->log, negative_errno(), "%s: failed to register cgroup %llu: %m",
					       t->name, (unsigned long long) t->cgroup_id);
	}
	in->traced = true;
	return 0;
}

int policy_tenant_add(PolicyEngine *e, const PolicyTenant *t)
{
	PolicyInstance *in, *n;
	int r;

	if (!e || !t || t->tenant_id == 0 || t->tenant_id >= MEMQOSD_MAX_TENANTS)
		return -EINVAL;
	if (instance_find(e, t->tenant_id))
		return -EEXIST;

	/* A link adopted as it is keeps reporting into the adopted counters: they carry on. */
	{
		PolicyAdoptable *a = adoptable_find(e, t->cgroup_id);

		if (!(a && e->maps_adopted && a->id.tenant_id == t->tenant_id)) {
			r = stats_reset(e, t->tenant_id);
			if (r < 0)
				return r;
		}
	}
	n = reallocarray(e->instances, e->n_instances + 1, sizeof(*e->instances));
	if (!n)
		return -ENOMEM;
	e->instances = n;
	in = &e->instances[e->n_instances];
	*in = (PolicyInstance) { .link_fd = -EBADF };
	r = instance_install(e, in, t);
	if (r < 0) {
		instance_detach(e, in);
		return r;
	}
	e->n_instances++;
	(void) instance_watch(e, in);
	return 0;
}

int policy_tenant_update(PolicyEngine *e, const PolicyTenant *t)
{
	PolicyInstance *in, next = { .link_fd = -EBADF };
	int r;

	if (!e || !t)
		return -EINVAL;
	in = instance_find(e, t->tenant_id);
	if (!in)
		return policy_tenant_add(e, t);

#if HAVE_PRIORITY_SKEL
	/* priority -> priority on the same cgroup: one update of the tenant's parameter entry, atomic
	 * for the tenant; the link, its program and every other tenant stay as they are. */
	if (in->link_fd >= 0 && t->kind == POLICY_PRIORITY && e->mode == POLICY_MODE_STRUCT_OPS &&
	    in->cgroup_id == t->cgroup_id) {
		HandoverLink want = priority_identity(e, t);

		r = params_write(e, in, t);
		if (r < 0)
			return log_debug_errno(e->log, r, "%s: failed to update the policy parameters, keeping the old ones: %m",
					       t->name);
		in->kind = t->kind;
		in->tenant_id = t->tenant_id;
		store_link(e, in, &want);
		return 0;
	}
#endif

	/* Anything else: attach the new arrangement first, then drop the old one. The tracing filter
	 * entry is keyed by cgroup id, so a traced tenant staying traced on the same cgroup is kept. */
	if (in->traced && t->kind != POLICY_NONE && !(t->kind == POLICY_PRIORITY && e->mode == POLICY_MODE_STRUCT_OPS) &&
	    in->cgroup_id == t->cgroup_id) {
		in->kind = t->kind;
		return 0;
	}
	r = instance_install(e, &next, t);
	if (r < 0) {
		instance_detach(e, &next);
		return r;
	}
	if (in->traced && next.traced && in->cgroup_id == next.cgroup_id)
		in->traced = false; /* the entry now belongs to next */
	instance_detach(e, in);
	*in = next;
	(void) instance_watch(e, in);
	return 0;
}

void policy_tenant_remove(PolicyEngine *e, uint32_t tenant_id)
{
	PolicyInstance *in;

	if (!e)
		return;
	in = instance_find(e, tenant_id);
	if (!in)
		return;
	instance_detach(e, in);
	*in = e->instances[--e->n_instances];
}

const char *policy_tenant_describe(const PolicyEngine *e, uint32_t tenant_id)
{
	const PolicyInstance *in = e ? instance_find(e, tenant_id) : NULL;

	if (!in)
		return "none";
	if (in->link_fd >= 0)
		return "priority (struct_ops)";
	if (in->traced)
		return in->kind == POLICY_PRIORITY ? "priority (tracing)" : "observe (tracing)";
	return "none";
}

int policy_engine_set_control(PolicyEngine *e, int max_pressured_priority, bool host_pressured)
{
	static const uint32_t zero = 0;
	struct memqosd_control c = {};

	if (!e)
		return -EINVAL;
	(void) bpf_map_lookup_elem(e->control_fd, &zero, &c);
	if (c.max_pressured_priority == max_pressured_priority && c.host_pressured == host_pressured && c.generation)
		return 0;
	c.max_pressured_priority = max_pressured_priority;
	c.host_pressured = host_pressured;
	c.generation++;
	if (bpf_map_update_elem(e->control_fd, &zero, &c, BPF_ANY) < 0)
		return negative_errno();
	return 0;
}

int policy_engine_set_watch(PolicyEngine *e, unsigned watch_percent, uint64_t watch_usec, uint64_t min_growth_bytes)
{
	static const uint32_t zero = 0;
	struct memqosd_control c = {};
	uint64_t page = (uint64_t) sysconf(_SC_PAGESIZE);

	if (!e || watch_percent > 100)
		return -EINVAL;
	(void) bpf_map_lookup_elem(e->control_fd, &zero, &c);
	c.watch_permille = watch_percent * 10;
	c.watch_ms = watch_usec / 1000;
	c.watch_min_growth_pages = min_growth_bytes / page;
	if (bpf_map_update_elem(e->control_fd, &zero, &c, BPF_ANY) < 0)
		return negative_errno();
	return 0;
}

int policy_engine_set_charge_records(PolicyEngine *e, bool on)
{
	static const uint32_t zero = 0;
	struct memqosd_control c = {};

	if (!e)
		return -EINVAL;
	(void) bpf_map_lookup_elem(e->control_fd, &zero, &c);
	c.charge_records = on;
	if (bpf_map_update_elem(e->control_fd, &zero, &c, BPF_ANY) < 0)
		return negative_errno();
	return 0;
}

int policy_engine_read_stats(const PolicyEngine *e, uint32_t tenant_id, struct memqosd_tenant_stats *ret)
{
	if (!e || !ret || tenant_id >= MEMQOSD_MAX_TENANTS)
		return -EINVAL;
	if (bpf_map_lookup_elem(e->stats_fd, &tenant_id, ret) < 0)
		return negative_errno();
	return 0;
}

uint64_t policy_engine_lost_events(const PolicyEngine *e)
{
	struct memqosd_tenant_stats st;
	uint64_t sum = 0;

	if (!e)
		return 0;
	/* Index 0 and every tenant we know about. */
	if (policy_engine_read_stats(e, 0, &st) >= 0)
		sum += st.drops;
	for (size_t i = 0; i < e->n_instances; i++)
		if (policy_engine_read_stats(e, e->instances[i].tenant_id, &st) >= 0)
			sum += st.drops;
	return sum;
}

const char *policy_engine_observe_flavour(const PolicyEngine *e)
{
	return e && e->observe_flavour ? e->observe_flavour : "none";
}

uint64_t policy_engine_delivered(const PolicyEngine *e)
{
	return e ? e->delivered : 0;
}

/* ---- tenant ids ---- */

_Static_assert(MEMQOSD_MAX_TENANTS % 64 == 0, "the id bitmap is made of whole words");

void policy_id_init(PolicyIdAllocator *a)
{
	*a = (PolicyIdAllocator) { .cursor = 1 };
	a->used[0] = 1;  /* id 0 means "none" and is never handed out */
}

uint32_t policy_id_alloc(PolicyIdAllocator *a)
{
	const uint32_t n_words = MEMQOSD_MAX_TENANTS / 64;
	uint32_t w = a->cursor / 64;

	if (a->n_used >= POLICY_IDS_MAX)
		return 0;
	/* From the cursor's word to the end, then from the start: at most n_words + 1 words. */
	for (uint32_t i = 0; i <= n_words; i++, w = (w + 1) % n_words) {
		uint64_t free_bits = ~a->used[w];
		uint32_t id;

		if (i == 0)
			free_bits &= ~UINT64_C(0) << (a->cursor % 64);  /* ids before the cursor: later */
		if (!free_bits)
			continue;
		id = w * 64 + (uint32_t) __builtin_ctzll(free_bits);
		a->used[w] |= UINT64_C(1) << (id % 64);
		a->n_used++;
		a->cursor = (id + 1) % MEMQOSD_MAX_TENANTS;
		return id;
	}
	return 0;  /* not reached: n_used said there was one */
}

bool policy_id_take(PolicyIdAllocator *a, uint32_t id)
{
	uint64_t bit;

	if (id == 0 || id >= MEMQOSD_MAX_TENANTS)
		return false;
	bit = UINT64_C(1) << (id % 64);
	if (a->used[id / 64] & bit)
		return false;
	a->used[id / 64] |= bit;
	a->n_used++;
	return true;
}

void policy_id_free(PolicyIdAllocator *a, uint32_t id)
{
	uint64_t bit;

	if (id == 0 || id >= MEMQOSD_MAX_TENANTS)
		return;
	bit = UINT64_C(1) << (id % 64);
	if (!(a->used[id / 64] & bit))
		return;
	a->used[id / 64] &= ~bit;
	a->n_used--;
}
