/*
 * test-status.c - the status page says what the pool says (jp_pool_*), is
 * never seen torn, goes away at close and with a killed master, and the
 * trace has one event per batch.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "pool.h"
#include "status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char status_dir[256];

static int count_items(jp_task *t)
{
	size_t b = jp_task_begin(t), e = jp_task_end(t);
	int64_t *out = jp_task_result_alloc(t, (e - b) * sizeof *out);
	for (size_t k = b; k < e; k++)
		out[k - b] = (int64_t)k;
	return 0;
}
JP_TASK(count_items);

static int nap_item(jp_task *t)
{
	struct timespec ts = { 0, 30 * 1000 * 1000 };
	for (size_t k = jp_task_begin(t); k < jp_task_end(t); k++)
		nanosleep(&ts, NULL);
	return 0;
}
JP_TASK(nap_item);

/* The name of the one page of this process's pool, or "" if none. */
static void find_page(char *name, size_t cap, pid_t pid)
{
	name[0] = '\0';
	DIR *d = opendir(status_dir);
	if (!d)
		return;
	char prefix[32];
	snprintf(prefix, sizeof prefix, "%d-", (int)pid);
	struct dirent *de;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, prefix, strlen(prefix)))
			snprintf(name, cap, "%.63s", de->d_name);
	closedir(d);
}

static int read_page(pid_t pid, jp__status_view *v)
{
	char name[64], err[256];
	find_page(name, sizeof name, pid);
	if (!name[0])
		return -ENOENT;
	int dfd = open(status_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	int rc = jp__status_read(dfd, name, v, err, sizeof err);
	close(dfd);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert(!v->torn);
	return rc;
}

static void run_map(jp_pool *pool, const char *task, size_t n)
{
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, task, n), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	jp_call_free(c);
}

START_TEST(page_mirrors_the_pool)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.batch_size = "3";
	opt.pre_dispatch = "5";
	opt.max_nbytes = "2K";
	opt.mmap_mode = "r+";
	opt.timeout = 7.5;
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	jp__status_view v;
	ck_assert_int_eq(read_page(getpid(), &v), 0);
	char expect[64];
	snprintf(expect, sizeof expect, "%d-%llu", (int)getpid(), (unsigned long long)v.head.pool_id);
	ck_assert_str_eq(v.name, expect);
	ck_assert_int_eq(v.head.pid, getpid());
	ck_assert_int_eq(v.head.uid, geteuid());
	ck_assert_int_eq(v.head.backend, JP__STATUS_PROCESS);
	ck_assert_int_eq(v.head.n_jobs, jp_pool_n_jobs(pool));
	ck_assert_int_eq(v.head.nworkers, 2);
	ck_assert_int_eq(v.head.batch_size, 3);
	ck_assert_int_eq(v.head.pre_dispatch, 5);
	ck_assert_int_eq(v.head.max_nbytes, 2048);
	ck_assert_str_eq(v.head.mmap_mode, "r+");
	ck_assert(v.head.timeout == 7.5);
	jp__proc_stat ps;
	ck_assert_int_eq(jp__proc_stat_read(getpid(), &ps), 0);
	ck_assert_int_eq(v.head.start_ticks, ps.start_ticks);
	ck_assert_str_eq(v.head.comm, ps.comm);
	ck_assert_int_eq(jp__status_master_alive(&v.head), 1);
	ck_assert_int_eq(v.pool.state, JP__POOL_OPEN);
	ck_assert_str_eq(v.pool.engine, jp__io_engine(pool->io));
	ck_assert_int_eq(v.pool.janitor, pool->share.janitor);
	ck_assert_int_gt(v.pool.janitor, 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(v.workers[i].pid, jp_pool_worker_pid(pool, i));
		ck_assert_int_eq(v.workers[i].state, JP__WS_IDLE);
		ck_assert_int_eq(v.workers[i].spawns, 1);
	}
	ck_assert_int_eq(v.pool.calls_done, 0);
	ck_assert_int_eq(v.pool.call_id, 0);
	jp__status_view_free(&v);

	run_map(pool, "count_items", 20);
	ck_assert_int_eq(read_page(getpid(), &v), 0);
	ck_assert_int_eq(v.pool.calls_done, 1);
	ck_assert_int_eq(v.pool.call_active, 0);
	ck_assert_int_eq(v.pool.done, 20);
	ck_assert_int_eq(v.pool.total, 20);
	ck_assert_int_eq(v.pool.total_known, 1);
	ck_assert_int_eq(v.pool.batches_done, 7); /* 20 items by 3 */
	ck_assert_int_eq(v.pool.ntasks, 1);
	ck_assert_str_eq(v.pool.tasks[0], "count_items");
	ck_assert(v.pool.call_end_mono >= v.pool.call_start_mono && v.pool.call_start_mono > 0);
	uint64_t tasks = 0, batches = 0;
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(v.workers[i].state, JP__WS_IDLE);
		ck_assert_int_eq(v.workers[i].tasks_done, pool->workers[i].tasks_done);
		ck_assert_int_eq(v.workers[i].queued, 0);
		ck_assert(v.workers[i].busy_s >= 0);
		tasks += v.workers[i].tasks_done;
		batches += v.workers[i].batches_done;
	}
	ck_assert_int_eq(tasks, 20);
	ck_assert_int_eq(batches, 7);
	jp__status_view_free(&v);

	jp_pool_close(pool);
	char name[64];
	find_page(name, sizeof name, getpid());
	ck_assert_msg(!name[0], "page %s left after close", name);
	jpt_assert_no_children();
}
END_TEST

