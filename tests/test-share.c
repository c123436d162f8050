/*
 * test-share.c - arrays above max_nbytes reach the workers through files in
 * the pool's private folder: each mmap_mode, reuse across calls, zero-copy
 * allocation, the folder order, full folders, and nothing left behind.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "pool.h" /* the share state, to count recognised dumps */

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* The flags the task saw on its array argument 0, and its first value. */
struct seen {
	uint32_t flags;
	int32_t pid;
	double first;
};

static int look(jp_task *t)
{
	jp_array a;
	if (jp_task_arg_array(t, 0, &a))
		return jp_task_fail(t, "no array argument");
	struct seen s = { a.flags, (int32_t)getpid(), jp_array_nbytes(&a) ? ((double *)a.data)[0] : 0 };
	return jp_task_set_result(t, &s, sizeof s);
}
JP_TASK(look);

/* a[k] = k + 0.5 for k in the task's range: a write into argument 0. */
static int fill(jp_task *t)
{
	jp_array a;
	if (jp_task_arg_array(t, 0, &a))
		return jp_task_fail(t, "no array argument");
	double *d = a.data;
	for (size_t k = jp_task_begin(t); k < jp_task_end(t); k++)
		d[k] = (double)k + 0.5;
	return 0;
}
JP_TASK(fill);

/* The sum of argument 0 over the task's range, and whether it read zeros. */
static int sum_range(jp_task *t)
{
	jp_array a;
	if (jp_task_arg_array(t, 0, &a))
		return jp_task_fail(t, "no array argument");
	const double *d = a.data;
	double s = 0;
	for (size_t k = jp_task_begin(t); k < jp_task_end(t); k++)
		s += d[k];
	return jp_task_set_result(t, &s, sizeof s);
}
JP_TASK(sum_range);

static jp_pool *open_mode(int n_jobs, const char *max_nbytes, const char *mode)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = n_jobs;
	opt.max_nbytes = max_nbytes;
	opt.mmap_mode = mode;
	jp_pool *pool;
	int err = jp_pool_open(&pool, &opt);
	ck_assert_msg(!err, "open: %s", jp_pool_errmsg(NULL));
	return pool;
}

static int files_in(const char *dir)
{
	DIR *d = dir ? opendir(dir) : NULL;
	int n = 0;
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The path of the one file in dir. */
static void only_file(const char *dir, char *path, size_t cap)
{
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, cap, "%s/%s", dir, de->d_name);
			n++;
		}
	closedir(d);
	ck_assert_int_eq(n, 1);
}

static double *vector(size_t n, double start)
{
	double *v;
	ck_assert_int_eq(posix_memalign((void **)&v, 64, n * sizeof *v), 0);
	for (size_t i = 0; i < n; i++)
		v[i] = start + (double)i;
	return v;
}

static struct seen look_at(jp_pool *pool, const jp_array *a)
{
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "look", 1), 0);
	ck_assert_int_eq(jp_call_arg_array(c, a), 0);
	int rc = jp_call_run(c);
	const char *msg;
	jp_call_error(c, NULL, &msg);
	ck_assert_msg(rc == 0, "look: %s", msg);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	struct seen s = *(const struct seen *)d;
	jp_call_free(c);
	return s;
}

