/*
 * worker.c - the worker's loop, and running one unit of work, which the
 * sequential backend shares so a task behaves the same in both.
 *
 * A worker reads CALL and BATCH frames from its task socket, runs each
 * unit, and writes one RESULT frame per batch to its result pipe; with the
 * active wait, frames also come and go through its fast lane (lane.c). It exits
 * when its master is gone: PR_SET_PDEATHSIG, a getppid() check right after
 * setting it (the master may already be gone), and end of file on the task
 * socket as the backstop.
 */
#include "internal.h"
#include "kernels/gemm.h"
#include "lane.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- running units (worker and sequential backend) ------------------ */

/* Whether a call names the tasks the runner has, all found, in the same
 * order: the usual case of a pool called again and again with one task.
 * Registry entries are never freed, so the ones found stay valid. */
static bool same_tasks(const jp__runner *r, const jp__call_header *ch)
{
	if (!r->tasks || r->ntasks != ch->ntasks)
		return false;
	size_t pos = 0;
	for (uint32_t i = 0; i < ch->ntasks; i++) {
		const char *name;
		size_t len;
		if (!r->tasks[i] || jp__call_next_name(ch, &pos, &name, &len) ||
		    strlen(r->task_names[i]) != len || memcmp(r->task_names[i], name, len))
			return false;
	}
	return true;
}

int jp__runner_set_call(jp__runner *r, uint64_t call_id, const jp__call_header *ch)
{
	/* the last call's tasks: only the arguments are new (on failure no
	 * call is set, so no batch runs with half of them) */
	if (same_tasks(r, ch) && ch->nargs <= r->args_cap) {
		r->call_id = 0;
		int err = jp__args_decode(ch->args, ch->args_len, ch->nargs, r->args);
		if (err)
			return err;
		r->call_id = call_id;
		r->nshared = ch->nargs;
		r->go_on = ch->flags & JP__CALL_CONTINUE;
		return 0;
	}
	/* Build the new call's state aside; the old one stays on failure.
	 * Names are resolved once per call, not once per unit. */
	size_t nt = ch->ntasks ? ch->ntasks : 1;
	jp__runner next = { .slot = r->slot, .call_id = call_id, .ntasks = ch->ntasks,
			    .nshared = ch->nargs, .args_cap = (size_t)ch->nargs + 8,
			    .go_on = ch->flags & JP__CALL_CONTINUE };
	next.tasks = calloc(nt, sizeof *next.tasks);
	next.task_names = calloc(nt, sizeof *next.task_names);
	next.args = malloc(next.args_cap * sizeof *next.args);
	int err = next.tasks && next.task_names && next.args ? 0 : -ENOMEM;
	size_t pos = 0;
	for (uint32_t i = 0; i < ch->ntasks && !err; i++) {
		const char *name;
		size_t len;
		if ((err = jp__call_next_name(ch, &pos, &name, &len)))
			break;
		next.tasks[i] = jp__task_lookup(name, len);
		if (!(next.task_names[i] = strndup(name, len)))
			err = -ENOMEM;
	}
	if (!err)
		err = jp__args_decode(ch->args, ch->args_len, ch->nargs, next.args);
	if (err) {
		jp__runner_free(&next);
		return err;
	}
	next.maps = r->maps; /* mappings outlive calls */
	next.tainted = r->tainted;
	jp__runner_free(r);
	*r = next;
	return 0;
}

void jp__runner_free(jp__runner *r)
{
	for (uint32_t i = 0; r->task_names && i < r->ntasks; i++)
		free(r->task_names[i]);
	free(r->task_names);
	free(r->tasks);
	free(r->args);
	r->task_names = NULL;
	r->tasks = NULL;
	r->args = NULL;
	r->ntasks = 0;
	r->nshared = r->args_cap = 0;
}

/* Close the unit's record with a failure message in place of any result. */
static void close_failed(jp__buf *out, size_t rec, int32_t status, const char *msg)
{
	out->len = rec + 24; /* the record header stays, any data goes */
	size_t n = strlen(msg), off;
	void *p = n ? jp__result_reserve(out, n, &off) : NULL;
	if (p)
		memcpy(p, msg, n);
	jp__result_close(out, rec, status, p ? n : 0);
}

