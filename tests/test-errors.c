/*
 * test-errors.c - a failing task, a crashing worker, an unknown task: the
 * call fails with the detail, what completed is kept, the rest cancelled,
 * and the pool serves the next call.
 */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Fails on the item equal to arg 0; returns its index otherwise. */
static int fail_at(jp_task *t)
{
	int64_t bad;
	jp_task_arg_i64(t, 0, &bad);
	for (size_t k = jp_task_begin(t); k < jp_task_end(t); k++)
		if ((int64_t)k == bad)
			return jp_task_fail(t, "item %zu is bad", k);
	int64_t v = (int64_t)jp_task_begin(t);
	if (v > bad + 20) {
		/* items well after the bad one take 1 ms: the failure is seen
		 * long before they could all run, however the workers are
		 * scheduled */
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
	}
	return jp_task_set_result(t, &v, sizeof v);
}
JP_TASK(fail_at);

static int returns_five(jp_task *t)
{
	return 5;
}
JP_TASK(returns_five);

/* Crashes on the item equal to arg 0, by the signal in arg 1 (0: _exit(3)). */
static int crash_at(jp_task *t)
{
	int64_t bad, sig;
	jp_task_arg_i64(t, 0, &bad);
	jp_task_arg_i64(t, 1, &sig);
	if ((int64_t)jp_task_begin(t) == bad) {
		if (sig) {
			/* die by the signal itself, even where a sanitizer
			 * would catch it and exit instead */
			signal((int)sig, SIG_DFL);
			raise((int)sig);
		}
		_exit(3);
	}
	int64_t v = (int64_t)jp_task_begin(t);
	return jp_task_set_result(t, &v, sizeof v);
}
JP_TASK(crash_at);

static int late_task(jp_task *t)
{
	return 0;
}

static jp_pool *open_batch(int n_jobs, const char *batch, const char *pre)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = n_jobs;
	opt.batch_size = batch;
	opt.pre_dispatch = pre;
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	return pool;
}

static void run_ok(jp_pool *pool, size_t n)
{
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "fail_at", n), 0);
	jp_call_arg_i64(c, -1);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
}

START_TEST(task_failure_names_index_and_message)
{
	jp_pool *pool = open_batch(_i, "1", "2*n_jobs");
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	jp_call_arg_i64(c, 37);
	for (int i = 0; i < 200; i++)
		jp_call_add(c, "fail_at");
	ck_assert_int_eq(jp_call_run(c), JP_ETASK);
	size_t index;
	const char *msg;
	ck_assert_int_eq(jp_call_error(c, &index, &msg), JP_ETASK);
	ck_assert_uint_eq(index, 37);
	ck_assert_msg(strstr(msg, "task 37 (\"fail_at\")") && strstr(msg, "item 37 is bad"),
		      "message: %s", msg);
	ck_assert(_i == 1 ? strstr(msg, "calling process") != NULL : strstr(msg, "worker") != NULL);
	ck_assert_str_eq(jp_pool_errmsg(pool), msg);

	/* what completed is kept; what was not started is cancelled */
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_result(c, 0, &d, &len), 0);
	ck_assert_int_eq(*(const int64_t *)d, 0);
	ck_assert_int_eq(jp_call_result(c, 37, &d, &len), JP_ETASK);
	ck_assert_int_eq(jp_call_result(c, 199, &d, &len), JP_ECANCELED);
	ck_assert_int_eq(jp_call_output(c, &d, &len), JP_ETASK);
	jp_call_free(c);

	run_ok(pool, 100); /* the pool is still usable */
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(map_failure_names_range)
{
	jp_pool *pool = open_batch(_i, "10", "2*n_jobs");
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "fail_at", 100), 0);
	jp_call_arg_i64(c, 55);
	ck_assert_int_eq(jp_call_run(c), JP_ETASK);
	size_t index;
	const char *msg;
	jp_call_error(c, &index, &msg);
	if (_i > 1) {
		ck_assert_uint_eq(index, 50);
		ck_assert_msg(strstr(msg, "tasks [50, 60) of \"fail_at\""), "message: %s", msg);
	}
	ck_assert_msg(strstr(msg, "item 55 is bad"), "message: %s", msg);
	jp_call_free(c);
	run_ok(pool, 100);
	jp_pool_close(pool);
}
END_TEST

START_TEST(nonzero_return_without_message)
{
	jp_pool *pool = jpt_open(_i);
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "returns_five", 4), 0);
	ck_assert_int_eq(jp_call_run(c), JP_ETASK);
	const char *msg;
	jp_call_error(c, NULL, &msg);
	ck_assert_msg(strstr(msg, "returned 5"), "message: %s", msg);
	jp_call_free(c);
	jp_pool_close(pool);
}
END_TEST

