/*
 * test-lifecycle.c - workers start once and stop at close; they leave when
 * their master is killed; they hold nothing that is not theirs.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "pool.h"

#include <errno.h>
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

static int nap(jp_task *t)
{
	double s;
	jp_task_arg_f64(t, 0, &s);
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	nanosleep(&ts, NULL);
	return 0;
}
JP_TASK(nap);

static int twice(jp_task *t)
{
	size_t b = jp_task_begin(t), e = jp_task_end(t);
	int64_t *out = jp_task_result_alloc(t, (e - b) * sizeof *out);
	for (size_t k = b; k < e; k++)
		out[k - b] = 2 * (int64_t)k;
	return 0;
}
JP_TASK(twice);

static void run_twice(jp_pool *pool, size_t n)
{
	jp_call *c;
	const void *d;
	size_t len;
	ck_assert_int_eq(jp_map_new(&c, pool, "twice", n), 0);
	ck_assert_int_eq(jp_call_run(c), 0);
	ck_assert_int_eq(jp_call_output(c, &d, &len), 0);
	ck_assert_int_eq(((const int64_t *)d)[n - 1], 2 * (int64_t)(n - 1));
	jp_call_free(c);
}

static bool gone(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

START_TEST(close_stops_and_reaps_workers)
{
	jp_pool *pool = jpt_open(3);
	pid_t pids[3];
	for (int i = 0; i < 3; i++)
		pids[i] = jp_pool_worker_pid(pool, i);
	run_twice(pool, 1000);
	jp_pool_close(pool);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(gone(pids[i]), "worker %d still exists", (int)pids[i]);
	jpt_assert_no_children();
	jp_pool_close(NULL);
	jp_call_free(NULL);
}
END_TEST

START_TEST(close_kills_a_stopped_worker)
{
	/* A worker that cannot see end of file (stopped here) gets SIGTERM,
	 * then SIGKILL, and is reaped. */
	jp_pool *pool = jpt_open(2);
	pid_t victim = jp_pool_worker_pid(pool, 0);
	kill(victim, SIGSTOP);
	jp_pool_close(pool);
	ck_assert(gone(victim));
	jpt_assert_no_children();
}
END_TEST

/* Fork a master that opens a pool, makes a shared array, reports its
 * workers' PIDs and its folder, runs a call if asked, and waits to be
 * killed. */
static pid_t start_master(int n_jobs, bool busy, pid_t *workers, char *folder)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t master = fork();
	ck_assert_int_ge(master, 0);
	if (master == 0) {
		close(fds[0]);
		jp_pool *pool;
		jp_options opt = JP_OPTIONS_INIT;
		opt.n_jobs = n_jobs;
		if (jp_pool_open(&pool, &opt))
			_exit(1);
		pid_t pids[8];
		for (int i = 0; i < n_jobs; i++)
			pids[i] = jp_pool_worker_pid(pool, i);
		jp_array shared;
		size_t shape[1] = { 1000 };
		char dir[256] = "";
		if (jp_array_alloc_shared(pool, JP_FLOAT64, 1, shape, &shared) == 0)
			snprintf(dir, sizeof dir, "%s", jp_pool_temp_folder(pool));
		if (write(fds[1], pids, sizeof pids[0] * (size_t)n_jobs) < 0 ||
		    write(fds[1], dir, sizeof dir) < 0)
			_exit(1);
		if (busy) {
			jp_call *c;
			jp_map_new(&c, pool, "nap", (size_t)n_jobs * 4);
			jp_call_arg_f64(c, 30.0);
			jp_call_run(c);
		}
		pause();
		_exit(0);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], workers, sizeof workers[0] * (size_t)n_jobs),
			 (ssize_t)(sizeof workers[0] * (size_t)n_jobs));
	ck_assert_int_eq(read(fds[0], folder, 256), 256);
	close(fds[0]);
	return master;
}

static void kill_master_and_check(bool busy)
{
	/* The workers are reparented to this process, so it can reap them and
	 * see that none lingers. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	pid_t workers[3];
	char folder[256];
	pid_t master = start_master(3, busy, workers, folder);
	ck_assert_msg(folder[0] && access(folder, F_OK) == 0, "no pool folder \"%s\"", folder);
	if (busy)
		usleep(100 * 1000); /* let the tasks start */
	kill(master, SIGKILL);
	ck_assert_int_eq(waitpid(master, NULL, 0), master);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int left = 3;
	double elapsed = 0, workers_gone = -1, folder_gone = -1;
	while ((left || folder_gone < 0) && elapsed < 5.0) {
		left = 0;
		for (int i = 0; i < 3; i++)
			if (workers[i] && waitpid(workers[i], NULL, WNOHANG) == workers[i])
				workers[i] = 0;
			else if (workers[i])
				left++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
		if (!left && workers_gone < 0)
			workers_gone = elapsed;
		if (folder_gone < 0 && access(folder, F_OK) < 0)
			folder_gone = elapsed;
		usleep(1000);
	}
	ck_assert_msg(left == 0, "%d worker(s) outlived their master by 5 s", left);
	ck_assert_msg(folder_gone >= 0, "the pool folder %s outlived its master by 5 s", folder);
	/* the requirements are 1 s and 2 s; reported rather than asserted as
	 * timings */
	if (workers_gone > 1.0 || folder_gone > 2.0)
		fprintf(stderr, "note: workers gone after %.3f s, folder after %.3f s\n", workers_gone,
			folder_gone);
	/* the janitor, reparented here too, leaves once its work is done */
	while (waitpid(-1, NULL, 0) > 0)
		;
	jpt_assert_no_children();
}

