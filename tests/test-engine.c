/*
 * test-engine.c - the master's I/O engines (io_uring and poll) through
 * ioloop.h, each case run on both; the run-time choice ($JOBPOOL_IO, a
 * kernel that refuses io_uring); the wait policy's options and calls under
 * both policies.
 */
#define _GNU_SOURCE /* pipe2 */
#include "helpers.h"
#include "internal.h"
#include "ioloop.h"
#include "lane.h"
#include "pool.h" /* the master's spin, as sched.c decides it */

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static const enum jp__io_choice engines[] = { JP__IO_POLL, JP__IO_URING };
static const char *const engine_names[] = { "poll", "io_uring" };

/* The engine of loop iteration i, or NULL when io_uring is not to be had
 * here (a build without liburing, a kernel that refuses it): the case is
 * then skipped, and says so. */
static jp__io *open_engine(int i)
{
	jp__io *io = NULL;
	int uerr = 0;
	ck_assert_int_eq(jp__io_new(&io, engines[i], &uerr), 0);
	if (strcmp(jp__io_engine(io), engine_names[i])) {
		ck_assert_int_eq(i, 1);
		ck_assert_int_ne(uerr, 0);
		fprintf(stderr, "SKIP: io_uring unavailable here (%s)\n", jp_strerror(uerr));
		jp__io_free(io);
		return NULL;
	}
	return io;
}

/* Wait until `want` events have come, or fail after a few seconds. */
static int collect(jp__io *io, jp__io_event *ev, int want)
{
	int got = 0;
	for (int round = 0; round < 500 && got < want; round++) {
		int n = jp__io_wait(io, ev + got, want - got, 10);
		ck_assert_int_ge(n, 0);
		got += n;
	}
	return got;
}

static void make_pipe(int fd[2])
{
	ck_assert_int_eq(pipe2(fd, O_CLOEXEC), 0);
}

START_TEST(read_reports_bytes_and_eof)
{
	jp__io *io = open_engine(_i);
	if (!io)
		return;
	int p[2];
	make_pipe(p);
	char buf[16] = { 0 };
	ck_assert_int_eq(jp__io_read(io, p[0], buf, sizeof buf, 0xabcdef0123ull), 0);
	ck_assert_int_eq(write(p[1], "hello", 5), 5);
	jp__io_event ev[2];
	ck_assert_int_eq(collect(io, ev, 1), 1);
	ck_assert_uint_eq(ev[0].tag, 0xabcdef0123ull);
	ck_assert_int_eq(ev[0].kind, JP__IO_READ);
	ck_assert_int_eq(ev[0].res, 5);
	ck_assert_mem_eq(buf, "hello", 5);
	/* end of file: a read that completes with 0 */
	close(p[1]);
	ck_assert_int_eq(jp__io_read(io, p[0], buf, sizeof buf, 7), 0);
	ck_assert_int_eq(collect(io, ev, 1), 1);
	ck_assert_uint_eq(ev[0].tag, 7);
	ck_assert_int_eq(ev[0].res, 0);
	/* nothing pending: nothing could ever complete */
	ck_assert_int_eq(jp__io_wait(io, ev, 2, -1), -EDEADLK);
	close(p[0]);
	jp__io_free(io);
}
END_TEST

struct drain {
	int fd;
	size_t bytes;
	uint64_t sum;
};

