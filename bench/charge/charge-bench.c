/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * charge-bench: memcg charge-path microbenchmark, run inside the guest (see bench/charge/run).
 *
 *   charge-bench [--rounds R] [--mib M] [--iters K] [--label L]
 *
 * A worker in a fresh cgroup (no limits) faults in M MiB of anonymous memory one page at a time
 * and drops it again with MADV_DONTNEED, K times; every page is one charge and one uncharge. The
 * figure is pages per second over those K passes. Each round measures every mode once, in an order
 * rotated per round so drift hits all modes alike:
 *   unattached      no memcg_ops anywhere (static key off)  [the only mode without memcg_ops]
 *   noop            ops_noop attached to the cgroup: every hook, each empty
 *   throttle-idle   ops_throttle attached: counting charge hook + high_delay floor, never over high
 *   throttle-map    ops_map attached: the same with the parameters in a hash map of 1,000 entries
 *                   keyed by cgroup id, looked up on every call (memqosd's priority policy since
 *                   issue 12) instead of rodata
 *   map-1000        the same program attached as 1,000 tenants have it: one link each to the
 *                   worker's cgroup and to 999 sibling cgroups, the map's 1,000 entries their
 *                   real cgroup ids (issue 12: the charge path with 1,000 tenants attached)
 *   key-on          ops_noop attached to a sibling cgroup, none to the worker's: the static key is
 *                   on, the worker's memcg has no policy (issue 7)
 * and, with the stock missing on every charge (issue 7): 4 workers in 4 cgroups (M/4 MiB each),
 * all on one CPU, each yielding the CPU after every page, so consecutive charges on that CPU are
 * for different memcgs and none is served from the per-CPU charge stock (each refills it for its
 * own memcg, draining the previous one's); the figure is their pages per second together:
 *   miss-unattached no memcg_ops anywhere
 *   miss-noop       ops_noop attached to the parent of the 4 cgroups (every charge calls it)
 * unattached and miss-unattached also run on a kernel without memcg_ops (the unpatched baseline).
 * Output: "RESULT <label> <mode> <round> <pages/s>" lines and one "SUMMARY <label> <mode> median=..."
 * line per mode, ratios ("miss-noop" to "miss-unattached", the others to "unattached") and the
 * cost of a page in ns ("COST <label> <mode> <ns>").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "cgutil.h"
#include "ops-link.h"
#include "charge.skel.h"

#define MiB (1024ull * 1024)
#define MAX_ROUNDS 1000

/* The first MODES_PLAIN modes need no memcg_ops: they run on every kernel. */
enum mode {
	MODE_UNATTACHED, MODE_MISS, MODE_NOOP, MODE_THROTTLE, MODE_MAP, MODE_MAP1K, MODE_KEYON, MODE_MISS_NOOP,
	MODE_MAX,
	MODES_PLAIN = MODE_NOOP,
};
static const char *const mode_name[MODE_MAX] = { "unattached", "miss-unattached", "noop", "throttle-idle",
						 "throttle-map", "map-1000", "key-on", "miss-noop" };

#define MISS_CGROUPS 4

#define TENANTS 1000

/* The shape of struct memqosd_priority_params (charge.bpf.c's struct bench_params). */
struct bench_params {
	__u64 cgroup_id;
	__u32 tenant_id;
	__s32 priority;
	__u64 protect_pages;
	__u64 delay_floor_jiffies;
	__u32 extra_reclaim_pages;
	__u32 near_max_permille;
};

/* 1,000 entries as 1,000 tenants would have them: the worker's cgroup (ids[0]) and 999 others. */
static int fill_params(struct charge *skel, const uint64_t *ids)
{
	for (__u32 i = 0; i < TENANTS; i++) {
		__u64 key = (__u64)ids[i];
		struct bench_params v = { .cgroup_id = key, .tenant_id = i + 1, .priority = 50,
					  .delay_floor_jiffies = 5, .near_max_permille = 950 };
		int err = bpf_map__update_elem(skel->maps.params, &key, sizeof(key), &v, sizeof(v), BPF_ANY);

		if (err)
			return err;
	}
	return 0;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	fprintf(stderr, "libbpf: ");
	return vfprintf(stderr, fmt, ap);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* q-quantile (0..1) by nearest rank. */
static double quantile(const double *v, int n, double q)
{
	double tmp[MAX_ROUNDS];
	int i = (int)(q * (n - 1) + 0.5);

	memcpy(tmp, v, sizeof(double) * (size_t)n);
	qsort(tmp, (size_t)n, sizeof(double), cmp_double);
	return tmp[i];
}

/*
 * Mode map-1000: ops_map linked to the worker's cgroup and the 999 siblings; links[] gets the fds.
 * 0 or -errno (the links made so far stay in links[], -1 beyond).
 */
static int attach_all(struct charge *skel, const char *cg, char (*sib)[PATH_MAX], int *links)
{
	for (int i = 0; i < TENANTS; i++) {
		links[i] = ops_link_create(skel->maps.ops_map, i == 0 ? cg : sib[i]);
		if (links[i] < 0)
			return links[i];
	}
	return 0;
}

static void detach_all(int *links)
{
	for (int i = 0; i < TENANTS; i++) {
		if (links[i] >= 0)
			close(links[i]);
		links[i] = -1;
	}
}

/*
 * Modes miss-*: one worker per cgroup of mcg[], all started on the first CPU this process may use
 * (they inherit the affinity); pages per second of all of them, from the first start to the last
 * exit.
 */
static int measure_miss(char (*mcg)[PATH_MAX], const struct kt_work *work, double *ret)
{
	struct kt_worker w[MISS_CGROUPS];
	cpu_set_t old, one;
	uint64_t pages = 0, t0;
	int n = 0, r = 0, cpu = 0;

	if (sched_getaffinity(0, sizeof(old), &old) < 0)
		return -errno;
	while (cpu < CPU_SETSIZE - 1 && !CPU_ISSET(cpu, &old))
		cpu++;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0)
		return -errno;
	t0 = kt_now_ns();
	for (; n < MISS_CGROUPS && r == 0; n++)
		r = kt_worker_start(&w[n], mcg[n], work);
	if (r < 0)
		n--;
	(void)sched_setaffinity(0, sizeof(old), &old);
	for (int i = 0; i < n; i++) {
		struct kt_result res = { 0 };

		if (kt_worker_join(&w[i], &res) < 0 && r == 0)
			r = -EIO;
		pages += res.pages;
	}
	if (r < 0)
		return r;
	*ret = (double)pages * 1e9 / (double)(kt_now_ns() - t0);
	return 0;
}

static int measure(const char *cg, const struct kt_work *work, double *ret)
{
	struct kt_result res = { 0 };
	int r = kt_run(cg, work, &res);

	if (r < 0 || !res.ns)
		return r < 0 ? r : -EIO;
	*ret = (double)res.pages * 1e9 / (double)res.ns;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "mib", required_argument, NULL, 'm' },
		{ "iters", required_argument, NULL, 'k' },
		{ "label", required_argument, NULL, 'l' },
		{}
	};
	int rounds = 60, mib = 16, iters = 2, nmodes, c, err, has;
	const char *label = "kernel", *root;
	double fig[MODE_MAX][MAX_ROUNDS], med[MODE_MAX];
	char base[PATH_MAX], cg[PATH_MAX], miss[PATH_MAX], mcg[MISS_CGROUPS][PATH_MAX];
	int link_fd = -1, links[TENANTS];
	static char sib[TENANTS][PATH_MAX];
	uint64_t ids[TENANTS];
	struct charge *skel = NULL;
	struct kt_work work, mwork;
	struct stat st;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': rounds = atoi(optarg); break;
		case 'm': mib = atoi(optarg); break;
		case 'k': iters = atoi(optarg); break;
		case 'l': label = optarg; break;
		default:
			fprintf(stderr, "usage: %s [--rounds R] [--mib M] [--iters K] [--label L]\n", argv[0]);
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS || mib < 1 || iters < 1) {
		fprintf(stderr, "charge-bench: --rounds 1..%d, --mib >= 1, --iters >= 1\n", MAX_ROUNDS);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_print);

	root = kt_cgroot();
	if (mkdir(root, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "charge-bench: mkdir %s: %m\n", root);
		return 2;
	}
	if (cg_write(root, "cgroup.subtree_control", "+memory") < 0) {
		fprintf(stderr, "charge-bench: cannot enable the memory controller under %s (cgroup2 with +memory at /sys/fs/cgroup?)\n",
			root);
		return 2;
	}
	cg_path(base, sizeof(base), root, "bench");
	cg_path(cg, sizeof(cg), base, "w");
	if (cg_mkdir(base) < 0 || cg_write(base, "cgroup.subtree_control", "+memory") < 0 || cg_mkdir(cg) < 0 ||
	    stat(cg, &st) < 0) {
		fprintf(stderr, "charge-bench: creating %s: %m\n", cg);
		return 2;
	}
	cg_path(miss, sizeof(miss), base, "miss");
	if (cg_mkdir(miss) < 0 || cg_write(miss, "cgroup.subtree_control", "+memory") < 0) {
		fprintf(stderr, "charge-bench: creating %s: %m\n", miss);
		return 2;
	}
	for (int i = 0; i < MISS_CGROUPS; i++) {
		char name[8];

		snprintf(name, sizeof(name), "m%d", i);
		cg_path(mcg[i], sizeof(mcg[i]), miss, name);
		if (cg_mkdir(mcg[i]) < 0) {
			fprintf(stderr, "charge-bench: creating %s: %m\n", mcg[i]);
			return 2;
		}
	}

	has = kt_kernel_has_memcg_ops();
	if (has < 0) {
		fprintf(stderr, "charge-bench: cannot read the kernel BTF: %s\n", strerror(-has));
		return 2;
	}
	nmodes = has ? MODE_MAX : MODES_PLAIN;
	printf("KERNEL %s memcg_ops=%s rounds=%d mib=%d iters=%d\n", label, has ? "present" : "absent", rounds, mib,
	       iters);
	if (has) {
		skel = charge__open();
		if (!skel) {
			fprintf(stderr, "charge-bench: opening the BPF object: %m\n");
			return 2;
		}
		err = charge__load(skel);
		if (err) {
			fprintf(stderr, "charge-bench: loading the policies: %s\n", strerror(-err));
			return 2;
		}
		ids[0] = (uint64_t)st.st_ino;
		for (int i = 1; i < TENANTS; i++) {
			char name[32];

			snprintf(name, sizeof(name), "t%04d", i);
			cg_path(sib[i], sizeof(sib[i]), base, name);
			if (cg_mkdir(sib[i]) < 0 || cg_id(sib[i], &ids[i]) < 0) {
				fprintf(stderr, "charge-bench: creating %s: %m\n", sib[i]);
				return 2;
			}
		}
		err = fill_params(skel, ids);
		if (err) {
			fprintf(stderr, "charge-bench: filling the parameter map: %s\n", strerror(-err));
			return 2;
		}
	}

	work = (struct kt_work){ .bytes = (size_t)mib * MiB, .rounds = (unsigned int)iters, .drop = true };
	mwork = work;
	mwork.bytes = (size_t)mib * MiB / MISS_CGROUPS;
	mwork.yield_pages = 1;
	/* Warm-up, not recorded. */
	if (measure(cg, &work, &fig[0][0]) < 0) {
		fprintf(stderr, "charge-bench: worker failed\n");
		return 2;
	}

	for (int round = 0; round < rounds; round++) {
		for (int j = 0; j < nmodes; j++) {
			int m = (round + j) % nmodes;

			for (int i = 0; i < TENANTS; i++)
				links[i] = -1;
			if (m == MODE_MAP1K) {
				err = attach_all(skel, cg, sib, links);
				if (err < 0) {
					fprintf(stderr, "charge-bench: attaching %s to %d cgroups: %s\n", mode_name[m],
						TENANTS, strerror(-err));
					return 1;
				}
			} else if (m != MODE_UNATTACHED && m != MODE_MISS) {
				/* A struct_ops link whose target is the cgroup's fd (ops-link.h). */
				link_fd = ops_link_create(m == MODE_THROTTLE ? skel->maps.ops_throttle :
							  m == MODE_MAP      ? skel->maps.ops_map :
									       skel->maps.ops_noop,
							  m == MODE_KEYON ? sib[1] : m == MODE_MISS_NOOP ? miss : cg);
				if (link_fd < 0) {
					fprintf(stderr, "charge-bench: attaching %s: %s\n", mode_name[m],
						strerror(-link_fd));
					return 1;
				}
			}
			if (m == MODE_MISS || m == MODE_MISS_NOOP)
				err = measure_miss(mcg, &mwork, &fig[m][round]);
			else
				err = measure(cg, &work, &fig[m][round]);
			if (link_fd >= 0)
				close(link_fd);
			link_fd = -1;
			detach_all(links);
			if (err < 0) {
				fprintf(stderr, "charge-bench: worker failed in mode %s\n", mode_name[m]);
				return 1;
			}
			printf("RESULT %s %s %d %.0f\n", label, mode_name[m], round, fig[m][round]);
		}
	}

	for (int m = 0; m < nmodes; m++) {
		double lo = fig[m][0], hi = fig[m][0], sum = 0;

		for (int i = 0; i < rounds; i++) {
			lo = fig[m][i] < lo ? fig[m][i] : lo;
			hi = fig[m][i] > hi ? fig[m][i] : hi;
			sum += fig[m][i];
		}
		med[m] = quantile(fig[m], rounds, 0.5);
		printf("SUMMARY %s %s median=%.0f p90=%.0f mean=%.0f min=%.0f max=%.0f n=%d\n", label, mode_name[m],
		       med[m], quantile(fig[m], rounds, 0.9), sum / rounds, lo, hi, rounds);
	}
	for (int m = 1; m < nmodes; m++) {
		enum mode b = m == MODE_MISS_NOOP ? MODE_MISS : MODE_UNATTACHED;

		if (m != MODE_MISS)
			printf("RATIO %s %s/%s=%.4f\n", label, mode_name[m], mode_name[b], med[m] / med[b]);
	}
	for (int m = 0; m < nmodes; m++)
		printf("COST %s %s %.1f\n", label, mode_name[m], 1e9 / med[m]);

	charge__destroy(skel);
	cg_rmtree(base);
	return 0;
}
