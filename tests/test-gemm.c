/*
 * test-gemm.c - the GEMM kernels against the naive reference: every dtype,
 * every variant this CPU can run (AVX-512, AVX2 and portable alike), both
 * int64 routes, random shapes with every edge the blocking has, integer
 * wrap-around, the CBLAS path and the kernel path, several threads at once.
 */
#include "helpers.h"
#include "internal.h"
#include "kernels/gemm.h"
#include "kernels/gemm_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- data ------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64: a fixed seed per test, so a failure reproduces */
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

enum fill {
	FILL_SMALL, /* floats in [-1, 1); integers in [-100, 100] */
	FILL_BIG,   /* integers anywhere (wrap-around); floats as small */
	FILL_NEAR,  /* integers near +-2^62 (int64) or +-2^30 (int32) */
};

static const char *dt_name(jp_dtype dt)
{
	switch (dt) {
	case JP_FLOAT64:
		return "float64";
	case JP_FLOAT32:
		return "float32";
	case JP_INT64:
		return "int64";
	case JP_INT32:
		return "int32";
	default:
		return "?";
	}
}

static size_t esize(jp_dtype dt)
{
	return dt == JP_FLOAT64 || dt == JP_INT64 ? 8 : 4;
}

static void fill(jp_dtype dt, void *p, size_t count, enum fill how)
{
	for (size_t i = 0; i < count; i++) {
		uint64_t r = rnd();
		int64_t small = (int64_t)(r % 201) - 100;
		int sign = (r >> 40) & 1 ? -1 : 1;
		switch (dt) {
		case JP_FLOAT64:
			((double *)p)[i] = (double)(r >> 11) * 0x1p-52 - 1.0;
			break;
		case JP_FLOAT32:
			((float *)p)[i] = (float)((double)(r >> 40) * 0x1p-23 - 1.0);
			break;
		case JP_INT64:
			((int64_t *)p)[i] = how == FILL_SMALL ? small
					    : how == FILL_BIG ? (int64_t)r
							      : sign * (INT64_C(1) << 62) + small;
			break;
		case JP_INT32:
			((int32_t *)p)[i] = how == FILL_SMALL ? (int32_t)small
					    : how == FILL_BIG ? (int32_t)(uint32_t)r
							      : sign * (INT32_C(1) << 30) + (int32_t)small;
			break;
		default:
			break;
		}
	}
}

/* One problem: operands with leading dimensions, C pre-filled with garbage
 * (NaN for floats: C must be overwritten, never read before it is), the
 * padding columns of C to check they stay untouched. */
typedef struct problem {
	jp_dtype dt;
	size_t m, n, k, lda, ldb, ldc;
	char *a, *b, *c, *ref;
} problem;

static void problem_make(problem *p, jp_dtype dt, size_t m, size_t n, size_t k, size_t pad,
			 enum fill how)
{
	size_t es = esize(dt);
	*p = (problem){ .dt = dt, .m = m, .n = n, .k = k };
	p->lda = k + rnd_below(pad + 1);
	p->ldb = n + rnd_below(pad + 1);
	p->ldc = n + rnd_below(pad + 1);
	/* one element more than needed, and the operands start one element in:
	 * element-aligned, not vector-aligned, as a row block of a bigger
	 * matrix is */
	p->a = malloc((m * p->lda + 2) * es);
	p->b = malloc((k * p->ldb + 2) * es);
	p->c = malloc((m * p->ldc + 2) * es);
	p->ref = malloc((m * p->ldc + 2) * es);
	ck_assert(p->a && p->b && p->c && p->ref);
	fill(dt, p->a, m * p->lda + 2, how);
	fill(dt, p->b, k * p->ldb + 2, how);
	if (dt == JP_FLOAT64)
		for (size_t i = 0; i < m * p->ldc + 2; i++)
			((double *)p->c)[i] = NAN;
	else if (dt == JP_FLOAT32)
		for (size_t i = 0; i < m * p->ldc + 2; i++)
			((float *)p->c)[i] = NAN;
	else
		memset(p->c, 0xa5, (m * p->ldc + 2) * es);
	memcpy(p->ref, p->c, (m * p->ldc + 2) * es);
}

