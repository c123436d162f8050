/*
 * bufcache.c - large buffers a pool keeps between calls.
 *
 * A call keeps its result frames until it is freed, so the frames of the
 * next call are new storage. For a call of many results that storage is
 * large, and glibc gives large freed storage back to the kernel (munmap,
 * or trimming its heap once the free space at the top passes a threshold
 * that adapts): each call then faulted its pages in again. 100,000 trivial
 * tasks on the thread backend, with the caller running a share, took
 * 440 us instead of 65 (270 page faults per call, in the caller's frame and
 * in the output gathered by jp_call_output). So the frames and outputs a
 * call frees go back to its pool, up to JP__BUFCACHE_SLOTS buffers and
 * JP__BUFCACHE_MAX_BYTES, and the frames (runners', copies, big pipe
 * reads) and outputs of later calls take them, pages and all.
 */
#include "bufcache.h"

#include <stdlib.h>
#include <string.h>

void jp__bufcache_init(jp__bufcache *bc)
{
	memset(bc, 0, sizeof *bc);
	pthread_mutex_init(&bc->lock, NULL);
}

void jp__bufcache_free(jp__bufcache *bc)
{
	for (int i = 0; i < JP__BUFCACHE_SLOTS; i++)
		free(bc->slot[i].data);
	pthread_mutex_destroy(&bc->lock);
	memset(bc->slot, 0, sizeof bc->slot);
	bc->bytes = 0;
}

bool jp__bufcache_take(jp__bufcache *bc, size_t min, jp__buf *b)
{
	if (b->cap >= min || min < JP__BUFCACHE_MIN)
		return false;
	pthread_mutex_lock(&bc->lock);
	int best = -1;
	for (int i = 0; i < JP__BUFCACHE_SLOTS; i++)
		if (bc->slot[i].data && bc->slot[i].cap >= min &&
		    (best < 0 || bc->slot[i].cap < bc->slot[best].cap))
			best = i;
	void *data = NULL;
	size_t cap = 0;
	if (best >= 0) {
		data = bc->slot[best].data;
		cap = bc->slot[best].cap;
		bc->slot[best].data = NULL;
		bc->slot[best].cap = 0;
		bc->bytes -= cap;
	}
	pthread_mutex_unlock(&bc->lock);
	if (!data)
		return false;
	if (b->len)
		memcpy(data, b->data, b->len);
	free(b->data);
	b->data = data;
	b->cap = cap;
	return true;
}

void jp__bufcache_give(jp__bufcache *bc, void *data, size_t cap)
{
	if (!data)
		return;
	if (cap < JP__BUFCACHE_MIN || cap > JP__BUFCACHE_MAX_BYTES) {
		free(data);
		return;
	}
	pthread_mutex_lock(&bc->lock);
	/* an empty slot, else the smallest kept if this one is larger */
	int at = 0;
	for (int i = 0; i < JP__BUFCACHE_SLOTS && bc->slot[at].data; i++)
		if (!bc->slot[i].data || bc->slot[i].cap < bc->slot[at].cap)
			at = i;
	void *drop = NULL;
	if (bc->slot[at].data && bc->slot[at].cap >= cap) {
		drop = data; /* every slot holds a larger one */
	} else {
		drop = bc->slot[at].data;
		bc->bytes -= bc->slot[at].cap;
		bc->slot[at].data = data;
		bc->slot[at].cap = cap;
		bc->bytes += cap;
		/* within the bound: the smallest go first */
		while (bc->bytes > JP__BUFCACHE_MAX_BYTES) {
			int small = -1;
			for (int i = 0; i < JP__BUFCACHE_SLOTS; i++)
				if (bc->slot[i].data && i != at &&
				    (small < 0 || bc->slot[i].cap < bc->slot[small].cap))
					small = i;
			if (small < 0)
				break;
			free(bc->slot[small].data);
			bc->bytes -= bc->slot[small].cap;
			bc->slot[small].data = NULL;
			bc->slot[small].cap = 0;
		}
	}
	pthread_mutex_unlock(&bc->lock);
	free(drop);
}
