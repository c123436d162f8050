/*
 * test-memory.c - the result cache (jp_memory_*): hits, misses and partial
 * hits counted by the tasks themselves, keys (shared arguments, arrays,
 * versions), large results mapped, maps cached whole, corrupt and truncated
 * entries recomputed, two processes storing one key, eviction order under
 * bytes_limit, an unwritable directory (the error, and "compute"), clears,
 * what is refused, and every backend.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "memory.h" /* entry names, to find and damage entries */
#include "pool.h"   /* the call a pool keeps */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Each task run appends a byte to this file (O_APPEND: atomic across the
 * workers, which inherit the path when the pool forks them): its size is
 * the number of dispatched runs. */
static char runs_path[PATH_MAX / 2 + 64];
static char root[PATH_MAX / 4]; /* made and removed by the parent */
static char dir[PATH_MAX / 2];  /* the test's own folder, in root */
static char cache[PATH_MAX / 2 + 64]; /* the cache in it */

static void count_run(void)
{
	int fd = open(runs_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		ssize_t w = write(fd, "x", 1);
		(void)w;
		close(fd);
	}
}

static long runs(void)
{
	struct stat st;
	return stat(runs_path, &st) == 0 ? (long)st.st_size : 0;
}

/* x -> x * x + the shared offset, if any (argument 0 when there are two). */
static int square(jp_task *t)
{
	count_run();
	int64_t x, off = 0;
	size_t n = jp_task_nargs(t);
	if (n == 2 && jp_task_arg_i64(t, 0, &off))
		return jp_task_fail(t, "bad offset");
	if (jp_task_arg_i64(t, n - 1, &x))
		return jp_task_fail(t, "no x");
	if (x == 13)
		return jp_task_fail(t, "13 is unlucky");
	int64_t r = x * x + off;
	return jp_task_set_result(t, &r, sizeof r);
}
JP_TASK(square);

/* seed, nbytes -> nbytes of a pattern of the seed. */
static void pattern(uint64_t *p, size_t words, int64_t seed)
{
	for (size_t k = 0; k < words; k++)
		p[k] = (uint64_t)seed * 1000003u + k;
}

static int block(jp_task *t)
{
	count_run();
	int64_t seed, nbytes;
	if (jp_task_arg_i64(t, 0, &seed) || jp_task_arg_i64(t, 1, &nbytes))
		return jp_task_fail(t, "bad arguments");
	uint64_t *p = jp_task_result_alloc(t, (size_t)nbytes);
	if (!p)
		return jp_task_fail(t, "out of memory");
	pattern(p, (size_t)nbytes / 8, seed);
	return 0;
}
JP_TASK(block);

/* The sum of the array argument (the last one), with its dtype's size. */
static int array_sum(jp_task *t)
{
	count_run();
	jp_array a;
	if (jp_task_arg_array(t, jp_task_nargs(t) - 1, &a))
		return jp_task_fail(t, "no array");
	double s = 0;
	if (a.dtype == JP_FLOAT64)
		for (size_t i = 0; i < jp_array_nbytes(&a) / 8; i++)
			s += ((const double *)a.data)[i];
	return jp_task_set_result(t, &s, sizeof s);
}
JP_TASK(array_sum);

/* A map's batch: 3k for each k. */
static int triple(jp_task *t)
{
	count_run();
	size_t b = jp_task_begin(t), e = jp_task_end(t);
	int64_t *out = jp_task_result_alloc(t, (e - b) * sizeof *out);
	if (!out)
		return jp_task_fail(t, "out of memory");
	for (size_t k = b; k < e; k++)
		out[k - b] = 3 * (int64_t)k;
	return 0;
}
JP_TASK(triple);

/* Registered with a version chosen by the test, in a child process. */
static int versioned(jp_task *t)
{
	count_run();
	int64_t x;
	if (jp_task_arg_i64(t, 0, &x))
		return jp_task_fail(t, "no x");
	return jp_task_set_result(t, &x, sizeof x);
}

/* The folders live in one made by check's parent process, which removes
 * it even when a test's process died on a failed assertion before its
 * own teardown. */
static void make_root(void)
{
	jpt_mkdtemp(root, sizeof root, "jpt-memory");
}

static void remove_root(void)
{
	jpt_remove_tree(root);
}

static void setup(void)
{
	snprintf(dir, sizeof dir, "%s/%ld", root, (long)getpid());
	if (mkdir(dir, 0700)) {
		perror(dir);
		exit(1);
	}
	snprintf(runs_path, sizeof runs_path, "%s/runs", dir);
	snprintf(cache, sizeof cache, "%s/cache", dir);
}

