/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "journal-ids.h"
#include "parse-util.h"
#include "policy.h"
#include "sample-engine.h"
#include "sample.h"
#include "symbolize.h"

#define SAMPLER_FILES_MAX 256
#define SAMPLER_KERNEL_FRAMES 8   /* kernel frames kept with KernelStacks=yes */

typedef struct SampleTenant {
	Tenant *t;                   /* borrowed, while ACTIVE and sampled */
	uint32_t id;
	uint64_t cgroup_id;
	SamplingParams p;
	uint64_t alert_since_usec;   /* growth above GrowthAlert= since then; 0 = not */
	uint64_t last_alert_usec;
} SampleTenant;

typedef struct FileName {
	uint64_t dev, ino;           /* user-space dev_t */
	char *path;
} FileName;

struct Sampler {
	Manager *m;
	SampleEngine *engine;
	int engine_error;            /* <0: the engine failed to load (not retried until a reload) */
	Symbolizer *sym;
	bool kallsyms_tried;
	SampleModel *model;
	SampleTenant *tenants;
	size_t n_tenants;
	PolicyIdAllocator ids;
	FileName files[SAMPLER_FILES_MAX];
	size_t n_files, next_file;
	sd_event_source *alert_timer;
	sd_bus_slot *slot;
	uint64_t records, unknown;   /* records read; for a tenant no longer sampled */
	uint64_t parent_fallbacks;   /* samples of gone processes unwound with their parent's mappings */
	uint64_t build_id_rebuilds;  /* gone processes rebuilt from their samples' build-id frames */
};

static SampleTenant *tenant_by_id(Sampler *s, uint32_t id)
{
	for (size_t i = 0; i < s->n_tenants; i++)
		if (s->tenants[i].id == id)
			return &s->tenants[i];
	return NULL;
}

static SampleTenant *tenant_by_ptr(Sampler *s, const Tenant *t)
{
	for (size_t i = 0; i < s->n_tenants; i++)
		if (s->tenants[i].t == t)
			return &s->tenants[i];
	return NULL;
}

const char *sampler_tenant_name(uint32_t tenant_id, void *userdata)
{
	SampleTenant *st = tenant_by_id(userdata, tenant_id);

	return st ? st->t->config->name : NULL;
}

/* The longest window any sampled tenant keeps (the model's), at least the daemon's default. */
static uint64_t wanted_window(const Sampler *s)
{
	uint64_t w = s->m->config ? s->m->config->daemon.sampling.window_usec : 600 * USEC_PER_SEC;

	for (size_t i = 0; i < s->n_tenants; i++)
		w = MAX(w, s->tenants[i].p.window_usec);
	return w;
}

/* (Re)create the model when the window it must keep changed; its data go then. */
static int ensure_model(Sampler *s)
{
	uint64_t w = wanted_window(s);
	size_t stacks = s->m->config ? s->m->config->daemon.sampling.max_stacks : 1024;
	int r;

	if (s->model && sample_model_window(s->model) == w)
		return 0;
	if (s->model)
		log_info(&s->m->log, "Sampling window is now %" PRIu64 " s: the stacks sampled so far are dropped",
			 (uint64_t) (w / USEC_PER_SEC));
	s->model = sample_model_free(s->model);
	r = sample_model_new(w, stacks, &s->model);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s->n_tenants; i++)
		(void) sample_model_set_max_stacks(s->model, s->tenants[i].id, s->tenants[i].p.max_stacks);
	return 0;
}

static void on_record(const void *record, size_t size, void *userdata)
{
	sampler_handle_record(userdata, record, size);
}

static int ensure_engine(Sampler *s)
{
	int r;

	if (s->engine)
		return 0;
	if (s->engine_error < 0)
		return s->engine_error;
	r = sample_engine_new(&s->m->log, on_record, s, &s->engine);
	if (r >= 0)
		r = sample_engine_attach_event(s->engine, s->m->event);
	if (r < 0) {
		s->engine = sample_engine_free(s->engine);
		s->engine_error = r;
		return log_warning_errno(&s->m->log, r,
					 "Allocation sampling cannot start (BPF tracing refused or unsupported here): %m");
	}
	log_info(&s->m->log, "Allocation sampling started (%s)", sample_engine_flavour(s->engine));
	return 0;
}

