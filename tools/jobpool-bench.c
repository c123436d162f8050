/*
 * jobpool-bench - the benchmark driver. One JSON object per line per
 * workload run, every result checked against a reference computed in the
 * calling process.
 *
 *   jobpool-bench [--jobs N] [--n N] [--repeat R] [--backend B]
 *                 [--engine E] [--wait W] [--spin S] [--dir DIR] WORKLOAD
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <signal.h>

#include <jobpool.h>

#include "kernels/gemm.h"
#include "pool.h" /* chaos reads the call's slots and the janitor's pid */
#include "status.h" /* chaos reads /proc/PID/stat as jobpool-inspect does */

/* f(k) = 2k over the task's range: the cheapest task there is, so what is
 * measured is the pool. */
static int bench_double(jp_task *t)
{
	size_t b = jp_task_begin(t), e = jp_task_end(t);
	int64_t *out = jp_task_result_alloc(t, (e - b) * sizeof *out);
	if (!out)
		return jp_task_fail(t, "out of memory");
	for (size_t k = b; k < e; k++)
		out[k - b] = 2 * (int64_t)k;
	return 0;
}
JP_TASK(bench_double);

struct config {
	int jobs;
	size_t n;
	int repeat;
	const char *backend;
	size_t size;      /* bytes, for memmap */
	jp_dtype dtype;   /* for matmul */
	bool n_given;     /* --n was given: workloads pick their own default */
	const char *wait; /* wait_policy; NULL: the library's default */
	double spin;      /* spin_s; 0: the library's default */
	const char *batch_size; /* the pool's batch_size; NULL: its default */
	long kill_every_ms; /* chaos */
	const char *dir;    /* memory: where the cache's folder goes; NULL: $TMPDIR or /tmp */
	int retries;        /* chaos */
};

/* The options every workload's pool shares. */
static jp_options bench_options(const struct config *cfg)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = cfg->jobs;
	opt.backend = cfg->backend;
	if (cfg->wait)
		opt.wait_policy = cfg->wait;
	opt.spin_s = cfg->spin;
	if (cfg->batch_size)
		opt.batch_size = cfg->batch_size;
	return opt;
}

/* What the JSON says about the pool's waiting: its engine and policy. */
static void print_wait(const struct config *cfg, const jp_pool *pool)
{
	jp_options def = JP_OPTIONS_INIT;
	printf(", \"engine\": \"%s\", \"wait_policy\": \"%s\"", jp_pool_io_engine(pool),
	       cfg->wait ? cfg->wait : def.wait_policy);
	if (cfg->spin > 0)
		printf(", \"spin_s\": %.9f", cfg->spin);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The fields every workload prints: its timings (sorted here) and what ran
 * them. The caller adds its own fields and ends the line with "}\n". */
static double print_head(const char *workload, const char *backend, int n_jobs, size_t n,
			 double *t, int repeat)
{
	double med = median(t, repeat);
	printf("{\"workload\": \"%s\", \"backend\": \"%s\", \"n_jobs\": %d, \"n\": %zu, "
	       "\"repeat\": %d, \"median_s\": %.9f, \"min_s\": %.9f, \"max_s\": %.9f, \"ok\": true",
	       workload, n_jobs > 1 ? backend : "sequential", n_jobs, n, repeat, med, t[0],
	       t[repeat - 1]);
	return med;
}

static void print_failed(const char *workload, const char *backend, int n_jobs, size_t n)
{
	printf("{\"workload\": \"%s\", \"backend\": \"%s\", \"n_jobs\": %d, \"n\": %zu, \"ok\": false}\n",
	       workload, n_jobs > 1 ? backend : "sequential", n_jobs, n);
}

/* Pin the calling thread to the n-th CPU of `allowed`; false if none. */
static bool pin_to_nth(const cpu_set_t *allowed, int n)
{
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, allowed) && n-- == 0) {
			cpu_set_t one;
			CPU_ZERO(&one);
			CPU_SET(cpu, &one);
			return sched_setaffinity(0, sizeof one, &one) == 0;
		}
	return false;
}

/* The hardware's floor for a call: the median round trip of one byte
 * between two processes over a pair of pipes. The two are pinned to two
 * different CPUs where there are two, because a round trip within one CPU
 * is several times cheaper and the scheduler picks either at random. */
static double pipe_rtt(int rounds)
{
	int ping[2], pong[2];
	if (pipe(ping) || pipe(pong))
		return -1;
	cpu_set_t allowed;
	bool pinned = sched_getaffinity(0, sizeof allowed, &allowed) == 0 &&
		      CPU_COUNT(&allowed) >= 2;
	pid_t pid = fork();
	if (pid == 0) {
		if (pinned)
			pin_to_nth(&allowed, 1);
		char c;
		close(ping[1]);
		close(pong[0]);
		while (read(ping[0], &c, 1) == 1)
			if (write(pong[1], &c, 1) != 1)
				break;
		_exit(0);
	}
	close(ping[0]);
	close(pong[1]);
	if (pinned)
		pin_to_nth(&allowed, 0);
	double *t = malloc(sizeof *t * (size_t)rounds);
	char c = 'x';
	int ok = 0;
	for (int i = 0; i < rounds; i++) {
		double t0 = now();
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
			break;
		t[ok++] = now() - t0;
	}
	close(ping[1]);
	close(pong[0]);
	waitpid(pid, NULL, 0);
	if (pinned)
		sched_setaffinity(0, sizeof allowed, &allowed);
	double m = ok ? median(t, ok) : -1;
	free(t);
	return m;
}

/* The floor for a call of the active wait between processes: the master
 * hands a sequence number to each of `workers` processes through its own
 * cache line and waits until every one has handed it back, all of them
 * spinning as a pool's processes do (one look, then sched_yield, where the
 * processes outnumber the CPUs, else JP__SPIN_LOOKS looks between yields).
 * No frame, no bookkeeping: what the scheduler and the cache lines cost.
 * The median of `rounds`, in seconds; -1 if it cannot run. */
#define HANDOFF_LOOKS 256 /* lane.h's JP__SPIN_LOOKS */
struct handoff_line {
	_Alignas(64) uint64_t go;
	_Alignas(64) uint64_t done;
};

static void handoff_wait(const volatile uint64_t *v, uint64_t want, bool yields)
{
	for (;;) {
		for (int i = 0; i < (yields ? 1 : HANDOFF_LOOKS); i++)
			if (__atomic_load_n(v, __ATOMIC_ACQUIRE) == want)
				return;
		sched_yield();
	}
}

static double spin_handoff(int workers, int rounds)
{
	if (workers < 1)
		return -1;
	size_t bytes = sizeof(struct handoff_line) * (size_t)workers;
	struct handoff_line *l = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (l == MAP_FAILED)
		return -1;
	bool yields = workers + 1 > jp_cpu_count();
	pid_t *pid = calloc((size_t)workers, sizeof *pid);
	double *t = malloc(sizeof *t * (size_t)rounds);
	int started = 0;
	for (; pid && t && started < workers; started++) {
		pid[started] = fork();
		if (pid[started] < 0)
			break;
		if (pid[started] == 0) {
			/* until the master kills it */
			for (uint64_t seq = 1;; seq++) {
				handoff_wait(&l[started].go, seq, yields);
				__atomic_store_n(&l[started].done, seq, __ATOMIC_RELEASE);
			}
		}
	}
	int ok = 0;
	for (uint64_t seq = 1; started == workers && ok < rounds; seq++) {
		double t0 = now();
		for (int i = 0; i < workers; i++)
			__atomic_store_n(&l[i].go, seq, __ATOMIC_RELEASE);
		for (int i = 0; i < workers; i++)
			handoff_wait(&l[i].done, seq, yields);
		t[ok++] = now() - t0;
	}
	for (int i = 0; i < started; i++) {
		kill(pid[i], SIGKILL);
		waitpid(pid[i], NULL, 0);
	}
	double m = ok == rounds ? median(t, ok) : -1;
	free(t);
	free(pid);
	munmap(l, bytes);
	return m;
}

/* OpenMP's threads spin a while after a region before they sleep (libgomp:
 * 300,000 PAUSE loops, some 16 ms here): let them stop, or they take the
 * CPUs from the pool timed next. With the active wait that costs the pool
 * more than the CPU time: a worker that yields to a thread that does not
 * yield back waits for the scheduler's slice (doc/performance.md). */
static void openmp_quiet(void)
{
#ifdef _OPENMP
	struct timespec idle = { 0, 100 * 1000 * 1000 };
	nanosleep(&idle, NULL);
#endif
}

