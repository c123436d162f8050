/*
 * share.c - arrays shared with the workers through files: where the files
 * go, how they are written, how workers map them, and when they go away.
 *
 * Master's side. A pool tries temp folders in joblib's order (the
 * temp_folder option, $JOBPOOL_TEMP_FOLDER, /dev/shm when it is writable and
 * has 2 GB free, $TMPDIR, /tmp) and makes a private folder (0700) in the
 * first one that takes a file; files are 0600, created O_EXCL under
 * unguessable names. A full folder sends the dump to the next one. The
 * janitor (janitor.c) removes the folders if the master dies.
 *
 * Worker's side. A worker maps a shared array's file on first use and keeps
 * the mapping until the master says the file is gone (a RELEASE frame), so
 * a second call with the same array maps nothing and faults no page. A
 * released file kept for reuse (a spare) keeps its id and the workers keep
 * their mappings of it: the next array made in it is found mapped, page
 * tables and all.
 */
#include "pool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* joblib's rule: /dev/shm only when it has this much room. */
#define SHM_MIN_FREE (2ull << 30)

uint64_t jp__share_next_id(void)
{
	static uint64_t next_id;
	return __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
}

/* ---- the folders --------------------------------------------------------- */

static int add_candidate(jp__share_state *s, const char *dir)
{
	if (!dir || !*dir)
		return 0;
	for (size_t i = 0; i < s->ncand; i++)
		if (!strcmp(s->candidates[i], dir))
			return 0;
	char **c = realloc(s->candidates, (s->ncand + 1) * sizeof *c);
	if (!c)
		return -ENOMEM;
	s->candidates = c;
	char **f = realloc(s->folders, (s->ncand + 1) * sizeof *f);
	if (!f)
		return -ENOMEM;
	s->folders = f;
	if (!(c[s->ncand] = strdup(dir)))
		return -ENOMEM;
	f[s->ncand++] = NULL;
	return 0;
}

static bool shm_usable(void)
{
	struct statvfs st;
	return access("/dev/shm", W_OK) == 0 && statvfs("/dev/shm", &st) == 0 &&
	       (unsigned long long)st.f_bavail * st.f_frsize >= SHM_MIN_FREE;
}

int jp__share_setup(jp_pool *p)
{
	jp__share_state *s = &p->share;
	s->janitor_fd = -1;
	int err = 0;
	if (!err)
		err = add_candidate(s, p->cfg.temp_folder);
	if (!err)
		err = add_candidate(s, getenv("JOBPOOL_TEMP_FOLDER"));
	if (!err && shm_usable())
		err = add_candidate(s, "/dev/shm");
	if (!err)
		err = add_candidate(s, getenv("TMPDIR"));
	if (!err)
		err = add_candidate(s, "/tmp");
	if (!err && p->n_workers)
		err = jp__janitor_start(p);
	return err;
}

static const char *folder_of(jp_pool *p, size_t cand, char *why, size_t cap)
{
	jp__share_state *s = &p->share;
	if (s->folders[cand])
		return s->folders[cand];
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/jobpool-%d-XXXXXX", s->candidates[cand], (int)getpid()) >=
	    (int)sizeof path) {
		jp__msgf(why, cap, "%s: path too long", s->candidates[cand]);
		return NULL;
	}
	if (!mkdtemp(path)) {
		jp__msgf(why, cap, "%s: %s", s->candidates[cand], strerror(errno));
		return NULL;
	}
	/* the janitor hears of it before any file is in it */
	if (s->janitor_fd >= 0 && jp__janitor_watch(p, path)) {
		rmdir(path);
		jp__msgf(why, cap, "%s: the janitor is gone", s->candidates[cand]);
		return NULL;
	}
	if (!(s->folders[cand] = strdup(path))) {
		rmdir(path);
		jp__msgf(why, cap, "out of memory");
		return NULL;
	}
	jp__status_folders(p);
	if (p->cfg.verbose)
		fprintf(stderr, "[jobpool] shared arrays go to %s\n", path);
	return s->folders[cand];
}

