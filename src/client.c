/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "client.h"

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "bus.h"
#include "cgroup.h"
#include "guard.h"
#include "parse-util.h"
#include "json-util.h"
#include "reclaim.h"
#include "risk-bus.h"
#include "sample.h"
#include "template.h"
#include "util.h"

#define RELOAD_TIMEOUT_USEC (120 * USEC_PER_SEC)

static int connect_bus(sd_bus **ret)
{
	int r;

	r = sd_bus_open_system(ret);
	if (r < 0) {
		fprintf(stderr, "memqosd: cannot connect to the system bus (%s): is D-Bus running? "
			"memqosd is not reachable\n", strerror(-r));
		return CLIENT_EXIT_NOT_RUNNING;
	}
	return 0;
}

static bool error_means_not_running(const sd_bus_error *e)
{
	return sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
				      SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_DISCONNECTED);
}

static int report_call_error(const char *what, const sd_bus_error *e, int r)
{
	if (error_means_not_running(e)) {
		fprintf(stderr, "memqosd: no memqosd daemon is running (%s is not on the bus: %s)\n",
			MEMQOSD_BUS_NAME, e->message ? e->message : strerror(-r));
		return CLIENT_EXIT_NOT_RUNNING;
	}
	fprintf(stderr, "memqosd: %s failed: %s\n", what, e->message ? e->message : strerror(-r));
	return 1;
}

int client_reload(void)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	int r;

	r = connect_bus(&bus);
	if (r != 0)
		return r;

	r = sd_bus_message_new_method_call(bus, &call, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE,
					   "Reload");
	if (r < 0) {
		fprintf(stderr, "memqosd: cannot build the Reload call: %s\n", strerror(-r));
		return 1;
	}
	r = sd_bus_call(bus, call, RELOAD_TIMEOUT_USEC, &error, &reply);
	if (r < 0) {
		if (sd_bus_error_has_name(&error, MEMQOSD_BUS_ERROR_RELOAD_REFUSED)) {
			fprintf(stderr, "%s\n", error.message);
			fprintf(stderr, "memqosd: reload refused; the daemon keeps running on its previous configuration\n");
			return 1;
		}
		if (sd_bus_error_has_name(&error, SD_BUS_ERROR_ACCESS_DENIED)) {
			fprintf(stderr, "memqosd: reload denied: %s\n", error.message);
			return 1;
		}
		return report_call_error("Reload", &error, r);
	}
	printf("memqosd: configuration reloaded\n");
	return 0;
}

int client_thaw(const char *tenant)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	int r;

	r = connect_bus(&bus);
	if (r != 0)
		return r;
	r = sd_bus_call_method(bus, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, "Thaw", &error, &reply,
			       "s", tenant);
	if (r < 0) {
		if (sd_bus_error_has_name(&error, MEMQOSD_BUS_ERROR_NO_SUCH_TENANT) ||
		    sd_bus_error_has_name(&error, MEMQOSD_BUS_ERROR_NOT_FROZEN) ||
		    sd_bus_error_has_name(&error, SD_BUS_ERROR_ACCESS_DENIED)) {
			fprintf(stderr, "memqosd: thaw: %s\n", error.message);
			return 1;
		}
		return report_call_error("Thaw", &error, r);
	}
	printf("memqosd: %s thawed\n", tenant);
	return 0;
}

typedef struct Row {
	const char *name, *cgroup, *policy, *state;
	int priority;
	uint64_t high, high_min, high_max, current;
	double pressure;
} Row;

static int read_row(sd_bus_message *m, Row *row)
{
	return sd_bus_message_read(m, MEMQOSD_BUS_TENANT_SIGNATURE, &row->name, &row->cgroup, &row->priority,
				   &row->high, &row->high_min, &row->high_max, &row->current, &row->pressure,
				   &row->policy, &row->state);
}

static void print_header(void)
{
	printf("%-16s %-28s %4s %-22s %10s %8s %-9s %s\n", "TENANT", "CGROUP", "PRIO", "HIGH (MIN..MAX)", "CURRENT",
	       "PRESSURE", "POLICY", "STATE");
}

