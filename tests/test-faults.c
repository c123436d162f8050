/*
 * test-faults.c - what goes wrong, and what the pool does about it: crashed
 * workers rerun (retries) or reported, failures that cancel nothing
 * (on_error "continue"), timeouts, recycling by task count and by memory,
 * the respawn throttle, SIGINT during a call, a host that runs threads, and
 * injected failures of fork, mmap and open files.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "pool.h"
#include "kernels/gemm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) == -1)
		;
}

/* Its pid; but first, if the file named by its bytes argument does not
 * exist yet, make it and abort: a task that crashes on its first run. */
static int crash_once(jp_task *t)
{
	const void *p;
	size_t n;
	char path[512];
	if (jp_task_arg_bytes(t, 0, &p, &n) || n >= sizeof path)
		return jp_task_fail(t, "no path");
	memcpy(path, p, n);
	path[n] = '\0';
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	if (fd >= 0) {
		close(fd);
		abort();
	}
	int64_t pid = getpid();
	return jp_task_set_result(t, &pid, sizeof pid);
}
JP_TASK(crash_once);

/* By its i64 argument: 0 its pid, 1 a failure, 2 abort, else sleep that
 * many ms and its pid. */
static int act(jp_task *t)
{
	int64_t how;
	if (jp_task_arg_i64(t, 0, &how))
		return jp_task_fail(t, "no argument");
	if (how == 1)
		return jp_task_fail(t, "failing as asked");
	if (how == 2)
		abort();
	if (how > 2)
		sleep_ms((long)how);
	int64_t pid = getpid();
	return jp_task_set_result(t, &pid, sizeof pid);
}
JP_TASK(act);

/* The pid, once per item of the range. */
static int whoami(jp_task *t)
{
	size_t n = jp_task_end(t) - jp_task_begin(t);
	int64_t *out = jp_task_result_alloc(t, n * sizeof *out);
	for (size_t i = 0; i < n; i++)
		out[i] = getpid();
	return 0;
}
JP_TASK(whoami);

/* Leaks 32 MiB (touched, so resident), then its pid. */
static int leak(jp_task *t)
{
	char *p = malloc(32u << 20);
	if (!p)
		return jp_task_fail(t, "no memory");
	memset(p, 1, 32u << 20);
	__asm__ volatile("" : : "r"(p) : "memory"); /* kept: a leak */
	int64_t pid = getpid();
	return jp_task_set_result(t, &pid, sizeof pid);
}
JP_TASK(leak);

/* Read every page of argument 0: the worker maps all of it. */
static int read_all(jp_task *t)
{
	jp_array a;
	if (jp_task_arg_array(t, 0, &a))
		return jp_task_fail(t, "no array");
	const volatile uint8_t *d = a.data;
	uint64_t sum = 0;
	for (size_t i = 0; i < jp_array_nbytes(&a); i += 4096)
		sum += d[i];
	return jp_task_set_result(t, &sum, sizeof sum);
}
JP_TASK(read_all);

static jp_pool *open_with(jp_options opt)
{
	jp_pool *pool;
	int err = jp_pool_open(&pool, &opt);
	ck_assert_msg(!err, "open: %s", jp_pool_errmsg(NULL));
	return pool;
}

static jp_call *acts(jp_pool *pool, const int64_t *how, size_t n)
{
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_ge(jp_call_add(c, "act"), 0);
		ck_assert_int_eq(jp_call_arg_i64(c, how[i]), 0);
	}
	return c;
}

static void quick_call_works(jp_pool *pool)
{
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "whoami", 100), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
}

/* ---- crashes and retries ----------------------------------------------------- */

