/*
 * test-errors-doc.c - doc/errors.md is checked against the library: every
 * row names a case below, and the case must return the row's code with a
 * message that contains the row's text. Every case must have its row.
 *
 *   test-errors-doc          check doc/errors.md (the default, in make check)
 *   test-errors-doc --print  print the rows as the library behaves now
 */
#define _GNU_SOURCE
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef JPT_SRCDIR
#define JPT_SRCDIR "."
#endif

static int echo(jp_task *t)
{
	return jp_task_set_result(t, "x", 1);
}
JP_TASK(echo);

/* ---- the cases: each fills msg (the message the caller can read) ------ */

#define MSG_CAP 512

static int open_with(jp_options o, char *msg)
{
	jp_pool *pool;
	int rc = jp_pool_open(&pool, &o);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(NULL));
	if (rc == 0)
		jp_pool_close(pool);
	return rc;
}

#define OPTION_CASE(name, field, value)                 \
	static int name(char *msg)                     \
	{                                              \
		jp_options o = JP_OPTIONS_INIT;        \
		o.n_jobs = 2;                          \
		o.field = value;                       \
		return open_with(o, msg);              \
	}

OPTION_CASE(n_jobs_zero, n_jobs, 0)
OPTION_CASE(backend_unknown, backend, "gpu")
OPTION_CASE(max_nbytes_bad, max_nbytes, "1MB")
OPTION_CASE(mmap_mode_unknown, mmap_mode, "rw")
OPTION_CASE(batch_size_zero, batch_size, "0")
OPTION_CASE(batch_size_negative, batch_size, "-3")
OPTION_CASE(batch_size_fraction, batch_size, "2.5")
OPTION_CASE(pre_dispatch_bad, pre_dispatch, "3*jobs")
OPTION_CASE(timeout_negative, timeout, -1)
OPTION_CASE(temp_folder_empty, temp_folder, "")
OPTION_CASE(initializer_unknown, initializer, "nope")
OPTION_CASE(retries_negative, retries, -1)
OPTION_CASE(on_error_unknown, on_error, "ignore")
OPTION_CASE(max_tasks_negative, max_tasks_per_worker, -1)
OPTION_CASE(max_rss_growth_bad, max_rss_growth, "lots")
OPTION_CASE(wait_policy_unknown, wait_policy, "spin")
OPTION_CASE(spin_s_too_long, spin_s, 5)

static int timeout_threads(char *msg)
{
	jp_options o = JP_OPTIONS_INIT;
	o.n_jobs = 2;
	o.backend = "threading";
	o.timeout = 2;
	return open_with(o, msg);
}

static int io_engine_unknown(char *msg)
{
	jp_options o = JP_OPTIONS_INIT;
	o.n_jobs = 2;
	/* the caller's choice is put back: later rows open pools with it
	 * (valgrind runs this suite on poll, as io_uring's reads escape it) */
	const char *was = getenv("JOBPOOL_IO");
	char saved[16] = "";
	if (was)
		snprintf(saved, sizeof saved, "%s", was);
	setenv("JOBPOOL_IO", "bogus", 1);
	int rc = open_with(o, msg);
	if (was)
		setenv("JOBPOOL_IO", saved, 1);
	else
		unsetenv("JOBPOOL_IO");
	return rc;
}

static int timeout_one_job(char *msg)
{
	jp_options o = JP_OPTIONS_INIT;
	o.n_jobs = 1;
	o.timeout = 2;
	return open_with(o, msg);
}

/* (not jpt_open: --print runs outside check) */
static jp_pool *pool2(void)
{
	jp_options o = JP_OPTIONS_INIT;
	o.n_jobs = 2;
	jp_pool *p;
	if (jp_pool_open(&p, &o)) {
		fprintf(stderr, "cannot open a pool: %s\n", jp_pool_errmsg(NULL));
		exit(1);
	}
	return p;
}

static int map_unknown_task(char *msg)
{
	jp_pool *p = pool2();
	jp_call *c;
	int rc = jp_map_new(&c, p, "nope", 10);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_pool_close(p);
	return rc;
}

static int add_unknown_task(char *msg)
{
	jp_pool *p = pool2();
	jp_call *c;
	jp_call_new(&c, p);
	int rc = (int)jp_call_add(c, "nope");
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_call_free(c);
	jp_pool_close(p);
	return rc;
}

static int run_null(char *msg)
{
	msg[0] = '\0';
	return jp_call_run(NULL);
}

static int run_while_streaming(char *msg)
{
	jp_pool *p = pool2();
	jp_call *a, *b;
	jp_map_new(&a, p, "echo", 100);
	jp_map_new(&b, p, "echo", 100);
	jp_call_start(a, JP_ORDERED);
	int rc = jp_call_run(b);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_call_free(a);
	jp_call_free(b);
	jp_pool_close(p);
	return rc;
}

static int start_bad_order(char *msg)
{
	jp_pool *p = pool2();
	jp_call *c;
	jp_map_new(&c, p, "echo", 10);
	int rc = jp_call_start(c, 7);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_call_free(c);
	jp_pool_close(p);
	return rc;
}

static int lazy_make(jp_call *c, size_t i, void *ctx)
{
	(void)c, (void)i, (void)ctx;
	return 0; /* "made" an item without adding one */
}

static int generator_adds_nothing(char *msg)
{
	jp_pool *p = pool2();
	jp_call *c;
	jp_call_new(&c, p);
	jp_call_generate(c, lazy_make, NULL);
	int rc = jp_call_run(c);
	const char *m;
	jp_call_error(c, NULL, &m);
	snprintf(msg, MSG_CAP, "%s", m);
	jp_call_free(c);
	jp_pool_close(p);
	return rc;
}