static void *drain_slowly(void *arg)
{
	struct drain *d = arg;
	unsigned char buf[4096];
	ssize_t n;
	usleep(20 * 1000); /* the sender finds the socket full first */
	while ((n = read(d->fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			d->sum += buf[i];
		d->bytes += (size_t)n;
	}
	return NULL;
}

START_TEST(write_completes_when_every_byte_is_sent)
{
	jp__io *io = open_engine(_i);
	if (!io)
		return;
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* far more than a socket buffer: short sends are resumed */
	size_t len = 8u << 20;
	unsigned char *data = malloc(len);
	uint64_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += data[i] = (unsigned char)(i * 7 + 3);
	struct drain d = { .fd = sv[1] };
	pthread_t th;
	pthread_create(&th, NULL, drain_slowly, &d);
	int rc = jp__io_write(io, sv[0], data, len, 42);
	ck_assert_int_eq(rc, 1); /* it cannot all go at once */
	jp__io_event ev[4];
	ck_assert_int_eq(collect(io, ev, 1), 1);
	ck_assert_int_eq(ev[0].kind, JP__IO_WRITE);
	ck_assert_uint_eq(ev[0].tag, 42);
	ck_assert_int_eq(ev[0].res, (ssize_t)len);
	shutdown(sv[0], SHUT_WR);
	pthread_join(th, NULL);
	ck_assert_uint_eq(d.bytes, len);
	ck_assert_uint_eq(d.sum, sum);
	/* exactly one event per write */
	ck_assert_int_eq(jp__io_wait(io, ev, 4, 0), -EDEADLK);
	close(sv[0]);
	close(sv[1]);
	free(data);
	jp__io_free(io);
}
END_TEST

START_TEST(write_to_a_dead_peer_is_epipe_not_sigpipe)
{
	/* SIGPIPE at its default would kill this process */
	signal(SIGPIPE, SIG_DFL);
	jp__io *io = open_engine(_i);
	if (!io)
		return;
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(sv[1]);
	int rc = jp__io_write(io, sv[0], "x", 1, 9);
	if (rc == 1) {
		jp__io_event ev[1];
		ck_assert_int_eq(collect(io, ev, 1), 1);
		ck_assert_uint_eq(ev[0].tag, 9);
		ck_assert_int_eq(ev[0].res, -EPIPE);
	} else {
		ck_assert_int_eq(rc, -EPIPE);
	}
	close(sv[0]);
	jp__io_free(io);
}
END_TEST

START_TEST(forget_drops_a_pending_read)
{
	jp__io *io = open_engine(_i);
	if (!io)
		return;
	int p[2], q[2];
	make_pipe(p);
	make_pipe(q);
	char buf[8], other[8];
	memset(buf, '.', sizeof buf);
	ck_assert_int_eq(jp__io_read(io, p[0], buf, sizeof buf, 1), 0);
	ck_assert_int_eq(jp__io_read(io, q[0], other, sizeof other, 2), 0);
	jp__io_event ev[4];
	/* both in the engine's hands (io_uring: in the kernel) */
	ck_assert_int_eq(jp__io_wait(io, ev, 4, 5), 0);
	jp__io_forget(io, p[0]);
	/* data now: no event for p, and its buffer untouched */
	ck_assert_int_eq(write(p[1], "abc", 3), 3);
	ck_assert_int_eq(jp__io_wait(io, ev, 4, 20), 0);
	ck_assert_int_eq(memcmp(buf, "........", 8), 0);
	char back[8];
	ck_assert_int_eq(read(p[0], back, sizeof back), 3); /* nothing was taken */
	/* the other fd's read is still there */
	ck_assert_int_eq(write(q[1], "z", 1), 1);
	ck_assert_int_eq(collect(io, ev, 1), 1);
	ck_assert_uint_eq(ev[0].tag, 2);
	ck_assert_int_eq(ev[0].res, 1);
	ck_assert_int_eq(jp__io_wait(io, ev, 4, 0), -EDEADLK);
	close(p[0]), close(p[1]), close(q[0]), close(q[1]);
	jp__io_free(io);
}
END_TEST

START_TEST(forget_drops_a_completion_not_yet_handed_out)
{
	jp__io *io = open_engine(_i);
	if (!io)
		return;
	int p[2], q[2];
	make_pipe(p);
	make_pipe(q);
	char a[4], b[4];
	ck_assert_int_eq(write(p[1], "a", 1), 1);
	ck_assert_int_eq(write(q[1], "b", 1), 1);
	ck_assert_int_eq(jp__io_read(io, p[0], a, sizeof a, 1), 0);
	ck_assert_int_eq(jp__io_read(io, q[0], b, sizeof b, 2), 0);
	jp__io_event ev[2];
	ck_assert_int_eq(collect(io, ev, 1), 1); /* one of the two, at most one */
	int other = ev[0].tag == 1 ? q[0] : p[0];
	jp__io_forget(io, other);
	ck_assert_int_eq(jp__io_wait(io, ev, 2, 10), -EDEADLK);
	close(p[0]), close(p[1]), close(q[0]), close(q[1]);
	jp__io_free(io);
}
END_TEST

START_TEST(tags_come_back_with_their_operations)
{
	jp__io *io = open_engine(_i);
	if (!io)
		return;
	enum { N = 40 }; /* more than a few rounds of events */
	int p[N][2];
	char buf[N][4];
	for (int k = 0; k < N; k++) {
		make_pipe(p[k]);
		ck_assert_int_eq(jp__io_read(io, p[k][0], buf[k], 4, (uint64_t)k << 32 | 0x55u), 0);
	}
	for (int k = N - 1; k >= 0; k--) {
		char c = (char)('A' + k);
		ck_assert_int_eq(write(p[k][1], &c, 1), 1);
	}
	jp__io_event ev[N];
	bool seen[N] = { false };
	int got = 0;
	while (got < N) {
		int n = jp__io_wait(io, ev, 7, 100); /* fewer than are ready */
		ck_assert_int_ge(n, 0);
		ck_assert_int_le(n, 7);
		for (int j = 0; j < n; j++) {
			int k = (int)(ev[j].tag >> 32);
			ck_assert_uint_eq(ev[j].tag & 0xffffffffu, 0x55u);
			ck_assert(!seen[k]);
			seen[k] = true;
			ck_assert_int_eq(ev[j].res, 1);
			ck_assert_int_eq(buf[k][0], 'A' + k);
		}
		got += n;
	}
	for (int k = 0; k < N; k++)
		close(p[k][0]), close(p[k][1]);
	jp__io_free(io);
}
END_TEST

static void *write_later(void *arg)
{
	usleep(300);
	ck_assert_int_eq(write(*(int *)arg, "!", 1), 1);
	return NULL;
}

START_TEST(active_wait_sees_what_arrives_while_it_spins_and_after)
{
	jp__io *io = open_engine(_i);
	if (!io)
		return;
	int p[2];
	make_pipe(p);
	char c;
	jp__io_event ev[1];
	/* a spin longer than the writer's delay, then one shorter */
	double spins[] = { 0.05, 20e-6 };
	for (int k = 0; k < 2; k++) {
		jp__io_set_spin(io, spins[k]);
		ck_assert_int_eq(jp__io_read(io, p[0], &c, 1, 3), 0);
		pthread_t th;
		pthread_create(&th, NULL, write_later, &p[1]);
		ck_assert_int_eq(collect(io, ev, 1), 1);
		ck_assert_int_eq(ev[0].res, 1);
		pthread_join(th, NULL);
	}
	/* a timeout shorter than the spin bounds it */
	jp__io_set_spin(io, 0.5);
	ck_assert_int_eq(jp__io_read(io, p[0], &c, 1, 3), 0);
	double t0 = jp__now();
	ck_assert_int_eq(jp__io_wait(io, ev, 1, 30), 0);
	double t = jp__now() - t0;
	ck_assert_msg(t >= 0.025 && t < 0.4, "waited %.3f s for a 30 ms timeout", t);
	jp__io_forget(io, p[0]);
	close(p[0]), close(p[1]);
	jp__io_free(io);
}
END_TEST

struct submitter {
	jp__io *io;
	int fd;
	char *buf;
};

static void *submit_and_leave(void *arg)
{
	struct submitter *s = arg;
	jp__io_event ev[1];
	ck_assert_int_eq(jp__io_read(s->io, s->fd, s->buf, 8, 11), 0);
	/* into the kernel (io_uring), then the thread ends: the kernel
	 * cancels what a thread submitted when it exits */
	ck_assert_int_eq(jp__io_wait(s->io, ev, 1, 0), 0);
	return NULL;
}

/* A pool used from a thread that then ends (test-lifecycle's
 * one_call_at_a_time hung on this now and then): the read that thread left
 * in the kernel comes back cancelled, and must be submitted again before
 * the next wait blocks, even a wait without a limit and without spinning. */
START_TEST(a_read_left_by_an_exited_thread_still_completes)
{
	jp__io *io = open_engine(_i);
	if (!io)
		return;
	int p[2];
	make_pipe(p);
	char buf[8];
	struct submitter s = { .io = io, .fd = p[0], .buf = buf };
	pthread_t th;
	pthread_create(&th, NULL, submit_and_leave, &s);
	pthread_join(th, NULL);
	ck_assert_int_eq(write(p[1], "late", 4), 4);
	jp__io_event ev[1];
	ck_assert_int_eq(jp__io_wait(io, ev, 1, -1), 1); /* blocked for ever before */
	ck_assert_uint_eq(ev[0].tag, 11);
	ck_assert_int_eq(ev[0].res, 4);
	ck_assert_mem_eq(buf, "late", 4);
	close(p[0]), close(p[1]);
	jp__io_free(io);
}
END_TEST

/* ---- the run-time choice ------------------------------------------------ */

START_TEST(auto_prefers_io_uring)
{
	jp__io *io;
	int uerr = -1;
	ck_assert_int_eq(jp__io_new(&io, JP__IO_AUTO, &uerr), 0);
	if (uerr == 0)
		ck_assert_str_eq(jp__io_engine(io), "io_uring");
	else
		ck_assert_str_eq(jp__io_engine(io), "poll");
#ifndef HAVE_LIBURING
	ck_assert_int_eq(uerr, JP_ENOTSUP);
#endif
	jp__io_free(io);
	ck_assert_int_eq(jp__io_new(&io, JP__IO_POLL, &uerr), 0);
	ck_assert_str_eq(jp__io_engine(io), "poll");
	ck_assert_int_eq(uerr, 0);
	jp__io_free(io);
}
END_TEST

/* Whether this process can have an io_uring engine. */
static bool uring_here(void)
{
	jp__io *io;
	int uerr;
	if (jp__io_new(&io, JP__IO_URING, &uerr))
		return false;
	jp__io_free(io);
	return uerr == 0;
}

static int twice(jp_task *t)
{
	size_t b = jp_task_begin(t), e = jp_task_end(t);
	int64_t *out = jp_task_result_alloc(t, (e - b) * sizeof *out);
	if (!out)
		return jp_task_fail(t, "no memory");
	for (size_t k = b; k < e; k++)
		out[k - b] = 2 * (int64_t)k;
	return 0;
}
JP_TASK(twice);

static void run_twice(jp_pool *pool, size_t n)
{
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "twice", n), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	ck_assert_uint_eq(len, n * sizeof(int64_t));
	for (size_t k = 0; k < n; k++)
		ck_assert_int_eq(((const int64_t *)d)[k], 2 * (int64_t)k);
	jp_call_free(c);
}

START_TEST(jobpool_io_names_the_engine)
{
	setenv("JOBPOOL_IO", "poll", 1);
	jp_pool *pool = jpt_open(2);
	ck_assert_str_eq(jp_pool_io_engine(pool), "poll");
	run_twice(pool, 100);
	jp_pool_close(pool);

	setenv("JOBPOOL_IO", "uring", 1);
	pool = jpt_open(2);
	ck_assert_str_eq(jp_pool_io_engine(pool), uring_here() ? "io_uring" : "poll");
	run_twice(pool, 100);
	jp_pool_close(pool);

	unsetenv("JOBPOOL_IO");
	pool = jpt_open(1); /* no worker process: no engine */
	ck_assert_str_eq(jp_pool_io_engine(pool), "none");
	jp_pool_close(pool);
	ck_assert_ptr_null(jp_pool_io_engine(NULL));
	jpt_assert_no_children();
}
END_TEST

START_TEST(jobpool_io_bogus_is_refused_by_name)
{
	setenv("JOBPOOL_IO", "bogus", 1);
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	jp_pool *pool = (jp_pool *)1;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), JP_EOPTION);
	ck_assert_ptr_null(pool);
	ck_assert_msg(strstr(jp_pool_errmsg(NULL), "JOBPOOL_IO") &&
			      strstr(jp_pool_errmsg(NULL), "\"bogus\""),
		      "message: %s", jp_pool_errmsg(NULL));
	jpt_assert_no_children();
}
END_TEST