static struct memqosd_sample_conf conf_of(const SamplingParams *p)
{
	return (struct memqosd_sample_conf) {
		.sample_bytes = p->sample_bytes,
		.large_bytes = p->large_bytes,
		.enabled = p->enable,
		.max_per_sec = p->max_per_sec,
	};
}

static void tenant_stop(Sampler *s, SampleTenant *st)
{
	if (s->engine)
		sample_engine_remove_tenant(s->engine, st->id, st->cgroup_id);
	if (s->model)
		sample_model_forget_tenant(s->model, st->id);
	policy_id_free(&s->ids, st->id);
	*st = s->tenants[--s->n_tenants];
}

static int tenant_start(Sampler *s, Tenant *t)
{
	const SamplingParams *p = &t->config->sampling;
	struct memqosd_sample_conf conf = conf_of(p);
	SampleTenant *st, *n;
	uint32_t id;
	int r;

	if (!p->enable)
		return 0;
	r = ensure_engine(s);
	if (r < 0)
		return 0; /* said once; the tenant runs without sampling, `top` explains */
	id = policy_id_alloc(&s->ids);
	if (id == 0)
		return log_warning_errno(&s->m->log, -ENOSPC, "Tenant %s: no sampler slot left",
					 t->config->name);
	n = realloc(s->tenants, (s->n_tenants + 1) * sizeof(*n));
	if (!n) {
		policy_id_free(&s->ids, id);
		return -ENOMEM;
	}
	s->tenants = n;
	st = &s->tenants[s->n_tenants++];
	*st = (SampleTenant) { .t = t, .id = id, .cgroup_id = t->cgroup_id, .p = *p };
	r = ensure_model(s);
	if (r >= 0)
		r = sample_model_set_max_stacks(s->model, id, p->max_stacks);
	if (r >= 0)
		r = sample_engine_set_tenant(s->engine, id, t->cgroup_id, &conf);
	if (r < 0) {
		log_warning_errno(&s->m->log, r, "Tenant %s: cannot start sampling: %m", t->config->name);
		tenant_stop(s, st);
		return r;
	}
	log_debug(&s->m->log, "Tenant %s: sampling every %" PRIu64 " bytes charged", t->config->name, p->sample_bytes);
	return 0;
}

static int hook_attach(Manager *m, Tenant *t, void *userdata)
{
	(void) m;
	return tenant_start(userdata, t);
}

static void hook_detach(Manager *m, Tenant *t, void *userdata)
{
	Sampler *s = userdata;
	SampleTenant *st = tenant_by_ptr(s, t);

	(void) m;
	if (st)
		tenant_stop(s, st);
}

static int hook_changed(Manager *m, Tenant *t, const TenantConfig *old, void *userdata)
{
	Sampler *s = userdata;
	SampleTenant *st = tenant_by_ptr(s, t);

	(void) m;
	if (sampling_params_equal(&old->sampling, &t->config->sampling) && (st || !t->config->sampling.enable))
		return 0;
	if (st)
		tenant_stop(s, st);
	return tenant_start(s, t);
}

/* ---- records ---- */

/* Kernel frames of a record (innermost first), but for BPF's own (the sampler, its trampoline). */
static size_t kernel_frames(Sampler *s, const struct memqosd_sample *r, char **frames, size_t max)
{
	size_t n = 0;

	if (!s->kallsyms_tried) {
		s->kallsyms_tried = true;
		if (symbolizer_load_kallsyms(s->sym, NULL) < 0)
			log_info(&s->m->log, "Kernel symbols are not readable (kptr_restrict?): kernel frames stay addresses");
	}
	for (int i = 0; i < r->n_kips && i < MEMQOSD_SAMPLE_KSTACK_DEPTH && n < max; i++) {
		if (symbolizer_kernel_frame(s->sym, r->kips[i], &frames[n]) < 0)
			continue;
		/* The sampler's own program and trampoline: no part of the charge path. */
		if (strstr(frames[n], " ([bpf]+")) {
			free(frames[n]);
			frames[n] = NULL;
			continue;
		}
		n++;
	}
	return n;
}

/* Frames of the record's build-id stack the unwinder can use: paired with their addresses. */
static size_t build_id_frames(const struct memqosd_sample *r)
{
	return (size_t) MAX(0, MIN(MIN(r->n_bids, r->n_uips), MEMQOSD_SAMPLE_BUILD_ID_DEPTH));
}

