/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The writer; see writer.h.
 *
 * Threads: the event loop (submits, dispatches completions, enforces the timeouts) and up to
 * WRITER_THREADS_MAX workers (created on demand, kept until writer_free()). Everything shared is
 * under w->lock: the ready list (targets with queued writes and none in flight), each target's queue
 * and running job, the done list and the counters. A worker reports a finished write by moving it to
 * the done list and bumping an eventfd the loop watches. The loop alone calls back the owner, so
 * owners never see another thread.
 *
 * Interrupting: workers unblock WRITER_INTERRUPT_SIGNAL (every other thread keeps it blocked, see
 * writer_new()); its handler does nothing and is installed without SA_RESTART, so a write blocked in
 * the kernel (memory.high reclaim, or a FIFO in a test tree) returns. A signal sent just before the
 * worker enters the syscall would be lost, so a late write is signalled again every
 * WRITER_REINTERRUPT_USEC until it returns.
 */

#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"

#define WRITER_INTERRUPT_SIGNAL (SIGRTMIN + 2)
/* How soon the loop looks at a write that has been queued but may not have started yet. */
#define WRITER_START_CHECK_USEC (100 * USEC_PER_MSEC)

typedef struct WriterJob WriterJob;
typedef struct WriterWorker WriterWorker;

struct WriterJob {
	WriterJob *next;             /* in the target's queue or the writer's done list */
	WriterTarget *target;
	WriterCompletion c;
	WriterWorker *worker;        /* while running */
	uint64_t start_usec;
	uint64_t next_interrupt_usec;
	bool warned;
};

struct WriterWorker {
	Writer *w;
	pthread_t thread;
	WriterJob *job;              /* running now */
};

struct WriterTarget {
	Writer *w;
	int fd;
	char *name;
	void *owner;                 /* NULL once unlinked */
	writer_done_t done;          /* NULL: the writer's */
	void *done_userdata;
	WriterJob *queue;            /* not started, in submission order */
	WriterJob *running;
	unsigned outstanding;        /* queued + running + done and not yet dispatched */
	bool in_ready;
	WriterTarget *ready_next;
	WriterTarget *all_prev, *all_next;
};

struct Writer {
	sd_event *event;
	const Logger *log;
	writer_done_t done;
	void *userdata;
	uint64_t timeout_usec;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	WriterTarget *ready_head, *ready_tail;
	WriterTarget *all;
	WriterJob *done_head, *done_tail;
	WriterWorker workers[WRITER_THREADS_MAX];
	size_t n_workers, n_idle;
	unsigned outstanding;
	bool stopping;
	WriterStats stats;

	int done_fd;
	sd_event_source *done_source;
	sd_event_source *timer;
};

static const char *const writer_file_table[_WRITER_FILE_MAX] = {
	[WRITER_MEMORY_HIGH] = "memory.high",
	[WRITER_MEMORY_LOW] = "memory.low",
	[WRITER_MEMORY_RECLAIM] = "memory.reclaim",
	[WRITER_PIDS_MAX] = "pids.max",
	[WRITER_CGROUP_FREEZE] = "cgroup.freeze",
	[WRITER_CGROUP_KILL] = "cgroup.kill",
	[WRITER_CPU_MAX] = "cpu.max",
};

const char *writer_file_to_string(WriterFile f)
{
	if (f < 0 || f >= _WRITER_FILE_MAX)
		return NULL;
	return writer_file_table[f];
}

static void interrupt_handler(int sig)
{
	(void) sig;
}

/* Under lock. */
static void ready_push(Writer *w, WriterTarget *t)
{
	if (t->in_ready || t->running || !t->queue)
		return;
	t->in_ready = true;
	t->ready_next = NULL;
	if (w->ready_tail)
		w->ready_tail->ready_next = t;
	else
		w->ready_head = t;
	w->ready_tail = t;
}

/* Under lock. */
static WriterTarget *ready_pop(Writer *w)
{
	WriterTarget *t = w->ready_head;

	if (!t)
		return NULL;
	w->ready_head = t->ready_next;
	if (!w->ready_head)
		w->ready_tail = NULL;
	t->in_ready = false;
	t->ready_next = NULL;
	return t;
}

