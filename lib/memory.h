/*
 * memory.h - the result cache: its directory and entry files (memory.c),
 * and what a call keeps to use one (call_memory.c). jobpool-inspect reads
 * entry headers through jp__memory_entry_read, so the file format is known
 * in memory.c alone.
 */
#ifndef JOBPOOL_MEMORY_H
#define JOBPOOL_MEMORY_H

#include "internal.h"

/* An entry is "<32 hex digits of its key>.jpc"; a store in progress is a
 * ".jpc-tmp-<16 hex digits>" beside it, renamed over the entry when done. */
#define JP__MEMORY_SUFFIX ".jpc"
#define JP__MEMORY_TMP_PREFIX ".jpc-tmp-"

struct jp_memory {
	char *dir;
	int dirfd;            /* -1: the directory could not be opened ("compute") */
	bool writable;        /* entries may be stored */
	int64_t bytes_limit;  /* -1: none */
	int verbose;
	uint64_t last_stamp;  /* ns: the last-used stamps given, strictly increasing */
	jp_memory_stats stats;
	char errmsg[JP__ERRMSG_MAX];
};

/* What an entry's header says. */
typedef struct jp__memory_entry {
	jp__digest key;
	char task[256];
	uint64_t version;
	uint64_t payload_len;
	uint64_t file_len;
	uint32_t header_len;  /* where the payload starts */
	jp__digest sum;       /* XXH3-128 of the payload */
	double created;       /* unix seconds */
	double last_used;     /* unix seconds: the file's mtime */
} jp__memory_entry;

/* Whether a file name is an entry's, or a store in progress's. */
bool jp__memory_is_entry_name(const char *name);
bool jp__memory_is_temp_name(const char *name);

/* Read and check the header of entry `name` in the directory dirfd: its
 * magic, byte order, header checksum, and that the file is as long as the
 * header says (the payload's checksum is checked on use only). 0; -errno;
 * or -EBADMSG with what is wrong in `why`. */
int jp__memory_entry_read(int dirfd, const char *name, jp__memory_entry *e, char *why,
			  size_t cap);

/* A result taken from the cache: a mapping of its entry, or a copy read
 * into memory; released with the call's results. */
typedef struct jp__memory_held {
	void *base;
	size_t len;
	bool mapped;
} jp__memory_held;

void jp__memory_release(jp__memory_held *h);

/* The key of a builder's item (its task, the task's version, the digests of
 * the shared arguments and of its own) or of a map (n, and no item). */
jp__digest jp__memory_key(const char *task, uint64_t version, bool map, uint64_t n,
			  const jp__digest *shared, const jp__digest *item);

/*
 * Find the result of `key`: 1 and *data, *len (valid while *held is) on a
 * hit; 0 on a miss. An entry found corrupt or truncated is a miss: it is
 * counted, reported at verbose level and removed. A result larger than
 * map_above bytes (never, if negative) is mapped with `mode` (enum
 * jp__mmap_mode; r+ and w+ map it privately, as c, so that no write
 * reaches the cache), a smaller one read into memory.
 */
int jp__memory_lookup(jp_memory *m, const jp__digest *key, const char *task, uint64_t version,
		      int64_t map_above, int mode, jp__memory_held *held, const void **data,
		      size_t *len, int pool_verbose);

/* Store a result atomically (temporary file, fsync, rename). A failure is
 * counted and reported at verbose level, and kept in the cache's message:
 * the result itself is good, so the call does not fail. */
void jp__memory_store(jp_memory *m, const jp__digest *key, const char *task, uint64_t version,
		      const void *data, size_t len, int pool_verbose);

/* Remove the least recently used entries until the cache fits in its
 * bytes_limit. pool_verbose: the verbose level of the pool whose call
 * looks up, stores or trims, which reports as the cache's own does. */
void jp__memory_trim(jp_memory *m, int pool_verbose);

/* A line on stderr when the cache (or the pool: pool_verbose) is verbose
 * enough; also the cache's message when `keep`. */
void jp__memory_note(jp_memory *m, int level, int pool_verbose, bool keep, const char *fmt, ...)
	JP_PRINTF(5, 6);

/* ---- call_memory.c: a call's side ------------------------------------- */

/* Arguments are hashed as they are added: the shared ones into one
 * running hash, each item's into another, its digest kept once the next
 * item starts (or at the run). */
typedef struct jp__call_memo {
	jp_memory *mem;
	jp__hasher *shared;   /* the shared arguments, so far */
	jp__hasher *item;     /* the arguments of item `cur` */
	size_t cur;           /* SIZE_MAX: no item yet */
	jp__digest *items;    /* each item's digest; items[cur] once taken */
	size_t items_cap;
	jp__memory_held *held; /* results taken from the cache by the last run */
	size_t nheld, held_cap;
} jp__call_memo;

#endif