static void teardown(void)
{
	jpt_remove_tree(dir);
}

static jp_pool *open_pool(int n_jobs, const char *backend, const char *max_nbytes)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = n_jobs;
	if (backend)
		opt.backend = backend;
	if (max_nbytes)
		opt.max_nbytes = max_nbytes;
	jp_pool *pool;
	int err = jp_pool_open(&pool, &opt);
	ck_assert_msg(!err, "open: %s", jp_pool_errmsg(NULL));
	return pool;
}

static jp_memory *open_memory(const char *bytes_limit, int verbose)
{
	jp_memory_options o = JP_MEMORY_OPTIONS_INIT;
	o.bytes_limit = bytes_limit;
	o.verbose = verbose;
	jp_memory *m;
	int err = jp_memory_open(&m, cache, &o);
	ck_assert_msg(!err, "jp_memory_open: %s", jp_memory_errmsg(NULL));
	return m;
}

static jp_memory_stats stats_of(const jp_memory *m)
{
	jp_memory_stats s;
	ck_assert_int_eq(jp_memory_stats_get(m, &s), 0);
	return s;
}

/* A builder call of square over xs, with a shared offset when off >= 0. */
static jp_call *squares(jp_pool *pool, jp_memory *m, const int64_t *xs, size_t n, int64_t off)
{
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	if (m)
		ck_assert_int_eq(jp_call_set_memory(c, m), 0);
	if (off >= 0)
		ck_assert_int_eq(jp_call_arg_i64(c, off), 0);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(jp_call_add(c, "square"), (long)i);
		ck_assert_int_eq(jp_call_arg_i64(c, xs[i]), 0);
	}
	return c;
}

static void check_squares(jp_call *c, const int64_t *xs, size_t n, int64_t off)
{
	for (size_t i = 0; i < n; i++) {
		const void *d;
		size_t len;
		ck_assert_int_eq(jp_call_result(c, i, &d, &len), 0);
		ck_assert_uint_eq(len, 8);
		ck_assert_int_eq(*(const int64_t *)d, xs[i] * xs[i] + (off > 0 ? off : 0));
	}
}

/* Run square over xs; the number of runs it dispatched. */
static long run_squares(jp_pool *pool, jp_memory *m, const int64_t *xs, size_t n, int64_t off)
{
	long before = runs();
	jp_call *c = squares(pool, m, xs, n, off);
	int rc = jp_call_run(c);
	const char *msg;
	jp_call_error(c, NULL, &msg);
	ck_assert_msg(rc == 0, "run: %s", msg);
	check_squares(c, xs, n, off);
	jp_call_free(c);
	return runs() - before;
}

static int count_entries(const char *d, bool temps)
{
	DIR *dd = opendir(d);
	int n = 0;
	if (!dd)
		return -1;
	struct dirent *de;
	while ((de = readdir(dd)))
		n += jp__memory_is_entry_name(de->d_name) || (temps && jp__memory_is_temp_name(de->d_name));
	closedir(dd);
	return n;
}

