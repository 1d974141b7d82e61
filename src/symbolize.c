/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <time.h>
#include <unistd.h>

#include "symbolize.h"

typedef struct UnwindInput {
	const uint64_t *regs;
	const uint8_t *stack;
	size_t stack_len;
} UnwindInput;

/*
 * Names of addresses already looked up in a process, direct-mapped: dwfl_module_addrinfo() scans
 * the module's symbol table on every call (hundreds of microseconds for libc), and the frames of
 * samples repeat.
 */
#define SYM_CACHE_SLOTS 512

typedef struct SymCacheSlot {
	uint64_t key;                /* pc << 1 | return_address; 0 = empty */
	char *name;
} SymCacheSlot;

typedef struct SymProcess {
	pid_t pid;
	SymCacheSlot *cache;         /* SYM_CACHE_SLOTS, allocated on first use */
	uint64_t tag;
	bool live;                   /* snapshot of /proc/PID/maps (not given text): can be refreshed */
	uint64_t snap_usec;          /* CLOCK_MONOTONIC when it was taken */
	bool refreshed;              /* taken again since the first (a frame lay in no module) */
	Dwfl *dwfl;
	bool attached;               /* dwfl_attach_state done (once per Dwfl) */
	UnwindInput in;              /* the sample being unwound */
	uint64_t last_use;
	uint64_t use_usec;           /* CLOCK_MONOTONIC of the last use: idle ones go (age) */
	struct Place *places;        /* rebuilt from build-ids: the files placed (NULL: a snapshot) */
	size_t n_places;
} SymProcess;

/* A file of a process rebuilt from build-ids, and where it is loaded. */
typedef struct Place {
	uint8_t build_id[MEMQOSD_SAMPLE_BUILD_ID_SIZE];
	uint64_t bias;
} Place;

#define SYMBOLIZER_PLACES_MAX 32

/*
 * An ELF file by build-id: opened once, while a process that maps it exists (through its
 * /proc/PID/root), shared by every process that maps it, kept after they exit. Its own Dwfl holds
 * it alone at bias 0: names by file address, whatever the process.
 */
typedef struct ElfEntry {
	uint8_t build_id[MEMQOSD_SAMPLE_BUILD_ID_SIZE]; /* zero-padded */
	char *name;                  /* the file's basename: the module's name in frames */
	int fd;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	SymCacheSlot *cache;         /* names by file address */
	uint64_t last_use;
} ElfEntry;

typedef struct KernelSym {
	uint64_t addr;
	char *name;                  /* "func" */
	char *module;                /* NULL = the kernel */
} KernelSym;

struct Symbolizer {
	SymProcess procs[SYMBOLIZER_PROCESSES_MAX];
	size_t n_procs;
	ElfEntry files[SYMBOLIZER_FILES_MAX];
	size_t n_files;
	uint64_t clock;
	KernelSym *ksyms;
	size_t n_ksyms;
};

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

/* Files reported with dwfl_report_elf (build-id entries, processes rebuilt from build-ids). */
static const Dwfl_Callbacks dwfl_file_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

int symbolizer_new(Symbolizer **ret)
{
	Symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static void sym_cache_free(SymCacheSlot *cache)
{
	if (cache)
		for (size_t i = 0; i < SYM_CACHE_SLOTS; i++)
			free(cache[i].name);
	free(cache);
}

static void proc_clear(SymProcess *p)
{
	sym_cache_free(p->cache);
	free(p->places);
	if (p->dwfl)
		dwfl_end(p->dwfl);
	*p = (SymProcess) {};
}

static void elf_entry_clear(ElfEntry *e)
{
	sym_cache_free(e->cache);
	if (e->dwfl)
		dwfl_end(e->dwfl);
	if (e->fd >= 0)
		close(e->fd);
	free(e->name);
	*e = (ElfEntry) { .fd = -1 };
}

void symbolizer_frames_clear(char **frames, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(frames[i]);
		frames[i] = NULL;
	}
}

