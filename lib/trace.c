/*
 * trace.c - JOBPOOL_TRACE=path: every batch a pool runs, written as the
 * Chrome Trace Event Format (JSON object form) that Perfetto and
 * chrome://tracing open, so idle gaps and stragglers can be seen.
 *
 * One "X" (complete) event per batch on its worker's track (tid = slot):
 * name the task, ts when the worker could start it (sent, or when its
 * previous batch came back, whichever is later: sched.c's rule), dur until
 * its result came back; args the first item, the count, the call, when it
 * was dispatched and how long it waited in the worker's pipe. Calls are
 * events on a track of their own (tid = n_jobs). Times are microseconds
 * after the pool opened (CLOCK_MONOTONIC).
 *
 * Records are kept in memory (a few stores per batch) and written when the
 * buffer fills and at close, so tracing costs no system call per batch.
 * "%p" in the path is the master's PID, "%n" the pool's number in this
 * process (pools of one process otherwise write over each other's file).
 */
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_RECORDS (1u << 16) /* written out when this many are held */
#define OUT_CHUNK (64u << 10)

struct rec {
	double sent, start, end;
	uint64_t first, count, call;
	int32_t slot;   /* -1: a call */
	uint32_t name;  /* in names */
};

struct jp__trace {
	int fd;
	char path[PATH_MAX];
	double t0;
	int pid;
	int nslots;
	bool sequential;
	int n_jobs;
	struct rec *recs;
	size_t n, cap;
	char **names;
	uint32_t nnames;
	uint32_t *call_names;  /* the call's task index to names, UINT32_MAX: not yet */
	uint32_t ncall_names;
	uint64_t call_id;
	int *pids;             /* per slot: its last worker */
	unsigned *spawns;
	size_t events;         /* written so far (a comma before the next) */
	bool failed;
	char *out;             /* formatting buffer */
	size_t outlen;
};

/* Expand %p and %n; false if it does not fit. */
static bool expand(char *dst, size_t cap, const char *fmt, int pid, uint64_t id)
{
	size_t k = 0;
	for (const char *s = fmt; *s; s++) {
		char tmp[32];
		const char *add = tmp;
		if (s[0] == '%' && s[1] == 'p') {
			snprintf(tmp, sizeof tmp, "%d", pid);
			s++;
		} else if (s[0] == '%' && s[1] == 'n') {
			snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)id);
			s++;
		} else if (s[0] == '%' && s[1] == '%') {
			add = "%";
			s++;
		} else {
			tmp[0] = *s;
			tmp[1] = '\0';
		}
		size_t n = strlen(add);
		if (k + n >= cap)
			return false;
		memcpy(dst + k, add, n);
		k += n;
	}
	dst[k] = '\0';
	return true;
}