/* An empty OpenMP parallel region on `threads` threads, the median of many:
 * what OpenMP's spinning threads make a fork-join cost on this machine. */
static double omp_region(int threads, int rounds)
{
#ifdef _OPENMP
	double *t = malloc(sizeof *t * (size_t)rounds);
	volatile int sink = 0;
	for (int i = -100; i < rounds; i++) { /* the first regions start the threads */
		double t0 = now();
#pragma omp parallel num_threads(threads)
		{
			sink = 1;
		}
		if (i >= 0)
			t[i] = now() - t0;
	}
	(void)sink;
	double m = median(t, rounds);
	free(t);
	openmp_quiet();
	return m;
#else
	(void)threads, (void)rounds;
	return -1;
#endif
}

static int run_overhead(const struct config *cfg)
{
	double rtt = pipe_rtt(2000);
	int omp_threads = jp_effective_n_jobs(cfg->jobs);
	double handoff = spin_handoff(omp_threads, 2000);
	double omp = omp_region(omp_threads > 0 ? omp_threads : 1, 2000);
	jp_options opt = bench_options(cfg);
	jp_pool *pool;
	int err = jp_pool_open(&pool, &opt);
	if (err) {
		fprintf(stderr, "jobpool-bench: cannot open the pool: %s\n", jp_pool_errmsg(NULL));
		return 1;
	}
	double *t = malloc(sizeof *t * (size_t)cfg->repeat);
	bool ok = true;
	/* one call first: the pool is warm when timing starts */
	for (int i = -1; i < cfg->repeat && ok; i++) {
		jp_call *c;
		double t0 = now();
		if ((err = jp_map_new(&c, pool, "bench_double", cfg->n)) || (err = jp_call_run(c))) {
			fprintf(stderr, "jobpool-bench: call failed: %s\n", jp_pool_errmsg(pool));
			ok = false;
			jp_call_free(c);
			break;
		}
		const void *data = NULL;
		size_t len = 0;
		err = jp_call_output(c, &data, &len);
		double t1 = now();
		const int64_t *v = data;
		ok = !err && len == cfg->n * sizeof *v;
		for (size_t k = 0; ok && k < cfg->n; k++)
			ok = v[k] == 2 * (int64_t)k;
		double t2 = now();
		jp_call_free(c);
		if (i >= 0)
			t[i] = (t1 - t0) + (now() - t2);
	}
	int n_jobs = jp_pool_n_jobs(pool);
	if (ok) {
		double med = print_head("overhead", cfg->backend, n_jobs, cfg->n, t, cfg->repeat);
		print_wait(cfg, pool);
		printf(", \"batch_size\": \"%s\"", cfg->batch_size ? cfg->batch_size : "auto");
		printf(", \"per_task_us\": %.6f, \"pipe_rtt_s\": %.9f",
		       med / (double)(cfg->n ? cfg->n : 1) * 1e6, rtt);
		if (omp >= 0)
			printf(", \"omp_region_s\": %.9f", omp);
		if (handoff >= 0)
			printf(", \"spin_handoff_s\": %.9f", handoff);
		printf("}\n");
	}
	jp_pool_close(pool);
	if (!ok) {
		print_failed("overhead", cfg->backend, n_jobs, cfg->n);
	}
	free(t);
	return ok ? 0 : 1;
}

/* ---- memmap ------------------------------------------------------------ */

#define MEMMAP_COLS 1024

/* The sum of the task's rows of a rows x 1024 float64 array. */
static int bench_row_sum(jp_task *t)
{
	jp_array a;
	if (jp_task_arg_array(t, 0, &a))
		return jp_task_fail(t, "no array argument");
	const double *d = a.data;
	size_t i = jp_task_begin(t) * a.shape[1], end = jp_task_end(t) * a.shape[1];
	/* eight independent sums, so the loop runs at memory speed rather than
	 * at the latency of one chain of additions */
	double s[8] = { 0 };
	for (; i + 8 <= end; i += 8)
		for (int k = 0; k < 8; k++)
			s[k] += d[i + k];
	for (; i < end; i++)
		s[0] += d[i];
	double total = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
	return jp_task_set_result(t, &total, sizeof total);
}
JP_TASK(bench_row_sum);

/* Values whose sums are exact in double at any size we run. */
static void fill_values(double *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = (double)(i & 7);
}

static double expected_sum(size_t n)
{
	return (double)(n / 8) * 28.0 + (double)((n % 8) * (n % 8 - 1) / 2);
}

/* One call summing every row of `a`; false if it failed or summed wrong. */
static bool sum_call(jp_pool *pool, const jp_array *a, double *seconds)
{
	double t0 = now();
	jp_call *c;
	const void *out;
	size_t len;
	bool ok = jp_map_new(&c, pool, "bench_row_sum", a->shape[0]) == 0 &&
		  jp_call_arg_array(c, a) == 0 && jp_call_run(c) == 0 &&
		  jp_call_output(c, &out, &len) == 0;
	double s = 0;
	for (size_t i = 0; ok && i < len / sizeof s; i++)
		s += ((const double *)out)[i];
	if (!ok)
		fprintf(stderr, "jobpool-bench: memmap call failed: %s\n", jp_pool_errmsg(pool));
	jp_call_free(c);
	*seconds = now() - t0;
	return ok && s == expected_sum(a->shape[0] * a->shape[1]);
}

/* Proportional set size of a process, from /proc/PID/smaps_rollup. */
static long long pss_bytes(int pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
	FILE *f = fopen(path, "r");
	long long kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "Pss: %lld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

static long long pss_total(jp_pool *pool)
{
	long long total = pss_bytes((int)getpid());
	for (int s = 0; s < jp_pool_n_jobs(pool) && jp_pool_n_jobs(pool) > 1; s++)
		total += pss_bytes(jp_pool_worker_pid(pool, s));
	return total;
}

/* The floor for any dump: one write() of the bytes into a fresh file in
 * the same folder. */
static double write_floor(const char *dir, const void *p, size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/bench-write-XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	double t0 = now();
	const char *q = p;
	size_t left = len;
	while (left) {
		ssize_t n = write(fd, q, left);
		if (n <= 0)
			break;
		q += n;
		left -= (size_t)n;
	}
	double t = now() - t0;
	close(fd);
	unlink(path);
	return left ? -1 : t;
}

static double memcpy_floor(const void *p, size_t len)
{
	void *q = malloc(len);
	if (!q)
		return -1;
	double t0 = now();
	memcpy(q, p, len);
	double t = now() - t0;
	/* keep the copy from being optimised away */
	volatile unsigned char sink = ((unsigned char *)q)[len / 2];
	(void)sink;
	free(q);
	return t;
}

struct memmap_run {
	double share, reuse, reshare, write, memcpy, alloc_shared;
	long long pss;
	bool ok;
};

static jp_pool *memmap_pool(const struct config *cfg)
{
	jp_options opt = bench_options(cfg);
	jp_pool *pool;
	if (jp_pool_open(&pool, &opt)) {
		fprintf(stderr, "jobpool-bench: cannot open the pool: %s\n", jp_pool_errmsg(NULL));
		return NULL;
	}
	/* make the pool's folder, where the write floor is measured too */
	jp_array tiny;
	size_t one = 1;
	if (jp_array_alloc_shared(pool, JP_FLOAT64, 1, &one, &tiny) == 0)
		jp_array_release(&tiny);
	return pool;
}

/* One repeat. Each path is timed on a pool of its own, opened for it: a
 * pool recycles the pages of released files, and a first share must find
 * none. reshare_s is that recycling at work. */
static bool memmap_once(const struct config *cfg, size_t rows, bool floors_first,
			struct memmap_run *r, int *n_jobs)
{
	size_t n = rows * MEMMAP_COLS, bytes = n * sizeof(double);
	jp_pool *pool = memmap_pool(cfg);
	double *src = malloc(bytes);
	if (!pool || !src) {
		free(src);
		jp_pool_close(pool);
		return false;
	}
	*n_jobs = jp_pool_n_jobs(pool);
	const char *folder = jp_pool_temp_folder(pool) ? jp_pool_temp_folder(pool) : "/tmp";
	fill_values(src, n); /* the caller's data: its pages exist */
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 2, .shape = { rows, MEMMAP_COLS }, .data = src };

	/* The floors, in the same folder and the same run. Whatever fills
	 * fresh tmpfs pages second finds pages the first one freed, which is
	 * faster: runs alternate the order so neither side gains. */
	if (floors_first) {
		r->write = write_floor(folder, src, bytes);
		r->memcpy = memcpy_floor(src, bytes);
	}
	/* share once, then a call; a second call reuses the shared file */
	jp_array sh;
	double t0 = now(), t_call;
	bool ok = jp_share(pool, &a, &sh) == 0;
	double t_dump = now() - t0;
	ok = ok && sum_call(pool, &sh, &t_call);
	r->share = now() - t0;
	if (getenv("JOBPOOL_BENCH_DEBUG"))
		fprintf(stderr, "  share = dump %.3f + first call %.3f\n", t_dump, t_call);
	if (!floors_first) {
		/* the share keeps its pages: measure beside it */
		r->write = write_floor(folder, src, bytes);
		r->memcpy = memcpy_floor(src, bytes);
	}
	ok = ok && sum_call(pool, &sh, &r->reuse);
	jp_array_release(&sh);
	/* the same again, into the released file's pages */
	t0 = now();
	ok = ok && jp_share(pool, &a, &sh) == 0 && sum_call(pool, &sh, &t_call);
	r->reshare = now() - t0;
	free(src); /* the shared copy replaces the caller's */
	r->pss = pss_total(pool);
	jp_array_release(&sh);
	jp_pool_close(pool);

	/* zero copy: the data made in shared memory, then a call */
	if (!(pool = memmap_pool(cfg)))
		return false;
	jp_array z;
	size_t shape[2] = { rows, MEMMAP_COLS };
	t0 = now();
	ok = ok && jp_array_alloc_shared(pool, JP_FLOAT64, 2, shape, &z) == 0;
	if (ok)
		fill_values(z.data, n);
	ok = ok && sum_call(pool, &z, &t_call);
	r->alloc_shared = now() - t0;
	if (ok)
		jp_array_release(&z);
	jp_pool_close(pool);
	r->ok = ok && r->write >= 0 && r->memcpy >= 0;
	return r->ok;
}

