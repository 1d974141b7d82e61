/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include "kt-common.h"
#include "ops-link.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Test programs only: the libbpf print callback cannot carry a context pointer. */
static bool libbpf_quiet;

static int kt_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	static int verbose = -1;

	if (verbose < 0)
		verbose = getenv("KT_VERBOSE") && strcmp(getenv("KT_VERBOSE"), "0");
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	if (libbpf_quiet && !verbose)
		return 0;
	fprintf(stderr, "  libbpf: ");
	return vfprintf(stderr, fmt, ap);
}

void kt_libbpf_setup(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(kt_libbpf_print);
}

void kt_libbpf_quiet(bool quiet)
{
	libbpf_quiet = quiet;
}

void kt_test_cgroup(struct kt_report *r, const char *name, char *buf, size_t len)
{
	const char *root = kt_cgroot();
	int ret;

	ret = mkdir(root, 0755) < 0 && errno != EEXIST ? -errno : 0;
	if (ret < 0)
		kt_die(r, "mkdir %s: %s", root, strerror(-ret));
	ret = cg_write(root, "cgroup.subtree_control", "+memory");
	if (ret < 0)
		kt_die(r, "enable memory in %s/cgroup.subtree_control: %s (is cgroup2 with +memory mounted at /sys/fs/cgroup?)",
		       root, strerror(-ret));
	cg_path(buf, len, root, name);
	ret = cg_mkdir(buf);
	if (ret < 0)
		kt_die(r, "mkdir %s: %s", buf, strerror(-ret));
	ret = cg_write(buf, "cgroup.subtree_control", "+memory");
	if (ret < 0)
		kt_die(r, "enable memory in %s: %s", buf, strerror(-ret));
}

void kt_sub_cgroup(struct kt_report *r, const char *parent, const char *name, bool with_children,
		   char *buf, size_t len, uint64_t *ret_id)
{
	int ret;

	cg_path(buf, len, parent, name);
	ret = cg_mkdir(buf);
	if (ret < 0)
		kt_die(r, "mkdir %s: %s", buf, strerror(-ret));
	if (with_children) {
		ret = cg_write(buf, "cgroup.subtree_control", "+memory");
		if (ret < 0)
			kt_die(r, "enable memory in %s: %s", buf, strerror(-ret));
	}
	if (ret_id) {
		ret = cg_id(buf, ret_id);
		if (ret < 0)
			kt_die(r, "stat %s: %s", buf, strerror(-ret));
	}
}

void kt_require_memcg_ops(struct kt_report *r)
{
	int has = kt_kernel_has_memcg_ops();

	if (has < 0)
		kt_die(r, "cannot read the kernel's BTF (/sys/kernel/btf/vmlinux): %s", strerror(-has));
	if (!has)
		kt_die(r, "struct memcg_ops is not in this kernel's BTF: not a memqosd-patched kernel with CONFIG_MEMCG_BPF=y");
}

void kt_require_swap(struct kt_report *r)
{
	FILE *f = fopen("/proc/swaps", "re");
	char line[256];
	int n = 0;

	if (f) {
		while (fgets(line, sizeof(line), f))
			n++;
		fclose(f);
	}
	if (n <= 1)
		kt_die(r, "no swap is active (/proc/swaps); run-suite sets up zram swap for this test");
}

struct kt *kt_open_or_die(struct kt_report *r)
{
	struct kt *s = kt__open();

	if (!s)
		kt_die(r, "opening the kt BPF skeleton: %s", strerror(errno));
	return s;
}

void kt_load_or_die(struct kt_report *r, struct kt *s)
{
	int ret = kt__load(s);

	if (ret)
		kt_die(r, "loading the kt BPF object: %s (run with KT_VERBOSE=1 for the verifier log)",
		       strerror(-ret));
}

void kt_attach_ref_or_die(struct kt_report *r, struct kt *s, struct bpf_link **l1, struct bpf_link **l2)
{
	*l1 = bpf_program__attach(s->progs.ref_try_charge);
	if (!*l1)
		kt_die(r, "attaching fentry/try_charge_memcg: %s", strerror(errno));
	*l2 = bpf_program__attach(s->progs.ref_counter_charge);
	if (!*l2)
		kt_die(r, "attaching fentry/page_counter_try_charge: %s", strerror(errno));
}

int kt_slot(struct kt *s, uint64_t cgid, uint32_t slot)
{
	__u64 key = cgid;
	__u32 val = slot;

	return bpf_map__update_elem(s->maps.slots, &key, sizeof(key), &val, sizeof(val), BPF_ANY);
}

