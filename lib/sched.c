/*
 * sched.c - running a call: items grouped into batches (of a fixed size, or
 * adapted to their run time), handed to the least loaded worker with at
 * most pre_dispatch batches in flight, results taken in as they come and
 * kept in submission order by their slots, or handed out as a stream. The
 * sequential backend runs the same frames in the caller, batch by batch.
 */
#include "pool.h"
#include "lane.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A frame this large is read into a buffer of its own, which the call then
 * keeps: big results are never copied on the master's side. */
#define BIG_FRAME (256u << 10)
#define READ_CHUNK (64u << 10)

/*
 * Auto batching, joblib's rule with our constants: start at one item, and
 * while a batch runs shorter than AUTO_MIN_S grow towards the size that
 * would take twice that, at most doubling per step; past AUTO_MAX_S shrink.
 * joblib aims at 0.2 to 2 s because a batch costs it milliseconds; ours
 * costs a few microseconds of the master's time when the pipes are kept
 * busy (jobpool-bench overhead: 0.014 us per trivial task in big batches,
 * 40 us for a lone round trip), so a batch of 1 ms wastes under 1 % while
 * keeping the end of a call, where the last batches are cut ten times
 * smaller, short. See jp_options(3).
 */
#define AUTO_MIN_S 0.001
#define AUTO_MAX_S 0.010
#define AUTO_SMOOTHING 0.8
#define AUTO_FINAL_S 0.0001
/* A call whose items all take the workers less than this, by what they
 * timed in earlier calls of its task, goes to one worker as one batch:
 * handing a batch to a second worker costs more than that, a fraction of
 * a microsecond of cache lines moving where it has a CPU of its own and
 * 1.3 us of context switches where it shares the master's (a 2-task call
 * split in two took 2.3 us against 1.0 as one batch, doc/performance.md),
 * so splitting could only make the call longer. */
#define ONE_BATCH_S 0.5e-6
double jp__one_batch_s = ONE_BATCH_S;

/* The respawn throttle: a worker that dies within QUICK_DEATH_S of its
 * start, QUICK_DEATHS times in a row, leaves its slot empty for a delay
 * that doubles from THROTTLE_MIN_S up to THROTTLE_MAX_S, so a worker that
 * cannot live never makes the pool fork in a loop. */
#define QUICK_DEATH_S 1.0
#define QUICK_DEATHS 3
#define THROTTLE_MIN_S 0.05
#define THROTTLE_MAX_S 5.0
/* A worker's memory is looked at (/proc/PID/statm) at most this often, as
 * loky does. */
#define RSS_CHECK_S 1.0

static int workers_of(const jp_pool *p)
{
	return p->n_workers ? p->n_workers : 1;
}

/* ---- batch sizes ----------------------------------------------------- */

static void tune_batch_size(jp__run *r)
{
	size_t old = r->bs, bs = old;
	double d = r->smoothed;
	if (d > 0 && d < AUTO_MIN_S) {
		/* too short to hide the cost of a batch: towards twice the ideal
		 * size, so that the size does not swing between the bounds */
		double ideal = 2.0 * (double)old * AUTO_MIN_S / d;
		bs = ideal >= 2.0 * (double)old ? 2 * old : (size_t)ideal;
	} else if (d > AUTO_MAX_S && old >= 2) {
		bs = 2 * (size_t)((double)old * AUTO_MIN_S / d);
	}
	if (bs < 1)
		bs = 1;
	if (bs > (SIZE_MAX >> 8))
		bs = SIZE_MAX >> 8;
	if (bs != old) {
		r->bs = bs;
		r->smoothed = 0; /* measured again at the new size */
	}
}

/* How many of `avail` items the next batch takes; at_end: no more items
 * come after them. */
static size_t batch_items(jp_call *c, size_t avail, bool at_end)
{
	jp__run *r = &c->run;
	if (r->bs_fixed)
		return r->bs_fixed < avail ? r->bs_fixed : avail;
	tune_batch_size(r);
	size_t bs = r->bs, w = (size_t)workers_of(c->pool);
	/* near the end, smaller batches (a tenth of an even share, joblib's
	 * rule) so that no worker is left with a long last one; but none that
	 * runs shorter than AUTO_FINAL_S, which would cost more to hand out than
	 * a straggler could */
	if (at_end && !r->final_bs && avail < bs * w) {
		size_t least = r->item_s > 0 ? (size_t)(AUTO_FINAL_S / r->item_s) : 1;
		r->final_bs = avail / (10 * w);
		if (r->final_bs < least)
			r->final_bs = least;
		if (r->final_bs < 1)
			r->final_bs = 1;
	}
	if (r->final_bs && r->final_bs < bs)
		bs = r->final_bs;
	return bs < avail ? bs : avail;
}

/* A batch of `items` ran for `seconds`: what auto batching learns. */
static void learn(jp__run *r, size_t items, double seconds)
{
	/* per item, from any batch: an upper bound (a lone batch's time holds
	 * a round trip) */
	double per = items ? seconds / (double)items : 0;
	r->item_s = r->item_s == 0 ? per : AUTO_SMOOTHING * r->item_s + (1 - AUTO_SMOOTHING) * per;
	if (r->bs_fixed || items != r->bs)
		return; /* only batches of the size being tried tell about it */
	r->smoothed = r->smoothed == 0 ? seconds
				       : AUTO_SMOOTHING * r->smoothed + (1 - AUTO_SMOOTHING) * seconds;
}

/* The pool remembers the batch size a task's call ended with, and starts
 * the next call of that task there rather than at 1: growing from 1 costs a
 * round trip per doubling, a third of a millisecond for 10^4 trivial
 * tasks. Not beyond four batches per worker, the size a call of very
 * different items could not regret much (a sequential pool has no such
 * bound); calls of several tasks start at 1. */
static struct jp__learned *learned_of(jp_call *c)
{
	jp_pool *p = c->pool;
	if (c->ntasks != 1)
		return NULL;
	/* the entry found last first: a loop calls one task again and again */
	if (p->learned_hit && !strcmp(p->learned_hit->task, c->names[0]))
		return p->learned_hit;
	if (strlen(c->names[0]) >= sizeof p->learned[0].task)
		return NULL;
	for (size_t i = 0; i < sizeof p->learned / sizeof p->learned[0]; i++)
		if (!strcmp(p->learned[i].task, c->names[0]))
			return p->learned_hit = &p->learned[i];
	return NULL;
}

static void recall_batch_size(jp_call *c)
{
	jp__run *r = &c->run;
	struct jp__learned *l = learned_of(c);
	if (r->bs_fixed || !l)
		return;
	r->run_item_s = l->run_item_s;
	if (c->pool->n_workers && !c->make_item && c->n &&
	    l->run_item_s > 0 && (double)c->n * l->run_item_s <= jp__one_batch_s) {
		r->bs = r->final_bs = c->n; /* final_bs set: not split at the end */
		return;
	}
	/* in a sequential pool no worker waits on another's last batch */
	size_t cap = c->make_item || !c->pool->n_workers ? l->bs
							  : c->n / (4 * (size_t)workers_of(c->pool));
	r->bs = l->bs < cap ? l->bs : cap;
	if (r->bs < 1)
		r->bs = 1;
}

static void remember_batch_size(jp_call *c)
{
	jp__run *r = &c->run;
	jp_pool *p = c->pool;
	if (r->bs_fixed || c->ntasks != 1 || !r->batches_done ||
	    strlen(c->names[0]) >= sizeof p->learned[0].task)
		return;
	struct jp__learned *l = learned_of(c);
	if (!l) {
		l = &p->learned[p->learned_next++ % (sizeof p->learned / sizeof p->learned[0])];
		strcpy(l->task, c->names[0]);
		p->learned_hit = l;
	}
	l->bs = r->bs;
	l->run_item_s = r->run_item_s;
}

/* ---- progress ---------------------------------------------------------- */

static void format_time(char *buf, size_t cap, double t)
{
	if (t > 60)
		snprintf(buf, cap, "%4.1fmin", t / 60);
	else
		snprintf(buf, cap, " %5.1fs", t);
}

/* joblib's filter for lines while the total is unknown: fewer as the count
 * grows, more at higher verbosity, all above 10. */
