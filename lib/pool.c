/*
 * pool.c - a pool's lifetime: options, forking the workers once, replacing
 * one that died, and stopping them all at close.
 *
 * The library is a guest in its host: it installs no SIGCHLD handler and
 * reaps only its own workers, by PID.
 */
#include "pool.h"
#include "lane.h"
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int jp__spin_yields_forced = -1;

/* A failed jp_pool_open has no pool to hold its message: like errno, it is
 * kept per thread. */
static _Thread_local char open_errmsg[JP__ERRMSG_MAX];

/* Result pipes are enlarged: 64 KiB pipes cap result throughput at about a
 * third of what 1 MiB pipes give on the machines we measured. */
#define RESULT_PIPE_SIZE (1 << 20)
/* How long close waits for workers to leave on their own, then after
 * SIGTERM, before SIGKILL. */
#define CLOSE_GRACE_S 1.0

void jp__pool_set_error(jp_pool *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	jp__vmsgf(p->errmsg, sizeof p->errmsg, fmt, ap);
	va_end(ap);
}

const char *jp_pool_errmsg(const jp_pool *p)
{
	return p ? p->errmsg : open_errmsg;
}

int jp_pool_n_jobs(const jp_pool *p)
{
	return p ? p->cfg.n_jobs : -EINVAL;
}

int jp_pool_worker_pid(const jp_pool *p, int slot)
{
	if (!p || slot < 0 || slot >= p->cfg.n_jobs)
		return -EINVAL;
	if (p->n_workers == 0)
		return (int)getpid();
	return p->workers[slot].pid ? (int)p->workers[slot].pid : -ESRCH;
}

unsigned long jp_pool_spawn_count(const jp_pool *p)
{
	return p ? p->spawned : 0;
}

const char *jp_pool_io_engine(const jp_pool *p)
{
	if (!p)
		return NULL;
	return p->io ? jp__io_engine(p->io) : "none";
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* waitpid that retries EINTR; 0 if still running. */
static pid_t wait_pid(pid_t pid, int *status, int flags)
{
	pid_t r;
	do
		r = waitpid(pid, status, flags);
	while (r < 0 && errno == EINTR);
	return r;
}

static void describe_status(int status, char *how, size_t cap)
{
	if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));
		if (abbrev)
			jp__msgf(how, cap, "by SIG%s", abbrev);
		else
			jp__msgf(how, cap, "by signal %d", WTERMSIG(status));
	} else if (WEXITSTATUS(status) == JP__EXIT_BADFRAME) {
		jp__msgf(how, cap, "after a malformed frame (exit status %d)", JP__EXIT_BADFRAME);
	} else {
		jp__msgf(how, cap, "with exit status %d", WEXITSTATUS(status));
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void release_slot(jp_pool *p, jp__worker *w)
{
	if (p->io) {
		jp__io_forget(p->io, w->task_fd);
		jp__io_forget(p->io, w->result_fd);
	}
	close_fd(&w->task_fd);
	close_fd(&w->result_fd);
	jp__status_worker(p, (int)(w - p->workers), JP__WS_DEAD);
	w->pid = 0;
	w->sending.len = w->queued.len = w->in.len = 0;
	w->write_busy = w->read_busy = false;
	w->inflight_head = w->inflight_n = 0;
	w->call_sent = w->call_gen = 0;
}

void jp__worker_reap(jp_pool *p, int slot, char *how, size_t cap)
{
	jp__worker *w = &p->workers[slot];
	int status = 0;
	pid_t pid = w->pid;
	/* The pipe closed, so the worker is leaving; if it lingers (it closed
	 * its pipe but did not exit), it is killed rather than waited on. */
	double deadline = jp__now() + 0.2;
	pid_t r;
	while ((r = wait_pid(pid, &status, WNOHANG)) == 0 && jp__now() < deadline)
		sleep_s(0.0005);
	if (r == 0) {
		kill(pid, SIGKILL);
		wait_pid(pid, &status, 0);
	}
	if (how)
		describe_status(status, how, cap);
	release_slot(p, w);
}

/* Read the worker's HELLO; 0, or an error with the pool message set. */
static int await_hello(jp_pool *p, int slot)
{
	jp__worker *w = &p->workers[slot];
	jp__buf *in = &w->in;
	in->len = 0;
	size_t need = JP__FRAME_HDR;
	while (in->len < need) {
		struct pollfd pfd = { .fd = w->result_fd, .events = POLLIN };
		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (jp__buf_reserve(in, need - in->len))
			return -ENOMEM;
		ssize_t n = read(w->result_fd, in->data + in->len, need - in->len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			char how[64];
			int pid = (int)w->pid;
			jp__worker_reap(p, slot, how, sizeof how);
			jp__pool_set_error(p, "worker %d (pid %d) exited %s before it was ready", slot, pid, how);
			return JP_EWORKER;
		}
		in->len += (size_t)n;
		jp__frame_header h;
		if (in->len == JP__FRAME_HDR &&
		    (jp__frame_header_parse(in->data, &h) || h.type != JP__F_HELLO))
			return JP_EFRAME;
		if (in->len == JP__FRAME_HDR)
			need = h.len;
	}
	int32_t pid, status;
	const char *msg;
	size_t msglen;
	int err = jp__hello_decode(in->data, in->len, &pid, &status, &msg, &msglen);
	if (!err && status) {
		jp__pool_set_error(p, "initializer \"%s\" failed in worker %d (pid %d): %.*s",
				   p->cfg.initializer, slot, (int)pid, (int)msglen, msg);
		jp__worker_reap(p, slot, NULL, 0);
		return status;
	}
	in->len = 0;
	if (!err)
		jp__status_worker(p, slot, JP__WS_IDLE);
	return err;
}

static pid_t self_pid;

static void forget_self_pid(void)
{
	self_pid = 0;
}

static void watch_forks(void)
{
	(void)pthread_atfork(NULL, NULL, forget_self_pid);
}

pid_t jp__self_pid(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, watch_forks);
	pid_t pid = __atomic_load_n(&self_pid, __ATOMIC_RELAXED);
	if (!pid) {
		pid = getpid();
		__atomic_store_n(&self_pid, pid, __ATOMIC_RELAXED);
	}
	return pid;
}

