/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The OOM forecast's D-Bus face, on the manager's object (bus.h): /org/memqosd1,
 * org.memqosd1.Manager. A leaf: it reads through risk_get() and emits from a risk listener.
 *
 *   signal OomRisk(s tenant, s cgroup, s level, s previous, t time_usec, t eta_usec, t usage_bytes,
 *                  t limit_bytes, s reason, a{sv} evidence)
 *       on every level change of a tenant, and every RepeatSec= while critical (evidence "repeat"
 *       true). time_usec: CLOCK_REALTIME of the change; eta_usec: UINT64_MAX when no OOM is
 *       forecast. evidence: growth_bps d, psi_some_avg10 d, psi_full_avg10 d (-1 unknown),
 *       demand_bytes t, room_bytes t, swap_room_bytes t, limit_kind s, events_max t, events_oom t,
 *       events_oom_kill t, bpf_charge_failures t (in the last sampling period), repeat b, sampling b, enabled b, active b.
 *   GetRisk(s name) -> (ssssttttsa{sv})     one tenant's current state, same fields;
 *                                           org.memqosd1.NoSuchTenant if unknown
 *   ListRisks() -> a(ssssttttsa{sv})        every tenant's
 * Both methods are unprivileged: they reveal what the tenant's cgroup files show.
 */

#include <systemd/sd-bus.h>

#include "risk.h"

#define MEMQOSD_BUS_RISK_FIELDS "ssssttttsa{sv}"
#define MEMQOSD_BUS_RISK_SIGNATURE "(" MEMQOSD_BUS_RISK_FIELDS ")"

typedef struct RiskBus RiskBus;

/*
 * Register the methods and the signal on bus (NULL: nothing, the daemon runs without D-Bus). The
 * RiskBus must outlive the bus connection: free it after the Manager (declare it before).
 */
int risk_bus_register(Risk *r, sd_bus *bus, RiskBus **ret);
RiskBus *risk_bus_free(RiskBus *rb);
DEFINE_TRIVIAL_CLEANUP_FUNC(RiskBus *, risk_bus_free);