START_TEST(shared_strictly_above_max_nbytes)
{
	jp_pool *pool = open_mode(2, "1K", "r");
	double *v = vector(129, 3.0); /* 1032 bytes */
	jp_array at = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 128 }, .data = v };
	jp_array above = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 129 }, .data = v };
	struct seen s = look_at(pool, &at); /* exactly 1024 bytes: inline */
	ck_assert_uint_eq(s.flags & JP_ARRAY_SHARED, 0);
	ck_assert(s.first == 3.0);
	ck_assert_ptr_null(jp_pool_temp_folder(pool)); /* nothing dumped yet */
	s = look_at(pool, &above);
	ck_assert_uint_eq(s.flags & (JP_ARRAY_SHARED | JP_ARRAY_READONLY),
			  JP_ARRAY_SHARED | JP_ARRAY_READONLY);
	ck_assert(s.first == 3.0);
	const char *dir = jp_pool_temp_folder(pool);
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(files_in(dir), 0); /* the call's file went with the call */
	free(v);
	jp_pool_close(pool);

	pool = open_mode(2, "none", "r"); /* memmapping off */
	v = vector(100000, 1.0);
	jp_array big = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 100000 }, .data = v };
	s = look_at(pool, &big);
	ck_assert_uint_eq(s.flags & JP_ARRAY_SHARED, 0);
	ck_assert_ptr_null(jp_pool_temp_folder(pool));
	free(v);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(folder_is_private_and_removed)
{
	char base[] = "/tmp/jpt-folder-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(base));
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.temp_folder = base;
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	size_t shape[2] = { 10, 10 };
	jp_array a;
	ck_assert_int_eq(jp_array_alloc_shared(pool, JP_INT64, 2, shape, &a), 0);
	const char *dir = jp_pool_temp_folder(pool);
	ck_assert_ptr_nonnull(dir);
	ck_assert_msg(!strncmp(dir, base, strlen(base)) && strstr(dir, "/jobpool-"), "folder %s", dir);
	struct stat st;
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	ck_assert_int_eq(files_in(dir), 1);
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
			ck_assert_int_eq(stat(path, &st), 0);
			ck_assert_uint_eq(st.st_mode & 0777, 0600);
			ck_assert_uint_eq((size_t)st.st_size, 800);
		}
	closedir(d);
	char copy[512];
	snprintf(copy, sizeof copy, "%s", dir);
	jp_pool_close(pool);
	ck_assert_int_eq(access(copy, F_OK), -1); /* the folder went at close */
	/* the array outlives its pool: still readable, then given back */
	ck_assert_int_eq(((int64_t *)a.data)[99], 0);
	jp_array_release(&a);
	ck_assert_ptr_null(a.data);
	ck_assert_int_eq(rmdir(base), 0); /* nothing else was left in it */

	/* $JOBPOOL_TEMP_FOLDER when the option is unset; /dev/shm by default */
	ck_assert_ptr_nonnull(mkdtemp(strcpy(base, "/tmp/jpt-folder-XXXXXX")));
	setenv("JOBPOOL_TEMP_FOLDER", base, 1);
	pool = open_mode(2, "1M", "r");
	ck_assert_int_eq(jp_array_alloc_shared(pool, JP_INT64, 2, shape, &a), 0);
	ck_assert(!strncmp(jp_pool_temp_folder(pool), base, strlen(base)));
	jp_array_release(&a);
	jp_pool_close(pool);
	ck_assert_int_eq(rmdir(base), 0);
	unsetenv("JOBPOOL_TEMP_FOLDER");
	pool = open_mode(2, "1M", "r");
	ck_assert_int_eq(jp_array_alloc_shared(pool, JP_INT64, 2, shape, &a), 0);
	ck_assert_msg(!strncmp(jp_pool_temp_folder(pool), "/dev/shm/jobpool-", 17), "%s",
		      jp_pool_temp_folder(pool));
	jp_array_release(&a);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(one_file_per_array_per_call)
{
	jp_pool *pool = open_mode(2, "1K", "r");
	double *v = vector(1000, 0.0);
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 1000 }, .data = v };
	jp_call *c;
	ck_assert_int_eq(jp_call_new(&c, pool), 0);
	for (int i = 0; i < 20; i++) {
		jp_call_add(c, "sum_range");
		ck_assert_int_eq(jp_call_arg_array(c, &a), 0);
	}
	ck_assert_int_eq(files_in(jp_pool_temp_folder(pool)), 1);
	ck_assert_int_eq(jp_call_run(c), 0);
	const void *d;
	size_t len;
	for (size_t i = 0; i < 20; i++) {
		ck_assert_int_eq(jp_call_result(c, i, &d, &len), 0);
		ck_assert(*(const double *)d == (double)i); /* item i sums [i, i+1) */
	}
	jp_call_free(c);
	ck_assert_int_eq(files_in(jp_pool_temp_folder(pool)), 0);
	free(v);
	jp_pool_close(pool);
}
END_TEST

