/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Job 2, kernel side: loads bpf/sample.bpf.c, keeps its tenant map (cgroup id -> tenant id) and
 * per-tenant sampling settings, and reads its ring buffer. Its maps are its own (not the policies'):
 * sampling works whatever the policy mode (struct_ops, tracing, even psi-only when BPF tracing is
 * allowed). Flavour: "fentry" where the kernel has BPF trampolines, else "tracepoints" (see the BPF
 * file). Records go to the handler raw (include/memqosd/sample.h).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "log.h"
#include "memqosd/policy-abi.h"
#include "memqosd/sample.h"
#include "util.h"

typedef struct SampleEngine SampleEngine;

typedef void (*SampleRecordHandler)(const void *record, size_t size, void *userdata);

int sample_engine_new(const Logger *log, SampleRecordHandler handler, void *userdata, SampleEngine **ret);
SampleEngine *sample_engine_free(SampleEngine *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(SampleEngine *, sample_engine_free);

/* "fentry" or "tracepoints". */
const char *sample_engine_flavour(const SampleEngine *e);
/*
 * Detach the programs from their hooks (attached = false) or attach them again; maps and settings
 * stay. For the benchmarks' "not loaded" rounds without reloading (a load is slow under emulation).
 */
int sample_engine_set_attached(SampleEngine *e, bool attached);

/* Sample the cgroup cgroup_id (and below) as tenant_id with conf (conf->enabled = 0: stop). */
int sample_engine_set_tenant(SampleEngine *e, uint32_t tenant_id, uint64_t cgroup_id,
			     const struct memqosd_sample_conf *conf);
void sample_engine_remove_tenant(SampleEngine *e, uint32_t tenant_id, uint64_t cgroup_id);

int sample_engine_attach_event(SampleEngine *e, sd_event *event);
/* Wait up to timeout_ms and dispatch (tests). Returns records or <0. */
int sample_engine_poll(SampleEngine *e, int timeout_ms);
/* The counters summed over CPUs. */
int sample_engine_counters(const SampleEngine *e, struct memqosd_sample_counters *ret);