static void *pa(const problem *p) { return p->a + esize(p->dt); }
static void *pb(const problem *p) { return p->b + esize(p->dt); }
static void *pc(const problem *p) { return p->c + esize(p->dt); }
static void *pref(const problem *p) { return p->ref + esize(p->dt); }

static void problem_free(problem *p)
{
	free(p->a);
	free(p->b);
	free(p->c);
	free(p->ref);
}

/* Floats: |c - ref| <= 2 k u sum_p |a_ip b_pj| (the forward error bound of a
 * dot product of length k, in any order, u the unit roundoff), plus a floor
 * for sums that cancel to 0. Integers and the padding: bit for bit. */
static void problem_check(const problem *p, const char *what)
{
	size_t es = esize(p->dt);
	ck_assert_int_eq(jp__gemm_ref(p->dt, p->m, p->n, p->k, pa(p), p->lda, pb(p), p->ldb,
				      pref(p), p->ldc), 0);
	/* C's bytes outside the m x n window (padding, and the guard elements
	 * around it) are as they were */
	ck_assert_msg(!memcmp(p->c, p->ref, es), "%s: wrote before C", what);
	ck_assert_msg(!memcmp(p->c + (p->m * p->ldc + 1) * es, p->ref + (p->m * p->ldc + 1) * es, es),
		      "%s: wrote after C", what);
	for (size_t i = 0; i < p->m; i++)
		for (size_t j = 0; j < p->ldc; j++) {
			size_t o = i * p->ldc + j;
			const char *got = (const char *)pc(p) + o * es;
			const char *want = (const char *)pref(p) + o * es;
			/* ck_abort only on failure: in fork mode every ck_assert is
			 * a write(2) to check's pipe, millions of them here */
			if (j >= p->n) {
				if (memcmp(got, want, es))
					ck_abort_msg("%s: padding of C written at [%zu][%zu]", what, i, j);
				continue;
			}
			if (p->dt == JP_INT64 || p->dt == JP_INT32) {
				if (memcmp(got, want, es))
					ck_abort_msg("%s: %s %zux%zux%zu (ld %zu %zu %zu) differs at [%zu][%zu]",
						     what, dt_name(p->dt), p->m, p->n, p->k, p->lda, p->ldb,
						     p->ldc, i, j);
				continue;
			}
			double abs_sum = 0, g, w, u;
			for (size_t q = 0; q < p->k; q++) {
				if (p->dt == JP_FLOAT64)
					abs_sum += fabs(((const double *)pa(p))[i * p->lda + q] *
							((const double *)pb(p))[q * p->ldb + j]);
				else
					abs_sum += fabs((double)((const float *)pa(p))[i * p->lda + q] *
							(double)((const float *)pb(p))[q * p->ldb + j]);
			}
			if (p->dt == JP_FLOAT64) {
				g = ((const double *)got)[0];
				w = ((const double *)want)[0];
				u = 0x1p-53;
			} else {
				g = ((const float *)got)[0];
				w = ((const float *)want)[0];
				u = 0x1p-24;
			}
			double tol = 2.0 * (double)(p->k + 1) * u * abs_sum + 1e-300;
			if (!(fabs(g - w) <= tol))
				ck_abort_msg("%s: %s %zux%zux%zu: [%zu][%zu] is %.17g, want %.17g (tol %g)",
					     what, dt_name(p->dt), p->m, p->n, p->k, i, j, g, w, tol);
		}
}

/* A random shape: a fifth tiny (0, 1, 2 in each dimension), the rest up to
 * around two blocks of the kernel's MR/NR and a fraction of KC. */
static void random_shape(size_t *m, size_t *n, size_t *k)
{
	if (rnd_below(5) == 0) {
		*m = rnd_below(3);
		*n = rnd_below(3);
		*k = rnd_below(3);
		return;
	}
	*m = 1 + rnd_below(120);
	*n = 1 + rnd_below(120);
	*k = 1 + rnd_below(300);
}

