/*
 * gemm_f64.c - float64 GEMM: the micro-kernels and their blocking (used
 * when the library has no CBLAS, or with JOBPOOL_BLAS=0).
 *
 * Generated code (gcc 12, objdump -d):
 *   avx2      6 x 8 tile: 12 ymm accumulators; per step of k 2 vmovapd
 *             loads of B, 6 vbroadcastsd of A, 12 vfmadd231pd ymm
 *   portable  4 x 4 tile: 8 xmm accumulators, mulpd + addpd (SSE2 has no FMA)
 *
 * No AVX-512 variant: Zen 4 runs a zmm FMA as two 256-bit halves, and an
 * 8 x 24 zmm kernel (24 accumulators, 24 vfmadd231pd zmm per step) was no
 * faster than this one: 47 / 53 / 47 GFLOP/s against 50 / 53 / 47 for
 * n = 1000, n = 2000 and 250 x 2000 x 2000 on one core (medians).
 * Where a CPU has two full 512-bit FMA units it would pay; add it back as a
 * variant then, measured.
 */
#include "config.h"

#include "kernels/gemm.h"
#include "kernels/gemm_internal.h"

typedef double jp__v2d __attribute__((vector_size(16)));

#ifdef JP__GEMM_X86
typedef double jp__v4d __attribute__((vector_size(32)));

#define UK_NAME ukernel_avx2
#define UK_T double
#define UK_VT jp__v4d
#define UK_MR 6
#define UK_NV 2
#define UK_ATTR JP__TARGET_AVX2
#include "kernels/gemm_ukernel.h"

static const jp__gemm_kernel avx2 = {
	.name = "avx2", .isa = JP__ISA_AVX2, .esize = 8,
	.mr = 6, .nr = 8, .mc = 96, .kc = 256, .nc = 2400,
	.ukernel = ukernel_avx2,
};
#endif

#define UK_NAME ukernel_portable
#define UK_T double
#define UK_VT jp__v2d
#define UK_MR 4
#define UK_NV 2
#define UK_ATTR
#include "kernels/gemm_ukernel.h"

static const jp__gemm_kernel portable = {
	.name = "portable", .isa = JP__ISA_NONE, .esize = 8,
	.mr = 4, .nr = 4, .mc = 96, .kc = 256, .nc = 2400,
	.ukernel = ukernel_portable,
};

const jp__gemm_kernel *const jp__gemm_f64_variants[] = {
#ifdef JP__GEMM_X86
	&avx2,
#endif
	&portable, NULL,
};

void jp__gemm_f64(size_t m, size_t n, size_t k, const double *a, size_t lda,
		  const double *b, size_t ldb, double *c, size_t ldc)
{
	if (jp__gemm_blocked(jp__gemm_selected(JP_FLOAT64), 0, m, n, k, a, lda, b, ldb, c, ldc) < 0)
		jp__gemm_ref(JP_FLOAT64, m, n, k, a, lda, b, ldb, c, ldc);
}
