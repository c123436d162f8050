/*
 * poly_grid - the seed's exercise: a·x³ + b·x² + c·x + d for every
 * (a, b, c, d) of a 10×10×10×10 grid of [0, 1] (linspace(0, 1, 10) each) at
 * 50 points x of [-2, 2] (linspace(-2, 2, 50)): 10^4 × 50 = 500 000 float64
 * values, laid out as NumPy's broadcasting lays them out, out[a][b][c][d][x].
 *
 * It computes them four ways, times each (the median of several runs, after
 * one untimed warm-up) and checks each against the first:
 *
 *   loop         a scalar loop in the caller: the seed's Python loop.
 *   vectorised   the same loop, vectorised by the compiler: the counterpart
 *                of NumPy broadcasting.
 *   pool map     jp_map_new over the 10^4 tuples. The pool cuts [0, 10^4)
 *                into batches, each task run computes its range, and the
 *                results come back concatenated in order, as joblib's
 *                Parallel(delayed(f)(t) for t in tuples) returns them.
 *   pool items   a call builder with one item per value of a, each item
 *                carrying its own a as an f64 argument: per-item arguments,
 *                as multiprocessing's Pool.starmap passes them.
 *
 * The pool methods time everything a user waits for: building the call,
 * running it, reading the output, freeing the call.
 *
 * What to take from the figures. In Python the seed measured, on the
 * 2-vCPU machine this was written on, 92 ms for the loop, 208 ms with
 * joblib, 110 ms with Pool.starmap and 10 ms with NumPy broadcasting: the
 * interpreter made the work look big, and the parallel versions still lost.
 * In C the scalar loop takes about 0.4 ms there and the vectorised one
 * 0.3 ms (0.12 ms built with -march=native, which vectorises with AVX-512):
 * vectorising is the speedup worth having. Both pool methods lose, at about
 * 1.3-1.6 ms, because of what they move rather than what they compute: the
 * grid's 4 MB of results cross the result pipes and are copied once more
 * into the call's one output buffer, and that costs more than computing
 * them. The task API itself costs a few tens of microseconds a call; the
 * pool pays when each worker's share of the work clearly outweighs what its
 * results cost to send back, or when the workers write into a shared
 * output array instead (examples/vectorize.c shows both ways).
 *
 * Usage: poly_grid [--small] [--jobs N]
 *   --small   a 4×4×4×4 grid and 8 points, 3 runs: the test suite's size
 *   --jobs N  the pool's n_jobs (default -1: every CPU)
 * Exits 1 when a method's values differ from the loop's, or on any error.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jobpool.h>

/* GCC: keep the reference loop scalar whatever optimisation level the
 * build uses, so that "loop" means one value at a time. */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_VECTORIZE __attribute__((optimize("no-tree-vectorize")))
#else
#define NO_VECTORIZE
#endif

/* The one formula every method uses, in the same order of operations, so
 * that their results can be compared bit for bit. */
static inline double cubic(double a, double b, double c, double d, double x)
{
	return a * x * x * x + b * x * x + c * x + d;
}

/*
 * One tuple at every point. The build compiles this file with -fopenmp-simd,
 * so GCC vectorises this loop (-fopt-info-vec reports "loop vectorized using
 * 16 byte vectors", two doubles at a time with x86-64's baseline SSE2);
 * nothing else of OpenMP is used.
 */
static void cubic_row(double a, double b, double c, double d, const double *restrict x,
		      size_t n, double *restrict y)
{
#pragma omp simd
	for (size_t j = 0; j < n; j++)
		y[j] = cubic(a, b, c, d, x[j]);
}

/* The grid: n_coef values for each coefficient, n_x points. */
struct grid {
	size_t n_coef, n_x;
	const double *coef, *x;
};

static size_t grid_tuples(const struct grid *g)
{
	return g->n_coef * g->n_coef * g->n_coef * g->n_coef;
}