static const jp_dtype dtypes[] = { JP_FLOAT64, JP_FLOAT32, JP_INT64, JP_INT32 };

/* ---- the public entry, by dtype -------------------------------------- */

static void random_shapes_through_jp_gemm(uint64_t seed)
{
	for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
		rng_state = seed + d;
		for (int it = 0; it < 200; it++) {
			size_t m, n, k;
			random_shape(&m, &n, &k);
			enum fill how = FILL_SMALL;
			if (dtypes[d] == JP_INT64 || dtypes[d] == JP_INT32)
				how = it % 4 == 1 ? FILL_BIG : it % 4 == 3 ? FILL_NEAR : FILL_SMALL;
			problem p;
			problem_make(&p, dtypes[d], m, n, k, it % 2 ? 7 : 0, how);
			ck_assert_int_eq(jp__gemm(p.dt, m, n, k, pa(&p), p.lda, pb(&p), p.ldb, pc(&p),
						  p.ldc), 0);
			problem_check(&p, jp__gemm_impl(p.dt));
			problem_free(&p);
		}
	}
}

START_TEST(jp_gemm_random_shapes)
{
	random_shapes_through_jp_gemm(0x9e3779b97f4a7c15u);
}
END_TEST

/* The kernel path of the float dtypes, as a library without CBLAS runs it
 * (with CBLAS, the test above went through it). */
START_TEST(jp_gemm_random_shapes_without_blas)
{
	setenv("JOBPOOL_BLAS", "0", 1);
	const jp__gemm_kernel *f64 = jp__gemm_selected(JP_FLOAT64);
	ck_assert_str_eq(jp__gemm_impl(JP_FLOAT64), f64->name);
	ck_assert_str_eq(jp__gemm_impl(JP_FLOAT32), jp__gemm_selected(JP_FLOAT32)->name);
	random_shapes_through_jp_gemm(0x2545f4914f6cdd1du);
}
END_TEST

START_TEST(impl_names_what_runs)
{
	unsetenv("JOBPOOL_BLAS");
#ifdef HAVE_CBLAS
	ck_assert_str_eq(jp__gemm_impl(JP_FLOAT64), "openblas");
	ck_assert_str_eq(jp__gemm_impl(JP_FLOAT32), "openblas");
#endif
	ck_assert_str_eq(jp__gemm_impl(JP_INT64), jp__gemm_selected(JP_INT64)->name);
	ck_assert_str_eq(jp__gemm_impl(JP_INT32), jp__gemm_selected(JP_INT32)->name);
	ck_assert_str_eq(jp__gemm_impl(JP_INT8), "none");
#if defined(__x86_64__)
	/* what the CPU says, checked independently of the kernels' own test */
	const char *want = "portable";
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
	    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
		want = "avx512";
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		want = "avx2";
	ck_assert_str_eq(jp__gemm_impl(JP_INT64), want);
	ck_assert_str_eq(jp__gemm_impl(JP_INT32), want);
#else
	ck_assert_str_eq(jp__gemm_impl(JP_INT64), "portable");
#endif
}
END_TEST

START_TEST(other_dtypes_are_refused)
{
	int8_t x = 0;
	ck_assert_int_eq(jp__gemm(JP_INT8, 1, 1, 1, &x, 1, &x, 1, &x, 1), -EINVAL);
	ck_assert_int_eq(jp__gemm_ref(JP_INT16, 1, 1, 1, &x, 1, &x, 1, &x, 1), -EINVAL);
}
END_TEST

/* ---- every variant this CPU runs, forced ------------------------------ */

static void check_variant(const jp__gemm_kernel *kern, jp_dtype dt, int route, size_t m,
			  size_t n, size_t k, size_t pad, enum fill how, const char *why)
{
	char what[128];
	snprintf(what, sizeof what, "%s%s (%s)", kern->name,
		 kern->exact ? (route ? "/exact" : "/integer") : "", why);
	problem p;
	problem_make(&p, dt, m, n, k, pad, how);
	ck_assert_int_eq(jp__gemm_blocked(kern, route, m, n, k, pa(&p), p.lda, pb(&p), p.ldb,
					  pc(&p), p.ldc), 0);
	problem_check(&p, what);
	problem_free(&p);
}

