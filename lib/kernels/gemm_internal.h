/*
 * gemm_internal.h - what the GEMM kernel files share: the description of
 * one compiled variant (micro-kernel shape, cache blocks, instruction set)
 * and the blocked loop that drives it.
 *
 * The loop (gemm_blocked.c) is the same for every dtype and instruction set:
 * it moves bytes (4 or 8 per element) into packed panels and calls the
 * variant's micro-kernel, which is the only code that knows the element
 * type. The micro-kernels are written once, in gemm_ukernel.h, and
 * instantiated per dtype and per target by the gemm_<dtype>.c files.
 */
#ifndef JOBPOOL_KERNELS_GEMM_INTERNAL_H
#define JOBPOOL_KERNELS_GEMM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jobpool.h>

/*
 * C[0:mv, 0:nv] (row stride ldc, in elements) = (acc ? C : 0) + Ap·Bp, where
 * Ap is a packed kc x MR micro-panel of A (MR values per step of k) and Bp a
 * packed kc x NR micro-panel of B (NR values per step of k), both 64-byte
 * aligned and zero-padded to the full MR and NR. mv <= MR and nv <= NR say
 * how much of the tile lies inside C.
 */
typedef void jp__gemm_ukernel_fn(size_t kc, const void *ap, const void *bp, void *c,
				 size_t ldc, size_t mv, size_t nv, int acc);

/* The instruction sets a variant needs (__builtin_cpu_supports takes only
 * literals, hence an enum rather than a feature string). */
enum jp__gemm_isa {
	JP__ISA_NONE,   /* portable C: the compiler's baseline */
	JP__ISA_AVX2,   /* avx2 + fma (x86-64-v3) */
	JP__ISA_AVX512, /* avx512f + dq + vl + bw (x86-64-v4): vpmullq */
};

/*
 * The exact route for int64: the same product through float64 FMAs, which
 * is exact while every partial sum is an integer of at most 2^53 in
 * magnitude, that is while max|A| * max|B| * kc <= 2^53 for the block in
 * hand (gemm_blocked.c checks it per B panel). Its packing converts int64
 * to double; its micro-kernel accumulates doubles and adds the block's
 * exact sums into the int64 C with wrap-around.
 */
typedef struct jp__gemm_exact {
	size_t mr, nr;
	jp__gemm_ukernel_fn *ukernel;
	/* A[0:mc, 0:kc] into MR-tall micro-panels of double */
	void (*pack_a)(size_t mc, size_t kc, const int64_t *a, size_t lda, double *dst);
	/* B[0:kc, 0:nc] into NR-wide micro-panels of double; returns max |b| */
	uint64_t (*pack_b)(size_t kc, size_t nc, const int64_t *b, size_t ldb, double *dst);
} jp__gemm_exact;

typedef struct jp__gemm_kernel {
	const char *name;          /* "avx512", "avx2", "portable" */
	enum jp__gemm_isa isa;     /* what the CPU must support */
	size_t esize;              /* bytes per element: 4 or 8 */
	size_t mr, nr;             /* the micro-tile: MR rows of A x NR columns of B */
	size_t mc, kc, nc;         /* cache blocks */
	jp__gemm_ukernel_fn *ukernel;
	const jp__gemm_exact *exact; /* int64 only: the float64 route, or NULL */
} jp__gemm_kernel;

/* C = A·B with kern, allocating its packing buffers for the call (see
 * jp__gemm_pack_bytes). Returns 0, or -ENOMEM when they could not be
 * allocated; C is then untouched. With exact_route 0, kern->exact is not
 * used (tests and benchmarks force the integer micro-kernel that way). */
int jp__gemm_blocked(const jp__gemm_kernel *kern, int exact_route, size_t m, size_t n,
		     size_t k, const void *a, size_t lda, const void *b, size_t ldb, void *c,
		     size_t ldc);

/* The bytes jp__gemm_blocked allocates for these sizes (A block + B panel;
 * 0 when it allocates nothing). */
size_t jp__gemm_pack_bytes(const jp__gemm_kernel *kern, size_t m, size_t n, size_t k);

/* The largest |x| in the rows x cols matrix x (row stride ld), as uint64
 * (|INT64_MIN| = 2^63 fits). */
uint64_t jp__i64_max_abs(size_t rows, size_t cols, const int64_t *x, size_t ld);

/* Whether this CPU (and its OS) can run kern's instruction set. */
int jp__gemm_kernel_usable(const jp__gemm_kernel *kern);

/*
 * The variants compiled for a dtype, best first, NULL-terminated; the
 * variant jp__gemm_<dtype> uses is the first usable one. Tests run every
 * usable variant; benchmarks force one through jp__gemm_blocked.
 */
const jp__gemm_kernel *const *jp__gemm_variants(jp_dtype dtype);

/* The variant jp__gemm_<dtype> uses on this CPU. */
const jp__gemm_kernel *jp__gemm_selected(jp_dtype dtype);

extern const jp__gemm_kernel *const jp__gemm_f64_variants[];
extern const jp__gemm_kernel *const jp__gemm_f32_variants[];
extern const jp__gemm_kernel *const jp__gemm_i64_variants[];
extern const jp__gemm_kernel *const jp__gemm_i32_variants[];

/* x86 targets for the variants: the instruction sets each micro-kernel is
 * compiled for, and the feature jp__gemm_kernel_usable checks. */
#if defined(__x86_64__) && defined(__GNUC__)
#define JP__GEMM_X86 1
#define JP__TARGET_AVX512 \
	__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,bmi2")))
#define JP__TARGET_AVX2 __attribute__((target("avx2,fma,bmi2")))
#endif

#endif
