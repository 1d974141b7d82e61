/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd's file-descriptor store; see fdstore.h.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "fdstore.h"
#include "handover.h"

/*
 * Each object goes into the store wrapped: it is sent (SCM_RIGHTS, with its name as the payload)
 * into one end of a datagram socket pair, and that end, holding it in flight, is what systemd keeps.
 * systemd drops a second fd it takes for the same open file, and without kcmp() (a kernel without
 * CONFIG_CHECKPOINT_RESTORE, e.g. the test guests) it can only compare inodes and flags: every BPF
 * map shares one anonymous inode, every link another, so all but one of each would be dropped.
 * Sockets have an inode each. A start peeks (MSG_PEEK) the object out, leaving it in flight in the
 * socket systemd still holds; FDSTOREREMOVE closes the socket and with it the object's reference.
 */
static int wrap(const char *name, int fd, int *ret)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} control = {};
	struct iovec iov = { .iov_base = (void *) name, .iov_len = strlen(name) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control) };
	struct cmsghdr *c;
	int sv[2], r = 0;

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		return negative_errno();
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sv[0], &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		r = negative_errno();
	(void) close(sv[0]);
	if (r < 0) {
		(void) close(sv[1]);
		return r;
	}
	*ret = sv[1];
	return 0;
}

/* The object a wrapped entry holds (a new fd; the socket keeps its own), or <0 (not one of ours). */
static int unwrap(int sock, const char *name)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} control = {};
	char payload[HANDOVER_NAME_MAX + 1];
	struct iovec iov = { .iov_base = payload, .iov_len = sizeof(payload) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control) };
	int fd = -EBADF;
	ssize_t n;

	n = recvmsg(sock, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return negative_errno();
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int x;

				memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (fd < 0)
					fd = x;
				else
					(void) close(x);
			}
	payload[n] = 0;
	if (fd < 0 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !streq(payload, name)) {
		if (fd >= 0)
			(void) close(fd);
		return -EBADMSG;
	}
	return fd;
}

typedef struct FdStoreEntry {
	char *name;   /* NULL once taken */
	int fd;
} FdStoreEntry;

struct FdStore {
	const Logger *log;
	bool enabled;
	FdStoreEntry *entries;
	size_t n_entries;
};

int fdstore_new(const Logger *log, FdStore **ret)
{
	_cleanup_(fdstore_freep) FdStore *s = NULL;
	char **names = NULL;
	int n;

	if (!log || !ret)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->log = log;
	/* A service of systemd's: it sets both (a notify listener of a test sets only the first). */
	s->enabled = getenv("NOTIFY_SOCKET") && getenv("INVOCATION_ID");

	n = sd_listen_fds_with_names(/* unset_environment= */ true, &names);
	if (n < 0)
		return log_error_errno(log, n, "Cannot take the file descriptors systemd passed: %m");
	if (n > 0) {
		s->entries = calloc((size_t) n, sizeof(*s->entries));
		if (!s->entries) {
			for (int i = 0; i < n; i++) {
				(void) close(SD_LISTEN_FDS_START + i);
				free(names ? names[i] : NULL);
			}
			free(names);
			return -ENOMEM;
		}
		for (int i = 0; i < n; i++) {
			int sock = SD_LISTEN_FDS_START + i, fd = -EBADF;

			s->entries[i] = (FdStoreEntry) { .name = names ? names[i] : NULL, .fd = -EBADF };
			if (!s->entries[i].name || strncmp(s->entries[i].name, FDSTORE_OWN_PREFIX, strlen(FDSTORE_OWN_PREFIX)) != 0) {
				/* Not a store entry of ours (e.g. memqosd-metrics.socket's "metrics"): kept
				 * as passed, for the module that owns that name (fdstore_take()). */
				s->entries[i].fd = sock;
				continue;
			}
			fd = unwrap(sock, s->entries[i].name);
			if (fd < 0)
				(void) log_notice(log, "File descriptor store entry %s holds nothing memqosd knows, ignoring it",
						  s->entries[i].name);
			(void) close(sock); /* systemd keeps its copy, with the object in flight */
			s->entries[i].fd = fd;
		}
		s->n_entries = (size_t) n;
		free(names);
	}

	if (s->enabled)
		(void) log_info(log, "File descriptor store: %d object(s) handed back by systemd; BPF policies are kept "
			       "across restarts", n);
	else
		(void) log_notice(log, "Not a systemd service (no $NOTIFY_SOCKET/$INVOCATION_ID), no file descriptor store: BPF "
				 "policies are detached when memqosd exits and attached again by the next start");
	*ret = TAKE_PTR(s);
	return 0;
}