const char *jp_pool_temp_folder(const jp_pool *p)
{
	if (!p)
		return NULL;
	const jp__share_state *s = &p->share;
	return s->ncand && s->folders[s->cur] ? s->folders[s->cur] : NULL;
}

/* ---- dumping ------------------------------------------------------------- */

/* Dumps this large are written by several threads, each its own part. */
#define PARALLEL_DUMP (64u << 20)
#define DUMP_THREADS 4
/* Written and hashed in pieces this large: a piece is hashed straight after
 * it is copied, from the cache the copy left it in. */
#define PIECE (1u << 20)
/* A content digest is the digest of the digests of the data's segments, so
 * that any thread can hash any segment: a dump written by several threads
 * hashes what each copies, and a check hashes in parallel. */
#define SEGMENT (16u << 20)

struct dump_part {
	int fd;          /* -1: hash only */
	const uint8_t *src;
	size_t off, len; /* segment-aligned when hashing */
	jp__digest *segs; /* NULL: no hashing; else the digest of each segment */
	int err;
};

static void *write_part(void *arg)
{
	struct dump_part *d = arg;
	jp__hasher *h = NULL;
	if (d->segs && (d->err = jp__hasher_new(&h)))
		return NULL;
	size_t done = 0, end = d->off + d->len;
	while (done < d->len) {
		size_t pos = d->off + done, n = PIECE - pos % PIECE;
		n = n < d->len - done ? n : d->len - done;
		if (d->fd >= 0) {
			ssize_t w = pwrite(d->fd, d->src + pos, n, (off_t)pos);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				d->err = w < 0 ? -errno : -EIO;
				break;
			}
			n = (size_t)w;
		}
		if (h) {
			jp__hasher_update(h, d->src + pos, n);
			if ((pos + n) % SEGMENT == 0 || pos + n == end) {
				d->segs[pos / SEGMENT] = jp__hasher_digest(h);
				jp__hasher_reset(h);
			}
		}
		done += n;
	}
	jp__hasher_free(h);
	return NULL;
}

static size_t nsegments(size_t len)
{
	return (len + SEGMENT - 1) / SEGMENT;
}

/* Write len bytes at the start of fd (fd < 0: write nothing), and with
 * segs hash each segment. Filling fresh tmpfs pages is what costs; on a VM
 * one writer sometimes runs at a third of its best speed for the whole
 * dump, while several rarely all do: measured, two threads halve the
 * median time of a 1 GiB dump on the project's 2-vCPU machine. Hashing
 * alone (16 GB/s a core) pays for a second thread from two segments. */
static int write_file(int fd, const uint8_t *src, size_t len, jp__digest *segs)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t threshold = fd >= 0 ? PARALLEL_DUMP : 2 * SEGMENT;
	int k = len < threshold || ncpu < 2 ? 1 : ncpu < DUMP_THREADS ? (int)ncpu : DUMP_THREADS;
	if (segs && (size_t)k > nsegments(len))
		k = (int)nsegments(len);
	struct dump_part parts[DUMP_THREADS];
	pthread_t th[DUMP_THREADS];
	size_t part = jp__align_up(len / (size_t)k, segs ? SEGMENT : PIECE);
	int started = 0;
	for (int i = 0; i < k; i++) {
		size_t off = (size_t)i * part;
		parts[i] = (struct dump_part){ .fd = fd, .src = src, .off = off, .segs = segs,
					       .len = off >= len ? 0 : (len - off < part ? len - off : part) };
		/* the last part runs here; a thread that cannot start too */
		if (i == k - 1 || pthread_create(&th[i], NULL, write_part, &parts[i]))
			write_part(&parts[i]);
		else
			started |= 1 << i;
	}
	int err = 0;
	for (int i = 0; i < k; i++) {
		if (started & (1 << i))
			pthread_join(th[i], NULL);
		if (!err)
			err = parts[i].err;
	}
	return err;
}