/* ---- writes to read-only shared arrays -------------------------------- */
/*
 * With mmap_mode "r" a worker maps shared arrays without PROT_WRITE, and a
 * task that writes to one faults. The fault is turned into the task's
 * failure, with a message that says why; the worker then leaves, since
 * the task was cut short with who knows what half done.
 */
static sigjmp_buf *fault_jump;
static const jp__mapcache *fault_maps;
static void *fault_addr;

static void on_segv(int sig, siginfo_t *info, void *ctx)
{
	(void)ctx;
	if (fault_jump && jp__mapcache_find_readonly(fault_maps, info->si_addr)) {
		fault_addr = info->si_addr;
		siglongjmp(*fault_jump, 1);
	}
	/* a real crash: die of it (the fault recurs on return), so the
	 * master reports the signal */
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigaction(sig, &dfl, NULL);
}

static void catch_readonly_writes(void)
{
	struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_NODEFER };
	sigaction(SIGSEGV, &sa, NULL);
}

/* Map the unit's shared arguments that are not mapped yet. */
static int map_args(jp__runner *r, size_t nargs, bool *any_readonly, char *err, size_t errlen)
{
	*any_readonly = false;
	for (size_t i = 0; i < nargs; i++) {
		jp__arg *a = &r->args[i];
		if (a->kind != JP__ARG_SHARED)
			continue;
		if (!a->ready) {
			jp_array arr;
			jp__shared_ref ref;
			int e = jp__array_record_decode(a, &arr, &ref);
			if (!e)
				e = jp__map_shared(&r->maps, &ref, &a->mapped, &a->readonly, err, errlen);
			if (e)
				return e;
			a->ready = true;
		}
		*any_readonly |= a->readonly;
	}
	return 0;
}

static void describe_fault(const jp__runner *r, size_t nargs, char *msg, size_t cap)
{
	size_t which = SIZE_MAX;
	const jp__mapping *m = jp__mapcache_find_readonly(&r->maps, fault_addr);
	for (size_t i = 0; m && i < nargs; i++)
		if (r->args[i].kind == JP__ARG_SHARED && (uint8_t *)r->args[i].mapped >= (uint8_t *)m->base &&
		    (uint8_t *)r->args[i].mapped <= (uint8_t *)m->base + m->len)
			which = i;
	if (which != SIZE_MAX)
		jp__msgf(msg, cap, "wrote to argument %zu, a shared array mapped read-only (mmap_mode \"r\"); open the pool with mmap_mode \"r+\" or \"c\" to write to it", which);
	else
		jp__msgf(msg, cap, "wrote to a shared array mapped read-only (mmap_mode \"r\")");
}

int jp__run_unit(jp__runner *r, const jp__unit *u, jp__buf *out, size_t frame, jp_task *t)
{
	size_t rec;
	int err = jp__result_open(out, frame, u->seq, &rec);
	if (err)
		return err;
	if (u->task >= r->ntasks)
		return JP_EFRAME;
	const jp__task_entry *e = r->tasks[u->task];
	if (!e) {
		char msg[JP__ERRMSG_MAX];
		jp__msgf(msg, sizeof msg, "no task \"%s\" is registered in worker %d (pid %d): register it before jp_pool_open",
			 r->task_names[u->task], r->slot, (int)getpid());
		close_failed(out, rec, JP_ENOTASK, msg);
		return JP_ENOTASK;
	}
	size_t nargs = r->nshared + u->nargs;
	if (nargs > r->args_cap) {
		jp__arg *a = realloc(r->args, nargs * sizeof *a);
		if (!a)
			return -ENOMEM;
		r->args = a;
		r->args_cap = nargs;
	}
	if (jp__args_decode(u->args, u->args_len, u->nargs, r->args + r->nshared))
		return JP_EFRAME;
	bool guard;
	char msg[JP__ERRMSG_MAX];
	if (map_args(r, nargs, &guard, msg, sizeof msg)) {
		close_failed(out, rec, JP_ETASK, msg);
		return JP_ETASK;
	}

	*t = (jp_task){ .name = e->name, .begin = u->begin, .end = u->end, .slot = r->slot,
			.args = r->args, .nargs = nargs, .out = out,
			.result_off = SIZE_MAX };
	int rc;
	if (guard) {
		/* only where a read-only mapping is in reach: the set-up costs */
		sigjmp_buf jb;
		fault_maps = &r->maps;
		if (sigsetjmp(jb, 0)) {
			fault_jump = NULL;
			r->tainted = true;
			describe_fault(r, nargs, t->errmsg, sizeof t->errmsg);
			close_failed(out, rec, JP_ETASK, t->errmsg);
			return JP_ETASK;
		}
		fault_jump = &jb;
		rc = e->fn(t);
		fault_jump = NULL;
	} else {
		rc = e->fn(t);
	}
	if (rc != 0 || t->failed) {
		if (!t->failed)
			jp__msgf(t->errmsg, sizeof t->errmsg, "returned %d without jp_task_fail", rc);
		close_failed(out, rec, JP_ETASK, t->errmsg);
		return JP_ETASK;
	}
	jp__result_close(out, rec, 0, t->result_off == SIZE_MAX ? 0 : t->result_len);
	return 0;
}

