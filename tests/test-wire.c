/*
 * test-wire.c - frames round-trip, and every truncated or corrupted frame
 * is refused (JP_EFRAME) without reading out of bounds.
 */
#include "helpers.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void build_call(jp__buf *b, jp__buf *args)
{
	char *names[] = { "alpha", "a_much_longer_task_name" };
	jp_array a = { .dtype = JP_INT32, .ndim = 2, .shape = { 3, 5 } };
	int32_t data[15];
	for (int i = 0; i < 15; i++)
		data[i] = i * i;
	a.data = data;
	ck_assert_int_eq(jp__args_put_i64(args, -42), 0);
	ck_assert_int_eq(jp__args_put_f64(args, 2.5), 0);
	ck_assert_int_eq(jp__args_put_bytes(args, "hello", 5), 0);
	ck_assert_int_eq(jp__args_put_array(args, &a), 0);
	ck_assert_int_eq(jp__call_encode(b, 7, names, 2, args, 4, JP__CALL_CONTINUE), 0);
}

START_TEST(call_round_trip)
{
	jp__buf b = { 0 }, args = { 0 };
	build_call(&b, &args);
	ck_assert_uint_eq(b.len % 64, 0);
	jp__call_header ch;
	ck_assert_int_eq(jp__call_decode(b.data, b.len, &ch), 0);
	ck_assert_uint_eq(ch.call_id, 7);
	ck_assert_uint_eq(ch.ntasks, 2);
	ck_assert_uint_eq(ch.flags, JP__CALL_CONTINUE);
	size_t pos = 0, len;
	const char *name;
	ck_assert_int_eq(jp__call_next_name(&ch, &pos, &name, &len), 0);
	ck_assert(len == 5 && !memcmp(name, "alpha", 5));
	ck_assert_int_eq(jp__call_next_name(&ch, &pos, &name, &len), 0);
	ck_assert(len == 23 && !memcmp(name, "a_much_longer_task_name", 23));
	jp__arg out[4];
	ck_assert_int_eq(jp__args_decode(ch.args, ch.args_len, 4, out), 0);
	int64_t i;
	double f;
	memcpy(&i, out[0].data, 8);
	memcpy(&f, out[1].data, 8);
	ck_assert_int_eq(i, -42);
	ck_assert(f == 2.5);
	ck_assert(out[2].len == 5 && !memcmp(out[2].data, "hello", 5));
	jp_array a;
	jp__shared_ref ref;
	ck_assert_int_eq(jp__array_record_decode(&out[3], &a, &ref), 0);
	ck_assert_int_eq(a.dtype, JP_INT32);
	ck_assert_int_eq(a.ndim, 2);
	ck_assert_uint_eq(a.shape[1], 5);
	ck_assert_uint_eq((uintptr_t)a.data % 64, 0);
	ck_assert_int_eq(((int32_t *)a.data)[14], 196);
	/* one argument too many or too few is refused */
	ck_assert_int_eq(jp__args_decode(ch.args, ch.args_len, 3, out), JP_EFRAME);
	jp__buf_free(&b);
	jp__buf_free(&args);
}
END_TEST

START_TEST(batch_and_result_round_trip)
{
	jp__buf b = { 0 }, args = { 0 };
	size_t start;
	jp__args_put_i64(&args, 9);
	ck_assert_int_eq(jp__batch_begin(&b, 3, &start), 0);
	for (uint64_t k = 0; k < 5; k++) {
		jp__unit u = { .seq = k, .begin = 10 * k, .end = 10 * k + 10, .task = 1,
			       .nargs = k % 2, .args = k % 2 ? args.data : NULL,
			       .args_len = k % 2 ? args.len : 0 };
		ck_assert_int_eq(jp__batch_add(&b, start, &u), 0);
	}
	jp__frame_end(&b, start);
	uint64_t id;
	jp__iter it;
	jp__unit u;
	ck_assert_int_eq(jp__batch_decode(b.data, b.len, &id, &it), 0);
	ck_assert_uint_eq(id, 3);
	for (uint64_t k = 0; k < 5; k++) {
		ck_assert_int_eq(jp__batch_next(&it, &u), 1);
		ck_assert_uint_eq(u.seq, k);
		ck_assert_uint_eq(u.end, 10 * k + 10);
		ck_assert_uint_eq(u.nargs, k % 2);
		if (u.nargs)
			ck_assert_uint_eq((uintptr_t)u.args % 64, 0);
	}
	ck_assert_int_eq(jp__batch_next(&it, &u), 0);

	jp__buf r = { 0 };
	size_t rec, off;
	ck_assert_int_eq(jp__result_begin(&r, 3, &start), 0);
	ck_assert_int_eq(jp__result_open(&r, start, 0, &rec), 0);
	memcpy(jp__result_reserve(&r, 3, &off), "abc", 3);
	jp__result_close(&r, rec, 0, 3);
	ck_assert_int_eq(jp__result_open(&r, start, 1, &rec), 0);
	jp__result_close(&r, rec, JP_ECANCELED, 0);
	ck_assert_int_eq(jp__result_open(&r, start, 2, &rec), 0);
	jp__result_reserve(&r, 0, &off); /* reserved, nothing written */
	jp__result_close(&r, rec, 0, 0);
	jp__frame_end(&r, start);
	jp__result res;
	ck_assert_int_eq(jp__result_decode(r.data, r.len, &id, &it), 0);
	ck_assert_int_eq(jp__result_next(&it, &res), 1);
	ck_assert(res.len == 3 && !memcmp(res.data, "abc", 3) && res.status == 0);
	ck_assert_uint_eq((uintptr_t)res.data % 64, 0);
	ck_assert_int_eq(jp__result_next(&it, &res), 1);
	ck_assert_int_eq(res.status, JP_ECANCELED);
	ck_assert_int_eq(jp__result_next(&it, &res), 1);
	ck_assert_uint_eq(res.seq, 2);
	ck_assert_uint_eq(res.len, 0);
	ck_assert_int_eq(jp__result_next(&it, &res), 0);
	jp__buf_free(&b);
	jp__buf_free(&r);
	jp__buf_free(&args);
}
END_TEST