Symbolizer *symbolizer_free(Symbolizer *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_procs; i++)
		proc_clear(&s->procs[i]);
	for (size_t i = 0; i < s->n_files; i++)
		elf_entry_clear(&s->files[i]);
	for (size_t i = 0; i < s->n_ksyms; i++) {
		free(s->ksyms[i].name);
		free(s->ksyms[i].module);
	}
	free(s->ksyms);
	free(s);
	return NULL;
}

static SymProcess *proc_find(Symbolizer *s, pid_t pid)
{
	for (size_t i = 0; i < s->n_procs; i++)
		if (s->procs[i].pid == pid) {
			s->procs[i].last_use = ++s->clock;
			s->procs[i].use_usec = clock_usec(CLOCK_MONOTONIC);
			return &s->procs[i];
		}
	return NULL;
}

bool symbolizer_has_process(Symbolizer *s, pid_t pid, uint64_t tag)
{
	SymProcess *p = proc_find(s, pid);

	return p && p->tag == tag;
}

bool symbolizer_knows_pid(Symbolizer *s, pid_t pid)
{
	return proc_find(s, pid) != NULL;
}

void symbolizer_forget_process(Symbolizer *s, pid_t pid)
{
	SymProcess *p = proc_find(s, pid);

	if (!p)
		return;
	proc_clear(p);
	*p = s->procs[--s->n_procs];
	s->procs[s->n_procs] = (SymProcess) {};
}

/*
 * /proc/PID/maps, with every file path made "/proc/PID/root/PATH": the files as the process sees
 * them, in its mount namespace (a container's), whatever the daemon's own namespace hides
 * (ProtectHome=, PrivateTmp=).
 */
static char *read_maps(pid_t pid)
{
	char path[64], line[PATH_MAX + 256], *buf = NULL;
	size_t len = 0;
	FILE *in, *out;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int) pid);
	in = fopen(path, "re");
	if (!in)
		return NULL;
	out = open_memstream(&buf, &len);
	if (!out) {
		fclose(in);
		return NULL;
	}
	while (fgets(line, sizeof(line), in)) {
		char *file = strchr(line, '/');

		/* "START-END PERMS OFFSET DEV INODE   /path": the first '/' is the path's. */
		if (file && file > line && file[-1] == ' ')
			fprintf(out, "%.*s/proc/%d/root%s", (int) (file - line), line, (int) pid, file);
		else
			fputs(line, out);
	}
	fclose(in);
	fclose(out);
	return buf;
}

static const char *basename_of(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/* The index of the least recently used of n items of `size` bytes (their uint64_t use clock at `use`). */
static size_t lru_index(const void *items, size_t n, size_t size, size_t use)
{
	uint64_t best = UINT64_MAX, v;
	size_t lru = 0;

	for (size_t i = 0; i < n; i++) {
		memcpy(&v, (const char *) items + i * size + use, sizeof(v));
		if (v < best) {
			best = v;
			lru = i;
		}
	}
	return lru;
}

static ElfEntry *elf_find(Symbolizer *s, const uint8_t *build_id)
{
	for (size_t i = 0; i < s->n_files; i++)
		if (memcmp(s->files[i].build_id, build_id, MEMQOSD_SAMPLE_BUILD_ID_SIZE) == 0) {
			s->files[i].last_use = ++s->clock;
			return &s->files[i];
		}
	return NULL;
}

/* The module's build-id, zero-padded as the kernel gives it; false if it has none. */
static bool module_build_id(Dwfl_Module *mod, uint8_t out[MEMQOSD_SAMPLE_BUILD_ID_SIZE])
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	int len = dwfl_module_build_id(mod, &bits, &vaddr);

	if (len <= 0)
		return false;
	memset(out, 0, MEMQOSD_SAMPLE_BUILD_ID_SIZE);
	memcpy(out, bits, (size_t) MIN(len, MEMQOSD_SAMPLE_BUILD_ID_SIZE));
	return true;
}