/* Under lock. */
static void ready_remove(Writer *w, WriterTarget *t)
{
	WriterTarget **p = &w->ready_head, *prev = NULL;

	if (!t->in_ready)
		return;
	while (*p && *p != t) {
		prev = *p;
		p = &(*p)->ready_next;
	}
	if (*p) {
		*p = t->ready_next;
		if (w->ready_tail == t)
			w->ready_tail = prev;
	}
	t->in_ready = false;
	t->ready_next = NULL;
}

/* Freeze the cgroup for a paused write, unless it is frozen already. Whether we froze it. */
static bool pause_target(int cg_fd)
{
	uint64_t frozen;

	if (cgroup_read_u64(cg_fd, "cgroup.freeze", &frozen) < 0 || frozen != 0)
		return false;
	return cgroup_write_u64(cg_fd, "cgroup.freeze", 1) >= 0;
}

/* Thaw what pause_target() froze. The interrupt signal may cut a write short: try again. */
static int thaw_target(int cg_fd)
{
	int r = -EINTR;

	for (unsigned i = 0; i < 100 && r == -EINTR; i++)
		r = cgroup_write_u64(cg_fd, "cgroup.freeze", 0);
	return r;
}

static void *worker_main(void *userdata)
{
	WriterWorker *k = userdata;
	Writer *w = k->w;
	sigset_t ss;

	sigemptyset(&ss);
	sigaddset(&ss, WRITER_INTERRUPT_SIGNAL);
	(void) pthread_sigmask(SIG_UNBLOCK, &ss, NULL);

	pthread_mutex_lock(&w->lock);
	for (;;) {
		WriterTarget *t;
		WriterJob *job;
		int r;

		while (!w->stopping && !w->ready_head) {
			w->n_idle++;
			pthread_cond_wait(&w->cond, &w->lock);
			w->n_idle--;
		}
		if (w->stopping)
			break;

		t = ready_pop(w);
		job = t->queue;
		t->queue = job->next;
		job->next = NULL;
		t->running = job;
		job->worker = k;
		job->start_usec = clock_usec(CLOCK_MONOTONIC);
		job->next_interrupt_usec = job->start_usec + w->timeout_usec;
		k->job = job;
		pthread_mutex_unlock(&w->lock);

		if (job->c.kind == WRITER_KIND_CONTINUE_PAUSED)
			job->c.paused = pause_target(t->fd);
		r = cgroup_write_u64(t->fd, writer_file_to_string(job->c.file), job->c.value);
		if (job->c.paused)
			job->c.thaw_result = thaw_target(t->fd);

		pthread_mutex_lock(&w->lock);
		k->job = NULL;
		job->worker = NULL;
		job->c.result = r;
		job->c.duration_usec = clock_usec(CLOCK_MONOTONIC) - job->start_usec;
		t->running = NULL;
		if (w->done_tail)
			w->done_tail->next = job;
		else
			w->done_head = job;
		w->done_tail = job;
		w->stats.completed++;
		if (r < 0)
			w->stats.failed++;
		ready_push(w, t);
		if (w->ready_head)
			pthread_cond_signal(&w->cond);
		(void) eventfd_write(w->done_fd, 1);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Under lock. */
static void spawn_worker_locked(Writer *w)
{
	WriterWorker *k;

	if (w->n_idle > 0 || w->n_workers >= WRITER_THREADS_MAX)
		return;
	k = &w->workers[w->n_workers];
	k->w = w;
	k->job = NULL;
	if (pthread_create(&k->thread, NULL, worker_main, k) != 0) {
		/* The ones already running will get to it; with none, the write waits for the next try. */
		(void) log_warning(w->log, "Writer: cannot start a worker thread (%zu running)", w->n_workers);
		return;
	}
	w->n_workers++;
}

static void target_free(WriterTarget *t)
{
	Writer *w = t->w;

	if (t->all_prev)
		t->all_prev->all_next = t->all_next;
	else
		w->all = t->all_next;
	if (t->all_next)
		t->all_next->all_prev = t->all_prev;
	closep(&t->fd);
	free(t->name);
	free(t);
}

/*
 * Signal late writes. Returns the time the loop should look again (UINT64_MAX: nothing
 * outstanding). Loop thread only (logs).
 */
static uint64_t interrupt_overdue(Writer *w)
{
	uint64_t now = clock_usec(CLOCK_MONOTONIC), next = UINT64_MAX;
	char late[WRITER_THREADS_MAX][320];
	size_t n_late = 0;

	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < w->n_workers; i++) {
		WriterJob *job = w->workers[i].job;

		if (!job)
			continue;
		if (job->next_interrupt_usec <= now) {
			(void) pthread_kill(w->workers[i].thread, WRITER_INTERRUPT_SIGNAL);
			if (!job->c.interrupted)
				w->stats.interrupted++;
			job->c.interrupted = true;
			job->next_interrupt_usec = now + WRITER_REINTERRUPT_USEC;
			if (!job->warned) {
				job->warned = true;
				(void) snprintf(late[n_late++], sizeof(late[0]), "%s of %s still running after %llums, interrupting it (%s)",
						writer_file_to_string(job->c.file), job->target->name,
						(unsigned long long) (w->timeout_usec / USEC_PER_MSEC),
						job->c.file == WRITER_MEMORY_RECLAIM
							? "the step ends short: what it reclaimed so far counts"
							: "the new value is in place before the kernel reclaims: the rest is reclaimed on the next charges");
			}
		}
		if (job->next_interrupt_usec < next)
			next = job->next_interrupt_usec;
	}
	if (w->ready_head && now + WRITER_START_CHECK_USEC < next)
		next = now + WRITER_START_CHECK_USEC;
	if (next == UINT64_MAX && w->outstanding > 0)
		next = now + WRITER_START_CHECK_USEC; /* completed, not yet dispatched */
	pthread_mutex_unlock(&w->lock);

	for (size_t i = 0; i < n_late; i++)
		(void) log_warning(w->log, "Write of %s", late[i]);
	return next;
}

static void arm_timer(Writer *w, uint64_t when)
{
	if (!w->timer)
		return;
	if (when == UINT64_MAX) {
		(void) sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
		return;
	}
	(void) sd_event_source_set_time(w->timer, when);
	(void) sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	Writer *w = userdata;

	(void) s;
	(void) usec;
	arm_timer(w, interrupt_overdue(w));
	return 0;
}

/* Report finished writes to their owners. Loop thread only. */
static void dispatch_done(Writer *w)
{
	WriterJob *list;
	eventfd_t v;

	(void) eventfd_read(w->done_fd, &v);
	pthread_mutex_lock(&w->lock);
	list = w->done_head;
	w->done_head = w->done_tail = NULL;
	pthread_mutex_unlock(&w->lock);

	while (list) {
		WriterJob *job = list;
		WriterTarget *t = job->target;
		bool free_target;

		list = job->next;
		if (t->owner && t->done)
			t->done(t, t->owner, &job->c, t->done_userdata);
		else if (t->owner)
			w->done(t, t->owner, &job->c, w->userdata);
		pthread_mutex_lock(&w->lock);
		t->outstanding--;
		w->outstanding--;
		free_target = !t->owner && t->outstanding == 0;
		pthread_mutex_unlock(&w->lock);
		free(job);
		if (free_target)
			target_free(t);
	}
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	Writer *w = userdata;

	(void) s;
	(void) fd;
	(void) revents;
	dispatch_done(w);
	arm_timer(w, interrupt_overdue(w));
	return 0;
}

int writer_new(sd_event *event, const Logger *log, writer_done_t done, void *userdata, Writer **ret)
{
	_cleanup_(writer_freep) Writer *w = NULL;
	struct sigaction sa = { .sa_handler = interrupt_handler };
	sigset_t ss;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->event = event;
	w->log = log;
	w->done = done;
	w->userdata = userdata;
	w->timeout_usec = 5 * USEC_PER_SEC;
	w->done_fd = -EBADF;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);

	/* Workers get the interrupt signal; every other thread keeps it blocked. No SA_RESTART: the
	 * blocked write must come back. */
	sigemptyset(&ss);
	sigaddset(&ss, WRITER_INTERRUPT_SIGNAL);
	(void) pthread_sigmask(SIG_BLOCK, &ss, NULL);
	if (sigaction(WRITER_INTERRUPT_SIGNAL, &sa, NULL) < 0)
		return -errno;

	w->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->done_fd < 0)
		return -errno;
	if (event) {
		r = sd_event_add_io(event, &w->done_source, w->done_fd, EPOLLIN, on_done, w);
		if (r < 0)
			return r;
		(void) sd_event_source_set_description(w->done_source, "writer-done");
		r = sd_event_add_time(event, &w->timer, CLOCK_MONOTONIC, 0, 0, on_timer, w);
		if (r < 0)
			return r;
		(void) sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
		(void) sd_event_source_set_description(w->timer, "writer-timeout");
	}
	*ret = TAKE_PTR(w);
	return 0;
}