START_TEST(shared_arrays_are_listed)
{
	jp_pool *pool = jpt_open(2);
	jp_array a, b;
	size_t shape[2] = { 30, 40 };
	ck_assert_int_eq(jp_array_alloc_shared(pool, JP_FLOAT32, 2, shape, &a), 0);
	int64_t *src = calloc(1000, sizeof *src);
	jp_array s = { .dtype = JP_INT64, .ndim = 1, .shape = { 1000 }, .data = src };
	ck_assert_int_eq(jp_share(pool, &s, &b), 0);
	jp__status_view v;
	ck_assert_int_eq(read_page(getpid(), &v), 0);
	ck_assert_int_eq(v.shared.live, 2);
	ck_assert_int_eq(v.shared.live_bytes, 30 * 40 * 4 + 8000);
	ck_assert_int_eq(v.shared.nfolders, 1);
	ck_assert_str_eq(v.shared.folders[v.shared.cur], jp_pool_temp_folder(pool));
	int seen = 0;
	for (int i = 0; i < JP__STATUS_ARRAYS; i++) {
		const jp__page_array *e = &v.shared.arrays[i];
		if (!e->id)
			continue;
		seen++;
		ck_assert(!strncmp(e->path, jp_pool_temp_folder(pool), strlen(jp_pool_temp_folder(pool))));
		ck_assert_int_eq(access(e->path, F_OK), 0);
		if (e->dtype == JP_FLOAT32) {
			ck_assert_int_eq(e->ndim, 2);
			ck_assert_int_eq(e->shape[0], 30);
			ck_assert_int_eq(e->shape[1], 40);
			ck_assert_int_eq(e->nbytes, 4800);
			ck_assert_str_eq(e->path, a.backing->path);
		} else {
			ck_assert_int_eq(e->dtype, JP_INT64);
			ck_assert_int_eq(e->ndim, 1);
			ck_assert_int_eq(e->shape[0], 1000);
			ck_assert_int_eq(e->nbytes, 8000);
		}
	}
	ck_assert_int_eq(seen, 2);
	jp__status_view_free(&v);
	jp_array_release(&a);
	ck_assert_int_eq(read_page(getpid(), &v), 0);
	ck_assert_int_eq(v.shared.live, 1);
	ck_assert_int_eq(v.shared.live_bytes, 8000);
	jp__status_view_free(&v);
	jp_array_release(&b);
	ck_assert_int_eq(read_page(getpid(), &v), 0);
	ck_assert_int_eq(v.shared.live, 0);
	ck_assert_int_eq(v.shared.live_bytes, 0);
	for (int i = 0; i < JP__STATUS_ARRAYS; i++)
		ck_assert_int_eq(v.shared.arrays[i].id, 0);
	jp__status_view_free(&v);
	free(src);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(busy_workers_show_their_task)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.batch_size = "1";
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "nap_item", 40), 0);
	ck_assert_int_eq(jp_call_start(c, JP_UNORDERED), 0);
	jp_result r;
	ck_assert_int_eq(jp_call_next(c, &r), 1);
	jp__status_view v;
	ck_assert_int_eq(read_page(getpid(), &v), 0);
	ck_assert_int_eq(v.pool.call_active, 1);
	ck_assert_int_eq(v.pool.total, 40);
	ck_assert_int_ge(v.pool.done, 1);
	ck_assert_str_eq(v.pool.tasks[0], "nap_item");
	int busy = 0;
	for (int i = 0; i < 2; i++) {
		const jp__page_worker *w = &v.workers[i];
		if (w->state != JP__WS_BUSY)
			continue;
		busy++;
		ck_assert_int_eq(w->task, 0);
		ck_assert_int_eq(w->call_id, v.pool.call_id);
		ck_assert_int_lt(w->item, 40);
		ck_assert_int_eq(w->count, 1);
		ck_assert_int_ge(w->queued, 1);
		ck_assert(w->busy_since_mono > 0 && w->busy_since_mono <= jp__now());
		/* the batch the pool has at the head of that worker's queue */
		const jp__worker *pw = &pool->workers[i];
		ck_assert_int_eq(w->queued, pw->inflight_n);
		ck_assert_int_eq(w->item, jp__call_slot(c, pw->inflight[pw->inflight_head].seq_first)->begin);
	}
	ck_assert_int_ge(busy, 1);
	jp__status_view_free(&v);
	jp_call_stop(c);
	ck_assert_int_eq(read_page(getpid(), &v), 0);
	ck_assert_int_eq(v.pool.call_active, 0);
	ck_assert_int_eq(v.pool.calls_done, 1);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(v.workers[i].state, JP__WS_IDLE);
	jp__status_view_free(&v);
	jp_call_free(c);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(respawns_are_counted)
{
	jp_pool *pool = jpt_open(2);
	pid_t old = jp_pool_worker_pid(pool, 0);
	kill(old, SIGKILL);
	usleep(50 * 1000);
	run_map(pool, "count_items", 10); /* replaced before the call */
	jp__status_view v;
	ck_assert_int_eq(read_page(getpid(), &v), 0);
	ck_assert_int_ne(v.workers[0].pid, old);
	ck_assert_int_eq(v.workers[0].pid, jp_pool_worker_pid(pool, 0));
	ck_assert_int_eq(v.workers[0].spawns, 2);
	ck_assert_int_eq(v.workers[1].spawns, 1);
	ck_assert_int_eq(v.workers[0].spawns + v.workers[1].spawns, jp_pool_spawn_count(pool));
	jp__status_view_free(&v);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(sequential_pool_is_marked)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.backend = "sequential";
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	run_map(pool, "count_items", 12);
	jp__status_view v;
	ck_assert_int_eq(read_page(getpid(), &v), 0);
	ck_assert_int_eq(v.head.backend, JP__STATUS_SEQUENTIAL);
	ck_assert_int_eq(v.head.nworkers, 1);
	ck_assert_int_eq(v.workers[0].pid, getpid());
	ck_assert_int_eq(v.workers[0].pid, jp_pool_worker_pid(pool, 0));
	ck_assert_int_eq(v.workers[0].state, JP__WS_IDLE);
	ck_assert_int_eq(v.workers[0].tasks_done, 12);
	ck_assert_str_eq(v.pool.engine, "none");
	ck_assert_int_eq(v.pool.janitor, 0);
	ck_assert_int_eq(v.pool.done, 12);
	jp__status_view_free(&v);
	jp_pool_close(pool);
	char name[64];
	find_page(name, sizeof name, getpid());
	ck_assert(!name[0]);
}
END_TEST

