/*
 * status.h - the status page: a small file each open pool keeps mapped and
 * updates as it works, so that jobpool-inspect (or anything of the same
 * user) can see the pool without talking to it. This header is the layout,
 * shared by the library that writes pages (status.c) and the tool that
 * reads them; the hooks the pool calls are in pool.h.
 *
 * Where: one page per pool, "<dir>/<master pid>-<pool id>", dir being
 * $JOBPOOL_STATUS_DIR if set, else /dev/shm/jobpool-status-<uid> (tmpfs:
 * updates never reach a disk), else /tmp/jobpool-status-<uid>. The folder
 * is 0700 and must be ours, the page 0600, created O_EXCL | O_NOFOLLOW.
 *
 * Layout: a head written once before its magic is stored, then sections
 * each guarded by its own sequence counter (a seqlock): the writer makes it
 * odd, stores, makes it even; a reader copies the section between two
 * loads of the counter and retries unless both are the same even value.
 * Sections are independent: a reader sees each consistent, not all of them
 * at one instant. The pool section, the shared section, then one worker
 * record per slot (one for a sequential pool, its master).
 *
 * All fields are in host byte order; times named *_mono are
 * CLOCK_MONOTONIC seconds, comparable across processes of one boot.
 */
#ifndef JOBPOOL_STATUS_H
#define JOBPOOL_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JP__STATUS_MAGIC 0x5355544154534a50ull /* "JPSTATUS" */
#define JP__STATUS_VERSION 1

#define JP__STATUS_NAME 64      /* task names, engine... (with the NUL) */
#define JP__STATUS_PATH 256     /* folders and files (longer: truncated, flagged) */
#define JP__STATUS_TASKS 32     /* task names of the current call */
#define JP__STATUS_ARRAYS 64    /* shared arrays listed (all are counted) */
#define JP__STATUS_FOLDERS 4    /* the pool's private temp folders */
#define JP__STATUS_DIMS 8       /* dimensions listed per array */

enum jp__status_backend { JP__STATUS_PROCESS = 1, JP__STATUS_SEQUENTIAL = 2 };
enum jp__status_pool_state { JP__POOL_OPENING = 1, JP__POOL_OPEN, JP__POOL_CLOSING };
enum jp__wstate { JP__WS_STARTING = 1, JP__WS_IDLE, JP__WS_BUSY, JP__WS_DEAD };

/* Written once, before `magic`: a reader that sees the magic sees it all. */
typedef struct jp__page_head {
	uint64_t magic;
	uint32_t version;
	uint32_t head_size, pool_size, shared_size, worker_size; /* layout check */
	uint32_t nworkers;       /* worker records */
	uint32_t backend;        /* enum jp__status_backend */
	int32_t pid;             /* the master */
	uint32_t uid;
	uint64_t pool_id;        /* the second half of the page's name */
	uint64_t start_ticks;    /* the master's start time (/proc/PID/stat field
				  * 22): a live process of that PID and another
				  * start time is not the master */
	double start_wall;       /* CLOCK_REALTIME at open */
	double start_mono;
	char comm[16];           /* the master's command name */
	/* options in effect */
	int32_t n_jobs;
	int32_t verbose;
	int64_t max_nbytes;      /* -1: memmapping disabled */
	uint64_t batch_size;     /* 0: auto */
	uint64_t pre_dispatch;   /* batches in flight; UINT64_MAX: all */
	double timeout;          /* 0: none */
	char mmap_mode[4];
	char initializer[JP__STATUS_NAME];
	char temp_root[JP__STATUS_PATH]; /* the first temp folder candidate */
} jp__page_head;

/* The pool and its current (or last) call; updated per batch. */
typedef struct jp__page_pool {
	uint32_t seq;
	uint32_t state;          /* enum jp__status_pool_state */
	int32_t janitor;         /* its PID, 0: none */
	uint32_t call_active;
	char engine[16];         /* the master's I/O engine; "none" if sequential */
	uint64_t calls_done;
	uint64_t call_id;
	uint64_t done, total;    /* items; total 0 while a generator runs */
	uint32_t total_known;
	uint32_t ntasks;         /* task names listed below */
	uint64_t batches_done;
	uint64_t batch_size;     /* the size dispatched last */
	double call_start_mono, call_end_mono; /* end 0 while it runs */
	char tasks[JP__STATUS_TASKS][JP__STATUS_NAME];
} jp__page_pool;

