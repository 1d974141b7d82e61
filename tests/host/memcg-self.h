/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * For the host BPF tests: the memcg this test process charges, found by READING /proc/self/cgroup
 * and /proc/self/mountinfo and stat()ing the directory. Nothing is created or changed. Also the
 * verdict on loading a test's BPF objects (bpf_load_verdict()).
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

#define SKIP_EXIT 77 /* meson: SKIP */

/*
 * What a host BPF test does after loading its BPF objects returned r (what: e.g. "the sampler"):
 * -1 to go on (r >= 0); SKIP_EXIT when BPF is refused here (EPERM: lockdown, seccomp, no
 * capability), said loudly; 1, a failure, for the verifier rejecting the programs (EACCES as root,
 * never a skip) and for any other error.
 */
static int bpf_load_verdict(const char *test, const char *what, int r)
{
	if (r >= 0)
		return -1;
	if (r == -EPERM) {
		fprintf(stderr, "\n*** SKIP %s: loading BPF is not permitted here: %s ***\n\n", test, strerror(-r));
		return SKIP_EXIT;
	}
	if (r == -EACCES)
		fprintf(stderr, "%s: the verifier rejected the programs (EACCES; the log is above)\n", test);
	else
		fprintf(stderr, "%s: %s does not load on this kernel: %s\n", test, what, strerror(-r));
	return 1;
}

/* Mount point of the hierarchy carrying the memory controller ("" for cgroup2). */
static int find_memory_mount(bool v2, char *ret, size_t n)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];

	if (!f)
		return negative_errno();
	while (fgets(line, sizeof(line), f)) {
		char mnt[1024], fstype[64], opts[1024];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1)
			continue;
		if (sscanf(sep + 3, "%63s %*s %1023s", fstype, opts) != 2)
			continue;
		if ((v2 && streq(fstype, "cgroup2")) ||
		    (!v2 && streq(fstype, "cgroup") && (strstr(opts, ",memory") || !strncmp(opts, "memory", 6)))) {
			(void) snprintf(ret, n, "%s", mnt);
			return 0;
		}
	}
	return -ENOENT;
}

/* The memcg this process charges, as a cgroup id; -ENOENT if it is the root memcg. */
static int own_memcg_id(uint64_t *ret, char *path, size_t n)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4096], mnt[1024], rel[3072] = "";
	bool v2 = false, found = false;
	struct stat st;
	int r;

	if (!f)
		return negative_errno();
	while (fgets(line, sizeof(line), f)) {
		char *ctrl = strchr(line, ':'), *p;

		if (!ctrl || !(p = strchr(ctrl + 1, ':')))
			continue;
		*p++ = 0;
		p[strcspn(p, "\n")] = 0;
		if (strstr(ctrl + 1, "memory")) { /* v1: "N:memory:/path" (possibly co-mounted) */
			(void) snprintf(rel, sizeof(rel), "%s", p);
			found = true;
			v2 = false;
			break;
		}
		if (streq(ctrl + 1, "") && !found) { /* v2: "0::/path", used if no v1 memory line */
			(void) snprintf(rel, sizeof(rel), "%s", p);
			v2 = true;
		}
	}
	if (!found && !v2)
		return -ENOENT;
	if (streq(rel, "/"))
		return -ENOENT;
	r = find_memory_mount(v2, mnt, sizeof(mnt));
	if (r < 0)
		return r;
	(void) snprintf(path, n, "%s%s", mnt, rel);
	if (stat(path, &st) < 0)
		return negative_errno();
	*ret = st.st_ino;
	return 0;
}
