/*
 * npy.c - the .npy format (see npy.h): header parsing and formatting.
 *
 * The parser accepts the dict as NumPy writes it and as a Python literal
 * may be written by hand or by other writers: keys in any order, either
 * quote, any whitespace between tokens, an optional trailing comma, the
 * Python 2 'L' suffix on integers in versions 1.0 and 2.0 (NumPy filters
 * it too). Everything else is refused: it never evaluates anything, and it
 * checks every length against what is left before it reads.
 *
 * This file depends on nothing but npy.h and libc, so the fuzzer compiles
 * it alone.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "npy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const uint8_t npy_magic[6] = { 0x93, 'N', 'U', 'M', 'P', 'Y' };

/* Our dtypes as NumPy spells them: kind letter and item size. */
static const struct {
	char kind;
	unsigned size;
	jp_dtype dtype;
} npy_dtypes[] = {
	{ 'b', 1, JP_BOOL },    { 'i', 1, JP_INT8 },      { 'i', 2, JP_INT16 },
	{ 'i', 4, JP_INT32 },   { 'i', 8, JP_INT64 },     { 'u', 1, JP_UINT8 },
	{ 'u', 2, JP_UINT16 },  { 'u', 4, JP_UINT32 },    { 'u', 8, JP_UINT64 },
	{ 'f', 4, JP_FLOAT32 }, { 'f', 8, JP_FLOAT64 },   { 'c', 8, JP_COMPLEX64 },
	{ 'c', 16, JP_COMPLEX128 },
};
#define NPY_NDTYPES (sizeof npy_dtypes / sizeof npy_dtypes[0])

static bool host_big_endian(void)
{
	return __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
}

static int fail(jp__npy_header *h, int err, const char *fmt, ...) JP_PRINTF(3, 4);

static int fail(jp__npy_header *h, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->msg, sizeof h->msg, fmt, ap);
	va_end(ap);
	return err;
}

/* A printable copy of untrusted header text for a message: at most 24
 * bytes, anything outside printable ASCII shown as '?'. */
static const char *quote(char dst[32], const uint8_t *s, size_t n)
{
	size_t k = n > 24 ? 24 : n;
	for (size_t i = 0; i < k; i++)
		dst[i] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	if (n > k) {
		memcpy(dst + k, "...", 3);
		k += 3;
	}
	dst[k] = '\0';
	return dst;
}

/* ---- the dict's tokens -------------------------------------------------- */

typedef struct cursor {
	const uint8_t *start; /* the header text, for offsets in messages */
	const uint8_t *p, *end;
	bool py2_long;        /* accept the 'L' suffix of Python 2 integers */
} cursor;

static size_t at(const cursor *c)
{
	return (size_t)(c->p - c->start);
}

