/*
 * test-threads.c - the thread backend: the process backend's results for
 * maps and builders, many tiny tasks, the first failure and what it
 * cancels, arrays without files, the built-in products; and nesting under
 * every backend: pools opened inside tasks, calls on the pool running the
 * task, no deadlock and the documented result.
 */
#include "helpers.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif

static jp_pool *open_backend(const char *backend, int n_jobs, const char *batch_size,
			     const char *max_nbytes)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = n_jobs;
	opt.backend = backend;
	if (batch_size)
		opt.batch_size = batch_size;
	if (max_nbytes)
		opt.max_nbytes = max_nbytes;
	jp_pool *pool = NULL;
	int err = jp_pool_open(&pool, &opt);
	ck_assert_msg(!err, "open %s n_jobs=%d: %s: %s", backend, n_jobs, jp_strerror(err),
		      jp_pool_errmsg(NULL));
	return pool;
}

static jp_pool *open_threads(int n_jobs)
{
	return open_backend("threading", n_jobs, NULL, NULL);
}

/* Threads of this process, from /proc/self/task. */
static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* The thread count once it is `want`, or after 2 s: a joined thread may
 * stay listed in /proc for a moment after pthread_join returns, while the
 * kernel releases it. */
static int thread_count_settled(int want)
{
	int n = thread_count();
	for (int i = 0; i < 2000 && n != want; i++) {
		usleep(1000);
		n = thread_count();
	}
	return n;
}

/* ---- tasks ------------------------------------------------------------- */

/* f(k) = k*k - 3 for k in the task's range, as int64. */
static int squares(jp_task *t)
{
	size_t b = jp_task_begin(t), e = jp_task_end(t);
	int64_t *out = jp_task_result_alloc(t, (e - b) * sizeof *out);
	if (!out)
		return jp_task_fail(t, "no memory");
	for (size_t k = b; k < e; k++)
		out[k - b] = (int64_t)(k * k) - 3;
	return 0;
}
JP_TASK(squares);

/* A run call's output is squares' over [0, n). */
static void check_squares_output(jp_call *c, size_t n)
{
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	ck_assert_uint_eq(len, n * sizeof(int64_t));
	for (size_t k = 0; k < n; k++)
		ck_assert_int_eq(((const int64_t *)d)[k], (int64_t)(k * k) - 3);
}

/* One item: shared f64 scale (arg 0) times its own i64 (arg 1), as text. */
static int scaled_text(jp_task *t)
{
	double f;
	int64_t v;
	if (jp_task_arg_f64(t, 0, &f) || jp_task_arg_i64(t, 1, &v))
		return jp_task_fail(t, "bad arguments");
	char buf[64];
	int n = snprintf(buf, sizeof buf, "%lld*%g=%g", (long long)v, f, f * (double)v);
	return jp_task_set_result(t, buf, (size_t)n);
}
JP_TASK(scaled_text);

/* One item: its bytes reversed. */
static int reversed(jp_task *t)
{
	const void *p;
	size_t n;
	if (jp_task_arg_bytes(t, 1, &p, &n))
		return jp_task_fail(t, "no bytes argument");
	char *out = jp_task_result_alloc(t, n);
	for (size_t i = 0; i < n; i++)
		out[i] = ((const char *)p)[n - 1 - i];
	return 0;
}
JP_TASK(reversed);

/* Fails on the index given as argument 0; counts what ran. */
static int runs;
static int fail_at(jp_task *t)
{
	int64_t bad;
	jp_task_arg_i64(t, 0, &bad);
	__atomic_add_fetch(&runs, 1, __ATOMIC_RELAXED);
	for (size_t k = jp_task_begin(t); k < jp_task_end(t); k++)
		if ((int64_t)k == bad)
			return jp_task_fail(t, "item %zu is the bad one", k);
	usleep(200);
	int64_t v = (int64_t)jp_task_begin(t);
	return jp_task_set_result(t, &v, sizeof v);
}
JP_TASK(fail_at);

/* Who ran me: slot, pid, and the address of the array argument 0. */
struct who {
	int32_t slot, pid;
	uint64_t data;
	double sum;
};
static int who_and_sum(jp_task *t)
{
	jp_array a;
	if (jp_task_arg_array(t, 0, &a))
		return jp_task_fail(t, "no array");
	struct who w = { jp_task_worker(t), (int32_t)getpid(), (uint64_t)(uintptr_t)a.data, 0 };
	const double *d = a.data;
	for (size_t i = jp_task_begin(t); i < jp_task_end(t); i++)
		w.sum += d[i];
	/* "r" cannot be enforced on the caller's own memory: a write lands */
	if (jp_task_begin(t) == 0)
		((double *)a.data)[0] = -1.0;
	return jp_task_set_result(t, &w, sizeof w);
}
JP_TASK(who_and_sum);

