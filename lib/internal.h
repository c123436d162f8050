/*
 * internal.h - what the library's modules share and nothing else sees.
 *
 * Naming: jp_ is public (exported through libjobpool.map), jp__ is internal
 * but not static (hidden by -fvisibility=hidden; tests reach it through the
 * convenience library), plain names are static.
 */
#ifndef JOBPOOL_INTERNAL_H
#define JOBPOOL_INTERNAL_H

#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jobpool.h>

#define JP__ERRMSG_MAX 512

/* Format into a fixed message buffer; never overflows, always terminates. */
void jp__msgf(char *dst, size_t cap, const char *fmt, ...) JP_PRINTF(3, 4);
void jp__vmsgf(char *dst, size_t cap, const char *fmt, va_list ap);

/* Monotonic seconds. */
double jp__now(void);
/* getpid(2) without a system call each time (a fork resets it): for the
 * checks every call makes that it runs in the pool's own process. */
pid_t jp__self_pid(void);

/* Tests set this to 0 or 1 before jp_pool_open to make spinners yield or
 * not whatever the CPU count (-1: by the count), so that both ways run on
 * a machine of 2 CPUs. */
extern int jp__spin_yields_forced;
/* The bound under which a call goes to one worker as one batch (sched.c's
 * ONE_BATCH_S), a variable so that tests can make every call short or
 * none. */
extern double jp__one_batch_s;

/* ---- buf.c: a growable, 64-byte aligned byte buffer ------------------ */

typedef struct jp__buf {
	uint8_t *data;
	size_t len;
	size_t cap;
} jp__buf;

int jp__buf_reserve(jp__buf *b, size_t extra);
/* Without the doubling: for a buffer that will hold one big frame and be
 * kept as it is. */
int jp__buf_reserve_exact(jp__buf *b, size_t extra);
int jp__buf_append_slow(jp__buf *b, const void *p, size_t n);
/* Inline where it fits: frames are built of many 4- and 8-byte fields,
 * which then take a store rather than a call to memcpy. */
static inline int jp__buf_append(jp__buf *b, const void *p, size_t n)
{
	if (n > b->cap - b->len)
		return jp__buf_append_slow(b, p, n);
	if (n)
		__builtin_memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}
int jp__buf_pad(jp__buf *b, size_t align); /* zero-fill len up to a multiple */
void *jp__buf_take(jp__buf *b);            /* hand the storage to the caller */
void jp__buf_free(jp__buf *b);

static inline size_t jp__align_up(size_t n, size_t a)
{
	return (n + a - 1) & ~(a - 1);
}

/* ---- fault.c: failures injected by the tests ---------------------------- */

enum jp__fault {
	JP__FAULT_FORK,  /* a worker's fork fails with EAGAIN */
	JP__FAULT_MMAP,  /* the master's map of a shared file fails with ENOMEM */
	JP__FAULT_GARBLED_RESULT, /* a worker garbles a result frame's records
				   * (armed in the master before the fork) */
	JP__FAULT_SEND_TO_DEAD, /* the master's next send finds its worker dead
				 * (killed just before, the write failed) */
	JP__FAULT_COUNT
};

/* Make the next `times` checks of f fail. */
void jp__fault_arm(enum jp__fault f, unsigned times);
/* Armed failures not consumed yet. */
unsigned jp__fault_left(enum jp__fault f);
/* Whether this attempt must fail (consumes one armed failure). Inline:
 * unarmed, as always outside the tests, it is one load on hot paths. */
extern unsigned jp__faults_armed[JP__FAULT_COUNT];
bool jp__fault_take(enum jp__fault f);
static inline bool jp__fault(enum jp__fault f)
{
	return __atomic_load_n(&jp__faults_armed[f], __ATOMIC_RELAXED) && jp__fault_take(f);
}

/* ---- digest.c: content digests (XXH3-128) ------------------------------ */

typedef struct jp__digest {
	uint64_t lo, hi;
} jp__digest;

typedef struct jp__hasher jp__hasher;

/* False when built without xxHash: then no digest may be relied on. */
bool jp__digest_enabled(void);
int jp__hasher_new(jp__hasher **h);
void jp__hasher_reset(jp__hasher *h);
void jp__hasher_update(jp__hasher *h, const void *data, size_t len);
jp__digest jp__hasher_digest(const jp__hasher *h);
void jp__hasher_free(jp__hasher *h);
jp__digest jp__digest_of(const void *data, size_t len);
/* One digest for a range hashed in parts (each part's digest, in order). */
jp__digest jp__digest_combine(const jp__digest *parts, size_t n, size_t total_len);
bool jp__digest_equal(const jp__digest *a, const jp__digest *b);

/* ---- array.c: how the library holds an array's bytes ------------------- */

enum jp__backing_kind {
	JP__BACK_HEAP = 1, /* malloc'd (posix_memalign): freed */
	JP__BACK_MAP,      /* a mapping of a file: unmapped */
	JP__BACK_POOL,     /* a file in a pool's folder: unlinked, workers told */
};