START_TEST(workers_leave_when_idle_master_is_killed)
{
	kill_master_and_check(false);
}
END_TEST

START_TEST(workers_leave_when_busy_master_is_killed)
{
	kill_master_and_check(true);
}
END_TEST

/* The "socket:[inode]" names a process holds. */
static int socket_inodes(pid_t pid, unsigned long *out, int max)
{
	char dir[64], path[128], link[128];
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	int n = 0;
	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof path, "%s/%d", dir, fd);
		ssize_t len = readlink(path, link, sizeof link - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		unsigned long ino;
		if (sscanf(link, "socket:[%lu]", &ino) == 1 && n < max)
			out[n++] = ino;
	}
	return n;
}

START_TEST(workers_hold_no_other_pools_descriptors)
{
	jp_pool *a = jpt_open(2), *b = jpt_open(2);
	/* b's workers were forked while a's sockets were open in the master */
	struct stat st;
	ck_assert_int_eq(fstat(a->workers[0].task_fd, &st), 0);
	for (int w = 0; w < 2; w++) {
		unsigned long inodes[16];
		int n = socket_inodes(jp_pool_worker_pid(b, w), inodes, 16);
		ck_assert_int_eq(n, 1); /* its own task socket, nothing else */
		for (int i = 0; i < n; i++)
			ck_assert(inodes[i] != st.st_ino);
	}
	pid_t apids[2] = { jp_pool_worker_pid(a, 0), jp_pool_worker_pid(a, 1) };
	jp_pool_close(a);
	ck_assert(gone(apids[0]) && gone(apids[1]));
	run_twice(b, 100);
	jp_pool_close(b);
	jpt_assert_no_children();
}
END_TEST

START_TEST(forked_child_closing_its_copy_leaves_workers_alone)
{
	jp_pool *pool = jpt_open(2);
	pid_t child = fork();
	if (child == 0) {
		/* the workers are the parent's: no call from here, and close
		 * frees the copy without touching them */
		jp_call *c;
		int rc = jp_map_new(&c, pool, "twice", 10) ? 1 : jp_call_run(c);
		jp_call_free(c);
		jp_pool_close(pool);
		_exit(rc == -ECHILD ? 0 : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	run_twice(pool, 1000);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

static void *run_nap(void *arg)
{
	jp_pool *pool = arg;
	jp_call *c;
	jp_map_new(&c, pool, "nap", 2);
	jp_call_arg_f64(c, 0.5);
	intptr_t rc = jp_call_run(c);
	jp_call_free(c);
	return (void *)rc;
}

START_TEST(one_call_at_a_time)
{
	jp_pool *pool = jpt_open(_i);
	pthread_t th;
	pthread_create(&th, NULL, run_nap, pool);
	usleep(100 * 1000);
	jp_call *c;
	ck_assert_int_eq(jp_map_new(&c, pool, "twice", 10), 0);
	ck_assert_int_eq(jp_call_run(c), -EBUSY);
	void *rc;
	pthread_join(th, &rc);
	ck_assert_int_eq((intptr_t)rc, 0);
	ck_assert_int_eq(jp_call_run(c), 0); /* and the pool goes on */
	jp_call_free(c);
	jp_pool_close(pool);
}
END_TEST

static volatile int spinning = 1;
static void *spin(void *arg)
{
	while (spinning)
		;
	return arg;
}

START_TEST(open_from_a_threaded_host)
{
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, spin, NULL);
	jp_pool *pool = jpt_open(2);
	run_twice(pool, 10000);
	jp_pool_close(pool);
	spinning = 0;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	jpt_assert_no_children();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = jpt_tcase("close");
	tcase_add_test(tc, close_stops_and_reaps_workers);
	tcase_add_test(tc, close_kills_a_stopped_worker);
	tcase_add_test(tc, forked_child_closing_its_copy_leaves_workers_alone);
	tcase_add_test(tc, workers_hold_no_other_pools_descriptors);
	tcase_add_test(tc, open_from_a_threaded_host);
	tcase_add_loop_test(tc, one_call_at_a_time, 1, 3);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("master death");
	tcase_add_test(tc, workers_leave_when_idle_master_is_killed);
	tcase_add_test(tc, workers_leave_when_busy_master_is_killed);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
