/*
 * wire.c - encode and decode the frames of wire.h.
 *
 * Integers are in the host's byte order: both ends of a pipe are on one
 * machine. Every decoder checks every length against what is left before
 * it reads, so a truncated or corrupt frame is JP_EFRAME, never a read out
 * of bounds.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static int append32(jp__buf *b, uint32_t v) { return jp__buf_append(b, &v, 4); }
static int append64(jp__buf *b, uint64_t v) { return jp__buf_append(b, &v, 8); }

/* A bounds-checked cursor over one frame. */
typedef struct cursor {
	const uint8_t *base;
	size_t pos, len;
	bool bad;
} cursor;

static const uint8_t *take(cursor *c, size_t n)
{
	if (c->bad || n > c->len - c->pos) {
		c->bad = true;
		return NULL;
	}
	const uint8_t *p = c->base + c->pos;
	c->pos += n;
	return p;
}

static uint32_t take32(cursor *c)
{
	const uint8_t *p = take(c, 4);
	return p ? get32(p) : 0;
}

static uint64_t take64(cursor *c)
{
	const uint8_t *p = take(c, 8);
	return p ? get64(p) : 0;
}

static void skip_to(cursor *c, size_t align)
{
	size_t to = jp__align_up(c->pos, align);
	if (to > c->len)
		c->bad = true;
	else
		c->pos = to;
}

/* ---- frame header ---------------------------------------------------- */

int jp__frame_header_parse(const uint8_t *p, jp__frame_header *h)
{
	if (get32(p) != JP__FRAME_MAGIC)
		return JP_EFRAME;
	h->type = get32(p + 4);
	h->len = get64(p + 8);
	if (h->type < JP__F_HELLO || h->type > JP__F_NOP)
		return JP_EFRAME;
	if (h->len < JP__FRAME_HDR || h->len > JP__FRAME_MAX || h->len % JP__FRAME_ALIGN)
		return JP_EFRAME;
	return 0;
}

int jp__frame_begin(jp__buf *b, uint32_t type, size_t *start)
{
	int err = jp__buf_pad(b, JP__FRAME_ALIGN);
	if (err)
		return err;
	*start = b->len;
	if ((err = append32(b, JP__FRAME_MAGIC)) || (err = append32(b, type)))
		return err;
	return append64(b, 0);
}

void jp__frame_end(jp__buf *b, size_t start)
{
	/* The pad can only fail for lack of memory, and the frame's capacity
	 * was reserved in 64-byte multiples by jp__buf_reserve. */
	(void)jp__buf_pad(b, JP__FRAME_ALIGN);
	put64(b->data + start + 8, b->len - start);
}

/* Check a frame's header against the expected type; return a cursor on
 * its payload. */
static int open_frame(const uint8_t *frame, size_t len, uint32_t type, cursor *c)
{
	jp__frame_header h;
	if (len < JP__FRAME_HDR || jp__frame_header_parse(frame, &h) || h.type != type ||
	    h.len != len)
		return JP_EFRAME;
	*c = (cursor){ .base = frame, .pos = JP__FRAME_HDR, .len = len };
	return 0;
}

/* ---- argument blobs -------------------------------------------------- */
/*
 * An argument is a 16-byte record header (kind, reserved, payload length)
 * then its payload, padded to 8. An array's payload is dtype, ndim, the
 * shape, then its data at the next 64-byte boundary of the blob.
 */

static int put_arg(jp__buf *blob, uint32_t kind, const void *p, size_t n)
{
	int err;
	if ((err = jp__buf_reserve(blob, 16 + n + 8)) || (err = append32(blob, kind)) ||
	    (err = append32(blob, 0)) || (err = append64(blob, n)) ||
	    (err = jp__buf_append(blob, p, n)))
		return err;
	return jp__buf_pad(blob, 8);
}

int jp__args_put_i64(jp__buf *blob, int64_t v) { return put_arg(blob, JP__ARG_I64, &v, 8); }
int jp__args_put_f64(jp__buf *blob, double v) { return put_arg(blob, JP__ARG_F64, &v, 8); }

int jp__args_put_bytes(jp__buf *blob, const void *p, size_t n)
{
	return put_arg(blob, JP__ARG_BYTES, p, n);
}

/* The part every array record starts with: dtype, ndim, flags, a word of
 * its own (the map mode of a shared array), the shape. */
