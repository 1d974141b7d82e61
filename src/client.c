/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "client.h"

#include <inttypes.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "bus.h"
#include "cgroup.h"
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

static void print_row(const Row *r)
{
	char h[32], lo[32], hi[32], cur[32], range[128], p[16];
	/* A no-policy tenant is active too (values are live), only without its BPF policy. */
	bool active = streq(r->state, "active") || streq(r->state, TENANT_STATE_NO_POLICY);

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

int client_status(const char *tenant)
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
		r = read_row(reply, &row);
		if (r < 0) {
			fprintf(stderr, "memqosd: bad reply from the daemon: %s\n", strerror(-r));
			return 1;
		}
		print_header();
		print_row(&row);
		return 0;
	}

	r = sd_bus_call_method(bus, MEMQOSD_BUS_NAME, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, "ListTenants", &error,
			       &reply, NULL);
	if (r < 0)
		return report_call_error("ListTenants", &error, r);

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
	printf("memqosd: mode %s, %" PRIu32 " tenants (%" PRIu32 " waiting)%s\n\n", mode, count, waiting,
	       dry_run ? ", dry-run (no writes)" : "");

	r = sd_bus_message_enter_container(reply, 'a', MEMQOSD_BUS_TENANT_SIGNATURE);
	if (r < 0) {
		fprintf(stderr, "memqosd: bad reply from the daemon: %s\n", strerror(-r));
		return 1;
	}
	print_header();
	while ((r = read_row(reply, &row)) > 0)
		print_row(&row);
	if (r < 0) {
		fprintf(stderr, "memqosd: bad reply from the daemon: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