START_TEST(retries_rerun_a_crashed_task)
{
	char dir[256], path[512];
	jpt_mkdtemp(dir, sizeof dir, "jpt-retry");
	for (int retries = 0; retries <= 1; retries++) {
		snprintf(path, sizeof path, "%s/marker-%d", dir, retries);
		jp_options opt = JP_OPTIONS_INIT;
		opt.n_jobs = 2;
		opt.retries = retries;
		jp_pool *pool = open_with(opt);
		jp_call *c;
		ck_assert_int_eq(jp_call_new(&c, pool), 0);
		for (int i = 0; i < 6; i++) {
			ck_assert_int_ge(jp_call_add(c, i == 3 ? "crash_once" : "act"), 0);
			if (i == 3)
				ck_assert_int_eq(jp_call_arg_bytes(c, path, strlen(path)), 0);
			else
				ck_assert_int_eq(jp_call_arg_i64(c, 0), 0);
		}
		int rc = jp_call_run(c);
		const char *msg;
		size_t index;
		jp_call_error(c, &index, &msg);
		if (retries == 0) {
			ck_assert_int_eq(rc, JP_EWORKER);
			ck_assert_uint_eq(index, 3);
			ck_assert_msg(strstr(msg, "task 3 (\"crash_once\") killed worker") &&
					      strstr(msg, "by SIGABRT"),
				      "%s", msg);
		} else {
			ck_assert_msg(rc == 0, "%s", msg);
			const void *d;
			size_t len;
			for (size_t i = 0; i < 6; i++)
				ck_assert_int_eq(jp_call_result(c, i, &d, &len), 0);
		}
		jp_call_free(c);
		quick_call_works(pool); /* usable afterwards */
		jp_pool_close(pool);
	}
	jpt_remove_tree(dir);
	jpt_assert_no_children();
}
END_TEST

START_TEST(continue_runs_everything_else)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.on_error = "continue";
	opt.batch_size = "3"; /* items queued behind the crash on its worker */
	jp_pool *pool = open_with(opt);
	int64_t how[30] = { 0 };
	how[5] = 1;  /* fails */
	how[10] = 2; /* aborts its worker */
	jp_call *c = acts(pool, how, 30);
	int rc = jp_call_run(c);
	ck_assert(rc == JP_ETASK || rc == JP_EWORKER);
	const void *d;
	size_t len;
	for (size_t i = 0; i < 30; i++) {
		int st = jp_call_result(c, i, &d, &len);
		if (i == 5)
			ck_assert_int_eq(st, JP_ETASK);
		else if (i == 10)
			ck_assert_int_eq(st, JP_EWORKER);
		else if (i == 9 || i == 11)
			/* in the crashed batch [9, 12): 9 ran before the crash and
			 * died with it, 11 never ran */
			ck_assert(st == JP_EWORKER || st == JP_ECANCELED);
		else
			ck_assert_msg(st == 0, "item %zu: %d", i, st);
	}
	jp_call_free(c);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* ---- timeouts ------------------------------------------------------------ */

START_TEST(timeout_fails_the_task_and_replaces_its_worker)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.timeout = 0.3;
	opt.batch_size = "1";
	jp_pool *pool = open_with(opt);
	int pids[2] = { jp_pool_worker_pid(pool, 0), jp_pool_worker_pid(pool, 1) };
	int64_t how[6] = { 10, 10, 20000, 10, 10, 10 }; /* item 2 sleeps 20 s */
	jp_call *c = acts(pool, how, 6);
	double t0 = jp__now();
	int rc = jp_call_run(c);
	double took = jp__now() - t0;
	ck_assert_int_eq(rc, JP_ETIMEOUT);
	ck_assert_msg(took < 3.0, "the timeout took %.2f s", took);
	size_t index;
	const char *msg;
	jp_call_error(c, &index, &msg);
	ck_assert_uint_eq(index, 2);
	ck_assert_msg(strstr(msg, "task 2 (\"act\") ran past the timeout of 0.3 s") != NULL, "%s", msg);
	ck_assert_msg(strstr(msg, "killed and replaced") != NULL, "%s", msg);
	ck_assert(jp_pool_worker_pid(pool, 0) != pids[0] || jp_pool_worker_pid(pool, 1) != pids[1]);
	jp_call_free(c);
	quick_call_works(pool);
	jp_pool_close(pool);

	/* with "continue" the others all run */
	opt.on_error = "continue";
	pool = open_with(opt);
	c = acts(pool, how, 6);
	ck_assert_int_eq(jp_call_run(c), JP_ETIMEOUT);
	const void *d;
	size_t len;
	for (size_t i = 0; i < 6; i++)
		ck_assert_int_eq(jp_call_result(c, i, &d, &len), i == 2 ? JP_ETIMEOUT : 0);
	jp_call_free(c);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(options_for_faults_are_checked)
{
	jp_options opt = JP_OPTIONS_INIT;
	jp_pool *pool;
	opt.n_jobs = 1;
	opt.timeout = 1;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), JP_EOPTION);
	ck_assert_ptr_nonnull(strstr(jp_pool_errmsg(NULL), "timeout 1: with n_jobs = 1"));
	opt = (jp_options)JP_OPTIONS_INIT;
	opt.retries = -1;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), JP_EOPTION);
	ck_assert_ptr_nonnull(strstr(jp_pool_errmsg(NULL), "retries -1"));
	opt = (jp_options)JP_OPTIONS_INIT;
	opt.on_error = "ignore";
	ck_assert_int_eq(jp_pool_open(&pool, &opt), JP_EOPTION);
	ck_assert_ptr_nonnull(strstr(jp_pool_errmsg(NULL), "on_error \"ignore\""));
	opt = (jp_options)JP_OPTIONS_INIT;
	opt.max_tasks_per_worker = -3;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), JP_EOPTION);
	ck_assert_ptr_nonnull(strstr(jp_pool_errmsg(NULL), "max_tasks_per_worker -3"));
	opt = (jp_options)JP_OPTIONS_INIT;
	opt.max_rss_growth = "lots";
	ck_assert_int_eq(jp_pool_open(&pool, &opt), JP_EOPTION);
	ck_assert_ptr_nonnull(strstr(jp_pool_errmsg(NULL), "max_rss_growth \"lots\""));
	jpt_assert_no_children();
}
END_TEST