int jp__run_batch(jp__runner *r, uint64_t call_id, jp__iter *it, jp__buf *out)
{
	size_t frame;
	int err = jp__result_begin(out, call_id, &frame);
	bool failed = false;
	jp__unit u;
	jp_task t;
	while (!err && (err = jp__batch_next(it, &u)) == 1) {
		err = 0;
		if (failed) {
			/* the call fails anyway: the rest of the batch is cancelled */
			size_t rec;
			if (!(err = jp__result_open(out, frame, u.seq, &rec)))
				jp__result_close(out, rec, JP_ECANCELED, 0);
			continue;
		}
		int st = jp__run_unit(r, &u, out, frame, &t);
		if (st == JP_ETASK || st == JP_ENOTASK)
			failed = !r->go_on;
		else
			err = st;
	}
	if (err)
		return err;
	jp__frame_end(out, frame);
	return 0;
}

/* ---- the worker process --------------------------------------------- */

/* Write all of buf; a failure means the master is gone, so exit quietly. */
static void write_all_or_exit(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		p += n;
		len -= (size_t)n;
	}
}

/* read(2), but with spin_s > 0 the socket is polled without blocking for
 * up to spin_s first (the active wait): a master that answers within that
 * time reaches a worker that is running, not one it must wake. */
static ssize_t read_spin(int fd, void *buf, size_t len, double spin_s)
{
	double until = 0;
	while (spin_s > 0) {
		ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return n < 0 && errno == ENOTSOCK ? read(fd, buf, len) : n;
		double now = jp__now();
		if (!until)
			until = now + spin_s;
		else if (now >= until)
			break;
		/* the CPU goes to whatever else is runnable here first */
		sched_yield();
	}
	return read(fd, buf, len);
}

/* Where the worker's frames come from: the task socket, and the lane when
 * there is one. Bytes read from the socket wait in `sock` until the stream
 * reaches them: a chunk of the lane comes after the socket bytes its mark
 * counts, and before any later one. */
typedef struct inbound {
	int fd;
	double spin_s;
	jp__lane *lane;
	jp__buf sock;           /* read from the socket, not yet taken */
	size_t sock_pos;        /* ... from here */
	uint64_t sock_read;     /* bytes read from the socket so far */
	uint64_t sock_taken;    /* ... and taken into the stream */
} inbound;

/* Read what the socket has (blocking for at least a byte) into ib->sock. */
static ssize_t read_socket(inbound *ib)
{
	if (ib->sock_pos == ib->sock.len)
		ib->sock_pos = ib->sock.len = 0;
	if (jp__buf_reserve(&ib->sock, 65536))
		_exit(JP__EXIT_BADFRAME);
	ssize_t n;
	do
		n = read(ib->fd, ib->sock.data + ib->sock.len, ib->sock.cap - ib->sock.len);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		ib->sock.len += (size_t)n;
		ib->sock_read += (uint64_t)n;
	}
	return n;
}