/* Make io_uring_setup fail with ENOSYS in this process and its children,
 * as a container's seccomp profile does. */
static void refuse_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
	ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

START_TEST(refused_io_uring_falls_back_to_poll_and_says_so)
{
	refuse_io_uring();
	ck_assert(!uring_here());
	/* verbose: the fallback is told on stderr, captured in a file */
	char path[] = "/tmp/jpt-engine-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	setenv("JOBPOOL_IO", "uring", 1);
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.verbose = 1;
	jp_pool *pool = NULL;
	int err = jp_pool_open(&pool, &opt);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ck_assert_int_eq(err, 0);
	ck_assert_str_eq(jp_pool_io_engine(pool), "poll");
	run_twice(pool, 1000);
	jp_pool_close(pool);
	char text[2048] = "";
	ssize_t n = pread(fd, text, sizeof text - 1, 0);
	close(fd);
	ck_assert_int_gt(n, 0);
	ck_assert_msg(strstr(text, "io_uring requested") && strstr(text, "engine poll"),
		      "stderr said: %s", text);
	/* and without JOBPOOL_IO, quietly */
	unsetenv("JOBPOOL_IO");
	pool = jpt_open(2);
	ck_assert_str_eq(jp_pool_io_engine(pool), "poll");
	run_twice(pool, 10);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* ---- the wait policy ------------------------------------------------------ */

START_TEST(wait_policy_options_are_checked)
{
	jp_options opt = JP_OPTIONS_INIT;
	jp__config cfg;
	char err[256];
	ck_assert_int_eq(jp__config_parse(&cfg, &opt, err, sizeof err), 0);
	ck_assert(cfg.spin_s > 0 && cfg.spin_s < 1e-3);
	jp__config_free(&cfg);
	opt.wait_policy = "passive";
	ck_assert_int_eq(jp__config_parse(&cfg, &opt, err, sizeof err), 0);
	ck_assert(!cfg.wait_active);
	jp__config_free(&cfg);
	opt.wait_policy = "active";
	opt.spin_s = 2e-4;
	ck_assert_int_eq(jp__config_parse(&cfg, &opt, err, sizeof err), 0);
	ck_assert(cfg.wait_active);
	ck_assert(cfg.spin_s == 2e-4);
	jp__config_free(&cfg);
	opt.wait_policy = "busy";
	ck_assert_int_eq(jp__config_parse(&cfg, &opt, err, sizeof err), JP_EOPTION);
	ck_assert_msg(strstr(err, "wait_policy \"busy\""), "%s", err);
	opt.wait_policy = NULL; /* the default */
	ck_assert_int_eq(jp__config_parse(&cfg, &opt, err, sizeof err), 0);
	jp__config_free(&cfg);
	double bad[] = { -1e-6, 2.0, 1.0 / 0.0 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		opt.spin_s = bad[i];
		ck_assert_int_eq(jp__config_parse(&cfg, &opt, err, sizeof err), JP_EOPTION);
		ck_assert_msg(strstr(err, "spin_s"), "%s", err);
	}
	opt.spin_s = -1e-6;
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), JP_EOPTION);
	ck_assert_msg(strstr(jp_pool_errmsg(NULL), "spin_s -1e-06"), "%s", jp_pool_errmsg(NULL));
}
END_TEST

