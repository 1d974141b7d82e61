/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "bus.h"

#include <inttypes.h>
#include <math.h>

#include "util.h"

/*
 * From the manager's cached state, nothing that could release a tenant. memory.high is what memqosd
 * last wrote or read; memory.current and pressure are the last values read, read again here when
 * older than HousekeepingSec= (the tick does not read them: issue 12). Any local user may call
 * ListTenants/GetTenant as often as they like: at most two file reads per tenant per
 * HousekeepingSec=, else only building the reply.
 */
static int append_tenant(sd_bus_message *reply, Manager *m, Tenant *t)
{
	const TenantConfig *c = t->config;
	bool active = t->state == TENANT_ACTIVE;

	if (active && m->config)
		manager_tenant_observe(t, m->config->daemon.control.housekeeping_usec);
	return sd_bus_message_append(reply, MEMQOSD_BUS_TENANT_SIGNATURE, c->name, c->cgroup, c->priority,
				     active ? t->high : UINT64_MAX, c->memory_high_min, c->memory_high_max,
				     active ? t->current : UINT64_MAX,
				     active && t->has_pressure ? t->pressure_avg10 / 100.0 : -1.0,
				     policy_kind_to_string(c->policy), tenant_state_describe(t));
}

static int method_list_tenants(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	Manager *m = userdata;
	int r;

	(void) error;
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', MEMQOSD_BUS_TENANT_SIGNATURE);
	if (r < 0)
		return r;
	for (size_t i = 0; i < m->n_tenants; i++) {
		r = append_tenant(reply, m, m->tenants[i]);
		if (r < 0)
			return r;
	}
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int method_get_tenant(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	Manager *m = userdata;
	const char *name;
	Tenant *t;
	int r;

	r = sd_bus_message_read(msg, "s", &name);
	if (r < 0)
		return r;
	t = manager_find_tenant(m, name);
	if (!t)
		return sd_bus_error_setf(error, MEMQOSD_BUS_ERROR_NO_SUCH_TENANT, "No tenant '%s' is configured", name);

	r = sd_bus_message_new_method_return(msg, &reply);
	if (r < 0)
		return r;
	r = append_tenant(reply, m, t);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

/* Methods that change anything: the caller's effective uid must be 0. */
static int check_root(sd_bus_message *msg, sd_bus_error *error)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	uid_t euid;
	int r;

	r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID, &creds);
	if (r < 0)
		return r;
	r = sd_bus_creds_get_euid(creds, &euid);
	if (r < 0)
		return r;
	if (euid != 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
					 "Only root may reload memqosd (caller's uid is %u)", (unsigned) euid);
	return 0;
}

static void reply_when_settled(Manager *m, bool timed_out, void *userdata)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = userdata;

	(void) timed_out;
	if (m)
		(void) sd_bus_reply_method_return(msg, NULL);
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	ConfigErrors errors = {};
	_cleanup_free_ char *text = NULL;
	int r;

	r = check_root(msg, error);
	if (r < 0 || sd_bus_error_is_set(error))
		return r < 0 ? r : -EPERM;

	r = manager_reload(m, &errors);
	if (r >= 0) {
		config_errors_clear(&errors);
		/* Reply once the reload's writes are done (bounded): then status shows them written. */
		r = manager_when_settled(m, reply_when_settled, sd_bus_message_ref(msg));
		if (r < 0) {
			sd_bus_message_unref(msg);
			return sd_bus_reply_method_return(msg, NULL);
		}
		return 1;
	}

	/* At most CONFIG_ERRORS_MAX lines plus a count of the rest, joined in one pass. */
	text = config_errors_join(&errors, "\n");
	config_errors_clear(&errors);
	if (!text || !*text)
		return sd_bus_error_setf(error, MEMQOSD_BUS_ERROR_RELOAD_REFUSED, "Reload failed: %s", strerror(-r));
	return sd_bus_error_set(error, MEMQOSD_BUS_ERROR_RELOAD_REFUSED, text);
}

static int property_get_mode(sd_bus *bus, const char *path, const char *interface, const char *property,
			     sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;

	(void) bus, (void) path, (void) interface, (void) property, (void) error;
	return sd_bus_message_append(reply, "s", m->mode);
}

