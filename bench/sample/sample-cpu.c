/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's own CPU for allocation samples (issue 10): what src/sample.c does for each ALLOC
 * record (DWARF-unwind the user stack from the recorded registers and an 8 KiB stack slice with
 * libdw, name every frame, add the sample to the model; one FREE in four), timed on this process's
 * own stack captured 12 frames deep (this program is built -O2 without frame pointers). Also the
 * cost of a process seen for the first time (its /proc/PID/maps snapshot and first unwind).
 * And the cost of a process that is gone before its mappings were read: rebuilt from its first
 * frame's build-id (the files already kept by build-id) and unwound.
 * Prints microseconds per sample and the CPU share at 5,000 samples/s.
 *
 *   build/bench/sample/sample-cpu [SAMPLES]     (default 20000)
 */
#include <inttypes.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sample-model.h"
#include "symbolize.h"

static uint64_t regs[MEMQOSD_SAMPLE_NREGS];
static uint8_t stack[MEMQOSD_SAMPLE_STACK_BYTES];
static size_t stack_len;

static uint64_t stack_top(uint64_t sp)
{
	char line[512];
	unsigned long lo, hi;
	uint64_t top = sp + sizeof(stack);
	FILE *f = fopen("/proc/self/maps", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= sp && sp < hi)
			top = hi;
	if (f)
		fclose(f);
	return top;
}

/* Record this point's registers and the stack above sp, as the BPF sampler does. */
__attribute__((noinline)) static int capture(int depth)
{
	volatile int pad[8];

	if (depth > 0) {
		int r = capture(depth - 1);

		return r + 1;
	}
	for (int i = 0; i < 8; i++)
		pad[i] = i;
	__asm__ volatile("lea 0(%%rip), %%rax\n\tmov %%rax, %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2\n\t"
			 "mov %%rbx, %3\n\tmov %%r12, %4\n\tmov %%r13, %5\n\tmov %%r14, %6\n\tmov %%r15, %7"
			 : "=m"(regs[16]), "=m"(regs[7]), "=m"(regs[6]), "=m"(regs[3]), "=m"(regs[12]),
			   "=m"(regs[13]), "=m"(regs[14]), "=m"(regs[15]) : : "rax", "memory");
	stack_len = stack_top(regs[7]) - regs[7];
	if (stack_len > sizeof(stack))
		stack_len = sizeof(stack);
	memcpy(stack, (void *) regs[7], stack_len);
	return pad[3];
}

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	Symbolizer *sym = NULL;
	SampleModel *model = NULL;
	char *frames[32];
	double t0, t1, cold = 0;
	long total_frames = 0;
	int nf = 0;
	pid_t child;

	if (n <= 0 || symbolizer_new(&sym) < 0 || sample_model_new(600ULL * 1000000, 1024, &model) < 0)
		return 1;
	(void) capture(10);

	/*
	 * A process seen for the first time: snapshot + first unwind, 50 times. The process is a child
	 * (a fork: the same mappings as this one, so this stack unwinds against them), as the daemon
	 * snapshots other processes: this process's own maps grow with the files the symboliser keeps
	 * open.
	 */
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		pause();
		_exit(0);
	}
	for (int i = 0; i < 50; i++) {
		t0 = cpu_seconds();
		if (symbolizer_add_process(sym, child, (uint64_t) i, NULL) < 0)
			return 1;
		nf = symbolizer_unwind_user(sym, child, regs, stack, stack_len, frames, 32);
		t1 = cpu_seconds();
		cold += t1 - t0;
		symbolizer_frames_clear(frames, nf > 0 ? (size_t) nf : 0);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	symbolizer_forget_process(sym, child);
	if (symbolizer_add_process(sym, getpid(), 0, NULL) < 0)
		return 1;

	t0 = cpu_seconds();
	for (long i = 0; i < n; i++) {
		nf = symbolizer_unwind_user(sym, getpid(), regs, stack, stack_len, frames, 32);
		if (nf <= 0)
			return 1;
		total_frames += nf;
		if (sample_model_add(model, &(SampleInput) {
				.tenant_id = 1 + (uint32_t) (i % 4), .seq = (uint64_t) i + 1, .weight = 1 << 20,
				.usec = (uint64_t) i * 200, .comm = "bench", .frames = (const char *const *) frames,
				.n_frames = (size_t) nf, .tracked = true }) < 0)
			return 1;
		if (i % 4 == 3)
			(void) sample_model_free_seq(model, (uint64_t) i, 1 << 20, (uint64_t) i * 200);
		symbolizer_frames_clear(frames, (size_t) nf);
	}
	t1 = cpu_seconds();

	printf("sample-cpu: %ld samples, %.1f frames each\n", n, (double) total_frames / n);
	printf("sample-cpu: %.1f us of CPU per sample (unwind + symbolise + aggregate): %.1f %% of one CPU at 5,000 samples/s\n",
	       (t1 - t0) * 1e6 / n, (t1 - t0) / n * 5000 * 100);
	printf("sample-cpu: first sample of a new process (maps snapshot + first unwind): %.2f ms\n", cold / 50 * 1e3);

	/* A gone process: frame 0 as build-id + file offset (from this process's maps), 50 times. */
	{
		struct memqosd_sample_build_id bid = { .status = MEMQOSD_SAMPLE_BUILD_ID_VALID };
		char line[512];
		unsigned long lo, hi, off;
		FILE *f = fopen("/proc/self/maps", "re");
		int depth = 0;

		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &off) == 3 && lo <= regs[16] && regs[16] < hi)
				bid.offset = regs[16] - lo + off;
		if (f)
			fclose(f);
		if (symbolizer_cache_file(sym, "/proc/self/exe", bid.build_id) < 0)
			return 1;
		cold = 0;
		for (int i = 0; i < 50; i++) {
			t0 = cpu_seconds();
			if (symbolizer_add_process_build_ids(sym, 0x3ffffff0, (uint64_t) i, &bid, &regs[16], 1) < 0)
				return 1;
			nf = symbolizer_unwind_user(sym, 0x3ffffff0, regs, stack, stack_len, frames, 32);
			t1 = cpu_seconds();
			cold += t1 - t0;
			depth = nf;
			symbolizer_frames_clear(frames, nf > 0 ? (size_t) nf : 0);
		}
		printf("sample-cpu: first sample of a gone process rebuilt from build-ids (+ first unwind, %d frames): %.2f ms\n",
		       depth, cold / 50 * 1e3);
	}
	sample_model_free(model);
	symbolizer_free(sym);
	return 0;
}
