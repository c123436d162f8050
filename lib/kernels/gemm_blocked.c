/*
 * gemm_blocked.c - the cache-blocked loop every GEMM variant shares, built
 * as GotoBLAS/BLIS build theirs:
 *
 *   for jc over n by NC:            B panel, kc x nc, packed (lives in L2/L3)
 *     for pc over k by KC:
 *       pack B[pc:+kc, jc:+nc] into NR-wide micro-panels
 *       for ic over m by MC:        A block, mc x kc, packed (lives in L2)
 *         pack A[ic:+mc, pc:+kc] into MR-tall micro-panels
 *         for jr over nc by NR:     one B micro-panel (kc x NR, in L1)...
 *           for ir over mc by MR:   ...against every A micro-panel
 *             micro-kernel: C[ic+ir:+MR, jc+jr:+NR] (+)= Ap · Bp
 *
 * The first pc block overwrites C and the later ones add to it, so C needs
 * no clearing and is read at most k / KC times. Packing makes every
 * micro-kernel load contiguous and 64-byte aligned and pads the edges with
 * zeros, so the micro-kernel always runs a full tile; only its store knows
 * about the edge. (The padding is not read into C, but it keeps the padded
 * lanes 0: no NaN or denormal slowdowns, and the exact route's conversion
 * of every lane to int64 stays defined.)
 *
 * Only element sizes matter here (packing copies bits), so one loop serves
 * all four dtypes. int64 adds one choice per B panel: its exact float64
 * route (gemm_i64.c) when the panel's and A's largest magnitudes allow it,
 * its integer micro-kernel otherwise; the panels of one call may take
 * either, since each adds its exact sums into C with wrap-around.
 *
 * The packing buffers, MC x KC for A and KC x min(n, NC) for B (at most
 * about 5.1 MB for either element size; 4.3 MB for n = 2000 in float64), are
 * allocated per call and freed before it returns: no static state, so any
 * number of threads may call at once.
 */
#include "config.h"

#include "kernels/gemm_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

/*
 * B[0:kc, 0:nc] (row stride ldb) into ceil(nc / nr) micro-panels, each kc
 * rows of nr elements, zero-padded on the right. Rows are read in order, so
 * the reads stream. The copies of whole micro-panel rows have a constant
 * size W (bytes), so that they compile to a few vector moves rather than a
 * call to memcpy per 64 bytes (which cost 15% of a 60 x 2000 x 2000 GEMM).
 */
static inline __attribute__((always_inline)) void
pack_b_w(size_t W, size_t es, size_t kc, size_t nc, const char *b, size_t ldb,
	 char *restrict dst)
{
	size_t nr = W / es, full = nc / nr * nr, panel = kc * W;
	for (size_t p = 0; p < kc; p++) {
		const char *row = b + p * ldb * es;
		char *d = dst + p * W;
		for (size_t j = 0; j < full; j += nr, d += panel)
			memcpy(d, row + j * es, W);
		if (full < nc) {
			size_t w = (nc - full) * es;
			memcpy(d, row + full * es, w);
			memset(d + w, 0, W - w);
		}
	}
}

static void pack_b(size_t es, size_t nr, size_t kc, size_t nc, const char *b, size_t ldb,
		   char *restrict dst)
{
	switch (nr * es) {
	case 32:
		pack_b_w(32, es, kc, nc, b, ldb, dst);
		break;
	case 64:
		pack_b_w(64, es, kc, nc, b, ldb, dst);
		break;
	case 128:
		pack_b_w(128, es, kc, nc, b, ldb, dst);
		break;
	case 192:
		pack_b_w(192, es, kc, nc, b, ldb, dst);
		break;
	default:
		pack_b_w(nr * es, es, kc, nc, b, ldb, dst);
		break;
	}
}

/*
 * A[0:mc, 0:kc] (row stride lda) into ceil(mc / mr) micro-panels, each kc
 * columns of mr elements (the transpose of the block), zero-padded below.
 * Bits are copied with fixed-size memcpy (a load and a store each), which
 * reads a float as what it is, not as an integer of its size.
 */
#define PACK_A(NAME, ES)                                                              \
	static void NAME(size_t mr, size_t mc, size_t kc, const char *a, size_t lda,   \
			 char *restrict dst)                                           \
	{                                                                              \
		for (size_t i = 0; i < mc; i += mr, dst += kc * mr * ES) {              \
			size_t h = min_sz(mr, mc - i);                                  \
			for (size_t r = 0; r < h; r++) {                                \
				const char *row = a + (i + r) * lda * ES;               \
				for (size_t p = 0; p < kc; p++)                         \
					memcpy(dst + (p * mr + r) * ES, row + p * ES, ES); \
			}                                                               \
			for (size_t r = h; r < mr; r++)                                 \
				for (size_t p = 0; p < kc; p++)                         \
					memset(dst + (p * mr + r) * ES, 0, ES);         \
		}                                                                      \
	}
PACK_A(pack_a4, 4)
PACK_A(pack_a8, 8)

static void pack_a(size_t es, size_t mr, size_t mc, size_t kc, const char *a, size_t lda,
		   char *dst)
{
	if (es == 8)
		pack_a8(mr, mc, kc, a, lda, dst);
	else
		pack_a4(mr, mc, kc, a, lda, dst);
}

/* The packing buffers for blocks of at most mcb x kcb (A) and kcb x ncb (B),
 * for the tile shapes of both routes: A micro-panels are MR tall, B's NR
 * wide, edges padded. */
