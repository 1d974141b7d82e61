/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "json-util.h"
#include "parse-util.h"
#include "util.h"
#include "verb-check.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

static void print_tenant(const TenantConfig *t)
{
	char min[FORMAT_VALUE_MAX], max[FORMAT_VALUE_MAX], low[FORMAT_VALUE_MAX];

	printf("%s: %s=%s priority=%d memory.high=%s..%s memory.low=%s policy=%s\n", t->name, t->is_template ? "template" : "cgroup", t->cgroup,
	       t->priority, format_size(min, t->memory_high_min), format_size(max, t->memory_high_max),
	       t->has_memory_low ? format_size(low, t->memory_low) : "unset", policy_kind_to_string(t->policy));
}

static void print_tenant_json(const TenantConfig *t, bool first)
{
	printf("%s{\"name\":", first ? "" : ",");
	json_string(stdout, t->name);
	printf(",\"kind\":\"%s\",\"cgroup\":", t->is_template ? "template" : "tenant");
	json_string(stdout, t->cgroup);
	printf(",\"file\":");
	json_string(stdout, t->file);
	printf(",\"priority\":%d,\"memory_high_min\":", t->priority);
	json_bytes(stdout, t->memory_high_min, true);
	printf(",\"memory_high_max\":");
	json_bytes(stdout, t->memory_high_max, true);
	printf(",\"memory_low\":");
	json_bytes(stdout, t->memory_low, t->has_memory_low);
	printf(",\"policy\":");
	json_string(stdout, policy_kind_to_string(t->policy));
	printf("}");
}

/* {"valid":b,"error_count":n,"errors":[s...],"tenants":[...]} (errors: the first CONFIG_ERRORS_MAX). */
static int check_json(const Config *c, const ConfigErrors *errors, int r)
{
	printf("{\"valid\":%s,\"error_count\":%zu,\"errors\":[", r < 0 ? "false" : "true",
	       errors->n_total ? errors->n_total : (size_t) (r < 0));
	for (size_t i = 0; i < errors->n; i++) {
		if (i > 0)
			putchar(',');
		json_string(stdout, errors->lines[i]);
	}
	if (r < 0 && errors->n_total == 0) {
		char what[256];

		snprintf(what, sizeof(what), "failed to load the configuration: %s", strerror(-r));
		json_string(stdout, what);
	}
	printf("],\"tenants\":[");
	for (size_t i = 0; c && i < c->n_tenants; i++)
		print_tenant_json(c->tenants[i], i == 0);
	printf("]}\n");
	if (fflush(stdout) != 0)
		return 1;
	return r < 0 ? 1 : 0;
}

int verb_check(const char *config_dir, bool json)
{
	_cleanup_(config_freep) Config *c = NULL;
	ConfigErrors errors = {};
	int r;

	r = config_load(config_dir, &c, &errors);
	if (json) {
		r = check_json(c, &errors, r);
		config_errors_clear(&errors);
		return r;
	}
	if (errors.n_total > 0) {
		_cleanup_free_ char *text = config_errors_join(&errors, "\n");

		fprintf(stderr, "%s\n", text ?: "memqosd check: out of memory while reporting the errors");
	}
	if (r < 0 && errors.n_total == 0)
		/* Only allocation failures come back undescribed. */
		fprintf(stderr, "memqosd check: failed to load the configuration: %s\n", strerror(-r));
	config_errors_clear(&errors);
	if (r < 0)
		return 1;

	for (size_t i = 0; i < c->n_tenants; i++)
		print_tenant(c->tenants[i]);
	if (fflush(stdout) != 0)
		return 1;
	return 0;
}
