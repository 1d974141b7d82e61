/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "state.h"

#include <dirent.h>
#include <fcntl.h>
#include <ini.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "cgroup.h"
#include "util.h"

/* Temporary files start with this; record names are digits only, so the two never collide. */
#define STATE_TMP_PREFIX ".tmp-"

void state_record_done(StateRecord *r)
{
	free(r->root);
	free(r->cgroup);
	*r = (StateRecord) {};
}

int state_dir_path(const char *arg, char **ret)
{
	const char *env = getenv("RUNTIME_DIRECTORY");
	char *p;

	if (arg)
		p = strdup(arg);
	else if (env && env[0] == '/')
		/* systemd joins several RuntimeDirectory= entries with ':'; ours is the only one. */
		p = strndup(env, strcspn(env, ":"));
	else
		p = strdup(MEMQOSD_DEFAULT_STATE_DIR);
	if (!p)
		return -ENOMEM;
	*ret = p;
	return 0;
}

int state_dir_open(const char *path, int *ret_fd)
{
	int fd;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return negative_errno();
	fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	*ret_fd = fd;
	return 0;
}

static void format_value(char buf[static 32], uint64_t v)
{
	if (v == UINT64_MAX)
		snprintf(buf, 32, "max");
	else
		snprintf(buf, 32, "%" PRIu64, v);
}

int state_record_write(int dir_fd, const StateRecord *r)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_fclose_ FILE *f = NULL;
	char name[32], tmp[64], high[32], low[32];
	int k;

	if (!r->root || !r->cgroup || strchr(r->root, '\n') || strchr(r->cgroup, '\n'))
		return -EINVAL;

	snprintf(name, sizeof(name), "%" PRIu64, r->id);
	snprintf(tmp, sizeof(tmp), STATE_TMP_PREFIX "%s", name);
	format_value(high, r->high);
	format_value(low, r->low);

	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	f = fdopen(fd, "w");
	if (!f)
		goto fail;
	fd = -EBADF; /* owned by f now */

	fprintf(f,
		"# memqosd: the values of this cgroup before memqosd changed them; removed once restored.\n"
		"[Cgroup]\nRoot=%s\nPath=%s\nMemoryHigh=%s\n",
		r->root, r->cgroup, high);
	if (r->has_low)
		fprintf(f, "MemoryLow=%s\n", low);
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) < 0)
		goto fail;
	k = fclose(TAKE_PTR(f));
	if (k != 0)
		goto fail;

	if (renameat(dir_fd, tmp, dir_fd, name) < 0)
		goto fail;
	/* The rename itself must reach the disk too (on tmpfs this is a no-op). */
	if (fsync(dir_fd) < 0)
		return negative_errno();
	return 0;

fail:
	k = negative_errno();
	(void) unlinkat(dir_fd, tmp, 0);
	return k;
}

typedef struct Parse {
	StateRecord *r;
	bool bad, has_high;
} Parse;

static int on_value(void *user, const char *section, const char *name, const char *value)
{
	Parse *p = user;
	char **s = NULL;

	if (!streq(section, "Cgroup")) {
		p->bad = true;
		return 0;
	}
	if (streq(name, "Root"))
		s = &p->r->root;
	else if (streq(name, "Path"))
		s = &p->r->cgroup;
	if (s) {
		if (*s || value[0] == '\0') {
			p->bad = true;
			return 0;
		}
		*s = strdup(value);
		if (!*s)
			p->bad = true;
		return !p->bad;
	}

	if (streq(name, "MemoryHigh") && !p->has_high && cgroup_parse_u64(value, &p->r->high) >= 0)
		p->has_high = true;
	else if (streq(name, "MemoryLow") && !p->r->has_low && cgroup_parse_u64(value, &p->r->low) >= 0)
		p->r->has_low = true;
	else
		p->bad = true;
	return !p->bad;
}

int state_record_read(int dir_fd, uint64_t id, StateRecord *ret)
{
	_cleanup_fclose_ FILE *f = NULL;
	StateRecord r = { .id = id };
	Parse p = { .r = &r };
	char name[32];
	int fd, k;

	snprintf(name, sizeof(name), "%" PRIu64, id);
	fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return negative_errno();
	f = fdopen(fd, "r");
	if (!f) {
		k = negative_errno();
		(void) close(fd);
		return k;
	}

	k = ini_parse_file(f, on_value, &p);
	if (k < 0) {
		state_record_done(&r);
		return k == -2 ? -ENOMEM : -EIO;
	}
	if (k > 0 || p.bad || !p.has_high || !r.root || !r.cgroup || r.root[0] != '/') {
		state_record_done(&r);
		return -EBADMSG;
	}
	*ret = r;
	return 0;
}

int state_record_remove(int dir_fd, uint64_t id)
{
	char name[32];

	snprintf(name, sizeof(name), "%" PRIu64, id);
	if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
		return negative_errno();
	return 0;
}

static bool parse_id(const char *s, uint64_t *ret)
{
	uint64_t v;

	if (s[0] < '1' || s[0] > '9' || strspn(s, "0123456789") != strlen(s))
		return false;
	if (cgroup_parse_u64(s, &v) < 0 || v == UINT64_MAX)
		return false;
	*ret = v;
	return true;
}

int state_list(int dir_fd, uint64_t **ret_ids, size_t *ret_n)
{
	_cleanup_free_ uint64_t *ids = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(dir_fd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	d = fdopendir(fd);
	if (!d) {
		int k = negative_errno();

		(void) close(fd);
		return k;
	}
	while ((errno = 0, de = readdir(d))) {
		uint64_t id;

		if (strncmp(de->d_name, STATE_TMP_PREFIX, strlen(STATE_TMP_PREFIX)) == 0) {
			(void) unlinkat(dir_fd, de->d_name, 0);
			continue;
		}
		if (!parse_id(de->d_name, &id))
			continue;
		if (n == cap) {
			uint64_t *p = realloc(ids, (cap ? cap * 2 : 16) * sizeof(*ids));

			if (!p) {
				(void) closedir(d);
				return -ENOMEM;
			}
			ids = p;
			cap = cap ? cap * 2 : 16;
		}
		ids[n++] = id;
	}
	if (errno != 0) {
		int k = negative_errno();

		(void) closedir(d);
		return k;
	}
	(void) closedir(d);
	*ret_ids = TAKE_PTR(ids);
	*ret_n = n;
	return 0;
}

int state_record_cgroup_exists(const StateRecord *r)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct stat st;

	if (asprintf(&path, "%s/%s", r->root, r->cgroup) < 0)
		return -ENOMEM;
	fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			return 0;
		return negative_errno();
	}
	if (fstat(fd, &st) < 0)
		return negative_errno();
	return (uint64_t) st.st_ino == r->id;
}