static size_t pack_sizes(const jp__gemm_kernel *kern, size_t mcb, size_t kcb, size_t ncb,
			 size_t *abytes)
{
	size_t mr = kern->mr, nr = kern->nr;
	size_t am = round_up(mcb, mr), bn = round_up(ncb, nr);
	if (kern->exact) {
		size_t em = round_up(mcb, kern->exact->mr), en = round_up(ncb, kern->exact->nr);
		am = am > em ? am : em;
		bn = bn > en ? bn : en;
	}
	*abytes = round_up(am * kcb * kern->esize, 64);
	return *abytes + round_up(kcb * bn * kern->esize, 64);
}

size_t jp__gemm_pack_bytes(const jp__gemm_kernel *kern, size_t m, size_t n, size_t k)
{
	size_t abytes;
	if (!m || !n || !k)
		return 0;
	return pack_sizes(kern, min_sz(kern->mc, m), min_sz(kern->kc, k), min_sz(kern->nc, n),
			  &abytes);
}

uint64_t jp__i64_max_abs(size_t rows, size_t cols, const int64_t *x, size_t ld)
{
	uint64_t mx = 0;
	for (size_t i = 0; i < rows; i++)
		for (size_t j = 0; j < cols; j++) {
			uint64_t v = (uint64_t)x[i * ld + j];
			v = v >> 63 ? -v : v;
			mx = v > mx ? v : mx;
		}
	return mx;
}

/* Whether amax * bmax * kc <= 2^53 (exactly, without overflow): then every
 * product and partial sum of the block is an integer a double holds, so
 * each FMA's rounding is the identity. */
static int exact_fits(uint64_t amax, uint64_t bmax, size_t kc)
{
	if (amax == 0 || bmax == 0)
		return 1;
	return amax <= ((UINT64_C(1) << 53) / kc) / bmax;
}

int jp__gemm_blocked(const jp__gemm_kernel *kern, int exact_route, size_t m, size_t n,
		     size_t k, const void *a, size_t lda, const void *b, size_t ldb, void *c,
		     size_t ldc)
{
	size_t es = kern->esize;
	if (m == 0 || n == 0)
		return 0;
	if (k == 0) {
		for (size_t i = 0; i < m; i++)
			memset((char *)c + i * ldc * es, 0, n * es);
		return 0;
	}
	size_t kcb = min_sz(kern->kc, k), mcb = min_sz(kern->mc, m), ncb = min_sz(kern->nc, n);
	size_t abytes;
	char *buf = aligned_alloc(64, pack_sizes(kern, mcb, kcb, ncb, &abytes));
	if (!buf)
		return -ENOMEM;
	char *ap = buf, *bp = buf + abytes;

	/* The exact route needs max|A| first: one pass over A, small next to
	 * the n / NC passes the packing makes over it. Past 2^53 no B panel can
	 * qualify (max|B| >= 1 and kc >= 1), unless B is all zeros. */
	const jp__gemm_exact *ex = exact_route ? kern->exact : NULL;
	uint64_t amax = ex ? jp__i64_max_abs(m, k, a, lda) : 0;

	for (size_t jc = 0; jc < n; jc += ncb) {
		size_t nc = min_sz(ncb, n - jc);
		for (size_t pc = 0; pc < k; pc += kcb) {
			size_t kc = min_sz(kcb, k - pc);
			const char *bsrc = (const char *)b + (pc * ldb + jc) * es;
			/* Pack the panel for the exact route when A allows it, and
			 * keep it there if B's values allow it too; otherwise (large
			 * values: wrap-around territory) pack it again as bits. */
			int exact = ex && (amax == 0 || amax <= (UINT64_C(1) << 53) / kc);
			if (exact) {
				uint64_t bmax = ex->pack_b(kc, nc, (const int64_t *)bsrc, ldb, (double *)bp);
				exact = exact_fits(amax, bmax, kc);
			}
			if (!exact)
				pack_b(es, kern->nr, kc, nc, bsrc, ldb, bp);
			size_t mr = exact ? ex->mr : kern->mr, nr = exact ? ex->nr : kern->nr;
			jp__gemm_ukernel_fn *ukernel = exact ? ex->ukernel : kern->ukernel;

			for (size_t ic = 0; ic < m; ic += mcb) {
				size_t mc = min_sz(mcb, m - ic);
				const char *asrc = (const char *)a + (ic * lda + pc) * es;
				if (exact)
					ex->pack_a(mc, kc, (const int64_t *)asrc, lda, (double *)ap);
				else
					pack_a(es, mr, mc, kc, asrc, lda, ap);
				for (size_t jr = 0; jr < nc; jr += nr) {
					const char *bpanel = bp + jr * kc * es;
					size_t nv = min_sz(nr, nc - jr);
					for (size_t ir = 0; ir < mc; ir += mr) {
						char *cp = (char *)c + ((ic + ir) * ldc + jc + jr) * es;
						ukernel(kc, ap + ir * kc * es, bpanel, cp, ldc,
							min_sz(mr, mc - ir), nv, pc > 0);
					}
				}
			}
		}
	}
	free(buf);
	return 0;
}

int jp__gemm_kernel_usable(const jp__gemm_kernel *kern)
{
	switch (kern->isa) {
	case JP__ISA_NONE:
		return 1;
#ifdef JP__GEMM_X86
	case JP__ISA_AVX2:
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	case JP__ISA_AVX512:
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
		       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
#endif
	default:
		return 0;
	}
}

const jp__gemm_kernel *const *jp__gemm_variants(jp_dtype dtype)
{
	switch (dtype) {
	case JP_FLOAT64:
		return jp__gemm_f64_variants;
	case JP_FLOAT32:
		return jp__gemm_f32_variants;
	case JP_INT64:
		return jp__gemm_i64_variants;
	case JP_INT32:
		return jp__gemm_i32_variants;
	default:
		return NULL;
	}
}
