/*
 * fuzz_wire.c - libFuzzer target for the frame decoders (lib/wire.c): the
 * bytes a worker (or, for a worker, its master) could send. Every frame is
 * opened by its header and walked as its receiver walks it: a CALL's names
 * and arguments, a BATCH's units and their arguments and array records, a
 * RESULT's records, a HELLO, a RELEASE's ids. ASan and UBSan watch every
 * read; the decoders must refuse what is malformed, never read past it.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* array.c's jp_array_release needs it; nothing here releases an array */
void jp__share_release(jp_backing *b)
{
	(void)b;
	abort();
}

static void walk_args(const uint8_t *blob, size_t len, uint32_t nargs)
{
	if (nargs > 64)
		return; /* the receiver allocates by nargs; bounded here */
	jp__arg args[64];
	if (jp__args_decode(blob, len, nargs, args))
		return;
	for (uint32_t i = 0; i < nargs; i++) {
		if (args[i].kind != JP__ARG_ARRAY && args[i].kind != JP__ARG_SHARED &&
		    args[i].kind != JP__ARG_LOCAL)
			continue;
		jp_array a;
		jp__shared_ref ref;
		if (jp__array_record_decode(&args[i], &a, &ref) == 0 && args[i].kind == JP__ARG_ARRAY &&
		    a.data) {
			/* an accepted inline array lies inside the frame: touch its ends */
			size_t n = jp_array_nbytes(&a);
			if (n == SIZE_MAX)
				abort();
			volatile uint8_t sink = 0;
			if (n)
				sink ^= ((const uint8_t *)a.data)[0] ^ ((const uint8_t *)a.data)[n - 1];
			(void)sink;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* frames are read into 64-byte aligned buffers: so here */
	uint8_t *f = aligned_alloc(64, (size + 64) & ~(size_t)63);
	if (!f)
		return 0;
	memcpy(f, data, size);
	jp__frame_header h;
	if (size < JP__FRAME_HDR || jp__frame_header_parse(f, &h) || h.len > size) {
		free(f);
		return 0;
	}
	size_t len = (size_t)h.len;
	uint64_t id;
	jp__iter it;
	switch (h.type) {
	case JP__F_CALL: {
		jp__call_header ch;
		if (jp__call_decode(f, len, &ch))
			break;
		size_t pos = 0;
		for (uint32_t i = 0; i < ch.ntasks; i++) {
			const char *name;
			size_t n;
			if (jp__call_next_name(&ch, &pos, &name, &n))
				abort(); /* decode checked every name */
		}
		walk_args(ch.args, ch.args_len, ch.nargs);
		break;
	}
	case JP__F_BATCH: {
		if (jp__batch_decode(f, len, &id, &it))
			break;
		jp__unit u;
		while (jp__batch_next(&it, &u) == 1)
			walk_args(u.args, u.args_len, u.nargs);
		break;
	}
	case JP__F_RESULT: {
		if (jp__result_decode(f, len, &id, &it))
			break;
		jp__result r;
		volatile uint8_t sink = 0;
		while (jp__result_next(&it, &r) == 1)
			if (r.len)
				sink ^= r.data[0] ^ r.data[r.len - 1];
		(void)sink;
		break;
	}
	case JP__F_HELLO: {
		int32_t pid, status;
		const char *msg;
		size_t n;
		if (jp__hello_decode(f, len, &pid, &status, &msg, &n) == 0 && n)
			(void)strnlen(msg, n);
		break;
	}
	case JP__F_RELEASE: {
		const uint8_t *ids;
		uint32_t n;
		if (jp__release_decode(f, len, &ids, &n) == 0)
			for (uint32_t i = 0; i < n; i++)
				(void)jp__release_id(ids, i);
		break;
	}
	case JP__F_NOP: /* nothing in it to decode */
		break;
	default:
		abort(); /* the header parser let an unknown type through */
	}
	free(f);
	return 0;
}