static int put_array_head(jp__buf *blob, uint32_t kind, const jp_array *a, uint32_t aux,
			  size_t extra, size_t *hdr)
{
	if (!a || a->ndim < 0 || a->ndim > JP_MAX_NDIM || !jp_dtype_size(a->dtype))
		return -EINVAL;
	int err;
	*hdr = blob->len;
	if ((err = jp__buf_reserve(blob, 32 + 8 * (size_t)a->ndim + 128 + extra)) ||
	    (err = append32(blob, kind)) || (err = append32(blob, 0)) || (err = append64(blob, 0)))
		return err;
	append32(blob, (uint32_t)a->dtype);
	append32(blob, (uint32_t)a->ndim);
	append32(blob, a->flags & JP_ARRAY_FORTRAN);
	append32(blob, aux);
	for (int i = 0; i < a->ndim; i++)
		append64(blob, a->shape[i]);
	return 0;
}

static int end_record(jp__buf *blob, size_t hdr)
{
	put64(blob->data + hdr + 8, blob->len - hdr - 16);
	return jp__buf_pad(blob, 8);
}

int jp__args_put_array(jp__buf *blob, const jp_array *a)
{
	size_t nbytes = jp_array_nbytes(a), hdr;
	if (nbytes == SIZE_MAX || (nbytes && !a->data))
		return -EINVAL;
	int err = put_array_head(blob, JP__ARG_ARRAY, a, 0, nbytes, &hdr);
	if (err)
		return err;
	jp__buf_pad(blob, 64);
	jp__buf_append(blob, a->data, nbytes);
	return end_record(blob, hdr);
}

int jp__args_put_local(jp__buf *blob, const jp_array *a)
{
	size_t nbytes = jp_array_nbytes(a), hdr;
	if (nbytes == SIZE_MAX || (nbytes && !a->data))
		return -EINVAL;
	int err = put_array_head(blob, JP__ARG_LOCAL, a, 0, 8, &hdr);
	if (err)
		return err;
	append64(blob, (uint64_t)(uintptr_t)a->data);
	return end_record(blob, hdr);
}

int jp__args_put_shared(jp__buf *blob, const jp_array *a, const jp__shared_ref *ref)
{
	size_t nbytes = jp_array_nbytes(a), hdr, plen = strlen(ref->path);
	if (nbytes == SIZE_MAX || ref->offset > ref->file_len || nbytes > ref->file_len - ref->offset)
		return -EINVAL;
	int err = put_array_head(blob, JP__ARG_SHARED, a, ref->mode, 32 + plen, &hdr);
	if (err)
		return err;
	append64(blob, ref->id);
	append64(blob, ref->offset);
	append64(blob, ref->file_len);
	append32(blob, (uint32_t)plen);
	append32(blob, 0);
	jp__buf_append(blob, ref->path, plen);
	return end_record(blob, hdr);
}

int jp__array_record_decode(const jp__arg *arg, jp_array *a, jp__shared_ref *ref)
{
	/* Records start 8-aligned after a 16-byte header; inline data is
	 * 64-aligned in the blob, which is 64-aligned in memory. */
	const uint8_t *rec = arg->data;
	cursor c = { .base = rec, .pos = 0, .len = arg->len };
	uint32_t dtype = take32(&c), ndim = take32(&c), flags = take32(&c), aux = take32(&c);
	if (c.bad || !jp_dtype_size((jp_dtype)dtype) || ndim > JP_MAX_NDIM || flags & ~JP_ARRAY_FORTRAN)
		return JP_EFRAME;
	memset(a, 0, sizeof *a);
	a->dtype = (jp_dtype)dtype;
	a->ndim = (int)ndim;
	a->flags = flags;
	for (uint32_t i = 0; i < ndim; i++)
		a->shape[i] = take64(&c);
	size_t nbytes = jp_array_nbytes(a);
	if (c.bad || nbytes == SIZE_MAX)
		return JP_EFRAME;
	if (arg->kind == JP__ARG_ARRAY) {
		size_t data = jp__align_up((uintptr_t)(rec + c.pos), 64) - (uintptr_t)rec;
		if (data > arg->len || arg->len - data != nbytes)
			return JP_EFRAME;
		a->data = (void *)(rec + data); /* the frame's copy: the task's to use */
		return 0;
	}
	if (arg->kind == JP__ARG_LOCAL) {
		uint64_t p = take64(&c);
		a->data = (void *)(uintptr_t)p;
		return c.bad || c.pos != arg->len ? JP_EFRAME : 0;
	}
	if (arg->kind != JP__ARG_SHARED)
		return JP_EFRAME;
	ref->mode = aux;
	ref->id = take64(&c);
	ref->offset = take64(&c);
	ref->file_len = take64(&c);
	uint32_t plen = take32(&c);
	take32(&c);
	const uint8_t *path = take(&c, plen);
	if (c.bad || c.pos != arg->len || plen == 0 || plen >= 4096 || memchr(path, 0, plen) ||
	    ref->mode > JP__MMAP_C || ref->offset > ref->file_len ||
	    nbytes > ref->file_len - ref->offset)
		return JP_EFRAME;
	memcpy(ref->pathbuf, path, plen);
	ref->pathbuf[plen] = '\0';
	ref->path = ref->pathbuf;
	return 0;
}

