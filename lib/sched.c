/*
 * sched.c - running a call: items grouped into batches (of a fixed size, or
 * adapted to their run time), handed to the least loaded worker with at
 * most pre_dispatch batches in flight, results taken in as they come and
 * kept in submission order by their slots, or handed out as a stream. The
 * sequential backend runs the same frames in the caller, batch by batch.
 */
#include "pool.h"

#include <errno.h>
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
 * different items could not regret much; calls of several tasks start at
 * 1. */
static struct jp__learned *learned_of(jp_call *c)
{
	jp_pool *p = c->pool;
	if (c->ntasks != 1 || strlen(c->names[0]) >= sizeof p->learned[0].task)
		return NULL;
	for (size_t i = 0; i < sizeof p->learned / sizeof p->learned[0]; i++)
		if (!strcmp(p->learned[i].task, c->names[0]))
			return &p->learned[i];
	return NULL;
}

static void recall_batch_size(jp_call *c)
{
	jp__run *r = &c->run;
	struct jp__learned *l = learned_of(c);
	if (r->bs_fixed || !l)
		return;
	size_t cap = c->make_item ? l->bs : c->n / (4 * (size_t)workers_of(c->pool));
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
	}
	l->bs = r->bs;
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

/* ---- the sequential backend: batches run here -------------------------- */

