/*
 * test-npy.c - the .npy format: round trips of every dtype and layout
 * through jp_dump and jp_load in every mode, headers as NumPy and other
 * writers spell them, and every malformed, truncated or lying header and
 * file refused with its own code and without reading out of bounds.
 */
#include "internal.h" /* first: config.h's _GNU_SOURCE before any system header */
#include "helpers.h"
#include "npy.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a private folder per test, removed at its end ---------------------- */

/*
 * Each test works in its own folder inside `root`. A test removes its
 * folder when it passes; a failed test dies where it fails (check's fork
 * mode), so the runner removes the whole root after the test case, in
 * the parent, whatever happened.
 */
static char root[2048];
static char folder[4096];

static void root_make(void)
{
	jpt_mkdtemp(root, sizeof root, "npytest");
}

static void root_remove(void)
{
	jpt_remove_tree(root);
}

static void folder_make(void)
{
	snprintf(folder, sizeof folder, "%s/t.XXXXXX", root);
	ck_assert_msg(mkdtemp(folder) != NULL, "mkdtemp %s: %s", folder, strerror(errno));
}

/* Entries in the folder, "." and ".." aside. */
static int folder_count(void)
{
	DIR *d = opendir(folder);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void folder_remove(void)
{
	DIR *d = opendir(folder);
	if (!d)
		return;
	struct dirent *de;
	char p[8192];
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(p, sizeof p, "%s/%s", folder, de->d_name);
			unlink(p);
		}
	closedir(d);
	ck_assert_int_eq(rmdir(folder), 0);
}

static const char *in_folder(const char *name)
{
	static char p[8192];
	snprintf(p, sizeof p, "%s/%s", folder, name);
	return p;
}

static bool contains(const uint8_t *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s)) != NULL;
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

static uint8_t *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	*n = (size_t)ftell(f);
	rewind(f);
	uint8_t *p = malloc(*n ? *n : 1);
	ck_assert_uint_eq(fread(p, 1, *n, f), *n);
	fclose(f);
	return p;
}

/* ---- hand-written headers -------------------------------------------------- */

/*
 * A .npy prefix of version major.0 with this dict, padded with spaces and a
 * '\n' so the data starts at a multiple of `align` (1: no padding and no
 * newline). Returns the header's length.
 */
static size_t make_header(uint8_t *out, int major, const char *dict, size_t align)
{
	static const uint8_t magic[6] = { 0x93, 'N', 'U', 'M', 'P', 'Y' };
	size_t prefix = major == 1 ? 10 : 12, n = strlen(dict);
	size_t total = align > 1 ? jp__align_up(prefix + n + 1, align) : prefix + n;
	memcpy(out, magic, 6);
	out[6] = (uint8_t)major;
	out[7] = 0;
	size_t hlen = total - prefix;
	for (size_t i = 0; i < prefix - 8; i++)
		out[8 + i] = (uint8_t)(hlen >> (8 * i));
	memcpy(out + prefix, dict, n);
	if (align > 1) {
		memset(out + prefix + n, ' ', total - prefix - n - 1);
		out[total - 1] = '\n';
	}
	return total;
}

/* Parse a hand-written header from an exact-size heap block. */
static int parse_dict(int major, const char *dict, jp__npy_header *h)
{
	uint8_t *buf = malloc(strlen(dict) + 128);
	size_t n = make_header(buf, major, dict, 64);
	uint8_t *exact = malloc(n);
	memcpy(exact, buf, n);
	int rc = jp__npy_parse_header(exact, n, h);
	free(exact);
	free(buf);
	return rc;
}

/* ---- values ---------------------------------------------------------------- */

static const jp_dtype all_dtypes[] = {
	JP_BOOL,   JP_INT8,    JP_INT16,   JP_INT32,   JP_INT64,     JP_UINT8,     JP_UINT16,
	JP_UINT32, JP_UINT64,  JP_FLOAT32, JP_FLOAT64, JP_COMPLEX64, JP_COMPLEX128,
};
#define NDTYPES (sizeof all_dtypes / sizeof all_dtypes[0])

/* Bytes that differ element to element and byte to byte. */
static void fill(jp_array *a, uint8_t seed)
{
	size_t n = jp_array_nbytes(a);
	uint8_t *p = a->data;
	for (size_t i = 0; i < n; i++)
		p[i] = a->dtype == JP_BOOL ? (uint8_t)((i + seed) % 3 == 0)
					   : (uint8_t)(i * 131 + seed * 7 + i / 256);
}

static jp_array make(jp_dtype dtype, int ndim, const size_t *shape)
{
	jp_array a = { .dtype = dtype, .ndim = ndim };
	if (ndim)
		memcpy(a.shape, shape, (size_t)ndim * sizeof *shape);
	size_t n = jp_array_nbytes(&a);
	ck_assert(n != SIZE_MAX);
	ck_assert_int_eq(posix_memalign(&a.data, 64, n ? n : 1), 0);
	fill(&a, (uint8_t)dtype);
	return a;
}

static void assert_same(const jp_array *got, const jp_array *want)
{
	ck_assert_int_eq(got->dtype, want->dtype);
	ck_assert_int_eq(got->ndim, want->ndim);
	for (int i = 0; i < want->ndim; i++)
		ck_assert_uint_eq(got->shape[i], want->shape[i]);
	ck_assert_uint_eq(got->flags & JP_ARRAY_FORTRAN, want->flags & JP_ARRAY_FORTRAN);
	size_t n = jp_array_nbytes(want);
	ck_assert_uint_eq(jp_array_nbytes(got), n);
	ck_assert(!n || !memcmp(got->data, want->data, n));
	ck_assert_uint_eq((uintptr_t)got->data % 64, 0);
	ck_assert_ptr_nonnull(got->backing);
}

