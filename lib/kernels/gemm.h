/*
 * gemm.h - the matrix-product kernels: C = A·B on one core.
 *
 * Row-major (C order) operands with leading dimensions in elements:
 * A is m x k (lda >= k), B is k x n (ldb >= n), C is m x n (ldc >= n), and C
 * is overwritten. Integer products wrap around modulo 2^bits as NumPy's do,
 * computed in unsigned arithmetic so there is no undefined behaviour. Any
 * of m, n, k may be 0 (k == 0 zeroes C).
 */
#ifndef JOBPOOL_KERNELS_GEMM_H
#define JOBPOOL_KERNELS_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include <jobpool.h>

void jp__gemm_f64(size_t m, size_t n, size_t k, const double *a, size_t lda,
		  const double *b, size_t ldb, double *c, size_t ldc);
void jp__gemm_f32(size_t m, size_t n, size_t k, const float *a, size_t lda,
		  const float *b, size_t ldb, float *c, size_t ldc);
void jp__gemm_i64(size_t m, size_t n, size_t k, const int64_t *a, size_t lda,
		  const int64_t *b, size_t ldb, int64_t *c, size_t ldc);
void jp__gemm_i32(size_t m, size_t n, size_t k, const int32_t *a, size_t lda,
		  const int32_t *b, size_t ldb, int32_t *c, size_t ldc);

/* By dtype: JP_FLOAT64, JP_FLOAT32 (through CBLAS when the library was
 * built with one, unless JOBPOOL_BLAS=0 in the environment), JP_INT64,
 * JP_INT32. -EINVAL for another dtype. */
int jp__gemm(jp_dtype dtype, size_t m, size_t n, size_t k, const void *a, size_t lda,
	     const void *b, size_t ldb, void *c, size_t ldc);

/* The naive triple loop, for tests: same contract. */
int jp__gemm_ref(jp_dtype dtype, size_t m, size_t n, size_t k, const void *a, size_t lda,
		 const void *b, size_t ldb, void *c, size_t ldc);

/* What runs for a dtype, for reports: "openblas", "avx512", "avx2",
 * "portable"... */
const char *jp__gemm_impl(jp_dtype dtype);

/* Keep the BLAS (if any) at n threads in this process; a no-op without
 * one. Workers call it with 1 (or ncpu / n_jobs) before their first task. */
void jp__blas_set_threads(int n);
/* The BLAS's thread count now; -1 without a BLAS back end. */
int jp__blas_threads(void);

/* While a thread pool runs a call, its tasks call the BLAS from several
 * threads at once: each call must run on its caller's thread alone. The
 * BLAS's thread count is process-wide (OpenBLAS's pthreads build), so the
 * first of any overlapping begin/end pairs sets it to 1 and the last puts
 * the saved count back. */
void jp__blas_single_begin(void);
void jp__blas_single_end(void);
/* In a pool thread, once: where the count is per thread (OpenBLAS built
 * with OpenMP), this thread's is 1. */
void jp__blas_thread_single(void);

#endif
