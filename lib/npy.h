/*
 * npy.h - NumPy's .npy format: parse and format headers, check a file's
 * size against its header, swap byte order. Pure functions over memory, no
 * system call and no global state, so a fuzzer can drive them on any bytes
 * (tests/fuzz/fuzz_npy.c); npyio.c does the file work around them.
 *
 * A .npy file is the magic "\x93NUMPY", a major and a minor version byte,
 * the header length (2 bytes little-endian in version 1.0, 4 bytes in 2.0
 * and 3.0), the header (the text of a Python dict literal with the keys
 * 'descr', 'fortran_order' and 'shape', padded with spaces and ended by a
 * '\n'), then the data.
 */
#ifndef JOBPOOL_NPY_H
#define JOBPOOL_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jobpool.h>

#define JP__NPY_ALIGN 64               /* data offset of the files we write */
#define JP__NPY_HEADER_MAX (1u << 20)  /* longer headers are refused */
/* The longest header jp__npy_format_header writes: 32 dimensions of 20
 * digits need under 900 bytes. */
#define JP__NPY_FORMAT_MAX 1024

typedef struct jp__npy_header {
	int major, minor;          /* 1.0, 2.0 or 3.0 */
	jp_dtype dtype;
	size_t itemsize;
	bool big_endian;           /* the data is big-endian (never for 1-byte types) */
	bool fortran_order;
	int ndim;
	size_t shape[JP_MAX_NDIM];
	size_t nbytes;             /* itemsize times the shape's product */
	/* Where the data starts: the whole header, magic to padding. After
	 * -EAGAIN, the bytes needed to go on (always more than were given). */
	size_t data_offset;
	char msg[160];             /* why the header was refused */
} jp__npy_header;

/*
 * Parse the header at the start of buf, of which len bytes are available.
 * Returns 0 with *h filled; -EAGAIN when buf is a valid start that ends too
 * soon (h->data_offset says how many bytes to read before trying again);
 * or, with h->msg saying why:
 *   -EINVAL      not a .npy header: bad magic, malformed dict, missing,
 *                repeated or unknown key, bad value, negative dimension,
 *                header longer than JP__NPY_HEADER_MAX
 *   JP_ENOTSUP   a well-formed header this library cannot represent: a
 *                format version other than 1.0/2.0/3.0, more than
 *                JP_MAX_NDIM dimensions, a dtype outside jp_dtype
 *                (structured, object, strings, float16, datetimes...)
 *   -EOVERFLOW   a dimension, or the data's size, or its end in the file,
 *                does not fit in 63 bits
 * Never reads outside buf[0, len).
 */
int jp__npy_parse_header(const uint8_t *buf, size_t len, jp__npy_header *h);

/* 0 when a file (or buffer) of `size` bytes holds the data the header
 * describes; -EINVAL with h->msg otherwise. Bytes past the data are
 * allowed, as NumPy allows them. */
int jp__npy_check_size(jp__npy_header *h, uint64_t size);

/* 0 when the data offset suits the dtype's alignment, so a mapping's data
 * pointer may be used as a pointer to the elements; JP_ENOTSUP with h->msg
 * otherwise (NumPy has always aligned to at least 16). */
int jp__npy_check_align(jp__npy_header *h);

/*
 * Write the header (magic to the final '\n') of array a, as NumPy writes
 * it: version 1.0, or 2.0 when the header exceeds 65535 bytes; descr in
 * this host's byte order; fortran_order from JP_ARRAY_FORTRAN; padded to a
 * multiple of JP__NPY_ALIGN. Only dtype, ndim, shape and flags are read.
 * Returns the length (the data offset), or -EINVAL for a malformed array,
 * -ENOSPC when cap is too small (JP__NPY_FORMAT_MAX never is).
 */
long jp__npy_format_header(const jp_array *a, uint8_t *out, size_t cap);

/* Reverse the bytes of each `unit`-byte word of data (unit 2, 4 or 8; a
 * complex number is two words). */
void jp__npy_swap(void *data, size_t nbytes, size_t unit);

/* The word size byte order applies to for a dtype: the item size, or half
 * of it for complex types; 1 when there is nothing to swap. */
size_t jp__npy_swap_unit(jp_dtype dtype);

#endif
