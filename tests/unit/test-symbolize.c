/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of src/symbolize.c: a small program is built by the test twice, -O2 without and with frame
 * pointers. In its innermost function it records its registers (DWARF order) and the stack slice
 * above sp, as the BPF sampler does, and copies its /proc/self/maps; then it exits. The test unwinds
 * the recorded state with libdw after the process is gone and checks the frames, innermost first:
 * level3, level2, level1, main. It prints how many frames each build resolves, next to what a
 * frame-pointer walk of the same state gives. Kernel frames against a kallsyms file written here.
 */

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "symbolize.h"
#include "util.h"

static const char program[] =
	"#include <stdint.h>\n"
	"#include <stdio.h>\n"
	"#include <stdlib.h>\n"
	"#include <string.h>\n"
	"static uint64_t regs[17];\n"
	"static unsigned char stack[8192];\n"
	"static uint64_t stack_len;\n"
	"static uint64_t stack_top(uint64_t sp) {\n"
	"	char line[512]; uint64_t lo, hi, top = sp + sizeof(stack);\n"
	"	FILE *f = fopen(\"/proc/self/maps\", \"r\");\n"
	"	while (f && fgets(line, sizeof(line), f))\n"
	"		if (sscanf(line, \"%lx-%lx\", &lo, &hi) == 2 && lo <= sp && sp < hi) top = hi;\n"
	"	if (f) fclose(f);\n"
	"	return top;\n"
	"}\n"
	"__attribute__((noinline)) int level3(int x) {\n"
	"	volatile int pad[16];\n"
	"	for (int i = 0; i < 16; i++) pad[i] = x + i;\n"
	"	__asm__ volatile(\"lea 0(%%rip), %%rax\\n\\tmov %%rax, %0\\n\\tmov %%rsp, %1\\n\\tmov %%rbp, %2\\n\\t\"\n"
	"		\"mov %%rbx, %3\\n\\tmov %%r12, %4\\n\\tmov %%r13, %5\\n\\tmov %%r14, %6\\n\\tmov %%r15, %7\"\n"
	"		: \"=m\"(regs[16]), \"=m\"(regs[7]), \"=m\"(regs[6]), \"=m\"(regs[3]), \"=m\"(regs[12]),\n"
	"		  \"=m\"(regs[13]), \"=m\"(regs[14]), \"=m\"(regs[15]) : : \"rax\", \"memory\");\n"
	"	stack_len = stack_top(regs[7]) - regs[7];\n"
	"	if (stack_len > sizeof(stack)) stack_len = sizeof(stack);\n"
	"	memcpy(stack, (void *)regs[7], stack_len);\n"
	"	return pad[3] + pad[7];\n"
	"}\n"
	"__attribute__((noinline)) int level2(int x) { int r = level3(x * 3); return r + x; }\n"
	"__attribute__((noinline)) int level1(int x) { int r = level2(x + 5); return r * 2; }\n"
	"int main(int argc, char **argv) {\n"
	"	int r = level1(argc);\n"
	"	FILE *o = fopen(argv[1], \"w\"), *m = fopen(\"/proc/self/maps\", \"r\"), *mo = fopen(argv[2], \"w\");\n"
	"	char buf[4096]; size_t n;\n"
	"	fwrite(regs, sizeof(regs), 1, o); fwrite(&stack_len, 8, 1, o); fwrite(stack, 1, stack_len, o); fclose(o);\n"
	"	while ((n = fread(buf, 1, sizeof(buf), m)) > 0) fwrite(buf, 1, n, mo);\n"
	"	fclose(m); fclose(mo);\n"
	"	return r == 12345 ? 1 : 0;\n"
	"}\n";

typedef struct Dump {
	uint64_t regs[MEMQOSD_SAMPLE_NREGS];
	uint64_t stack_len;
	uint8_t stack[8192];
	char *maps;
	pid_t pid;
} Dump;

static char tmpdir[] = "/tmp/memqosd-test-symbolize.XXXXXX";

static char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *in = fopen(path, "re"), *out;
	int c;

	assert_non_null(in);
	out = open_memstream(&buf, &len);
	while ((c = getc(in)) != EOF)
		putc(c, out);
	fclose(in);
	fclose(out);
	return buf;
}

