/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kt-probe: the kernel tests' policy loader, reduced to its feature check.
 *   exit 0  memcg_ops present and the test policies load (verifier accepted every hook)
 *   exit 3  the kernel has no memcg_ops (built without CONFIG_MEMCG_BPF, or unpatched)
 *   exit 1  present but loading failed; exit 2 the kernel BTF is unreadable
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kt-common.h"

int main(void)
{
	struct kt *s;
	int has, err;

	kt_libbpf_setup();
	has = kt_kernel_has_memcg_ops();
	if (has < 0) {
		fprintf(stderr, "kt-probe: cannot read the kernel BTF (/sys/kernel/btf/vmlinux): %s\n",
			strerror(-has));
		return 2;
	}
	if (!has) {
		printf("kt-probe: memcg_ops: absent - this kernel has no struct memcg_ops in its BTF (built without CONFIG_MEMCG_BPF=y or without memqosd's patches); per-tenant memcg_ops policies are unavailable\n");
		return 3;
	}
	s = kt__open();
	if (!s) {
		fprintf(stderr, "kt-probe: opening the BPF object: %s\n", strerror(errno));
		return 1;
	}
	err = kt__load(s);
	kt__destroy(s);
	if (err) {
		fprintf(stderr, "kt-probe: memcg_ops present but the test policies failed to load: %s\n",
			strerror(-err));
		return 1;
	}
	printf("kt-probe: memcg_ops: present; the test policies load\n");
	return 0;
}
