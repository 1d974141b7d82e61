/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0)
		(void) close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f)
{
	if (*f)
		(void) fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand over ownership out of a cleanup-attributed variable. */
#define TAKE_PTR(p)                                     \
	({                                              \
		__typeof__(p) _ptr_ = (p);              \
		(p) = NULL;                             \
		_ptr_;                                  \
	})
#define TAKE_FD(fd)                                     \
	({                                              \
		int _fd_ = (fd);                        \
		(fd) = -EBADF;                          \
		_fd_;                                   \
	})

/* Define foo_freep() for a foo_free() that accepts NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)         \
	static inline void func##p(type *p)             \
	{                                               \
		if (*p)                                 \
			(void) func(*p);                \
	}

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* Equal strings, or both NULL. */
static inline bool streq_ptr(const char *a, const char *b)
{
	return (!a || !b) ? a == b : strcmp(a, b) == 0;
}

static inline bool strcaseeq_ascii(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = (*a >= 'A' && *a <= 'Z') ? (char) (*a + 32) : *a;
		char y = (*b >= 'A' && *b <= 'Z') ? (char) (*b + 32) : *b;
		if (x != y)
			return false;
	}
	return *a == *b;
}

/* Negative errno from the current errno, never 0. */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

#define USEC_PER_SEC  1000000ULL
#define USEC_PER_MSEC 1000ULL
#define NSEC_PER_USEC 1000ULL

/*
 * The time on `clock` now, in microseconds. CLOCK_MONOTONIC is the clock of bpf_ktime_get_ns() and
 * of the event loop's timers. Not sd_event_now(): that is the time the loop iteration began, older
 * than records read in it, which would overstate rates over short spans.
 */
static inline uint64_t clock_usec(clockid_t clock)
{
	struct timespec ts;

	(void) clock_gettime(clock, &ts);
	return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

/* Sentinel for "max" in memory.* files and in profiles. */
#define MEMQOSD_BYTES_MAX UINT64_MAX
