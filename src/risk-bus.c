/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The OOM forecast's D-Bus face; see risk-bus.h.
 */

#include "risk-bus.h"

#include "bus.h"
#include "util.h"

struct RiskBus {
	Risk *risk;
	sd_bus *bus;
	sd_bus_slot *slot;
};

static int append_evidence(sd_bus_message *msg, const RiskReport *r)
{
	return sd_bus_message_append(msg, "a{sv}", 15,
				     "growth_bps", "d", r->growth,
				     "psi_some_avg10", "d", r->psi_some,
				     "psi_full_avg10", "d", r->psi_full,
				     "demand_bytes", "t", r->demand,
				     "room_bytes", "t", r->room,
				     "swap_room_bytes", "t", r->swap_room,
				     "limit_kind", "s", r->limit_kind ?: "",
				     "events_max", "t", r->events.max,
				     "events_oom", "t", r->events.oom,
				     "events_oom_kill", "t", r->events.oom_kill,
				     "bpf_charge_failures", "t", r->charge_failures,
				     "repeat", "b", (int) r->repeat,
				     "sampling", "b", (int) r->sampling,
				     "enabled", "b", (int) r->enabled,
				     "active", "b", (int) r->active);
}

static int append_report(sd_bus_message *msg, const RiskReport *r)
{
	int k;

	k = sd_bus_message_append(msg, "sssstttts", r->tenant, r->cgroup, risk_level_to_string(r->level),
				  risk_level_to_string(r->previous), r->time_usec, r->eta_usec, r->usage, r->limit,
				  r->reason);
	if (k < 0)
		return k;
	return append_evidence(msg, r);
}

static int append_tenant(sd_bus_message *reply, Risk *risk, Tenant *t)
{
	char reason[FORECAST_REASON_MAX];
	RiskReport r;
	int k;

	k = risk_get(risk, t, &r, reason, sizeof(reason));
	if (k < 0)
		return k;
	k = sd_bus_message_open_container(reply, 'r', MEMQOSD_BUS_RISK_FIELDS);
	if (k < 0)
		return k;
	k = append_report(reply, &r);
	if (k < 0)
		return k;
	return sd_bus_message_close_container(reply);
}

static int method_get_risk(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	RiskBus *rb = userdata;
	const char *name;
	Tenant *t;
	int k;

	k = sd_bus_message_read(msg, "s", &name);
	if (k < 0)
		return k;
	t = manager_find_tenant(risk_manager(rb->risk), name);
	if (!t)
		return sd_bus_error_setf(error, MEMQOSD_BUS_ERROR_NO_SUCH_TENANT, "No tenant '%s' is configured", name);
	k = sd_bus_message_new_method_return(msg, &reply);
	if (k < 0)
		return k;
	k = append_tenant(reply, rb->risk, t);
	if (k < 0)
		return k;
	return sd_bus_send(NULL, reply, NULL);
}

static int method_list_risks(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	RiskBus *rb = userdata;
	Manager *m = risk_manager(rb->risk);
	int k;

	(void) error;
	k = sd_bus_message_new_method_return(msg, &reply);
	if (k < 0)
		return k;
	k = sd_bus_message_open_container(reply, 'a', MEMQOSD_BUS_RISK_SIGNATURE);
	if (k < 0)
		return k;
	for (size_t i = 0; i < m->n_tenants; i++) {
		k = append_tenant(reply, rb->risk, m->tenants[i]);
		if (k < 0)
			return k;
	}
	k = sd_bus_message_close_container(reply);
	if (k < 0)
		return k;
	return sd_bus_send(NULL, reply, NULL);
}

static const sd_bus_vtable risk_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD_WITH_NAMES("GetRisk", "s", SD_BUS_PARAM(name), MEMQOSD_BUS_RISK_SIGNATURE, SD_BUS_PARAM(risk),
				 method_get_risk, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("ListRisks", NULL, , "a" MEMQOSD_BUS_RISK_SIGNATURE, SD_BUS_PARAM(risks),
				 method_list_risks, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_NAMES("OomRisk", MEMQOSD_BUS_RISK_FIELDS,
				 SD_BUS_PARAM(tenant) SD_BUS_PARAM(cgroup) SD_BUS_PARAM(level) SD_BUS_PARAM(previous)
				 SD_BUS_PARAM(time_usec) SD_BUS_PARAM(eta_usec) SD_BUS_PARAM(usage_bytes)
				 SD_BUS_PARAM(limit_bytes) SD_BUS_PARAM(reason) SD_BUS_PARAM(evidence), 0),
	SD_BUS_VTABLE_END,
};

static void on_report(const RiskReport *r, void *userdata)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
	RiskBus *rb = userdata;
	Manager *m = risk_manager(rb->risk);
	int k;

	k = sd_bus_message_new_signal(rb->bus, &msg, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, "OomRisk");
	if (k >= 0)
		k = append_report(msg, r);
	if (k >= 0)
		k = sd_bus_send(rb->bus, msg, NULL);
	if (k < 0)
		log_warning_errno(&m->log, k, "Cannot send the OomRisk signal for tenant %s: %m", r->tenant);
}

int risk_bus_register(Risk *r, sd_bus *bus, RiskBus **ret)
{
	_cleanup_(risk_bus_freep) RiskBus *rb = NULL;
	Manager *m = risk_manager(r);
	int k;

	*ret = NULL;
	if (!bus)
		return 0;
	rb = calloc(1, sizeof(*rb));
	if (!rb)
		return -ENOMEM;
	*rb = (RiskBus) { .risk = r, .bus = sd_bus_ref(bus) };
	k = sd_bus_add_object_vtable(bus, &rb->slot, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, risk_vtable, rb);
	if (k < 0)
		return log_warning_errno(&m->log, k, "Cannot register the OOM forecast's D-Bus methods: %m");
	k = risk_add_listener(r, on_report, rb);
	if (k < 0)
		return log_warning_errno(&m->log, k, "Cannot listen to the OOM forecast: %m");
	*ret = TAKE_PTR(rb);
	return 0;
}

RiskBus *risk_bus_free(RiskBus *rb)
{
	if (!rb)
		return NULL;
	sd_bus_slot_unref(rb->slot);
	sd_bus_unref(rb->bus);
	free(rb);
	return NULL;
}