/* The units frames' spare word: a BATCH's flags, a RESULT's run time;
 * and which CALL frames stand for each other. */
START_TEST(batch_flags_run_times_and_alike_calls)
{
	jp__buf b = { 0 }, r = { 0 }, c1 = { 0 }, c2 = { 0 }, c3 = { 0 }, args = { 0 };
	size_t start, rec;
	ck_assert_int_eq(jp__batch_begin(&b, 3, &start), 0);
	jp__unit u = { .seq = 0, .begin = 0, .end = 2 };
	ck_assert_int_eq(jp__batch_add(&b, start, &u), 0);
	jp__frame_end(&b, start);
	ck_assert_uint_eq(jp__batch_flags(b.data), 0);
	jp__batch_set_flags(&b, start, JP__BATCH_RENUMBER);
	ck_assert_uint_eq(jp__batch_flags(b.data), JP__BATCH_RENUMBER);
	uint64_t id;
	jp__iter it;
	ck_assert_int_eq(jp__batch_decode(b.data, b.len, &id, &it), 0);
	ck_assert_int_eq(jp__batch_next(&it, &u), 1); /* the unit is untouched */
	ck_assert_uint_eq(u.end, 2);

	ck_assert_int_eq(jp__result_begin(&r, 3, &start), 0);
	ck_assert_int_eq(jp__result_open(&r, start, 0, &rec), 0);
	jp__result_close(&r, rec, 0, 0);
	jp__frame_end(&r, start);
	ck_assert_uint_eq(jp__result_run_ns(r.data), 0); /* not measured */
	jp__result_set_run_ns(&r, start, 1234.9);
	ck_assert_uint_eq(jp__result_run_ns(r.data), 1234);
	jp__result_set_run_ns(&r, start, 1e12); /* 1000 s: saturated */
	ck_assert_uint_eq(jp__result_run_ns(r.data), UINT32_MAX);
	jp__result_set_run_ns(&r, start, -5);
	ck_assert_uint_eq(jp__result_run_ns(r.data), 0);
	ck_assert_int_eq(jp__result_decode(r.data, r.len, &id, &it), 0);

	build_call(&c1, &args);
	jp__buf_free(&args);
	build_call(&c2, &args);
	ck_assert(jp__call_frames_alike(c1.data, c1.len, c2.data, c2.len));
	c2.data[JP__FRAME_HDR] ^= 1; /* another id: alike still */
	ck_assert(jp__call_frames_alike(c1.data, c1.len, c2.data, c2.len));
	c2.data[c2.len - 1] ^= 1; /* a byte of the arguments: not */
	ck_assert(!jp__call_frames_alike(c1.data, c1.len, c2.data, c2.len));
	char *one[] = { "alpha" };
	ck_assert_int_eq(jp__call_encode(&c3, 7, one, 1, &args, 4, JP__CALL_CONTINUE), 0);
	ck_assert(!jp__call_frames_alike(c1.data, c1.len, c3.data, c3.len));
	ck_assert(!jp__call_frames_alike(c1.data, c1.len, c3.data, 0));
	jp__buf_free(&b);
	jp__buf_free(&r);
	jp__buf_free(&c1);
	jp__buf_free(&c2);
	jp__buf_free(&c3);
	jp__buf_free(&args);
}
END_TEST

START_TEST(hello_round_trip)
{
	jp__buf b = { 0 };
	ck_assert_int_eq(jp__hello_encode(&b, 1234, JP_ETASK, "init failed"), 0);
	int32_t pid, status;
	const char *msg;
	size_t len;
	ck_assert_int_eq(jp__hello_decode(b.data, b.len, &pid, &status, &msg, &len), 0);
	ck_assert_int_eq(pid, 1234);
	ck_assert_int_eq(status, JP_ETASK);
	ck_assert(len == 11 && !memcmp(msg, "init failed", 11));
	jp__buf_free(&b);
}
END_TEST

