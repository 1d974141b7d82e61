/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test 7 (kernel built with CONFIG_MEMCG_BPF=n: tests/vm/run --variant nobpf): the kernel boots,
 * struct memcg_ops is absent from its BTF, the loader (kt-probe) reports the feature as absent with
 * exit status 3, loading a memcg_ops policy fails cleanly, and the tracing programs the stock-kernel
 * policies rely on (fentry on try_charge_memcg) still attach and count.
 */
#include <errno.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/btf.h>

#include "kt-common.h"

#define MiB (1024ull * 1024)

static int run_probe(char *out, size_t len)
{
	char exe[PATH_MAX], path[PATH_MAX];
	int pfd[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	snprintf(path, sizeof(path), "%s/kt-probe", dirname(exe));
	if (pipe(pfd) < 0)
		return -errno;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		execl(path, "kt-probe", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while ((size_t)got < len - 1 && (n = read(pfd[0], out + got, len - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = '\0';
	close(pfd[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(void)
{
	struct kt_report r = { .test = "test7-absent" };
	struct kt_work work = { .bytes = 8 * MiB, .rounds = 2, .drop = true };
	char out[2048], base[PATH_MAX], t[PATH_MAX];
	struct bpf_link *ref1, *ref2;
	struct kt_result res = { 0 };
	struct bpf_program *prog;
	struct bpf_map *map;
	struct btf *btf;
	uint64_t idt;
	struct kt *s;
	int has, rc, err;

	kt_libbpf_setup();
	btf = btf__load_vmlinux_btf();
	kt_check(&r, btf != NULL, "the kernel has BTF (/sys/kernel/btf/vmlinux)");
	if (!btf)
		return kt_finish(&r);
	kt_check(&r, btf__find_by_name_kind(btf, "mem_cgroup", BTF_KIND_STRUCT) > 0,
		 "struct mem_cgroup is in the BTF (memcg is built)");
	btf__free(btf);

	has = kt_kernel_has_memcg_ops();
	kt_check(&r, has == 0, "struct memcg_ops is absent from the kernel's BTF");

	rc = run_probe(out, sizeof(out));
	printf("  | %s", out);
	kt_check(&r, rc == 3 && strstr(out, "memcg_ops: absent"),
		 "the loader reports the feature as absent (exit %d, want 3)", rc);

	/* Forcing a memcg_ops policy in must fail cleanly. */
	s = kt_open_or_die(&r);
	kt_libbpf_quiet(true);
	err = kt__load(s);
	kt_libbpf_quiet(false);
	kt_check(&r, err != 0, "loading a memcg_ops policy fails (%s)", err ? strerror(-err) : "it loaded");
	kt__destroy(s);

	/* Tracing mode still works. */
	s = kt_open_or_die(&r);
	bpf_object__for_each_map(map, s->obj)
		if (bpf_map__type(map) == BPF_MAP_TYPE_STRUCT_OPS)
			bpf_map__set_autocreate(map, false);
	bpf_object__for_each_program(prog, s->obj)
		if (bpf_program__type(prog) == BPF_PROG_TYPE_STRUCT_OPS)
			bpf_program__set_autoload(prog, false);
	err = kt__load(s);
	kt_check(&r, err == 0, "the tracing programs load without memcg_ops: %s", err ? strerror(-err) : "ok");
	if (err) {
		kt__destroy(s);
		return kt_finish(&r);
	}
	kt_test_cgroup(&r, "t7", base, sizeof(base));
	kt_sub_cgroup(&r, base, "t", false, t, sizeof(t), &idt);
	if (kt_slot(s, idt, 1))
		kt_die(&r, "filling the slots map: %s", strerror(errno));
	kt_attach_ref_or_die(&r, s, &ref1, &ref2);
	if (kt_run(t, &work, &res) < 0)
		kt_die(&r, "worker in %s failed (status %d)", t, res.status);
	kt_check(&r, s->bss->ref_calls[1] > 0 && s->bss->ref_cnt[1] > 0,
		 "fentry try_charge_memcg/page_counter_try_charge count the cgroup's charges (%llu, %llu)",
		 (unsigned long long)s->bss->ref_calls[1], (unsigned long long)s->bss->ref_cnt[1]);
	kt_teardown(s, base, ref1, ref2);
	return kt_finish(&r);
}
