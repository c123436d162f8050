/*
 * array.c - dtypes and sizes of jp_array, and giving back the arrays the
 * library made.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

size_t jp_dtype_size(jp_dtype dtype)
{
	switch (dtype) {
	case JP_BOOL: case JP_INT8: case JP_UINT8: return 1;
	case JP_INT16: case JP_UINT16: return 2;
	case JP_INT32: case JP_UINT32: case JP_FLOAT32: return 4;
	case JP_INT64: case JP_UINT64: case JP_FLOAT64: case JP_COMPLEX64: return 8;
	case JP_COMPLEX128: return 16;
	}
	return 0;
}

/* SIZE_MAX when the product overflows or the array is malformed, so a
 * caller never allocates or copies a wrapped-around size. */
size_t jp_array_nbytes(const jp_array *a)
{
	if (!a || a->ndim < 0 || a->ndim > JP_MAX_NDIM)
		return SIZE_MAX;
	size_t n = jp_dtype_size(a->dtype);
	if (!n)
		return SIZE_MAX;
	for (int i = 0; i < a->ndim; i++)
		if (__builtin_mul_overflow(n, a->shape[i], &n))
			return SIZE_MAX;
	return n;
}

int jp__array_check(const jp_array *a, char *why, size_t cap)
{
	if (a->ndim < 0 || a->ndim > JP_MAX_NDIM)
		jp__msgf(why, cap, "ndim %d is not in [0, %d]", a->ndim, JP_MAX_NDIM);
	else if (!jp_dtype_size(a->dtype))
		jp__msgf(why, cap, "dtype %d is not a jp_dtype", (int)a->dtype);
	else if (jp_array_nbytes(a) == SIZE_MAX)
		jp__msgf(why, cap, "its size in bytes overflows size_t");
	else
		return 0;
	return -EINVAL;
}

void jp_array_release(jp_array *a)
{
	if (!a || !a->backing)
		return;
	jp_backing *b = a->backing;
	switch (b->kind) {
	case JP__BACK_HEAP:
		free(b->base);
		break;
	case JP__BACK_MAP:
		if (b->base)
			munmap(b->base, b->len);
		break;
	case JP__BACK_POOL:
		/* unlinks its file, tells the workers to unmap, frees b */
		jp__share_release(b);
		memset(a, 0, sizeof *a);
		return;
	default:
		/* A kind this switch does not know (yet): leave it alone rather
		 * than free what it may still link to. */
		return;
	}
	free(b->path);
	free(b);
	memset(a, 0, sizeof *a);
}
