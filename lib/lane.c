/*
 * lane.c - the fast lane. With the active wait, a worker that has just
 * answered polls for its next frame and the master polls for results; a
 * frame through a socket then costs a system call at each end plus the
 * kernel's copies, several microseconds on a VM, while a cache line moves
 * between cores in a fraction of one. So each worker has a lane: two byte
 * rings in a MAP_SHARED region the master maps before it forks, one each
 * way, carrying whole frames (a chunk: what the old way would have sent in
 * one write).
 *
 * A chunk starts at a multiple of JP__CHUNK_ALIGN with a header: a stamp
 * (its position in the ring's byte count, plus one), its length and its
 * mark, then its bytes. The producer writes the stamp last, and the
 * consumer polls the word at head for it: a ring whose consumer read a
 * separate tail counter moved that counter's line too, each way at every
 * chunk. A word the consumer may poll holds either a chunk's stamp or
 * zero: the consumer zeroes the word at every place in a chunk it takes
 * where a later chunk may start, before it lets the producer have them
 * back. (The producer zeroing the place after each chunk instead keeps the
 * consumer's zeroes away, but the line the consumer polls then crosses
 * three times per chunk instead of two: a 2-task call took 10 % longer.)
 *
 * The old ways (the task socket, the result pipe) stay: for frames larger
 * than a ring, for a ring that is full, and to wake a side that stopped
 * spinning and blocks in read(2) or in its I/O wait. Order is kept with
 * marks: a chunk carries the count of bytes its producer had sent the old
 * way before it, and the consumer takes the chunk only after taking that
 * many bytes from the socket or pipe, and none beyond them first.
 */
#include "internal.h" /* config.h first, as everywhere */
#include "lane.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

int jp__lanes_new(jp__lane **lanes, int n)
{
	void *m = mmap(NULL, (size_t)n * sizeof(jp__lane), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -errno;
	*lanes = m;
	return 0;
}

void jp__lanes_free(jp__lane *lanes, int n)
{
	if (lanes)
		munmap(lanes, (size_t)n * sizeof(jp__lane));
}

void jp__lane_reset(jp__lane *l)
{
	/* stamps the last worker's chunks left would read as chunks */
	memset(l->to_worker.data, 0, sizeof l->to_worker.data);
	memset(l->to_master.data, 0, sizeof l->to_master.data);
	l->to_worker.head = l->to_worker.tail = l->to_worker.head_seen = 0;
	l->to_master.head = l->to_master.tail = l->to_master.head_seen = 0;
	l->task_bytes = 0;
	l->worker_sleeping = l->master_sleeping = 0;
	l->worker_cpu = l->master_cpu = -1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Copy in or out at a counter's position, wrapping around the end. */
static void copy_in(jp__ring *r, uint64_t at, const void *src, size_t len)
{
	size_t off = (size_t)(at % JP__RING_BYTES), first = JP__RING_BYTES - off;
	if (first > len)
		first = len;
	memcpy(r->data + off, src, first);
	memcpy(r->data, (const uint8_t *)src + first, len - first);
}

static void copy_out(const jp__ring *r, uint64_t at, void *dst, size_t len)
{
	size_t off = (size_t)(at % JP__RING_BYTES), first = JP__RING_BYTES - off;
	if (first > len)
		first = len;
	memcpy(dst, r->data + off, first);
	memcpy((uint8_t *)dst + first, r->data, len - first);
}

/* A chunk's room in the ring: header and bytes, to the next place a chunk
 * may start. */
static uint64_t slot_of(size_t len)
{
	return (JP__CHUNK_HDR + len + JP__CHUNK_ALIGN - 1) / JP__CHUNK_ALIGN * JP__CHUNK_ALIGN;
}

/* The stamp word at a counter's position (a multiple of JP__CHUNK_ALIGN:
 * the word never wraps). */
static uint64_t *stamp_at(const jp__ring *r, uint64_t at)
{
	return (uint64_t *)(uintptr_t)(r->data + at % JP__RING_BYTES);
}

bool jp__ring_push(jp__ring *r, const void *data, size_t len, uint64_t mark)
{
	uint64_t tail = r->tail;
	if (len > JP__RING_BYTES - JP__CHUNK_HDR)
		return false;
	uint64_t slot = slot_of(len);
	if (JP__RING_BYTES - (tail - r->head_seen) < slot) {
		r->head_seen = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
		if (JP__RING_BYTES - (tail - r->head_seen) < slot)
			return false;
	}
	uint64_t rest[2] = { len, mark };
	copy_in(r, tail + 8, rest, sizeof rest);
	copy_in(r, tail + JP__CHUNK_HDR, data, len);
	r->tail = tail + slot;
	/* sequentially consistent: the wake-up check that follows must not
	 * be seen before it (see jp__lane_wake_needed) */
	__atomic_store_n(stamp_at(r, tail), tail + 1, __ATOMIC_SEQ_CST);
	return true;
}

int jp__ring_peek(const jp__ring *r, size_t *len, uint64_t *mark)
{
	uint64_t head = r->head, stamp = __atomic_load_n(stamp_at(r, head), __ATOMIC_ACQUIRE);
	if (stamp == 0)
		return 0;
	uint64_t rest[2];
	copy_out(r, head + 8, rest, sizeof rest);
	if (stamp != head + 1 || rest[0] > JP__RING_BYTES - JP__CHUNK_HDR)
		return -1; /* the producer is broken */
	*len = (size_t)rest[0];
	*mark = rest[1];
	return 1;
}

void jp__ring_pop(jp__ring *r, void *dst, size_t len)
{
	uint64_t head = r->head, slot = slot_of(len);
	copy_out(r, head + JP__CHUNK_HDR, dst, len);
	for (uint64_t at = head; at < head + slot; at += JP__CHUNK_ALIGN)
		__atomic_store_n(stamp_at(r, at), 0, __ATOMIC_RELAXED);
	/* release: the zeroes are in before the producer may write there */
	__atomic_store_n(&r->head, head + slot, __ATOMIC_RELEASE);
}

bool jp__ring_nonempty(const jp__ring *r)
{
	return __atomic_load_n(stamp_at(r, r->head), __ATOMIC_SEQ_CST) != 0;
}

void jp__lane_will_sleep(uint32_t *flag)
{
	__atomic_store_n(flag, 1, __ATOMIC_SEQ_CST);
}

void jp__lane_awake(uint32_t *flag)
{
	__atomic_store_n(flag, 0, __ATOMIC_RELAXED);
}

bool jp__lane_wake_needed(uint32_t *flag)
{
	return __atomic_exchange_n(flag, 0, __ATOMIC_SEQ_CST) != 0;
}
