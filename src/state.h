/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Originals of the cgroups memqosd manages, kept on disk so that they survive an unclean exit
 * (SIGKILL, OOM kill, watchdog). Without them a restarted memqosd would take its own leftover
 * (a squeezed memory.high) for the operator's value and "restore" that on stop.
 *
 * The state directory is --state-dir, else the first entry of $RUNTIME_DIRECTORY (systemd's
 * RuntimeDirectory=memqosd), else /run/memqosd. Two kinds of record, one format and one reader:
 *
 *   ID          (STATE_RECORD_ORIGINALS, manager.c) the values memqosd found before it changed any
 *   guard-ID    (STATE_RECORD_GUARD, guard.c) what the storm guard changed and must undo
 *
 * named by the cgroup id in decimal:
 *
 *   [Cgroup]
 *   Root=/sys/fs/cgroup        cgroup root memqosd used
 *   Path=tenants/web           below that root
 *   MemoryHigh=max             originals only, required: memory.high before memqosd changed anything
 *   MemoryLow=0                originals only, optional: memory.low likewise (absent: not readable)
 *   Frozen=yes                 optional, either kind: memqosd may have left the cgroup frozen (a paused
 *                              round of reclaim; the guard's freeze); the only value is "yes"
 *   PidsMax=max                guard only, optional: pids.max before the guard lowered it
 *   CpuMax=max                 guard only, optional: the quota of cpu.max (its first field) before the
 *                              guard lowered it (the period is never changed)
 *   StoppedUids=1001 1002      guard only, optional: uids whose processes the guard SIGSTOPped (decimal,
 *                              one space apart, no repeats, at most STATE_UIDS_MAX)
 *
 * Every line ends with '\n'; '#' lines are comments. Root= and Path= are written with every byte
 * outside '!'..'~', and '%' itself, as %XX (uppercase hex), so any path round-trips exactly,
 * including spaces at either end, '=', ';', '#' and newlines. Numbers are "max" or plain decimal.
 * The reader is strict: anything else (unknown, repeated or other-kind keys, a missing key, a bad
 * escape, a torn last line, more than STATE_RECORD_SIZE_MAX bytes) makes the record corrupt.
 * A record whose paths have no such bytes reads the same as in the earlier (inih) format.
 *
 * The previous release wrote guard-ID as "[Guard]\n[PidsMax=N|max\n]Frozen=0|1\nStoppedUids=LIST\n"
 * (no Root=/Path=). The reader still takes exactly that (StateRecord.legacy, root and cgroup NULL),
 * so that an upgrade undoes what the old daemon left: such a record can only be undone when its
 * cgroup id is a tenant's again (nothing in it says where the cgroup is).
 *
 * Frozen=yes is set (record rewritten) before a paused write or the guard's freeze is handed to the
 * writer and cleared when it is undone, so that a memqosd killed in between leaves a mark the next
 * start finds: state_record_undo() (below) puts back everything a record says was changed.
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

typedef enum StateRecordKind {
	STATE_RECORD_ORIGINALS,  /* "ID" */
	STATE_RECORD_GUARD,      /* "guard-ID" */
	_STATE_RECORD_KIND_MAX,
} StateRecordKind;

#define STATE_UIDS_MAX 64

typedef struct StateRecord {
	StateRecordKind kind;
	uint64_t id;     /* cgroup id (inode of the cgroup directory) = file name */
	char *root;      /* NULL only in a legacy guard record */
	char *cgroup;
	uint64_t high;   /* originals */
	uint64_t low;
	bool has_low;
	bool frozen;     /* Frozen=yes: memqosd may have left the cgroup frozen */
	bool has_pids_max; /* guard: PidsMax= */
	uint64_t pids_max;
	bool has_cpu_max;  /* guard: CpuMax= (the quota; UINT64_MAX = max) */
	uint64_t cpu_max;
	uint32_t stopped_uids[STATE_UIDS_MAX]; /* guard: StoppedUids= */
	size_t n_stopped_uids;
	bool legacy;     /* a guard record in the previous release's format */
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

/*
 * The text of a record of r->kind (pure). -EINVAL: root not absolute, path empty, a key of the other
 * kind set, a legacy record, a uid list too long or repeating a uid; -E2BIG: too long.
 */
int state_record_format(const StateRecord *r, char **ret, size_t *ret_len);
/* Parse the text of a record of this kind (pure): 0, -EBADMSG (not a valid record) or -ENOMEM. */
int state_record_parse(const char *buf, size_t size, StateRecordKind kind, uint64_t id, StateRecord *ret);

/*
 * Replace dir_fd/name by len bytes of text atomically (a temporary file that state_list() sweeps,
 * fsync, renameat(), fsync of the directory). Shared by the records below and other modules'
 * records in the state directory (the storm guard's).
 */
int state_file_write(int dir_fd, const char *name, const char *text, size_t len);

/* Write r (r->kind and r->id name the file) atomically. */
int state_record_write(int dir_fd, const StateRecord *r);

/*
 * Read the record of this kind for id. -ENOENT: none. -EBADMSG: it exists but is not a valid
 * record (syntax, unknown or missing keys, bad numbers, not a regular file).
 */
int state_record_read(int dir_fd, StateRecordKind kind, uint64_t id, StateRecord *ret);

/* Remove the record of this kind for id; a missing one is not an error. */
int state_record_remove(int dir_fd, StateRecordKind kind, uint64_t id);

/*
 * The ids of the records of this kind in the directory (file names of that kind; anything else is
 * skipped). Temporary files a crash left behind are removed. *ret_ids: caller frees.
 */
int state_list(int dir_fd, StateRecordKind kind, uint64_t **ret_ids, size_t *ret_n);

/* Is r's cgroup still there: Root/Path a directory with inode r->id? 1 yes, 0 no, <0 cannot tell. */
int state_record_cgroup_exists(const StateRecord *r);

/*
 * The steps of undoing what a record says memqosd left changed, in the one order every undo takes:
 * live through the writer (guard.c) or after an unclean exit (state_record_undo()). Stopped uids
 * continue first, then cpu.max and pids.max go back, and the thaw comes last, so that nothing runs
 * into a limit that is about to be lifted.
 */
typedef enum StateUndoStep {
	STATE_UNDO_CONTINUE_UIDS,
	STATE_UNDO_CPU_MAX,
	STATE_UNDO_PIDS_MAX,
	STATE_UNDO_THAW,
	_STATE_UNDO_STEP_MAX,
} StateUndoStep;

/*
 * What state_record_undo() did, one field per step: 1 done, 0 nothing to do, <0 failed (-errno).
 * A cgroup (or file) that is gone counts as done: nothing is left in place there.
 */
typedef struct StateUndo {
	int uids;        /* SIGCONT to the processes of every stopped uid (below the cgroup too) */
	unsigned continued; /* processes continued */
	int cpu_max;     /* cpu.max = CpuMax= (the quota alone: the period stays) */
	int pids_max;    /* pids.max = PidsMax= */
	int thaw;        /* cgroup.freeze 1 -> 0 (0 also when Frozen=yes but it reads 0 now) */
} StateUndo;

/*
 * Put back, in cgroup cg_fd, everything record r says memqosd left changed, step by step in
 * StateUndoStep's order. The one undo after an unclean exit, for both kinds (manager.c, guard.c). Synchronous: each write is a
 * single small cgroup-file write that does not block on reclaim. 0 if every step succeeded, else
 * the first error (every step is tried).
 */
int state_record_undo(int cg_fd, const StateRecord *r, StateUndo *ret);