/* Both policies on both engines: the same results, calls after calls of
 * every size, with pauses longer than the spin between some of them. */
START_TEST(calls_under_each_policy_and_engine)
{
	static const char *const policy[] = { "passive", "active" };
	setenv("JOBPOOL_IO", _i / 2 ? "uring" : "poll", 1);
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 3;
	opt.wait_policy = policy[_i % 2];
	opt.spin_s = 1e-4;
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	for (int r = 0; r < 20; r++) {
		run_twice(pool, (size_t)r * 37 % 500 + 1);
		if (r % 5 == 0)
			usleep(2000);
	}
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* A result of as many bytes as its argument says, each byte its item's
 * index plus its offset: small ones fit a lane, large ones take the pipe. */
static int sized(jp_task *t)
{
	int64_t n;
	if (jp_task_arg_i64(t, 1, &n))
		return jp_task_fail(t, "no size");
	uint8_t *out = jp_task_result_alloc(t, (size_t)n);
	if (!out && n)
		return jp_task_fail(t, "no memory");
	for (int64_t k = 0; k < n; k++)
		out[k] = (uint8_t)(jp_task_begin(t) + (size_t)k);
	return 0;
}
JP_TASK(sized);

/* Two workers of the active wait, a batch per item, a 100 us spin. */
static jp_pool *open_two_spinning(void)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.batch_size = "1";
	opt.spin_s = 1e-4;
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	return pool;
}

