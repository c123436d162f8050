/*
 * test-pool.c - calls on a pool: order, arguments, results, reuse.
 * Every case runs for n_jobs 1 (the sequential backend) to 4.
 */
#include "helpers.h"
#include "kernels/gemm.h"
#include "pool.h" /* the call a pool keeps */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

/* f(k) = k*k for k in the task's range, as int64. */
static int squares(jp_task *t)
{
	size_t b = jp_task_begin(t), e = jp_task_end(t);
	int64_t *out = jp_task_result_alloc(t, (e - b) * sizeof *out);
	if (!out)
		return jp_task_fail(t, "no memory");
	for (size_t k = b; k < e; k++)
		out[k - b] = (int64_t)(k * k);
	return 0;
}
JP_TASK(squares);

/* One item: shared f64 offset (arg 0) plus its own i64 (arg 1). */
static int offset_add(jp_task *t)
{
	double off;
	int64_t v;
	if (jp_task_nargs(t) != 2 || jp_task_arg_f64(t, 0, &off) || jp_task_arg_i64(t, 1, &v))
		return jp_task_fail(t, "bad arguments");
	double r = off + (double)v;
	return jp_task_set_result(t, &r, sizeof r);
}
JP_TASK(offset_add);

/* The same arguments, the other way. */
static int offset_sub(jp_task *t)
{
	double off;
	int64_t v;
	if (jp_task_nargs(t) != 2 || jp_task_arg_f64(t, 0, &off) || jp_task_arg_i64(t, 1, &v))
		return jp_task_fail(t, "bad arguments");
	double r = off - (double)v;
	return jp_task_set_result(t, &r, sizeof r);
}
JP_TASK(offset_sub);

/* One item: its bytes argument reversed. */
static int reverse_bytes(jp_task *t)
{
	const void *p;
	size_t n;
	if (jp_task_arg_bytes(t, 0, &p, &n))
		return jp_task_fail(t, "no bytes argument");
	char *out = jp_task_result_alloc(t, n);
	for (size_t i = 0; i < n; i++)
		out[i] = ((const char *)p)[n - 1 - i];
	return 0;
}
JP_TASK(reverse_bytes);

/* Row sums of a float64 matrix passed inline, for the rows in range. */
static int row_sums(jp_task *t)
{
	jp_array a;
	if (jp_task_arg_array(t, 0, &a) || a.dtype != JP_FLOAT64 || a.ndim != 2)
		return jp_task_fail(t, "expected a 2-d float64 array");
	if ((uintptr_t)a.data % 64)
		return jp_task_fail(t, "array data not 64-byte aligned");
	const double *d = a.data;
	size_t b = jp_task_begin(t), e = jp_task_end(t);
	double *out = jp_task_result_alloc(t, (e - b) * sizeof *out);
	for (size_t i = b; i < e; i++) {
		double s = 0;
		for (size_t j = 0; j < a.shape[1]; j++)
			s += d[i * a.shape[1] + j];
		out[i - b] = s;
	}
	return 0;
}
JP_TASK(row_sums);

/* Its own name, as the worker knows it. */
static int say_my_name(jp_task *t)
{
	return jp_task_set_result(t, jp_task_name(t), strlen(jp_task_name(t)));
}
JP_TASK(say_my_name);

START_TEST(task_knows_its_name)
{
	jp_pool *pool = jpt_open(_i);
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "say_my_name", 1), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	ck_assert(len == 11 && !memcmp(d, "say_my_name", 11));
	jp_call_free(c);
	jp_pool_close(pool);
}
END_TEST

