/*
 * test-stream.c - results as they come (ordered, unordered, by iterator or
 * callback, stopped early), items made on demand, progress reports and
 * verbose lines, and auto batching. Cases run for n_jobs 1 (the sequential
 * backend) to 3.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "pool.h" /* the run's batch counts, to see auto batching at work */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* f(k) = 3k + 1 for k in the task's range, as int64. */
static int affine(jp_task *t)
{
	size_t b = jp_task_begin(t), e = jp_task_end(t);
	int64_t *out = jp_task_result_alloc(t, (e - b) * sizeof *out);
	if (!out)
		return jp_task_fail(t, "no memory");
	for (size_t k = b; k < e; k++)
		out[k - b] = 3 * (int64_t)k + 1;
	return 0;
}
JP_TASK(affine);

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) == -1)
		;
}

/* One item: its i64 argument v, after sleeping v * 100 us (so later items
 * of a descending list finish first), then v as the result. Fails for v
 * = -1. */
static int nap_echo(jp_task *t)
{
	int64_t v;
	if (jp_task_arg_i64(t, 0, &v))
		return jp_task_fail(t, "no argument");
	if (v == -1)
		return jp_task_fail(t, "asked to fail");
	sleep_us((long)(v > 0 ? v : 0) * 100);
	return jp_task_set_result(t, &v, sizeof v);
}
JP_TASK(nap_echo);

/* Sleeps 2 ms per item of its range. */
static int slow_items(jp_task *t)
{
	sleep_us(2000 * (long)(jp_task_end(t) - jp_task_begin(t)));
	return 0;
}
JP_TASK(slow_items);

static int jobs_of(int i)
{
	return i + 1; /* 1 (sequential), 2, 3 */
}

/* ---- maps streamed --------------------------------------------------- */

/* Every index of [0, n) exactly once, with its value, in either order. */
static void check_map_stream(jp_call *c, size_t n, int order)
{
	unsigned char *seen = calloc(n, 1);
	ck_assert_ptr_nonnull(seen);
	ck_assert_int_eq(jp_call_start(c, order), 0);
	jp_result r;
	int rc;
	size_t next = 0, total = 0;
	while ((rc = jp_call_next(c, &r)) == 1) {
		ck_assert_uint_eq(r.len, r.count * sizeof(int64_t));
		if (order == JP_ORDERED)
			ck_assert_uint_eq(r.index, next);
		next = r.index + r.count;
		const int64_t *v = r.data;
		for (size_t k = 0; k < r.count; k++) {
			ck_assert_int_eq(v[k], 3 * (int64_t)(r.index + k) + 1);
			ck_assert(!seen[r.index + k]);
			seen[r.index + k] = 1;
		}
		total += r.count;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(total, n);
	ck_assert_int_eq(jp_call_next(c, &r), 0); /* the end stays the end */
	free(seen);
}

START_TEST(map_streams_in_both_orders)
{
	jp_pool *pool = jpt_open(jobs_of(_i));
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "affine", 100000), 0);
	check_map_stream(c, 100000, JP_ORDERED);
	check_map_stream(c, 100000, JP_UNORDERED); /* a call streams again */
	/* streamed results are not kept */
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &d, &len), -EAGAIN);
	/* and the pool runs an ordinary call afterwards */
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	ck_assert_uint_eq(len, 100000 * sizeof(int64_t));
	ck_assert_int_eq(((const int64_t *)d)[99999], 3 * 99999 + 1);
	jp_call_free(c);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* ---- builders streamed: unordered really is as completed --------------- */

START_TEST(unordered_comes_as_completed)
{
	int n_jobs = jobs_of(_i);
	jp_pool *pool = jpt_open(n_jobs);
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	/* item 0 sleeps 0.3 s, the others none: with workers, item 0 is not
	 * the first to come back; ordered, it always is */
	int64_t naps[8] = { 3000, 0, 0, 0, 0, 0, 0, 0 };
	for (int i = 0; i < 8; i++) {
		ck_assert_int_ge(jp_call_add(c, "nap_echo"), 0);
		ck_assert_int_eq(jp_call_arg_i64(c, naps[i]), 0);
	}
	jp_result r;
	ck_assert_int_eq(jp_call_start(c, JP_UNORDERED), 0);
	ck_assert_int_eq(jp_call_next(c, &r), 1);
	if (n_jobs > 1)
		ck_assert_uint_ne(r.index, 0);
	int got = 1;
	while (jp_call_next(c, &r) == 1)
		got++;
	ck_assert_int_eq(got, 8);
	ck_assert_int_eq(jp_call_start(c, JP_ORDERED), 0);
	for (size_t i = 0; i < 8; i++) {
		ck_assert_int_eq(jp_call_next(c, &r), 1);
		ck_assert_uint_eq(r.index, i);
		ck_assert_int_eq(*(const int64_t *)r.data, naps[i]);
	}
	ck_assert_int_eq(jp_call_next(c, &r), 0);
	jp_call_free(c);
	jp_pool_close(pool);
}
END_TEST

