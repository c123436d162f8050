/*
 * memory.c - the result cache on disk (joblib's Memory): a directory of
 * entry files, one per result, each named by its key.
 *
 * An entry is a header and the result's bytes (its payload):
 *
 *   0   magic "JPMEMORY"
 *   8   u32 format (1)          12  u32 0x01020304 as written (byte order)
 *   16  u32 header length (the payload's offset, a multiple of 64)
 *   20  u32 task name length    24  u64 payload length
 *   32  u64 task version        40  u64 key lo, 48 key hi
 *   56  u64 payload XXH3-128 lo, 64 hi
 *   72  u64 created (unix ns)   80  u64 XXH3 of bytes [0, 80) and the name
 *   88  task name, then zeros up to the header length
 *
 * in this host's byte order (the payload is native bytes anyway). The
 * header's own checksum catches a flipped bit in the key or the lengths,
 * the file's size a truncation, the payload's checksum the rest.
 *
 * An entry is written whole under a temporary name, fsynced, then renamed
 * over its final name: a reader sees no entry or a complete one, and two
 * processes storing one key each rename a complete file (the last wins;
 * both are correct). The directory is not fsynced: a crash may lose a
 * rename, which loses an entry, never corrupts one. The file's mtime is
 * the entry's last use, stamped at store and at each hit: eviction removes
 * the oldest first.
 */
#define _GNU_SOURCE /* MAP_POPULATE */
#include "memory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "JPMEMORY"
#define FORMAT 1
#define BYTE_ORDER_MARK 0x01020304u
#define FIXED_LEN 88
/* the longest header: the fixed part and a 255-byte name, to 64 bytes */
#define HEADER_MAX 384

static _Thread_local char open_errmsg[JP__ERRMSG_MAX];

const char *jp_memory_errmsg(const jp_memory *m)
{
	return m ? m->errmsg : open_errmsg;
}

