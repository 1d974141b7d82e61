/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Logger: structured sd-journal records when stderr is connected to the journal (systemd sets
 * JOURNAL_STREAM=DEV:INODE of the stream it gave us), readable lines on stderr otherwise.
 */

#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

#include "util.h"

#define LOG_LINE_MAX 2048

static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e)
		return false;
	if (sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void logger_init(Logger *l, int max_level)
{
	l->max_level = max_level;
	l->to_journal = stderr_is_journal();
}

static const char *level_prefix(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error: ";
	case LOG_WARNING:
		return "warning: ";
	case LOG_DEBUG:
		return "debug: ";
	default:
		return "";
	}
}

/* sd_journal_send() drops records silently when this socket is missing (journald not running). */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static void emit(const Logger *l, int level, const char *message_id, const char *const *fields, const char *msg)
{
	if (!l->to_journal || access(JOURNAL_SOCKET, F_OK) < 0) {
		fprintf(stderr, "memqosd: %s%s\n", level_prefix(level), msg);
		return;
	}

	size_t n_fields = 0;
	if (fields)
		while (fields[n_fields])
			n_fields++;

	/* MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, MESSAGE_ID, fields */
	size_t n = 4 + n_fields;
	struct iovec *iov = calloc(n, sizeof(struct iovec));
	_cleanup_free_ char *m = NULL, *p = NULL, *id = NULL;
	size_t k = 0;

	if (!iov || asprintf(&m, "MESSAGE=%s", msg) < 0 || asprintf(&p, "PRIORITY=%i", level) < 0) {
		free(iov);
		fprintf(stderr, "memqosd: %s%s\n", level_prefix(level), msg);
		return;
	}
	iov[k++] = (struct iovec) { .iov_base = m, .iov_len = strlen(m) };
	iov[k++] = (struct iovec) { .iov_base = p, .iov_len = strlen(p) };
	iov[k++] = (struct iovec) { .iov_base = (char *) "SYSLOG_IDENTIFIER=memqosd",
				    .iov_len = strlen("SYSLOG_IDENTIFIER=memqosd") };
	if (message_id && asprintf(&id, "MESSAGE_ID=%s", message_id) >= 0)
		iov[k++] = (struct iovec) { .iov_base = id, .iov_len = strlen(id) };
	for (size_t i = 0; i < n_fields; i++)
		iov[k++] = (struct iovec) { .iov_base = (char *) fields[i], .iov_len = strlen(fields[i]) };

	if (sd_journal_sendv(iov, (int) k) < 0)
		fprintf(stderr, "memqosd: %s%s\n", level_prefix(level), msg);
	free(iov);
}

int log_full_errno(const Logger *l, int level, int error, const char *fmt, ...)
{
	int e = error < 0 ? -error : error;

	if (level <= l->max_level) {
		char buf[LOG_LINE_MAX];
		va_list ap;
		int saved = errno;

		/* Let %m print the error passed in, as systemd's log_*_errno() do. */
		errno = e;
		va_start(ap, fmt);
		(void) vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		errno = saved;

		if (e != 0 && l->to_journal) {
			char errno_field[32];
			const char *fields[] = { errno_field, NULL };

			(void) snprintf(errno_field, sizeof(errno_field), "ERRNO=%i", e);
			emit(l, level, NULL, fields, buf);
		} else
			emit(l, level, NULL, NULL, buf);
	}

	return -e;
}

void log_struct(const Logger *l, int level, const char *message_id, const char *const *fields, const char *fmt, ...)
{
	char buf[LOG_LINE_MAX];
	va_list ap;

	if (level > l->max_level)
		return;

	va_start(ap, fmt);
	(void) vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);

	emit(l, level, message_id, fields, buf);
}
