/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Prometheus renderer (src/metrics.c): escaping of label values, +Inf for "max", the daemon and
 * tenant families with HELP/TYPE lines, a state-set for the mode, tenants counted by state, gauges
 * only for active tenants The scrape over HTTP and
 * promtool's verdict are in tests/integration/test-metrics.sh (host) and tests/vm/packaging (guest).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

static char *render(const MetricsSnapshot *s)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(metrics_render(s, &text, &len), 0);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

/* text has line as one whole line */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

#define assert_line(text, line)                                                    \
	do {                                                                       \
		if (!has_line((text), (line)))                                     \
			fail_msg("missing line: %s\n--- rendered ---\n%s", (line), (text)); \
	} while (0)

static void test_label_escaping(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void) state;
	assert_non_null(f);
	metrics_write_label_value(f, "a\\b\"c\nd");
	metrics_write_label_value(f, NULL);
	fclose(f);
	assert_string_equal(buf, "a\\\\b\\\"c\\nd");
	free(buf);
}

static void test_escaped_names_in_series(void **state)
{
	MetricsTenant t = {
		.name = "we\"b", .cgroup = "pods/x\\y\nz", .state = "waiting", .priority = 7,
		.high_min = 256ULL << 20, .high_max = MEMQOSD_BYTES_MAX,
	};
	MetricsSnapshot s = { .version = "1.2\"3", .mode = "psi-only", .tenants = &t, .n_tenants = 1 };
	_cleanup_free_ char *text = render(&s);

	(void) state;
	assert_line(text, "memqosd_build_info{version=\"1.2\\\"3\"} 1");
	assert_line(text, "memqosd_tenant_priority{tenant=\"we\\\"b\",cgroup=\"pods/x\\\\y\\nz\"} 7");
	assert_line(text, "memqosd_tenant_memory_high_min_bytes{tenant=\"we\\\"b\",cgroup=\"pods/x\\\\y\\nz\"} 268435456");
	assert_line(text, "memqosd_tenant_memory_high_max_bytes{tenant=\"we\\\"b\",cgroup=\"pods/x\\\\y\\nz\"} +Inf");
	/* A raw newline inside a label would split a sample over two lines. */
	assert_null(strstr(text, "x\\y\nz"));
}

static void test_daemon_families(void **state)
{
	MetricsTenant t[3] = {
		{ .name = "a", .cgroup = "a", .state = "active", .active = true },
		{ .name = "b", .cgroup = "b", .state = "no-policy", .active = true },
		{ .name = "c", .cgroup = "c", .state = "active", .active = true },
	};
	MetricsSnapshot s = {
		.version = "0.1.0", .mode = "struct_ops", .pressure_type = "some", .dry_run = true,
		.reloads_ok = 3, .reloads_refused = 2, .write_timeouts = 5, .write_failures = 1,
		.has_bpf = true, .bpf_events_delivered = 1234, .bpf_events_lost = 9,
		.tenants = t, .n_tenants = 3,
	};
	_cleanup_free_ char *text = render(&s);

	(void) state;
	assert_line(text, "# TYPE memqosd_mode gauge");
	assert_line(text, "memqosd_mode{mode=\"struct_ops\"} 1");
	assert_line(text, "memqosd_mode{mode=\"tracing\"} 0");
	assert_line(text, "memqosd_mode{mode=\"psi-only\"} 0");
	assert_line(text, "memqosd_dry_run 1");
	assert_line(text, "memqosd_tenants{state=\"active\"} 2");
	assert_line(text, "memqosd_tenants{state=\"waiting\"} 0");
	assert_line(text, "memqosd_tenants{state=\"no-policy\"} 1");
	assert_line(text, "# TYPE memqosd_reloads_total counter");
	assert_line(text, "memqosd_reloads_total{result=\"ok\"} 3");
	assert_line(text, "memqosd_reloads_total{result=\"refused\"} 2");
	assert_line(text, "memqosd_write_timeouts_total 5");
	assert_line(text, "memqosd_write_failures_total 1");
	assert_line(text, "memqosd_bpf_events_delivered_total 1234");
	assert_line(text, "memqosd_bpf_events_lost_total 9");

	/* Without an engine those two are unknown, not zero. */
	s.has_bpf = false;
	_cleanup_free_ char *nobpf = render(&s);
	assert_null(strstr(nobpf, "memqosd_bpf_events"));
}

