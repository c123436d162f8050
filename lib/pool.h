/*
 * pool.h - the pool object, its worker table, and the call object, shared
 * by pool.c (lifetime of workers), call.c (building calls, keeping results)
 * and sched.c (running a call on the workers).
 */
#ifndef JOBPOOL_POOL_H
#define JOBPOOL_POOL_H

#include "internal.h"
#include "bufcache.h"
#include "ioloop.h"

/* A batch in flight: the result slots it fills, the items it covers, and
 * when it was sent. */
typedef struct jp__inflight {
	size_t seq_first, nseq;
	size_t items;
	double sent;
	size_t first;        /* its first item */
	int attempts;        /* earlier runs cut short by a dying worker */
	uint8_t *frame;      /* a copy of its BATCH frame, to send again (retries,
	                      * on_error "continue"); NULL otherwise */
	size_t frame_len;
} jp__inflight;

typedef struct jp__worker {
	pid_t pid;           /* 0: the slot is empty (its respawn failed) */
	char who[48];        /* "worker 1 (pid 4242)", for messages: made once */
	uint32_t generation; /* bumped at each respawn: stale I/O events are dropped */
	int task_fd;         /* master's end of the task socket: CALL, BATCH out */
	int result_fd;       /* master's end of the result pipe: HELLO, RESULT in */

	/* Output: a write in flight uses `sending`; frames produced meanwhile
	 * go to `queued`, so a buffer the engine writes from never moves. */
	jp__buf sending, queued;
	bool write_busy;
	bool wake_owed;      /* a NOP waits in `queued` for the socket (lane.c) */
	bool send_failed;    /* a send to it failed (EPIPE): it was gone before */
	uint64_t call_sent;  /* the call whose CALL frame this worker has */
	uint64_t call_gen;   /* ... and that frame's kind: see jp_pool's callf_gen */

	/* Input: frames kept at the 64-byte aligned front of `in`. */
	jp__buf in;
	bool read_busy;
	uint64_t pipe_in;    /* bytes read from the result pipe since HELLO:
			      * the lane's chunks are ordered by it */

	/* Batches sent and not answered, oldest first: a worker answers in
	 * order, so the head is the one it is running. */
	jp__inflight *inflight;
	size_t inflight_head, inflight_n, inflight_cap;

	unsigned long tasks_done;
	double last_done;    /* when its last result arrived: its next batch's start */

	/* This process's life: recycling and the respawn throttle. */
	double spawned_at;
	unsigned long tasks_since_spawn, items_inflight;
	bool retiring;       /* gets no more batches; replaced once idle */
	size_t rss_base;     /* bytes, after its first batch; 0: not measured */
	double rss_checked;
	unsigned quick_deaths; /* deaths in a row within a second of starting */
	double respawn_after;  /* the slot stays empty until then */
} jp__worker;

/* Where the pool's shared arrays live. */
typedef struct jp__share_state {
	char **candidates;   /* temp folders, in the order they are tried */
	char **folders;      /* our private folder in each, made on first use */
	size_t ncand;
	size_t cur;          /* the candidate dumps go to first */
	jp_backing *live;    /* arrays whose files are in our folders */
	struct jp__spare {   /* released files kept, pages and all, for reuse */
		char *path;
		size_t len;
		bool known;      /* its bytes have this digest */
		jp__digest digest;
		uint64_t stamp;  /* when it was released, on spare_clock */
		uint64_t id;     /* the id workers still map it by; 0: none */
	} *spares;
	size_t nspares, spare_bytes;
	uint64_t spare_clock;
	unsigned long dumps_recognised; /* dumps that found their bytes in a spare */
	pid_t janitor;       /* removes the folders if this process dies */
	int janitor_fd;      /* its pipe: folder names in, end of file ends it */
} jp__share_state;

