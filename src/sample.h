/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Job 2, wiring: "what is eating this tenant's memory". Attached to the manager through its hook
 * table. For every ACTIVE tenant whose [Sampling] has Enable=yes, its cgroup goes into the sampler
 * (src/sample-engine.h, loaded on the first such tenant). Each sample record is symbolised
 * (src/symbolize.h: the process's mappings are snapshotted when its first sample arrives; user
 * stacks DWARF-unwound, kernel frames from kallsyms if KernelStacks=yes) and aggregated
 * (src/sample-model.h). `memqosd top` asks through D-Bus (TopAllocations, root only); a tenant whose
 * sampled growth stays above GrowthAlert= per minute for GrowthAlertSec= gets a journal record
 * naming its fastest-growing stack (MEMQOSD_MESSAGE_ALLOC_GROWTH), at most one per GrowthAlertSec=.
 *
 * D-Bus, on org.memqosd1.Manager (root only: stacks reveal code):
 *   TopAllocations(s tenant, t window_usec, u n, s sort)
 *       -> (t window_usec, t sample_bytes, t dropped, a(sttxtttsas) stacks)
 *   tenant "" = every tenant; window_usec 0 = the tenant's WindowSec= (every tenant: the longest);
 *   sort "growth", "alloc" or "live"; each stack: tenant, alloc_bytes, freed_bytes, growth_bytes,
 *   live_bytes, samples, span_usec (how long within the window the stack has been seen: the
 *   base of its growth rate), comm, frames (innermost first). Errors: org.memqosd1.NoSuchTenant,
 *   org.memqosd1.SamplingOff (sampling is off for the tenant / every tenant, or could not start),
 *   org.freedesktop.DBus.Error.InvalidArgs (window longer than what is kept, bad sort).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "manager.h"
#include "sample-model.h"

#define MEMQOSD_BUS_ERROR_SAMPLING_OFF "org.memqosd1.SamplingOff"
#define MEMQOSD_BUS_SAMPLE_STACK_SIGNATURE "(sttxtttsas)"

/* How often the growth alert is evaluated. */
#define SAMPLER_ALERT_PERIOD_USEC (10 * USEC_PER_SEC)

typedef struct Sampler Sampler;

/* Register the hooks and the alert timer; nothing is loaded until a tenant enables sampling. */
int sampler_install(Manager *m, Sampler **ret);
Sampler *sampler_free(Sampler *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Sampler *, sampler_free);

/* TopAllocations on the manager's bus (no-op without a bus). */
int sampler_bus_register(Sampler *s, sd_bus *bus);

/* One record from the sampler's ring buffer (include/memqosd/sample.h); exported for tests. */
void sampler_handle_record(Sampler *s, const void *record, size_t size);

typedef struct SamplerTop {
	uint64_t window_usec;
	uint64_t sample_bytes;
	uint64_t dropped;
	SampleRow *rows;             /* free(); strings borrowed from the model until it changes */
	size_t n_rows;
} SamplerTop;

/*
 * The top n stacks of tenant (NULL or "" = every tenant) over window_usec (0 = default). Errors,
 * with a message for a person in *ret_message (malloc'ed): -ENOENT unknown tenant, -ENODATA sampling
 * off, -ERANGE window longer than kept, -EOPNOTSUPP the sampler could not start.
 */
int sampler_top(Sampler *s, const char *tenant, uint64_t window_usec, size_t n, SampleSort sort, SamplerTop *ret,
		char **ret_message);
/* Name of a tenant id (for rows of every tenant); NULL if unknown. */
const char *sampler_tenant_name(uint32_t tenant_id, void *userdata);
