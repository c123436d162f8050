/*
 * buf.c - a growable byte buffer whose storage is 64-byte aligned, so frames
 * built or received in it keep their payloads aligned for SIMD loads.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Move the contents to storage of exactly `cap` bytes (64-byte multiple). */
static int resize(jp__buf *b, size_t cap)
{
	void *p;
	if (posix_memalign(&p, 64, cap))
		return -ENOMEM;
	if (b->len)
		memcpy(p, b->data, b->len);
	free(b->data);
	b->data = p;
	b->cap = cap;
	return 0;
}

int jp__buf_reserve(jp__buf *b, size_t extra)
{
	if (extra <= b->cap - b->len)
		return 0;
	if (extra > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < extra)
		cap *= 2;
	return resize(b, jp__align_up(cap, 64));
}

int jp__buf_reserve_exact(jp__buf *b, size_t extra)
{
	if (extra <= b->cap - b->len)
		return 0;
	if (extra > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	return resize(b, jp__align_up(b->len + extra, 64));
}

int jp__buf_append_slow(jp__buf *b, const void *p, size_t n)
{
	int err = jp__buf_reserve(b, n);
	if (err)
		return err;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int jp__buf_pad(jp__buf *b, size_t align)
{
	size_t to = jp__align_up(b->len, align);
	if (to == b->len)
		return 0;
	int err = jp__buf_reserve(b, to - b->len);
	if (err)
		return err;
	memset(b->data + b->len, 0, to - b->len);
	b->len = to;
	return 0;
}

void *jp__buf_take(jp__buf *b)
{
	void *p = b->data;
	*b = (jp__buf){ 0 };
	return p;
}

void jp__buf_free(jp__buf *b)
{
	free(b->data);
	*b = (jp__buf){ 0 };
}