struct jp_pool {
	jp__config cfg;
	int n_workers;       /* worker processes: 0 for the sequential and thread backends */
	jp__worker *workers;
	struct jp__lane *lanes; /* one per worker with the active wait, else NULL */
	bool spin_yields;       /* see JP__SPIN_LOOKS: for the master and the lanes */
	double last_batch_s;    /* the run time of the last batch returned: see
				 * sched.c's master_spin_s */
	jp__buf lane_in;     /* a chunk taken from a lane */
	/* A call's CALL frame, batch and inline output buffers, kept for the
	 * next call (a nested call makes its own): see sched.c's lend_buf */
	jp__buf kept_callf, kept_batch, kept_out;
	/* The last CALL frame that differed from the one before it but for
	 * the id, and a count of such frames: a worker that holds a frame of
	 * the current kind gets its batches renumbered, not the frame again
	 * (sched.c's queue_frame). */
	jp__buf last_callf;
	uint64_t callf_gen;
	jp__bufcache big_bufs; /* large frames and outputs of calls freed */
	/* ... and a sequential pool's runner, its task table with it */
	jp__runner kept_runner;
	bool runner_kept;
	/* A call freed whole, kept for the pool's next jp_call_new with its
	 * slot, block and name arrays (call.c's keep_call): NULL when none. */
	jp_call *kept_call;
	struct jp__threads *threads; /* the thread backend's threads, or NULL */
	int depth;           /* pool workers the opening thread ran inside */
	jp__io *io;
	pid_t owner;         /* the process that opened it */
	uint64_t last_call_id;
	unsigned long spawned;
	bool busy;           /* a call is running (set atomically) */
	/* auto batching: the size each recent map's task ended with, where
	 * its next call starts (joblib starts every call at 1) */
	struct jp__learned {
		char task[64];
		size_t bs;
		double run_item_s;
	} learned[8];
	unsigned learned_next;
	struct jp__learned *learned_hit; /* the entry found last, or NULL */
	jp__share_state share;
	uint64_t id;         /* this process's count of pools: the status page's name */
	struct jp__status *status; /* the status page (status.c); NULL: none */
	struct jp__trace *trace;   /* $JOBPOOL_TRACE (trace.c); NULL: off */
	char errmsg[JP__ERRMSG_MAX];
};

/* Start (or restart) the worker in `slot` and wait for its HELLO. */
int jp__worker_spawn(jp_pool *p, int slot);
/* Reap a worker whose pipe closed: its exit described in words into
 * `how` ("by SIGSEGV", "with exit status 3"); fds closed, slot emptied. */
void jp__worker_reap(jp_pool *p, int slot, char *how, size_t cap);
void jp__pool_set_error(jp_pool *p, const char *fmt, ...) JP_PRINTF(2, 3);

/* A shared 2-d array whose contents are undefined: an output the workers
 * overwrite whole (jp_matmul's C), which may take a spare file's pages
 * without zeroing them. */
int jp__share_alloc_output(jp_pool *p, jp_dtype dtype, size_t rows, size_t cols, jp_array *out);

/* jp_matmul's rows per block for an m x k by k x n product on n_jobs
 * workers: about four blocks per worker, fewer when the product is small. */
size_t jp__matmul_block_rows(int n_jobs, size_t m, size_t n, size_t k);

/* share.c: the temp folders, at open and at close. */
int jp__share_setup(jp_pool *p);
void jp__share_teardown(jp_pool *p);

/* janitor.c: a small process that removes the pool's folders once the
 * master is gone, however it went. */
int jp__janitor_start(jp_pool *p);
int jp__janitor_watch(jp_pool *p, const char *dir);
/* Remove a folder of ours and the files in it (it has no subfolders). */
void jp__remove_folder(const char *dir);
void jp__janitor_stop(jp_pool *p);

/* sched.c: tell every live worker to unmap these shared arrays. */
void jp__sched_release(jp_pool *p, const uint64_t *ids, uint32_t n);

/* ---- calls -------------------------------------------------------- */

/* A frame of results, kept while a slot points into it. A block is a
 * region of one of two sizes: a frame that fits is copied into it, after
 * JP__BLOCK_HDR bytes (so it stays 64-byte aligned), a larger one has
 * storage of its own. The small size holds a frame of one result of up to
 * 64 bytes, the large one a few: a single size of 256 bytes made 20,000
 * one-item batches 9 % slower than 192 (the call holds every block). The
 * call keeps blocks freed for its next frames (call.c, new_block). */
#define JP__BLOCK_HDR 64u
#define JP__BLOCK_SMALL 192u
#define JP__BLOCK_LARGE 1024u
#define JP__BLOCK_FRAME_MAX (JP__BLOCK_LARGE - JP__BLOCK_HDR)
typedef struct jp__block {
	void *frame;         /* in the block, or its own storage; a spare: the next spare */
	size_t cap;          /* the storage's bytes, when it is its own */
	size_t refs;         /* streams: its slots not handed out yet */
	int large;           /* a region of JP__BLOCK_LARGE bytes, else JP__BLOCK_SMALL */
} jp__block;

typedef struct jp__slot {
	int32_t status;      /* 0, a failure, or JP__PENDING */
	uint32_t task;       /* index in the call's names */
	const uint8_t *data;
	size_t len;
	size_t begin, end;   /* the items it covers */
	jp__block *block;    /* the frame data points into */
	bool delivered;      /* streams: handed out */
} jp__slot;

#define JP__PENDING 1