typedef struct jp__page_array {
	uint64_t id;             /* 0: the entry is free */
	uint64_t nbytes;
	int32_t dtype;           /* jp_dtype */
	int32_t ndim;
	uint64_t shape[JP__STATUS_DIMS];
	char path[JP__STATUS_PATH];
} jp__page_array;

/* The pool's folders and the arrays in them; updated when they change. */
typedef struct jp__page_shared {
	uint32_t seq;
	uint32_t nfolders;
	uint32_t cur;            /* the folder dumps go to first */
	uint32_t unlisted;       /* live arrays the table had no room for */
	uint64_t live, live_bytes;     /* every live array */
	uint64_t spares, spare_bytes;  /* released files kept for reuse */
	char folders[JP__STATUS_FOLDERS][JP__STATUS_PATH];
	jp__page_array arrays[JP__STATUS_ARRAYS];
} jp__page_shared;

typedef struct jp__page_worker {
	uint32_t seq;
	uint32_t state;          /* enum jp__wstate; 0 never started */
	int32_t pid;             /* the last one in this slot */
	uint32_t spawns;         /* respawns = spawns - 1 */
	uint32_t task;           /* busy: index in the pool section's tasks */
	uint32_t queued;         /* batches sent and not answered */
	uint64_t call_id;        /* the call `task` belongs to */
	uint64_t item, count;    /* busy: the batch is items [item, item + count) */
	uint64_t tasks_done, batches_done;
	double busy_s;           /* run time of its finished batches */
	double busy_since_mono;  /* busy: when its current batch started */
} jp__page_worker;

/* Offsets of the sections. */
static inline size_t jp__status_pool_off(void)
{
	return (sizeof(jp__page_head) + 63) & ~(size_t)63;
}
static inline size_t jp__status_shared_off(void)
{
	return (jp__status_pool_off() + sizeof(jp__page_pool) + 63) & ~(size_t)63;
}
static inline size_t jp__status_workers_off(void)
{
	return (jp__status_shared_off() + sizeof(jp__page_shared) + 63) & ~(size_t)63;
}
static inline size_t jp__status_size(uint32_t nworkers)
{
	return jp__status_workers_off() + (size_t)nworkers * sizeof(jp__page_worker);
}

/* ---- the seqlock ------------------------------------------------------ */

/* One writer per page: the thread running the pool. Plain stores between
 * these two; on x86 both are compiler barriers only. */
static inline void jp__seq_begin(uint32_t *seq)
{
	uint32_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);
	__atomic_store_n(seq, s + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE); /* odd before the data */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void jp__seq_end(uint32_t *seq)
{
	uint32_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);
	__atomic_store_n(seq, s + 1, __ATOMIC_RELEASE); /* the data before even */
}

/* ---- reading pages (jobpool-inspect, tests) ------------------------------ */

/* The folder pages live in (see above); -ENAMETOOLONG if it does not fit. */
int jp__status_dir(char *buf, size_t cap);

/* A copy of a page, each section consistent. */
typedef struct jp__status_view {
	char name[64];           /* "<pid>-<pool id>" */
	jp__page_head head;
	jp__page_pool pool;
	jp__page_shared shared;
	jp__page_worker *workers; /* head.nworkers of them; malloc'd */
	bool torn;               /* a section stayed odd: its writer died writing */
} jp__status_view;

/*
 * Read the page `name` in the folder open as dirfd: refused unless it is a
 * regular file of ours (-EPERM), of a known layout (-EPROTO), complete
 * (-EAGAIN while the pool is opening). Retries a section while its writer
 * is in it; a section that stays odd for 50 ms (its writer died mid-store)
 * is taken as it is, with torn set.
 */
int jp__status_read(int dirfd, const char *name, jp__status_view *v, char *err, size_t cap);
void jp__status_view_free(jp__status_view *v);

/* What /proc/PID/stat says of a process (times in clock ticks). */
typedef struct jp__proc_stat {
	char comm[16];
	char state;              /* R, S, D, Z... */
	int ppid;
	uint64_t utime, stime;   /* CPU time in user and kernel mode */
	uint64_t start_ticks;    /* after boot */
	uint64_t rss_pages;
} jp__proc_stat;

/* 0, or -errno (-ENOENT: no such process). */
int jp__proc_stat_read(int pid, jp__proc_stat *st);

/* Whether the master of a page is alive: 1 alive, 0 dead (no such process,
 * or a process of another start time has its PID), -errno if unknown. */
int jp__status_master_alive(const jp__page_head *h);

/* Text for the enums. */
const char *jp__wstate_name(uint32_t state);
const char *jp__dtype_name(int32_t dtype);

#endif