/* Tuple k of the grid (a varies slowest, d fastest) at every point. */
static void grid_tuple(const struct grid *g, size_t k, double *out)
{
	size_t n = g->n_coef;
	const double *v = g->coef;
	cubic_row(v[k / (n * n * n)], v[k / (n * n) % n], v[k / n % n], v[k % n], g->x, g->n_x,
		  out);
}

/* np.linspace(start, stop, n): start + i·step, the last point exactly stop. */
static void linspace(double start, double stop, size_t n, double *out)
{
	double step = (stop - start) / (double)(n - 1);
	for (size_t i = 0; i < n; i++)
		out[i] = start + (double)i * step;
	out[n - 1] = stop;
}

/* ------------------------------------------------------------------ */
/* The tasks: they run in the workers                                  */
/* ------------------------------------------------------------------ */

/* Both tasks get the grid as their first two (shared) arguments: the
 * coefficient values and the points, two small float64 arrays. */
static int task_grid(jp_task *t, struct grid *g)
{
	jp_array coef, x;
	int err;
	if ((err = jp_task_arg_array(t, 0, &coef)) || (err = jp_task_arg_array(t, 1, &x)))
		return jp_task_fail(t, "arguments: %s", jp_strerror(err));
	if (coef.dtype != JP_FLOAT64 || coef.ndim != 1 || x.dtype != JP_FLOAT64 || x.ndim != 1)
		return jp_task_fail(t, "expected two 1-d float64 arrays");
	*g = (struct grid){ coef.shape[0], x.shape[0], coef.data, x.data };
	return 0;
}

/* A map's task run: the tuples [begin, end) at every point. */
static int poly_tuples(jp_task *t)
{
	struct grid g;
	int err = task_grid(t, &g);
	if (err)
		return err;
	size_t begin = jp_task_begin(t), end = jp_task_end(t);
	double *out = jp_task_result_alloc(t, (end - begin) * g.n_x * sizeof *out);
	if (!out)
		return jp_task_fail(t, "out of memory");
	for (size_t k = begin; k < end; k++)
		grid_tuple(&g, k, out + (k - begin) * g.n_x);
	return 0;
}
JP_TASK(poly_tuples);

/* A builder's item: every (b, c, d) at every point for the item's own a,
 * its third argument. */
static int poly_slab(jp_task *t)
{
	struct grid g;
	double a;
	int err = task_grid(t, &g);
	if (err)
		return err;
	if ((err = jp_task_arg_f64(t, 2, &a)))
		return jp_task_fail(t, "argument 2 (a): %s", jp_strerror(err));
	size_t n = g.n_coef;
	const double *v = g.coef;
	double *out = jp_task_result_alloc(t, n * n * n * g.n_x * sizeof *out);
	if (!out)
		return jp_task_fail(t, "out of memory");
	for (size_t k = 0; k < n * n * n; k++)
		cubic_row(a, v[k / (n * n)], v[k / n % n], v[k % n], g.x, g.n_x, out + k * g.n_x);
	return 0;
}
JP_TASK(poly_slab);

/* ------------------------------------------------------------------ */
/* The methods: each computes the whole grid                           */
/* ------------------------------------------------------------------ */

struct ctx {
	jp_pool *pool;
	struct grid g;
	jp_array coef_arr, x_arr; /* the grid as call arguments */
	double *buf;              /* where the caller's loops write */
};

/* A method leaves the grid's values in *out; a pool method also leaves its
 * call in *call, freed (and timed) once the values are checked. */
typedef int method_fn(struct ctx *cx, jp_call **call, const double **out);

NO_VECTORIZE static void loop_scalar(const struct grid *g, double *out)
{
	const double *v = g->coef, *x = g->x;
	size_t n = g->n_coef;
	for (size_t ia = 0; ia < n; ia++)
		for (size_t ib = 0; ib < n; ib++)
			for (size_t ic = 0; ic < n; ic++)
				for (size_t id = 0; id < n; id++)
					for (size_t j = 0; j < g->n_x; j++)
						*out++ = cubic(v[ia], v[ib], v[ic], v[id], x[j]);
}