static bool row_active(const Row *r)
{
	/* A no-policy tenant is active too (values are live), only without its BPF policy. */
	return streq(r->state, "active") || streq(r->state, TENANT_STATE_NO_POLICY);
}

static void print_row(const Row *r)
{
	char h[32], lo[32], hi[32], cur[32], range[128], p[16];
	bool active = row_active(r);

	cgroup_format_bytes(r->high_min, lo, sizeof(lo));
	cgroup_format_bytes(r->high_max, hi, sizeof(hi));
	if (active) {
		cgroup_format_bytes(r->high, h, sizeof(h));
		cgroup_format_bytes(r->current, cur, sizeof(cur));
	} else {
		snprintf(h, sizeof(h), "-");
		snprintf(cur, sizeof(cur), "-");
	}
	if (active && r->pressure >= 0)
		snprintf(p, sizeof(p), "%.2f%%", r->pressure);
	else
		snprintf(p, sizeof(p), "-");
	snprintf(range, sizeof(range), "%s (%s..%s)", h, lo, hi);
	printf("%-16s %-28s %4d %-22s %10s %8s %-9s %s\n", r->name, r->cgroup, r->priority, range, cur, p, r->policy,
	       r->state);
}

static int get_property_string(sd_bus *bus, const char *name, char **ret)
{
	return sd_bus_get_property_string(bus, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, name,
					  NULL, ret);
}

static void print_row_json(const Row *r, bool first)
{
	char tmpl[256];
	bool active = row_active(r);

	printf("%s{\"name\":", first ? "" : ",");
	json_string(stdout, r->name);
	printf(",\"cgroup\":");
	json_string(stdout, r->cgroup);
	printf(",\"template\":");
	json_string(stdout, template_of_instance(r->name, tmpl, sizeof(tmpl)) ? tmpl : NULL);
	printf(",\"state\":");
	json_string(stdout, r->state);
	printf(",\"priority\":%d,\"memory_high\":", r->priority);
	json_bytes(stdout, r->high, active);
	printf(",\"memory_high_min\":");
	json_bytes(stdout, r->high_min, true);
	printf(",\"memory_high_max\":");
	json_bytes(stdout, r->high_max, true);
	printf(",\"memory_current\":");
	json_bytes(stdout, r->current, active);
	printf(",\"pressure_some_avg10\":");
	if (active && r->pressure >= 0)
		printf("%.2f", r->pressure);
	else
		printf("null");
	printf(",\"policy\":");
	json_string(stdout, r->policy);
	printf("}");
}

static int bad_reply(int r)
{
	fprintf(stderr, "memqosd: bad reply from the daemon: %s\n", strerror(-r));
	return 1;
}

/*
 * Proactive reclaim's per-tenant counters (ListReclaim), after the tenants: a table, or the JSON
 * member "reclaim" (an array; empty when no tenant has reclaim on). tenant: only that one.
 */
static int print_reclaim(sd_bus *bus, const char *tenant, bool json)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	bool first = true;
	int r;

	r = sd_bus_call_method(bus, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, "ListReclaim", &error,
			       &reply, NULL);
	if (r < 0)
		return report_call_error("ListReclaim", &error, r);
	r = sd_bus_message_enter_container(reply, 'a', MEMQOSD_BUS_RECLAIM_SIGNATURE);
	if (r < 0)
		return bad_reply(r);
	if (json)
		printf(",\"reclaim\":[");
	for (;;) {
		const char *name, *phase;
		uint64_t reclaimed, saved, refaulted, steps, backoffs, latency, floor;
		char a[32], b[32], c[32], d[32];

		r = sd_bus_message_read(reply, MEMQOSD_BUS_RECLAIM_SIGNATURE, &name, &phase, &reclaimed, &saved,
					&refaulted, &steps, &backoffs, &latency, &floor);
		if (r < 0)
			return bad_reply(r);
		if (r == 0)
			break;
		if (tenant && !streq(tenant, name))
			continue;
		if (json) {
			printf("%s{\"name\":", first ? "" : ",");
			json_string(stdout, name);
			printf(",\"phase\":");
			json_string(stdout, phase);
			printf(",\"reclaimed_bytes\":%" PRIu64 ",\"saved_bytes\":%" PRIu64 ",\"refaulted_bytes\":%" PRIu64
			       ",\"steps\":%" PRIu64 ",\"backoffs\":%" PRIu64 ",\"last_backoff_usec\":%" PRIu64
			       ",\"floor_bytes\":%" PRIu64 "}", reclaimed, saved, refaulted, steps, backoffs, latency, floor);
		} else {
			if (first)
				printf("\n%-16s %-8s %10s %10s %10s %8s %8s %12s %10s\n", "RECLAIM", "PHASE", "RECLAIMED",
				       "SAVED", "REFAULTED", "STEPS", "BACKOFFS", "BACKOFF-LAT", "FLOOR");
			printf("%-16s %-8s %10s %10s %10s %8" PRIu64 " %8" PRIu64 " %9" PRIu64 " ms %10s\n", name, phase,
			       cgroup_format_bytes(reclaimed, a, sizeof(a)), cgroup_format_bytes(saved, b, sizeof(b)),
			       cgroup_format_bytes(refaulted, c, sizeof(c)), steps, backoffs, latency / 1000,
			       cgroup_format_bytes(floor, d, sizeof(d)));
		}
		first = false;
	}
	if (json)
		printf("]");
	return 0;
}