/* ---- stopping early ------------------------------------------------------ */

static int stop_after_three(const jp_result *r, void *ctx)
{
	(void)r;
	int *count = ctx;
	return ++*count == 3 ? 42 : 0;
}

START_TEST(stopping_early_cancels_the_rest)
{
	jp_pool *pool = jpt_open(jobs_of(_i));
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	for (int i = 0; i < 200; i++) {
		ck_assert_int_ge(jp_call_add(c, "nap_echo"), 0);
		ck_assert_int_eq(jp_call_arg_i64(c, 50), 0); /* 5 ms each: 1 s in all */
	}
	/* by callback: its nonzero value stops the stream and comes back */
	int count = 0;
	double t0 = jp__now();
	ck_assert_int_eq(jp_call_stream(c, JP_ORDERED, stop_after_three, &count), 42);
	ck_assert_int_eq(count, 3);
	ck_assert_msg(jp__now() - t0 < 0.25, "stopping took %.3f s: the rest ran", jp__now() - t0);
	/* by iterator: the pool is free at once for another call */
	jp_result r;
	ck_assert_int_eq(jp_call_start(c, JP_UNORDERED), 0);
	ck_assert_int_eq(jp_call_next(c, &r), 1);
	jp_call *other;
	ck_assert_int_eq(jp_map_new(&other, pool, "affine", 10), 0);
	ck_assert_int_eq(jp_call_run(other), -EBUSY); /* still streaming */
	jp_call_stop(c);
	jp_call_stop(c); /* twice is harmless */
	ck_assert_int_eq(jp_call_run(other), 0);
	ck_assert_int_eq(jp_call_next(c, &r), 0); /* stopped: nothing more */
	jp_call_free(other);
	/* freed while streaming: stopped first */
	ck_assert_int_eq(jp_call_start(c, JP_ORDERED), 0);
	ck_assert_int_eq(jp_call_next(c, &r), 1);
	jp_call_free(c);
	ck_assert_int_eq(jp_map_new(&other, pool, "affine", 10), 0);
	ck_assert_int_eq(jp_call_run(other), 0);
	jp_call_free(other);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* ---- failures in a stream -------------------------------------------------- */

START_TEST(a_failure_ends_the_stream)
{
	jp_pool *pool = jpt_open(jobs_of(_i));
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	for (int i = 0; i < 50; i++) {
		ck_assert_int_ge(jp_call_add(c, "nap_echo"), 0);
		ck_assert_int_eq(jp_call_arg_i64(c, i == 20 ? -1 : 0), 0);
	}
	/* ordered: items 0..19 come, then the failure of item 20 */
	jp_result r;
	ck_assert_int_eq(jp_call_start(c, JP_ORDERED), 0);
	size_t got = 0;
	int rc;
	while ((rc = jp_call_next(c, &r)) == 1)
		ck_assert_uint_eq(r.index, got++);
	ck_assert_int_eq(rc, JP_ETASK);
	ck_assert_uint_eq(got, 20);
	size_t index;
	const char *msg;
	ck_assert_int_eq(jp_call_error(c, &index, &msg), JP_ETASK);
	ck_assert_uint_eq(index, 20);
	ck_assert_ptr_nonnull(strstr(msg, "asked to fail"));
	ck_assert_int_eq(jp_call_next(c, &r), JP_ETASK); /* it stays failed */
	/* unordered: the failure comes, whatever came before it */
	ck_assert_int_eq(jp_call_start(c, JP_UNORDERED), 0);
	while ((rc = jp_call_next(c, &r)) == 1)
		ck_assert_uint_ne(r.index, 20);
	ck_assert_int_eq(rc, JP_ETASK);
	jp_call_free(c);
	/* the pool is fine afterwards */
	ck_assert_int_eq(jp_map_new(&c, pool, "affine", 10), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* ---- items made on demand ------------------------------------------------ */

struct gen {
	size_t n;          /* items to make */
	size_t made;       /* items made so far */
	size_t max_ahead;  /* most items made and not yet seen as results */
	size_t seen;
	int fail_at;       /* -1: never */
};

static int make_echo(jp_call *c, size_t index, void *ctx)
{
	struct gen *g = ctx;
	if (index != g->made)
		return -EINVAL; /* asked out of order */
	if ((int)index == g->fail_at)
		return -EDOM;
	if (index == g->n)
		return 1;
	if (jp_call_add(c, "nap_echo") < 0 || jp_call_arg_i64(c, (int64_t)(index % 3 ? 0 : 0)) < 0)
		return -ENOMEM;
	g->made++;
	if (g->made - g->seen > g->max_ahead)
		g->max_ahead = g->made - g->seen;
	return 0;
}

START_TEST(generated_items_are_made_lazily)
{
	jp_pool *pool = jpt_open(jobs_of(_i));
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	struct gen g = { .n = 200000, .fail_at = -1 };
	ck_assert_int_eq(jp_call_generate(c, make_echo, &g), 0);
	ck_assert_int_eq(jp_call_add(c, "nap_echo"), -EINVAL); /* the generator adds them */
	ck_assert_int_eq(jp_call_start(c, JP_ORDERED), 0);
	jp_result r;
	int rc;
	while ((rc = jp_call_next(c, &r)) == 1) {
		ck_assert_uint_eq(r.index, g.seen);
		ck_assert_int_eq(*(const int64_t *)r.data, 0);
		g.seen++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(g.seen, 200000);
	/* never more than a few batches' worth made ahead of the results, and
	 * the window of slots stays small */
	ck_assert_msg(g.max_ahead < 200000 / 2, "made %zu ahead", g.max_ahead);
	ck_assert_uint_lt(c->slots_cap, 200000);
	/* collected too, from the first item again */
	g.made = g.seen = g.max_ahead = 0;
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_uint_eq(jp_call_size(c), 200000);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_result(c, 199999, &d, &len), 0);
	ck_assert_uint_eq(len, sizeof(int64_t));
	/* a generator's failure fails the call, naming the item */
	g = (struct gen){ .n = 1000, .fail_at = 500 };
	ck_assert_int_eq(jp_call_run(c), -EDOM);
	size_t index;
	const char *msg;
	jp_call_error(c, &index, &msg);
	ck_assert_uint_eq(index, 500);
	ck_assert_ptr_nonnull(strstr(msg, "making item 500"));
	jp_call_free(c);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* the thread backend streams what it collected, and makes a generator's
 * items first */
START_TEST(thread_pools_stream_too)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.backend = "threading";
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "affine", 50000), 0);
	check_map_stream(c, 50000, JP_ORDERED);
	check_map_stream(c, 50000, JP_UNORDERED);
	jp_call_free(c);
	struct gen g = { .n = 5000, .fail_at = -1 };
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	ck_assert_int_eq(jp_call_generate(c, make_echo, &g), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_uint_eq(jp_call_size(c), 5000);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_result(c, 4999, &d, &len), 0);
	jp_call_free(c);
	jp_pool_close(pool);
}
END_TEST

/* ---- progress ------------------------------------------------------------ */

struct progress {
	size_t calls, last_done, last_total;
	int monotonic;
};

static void on_progress(size_t done, size_t total, void *ctx)
{
	struct progress *p = ctx;
	if (p->calls && done < p->last_done)
		p->monotonic = 0;
	p->calls++;
	p->last_done = done;
	p->last_total = total;
}

START_TEST(progress_is_reported_for_every_backend)
{
	jp_pool *pool = jpt_open(jobs_of(_i));
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "slow_items", 40), 0);
	struct progress pr = { .monotonic = 1 };
	ck_assert_int_eq(jp_call_set_progress(c, on_progress, &pr), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	/* 2 ms items: batches stay small, so progress comes in many steps,
	 * the sequential backend's included */
	ck_assert_uint_ge(pr.calls, 5);
	ck_assert(pr.monotonic);
	ck_assert_uint_eq(pr.last_done, 40);
	ck_assert_uint_eq(pr.last_total, 40);
	jp_call_free(c);
	jp_pool_close(pool);
}
END_TEST