static int cmp_run_field(const void *a, const void *b)
{
	return cmp_double(a, b);
}

static double median_of(struct memmap_run *runs, int n, size_t field)
{
	double v[64];
	for (int i = 0; i < n; i++)
		v[i] = *(double *)((char *)&runs[i] + field);
	qsort(v, (size_t)n, sizeof *v, cmp_run_field);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int run_memmap(const struct config *cfg)
{
	size_t rows = cfg->size / (MEMMAP_COLS * sizeof(double));
	if (rows == 0) {
		fprintf(stderr, "jobpool-bench: memmap --size must be at least %zu bytes\n",
			MEMMAP_COLS * sizeof(double));
		return 2;
	}
	int repeat = cfg->repeat > 64 ? 64 : cfg->repeat;
	struct memmap_run runs[64];
	/* A VM backs a guest page on its first touch, at a fraction of the
	 * speed of a page it backed before: touch what the runs will use once,
	 * so the figures are about jobpool and not about the hypervisor. */
	size_t warm = 4 * (rows * MEMMAP_COLS * sizeof(double));
	char *w = malloc(warm);
	if (w) {
		memset(w, 1, warm);
		free(w);
	}
	bool ok = true;
	int n_jobs = 0;
	for (int i = 0; i < repeat && ok; i++) {
		ok = memmap_once(cfg, rows, i % 2 == 0, &runs[i], &n_jobs);
		if (getenv("JOBPOOL_BENCH_DEBUG"))
			fprintf(stderr, "run %d: share %.3f reuse %.3f reshare %.3f write %.3f memcpy %.3f alloc_shared %.3f\n",
				i, runs[i].share, runs[i].reuse, runs[i].reshare, runs[i].write, runs[i].memcpy,
				runs[i].alloc_shared);
	}
	size_t bytes = rows * MEMMAP_COLS * sizeof(double);
	if (ok) {
		double shares[64];
		for (int i = 0; i < repeat; i++)
			shares[i] = runs[i].share;
		double pss[64];
		for (int i = 0; i < repeat; i++)
			pss[i] = (double)runs[i].pss;
		/* median_s and its range are share_s's */
		double share = print_head("memmap", cfg->backend, n_jobs, rows, shares, repeat);
		printf(", \"array_bytes\": %zu, \"share_s\": %.6f, \"reuse_s\": %.6f, \"reshare_s\": %.6f, "
		       "\"write_s\": %.6f, \"memcpy_s\": %.6f, \"alloc_shared_s\": %.6f, "
		       "\"pss_total_bytes\": %lld}\n",
		       bytes, share, median_of(runs, repeat, offsetof(struct memmap_run, reuse)),
		       median_of(runs, repeat, offsetof(struct memmap_run, reshare)),
		       median_of(runs, repeat, offsetof(struct memmap_run, write)),
		       median_of(runs, repeat, offsetof(struct memmap_run, memcpy)),
		       median_of(runs, repeat, offsetof(struct memmap_run, alloc_shared)),
		       (long long)median(pss, repeat));
	} else {
		print_failed("memmap", cfg->backend, n_jobs, rows);
	}
	return ok ? 0 : 1;
}

/* ---- memory ------------------------------------------------------------- */

/* Block i of the memory workload: `words` float64 values of a formula, so
 * that a wrong block (or another block's bytes) is seen. */
static double block_value(int64_t i, size_t k)
{
	return (double)i * 0.25 + (double)k * 0.5;
}

static int bench_block(jp_task *t)
{
	int64_t i, words;
	if (jp_task_arg_i64(t, 0, &i) || jp_task_arg_i64(t, 1, &words) || words < 0)
		return jp_task_fail(t, "bench_block takes (i, words)");
	double *out = jp_task_result_alloc(t, (size_t)words * sizeof *out);
	if (!out)
		return jp_task_fail(t, "out of memory");
	for (size_t k = 0; k < (size_t)words; k++)
		out[k] = block_value(i, k);
	return 0;
}
JP_TASK(bench_block);

/* A call of n blocks through the cache (none: mem NULL); its time
 * (building, running; the results are checked after the clock stops). */
static bool memory_call(jp_pool *pool, jp_memory *mem, size_t n, size_t words, double *seconds)
{
	jp_call *c;
	double t0 = now();
	bool ok = jp_call_new(&c, pool) == 0 && jp_call_set_memory(c, mem) == 0;
	for (size_t i = 0; ok && i < n; i++)
		ok = jp_call_add(c, "bench_block") >= 0 && jp_call_arg_i64(c, (int64_t)i) == 0 &&
		     jp_call_arg_i64(c, (int64_t)words) == 0;
	ok = ok && jp_call_run(c) == 0;
	*seconds = now() - t0;
	for (size_t i = 0; ok && i < n; i++) {
		const void *d;
		size_t len;
		ok = jp_call_result(c, i, &d, &len) == 0 && len == words * sizeof(double);
		for (size_t k = 0; ok && k < words; k++)
			ok = ((const double *)d)[k] == block_value((int64_t)i, k);
	}
	if (!ok)
		fprintf(stderr, "jobpool-bench: memory: %s\n", c ? jp_pool_errmsg(pool) : "no call");
	jp_call_free(c);
	return ok;
}

/* The rate of the digest that keys the cache and checks its entries, on
 * `bytes` of resident memory. */
static double hash_rate(size_t bytes, int repeat)
{
	uint8_t *buf = malloc(bytes);
	double t[64];
	if (!buf)
		return -1;
	memset(buf, 7, bytes);
	jp__hasher *h;
	if (jp__hasher_new(&h)) {
		free(buf);
		return -1;
	}
	if (repeat > 64)
		repeat = 64;
	volatile uint64_t sink = 0;
	for (int r = 0; r < repeat; r++) {
		double t0 = now();
		jp__hasher_reset(h);
		jp__hasher_update(h, buf, bytes);
		sink ^= jp__hasher_digest(h).lo;
		t[r] = now() - t0;
	}
	(void)sink;
	jp__hasher_free(h);
	free(buf);
	return (double)bytes / median(t, repeat) * 1e-9;
}

static int run_memory(const struct config *cfg)
{
	size_t n = cfg->n_given ? cfg->n : 64, words = (8u << 20) / sizeof(double);
	const char *parent = cfg->dir ? cfg->dir : getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char top[4096], cache[4200];
	snprintf(top, sizeof top, "%s/jobpool-bench-memory.XXXXXX", parent);
	if (!mkdtemp(top)) {
		fprintf(stderr, "jobpool-bench: memory: mkdtemp %s: %s\n", top, strerror(errno));
		return 1;
	}
	snprintf(cache, sizeof cache, "%s/cache", top);
	jp_options opt = bench_options(cfg);
	jp_pool *pool = NULL;
	jp_memory *mem = NULL;
	if (jp_pool_open(&pool, &opt)) {
		fprintf(stderr, "jobpool-bench: cannot open the pool: %s\n", jp_pool_errmsg(NULL));
		rmdir(top);
		return 1;
	}
	if (jp_memory_open(&mem, cache, NULL)) {
		fprintf(stderr, "jobpool-bench: cannot open the cache: %s\n", jp_memory_errmsg(NULL));
		jp_pool_close(pool);
		rmdir(top);
		return 1;
	}
	int repeat = cfg->repeat > 64 ? 64 : cfg->repeat;
	double plain[64], cold[64], warm[64];
	bool ok = true;
	for (int r = 0; ok && r < repeat; r++) {
		/* the call without a cache, then from an empty cache, then again */
		ok = memory_call(pool, NULL, n, words, &plain[r]) && jp_memory_clear(mem) == 0 &&
		     memory_call(pool, mem, n, words, &cold[r]) && memory_call(pool, mem, n, words, &warm[r]);
		if (getenv("JOBPOOL_BENCH_DEBUG"))
			fprintf(stderr, "run %d: plain %.3f cold %.3f warm %.3f\n", r, plain[r], cold[r], warm[r]);
	}
	jp_memory_stats st;
	jp_memory_stats_get(mem, &st);
	/* every warm item a hit, every cold one computed and stored */
	ok = ok && st.hits == (uint64_t)repeat * n && st.misses == (uint64_t)repeat * n &&
	     st.stored == (uint64_t)repeat * n && st.corrupt == 0;
	int n_jobs = jp_pool_n_jobs(pool);
	double gbps = ok ? hash_rate(256u << 20, repeat) : -1;
	if (ok) {
		double c_s = median(cold, repeat);
		/* median_s and its range are warm_s's */
		double w_s = print_head("memory", cfg->backend, n_jobs, n, warm, repeat);
		printf(", \"result_bytes\": %zu, \"cold_s\": %.6f, \"warm_s\": %.6f, \"cold_over_warm\": %.1f, "
		       "\"no_cache_s\": %.6f, \"hash_gbps\": %.2f, \"cache_parent\": \"%s\"}\n",
		       n * words * sizeof(double), c_s, w_s, c_s / w_s, median(plain, repeat), gbps, parent);
	} else {
		print_failed("memory", cfg->backend, n_jobs, n);
	}
	jp_memory_clear(mem);
	jp_memory_close(mem);
	jp_pool_close(pool);
	rmdir(cache);
	rmdir(top);
	return ok ? 0 : 1;
}

/* ---- matmul and dot ----------------------------------------------------- */

static const char *dtype_str(jp_dtype t)
{
	return t == JP_INT32 ? "int32" : t == JP_INT64 ? "int64" : t == JP_FLOAT32 ? "float32" : "float64";
}

/* Values 0..9, as the seeds; for floats the same values as doubles. */
static void fill_digits(jp_array *a, uint64_t seed)
{
	size_t n = a->shape[0] * a->shape[1];
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		int v = (int)((seed >> 33) % 10);
		switch (a->dtype) {
		case JP_INT32: ((int32_t *)a->data)[i] = v; break;
		case JP_INT64: ((int64_t *)a->data)[i] = v; break;
		case JP_FLOAT32: ((float *)a->data)[i] = (float)v; break;
		default: ((double *)a->data)[i] = v; break;
		}
	}
}

