/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Manager (src/manager.c) on a fake cgroup tree (mkdtemp) with a real config directory:
 * start-up clamp and restore on stop, dry-run, reload diffing (added/removed/changed, restore of
 * removed tenants, refused reload keeping everything), waiting tenants picked up through inotify,
 * vanished cgroups released, symlink escape refused as FILE:LINE: Cgroup=:; originals kept in the
 * state directory across a simulated crash (a manager freed without manager_stop(), as after
 * SIGKILL), corrupt / stale / orphaned records, an unusable state directory.
 * No D-Bus here: DBUS_SYSTEM_BUS_ADDRESS points nowhere, which the manager survives with a warning.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/stat.h>

#include "manager.h"
#include "state.h"
#include "util.h"
#include "test-util.h"
#include "fake-cgroup.h"

typedef struct Fixture {
	char dir[64];
	char cg[128];
	char conf[128];
	char state[128];
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
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
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

	setenv("MEMQOSD_TEST_FAKE_CGROUP_ROOT", "1", 1); /* the tree in f->cg is plain files */
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
		.state_dir = f->state,
	};

	assert_int_equal(manager_new(&o, &f->m), 0);
	assert_int_equal(manager_start(f->m), 0);
	manager_settle(f->m); /* the start-up writes are off the loop */
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
	manager_settle(f->m);
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
	manager_settle(f->m);
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
	manager_settle(f->m);
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

/* An instance's own TenantConfig, as src/instances.c makes one. */
static TenantConfig *instance(Fixture *f, const char *name, const char *cgroup, int priority)
{
	TenantConfig *c = tenant_config_dup(config_find_tenant(f->m->config, "batch"));

	assert_non_null(c);
	free(c->name);
	free(c->cgroup);
	c->name = strdup(name);
	c->cgroup = strdup(cgroup);
	c->template = strdup("t");
	c->priority = priority;
	assert_non_null(c->name);
	assert_non_null(c->cgroup);
	assert_non_null(c->template);
	return c;
}

/*
 * Template instances through the manager's API: inserted in name order (found by name), refused on
 * a cgroup a tenant has, dropped by the sweep when their cgroup goes, restored when removed, and
 * reconfigured; a reload keeps them.
 */