/* Run a 2-job pool with `opt` (verbose, progress_bar...) over n items of
 * slow_items with stderr sent to fd. */
static void run_with_stderr_on(int fd, jp_options opt, size_t n)
{
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	opt.n_jobs = 2;
	jp_pool *pool = NULL;
	int rc = jp_pool_open(&pool, &opt);
	jp_call *c = NULL;
	if (!rc)
		rc = jp_map_new(&c, pool, "slow_items", n);
	if (!rc)
		rc = jp_call_run(c);
	jp_call_free(c);
	if (pool)
		jp_pool_close(pool);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ck_assert_int_eq(rc, 0);
}

/* verbose lines, joblib's format, on stderr */
START_TEST(verbose_prints_joblib_lines)
{
	char path[] = "/tmp/jpt-verbose-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	jp_options opt = JP_OPTIONS_INIT;
	opt.verbose = 5;
	run_with_stderr_on(fd, opt, 40);
	char text[8192] = "";
	ssize_t n = pread(fd, text, sizeof text - 1, 0);
	close(fd);
	ck_assert_int_gt(n, 0);
	ck_assert_msg(strstr(text, "[jobpool(n_jobs=2)]: Done ") != NULL, "%s", text);
	ck_assert_msg(strstr(text, " out of  40 | elapsed: ") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "remaining: ") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "Done  40 out of  40 | elapsed: ") != NULL &&
			      strstr(text, "finished") != NULL,
		      "%s", text);
}
END_TEST