START_TEST(dtype_sizes_and_array_bytes)
{
	const struct {
		jp_dtype t;
		size_t size;
	} sizes[] = { { JP_BOOL, 1 },    { JP_INT8, 1 },    { JP_INT16, 2 },     { JP_INT32, 4 },
		      { JP_INT64, 8 },   { JP_UINT8, 1 },   { JP_UINT16, 2 },    { JP_UINT32, 4 },
		      { JP_UINT64, 8 },  { JP_FLOAT32, 4 }, { JP_FLOAT64, 8 },   { JP_COMPLEX64, 8 },
		      { JP_COMPLEX128, 16 } };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		ck_assert_uint_eq(jp_dtype_size(sizes[i].t), sizes[i].size);
	ck_assert_uint_eq(jp_dtype_size((jp_dtype)0), 0);
	jp_array a = { .dtype = JP_FLOAT32, .ndim = 3, .shape = { 2, 3, 5 } };
	ck_assert_uint_eq(jp_array_nbytes(&a), 120);
	a.ndim = 0; /* a scalar */
	ck_assert_uint_eq(jp_array_nbytes(&a), 4);
	a.ndim = 2;
	a.shape[0] = a.shape[1] = SIZE_MAX / 2; /* overflows */
	ck_assert_uint_eq(jp_array_nbytes(&a), SIZE_MAX);
	a.ndim = JP_MAX_NDIM + 1;
	ck_assert_uint_eq(jp_array_nbytes(&a), SIZE_MAX);
	ck_assert_uint_eq(jp_array_nbytes(NULL), SIZE_MAX);
}
END_TEST

/* The threads of the calling process, from /proc/self/status; -1 if unknown. */
static int threads_of_self(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int n = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

/* The thread counts a worker exports for the libraries its tasks use, and
 * the count its BLAS was given (-1 without one). */
static int thread_env(jp_task *t)
{
	char out[128];
	const char *omp = getenv("OMP_NUM_THREADS"), *ob = getenv("OPENBLAS_NUM_THREADS");
	snprintf(out, sizeof out, "%s %s %d", omp ? omp : "-", ob ? ob : "-", jp__blas_threads());
	return jp_task_set_result(t, out, strlen(out) + 1);
}
JP_TASK(thread_env);

static int thread_count(jp_task *t)
{
	int32_t n = threads_of_self();
	return jp_task_set_result(t, &n, sizeof n);
}
JP_TASK(thread_count);

START_TEST(workers_export_their_share_of_cpus)
{
	/* as many workers as CPUs: one thread each; a count the user set stays */
	setenv("OPENBLAS_NUM_THREADS", "7", 1);
	unsetenv("OMP_NUM_THREADS");
	jp_pool *pool = jpt_open(jp_cpu_count() > 1 ? jp_cpu_count() : 2);
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "thread_env", 1), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	/* the BLAS itself runs the user's 7 threads, not the worker's share */
	ck_assert_str_eq(d, jp__blas_threads() < 0 ? "1 7 -1" : "1 7 7");
	jp_call_free(c);
	jp_pool_close(pool);
	ck_assert_ptr_null(getenv("OMP_NUM_THREADS")); /* the host's own is untouched */
	unsetenv("OPENBLAS_NUM_THREADS");
}
END_TEST

/* A worker whose BLAS runs one thread has no thread but its own: the
 * server thread OpenBLAS starts when the count is set after the fork
 * would spin on sched_yield beside it for its first 0.1 s (gemm.c). */
START_TEST(a_worker_at_one_blas_thread_has_one_thread)
{
	unsetenv("OPENBLAS_NUM_THREADS");
	int n = jp_cpu_count() > 1 ? jp_cpu_count() : 2;
	jp_pool *pool = jpt_open(n);
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "thread_count", (size_t)n), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	ck_assert_uint_eq(len, (size_t)n * sizeof(int32_t));
	for (size_t i = 0; i < (size_t)n; i++) {
		int32_t threads = ((const int32_t *)d)[i];
#if defined(HAVE_OPENBLAS) && !defined(HAVE_BLAS_THREAD_SHUTDOWN_)
		ck_assert_int_ge(threads, 1); /* no way to stop OpenBLAS's thread */
#else
		ck_assert_int_eq(threads, 1);
#endif
	}
	jp_call_free(c);
	jp_pool_close(pool);
}
END_TEST