static int run_in_forked_child(char *msg)
{
	jp_pool *p = pool2();
	jp_call *c;
	jp_map_new(&c, p, "echo", 10);
	int fds[2];
	if (pipe(fds))
		return -errno;
	pid_t pid = fork();
	if (pid == 0) {
		int rc = jp_call_run(c);
		char m[MSG_CAP] = "";
		snprintf(m, sizeof m, "%s", jp_pool_errmsg(p));
		if (write(fds[1], &rc, sizeof rc) != sizeof rc || write(fds[1], m, sizeof m) != sizeof m)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	int rc = 0;
	if (read(fds[0], &rc, sizeof rc) != sizeof rc || read(fds[0], msg, MSG_CAP) != MSG_CAP)
		rc = -EIO;
	close(fds[0]);
	waitpid(pid, NULL, 0);
	jp_call_free(c);
	jp_pool_close(p);
	return rc;
}

/* ---- result caches -------------------------------------------------------- */

static int memory_open_with(const char *dir, jp_memory_options o, char *msg)
{
	jp_memory *m;
	int rc = jp_memory_open(&m, dir, &o);
	snprintf(msg, MSG_CAP, "%s", jp_memory_errmsg(NULL));
	jp_memory_close(m);
	return rc;
}

static int memory_not_a_directory(char *msg)
{
	/* a folder under a regular file: even root cannot make it */
	char file[64] = "/tmp/jpt-errors-doc.XXXXXX", dir[96];
	int fd = mkstemp(file);
	if (fd < 0)
		return -errno;
	close(fd);
	snprintf(dir, sizeof dir, "%s/cache", file);
	int rc = memory_open_with(dir, (jp_memory_options)JP_MEMORY_OPTIONS_INIT, msg);
	unlink(file);
	return rc;
}

static int memory_dir_empty(char *msg)
{
	return memory_open_with("", (jp_memory_options)JP_MEMORY_OPTIONS_INIT, msg);
}

static int memory_bytes_limit_bad(char *msg)
{
	jp_memory_options o = JP_MEMORY_OPTIONS_INIT;
	o.bytes_limit = "lots";
	return memory_open_with("/tmp", o, msg);
}

static int memory_on_unwritable_unknown(char *msg)
{
	jp_memory_options o = JP_MEMORY_OPTIONS_INIT;
	o.on_unwritable = "ignore";
	return memory_open_with("/tmp", o, msg);
}

/* A call of p with a cache whose folder cannot be made ("compute"): the
 * cases below refuse before any file would be touched. */
static jp_memory *no_store(void)
{
	jp_memory_options o = JP_MEMORY_OPTIONS_INIT;
	o.on_unwritable = "compute";
	jp_memory *m = NULL;
	jp_memory_open(&m, "/dev/null/cache", &o);
	return m;
}

static int memory_stream(char *msg)
{
	jp_pool *p = pool2();
	jp_memory *m = no_store();
	jp_call *c;
	jp_call_new(&c, p);
	jp_call_set_memory(c, m);
	jp_call_add(c, "echo");
	int rc = jp_call_start(c, JP_ORDERED);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_call_free(c);
	jp_memory_close(m);
	jp_pool_close(p);
	return rc;
}

static int memory_generate(char *msg)
{
	jp_pool *p = pool2();
	jp_memory *m = no_store();
	jp_call *c;
	jp_call_new(&c, p);
	jp_call_set_memory(c, m);
	int rc = jp_call_generate(c, lazy_make, NULL);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_call_free(c);
	jp_memory_close(m);
	jp_pool_close(p);
	return rc;
}

static int memory_after_arguments(char *msg)
{
	jp_pool *p = pool2();
	jp_memory *m = no_store();
	jp_call *c;
	jp_map_new(&c, p, "echo", 10);
	jp_call_arg_i64(c, 1);
	int rc = jp_call_set_memory(c, m);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_call_free(c);
	jp_memory_close(m);
	jp_pool_close(p);
	return rc;
}

/* ---- pools and tasks ------------------------------------------------------- */

static int effective_n_jobs_zero(char *msg)
{
	msg[0] = '\0';
	return jp_effective_n_jobs(0);
}

static int pool_open_null(char *msg)
{
	jp_options o = JP_OPTIONS_INIT;
	int rc = jp_pool_open(NULL, &o);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(NULL));
	return rc;
}

static int probe(jp_task *t);

/* A case whose function is given a NULL handle: no pool keeps a message. */
#define NULL_CASE(name, expr)          \
	static int name(char *msg)     \
	{                              \
		msg[0] = '\0';         \
		return (int)(expr);    \
	}

static jp_call *scratch_call;
static jp_result scratch_result;
static int64_t scratch_i64;
static double scratch_f64;
static const void *scratch_data;
static size_t scratch_len;
static jp_array scratch_array;

static int ignore_result(const jp_result *r, void *ctx)
{
	(void)r, (void)ctx;
	return 0;
}

NULL_CASE(n_jobs_null, jp_pool_n_jobs(NULL))
NULL_CASE(worker_pid_null, jp_pool_worker_pid(NULL, 0))
NULL_CASE(register_name_null, jp_task_register(NULL, echo))
NULL_CASE(register_name_empty, jp_task_register("", echo))
NULL_CASE(register_fn_null, jp_task_register("no_function", NULL))
NULL_CASE(register_name_taken, jp_task_register("echo", probe))
NULL_CASE(register_version_taken, jp_task_register_version("echo", echo, 1))
NULL_CASE(task_arg_null_task, jp_task_arg_i64(NULL, 0, &scratch_i64))
NULL_CASE(call_new_null_pool, jp_call_new(&scratch_call, NULL))
NULL_CASE(map_null_pool, jp_map_new(&scratch_call, NULL, "echo", 10))
NULL_CASE(add_null_call, jp_call_add(NULL, "echo"))
NULL_CASE(arg_i64_null_call, jp_call_arg_i64(NULL, 1))
NULL_CASE(arg_f64_null_call, jp_call_arg_f64(NULL, 1.0))
NULL_CASE(arg_bytes_null_call, jp_call_arg_bytes(NULL, "x", 1))
NULL_CASE(arg_array_null_call, jp_call_arg_array(NULL, &scratch_array))
NULL_CASE(result_null_call, jp_call_result(NULL, 0, &scratch_data, &scratch_len))
NULL_CASE(output_null_call, jp_call_output(NULL, &scratch_data, &scratch_len))
NULL_CASE(generate_null_call, jp_call_generate(NULL, lazy_make, NULL))
NULL_CASE(set_progress_null_call, jp_call_set_progress(NULL, NULL, NULL))
NULL_CASE(start_null_call, jp_call_start(NULL, JP_ORDERED))
NULL_CASE(next_null_call, jp_call_next(NULL, &scratch_result))
NULL_CASE(stream_null_call, jp_call_stream(NULL, JP_ORDERED, ignore_result, NULL))
NULL_CASE(error_null_call, jp_call_error(NULL, NULL, NULL))
NULL_CASE(set_memory_null_call, jp_call_set_memory(NULL, NULL))
NULL_CASE(memory_clear_null, jp_memory_clear(NULL))
NULL_CASE(memory_clear_task_null, jp_memory_clear_task(NULL, "echo"))
NULL_CASE(memory_stats_null, jp_memory_stats_get(NULL, &(jp_memory_stats){ 0 }))
NULL_CASE(matmul_pool_null, jp_matmul(NULL, &scratch_array, &scratch_array, &scratch_array))
NULL_CASE(dot_pool_null, jp_dot(NULL, &scratch_array, &scratch_array, &scratch_f64))
NULL_CASE(alloc_shared_pool_null, jp_array_alloc_shared(NULL, JP_FLOAT64, 1, &scratch_len, &scratch_array))
NULL_CASE(share_pool_null, jp_share(NULL, &scratch_array, &scratch_array))

