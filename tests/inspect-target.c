/*
 * inspect-target - a pool for tests/inspect.sh to look at with
 * jobpool-inspect.
 *
 *   inspect-target [--jobs N] [--stop FILE] [--items N]
 *   inspect-target --npy DIR
 *   inspect-target --cache DIR
 *
 * Opens a pool of N workers (default 2; 1 is the sequential backend),
 * shares a 100x200 float64 array, runs one quick call of 10 items, and
 * prints what the pool itself says, one "key value" per line, then
 * "READY". It waits for a line on stdin, then runs a call of --items slow
 * tasks (each sleeps 20 ms, or nothing once FILE exists) with batch size
 * 1, printing "RUNNING" after its first result, and "CLOSED" once the
 * call is over and the pool closed. With --npy it writes DIR/good.npy (a
 * 3x4 int32 array in Fortran order) and exits. With --cache it fills the
 * result cache DIR with 3 entries of "cached_block" (version 7, 1000, 2000
 * and 3000 bytes, used in that order) and 2 of "quick" (version 0, 0 bytes),
 * then exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jobpool.h>

static const char *stop_file;

static int quick(jp_task *t)
{
	(void)t;
	return 0;
}
JP_TASK(quick);

static int slow_item(jp_task *t)
{
	for (size_t i = jp_task_begin(t); i < jp_task_end(t); i++) {
		if (stop_file && access(stop_file, F_OK) == 0)
			break;
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return 0;
}
JP_TASK(slow_item);

static void progress(size_t done, size_t total, void *ctx)
{
	int *said = ctx;
	(void)total;
	if (done > 0 && !*said) {
		printf("RUNNING\n");
		fflush(stdout);
		*said = 1;
	}
}

/* n bytes of its argument's value */
static int cached_block(jp_task *t)
{
	int64_t n;
	if (jp_task_arg_i64(t, 0, &n))
		return jp_task_fail(t, "no size");
	uint8_t *p = jp_task_result_alloc(t, (size_t)n);
	if (!p)
		return jp_task_fail(t, "out of memory");
	memset(p, (int)(n & 0xff), (size_t)n);
	return 0;
}
JP_TASK_VERSION(cached_block, 7);

static int fill_cache(const char *dir)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	jp_pool *pool;
	jp_memory *mem;
	if (jp_pool_open(&pool, &opt)) {
		fprintf(stderr, "inspect-target: %s\n", jp_pool_errmsg(NULL));
		return 1;
	}
	int err = jp_memory_open(&mem, dir, NULL);
	if (err)
		fprintf(stderr, "inspect-target: %s\n", jp_memory_errmsg(NULL));
	/* one call per block: their last uses come in this order */
	for (int64_t n = 1000; !err && n <= 3000; n += 1000) {
		jp_call *c;
		if (!(err = jp_call_new(&c, pool)) && !(err = jp_call_set_memory(c, mem)) &&
		    (err = (int)jp_call_add(c, "cached_block")) >= 0 && !(err = jp_call_arg_i64(c, n)))
			err = jp_call_run(c);
		jp_call_free(c);
	}
	jp_call *c = NULL;
	for (int64_t k = 0; !err && k < 2; k++) {
		if (!c && (!(err = jp_call_new(&c, pool)) && !(err = jp_call_set_memory(c, mem))))
			err = 0;
		if (!err && (err = (int)jp_call_add(c, "quick")) >= 0)
			err = jp_call_arg_i64(c, k);
	}
	if (!err)
		err = jp_call_run(c);
	jp_call_free(c);
	if (err)
		fprintf(stderr, "inspect-target: cache: %s: %s\n", jp_strerror(err), jp_pool_errmsg(pool));
	jp_memory_close(mem);
	jp_pool_close(pool);
	return err ? 1 : 0;
}

static int write_npy(const char *dir)
{
	int32_t v[12];
	for (int i = 0; i < 12; i++)
		v[i] = i;
	jp_array a = { .dtype = JP_INT32, .ndim = 2, .shape = { 3, 4 }, .data = v,
		       .flags = JP_ARRAY_FORTRAN };
	char path[4096];
	snprintf(path, sizeof path, "%s/good.npy", dir);
	int err = jp_dump(&a, path);
	if (err)
		fprintf(stderr, "inspect-target: %s\n", jp_npy_errmsg());
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	int jobs = 2;
	size_t items = 100000;
	static const struct option longopts[] = {
		{ "jobs", required_argument, NULL, 'j' },
		{ "stop", required_argument, NULL, 's' },
		{ "items", required_argument, NULL, 'n' },
		{ "npy", required_argument, NULL, 'p' },
		{ "cache", required_argument, NULL, 'c' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "j:s:n:p:c:", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': jobs = atoi(optarg); break;
		case 's': stop_file = optarg; break;
		case 'n': items = strtoull(optarg, NULL, 10); break;
		case 'p': return write_npy(optarg);
		case 'c': return fill_cache(optarg);
		default: return 2;
		}
	}
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = jobs;
	opt.batch_size = "1"; /* one item per batch: each worker's item is seen */
	if (jobs == 1)
		opt.backend = "sequential";
	jp_pool *pool;
	if (jp_pool_open(&pool, &opt)) {
		fprintf(stderr, "inspect-target: %s\n", jp_pool_errmsg(NULL));
		return 1;
	}
	jp_array shared;
	size_t shape[2] = { 100, 200 };
	int err = jp_array_alloc_shared(pool, JP_FLOAT64, 2, shape, &shared);
	jp_call *call = NULL;
	if (!err)
		err = jp_map_new(&call, pool, "quick", 10);
	if (!err)
		err = jp_call_arg_array(call, &shared);
	if (!err)
		err = jp_call_run(call);
	jp_call_free(call);
	if (err) {
		fprintf(stderr, "inspect-target: %s: %s\n", jp_strerror(err), jp_pool_errmsg(pool));
		return 1;
	}
	/* the pool's own view, for the test to hold the tool's against */
	printf("pid %d\n", (int)getpid());
	printf("n_jobs %d\n", jp_pool_n_jobs(pool));
	for (int i = 0; i < jp_pool_n_jobs(pool); i++)
		printf("worker %d %d\n", i, jp_pool_worker_pid(pool, i));
	printf("spawned %lu\n", jp_pool_spawn_count(pool));
	const char *tf = jp_pool_temp_folder(pool);
	printf("temp_folder %s\n", tf ? tf : "null");
	printf("READY\n");
	fflush(stdout);

	char line[64];
	if (!fgets(line, sizeof line, stdin)) {
		/* no go: close now */
		jp_array_release(&shared);
		jp_pool_close(pool);
		printf("CLOSED\n");
		return 0;
	}
	int said = 0;
	if (!(err = jp_map_new(&call, pool, "slow_item", items))) {
		jp_call_set_progress(call, progress, &said);
		err = jp_call_run(call);
	}
	jp_call_free(call);
	jp_array_release(&shared);
	jp_pool_close(pool);
	printf("CLOSED\n");
	fflush(stdout);
	return err ? 1 : 0;
}
