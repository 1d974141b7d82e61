/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared directory watches; see dir-watch.h.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dir-watch.h"
#include "util.h"

/* Buckets of the two tables (directories by inode, watches by directory and name): fixed, enough for
 * tens of thousands of tenants at a few entries per chain. */
#define DIR_WATCH_BUCKETS 8192

#define DIR_WATCH_MASK \
	(IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

typedef struct Dir Dir;

struct DirWatch {
	Dir *dir;
	char *name;                  /* NULL: every entry */
	dir_watch_handler_t handler;
	void *userdata;
	DirWatch *hash_next, *hash_prev; /* named: the bucket of (dir, name) */
	DirWatch *any_next, *any_prev;   /* unnamed: the directory's list */
	DirWatch *all_next, *all_prev;   /* every watch of the directory */
};

struct Dir {
	DirWatches *w;
	dev_t dev;
	ino_t ino;
	sd_event_source *source;
	Dir *hash_next, *hash_prev;
	DirWatch *any;
	DirWatch *all;
	size_t n_all;
};

struct DirWatches {
	sd_event *event;
	Dir *dirs[DIR_WATCH_BUCKETS];
	DirWatch *names[DIR_WATCH_BUCKETS];
};

#define LINK(head, x, field)                              \
	do {                                              \
		(x)->field##_prev = NULL;                 \
		(x)->field##_next = (head);               \
		if (head)                                 \
			(head)->field##_prev = (x);       \
		(head) = (x);                             \
	} while (0)
#define UNLINK(head, x, field)                                    \
	do {                                                      \
		if ((x)->field##_prev)                            \
			(x)->field##_prev->field##_next = (x)->field##_next; \
		else                                              \
			(head) = (x)->field##_next;               \
		if ((x)->field##_next)                            \
			(x)->field##_next->field##_prev = (x)->field##_prev; \
	} while (0)

static size_t hash_dir(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t) ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t) dev;

	return (size_t) (h >> 32 ^ h) % DIR_WATCH_BUCKETS;
}

static size_t hash_name(const Dir *d, const char *name)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t) (uintptr_t) d;

	for (const unsigned char *p = (const unsigned char *) name; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return (size_t) (h >> 32 ^ h) % DIR_WATCH_BUCKETS;
}

int dir_watches_new(sd_event *event, DirWatches **ret)
{
	DirWatches *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->event = event;
	*ret = w;
	return 0;
}

DirWatches *dir_watches_free(DirWatches *w)
{
	free(w);
	return NULL;
}

static int on_dir_event(sd_event_source *s, const struct inotify_event *ev, void *userdata)
{
	Dir *d = userdata;
	size_t n = 0;
	struct { dir_watch_handler_t handler; void *userdata; } *calls;

	(void) s;
	/* Collected first: a handler may remove any watch, and the directory with its last one. */
	if (ev->len == 0) {
		calls = calloc(d->n_all ? d->n_all : 1, sizeof(*calls));
		if (!calls)
			return 0;
		for (DirWatch *x = d->all; x; x = x->all_next)
			calls[n++] = (typeof(*calls)) { x->handler, x->userdata };
	} else {
		size_t k = 0;

		for (DirWatch *x = d->w->names[hash_name(d, ev->name)]; x; x = x->hash_next)
			k += x->dir == d && streq(x->name, ev->name);
		for (DirWatch *x = d->any; x; x = x->any_next)
			k++;
		calls = calloc(k ? k : 1, sizeof(*calls));
		if (!calls)
			return 0;
		for (DirWatch *x = d->w->names[hash_name(d, ev->name)]; x; x = x->hash_next)
			if (x->dir == d && streq(x->name, ev->name))
				calls[n++] = (typeof(*calls)) { x->handler, x->userdata };
		for (DirWatch *x = d->any; x; x = x->any_next)
			calls[n++] = (typeof(*calls)) { x->handler, x->userdata };
	}
	for (size_t i = 0; i < n; i++)
		calls[i].handler(ev, calls[i].userdata);
	free(calls);
	return 0;
}

static int dir_get(DirWatches *w, int dir_fd, Dir **ret)
{
	struct stat st;
	size_t b;
	Dir *d;
	int r;

	if (fstat(dir_fd, &st) < 0)
		return -errno;
	b = hash_dir(st.st_dev, st.st_ino);
	for (d = w->dirs[b]; d; d = d->hash_next)
		if (d->dev == st.st_dev && d->ino == st.st_ino) {
			*ret = d;
			return 0;
		}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->w = w;
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	r = sd_event_add_inotify_fd(w->event, &d->source, dir_fd, DIR_WATCH_MASK, on_dir_event, d);
	if (r < 0) {
		free(d);
		return r;
	}
	(void) sd_event_source_set_description(d->source, "dir-watch");
	LINK(w->dirs[b], d, hash);
	*ret = d;
	return 0;
}

static void dir_put(Dir *d)
{
	if (d->n_all > 0)
		return;
	UNLINK(d->w->dirs[hash_dir(d->dev, d->ino)], d, hash);
	sd_event_source_disable_unref(d->source);
	free(d);
}

int dir_watch_add(DirWatches *w, int dir_fd, const char *name, dir_watch_handler_t handler, void *userdata,
		  DirWatch **ret)
{
	DirWatch *x;
	Dir *d = NULL;
	int r;

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	if (name) {
		x->name = strdup(name);
		if (!x->name) {
			free(x);
			return -ENOMEM;
		}
	}
	r = dir_get(w, dir_fd, &d);
	if (r < 0) {
		free(x->name);
		free(x);
		return r;
	}
	x->dir = d;
	x->handler = handler;
	x->userdata = userdata;
	if (name)
		LINK(w->names[hash_name(d, name)], x, hash);
	else
		LINK(d->any, x, any);
	LINK(d->all, x, all);
	d->n_all++;
	*ret = x;
	return 0;
}

DirWatch *dir_watch_remove(DirWatch *x)
{
	Dir *d;

	if (!x)
		return NULL;
	d = x->dir;
	if (x->name)
		UNLINK(d->w->names[hash_name(d, x->name)], x, hash);
	else
		UNLINK(d->any, x, any);
	UNLINK(d->all, x, all);
	d->n_all--;
	dir_put(d);
	free(x->name);
	free(x);
	return NULL;
}