static int register_name_too_long(char *msg)
{
	char name[300];
	memset(name, 'a', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	msg[0] = '\0';
	return jp_task_register(name, echo);
}

static int worker_pid_bad_slot(char *msg)
{
	jp_pool *p = pool2();
	int rc = jp_pool_worker_pid(p, 2);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_pool_close(p);
	return rc;
}

/* In a task: argument 0 says which misuse, the result is its code. */
static int probe(jp_task *t)
{
	int64_t which = -1, i;
	double d;
	const void *data;
	size_t len;
	jp_array a;
	int rc = jp_task_arg_i64(t, 0, &which);
	switch (which) {
	case 0: rc = jp_task_arg_i64(t, 1, &i); break;
	case 1: rc = jp_task_arg_f64(t, 0, &d); break;
	case 2: rc = jp_task_arg_bytes(t, 0, &data, &len); break;
	case 3: rc = jp_task_arg_array(t, 0, &a); break;
	case 4: rc = jp_task_arg_array(t, 1, &a); break;
	case 5: rc = jp_task_set_result(t, NULL, 4); break;
	case 6: {
		void *out = jp_task_result_alloc(t, sizeof rc);
		rc = jp_task_set_result(t, "x", 1);
		if (out)
			memcpy(out, &rc, sizeof rc);
		return 0;
	}
	}
	return jp_task_set_result(t, &rc, sizeof rc);
}
JP_TASK(probe);

static int in_task(int64_t which, char *msg)
{
	jp_pool *p = pool2();
	jp_call *c;
	const void *out;
	size_t len;
	jp_map_new(&c, p, "probe", 1);
	jp_call_arg_i64(c, which);
	int rc = jp_call_run(c);
	if (!rc && !(rc = jp_call_output(c, &out, &len)))
		rc = len == sizeof rc ? (memcpy(&rc, out, sizeof rc), rc) : -EIO;
	msg[0] = '\0';
	jp_call_free(c);
	jp_pool_close(p);
	return rc;
}

static int task_arg_out_of_range(char *msg) { return in_task(0, msg); }
static int task_arg_other_kind(char *msg) { return in_task(1, msg); }
static int task_arg_bytes_other_kind(char *msg) { return in_task(2, msg); }
static int task_arg_array_other_kind(char *msg) { return in_task(3, msg); }
static int task_arg_array_out_of_range(char *msg) { return in_task(4, msg); }
static int task_set_result_null_data(char *msg) { return in_task(5, msg); }
static int task_set_result_twice(char *msg) { return in_task(6, msg); }

/* ---- calls: a pool for one case, a call on it, and its message ------------- */

static jp_pool *case_pool;

static jp_call *builder(void)
{
	jp_call *c;
	case_pool = pool2();
	jp_call_new(&c, case_pool);
	return c;
}

static jp_call *map_of(size_t n)
{
	jp_call *c;
	case_pool = pool2();
	jp_map_new(&c, case_pool, "echo", n);
	return c;
}

/* rc is computed before this runs: the pool's message is the one it left. */
static int done(jp_call *c, long rc, char *msg)
{
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(case_pool));
	jp_call_free(c);
	jp_pool_close(case_pool);
	return (int)rc;
}

static jp_call *streaming(void)
{
	jp_call *c = map_of(100);
	jp_call_start(c, JP_ORDERED);
	return c;
}

static int make_two(jp_call *c, size_t i, void *ctx)
{
	(void)ctx;
	if (i == 2)
		return 1;
	return jp_call_add(c, "echo") < 0 ? -1 : 0;
}

static int map_null_task(char *msg)
{
	jp_pool *p = pool2();
	jp_call *c;
	int rc = jp_map_new(&c, p, NULL, 10);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_pool_close(p);
	return rc;
}

static int add_null_task(char *msg)
{
	jp_call *c = builder();
	return done(c, jp_call_add(c, NULL), msg);
}

static int add_to_map(char *msg)
{
	jp_call *c = map_of(10);
	return done(c, jp_call_add(c, "echo"), msg);
}

static int add_outside_generator(char *msg)
{
	jp_call *c = builder();
	jp_call_generate(c, make_two, NULL);
	return done(c, jp_call_add(c, "echo"), msg);
}

static int arg_bytes_null_data(char *msg)
{
	jp_call *c = map_of(10);
	return done(c, jp_call_arg_bytes(c, NULL, 8), msg);
}

static int arg_array_case(jp_array a, bool null, char *msg)
{
	jp_call *c = map_of(10);
	return done(c, jp_call_arg_array(c, null ? NULL : &a), msg);
}

static int arg_array_null(char *msg)
{
	return arg_array_case((jp_array){ 0 }, true, msg);
}

static int arg_array_bad_dtype(char *msg)
{
	return arg_array_case((jp_array){ .dtype = (jp_dtype)99, .ndim = 1, .shape = { 3 } }, false, msg);
}