/* ---- the process backend's results -------------------------------------- */

/* A map and a builder call; their outputs, concatenated, into *out. */
static void run_calls(jp_pool *pool, size_t n, void **out, size_t *len)
{
	jp__buf all = { 0 };
	jp_call *c;
	const void *d;
	size_t l;
	ck_assert_int_eq(jp_map_new(&c, pool, "squares", n), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_int_eq(jp_call_output(c, &d, &l), 0);
	ck_assert_uint_eq(l, n * sizeof(int64_t));
	jp__buf_append(&all, d, l);
	jp_call_free(c);

	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	ck_assert_int_eq(jp_call_arg_f64(c, 0.5), 0);
	for (size_t i = 0; i < n / 8; i++) {
		char word[32];
		int wl = snprintf(word, sizeof word, "item-%zu", i);
		ck_assert_int_ge(jp_call_add(c, i % 2 ? "scaled_text" : "reversed"), 0);
		if (i % 2)
			ck_assert_int_eq(jp_call_arg_i64(c, (int64_t)i), 0);
		else
			ck_assert_int_eq(jp_call_arg_bytes(c, word, (size_t)wl), 0);
	}
	ck_assert_int_eq(jp_call_run(c), 0);
	for (size_t i = 0; i < n / 8; i++) {
		ck_assert_int_eq(jp_call_result(c, i, &d, &l), 0);
		jp__buf_append(&all, d, l);
		jp__buf_append(&all, "|", 1);
	}
	ck_assert_int_eq(jp_call_output(c, &d, &l), 0);
	jp__buf_append(&all, d, l);
	jp_call_free(c);
	*len = all.len;
	*out = jp__buf_take(&all);
}

START_TEST(same_results_as_processes)
{
	size_t n = 1000 + 37;
	void *want, *got;
	size_t want_len, got_len;
	jp_pool *procs = open_backend("process", 2, NULL, NULL);
	run_calls(procs, n, &want, &want_len);
	jp_pool_close(procs);

	jp_pool *threads = open_threads(_i);
	ck_assert_int_eq(jp_pool_n_jobs(threads), _i);
	for (int round = 0; round < 3; round++) { /* a warm pool, call after call */
		run_calls(threads, n, &got, &got_len);
		ck_assert_uint_eq(got_len, want_len);
		ck_assert(memcmp(got, want, want_len) == 0);
		free(got);
	}
	jp_pool_close(threads);
	free(want);
	jpt_assert_no_children();
}
END_TEST

START_TEST(fixed_batch_sizes)
{
	const char *sizes[] = { "1", "7", "1000" };
	for (size_t s = 0; s < 3; s++) {
		jp_pool *pool = open_backend("threading", _i, sizes[s], NULL);
		jp_call *c;
		size_t n = 999;
		ck_assert_int_eq(jp_map_new(&c, pool, "squares", n), 0);
		ck_assert_int_eq(jp_call_run(c), 0);
		check_squares_output(c, n);
		jp_call_free(c);
		jp_pool_close(pool);
	}
}
END_TEST

/* f(k) = k*k - 3 after a pause of argument 0 microseconds times k % 3:
 * batches of uneven length, so that threads come early, late or not at
 * all to a call. */
static int squares_after(jp_task *t)
{
	int64_t us;
	if (jp_task_arg_i64(t, 0, &us))
		return jp_task_fail(t, "bad arguments");
	size_t b = jp_task_begin(t), e = jp_task_end(t);
	int64_t *out = jp_task_result_alloc(t, (e - b) * sizeof *out);
	if (!out)
		return jp_task_fail(t, "no memory");
	for (size_t k = b; k < e; k++) {
		if (us && k % 3)
			usleep((useconds_t)us);
		out[k - b] = (int64_t)(k * k) - 3;
	}
	return 0;
}
JP_TASK(squares_after);

/* Thousands of calls back to back, small and of every length, trivial or
 * with pauses, on both wait policies: the caller runs a share and does not
 * wait for a thread that claimed nothing, and a thread that comes late to
 * a call must neither run nor take anything of the next one. Every result
 * is checked, and a failing call in between is reported as such. */
START_TEST(calls_back_to_back_whoever_comes)
{
	const char *waits[] = { "active", "passive" };
	const char *sizes[] = { "auto", "1" };
	unsigned seed = 12345;
	for (int w = 0; w < 2; w++)
		for (int s = 0; s < 2; s++) {
			jp_options opt = JP_OPTIONS_INIT;
			opt.backend = "threading";
			opt.n_jobs = 2 + (w + s) % 2;
			opt.wait_policy = waits[w];
			opt.batch_size = sizes[s];
			jp_pool *pool;
			ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
			for (int i = 0; i < 1500; i++) {
				seed = seed * 1103515245u + 12345u;
				size_t n = 1 + (seed >> 16) % 40;
				int64_t us = (seed >> 8) % 4 == 0 ? 20 : 0;
				jp_call *c;
				if (i % 250 == 7) {
					/* a failure: its index, and the next call fine */
					ck_assert_int_eq(jp_map_new(&c, pool, "fail_at", 6), 0);
					ck_assert_int_eq(jp_call_arg_i64(c, 4), 0);
					size_t index;
					ck_assert_int_eq(jp_call_run(c), JP_ETASK);
					ck_assert_int_eq(jp_call_error(c, &index, NULL), JP_ETASK);
					ck_assert_uint_eq(index, 4);
					jp_call_free(c);
				}
				ck_assert_int_eq(jp_map_new(&c, pool, "squares_after", n), 0);
				ck_assert_int_eq(jp_call_arg_i64(c, us), 0);
				ck_assert_int_eq(jp_call_run(c), 0);
				check_squares_output(c, n);
				jp_call_free(c);
			}
			jp_pool_close(pool);
		}
}
END_TEST

START_TEST(many_tiny_tasks)
{
	const char *sizes[] = { "auto", "1" };
	for (size_t s = 0; s < 2; s++) {
		jp_pool *pool = open_backend("threading", 2, sizes[s], NULL);
		size_t n = 100000;
		jp_call *c;
		const void *d;
		size_t len;
		ck_assert_int_eq(jp_map_new(&c, pool, "squares", n), 0);
		ck_assert_int_eq(jp_call_run(c), 0);
		check_squares_output(c, n);
		jp_call_free(c);

		/* as many items of a builder */
		ck_assert_int_eq(jp_call_new(&c, pool), 0);
		ck_assert_int_eq(jp_call_arg_f64(c, 2.0), 0);
		for (size_t i = 0; i < n; i++) {
			ck_assert_int_eq(jp_call_add(c, "scaled_text"), (long)i);
			ck_assert_int_eq(jp_call_arg_i64(c, (int64_t)i), 0);
		}
		ck_assert_int_eq(jp_call_run(c), 0);
		for (size_t i = 0; i < n; i += 997) {
			char want[64];
			int wl = snprintf(want, sizeof want, "%zu*2=%g", i, 2.0 * (double)i);
			ck_assert_int_eq(jp_call_result(c, i, &d, &len), 0);
			ck_assert(len == (size_t)wl && !memcmp(d, want, len));
		}
		jp_call_free(c);
		jp_pool_close(pool);
	}
}
END_TEST

/* ---- failures ---------------------------------------------------------- */

START_TEST(first_failure_and_cancellation)
{
	jp_pool *pool = open_backend("threading", _i, "1", NULL);
	/* a map: the failing batch is the failing index */
	jp_call *c;
	size_t idx;
	const char *msg;
	runs = 0;
	ck_assert_int_eq(jp_map_new(&c, pool, "fail_at", 3000), 0);
	ck_assert_int_eq(jp_call_arg_i64(c, 77), 0);
	ck_assert_int_eq(jp_call_run(c), JP_ETASK);
	ck_assert_int_eq(jp_call_error(c, &idx, &msg), JP_ETASK);
	ck_assert_uint_eq(idx, 77);
	ck_assert_msg(strstr(msg, "item 77 is the bad one") && strstr(msg, "thread"), "message: %s", msg);
	ck_assert_msg(strstr(jp_pool_errmsg(pool), "item 77"), "pool message: %s", jp_pool_errmsg(pool));
	ck_assert_int_lt(runs, 3000); /* the rest was cancelled */
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &d, &len), JP_ETASK);
	jp_call_free(c);

	/* a builder: completed items stay readable, the rest is cancelled */
	runs = 0;
	size_t n = 2000;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	ck_assert_int_eq(jp_call_arg_i64(c, 10), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_ge(jp_call_add(c, "fail_at"), 0);
	ck_assert_int_eq(jp_call_run(c), JP_ETASK);
	ck_assert_int_eq(jp_call_error(c, &idx, NULL), JP_ETASK);
	ck_assert_uint_eq(idx, 10);
	size_t ok = 0, cancelled = 0, failed = 0;
	for (size_t i = 0; i < n; i++) {
		int st = jp_call_result(c, i, &d, &len);
		if (st == 0) {
			ok++;
			ck_assert_int_eq(*(const int64_t *)d, (int64_t)i);
		} else if (st == JP_ECANCELED) {
			cancelled++;
		} else {
			ck_assert_int_eq(st, JP_ETASK);
			ck_assert_uint_eq(i, 10);
			failed++;
		}
	}
	ck_assert_uint_eq(failed, 1);
	ck_assert_uint_eq(ok + cancelled + failed, n);
	ck_assert_uint_eq(ok, (size_t)runs - 1);
	ck_assert_uint_gt(cancelled, 0);
	jp_call_free(c);
	/* and the pool goes on */
	ck_assert_int_eq(jp_map_new(&c, pool, "squares", 10), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
	jp_pool_close(pool);
}
END_TEST

START_TEST(unknown_task_in_builder)
{
	jp_pool *pool = open_threads(2);
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	ck_assert_int_eq(jp_call_add(c, "no_such_task_anywhere"), JP_ENOTASK);
	jp_call_free(c);
	jp_pool_close(pool);
}
END_TEST

/* ---- arrays ------------------------------------------------------------- */

START_TEST(arrays_pass_as_they_are)
{
	/* far above max_nbytes, and read-only by the options: no file, no copy */
	jp_pool *pool = open_backend("threading", _i, NULL, "1K");
	size_t n = 1 << 17;
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { n } };
	ck_assert_int_eq(posix_memalign(&a.data, 64, n * sizeof(double)), 0);
	double *v = a.data, want = 0;
	for (size_t i = 0; i < n; i++) {
		v[i] = (double)(i % 13);
		want += v[i];
	}
	jp_call *c;
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_map_new(&c, pool, "who_and_sum", n), 0);
	ck_assert_int_eq(jp_call_arg_array(c, &a), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	const struct who *w = d;
	double sum = 0;
	for (size_t i = 0; i < len / sizeof *w; i++) {
		ck_assert_int_eq(w[i].pid, (int)getpid());
		ck_assert_int_ge(w[i].slot, 0);
		ck_assert_int_lt(w[i].slot, _i);
		ck_assert(w[i].data == (uint64_t)(uintptr_t)a.data);
		sum += w[i].sum;
	}
	ck_assert(sum == want);
	ck_assert(v[0] == -1.0); /* the task wrote the caller's memory */
	jp_call_free(c);
	/* nothing went through a file: no folder was even made */
	ck_assert_ptr_null(jp_pool_temp_folder(pool));
	/* "shared" arrays of a thread pool are plain memory */
	jp_array sh;
	ck_assert_int_eq(jp_array_alloc_shared(pool, JP_FLOAT64, 1, &n, &sh), 0);
	jp_array_release(&sh);
	ck_assert_int_eq(jp_share(pool, &a, &sh), 0);
	ck_assert(memcmp(sh.data, a.data, n * sizeof(double)) == 0);
	jp_array_release(&sh);
	ck_assert_ptr_null(jp_pool_temp_folder(pool));
	const char *folder = getenv("JOBPOOL_TEMP_FOLDER");
	DIR *dir = opendir(folder);
	ck_assert_ptr_nonnull(dir);
	struct dirent *de;
	while ((de = readdir(dir)))
		ck_assert_msg(de->d_name[0] == '.', "%s/%s exists", folder, de->d_name);
	closedir(dir);
	free(a.data);
	jp_pool_close(pool);
}
END_TEST

