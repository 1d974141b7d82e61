/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>

#include "json-util.h"
#include "parse-util.h"
#include "sample-model.h"


typedef struct Stack {
	uint64_t key;
	uint32_t tenant_id;
	char *comm;
	char **frames;
	size_t n_frames;
	uint64_t epoch[SAMPLE_BUCKETS];
	uint64_t alloc[SAMPLE_BUCKETS];
	uint64_t freed[SAMPLE_BUCKETS];
	uint64_t samples[SAMPLE_BUCKETS];
	uint64_t live;
	uint64_t first_usec;         /* first sample */
} Stack;

/* A live sample: which stack its weight went to. seq 0 = empty slot. */
typedef struct LiveSeq {
	uint64_t seq;
	uint64_t stack_key;
	uint64_t weight;
	uint64_t usec;
	uint32_t tenant_id;
} LiveSeq;

struct SampleModel {
	uint64_t window_usec;
	uint64_t bucket_usec;
	size_t max_stacks;
	uint32_t *tenant_max;        /* [MEMQOSD_MAX_TENANTS]: per tenant, 0 = max_stacks */
	Stack *stacks;
	size_t n_stacks;
	size_t alloc_stacks;
	LiveSeq *live;               /* SAMPLE_LIVE_MAX slots, linear probing */
	size_t n_live;
};

static const char *const sort_names[_SAMPLE_SORT_MAX] = {
	[SAMPLE_SORT_GROWTH] = "growth",
	[SAMPLE_SORT_ALLOC] = "alloc",
	[SAMPLE_SORT_LIVE] = "live",
};

const char *sample_sort_to_string(SampleSort s)
{
	return s >= 0 && s < _SAMPLE_SORT_MAX ? sort_names[s] : NULL;
}

SampleSort sample_sort_from_string(const char *s)
{
	for (int i = 0; i < _SAMPLE_SORT_MAX; i++)
		if (s && streq(s, sort_names[i]))
			return i;
	return _SAMPLE_SORT_INVALID;
}

void sample_exp_table(uint32_t *table, size_t n)
{
	for (size_t i = 0; i < n; i++)
		table[i] = (uint32_t) lround(-log((i + 0.5) / (double) n) * 65536.0);
}

int sample_model_new(uint64_t window_usec, size_t max_stacks, SampleModel **ret)
{
	SampleModel *m;

	if (window_usec < SAMPLE_BUCKETS || max_stacks == 0)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->live = calloc(SAMPLE_LIVE_MAX, sizeof(*m->live));
	m->tenant_max = calloc(MEMQOSD_MAX_TENANTS, sizeof(*m->tenant_max));
	if (!m->live || !m->tenant_max) {
		free(m->live);
		free(m->tenant_max);
		free(m);
		return -ENOMEM;
	}
	m->window_usec = window_usec;
	m->bucket_usec = window_usec / SAMPLE_BUCKETS;
	m->max_stacks = max_stacks;
	*ret = m;
	return 0;
}

static void stack_clear(Stack *s)
{
	free(s->comm);
	for (size_t i = 0; i < s->n_frames; i++)
		free(s->frames[i]);
	free(s->frames);
}

SampleModel *sample_model_free(SampleModel *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_stacks; i++)
		stack_clear(&m->stacks[i]);
	free(m->stacks);
	free(m->live);
	free(m->tenant_max);
	free(m);
	return NULL;
}

uint64_t sample_model_window(const SampleModel *m)
{
	return m->window_usec;
}

int sample_model_set_max_stacks(SampleModel *m, uint32_t tenant_id, size_t max_stacks)
{
	if (tenant_id >= MEMQOSD_MAX_TENANTS || max_stacks == 0 || max_stacks > UINT32_MAX)
		return -EINVAL;
	m->tenant_max[tenant_id] = (uint32_t) max_stacks;
	return 0;
}

/* FNV-1a over tenant, comm and frames (a NUL between strings). */
static uint64_t stack_key(uint32_t tenant, const char *comm, const char *const *frames, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

#define MIX(byte) do { h ^= (uint8_t) (byte); h *= 1099511628211ULL; } while (0)
	for (int i = 0; i < 4; i++)
		MIX(tenant >> (8 * i));
	for (const char *p = comm ?: ""; *p; p++)
		MIX(*p);
	MIX(0);
	for (size_t i = 0; i < n; i++) {
		for (const char *p = frames[i]; *p; p++)
			MIX(*p);
		MIX(0);
	}
#undef MIX
	return h ?: 1;
}

