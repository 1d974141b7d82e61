/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rendering of the Prometheus text exposition format (see metrics.h). Pure: a snapshot in, text out.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

static const char *const reason_names[_METRICS_REASON_MAX] = {
	[METRICS_REASON_SQUEEZE] = "squeeze",
	[METRICS_REASON_RELAX] = "relax",
	[METRICS_REASON_CLAMP] = "clamp",
	[METRICS_REASON_RELOAD] = "reload",
	[METRICS_REASON_OTHER] = "other",
};

static const char *const policy_kind_names[_METRICS_POLICY_MAX] = {
	[METRICS_POLICY_CHARGE] = "charge",
	[METRICS_POLICY_CHARGE_FAIL] = "charge_fail",
	[METRICS_POLICY_OVER_HIGH] = "over_high",
	[METRICS_POLICY_RECLAIM] = "reclaim",
	[METRICS_POLICY_PROTECT] = "protect",
};

static const char *const mode_names[METRICS_MODES_MAX] = { "struct_ops", "tracing", "psi-only" };
static const char *const state_names[] = { "active", "waiting", "no-policy" };

const char *metrics_reason_to_string(MetricsReason r)
{
	return r >= 0 && r < _METRICS_REASON_MAX ? reason_names[r] : NULL;
}

const char *metrics_policy_kind_to_string(MetricsPolicyKind k)
{
	return k >= 0 && k < _METRICS_POLICY_MAX ? policy_kind_names[k] : NULL;
}

MetricsReason metrics_reason_classify(const char *reason)
{
	size_t n;

	if (!reason)
		return METRICS_REASON_OTHER;
	n = strcspn(reason, ": ");
	for (MetricsReason r = 0; r < METRICS_REASON_OTHER; r++)
		if (strlen(reason_names[r]) == n && strncmp(reason, reason_names[r], n) == 0)
			return r;
	return METRICS_REASON_OTHER;
}