int client_status(const char *tenant, bool json)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_free_ char *mode = NULL;
	uint32_t count = 0, waiting = 0;
	int dry_run = 0;
	Row row;
	int r;

	r = connect_bus(&bus);
	if (r != 0)
		return r;

	if (tenant) {
		r = sd_bus_call_method(bus, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, "GetTenant",
				       &error, &reply, "s", tenant);
		if (r < 0) {
			if (sd_bus_error_has_name(&error, MEMQOSD_BUS_ERROR_NO_SUCH_TENANT)) {
				fprintf(stderr, "memqosd: %s\n", error.message);
				return 1;
			}
			return report_call_error("GetTenant", &error, r);
		}
	} else {
		r = sd_bus_call_method(bus, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, "ListTenants",
				       &error, &reply, NULL);
		if (r < 0)
			return report_call_error("ListTenants", &error, r);
	}

	r = get_property_string(bus, "Mode", &mode);
	if (r >= 0)
		r = sd_bus_get_property_trivial(bus, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE,
						"TenantCount", NULL, 'u', &count);
	if (r >= 0)
		r = sd_bus_get_property_trivial(bus, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE,
						"WaitingCount", NULL, 'u', &waiting);
	if (r >= 0)
		r = sd_bus_get_property_trivial(bus, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE,
						"DryRun", NULL, 'b', &dry_run);
	if (r < 0) {
		fprintf(stderr, "memqosd: cannot read daemon properties: %s\n", strerror(-r));
		return 1;
	}

	if (json) {
		printf("{\"mode\":");
		json_string(stdout, mode);
		printf(",\"dry_run\":%s,\"tenant_count\":%" PRIu32 ",\"waiting_count\":%" PRIu32 ",\"tenants\":[",
		       dry_run ? "true" : "false", count, waiting);
	} else if (!tenant)
		printf("memqosd: mode %s, %" PRIu32 " tenants (%" PRIu32 " waiting)%s\n\n", mode, count, waiting,
		       dry_run ? ", dry-run (no writes)" : "");

	if (!tenant) {
		r = sd_bus_message_enter_container(reply, 'a', MEMQOSD_BUS_TENANT_SIGNATURE);
		if (r < 0)
			return bad_reply(r);
	}
	if (!json)
		print_header();
	for (bool first = true;; first = false) {
		r = read_row(reply, &row);
		if (r < 0)
			return bad_reply(r);
		if (r == 0)
			break;
		if (json)
			print_row_json(&row, first);
		else
			print_row(&row);
		if (tenant)
			break;
	}
	if (json)
		printf("]");
	r = print_reclaim(bus, tenant, json);
	if (r != 0)
		return r;
	if (json)
		printf("}\n");
	if (fflush(stdout) != 0)
		return 1;
	return 0;
}

/* ---- memqosd watch ---- */

typedef struct Watch {
	bool json;
	const char *const *tenants;  /* NULL or empty: all */
	sd_event *event;
} Watch;