struct jp__trace *jp__trace_open(jp_pool *p)
{
	const char *env = getenv("JOBPOOL_TRACE");
	if (!env || !*env)
		return NULL;
	struct jp__trace *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->fd = -1;
	t->pid = (int)getpid();
	t->t0 = jp__now();
	t->sequential = p->n_workers == 0;
	t->nslots = p->n_workers ? p->n_workers : 1;
	t->n_jobs = p->cfg.n_jobs;
	t->pids = calloc((size_t)t->nslots, sizeof *t->pids);
	t->spawns = calloc((size_t)t->nslots, sizeof *t->spawns);
	t->out = malloc(OUT_CHUNK);
	if (!t->pids || !t->spawns || !t->out) {
		jp__trace_close(t, false);
		return NULL;
	}
	if (t->sequential)
		t->pids[0] = t->pid;
	/* a trace that cannot be written is said at once, not at close */
	int err = ENAMETOOLONG;
	if (expand(t->path, sizeof t->path, env, t->pid, p->id))
		err = (t->fd = open(t->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0 ? errno : 0;
	if (err) {
		fprintf(stderr, "[jobpool] JOBPOOL_TRACE=%s: %s; not tracing\n", env, strerror(err));
		jp__trace_close(t, false);
		return NULL;
	}
	return t;
}

void jp__trace_worker(struct jp__trace *t, int slot, int pid)
{
	if (slot >= 0 && slot < t->nslots) {
		t->pids[slot] = pid;
		t->spawns[slot]++;
	}
}

static uint32_t intern(struct jp__trace *t, const char *name)
{
	for (uint32_t i = 0; i < t->nnames; i++)
		if (!strcmp(t->names[i], name))
			return i;
	char **n = realloc(t->names, (t->nnames + 1) * sizeof *n);
	if (!n)
		return UINT32_MAX;
	t->names = n;
	if (!(n[t->nnames] = strdup(name)))
		return UINT32_MAX;
	return t->nnames++;
}

/* The interned name of the call's task `task`. */
static uint32_t name_of(struct jp__trace *t, const jp_call *c, uint32_t task)
{
	if (task >= c->ntasks)
		return UINT32_MAX;
	if (task >= t->ncall_names) {
		uint32_t *m = realloc(t->call_names, c->ntasks * sizeof *m);
		if (!m)
			return UINT32_MAX;
		for (uint32_t i = t->ncall_names; i < c->ntasks; i++)
			m[i] = UINT32_MAX;
		t->call_names = m;
		t->ncall_names = c->ntasks;
	}
	if (t->call_names[task] == UINT32_MAX)
		t->call_names[task] = intern(t, c->names[task]);
	return t->call_names[task];
}

/* ---- writing ----------------------------------------------------------------- */

static void out_flush(struct jp__trace *t)
{
	size_t done = 0;
	while (!t->failed && done < t->outlen) {
		ssize_t w = write(t->fd, t->out + done, t->outlen - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "[jobpool] JOBPOOL_TRACE: writing %s: %s\n", t->path,
				strerror(w < 0 ? errno : EIO));
			t->failed = true;
		} else {
			done += (size_t)w;
		}
	}
	t->outlen = 0;
}

static void out_printf(struct jp__trace *t, const char *fmt, ...) JP_PRINTF(2, 3);

static void out_printf(struct jp__trace *t, const char *fmt, ...)
{
	va_list ap;
	for (int round = 0; round < 2; round++) {
		va_start(ap, fmt);
		int n = vsnprintf(t->out + t->outlen, OUT_CHUNK - t->outlen, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < OUT_CHUNK - t->outlen) {
			t->outlen += (size_t)n;
			return;
		}
		out_flush(t); /* and format again into the empty buffer */
	}
}

/* A JSON string's contents: quotes, backslashes and controls escaped. */
static void out_json_str(struct jp__trace *t, const char *s)
{
	char buf[4 * JP__ERRMSG_MAX];
	size_t k = 0;
	for (; *s && k < sizeof buf - 8; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			buf[k++] = '\\';
			buf[k++] = (char)ch;
		} else if (ch < 0x20) {
			k += (size_t)snprintf(buf + k, sizeof buf - k, "\\u%04x", ch);
		} else {
			buf[k++] = (char)ch;
		}
	}
	buf[k] = '\0';
	out_printf(t, "%s", buf);
}

static void event_start(struct jp__trace *t)
{
	out_printf(t, "%s\n", t->events++ ? "," : "{\"traceEvents\":[");
}

static double us(const struct jp__trace *t, double when)
{
	return (when - t->t0) * 1e6;
}

static void write_records(struct jp__trace *t)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct rec *r = &t->recs[i];
		const char *name = r->name < t->nnames ? t->names[r->name] : "?";
		event_start(t);
		if (r->slot < 0) {
			out_printf(t, "{\"name\":\"call %llu: ", (unsigned long long)r->call);
			out_json_str(t, name);
			out_printf(t, "\",\"cat\":\"call\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,"
				      "\"pid\":%d,\"tid\":%d,\"args\":{\"call\":%llu,\"items\":%llu}}",
				   us(t, r->start), (r->end - r->start) * 1e6, t->pid, t->nslots,
				   (unsigned long long)r->call, (unsigned long long)r->count);
			continue;
		}
		out_printf(t, "{\"name\":\"");
		out_json_str(t, name);
		out_printf(t, "\",\"cat\":\"batch\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":%d,"
			      "\"tid\":%d,\"args\":{\"first\":%llu,\"count\":%llu,\"call\":%llu,"
			      "\"dispatched_us\":%.3f,\"waited_us\":%.3f}}",
			   us(t, r->start), (r->end - r->start) * 1e6, t->pid, (int)r->slot,
			   (unsigned long long)r->first, (unsigned long long)r->count,
			   (unsigned long long)r->call, us(t, r->sent), (r->start - r->sent) * 1e6);
	}
	t->n = 0;
	out_flush(t);
}

