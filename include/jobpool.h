/*
 * jobpool.h - joblib's model for C: a pool of persistent worker processes
 * that run registered tasks and send their results back in order.
 *
 * This is the one public header. Every function returns 0 (or a count) on
 * success and a negative error code on failure: -errno for system errors,
 * one of the JP_E* codes below for the library's own. jp_strerror() turns
 * a code into text; jp_pool_errmsg() gives the detail of the last failure.
 * Every function has a man page in section 3.
 */
#ifndef JOBPOOL_H
#define JOBPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define JP_API __attribute__((visibility("default")))
#define JP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define JP_API
#define JP_PRINTF(fmt, args)
#endif

#define JP_VERSION_MAJOR 0
#define JP_VERSION_MINOR 1
#define JP_VERSION_PATCH 0

/*
 * Library error codes. They sit below -10000, outside the errno range, so a
 * return value is either -errno or one of these. The list is append-only:
 * a value, once released, never changes meaning.
 */
enum jp_error {
	JP_ETASK = -10001,      /* a task reported failure (jp_task_fail) */
	JP_EWORKER = -10002,    /* a worker died while running a task */
	JP_ETIMEOUT = -10003,   /* a task ran past the pool's timeout */
	JP_EFRAME = -10004,     /* a malformed frame arrived on a pool pipe */
	JP_ENOTASK = -10005,    /* no task is registered under that name */
	JP_EOPTION = -10006,    /* an option has an invalid value */
	JP_ECANCELED = -10007,  /* an item was not run: the call failed first */
	JP_ENOTSUP = -10008,    /* valid, but not implemented by this build */
	JP_EINTR = -10009,      /* the call was interrupted by SIGINT */
};

/* Text for any code this library returns (-errno or JP_E*). Never NULL. */
JP_API const char *jp_strerror(int err);

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

/*
 * Pool options. Start from JP_OPTIONS_INIT and change what you need; the
 * string-valued options are parsed once, by jp_pool_open, which rejects a
 * bad value with JP_EOPTION and a message that quotes it. See
 * jp_options(3) for every field.
 */
typedef struct jp_options {
	int n_jobs;               /* workers: N > 0, -1 all CPUs, -2 all but one... */
	const char *backend;      /* "process" (alias "loky", "multiprocessing"), "threading"
				   * (alias "thread"), "sequential" */
	const char *max_nbytes;   /* arrays above this are memory-mapped: "1M"; NULL or "none" */
	const char *temp_folder;  /* where shared arrays live; NULL: automatic */
	const char *mmap_mode;    /* "r", "r+", "w+", "c" */
	const char *batch_size;   /* "auto" or a positive integer */
	const char *pre_dispatch; /* "all", an integer, or "k*n_jobs" */
	double timeout;           /* seconds per task; 0: none */
	int verbose;              /* 0 silent; higher prints more to stderr */
	const char *initializer;  /* registered task run once in each worker; NULL: none */
	const char *wait_policy;  /* "active": poll a while before blocking; "passive" */
	double spin_s;            /* active: the bound on polling, seconds; 0: default */
	int progress_bar;         /* nonzero: a live progress line on stderr, if a terminal */
	int retries;              /* reruns of a batch whose worker died; 0: none */
	const char *on_error;     /* "cancel" the rest of the call, or "continue" */
	long max_tasks_per_worker; /* replace a worker after this many tasks; 0: never */
	const char *max_rss_growth; /* replace a worker grown this much: "300M"; "none" */
} jp_options;

#define JP_OPTIONS_INIT                                                   \
	{                                                                 \
		.n_jobs = -1, .backend = "process", .max_nbytes = "1M",   \
		.temp_folder = NULL, .mmap_mode = "r", .batch_size = "auto", \
		.pre_dispatch = "2*n_jobs", .timeout = 0.0, .verbose = 0, \
		.initializer = NULL, .wait_policy = "active", .spin_s = 0.0, \
		.progress_bar = 0, .retries = 0, .on_error = "cancel",    \
		.max_tasks_per_worker = 0, .max_rss_growth = "300M"       \
	}