/* Dump, check the file's layout, load it back in every mode. */
static void round_trip(const jp_array *a, const char *name)
{
	const char *path = in_folder(name);
	int rc = jp_dump(a, path);
	ck_assert_msg(rc == 0, "jp_dump %s: %s: %s", name, jp_strerror(rc), jp_npy_errmsg());
	ck_assert_str_eq(jp_npy_errmsg(), "");

	size_t n;
	uint8_t *file = read_file(path, &n);
	jp__npy_header h;
	ck_assert_int_eq(jp__npy_parse_header(file, n, &h), 0);
	ck_assert_int_eq(h.major, 1);
	ck_assert_uint_eq(h.data_offset % 64, 0);
	ck_assert_uint_eq(n, h.data_offset + jp_array_nbytes(a));
	ck_assert_int_eq(file[h.data_offset - 1], '\n');
	free(file);

	static const char *const modes[] = { NULL, "r", "r+", "c" };
	for (size_t m = 0; m < 4; m++) {
		jp_array b;
		rc = jp_load(path, modes[m], &b);
		ck_assert_msg(rc == 0, "jp_load %s %s: %s: %s", name, modes[m] ? modes[m] : "NULL",
			      jp_strerror(rc), jp_npy_errmsg());
		assert_same(&b, a);
		unsigned want = !modes[m] || m == 3 ? 0
			      : m == 1	       ? JP_ARRAY_READONLY | JP_ARRAY_SHARED
					       : JP_ARRAY_SHARED;
		ck_assert_uint_eq(b.flags & ~JP_ARRAY_FORTRAN, want);
		jp_array_release(&b);
		ck_assert_ptr_null(b.data);
		ck_assert_ptr_null(b.backing);
	}
}

/* ---- round trips ------------------------------------------------------------ */

START_TEST(every_dtype_round_trips)
{
	folder_make();
	for (size_t i = 0; i < NDTYPES; i++) {
		size_t shape[] = { 3, 5 };
		jp_array a = make(all_dtypes[i], 2, shape);
		char name[32];
		snprintf(name, sizeof name, "d%d.npy", (int)all_dtypes[i]);
		round_trip(&a, name);
		free(a.data);
	}
	ck_assert_int_eq(folder_count(), (int)NDTYPES);
	folder_remove();
}
END_TEST

START_TEST(orders_and_odd_shapes_round_trip)
{
	folder_make();
	size_t s3[] = { 4, 3, 2 };
	jp_array f = make(JP_FLOAT64, 3, s3);
	f.flags = JP_ARRAY_FORTRAN;
	round_trip(&f, "fortran.npy");
	jp__npy_header h;
	size_t n;
	uint8_t *file = read_file(in_folder("fortran.npy"), &n);
	ck_assert_int_eq(jp__npy_parse_header(file, n, &h), 0);
	ck_assert(h.fortran_order);
	ck_assert(contains(file, h.data_offset, "'fortran_order': True"));
	free(file);
	free(f.data);

	jp_array scalar = make(JP_COMPLEX128, 0, NULL); /* 0-d: one element */
	round_trip(&scalar, "scalar.npy");
	free(scalar.data);

	size_t s03[] = { 0, 3 };
	jp_array empty = make(JP_INT32, 2, s03);
	round_trip(&empty, "empty.npy");
	free(empty.data);

	size_t s1[] = { 7 };
	jp_array one = make(JP_UINT16, 1, s1);
	round_trip(&one, "one.npy");
	free(one.data);

	/* 32 dimensions, 1s and 2s: 2^10 elements */
	size_t s32[JP_MAX_NDIM];
	for (int i = 0; i < JP_MAX_NDIM; i++)
		s32[i] = i % 3 == 0 ? 2 : 1;
	jp_array deep = make(JP_INT8, JP_MAX_NDIM, s32);
	round_trip(&deep, "deep.npy");
	deep.flags = JP_ARRAY_FORTRAN;
	round_trip(&deep, "deep-f.npy");
	free(deep.data);
	folder_remove();
}
END_TEST

START_TEST(header_is_spelled_as_numpy_spells_it)
{
	uint8_t out[JP__NPY_FORMAT_MAX];
	jp_array a = { .dtype = JP_FLOAT64, .ndim = 2, .shape = { 3, 4 } };
	long n = jp__npy_format_header(&a, out, sizeof out);
	ck_assert_int_eq(n, 128); /* as NumPy's: 10 + 61 + 1 rounded up */
	const char *dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }";
	ck_assert(!memcmp(out, "\x93NUMPY\x01\x00\x76\x00", 10));
	ck_assert(!memcmp(out + 10, dict, strlen(dict)));
	for (size_t i = 10 + strlen(dict); i < 127; i++)
		ck_assert_int_eq(out[i], ' ');
	ck_assert_int_eq(out[127], '\n');

	jp_array b = { .dtype = JP_BOOL, .ndim = 1, .shape = { 7 }, .flags = JP_ARRAY_FORTRAN };
	n = jp__npy_format_header(&b, out, sizeof out);
	ck_assert(n > 0);
	ck_assert(contains(out, (size_t)n, "{'descr': '|b1', 'fortran_order': True, 'shape': (7,), }"));
	jp_array c = { .dtype = JP_COMPLEX64, .ndim = 0 };
	n = jp__npy_format_header(&c, out, sizeof out);
	ck_assert(contains(out, (size_t)n, "'descr': '<c8'") && contains(out, (size_t)n, "(), }"));

	/* the longest header: 32 dimensions of 20 digits fit the buffer */
	jp_array big = { .dtype = JP_COMPLEX128, .ndim = JP_MAX_NDIM, .flags = JP_ARRAY_FORTRAN };
	for (int i = 0; i < JP_MAX_NDIM; i++)
		big.shape[i] = SIZE_MAX;
	n = jp__npy_format_header(&big, out, sizeof out);
	ck_assert(n > 0 && n % 64 == 0);
	ck_assert_int_eq(jp__npy_format_header(&big, out, 100), -ENOSPC);
	jp__npy_header h;
	ck_assert_int_eq(jp__npy_parse_header(out, (size_t)n, &h), -EOVERFLOW);
	/* the largest array accepted is written back with the same shape */
	jp_array most = { .dtype = JP_BOOL, .ndim = 1, .shape = { (size_t)INT64_MAX - JP__NPY_FORMAT_MAX } };
	n = jp__npy_format_header(&most, out, sizeof out);
	ck_assert(n > 0);
	ck_assert_int_eq(jp__npy_parse_header(out, (size_t)n, &h), 0);
	ck_assert_uint_eq(h.nbytes, (size_t)INT64_MAX - JP__NPY_FORMAT_MAX);
	most.shape[0]++;
	n = jp__npy_format_header(&most, out, sizeof out);
	ck_assert_int_eq(jp__npy_parse_header(out, (size_t)n, &h), -EOVERFLOW);
	jp_array bad = { .dtype = 99 };
	ck_assert_int_eq(jp__npy_format_header(&bad, out, sizeof out), -EINVAL);
}
END_TEST