/*
 * Whose mappings to unwind a record with: its process's, snapshotted on its first sample. A process
 * already gone by then (it lived a few ms) that has not exec'd since its fork has its parent's
 * mappings: the parent's snapshot (taken now if the parent is alive) stands in for it. One that
 * exec'd is rebuilt from the record's build-id frames: the files kept by build-id, placed where the
 * frames show them.
 */
static pid_t mappings_of(Sampler *s, const struct memqosd_sample *r)
{
	pid_t pid = (pid_t) r->pid, ppid = (pid_t) r->ppid;

	if (symbolizer_has_process(s->sym, pid, r->mm_id)) {
		/* Rebuilt from build-ids: this sample's frames may name files the earlier ones did not. */
		if (symbolizer_rebuilt(s->sym, pid))
			(void) symbolizer_add_process_build_ids(s->sym, pid, r->mm_id, r->bids, (const uint64_t *) r->uips,
								build_id_frames(r));
		return pid;
	}
	if (symbolizer_add_process(s->sym, pid, r->mm_id, NULL) >= 0)
		return pid;
	if ((r->h.flags & MEMQOSD_SAMPLEF_NO_EXEC) && ppid > 1 &&
	    (symbolizer_knows_pid(s->sym, ppid) || symbolizer_add_process(s->sym, ppid, 0, NULL) >= 0)) {
		s->parent_fallbacks++;
		return ppid;
	}
	if (symbolizer_add_process_build_ids(s->sym, pid, r->mm_id, r->bids, (const uint64_t *) r->uips,
					     build_id_frames(r)) >= 0)
		s->build_id_rebuilds++;
	return pid;
}

static size_t user_frames(Sampler *s, const struct memqosd_sample *r, char **frames, size_t max)
{
	pid_t pid;
	int n;

	if (!(r->h.flags & MEMQOSD_SAMPLEF_USER) || max == 0)
		return 0;
	pid = mappings_of(s, r);
	n = symbolizer_unwind_user(s->sym, pid, (const uint64_t *) r->regs, r->ustack, r->ustack_len, frames, max);
	if (n < 0)
		n = 0;
	/* The unwinder stopped at the first frame but frame pointers found more: use those. */
	if (n <= 1 && r->n_uips > 1 && symbolizer_knows_pid(s->sym, pid)) {
		symbolizer_frames_clear(frames, (size_t) n);
		n = 0;
		for (int i = 0; i < r->n_uips && i < MEMQOSD_SAMPLE_USTACK_DEPTH && (size_t) n < max; i++)
			if (symbolizer_user_frame(s->sym, pid, r->uips[i], i > 0, &frames[n]) == 0)
				n++;
	}
	/* Nothing known of the process: its build-id frames, as far as they name something. */
	if (n == 0)
		for (size_t i = 0; i < (size_t) MAX(0, MIN(r->n_bids, MEMQOSD_SAMPLE_BUILD_ID_DEPTH)) && (size_t) n < max; i++) {
			if (r->bids[i].status != MEMQOSD_SAMPLE_BUILD_ID_VALID && i > 0)
				break;
			if (symbolizer_build_id_frame(s->sym, &r->bids[i], i > 0, &frames[n]) == 0)
				n++;
		}
	return (size_t) n;
}

static void handle_alloc(Sampler *s, const struct memqosd_sample *r)
{
	SampleTenant *st = tenant_by_id(s, r->h.tenant_id);
	char *frames[SAMPLE_FRAMES_MAX] = {};
	char comm[sizeof(r->comm) + 1];
	size_t n = 0;

	if (!st || !s->model) {
		s->unknown++;
		return;
	}
	/* Kernel memory is named by its kernel stack, whatever KernelStacks= says. */
	if (st->p.kernel_stacks || (r->h.flags & MEMQOSD_SAMPLEF_KMEM))
		n = kernel_frames(s, r, frames, SAMPLER_KERNEL_FRAMES);
	n += user_frames(s, r, frames + n, MIN((size_t) st->p.stack_depth, SAMPLE_FRAMES_MAX - n));
	memcpy(comm, r->comm, sizeof(r->comm));
	comm[sizeof(r->comm)] = 0;
	if (sample_model_add(s->model, &(SampleInput) {
			.tenant_id = st->id,
			.seq = r->h.seq,
			.weight = r->weight,
			.usec = r->h.ts_ns / 1000,
			.comm = comm,
			.frames = (const char *const *) frames,
			.n_frames = n,
			.tracked = r->h.flags & MEMQOSD_SAMPLEF_TRACKED,
		}) < 0)
		log_debug(&s->m->log, "Out of memory for a sample, dropped");
	symbolizer_frames_clear(frames, n);
}

