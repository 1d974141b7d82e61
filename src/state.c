/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "state.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
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
	struct stat st;
	int fd, r;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return negative_errno();
	fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0) {
		r = negative_errno();
		(void) close(fd);
		return r;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		(void) close(fd);
		return -EPERM;
	}
	*ret_fd = fd;
	return 0;
}

/* ---- the record format: pure, no I/O (state_record_format() / state_record_parse()) ---- */

static bool byte_is_plain(unsigned char c)
{
	return c > ' ' && c < 0x7f && c != '%';
}

static void put_escaped(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
		if (byte_is_plain(*p))
			fputc(*p, f);
		else
			fprintf(f, "%%%02X", *p);
}

static void put_value(FILE *f, uint64_t v)
{
	if (v == UINT64_MAX)
		fputs("max", f);
	else
		fprintf(f, "%" PRIu64, v);
}

int state_record_format(const StateRecord *r, char **ret, size_t *ret_len)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f;

	if (!r->root || !r->cgroup || r->root[0] != '/' || r->cgroup[0] == '\0')
		return -EINVAL;

	f = open_memstream(&s, &len);
	if (!f)
		return -ENOMEM;
	fputs("# memqosd: the values of this cgroup before memqosd changed them; removed once restored.\n"
	      "[Cgroup]\nRoot=", f);
	put_escaped(f, r->root);
	fputs("\nPath=", f);
	put_escaped(f, r->cgroup);
	fputs("\nMemoryHigh=", f);
	put_value(f, r->high);
	if (r->has_low) {
		fputs("\nMemoryLow=", f);
		put_value(f, r->low);
	}
	if (r->frozen)
		fputs("\nFrozen=yes", f);
	fputc('\n', f);
	if (fclose(f) != 0) {
		free(s);
		return -ENOMEM;
	}
	if (len > STATE_RECORD_SIZE_MAX) {
		free(s);
		return -E2BIG;
	}
	*ret = s;
	*ret_len = len;
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Undo put_escaped() on [s, s+n): -EBADMSG for a malformed escape, a NUL, or an unescaped odd byte. */
static int unescape(const char *s, size_t n, char **ret)
{
	_cleanup_free_ char *out = malloc(n + 1);
	size_t k = 0;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char) s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -EBADMSG;
			hi = hex_digit(s[i + 1]);
			lo = hex_digit(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EBADMSG;
			out[k++] = (char) (hi * 16 + lo);
			i += 2;
		} else if (byte_is_plain(c))
			out[k++] = (char) c;
		else
			return -EBADMSG;
	}
	out[k] = '\0';
	*ret = TAKE_PTR(out);
	return 0;
}

/* Exactly "max" or decimal digits (no sign, no spaces), as put_value() writes them. */
static int parse_value(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 3 && memcmp(s, "max", 3) == 0) {
		*ret = UINT64_MAX;
		return 0;
	}
	if (n == 0 || n > 20)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char) s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	if (v == UINT64_MAX)
		return -EBADMSG; /* spelled "max" */
	*ret = v;
	return 0;
}

int state_record_parse(const char *buf, size_t size, uint64_t id, StateRecord *ret)
{
	StateRecord r = { .id = id };
	bool in_section = false, has_high = false, has_frozen = false;
	const char *p = buf, *end = buf + size;
	int k = 0;

	if (size > STATE_RECORD_SIZE_MAX)
		return -EBADMSG;

	while (p < end && k >= 0) {
		const char *nl = memchr(p, '\n', (size_t) (end - p)), *eq;
		size_t n;

		if (!nl) {
			k = -EBADMSG; /* every line is terminated: a missing newline is a torn write */
			break;
		}
		n = (size_t) (nl - p);
		eq = memchr(p, '=', n);

		if (n == 0 || p[0] == '#')
			;
		else if (n == 8 && memcmp(p, "[Cgroup]", 8) == 0 && !in_section)
			in_section = true;
		else if (!in_section || !eq)
			k = -EBADMSG;
		else {
			size_t kl = (size_t) (eq - p), vl = n - kl - 1;
			const char *v = eq + 1;

			if (kl == 4 && memcmp(p, "Root", 4) == 0 && !r.root)
				k = unescape(v, vl, &r.root);
			else if (kl == 4 && memcmp(p, "Path", 4) == 0 && !r.cgroup)
				k = unescape(v, vl, &r.cgroup);
			else if (kl == 10 && memcmp(p, "MemoryHigh", 10) == 0 && !has_high) {
				k = parse_value(v, vl, &r.high);
				has_high = k >= 0;
			} else if (kl == 9 && memcmp(p, "MemoryLow", 9) == 0 && !r.has_low) {
				k = parse_value(v, vl, &r.low);
				r.has_low = k >= 0;
			} else if (kl == 6 && memcmp(p, "Frozen", 6) == 0 && !has_frozen) {
				/* Only ever written as "yes"; anything else is not ours. */
				has_frozen = true;
				if (vl == 3 && memcmp(v, "yes", 3) == 0)
					r.frozen = true;
				else
					k = -EBADMSG;
			} else
				k = -EBADMSG;
		}
		p = nl + 1;
	}
	if (k >= 0 && (!has_high || !r.root || !r.cgroup || r.root[0] != '/' || r.cgroup[0] == '\0'))
		k = -EBADMSG;
	if (k < 0) {
		state_record_done(&r);
		return k;
	}
	*ret = r;
	return 0;
}

/* ---- files ---- */

int state_file_write(int dir_fd, const char *name, const char *text, size_t len)
{
	_cleanup_close_ int fd = -EBADF;
	char tmp[NAME_MAX + 1];
	size_t done = 0;
	int k;

	if (snprintf(tmp, sizeof(tmp), STATE_TMP_PREFIX "%s", name) >= (int) sizeof(tmp))
		return -ENAMETOOLONG;

	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto fail;
		}
		done += (size_t) n;
	}
	if (fsync(fd) < 0)
		goto fail;
	k = close(TAKE_FD(fd));
	if (k < 0)
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

int state_record_write(int dir_fd, const StateRecord *r)
{
	_cleanup_free_ char *text = NULL;
	char name[32];
	size_t len;
	int k;

	k = state_record_format(r, &text, &len);
	if (k < 0)
		return k;
	snprintf(name, sizeof(name), "%" PRIu64, r->id);
	return state_file_write(dir_fd, name, text, len);
}

int state_record_read(int dir_fd, uint64_t id, StateRecord *ret)
{
	_cleanup_close_ int fd = -EBADF;
	char name[32], buf[STATE_RECORD_SIZE_MAX + 1];
	size_t size = 0;
	struct stat st;

	snprintf(name, sizeof(name), "%" PRIu64, id);
	/* O_NONBLOCK: a FIFO planted under a record's name must not hang the daemon at start. */
	fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP ? -EBADMSG : negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;

	for (;;) {
		ssize_t n = read(fd, buf + size, sizeof(buf) - size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		if (n == 0)
			break;
		size += (size_t) n;
		if (size > STATE_RECORD_SIZE_MAX)
			return -EBADMSG;
	}
	return state_record_parse(buf, size, id, ret);
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
