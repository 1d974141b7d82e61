/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the kernel has attached while memqosd restarts (tests/integration/test-handover.sh), sampled
 * independently of memqosd: every INTERVAL_MS until STOPFILE exists, one line
 *
 *   SECONDS LINK_IDS CHARGES
 *
 * LINK_IDS: the struct_ops links, comma-separated ("-": none); CHARGES: the charges the policies'
 * charge hook counted for tenant ids 1 and 2 in the newest map called memqosd_stats ("?": none).
 * Plain bpf() syscalls by id (CAP_SYS_ADMIN), so a sample costs microseconds, not a bpftool run.
 *
 *   handover-sampler OUT STOPFILE INTERVAL_MS
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void links(FILE *f)
{
	uint32_t id = 0;
	int n = 0;

	while (bpf_link_get_next_id(id, &id) == 0) {
		struct bpf_link_info info = {};
		uint32_t len = sizeof(info);
		int fd = bpf_link_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (bpf_link_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_LINK_TYPE_STRUCT_OPS)
			fprintf(f, "%s%u", n++ ? "," : "", id);
		close(fd);
	}
	if (n == 0)
		fputs("-", f);
}

static void charges(FILE *f)
{
	uint32_t id = 0, best = 0;
	int best_fd = -1;

	while (bpf_map_get_next_id(id, &id) == 0) {
		struct bpf_map_info info = {};
		uint32_t len = sizeof(info);
		int fd = bpf_map_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (bpf_map_get_info_by_fd(fd, &info, &len) == 0 && strcmp(info.name, "memqosd_stats") == 0 &&
		    id > best) {
			if (best_fd >= 0)
				close(best_fd);
			best_fd = fd;
			best = id;
			continue;
		}
		close(fd);
	}
	if (best_fd < 0) {
		fputs("?", f);
		return;
	}
	{
		uint64_t sum = 0, v[64];
		int ok = 1;

		for (uint32_t key = 1; key <= 2; key++) {
			memset(v, 0, sizeof(v));
			if (bpf_map_lookup_elem(best_fd, &key, v) < 0)
				ok = 0;
			sum += v[0]; /* struct memqosd_tenant_stats.charges */
		}
		if (ok)
			fprintf(f, "%llu", (unsigned long long) sum);
		else
			fputs("?", f);
	}
	close(best_fd);
}

int main(int argc, char **argv)
{
	double t0;
	FILE *f;
	long ms;

	if (argc != 4 || (ms = strtol(argv[3], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: %s OUT STOPFILE INTERVAL_MS\n", argv[0]);
		return 2;
	}
	f = fopen(argv[1], "w");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	t0 = now();
	while (access(argv[2], F_OK) < 0) {
		fprintf(f, "%.3f ", now() - t0);
		links(f);
		fputc(' ', f);
		charges(f);
		fputc('\n', f);
		fflush(f);
		usleep((useconds_t) ms * 1000);
	}
	fclose(f);
	return 0;
}