START_TEST(every_variant_random_shapes)
{
	int ran = 0;
	for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
		for (const jp__gemm_kernel *const *v = jp__gemm_variants(dtypes[d]); *v; v++) {
			if (!jp__gemm_kernel_usable(*v))
				continue;
			for (int route = 0; route <= ((*v)->exact != NULL); route++) {
				rng_state = 0x1234567u + d * 16 + (uint64_t)route;
				for (int it = 0; it < 60; it++) {
					size_t m, n, k;
					random_shape(&m, &n, &k);
					enum fill how = it % 3 == 1 ? FILL_BIG : FILL_SMALL;
					check_variant(*v, dtypes[d], route, m, n, k, it % 2 ? 5 : 0,
						      how, "random");
				}
				ran++;
			}
		}
	}
#if defined(__x86_64__)
	/* at least the portable variant of every dtype, and int64's two
	 * routes */
	ck_assert_int_ge(ran, 5);
#endif
}
END_TEST

/*
 * Shapes larger than one block in every dimension, with edges in every
 * dimension, so that every loop of the blocking runs more than once and
 * ends on a partial block. With the variants' own MC, KC, NC (2400 or 4800
 * columns) the reference costs seconds under ASan, so every variant runs
 * with its blocks shrunk (same micro-kernel, same loops) on many shapes,
 * and the real blocking runs once per dtype through jp__gemm.
 */
START_TEST(every_variant_beyond_one_block)
{
	rng_state = 0xfeedfacecafebeefu;
	for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
		for (const jp__gemm_kernel *const *v = jp__gemm_variants(dtypes[d]); *v; v++) {
			if (!jp__gemm_kernel_usable(*v))
				continue;
			jp__gemm_kernel small = **v;
			small.mc = 2 * small.mr + 1;
			small.kc = 7;
			small.nc = 2 * small.nr + 3;
			for (int route = 0; route <= (small.exact != NULL); route++)
				for (int it = 0; it < 12; it++) {
					size_t m = small.mc + 1 + rnd_below(3 * small.mc);
					size_t k = small.kc + 1 + rnd_below(3 * small.kc);
					size_t n = small.nc + 1 + rnd_below(3 * small.nc);
					check_variant(&small, dtypes[d], route, m, n, k, 3,
						      it % 2 ? FILL_BIG : FILL_SMALL, "small blocks");
				}
		}
}
END_TEST

START_TEST(real_blocks_beyond_one_block)
{
	rng_state = 0x5151u;
	for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
		const jp__gemm_kernel *kern = jp__gemm_selected(dtypes[d]);
		size_t m = kern->mc + kern->mr + 1, k = kern->kc + 3, n = kern->nc + kern->nr + 1;
		problem p;
		problem_make(&p, dtypes[d], m, n, k, 2, FILL_SMALL);
		ck_assert_int_eq(jp__gemm(p.dt, m, n, k, pa(&p), p.lda, pb(&p), p.ldb, pc(&p), p.ldc),
				 0);
		problem_check(&p, "beyond one block");
		problem_free(&p);
	}
}
END_TEST

/* ---- integers wrap around --------------------------------------------- */

