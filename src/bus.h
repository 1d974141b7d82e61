/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * D-Bus API on the system bus ($DBUS_SYSTEM_BUS_ADDRESS honoured by sd-bus): name org.memqosd1,
 * object /org/memqosd1, interface org.memqosd1.Manager.
 *
 *   Reload()                      root only; fails with org.memqosd1.ReloadRefused carrying every
 *                                 configuration error, one per line
 *   ListTenants() -> a(ssittttdss)
 *   GetTenant(s name) -> (ssittttdss)   org.memqosd1.NoSuchTenant if unknown
 *       name, cgroup, priority, memory.high now, MemoryHighMin, MemoryHighMax, memory.current,
 *       pressure (memory.pressure some avg10 in percent, -1 unknown), policy, state ("active",
 *       "waiting", or "no-policy": active without the BPF policy its profile asks for)
 *       (memory.high/current are UINT64_MAX for "max" and for a waiting tenant)
 *       Template instances are tenants like the others, named TEMPLATE@SUFFIX (src/template.h).
 *   properties: Mode s, TenantCount u, WaitingCount u, DryRun b, Reloads t (all emit
 *   PropertiesChanged when they change: start, reload, tenant state changes, mode changes)
 */

#include "manager.h"

#define MEMQOSD_BUS_NAME "org.memqosd1"
#define MEMQOSD_BUS_PATH "/org/memqosd1"
#define MEMQOSD_BUS_INTERFACE "org.memqosd1.Manager"
#define MEMQOSD_BUS_ERROR_RELOAD_REFUSED "org.memqosd1.ReloadRefused"
#define MEMQOSD_BUS_ERROR_NO_SUCH_TENANT "org.memqosd1.NoSuchTenant"
#define MEMQOSD_BUS_TENANT_SIGNATURE "(ssittttdss)"

int manager_connect_bus(Manager *m);
void manager_disconnect_bus(Manager *m);
/* PropertiesChanged for the manager's properties; no-op without a bus. */
void manager_bus_emit_changed(Manager *m);
