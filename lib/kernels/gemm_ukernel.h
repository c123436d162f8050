/*
 * gemm_ukernel.h - the register-blocked micro-kernel, written once in GCC
 * vector extensions and instantiated per dtype and target: include it with
 *
 *   UK_NAME    the function's name
 *   UK_T       the element type computed in (unsigned for integers, so that
 *              products and sums wrap around without undefined behaviour)
 *   UK_VT      a vector of UK_T (vector_size: 16, 32 or 64 bytes)
 *   UK_MR      rows of A per tile (one broadcast each per step of k)
 *   UK_NV      vectors of B per tile row (NR = UK_NV * lanes)
 *   UK_ATTR    the target attribute, or nothing
 *
 * and, for a kernel that computes in double but stores into an int64 C
 * (the exact route of gemm_i64.c), also
 *
 *   UK_CT      C's element type (uint64_t)
 *   UK_CVT     a vector of UK_CT with UK_VT's lane count
 *   UK_SCVT    the signed vector the accumulators convert to first (a
 *              double converts to int64 exactly when it holds an integer
 *              below 2^63; to uint64 only when it is not negative)
 *
 * defined; they are undefined again at the end. The MR x NV accumulators
 * are a fixed-size array that GCC fully unrolls and keeps in registers (the
 * kernel files say what each instance compiles to), so MR * NV must leave
 * room for NV loads of B and a broadcast: at most 28 with 32 registers
 * (AVX-512), 12 with 16 (AVX2, SSE2).
 */
#include <string.h>

#ifndef UK_CT
#define UK_CT UK_T
#define UK_CVT UK_VT
#define UK_TO_C(x) (x)
#else
#define UK_TO_C(x) ((UK_CVT)__builtin_convertvector((x), UK_SCVT))
#endif

#define UK_VL (sizeof(UK_VT) / sizeof(UK_T))
#define UK_NR (UK_NV * UK_VL)

UK_ATTR static void UK_NAME(size_t kc, const void *ap_, const void *bp_, void *c_,
			    size_t ldc, size_t mv, size_t nv, int acc)
{
	const UK_T *ap = __builtin_assume_aligned(ap_, 64);
	const UK_T *bp = __builtin_assume_aligned(bp_, 64);
	UK_CT *c = c_;
	UK_VT t[UK_MR][UK_NV];

#pragma GCC unroll 32
	for (size_t r = 0; r < UK_MR; r++)
#pragma GCC unroll 8
		for (size_t v = 0; v < UK_NV; v++)
			t[r][v] = (UK_VT){ 0 };

	/* The C tile is touched once per kc steps, rows ldc apart: ask for it
	 * now, so the misses overlap the loop instead of stalling the stores
	 * (measured: +3 to +4 G/s for float64 and int64 at n = 1000). */
	for (size_t r = 0; r < mv; r++) {
		for (size_t j = 0; j < nv; j += 64 / sizeof(UK_CT))
			__builtin_prefetch(c + r * ldc + j, 1, 3);
		__builtin_prefetch(c + r * ldc + nv - 1, 1, 3);
	}

	for (size_t p = 0; p < kc; p++) {
		UK_VT b[UK_NV];
#pragma GCC unroll 8
		for (size_t v = 0; v < UK_NV; v++)
			memcpy(&b[v], bp + v * UK_VL, sizeof b[v]);
#pragma GCC unroll 32
		for (size_t r = 0; r < UK_MR; r++) {
			UK_T a = ap[r];
#pragma GCC unroll 8
			for (size_t v = 0; v < UK_NV; v++)
				t[r][v] += a * b[v];
		}
		ap += UK_MR;
		bp += UK_NR;
	}

	if (mv == UK_MR && nv == UK_NR) {
#pragma GCC unroll 32
		for (size_t r = 0; r < UK_MR; r++)
#pragma GCC unroll 8
			for (size_t v = 0; v < UK_NV; v++) {
				UK_CT *cp = c + r * ldc + v * UK_VL;
				UK_CVT x = UK_TO_C(t[r][v]);
				if (acc) {
					UK_CVT old;
					memcpy(&old, cp, sizeof old);
					x += old;
				}
				memcpy(cp, &x, sizeof x);
			}
		return;
	}
	/* an edge tile: through a buffer, only the part inside C */
	UK_CT tile[UK_MR * UK_NR] __attribute__((aligned(64)));
#pragma GCC unroll 32
	for (size_t r = 0; r < UK_MR; r++)
#pragma GCC unroll 8
		for (size_t v = 0; v < UK_NV; v++) {
			UK_CVT x = UK_TO_C(t[r][v]);
			memcpy(&tile[r * UK_NR + v * UK_VL], &x, sizeof x);
		}
	for (size_t r = 0; r < mv; r++)
		for (size_t j = 0; j < nv; j++)
			c[r * ldc + j] = acc ? c[r * ldc + j] + tile[r * UK_NR + j] : tile[r * UK_NR + j];
}

#undef UK_VL
#undef UK_NR
#undef UK_TO_C
#undef UK_NAME
#undef UK_T
#undef UK_VT
#undef UK_CT
#undef UK_CVT
#undef UK_SCVT
#undef UK_MR
#undef UK_NV
#undef UK_ATTR