/* ---- recycling ------------------------------------------------------------ */

START_TEST(max_tasks_per_worker_recycles)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.max_tasks_per_worker = 5;
	jp_pool *pool = open_with(opt);
	unsigned long spawned = jp_pool_spawn_count(pool);
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "whoami", 40), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	const int64_t *pids = d;
	/* every pid ran at most 5 items */
	size_t distinct = 0;
	for (size_t i = 0; i < 40; i++) {
		size_t same = 0, first = SIZE_MAX;
		for (size_t j = 0; j < 40; j++)
			if (pids[j] == pids[i]) {
				same++;
				if (first == SIZE_MAX)
					first = j;
			}
		ck_assert_uint_le(same, 5);
		distinct += first == i;
	}
	ck_assert_uint_ge(distinct, 8);
	ck_assert_uint_ge(jp_pool_spawn_count(pool) - spawned, 6);
	jp_call_free(c);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* Pages of a shared array that a worker maps are the file's, not growth:
 * a worker that reads 64 MiB of one after its baseline was taken stays,
 * under a 16M bound. */
START_TEST(shared_pages_are_not_growth)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.max_rss_growth = "16M";
	opt.batch_size = "1";
	jp_pool *pool = open_with(opt);
	size_t shape[1] = { 8u << 20 };
	jp_array big;
	ck_assert_int_eq(jp_array_alloc_shared(pool, JP_FLOAT64, 1, shape, &big), 0);
	memset(big.data, 1, jp_array_nbytes(&big));
	/* each worker's first batch (200 ms: both get one) sets its baseline;
	 * a batch a second later, reading the array, is measured */
	int64_t how[2] = { 200, 200 };
	jp_call *c = acts(pool, how, 2);
	ck_assert_int_eq(jp_call_run(c), 0);
	int64_t pids[2];
	for (size_t i = 0; i < 2; i++) {
		const void *d;
		size_t len;
		ck_assert_int_eq(jp_call_result(c, i, &d, &len), 0);
		memcpy(&pids[i], d, sizeof pids[i]);
	}
	ck_assert(pids[0] != pids[1]);
	jp_call_free(c);
	sleep_ms(1100);
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	ck_assert_int_eq(jp_call_arg_array(c, &big), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_ge(jp_call_add(c, "read_all"), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
	quick_call_works(pool);
	ck_assert_uint_eq(jp_pool_spawn_count(pool), 2);
	jp_array_release(&big);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(memory_growth_recycles)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.max_rss_growth = "16M";
	opt.batch_size = "1";
	jp_pool *pool = open_with(opt);
	int64_t how[2] = { 0, 0 };
	/* the first batch of each worker sets its baseline; a second, a
	 * second later, sees it 32 MiB larger */
	for (int round = 0; round < 2; round++) {
		int before[2] = { jp_pool_worker_pid(pool, 0), jp_pool_worker_pid(pool, 1) };
		jp_call *c;
		ck_assert_int_eq(jp_call_new(&c, pool), 0);
		for (int i = 0; i < 2; i++) {
			ck_assert_int_ge(jp_call_add(c, "leak"), 0);
			(void)how;
		}
		ck_assert_int_eq(jp_call_run(c), 0);
		jp_call_free(c);
		if (round == 0) {
			sleep_ms(1100);
		} else {
			quick_call_works(pool); /* replaced once idle, at the latest here */
			ck_assert(jp_pool_worker_pid(pool, 0) != before[0] ||
				  jp_pool_worker_pid(pool, 1) != before[1]);
		}
	}
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* ---- the respawn throttle -------------------------------------------------- */

START_TEST(quick_deaths_are_throttled)
{
	jp_pool *pool = jpt_open(2);
	jp_call *none;
	ck_assert_int_eq(jp_map_new(&none, pool, "whoami", 0), 0);
	/* worker 0 dies three times right after it started */
	for (int i = 0; i < 3; i++) {
		int pid = jp_pool_worker_pid(pool, 0);
		ck_assert_int_gt(pid, 0);
		kill(pid, SIGKILL);
		sleep_ms(30);
		ck_assert_int_eq(jp_call_run(none), 0); /* reaps and replaces */
	}
	ck_assert_msg(pool->workers[0].respawn_after > jp__now(), "no throttle after 3 quick deaths: %u deaths, respawn after %.3f, now %.3f", pool->workers[0].quick_deaths, pool->workers[0].respawn_after, jp__now());
	ck_assert_int_eq(jp_pool_worker_pid(pool, 0), -ESRCH); /* the slot waits */
	quick_call_works(pool); /* worker 1 carries on */
	jp_call_free(none);

	/* a worker that cannot be forked does not make the pool fork in a loop */
	pool->workers[0].respawn_after = 0;
	pool->workers[0].quick_deaths = 0;
	jp__fault_arm(JP__FAULT_FORK, 100);
	for (int i = 0; i < 10; i++)
		quick_call_works(pool);
	ck_assert_uint_ge(jp__fault_left(JP__FAULT_FORK), 95);
	jp__fault_arm(JP__FAULT_FORK, 0);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* ---- SIGINT ------------------------------------------------------------------- */

static volatile sig_atomic_t handled;
static void count_sigint(int sig)
{
	(void)sig;
	handled++;
}

static void *send_sigint_later(void *arg)
{
	sleep_ms(*(long *)arg);
	kill(getpid(), SIGINT);
	return NULL;
}

START_TEST(sigint_interrupts_the_call)
{
	struct sigaction sa = { .sa_handler = count_sigint }, old, now;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	jp_pool *pool = jpt_open(2);
	int64_t how[20];
	for (int i = 0; i < 20; i++)
		how[i] = 5000; /* 5 s each */
	jp_call *c = acts(pool, how, 20);
	pthread_t th;
	long delay = 200;
	pthread_create(&th, NULL, send_sigint_later, &delay);
	double t0 = jp__now();
	int rc = jp_call_run(c);
	double took = jp__now() - t0;
	pthread_join(th, NULL);
	ck_assert_int_eq(rc, JP_EINTR);
	ck_assert_msg(took < 3.0, "interrupted after %.2f s", took);
	ck_assert_int_eq(handled, 1); /* the program's own handler ran, once */
	const char *msg;
	jp_call_error(c, NULL, &msg);
	ck_assert_ptr_nonnull(strstr(msg, "interrupted by SIGINT"));
	jp_call_free(c);
	sigaction(SIGINT, NULL, &now);
	ck_assert_ptr_eq((void *)now.sa_handler, (void *)count_sigint); /* put back */
	quick_call_works(pool);
	jp_pool_close(pool);
	sigaction(SIGINT, &old, NULL);
	jpt_assert_no_children();
}
END_TEST

/* A sequential pool runs its batches here, so a SIGINT stops the call
 * between two of them: the handler goes in after the first batch. */
START_TEST(sigint_interrupts_a_sequential_call)
{
	struct sigaction sa = { .sa_handler = count_sigint }, old, now;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	handled = 0;
	jp_pool *pool = jpt_open(1);
	int64_t how[40];
	for (int i = 0; i < 40; i++)
		how[i] = 50; /* 2 s in all */
	jp_call *c = acts(pool, how, 40);
	pthread_t th;
	long delay = 300;
	pthread_create(&th, NULL, send_sigint_later, &delay);
	int rc = jp_call_run(c);
	pthread_join(th, NULL);
	ck_assert_int_eq(rc, JP_EINTR);
	ck_assert_int_eq(handled, 1);
	const char *msg;
	jp_call_error(c, NULL, &msg);
	ck_assert_ptr_nonnull(strstr(msg, "interrupted by SIGINT"));
	size_t done = 0, total = 0; /* stopped between two tasks, past the first */
	ck_assert_int_eq(sscanf(strstr(msg, "SIGINT: "), "SIGINT: %zu of %zu", &done, &total), 2);
	ck_assert_msg(done >= 1 && done < 40 && total == 40, "%s", msg);
	jp_call_free(c);
	sigaction(SIGINT, NULL, &now);
	ck_assert_ptr_eq((void *)now.sa_handler, (void *)count_sigint);
	quick_call_works(pool);
	jp_pool_close(pool);
	sigaction(SIGINT, &old, NULL);
}
END_TEST

/* With SIGINT at its default, one Ctrl-C ends the program, after the pool
 * cleaned up: no worker, no folder left. */
START_TEST(sigint_at_default_ends_the_program_cleanly)
{
	/* the program's workers and janitor come to this test when it dies */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	pid_t child = fork();
	if (child == 0) {
		signal(SIGINT, SIG_DFL);
		jp_pool *pool = jpt_open(2);
		int64_t how[20];
		for (int i = 0; i < 20; i++)
			how[i] = 5000;
		jp_call *c = acts(pool, how, 20);
		jp_call_run(c);
		_exit(0); /* not reached */
	}
	sleep_ms(400);
	kill(child, SIGINT);
	int status;
	double t0 = jp__now();
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT, "status %#x", status);
	ck_assert_msg(jp__now() - t0 < 3.0, "took %.2f s", jp__now() - t0);
	/* its workers and janitor come to this subreaper and leave */
	double deadline = jp__now() + 2.0;
	pid_t pids[16];
	while (jpt_children(pids, 16) > 0 && jp__now() < deadline) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		sleep_ms(10);
	}
	jpt_assert_no_children();
}
END_TEST

/* ---- ending without jp_pool_close --------------------------------------------- */

static jp_pool *doomed;
static void abandon_and_leave(int sig)
{
	(void)sig;
	jp_pool_abandon(doomed);
	_exit(0);
}

/* Wait (up to 2 s) for the orphans that came to this subreaper to leave;
 * then nothing may be left, and the pool's folder must be gone. */
static void nothing_left(const char *folder)
{
	double deadline = jp__now() + 2.0;
	pid_t pids[16];
	struct stat st;
	while ((jpt_children(pids, 16) > 0 || stat(folder, &st) == 0) && jp__now() < deadline) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		sleep_ms(10);
	}
	jpt_assert_no_children();
	ck_assert_msg(stat(folder, &st) != 0, "%s is still there", folder);
}