/* Sums of products of digits are exact in every dtype at these sizes. */
static bool same_result(const jp_array *x, const jp_array *y)
{
	return !memcmp(x->data, y->data, jp_array_nbytes(x));
}

static double elem(const jp_array *a, size_t i)
{
	switch (a->dtype) {
	case JP_INT32: return ((const int32_t *)a->data)[i];
	case JP_INT64: return (double)((const int64_t *)a->data)[i];
	case JP_FLOAT32: return ((const float *)a->data)[i];
	default: return ((const double *)a->data)[i];
	}
}

static void add_to_first(jp_array *a, double d)
{
	switch (a->dtype) {
	case JP_INT32: ((int32_t *)a->data)[0] += (int32_t)d; break;
	case JP_INT64: ((int64_t *)a->data)[0] += (int64_t)d; break;
	case JP_FLOAT32: ((float *)a->data)[0] += (float)d; break;
	default: ((double *)a->data)[0] += d; break;
	}
}

/* C = (A + d e0 e0')(B + d e0 e0') against the reference A·B: row 0 gains
 * d B[0, :], column 0 gains d A[:, 0], C[0, 0] also d^2. All exact: small
 * integers in every dtype. */
static bool same_result_bumped(const jp_array *c, const jp_array *ref, const jp_array *a,
			       const jp_array *b, double d)
{
	size_t m = c->shape[0], n = c->shape[1], k = a->shape[1];
	for (size_t i = 0; i < m; i++)
		for (size_t j = 0; j < n; j++) {
			double want = elem(ref, i * n + j);
			if (i == 0)
				want += d * elem(b, j);
			if (j == 0)
				want += d * elem(a, i * k);
			if (i == 0 && j == 0)
				want += d * d;
			if (elem(c, i * n + j) != want)
				return false;
		}
	return true;
}

static double time_matmul(jp_pool *pool, const jp_array *a, const jp_array *b, jp_array *c,
			  bool *ok)
{
	double t0 = now();
	int err = jp_matmul(pool, a, b, c);
	double t = now() - t0;
	if (err) {
		fprintf(stderr, "jobpool-bench: jp_matmul: %s\n", jp_pool_errmsg(pool));
		*ok = false;
	}
	return t;
}

/* The same row blocks as the pool, on OpenMP threads in this process. */
static double omp_matmul(const jp_array *a, const jp_array *b, jp_array *c, int threads)
{
#ifdef _OPENMP
	size_t m = a->shape[0], k = a->shape[1], n = b->shape[1], es = jp_dtype_size(a->dtype);
	size_t blocks = (size_t)threads * 4, rows = (m + blocks - 1) / blocks;
	double t0 = now();
#pragma omp parallel for num_threads(threads) schedule(dynamic)
	for (size_t blk = 0; blk < blocks; blk++) {
		size_t r0 = blk * rows, r1 = r0 + rows < m ? r0 + rows : m;
		if (r0 < r1)
			jp__gemm(a->dtype, r1 - r0, n, k, (const uint8_t *)a->data + r0 * k * es, k, b->data,
				 n, (uint8_t *)c->data + r0 * n * es, n);
	}
	return now() - t0;
#else
	(void)a, (void)b, (void)c, (void)threads;
	return -1;
#endif
}