/* Cases whose answers are worked out by hand, not by the reference. */
START_TEST(int64_wraps_around_modulo_2_64)
{
	/* (2^63 - 1)^2 = 2^126 - 2^64 + 1 = 1 (mod 2^64); 2^62 * 4 = 0;
	 * INT64_MIN * -1 = INT64_MIN; and a sum of k = 3 such terms */
	int64_t a[3] = { INT64_MAX, INT64_C(1) << 62, INT64_MIN };
	int64_t b[3] = { INT64_MAX, 4, -1 };
	for (const jp__gemm_kernel *const *v = jp__gemm_variants(JP_INT64); *v; v++) {
		if (!jp__gemm_kernel_usable(*v))
			continue;
		for (int route = 0; route <= 1; route++) {
			int64_t c[3];
			for (int i = 0; i < 3; i++) {
				ck_assert_int_eq(jp__gemm_blocked(*v, route, 1, 1, 1, &a[i], 1, &b[i],
								  1, &c[i], 1), 0);
			}
			ck_assert_int_eq(c[0], 1);
			ck_assert_int_eq(c[1], 0);
			ck_assert_int_eq(c[2], INT64_MIN);
			int64_t dot;
			ck_assert_int_eq(jp__gemm_blocked(*v, route, 1, 1, 3, a, 3, b, 1, &dot, 1), 0);
			ck_assert_int_eq(dot, (int64_t)(UINT64_C(1) + 0 + (UINT64_C(1) << 63)));
		}
	}
}
END_TEST

START_TEST(int32_wraps_around_modulo_2_32)
{
	int32_t a[3] = { INT32_MAX, INT32_C(1) << 30, INT32_MIN };
	int32_t b[3] = { INT32_MAX, 4, -1 };
	for (const jp__gemm_kernel *const *v = jp__gemm_variants(JP_INT32); *v; v++) {
		if (!jp__gemm_kernel_usable(*v))
			continue;
		int32_t c[3], dot;
		for (int i = 0; i < 3; i++)
			ck_assert_int_eq(jp__gemm_blocked(*v, 0, 1, 1, 1, &a[i], 1, &b[i], 1, &c[i], 1),
					 0);
		ck_assert_int_eq(c[0], 1);
		ck_assert_int_eq(c[1], 0);
		ck_assert_int_eq(c[2], INT32_MIN);
		ck_assert_int_eq(jp__gemm_blocked(*v, 0, 1, 1, 3, a, 3, b, 1, &dot, 1), 0);
		ck_assert_int_eq(dot, INT32_MIN + 1);
	}
}
END_TEST

/* Values near 2^62 (2^30) in blocks of every size: exact against the
 * reference, which computes in the same unsigned arithmetic. */
START_TEST(integers_near_the_top_match_the_reference)
{
	rng_state = 0xabcdef12345u;
	jp_dtype ints[] = { JP_INT64, JP_INT32 };
	for (int d = 0; d < 2; d++)
		for (const jp__gemm_kernel *const *v = jp__gemm_variants(ints[d]); *v; v++) {
			if (!jp__gemm_kernel_usable(*v))
				continue;
			for (int it = 0; it < 20; it++) {
				size_t m, n, k;
				random_shape(&m, &n, &k);
				check_variant(*v, ints[d], 1, m, n, k, 2, FILL_NEAR, "near 2^62 / 2^30");
			}
		}
}
END_TEST

/* ---- int64's exact float64 route: its bound, exactly ------------------ */

/* A: m x k of one value, B: k x n of another; C = k * a * b by hand. */
static void exact_bound_case(const jp__gemm_kernel *kern, size_t k, int64_t av, int64_t bv)
{
	size_t m = 13, n = 29;
	int64_t *a = malloc(m * k * sizeof *a), *b = malloc(k * n * sizeof *b);
	int64_t *c = malloc(m * n * sizeof *c);
	ck_assert(a && b && c);
	for (size_t i = 0; i < m * k; i++)
		a[i] = av;
	for (size_t i = 0; i < k * n; i++)
		b[i] = bv;
	ck_assert_int_eq(jp__gemm_blocked(kern, 1, m, n, k, a, k, b, n, c, n), 0);
	/* row i: sum over p of a[i][p] * bv, computed mod 2^64 */
	for (size_t i = 0; i < m; i++) {
		uint64_t want = 0;
		for (size_t p = 0; p < k; p++)
			want += (uint64_t)a[i * k + p] * (uint64_t)bv;
		for (size_t j = 0; j < n; j++)
			if (c[i * n + j] != (int64_t)want)
				ck_abort_msg("%s k=%zu a=%lld b=%lld: C[%zu][%zu] = %lld, want %lld",
					     kern->name, k, (long long)av, (long long)bv, i, j,
					     (long long)c[i * n + j], (long long)want);
	}
	free(a);
	free(b);
	free(c);
}