/* The fast lane and the old ways mixed: results and arguments below and
 * above a lane's size, in order, after pauses that put both sides to sleep
 * (each engine, the lane on and off). */
START_TEST(lanes_and_pipes_keep_order)
{
	setenv("JOBPOOL_IO", _i / 2 % 2 ? "uring" : "poll", 1);
	setenv("JOBPOOL_LANE", _i % 2 ? "on" : "off", 1);
	/* 4 and up: spinners that look many times between yields, as where
	 * each process has a CPU of its own (here they share 2) */
	jp__spin_yields_forced = _i >= 4 ? 0 : -1;
	jp_pool *pool = open_two_spinning();
	static uint8_t blob[300000]; /* an inline argument larger than a lane */
	for (size_t k = 0; k < sizeof blob; k++)
		blob[k] = (uint8_t)(k * 7);
	for (int round = 0; round < 6; round++) {
		jp_call *c;
		ck_assert_int_eq(jp_call_new(&c, pool), 0);
		ck_assert_int_eq(jp_call_arg_bytes(c, blob, round % 2 ? sizeof blob : 16), 0);
		enum { N = 40 };
		int64_t size[N];
		for (int i = 0; i < N; i++) {
			size[i] = (i + round) % 3 == 0 ? 300000 : (i % 5) * 24;
			ck_assert_int_ge(jp_call_add(c, "sized"), 0);
			ck_assert_int_eq(jp_call_arg_i64(c, size[i]), 0);
		}
		ck_assert_int_eq(jp_call_run(c), 0);
		for (int i = 0; i < N; i++) {
			const void *d;
			size_t len;
			ck_assert_int_eq(jp_call_result(c, (size_t)i, &d, &len), 0);
			ck_assert_uint_eq(len, (size_t)size[i]);
			for (size_t k = 0; k < len; k += 997)
				ck_assert_uint_eq(((const uint8_t *)d)[k], (uint8_t)(i + (int)k));
		}
		jp_call_free(c);
		if (round % 2)
			usleep(5000); /* past the spin: both sides sleep */
	}
	jp_pool_close(pool);
	unsetenv("JOBPOOL_LANE");
	jp__spin_yields_forced = -1;
	jpt_assert_no_children();
}
END_TEST

