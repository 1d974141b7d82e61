/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "state.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
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

static const char *const kind_prefix[_STATE_RECORD_KIND_MAX] = {
	[STATE_RECORD_ORIGINALS] = "",
	[STATE_RECORD_GUARD] = "guard-",
};

static bool uids_valid(const uint32_t *uids, size_t n)
{
	if (n > STATE_UIDS_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (uids[i] == UINT32_MAX)
			return false; /* (uid_t) -1 is no uid */
		for (size_t j = 0; j < i; j++)
			if (uids[j] == uids[i])
				return false;
	}
	return true;
}

int state_record_format(const StateRecord *r, char **ret, size_t *ret_len)
{
	bool guard = r->kind == STATE_RECORD_GUARD;
	char *s = NULL;
	size_t len = 0;
	FILE *f;

	if ((unsigned) r->kind >= _STATE_RECORD_KIND_MAX || r->legacy)
		return -EINVAL;
	if (!r->root || !r->cgroup || r->root[0] != '/' || r->cgroup[0] == '\0')
		return -EINVAL;
	if (guard ? r->has_low : r->has_pids_max || r->has_cpu_max || r->n_stopped_uids > 0)
		return -EINVAL;
	if (!uids_valid(r->stopped_uids, r->n_stopped_uids))
		return -EINVAL;

	f = open_memstream(&s, &len);
	if (!f)
		return -ENOMEM;
	if (guard)
		fputs("# memqosd: what the storm guard changed in this cgroup; removed once undone.\n", f);
	else
		fputs("# memqosd: the values of this cgroup before memqosd changed them; removed once restored.\n", f);
	fputs("[Cgroup]\nRoot=", f);
	put_escaped(f, r->root);
	fputs("\nPath=", f);
	put_escaped(f, r->cgroup);
	if (!guard) {
		fputs("\nMemoryHigh=", f);
		put_value(f, r->high);
	}
	if (r->has_low) {
		fputs("\nMemoryLow=", f);
		put_value(f, r->low);
	}
	if (r->frozen)
		fputs("\nFrozen=yes", f);
	if (r->has_pids_max) {
		fputs("\nPidsMax=", f);
		put_value(f, r->pids_max);
	}
	if (r->has_cpu_max) {
		fputs("\nCpuMax=", f);
		put_value(f, r->cpu_max);
	}
	if (r->n_stopped_uids > 0) {
		fputs("\nStoppedUids=", f);
		for (size_t i = 0; i < r->n_stopped_uids; i++)
			fprintf(f, "%s%" PRIu32, i ? " " : "", r->stopped_uids[i]);
	}
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

/* "UID UID ...": decimal uids (no leading zeros, not 2^32-1), one space apart, no repeats. */
static int parse_uids(const char *s, size_t n, uint32_t *uids, size_t *ret_n)
{
	size_t k = 0;

	for (size_t i = 0; i < n;) {
		size_t j = i;
		uint64_t v;

		while (j < n && s[j] != ' ')
			j++;
		if (k >= STATE_UIDS_MAX || (j - i > 1 && s[i] == '0') || parse_value(s + i, j - i, &v) < 0 ||
		    v >= UINT32_MAX)
			return -EBADMSG;
		uids[k++] = (uint32_t) v;
		if (j < n && j + 1 == n)
			return -EBADMSG; /* a trailing space */
		i = j + 1;
	}
	if (!uids_valid(uids, k))
		return -EBADMSG;
	*ret_n = k;
	return 0;
}

static bool key_is(const char *p, size_t kl, const char *key)
{
	return kl == strlen(key) && memcmp(p, key, kl) == 0;
}

/*
 * The previous release's guard record, exactly as its writer made it: "[Guard]", an optional
 * PidsMax=, Frozen=0 or 1, StoppedUids= (possibly empty), in that order, no comments.
 */
static int parse_legacy(const char *buf, size_t size, uint64_t id, StateRecord *ret)
{
	StateRecord r = { .kind = STATE_RECORD_GUARD, .id = id, .legacy = true };
	const char *p = buf, *end = buf + size;
	unsigned line = 0;
	bool has_frozen = false, has_uids = false;

	for (; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t) (end - p)), *eq;
		size_t n, kl;

		if (!nl)
			return -EBADMSG;
		n = (size_t) (nl - p);
		eq = memchr(p, '=', n);
		kl = eq ? (size_t) (eq - p) : n;
		if (line == 0) {
			if (!key_is(p, n, "[Guard]"))
				return -EBADMSG;
		} else if (!eq || has_uids)
			return -EBADMSG;
		else if (key_is(p, kl, "PidsMax") && line == 1) {
			if (parse_value(eq + 1, n - kl - 1, &r.pids_max) < 0)
				return -EBADMSG;
			r.has_pids_max = true;
		} else if (key_is(p, kl, "Frozen") && !has_frozen && n - kl - 1 == 1 && (eq[1] == '0' || eq[1] == '1')) {
			has_frozen = true;
			r.frozen = eq[1] == '1';
		} else if (key_is(p, kl, "StoppedUids") && has_frozen) {
			if (parse_uids(eq + 1, n - kl - 1, r.stopped_uids, &r.n_stopped_uids) < 0)
				return -EBADMSG;
			has_uids = true;
		} else
			return -EBADMSG;
		p = nl + 1;
	}
	if (!has_uids)
		return -EBADMSG;
	*ret = r;
	return 0;
}

