/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Configuration loading: DIR/memqosd.conf, DIR/memqosd.conf.d/[*].conf and DIR/tenants.d/[*].conf.
 *
 * Files are read with inih through ini_parse_stream() and our own line reader (config_read_line()).
 * The reader is what lets us report every problem with its line, not only the first one inih
 * returns:
 *  - it counts lines, so the handler knows the line of the assignment it is given (Debian's inih is
 *    built without INI_HANDLER_LINENO);
 *  - it sees section headers, which inih does not pass to the handler, so an unknown (even empty)
 *    section is reported on its own line;
 *  - it knows which lines are assignments; one that never reached the handler was rejected by inih
 *    as malformed and is reported as a syntax error;
 *  - it strips leading whitespace, so indentation is never a continuation line (inih's multi-line
 *    values would otherwise turn an indented "Key=value" into a second value of the previous key),
 *    and it reports over-long lines instead of letting them be split.
 *
 * Keys are described by tables of ConfigItem {section, key, parser, offset}; each parser validates
 * its own value and reports "FILE:LINE: Key=: what is wrong". A new section (e.g. [Pressure]) is a
 * few new rows plus, if needed, new fields and a parser. Checks that involve several keys run after
 * a file (tenants) or all files (memqosd.conf + drop-ins) are read.
 *
 * Cgroup= is checked lexically here (relative, no "..", not the root itself) and normalised. Escape
 * through symlinks cannot be judged from the text: the cgroup layer opens tenant cgroups with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) relative to the cgroup root's directory fd.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "config.h"
#include "parse-util.h"
#include "template.h"
#include "util.h"

/* ---------------------------------------------------------------------------------------------- */
/* Errors                                                                                           */

void config_errors_clear(ConfigErrors *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++)
		free(e->lines[i]);
	free(e->lines);
	*e = (ConfigErrors) {};
}

char *config_errors_join(const ConfigErrors *e, const char *sep)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < e->n; i++)
		fprintf(f, "%s%s", i > 0 ? sep : "", e->lines[i]);
	if (e->n_total > e->n)
		fprintf(f, "%s... and %zu more error%s (only the first %zu are shown)", e->n > 0 ? sep : "",
			e->n_total - e->n, e->n_total - e->n == 1 ? "" : "s", e->n);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