static void test_instances(void **state)
{
	Fixture *f = *state;
	char path[512];
	Tenant *t, *u;

	start(f, false);
	make_cgroup(f, "tenants/i1", "max\n");
	make_cgroup(f, "tenants/i2", "max\n");
	assert_int_equal(manager_add_instance(f->m, instance(f, "t@i1", "tenants/i1", 5), &t), 0);
	assert_int_equal(manager_add_instance(f->m, instance(f, "t@i2", "tenants/i2", 5), &u), 0);
	manager_settle(f->m);
	assert_int_equal(f->m->n_tenants, 4);
	for (size_t i = 1; i < f->m->n_tenants; i++)
		assert_true(strcmp(f->m->tenants[i - 1]->config->name, f->m->tenants[i]->config->name) < 0);
	assert_ptr_equal(manager_find_tenant(f->m, "t@i1"), t);
	assert_ptr_equal(manager_find_tenant_by_cgroup(f->m, "tenants/i2"), u);
	assert_int_equal(t->state, TENANT_ACTIVE);
	assert_string_equal(fake_read(f->cg, "tenants/i1/memory.high"), "1073741824\n"); /* batch's bounds */

	/* a cgroup a profile has, or a name taken: refused (the config is freed) */
	assert_int_equal(manager_add_instance(f->m, instance(f, "t@web", "tenants/web", 5), NULL), -EEXIST);
	assert_int_equal(manager_add_instance(f->m, instance(f, "t@i1", "tenants/other", 5), NULL), -EEXIST);

	/* the profiles' reload keeps the instances */
	profile(f, "batch", "[Tenant]\nCgroup=tenants/batch\nPriority=25\nMemoryHighMin=256M\nMemoryHighMax=1G\n");
	assert_int_equal(manager_reload(f->m, &(ConfigErrors) {}), 0);
	assert_ptr_equal(manager_find_tenant(f->m, "t@i1"), t);
	assert_int_equal(f->m->n_tenants, 4);

	/* reconfigured: new bounds applied */
	{
		TenantConfig *c = instance(f, "t@i1", "tenants/i1", 7);

		c->memory_high_max = 512ULL << 20;
		manager_reconfigure_instance(f->m, t, c);
		manager_settle(f->m);
		assert_int_equal(t->config->priority, 7);
		assert_string_equal(fake_read(f->cg, "tenants/i1/memory.high"), "536870912\n");
	}

	/* its cgroup goes: dropped by the sweep, nothing restored */
	snprintf(path, sizeof(path), "%s/tenants/i2", f->cg);
	test_rm_rf(path);
	run_loop(f->m);
	assert_null(manager_find_tenant(f->m, "t@i2"));
	assert_int_equal(f->m->n_tenants, 3);

	/* removed (template gone): its memory.high restored */
	manager_remove_instance(f->m, t, "test: template removed");
	manager_settle(f->m);
	run_loop(f->m);
	assert_null(manager_find_tenant(f->m, "t@i1"));
	assert_string_equal(fake_read(f->cg, "tenants/i1/memory.high"), "max\n");
	manager_stop(f->m);
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
	assert_int_equal(manager_apply_high(f->m, batch, 300ULL << 20, "test"), 0);
	manager_settle(f->m);
	assert_int_equal(batch->state, TENANT_WAITING);
	manager_stop(f->m);
}

/* Start a manager like start(), with its log lines (stderr) captured; returns them (caller frees). */
static char *start_logged_r(Fixture *f, const char *state_dir, int expect_r)
{
	ManagerOptions o = { .config_dir = f->conf, .cgroup_root = f->cg, .log_level = -1, .state_dir = state_dir };
	char logfile[256], *log;
	int saved, fd;
	FILE *lf;
	size_t n;

	snprintf(logfile, sizeof(logfile), "%s/stderr", f->dir);
	fd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);

	assert_int_equal(manager_new(&o, &f->m), 0);
	f->m->log.to_journal = false;
	assert_int_equal(manager_start(f->m), expect_r);
	if (expect_r >= 0)
		manager_settle(f->m);

	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);

	lf = fopen(logfile, "re");
	assert_non_null(lf);
	log = calloc(1, 65536);
	assert_non_null(log);
	n = fread(log, 1, 65535, lf);
	log[n] = '\0';
	fclose(lf);
	return log;
}

static char *start_logged(Fixture *f, const char *state_dir)
{
	return start_logged_r(f, state_dir, 0);
}

static void test_symlink_cgroup_refused(void **state)
{
	Fixture *f = *state;
	_cleanup_free_ char *log = NULL;
	char link[512], expect[512];

	snprintf(link, sizeof(link), "%s/tenants/sneaky", f->cg);
	assert_int_equal(symlink("/tmp", link), 0);
	profile(f, "sneaky", "[Tenant]\nCgroup=tenants/sneaky\nPriority=10\nMemoryHighMin=1M\nMemoryHighMax=2M\n");

	log = start_logged_r(f, f->state, -EINVAL);
	snprintf(expect, sizeof(expect), "%s/tenants.d/sneaky.conf:2: Cgroup=:", f->conf);
	assert_non_null(strstr(log, expect));
	/* nothing was touched */
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "max\n");
}

/* The cgroup id of a fake cgroup: its directory's inode, as cgroup_get_id() says. */
static uint64_t fake_id(Fixture *f, const char *rel)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", f->cg, rel);
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t) st.st_ino;
}

static bool record_exists(Fixture *f, uint64_t id)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%" PRIu64, f->state, id);
	return access(path, F_OK) == 0;
}