static int run_inline(jp_call *c, size_t first, size_t count, size_t seq)
{
	jp__run *r = &c->run;
	int err = 0;
	if (!r->runner_set) {
		/* the very frames a worker would get, so a task cannot tell the
		 * difference */
		jp__call_header ch;
		r->runner = (jp__runner){ .slot = 0 };
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
	jp__inflight b = { c->is_map ? seq : first, c->is_map ? 1 : count, count, t0 };
	if (!(err = jp__call_encode_batch(c, r->call_id, seq, first, count, &r->batch)))
		err = jp__batch_decode(r->batch.data, r->batch.len, &id, &it);
	bool ran = !err;
	if (ran)
		jp__status_sent(c, 0, &b);
	if (!err)
		err = jp__run_batch(&r->runner, r->call_id, &it, &r->out);
	if (!err) {
		size_t len = r->out.len;
		err = jp__call_ingest(c, r->call_id, jp__buf_take(&r->out), len, true,
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

static void flush_writes(jp_pool *p, int slot)
{
	jp__worker *w = &p->workers[slot];
	if (w->write_busy || w->queued.len == 0)
		return;
	jp__buf t = w->sending;
	w->sending = w->queued;
	w->queued = t;
	w->queued.len = 0;
	int rc = jp__io_write(p->io, w->task_fd, w->sending.data, w->sending.len, tag_of(w, slot));
	/* a failed send means the worker is gone: its pipe's end of file
	 * tells the rest */
	w->write_busy = rc == 1;
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
	int err = need >= BIG_FRAME ? jp__buf_reserve_exact(&w->in, want)
				    : jp__buf_reserve(&w->in, want);
	if (err)
		return err;
	size_t len = need >= BIG_FRAME ? need - w->in.len : w->in.cap - w->in.len;
	err = jp__io_read(p->io, w->result_fd, w->in.data + w->in.len, len, tag_of(w, slot));
	w->read_busy = err == 0;
	return err;
}

static int push_inflight(jp__worker *w, jp__inflight b)
{
	if (w->inflight_n == w->inflight_cap) {
		size_t cap = w->inflight_cap ? w->inflight_cap * 2 : 8;
		jp__inflight *q = malloc(cap * sizeof *q);
		if (!q)
			return -ENOMEM;
		for (size_t i = 0; i < w->inflight_n; i++)
			q[i] = w->inflight[(w->inflight_head + i) % w->inflight_cap];
		free(w->inflight);
		w->inflight = q;
		w->inflight_cap = cap;
		w->inflight_head = 0;
	}
	w->inflight[(w->inflight_head + w->inflight_n++) % w->inflight_cap] = b;
	return 0;
}

static void pop_inflight(jp__worker *w)
{
	w->inflight_head = (w->inflight_head + 1) % w->inflight_cap;
	w->inflight_n--;
}

/* A worker died or broke the protocol: blame the batch it was running,
 * cancel the rest of its queue, and put a new worker in its slot. */
static void worker_lost(jp_call *c, int slot, int err, const char *why)
{
	jp_pool *p = c->pool;
	jp__worker *w = &p->workers[slot];
	int pid = (int)w->pid;
	char how[96] = "";
	bool blamed = w->inflight_n > 0;
	jp__inflight head = blamed ? w->inflight[w->inflight_head] : (jp__inflight){ 0 };
	c->run.inflight -= w->inflight_n;
	if (why)
		kill(w->pid, SIGKILL);
	jp__worker_reap(p, slot, how, sizeof how);
	if (blamed) {
		char what[128];
		if (head.nseq == 1)
			jp__call_describe(c, head.seq_first, what, sizeof what);
		else
			jp__msgf(what, sizeof what, "one of tasks [%zu, %zu) (\"%s\"...)",
				 head.seq_first, head.seq_first + head.nseq,
				 jp__call_task_of(c, head.seq_first));
		size_t first = jp__call_slot(c, head.seq_first)->begin;
		/* whatever that batch produced died with the worker */
		for (size_t i = 0; i < head.nseq; i++) {
			jp__slot *s = jp__call_slot(c, head.seq_first + i);
			if (s->status == JP__PENDING)
				s->status = err;
		}
		if (why)
			jp__call_fail(c, err, first, "worker %d (pid %d) running %s %s", slot, pid, what, why);
		else
			jp__call_fail(c, err, first, "%s killed worker %d (pid %d) %s", what, slot, pid, how);
	}
	if (jp__worker_spawn(p, slot) == 0)
		post_read(p, slot);
	else if (p->cfg.verbose)
		fprintf(stderr, "[jobpool] worker %d could not be replaced: %s\n", slot, p->errmsg);
}

/* Take in every complete frame in the worker's buffer. */
static void take_frames(jp_call *c, int slot)
{
	jp__run *r = &c->run;
	jp__worker *w = &c->pool->workers[slot];
	size_t pos = 0;
	char who[64];
	jp__msgf(who, sizeof who, "worker %d (pid %d)", slot, (int)w->pid);
	while (w->in.len - pos >= JP__FRAME_HDR) {
		jp__frame_header h;
		if (jp__frame_header_parse(w->in.data + pos, &h) || h.type != JP__F_RESULT) {
			worker_lost(c, slot, JP_EFRAME, "sent a malformed frame");
			return;
		}
		if (w->in.len - pos < h.len)
			break;
		if (w->inflight_n == 0) {
			worker_lost(c, slot, JP_EFRAME, "sent a result nobody asked for");
			return;
		}
		bool owned = pos == 0 && h.len == w->in.len && h.len >= BIG_FRAME;
		uint8_t *frame = owned ? jp__buf_take(&w->in) : w->in.data + pos;
		size_t units;
		int err = jp__call_ingest(c, r->call_id, frame, h.len, owned, who, &units);
		if (!err && units != w->inflight[w->inflight_head].nseq)
			err = JP_EFRAME;
		if (err == JP_EFRAME) {
			worker_lost(c, slot, JP_EFRAME, "sent a result that does not match its batch");
			return;
		}
		if (err)
			jp__call_fail(c, err, 0, "taking in a result: %s", jp_strerror(err));
		/* the batch started when it was sent or when the one before it
		 * came back, whichever was later: its own run time */
		jp__inflight done = w->inflight[w->inflight_head];
		double t = jp__now(), start = done.sent > w->last_done ? done.sent : w->last_done;
		w->last_done = t;
		pop_inflight(w);
		r->inflight--;
		w->tasks_done += done.items;
		batch_done(c, done.items, t - start);
		jp__status_done(c, slot, &done, start, t);
		if (owned)
			return;
		pos += h.len;
	}
	if (pos) {
		memmove(w->in.data, w->in.data + pos, w->in.len - pos);
		w->in.len -= pos;
	}
}

static void on_event(jp_call *c, const jp__io_event *ev)
{
	jp_pool *p = c->pool;
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
		return;
	}
	w->read_busy = false;
	if (ev->res <= 0) {
		worker_lost(c, slot, JP_EWORKER, NULL);
		return;
	}
	w->in.len += (size_t)ev->res;
	take_frames(c, slot);
	if (w->pid)
		post_read(p, slot);
}

/* A worker that died between calls is replaced before it is given work. */
static void replace_dead_workers(jp_pool *p)
{
	for (int i = 0; i < p->n_workers; i++) {
		jp__worker *w = &p->workers[i];
		int status;
		if (w->pid && waitpid(w->pid, &status, WNOHANG) == 0) {
			post_read(p, i);
			continue;
		}
		if (w->pid)
			jp__worker_reap(p, i, NULL, 0);
		if (jp__worker_spawn(p, i) == 0)
			post_read(p, i);
	}
}

static int least_loaded(jp_call *c)
{
	jp_pool *p = c->pool;
	int best = -1, n = p->n_workers;
	for (int k = 0; k < n; k++) {
		int i = (c->run.rr + k) % n;
		jp__worker *w = &p->workers[i];
		if (w->pid && (best < 0 || w->inflight_n < p->workers[best].inflight_n))
			best = i;
	}
	c->run.rr = (c->run.rr + 1) % n;
	return best;
}

static int send_batch(jp_call *c, size_t first, size_t count, size_t seq)
{
	jp__run *r = &c->run;
	jp_pool *p = c->pool;
	int slot = least_loaded(c);
	if (slot < 0) {
		jp__call_fail(c, JP_EWORKER, first, "no live worker to run task %zu: %s", first,
			      p->errmsg);
		return JP_EWORKER;
	}
	jp__worker *w = &p->workers[slot];
	int err = 0;
	if (w->call_sent != r->call_id) {
		err = jp__buf_append(&w->queued, r->callf.data, r->callf.len);
		w->call_sent = r->call_id;
	}
	if (!err)
		err = jp__call_encode_batch(c, r->call_id, seq, first, count, &w->queued);
	jp__inflight b = c->is_map ? (jp__inflight){ seq, 1, count, jp__now() }
				   : (jp__inflight){ first, count, count, jp__now() };
	if (!err)
		err = push_inflight(w, b);
	if (err) {
		jp__call_fail(c, err, first, "dispatching task %zu: %s", first, jp_strerror(err));
		return err;
	}
	r->inflight++;
	jp__status_sent(c, slot, &b);
	flush_writes(p, slot);
	return 0;
}

/* ---- the run ----------------------------------------------------------- */

/* Whether every item has been dispatched (or none will be). */
static bool all_dispatched(const jp_call *c)
{
	const jp__run *r = &c->run;
	return c->err || r->ended || (r->next >= c->n && (!c->make_item || c->made_all));
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
	for (int i = 0; i < p->n_workers; i++)
		p->workers[i].call_sent = 0;
	if (r->runner_set) {
		jp__runner_free(&r->runner);
		r->runner_set = false;
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
		int err = p->n_workers ? send_batch(c, r->next, count, r->seq)
				       : run_inline(c, r->next, count, r->seq);
		if (err)
			return err;
		r->next += count;
		r->seq++;
		if (!p->n_workers && r->mode != JP__COLLECT)
			break; /* a stream takes each result before the next runs */
	}
	return 0;
}

/* One round: dispatch, then wait for what the workers send. */
static int pump(jp_call *c)
{
	jp__run *r = &c->run;
	jp_pool *p = c->pool;
	int err = dispatch_more(c);
	if (err && !r->inflight)
		return err;
	if (!r->inflight)
		return 0;
	jp__io_event ev[64];
	int n = jp__io_wait(p->io, ev, 64, -1);
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
	return 0;
}

static bool finished(const jp_call *c)
{
	return c->run.inflight == 0 && all_dispatched(c);
}

int jp__sched_start(jp_call *c, enum jp__delivery mode)
{
	jp_pool *p = c->pool;
	jp__run *r = &c->run;
	jp__run fresh = { .active = true, .mode = mode, .call_id = ++p->last_call_id,
			  .bs_fixed = c->batch_size ? c->batch_size : p->cfg.batch_size, .bs = 1,
			  .t0 = jp__now() };
	*r = fresh;
	jp__status_call(c, true);
	int err = jp__call_encode_frame(c, r->call_id, &r->callf);
	if (err)
		return err;
	r->ntasks_sent = c->ntasks;
	if (p->n_workers)
		replace_dead_workers(p);
	recall_batch_size(c);
	report(c, false);
	return 0;
}

int jp__sched_ready(jp_call *c, size_t seq)
{
	jp__run *r = &c->run;
	if (r->nready == r->ready_cap) {
		size_t cap = r->ready_cap ? r->ready_cap * 2 : 64;
		size_t *q = malloc(cap * sizeof *q);
		if (!q)
			return -ENOMEM;
		for (size_t i = 0; i < r->nready; i++)
			q[i] = r->ready[(r->ready_head + i) % r->ready_cap];
		free(r->ready);
		r->ready = q;
		r->ready_cap = cap;
		r->ready_head = 0;
	}
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

void jp__sched_stop(jp_call *c)
{
	jp__run *r = &c->run;
	jp_pool *p = c->pool;
	if (!r->active)
		return;
	/* nothing more goes out; what is on the workers is awaited, so no
	 * stale result reaches the next call */
	r->ended = true;
	while (r->inflight && pump(c) == 0)
		;
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
	if (r->runner_set)
		jp__runner_free(&r->runner);
	jp__buf_free(&r->batch);
	jp__buf_free(&r->out);
	jp__buf_free(&r->callf);
	free(r->ready);
	r->ready = NULL;
	r->nready = r->ready_cap = 0;
	r->active = false;
	(void)p;
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
	/* Small frames on idle sockets: they go out at once. A send that
	 * must wait completes during the next call's wait. */
	for (int i = 0; i < p->n_workers; i++) {
		jp__worker *w = &p->workers[i];
		if (w->pid && !jp__release_encode(&w->queued, ids, n))
			flush_writes(p, i);
	}
}