/* Who ran me: slot and pid. */
struct whoami {
	int32_t slot, pid;
};
static int whoami(jp_task *t)
{
	struct whoami w = { jp_task_worker(t), (int32_t)getpid() };
	return jp_task_set_result(t, &w, sizeof w);
}
JP_TASK(whoami);

/* A large result: `size` bytes of a pattern seeded by the index. */
static int big_result(jp_task *t)
{
	int64_t size;
	jp_task_arg_i64(t, 0, &size);
	uint8_t *p = jp_task_result_alloc(t, (size_t)size);
	if (!p)
		return jp_task_fail(t, "cannot allocate %lld bytes", (long long)size);
	for (int64_t i = 0; i < size; i++)
		p[i] = (uint8_t)(i * 7 + jp_task_begin(t));
	return 0;
}
JP_TASK(big_result);

static int init_value;
static int set_init_value(jp_task *t)
{
	init_value = 1000 + jp_task_worker(t);
	return 0;
}
JP_TASK(set_init_value);

static int read_init_value(jp_task *t)
{
	int32_t v[2] = { init_value, jp_task_worker(t) };
	return jp_task_set_result(t, v, sizeof v);
}
JP_TASK(read_init_value);

static jp_pool *open_with(int n_jobs, const char *batch_size)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = n_jobs;
	opt.batch_size = batch_size;
	jp_pool *pool;
	int err = jp_pool_open(&pool, &opt);
	ck_assert_msg(!err, "open: %s", jp_pool_errmsg(NULL));
	return pool;
}

static void check_squares(jp_pool *pool, size_t n)
{
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "squares", n), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_uint_eq(jp_call_size(c), n);
	const void *data;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &data, &len), 0);
	ck_assert_uint_eq(len, n * sizeof(int64_t));
	const int64_t *v = data;
	for (size_t k = 0; k < n; k++)
		ck_assert_int_eq(v[k], (int64_t)(k * k));
	jp_call_free(c);
}

START_TEST(map_in_order)
{
	int n_jobs = _i;
	const char *sizes[] = { "auto", "1", "7", "1000000" };
	for (size_t s = 0; s < 4; s++) {
		jp_pool *pool = open_with(n_jobs, sizes[s]);
		check_squares(pool, 1000);
		check_squares(pool, 1);
		check_squares(pool, 3);
		check_squares(pool, 12345);
		jp_pool_close(pool);
	}
	jpt_assert_no_children();
}
END_TEST

START_TEST(empty_calls)
{
	jp_pool *pool = jpt_open(_i);
	jp_call *c;
	const void *data;
	size_t len = 99;
	ck_assert_int_eq(jp_map_new(&c, pool, "squares", 0), 0);
	ck_assert_int_eq(jp_call_output(c, &data, &len), -EAGAIN);
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_int_eq(jp_call_output(c, &data, &len), 0);
	ck_assert_uint_eq(len, 0);
	jp_call_free(c);
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_uint_eq(jp_call_size(c), 0);
	jp_call_free(c);
	jp_pool_close(pool);
}
END_TEST

/* Item i of c gave offset + step * i, or offset - step * i for the odd
 * items when they ran offset_sub. */
static void expect_offsets(jp_call *c, size_t n, double offset, int64_t step, bool odd_sub)
{
	for (size_t i = 0; i < n; i++) {
		const void *d;
		size_t len;
		double arg = (double)(step * (int64_t)i);
		ck_assert_int_eq(jp_call_result(c, i, &d, &len), 0);
		ck_assert_uint_eq(len, sizeof(double));
		ck_assert(*(const double *)d == (odd_sub && i % 2 ? offset - arg : offset + arg));
	}
}