/* ---- parsing ----------------------------------------------------------------- */

START_TEST(headers_as_python_writes_them)
{
	jp__npy_header h;
	const bool big = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
	ck_assert_int_eq(parse_dict(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }", &h), 0);
	ck_assert(h.dtype == JP_FLOAT64 && h.ndim == 2 && h.shape[0] == 3 && h.shape[1] == 4);
	ck_assert(!h.big_endian && !h.fortran_order && h.nbytes == 96 && h.data_offset == 128);

	/* any key order, either quote, no trailing comma, odd spacing */
	ck_assert_int_eq(parse_dict(1, "{\"shape\":(3,4,),\"descr\":\">i4\",\"fortran_order\":True}", &h), 0);
	ck_assert(h.dtype == JP_INT32 && h.big_endian && h.fortran_order && h.ndim == 2);
	ck_assert_int_eq(parse_dict(1, " {\n\t'fortran_order' : False ,\n 'shape' : ( 3 , ) ,\r\n 'descr' : '=f4' , } ", &h), 0);
	ck_assert(h.dtype == JP_FLOAT32 && h.ndim == 1 && h.shape[0] == 3 && h.big_endian == big);
	ck_assert_int_eq(parse_dict(1, "{'descr': '|u1', 'fortran_order': False, 'shape': ()}", &h), 0);
	ck_assert(h.dtype == JP_UINT8 && h.ndim == 0 && h.nbytes == 1);
	ck_assert_int_eq(parse_dict(1, "{'descr': '<c16', 'fortran_order': False, 'shape': (2,)}", &h), 0);
	ck_assert(h.dtype == JP_COMPLEX128 && h.nbytes == 32);
	ck_assert_int_eq(parse_dict(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (0, 5)}", &h), 0);
	ck_assert(h.dtype == JP_BOOL && h.nbytes == 0);
	ck_assert_int_eq(parse_dict(1, "{'descr': '|i1', 'fortran_order': False, 'shape': (5,)}", &h), 0);
	ck_assert(h.dtype == JP_INT8 && !h.big_endian);
	ck_assert_int_eq(parse_dict(1, "{'descr': '>u1', 'fortran_order': False, 'shape': (5,)}", &h), 0);
	ck_assert(h.dtype == JP_UINT8 && !h.big_endian); /* one byte has no order */
	ck_assert_int_eq(parse_dict(1, "{'descr': 'u8', 'fortran_order': False, 'shape': (5,)}", &h), 0);
	ck_assert(h.dtype == JP_UINT64 && h.big_endian == big);
	/* Python 2 longs, as NumPy's own filter accepts in 1.0 and 2.0 */
	ck_assert_int_eq(parse_dict(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3L, 4L), }", &h), 0);
	ck_assert(h.shape[0] == 3 && h.shape[1] == 4);
	/* versions 2.0 and 3.0: four length bytes */
	ck_assert_int_eq(parse_dict(2, "{'descr': '<i2', 'fortran_order': False, 'shape': (5,), }", &h), 0);
	ck_assert(h.major == 2 && h.dtype == JP_INT16 && h.data_offset == 128);
	ck_assert_int_eq(parse_dict(3, "{'descr': '<u4', 'fortran_order': True, 'shape': (2, 2), }", &h), 0);
	ck_assert(h.major == 3 && h.dtype == JP_UINT32 && h.fortran_order);
	/* no padding, no newline: not what NumPy writes, but what it reads */
	uint8_t buf[256];
	size_t n = make_header(buf, 1, "{'descr':'<f8','fortran_order':False,'shape':(1,)}", 1);
	ck_assert_int_eq(jp__npy_parse_header(buf, n, &h), 0);
	ck_assert_uint_eq(h.data_offset, n);
	/* the largest dimension that fits: 2^63 - 1 bytes less the longest
	 * header jp_dump writes */
	ck_assert_int_eq(parse_dict(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (9223372036854774783,)}", &h), 0);
	ck_assert_int_eq(parse_dict(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (9223372036854774784,)}", &h), -EOVERFLOW);
	ck_assert_int_eq(parse_dict(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 9223372036854775807)}", &h), 0);
	ck_assert_uint_eq(h.nbytes, 0);
}
END_TEST

static const struct {
	int major;
	const char *dict;
	int code;
} bad_headers[] = {
	{ 1, "", -EINVAL },
	{ 1, "{", -EINVAL },
	{ 1, "[]", -EINVAL },
	{ 1, "{}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False}", -EINVAL },            /* no shape */
	{ 1, "{'descr': '<f8', 'shape': (3,)}", -EINVAL },                     /* no order */
	{ 1, "{'fortran_order': False, 'shape': (3,)}", -EINVAL },             /* no descr */
	{ 1, "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (3,)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'extra': 1}", -EINVAL },
	{ 1, "{'descr': '<f8' 'fortran_order': False, 'shape': (3,)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,),, }", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} x", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}}", -EINVAL },
	{ 1, "{'descr' '<f8', 'fortran_order': False, 'shape': (3,)}", -EINVAL },
	{ 1, "{descr: '<f8', 'fortran_order': False, 'shape': (3,)}", -EINVAL },
	{ 1, "{'descr': '<f8\", 'fortran_order': False, 'shape': (3,)}", -EINVAL },
	{ 1, "{'de\\x73cr': '<f8', 'fortran_order': False, 'shape': (3,)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': Falsey, 'shape': (3,)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': false, 'shape': (3,)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': [3, 4]}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': 3}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (,)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,,)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3 4)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (+1,)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3.0,)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0x3,)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (03,)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1_0,)}", -EINVAL },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,", -EINVAL },
	{ 3, "{'descr': '<f8', 'fortran_order': False, 'shape': (3L,)}", -EINVAL }, /* py3 */
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (9223372036854775808,)}", -EOVERFLOW },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", -EOVERFLOW },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296)}", -EOVERFLOW },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1152921504606846976,)}", -EOVERFLOW },
	/* fits after this short header, not after the one saving it takes
	 * (found by fuzz_npy) */
	{ 1, "{'descr': '|b1', 'fortran_order': False, 'shape':(1, 9223372036854775708), }", -EOVERFLOW },
	{ 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1)}", JP_ENOTSUP },
	{ 1, "{'descr': 'zz', 'fortran_order': False, 'shape': (3,)}", -EINVAL },
	{ 1, "{'descr': '', 'fortran_order': False, 'shape': (3,)}", -EINVAL },
	{ 1, "{'descr': '<', 'fortran_order': False, 'shape': (3,)}", -EINVAL },
	{ 1, "{'descr': '!f8', 'fortran_order': False, 'shape': (3,)}", -EINVAL },
	{ 1, "{'descr': '<f8 ', 'fortran_order': False, 'shape': (3,)}", -EINVAL },
	{ 1, "{'descr': 8, 'fortran_order': False, 'shape': (3,)}", -EINVAL },
	{ 1, "{'descr': '<f08', 'fortran_order': False, 'shape': (3,)}", JP_ENOTSUP },
	{ 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,)}", JP_ENOTSUP },
	{ 1, "{'descr': '<f16', 'fortran_order': False, 'shape': (3,)}", JP_ENOTSUP },
	{ 1, "{'descr': '<c32', 'fortran_order': False, 'shape': (3,)}", JP_ENOTSUP },
	{ 1, "{'descr': '|O', 'fortran_order': False, 'shape': (3,)}", JP_ENOTSUP },
	{ 1, "{'descr': '<U3', 'fortran_order': False, 'shape': (3,)}", JP_ENOTSUP },
	{ 1, "{'descr': '|S3', 'fortran_order': False, 'shape': (3,)}", JP_ENOTSUP },
	{ 1, "{'descr': '|V8', 'fortran_order': False, 'shape': (3,)}", JP_ENOTSUP },
	{ 1, "{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (3,)}", JP_ENOTSUP },
	{ 1, "{'descr': [('x', '<f8'), ('y', '<i4')], 'fortran_order': False, 'shape': (3,)}", JP_ENOTSUP },
	{ 1, "{'descr': ('<f8', (2,)), 'fortran_order': False, 'shape': (3,)}", JP_ENOTSUP },
};