/* Write (or reserve) a file for `a` in folder `dir`; its path in `path`. */
static int dump_in(const char *dir, const jp_array *a, size_t nbytes, bool copy, jp__digest *segs,
		   char *path, size_t cap)
{
	if (snprintf(path, cap, "%s/array-XXXXXX", dir) >= (int)cap)
		return -ENAMETOOLONG;
	int fd = mkostemp(path, O_CLOEXEC); /* O_EXCL, 0600, unguessable */
	if (fd < 0)
		return -errno;
	int err;
	if (copy) {
		/* write(2), not memcpy into a fresh mapping: on tmpfs it fills new
		 * pages more than twice as fast */
		err = write_file(fd, a->data, nbytes, segs);
	} else {
		/* reserve now: a sparse file would SIGBUS a worker when full */
		err = -posix_fallocate(fd, 0, (off_t)nbytes);
	}
	close(fd);
	if (err)
		unlink(path); /* nothing half-written stays */
	return err;
}

static bool is_full(int err)
{
	return err == -ENOSPC || err == -EDQUOT || err == -EFBIG;
}

/* ---- recycling released files ------------------------------------------ */
/*
 * Writing into pages a tmpfs file already has runs at about 12 GB/s on this
 * machine, into fresh ones at 1 to 2.5: a first dump pays for page
 * allocation, not for the copy. So a released file is kept, with its pages,
 * for the next dump of about its size (Ray's object store does the same),
 * within a bound; the janitor and close remove spares with the folder.
 */
#define SPARE_MIN (1u << 20)       /* smaller files are cheap to make anew */
#define SPARE_MAX_BYTES (1ull << 30) /* memory kept for reuse, at most */
#define SPARE_MAX_FILES 16

/* Tell the workers to unmap a file that is gone (id 0: none maps it). */
static void forget_id(jp_pool *p, uint64_t id)
{
	if (id && p->n_workers)
		jp__sched_release(p, &id, 1);
}

static void drop_spare(jp_pool *p, size_t i)
{
	jp__share_state *s = &p->share;
	unlink(s->spares[i].path);
	forget_id(p, s->spares[i].id);
	free(s->spares[i].path);
	s->spare_bytes -= s->spares[i].len;
	s->spares[i] = s->spares[--s->nspares];
}

/* Keep a released file, evicting the spares released longest ago when the
 * bound is reached: the newest are the likeliest to be asked for again.
 * Its id goes with it, unless a worker may hold private pages of it. */
static bool keep_spare(jp_pool *p, jp_backing *b)
{
	jp__share_state *s = &p->share;
	if (b->len < SPARE_MIN || b->len > SPARE_MAX_BYTES)
		return false;
	while (s->nspares &&
	       (s->nspares == SPARE_MAX_FILES || s->spare_bytes + b->len > SPARE_MAX_BYTES)) {
		size_t oldest = 0;
		for (size_t i = 1; i < s->nspares; i++)
			if (s->spares[i].stamp < s->spares[oldest].stamp)
				oldest = i;
		drop_spare(p, oldest);
	}
	struct jp__spare *sp = realloc(s->spares, (s->nspares + 1) * sizeof *sp);
	if (!sp)
		return false;
	s->spares = sp;
	sp[s->nspares++] = (struct jp__spare){ .path = b->path, .len = b->len,
					       .known = b->content_known, .digest = b->digest,
					       .stamp = ++s->spare_clock,
					       .id = b->mapped_private ? 0 : b->id };
	s->spare_bytes += b->len;
	b->path = NULL; /* the spare owns it now */
	return true;
}

/* Hand spare i over: its path, cut to nbytes, and the id the workers map
 * it by (0: none). Files only shrink, so a worker's mapping of one always
 * covers what a later array in it asks for. */
static int use_spare(jp_pool *p, size_t i, size_t nbytes, char **path, uint64_t *id)
{
	jp__share_state *s = &p->share;
	struct jp__spare sp = s->spares[i];
	s->spares[i] = s->spares[--s->nspares];
	s->spare_bytes -= sp.len;
	if (sp.len > nbytes && truncate(sp.path, (off_t)nbytes) < 0) {
		int err = -errno;
		unlink(sp.path);
		forget_id(p, sp.id);
		free(sp.path);
		return err;
	}
	*path = sp.path;
	*id = sp.id;
	return 0;
}

/* Take the spare that holds nbytes without wasting more than its size
 * again, sparing those whose content may be asked for again, then the
 * smallest; 0 and its path (stale contents), or -ENOENT. */