/* Append the stream's next bytes to in (a whole chunk of the lane, or
 * socket bytes up to the next chunk's mark): their count, or 0 at end of
 * file. */
static size_t fill_from_lane(inbound *ib, jp__buf *in)
{
	jp__lane *l = ib->lane;
	double until = 0;
	for (;;) {
		size_t clen;
		uint64_t mark;
		int chunk = jp__ring_peek(&l->to_worker, &clen, &mark);
		if (chunk < 0)
			_exit(JP__EXIT_BADFRAME);
		if (chunk && mark <= ib->sock_taken) {
			if (mark < ib->sock_taken || jp__buf_reserve(in, clen))
				_exit(JP__EXIT_BADFRAME);
			jp__ring_pop(&l->to_worker, in->data + in->len, clen);
			in->len += clen;
			return clen;
		}
		size_t have = ib->sock.len - ib->sock_pos;
		if (have) {
			if (chunk && have > mark - ib->sock_taken)
				have = (size_t)(mark - ib->sock_taken);
			if (jp__buf_append(in, ib->sock.data + ib->sock_pos, have))
				_exit(JP__EXIT_BADFRAME);
			ib->sock_pos += have;
			ib->sock_taken += have;
			return have;
		}
		/* nothing to take: socket bytes are due (a chunk waits for
		 * them, or the master counts more than were read), or we spin,
		 * or we sleep in read(2) after saying so */
		bool due = chunk || __atomic_load_n(&l->task_bytes, __ATOMIC_ACQUIRE) > ib->sock_read;
		if (!due) {
			double now = jp__now();
			if (!until)
				until = now + ib->spin_s;
			if (now < until) {
				bool come = false, yield_each = jp__lane_yield_each(l, l->worker_cpu, l->master_cpu);
				for (int i = 0; !yield_each && i < JP__SPIN_LOOKS && !come; i++)
					come = jp__ring_nonempty(&l->to_worker) ||
					       __atomic_load_n(&l->task_bytes, __ATOMIC_ACQUIRE) > ib->sock_read;
				if (!come) {
					sched_yield();
					/* where the scheduler left us (see least_loaded);
					 * written only when it changed, so that the
					 * master's look at it is no cache miss */
					int cpu = sched_getcpu();
					if (cpu != l->worker_cpu)
						__atomic_store_n(&l->worker_cpu, cpu, __ATOMIC_RELAXED);
				}
				continue;
			}
			jp__lane_will_sleep(&l->worker_sleeping);
			if (jp__ring_nonempty(&l->to_worker) ||
			    __atomic_load_n(&l->task_bytes, __ATOMIC_SEQ_CST) > ib->sock_read) {
				jp__lane_awake(&l->worker_sleeping);
				continue;
			}
		}
		ssize_t n = read_socket(ib);
		jp__lane_awake(&l->worker_sleeping);
		until = 0;
		if (n <= 0)
			return 0;
	}
}

/* Make in hold a whole frame at in->data + *start; returns its length, or
 * 0 at end of file. Exits on a malformed frame. */
static size_t read_frame(inbound *ib, jp__buf *in, size_t *start)
{
	if (*start == in->len) {
		*start = in->len = 0;
	} else if (*start) {
		/* keep frames at the buffer's 64-byte aligned front */
		memmove(in->data, in->data + *start, in->len - *start);
		in->len -= *start;
		*start = 0;
	}
	size_t need = JP__FRAME_HDR;
	for (;;) {
		if (in->len >= JP__FRAME_HDR) {
			jp__frame_header h;
			if (jp__frame_header_parse(in->data, &h))
				_exit(JP__EXIT_BADFRAME);
			need = h.len;
			if (in->len >= need)
				return need;
		}
		if (ib->lane) {
			if (!fill_from_lane(ib, in))
				return 0;
			continue;
		}
		size_t want = need - in->len < 65536 ? 65536 : need - in->len;
		if (jp__buf_reserve(in, want))
			_exit(JP__EXIT_BADFRAME);
		ssize_t n = read_spin(ib->fd, in->data + in->len, in->cap - in->len, ib->spin_s);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		in->len += (size_t)n;
	}
}