START_TEST(malformed_headers_are_refused)
{
	for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
		jp__npy_header h;
		int rc = parse_dict(bad_headers[i].major, bad_headers[i].dict, &h);
		ck_assert_msg(rc == bad_headers[i].code, "%s: got %d (%s), want %d", bad_headers[i].dict,
			      rc, h.msg, bad_headers[i].code);
		ck_assert_msg(h.msg[0], "%s: no message", bad_headers[i].dict);
	}
	jp__npy_header h;
	ck_assert_int_eq(parse_dict(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,)}", &h), JP_ENOTSUP);
	ck_assert(strstr(h.msg, "'<f2'") != NULL);
	ck_assert_int_eq(parse_dict(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}", &h), -EINVAL);
	ck_assert(strstr(h.msg, "negative") != NULL);

	/* the prefix: magic, version, length */
	uint8_t buf[256];
	const char *dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
	size_t n = make_header(buf, 1, dict, 64);
	buf[1] = 'n';
	ck_assert_int_eq(jp__npy_parse_header(buf, n, &h), -EINVAL);
	ck_assert(strstr(h.msg, "magic") != NULL);
	ck_assert_int_eq(jp__npy_parse_header(buf, 3, &h), -EINVAL); /* bad even when short */
	make_header(buf, 1, dict, 64);
	buf[6] = 4;
	ck_assert_int_eq(jp__npy_parse_header(buf, n, &h), JP_ENOTSUP);
	buf[6] = 0;
	ck_assert_int_eq(jp__npy_parse_header(buf, n, &h), JP_ENOTSUP);
	buf[6] = 1;
	buf[7] = 1;
	ck_assert_int_eq(jp__npy_parse_header(buf, n, &h), JP_ENOTSUP);
	/* a version 2.0 length beyond the limit */
	n = make_header(buf, 2, dict, 64);
	buf[10] = 0x20;
	ck_assert_int_eq(jp__npy_parse_header(buf, n, &h), -EINVAL);
	buf[10] = 0;
	buf[11] = 0x80;
	ck_assert_int_eq(jp__npy_parse_header(buf, n, &h), -EINVAL);
	/* a NUL, and latin1 bytes, outside strings */
	n = make_header(buf, 1, dict, 64);
	buf[n - 2] = '\0';
	ck_assert_int_eq(jp__npy_parse_header(buf, n, &h), -EINVAL);
	buf[n - 2] = 0xa0;
	ck_assert_int_eq(jp__npy_parse_header(buf, n, &h), -EINVAL);
}
END_TEST