static struct rec *new_record(struct jp__trace *t)
{
	if (t->n == t->cap) {
		if (t->cap >= MAX_RECORDS) {
			write_records(t);
		} else {
			size_t cap = t->cap ? t->cap * 2 : 1024;
			struct rec *r = realloc(t->recs, cap * sizeof *r);
			if (!r)
				write_records(t);
			else {
				t->recs = r;
				t->cap = cap;
			}
		}
	}
	return t->n < t->cap ? &t->recs[t->n++] : NULL;
}

void jp__trace_batch(struct jp__trace *t, jp_call *c, int slot, const jp__inflight *b,
		     double start, double end)
{
	struct rec *r = new_record(t);
	if (!r)
		return;
	const jp__slot *s = jp__call_slot(c, b->seq_first);
	*r = (struct rec){ .sent = b->sent, .start = start, .end = end, .first = s->begin,
			   .count = b->items, .call = c->run.call_id, .slot = slot,
			   .name = name_of(t, c, s->task) };
}

void jp__trace_call(struct jp__trace *t, jp_call *c, bool start)
{
	if (start) {
		/* task indexes are the call's own */
		for (uint32_t i = 0; i < t->ncall_names; i++)
			t->call_names[i] = UINT32_MAX;
		t->call_id = c->run.call_id;
		return;
	}
	struct rec *r = new_record(t);
	if (r)
		*r = (struct rec){ .sent = c->run.t0, .start = c->run.t0, .end = jp__now(),
				   .count = c->run.done, .call = c->run.call_id, .slot = -1,
				   .name = name_of(t, c, 0) };
}

void jp__trace_close(struct jp__trace *t, bool write)
{
	if (!t)
		return;
	if (write && t->fd >= 0) {
		write_records(t);
		/* the tracks' names, in slot order, calls on top */
		event_start(t);
		out_printf(t, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
			      "\"args\":{\"name\":\"jobpool master %d (n_jobs=%d, %s)\"}}",
			   t->pid, t->pid, t->n_jobs, t->sequential ? "sequential" : "process");
		for (int i = 0; i <= t->nslots; i++) {
			char name[96];
			if (i == t->nslots)
				snprintf(name, sizeof name, "calls");
			else if (t->sequential)
				snprintf(name, sizeof name, "caller (pid %d)", t->pids[i]);
			else if (t->spawns[i] > 1)
				snprintf(name, sizeof name, "worker %d (pid %d, %u respawns)", i, t->pids[i],
					 t->spawns[i] - 1);
			else
				snprintf(name, sizeof name, "worker %d (pid %d)", i, t->pids[i]);
			event_start(t);
			out_printf(t, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
				      "\"args\":{\"name\":\"%s\"}}",
				   t->pid, i, name);
			event_start(t);
			out_printf(t, "{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
				      "\"args\":{\"sort_index\":%d}}",
				   t->pid, i, i == t->nslots ? -1 : i);
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		double wall_now = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
		out_printf(t, "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"jobpool %s\","
			      "\"master_pid\":%d,\"n_jobs\":%d,\"backend\":\"%s\",\"workers\":%d,"
			      "\"start_wall\":%.6f}}\n",
			   PACKAGE_VERSION, t->pid, t->n_jobs, t->sequential ? "sequential" : "process",
			   t->sequential ? 0 : t->nslots, wall_now - (jp__now() - t->t0));
		out_flush(t);
	}
	if (t->fd >= 0)
		close(t->fd);
	for (uint32_t i = 0; i < t->nnames; i++)
		free(t->names[i]);
	free(t->names);
	free(t->call_names);
	free(t->recs);
	free(t->pids);
	free(t->spawns);
	free(t->out);
	free(t);
}