static size_t count_state_files(Fixture *f)
{
	DIR *d = opendir(f->state);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void write_record(Fixture *f, uint64_t id, const char *text)
{
	char name[32];

	snprintf(name, sizeof(name), "%" PRIu64, id);
	test_write_file(f->state, name, text);
}

/* The simulated crash: the manager goes away without manager_stop(), so nothing is restored. */
static void crash(Fixture *f)
{
	manager_settle(f->m); /* the writes made it to the files, then SIGKILL */
	f->m = manager_free(f->m);
}

static void test_state_record_written_and_removed(void **state)
{
	Fixture *f = *state;
	_cleanup_close_ int dfd = -EBADF;
	StateRecord rec = {};
	Tenant *web, *batch;

	start(f, false);
	web = manager_find_tenant(f->m, "web");
	batch = manager_find_tenant(f->m, "batch");
	assert_true(web->recorded);
	assert_false(web->recovered);
	assert_int_equal(web->cgroup_id, fake_id(f, "tenants/web"));

	dfd = open(f->state, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(state_record_read(dfd, STATE_RECORD_ORIGINALS, web->cgroup_id, &rec), 0);
	assert_string_equal(rec.root, f->cg);
	assert_string_equal(rec.cgroup, "tenants/web");
	assert_true(rec.high == UINT64_MAX); /* as found, not the clamped 1536M */
	assert_true(rec.has_low);
	assert_int_equal(rec.low, 0);
	state_record_done(&rec);
	assert_int_equal(state_record_read(dfd, STATE_RECORD_ORIGINALS, batch->cgroup_id, &rec), 0);
	assert_int_equal(rec.high, 512ULL << 20);
	state_record_done(&rec);
	/* exactly the two records, no temporary file left */
	assert_int_equal(count_state_files(f), 2);

	manager_stop(f->m);
	assert_int_equal(count_state_files(f), 0);
}

static void test_crash_then_restart_restores_originals(void **state)
{
	Fixture *f = *state;
	_cleanup_free_ char *log = NULL;
	uint64_t web_id = fake_id(f, "tenants/web"), batch_id = fake_id(f, "tenants/batch");
	Tenant *web, *batch;

	start(f, false);
	batch = manager_find_tenant(f->m, "batch");
	assert_int_equal(manager_apply_high(f->m, batch, 300ULL << 20, "test squeeze"), 0);
	manager_settle(f->m);
	crash(f);
	/* memqosd's values stay behind */
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "1610612736\n");
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.low"), "268435456\n");
	assert_string_equal(fake_read(f->cg, "tenants/batch/memory.high"), "314572800\n");
	assert_true(record_exists(f, web_id));
	assert_true(record_exists(f, batch_id));

	/* the restarted manager takes the originals from the records, not the squeezed values found */
	log = start_logged(f, f->state);
	web = manager_find_tenant(f->m, "web");
	batch = manager_find_tenant(f->m, "batch");
	assert_true(batch->recovered);
	assert_int_equal(batch->original_high, 512ULL << 20);
	/* like a fresh start on the original: the start-up rule clamps the original, not the leftover */
	assert_int_equal(batch->high, 512ULL << 20);
	assert_true(batch->high_written);
	assert_true(web->recovered);
	assert_true(web->original_high == UINT64_MAX);
	assert_int_equal(web->original_low, 0);
	assert_string_equal(fake_read(f->cg, "tenants/batch/memory.high"), "536870912\n");
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "1610612736\n");
	assert_non_null(strstr(log, "Tenant batch: originals recovered after unclean exit"));
	assert_non_null(strstr(log, "memory.high 512M (found 300M)"));
	assert_non_null(strstr(log, "Tenant web: originals recovered after unclean exit"));

	/* squeezed again, and a second crash: the very first originals are kept (records not overwritten) */
	assert_int_equal(manager_apply_high(f->m, batch, 280ULL << 20, "test squeeze"), 0);
	manager_settle(f->m);
	crash(f);
	free(log);
	log = start_logged(f, f->state);
	batch = manager_find_tenant(f->m, "batch");
	assert_int_equal(batch->original_high, 512ULL << 20);
	assert_non_null(strstr(log, "memory.high 512M (found 280M)"));

	manager_stop(f->m);
	assert_string_equal(fake_read(f->cg, "tenants/batch/memory.high"), "536870912\n");
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "max\n");
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.low"), "0\n");
	assert_false(record_exists(f, web_id));
	assert_false(record_exists(f, batch_id));
}

