/*
 * gemm.c - C = A·B by dtype: CBLAS for floats when the library was built
 * with one (and JOBPOOL_BLAS is not 0), the blocked kernels otherwise; the
 * naive reference; what runs, for reports; the BLAS's thread count.
 */
#include "config.h"

#include "kernels/gemm.h"
#include "kernels/gemm_internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_CBLAS
#include <cblas.h>
#endif

/* The first variant this CPU can run. Not cached: the walk is three
 * __builtin_cpu_supports reads of libgcc's table, nothing next to a GEMM,
 * and it keeps this file free of mutable state. */
const jp__gemm_kernel *jp__gemm_selected(jp_dtype dtype)
{
	const jp__gemm_kernel *const *v = jp__gemm_variants(dtype);
	if (!v)
		return NULL;
	for (; *v; v++)
		if (jp__gemm_kernel_usable(*v))
			return *v;
	return NULL; /* not reached: the portable variant ends every list */
}

#ifdef HAVE_CBLAS
#if defined(HAVE_OPENBLAS)
#define BLAS_NAME "openblas"
#elif defined(HAVE_BLIS)
#define BLAS_NAME "blis"
#else
#define BLAS_NAME "cblas"
#endif

/* JOBPOOL_BLAS=0 turns the BLAS off (tests, comparisons); read at every
 * call so a test can flip it. */
static int blas_enabled(void)
{
	const char *e = getenv("JOBPOOL_BLAS");
	return !(e && e[0] == '0' && e[1] == '\0');
}

/* CBLAS takes int dimensions: larger problems go to the kernels. */
static int blas_fits(size_t m, size_t n, size_t k, size_t lda, size_t ldb, size_t ldc)
{
	return m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX &&
	       ldb <= INT_MAX && ldc <= INT_MAX;
}
#endif

int jp__gemm(jp_dtype dtype, size_t m, size_t n, size_t k, const void *a, size_t lda,
	     const void *b, size_t ldb, void *c, size_t ldc)
{
	switch (dtype) {
	case JP_FLOAT64:
#ifdef HAVE_CBLAS
		/* k == 0 is left to the kernel: BLAS wants lda >= 1 */
		if (m && n && k && blas_enabled() && blas_fits(m, n, k, lda, ldb, ldc)) {
			cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n,
				    (int)k, 1.0, a, (int)lda, b, (int)ldb, 0.0, c, (int)ldc);
			return 0;
		}
#endif
		jp__gemm_f64(m, n, k, a, lda, b, ldb, c, ldc);
		return 0;
	case JP_FLOAT32:
#ifdef HAVE_CBLAS
		if (m && n && k && blas_enabled() && blas_fits(m, n, k, lda, ldb, ldc)) {
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n,
				    (int)k, 1.0f, a, (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
			return 0;
		}
#endif
		jp__gemm_f32(m, n, k, a, lda, b, ldb, c, ldc);
		return 0;
	case JP_INT64:
		jp__gemm_i64(m, n, k, a, lda, b, ldb, c, ldc);
		return 0;
	case JP_INT32:
		jp__gemm_i32(m, n, k, a, lda, b, ldb, c, ldc);
		return 0;
	default:
		return -EINVAL;
	}
}

const char *jp__gemm_impl(jp_dtype dtype)
{
#ifdef HAVE_CBLAS
	if ((dtype == JP_FLOAT64 || dtype == JP_FLOAT32) && blas_enabled())
		return BLAS_NAME;
#endif
	const jp__gemm_kernel *kern = jp__gemm_selected(dtype);
	return kern ? kern->name : "none";
}

#if defined(HAVE_OPENBLAS) && defined(HAVE_BLAS_THREAD_SHUTDOWN_)
int blas_thread_shutdown_(void); /* exported, not in OpenBLAS's headers */
#endif