/* How results reach the caller. */
enum jp__delivery {
	JP__COLLECT,   /* kept, in order, until the call is freed (jp_call_run) */
	JP__ORDERED,   /* streamed in submission order */
	JP__UNORDERED, /* streamed as completed */
};

/* A call while it runs (sched.c): what is dispatched, what came back, what
 * was handed out. Kept in the call so a stream can resume it. */
typedef struct jp__run {
	bool active;         /* started and not yet ended */
	bool ended;          /* the run is over: results, if any, are final */
	enum jp__delivery mode;
	uint64_t call_id;
	jp__buf callf;       /* the CALL frame */
	uint32_t ntasks_sent; /* task names in it */
	size_t inflight;     /* batches on the workers */
	int rr;              /* where the search for the least loaded worker starts */
	size_t next;         /* first item not dispatched */
	size_t seq;          /* a map's next batch number */
	size_t bs_fixed;     /* the batch size asked for; 0: auto */
	size_t bs;           /* auto: the size being tried */
	size_t final_bs;     /* auto: the smaller size of the last batches */
	double smoothed;     /* auto: smoothed run time of batches of size bs */
	double item_s;       /* auto: smoothed run time of one item */
	uint64_t callf_gen;  /* the kind of this call's CALL frame */
	double run_item_s;   /* ... as the workers timed it, without the round
			      * trip (0: not known): see sched.c's ONE_BATCH_S */
	size_t done;         /* items completed */
	size_t batches_done;
	size_t deliver;      /* streams: every seq below it was handed out */
	size_t *ready;       /* unordered: seqs ready to hand out, first in first out */
	size_t ready_head, nready, ready_cap;
	jp__slot *held;      /* streams: the slot last handed out */
	size_t shown_done;   /* verbose: items done at the last line */
	double t0, last_shown;
	bool bar_drawn;
	jp__runner runner;   /* the sequential backend runs batches here */
	bool runner_set;
	jp__buf batch, out;  /* ... in these buffers */
	bool keep_frames;    /* batches may be sent again: their frames are kept */
	jp__inflight *requeue; /* batches to send again, oldest first */
	size_t nrequeue, requeue_cap;
	unsigned long sigints; /* SIGINTs seen when the run started */
	bool interrupted;
	bool sigint_caught;  /* this run installed the SIGINT handler */
	bool sigint_watched; /* a read is posted on the SIGINT pipe */
	char sigint_byte;
} jp__run;

typedef struct jp__item {
	uint32_t task;
	uint32_t nargs;
	size_t off, len;     /* its arguments in item_args */
} jp__item;

/* An array this call dumped into the pool's folder. */
typedef struct jp__call_dump {
	const void *src;     /* the caller's data it was dumped from */
	size_t nbytes;
	jp_backing *b;
	bool copy_back;      /* r+ and w+: workers' writes are copied back */
} jp__call_dump;

struct jp_call {
	jp_pool *pool;
	bool is_map;
	size_t n;            /* items: a map's range, or the builder's count */

	char **names;        /* task names, in order of first use */
	uint32_t ntasks;
	uint32_t names_held; /* names[0, names_held) are allocated: a kept
			      * call's, beyond ntasks, serve again */
	jp__buf shared;      /* arguments shared by every item */
	uint32_t nshared;
	jp__item *items;     /* builder calls: items [item_base, n) */
	size_t items_cap, item_base;
	jp__buf item_args;
	jp_item_fn make_item; /* items made on demand */
	bool making;         /* make_item is running: it may add an item */
	void *make_ctx;
	bool made_all;       /* make_item said there are no more */
	jp_progress_fn progress;
	void *progress_ctx;

	/* Results, indexed by seq: a builder's item, a map's batch; a stream
	 * keeps only slots [slot_base, nslots). */
	jp__slot *slots;
	size_t slot_base, nslots, slots_cap;
	jp__block **blocks;  /* the frames the slots point into (collected calls) */
	size_t nblocks, blocks_cap;
	jp__block *free_blocks[2]; /* blocks freed, for the next frames: small, large */
	size_t nfree_blocks[2];
	jp__run run;
	jp__buf output;
	bool output_ready, ran;

	int err;
	size_t err_index;
	char errmsg[JP__ERRMSG_MAX];

	size_t batch_size;     /* 0: the pool's batch_size */

	jp__call_dump *dumps;  /* freed with the call */
	size_t ndumps;
	uint64_t *mapped_ids;  /* files of the caller's that workers mapped */
	size_t nmapped;
	/* run by a task of its own pool, in the task's thread: the pool's
	 * message is left alone, other threads of the pool may be writing it */
	bool inline_run;

