/*
 * gemm_i64.c - int64 GEMM: the micro-kernels, their blocking, and the exact
 * float64 route.
 *
 * Two routes, chosen per B panel by jp__gemm_blocked:
 *
 * - the integer route, for any values: products and sums in uint64_t, so
 *   they wrap around modulo 2^64 as NumPy's int64 do. AVX-512DQ has a
 *   64-bit lane multiply (vpmullq); AVX2 has none, and GCC builds each
 *   64-bit product from three vpmuludq, shifts and adds.
 * - the exact route, when max|A| * max|B| * kc <= 2^53 for the panel (the
 *   common case: counts, indices, NumPy's small test values): the panel is
 *   packed as double and multiplied with FMAs, every partial sum being an
 *   integer a double holds, then added into C as int64.
 *
 * Generated code (gcc 12, objdump -d):
 *   avx512    integer 12 x 16: 24 zmm accumulators, per step of k 2 loads of
 *             B, 12 vpbroadcastq, 24 vpmullq + 24 vpaddq zmm
 *             exact 8 x 24: 24 zmm accumulators, 3 loads, 8 vbroadcastsd,
 *             24 vfmadd231pd zmm; vcvtqq2pd packing, vcvttpd2qq stores
 *   avx2      integer 6 x 8: 12 ymm accumulators, the multiply emulated
 *             (vpmuludq x3, vpsrlq, vpsllq, vpaddq per product)
 *             exact 6 x 8: 12 ymm accumulators, 12 vfmadd231pd ymm
 *   portable  integer 4 x 4 and exact 4 x 4 on xmm (SSE2: no FMA)
 *
 * Measured on one core of the Zen 4 VM (Gop/s, n = 1000 / n = 2000 /
 * 250 x 2000 x 2000, medians; doc/design.md has the whole table):
 *   avx512    exact 51 / 53 / 47, integer 44 / 45 / 41
 *   avx2      exact 45 / 49 / 44, integer 13 / 13 / 12
 *   portable  exact 17 / 17 / 15, integer  6 /  6 /  6
 * Every variant pays where it runs, and so does the exact route. Integer
 * tiles of 8 x 24, 6 x 32, 14 x 16 and 4 x 48 zmm did no better than
 * 12 x 16 (38 to 42 against 42 to 44 at n = 1000).
 */
#include "config.h"

#include "kernels/gemm.h"
#include "kernels/gemm_internal.h"

#include <string.h>

typedef uint64_t jp__v2u64 __attribute__((vector_size(16)));
typedef int64_t jp__v2i64 __attribute__((vector_size(16)));
typedef double jp__v2d __attribute__((vector_size(16)));

/*
 * The exact route's packing: int64 to double (exact for the values the
 * route accepts; larger ones are packed too, but then the panel is packed
 * again as bits), zero-padded like the bit packing of gemm_blocked.c.
 */
#define EXACT_PACKING(SUFFIX, ATTR, MR, NR)                                             \
	ATTR static void pack_a_##SUFFIX(size_t mc, size_t kc, const int64_t *a, size_t lda, \
					 double *restrict dst)                                \
	{                                                                                \
		for (size_t i = 0; i < mc; i += MR, dst += kc * MR) {                     \
			size_t h = mc - i < MR ? mc - i : MR;                             \
			for (size_t r = 0; r < h; r++) {                                  \
				const int64_t *row = a + (i + r) * lda;                   \
				for (size_t p = 0; p < kc; p++)                           \
					dst[p * MR + r] = (double)row[p];                 \
			}                                                                 \
			for (size_t r = h; r < MR; r++)                                   \
				for (size_t p = 0; p < kc; p++)                           \
					dst[p * MR + r] = 0;                              \
		}                                                                        \
	}                                                                                \
	ATTR static uint64_t pack_b_##SUFFIX(size_t kc, size_t nc, const int64_t *b,         \
					     size_t ldb, double *restrict dst)                \
	{                                                                                \
		uint64_t mx = 0;                                                         \
		for (size_t p = 0; p < kc; p++) {                                         \
			const int64_t *row = b + p * ldb;                                 \
			double *d = dst + p * NR;                                         \
			for (size_t j = 0; j < nc; j += NR, d += kc * NR) {               \
				size_t w = nc - j < NR ? nc - j : NR;                     \
				if (w == NR) {                                            \
					for (size_t q = 0; q < NR; q++) {                 \
						uint64_t u = (uint64_t)row[j + q];        \
						u = u >> 63 ? -u : u;                     \
						mx = u > mx ? u : mx;                     \
						d[q] = (double)row[j + q];                \
					}                                                 \
					continue;                                         \
				}                                                         \
				for (size_t q = 0; q < NR; q++) {                         \
					uint64_t u = q < w ? (uint64_t)row[j + q] : 0;    \
					u = u >> 63 ? -u : u;                             \
					mx = u > mx ? u : mx;                             \
					d[q] = q < w ? (double)row[j + q] : 0;            \
				}                                                         \
			}                                                                 \
		}                                                                        \
		return mx;                                                               \
	}

