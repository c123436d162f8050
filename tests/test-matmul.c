/*
 * test-matmul.c - jp_matmul and jp_dot against naive references: random
 * shapes with the edge cases, every dtype, n_jobs 1 to 4, every way C and
 * the operands can travel; and every error, with its message.
 */
#include "helpers.h"
#include "pool.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const jp_dtype dtypes[] = { JP_INT32, JP_INT64, JP_FLOAT32, JP_FLOAT64 };

/* A reproducible generator, so a failure can be replayed. */
static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return rng_state >> 17;
}

static void fill_random(jp_array *a, bool huge)
{
	size_t n = jp_array_nbytes(a) / jp_dtype_size(a->dtype);
	for (size_t i = 0; i < n; i++) {
		int64_t v = huge ? (int64_t)(rnd() << 20) : (int64_t)(rnd() % 19) - 9;
		switch (a->dtype) {
		case JP_INT32: ((int32_t *)a->data)[i] = (int32_t)(uint32_t)v; break;
		case JP_INT64: ((int64_t *)a->data)[i] = v; break;
		case JP_FLOAT32: ((float *)a->data)[i] = (float)(v % 1000) / 7.0f; break;
		default: ((double *)a->data)[i] = (double)(v % 1000) / 7.0; break;
		}
	}
}

static jp_array make(jp_dtype t, size_t r, size_t c)
{
	jp_array a = { .dtype = t, .ndim = 2, .shape = { r, c } };
	size_t bytes = jp_array_nbytes(&a);
	ck_assert_int_eq(posix_memalign(&a.data, 64, bytes ? bytes : 64), 0);
	return a;
}

/* C = A·B the obvious way; integers wrap modulo 2^bits (unsigned). */
static void reference(const jp_array *a, const jp_array *b, void *c)
{
	size_t m = a->shape[0], k = a->shape[1], n = b->shape[1];
	for (size_t i = 0; i < m; i++)
		for (size_t j = 0; j < n; j++) {
			uint64_t su = 0;
			double sd = 0;
			for (size_t p = 0; p < k; p++) {
				switch (a->dtype) {
				case JP_INT32:
					su += (uint64_t)((uint32_t)((int32_t *)a->data)[i * k + p] *
							 (uint32_t)((int32_t *)b->data)[p * n + j]);
					break;
				case JP_INT64:
					su += (uint64_t)((int64_t *)a->data)[i * k + p] *
					      (uint64_t)((int64_t *)b->data)[p * n + j];
					break;
				case JP_FLOAT32:
					sd += (double)((float *)a->data)[i * k + p] * (double)((float *)b->data)[p * n + j];
					break;
				default:
					sd += ((double *)a->data)[i * k + p] * ((double *)b->data)[p * n + j];
				}
			}
			switch (a->dtype) {
			case JP_INT32: ((int32_t *)c)[i * n + j] = (int32_t)(uint32_t)su; break;
			case JP_INT64: ((int64_t *)c)[i * n + j] = (int64_t)su; break;
			case JP_FLOAT32: ((float *)c)[i * n + j] = (float)sd; break;
			default: ((double *)c)[i * n + j] = sd;
			}
		}
}

static void expect_equal(const jp_array *c, const void *ref, size_t k, const char *what)
{
	size_t n = c->shape[0] * c->shape[1];
	for (size_t i = 0; i < n; i++) {
		bool ok;
		switch (c->dtype) {
		case JP_INT32: ok = ((int32_t *)c->data)[i] == ((const int32_t *)ref)[i]; break;
		case JP_INT64: ok = ((int64_t *)c->data)[i] == ((const int64_t *)ref)[i]; break;
		case JP_FLOAT32:
			ok = fabsf(((float *)c->data)[i] - ((const float *)ref)[i]) <=
			     1e-4f * (float)(k + 1) * (1.0f + fabsf(((const float *)ref)[i]));
			break;
		default:
			ok = fabs(((double *)c->data)[i] - ((const double *)ref)[i]) <=
			     1e-12 * (double)(k + 1) * (1.0 + fabs(((const double *)ref)[i]));
		}
		ck_assert_msg(ok, "%s: element %zu of %zux%zu differs", what, i, c->shape[0], c->shape[1]);
	}
}