/*
 * The number of workers a pool opened with this n_jobs would have: the CPU
 * count for -1 (online CPUs, affinity mask and cgroup quota, capped by
 * $JOBPOOL_MAX_CPU_COUNT), max(ncpu + 1 + n_jobs, 1) below -1, n_jobs
 * itself when positive. 0 is an error (JP_EOPTION).
 */
JP_API int jp_effective_n_jobs(int n_jobs);

/* The number of CPUs this process may use, as jp_effective_n_jobs(-1). */
JP_API int jp_cpu_count(void);

/* ------------------------------------------------------------------ */
/* Arrays                                                              */
/* ------------------------------------------------------------------ */

typedef enum jp_dtype {
	JP_BOOL = 1,
	JP_INT8, JP_INT16, JP_INT32, JP_INT64,
	JP_UINT8, JP_UINT16, JP_UINT32, JP_UINT64,
	JP_FLOAT32, JP_FLOAT64,
	JP_COMPLEX64, JP_COMPLEX128,
} jp_dtype;

#define JP_MAX_NDIM 32

/* jp_array.flags */
#define JP_ARRAY_FORTRAN 0x1u  /* data in Fortran (column-major) order */
#define JP_ARRAY_READONLY 0x2u /* data must not be written (a read-only map) */
#define JP_ARRAY_SHARED 0x4u   /* data lives in a file that workers can map */

/* How the library holds an array's bytes; opaque. */
typedef struct jp_backing jp_backing;

/*
 * A dense array. An array the caller fills in itself has flags 0 and
 * backing NULL: the caller owns `data`. Arrays made by the library
 * (jp_load, jp_array_alloc_shared) have a backing and are given back with
 * jp_array_release.
 */
typedef struct jp_array {
	jp_dtype dtype;
	int ndim;
	size_t shape[JP_MAX_NDIM];
	void *data;
	unsigned flags;
	jp_backing *backing;
} jp_array;

/* Bytes per element of a dtype; 0 for an unknown dtype. */
JP_API size_t jp_dtype_size(jp_dtype dtype);

/* Bytes of an array's data (elements times element size); SIZE_MAX when
 * that overflows or the array is malformed. */
JP_API size_t jp_array_nbytes(const jp_array *a);

/*
 * Give back an array the library made (jp_load, jp_array_alloc_shared...):
 * free or unmap its data, free its backing, and zero *a. NULL, and arrays
 * whose backing is NULL (the caller owns their data), are left alone.
 */
JP_API void jp_array_release(jp_array *a);

/* ------------------------------------------------------------------ */
/* Dump and load                                                       */
/* ------------------------------------------------------------------ */

/*
 * Write an array to a NumPy .npy file (format 1.0, this host's byte order,
 * Fortran order when JP_ARRAY_FORTRAN is set, data at a 64-byte offset).
 * The file is written beside `path` under a temporary name and renamed
 * over it, so a reader sees the old file or the new one and a failed dump
 * leaves nothing. 0 or -errno; jp_npy_errmsg() says why.
 */
JP_API int jp_dump(const jp_array *array, const char *path);

/*
 * Load a .npy file (format 1.0, 2.0 or 3.0). mmap_mode NULL reads it into
 * memory; "r" maps it read-only, "r+" read-write and shared with the file,
 * "c" copy-on-write. Big-endian data is converted by NULL and "c", refused
 * by "r" and "r+" (JP_ENOTSUP). On success *array has a backing: give it
 * back with jp_array_release. -errno, -EINVAL for a malformed or truncated
 * file, -EOVERFLOW for a shape too large, JP_ENOTSUP for a dtype outside
 * jp_dtype; jp_npy_errmsg() says why.
 */
JP_API int jp_load(const char *path, const char *mmap_mode, jp_array *array);

/* The detail of this thread's last failed jp_dump or jp_load: which file,
 * which call, what in the header. Empty after a success. Never NULL. */
JP_API const char *jp_npy_errmsg(void);

/* ------------------------------------------------------------------ */
/* Tasks                                                               */
/* ------------------------------------------------------------------ */

/* What a running task sees: its arguments, its range, its result. */
typedef struct jp_task jp_task;

/* A task returns 0, or the value of jp_task_fail(). */
typedef int (*jp_task_fn)(jp_task *task);