int symbolizer_cache_file(Symbolizer *s, const char *path, uint8_t ret_build_id[MEMQOSD_SAMPLE_BUILD_ID_SIZE])
{
	uint8_t id[MEMQOSD_SAMPLE_BUILD_ID_SIZE];
	ElfEntry e = { .fd = -1 };
	int fd2;

	e.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (e.fd < 0)
		return -errno;
	e.name = strdup(basename_of(path));
	e.dwfl = dwfl_begin(&dwfl_file_callbacks);
	fd2 = fcntl(e.fd, F_DUPFD_CLOEXEC, 3);
	if (!e.name || !e.dwfl || fd2 < 0) {
		if (fd2 >= 0)
			close(fd2);
		elf_entry_clear(&e);
		return -ENOMEM;
	}
	dwfl_report_begin(e.dwfl);
	e.mod = dwfl_report_elf(e.dwfl, e.name, path, fd2, 0, true);
	if (!e.mod || dwfl_report_end(e.dwfl, NULL, NULL) != 0 || !module_build_id(e.mod, id)) {
		elf_entry_clear(&e);
		return -ENOEXEC; /* not ELF, or no build-id to find it by */
	}
	memcpy(e.build_id, id, sizeof(id));
	if (ret_build_id)
		memcpy(ret_build_id, id, sizeof(id));
	if (elf_find(s, id)) {
		elf_entry_clear(&e);
		return 0;
	}
	if (s->n_files == SYMBOLIZER_FILES_MAX) {
		size_t lru = lru_index(s->files, s->n_files, sizeof(*s->files), offsetof(ElfEntry, last_use));

		elf_entry_clear(&s->files[lru]);
		s->files[lru] = s->files[--s->n_files];
	}
	e.last_use = ++s->clock;
	s->files[s->n_files++] = e;
	return 1;
}

typedef struct OpenModules {
	Symbolizer *s;
	unsigned missing;            /* files of the snapshot that could not be opened */
} OpenModules;

/*
 * Open every module's ELF now, while the process (and its mount namespace) exists, and keep the
 * files not yet known by build-id: they name the samples of processes that are gone before their
 * mappings could be read.
 */
static int open_module_elf(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start, void *arg)
{
	OpenModules *o = arg;
	Symbolizer *s = o->s;
	uint8_t id[MEMQOSD_SAMPLE_BUILD_ID_SIZE];
	const char *file = NULL;
	Dwarf_Addr bias;

	(void) userdata;
	(void) start;
	if (!dwfl_module_getelf(mod, &bias)) {
		if (name && name[0] == '/')
			o->missing++;
		return DWARF_CB_OK;
	}
	if (!module_build_id(mod, id) || elf_find(s, id))
		return DWARF_CB_OK;
	(void) dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, &file, NULL);
	if (file)
		(void) symbolizer_cache_file(s, file, NULL);
	return DWARF_CB_OK;
}

/* Make room for one more process (idle ones first, then the least recently used) and add it. */
static void proc_insert(Symbolizer *s, const SymProcess *np)
{
	uint64_t now = clock_usec(CLOCK_MONOTONIC);

	symbolizer_forget_process(s, np->pid);
	for (size_t i = 0; i < s->n_procs;)
		if (now - s->procs[i].use_usec > SYMBOLIZER_PROCESS_MAX_AGE_USEC) {
			proc_clear(&s->procs[i]);
			s->procs[i] = s->procs[--s->n_procs];
			s->procs[s->n_procs] = (SymProcess) {};
		} else
			i++;
	if (s->n_procs == SYMBOLIZER_PROCESSES_MAX) {
		size_t lru = lru_index(s->procs, s->n_procs, sizeof(*s->procs), offsetof(SymProcess, last_use));

		proc_clear(&s->procs[lru]);
		s->procs[lru] = s->procs[--s->n_procs];
	}
	s->procs[s->n_procs] = *np;
	s->procs[s->n_procs].last_use = ++s->clock;
	s->procs[s->n_procs].use_usec = now;
	s->n_procs++;
}

/*
 * Whether pid still has its address space. A process that exits gives up its mm early in exit(),
 * before it becomes a zombie; from then until its parent reaps it, /proc/PID/maps reads empty (and
 * /proc/PID/root is gone): a snapshot then would hold no file, and every sample of the process
 * would unwind to "[unknown]".
 */