/* Build the program with these flags, run it, read what it recorded. */
static void build_and_run(const char *name, const char *flags, Dump *d)
{
	char src[256], exe[256], dump[256], maps[256], cmd[1024];
	FILE *f;
	int status;
	pid_t pid;

	snprintf(src, sizeof(src), "%s/prog.c", tmpdir);
	snprintf(exe, sizeof(exe), "%s/%s", tmpdir, name);
	snprintf(dump, sizeof(dump), "%s/%s.dump", tmpdir, name);
	snprintf(maps, sizeof(maps), "%s/%s.maps", tmpdir, name);
	f = fopen(src, "we");
	assert_non_null(f);
	fputs(program, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s %s -o %s %s", TEST_CC, flags, exe, src);
	if (system(cmd) != 0)
		fail_msg("could not build the test program: %s", cmd);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(exe, exe, dump, maps, (char *) NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	f = fopen(dump, "re");
	assert_non_null(f);
	assert_int_equal(fread(d->regs, sizeof(d->regs), 1, f), 1);
	assert_int_equal(fread(&d->stack_len, 8, 1, f), 1);
	assert_true(d->stack_len > 64 && d->stack_len <= sizeof(d->stack));
	assert_int_equal(fread(d->stack, 1, d->stack_len, f), d->stack_len);
	fclose(f);
	d->maps = slurp(maps);
	d->pid = pid;
}

/* What a frame-pointer walk of the same state finds: frames whose function is a level or main. */
static size_t fp_walk(Symbolizer *s, const Dump *d, char **names, size_t max)
{
	uint64_t sp = d->regs[7], bp = d->regs[6];
	size_t n = 0;

	if (symbolizer_user_frame(s, d->pid, d->regs[16], false, &names[n]) == 0)
		n++;
	while (n < max && bp >= sp && bp + 16 <= sp + d->stack_len) {
		uint64_t next, ret;

		memcpy(&next, d->stack + (bp - sp), 8);
		memcpy(&ret, d->stack + (bp - sp) + 8, 8);
		if (symbolizer_user_frame(s, d->pid, ret, true, &names[n]) < 0)
			break;
		n++;
		if (next <= bp)
			break;
		bp = next;
	}
	return n;
}

static bool starts(const char *frame, const char *fn)
{
	size_t l = strlen(fn);

	return strncmp(frame, fn, l) == 0 && frame[l] == ' ';
}

static void check_unwind(const char *name, const char *flags)
{
	_cleanup_(symbolizer_freep) Symbolizer *s = NULL;
	char *frames[32] = {}, *fp[32] = {};
	Dump d = {};
	size_t n_fp, resolved = 0;
	int n;

	build_and_run(name, flags, &d);
	assert_int_equal(symbolizer_new(&s), 0);
	assert_int_equal(symbolizer_add_process(s, d.pid, 1, d.maps), 0);
	assert_true(symbolizer_has_process(s, d.pid, 1));
	assert_false(symbolizer_has_process(s, d.pid, 2)); /* another address space of that pid */

	n = symbolizer_unwind_user(s, d.pid, d.regs, d.stack, d.stack_len, frames, 32);
	assert_true(n >= 4);
	for (int i = 0; i < n; i++) {
		fprintf(stderr, "  %s dwarf #%d %s\n", name, i, frames[i]);
		if (!strstr(frames[i], "[unknown]"))
			resolved++;
	}
	assert_true(starts(frames[0], "level3"));
	assert_true(starts(frames[1], "level2"));
	assert_true(starts(frames[2], "level1"));
	assert_true(starts(frames[3], "main"));
	/* The module is the executable's basename, with the offset from its load address. */
	{
		char want[64];

		snprintf(want, sizeof(want), "(%s+0x", name);
		assert_non_null(strstr(frames[0], want));
	}
	n_fp = fp_walk(s, &d, fp, 32);
	fprintf(stderr, "%s (%s): DWARF unwinding resolved %zu of %d frames; a frame-pointer walk gives %zu\n",
		name, flags, resolved, n, n_fp);
	if (strstr(flags, "-fomit-frame-pointer"))
		assert_true(n_fp < (size_t) n);
	symbolizer_frames_clear(fp, n_fp);
	symbolizer_frames_clear(frames, (size_t) n);
	free(d.maps);
}

static void test_unwind_no_frame_pointers(void **state)
{
	(void) state;
	check_unwind("nofp", "-O2 -fomit-frame-pointer -fno-inline");
}

static void test_unwind_frame_pointers(void **state)
{
	(void) state;
	check_unwind("fp", "-O2 -fno-omit-frame-pointer -fno-inline");
}

/* The file offset of address ip in the maps text (what BPF_F_USER_BUILD_ID reports). */
static uint64_t file_offset(const char *maps, uint64_t ip)
{
	const char *line = maps;

	while (line && *line) {
		unsigned long long lo, hi, off;

		if (sscanf(line, "%llx-%llx %*s %llx", &lo, &hi, &off) == 3 && lo <= ip && ip < hi)
			return ip - lo + off;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	fail_msg("no mapping holds 0x%" PRIx64, ip);
	return 0;
}

/* Unwind d's state as d.pid (32 frames), print, check at least min frames: level3 .. main first. */
static int unwind_levels(Symbolizer *s, const Dump *d, char **frames, const char *what, int min)
{
	int n = symbolizer_unwind_user(s, d->pid, d->regs, d->stack, d->stack_len, frames, 32);

	for (int i = 0; i < n; i++)
		fprintf(stderr, "  %s: #%d %s\n", what, i, frames[i]);
	assert_true(n >= min);
	assert_true(starts(frames[0], "level3"));
	assert_true(starts(frames[1], "level2"));
	assert_true(starts(frames[2], "level1"));
	assert_true(starts(frames[3], "main"));
	return n;
}

/*
 * A process gone before its mappings were read: only its sample's first frame as build-id + file
 * offset (what the sampler's BPF_F_USER_BUILD_ID stack gives) and its registers and stack. With the
 * executable kept by build-id (not by the process), the frame is named and DWARF unwinding goes on
 * through the file, placed where that frame shows it loaded.
 */
static void test_build_id(void **state)
{
	_cleanup_(symbolizer_freep) Symbolizer *s = NULL;
	struct memqosd_sample_build_id bid = { .status = MEMQOSD_SAMPLE_BUILD_ID_VALID }, other;
	char exe[256], *frames[32] = {}, *f = NULL;
	uint8_t id[MEMQOSD_SAMPLE_BUILD_ID_SIZE], again[MEMQOSD_SAMPLE_BUILD_ID_SIZE];
	Dump d = {};
	int n;

	(void) state;
	build_and_run("bid", "-O2 -fomit-frame-pointer -fno-inline -Wl,--build-id", &d);
	snprintf(exe, sizeof(exe), "%s/bid", tmpdir);
	assert_int_equal(symbolizer_new(&s), 0);
	/* Unknown build-id: nothing to name it by. */
	assert_int_equal(symbolizer_build_id_frame(s, &bid, false, &f), 0);
	assert_string_equal(f, "[unknown]");
	free(f);

	assert_int_equal(symbolizer_cache_file(s, exe, id), 1);
	assert_int_equal(symbolizer_cache_file(s, exe, again), 0); /* one entry per build-id */
	assert_memory_equal(id, again, sizeof(id));
	assert_true(symbolizer_cache_file(s, "/nonexistent/file", NULL) < 0);

	memcpy(bid.build_id, id, sizeof(id));
	bid.offset = file_offset(d.maps, d.regs[16]);
	assert_int_equal(symbolizer_build_id_frame(s, &bid, false, &f), 0);
	fprintf(stderr, "  by build-id: %s\n", f);
	assert_true(starts(f, "level3"));
	assert_non_null(strstr(f, "(bid+0x"));
	free(f);

	/* A frame whose file is not cached places nothing; with none placed the process is unknown. */
	other = bid;
	other.build_id[0] ^= 0xff;
	assert_int_equal(symbolizer_add_process_build_ids(s, d.pid, 9, &other, &d.regs[16], 1), -ENOENT);
	assert_false(symbolizer_knows_pid(s, d.pid));

	assert_int_equal(symbolizer_add_process_build_ids(s, d.pid, 9, &bid, &d.regs[16], 1), 1);
	assert_true(symbolizer_has_process(s, d.pid, 9));
	assert_true(symbolizer_rebuilt(s, d.pid));
	n = unwind_levels(s, &d, frames, "gone process, by build-id", 4);
	/* The same names as from the live process's mappings: module and offset from its load address. */
	{
		_cleanup_(symbolizer_freep) Symbolizer *live = NULL;
		char *g = NULL;

		assert_int_equal(symbolizer_new(&live), 0);
		assert_int_equal(symbolizer_add_process(live, d.pid, 1, d.maps), 0);
		assert_int_equal(symbolizer_user_frame(live, d.pid, d.regs[16], false, &g), 0);
		assert_string_equal(g, frames[0]);
		free(g);
	}
	/* Unwinding stopped where main returns into libc, which no frame named. */
	assert_true(n == 4 || strstr(frames[4], "[unknown]"));
	symbolizer_frames_clear(frames, (size_t) n);

	/*
	 * A later sample of that process with a frame in libc (cached by build-id too): libc is placed
	 * beside the executable, and the unwinder goes on into it.
	 */
	{
		struct memqosd_sample_build_id lbid = { .status = MEMQOSD_SAMPLE_BUILD_ID_VALID };
		const char *line = d.maps;
		uint64_t lip = 0;

		while (line && *line && !lip) {
			unsigned long long lo, hi, off;
			char perms[8], path[512];

			if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %511s", &lo, &hi, perms, &off, path) == 5 &&
			    perms[2] == 'x' && strstr(path, "/libc.so")) {
				assert_int_equal(symbolizer_cache_file(s, path, lbid.build_id), 1);
				lip = lo + 0x10;
				lbid.offset = off + 0x10;
			}
			line = strchr(line, '\n');
			if (line)
				line++;
		}
		assert_true(lip != 0);
		assert_int_equal(symbolizer_add_process_build_ids(s, d.pid, 9, &bid, &d.regs[16], 1), 1); /* nothing new */
		assert_int_equal(symbolizer_add_process_build_ids(s, d.pid, 9, &lbid, &lip, 1), 2);
		n = unwind_levels(s, &d, frames, "gone process, libc placed too", 5);
		assert_non_null(strstr(frames[4], "(libc.so.6+0x"));
		assert_null(strstr(frames[4], "[unknown]"));
		symbolizer_frames_clear(frames, (size_t) n);
	}
	free(d.maps);
}

/* A snapshot of a live process keeps its files by build-id: this test's own executable is known then. */
static void test_snapshot_caches_files(void **state)
{
	_cleanup_(symbolizer_freep) Symbolizer *s = NULL;

	(void) state;
	assert_int_equal(symbolizer_new(&s), 0);
	assert_int_equal(symbolizer_cache_file(s, "/proc/self/exe", NULL), 1);
	symbolizer_free(TAKE_PTR(s));
	assert_int_equal(symbolizer_new(&s), 0);
	assert_int_equal(symbolizer_add_process(s, getpid(), 1, NULL), 0);
	assert_int_equal(symbolizer_cache_file(s, "/proc/self/exe", NULL), 0);
}

/*
 * A process that has exited but is not reaped yet (a zombie; so is one in the middle of exit) has
 * given up its address space: its maps read empty. That is no snapshot (-ENOENT, as for a process
 * reaped already), so the sampler falls back to what names the samples of gone processes (the
 * parent's mappings, the files kept by build-id). An empty snapshot made every frame "[unknown]":
 * the exec'd children of the sampling VM test, whenever memqosd read their maps between their exit
 * and their parent's wait.
 */
static void test_exited_process(void **state)
{
	_cleanup_(symbolizer_freep) Symbolizer *s = NULL;
	uint64_t regs[MEMQOSD_SAMPLE_NREGS] = {};
	char *frames[4] = {};
	int pipefd[2], status;
	siginfo_t si = {};
	pid_t pid;
	char c;

	(void) state;
	assert_int_equal(symbolizer_new(&s), 0);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipefd[1]);
		(void) !read(pipefd[0], &c, 1);
		_exit(0);
	}
	close(pipefd[0]);
	/* Alive: its mappings, with this test's executable among them. */
	assert_int_equal(symbolizer_add_process(s, pid, 1, NULL), 0);
	assert_true(symbolizer_has_process(s, pid, 1));
	symbolizer_forget_process(s, pid);

	/* Exited, not reaped (WNOWAIT): a zombie, no mm. */
	close(pipefd[1]);
	assert_int_equal(waitid(P_PID, (id_t) pid, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(si.si_pid, pid);
	assert_int_equal(symbolizer_add_process(s, pid, 2, NULL), -ENOENT);
	assert_false(symbolizer_knows_pid(s, pid));
	assert_int_equal(symbolizer_unwind_user(s, pid, regs, NULL, 0, frames, 4), -ESRCH);

	/* Reaped: gone the same way. */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(symbolizer_add_process(s, pid, 2, NULL), -ENOENT);
	assert_false(symbolizer_knows_pid(s, pid));
}

/*
 * A library mapped after the snapshot (the first sample of a process often comes from the dynamic
 * loader, before it maps libc): the first frame that lies in no known module takes a new snapshot
 * at once, so the samples of the program's first second are named too (before, a snapshot younger
 * than a second was not taken again, and they stopped at an "[unknown]" first frame).
 */
static void test_mapped_after_snapshot(void **state)
{
	_cleanup_(symbolizer_freep) Symbolizer *s = NULL;
	uint64_t regs[MEMQOSD_SAMPLE_NREGS] = {};
	char src[256], lib[256], cmd[1024], *frames[4] = {};
	void *handle, *fn;
	FILE *f;
	int n;

	(void) state;
	snprintf(src, sizeof(src), "%s/late.c", tmpdir);
	snprintf(lib, sizeof(lib), "%s/late.so", tmpdir);
	f = fopen(src, "we");
	assert_non_null(f);
	fputs("__attribute__((noinline)) int late_fn(int x) { return x * 7 + 1; }\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s -O2 -shared -fPIC -o %s %s", TEST_CC, lib, src);
	if (system(cmd) != 0)
		fail_msg("could not build the test library: %s", cmd);

	assert_int_equal(symbolizer_new(&s), 0);
	assert_int_equal(symbolizer_add_process(s, getpid(), 1, NULL), 0);
	handle = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(handle);
	fn = dlsym(handle, "late_fn");
	assert_non_null(fn);
	regs[16] = (uint64_t) (uintptr_t) fn;
	n = symbolizer_unwind_user(s, getpid(), regs, NULL, 0, frames, 4);
	assert_true(n >= 1);
	fprintf(stderr, "  mapped after the snapshot: %s\n", frames[0]);
	assert_true(starts(frames[0], "late_fn"));
	assert_non_null(strstr(frames[0], "(late.so+0x"));
	symbolizer_frames_clear(frames, (size_t) n);
	dlclose(handle);
}

static void test_unknown(void **state)
{
	_cleanup_(symbolizer_freep) Symbolizer *s = NULL;
	uint64_t regs[MEMQOSD_SAMPLE_NREGS] = {};
	char *frames[4] = {}, *f = NULL;

	(void) state;
	assert_int_equal(symbolizer_new(&s), 0);
	assert_int_equal(symbolizer_unwind_user(s, 424242, regs, NULL, 0, frames, 4), -ESRCH);
	assert_int_equal(symbolizer_user_frame(s, 424242, 0x1000, false, &f), 0);
	assert_string_equal(f, "[unknown]");
	free(f);
	/* A process that does not exist cannot be snapshotted. */
	assert_int_equal(symbolizer_add_process(s, 0x3fffffff, 0, NULL), -ENOENT);
	/* A known process with nothing mapped at the address. */
	assert_int_equal(symbolizer_add_process(s, 7, 0, ""), 0);
	assert_int_equal(symbolizer_user_frame(s, 7, 0x1000, false, &f), 0);
	assert_string_equal(f, "[unknown]");
	free(f);
	symbolizer_forget_process(s, 7);
	assert_false(symbolizer_has_process(s, 7, 0));
}

static void test_kernel(void **state)
{
	_cleanup_(symbolizer_freep) Symbolizer *s = NULL;
	char path[256], *f = NULL;
	FILE *k;

	(void) state;
	snprintf(path, sizeof(path), "%s/kallsyms", tmpdir);
	k = fopen(path, "we");
	assert_non_null(k);
	fputs("ffffffff81000000 T _text\n"
	      "ffffffff81200000 T handle_mm_fault\n"
	      "ffffffff81200400 t __handle_mm_fault\n"
	      "ffffffff81300000 D some_data\n"
	      "ffffffffc0100000 t xfs_file_read_iter\t[xfs]\n", k);
	fclose(k);
	assert_int_equal(symbolizer_new(&s), 0);
	assert_int_equal(symbolizer_load_kallsyms(s, path), 0);
	assert_int_equal(symbolizer_kernel_frame(s, 0xffffffff8120001fULL, &f), 0);
	assert_string_equal(f, "handle_mm_fault ([kernel]+0x1f)");
	free(f);
	assert_int_equal(symbolizer_kernel_frame(s, 0xffffffff81200408ULL, &f), 0);
	assert_string_equal(f, "__handle_mm_fault ([kernel]+0x8)");
	free(f);
	assert_int_equal(symbolizer_kernel_frame(s, 0xffffffffc0100010ULL, &f), 0);
	assert_string_equal(f, "xfs_file_read_iter ([xfs]+0x10)");
	free(f);
	assert_int_equal(symbolizer_kernel_frame(s, 0x1000, &f), 0);
	assert_string_equal(f, "[unknown] ([kernel]+0x1000)");
	free(f);
	assert_int_equal(symbolizer_load_kallsyms(s, "/nonexistent/kallsyms"), -ENOENT);
}

static int setup(void **state)
{
	(void) state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[256];

	(void) state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unwind_no_frame_pointers),
		cmocka_unit_test(test_unwind_frame_pointers),
		cmocka_unit_test(test_build_id),
		cmocka_unit_test(test_snapshot_caches_files),
		cmocka_unit_test(test_exited_process),
		cmocka_unit_test(test_mapped_after_snapshot),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_kernel),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