static Stack *stack_find(SampleModel *m, uint64_t key)
{
	for (size_t i = 0; i < m->n_stacks; i++)
		if (m->stacks[i].key == key)
			return &m->stacks[i];
	return NULL;
}

static uint64_t stack_window_sum(const SampleModel *m, const Stack *s, const uint64_t *v, uint64_t now_epoch,
				 uint64_t n_buckets)
{
	uint64_t sum = 0;

	for (int i = 0; i < SAMPLE_BUCKETS; i++)
		if (s->epoch[i] <= now_epoch && now_epoch - s->epoch[i] < n_buckets)
			sum += v[i];
	(void) m;
	return sum;
}

/* Make room in a tenant with max_stacks stacks: evict the one with the least alloc in the window + live. */
static void stack_evict(SampleModel *m, uint32_t tenant, uint64_t now_usec)
{
	uint64_t now_epoch = now_usec / m->bucket_usec, best = UINT64_MAX;
	size_t n = 0, victim = SIZE_MAX;

	for (size_t i = 0; i < m->n_stacks; i++) {
		Stack *s = &m->stacks[i];
		uint64_t v;

		if (s->tenant_id != tenant)
			continue;
		n++;
		v = stack_window_sum(m, s, s->alloc, now_epoch, SAMPLE_BUCKETS) + s->live;
		if (v < best) {
			best = v;
			victim = i;
		}
	}
	if (n < (tenant < MEMQOSD_MAX_TENANTS && m->tenant_max[tenant] ? m->tenant_max[tenant] : m->max_stacks) ||
	    victim == SIZE_MAX)
		return;
	stack_clear(&m->stacks[victim]);
	m->stacks[victim] = m->stacks[--m->n_stacks];
}

static Stack *stack_get(SampleModel *m, uint32_t tenant, const char *comm, const char *const *frames, size_t n_frames,
			uint64_t now_usec)
{
	uint64_t key = stack_key(tenant, comm, frames, n_frames);
	Stack *s = stack_find(m, key);

	if (s)
		return s;
	stack_evict(m, tenant, now_usec);
	if (m->n_stacks == m->alloc_stacks) {
		size_t na = m->alloc_stacks ? 2 * m->alloc_stacks : 64;
		Stack *ns = realloc(m->stacks, na * sizeof(*ns));

		if (!ns)
			return NULL;
		m->stacks = ns;
		m->alloc_stacks = na;
	}
	s = &m->stacks[m->n_stacks];
	*s = (Stack) { .key = key, .tenant_id = tenant, .first_usec = now_usec };
	for (int i = 0; i < SAMPLE_BUCKETS; i++)
		s->epoch[i] = UINT64_MAX;
	if (n_frames > SAMPLE_FRAMES_MAX)
		n_frames = SAMPLE_FRAMES_MAX;
	s->comm = strdup(comm ?: "");
	s->frames = calloc(n_frames ?: 1, sizeof(char *));
	if (!s->comm || !s->frames)
		goto fail;
	for (size_t i = 0; i < n_frames; i++) {
		s->frames[i] = strdup(frames[i]);
		if (!s->frames[i])
			goto fail;
		s->n_frames++;
	}
	m->n_stacks++;
	return s;
fail:
	stack_clear(s);
	return NULL;
}

static int bucket_of(const SampleModel *m, Stack *s, uint64_t usec)
{
	uint64_t e = usec / m->bucket_usec;
	int slot = (int) (e % SAMPLE_BUCKETS);

	if (s->epoch[slot] != e) {
		if (s->epoch[slot] != UINT64_MAX && s->epoch[slot] > e)
			return -1; /* older than what the ring holds */
		s->epoch[slot] = e;
		s->alloc[slot] = s->freed[slot] = s->samples[slot] = 0;
	}
	return slot;
}

static size_t live_slot(uint64_t seq)
{
	return (size_t) ((seq * 0x9E3779B97F4A7C15ULL) >> 32) & (SAMPLE_LIVE_MAX - 1);
}

static LiveSeq *live_find(SampleModel *m, uint64_t seq)
{
	for (size_t i = live_slot(seq), n = 0; n < SAMPLE_LIVE_MAX; i = (i + 1) & (SAMPLE_LIVE_MAX - 1), n++) {
		if (m->live[i].seq == seq)
			return &m->live[i];
		if (m->live[i].seq == 0)
			return NULL;
	}
	return NULL;
}