static int arg_array_bad_ndim(char *msg)
{
	return arg_array_case((jp_array){ .dtype = JP_FLOAT64, .ndim = 40 }, false, msg);
}

static int arg_array_size_overflow(char *msg)
{
	return arg_array_case((jp_array){ .dtype = JP_FLOAT64, .ndim = 2, .shape = { SIZE_MAX / 2, 4 } },
			      false, msg);
}

static int arg_array_no_data(char *msg)
{
	return arg_array_case((jp_array){ .dtype = JP_FLOAT64, .ndim = 2, .shape = { 3, 4 } }, false, msg);
}

static int arg_while_running(char *msg)
{
	jp_call *c = streaming();
	return done(c, jp_call_arg_i64(c, 1), msg);
}

static int arg_after_generated_items(char *msg)
{
	jp_call *c = builder();
	jp_call_generate(c, make_two, NULL);
	jp_call_run(c);
	return done(c, jp_call_arg_i64(c, 1), msg);
}

static int result_bad_index(char *msg)
{
	jp_call *c = builder();
	jp_call_add(c, "echo");
	jp_call_run(c);
	return done(c, jp_call_result(c, 5, &scratch_data, &scratch_len), msg);
}

static int result_of_map(char *msg)
{
	jp_call *c = map_of(10);
	jp_call_run(c);
	return done(c, jp_call_result(c, 0, &scratch_data, &scratch_len), msg);
}

static int result_before_run(char *msg)
{
	jp_call *c = builder();
	jp_call_add(c, "echo");
	return done(c, jp_call_result(c, 0, &scratch_data, &scratch_len), msg);
}

static int output_before_run(char *msg)
{
	jp_call *c = map_of(10);
	return done(c, jp_call_output(c, &scratch_data, &scratch_len), msg);
}

static int generate_null_fn(char *msg)
{
	jp_call *c = builder();
	return done(c, jp_call_generate(c, NULL, NULL), msg);
}

static int generate_on_map(char *msg)
{
	jp_call *c = map_of(10);
	return done(c, jp_call_generate(c, make_two, NULL), msg);
}

static int generate_after_items(char *msg)
{
	jp_call *c = builder();
	jp_call_add(c, "echo");
	return done(c, jp_call_generate(c, make_two, NULL), msg);
}

static int set_progress_while_running(char *msg)
{
	jp_call *c = streaming();
	return done(c, jp_call_set_progress(c, NULL, NULL), msg);
}

static int start_twice(char *msg)
{
	jp_call *c = streaming();
	return done(c, jp_call_start(c, JP_ORDERED), msg);
}

static int next_null_result(char *msg)
{
	jp_call *c = streaming();
	return done(c, jp_call_next(c, NULL), msg);
}

static int next_not_started(char *msg)
{
	jp_call *c = map_of(10);
	return done(c, jp_call_next(c, &scratch_result), msg);
}

static int stream_null_fn(char *msg)
{
	jp_call *c = map_of(10);
	return done(c, jp_call_stream(c, JP_ORDERED, NULL, NULL), msg);
}

/* A task streaming a call on the (thread) pool that runs it. */
static jp_pool *running_pool;

static int stream_here(jp_task *t)
{
	jp_call *c;
	int rc = jp_map_new(&c, running_pool, "echo", 1);
	if (!rc)
		rc = jp_call_start(c, JP_ORDERED);
	jp_call_free(c);
	return jp_task_set_result(t, &rc, sizeof rc);
}
JP_TASK(stream_here);

static int start_in_a_task(char *msg)
{
	jp_options o = JP_OPTIONS_INIT;
	o.n_jobs = 2;
	o.backend = "threading";
	if (jp_pool_open(&running_pool, &o))
		return -EIO;
	jp_call *c;
	const void *out;
	size_t len;
	jp_map_new(&c, running_pool, "stream_here", 1);
	int rc = jp_call_run(c);
	if (!rc && !(rc = jp_call_output(c, &out, &len)))
		rc = len == sizeof rc ? (memcpy(&rc, out, sizeof rc), rc) : -EIO;
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(running_pool));
	jp_call_free(c);
	jp_pool_close(running_pool);
	return rc;
}

static int memory_after_generate(char *msg)
{
	jp_memory *m = no_store();
	jp_call *c = builder();
	jp_call_generate(c, make_two, NULL);
	int rc = done(c, jp_call_set_memory(c, m), msg);
	jp_memory_close(m);
	return rc;
}

static int memory_open_null(char *msg)
{
	int rc = jp_memory_open(NULL, "/tmp", NULL);
	snprintf(msg, MSG_CAP, "%s", jp_memory_errmsg(NULL));
	return rc;
}

static int memory_dir_null(char *msg)
{
	return memory_open_with(NULL, (jp_memory_options)JP_MEMORY_OPTIONS_INIT, msg);
}

static int memory_clear_task_task_null(char *msg)
{
	jp_memory *m = no_store();
	int rc = jp_memory_clear_task(m, NULL);
	msg[0] = '\0';
	jp_memory_close(m);
	return rc;
}

static int memory_stats_stats_null(char *msg)
{
	jp_memory *m = no_store();
	int rc = jp_memory_stats_get(m, NULL);
	msg[0] = '\0';
	jp_memory_close(m);
	return rc;
}

static jp_array mat(jp_dtype t, size_t r, size_t k)
{
	jp_array a = { .dtype = t, .ndim = 2, .shape = { r, k } };
	size_t n = r * k, es = jp_dtype_size(t);
	a.data = calloc(n ? n : 1, es ? es : 1);
	return a;
}

static int matmul_case(jp_array a, jp_array b, jp_array *c, char *msg)
{
	jp_pool *p = pool2();
	int rc = jp_matmul(p, &a, &b, c);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	free(a.data);
	free(b.data);
	jp_pool_close(p);
	return rc;
}

static int matmul_shapes(char *msg)
{
	jp_array c = { 0 };
	return matmul_case(mat(JP_FLOAT64, 3, 4), mat(JP_FLOAT64, 5, 2), &c, msg);
}

