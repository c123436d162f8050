/*
 * jobpool-bench - the benchmark driver. One JSON object per line per
 * workload run, every result checked against a reference computed in the
 * calling process.
 *
 *   jobpool-bench [--jobs N] [--n N] [--repeat R] [--backend B] WORKLOAD
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jobpool.h>

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
};

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

static int run_overhead(const struct config *cfg)
{
	double rtt = pipe_rtt(2000);
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = cfg->jobs;
	opt.backend = cfg->backend;
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
	jp_pool_close(pool);
	if (ok) {
		double med = median(t, cfg->repeat);
		printf("{\"workload\": \"overhead\", \"backend\": \"%s\", \"n_jobs\": %d, \"n\": %zu, "
		       "\"repeat\": %d, \"median_s\": %.9f, \"min_s\": %.9f, \"max_s\": %.9f, "
		       "\"ok\": true, \"per_task_us\": %.6f, \"pipe_rtt_s\": %.9f}\n",
		       n_jobs > 1 ? cfg->backend : "sequential", n_jobs, cfg->n, cfg->repeat, med,
		       t[0], t[cfg->repeat - 1], med / (double)(cfg->n ? cfg->n : 1) * 1e6, rtt);
	} else {
		printf("{\"workload\": \"overhead\", \"backend\": \"%s\", \"n_jobs\": %d, \"n\": %zu, "
		       "\"repeat\": %d, \"ok\": false}\n", n_jobs > 1 ? cfg->backend : "sequential",
		       n_jobs, cfg->n, cfg->repeat);
	}
	free(t);
	return ok ? 0 : 1;
}

static const struct workload {
	const char *name;
	const char *what;
	int (*run)(const struct config *);
} workloads[] = {
	{ "overhead", "calls of N trivial tasks f(k) = 2k on a warm pool, and the pipe round trip", run_overhead },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: jobpool-bench [--jobs N] [--n N] [--repeat R] [--backend B] WORKLOAD\n\n"
		   "  --jobs N      workers, as n_jobs (default 2; -1: all CPUs)\n"
		   "  --n N         tasks per call (default 10000)\n"
		   "  --repeat R    timed calls; the median is reported (default 5)\n"
		   "  --backend B   process or sequential (default process)\n\n"
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
	struct config cfg = { .jobs = 2, .n = 10000, .repeat = 5, .backend = "process" };
	static const struct option longopts[] = {
		{ "jobs", required_argument, NULL, 'j' },
		{ "n", required_argument, NULL, 'n' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "backend", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	long v;
	while ((c = getopt_long(argc, argv, "j:n:r:b:h", longopts, NULL)) != -1) {
		switch (c) {
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
			break;
		case 'r':
			if (!parse_long(optarg, 1, 1000000, &v)) {
				fprintf(stderr, "jobpool-bench: --repeat \"%s\": expected a count >= 1\n", optarg);
				return 2;
			}
			cfg.repeat = (int)v;
			break;
		case 'b':
			if (strcmp(optarg, "process") && strcmp(optarg, "sequential")) {
				fprintf(stderr, "jobpool-bench: --backend \"%s\": expected process or sequential\n", optarg);
				return 2;
			}
			cfg.backend = optarg;
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