/* the progress bar, on a terminal (a pseudo-terminal here) */
START_TEST(progress_bar_on_a_terminal)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	ck_assert_int_ge(master, 0);
	ck_assert_int_eq(grantpt(master), 0);
	ck_assert_int_eq(unlockpt(master), 0);
	int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	ck_assert_int_ge(slave, 0);
	jp_options opt = JP_OPTIONS_INIT;
	opt.progress_bar = 1;
	run_with_stderr_on(slave, opt, 60);
	close(slave);
	char text[4096] = "";
	size_t got = 0;
	struct pollfd pfd = { .fd = master, .events = POLLIN };
	while (got < sizeof text - 1 && poll(&pfd, 1, 200) == 1) {
		ssize_t n = read(master, text + got, sizeof text - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(master);
	text[got] = '\0';
	ck_assert_msg(strstr(text, "\r[") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "60/60 100%") != NULL || strstr(text, "] 60/60") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "tasks/s") != NULL, "%s", text);
	/* not a terminal: nothing */
	char path[] = "/tmp/jpt-bar-XXXXXX";
	int fd = mkstemp(path);
	unlink(path);
	run_with_stderr_on(fd, opt, 10);
	ck_assert_int_eq(lseek(fd, 0, SEEK_END), 0);
	close(fd);
}
END_TEST

/* ---- auto batching ------------------------------------------------------- */

START_TEST(auto_batching_adapts_to_the_items)
{
	jp_pool *pool = jpt_open(2);
	jp_call *c;
	/* trivial items: batches grow, so 10^5 items take few batches */
	ck_assert_int_eq(jp_map_new(&c, pool, "affine", 100000), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_uint_lt(c->run.batches_done, 200);
	/* the pool remembers the size the call ended with; the next call
	 * starts there (how many batches it then takes depends on timing) */
	ck_assert_str_eq(pool->learned[0].task, "affine");
	ck_assert_uint_gt(pool->learned[0].bs, 1);
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_uint_lt(c->run.batches_done, 200);
	jp_call_free(c);
	/* 2 ms items: already past the 1 ms target at one item, so every
	 * batch stays at one item */
	ck_assert_int_eq(jp_map_new(&c, pool, "slow_items", 30), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_uint_eq(c->run.batches_done, 30);
	jp_call_free(c);
	jp_pool_close(pool);
}
END_TEST

static Suite *stream_suite(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = jpt_tcase("stream");
	tcase_add_loop_test(tc, map_streams_in_both_orders, 0, 3);
	tcase_add_test(tc, thread_pools_stream_too);
	tcase_add_loop_test(tc, unordered_comes_as_completed, 0, 3);
	tcase_add_loop_test(tc, stopping_early_cancels_the_rest, 0, 3);
	tcase_add_loop_test(tc, a_failure_ends_the_stream, 0, 3);
	tcase_add_loop_test(tc, generated_items_are_made_lazily, 0, 3);
	tcase_add_loop_test(tc, progress_is_reported_for_every_backend, 0, 3);
	tcase_add_test(tc, verbose_prints_joblib_lines);
	tcase_add_test(tc, progress_bar_on_a_terminal);
	tcase_add_test(tc, auto_batching_adapts_to_the_items);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return jpt_run(stream_suite());
}