static const int64_t xs8[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

START_TEST(miss_then_hit)
{
	jp_pool *pool = open_pool(2, NULL, NULL);
	jp_memory *m = open_memory(NULL, 0);
	ck_assert_int_eq(run_squares(pool, m, xs8, 8, -1), 8);
	jp_memory_stats s = stats_of(m);
	ck_assert_uint_eq(s.misses, 8);
	ck_assert_uint_eq(s.hits, 0);
	ck_assert_uint_eq(s.stored, 8);
	ck_assert_int_eq(count_entries(cache, true), 8);
	/* a new call on the same arguments dispatches nothing */
	ck_assert_int_eq(run_squares(pool, m, xs8, 8, -1), 0);
	ck_assert_uint_eq(stats_of(m).hits, 8);
	/* a call run again hits too */
	jp_call *c = squares(pool, m, xs8, 8, -1);
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	check_squares(c, xs8, 8, -1);
	const void *out;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &out, &len), 0);
	ck_assert_uint_eq(len, 64);
	ck_assert_int_eq(((const int64_t *)out)[7], 64);
	jp_call_free(c);
	jp_memory_close(m);
	jp_pool_close(pool);
	/* the cache persists: another pool, the cache opened again */
	pool = open_pool(2, NULL, NULL);
	m = open_memory(NULL, 0);
	ck_assert_int_eq(run_squares(pool, m, xs8, 8, -1), 0);
	jp_memory_close(m);
	/* without a cache the same call computes */
	ck_assert_int_eq(run_squares(pool, NULL, xs8, 8, -1), 8);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(partial_hit_dispatches_the_misses)
{
	jp_pool *pool = open_pool(2, NULL, NULL);
	jp_memory *m = open_memory(NULL, 0);
	static const int64_t some[3] = { 2, 5, 7 };
	ck_assert_int_eq(run_squares(pool, m, some, 3, -1), 3);
	/* 2, 5 and 7 come from disk, the five others are computed, in order */
	ck_assert_int_eq(run_squares(pool, m, xs8, 8, -1), 5);
	ck_assert_int_eq(run_squares(pool, m, xs8, 8, -1), 0);
	/* a failing miss: its own index, the hits still readable, the
	 * successes stored */
	static const int64_t bad[4] = { 2, 21, 13, 22 };
	long before = runs();
	jp_call *c = squares(pool, m, bad, 4, -1);
	ck_assert_int_eq(jp_call_run(c), JP_ETASK);
	size_t index;
	const char *msg;
	ck_assert_int_eq(jp_call_error(c, &index, &msg), JP_ETASK);
	ck_assert_uint_eq(index, 2);
	ck_assert_msg(strstr(msg, "task 2 (\"square\")") && strstr(msg, "13 is unlucky"), "%s", msg);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_result(c, 0, &d, &len), 0);
	ck_assert_int_eq(*(const int64_t *)d, 4);
	ck_assert_int_eq(jp_call_result(c, 2, &d, &len), JP_ETASK);
	jp_call_free(c);
	ck_assert_int_le(runs() - before, 3);
	static const int64_t good[1] = { 21 };
	ck_assert_int_eq(run_squares(pool, m, good, 1, -1), 0);
	jp_memory_close(m);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* The misses run as a call of their own, which may be the call the pool
 * kept, names and all: they serve (or go) and none leaks (ASan). */
START_TEST(misses_run_in_the_call_the_pool_kept)
{
	jp_pool *pool = open_pool(2, NULL, NULL);
	jp_memory *m = open_memory(NULL, 0);
	static const int64_t some[2] = { 3, 4 };
	ck_assert_int_eq(run_squares(pool, m, some, 2, -1), 2);
	static const int64_t more[6] = { 9, 1, 10, 2, 11, 12 };
	for (int other = 0; other < 2; other++) {
		const int64_t *xs = other ? more : xs8;
		size_t n = other ? 6 : 8;
		jp_call *c = squares(pool, m, xs, n, -1);
		/* a call freed now is the one the pool keeps, with its name */
		jp_call *k;
		ck_assert_int_eq(jp_call_new(&k, pool), 0);
		ck_assert_int_eq(jp_call_add(k, other ? "array_sum" : "square"), 0);
		jp_call_free(k);
		ck_assert_ptr_eq(pool->kept_call, k);
		long before = runs();
		ck_assert_int_eq(jp_call_run(c), 0);
		ck_assert_int_eq(runs() - before, other ? 4 : 6);
		check_squares(c, xs, n, -1);
		jp_call_free(c);
	}
	jp_memory_close(m);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

static long run_sum(jp_pool *pool, jp_memory *m, const jp_array *a, double expect)
{
	long before = runs();
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	ck_assert_int_eq(jp_call_set_memory(c, m), 0);
	ck_assert_int_eq(jp_call_add(c, "array_sum"), 0);
	ck_assert_int_eq(jp_call_arg_array(c, a), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_result(c, 0, &d, &len), 0);
	ck_assert(*(const double *)d == expect);
	jp_call_free(c);
	return runs() - before;
}

START_TEST(keys_follow_the_arguments)
{
	jp_pool *pool = open_pool(2, NULL, "1K"); /* the big array goes by file */
	jp_memory *m = open_memory(NULL, 0);
	/* the shared offset is part of every item's key */
	ck_assert_int_eq(run_squares(pool, m, xs8, 4, 100), 4);
	ck_assert_int_eq(run_squares(pool, m, xs8, 4, 100), 0);
	ck_assert_int_eq(run_squares(pool, m, xs8, 4, 200), 4);
	ck_assert_int_eq(run_squares(pool, m, xs8, 4, -1), 4);
	/* arrays: by content, dtype and shape, wherever their bytes are */
	size_t n = 1000;
	double *v = malloc(n * sizeof *v), *w = malloc(n * sizeof *w);
	for (size_t i = 0; i < n; i++)
		v[i] = w[i] = (double)i;
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { n }, .data = v };
	double sum = (double)(n * (n - 1) / 2);
	ck_assert_int_eq(run_sum(pool, m, &a, sum), 1);
	ck_assert_int_eq(run_sum(pool, m, &a, sum), 0);
	a.data = w; /* equal bytes elsewhere */
	ck_assert_int_eq(run_sum(pool, m, &a, sum), 0);
	jp_array a2 = { .dtype = JP_FLOAT64, .ndim = 2, .shape = { 10, 100 }, .data = w };
	ck_assert_int_eq(run_sum(pool, m, &a2, sum), 1);
	a2.flags = JP_ARRAY_FORTRAN;
	ck_assert_int_eq(run_sum(pool, m, &a2, sum), 1);
	jp_array a3 = { .dtype = JP_INT64, .ndim = 1, .shape = { n }, .data = w };
	ck_assert_int_eq(run_sum(pool, m, &a3, 0), 1);
	w[999] = 0; /* one element changed */
	ck_assert_int_eq(run_sum(pool, m, &a, sum - 999), 1);
	ck_assert_uint_ge(stats_of(m).hashed_bytes, 7 * n * sizeof(double));
	free(v);
	free(w);
	jp_memory_close(m);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* In a child: register `versioned` with version v, run it on 1..4, and
 * exit with the number of runs it dispatched (255 on failure). */
static void versioned_child(uint64_t v)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int code = 255;
		jp_pool *pool;
		jp_memory *m;
		jp_options opt = JP_OPTIONS_INIT;
		opt.n_jobs = 2;
		if (jp_task_register_version("versioned", versioned, v) == 0 &&
		    jp_pool_open(&pool, &opt) == 0) {
			if (jp_memory_open(&m, cache, NULL) == 0) {
				long before = runs();
				jp_call *c;
				jp_call_new(&c, pool);
				jp_call_set_memory(c, m);
				for (int64_t x = 1; x <= 4; x++) {
					jp_call_add(c, "versioned");
					jp_call_arg_i64(c, x);
				}
				if (jp_call_run(c) == 0)
					code = (int)(runs() - before);
				jp_call_free(c);
				jp_memory_close(m);
			}
			jp_pool_close(pool);
		}
		_exit(code);
	}
	(void)v;
}

