/*
 * sched.c - running a call: items grouped into batches, handed to the
 * least loaded worker with at most pre_dispatch batches in flight, results
 * taken in as they come and kept in submission order by their slots.
 * The sequential backend runs the same frames in the caller.
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

/* Until the adaptive batching lands, "auto" cuts a call into about four
 * batches per worker: enough to balance uneven tasks, few enough that a
 * million trivial tasks cost a handful of round trips. */
static size_t auto_batch_size(size_t n, int workers)
{
	size_t per = (size_t)workers * 4, size = (n + per - 1) / per;
	return size ? size : 1;
}

/* ---- the sequential backend ------------------------------------------ */

static int run_sequential(jp_call *c, uint64_t call_id)
{
	if (c->n == 0)
		return 0;
	jp__buf callf = { 0 }, batch = { 0 }, out = { 0 };
	jp__runner r = { .slot = 0 };
	jp__call_header ch;
	jp__iter it;
	uint64_t id;
	size_t units;
	/* the very frames a worker would get, so a task cannot tell the
	 * difference */
	int err = jp__call_encode_frame(c, call_id, &callf);
	if (!err)
		err = jp__call_decode(callf.data, callf.len, &ch);
	if (!err)
		err = jp__runner_set_call(&r, call_id, &ch);
	if (!err)
		err = jp__call_encode_batch(c, call_id, 0, 0, c->n, &batch);
	if (!err)
		err = jp__batch_decode(batch.data, batch.len, &id, &it);
	if (!err)
		err = jp__run_batch(&r, call_id, &it, &out);
	if (!err) {
		size_t len = out.len;
		err = jp__call_ingest(c, call_id, jp__buf_take(&out), len, true,
				      "the calling process", &units);
	}
	jp__runner_free(&r);
	jp__buf_free(&callf);
	jp__buf_free(&batch);
	jp__buf_free(&out);
	return err;
}

/* ---- the process backend --------------------------------------------- */

typedef struct run {
	jp_call *c;
	jp_pool *p;
	uint64_t call_id;
	jp__buf callf;
	size_t inflight;
	int rr; /* where the search for the least loaded worker starts */
} run;

static uint64_t tag_of(const jp__worker *w, int slot)
{
	return (uint64_t)w->generation << 32 | (uint32_t)slot;
}

static void flush_writes(run *r, int slot)
{
	jp__worker *w = &r->p->workers[slot];
	if (w->write_busy || w->queued.len == 0)
		return;
	jp__buf t = w->sending;
	w->sending = w->queued;
	w->queued = t;
	w->queued.len = 0;
	int rc = jp__io_write(r->p->io, w->task_fd, w->sending.data, w->sending.len, tag_of(w, slot));
	/* a failed send means the worker is gone: its pipe's end of file
	 * tells the rest */
	w->write_busy = rc == 1;
}

/* Keep one read posted on every live worker's result pipe. The buffer is
 * sized to the frame being received, so a big frame lands whole in a
 * buffer of its own. */
