/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Client verbs: talk to a running memqosd over its D-Bus API (bus.h). Each returns a process exit
 * status: 0 success, 1 refused/failed, 3 no daemon running (or no bus).
 */

#include <stdbool.h>
#include <stdint.h>

#include "sample-model.h"

#define CLIENT_EXIT_NOT_RUNNING 3

/* memqosd reload: calls Reload(), which returns when the reload finished; prints the errors. */
int client_reload(void);

/*
 * memqosd status [--json] [TENANT]: a table of the tenants (or one). With --json one object:
 *   {"mode":s,"dry_run":b,"tenant_count":n,"waiting_count":n,"tenants":[{"name":s,"cgroup":s,
 *    "template":s|null,"state":s,"priority":n,"memory_high":BYTES,"memory_high_min":BYTES,
 *    "memory_high_max":BYTES,"memory_current":BYTES,"pressure_some_avg10":number|null,"policy":s}]}
 * BYTES: a number of bytes, "max" (no limit), or null (unknown: the tenant is not active).
 * "template" is the template of an instance, null for a profile's tenant.
 */
int client_status(const char *tenant, bool json);

/*
 * memqosd watch [--json] [TENANT...]: subscribe to OomRisk, print a snapshot of every (selected)
 * tenant (ListRisks), then one line per signal. Lines, with --json one JSON object each:
 *   {"event":"risk","time":RFC 3339,"tenant":...,"cgroup":...,"level":...,"previous":...,
 *    "eta_seconds":number|null,"usage_bytes":...,"limit_bytes":...,"reason":...,
 *    "snapshot":bool,"repeat":bool,"evidence":{...}}
 * and, for every step of the storm guard (src/guard.h, signal Guard):
 *   {"event":"guard","time":RFC 3339,"tenant":...,"cgroup":...,"uid":number|null,"action":...,
 *    "reason":...,"measured":{"charge_bytes_per_sec":..,"forks_per_sec":..,"pids_current":..,"ok":b},
 *    "limits":{"charge_rate":..,"charge_burst":..,"fork_rate":..,"fork_burst":..,"pids_max":..,
 *    "actions":s,"mode":s}}
 * "event" names the kind; other kinds may join the stream later, consumers skip the ones they do
 * not know. Exit: 0 on SIGINT/SIGTERM or a closed stdout (SIGPIPE/EPIPE), 1 for an unknown tenant
 * or a bad reply, 3 if the daemon is not running or goes away (message on stderr).
 */
int client_watch(bool json, const char *const *tenants);

/*
 * memqosd top [TENANT] [--window DURATION] [-n N] [--sort growth|alloc|live] [--json] [--folded]:
 * calls TopAllocations (src/sample.h) and prints the table, one JSON object (sample_print_json())
 * or folded stacks. Exit 1 with the daemon's message for an unknown tenant, sampling off, a window
 * longer than kept or a caller who is not root; 3 if no daemon runs.
 */
/* memqosd thaw TENANT: calls Thaw (root only). Exit 1 unknown tenant / not frozen / denied, 3 no daemon. */
int client_thaw(const char *tenant);

int client_top(const char *tenant, uint64_t window_usec, unsigned n, SampleSort sort, bool json, bool folded);
