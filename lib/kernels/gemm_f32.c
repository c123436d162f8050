/*
 * gemm_f32.c - float32 GEMM: the micro-kernels and their blocking (used
 * when the library has no CBLAS, or with JOBPOOL_BLAS=0).
 *
 * Generated code (gcc 12, objdump -d):
 *   avx2      6 x 16 tile: 12 ymm accumulators; per step of k 2 loads of B,
 *             6 vbroadcastss of A, 12 vfmadd231ps ymm
 *   portable  4 x 8 tile: 8 xmm accumulators, mulps + addps
 *
 * No AVX-512 variant, as for float64: on Zen 4 an 8 x 48 zmm kernel did
 * 98 / 106 / 95 GFLOP/s against 97 / 106 / 98 for this one (n = 1000,
 * n = 2000, 250 x 2000 x 2000, one core).
 */
#include "config.h"

#include "kernels/gemm.h"
#include "kernels/gemm_internal.h"

typedef float jp__v4f __attribute__((vector_size(16)));

#ifdef JP__GEMM_X86
typedef float jp__v8f __attribute__((vector_size(32)));

#define UK_NAME ukernel_avx2
#define UK_T float
#define UK_VT jp__v8f
#define UK_MR 6
#define UK_NV 2
#define UK_ATTR JP__TARGET_AVX2
#include "kernels/gemm_ukernel.h"

static const jp__gemm_kernel avx2 = {
	.name = "avx2", .isa = JP__ISA_AVX2, .esize = 4,
	.mr = 6, .nr = 16, .mc = 96, .kc = 256, .nc = 4800,
	.ukernel = ukernel_avx2,
};
#endif

#define UK_NAME ukernel_portable
#define UK_T float
#define UK_VT jp__v4f
#define UK_MR 4
#define UK_NV 2
#define UK_ATTR
#include "kernels/gemm_ukernel.h"

static const jp__gemm_kernel portable = {
	.name = "portable", .isa = JP__ISA_NONE, .esize = 4,
	.mr = 4, .nr = 8, .mc = 96, .kc = 256, .nc = 4800,
	.ukernel = ukernel_portable,
};

const jp__gemm_kernel *const jp__gemm_f32_variants[] = {
#ifdef JP__GEMM_X86
	&avx2,
#endif
	&portable, NULL,
};

void jp__gemm_f32(size_t m, size_t n, size_t k, const float *a, size_t lda,
		  const float *b, size_t ldb, float *c, size_t ldc)
{
	if (jp__gemm_blocked(jp__gemm_selected(JP_FLOAT32), 0, m, n, k, a, lda, b, ldb, c, ldc) < 0)
		jp__gemm_ref(JP_FLOAT32, m, n, k, a, lda, b, ldb, c, ldc);
}
