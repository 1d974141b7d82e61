/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host BPF test (root, this machine's kernel): the allocation sampler (bpf/sample.bpf.c through
 * src/sample-engine.c) samples the memory this test touches in its own memcg, by bytes: the sum of
 * the weights of the samples of this process estimates the bytes it touched (within +-25 %); the user
 * stacks, unwound with libdw from the recorded registers and stack slice (this test is built -O2,
 * without frame pointers), name the function that touched the memory; a tenant with sampling off
 * gets no samples; under a storm the interval backs off and the estimate stays within +-35 %.
 * Page cache and kernel memory: a file read through the page cache is sampled with its file (FILE
 * records name its inode) and its eviction frees the samples (FREE records); creating files charges
 * slab objects (dentries, inodes), sampled as kernel memory with their kernel stack.
 * Build-ids: user samples carry their first frame as build-id + file offset, which names touch_here
 * through the file kept by build-id alone, and unwinds as for a process gone before its mappings
 * were read (rebuilt from the record's build-id frames under another pid).
 *
 * Like test-observe it only READS /proc/self/cgroup to find its memcg and changes no cgroup; other
 * processes in that memcg are sampled too and ignored here (only this pid's samples count).
 * Exit 77 (meson: SKIP) with the reason on stderr when it cannot run: not root, no BTF, BPF refused,
 * root memcg.
 */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "memcg-self.h"
#include "sample-engine.h"
#include "symbolize.h"
#include "util.h"

#define TOUCH_BYTES (64ULL << 20)

static uint64_t memcg_id;
static Logger logger;

typedef struct Seen {
	Symbolizer *sym;
	uint64_t records, ours, weight, large;
	uint64_t with_function;      /* our samples whose unwound stack names touch_here */
	uint64_t frames;             /* frames of our samples, summed */
	uint64_t resolved;           /* ... that resolved to a symbol */
	uint64_t bid_valid;          /* our user samples whose build-id frame 0 is VALID */
	uint64_t bid_named;          /* ... naming touch_here through the build-id cache */
	uint64_t bid_unwound;        /* ... and unwound through it, as a gone process, past touch_here */
	uint64_t user;               /* our samples with user state */
	uint64_t nomm_tracked;       /* our page-cache samples, remembered for their free */
	uint64_t nomm_weight;
	uint64_t kmem, kmem_weight;  /* our kernel-memory samples */
	uint64_t kmem_kstack;        /* ... with a kernel stack */
	uint64_t files, frees;       /* FILE records naming ino, FREE records, of our samples */
	uint64_t ino;                /* the inode FILE records should name */
	uint64_t seqs[8192];         /* seqs of our page-cache samples */
	size_t n_seqs;
	bool printed;
} Seen;

static bool our_seq(const Seen *seen, uint64_t seq)
{
	for (size_t i = 0; i < seen->n_seqs; i++)
		if (seen->seqs[i] == seq)
			return true;
	return false;
}

static void on_record(const void *data, size_t size, void *userdata)
{
	const struct memqosd_sample *s = data;
	Seen *seen = userdata;
	char *frames[48] = {};
	int n;

	seen->records++;
	if (s->h.kind == MEMQOSD_SAMPLE_FILE && size >= sizeof(struct memqosd_sample_file)) {
		const struct memqosd_sample_file *f = data;

		if (our_seq(seen, f->h.seq) && f->ino == seen->ino)
			seen->files++;
		return;
	}
	if (s->h.kind == MEMQOSD_SAMPLE_FREE) {
		if (our_seq(seen, s->h.seq))
			seen->frees++;
		return;
	}
	if (s->h.kind != MEMQOSD_SAMPLE_ALLOC || size < sizeof(*s) || s->pid != (uint32_t) getpid())
		return;
	seen->ours++;
	seen->weight += s->weight;
	if (s->h.flags & MEMQOSD_SAMPLEF_KMEM) {
		seen->kmem++;
		seen->kmem_weight += s->weight;
		if (s->n_kips > 0)
			seen->kmem_kstack++;
		return;
	}
	if ((s->h.flags & MEMQOSD_SAMPLEF_NO_MM) && (s->h.flags & MEMQOSD_SAMPLEF_TRACKED) &&
	    seen->n_seqs < sizeof(seen->seqs) / sizeof(seen->seqs[0])) {
		seen->nomm_tracked++;
		seen->nomm_weight += s->weight;
		seen->seqs[seen->n_seqs++] = s->h.seq;
	}
	if (s->h.flags & MEMQOSD_SAMPLEF_LARGE)
		seen->large++;
	if (!(s->h.flags & MEMQOSD_SAMPLEF_USER))
		return;
	seen->user++;
	if (!seen->sym)
		return;
	n = symbolizer_unwind_user(seen->sym, s->pid, (const uint64_t *) s->regs, s->ustack, s->ustack_len, frames, 48);
	if (n <= 0)
		return;
	seen->frames += (uint64_t) n;
	for (int i = 0; i < n; i++) {
		if (!strstr(frames[i], "[unknown]"))
			seen->resolved++;
		/* "touch_here (test-sample+0x..)" or a clone: "touch_here.constprop.0 (..)" */
		if (strncmp(frames[i], "touch_here", 10) == 0 && (frames[i][10] == ' ' || frames[i][10] == '.'))
			seen->with_function++;
	}
	symbolizer_frames_clear(frames, (size_t) n);
	if (s->n_bids > 0 && s->bids[0].status == MEMQOSD_SAMPLE_BUILD_ID_VALID) {
		char *f = NULL;
		pid_t gone = 0x3ffffff0;

		seen->bid_valid++;
		if (symbolizer_build_id_frame(seen->sym, &s->bids[0], false, &f) == 0 && strncmp(f, "touch_here", 10) == 0)
			seen->bid_named++;
		free(f);
		if (symbolizer_add_process_build_ids(seen->sym, gone, 1, s->bids, (const uint64_t *) s->uips,
						     (size_t) MIN(s->n_bids, s->n_uips)) > 0) {
			n = symbolizer_unwind_user(seen->sym, gone, (const uint64_t *) s->regs, s->ustack, s->ustack_len,
						   frames, 48);
			if (n >= 2 && strncmp(frames[0], "touch_here", 10) == 0 && !strstr(frames[1], "[unknown]"))
				seen->bid_unwound++;
			if (n > 0 && seen->bid_unwound == 1 && !seen->printed) {
				print_message("first sample rebuilt from its build-id frames (%d frames):\n", n);
				for (int i = 0; i < n; i++)
					print_message("  #%d %s\n", i, frames[i]);
			}
			symbolizer_frames_clear(frames, (size_t) MAX(n, 0));
			symbolizer_forget_process(seen->sym, gone);
		}
	}
	n = symbolizer_unwind_user(seen->sym, s->pid, (const uint64_t *) s->regs, s->ustack, s->ustack_len, frames, 48);
	if (n <= 0)
		return;
	if (!seen->printed) {
		seen->printed = true;
		print_message("first sample: weight %llu, %d user frames (ustack %u bytes):\n",
			      (unsigned long long) s->weight, n, s->ustack_len);
		for (int i = 0; i < n; i++)
			print_message("  #%d %s\n", i, frames[i]);
	}
	symbolizer_frames_clear(frames, (size_t) n);
}

/*
 * Touch fresh anonymous memory: the charges the sampler must see, from this function. The ring buffer
 * holds about 450 records of ~9 KiB: it is drained after every MiB, as the daemon's loop would.
 */
__attribute__((noinline)) static void touch_here(uint64_t bytes, SampleEngine *e)
{
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	(void) madvise(p, bytes, MADV_NOHUGEPAGE); /* page by page, as a steady leak would */
	for (uint64_t off = 0; off < bytes; off += 4096) {
		((volatile char *) p)[off] = 1;
		if ((off & ((1 << 20) - 1)) == (1 << 20) - 4096)
			(void) sample_engine_poll(e, 0);
	}
	assert_int_equal(munmap(p, bytes), 0);
}

static void drain(SampleEngine *e)
{
	while (sample_engine_poll(e, 200) > 0)
		;
}

/*
 * Sample TOUCH_BYTES of this process's charges with conf; first, if `before` is set, 4 MiB with
 * those settings (their countdowns armed), then conf set over them.
 */
static void run_after(const struct memqosd_sample_conf *before, const struct memqosd_sample_conf *conf, Seen *seen,
		      struct memqosd_sample_counters *ret)
{
	_cleanup_(sample_engine_freep) SampleEngine *e = NULL;
	_cleanup_(symbolizer_freep) Symbolizer *sym = NULL;

	assert_int_equal(symbolizer_new(&sym), 0);
	assert_int_equal(symbolizer_add_process(sym, getpid(), 0, NULL), 0);
	seen->sym = sym;
	assert_int_equal(sample_engine_new(&logger, on_record, seen, &e), 0);
	print_message("sampler flavour: %s\n", sample_engine_flavour(e));
	if (before) {
		assert_int_equal(sample_engine_set_tenant(e, 1, memcg_id, before), 0);
		touch_here(4 << 20, e);
		drain(e);
		*seen = (Seen) { .sym = sym, .ino = seen->ino };
	}
	assert_int_equal(sample_engine_set_tenant(e, 1, memcg_id, conf), 0);
	touch_here(TOUCH_BYTES, e);
	drain(e);
	assert_int_equal(sample_engine_counters(e, ret), 0);
	seen->sym = NULL;
}

static void run(const struct memqosd_sample_conf *conf, Seen *seen, struct memqosd_sample_counters *ret)
{
	run_after(NULL, conf, seen, ret);
}

static void test_sample_bytes(void **state)
{
	struct memqosd_sample_conf conf = {
		.sample_bytes = 256 << 10, .large_bytes = 0, .enabled = 1, .max_per_sec = 100000,
	};
	struct memqosd_sample_counters c;
	Seen seen = {};
	double ratio;

	(void) state;
	run(&conf, &seen, &c);
	ratio = (double) seen.weight / (double) TOUCH_BYTES;
	print_message("touched %llu MiB: %llu samples of this pid (of %llu records), estimate %.1f MiB (%.2fx); "
		      "%llu of %llu stacks name touch_here; frames %llu, resolved %llu; counters: samples %llu "
		      "dropped %llu backoffs %llu\n",
		      (unsigned long long) (TOUCH_BYTES >> 20), (unsigned long long) seen.ours,
		      (unsigned long long) seen.records, seen.weight / 1048576.0, ratio,
		      (unsigned long long) seen.with_function, (unsigned long long) seen.user,
		      (unsigned long long) seen.frames, (unsigned long long) seen.resolved,
		      (unsigned long long) c.samples, (unsigned long long) c.dropped, (unsigned long long) c.backoffs);
	assert_true(seen.ours >= 100);
	assert_true(ratio > 0.75 && ratio < 1.25);
	assert_int_equal(c.dropped, 0);
	assert_int_equal(seen.large, 0);
	/*
	 * The tenant's charge counters (other processes of the memcg add to them): most of them live in
	 * each CPU's cached countdown (struct memqosd_sample_cpu), stored back only when another tenant's
	 * memcg is charged there, so the loader must add those copies up too.
	 */
	print_message("charge counters: %llu charges, %llu bytes\n", (unsigned long long) c.charges,
		      (unsigned long long) c.charged_bytes);
	assert_true(c.charged_bytes >= TOUCH_BYTES * 9 / 10);
	assert_true(c.charges >= (TOUCH_BYTES / 4096) * 9 / 10);
	/* Stacks: nearly every sample of ours unwinds through touch_here. */
	assert_true(seen.user >= seen.ours * 9 / 10);
	assert_true(seen.with_function >= seen.user * 9 / 10);
	/* Build-ids: the kernel gives frame 0's nearly always; it names and unwinds without the mappings. */
	print_message("build-id frames: %llu of %llu user samples VALID, %llu named touch_here, %llu unwound past it\n",
		      (unsigned long long) seen.bid_valid, (unsigned long long) seen.user,
		      (unsigned long long) seen.bid_named, (unsigned long long) seen.bid_unwound);
	assert_true(seen.bid_valid >= seen.user * 9 / 10);
	assert_true(seen.bid_named >= seen.bid_valid * 9 / 10);
	assert_true(seen.bid_unwound >= seen.bid_valid * 9 / 10);
}

/*
 * A sample size changed from 1T to 256K: the countdowns drawn at 1T (up to terabytes) must not keep
 * the new size from sampling: the estimate is as good as with 256K from the start.
 */
static void test_sample_size_change(void **state)
{
	struct memqosd_sample_conf huge = { .sample_bytes = 1ULL << 40, .enabled = 1, .max_per_sec = 100000 };
	struct memqosd_sample_conf conf = { .sample_bytes = 256 << 10, .enabled = 1, .max_per_sec = 100000 };
	struct memqosd_sample_counters c;
	Seen seen = {};
	double ratio;

	(void) state;
	run_after(&huge, &conf, &seen, &c);
	ratio = (double) (seen.weight - seen.kmem_weight) / (double) TOUCH_BYTES;
	print_message("1T then 256K: %llu samples of this pid, estimate %.2fx of %llu MiB\n",
		      (unsigned long long) seen.ours, ratio, (unsigned long long) (TOUCH_BYTES >> 20));
	assert_true(seen.ours >= 100);
	assert_true(ratio > 0.75 && ratio < 1.25);
}

static void test_sample_off(void **state)
{
	struct memqosd_sample_conf conf = { .sample_bytes = 4096, .enabled = 0, .max_per_sec = 100000 };
	struct memqosd_sample_counters c;
	Seen seen = {};

	(void) state;
	run(&conf, &seen, &c);
	assert_int_equal(seen.ours, 0);
	assert_int_equal(c.samples, 0);
}

static void test_sample_large(void **state)
{
	/* Every charge is "large" (>= 4 KiB): each is recorded at its own size, none sampled. */
	struct memqosd_sample_conf conf = { .sample_bytes = 1 << 30, .large_bytes = 4096, .enabled = 1,
					    .max_per_sec = 100000 };
	struct memqosd_sample_counters c;
	Seen seen = {};

	(void) state;
	run(&conf, &seen, &c);
	print_message("large: %llu records of this pid, %llu bytes, dropped %llu\n", (unsigned long long) seen.ours,
		      (unsigned long long) seen.weight, (unsigned long long) c.dropped);
	/* Kernel-memory records of this pid (page tables, slab flushes of a page or more) are large
	 * too but are counted apart: every other record of ours is a large one. */
	assert_int_equal(seen.large, seen.ours - seen.kmem);
	/* Every page arrives (the ring is drained every MiB); should other processes of this memcg fill
	 * the ring meanwhile, what did not fit is counted as dropped. */
	assert_true(seen.ours > seen.kmem);
	assert_true(seen.weight - seen.kmem_weight + c.dropped * 4096 >= TOUCH_BYTES);
	if (c.dropped == 0)
		assert_int_equal(seen.weight - seen.kmem_weight, TOUCH_BYTES);
}

static void test_sample_backoff(void **state)
{
	/* One sample per page asked, at most 200 per second per CPU: the interval must grow. */
	struct memqosd_sample_conf conf = { .sample_bytes = 4096, .enabled = 1, .max_per_sec = 200 };
	struct memqosd_sample_counters c;
	Seen seen = {};
	double ratio;

	(void) state;
	run(&conf, &seen, &c);
	/* the anonymous pages touched; kernel memory of this pid is sampled too, and counted apart */
	ratio = (double) (seen.weight - seen.kmem_weight) / (double) TOUCH_BYTES;
	print_message("back-off: %llu samples of this pid (%llu kernel memory), estimate %.2fx, backoffs %llu, dropped %llu\n",
		      (unsigned long long) seen.ours, (unsigned long long) seen.kmem, ratio,
		      (unsigned long long) c.backoffs, (unsigned long long) c.dropped);
	assert_true(c.backoffs >= 1);
	assert_true(seen.ours < 16384 / 4);
	/* The memcg is shared with whatever else runs on this host (every process's kernel memory is
	 * sampled at this rate too): a few of its records may not fit the ring, not many. */
	assert_true(c.dropped * 10 <= seen.ours);
	assert_true(ratio > 0.65 && ratio < 1.35);
}

/* A 32 MiB file of our own, written and synced, not in the page cache; its inode in *ret_ino. */
static int cold_file(char *path, uint64_t *ret_ino)
{
	static char buf[1 << 20];
	struct stat st;
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	memset(buf, 0x5a, sizeof(buf));
	for (int i = 0; i < 32; i++)
		assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t) sizeof(buf));
	assert_int_equal(fdatasync(fd), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	assert_int_equal(fstat(fd, &st), 0);
	*ret_ino = st.st_ino;
	return fd;
}

__attribute__((noinline)) static void read_here(int fd, SampleEngine *e)
{
	static char buf[1 << 20];

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while (read(fd, buf, sizeof(buf)) > 0)
		(void) sample_engine_poll(e, 0);
}

static void test_sample_page_cache(void **state)
{
	struct memqosd_sample_conf conf = { .sample_bytes = 256 << 10, .enabled = 1, .max_per_sec = 100000 };
	_cleanup_(sample_engine_freep) SampleEngine *e = NULL;
	char path[] = "/var/tmp/memqosd-test-sample.XXXXXX";
	static Seen seen;
	double ratio;
	int fd;

	(void) state;
	memset(&seen, 0, sizeof(seen));
	fd = cold_file(path, &seen.ino);
	assert_int_equal(sample_engine_new(&logger, on_record, &seen, &e), 0);
	print_message("sampler flavour: %s\n", sample_engine_flavour(e));
	assert_int_equal(sample_engine_set_tenant(e, 1, memcg_id, &conf), 0);
	read_here(fd, e);
	drain(e);
	ratio = (double) seen.nomm_weight / (32 << 20);
	print_message("read 32 MiB through the page cache: %llu page-cache samples of this pid (%.2fx of the file), "
		      "%llu FILE records naming the file\n", (unsigned long long) seen.nomm_tracked, ratio,
		      (unsigned long long) seen.files);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	drain(e);
	print_message("evicted: %llu FREE records of those samples\n", (unsigned long long) seen.frees);
	close(fd);
	unlink(path);
	assert_true(ratio > 0.75 && ratio < 1.5); /* readahead may read past the end: a little more */
	assert_true(seen.files >= seen.nomm_tracked * 9 / 10);
	assert_true(seen.frees >= seen.nomm_tracked * 9 / 10);
}

__attribute__((noinline)) static void create_files(const char *dir, int n, SampleEngine *e)
{
	char path[4200];

	for (int i = 0; i < n; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
		assert_true(fd >= 0);
		close(fd);
		if (i % 256 == 0)
			(void) sample_engine_poll(e, 0);
	}
}

static void test_sample_kmem(void **state)
{
	/* Every file costs a dentry (192 bytes) and an inode (hundreds of bytes), both accounted slab. */
	struct memqosd_sample_conf conf = { .sample_bytes = 64 << 10, .enabled = 1, .max_per_sec = 100000 };
	_cleanup_(sample_engine_freep) SampleEngine *e = NULL;
	char dir[] = "/var/tmp/memqosd-test-kmem.XXXXXX", path[4200];
	const int n = 20000;
	static Seen seen;

	(void) state;
	memset(&seen, 0, sizeof(seen));
	assert_non_null(mkdtemp(dir));
	assert_int_equal(sample_engine_new(&logger, on_record, &seen, &e), 0);
	print_message("sampler flavour: %s\n", sample_engine_flavour(e));
	assert_int_equal(sample_engine_set_tenant(e, 1, memcg_id, &conf), 0);
	struct memqosd_sample_counters c0, c1;

	assert_int_equal(sample_engine_counters(e, &c0), 0);
	create_files(dir, n, e);
	drain(e);
	assert_int_equal(sample_engine_counters(e, &c1), 0);
	print_message("charges seen meanwhile (this memcg, every kind): %llu, %llu bytes; samples %llu, records %llu, ours %llu\n",
		      (unsigned long long) (c1.charges - c0.charges),
		      (unsigned long long) (c1.charged_bytes - c0.charged_bytes), (unsigned long long) (c1.samples - c0.samples), (unsigned long long) seen.records, (unsigned long long) seen.ours);
	print_message("%d files created: %llu kernel-memory samples of this pid (%llu with a kernel stack), "
		      "%.1f MiB (%.0f bytes per file)\n", n, (unsigned long long) seen.kmem,
		      (unsigned long long) seen.kmem_kstack, seen.kmem_weight / 1048576.0,
		      (double) seen.kmem_weight / n);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		unlink(path);
	}
	rmdir(dir);
	assert_true(seen.kmem >= 20);
	assert_int_equal(seen.kmem_kstack, seen.kmem);
	/* at least the dentries, at most a page per file */
	assert_true(seen.kmem_weight >= (uint64_t) n * 192 / 2);
	assert_true(seen.kmem_weight <= (uint64_t) n * 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_bytes),
		cmocka_unit_test(test_sample_size_change),
		cmocka_unit_test(test_sample_off),
		cmocka_unit_test(test_sample_large),
		cmocka_unit_test(test_sample_backoff),
		cmocka_unit_test(test_sample_page_cache),
		cmocka_unit_test(test_sample_kmem),
	};
	_cleanup_(sample_engine_freep) SampleEngine *probe = NULL;
	char path[4096];
	int r;

	logger_init(&logger, LOG_INFO);
	if (geteuid() != 0) {
		fprintf(stderr, "\n*** SKIP test-sample: needs root (CAP_BPF, CAP_PERFMON) to load BPF ***\n\n");
		return SKIP_EXIT;
	}
	r = own_memcg_id(&memcg_id, path, sizeof(path));
	if (r == -ENOENT) {
		fprintf(stderr, "\n*** SKIP test-sample: this process is in the root memcg (or no memory controller) ***\n\n");
		return SKIP_EXIT;
	}
	if (r < 0) {
		fprintf(stderr, "test-sample: cannot find own memcg: %s\n", strerror(-r));
		return 1;
	}
	fprintf(stderr, "test-sample: charges go to memcg %s (cgroup id %llu)\n", path, (unsigned long long) memcg_id);
	r = sample_engine_new(&logger, NULL, NULL, &probe);
	r = bpf_load_verdict("test-sample", "the sampler", r);
	if (r >= 0)
		return r;
	probe = sample_engine_free(probe);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