/* The workers' maps still naming `path`. */
static int mapped_by_workers(jp_pool *pool, const char *path)
{
	int n = 0;
	for (int s = 0; s < jp_pool_n_jobs(pool); s++) {
		char maps[64], line[1024];
		snprintf(maps, sizeof maps, "/proc/%d/maps", jp_pool_worker_pid(pool, s));
		FILE *f = fopen(maps, "r");
		while (f && fgets(line, sizeof line, f))
			n += strstr(line, path) != NULL;
		if (f)
			fclose(f);
	}
	return n;
}

START_TEST(shared_arrays_are_reused_and_released)
{
	jp_pool *pool = open_mode(2, "1M", "r");
	enum { N = 300000 };
	double *v = vector(N, 1.0);
	jp_array src = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { N }, .data = v };
	jp_array sh;
	ck_assert_int_eq(jp_share(pool, &src, &sh), 0);
	ck_assert_uint_eq(sh.flags & JP_ARRAY_SHARED, JP_ARRAY_SHARED);
	ck_assert_int_eq(memcmp(sh.data, v, N * sizeof *v), 0);
	ck_assert_int_eq(files_in(jp_pool_temp_folder(pool)), 1);
	double expect = (double)N * (N + 1) / 2;
	for (int round = 0; round < 5; round++) {
		jp_call *c;
		ck_assert_int_eq(jp_map_new(&c, pool, "sum_range", N), 0);
		ck_assert_int_eq(jp_call_arg_array(c, &sh), 0);
		ck_assert_int_eq(jp_call_run(c), 0);
		const void *d;
		size_t len;
		ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
		double s = 0;
		for (size_t i = 0; i < len / sizeof(double); i++)
			s += ((const double *)d)[i];
		ck_assert(s == expect);
		jp_call_free(c);
		/* no new file for any call, and the workers keep their map */
		ck_assert_int_eq(files_in(jp_pool_temp_folder(pool)), 1);
		ck_assert_int_ge(mapped_by_workers(pool, jp_pool_temp_folder(pool)), 1);
	}
	/* the copy is a snapshot: the source's later changes are not seen,
	 * the shared copy's are, at once */
	v[0] = 1e6;
	((double *)sh.data)[1] = 100.0;
	struct seen s = look_at(pool, &sh);
	ck_assert(s.first == 1.0);
	ck_assert_uint_eq(s.flags & JP_ARRAY_READONLY, JP_ARRAY_READONLY);
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "sum_range", 2), 0);
	jp_call_arg_array(c, &sh);
	ck_assert_int_eq(jp_call_run(c), 0);
	const void *d;
	size_t len;
	jp_call_output(c, &d, &len);
	ck_assert(((const double *)d)[0] + ((const double *)d)[1] == 101.0);
	jp_call_free(c);

	char folder[512], file[1024];
	snprintf(folder, sizeof folder, "%s", jp_pool_temp_folder(pool));
	only_file(folder, file, sizeof file);
	int maps = mapped_by_workers(pool, file);
	ck_assert_int_ge(maps, 1);
	jp_array_release(&sh);
	/* the file is kept, pages and all, for the next dump of its size, and
	 * the workers keep their mappings of it */
	ck_assert_int_eq(files_in(folder), 1);
	ck_assert_int_eq(mapped_by_workers(pool, file), maps);
	/* the next share reuses it, with its own contents, seen through the
	 * mappings the workers have */
	for (size_t i = 0; i < N; i++)
		v[i] = 2.0;
	ck_assert_int_eq(jp_share(pool, &src, &sh), 0);
	ck_assert_int_eq(files_in(folder), 1);
	ck_assert_int_eq(jp_map_new(&c, pool, "sum_range", N), 0);
	jp_call_arg_array(c, &sh);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_output(c, &d, &len);
	double total = 0;
	for (size_t i = 0; i < len / sizeof(double); i++)
		total += ((const double *)d)[i];
	ck_assert(total == 2.0 * N);
	jp_call_free(c);
	ck_assert_int_eq(mapped_by_workers(pool, file), maps);
	jp_array_release(&sh);
	/* sixteen larger files released after it: the oldest spare is dropped,
	 * and the workers unmap it once told (give the frames a moment) */
	enum { K = 16 };
	jp_array big[K];
	size_t shape[1] = { 3 * N };
	for (int i = 0; i < K; i++)
		ck_assert_int_eq(jp_array_alloc_shared(pool, JP_FLOAT64, 1, shape, &big[i]), 0);
	for (int i = 0; i < K; i++)
		jp_array_release(&big[i]);
	ck_assert_int_eq(access(file, F_OK), -1);
	for (int i = 0; i < 1000 && mapped_by_workers(pool, file); i++)
		usleep(1000);
	ck_assert_int_eq(mapped_by_workers(pool, file), 0);
	free(v);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(alloc_shared_is_zero_copy)
{
	jp_pool *pool = open_mode(_i, "1M", "r+");
	size_t shape[1] = { 500000 };
	jp_array a;
	ck_assert_int_eq(jp_array_alloc_shared(pool, JP_FLOAT64, 1, shape, &a), 0);
	ck_assert_uint_eq(jp_array_nbytes(&a), 4000000);
	ck_assert_uint_eq((uintptr_t)a.data % 64, 0);
	for (size_t i = 0; i < 500000; i++)
		ck_assert(((double *)a.data)[i] == 0.0);
	int before = files_in(jp_pool_temp_folder(pool));
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "fill", 500000), 0);
	ck_assert_int_eq(jp_call_arg_array(c, &a), 0);
	ck_assert_int_eq(files_in(jp_pool_temp_folder(pool)), before); /* no dump */
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
	/* the workers wrote into the very pages this process maps */
	for (size_t i = 0; i < 500000; i += 999)
		ck_assert(((double *)a.data)[i] == (double)i + 0.5);
	jp_array_release(&a);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* A .npy file of n float64 values start, start + 1, ... in a folder of
 * its own under /tmp. */