static int take_spare(jp_pool *p, size_t nbytes, char **path, uint64_t *id)
{
	const jp__share_state *s = &p->share;
	size_t best = SIZE_MAX;
	for (size_t i = 0; nbytes >= SPARE_MIN / 2 && i < s->nspares; i++) {
		const struct jp__spare *c = &s->spares[i];
		if (c->len < nbytes || c->len / 2 > nbytes)
			continue;
		const struct jp__spare *b = best == SIZE_MAX ? NULL : &s->spares[best];
		if (!b || c->known < b->known ||
		    (c->known == b->known && (c->len < b->len || (c->len == b->len && c->stamp < b->stamp))))
			best = i;
	}
	return best == SIZE_MAX ? -ENOENT : use_spare(p, best, nbytes, path, id);
}

/* A spare of exactly nbytes known to hold bytes of that digest; with a NULL
 * digest, whether there is any spare of that size with known content. */
static ssize_t find_known_spare(const jp__share_state *s, size_t nbytes, const jp__digest *d)
{
	for (size_t i = 0; i < s->nspares; i++)
		if (s->spares[i].known && s->spares[i].len == nbytes &&
		    (!d || jp__digest_equal(&s->spares[i].digest, d)))
			return (ssize_t)i;
	return -1;
}

/* A file of ours that no backing will own: gone, and unmapped. */
static void lose_file(jp_pool *p, char *path, uint64_t id)
{
	unlink(path);
	forget_id(p, id);
	free(path);
}