void jp__memory_note(jp_memory *m, int level, int pool_verbose, bool keep, const char *fmt, ...)
{
	char msg[JP__ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	jp__vmsgf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (keep)
		jp__msgf(m->errmsg, sizeof m->errmsg, "%s", msg);
	if (m->verbose >= level || pool_verbose >= level)
		fprintf(stderr, "[jobpool] cache %s: %s\n", m->dir, msg);
}

/* ---- names ------------------------------------------------------------- */

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool jp__memory_is_entry_name(const char *name)
{
	return strlen(name) == 32 + strlen(JP__MEMORY_SUFFIX) && all_hex(name, 32) &&
	       !strcmp(name + 32, JP__MEMORY_SUFFIX);
}

bool jp__memory_is_temp_name(const char *name)
{
	size_t p = strlen(JP__MEMORY_TMP_PREFIX);
	return !strncmp(name, JP__MEMORY_TMP_PREFIX, p) && strlen(name) == p + 16 &&
	       all_hex(name + p, 16);
}

static void entry_name(const jp__digest *key, char name[40])
{
	snprintf(name, 40, "%016llx%016llx" JP__MEMORY_SUFFIX, (unsigned long long)key->hi,
		 (unsigned long long)key->lo);
}

/* ---- keys -------------------------------------------------------------- */

jp__digest jp__memory_key(const char *task, uint64_t version, bool map, uint64_t n,
			  const jp__digest *shared, const jp__digest *item)
{
	/* fixed-size fields first, then the name: no two inputs run together.
	 * One buffer on the stack: a key cannot fail for want of memory. */
	struct key_fields {
		char domain[16];
		uint64_t version, map, n;
		jp__digest shared, item;
	} k = { .domain = "jobpool memo 1", .version = version, .map = map, .n = n,
		.shared = *shared, .item = item ? *item : (jp__digest){ 0 } };
	uint8_t buf[sizeof k + JP__MAX_TASK_NAME];
	size_t len = strnlen(task, JP__MAX_TASK_NAME);
	memcpy(buf, &k, sizeof k);
	memcpy(buf + sizeof k, task, len);
	return jp__digest_of(buf, sizeof k + len);
}

/* ---- the header ---------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* The fields before the checksum and the name: bytes [80, 88) are the
 * checksum itself. */
static uint64_t header_sum(const uint8_t *h, uint32_t name_len)
{
	uint8_t buf[80 + 255];
	memcpy(buf, h, 80);
	memcpy(buf + 80, h + FIXED_LEN, name_len);
	return jp__digest_of(buf, 80 + name_len).lo;
}

/* Encode a header into h (HEADER_MAX bytes); its length. */
static uint32_t encode_header(uint8_t *h, const jp__digest *key, const char *task,
			      uint64_t version, uint64_t payload_len, const jp__digest *sum)
{
	uint32_t name_len = (uint32_t)strlen(task);
	uint32_t len = (uint32_t)jp__align_up(FIXED_LEN + name_len, 64);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	memset(h, 0, HEADER_MAX);
	memcpy(h, MAGIC, 8);
	put32(h + 8, FORMAT);
	put32(h + 12, BYTE_ORDER_MARK);
	put32(h + 16, len);
	put32(h + 20, name_len);
	put64(h + 24, payload_len);
	put64(h + 32, version);
	put64(h + 40, key->lo);
	put64(h + 48, key->hi);
	put64(h + 56, sum->lo);
	put64(h + 64, sum->hi);
	put64(h + 72, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
	memcpy(h + FIXED_LEN, task, name_len);
	put64(h + 80, header_sum(h, name_len));
	return len;
}

/* Check a header read from a file of file_len bytes (`have` of them read
 * into h). 0, or -EBADMSG with why. */
static int decode_header(const uint8_t *h, size_t have, uint64_t file_len, jp__memory_entry *e,
			 char *why, size_t cap)
{
	if (have < FIXED_LEN || memcmp(h, MAGIC, 8)) {
		jp__msgf(why, cap, "not a cache entry (bad magic, or %zu bytes)", have);
		return -EBADMSG;
	}
	if (get32(h + 8) != FORMAT || get32(h + 12) != BYTE_ORDER_MARK) {
		jp__msgf(why, cap, "format %u or byte order 0x%08x of another build", get32(h + 8),
			 get32(h + 12));
		return -EBADMSG;
	}
	uint32_t len = get32(h + 16), name_len = get32(h + 20);
	if (name_len == 0 || name_len > 255 || len != jp__align_up(FIXED_LEN + name_len, 64) ||
	    len > have) {
		jp__msgf(why, cap, "header length %u or name length %u out of range", len, name_len);
		return -EBADMSG;
	}
	if (get64(h + 80) != header_sum(h, name_len)) {
		jp__msgf(why, cap, "header checksum mismatch");
		return -EBADMSG;
	}
	e->header_len = len;
	e->payload_len = get64(h + 24);
	e->version = get64(h + 32);
	e->key = (jp__digest){ .lo = get64(h + 40), .hi = get64(h + 48) };
	e->sum = (jp__digest){ .lo = get64(h + 56), .hi = get64(h + 64) };
	e->created = (double)get64(h + 72) * 1e-9;
	memcpy(e->task, h + FIXED_LEN, name_len);
	e->task[name_len] = '\0';
	e->file_len = file_len;
	if (e->payload_len > UINT64_MAX - len || file_len != len + e->payload_len) {
		jp__msgf(why, cap, "truncated: %llu bytes, the header says %llu",
			 (unsigned long long)file_len, (unsigned long long)(len + e->payload_len));
		return -EBADMSG;
	}
	return 0;
}

static int pread_all(int fd, void *p, size_t n, off_t off, size_t *got)
{
	uint8_t *b = p;
	*got = 0;
	while (*got < n) {
		size_t want = n - *got < ((size_t)1 << 30) ? n - *got : (size_t)1 << 30;
		ssize_t r = pread(fd, b + *got, want, off + (off_t)*got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n < ((size_t)1 << 30) ? n : (size_t)1 << 30);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static double mtime_of(const struct stat *st)
{
	return (double)st->st_mtim.tv_sec + (double)st->st_mtim.tv_nsec * 1e-9;
}

/* The header of an open entry file. */
static int read_header(int fd, jp__memory_entry *e, char *why, size_t cap)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		jp__msgf(why, cap, "not a regular file");
		return -EBADMSG;
	}
	uint8_t h[HEADER_MAX];
	size_t got;
	int err = pread_all(fd, h, sizeof h, 0, &got);
	if (err)
		return err;
	e->last_used = mtime_of(&st);
	return decode_header(h, got, (uint64_t)st.st_size, e, why, cap);
}

int jp__memory_entry_read(int dirfd, const char *name, jp__memory_entry *e, char *why, size_t cap)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	int err = read_header(fd, e, why, cap);
	close(fd);
	return err;
}

/* ---- last use ------------------------------------------------------------- */

/* A stamp later than any this cache gave: entries used in one call, within
 * one clock tick, still have an order. */
static struct timespec next_stamp(jp_memory *m)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	if (ns <= m->last_stamp)
		ns = m->last_stamp + 1;
	m->last_stamp = ns;
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u) };
}