static bool process_has_mm(pid_t pid)
{
	char path[64];
	FILE *f;
	bool r;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int) pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	r = getc(f) != EOF;
	fclose(f);
	return r;
}

int symbolizer_add_process(Symbolizer *s, pid_t pid, uint64_t tag, const char *maps_text)
{
	bool owned_text_given = maps_text != NULL;
	_cleanup_free_ char *owned = NULL;
	OpenModules open = { .s = s };
	Dwfl *dwfl;
	FILE *f;
	int r;

	if (!maps_text) {
		owned = read_maps(pid);
		if (!owned)
			return errno == ENOENT || errno == ESRCH ? -ENOENT : -errno;
		/* Exiting or a zombie (process_has_mm()): gone, as far as its mappings go. */
		if (!*owned)
			return -ENOENT;
		maps_text = owned;
	}
	dwfl = dwfl_begin(&dwfl_callbacks);
	if (!dwfl)
		return -ENOMEM;
	f = fmemopen((void *) maps_text, strlen(maps_text), "r");
	if (!f) {
		dwfl_end(dwfl);
		return -errno;
	}
	dwfl_report_begin(dwfl);
	r = dwfl_linux_proc_maps_report(dwfl, f);
	fclose(f);
	if (r != 0 || dwfl_report_end(dwfl, NULL, NULL) != 0) {
		dwfl_end(dwfl);
		return -EINVAL;
	}
	if (!owned_text_given) {
		(void) dwfl_getmodules(dwfl, open_module_elf, &open, 0);
		/* It exited while its files were being opened: the snapshot is not the process's. */
		if (open.missing > 0 && !process_has_mm(pid)) {
			dwfl_end(dwfl);
			return -ENOENT;
		}
	}

	proc_insert(s, &(SymProcess) { .pid = pid, .tag = tag, .live = !owned_text_given, .snap_usec = clock_usec(CLOCK_MONOTONIC),
				       .dwfl = dwfl });
	return 0;
}

static char *format_user_frame(Dwfl *dwfl, uint64_t pc, bool return_address)
{
	uint64_t lookup = return_address && pc > 0 ? pc - 1 : pc;
	Dwfl_Module *mod = dwfl_addrmodule(dwfl, lookup);
	const char *modname, *sym = NULL;
	Dwarf_Addr low = 0;
	GElf_Off off;
	GElf_Sym esym;
	char *ret;

	if (!mod)
		return strdup("[unknown]");
	modname = dwfl_module_info(mod, NULL, &low, NULL, NULL, NULL, NULL, NULL);
	sym = dwfl_module_addrinfo(mod, lookup, &off, &esym, NULL, NULL, NULL);
	/* "__libc_start_main@@GLIBC_2.34": the symbol version is noise here. */
	if (asprintf(&ret, "%.*s (%s+0x%" PRIx64 ")", sym ? (int) strcspn(sym, "@") : 9, sym ?: "[unknown]",
		     basename_of(modname ?: "?"), pc - low) < 0)
		return NULL;
	return ret;
}

/* format_user_frame() through a cache of names (allocated on first use); a copy the caller frees. */
static char *frame_cached(SymCacheSlot **cache, Dwfl *dwfl, uint64_t pc, bool return_address)
{
	uint64_t key = pc << 1 | (return_address ? 1 : 0);
	SymCacheSlot *slot;
	char *name;

	if (!*cache)
		*cache = calloc(SYM_CACHE_SLOTS, sizeof(**cache));
	if (!*cache)
		return format_user_frame(dwfl, pc, return_address);
	slot = &(*cache)[(key * 0x9E3779B97F4A7C15ULL) >> 55 & (SYM_CACHE_SLOTS - 1)];
	if (slot->key != key || !slot->name) {
		name = format_user_frame(dwfl, pc, return_address);
		if (!name)
			return NULL;
		free(slot->name);
		*slot = (SymCacheSlot) { .key = key, .name = name };
	}
	return strdup(slot->name);
}

static char *user_frame_cached(SymProcess *p, uint64_t pc, bool return_address)
{
	return frame_cached(&p->cache, p->dwfl, pc, return_address);
}

