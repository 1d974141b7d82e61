/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "cgroup.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libcgroup.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#include "util.h"

#define CGROUP_FILE_MAX 8192

int cgroup_discover_memory_v2(char **ret_path, char **ret_error)
{
	_cleanup_free_ char *mp = NULL;
	struct statfs sfs;
	int r;

	*ret_error = NULL;

	r = cgroup_init();
	if (r != 0) {
		if (asprintf(ret_error, "libcgroup cannot initialise: %s (is any cgroup hierarchy mounted?)",
			     cgroup_strerror(r)) < 0)
			*ret_error = NULL;
		return -EOPNOTSUPP;
	}

	r = cgroup_get_subsys_mount_point("memory", &mp);
	if (r != 0 || !mp) {
		if (asprintf(ret_error, "the memory controller is not mounted (libcgroup: %s); memqosd needs "
			     "it on cgroup v2", cgroup_strerror(r)) < 0)
			*ret_error = NULL;
		return -EOPNOTSUPP;
	}

	if (statfs(mp, &sfs) < 0) {
		r = negative_errno();
		if (asprintf(ret_error, "cannot statfs memory controller mount %s: %s", mp, strerror(-r)) < 0)
			*ret_error = NULL;
		return r;
	}

	if (sfs.f_type != CGROUP2_SUPER_MAGIC) {
		if (asprintf(ret_error,
			     "the memory controller is mounted on cgroup v1 (%s), not on cgroup v2; memqosd "
			     "needs the unified hierarchy (boot with systemd.unified_cgroup_hierarchy=1 or "
			     "cgroup_no_v1=memory), or pass --cgroup-root for a test tree",
			     mp) < 0)
			*ret_error = NULL;
		return -EOPNOTSUPP;
	}

	*ret_path = TAKE_PTR(mp);
	return 0;
}

bool cgroup_fake_root_allowed(void)
{
	const char *e = getenv(CGROUP_FAKE_ROOT_ENV);

	return e && streq(e, "1");
}

int cgroup_root_open(const char *path, CgroupRoot **ret)
{
	_cleanup_close_ int fd = -EBADF;
	struct statfs sfs;
	CgroupRoot *r;

	fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	if (fstatfs(fd, &sfs) < 0)
		return negative_errno();

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->path = strdup(path);
	if (!r->path) {
		free(r);
		return -ENOMEM;
	}
	r->cgroupfs = sfs.f_type == CGROUP2_SUPER_MAGIC;
	r->fd = TAKE_FD(fd);
	*ret = r;
	return 0;
}

CgroupRoot *cgroup_root_free(CgroupRoot *r)
{
	if (!r)
		return NULL;
	if (r->fd >= 0)
		(void) close(r->fd);
	free(r->path);
	free(r);
	return NULL;
}

