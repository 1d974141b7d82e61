/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * systemd's file-descriptor store (sd_notify(3) FDSTORE=1, FDNAME=, FDSTOREREMOVE=1; the unit's
 * FileDescriptorStoreMax=): objects handed to it survive memqosd's exit as long as the service is
 * being restarted (a restart job is queued, or Restart= applies), and come back on the next start
 * (sd_listen_fds_with_names(3)). When the unit stops for good, systemd closes them.
 *
 * The FdStore owns the fds received at start until someone takes them by name; what nobody took
 * is closed when it is freed (systemd keeps its own copies until told to remove them). Names are
 * the caller's (src/handover.h). Each object travels wrapped in a socket (see fdstore.c: systemd
 * could not tell BPF objects apart on kernels without kcmp()). Functions return 0 or a negative
 * errno.
 */

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "util.h"

typedef struct FdStore FdStore;

/*
 * Names of the store's own entries begin with this (src/handover.h); any other fd systemd passes
 * (a socket unit's, e.g. "metrics") is kept unwrapped for the module that takes it by name.
 */
#define FDSTORE_OWN_PREFIX "memqosd."

/* Take the fds systemd passed ($LISTEN_FDS/$LISTEN_FDNAMES; unset afterwards). Logs once whether
 * there is a store at all. */
int fdstore_new(const Logger *log, FdStore **ret);
FdStore *fdstore_free(FdStore *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(FdStore *, fdstore_free);

/* Started by systemd as a service ($NOTIFY_SOCKET and $INVOCATION_ID set): pushes go somewhere. */
bool fdstore_enabled(const FdStore *s);

/* The names received and not yet taken: index 0..fdstore_count()-1; NULL for one taken. */
size_t fdstore_count(const FdStore *s);
const char *fdstore_name(const FdStore *s, size_t i);
/* Move the received fd called name to the caller: the fd, or -ENOENT. Several modules take from
 * one FdStore: systemd's fds can be received only once per process. */
int fdstore_take(FdStore *s, const char *name);

/* Hand (a duplicate of) fd to systemd under name. -EOPNOTSUPP without a store. */
int fdstore_put(FdStore *s, const char *name, int fd);
/* Have systemd close every fd it keeps under name. */
int fdstore_remove(FdStore *s, const char *name);

/*
 * Asked on SIGTERM: is systemd stopping memqosd to start it again (a restart job for the unit, and
 * the unit has a file-descriptor store)? 1 yes, 0 no (a stop, shutdown, no store, no systemd),
 * <0 could not tell (the caller treats it as a stop). Asks org.freedesktop.systemd1 on a system bus
 * connection of its own.
 */
int fdstore_stop_is_restart(const FdStore *s);