void metrics_write_label_value(FILE *f, const char *v)
{
	for (const char *p = v ? v : ""; *p; p++)
		switch (*p) {
		case '\\':
			fputs("\\\\", f);
			break;
		case '"':
			fputs("\\\"", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		default:
			fputc(*p, f);
		}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void write_bytes(FILE *f, uint64_t v)
{
	if (v == MEMQOSD_BYTES_MAX)
		fputs("+Inf\n", f);
	else
		fprintf(f, "%" PRIu64 "\n", v);
}

/* NAME{tenant="..",cgroup=".."[,EXTRA="VALUE"]} and a space; the value follows. */
static void tenant_series(FILE *f, const char *name, const MetricsTenant *t, const char *extra, const char *value)
{
	fprintf(f, "%s{tenant=\"", name);
	metrics_write_label_value(f, t->name);
	fputs("\",cgroup=\"", f);
	metrics_write_label_value(f, t->cgroup);
	if (extra) {
		fprintf(f, "\",%s=\"", extra);
		metrics_write_label_value(f, value);
	}
	fputs("\"} ", f);
}

static void daemon_metrics(FILE *f, const MetricsSnapshot *s)
{
	family(f, "memqosd_build_info", "gauge", "memqosd build; the value is always 1");
	fputs("memqosd_build_info{version=\"", f);
	metrics_write_label_value(f, s->version);
	fputs("\"} 1\n", f);

	family(f, "memqosd_mode", "gauge", "Policy mode: 1 for the mode the daemon runs in, 0 for the others");
	for (size_t i = 0; i < ELEMENTSOF(mode_names); i++)
		fprintf(f, "memqosd_mode{mode=\"%s\"} %d\n", mode_names[i], s->mode && streq(s->mode, mode_names[i]));

	family(f, "memqosd_dry_run", "gauge", "1 if memqosd only logs the writes it would make");
	fprintf(f, "memqosd_dry_run %d\n", s->dry_run);

	family(f, "memqosd_tenants", "gauge", "Tenants by state");
	for (size_t i = 0; i < ELEMENTSOF(state_names); i++) {
		uint64_t n = 0;

		for (size_t j = 0; j < s->n_tenants; j++)
			n += s->tenants[j].state && streq(s->tenants[j].state, state_names[i]);
		fprintf(f, "memqosd_tenants{state=\"%s\"} %" PRIu64 "\n", state_names[i], n);
	}

	family(f, "memqosd_reloads_total", "counter", "Configuration reloads, applied (ok) or refused for errors");
	fprintf(f, "memqosd_reloads_total{result=\"ok\"} %" PRIu64 "\n", s->reloads_ok);
	fprintf(f, "memqosd_reloads_total{result=\"refused\"} %" PRIu64 "\n", s->reloads_refused);

	family(f, "memqosd_write_timeouts_total", "counter",
	       "memory.high/memory.low writes interrupted at WriteTimeoutSec=");
	fprintf(f, "memqosd_write_timeouts_total %" PRIu64 "\n", s->write_timeouts);
	family(f, "memqosd_write_failures_total", "counter", "memory.high/memory.low writes that failed");
	fprintf(f, "memqosd_write_failures_total %" PRIu64 "\n", s->write_failures);

	if (s->has_bpf) {
		family(f, "memqosd_bpf_events_delivered_total", "counter",
		       "BPF ring buffer records delivered to the daemon");
		fprintf(f, "memqosd_bpf_events_delivered_total %" PRIu64 "\n", s->bpf_events_delivered);
		family(f, "memqosd_bpf_events_lost_total", "counter",
		       "BPF ring buffer records lost for lack of room");
		fprintf(f, "memqosd_bpf_events_lost_total %" PRIu64 "\n", s->bpf_events_lost);
	}
}

static void tenant_metrics(FILE *f, const MetricsSnapshot *s)
{
	char buf[32];

	family(f, "memqosd_tenant_priority", "gauge", "Priority= of the tenant's profile");
	for (size_t i = 0; i < s->n_tenants; i++) {
		tenant_series(f, "memqosd_tenant_priority", &s->tenants[i], NULL, NULL);
		fprintf(f, "%d\n", s->tenants[i].priority);
	}
	family(f, "memqosd_tenant_memory_high_min_bytes", "gauge", "MemoryHighMin= of the tenant's profile");
	for (size_t i = 0; i < s->n_tenants; i++) {
		tenant_series(f, "memqosd_tenant_memory_high_min_bytes", &s->tenants[i], NULL, NULL);
		write_bytes(f, s->tenants[i].high_min);
	}
	family(f, "memqosd_tenant_memory_high_max_bytes", "gauge", "MemoryHighMax= of the tenant's profile");
	for (size_t i = 0; i < s->n_tenants; i++) {
		tenant_series(f, "memqosd_tenant_memory_high_max_bytes", &s->tenants[i], NULL, NULL);
		write_bytes(f, s->tenants[i].high_max);
	}
	family(f, "memqosd_tenant_memory_high_bytes", "gauge",
	       "memory.high of an active tenant as memqosd last wrote or read it");
	for (size_t i = 0; i < s->n_tenants; i++)
		if (s->tenants[i].active) {
			tenant_series(f, "memqosd_tenant_memory_high_bytes", &s->tenants[i], NULL, NULL);
			write_bytes(f, s->tenants[i].high);
		}
	family(f, "memqosd_tenant_memory_current_bytes", "gauge",
	       "memory.current of an active tenant at the daemon's last read");
	for (size_t i = 0; i < s->n_tenants; i++)
		if (s->tenants[i].active) {
			tenant_series(f, "memqosd_tenant_memory_current_bytes", &s->tenants[i], NULL, NULL);
			fprintf(f, "%" PRIu64 "\n", s->tenants[i].current);
		}
	(void) snprintf(buf, sizeof(buf), "%s", s->pressure_type ? s->pressure_type : "some");
	family(f, "memqosd_tenant_memory_pressure_ratio", "gauge",
	       "Memory PSI avg10 of an active tenant at the daemon's last read (0..1), line given by type");
	for (size_t i = 0; i < s->n_tenants; i++)
		if (s->tenants[i].active && s->tenants[i].has_pressure) {
			tenant_series(f, "memqosd_tenant_memory_pressure_ratio", &s->tenants[i], "type", buf);
			fprintf(f, "%u.%04u\n", s->tenants[i].pressure_avg10 / 10000, s->tenants[i].pressure_avg10 % 10000);
		}

	family(f, "memqosd_tenant_adjustments_total", "counter", "memory.high changes memqosd completed, by reason");
	for (size_t i = 0; i < s->n_tenants; i++)
		for (MetricsReason r = 0; r < _METRICS_REASON_MAX; r++) {
			tenant_series(f, "memqosd_tenant_adjustments_total", &s->tenants[i], "reason", reason_names[r]);
			fprintf(f, "%" PRIu64 "\n", s->tenants[i].adjustments[r]);
		}
	family(f, "memqosd_tenant_policy_events_total", "counter",
	       "Occurrences the tenant's BPF policy counted, by kind");
	for (size_t i = 0; i < s->n_tenants; i++)
		if (s->tenants[i].has_policy_stats)
			for (MetricsPolicyKind k = 0; k < _METRICS_POLICY_MAX; k++) {
				tenant_series(f, "memqosd_tenant_policy_events_total", &s->tenants[i], "kind",
					      policy_kind_names[k]);
				fprintf(f, "%" PRIu64 "\n", s->tenants[i].policy_events[k]);
			}
	family(f, "memqosd_tenant_lost_events_total", "counter",
	       "The tenant's BPF ring buffer records lost for lack of room");
	for (size_t i = 0; i < s->n_tenants; i++)
		if (s->tenants[i].has_policy_stats) {
			tenant_series(f, "memqosd_tenant_lost_events_total", &s->tenants[i], NULL, NULL);
			fprintf(f, "%" PRIu64 "\n", s->tenants[i].lost_events);
		}
}

int metrics_render(const MetricsSnapshot *s, char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	daemon_metrics(f, s);
	tenant_metrics(f, s);
	if (fclose(f) != 0 || !buf) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}