static bool watch_selected(const Watch *w, const char *name)
{
	if (!w->tenants || !w->tenants[0])
		return true;
	for (const char *const *t = w->tenants; *t; t++)
		if (streq(*t, name))
			return true;
	return false;
}

static void format_rfc3339(uint64_t usec, char *buf, size_t n)
{
	time_t secs = (time_t) (usec / USEC_PER_SEC);
	struct tm tm;
	char base[32];

	(void) gmtime_r(&secs, &tm);
	(void) strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%03uZ", base, (unsigned) (usec % USEC_PER_SEC / 1000));
}

/* Evidence a{sv} as JSON members into f (the basic types memqosd sends: d, t, s, b). */
static int read_evidence(sd_bus_message *msg, FILE *f, bool *ret_repeat)
{
	int k;

	*ret_repeat = false;
	k = sd_bus_message_enter_container(msg, 'a', "{sv}");
	if (k < 0)
		return k;
	fputc('{', f);
	for (bool first = true;; first = false) {
		const char *key, *contents;
		char type;

		k = sd_bus_message_enter_container(msg, 'e', "sv");
		if (k < 0)
			return k;
		if (k == 0)
			break;
		k = sd_bus_message_read(msg, "s", &key);
		if (k < 0)
			return k;
		k = sd_bus_message_peek_type(msg, &type, &contents);
		if (k < 0)
			return k;
		k = sd_bus_message_enter_container(msg, 'v', contents);
		if (k < 0)
			return k;
		if (!first)
			fputc(',', f);
		json_string(f, key);
		fputc(':', f);
		switch (contents[0]) {
		case 'd': {
			double d;

			k = sd_bus_message_read(msg, "d", &d);
			if (k >= 0)
				fprintf(f, isfinite(d) ? "%.6g" : "null", d);
			break;
		}
		case 't': {
			uint64_t t;

			k = sd_bus_message_read(msg, "t", &t);
			if (k >= 0)
				fprintf(f, "%" PRIu64, t);
			break;
		}
		case 's': {
			const char *s;

			k = sd_bus_message_read(msg, "s", &s);
			if (k >= 0)
				json_string(f, s);
			break;
		}
		case 'b': {
			int b;

			k = sd_bus_message_read(msg, "b", &b);
			if (k >= 0)
				fputs(b ? "true" : "false", f);
			if (k >= 0 && streq(key, "repeat"))
				*ret_repeat = b;
			break;
		}
		default:
			k = sd_bus_message_skip(msg, contents);
			if (k >= 0)
				fputs("null", f);
		}
		if (k < 0)
			return k;
		k = sd_bus_message_exit_container(msg);
		if (k >= 0)
			k = sd_bus_message_exit_container(msg);
		if (k < 0)
			return k;
	}
	fputc('}', f);
	return sd_bus_message_exit_container(msg);
}

/* read_evidence() into a malloc'ed JSON object text. */
static int read_evidence_text(sd_bus_message *msg, char **ret, bool *ret_repeat)
{
	size_t size = 0;
	FILE *f;
	int k;

	f = open_memstream(ret, &size);
	if (!f)
		return -ENOMEM;
	k = read_evidence(msg, f, ret_repeat);
	fclose(f);
	return k;
}

/* The members every JSON line of watch starts with. */
static void watch_json_head(const char *event, const char *when, const char *tenant, const char *cgroup)
{
	printf("{\"event\":\"%s\",\"time\":\"%s\",\"tenant\":", event, when);
	json_string(stdout, tenant);
	printf(",\"cgroup\":");
	json_string(stdout, cgroup);
}