static int matmul_dtypes(char *msg)
{
	jp_array c = { 0 };
	return matmul_case(mat(JP_INT64, 3, 4), mat(JP_FLOAT64, 4, 2), &c, msg);
}

static int matmul_dtype_unsupported(char *msg)
{
	jp_array c = { 0 };
	return matmul_case(mat(JP_UINT8, 3, 4), mat(JP_UINT8, 4, 2), &c, msg);
}

static int matmul_not_2d(char *msg)
{
	jp_array a = mat(JP_FLOAT64, 3, 4), c = { 0 };
	a.ndim = 1;
	return matmul_case(a, mat(JP_FLOAT64, 4, 2), &c, msg);
}

static int matmul_null(char *msg)
{
	return matmul_case(mat(JP_FLOAT64, 3, 4), mat(JP_FLOAT64, 4, 2), NULL, msg);
}

static int matmul_c_shape(char *msg)
{
	jp_array c = mat(JP_FLOAT64, 3, 3);
	int rc = matmul_case(mat(JP_FLOAT64, 3, 4), mat(JP_FLOAT64, 4, 2), &c, msg);
	free(c.data);
	return rc;
}

static int matmul_fortran(char *msg)
{
	jp_array a = mat(JP_FLOAT64, 3, 4), c = { 0 };
	a.flags = JP_ARRAY_FORTRAN;
	return matmul_case(a, mat(JP_FLOAT64, 4, 2), &c, msg);
}

static int matmul_no_data(char *msg)
{
	jp_array a = mat(JP_FLOAT64, 3, 4), c = { 0 };
	free(a.data);
	a.data = NULL;
	return matmul_case(a, mat(JP_FLOAT64, 4, 2), &c, msg);
}

static int dot_null(char *msg)
{
	jp_pool *p = pool2();
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 4 } };
	int rc = jp_dot(p, &a, &a, NULL);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_pool_close(p);
	return rc;
}

static int dot_no_data(char *msg)
{
	jp_pool *p = pool2();
	double b_data[4] = { 0 }, d;
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 4 } }, b = a;
	b.data = b_data;
	int rc = jp_dot(p, &a, &b, &d);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_pool_close(p);
	return rc;
}

static int dot_not_1d(char *msg)
{
	jp_pool *p = pool2();
	double data[12] = { 0 }, d;
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 2, .shape = { 3, 4 }, .data = data };
	jp_array b = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 12 }, .data = data };
	int rc = jp_dot(p, &a, &b, &d);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_pool_close(p);
	return rc;
}

/* ---- shared arrays -------------------------------------------------------- */

static int alloc_shared_case(jp_dtype t, int ndim, const size_t *shape, bool null_out, char *msg)
{
	jp_pool *p = pool2();
	jp_array a = { 0 };
	int rc = jp_array_alloc_shared(p, t, ndim, shape, null_out ? NULL : &a);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_array_release(&a);
	jp_pool_close(p);
	return rc;
}

static const size_t shape_3x4[] = { 3, 4 }, shape_huge[] = { SIZE_MAX / 2, 4 };

static int alloc_shared_ndim(char *msg)
{
	return alloc_shared_case(JP_FLOAT64, 40, shape_3x4, false, msg);
}

static int alloc_shared_shape_null(char *msg)
{
	return alloc_shared_case(JP_FLOAT64, 2, NULL, false, msg);
}

static int alloc_shared_dtype(char *msg)
{
	return alloc_shared_case((jp_dtype)99, 2, shape_3x4, false, msg);
}

static int alloc_shared_overflow(char *msg)
{
	return alloc_shared_case(JP_FLOAT64, 2, shape_huge, false, msg);
}

static int alloc_shared_array_null(char *msg)
{
	return alloc_shared_case(JP_FLOAT64, 2, shape_3x4, true, msg);
}

static int share_case(const jp_array *src, bool null_out, char *msg)
{
	jp_pool *p = pool2();
	jp_array shared = { 0 };
	int rc = jp_share(p, src, null_out ? NULL : &shared);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_array_release(&shared);
	jp_pool_close(p);
	return rc;
}

static int share_src_null(char *msg)
{
	return share_case(NULL, false, msg);
}

static int share_malformed(char *msg)
{
	return share_case(&(jp_array){ .dtype = JP_FLOAT64, .ndim = -1 }, false, msg);
}

static int share_no_data(char *msg)
{
	return share_case(&(jp_array){ .dtype = JP_FLOAT64, .ndim = 2, .shape = { 3, 4 } }, false, msg);
}

static int share_output_null(char *msg)
{
	double data[12] = { 0 };
	return share_case(&(jp_array){ .dtype = JP_FLOAT64, .ndim = 2, .shape = { 3, 4 }, .data = data },
			  true, msg);
}

static int dot_case(jp_dtype t, size_t na, size_t nb, bool integer, char *msg)
{
	jp_pool *p = pool2();
	jp_array a = { .dtype = t, .ndim = 1, .shape = { na } }, b = a;
	b.shape[0] = nb;
	a.data = calloc(na + 1, 8);
	b.data = calloc(nb + 1, 8);
	double d;
	int64_t i;
	int rc = integer ? jp_dot_int(p, &a, &b, &i) : jp_dot(p, &a, &b, &d);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	free(a.data);
	free(b.data);
	jp_pool_close(p);
	return rc;
}

static int dot_lengths(char *msg)
{
	return dot_case(JP_FLOAT64, 10, 11, false, msg);
}

static int dot_given_integers(char *msg)
{
	return dot_case(JP_INT64, 10, 10, false, msg);
}

static int dot_int_given_floats(char *msg)
{
	return dot_case(JP_FLOAT64, 10, 10, true, msg);
}

/* .npy files */
static int load_file(const char *bytes, size_t len, const char *mode, char *msg)
{
	char path[] = "/tmp/jpt-errdoc-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || (len && write(fd, bytes, len) != (ssize_t)len))
		return -EIO;
	close(fd);
	jp_array a;
	int rc = jp_load(path, mode, &a);
	/* the message names the file: keep what follows its name */
	const char *m = jp_npy_errmsg(), *after = strstr(m, path);
	snprintf(msg, MSG_CAP, "%s", after ? after + strlen(path) : m);
	if (rc == 0)
		jp_array_release(&a);
	unlink(path);
	return rc;
}