/* The file address (p_vaddr space) of a file offset in the file's loaded segments; false if none. */
static bool file_vaddr(ElfEntry *e, uint64_t offset, uint64_t *ret)
{
	Dwarf_Addr bias;
	Elf *elf = dwfl_module_getelf(e->mod, &bias);
	size_t n;

	if (!elf || elf_getphdrnum(elf, &n) != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr mem, *ph = gelf_getphdr(elf, (int) i, &mem);

		if (ph && ph->p_type == PT_LOAD && offset >= ph->p_offset && offset < ph->p_offset + ph->p_filesz) {
			*ret = ph->p_vaddr + (offset - ph->p_offset);
			return true;
		}
	}
	return false;
}

int symbolizer_build_id_frame(Symbolizer *s, const struct memqosd_sample_build_id *bid, bool return_address,
			      char **ret)
{
	ElfEntry *e = bid->status == MEMQOSD_SAMPLE_BUILD_ID_VALID ? elf_find(s, bid->build_id) : NULL;
	uint64_t vaddr;
	char *f;

	if (!e || !file_vaddr(e, bid->offset, &vaddr))
		f = strdup("[unknown]");
	else
		f = frame_cached(&e->cache, e->dwfl, vaddr, return_address);
	if (!f)
		return -ENOMEM;
	*ret = f;
	return 0;
}

static bool placed(const Place *places, size_t n, const uint8_t *build_id)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(places[i].build_id, build_id, MEMQOSD_SAMPLE_BUILD_ID_SIZE) == 0)
			return true;
	return false;
}

int symbolizer_add_process_build_ids(Symbolizer *s, pid_t pid, uint64_t tag,
				     const struct memqosd_sample_build_id *bids, const uint64_t *ips, size_t n)
{
	SymProcess *old = proc_find(s, pid);
	_cleanup_free_ Place *places = calloc(SYMBOLIZER_PLACES_MAX, sizeof(*places));
	size_t n_places = 0, n_old;
	Dwfl *dwfl;

	if (!places)
		return -ENOMEM;
	/* The same address space rebuilt before: keep its files, add the ones these frames name. */
	if (old && old->tag == tag && old->places) {
		n_places = MIN(old->n_places, (size_t) SYMBOLIZER_PLACES_MAX);
		memcpy(places, old->places, n_places * sizeof(*places));
	}
	n_old = n_places;
	for (size_t i = 0; i < n && n_places < SYMBOLIZER_PLACES_MAX; i++) {
		ElfEntry *e;
		uint64_t vaddr;

		if (bids[i].status != MEMQOSD_SAMPLE_BUILD_ID_VALID || placed(places, n_places, bids[i].build_id))
			continue;
		e = elf_find(s, bids[i].build_id);
		if (!e || !file_vaddr(e, bids[i].offset, &vaddr))
			continue;
		/* The load bias: where the frame is, less where the file puts that offset. */
		places[n_places++] = (Place) { .bias = ips[i] - vaddr };
		memcpy(places[n_places - 1].build_id, bids[i].build_id, MEMQOSD_SAMPLE_BUILD_ID_SIZE);
	}
	if (n_places == 0)
		return -ENOENT;
	if (n_places == n_old)
		return (int) n_places; /* nothing new: the process stays as it is */

	dwfl = dwfl_begin(&dwfl_file_callbacks);
	if (!dwfl)
		return -ENOMEM;
	dwfl_report_begin(dwfl);
	for (size_t i = 0; i < n_places; i++) {
		ElfEntry *e = elf_find(s, places[i].build_id);
		int fd = e ? fcntl(e->fd, F_DUPFD_CLOEXEC, 3) : -1;

		if (fd >= 0 && !dwfl_report_elf(dwfl, e->name, e->name, fd, places[i].bias, true))
			close(fd);
	}
	if (dwfl_report_end(dwfl, NULL, NULL) != 0) {
		dwfl_end(dwfl);
		return -ENOENT;
	}
	proc_insert(s, &(SymProcess) { .pid = pid, .tag = tag, .snap_usec = clock_usec(CLOCK_MONOTONIC), .dwfl = dwfl,
				       .places = TAKE_PTR(places), .n_places = n_places });
	return (int) n_places;
}

