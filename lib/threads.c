/*
 * threads.c - the thread backend, and the nesting rules every backend
 * follows.
 *
 * A thread pool is n_jobs runners: the thread that makes a call, as runner
 * 0, and n_jobs - 1 threads of the calling process, started at open and
 * joined at close (n_jobs threads, the caller only waiting, when the pool
 * has an initializer). They run a call's units through jp__run_unit on a
 * runner of their own, as a worker process does, from the same CALL frame,
 * so a task cannot tell which backend runs it; only its arrays differ:
 * they arrive as pointers into the caller's memory (JP__ARG_LOCAL), never
 * through a file.
 *
 * A call is cut into batches and a runner claims the next one with an
 * atomic increment when it is free: no queue, no lock, and a runner never
 * waits for another. Each runner appends the records of every unit it runs
 * to one RESULT frame of its own; the caller takes those frames in once all
 * runners are done, so the call object is only read while they run.
 *
 * Nesting: a thread runs at a depth, the number of pool workers it is
 * inside (0 in the program itself). A pool opened at depth > 0 gets no
 * workers of its own unless $JOBPOOL_MAX_NESTING allows that depth (see
 * jp_pool_open in pool.c), and a call made by a task on the very pool that
 * runs the task runs in the task's own thread (jp__threads_run_here).
 */
#include "pool.h"
#include "kernels/gemm.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- nesting ------------------------------------------------------- */

/* The pool whose tasks this thread is running, and its depth. A worker
 * process's depth is the whole process's (threads its tasks start are
 * inside the worker too): set once, in the fresh child, before any thread
 * of its own exists. */
static _Thread_local const jp_pool *running_pool;
static _Thread_local int thread_depth;
static int process_depth;
/* The pool thread this is, if it is one. */
static _Thread_local struct jp__thread *self;

int jp__nesting_depth(void)
{
	return thread_depth > process_depth ? thread_depth : process_depth;
}

void jp__nesting_worker_process(int depth)
{
	process_depth = depth;
	thread_depth = 0;
	running_pool = NULL;
}

bool jp__runs_tasks_of(const jp_pool *p)
{
	return p && running_pool == p;
}

const jp_pool *jp__running_pool_set(const jp_pool *p)
{
	const jp_pool *was = running_pool;
	running_pool = p;
	return was;
}

int jp__nesting_max(void)
{
	const char *s = getenv("JOBPOOL_MAX_NESTING");
	char *end;
	if (!s || !*s)
		return 0;
	long v = strtol(s, &end, 10);
	return *end || v < 0 ? 0 : v > INT_MAX ? INT_MAX : (int)v;
}

/* ---- the pool's threads ------------------------------------------------ */

/* What one runner of a call (a pool thread, or the caller of a nested
 * call) shares with the others: the call, read only, and two counters. */
typedef struct tcall {
	jp_call *c;
	uint64_t call_id;
	const jp__buf *frame; /* the CALL frame every runner decodes: callf or the run's */
	jp__buf callf;
	size_t bs;           /* batch k covers [k bs, (k + 1) bs), or ... */
	size_t *bounds;      /* ... [bounds[k], bounds[k + 1]) when bs is 0 */
	size_t nbatches, bounds_cap;
	alignas(64) size_t next; /* the next batch to claim */
	alignas(64) int failed;  /* slot + 1 of the first runner that failed */
} tcall;

typedef struct jp__thread {
	struct jp__threads *T;
	int slot;
	pthread_t tid;
	jp__runner r;
	jp__buf out;         /* this call's RESULT frame */
	size_t units;        /* records in it */
	size_t last_len;     /* the last call's frame: reserved at once */
	char who[24];        /* for messages, made once: "thread 3" */
	int err;             /* a failure that is no task's: ENOMEM, a bad frame */
	size_t err_index;
	int init_status;
	char init_msg[JP__ERRMSG_MAX];
} jp__thread;

/* A futex word and the threads asleep on it: a change wakes them only
 * when some sleep, so a pool whose threads are polling starts and ends a
 * call without a system call. */