/* Every proper prefix of a valid header asks for more, saying how much;
 * random corruption is refused or accepted, never read out of bounds
 * (each parse runs on an exact-size heap block: ASan watches). */
static void mangle(const uint8_t *hdr, size_t len)
{
	jp__npy_header h;
	for (size_t n = 0; n < len; n++) {
		uint8_t *p = malloc(n ? n : 1);
		memcpy(p, hdr, n);
		int rc = jp__npy_parse_header(p, n, &h);
		ck_assert_msg(rc == -EAGAIN, "prefix of %zu bytes: %d (%s)", n, rc, h.msg);
		ck_assert_uint_gt(h.data_offset, n);
		ck_assert_uint_le(h.data_offset, len);
		free(p);
	}
	srand(2024);
	int refused = 0;
	for (int round = 0; round < 20000; round++) {
		uint8_t *p = malloc(len);
		memcpy(p, hdr, len);
		int flips = 1 + rand() % 4;
		for (int k = 0; k < flips; k++)
			p[rand() % (int)len] ^= (uint8_t)(1u << (rand() % 8));
		size_t cut = rand() % 4 ? len : (size_t)rand() % len;
		int rc = jp__npy_parse_header(p, cut, &h);
		if (rc == 0) {
			ck_assert_uint_le(h.data_offset, cut);
			ck_assert(h.ndim >= 0 && h.ndim <= JP_MAX_NDIM);
		} else {
			refused++;
		}
		free(p);
	}
	ck_assert_int_gt(refused, 0);
}

START_TEST(truncated_and_corrupt_headers_are_refused)
{
	uint8_t buf[JP__NPY_FORMAT_MAX];
	jp_array a = { .dtype = JP_COMPLEX64, .ndim = 3, .shape = { 2, 30, 400 } };
	long n = jp__npy_format_header(&a, buf, sizeof buf);
	mangle(buf, (size_t)n);
	n = (long)make_header(buf, 2, "{'shape': (5, 6), 'fortran_order': True, 'descr': '>u8'}", 64);
	mangle(buf, (size_t)n);
	n = (long)make_header(buf, 3, "{'shape': (), 'fortran_order': False, 'descr': '|b1',}", 16);
	mangle(buf, (size_t)n);
}
END_TEST

/* ---- files --------------------------------------------------------------------- */

static void write_npy(const char *name, int major, const char *dict, size_t align,
		      const void *data, size_t n)
{
	uint8_t *buf = malloc(4096 + n);
	size_t h = make_header(buf, major, dict, align);
	memcpy(buf + h, data, n);
	write_file(in_folder(name), buf, h + n);
	free(buf);
}

START_TEST(big_endian_files_are_converted_or_refused)
{
	folder_make();
	double d[6];
	uint64_t dbe[6];
	for (int i = 0; i < 6; i++) {
		d[i] = i * 0.5 - 1.25;
		memcpy(&dbe[i], &d[i], 8);
		dbe[i] = __builtin_bswap64(dbe[i]);
	}
	write_npy("f8.npy", 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }", 64, dbe,
		  sizeof dbe);
	int32_t i4[5] = { 1, -2, 300000, -40000000, 0x7fffffff };
	uint32_t i4be[5];
	for (int i = 0; i < 5; i++)
		i4be[i] = __builtin_bswap32((uint32_t)i4[i]);
	write_npy("i4.npy", 2, "{'descr': '>i4', 'fortran_order': False, 'shape': (5,), }", 64, i4be,
		  sizeof i4be);
	float c8[4] = { 1.5f, -2.5f, 3.25f, 1e10f }; /* two complex64 */
	uint32_t c8be[4];
	for (int i = 0; i < 4; i++) {
		memcpy(&c8be[i], &c8[i], 4);
		c8be[i] = __builtin_bswap32(c8be[i]);
	}
	write_npy("c8.npy", 3, "{'descr': '>c8', 'fortran_order': False, 'shape': (2,), }", 64, c8be,
		  sizeof c8be);
	uint16_t u2[3] = { 1, 0x1234, 0xfffe }, u2be[3];
	for (int i = 0; i < 3; i++)
		u2be[i] = __builtin_bswap16(u2[i]);
	write_npy("u2.npy", 1, "{'descr': '>u2', 'fortran_order': True, 'shape': (3, 1), }", 64, u2be,
		  sizeof u2be);

	const char *modes[] = { NULL, "c" };
	for (int m = 0; m < 2; m++) {
		jp_array a;
		ck_assert_int_eq(jp_load(in_folder("f8.npy"), modes[m], &a), 0);
		ck_assert(a.dtype == JP_FLOAT64 && a.ndim == 2 && a.shape[1] == 3);
		ck_assert(!memcmp(a.data, d, sizeof d));
		jp_array_release(&a);
		ck_assert_int_eq(jp_load(in_folder("i4.npy"), modes[m], &a), 0);
		ck_assert(!memcmp(a.data, i4, sizeof i4));
		jp_array_release(&a);
		ck_assert_int_eq(jp_load(in_folder("c8.npy"), modes[m], &a), 0);
		ck_assert(a.dtype == JP_COMPLEX64 && !memcmp(a.data, c8, sizeof c8));
		jp_array_release(&a);
		ck_assert_int_eq(jp_load(in_folder("u2.npy"), modes[m], &a), 0);
		ck_assert(a.flags & JP_ARRAY_FORTRAN);
		ck_assert(!memcmp(a.data, u2, sizeof u2));
		jp_array_release(&a);
	}
	/* "c" swapped its private pages only: the file is still big-endian */
	size_t n;
	uint8_t *file = read_file(in_folder("f8.npy"), &n);
	ck_assert(!memcmp(file + n - sizeof dbe, dbe, sizeof dbe));
	free(file);

	const char *shared[] = { "r", "r+" };
	for (int m = 0; m < 2; m++) {
		jp_array a;
		ck_assert_int_eq(jp_load(in_folder("f8.npy"), shared[m], &a), JP_ENOTSUP);
		ck_assert(strstr(jp_npy_errmsg(), "big-endian") != NULL);
		ck_assert(strstr(jp_npy_errmsg(), "f8.npy") != NULL);
		ck_assert_ptr_null(a.data);
		ck_assert_ptr_null(a.backing);
		jp_array_release(&a); /* harmless after a failure */
	}
	folder_remove();
}
END_TEST