START_TEST(unknown_task)
{
	jp_pool *pool = jpt_open(_i);
	jp_call *c = (jp_call *)1;
	ck_assert_int_eq(jp_map_new(&c, pool, "no_such_task", 4), JP_ENOTASK);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(jp_pool_errmsg(pool), "\"no_such_task\""), "%s", jp_pool_errmsg(pool));
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	ck_assert_int_eq(jp_call_add(c, "no_such_task"), JP_ENOTASK);
	ck_assert_int_eq(jp_call_add(c, "fail_at"), 0);
	jp_call_free(c);

	/* registered after the workers were forked: they do not know it */
	ck_assert_int_eq(jp_task_register("late_task", late_task), 0);
	ck_assert_int_eq(jp_task_register("late_task", late_task), 0);
	ck_assert_int_eq(jp_task_register("late_task", fail_at), -EEXIST);
	ck_assert_int_eq(jp_map_new(&c, pool, "late_task", 8), 0);
	int rc = jp_call_run(c);
	if (_i > 1) {
		ck_assert_int_eq(rc, JP_ENOTASK);
		const char *msg;
		jp_call_error(c, NULL, &msg);
		ck_assert_msg(strstr(msg, "\"late_task\" is registered in worker") || strstr(msg, "no task \"late_task\""),
			      "message: %s", msg);
	} else {
		ck_assert_int_eq(rc, 0);
	}
	jp_call_free(c);
	run_ok(pool, 10);
	jp_pool_close(pool);
}
END_TEST

/* n items of crash_at whose item `bad` dies by `sig`; the call fails with
 * JP_EWORKER at the first item of the batch that held it. */
static jp_call *crashing_call(jp_pool *pool, int64_t bad, int sig, int n, size_t index,
			      const char **msg)
{
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	jp_call_arg_i64(c, bad);
	jp_call_arg_i64(c, sig);
	for (int i = 0; i < n; i++)
		jp_call_add(c, "crash_at");
	ck_assert_int_eq(jp_call_run(c), JP_EWORKER);
	size_t at;
	jp_call_error(c, &at, msg);
	ck_assert_uint_eq(at, index);
	return c;
}

static void crash_case(int sig, const char *how)
{
	jp_pool *pool = open_batch(2, "1", "2*n_jobs");
	unsigned long spawned = jp_pool_spawn_count(pool);
	const char *msg;
	jp_call *c = crashing_call(pool, 5, sig, 50, 5, &msg);
	ck_assert_msg(strstr(msg, "task 5 (\"crash_at\") killed worker") && strstr(msg, how),
		      "message: %s", msg);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_result(c, 0, &d, &len), 0);
	ck_assert_int_eq(jp_call_result(c, 5, &d, &len), JP_EWORKER);
	jp_call_free(c);
	/* the slot was refilled, no zombie, and the pool works */
	ck_assert_uint_eq(jp_pool_spawn_count(pool), spawned + 1);
	pid_t kids[8];
	ck_assert_int_eq(jpt_children(kids, 8), 2 + 1); /* the workers, the janitor */
	run_ok(pool, 100);
	jp_pool_close(pool);
	jpt_assert_no_children();
}

START_TEST(worker_killed_by_signal)
{
	crash_case(SIGSEGV, "by SIGSEGV");
}
END_TEST

START_TEST(worker_exits)
{
	crash_case(0, "with exit status 3");
}
END_TEST

START_TEST(crash_in_a_batch_names_range_and_task)
{
	jp_pool *pool = open_batch(2, "4", "2*n_jobs");
	const char *msg;
	jp_call *c = crashing_call(pool, 6, SIGABRT, 16, 4, &msg);
	ck_assert_msg(strstr(msg, "one of tasks [4, 8) (\"crash_at\"...) killed worker") &&
		      strstr(msg, "by SIGABRT"), "message: %s", msg);
	const void *d;
	size_t len;
	for (size_t i = 4; i < 8; i++)
		ck_assert_int_eq(jp_call_result(c, i, &d, &len), JP_EWORKER);
	jp_call_free(c);
	run_ok(pool, 10);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(worker_killed_between_calls)
{
	jp_pool *pool = jpt_open(2);
	pid_t victim = jp_pool_worker_pid(pool, 1);
	kill(victim, SIGKILL);
	/* kill() returns before the worker is dead: wait until it is a zombie,
	 * as it would be had it died a while before the call */
	siginfo_t info;
	ck_assert_int_eq(waitid(P_PID, (id_t)victim, &info, WEXITED | WNOWAIT), 0);
	run_ok(pool, 100); /* the dead worker is replaced before dispatch */
	ck_assert_int_ne(jp_pool_worker_pid(pool, 1), victim);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = jpt_tcase("task");
	tcase_add_loop_test(tc, task_failure_names_index_and_message, 1, 4);
	tcase_add_loop_test(tc, map_failure_names_range, 1, 3);
	tcase_add_loop_test(tc, nonzero_return_without_message, 1, 3);
	tcase_add_loop_test(tc, unknown_task, 1, 3);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("worker");
	tcase_add_test(tc, worker_killed_by_signal);
	tcase_add_test(tc, worker_exits);
	tcase_add_test(tc, crash_in_a_batch_names_range_and_task);
	tcase_add_test(tc, worker_killed_between_calls);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