#ifdef JP__GEMM_X86
typedef uint64_t jp__v4u64 __attribute__((vector_size(32)));
typedef int64_t jp__v4i64 __attribute__((vector_size(32)));
typedef double jp__v4d __attribute__((vector_size(32)));
typedef uint64_t jp__v8u64 __attribute__((vector_size(64)));
typedef int64_t jp__v8i64 __attribute__((vector_size(64)));
typedef double jp__v8d __attribute__((vector_size(64)));

#define UK_NAME ukernel_avx512
#define UK_T uint64_t
#define UK_VT jp__v8u64
#define UK_MR 12
#define UK_NV 2
#define UK_ATTR JP__TARGET_AVX512
#include "kernels/gemm_ukernel.h"

#define UK_NAME exact_ukernel_avx512
#define UK_T double
#define UK_VT jp__v8d
#define UK_CT uint64_t
#define UK_CVT jp__v8u64
#define UK_SCVT jp__v8i64
#define UK_MR 8
#define UK_NV 3
#define UK_ATTR JP__TARGET_AVX512
#include "kernels/gemm_ukernel.h"
EXACT_PACKING(avx512, JP__TARGET_AVX512, 8, 24)

#define UK_NAME ukernel_avx2
#define UK_T uint64_t
#define UK_VT jp__v4u64
#define UK_MR 6
#define UK_NV 2
#define UK_ATTR JP__TARGET_AVX2
#include "kernels/gemm_ukernel.h"

#define UK_NAME exact_ukernel_avx2
#define UK_T double
#define UK_VT jp__v4d
#define UK_CT uint64_t
#define UK_CVT jp__v4u64
#define UK_SCVT jp__v4i64
#define UK_MR 6
#define UK_NV 2
#define UK_ATTR JP__TARGET_AVX2
#include "kernels/gemm_ukernel.h"
EXACT_PACKING(avx2, JP__TARGET_AVX2, 6, 8)

static const jp__gemm_exact exact_avx512 = {
	.mr = 8, .nr = 24, .ukernel = exact_ukernel_avx512,
	.pack_a = pack_a_avx512, .pack_b = pack_b_avx512,
};
static const jp__gemm_kernel avx512 = {
	.name = "avx512", .isa = JP__ISA_AVX512, .esize = 8,
	.mr = 12, .nr = 16, .mc = 96, .kc = 256, .nc = 2400,
	.ukernel = ukernel_avx512, .exact = &exact_avx512,
};
static const jp__gemm_exact exact_avx2 = {
	.mr = 6, .nr = 8, .ukernel = exact_ukernel_avx2,
	.pack_a = pack_a_avx2, .pack_b = pack_b_avx2,
};
static const jp__gemm_kernel avx2 = {
	.name = "avx2", .isa = JP__ISA_AVX2, .esize = 8,
	.mr = 6, .nr = 8, .mc = 96, .kc = 256, .nc = 2400,
	.ukernel = ukernel_avx2, .exact = &exact_avx2,
};
#endif

#define UK_NAME ukernel_portable
#define UK_T uint64_t
#define UK_VT jp__v2u64
#define UK_MR 4
#define UK_NV 2
#define UK_ATTR
#include "kernels/gemm_ukernel.h"

#define UK_NAME exact_ukernel_portable
#define UK_T double
#define UK_VT jp__v2d
#define UK_CT uint64_t
#define UK_CVT jp__v2u64
#define UK_SCVT jp__v2i64
#define UK_MR 4
#define UK_NV 2
#define UK_ATTR
#include "kernels/gemm_ukernel.h"
EXACT_PACKING(portable, , 4, 4)

static const jp__gemm_exact exact_portable = {
	.mr = 4, .nr = 4, .ukernel = exact_ukernel_portable,
	.pack_a = pack_a_portable, .pack_b = pack_b_portable,
};
static const jp__gemm_kernel portable = {
	.name = "portable", .isa = JP__ISA_NONE, .esize = 8,
	.mr = 4, .nr = 4, .mc = 96, .kc = 256, .nc = 2400,
	.ukernel = ukernel_portable, .exact = &exact_portable,
};

const jp__gemm_kernel *const jp__gemm_i64_variants[] = {
#ifdef JP__GEMM_X86
	&avx512, &avx2,
#endif
	&portable, NULL,
};

void jp__gemm_i64(size_t m, size_t n, size_t k, const int64_t *a, size_t lda,
		  const int64_t *b, size_t ldb, int64_t *c, size_t ldc)
{
	if (jp__gemm_blocked(jp__gemm_selected(JP_INT64), 1, m, n, k, a, lda, b, ldb, c, ldc) < 0)
		jp__gemm_ref(JP_INT64, m, n, k, a, lda, b, ldb, c, ldc);
}
