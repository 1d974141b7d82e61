/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The BPF policy loader. One PolicyEngine per daemon owns:
 *  - the shared maps (include/memqosd/policy-abi.h): one ring buffer all policies report into, the
 *    cgroup-id -> tenant map the tracing policy filters on, per-tenant counters, the control block,
 *    the priority policy's per-tenant parameters (cgroup id -> struct memqosd_priority_params);
 *  - in tracing mode (or for tenants with Policy=observe) one instance of the "observe" policy;
 *  - in struct_ops mode one "priority" policy, opened, verified and loaded once (on the first tenant
 *    that needs it), its one struct_ops map attached to each tenant's cgroup through a BPF link the
 *    engine holds (issue 12: "verify once, attach many"). A tenant's parameters are its entry in
 *    the parameter map: a reload that changes them is one map update, atomic for the tenant, with
 *    no program swap and nothing verified again.
 *
 * Modes (policy_detect_mode()):
 *   struct_ops  the kernel's BTF has struct memcg_ops (our patch series, CONFIG_MEMCG_BPF=y);
 *   tracing     no memcg_ops, but BTF: the observe policy, with fentry/fexit where the kernel has BPF
 *               trampolines, else with the memcg tracepoints of 6.13+ (fewer event kinds);
 *   psi-only    no BTF, or loading BPF failed (no privilege): the control loop runs on PSI and
 *               memory.events alone, and says why.
 *
 * Restarts (src/handover.h, src/fdstore.h): with systemd's fd store (store given to
 * policy_engine_new()), the shared maps and every struct_ops link are handed to it as they are
 * created, so a crash or a restart leaves them attached; the next engine adopts the maps (the
 * parameter map among them), verifies each stored link (link type, map, cgroup, programs) and,
 * tenant by tenant (handover_decide(), handover_steps()), keeps it as it is (same build: no program
 * is loaded for it), updates the tenant's parameter entry (other parameters: one map update, the
 * link keeps the previous memqosd's struct_ops map and programs), moves it to this engine's one
 * struct_ops map (bpf_link_update: another build, or the maps could not be adopted; the program is
 * loaded once for all tenants) or detaches it and deletes its entry (no tenant wants it,
 * policy_engine_release_unclaimed(), which also deletes the entries no tenant has). Without a
 * store, or on a stop that is not a restart,
 * links are detached explicitly when their tenant goes; tracing programs are never handed over (they
 * only observe) and are attached again by the next start.
 *
 * libbpf's log goes to the Logger given to policy_engine_new() at debug level. libbpf's print
 * callback takes no user pointer, so the logger is kept in one static pointer (the only global state
 * in memqosd; set while an engine exists).
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "fdstore.h"
#include "log.h"
#include "memqosd/event.h"
#include "memqosd/policy-abi.h"
#include "util.h"

typedef enum PolicyMode {
	POLICY_MODE_PSI_ONLY,
	POLICY_MODE_TRACING,
	POLICY_MODE_STRUCT_OPS,
	_POLICY_MODE_MAX,
	_POLICY_MODE_INVALID = -22,
} PolicyMode;

const char *policy_mode_to_string(PolicyMode m);

/*
 * What the running kernel offers, from /sys/kernel/btf/vmlinux (or btf_path if not NULL, for tests).
 * reason gets a human-readable explanation (e.g. why not struct_ops).
 */
PolicyMode policy_detect_mode(const char *btf_path, char *reason, size_t reason_size);

/*
 * A libbpf ring buffer read from an sd-event io source on its epoll fd, at most drain_max records per
 * loop iteration (the policies' ring and the sampler's). policy_ring_clear() frees rb and the source.
 */
struct ring_buffer;
typedef struct PolicyRing {
	struct ring_buffer *rb;
	sd_event_source *source;
	const Logger *log;
	size_t drain_max;
	const char *description;
} PolicyRing;

int policy_ring_attach(PolicyRing *ring, sd_event *event);
void policy_ring_clear(PolicyRing *ring);

/* Send libbpf's messages to log at debug level (another BPF loader, e.g. the sampler, calls this too). */
void policy_libbpf_log(const Logger *log);

typedef struct PolicyEngine PolicyEngine;

/* Called for every ring-buffer record, on the event loop (or from policy_engine_poll()). */
typedef void (*PolicyEventHandler)(const struct memqosd_event *ev, void *userdata);

/*
 * Create the shared maps and, in tracing mode, load and attach the observe policy. A failure is
 * returned (and described in the log); the caller falls back to PSI-only.
 */
int policy_engine_new(const Logger *log, PolicyMode mode, FdStore *store, PolicyEventHandler handler, void *userdata,
		      PolicyEngine **ret);