static int fork_worker(jp_pool *p, int slot)
{
	jp__worker *w = &p->workers[slot];
	int sv[2], pfd[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		jp__pool_set_error(p, "worker %d: socketpair: %s", slot, strerror(errno));
		return -errno;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		int err = -errno;
		close(sv[0]);
		close(sv[1]);
		jp__pool_set_error(p, "worker %d: pipe: %s", slot, strerror(-err));
		return err;
	}
	(void)fcntl(pfd[1], F_SETPIPE_SZ, RESULT_PIPE_SIZE); /* best effort */

	/* What the host buffered must not be written twice (as
	 * multiprocessing does before it forks). */
	fflush(stdout);
	fflush(stderr);
	pid_t master = getpid();
	jp__lane *lane = p->lanes ? &p->lanes[slot] : NULL;
	if (lane) {
		jp__lane_reset(lane); /* its last worker is gone */
		lane->spin_yields = p->spin_yields;
	}
	pid_t pid = jp__fault(JP__FAULT_FORK) ? (errno = EAGAIN, -1) : fork();
	if (pid == 0) {
		close(sv[0]);
		close(pfd[0]);
		jp__nesting_worker_process(p->depth + 1);
		/* each worker's share of the CPUs for the libraries its tasks use */
		int threads = jp_cpu_count() / p->n_workers;
		jp__worker_main(slot, sv[1], pfd[1], master, p->cfg.initializer,
				threads > 1 ? threads : 1, p->cfg.wait_active ? p->cfg.spin_s : 0, lane);
	}
	int err = pid < 0 ? -errno : 0;
	close(sv[1]);
	close(pfd[1]);
	if (err) {
		close(sv[0]);
		close(pfd[0]);
		jp__pool_set_error(p, "worker %d: fork: %s", slot, strerror(-err));
		return err;
	}
	p->spawned++;
	w->pid = pid;
	jp__msgf(w->who, sizeof w->who, "worker %d (pid %d)", slot, (int)pid);
	w->generation++;
	/* a new life: its recycling counts start again */
	w->spawned_at = jp__now();
	w->tasks_since_spawn = w->items_inflight = 0;
	w->retiring = w->send_failed = false;
	w->rss_base = 0;
	w->rss_checked = 0;
	w->pipe_in = 0;
	w->wake_owed = false;
	w->task_fd = sv[0];
	w->result_fd = pfd[0];
	(void)fcntl(w->result_fd, F_SETFL, O_NONBLOCK);
	jp__status_worker(p, slot, JP__WS_STARTING);
	return 0;
}

