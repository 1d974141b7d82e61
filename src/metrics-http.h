/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The Prometheus endpoint, the wiring half (src/metrics.h renders).
 *
 * Off unless memqosd.conf has [Metrics] Listen=ADDRESS:PORT, or systemd passes a listening socket
 * named "metrics" (memqosd-metrics.socket, FileDescriptorName=metrics), which wins over Listen=.
 * libmicrohttpd serves GET /metrics from its own thread. The event loop never waits for it: a scrape
 * pokes an eventfd that the loop watches; the loop then builds a snapshot from what it already holds
 * (Tenant fields, counters kept by the hooks, the BPF stats map: no cgroup file is read), renders it
 * and publishes the text under a mutex; the HTTP thread waits at most METRICS_SNAPSHOT_WAIT_USEC for
 * it and otherwise serves the previous snapshot (a busy loop makes the answer older, never later).
 *
 * Lifetime: metrics_install() before manager_start() (hooks), metrics_start() after it (the
 * configuration is loaded and the loop's signals are blocked, so the HTTP thread inherits that mask);
 * free after manager_run() and before the Manager: declare it after the Manager.
 */

#include "control-loop.h"
#include "manager.h"

#define METRICS_SNAPSHOT_WAIT_USEC (2 * USEC_PER_SEC)
#define METRICS_SOCKET_NAME "metrics"

typedef struct Metrics Metrics;

/* version: shown in memqosd_build_info (a static string). */
int metrics_install(Manager *m, const ControlLoop *cl, const char *version, Metrics **ret);
/* Serve if configured; a failure to listen is logged loudly and the daemon runs on without. */
int metrics_start(Metrics *ms);
Metrics *metrics_free(Metrics *ms);
DEFINE_TRIVIAL_CLEANUP_FUNC(Metrics *, metrics_free);