/* Print one risk record (msg positioned at its fields). Returns <0 on a bad message, -EPIPE if stdout is gone. */
static int watch_print(Watch *w, sd_bus_message *msg, bool snapshot)
{
	const char *tenant, *cgroup, *level, *previous, *reason;
	uint64_t time_usec, eta, usage, limit;
	_cleanup_free_ char *evidence = NULL;
	char when[64], u[32], l[32];
	bool repeat;
	int k;

	k = sd_bus_message_read(msg, "sssstttts", &tenant, &cgroup, &level, &previous, &time_usec, &eta, &usage, &limit,
				&reason);
	if (k < 0)
		return k;
	k = read_evidence_text(msg, &evidence, &repeat);
	if (k < 0)
		return k;
	if (!watch_selected(w, tenant))
		return 0;

	format_rfc3339(time_usec, when, sizeof(when));
	if (w->json) {
		watch_json_head("risk", when, tenant, cgroup);
		printf(",\"level\":\"%s\",\"previous\":\"%s\",\"eta_seconds\":", level, previous);
		if (eta == UINT64_MAX)
			printf("null");
		else
			printf("%.1f", (double) eta / 1e6);
		printf(",\"usage_bytes\":%" PRIu64 ",\"limit_bytes\":%" PRIu64 ",\"reason\":", usage, limit);
		json_string(stdout, reason);
		printf(",\"snapshot\":%s,\"repeat\":%s,\"evidence\":%s}\n", snapshot ? "true" : "false",
		       repeat ? "true" : "false", evidence ? evidence : "{}");
	} else {
		char eta_text[48], change[48];

		if (eta == UINT64_MAX)
			snprintf(eta_text, sizeof(eta_text), "no OOM forecast");
		else
			snprintf(eta_text, sizeof(eta_text), "OOM in ~%.0f s", (double) eta / 1e6);
		cgroup_format_bytes(usage, u, sizeof(u));
		cgroup_format_bytes(limit, l, sizeof(l));
		if (snapshot)
			snprintf(change, sizeof(change), " (now)");
		else if (repeat)
			snprintf(change, sizeof(change), " (still)");
		else
			snprintf(change, sizeof(change), " (was %s)", previous);
		printf("%s %s (%s): %s%s, %s, usage %s of %s: %s\n", when, tenant, cgroup, level, change, eta_text, u, l,
		       reason);
	}
	/* One line per event, out at once: a control plane reads it through a pipe. */
	if (fflush(stdout) != 0 || ferror(stdout))
		return -EPIPE;
	return 0;
}

/* After printing one signal: a closed stdout ends the stream, a malformed signal is skipped. */
static int watch_printed(Watch *w, int k, const char *signal_name)
{
	if (k == -EPIPE)
		return sd_event_exit(w->event, 0);
	if (k < 0)
		fprintf(stderr, "memqosd: ignoring a malformed %s signal: %s\n", signal_name, strerror(-k));
	return 0;
}

static int watch_on_signal(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	(void) error;
	return watch_printed(userdata, watch_print(userdata, msg, /* snapshot= */ false), "OomRisk");
}