void jp__blas_set_threads(int n)
{
	if (n < 1)
		n = 1;
#if defined(HAVE_OPENBLAS)
	openblas_set_num_threads(n);
#if defined(HAVE_BLAS_THREAD_SHUTDOWN_)
	/* A count of 1 needs no thread beside the caller's, but OpenBLAS
	 * starts its server threads again at any count set after a fork (its
	 * fork handler stopped them), and a new server thread spins on
	 * sched_yield for its first 2^28 cycles (0.1 s on the project's VM):
	 * beside every new worker on a 2-CPU machine, competing with the
	 * first calls. Stopped as the fork handler stops them; a later count
	 * above 1 starts them again. */
	if (n == 1)
		blas_thread_shutdown_();
#endif
#elif defined(HAVE_BLIS)
	bli_thread_set_num_threads(n);
#endif
}

int jp__blas_threads(void)
{
#if defined(HAVE_OPENBLAS)
	return openblas_get_num_threads();
#elif defined(HAVE_BLIS)
	return (int)bli_thread_get_num_threads();
#else
	return -1;
#endif
}

#if defined(HAVE_OPENBLAS)
/* Process-wide, as the BLAS's thread count is: overlapping calls of
 * several thread pools must agree on who saves it and who puts it back. */
static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;
static int blas_users, blas_saved;
#endif

void jp__blas_single_begin(void)
{
#if defined(HAVE_OPENBLAS)
	pthread_mutex_lock(&blas_lock);
	if (blas_users++ == 0) {
		blas_saved = openblas_get_num_threads();
		if (blas_saved > 1)
			openblas_set_num_threads(1);
	}
	pthread_mutex_unlock(&blas_lock);
#endif
}

void jp__blas_single_end(void)
{
#if defined(HAVE_OPENBLAS)
	pthread_mutex_lock(&blas_lock);
	if (--blas_users == 0 && blas_saved > 1)
		openblas_set_num_threads(blas_saved);
	pthread_mutex_unlock(&blas_lock);
#endif
}

void jp__blas_thread_single(void)
{
#if defined(HAVE_OPENBLAS)
	if (openblas_get_parallel() == 2) /* OpenMP: a count per thread */
		openblas_set_num_threads(1);
#endif
}

/*
 * The reference: a dot product per element of C, in the plainest order.
 * Floats accumulate in double (float32 too, so the reference is the more
 * accurate side of a comparison); integers in unsigned arithmetic of their
 * width, which wraps exactly as the kernels must.
 */
#define REF(NAME, T, ACC)                                                            \
	static void NAME(size_t m, size_t n, size_t k, const T *a, size_t lda,         \
			 const T *b, size_t ldb, T *c, size_t ldc)                     \
	{                                                                              \
		for (size_t i = 0; i < m; i++)                                         \
			for (size_t j = 0; j < n; j++) {                                \
				ACC s = 0;                                              \
				for (size_t p = 0; p < k; p++)                          \
					s += (ACC)a[i * lda + p] * (ACC)b[p * ldb + j]; \
				c[i * ldc + j] = (T)s;                                  \
			}                                                               \
	}
REF(ref_f64, double, double)
REF(ref_f32, float, double)
REF(ref_i64, int64_t, uint64_t)
REF(ref_i32, int32_t, uint32_t)

int jp__gemm_ref(jp_dtype dtype, size_t m, size_t n, size_t k, const void *a, size_t lda,
		 const void *b, size_t ldb, void *c, size_t ldc)
{
	switch (dtype) {
	case JP_FLOAT64:
		ref_f64(m, n, k, a, lda, b, ldb, c, ldc);
		return 0;
	case JP_FLOAT32:
		ref_f32(m, n, k, a, lda, b, ldb, c, ldc);
		return 0;
	case JP_INT64:
		ref_i64(m, n, k, a, lda, b, ldb, c, ldc);
		return 0;
	case JP_INT32:
		ref_i32(m, n, k, a, lda, b, ldb, c, ldc);
		return 0;
	default:
		return -EINVAL;
	}
}