START_TEST(builder_items_and_args)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = _i;
	opt.batch_size = _i == 3 ? "5" : "auto";
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	ck_assert_int_eq(jp_call_arg_f64(c, 0.5), 0); /* shared by every item */
	const size_t n = 500;
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(jp_call_add(c, "offset_add"), (long)i);
		ck_assert_int_eq(jp_call_arg_i64(c, (int64_t)i * 3), 0);
	}
	ck_assert_int_eq(jp_call_run(c), 0);
	expect_offsets(c, n, 0.5, 3, false);
	/* a call runs again: same results, the old ones dropped */
	ck_assert_int_eq(jp_call_run(c), 0);
	const void *out;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &out, &len), 0);
	ck_assert_uint_eq(len, n * sizeof(double));
	ck_assert(((const double *)out)[n - 1] == 0.5 + 3.0 * (double)(n - 1));
	ck_assert_int_eq(jp_call_result(c, n, &out, &len), -EINVAL);
	jp_call_free(c);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* A worker keeps the task table of the call before when the next names the
 * same tasks: the shared arguments must still be the new call's, and a
 * call naming other tasks must not find the old table. */
static void offset_call(jp_pool *pool, double offset, size_t n, const char *other)
{
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	ck_assert_int_eq(jp_call_arg_f64(c, offset), 0);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_ge(jp_call_add(c, other && i % 2 ? other : "offset_add"), 0);
		ck_assert_int_eq(jp_call_arg_i64(c, (int64_t)i), 0);
	}
	ck_assert_int_eq(jp_call_run(c), 0);
	expect_offsets(c, n, offset, 1, other != NULL);
	jp_call_free(c);
}

START_TEST(each_call_gets_its_own_arguments)
{
	jp_pool *pool = jpt_open(_i);
	for (int k = 0; k < 50; k++)
		offset_call(pool, 0.25 * k, 4, k % 5 == 4 ? "offset_sub" : NULL);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(mixed_tasks_bytes_and_arrays)
{
	jp_pool *pool = jpt_open(_i);
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	char text[64];
	for (int i = 0; i < 40; i++) {
		if (i % 2) {
			ck_assert_int_eq(jp_call_add(c, "reverse_bytes"), i);
			snprintf(text, sizeof text, "item-%d", i);
			ck_assert_int_eq(jp_call_arg_bytes(c, text, strlen(text)), 0);
		} else {
			ck_assert_int_eq(jp_call_add(c, "whoami"), i);
		}
	}
	ck_assert_int_eq(jp_call_run(c), 0);
	for (int i = 0; i < 40; i++) {
		const void *d;
		size_t len;
		ck_assert_int_eq(jp_call_result(c, (size_t)i, &d, &len), 0);
		if (i % 2) {
			snprintf(text, sizeof text, "item-%d", i);
			ck_assert_uint_eq(len, strlen(text));
			for (size_t k = 0; k < len; k++)
				ck_assert_int_eq(((const char *)d)[k], text[len - 1 - k]);
		} else {
			const struct whoami *w = d;
			ck_assert_uint_eq(len, sizeof *w);
			ck_assert_int_ge(w->slot, 0);
			ck_assert_int_lt(w->slot, jp_pool_n_jobs(pool));
			ck_assert_int_eq(w->pid, jp_pool_worker_pid(pool, w->slot));
		}
	}
	jp_call_free(c);

	/* an inline array, shared by a map over its rows */
	enum { R = 301, C = 17 };
	double *m;
	ck_assert_int_eq(posix_memalign((void **)&m, 64, R * C * sizeof *m), 0);
	for (int i = 0; i < R * C; i++)
		m[i] = (double)(i % 13) - 4.0;
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 2, .shape = { R, C }, .data = m };
	ck_assert_int_eq(jp_map_new(&c, pool, "row_sums", R), 0);
	ck_assert_int_eq(jp_call_arg_array(c, &a), 0);
	int rc = jp_call_run(c);
	const char *msg;
	jp_call_error(c, NULL, &msg);
	ck_assert_msg(rc == 0, "run: %s", msg);
	const void *out;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &out, &len), 0);
	ck_assert_uint_eq(len, R * sizeof(double));
	for (int i = 0; i < R; i++) {
		double s = 0;
		for (int j = 0; j < C; j++)
			s += m[i * C + j];
		ck_assert(((const double *)out)[i] == s);
	}
	jp_call_free(c);
	free(m);
	jp_array bad = { .dtype = (jp_dtype)99, .ndim = 1, .shape = { 4 } };
	ck_assert_int_eq(jp_map_new(&c, pool, "row_sums", 1), 0);
	ck_assert_int_eq(jp_call_arg_array(c, &bad), -EINVAL);
	jp_call_free(c);
	jp_pool_close(pool);
}
END_TEST