static void live_insert(SampleModel *m, const LiveSeq *e)
{
	size_t i;

	if (m->n_live >= SAMPLE_LIVE_MAX * 3 / 4)
		return; /* full: this sample's free will not be seen (it stays live) */
	for (i = live_slot(e->seq); m->live[i].seq != 0; i = (i + 1) & (SAMPLE_LIVE_MAX - 1))
		if (m->live[i].seq == e->seq)
			break;
	if (m->live[i].seq == 0)
		m->n_live++;
	m->live[i] = *e;
}

/* Remove by backward shift (no tombstones). */
static void live_remove(SampleModel *m, LiveSeq *e)
{
	size_t i = (size_t) (e - m->live), j = i;

	for (;;) {
		size_t k;

		j = (j + 1) & (SAMPLE_LIVE_MAX - 1);
		if (m->live[j].seq == 0)
			break;
		k = live_slot(m->live[j].seq);
		/* Move j back to i unless its home k lies cyclically in (i, j]. */
		if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		m->live[i] = m->live[j];
		i = j;
	}
	m->live[i].seq = 0;
	m->n_live--;
}

int sample_model_add(SampleModel *m, const SampleInput *in)
{
	Stack *s = stack_get(m, in->tenant_id, in->comm, in->frames, in->n_frames, in->usec);
	int b;

	if (!s)
		return -ENOMEM;
	b = bucket_of(m, s, in->usec);
	if (b >= 0) {
		s->alloc[b] += in->weight;
		s->samples[b]++;
	}
	s->live += in->weight;
	if (in->tracked && in->seq)
		live_insert(m, &(LiveSeq) { .seq = in->seq, .stack_key = s->key, .weight = in->weight,
					    .usec = in->usec, .tenant_id = in->tenant_id });
	return 0;
}

bool sample_model_free_seq(SampleModel *m, uint64_t seq, uint64_t weight, uint64_t usec)
{
	LiveSeq *e = seq ? live_find(m, seq) : NULL;
	Stack *s;
	int b;

	if (!e)
		return false;
	s = stack_find(m, e->stack_key);
	live_remove(m, e);
	if (!s)
		return false; /* evicted meanwhile */
	b = bucket_of(m, s, usec);
	if (b >= 0)
		s->freed[b] += weight;
	s->live -= MIN(s->live, weight);
	return true;
}

bool sample_model_set_file(SampleModel *m, uint64_t seq, const char *file)
{
	LiveSeq *e = seq ? live_find(m, seq) : NULL;
	_cleanup_free_ char *frame = NULL;
	const char *frames[SAMPLE_FRAMES_MAX];
	Stack *old, *s = NULL;
	size_t n;
	int b;

	if (!e || !(old = stack_find(m, e->stack_key)))
		return false;
	if (old->n_frames > 0 && strncmp(old->frames[0], "[file] ", 7) == 0)
		return false; /* already attributed */
	if (asprintf(&frame, "[file] %s", file) < 0)
		return false;
	frames[0] = frame;
	n = MIN(old->n_frames, (size_t) SAMPLE_FRAMES_MAX - 1);
	for (size_t i = 0; i < n; i++)
		frames[i + 1] = old->frames[i];

	/* Take the sample's weight off the old stack (where the bucket still holds it) ... */
	b = bucket_of(m, old, e->usec);
	if (b >= 0 && old->epoch[b] == e->usec / m->bucket_usec) {
		old->alloc[b] -= MIN(old->alloc[b], e->weight);
		old->samples[b] -= MIN(old->samples[b], 1);
	}
	old->live -= MIN(old->live, e->weight);
	/* ... and put it on the stack with the file (old may move in the array: copy what is needed). */
	{
		_cleanup_free_ char *comm = strdup(old->comm);
		char *copies[SAMPLE_FRAMES_MAX] = {};

		if (!comm)
			return false;
		for (size_t i = 0; i < n; i++)
			if (!(copies[i] = strdup(old->frames[i])))
				goto out;
		for (size_t i = 0; i < n; i++)
			frames[i + 1] = copies[i];
		s = stack_get(m, e->tenant_id, comm, frames, n + 1, e->usec);
		if (s) {
			b = bucket_of(m, s, e->usec);
			if (b >= 0) {
				s->alloc[b] += e->weight;
				s->samples[b]++;
			}
			s->live += e->weight;
			e->stack_key = s->key;
		}
	out:
		for (size_t i = 0; i < n; i++)
			free(copies[i]);
		return s != NULL;
	}
}

