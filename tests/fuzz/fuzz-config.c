/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration loader (config_load(): inih, our line reader, every key's parser, the checks
 * across keys). The input is split at the first "\n%%\n" into tenants.d/t.conf and memqosd.conf
 * (without a separator it is only the profile), written to a fresh directory and loaded.
 * Invariants:
 *  - the result is either a Config with no errors, or -EINVAL with at least one error (I/O errors
 *    are not expected on a private directory);
 *  - at most CONFIG_ERRORS_MAX errors are kept, all counted, each naming one of the two files;
 *    the joined report is bounded;
 *  - an accepted tenant satisfies everything the manager relies on: a relative, normalised cgroup
 *    path without "..", control characters or spaces at a component's ends; Priority 0..100;
 *    MemoryHighMin <= MemoryHighMax; MemoryLow <= MemoryHighMax; a known policy; and its sizes
 *    re-format to text that parses back to them.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz-util.h"
#include "parse-util.h"

static char dir[64];

static void write_all(const char *path, const unsigned char *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, data, size) == (ssize_t) size);
	FUZZ_CHECK(close(fd) == 0);
}

static void check_cgroup_path(const char *p)
{
	FUZZ_CHECK(p && p[0] && p[0] != '/' && p[strlen(p) - 1] != '/');
	FUZZ_CHECK(!strstr(p, "//"));
	for (const char *c = p; *c;) {
		size_t l = strcspn(c, "/");

		FUZZ_CHECK(l > 0);
		FUZZ_CHECK(!(l == 1 && c[0] == '.') && !(l == 2 && c[0] == '.' && c[1] == '.'));
		FUZZ_CHECK(c[0] != ' ' && c[l - 1] != ' ');
		for (size_t i = 0; i < l; i++)
			FUZZ_CHECK((unsigned char) c[i] >= 0x20 && c[i] != 0x7f);
		c += l;
		if (*c == '/')
			c++;
	}
}

static void check_size_round_trip(uint64_t v)
{
	char buf[FORMAT_VALUE_MAX];
	uint64_t w;

	FUZZ_CHECK(parse_size(format_size(buf, v), &w) == 0 && w == v);
}

/* The scratch directory goes when the fuzzer exits normally (a crash leaves it for inspection). */
static void remove_dir(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/tenants.d/t.conf", dir);
	(void) unlink(path);
	snprintf(path, sizeof(path), "%s/tenants.d", dir);
	(void) rmdir(path);
	snprintf(path, sizeof(path), "%s/memqosd.conf", dir);
	(void) unlink(path);
	(void) rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[PATH_MAX];

	(void) argc, (void) argv;
	/* tmpfs if there is one: the loader reads real files, and a disk makes every exec wait. */
	strcpy(dir, access("/dev/shm", W_OK) == 0 ? "/dev/shm/memqosd-fuzz-config-XXXXXX" : "/tmp/memqosd-fuzz-config-XXXXXX");
	FUZZ_CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/tenants.d", dir);
	FUZZ_CHECK(mkdir(path, 0700) == 0);
	FUZZ_CHECK(atexit(remove_dir) == 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const unsigned char *sep = memmem(data, size, "\n%%\n", 4);
	size_t n_profile = sep ? (size_t) (sep - data) + 1 : size;
	char profile[PATH_MAX], main_conf[PATH_MAX];
	ConfigErrors errors = {};
	Config *c = NULL;
	char *joined;
	int r;

	snprintf(profile, sizeof(profile), "%s/tenants.d/t.conf", dir);
	snprintf(main_conf, sizeof(main_conf), "%s/memqosd.conf", dir);
	write_all(profile, data, n_profile);
	if (sep)
		write_all(main_conf, sep + 4, size - n_profile - 3);
	else
		(void) unlink(main_conf);

	r = config_load(dir, &c, &errors);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(errors.n <= CONFIG_ERRORS_MAX && errors.n <= errors.n_total);
	FUZZ_CHECK(errors.n == errors.n_total || errors.n == CONFIG_ERRORS_MAX);
	for (size_t i = 0; i < errors.n; i++)
		FUZZ_CHECK(strncmp(errors.lines[i], profile, strlen(profile)) == 0 ||
			   strncmp(errors.lines[i], main_conf, strlen(main_conf)) == 0);
	joined = config_errors_join(&errors, "\n");
	FUZZ_CHECK(joined && strlen(joined) <= (size_t) CONFIG_ERRORS_MAX * (2 * PATH_MAX + 1024));
	free(joined);

	if (r == 0) {
		FUZZ_CHECK(c && errors.n_total == 0);
		FUZZ_CHECK(c->n_tenants <= 1);
		for (size_t i = 0; i < c->n_tenants; i++) {
			const TenantConfig *t = c->tenants[i];

			FUZZ_CHECK(strcmp(t->name, "t") == 0);
			check_cgroup_path(t->cgroup);
			FUZZ_CHECK(t->priority >= 0 && t->priority <= 100);
			FUZZ_CHECK(t->memory_high_min <= t->memory_high_max);
			FUZZ_CHECK(!t->has_memory_low || t->memory_low <= t->memory_high_max);
			FUZZ_CHECK(policy_kind_to_string(t->policy));
			check_size_round_trip(t->memory_high_min);
			check_size_round_trip(t->memory_high_max);
		}
		FUZZ_CHECK(c->daemon.log_level >= 0 && c->daemon.log_level <= 7);
		FUZZ_CHECK(c->daemon.control.psi_stall_usec <= c->daemon.control.psi_window_usec);
		FUZZ_CHECK(!c->daemon.cgroup_root || c->daemon.cgroup_root[0] == '/');
	} else
		FUZZ_CHECK(!c && errors.n_total > 0);

	config_free(c);
	config_errors_clear(&errors);
	return 0;
}