/* Decode a frame of any type as the receivers do, walking every unit. */
static int decode_any(const uint8_t *f, size_t len)
{
	jp__frame_header h;
	if (len < JP__FRAME_HDR || jp__frame_header_parse(f, &h) || h.len != len)
		return JP_EFRAME;
	uint64_t id;
	jp__iter it;
	int rc;
	switch (h.type) {
	case JP__F_CALL: {
		jp__call_header ch;
		if ((rc = jp__call_decode(f, len, &ch)))
			return rc;
		size_t pos = 0, n;
		const char *name;
		for (uint32_t i = 0; i < ch.ntasks; i++)
			if ((rc = jp__call_next_name(&ch, &pos, &name, &n)))
				return rc;
		jp__arg *args = calloc(ch.nargs + 1, sizeof *args);
		rc = jp__args_decode(ch.args, ch.args_len, ch.nargs, args);
		for (uint32_t i = 0; !rc && i < ch.nargs; i++) {
			jp_array a;
			jp__shared_ref ref;
			if (args[i].kind >= JP__ARG_ARRAY)
				rc = jp__array_record_decode(&args[i], &a, &ref);
		}
		free(args);
		return rc;
	}
	case JP__F_BATCH: {
		jp__unit u;
		if ((rc = jp__batch_decode(f, len, &id, &it)))
			return rc;
		while ((rc = jp__batch_next(&it, &u)) == 1)
			;
		return rc;
	}
	case JP__F_RESULT: {
		jp__result r;
		if ((rc = jp__result_decode(f, len, &id, &it)))
			return rc;
		while ((rc = jp__result_next(&it, &r)) == 1)
			;
		return rc;
	}
	default: {
		int32_t pid, st;
		const char *m;
		size_t n;
		return jp__hello_decode(f, len, &pid, &st, &m, &n);
	}
	}
}

/* Every truncation of a valid frame is refused; random bit flips are
 * refused or accepted, never read out of bounds (ASan watches). */
static void mangle(const jp__buf *b)
{
	ck_assert_int_eq(decode_any(b->data, b->len), 0);
	for (size_t n = 0; n < b->len; n++) {
		/* an exact-size heap block, so ASan sees a read past the end */
		uint8_t *p = malloc(n ? n : 1);
		memcpy(p, b->data, n);
		ck_assert_int_eq(decode_any(p, n), JP_EFRAME);
		free(p);
	}
	srand(12345);
	int refused = 0;
	for (int round = 0; round < 20000; round++) {
		uint8_t *p;
		if (posix_memalign((void **)&p, 64, b->len))
			ck_abort();
		memcpy(p, b->data, b->len);
		int flips = 1 + rand() % 4;
		for (int k = 0; k < flips; k++)
			p[rand() % (int)b->len] ^= (uint8_t)(1u << (rand() % 8));
		refused += decode_any(p, b->len) == JP_EFRAME;
		free(p);
	}
	ck_assert_int_gt(refused, 0);
}

START_TEST(truncated_and_corrupt_frames_are_refused)
{
	jp__buf call = { 0 }, args = { 0 }, batch = { 0 }, result = { 0 }, hello = { 0 };
	build_call(&call, &args);
	mangle(&call);

	size_t start, rec, off;
	jp__batch_begin(&batch, 1, &start);
	for (uint64_t k = 0; k < 3; k++) {
		jp__unit u = { .seq = k, .begin = k, .end = k + 1, .nargs = 4,
			       .args = args.data, .args_len = args.len };
		jp__batch_add(&batch, start, &u);
	}
	jp__frame_end(&batch, start);
	mangle(&batch);

	jp__result_begin(&result, 1, &start);
	for (uint64_t k = 0; k < 3; k++) {
		jp__result_open(&result, start, k, &rec);
		memset(jp__result_reserve(&result, 100, &off), 'x', 100);
		jp__result_close(&result, rec, k == 1 ? JP_ETASK : 0, 100);
	}
	jp__frame_end(&result, start);
	mangle(&result);

	jp__hello_encode(&hello, 42, 0, "ready");
	mangle(&hello);

	/* bad magic, bad type, misaligned length */
	uint8_t h[16];
	jp__frame_header fh;
	memcpy(h, call.data, 16);
	h[0] ^= 1;
	ck_assert_int_eq(jp__frame_header_parse(h, &fh), JP_EFRAME);
	memcpy(h, call.data, 16);
	h[4] = 99;
	ck_assert_int_eq(jp__frame_header_parse(h, &fh), JP_EFRAME);
	memcpy(h, call.data, 16);
	h[8] ^= 1;
	ck_assert_int_eq(jp__frame_header_parse(h, &fh), JP_EFRAME);
	jp__buf_free(&call);
	jp__buf_free(&args);
	jp__buf_free(&batch);
	jp__buf_free(&result);
	jp__buf_free(&hello);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = jpt_tcase("frames");
	tcase_add_test(tc, call_round_trip);
	tcase_add_test(tc, batch_and_result_round_trip);
	tcase_add_test(tc, batch_flags_run_times_and_alike_calls);
	tcase_add_test(tc, hello_round_trip);
	tcase_add_test(tc, truncated_and_corrupt_frames_are_refused);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