START_TEST(thousand_calls_reuse_workers)
{
	jp_pool *pool = jpt_open(_i);
	int n = jp_pool_n_jobs(pool);
	pid_t pids[8];
	for (int s = 0; s < n; s++)
		pids[s] = jp_pool_worker_pid(pool, s);
	unsigned long spawned = jp_pool_spawn_count(pool);
	ck_assert_uint_eq(spawned, n > 1 ? (unsigned long)n : 0);
	for (int i = 0; i < 1000; i++)
		check_squares(pool, 16);
	ck_assert_uint_eq(jp_pool_spawn_count(pool), spawned);
	for (int s = 0; s < n; s++)
		ck_assert_int_eq(jp_pool_worker_pid(pool, s), pids[s]);
	pid_t kids[16];
	/* the workers and the janitor of their folders; none when sequential */
	ck_assert_int_eq(jpt_children(kids, 16), n > 1 ? n + 1 : 0);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

static int fails(jp_task *t)
{
	return jp_task_fail(t, "this item fails");
}
JP_TASK(fails);

static void count_progress(size_t done, size_t total, void *ctx)
{
	(void)done, (void)total;
	++*(int *)ctx;
}

/* The pool keeps a freed call for its next jp_call_new (call.c): what comes
 * back must be as new, whatever the call before it had set, failed or
 * grown to. */
START_TEST(a_freed_call_comes_back_fresh)
{
	jp_pool *pool = jpt_open(_i);
	int progressed = 0;
	size_t index;
	const char *msg;
	/* a builder call of 2000 items (more slots than a kept call keeps),
	 * with a progress callback, that fails */
	jp_call *a;
	ck_assert_int_eq(jp_call_new(&a, pool), 0);
	ck_assert_int_eq(jp_call_set_progress(a, count_progress, &progressed), 0);
	for (long i = 0; i < 2000; i++)
		ck_assert_int_eq(jp_call_add(a, i == 5 ? "fails" : "squares"), i);
	ck_assert_int_ne(jp_call_run(a), 0);
	ck_assert_int_ne(jp_call_error(a, &index, &msg), 0);
	ck_assert_ptr_nonnull(strstr(msg, "this item fails"));
	ck_assert_int_gt(progressed, 0);
	jp_call_free(a);
	ck_assert_ptr_eq(pool->kept_call, a);

	jp_call *b, *c;
	ck_assert_int_eq(jp_call_new(&b, pool), 0);
	ck_assert_ptr_eq(b, a); /* the same struct: this is what is tested */
	ck_assert_ptr_null(pool->kept_call);
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	ck_assert_ptr_ne(c, b); /* one is kept; a second call is new */
	jp_call_free(c);
	ck_assert_uint_eq(jp_call_size(b), 0);
	ck_assert_int_eq(jp_call_error(b, &index, &msg), 0);
	const void *data;
	size_t len;
	ck_assert_int_eq(jp_call_output(b, &data, &len), -EAGAIN);
	for (long i = 0; i < 3; i++)
		ck_assert_int_eq(jp_call_add(b, "squares"), i);
	int before = progressed;
	ck_assert_int_eq(jp_call_run(b), 0);
	ck_assert_int_eq(progressed, before); /* a's callback is gone */
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(jp_call_result(b, i, &data, &len), 0);
		ck_assert_uint_eq(len, sizeof(int64_t));
		ck_assert_int_eq(*(const int64_t *)data, (int64_t)(i * i));
	}
	jp_call_free(b);
	/* a map after a builder, and the other way round */
	check_squares(pool, 1000);
	ck_assert_int_eq(jp_call_new(&b, pool), 0);
	ck_assert_int_eq(jp_call_add(b, "squares"), 0);
	ck_assert_int_eq(jp_call_run(b), 0);
	ck_assert_int_eq(jp_call_result(b, 0, &data, &len), 0);
	ck_assert_int_eq(*(const int64_t *)data, 0);
	jp_call_free(b);
	jp_pool_close(pool);
}
END_TEST