struct npy_file {
	char dir[32], path[64];
	double *v;
};

static void npy_file_make(struct npy_file *f, size_t n, double start)
{
	strcpy(f->dir, "/tmp/jpt-npy-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/a.npy", f->dir);
	f->v = vector(n, start);
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { n }, .data = f->v };
	ck_assert_int_eq(jp_dump(&a, f->path), 0);
}

static void npy_file_remove(struct npy_file *f)
{
	unlink(f->path);
	ck_assert_int_eq(rmdir(f->dir), 0);
	free(f->v);
}

START_TEST(loaded_files_go_by_reference)
{
	/* an array mapped from a .npy file is passed by its file: no dump */
	struct npy_file f;
	npy_file_make(&f, 100000, 2.0);
	jp_pool *pool = open_mode(2, "1K", "r+");
	const char *modes[] = { "r", "r+" };
	for (int m = 0; m < 2; m++) {
		jp_array l;
		ck_assert_int_eq(jp_load(f.path, modes[m], &l), 0);
		struct seen s = look_at(pool, &l);
		ck_assert(s.first == 2.0);
		/* loaded read-only: mapped read-only by the workers too, even in
		 * an r+ pool */
		ck_assert_uint_eq(s.flags & (JP_ARRAY_SHARED | JP_ARRAY_READONLY),
				  m == 0 ? JP_ARRAY_SHARED | JP_ARRAY_READONLY : JP_ARRAY_SHARED);
		ck_assert_int_eq(files_in(jp_pool_temp_folder(pool)), 0);
		if (m == 1) {
			/* r+ both sides: the workers write into the caller's file */
			jp_call *c;
			ck_assert_int_eq(jp_map_new(&c, pool, "fill", 100), 0);
			jp_call_arg_array(c, &l);
			ck_assert_int_eq(jp_call_run(c), 0);
			jp_call_free(c);
			ck_assert(((double *)l.data)[99] == 99.5);
		}
		jp_array_release(&l);
	}
	jp_pool_close(pool);
	npy_file_remove(&f);
	jpt_assert_no_children();
}
END_TEST