static int run_loop(struct ctx *cx, jp_call **call, const double **out)
{
	(void)call; /* no call: it runs in the caller */
	loop_scalar(&cx->g, cx->buf);
	*out = cx->buf;
	return 0;
}

static int run_vectorised(struct ctx *cx, jp_call **call, const double **out)
{
	(void)call; /* no call: it runs in the caller */
	for (size_t k = 0; k < grid_tuples(&cx->g); k++)
		grid_tuple(&cx->g, k, cx->buf + k * cx->g.n_x);
	*out = cx->buf;
	return 0;
}

static int run_pool_map(struct ctx *cx, jp_call **call, const double **out)
{
	const void *data;
	size_t len;
	int err;
	if ((err = jp_map_new(call, cx->pool, "poly_tuples", grid_tuples(&cx->g))) ||
	    (err = jp_call_arg_array(*call, &cx->coef_arr)) ||
	    (err = jp_call_arg_array(*call, &cx->x_arr)) || (err = jp_call_run(*call)) ||
	    (err = jp_call_output(*call, &data, &len)))
		return err;
	*out = data;
	return len == grid_tuples(&cx->g) * cx->g.n_x * sizeof **out ? 0 : -EPROTO;
}

static int run_pool_items(struct ctx *cx, jp_call **call, const double **out)
{
	const void *data;
	size_t len;
	int err;
	/* arguments added before the first item are shared by every item */
	if ((err = jp_call_new(call, cx->pool)) ||
	    (err = jp_call_arg_array(*call, &cx->coef_arr)) ||
	    (err = jp_call_arg_array(*call, &cx->x_arr)))
		return err;
	for (size_t ia = 0; ia < cx->g.n_coef; ia++) {
		long item = jp_call_add(*call, "poly_slab");
		if (item < 0)
			return (int)item;
		if ((err = jp_call_arg_f64(*call, cx->g.coef[ia]))) /* this item's a */
			return err;
	}
	if ((err = jp_call_run(*call)) || (err = jp_call_output(*call, &data, &len)))
		return err;
	*out = data;
	return len == grid_tuples(&cx->g) * cx->g.n_x * sizeof **out ? 0 : -EPROTO;
}

/* ------------------------------------------------------------------ */
/* Timing and checking                                                 */
/* ------------------------------------------------------------------ */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The largest difference from the reference: 0 when equal bit for bit
 * (NaN when a value is NaN, as a skipped write would leave it). */
static double max_diff(const double *ref, const double *v, size_t n)
{
	if (memcmp(ref, v, n * sizeof *v) == 0)
		return 0;
	double worst = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs(ref[i] - v[i]);
		if (!(d <= worst)) /* NaN sticks */
			worst = d;
	}
	return worst;
}

struct method {
	const char *name;
	method_fn *run;
	double median_s, worst_diff;
	bool bitwise;
};

/* Run a method once untimed, then `repeats` times timed; check every run. */
static int measure(struct ctx *cx, struct method *m, const double *ref, int repeats)
{
	size_t n = grid_tuples(&cx->g) * cx->g.n_x;
	double *times = calloc((size_t)repeats, sizeof *times);
	if (!times)
		return -ENOMEM;
	m->worst_diff = 0;
	m->bitwise = true;
	int err = 0;
	for (int r = -1; r < repeats && !err; r++) {
		jp_call *call = NULL;
		const double *out = NULL;
		memset(cx->buf, 0xff, n * sizeof *cx->buf); /* NaN: a value not written shows */
		double t0 = now();
		err = m->run(cx, &call, &out);
		double t = now() - t0;
		if (!err) {
			double d = max_diff(ref, out, n);
			m->bitwise &= d == 0;
			if (!(d <= m->worst_diff))
				m->worst_diff = d;
		}
		t0 = now();
		jp_call_free(call);
		t += now() - t0;
		if (r >= 0)
			times[r] = t;
	}
	if (!err)
		m->median_s = median(times, (size_t)repeats);
	free(times);
	return err;
}

/* ------------------------------------------------------------------ */