static void skip_ws(cursor *c)
{
	while (c->p < c->end &&
	       (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r' || *c->p == '\f'))
		c->p++;
}

/* True (and past it) when the next byte is ch. */
static bool eat(cursor *c, uint8_t ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

static int peek(const cursor *c)
{
	return c->p < c->end ? *c->p : -1;
}

static bool is_ident(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_';
}

/* What the cursor points at, for "expected X, found Y" messages. */
static const char *found(char dst[32], const cursor *c)
{
	if (c->p >= c->end)
		return "the end of the header";
	return quote(dst, c->p, (size_t)(c->end - c->p) < 8 ? (size_t)(c->end - c->p) : 8);
}

/* A quoted string without escapes (none of ours needs one). */
static int take_string(cursor *c, jp__npy_header *h, const uint8_t **s, size_t *n)
{
	char q[32];
	int quote_ch = peek(c);
	if (quote_ch != '\'' && quote_ch != '"')
		return fail(h, -EINVAL, "header offset %zu: expected a string, found %s", at(c),
			    found(q, c));
	const uint8_t *begin = ++c->p;
	while (c->p < c->end && *c->p != quote_ch) {
		if (*c->p == '\\' || *c->p == '\n' || *c->p == '\r')
			return fail(h, -EINVAL,
				    "header offset %zu: escapes and line breaks are not allowed in strings",
				    at(c));
		c->p++;
	}
	if (c->p >= c->end)
		return fail(h, -EINVAL, "header offset %zu: unterminated string",
			    (size_t)(begin - 1 - c->start));
	*s = begin;
	*n = (size_t)(c->p - begin);
	c->p++;
	return 0;
}

static bool str_is(const uint8_t *s, size_t n, const char *lit)
{
	return n == strlen(lit) && !memcmp(s, lit, n);
}

/* ---- values -------------------------------------------------------------- */

static int parse_descr_text(jp__npy_header *h, const uint8_t *s, size_t n)
{
	char q[32];
	const uint8_t *t = s;
	size_t k = n;
	char order = '=';
	if (k && (*t == '<' || *t == '>' || *t == '|' || *t == '=')) {
		order = (char)*t++;
		k--;
	}
	if (k >= 2 && k <= 3) {
		unsigned size = 0;
		bool digits = true;
		for (size_t i = 1; i < k; i++) {
			if (t[i] < '0' || t[i] > '9')
				digits = false;
			else
				size = size * 10 + (unsigned)(t[i] - '0');
		}
		for (size_t i = 0; digits && t[1] != '0' && i < NPY_NDTYPES; i++) {
			if (npy_dtypes[i].kind != (char)t[0] || npy_dtypes[i].size != size)
				continue;
			h->dtype = npy_dtypes[i].dtype;
			h->itemsize = size;
			/* '|' means "not applicable"; NumPy reads it as native, as '='. */
			bool big = order == '>' ||
				   ((order == '=' || order == '|') && host_big_endian());
			h->big_endian = size > 1 && big;
			return 0;
		}
	}
	/* A NumPy dtype we do not have (float16, strings, datetimes, object...)
	 * or not a dtype at all: say which, the fix differs. NumPy writes a
	 * kind letter, the item size, and a unit for datetimes: '<M8[ns]'. */
	static const char numpy_kinds[] = "biufcmMOSUVa";
	size_t i = 0;
	if (k && memchr(numpy_kinds, t[0], sizeof numpy_kinds - 1)) {
		for (i = 1; i < k && t[i] >= '0' && t[i] <= '9'; i++)
			;
		if (i < k && t[i] == '[') {
			while (++i < k && ((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
					   (t[i] >= '0' && t[i] <= '9')))
				;
			if (i < k && t[i] == ']')
				i++;
			else
				i = 0;
		}
	}
	if (k && i == k)
		return fail(h, JP_ENOTSUP,
			    "dtype '%s' is not supported: jobpool has b1, i1-i8, u1-u8, f4, f8, c8, c16",
			    quote(q, s, n));
	return fail(h, -EINVAL, "descr '%s' is not a dtype", quote(q, s, n));
}

static int parse_descr(cursor *c, jp__npy_header *h)
{
	char q[32];
	if (peek(c) == '[')
		return fail(h, JP_ENOTSUP,
			    "structured dtype (a list of fields) is not supported: only plain numeric dtypes are");
	if (peek(c) == '(')
		return fail(h, JP_ENOTSUP, "subarray dtype (a tuple) is not supported");
	if (peek(c) != '\'' && peek(c) != '"')
		return fail(h, -EINVAL, "header offset %zu: descr must be a string, found %s", at(c),
			    found(q, c));
	const uint8_t *s;
	size_t n;
	int err = take_string(c, h, &s, &n);
	return err ? err : parse_descr_text(h, s, n);
}

static int parse_bool(cursor *c, jp__npy_header *h)
{
	char q[32];
	size_t left = (size_t)(c->end - c->p);
	if (left >= 4 && !memcmp(c->p, "True", 4) && (left == 4 || !is_ident(c->p[4]))) {
		c->p += 4;
		h->fortran_order = true;
		return 0;
	}
	if (left >= 5 && !memcmp(c->p, "False", 5) && (left == 5 || !is_ident(c->p[5]))) {
		c->p += 5;
		h->fortran_order = false;
		return 0;
	}
	return fail(h, -EINVAL, "header offset %zu: fortran_order must be True or False, found %s",
		    at(c), found(q, c));
}

/* A non-negative decimal integer as Python writes one. */
static int parse_dim(cursor *c, jp__npy_header *h, size_t *out)
{
	char q[32];
	size_t pos = at(c);
	if (peek(c) == '-')
		return fail(h, -EINVAL, "header offset %zu: negative dimension in shape", pos);
	int ch = peek(c);
	if (ch < '0' || ch > '9')
		return fail(h, -EINVAL, "header offset %zu: expected a dimension, found %s", pos,
			    found(q, c));
	uint64_t v = 0;
	const uint8_t *begin = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');
		if (v > ((uint64_t)INT64_MAX - d) / 10)
			return fail(h, -EOVERFLOW, "header offset %zu: dimension does not fit in 63 bits",
				    pos);
		v = v * 10 + d;
		c->p++;
	}
	/* Python 3 has no leading zeros ("007" is a syntax error) */
	if (*begin == '0' && c->p - begin > 1)
		return fail(h, -EINVAL, "header offset %zu: dimension with a leading zero", pos);
	if (c->py2_long && peek(c) == 'L')
		c->p++;
	if (is_ident(peek(c)) || peek(c) == '.') {
		c->p = begin;
		return fail(h, -EINVAL, "header offset %zu: dimension is not a decimal integer: %s",
			    pos, found(q, c));
	}
	*out = (size_t)v;
	return 0;
}

static int parse_shape(cursor *c, jp__npy_header *h)
{
	char q[32];
	if (!eat(c, '('))
		return fail(h, -EINVAL, "header offset %zu: shape must be a tuple, found %s", at(c),
			    found(q, c));
	h->ndim = 0;
	skip_ws(c);
	if (eat(c, ')'))
		return 0;
	for (;;) {
		size_t dim = 0;
		if (h->ndim == JP_MAX_NDIM)
			return fail(h, JP_ENOTSUP, "shape has more than %d dimensions", JP_MAX_NDIM);
		int err = parse_dim(c, h, &dim);
		if (err)
			return err;
		h->shape[h->ndim++] = dim;
		skip_ws(c);
		if (eat(c, ',')) {
			skip_ws(c);
			if (eat(c, ')'))
				return 0;
			continue;
		}
		if (peek(c) == ')') {
			/* (3) is the integer 3, not a tuple */
			if (h->ndim == 1)
				return fail(h, -EINVAL,
					    "header offset %zu: a 1-d shape needs a trailing comma, as (3,)",
					    at(c));
			c->p++;
			return 0;
		}
		return fail(h, -EINVAL, "header offset %zu: expected ',' or ')' in shape, found %s",
			    at(c), found(q, c));
	}
}

static int parse_dict(cursor *c, jp__npy_header *h)
{
	static const char *const keys[3] = { "descr", "fortran_order", "shape" };
	bool seen[3] = { false, false, false };
	char q[32];

	skip_ws(c);
	if (!eat(c, '{'))
		return fail(h, -EINVAL, "header offset %zu: expected '{', found %s", at(c), found(q, c));
	for (;;) {
		skip_ws(c);
		if (eat(c, '}'))
			break;
		const uint8_t *s;
		size_t n;
		int err = take_string(c, h, &s, &n);
		if (err)
			return err;
		int k = 0;
		while (k < 3 && !str_is(s, n, keys[k]))
			k++;
		if (k == 3)
			return fail(h, -EINVAL, "unknown key '%s' in header", quote(q, s, n));
		if (seen[k])
			return fail(h, -EINVAL, "key '%s' appears twice in header", keys[k]);
		seen[k] = true;
		skip_ws(c);
		if (!eat(c, ':'))
			return fail(h, -EINVAL, "header offset %zu: expected ':' after '%s', found %s",
				    at(c), keys[k], found(q, c));
		skip_ws(c);
		err = k == 0 ? parse_descr(c, h) : k == 1 ? parse_bool(c, h) : parse_shape(c, h);
		if (err)
			return err;
		skip_ws(c);
		if (eat(c, ','))
			continue;
		if (eat(c, '}'))
			break;
		return fail(h, -EINVAL, "header offset %zu: expected ',' or '}', found %s", at(c),
			    found(q, c));
	}
	skip_ws(c);
	if (c->p != c->end)
		return fail(h, -EINVAL, "header offset %zu: unexpected %s after the dict", at(c),
			    found(q, c));
	for (int k = 0; k < 3; k++)
		if (!seen[k])
			return fail(h, -EINVAL, "header has no '%s' key", keys[k]);
	return 0;
}

/* ---- the header ---------------------------------------------------------- */

int jp__npy_parse_header(const uint8_t *buf, size_t len, jp__npy_header *h)
{
	memset(h, 0, sizeof *h);
	/* The magic, as far as we have it, before asking for more. */
	size_t m = len < sizeof npy_magic ? len : sizeof npy_magic;
	if (m && memcmp(buf, npy_magic, m))
		return fail(h, -EINVAL, "not a .npy file: bad magic");
	if (len < 8) {
		h->data_offset = 10;
		return -EAGAIN;
	}
	h->major = buf[6];
	h->minor = buf[7];
	if (h->minor != 0 || h->major < 1 || h->major > 3)
		return fail(h, JP_ENOTSUP, ".npy format version %d.%d is not supported (1.0, 2.0, 3.0 are)",
			    h->major, h->minor);
	size_t prefix = h->major == 1 ? 10 : 12;
	if (len < prefix) {
		h->data_offset = prefix;
		return -EAGAIN;
	}
	size_t hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
	if (h->major > 1)
		hlen |= (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
	if (hlen > JP__NPY_HEADER_MAX)
		return fail(h, -EINVAL, "header length %zu exceeds the limit of %u bytes", hlen,
			    JP__NPY_HEADER_MAX);
	h->data_offset = prefix + hlen;
	if (len < h->data_offset)
		return -EAGAIN;

	/* Version 3.0 is UTF-8, the others latin1: our keys and values are
	 * ASCII, and any other byte outside a string is refused anyway. */
	cursor c = { .start = buf + prefix, .p = buf + prefix, .end = buf + prefix + hlen,
		     .py2_long = h->major < 3 };
	int err = parse_dict(&c, h);
	if (err)
		return err;

	/* The size: the product of the non-zero dimensions must fit even when
	 * another dimension is 0, as NumPy requires, so that jp_array_nbytes
	 * never overflows on an array we load. */
	uint64_t n = h->itemsize;
	bool empty = false;
	for (int i = 0; i < h->ndim; i++) {
		if (!h->shape[i]) {
			empty = true;
			continue;
		}
		if (__builtin_mul_overflow(n, (uint64_t)h->shape[i], &n) || n > INT64_MAX)
			return fail(h, -EOVERFLOW, "shape times item size does not fit in 63 bits");
	}
	h->nbytes = empty ? 0 : (size_t)n;
	/* with this header, or with any we would write for the array (up to
	 * JP__NPY_FORMAT_MAX bytes): what we load, we can save */
	size_t offset = h->data_offset > JP__NPY_FORMAT_MAX ? h->data_offset : JP__NPY_FORMAT_MAX;
	if (h->nbytes > (uint64_t)INT64_MAX - offset)
		return fail(h, -EOVERFLOW, "data would end past 2^63 bytes");
	return 0;
}

int jp__npy_check_size(jp__npy_header *h, uint64_t size)
{
	/* parse_header bounded both terms: no overflow */
	uint64_t end = (uint64_t)h->data_offset + h->nbytes;
	if (size < end)
		return fail(h, -EINVAL,
			    "truncated: the header says %zu bytes of data at offset %zu, but there are only %llu bytes",
			    h->nbytes, h->data_offset, (unsigned long long)size);
	return 0;
}

int jp__npy_check_align(jp__npy_header *h)
{
	size_t unit = jp__npy_swap_unit(h->dtype);
	if (h->data_offset % unit)
		return fail(h, JP_ENOTSUP,
			    "data at offset %zu is not aligned for %zu-byte elements: cannot be mapped, load it into memory",
			    h->data_offset, unit);
	return 0;
}

size_t jp__npy_swap_unit(jp_dtype dtype)
{
	for (size_t i = 0; i < NPY_NDTYPES; i++)
		if (npy_dtypes[i].dtype == dtype)
			return npy_dtypes[i].kind == 'c' ? npy_dtypes[i].size / 2
							 : npy_dtypes[i].size;
	return 1;
}

void jp__npy_swap(void *data, size_t nbytes, size_t unit)
{
	uint8_t *p = data;
	size_t n = nbytes / (unit ? unit : 1);
	switch (unit) {
	case 2:
		for (size_t i = 0; i < n; i++) {
			uint16_t v;
			memcpy(&v, p + 2 * i, 2);
			v = __builtin_bswap16(v);
			memcpy(p + 2 * i, &v, 2);
		}
		break;
	case 4:
		for (size_t i = 0; i < n; i++) {
			uint32_t v;
			memcpy(&v, p + 4 * i, 4);
			v = __builtin_bswap32(v);
			memcpy(p + 4 * i, &v, 4);
		}
		break;
	case 8:
		for (size_t i = 0; i < n; i++) {
			uint64_t v;
			memcpy(&v, p + 8 * i, 8);
			v = __builtin_bswap64(v);
			memcpy(p + 8 * i, &v, 8);
		}
		break;
	default:
		break;
	}
}

/* ---- writing -------------------------------------------------------------- */

long jp__npy_format_header(const jp_array *a, uint8_t *out, size_t cap)
{
	char kind = 0;
	unsigned size = 0;
	if (!a || a->ndim < 0 || a->ndim > JP_MAX_NDIM)
		return -EINVAL;
	for (size_t i = 0; i < NPY_NDTYPES; i++)
		if (npy_dtypes[i].dtype == a->dtype) {
			kind = npy_dtypes[i].kind;
			size = npy_dtypes[i].size;
		}
	if (!kind)
		return -EINVAL;

	/* The dict, as NumPy's repr writes it: sorted keys, ", " after each
	 * value, a tuple shape with a trailing comma when 1-d. */
	char text[JP__NPY_FORMAT_MAX];
	char order = size == 1 ? '|' : host_big_endian() ? '>' : '<';
	int n = snprintf(text, sizeof text, "{'descr': '%c%c%u', 'fortran_order': %s, 'shape': (",
			 order, kind, size, a->flags & JP_ARRAY_FORTRAN ? "True" : "False");
	for (int i = 0; i < a->ndim && n > 0 && (size_t)n < sizeof text; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "%s%zu", i ? ", " : "", a->shape[i]);
	if (n > 0 && (size_t)n < sizeof text)
		n += snprintf(text + n, sizeof text - (size_t)n, "%s), }", a->ndim == 1 ? "," : "");
	if (n < 0 || (size_t)n >= sizeof text)
		return -ENOSPC;

	/* Version 1.0 holds a header of up to 65535 bytes; 2.0 has 4 length
	 * bytes. Spaces then '\n' pad the whole to a multiple of 64. */
	size_t textlen = (size_t)n;
	size_t prefix = 10;
	size_t total = (prefix + textlen + 1 + JP__NPY_ALIGN - 1) & ~(size_t)(JP__NPY_ALIGN - 1);
	if (total - prefix > 65535) {
		prefix = 12;
		total = (prefix + textlen + 1 + JP__NPY_ALIGN - 1) & ~(size_t)(JP__NPY_ALIGN - 1);
	}
	if (total > cap)
		return -ENOSPC;
	size_t hlen = total - prefix;
	memcpy(out, npy_magic, sizeof npy_magic);
	out[6] = prefix == 10 ? 1 : 2;
	out[7] = 0;
	out[8] = (uint8_t)hlen;
	out[9] = (uint8_t)(hlen >> 8);
	if (prefix == 12) {
		out[10] = (uint8_t)(hlen >> 16);
		out[11] = (uint8_t)(hlen >> 24);
	}
	memcpy(out + prefix, text, textlen);
	memset(out + prefix + textlen, ' ', total - 1 - prefix - textlen);
	out[total - 1] = '\n';
	return (long)total;
}