struct jp_backing {
	enum jp__backing_kind kind;
	void *base;      /* the block or the mapping */
	size_t len;      /* its length */
	char *path;      /* the file the bytes live in (JP__BACK_MAP), else NULL */
	size_t offset;   /* where the data starts in that file */
	bool writable;   /* the mapping is PROT_WRITE */
	bool private_map; /* MAP_PRIVATE: writes stay in this process */
	/* JP__BACK_POOL: the file's bytes are known to have this digest (a
	 * dump no process may write), so a later dump of equal bytes can take
	 * the file as it is once it is released */
	bool content_known;
	jp__digest digest;
	/* JP__BACK_POOL: some worker may map it MAP_PRIVATE (mmap_mode c),
	 * so its pages there can hold that worker's writes */
	bool mapped_private;

	/* JP__BACK_POOL: the pool whose folder holds the file (NULL once that
	 * pool closed), the id workers know it by, the pool's list of them */
	jp_pool *pool;
	uint64_t id;
	struct jp_backing *next, *prev;
};

/* Why `a` is malformed, for a caller's message ("ndim 40 is not in [0, 32]"),
 * written in why; 0 if it is not, -EINVAL if it is. */
int jp__array_check(const jp_array *a, char *why, size_t cap);

/* ---- options.c: jp_options parsed into what the pool uses ------------ */

enum jp__backend { JP__PROCESS, JP__SEQUENTIAL, JP__THREAD };
/* The master's I/O engine ($JOBPOOL_IO): auto is io_uring where it works. */
enum jp__io_choice { JP__IO_AUTO, JP__IO_POLL, JP__IO_URING };
enum jp__mmap_mode { JP__MMAP_R, JP__MMAP_RPLUS, JP__MMAP_WPLUS, JP__MMAP_C };

typedef struct jp__config {
	int n_jobs;             /* effective worker count, >= 1 */
	enum jp__backend backend;
	int64_t max_nbytes;     /* -1: memmapping disabled */
	char *temp_folder;      /* NULL: automatic */
	enum jp__mmap_mode mmap_mode;
	size_t batch_size;      /* 0: auto */
	size_t pre_dispatch;    /* batches in flight; SIZE_MAX: all */
	double timeout;         /* 0: none */
	int verbose;
	char *initializer;      /* NULL: none */
	enum jp__io_choice io;  /* from $JOBPOOL_IO */
	bool wait_active;       /* wait_policy "active" */
	double spin_s;          /* active: how long to poll before blocking */
	bool progress_bar;      /* a live progress line on a terminal's stderr */
	int retries;            /* reruns of a batch whose worker died */
	bool continue_on_error; /* on_error "continue": a failure cancels nothing */
	unsigned long max_tasks; /* per worker; 0: no limit */
	int64_t max_rss_growth; /* bytes; -1: no limit */
} jp__config;

int jp__config_parse(jp__config *cfg, const jp_options *opt, char *err, size_t errlen);
void jp__config_free(jp__config *cfg);
int jp__parse_bytes(const char *s, int64_t *out);
int jp__parse_batch_size(const char *s, size_t *out);
int jp__parse_pre_dispatch(const char *s, int n_jobs, size_t *out);

/* ---- ncpu.c: how many CPUs this process may use --------------------- */

/* The cgroup CPU quota (v2 cpu.max or v1 cfs quota) of the cgroup named in
 * `proc_cgroup` (the text of /proc/self/cgroup) under `sysfs_root`, rounded
 * up; 0 when there is none. Parameters exist so tests can fake both. */
int jp__cgroup_cpu_limit(const char *sysfs_root, const char *proc_cgroup);

/* ---- registry.c: the process-wide task table ------------------------ */

typedef struct jp__task_entry {
	const char *name;
	jp_task_fn fn;
	uint64_t version;    /* jp_task_register_version: part of cache keys */
} jp__task_entry;

const jp__task_entry *jp__task_lookup(const char *name, size_t len);

/* ---- task.c: the context a task runs in ------------------------------ */

enum jp__arg_kind {
	JP__ARG_I64 = 1,
	JP__ARG_F64,
	JP__ARG_BYTES,
	JP__ARG_ARRAY,  /* an array's bytes, inline */
	JP__ARG_LOCAL,  /* a pointer to an array in this very process */
	JP__ARG_SHARED, /* an array in a file, mapped by the receiver */
};

typedef struct jp__arg {
	uint32_t kind;
	const uint8_t *data; /* payload: the scalar, the bytes, or an array record */
	size_t len;
	void *mapped;        /* JP__ARG_SHARED: its data, once the receiver mapped it */
	bool ready;          /* ... mapped (mapped may be NULL for 0 bytes) */
	bool readonly;       /* ... without PROT_WRITE */
} jp__arg;