/*
 * Register a task under a name. Workers are forked at jp_pool_open and
 * know the tasks registered by then; JP_TASK registers before main().
 * Returns -EEXIST when the name is taken by another function.
 */
JP_API int jp_task_register(const char *name, jp_task_fn fn);

/* Register `fn` under its own name before main() runs; write it as a
 * declaration, `JP_TASK(fn);`. */
#define JP_TASK(fn)                                                     \
	__attribute__((constructor)) static void jp_register_##fn(void) \
	{                                                               \
		(void)jp_task_register(#fn, fn);                        \
	}                                                               \
	_Static_assert(1, #fn)

/*
 * Register a task with a version, for result caches (jp_memory_open): a
 * cached result is used only by the version that computed it. Bump the
 * version whenever the task's code changes what it computes: it is C's
 * counterpart of joblib's check of a cached function's code. Tasks
 * registered with jp_task_register (or JP_TASK) have version 0. -EEXIST
 * when the name is taken by another function or another version.
 */
JP_API int jp_task_register_version(const char *name, jp_task_fn fn, uint64_t version);

/* JP_TASK with a version: `JP_TASK_VERSION(fn, 2);`. */
#define JP_TASK_VERSION(fn, version)                                        \
	__attribute__((constructor)) static void jp_register_##fn(void)     \
	{                                                                   \
		(void)jp_task_register_version(#fn, fn, (uint64_t)(version)); \
	}                                                                   \
	_Static_assert(1, #fn)

/* The task's name, as registered. */
JP_API const char *jp_task_name(const jp_task *task);

/*
 * The items this task runs: [begin, end). A task added to a call builder
 * runs one item; a map hands each task a batch of consecutive indices.
 */
JP_API size_t jp_task_begin(const jp_task *task);
JP_API size_t jp_task_end(const jp_task *task);

/* The worker's slot, 0..n_jobs-1: stable across calls and respawns. */
JP_API int jp_task_worker(const jp_task *task);

/* Number of arguments: the call's shared ones first, then the item's. */
JP_API size_t jp_task_nargs(const jp_task *task);

/* Read argument i; -EINVAL if out of range, -EPROTOTYPE if of another kind. */
JP_API int jp_task_arg_i64(const jp_task *task, size_t i, int64_t *value);
JP_API int jp_task_arg_f64(const jp_task *task, size_t i, double *value);
JP_API int jp_task_arg_bytes(const jp_task *task, size_t i, const void **data,
			     size_t *len);
JP_API int jp_task_arg_array(const jp_task *task, size_t i, jp_array *array);

/*
 * Space for the task's result, `len` bytes, 64-byte aligned and valid until
 * the task returns. Once per task run; NULL when out of memory or when
 * called twice.
 */
JP_API void *jp_task_result_alloc(jp_task *task, size_t len);

/* Copy `len` bytes as the task's result. 0 or -ENOMEM / -EALREADY. */
JP_API int jp_task_set_result(jp_task *task, const void *data, size_t len);

/*
 * Mark the task failed with a message; returns JP_ETASK so a task can end
 * with `return jp_task_fail(t, "row %zu is empty", i);`.
 */
JP_API int jp_task_fail(jp_task *task, const char *fmt, ...) JP_PRINTF(2, 3);

/* ------------------------------------------------------------------ */
/* Pools                                                               */
/* ------------------------------------------------------------------ */

typedef struct jp_pool jp_pool;

/*
 * Start a pool: fork its workers, run the initializer in each, and wait
 * until every one is ready. On failure *pool is NULL and
 * jp_pool_errmsg(NULL) says why.
 */
JP_API int jp_pool_open(jp_pool **pool, const jp_options *options);

/*
 * Stop the workers (end of input, then SIGTERM, then SIGKILL after a grace
 * period), reap them, and free the pool. NULL is accepted.
 */
JP_API void jp_pool_close(jp_pool *pool);

/*
 * For a signal handler or a program about to _exit(2): SIGKILL the pool's
 * workers and let the janitor remove its folders, with async-signal-safe
 * calls only. Nothing is freed and the pool must not be used again (not
 * even closed); the process is expected to end. NULL is accepted.
 */
JP_API void jp_pool_abandon(jp_pool *pool);

/* The detail of the pool's last error; with NULL, of this thread's last
 * failed jp_pool_open. Empty when there was none. */
JP_API const char *jp_pool_errmsg(const jp_pool *pool);

/* The pool's worker count: processes, or threads (1 for the sequential
 * backend, and for a pool opened inside a pool worker; see jp_pool_open(3));
 * -EINVAL for NULL. */
JP_API int jp_pool_n_jobs(const jp_pool *pool);

/* PID of the worker in `slot`; the caller's PID for the sequential and
 * thread backends; -EINVAL for a bad slot, -ESRCH for a slot left empty by
 * a failed respawn. */
JP_API int jp_pool_worker_pid(const jp_pool *pool, int slot);

/* Total workers started since open, respawns included (threads, for the
 * thread backend). */
JP_API unsigned long jp_pool_spawn_count(const jp_pool *pool);

/* The master's I/O engine: "io_uring" or "poll" ($JOBPOOL_IO, and what the
 * kernel allows), "none" for a pool without worker processes; NULL for
 * NULL. */
JP_API const char *jp_pool_io_engine(const jp_pool *pool);

/* ------------------------------------------------------------------ */
/* Shared arrays                                                       */
/* ------------------------------------------------------------------ */

/*
 * Arrays whose bytes live in a file in the pool's temp folder, mapped by
 * the caller and by every worker that uses them: passing one to any call
 * copies nothing. Give them back with jp_array_release. With the
 * sequential backend they are plain memory.
 */

/* A new zero-filled shared array of that dtype and shape. */
JP_API int jp_array_alloc_shared(jp_pool *pool, jp_dtype dtype, int ndim,
				 const size_t *shape, jp_array *array);

/*
 * A shared copy of `src`, dumped once: later calls that pass `shared` reuse
 * the file. It is a copy: later changes to `src` are not seen (share it
 * again to publish them); changes written into `shared` are seen by the
 * workers at once, since they map the same pages.
 */
JP_API int jp_share(jp_pool *pool, const jp_array *src, jp_array *shared);

/* The pool's private folder for shared arrays; NULL before the first one
 * is made, or for the sequential backend. */
JP_API const char *jp_pool_temp_folder(const jp_pool *pool);

/* ------------------------------------------------------------------ */
/* Built-in products                                                   */
/* ------------------------------------------------------------------ */

/*
 * C = A·B for 2-d C-order arrays of one dtype: int32, int64, float32 or
 * float64 (no promotion; integer products wrap around modulo 2^bits, as
 * NumPy's). The work is split into row blocks of A, about four per worker.
 * C either has data of the right dtype and shape m x n, or data NULL: then
 * it is made shared (jp_array_alloc_shared) and the workers write into it
 * in place; give it back with jp_array_release. A shared C is always
 * written in place; any other C gets its rows back over the pipes. With the
 * sequential backend the kernel runs in the caller.
 */
JP_API int jp_matmul(jp_pool *pool, const jp_array *a, const jp_array *b, jp_array *c);

/* The dot product of two 1-d float32 or float64 arrays of one length,
 * summed in float64 by chunks on the workers, reduced in order here. */
JP_API int jp_dot(jp_pool *pool, const jp_array *a, const jp_array *b, double *result);

/* The same for int32 or int64 arrays, exact (int64 products and sums wrap
 * around modulo 2^64, as NumPy's). */
JP_API int jp_dot_int(jp_pool *pool, const jp_array *a, const jp_array *b, int64_t *result);

/* ------------------------------------------------------------------ */
/* Calls                                                               */
/* ------------------------------------------------------------------ */

typedef struct jp_call jp_call;

/*
 * A call builder: add items (each a task and its arguments), run, read
 * results in submission order. Arguments added before the first item are
 * shared by every item.
 */
JP_API int jp_call_new(jp_call **call, jp_pool *pool);

/*
 * A map of one task over [0, n): the scheduler hands each task run a batch
 * [begin, end); arguments added with jp_call_arg_* are shared by all.
 * The results are the task runs' results concatenated in index order.
 */
JP_API int jp_map_new(jp_call **call, jp_pool *pool, const char *task, size_t n);

/* Start a new item running `task`; returns its index or a negative code. */
JP_API long jp_call_add(jp_call *call, const char *task);

/* Append an argument (copied) to the last item, or to the shared ones. */
JP_API int jp_call_arg_i64(jp_call *call, int64_t value);
JP_API int jp_call_arg_f64(jp_call *call, double value);
JP_API int jp_call_arg_bytes(jp_call *call, const void *data, size_t len);
JP_API int jp_call_arg_array(jp_call *call, const jp_array *array);

/*
 * Run every item on the pool and wait for all of them. Returns 0, or the
 * first failure: JP_ETASK, JP_EWORKER, JP_ENOTASK... Items not started
 * when a failure is seen are cancelled; completed results stay readable.
 * A call may be run again; its previous results are dropped.
 */
JP_API int jp_call_run(jp_call *call);

/* Number of items (for a map: n). */
JP_API size_t jp_call_size(const jp_call *call);

/*
 * Result of item i of a builder call: 0 and the bytes (owned by the call,
 * valid until jp_call_free or the next run), or the item's error:
 * JP_ETASK, JP_ENOTASK, JP_EWORKER, JP_ECANCELED; -EINVAL for a bad index
 * or a map, -EAGAIN before the call has run.
 */
JP_API int jp_call_result(const jp_call *call, size_t i, const void **data,
			  size_t *len);

/*
 * All results concatenated in index order (maps and builder calls), owned
 * by the call. -EAGAIN if the call has not run, or its error if it failed.
 */
JP_API int jp_call_output(jp_call *call, const void **data, size_t *len);

/* ---- items made on demand ---------------------------------------- */

/*
 * Produce item `index` of a builder call: add it with jp_call_add and its
 * arguments, and return 0; return 1 when there are no more items (nothing
 * added), or a negative code to fail the call. Called in the calling
 * thread, during the run, only as far ahead as dispatch needs (batch size
 * times n_jobs items at most), so a call over 10^8 items never holds them
 * all.
 */
typedef int (*jp_item_fn)(jp_call *call, size_t index, void *ctx);

/* Make the items of a builder call (one with no item yet) on demand. */
JP_API int jp_call_generate(jp_call *call, jp_item_fn make_item, void *ctx);

/* ---- results as they come ---------------------------------------- */

/* jp_call_start / jp_call_stream: in submission order, or as completed. */
#define JP_ORDERED 0
#define JP_UNORDERED 1

/*
 * One result of a stream: items [index, index + count) (a builder's item,
 * count 1, or a map's batch) and their bytes, which stay valid until the
 * next jp_call_next, jp_call_stop or jp_call_free.
 */
typedef struct jp_result {
	size_t index;
	size_t count;
	const void *data;
	size_t len;
} jp_result;

/*
 * Start running a call whose results are then taken one by one with
 * jp_call_next, in `order`. The pool runs this call alone until the stream
 * ends, jp_call_stop or jp_call_free. 0, or -EBUSY / -EINVAL / -ECHILD.
 */
JP_API int jp_call_start(jp_call *call, int order);

/*
 * The next result: 1 and *result; 0 when every result was delivered; or
 * the call's failure (as jp_call_run's, jp_call_error tells which item),
 * after which nothing more comes. Results delivered are not kept: memory
 * stays bounded by what is in flight.
 */
JP_API int jp_call_next(jp_call *call, jp_result *result);

/*
 * End a stream early: nothing more is dispatched, batches already on the
 * workers are awaited and dropped, and the pool is free again. Safe to call
 * on a call that is not streaming.
 */
JP_API void jp_call_stop(jp_call *call);

/* A stream's consumer as a callback: 0 to go on, nonzero to stop (it is
 * then what jp_call_stream returns). */
typedef int (*jp_result_fn)(const jp_result *result, void *ctx);

/* Run the call, handing each result to `fn` as it becomes available, in
 * `order`. 0, the call's failure, or fn's nonzero value. */
JP_API int jp_call_stream(jp_call *call, int order, jp_result_fn fn, void *ctx);

/*
 * Called in the calling thread after each batch completes (and once at the
 * start), for every backend, the sequential one included: items done and
 * items in all (0 while a generator has not reached its end).
 */
typedef void (*jp_progress_fn)(size_t done, size_t total, void *ctx);
JP_API int jp_call_set_progress(jp_call *call, jp_progress_fn fn, void *ctx);

/*
 * The call's error: 0 if it succeeded; otherwise the code, and (if not
 * NULL) the index of the failing item and the message, owned by the call.
 */
JP_API int jp_call_error(const jp_call *call, size_t *index,
			 const char **message);

/* Free a call and its results. NULL is accepted. */
JP_API void jp_call_free(jp_call *call);

/* ------------------------------------------------------------------ */
/* Result cache (joblib's Memory)                                      */
/* ------------------------------------------------------------------ */

/*
 * A cache of task results in a directory that persists between runs: a
 * call given one (jp_call_set_memory) dispatches only the items whose
 * results it does not hold, and takes the others from disk. An item's key
 * is its task's name and version (jp_task_register_version) and an XXH3-128
 * hash of its arguments, the call's shared ones included: scalars and
 * bytes by value, arrays by dtype, shape, order and content. See
 * jp_memory_open(3).
 */
typedef struct jp_memory jp_memory;

typedef struct jp_memory_options {
	const char *bytes_limit;   /* keep entries under this many bytes, evicting the
				    * least recently used: "1G"; NULL or "none": no limit */
	const char *on_unwritable; /* the directory cannot be made or written: "fail"
				    * (jp_memory_open fails) or "compute" (calls compute
				    * and store nothing) */
	int verbose;               /* 0 silent; 1 corrupt entries, failed stores and
				    * evictions on stderr; 2 also each call's hits */
} jp_memory_options;

#define JP_MEMORY_OPTIONS_INIT \
	{ .bytes_limit = NULL, .on_unwritable = "fail", .verbose = 0 }

/*
 * Open (making it, and its parents, if needed) the cache in directory
 * `dir`; options NULL means JP_MEMORY_OPTIONS_INIT. On failure *mem is
 * NULL and jp_memory_errmsg(NULL) names the directory and the error.
 */
JP_API int jp_memory_open(jp_memory **mem, const char *dir, const jp_memory_options *options);

/* Close the cache; its entries stay on disk. Results already taken from
 * it stay valid until their calls are freed. NULL is accepted. */
JP_API void jp_memory_close(jp_memory *mem);

/* The detail of the cache's last error (or failed store); with NULL, of
 * this thread's last failed jp_memory_open. Empty when there was none. */
JP_API const char *jp_memory_errmsg(const jp_memory *mem);

/* Remove every entry (and leftover temporary file) of the cache. */
JP_API int jp_memory_clear(jp_memory *mem);

/* Remove the entries of one task, whatever their version. */
JP_API int jp_memory_clear_task(jp_memory *mem, const char *task);

/* What the cache did since it was opened. */
typedef struct jp_memory_stats {
	uint64_t hits;          /* items (or maps) whose result came from disk */
	uint64_t misses;        /* ... that were computed */
	uint64_t stored;        /* entries written */
	uint64_t store_failures; /* results that could not be stored */
	uint64_t corrupt;       /* entries found corrupt or truncated, recomputed */
	uint64_t evicted;       /* entries removed to stay under bytes_limit */
	uint64_t hashed_bytes;  /* argument bytes hashed into keys */
} jp_memory_stats;

JP_API int jp_memory_stats_get(const jp_memory *mem, jp_memory_stats *stats);

/*
 * Give a call a cache (NULL: none), before any argument or item is added:
 * arguments are hashed as they are added. Builder calls are cached item
 * by item; a map as a whole (its task, version, n and shared arguments).
 * Streams (jp_call_start, jp_call_stream) and generators
 * (jp_call_generate) are not cached in this version: they refuse with
 * JP_ENOTSUP. A cached task's result must depend only on its arguments,
 * not on its index or its worker.
 */
JP_API int jp_call_set_memory(jp_call *call, jp_memory *mem);

#ifdef __cplusplus
}
#endif

#endif /* JOBPOOL_H */
