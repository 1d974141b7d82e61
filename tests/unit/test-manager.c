/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Manager (src/manager.c) on a fake cgroup tree (mkdtemp) with a real config directory:
 * start-up clamp and restore on stop, dry-run, reload diffing (added/removed/changed, restore of
 * removed tenants, refused reload keeping everything), waiting tenants picked up through inotify,
 * vanished cgroups released, symlink escape refused as FILE:LINE: Cgroup=:.
 * No D-Bus here: DBUS_SYSTEM_BUS_ADDRESS points nowhere, which the manager survives with a warning.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#include "manager.h"
#include "util.h"
#include "test-util.h"
#include "fake-cgroup.h"

typedef struct Fixture {
	char dir[64];
	char cg[128];
	char conf[128];
	Manager *m;
} Fixture;

static void mkdir_at(const char *base, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void make_cgroup(Fixture *f, const char *rel, const char *high)
{
	fake_cgroup(f->cg, rel, high);
}

static void profile(Fixture *f, const char *name, const char *text)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "tenants.d/%s.conf", name);
	test_write_file(f->conf, rel, text);
}

static void unprofile(Fixture *f, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/tenants.d/%s.conf", f->conf, name);
	assert_int_equal(unlink(path), 0);
}

static int setup(void **state)
{
	Fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-manager-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->cg, sizeof(f->cg), "%s/cg", f->dir);
	snprintf(f->conf, sizeof(f->conf), "%s/conf", f->dir);
	assert_int_equal(mkdir(f->cg, 0755), 0);
	assert_int_equal(mkdir(f->conf, 0755), 0);
	mkdir_at(f->conf, "tenants.d");
	mkdir_at(f->cg, "tenants");
	test_write_file(f->conf, "memqosd.conf", "[Daemon]\nLogLevel=debug\n");

	/* web: found at "max", above MemoryHighMax -> clamped to 1536M at start; MemoryLow=256M */
	make_cgroup(f, "tenants/web", "max\n");
	profile(f, "web",
		"[Tenant]\nCgroup=tenants/web\nPriority=80\nMemoryHighMin=768M\nMemoryHighMax=1536M\nMemoryLow=256M\n");
	/* batch: found at 512M, inside its bounds -> left alone */
	make_cgroup(f, "tenants/batch", "536870912\n");
	profile(f, "batch", "[Tenant]\nCgroup=tenants/batch\nPriority=20\nMemoryHighMin=256M\nMemoryHighMax=1G\n");

	setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/memqosd-test-bus", 1);
	unsetenv("NOTIFY_SOCKET");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fixture *f = *state;

	manager_free(f->m);
	test_rm_rf(f->dir);
	free(f);
	return 0;
}

static void start(Fixture *f, bool dry_run)
{
	ManagerOptions o = {
		.config_dir = f->conf,
		.cgroup_root = f->cg,
		.dry_run = dry_run,
		.log_level = -1,
	};

	assert_int_equal(manager_new(&o, &f->m), 0);
	assert_int_equal(manager_start(f->m), 0);
}

/* Let inotify events arrive and dispatch them. */
static void run_loop(Manager *m)
{
	for (int i = 0; i < 20; i++)
		if (sd_event_run(m->event, 20 * 1000) == 0 && i > 2)
			break;
}

static void test_start_clamps_and_stop_restores(void **state)
{
	Fixture *f = *state;
	Tenant *web, *batch;

	start(f, false);
	assert_int_equal(f->m->n_tenants, 2);
	web = manager_find_tenant(f->m, "web");
	batch = manager_find_tenant(f->m, "batch");
	assert_non_null(web);
	assert_non_null(batch);
	assert_int_equal(web->state, TENANT_ACTIVE);
	assert_int_equal(batch->state, TENANT_ACTIVE);
	assert_true(web->original_high == UINT64_MAX);
	assert_int_equal(web->high, 1536ULL << 20);
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "1610612736\n");
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.low"), "268435456\n");
	assert_string_equal(fake_read(f->cg, "tenants/batch/memory.high"), "536870912\n");
	assert_int_equal(web->current, 104857600);
	assert_string_equal(f->m->mode, "psi-only");
	assert_int_equal(manager_count_waiting(f->m), 0);

	/* the control loop's write path */
	assert_int_equal(manager_apply_high(f->m, batch, 300ULL << 20, "test squeeze"), 0);
	assert_string_equal(fake_read(f->cg, "tenants/batch/memory.high"), "314572800\n");
	assert_true(batch->high_written);

	manager_stop(f->m);
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "max\n");
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.low"), "0\n");
	assert_string_equal(fake_read(f->cg, "tenants/batch/memory.high"), "536870912\n");
	assert_int_equal(f->m->n_tenants, 0);
}