static const size_t edge[] = { 0, 1, 2, 3, 7, 8, 9, 16, 17, 31, 33, 64, 65 };

static size_t pick_dim(void)
{
	return rnd() % 3 ? edge[rnd() % (sizeof edge / sizeof edge[0])] : 1 + rnd() % 90;
}

static jp_pool *open_pool(int n_jobs, const char *max_nbytes)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = n_jobs;
	opt.max_nbytes = max_nbytes;
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &opt), 0);
	return pool;
}

/* 200 shapes per dtype: C given as plain memory (rows over the pipes),
 * made by jp_matmul (shared, in place), or shared by the caller; operands
 * inline (max_nbytes "1M") or dumped ("1K"). */
START_TEST(random_shapes_against_reference)
{
	int n_jobs = _i;
	rng_state = 42 + (uint64_t)n_jobs;
	jp_pool *pools[2] = { open_pool(n_jobs, "1M"), open_pool(n_jobs, "1K") };
	for (size_t d = 0; d < 4; d++) {
		for (int s = 0; s < 200; s++) {
			jp_pool *pool = pools[s % 2];
			size_t m = pick_dim(), k = pick_dim(), n = pick_dim();
			jp_array a = make(dtypes[d], m, k), b = make(dtypes[d], k, n);
			fill_random(&a, s % 10 == 0 && dtypes[d] <= JP_INT64);
			fill_random(&b, s % 10 == 0 && dtypes[d] <= JP_INT64);
			size_t cbytes = m * n * jp_dtype_size(dtypes[d]);
			void *ref = malloc(cbytes ? cbytes : 1);
			reference(&a, &b, ref);
			jp_array c = { .data = NULL };
			int how = s % 3;
			if (how == 0) {
				c = make(dtypes[d], m, n);
			} else if (how == 2) {
				size_t shape[2] = { m, n };
				ck_assert_int_eq(jp_array_alloc_shared(pool, dtypes[d], 2, shape, &c), 0);
			}
			int rc = jp_matmul(pool, &a, &b, &c);
			ck_assert_msg(rc == 0, "jp_matmul %zux%zu·%zux%zu: %s", m, k, k, n, jp_pool_errmsg(pool));
			ck_assert_uint_eq(c.shape[0], m);
			ck_assert_uint_eq(c.shape[1], n);
			expect_equal(&c, ref, k, "jp_matmul");
			if (how == 0)
				free(c.data);
			else
				jp_array_release(&c);
			free(ref);
			free(a.data);
			free(b.data);
		}
	}
	jp_pool_close(pools[0]);
	jp_pool_close(pools[1]);
	jpt_assert_no_children();
}
END_TEST