static int usage(void)
{
	fprintf(stderr, "usage: poly_grid [--small] [--jobs N]\n");
	return 2;
}

int main(int argc, char **argv)
{
	bool small = false;
	jp_options opt = JP_OPTIONS_INIT; /* n_jobs = -1: every CPU */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--small") == 0) {
			small = true;
		} else if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || end == argv[i] || v == 0 || v < -1024 || v > 1024)
				return usage();
			opt.n_jobs = (int)v;
		} else {
			return usage();
		}
	}
	size_t n_coef = small ? 4 : 10, n_x = small ? 8 : 50;
	int repeats = small ? 3 : 21;

	struct ctx cx = { 0 };
	double coef[10], x[50], *ref = NULL;
	linspace(0, 1, n_coef, coef);
	linspace(-2, 2, n_x, x);
	cx.g = (struct grid){ n_coef, n_x, coef, x };
	/* small arrays: they travel inline, in the call's frames */
	cx.coef_arr = (jp_array){ .dtype = JP_FLOAT64, .ndim = 1, .shape = { n_coef }, .data = coef };
	cx.x_arr = (jp_array){ .dtype = JP_FLOAT64, .ndim = 1, .shape = { n_x }, .data = x };

	size_t n_values = grid_tuples(&cx.g) * n_x;
	cx.buf = malloc(n_values * sizeof *cx.buf);
	ref = malloc(n_values * sizeof *ref);
	if (!cx.buf || !ref) {
		fprintf(stderr, "poly_grid: out of memory\n");
		free(cx.buf);
		free(ref);
		return 1;
	}
	loop_scalar(&cx.g, ref); /* the reference every method is checked against */

	int err = jp_pool_open(&cx.pool, &opt);
	if (err) {
		fprintf(stderr, "poly_grid: jp_pool_open: %s: %s\n", jp_strerror(err),
			jp_pool_errmsg(NULL));
		free(cx.buf);
		free(ref);
		return 1;
	}

	char items_name[64];
	snprintf(items_name, sizeof items_name, "pool items (%zu, one per a)", n_coef);
	struct method methods[] = {
		{ "loop (scalar)", run_loop, 0, 0, false },
		{ "vectorised loop", run_vectorised, 0, 0, false },
		{ "pool map (auto batches)", run_pool_map, 0, 0, false },
		{ items_name, run_pool_items, 0, 0, false },
	};
	size_t n_methods = sizeof methods / sizeof methods[0];

	printf("poly_grid: %zu coefficient tuples x %zu points = %zu float64 values; "
	       "pool of %d worker%s; median of %d runs\n",
	       grid_tuples(&cx.g), n_x, n_values, jp_pool_n_jobs(cx.pool),
	       jp_pool_n_jobs(cx.pool) == 1 ? " (the caller itself)" : "s", repeats);
	printf("%-30s %12s %9s  %s\n", "method", "median", "speedup", "check vs loop");
	int failed = 0;
	for (size_t i = 0; i < n_methods && !err; i++) {
		struct method *m = &methods[i];
		err = measure(&cx, m, ref, repeats);
		if (err) {
			fprintf(stderr, "poly_grid: %s: %s: %s\n", m->name, jp_strerror(err),
				jp_pool_errmsg(cx.pool));
			break;
		}
		bool ok = m->worst_diff <= 1e-12;
		failed += !ok;
		char check[64];
		if (m->bitwise)
			snprintf(check, sizeof check, "OK (bitwise)");
		else
			snprintf(check, sizeof check, "%s (max |diff| %.1e)", ok ? "OK" : "FAILED",
				 m->worst_diff);
		printf("%-30s %9.3f ms %8.2fx  %s\n", m->name, 1e3 * m->median_s,
		       methods[0].median_s / m->median_s, check);
	}

	jp_pool_close(cx.pool);
	free(cx.buf);
	free(ref);
	if (err)
		return 1;
	if (failed)
		fprintf(stderr, "poly_grid: %d method%s disagree with the loop\n", failed,
			failed == 1 ? "" : "s");
	return failed ? 1 : 0;
}
