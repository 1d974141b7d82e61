/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The writer: the only path by which memqosd writes memory.high, memory.low and memory.reclaim. Every write runs
 * off the event loop, on a small pool of worker threads, because writing memory.high below the
 * usage makes the writer reclaim synchronously (seconds, in the kernel's reclaim) and the loop must
 * keep answering signals, the bus and the watchdog meanwhile.
 *
 * Guarantees:
 *  - Per cgroup, writes run one at a time, in the order submitted (a WriterTarget is one cgroup).
 *  - A newer write of a file supersedes a queued, not yet started write of the same file of the
 *    same cgroup (the older one is dropped without a completion; its value never mattered).
 *  - Each write is bounded in time: once it has run for the timeout (WriteTimeoutSec=) its thread
 *    is signalled (and again every WRITER_REINTERRUPT_USEC until it returns), which makes the
 *    kernel stop reclaiming; memory.high is already in place then and the write returns success.
 *  - Every started write is reported exactly once, on the event loop, through the completion
 *    callback with its true result (0 or a negative errno), unless its target was unlinked.
 *  - writer_drain() waits (blocking, bounded by the timeouts) until every submitted write has
 *    completed and been reported; writer_free() interrupts and joins every worker thread.
 *
 * Lifetime of a target: writer_target_new() when a cgroup is taken into management (the fd is
 * duplicated: the owner may close its own; writer_target_adopt() takes the owner's fd instead, which
 * the owner then borrows through writer_target_fd() until it unlinks); writer_target_unlink() when the owner lets go (the
 * cgroup is gone, or the owner has been told every write completed): queued writes are dropped, a
 * write in flight finishes unreported, and the writer frees the target once idle.
 *
 * A WRITER_KIND_CONTINUE_PAUSED write freezes the cgroup (cgroup.freeze) around the write, so that
 * reclaim is not racing a task that touches its whole working set faster than reclaim can age it;
 * only if the cgroup was not frozen already (by anyone else), and the worker thaws it before it
 * reports the write, retrying an interrupted thaw, whatever the write's result. The freeze is thus
 * bounded by the write timeout; writer_free() interrupts and joins the workers, so a stopping daemon
 * thaws too. A daemon killed by SIGKILL in that window leaves the cgroup frozen; the manager marks
 * the state record Frozen=yes around such a write so that the next start thaws it (state.h).
 *
 * Test builds may simulate a slow kernel without one: a memory.high that is a FIFO in a fake tree
 * blocks the writer's open() until a reader comes (tests/integration/test-faults.sh).
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "log.h"
#include "util.h"

#define WRITER_THREADS_MAX 4
#define WRITER_REINTERRUPT_USEC (100 * USEC_PER_MSEC)
#define WRITER_REASON_MAX 192

typedef struct Writer Writer;
typedef struct WriterTarget WriterTarget;

typedef enum WriterFile {
	WRITER_MEMORY_HIGH,
	WRITER_MEMORY_LOW,
	WRITER_MEMORY_RECLAIM,     /* proactive reclaim (src/reclaim.h): bytes to reclaim, never restored */
	WRITER_PIDS_MAX,           /* the storm guard (src/guard.c) */
	WRITER_CGROUP_FREEZE,
	WRITER_CGROUP_KILL,
	WRITER_CPU_MAX,            /* the storm guard's cpu step: the quota alone (the period stays) */
	_WRITER_FILE_MAX,
	_WRITER_FILE_INVALID = -22,
} WriterFile;

const char *writer_file_to_string(WriterFile f);

/* What the submitter wants done with the result; passed back unchanged. */
typedef enum WriterKind {
	WRITER_KIND_CHANGE,        /* a new value (clamp, control loop, MemoryLow=) */
	WRITER_KIND_CONTINUE,      /* the same value again, to keep reclaiming after an interrupt */
	WRITER_KIND_CONTINUE_PAUSED, /* the same, with the cgroup frozen (cgroup.freeze) while it runs */
	WRITER_KIND_RESTORE,       /* an original put back */
	_WRITER_KIND_MAX,
	_WRITER_KIND_INVALID = -22,
} WriterKind;

typedef struct WriterCompletion {
	WriterFile file;
	WriterKind kind;
	uint64_t old_value;        /* as given at submission, for the record */
	uint64_t value;
	char reason[WRITER_REASON_MAX];
	int result;                /* 0 or negative errno of the open/write */
	bool interrupted;          /* it ran past the timeout and was signalled */
	bool paused;               /* WRITER_KIND_CONTINUE_PAUSED: the writer froze the cgroup for it */
	int thaw_result;           /* and thawed it: 0, or the negative errno of the last attempt */
	uint64_t duration_usec;
} WriterCompletion;

/* Called on the event loop (or from writer_drain()) for each completed write of a linked target. */
typedef void (*writer_done_t)(WriterTarget *wt, void *owner, const WriterCompletion *c, void *userdata);

int writer_new(sd_event *event, const Logger *log, writer_done_t done, void *userdata, Writer **ret);
/* Interrupts writes in flight, joins every thread, drops what is queued (unreported). NULL-safe. */
Writer *writer_free(Writer *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(Writer *, writer_free);

void writer_set_timeout(Writer *w, uint64_t usec);

/* A cgroup to write to: cg_fd is duplicated. owner is passed to the completion callback. */
int writer_target_new(Writer *w, int cg_fd, const char *name, void *owner, WriterTarget **ret);
/* The same, taking over cg_fd on success (one fd per cgroup instead of two; *cg_fd set to -EBADF). */
int writer_target_adopt(Writer *w, int *cg_fd, const char *name, void *owner, WriterTarget **ret);
/* The cgroup's fd, valid until writer_target_unlink() (the writer closes it once idle). */
int writer_target_fd(const WriterTarget *wt);
/* Completions of this target go to done (with its userdata) instead of the writer's callback. */
void writer_target_set_done(WriterTarget *wt, writer_done_t done, void *userdata);
/* The owner lets go; see above. NULL-safe; returns NULL. */
WriterTarget *writer_target_unlink(WriterTarget *wt);

/* Queue a write (superseding a queued one of the same file). */
int writer_submit(WriterTarget *wt, WriterFile file, WriterKind kind, uint64_t old_value, uint64_t value,
		  const char *reason);
/* Signal the target's write in flight now, without waiting for the timeout (it is being undone). */
void writer_target_interrupt(WriterTarget *wt);
/* Writes submitted and not yet reported (queued, in flight, or completed and not yet dispatched). */
unsigned writer_target_outstanding(const WriterTarget *wt);

/* Writes submitted and not yet reported, over all targets. */
unsigned writer_outstanding(const Writer *w);

/* Block until every write of every linked target has been reported. */
void writer_drain(Writer *w);

/* Totals, for the tests and the status line. */
typedef struct WriterStats {
	uint64_t submitted, superseded, completed, failed, interrupted;
} WriterStats;

void writer_get_stats(const Writer *w, WriterStats *ret);