/* Calls alike but for their id send a worker no second CALL frame
 * (sched.c's queue_frame). A loaded file's array is unmapped by the
 * workers when the call that passed it is freed, so the next call alike
 * must come with its frame again, which maps it anew: the workers then
 * read the caller's latest writes, and none touches a mapping it let go. */
START_TEST(calls_alike_map_a_loaded_file_again)
{
	enum { N = 20000 };
	struct npy_file f;
	npy_file_make(&f, N, 1.0);
	jp_pool *pool = open_mode(2, "1K", "r+");
	jp_array l;
	ck_assert_int_eq(jp_load(f.path, "r+", &l), 0);
	double expect = (double)N * (N + 1) / 2;
	for (int round = 0; round < 6; round++) {
		jp_call *c;
		ck_assert_int_eq(jp_map_new(&c, pool, "sum_range", N), 0);
		ck_assert_int_eq(jp_call_arg_array(c, &l), 0);
		int rc = jp_call_run(c);
		const char *msg;
		jp_call_error(c, NULL, &msg);
		ck_assert_msg(rc == 0, "round %d: %s", round, msg);
		const void *d;
		size_t len;
		ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
		double sum = 0; /* a partial sum per batch */
		for (size_t k = 0; k < len / sizeof sum; k++)
			sum += ((const double *)d)[k];
		ck_assert(sum == expect);
		jp_call_free(c);
		((double *)l.data)[N - 1] += 1; /* seen by the next call */
		expect += 1;
	}
	jp_array_release(&l);
	jp_pool_close(pool);
	npy_file_remove(&f);
	jpt_assert_no_children();
}
END_TEST

START_TEST(readonly_write_fails_the_task)
{
	jp_pool *pool = open_mode(2, "1K", "r");
	double *v = vector(1000, 0.0);
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 1000 }, .data = v };
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "fill", 1000), 0);
	jp_call_arg_array(c, &a);
	ck_assert_int_eq(jp_call_run(c), JP_ETASK);
	const char *msg;
	jp_call_error(c, NULL, &msg);
	ck_assert_msg(strstr(msg, "read-only") && strstr(msg, "argument 0") &&
		      strstr(msg, "mmap_mode \"r\""), "message: %s", msg);
	jp_call_free(c);
	ck_assert(v[5] == 5.0); /* the caller's array is untouched */
	/* the worker that faulted was replaced; the pool goes on */
	ck_assert_int_eq(jp_map_new(&c, pool, "sum_range", 1000), 0);
	jp_call_arg_array(c, &a);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
	free(v);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(rplus_and_wplus_write_back)
{
	/* r+: the workers see the caller's values and their writes come back */
	jp_pool *pool = open_mode(2, "1K", "r+");
	double *v = vector(1000, 7.0);
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 1000 }, .data = v };
	struct seen s = look_at(pool, &a);
	ck_assert(s.first == 7.0);
	ck_assert_uint_eq(s.flags & (JP_ARRAY_SHARED | JP_ARRAY_READONLY), JP_ARRAY_SHARED);
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "fill", 1000), 0);
	jp_call_arg_array(c, &a);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
	for (size_t i = 0; i < 1000; i++)
		ck_assert(v[i] == (double)i + 0.5);
	jp_pool_close(pool);

	/* w+: an output array: nothing copied in, everything copied out */
	pool = open_mode(2, "1K", "w+");
	for (size_t i = 0; i < 1000; i++)
		v[i] = -1.0;
	s = look_at(pool, &a);
	ck_assert(s.first == 0.0); /* the workers see a fresh zeroed file */
	ck_assert_int_eq(jp_map_new(&c, pool, "fill", 1000), 0);
	jp_call_arg_array(c, &a);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
	for (size_t i = 0; i < 1000; i++)
		ck_assert(v[i] == (double)i + 0.5);
	free(v);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* The sum the workers compute of a, by batches (outputs concatenated). */