int state_record_parse(const char *buf, size_t size, StateRecordKind kind, uint64_t id, StateRecord *ret)
{
	StateRecord r = { .kind = kind, .id = id };
	bool in_section = false, has_high = false, has_frozen = false, has_uids = false;
	bool guard = kind == STATE_RECORD_GUARD;
	const char *p = buf, *end = buf + size;
	int k = 0;

	if (size > STATE_RECORD_SIZE_MAX || (unsigned) kind >= _STATE_RECORD_KIND_MAX)
		return -EBADMSG;
	if (guard && size >= 8 && memcmp(buf, "[Guard]\n", 8) == 0)
		return parse_legacy(buf, size, id, ret);

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

			if (key_is(p, kl, "Root") && !r.root)
				k = unescape(v, vl, &r.root);
			else if (key_is(p, kl, "Path") && !r.cgroup)
				k = unescape(v, vl, &r.cgroup);
			else if (key_is(p, kl, "MemoryHigh") && !guard && !has_high) {
				k = parse_value(v, vl, &r.high);
				has_high = k >= 0;
			} else if (key_is(p, kl, "MemoryLow") && !guard && !r.has_low) {
				k = parse_value(v, vl, &r.low);
				r.has_low = k >= 0;
			} else if (key_is(p, kl, "Frozen") && !has_frozen) {
				/* Only ever written as "yes"; anything else is not ours. */
				has_frozen = true;
				if (vl == 3 && memcmp(v, "yes", 3) == 0)
					r.frozen = true;
				else
					k = -EBADMSG;
			} else if (key_is(p, kl, "PidsMax") && guard && !r.has_pids_max) {
				k = parse_value(v, vl, &r.pids_max);
				r.has_pids_max = k >= 0;
			} else if (key_is(p, kl, "CpuMax") && guard && !r.has_cpu_max) {
				k = parse_value(v, vl, &r.cpu_max);
				r.has_cpu_max = k >= 0;
			} else if (key_is(p, kl, "StoppedUids") && guard && !has_uids) {
				/* Only written with at least one uid. */
				k = vl == 0 ? -EBADMSG : parse_uids(v, vl, r.stopped_uids, &r.n_stopped_uids);
				has_uids = true;
			} else
				k = -EBADMSG;
		}
		p = nl + 1;
	}
	if (k >= 0 && ((!guard && !has_high) || !r.root || !r.cgroup || r.root[0] != '/' || r.cgroup[0] == '\0'))
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

static void record_name(StateRecordKind kind, uint64_t id, char name[static 32])
{
	snprintf(name, 32, "%s%" PRIu64, kind_prefix[kind], id);
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
	record_name(r->kind, r->id, name);
	return state_file_write(dir_fd, name, text, len);
}

int state_record_read(int dir_fd, StateRecordKind kind, uint64_t id, StateRecord *ret)
{
	_cleanup_close_ int fd = -EBADF;
	char name[32], buf[STATE_RECORD_SIZE_MAX + 1];
	size_t size = 0;
	struct stat st;

	if ((unsigned) kind >= _STATE_RECORD_KIND_MAX)
		return -EINVAL;
	record_name(kind, id, name);
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
	return state_record_parse(buf, size, kind, id, ret);
}

int state_record_remove(int dir_fd, StateRecordKind kind, uint64_t id)
{
	char name[32];

	if ((unsigned) kind >= _STATE_RECORD_KIND_MAX)
		return -EINVAL;
	record_name(kind, id, name);
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

int state_list(int dir_fd, StateRecordKind kind, uint64_t **ret_ids, size_t *ret_n)
{
	size_t pl;
	_cleanup_free_ uint64_t *ids = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	if ((unsigned) kind >= _STATE_RECORD_KIND_MAX)
		return -EINVAL;
	pl = strlen(kind_prefix[kind]);
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
		if (strncmp(de->d_name, kind_prefix[kind], pl) != 0 || !parse_id(de->d_name + pl, &id))
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


int state_record_undo(int cg_fd, const StateRecord *r, StateUndo *ret)
{
	StateUndo u = {};
	uint64_t frozen;
	int k;

	for (StateUndoStep step = 0; step < _STATE_UNDO_STEP_MAX; step++)
		switch (step) {
		case STATE_UNDO_CONTINUE_UIDS:
			for (size_t i = 0; i < r->n_stopped_uids; i++) {
				k = cgroup_signal_uid(cg_fd, r->stopped_uids[i], SIGCONT);
				if (k < 0 && u.uids >= 0)
					u.uids = k;
				else if (k >= 0) {
					u.continued += (unsigned) k;
					if (u.uids == 0)
						u.uids = 1;
				}
			}
			break;
		case STATE_UNDO_CPU_MAX:
			if (r->has_cpu_max) {
				k = cgroup_write_u64(cg_fd, "cpu.max", r->cpu_max);
				u.cpu_max = k < 0 && !cgroup_errno_is_gone(k) ? k : 1;
			}
			break;
		case STATE_UNDO_PIDS_MAX:
			if (r->has_pids_max) {
				k = cgroup_write_u64(cg_fd, "pids.max", r->pids_max);
				u.pids_max = k < 0 && !cgroup_errno_is_gone(k) ? k : 1;
			}
			break;
		case STATE_UNDO_THAW:
			if (!r->frozen)
				break;
			k = cgroup_read_u64(cg_fd, "cgroup.freeze", &frozen);
			if (k >= 0 && frozen != 0) {
				k = cgroup_write_u64(cg_fd, "cgroup.freeze", 0);
				if (k >= 0)
					u.thaw = 1;
			}
			if (k < 0 && !cgroup_errno_is_gone(k))
				u.thaw = k;
			break;
		default:
			break;
		}
	*ret = u;
	return u.uids < 0 ? u.uids : u.cpu_max < 0 ? u.cpu_max : u.pids_max < 0 ? u.pids_max : u.thaw < 0 ? u.thaw : 0;
}