START_TEST(disabled_by_environment)
{
	setenv("JOBPOOL_STATUS", "0", 1);
	jp_pool *pool = jpt_open(2);
	char name[64];
	find_page(name, sizeof name, getpid());
	ck_assert_msg(!name[0], "page %s made with JOBPOOL_STATUS=0", name);
	ck_assert_ptr_null(pool->status);
	run_map(pool, "count_items", 10);
	jp_pool_close(pool);
	unsetenv("JOBPOOL_STATUS");
	jpt_assert_no_children();
}
END_TEST

START_TEST(a_folder_not_ours_is_refused)
{
	/* a status folder others may write to is not used: no page, and the
	 * pool works as before */
	char dir[256];
	jpt_mkdtemp(dir, sizeof dir, "jpt-open-status");
	ck_assert_int_eq(chmod(dir, 0777), 0);
	setenv("JOBPOOL_STATUS_DIR", dir, 1);
	jp_pool *pool = jpt_open(2);
	ck_assert_ptr_null(pool->status);
	run_map(pool, "count_items", 10);
	jp_pool_close(pool);
	setenv("JOBPOOL_STATUS_DIR", status_dir, 1);
	ck_assert_int_eq(rmdir(dir), 0); /* empty */
	jpt_assert_no_children();
}
END_TEST