bool symbolizer_rebuilt(Symbolizer *s, pid_t pid)
{
	SymProcess *p = proc_find(s, pid);

	return p && p->places;
}

int symbolizer_user_frame(Symbolizer *s, pid_t pid, uint64_t ip, bool return_address, char **ret)
{
	SymProcess *p = proc_find(s, pid);
	char *f;

	f = p ? user_frame_cached(p, ip, return_address) : strdup("[unknown]");
	if (!f)
		return -ENOMEM;
	*ret = f;
	return 0;
}

/* ---- libdw unwinder callbacks: one thread, registers and memory from the sample ---- */

static pid_t cb_next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	SymProcess *p = arg;

	(void) dwfl;
	if (*thread_argp)
		return 0;
	*thread_argp = p;
	return p->pid;
}

static bool cb_get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	SymProcess *p = arg;

	(void) dwfl;
	if (tid != p->pid)
		return false;
	*thread_argp = p;
	return true;
}

static bool cb_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	SymProcess *p = arg;
	uint64_t sp = p->in.regs[7];

	(void) dwfl;
	if (addr < sp || addr - sp + sizeof(*result) > p->in.stack_len)
		return false; /* outside the copied slice */
	memcpy(result, p->in.stack + (addr - sp), sizeof(*result));
	return true;
}

static bool cb_set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
	SymProcess *p = thread_arg;
	Dwarf_Word regs[MEMQOSD_SAMPLE_NREGS];

	for (int i = 0; i < MEMQOSD_SAMPLE_NREGS; i++)
		regs[i] = p->in.regs[i];
	return dwfl_thread_state_registers(thread, 0, MEMQOSD_SAMPLE_NREGS, regs);
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = cb_next_thread,
	.get_thread = cb_get_thread,
	.memory_read = cb_memory_read,
	.set_initial_registers = cb_set_initial_registers,
};

typedef struct FrameWalk {
	SymProcess *p;
	char **frames;
	size_t n, max;
	uint64_t last_pc;
	bool failed;
	bool no_module;              /* a pc in no module of the snapshot: mapped after it was taken? */
} FrameWalk;

static int frame_cb(Dwfl_Frame *frame, void *arg)
{
	FrameWalk *w = arg;
	bool activation = false;
	Dwarf_Addr pc;
	char *f;

	if (w->n >= w->max)
		return DWARF_CB_ABORT;
	if (!dwfl_frame_pc(frame, &pc, &activation) || pc == 0)
		return DWARF_CB_ABORT;
	if (w->n > 0 && pc == w->last_pc && !activation)
		return DWARF_CB_ABORT; /* no progress */
	if (!dwfl_addrmodule(w->p->dwfl, !activation && pc > 0 ? pc - 1 : pc))
		w->no_module = true;
	f = user_frame_cached(w->p, pc, !activation);
	if (!f) {
		w->failed = true;
		return DWARF_CB_ABORT;
	}
	w->frames[w->n++] = f;
	w->last_pc = pc;
	return DWARF_CB_OK;
}