static int post_read(run *r, int slot)
{
	jp__worker *w = &r->p->workers[slot];
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
	err = jp__io_read(r->p->io, w->result_fd, w->in.data + w->in.len, len, tag_of(w, slot));
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
static void worker_lost(run *r, int slot, int err, const char *why)
{
	jp__worker *w = &r->p->workers[slot];
	int pid = (int)w->pid;
	char how[96] = "";
	bool blamed = w->inflight_n > 0;
	jp__inflight head = blamed ? w->inflight[w->inflight_head] : (jp__inflight){ 0 };
	r->inflight -= w->inflight_n;
	if (why)
		kill(w->pid, SIGKILL);
	jp__worker_reap(r->p, slot, how, sizeof how);
	if (blamed) {
		char what[128];
		if (head.nseq == 1)
			jp__call_describe(r->c, head.seq_first, what, sizeof what);
		else
			jp__msgf(what, sizeof what, "one of tasks [%zu, %zu) (\"%s\"...)",
				 head.seq_first, head.seq_first + head.nseq,
				 jp__call_task_of(r->c, head.seq_first));
		size_t first = r->c->slots[head.seq_first].begin;
		/* whatever that batch produced died with the worker */
		for (size_t i = 0; i < head.nseq; i++)
			if (r->c->slots[head.seq_first + i].status == JP__PENDING)
				r->c->slots[head.seq_first + i].status = err;
		if (why)
			jp__call_fail(r->c, err, first, "worker %d (pid %d) running %s %s", slot, pid, what, why);
		else
			jp__call_fail(r->c, err, first, "%s killed worker %d (pid %d) %s", what, slot, pid, how);
	}
	if (jp__worker_spawn(r->p, slot) == 0)
		post_read(r, slot);
	else if (r->p->cfg.verbose)
		fprintf(stderr, "[jobpool] worker %d could not be replaced: %s\n", slot, r->p->errmsg);
}

/* Take in every complete frame in the worker's buffer. */
static void take_frames(run *r, int slot)
{
	jp__worker *w = &r->p->workers[slot];
	size_t pos = 0;
	char who[64];
	jp__msgf(who, sizeof who, "worker %d (pid %d)", slot, (int)w->pid);
	while (w->in.len - pos >= JP__FRAME_HDR) {
		jp__frame_header h;
		if (jp__frame_header_parse(w->in.data + pos, &h) || h.type != JP__F_RESULT) {
			worker_lost(r, slot, JP_EFRAME, "sent a malformed frame");
			return;
		}
		if (w->in.len - pos < h.len)
			break;
		if (w->inflight_n == 0) {
			worker_lost(r, slot, JP_EFRAME, "sent a result nobody asked for");
			return;
		}
		bool owned = pos == 0 && h.len == w->in.len && h.len >= BIG_FRAME;
		uint8_t *frame = owned ? jp__buf_take(&w->in) : w->in.data + pos;
		size_t units;
		int err = jp__call_ingest(r->c, r->call_id, frame, h.len, owned, who, &units);
		if (!err && units != w->inflight[w->inflight_head].nseq)
			err = JP_EFRAME;
		if (err == JP_EFRAME) {
			worker_lost(r, slot, JP_EFRAME, "sent a result that does not match its batch");
			return;
		}
		if (err)
			jp__call_fail(r->c, err, 0, "taking in a result: %s", jp_strerror(err));
		pop_inflight(w);
		r->inflight--;
		w->tasks_done += units;
		if (owned)
			return;
		pos += h.len;
	}
	if (pos) {
		memmove(w->in.data, w->in.data + pos, w->in.len - pos);
		w->in.len -= pos;
	}
}

static void on_event(run *r, const jp__io_event *ev)
{
	int slot = (int)(uint32_t)ev->tag;
	if (slot >= r->p->n_workers)
		return;
	jp__worker *w = &r->p->workers[slot];
	if (w->generation != (uint32_t)(ev->tag >> 32) || !w->pid)
		return; /* about a worker already replaced */
	if (ev->kind == JP__IO_WRITE) {
		w->write_busy = false;
		w->sending.len = 0;
		if (ev->res >= 0)
			flush_writes(r, slot);
		return;
	}
	w->read_busy = false;
	if (ev->res <= 0) {
		worker_lost(r, slot, JP_EWORKER, NULL);
		return;
	}
	w->in.len += (size_t)ev->res;
	take_frames(r, slot);
	if (w->pid)
		post_read(r, slot);
}

/* A worker that died between calls is replaced before it is given work. */
static void replace_dead_workers(run *r)
{
	for (int i = 0; i < r->p->n_workers; i++) {
		jp__worker *w = &r->p->workers[i];
		int status;
		if (w->pid && waitpid(w->pid, &status, WNOHANG) == 0) {
			post_read(r, i);
			continue;
		}
		if (w->pid)
			jp__worker_reap(r->p, i, NULL, 0);
		if (jp__worker_spawn(r->p, i) == 0)
			post_read(r, i);
	}
}

static int least_loaded(run *r)
{
	int best = -1, n = r->p->n_workers;
	for (int k = 0; k < n; k++) {
		int i = (r->rr + k) % n;
		jp__worker *w = &r->p->workers[i];
		if (w->pid && (best < 0 || w->inflight_n < r->p->workers[best].inflight_n))
			best = i;
	}
	r->rr = (r->rr + 1) % n;
	return best;
}

static int dispatch(run *r, size_t first, size_t count, size_t seq)
{
	int slot = least_loaded(r);
	if (slot < 0) {
		jp__call_fail(r->c, JP_EWORKER, first, "no live worker to run task %zu: %s", first,
			      r->p->errmsg);
		return JP_EWORKER;
	}
	jp__worker *w = &r->p->workers[slot];
	int err = 0;
	if (w->call_sent != r->call_id) {
		err = jp__buf_append(&w->queued, r->callf.data, r->callf.len);
		w->call_sent = r->call_id;
	}
	if (!err)
		err = jp__call_encode_batch(r->c, r->call_id, seq, first, count, &w->queued);
	jp__inflight b = r->c->is_map ? (jp__inflight){ seq, 1 } : (jp__inflight){ first, count };
	if (!err)
		err = push_inflight(w, b);
	if (err) {
		jp__call_fail(r->c, err, first, "dispatching task %zu: %s", first, jp_strerror(err));
		return err;
	}
	r->inflight++;
	flush_writes(r, slot);
	return 0;
}

static int run_process(jp_call *c, uint64_t call_id)
{
	jp_pool *p = c->pool;
	run r = { .c = c, .p = p, .call_id = call_id };
	size_t bs = c->batch_size         ? c->batch_size
		    : p->cfg.batch_size ? p->cfg.batch_size
					: auto_batch_size(c->n, p->n_workers);
	size_t next = 0, seq = 0;
	int err = c->n ? jp__call_encode_frame(c, call_id, &r.callf) : 0;
	if (err)
		return err;
	if (c->n)
		replace_dead_workers(&r);

	jp__io_event ev[64];
	for (;;) {
		while (!c->err && next < c->n && r.inflight < p->cfg.pre_dispatch) {
			size_t count = c->n - next < bs ? c->n - next : bs;
			if (dispatch(&r, next, count, seq))
				break;
			next += count;
			seq++;
		}
		if (r.inflight == 0)
			break;
		int n = jp__io_wait(p->io, ev, 64, -1);
		if (n < 0) {
			/* the batches in flight can no longer be followed: their
			 * workers are replaced so no stale result reaches a later
			 * call */
			jp__call_fail(c, n, next, "waiting for results: %s", jp_strerror(n));
			for (int i = 0; i < p->n_workers; i++)
				if (p->workers[i].inflight_n)
					worker_lost(&r, i, n, "was abandoned");
			break;
		}
		for (int i = 0; i < n; i++)
			on_event(&r, &ev[i]);
	}
	jp__buf_free(&r.callf);
	return c->err;
}

void jp__sched_release(jp_pool *p, const uint64_t *ids, uint32_t n)
{
	/* Small frames on idle sockets: they go out at once. A send that
	 * must wait completes during the next call's wait. */
	run r = { .p = p };
	for (int i = 0; i < p->n_workers; i++) {
		jp__worker *w = &p->workers[i];
		if (w->pid && !jp__release_encode(&w->queued, ids, n))
			flush_writes(&r, i);
	}
	jp__io_flush(p->io); /* no wait follows: io_uring would hold them */
}

int jp__sched_run(jp_call *c)
{
	jp_pool *p = c->pool;
	uint64_t call_id = ++p->last_call_id;
	double t0 = p->cfg.verbose > 1 ? jp__now() : 0;
	int err = p->threads     ? jp__threads_run(c, call_id)
		  : p->n_workers ? run_process(c, call_id)
				 : run_sequential(c, call_id);
	if (p->cfg.verbose > 1)
		fprintf(stderr, "[jobpool] call %llu: %zu task%s in %.6f s%s\n",
			(unsigned long long)call_id, c->n, c->n == 1 ? "" : "s", jp__now() - t0,
			err ? " (failed)" : "");
	return err;
}