/* One Guard signal (src/guard.h) as a line. */
static int watch_print_guard(Watch *w, sd_bus_message *msg)
{
	const char *tenant, *cgroup, *action, *reason;
	_cleanup_free_ char *measured = NULL, *limits = NULL;
	uint64_t time_usec;
	uint32_t uid;
	char when[64];
	bool repeat;
	int k;

	k = sd_bus_message_read(msg, "sssuts", &tenant, &cgroup, &action, &uid, &time_usec, &reason);
	if (k < 0)
		return k;
	k = read_evidence_text(msg, &measured, &repeat);
	if (k >= 0)
		k = read_evidence_text(msg, &limits, &repeat);
	if (k < 0)
		return k;
	if (!watch_selected(w, tenant))
		return 0;
	format_rfc3339(time_usec, when, sizeof(when));
	if (w->json) {
		watch_json_head("guard", when, tenant, cgroup);
		if (uid == UINT32_MAX)
			printf(",\"uid\":null");
		else
			printf(",\"uid\":%" PRIu32, uid);
		printf(",\"action\":");
		json_string(stdout, action);
		printf(",\"reason\":");
		json_string(stdout, reason);
		printf(",\"measured\":%s,\"limits\":%s}\n", measured ? measured : "{}", limits ? limits : "{}");
	} else {
		char who[32] = "";

		if (uid != UINT32_MAX)
			snprintf(who, sizeof(who), " uid %" PRIu32, uid);
		printf("%s %s (%s)%s: guard %s: %s\n", when, tenant, cgroup, who, action, reason);
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		return -EPIPE;
	return 0;
}

static int watch_on_guard(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	(void) error;
	return watch_printed(userdata, watch_print_guard(userdata, msg), "Guard");
}

static int watch_on_owner(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Watch *w = userdata;
	const char *name, *old, *new;

	(void) error;
	if (sd_bus_message_read(msg, "sss", &name, &old, &new) < 0 || !streq(name, MEMQOSD_BUS_NAME) || new[0])
		return 0;
	fprintf(stderr, "memqosd: the daemon went away (%s left the bus); stopping\n", MEMQOSD_BUS_NAME);
	return sd_event_exit(w->event, CLIENT_EXIT_NOT_RUNNING);
}

static int watch_on_disconnect(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Watch *w = userdata;

	(void) msg;
	(void) error;
	fprintf(stderr, "memqosd: lost the connection to the system bus; stopping\n");
	return sd_event_exit(w->event, CLIENT_EXIT_NOT_RUNNING);
}

int client_watch(bool json, const char *const *tenants)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_event_unrefp) sd_event *event = NULL;
	Watch w = { .json = json, .tenants = tenants };
	int k, code = 0;

	k = connect_bus(&bus);
	if (k != 0)
		return k;

	/* Subscribe first: nothing that happens after the snapshot is missed. */
	k = sd_bus_match_signal(bus, NULL, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, "OomRisk",
				watch_on_signal, &w);
	if (k >= 0)
		k = sd_bus_match_signal(bus, NULL, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, "Guard",
					watch_on_guard, &w);
	if (k >= 0)
		k = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
					"NameOwnerChanged", watch_on_owner, &w);
	if (k >= 0)
		k = sd_bus_match_signal(bus, NULL, NULL, "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
					"Disconnected", watch_on_disconnect, &w);
	if (k < 0) {
		fprintf(stderr, "memqosd: cannot subscribe to OomRisk: %s\n", strerror(-k));
		return 1;
	}

	/* Named tenants must exist: a typo is an error, not a silent empty stream. */
	for (const char *const *t = tenants; t && *t; t++) {
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *one = NULL;

		k = sd_bus_call_method(bus, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, "GetRisk", &error,
				       &one, "s", *t);
		if (k < 0) {
			if (sd_bus_error_has_name(&error, MEMQOSD_BUS_ERROR_NO_SUCH_TENANT)) {
				fprintf(stderr, "memqosd: %s\n", error.message);
				return 1;
			}
			return report_call_error("GetRisk", &error, k);
		}
	}

	k = sd_bus_call_method(bus, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, "ListRisks", &error,
			       &reply, NULL);
	if (k < 0)
		return report_call_error("ListRisks", &error, k);

	(void) signal(SIGPIPE, SIG_IGN); /* a closed stdout shows as EPIPE: a clean end */
	k = sd_bus_message_enter_container(reply, 'a', MEMQOSD_BUS_RISK_SIGNATURE);
	while (k >= 0 && (k = sd_bus_message_enter_container(reply, 'r', MEMQOSD_BUS_RISK_FIELDS)) > 0) {
		k = watch_print(&w, reply, /* snapshot= */ true);
		if (k == -EPIPE)
			return 0;
		if (k >= 0)
			k = sd_bus_message_exit_container(reply);
	}
	if (k < 0) {
		fprintf(stderr, "memqosd: bad reply from the daemon: %s\n", strerror(-k));
		return 1;
	}

	k = sd_event_new(&event);
	if (k >= 0)
		k = sd_event_add_signal(event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL);
	if (k >= 0)
		k = sd_event_add_signal(event, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL);
	if (k >= 0)
		k = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
	if (k < 0) {
		fprintf(stderr, "memqosd: cannot set up the event loop: %s\n", strerror(-k));
		return 1;
	}
	w.event = event;
	k = sd_event_loop(event);
	if (k < 0) {
		fprintf(stderr, "memqosd: event loop failed: %s\n", strerror(-k));
		return 1;
	}
	code = k;
	return code;
}

/* ---- memqosd top ---- */

typedef struct TopReply {
	SampleRow *rows;
	const char **names;          /* tenant of each row (borrowed from the reply) */
	const char ***frames;        /* frames of each row (arrays owned, strings borrowed) */
	size_t n;
} TopReply;