int jp__args_decode(const uint8_t *blob, size_t len, uint32_t nargs, jp__arg *out)
{
	cursor c = { .base = blob, .pos = 0, .len = len };
	for (uint32_t i = 0; i < nargs; i++) {
		uint32_t kind = take32(&c);
		take32(&c);
		uint64_t n = take64(&c);
		const uint8_t *p = take(&c, n);
		skip_to(&c, 8);
		if (c.bad)
			return JP_EFRAME;
		if (kind < JP__ARG_I64 || kind > JP__ARG_SHARED)
			return JP_EFRAME;
		if ((kind == JP__ARG_I64 || kind == JP__ARG_F64) && n != 8)
			return JP_EFRAME;
		out[i] = (jp__arg){ .kind = kind, .data = p, .len = n };
		if (kind >= JP__ARG_ARRAY) {
			/* checked now, so a task reading it later cannot fail */
			jp_array a;
			jp__shared_ref ref;
			if (jp__array_record_decode(&out[i], &a, &ref))
				return JP_EFRAME;
		}
	}
	return c.pos == len ? 0 : JP_EFRAME;
}

/* ---- HELLO ----------------------------------------------------------- */

int jp__hello_encode(jp__buf *b, int32_t pid, int32_t status, const char *msg)
{
	size_t start, n = msg ? strlen(msg) : 0;
	int err;
	if ((err = jp__frame_begin(b, JP__F_HELLO, &start)) ||
	    (err = append32(b, (uint32_t)pid)) || (err = append32(b, (uint32_t)status)) ||
	    (err = append64(b, n)) || (err = jp__buf_append(b, msg, n)))
		return err;
	jp__frame_end(b, start);
	return 0;
}

int jp__hello_decode(const uint8_t *frame, size_t len, int32_t *pid,
		     int32_t *status, const char **msg, size_t *msglen)
{
	cursor c;
	if (open_frame(frame, len, JP__F_HELLO, &c))
		return JP_EFRAME;
	*pid = (int32_t)take32(&c);
	*status = (int32_t)take32(&c);
	*msglen = take64(&c);
	*msg = (const char *)take(&c, *msglen);
	return c.bad ? JP_EFRAME : 0;
}

/* ---- RELEASE ----------------------------------------------------------- */

int jp__nop_encode(jp__buf *b)
{
	size_t start;
	int err = jp__frame_begin(b, JP__F_NOP, &start);
	if (err)
		return err;
	jp__frame_end(b, start);
	return 0;
}

int jp__release_encode(jp__buf *b, const uint64_t *ids, uint32_t n)
{
	size_t start;
	int err;
	if ((err = jp__frame_begin(b, JP__F_RELEASE, &start)) || (err = append32(b, n)) ||
	    (err = append32(b, 0)))
		return err;
	for (uint32_t i = 0; i < n; i++)
		if ((err = append64(b, ids[i])))
			return err;
	jp__frame_end(b, start);
	return 0;
}

int jp__release_decode(const uint8_t *frame, size_t len, const uint8_t **ids, uint32_t *n)
{
	cursor c;
	if (open_frame(frame, len, JP__F_RELEASE, &c))
		return JP_EFRAME;
	*n = take32(&c);
	take32(&c);
	*ids = take(&c, (size_t)*n * 8);
	return c.bad ? JP_EFRAME : 0;
}

uint64_t jp__release_id(const uint8_t *ids, uint32_t i)
{
	return get64(ids + (size_t)i * 8);
}

/* ---- CALL ------------------------------------------------------------ */

