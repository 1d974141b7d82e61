/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Logging. A Logger lives in the Manager (no global mutable state); modules that log get a pointer.
 * When stderr is connected to the journal (JOURNAL_STREAM matches), records go to sd-journal with
 * structured fields; otherwise readable lines go to stderr.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

typedef struct Logger {
	int max_level;     /* LOG_ERR..LOG_DEBUG */
	bool to_journal;   /* stderr is the journal: use sd_journal_send */
} Logger;

void logger_init(Logger *l, int max_level);

/* Plain message. Returns -abs(error) if error != 0, else 0, so callers can "return log_...". */
int log_full_errno(const Logger *l, int level, int error, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_debug(l, ...)  log_full_errno((l), LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(l, ...)   log_full_errno((l), LOG_INFO, 0, __VA_ARGS__)
#define log_notice(l, ...) log_full_errno((l), LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(l, ...) log_full_errno((l), LOG_WARNING, 0, __VA_ARGS__)
#define log_error(l, ...)  log_full_errno((l), LOG_ERR, 0, __VA_ARGS__)
#define log_error_errno(l, e, ...) log_full_errno((l), LOG_ERR, (e), __VA_ARGS__)
#define log_warning_errno(l, e, ...) log_full_errno((l), LOG_WARNING, (e), __VA_ARGS__)
#define log_debug_errno(l, e, ...) log_full_errno((l), LOG_DEBUG, (e), __VA_ARGS__)

/*
 * Structured record with a stable MESSAGE_ID (see systemd/memqosd.catalog and src/log-ids.h).
 * fields: NULL-terminated list of "KEY=value" strings (e.g. "MEMQOSD_TENANT=web").
 */
void log_struct(const Logger *l, int level, const char *message_id, const char *const *fields,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