int cgroup_openat_beneath_walk(int dir_fd, const char *rel, int flags)
{
	_cleanup_free_ char *copy = NULL;
	_cleanup_close_ int cur = -EBADF;
	char *save = NULL;

	if (flags != (O_DIRECTORY | O_RDONLY))
		return -EINVAL;
	if (rel[0] == '/')
		return -EXDEV;
	copy = strdup(rel);
	if (!copy)
		return -ENOMEM;

	cur = openat(dir_fd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (cur < 0)
		return negative_errno();

	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		struct stat st;
		int fd;

		if (streq(c, "."))
			continue;
		if (streq(c, ".."))
			return -EXDEV;
		fd = openat(cur, c, O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			int r = negative_errno();

			/* O_DIRECTORY|O_NOFOLLOW says ENOTDIR for a symlink; report it as openat2 does. */
			if (r == -ENOTDIR && fstatat(cur, c, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				return -ELOOP;
			return r;
		}
		closep(&cur);
		cur = fd;
	}

	return TAKE_FD(cur);
}

static int openat_beneath(int dir_fd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t) (flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	fd = syscall(SYS_openat2, dir_fd, rel, &how, sizeof(how));
	if (fd >= 0)
		return (int) fd;
	/*
	 * ENOSYS: kernel < 5.6, or a seccomp filter that blocks openat2() because it cannot inspect the
	 * open_how struct (systemd's RestrictSUIDSGID=yes does so, and glibc falls back to openat()).
	 * Then walk the path one component at a time with the same guarantees.
	 */
	if (errno == ENOSYS || errno == EPERM)
		return cgroup_openat_beneath_walk(dir_fd, rel, flags);
	return negative_errno();
}

int cgroup_open(const CgroupRoot *root, const char *rel, int *ret_fd)
{
	int fd;

	if (!rel || !*rel)
		fd = openat_beneath(root->fd, ".", O_DIRECTORY | O_RDONLY);
	else
		fd = openat_beneath(root->fd, rel, O_DIRECTORY | O_RDONLY);
	if (fd < 0)
		return fd;
	*ret_fd = fd;
	return 0;
}

int cgroup_open_existing_ancestor(const CgroupRoot *root, const char *rel, int *ret_fd)
{
	_cleanup_free_ char *p = strdup(rel ? rel : "");
	int r;

	if (!p)
		return -ENOMEM;

	for (;;) {
		char *slash;

		r = cgroup_open(root, p, ret_fd);
		if (r != -ENOENT)
			return r;
		if (!*p)
			return r;
		slash = strrchr(p, '/');
		if (slash)
			*slash = '\0';
		else
			*p = '\0';
	}
}

int cgroup_get_id(int cg_fd, uint64_t *ret)
{
	struct stat st;

	if (fstat(cg_fd, &st) < 0)
		return negative_errno();
	*ret = (uint64_t) st.st_ino;
	return 0;
}

/*
 * A short read that leaves the content under a page is the end of the file: seq_file (cgroup and
 * proc files) fills the buffer up to the end, kernfs files without it return a page at a time,
 * regular files (test trees) everything. That saves the second pread() that would return 0 on
 * every small read (memory.current, memory.pressure: each proactive reclaim step reads them).
 */
#define READ_SHORT_IS_EOF 4096

static int read_fd_at0(int fd, char *buf, size_t size)
{
	size_t total = 0;

	while (total < size - 1) {
		size_t want = size - 1 - total;
		ssize_t n = pread(fd, buf + total, want, (off_t) total);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			break;
		total += (size_t) n;
		if ((size_t) n < want && total < READ_SHORT_IS_EOF)
			break;
	}
	buf[total] = '\0';
	return 0;
}

int cgroup_read_text(int cg_fd, const char *file, char *buf, size_t size)
{
	_cleanup_close_ int fd = -EBADF;

	fd = openat(cg_fd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return negative_errno();
	return read_fd_at0(fd, buf, size);
}

int cgroup_parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	while (isspace((unsigned char) *s))
		s++;
	if (strncmp(s, "max", 3) == 0) {
		/* "max", then only whitespace: "max junk" is not a value. */
		for (end = (char *) s + 3; isspace((unsigned char) *end); end++)
			;
		if (*end != '\0')
			return -EINVAL;
		*ret = UINT64_MAX;
		return 0;
	}
	if (!isdigit((unsigned char) *s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -ERANGE;
	if (v == UINT64_MAX)
		return -ERANGE;  /* UINT64_MAX means "max"; the kernel never prints it as a number */
	while (isspace((unsigned char) *end))
		end++;
	if (*end != '\0')
		return -EINVAL;
	*ret = (uint64_t) v;
	return 0;
}

int cgroup_read_u64(int cg_fd, const char *file, uint64_t *ret)
{
	char buf[64];
	int r;

	r = cgroup_read_text(cg_fd, file, buf, sizeof(buf));
	if (r < 0)
		return r;
	return cgroup_parse_u64(buf, ret);
}

int cgroup_write_u64(int cg_fd, const char *file, uint64_t value)
{
	_cleanup_close_ int fd = -EBADF;
	char buf[32];
	int len;
	ssize_t n;

	if (value == UINT64_MAX)
		len = snprintf(buf, sizeof(buf), "max\n");
	else
		len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", value);

	/* O_TRUNC makes the same code right for a fake tree of plain files; cgroupfs ignores it. */
	fd = openat(cg_fd, file, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return negative_errno();
	n = write(fd, buf, (size_t) len);
	if (n < 0)
		return negative_errno();
	if (n != len)
		return -EIO;
	return 0;
}

int cgroup_read_keyed(int cg_fd, const char *file, const char *key, uint64_t *ret)
{
	char buf[CGROUP_FILE_MAX];
	size_t klen = strlen(key);
	int r;

	r = cgroup_read_text(cg_fd, file, buf, sizeof(buf));
	if (r < 0)
		return r;

	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			return cgroup_parse_u64(line + klen + 1, ret);
	}
	return -ENOKEY;
}

int cgroup_read_keyed_many(int cg_fd, const char *file, const char *const *keys, uint64_t *const *values, size_t n)
{
	char buf[CGROUP_FILE_MAX];
	int r;

	r = cgroup_read_text(cg_fd, file, buf, sizeof(buf));
	if (r < 0)
		return r;
	return cgroup_parse_keyed(buf, keys, values, n, false);
}

int cgroup_parse_keyed(char *buf, const char *const *keys, uint64_t *const *values, size_t n, bool strict)
{
	int found = 0;

	for (char *line = buf, *next; line && *line; line = next) {
		char *sp;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		sp = strchr(line, ' ');
		if (!sp) {
			if (strict)
				return -EINVAL;
			continue;
		}
		*sp = '\0';
		for (size_t i = 0; i < n; i++) {
			uint64_t v;
			int r;

			if (!streq(line, keys[i]))
				continue;
			if (strict) {
				r = cgroup_parse_u64(sp + 1, &v);
				if (r < 0)
					return r;
			} else {
				v = strtoull(sp + 1, NULL, 10);
			}
			*values[i] = v;
			found++;
		}
	}
	return found;
}

int cgroup_parse_memory_events(char *buf, CgroupMemoryEvents *ret)
{
	static const char *const keys[] = { "low", "high", "max", "oom", "oom_kill", "oom_group_kill" };
	CgroupMemoryEvents ev = {};
	uint64_t *const values[] = { &ev.low, &ev.high, &ev.max, &ev.oom, &ev.oom_kill, &ev.oom_group_kill };
	int r;

	r = cgroup_parse_keyed(buf, keys, values, ELEMENTSOF(keys), true);
	if (r < 0)
		return r;
	if (r == 0)
		return -EINVAL;
	*ret = ev;
	return 0;
}

int cgroup_read_memory_events(int cg_fd, CgroupMemoryEvents *ret)
{
	char buf[CGROUP_FILE_MAX];
	int r;

	r = cgroup_read_text(cg_fd, "memory.events", buf, sizeof(buf));
	if (r < 0)
		return r;
	return cgroup_parse_memory_events(buf, ret);
}

int cgroup_read_memory_events_fd(int events_fd, CgroupMemoryEvents *ret)
{
	char buf[CGROUP_FILE_MAX];
	int r;

	r = read_fd_at0(events_fd, buf, sizeof(buf));
	if (r < 0)
		return r;
	return cgroup_parse_memory_events(buf, ret);
}

/* "1.23" -> 123 */
static int parse_avg(const char *s, unsigned *ret)
{
	unsigned long whole, frac = 0;
	char *end;

	errno = 0;
	whole = strtoul(s, &end, 10);
	if (errno != 0 || end == s)
		return -EINVAL;
	if (*end == '.') {
		const char *f = end + 1;
		unsigned digits = 0;

		while (isdigit((unsigned char) *f)) {
			if (digits < 2)
				frac = frac * 10 + (unsigned long) (*f - '0');
			digits++;
			f++;
		}
		if (digits == 0)
			return -EINVAL;
		if (digits == 1)
			frac *= 10;
		end = (char *) f;
	}
	if (*end != '\0' || whole > 100 || (whole == 100 && frac > 0))
		return -EINVAL;  /* a share of time: at most 100.00 */
	*ret = (unsigned) (whole * 100 + frac);
	return 0;
}

static int parse_pressure_line(char *line, unsigned *a10, unsigned *a60, unsigned *a300, uint64_t *total)
{
	int seen = 0;
	char *save = NULL;

	for (char *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		int r = 0;

		if (strncmp(tok, "avg10=", 6) == 0)
			r = parse_avg(tok + 6, a10), seen |= 1;
		else if (strncmp(tok, "avg60=", 6) == 0)
			r = parse_avg(tok + 6, a60), seen |= 2;
		else if (strncmp(tok, "avg300=", 7) == 0)
			r = parse_avg(tok + 7, a300), seen |= 4;
		else if (strncmp(tok, "total=", 6) == 0)
			r = cgroup_parse_u64(tok + 6, total), seen |= 8;
		if (r < 0)
			return r;
	}
	return seen == 15 ? 0 : -EINVAL;
}

int cgroup_read_pressure(int cg_fd, CgroupPressure *ret)
{
	char buf[512];
	int r;

	r = cgroup_read_text(cg_fd, "memory.pressure", buf, sizeof(buf));
	if (r < 0)
		return r;
	return cgroup_parse_pressure(buf, ret);
}

int cgroup_parse_pressure(char *buf, CgroupPressure *ret)
{
	CgroupPressure p = {};
	bool has_some = false;
	int r;

	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "some ", 5) == 0) {
			r = parse_pressure_line(line + 5, &p.some_avg10, &p.some_avg60, &p.some_avg300, &p.some_total);
			has_some = true;
		} else if (strncmp(line, "full ", 5) == 0) {
			r = parse_pressure_line(line + 5, &p.full_avg10, &p.full_avg60, &p.full_avg300, &p.full_total);
			p.has_full = true;
		} else
			r = -EINVAL;
		if (r < 0)
			return r;
	}
	if (!has_some)
		return -EINVAL;
	*ret = p;
	return 0;
}

const char *cgroup_format_bytes(uint64_t v, char *buf, size_t n)
{
	static const char suffixes[] = "KMGT";

	if (v == UINT64_MAX) {
		snprintf(buf, n, "max");
		return buf;
	}
	for (int i = 3; i >= 0; i--) {
		uint64_t unit = 1ULL << (10 * (i + 1));

		if (v >= unit && v % unit == 0) {
			snprintf(buf, n, "%" PRIu64 "%c", v / unit, suffixes[i]);
			return buf;
		}
	}
	snprintf(buf, n, "%" PRIu64, v);
	return buf;
}

int cgroup_pressure_trigger_open(const CgroupRoot *root, int cg_fd, bool full, uint64_t stall_usec,
				 uint64_t window_usec, int *ret_fd)
{
	_cleanup_close_ int fd = -EBADF;
	char buf[64];
	int len;

	if (!root->cgroupfs)
		return -EOPNOTSUPP;

	fd = openat(cg_fd, "memory.pressure", O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return negative_errno();

	len = snprintf(buf, sizeof(buf), "%s %" PRIu64 " %" PRIu64, full ? "full" : "some", stall_usec,
		       window_usec);
	/* The trigger string must be written including its terminating NUL. */
	if (write(fd, buf, (size_t) len + 1) < 0)
		return negative_errno();

	*ret_fd = TAKE_FD(fd);
	return 0;
}

int cgroup_events_open(const CgroupRoot *root, int cg_fd, int *ret_fd, bool *ret_use_inotify)
{
	int fd;

	fd = openat(cg_fd, "memory.events", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return negative_errno();
	*ret_fd = fd;
	*ret_use_inotify = !root->cgroupfs;
	return 0;
}

/* ---- processes ---- */

#define CGROUP_SIGNAL_DEPTH 16 /* nesting walked below the cgroup */

static int signal_uid_at(int dir_fd, uint32_t uid, int sig, unsigned depth)
{
	_cleanup_close_ int procs = -EBADF;
	struct dirent *de;
	DIR *d;
	FILE *f;
	int n = 0, fd;
	char line[64];

	procs = openat(dir_fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	if (procs >= 0 && (f = fdopen(TAKE_FD(procs), "r"))) {
		while (fgets(line, sizeof(line), f)) {
			char path[64], st[256];
			pid_t pid = (pid_t) strtol(line, NULL, 10);
			FILE *s;
			unsigned ruid = UINT32_MAX;
			char state = '?';

			if (pid <= 0)
				continue;
			snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
			s = fopen(path, "re");
			if (!s)
				continue;
			/* State: comes before Uid: */
			while (fgets(st, sizeof(st), s))
				if (sscanf(st, "State: %c", &state) != 1 && sscanf(st, "Uid: %u", &ruid) == 1)
					break;
			fclose(s);
			/* A zombie (or dead) process has nothing left to signal: not counted. */
			if (ruid == uid && state != 'Z' && state != 'X' && kill(pid, sig) == 0)
				n++;
		}
		fclose(f);
	}
	if (depth >= CGROUP_SIGNAL_DEPTH)
		return n;
	/*
	 * A new open file description, not a dup: a dup shares the directory offset with dir_fd, so
	 * the second walk of the same cgroup fd (the next tick's SIGSTOP, a kill's next pass) found
	 * no subdirectories at all.
	 */
	fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return n;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return n;
	}
	while ((de = readdir(d))) {
		int sub;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = openat(dir_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sub < 0)
			continue;
		n += signal_uid_at(sub, uid, sig, depth + 1);
		close(sub);
	}
	closedir(d);
	return n;
}

int cgroup_signal_uid(int cg_fd, uint32_t uid, int sig)
{
	return signal_uid_at(cg_fd, uid, sig, 0);
}