static int property_get_counts(sd_bus *bus, const char *path, const char *interface, const char *property,
			       sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;

	(void) bus, (void) path, (void) interface, (void) error;
	if (streq(property, "TenantCount"))
		return sd_bus_message_append(reply, "u", (uint32_t) m->n_tenants);
	return sd_bus_message_append(reply, "u", (uint32_t) manager_count_waiting(m));
}

static int property_get_dry_run(sd_bus *bus, const char *path, const char *interface, const char *property,
				sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;

	(void) bus, (void) path, (void) interface, (void) property, (void) error;
	return sd_bus_message_append(reply, "b", (int) m->dry_run);
}

static int property_get_reloads(sd_bus *bus, const char *path, const char *interface, const char *property,
				sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;

	(void) bus, (void) path, (void) interface, (void) property, (void) error;
	return sd_bus_message_append(reply, "t", m->n_reloads);
}

static const sd_bus_vtable manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Mode", "s", property_get_mode, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("TenantCount", "u", property_get_counts, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("WaitingCount", "u", property_get_counts, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("DryRun", "b", property_get_dry_run, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Reloads", "t", property_get_reloads, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_METHOD("Reload", NULL, NULL, method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("ListTenants", NULL, , "a" MEMQOSD_BUS_TENANT_SIGNATURE, SD_BUS_PARAM(tenants),
				 method_list_tenants, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("GetTenant", "s", SD_BUS_PARAM(name), MEMQOSD_BUS_TENANT_SIGNATURE,
				 SD_BUS_PARAM(tenant), method_get_tenant, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END,
};

struct Bus {
	Manager *m;
	sd_bus *bus;
};

static int bus_connect(Bus *b)
{
	Manager *m = b->m;
	int r;

	r = sd_bus_open_system(&b->bus);
	if (r < 0)
		return log_warning_errno(&m->log, r, "Cannot connect to the system bus, continuing without the D-Bus API: %m");

	r = sd_bus_add_object_vtable(b->bus, NULL, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, manager_vtable, m);
	if (r < 0)
		return log_warning_errno(&m->log, r, "Cannot register the D-Bus object, continuing without the D-Bus API: %m");

	r = sd_bus_request_name(b->bus, MEMQOSD_BUS_NAME, 0);
	if (r < 0)
		return log_warning_errno(&m->log, r, "Cannot acquire bus name %s (another memqosd running?), continuing without the D-Bus API: %m",
					 MEMQOSD_BUS_NAME);

	r = sd_bus_attach_event(b->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0)
		return log_warning_errno(&m->log, r, "Cannot attach the bus to the event loop, continuing without the D-Bus API: %m");
	return 0;
}

static void bus_on_started(Manager *m, void *userdata)
{
	Bus *b = userdata;

	(void) m;
	if (bus_connect(b) < 0)
		b->bus = sd_bus_flush_close_unref(b->bus); /* logged; SIGHUP still reloads */
}

static void bus_on_status_changed(Manager *m, void *userdata)
{
	Bus *b = userdata;
	int r;

	if (!b->bus)
		return;
	r = sd_bus_emit_properties_changed(b->bus, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, "Mode", "TenantCount",
					   "WaitingCount", "DryRun", "Reloads", NULL);
	if (r < 0)
		log_debug_errno(&m->log, r, "Cannot emit PropertiesChanged, ignoring: %m");
}

int bus_install(Manager *m, Bus **ret)
{
	_cleanup_free_ Bus *b = NULL;
	int r;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->m = m;
	r = manager_add_hooks(m, &(ManagerHooks) {
		.started = bus_on_started,
		.status_changed = bus_on_status_changed,
		.userdata = b,
	});
	if (r < 0)
		return log_error_errno(&m->log, r, "Cannot register the D-Bus API's hooks: %m");
	*ret = TAKE_PTR(b);
	return 0;
}

sd_bus *bus_get(const Bus *b)
{
	return b ? b->bus : NULL;
}

Bus *bus_free(Bus *b)
{
	if (!b)
		return NULL;
	manager_remove_hooks(b->m, b);
	sd_bus_flush_close_unref(b->bus);
	free(b);
	return NULL;
}
