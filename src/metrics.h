/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Prometheus metrics, the pure half: a snapshot of plain values (MetricsSnapshot), filled on the
 * event loop by src/metrics-http.c from what the daemon already holds, and rendered here into the
 * Prometheus text exposition format (version 0.0.4). No I/O, no Manager: unit-tested on tables
 * (tests/unit/test-metrics.c).
 *
 * Every name has the memqosd_ prefix; counters end in _total, byte gauges in _bytes, ratios in
 * _ratio; per-tenant series carry the labels tenant and cgroup. A value of MEMQOSD_BYTES_MAX ("max")
 * is rendered as +Inf. Label values are escaped (backslash, double quote, newline) as the format
 * requires: tenant and cgroup names come from file names and paths, which may hold any of them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Why memory.high changed: the first word of the writer's reason, folded into a closed set. */
typedef enum MetricsReason {
	METRICS_REASON_SQUEEZE,
	METRICS_REASON_RELAX,
	METRICS_REASON_CLAMP,
	METRICS_REASON_RELOAD,
	METRICS_REASON_OTHER,
	_METRICS_REASON_MAX,
} MetricsReason;

const char *metrics_reason_to_string(MetricsReason r);
/* "squeeze: higher-priority tenant ..." -> METRICS_REASON_SQUEEZE; unknown or NULL -> OTHER. */
MetricsReason metrics_reason_classify(const char *reason);

/* Policy counters from the BPF stats map, by kind (label kind=). */
typedef enum MetricsPolicyKind {
	METRICS_POLICY_CHARGE,
	METRICS_POLICY_CHARGE_FAIL,
	METRICS_POLICY_OVER_HIGH,
	METRICS_POLICY_RECLAIM,
	METRICS_POLICY_PROTECT,
	_METRICS_POLICY_MAX,
} MetricsPolicyKind;

const char *metrics_policy_kind_to_string(MetricsPolicyKind k);

typedef struct MetricsTenant {
	const char *name;
	const char *cgroup;
	const char *state;              /* "active", "waiting", "no-policy" */
	int priority;
	uint64_t high_min, high_max;    /* profile bounds, bytes (MEMQOSD_BYTES_MAX = max) */
	bool active;                    /* the following three are known */
	uint64_t high;                  /* memory.high as last written/read */
	uint64_t current;               /* memory.current at the last read */
	bool has_pressure;
	unsigned pressure_avg10;        /* hundredths of a percent */
	uint64_t adjustments[_METRICS_REASON_MAX];
	bool has_policy_stats;          /* the policy counters and lost_events are known */
	uint64_t policy_events[_METRICS_POLICY_MAX];
	uint64_t lost_events;
} MetricsTenant;

#define METRICS_MODES_MAX 3

typedef struct MetricsSnapshot {
	const char *version;
	const char *mode;               /* "struct_ops", "tracing", "psi-only" */
	const char *pressure_type;      /* "some" or "full": which PSI line the tenants' ratio is */
	bool dry_run;
	uint64_t reloads_ok, reloads_refused;
	uint64_t write_timeouts;        /* writes interrupted at WriteTimeoutSec= */
	uint64_t write_failures;
	bool has_bpf;                   /* a BPF policy engine runs: the two counters below are known */
	uint64_t bpf_events_delivered, bpf_events_lost;
	const MetricsTenant *tenants;
	size_t n_tenants;
} MetricsSnapshot;

/* The whole exposition, NUL-terminated, in *ret (caller frees); its length in *ret_len. */
int metrics_render(const MetricsSnapshot *s, char **ret, size_t *ret_len);

/* Write v to f as a label value, escaped (\\, \", \n). */
void metrics_write_label_value(FILE *f, const char *v);
