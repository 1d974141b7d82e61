/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Job 2: stacks a person can read. Symbolisation and DWARF unwinding with libdw (elfutils' dwfl).
 *
 * User stacks: the sampler (bpf/sample.bpf.c) copies the user registers and a slice of the user stack
 * above sp; symbolizer_unwind_user() unwinds from them with libdw's unwinder (.eh_frame / .debug_frame
 * CFI), the way `perf --call-graph=dwarf` does, so binaries built without frame pointers (Debian's)
 * unwind past their first frame. The process's mappings come from a snapshot of /proc/PID/maps taken
 * when memqosd first sees the process (or from maps text, for tests). The files are opened at once
 * through /proc/PID/root (the process's own mount namespace: a container's files, or /home and /tmp
 * that the service's sandbox hides), so its samples still resolve after it has exited; they are
 * kept by build-id too (below). Snapshots unused for SYMBOLIZER_PROCESS_MAX_AGE_USEC go.
 *
 * Frames are strings that start with the function name, then the module (file basename) and the
 * offset of the address from the module's load address: "parse_row (libfoo.so+0x1a2b)";
 * "[unknown] (libfoo.so+0x1a2b)" where the module has no symbol there, "[unknown]" where no module.
 * Kernel frames come from /proc/kallsyms (or a given file), the offset from the symbol:
 * "handle_mm_fault ([kernel]+0x1f)", "xfs_file_read_iter ([xfs]+0x8)".
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "memqosd/sample.h"
#include "util.h"

#define SYMBOLIZER_PROCESSES_MAX 512
/* A process's mappings not used for this long go (its samples are aggregated by then). */
#define SYMBOLIZER_PROCESS_MAX_AGE_USEC (600ULL * 1000000ULL)
/* ELF files kept open by build-id (one fd and mapping each). */
#define SYMBOLIZER_FILES_MAX 128

typedef struct Symbolizer Symbolizer;

int symbolizer_new(Symbolizer **ret);
Symbolizer *symbolizer_free(Symbolizer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Symbolizer *, symbolizer_free);

/*
 * Snapshot the mappings of pid: from maps_text (the /proc/PID/maps format) or, if NULL, from
 * /proc/PID/maps now. tag tells address spaces of one pid apart (the sampler passes the address
 * of the task's mm, new after exec or pid reuse). Replaces an older snapshot of that pid. Beyond
 * SYMBOLIZER_PROCESSES_MAX the least recently used snapshot goes. -ENOENT: the process is gone,
 * reaped or not: an exiting process or a zombie has no mappings left to read (its maps read empty),
 * and no snapshot is kept for it.
 */
int symbolizer_add_process(Symbolizer *s, pid_t pid, uint64_t tag, const char *maps_text);
/* A snapshot of pid with this tag exists. */
bool symbolizer_has_process(Symbolizer *s, pid_t pid, uint64_t tag);
/* A snapshot of pid exists, whatever its tag. */
bool symbolizer_knows_pid(Symbolizer *s, pid_t pid);
void symbolizer_forget_process(Symbolizer *s, pid_t pid);

/*
 * Unwind a user stack from its registers (DWARF order, MEMQOSD_SAMPLE_NREGS) and the stack bytes
 * from regs[7] (sp) on. Writes up to max frames (malloc'ed strings, innermost first) to frames and
 * returns their number (>= 1 when the pid is known: the first frame is regs[16]), or <0.
 */
int symbolizer_unwind_user(Symbolizer *s, pid_t pid, const uint64_t *regs, const uint8_t *stack, size_t stack_len,
			   char **frames, size_t max);

/*
 * Build-ids. Every file of a process snapshot (symbolizer_add_process() with maps_text NULL) is
 * also kept by its build-id, opened while the process exists, in a cache of SYMBOLIZER_FILES_MAX
 * files (least recently used goes). Samples carry their first frames as build-id + file offset
 * (BPF_F_USER_BUILD_ID): a process that is gone before its mappings were read (it exec'd, ran a
 * few ms and exited) is still named from them.
 *
 * symbolizer_cache_file(): keep path by its build-id (written to ret_build_id if not NULL): 1
 * added, 0 known already, -ENOEXEC not ELF or no build-id, <0 errno.
 * symbolizer_add_process_build_ids(): a process of pid/tag rebuilt from frames (bids[i] with the
 * address ips[i]): each file of a VALID frame whose build-id is cached is placed where that frame
 * shows it is loaded; symbolizer_unwind_user() then unwinds through those files. Called again for
 * the same pid/tag (symbolizer_rebuilt()), it adds the files of the new frames to those placed.
 * Returns the number of files placed, -ENOENT none.
 * symbolizer_build_id_frame(): the frame string of one build-id frame ("[unknown]" if its file is
 * not cached).
 */
int symbolizer_cache_file(Symbolizer *s, const char *path, uint8_t ret_build_id[MEMQOSD_SAMPLE_BUILD_ID_SIZE]);
int symbolizer_add_process_build_ids(Symbolizer *s, pid_t pid, uint64_t tag,
				     const struct memqosd_sample_build_id *bids, const uint64_t *ips, size_t n);
bool symbolizer_rebuilt(Symbolizer *s, pid_t pid);
int symbolizer_build_id_frame(Symbolizer *s, const struct memqosd_sample_build_id *bid, bool return_address,
			      char **ret);

/* One user address; return_address: it is a return address (looked up at ip - 1). */
int symbolizer_user_frame(Symbolizer *s, pid_t pid, uint64_t ip, bool return_address, char **ret);

/* Load kernel symbols from a kallsyms file (NULL = /proc/kallsyms). */
int symbolizer_load_kallsyms(Symbolizer *s, const char *path);
int symbolizer_kernel_frame(Symbolizer *s, uint64_t ip, char **ret);

/* Free an array of n frame strings (not the array). */
void symbolizer_frames_clear(char **frames, size_t n);