static void test_dry_run_writes_nothing(void **state)
{
	Fixture *f = *state;
	Tenant *web;

	start(f, true);
	assert_true(f->m->dry_run);
	web = manager_find_tenant(f->m, "web");
	assert_int_equal(web->state, TENANT_ACTIVE);
	/* intended value tracked, nothing written */
	assert_int_equal(web->high, 1536ULL << 20);
	assert_false(web->high_written);
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "max\n");
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.low"), "0\n");
	assert_int_equal(manager_apply_high(f->m, web, 1ULL << 30, "test"), 0);
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "max\n");
	manager_stop(f->m);
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "max\n");
}

static void test_reload_applies_diff(void **state)
{
	Fixture *f = *state;
	ConfigErrors errors = {};
	Tenant *web, *db;

	/* batch found at max so that memqosd clamps it: its removal must restore "max" */
	test_write_file(f->cg, "tenants/batch/memory.high", "max\n");
	make_cgroup(f, "tenants/db", "max\n");
	start(f, false);
	assert_string_equal(fake_read(f->cg, "tenants/batch/memory.high"), "1073741824\n");

	unprofile(f, "batch");
	profile(f, "web", "[Tenant]\nCgroup=tenants/web\nPriority=80\nMemoryHighMin=768M\nMemoryHighMax=1G\n");
	profile(f, "db", "[Tenant]\nCgroup=tenants/db\nPriority=90\nMemoryHighMin=1G\nMemoryHighMax=2G\n");

	assert_int_equal(manager_reload(f->m, &errors), 0);
	assert_int_equal(errors.n, 0);
	assert_int_equal(f->m->n_tenants, 2);
	assert_null(manager_find_tenant(f->m, "batch"));
	/* removed tenant: restored */
	assert_string_equal(fake_read(f->cg, "tenants/batch/memory.high"), "max\n");
	/* changed tenant: new bounds applied, MemoryLow= dropped -> memory.low back to the value found */
	web = manager_find_tenant(f->m, "web");
	assert_int_equal(web->high, 1ULL << 30);
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "1073741824\n");
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.low"), "0\n");
	/* added tenant: set up like at start */
	db = manager_find_tenant(f->m, "db");
	assert_non_null(db);
	assert_int_equal(db->state, TENANT_ACTIVE);
	assert_string_equal(fake_read(f->cg, "tenants/db/memory.high"), "2147483648\n");
	/* the tenants list follows the new config's order and points into it */
	assert_ptr_equal(f->m->tenants[0]->config, f->m->config->tenants[0]);
	assert_ptr_equal(f->m->tenants[1]->config, f->m->config->tenants[1]);
	assert_int_equal(f->m->n_reloads, 1);

	manager_stop(f->m);
	/* the original values of the tenant as first found, not of the reload */
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "max\n");
	assert_string_equal(fake_read(f->cg, "tenants/db/memory.high"), "max\n");
}

static void test_reload_refused_keeps_everything(void **state)
{
	Fixture *f = *state;
	ConfigErrors errors = {};
	const Config *before;
	char expect[256];
	bool found = false;

	start(f, false);
	before = f->m->config;

	/* two errors in two files; the valid edit in a third must not be applied either */
	profile(f, "web", "[Tenant]\nCgroup=tenants/web\nPriority=800\nMemoryHighMin=768M\nMemoryHighMax=1536M\n");
	profile(f, "batch", "[Tenant]\nCgroup=tenants/batch\nPriority=20\nMemoryHighMin=256M\nMemoryHighMax=1G\nBogus=1\n");
	make_cgroup(f, "tenants/db", "max\n");
	profile(f, "db", "[Tenant]\nCgroup=tenants/db\nPriority=90\nMemoryHighMin=1G\nMemoryHighMax=2G\n");

	assert_int_equal(manager_reload(f->m, &errors), -EINVAL);
	assert_true(errors.n >= 2);
	snprintf(expect, sizeof(expect), "%s/tenants.d/web.conf:3: Priority=:", f->conf);
	for (size_t i = 0; i < errors.n; i++)
		if (strncmp(errors.lines[i], expect, strlen(expect)) == 0)
			found = true;
	assert_true(found);
	config_errors_clear(&errors);

	assert_ptr_equal(f->m->config, before);
	assert_int_equal(f->m->n_tenants, 2);
	assert_null(manager_find_tenant(f->m, "db"));
	assert_string_equal(fake_read(f->cg, "tenants/db/memory.high"), "max\n");
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "1610612736\n");
	assert_int_equal(f->m->n_reloads, 0);
}

