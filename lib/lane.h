/*
 * lane.h - the fast lane: frames between the master and one worker through
 * memory both map, while both spin (the active wait), instead of through
 * the worker's socket and pipe. See lane.c.
 */
#ifndef JOBPOOL_LANE_H
#define JOBPOOL_LANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of a ring: larger frames take the socket or the pipe. */
#define JP__RING_BYTES (128u << 10)
/* A chunk's header in a ring: its stamp, length and mark. Chunks start
 * every 256 bytes at most: the consumer zeroes a word at each place a later
 * chunk may start (lane.c), and at every line that cost 2 % on calls of
 * 10,000 trivial tasks (frames of 10 KB); a RESULT of two small items
 * still fits one such slot. */
#define JP__CHUNK_HDR 32
#define JP__CHUNK_ALIGN 256

/* One direction: a single producer, a single consumer, byte counters that
 * only grow (their difference is what the ring holds). The consumer never
 * reads tail: a chunk is there when the first word of the line at head
 * holds its stamp (see lane.c), so the line it polls brings the chunk's
 * first bytes with it and no counter line moves between the two. */
typedef struct jp__ring {
	_Alignas(64) uint64_t tail; /* bytes written: the producer's alone */
	/* The producer's last look at head: it looks again only when this
	 * leaves too little room, so a push reads no line the consumer
	 * wrote. */
	uint64_t head_seen;
	_Alignas(64) uint64_t head; /* bytes taken: the consumer's */
	_Alignas(64) uint8_t data[JP__RING_BYTES];
} jp__ring;

typedef struct jp__lane {
	jp__ring to_worker, to_master;
	/* Bytes the master has handed to the worker's socket so far: a worker
	 * that sees more than it read knows they are coming. */
	_Alignas(64) uint64_t task_bytes;
	/* Set by a side about to block in read(2) or its I/O wait; the other
	 * side, having pushed a chunk, clears it and sends a NOP frame the
	 * old way to wake it. */
	_Alignas(64) uint32_t worker_sleeping;
	_Alignas(64) uint32_t master_sleeping;
	/* Whether the pool has more processes than CPUs (set by the master
	 * before the worker starts): a spinner then yields after each look
	 * while it shares its CPU with the master, else after JP__SPIN_LOOKS.
	 * master_cpu is where the master last dispatched from, written only
	 * when it changed (the worker reads it at every spin). */
	_Alignas(64) uint32_t spin_yields;
	int32_t master_cpu;
	/* The CPU the worker last spun on (sched_getcpu): the master hands a
	 * batch to a worker on another CPU than its own first. */
	_Alignas(64) int32_t worker_cpu;
} jp__lane;

/* n lanes in memory shared with the processes forked after: 0 or -errno. */
int jp__lanes_new(jp__lane **lanes, int n);
void jp__lanes_free(jp__lane *lanes, int n);
/* Empty, for a new worker in its slot: counters, flags, and the stamps
 * its last worker's chunks left. */
void jp__lane_reset(jp__lane *l);

/*
 * Push whole frames (len bytes) as one chunk whose mark is the count of
 * bytes the producer had sent the old way before it: the consumer takes
 * the chunk once it has taken that many. false when the ring lacks room.
 */
bool jp__ring_push(jp__ring *r, const void *data, size_t len, uint64_t mark);
/* The next chunk's length and mark, if there is one; a chunk whose header
 * does not fit the ring is -1 (the producer is broken). */
int jp__ring_peek(const jp__ring *r, size_t *len, uint64_t *mark);
/* Copy the next chunk's bytes (len, from peek) to dst and drop it. */
void jp__ring_pop(jp__ring *r, void *dst, size_t len);
/* Whether the ring holds a chunk. */
bool jp__ring_nonempty(const jp__ring *r);
/* A spinner looks at its ring this many times between two sched_yield(2)
 * calls: a yield is a system call, and a chunk that comes during one waits
 * it out (a 2-task call took 1.52 us yielding after each look, 1.28 us
 * with 256 looks, on 2 CPUs with the master and the worker on one each).
 * But where processes outnumber CPUs, a spinner that shares its CPU with
 * the other end it waits for yields after every look: that one must have
 * the CPU at once to answer (256 looks made the 2-task call 8.5 us instead
 * of 7.1 when both workers ran a batch). See jp__lane_yield_each.
 * Never yielding was faster still for the 2-task call on the 16-core
 * device (3.8 against 4.9 us at 2 workers) but left the dot call at 100 to
 * 180 us in half the runs: something the spinner's CPU owed others waited
 * for the scheduler's tick. Plain loads, no PAUSE: under KVM a loop of
 * PAUSEs exits to the hypervisor (see threads.c's event_wait). */
#define JP__SPIN_LOOKS 256

/* Whether the spinner on `my_cpu` yields after each look: the pool has
 * more processes than CPUs and the one it waits for was last seen there. */
static inline bool jp__lane_yield_each(const jp__lane *l, int my_cpu, int their_cpu)
{
	return l->spin_yields && (my_cpu == their_cpu || my_cpu < 0 || their_cpu < 0);
}

/* The Dekker pair: a side about to sleep sets its flag, then looks once
 * more; a side that pushed clears the other's flag, and wakes it if it
 * was set. Sequentially consistent, so one of the two sees the other. */
void jp__lane_will_sleep(uint32_t *flag);
void jp__lane_awake(uint32_t *flag);
bool jp__lane_wake_needed(uint32_t *flag);

#endif