/* The record of id says Frozen=yes (1), not (0); the record must exist. */
static int record_frozen(Fixture *f, uint64_t id)
{
	_cleanup_close_ int dfd = open(f->state, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	StateRecord rec = {};
	int frozen;

	assert_true(dfd >= 0);
	assert_int_equal(state_record_read(dfd, STATE_RECORD_ORIGINALS, id, &rec), 0);
	frozen = rec.frozen;
	state_record_done(&rec);
	return frozen;
}

/*
 * A paused write marks the record Frozen=yes before it is handed to the writer and clears it when
 * reported; a cgroup frozen by someone else is not marked. A crash leaving the mark and the cgroup
 * frozen: the restart thaws it and clears the mark.
 */
static void test_paused_write_marks_record(void **state)
{
	Fixture *f = *state;
	_cleanup_free_ char *log = NULL;
	uint64_t batch_id = fake_id(f, "tenants/batch");
	_cleanup_close_ int dfd = -EBADF;
	StateRecord rec = {};
	Tenant *batch;

	test_write_file(f->cg, "tenants/batch/cgroup.freeze", "0\n");
	start(f, false);
	batch = manager_find_tenant(f->m, "batch");
	assert_int_equal(record_frozen(f, batch_id), 0);

	assert_int_equal(manager_reclaim_more(f->m, batch, 300ULL << 20, "test paused", true), 0);
	assert_int_equal(record_frozen(f, batch_id), 1); /* on disk before the writer runs it */
	manager_settle(f->m);
	assert_int_equal(record_frozen(f, batch_id), 0);
	assert_false(batch->frozen_marked);
	assert_string_equal(fake_read(f->cg, "tenants/batch/cgroup.freeze"), "0\n"); /* the writer thawed */

	/* someone else's freeze: neither paused by the writer nor marked */
	test_write_file(f->cg, "tenants/batch/cgroup.freeze", "1\n");
	assert_int_equal(manager_reclaim_more(f->m, batch, 300ULL << 20, "test paused", true), 0);
	assert_int_equal(record_frozen(f, batch_id), 0);
	manager_settle(f->m);
	assert_string_equal(fake_read(f->cg, "tenants/batch/cgroup.freeze"), "1\n");

	/* killed inside a round: the mark and the freeze stay behind */
	crash(f);
	dfd = open(f->state, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(state_record_read(dfd, STATE_RECORD_ORIGINALS, batch_id, &rec), 0);
	rec.frozen = true;
	assert_int_equal(state_record_write(dfd, &rec), 0);
	state_record_done(&rec);

	log = start_logged(f, f->state);
	assert_non_null(strstr(log, "Tenant batch: thawed cgroup tenants/batch (cgroup.freeze 1 -> 0)"));
	assert_string_equal(fake_read(f->cg, "tenants/batch/cgroup.freeze"), "0\n");
	assert_int_equal(record_frozen(f, batch_id), 0);
	batch = manager_find_tenant(f->m, "batch");
	assert_int_equal(batch->original_high, 512ULL << 20);

	/* a mark whose cgroup is not frozen (killed after the thaw): cleared, nothing written */
	crash(f);
	assert_int_equal(state_record_read(dfd, STATE_RECORD_ORIGINALS, batch_id, &rec), 0);
	rec.frozen = true;
	assert_int_equal(state_record_write(dfd, &rec), 0);
	state_record_done(&rec);
	free(log);
	log = start_logged(f, f->state);
	assert_null(strstr(log, "thawed cgroup"));
	assert_non_null(strstr(log, "cgroup tenants/batch is not frozen"));
	assert_int_equal(record_frozen(f, batch_id), 0);

	manager_stop(f->m);
	assert_string_equal(fake_read(f->cg, "tenants/batch/memory.high"), "536870912\n");
	assert_false(record_exists(f, batch_id));
}

static void test_crash_then_profile_changes(void **state)
{
	Fixture *f = *state;
	_cleanup_free_ char *log = NULL;
	Tenant *web;

	start(f, false);
	crash(f);
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.low"), "268435456\n");

	/* meanwhile web lost MemoryLow= and batch its profile */
	profile(f, "web", "[Tenant]\nCgroup=tenants/web\nPriority=80\nMemoryHighMin=768M\nMemoryHighMax=1G\n");
	unprofile(f, "batch");
	test_write_file(f->cg, "tenants/batch/memory.high", "314572800\n");

	log = start_logged(f, f->state);
	web = manager_find_tenant(f->m, "web");
	assert_true(web->recovered);
	/* the leftover memory.low goes back at once; memory.high clamped from the original (max) */
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.low"), "0\n");
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "1073741824\n");
	/* batch, managed by no profile now, gets its original back at start and its record goes */
	assert_string_equal(fake_read(f->cg, "tenants/batch/memory.high"), "536870912\n");
	assert_false(record_exists(f, fake_id(f, "tenants/batch")));
	assert_non_null(strstr(log, "of cgroup tenants/batch, which no profile manages any more (recovered after unclean exit)"));

	manager_stop(f->m);
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "max\n");
	assert_int_equal(count_state_files(f), 0);
}

