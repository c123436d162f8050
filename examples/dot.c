/*
 * dot - the seed's parallel dot product, and where it starts to pay.
 *
 * The seed split two vectors into n_jobs chunks with joblib and concluded
 * that parallelising a dot product is inefficient: each call pickled the
 * vectors to the workers, so it moved more bytes than it computed on. Here
 * the vectors are allocated shared (jp_array_alloc_shared): a call moves no
 * data, only a round trip per chunk, so the pool wins as soon as the
 * arithmetic outweighs that round trip, and from then on it runs at the
 * machine's memory bandwidth on every core.
 *
 *   dot [--small]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jobpool.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median_dot(jp_pool *pool, const jp_array *x, const jp_array *y, int repeat,
			 double expect, bool *ok)
{
	double t[64], r;
	for (int i = 0; i < repeat; i++) {
		double t0 = now();
		if (jp_dot(pool, x, y, &r) < 0) {
			fprintf(stderr, "dot: %s\n", jp_pool_errmsg(pool));
			exit(1);
		}
		t[i] = now() - t0;
		*ok &= r == expect;
	}
	qsort(t, (size_t)repeat, sizeof *t, cmp);
	return t[repeat / 2];
}

int main(int argc, char **argv)
{
	bool small = argc > 1 && !strcmp(argv[1], "--small");
	size_t top = small ? 100000 : 100000000;
	jp_options opt = JP_OPTIONS_INIT, one = JP_OPTIONS_INIT;
	one.n_jobs = 1;
	jp_pool *pool, *seq;
	if (jp_pool_open(&pool, &opt) < 0 || jp_pool_open(&seq, &one) < 0) {
		fprintf(stderr, "dot: %s\n", jp_pool_errmsg(NULL));
		return 1;
	}
	printf("dot product of two float64 vectors allocated shared, %d workers; median times\n\n",
	       jp_pool_n_jobs(pool));
	printf("%12s %14s %14s %9s %6s\n", "N", "one core", "pool", "speedup", "check");
	bool all_ok = true;
	for (size_t n = 1000; n <= top; n *= 10) {
		size_t shape[1] = { n };
		jp_array x, y;
		if (jp_array_alloc_shared(pool, JP_FLOAT64, 1, shape, &x) < 0 ||
		    jp_array_alloc_shared(pool, JP_FLOAT64, 1, shape, &y) < 0) {
			fprintf(stderr, "dot: %s\n", jp_pool_errmsg(pool));
			return 1;
		}
		double expect = 0;
		for (size_t i = 0; i < n; i++) {
			((double *)x.data)[i] = (double)(i % 10);
			((double *)y.data)[i] = (double)(i % 7);
			expect += (double)(i % 10) * (double)(i % 7); /* exact: small integers */
		}
		int repeat = n >= 10000000 ? 5 : 21;
		bool ok = true;
		median_dot(pool, &x, &y, 1, expect, &ok); /* the workers map x and y once */
		double ts = median_dot(seq, &x, &y, repeat, expect, &ok);
		double tp = median_dot(pool, &x, &y, repeat, expect, &ok);
		all_ok &= ok;
		printf("%12zu %11.1f us %11.1f us %8.2fx %6s\n", n, ts * 1e6, tp * 1e6, ts / tp,
		       ok ? "ok" : "WRONG");
		jp_array_release(&x);
		jp_array_release(&y);
	}
	/* joblib's times depend on the machine: bench/regenerate measures
	 * them beside ours rather than quoting one machine's here */
	printf("\nFor scale: joblib, NumPy and multiprocessing on the same workloads, measured\n"
	       "beside jobpool on one machine, are in doc/perf/table.md (bench/regenerate).\n");
	jp_pool_close(seq);
	jp_pool_close(pool);
	return all_ok ? 0 : 1;
}
