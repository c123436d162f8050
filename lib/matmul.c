/*
 * matmul.c - the built-in parallel products: C = A·B by row blocks of A,
 * and the dot product of two vectors by chunks.
 *
 * Both are ordinary calls of tasks the library registers itself ("jp.matmul",
 * "jp.dot"), so they go through the same path as a user's tasks: A and B
 * reach the workers by reference when they are shared (and through a file
 * dumped once per call when they are larger than max_nbytes), and each task
 * runs the single-core kernel of lib/kernels/ on its rows.
 */
#include "pool.h"
#include "kernels/gemm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Blocks per worker: enough to balance uneven progress (the seeds used
 * n_jobs * k), few enough that each block is a large GEMM. */
#define BLOCKS_PER_WORKER 4
/* ... and no block smaller than this many multiply-adds (about 40 us of one
 * core at the kernels' 25 G/s): below it a block costs more to hand out, a
 * pipe round trip of 10 to 50 us, than to compute, so a small product goes
 * to fewer workers, down to one. */
#define MATMUL_MIN_BLOCK_MULADDS ((double)(1 << 20))
/* Chunks of a dot product are no smaller than this many elements: below it
 * a chunk costs more to hand out than to compute. */
#define DOT_MIN_CHUNK 16384

/* ---- the tasks ----------------------------------------------------------- */

/* Rows [begin, end) of C = A·B: into C itself when the call passed it (a
 * shared output, or the caller's array with the sequential backend), else
 * into the task's result. */
static int matmul_rows(jp_task *t)
{
	jp_array a, b, c;
	if (jp_task_arg_array(t, 0, &a) || jp_task_arg_array(t, 1, &b))
		return jp_task_fail(t, "jp.matmul: expected arrays A and B");
	bool into_c = jp_task_nargs(t) > 2 && jp_task_arg_array(t, 2, &c) == 0;
	size_t r0 = jp_task_begin(t), rows = jp_task_end(t) - r0;
	size_t k = a.shape[1], n = b.shape[1], es = jp_dtype_size(a.dtype);
	void *out = into_c ? (uint8_t *)c.data + r0 * n * es : jp_task_result_alloc(t, rows * n * es);
	if (!out)
		return jp_task_fail(t, "jp.matmul: no memory for %zu x %zu result rows", rows, n);
	int err = jp__gemm(a.dtype, rows, n, k, (const uint8_t *)a.data + r0 * k * es, k, b.data, n,
			   out, n);
	return err ? jp_task_fail(t, "jp.matmul: %s", jp_strerror(err)) : 0;
}

/* The dot product of elements [begin, end): a double for float input, an
 * exact int64 (wrapping modulo 2^64) for integer input. */
static int dot_chunk(jp_task *t)
{
	jp_array a, b;
	if (jp_task_arg_array(t, 0, &a) || jp_task_arg_array(t, 1, &b))
		return jp_task_fail(t, "jp.dot: expected arrays a and b");
	size_t i0 = jp_task_begin(t), i1 = jp_task_end(t);
	if (a.dtype == JP_FLOAT64 || a.dtype == JP_FLOAT32) {
		/* eight independent sums: the loop runs at memory speed instead of
		 * at the latency of one chain of additions */
		double s[8] = { 0 };
		size_t i = i0;
		if (a.dtype == JP_FLOAT64) {
			const double *x = a.data, *y = b.data;
			for (; i + 8 <= i1; i += 8)
				for (int j = 0; j < 8; j++)
					s[j] += x[i + j] * y[i + j];
			for (; i < i1; i++)
				s[0] += x[i] * y[i];
		} else {
			const float *x = a.data, *y = b.data;
			for (; i + 8 <= i1; i += 8)
				for (int j = 0; j < 8; j++)
					s[j] += (double)x[i + j] * (double)y[i + j];
			for (; i < i1; i++)
				s[0] += (double)x[i] * (double)y[i];
		}
		double total = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
		return jp_task_set_result(t, &total, sizeof total);
	}
	uint64_t s = 0; /* unsigned: wraps as NumPy's int64 does, without UB */
	if (a.dtype == JP_INT64) {
		const int64_t *x = a.data, *y = b.data;
		for (size_t i = i0; i < i1; i++)
			s += (uint64_t)x[i] * (uint64_t)y[i];
	} else {
		const int32_t *x = a.data, *y = b.data;
		for (size_t i = i0; i < i1; i++)
			s += (uint64_t)((int64_t)x[i] * (int64_t)y[i]); /* exact in 64 bits */
	}
	int64_t total = (int64_t)s;
	return jp_task_set_result(t, &total, sizeof total);
}

__attribute__((constructor)) static void register_builtins(void)
{
	(void)jp_task_register("jp.matmul", matmul_rows);
	(void)jp_task_register("jp.dot", dot_chunk);
}