/* Write a's bytes into a spare; 0, its path and id, or an error. */
static int dump_into_spare(jp_pool *p, const jp_array *a, size_t nbytes, jp__digest *segs,
			   char **path, uint64_t *id)
{
	int err = take_spare(p, nbytes, path, id);
	if (err)
		return err;
	int fd = open(*path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	err = fd < 0 ? -errno : write_file(fd, a->data, nbytes, segs);
	if (fd >= 0)
		close(fd);
	if (err)
		lose_file(p, *path, *id);
	return err;
}

/* A backing for a file of ours, entered in the pool's list; id 0: a new
 * one, else the id the workers already map the file by. */
static jp_backing *pool_backing(jp_pool *p, char *path, size_t nbytes, uint64_t id)
{
	jp_backing *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->kind = JP__BACK_POOL;
	b->path = path;
	b->len = nbytes;
	b->writable = true;
	b->pool = p;
	b->id = id ? id : jp__share_next_id();
	b->next = p->share.live;
	if (p->share.live)
		p->share.live->prev = b;
	p->share.live = b;
	return b;
}

/* A new file for a (into a spare, else into the first folder with room),
 * its segments hashed on the way with segs. */
static int dump_new(jp_pool *p, const jp_array *a, size_t nbytes, bool copy, jp__digest *segs,
		    jp_backing **out)
{
	jp__share_state *s = &p->share;
	char *spare;
	uint64_t id;
	if (copy && dump_into_spare(p, a, nbytes, segs, &spare, &id) == 0) {
		if (!(*out = pool_backing(p, spare, nbytes, id))) {
			lose_file(p, spare, id);
			return -ENOMEM;
		}
		return 0;
	}
	char path[PATH_MAX], tried[JP__ERRMSG_MAX] = "", why[256];
	size_t used = 0;
	int err = -ENOSPC;
	for (size_t cand = s->cur; cand < s->ncand; cand++) {
		const char *dir = folder_of(p, cand, why, sizeof why);
		if (dir)
			err = dump_in(dir, a, nbytes, copy, segs, path, sizeof path);
		else
			err = -EACCES;
		if (!err) {
			if (cand != s->cur && p->cfg.verbose)
				fprintf(stderr, "[jobpool] now sharing arrays from %s\n", dir);
			s->cur = cand;
			char *kept = strdup(path);
			if (!kept || !(*out = pool_backing(p, kept, nbytes, 0))) {
				free(kept);
				unlink(path);
				return -ENOMEM;
			}
			return 0;
		}
		if (dir && !is_full(err)) {
			jp__pool_set_error(p, "cannot write a shared array of %zu bytes in %s: %s", nbytes,
					   dir, jp_strerror(err));
			return err;
		}
		if (p->cfg.verbose)
			fprintf(stderr, "[jobpool] %s: no room for %zu bytes, trying the next temp folder\n",
				dir ? dir : why, nbytes);
		int n = snprintf(tried + used, sizeof tried - used, "%s%s", used ? ", " : "",
				 dir ? dir : why);
		if (n > 0 && (size_t)n < sizeof tried - used)
			used += (size_t)n;
	}
	jp__pool_set_error(p, "no temp folder has room for a shared array of %zu bytes; tried %s",
			   nbytes, used ? tried : "none");
	return is_full(err) ? -ENOSPC : err;
}

/* A dump no process writes (remember) is recognised by its bytes' digest,
 * as joblib names its dumps by hash: once released, its file waits among
 * the spares, and a later dump of equal bytes takes it without copying a
 * byte. The digest is taken while copying (free: each piece is hashed from
 * the cache the copy left it in) and, before copying, only when a spare of
 * that very size could match. Measured on the project's 2-vCPU machine: a
 * 32 MB array is hashed in 2 ms, against 6 to 8 ms to copy it. */
int jp__share_dump(jp_pool *p, const jp_array *a, bool copy, bool remember, jp_backing **out)
{
	jp__share_state *s = &p->share;
	size_t nbytes = jp_array_nbytes(a);
	if (nbytes == SIZE_MAX)
		return -EINVAL;
	jp__digest *segs = NULL, digest = { 0 };
	if (copy && remember && nbytes >= SPARE_MIN && jp__digest_enabled())
		segs = malloc(nsegments(nbytes) * sizeof *segs);
	bool known = false;
	if (segs && find_known_spare(s, nbytes, NULL) >= 0 &&
	    write_file(-1, a->data, nbytes, segs) == 0) {
		digest = jp__digest_combine(segs, nsegments(nbytes), nbytes);
		known = true;
		ssize_t i = find_known_spare(s, nbytes, &digest);
		char *path;
		uint64_t id;
		if (i >= 0 && use_spare(p, (size_t)i, nbytes, &path, &id) == 0) {
			free(segs);
			if (!(*out = pool_backing(p, path, nbytes, id))) {
				lose_file(p, path, id);
				return -ENOMEM;
			}
			(*out)->content_known = true;
			(*out)->digest = digest;
			s->dumps_recognised++;
			jp__status_array(p, *out, a);
			return 0;
		}
	}
	int err = dump_new(p, a, nbytes, copy, known ? NULL : segs, out);
	if (!err && segs) {
		(*out)->content_known = true;
		(*out)->digest = known ? digest : jp__digest_combine(segs, nsegments(nbytes), nbytes);
	}
	if (!err)
		jp__status_array(p, *out, a);
	free(segs);
	return err;
}

void jp__share_ref(jp_backing *b, uint32_t mode, jp__shared_ref *ref)
{
	if (mode == JP__MMAP_C)
		b->mapped_private = true;
	ref->id = b->id;
	ref->offset = b->offset;
	ref->file_len = b->len; /* the whole file is mapped: offset is inside */
	ref->mode = mode;
	ref->path = b->path;
}

void jp__share_release(jp_backing *b)
{
	jp_pool *p = b->pool;
	if (p) {
		bool kept = keep_spare(p, b);
		if (!kept)
			unlink(b->path);
		if (!kept || b->mapped_private)
			forget_id(p, b->id);
		if (b->prev)
			b->prev->next = b->next;
		else
			p->share.live = b->next;
		if (b->next)
			b->next->prev = b->prev;
		jp__status_array_gone(p, b);
	}
	if (b->base)
		munmap(b->base, b->len);
	free(b->path);
	free(b);
}

void jp__share_teardown(jp_pool *p)
{
	jp__share_state *s = &p->share;
	/* a forked child holding a copy of the pool frees its copy; the
	 * folders and the janitor are its parent's */
	bool mine = p->owner == getpid();
	if (!mine)
		s->janitor = 0;
	/* arrays outlive their pool: their mappings here stay valid, their
	 * files go with the folders */
	for (jp_backing *b = s->live, *next; b; b = next) {
		next = b->next;
		b->pool = NULL;
		b->next = b->prev = NULL;
	}
	s->live = NULL;
	for (size_t i = 0; i < s->nspares; i++)
		free(s->spares[i].path); /* their files go with the folders */
	free(s->spares);
	s->spares = NULL;
	s->nspares = s->spare_bytes = 0;
	for (size_t i = 0; i < s->ncand; i++) {
		if (s->folders[i] && mine)
			jp__remove_folder(s->folders[i]);
		free(s->folders[i]);
		free(s->candidates[i]);
	}
	free(s->folders);
	free(s->candidates);
	s->folders = s->candidates = NULL;
	s->ncand = 0;
	jp__janitor_stop(p);
}

/* ---- arrays made in shared memory ----------------------------------------- */

static int alloc_heap(jp_array *out, size_t nbytes)
{
	jp_backing *b = calloc(1, sizeof *b);
	void *data = NULL;
	if (!b || posix_memalign(&data, 64, nbytes ? nbytes : 64)) {
		free(b);
		return -ENOMEM;
	}
	memset(data, 0, nbytes);
	b->kind = JP__BACK_HEAP;
	b->base = data;
	b->len = nbytes;
	out->data = data;
	out->backing = b;
	return 0;
}

/* Map a pool file into the master, read-write and shared. */
static int map_here(jp_backing *b)
{
	int fd = open(b->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	void *base = jp__fault(JP__FAULT_MMAP)
			     ? (errno = ENOMEM, MAP_FAILED)
			     : mmap(NULL, b->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int err = base == MAP_FAILED ? -errno : 0;
	close(fd);
	if (!err)
		b->base = base;
	return err;
}

/* A shared array like `like`: its bytes copied (copy), zeroed (zero), or
 * left as they are, for an output the workers overwrite whole. */
static int make_shared(jp_pool *p, const char *who, const jp_array *like, bool copy, bool zero,
		       jp_array *out)
{
	if (!p)
		return -EINVAL;
	char why[64];
	if (!out || jp__array_check(like, why, sizeof why)) {
		jp__pool_set_error(p, "%s: %s", who, !out ? "the output array is NULL" : why);
		return -EINVAL;
	}
	size_t nbytes = jp_array_nbytes(like);
	if (copy && nbytes && !like->data) {
		jp__pool_set_error(p, "%s: src has %zu bytes but its data is NULL", who, nbytes);
		return -EINVAL;
	}
	jp_array a = *like;
	a.flags &= JP_ARRAY_FORTRAN;
	a.backing = NULL;
	int err;
	if (!p->n_workers || nbytes == 0) {
		/* no other process to share with: plain memory */
		if ((err = alloc_heap(&a, nbytes)))
			return err;
		if (copy && nbytes)
			memcpy(a.data, like->data, nbytes);
		*out = a;
		return 0;
	}
	jp_backing *b = NULL;
	char *spare;
	uint64_t id;
	bool recycled = !copy && take_spare(p, nbytes, &spare, &id) == 0;
	if (recycled && !(b = pool_backing(p, spare, nbytes, id))) {
		lose_file(p, spare, id);
		return -ENOMEM;
	}
	if (!recycled && (err = jp__share_dump(p, like, copy, false, &b)))
		return err;
	if (recycled)
		jp__status_array(p, b, like);
	if ((err = map_here(b))) {
		jp__pool_set_error(p, "cannot map %s: %s", b->path, jp_strerror(err));
		jp__share_release(b);
		return err;
	}
	if (recycled && zero)
		memset(b->base, 0, nbytes); /* pages that exist: fast */
	a.data = b->base;
	a.flags |= JP_ARRAY_SHARED;
	a.backing = b;
	*out = a;
	return 0;
}

int jp_array_alloc_shared(jp_pool *p, jp_dtype dtype, int ndim, const size_t *shape,
			  jp_array *out)
{
	char why[64] = "";
	if (ndim < 0 || ndim > JP_MAX_NDIM)
		jp__msgf(why, sizeof why, "ndim %d is not in [0, %d]", ndim, JP_MAX_NDIM);
	else if (ndim && !shape)
		jp__msgf(why, sizeof why, "shape is NULL for ndim %d", ndim);
	if (why[0]) {
		if (p)
			jp__pool_set_error(p, "jp_array_alloc_shared: %s", why);
		return -EINVAL;
	}
	jp_array like = { .dtype = dtype, .ndim = ndim };
	for (int i = 0; i < ndim; i++)
		like.shape[i] = shape[i];
	return make_shared(p, "jp_array_alloc_shared", &like, false, true, out);
}

int jp__share_alloc_output(jp_pool *p, jp_dtype dtype, size_t rows, size_t cols, jp_array *out)
{
	jp_array like = { .dtype = dtype, .ndim = 2, .shape = { rows, cols } };
	return make_shared(p, "jp_matmul", &like, false, false, out);
}

int jp_share(jp_pool *p, const jp_array *src, jp_array *out)
{
	if (!src) {
		if (p)
			jp__pool_set_error(p, "jp_share: src is NULL");
		return -EINVAL;
	}
	return make_shared(p, "jp_share", src, true, false, out);
}

/* ---- the worker's mappings ------------------------------------------------- */

int jp__map_shared(jp__mapcache *mc, const jp__shared_ref *ref, void **data, bool *readonly,
		   char *err, size_t errlen)
{
	for (size_t i = 0; i < mc->n; i++)
		if (mc->m[i].id == ref->id && mc->m[i].mode == ref->mode) {
			*data = (uint8_t *)mc->m[i].base + ref->offset;
			*readonly = mc->m[i].readonly;
			return 0;
		}
	if (ref->file_len == 0) {
		*data = NULL;
		*readonly = ref->mode == JP__MMAP_R;
		return 0;
	}
	if (mc->n == mc->cap) {
		size_t cap = mc->cap ? mc->cap * 2 : 8;
		jp__mapping *m = realloc(mc->m, cap * sizeof *m);
		if (!m)
			return -ENOMEM;
		mc->m = m;
		mc->cap = cap;
	}
	bool rw = ref->mode == JP__MMAP_RPLUS || ref->mode == JP__MMAP_WPLUS;
	int fd = open(ref->path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		int e = -errno;
		jp__msgf(err, errlen, "cannot open shared array %s: %s", ref->path, strerror(-e));
		return e;
	}
	int prot = ref->mode == JP__MMAP_R ? PROT_READ : PROT_READ | PROT_WRITE;
	int flags = ref->mode == JP__MMAP_C ? MAP_PRIVATE : MAP_SHARED;
	void *base = mmap(NULL, ref->file_len, prot, flags, fd, 0);
	int e = base == MAP_FAILED ? -errno : 0;
	close(fd);
	if (e) {
		jp__msgf(err, errlen, "cannot map shared array %s: %s", ref->path, strerror(-e));
		return e;
	}
	mc->m[mc->n++] = (jp__mapping){ .id = ref->id, .mode = ref->mode, .base = base,
					.len = ref->file_len, .readonly = ref->mode == JP__MMAP_R };
	*data = (uint8_t *)base + ref->offset;
	*readonly = ref->mode == JP__MMAP_R;
	return 0;
}

void jp__unmap_shared(jp__mapcache *mc, uint64_t id)
{
	for (size_t i = 0; i < mc->n;)
		if (mc->m[i].id == id) {
			munmap(mc->m[i].base, mc->m[i].len);
			mc->m[i] = mc->m[--mc->n];
		} else {
			i++;
		}
}

const jp__mapping *jp__mapcache_find_readonly(const jp__mapcache *mc, const void *addr)
{
	const uint8_t *a = addr;
	for (size_t i = 0; i < mc->n; i++) {
		const uint8_t *base = mc->m[i].base;
		if (mc->m[i].readonly && a >= base && a < base + mc->m[i].len)
			return &mc->m[i];
	}
	return NULL;
}

void jp__mapcache_free(jp__mapcache *mc)
{
	for (size_t i = 0; i < mc->n; i++)
		munmap(mc->m[i].base, mc->m[i].len);
	free(mc->m);
	*mc = (jp__mapcache){ 0 };
}
