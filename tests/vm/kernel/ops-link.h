/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The series' attach for the kernel tests and the charge benchmark: a memcg_ops struct_ops map is
 * attached to a cgroup by a struct_ops link created with BPF_F_CGROUP_FD and the cgroup's fd
 * (include/memqosd/memcg-link.h). libbpf 1.5 only creates target-less struct_ops links, so the map's
 * value is written here the way libbpf would, from the skeleton's copy of the ops.
 */
#pragma once

#include <stdint.h>

#include <bpf/libbpf.h>

/* Writes the map's value (the ops, with the fds of their programs). 0 or negative errno. */
int ops_link_write_value(const struct bpf_map *map);
/* Value, then BPF_LINK_CREATE with target_fd = cgfd and the given flags. The link's fd or -errno. */
int ops_link_create_fd(const struct bpf_map *map, int cgfd, uint32_t flags);
/*
 * BPF_LINK_CREATE with BPF_F_CGROUP_FD of map, whose value was written before (by a process that may
 * write it), to the cgroup fd cgfd; a link that is made is closed at once. 0 or -errno.
 */
int ops_link_try(const struct bpf_map *map, int cgfd);
/* Opens the cgroup directory (O_RDONLY) and attaches with BPF_F_CGROUP_FD. The link's fd or -errno. */
int ops_link_create(const struct bpf_map *map, const char *cgroup);
/* Value of map, then BPF_LINK_UPDATE of link_fd to it. 0 or -errno. */
int ops_link_update(int link_fd, const struct bpf_map *map);
/* The target cgroup's id from link info (struct_ops.cgroup_id) and the map id. 0 or -errno. */
int ops_link_info(int link_fd, uint64_t *ret_cgroup_id, uint32_t *ret_map_id);
/* The cgroup_id line of the link's /proc/self/fdinfo; -ENOENT when there is none. */
int ops_link_fdinfo_cgroup_id(int link_fd, uint64_t *ret);
/*
 * A libbpf bpf_link for fd (taken over: closed here), so the tests can keep using bpf_link__destroy():
 * pinned in bpffs, reopened with bpf_link__open() and unpinned. NULL with *ret_err on failure.
 */
struct bpf_link *ops_link_wrap(int fd, int *ret_err);