/*
 * A record with web's cgroup id that must not be used (text: its content, %s = the cgroup root):
 * web starts from the values found, and the record is replaced by a valid one of those. Returns the
 * log; the caller checks its message, then stops.
 */
static char *start_with_unusable_web_record(Fixture *f, const char *text)
{
	_cleanup_close_ int dfd = -EBADF;
	uint64_t web_id = fake_id(f, "tenants/web");
	StateRecord rec = {};
	char buf[512];
	Tenant *web;
	char *log;

	if (access(f->state, F_OK) < 0)
		assert_int_equal(mkdir(f->state, 0700), 0);
	snprintf(buf, sizeof(buf), text, f->cg);
	write_record(f, web_id, buf);

	log = start_logged(f, f->state);
	web = manager_find_tenant(f->m, "web");
	assert_false(web->recovered);
	assert_true(web->original_high == UINT64_MAX); /* as found */
	dfd = open(f->state, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	assert_int_equal(state_record_read(dfd, STATE_RECORD_ORIGINALS, web_id, &rec), 0);
	assert_string_equal(rec.cgroup, "tenants/web");
	assert_true(rec.high == UINT64_MAX);
	state_record_done(&rec);
	return log;
}

static void stop_restores_web_and_cleans(Fixture *f)
{
	manager_stop(f->m);
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "max\n");
	assert_int_equal(count_state_files(f), 0);
}