typedef struct event {
	alignas(64) uint32_t word;
	uint32_t sleepers;
} event;

typedef struct jp__threads {
	jp_pool *pool;
	int n, started;      /* runners; threads started (th[first] onwards) */
	/* The caller runs a share of each call as runner 0, as OpenMP's
	 * master thread does, and the pool starts n - 1 threads: on n CPUs,
	 * n runners and a caller that only waits are n + 1 spinners, and the
	 * hand-off to the runner that shares the caller's CPU costs two
	 * context switches (a 2-task call took 2.9 us, against 0.7 us for
	 * an empty OpenMP region). Not with an initializer, which runs in
	 * every runner when it starts: then n threads run the calls. */
	int first;           /* 1: the caller is runner 0; 0: threads only */
	jp__thread *th;
	tcall call;
	/* The wait policy: with "active", a thread that finished its share of
	 * a call polls for the next call, and the caller polls for the threads
	 * to finish, for up to spin_s before sleeping; the polls yield the CPU
	 * every few hundred loads, so a pool never keeps a core from runnable
	 * work. With the caller as runner 0, and not waiting for a thread
	 * that took no batch, a 2-task call on 2 CPUs took 0.39 us polling
	 * and 0.40 us sleeping at once (1.7 and 1.8 us when the caller
	 * waited for every thread to answer). */
	double spin_s;
	/* With the caller as runner 0, start is odd while the caller
	 * changes the call and even while a call is open, and done counts
	 * the threads in the open call: the caller waits only for those,
	 * not for a thread that comes after the last batch was taken (see
	 * jp__threads_run). Without, start moves once per call and every
	 * thread answers it in done. */
	event start;         /* moves for each call, and to stop */
	event done;
	bool stop;
} jp__threads;

static long futex(uint32_t *addr, int op, uint32_t val)
{
	return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

/* Wait until e->word differs from val: polled for spin_s, then slept. */
static uint32_t event_wait(event *e, uint32_t val, double spin_s)
{
	uint32_t v = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
	double until = v == val && spin_s > 0 ? jp__now() + spin_s : 0;
	while (v == val && until > 0) {
		/* plain loads, no PAUSE: under KVM a loop of PAUSEs exits to the
		 * hypervisor (pause-loop exiting), which made a 2-task call
		 * slower than no polling at all (9 to 12 us against 8 to 10) */
		for (int i = 0; i < 256 && v == val; i++)
			v = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
		if (v != val || jp__now() >= until)
			break;
		sched_yield();
		v = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
	}
	while (v == val) {
		/* counted before the last look, and the waker changes the word
		 * before it counts sleepers (both sequentially consistent):
		 * one of the two sees the other */
		__atomic_add_fetch(&e->sleepers, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&e->word, __ATOMIC_SEQ_CST) == val)
			futex(&e->word, FUTEX_WAIT_PRIVATE, val);
		__atomic_sub_fetch(&e->sleepers, 1, __ATOMIC_RELAXED);
		v = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
	}
	return v;
}

/* After a sequentially consistent change of e->word. */
static void event_wake(event *e)
{
	if (__atomic_load_n(&e->sleepers, __ATOMIC_SEQ_CST))
		futex(&e->word, FUTEX_WAKE_PRIVATE, INT_MAX);
}

static void one_done(jp__threads *T)
{
	if (__atomic_sub_fetch(&T->done.word, 1, __ATOMIC_SEQ_CST) == 0)
		event_wake(&T->done);
}

static void wait_all_done(jp__threads *T)
{
	uint32_t v;
	while ((v = __atomic_load_n(&T->done.word, __ATOMIC_SEQ_CST)) != 0)
		event_wait(&T->done, v, T->spin_s);
}

/* ---- running a share of a call ------------------------------------------ */