int jp__call_encode(jp__buf *b, uint64_t call_id, char *const *names,
		    uint32_t ntasks, const jp__buf *args, uint32_t nargs, uint32_t flags)
{
	size_t start;
	int err;
	if ((err = jp__frame_begin(b, JP__F_CALL, &start)) || (err = append64(b, call_id)) ||
	    (err = append32(b, ntasks)) || (err = append32(b, nargs)) ||
	    (err = append32(b, flags)) || (err = append32(b, 0)))
		return err;
	for (uint32_t i = 0; i < ntasks; i++) {
		size_t n = strlen(names[i]);
		if ((err = append32(b, (uint32_t)n)) || (err = jp__buf_append(b, names[i], n)) ||
		    (err = jp__buf_pad(b, 4)))
			return err;
	}
	if ((err = jp__buf_pad(b, 64)) || (err = append64(b, args->len)) ||
	    (err = jp__buf_pad(b, 64)) || (err = jp__buf_append(b, args->data, args->len)))
		return err;
	jp__frame_end(b, start);
	return 0;
}

bool jp__call_frames_alike(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	/* the id is the 8 bytes after the header */
	return alen == blen && alen >= JP__FRAME_HDR + 8 && !memcmp(a, b, JP__FRAME_HDR) &&
	       !memcmp(a + JP__FRAME_HDR + 8, b + JP__FRAME_HDR + 8, alen - JP__FRAME_HDR - 8);
}

int jp__call_decode(const uint8_t *frame, size_t len, jp__call_header *ch)
{
	cursor c;
	if (open_frame(frame, len, JP__F_CALL, &c))
		return JP_EFRAME;
	ch->call_id = take64(&c);
	ch->ntasks = take32(&c);
	ch->nargs = take32(&c);
	ch->flags = take32(&c);
	(void)take32(&c); /* reserved */
	if (ch->flags & ~JP__CALL_CONTINUE)
		return JP_EFRAME;
	size_t names = c.pos;
	for (uint32_t i = 0; i < ch->ntasks && !c.bad; i++) {
		uint32_t n = take32(&c);
		if (n == 0 || n > JP__MAX_TASK_NAME)
			return JP_EFRAME;
		take(&c, n);
		skip_to(&c, 4);
	}
	ch->names = frame + names;
	ch->names_len = c.pos - names;
	skip_to(&c, 64);
	ch->args_len = take64(&c);
	skip_to(&c, 64);
	ch->args = take(&c, ch->args_len);
	/* every argument takes at least its 16-byte header: a count beyond
	 * that is corrupt, and would make a receiver allocate for nothing */
	return c.bad || ch->nargs > ch->args_len / 16 ? JP_EFRAME : 0;
}

int jp__call_next_name(const jp__call_header *ch, size_t *pos, const char **name,
		       size_t *len)
{
	cursor c = { .base = ch->names, .pos = *pos, .len = ch->names_len };
	*len = take32(&c);
	*name = (const char *)take(&c, *len);
	skip_to(&c, 4);
	*pos = c.pos;
	return c.bad ? JP_EFRAME : 0;
}

/* ---- BATCH ----------------------------------------------------------- */

/* BATCH and RESULT open alike: the header, the call id, the count of units
 * (patched as units are added) and a word of their own (a BATCH's flags, a
 * RESULT's run time), then the units. */
#define UNITS_SPARE_AT (JP__FRAME_HDR + 12)

static int begin_units_frame(jp__buf *b, uint32_t type, uint64_t call_id, size_t *start)
{
	int err;
	if ((err = jp__frame_begin(b, type, start)) || (err = append64(b, call_id)) ||
	    (err = append32(b, 0)) || (err = append32(b, 0)))
		return err;
	return 0;
}

int jp__batch_begin(jp__buf *b, uint64_t call_id, size_t *start)
{
	return begin_units_frame(b, JP__F_BATCH, call_id, start);
}

int jp__batch_add(jp__buf *b, size_t start, const jp__unit *u)
{
	int err;
	if ((err = jp__buf_reserve(b, 48 + 64 + u->args_len)) || (err = append64(b, u->seq)) ||
	    (err = append64(b, u->begin)) || (err = append64(b, u->end)) ||
	    (err = append32(b, u->task)) || (err = append32(b, u->nargs)) ||
	    (err = append64(b, u->args_len)))
		return err;
	if (u->args_len &&
	    ((err = jp__buf_pad(b, 64)) || (err = jp__buf_append(b, u->args, u->args_len))))
		return err;
	uint8_t *count = b->data + start + JP__FRAME_HDR + 8;
	put32(count, get32(count) + 1);
	return 0;
}