static void stamp_used(jp_memory *m, int fd)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, next_stamp(m) };
	/* fails on a cache of another user's: its order is then theirs */
	(void)futimens(fd, ts);
}

/* ---- lookups ------------------------------------------------------------- */

void jp__memory_release(jp__memory_held *h)
{
	if (!h->base)
		return;
	if (h->mapped)
		munmap(h->base, h->len);
	else
		free(h->base);
	h->base = NULL;
}

/* A corrupt entry: reported, and removed unless a writer replaced it
 * meanwhile (then the file named is another, complete one). */
static void drop_corrupt(jp_memory *m, int fd, const char *name, const char *task, const char *why,
			 int pool_verbose)
{
	m->stats.corrupt++;
	jp__memory_note(m, 1, pool_verbose, false, "entry %s (task \"%s\") is corrupt: %s; computing it again",
			name, task, why);
	struct stat a, b;
	if (m->writable && fstat(fd, &a) == 0 && fstatat(m->dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		(void)unlinkat(m->dirfd, name, 0);
}

int jp__memory_lookup(jp_memory *m, const jp__digest *key, const char *task, uint64_t version,
		      int64_t map_above, int mode, jp__memory_held *held, const void **data,
		      size_t *len, int pool_verbose)
{
	*held = (jp__memory_held){ 0 };
	if (m->dirfd < 0)
		return 0;
	char name[40], why[256];
	entry_name(key, name);
	int fd = openat(m->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0; /* ENOENT: a miss; anything else is one too */
	jp__memory_entry e;
	int err = read_header(fd, &e, why, sizeof why);
	if (!err && (!jp__digest_equal(&e.key, key) || strcmp(e.task, task) || e.version != version)) {
		jp__msgf(why, sizeof why, "its header names task \"%s\" version %llu under another key",
			 e.task, (unsigned long long)e.version);
		err = -EBADMSG;
	}
	if (!err && e.payload_len > SIZE_MAX - e.header_len)
		err = -EFBIG;
	void *base = NULL;
	size_t base_len = 0;
	const uint8_t *payload = NULL;
	bool mapped = false;
	if (!err && map_above >= 0 && e.payload_len > (uint64_t)map_above) {
		base_len = (size_t)e.file_len;
		/* the payload is hashed at once: populate rather than fault page
		 * by page. r+ and w+ would write through to the entry: private */
		int prot = mode == JP__MMAP_R ? PROT_READ : PROT_READ | PROT_WRITE;
		int flags = mode == JP__MMAP_R ? MAP_SHARED : MAP_PRIVATE;
		base = mmap(NULL, base_len, prot, flags | MAP_POPULATE, fd, 0);
		if (base == MAP_FAILED) {
			base = NULL;
			err = -errno;
		} else {
			mapped = true;
			payload = (const uint8_t *)base + e.header_len;
		}
	} else if (!err) {
		base_len = (size_t)e.payload_len;
		if (posix_memalign(&base, 64, base_len ? base_len : 1)) {
			base = NULL;
			err = -ENOMEM;
		} else {
			size_t got;
			err = pread_all(fd, base, base_len, (off_t)e.header_len, &got);
			if (!err && got != base_len) {
				jp__msgf(why, sizeof why, "truncated while read");
				err = -EBADMSG;
			}
			payload = base;
		}
	}
	if (!err) {
		jp__digest sum = jp__digest_of(payload, (size_t)e.payload_len);
		if (!jp__digest_equal(&sum, &e.sum)) {
			jp__msgf(why, sizeof why, "payload checksum mismatch");
			err = -EBADMSG;
		}
	}
	if (err) {
		if (base)
			jp__memory_release(&(jp__memory_held){ .base = base, .len = base_len, .mapped = mapped });
		if (err == -EBADMSG)
			drop_corrupt(m, fd, name, task, why, pool_verbose);
		else
			jp__memory_note(m, 1, pool_verbose, true, "entry %s (task \"%s\") unreadable: %s; computing it again",
					name, task, jp_strerror(err));
		close(fd);
		return 0;
	}
	if (m->writable)
		stamp_used(m, fd);
	close(fd);
	*held = (jp__memory_held){ .base = base, .len = base_len, .mapped = mapped };
	*data = payload;
	*len = (size_t)e.payload_len;
	return 1;
}

/* ---- stores ----------------------------------------------------------------- */

/* A new temporary file in the cache's directory, under an unguessable name. */
static int make_temp(jp_memory *m, char name[64])
{
	for (int tries = 0; tries < 100; tries++) {
		uint64_t r;
		if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			r = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)getpid() << 32 ^ (uint64_t)tries;
		}
		snprintf(name, 64, JP__MEMORY_TMP_PREFIX "%016llx", (unsigned long long)r);
		int fd = openat(m->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
	}
	return -EEXIST;
}

void jp__memory_store(jp_memory *m, const jp__digest *key, const char *task, uint64_t version,
		      const void *data, size_t len, int pool_verbose)
{
	if (!m->writable)
		return;
	char name[40], tmp[64];
	entry_name(key, name);
	uint8_t h[HEADER_MAX];
	jp__digest sum = jp__digest_of(data, len);
	uint32_t hlen = encode_header(h, key, task, version, len, &sum);
	if (m->bytes_limit >= 0 && (uint64_t)hlen + len > (uint64_t)m->bytes_limit) {
		jp__memory_note(m, 1, pool_verbose, false, "a result of task \"%s\" (%zu bytes) is larger than bytes_limit: not stored",
				task, len);
		return;
	}
	int fd = make_temp(m, tmp);
	int err = fd < 0 ? fd : 0;
	const char *step = "creating a temporary file";
	if (!err && (err = write_all(fd, h, hlen)) == 0 && (err = write_all(fd, data, len)) == 0) {
		/* the bytes reach the disk before the name does: after a crash
		 * the entry is whole or absent */
		step = "fsync";
		if (fsync(fd) < 0)
			err = -errno;
	} else if (!err) {
		step = "writing";
	}
	if (!err) {
		struct timespec now = next_stamp(m), ts[2] = { now, now };
		(void)futimens(fd, ts);
		step = "renaming";
		if (renameat(m->dirfd, tmp, m->dirfd, name) < 0)
			err = -errno;
	}
	if (fd >= 0)
		close(fd);
	if (err) {
		if (fd >= 0)
			(void)unlinkat(m->dirfd, tmp, 0);
		m->stats.store_failures++;
		jp__memory_note(m, 1, pool_verbose, true, "storing a result of task \"%s\" (%zu bytes): %s: %s", task, len,
				step, jp_strerror(err));
		return;
	}
	m->stats.stored++;
}

/* ---- the directory as a whole ---------------------------------------------- */

struct listed {
	char name[40];
	uint64_t size;
	struct timespec used;
};

static int cmp_used(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;
	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Call fn on each entry (and, with temps, each leftover temporary file) of
 * the directory; stops at fn's nonzero return. */
static int each_file(jp_memory *m, bool temps, int (*fn)(jp_memory *, const char *, void *), void *ctx)
{
	int fd = openat(m->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int err = -errno;
		close(fd);
		return err;
	}
	int rc = 0;
	struct dirent *de;
	while (!rc && (de = readdir(d)))
		if (jp__memory_is_entry_name(de->d_name) || (temps && jp__memory_is_temp_name(de->d_name)))
			rc = fn(m, de->d_name, ctx);
	closedir(d);
	return rc;
}

struct listing {
	struct listed *v;
	size_t n, cap;
	uint64_t total;
};

static int list_one(jp_memory *m, const char *name, void *ctx)
{
	struct listing *l = ctx;
	struct stat st;
	if (fstatat(m->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return 0; /* gone meanwhile: another process's eviction */
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct listed *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	struct listed *e = &l->v[l->n++];
	snprintf(e->name, sizeof e->name, "%s", name);
	e->size = (uint64_t)st.st_size;
	e->used = st.st_mtim;
	l->total += e->size;
	return 0;
}

void jp__memory_trim(jp_memory *m, int pool_verbose)
{
	if (m->bytes_limit < 0 || !m->writable)
		return;
	struct listing l = { 0 };
	int err = each_file(m, false, list_one, &l);
	if (err)
		jp__memory_note(m, 1, pool_verbose, true, "listing entries to evict: %s", jp_strerror(err));
	if (!err && l.total > (uint64_t)m->bytes_limit) {
		qsort(l.v, l.n, sizeof *l.v, cmp_used);
		for (size_t i = 0; i < l.n && l.total > (uint64_t)m->bytes_limit; i++) {
			if (unlinkat(m->dirfd, l.v[i].name, 0) < 0 && errno != ENOENT)
				continue;
			l.total -= l.v[i].size;
			m->stats.evicted++;
			jp__memory_note(m, 1, pool_verbose, false, "evicted %s (%llu bytes): least recently used",
					l.v[i].name, (unsigned long long)l.v[i].size);
		}
	}
	free(l.v);
}

static int remove_one(jp_memory *m, const char *name, void *ctx)
{
	const char *task = ctx;
	if (task) {
		jp__memory_entry e;
		char why[256];
		/* a corrupt entry names no task for sure: left to jp_memory_clear */
		if (jp__memory_entry_read(m->dirfd, name, &e, why, sizeof why) || strcmp(e.task, task))
			return 0;
	}
	if (unlinkat(m->dirfd, name, 0) < 0 && errno != ENOENT) {
		int err = -errno;
		jp__memory_note(m, 1, 0, true, "removing %s: %s", name, jp_strerror(err));
		return err;
	}
	return 0;
}

int jp_memory_clear(jp_memory *m)
{
	if (!m)
		return -EINVAL;
	return m->dirfd < 0 ? 0 : each_file(m, true, remove_one, NULL);
}

int jp_memory_clear_task(jp_memory *m, const char *task)
{
	if (!m || !task)
		return -EINVAL;
	return m->dirfd < 0 ? 0 : each_file(m, false, remove_one, (void *)task);
}

int jp_memory_stats_get(const jp_memory *m, jp_memory_stats *stats)
{
	if (!m || !stats)
		return -EINVAL;
	*stats = m->stats;
	return 0;
}

/* ---- open and close ---------------------------------------------------------- */

/* mkdir -p, each new folder 0700; the failing step's code. */
static int make_dirs(const char *dir, const char **step)
{
	char *p = strdup(dir);
	if (!p)
		return -ENOMEM;
	int err = 0;
	for (char *s = p + 1; !err; s++) {
		bool end = *s == '\0';
		if (*s != '/' && !end)
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			err = -errno;
			*step = "cannot create it";
		}
		if (end)
			break;
		*s = '/';
	}
	free(p);
	return err;
}

/* Whether a file can be made in the directory: the test that holds for
 * root, read-only mounts and full disks alike, as access(2) does not. */
static int probe_write(jp_memory *m)
{
	char tmp[64];
	int fd = make_temp(m, tmp);
	if (fd < 0)
		return fd;
	close(fd);
	(void)unlinkat(m->dirfd, tmp, 0);
	return 0;
}

static int parse_options(const jp_memory_options *o, int64_t *limit, bool *compute)
{
	*limit = -1;
	if (o->bytes_limit && strcmp(o->bytes_limit, "none") && jp__parse_bytes(o->bytes_limit, limit)) {
		jp__msgf(open_errmsg, sizeof open_errmsg,
			 "bytes_limit \"%s\": expected a byte count such as \"1G\", \"512M\" or \"none\"",
			 o->bytes_limit);
		return JP_EOPTION;
	}
	const char *u = o->on_unwritable ? o->on_unwritable : "fail";
	if (strcmp(u, "fail") && strcmp(u, "compute")) {
		jp__msgf(open_errmsg, sizeof open_errmsg, "on_unwritable \"%s\": expected \"fail\" or \"compute\"", u);
		return JP_EOPTION;
	}
	*compute = !strcmp(u, "compute");
	return 0;
}

int jp_memory_open(jp_memory **out, const char *dir, const jp_memory_options *options)
{
	jp_memory_options defaults = JP_MEMORY_OPTIONS_INIT;
	const jp_memory_options *o = options ? options : &defaults;
	open_errmsg[0] = '\0';
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!dir || !*dir) {
		jp__msgf(open_errmsg, sizeof open_errmsg, "cache directory: expected a path, not %s",
			 dir ? "\"\"" : "NULL");
		return -EINVAL;
	}
	if (!jp__digest_enabled()) {
		jp__msgf(open_errmsg, sizeof open_errmsg,
			 "cache directory \"%s\": this build has no xxHash, which keys the cache", dir);
		return JP_ENOTSUP;
	}
	int64_t limit;
	bool compute;
	int err = parse_options(o, &limit, &compute);
	if (err)
		return err;
	jp_memory *m = calloc(1, sizeof *m);
	if (!m || !(m->dir = strdup(dir))) {
		free(m);
		return -ENOMEM;
	}
	m->dirfd = -1;
	m->bytes_limit = limit;
	m->verbose = o->verbose;
	const char *step = "cannot create it";
	err = make_dirs(dir, &step);
	if (!err && (m->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		err = -errno;
		step = "cannot open it";
	}
	if (!err && (err = probe_write(m)) != 0)
		step = "cannot write in it";
	m->writable = !err;
	if (err) {
		jp__msgf(open_errmsg, sizeof open_errmsg, "cache directory \"%s\": %s: %s%s", dir, step,
			 jp_strerror(err), compute ? "; results will be computed and not stored" : "");
		if (!compute) {
			jp_memory_close(m);
			return err;
		}
		/* on_unwritable "compute": a directory that opened still serves
		 * the entries it has */
		jp__memory_note(m, 1, 0, true, "%s", open_errmsg);
	}
	jp__memory_trim(m, 0);
	*out = m;
	return 0;
}

void jp_memory_close(jp_memory *m)
{
	if (!m)
		return;
	if (m->dirfd >= 0)
		close(m->dirfd);
	free(m->dir);
	free(m);
}