/* Where results go: the lane when it has room (waking a master that
 * sleeps), else the pipe; marks count the pipe's bytes. */
typedef struct outbound {
	int fd;
	jp__lane *lane;
	uint64_t pipe_bytes;
} outbound;

static void send_out(outbound *ob, const jp__buf *out)
{
	if (ob->lane && jp__ring_push(&ob->lane->to_master, out->data, out->len, ob->pipe_bytes)) {
		if (!jp__lane_wake_needed(&ob->lane->master_sleeping))
			return;
		static const jp__buf none;
		jp__buf nop = none;
		if (jp__nop_encode(&nop))
			_exit(1);
		write_all_or_exit(ob->fd, nop.data, nop.len);
		ob->pipe_bytes += nop.len;
		jp__buf_free(&nop);
		return;
	}
	write_all_or_exit(ob->fd, out->data, out->len);
	ob->pipe_bytes += out->len;
}

/* A worker acts as if it had been exec'd: descriptors its master marked
 * close-on-exec (other pools' and other workers' pipes among them) are not
 * its to hold, or a sibling would never see end of file. */
void jp__close_inherited(int keep1, int keep2)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	int dfd = dirfd(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		if (fd <= 2 || fd == keep1 || fd == keep2 || fd == dfd)
			continue;
		int flags = fcntl(fd, F_GETFD);
		if (flags >= 0 && (flags & FD_CLOEXEC))
			close(fd);
	}
	closedir(d);
}

