/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sampler's charge-path cost on the RUNNING kernel (issue 10), in whatever flavour the sampler
 * loads there: fentry in the patched 6.12 guest (run it there with tests/vm/run --icount 0 and
 * --guest-cgroup: the guest's clock then counts instructions), tracepoints on this project's 6.18
 * build host (it refuses every fentry/fexit program: EPERM at load, said at start), real CPU. On the
 * host no cgroup is created, moved or written: the sampler is pointed at the memcg this process
 * already charges (whatever the host's hierarchy), read from /proc/self/cgroup.
 *
 * One pass faults in M MiB of anonymous memory one page at a time (MADV_NOHUGEPAGE: every page one
 * folio charge) and drops it with MADV_DONTNEED (one batched uncharge per 31 folios or fewer); the
 * figure is this thread's CPU time per page over K passes (CLOCK_THREAD_CPUTIME_ID: the fault and
 * the charge in the kernel count, time spent descheduled by the other tenants of a loaded 2-core
 * host does not), printed as pages per CPU second. Modes, all measured in every round, the order
 * rotating from round to round:
 *   off     no program attached (sampling off: what memqosd does then)
 *   floor   an empty BPF program (return 0) at every hook the sampler's flavour attaches to and this
 *           kernel has: the hooks' own cost (BPF trampolines or tracepoints), the least any BPF
 *           program there costs
 *   never   the sampler, this memcg sampled with SampleSize=1T: every program runs, no sample is
 *           taken (the per-charge work of the programs, without the samples')
 *   1M      the sampler, this memcg sampled at the defaults (SampleSize=1M, LargeAllocation=256K,
 *           MaxSamplesPerSec=5000); its records drained between passes (the daemon's work, not
 *           the charge path's: bench/sample/sample-cpu measures that)
 * The sampler is loaded once and attached only for its modes (detached otherwise: as good as not
 * loaded, no program runs); attaching happens before a mode's passes, outside the timed part. Per
 * round the ratios 1M/off, floor/off and never/off (this thread's pages per CPU second) pair
 * measurements seconds apart, so drift between rounds cancels out; their median and quartiles are
 * the figures. The target is the
 * issue's: 1M/off >= 0.97 (printed "met" or "MISSED"; exit 0 either way: a benchmark, not a test).
 *
 * Afterwards, with the kernel's BPF run-time statistics on (BPF_ENABLE_STATS; they add two clock
 * reads per run, so they are not on during the timed rounds), S passes per mode give the runs and
 * run time per page of every program: what the sampler's programs cost per run inside the hook,
 * against the empty programs' (which is the statistics' own cost).
 *
 * Other processes of the same memcg charge it too: their charges run the programs (and may be
 * sampled), in their own time, not in this thread's.
 *
 * --guest-cgroup NAME (only inside a tests/vm/run guest, MEMQOSD_VM=1, cgroup2 at /sys/fs/cgroup,
 * where the command starts in the root cgroup): creates /sys/fs/cgroup/NAME, moves this process
 * there and samples it; refused anywhere else (never a host cgroup).
 *
 *   sample-host [--rounds R] [--mib M] [--iters K] [--stats-passes S] [--guest-cgroup NAME] [--debug]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "prog-stats.h"
#include "sample-engine.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../../tests/host/memcg-self.h"
#pragma GCC diagnostic pop

#define MODES 4
#define MAX_ROUNDS 1000
#define TARGET 0.97
enum { MODE_OFF, MODE_FLOOR, MODE_NEVER, MODE_1M };
static const char *const mode_name[MODES] = { "off", "floor", "never", "1M" };

/*
 * The hooks of the sampler's two flavours (bpf/sample.bpf.c), as each attaches to them: the floor
 * mode puts an empty program at those of the flavour the sampler loaded in.
 */
typedef struct Hook {
	const char *btf_name; /* a BTF function, or the typedef btf_trace_<tracepoint> */
	const char *prog;     /* the empty program's name (< BPF_OBJ_NAME_LEN) */
	enum bpf_attach_type type;
} Hook;

static const Hook fentry_hooks[] = {
	{ "__mem_cgroup_charge", "fl_charge", BPF_TRACE_FEXIT },
	{ "__mem_cgroup_uncharge", "fl_uncharge", BPF_TRACE_FENTRY },
	{ "__mem_cgroup_uncharge_folios", "fl_uncharge_fol", BPF_TRACE_FENTRY },
	{ "__memcg_kmem_charge_page", "fl_kmem_page", BPF_TRACE_FEXIT },
	{ "__memcg_kmem_uncharge_page", "fl_kmem_unchg", BPF_TRACE_FENTRY },
	{ "__memcg_slab_post_alloc_hook", "fl_slab", BPF_TRACE_FEXIT },
	{ "__memcg_slab_free_hook", "fl_slab_free", BPF_TRACE_FENTRY },
	{ "btf_trace_mm_filemap_add_to_page_cache", "fl_file", BPF_TRACE_RAW_TP },
};
static const Hook tp_hooks[] = {
	{ "btf_trace_mod_memcg_lruvec_state", "fl_tp_charge", BPF_TRACE_RAW_TP },
	{ "btf_trace_mm_filemap_delete_from_page_cache", "fl_tp_file_free", BPF_TRACE_RAW_TP },
	{ "btf_trace_mm_filemap_add_to_page_cache", "fl_file", BPF_TRACE_RAW_TP },
};
#define MAX_HOOKS (sizeof(fentry_hooks) / sizeof(fentry_hooks[0]))

/* The empty programs of the floor mode: a program fd and a link fd per hook (-1: not there). */
typedef struct Floor {
	int prog[MAX_HOOKS], link[MAX_HOOKS];
	int attached;
} Floor;

static void floor_init(Floor *f)
{
	for (size_t i = 0; i < MAX_HOOKS; i++)
		f->prog[i] = f->link[i] = -1;
	f->attached = 0;
}

static void floor_free(Floor *f)
{
	for (size_t i = 0; i < MAX_HOOKS; i++) {
		if (f->link[i] >= 0)
			close(f->link[i]);
		if (f->prog[i] >= 0)
			close(f->prog[i]);
	}
	floor_init(f);
}

/*
 * Load and attach "return 0" at every hook of hooks[0..n) the kernel has (BTF); < 0 if the first
 * (the charge hook) fails.
 */
static int floor_attach(Floor *f, const struct btf *btf, const Hook *hooks, size_t n)
{
	static const struct bpf_insn ret0[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	for (size_t i = 0; i < n; i++) {
		bool tp = hooks[i].type == BPF_TRACE_RAW_TP;
		int id = btf__find_by_name_kind(btf, hooks[i].btf_name, tp ? BTF_KIND_TYPEDEF : BTF_KIND_FUNC);
		LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = hooks[i].type,
			    .attach_btf_id = id > 0 ? (uint32_t) id : 0);

		if (id <= 0)
			continue;
		f->prog[i] = bpf_prog_load(BPF_PROG_TYPE_TRACING, hooks[i].prog, "GPL", ret0, 2, &o);
		if (f->prog[i] >= 0)
			f->link[i] = bpf_link_create(f->prog[i], 0, hooks[i].type, NULL);
		if (f->prog[i] < 0 || f->link[i] < 0) {
			int r = f->prog[i] < 0 ? f->prog[i] : f->link[i];

			fprintf(stderr, "sample-host: the empty program at %s: %s\n", hooks[i].btf_name, strerror(-r));
			if (i == 0) {
				floor_free(f);
				return r;
			}
			continue;
		}
		f->attached++;
	}
	return 0;
}

/* --guest-cgroup: a cgroup of this process's own, in a tests/vm/run guest only. */
static int guest_cgroup(const char *name, uint64_t *ret, char *path, size_t n)
{
	const char *vm = getenv("MEMQOSD_VM");
	struct statfs sfs;
	struct stat st;
	char pid[32];
	int fd;

	if (!vm || strcmp(vm, "1") != 0 || statfs("/sys/fs/cgroup", &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC ||
	    !*name || strchr(name, '/') || name[0] == '.') {
		fprintf(stderr, "sample-host: --guest-cgroup only in a tests/vm/run guest (cgroup2), with a plain name\n");
		return -EPERM;
	}
	(void) snprintf(path, n, "/sys/fs/cgroup/%s", name);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return negative_errno();
	(void) snprintf(pid, sizeof(pid), "%d", (int) getpid());
	{
		char procs[4200];

		(void) snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
		fd = open(procs, O_WRONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return negative_errno();
	if (write(fd, pid, strlen(pid)) < 0) {
		int r = negative_errno();

		close(fd);
		return r;
	}
	close(fd);
	if (stat(path, &st) < 0)
		return negative_errno();
	*ret = st.st_ino;
	return 0;
}

static void count(const void *record, size_t size, void *userdata)
{
	(void) record;
	(void) size;
	(*(uint64_t *) userdata)++;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/* K passes over p (M MiB); the records drained between passes. Returns this thread's CPU ns. */
static uint64_t passes(char *p, size_t bytes, int iters, SampleEngine *e)
{
	uint64_t ns = 0;

	for (int i = 0; i < iters; i++) {
		uint64_t t0 = cpu_ns();

		for (size_t off = 0; off < bytes; off += 4096)
			((volatile char *) p)[off] = 1;
		(void) madvise(p, bytes, MADV_DONTNEED);
		ns += cpu_ns() - t0;
		if (e)
			while (sample_engine_poll(e, 0) > 0)
				;
	}
	return ns;
}

/*
 * Set mode m up: the sampler (loaded once, e) attached with this mode's settings (never, 1M), or
 * the empty programs attached (floor, into *f); nothing for off.
 */
static int mode_setup(int m, SampleEngine *e, const struct btf *btf, bool fentry, uint64_t memcg, Floor *f)
{
	struct memqosd_sample_conf conf = {
		.sample_bytes = m == MODE_NEVER ? 1ULL << 40 : 1 << 20, .large_bytes = 256 << 10, .enabled = 1,
		.max_per_sec = 5000,
	};
	int r;

	floor_init(f);
	if (m == MODE_FLOOR) /* floor_attach() says what failed */
		return fentry ? floor_attach(f, btf, fentry_hooks, sizeof(fentry_hooks) / sizeof(fentry_hooks[0]))
			      : floor_attach(f, btf, tp_hooks, sizeof(tp_hooks) / sizeof(tp_hooks[0]));
	if (m != MODE_1M && m != MODE_NEVER)
		return 0;
	/* One tenant: a change of its sample size disarms its countdowns (never's gap is about 1T). */
	r = sample_engine_set_tenant(e, 1, memcg, &conf);
	if (r >= 0)
		r = sample_engine_set_attached(e, true);
	if (r < 0)
		fprintf(stderr, "sample-host: cannot set up mode %s: %s\n", mode_name[m], strerror(-r));
	return r;
}

static void mode_teardown(SampleEngine *e, Floor *f)
{
	(void) sample_engine_set_attached(e, false);
	while (sample_engine_poll(e, 0) > 0)
		;
	floor_free(f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "mib", required_argument, NULL, 'm' },
		{ "iters", required_argument, NULL, 'i' },
		{ "stats-passes", required_argument, NULL, 's' },
		{ "guest-cgroup", required_argument, NULL, 'g' },
		{ "debug", no_argument, NULL, 'd' },
		{}
	};
	const char *cgroup = NULL;
	static double rate[MODES][MAX_ROUNDS], ratio[3][MAX_ROUNDS], tmp[MAX_ROUNDS];
	static ProgStats before, after, tot[MODES];
	uint64_t stat_samples = 0;
	double bpf_ns[MODES] = {};
	int rounds = 40, iters = 4, stats_passes = 8, level = LOG_WARNING, c, r, stats_fd;
	size_t mib = 32, bytes;
	uint64_t memcg = 0, records = 0, samples = 0, dropped = 0;
	double pages;
	bool fentry;
	struct btf *btf;
	_cleanup_(sample_engine_freep) SampleEngine *e = NULL;
	char path[4096], *p;
	Logger log;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		switch (c) {
		case 'r': rounds = atoi(optarg); break;
		case 'm': mib = (size_t) atoi(optarg); break;
		case 'i': iters = atoi(optarg); break;
		case 's': stats_passes = atoi(optarg); break;
		case 'g': cgroup = optarg; break;
		case 'd': level = LOG_DEBUG; break;
		default:
			fprintf(stderr, "usage: %s [--rounds R] [--mib M] [--iters K] [--stats-passes S] [--guest-cgroup NAME]"
				" [--debug]\n",
				argv[0]);
			return 2;
		}
	if (rounds < 2 || rounds > MAX_ROUNDS || mib == 0 || iters < 1 || stats_passes < 0) {
		fprintf(stderr, "sample-host: --rounds 2..%d, --mib >= 1, --iters >= 1, --stats-passes >= 0\n",
			MAX_ROUNDS);
		return 2;
	}
	logger_init(&log, level);
	r = cgroup ? guest_cgroup(cgroup, &memcg, path, sizeof(path)) : own_memcg_id(&memcg, path, sizeof(path));
	if (r < 0) {
		fprintf(stderr, "sample-host: no memcg of this process to sample: %s\n", strerror(-r));
		return 1;
	}
	btf = btf__load_vmlinux_btf();
	if (!btf) {
		fprintf(stderr, "sample-host: no kernel BTF: %m\n");
		return 1;
	}
	r = sample_engine_new(&log, count, &records, &e);
	if (r < 0) {
		fprintf(stderr, "sample-host: cannot load the sampler: %s\n", strerror(-r));
		return 1;
	}
	(void) sample_engine_set_attached(e, false);
	fentry = strcmp(sample_engine_flavour(e), "fentry") == 0;
	{
		Floor f;

		floor_init(&f);
		if (!fentry && floor_attach(&f, btf, fentry_hooks, 1) < 0)
			printf("sample-host: the sampler loads in its TRACEPOINT flavour here: this kernel refuses an"
			       " fexit program at __mem_cgroup_charge (above): the guest's fentry programs cannot be"
			       " measured on this kernel\n");
		floor_free(&f);
	}
	bytes = mib << 20;
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "sample-host: mmap: %m\n");
		return 1;
	}
	(void) madvise(p, bytes, MADV_NOHUGEPAGE);
	pages = (double) (bytes / 4096) * iters;
	printf("sample-host: the sampler's %s flavour, memcg %s; %d rounds of off/floor/never/1M (order rotating),"
	       " %zu MiB x %d fault+MADV_DONTNEED passes each\n", fentry ? "fentry" : "tracepoint", path, rounds, mib, iters);

	(void) passes(p, bytes, iters, NULL); /* warm up: page tables, the allocator's per-CPU lists */
	for (int round = 0; round < rounds; round++) {
		for (int j = 0; j < MODES; j++) {
			int m = (round + j) % MODES;
			struct memqosd_sample_counters k0 = {}, k = {};
			Floor f;
			uint64_t ns;

			(void) sample_engine_counters(e, &k0);
			if (mode_setup(m, e, btf, fentry, memcg, &f) < 0)
				return 1;
			if (m == MODE_FLOOR && round == 0)
				printf("sample-host: floor: %d empty programs attached (the %s flavour's hooks)\n", f.attached,
				       fentry ? "fentry" : "tracepoint");
			ns = passes(p, bytes, iters, e);
			rate[m][round] = pages * 1e9 / (double) ns;
			mode_teardown(e, &f);
			if (m == MODE_1M && sample_engine_counters(e, &k) == 0) {
				samples += k.samples - k0.samples;
				dropped += k.dropped - k0.dropped;
			}
			printf("RESULT host %s %d %.0f\n", mode_name[m], round, rate[m][round]);
		}
		ratio[0][round] = rate[MODE_1M][round] / rate[MODE_OFF][round];
		ratio[1][round] = rate[MODE_FLOOR][round] / rate[MODE_OFF][round];
		ratio[2][round] = rate[MODE_NEVER][round] / rate[MODE_OFF][round];
		printf("PAIR host %d 1M/off=%.4f floor/off=%.4f never/off=%.4f\n", round, ratio[0][round], ratio[1][round],
		       ratio[2][round]);
	}

	printf("\nthis thread's pages per CPU second (%.0f pages per mode and round):\n", pages);
	printf("  %-6s %12s %12s %12s %12s\n", "mode", "p25", "median", "p75", "ns/page");
	for (int m = 0; m < MODES; m++) {
		double med;

		memcpy(tmp, rate[m], sizeof(double) * (size_t) rounds);
		med = quantile(tmp, rounds, 0.5);
		printf("  %-6s %12.0f %12.0f %12.0f %12.1f\n", mode_name[m], quantile(tmp, rounds, 0.25), med,
		       quantile(tmp, rounds, 0.75), 1e9 / med);
	}
	for (int i = 0; i < 3; i++) {
		static const char *const what[3] = { "1M/off", "floor/off", "never/off" };
		double med;

		memcpy(tmp, ratio[i], sizeof(double) * (size_t) rounds);
		med = quantile(tmp, rounds, 0.5);
		printf("per-round ratio %-9s median %.4f (quartiles %.4f .. %.4f, range %.4f .. %.4f)%s\n",
		       what[i], med, quantile(tmp, rounds, 0.25), quantile(tmp, rounds, 0.75),
		       tmp[0], tmp[rounds - 1],
		       i ? "" : med >= TARGET ? ": target >= 0.97 met" : ": target >= 0.97 MISSED");
	}
	printf("sampler at 1M: %llu samples (%.5f per page of this thread), %llu dropped, %llu records read\n",
	       (unsigned long long) samples, samples / (pages * rounds), (unsigned long long) dropped,
	       (unsigned long long) records);
	{
		double med[MODES];

		for (int m = 0; m < MODES; m++) {
			memcpy(tmp, rate[m], sizeof(double) * (size_t) rounds);
			med[m] = 1e9 / quantile(tmp, rounds, 0.5);
		}
		printf("added CPU per page (medians): hook %.1f ns (floor - off), programs %.1f ns (never - floor),"
		       " samples %.1f ns (1M - never: %.1f us per sample)\n", med[MODE_FLOOR] - med[MODE_OFF],
		       med[MODE_NEVER] - med[MODE_FLOOR], med[MODE_1M] - med[MODE_NEVER],
		       samples ? (med[MODE_1M] - med[MODE_NEVER]) / 1e3 / (samples / (pages * rounds)) : 0.0);
	}

	if (stats_passes == 0)
		goto out;
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0) {
		fprintf(stderr, "sample-host: cannot enable BPF statistics: %s\n", strerror(-stats_fd));
		return 1;
	}
	for (int m = MODE_FLOOR; m < MODES; m++) {
		struct memqosd_sample_counters k0 = {}, k = {};
		Floor f;

		(void) sample_engine_counters(e, &k0);
		if (mode_setup(m, e, btf, fentry, memcg, &f) < 0)
			return 1;
		prog_stats(&before);
		(void) passes(p, bytes, stats_passes, e);
		prog_stats(&after);
		prog_stats_add(&tot[m], &before, &after);
		mode_teardown(e, &f);
		if (m == MODE_1M && sample_engine_counters(e, &k) == 0)
			stat_samples = k.samples - k0.samples;
	}
	close(stats_fd);
	printf("\nBPF run time (statistics on, %d passes per mode; runs include other processes of the memcg):\n",
	       stats_passes);
	for (int m = MODE_FLOOR; m < MODES; m++) {
		double spages = (double) (bytes / 4096) * stats_passes, runs = 0, ns = 0;

		bpf_ns[m] = 0;
		for (int j = 0; j < tot[m].n; j++) {
			if (!tot[m].cnt[j])
				continue;
			if (strncmp(tot[m].name[j], m == MODE_FLOOR ? "fl_" : "sample_", m == MODE_FLOOR ? 3 : 7) != 0)
				continue;
			printf("  %-5s PROG %-22s %8.3f runs/page %8.1f ns/run %8.1f ns/page\n", mode_name[m],
			       tot[m].name[j], tot[m].cnt[j] / spages, (double) tot[m].ns[j] / (double) tot[m].cnt[j],
			       (double) tot[m].ns[j] / spages);
			runs += (double) tot[m].cnt[j];
			ns += (double) tot[m].ns[j];
		}
		printf("  %-5s all programs: %.3f runs/page, %.1f ns/page\n", mode_name[m], runs / spages, ns / spages);
		bpf_ns[m] = ns;
	}
	if (stat_samples)
		printf("  BPF run time per sample: %.1f us ((1M - never) / %llu samples)\n",
		       (bpf_ns[MODE_1M] - bpf_ns[MODE_NEVER]) / 1e3 / (double) stat_samples,
		       (unsigned long long) stat_samples);
out:
	btf__free(btf);
	(void) munmap(p, bytes);
	return 0;
}