/* Where a shared array's bytes are: a file, an offset, and how to map it. */
typedef struct jp__shared_ref {
	uint64_t id;         /* unique in its pool: the receiver's cache key */
	uint64_t offset;     /* of the data in the file */
	uint64_t file_len;   /* bytes to map */
	uint32_t mode;       /* enum jp__mmap_mode */
	const char *path;
	char pathbuf[4096];  /* where a decoded path is kept */
} jp__shared_ref;

struct jp_task {
	const char *name;
	size_t begin, end;
	int slot;
	const jp__arg *args;
	size_t nargs;
	jp__buf *out;        /* the result frame being built */
	size_t result_off;   /* where the result starts in out, or SIZE_MAX */
	size_t result_len;
	bool failed;
	char errmsg[JP__ERRMSG_MAX];
};

/* ---- share.c: shared arrays, the master's side ----------------------- */

/* An id no other shared array of this process has had. */
uint64_t jp__share_next_id(void);
/* A new file in the pool's folder holding a (copy) or zeros of its size
 * (!copy); tries the next temp folder when one is full. With remember (no
 * process will write the file) its content is recognised by a later dump
 * of equal bytes once it is released, and taken as it is. */
int jp__share_dump(jp_pool *p, const jp_array *a, bool copy, bool remember, jp_backing **out);
/* Keep the file as a spare (the workers keep their mappings of it) or
 * unlink it (and tell the workers to unmap); unmap here, free. */
void jp__share_release(jp_backing *b);
/* How a backing is referred to on the wire, mapped with `mode`. */
void jp__share_ref(jp_backing *b, uint32_t mode, jp__shared_ref *ref);

/* ---- share.c: shared arrays, the worker's side ------------------------- */

typedef struct jp__mapping {
	uint64_t id;
	uint32_t mode;       /* enum jp__mmap_mode: one id may be mapped in two */
	void *base;
	size_t len;
	bool readonly;
} jp__mapping;

typedef struct jp__mapcache {
	jp__mapping *m;
	size_t n, cap;
} jp__mapcache;

/* Map (or find mapped) the file of a shared argument; its data pointer. */
int jp__map_shared(jp__mapcache *mc, const jp__shared_ref *ref, void **data, bool *readonly,
		   char *err, size_t errlen);
/* Unmap every mapping of that id. */
void jp__unmap_shared(jp__mapcache *mc, uint64_t id);
/* The read-only mapping holding addr, or NULL: async-signal-safe. */
const jp__mapping *jp__mapcache_find_readonly(const jp__mapcache *mc, const void *addr);
void jp__mapcache_free(jp__mapcache *mc);

/* ---- wire.c: the frame layout (the only place that knows it) -------- */

#include "wire.h"

/* ---- worker.c -------------------------------------------------------- */

/* Per-process state of a worker (or of the caller, for the sequential
 * backend): the current call's task table and shared arguments. */
typedef struct jp__runner {
	int slot;
	uint64_t call_id;
	const jp__task_entry **tasks; /* NULL entries: unknown in this process */
	char **task_names;
	uint32_t ntasks;
	jp__arg *args;      /* shared args, then the unit's */
	size_t nshared, args_cap;
	jp__mapcache maps;  /* shared arrays mapped here: kept across calls */
	bool go_on;         /* on_error "continue": a failure cancels nothing */
	bool tainted;       /* a task was cut short: this process must go */
} jp__runner;

/* Run one unit and append its result record to the RESULT frame that starts
 * at `frame` in `out`; `t` is the context it ran in. Returns 0, the unit's
 * failure (JP_ETASK, JP_ENOTASK), or another error for a broken frame. */
int jp__run_unit(jp__runner *r, const jp__unit *u, jp__buf *out, size_t frame, jp_task *t);
/* Run a BATCH's units into one RESULT frame appended to `out`; after a
 * failure the remaining units are recorded as cancelled. */
int jp__run_batch(jp__runner *r, uint64_t call_id, jp__iter *it, jp__buf *out);
int jp__runner_set_call(jp__runner *r, uint64_t call_id, const jp__call_header *ch);
void jp__runner_free(jp__runner *r);

/* Run the pool's initializer in this process; 0 or its failure, with the
 * message in msg. */
int jp__run_initializer(int slot, const char *name, char *msg, size_t cap);

/* Close the descriptors this process inherited marked close-on-exec,
 * but keep1 and keep2: what a forked helper of the library does first. */
void jp__close_inherited(int keep1, int keep2);

/* The worker process's entry point; never returns. spin_s > 0: the active
 * wait, polling for its next frame that long before blocking; with a lane
 * (lane.h), frames also come and go through it. */
struct jp__lane;
void jp__worker_main(int slot, int task_fd, int result_fd, pid_t master,
		     const char *initializer, int threads, double spin_s,
		     struct jp__lane *lane) __attribute__((noreturn));

/* Exit status a worker uses when its master sent a frame it cannot parse. */
#define JP__EXIT_BADFRAME 86

#endif