/* ---- built-in products ---------------------------------------------------- */

static const jp_dtype dtypes[] = { JP_INT32, JP_INT64, JP_FLOAT32, JP_FLOAT64 };

static jp_array make(jp_dtype t, size_t r, size_t c, uint64_t seed)
{
	jp_array a = { .dtype = t, .ndim = 2, .shape = { r, c } };
	size_t n = r * c;
	ck_assert_int_eq(posix_memalign(&a.data, 64, n * jp_dtype_size(t) + 64), 0);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		int v = (int)((seed >> 33) % 19) - 9; /* sums of these are exact in every dtype */
		switch (t) {
		case JP_INT32: ((int32_t *)a.data)[i] = v; break;
		case JP_INT64: ((int64_t *)a.data)[i] = v; break;
		case JP_FLOAT32: ((float *)a.data)[i] = (float)v; break;
		default: ((double *)a.data)[i] = v; break;
		}
	}
	return a;
}

static double at(const jp_array *a, size_t i)
{
	switch (a->dtype) {
	case JP_INT32: return ((const int32_t *)a->data)[i];
	case JP_INT64: return (double)((const int64_t *)a->data)[i];
	case JP_FLOAT32: return ((const float *)a->data)[i];
	default: return ((const double *)a->data)[i];
	}
}

