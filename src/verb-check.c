/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "parse-util.h"
#include "util.h"
#include "verb-check.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

static void print_tenant(const TenantConfig *t)
{
	char min[FORMAT_VALUE_MAX], max[FORMAT_VALUE_MAX], low[FORMAT_VALUE_MAX];

	printf("%s: cgroup=%s priority=%d memory.high=%s..%s memory.low=%s policy=%s\n", t->name, t->cgroup,
	       t->priority, format_size(min, t->memory_high_min), format_size(max, t->memory_high_max),
	       t->has_memory_low ? format_size(low, t->memory_low) : "unset", policy_kind_to_string(t->policy));
}

int verb_check(const char *config_dir)
{
	_cleanup_(config_freep) Config *c = NULL;
	ConfigErrors errors = {};
	int r;

	r = config_load(config_dir, &c, &errors);
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