/* A reverse_bytes call whose results are n[i] bytes long, item i's bytes
 * being (i + k) % 251 for k in [0, n[i]). */
static void add_reversals(jp_call *c, const size_t *n, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		uint8_t buf[5000];
		ck_assert_uint_le(n[i], sizeof buf);
		for (size_t k = 0; k < n[i]; k++)
			buf[n[i] - 1 - k] = (uint8_t)((i + k) % 251);
		ck_assert_int_eq(jp_call_add(c, "reverse_bytes"), (long)i);
		ck_assert_int_eq(jp_call_arg_bytes(c, buf, n[i]), 0);
	}
}

static void check_reversal(size_t i, const void *data, size_t len, size_t n)
{
	ck_assert_uint_eq(len, n);
	for (size_t k = 0; k < n; k++)
		ck_assert_uint_eq(((const uint8_t *)data)[k], (i + k) % 251);
}

/* Result frames land in blocks the call keeps and reuses (call.c,
 * new_block): frames that fit a block and frames that do not, in the same
 * call, run again, streamed, and in the call the pool keeps. */
START_TEST(result_frames_of_every_size_in_reused_calls)
{
	jp_pool *pool = jpt_open(_i);
	static const size_t n[] = { 1, 8, 63, 64, 65, 100, 127, 128, 129, 200, 1000, 5000, 8, 0 };
	enum { N = sizeof n / sizeof n[0] };
	const void *data;
	size_t len;
	for (int round = 0; round < 3; round++) {
		jp_call *c;
		ck_assert_int_eq(jp_call_new(&c, pool), 0);
		add_reversals(c, n, N);
		for (int run = 0; run < 2; run++) {
			ck_assert_int_eq(jp_call_run(c), 0);
			for (size_t i = 0; i < N; i++) {
				ck_assert_int_eq(jp_call_result(c, i, &data, &len), 0);
				check_reversal(i, data, len, n[i]);
			}
		}
		ck_assert_int_eq(jp_call_start(c, round == 1 ? JP_UNORDERED : JP_ORDERED), 0);
		jp_result r;
		size_t seen = 0;
		while (jp_call_next(c, &r) == 1) {
			ck_assert_uint_eq(r.count, 1);
			check_reversal(r.index, r.data, r.len, n[r.index]);
			seen++;
		}
		ck_assert_uint_eq(seen, N);
		jp_call_free(c);
		/* a map's output, gathered in storage the kept call reuses */
		check_squares(pool, round == 2 ? 20000 : 10);
	}
	jp_pool_close(pool);
}
END_TEST

/* The pool's cache of large buffers (bufcache.c): the smallest that fits
 * is taken with the bytes already there, small ones and ones past the
 * bound are not kept. */