START_TEST(int64_exact_route_keeps_to_its_bound)
{
	for (const jp__gemm_kernel *const *v = jp__gemm_variants(JP_INT64); *v; v++) {
		if (!jp__gemm_kernel_usable(*v))
			continue;
		size_t kc = (*v)->kc;
		/* |a| |b| kc = 2^53 exactly: the exact route, its sums reaching
		 * 2^53 */
		exact_bound_case(*v, kc, INT64_C(1) << 20, (INT64_C(1) << 53) / (int64_t)kc >> 20);
		exact_bound_case(*v, 1, INT64_C(1) << 26, INT64_C(1) << 27);
		/* just past it, with odd values whose products need 55 bits: a
		 * double would round them, the integer route must be taken */
		exact_bound_case(*v, kc, (INT64_C(1) << 27) + 1, (INT64_C(1) << 27) + 1);
		exact_bound_case(*v, 1, (INT64_C(1) << 27) + 1, (INT64_C(1) << 26) + 1);
		exact_bound_case(*v, 3, INT64_MIN, INT64_MAX);
		exact_bound_case(*v, 5, INT64_MIN, 0);
		exact_bound_case(*v, 5, 0, INT64_MIN);
	}
}
END_TEST

/* One call whose K blocks take different routes: a first block of small
 * values (exact route), a second of large ones (integer route), summed
 * into the same C. */
START_TEST(int64_routes_mix_within_one_call)
{
	const jp__gemm_kernel *kern = jp__gemm_selected(JP_INT64);
	size_t m = 40, n = 50, k = kern->kc + 17;
	problem p;
	rng_state = 77;
	problem_make(&p, JP_INT64, m, n, k, 0, FILL_SMALL);
	/* rows of B past the first K block: large */
	for (size_t q = kern->kc; q < k; q++)
		for (size_t j = 0; j < n; j++)
			((int64_t *)pb(&p))[q * p.ldb + j] = (int64_t)rnd();
	ck_assert_int_eq(jp__gemm_blocked(kern, 1, m, n, k, pa(&p), p.lda, pb(&p), p.ldb, pc(&p),
					  p.ldc), 0);
	problem_check(&p, "mixed routes");
	problem_free(&p);
}
END_TEST

/* ---- edges of the contract ------------------------------------------- */

START_TEST(k_zero_zeroes_c_and_empty_shapes_write_nothing)
{
	for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
		problem p;
		rng_state = 5;
		problem_make(&p, dtypes[d], 3, 4, 0, 2, FILL_SMALL);
		ck_assert_int_eq(jp__gemm(p.dt, 3, 4, 0, pa(&p), p.lda, pb(&p), p.ldb, pc(&p), p.ldc),
				 0);
		problem_check(&p, "k = 0");
		for (size_t i = 0; i < 3; i++)
			for (size_t j = 0; j < 4; j++)
				if (memcmp((char *)pc(&p) + (i * p.ldc + j) * esize(p.dt),
					   "\0\0\0\0\0\0\0\0", esize(p.dt)))
					ck_abort_msg("k = 0: C[%zu][%zu] is not 0", i, j);
		problem_free(&p);
		/* m = 0 or n = 0: C is not touched (NULL is never dereferenced) */
		ck_assert_int_eq(jp__gemm(dtypes[d], 0, 4, 5, NULL, 5, NULL, 4, NULL, 4), 0);
		ck_assert_int_eq(jp__gemm(dtypes[d], 3, 0, 5, NULL, 5, NULL, 0, NULL, 0), 0);
	}
}
END_TEST

/* jp__gemm is called from worker threads at once (the thread backend):
 * no shared mutable state, each call its own packing buffers. */
struct thread_job {
	problem p;
	int rc;
};

