/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Shared inotify watches on directories, dispatched by entry name.
 *
 * sd-event merges every inotify source on one inode into one watch, but recomputes the watch's mask
 * over all of them when one is added or removed, and calls all of them on every event: with
 * thousands of tenants in one parent directory, start-up and stop were quadratic, and each entry
 * created or removed there woke every tenant. Here one sd-event source watches a directory for
 * everyone: an event about an entry reaches the watches for that name (and those for any name) in
 * O(1), an event about the directory itself reaches all of its watches.
 *
 * Watched: entries created, moved in or out, removed; the directory removed or moved (IN_ONLYDIR).
 * A handler may add and remove watches, its own included.
 */

#include <sys/inotify.h>
#include <systemd/sd-event.h>

typedef struct DirWatches DirWatches;
typedef struct DirWatch DirWatch;
typedef void (*dir_watch_handler_t)(const struct inotify_event *ev, void *userdata);

int dir_watches_new(sd_event *event, DirWatches **ret);
/* Every watch must have been removed. NULL-safe; returns NULL. */
DirWatches *dir_watches_free(DirWatches *w);

/* Watch the directory dir_fd refers to for the entry name (NULL: for every entry). */
int dir_watch_add(DirWatches *w, int dir_fd, const char *name, dir_watch_handler_t handler, void *userdata,
		  DirWatch **ret);
/* NULL-safe; returns NULL. */
DirWatch *dir_watch_remove(DirWatch *x);