static int run_matmul(const struct config *cfg)
{
	size_t n = cfg->n_given ? cfg->n : 1000;
	jp_options opt = bench_options(cfg);
	jp_pool *pool;
	if (jp_pool_open(&pool, &opt)) {
		fprintf(stderr, "jobpool-bench: cannot open the pool: %s\n", jp_pool_errmsg(NULL));
		return 1;
	}
	int n_jobs = jp_pool_n_jobs(pool);
	jp_dtype t = cfg->dtype;
	size_t es = jp_dtype_size(t), bytes = n * n * es;
	size_t shape[2] = { n, n };
	jp_array a = { .dtype = t, .ndim = 2, .shape = { n, n } }, b = a, ref = a, plain_c = a;
	if (posix_memalign(&a.data, 64, bytes) || posix_memalign(&b.data, 64, bytes) ||
	    posix_memalign(&ref.data, 64, bytes) || posix_memalign(&plain_c.data, 64, bytes)) {
		fprintf(stderr, "jobpool-bench: out of memory\n");
		return 1;
	}
	fill_digits(&a, 1);
	fill_digits(&b, 2);
	/* the reference: the kernel on one core, here */
	jp__blas_set_threads(1);
	jp__gemm(t, n, n, n, a.data, n, b.data, n, ref.data, n);

	/* A, B and C shared, for the zero-copy figure */
	jp_array sa, sb, sc;
	bool ok = jp_share(pool, &a, &sa) == 0 && jp_share(pool, &b, &sb) == 0 &&
		  jp_array_alloc_shared(pool, t, 2, shape, &sc) == 0;
	int repeat = cfg->repeat > 64 ? 64 : cfg->repeat;
	double t_pool[64], t_fresh[64], t_shared[64], t_pipe[64], t_seq[64], t_omp[64], t_blas[64];
	bool have_omp = true, have_blas = t == JP_FLOAT32 || t == JP_FLOAT64;
	for (int r = 0; ok && r < repeat; r++) {
		/* interleaved, so drift of the machine touches every method alike */
		jp_array c = { .data = NULL };
		t_pool[r] = time_matmul(pool, &a, &b, &c, &ok); /* plain A, B; C made shared */
		ok = ok && same_result(&c, &ref);
		jp_array_release(&c);
		/* A and B with bytes no earlier call had: dumped in full, where
		 * the call above found its dumps of the same bytes kept */
		double bump = r + 1;
		add_to_first(&a, bump);
		add_to_first(&b, bump);
		t_fresh[r] = time_matmul(pool, &a, &b, &c, &ok);
		add_to_first(&a, -bump);
		add_to_first(&b, -bump);
		ok = ok && same_result_bumped(&c, &ref, &a, &b, bump);
		jp_array_release(&c);
		t_shared[r] = time_matmul(pool, &sa, &sb, &sc, &ok);
		ok = ok && same_result(&sc, &ref);
		memset(plain_c.data, 0, bytes);
		t_pipe[r] = time_matmul(pool, &a, &b, &plain_c, &ok); /* rows over the pipes */
		ok = ok && same_result(&plain_c, &ref);
		double t0 = now();
		jp__gemm(t, n, n, n, a.data, n, b.data, n, plain_c.data, n);
		t_seq[r] = now() - t0;
		t_omp[r] = omp_matmul(&a, &b, &plain_c, n_jobs);
		openmp_quiet(); /* before the next round's pool calls */
		have_omp = have_omp && t_omp[r] >= 0;
		ok = ok && (!have_omp || same_result(&plain_c, &ref));
		if (have_blas) {
			jp__blas_set_threads(jp_cpu_count());
			t0 = now();
			jp__gemm(t, n, n, n, a.data, n, b.data, n, plain_c.data, n);
			t_blas[r] = now() - t0;
			jp__blas_set_threads(1);
		}
		/* OpenMP's and OpenBLAS's threads spin for a while after their
		 * work before they sleep (OpenBLAS for about 2^28 cycles): let
		 * them go idle, or they take the cores from the next method */
		struct timespec idle = { 0, 300 * 1000 * 1000 };
		nanosleep(&idle, NULL);
	}
	if (ok) {
		double med = print_head("matmul", cfg->backend, n_jobs, n, t_pool, repeat);
		print_wait(cfg, pool);
		printf(", \"dtype\": \"%s\", \"kernel\": \"%s\", \"gflops\": %.2f, "
		       "\"fresh_median_s\": %.6f, \"shared_median_s\": %.6f, \"pipe_median_s\": %.6f, "
		       "\"seq_median_s\": %.6f",
		       dtype_str(t), jp__gemm_impl(t), 2.0 * (double)n * n * n / med / 1e9,
		       median(t_fresh, repeat), median(t_shared, repeat), median(t_pipe, repeat), median(t_seq, repeat));
		if (have_omp)
			printf(", \"omp_median_s\": %.6f", median(t_omp, repeat));
		if (have_blas)
			printf(", \"blas_threads_median_s\": %.6f", median(t_blas, repeat));
		printf("}\n");
	} else {
		print_failed("matmul", cfg->backend, n_jobs, n);
	}
	jp_array_release(&sa);
	jp_array_release(&sb);
	jp_array_release(&sc);
	free(a.data);
	free(b.data);
	free(ref.data);
	free(plain_c.data);
	jp_pool_close(pool);
	return ok ? 0 : 1;
}

static int run_dot(const struct config *cfg)
{
	size_t n = cfg->n_given ? cfg->n : 1000;
	jp_options opt = bench_options(cfg), seq_opt = JP_OPTIONS_INIT;
	seq_opt.n_jobs = 1;
	jp_pool *pool, *seq;
	if (jp_pool_open(&pool, &opt) || jp_pool_open(&seq, &seq_opt)) {
		fprintf(stderr, "jobpool-bench: cannot open the pool: %s\n", jp_pool_errmsg(NULL));
		return 1;
	}
	/* the vectors allocated shared: the call moves no data */
	size_t shape[1] = { n };
	jp_array x, y;
	bool ok = jp_array_alloc_shared(pool, JP_FLOAT64, 1, shape, &x) == 0 &&
		  jp_array_alloc_shared(pool, JP_FLOAT64, 1, shape, &y) == 0;
	double expect = 0;
	for (size_t i = 0; ok && i < n; i++) {
		((double *)x.data)[i] = (double)(i % 10);
		((double *)y.data)[i] = (double)(i % 7);
		expect += (double)(i % 10) * (double)(i % 7);
	}
	int repeat = cfg->repeat > 1000 ? 1000 : cfg->repeat;
	double *tp = malloc(sizeof *tp * (size_t)repeat), *ts = malloc(sizeof *ts * (size_t)repeat);
	double r = 0;
	ok = ok && jp_dot(pool, &x, &y, &r) == 0 && r == expect; /* warm: workers map x and y */
	for (int i = 0; ok && i < repeat; i++) {
		double t0 = now();
		ok = jp_dot(pool, &x, &y, &r) == 0 && r == expect;
		tp[i] = now() - t0;
		t0 = now();
		ok = ok && jp_dot(seq, &x, &y, &r) == 0 && r == expect;
		ts[i] = now() - t0;
	}
	int n_jobs = jp_pool_n_jobs(pool);
	if (ok) {
		print_head("dot", cfg->backend, n_jobs, n, tp, repeat);
		printf(", \"seq_median_s\": %.9f}\n", median(ts, repeat));
	} else {
		print_failed("dot", cfg->backend, n_jobs, n);
	}
	free(tp);
	free(ts);
	jp_array_release(&x);
	jp_array_release(&y);
	jp_pool_close(seq);
	jp_pool_close(pool);
	return ok ? 0 : 1;
}

/* ---- poly ---------------------------------------------------------------- */

/* The seed's exercise: a·x³ + b·x² + c·x + d for every (a, b, c, d) of a
 * 10^4 grid of [0, 1] and 50 points x of [-2, 2]. Tuple k's coefficients are
 * its base-10 digits, each mapped to linspace(0, 1, 10). */
#define POLY_COEF 10
#define POLY_X 50

static void poly_tuples_range(size_t k0, size_t k1, const double *x, double *out)
{
	for (size_t k = k0; k < k1; k++) {
		double a = (double)(k / 1000 % 10) / 9, b = (double)(k / 100 % 10) / 9;
		double c = (double)(k / 10 % 10) / 9, d = (double)(k % 10) / 9;
		for (int i = 0; i < POLY_X; i++)
			out[(k - k0) * POLY_X + (size_t)i] = ((a * x[i] + b) * x[i] + c) * x[i] + d;
	}
}

static int bench_poly(jp_task *t)
{
	const void *x;
	size_t len;
	if (jp_task_arg_bytes(t, 0, &x, &len) || len != POLY_X * sizeof(double))
		return jp_task_fail(t, "expected the 50 points x");
	size_t k0 = jp_task_begin(t), k1 = jp_task_end(t);
	double *out = jp_task_result_alloc(t, (k1 - k0) * POLY_X * sizeof *out);
	if (!out)
		return jp_task_fail(t, "out of memory");
	poly_tuples_range(k0, k1, x, out);
	return 0;
}
JP_TASK(bench_poly);

static int run_poly(const struct config *cfg)
{
	size_t tuples = POLY_COEF * POLY_COEF * POLY_COEF * POLY_COEF;
	double x[POLY_X];
	for (int i = 0; i < POLY_X; i++)
		x[i] = -2.0 + 4.0 * i / (POLY_X - 1);
	jp_options opt = bench_options(cfg);
	jp_pool *pool;
	if (jp_pool_open(&pool, &opt)) {
		fprintf(stderr, "jobpool-bench: cannot open the pool: %s\n", jp_pool_errmsg(NULL));
		return 1;
	}
	size_t bytes = tuples * POLY_X * sizeof(double);
	double *ref = malloc(bytes), *seq_out = malloc(bytes);
	int repeat = cfg->repeat > 1000 ? 1000 : cfg->repeat;
	double *tp = malloc(sizeof *tp * (size_t)repeat), *ts = malloc(sizeof *ts * (size_t)repeat);
	bool ok = ref && seq_out && tp && ts;
	if (ok)
		poly_tuples_range(0, tuples, x, ref);
	for (int r = -1; ok && r < repeat; r++) { /* one untimed round first */
		double t0 = now();
		poly_tuples_range(0, tuples, x, seq_out);
		double t1 = now();
		jp_call *c;
		const void *out;
		size_t len;
		ok = jp_map_new(&c, pool, "bench_poly", tuples) == 0 &&
		     jp_call_arg_bytes(c, x, sizeof x) == 0 && jp_call_run(c) == 0 &&
		     jp_call_output(c, &out, &len) == 0 && len == bytes && !memcmp(out, ref, bytes) &&
		     !memcmp(seq_out, ref, bytes);
		jp_call_free(c);
		if (r >= 0) {
			ts[r] = t1 - t0;
			tp[r] = now() - t1;
		}
	}
	int n_jobs = jp_pool_n_jobs(pool);
	if (ok) {
		print_head("poly", cfg->backend, n_jobs, tuples, tp, repeat);
		printf(", \"seq_median_s\": %.9f}\n", median(ts, repeat));
	} else {
		print_failed("poly", cfg->backend, n_jobs, tuples);
	}
	free(ref);
	free(seq_out);
	free(tp);
	free(ts);
	jp_pool_close(pool);
	return ok ? 0 : 1;
}