/*
 * The file (dev, ino) among the files pid has open or mapped: exact match first; else the only one
 * with that inode number (overlayfs: the page cache is the lower file's, the process sees the
 * overlay's device). NULL if none.
 */
static char *file_of_process(uint64_t dev, uint64_t ino, pid_t pid)
{
	char dir[64], link[PATH_MAX + 32], path[PATH_MAX], line[PATH_MAX + 128];
	_cleanup_free_ char *by_ino = NULL;
	unsigned n_by_ino = 0;
	struct stat st;
	FILE *mf;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int) pid);
	d = opendir(dir);
	while (d) {
		struct dirent *de = readdir(d);
		ssize_t l;

		if (!de)
			break;
		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		if (stat(link, &st) < 0 || !S_ISREG(st.st_mode) || st.st_ino != ino)
			continue;
		l = readlink(link, path, sizeof(path) - 1);
		if (l <= 0)
			continue;
		path[l] = 0;
		if (st.st_dev == dev) {
			closedir(d);
			return strdup(path);
		}
		if (!by_ino || !streq(by_ino, path)) {
			free(by_ino);
			by_ino = strdup(path);
			n_by_ino++;
		}
	}
	if (d)
		closedir(d);
	snprintf(dir, sizeof(dir), "/proc/%d/maps", (int) pid);
	mf = fopen(dir, "re");
	while (mf && fgets(line, sizeof(line), mf)) {
		unsigned long long inode;
		unsigned maj, min;
		int off = 0;
		char *p;

		if (sscanf(line, "%*s %*s %*s %x:%x %llu %n", &maj, &min, &inode, &off) < 3 || off == 0 || line[off] != '/')
			continue;
		p = line + off;
		p[strcspn(p, "\n")] = 0;
		if (inode == ino && makedev(maj, min) == dev) {
			fclose(mf);
			return strdup(p);
		}
		if ((inode == ino || (stat(p, &st) == 0 && st.st_ino == ino)) && (!by_ino || !streq(by_ino, p))) {
			free(by_ino);
			by_ino = strdup(p);
			n_by_ino++;
		}
	}
	if (mf)
		fclose(mf);
	return n_by_ino == 1 ? TAKE_PTR(by_ino) : NULL;
}

/* A name for (dev, ino): a file the process has open or mapped, else "dev MAJ:MIN inode N". */
static const char *file_name(Sampler *s, uint32_t kdev, uint64_t ino, pid_t pid)
{
	uint64_t dev = makedev(kdev >> 20, kdev & 0xfffff);
	char *found;
	FileName *f;

	for (size_t i = 0; i < s->n_files; i++)
		if (s->files[i].dev == dev && s->files[i].ino == ino)
			return s->files[i].path;
	found = file_of_process(dev, ino, pid);
	if (!found && asprintf(&found, "dev %u:%u inode %" PRIu64, kdev >> 20, kdev & 0xfffff, ino) < 0)
		return NULL;
	f = &s->files[s->next_file];
	if (s->n_files < SAMPLER_FILES_MAX)
		s->n_files++;
	else
		free(f->path);
	*f = (FileName) { .dev = dev, .ino = ino, .path = found };
	s->next_file = (s->next_file + 1) % SAMPLER_FILES_MAX;
	return f->path;
}

void sampler_handle_record(Sampler *s, const void *record, size_t size)
{
	const struct memqosd_sample_head *h = record;

	s->records++;
	if (size < sizeof(*h))
		return;
	switch (h->kind) {
	case MEMQOSD_SAMPLE_ALLOC:
		if (size >= sizeof(struct memqosd_sample))
			handle_alloc(s, record);
		break;
	case MEMQOSD_SAMPLE_FREE:
		if (size >= sizeof(struct memqosd_sample_free) && s->model)
			(void) sample_model_free_seq(s->model, h->seq, ((const struct memqosd_sample_free *) record)->weight,
						     h->ts_ns / 1000);
		break;
	case MEMQOSD_SAMPLE_FILE:
		if (size >= sizeof(struct memqosd_sample_file) && s->model) {
			const struct memqosd_sample_file *f = record;
			const char *name = file_name(s, f->dev, f->ino, (pid_t) f->pid);

			if (name)
				(void) sample_model_set_file(s->model, h->seq, name);
		}
		break;
	default:
		break;
	}
}

