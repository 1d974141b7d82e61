/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Client verbs: talk to a running memqosd over its D-Bus API (bus.h). Each returns a process exit
 * status: 0 success, 1 refused/failed, 3 no daemon running (or no bus).
 */

#define CLIENT_EXIT_NOT_RUNNING 3

/* memqosd reload: calls Reload(), which returns when the reload finished; prints the errors. */
int client_reload(void);

/* memqosd status [TENANT]: a table of the tenants (or one). */
int client_status(const char *tenant);
