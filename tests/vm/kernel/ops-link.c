/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include "ops-link.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>

#include "memqosd/memcg-link.h"

/* Layout of the kernel's struct_ops value for memcg_ops: where the ops start, their size, and which
 * members are programs (function pointers). From the running kernel's BTF. */
struct ops_layout {
	size_t data_off;
	size_t ops_size;
	size_t nprog;
	size_t prog_off[32];
};

static int ops_layout_load(struct ops_layout *l)
{
	const struct btf_member *m;
	const struct btf_type *t;
	struct btf *btf;
	int id, ret = -ENOENT;

	memset(l, 0, sizeof(*l));
	btf = btf__load_vmlinux_btf();
	if (!btf)
		return -errno;
	id = btf__find_by_name_kind(btf, "bpf_struct_ops_memcg_ops", BTF_KIND_STRUCT);
	if (id < 0)
		goto out;
	t = btf__type_by_id(btf, id);
	m = btf_members(t);
	for (unsigned i = 0; i < btf_vlen(t); i++, m++)
		if (strcmp(btf__name_by_offset(btf, m->name_off), "data") == 0)
			l->data_off = btf_member_bit_offset(t, i) / 8;
	id = btf__find_by_name_kind(btf, "memcg_ops", BTF_KIND_STRUCT);
	if (id < 0 || l->data_off == 0)
		goto out;
	t = btf__type_by_id(btf, id);
	l->ops_size = t->size;
	m = btf_members(t);
	for (unsigned i = 0; i < btf_vlen(t); i++, m++) {
		const struct btf_type *mt = btf__type_by_id(btf, m->type);

		while (btf_is_mod(mt) || btf_is_typedef(mt))
			mt = btf__type_by_id(btf, mt->type);
		if (btf_is_ptr(mt) && btf_is_func_proto(btf__type_by_id(btf, mt->type)) &&
		    l->nprog < sizeof(l->prog_off) / sizeof(l->prog_off[0]))
			l->prog_off[l->nprog++] = btf_member_bit_offset(t, i) / 8;
	}
	ret = 0;
out:
	btf__free(btf);
	return ret;
}

/* Test programs only: the layout is read once (parsing the kernel's BTF takes a while). */
static int ops_layout_get(struct ops_layout *l)
{
	static struct ops_layout cached;
	static int state; /* 0: not read, 1: read, < 0: error */

	if (state == 0)
		state = ops_layout_load(&cached) < 0 ? -1 : 1;
	if (state < 0)
		return -ENOENT;
	*l = cached;
	return 0;
}

int ops_link_write_value(const struct bpf_map *map)
{
	struct ops_layout l;
	size_t vsize = 0;
	const uint8_t *ops = bpf_map__initial_value(map, &vsize);
	uint8_t *value;
	uint32_t zero = 0;
	int ret;

	ret = ops_layout_get(&l);
	if (ret < 0)
		return ret;
	if (!ops || vsize != bpf_map__value_size(map) || vsize < l.data_off + l.ops_size)
		return -EINVAL;
	value = calloc(1, vsize);
	if (!value)
		return -ENOMEM;
	memcpy(value + l.data_off, ops, l.ops_size);
	for (size_t i = 0; i < l.nprog; i++) {
		struct bpf_program *prog;
		uint64_t fd = 0;

		memcpy(&prog, ops + l.prog_off[i], sizeof(prog));
		if (prog)
			fd = (uint64_t)bpf_program__fd(prog);
		memcpy(value + l.data_off + l.prog_off[i], &fd, sizeof(fd));
	}
	/* EBUSY: the value was written before (it cannot change once set). */
	ret = bpf_map_update_elem(bpf_map__fd(map), &zero, value, 0) < 0 && errno != EBUSY ? -errno : 0;
	free(value);
	return ret;
}

int ops_link_create_fd(const struct bpf_map *map, int cgfd, uint32_t flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
	int ret = ops_link_write_value(map);

	if (ret < 0)
		return ret;
	ret = bpf_link_create(bpf_map__fd(map), cgfd, MEMQOSD_BPF_STRUCT_OPS, &opts);
	return ret < 0 ? -errno : ret;
}

int ops_link_try(const struct bpf_map *map, int cgfd)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = BPF_F_CGROUP_FD);
	int fd = bpf_link_create(bpf_map__fd(map), cgfd, MEMQOSD_BPF_STRUCT_OPS, &opts);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int ops_link_create(const struct bpf_map *map, const char *cgroup)
{
	int cgfd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret;

	if (cgfd < 0)
		return -errno;
	ret = ops_link_create_fd(map, cgfd, BPF_F_CGROUP_FD);
	close(cgfd);
	return ret;
}

int ops_link_update(int link_fd, const struct bpf_map *map)
{
	int ret = ops_link_write_value(map);

	if (ret < 0)
		return ret;
	return bpf_link_update(link_fd, bpf_map__fd(map), NULL) < 0 ? -errno : 0;
}

int ops_link_info(int link_fd, uint64_t *ret_cgroup_id, uint32_t *ret_map_id)
{
	struct bpf_link_info info;
	struct memqosd_struct_ops_link_info so;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_link_get_info_by_fd(link_fd, &info, &len) < 0)
		return -errno;
	if (info.type != BPF_LINK_TYPE_STRUCT_OPS)
		return -EMEDIUMTYPE;
	memcpy(&so, &info.raw_tracepoint, sizeof(so));
	if (ret_cgroup_id)
		*ret_cgroup_id = so.cgroup_id;
	if (ret_map_id)
		*ret_map_id = so.map_id;
	return 0;
}

int ops_link_fdinfo_cgroup_id(int link_fd, uint64_t *ret)
{
	char path[64], line[256];
	unsigned long long v;
	int found = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", link_fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "cgroup_id: %llu", &v) == 1) {
			*ret = v;
			found = 0;
		}
	fclose(f);
	return found;
}

struct bpf_link *ops_link_wrap(int fd, int *ret_err)
{
	static unsigned long n;
	struct bpf_link *l = NULL;
	char path[128];

	snprintf(path, sizeof(path), "/sys/fs/bpf/kt-link-%d-%lu", (int)getpid(), n++);
	if (bpf_obj_pin(fd, path) < 0) {
		*ret_err = -errno;
		close(fd);
		return NULL;
	}
	l = bpf_link__open(path);
	*ret_err = l ? 0 : -errno;
	unlink(path);
	close(fd);
	return l;
}