static int npy_missing(char *msg)
{
	jp_array a;
	int rc = jp_load("/nonexistent/a.npy", NULL, &a);
	snprintf(msg, MSG_CAP, "%s", jp_npy_errmsg());
	return rc;
}

static int npy_bad_magic(char *msg)
{
	return load_file("NOTNUMPY-at-all-this-is-text", 28, NULL, msg);
}

static int npy_truncated_header(char *msg)
{
	static const char head[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f8', 'fortran_";
	return load_file(head, sizeof head - 1, NULL, msg);
}

static int npy_bad_descr(char *msg)
{
	char buf[128];
	memset(buf, ' ', sizeof buf);
	static const char dict[] = "{'descr': '<x9', 'fortran_order': False, 'shape': (3,), }";
	memcpy(buf, "\x93NUMPY\x01\x00\x76\x00", 10);
	memcpy(buf + 10, dict, sizeof dict - 1);
	buf[127] = '\n';
	return load_file(buf, sizeof buf, NULL, msg);
}

static int npy_bad_mode(char *msg)
{
	jp_array a;
	int rc = jp_load("/dev/null", "rw", &a);
	snprintf(msg, MSG_CAP, "%s", jp_npy_errmsg());
	return rc;
}

/* A .npy 1.0 file: the dict padded with spaces to a header of `head` bytes,
 * then `data` zero bytes. */
static int load_npy(const char *dict, size_t head, size_t data, const char *mode, char *msg)
{
	char *buf = calloc(1, head + data);
	if (!buf)
		return -ENOMEM;
	memset(buf, ' ', head);
	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	buf[8] = (char)((head - 10) & 0xff);
	buf[9] = (char)((head - 10) >> 8);
	memcpy(buf + 10, dict, strlen(dict));
	buf[head - 1] = '\n';
	int rc = load_file(buf, head + data, mode, msg);
	free(buf);
	return rc;
}

static int npy_version(char *msg)
{
	static const char head[] = "\x93NUMPY\x02\x01\x00\x00\x00\x00";
	return load_file(head, sizeof head - 1, NULL, msg);
}

static int npy_dtype_unsupported(char *msg)
{
	return load_npy("{'descr': '<U3', 'fortran_order': False, 'shape': (3,), }", 128, 36, NULL, msg);
}

static int npy_shape_overflow(char *msg)
{
	return load_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 128, 0,
			NULL, msg);
}

static int npy_truncated_data(char *msg)
{
	return load_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 128, 8, NULL, msg);
}

static int npy_big_endian_mapped(char *msg)
{
	return load_npy("{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }", 128, 24, "r", msg);
}

static int npy_unaligned_mapped(char *msg)
{
	return load_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 127, 24, "r", msg);
}

static int load_path(const char *path, const char *mode, jp_array *a, char *msg)
{
	int rc = jp_load(path, mode, a);
	snprintf(msg, MSG_CAP, "%s", jp_npy_errmsg());
	if (rc == 0)
		jp_array_release(a);
	return rc;
}

static int npy_path_null(char *msg)
{
	return load_path(NULL, NULL, &scratch_array, msg);
}

static int npy_path_empty(char *msg)
{
	return load_path("", NULL, &scratch_array, msg);
}

static int npy_array_null(char *msg)
{
	return load_path("/dev/null", NULL, NULL, msg);
}

static int npy_mode_w_plus(char *msg)
{
	return load_path("/dev/null", "w+", &scratch_array, msg);
}

static int npy_directory(char *msg)
{
	return load_path("/", NULL, &scratch_array, msg);
}

static int npy_not_regular(char *msg)
{
	return load_path("/dev/null", NULL, &scratch_array, msg);
}

/* jp_dump: every case fails before a file is made */
static int dump_case(const jp_array *a, const char *path, char *msg)
{
	int rc = jp_dump(a, path);
	snprintf(msg, MSG_CAP, "%s", jp_npy_errmsg());
	return rc;
}

static int dump_array_null(char *msg)
{
	return dump_case(NULL, "/nonexistent/a.npy", msg);
}

static int dump_path_null(char *msg)
{
	return dump_case(&(jp_array){ .dtype = JP_FLOAT64, .ndim = 0 }, NULL, msg);
}

static int dump_path_empty(char *msg)
{
	return dump_case(&(jp_array){ .dtype = JP_FLOAT64, .ndim = 0 }, "", msg);
}

static int dump_malformed(char *msg)
{
	return dump_case(&(jp_array){ .dtype = (jp_dtype)99, .ndim = 1, .shape = { 3 } }, "/nonexistent/a.npy",
			 msg);
}

static int dump_no_data(char *msg)
{
	return dump_case(&(jp_array){ .dtype = JP_FLOAT64, .ndim = 1, .shape = { 3 } }, "/nonexistent/a.npy",
			 msg);
}

static int dump_no_folder(char *msg)
{
	double x = 1;
	return dump_case(&(jp_array){ .dtype = JP_FLOAT64, .ndim = 0, .data = &x }, "/nonexistent/a.npy", msg);
}