/* a child that (how = 0) exits without closing its pool, or (how = 1) is
 * ended by SIGTERM, whose handler abandons the pool */
START_TEST(ending_without_close_leaves_nothing)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t child = fork();
	if (child == 0) {
		doomed = jpt_open(2);
		size_t shape[1] = { 1u << 18 };
		jp_array a;
		if (jp_array_alloc_shared(doomed, JP_FLOAT64, 1, shape, &a))
			_exit(2);
		char folder[4096];
		snprintf(folder, sizeof folder, "%s", jp_pool_temp_folder(doomed));
		signal(SIGTERM, abandon_and_leave);
		if (write(fds[1], folder, sizeof folder) != sizeof folder)
			_exit(3);
		if (_i == 0)
			exit(0); /* no jp_pool_close */
		pause();
		_exit(4);
	}
	close(fds[1]);
	char folder[4096];
	ck_assert_int_eq(read(fds[0], folder, sizeof folder), (ssize_t)sizeof folder);
	close(fds[0]);
	if (_i == 1)
		kill(child, SIGTERM);
	int status;
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	nothing_left(folder);
}
END_TEST

/* ---- a host with threads of its own ----------------------------------------- */

static volatile int spinning = 1;
static void *spin(void *arg)
{
	(void)arg;
	while (__atomic_load_n(&spinning, __ATOMIC_RELAXED))
		;
	return NULL;
}