/* ---- queries ---- */

/* *ret = the formatted message, or NULL when there is no memory for it (the caller's errno stands). */
__attribute__((format(printf, 2, 3)))
static void set_message(char **ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(ret, fmt, ap) < 0)
		*ret = NULL;
	va_end(ap);
}

int sampler_top(Sampler *s, const char *tenant, uint64_t window_usec, size_t n, SampleSort sort, SamplerTop *ret,
		char **ret_message)
{
	const SampleTenant *st = NULL;
	uint64_t kept, sample_bytes;
	struct memqosd_sample_counters c = {};
	char a[FORMAT_VALUE_MAX], b[FORMAT_VALUE_MAX];
	int r;

	*ret_message = NULL;
	if (tenant && *tenant) {
		Tenant *t = manager_find_tenant(s->m, tenant);

		if (!t) {
			set_message(ret_message, "No tenant '%s' is configured", tenant);
			return -ENOENT;
		}
		st = tenant_by_ptr(s, t);
		if (!st) {
			if (t->config->sampling.enable && s->engine_error < 0)
				set_message(ret_message, "Sampling could not start on this system: %s",
						strerror(-s->engine_error));
			else if (t->config->sampling.enable)
				set_message(ret_message, "Tenant '%s' is not active (state %s): nothing is sampled",
						tenant, tenant_state_describe(t));
			else
				set_message(ret_message,
						"Sampling is off for tenant '%s': set Enable=yes in the [Sampling] section of "
						"its profile (or of memqosd.conf) and reload", tenant);
			return s->engine_error < 0 && t->config->sampling.enable ? -EOPNOTSUPP : -ENODATA;
		}
		kept = st->p.window_usec;
		sample_bytes = st->p.sample_bytes;
	} else {
		if (s->n_tenants == 0 || !s->model) {
			if (s->engine_error < 0)
				set_message(ret_message, "Sampling could not start on this system: %s",
						strerror(-s->engine_error));
			else
				set_message(ret_message, "Sampling is off for every tenant: set Enable=yes in the "
						"[Sampling] section of memqosd.conf or of a profile, and reload");
			return s->engine_error < 0 ? -EOPNOTSUPP : -ENODATA;
		}
		kept = sample_model_window(s->model);
		sample_bytes = s->m->config->daemon.sampling.sample_bytes;
	}
	if (window_usec == 0)
		window_usec = kept;
	if (window_usec > kept) {
		set_message(ret_message, "Window %s is longer than what is kept%s%s (WindowSec=%s)",
				format_duration(a, window_usec), st ? " for tenant " : "", st ? tenant : "",
				format_duration(b, kept));
		return -ERANGE;
	}
	if (s->engine)
		(void) sample_engine_counters(s->engine, &c);
	r = sample_model_top(s->model, st ? st->id : 0, window_usec, clock_usec(CLOCK_MONOTONIC), sort, n, &ret->rows, &ret->n_rows);
	if (r < 0)
		return r;
	ret->window_usec = window_usec;
	ret->sample_bytes = sample_bytes;
	ret->dropped = c.dropped;
	return 0;
}

/* ---- growth alert ---- */