static int wait_code(void)
{
	int status;
	pid_t pid = wait(&status);
	ck_assert_int_gt(pid, 0);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(a_version_bump_invalidates)
{
	versioned_child(1);
	ck_assert_int_eq(wait_code(), 4);
	versioned_child(1);
	ck_assert_int_eq(wait_code(), 0);
	versioned_child(2); /* the code changed: computed again */
	ck_assert_int_eq(wait_code(), 4);
	versioned_child(2);
	ck_assert_int_eq(wait_code(), 0);
	/* one name, two versions, in one process: refused */
	ck_assert_int_eq(jp_task_register_version("versioned", versioned, 1), 0);
	ck_assert_int_eq(jp_task_register_version("versioned", versioned, 2), -EEXIST);
	ck_assert_int_eq(jp_task_register("versioned", versioned), -EEXIST);
	jpt_assert_no_children();
}
END_TEST

/* Whether /proc/self/maps maps a file under the cache. */
static bool cache_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[PATH_MAX + 256];
	bool found = false;
	while (f && fgets(line, sizeof line, f))
		found |= strstr(line, cache) != NULL;
	if (f)
		fclose(f);
	return found;
}

static jp_call *blocks(jp_pool *pool, jp_memory *m, int n, int64_t nbytes)
{
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	ck_assert_int_eq(jp_call_set_memory(c, m), 0);
	for (int i = 0; i < n; i++) {
		ck_assert_int_ge(jp_call_add(c, "block"), 0);
		ck_assert_int_eq(jp_call_arg_i64(c, i), 0);
		ck_assert_int_eq(jp_call_arg_i64(c, nbytes), 0);
	}
	return c;
}

static void check_blocks(jp_call *c, int n, int64_t nbytes)
{
	uint64_t *want = malloc((size_t)nbytes);
	for (int i = 0; i < n; i++) {
		const void *d;
		size_t len;
		ck_assert_int_eq(jp_call_result(c, (size_t)i, &d, &len), 0);
		ck_assert_uint_eq(len, (size_t)nbytes);
		pattern(want, (size_t)nbytes / 8, i);
		ck_assert(memcmp(d, want, len) == 0);
		ck_assert_uint_eq((uintptr_t)d % 64, 0);
	}
	free(want);
}