static bool verbosity_skips(size_t index, int verbose)
{
	if (verbose > 10)
		return false;
	if (index == 0)
		return false;
	double scale = 0.5 * (11 - verbose) * (11 - verbose);
	return (long)__builtin_sqrt((double)index / scale) ==
	       (long)__builtin_sqrt((double)(index + 1) / scale);
}

static void print_line(jp_call *c, bool final)
{
	jp__run *r = &c->run;
	jp_pool *p = c->pool;
	double elapsed = jp__now() - r->t0;
	char el[32], rem[32];
	format_time(el, sizeof el, elapsed);
	bool total_known = !c->make_item || c->made_all;
	size_t total = c->n;
	if (final) {
		if (c->err)
			return; /* the call's error says the rest */
		fprintf(stderr, "[jobpool(n_jobs=%d)]: Done %3zu out of %3zu | elapsed: %s finished\n",
			p->cfg.n_jobs, r->done, r->done, el);
		return;
	}
	if (!total_known) {
		if (!verbosity_skips(r->batches_done, p->cfg.verbose))
			fprintf(stderr, "[jobpool(n_jobs=%d)]: Done %3zu tasks      | elapsed: %s\n",
				p->cfg.n_jobs, r->done, el);
		return;
	}
	/* about verbose lines over the call, more at higher levels, every
	 * batch above 10 */
	if (p->cfg.verbose <= 10 && r->done < total) {
		size_t step = total / (size_t)p->cfg.verbose + 1;
		if (r->done / step == r->shown_done / step && r->batches_done > 1)
			return;
	}
	r->shown_done = r->done;
	format_time(rem, sizeof rem,
		    r->done ? elapsed / (double)r->done * (double)(total - r->done) : 0);
	fprintf(stderr, "[jobpool(n_jobs=%d)]: Done %3zu out of %3zu | elapsed: %s remaining: %s\n",
		p->cfg.n_jobs, r->done, total, el, rem);
}

