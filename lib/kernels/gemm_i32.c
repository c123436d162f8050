/*
 * gemm_i32.c - int32 GEMM: the micro-kernels and their blocking. Products
 * and sums in uint32_t: they wrap around modulo 2^32 as NumPy's int32 do.
 *
 * Generated code (gcc 12, objdump -d):
 *   avx512    12 x 32 tile: 24 zmm accumulators; per step of k 2 loads of
 *             B, 12 vpbroadcastd, 24 vpmulld + 24 vpaddd zmm
 *   avx2      6 x 16 tile: 12 ymm accumulators, 2 loads, 6 vpbroadcastd,
 *             12 vpmulld + 12 vpaddd ymm
 *   portable  4 x 8 tile on xmm: SSE2 has no pmulld, GCC builds it from
 *             pmuludq and shuffles
 *
 * AVX-512 pays a little on Zen 4 (one core, medians): 85 / 91 / 85 Gop/s
 * against 82 / 87 / 79 for AVX2 (n = 1000, n = 2000, 250 x 2000 x
 * 2000); the 8 x 48 zmm shape did 79 / 83, so 12 x 32 it is.
 */
#include "config.h"

#include "kernels/gemm.h"
#include "kernels/gemm_internal.h"

typedef uint32_t jp__v4u32 __attribute__((vector_size(16)));

#ifdef JP__GEMM_X86
typedef uint32_t jp__v8u32 __attribute__((vector_size(32)));
typedef uint32_t jp__v16u32 __attribute__((vector_size(64)));

#define UK_NAME ukernel_avx512
#define UK_T uint32_t
#define UK_VT jp__v16u32
#define UK_MR 12
#define UK_NV 2
#define UK_ATTR JP__TARGET_AVX512
#include "kernels/gemm_ukernel.h"

#define UK_NAME ukernel_avx2
#define UK_T uint32_t
#define UK_VT jp__v8u32
#define UK_MR 6
#define UK_NV 2
#define UK_ATTR JP__TARGET_AVX2
#include "kernels/gemm_ukernel.h"

static const jp__gemm_kernel avx512 = {
	.name = "avx512", .isa = JP__ISA_AVX512, .esize = 4,
	.mr = 12, .nr = 32, .mc = 96, .kc = 256, .nc = 4800,
	.ukernel = ukernel_avx512,
};
static const jp__gemm_kernel avx2 = {
	.name = "avx2", .isa = JP__ISA_AVX2, .esize = 4,
	.mr = 6, .nr = 16, .mc = 96, .kc = 256, .nc = 4800,
	.ukernel = ukernel_avx2,
};
#endif

#define UK_NAME ukernel_portable
#define UK_T uint32_t
#define UK_VT jp__v4u32
#define UK_MR 4
#define UK_NV 2
#define UK_ATTR
#include "kernels/gemm_ukernel.h"

static const jp__gemm_kernel portable = {
	.name = "portable", .isa = JP__ISA_NONE, .esize = 4,
	.mr = 4, .nr = 8, .mc = 96, .kc = 256, .nc = 4800,
	.ukernel = ukernel_portable,
};

const jp__gemm_kernel *const jp__gemm_i32_variants[] = {
#ifdef JP__GEMM_X86
	&avx512, &avx2,
#endif
	&portable, NULL,
};

void jp__gemm_i32(size_t m, size_t n, size_t k, const int32_t *a, size_t lda,
		  const int32_t *b, size_t ldb, int32_t *c, size_t ldc)
{
	if (jp__gemm_blocked(jp__gemm_selected(JP_INT32), 0, m, n, k, a, lda, b, ldb, c, ldc) < 0)
		jp__gemm_ref(JP_INT32, m, n, k, a, lda, b, ldb, c, ldc);
}