START_TEST(errors_name_the_problem)
{
	jp_pool *pool = open_pool(_i, "1M");
	jp_array a = make(JP_INT64, 3, 4), b = make(JP_FLOAT64, 4, 2), c = { 0 };
	ck_assert_int_eq(jp_matmul(pool, &a, &b, &c), -EINVAL);
	ck_assert_msg(strstr(jp_pool_errmsg(pool), "A is int64 but B is float64"), "%s", jp_pool_errmsg(pool));
	jp_array b2 = make(JP_INT64, 5, 2);
	ck_assert_int_eq(jp_matmul(pool, &a, &b2, &c), -EINVAL);
	ck_assert_msg(strstr(jp_pool_errmsg(pool), "A is 3x4 but B is 5x2"), "%s", jp_pool_errmsg(pool));
	jp_array z1 = make(JP_COMPLEX128, 2, 2), z2 = make(JP_COMPLEX128, 2, 2);
	ck_assert_int_eq(jp_matmul(pool, &z1, &z2, &c), JP_ENOTSUP);
	ck_assert_msg(strstr(jp_pool_errmsg(pool), "complex128"), "%s", jp_pool_errmsg(pool));
	jp_array f = make(JP_INT64, 4, 2);
	f.flags = JP_ARRAY_FORTRAN;
	ck_assert_int_eq(jp_matmul(pool, &a, &f, &c), JP_ENOTSUP);
	ck_assert_msg(strstr(jp_pool_errmsg(pool), "Fortran"), "%s", jp_pool_errmsg(pool));
	jp_array b4 = make(JP_INT64, 4, 2), wrong = make(JP_INT64, 3, 3);
	ck_assert_int_eq(jp_matmul(pool, &a, &b4, &wrong), -EINVAL);
	ck_assert_msg(strstr(jp_pool_errmsg(pool), "C is a int64 3x3 array but A·B is int64 3x2"),
		      "%s", jp_pool_errmsg(pool));
	jp_array v = { .dtype = JP_INT64, .ndim = 1, .shape = { 4 }, .data = a.data };
	ck_assert_int_eq(jp_matmul(pool, &v, &b4, &c), -EINVAL);
	ck_assert_int_eq(jp_matmul(pool, NULL, &b4, &c), -EINVAL);
	ck_assert_ptr_null(c.data); /* nothing was made */

	/* empty: no task, an empty or zeroed result */
	jp_array e1 = make(JP_FLOAT64, 0, 5), e2 = make(JP_FLOAT64, 5, 3);
	ck_assert_int_eq(jp_matmul(pool, &e1, &e2, &c), 0);
	ck_assert_uint_eq(c.shape[0], 0);
	jp_array_release(&c);
	jp_array k1 = make(JP_FLOAT64, 2, 0), k2 = make(JP_FLOAT64, 0, 3), kc = make(JP_FLOAT64, 2, 3);
	((double *)kc.data)[5] = 9;
	ck_assert_int_eq(jp_matmul(pool, &k1, &k2, &kc), 0);
	ck_assert(((double *)kc.data)[5] == 0.0);

	/* dot */
	double r;
	int64_t ri;
	jp_array x = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 4 }, .data = kc.data };
	jp_array y = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 3 }, .data = kc.data };
	ck_assert_int_eq(jp_dot(pool, &x, &y, &r), -EINVAL);
	ck_assert_msg(strstr(jp_pool_errmsg(pool), "a is 4, b 3"), "%s", jp_pool_errmsg(pool));
	jp_array xi = { .dtype = JP_INT64, .ndim = 1, .shape = { 4 }, .data = a.data };
	ck_assert_int_eq(jp_dot(pool, &xi, &xi, &r), -EINVAL);
	ck_assert_msg(strstr(jp_pool_errmsg(pool), "jp_dot_int takes integers"), "%s", jp_pool_errmsg(pool));
	ck_assert_int_eq(jp_dot_int(pool, &x, &x, &ri), -EINVAL);

	void *bufs[] = { a.data, b.data, b2.data, z1.data, z2.data, f.data, b4.data, wrong.data,
			 e1.data, e2.data, k1.data, k2.data, kc.data };
	for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
		free(bufs[i]);
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