static const struct errcase {
	const char *id;
	int (*run)(char *msg);
} cases[] = {
	{ "n_jobs-zero", n_jobs_zero },
	{ "backend-unknown", backend_unknown },
	{ "max_nbytes-bad", max_nbytes_bad },
	{ "mmap_mode-unknown", mmap_mode_unknown },
	{ "batch_size-zero", batch_size_zero },
	{ "batch_size-negative", batch_size_negative },
	{ "batch_size-fraction", batch_size_fraction },
	{ "pre_dispatch-bad", pre_dispatch_bad },
	{ "timeout-negative", timeout_negative },
	{ "timeout-one-job", timeout_one_job },
	{ "temp_folder-empty", temp_folder_empty },
	{ "initializer-unknown", initializer_unknown },
	{ "retries-negative", retries_negative },
	{ "on_error-unknown", on_error_unknown },
	{ "max_tasks-negative", max_tasks_negative },
	{ "max_rss_growth-bad", max_rss_growth_bad },
	{ "wait_policy-unknown", wait_policy_unknown },
	{ "spin_s-too-long", spin_s_too_long },
	{ "timeout-threads", timeout_threads },
	{ "JOBPOOL_IO-unknown", io_engine_unknown },
	{ "effective_n_jobs-zero", effective_n_jobs_zero },
	{ "pool_open-null", pool_open_null },
	{ "n_jobs-null", n_jobs_null },
	{ "worker_pid-null", worker_pid_null },
	{ "worker_pid-bad-slot", worker_pid_bad_slot },
	{ "register-name-null", register_name_null },
	{ "register-name-empty", register_name_empty },
	{ "register-name-too-long", register_name_too_long },
	{ "register-fn-null", register_fn_null },
	{ "register-name-taken", register_name_taken },
	{ "register-version-taken", register_version_taken },
	{ "task-arg-null-task", task_arg_null_task },
	{ "task-arg-out-of-range", task_arg_out_of_range },
	{ "task-arg-other-kind", task_arg_other_kind },
	{ "task-arg_bytes-other-kind", task_arg_bytes_other_kind },
	{ "task-arg_array-other-kind", task_arg_array_other_kind },
	{ "task-arg_array-out-of-range", task_arg_array_out_of_range },
	{ "task-set_result-null-data", task_set_result_null_data },
	{ "task-set_result-twice", task_set_result_twice },
	{ "call_new-null-pool", call_new_null_pool },
	{ "map-null-pool", map_null_pool },
	{ "map-null-task", map_null_task },
	{ "map-unknown-task", map_unknown_task },
	{ "add-unknown-task", add_unknown_task },
	{ "add-null-call", add_null_call },
	{ "add-null-task", add_null_task },
	{ "add-to-map", add_to_map },
	{ "add-outside-generator", add_outside_generator },
	{ "arg_i64-null-call", arg_i64_null_call },
	{ "arg_f64-null-call", arg_f64_null_call },
	{ "arg_bytes-null-call", arg_bytes_null_call },
	{ "arg_array-null-call", arg_array_null_call },
	{ "arg_bytes-null-data", arg_bytes_null_data },
	{ "arg_array-null", arg_array_null },
	{ "arg_array-bad-dtype", arg_array_bad_dtype },
	{ "arg_array-bad-ndim", arg_array_bad_ndim },
	{ "arg_array-size-overflow", arg_array_size_overflow },
	{ "arg_array-no-data", arg_array_no_data },
	{ "arg-while-running", arg_while_running },
	{ "arg-after-generated-items", arg_after_generated_items },
	{ "run-null", run_null },
	{ "run-while-streaming", run_while_streaming },
	{ "start-bad-order", start_bad_order },
	{ "start-null-call", start_null_call },
	{ "start-twice", start_twice },
	{ "start-in-a-task", start_in_a_task },
	{ "next-null-call", next_null_call },
	{ "next-null-result", next_null_result },
	{ "next-not-started", next_not_started },
	{ "stream-null-call", stream_null_call },
	{ "stream-null-fn", stream_null_fn },
	{ "result-null-call", result_null_call },
	{ "result-bad-index", result_bad_index },
	{ "result-of-map", result_of_map },
	{ "result-before-run", result_before_run },
	{ "output-null-call", output_null_call },
	{ "output-before-run", output_before_run },
	{ "generate-null-call", generate_null_call },
	{ "generate-null-fn", generate_null_fn },
	{ "generate-on-map", generate_on_map },
	{ "generate-after-items", generate_after_items },
	{ "set_progress-null-call", set_progress_null_call },
	{ "set_progress-while-running", set_progress_while_running },
	{ "error-null-call", error_null_call },
	{ "generator-adds-nothing", generator_adds_nothing },
	{ "run-in-forked-child", run_in_forked_child },
	{ "matmul-shapes", matmul_shapes },
	{ "matmul-dtypes", matmul_dtypes },
	{ "matmul-dtype-unsupported", matmul_dtype_unsupported },
	{ "matmul-not-2d", matmul_not_2d },
	{ "matmul-null", matmul_null },
	{ "matmul-c-shape", matmul_c_shape },
	{ "matmul-pool-null", matmul_pool_null },
	{ "matmul-fortran", matmul_fortran },
	{ "matmul-no-data", matmul_no_data },
	{ "dot-lengths", dot_lengths },
	{ "dot-given-integers", dot_given_integers },
	{ "dot_int-given-floats", dot_int_given_floats },
	{ "dot-pool-null", dot_pool_null },
	{ "dot-null", dot_null },
	{ "dot-no-data", dot_no_data },
	{ "dot-not-1d", dot_not_1d },
	{ "alloc_shared-pool-null", alloc_shared_pool_null },
	{ "alloc_shared-ndim", alloc_shared_ndim },
	{ "alloc_shared-shape-null", alloc_shared_shape_null },
	{ "alloc_shared-dtype", alloc_shared_dtype },
	{ "alloc_shared-overflow", alloc_shared_overflow },
	{ "alloc_shared-array-null", alloc_shared_array_null },
	{ "share-pool-null", share_pool_null },
	{ "share-src-null", share_src_null },
	{ "share-malformed", share_malformed },
	{ "share-no-data", share_no_data },
	{ "share-output-null", share_output_null },
	{ "npy-missing", npy_missing },
	{ "npy-bad-magic", npy_bad_magic },
	{ "npy-truncated-header", npy_truncated_header },
	{ "npy-bad-descr", npy_bad_descr },
	{ "npy-bad-mode", npy_bad_mode },
	{ "npy-mode-w+", npy_mode_w_plus },
	{ "npy-path-null", npy_path_null },
	{ "npy-path-empty", npy_path_empty },
	{ "npy-array-null", npy_array_null },
	{ "npy-directory", npy_directory },
	{ "npy-not-regular", npy_not_regular },
	{ "npy-version", npy_version },
	{ "npy-dtype-unsupported", npy_dtype_unsupported },
	{ "npy-shape-overflow", npy_shape_overflow },
	{ "npy-truncated-data", npy_truncated_data },
	{ "npy-big-endian-mapped", npy_big_endian_mapped },
	{ "npy-unaligned-mapped", npy_unaligned_mapped },
	{ "dump-array-null", dump_array_null },
	{ "dump-path-null", dump_path_null },
	{ "dump-path-empty", dump_path_empty },
	{ "dump-malformed", dump_malformed },
	{ "dump-no-data", dump_no_data },
	{ "dump-no-folder", dump_no_folder },
	{ "memory-not-a-directory", memory_not_a_directory },
	{ "memory-dir-empty", memory_dir_empty },
	{ "memory-bytes_limit-bad", memory_bytes_limit_bad },
	{ "memory-on_unwritable-unknown", memory_on_unwritable_unknown },
	{ "memory-stream", memory_stream },
	{ "memory-generate", memory_generate },
	{ "memory-after-arguments", memory_after_arguments },
	{ "memory-after-generate", memory_after_generate },
	{ "memory_open-null", memory_open_null },
	{ "memory-dir-null", memory_dir_null },
	{ "set_memory-null-call", set_memory_null_call },
	{ "memory_clear-null", memory_clear_null },
	{ "memory_clear_task-null", memory_clear_task_null },
	{ "memory_clear_task-task-null", memory_clear_task_task_null },
	{ "memory_stats-null", memory_stats_null },
	{ "memory_stats-stats-null", memory_stats_stats_null },
};
#define NCASES (sizeof cases / sizeof cases[0])