Writer *writer_free(Writer *w)
{
	if (!w)
		return NULL;

	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	for (WriterTarget *t = w->all; t; t = t->all_next)
		while (t->queue) {
			WriterJob *job = t->queue;

			t->queue = job->next;
			t->outstanding--;
			w->outstanding--;
			free(job);
		}
	w->ready_head = w->ready_tail = NULL;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);

	for (size_t i = 0; i < w->n_workers; i++)
		for (;;) {
			struct timespec deadline;

			pthread_mutex_lock(&w->lock);
			if (w->workers[i].job)
				(void) pthread_kill(w->workers[i].thread, WRITER_INTERRUPT_SIGNAL);
			pthread_mutex_unlock(&w->lock);
			(void) clock_gettime(CLOCK_REALTIME, &deadline);
			deadline.tv_nsec += WRITER_REINTERRUPT_USEC * NSEC_PER_USEC;
			if (deadline.tv_nsec >= 1000000000L) {
				deadline.tv_sec++;
				deadline.tv_nsec -= 1000000000L;
			}
			if (pthread_timedjoin_np(w->workers[i].thread, NULL, &deadline) == 0)
				break;
		}

	while (w->done_head) {
		WriterJob *job = w->done_head;

		w->done_head = job->next;
		free(job);
	}
	while (w->all)
		target_free(w->all);
	sd_event_source_disable_unref(w->timer);
	sd_event_source_disable_unref(w->done_source);
	closep(&w->done_fd);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return NULL;
}