START_TEST(a_host_with_threads_opens_a_pool)
{
	/* the BLAS's own threads and two busy threads of the host, then fork */
	size_t n = 120;
	double *a = malloc(n * n * sizeof *a), *b = malloc(n * n * sizeof *b),
	       *ref = malloc(n * n * sizeof *ref);
	for (size_t i = 0; i < n * n; i++) {
		a[i] = (double)(i % 7);
		b[i] = (double)(i % 5);
	}
	jp__blas_set_threads(2);
	ck_assert_int_eq(jp__gemm(JP_FLOAT64, n, n, n, a, n, b, n, ref, n), 0);
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, spin, NULL);
	jp_pool *pool = jpt_open(2);
	jp_array A = { .dtype = JP_FLOAT64, .ndim = 2, .shape = { n, n }, .data = a },
		 B = { .dtype = JP_FLOAT64, .ndim = 2, .shape = { n, n }, .data = b }, C = { 0 };
	ck_assert_int_eq(jp_matmul(pool, &A, &B, &C), 0);
	ck_assert_int_eq(memcmp(C.data, ref, n * n * sizeof *ref), 0);
	jp_array_release(&C);
	quick_call_works(pool);
	jp_pool_close(pool);
	__atomic_store_n(&spinning, 0, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	jp__blas_set_threads(1);
	free(a);
	free(b);
	free(ref);
	jpt_assert_no_children();
}
END_TEST