static double sum_in_workers(jp_pool *pool, const jp_array *a)
{
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "sum_range", a->shape[0]), 0);
	ck_assert_int_eq(jp_call_arg_array(c, a), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	double s = 0;
	for (size_t i = 0; i < len / sizeof s; i++)
		s += ((const double *)d)[i];
	jp_call_free(c);
	return s;
}

/* An ordinary array passed again with the same bytes is not dumped again:
 * its file, kept among the spares, is recognised by its digest. Changed
 * bytes are always seen. Three 16 MiB segments: the digest is taken in
 * parts, by two threads where there are two cores. */
START_TEST(equal_bytes_are_recognised)
{
	const char *mode = _i ? "c" : "r";
	jp_pool *pool = open_mode(2, "1M", mode);
	size_t n = 5u << 20; /* 40 MiB of doubles */
	double *v = vector(n, 1.0);
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { n }, .data = v };
	double expect = (double)n * (double)(n + 1) / 2; /* exact in a double */
	unsigned long seen0 = pool->share.dumps_recognised;
	ck_assert(sum_in_workers(pool, &a) == expect);
	ck_assert(sum_in_workers(pool, &a) == expect);
	bool digests = jp__digest_enabled();
	ck_assert_uint_eq(pool->share.dumps_recognised - seen0, digests ? 1 : 0);
	/* one element changed, in the last segment: a new dump, the new sum */
	v[n - 3] += 1000.0;
	ck_assert(sum_in_workers(pool, &a) == expect + 1000.0);
	ck_assert_uint_eq(pool->share.dumps_recognised - seen0, digests ? 1 : 0);
	ck_assert(sum_in_workers(pool, &a) == expect + 1000.0);
	ck_assert_uint_eq(pool->share.dumps_recognised - seen0, digests ? 2 : 0);
	/* changed back: the one spare of that size took the changed bytes, so
	 * a dump again, then recognised */
	v[n - 3] -= 1000.0;
	ck_assert(sum_in_workers(pool, &a) == expect);
	ck_assert_uint_eq(pool->share.dumps_recognised - seen0, digests ? 2 : 0);
	ck_assert(sum_in_workers(pool, &a) == expect);
	ck_assert_uint_eq(pool->share.dumps_recognised - seen0, digests ? 3 : 0);
	free(v);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* With r+ the workers write the file: it is never recognised later. */
START_TEST(written_dumps_are_not_recognised)
{
	jp_pool *pool = open_mode(2, "1M", "r+");
	size_t n = 1u << 18; /* 2 MiB */
	double *v = vector(n, 0.0);
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { n }, .data = v };
	for (int round = 0; round < 3; round++) {
		jp_call *c;
		ck_assert_int_eq(jp_map_new(&c, pool, "fill", n), 0);
		ck_assert_int_eq(jp_call_arg_array(c, &a), 0);
		ck_assert_int_eq(jp_call_run(c), 0);
		jp_call_free(c);
		ck_assert(v[n - 1] == (double)(n - 1) + 0.5);
		for (size_t i = 0; i < n; i++)
			v[i] = 0.0;
	}
	ck_assert_uint_eq(pool->share.dumps_recognised, 0);
	free(v);
	jp_pool_close(pool);
}
END_TEST

START_TEST(copy_on_write_stays_private)
{
	jp_pool *pool = open_mode(2, "1K", "c");
	size_t shape[1] = { 1000 };
	jp_array a;
	ck_assert_int_eq(jp_array_alloc_shared(pool, JP_FLOAT64, 1, shape, &a), 0);
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "fill", 1000), 0);
	jp_call_arg_array(c, &a);
	ck_assert_int_eq(jp_call_run(c), 0); /* writes are allowed... */
	jp_call_free(c);
	for (size_t i = 0; i < 1000; i++)
		ck_assert(((double *)a.data)[i] == 0.0); /* ...and stay the worker's */
	jp_array_release(&a);
	jp_pool_close(pool);
}
END_TEST