void writer_set_timeout(Writer *w, uint64_t usec)
{
	pthread_mutex_lock(&w->lock);
	w->timeout_usec = usec ?: 1;
	pthread_mutex_unlock(&w->lock);
}

int writer_target_adopt(Writer *w, int *cg_fd, const char *name, void *owner, WriterTarget **ret)
{
	WriterTarget *t;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->w = w;
	t->owner = owner;
	t->name = strdup(name);
	if (!t->name) {
		free(t);
		return -ENOMEM;
	}
	t->fd = TAKE_FD(*cg_fd);
	t->all_next = w->all;
	if (w->all)
		w->all->all_prev = t;
	w->all = t;
	*ret = t;
	return 0;
}

int writer_target_new(Writer *w, int cg_fd, const char *name, void *owner, WriterTarget **ret)
{
	_cleanup_close_ int fd = fcntl(cg_fd, F_DUPFD_CLOEXEC, 3);

	if (fd < 0)
		return -errno;
	return writer_target_adopt(w, &fd, name, owner, ret);
}

int writer_target_fd(const WriterTarget *t)
{
	return t ? t->fd : -EBADF;
}

void writer_target_set_done(WriterTarget *t, writer_done_t done, void *userdata)
{
	t->done = done;
	t->done_userdata = userdata;
}