/* A task that sleeps its argument's microseconds. */
static int sleeps(jp_task *t)
{
	int64_t us;
	if (jp_task_arg_i64(t, 0, &us))
		return jp_task_fail(t, "no time");
	usleep((useconds_t)us);
	return jp_task_set_result(t, &us, sizeof us);
}
JP_TASK(sleeps);

static void run_sleeps(jp_pool *pool, size_t n, int64_t us)
{
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_ge(jp_call_add(c, "sleeps"), 0);
		ck_assert_int_eq(jp_call_arg_i64(c, us), 0);
	}
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
}

/* The active wait's master spins only while batches come back within
 * about its spin (sched.c's jp__sched_master_spin_s): after batches of
 * 5 ms it sleeps at once, after short ones it spins again. */
START_TEST(the_master_spins_only_for_short_batches)
{
	jp_pool *pool = open_two_spinning();
	run_sleeps(pool, 4, 5000);
	ck_assert(jp__sched_master_spin_s(pool) == 0);
	/* a short batch can be late on a busy machine: one of many will do */
	bool spins = false;
	for (int r = 0; r < 200 && !spins; r++) {
		run_sleeps(pool, 2, 0);
		spins = jp__sched_master_spin_s(pool) == 1e-4;
	}
	ck_assert(spins);
	run_sleeps(pool, 2, 5000);
	ck_assert(jp__sched_master_spin_s(pool) == 0);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* A lane's ring: chunks come out whole and in order across the ring's end
 * and its laps, a full ring refuses a chunk until one is taken, and a
 * stamp that is not the chunk's own reads as a broken producer. */
START_TEST(a_ring_keeps_chunks_whole_and_in_order)
{
	jp__lane *lanes;
	ck_assert_int_eq(jp__lanes_new(&lanes, 1), 0);
	jp__ring *r = &lanes[0].to_worker;
	static uint8_t in[JP__RING_BYTES], out[JP__RING_BYTES];
	size_t len;
	uint64_t mark;
	ck_assert_int_eq(jp__ring_peek(r, &len, &mark), 0);
	ck_assert(!jp__ring_nonempty(r));
	/* the largest chunk fills the ring */
	ck_assert(!jp__ring_push(r, in, JP__RING_BYTES - JP__CHUNK_HDR + 1, 0));
	ck_assert(jp__ring_push(r, in, JP__RING_BYTES - JP__CHUNK_HDR, 7));
	ck_assert(!jp__ring_push(r, in, 1, 0));
	ck_assert_int_eq(jp__ring_peek(r, &len, &mark), 1);
	ck_assert_uint_eq(len, JP__RING_BYTES - JP__CHUNK_HDR);
	ck_assert_uint_eq(mark, 7);
	jp__ring_pop(r, out, len);
	/* many laps of chunks of every length from 1 to 5,000 bytes, pushed
	 * while there is room, taken a few at a time */
	uint64_t pushed = 0, taken = 0;
	while (taken < 4000) {
		size_t n = 1 + (size_t)(pushed * 7919 % 5000);
		for (size_t k = 0; k < n; k++)
			in[k] = (uint8_t)(pushed + k * 31);
		if (jp__ring_push(r, in, n, pushed * 3)) {
			pushed++;
			if (pushed % 3)
				continue;
		}
		for (int k = 0; k < 2 && taken < pushed; k++) {
			size_t want = 1 + (size_t)(taken * 7919 % 5000);
			ck_assert(jp__ring_nonempty(r));
			ck_assert_int_eq(jp__ring_peek(r, &len, &mark), 1);
			ck_assert_uint_eq(len, want);
			ck_assert_uint_eq(mark, taken * 3);
			jp__ring_pop(r, out, len);
			for (size_t b = 0; b < len; b += 97)
				ck_assert_uint_eq(out[b], (uint8_t)(taken + b * 31));
			taken++;
		}
	}
	ck_assert_uint_gt(r->head, 10 * (uint64_t)JP__RING_BYTES); /* laps */
	while (taken < pushed) {
		ck_assert_int_eq(jp__ring_peek(r, &len, &mark), 1);
		jp__ring_pop(r, out, len);
		taken++;
	}
	ck_assert_int_eq(jp__ring_peek(r, &len, &mark), 0);
	/* full: refused until a chunk is taken */
	int held = 0;
	while (jp__ring_push(r, in, 1000, 0))
		held++;
	/* a header and 1000 bytes, to the next chunk's start */
	ck_assert_int_eq(held, JP__RING_BYTES / ((JP__CHUNK_HDR + 1000 + JP__CHUNK_ALIGN - 1) /
						JP__CHUNK_ALIGN * JP__CHUNK_ALIGN));
	ck_assert_int_eq(jp__ring_peek(r, &len, &mark), 1);
	jp__ring_pop(r, out, len);
	ck_assert(jp__ring_push(r, in, 1000, 0));
	/* a stamp scribbled over */
	uint64_t bad = 12345;
	memcpy(r->data + r->head % JP__RING_BYTES, &bad, sizeof bad);
	ck_assert_int_eq(jp__ring_peek(r, &len, &mark), -1);
	/* a reset empties the ring, stamps and all */
	jp__lane_reset(&lanes[0]);
	ck_assert_int_eq(jp__ring_peek(r, &len, &mark), 0);
	ck_assert(!jp__ring_nonempty(r));
	jp__lanes_free(lanes, 1);
}
END_TEST

/* A map task that returns the range it was given: one record per batch;
 * with an argument, it sleeps that many microseconds first. */
static int span(jp_task *t)
{
	int64_t us, r[2] = { (int64_t)jp_task_begin(t), (int64_t)jp_task_end(t) };
	if (jp_task_nargs(t) && jp_task_arg_i64(t, 0, &us) == 0)
		usleep((useconds_t)us * (useconds_t)(r[1] - r[0]));
	return jp_task_set_result(t, r, sizeof r);
}
JP_TASK(span);

/* The same, under another name: the pool times each task apart. */
static int slow_span(jp_task *t)
{
	return span(t);
}
JP_TASK(slow_span);

/* How many batches a map of n ran as; they must cover [0, n) in order. */
static size_t batches_of_span(jp_pool *pool, const char *task, size_t n, int64_t us)
{
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, task, n), 0);
	if (us)
		ck_assert_int_eq(jp_call_arg_i64(c, us), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	ck_assert_uint_eq(len % (2 * sizeof(int64_t)), 0);
	const int64_t *r = d;
	size_t batches = len / (2 * sizeof(int64_t));
	for (size_t k = 0; k < batches; k++)
		ck_assert_int_eq(r[2 * k], k ? r[2 * k - 1] : 0);
	ck_assert_int_eq(r[2 * batches - 1], (int64_t)n);
	jp_call_free(c);
	return batches;
}

