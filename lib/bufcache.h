/*
 * bufcache.h - large buffers a pool keeps between calls. See bufcache.c.
 */
#ifndef JOBPOOL_BUFCACHE_H
#define JOBPOOL_BUFCACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

/* Buffers smaller than this are malloc's business; larger than
 * JP__BUFCACHE_MAX_BYTES in all are freed. */
#define JP__BUFCACHE_MIN (64u << 10)
#define JP__BUFCACHE_MAX_BYTES (64u << 20)
#define JP__BUFCACHE_SLOTS 16

typedef struct jp__bufcache {
	pthread_mutex_t lock; /* calls may be freed in any thread */
	struct {
		void *data;  /* 64-byte aligned, as jp__buf's */
		size_t cap;
	} slot[JP__BUFCACHE_SLOTS];
	size_t bytes;
} jp__bufcache;

void jp__bufcache_init(jp__bufcache *bc);
void jp__bufcache_free(jp__bufcache *bc);
/* Move b's bytes to the smallest kept buffer of at least `min` bytes, if
 * b's storage is smaller and one is kept; whether it did. */
bool jp__bufcache_take(jp__bufcache *bc, size_t min, jp__buf *b);
/* Keep storage of `cap` bytes (from a jp__buf) for a later take, or free
 * it. */
void jp__bufcache_give(jp__bufcache *bc, void *data, size_t cap);

#endif
