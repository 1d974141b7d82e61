/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Fake cgroup trees for the cgroup-layer and manager tests: directories of plain memory.* files in
 * a mkdtemp() directory. Include after <cmocka.h> and "test-util.h".
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Contents of dir/rel (static buffer, valid until the next call). */
static inline const char *fake_read(const char *dir, const char *rel)
{
	static char buf[4096];
	char path[PATH_MAX];
	FILE *f;
	size_t n;

	assert_true((size_t) snprintf(path, sizeof(path), "%s/%s", dir, rel) < sizeof(path));
	f = fopen(path, "re");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* dir/rel becomes a memory cgroup lookalike with memory.high = high ("max\n", "536870912\n", ...). */
static inline void fake_cgroup(const char *dir, const char *rel, const char *high)
{
	char sub[PATH_MAX];

#define FAKE_FILE(name, text)                                                   \
	do {                                                                    \
		snprintf(sub, sizeof(sub), "%s/" name, rel);                    \
		test_write_file(dir, sub, text);                                \
	} while (0)
	FAKE_FILE("memory.high", high);
	FAKE_FILE("memory.low", "0\n");
	FAKE_FILE("memory.max", "max\n");
	FAKE_FILE("memory.current", "104857600\n");
	FAKE_FILE("memory.events", "low 1\nhigh 22\nmax 333\noom 4\noom_kill 5\noom_group_kill 0\n");
	FAKE_FILE("memory.pressure", "some avg10=1.23 avg60=0.50 avg300=0.07 total=123456\n"
				     "full avg10=0.05 avg60=0.00 avg300=0.00 total=42\n");
	FAKE_FILE("memory.stat", "anon 4096\nfile 8192\nkernel 0\n");
#undef FAKE_FILE
}

/*
 * dir/rel/file becomes a FIFO whose pipe is full: a write to it blocks (like a memory.high write
 * in the kernel's reclaim) until the returned fd (O_RDWR, non-blocking) is drained, or the writer
 * is interrupted (EINTR). Caller closes the fd.
 */
static inline int fake_stuck_file(const char *dir, const char *rel, const char *file)
{
	char path[PATH_MAX], junk[4096];
	int fd;

	memset(junk, 'x', sizeof(junk));
	assert_true((size_t) snprintf(path, sizeof(path), "%s/%s/%s", dir, rel, file) < sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0644), 0);
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	assert_true(fd >= 0);
	while (write(fd, junk, sizeof(junk)) > 0)
		;
	while (write(fd, junk, 1) > 0)
		;
	return fd;
}