static void check_product(const jp_array *a, const jp_array *b, const jp_array *c)
{
	size_t m = a->shape[0], k = a->shape[1], n = b->shape[1];
	for (size_t i = 0; i < m; i++)
		for (size_t j = 0; j < n; j++) {
			double s = 0;
			for (size_t p = 0; p < k; p++)
				s += at(a, i * k + p) * at(b, p * n + j);
			ck_assert_msg(at(c, i * n + j) == s, "C[%zu][%zu] = %g, want %g", i, j,
				      at(c, i * n + j), s);
		}
}

#ifdef HAVE_OPENBLAS
/* What a task sees of the BLAS's threads. */
static int blas_threads(jp_task *t)
{
	int32_t n = openblas_get_num_threads();
	return jp_task_set_result(t, &n, sizeof n);
}
JP_TASK(blas_threads);
#endif

START_TEST(matmul_every_dtype)
{
	jp_pool *pool = open_threads(_i);
	const size_t shapes[][3] = { { 37, 23, 19 }, { 130, 70, 50 }, { 1, 5, 3 }, { 5, 1, 7 } };
	for (size_t s = 0; s < 4; s++)
		for (size_t d = 0; d < 4; d++) {
			size_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
			jp_array a = make(dtypes[d], m, k, 1 + s), b = make(dtypes[d], k, n, 7 + d);
			/* the caller's C, written in place by the threads */
			jp_array c = make(dtypes[d], m, n, 3);
			ck_assert_int_eq(jp_matmul(pool, &a, &b, &c), 0);
			check_product(&a, &b, &c);
			free(c.data);
			/* C made by the library */
			jp_array c2 = { 0 };
			ck_assert_int_eq(jp_matmul(pool, &a, &b, &c2), 0);
			ck_assert_ptr_nonnull(c2.data);
			check_product(&a, &b, &c2);
			jp_array_release(&c2);
			free(a.data);
			free(b.data);
		}
	ck_assert_ptr_null(jp_pool_temp_folder(pool));
#ifdef HAVE_OPENBLAS
	/* single-threaded inside a call, the count put back after it */
	int before = openblas_get_num_threads();
	jp_call *c;
	const void *out;
	size_t len;
	ck_assert_int_eq(jp_map_new(&c, pool, "blas_threads", 8), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_int_eq(jp_call_output(c, &out, &len), 0);
	if (_i > 1)
		ck_assert_int_eq(*(const int32_t *)out, 1);
	jp_call_free(c);
	ck_assert_int_eq(openblas_get_num_threads(), before);
#endif
	jp_pool_close(pool);
}
END_TEST

START_TEST(dot_on_threads)
{
	jp_pool *pool = open_threads(_i);
	size_t n = 100003;
	jp_array a = make(JP_FLOAT64, 1, n, 5), b = make(JP_FLOAT64, 1, n, 6);
	a.ndim = b.ndim = 1;
	a.shape[0] = b.shape[0] = n;
	double want = 0, got;
	for (size_t i = 0; i < n; i++)
		want += at(&a, i) * at(&b, i);
	ck_assert_int_eq(jp_dot(pool, &a, &b, &got), 0);
	ck_assert(got == want);
	free(a.data);
	free(b.data);
	for (int w = 0; w < 2; w++) {
		jp_dtype t = w ? JP_INT64 : JP_INT32;
		jp_array x = make(t, 1, n, 8), y = make(t, 1, n, 9);
		x.ndim = y.ndim = 1;
		x.shape[0] = y.shape[0] = n;
		int64_t iw = 0, ig;
		for (size_t i = 0; i < n; i++)
			iw += (int64_t)at(&x, i) * (int64_t)at(&y, i);
		ck_assert_int_eq(jp_dot_int(pool, &x, &y, &ig), 0);
		ck_assert_int_eq(ig, iw);
		free(x.data);
		free(y.data);
	}
	jp_pool_close(pool);
}
END_TEST

/* ---- lifetime ------------------------------------------------------------- */

/* The BLAS may start threads of its own at a thread pool's first call: a
 * call first, so that they are there before threads are counted. */
static void start_blas_threads(void)
{
	jp_pool *warm = open_threads(2);
	jp_call *w;
	ck_assert_int_eq(jp_map_new(&w, warm, "squares", 100), 0);
	ck_assert_int_eq(jp_call_run(w), 0);
	jp_call_free(w);
	jp_pool_close(warm);
}

START_TEST(open_close_leaves_no_thread)
{
	start_blas_threads();
	int before = thread_count();
	for (int i = 0; i < 100; i++) {
		int n = 2 + i % 3;
		jp_pool *pool = open_threads(n);
		/* the caller is runner 0: n - 1 threads */
		ck_assert_int_eq(jp_pool_spawn_count(pool), (unsigned long)n - 1);
		ck_assert_int_eq(thread_count_settled(before + n - 1), before + n - 1);
		if (i % 10 == 0) {
			jp_call *c;
			ck_assert_int_eq(jp_map_new(&c, pool, "squares", 100), 0);
			ck_assert_int_eq(jp_call_run(c), 0);
			jp_call_free(c);
		}
		jp_pool_close(pool);
		ck_assert_int_eq(thread_count_settled(before), before);
	}
	/* one thread: no thread at all, the caller runs the tasks */
	jp_pool *pool = open_threads(1);
	ck_assert_int_eq(jp_pool_spawn_count(pool), 0);
	ck_assert_int_eq(thread_count_settled(before), before);
	jp_pool_close(pool);
}
END_TEST

static unsigned init_mask;
static int mark_slot(jp_task *t)
{
	__atomic_or_fetch(&init_mask, 1u << jp_task_worker(t), __ATOMIC_RELAXED);
	return 0;
}
JP_TASK(mark_slot);

static int refuse(jp_task *t)
{
	return jp_task_worker(t) == 1 ? jp_task_fail(t, "slot 1 says no") : 0;
}
JP_TASK(refuse);

START_TEST(initializer_in_every_thread)
{
	int before = thread_count();
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 3;
	opt.backend = "threading";
	opt.initializer = "mark_slot";
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	ck_assert_uint_eq(init_mask, 7);
	jp_pool_close(pool);
	opt.initializer = "refuse";
	ck_assert_int_eq(jp_pool_open(&pool, &opt), JP_ETASK);
	ck_assert_ptr_null(pool);
	ck_assert_msg(strstr(jp_pool_errmsg(NULL), "failed in thread 1: slot 1 says no"), "%s",
		      jp_pool_errmsg(NULL));
	ck_assert_int_eq(thread_count_settled(before), before);
}
END_TEST

START_TEST(forked_child_cannot_call)
{
	jp_pool *pool = open_threads(2);
	pid_t child = fork();
	if (child == 0) {
		jp_call *c;
		int rc = jp_map_new(&c, pool, "squares", 10) ? 1 : jp_call_run(c);
		jp_call_free(c);
		jp_pool_close(pool); /* frees the copy, joins nothing */
		_exit(rc == -ECHILD ? 0 : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "squares", 10), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
	jp_pool_close(pool);
}
END_TEST

/* ---- nesting --------------------------------------------------------------- */

/* The same result for every index of the task's range (the sequential
 * backend runs a map as one batch). */
static int set_results(jp_task *t, const void *r, size_t len)
{
	size_t n = jp_task_end(t) - jp_task_begin(t);
	uint8_t *out = jp_task_result_alloc(t, n * len);
	if (!out)
		return jp_task_fail(t, "no memory");
	for (size_t i = 0; i < n; i++)
		memcpy(out + i * len, r, len);
	return 0;
}

/* Each item waits (up to 10 s) until the call's two items are running at
 * once, then says which thread and slot ran it. */
static int arrived;
static pthread_t caller;
struct runner_seen {
	int32_t slot, in_caller, met;
};
static int meet(jp_task *t)
{
	struct runner_seen r = { jp_task_worker(t), pthread_equal(pthread_self(), caller) != 0, 0 };
	__atomic_add_fetch(&arrived, 1, __ATOMIC_SEQ_CST);
	double until = jp__now() + 10;
	while (!(r.met = __atomic_load_n(&arrived, __ATOMIC_SEQ_CST) >= 2) && jp__now() < until)
		sched_yield();
	return set_results(t, &r, sizeof r);
}
JP_TASK(meet);

/* Two runners at once, one of them the caller with slot 0 and one thread
 * with slot 1; with an initializer, two threads and not the caller. */
START_TEST(the_caller_is_runner_0)
{
	caller = pthread_self();
	start_blas_threads();
	for (int with_init = 0; with_init < 2; with_init++) {
		int before = thread_count();
		jp_options opt = JP_OPTIONS_INIT;
		opt.n_jobs = 2;
		opt.backend = "threading";
		opt.batch_size = "1";
		opt.initializer = with_init ? "mark_slot" : NULL;
		jp_pool *pool;
		ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
		ck_assert_int_eq(jp_pool_spawn_count(pool), with_init ? 2 : 1);
		ck_assert_int_eq(thread_count_settled(before + (with_init ? 2 : 1)),
				 before + (with_init ? 2 : 1));
		for (int round = 0; round < 20; round++) {
			arrived = 0;
			jp_call *c;
			const void *d;
			size_t len;
			ck_assert_int_eq(jp_map_new(&c, pool, "meet", 2), 0);
			ck_assert_int_eq(jp_call_run(c), 0);
			ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
			ck_assert_uint_eq(len, 2 * sizeof(struct runner_seen));
			const struct runner_seen *r = d;
			ck_assert(r[0].met && r[1].met); /* the two ran at once */
			ck_assert_int_ne(r[0].slot, r[1].slot);
			for (int i = 0; i < 2; i++)
				ck_assert_int_eq(r[i].in_caller,
						 !with_init && r[i].slot == 0);
			jp_call_free(c);
		}
		jp_pool_close(pool);
		ck_assert_int_eq(thread_count_settled(before), before);
	}
}
END_TEST

/* Opens a pool of its own (argument 0: its backend, bytes; argument 1:
 * n_jobs) and runs squares over 50 on it; its result: that pool's n_jobs,
 * its spawn count, and the sum. */
struct nested {
	int64_t n_jobs, spawned, sum;
};
static int open_inside(jp_task *t)
{
	const void *name;
	size_t len;
	int64_t n_jobs;
	char backend[32] = "";
	if (jp_task_arg_bytes(t, 0, &name, &len) || len >= sizeof backend ||
	    jp_task_arg_i64(t, 1, &n_jobs))
		return jp_task_fail(t, "bad arguments");
	memcpy(backend, name, len);
	jp_options opt = JP_OPTIONS_INIT;
	opt.backend = backend;
	opt.n_jobs = (int)n_jobs;
	jp_pool *inner;
	int err = jp_pool_open(&inner, &opt);
	if (err)
		return jp_task_fail(t, "nested open: %s", jp_pool_errmsg(NULL));
	jp_call *c;
	const void *d;
	size_t dl;
	struct nested r = { jp_pool_n_jobs(inner), (int64_t)jp_pool_spawn_count(inner), 0 };
	if ((err = jp_map_new(&c, inner, "squares", 50)) || (err = jp_call_run(c)) ||
	    (err = jp_call_output(c, &d, &dl))) {
		jp_call_free(c);
		jp_pool_close(inner);
		return jp_task_fail(t, "nested call: %s", jp_strerror(err));
	}
	for (size_t i = 0; i < dl / sizeof(int64_t); i++)
		r.sum += ((const int64_t *)d)[i];
	jp_call_free(c);
	jp_pool_close(inner);
	return set_results(t, &r, sizeof r);
}
JP_TASK(open_inside);

static int64_t squares_sum(size_t n)
{
	int64_t s = 0;
	for (size_t k = 0; k < n; k++)
		s += (int64_t)(k * k) - 3;
	return s;
}

/* The outer pool runs open_inside 4 times; each reports its inner pool. */
static void nested_open(const char *outer, const char *inner, int inner_jobs, int64_t want_jobs)
{
	jp_pool *pool = open_backend(outer, 2, "1", NULL);
	jp_call *c;
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_map_new(&c, pool, "open_inside", 4), 0);
	ck_assert_int_eq(jp_call_arg_bytes(c, inner, strlen(inner)), 0);
	ck_assert_int_eq(jp_call_arg_i64(c, inner_jobs), 0);
	ck_assert_msg(jp_call_run(c) == 0, "%s in %s: %s", inner, outer, jp_pool_errmsg(pool));
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	ck_assert_uint_eq(len, 4 * sizeof(struct nested));
	for (int i = 0; i < 4; i++) {
		const struct nested *r = (const struct nested *)d + i;
		ck_assert_msg(r->n_jobs == want_jobs, "%s inside %s: n_jobs %lld, want %lld", inner,
			      outer, (long long)r->n_jobs, (long long)want_jobs);
		/* a thread pool's caller is its runner 0 */
		int64_t spawned = want_jobs < 2 ? 0 : strcmp(inner, "threading") ? want_jobs : want_jobs - 1;
		ck_assert_int_eq(r->spawned, spawned);
		ck_assert_int_eq(r->sum, squares_sum(50));
	}
	jp_call_free(c);
	jp_pool_close(pool);
	jpt_assert_no_children();
}

START_TEST(nested_pools_run_in_the_calling_thread)
{
	/* inside a worker process or a pool thread, whatever is asked */
	const char *backends[] = { "process", "threading" };
	for (int o = 0; o < 2; o++)
		for (int i = 0; i < 2; i++) {
			nested_open(backends[o], backends[i], 2, 1);
			nested_open(backends[o], backends[i], -1, 1);
		}
	/* a sequential pool adds no level: a pool inside its task is a pool */
	nested_open("sequential", "threading", 2, 2);
}
END_TEST

START_TEST(nesting_allowed_by_the_environment)
{
	setenv("JOBPOOL_MAX_NESTING", "1", 1);
	nested_open("process", "process", 2, 2);
	nested_open("threading", "threading", 2, 2);
	nested_open("process", "threading", 2, 2);
	/* 0 is the default */
	setenv("JOBPOOL_MAX_NESTING", "0", 1);
	nested_open("threading", "threading", 3, 1);
	unsetenv("JOBPOOL_MAX_NESTING");
}
END_TEST

/* A call on the pool that runs this task: the pool comes in a global. */
static jp_pool *self_pool;
struct again {
	int32_t slot, inner_slot;
	int64_t sum;
	double dot;
};
static int call_again(jp_task *t)
{
	jp_call *c;
	const void *d;
	size_t len;
	struct again r = { jp_task_worker(t), -1, 0, 0 };
	int err = jp_map_new(&c, self_pool, "squares", 100);
	if (!err)
		err = jp_call_run(c);
	if (!err)
		err = jp_call_output(c, &d, &len);
	for (size_t i = 0; !err && i < len / sizeof(int64_t); i++)
		r.sum += ((const int64_t *)d)[i];
	jp_call_free(c);
	if (err)
		return jp_task_fail(t, "nested call: %s", jp_strerror(err));
	/* a builder whose item reports its slot */
	if (!(err = jp_call_new(&c, self_pool)) && jp_call_add(c, "who_and_sum") >= 0) {
		double one = 1;
		jp_array a = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 1 }, .data = &one };
		if (!(err = jp_call_arg_array(c, &a)) && !(err = jp_call_run(c)) &&
		    !(err = jp_call_result(c, 0, &d, &len)))
			r.inner_slot = ((const struct who *)d)->slot;
	}
	jp_call_free(c);
	/* a built-in on the same pool */
	double x[4] = { 1, 2, 3, 4 };
	jp_array v = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 4 }, .data = x };
	if (!err)
		err = jp_dot(self_pool, &v, &v, &r.dot);
	/* a failing nested call reports through its own call */
	if (!err && !(err = jp_map_new(&c, self_pool, "fail_at", 10))) {
		size_t idx;
		jp_call_arg_i64(c, 3);
		if (jp_call_run(c) != JP_ETASK || jp_call_error(c, &idx, NULL) != JP_ETASK || idx != 3)
			err = -EPROTO;
		jp_call_free(c);
	}
	if (err)
		return jp_task_fail(t, "nested call: %s", jp_strerror(err));
	return set_results(t, &r, sizeof r);
}
JP_TASK(call_again);