START_TEST(the_pool_keeps_large_buffers)
{
	jp__bufcache bc;
	jp__bufcache_init(&bc);
	size_t sizes[] = { 64u << 10, 128u << 10, 1u << 20 };
	for (int i = 0; i < 3; i++) {
		jp__buf b = { 0 };
		ck_assert_int_eq(jp__buf_reserve_exact(&b, sizes[i]), 0);
		size_t cap = b.cap;
		jp__bufcache_give(&bc, jp__buf_take(&b), cap);
	}
	ck_assert_uint_eq(bc.bytes, (64u << 10) + (128u << 10) + (1u << 20));
	jp__buf b = { 0 };
	ck_assert_int_eq(jp__buf_append(&b, "head", 4), 0);
	ck_assert(jp__bufcache_take(&bc, 100u << 10, &b));
	ck_assert_uint_eq(b.cap, 128u << 10); /* the smallest that fits */
	ck_assert_uint_eq(b.len, 4);
	ck_assert_mem_eq(b.data, "head", 4);
	ck_assert(!jp__bufcache_take(&bc, 100u << 10, &b)); /* large enough already */
	jp__buf big = { 0 };
	ck_assert(!jp__bufcache_take(&bc, 2u << 20, &big)); /* none that large */
	ck_assert(!jp__bufcache_take(&bc, 4096, &big));      /* malloc's business */
	ck_assert_ptr_null(big.data);
	/* too small, and past the bound: freed, not kept */
	void *small = malloc(4096), *huge = malloc(1);
	size_t before = bc.bytes;
	jp__bufcache_give(&bc, small, 4096);
	jp__bufcache_give(&bc, huge, JP__BUFCACHE_MAX_BYTES + 1);
	ck_assert_uint_eq(bc.bytes, before);
	/* full: a larger one replaces the smallest, a smaller one goes */
	size_t cap = b.cap;
	jp__bufcache_give(&bc, jp__buf_take(&b), cap);
	size_t held = (64u << 10) + (128u << 10) + (1u << 20);
	for (int i = 3; i < JP__BUFCACHE_SLOTS; i++) {
		ck_assert_int_eq(jp__buf_reserve_exact(&b, 256u << 10), 0);
		cap = b.cap;
		jp__bufcache_give(&bc, jp__buf_take(&b), cap);
		held += 256u << 10;
	}
	ck_assert_uint_eq(bc.bytes, held);
	ck_assert_int_eq(jp__buf_reserve_exact(&b, 96u << 10), 0);
	cap = b.cap;
	jp__bufcache_give(&bc, jp__buf_take(&b), cap);
	ck_assert_uint_eq(bc.bytes, held - (64u << 10) + (96u << 10));
	ck_assert_int_eq(jp__buf_reserve_exact(&b, 80u << 10), 0);
	cap = b.cap;
	jp__bufcache_give(&bc, jp__buf_take(&b), cap);
	ck_assert_uint_eq(bc.bytes, held - (64u << 10) + (96u << 10));
	/* past the bound in all: the smallest go */
	ck_assert_int_eq(jp__buf_reserve_exact(&b, JP__BUFCACHE_MAX_BYTES - (512u << 10)), 0);
	cap = b.cap;
	jp__bufcache_give(&bc, jp__buf_take(&b), cap);
	ck_assert_uint_le(bc.bytes, JP__BUFCACHE_MAX_BYTES);
	ck_assert_uint_ge(bc.bytes, JP__BUFCACHE_MAX_BYTES - (512u << 10));
	jp__bufcache_free(&bc);

	/* in a pool: a call's large frames and output come back for the
	 * next call, whose results are right */
	jp_pool *pool = jpt_open(_i);
	for (int round = 0; round < 3; round++) {
		check_squares(pool, 100000);
		if (jp_pool_n_jobs(pool) > 1)
			ck_assert_uint_gt(pool->big_bufs.bytes, 0);
	}
	jp_pool_close(pool);
}
END_TEST

START_TEST(large_results)
{
	jp_pool *pool = jpt_open(_i);
	jp_call *c;
	/* results far above the pipe's capacity, one of 300 MiB, between
	 * small ones */
	const int64_t sizes[] = { 300 << 20, 1, 100 << 20, 0, 70000, 100 << 20 };
	const size_t n = sizeof sizes / sizeof sizes[0];
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	for (size_t i = 0; i < n; i++) {
		jp_call_add(c, "big_result");
		jp_call_arg_i64(c, sizes[i]);
	}
	ck_assert_int_eq(jp_call_run(c), 0);
	for (size_t i = 0; i < n; i++) {
		const void *d;
		size_t len;
		ck_assert_int_eq(jp_call_result(c, i, &d, &len), 0);
		ck_assert_uint_eq(len, (size_t)sizes[i]);
		const uint8_t *p = d;
		for (size_t k = 0; k < len; k += 4093)
			ck_assert_uint_eq(p[k], (uint8_t)(k * 7 + i));
		if (len)
			ck_assert_uint_eq(p[len - 1], (uint8_t)((len - 1) * 7 + i));
	}
	jp_call_free(c);
	jp_pool_close(pool);
}
END_TEST

