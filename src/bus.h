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

/*
 * The API is a module on the manager's hook table: it connects when the manager has started (its
 * `started` hook, before READY=1), emits PropertiesChanged on `status_changed`, and is closed by
 * bus_free(). Without a system bus the daemon runs on and says so; bus_get() is NULL then.
 */
typedef struct Bus Bus;

int bus_install(Manager *m, Bus **ret);
/* The connection other modules add their methods and signals to; NULL when not connected. */
sd_bus *bus_get(const Bus *b);
Bus *bus_free(Bus *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(Bus *, bus_free);