static void alert_check(Sampler *s, SampleTenant *st, uint64_t now)
{
	_cleanup_free_ SampleRow *rows = NULL;
	int64_t rate = 0, top_rate;
	char f_tenant[300], f_cgroup[4200], f_rate[64], f_top[64], f_comm[64], g[16], tg[16];
	_cleanup_free_ char *stack = NULL, *f_stack = NULL;
	size_t n = 0, len = 0;
	FILE *f;

	if (st->p.growth_alert_bytes == 0 || !s->model)
		return;
	/* The tenant's rate: each stack's growth over the time its data cover, summed. */
	if (sample_model_top(s->model, st->id, MIN(st->p.growth_alert_usec, sample_model_window(s->model)), now,
			     SAMPLE_SORT_GROWTH, SIZE_MAX, &rows, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		rate += sample_growth_per_min(rows[i].growth_bytes, rows[i].span_usec);
	if (rate < (int64_t) st->p.growth_alert_bytes || n == 0) {
		st->alert_since_usec = 0;
		return;
	}
	if (st->alert_since_usec == 0)
		st->alert_since_usec = now;
	if (now - st->alert_since_usec < st->p.growth_alert_usec ||
	    (st->last_alert_usec && now - st->last_alert_usec < st->p.growth_alert_usec))
		return;
	st->last_alert_usec = now;

	f = open_memstream(&stack, &len);
	if (!f)
		return;
	for (size_t i = 0; i < rows[0].n_frames && i < 8; i++)
		fprintf(f, "%s%s", i ? " <- " : "", rows[0].frames[i]);
	if (rows[0].n_frames == 0)
		fputs("[unknown]", f);
	fclose(f);
	if (!stack || asprintf(&f_stack, "MEMQOSD_STACK=%s", stack) < 0)
		return;
	top_rate = sample_growth_per_min(rows[0].growth_bytes, rows[0].span_usec);
	snprintf(f_tenant, sizeof(f_tenant), "MEMQOSD_TENANT=%s", st->t->config->name);
	snprintf(f_cgroup, sizeof(f_cgroup), "MEMQOSD_CGROUP=%s", st->t->config->cgroup);
	snprintf(f_rate, sizeof(f_rate), "MEMQOSD_GROWTH_PER_MIN=%" PRIi64, rate);
	snprintf(f_top, sizeof(f_top), "MEMQOSD_STACK_GROWTH_PER_MIN=%" PRIi64, top_rate);
	snprintf(f_comm, sizeof(f_comm), "MEMQOSD_COMM=%s", rows[0].comm);
	log_struct(&s->m->log, LOG_WARNING, MEMQOSD_MESSAGE_ALLOC_GROWTH,
		   (const char *const[]) { f_tenant, f_cgroup, f_rate, f_top, f_comm, f_stack, NULL },
		   "Tenant %s: memory grows by %s/min; fastest-growing stack (%s/min, %s): %s", st->t->config->name,
		   sample_format_human(g, rate), sample_format_human(tg, top_rate), rows[0].comm, stack);
}

static int on_alert_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	Sampler *s = userdata;
	uint64_t now = clock_usec(CLOCK_MONOTONIC);

	(void) usec;
	for (size_t i = 0; i < s->n_tenants; i++)
		alert_check(s, &s->tenants[i], now);
	(void) sd_event_source_set_time_relative(src, SAMPLER_ALERT_PERIOD_USEC);
	return 0;
}

/* ---- D-Bus ---- */

static int method_top(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	_cleanup_free_ char *message = NULL;
	SamplerTop top = {};
	Sampler *s = userdata;
	const char *tenant, *sort_name;
	uint64_t window;
	uint32_t n;
	SampleSort sort;
	uid_t euid;
	int r;

	r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID, &creds);
	if (r >= 0)
		r = sd_bus_creds_get_euid(creds, &euid);
	if (r < 0)
		return r;
	if (euid != 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
					 "Only root may read allocation stacks (they reveal code); caller's uid is %u",
					 (unsigned) euid);
	r = sd_bus_message_read(msg, "stus", &tenant, &window, &n, &sort_name);
	if (r < 0)
		return r;
	sort = sample_sort_from_string(sort_name);
	if (sort < 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "Unknown sort '%s' (growth, alloc or live)", sort_name);
	r = sampler_top(s, tenant, window, n ? n : SIZE_MAX, sort, &top, &message);
	if (r == -ENOENT)
		return sd_bus_error_set(error, MEMQOSD_BUS_ERROR_NO_SUCH_TENANT, message);
	if (r == -ENODATA || r == -EOPNOTSUPP)
		return sd_bus_error_set(error, MEMQOSD_BUS_ERROR_SAMPLING_OFF, message);
	if (r == -ERANGE)
		return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, message);
	if (r < 0)
		return r;

	r = sd_bus_message_new_method_return(msg, &reply);
	if (r >= 0)
		r = sd_bus_message_append(reply, "ttt", top.window_usec, top.sample_bytes, top.dropped);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', MEMQOSD_BUS_SAMPLE_STACK_SIGNATURE);
	for (size_t i = 0; r >= 0 && i < top.n_rows; i++) {
		const SampleRow *row = &top.rows[i];
		const char *name = sampler_tenant_name(row->tenant_id, s);

		r = sd_bus_message_open_container(reply, 'r', "sttxtttsas");
		if (r >= 0)
			r = sd_bus_message_append(reply, "sttxttts", name ?: "", row->alloc_bytes, row->freed_bytes,
						  row->growth_bytes, row->live_bytes, row->samples, row->span_usec, row->comm);
		if (r >= 0)
			r = sd_bus_message_open_container(reply, 'a', "s");
		for (size_t j = 0; r >= 0 && j < row->n_frames; j++)
			r = sd_bus_message_append(reply, "s", row->frames[j]);
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
	}
	free(top.rows);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static const sd_bus_vtable sampler_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD_WITH_NAMES("TopAllocations", "stus",
				 SD_BUS_PARAM(tenant) SD_BUS_PARAM(window_usec) SD_BUS_PARAM(n) SD_BUS_PARAM(sort),
				 "ttta" MEMQOSD_BUS_SAMPLE_STACK_SIGNATURE,
				 SD_BUS_PARAM(window_usec) SD_BUS_PARAM(sample_bytes) SD_BUS_PARAM(dropped)
				 SD_BUS_PARAM(stacks),
				 method_top, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END,
};