/* ---- vectorize ---------------------------------------------------------- */

/* The fourth seed's sweep: y = x + x² + x³ on an N×N float32 matrix. The
 * pool and the caller run this one function, so their results agree bit
 * for bit. Vectorised as NumPy's x + x**2 + x**3 is (the tool is built
 * with OpenMP where the compiler has it; without, -O2 may leave it scalar). */
static void vec_rows(const float *restrict x, float *restrict y, size_t n)
{
#ifdef _OPENMP
#pragma omp simd
#endif
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] + x[i] * x[i] + x[i] * x[i] * x[i];
}

/* Arguments: 0 x, 1 y, both shared N×N; writes the task's rows of y in
 * place (the pool maps them "r+"). */
static int bench_vec_rows(jp_task *t)
{
	jp_array x, y;
	if (jp_task_arg_array(t, 0, &x) || jp_task_arg_array(t, 1, &y))
		return jp_task_fail(t, "expected x and y");
	if (y.flags & JP_ARRAY_READONLY)
		return jp_task_fail(t, "y is mapped read-only");
	size_t cols = x.shape[1], b = jp_task_begin(t), e = jp_task_end(t);
	vec_rows((const float *)x.data + b * cols, (float *)y.data + b * cols, (e - b) * cols);
	return 0;
}
JP_TASK(bench_vec_rows);

static int run_vectorize(const struct config *cfg)
{
	size_t n = cfg->n_given ? cfg->n : 1000;
	if (n == 0) {
		fprintf(stderr, "jobpool-bench: vectorize --n must be at least 1\n");
		return 2;
	}
	jp_options opt = bench_options(cfg);
	opt.mmap_mode = "r+"; /* the tasks write y in place */
	jp_pool *pool;
	if (jp_pool_open(&pool, &opt)) {
		fprintf(stderr, "jobpool-bench: cannot open the pool: %s\n", jp_pool_errmsg(NULL));
		return 1;
	}
	size_t shape[2] = { n, n }, len = n * n;
	jp_array x, y;
	bool have_x = jp_array_alloc_shared(pool, JP_FLOAT32, 2, shape, &x) == 0;
	bool have_y = have_x && jp_array_alloc_shared(pool, JP_FLOAT32, 2, shape, &y) == 0;
	int repeat = cfg->repeat > 1000 ? 1000 : cfg->repeat;
	float *ref = malloc(len * sizeof *ref), *seq_out = malloc(len * sizeof *seq_out);
	double *tp = malloc(sizeof *tp * (size_t)repeat), *ts = malloc(sizeof *ts * (size_t)repeat);
	bool ok = have_y && ref && seq_out && tp && ts;
	if (ok) {
		uint64_t state = 42;
		for (size_t i = 0; i < len; i++) {
			state = state * 6364136223846793005ull + 1442695040888963407ull;
			((float *)x.data)[i] = (float)(state >> 40) / (float)(1u << 24);
		}
		vec_rows(x.data, ref, len);
	}
	for (int r = -1; ok && r < repeat; r++) { /* one untimed round first */
		memset(y.data, 0xff, len * sizeof(float)); /* NaN: a row not written fails */
		double t0 = now();
		vec_rows(x.data, seq_out, len);
		double t1 = now();
		jp_call *c = NULL;
		ok = jp_map_new(&c, pool, "bench_vec_rows", n) == 0 && jp_call_arg_array(c, &x) == 0 &&
		     jp_call_arg_array(c, &y) == 0 && jp_call_run(c) == 0;
		jp_call_free(c);
		double t2 = now();
		if (!ok)
			fprintf(stderr, "jobpool-bench: vectorize call failed: %s\n", jp_pool_errmsg(pool));
		ok = ok && !memcmp(y.data, ref, len * sizeof(float)) &&
		     !memcmp(seq_out, ref, len * sizeof(float));
		if (r >= 0) {
			ts[r] = t1 - t0;
			tp[r] = t2 - t1;
		}
	}
	int n_jobs = jp_pool_n_jobs(pool);
	if (ok) {
		print_head("vectorize", cfg->backend, n_jobs, n, tp, repeat);
		printf(", \"seq_median_s\": %.9f}\n", median(ts, repeat));
	} else {
		print_failed("vectorize", cfg->backend, n_jobs, n);
	}
	free(ref);
	free(seq_out);
	free(tp);
	free(ts);
	if (have_y)
		jp_array_release(&y);
	if (have_x)
		jp_array_release(&x);
	jp_pool_close(pool);
	return ok ? 0 : 1;
}

/* ---- chaos: workers SIGKILLed at random while a call runs ------------ */

/* What the workers themselves saw, in memory shared with them (made before
 * the pool opens, so every worker, respawns included, is forked with it):
 * for each batch, indexed by its first item, how many times a worker
 * started it and the pids of the first CHAOS_PIDS that did. The verdict
 * checks the scheduler's account of the failures against this record and
 * the killer's list of the pids it killed. NULL outside chaos. */
#define CHAOS_PIDS 8
struct chaos_seen {
	uint32_t starts;
	int32_t pid[CHAOS_PIDS];
};
static struct chaos_seen *chaos_seen;

/* f(k) = k*k + 1 for the range, after about 0.1 ms of work per item. */
static int chaos_item(jp_task *t)
{
	size_t b = jp_task_begin(t), e = jp_task_end(t);
	if (chaos_seen) {
		struct chaos_seen *s = &chaos_seen[b];
		uint32_t k = __atomic_fetch_add(&s->starts, 1, __ATOMIC_RELAXED);
		if (k < CHAOS_PIDS)
			__atomic_store_n(&s->pid[k], (int32_t)getpid(), __ATOMIC_RELAXED);
	}
	int64_t *out = jp_task_result_alloc(t, (e - b) * sizeof *out);
	if (!out)
		return jp_task_fail(t, "out of memory");
	for (size_t k = b; k < e; k++) {
		double t0 = now();
		while (now() - t0 < 1e-4)
			;
		out[k - b] = (int64_t)(k * k) + 1;
	}
	return 0;
}
JP_TASK(chaos_item);

/* The killer: every `every_ms`, SIGKILL one child of `master` (a worker:
 * neither the janitor nor itself) at random; at SIGTERM, its kill count
 * and the pids it killed (the first CHAOS_KILLS) go down `report`. */
#define CHAOS_KILLS 65536
static volatile sig_atomic_t killer_stop;
static void on_term(int sig)
{
	(void)sig;
	killer_stop = 1;
}

static bool write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		len -= (size_t)w;
	}
	return true;
}

static bool read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t r = read(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		len -= (size_t)r;
	}
	return true;
}

static void killer(pid_t master, pid_t janitor, long every_ms, int report)
{
	static pid_t killed[CHAOS_KILLS];
	/* SIGTERM comes in only while it sleeps: once told to stop, it kills
	 * no more (a kill racing the master's next call would be blamed on it) */
	sigset_t term, sleeping;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &sleeping);
	sigdelset(&sleeping, SIGTERM);
	signal(SIGTERM, on_term);
	unsigned seed = (unsigned)getpid();
	long kills = 0;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)master, (int)master);
	while (!killer_stop) {
		struct timespec ts = { every_ms / 1000, (every_ms % 1000) * 1000000 };
		pselect(0, NULL, NULL, NULL, &ts, &sleeping);
		if (killer_stop)
			break;
		FILE *f = fopen(path, "r");
		if (!f)
			break;
		pid_t pids[256];
		int n = 0, pid;
		while (n < 256 && fscanf(f, "%d", &pid) == 1)
			if (pid != janitor && pid != getpid())
				pids[n++] = pid;
		fclose(f);
		if (n == 0)
			continue;
		pid = pids[rand_r(&seed) % n];
		if (kill(pid, SIGKILL) == 0) {
			if (kills < CHAOS_KILLS)
				killed[kills] = pid;
			kills++;
		}
	}
	size_t listed = (size_t)(kills < CHAOS_KILLS ? kills : CHAOS_KILLS);
	if (!write_all(report, &kills, sizeof kills) || !write_all(report, killed, listed * sizeof *killed))
		_exit(1);
	_exit(0);
}