	/* A result cache (jp_call_set_memory): the arguments' hashes, the
	 * results taken from it (call_memory.c); NULL: none. */
	struct jp__call_memo *memo;
	/* The misses of a cached call run as a call of their own: item i here
	 * is item origin[i] of that call, which tasks and messages see. NULL:
	 * item i is item i. */
	const size_t *origin;
};

/* The index a builder's item i has for its task and in messages. */
static inline size_t jp__call_item_index(const jp_call *c, size_t i)
{
	return c->origin ? c->origin[i] : i;
}

/* jp_call_arg_array with the workers' map mode chosen (enum jp__mmap_mode)
 * rather than the pool's (-1): a built-in's output must be writable in any
 * pool, its inputs read-only. */
int jp__call_arg_array_mode(jp_call *c, const jp_array *a, int mode);

static inline jp__slot *jp__call_slot(const jp_call *c, size_t seq)
{
	return &c->slots[seq - c->slot_base];
}

/* Free the call the pool keeps for reuse (jp_pool_close). */
void jp__call_free_kept(jp_pool *p);
/* The index of a task in the call's names, added if new: 0, JP_ENOTASK
 * (not registered, the pool's message says so) or -ENOMEM. */
int jp__call_task_index(jp_call *c, const char *task, uint32_t *idx);

/* Encode the call's CALL frame into b. */
int jp__call_encode_frame(jp_call *c, uint64_t call_id, jp__buf *b);
/* Encode a BATCH frame with items [first, first + count) (a builder) or a
 * map's batch `seq` covering [first, first + count); registers the slots. */
int jp__call_encode_batch(jp_call *c, uint64_t call_id, size_t seq, size_t first,
			  size_t count, jp__buf *b);
/* Take in a RESULT frame. With `own`, the buffer the frame fills from its
 * start, the call takes that buffer's storage for a frame that does not fit
 * a block (own is then empty), and copies a smaller one (own keeps its
 * storage, to serve again); without, it copies the frame. `who` names the
 * worker for messages. Unordered streams queue the slots filled. */
int jp__call_ingest(jp_call *c, uint64_t call_id, const uint8_t *frame, size_t len, jp__buf *own,
		    const char *who, size_t *nunits);
/* Make items on demand up to `upto` (exclusive) or their end; 0 or the
 * generator's failure (the call failed). */
int jp__call_make_items(jp_call *c, size_t upto);
/* Make every item and lay out their slots: for backends that plan the
 * whole call at once (threads, a nested call run inline). */
int jp__call_make_all_items(jp_call *c);
/* Forget the items dispatched so far (all of those made): a generator's
 * items are freed once they are in batch frames. */
void jp__call_drop_made_items(jp_call *c);
/* Streams: a slot handed out; its frame goes once all its slots are. */
void jp__call_release_slot(jp_call *c, jp__slot *s);
/* Streams: drop the slots below `below` (all handed out). */
void jp__call_compact_slots(jp_call *c, size_t below);
/* Record the first failure of the run. */
void jp__call_fail(jp_call *c, int err, size_t index, const char *fmt, ...) JP_PRINTF(4, 5);
/* The task name of item / batch seq, for messages. */
const char *jp__call_task_of(const jp_call *c, size_t seq);
/* "task 7 (\"name\")", or "tasks [8, 16) of \"name\"" for a map's batch. */
void jp__call_describe(const jp_call *c, size_t seq, char *buf, size_t cap);

/* sched.c: run a call on the pool's workers, or in the caller. */
int jp__sched_run(jp_call *c);
/* sched.c: streams. Start the run; take the next result (1 and the slot,
 * 0 at the end, or the failure); stop early. */
int jp__sched_start(jp_call *c, enum jp__delivery mode);
int jp__sched_next(jp_call *c, jp__slot **slot);
void jp__sched_stop(jp_call *c);
/* How long the master spins for results before it sleeps, given the last
 * batch's run time (sched.c): the test looks. */
double jp__sched_master_spin_s(const jp_pool *p);
/* sched.c: an unordered stream's slot is ready to hand out. */
int jp__sched_ready(jp_call *c, size_t seq);

/* Room for n result slots (a scheduler that lays out a map's slots itself). */
int jp__call_reserve_slots(jp_call *c, size_t n);

/* ---- call.c, for call_memory.c: a run in pieces ----------------------- */