int config_errors_add(ConfigErrors *e, const char *file, unsigned line, const char *key, const char *fmt, ...)
{
	_cleanup_free_ char *what = NULL;
	char *text = NULL, **lines;
	va_list ap;
	int r;

	e->n_total++;
	if (e->n >= CONFIG_ERRORS_MAX)
		return 0;  /* counted, not kept */

	va_start(ap, fmt);
	r = vasprintf(&what, fmt, ap);
	va_end(ap);
	if (r < 0) {
		what = NULL;
		return -ENOMEM;
	}

	if (key)
		r = asprintf(&text, "%s:%u: %s=: %s", file, line, key, what);
	else
		r = asprintf(&text, "%s:%u: %s", file, line, what);
	if (r < 0)
		return -ENOMEM;

	lines = reallocarray(e->lines, e->n + 1, sizeof(*lines));
	if (!lines) {
		free(text);
		return -ENOMEM;
	}
	e->lines = lines;
	e->lines[e->n++] = text;
	return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Policy names and defaults                                                                        */

static const char *const policy_kind_names[_POLICY_MAX] = {
	[POLICY_PRIORITY] = "priority",
	[POLICY_OBSERVE] = "observe",
	[POLICY_NONE] = "none",
};

const char *policy_kind_to_string(PolicyKind k)
{
	if (k < 0 || k >= _POLICY_MAX)
		return NULL;
	return policy_kind_names[k];
}

PolicyKind policy_kind_from_string(const char *s)
{
	if (!s)
		return _POLICY_INVALID;
	for (int k = 0; k < _POLICY_MAX; k++)
		if (streq(s, policy_kind_names[k]))
			return (PolicyKind) k;
	return _POLICY_INVALID;
}

void config_control_defaults(ControlParams *c)
{
	*c = (ControlParams) {
		.psi_full = false,
		.psi_stall_usec = 100 * USEC_PER_MSEC,
		.psi_window_usec = 1 * USEC_PER_SEC,
		.step_percent = 10,
		.relax_percent = 5,
		.hold_usec = 10 * USEC_PER_SEC,
		.relax_ceiling_usec = 120 * USEC_PER_SEC,
		.min_interval_usec = 1 * USEC_PER_SEC,
		.headroom_bytes = UINT64_C(32) << 20,
		.housekeeping_usec = 30 * USEC_PER_SEC,
		.write_timeout_usec = 5 * USEC_PER_SEC,
	};
}

void config_forecast_defaults(ForecastParams *f)
{
	*f = (ForecastParams) {
		.enable = true,
		.warning_usec = 60 * USEC_PER_SEC,
		.critical_usec = 10 * USEC_PER_SEC,
		.watch_usec = 300 * USEC_PER_SEC,
		.min_duration_usec = 10 * USEC_PER_SEC,
		.critical_duration_usec = 2 * USEC_PER_SEC,
		.hold_usec = 30 * USEC_PER_SEC,
		.window_usec = 30 * USEC_PER_SEC,
		.sample_usec = 1 * USEC_PER_SEC,
		.repeat_usec = 30 * USEC_PER_SEC,
		.min_growth_bytes = UINT64_C(1) << 20,
		.watch_percent = 80,
		.pressure_percent = 10,
		.thrash_percent = 100,
		.hook = NULL,
		.hook_timeout_usec = 10 * USEC_PER_SEC,
		.hook_interval_usec = 10 * USEC_PER_SEC,
	};
}

bool forecast_params_equal(const ForecastParams *a, const ForecastParams *b)
{
	if ((a->hook == NULL) != (b->hook == NULL) || (a->hook && !streq(a->hook, b->hook)))
		return false;
	return a->enable == b->enable && a->warning_usec == b->warning_usec && a->critical_usec == b->critical_usec &&
	       a->watch_usec == b->watch_usec && a->min_duration_usec == b->min_duration_usec &&
	       a->critical_duration_usec == b->critical_duration_usec && a->hold_usec == b->hold_usec &&
	       a->window_usec == b->window_usec && a->sample_usec == b->sample_usec &&
	       a->repeat_usec == b->repeat_usec &&
	       a->min_growth_bytes == b->min_growth_bytes && a->watch_percent == b->watch_percent &&
	       a->pressure_percent == b->pressure_percent && a->thrash_percent == b->thrash_percent &&
	       a->hook_timeout_usec == b->hook_timeout_usec && a->hook_interval_usec == b->hook_interval_usec;
}

void config_sampling_defaults(SamplingParams *s)
{
	*s = (SamplingParams) {
		.enable = false,
		.sample_bytes = UINT64_C(1) << 20,
		.large_bytes = UINT64_C(256) << 10,
		.stack_depth = 32,
		.window_usec = 600 * USEC_PER_SEC,
		.max_stacks = 1024,
		.max_per_sec = 5000,
		.kernel_stacks = false,
		.growth_alert_bytes = 0,
		.growth_alert_usec = 120 * USEC_PER_SEC,
	};
}

bool sampling_params_equal(const SamplingParams *a, const SamplingParams *b)
{
	return a->enable == b->enable && a->sample_bytes == b->sample_bytes && a->large_bytes == b->large_bytes &&
	       a->stack_depth == b->stack_depth && a->window_usec == b->window_usec &&
	       a->max_stacks == b->max_stacks && a->max_per_sec == b->max_per_sec &&
	       a->kernel_stacks == b->kernel_stacks && a->growth_alert_bytes == b->growth_alert_bytes &&
	       a->growth_alert_usec == b->growth_alert_usec;
}

void config_reclaim_defaults(ReclaimParams *r)
{
	*r = (ReclaimParams) {
		.enable = false,
		.pressure_target = 10,
		.step_percent = 2,
		.step_max_bytes = UINT64_C(64) << 20,
		.floor_bytes = 0,
		.interval_usec = 1 * USEC_PER_SEC,
		.hold_usec = 30 * USEC_PER_SEC,
		.refault_percent = 5,
	};
}

bool reclaim_params_equal(const ReclaimParams *a, const ReclaimParams *b)
{
	return a->enable == b->enable && a->pressure_target == b->pressure_target &&
	       a->step_percent == b->step_percent && a->step_max_bytes == b->step_max_bytes &&
	       a->floor_bytes == b->floor_bytes && a->interval_usec == b->interval_usec &&
	       a->hold_usec == b->hold_usec && a->refault_percent == b->refault_percent;
}

void config_guard_defaults(GuardParams *g)
{
	*g = (GuardParams) {
		.enable = false,
		.charge_rate = UINT64_C(256) << 20,
		.charge_burst = UINT64_C(1) << 30,
		.fork_rate = 100,
		.fork_burst = 500,
		.uid_charge_rate = 0,
		.uid_charge_burst = 0,
		.uid_fork_rate = 0,
		.uid_fork_burst = 0,
		.actions = GUARD_ACTION_PIDS | GUARD_ACTION_FREEZE,
		.pids_allowance = 16,
		.cpu_max_percent = 10,
		.escalate_usec = 5 * USEC_PER_SEC,
		.hold_usec = 30 * USEC_PER_SEC,
	};
}

bool guard_params_equal(const GuardParams *a, const GuardParams *b)
{
	return a->enable == b->enable && a->charge_rate == b->charge_rate && a->charge_burst == b->charge_burst &&
	       a->fork_rate == b->fork_rate && a->fork_burst == b->fork_burst &&
	       a->uid_charge_rate == b->uid_charge_rate && a->uid_charge_burst == b->uid_charge_burst &&
	       a->uid_fork_rate == b->uid_fork_rate && a->uid_fork_burst == b->uid_fork_burst &&
	       a->actions == b->actions && a->pids_allowance == b->pids_allowance &&
	       a->cpu_max_percent == b->cpu_max_percent &&
	       a->escalate_usec == b->escalate_usec && a->hold_usec == b->hold_usec;
}

/* Indexed by the bit of GUARD_ACTION_*. */
static const char *const guard_action_names[] = { "pids", "freeze", "kill", "cpu" };

const char *guard_actions_to_string(unsigned actions, char *buf, size_t n)
{
	size_t l = 0;

	if (n == 0)
		return buf;
	buf[0] = '\0';
	/* In the order they are taken (src/guard-model.h). */
	static const unsigned order[] = { 0, 3, 1, 2 };

	_Static_assert(ELEMENTSOF(order) == ELEMENTSOF(guard_action_names), "one place per action");
	for (size_t j = 0; j < ELEMENTSOF(order); j++) {
		unsigned i = order[j];
		int k;

		if (!(actions & (1U << i)))
			continue;
		k = snprintf(buf + l, n - l, "%s%s", l ? " " : "", guard_action_names[i]);
		if (k < 0 || (size_t) k >= n - l)
			break;
		l += (size_t) k;
	}
	return buf;
}

static void daemon_config_defaults(DaemonConfig *d)
{
	*d = (DaemonConfig) {
		.dry_run = false,
		.log_level = LOG_INFO,
		.cgroup_root = NULL,
		.template_instances_max = CONFIG_TEMPLATE_INSTANCES_MAX_DEFAULT,
	};
	config_control_defaults(&d->control);
	config_forecast_defaults(&d->forecast);
	config_sampling_defaults(&d->sampling);
	config_reclaim_defaults(&d->reclaim);
	config_guard_defaults(&d->guard);
}

/*
 * Tenant defaults. MemoryHighMax= defaults to max (memqosd may lift memory.high completely);
 * MemoryHighMin= defaults to whatever MemoryHighMax= ends up as (see tenant_validate()), so a
 * profile that does not say how far down memqosd may push its tenant is never squeezed.
 */
static void tenant_config_defaults(TenantConfig *t, const ForecastParams *forecast, const SamplingParams *sampling,
				   const ReclaimParams *reclaim, const GuardParams *guard)
{
	t->reclaim = *reclaim;    /* [Reclaim] of memqosd.conf */
	t->guard = *guard;        /* [Guard] of memqosd.conf */
	t->sampling = *sampling;  /* [Sampling] of memqosd.conf */
	t->forecast = *forecast;  /* [Forecast] of memqosd.conf; the hook string is copied by the caller */
	t->forecast.hook = NULL;
	t->priority = 0;
	t->memory_high_min = MEMQOSD_BYTES_MAX;
	t->memory_high_max = MEMQOSD_BYTES_MAX;
	t->has_memory_low = false;
	t->memory_low = 0;
	t->policy = POLICY_PRIORITY;
}

/* ---------------------------------------------------------------------------------------------- */
/* Item tables                                                                                      */

typedef struct ParseContext ParseContext;
typedef struct ConfigItem ConfigItem;

/* Parse value into field; on failure report it through parse_error() and return negative errno. */
typedef int (*ConfigParseFn)(const ConfigItem *item, const char *value, void *field, ParseContext *ctx);

enum {
	ITEM_REQUIRED = 1 << 0,  /* missing key is an error (line 0) */
	ITEM_NO_MAX = 1 << 1,    /* sizes: "max" is not accepted */
	ITEM_SET_FLAG = 1 << 2,  /* set the bool at set_offset once the key parsed */
};

struct ConfigItem {
	const char *section;
	const char *key;
	ConfigParseFn parse;
	size_t offset;      /* of the field in the target struct */
	unsigned flags;
	size_t set_offset;  /* ITEM_SET_FLAG: offset of a bool in the target struct */
	uint64_t min, max;  /* bounds for numeric parsers (usec for durations) */
};

/* Where a key was last set, across the files that make up one target. */
typedef struct ItemOrigin {
	const char *file;  /* NULL: never set, default applies */
	unsigned line;
	bool valid;        /* the value parsed */
} ItemOrigin;

struct ParseContext {
	const char *file;
	FILE *f;
	char *buf;
	size_t buf_size;
	unsigned line;           /* line just handed to inih */
	unsigned pending_line;   /* line that looked like an assignment and must reach the handler */
	unsigned handled_line;   /* last line the handler was called for */
	unsigned section_line;   /* line of the current section header, 0 before the first */
	uint64_t bytes_read;
	bool section_known;

	const ConfigItem *items;
	size_t n_items;
	void *target;
	unsigned *seen;          /* per item: line of the key in this file, 0 if absent */
	ItemOrigin *origins;     /* per item, across files */

	ConfigErrors *errors;
	int fatal;               /* -ENOMEM or an I/O error; parsing results are not trustworthy */
};

static void parse_error_va(ParseContext *ctx, const char *key, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void parse_error_va(ParseContext *ctx, const char *key, const char *fmt, va_list ap)
{
	_cleanup_free_ char *what = NULL;

	if (vasprintf(&what, fmt, ap) < 0) {
		what = NULL;
		ctx->fatal = -ENOMEM;
		return;
	}
	if (config_errors_add(ctx->errors, ctx->file, ctx->line, key, "%s", what) < 0)
		ctx->fatal = -ENOMEM;
}

/* Report a problem on the current line; key NULL for problems that are not about one key. */
static void parse_error(ParseContext *ctx, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void parse_error(ParseContext *ctx, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	parse_error_va(ctx, key, fmt, ap);
	va_end(ap);
}

static int item_parse_bool(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	if (parse_boolean(value, field) < 0) {
		parse_error(ctx, item->key, "invalid boolean '%s' (expected yes/no, true/false, on/off, 1/0)",
			    value);
		return -EINVAL;
	}
	return 0;
}

static int item_parse_log_level(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	if (parse_log_level(value, field) < 0) {
		parse_error(ctx, item->key,
			    "invalid log level '%s' (expected emerg, alert, crit, err, warning, notice, info, debug or 0..7)",
			    value);
		return -EINVAL;
	}
	return 0;
}

static int item_parse_int(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	int r, v;

	r = parse_int_range(value, (int) item->min, (int) item->max, &v);
	if (r == -ERANGE)
		parse_error(ctx, item->key, "'%s' is out of range (%d..%d)", value, (int) item->min,
			    (int) item->max);
	else if (r < 0)
		parse_error(ctx, item->key, "invalid integer '%s'", value);
	if (r < 0)
		return r;

	*(int *) field = v;
	return 0;
}

static int item_parse_unsigned(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	int r, v;

	r = item_parse_int(item, value, &v, ctx);
	if (r < 0)
		return r;
	*(unsigned *) field = (unsigned) v;
	return 0;
}

static int item_parse_size(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	uint64_t v;
	int r;

	r = parse_size(value, &v);
	if (r == -ERANGE) {
		parse_error(ctx, item->key, "size '%s' is too large", value);
		return r;
	}
	if (r < 0 || (v == MEMQOSD_BYTES_MAX && (item->flags & ITEM_NO_MAX))) {
		parse_error(ctx, item->key, "invalid size '%s' (expected bytes or a number with suffix K, M, G or T%s)",
			    value, (item->flags & ITEM_NO_MAX) ? "" : ", or max");
		return -EINVAL;
	}

	*(uint64_t *) field = v;
	return 0;
}

/* A size within [item->min, item->max] ("max" not accepted). */
static int item_parse_size_range(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	char lo[FORMAT_VALUE_MAX], hi[FORMAT_VALUE_MAX];
	uint64_t v;
	int r;

	r = item_parse_size(item, value, &v, ctx);
	if (r < 0)
		return r;
	if (v < item->min || v > item->max) {
		parse_error(ctx, item->key, "'%s' is out of range (%s..%s)", value, format_size(lo, item->min),
			    format_size(hi, item->max));
		return -ERANGE;
	}
	*(uint64_t *) field = v;
	return 0;
}

static int item_parse_duration(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	char lo[FORMAT_VALUE_MAX], hi[FORMAT_VALUE_MAX];
	uint64_t v;
	int r;

	r = parse_duration(value, &v);
	if (r == -EINVAL) {
		parse_error(ctx, item->key, "invalid duration '%s' (expected e.g. 500ms, 1s, 1.5s, 2min)", value);
		return r;
	}
	if (r < 0 || v < item->min || v > item->max) {
		parse_error(ctx, item->key, "'%s' is out of range (%s..%s)", value, format_duration(lo, item->min),
			    format_duration(hi, item->max));
		return -ERANGE;
	}

	*(uint64_t *) field = v;
	return 0;
}

/* A percentage with at most two decimals ("0.1", "0.25%"), in hundredths, within [item->min, item->max]. */
static int item_parse_hundredths(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	unsigned v;

	if (parse_hundredths(value, &v) < 0 || v < item->min || v > item->max) {
		parse_error(ctx, item->key, "invalid percentage '%s' (expected %u.%02u..%u.%02u, at most two decimals, "
			    "e.g. 0.1 or 0.25%%)", value, (unsigned) item->min / 100, (unsigned) item->min % 100,
			    (unsigned) item->max / 100, (unsigned) item->max % 100);
		return -EINVAL;
	}
	*(unsigned *) field = v;
	return 0;
}

static int item_parse_psi_type(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	if (streq(value, "some"))
		*(bool *) field = false;
	else if (streq(value, "full"))
		*(bool *) field = true;
	else {
		parse_error(ctx, item->key, "invalid pressure type '%s' (expected some or full)", value);
		return -EINVAL;
	}
	return 0;
}

static int item_parse_policy(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	PolicyKind k = policy_kind_from_string(value);

	if (k < 0) {
		parse_error(ctx, item->key, "unknown policy '%s' (expected priority, observe or none)", value);
		return -EINVAL;
	}
	*(PolicyKind *) field = k;
	return 0;
}

/* An optional absolute path: empty clears *s (returns 0), relative is an error, else returns 1. */
static int parse_absolute_or_empty(const ConfigItem *item, const char *value, char **s, ParseContext *ctx)
{
	if (value[0] == '\0') {
		free(*s);
		*s = NULL;
		return 0;
	}
	if (value[0] != '/') {
		parse_error(ctx, item->key, "'%s' is not an absolute path", value);
		return -EINVAL;
	}
	return 1;
}

/* Actions=: a list of pids, cpu, freeze and kill (spaces or commas); empty = detect and report only. */
static int item_parse_guard_actions(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	unsigned actions = 0;

	for (const char *p = value; *p;) {
		size_t l, i;

		p += strspn(p, " \t,");
		l = strcspn(p, " \t,");
		if (l == 0)
			break;
		for (i = 0; i < ELEMENTSOF(guard_action_names); i++)
			if (strlen(guard_action_names[i]) == l && strncmp(p, guard_action_names[i], l) == 0)
				break;
		if (i == ELEMENTSOF(guard_action_names)) {
			parse_error(ctx, item->key, "unknown action '%.*s' (expected pids, cpu, freeze or kill)", (int) l, p);
			return -EINVAL;
		}
		actions |= 1U << i;
		p += l;
	}
	*(unsigned *) field = actions;
	return 0;
}

/* CpuMax=: "N%" of one CPU, item->min..item->max (the '%' is required: it is not a time). */
static int item_parse_cpu_percent(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	size_t l = strlen(value);
	char num[16];
	int r, v;

	if (l < 2 || l - 1 >= sizeof(num) || value[l - 1] != '%') {
		parse_error(ctx, item->key, "invalid CPU share '%s' (expected a percentage of one CPU, e.g. 10%%)", value);
		return -EINVAL;
	}
	memcpy(num, value, l - 1);
	num[l - 1] = '\0';
	r = parse_int_range(num, (int) item->min, (int) item->max, &v);
	if (r == -ERANGE)
		parse_error(ctx, item->key, "'%s' is out of range (%d%%..%d%%)", value, (int) item->min, (int) item->max);
	else if (r < 0)
		parse_error(ctx, item->key, "invalid CPU share '%s' (expected a percentage of one CPU, e.g. 10%%)", value);
	if (r < 0)
		return r;
	*(unsigned *) field = (unsigned) v;
	return 0;
}

/* Replace *s by a copy of value (NULL for NULL); -ENOMEM is fatal for the whole load. */
static int item_set_string(ParseContext *ctx, char **s, const char *value)
{
	char *copy = NULL;

	if (value) {
		copy = strdup(value);
		if (!copy) {
			ctx->fatal = -ENOMEM;
			return -ENOMEM;
		}
	}
	free(*s);
	*s = copy;
	return 0;
}

/*
 * Hook=: the absolute path of an executable, run with no arguments (the event is in its
 * environment). Checked here, so a missing hook is an error at `memqosd check` time.
 */
static int item_parse_hook(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	char **s = field;
	struct stat st;
	int r;

	r = parse_absolute_or_empty(item, value, s, ctx);  /* empty: no hook (overrides a global one) */
	if (r <= 0)
		return r;
	if (stat(value, &st) < 0) {
		parse_error(ctx, item->key, "%s: %s", value, strerror(errno));
		return -EINVAL;
	}
	if (!S_ISREG(st.st_mode) || access(value, X_OK) < 0) {
		parse_error(ctx, item->key, "%s is not an executable file", value);
		return -EINVAL;
	}
	return item_set_string(ctx, s, value);
}

/*
 * Normalise a '/'-separated path: drop empty and "." components (collapsing "//" and a trailing
 * '/'), keep one leading '/' if absolute. ".." is never resolved: return -EXDEV if there is one.
 * Control characters: -EINVAL.
 */
static int path_normalize(const char *path, char **ret)
{
	_cleanup_free_ char *out = NULL;
	size_t n = 0, len = strlen(path);
	const char *p = path;

	out = malloc(len + 2);
	if (!out)
		return -ENOMEM;
	if (*p == '/')
		out[n++] = '/';

	while (*p) {
		size_t l;

		while (*p == '/')
			p++;
		l = strcspn(p, "/");
		if (l == 0)
			break;
		if (l == 2 && p[0] == '.' && p[1] == '.')
			return -EXDEV;
		if (!(l == 1 && p[0] == '.')) {
			for (size_t i = 0; i < l; i++)
				if ((unsigned char) p[i] < 0x20 || p[i] == 0x7f)
					return -EINVAL;
			if (n > 0 && out[n - 1] != '/')
				out[n++] = '/';
			memcpy(out + n, p, l);
			n += l;
		}
		p += l;
	}
	out[n] = '\0';

	*ret = TAKE_PTR(out);
	return 0;
}

/*
 * The first component of a normalised path that begins or ends with a space, or NULL; its length in
 * *ret_len. inih strips spaces only at the ends of the whole value, so "Cgroup=a /" normalises to
 * "a ": a name no operator means and that other tools (and our state records, before they were
 * escaped) do not keep intact. Such paths are refused, not silently changed into another cgroup's.
 */
static const char *path_space_component(const char *path, size_t *ret_len)
{
	for (const char *p = path; *p;) {
		size_t l;

		p += strspn(p, "/");
		l = strcspn(p, "/");
		if (l > 0 && (p[0] == ' ' || p[l - 1] == ' ')) {
			*ret_len = l;
			return p;
		}
		p += l;
	}
	return NULL;
}

static int check_path_spaces(const ConfigItem *item, const char *value, const char *path, ParseContext *ctx)
{
	const char *c;
	size_t l;

	c = path_space_component(path, &l);
	if (!c)
		return 0;
	parse_error(ctx, item->key,
		    "'%s': path component '%.*s' begins or ends with a space (cgroup names with surrounding spaces are not accepted)",
		    value, (int) l, c);
	return -EINVAL;
}

/* CgroupRoot=: absolute path of a cgroup2 mount or subtree; empty means "discover". */
static int item_parse_cgroup_root(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	char **s = field, *path = NULL;
	int r;

	r = parse_absolute_or_empty(item, value, s, ctx);
	if (r <= 0)
		return r;
	r = path_normalize(value, &path);
	if (r == -ENOMEM) {
		ctx->fatal = r;
		return r;
	}
	if (r < 0) {
		parse_error(ctx, item->key, "'%s' must not contain '..' or control characters", value);
		return r;
	}
	r = check_path_spaces(item, value, path, ctx);
	if (r < 0) {
		free(path);
		return r;
	}
	free(*s);
	*s = path;
	return 0;
}

/* Cgroup=: path relative to the cgroup root that cannot leave it (lexically). */
static int item_parse_cgroup(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	char **s = field, *path = NULL;
	int r;

	if (value[0] == '\0') {
		parse_error(ctx, item->key, "empty path");
		return -EINVAL;
	}
	if (value[0] == '/') {
		parse_error(ctx, item->key, "'%s' is absolute, expected a path relative to the cgroup root", value);
		return -EINVAL;
	}
	r = path_normalize(value, &path);
	if (r == -ENOMEM) {
		ctx->fatal = r;
		return r;
	}
	if (r == -EXDEV) {
		parse_error(ctx, item->key, "'%s' contains '..', which could escape the cgroup root", value);
		return r;
	}
	if (r < 0) {
		parse_error(ctx, item->key, "'%s' contains control characters", value);
		return r;
	}
	if (path[0] == '\0') {
		free(path);
		parse_error(ctx, item->key, "'%s' is the cgroup root itself, expected a cgroup below it", value);
		return -EINVAL;
	}
	r = check_path_spaces(item, value, path, ctx);
	if (r < 0) {
		free(path);
		return r;
	}
	if (template_is_pattern(path)) {
		const char *why = NULL;

		r = template_pattern_check(path, &why);
		if (r < 0) {
			parse_error(ctx, item->key, "'%s' is not a valid cgroup pattern: %s", value, why);
			free(path);
			return r;
		}
	}
	free(*s);
	*s = path;
	return 0;
}

/* Listen=: checked here (parse_listen_address()) so that `memqosd check` rejects it; empty = off. */
static int item_parse_listen(const ConfigItem *item, const char *value, void *field, ParseContext *ctx)
{
	struct sockaddr_storage sa;
	socklen_t len;

	if (value[0] == '\0')
		return item_set_string(ctx, field, NULL);
	if (parse_listen_address(value, &sa, &len) < 0) {
		parse_error(ctx, item->key,
			    "'%s' is not ADDRESS:PORT (a numeric IPv4 address, or an IPv6 address in [], "
			    "and a port 1..65535)", value);
		return -EINVAL;
	}
	return item_set_string(ctx, field, value);
}

#define DAEMON(k, fn, field, ...)                                                        \
	{ .section = "Daemon", .key = k, .parse = fn, .offset = offsetof(DaemonConfig, field), __VA_ARGS__ }
#define CONTROL(k, fn, field, ...)                                                       \
	{ .section = "Control", .key = k, .parse = fn, .offset = offsetof(DaemonConfig, control.field), __VA_ARGS__ }
#define TENANT(k, fn, field, ...)                                                        \
	{ .section = "Tenant", .key = k, .parse = fn, .offset = offsetof(TenantConfig, field), __VA_ARGS__ }

/* [Forecast]: the same keys in memqosd.conf (defaults) and in profiles (overrides). */
#define FC(T, k, fn, field, ...)                                                                     \
	{ .section = "Forecast", .key = k, .parse = fn, .offset = offsetof(T, forecast.field), __VA_ARGS__ }
#define FORECAST_ITEMS(T)                                                                                \
	FC(T, "Enable", item_parse_bool, enable),                                                         \
	FC(T, "WarningSec", item_parse_duration, warning_usec, .min = USEC_PER_SEC, .max = 3600 * USEC_PER_SEC), \
	FC(T, "CriticalSec", item_parse_duration, critical_usec, .min = USEC_PER_SEC, .max = 3600 * USEC_PER_SEC), \
	FC(T, "WatchSec", item_parse_duration, watch_usec, .min = USEC_PER_SEC, .max = 24 * 3600 * USEC_PER_SEC), \
	FC(T, "MinDurationSec", item_parse_duration, min_duration_usec, .min = 0, .max = 3600 * USEC_PER_SEC), \
	FC(T, "CriticalDurationSec", item_parse_duration, critical_duration_usec, .min = 0,                \
	   .max = 600 * USEC_PER_SEC),                                                                    \
	FC(T, "HoldSec", item_parse_duration, hold_usec, .min = 0, .max = 3600 * USEC_PER_SEC),          \
	FC(T, "WindowSec", item_parse_duration, window_usec, .min = 5 * USEC_PER_SEC, .max = 600 * USEC_PER_SEC), \
	FC(T, "SampleSec", item_parse_duration, sample_usec, .min = 100 * USEC_PER_MSEC,                 \
	   .max = 60 * USEC_PER_SEC),                                                                     \
	FC(T, "RepeatSec", item_parse_duration, repeat_usec, .min = USEC_PER_SEC, .max = 3600 * USEC_PER_SEC), \
	FC(T, "MinGrowth", item_parse_size, min_growth_bytes, .flags = ITEM_NO_MAX),                      \
	FC(T, "WatchPercent", item_parse_unsigned, watch_percent, .min = 1, .max = 100),                  \
	FC(T, "PressurePercent", item_parse_unsigned, pressure_percent, .min = 1, .max = 100),            \
	FC(T, "ThrashPercent", item_parse_unsigned, thrash_percent, .min = 1, .max = 10000),              \
	FC(T, "Hook", item_parse_hook, hook),                                                             \
	FC(T, "HookTimeoutSec", item_parse_duration, hook_timeout_usec, .min = 100 * USEC_PER_MSEC,      \
	   .max = 3600 * USEC_PER_SEC),                                                                   \
	FC(T, "HookMinIntervalSec", item_parse_duration, hook_interval_usec, .min = 0,                    \
	   .max = 24 * 3600 * USEC_PER_SEC)

/* [Sampling]: the same keys in memqosd.conf (defaults) and in profiles (overrides). */
#define SP(T, k, fn, field, ...)                                                                     \
	{ .section = "Sampling", .key = k, .parse = fn, .offset = offsetof(T, sampling.field), __VA_ARGS__ }
#define SAMPLING_ITEMS(T)                                                                                \
	SP(T, "Enable", item_parse_bool, enable),                                                         \
	SP(T, "SampleSize", item_parse_size_range, sample_bytes, .flags = ITEM_NO_MAX, .min = 4096,      \
	   .max = UINT64_C(1) << 30),                                                                     \
	SP(T, "LargeAllocation", item_parse_size_range, large_bytes, .flags = ITEM_NO_MAX, .min = 0,     \
	   .max = UINT64_C(1) << 40),                                                                     \
	SP(T, "StackDepth", item_parse_unsigned, stack_depth, .min = 1, .max = 64),                       \
	SP(T, "WindowSec", item_parse_duration, window_usec, .min = 60 * USEC_PER_SEC,                    \
	   .max = 24 * 3600 * USEC_PER_SEC),                                                              \
	SP(T, "MaxStacks", item_parse_unsigned, max_stacks, .min = 16, .max = 65536),                     \
	SP(T, "MaxSamplesPerSec", item_parse_unsigned, max_per_sec, .min = 10, .max = 1000000),           \
	SP(T, "KernelStacks", item_parse_bool, kernel_stacks),                                            \
	SP(T, "GrowthAlert", item_parse_size_range, growth_alert_bytes, .flags = ITEM_NO_MAX, .min = 0,  \
	   .max = UINT64_C(1) << 40),                                                                     \
	SP(T, "GrowthAlertSec", item_parse_duration, growth_alert_usec, .min = 10 * USEC_PER_SEC,         \
	   .max = 3600 * USEC_PER_SEC)

/* [Reclaim]: the same keys in memqosd.conf (defaults) and in profiles (overrides). */
#define RC(T, k, fn, field, ...)                                                                     \
	{ .section = "Reclaim", .key = k, .parse = fn, .offset = offsetof(T, reclaim.field), __VA_ARGS__ }
#define RECLAIM_ITEMS(T)                                                                                 \
	RC(T, "Enable", item_parse_bool, enable),                                                         \
	RC(T, "PressureTarget", item_parse_hundredths, pressure_target, .min = 1, .max = 10000),         \
	RC(T, "StepPercent", item_parse_unsigned, step_percent, .min = 1, .max = 50),                     \
	RC(T, "StepMax", item_parse_size_range, step_max_bytes, .flags = ITEM_NO_MAX, .min = 64 << 10,   \
	   .max = UINT64_C(4) << 30),                                                                     \
	RC(T, "Floor", item_parse_size_range, floor_bytes, .flags = ITEM_NO_MAX, .min = 0,               \
	   .max = UINT64_C(1) << 50),                                                                     \
	RC(T, "IntervalSec", item_parse_duration, interval_usec, .min = 100 * USEC_PER_MSEC,              \
	   .max = 3600 * USEC_PER_SEC),                                                                   \
	RC(T, "HoldSec", item_parse_duration, hold_usec, .min = USEC_PER_SEC, .max = 3600 * USEC_PER_SEC), \
	RC(T, "RefaultPercent", item_parse_unsigned, refault_percent, .min = 1, .max = 100)

/* [Guard]: the same keys in memqosd.conf (defaults) and in profiles (overrides). */
#define GD(T, k, fn, field, ...)                                                                     \
	{ .section = "Guard", .key = k, .parse = fn, .offset = offsetof(T, guard.field), __VA_ARGS__ }
#define GUARD_ITEMS(T)                                                                                   \
	GD(T, "Enable", item_parse_bool, enable),                                                         \
	GD(T, "ChargeRate", item_parse_size_range, charge_rate, .flags = ITEM_NO_MAX, .min = 0,          \
	   .max = UINT64_C(1) << 40),                                                                     \
	GD(T, "ChargeBurst", item_parse_size_range, charge_burst, .flags = ITEM_NO_MAX, .min = 1 << 20,  \
	   .max = UINT64_C(1) << 40),                                                                     \
	GD(T, "ForkRate", item_parse_unsigned, fork_rate, .min = 0, .max = 1000000),                      \
	GD(T, "ForkBurst", item_parse_unsigned, fork_burst, .min = 1, .max = 1000000),                    \
	GD(T, "PerUidChargeRate", item_parse_size_range, uid_charge_rate, .flags = ITEM_NO_MAX, .min = 0,\
	   .max = UINT64_C(1) << 40),                                                                     \
	GD(T, "PerUidChargeBurst", item_parse_size_range, uid_charge_burst, .flags = ITEM_NO_MAX,        \
	   .min = 0, .max = UINT64_C(1) << 40),                                                           \
	GD(T, "PerUidForkRate", item_parse_unsigned, uid_fork_rate, .min = 0, .max = 1000000),            \
	GD(T, "PerUidForkBurst", item_parse_unsigned, uid_fork_burst, .min = 0, .max = 1000000),          \
	GD(T, "Actions", item_parse_guard_actions, actions),                                              \
	GD(T, "PidsAllowance", item_parse_unsigned, pids_allowance, .min = 1, .max = 100000),             \
	GD(T, "CpuMax", item_parse_cpu_percent, cpu_max_percent, .min = 1, .max = 10000),                 \
	GD(T, "EscalateSec", item_parse_duration, escalate_usec, .min = 100 * USEC_PER_MSEC,              \
	   .max = 3600 * USEC_PER_SEC),                                                                   \
	GD(T, "HoldSec", item_parse_duration, hold_usec, .min = USEC_PER_SEC, .max = 24 * 3600 * USEC_PER_SEC)

/* memqosd.conf and its drop-ins. Keep in sync with conf/memqosd.conf and conf/README.md. */
static const ConfigItem daemon_items[] = {
	DAEMON("DryRun", item_parse_bool, dry_run),
	DAEMON("LogLevel", item_parse_log_level, log_level),
	DAEMON("CgroupRoot", item_parse_cgroup_root, cgroup_root),
	DAEMON("TemplateInstancesMax", item_parse_unsigned, template_instances_max, .min = 1, .max = 65536),

	CONTROL("PressureType", item_parse_psi_type, psi_full),
	/* The kernel accepts PSI trigger windows of 500ms..10s and a stall of at most the window. */
	CONTROL("PressureThresholdSec", item_parse_duration, psi_stall_usec, .min = 1, .max = 10 * USEC_PER_SEC),
	CONTROL("PressureWindowSec", item_parse_duration, psi_window_usec,
		.min = 500 * USEC_PER_MSEC, .max = 10 * USEC_PER_SEC),
	CONTROL("StepPercent", item_parse_unsigned, step_percent, .min = 1, .max = 100),
	CONTROL("RelaxPercent", item_parse_unsigned, relax_percent, .min = 1, .max = 100),
	CONTROL("HoldSec", item_parse_duration, hold_usec, .min = 0, .max = 3600 * USEC_PER_SEC),
	CONTROL("RelaxCeilingSec", item_parse_duration, relax_ceiling_usec, .min = 0, .max = 3600 * USEC_PER_SEC),
	CONTROL("MinIntervalSec", item_parse_duration, min_interval_usec,
		.min = 100 * USEC_PER_MSEC, .max = 3600 * USEC_PER_SEC),
	CONTROL("Headroom", item_parse_size, headroom_bytes, .flags = ITEM_NO_MAX),
	CONTROL("HousekeepingSec", item_parse_duration, housekeeping_usec,
		.min = USEC_PER_SEC, .max = 3600 * USEC_PER_SEC),
	CONTROL("WriteTimeoutSec", item_parse_duration, write_timeout_usec,
		.min = 100 * USEC_PER_MSEC, .max = 300 * USEC_PER_SEC),

	FORECAST_ITEMS(DaemonConfig),
	SAMPLING_ITEMS(DaemonConfig),
	RECLAIM_ITEMS(DaemonConfig),
	GUARD_ITEMS(DaemonConfig),

	{ .section = "Metrics", .key = "Listen", .parse = item_parse_listen,
	  .offset = offsetof(DaemonConfig, metrics_listen) },
};

/* tenants.d/NAME.conf. Keep in sync with conf/tenants.d/ and conf/README.md. */
static const ConfigItem tenant_items[] = {
	TENANT("Cgroup", item_parse_cgroup, cgroup, .flags = ITEM_REQUIRED),
	TENANT("Priority", item_parse_int, priority, .flags = ITEM_REQUIRED, .min = 0, .max = 100),
	TENANT("MemoryHighMin", item_parse_size, memory_high_min),
	TENANT("MemoryHighMax", item_parse_size, memory_high_max),
	TENANT("MemoryLow", item_parse_size, memory_low,
	       .flags = ITEM_SET_FLAG, .set_offset = offsetof(TenantConfig, has_memory_low)),
	TENANT("Policy", item_parse_policy, policy),

	FORECAST_ITEMS(TenantConfig),
	SAMPLING_ITEMS(TenantConfig),
	RECLAIM_ITEMS(TenantConfig),
	GUARD_ITEMS(TenantConfig),
};

/* Index of a key in a table, for cross-key checks; the key must exist. */
static size_t item_index(const ConfigItem *items, size_t n_items, const char *section, const char *key)
{
	for (size_t i = 0; i < n_items; i++)
		if (streq(items[i].section, section) && streq(items[i].key, key))
			return i;
	abort();
}

static bool section_is_known(const ConfigItem *items, size_t n_items, const char *section)
{
	for (size_t i = 0; i < n_items; i++)
		if (streq(items[i].section, section))
			return true;
	return false;
}

/* "[A], [B]" listing the sections of a table in order of first appearance. */
static char *sections_list(const ConfigItem *items, size_t n_items)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < n_items; i++) {
		if (i > 0 && section_is_known(items, i, items[i].section))
			continue;
		fprintf(f, "%s[%s]", i > 0 ? ", " : "", items[i].section);
	}
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* ---------------------------------------------------------------------------------------------- */
/* One file                                                                                         */

/* An assignment line the handler never saw was rejected by inih. */
static void check_pending_line(ParseContext *ctx)
{
	if (ctx->pending_line != 0 && ctx->handled_line != ctx->pending_line)
		parse_error(ctx, NULL, "syntax error, expected Key=value, [Section] or a comment");
	ctx->pending_line = 0;
}

static void handle_section_header(ParseContext *ctx, const char *p)
{
	_cleanup_free_ char *name = NULL, *known = NULL;
	const char *end = strchr(p, ']'), *rest;

	ctx->section_line = ctx->line;
	ctx->section_known = false;
	if (!end) {
		parse_error(ctx, NULL, "syntax error, section header without ']'");
		return;
	}
	for (rest = end + 1; *rest == ' ' || *rest == '\t'; rest++)
		;
	if (*rest != '\0' && *rest != ';' && *rest != '#') {
		parse_error(ctx, NULL, "syntax error, unexpected text after section header");
		return;
	}

	/* The same name inih passes to the handler: everything between '[' and the first ']'. */
	name = strndup(p + 1, (size_t) (end - p - 1));
	if (!name) {
		ctx->fatal = -ENOMEM;
		return;
	}
	ctx->section_known = section_is_known(ctx->items, ctx->n_items, name);
	if (ctx->section_known)
		return;

	known = sections_list(ctx->items, ctx->n_items);
	if (!known) {
		ctx->fatal = -ENOMEM;
		return;
	}
	parse_error(ctx, NULL, "[%s]: unknown section (expected %s)", name, known);
}

/*
 * A NUL byte inside a line: inih would see the line end there and silently drop the rest. An error
 * on that line, naming the key if the text before the NUL is an assignment (comments too: a NUL
 * has no business in a text file).
 */
static void report_nul_byte(ParseContext *ctx, const char *p)
{
	_cleanup_free_ char *key = NULL;
	const char *eq = strchr(p, '=');

	if (*p != '[' && *p != '#' && *p != ';' && eq && eq > p) {
		size_t l = (size_t) (eq - p);

		while (l > 0 && (p[l - 1] == ' ' || p[l - 1] == '\t'))
			l--;
		key = strndup(p, l);
		if (!key) {
			ctx->fatal = -ENOMEM;
			return;
		}
	}
	parse_error(ctx, key && *key ? key : NULL, "NUL byte inside the line");
}

/* inih's fgets-style reader: one physical line per call, see the comment at the top. */
static char *config_read_line(char *str, int num, void *stream)
{
	ParseContext *ctx = stream;
	ssize_t n;
	char *p, *end;
	size_t len;

	check_pending_line(ctx);
	if (ctx->fatal < 0)
		return NULL;

	errno = 0;
	n = getline(&ctx->buf, &ctx->buf_size, ctx->f);
	if (n < 0) {
		if (ferror(ctx->f)) {
			ctx->fatal = negative_errno();
			parse_error(ctx, NULL, "read error: %s", strerror(-ctx->fatal));
		}
		return NULL;
	}
	ctx->line++;
	ctx->bytes_read += (uint64_t) n;
	if (ctx->bytes_read > CONFIG_FILE_SIZE_MAX) {
		/* The file grew past the cap after fstat(). */
		parse_error(ctx, NULL, "file too large (more than %llu bytes), stopped reading",
			    (unsigned long long) CONFIG_FILE_SIZE_MAX);
		return NULL;
	}

	p = ctx->buf;
	len = (size_t) n;
	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		p[--len] = '\0';
	end = p + len;  /* the line's real end: a NUL byte inside it must not hide the rest */
	if (ctx->line == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	len = (size_t) (end - p);

	if (num <= 1 || len >= (size_t) num) {
		/* inih's line buffer is fixed (200 bytes in Debian's build). Long comments are harmless. */
		if (*p != '#' && *p != ';')
			parse_error(ctx, NULL, "line too long (at most %d characters)", num - 1);
		str[0] = '\0';
		return str;
	}
	if (memchr(p, '\0', len)) {
		report_nul_byte(ctx, p);
		str[0] = '\0';
		return str;
	}

	if (*p == '[')
		handle_section_header(ctx, p);
	else if (*p != '\0' && *p != ';' && *p != '#')
		ctx->pending_line = ctx->line;

	memcpy(str, p, len + 1);
	return str;
}

static int config_handle_item(void *user, const char *section, const char *name, const char *value)
{
	ParseContext *ctx = user;
	const ConfigItem *item = NULL;
	size_t i;

	ctx->handled_line = ctx->line;

	if (name[0] == '\0') {
		parse_error(ctx, NULL, "syntax error, missing key name before '='");
		return 0;
	}
	if (ctx->section_line == 0) {
		parse_error(ctx, name, "assignment outside of any section");
		return 0;
	}
	if (!ctx->section_known)
		return 0;  /* the section header was reported already */

	for (i = 0; i < ctx->n_items; i++)
		if (streq(ctx->items[i].section, section) && streq(ctx->items[i].key, name)) {
			item = &ctx->items[i];
			break;
		}
	if (!item) {
		const char *hint = NULL;

		for (size_t j = 0; j < ctx->n_items; j++)
			if (streq(ctx->items[j].section, section) && strcaseeq_ascii(ctx->items[j].key, name))
				hint = ctx->items[j].key;
		if (hint)
			parse_error(ctx, name, "unknown key in section [%s] (keys are case-sensitive: %s=)", section,
				    hint);
		else
			parse_error(ctx, name, "unknown key in section [%s]", section);
		return 0;
	}

	if (ctx->seen[i] != 0) {
		parse_error(ctx, name, "duplicate key, already set on line %u", ctx->seen[i]);
		return 0;
	}
	ctx->seen[i] = ctx->line;
	ctx->origins[i] = (ItemOrigin) { .file = ctx->file, .line = ctx->line };

	if (item->parse(item, value, (char *) ctx->target + item->offset, ctx) < 0)
		return 0;

	if (item->flags & ITEM_SET_FLAG)
		*(bool *) ((char *) ctx->target + item->set_offset) = true;
	ctx->origins[i].valid = true;
	return 1;
}

static const char *file_type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFIFO:
		return "a FIFO";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFDIR:
		return "a directory";
	case S_IFSOCK:
		return "a socket";
	default:
		return "not a file";
	}
}

/*
 * Parse one file into target. Configuration problems are appended to errors and do not make this
 * fail. Returns -ENOENT (not reported) if the file does not exist, another negative errno (reported)
 * if it cannot be read, -ENOMEM on allocation failure, else 0. origins must stay valid as long as
 * file does.
 */
static int parse_one_file(const char *file, const ConfigItem *items, size_t n_items, void *target,
			  ItemOrigin *origins, ConfigErrors *errors)
{
	_cleanup_free_ unsigned *seen = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_close_ int fd = -EBADF;
	size_t n_errors = errors->n_total;
	ParseContext ctx;
	struct stat st;
	int r;

	/*
	 * O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer (forever, with the
	 * daemon's event loop blocked). The type is checked on the opened fd, so a symlink to a FIFO,
	 * a device or a directory named *.conf is refused the same way.
	 */
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = negative_errno();
		if (r == -ENOENT)
			return r;
		if (config_errors_add(errors, file, 0, NULL, "cannot open: %s", strerror(-r)) < 0)
			return -ENOMEM;
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = negative_errno();
		if (config_errors_add(errors, file, 0, NULL, "cannot stat: %s", strerror(-r)) < 0)
			return -ENOMEM;
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		if (config_errors_add(errors, file, 0, NULL, "not a regular file (%s), refusing to read it",
				      file_type_name(st.st_mode)) < 0)
			return -ENOMEM;
		return 0;
	}
	if ((uint64_t) st.st_size > CONFIG_FILE_SIZE_MAX) {
		if (config_errors_add(errors, file, 0, NULL, "file too large (%llu bytes, at most %llu)",
				      (unsigned long long) st.st_size, (unsigned long long) CONFIG_FILE_SIZE_MAX) < 0)
			return -ENOMEM;
		return 0;
	}
	/* A regular file never blocks; plain blocking reads from here on. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
		return negative_errno();
	f = fdopen(fd, "r");
	if (!f)
		return negative_errno();
	fd = -EBADF;  /* owned by f now */

	seen = calloc(n_items, sizeof(*seen));
	if (!seen)
		return -ENOMEM;

	ctx = (ParseContext) {
		.file = file,
		.f = f,
		.items = items,
		.n_items = n_items,
		.target = target,
		.seen = seen,
		.origins = origins,
		.errors = errors,
	};
	r = ini_parse_stream(config_read_line, &ctx, config_handle_item, &ctx);
	check_pending_line(&ctx);
	free(ctx.buf);
	if (ctx.fatal < 0)
		return ctx.fatal;
	if (r == -2)
		return -ENOMEM;
	/* Safety net: inih found something our reader and handler did not report. */
	if (r > 0 && errors->n_total == n_errors &&
	    config_errors_add(errors, file, (unsigned) r, NULL, "syntax error") < 0)
		return -ENOMEM;

	for (size_t i = 0; i < n_items; i++)
		if ((items[i].flags & ITEM_REQUIRED) && seen[i] == 0 &&
		    config_errors_add(errors, file, 0, items[i].key, "required key missing in section [%s]",
				      items[i].section) < 0)
			return -ENOMEM;

	return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Directories                                                                                      */

static int conf_file_filter(const struct dirent *de)
{
	size_t l = strlen(de->d_name);

	/* Hidden files (editor swap files, ".#foo.conf") are never configuration. */
	return de->d_name[0] != '.' && l > strlen(".conf") && streq(de->d_name + l - strlen(".conf"), ".conf");
}

static int conf_file_compare(const struct dirent **a, const struct dirent **b)
{
	/* Byte order, independent of the locale, so the drop-in order is the same everywhere. */
	return strcmp((*a)->d_name, (*b)->d_name);
}

/*
 * Full paths of the *.conf files in dir/sub, sorted. A missing directory is empty. Returns the
 * number of files, or negative errno (reported in errors unless -ENOMEM).
 */
static int list_conf_files(const char *dir, const char *sub, char ***ret, ConfigErrors *errors)
{
	_cleanup_free_ char *path = NULL;
	struct dirent **des = NULL;
	char **files;
	int n, r = 0;

	if (asprintf(&path, "%s/%s", dir, sub) < 0) {
		path = NULL;
		return -ENOMEM;
	}

	n = scandir(path, &des, conf_file_filter, conf_file_compare);
	if (n < 0) {
		r = negative_errno();
		if (r == -ENOENT) {
			*ret = NULL;
			return 0;
		}
		if (config_errors_add(errors, path, 0, NULL, "cannot read directory: %s", strerror(-r)) < 0)
			return -ENOMEM;
		return r;
	}

	files = calloc((size_t) n + 1, sizeof(*files));
	for (int i = 0; i < n; i++) {
		if (files && asprintf(&files[i], "%s/%s", path, des[i]->d_name) < 0) {
			files[i] = NULL;
			r = -ENOMEM;
		}
		free(des[i]);
	}
	free(des);
	if (!files)
		return -ENOMEM;
	if (r < 0) {
		for (int i = 0; i < n; i++)
			free(files[i]);
		free(files);
		return r;
	}

	*ret = files;
	return n;
}

static void strv_free_n(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---------------------------------------------------------------------------------------------- */
/* memqosd.conf + drop-ins                                                                          */

/*
 * Checks across [Forecast] keys: CriticalSec= < WarningSec= <= WatchSec=. Blames the later key where
 * it was set (else the earlier one); keys already reported as invalid are not judged again.
 */
static int forecast_validate(const ForecastParams *f, const ConfigItem *items, size_t n_items,
			     const ItemOrigin *origins, ConfigErrors *errors)
{
	const ItemOrigin *o_crit = &origins[item_index(items, n_items, "Forecast", "CriticalSec")],
			 *o_warn = &origins[item_index(items, n_items, "Forecast", "WarningSec")],
			 *o_watch = &origins[item_index(items, n_items, "Forecast", "WatchSec")];
	char a[FORMAT_VALUE_MAX], b[FORMAT_VALUE_MAX];
	int r;

	if (!o_crit->file && !o_warn->file && !o_watch->file)
		return 0;  /* inherited or default: judged where it was set */
	if ((o_crit->file && !o_crit->valid) || (o_warn->file && !o_warn->valid) || (o_watch->file && !o_watch->valid))
		return 0;
	if (f->critical_usec >= f->warning_usec && (o_crit->file || o_warn->file)) {
		const ItemOrigin *o = o_crit->file ? o_crit : o_warn;

		r = config_errors_add(errors, o->file ?: "(defaults)", o->line, o == o_crit ? "CriticalSec" : "WarningSec",
				      "CriticalSec= (%s) must be shorter than WarningSec= (%s)",
				      format_duration(a, f->critical_usec), format_duration(b, f->warning_usec));
		if (r < 0)
			return r;
	}
	if (f->warning_usec > f->watch_usec && (o_warn->file || o_watch->file)) {
		const ItemOrigin *o = o_warn->file ? o_warn : o_watch;

		r = config_errors_add(errors, o->file ?: "(defaults)", o->line, o == o_warn ? "WarningSec" : "WatchSec",
				      "WarningSec= (%s) must not be longer than WatchSec= (%s)",
				      format_duration(a, f->warning_usec), format_duration(b, f->watch_usec));
		if (r < 0)
			return r;
	}
	return 0;
}

/* Checks across [Control] keys, once every file has been applied. */
static int daemon_validate(const DaemonConfig *d, const ItemOrigin *origins, ConfigErrors *errors)
{
	const size_t i_stall = item_index(daemon_items, ELEMENTSOF(daemon_items), "Control", "PressureThresholdSec"),
		     i_window = item_index(daemon_items, ELEMENTSOF(daemon_items), "Control", "PressureWindowSec");
	char stall[FORMAT_VALUE_MAX], window[FORMAT_VALUE_MAX];
	int r;

	r = forecast_validate(&d->forecast, daemon_items, ELEMENTSOF(daemon_items), origins, errors);
	if (r < 0)
		return r;
	if (d->control.psi_stall_usec <= d->control.psi_window_usec)
		return 0;
	if ((origins[i_stall].file && !origins[i_stall].valid) || (origins[i_window].file && !origins[i_window].valid))
		return 0;  /* one of them is already reported */

	format_duration(stall, d->control.psi_stall_usec);
	format_duration(window, d->control.psi_window_usec);

	/* Blame the threshold where it was set, else the window (the two defaults are consistent). */
	if (origins[i_stall].file)
		return config_errors_add(errors, origins[i_stall].file, origins[i_stall].line, "PressureThresholdSec",
					 "%s is longer than PressureWindowSec= (%s)", stall, window);
	return config_errors_add(errors, origins[i_window].file, origins[i_window].line, "PressureWindowSec",
				 "%s is shorter than PressureThresholdSec= (%s)", window, stall);
}

static int daemon_config_load(const char *dir, DaemonConfig *d, ConfigErrors *errors)
{
	ItemOrigin origins[ELEMENTSOF(daemon_items)] = {};
	_cleanup_free_ char *main_file = NULL;
	char **dropins = NULL;
	int n, r, io_error = 0;

	daemon_config_defaults(d);

	if (asprintf(&main_file, "%s/memqosd.conf", dir) < 0) {
		main_file = NULL;
		return -ENOMEM;
	}
	/* The main file first, then the drop-ins in lexical order: the last assignment wins. */
	r = parse_one_file(main_file, daemon_items, ELEMENTSOF(daemon_items), d, origins, errors);
	if (r == -ENOMEM)
		return r;
	if (r < 0 && r != -ENOENT)
		io_error = r;

	n = list_conf_files(dir, "memqosd.conf.d", &dropins, errors);
	if (n == -ENOMEM)
		return n;
	if (n < 0) {
		io_error = io_error ?: n;
		n = 0;
	}

	for (int i = 0; i < n; i++) {
		r = parse_one_file(dropins[i], daemon_items, ELEMENTSOF(daemon_items), d, origins, errors);
		if (r == -ENOMEM)
			break;
		if (r < 0 && r != -ENOENT && io_error == 0)
			io_error = r;
	}
	/* origins point to the file names: validate before freeing them. */
	if (r != -ENOMEM)
		r = daemon_validate(d, origins, errors);
	strv_free_n(dropins, (size_t) n);
	if (r < 0)
		return r;
	return io_error;
}

/* ---------------------------------------------------------------------------------------------- */
/* Tenants                                                                                          */

TenantConfig *tenant_config_free(TenantConfig *t)
{
	if (!t)
		return NULL;
	free(t->name);
	free(t->file);
	free(t->cgroup);
	free(t->forecast.hook);
	free(t->template);
	free(t);
	return NULL;
}

TenantConfig *tenant_config_dup(const TenantConfig *t)
{
	TenantConfig *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	*c = *t;
	c->name = strdup(t->name);
	c->file = strdup(t->file);
	c->cgroup = strdup(t->cgroup);
	c->forecast.hook = t->forecast.hook ? strdup(t->forecast.hook) : NULL;
	c->template = t->template ? strdup(t->template) : NULL;
	if (!c->name || !c->file || !c->cgroup || (t->forecast.hook && !c->forecast.hook) ||
	    (t->template && !c->template))
		return tenant_config_free(c);
	return c;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(TenantConfig *, tenant_config_free);

static bool tenant_name_is_valid(const char *name)
{
	if (name[0] == '\0')
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '.' || *p == '-'))
			return false;
	return true;
}

/* Checks across [Tenant] keys of one profile; fills in defaults that depend on other keys. */
static int tenant_validate(TenantConfig *t, const ItemOrigin *origins, ConfigErrors *errors)
{
	const size_t n = ELEMENTSOF(tenant_items);
	const ItemOrigin *o_min = &origins[item_index(tenant_items, n, "Tenant", "MemoryHighMin")],
			 *o_max = &origins[item_index(tenant_items, n, "Tenant", "MemoryHighMax")],
			 *o_low = &origins[item_index(tenant_items, n, "Tenant", "MemoryLow")];
	char a[FORMAT_VALUE_MAX], b[FORMAT_VALUE_MAX];
	bool max_ok = !o_max->file || o_max->valid;
	int r;

	r = forecast_validate(&t->forecast, tenant_items, n, origins, errors);
	if (r < 0)
		return r;
	if (!o_min->file)
		t->memory_high_min = t->memory_high_max;  /* not squeezable unless the profile says so */

	if (o_min->valid && max_ok && t->memory_high_min > t->memory_high_max) {
		r = config_errors_add(errors, o_min->file, o_min->line, "MemoryHighMin",
				      "%s is larger than MemoryHighMax= (%s)", format_size(a, t->memory_high_min),
				      format_size(b, t->memory_high_max));
		if (r < 0)
			return r;
	}
	if (o_low->valid && max_ok && t->memory_low > t->memory_high_max) {
		r = config_errors_add(errors, o_low->file, o_low->line, "MemoryLow",
				      "%s is larger than MemoryHighMax= (%s)", format_size(a, t->memory_low),
				      format_size(b, t->memory_high_max));
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Parse one profile. Returns 0 and the tenant in *ret if it is valid, 0 without touching *ret if it
 * has problems (in errors), negative errno on allocation or I/O failure.
 */
static int tenant_load(const char *file, const ForecastParams *forecast, const SamplingParams *sampling,
		       const ReclaimParams *reclaim, const GuardParams *guard, ConfigErrors *errors, TenantConfig **ret)
{
	_cleanup_(tenant_config_freep) TenantConfig *t = NULL;
	ItemOrigin origins[ELEMENTSOF(tenant_items)] = {};
	size_t n_errors = errors->n_total;
	const char *base = strrchr(file, '/');
	int r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	tenant_config_defaults(t, forecast, sampling, reclaim, guard);
	base = base ? base + 1 : file;
	t->name = strndup(base, strlen(base) - strlen(".conf"));
	t->file = strdup(file);
	if (!t->name || !t->file)
		return -ENOMEM;
	if (forecast->hook) {
		t->forecast.hook = strdup(forecast->hook);
		if (!t->forecast.hook)
			return -ENOMEM;
	}

	if (!tenant_name_is_valid(t->name) &&
	    config_errors_add(errors, file, 0, NULL,
			      "invalid tenant name '%s' (allowed characters: A-Z a-z 0-9 _ . -)", t->name) < 0)
		return -ENOMEM;

	r = parse_one_file(file, tenant_items, ELEMENTSOF(tenant_items), t, origins, errors);
	if (r == -ENOENT) {
		/* Listed a moment ago: removed meanwhile, or a dangling symlink. */
		if (config_errors_add(errors, file, 0, NULL, "cannot open: %s", strerror(ENOENT)) < 0)
			return -ENOMEM;
		return r;
	}
	if (r < 0)
		return r;

	r = tenant_validate(t, origins, errors);
	if (r < 0)
		return r;

	if (errors->n_total == n_errors) {
		t->cgroup_line = origins[item_index(tenant_items, ELEMENTSOF(tenant_items), "Tenant", "Cgroup")].line;
		t->is_template = template_is_pattern(t->cgroup);
		*ret = TAKE_PTR(t);
	}
	return 0;
}

static int tenant_compare_name(const void *a, const void *b)
{
	const TenantConfig *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/*
 * The profiles by cgroup, for the duplicate check: open addressing over FNV-1a. Not glibc's
 * hsearch_r(): its hash keeps only the first eight characters of a key, and cgroup paths share
 * long prefixes ("tenants/...", "machine.slice/..."), so every key collided and loading N profiles
 * cost O(N^2) string compares (1.2 s at 10,000; issue 12).
 */
typedef struct CgroupSet {
	const TenantConfig **slots;
	size_t mask;
} CgroupSet;

static int cgroup_set_init(CgroupSet *set, size_t n)
{
	size_t size = 16;

	while (size < 2 * n)
		size *= 2;
	set->slots = calloc(size, sizeof(*set->slots));
	set->mask = size - 1;
	return set->slots ? 0 : -ENOMEM;
}

/* The tenant that took t's cgroup first, or t itself (now taken). Never fails: the set has room. */
static const TenantConfig *cgroup_set_take(CgroupSet *set, const TenantConfig *t)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (const unsigned char *p = (const unsigned char *) t->cgroup; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	for (i = (size_t) (h ^ h >> 32) & set->mask; set->slots[i]; i = (i + 1) & set->mask)
		if (streq(set->slots[i]->cgroup, t->cgroup))
			return set->slots[i];
	set->slots[i] = t;
	return t;
}

/* Load every valid profile into c->tenants. Problems go to errors; negative errno only for I/O or allocation failure. */
static int tenants_load(Config *c, ConfigErrors *errors)
{
	CgroupSet by_cgroup = {};
	const TenantConfig *found;
	char **files = NULL;
	int n, r, io_error = 0;

	n = list_conf_files(c->dir, "tenants.d", &files, errors);
	if (n <= 0) {
		strv_free_n(files, 0);
		return n;
	}

	c->tenants = calloc((size_t) n, sizeof(*c->tenants));
	if (!c->tenants || cgroup_set_init(&by_cgroup, (size_t) n) < 0) {
		strv_free_n(files, (size_t) n);
		return -ENOMEM;
	}

	for (int i = 0; i < n; i++) {
		TenantConfig *t = NULL;

		r = tenant_load(files[i], &c->daemon.forecast, &c->daemon.sampling, &c->daemon.reclaim,
				&c->daemon.guard, errors, &t);
		if (r == -ENOMEM)
			goto finish;
		if (r < 0 && io_error == 0)
			io_error = r;
		if (!t)
			continue;

		/*
		 * Files are in lexical order: the later one is reported, naming the earlier. A hash table
		 * of the cgroups taken so far keeps this one lookup per profile.
		 */
		found = cgroup_set_take(&by_cgroup, t);
		if (found != t) {
			const TenantConfig *o = found;

			r = config_errors_add(errors, t->file, t->cgroup_line, "Cgroup",
					      "cgroup '%s' is already used by tenant '%s' (%s:%u)", t->cgroup, o->name,
					      o->file, o->cgroup_line);
			t = tenant_config_free(t);
			if (r < 0)
				goto finish;
		}
		if (t)
			c->tenants[c->n_tenants++] = t;
	}
	r = 0;
finish:
	free(by_cgroup.slots);  /* the tenants belong to c */
	strv_free_n(files, (size_t) n);
	if (r < 0)
		return r;

	qsort(c->tenants, c->n_tenants, sizeof(*c->tenants), tenant_compare_name);
	return io_error;
}

/* ---------------------------------------------------------------------------------------------- */
/* Config                                                                                           */

Config *config_free(Config *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_tenants; i++)
		tenant_config_free(c->tenants[i]);
	free(c->tenants);
	free(c->daemon.cgroup_root);
	free(c->daemon.forecast.hook);
	free(c->daemon.metrics_listen);
	free(c->dir);
	free(c);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

int config_load(const char *dir, Config **ret, ConfigErrors *errors)
{
	_cleanup_(config_freep) Config *c = NULL;
	size_t n_errors = errors->n_total, len;
	struct stat st;
	int r, r2;

	if (!dir)
		dir = MEMQOSD_DEFAULT_CONFIG_DIR;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	/* No trailing '/', so that file names in messages read well. */
	len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	c->dir = strndup(dir, len);
	if (!c->dir)
		return -ENOMEM;

	r = stat(c->dir, &st) < 0 ? negative_errno() : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (r < 0) {
		if (config_errors_add(errors, c->dir, 0, NULL, "configuration directory: %s", strerror(-r)) < 0)
			return -ENOMEM;
		return r;
	}

	r = daemon_config_load(c->dir, &c->daemon, errors);
	if (r == -ENOMEM)
		return r;

	r2 = tenants_load(c, errors);
	if (r2 == -ENOMEM)
		return r2;
	if (r == 0)
		r = r2;

	if (r < 0)
		return r;
	if (errors->n_total > n_errors)
		return -EINVAL;

	*ret = TAKE_PTR(c);
	return 0;
}

const TenantConfig *config_find_tenant(const Config *c, const char *name)
{
	const TenantConfig key = { .name = (char *) name }, *k = &key, *const *found;

	if (!c || !name || c->n_tenants == 0)
		return NULL;
	found = bsearch(&k, c->tenants, c->n_tenants, sizeof(*c->tenants), tenant_compare_name);
	return found ? *found : NULL;
}

/* Equal in everything that affects what memqosd does (not where the profile was read from). */
bool tenant_config_equal(const TenantConfig *a, const TenantConfig *b)
{
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	return streq(a->name, b->name) && streq(a->cgroup, b->cgroup) && a->priority == b->priority &&
	       a->is_template == b->is_template && streq_ptr(a->template, b->template) &&
	       a->memory_high_min == b->memory_high_min && a->memory_high_max == b->memory_high_max &&
	       a->has_memory_low == b->has_memory_low && (!a->has_memory_low || a->memory_low == b->memory_low) &&
	       a->policy == b->policy && forecast_params_equal(&a->forecast, &b->forecast) &&
	       sampling_params_equal(&a->sampling, &b->sampling) && reclaim_params_equal(&a->reclaim, &b->reclaim) &&
	       guard_params_equal(&a->guard, &b->guard);
}

void config_diff_clear(ConfigDiff *d)
{
	if (!d)
		return;
	free(d->added);
	free(d->removed);
	free(d->changed);
	*d = (ConfigDiff) {};
}

/* Either config may be NULL (no tenants). Both tenant lists are sorted by name: one merge pass. */
int config_diff(const Config *old, const Config *new, ConfigDiff *ret)
{
	size_t n_old = old ? old->n_tenants : 0, n_new = new ? new->n_tenants : 0, i = 0, j = 0;
	ConfigDiff d = {};

	d.added = calloc(n_new + 1, sizeof(*d.added));
	d.removed = calloc(n_old + 1, sizeof(*d.removed));
	d.changed = calloc(n_new + 1, sizeof(*d.changed));
	if (!d.added || !d.removed || !d.changed) {
		config_diff_clear(&d);
		return -ENOMEM;
	}

	while (i < n_old || j < n_new) {
		int cmp = i >= n_old ? 1 : j >= n_new ? -1 : strcmp(old->tenants[i]->name, new->tenants[j]->name);

		if (cmp < 0)
			d.removed[d.n_removed++] = old->tenants[i++]->name;
		else if (cmp > 0)
			d.added[d.n_added++] = new->tenants[j++]->name;
		else {
			if (!tenant_config_equal(old->tenants[i], new->tenants[j]))
				d.changed[d.n_changed++] = new->tenants[j]->name;
			i++;
			j++;
		}
	}

	*ret = d;
	return 0;
}