/* One line on a terminal, redrawn at most ten times a second. */
static void draw_bar(jp_call *c, bool final)
{
	jp__run *r = &c->run;
	double t = jp__now();
	if (!final && t - r->last_shown < 0.1)
		return;
	r->last_shown = t;
	bool total_known = !c->make_item || c->made_all;
	size_t total = c->n;
	double elapsed = t - r->t0, rate = elapsed > 0 ? (double)r->done / elapsed : 0;
	char bar[31];
	size_t fill = total_known && total ? r->done * 30 / total : 0;
	for (size_t i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	if (total_known && rate > 0 && r->done < total) {
		double eta = (double)(total - r->done) / rate;
		fprintf(stderr, "\r[%s] %zu/%zu %3.0f%% %.0f tasks/s ETA %.1fs   ", bar, r->done,
			total, total ? 100.0 * (double)r->done / (double)total : 100.0, rate, eta);
	} else {
		fprintf(stderr, "\r[%s] %zu%s%zu %.0f tasks/s %.1fs   ", bar, r->done,
			total_known ? "/" : " done", total_known ? total : (size_t)0, rate, elapsed);
	}
	if (final)
		fputc('\n', stderr);
	r->bar_drawn = true;
}

static void report(jp_call *c, bool final)
{
	jp__run *r = &c->run;
	jp_pool *p = c->pool;
	if (c->progress)
		c->progress(r->done, !c->make_item || c->made_all ? c->n : 0, c->progress_ctx);
	if (p->cfg.verbose && (final || r->done))
		print_line(c, final);
	if (p->cfg.progress_bar && isatty(STDERR_FILENO))
		draw_bar(c, final);
}

static void batch_done(jp_call *c, size_t items, double seconds)
{
	jp__run *r = &c->run;
	learn(r, items, seconds);
	r->done += items;
	r->batches_done++;
	report(c, false);
}

/* ---- SIGINT during a call ----------------------------------------------- */
/*
 * While any call runs, SIGINT is caught (unless the program ignores it):
 * the handler counts it and runs the program's own handler, if it has one.
 * The call then stops at once, resets the workers that were busy, and
 * returns JP_EINTR; if the program had left SIGINT at its default, it is
 * raised again once the call has cleaned up, so one Ctrl-C ends the
 * program as it always would, leaving nothing behind. Workers ignore
 * SIGINT (the terminal sends it to the whole group): the master decides.
 */
static volatile sig_atomic_t sigint_count;
static pthread_mutex_t sigint_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t sigint_users;
static struct sigaction sigint_old;
/* The handler writes here, so a master waiting in another thread than the
 * one the signal interrupted wakes up too: each waiting call reads it. */
static int sigint_pipe[2] = { -1, -1 };
#define SIGINT_TAG ((uint64_t)UINT32_MAX)

static void make_sigint_pipe(void)
{
	if (pipe2(sigint_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		sigint_pipe[0] = sigint_pipe[1] = -1;
}

static void on_sigint(int sig, siginfo_t *info, void *uctx)
{
	int saved = errno;
	sigint_count++;
	for (int i = 0; i < sigint_users && sigint_pipe[1] >= 0; i++)
		if (write(sigint_pipe[1], "!", 1) < 0)
			break;
	errno = saved;
	if (sigint_old.sa_flags & SA_SIGINFO) {
		if (sigint_old.sa_sigaction)
			sigint_old.sa_sigaction(sig, info, uctx);
	} else if (sigint_old.sa_handler != SIG_DFL && sigint_old.sa_handler != SIG_IGN) {
		sigint_old.sa_handler(sig);
	}
}

static void catch_sigint(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, make_sigint_pipe);
	pthread_mutex_lock(&sigint_lock);
	if (sigint_users++ == 0) {
		struct sigaction sa = { .sa_sigaction = on_sigint, .sa_flags = SA_SIGINFO | SA_RESTART };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, NULL, &sigint_old);
		if (sigint_old.sa_handler != SIG_IGN || (sigint_old.sa_flags & SA_SIGINFO))
			sigaction(SIGINT, &sa, NULL);
	}
	pthread_mutex_unlock(&sigint_lock);
}

/* Put the program's own SIGINT disposition back; true when it was the
 * default and this run was interrupted: the caller raises it again. */
static bool release_sigint(jp__run *r)
{
	pthread_mutex_lock(&sigint_lock);
	bool reraise = false;
	if (--sigint_users == 0) {
		struct sigaction now;
		sigaction(SIGINT, NULL, &now);
		if ((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_sigint)
			sigaction(SIGINT, &sigint_old, NULL);
		reraise = r->interrupted && !(sigint_old.sa_flags & SA_SIGINFO) &&
			  sigint_old.sa_handler == SIG_DFL;
	}
	pthread_mutex_unlock(&sigint_lock);
	return reraise;
}

static bool sigint_seen(const jp__run *r)
{
	return (unsigned long)sigint_count != r->sigints;
}

/* Keep a read posted on the pipe while the call waits for its workers. */
static void watch_sigint(jp_call *c)
{
	jp__run *r = &c->run;
	if (r->sigint_watched || sigint_pipe[0] < 0 || !c->pool->n_workers)
		return;
	r->sigint_watched = jp__io_read(c->pool->io, sigint_pipe[0], &r->sigint_byte, 1,
					SIGINT_TAG) == 0;
}

static void unwatch_sigint(jp_call *c)
{
	jp__run *r = &c->run;
	if (r->sigint_watched)
		jp__io_forget(c->pool->io, sigint_pipe[0]);
	r->sigint_watched = false;
}

/* ---- the sequential backend: batches run here -------------------------- */

/* The runner of a sequential pool's calls: the pool keeps the last one, so
 * that a call naming the same tasks finds them resolved (a task calling
 * its own pool inline takes a fresh one, the outer call holding it). */
static void take_runner(jp_pool *p, jp__runner *r)
{
	*r = p->runner_kept ? p->kept_runner : (jp__runner){ .slot = 0 };
	p->runner_kept = false;
}

static void give_runner(jp_pool *p, jp__runner *r)
{
	if (p->runner_kept) {
		jp__runner_free(r);
	} else {
		p->kept_runner = *r;
		p->runner_kept = true;
	}
	*r = (jp__runner){ .slot = 0 };
}

static int run_inline(jp_call *c, size_t first, size_t count, size_t seq)
{
	jp__run *r = &c->run;
	int err = 0;
	if (!r->runner_set) {
		/* the very frames a worker would get, so a task cannot tell the
		 * difference */
		jp__call_header ch;
		take_runner(c->pool, &r->runner);
		if (!(err = jp__call_decode(r->callf.data, r->callf.len, &ch)))
			err = jp__runner_set_call(&r->runner, r->call_id, &ch);
		r->runner_set = true;
		if (err)
			return err;
	}
	jp__iter it;
	uint64_t id;
	size_t units;
	r->batch.len = 0;
	r->out.len = 0;
	double t0 = jp__now();
	jp__inflight b = { .seq_first = c->is_map ? seq : first, .nseq = c->is_map ? 1 : count,
			   .items = count, .sent = t0, .first = first };
	if (!(err = jp__call_encode_batch(c, r->call_id, seq, first, count, &r->batch)))
		err = jp__batch_decode(r->batch.data, r->batch.len, &id, &it);
	bool ran = !err;
	if (ran)
		jp__status_sent(c, 0, &b);
	if (!err) {
		/* a task that calls this pool runs that call here, inline */
		const jp_pool *outer = jp__running_pool_set(c->pool);
		err = jp__run_batch(&r->runner, r->call_id, &it, &r->out);
		jp__running_pool_set(outer);
	}
	if (!err) {
		err = jp__call_ingest(c, r->call_id, r->out.data, r->out.len, &r->out,
				      "the calling process", &units);
	}
	if (!err)
		batch_done(c, count, jp__now() - t0);
	else if (!c->err)
		jp__call_fail(c, err, first, "running task %zu: %s", first, jp_strerror(err));
	if (ran)
		jp__status_done(c, 0, &b, t0, jp__now());
	return err;
}

/* ---- the process backend: the workers' pipes ---------------------------- */

static uint64_t tag_of(const jp__worker *w, int slot)
{
	return (uint64_t)w->generation << 32 | (uint32_t)slot;
}

/* Send what is queued for a worker: through its lane when there is room
 * (a NOP the old way wakes it if it went to sleep), else through its
 * socket, one write at a time. */
static void send_queued(jp_pool *p, int slot, bool by_lane)
{
	jp__worker *w = &p->workers[slot];
	if (w->queued.len == 0)
		return;
	if (jp__fault(JP__FAULT_SEND_TO_DEAD)) {
		/* as when the worker dies just before a send: the bytes are
		 * lost, the write fails (EPIPE), and its end of file follows */
		kill(w->pid, SIGKILL);
		w->queued.len = 0;
		w->send_failed = true;
		return;
	}
	jp__lane *l = p->lanes ? &p->lanes[slot] : NULL;
	/* a NOP owed goes by the socket, and what was queued behind it too */
	if (l && by_lane && !w->wake_owed &&
	    jp__ring_push(&l->to_worker, w->queued.data, w->queued.len, l->task_bytes)) {
		w->queued.len = 0;
		if (!jp__lane_wake_needed(&l->worker_sleeping))
			return;
		if (jp__nop_encode(&w->queued)) {
			w->send_failed = true; /* it would never wake: lost */
			return;
		}
		w->wake_owed = true;
	}
	if (w->write_busy)
		return;
	jp__buf t = w->sending;
	w->sending = w->queued;
	w->queued = t;
	w->queued.len = 0;
	w->wake_owed = false;
	if (l) /* counted before it is sent: the worker may block for them */
		__atomic_store_n(&l->task_bytes, l->task_bytes + w->sending.len, __ATOMIC_RELEASE);
	int rc = jp__io_write(p->io, w->task_fd, w->sending.data, w->sending.len, tag_of(w, slot));
	if (l) /* now: the master may spin a while before it asks the engine */
		jp__io_flush(p->io);
	/* a failed send means the worker is gone: its pipe's end of file
	 * tells the rest */
	w->write_busy = rc == 1;
	if (rc < 0)
		w->send_failed = true;
}

static void flush_writes(jp_pool *p, int slot)
{
	send_queued(p, slot, true);
}

/* Keep one read posted on every live worker's result pipe. The buffer is
 * sized to the frame being received, so a big frame lands whole in a
 * buffer of its own. */
static int post_read(jp_pool *p, int slot)
{
	jp__worker *w = &p->workers[slot];
	if (w->read_busy || !w->pid)
		return 0;
	size_t want = READ_CHUNK, need = 0;
	jp__frame_header h;
	if (w->in.len >= JP__FRAME_HDR && !jp__frame_header_parse(w->in.data, &h))
		need = h.len;
	if (need > w->in.len)
		want = need >= BIG_FRAME ? need - w->in.len
					 : (need - w->in.len > READ_CHUNK ? need - w->in.len : READ_CHUNK);
	if (need >= BIG_FRAME) /* storage a call freed, pages and all */
		jp__bufcache_take(&p->big_bufs, need, &w->in);
	int err = need >= BIG_FRAME ? jp__buf_reserve_exact(&w->in, want)
				    : jp__buf_reserve(&w->in, want);
	if (err)
		return err;
	size_t len = need >= BIG_FRAME ? need - w->in.len : w->in.cap - w->in.len;
	err = jp__io_read(p->io, w->result_fd, w->in.data + w->in.len, len, tag_of(w, slot));
	w->read_busy = err == 0;
	return err;
}

/* A full ring (first-in first-out, `n` items from `head`) twice as large,
 * its items moved to the front; `first` items when it had none. */
static int ring_grow(void **items, size_t *head, size_t n, size_t *cap, size_t esize, size_t first)
{
	size_t ncap = *cap ? *cap * 2 : first;
	uint8_t *q = malloc(ncap * esize);
	if (!q)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		memcpy(q + i * esize, (uint8_t *)*items + ((*head + i) % *cap) * esize, esize);
	free(*items);
	*items = q;
	*cap = ncap;
	*head = 0;
	return 0;
}

static int push_inflight(jp__worker *w, jp__inflight b)
{
	if (w->inflight_n == w->inflight_cap &&
	    ring_grow((void **)&w->inflight, &w->inflight_head, w->inflight_n, &w->inflight_cap,
		      sizeof *w->inflight, 8))
		return -ENOMEM;
	w->inflight[(w->inflight_head + w->inflight_n++) % w->inflight_cap] = b;
	return 0;
}

static void pop_inflight(jp__worker *w)
{
	w->inflight_head = (w->inflight_head + 1) % w->inflight_cap;
	w->inflight_n--;
}

static int push_requeue(jp__run *r, jp__inflight b)
{
	if (r->nrequeue == r->requeue_cap) {
		size_t cap = r->requeue_cap ? r->requeue_cap * 2 : 8;
		jp__inflight *q = realloc(r->requeue, cap * sizeof *q);
		if (!q)
			return -ENOMEM;
		r->requeue = q;
		r->requeue_cap = cap;
	}
	r->requeue[r->nrequeue++] = b;
	return 0;
}

/* ---- workers coming and going ----------------------------------------- */

/* Start a worker in an empty slot, unless the throttle holds it back. */
static void respawn(jp_pool *p, int slot)
{
	jp__worker *w = &p->workers[slot];
	if (w->pid || jp__now() < w->respawn_after)
		return;
	if (jp__worker_spawn(p, slot) == 0) {
		post_read(p, slot);
		return;
	}
	/* it could not start: that counts as a quick death */
	w->quick_deaths++;
	double delay = THROTTLE_MIN_S * (double)(1u << (w->quick_deaths < 8 ? w->quick_deaths : 8));
	w->respawn_after = jp__now() + (delay < THROTTLE_MAX_S ? delay : THROTTLE_MAX_S);
	if (p->cfg.verbose)
		fprintf(stderr, "[jobpool] worker %d could not be replaced: %s\n", slot, p->errmsg);
}

/* A worker is gone (reaped): was it a quick death? */
static void note_death(jp__worker *w, double spawned_at, unsigned long tasks)
{
	double now = jp__now();
	if (now - spawned_at < QUICK_DEATH_S && tasks == 0) {
		if (++w->quick_deaths >= QUICK_DEATHS) {
			unsigned k = w->quick_deaths - QUICK_DEATHS;
			double delay = THROTTLE_MIN_S * (double)(1u << (k < 8 ? k : 8));
			w->respawn_after = now + (delay < THROTTLE_MAX_S ? delay : THROTTLE_MAX_S);
		}
	} else {
		w->quick_deaths = 0;
	}
}

/* The batches a lost worker had: the one it was running is blamed (with
 * retries left it runs again, elsewhere), those queued behind it are
 * innocent and sent again when their frames were kept. */
static void salvage(jp_call *c, jp__worker *w, int err, bool *blamed_retried)
{
	jp__run *r = &c->run;
	int retries = c->pool->cfg.retries;
	*blamed_retried = false;
	for (size_t k = 0; k < w->inflight_n; k++) {
		jp__inflight b = w->inflight[(w->inflight_head + k) % w->inflight_cap];
		bool head = k == 0, again = b.frame && (!head || (err == JP_EWORKER && b.attempts < retries));
		if (again)
			b.attempts += head; /* counted after a failure too: on_error
					     * "continue" runs on, within retries */
		if (again && (c->err && !c->pool->cfg.continue_on_error))
			again = false; /* the call failed already: nothing more runs */
		if (again && push_requeue(r, b) == 0) {
			*blamed_retried |= head;
			continue;
		}
		free(b.frame);
		/* whatever that batch produced died with the worker */
		for (size_t i = 0; i < b.nseq; i++) {
			jp__slot *s = jp__call_slot(c, b.seq_first + i);
			if (s->status == JP__PENDING)
				s->status = head ? err : JP_ECANCELED;
		}
	}
	r->inflight -= w->inflight_n;
	w->inflight_n = 0;
	w->items_inflight = 0;
}

/* A worker died, broke the protocol, or ran past the timeout: blame the
 * batch it was running, save or cancel the rest of its queue, and put a
 * new worker in its slot. `why` (when the master ends it) says what it did. */
static void worker_lost(jp_call *c, int slot, int err, const char *why)
{
	jp_pool *p = c->pool;
	jp__worker *w = &p->workers[slot];
	int pid = (int)w->pid;
	char how[96] = "";
	bool blamed = w->inflight_n > 0;
	jp__inflight head = blamed ? w->inflight[w->inflight_head] : (jp__inflight){ 0 };
	double spawned_at = w->spawned_at;
	unsigned long tasks = w->tasks_since_spawn;
	bool retried = false, epipe = w->send_failed;
	if (why)
		kill(w->pid, SIGKILL);
	salvage(c, w, err, &retried);
	jp__worker_reap(p, slot, how, sizeof how);
	note_death(w, spawned_at, tasks);
	if (blamed) {
		char what[128];
		if (head.nseq == 1)
			jp__call_describe(c, head.seq_first, what, sizeof what);
		else
			jp__msgf(what, sizeof what, "one of tasks [%zu, %zu) (\"%s\"...)",
				 head.seq_first, head.seq_first + head.nseq,
				 jp__call_task_of(c, head.seq_first));
		size_t first = jp__call_slot(c, head.seq_first)->begin;
		if (retried) {
			if (p->cfg.verbose)
				fprintf(stderr, "[jobpool] %s killed worker %d (pid %d) %s: running it again (%d of %d)\n",
					what, slot, pid, how, head.attempts + 1, p->cfg.retries);
		} else if (err == JP_ETIMEOUT) {
			jp__call_fail(c, err, first, "%s ran past the timeout of %g s in worker %d (pid %d), which was killed and replaced",
				      what, p->cfg.timeout, slot, pid);
		} else if (why) {
			jp__call_fail(c, err, first, "worker %d (pid %d) running %s %s", slot, pid, what, why);
		} else {
			jp__call_fail(c, err, first, "%s killed worker %d (pid %d) %s%s%s", what, slot, pid,
				      how, head.attempts ? " (after retries)" : "",
				      epipe ? "; sending to it had failed (EPIPE)" : "");
		}
	}
	respawn(p, slot);
}

/* Replace an idle worker that is due for recycling. */
static void retire(jp_call *c, int slot)
{
	jp_pool *p = c->pool;
	jp__worker *w = &p->workers[slot];
	if (p->cfg.verbose)
		fprintf(stderr, "[jobpool] replacing worker %d (pid %d) after %lu tasks\n", slot,
			(int)w->pid, w->tasks_since_spawn);
	kill(w->pid, SIGKILL); /* idle: nothing of the call is lost */
	jp__worker_reap(p, slot, NULL, 0);
	respawn(p, slot);
}

/* Resident bytes of a process that no file backs, from /proc; 0 when
 * unknown. Pages of shared arrays (and of spare files the workers keep
 * mapped) are file pages: counting them would retire every worker that
 * reads a large array, and they are not what a leaking task grows. */
static size_t rss_of(pid_t pid)
{
	char path[64], buf[128];
	snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	unsigned long size, resident, file;
	if (sscanf(buf, "%lu %lu %lu", &size, &resident, &file) != 3 || file > resident)
		return 0;
	return (size_t)(resident - file) * (size_t)sysconf(_SC_PAGESIZE);
}

/* After a batch: whether the worker is due for replacement, by tasks run
 * or by memory grown since its first batch (loky's rule, at most once a
 * second). */
static void check_recycling(jp_pool *p, jp__worker *w)
{
	if (p->cfg.max_tasks && w->tasks_since_spawn >= p->cfg.max_tasks)
		w->retiring = true;
	double now = jp__now();
	if (p->cfg.max_rss_growth < 0 || now - w->rss_checked < RSS_CHECK_S)
		return;
	w->rss_checked = now;
	size_t rss = rss_of(w->pid);
	if (!w->rss_base)
		w->rss_base = rss;
	else if (rss > w->rss_base && rss - w->rss_base > (size_t)p->cfg.max_rss_growth)
		w->retiring = true;
}

/* Take in every complete frame in the worker's buffer. */
/* Take in one result frame of a worker; false when the worker was lost
 * over it. */
static bool take_result(jp_call *c, int slot, const uint8_t *frame, size_t len, jp__buf *own)
{
	jp__run *r = &c->run;
	jp_pool *p = c->pool;
	jp__worker *w = &p->workers[slot];
	if (w->inflight_n == 0) {
		worker_lost(c, slot, JP_EFRAME, "sent a result nobody asked for");
		return false;
	}
	size_t units;
	int err = jp__call_ingest(c, r->call_id, frame, len, own, w->who, &units);
	if (!err && units != w->inflight[w->inflight_head].nseq)
		err = JP_EFRAME;
	if (err == JP_EFRAME) {
		worker_lost(c, slot, JP_EFRAME, "sent a result that does not match its batch");
		return false;
	}
	if (err)
		jp__call_fail(c, err, 0, "taking in a result: %s", jp_strerror(err));
	/* the batch started when it was sent or when the one before it came
	 * back, whichever was later: its own run time */
	jp__inflight done = w->inflight[w->inflight_head];
	uint32_t run_ns = jp__result_run_ns(frame);
	if (run_ns && done.items) {
		double per = run_ns * 1e-9 / (double)done.items;
		r->run_item_s = r->run_item_s == 0 ? per
						   : AUTO_SMOOTHING * r->run_item_s + (1 - AUTO_SMOOTHING) * per;
	}
	double t = jp__now(), start = done.sent > w->last_done ? done.sent : w->last_done;
	w->last_done = t;
	p->last_batch_s = t - start;
	free(done.frame);
	pop_inflight(w);
	r->inflight--;
	w->tasks_done += done.items;
	w->tasks_since_spawn += done.items;
	w->items_inflight -= done.items;
	w->quick_deaths = 0;
	check_recycling(p, w);
	batch_done(c, done.items, t - start);
	jp__status_done(c, slot, &done, start, t);
	return true;
}

/* The whole frames at the front of data: RESULT frames taken in, NOP
 * frames (wake-ups) skipped. Returns the bytes used, or SIZE_MAX when the
 * worker was lost over them or a big frame was handed over (owned). */
static size_t take_frames_in(jp_call *c, int slot, uint8_t *data, size_t len, bool may_own)
{
	size_t pos = 0;
	while (len - pos >= JP__FRAME_HDR) {
		jp__frame_header h;
		if (jp__frame_header_parse(data + pos, &h) ||
		    (h.type != JP__F_RESULT && h.type != JP__F_NOP)) {
			worker_lost(c, slot, JP_EFRAME, "sent a malformed frame");
			return SIZE_MAX;
		}
		if (len - pos < h.len)
			break;
		if (h.type == JP__F_RESULT) {
			/* a big frame alone in the worker's buffer: the call takes
			 * the buffer rather than a copy */
			bool owned = may_own && pos == 0 && h.len == len && h.len >= BIG_FRAME;
			jp__worker *w = &c->pool->workers[slot];
			if (!take_result(c, slot, data + pos, h.len, owned ? &w->in : NULL) || owned)
				return SIZE_MAX;
		}
		pos += h.len;
	}
	return pos;
}

/*
 * Take in what a worker sent, in the order it sent it: its pipe's bytes
 * (w->in holds those read and not yet taken, from pipe offset pipe_in -
 * in.len) and its lane's chunks, each of which comes after the pipe bytes
 * its mark counts and before any later one. Returns the chunks taken.
 */
static int take_stream(jp_call *c, int slot)
{
	jp_pool *p = c->pool;
	jp__worker *w = &p->workers[slot];
	jp__lane *l = p->lanes ? &p->lanes[slot] : NULL;
	int chunks = 0;
	while (w->pid) {
		uint64_t at = w->pipe_in - w->in.len, mark = 0;
		size_t len = 0;
		int rc = l ? jp__ring_peek(&l->to_master, &len, &mark) : 0;
		if (rc < 0 || (rc > 0 && mark < at)) {
			worker_lost(c, slot, JP_EFRAME, "sent a malformed frame by its lane");
			break;
		}
		if (rc > 0 && mark == at) {
			if (jp__buf_reserve_exact(&p->lane_in, len)) {
				worker_lost(c, slot, -ENOMEM, "could not be read");
				break;
			}
			jp__ring_pop(&l->to_master, p->lane_in.data, len);
			chunks++;
			size_t used = take_frames_in(c, slot, p->lane_in.data, len, false);
			if (used != SIZE_MAX && used != len)
				worker_lost(c, slot, JP_EFRAME, "sent a frame cut short by its lane");
			continue;
		}
		/* the pipe's frames up to the next chunk */
		size_t limit = w->in.len;
		if (rc > 0 && mark - at < limit)
			limit = (size_t)(mark - at);
		size_t pos = take_frames_in(c, slot, w->in.data, limit, true);
		if (pos == SIZE_MAX)
			break;
		if (pos) {
			memmove(w->in.data, w->in.data + pos, w->in.len - pos);
			w->in.len -= pos;
		}
		if (!(rc > 0 && w->pipe_in - w->in.len == mark))
			break; /* no chunk is due: more pipe bytes are */
	}
	return chunks;
}

static int take_lanes(jp_call *c)
{
	int taken = 0;
	for (int i = 0; c->pool->lanes && i < c->pool->n_workers; i++)
		taken += take_stream(c, i);
	return taken;
}

static void on_event(jp_call *c, const jp__io_event *ev)
{
	jp_pool *p = c->pool;
	if (ev->tag == SIGINT_TAG) {
		c->run.sigint_watched = false; /* the pump looks at the count */
		return;
	}
	int slot = (int)(uint32_t)ev->tag;
	if (slot >= p->n_workers)
		return;
	jp__worker *w = &p->workers[slot];
	if (w->generation != (uint32_t)(ev->tag >> 32) || !w->pid)
		return; /* about a worker already replaced */
	if (ev->kind == JP__IO_WRITE) {
		w->write_busy = false;
		w->sending.len = 0;
		if (ev->res >= 0)
			flush_writes(p, slot);
		else
			w->send_failed = true;
		return;
	}
	w->read_busy = false;
	if (ev->res <= 0) {
		/* what it answered by its lane first: nothing done is lost */
		take_stream(c, slot);
		if (w->pid)
			worker_lost(c, slot, JP_EWORKER, NULL);
		return;
	}
	w->in.len += (size_t)ev->res;
	w->pipe_in += (uint64_t)ev->res;
	take_stream(c, slot);
	if (w->pid)
		post_read(p, slot);
}

/* A worker that died between calls is replaced before it is given work.
 * Its death shows as the end of file of the read kept posted on its
 * pipe, which the engine reports without a system call when nothing is
 * pending (io_uring's rings are shared memory; poll asks once for all):
 * only a worker with no read posted is asked after with waitpid. */
static void replace_dead_workers(jp_call *c)
{
	jp_pool *p = c->pool;
	jp__io_event ev[64];
	int n;
	while ((n = jp__io_wait(p->io, ev, 64, 0)) > 0)
		for (int k = 0; k < n; k++)
			on_event(c, &ev[k]);
	for (int i = 0; i < p->n_workers; i++) {
		jp__worker *w = &p->workers[i];
		int status;
		if (w->pid && (w->read_busy || waitpid(w->pid, &status, WNOHANG) == 0)) {
			post_read(p, i);
			continue;
		}
		if (w->pid) {
			double spawned_at = w->spawned_at;
			unsigned long tasks = w->tasks_since_spawn;
			jp__worker_reap(p, i, NULL, 0);
			note_death(w, spawned_at, tasks);
		}
		respawn(p, i);
	}
}

/* Items worker w may still be given: max_tasks_per_worker counts what it
 * ran and what it has queued. */
static unsigned long budget(const jp_pool *p, const jp__worker *w)
{
	if (!p->cfg.max_tasks)
		return ULONG_MAX;
	unsigned long used = w->tasks_since_spawn + w->items_inflight;
	return used < p->cfg.max_tasks ? p->cfg.max_tasks - used : 0;
}

/* With the active wait, how far a worker is from running a batch handed
 * to it now, from what its lane last said: 0 spinning on a CPU of its
 * own; then, while the master spins for results, 1 asleep (a wake-up,
 * tens of microseconds, once: the kernel puts a woken process on an idle
 * CPU, where it then spins) and 2 spinning on the master's CPU (it runs
 * only when the spinning master yields: two context switches at every
 * batch, for as long as the kernel leaves the two together, which it did
 * for whole runs of 5,000 calls; ranked before the sleeper, it kept the
 * 2-task call at 1.9 us in 3 of 12 such runs against 1.0, and in none of
 * 12 ranked after). While the master sleeps through long batches, a worker
 * beside it is in nobody's way and starts at once, so it goes before the
 * sleeper (vectorize's calls, batches of about 25 us, measured the same
 * either way within their run-to-run spread of 240 to 420 us). */
static int distance(const jp_pool *p, int slot, int master_cpu, bool master_spins)
{
	const jp__lane *l = &p->lanes[slot];
	if (__atomic_load_n(&l->worker_sleeping, __ATOMIC_RELAXED))
		return master_spins ? 1 : 2;
	if (__atomic_load_n(&l->worker_cpu, __ATOMIC_RELAXED) != master_cpu)
		return 0;
	return master_spins ? 2 : 1;
}

/* The CPU the master runs on, told to the workers when it changed: one
 * that shares it yields to the master after each look (lane.h). */
static int master_cpu(jp_pool *p)
{
	int cpu = sched_getcpu();
	for (int i = 0; i < p->n_workers; i++)
		if (p->lanes[i].master_cpu != cpu)
			__atomic_store_n(&p->lanes[i].master_cpu, cpu, __ATOMIC_RELAXED);
	return cpu;
}

static int least_loaded(jp_call *c)
{
	jp_pool *p = c->pool;
	int best = -1, n = p->n_workers, cpu = p->lanes ? master_cpu(p) : -1, best_d = 0;
	bool spins = p->lanes && jp__sched_master_spin_s(p) > 0;
	for (int k = 0; k < n; k++) {
		int i = (c->run.rr + k) % n;
		jp__worker *w = &p->workers[i];
		if (!w->pid || w->retiring || !budget(p, w))
			continue;
		/* equally loaded: the nearest */
		int d = p->lanes ? distance(p, i, cpu, spins) : 0;
		if (best < 0 || w->inflight_n < p->workers[best].inflight_n ||
		    (w->inflight_n == p->workers[best].inflight_n && d < best_d)) {
			best = i;
			best_d = d;
		}
	}
	c->run.rr = (c->run.rr + 1) % n;
	return best;
}

/* A worker for the next batch: the least loaded one that may take work.
 * -1 when none is alive (the call fails) or all are busy being recycled
 * (*wait set: their batches will come back). */
static int pick_worker(jp_call *c, size_t first, bool *wait)
{
	jp_pool *p = c->pool;
	*wait = false;
	int slot = least_loaded(c);
	if (slot >= 0)
		return slot;
	/* idle workers due for recycling are replaced now rather than after
	 * the next wait, which nothing would end */
	for (int i = 0; i < p->n_workers; i++)
		if (p->workers[i].pid && p->workers[i].retiring && !p->workers[i].inflight_n)
			retire(c, i);
	if ((slot = least_loaded(c)) >= 0)
		return slot;
	for (int i = 0; i < p->n_workers; i++)
		if (p->workers[i].pid)
			*wait = true;
	if (!*wait && c->run.inflight == 0) {
		/* every slot empty: wait out the throttle once, then give up */
		double soonest = 0;
		for (int i = 0; i < p->n_workers; i++)
			if (!soonest || p->workers[i].respawn_after < soonest)
				soonest = p->workers[i].respawn_after;
		double t = soonest - jp__now();
		if (t > 0 && t <= THROTTLE_MAX_S) {
			struct timespec ts = { (time_t)t, (long)((t - (double)(time_t)t) * 1e9) };
			nanosleep(&ts, NULL);
		}
		for (int i = 0; i < p->n_workers; i++)
			respawn(p, i);
		if ((slot = least_loaded(c)) >= 0)
			return slot;
		jp__call_fail(c, JP_EWORKER, first, "no live worker to run task %zu: %s", first,
			      p->errmsg);
	}
	*wait = c->run.inflight > 0;
	return -1;
}

/* Queue a batch frame (and the CALL frame first if the worker lacks it). */
static int queue_frame(jp_call *c, int slot, jp__inflight *b, size_t seq, bool encode)
{
	jp__run *r = &c->run;
	jp__worker *w = &c->pool->workers[slot];
	int err = 0;
	bool renumber = false;
	if (w->call_sent != r->call_id) {
		/* one that holds a CALL frame alike (the last call's, as a loop
		 * of calls makes) gets none: the batch says so */
		renumber = w->call_gen == r->callf_gen;
		if (!renumber)
			err = jp__buf_append(&w->queued, r->callf.data, r->callf.len);
		w->call_sent = r->call_id;
		w->call_gen = r->callf_gen;
	}
	/* a frame starts 64-byte aligned in the buffer */
	size_t at = jp__align_up(w->queued.len, JP__FRAME_ALIGN);
	if (!err && encode)
		err = jp__call_encode_batch(c, r->call_id, seq, b->first, b->items, &w->queued);
	else if (!err)
		err = jp__buf_append(&w->queued, b->frame, b->frame_len);
	if (!err)
		jp__batch_set_flags(&w->queued, at, renumber ? JP__BATCH_RENUMBER : 0);
	if (!err && encode && r->keep_frames) {
		/* the frame may be needed again: a copy */
		size_t len = w->queued.len - at;
		b->frame = malloc(len);
		if (!b->frame)
			err = -ENOMEM;
		else
			memcpy(b->frame, w->queued.data + at, len);
		b->frame_len = len;
	}
	b->sent = jp__now();
	if (!err)
		err = push_inflight(w, *b);
	if (err) {
		if (encode)
			free(b->frame);
		jp__call_fail(c, err, b->first, "dispatching task %zu: %s", b->first, jp_strerror(err));
		return err;
	}
	r->inflight++;
	w->items_inflight += b->items;
	jp__status_sent(c, slot, b);
	flush_writes(c->pool, slot);
	return 0;
}

/* ---- the run ----------------------------------------------------------- */

/* Whether every item has been dispatched (or none will be). */
static bool all_dispatched(const jp_call *c)
{
	const jp__run *r = &c->run;
	if (r->ended || (c->err && !c->pool->cfg.continue_on_error))
		return true;
	return r->nrequeue == 0 && r->next >= c->n && (!c->make_item || c->made_all);
}

/* A generator named tasks the CALL frame does not have: a new frame, which
 * each worker gets before its next batch (names are only appended, so the
 * batches sent before keep their meaning). */
static int resend_call(jp_call *c)
{
	jp__run *r = &c->run;
	jp_pool *p = c->pool;
	r->callf.len = 0;
	int err = jp__call_encode_frame(c, r->call_id, &r->callf);
	if (err) {
		jp__call_fail(c, err, r->next, "encoding the call: %s", jp_strerror(err));
		return err;
	}
	r->ntasks_sent = c->ntasks;
	r->callf_gen = ++p->callf_gen;
	p->last_callf.len = 0;
	for (int i = 0; i < p->n_workers; i++)
		p->workers[i].call_sent = 0;
	if (r->runner_set) {
		give_runner(p, &r->runner);
		r->runner_set = false;
	}
	return 0;
}

/* Batches lost with a worker go out again first, to whichever worker. */
static int send_requeued(jp_call *c, bool *stalled)
{
	jp__run *r = &c->run;
	*stalled = false;
	while (r->nrequeue && r->inflight < c->pool->cfg.pre_dispatch) {
		bool wait;
		int slot = pick_worker(c, r->requeue[0].first, &wait);
		if (slot < 0) {
			*stalled = wait;
			return wait ? 0 : JP_EWORKER;
		}
		jp__inflight b = r->requeue[0];
		memmove(r->requeue, r->requeue + 1, --r->nrequeue * sizeof *r->requeue);
		for (size_t i = 0; i < b.nseq; i++)
			jp__call_slot(c, b.seq_first + i)->status = JP__PENDING;
		int err = queue_frame(c, slot, &b, 0, false);
		if (err) {
			free(b.frame);
			return err;
		}
	}
	return 0;
}

/* Dispatch what pre_dispatch allows (the sequential backend runs one
 * batch, or in a collected call all of them). */
static int dispatch_more(jp_call *c)
{
	jp__run *r = &c->run;
	jp_pool *p = c->pool;
	size_t w = (size_t)workers_of(p);
	bool stalled = false;
	if (p->n_workers && !all_dispatched(c)) {
		int err = send_requeued(c, &stalled);
		if (err || stalled)
			return err;
	}
	while (!all_dispatched(c) && (p->n_workers == 0 || r->inflight < p->cfg.pre_dispatch)) {
		if (c->make_item && r->next == c->n) {
			/* the items made before are all in frames: make the next
			 * ones, as many as n_jobs batches */
			jp__call_drop_made_items(c);
			size_t ahead = (r->bs_fixed ? r->bs_fixed : r->bs) * w;
			if (jp__call_make_items(c, c->n + (ahead ? ahead : 1)))
				return c->err;
			if (r->next == c->n)
				continue; /* none made: the end */
			if (c->ntasks != r->ntasks_sent) {
				int err = resend_call(c);
				if (err)
					return err;
			}
		}
		size_t count = batch_items(c, c->n - r->next, !c->make_item || c->made_all);
		int err;
		if (p->n_workers) {
			bool wait;
			int slot = pick_worker(c, r->next, &wait);
			if (slot < 0)
				return wait ? 0 : JP_EWORKER;
			unsigned long room = budget(p, &p->workers[slot]);
			if (count > room)
				count = room;
			jp__inflight b = { .seq_first = c->is_map ? r->seq : r->next,
					   .nseq = c->is_map ? 1 : count, .items = count, .first = r->next };
			err = queue_frame(c, slot, &b, r->seq, true);
		} else {
			err = run_inline(c, r->next, count, r->seq);
			if (!err && sigint_seen(r))
				err = JP_EINTR;
		}
		if (err)
			return err;
		r->next += count;
		r->seq++;
		/* here a SIGINT matters between batches: the handler goes in
		 * after the first, when more follow, so a call of one batch
		 * makes no system call for it */
		if (!p->n_workers && !p->threads && !r->sigint_caught && !all_dispatched(c)) {
			r->sigint_caught = true;
			catch_sigint();
		}
		if (!p->n_workers && r->mode != JP__COLLECT)
			break; /* a stream takes each result before the next runs */
	}
	return 0;
}

/* SIGINT: the workers that were busy are stopped and replaced, nothing
 * more runs, the call fails with JP_EINTR. */
static void interrupt_call(jp_call *c)
{
	jp__run *r = &c->run;
	jp_pool *p = c->pool;
	r->interrupted = true;
	jp__call_fail(c, JP_EINTR, r->next, "the call was interrupted by SIGINT: %zu of %zu items were done",
		      r->done, c->n);
	for (int i = 0; i < p->n_workers; i++) {
		jp__worker *w = &p->workers[i];
		if (!w->inflight_n || !w->pid)
			continue;
		kill(w->pid, SIGKILL);
		bool retried;
		salvage(c, w, JP_EINTR, &retried);
		jp__worker_reap(p, i, NULL, 0);
		respawn(p, i);
	}
	for (size_t i = 0; i < r->nrequeue; i++)
		free(r->requeue[i].frame);
	r->nrequeue = 0;
	r->ended = true;
}

/* Milliseconds until the first batch on a worker passes its deadline (a
 * map's run gets `timeout`, a builder batch of k items k times it); -1
 * when no timeout is set or nothing is running. */
static int ms_to_deadline(jp_call *c, double now, int *late)
{
	jp_pool *p = c->pool;
	*late = -1;
	if (p->cfg.timeout <= 0)
		return -1;
	double soonest = -1;
	for (int i = 0; i < p->n_workers; i++) {
		jp__worker *w = &p->workers[i];
		if (!w->pid || !w->inflight_n)
			continue;
		jp__inflight *h = &w->inflight[w->inflight_head];
		double start = h->sent > w->last_done ? h->sent : w->last_done;
		double deadline = start + p->cfg.timeout * (double)(c->is_map ? 1 : h->items);
		if (deadline <= now && *late < 0)
			*late = i;
		if (soonest < 0 || deadline < soonest)
			soonest = deadline;
	}
	if (soonest < 0)
		return -1;
	double ms = (soonest - now) * 1000.0;
	return ms <= 0 ? 0 : ms > 1e9 ? 1000000000 : (int)ms + 1;
}

/* Whether a live worker's lane holds a chunk for the master. */
static bool lanes_nonempty(const jp_pool *p)
{
	for (int i = 0; i < p->n_workers; i++)
		if (p->workers[i].pid && jp__ring_nonempty(&p->lanes[i].to_master))
			return true;
	return false;
}

/*
 * The active wait spins for results that come within spin_s: batches that
 * take longer than that leave it sleeping anyway once the spin is over, so
 * spinning first gains nothing. It costs, where the master shares a CPU
 * with a worker: each look ends in sched_yield, the worker then computes
 * until the scheduler preempts it (a slice, milliseconds), and meanwhile
 * the master counts as spinning, so a result from the other worker wakes
 * no one. The 10^7-element dot (8 batches of 1.5 ms) ran 1.23 times slower
 * with the active wait than with the passive one on 2 CPUs for that. So
 * the master sleeps at once while the last batch returned took more than
 * twice spin_s, and spins again after one that did not.
 */
double jp__sched_master_spin_s(const jp_pool *p)
{
	return p->last_batch_s > 2 * p->cfg.spin_s ? 0 : p->cfg.spin_s;
}

/* The active wait with lanes: poll the lanes and the engine (without
 * blocking) for up to spin_s, then say so in every lane and block in the
 * engine, which a worker that pushes a chunk then wakes with a NOP frame.
 * Returns the engine's events; chunks found are taken here (0 events). */
static int wait_with_lanes(jp_call *c, jp__io_event *ev, int max, int timeout_ms)
{
	jp_pool *p = c->pool;
	if (take_lanes(c))
		return 0;
	double spin = jp__sched_master_spin_s(p);
	if (timeout_ms >= 0 && spin > timeout_ms * 1e-3)
		spin = timeout_ms * 1e-3;
	double until = jp__now() + spin;
	/* after each look only while a worker it waits for shares its CPU */
	int cpu = master_cpu(p);
	bool yield_each = false;
	for (int i = 0; i < p->n_workers; i++)
		yield_each |= p->workers[i].inflight_n &&
			      jp__lane_yield_each(&p->lanes[i], cpu, p->lanes[i].worker_cpu);
	for (unsigned k = 1;; k++) {
		/* results come by the lanes; the engine (a worker's exit, a big
		 * result, a write done) is asked every 8th turn: its own poll can
		 * cost a system call */
		int n = k % 8 == 0 ? jp__io_wait(p->io, ev, max, 0) : 0;
		if (n)
			return n;
		if (take_lanes(c))
			return 0;
		if (jp__now() >= until)
			break;
		bool come = false;
		for (int i = 0; !yield_each && i < JP__SPIN_LOOKS && !come; i++)
			come = lanes_nonempty(p);
		if (!come)
			jp__io_spin_pause();
	}
	if (!c->run.sigint_caught) {
		c->run.sigint_caught = true;
		catch_sigint();
	}
	watch_sigint(c);
	for (int i = 0; i < p->n_workers; i++)
		jp__lane_will_sleep(&p->lanes[i].master_sleeping);
	/* a chunk waiting for pipe bytes is no reason not to sleep: the
	 * bytes wake us */
	bool ready = false;
	for (int i = 0; i < p->n_workers; i++) {
		const jp__worker *w = &p->workers[i];
		size_t len;
		uint64_t mark;
		if (w->pid && jp__ring_nonempty(&p->lanes[i].to_master))
			ready |= jp__ring_peek(&p->lanes[i].to_master, &len, &mark) < 0 ||
				 mark <= w->pipe_in - w->in.len;
	}
	int n = ready ? 0 : jp__io_wait(p->io, ev, max, timeout_ms);
	for (int i = 0; i < p->n_workers; i++)
		jp__lane_awake(&p->lanes[i].master_sleeping);
	return n;
}

/* One round: dispatch, then wait for what the workers send. */
static int pump(jp_call *c)
{
	jp__run *r = &c->run;
	jp_pool *p = c->pool;
	if (sigint_seen(r) && !r->interrupted) {
		interrupt_call(c);
		return JP_EINTR;
	}
	int err = dispatch_more(c);
	if (err == JP_EINTR) {
		r->interrupted = true;
		jp__call_fail(c, JP_EINTR, r->next, "the call was interrupted by SIGINT: %zu of %zu items were done",
			      r->done, c->n);
		return err;
	}
	if (err && !r->inflight)
		return err;
	if (!r->inflight)
		return 0;
	int late, wait_ms = ms_to_deadline(c, jp__now(), &late);
	if (late >= 0) {
		worker_lost(c, late, JP_ETIMEOUT, "ran past the timeout");
		return 0;
	}
	if (!p->lanes)
		watch_sigint(c); /* wait_with_lanes does, once it would sleep */
	jp__io_event ev[64];
	int n = p->lanes ? wait_with_lanes(c, ev, 64, wait_ms) : jp__io_wait(p->io, ev, 64, wait_ms);
	if (n == -EINTR)
		n = 0;
	if (n < 0) {
		/* the batches in flight can no longer be followed: their workers
		 * are replaced so no stale result reaches a later call */
		jp__call_fail(c, n, r->next, "waiting for results: %s", jp_strerror(n));
		for (int i = 0; i < p->n_workers; i++)
			if (p->workers[i].inflight_n)
				worker_lost(c, i, n, "was abandoned");
		return n;
	}
	for (int i = 0; i < n; i++)
		on_event(c, &ev[i]);
	take_lanes(c); /* chunks that waited for pipe bytes just read */
	/* workers due for recycling go once idle */
	for (int i = 0; i < p->n_workers; i++)
		if (p->workers[i].pid && p->workers[i].retiring && !p->workers[i].inflight_n)
			retire(c, i);
	return 0;
}

static bool finished(const jp_call *c)
{
	return c->run.inflight == 0 && all_dispatched(c);
}

/* The thread backend plans and runs a whole call at once (threads.c); a
 * stream then hands out what it collected, and progress is reported at
 * the end only. A generator's items are all made first. */
static int run_on_threads(jp_call *c)
{
	jp__run *r = &c->run;
	int err = c->make_item ? jp__call_make_all_items(c) : 0;
	if (!err)
		/* the CALL frame of the start, unless a generator named tasks
		 * since */
		err = jp__threads_run(c, r->call_id, c->ntasks == r->ntasks_sent ? &r->callf : NULL);
	r->next = c->n;
	r->done = c->n;
	r->ended = true; /* nothing more to dispatch */
	return err == c->err ? 0 : err; /* a task's failure is the call's, not the start's */
}

/* A call's scratch buffers come from the pool and go back to it, so a
 * warm call allocates none: allocating and freeing three 64-byte aligned
 * buffers was a fifth of a sequential call's instructions. One that grew
 * past KEPT_BUF_MAX is freed rather than held between calls. */
#define KEPT_BUF_MAX (64u << 10)

static void lend_buf(jp__buf *to, jp__buf *kept)
{
	*to = *kept;
	to->len = 0;
	*kept = (jp__buf){ 0 };
}

static void return_buf(jp__buf *kept, jp__buf *b)
{
	if (!kept->data && b->cap <= KEPT_BUF_MAX) {
		*kept = *b;
		*b = (jp__buf){ 0 };
	} else {
		jp__buf_free(b);
	}
}

int jp__sched_start(jp_call *c, enum jp__delivery mode)
{
	jp_pool *p = c->pool;
	jp__run *r = &c->run;
	jp__run fresh = { .active = true, .mode = mode, .call_id = ++p->last_call_id,
			  .bs_fixed = c->batch_size ? c->batch_size : p->cfg.batch_size, .bs = 1,
			  .t0 = jp__now(),
			  .keep_frames = p->cfg.retries > 0 || p->cfg.continue_on_error };
	*r = fresh;
	lend_buf(&r->callf, &p->kept_callf);
	lend_buf(&r->batch, &p->kept_batch);
	lend_buf(&r->out, &p->kept_out);
	/* threads cannot be stopped: a SIGINT keeps its own meaning there */
	/* with lanes, a call that ends within its spin makes no system call
	 * for SIGINT: the handler goes in when the master first sleeps; in
	 * a sequential pool, once the first batch has run */
	r->sigint_caught = !p->threads && !p->lanes && p->n_workers;
	r->sigints = (unsigned long)sigint_count; /* before: another call's */
	if (r->sigint_caught)
		catch_sigint();
	jp__status_call(c, true);
	int err = jp__call_encode_frame(c, r->call_id, &r->callf);
	if (err)
		return err;
	r->ntasks_sent = c->ntasks;
	if (p->n_workers) {
		/* a frame unlike the last one is a new kind; if it cannot be
		 * kept, the next one is too */
		if (!jp__call_frames_alike(r->callf.data, r->callf.len, p->last_callf.data,
					   p->last_callf.len)) {
			p->callf_gen++;
			p->last_callf.len = 0;
			if (jp__buf_append(&p->last_callf, r->callf.data, r->callf.len))
				p->last_callf.len = 0;
		}
		r->callf_gen = p->callf_gen;
		replace_dead_workers(c);
	}
	recall_batch_size(c);
	report(c, false);
	return p->threads ? run_on_threads(c) : 0;
}

int jp__sched_ready(jp_call *c, size_t seq)
{
	jp__run *r = &c->run;
	if (r->nready == r->ready_cap &&
	    ring_grow((void **)&r->ready, &r->ready_head, r->nready, &r->ready_cap, sizeof *r->ready, 64))
		return -ENOMEM;
	r->ready[(r->ready_head + r->nready++) % r->ready_cap] = seq;
	return 0;
}

/* The next slot to hand out, or NULL; *failed when the stream must end
 * with the call's failure instead. */
static jp__slot *deliverable(jp_call *c, bool *failed)
{
	jp__run *r = &c->run;
	*failed = false;
	if (r->mode == JP__UNORDERED) {
		if (r->nready) {
			jp__slot *s = jp__call_slot(c, r->ready[r->ready_head]);
			r->ready_head = (r->ready_head + 1) % r->ready_cap;
			r->nready--;
			if (!s->status)
				return s;
			*failed = true;
			return NULL;
		}
	} else if (r->deliver < c->nslots) {
		jp__slot *s = jp__call_slot(c, r->deliver);
		if (s->status != JP__PENDING) {
			if (s->status) {
				*failed = true;
				return NULL;
			}
			r->deliver++;
			return s;
		}
	}
	/* a failure: once nothing is in flight, what is not ready never will be */
	*failed = c->err && r->inflight == 0;
	return NULL;
}

/* Unordered streams hand slots out in any order: the window slides past
 * the longest prefix handed out. */
static void slide_window(jp_call *c)
{
	jp__run *r = &c->run;
	if (r->mode == JP__UNORDERED)
		while (r->deliver < c->nslots && jp__call_slot(c, r->deliver)->delivered)
			r->deliver++;
	jp__call_compact_slots(c, r->deliver);
}

int jp__sched_next(jp_call *c, jp__slot **out)
{
	jp__run *r = &c->run;
	if (r->held) {
		jp__call_release_slot(c, r->held);
		r->held = NULL;
		slide_window(c);
	}
	for (;;) {
		bool failed;
		jp__slot *s = deliverable(c, &failed);
		if (s) {
			r->held = s;
			*out = s;
			return 1;
		}
		if (failed)
			return c->err ? c->err : JP_ECANCELED;
		if (finished(c))
			return c->err;
		int err = pump(c);
		if (err)
			return err;
	}
}

/* Reap the ends of socket writes still in flight (NOPs, with lanes, often
 * are: results came by the lanes), so that frames sent between calls do not
 * wait behind a write nobody reaps. The workers read their sockets, so the
 * ends come at once; a bound all the same. */
static void settle_writes(jp_call *c)
{
	jp_pool *p = c->pool;
	double until = jp__now() + 0.1;
	for (;;) {
		bool busy = false;
		for (int i = 0; i < p->n_workers; i++)
			busy |= p->workers[i].pid && p->workers[i].write_busy;
		if (!busy || jp__now() > until)
			return;
		jp__io_event ev[64];
		int n = jp__io_wait(p->io, ev, 64, 1);
		if (n < 0)
			return;
		for (int k = 0; k < n; k++)
			on_event(c, &ev[k]);
	}
}

void jp__sched_stop(jp_call *c)
{
	jp__run *r = &c->run;
	if (!r->active)
		return;
	/* nothing more goes out; what is on the workers is awaited, so no
	 * stale result reaches the next call */
	r->ended = true;
	while (r->inflight && pump(c) == 0)
		;
	if (c->pool->lanes)
		settle_writes(c);
	if (r->mode != JP__COLLECT) {
		for (size_t seq = c->slot_base; seq < c->nslots; seq++) {
			jp__slot *s = jp__call_slot(c, seq);
			if (s->block)
				jp__call_release_slot(c, s);
		}
		r->held = NULL;
	}
	report(c, true);
	jp__status_call(c, false);
	if (!c->err)
		remember_batch_size(c);
	unwatch_sigint(c);
	for (size_t i = 0; i < r->nrequeue; i++)
		free(r->requeue[i].frame);
	free(r->requeue);
	r->requeue = NULL;
	r->nrequeue = r->requeue_cap = 0;
	if (r->runner_set)
		give_runner(c->pool, &r->runner);
	return_buf(&c->pool->kept_batch, &r->batch);
	return_buf(&c->pool->kept_out, &r->out);
	return_buf(&c->pool->kept_callf, &r->callf);
	free(r->ready);
	r->ready = NULL;
	r->nready = r->ready_cap = 0;
	r->active = false;
	if (r->sigint_caught && release_sigint(r)) {
		/* SIGINT was at its default: now that the pool is clean, it ends
		 * the program as the Ctrl-C meant to */
		fflush(NULL);
		raise(SIGINT);
	}
}

int jp__sched_run(jp_call *c)
{
	jp_pool *p = c->pool;
	double t0 = p->cfg.verbose > 1 ? jp__now() : 0;
	int err = jp__sched_start(c, JP__COLLECT);
	while (!err && !finished(c))
		err = pump(c);
	uint64_t call_id = c->run.call_id;
	jp__sched_stop(c);
	if (!err)
		err = c->err;
	if (p->cfg.verbose > 1)
		fprintf(stderr, "[jobpool] call %llu: %zu task%s in %.6f s%s\n",
			(unsigned long long)call_id, c->n, c->n == 1 ? "" : "s", jp__now() - t0,
			err ? " (failed)" : "");
	return err;
}

void jp__sched_release(jp_pool *p, const uint64_t *ids, uint32_t n)
{
	/* a call alike the last might name these arrays again: the workers
	 * unmap them now, so it must come with its CALL frame, which maps
	 * them anew */
	p->last_callf.len = 0;
	/* Small frames on idle sockets: they go out at once. A send that
	 * must wait completes during the next call's wait. */
	for (int i = 0; i < p->n_workers; i++) {
		jp__worker *w = &p->workers[i];
		/* by the socket, which wakes a sleeping worker by itself: a NOP
		 * sent now could wait behind a write whose end no call reaps */
		if (w->pid && !jp__release_encode(&w->queued, ids, n))
			send_queued(p, i, false);
	}
	jp__io_flush(p->io); /* no wait follows: io_uring would hold them */
}
