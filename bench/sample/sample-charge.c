/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The charge path with allocation sampling on (issue 10): the sampling case of the charge-path
 * benchmark, run in a VM guest by bench/charge/run on the patched kernel (after charge-bench, same
 * boot). A worker in a fresh cgroup faults in M MiB of anonymous memory one page at a time and drops
 * it with MADV_DONTNEED, K times (every page one charge and one uncharge); the figure is pages per
 * second. Two modes, measured back to back in every round (the order alternates):
 *   sample-off  the sampler is not loaded (sampling off: what the daemon does then)
 *   sample-1M   loaded, the cgroup sampled at the default SampleSize=1M (LargeAllocation=256K,
 *               MaxSamplesPerSec=5000), the ring buffer drained while the worker runs (records
 *               counted, not symbolised: the daemon's own CPU is bench/sample/sample-cpu)
 * Prints "RESULT <label> <mode> <round> <pages/s>" lines (bench/charge/run's format), then
 * "PAIR <label> <round> <ratio>" (on/off of the round: drift between rounds cancels out) and a table
 * with the medians, the ratio of the medians and the median paired ratio, against the target
 * (>= 0.97 at the default rate; a miss is printed as MISSED, and exits 0: a benchmark, not a test).
 *
 * --stats turns on the kernel's BPF run-time statistics (BPF_ENABLE_STATS) and prints, for every
 * BPF program loaded in the guest, its runs and run time per page charged in the sampling mode
 * ("PROG <name> <runs/page> <ns/page>", summed over rounds): where the per-charge cost goes (the
 * trampolines around the programs are not in it; the pages/s figures are).
 *
 *   sample-charge [--rounds R] [--mib M] [--iters K] [--label L] [--stats] [--debug]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "log.h"
#include "prog-stats.h"
#include "sample-engine.h"

#define MODES 2
#define MAX_ROUNDS 400
#define TARGET 0.97
static const char *const mode_name[MODES] = { "sample-off", "sample-1M" };
static const uint64_t mode_bytes[MODES] = { 0, 1 << 20 };
static const char *const cg = "/sys/fs/cgroup/sample-charge";

static void count(const void *record, size_t size, void *userdata)
{
	(void) record;
	(void) size;
	(*(uint64_t *) userdata)++;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/* The worker: joins the cgroup, faults and drops; writes pages/s to fd. */
static void worker(int fd, size_t mib, int iters)
{
	size_t bytes = mib << 20;
	char buf[32], *p;
	uint64_t t0, t1;
	double rate;
	int cfd;

	snprintf(buf, sizeof(buf), "%d", (int) getpid());
	cfd = open("/sys/fs/cgroup/sample-charge/cgroup.procs", O_WRONLY);
	if (cfd < 0 || write(cfd, buf, strlen(buf)) < 0)
		_exit(1);
	close(cfd);
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(1);
	(void) madvise(p, bytes, MADV_NOHUGEPAGE);
	t0 = now_ns();
	for (int i = 0; i < iters; i++) {
		for (size_t off = 0; off < bytes; off += 4096)
			((volatile char *) p)[off] = 1;
		(void) madvise(p, bytes, MADV_DONTNEED);
	}
	t1 = now_ns();
	rate = (double) (bytes / 4096) * iters * 1e9 / (double) (t1 - t0);
	if (write(fd, &rate, sizeof(rate)) != sizeof(rate))
		_exit(1);
	_exit(0);
}

static int measure(SampleEngine *e, size_t mib, int iters, double *ret)
{
	int fds[2], status;
	pid_t pid;

	if (pipe(fds) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(fds[0]);
		worker(fds[1], mib, iters);
	}
	close(fds[1]);
	while (waitpid(pid, &status, WNOHANG) == 0)
		if (!e || sample_engine_poll(e, 10) < 0)
			usleep(10000);
	if (e)
		while (sample_engine_poll(e, 0) > 0)
			;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || read(fds[0], ret, sizeof(*ret)) != sizeof(*ret)) {
		close(fds[0]);
		return -EIO;
	}
	close(fds[0]);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "mib", required_argument, NULL, 'm' },
		{ "iters", required_argument, NULL, 'i' },
		{ "label", required_argument, NULL, 'l' },
		{ "stats", no_argument, NULL, 's' },
		{ "debug", no_argument, NULL, 'd' },
		{}
	};
	static double fig[MODES][MAX_ROUNDS], pair[MAX_ROUNDS];
	static ProgStats before, after, total;
	int rounds = 30, iters = 2, level = LOG_WARNING, c, stats_fd = -1;
	bool stats = false;
	size_t mib = 16;
	const char *label = "patched";
	uint64_t records[MODES] = {};
	struct memqosd_sample_counters counters[MODES] = {};
	double med[MODES], p25, p50, p75;
	Logger log;
	struct stat st;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		switch (c) {
		case 'r': rounds = atoi(optarg); break;
		case 'm': mib = (size_t) atoi(optarg); break;
		case 'i': iters = atoi(optarg); break;
		case 'l': label = optarg; break;
		case 's': stats = true; break;
		case 'd': level = LOG_DEBUG; break;
		default:
			fprintf(stderr, "usage: %s [--rounds R] [--mib M] [--iters K] [--label L] [--stats] [--debug]\n",
				argv[0]);
			return 2;
		}
	if (rounds < 2 || rounds > MAX_ROUNDS || mib == 0 || iters < 1) {
		fprintf(stderr, "sample-charge: --rounds 2..%d, --mib >= 1, --iters >= 1\n", MAX_ROUNDS);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	logger_init(&log, level);
	if (mkdir(cg, 0755) < 0 && errno != EEXIST) {
		perror(cg);
		return 1;
	}
	if (stat(cg, &st) < 0)
		return 1;
	if (stats) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (stats_fd < 0) {
			fprintf(stderr, "sample-charge: cannot enable BPF statistics: %s\n", strerror(-stats_fd));
			return 1;
		}
	}

	for (int round = 0; round < rounds; round++) {
		for (int j = 0; j < MODES; j++) {
			int m = (round + j) % MODES;
			_cleanup_(sample_engine_freep) SampleEngine *e = NULL;
			struct memqosd_sample_counters k = {};

			if (mode_bytes[m]) {
				struct memqosd_sample_conf conf = {
					.sample_bytes = mode_bytes[m], .large_bytes = 256 << 10, .enabled = 1,
					.max_per_sec = 5000,
				};

				int r = sample_engine_new(&log, count, &records[m], &e);

				if (r >= 0)
					r = sample_engine_set_tenant(e, 1, st.st_ino, &conf);
				if (r < 0) {
					fprintf(stderr, "sample-charge: cannot load the sampler: %s (--debug says why)\n",
						strerror(-r));
					return 1;
				}
			}
			if (stats && e)
				prog_stats(&before);
			if (measure(e, mib, iters, &fig[m][round]) < 0) {
				fprintf(stderr, "sample-charge: worker failed in mode %s\n", mode_name[m]);
				return 1;
			}
			if (stats && e) {
				prog_stats(&after);
				prog_stats_add(&total, &before, &after);
			}
			if (e && sample_engine_counters(e, &k) == 0) {
				counters[m].samples += k.samples;
				counters[m].dropped += k.dropped;
				counters[m].frees += k.frees;
			}
			printf("RESULT %s %s %d %.0f\n", label, mode_name[m], round, fig[m][round]);
		}
		pair[round] = fig[1][round] / fig[0][round];
		printf("PAIR %s %d %.4f\n", label, round, pair[round]);
	}

	for (int m = 0; m < MODES; m++)
		med[m] = quantile(fig[m], rounds, 0.5);
	p25 = quantile(pair, rounds, 0.25);
	p50 = quantile(pair, rounds, 0.5);
	p75 = quantile(pair, rounds, 0.75);
	printf("\nsample-charge (%s): %zu MiB x %d fault+MADV_DONTNEED passes, %d rounds per mode; pages/s\n", label,
	       mib, iters, rounds);
	printf("  %-10s %12s %8s %10s %8s %8s\n", "mode", "median", "ratio", "samples", "frees", "dropped");
	for (int m = 0; m < MODES; m++)
		printf("  %-10s %12.0f %8.4f %10llu %8llu %8llu\n", mode_name[m], med[m], med[m] / med[0],
		       (unsigned long long) counters[m].samples, (unsigned long long) counters[m].frees,
		       (unsigned long long) counters[m].dropped);
	printf("SAMPLING %s ratio_of_medians=%.4f paired_median=%.4f paired_p25=%.4f paired_p75=%.4f target=%.2f %s\n",
	       label, med[1] / med[0], p50, p25, p75, TARGET, p50 >= TARGET ? "met" : "MISSED");
	if (stats) {
		double pages = (double) (mib << 8) * iters * rounds;

		printf("BPF programs while sampling (%.0f pages charged): runs and run time per page\n", pages);
		for (int i = 0; i < total.n; i++)
			if (total.cnt[i])
				printf("PROG %-16s %10.4f runs/page %10.1f ns/page %8.1f ns/run\n", total.name[i],
				       total.cnt[i] / pages, total.ns[i] / pages, (double) total.ns[i] / total.cnt[i]);
		close(stats_fd);
	}
	rmdir(cg);
	return 0;
}
