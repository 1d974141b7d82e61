/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cgroup v2, workload and kernel-feature helpers for the kernel VM tests and the charge benchmark.
 * These run inside the qemu guest only (tests/vm/run); never on the host's cgroup tree.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- result reporting ---- */
struct kt_report {
	const char *test;
	int failures;
	int checks;
};

void kt_check(struct kt_report *r, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void kt_note(struct kt_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the test's verdict line; returns the process exit status (0 pass, 1 fail). */
int kt_finish(struct kt_report *r);
/* Fatal setup error: prints "<test>: SETUP ERROR: ..." and exits 2. */
void kt_die(struct kt_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* ---- cgroup v2 ---- */
/* Base of the tests' (and the benchmark's) cgroups inside the guest (KT_CGROOT overrides). */
const char *kt_cgroot(void);
int cg_mkdir(const char *path);		  /* removes a leftover tree first */
int cg_rmtree(const char *path);	  /* depth first; retries while tasks are exiting */
int cg_write(const char *cg, const char *file, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cg_read_u64(const char *cg, const char *file, uint64_t *ret);
int cg_read_key(const char *cg, const char *file, const char *key, uint64_t *ret);
int cg_id(const char *cg, uint64_t *ret);	  /* cgroup id == inode of the directory */
int cg_move(const char *cg, pid_t pid);
void cg_path(char *buf, size_t len, const char *parent, const char *name);
/* The cgroup this process is in, as a cgroupfs path (from /proc/self/cgroup). */
int cg_own(char *buf, size_t len);

/* ---- allocation workers (forked children that join a cgroup) ---- */
struct kt_work {
	size_t bytes;		/* anonymous region touched each round */
	unsigned int rounds;	/* rounds to run; 0 = until kt_worker_stop() */
	bool drop;		/* MADV_DONTNEED the region after each round (charge+uncharge) */
	bool hold;		/* touch once, report ready, then keep the memory until stopped */
	unsigned int yield_pages; /* sched_yield() after every that many pages touched (0: never) */
};

struct kt_result {
	uint64_t ns;		/* time spent in the rounds */
	uint64_t rounds;	/* rounds completed */
	uint64_t pages;		/* pages touched */
	int status;		/* 0 = ok */
};

struct kt_worker {
	pid_t pid;
	int ready_fd;		/* child writes one byte when it is in the cgroup (and holds memory) */
	int result_fd;
};

int kt_worker_start(struct kt_worker *w, const char *cg, const struct kt_work *work);
int kt_worker_wait_ready(struct kt_worker *w);
/* Signals the worker to stop after its current round and collects its result. */
int kt_worker_stop(struct kt_worker *w, struct kt_result *res);
/* Waits for a worker with a fixed number of rounds. */
int kt_worker_join(struct kt_worker *w, struct kt_result *res);
/* start + join */
int kt_run(const char *cg, const struct kt_work *work, struct kt_result *res);

uint64_t kt_now_ns(void);
void kt_sleep_ms(unsigned int ms);

/* ---- kernel ---- */
/* 1 if the running kernel's BTF has struct memcg_ops, 0 if not, <0 if BTF is unreadable. */
int kt_kernel_has_memcg_ops(void);