int jp__worker_spawn(jp_pool *p, int slot)
{
	int err = fork_worker(p, slot);
	return err ? err : await_hello(p, slot);
}

/* End of input first (an idle worker leaves at once), SIGTERM after the
 * grace period, SIGKILL after another; every worker is reaped. */
static void stop_workers(jp_pool *p)
{
	for (int i = 0; i < p->n_workers; i++) {
		/* a send the engine still holds would keep the socket open */
		if (p->io)
			jp__io_forget(p->io, p->workers[i].task_fd);
		close_fd(&p->workers[i].task_fd);
	}
	int signals[] = { 0, SIGTERM, SIGKILL };
	for (size_t round = 0; round < 3; round++) {
		double deadline = jp__now() + (round < 2 ? CLOSE_GRACE_S : 3600);
		int left = 0;
		for (int i = 0; i < p->n_workers; i++) {
			jp__worker *w = &p->workers[i];
			if (w->pid && signals[round])
				kill(w->pid, signals[round]);
		}
		double pause = 0.0002;
		do {
			left = 0;
			for (int i = 0; i < p->n_workers; i++) {
				jp__worker *w = &p->workers[i];
				int status;
				if (w->pid && wait_pid(w->pid, &status, WNOHANG) == 0)
					left++;
				else if (w->pid)
					release_slot(p, w);
			}
			if (left) {
				sleep_s(pause);
				pause = pause < 0.01 ? pause * 2 : pause;
			}
		} while (left && jp__now() < deadline);
		if (!left)
			break;
	}
}

static void free_pool(jp_pool *p)
{
	/* first: the engine may still hold reads into the buffers below */
	jp__io_free(p->io);
	p->io = NULL;
	jp__status_close(p);
	for (int i = 0; i < p->n_workers; i++) {
		jp__worker *w = &p->workers[i];
		close_fd(&w->task_fd);
		close_fd(&w->result_fd);
		jp__buf_free(&w->sending);
		jp__buf_free(&w->queued);
		jp__buf_free(&w->in);
		free(w->inflight);
	}
	free(p->workers);
	jp__lanes_free(p->lanes, p->n_workers);
	jp__buf_free(&p->lane_in);
	jp__buf_free(&p->kept_callf);
	jp__buf_free(&p->last_callf);
	jp__buf_free(&p->kept_batch);
	jp__buf_free(&p->kept_out);
	if (p->runner_kept)
		jp__runner_free(&p->kept_runner);
	jp__call_free_kept(p);
	jp__bufcache_free(&p->big_bufs);
	jp__config_free(&p->cfg);
	free(p);
}