/* ---- resources: fork, mmap, open files ----------------------------------------- */

START_TEST(fork_failure_at_open_is_clean)
{
	jp__fault_arm(JP__FAULT_FORK, 1);
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 3;
	jp_pool *pool;
	int rc = jp_pool_open(&pool, &opt);
	jp__fault_arm(JP__FAULT_FORK, 0);
	ck_assert_int_eq(rc, -EAGAIN);
	ck_assert_msg(strstr(jp_pool_errmsg(NULL), "fork") != NULL, "%s", jp_pool_errmsg(NULL));
	jpt_assert_no_children();
}
END_TEST

/* A worker whose result is garbage (a corrupted process) is refused and
 * replaced: the call fails naming it, nothing is read out of bounds (ASan
 * runs this too), and the next call is whole. */
START_TEST(a_garbled_result_is_refused)
{
	/* the workers inherit the armed fault; their replacements do not */
	jp__fault_arm(JP__FAULT_GARBLED_RESULT, 1);
	jp_pool *pool = jpt_open(2);
	jp__fault_arm(JP__FAULT_GARBLED_RESULT, 0);
	unsigned long spawned = jp_pool_spawn_count(pool);
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "whoami", 64), 0);
	ck_assert_int_eq(jp_call_run(c), JP_EFRAME);
	const char *msg = NULL;
	ck_assert_int_eq(jp_call_error(c, NULL, &msg), JP_EFRAME);
	ck_assert_msg(msg && strstr(msg, "sent a result that does not match its batch"), "%s", msg);
	jp_call_free(c);
	ck_assert_uint_gt(jp_pool_spawn_count(pool), spawned);
	ck_assert_int_eq(jp_map_new(&c, pool, "whoami", 64), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	ck_assert_uint_eq(len, 64 * sizeof(int64_t));
	jp_call_free(c);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* A send that fails because its worker has just died (EPIPE): the call
 * says so and loses nothing else; with a retry the batch runs elsewhere. */
START_TEST(a_send_to_a_dead_worker)
{
	for (int retries = 0; retries <= 1; retries++) {
		jp_options opt = JP_OPTIONS_INIT;
		opt.n_jobs = 2;
		opt.retries = retries;
		jp_pool *pool = open_with(opt);
		quick_call_works(pool); /* warm: the fault hits a call's send */
		jp_call *c;
		ck_assert_int_eq(jp_map_new(&c, pool, "whoami", 64), 0);
		jp__fault_arm(JP__FAULT_SEND_TO_DEAD, 1);
		int rc = jp_call_run(c);
		jp__fault_arm(JP__FAULT_SEND_TO_DEAD, 0);
		const char *msg = NULL;
		jp_call_error(c, NULL, &msg);
		if (retries == 0) {
			ck_assert_int_eq(rc, JP_EWORKER);
			ck_assert_msg(msg && strstr(msg, "by SIGKILL") &&
					      strstr(msg, "sending to it had failed (EPIPE)"),
				      "%s", msg);
		} else {
			ck_assert_msg(rc == 0, "%s", msg);
			const void *d;
			size_t len;
			ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
			ck_assert_uint_eq(len, 64 * sizeof(int64_t));
		}
		jp_call_free(c);
		quick_call_works(pool);
		jp_pool_close(pool);
	}
	jpt_assert_no_children();
}
END_TEST

START_TEST(mmap_failure_is_reported)
{
	jp_pool *pool = jpt_open(2);
	size_t shape[1] = { 1u << 20 };
	jp_array a;
	jp__fault_arm(JP__FAULT_MMAP, 1);
	ck_assert_int_eq(jp_array_alloc_shared(pool, JP_FLOAT64, 1, shape, &a), -ENOMEM);
	ck_assert_msg(strstr(jp_pool_errmsg(pool), "cannot map") != NULL, "%s", jp_pool_errmsg(pool));
	ck_assert_int_eq(jp_array_alloc_shared(pool, JP_FLOAT64, 1, shape, &a), 0);
	jp_array_release(&a);
	jp_pool_close(pool);
}
END_TEST

START_TEST(too_many_open_files_at_open)
{
	struct rlimit old, low;
	getrlimit(RLIMIT_NOFILE, &old);
	int fds = 0;
	for (int fd = 0; fd < 1024; fd++)
		fds += fcntl(fd, F_GETFD) != -1;
	low = old;
	low.rlim_cur = (rlim_t)(fds + 6); /* room for a worker or two, not four */
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 4;
	jp_pool *pool;
	int rc = jp_pool_open(&pool, &opt);
	setrlimit(RLIMIT_NOFILE, &old);
	ck_assert_int_eq(rc, -EMFILE);
	ck_assert_msg(strstr(jp_pool_errmsg(NULL), "Too many open files") != NULL, "%s",
		      jp_pool_errmsg(NULL));
	jpt_assert_no_children();
	/* and with the limit back, it opens */
	pool = jpt_open(4);
	jp_pool_close(pool);
}
END_TEST

static Suite *faults_suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = jpt_tcase("faults");
	tcase_add_test(tc, retries_rerun_a_crashed_task);
	tcase_add_test(tc, continue_runs_everything_else);
	tcase_add_test(tc, timeout_fails_the_task_and_replaces_its_worker);
	tcase_add_test(tc, options_for_faults_are_checked);
	tcase_add_test(tc, max_tasks_per_worker_recycles);
	tcase_add_test(tc, memory_growth_recycles);
	tcase_add_test(tc, shared_pages_are_not_growth);
	tcase_add_test(tc, quick_deaths_are_throttled);
	tcase_add_test(tc, sigint_interrupts_the_call);
	tcase_add_test(tc, sigint_interrupts_a_sequential_call);
	tcase_add_test(tc, sigint_at_default_ends_the_program_cleanly);
	tcase_add_loop_test(tc, ending_without_close_leaves_nothing, 0, 2);
	tcase_add_test(tc, a_host_with_threads_opens_a_pool);
	tcase_add_test(tc, fork_failure_at_open_is_clean);
	tcase_add_test(tc, mmap_failure_is_reported);
	tcase_add_test(tc, a_garbled_result_is_refused);
	tcase_add_test(tc, a_send_to_a_dead_worker);
	tcase_add_test(tc, too_many_open_files_at_open);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return jpt_run(faults_suite());
}