START_TEST(read_only_map_faults_on_write)
{
	folder_make();
	size_t s[] = { 1000 };
	jp_array a = make(JP_FLOAT64, 1, s);
	ck_assert_int_eq(jp_dump(&a, in_folder("ro.npy")), 0);
	jp_array m;
	ck_assert_int_eq(jp_load(in_folder("ro.npy"), "r", &m), 0);
	ck_assert_uint_eq(m.flags, JP_ARRAY_READONLY | JP_ARRAY_SHARED);
	ck_assert(!memcmp(m.data, a.data, 8000));
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* sanitizers catch SIGSEGV themselves: die by it for real */
		struct sigaction sa = { .sa_handler = SIG_DFL };
		sigaction(SIGSEGV, &sa, NULL);
		((volatile double *)m.data)[500] = 1.0;
		_exit(0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child status %#x", st);
	jp_array_release(&m);
	free(a.data);
	folder_remove();
}
END_TEST

START_TEST(rplus_writes_reach_the_file_c_writes_do_not)
{
	folder_make();
	size_t s[] = { 4, 4 };
	jp_array a = make(JP_INT64, 2, s);
	const char *path = in_folder("rw.npy");
	ck_assert_int_eq(jp_dump(&a, path), 0);

	jp_array c, r;
	ck_assert_int_eq(jp_load(path, "c", &c), 0);
	ck_assert_uint_eq(c.flags, 0);
	((int64_t *)c.data)[3] = -77;
	ck_assert_int_eq(jp_load(path, "r", &r), 0);
	ck_assert_int_eq(((int64_t *)r.data)[3], ((int64_t *)a.data)[3]); /* not seen */
	jp_array_release(&c);

	jp_array w;
	ck_assert_int_eq(jp_load(path, "r+", &w), 0);
	ck_assert_uint_eq(w.flags, JP_ARRAY_SHARED);
	((int64_t *)w.data)[5] = 4242;
	ck_assert_int_eq(((int64_t *)r.data)[5], 4242); /* same pages */
	jp_array_release(&w);
	jp_array_release(&r);

	jp_array back;
	ck_assert_int_eq(jp_load(path, NULL, &back), 0);
	ck_assert_int_eq(((int64_t *)back.data)[5], 4242);
	ck_assert_int_eq(((int64_t *)back.data)[3], ((int64_t *)a.data)[3]);
	jp_array_release(&back);
	free(a.data);
	folder_remove();
}
END_TEST

START_TEST(backing_describes_the_mapping)
{
	folder_make();
	size_t s[] = { 10 };
	jp_array a = make(JP_FLOAT32, 1, s);
	ck_assert_int_eq(jp_dump(&a, in_folder("b.npy")), 0);
	char *real = realpath(in_folder("b.npy"), NULL);
	jp_array m;
	ck_assert_int_eq(jp_load(in_folder("b.npy"), "r+", &m), 0);
	ck_assert_int_eq(m.backing->kind, JP__BACK_MAP);
	ck_assert_str_eq(m.backing->path, real);
	ck_assert_uint_eq(m.backing->offset, 128);
	ck_assert_ptr_eq(m.data, (uint8_t *)m.backing->base + 128);
	ck_assert_uint_eq(m.backing->len, 128 + 40);
	ck_assert(m.backing->writable && !m.backing->private_map);
	jp_array_release(&m);
	ck_assert_int_eq(jp_load(in_folder("b.npy"), "c", &m), 0);
	ck_assert(m.backing->writable && m.backing->private_map);
	jp_array_release(&m);
	ck_assert_int_eq(jp_load(in_folder("b.npy"), NULL, &m), 0);
	ck_assert_int_eq(m.backing->kind, JP__BACK_HEAP);
	ck_assert_ptr_eq(m.backing->base, m.data);
	ck_assert_ptr_null(m.backing->path);
	jp_array_release(&m);
	free(real);
	free(a.data);
	folder_remove();
}
END_TEST

START_TEST(lying_and_broken_files_are_refused)
{
	folder_make();
	double d[10] = { 0 };
	/* the shape says 100 elements, the file holds 10 */
	write_npy("lie.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (100,), }", 64, d,
		  sizeof d);
	const char *modes[] = { NULL, "r", "r+", "c" };
	for (int m = 0; m < 4; m++) {
		jp_array a;
		ck_assert_int_eq(jp_load(in_folder("lie.npy"), modes[m], &a), -EINVAL);
		ck_assert(strstr(jp_npy_errmsg(), "truncated") != NULL);
		ck_assert_ptr_null(a.backing);
	}
	/* a shape that overflows */
	write_npy("huge.npy", 1, "{'descr': '<c16', 'fortran_order': False, 'shape': (1000000000000, 1000000000000), }",
		  64, d, sizeof d);
	jp_array a;
	ck_assert_int_eq(jp_load(in_folder("huge.npy"), "r", &a), -EOVERFLOW);
	/* a header length beyond the file */
	uint8_t buf[128];
	size_t n = make_header(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", 64);
	buf[9] = 0x10;
	write_file(in_folder("long.npy"), buf, n);
	ck_assert_int_eq(jp_load(in_folder("long.npy"), NULL, &a), -EINVAL);
	ck_assert(strstr(jp_npy_errmsg(), "truncated") != NULL);
	/* not .npy at all, empty, a bad dict, unknown and structured dtypes */
	write_file(in_folder("text.npy"), "hello, world\n", 13);
	ck_assert_int_eq(jp_load(in_folder("text.npy"), NULL, &a), -EINVAL);
	ck_assert(strstr(jp_npy_errmsg(), "magic") != NULL);
	write_file(in_folder("empty.npy"), "", 0);
	ck_assert_int_eq(jp_load(in_folder("empty.npy"), "r", &a), -EINVAL);
	write_npy("dict.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)", 64, d, 8);
	ck_assert_int_eq(jp_load(in_folder("dict.npy"), NULL, &a), -EINVAL);
	write_npy("kind.npy", 1, "{'descr': '<q8', 'fortran_order': False, 'shape': (1,)}", 64, d, 8);
	ck_assert_int_eq(jp_load(in_folder("kind.npy"), NULL, &a), -EINVAL);
	write_npy("rec.npy", 1, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,)}", 64,
		  d, 8);
	ck_assert_int_eq(jp_load(in_folder("rec.npy"), NULL, &a), JP_ENOTSUP);
	ck_assert(strstr(jp_npy_errmsg(), "structured") != NULL);

	/* every truncation of a valid file, header or data */
	size_t s[] = { 3, 5 };
	jp_array v = make(JP_INT16, 2, s);
	ck_assert_int_eq(jp_dump(&v, in_folder("v.npy")), 0);
	uint8_t *file = read_file(in_folder("v.npy"), &n);
	for (size_t cut = 0; cut < n; cut++) {
		write_file(in_folder("cut.npy"), file, cut);
		for (int m = 0; m < 4; m++) {
			int rc = jp_load(in_folder("cut.npy"), modes[m], &a);
			ck_assert_msg(rc == -EINVAL, "cut at %zu, mode %s: %d", cut,
				      modes[m] ? modes[m] : "NULL", rc);
		}
	}
	/* bytes past the data are allowed, as NumPy allows them */
	uint8_t *longer = calloc(1, n + 10);
	memcpy(longer, file, n);
	write_file(in_folder("cut.npy"), longer, n + 10);
	ck_assert_int_eq(jp_load(in_folder("cut.npy"), "r", &a), 0);
	assert_same(&a, &v);
	jp_array_release(&a);
	free(longer);
	free(file);
	free(v.data);

	/* data at an offset misaligned for its type: read, never mapped */
	int64_t q[2] = { 5, -6 };
	write_npy("odd.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,)}", 1, q,
		  sizeof q);
	ck_assert_int_eq(jp_load(in_folder("odd.npy"), "r", &a), JP_ENOTSUP);
	ck_assert(strstr(jp_npy_errmsg(), "aligned") != NULL);
	ck_assert_int_eq(jp_load(in_folder("odd.npy"), NULL, &a), 0);
	ck_assert(!memcmp(a.data, q, sizeof q));
	jp_array_release(&a);
	folder_remove();
}
END_TEST