static void *run_job(void *arg)
{
	struct thread_job *j = arg;
	for (int r = 0; r < 3 && j->rc == 0; r++)
		j->rc = jp__gemm(j->p.dt, j->p.m, j->p.n, j->p.k, pa(&j->p), j->p.lda, pb(&j->p),
				 j->p.ldb, pc(&j->p), j->p.ldc);
	return NULL;
}

START_TEST(concurrent_calls_from_threads)
{
	enum { NT = 4 };
	struct thread_job jobs[NT];
	pthread_t tids[NT];
	rng_state = 4242;
	for (int t = 0; t < NT; t++) {
		problem_make(&jobs[t].p, dtypes[t % 4], 70 + (size_t)t, 300 + (size_t)t,
			     260 + (size_t)t, 1, FILL_SMALL);
		jobs[t].rc = 0;
	}
	for (int t = 0; t < NT; t++)
		ck_assert_int_eq(pthread_create(&tids[t], NULL, run_job, &jobs[t]), 0);
	for (int t = 0; t < NT; t++) {
		ck_assert_int_eq(pthread_join(tids[t], NULL), 0);
		ck_assert_int_eq(jobs[t].rc, 0);
		problem_check(&jobs[t].p, "threads");
		problem_free(&jobs[t].p);
	}
}
END_TEST

/* What a worker's call allocates: bounded by the blocks, not the operands
 * (the numbers doc/design.md quotes). */
START_TEST(packing_memory_is_bounded)
{
	for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
		for (const jp__gemm_kernel *const *v = jp__gemm_variants(dtypes[d]); *v; v++) {
			ck_assert_uint_eq(jp__gemm_pack_bytes(*v, 0, 2000, 2000), 0);
			ck_assert_uint_eq(jp__gemm_pack_bytes(*v, 250, 2000, 0), 0);
			size_t mid = jp__gemm_pack_bytes(*v, 250, 2000, 2000);
			size_t big = jp__gemm_pack_bytes(*v, 100000, 100000, 100000);
			ck_assert_uint_gt(mid, 0);
			ck_assert_uint_le(mid, big);
			ck_assert_uint_le(big, (size_t)6 << 20);
		}
}
END_TEST

START_TEST(blas_threads_can_be_set)
{
	/* a no-op without a BLAS; with OpenBLAS the next call runs on one
	 * thread and is still right */
	jp__blas_set_threads(1);
	jp__blas_set_threads(0);
	problem p;
	rng_state = 99;
	problem_make(&p, JP_FLOAT64, 64, 64, 64, 0, FILL_SMALL);
	ck_assert_int_eq(jp__gemm(p.dt, p.m, p.n, p.k, pa(&p), p.lda, pb(&p), p.ldb, pc(&p), p.ldc),
			 0);
	problem_check(&p, "one BLAS thread");
	problem_free(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gemm");
	TCase *tc = jpt_tcase("by dtype");
	tcase_add_test(tc, jp_gemm_random_shapes);
	tcase_add_test(tc, jp_gemm_random_shapes_without_blas);
	tcase_add_test(tc, impl_names_what_runs);
	tcase_add_test(tc, other_dtypes_are_refused);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("variants");
	tcase_add_test(tc, every_variant_random_shapes);
	tcase_add_test(tc, every_variant_beyond_one_block);
	tcase_add_test(tc, real_blocks_beyond_one_block);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("integers");
	tcase_add_test(tc, int64_wraps_around_modulo_2_64);
	tcase_add_test(tc, int32_wraps_around_modulo_2_32);
	tcase_add_test(tc, integers_near_the_top_match_the_reference);
	tcase_add_test(tc, int64_exact_route_keeps_to_its_bound);
	tcase_add_test(tc, int64_routes_mix_within_one_call);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("contract");
	tcase_add_test(tc, k_zero_zeroes_c_and_empty_shapes_write_nothing);
	tcase_add_test(tc, concurrent_calls_from_threads);
	tcase_add_test(tc, packing_memory_is_bounded);
	tcase_add_test(tc, blas_threads_can_be_set);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