FdStore *fdstore_free(FdStore *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_entries; i++) {
		if (s->entries[i].fd >= 0)
			(void) close(s->entries[i].fd);
		free(s->entries[i].name);
	}
	free(s->entries);
	free(s);
	return NULL;
}

bool fdstore_enabled(const FdStore *s)
{
	return s && s->enabled;
}

size_t fdstore_count(const FdStore *s)
{
	return s ? s->n_entries : 0;
}

const char *fdstore_name(const FdStore *s, size_t i)
{
	return s && i < s->n_entries && s->entries[i].fd >= 0 ? s->entries[i].name : NULL;
}

int fdstore_take(FdStore *s, const char *name)
{
	if (!s || !name)
		return -ENOENT;
	for (size_t i = 0; i < s->n_entries; i++)
		if (s->entries[i].fd >= 0 && streq(s->entries[i].name, name))
			return TAKE_FD(s->entries[i].fd);
	return -ENOENT;
}

int fdstore_put(FdStore *s, const char *name, int fd)
{
	char msg[HANDOVER_NAME_MAX + 32];
	_cleanup_close_ int sock = -EBADF;
	int r;

	if (!s || !s->enabled)
		return -EOPNOTSUPP;
	if (fd < 0 || !handover_name_valid(name))
		return -EINVAL;
	r = wrap(name, fd, &sock);
	if (r < 0)
		return log_warning_errno(s->log, r, "Cannot wrap %s for systemd's file descriptor store: %m", name);
	(void) snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	r = sd_pid_notify_with_fds(0, false, msg, &sock, 1);
	if (r < 0)
		return log_warning_errno(s->log, r, "Cannot hand %s to systemd's file descriptor store: %m", name);
	if (r == 0)
		return -EOPNOTSUPP;
	return 0;
}

int fdstore_remove(FdStore *s, const char *name)
{
	char msg[HANDOVER_NAME_MAX + 32];
	int r;

	if (!s || !s->enabled)
		return -EOPNOTSUPP;
	if (!handover_name_valid(name))
		return -EINVAL;
	(void) snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	r = sd_notify(false, msg);
	if (r < 0)
		return log_warning_errno(s->log, r, "Cannot remove %s from systemd's file descriptor store: %m", name);
	return 0;
}

#define SYSTEMD_DEST "org.freedesktop.systemd1"

int fdstore_stop_is_restart(const FdStore *s)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	_cleanup_free_ char *unit = NULL, *job = NULL, *type = NULL;
	const char *path;
	uint32_t job_id = 0, fdmax = 0;
	int r;

	if (!fdstore_enabled(s))
		return 0;
	/* A connection of its own: the daemon's is closed once its event loop has exited. */
	r = sd_bus_open_system(&bus);
	if (r < 0)
		goto fail;
	r = sd_bus_call_method(bus, SYSTEMD_DEST, "/org/freedesktop/systemd1", SYSTEMD_DEST ".Manager",
			       "GetUnitByPID", &error, &reply, "u", (uint32_t) getpid());
	if (r >= 0) {
		r = sd_bus_message_read(reply, "o", &path);
		if (r >= 0 && !(unit = strdup(path)))
			r = -ENOMEM;
	}
	reply = sd_bus_message_unref(reply);
	if (r < 0)
		goto fail;
	r = sd_bus_get_property_trivial(bus, SYSTEMD_DEST, unit, SYSTEMD_DEST ".Service", "FileDescriptorStoreMax",
					&error, 'u', &fdmax);
	if (r < 0)
		goto fail;
	if (fdmax == 0) {
		(void) log_notice(s->log, "The unit has FileDescriptorStoreMax=0: BPF policies cannot outlive this process");
		return 0;
	}
	r = sd_bus_get_property(bus, SYSTEMD_DEST, unit, SYSTEMD_DEST ".Unit", "Job", &error, &reply, "(uo)");
	if (r >= 0) {
		r = sd_bus_message_read(reply, "(uo)", &job_id, &path);
		if (r >= 0 && !(job = strdup(path)))
			r = -ENOMEM;
	}
	reply = sd_bus_message_unref(reply);
	if (r < 0)
		goto fail;
	if (job_id == 0)
		return 0; /* SIGTERM without a job (kill by hand): nothing will start us again */
	r = sd_bus_get_property_string(bus, SYSTEMD_DEST, job, SYSTEMD_DEST ".Job", "JobType", &error, &type);
	if (r < 0)
		goto fail;
	(void) log_debug(s->log, "Stopping for systemd job %u (%s)", job_id, type);
	return streq(type, "restart") || streq(type, "try-restart");
fail:
	(void) log_warning_errno(s->log, r, "Cannot ask systemd whether this is a restart (%s), treating it as a stop: %m",
				 error.message ?: "no details");
	sd_bus_error_free(&error);
	return r;
}