static void test_corrupt_record_ignored(void **state)
{
	Fixture *f = *state;
	_cleanup_free_ char *log = NULL;
	char expect[256];

	/* a record for a cgroup that exists no more, and a crash's temporary file */
	assert_int_equal(mkdir(f->state, 0700), 0);
	write_record(f, 4000000001ULL, "[Cgroup]\nRoot=/nonexistent\nPath=tenants/gone\nMemoryHigh=max\n");
	test_write_file(f->state, ".tmp-4000000002", "[Cgroup]\n");

	log = start_with_unusable_web_record(f, "[Cgroup]\nRoot=%s\nPath=tenants/web\nMemoryHigh=lots\n");
	snprintf(expect, sizeof(expect), "Tenant web: state record %s/%" PRIu64 " is unreadable or corrupt", f->state,
		 fake_id(f, "tenants/web"));
	assert_non_null(strstr(log, expect));
	/* the stale record and the temporary file were cleaned: web's and batch's records are left */
	assert_false(record_exists(f, 4000000001ULL));
	assert_int_equal(count_state_files(f), 2);
	assert_non_null(strstr(log, "cgroup /nonexistent/tenants/gone is gone"));
	stop_restores_web_and_cleans(f);
}

static void test_record_of_another_cgroup_ignored(void **state)
{
	Fixture *f = *state;
	_cleanup_free_ char *log = NULL;

	/* same id (a reused inode) but another path: not web's originals */
	log = start_with_unusable_web_record(f, "[Cgroup]\nRoot=%s\nPath=tenants/old\nMemoryHigh=1048576\nMemoryLow=0\n");
	assert_non_null(strstr(log, "is for cgroup tenants/old under"));
	stop_restores_web_and_cleans(f);
}

static void test_unusable_state_dir_not_fatal(void **state)
{
	Fixture *f = *state;
	_cleanup_free_ char *log = NULL;
	char notdir[256];
	Tenant *web;

	/* a regular file where the directory should be */
	snprintf(notdir, sizeof(notdir), "%s/not-a-dir", f->dir);
	test_write_file(f->dir, "not-a-dir", "");

	log = start_logged(f, notdir);
	assert_non_null(strstr(log, "Cannot use state directory"));
	web = manager_find_tenant(f->m, "web");
	assert_int_equal(web->state, TENANT_ACTIVE);
	assert_false(web->recorded);
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "1610612736\n");
	manager_stop(f->m);
	assert_string_equal(fake_read(f->cg, "tenants/web/memory.high"), "max\n");
}

static void test_vanished_cgroup_record_removed(void **state)
{
	Fixture *f = *state;
	uint64_t web_id = fake_id(f, "tenants/web");
	char path[512];

	start(f, false);
	assert_true(record_exists(f, web_id));
	snprintf(path, sizeof(path), "%s/tenants/web", f->cg);
	test_rm_rf(path);
	run_loop(f->m);
	assert_int_equal(manager_find_tenant(f->m, "web")->state, TENANT_WAITING);
	assert_false(record_exists(f, web_id));
	manager_stop(f->m);
}

/* A manager (WriteTimeoutSec=timeout) whose squeeze of batch is in flight, blocked: returns the FIFO. */
static int start_squeeze_in_flight(Fixture *f, const char *timeout, Tenant **ret_batch)
{
	char conf[128];
	int fifo;

	snprintf(conf, sizeof(conf), "[Daemon]\nLogLevel=debug\n[Control]\nWriteTimeoutSec=%s\n", timeout);
	test_write_file(f->conf, "memqosd.conf", conf);
	start(f, false);
	*ret_batch = manager_find_tenant(f->m, "batch");
	fifo = fake_stuck_file(f->cg, "tenants/batch", "memory.high");
	assert_int_equal(manager_apply_high(f->m, *ret_batch, 300ULL << 20, "test squeeze"), 0);
	assert_true(manager_tenant_busy(*ret_batch));
	return fifo;
}

/*
 * Issue 8, defect 1: a stop while a write is in flight. The restore is due from the moment the write
 * was submitted; here it cannot be written either (the "kernel" never takes a write), so the
 * record must survive the stop, and the next start must restore the original from it.
 */