WriterTarget *writer_target_unlink(WriterTarget *t)
{
	Writer *w;
	bool free_now;

	if (!t)
		return NULL;
	w = t->w;
	pthread_mutex_lock(&w->lock);
	t->owner = NULL;
	ready_remove(w, t);
	while (t->queue) {
		WriterJob *job = t->queue;

		t->queue = job->next;
		t->outstanding--;
		w->outstanding--;
		w->stats.superseded++;
		free(job);
	}
	free_now = t->outstanding == 0;
	pthread_mutex_unlock(&w->lock);
	if (free_now)
		target_free(t);
	return NULL;
}

int writer_submit(WriterTarget *t, WriterFile file, WriterKind kind, uint64_t old_value, uint64_t value,
		  const char *reason)
{
	Writer *w = t->w;
	WriterJob **p, *job = NULL;

	if (file < 0 || file >= _WRITER_FILE_MAX || !t->owner)
		return -EINVAL;

	pthread_mutex_lock(&w->lock);
	/* A queued write of the same file never started: the new one takes its place, at the end. */
	for (p = &t->queue; *p; p = &(*p)->next)
		if ((*p)->c.file == file) {
			job = *p;
			*p = job->next;
			job->next = NULL;
			w->stats.superseded++;
			old_value = job->c.old_value; /* what the file still holds */
			break;
		}
	if (!job) {
		job = calloc(1, sizeof(*job));
		if (!job) {
			pthread_mutex_unlock(&w->lock);
			return -ENOMEM;
		}
		job->target = t;
		t->outstanding++;
		w->outstanding++;
	}
	job->c = (WriterCompletion) {
		.file = file,
		.kind = kind,
		.old_value = old_value,
		.value = value,
	};
	(void) snprintf(job->c.reason, sizeof(job->c.reason), "%s", reason ?: "");
	for (p = &t->queue; *p; p = &(*p)->next)
		;
	*p = job;
	w->stats.submitted++;
	ready_push(w, t);
	spawn_worker_locked(w);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);

	arm_timer(w, clock_usec(CLOCK_MONOTONIC) + WRITER_START_CHECK_USEC);
	return 0;
}

void writer_target_interrupt(WriterTarget *t)
{
	Writer *w = t->w;

	pthread_mutex_lock(&w->lock);
	if (t->running && t->running->worker) {
		(void) pthread_kill(t->running->worker->thread, WRITER_INTERRUPT_SIGNAL);
		if (!t->running->c.interrupted)
			w->stats.interrupted++;
		t->running->c.interrupted = true;
		t->running->warned = true; /* asked for: not a late write */
		t->running->next_interrupt_usec = clock_usec(CLOCK_MONOTONIC) + WRITER_REINTERRUPT_USEC;
	}
	pthread_mutex_unlock(&w->lock);
}

unsigned writer_target_outstanding(const WriterTarget *t)
{
	unsigned n;

	if (!t)
		return 0;
	pthread_mutex_lock(&t->w->lock);
	n = t->outstanding;
	pthread_mutex_unlock(&t->w->lock);
	return n;
}

unsigned writer_outstanding(const Writer *w)
{
	unsigned n;

	pthread_mutex_lock((pthread_mutex_t *) &w->lock);
	n = w->outstanding;
	pthread_mutex_unlock((pthread_mutex_t *) &w->lock);
	return n;
}

void writer_drain(Writer *w)
{
	for (;;) {
		uint64_t next, now;
		unsigned n;
		struct pollfd pfd = { .fd = w->done_fd, .events = POLLIN };
		int ms;

		dispatch_done(w);
		pthread_mutex_lock(&w->lock);
		n = w->outstanding;
		pthread_mutex_unlock(&w->lock);
		if (n == 0)
			break;
		next = interrupt_overdue(w);
		now = clock_usec(CLOCK_MONOTONIC);
		ms = next == UINT64_MAX || next <= now ? 0 : (int) ((next - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC);
		if (ms > 100)
			ms = 100;
		(void) poll(&pfd, 1, ms);
	}
	arm_timer(w, UINT64_MAX);
}

void writer_get_stats(const Writer *w, WriterStats *ret)
{
	pthread_mutex_lock((pthread_mutex_t *) &w->lock);
	*ret = w->stats;
	pthread_mutex_unlock((pthread_mutex_t *) &w->lock);
}