/* The counterpart of begin_units_frame: an iterator over the units. */
static int open_units_frame(const uint8_t *frame, size_t len, uint32_t type,
			    uint64_t *call_id, jp__iter *it)
{
	cursor c;
	if (open_frame(frame, len, type, &c))
		return JP_EFRAME;
	*call_id = take64(&c);
	uint32_t n = take32(&c);
	take32(&c);
	if (c.bad)
		return JP_EFRAME;
	*it = (jp__iter){ .base = frame, .pos = c.pos, .len = len, .left = n };
	return 0;
}

int jp__batch_decode(const uint8_t *frame, size_t len, uint64_t *call_id, jp__iter *it)
{
	return open_units_frame(frame, len, JP__F_BATCH, call_id, it);
}

void jp__batch_set_flags(jp__buf *b, size_t start, uint32_t flags)
{
	put32(b->data + start + UNITS_SPARE_AT, flags);
}

uint32_t jp__batch_flags(const uint8_t *frame)
{
	return get32(frame + UNITS_SPARE_AT);
}

int jp__batch_next(jp__iter *it, jp__unit *u)
{
	if (it->left == 0)
		return 0;
	cursor c = { .base = it->base, .pos = it->pos, .len = it->len };
	u->seq = take64(&c);
	u->begin = take64(&c);
	u->end = take64(&c);
	u->task = take32(&c);
	u->nargs = take32(&c);
	u->args_len = take64(&c);
	u->args = NULL;
	if (u->args_len) {
		skip_to(&c, 64);
		u->args = take(&c, u->args_len);
	}
	if (c.bad || u->end < u->begin || u->nargs > u->args_len / 16)
		return JP_EFRAME;
	it->pos = c.pos;
	it->left--;
	return 1;
}

/* ---- RESULT ---------------------------------------------------------- */

int jp__result_begin(jp__buf *b, uint64_t call_id, size_t *start)
{
	return begin_units_frame(b, JP__F_RESULT, call_id, start);
}

int jp__result_open(jp__buf *b, size_t start, uint64_t seq, size_t *rec)
{
	int err = jp__buf_pad(b, 8);
	if (err)
		return err;
	*rec = b->len;
	if ((err = append64(b, seq)) || (err = append32(b, 0)) || (err = append32(b, 0)) ||
	    (err = append64(b, 0)))
		return err;
	uint8_t *count = b->data + start + JP__FRAME_HDR + 8;
	put32(count, get32(count) + 1);
	return 0;
}

void *jp__result_reserve(jp__buf *b, size_t len, size_t *off)
{
	if (jp__buf_reserve(b, 64 + len) || jp__buf_pad(b, 64))
		return NULL;
	*off = b->len;
	b->len += len;
	return b->data + *off;
}

void jp__result_close(jp__buf *b, size_t rec, int32_t status, size_t data_len)
{
	/* Without data the decoder expects no padding after the record. */
	if (data_len == 0)
		b->len = rec + 24;
	put32(b->data + rec + 8, (uint32_t)status);
	put64(b->data + rec + 16, data_len);
}

int jp__result_decode(const uint8_t *frame, size_t len, uint64_t *call_id, jp__iter *it)
{
	return open_units_frame(frame, len, JP__F_RESULT, call_id, it);
}

void jp__result_set_run_ns(jp__buf *b, size_t start, double ns)
{
	put32(b->data + start + UNITS_SPARE_AT, ns >= (double)UINT32_MAX ? UINT32_MAX
					: ns > 0 ? (uint32_t)ns : 0);
}

uint32_t jp__result_run_ns(const uint8_t *frame)
{
	return get32(frame + UNITS_SPARE_AT);
}

int jp__result_next(jp__iter *it, jp__result *r)
{
	if (it->left == 0)
		return 0;
	cursor c = { .base = it->base, .pos = it->pos, .len = it->len };
	skip_to(&c, 8);
	r->seq = take64(&c);
	r->status = (int32_t)take32(&c);
	take32(&c);
	r->len = take64(&c);
	r->data = NULL;
	if (r->len) {
		skip_to(&c, 64);
		r->data = take(&c, r->len);
	}
	if (c.bad)
		return JP_EFRAME;
	it->pos = c.pos;
	it->left--;
	return 1;
}