/* A call whose items the workers ran faster than a hand-off to a second
 * worker costs goes to one worker as one batch, once the pool has timed
 * its task (sched.c's ONE_BATCH_S); a call of longer items is split. */
START_TEST(calls_too_short_to_split_go_as_one_batch)
{
	double bound = jp__one_batch_s;
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.wait_policy = _i ? "passive" : "active";
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	jp__one_batch_s = 1.0; /* every call of a timed task is short */
	ck_assert_uint_gt(batches_of_span(pool, "span", 8, 0), 1); /* not timed yet */
	ck_assert_uint_eq(batches_of_span(pool, "span", 8, 0), 1);
	ck_assert_uint_eq(batches_of_span(pool, "span", 3, 0), 1);
	jp__one_batch_s = 0; /* none is */
	ck_assert_uint_gt(batches_of_span(pool, "span", 8, 0), 1);
	/* the bound itself: items of a millisecond are never that short */
	jp__one_batch_s = bound;
	for (int k = 0; k < 3; k++)
		ck_assert_uint_gt(batches_of_span(pool, "slow_span", 4, 1000), 1);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = jpt_tcase("ioloop");
	tcase_add_loop_test(tc, read_reports_bytes_and_eof, 0, 2);
	tcase_add_loop_test(tc, write_completes_when_every_byte_is_sent, 0, 2);
	tcase_add_loop_test(tc, write_to_a_dead_peer_is_epipe_not_sigpipe, 0, 2);
	tcase_add_loop_test(tc, forget_drops_a_pending_read, 0, 2);
	tcase_add_loop_test(tc, forget_drops_a_completion_not_yet_handed_out, 0, 2);
	tcase_add_loop_test(tc, tags_come_back_with_their_operations, 0, 2);
	tcase_add_loop_test(tc, active_wait_sees_what_arrives_while_it_spins_and_after, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("threads"); /* a hang is the failure: a short limit */
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, a_read_left_by_an_exited_thread_still_completes, 0, 2);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("choice");
	tcase_add_test(tc, auto_prefers_io_uring);
	tcase_add_test(tc, jobpool_io_names_the_engine);
	tcase_add_test(tc, jobpool_io_bogus_is_refused_by_name);
	tcase_add_test(tc, refused_io_uring_falls_back_to_poll_and_says_so);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("wait policy");
	tcase_add_test(tc, wait_policy_options_are_checked);
	tcase_add_loop_test(tc, calls_under_each_policy_and_engine, 0, 4);
	tcase_add_loop_test(tc, lanes_and_pipes_keep_order, 0, 8);
	tcase_add_test(tc, a_ring_keeps_chunks_whole_and_in_order);
	tcase_add_test(tc, the_master_spins_only_for_short_batches);
	tcase_add_loop_test(tc, calls_too_short_to_split_go_as_one_batch, 0, 2);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