static void test_waiting_tenant_picked_up(void **state)
{
	Fixture *f = *state;
	char staging[256], final[256];
	Tenant *late;

	profile(f, "late", "[Tenant]\nCgroup=tenants/pod/late\nPriority=50\nMemoryHighMin=64M\nMemoryHighMax=128M\n");
	start(f, false);
	late = manager_find_tenant(f->m, "late");
	assert_int_equal(late->state, TENANT_WAITING);
	assert_int_equal(manager_count_waiting(f->m), 1);

	/* the parent appears first (empty), then the cgroup, complete, by rename (as cgroupfs: atomically) */
	mkdir_at(f->cg, "tenants/pod");
	run_loop(f->m);
	assert_int_equal(late->state, TENANT_WAITING);
	snprintf(staging, sizeof(staging), "%s/staging", f->dir);
	assert_int_equal(mkdir(staging, 0755), 0);
	fake_cgroup(staging, ".", "max\n");
	snprintf(final, sizeof(final), "%s/tenants/pod/late", f->cg);
	assert_int_equal(rename(staging, final), 0);
	run_loop(f->m);

	assert_int_equal(late->state, TENANT_ACTIVE);
	assert_string_equal(fake_read(f->cg, "tenants/pod/late/memory.high"), "134217728\n");
	manager_stop(f->m);
	assert_string_equal(fake_read(f->cg, "tenants/pod/late/memory.high"), "max\n");
}

static void test_vanished_cgroup_released(void **state)
{
	Fixture *f = *state;
	char path[512];
	Tenant *web, *batch;

	start(f, false);
	web = manager_find_tenant(f->m, "web");
	batch = manager_find_tenant(f->m, "batch");
	assert_int_equal(web->state, TENANT_ACTIVE);

	snprintf(path, sizeof(path), "%s/tenants/web", f->cg);
	test_rm_rf(path);
	run_loop(f->m);
	assert_int_equal(web->state, TENANT_WAITING);
	assert_int_equal(web->cg_fd, -EBADF);
	assert_int_equal(batch->state, TENANT_ACTIVE);

	/* writes to a released tenant are refused, not attempted */
	assert_int_equal(manager_apply_high(f->m, web, 1ULL << 30, "test"), -ENOENT);

	/* it comes back: picked up again, with what is found now recorded */
	make_cgroup(f, "tenants/web", "1073741824\n");
	run_loop(f->m);
	assert_int_equal(web->state, TENANT_ACTIVE);
	assert_int_equal(web->original_high, 1ULL << 30);
	manager_stop(f->m);
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "1073741824\n");
}

static void test_vanished_during_write(void **state)
{
	Fixture *f = *state;
	char path[512];
	Tenant *batch;

	start(f, false);
	batch = manager_find_tenant(f->m, "batch");
	snprintf(path, sizeof(path), "%s/tenants/batch", f->cg);
	test_rm_rf(path);
	/* before inotify is dispatched: the write itself finds the cgroup gone and releases */
	assert_true(cgroup_errno_is_gone(manager_apply_high(f->m, batch, 300ULL << 20, "test")));
	assert_int_equal(batch->state, TENANT_WAITING);
	manager_stop(f->m);
}

static void test_symlink_cgroup_refused(void **state)
{
	Fixture *f = *state;
	_cleanup_free_ char *log = NULL;
	char link[512], logfile[256], expect[512];
	ManagerOptions o = { .config_dir = f->conf, .cgroup_root = f->cg, .log_level = -1 };
	int saved, fd;
	FILE *lf;
	size_t n;

	snprintf(link, sizeof(link), "%s/tenants/sneaky", f->cg);
	assert_int_equal(symlink("/tmp", link), 0);
	profile(f, "sneaky", "[Tenant]\nCgroup=tenants/sneaky\nPriority=10\nMemoryHighMin=1M\nMemoryHighMax=2M\n");

	/* capture the log lines on stderr */
	snprintf(logfile, sizeof(logfile), "%s/stderr", f->dir);
	fd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);

	assert_int_equal(manager_new(&o, &f->m), 0);
	f->m->log.to_journal = false;
	assert_int_equal(manager_start(f->m), -EINVAL);

	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);

	lf = fopen(logfile, "re");
	assert_non_null(lf);
	log = calloc(1, 8192);
	n = fread(log, 1, 8191, lf);
	log[n] = '\0';
	fclose(lf);
	snprintf(expect, sizeof(expect), "%s/tenants.d/sneaky.conf:2: Cgroup=:", f->conf);
	assert_non_null(strstr(log, expect));
	/* nothing was touched */
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "max\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_clamps_and_stop_restores, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dry_run_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_applies_diff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_refused_keeps_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiting_tenant_picked_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished_cgroup_released, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished_during_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_cgroup_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
