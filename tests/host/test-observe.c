/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host BPF test (root, this machine's kernel): the "observe" policy loads through src/policy.c,
 * attaches, and delivers charge events for memory this test touches, filtered to the memcg the test
 * runs in.
 *
 * Which cgroup id do the charges carry? try_charge_memcg() charges the memcg of the faulting task,
 * and the policy reports memcg->css.cgroup->kn->id: the inode of that memcg's directory in whatever
 * hierarchy the memory controller is mounted (cgroup v1 here: /sys/fs/cgroup/memory/<path from
 * /proc/self/cgroup>; cgroup v2 elsewhere). The test only READS /proc/self/cgroup and stat()s that
 * directory; it creates and changes no cgroup. Charges to the root memcg are never traced
 * (try_charge_memcg is skipped for it): then the test is skipped, loudly.
 *
 * Exit 77 (meson: SKIP) with the reason on stderr when it cannot run: not root, no BTF, BPF refused.
 */

#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-event.h>

#include "log.h"
#include "memcg-self.h"
#include "policy.h"
#include "util.h"

#define TOUCH_BYTES (64ULL << 20)

typedef struct Received {
	uint64_t total;
	uint64_t ours;           /* tenant 1 */
	uint64_t foreign;        /* anything not ours: the filter failed */
	uint64_t charge_events;
	uint64_t charge_value;   /* sum of coalesced counts in CHARGE records */
	uint64_t bad_cgroup;
} Received;

static uint64_t memcg_id;
static Logger logger;

static void on_event(const struct memqosd_event *ev, void *userdata)
{
	Received *r = userdata;

	r->total++;
	if (ev->tenant_id != 1) {
		r->foreign++;
		return;
	}
	r->ours++;
	if (ev->cgroup_id != memcg_id)
		r->bad_cgroup++;
	if (ev->kind == MEMQOSD_EV_CHARGE) {
		r->charge_events++;
		r->charge_value += ev->value;
	}
}

static void touch_memory(void)
{
	char *p = mmap(NULL, TOUCH_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	for (uint64_t off = 0; off < TOUCH_BYTES; off += 4096)
		p[off] = 1;
	assert_int_equal(munmap(p, TOUCH_BYTES), 0);
}

static int stop_loop(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void) usec;
	(void) userdata;
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

static void test_observe_delivers_charges(void **state)
{
	_cleanup_(policy_engine_freep) PolicyEngine *e = NULL;
	struct memqosd_tenant_stats st, st_other;
	Received rcv = {};
	sd_event *event = NULL;
	uint64_t now;
	int r;

	(void) state;
	r = policy_engine_new(&logger, POLICY_MODE_TRACING, NULL, on_event, &rcv, &e);
	assert_int_equal(r, 0);
	assert_int_equal(policy_engine_mode(e), POLICY_MODE_TRACING);

	/* Tenant 1: our memcg. Tenant 2: a cgroup id no cgroup has (the control for the filter; not 1:
	 * that is the root of every hierarchy, an ancestor of everything). */
	assert_int_equal(policy_tenant_add(e, &(PolicyTenant) { .tenant_id = 1, .cgroup_id = memcg_id, .name = "self",
								 .kind = POLICY_OBSERVE }), 0);
	assert_int_equal(policy_tenant_add(e, &(PolicyTenant) { .tenant_id = 2, .cgroup_id = UINT64_MAX - 1, .name = "nobody",
								 .kind = POLICY_OBSERVE }), 0);
	assert_string_equal(policy_tenant_describe(e, 1), "observe (tracing)");
	assert_int_equal(policy_tenant_add(e, &(PolicyTenant) { .tenant_id = 1, .cgroup_id = memcg_id, .name = "dup",
								 .kind = POLICY_OBSERVE }), -EEXIST);

	/* Off by default (the daemon's setting, issue 12): charges are counted, no CHARGE record is
	 * sent, so nothing wakes the reader. */
	assert_true(sd_event_new(&event) >= 0);
	assert_int_equal(policy_engine_attach_event(e, event), 0);
	assert_int_equal(policy_engine_read_stats(e, 1, &st_other), 0);
	touch_memory();
	assert_true(sd_event_now(event, CLOCK_MONOTONIC, &now) >= 0);
	assert_true(sd_event_add_time(event, NULL, CLOCK_MONOTONIC, now + 300 * USEC_PER_MSEC, 0, stop_loop, NULL) >= 0);
	assert_true(sd_event_loop(event) >= 0);
	assert_int_equal(policy_engine_read_stats(e, 1, &st), 0);
	print_message("CHARGE records off: %llu charges, %llu CHARGE records received\n",
		      (unsigned long long) (st.charges - st_other.charges), (unsigned long long) rcv.charge_events);
	assert_true(st.charges > st_other.charges);
	assert_int_equal(rcv.charge_events, 0);
	sd_event_unref(event);
	event = NULL;
	rcv = (Received) {};

	assert_int_equal(policy_engine_set_charge_records(e, true), 0);
	touch_memory();

	/* Deliver through sd-event exactly as the daemon does: the ring buffer's epoll fd. */
	assert_true(sd_event_new(&event) >= 0);
	assert_int_equal(policy_engine_attach_event(e, event), 0);
	assert_true(sd_event_now(event, CLOCK_MONOTONIC, &now) >= 0);
	assert_true(sd_event_add_time(event, NULL, CLOCK_MONOTONIC, now + 300 * USEC_PER_MSEC, 0, stop_loop, NULL) >= 0);
	assert_true(sd_event_loop(event) >= 0);

	assert_int_equal(policy_engine_read_stats(e, 1, &st), 0);
	assert_int_equal(policy_engine_read_stats(e, 2, &st_other), 0);
	print_message("memcg %llu: charges=%llu charge_pages=%llu fails=%llu events=%llu drops=%llu; "
		      "received %llu records (%llu CHARGE covering %llu charges)\n",
		      (unsigned long long) memcg_id, (unsigned long long) st.charges,
		      (unsigned long long) st.charge_pages, (unsigned long long) st.charge_fails,
		      (unsigned long long) st.events, (unsigned long long) st.drops, (unsigned long long) rcv.ours,
		      (unsigned long long) rcv.charge_events, (unsigned long long) rcv.charge_value);

	print_message("observe flavour: %s\n", policy_engine_observe_flavour(e));
	if (streq(policy_engine_observe_flavour(e), "fentry"))
		/* 64 MiB touched: the per-CPU stock is refilled in batches of 64 pages, so about
		 * 16384 / 64 = 256 slow-path charges (others in the same memcg only add). */
		assert_true(st.charges >= TOUCH_BYTES / 4096 / 64 / 2);
	else {
		/* tracepoints: every page newly mapped is accounted: at least the 16384 we touched
		 * (half, in case some faults were served by pages already accounted). */
		assert_string_equal(policy_engine_observe_flavour(e), "tracepoints");
		assert_true(st.charge_pages >= TOUCH_BYTES / 4096 / 2);
	}
	assert_true(st.charge_pages >= st.charges);
	assert_true(rcv.charge_events >= 1);
	/* Everything delivered is ours, names our memcg, and nothing was lost or left unread. */
	assert_int_equal(rcv.foreign, 0);
	assert_int_equal(rcv.bad_cgroup, 0);
	assert_int_equal(st.drops, 0);
	assert_int_equal(policy_engine_lost_events(e), 0);
	assert_int_equal(st.events, rcv.ours);
	assert_int_equal(policy_engine_delivered(e), rcv.total);
	/* Coalescing: each CHARGE record covers the charges since the previous one. */
	assert_true(rcv.charge_value <= st.charges);
	assert_true(rcv.charge_events < st.charges);
	/* The filter: a cgroup id nobody charges sees nothing. */
	assert_int_equal(st_other.charges, 0);
	assert_int_equal(st_other.events, 0);

	/* Removing the tenant stops the reports. The memcg is shared with whatever else runs on the
	 * host, so compare with the counter as read after the removal, not with st (other tasks may
	 * have charged in between). */
	policy_tenant_remove(e, 1);
	assert_string_equal(policy_tenant_describe(e, 1), "none");
	assert_int_equal(policy_engine_read_stats(e, 1, &st), 0);
	touch_memory();
	assert_int_equal(policy_engine_read_stats(e, 1, &st_other), 0);
	assert_int_equal(st_other.charges, st.charges);

	sd_event_unref(event);
}

static void test_detect_mode(void **state)
{
	char reason[256];
	PolicyMode m;

	(void) state;
	m = policy_detect_mode(NULL, reason, sizeof(reason));
	print_message("detected mode %s: %s\n", policy_mode_to_string(m), reason);
	/* This host has BTF and no memcg_ops. */
	assert_int_equal(m, POLICY_MODE_TRACING);
	m = policy_detect_mode("/nonexistent/btf", reason, sizeof(reason));
	assert_int_equal(m, POLICY_MODE_PSI_ONLY);
	assert_non_null(strstr(reason, "BTF"));
}

/* The patched guest kernel's BTF (tests/vm/build-kernel's cache) must be detected as struct_ops. */
static void test_detect_mode_patched(void **state)
{
	const char *path = getenv("MEMQOSD_PATCHED_VMLINUX");
	char reason[256], found[4096];
	glob_t g = {};
	PolicyMode m;

	(void) state;
	if (!path) {
		if (glob("/var/cache/memqosd/kernel/default-*/vmlinux", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
			globfree(&g);
			print_message("*** no patched kernel built (tests/vm/build-kernel): struct_ops detection not tested ***\n");
			skip();
		}
		/* A build with patches applied (its "series" file is not empty). */
		found[0] = 0;
		for (size_t i = 0; i < g.gl_pathc; i++) {
			char series[4096];
			struct stat st;

			(void) snprintf(series, sizeof(series), "%.*s/series",
					(int) (strrchr(g.gl_pathv[i], '/') - g.gl_pathv[i]), g.gl_pathv[i]);
			if (stat(series, &st) == 0 && st.st_size > 0)
				(void) snprintf(found, sizeof(found), "%s", g.gl_pathv[i]);
		}
		globfree(&g);
		if (!found[0]) {
			print_message("*** no patched kernel built (tests/vm/build-kernel): struct_ops detection not tested ***\n");
			skip();
		}
		path = found;
	}
	m = policy_detect_mode(path, reason, sizeof(reason));
	print_message("%s: mode %s: %s\n", path, policy_mode_to_string(m), reason);
	assert_int_equal(m, POLICY_MODE_STRUCT_OPS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect_mode),
		cmocka_unit_test(test_detect_mode_patched),
		cmocka_unit_test(test_observe_delivers_charges),
	};
	_cleanup_(policy_engine_freep) PolicyEngine *probe = NULL;
	char path[4096], reason[256];
	int r;

	logger_init(&logger, LOG_DEBUG);

	if (geteuid() != 0) {
		fprintf(stderr, "\n*** SKIP test-observe: needs root (CAP_BPF, CAP_PERFMON) to load BPF ***\n\n");
		return SKIP_EXIT;
	}
	if (policy_detect_mode(NULL, reason, sizeof(reason)) == POLICY_MODE_PSI_ONLY) {
		fprintf(stderr, "\n*** SKIP test-observe: no usable kernel BTF: %s ***\n\n", reason);
		return SKIP_EXIT;
	}
	r = own_memcg_id(&memcg_id, path, sizeof(path));
	if (r == -ENOENT) {
		fprintf(stderr, "\n*** SKIP test-observe: this process is in the root memcg (or no memory controller); "
				"charges there are never traced ***\n\n");
		return SKIP_EXIT;
	}
	if (r < 0) {
		fprintf(stderr, "test-observe: cannot find own memcg: %s\n", strerror(-r));
		return 1;
	}
	fprintf(stderr, "test-observe: charges go to memcg %s (cgroup id %llu)\n", path, (unsigned long long) memcg_id);

	r = policy_engine_new(&logger, POLICY_MODE_TRACING, NULL, NULL, NULL, &probe);
	r = bpf_load_verdict("test-observe", "the tracing policy", r);
	if (r >= 0)
		return r;
	probe = policy_engine_free(probe);

	return cmocka_run_group_tests(tests, NULL, NULL);
}