START_TEST(bad_arguments_and_system_errors)
{
	folder_make();
	jp_array a;
	ck_assert_int_eq(jp_load(in_folder("missing.npy"), NULL, &a), -ENOENT);
	ck_assert(strstr(jp_npy_errmsg(), "missing.npy") != NULL);
	ck_assert_int_eq(jp_load(folder, "r", &a), -EISDIR);
	ck_assert_int_eq(jp_load(NULL, NULL, &a), -EINVAL);
	ck_assert_int_eq(jp_load("x.npy", NULL, NULL), -EINVAL);

	size_t s[] = { 2 };
	jp_array v = make(JP_UINT32, 1, s);
	ck_assert_int_eq(jp_dump(&v, in_folder("v.npy")), 0);
	ck_assert_int_eq(jp_load(in_folder("v.npy"), "w+", &a), -EINVAL);
	ck_assert(strstr(jp_npy_errmsg(), "w+") != NULL);
	ck_assert_int_eq(jp_load(in_folder("v.npy"), "rw", &a), -EINVAL);
	ck_assert_int_eq(jp_load(in_folder("v.npy"), "", &a), -EINVAL);
	if (geteuid() != 0) { /* root reads anything */
		ck_assert_int_eq(chmod(in_folder("v.npy"), 0), 0);
		ck_assert_int_eq(jp_load(in_folder("v.npy"), NULL, &a), -EACCES);
		ck_assert_int_eq(chmod(in_folder("v.npy"), 0644), 0);
	}
	ck_assert_int_eq(jp_load(in_folder("v.npy"), NULL, &a), 0);
	ck_assert_str_eq(jp_npy_errmsg(), ""); /* cleared by a success */
	jp_array_release(&a);

	ck_assert_int_eq(jp_dump(NULL, in_folder("n.npy")), -EINVAL);
	ck_assert_int_eq(jp_dump(&v, NULL), -EINVAL);
	ck_assert_int_eq(jp_dump(&v, in_folder("no/such/dir.npy")), -ENOENT);
	ck_assert(strstr(jp_npy_errmsg(), "dir.npy") != NULL);
	ck_assert_int_eq(jp_dump(&v, folder), -EISDIR);
	jp_array bad = v;
	bad.dtype = 0;
	ck_assert_int_eq(jp_dump(&bad, in_folder("n.npy")), -EINVAL);
	bad = v;
	bad.ndim = JP_MAX_NDIM + 1;
	ck_assert_int_eq(jp_dump(&bad, in_folder("n.npy")), -EINVAL);
	bad = v;
	bad.data = NULL;
	ck_assert_int_eq(jp_dump(&bad, in_folder("n.npy")), -EINVAL);
	bad.shape[0] = 0; /* empty: no data needed */
	ck_assert_int_eq(jp_dump(&bad, in_folder("n.npy")), 0);
	ck_assert_int_eq(folder_count(), 2); /* v.npy, n.npy: no temporary left */
	free(v.data);
	folder_remove();
}
END_TEST