/* ---- jp_matmul ------------------------------------------------------------ */

static const char *dtype_name(jp_dtype t)
{
	static const char *names[] = { "?", "bool", "int8", "int16", "int32", "int64", "uint8",
				       "uint16", "uint32", "uint64", "float32", "float64",
				       "complex64", "complex128" };
	return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

static bool gemm_dtype(jp_dtype t)
{
	return t == JP_INT32 || t == JP_INT64 || t == JP_FLOAT32 || t == JP_FLOAT64;
}

/* A, B and C checked, with the message the caller will read. */
static int check_operands(jp_pool *p, const jp_array *a, const jp_array *b, const jp_array *c)
{
	if (!a || !b || !c) {
		jp__pool_set_error(p, "jp_matmul: A, B and C must not be NULL");
		return -EINVAL;
	}
	if (a->ndim != 2 || b->ndim != 2) {
		jp__pool_set_error(p, "jp_matmul: A and B must be 2-d; A has %d dimension(s), B %d",
				   a->ndim, b->ndim);
		return -EINVAL;
	}
	if (a->dtype != b->dtype) {
		jp__pool_set_error(p, "jp_matmul: A is %s but B is %s; convert one, no dtype is promoted",
				   dtype_name(a->dtype), dtype_name(b->dtype));
		return -EINVAL;
	}
	if (!gemm_dtype(a->dtype)) {
		jp__pool_set_error(p, "jp_matmul: A and B are %s; int32, int64, float32 and float64 are supported",
				   dtype_name(a->dtype));
		return JP_ENOTSUP;
	}
	if ((a->flags | b->flags) & JP_ARRAY_FORTRAN) {
		jp__pool_set_error(p, "jp_matmul: %s is in Fortran order; C order is supported",
				   a->flags & JP_ARRAY_FORTRAN ? "A" : "B");
		return JP_ENOTSUP;
	}
	if (a->shape[1] != b->shape[0]) {
		jp__pool_set_error(p, "jp_matmul: A is %zux%zu but B is %zux%zu", a->shape[0], a->shape[1],
				   b->shape[0], b->shape[1]);
		return -EINVAL;
	}
	if ((jp_array_nbytes(a) && !a->data) || (jp_array_nbytes(b) && !b->data)) {
		jp__pool_set_error(p, "jp_matmul: %s has no data", a->data ? "B" : "A");
		return -EINVAL;
	}
	if (c->data && (c->dtype != a->dtype || c->ndim != 2 || c->shape[0] != a->shape[0] ||
			c->shape[1] != b->shape[1] || (c->flags & JP_ARRAY_FORTRAN))) {
		jp__pool_set_error(p, "jp_matmul: C is a %s %zux%zu array but A·B is %s %zux%zu (C order)",
				   dtype_name(c->dtype), c->ndim > 0 ? c->shape[0] : 0,
				   c->ndim > 1 ? c->shape[1] : 0, dtype_name(a->dtype), a->shape[0],
				   b->shape[1]);
		return -EINVAL;
	}
	return 0;
}

/* Copy the blocks that came back over the pipes into C, in order. */
static void gather_rows(jp_call *call, jp_array *c)
{
	size_t row_bytes = c->shape[1] * jp_dtype_size(c->dtype);
	for (size_t i = 0; i < call->nslots; i++) {
		const jp__slot *s = &call->slots[i];
		memcpy((uint8_t *)c->data + s->begin * row_bytes, s->data, s->len);
	}
}

/* Rows per block: BLOCKS_PER_WORKER blocks per worker when the product is
 * large, fewer blocks of at least MATMUL_MIN_BLOCK_MULADDS each when not. */
size_t jp__matmul_block_rows(int n_jobs, size_t m, size_t n, size_t k)
{
	double work = (double)m * (double)n * (double)k;
	double blocks = (double)n_jobs * BLOCKS_PER_WORKER;
	if (work / blocks < MATMUL_MIN_BLOCK_MULADDS)
		blocks = work / MATMUL_MIN_BLOCK_MULADDS;
	if (blocks < 1)
		blocks = 1;
	size_t nblocks = blocks < (double)m ? (size_t)blocks : m;
	return (m + nblocks - 1) / nblocks;
}

int jp_matmul(jp_pool *p, const jp_array *a, const jp_array *b, jp_array *c)
{
	if (!p)
		return -EINVAL;
	int err = check_operands(p, a, b, c);
	if (err)
		return err;
	size_t m = a->shape[0], k = a->shape[1], n = b->shape[1];
	bool made_here = !c->data;
	if (made_here) {
		/* made here: shared, so the workers write their rows in place;
		 * every element is written, so stale pages need no zeroing */
		if ((err = jp__share_alloc_output(p, a->dtype, m, n, c)))
			return err;
	}
	if (m == 0 || n == 0)
		return 0; /* an empty result: no task */
	if (k == 0) {
		memset(c->data, 0, jp_array_nbytes(c));
		return 0;
	}
	if (!p->n_workers && !p->threads) {
		/* sequential: the kernel, here, on the caller's arrays, on one
		 * core as n_jobs = 1 says (a threaded BLAS would take them all) */
		jp__blas_single_begin();
		err = jp__gemm(a->dtype, m, n, k, a->data, k, b->data, n, c->data, n);
		jp__blas_single_end();
		return err;
	}

	jp_call *call;
	if ((err = jp_map_new(&call, p, "jp.matmul", m)))
		return err;
	call->batch_size = jp__matmul_block_rows(p->cfg.n_jobs, m, n, k);
	/* A and B are never written; C is written in place when it lives in a
	 * file the workers can map, or always by threads, which get the
	 * caller's pointer; else its rows come back as results */
	bool in_place = p->threads ||
			(c->backing && c->backing->kind == JP__BACK_POOL && c->backing->base);
	if (!(err = jp__call_arg_array_mode(call, a, JP__MMAP_R)) &&
	    !(err = jp__call_arg_array_mode(call, b, JP__MMAP_R)) && in_place)
		err = jp__call_arg_array_mode(call, c, JP__MMAP_RPLUS);
	if (!err)
		err = jp_call_run(call);
	if (!err && !in_place)
		gather_rows(call, c);
	jp_call_free(call);
	if (err && made_here)
		jp_array_release(c); /* nothing of a failed product is kept */
	return err;
}

/* ---- jp_dot ------------------------------------------------------------------- */

static int dot(jp_pool *p, const jp_array *a, const jp_array *b, bool integer, void *out)
{
	if (!p)
		return -EINVAL;
	if (!a || !b || !out) {
		jp__pool_set_error(p, "jp_dot%s: a, b and result must not be NULL", integer ? "_int" : "");
		return -EINVAL;
	}
	bool float_in = a->dtype == JP_FLOAT64 || a->dtype == JP_FLOAT32;
	bool int_in = a->dtype == JP_INT64 || a->dtype == JP_INT32;
	if (a->ndim != 1 || b->ndim != 1 || a->shape[0] != b->shape[0]) {
		jp__pool_set_error(p, "jp_dot: a and b must be 1-d of one length; a is %s%zu, b %s%zu",
				   a->ndim == 1 ? "" : "not 1-d, ", a->ndim ? a->shape[0] : 0,
				   b->ndim == 1 ? "" : "not 1-d, ", b->ndim ? b->shape[0] : 0);
		return -EINVAL;
	}
	if (a->dtype != b->dtype || !(integer ? int_in : float_in)) {
		jp__pool_set_error(p, "jp_dot%s: a is %s and b is %s; expected two %s arrays%s",
				   integer ? "_int" : "", dtype_name(a->dtype), dtype_name(b->dtype),
				   integer ? "int32 or two int64" : "float32 or two float64",
				   integer ? "" : " (jp_dot_int takes integers)");
		return -EINVAL;
	}
	size_t len = a->shape[0];
	if (len && (!a->data || !b->data)) {
		jp__pool_set_error(p, "jp_dot%s: %s has no data", integer ? "_int" : "", a->data ? "b" : "a");
		return -EINVAL;
	}
	jp_call *call;
	int err = jp_map_new(&call, p, "jp.dot", len);
	if (err)
		return err;
	bool parallel = p->n_workers || p->threads;
	size_t chunks = parallel ? (size_t)p->cfg.n_jobs * BLOCKS_PER_WORKER : 1;
	size_t per = (len + chunks - 1) / chunks;
	call->batch_size = parallel ? (per > DOT_MIN_CHUNK ? per : DOT_MIN_CHUNK) : len;
	if (!(err = jp__call_arg_array_mode(call, a, JP__MMAP_R)) &&
	    !(err = jp__call_arg_array_mode(call, b, JP__MMAP_R)))
		err = jp_call_run(call);
	/* the partial sums, reduced in order: the same answer every run */
	double f = 0;
	uint64_t i = 0;
	for (size_t s = 0; !err && s < call->nslots; s++) {
		if (integer) {
			int64_t v;
			memcpy(&v, call->slots[s].data, sizeof v);
			i += (uint64_t)v;
		} else {
			double v;
			memcpy(&v, call->slots[s].data, sizeof v);
			f += v;
		}
	}
	jp_call_free(call);
	if (!err) {
		if (integer)
			*(int64_t *)out = (int64_t)i;
		else
			*(double *)out = f;
	}
	return err;
}

int jp_dot(jp_pool *p, const jp_array *a, const jp_array *b, double *out)
{
	return dot(p, a, b, false, out);
}

int jp_dot_int(jp_pool *p, const jp_array *a, const jp_array *b, int64_t *out)
{
	return dot(p, a, b, true, out);
}
