/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The cgroup layer. Everything goes through a directory fd of the cgroup2 root: tenant directories
 * are opened beneath it with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), memory.* files beneath
 * those. Functions return 0 or a negative errno and log nothing above debug; callers decide.
 *
 * -ENOENT / -ENODEV from any tenant I/O means the cgroup vanished (see cgroup_errno_is_gone()).
 *
 * The root is either discovered with libcgroup (memory controller must be on cgroup v2) or given
 * (DaemonConfig.cgroup_root, --cgroup-root). A given root skips the libcgroup check, so tests can use
 * a fake tree of plain files; whether the root really is cgroupfs is recorded in CgroupRoot.cgroupfs
 * (statfs magic), and features that need the kernel (PSI triggers, POLLPRI on memory.events) are only
 * used there.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "log.h"

typedef struct CgroupRoot {
	int fd;         /* O_DIRECTORY|O_PATH fd of the root */
	char *path;     /* for messages */
	bool cgroupfs;  /* statfs says cgroup2: PSI triggers and POLLPRI notifications work */
} CgroupRoot;

/*
 * Find the cgroup v2 mount that carries the memory controller, with libcgroup. Returns -EOPNOTSUPP
 * (with a message in *ret_error, caller frees) when memory is on cgroup v1 or not mounted at all.
 */
int cgroup_discover_memory_v2(char **ret_path, char **ret_error);

/*
 * A root that is not cgroup2 (statfs magic) is refused by the daemon unless this variable is "1":
 * the integration tests and benchmarks run on a fake tree of plain files.
 */
#define CGROUP_FAKE_ROOT_ENV "MEMQOSD_TEST_FAKE_CGROUP_ROOT"
bool cgroup_fake_root_allowed(void);

/* Open path as the root. */
int cgroup_root_open(const char *path, CgroupRoot **ret);
CgroupRoot *cgroup_root_free(CgroupRoot *r);

/*
 * Open the cgroup directory rel (relative, as normalised by the config parser) beneath the root.
 * -ENOENT: does not exist (yet). -EXDEV / -ELOOP: the path escapes the root or goes through a
 * symlink. -ENOTDIR: not a directory. Returns an O_DIRECTORY fd (not O_PATH: inotify and openat work).
 */
int cgroup_open(const CgroupRoot *root, const char *rel, int *ret_fd);

/*
 * The fallback behind cgroup_open() where openat2() is unavailable (ENOSYS: old kernel, or a seccomp
 * filter such as systemd's RestrictSUIDSGID=yes): one openat(O_DIRECTORY|O_NOFOLLOW) per component,
 * ".." and absolute paths refused with -EXDEV, symlinks with -ELOOP. flags: O_DIRECTORY|O_RDONLY.
 * Exported for tests.
 */
int cgroup_openat_beneath_walk(int dir_fd, const char *rel, int flags);

/* Open the deepest existing ancestor directory of rel (the root itself at worst), for inotify. */
int cgroup_open_existing_ancestor(const CgroupRoot *root, const char *rel, int *ret_fd);

/* The cgroup id the kernel uses (bpf_get_current_cgroup_id(), cgroup_id in BPF): the dir's inode. */
int cgroup_get_id(int cg_fd, uint64_t *ret);

/* True for errors meaning "this cgroup is gone". */
static inline bool cgroup_errno_is_gone(int r)
{
	return r == -ENOENT || r == -ENODEV;
}

/* Single value files: a number or "max" (UINT64_MAX). */
/* Parse such a value (surrounding whitespace allowed): -EINVAL / -ERANGE on anything else. */
/* Read FILE beneath CG_FD (or a path with AT_FDCWD) into BUF, NUL-terminated, at most SIZE - 1 bytes. */
int cgroup_read_text(int cg_fd, const char *file, char *buf, size_t size);
int cgroup_parse_u64(const char *s, uint64_t *ret);
int cgroup_read_u64(int cg_fd, const char *file, uint64_t *ret);
int cgroup_write_u64(int cg_fd, const char *file, uint64_t value);

/*
 * Send sig to every process whose real uid is uid in cgroup cg_fd and below (16 levels deep).
 * Returns the number of processes signalled; processes that exit meanwhile, and zombies, are
 * skipped (so 0 after a SIGKILL means none of them is left running).
 */
int cgroup_signal_uid(int cg_fd, uint32_t uid, int sig);

/* "key value" files (memory.events, memory.stat): value of key, -ENOKEY if absent. */
int cgroup_read_keyed(int cg_fd, const char *file, const char *key, uint64_t *ret);

typedef struct CgroupMemoryEvents {
	uint64_t low, high, max, oom, oom_kill, oom_group_kill;
} CgroupMemoryEvents;

/*
 * Lines of "key value" text (modified in place): *values[i] gets the value of keys[i] (untouched if
 * absent). Strict: a line without a space or a bad value is -EINVAL/-ERANGE; lenient: such lines are
 * skipped and a value is its leading digits ("1234 kB" -> 1234). Returns how many keys were found.
 */
int cgroup_parse_keyed(char *buf, const char *const *keys, uint64_t *const *values, size_t n, bool strict);
/* One read of file, several keys (lenient, as cgroup_parse_keyed()): keys found, or negative errno. */
int cgroup_read_keyed_many(int cg_fd, const char *file, const char *const *keys, uint64_t *const *values, size_t n);

int cgroup_read_memory_events(int cg_fd, CgroupMemoryEvents *ret);
/* Parse the text of memory.events (modified in place). -EINVAL if no known key or a bad line. */
int cgroup_parse_memory_events(char *buf, CgroupMemoryEvents *ret);
/* Same, read from offset 0 of an fd from cgroup_events_open() (re-arms POLLPRI on cgroupfs). */
int cgroup_read_memory_events_fd(int events_fd, CgroupMemoryEvents *ret);

typedef struct CgroupPressure {
	/* averages in hundredths of a percent (avg10=1.23 -> 123), totals in usec */
	unsigned some_avg10, some_avg60, some_avg300;
	uint64_t some_total;
	unsigned full_avg10, full_avg60, full_avg300;
	uint64_t full_total;
	bool has_full;
} CgroupPressure;

int cgroup_read_pressure(int cg_fd, CgroupPressure *ret);
/* Parse the text of memory.pressure (modified in place): "some ..." required, "full ..." optional. */
int cgroup_parse_pressure(char *buf, CgroupPressure *ret);

/* Format a memory.* value for messages: "max" or "512M"-style or bytes. buf >= 32 bytes. */
const char *cgroup_format_bytes(uint64_t v, char *buf, size_t n);

/*
 * Arm a PSI trigger on memory.pressure: "some|full STALL WINDOW" written to a fresh fd which is then
 * polled for POLLPRI. Returns -EOPNOTSUPP when the tree is not cgroupfs (the write would just
 * overwrite a plain file), or the kernel's error for the write.
 */
int cgroup_pressure_trigger_open(const CgroupRoot *root, int cg_fd, bool full, uint64_t stall_usec,
				 uint64_t window_usec, int *ret_fd);

/*
 * Open memory.events for change notification. On cgroupfs the fd is polled for POLLPRI
 * (*ret_use_inotify = false); on a fake tree the caller watches the fd with inotify IN_MODIFY.
 */
int cgroup_events_open(const CgroupRoot *root, int cg_fd, int *ret_fd, bool *ret_use_inotify);