START_TEST(a_forked_copy_leaves_the_page)
{
	jp_pool *pool = jpt_open(2);
	char name[64], after[64];
	find_page(name, sizeof name, getpid());
	ck_assert(name[0]);
	pid_t child = fork();
	if (child == 0) {
		jp_pool_close(pool); /* the child's copy */
		_exit(0);
	}
	ck_assert_int_eq(waitpid(child, NULL, 0), child);
	find_page(after, sizeof after, getpid());
	ck_assert_str_eq(after, name);
	run_map(pool, "count_items", 10);
	jp__status_view v;
	ck_assert_int_eq(read_page(getpid(), &v), 0);
	ck_assert_int_eq(v.pool.calls_done, 1);
	jp__status_view_free(&v);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(janitor_removes_the_page_of_a_killed_master)
{
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t master = fork();
	if (master == 0) {
		close(fds[0]);
		jp_pool *pool;
		jp_options opt = JP_OPTIONS_INIT;
		opt.n_jobs = 2;
		if (jp_pool_open(&pool, &opt))
			_exit(1);
		char ok = 1;
		if (write(fds[1], &ok, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	char ok = 0;
	ck_assert_int_eq(read(fds[0], &ok, 1), 1);
	close(fds[0]);
	char name[64];
	find_page(name, sizeof name, master);
	ck_assert_msg(name[0], "the master made no page");
	kill(master, SIGKILL);
	ck_assert_int_eq(waitpid(master, NULL, 0), master);
	double t0 = jp__now();
	do {
		find_page(name, sizeof name, master);
		usleep(2000);
	} while (name[0] && jp__now() - t0 < 5);
	ck_assert_msg(!name[0], "page %s outlived its master by 5 s", name);
	while (waitpid(-1, NULL, 0) > 0)
		;
	jpt_assert_no_children();
}
END_TEST

/* ---- the seqlock: a reader beside a busy writer never sees a torn record */

struct reader {
	pid_t pid;
	volatile int stop;
	long reads, mismatches, torn;
	char why[256];
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;
	char name[64], err[256];
	find_page(name, sizeof name, r->pid);
	int dfd = open(status_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (!r->stop) {
		jp__status_view v;
		if (jp__status_read(dfd, name, &v, err, sizeof err))
			continue;
		r->reads++;
		r->torn += v.torn;
		/* batches of one item: counts that move together */
		if (v.pool.done != v.pool.batches_done && !r->mismatches++)
			snprintf(r->why, sizeof r->why, "pool: done %llu, batches %llu",
				 (unsigned long long)v.pool.done, (unsigned long long)v.pool.batches_done);
		for (uint32_t i = 0; i < v.head.nworkers; i++)
			if (v.workers[i].tasks_done != v.workers[i].batches_done && !r->mismatches++)
				snprintf(r->why, sizeof r->why, "worker %u: tasks %llu, batches %llu", i,
					 (unsigned long long)v.workers[i].tasks_done,
					 (unsigned long long)v.workers[i].batches_done);
		jp__status_view_free(&v);
	}
	close(dfd);
	return NULL;
}

START_TEST(readers_never_see_a_torn_record)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.batch_size = "1";
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	struct reader r = { .pid = getpid() };
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, read_loop, &r), 0);
	double t0 = jp__now();
	while (jp__now() - t0 < 1.0)
		run_map(pool, "count_items", 200);
	r.stop = 1;
	pthread_join(th, NULL);
	ck_assert_msg(r.reads > 10, "only %ld reads", r.reads);
	ck_assert_msg(r.mismatches == 0, "%ld torn reads of %ld; first: %s", r.mismatches, r.reads,
		      r.why);
	ck_assert_int_eq(r.torn, 0);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* ---- the trace ------------------------------------------------------------ */

static size_t occurrences(const char *text, const char *what)
{
	size_t n = 0;
	for (const char *s = text; (s = strstr(s, what)); s++)
		n++;
	return n;
}

START_TEST(trace_has_an_event_per_batch)
{
	char dir[256], path[512], pattern[512];
	jpt_mkdtemp(dir, sizeof dir, "jpt-trace");
	snprintf(pattern, sizeof pattern, "%s/t-%%p-%%n.json", dir);
	setenv("JOBPOOL_TRACE", pattern, 1);
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = 2;
	opt.batch_size = "3";
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	unsetenv("JOBPOOL_TRACE");
	snprintf(path, sizeof path, "%s/t-%d-%llu.json", dir, (int)getpid(), (unsigned long long)pool->id);
	run_map(pool, "count_items", 30); /* 10 batches */
	run_map(pool, "count_items", 3);  /* 1 */
	jp_pool_close(pool);
	FILE *f = fopen(path, "re");
	ck_assert_msg(f != NULL, "no trace %s", path);
	char *text = calloc(1, 1 << 20);
	size_t len = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	ck_assert(len > 0);
	ck_assert(!strncmp(text, "{\"traceEvents\":[", 16));
	ck_assert(text[len - 2] == '}' && text[len - 1] == '\n');
	ck_assert_int_eq(occurrences(text, "\"cat\":\"batch\""), 11);
	ck_assert_int_eq(occurrences(text, "\"cat\":\"call\""), 2);
	ck_assert_int_eq(occurrences(text, "\"name\":\"count_items\""), 11);
	ck_assert_int_eq(occurrences(text, "\"thread_name\""), 3); /* 2 workers, calls */
	free(text);
	jpt_remove_tree(dir);
	jpt_assert_no_children();
}
END_TEST

int main(void)
{
	/* this suite's pages in a folder of its own */
	jpt_mkdtemp(status_dir, sizeof status_dir, "jpt-status");
	setenv("JOBPOOL_STATUS_DIR", status_dir, 1);
	Suite *s = suite_create("status");
	TCase *tc = jpt_tcase("page");
	tcase_add_test(tc, page_mirrors_the_pool);
	tcase_add_test(tc, shared_arrays_are_listed);
	tcase_add_test(tc, busy_workers_show_their_task);
	tcase_add_test(tc, respawns_are_counted);
	tcase_add_test(tc, sequential_pool_is_marked);
	tcase_add_test(tc, disabled_by_environment);
	tcase_add_test(tc, a_folder_not_ours_is_refused);
	tcase_add_test(tc, a_forked_copy_leaves_the_page);
	tcase_add_test(tc, janitor_removes_the_page_of_a_killed_master);
	tcase_add_test(tc, readers_never_see_a_torn_record);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("trace");
	tcase_add_test(tc, trace_has_an_event_per_batch);
	suite_add_tcase(s, tc);
	int rc = jpt_run(s);
	/* every page went with its pool, and the folder with the last page */
	DIR *d = opendir(status_dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.') {
				fprintf(stderr, "FAIL: status page %s/%s left behind\n", status_dir, de->d_name);
				rc = EXIT_FAILURE;
			}
		closedir(d);
		jpt_remove_tree(status_dir);
		fprintf(stderr, "FAIL: the status folder %s outlived its last page\n", status_dir);
		rc = EXIT_FAILURE;
	}
	return rc;
}