static void top_reply_clear(TopReply *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->frames[i]);
	free(t->frames);
	free(t->names);
	free(t->rows);
}

static const char *top_row_name(uint32_t id, void *userdata)
{
	TopReply *t = userdata;

	return id < t->n ? t->names[id] : NULL;
}

static int top_read_rows(sd_bus_message *reply, TopReply *t)
{
	size_t alloc = 0;
	int r;

	r = sd_bus_message_enter_container(reply, 'a', MEMQOSD_BUS_SAMPLE_STACK_SIGNATURE);
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(reply, 'r', "sttxtttsas")) > 0) {
		SampleRow *row;
		const char *f;
		size_t nf = 0, af = 0;

		if (t->n == alloc) {
			size_t na = alloc ? 2 * alloc : 16;
			SampleRow *rows = realloc(t->rows, na * sizeof(*rows));
			const char **names = rows ? realloc(t->names, na * sizeof(*names)) : NULL;
			const char ***frames = names ? realloc(t->frames, na * sizeof(*frames)) : NULL;

			if (rows)
				t->rows = rows;
			if (names)
				t->names = names;
			if (!frames)
				return -ENOMEM;
			t->frames = frames;
			alloc = na;
		}
		row = &t->rows[t->n];
		*row = (SampleRow) { .tenant_id = (uint32_t) t->n };
		t->frames[t->n] = NULL;
		r = sd_bus_message_read(reply, "sttxttts", &t->names[t->n], &row->alloc_bytes, &row->freed_bytes,
					&row->growth_bytes, &row->live_bytes, &row->samples, &row->span_usec, &row->comm);
		if (r < 0)
			return r;
		t->n++;
		r = sd_bus_message_enter_container(reply, 'a', "s");
		if (r < 0)
			return r;
		while ((r = sd_bus_message_read(reply, "s", &f)) > 0) {
			if (nf == af) {
				const char **nfr = realloc(t->frames[t->n - 1], (af = af ? 2 * af : 16) * sizeof(*nfr));

				if (!nfr)
					return -ENOMEM;
				t->frames[t->n - 1] = nfr;
			}
			t->frames[t->n - 1][nf++] = f;
		}
		if (r < 0)
			return r;
		row->frames = t->frames[t->n - 1];
		row->n_frames = nf;
		r = sd_bus_message_exit_container(reply);
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(reply);
}

int client_top(const char *tenant, uint64_t window_usec, unsigned n, SampleSort sort, bool json, bool folded)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	TopReply t = {};
	SampleReport rep;
	uint64_t window, sample_bytes, dropped;
	int r;

	r = connect_bus(&bus);
	if (r != 0)
		return r;
	r = sd_bus_call_method(bus, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, "TopAllocations", &error,
			       &reply, "stus", tenant ?: "", window_usec, n, sample_sort_to_string(sort));
	if (r < 0) {
		if (sd_bus_error_has_names(&error, MEMQOSD_BUS_ERROR_NO_SUCH_TENANT, MEMQOSD_BUS_ERROR_SAMPLING_OFF,
					   SD_BUS_ERROR_INVALID_ARGS, SD_BUS_ERROR_ACCESS_DENIED)) {
			fprintf(stderr, "memqosd: top: %s\n", error.message);
			return 1;
		}
		return report_call_error("TopAllocations", &error, r);
	}
	r = sd_bus_message_read(reply, "ttt", &window, &sample_bytes, &dropped);
	if (r >= 0)
		r = top_read_rows(reply, &t);
	if (r < 0) {
		fprintf(stderr, "memqosd: top: bad reply from the daemon: %s\n", strerror(-r));
		top_reply_clear(&t);
		return 1;
	}
	rep = (SampleReport) {
		.tenant = tenant,
		.window_usec = window,
		.sample_bytes = sample_bytes,
		.dropped = dropped,
		.rows = t.rows,
		.n_rows = t.n,
		.tenant_name = top_row_name,
		.userdata = &t,
	};
	if (json)
		sample_print_json(stdout, &rep);
	else if (folded)
		sample_print_folded(stdout, &rep, sort);
	else
		sample_print_table(stdout, &rep, 3);
	top_reply_clear(&t);
	return fflush(stdout) == 0 ? 0 : 1;
}