START_TEST(failed_dump_leaves_nothing_and_keeps_the_old_file)
{
	folder_make();
	umask(022);
	size_t s[] = { 8 };
	jp_array small = make(JP_UINT8, 1, s);
	const char *path = in_folder("keep.npy");
	ck_assert_int_eq(jp_dump(&small, path), 0);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0644); /* 0666 less the umask, as np.save */

	/* a file size limit makes the write fail half-way (EFBIG) */
	size_t sb[] = { 1 << 20 };
	jp_array big = make(JP_FLOAT64, 1, sb);
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit rl = { .rlim_cur = 65536, .rlim_max = RLIM_INFINITY };
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	int rc = jp_dump(&big, path);
	ck_assert_int_eq(rc, -EFBIG);
	ck_assert(strstr(jp_npy_errmsg(), "keep.npy") != NULL);
	ck_assert_int_eq(folder_count(), 1); /* the temporary is gone */
	jp_array back;
	ck_assert_int_eq(jp_load(path, NULL, &back), 0); /* the old file is whole */
	ck_assert_uint_eq(back.shape[0], 8);
	ck_assert(!memcmp(back.data, small.data, 8));
	jp_array_release(&back);

	/* a dump replaces the file whole */
	rl.rlim_cur = RLIM_INFINITY;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	ck_assert_int_eq(jp_dump(&big, path), 0);
	ck_assert_int_eq(jp_load(path, "r", &back), 0);
	assert_same(&back, &big);
	jp_array_release(&back);
	ck_assert_int_eq(folder_count(), 1);
	free(small.data);
	free(big.data);
	folder_remove();
}
END_TEST

START_TEST(release_accepts_null_and_caller_arrays)
{
	jp_array_release(NULL);
	double x[2] = { 1, 2 };
	jp_array mine = { .dtype = JP_FLOAT64, .ndim = 1, .shape = { 2 }, .data = x };
	jp_array_release(&mine);
	ck_assert_ptr_eq(mine.data, x); /* the caller's: left alone */
	ck_assert_int_eq(mine.ndim, 1);
}
END_TEST

START_TEST(swap_reverses_each_word)
{
	uint8_t b[16];
	for (int i = 0; i < 16; i++)
		b[i] = (uint8_t)i;
	jp__npy_swap(b, 16, 8);
	ck_assert(b[0] == 7 && b[7] == 0 && b[8] == 15 && b[15] == 8);
	jp__npy_swap(b, 16, 8);
	jp__npy_swap(b, 16, 4);
	ck_assert(b[0] == 3 && b[4] == 7 && b[12] == 15);
	ck_assert_uint_eq(jp__npy_swap_unit(JP_COMPLEX128), 8);
	ck_assert_uint_eq(jp__npy_swap_unit(JP_COMPLEX64), 4);
	ck_assert_uint_eq(jp__npy_swap_unit(JP_INT16), 2);
	ck_assert_uint_eq(jp__npy_swap_unit(JP_BOOL), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("npy");
	TCase *tc = jpt_tcase("format");
	tcase_add_test(tc, header_is_spelled_as_numpy_spells_it);
	tcase_add_test(tc, headers_as_python_writes_them);
	tcase_add_test(tc, malformed_headers_are_refused);
	tcase_add_test(tc, truncated_and_corrupt_headers_are_refused);
	tcase_add_test(tc, swap_reverses_each_word);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("files");
	tcase_add_test(tc, every_dtype_round_trips);
	tcase_add_test(tc, orders_and_odd_shapes_round_trip);
	tcase_add_test(tc, big_endian_files_are_converted_or_refused);
	tcase_add_test(tc, read_only_map_faults_on_write);
	tcase_add_test(tc, rplus_writes_reach_the_file_c_writes_do_not);
	tcase_add_test(tc, backing_describes_the_mapping);
	tcase_add_test(tc, lying_and_broken_files_are_refused);
	tcase_add_test(tc, bad_arguments_and_system_errors);
	tcase_add_test(tc, failed_dump_leaves_nothing_and_keeps_the_old_file);
	tcase_add_test(tc, release_accepts_null_and_caller_arrays);
	tcase_add_unchecked_fixture(tc, root_make, root_remove);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