START_TEST(large_results_are_mapped)
{
	jp_pool *pool = open_pool(2, NULL, "1M");
	jp_memory *m = open_memory(NULL, 0);
	jp_call *c = blocks(pool, m, 3, 2 << 20);
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert(!cache_mapped());
	jp_call_free(c);
	c = blocks(pool, m, 3, 2 << 20);
	long before = runs();
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_int_eq(runs() - before, 0);
	check_blocks(c, 3, 2 << 20);
	ck_assert(cache_mapped()); /* mapped, not read */
	jp_call_free(c);
	ck_assert(!cache_mapped()); /* and unmapped with the call */
	jp_pool_close(pool);
	/* memmapping disabled: read */
	pool = open_pool(2, NULL, "none");
	c = blocks(pool, m, 3, 2 << 20);
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert(!cache_mapped());
	check_blocks(c, 3, 2 << 20);
	jp_call_free(c);
	ck_assert_uint_eq(stats_of(m).hits, 6);
	jp_memory_close(m);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

static long run_map(jp_pool *pool, jp_memory *m, size_t n, int64_t shared)
{
	long before = runs();
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "triple", n), 0);
	ck_assert_int_eq(jp_call_set_memory(c, m), 0);
	ck_assert_int_eq(jp_call_arg_i64(c, shared), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	ck_assert_uint_eq(len, n * 8);
	for (size_t k = 0; k < n; k++)
		ck_assert_int_eq(((const int64_t *)d)[k], 3 * (int64_t)k);
	jp_call_free(c);
	return runs() - before;
}

START_TEST(maps_are_cached_whole)
{
	jp_pool *pool = open_pool(2, NULL, NULL);
	jp_memory *m = open_memory(NULL, 0);
	ck_assert_int_gt(run_map(pool, m, 10000, 1), 0);
	ck_assert_int_eq(run_map(pool, m, 10000, 1), 0);
	ck_assert_int_gt(run_map(pool, m, 10001, 1), 0); /* another n */
	ck_assert_int_gt(run_map(pool, m, 10000, 2), 0); /* other shared arguments */
	ck_assert_int_eq(run_map(pool, m, 10001, 1), 0);
	ck_assert_uint_eq(stats_of(m).stored, 3);
	jp_memory_close(m);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* The one entry file of the cache. */
static void the_entry(char *path, size_t cap)
{
	DIR *d = opendir(cache);
	ck_assert(d != NULL);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		if (jp__memory_is_entry_name(de->d_name)) {
			snprintf(path, cap, "%s/%s", cache, de->d_name);
			n++;
		}
	closedir(d);
	ck_assert_int_eq(n, 1);
}

static void flip_byte(const char *path, off_t at)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	unsigned char b;
	ck_assert_int_eq(pread(fd, &b, 1, at), 1);
	b ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

/* stderr into a file while fn runs; whether it said `what`. */
static bool says(const char *what, long (*fn)(void), long *ret)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/stderr", dir);
	fflush(stderr);
	int saved = dup(2), fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	*ret = fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	char buf[4096] = { 0 };
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	close(fd);
	return n > 0 && strstr(buf, what);
}

static jp_pool *cpool;
static jp_memory *cmem;

static long one_block(void)
{
	long before = runs();
	jp_call *c = blocks(cpool, cmem, 1, 1 << 20);
	ck_assert_int_eq(jp_call_run(c), 0);
	check_blocks(c, 1, 1 << 20);
	jp_call_free(c);
	return runs() - before;
}