/* jp_call_run without the cache: on the pool, or inline in a task. */
int jp__call_run_plain(jp_call *c);
/* Forget the last run's results and lay out a builder's slots. */
int jp__call_reset(jp_call *c);
/* The run is over: slots without a result were cancelled; results readable. */
void jp__call_finish(jp_call *c);
/* r+ and w+: what workers wrote into the call's dumped arrays goes back. */
int jp__call_copy_back(jp_call *c);
/* Take over the result frames of `from` (its slots point into them). */
int jp__call_adopt_blocks(jp_call *c, jp_call *from);

/* ---- call_memory.c: a call with a result cache ----------------------- */

/* After item `index` is added (before it counts), and after each argument:
 * the hashes that make the keys. Only jp__memo_item can fail (-ENOMEM). */
int jp__memo_item(jp_call *c, size_t index);
void jp__memo_scalar(jp_call *c, uint32_t kind, const void *data, size_t len);
void jp__memo_array(jp_call *c, const jp_array *a);
/* jp_call_run of a call with a cache: hits from disk, misses on the pool. */
int jp__memo_run(jp_call *c);
/* Give back the results taken from the cache by the last run. */
void jp__memo_drop(jp_call *c);
void jp__memo_free(jp_call *c);

/* ---- threads.c: the thread backend, and nesting -------------------- */

/* Start the pool's threads (n_jobs - 1, the caller being runner 0; n_jobs
 * with an initializer), each past the initializer; on failure none is left
 * and the pool message says why. */
int jp__threads_start(jp_pool *p);
/* Join the threads (in the process that started them) and free them. */
void jp__threads_stop(jp_pool *p);
/* Run a call on the threads, the caller as runner 0 (or waiting); callf:
 * its CALL frame already encoded, or NULL. */
int jp__threads_run(jp_call *c, uint64_t call_id, const jp__buf *callf);
/* Run a call in the calling thread: a call made by a task on the pool that
 * runs the task, which finds the pool busy with the task's own call. */
int jp__threads_run_here(jp_call *c);

/* How many pool workers (processes or threads) the calling thread runs
 * inside; 0 in the program itself. A sequential pool adds no level. */
int jp__nesting_depth(void);
/* $JOBPOOL_MAX_NESTING: the deepest level at which a pool still gets
 * workers of its own (0, the default: only outside every pool). */
int jp__nesting_max(void);
/* In a new worker process, before anything else: its depth. */
void jp__nesting_worker_process(int depth);
/* Whether the calling thread is running tasks of p now (a pool thread of
 * p, or the caller of a call on p whose tasks run in the caller). */
bool jp__runs_tasks_of(const jp_pool *p);
/* Mark the calling thread as running p's tasks; returns what it ran. */
const jp_pool *jp__running_pool_set(const jp_pool *p);

/* ---- status.c: what jobpool-inspect sees (status.h) ---------------------
 * One call at each point the pool changes; each is a handful of stores into
 * the pool's status page (and a record in its trace), nothing at all with
 * JOBPOOL_STATUS=0 and no JOBPOOL_TRACE. None fails: a pool without a page
 * works as before. */

/* Open: make the page (and the trace); the pool is "opening". */
void jp__status_open(jp_pool *p);
/* The pool is open (every worker answered) or closing (enum
 * jp__status_pool_state). */
void jp__status_state(jp_pool *p, int state);
/* Remove the page, write the trace (owner only), free both. */
void jp__status_close(jp_pool *p);
/* A worker slot changed: enum jp__wstate (STARTING at fork, IDLE at its
 * HELLO, DEAD when reaped). */
void jp__status_worker(jp_pool *p, int slot, int state);
/* Batch b went to the worker in slot (the caller's slot 0 when sequential). */
void jp__status_sent(jp_call *c, int slot, const jp__inflight *b);
/* Batch b came back from slot: it ran from start to end. */
void jp__status_done(jp_call *c, int slot, const jp__inflight *b, double start, double end);
/* A call started (start) or ended. */
void jp__status_call(jp_call *c, bool start);
/* An array's file joined the pool's folder (a is its dtype and shape), or
 * left it; the pool made a folder. */
void jp__status_array(jp_pool *p, const jp_backing *b, const jp_array *a);
void jp__status_array_gone(jp_pool *p, const jp_backing *b);
void jp__status_folders(jp_pool *p);

/* trace.c: the batches of a pool's life, as Chrome Trace Event JSON. */
struct jp__trace *jp__trace_open(jp_pool *p);
void jp__trace_worker(struct jp__trace *t, int slot, int pid);
void jp__trace_batch(struct jp__trace *t, jp_call *c, int slot, const jp__inflight *b,
		     double start, double end);
void jp__trace_call(struct jp__trace *t, jp_call *c, bool start);
/* Write what is left and the closing of the JSON (if write), free. */
void jp__trace_close(struct jp__trace *t, bool write);

#endif