static void test_tenant_families(void **state)
{
	MetricsTenant t[2] = {
		{
			.name = "web", .cgroup = "tenants/web", .state = "active", .priority = 80,
			.high_min = 768ULL << 20, .high_max = 1536ULL << 20, .active = true,
			.high = 1536ULL << 20, .current = 718280ULL << 10, .has_pressure = true, .pressure_avg10 = 3772,
			.adjustments = { [METRICS_REASON_SQUEEZE] = 4, [METRICS_REASON_CLAMP] = 1 },
			.has_policy_stats = true,
			.policy_events = { [METRICS_POLICY_OVER_HIGH] = 17, [METRICS_POLICY_CHARGE_FAIL] = 2 },
			.lost_events = 3,
		},
		{ .name = "batch", .cgroup = "tenants/batch", .state = "waiting", .priority = 20,
		  .high_min = 256ULL << 20, .high_max = 1ULL << 30 },
	};
	MetricsSnapshot s = { .version = "0.1.0", .mode = "tracing", .pressure_type = "full", .tenants = t,
			      .n_tenants = 2 };
	_cleanup_free_ char *text = render(&s);

	(void) state;
	assert_line(text, "# TYPE memqosd_tenant_memory_high_bytes gauge");
	assert_line(text, "memqosd_tenant_memory_high_bytes{tenant=\"web\",cgroup=\"tenants/web\"} 1610612736");
	assert_line(text, "memqosd_tenant_memory_current_bytes{tenant=\"web\",cgroup=\"tenants/web\"} 735518720");
	assert_line(text, "memqosd_tenant_memory_pressure_ratio{tenant=\"web\",cgroup=\"tenants/web\",type=\"full\"} 0.3772");
	assert_line(text, "memqosd_tenant_adjustments_total{tenant=\"web\",cgroup=\"tenants/web\",reason=\"squeeze\"} 4");
	assert_line(text, "memqosd_tenant_adjustments_total{tenant=\"web\",cgroup=\"tenants/web\",reason=\"clamp\"} 1");
	assert_line(text, "memqosd_tenant_adjustments_total{tenant=\"web\",cgroup=\"tenants/web\",reason=\"relax\"} 0");
	assert_line(text, "memqosd_tenant_policy_events_total{tenant=\"web\",cgroup=\"tenants/web\",kind=\"over_high\"} 17");
	assert_line(text, "memqosd_tenant_policy_events_total{tenant=\"web\",cgroup=\"tenants/web\",kind=\"charge_fail\"} 2");
	assert_line(text, "memqosd_tenant_lost_events_total{tenant=\"web\",cgroup=\"tenants/web\"} 3");
	/* A waiting tenant has bounds and counters, but no memory.high/current/pressure/policy series. */
	assert_line(text, "memqosd_tenant_memory_high_max_bytes{tenant=\"batch\",cgroup=\"tenants/batch\"} 1073741824");
	assert_line(text, "memqosd_tenant_adjustments_total{tenant=\"batch\",cgroup=\"tenants/batch\",reason=\"squeeze\"} 0");
	assert_null(strstr(text, "memqosd_tenant_memory_high_bytes{tenant=\"batch\""));
	assert_null(strstr(text, "memqosd_tenant_memory_current_bytes{tenant=\"batch\""));
	assert_null(strstr(text, "memqosd_tenant_lost_events_total{tenant=\"batch\""));
	/* Every family is announced once, before its samples. */
	assert_non_null(strstr(text, "# HELP memqosd_tenant_lost_events_total "));
	assert_true(strstr(text, "# TYPE memqosd_tenant_priority gauge") <
		    strstr(text, "memqosd_tenant_priority{tenant=\"web\""));
}

static void test_pressure_formatting(void **state)
{
	static const struct { unsigned avg10; const char *out; } rows[] = {
		{ 0, "0.0000" }, { 1, "0.0001" }, { 250, "0.0250" }, { 9999, "0.9999" }, { 10000, "1.0000" },
	};

	(void) state;
	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		MetricsTenant t = { .name = "t", .cgroup = "t", .state = "active", .active = true,
				    .has_pressure = true, .pressure_avg10 = rows[i].avg10 };
		MetricsSnapshot s = { .tenants = &t, .n_tenants = 1 };
		_cleanup_free_ char *text = render(&s);
		char line[128];

		snprintf(line, sizeof(line), "memqosd_tenant_memory_pressure_ratio{tenant=\"t\",cgroup=\"t\",type=\"some\"} %s",
			 rows[i].out);
		assert_line(text, line);
	}
}

static void test_reason_classify(void **state)
{
	static const struct { const char *reason; MetricsReason r; } rows[] = {
		{ "squeeze: higher-priority tenant web under pressure while the host is", METRICS_REASON_SQUEEZE },
		{ "relax toward baseline: no reason to hold for 10s", METRICS_REASON_RELAX },
		{ "relax", METRICS_REASON_RELAX },
		{ "clamp: memory.high found outside [MemoryHighMin, MemoryHighMax]", METRICS_REASON_CLAMP },
		{ "clamp into MemoryHighMin..MemoryHighMax", METRICS_REASON_CLAMP },
		{ "reload: memory.high outside new [MemoryHighMin, MemoryHighMax]", METRICS_REASON_RELOAD },
		{ "squeezed", METRICS_REASON_OTHER },
		{ "", METRICS_REASON_OTHER },
		{ NULL, METRICS_REASON_OTHER },
	};

	(void) state;
	for (size_t i = 0; i < ELEMENTSOF(rows); i++)
		assert_int_equal(metrics_reason_classify(rows[i].reason), rows[i].r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_escaped_names_in_series),
		cmocka_unit_test(test_daemon_families),
		cmocka_unit_test(test_tenant_families),
		cmocka_unit_test(test_pressure_formatting),
		cmocka_unit_test(test_reason_classify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