START_TEST(initializer_runs_in_each_worker)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = _i;
	opt.initializer = "set_init_value";
	opt.batch_size = "1";
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	for (int i = 0; i < 20; i++)
		jp_call_add(c, "read_init_value");
	ck_assert_int_eq(jp_call_run(c), 0);
	for (int i = 0; i < 20; i++) {
		const void *d;
		size_t len;
		ck_assert_int_eq(jp_call_result(c, (size_t)i, &d, &len), 0);
		const int32_t *v = d;
		ck_assert_int_eq(v[0], 1000 + v[1]);
	}
	jp_call_free(c);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* A task frame far larger than the socket buffer goes out in many partial
 * sends, and signals interrupting the master's waits change nothing. */
static volatile sig_atomic_t ticks;
static void on_tick(int sig)
{
	(void)sig;
	ticks++;
}

START_TEST(large_task_frames_and_interrupted_waits)
{
	/* no SA_RESTART: every tick interrupts poll(2) and read(2) */
	struct sigaction sa = { .sa_handler = on_tick };
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval every_ms = { { 0, 1000 }, { 0, 1000 } };
	setitimer(ITIMER_REAL, &every_ms, NULL);

	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = _i;
	opt.max_nbytes = "none";
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	enum { R = 2048, C = 2048 }; /* 32 MiB: inline with max_nbytes "none" */
	double *m;
	ck_assert_int_eq(posix_memalign((void **)&m, 64, (size_t)R * C * sizeof *m), 0);
	for (size_t i = 0; i < (size_t)R * C; i++)
		m[i] = (double)(i % 7);
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 2, .shape = { R, C }, .data = m };
	for (int round = 0; round < 3; round++) {
		jp_call *c;
		ck_assert_int_eq(jp_map_new(&c, pool, "row_sums", R), 0);
		ck_assert_int_eq(jp_call_arg_array(c, &a), 0);
		ck_assert_int_eq(jp_call_run(c), 0);
		const void *out;
		size_t len;
		ck_assert_int_eq(jp_call_output(c, &out, &len), 0);
		for (size_t i = 0; i < R; i += 97) {
			double s = 0;
			for (size_t j = 0; j < C; j++)
				s += m[i * C + j];
			ck_assert(((const double *)out)[i] == s);
		}
		jp_call_free(c);
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	ck_assert_int_gt(ticks, 0);
	free(m);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pool");
	TCase *tc = jpt_tcase("calls");
	tcase_add_loop_test(tc, map_in_order, 1, 5);
	tcase_add_loop_test(tc, empty_calls, 1, 3);
	tcase_add_loop_test(tc, builder_items_and_args, 1, 5);
	tcase_add_loop_test(tc, each_call_gets_its_own_arguments, 1, 4);
	tcase_add_loop_test(tc, mixed_tasks_bytes_and_arrays, 1, 5);
	tcase_add_loop_test(tc, initializer_runs_in_each_worker, 1, 4);
	tcase_add_loop_test(tc, task_knows_its_name, 1, 3);
	tcase_add_test(tc, dtype_sizes_and_array_bytes);
	tcase_add_test(tc, workers_export_their_share_of_cpus);
	tcase_add_test(tc, a_worker_at_one_blas_thread_has_one_thread);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("reuse");
	tcase_add_loop_test(tc, thousand_calls_reuse_workers, 1, 5);
	tcase_add_loop_test(tc, large_results, 1, 3);
	tcase_add_loop_test(tc, a_freed_call_comes_back_fresh, 1, 3);
	tcase_add_loop_test(tc, result_frames_of_every_size_in_reused_calls, 1, 4);
	tcase_add_loop_test(tc, the_pool_keeps_large_buffers, 1, 4);
	tcase_add_loop_test(tc, large_task_frames_and_interrupted_waits, 1, 4);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