static int unwind(Symbolizer *s, pid_t pid, const uint64_t *regs, const uint8_t *stack, size_t stack_len,
		  char **frames, size_t max, bool may_refresh)
{
	SymProcess *p = proc_find(s, pid);
	FrameWalk w = { .p = p, .frames = frames, .max = max };

	if (max == 0)
		return 0;
	if (!p)
		return -ESRCH;
	if (!p->attached) {
		if (!dwfl_attach_state(p->dwfl, NULL, pid, &thread_callbacks, p)) {
			/* No module tells the architecture (nothing mapped): only the first frame. */
			char *f = format_user_frame(p->dwfl, regs[16], false);

			if (!f)
				return -ENOMEM;
			frames[0] = f;
			return 1;
		}
		p->attached = true;
	}
	p->in = (UnwindInput) { .regs = regs, .stack = stack, .stack_len = stack_len };
	(void) dwfl_getthread_frames(p->dwfl, pid, frame_cb, &w);
	p->in = (UnwindInput) {};
	if (w.failed) {
		symbolizer_frames_clear(frames, w.n);
		return -ENOMEM;
	}
	/*
	 * A frame in no known module: the process mapped it after the snapshot (the first sample of a
	 * process often comes from the dynamic loader, before the libraries are mapped). Take a new
	 * snapshot and unwind again: at once the first time (the samples that come right after the
	 * loader's, a program's start-up work, would all stop at their first libc frame otherwise),
	 * then at most once a second per process (code in no file, such as a JIT's, stays unknown).
	 */
	if (w.no_module && may_refresh && p->live && (!p->refreshed || clock_usec(CLOCK_MONOTONIC) - p->snap_usec >= 1000000)) {
		uint64_t tag = p->tag;

		if (symbolizer_add_process(s, pid, tag, NULL) >= 0) {
			p = proc_find(s, pid);
			if (p)
				p->refreshed = true;
			symbolizer_frames_clear(frames, w.n);
			return unwind(s, pid, regs, stack, stack_len, frames, max, false);
		}
		p = proc_find(s, pid);
		if (!p)
			return -ESRCH;
		p->snap_usec = clock_usec(CLOCK_MONOTONIC); /* gone: do not try again for a while */
		p->refreshed = true;
	}
	if (w.n == 0) {
		char *f = format_user_frame(p->dwfl, regs[16], false);

		if (!f)
			return -ENOMEM;
		frames[w.n++] = f;
	}
	return (int) w.n;
}

int symbolizer_unwind_user(Symbolizer *s, pid_t pid, const uint64_t *regs, const uint8_t *stack, size_t stack_len,
			   char **frames, size_t max)
{
	return unwind(s, pid, regs, stack, stack_len, frames, max, true);
}

/* ---- kernel ---- */

static int ksym_cmp(const void *a, const void *b)
{
	const KernelSym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int symbolizer_load_kallsyms(Symbolizer *s, const char *path)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, n = 0, alloc = 0;
	KernelSym *syms = NULL;
	FILE *f;

	f = fopen(path ?: "/proc/kallsyms", "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char type, name[256], module[128] = "";
		unsigned long long addr;
		int k = sscanf(line, "%llx %c %255s [%127[^]]]", &addr, &type, name, module);

		if (k < 3 || addr == 0)
			continue; /* zeros: kptr_restrict hides the addresses */
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		if (n == alloc) {
			size_t na = alloc ? 2 * alloc : 4096;
			KernelSym *ns = realloc(syms, na * sizeof(*ns));

			if (!ns)
				goto oom;
			syms = ns;
			alloc = na;
		}
		syms[n] = (KernelSym) { .addr = addr, .name = strdup(name), .module = k == 4 ? strdup(module) : NULL };
		if (!syms[n].name || (k == 4 && !syms[n].module))
			goto oom;
		n++;
	}
	fclose(f);
	qsort(syms, n, sizeof(*syms), ksym_cmp);
	for (size_t i = 0; i < s->n_ksyms; i++) {
		free(s->ksyms[i].name);
		free(s->ksyms[i].module);
	}
	free(s->ksyms);
	s->ksyms = syms;
	s->n_ksyms = n;
	return n ? 0 : -EPERM;
oom:
	fclose(f);
	for (size_t i = 0; i <= n && i < alloc; i++) {
		free(syms[i].name);
		free(syms[i].module);
	}
	free(syms);
	return -ENOMEM;
}

int symbolizer_kernel_frame(Symbolizer *s, uint64_t ip, char **ret)
{
	size_t lo = 0, hi = s->n_ksyms;
	char *f;
	int r;

	/* The last symbol at or below ip. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->ksyms[mid].addr <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		r = asprintf(&f, "[unknown] ([kernel]+0x%" PRIx64 ")", ip);
	else {
		const KernelSym *k = &s->ksyms[lo - 1];

		r = asprintf(&f, "%s ([%s]+0x%" PRIx64 ")", k->name, k->module ?: "kernel", ip - k->addr);
	}
	if (r < 0)
		return -ENOMEM;
	*ret = f;
	return 0;
}