static const char *code_name(int rc)
{
	static char buf[32];
	static const struct {
		int code;
		const char *name;
	} names[] = {
		{ JP_ETASK, "JP_ETASK" },     { JP_EWORKER, "JP_EWORKER" },
		{ JP_ETIMEOUT, "JP_ETIMEOUT" }, { JP_EFRAME, "JP_EFRAME" },
		{ JP_ENOTASK, "JP_ENOTASK" }, { JP_EOPTION, "JP_EOPTION" },
		{ JP_ECANCELED, "JP_ECANCELED" }, { JP_ENOTSUP, "JP_ENOTSUP" },
		{ JP_EINTR, "JP_EINTR" },     { -EINVAL, "-EINVAL" },
		{ -EBUSY, "-EBUSY" },         { -ECHILD, "-ECHILD" },
		{ -ENOENT, "-ENOENT" },       { -EIO, "-EIO" },
		{ -ENOMEM, "-ENOMEM" },       { -ENOTDIR, "-ENOTDIR" },
		{ -EAGAIN, "-EAGAIN" },       { -EALREADY, "-EALREADY" },
		{ -EDEADLK, "-EDEADLK" },     { -EEXIST, "-EEXIST" },
		{ -EISDIR, "-EISDIR" },       { -EOVERFLOW, "-EOVERFLOW" },
		{ -EPROTOTYPE, "-EPROTOTYPE" }, { -ESRCH, "-ESRCH" },
		{ 0, "0" },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].code == rc)
			return names[i].name;
	snprintf(buf, sizeof buf, "%d", rc);
	return buf;
}

/* ---- the document -------------------------------------------------------- */

struct row {
	char id[64], code[32], msg[MSG_CAP];
};

/* Rows are "| `id` | what | `code` | `message` |"; the message cell may be
 * "-" (no message). */
static size_t read_rows(struct row *rows, size_t max)
{
	FILE *f = fopen(JPT_SRCDIR "/doc/errors.md", "r");
	ck_assert_msg(f != NULL, "cannot open %s/doc/errors.md", JPT_SRCDIR);
	char line[2048];
	size_t n = 0;
	while (n < max && fgets(line, sizeof line, f)) {
		if (strncmp(line, "| `", 3))
			continue;
		char *cell[5];
		int k = 0;
		for (char *p = line; k < 5 && (p = strchr(p, '|')); p++)
			cell[k++] = p + 1;
		ck_assert_msg(k == 5, "malformed row: %s", line);
		struct row *r = &rows[n++];
		ck_assert(sscanf(cell[0], " `%63[^`]`", r->id) == 1);
		ck_assert(sscanf(cell[2], " `%31[^`]`", r->code) == 1);
		r->msg[0] = '\0';
		char *m = strchr(cell[3], '`'), *e = m ? strrchr(m + 1, '`') : NULL;
		if (m && e && e > m) {
			snprintf(r->msg, sizeof r->msg, "%.*s", (int)(e - m - 1), m + 1);
			/* a literal | in a message is written \| in the table */
			for (char *s = r->msg; (s = strstr(s, "\\|"));)
				memmove(s, s + 1, strlen(s));
		}
	}
	fclose(f);
	return n;
}

START_TEST(errors_md_matches_the_library)
{
	static struct row rows[256];
	size_t n = read_rows(rows, 256);
	bool documented[NCASES] = { false };
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		while (k < NCASES && strcmp(cases[k].id, rows[i].id))
			k++;
		ck_assert_msg(k < NCASES, "doc/errors.md row `%s` names no case", rows[i].id);
		documented[k] = true;
		char msg[MSG_CAP];
		int rc = cases[k].run(msg);
		ck_assert_msg(!strcmp(code_name(rc), rows[i].code), "`%s`: the doc says %s, the library returns %s (%s)",
			      rows[i].id, rows[i].code, code_name(rc), msg);
		ck_assert_msg(strstr(msg, rows[i].msg) != NULL, "`%s`: the message \"%s\" lacks the doc's \"%s\"",
			      rows[i].id, msg, rows[i].msg);
	}
	for (size_t k = 0; k < NCASES; k++)
		ck_assert_msg(documented[k], "case `%s` has no row in doc/errors.md", cases[k].id);
	jpt_assert_no_children();
}
END_TEST

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--print")) {
		for (size_t k = 0; k < NCASES; k++) {
			char msg[MSG_CAP];
			int rc = cases[k].run(msg);
			printf("| `%s` | | `%s` | `%s` |\n", cases[k].id, code_name(rc), msg);
		}
		return 0;
	}
	Suite *s = suite_create("errors-doc");
	TCase *tc = jpt_tcase("errors-doc");
	tcase_add_test(tc, errors_md_matches_the_library);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