static void reset_signals(void)
{
	/* SIGINT goes to the whole foreground group on Ctrl-C: the master
	 * decides what a worker does about it. A dead master's pipe is EPIPE. */
	struct sigaction ign = { .sa_handler = SIG_IGN }, dfl = { .sa_handler = SIG_DFL };
	sigaction(SIGINT, &ign, NULL);
	sigaction(SIGPIPE, &ign, NULL);
	sigaction(SIGTERM, &dfl, NULL);
	sigaction(SIGCHLD, &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

int jp__run_initializer(int slot, const char *name, char *msg, size_t cap)
{
	int32_t st = 0, *status = &st;
	const jp__task_entry *e = jp__task_lookup(name, strlen(name));
	if (!e) {
		jp__msgf(msg, cap, "initializer \"%s\" is not registered", name);
		return JP_ENOTASK;
	}
	jp__buf scratch = { 0 };
	jp_task t = { .name = e->name, .slot = slot, .out = &scratch, .result_off = SIZE_MAX };
	int rc = e->fn(&t);
	if (rc != 0 || t.failed) {
		*status = JP_ETASK;
		if (t.failed)
			jp__msgf(msg, cap, "%s", t.errmsg);
		else
			jp__msgf(msg, cap, "returned %d without jp_task_fail", rc);
	}
	jp__buf_free(&scratch);
	return st;
}

/* Libraries a task may use size their thread pools from these: each worker
 * gets its share of the CPUs, unless the user said otherwise, as loky does.
 * environ is replaced rather than setenv(3) called: after a fork in a
 * threaded host the environment's lock may be held by a thread that is not
 * there any more; malloc is safe (glibc resets its locks at fork). */
static void export_thread_counts(int threads)
{
	static const char *vars[] = { "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
				      "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
				      "NUMEXPR_NUM_THREADS" };
	enum { NVARS = sizeof vars / sizeof vars[0] };
	extern char **environ;
	size_t n = 0;
	while (environ && environ[n])
		n++;
	char **env = malloc((n + NVARS + 1) * sizeof *env);
	if (!env)
		return;
	memcpy(env, environ, n * sizeof *env);
	for (int i = 0; i < NVARS; i++) {
		size_t len = strlen(vars[i]);
		bool set = false;
		for (size_t j = 0; j < n && !set; j++)
			set = !strncmp(env[j], vars[i], len) && env[j][len] == '=';
		char *kv = set ? NULL : malloc(len + 16);
		if (kv) {
			snprintf(kv, len + 16, "%s=%d", vars[i], threads);
			env[n++] = kv;
		}
	}
	env[n] = NULL;
	/* kept here too: a later setenv(3) in a task copies environ away, and
	 * this block must not become a leak */
	static char **volatile exported;
	exported = env;
	environ = exported;
}

void jp__worker_main(int slot, int task_fd, int result_fd, pid_t master, const char *initializer,
		     int threads, double spin_s, jp__lane *lane)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != master)
		_exit(0);
	reset_signals();
	jp__close_inherited(task_fd, result_fd);
	catch_readonly_writes();
	export_thread_counts(threads);
	/* the BLAS read its count in the master, before this worker's share
	 * was known; a count the user exported wins over the share */
	const char *blas = getenv("OPENBLAS_NUM_THREADS");
	jp__blas_set_threads(blas && atoi(blas) > 0 ? atoi(blas) : threads);

	jp__runner r = { .slot = slot };
	jp__buf in = { 0 }, out = { 0 }, call = { 0 };
	int32_t status = 0;
	char msg[JP__ERRMSG_MAX] = "";
	if (initializer)
		status = jp__run_initializer(slot, initializer, msg, sizeof msg);
	fflush(stdout); /* _exit below would drop what the initializer printed */
	fflush(stderr);
	if (jp__hello_encode(&out, (int32_t)getpid(), status, msg))
		_exit(1);
	write_all_or_exit(result_fd, out.data, out.len);
	if (status)
		_exit(1);

	inbound ib = { .fd = task_fd, .spin_s = spin_s, .lane = lane };
	outbound ob = { .fd = result_fd, .lane = lane }; /* marks count from after HELLO */
	size_t start = 0, len;
	while ((len = read_frame(&ib, &in, &start))) {
		const uint8_t *f = in.data;
		jp__frame_header h;
		jp__frame_header_parse(f, &h);
		if (h.type == JP__F_CALL) {
			/* BATCH frames reuse `in`: keep the call's own copy */
			jp__call_header ch;
			call.len = 0;
			if (jp__buf_append(&call, f, len) ||
			    jp__call_decode(call.data, len, &ch) ||
			    jp__runner_set_call(&r, ch.call_id, &ch))
				_exit(JP__EXIT_BADFRAME);
		} else if (h.type == JP__F_RELEASE) {
			const uint8_t *ids;
			uint32_t n;
			if (jp__release_decode(f, len, &ids, &n))
				_exit(JP__EXIT_BADFRAME);
			for (uint32_t i = 0; i < n; i++)
				jp__unmap_shared(&r.maps, jp__release_id(ids, i));
		} else if (h.type == JP__F_NOP) {
			/* a wake-up: the frame it announced came by the lane */
		} else if (h.type == JP__F_BATCH) {
			uint64_t call_id;
			jp__iter it;
			out.len = 0;
			double t0 = jp__now();
			if (jp__batch_decode(f, len, &call_id, &it))
				_exit(JP__EXIT_BADFRAME);
			if (call_id != r.call_id) {
				/* the call we hold, under a new id: its CALL
				 * frame was alike */
				if (!r.call_id || !(jp__batch_flags(f) & JP__BATCH_RENUMBER))
					_exit(JP__EXIT_BADFRAME);
				r.call_id = call_id;
			}
			if (jp__run_batch(&r, call_id, &it, &out))
				_exit(JP__EXIT_BADFRAME);
			/* `out` was empty: the RESULT frame starts at 0 */
			jp__result_set_run_ns(&out, 0, (jp__now() - t0) * 1e9);
			/* what tasks printed reaches the terminal before the result */
			fflush(stdout);
			fflush(stderr);
			if (jp__fault(JP__FAULT_GARBLED_RESULT))
				memset(out.data + JP__FRAME_HDR, 0xa5, out.len - JP__FRAME_HDR);
			send_out(&ob, &out);
			if (r.tainted)
				_exit(0); /* replaced by the master: see on_segv */
		} else {
			_exit(JP__EXIT_BADFRAME);
		}
		start += len;
	}
	fflush(stdout);
	fflush(stderr);
	_exit(0);
}