START_TEST(corrupt_entries_are_recomputed)
{
	cpool = open_pool(2, NULL, "64K");
	cmem = open_memory(NULL, 1); /* verbose: corruption is reported */
	ck_assert_int_eq(one_block(), 1);
	ck_assert_int_eq(one_block(), 0);
	char path[PATH_MAX + 300];
	the_entry(path, sizeof path);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	long ran;
	/* a flipped bit in the payload, in the header, then a cut file */
	flip_byte(path, st.st_size - 5);
	ck_assert(says("payload checksum mismatch", one_block, &ran));
	ck_assert_int_eq(ran, 1);
	ck_assert_int_eq(one_block(), 0); /* stored again, whole */
	flip_byte(path, 44);
	ck_assert(says("header checksum mismatch", one_block, &ran));
	ck_assert_int_eq(ran, 1);
	ck_assert_int_eq(one_block(), 0);
	ck_assert_int_eq(truncate(path, st.st_size / 2), 0);
	ck_assert(says("truncated", one_block, &ran));
	ck_assert_int_eq(ran, 1);
	ck_assert_int_eq(one_block(), 0);
	ck_assert_int_eq(truncate(path, 10), 0);
	ck_assert(says("not a cache entry", one_block, &ran));
	ck_assert_int_eq(ran, 1);
	ck_assert_int_eq(one_block(), 0);
	ck_assert_uint_eq(stats_of(cmem).corrupt, 4);
	/* a read of the payload (below max_nbytes) is checked too */
	jp_pool_close(cpool);
	cpool = open_pool(2, NULL, "none");
	flip_byte(path, st.st_size - 5);
	ck_assert(says("payload checksum mismatch", one_block, &ran));
	ck_assert_int_eq(ran, 1);
	ck_assert_int_eq(one_block(), 0);
	ck_assert_int_eq(count_entries(cache, true), 1);
	/* a quiet cache: silent on a quiet pool, reported on a verbose one */
	jp_memory_close(cmem);
	cmem = open_memory(NULL, 0);
	flip_byte(path, st.st_size - 5);
	ck_assert(!says("corrupt", one_block, &ran));
	ck_assert_int_eq(ran, 1);
	jp_pool_close(cpool);
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.max_nbytes = "none";
	opt.verbose = 1;
	ck_assert_int_eq(jp_pool_open(&cpool, &opt), 0);
	flip_byte(path, st.st_size - 5);
	ck_assert(says("payload checksum mismatch", one_block, &ran));
	ck_assert_int_eq(ran, 1);
	jp_memory_close(cmem);
	jp_pool_close(cpool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(two_processes_store_one_key)
{
	int gate[2];
	ck_assert_int_eq(pipe(gate), 0);
	enum { N = 4, BYTES = 4 << 20 };
	for (int k = 0; k < 2; k++) {
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid)
			continue;
		close(gate[1]);
		jp_options opt = JP_OPTIONS_INIT;
		opt.n_jobs = 2;
		jp_pool *pool;
		jp_memory *m;
		int code = 1;
		if (jp_pool_open(&pool, &opt) == 0) {
			if (jp_memory_open(&m, cache, NULL) == 0) {
				char b;
				/* both wait here: they start together */
				while (read(gate[0], &b, 1) < 0 && errno == EINTR)
					;
				jp_call *c = blocks(pool, m, N, BYTES);
				if (jp_call_run(c) == 0) {
					check_blocks(c, N, BYTES);
					code = 0;
				}
				jp_call_free(c);
				jp_memory_close(m);
			}
			jp_pool_close(pool);
		}
		_exit(code);
	}
	close(gate[0]);
	close(gate[1]); /* go */
	ck_assert_int_eq(wait_code(), 0);
	ck_assert_int_eq(wait_code(), 0);
	ck_assert_int_eq(count_entries(cache, false), N);
	ck_assert_int_eq(count_entries(cache, true), N); /* no temporary file left */
	long before = runs();
	jp_pool *pool = open_pool(2, NULL, NULL);
	jp_memory *m = open_memory(NULL, 0);
	jp_call *c = blocks(pool, m, N, BYTES);
	ck_assert_int_eq(jp_call_run(c), 0);
	check_blocks(c, N, BYTES);
	ck_assert_int_eq(runs() - before, 0);
	ck_assert_uint_eq(stats_of(m).corrupt, 0);
	jp_call_free(c);
	jp_memory_close(m);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(eviction_is_least_recently_used)
{
	jp_pool *pool = open_pool(2, NULL, NULL);
	/* an entry: a 128-byte header and a 64 KiB block; three fit */
	const int64_t nbytes = 64 << 10;
	char limit[32];
	snprintf(limit, sizeof limit, "%lld", (long long)(3 * (nbytes + 128) + 100));
	jp_memory *m = open_memory(limit, 0);
	/* A, B, C stored in that order, then A used: B is the oldest */
	int64_t seeds[] = { 10, 11, 12, 10, 13 };
	for (int i = 0; i < 5; i++) {
		jp_call *c;
		ck_assert_int_eq(jp_call_new(&c, pool), 0);
		ck_assert_int_eq(jp_call_set_memory(c, m), 0);
		ck_assert_int_eq(jp_call_add(c, "block"), 0);
		ck_assert_int_eq(jp_call_arg_i64(c, seeds[i]), 0);
		ck_assert_int_eq(jp_call_arg_i64(c, nbytes), 0);
		ck_assert_int_eq(jp_call_run(c), 0);
		jp_call_free(c);
	}
	/* D's store evicted B alone */
	ck_assert_uint_eq(stats_of(m).evicted, 1);
	ck_assert_int_eq(count_entries(cache, false), 3);
	long expect[] = { 0, 0, 0, 1 }; /* A, C, D hit; B is computed */
	int64_t order[] = { 10, 12, 13, 11 };
	for (int i = 0; i < 4; i++) {
		long before = runs();
		jp_call *c;
		ck_assert_int_eq(jp_call_new(&c, pool), 0);
		ck_assert_int_eq(jp_call_set_memory(c, m), 0);
		ck_assert_int_eq(jp_call_add(c, "block"), 0);
		ck_assert_int_eq(jp_call_arg_i64(c, order[i]), 0);
		ck_assert_int_eq(jp_call_arg_i64(c, nbytes), 0);
		ck_assert_int_eq(jp_call_run(c), 0);
		jp_call_free(c);
		ck_assert_msg(runs() - before == expect[i], "seed %lld: %ld runs", (long long)order[i],
			      runs() - before);
	}
	/* a result larger than the limit is not stored, and evicts nothing */
	jp_memory_stats before = stats_of(m);
	jp_call *c = blocks(pool, m, 1, 1 << 20);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
	ck_assert_uint_eq(stats_of(m).stored, before.stored);
	ck_assert_int_eq(count_entries(cache, false), 3);
	jp_memory_close(m);
	/* a cache opened with a lower limit shrinks at once */
	m = open_memory("100K", 0);
	ck_assert_int_eq(count_entries(cache, false), 1);
	jp_memory_close(m);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(unwritable_directory)
{
	/* root writes anywhere: a folder under a regular file is what even
	 * root cannot make */
	char file[PATH_MAX + 16];
	snprintf(file, sizeof file, "%s/file", dir);
	int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(cache, sizeof cache, "%s/file/cache", dir);
	jp_memory *m = (jp_memory *)1;
	ck_assert_int_eq(jp_memory_open(&m, cache, NULL), -ENOTDIR);
	ck_assert(m == NULL);
	const char *msg = jp_memory_errmsg(NULL);
	ck_assert_msg(strstr(msg, cache) && strstr(msg, "Not a directory"), "%s", msg);
	/* "compute": calls run, nothing is stored */
	jp_memory_options o = JP_MEMORY_OPTIONS_INIT;
	o.on_unwritable = "compute";
	ck_assert_int_eq(jp_memory_open(&m, cache, &o), 0);
	ck_assert(strstr(jp_memory_errmsg(m), "Not a directory"));
	jp_pool *pool = open_pool(2, NULL, NULL);
	ck_assert_int_eq(run_squares(pool, m, xs8, 8, -1), 8);
	ck_assert_int_eq(run_squares(pool, m, xs8, 8, -1), 8);
	jp_memory_stats s = stats_of(m);
	ck_assert_uint_eq(s.stored, 0);
	ck_assert_uint_eq(s.misses, 16);
	ck_assert_int_eq(jp_memory_clear(m), 0);
	jp_memory_close(m);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(clear_and_clear_task)
{
	jp_pool *pool = open_pool(2, NULL, NULL);
	jp_memory *m = open_memory(NULL, 0);
	ck_assert_int_eq(run_squares(pool, m, xs8, 4, -1), 4);
	jp_call *c = blocks(pool, m, 2, 4096);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
	ck_assert_int_eq(count_entries(cache, false), 6);
	ck_assert_int_eq(jp_memory_clear_task(m, "block"), 0);
	ck_assert_int_eq(count_entries(cache, false), 4);
	ck_assert_int_eq(run_squares(pool, m, xs8, 4, -1), 0);
	/* a leftover temporary file goes with jp_memory_clear */
	char tmp[PATH_MAX + 64];
	snprintf(tmp, sizeof tmp, "%s/" JP__MEMORY_TMP_PREFIX "0123456789abcdef", cache);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(jp_memory_clear(m), 0);
	ck_assert_int_eq(count_entries(cache, true), 0);
	ck_assert_int_eq(run_squares(pool, m, xs8, 4, -1), 4);
	jp_memory_close(m);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

static int one_item(jp_call *c, size_t index, void *ctx)
{
	(void)c, (void)index, (void)ctx;
	return 1;
}

START_TEST(streams_and_generators_are_refused)
{
	jp_pool *pool = open_pool(2, NULL, NULL);
	jp_memory *m = open_memory(NULL, 0);
	jp_call *c = squares(pool, m, xs8, 2, -1);
	ck_assert_int_eq(jp_call_start(c, JP_ORDERED), JP_ENOTSUP);
	ck_assert(strstr(jp_pool_errmsg(pool), "cannot be streamed"));
	jp_call_free(c);
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	ck_assert_int_eq(jp_call_set_memory(c, m), 0);
	ck_assert_int_eq(jp_call_generate(c, one_item, NULL), JP_ENOTSUP);
	jp_call_free(c);
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	ck_assert_int_eq(jp_call_generate(c, one_item, NULL), 0);
	ck_assert_int_eq(jp_call_set_memory(c, m), JP_ENOTSUP);
	jp_call_free(c);
	/* arguments are hashed as they come: the cache comes first */
	c = squares(pool, NULL, xs8, 2, -1);
	ck_assert_int_eq(jp_call_set_memory(c, m), -EINVAL);
	jp_call_free(c);
	jp_memory_close(m);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

static void progress(size_t done, size_t total, void *ctx)
{
	size_t *last = ctx;
	ck_assert_uint_eq(total, 8);
	ck_assert_uint_ge(done, last[0]);
	last[0] = done;
}

START_TEST(every_backend)
{
	static const char *const backends[] = { "process", "threading", "sequential" };
	static const int jobs[] = { 2, 2, 1 };
	for (int b = 0; b < 3; b++) {
		jp_pool *pool = open_pool(jobs[b], backends[b], NULL);
		jp_memory *m = open_memory(NULL, 0);
		static const int64_t some[3] = { 2, 5, 7 };
		ck_assert_int_eq(run_squares(pool, m, some, 3, -1), 3);
		size_t last = 0;
		long before = runs();
		jp_call *c = squares(pool, m, xs8, 8, -1);
		ck_assert_int_eq(jp_call_set_progress(c, progress, &last), 0);
		ck_assert_int_eq(jp_call_run(c), 0);
		check_squares(c, xs8, 8, -1);
		ck_assert_int_eq(runs() - before, 5);
		ck_assert_uint_eq(last, 8);
		jp_call_free(c);
		ck_assert_int_eq(jp_memory_clear(m), 0);
		jp_memory_close(m);
		jp_pool_close(pool);
	}
	jpt_assert_no_children();
}
END_TEST

START_TEST(bad_options)
{
	jp_memory *m;
	jp_memory_options o = JP_MEMORY_OPTIONS_INIT;
	o.bytes_limit = "lots";
	ck_assert_int_eq(jp_memory_open(&m, cache, &o), JP_EOPTION);
	ck_assert(strstr(jp_memory_errmsg(NULL), "bytes_limit \"lots\""));
	o = (jp_memory_options)JP_MEMORY_OPTIONS_INIT;
	o.on_unwritable = "ignore";
	ck_assert_int_eq(jp_memory_open(&m, cache, &o), JP_EOPTION);
	ck_assert_int_eq(jp_memory_open(&m, "", NULL), -EINVAL);
	ck_assert_int_eq(jp_memory_open(&m, NULL, NULL), -EINVAL);
	ck_assert_int_eq(jp_memory_clear(NULL), -EINVAL);
	jp_memory_close(NULL);
	/* "none" is no limit; the folder and its parents are made */
	o = (jp_memory_options)JP_MEMORY_OPTIONS_INIT;
	o.bytes_limit = "none";
	snprintf(cache, sizeof cache, "%s/a/b/c", dir);
	ck_assert_int_eq(jp_memory_open(&m, cache, &o), 0);
	struct stat st;
	ck_assert_int_eq(stat(cache, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	jp_memory_close(m);
}
END_TEST

int main(void)
{
#ifndef HAVE_XXHASH
	/* the cache needs XXH3: without it jp_memory_open says JP_ENOTSUP */
	puts("SKIP: built without xxHash (--with-xxhash)");
	return 77;
#endif
	Suite *s = suite_create("memory");
	TCase *tc = jpt_tcase("hits");
	tcase_add_unchecked_fixture(tc, make_root, remove_root);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, miss_then_hit);
	tcase_add_test(tc, partial_hit_dispatches_the_misses);
	tcase_add_test(tc, misses_run_in_the_call_the_pool_kept);
	tcase_add_test(tc, keys_follow_the_arguments);
	tcase_add_test(tc, a_version_bump_invalidates);
	tcase_add_test(tc, large_results_are_mapped);
	tcase_add_test(tc, maps_are_cached_whole);
	tcase_add_test(tc, every_backend);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("entries");
	tcase_add_unchecked_fixture(tc, make_root, remove_root);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, corrupt_entries_are_recomputed);
	tcase_add_test(tc, two_processes_store_one_key);
	tcase_add_test(tc, eviction_is_least_recently_used);
	tcase_add_test(tc, unwritable_directory);
	tcase_add_test(tc, clear_and_clear_task);
	tcase_add_test(tc, streams_and_generators_are_refused);
	tcase_add_test(tc, bad_options);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