void kt_reset_counters(struct kt *s)
{
	struct kt__bss *b = s->bss;

	memset(b->cnt, 0, sizeof(b->cnt));
	memset(b->anomaly, 0, sizeof(b->anomaly));
	memset(b->charge_fail, 0, sizeof(b->charge_fail));
	memset(b->ref_calls, 0, sizeof(b->ref_calls));
	memset(b->ref_cnt, 0, sizeof(b->ref_cnt));
	memset(b->online_any, 0, sizeof(b->online_any));
	memset(b->offline_any, 0, sizeof(b->offline_any));
	b->thr_max_penalty = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

uint64_t kt_cnt(struct kt *s, int tag, int hook, uint32_t slot)
{
	return __atomic_load_n(&s->bss->cnt[tag][hook][slot], __ATOMIC_SEQ_CST);
}

uint64_t kt_anomalies(struct kt *s, uint32_t slot)
{
	uint64_t n = 0;

	for (int i = 0; i < 5; i++)
		n += __atomic_load_n(&s->bss->anomaly[i][slot], __ATOMIC_SEQ_CST);
	return n;
}

void kt_teardown_links(struct kt *s, const char *base, struct bpf_link *const *links, size_t n)
{
	for (size_t i = 0; i < n; i++)
		bpf_link__destroy(links[i]);
	kt__destroy(s);
	cg_rmtree(base);
}

struct bpf_link *kt_attach_ops(struct bpf_map *map, const char *cgroup, int *ret_err)
{
	int fd = ops_link_create(map, cgroup);

	if (fd < 0) {
		*ret_err = fd;
		return NULL;
	}
	return ops_link_wrap(fd, ret_err);
}

int kt_become(uid_t uid, uint64_t caps)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };

	if (prctl(PR_SET_KEEPCAPS, 1) < 0 || setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		return -errno;
	for (int i = 0; i < 2; i++)
		data[i].effective = data[i].permitted = (uint32_t)(caps >> (32 * i));
	return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

static const char *const splat_patterns[] = {
	"WARNING:", "BUG:", "KASAN:", "UBSAN:", "Oops", "general protection fault",
	"possible circular locking", "possible recursive locking", "inconsistent lock state",
	"suspicious RCU usage", "lockdep is turned off", "DEBUG_LOCKS_WARN_ON", "Call Trace:",
	"refcount_t:", "list_add corruption", "list_del corruption", "kernel BUG", "INFO: task",
	"sleeping function called from invalid context", "Bad page", "stack-out-of-bounds",
	"use-after-free", "detected stall", "rcu: INFO:",
};

/* The whole kernel log (klogctl READ_ALL), NUL-terminated; NULL with errno set on failure. */
static char *kernel_log(void)
{
	int len = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	char *buf;
	int n;

	if (len <= 0)
		return NULL;
	buf = malloc((size_t)len + 1);
	if (!buf)
		return NULL;
	n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, len);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

int kt_scan_kernel_log(struct kt_report *r)
{
	char *buf = kernel_log(), *line, *save = NULL;
	int found = 0;

	if (!buf)
		kt_die(r, "reading the kernel log (klogctl): %s", strerror(errno));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		for (size_t i = 0; i < sizeof(splat_patterns) / sizeof(splat_patterns[0]); i++) {
			if (strstr(line, splat_patterns[i])) {
				if (found < 40)
					printf("  kernel log: %s\n", line);
				found++;
				break;
			}
		}
	}
	free(buf);
	return found;
}

bool kt_kernel_is_debug(void)
{
	char *buf = kernel_log();
	bool debug;

	if (!buf)
		return false;
	debug = strstr(buf, "KernelAddressSanitizer initialized") || strstr(buf, "Lock dependency validator");
	free(buf);
	return debug;
}

uint64_t kt_wait_stat(struct kt_report *r, const char *cg, const char *key, uint64_t baseline, unsigned int limit_s,
		      double *ret_secs)
{
	uint64_t t0 = kt_now_ns(), v = 0;

	do {
		if (cg_read_key(cg, "cgroup.stat", key, &v) < 0)
			kt_die(r, "reading %s in %s/cgroup.stat: %s", key, cg, strerror(errno));
		if (v <= baseline)
			break;
		kt_sleep_ms(200);
	} while (kt_now_ns() - t0 < limit_s * 1000000000ull);
	*ret_secs = (double)(kt_now_ns() - t0) / 1e9;
	return v;
}