/* Wait (up to a second in all) until the processes killed are dead: a
 * zombie, or reaped. Chaos is over only then; a worker still dying when
 * the next call starts would take that call's batch with it. */
static void wait_dead(const pid_t *pids, size_t n)
{
	double give_up = now() + 1;
	for (size_t i = 0; i < n; i++) {
		jp__proc_stat st;
		while (now() < give_up && jp__proc_stat_read((int)pids[i], &st) == 0 &&
		       st.state != 'Z' && st.state != 'X') {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
	}
}

static bool pid_killed(const pid_t *killed, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (killed[i] == pid)
			return true;
	return false;
}

static int zombies_of(pid_t parent)
{
	int z = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[300], state;
		int pid, ppid;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		/* the command may hold blanks and parentheses: read past the last ')' */
		char buf[512];
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *rp = strrchr(buf, ')');
		if (rp && sscanf(buf, "%d", &pid) == 1 && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 &&
		    ppid == parent && state == 'Z')
			z++;
	}
	if (d)
		closedir(d);
	return z;
}

static int files_in(const char *dir)
{
	int n = 0;
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* Does the call's error say that a worker the killer killed died by SIGKILL
 * running a failed batch, after its retries when it had any? */
static bool chaos_error_explained(jp_call *c, int retries, const pid_t *killed, size_t nkilled)
{
	size_t index;
	const char *msg;
	if (jp_call_error(c, &index, &msg) != JP_EWORKER || !msg)
		return false;
	const char *p = strstr(msg, "killed worker ");
	int slot, pid, end = 0;
	if (!p || sscanf(p, "killed worker %d (pid %d) by SIGKILL%n", &slot, &pid, &end) != 2 || !end)
		return false;
	bool after = strncmp(p + end, " (after retries)", 16) == 0;
	if (after != (retries > 0) || !pid_killed(killed, nkilled, (pid_t)pid))
		return false;
	for (size_t s = 0; s < c->nslots; s++)
		if (c->slots[s].begin <= index && index < c->slots[s].end)
			return c->slots[s].status == JP_EWORKER;
	return false;
}

static int run_chaos(const struct config *cfg)
{
	jp_options opt = bench_options(cfg);
	opt.retries = cfg->retries;
	opt.on_error = "continue"; /* every task runs: each is correct or reported */
	opt.max_nbytes = "1K";     /* and a shared array goes through the folder */
	size_t n = cfg->n;
	size_t seen_bytes = (n ? n : 1) * sizeof *chaos_seen;
	chaos_seen = mmap(NULL, seen_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (chaos_seen == MAP_FAILED) {
		chaos_seen = NULL;
		fprintf(stderr, "jobpool-bench: out of memory\n");
		return 1;
	}
	jp_pool *pool;
	if (jp_pool_open(&pool, &opt)) {
		fprintf(stderr, "jobpool-bench: cannot open the pool: %s\n", jp_pool_errmsg(NULL));
		return 1;
	}
	int n_jobs = jp_pool_n_jobs(pool);
	unsigned long spawned0 = jp_pool_spawn_count(pool);
	/* an array argument above max_nbytes, so that shared files are in play */
	jp_array bytes = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 4096 } };
	bytes.data = calloc(4096, sizeof(double));
	pid_t *killed = malloc(CHAOS_KILLS * sizeof *killed);
	int pipefd[2];
	if (!bytes.data || !killed || pipe(pipefd)) {
		fprintf(stderr, "jobpool-bench: out of resources\n");
		return 1;
	}
	pid_t master = getpid(), janitor = pool->share.janitor;
	pid_t k = fork();
	if (k == 0) {
		close(pipefd[0]);
		killer(master, janitor, cfg->kill_every_ms, pipefd[1]);
	}
	close(pipefd[1]);
	jp_call *c;
	double t0 = now();
	int rc = jp_map_new(&c, pool, "chaos_item", n);
	if (!rc)
		rc = jp_call_arg_array(c, &bytes);
	if (!rc)
		rc = jp_call_run(c);
	double took = now() - t0;
	kill(k, SIGTERM);
	long kills = 0;
	if (!read_all(pipefd[0], &kills, sizeof kills))
		kills = -1;
	size_t nkilled = kills > 0 ? (size_t)(kills < CHAOS_KILLS ? kills : CHAOS_KILLS) : 0;
	if (!read_all(pipefd[0], killed, nkilled * sizeof *killed))
		kills = -1, nkilled = 0;
	close(pipefd[0]);
	waitpid(k, NULL, 0);
	wait_dead(killed, nkilled);
	if (!c) {
		fprintf(stderr, "jobpool-bench: cannot make the call: %s\n", jp_pool_errmsg(pool));
		return 1;
	}
	/* every item: correct, or reported; and every report borne out by what
	 * the workers and the killer saw: a failed batch was started at most
	 * retries + 1 times, each time by a worker the killer then killed, and
	 * a batch that succeeded was started again only after such a death */
	int retries = cfg->retries;
	uint32_t most = (uint32_t)retries + 1;
	size_t ok = 0, wrong = 0, failed = 0, explained = 0, rerun_wrongly = 0, cancelled = 0, other = 0;
	size_t batches_failed = 0;
	for (size_t s = 0; s < c->nslots; s++) {
		const jp__slot *sl = &c->slots[s];
		size_t items = sl->end - sl->begin;
		const struct chaos_seen *seen = &chaos_seen[sl->begin];
		uint32_t starts = seen->starts, dead = starts;
		if (sl->status == 0 && dead)
			dead--; /* the last start is the one that finished */
		bool borne_out = starts <= most;
		for (uint32_t a = 0; a < dead && a < CHAOS_PIDS; a++)
			borne_out &= seen->pid[a] == 0 /* killed before it could note itself */ ||
				     pid_killed(killed, nkilled, seen->pid[a]);
		if (sl->status == 0) {
			const int64_t *v = (const int64_t *)sl->data;
			for (size_t i = 0; i < items; i++) {
				size_t kk = sl->begin + i;
				if (sl->len == items * sizeof *v && v[i] == (int64_t)(kk * kk) + 1)
					ok++;
				else
					wrong++;
			}
			if (!borne_out)
				rerun_wrongly += items;
		} else if (sl->status == JP_EWORKER) {
			failed += items;
			batches_failed++;
			if (borne_out)
				explained += items;
			else
				rerun_wrongly += items;
		} else if (sl->status == JP_ECANCELED) {
			cancelled += items;
		} else {
			other += items;
		}
	}
	size_t accounted = ok + wrong + failed + cancelled + other;
	/* the call's own error: the first failed batch, in words */
	bool error_explained = failed ? chaos_error_explained(c, retries, killed, nkilled) : rc == 0;
	/* each failed batch took retries + 1 deaths, each a kill of its own */
	bool kills_cover = kills >= 0 && (size_t)kills >= batches_failed * most;
	const char *why = NULL;
	if (jp_call_error(c, NULL, &why) && (!error_explained || accounted != n || cancelled + other))
		fprintf(stderr, "jobpool-bench: the chaos call failed: %s\n", why);
	jp_call_free(c);
	/* the pool is usable afterwards */
	jp_call *after;
	bool usable = jp_map_new(&after, pool, "bench_double", 1000) == 0 && jp_call_run(after) == 0;
	if (!usable)
		fprintf(stderr, "jobpool-bench: the call after the chaos failed: %s\n", jp_pool_errmsg(pool));
	jp_call_free(after);
	unsigned long respawns = jp_pool_spawn_count(pool) - spawned0;
	char folder[4096] = "";
	if (jp_pool_temp_folder(pool))
		snprintf(folder, sizeof folder, "%s", jp_pool_temp_folder(pool));
	jp_pool_close(pool);
	int leaked = folder[0] ? files_in(folder) + (access(folder, F_OK) == 0) : 0;
	int zombies = zombies_of(getpid());
	free(bytes.data);
	free(killed);
	munmap(chaos_seen, seen_bytes);
	chaos_seen = NULL;
	bool good = wrong == 0 && accounted == n && leaked == 0 && zombies == 0 && usable &&
		    (rc == 0 || rc == JP_EWORKER) && (rc == JP_EWORKER) == (failed > 0) &&
		    failed == explained && rerun_wrongly == 0 && error_explained && kills_cover;
	printf("{\"workload\": \"chaos\", \"backend\": \"%s\", \"n_jobs\": %d, \"n\": %zu, "
	       "\"ok\": %s, \"seconds\": %.3f, \"kill_every_ms\": %ld, \"retries\": %d, "
	       "\"tasks_ok\": %zu, \"tasks_failed\": %zu, \"tasks_failed_explained\": %zu, "
	       "\"batches_failed\": %zu, \"tasks_rerun_wrongly\": %zu, \"error_explained\": %s, "
	       "\"tasks_cancelled\": %zu, "
	       "\"results_wrong\": %zu, \"workers_killed\": %ld, \"kills_cover_failures\": %s, "
	       "\"respawns\": %lu, "
	       "\"leaked_files\": %d, \"zombies\": %d, \"pool_usable\": %s, \"call_status\": \"%s\"}\n",
	       cfg->backend, n_jobs, n, good ? "true" : "false", took, cfg->kill_every_ms, retries, ok,
	       failed, explained, batches_failed, rerun_wrongly, error_explained ? "true" : "false",
	       cancelled + other, wrong, kills, kills_cover ? "true" : "false", respawns, leaked,
	       zombies, usable ? "true" : "false", rc ? jp_strerror(rc) : "ok");
	return good ? 0 : 1;
}