START_TEST(dot_against_reference)
{
	jp_pool *pool = open_pool(_i, "64K");
	rng_state = 7;
	const size_t lens[] = { 0, 1, 2, 7, 1000, 16383, 16385, 100003, 1000000 };
	for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
		size_t n = lens[l];
		double *xd = malloc(n * 8 + 8), *yd = malloc(n * 8 + 8);
		float *xf = malloc(n * 4 + 4), *yf = malloc(n * 4 + 4);
		int64_t *xi = malloc(n * 8 + 8), *yi = malloc(n * 8 + 8);
		int32_t *xs = malloc(n * 4 + 4), *ys = malloc(n * 4 + 4);
		double refd = 0, reff = 0;
		uint64_t refi = 0, refs = 0;
		for (size_t i = 0; i < n; i++) {
			xd[i] = (double)(rnd() % 1000) / 8;
			yd[i] = (double)(rnd() % 1000) / 8;
			xf[i] = (float)xd[i];
			yf[i] = (float)yd[i];
			xi[i] = (int64_t)(rnd() << 30); /* products wrap */
			yi[i] = (int64_t)rnd();
			xs[i] = (int32_t)(rnd() % 200000) - 100000;
			ys[i] = (int32_t)(rnd() % 200000) - 100000;
			refd += xd[i] * yd[i];
			reff += (double)xf[i] * (double)yf[i];
			refi += (uint64_t)xi[i] * (uint64_t)yi[i];
			refs += (uint64_t)((int64_t)xs[i] * ys[i]);
		}
		jp_array ad = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { n }, .data = xd };
		jp_array bd = ad, af = ad, bf, ai, bi, as, bs;
		bd.data = yd;
		af.dtype = JP_FLOAT32;
		af.data = xf;
		bf = af;
		bf.data = yf;
		ai = ad;
		ai.dtype = JP_INT64;
		ai.data = xi;
		bi = ai;
		bi.data = yi;
		as = ad;
		as.dtype = JP_INT32;
		as.data = xs;
		bs = as;
		bs.data = ys;
		double r;
		int64_t ri;
		ck_assert_int_eq(jp_dot(pool, &ad, &bd, &r), 0);
		ck_assert_msg(fabs(r - refd) <= 1e-9 * fabs(refd) + 1e-9, "float64 dot of %zu", n);
		ck_assert_int_eq(jp_dot(pool, &af, &bf, &r), 0);
		ck_assert_msg(fabs(r - reff) <= 1e-9 * fabs(reff) + 1e-9, "float32 dot of %zu", n);
		ck_assert_int_eq(jp_dot_int(pool, &ai, &bi, &ri), 0);
		ck_assert_msg(ri == (int64_t)refi, "int64 dot of %zu", n);
		ck_assert_int_eq(jp_dot_int(pool, &as, &bs, &ri), 0);
		ck_assert_msg(ri == (int64_t)refs, "int32 dot of %zu", n);
		free(xd);
		free(yd);
		free(xf);
		free(yf);
		free(xi);
		free(yi);
		free(xs);
		free(ys);
	}
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

/* Blocks are sized to the work: about four per worker for a large product,
 * fewer and larger for a small one, never one smaller than a row. */
START_TEST(blocks_are_sized_to_the_work)
{
	/* 1000^3 on 2 workers: 8 blocks of 125 rows; 1001 rows: 126 */
	ck_assert_uint_eq(jp__matmul_block_rows(2, 1000, 1000, 1000), 125);
	ck_assert_uint_eq(jp__matmul_block_rows(2, 1001, 1000, 1000), 126);
	/* 4 workers on 10 rows of a large product: a row each (16 blocks > 10) */
	ck_assert_uint_eq(jp__matmul_block_rows(4, 10, 100000, 100000), 1);
	/* 64^3 = 2^18 multiply-adds: one block, however many workers */
	ck_assert_uint_eq(jp__matmul_block_rows(8, 64, 64, 64), 64);
	/* 2^23 on 8 workers: 8 blocks of 2^20, not 32 of 2^18 */
	ck_assert_uint_eq(jp__matmul_block_rows(8, 128, 256, 256), 16);
	/* one row, or a product of one multiply-add */
	ck_assert_uint_eq(jp__matmul_block_rows(2, 1, 1, 1), 1);
	ck_assert_uint_eq(jp__matmul_block_rows(2, 1, 100000, 100000), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("matmul");
	TCase *tc = jpt_tcase("matmul");
	tcase_add_loop_test(tc, random_shapes_against_reference, 1, 5);
	tcase_add_loop_test(tc, errors_name_the_problem, 1, 3);
	tcase_add_loop_test(tc, dot_against_reference, 1, 4);
	tcase_add_test(tc, blocks_are_sized_to_the_work);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