void sample_model_forget_tenant(SampleModel *m, uint32_t tenant_id)
{
	for (size_t i = 0; i < m->n_stacks;) {
		if (m->stacks[i].tenant_id == tenant_id) {
			stack_clear(&m->stacks[i]);
			m->stacks[i] = m->stacks[--m->n_stacks];
		} else
			i++;
	}
	for (size_t i = 0; i < SAMPLE_LIVE_MAX; i++)
		if (m->live[i].seq != 0 && m->live[i].tenant_id == tenant_id) {
			live_remove(m, &m->live[i]);
			i--; /* a shifted entry may now sit here */
		}
}

static int64_t row_key(const SampleRow *r, SampleSort s)
{
	switch (s) {
	case SAMPLE_SORT_ALLOC:
		return (int64_t) MIN(r->alloc_bytes, (uint64_t) INT64_MAX);
	case SAMPLE_SORT_LIVE:
		return (int64_t) MIN(r->live_bytes, (uint64_t) INT64_MAX);
	default:
		return r->growth_bytes;
	}
}

static int row_cmp(const void *a, const void *b, void *userdata)
{
	const SampleRow *x = a, *y = b;
	SampleSort s = *(const SampleSort *) userdata;
	int64_t kx = row_key(x, s), ky = row_key(y, s);

	if (kx != ky)
		return kx > ky ? -1 : 1;
	if (x->alloc_bytes != y->alloc_bytes)
		return x->alloc_bytes > y->alloc_bytes ? -1 : 1;
	if (x->tenant_id != y->tenant_id)
		return x->tenant_id < y->tenant_id ? -1 : 1;
	return strcmp(x->n_frames ? x->frames[0] : "", y->n_frames ? y->frames[0] : "");
}

int sample_model_top(const SampleModel *m, uint32_t tenant_id, uint64_t window_usec, uint64_t now_usec,
		     SampleSort sort, size_t n, SampleRow **ret_rows, size_t *ret_n)
{
	uint64_t now_epoch = now_usec / m->bucket_usec, n_buckets;
	_cleanup_free_ SampleRow *rows = NULL;
	size_t k = 0;

	if (window_usec == 0 || window_usec > m->window_usec)
		return -ERANGE;
	if (sort < 0 || sort >= _SAMPLE_SORT_MAX)
		return -EINVAL;
	n_buckets = MIN((window_usec + m->bucket_usec - 1) / m->bucket_usec, (uint64_t) SAMPLE_BUCKETS);
	rows = calloc(m->n_stacks ?: 1, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_stacks; i++) {
		const Stack *s = &m->stacks[i];
		SampleRow *r = &rows[k];

		if (tenant_id != 0 && s->tenant_id != tenant_id)
			continue;
		r->tenant_id = s->tenant_id;
		r->alloc_bytes = stack_window_sum(m, s, s->alloc, now_epoch, n_buckets);
		r->freed_bytes = stack_window_sum(m, s, s->freed, now_epoch, n_buckets);
		r->samples = stack_window_sum(m, s, s->samples, now_epoch, n_buckets);
		r->growth_bytes = (int64_t) r->alloc_bytes - (int64_t) r->freed_bytes;
		r->live_bytes = s->live;
		{
			/* The data summed begin with the oldest bucket included, or the stack's first sample. */
			uint64_t begin = now_epoch + 1 >= n_buckets ? (now_epoch + 1 - n_buckets) * m->bucket_usec : 0;
			uint64_t since = MAX(s->first_usec, begin);

			r->span_usec = since < now_usec ? now_usec - since : 0;
			r->span_usec = MAX(r->span_usec, (uint64_t) USEC_PER_SEC);
		}
		r->comm = s->comm;
		r->frames = (const char *const *) s->frames;
		r->n_frames = s->n_frames;
		if (r->alloc_bytes == 0 && r->freed_bytes == 0 && r->live_bytes == 0)
			continue; /* nothing in this window */
		k++;
	}
	qsort_r(rows, k, sizeof(*rows), row_cmp, &sort);
	*ret_n = MIN(k, n);
	*ret_rows = TAKE_PTR(rows);
	return 0;
}

int64_t sample_growth_per_min(int64_t growth_bytes, uint64_t window_usec)
{
	return (int64_t) ((long double) growth_bytes * 60.0L * 1e6L / (long double) window_usec);
}

const char *sample_format_human(char buf[static 16], int64_t bytes)
{
	static const char units[] = "KMGTP";
	uint64_t a = bytes < 0 ? (uint64_t) 0 - (uint64_t) bytes : (uint64_t) bytes;
	const char *sign = bytes < 0 ? "-" : "";
	double v = (double) a;
	int u = -1;

	if (a < 1024) {
		snprintf(buf, 16, "%s%" PRIu64 "B", sign, a);
		return buf;
	}
	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, 16, v < 10.0 ? "%s%.1f%c" : "%s%.0f%c", sign, v, units[u]);
	return buf;
}