static const struct workload {
	const char *name;
	const char *what;
	int (*run)(const struct config *);
} workloads[] = {
	{ "overhead", "calls of N trivial tasks f(k) = 2k on a warm pool, and the pipe round trip", run_overhead },
	{ "memmap", "an array of --size bytes shared with the workers, which sum its rows", run_memmap },
	{ "matmul", "C = A·B, N x N of --dtype (default 1000, float64), beside one core, OpenMP and the BLAS", run_matmul },
	{ "dot", "the dot product of two float64 vectors of N (default 1000), shared, beside one core", run_dot },
	{ "poly", "the seed's polynomial grid, 10^4 coefficient tuples x 50 points, beside one core", run_poly },
	{ "vectorize", "y = x + x^2 + x^3 on an N x N float32 matrix (default 1000), shared, rows written in place, beside one core", run_vectorize },
	{ "chaos", "N tasks of 0.1 ms with --retries while a worker is SIGKILLed every --kill-every-ms", run_chaos },
	{ "memory", "N (default 64) tasks of an 8 MiB float64 block through a result cache, cold then warm", run_memory },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: jobpool-bench [--jobs N] [--n N] [--repeat R] [--backend B]\n"
		   "                     [--engine E] [--wait W] [--spin S] WORKLOAD\n\n"
		   "  --jobs N      workers, as n_jobs (default 2; -1: all CPUs)\n"
		   "  --n N         tasks per call (default 10000)\n"
		   "  --repeat R    timed calls; the median is reported (default 5)\n"
		   "  --backend B   process, threading or sequential (default process)\n"
		   "  --size BYTES  the array for memmap (default 1073741824)\n"
		   "  --dtype T     int32, int64, float32 or float64, for matmul (default float64)\n"
		   "  --engine E    the master's I/O engine: uring or poll (sets JOBPOOL_IO)\n"
		   "  --wait W      the pool's wait_policy: active or passive (default: the library's)\n"
		   "  --spin S      the pool's spin_s, seconds (default: the library's)\n"
		   "  --batch-size B  the pool's batch_size: auto or a count (default auto)\n"
		   "  --kill-every-ms MS  chaos: a worker is killed this often (default 50)\n"
		   "  --retries R   chaos: reruns of a batch whose worker died (default 3)\n"
		   "  --dir DIR     memory: the cache's parent folder (default $TMPDIR or /tmp)\n\n"
		   "workloads:\n");
	for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
		fprintf(f, "  %-12s %s\n", workloads[i].name, workloads[i].what);
	fprintf(f, "\nOutput: one JSON object per line; \"ok\" says the result matched a reference computed in this process.\n");
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	struct config cfg = { .jobs = 2, .n = 10000, .repeat = 5, .backend = "process",
			      .size = 1ull << 30, .dtype = JP_FLOAT64, .kill_every_ms = 50,
			      .retries = 3 };
	static const struct option longopts[] = {
		{ "jobs", required_argument, NULL, 'j' },
		{ "n", required_argument, NULL, 'n' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "backend", required_argument, NULL, 'b' },
		{ "size", required_argument, NULL, 's' },
		{ "dtype", required_argument, NULL, 'd' },
		{ "engine", required_argument, NULL, 'E' },
		{ "wait", required_argument, NULL, 'W' },
		{ "spin", required_argument, NULL, 'S' },
		{ "batch-size", required_argument, NULL, 'B' },
		{ "kill-every-ms", required_argument, NULL, 'K' },
		{ "retries", required_argument, NULL, 'R' },
		{ "dir", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	long v;
	while ((c = getopt_long(argc, argv, "j:n:r:b:s:d:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'E':
			if (strcmp(optarg, "uring") && strcmp(optarg, "poll")) {
				fprintf(stderr, "jobpool-bench: --engine \"%s\": expected uring or poll\n", optarg);
				return 2;
			}
			/* the library reads it at jp_pool_open; it says which engine
			 * runs in the JSON, so a refused io_uring shows */
			setenv("JOBPOOL_IO", optarg, 1);
			break;
		case 'W':
			if (strcmp(optarg, "active") && strcmp(optarg, "passive")) {
				fprintf(stderr, "jobpool-bench: --wait \"%s\": expected active or passive\n", optarg);
				return 2;
			}
			cfg.wait = optarg;
			break;
		case 'S': {
			char *end;
			errno = 0;
			double sp = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(sp > 0 && sp <= 1)) {
				fprintf(stderr, "jobpool-bench: --spin \"%s\": expected seconds in (0, 1]\n", optarg);
				return 2;
			}
			cfg.spin = sp;
			break;
		}
		case 'j':
			if (!parse_long(optarg, -1024, 4096, &v) || v == 0) {
				fprintf(stderr, "jobpool-bench: --jobs \"%s\": expected a positive count or a negative n_jobs\n", optarg);
				return 2;
			}
			cfg.jobs = (int)v;
			break;
		case 'n':
			if (!parse_long(optarg, 0, 1L << 40, &v)) {
				fprintf(stderr, "jobpool-bench: --n \"%s\": expected a count >= 0\n", optarg);
				return 2;
			}
			cfg.n = (size_t)v;
			cfg.n_given = true;
			break;
		case 'd':
			if (!strcmp(optarg, "int32"))
				cfg.dtype = JP_INT32;
			else if (!strcmp(optarg, "int64"))
				cfg.dtype = JP_INT64;
			else if (!strcmp(optarg, "float32"))
				cfg.dtype = JP_FLOAT32;
			else if (!strcmp(optarg, "float64"))
				cfg.dtype = JP_FLOAT64;
			else {
				fprintf(stderr, "jobpool-bench: --dtype \"%s\": expected int32, int64, float32 or float64\n", optarg);
				return 2;
			}
			break;
		case 'r':
			if (!parse_long(optarg, 1, 1000000, &v)) {
				fprintf(stderr, "jobpool-bench: --repeat \"%s\": expected a count >= 1\n", optarg);
				return 2;
			}
			cfg.repeat = (int)v;
			break;
		case 'b':
			if (strcmp(optarg, "process") && strcmp(optarg, "sequential") &&
			    strcmp(optarg, "threading")) {
				fprintf(stderr, "jobpool-bench: --backend \"%s\": expected process, threading or sequential\n", optarg);
				return 2;
			}
			cfg.backend = optarg;
			break;
		case 's':
			if (!parse_long(optarg, 1, 1L << 40, &v)) {
				fprintf(stderr, "jobpool-bench: --size \"%s\": expected a byte count >= 1\n", optarg);
				return 2;
			}
			cfg.size = (size_t)v;
			break;
		case 'B':
			cfg.batch_size = optarg; /* the pool checks it, and says why not */
			break;
		case 'K':
			if (!parse_long(optarg, 1, 3600000, &v)) {
				fprintf(stderr, "jobpool-bench: --kill-every-ms \"%s\": expected milliseconds >= 1\n", optarg);
				return 2;
			}
			cfg.kill_every_ms = v;
			break;
		case 'R':
			if (!parse_long(optarg, 0, 1000, &v)) {
				fprintf(stderr, "jobpool-bench: --retries \"%s\": expected a count >= 0\n", optarg);
				return 2;
			}
			cfg.retries = (int)v;
			break;
		case 'D':
			cfg.dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
		if (!strcmp(argv[optind], workloads[i].name))
			return workloads[i].run(&cfg);
	fprintf(stderr, "jobpool-bench: no workload \"%s\"; --help lists them\n", argv[optind]);
	return 2;
}
