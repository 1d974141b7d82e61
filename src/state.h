/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Originals of the cgroups memqosd manages, kept on disk so that they survive an unclean exit
 * (SIGKILL, OOM kill, watchdog). Without them a restarted memqosd would take its own leftover
 * (a squeezed memory.high) for the operator's value and "restore" that on stop.
 *
 * The state directory is --state-dir, else the first entry of $RUNTIME_DIRECTORY (systemd's
 * RuntimeDirectory=memqosd), else /run/memqosd. One file per cgroup, named by its cgroup id in
 * decimal:
 *
 *   [Cgroup]
 *   Root=/sys/fs/cgroup        cgroup root memqosd used
 *   Path=tenants/web           below that root
 *   MemoryHigh=max             memory.high before memqosd changed anything
 *   MemoryLow=0                memory.low likewise (absent: memory.low was not readable)
 *   Frozen=yes                 optional: a paused round of reclaim (cgroup.freeze) may be running;
 *                              the only value is "yes", absent means no
 *
 * Every line ends with '\n'; '#' lines are comments. Root= and Path= are written with every byte
 * outside '!'..'~', and '%' itself, as %XX (uppercase hex), so any path round-trips exactly,
 * including spaces at either end, '=', ';', '#' and newlines. Numbers are "max" or plain decimal.
 * The reader is strict: anything else (unknown or repeated keys, a missing key, a bad escape, a
 * torn last line, more than STATE_RECORD_SIZE_MAX bytes) makes the record corrupt.
 * A record whose paths have no such bytes reads the same as in the earlier (inih) format.
 *
 * Frozen=yes is set (record rewritten) before a paused write is handed to the writer and cleared
 * when it completes, so that a memqosd killed inside the round leaves a mark the next start finds:
 * it thaws the cgroup (cgroup.freeze 0) and clears the mark (manager.c).
 *
 * The state directory must be owned by root or the daemon's euid and not writable by group or
 * others: a record names a cgroup and the value memqosd writes back into it, so whoever can plant
 * one could make memqosd write memory.high of any cgroup. state_dir_open() refuses others (-EPERM).
 *
 * Records are written atomically: a temporary file in the same directory, fsync, renameat() over
 * the record, fsync of the directory. Functions return 0 or a negative errno and log nothing.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEMQOSD_DEFAULT_STATE_DIR "/run/memqosd"

typedef struct StateRecord {
	uint64_t id;     /* cgroup id (inode of the cgroup directory) = file name */
	char *root;
	char *cgroup;
	uint64_t high;
	uint64_t low;
	bool has_low;
	bool frozen;     /* Frozen=yes: a paused round may have left the cgroup frozen */
} StateRecord;

void state_record_done(StateRecord *r);

/* The directory to use: arg if given, else $RUNTIME_DIRECTORY's first entry, else the default. */
int state_dir_path(const char *arg, char **ret);

/*
 * Open the directory (created 0700 if missing, parent must exist) as an O_DIRECTORY fd. -EPERM if
 * it is owned by someone other than root or the euid, or writable by group or others.
 */
int state_dir_open(const char *path, int *ret_fd);

/* A record is at most this long (PATH_MAX-long paths, each byte escaped, fit). */
#define STATE_RECORD_SIZE_MAX 32768

/* The text of a record (pure). -EINVAL: root not absolute or path empty; -E2BIG: too long. */
int state_record_format(const StateRecord *r, char **ret, size_t *ret_len);
/* Parse the text of a record (pure): 0, -EBADMSG (not a valid record) or -ENOMEM. */
int state_record_parse(const char *buf, size_t size, uint64_t id, StateRecord *ret);

/*
 * Replace dir_fd/name by len bytes of text atomically (a temporary file that state_list() sweeps,
 * fsync, renameat(), fsync of the directory). Shared by the records below and other modules'
 * records in the state directory (the storm guard's).
 */
int state_file_write(int dir_fd, const char *name, const char *text, size_t len);

/* Write r (r->id names the file) atomically. */
int state_record_write(int dir_fd, const StateRecord *r);

/*
 * Read the record for id. -ENOENT: none. -EBADMSG: it exists but is not a valid record (syntax,
 * unknown or missing keys, bad numbers, id not matching the name).
 */
int state_record_read(int dir_fd, uint64_t id, StateRecord *ret);

/* Remove the record for id; a missing one is not an error. */
int state_record_remove(int dir_fd, uint64_t id);

/*
 * The ids of the records in the directory (file names that are cgroup ids; anything else is
 * skipped). Temporary files a crash left behind are removed. *ret_ids: caller frees.
 */
int state_list(int dir_fd, uint64_t **ret_ids, size_t *ret_n);

/* Is r's cgroup still there: Root/Path a directory with inode r->id? 1 yes, 0 no, <0 cannot tell. */
int state_record_cgroup_exists(const StateRecord *r);