static const char *row_tenant(const SampleReport *r, const SampleRow *row)
{
	const char *name = r->tenant_name ? r->tenant_name(row->tenant_id, r->userdata) : NULL;

	return name ?: r->tenant ?: "";
}

void sample_print_json(FILE *f, const SampleReport *r)
{
	fputs("{\"tenant\":", f);
	if (r->tenant)
		json_string(f, r->tenant);
	else
		fputs("null", f);
	fprintf(f, ",\"window_seconds\":%" PRIu64 ",\"sample_bytes\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"stacks\":[",
		(uint64_t) (r->window_usec / USEC_PER_SEC), r->sample_bytes, r->dropped);
	for (size_t i = 0; i < r->n_rows; i++) {
		const SampleRow *row = &r->rows[i];

		fprintf(f, "%s{\"alloc_bytes\":%" PRIu64 ",\"freed_bytes\":%" PRIu64 ",\"growth_bytes\":%" PRIi64
			",\"live_bytes\":%" PRIu64 ",\"samples\":%" PRIu64 ",\"comm\":",
			i ? "," : "", row->alloc_bytes, row->freed_bytes, row->growth_bytes, row->live_bytes, row->samples);
		json_string(f, row->comm);
		if (!r->tenant) {
			fputs(",\"tenant\":", f);
			json_string(f, row_tenant(r, row));
		}
		fputs(",\"frames\":[", f);
		for (size_t j = 0; j < row->n_frames; j++) {
			if (j)
				fputc(',', f);
			json_string(f, row->frames[j]);
		}
		if (row->n_frames == 0)
			json_string(f, "[unknown]");
		fputs("]}", f);
	}
	fputs("]}\n", f);
}

/* Folded-stack frames may not hold ';' (the separator) and the value follows the last space. */
static void folded_frame(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(*s == ';' ? ':' : *s == '\n' ? ' ' : *s, f);
}

void sample_print_folded(FILE *f, const SampleReport *r, SampleSort sort)
{
	for (size_t i = 0; i < r->n_rows; i++) {
		const SampleRow *row = &r->rows[i];
		int64_t v = row_key(row, sort);

		if (!r->tenant) {
			folded_frame(f, row_tenant(r, row));
			fputc(';', f);
		}
		folded_frame(f, row->comm);
		for (size_t j = row->n_frames; j > 0; j--) {
			fputc(';', f);
			folded_frame(f, row->frames[j - 1]);
		}
		if (row->n_frames == 0)
			fputs(";[unknown]", f);
		fprintf(f, " %" PRIi64 "\n", v > 0 ? v : 0);
	}
}

void sample_print_table(FILE *f, const SampleReport *r, size_t leading_frames)
{
	char a[16], b[16], c[16], d[16], s[16];

	fprintf(f, "%s: top %zu stacks over %" PRIu64 "s (1 sample per %s charged, %" PRIu64 " dropped)\n",
		r->tenant ?: "all tenants", r->n_rows, (uint64_t) (r->window_usec / USEC_PER_SEC),
		sample_format_human(s, (int64_t) r->sample_bytes), r->dropped);
	fprintf(f, "%10s %8s %8s %8s %7s  %-15s %s\n", "GROWTH/MIN", "ALLOC", "FREED", "LIVE", "SAMPLES", "COMM",
		"FRAMES");
	for (size_t i = 0; i < r->n_rows; i++) {
		const SampleRow *row = &r->rows[i];

		fprintf(f, "%10s %8s %8s %8s %7" PRIu64 "  %-15s ",
			sample_format_human(a, sample_growth_per_min(row->growth_bytes, row->span_usec ?: r->window_usec)),
			sample_format_human(b, (int64_t) row->alloc_bytes), sample_format_human(c, (int64_t) row->freed_bytes),
			sample_format_human(d, (int64_t) row->live_bytes), row->samples, row->comm);
		if (!r->tenant)
			fprintf(f, "[%s] ", row_tenant(r, row));
		for (size_t j = 0; j < row->n_frames && j < leading_frames; j++)
			fprintf(f, "%s%s", j ? " <- " : "", row->frames[j]);
		if (row->n_frames == 0)
			fputs("[unknown]", f);
		fputc('\n', f);
	}
}