static void test_stop_during_write_keeps_record(void **state)
{
	Fixture *f = *state;
	_cleanup_free_ char *log = NULL;
	uint64_t batch_id = fake_id(f, "tenants/batch");
	char path[512];
	Tenant *batch;
	int fifo;

	fifo = start_squeeze_in_flight(f, "200ms", &batch);
	assert_true(batch->high_written);     /* a restore is due already */
	manager_stop(f->m);                    /* bounded: the writes are interrupted */
	assert_true(record_exists(f, batch_id));
	close(fifo);
	f->m = manager_free(f->m);

	/* the "kernel" took the squeeze after all; the next start knows the original */
	snprintf(path, sizeof(path), "%s/tenants/batch/memory.high", f->cg);
	assert_int_equal(unlink(path), 0);
	test_write_file(f->cg, "tenants/batch/memory.high", "314572800\n");
	log = start_logged(f, f->state);
	assert_non_null(strstr(log, "memory.high 512M (found 300M)"));
	manager_stop(f->m);
	assert_string_equal(fake_read(f->cg, "tenants/batch/memory.high"), "536870912\n");
	assert_false(record_exists(f, batch_id));
}

/* The same, with a "kernel" that is merely slow: the restore waits for the write, then lands. */
static void *drain_later(void *userdata)
{
	int fd = *(int *) userdata;
	char buf[65536];

	usleep(300 * 1000);
	for (int i = 0; i < 40; i++) { /* 2 s of draining: the squeeze, then the restore */
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		usleep(50 * 1000);
	}
	return NULL;
}

static void test_stop_waits_for_slow_write(void **state)
{
	Fixture *f = *state;
	uint64_t batch_id = fake_id(f, "tenants/batch");
	pthread_t th;
	Tenant *batch;
	int fifo;

	fifo = start_squeeze_in_flight(f, "5s", &batch);
	assert_int_equal(pthread_create(&th, NULL, drain_later, &fifo), 0);
	manager_stop(f->m);
	assert_int_equal(pthread_join(th, NULL), 0);
	/* restored (the write in flight was interrupted or landed first), so the record is gone */
	assert_false(record_exists(f, batch_id));
	close(fifo);
}

/* A reload removes batch while its memory.high cannot be written: the restore is retried, and lands. */
static void test_reload_restore_retried(void **state)
{
	Fixture *f = *state;
	ConfigErrors errors = {};
	uint64_t batch_id = fake_id(f, "tenants/batch");
	char path[512];
	Tenant *batch;
	int fifo;

	fifo = start_squeeze_in_flight(f, "200ms", &batch);
	unprofile(f, "batch");
	assert_int_equal(manager_reload(f->m, &errors), 0);
	assert_int_equal(f->m->n_retired, 1);  /* retiring: its restore is outstanding */
	assert_true(record_exists(f, batch_id));
	for (int i = 0; i < 10; i++)            /* interrupted after 200ms: a retry is armed */
		(void) sd_event_run(f->m->event, 50 * 1000);
	assert_true(record_exists(f, batch_id));
	/* the "kernel" recovers before the retry */
	close(fifo);
	snprintf(path, sizeof(path), "%s/tenants/batch/memory.high", f->cg);
	assert_int_equal(unlink(path), 0);
	test_write_file(f->cg, "tenants/batch/memory.high", "314572800\n");
	for (int i = 0; i < 60 && f->m->n_retired > 0; i++)
		(void) sd_event_run(f->m->event, 50 * 1000);
	assert_int_equal(f->m->n_retired, 0);
	assert_string_equal(fake_read(f->cg, "tenants/batch/memory.high"), "536870912\n");
	assert_false(record_exists(f, batch_id));
	manager_stop(f->m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reload_restore_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_during_write_keeps_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_waits_for_slow_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_clamps_and_stop_restores, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dry_run_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_applies_diff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_refused_keeps_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiting_tenant_picked_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished_cgroup_released, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instances, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished_during_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_cgroup_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_record_written_and_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_then_restart_restores_originals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_then_profile_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_record_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_of_another_cgroup_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unusable_state_dir_not_fatal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paused_write_marks_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished_cgroup_record_removed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
