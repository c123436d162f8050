/*
 * wire.h - the frames that cross a pool's pipes. wire.c alone knows their
 * byte layout; everything else goes through these functions.
 *
 * A frame is a 16-byte header (magic, type, total length) and a payload.
 * Every frame's total length is a multiple of 64 and every array or result
 * payload sits at a 64-byte aligned offset from the frame's start, so a
 * receiver that keeps frames at 64-byte aligned addresses hands tasks
 * aligned data without copying it.
 *
 *   HELLO  worker -> master  the worker is ready (or its initializer failed)
 *   CALL   master -> worker  a call's task names and shared arguments
 *   BATCH  master -> worker  units to run: seq, [begin, end), task, args
 *   RESULT worker -> master  per unit: seq, status, result or message
 *   RELEASE master -> worker shared arrays the worker may unmap now
 *   NOP     either way       nothing: wakes a side blocked on the socket
 *                            or pipe when a frame went by the fast lane
 */
#ifndef JOBPOOL_WIRE_H
#define JOBPOOL_WIRE_H

#define JP__FRAME_MAGIC 0x3157504aU /* "JPW1" */
#define JP__FRAME_HDR 16
#define JP__FRAME_ALIGN 64
#define JP__FRAME_MAX ((uint64_t)1 << 42)
#define JP__MAX_TASK_NAME 255

enum jp__frame_type {
	JP__F_HELLO = 1,
	JP__F_CALL = 2,
	JP__F_BATCH = 3,
	JP__F_RESULT = 4,
	JP__F_RELEASE = 5,
	JP__F_NOP = 6,
};

typedef struct jp__frame_header {
	uint32_t type;
	uint64_t len; /* whole frame, header included */
} jp__frame_header;

/* Validate the 16 bytes at p (magic, known type, length sane and aligned). */
int jp__frame_header_parse(const uint8_t *p, jp__frame_header *h);

/* A NOP frame (64 bytes) at the end of b. */
int jp__nop_encode(jp__buf *b);

/* Start a frame at the end of b (padding b to 64 first); *start gets its
 * offset. jp__frame_end pads it and writes its length. */
int jp__frame_begin(jp__buf *b, uint32_t type, size_t *start);
void jp__frame_end(jp__buf *b, size_t start);

/* ---- argument blobs: a call's shared args, an item's own args ------- */

int jp__args_put_i64(jp__buf *blob, int64_t v);
int jp__args_put_f64(jp__buf *blob, double v);
int jp__args_put_bytes(jp__buf *blob, const void *p, size_t n);
/* An array three ways: its bytes inline; a pointer, for a backend that runs
 * tasks in this process; a file the receiver maps. */
int jp__args_put_array(jp__buf *blob, const jp_array *a);
int jp__args_put_local(jp__buf *blob, const jp_array *a);
int jp__args_put_shared(jp__buf *blob, const jp_array *a, const jp__shared_ref *ref);

/* Decode `nargs` arguments from a blob that starts 64-byte aligned; array
 * records are checked whole. */
int jp__args_decode(const uint8_t *blob, size_t len, uint32_t nargs, jp__arg *out);

/* An array argument decoded: data points at the inline bytes or the local
 * pointer; for a shared array it is NULL and `ref` says which file to map. */
int jp__array_record_decode(const jp__arg *arg, jp_array *a, jp__shared_ref *ref);

/* ---- RELEASE ---------------------------------------------------------- */

int jp__release_encode(jp__buf *b, const uint64_t *ids, uint32_t n);
int jp__release_decode(const uint8_t *frame, size_t len, const uint8_t **ids, uint32_t *n);
uint64_t jp__release_id(const uint8_t *ids, uint32_t i);

/* ---- HELLO ------------------------------------------------------------ */

int jp__hello_encode(jp__buf *b, int32_t pid, int32_t status, const char *msg);
int jp__hello_decode(const uint8_t *frame, size_t len, int32_t *pid,
		     int32_t *status, const char **msg, size_t *msglen);

/* ---- CALL ------------------------------------------------------------- */

/* jp__call_header.flags */
#define JP__CALL_CONTINUE 0x1u /* a failed unit does not cancel the rest of its batch */

typedef struct jp__call_header {
	uint64_t call_id;
	uint32_t ntasks;
	uint32_t nargs;
	uint32_t flags;       /* JP__CALL_* */
	const uint8_t *names; /* ntasks records: u32 length, bytes, padding */
	size_t names_len;
	const uint8_t *args;
	size_t args_len;
} jp__call_header;

int jp__call_encode(jp__buf *b, uint64_t call_id, char *const *names,
		    uint32_t ntasks, const jp__buf *args, uint32_t nargs, uint32_t flags);
int jp__call_decode(const uint8_t *frame, size_t len, jp__call_header *ch);
/* Whether two CALL frames differ in their call id alone. */
bool jp__call_frames_alike(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
/* The names one after another: call with *pos = 0, ntasks times. */
int jp__call_next_name(const jp__call_header *ch, size_t *pos,
		       const char **name, size_t *len);

/* ---- BATCH ------------------------------------------------------------ */

typedef struct jp__unit {
	uint64_t seq;        /* slot of this unit's result in the call */
	uint64_t begin, end; /* item range */
	uint32_t task;       /* index into the call's task names */
	uint32_t nargs;
	const uint8_t *args;
	size_t args_len;
} jp__unit;

typedef struct jp__iter {
	const uint8_t *base; /* frame start: alignment is relative to it */
	size_t pos, len;
	uint32_t left;
} jp__iter;

int jp__batch_begin(jp__buf *b, uint64_t call_id, size_t *start);
int jp__batch_add(jp__buf *b, size_t start, const jp__unit *u);
int jp__batch_decode(const uint8_t *frame, size_t len, uint64_t *call_id, jp__iter *it);
/* A BATCH's flags, in the frame begun at `start`, or in one decoded. */
#define JP__BATCH_RENUMBER 1u /* the call the worker holds stands for this
			       * one: its CALL frame was alike but for the id */
void jp__batch_set_flags(jp__buf *b, size_t start, uint32_t flags);
uint32_t jp__batch_flags(const uint8_t *frame);
/* 1 and the next unit, 0 at the end, JP_EFRAME if malformed. */
int jp__batch_next(jp__iter *it, jp__unit *u);

/* ---- RESULT ----------------------------------------------------------- */

typedef struct jp__result {
	uint64_t seq;
	int32_t status; /* 0, JP_ETASK, JP_ENOTASK, JP_ECANCELED */
	const uint8_t *data; /* result bytes, or the message when status != 0 */
	size_t len;
} jp__result;

int jp__result_begin(jp__buf *b, uint64_t call_id, size_t *start);
/* Open a unit record; its data, if any, is reserved by jp__result_reserve
 * and the record is closed by jp__result_close. */
int jp__result_open(jp__buf *b, size_t start, uint64_t seq, size_t *rec);
void *jp__result_reserve(jp__buf *b, size_t len, size_t *off);
void jp__result_close(jp__buf *b, size_t rec, int32_t status, size_t data_len);
int jp__result_decode(const uint8_t *frame, size_t len, uint64_t *call_id, jp__iter *it);
int jp__result_next(jp__iter *it, jp__result *r);
/* How long the worker ran the batch, in nanoseconds (saturated at 2^32 -
 * 1; 0 when not measured): what the master learns a task's cost from,
 * free of the round trip. In a frame begun at `start`, or whose header
 * was parsed. */
void jp__result_set_run_ns(jp__buf *b, size_t start, double ns);
uint32_t jp__result_run_ns(const uint8_t *frame);

#endif