static void note_failure(tcall *tc, int slot)
{
	int none = 0;
	__atomic_compare_exchange_n(&tc->failed, &none, slot + 1, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

/* One unit into th->out; true when the runner must stop claiming work. */
static bool run_one(jp__thread *th, tcall *tc, const jp__unit *u, size_t frame)
{
	size_t mark = th->out.len;
	jp_task t;
	int st = jp__run_unit(&th->r, u, &th->out, frame, &t);
	if (st == 0) {
		th->units++;
		return false;
	}
	if (st == JP_ETASK || st == JP_ENOTASK) {
		th->units++;
	} else {
		th->out.len = mark; /* a record half written is dropped */
		th->err = st;
		th->err_index = u->begin;
	}
	note_failure(tc, th->slot);
	return true;
}

static void batch_range(const tcall *tc, size_t k, size_t *first, size_t *end)
{
	size_t n = tc->c->n;
	if (tc->bs) {
		*first = k * tc->bs;
		*end = n - *first < tc->bs ? n : *first + tc->bs;
	} else {
		*first = tc->bounds[k];
		*end = tc->bounds[k + 1];
	}
}

/* Claim batches until none is left or a runner failed; every unit run goes
 * into th->out as one RESULT frame. A runner that claims nothing touches
 * nothing, neither the call nor its own results (see jp__threads_run). */
static void run_share(jp__thread *th, tcall *tc)
{
	if (__atomic_load_n(&tc->failed, __ATOMIC_RELAXED))
		return;
	/* sequentially consistent, as the caller's closing of claims and its
	 * look at done: a claim it did not close is by a thread it counts */
	size_t k = __atomic_fetch_add(&tc->next, 1, __ATOMIC_SEQ_CST), first, end;
	if (k >= tc->nbatches)
		return;
	jp_call *c = tc->c;
	jp__call_header ch;
	size_t frame;
	th->units = 0;
	th->err = 0;
	th->out.len = 0;
	int err = jp__call_decode(tc->frame->data, tc->frame->len, &ch);
	if (!err)
		err = jp__runner_set_call(&th->r, tc->call_id, &ch);
	/* a large frame goes to the call each time: grown from nothing by
	 * doubling, a frame of 100,000 results took a dozen allocations and
	 * copies every call; a buffer a call freed has its pages too */
	if (!err && !jp__bufcache_take(&tc->c->pool->big_bufs, th->last_len, &th->out))
		err = jp__buf_reserve(&th->out, th->last_len);
	if (!err)
		err = jp__result_begin(&th->out, tc->call_id, &frame);
	if (err) {
		th->err = err;
		th->err_index = 0;
		note_failure(tc, th->slot);
		return;
	}
	bool stop = false;
	for (;;) {
		batch_range(tc, k, &first, &end);
		if (c->is_map) {
			jp__unit u = { .seq = k, .begin = first, .end = end };
			stop = run_one(th, tc, &u, frame);
		}
		/* a builder's items: stop at once when another runner failed */
		for (size_t i = first; !c->is_map && i < end && !stop; i++) {
			const jp__item *it = &c->items[i];
			size_t at = jp__call_item_index(c, i);
			jp__unit u = { .seq = i, .begin = at, .end = at + 1, .task = it->task,
				       .nargs = it->nargs, .args = c->item_args.data + it->off,
				       .args_len = it->len };
			stop = run_one(th, tc, &u, frame) ||
			       (i + 1 < end && __atomic_load_n(&tc->failed, __ATOMIC_RELAXED));
		}
		if (stop || __atomic_load_n(&tc->failed, __ATOMIC_RELAXED) ||
		    (k = __atomic_fetch_add(&tc->next, 1, __ATOMIC_SEQ_CST)) >= tc->nbatches)
			break;
	}
	jp__frame_end(&th->out, frame);
}

/* Batches: a fixed size when the call or the pool has one; otherwise
 * guided, as OpenMP's schedule(guided): each batch a 1/(2 runners) share of
 * what is left, so the first batches are large and the last ones small.
 * Claims cost an atomic increment, so the tail can be fine: it evens out
 * uneven tasks at no measurable cost for even ones. */
static int plan_batches(tcall *tc, size_t n, size_t bs, int runners)
{
	tc->bs = bs;
	if (bs) {
		tc->nbatches = n / bs + (n % bs != 0);
		return 0;
	}
	size_t k = 0, at = 0, div = (size_t)runners * 2;
	while (at < n) {
		if (k + 2 > tc->bounds_cap) {
			size_t cap = tc->bounds_cap ? tc->bounds_cap * 2 : 64;
			size_t *b = realloc(tc->bounds, cap * sizeof *b);
			if (!b)
				return -ENOMEM;
			tc->bounds = b;
			tc->bounds_cap = cap;
		}
		size_t left = n - at, chunk = (left + div - 1) / div;
		tc->bounds[k++] = at;
		at += chunk;
	}
	tc->bounds[k] = n;
	tc->nbatches = k;
	return 0;
}

/* A map's result slots, one per batch, laid out before any runner starts:
 * runners only read the call. */
static int layout_map_slots(tcall *tc, jp_call *c)
{
	if (!c->is_map)
		return 0;
	int err = jp__call_reserve_slots(c, tc->nbatches);
	if (err)
		return err;
	for (size_t k = 0; k < tc->nbatches; k++) {
		size_t first, end;
		batch_range(tc, k, &first, &end);
		c->slots[k] = (jp__slot){ .status = JP__PENDING, .begin = first, .end = end };
	}
	c->nslots = tc->nbatches;
	return 0;
}

static int prepare(tcall *tc, jp_call *c, uint64_t call_id, const jp__buf *callf, int runners)
{
	jp_pool *p = c->pool;
	size_t bs = c->batch_size ? c->batch_size : p->cfg.batch_size;
	tc->c = c;
	tc->call_id = call_id;
	tc->next = 0;
	tc->failed = 0;
	tc->callf.len = 0;
	tc->frame = callf ? callf : &tc->callf;
	int err = plan_batches(tc, c->n, bs, runners);
	if (!err)
		err = layout_map_slots(tc, c);
	if (!err && !callf)
		err = jp__call_encode_frame(c, call_id, &tc->callf);
	return err;
}

/* Take in what a runner produced: its frame (kept by the call, no copy),
 * then the failure that stopped it, if it was not a task's. */
static void take_in(jp_call *c, jp__thread *th, uint64_t call_id, const char *who)
{
	th->last_len = th->out.len;
	if (th->units) {
		size_t units;
		int err = jp__call_ingest(c, call_id, th->out.data, th->out.len, &th->out, who, &units);
		if (err)
			jp__call_fail(c, err, 0, "taking in the results of %s: %s", who, jp_strerror(err));
	}
	if (th->err)
		jp__call_fail(c, th->err, th->err_index, "%s, running task %zu: %s", who,
			      th->err_index, jp_strerror(th->err));
	/* a runner that claims nothing in the next call leaves these alone */
	th->units = 0;
	th->err = 0;
}

static void *thread_main(void *arg)
{
	jp__thread *th = arg;
	jp__threads *T = th->T;
	self = th;
	running_pool = T->pool;
	thread_depth = T->pool->depth + 1;
	jp__blas_thread_single();
	if (T->pool->cfg.initializer)
		th->init_status = jp__run_initializer(th->slot, T->pool->cfg.initializer,
						      th->init_msg, sizeof th->init_msg);
	uint32_t seen = 0; /* start moves only once every thread is ready */
	one_done(T);
	for (;;) {
		seen = event_wait(&T->start, seen, T->spin_s);
		if (__atomic_load_n(&T->stop, __ATOMIC_ACQUIRE))
			break;
		if (T->first) {
			/* the caller runs a share: a call is open while start is
			 * even, and a thread that comes counts itself in done
			 * before it looks again, so the caller, which makes start
			 * odd before it waits for done to be 0 and changes the
			 * call, either waits for it or is seen to have moved on
			 * (both sequentially consistent) */
			if (seen & 1)
				continue;
			__atomic_add_fetch(&T->done.word, 1, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&T->start.word, __ATOMIC_SEQ_CST) == seen)
				run_share(th, &T->call);
		} else {
			run_share(th, &T->call);
		}
		one_done(T);
	}
	return NULL;
}

static void free_threads(jp__threads *T)
{
	for (int i = 0; i < T->n; i++) {
		jp__runner_free(&T->th[i].r);
		jp__mapcache_free(&T->th[i].r.maps);
		jp__buf_free(&T->th[i].out);
	}
	free(T->th);
	jp__buf_free(&T->call.callf);
	free(T->call.bounds);
	free(T);
}

/* Wake every thread to leave, and join them. */
static void join_threads(jp__threads *T)
{
	__atomic_store_n(&T->stop, true, __ATOMIC_RELEASE);
	__atomic_add_fetch(&T->start.word, 1, __ATOMIC_SEQ_CST);
	event_wake(&T->start);
	for (int i = T->first; i < T->first + T->started; i++)
		pthread_join(T->th[i].tid, NULL);
}

int jp__threads_start(jp_pool *p)
{
	int n = p->cfg.n_jobs;
	jp__threads *T = NULL; /* its counters sit on cache lines of their own */
	if (posix_memalign((void **)&T, 64, sizeof *T) == 0) {
		memset(T, 0, sizeof *T);
		T->th = calloc((size_t)n, sizeof *T->th);
	}
	if (!T || !T->th) {
		free(T);
		jp__pool_set_error(p, "out of memory");
		return -ENOMEM;
	}
	T->pool = p;
	T->n = n;
	T->first = p->cfg.initializer ? 0 : 1;
	T->spin_s = p->cfg.wait_active ? p->cfg.spin_s : 0;
	T->done.word = (uint32_t)(n - T->first);
	for (int i = 0; i < n; i++) {
		T->th[i] = (jp__thread){ .T = T, .slot = i, .r = { .slot = i } };
		jp__msgf(T->th[i].who, sizeof T->th[i].who, "thread %d", i);
	}
	/* the threads take no signal meant for the process: the host's own
	 * threads handle those (a fault in a task still hits its thread) */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = 0;
	for (int i = T->first; i < n && !err; i++) {
		err = -pthread_create(&T->th[i].tid, NULL, thread_main, &T->th[i]);
		if (!err)
			T->started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	p->spawned += (unsigned long)T->started;
	if (err) {
		jp__pool_set_error(p, "thread %d: pthread_create: %s", T->first + T->started,
				   strerror(-err));
		/* those started still count themselves ready */
		__atomic_sub_fetch(&T->done.word, (uint32_t)(n - T->first - T->started),
				   __ATOMIC_SEQ_CST);
	}
	wait_all_done(T);
	for (int i = T->first; i < T->first + T->started && !err; i++)
		if (T->th[i].init_status) {
			err = T->th[i].init_status;
			jp__pool_set_error(p, "initializer \"%s\" failed in thread %d: %s",
					   p->cfg.initializer, i, T->th[i].init_msg);
		}
	if (err) {
		join_threads(T);
		free_threads(T);
		return err;
	}
	p->threads = T;
	return 0;
}

void jp__threads_stop(jp_pool *p)
{
	jp__threads *T = p->threads;
	if (!T)
		return;
	/* in a child forked by the host the threads are not there: the copy
	 * is only freed */
	if (p->owner == getpid())
		join_threads(T);
	free_threads(T);
	p->threads = NULL;
}

/* The caller's share, as runner 0: its tasks see the nesting a pool
 * thread's see, and a call one of them makes on this pool runs in place
 * (jp__threads_run_here), as in a pool thread. */
static void run_as_runner_0(jp__threads *T)
{
	const jp_pool *was_pool = running_pool;
	int was_depth = thread_depth;
	jp__thread *was_self = self;
	running_pool = T->pool;
	thread_depth = T->pool->depth + 1;
	self = &T->th[0];
	run_share(&T->th[0], &T->call);
	self = was_self;
	thread_depth = was_depth;
	running_pool = was_pool;
}

/* The runners' frames, the one that failed first first. */
static void take_all_in(jp__threads *T, jp_call *c, uint64_t call_id)
{
	/* the first runner that failed first: its failure is the one the call
	 * reports, as the process backend reports the first one it sees */
	int first = __atomic_load_n(&T->call.failed, __ATOMIC_RELAXED) - 1;
	for (int k = -1; k < T->n; k++) {
		int i = k < 0 ? first : k;
		if (i < 0 || (k >= 0 && i == first))
			continue;
		take_in(c, &T->th[i], call_id, T->th[i].who);
	}
}

/* The old way, where the caller runs no share (the pool has an
 * initializer): every thread answers every call, claiming or not. */
static int run_on_all_threads(jp__threads *T, jp_call *c, uint64_t call_id, const jp__buf *callf)
{
	int err = prepare(&T->call, c, call_id, callf, T->n);
	if (err)
		return err;
	jp__blas_single_begin();
	__atomic_store_n(&T->done.word, (uint32_t)T->n, __ATOMIC_RELAXED);
	__atomic_add_fetch(&T->start.word, 1, __ATOMIC_SEQ_CST);
	event_wake(&T->start);
	wait_all_done(T);
	jp__blas_single_end();
	take_all_in(T, c, call_id);
	return c->err;
}

int jp__threads_run(jp_call *c, uint64_t call_id, const jp__buf *callf)
{
	jp__threads *T = c->pool->threads;
	if (c->n == 0)
		return 0;
	if (!T->first)
		return run_on_all_threads(T, c, call_id, callf);
	/* Close: start odd, and a thread still at the last call, having
	 * claimed nothing, is waited for, or sees this and leaves. */
	__atomic_add_fetch(&T->start.word, 1, __ATOMIC_SEQ_CST);
	wait_all_done(T);
	int err = prepare(&T->call, c, call_id, callf, T->n);
	if (err) /* an open call with nothing to claim */
		__atomic_store_n(&T->call.nbatches, 0, __ATOMIC_RELAXED);
	/* tasks on n runners at once: the BLAS runs single-threaded in each */
	jp__blas_single_begin();
	__atomic_add_fetch(&T->start.word, 1, __ATOMIC_SEQ_CST); /* open */
	event_wake(&T->start);
	if (!err)
		run_as_runner_0(T);
	/* Nothing is left to claim (or a runner failed): no claim succeeds
	 * from now on, so only the threads counted in done now can have
	 * results. A thread asleep or off its CPU all along is not waited
	 * for: the caller ran the batches it did not come for. A call of
	 * trivial tasks then costs the caller's own work and no hand-off
	 * (0.39 us for 2 tasks, against 1.7 when every thread answered). */
	__atomic_store_n(&T->call.next, SIZE_MAX / 2, __ATOMIC_SEQ_CST);
	wait_all_done(T);
	jp__blas_single_end();
	if (err)
		return err;
	take_all_in(T, c, call_id);
	return c->err;
}

int jp__threads_run_here(jp_call *c)
{
	if (c->n == 0)
		return 0;
	/* the calling thread's slot, as its task sees it; a runner and a
	 * frame of its own, since the thread's are busy with the task that
	 * made this call */
	int slot = self && self->T == c->pool->threads ? self->slot : 0;
	jp__thread th = { .slot = slot, .r = { .slot = slot } };
	tcall tc = { 0 };
	uint64_t call_id = UINT64_MAX; /* no frame of it leaves this thread */
	int err = prepare(&tc, c, call_id, NULL, 1);
	if (!err) {
		run_share(&th, &tc);
		take_in(c, &th, call_id, "the calling thread");
		err = c->err;
	}
	jp__runner_free(&th.r);
	jp__mapcache_free(&th.r.maps);
	jp__buf_free(&th.out);
	jp__buf_free(&tc.callf);
	free(tc.bounds);
	return err;
}
