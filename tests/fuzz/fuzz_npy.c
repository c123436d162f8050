/*
 * fuzz_npy.c - libFuzzer target for the .npy header parser (lib/npy.c).
 *
 * The input is a whole .npy image in memory, as jp_load sees a file: the
 * header is parsed, the size checked against the input, the data copied
 * and byte-swapped as jp_load(path, NULL) does; an accepted header is
 * formatted again and must parse back to the same array. Built and run by
 * tests/fuzz/run; ASan and UBSan watch every read.
 */
#include "npy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	jp__npy_header h;
	int rc = jp__npy_parse_header(data, size, &h);
	if (rc == -EAGAIN) {
		if (h.data_offset <= size)
			abort(); /* -EAGAIN must ask for more than it had */
		return 0;
	}
	if (rc) {
		if (rc > 0 || !h.msg[0])
			abort(); /* every refusal is negative and says why */
		return 0;
	}
	if (h.ndim < 0 || h.ndim > JP_MAX_NDIM || h.data_offset > size || !h.itemsize)
		abort();
	(void)jp__npy_check_align(&h);

	/* jp_load's path into memory, from a buffer instead of a file */
	if (jp__npy_check_size(&h, size) == 0) {
		void *copy = malloc(h.nbytes ? h.nbytes : 1);
		if (!copy)
			return 0;
		memcpy(copy, data + h.data_offset, h.nbytes);
		if (h.big_endian != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__))
			jp__npy_swap(copy, h.nbytes, jp__npy_swap_unit(h.dtype));
		free(copy);
	}

	/* what we accept, we write back the same */
	jp_array a = { .dtype = h.dtype, .ndim = h.ndim,
		       .flags = h.fortran_order ? JP_ARRAY_FORTRAN : 0 };
	memcpy(a.shape, h.shape, sizeof a.shape);
	uint8_t out[JP__NPY_FORMAT_MAX];
	long n = jp__npy_format_header(&a, out, sizeof out);
	if (n <= 0 || n % JP__NPY_ALIGN)
		abort();
	jp__npy_header back;
	if (jp__npy_parse_header(out, (size_t)n, &back) || back.dtype != h.dtype ||
	    back.ndim != h.ndim || back.fortran_order != h.fortran_order ||
	    back.nbytes != h.nbytes || memcmp(back.shape, h.shape, sizeof h.shape) ||
	    back.data_offset != (size_t)n)
		abort();
	return 0;
}