START_TEST(call_on_own_pool_runs_inline)
{
	/* every thread at once calls the pool it runs on: no deadlock, the
	 * nested calls run in the calling threads */
	const char *backend = _i == 1 ? "sequential" : "threading";
	self_pool = open_backend(backend, _i, "1", NULL);
	jp_call *c;
	const void *d;
	size_t len, n = 16;
	ck_assert_int_eq(jp_map_new(&c, self_pool, "call_again", n), 0);
	ck_assert_msg(jp_call_run(c) == 0, "%s", jp_pool_errmsg(self_pool));
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	ck_assert_uint_eq(len, n * sizeof(struct again));
	for (size_t i = 0; i < n; i++) {
		const struct again *r = (const struct again *)d + i;
		ck_assert_int_eq(r->sum, squares_sum(100));
		ck_assert_int_eq(r->inner_slot, r->slot);
		ck_assert(r->dot == 30.0);
	}
	jp_call_free(c);
	/* the pool is free again: a call from here runs on the threads */
	ck_assert_int_eq(jp_map_new(&c, self_pool, "squares", 10), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
	jp_pool_close(self_pool);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("threads");
	TCase *tc = jpt_tcase("calls");
	tcase_add_loop_test(tc, same_results_as_processes, 1, 5);
	tcase_add_loop_test(tc, fixed_batch_sizes, 1, 4);
	tcase_add_test(tc, many_tiny_tasks);
	tcase_add_test(tc, calls_back_to_back_whoever_comes);
	tcase_add_loop_test(tc, first_failure_and_cancellation, 2, 4);
	tcase_add_test(tc, unknown_task_in_builder);
	tcase_add_loop_test(tc, arrays_pass_as_they_are, 1, 4);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("products");
	tcase_add_loop_test(tc, matmul_every_dtype, 1, 4);
	tcase_add_loop_test(tc, dot_on_threads, 1, 4);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("lifetime");
	tcase_add_test(tc, open_close_leaves_no_thread);
	tcase_add_test(tc, initializer_in_every_thread);
	tcase_add_test(tc, the_caller_is_runner_0);
	tcase_add_test(tc, forked_child_cannot_call);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("nesting");
	tcase_add_test(tc, nested_pools_run_in_the_calling_thread);
	tcase_add_test(tc, nesting_allowed_by_the_environment);
	tcase_add_loop_test(tc, call_on_own_pool_runs_inline, 1, 4);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