PolicyEngine *policy_engine_free(PolicyEngine *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(PolicyEngine *, policy_engine_free);

PolicyMode policy_engine_mode(const PolicyEngine *e);

/* Consume the ring buffer from an sd-event io source on its epoll fd. */
int policy_engine_attach_event(PolicyEngine *e, sd_event *event);
/* Wait up to timeout_ms for records and dispatch them (tests, benchmarks). Returns records or <0. */
int policy_engine_poll(PolicyEngine *e, int timeout_ms);

/*
 * Tenant ids (1..MEMQOSD_MAX_TENANTS-1; 0 = none): the key of a tenant in the BPF maps. A bitmap
 * with a rotating cursor: allocation scans from where the last one ended, so n allocations cost
 * O(n) in total (the scan of one is bounded by MEMQOSD_MAX_TENANTS/64 words), and a freed id is
 * handed out again only after every other free id has been, which keeps a recycled id away from
 * completions still in flight for its previous tenant as long as possible. Pure; no BPF.
 */
typedef struct PolicyIdAllocator {
	uint64_t used[MEMQOSD_MAX_TENANTS / 64];
	uint32_t cursor;  /* the next id to try */
	uint32_t n_used;  /* ids handed out (0 never counts) */
} PolicyIdAllocator;

#define POLICY_IDS_MAX (MEMQOSD_MAX_TENANTS - 1)

void policy_id_init(PolicyIdAllocator *a);
/* A free id, or 0 if all POLICY_IDS_MAX are in use. */
uint32_t policy_id_alloc(PolicyIdAllocator *a);
/* Mark id used if it is free (a stored policy link's id, adopted): true if it was. */
bool policy_id_take(PolicyIdAllocator *a, uint32_t id);
/* Give id back; 0 and ids not in use are ignored. */
void policy_id_free(PolicyIdAllocator *a, uint32_t id);

typedef struct PolicyTenant {
	uint32_t tenant_id;        /* 1..MEMQOSD_MAX_TENANTS-1, stable while the tenant exists */
	uint64_t cgroup_id;
	int cgroup_fd;             /* the cgroup's directory (O_RDONLY, borrowed): the policy link's target */
	const char *name;          /* for messages */
	PolicyKind kind;           /* Policy= */
	int priority;
	uint64_t protect_bytes;    /* MemoryLow= (0 = none): dynamic protection under pressure */
	uint64_t delay_floor_ms;   /* over-high sleep floor while outranked under pressure (0 = none) */
	uint32_t extra_reclaim_pages;
} PolicyTenant;

/*
 * Start reporting/governing a tenant: POLICY_PRIORITY in struct_ops mode writes its parameter entry
 * and links the engine's priority policy (loaded on the first such tenant) to its cgroup; in tracing mode (and for POLICY_OBSERVE) the tenant's cgroup goes into the filter map of
 * the observe policy; POLICY_NONE only resets its counters. Returns the kernel's error on failure (the
 * tenant then has no BPF policy; the caller reports it).
 */
int policy_tenant_add(PolicyEngine *e, const PolicyTenant *t);
/*
 * The profile changed. Priority stays priority on the same cgroup in struct_ops mode: one update of
 * the tenant's parameter entry (atomic for the tenant; no program swap); on failure the old
 * parameters stay and the error is returned. Anything else: the new arrangement is attached first,
 * then the old one dropped.
 */
int policy_tenant_update(PolicyEngine *e, const PolicyTenant *t);
/* The tenant id of the stored link for cgroup_id waiting to be adopted, or 0. */
uint32_t policy_engine_adoptable_tenant(const PolicyEngine *e, uint64_t cgroup_id);
/* Detach the stored links no tenant claimed (after start-up). */
void policy_engine_release_unclaimed(PolicyEngine *e);
/* The daemon stops for a restart: from now on removing a tenant or freeing the engine closes its
 * fds but leaves the links attached (systemd keeps them). No-op without a store. */
void policy_engine_hand_over(PolicyEngine *e);
bool policy_engine_handing_over(const PolicyEngine *e);

/* Detach whatever the tenant has. Idempotent. */
void policy_tenant_remove(PolicyEngine *e, uint32_t tenant_id);
/* Describe what tenant_id has now: "priority (struct_ops)", "observe (tracing)", "none". */
const char *policy_tenant_describe(const PolicyEngine *e, uint32_t tenant_id);

/* Publish the control loop's view to the struct_ops instances. */
int policy_engine_set_control(PolicyEngine *e, int max_pressured_priority, bool host_pressured);

/*
 * Parameters of the OOM forecast's entry records (WATCH, include/memqosd/policy-abi.h): near at
 * watch_percent of the tightest memory.max (0 = no WATCH records), or growing at >= min_growth_bytes
 * per second toward it within watch_usec.
 */
int policy_engine_set_watch(PolicyEngine *e, unsigned watch_percent, uint64_t watch_usec, uint64_t min_growth_bytes);
/* CHARGE ring-buffer records on or off (off by default; the daemon never turns them on: nothing
 * in it reads them). For tools and tests. */
int policy_engine_set_charge_records(PolicyEngine *e, bool on);
int policy_engine_read_stats(const PolicyEngine *e, uint32_t tenant_id, struct memqosd_tenant_stats *ret);
/* Ring-buffer records lost for lack of room, over all tenants (the kernel side counts them). */
uint64_t policy_engine_lost_events(const PolicyEngine *e);
/* How the observe policy is attached: "fentry", "tracepoints" or "none" (not loaded). */
const char *policy_engine_observe_flavour(const PolicyEngine *e);
/* Records delivered to the handler so far. */
uint64_t policy_engine_delivered(const PolicyEngine *e);