int sampler_bus_register(Sampler *s, sd_bus *bus)
{
	int r;

	if (!bus)
		return 0;
	r = sd_bus_add_object_vtable(bus, &s->slot, MEMQOSD_BUS_PATH, MEMQOSD_BUS_INTERFACE, sampler_vtable, s);
	if (r < 0)
		return log_warning_errno(&s->m->log, r, "Cannot register TopAllocations on D-Bus: %m");
	return 0;
}

/* ---- lifetime ---- */

int sampler_install(Manager *m, Sampler **ret)
{
	_cleanup_(sampler_freep) Sampler *s = NULL;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->m = m;
	policy_id_init(&s->ids);
	r = symbolizer_new(&s->sym);
	if (r < 0)
		return r;
	r = sd_event_add_time_relative(m->event, &s->alert_timer, CLOCK_MONOTONIC, SAMPLER_ALERT_PERIOD_USEC,
				       USEC_PER_SEC, on_alert_timer, s);
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to add the sampling alert timer: %m");
	(void) sd_event_source_set_description(s->alert_timer, "sample-alert");
	(void) sd_event_source_set_enabled(s->alert_timer, SD_EVENT_ON);
	r = manager_add_hooks(m, &(ManagerHooks) {
		.tenant_attach = hook_attach,
		.tenant_detach = hook_detach,
		.tenant_changed = hook_changed,
		.userdata = s,
	});
	if (r < 0)
		return log_error_errno(&m->log, r, "Cannot register the sampler's hooks: %m");
	*ret = TAKE_PTR(s);
	return 0;
}

Sampler *sampler_free(Sampler *s)
{
	if (!s)
		return NULL;
	if (s->m)
		manager_remove_hooks(s->m, s);
	if (s->engine) {
		struct memqosd_sample_counters c = {};

		(void) sample_engine_counters(s->engine, &c);
		log_info(&s->m->log,
			 "Allocation sampling: %" PRIu64 " records read, %" PRIu64 " samples (%" PRIu64 " large), %" PRIu64
			 " frees, %" PRIu64 " dropped, %" PRIu64 " back-offs, %" PRIu64 " unwound with the parent's mappings, %"
			 PRIu64 " processes rebuilt from build-ids",
			 s->records, (uint64_t) c.samples, (uint64_t) c.large, (uint64_t) c.frees, (uint64_t) c.dropped,
			 (uint64_t) c.backoffs, s->parent_fallbacks, s->build_id_rebuilds);
	}
	sd_bus_slot_unref(s->slot);
	sd_event_source_disable_unref(s->alert_timer);
	sample_engine_free(s->engine);
	symbolizer_free(s->sym);
	sample_model_free(s->model);
	for (size_t i = 0; i < s->n_files; i++)
		free(s->files[i].path);
	free(s->tenants);
	free(s);
	return NULL;
}