int jp_pool_open(jp_pool **pool, const jp_options *options)
{
	static const jp_options defaults = JP_OPTIONS_INIT;
	open_errmsg[0] = '\0';
	if (!pool)
		return -EINVAL;
	*pool = NULL;
	jp_pool *p = calloc(1, sizeof *p);
	if (!p) {
		jp__msgf(open_errmsg, sizeof open_errmsg, "out of memory");
		return -ENOMEM;
	}
	jp__bufcache_init(&p->big_bufs);
	int err = jp__config_parse(&p->cfg, options ? options : &defaults, open_errmsg,
				   sizeof open_errmsg);
	if (err) {
		free(p);
		return err;
	}
	p->owner = getpid();
	/* Inside a pool worker (a process, or a thread of the thread backend)
	 * the outer pool has the CPUs already: a nested pool runs its tasks in
	 * the calling thread, unless $JOBPOOL_MAX_NESTING allows this depth.
	 * joblib makes the same choice below threads and beyond one level. */
	p->depth = jp__nesting_depth();
	if (p->depth > jp__nesting_max() && p->cfg.n_jobs > 1) {
		if (p->cfg.verbose)
			fprintf(stderr, "[jobpool] pool opened inside a pool worker (depth %d): its tasks run in the calling thread (JOBPOOL_MAX_NESTING=%d)\n",
				p->depth, jp__nesting_max());
		p->cfg.n_jobs = 1;
		p->cfg.backend = JP__SEQUENTIAL;
	}
	if (p->cfg.n_jobs > 1 && p->cfg.backend == JP__PROCESS)
		p->n_workers = p->cfg.n_jobs;
	/* the janitor first: it is forked while this process is small */
	if ((err = jp__share_setup(p))) {
		jp__msgf(open_errmsg, sizeof open_errmsg, "%s",
			 p->errmsg[0] ? p->errmsg : jp_strerror(err));
		jp__share_teardown(p);
		free_pool(p);
		return err;
	}
	jp__status_open(p);
	if (p->n_workers) {
		p->workers = calloc((size_t)p->n_workers, sizeof *p->workers);
		int uring_err = 0;
		err = p->workers ? jp__io_new(&p->io, p->cfg.io, &uring_err) : -ENOMEM;
		if (!err && p->cfg.verbose && p->cfg.io != JP__IO_POLL && uring_err)
			fprintf(stderr, "[jobpool] io_uring %s: %s; the poll(2) engine runs\n",
				p->cfg.io == JP__IO_URING ? "requested (JOBPOOL_IO=uring) but unavailable"
							  : "unavailable",
				jp_strerror(uring_err));
		/* the active wait's fast lanes, unless $JOBPOOL_LANE says "off";
		 * with them the scheduler spins itself, watching them too */
		const char *lane_env = getenv("JOBPOOL_LANE");
		bool lanes = p->cfg.wait_active && !(lane_env && !strcmp(lane_env, "off"));
		if (!err && lanes && jp__lanes_new(&p->lanes, p->n_workers))
			p->lanes = NULL; /* the sockets alone, then */
		p->spin_yields = jp__spin_yields_forced >= 0 ? jp__spin_yields_forced > 0
							     : p->n_workers + 1 > jp_cpu_count();
		if (!err)
			jp__io_set_spin(p->io, p->cfg.wait_active && !p->lanes ? p->cfg.spin_s : 0);
		for (int i = 0; !err && i < p->n_workers; i++)
			p->workers[i].task_fd = p->workers[i].result_fd = -1;
		/* all forked first, so their initializers run side by side */
		for (int i = 0; !err && i < p->n_workers; i++)
			err = fork_worker(p, i);
		for (int i = 0; !err && i < p->n_workers; i++)
			err = await_hello(p, i);
		if (err) {
			jp__msgf(open_errmsg, sizeof open_errmsg, "%s",
				 p->errmsg[0] ? p->errmsg : jp_strerror(err));
			stop_workers(p);
			jp__share_teardown(p);
			free_pool(p);
			return err;
		}
	}
	if (p->cfg.n_jobs > 1 && p->cfg.backend == JP__THREAD && (err = jp__threads_start(p))) {
		jp__msgf(open_errmsg, sizeof open_errmsg, "%s", p->errmsg);
		jp__share_teardown(p);
		free_pool(p);
		return err;
	}
	if (!p->n_workers && !p->threads && p->cfg.initializer) {
		/* sequential: the caller is the one worker */
		char msg[JP__ERRMSG_MAX] = "";
		if ((err = jp__run_initializer(0, p->cfg.initializer, msg, sizeof msg))) {
			jp__msgf(open_errmsg, sizeof open_errmsg,
				 "initializer \"%s\" failed in the calling process: %s",
				 p->cfg.initializer, msg);
			jp__share_teardown(p);
			free_pool(p);
			return err;
		}
	}
	jp__status_state(p, JP__POOL_OPEN);
	if (p->cfg.verbose)
		fprintf(stderr, "[jobpool] pool of %d %s worker%s, engine %s\n", p->cfg.n_jobs,
			p->n_workers ? "process" : p->threads ? "thread" : "sequential",
			p->cfg.n_jobs > 1 ? "s" : "",
			p->io ? jp__io_engine(p->io) : "none");
	*pool = p;
	return 0;
}

void jp_pool_abandon(jp_pool *p)
{
	/* Async-signal-safe: kill(2) and close(2) only, nothing freed, no lock
	 * taken. The workers go at once; the janitor sees its pipe close and
	 * removes the pool's folders, as when the master dies. */
	if (!p || p->owner != getpid())
		return;
	for (int i = 0; i < p->n_workers; i++)
		if (p->workers[i].pid > 0)
			kill(p->workers[i].pid, SIGKILL);
	if (p->share.janitor_fd >= 0)
		close(p->share.janitor_fd);
	p->share.janitor_fd = -1;
}

void jp_pool_close(jp_pool *p)
{
	if (!p)
		return;
	/* A child forked by the host inherits the pool object but not the
	 * workers: it frees its copy and leaves the workers to their master. */
	jp__status_state(p, JP__POOL_CLOSING);
	if (p->owner == getpid())
		stop_workers(p);
	jp__threads_stop(p);
	jp__share_teardown(p);
	free_pool(p);
}