START_TEST(sequential_shares_by_pointer)
{
	jp_pool *pool = open_mode(1, "1K", "r");
	double *v = vector(1000, 0.0);
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 1000 }, .data = v };
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "fill", 1000), 0);
	jp_call_arg_array(c, &a);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
	ck_assert(v[10] == 10.5); /* the task ran on the array itself */
	size_t shape[1] = { 10 };
	jp_array b;
	ck_assert_int_eq(jp_array_alloc_shared(pool, JP_FLOAT64, 1, shape, &b), 0);
	ck_assert_ptr_null(jp_pool_temp_folder(pool)); /* plain memory */
	jp_array_release(&b);
	free(v);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* Mount a tmpfs of `kib` KiB on dir, in this test's own mount namespace. */
static bool small_tmpfs(const char *dir, int kib)
{
	char opts[64];
	snprintf(opts, sizeof opts, "size=%dk,mode=1777", kib);
	return mount("jpt-tmpfs", dir, "tmpfs", 0, opts) == 0;
}

START_TEST(full_folders)
{
	/* a private mount namespace, so small folders can be made; as root
	 * only (CI runs as root) */
	/* (source and type are ignored by a propagation change: named, not
	 * NULL, so valgrind has nothing to say) */
	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "note: full_folders skipped: %s (needs root)\n", strerror(errno));
		return;
	}
	char small[] = "/tmp/jpt-small-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(small));
	ck_assert(small_tmpfs(small, 256));
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.max_nbytes = "1K";
	opt.temp_folder = small;
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	enum { N = 1 << 17 }; /* 1 MiB: does not fit in 256 KiB */
	double *v = vector(N, 0.0);
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { N }, .data = v };
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "sum_range", N), 0);
	ck_assert_int_eq(jp_call_arg_array(c, &a), 0); /* went to the next folder */
	ck_assert_msg(strncmp(jp_pool_temp_folder(pool), small, strlen(small)),
		      "still in %s", jp_pool_temp_folder(pool));
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
	jp_pool_close(pool);
	/* the small folder's own private folder was removed too */
	ck_assert_int_eq(files_in(small), 0);

	/* every folder full: a clear error, nothing half-written */
	ck_assert(small_tmpfs("/dev/shm", 256) && small_tmpfs("/tmp", 256));
	unsetenv("TMPDIR");
	opt.temp_folder = NULL;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	ck_assert_int_eq(jp_map_new(&c, pool, "sum_range", N), 0);
	ck_assert_int_eq(jp_call_arg_array(c, &a), -ENOSPC);
	const char *msg = jp_pool_errmsg(pool);
	ck_assert_msg(strstr(msg, "1048576 bytes") && strstr(msg, "/tmp/jobpool-"), "message: %s", msg);
	ck_assert_int_eq(files_in(jp_pool_temp_folder(pool)), 0);
	jp_call_free(c);
	jp_pool_close(pool);
	free(v);
	/* the mounts die with this namespace; the mount point would not */
	ck_assert_int_eq(umount("/tmp"), 0);
	ck_assert_int_eq(umount("/dev/shm"), 0);
	ck_assert_int_eq(umount(small), 0);
	ck_assert_int_eq(rmdir(small), 0);
	jpt_assert_no_children();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("share");
	TCase *tc = jpt_tcase("memmapping");
	tcase_add_test(tc, shared_strictly_above_max_nbytes);
	tcase_add_test(tc, folder_is_private_and_removed);
	tcase_add_test(tc, one_file_per_array_per_call);
	tcase_add_test(tc, shared_arrays_are_reused_and_released);
	tcase_add_loop_test(tc, alloc_shared_is_zero_copy, 1, 3);
	tcase_add_test(tc, sequential_shares_by_pointer);
	tcase_add_test(tc, loaded_files_go_by_reference);
	tcase_add_test(tc, calls_alike_map_a_loaded_file_again);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("modes");
	tcase_add_test(tc, readonly_write_fails_the_task);
	tcase_add_test(tc, rplus_and_wplus_write_back);
	tcase_add_test(tc, copy_on_write_stays_private);
	tcase_add_loop_test(tc, equal_bytes_are_recognised, 0, 2);
	tcase_add_test(tc, written_dumps_are_not_recognised);
	tcase_add_test(tc, full_folders);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
