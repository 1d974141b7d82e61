/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Restarts without dropping the kernel policies: the pure part (names and decisions; the wiring to
 * systemd's file-descriptor store is src/fdstore.c, its use by the policy loader src/policy.c).
 *
 * Every BPF object that keeps a policy alive is handed to the fd store under a name (FDNAME=) that
 * says what it is and which program made it:
 *
 *   memqosd.map.NAME                              a map the policies share (ring buffer, tenants, ...)
 *   memqosd.link.CGROUP.TENANT.PROGRAM.PARAMS     a tenant's policy link
 *
 * CGROUP is the tenant's cgroup id, TENANT its id in the BPF maps (both decimal), PROGRAM the
 * identity of the BPF object built into the binary that attached it and PARAMS the hash of what the
 * profile put into the program (priority, protection, ...), both 16 lowercase hex digits. A start
 * compares a stored link with what it would attach itself (handover_decide()).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* sd_notify(3): FDNAME= is at most 255 characters, printable ASCII without ':'. */
#define HANDOVER_NAME_MAX 255
#define HANDOVER_MAP_PREFIX "memqosd.map."
#define HANDOVER_LINK_PREFIX "memqosd.link."

typedef struct HandoverLink {
	uint64_t cgroup_id;
	uint32_t tenant_id;
	uint64_t program;   /* identity of the BPF object */
	uint64_t params;    /* hash of the per-tenant parameters */
} HandoverLink;

/* FNV-1a, 64 bit: identities, not security (the fd store is the service's own). */
#define HANDOVER_HASH_INIT UINT64_C(0xcbf29ce484222325)
uint64_t handover_hash(uint64_t h, const void *p, size_t n);

/* Is name acceptable as FDNAME=? */
bool handover_name_valid(const char *name);

/* The link's name; -ENOBUFS if size is too small. */
int handover_link_name(const HandoverLink *l, char *buf, size_t size);
/* Parse a link's name: 0, or -EINVAL if name is not one (another object, another version). */
int handover_link_parse(const char *name, HandoverLink *ret);

typedef enum HandoverAction {
	HANDOVER_ADOPT,            /* the same program with the same parameters: keep the link as it is */
	HANDOVER_REPLACE_PROGRAM,  /* another build's program: swap the new one in (same link) */
	HANDOVER_REPLACE_PARAMS,   /* same program, other parameters or tenant id: swap likewise */
	HANDOVER_CLOSE,            /* no tenant wants it on that cgroup: detach it */
	_HANDOVER_ACTION_MAX,
} HandoverAction;

const char *handover_action_to_string(HandoverAction a);

/*
 * What to do with a stored link given the one this daemon wants on the same cgroup (NULL: none).
 * maps_kept: the shared maps were adopted too; if not, the stored program reports into maps nobody
 * reads any more and must be replaced even if it is the same.
 */
HandoverAction handover_decide(const HandoverLink *stored, const HandoverLink *wanted, bool maps_kept);

/*
 * How an action is carried out now that one loaded priority program serves every tenant and a
 * tenant's parameters are its entry in the shared parameter map (issue 12). Every stored link of
 * the previous memqosd points at that memqosd's one struct_ops map, so:
 *   adopt            nothing: the link, its map's programs and the adopted parameter entry stay;
 *                    no program is loaded or verified for it
 *   replace-params   one update of the tenant's parameter entry (atomic for the tenant), the link
 *                    and its program stay; only the link's name in the fd store changes
 *   replace-program  this build's program is loaded (once for all tenants), the tenant's entry
 *                    written into this engine's parameter map, then the link updated to this
 *                    engine's struct_ops map (bpf_link_update: the cgroup is never without a policy)
 *   close            detach the link and delete its parameter entry
 * A tenant with no stored link (NULL stored) gets its entry, then a new link to this engine's map.
 */
typedef enum HandoverStep {
	HANDOVER_STEP_LOAD = 1 << 0,     /* this build's program must be loaded (once per engine) */
	HANDOVER_STEP_PARAMS = 1 << 1,   /* write the tenant's parameter entry */
	HANDOVER_STEP_ATTACH = 1 << 2,   /* create a new link to this engine's struct_ops map */
	HANDOVER_STEP_RELINK = 1 << 3,   /* bpf_link_update() the stored link to this engine's map */
	HANDOVER_STEP_RENAME = 1 << 4,   /* store the link under the name of what it runs now */
	HANDOVER_STEP_DETACH = 1 << 5,   /* detach the stored link */
	HANDOVER_STEP_FORGET = 1 << 6,   /* delete the cgroup's parameter entry */
} HandoverStep;

/* The steps for action a on a stored link, or (have_stored false) for a tenant without one. */
unsigned handover_steps(HandoverAction a, bool have_stored);
