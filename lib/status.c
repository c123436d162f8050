/*
 * status.c - the status page: what jobpool-inspect reads (layout and
 * rationale in status.h and doc/design.md).
 *
 * Writer's side. The page is made at open, in a folder of this user's,
 * reserved whole (a full tmpfs fails now, not with SIGBUS at a later
 * store), mapped, and closed; from then on publishing is stores into the
 * mapping under a seqlock: no system call, no allocation. The janitor is
 * told of the page, so a master that dies leaves none; sequential pools
 * have no janitor, `jobpool-inspect clean` removes theirs.
 *
 * Reader's side. A page is checked (ours, a regular file, a known layout)
 * and copied section by section; the copy never writes to the page.
 */
#include "pool.h"
#include "status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct jp__status {
	char *dir, *path;    /* the folder and the page */
	void *base;
	size_t len;
	jp__page_head *head;
	jp__page_pool *pool;
	jp__page_shared *shared;
	jp__page_worker *workers;
	uint32_t nworkers;
};

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

/* ---- where pages live ------------------------------------------------------ */

int jp__status_dir(char *buf, size_t cap)
{
	const char *env = getenv("JOBPOOL_STATUS_DIR");
	struct stat st;
	int n;
	if (env && *env)
		n = snprintf(buf, cap, "%s", env);
	else if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode))
		n = snprintf(buf, cap, "/dev/shm/jobpool-status-%u", (unsigned)geteuid());
	else
		n = snprintf(buf, cap, "/tmp/jobpool-status-%u", (unsigned)geteuid());
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* The folder, made if missing; refused unless it is a folder of ours that
 * nobody else may write to (a name in a world-writable place may have been
 * taken first by someone else). An fd, or -errno. */
static int open_dir(const char *dir, bool create)
{
	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* ---- /proc ------------------------------------------------------------------ */

int jp__proc_stat_read(int pid, jp__proc_stat *out)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n;
	do
		n = read(fd, buf, sizeof buf - 1);
	while (n < 0 && errno == EINTR);
	int err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	/* pid (comm) state ppid ...: comm may hold spaces and parentheses */
	char *lp = strchr(buf, '('), *rp = strrchr(buf, ')');
	if (!lp || !rp || rp < lp)
		return -EPROTO;
	*out = (jp__proc_stat){ 0 };
	size_t clen = (size_t)(rp - lp - 1);
	memcpy(out->comm, lp + 1, clen < sizeof out->comm ? clen : sizeof out->comm - 1);
	unsigned long long f[22] = { 0 }; /* fields 4 to 25 */
	char *s = rp + 2, *end;
	if (!*s || !rp[1])
		return -EPROTO;
	out->state = *s++;
	for (int i = 0; i < 22; i++) {
		f[i] = strtoull(s, &end, 10);
		if (end == s)
			return -EPROTO;
		s = end;
	}
	out->ppid = (int)f[0];
	out->utime = f[10];        /* field 14 */
	out->stime = f[11];        /* field 15 */
	out->start_ticks = f[18];  /* field 22 */
	out->rss_pages = f[20];    /* field 24 */
	return 0;
}

int jp__status_master_alive(const jp__page_head *h)
{
	if (h->pid <= 0)
		return 0;
	if (kill(h->pid, 0) < 0 && errno == ESRCH)
		return 0;
	jp__proc_stat st;
	int err = jp__proc_stat_read(h->pid, &st);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	/* the PID was taken again by another process: the master is gone */
	if (h->start_ticks && st.start_ticks != h->start_ticks)
		return 0;
	return st.state == 'Z' || st.state == 'X' ? 0 : 1;
}

/* ---- the writer --------------------------------------------------------------- */

static bool status_disabled(void)
{
	const char *e = getenv("JOBPOOL_STATUS");
	return e && (!strcmp(e, "0") || !strcmp(e, "off") || !strcmp(e, "no") ||
		     !strcmp(e, "false"));
}

static uint64_t next_pool_id;

static uint64_t new_pool_id(void)
{
	return __atomic_add_fetch(&next_pool_id, 1, __ATOMIC_RELAXED);
}

/* Make and map the page; its descriptors closed. 0 or -errno. */
static int make_page(struct jp__status *st, jp_pool *p, size_t len)
{
	char dir[PATH_MAX], path[PATH_MAX];
	int err = jp__status_dir(dir, sizeof dir);
	int dfd = -1, fd = -1;
	char name[64];
	/* a folder removed by another pool's close between our mkdir and
	 * openat (ENOENT), or a stale page of an earlier process of our PID
	 * (EEXIST): try again */
	for (int tries = 0; !err && tries < 16; tries++) {
		if (dfd < 0 && (dfd = open_dir(dir, true)) < 0) {
			err = dfd;
			break;
		}
		snprintf(name, sizeof name, "%d-%llu", (int)getpid(), (unsigned long long)p->id);
		fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		err = -errno;
		if (err == -ENOENT) {
			close(dfd);
			dfd = -1;
		}
		if (err == -EEXIST)
			p->id = new_pool_id(); /* the page is left to clean */
		if (err == -ENOENT || err == -EEXIST)
			err = 0;
	}
	if (!err && fd < 0)
		err = -EEXIST;
	if (!err && snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		err = -ENAMETOOLONG;
	if (!err && (!(st->dir = strdup(dir)) || !(st->path = strdup(path))))
		err = -ENOMEM;
	/* reserved now: a store into a hole of a full tmpfs is a SIGBUS */
	if (!err)
		err = -posix_fallocate(fd, 0, (off_t)len);
	if (!err) {
		st->base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (st->base == MAP_FAILED) {
			st->base = NULL;
			err = -errno;
		}
	}
	if (err && fd >= 0)
		unlinkat(dfd, name, 0);
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (err && dfd >= 0)
		rmdir(dir); /* if we made it and nothing else is there */
	if (err && p->cfg.verbose)
		fprintf(stderr, "[jobpool] no status page in %s: %s\n", dir, jp_strerror(err));
	st->len = len;
	return err;
}

void jp__status_open(jp_pool *p)
{
	p->id = new_pool_id();
	p->trace = jp__trace_open(p);
	if (status_disabled())
		return;
	struct jp__status *st = calloc(1, sizeof *st);
	if (!st)
		return;
	st->nworkers = p->n_workers ? (uint32_t)p->n_workers : 1;
	int err = make_page(st, p, jp__status_size(st->nworkers));
	if (err) {
		free(st->dir);
		free(st->path);
		free(st);
		return;
	}
	/* the janitor removes it if this process dies */
	if (p->share.janitor_fd >= 0)
		(void)jp__janitor_watch(p, st->path);
	uint8_t *base = st->base;
	st->head = (jp__page_head *)base;
	st->pool = (jp__page_pool *)(base + jp__status_pool_off());
	st->shared = (jp__page_shared *)(base + jp__status_shared_off());
	st->workers = (jp__page_worker *)(base + jp__status_workers_off());

	jp__page_head *h = st->head;
	h->version = JP__STATUS_VERSION;
	h->head_size = sizeof *h;
	h->pool_size = sizeof(jp__page_pool);
	h->shared_size = sizeof(jp__page_shared);
	h->worker_size = sizeof(jp__page_worker);
	h->nworkers = st->nworkers;
	h->backend = p->n_workers ? JP__STATUS_PROCESS : JP__STATUS_SEQUENTIAL;
	h->pid = (int32_t)getpid();
	h->uid = (uint32_t)geteuid();
	h->pool_id = p->id;
	jp__proc_stat ps;
	if (jp__proc_stat_read((int)getpid(), &ps) == 0) {
		h->start_ticks = ps.start_ticks;
		copy_str(h->comm, sizeof h->comm, ps.comm);
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	h->start_wall = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
	h->start_mono = jp__now();
	const jp__config *cfg = &p->cfg;
	h->n_jobs = cfg->n_jobs;
	h->verbose = cfg->verbose;
	h->max_nbytes = cfg->max_nbytes;
	h->batch_size = cfg->batch_size;
	h->pre_dispatch = cfg->pre_dispatch == SIZE_MAX ? UINT64_MAX : cfg->pre_dispatch;
	h->timeout = cfg->timeout;
	static const char *const modes[] = { "r", "r+", "w+", "c" };
	copy_str(h->mmap_mode, sizeof h->mmap_mode, modes[cfg->mmap_mode & 3]);
	copy_str(h->initializer, sizeof h->initializer, cfg->initializer);
	if (p->share.ncand)
		copy_str(h->temp_root, sizeof h->temp_root, p->share.candidates[0]);
	st->pool->state = JP__POOL_OPENING;
	copy_str(st->pool->engine, sizeof st->pool->engine, "-");
	st->pool->janitor = p->share.janitor;
	if (!p->n_workers) {
		/* the caller is the one worker */
		st->workers[0].pid = h->pid;
		st->workers[0].state = JP__WS_IDLE;
		st->workers[0].spawns = 1;
	}
	__atomic_store_n(&h->magic, JP__STATUS_MAGIC, __ATOMIC_RELEASE);
	p->status = st;
}

void jp__status_state(jp_pool *p, int state)
{
	struct jp__status *st = p->status;
	if (!st || p->owner != getpid())
		return;
	jp__page_pool *sp = st->pool;
	jp__seq_begin(&sp->seq);
	copy_str(sp->engine, sizeof sp->engine, p->io ? jp__io_engine(p->io) : "none");
	sp->janitor = p->share.janitor;
	sp->state = (uint32_t)state;
	jp__seq_end(&sp->seq);
}

void jp__status_close(jp_pool *p)
{
	struct jp__status *st = p->status;
	bool mine = p->owner == getpid();
	if (p->trace)
		jp__trace_close(p->trace, mine);
	p->trace = NULL;
	if (!st)
		return;
	/* a host's child holding a copy of the pool leaves the page to the
	 * pool's owner */
	if (mine) {
		unlink(st->path);
		rmdir(st->dir); /* the last page gone: the folder too */
	}
	munmap(st->base, st->len);
	free(st->dir);
	free(st->path);
	free(st);
	p->status = NULL;
}

void jp__status_worker(jp_pool *p, int slot, int state)
{
	struct jp__status *st = p->status;
	if (p->trace && state == JP__WS_STARTING)
		jp__trace_worker(p->trace, slot, (int)p->workers[slot].pid);
	if (!st || slot < 0 || (uint32_t)slot >= st->nworkers)
		return;
	jp__page_worker *w = &st->workers[slot];
	jp__seq_begin(&w->seq);
	w->state = (uint32_t)state;
	if (state == JP__WS_STARTING) {
		w->pid = (int32_t)p->workers[slot].pid;
		w->spawns++;
	}
	w->queued = 0;
	jp__seq_end(&w->seq);
}

/* Task names of the call from `from` on, as far as the table goes. */
static void publish_tasks(struct jp__status *st, const jp_call *c, uint32_t from)
{
	jp__page_pool *sp = st->pool;
	uint32_t n = c->ntasks < JP__STATUS_TASKS ? c->ntasks : JP__STATUS_TASKS;
	for (uint32_t i = from; i < n; i++)
		copy_str(sp->tasks[i], JP__STATUS_NAME, c->names[i]);
	if (n > sp->ntasks)
		sp->ntasks = n;
}

/* The worker record w runs the batch whose first slot is seq. */
static void set_busy(struct jp__status *st, jp__page_worker *w, const jp_call *c, size_t seq,
		     size_t items, double since)
{
	const jp__slot *s = jp__call_slot(c, seq);
	if (s->task >= st->pool->ntasks && s->task < JP__STATUS_TASKS) {
		/* a generator named a new task */
		jp__seq_begin(&st->pool->seq);
		publish_tasks(st, c, st->pool->ntasks);
		jp__seq_end(&st->pool->seq);
	}
	w->state = JP__WS_BUSY;
	w->task = s->task;
	w->call_id = c->run.call_id;
	w->item = s->begin;
	w->count = items;
	w->busy_since_mono = since;
}

void jp__status_sent(jp_call *c, int slot, const jp__inflight *b)
{
	jp_pool *p = c->pool;
	struct jp__status *st = p->status;
	if (!st)
		return;
	jp__page_worker *w = &st->workers[slot];
	uint32_t queued = p->n_workers ? (uint32_t)p->workers[slot].inflight_n : 1;
	jp__seq_begin(&w->seq);
	w->queued = queued;
	if (queued == 1) /* it was idle: it runs this one now */
		set_busy(st, w, c, b->seq_first, b->items, b->sent);
	jp__seq_end(&w->seq);
}

void jp__status_done(jp_call *c, int slot, const jp__inflight *b, double start, double end)
{
	jp_pool *p = c->pool;
	if (p->trace)
		jp__trace_batch(p->trace, c, slot, b, start, end);
	struct jp__status *st = p->status;
	if (!st)
		return;
	const jp__worker *pw = p->n_workers ? &p->workers[slot] : NULL;
	jp__page_worker *w = &st->workers[slot];
	jp__seq_begin(&w->seq);
	w->tasks_done += b->items;
	w->batches_done++;
	w->busy_s += end - start;
	w->queued = pw ? (uint32_t)pw->inflight_n : 0;
	if (pw && pw->inflight_n) {
		/* the next one started when this one ended (sched.c's rule) */
		const jp__inflight *next = &pw->inflight[pw->inflight_head];
		set_busy(st, w, c, next->seq_first, next->items, end);
	} else {
		w->state = JP__WS_IDLE;
	}
	jp__seq_end(&w->seq);
	const jp__run *r = &c->run;
	jp__page_pool *sp = st->pool;
	jp__seq_begin(&sp->seq);
	sp->done = r->done;
	sp->batches_done = r->batches_done;
	sp->batch_size = b->items;
	sp->total = c->n;
	sp->total_known = !c->make_item || c->made_all;
	jp__seq_end(&sp->seq);
}

void jp__status_call(jp_call *c, bool start)
{
	jp_pool *p = c->pool;
	if (p->trace)
		jp__trace_call(p->trace, c, start);
	struct jp__status *st = p->status;
	if (!st)
		return;
	const jp__run *r = &c->run;
	jp__page_pool *sp = st->pool;
	jp__seq_begin(&sp->seq);
	if (start) {
		sp->call_active = 1;
		sp->call_id = r->call_id;
		sp->batches_done = 0;
		sp->call_start_mono = r->t0;
		sp->call_end_mono = 0;
		sp->ntasks = 0;
		publish_tasks(st, c, 0);
	} else {
		sp->call_active = 0;
		sp->calls_done++;
		sp->batches_done = r->batches_done;
		sp->call_end_mono = jp__now();
	}
	sp->done = r->done;
	sp->total = c->n;
	sp->total_known = !c->make_item || c->made_all;
	jp__seq_end(&sp->seq);
}

/* ---- shared arrays ------------------------------------------------------------ */

/* Counts that change with every array: live, spares, the current folder.
 * Inside the caller's seqlock. */
static void shared_counts(struct jp__status *st, const jp_pool *p)
{
	jp__page_shared *sh = st->shared;
	sh->spares = p->share.nspares;
	sh->spare_bytes = p->share.spare_bytes;
	sh->cur = (uint32_t)p->share.cur;
}

void jp__status_array(jp_pool *p, const jp_backing *b, const jp_array *a)
{
	struct jp__status *st = p->status;
	/* a host's child releasing an array of its copy of the pool must not
	 * write into its parent's page */
	if (!st || p->owner != getpid())
		return;
	jp__page_shared *sh = st->shared;
	jp__seq_begin(&sh->seq);
	sh->live++;
	sh->live_bytes += b->len;
	jp__page_array *e = NULL;
	for (size_t i = 0; i < JP__STATUS_ARRAYS && !e; i++)
		if (!sh->arrays[i].id)
			e = &sh->arrays[i];
	if (e) {
		e->id = b->id;
		e->nbytes = b->len;
		e->dtype = (int32_t)a->dtype;
		e->ndim = a->ndim;
		for (int d = 0; d < JP__STATUS_DIMS; d++)
			e->shape[d] = d < a->ndim ? a->shape[d] : 0;
		copy_str(e->path, sizeof e->path, b->path);
	} else {
		sh->unlisted++;
	}
	shared_counts(st, p);
	jp__seq_end(&sh->seq);
}

void jp__status_array_gone(jp_pool *p, const jp_backing *b)
{
	struct jp__status *st = p->status;
	if (!st || p->owner != getpid())
		return;
	jp__page_shared *sh = st->shared;
	jp__seq_begin(&sh->seq);
	sh->live -= sh->live > 0;
	sh->live_bytes -= sh->live_bytes >= b->len ? b->len : sh->live_bytes;
	size_t i = 0;
	while (i < JP__STATUS_ARRAYS && sh->arrays[i].id != b->id)
		i++;
	if (i < JP__STATUS_ARRAYS)
		memset(&sh->arrays[i], 0, sizeof sh->arrays[i]);
	else if (sh->unlisted)
		sh->unlisted--;
	shared_counts(st, p);
	jp__seq_end(&sh->seq);
}

void jp__status_folders(jp_pool *p)
{
	struct jp__status *st = p->status;
	if (!st)
		return;
	jp__page_shared *sh = st->shared;
	jp__seq_begin(&sh->seq);
	uint32_t n = 0;
	for (size_t i = 0; i < p->share.ncand && n < JP__STATUS_FOLDERS; i++)
		if (p->share.folders[i])
			copy_str(sh->folders[n++], JP__STATUS_PATH, p->share.folders[i]);
	sh->nfolders = n;
	shared_counts(st, p);
	jp__seq_end(&sh->seq);
}

/* ---- the reader ------------------------------------------------------------------ */

/* Copy a section under its seqlock: true if the copy is consistent. */
static bool seq_copy(void *dst, const void *src, size_t len)
{
	const uint32_t *seq = src; /* every section starts with its counter */
	struct timespec pause = { 0, 100000 };
	for (int tries = 0; tries < 500; tries++) {
		uint32_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
		if (!(s1 & 1)) {
			memcpy(dst, src, len);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(seq, __ATOMIC_RELAXED) == s1)
				return true;
		}
		if (tries > 20)
			nanosleep(&pause, NULL);
	}
	memcpy(dst, src, len); /* its writer died in it: as it is */
	return false;
}

int jp__status_read(int dirfd, const char *name, jp__status_view *v, char *err, size_t cap)
{
	*v = (jp__status_view){ 0 };
	copy_str(v->name, sizeof v->name, name);
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int e = -errno;
		jp__msgf(err, cap, "%s: %s", name, strerror(-e));
		return e == -ELOOP ? -EPERM : e;
	}
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid()) {
		close(fd);
		jp__msgf(err, cap, "%s: not a status page of this user", name);
		return -EPERM;
	}
	size_t len = (size_t)sb.st_size;
	if (len < jp__status_workers_off()) {
		close(fd);
		jp__msgf(err, cap, "%s: too short for a status page (%zu bytes)", name, len);
		return len == 0 ? -EAGAIN : -EPROTO;
	}
	void *base = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED) {
		int e = -errno;
		jp__msgf(err, cap, "%s: mmap: %s", name, strerror(-e));
		return e;
	}
	const jp__page_head *h = base;
	int rc = 0;
	uint64_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
	if (magic == 0) {
		jp__msgf(err, cap, "%s: the pool is opening", name);
		rc = -EAGAIN;
	} else if (magic != JP__STATUS_MAGIC || h->version != JP__STATUS_VERSION ||
		   h->head_size != sizeof(jp__page_head) || h->pool_size != sizeof(jp__page_pool) ||
		   h->shared_size != sizeof(jp__page_shared) ||
		   h->worker_size != sizeof(jp__page_worker) || h->nworkers == 0 ||
		   h->nworkers > (1u << 20) || jp__status_size(h->nworkers) > len) {
		jp__msgf(err, cap, "%s: not a status page of this version (version %u, %u workers, %zu bytes)",
			 name, (unsigned)h->version, (unsigned)h->nworkers, len);
		rc = -EPROTO;
	}
	if (!rc) {
		v->head = *h;
		v->workers = calloc(h->nworkers, sizeof *v->workers);
		if (!v->workers)
			rc = -ENOMEM;
	}
	if (!rc) {
		const uint8_t *b = base;
		bool ok = seq_copy(&v->pool, b + jp__status_pool_off(), sizeof v->pool);
		ok &= seq_copy(&v->shared, b + jp__status_shared_off(), sizeof v->shared);
		for (uint32_t i = 0; i < v->head.nworkers; i++)
			ok &= seq_copy(&v->workers[i],
				       b + jp__status_workers_off() + i * sizeof(jp__page_worker),
				       sizeof(jp__page_worker));
		v->torn = !ok;
		/* the strings come from another process: terminated here */
		v->head.comm[sizeof v->head.comm - 1] = '\0';
		v->head.mmap_mode[sizeof v->head.mmap_mode - 1] = '\0';
		v->head.initializer[JP__STATUS_NAME - 1] = '\0';
		v->head.temp_root[JP__STATUS_PATH - 1] = '\0';
		v->pool.engine[sizeof v->pool.engine - 1] = '\0';
		if (v->pool.ntasks > JP__STATUS_TASKS)
			v->pool.ntasks = JP__STATUS_TASKS;
		for (size_t i = 0; i < JP__STATUS_TASKS; i++)
			v->pool.tasks[i][JP__STATUS_NAME - 1] = '\0';
		if (v->shared.nfolders > JP__STATUS_FOLDERS)
			v->shared.nfolders = JP__STATUS_FOLDERS;
		for (size_t i = 0; i < JP__STATUS_FOLDERS; i++)
			v->shared.folders[i][JP__STATUS_PATH - 1] = '\0';
		for (size_t i = 0; i < JP__STATUS_ARRAYS; i++) {
			jp__page_array *a = &v->shared.arrays[i];
			a->path[JP__STATUS_PATH - 1] = '\0';
			if (a->ndim < 0 || a->ndim > JP_MAX_NDIM)
				a->ndim = 0;
		}
	}
	munmap(base, len);
	if (rc) {
		free(v->workers);
		v->workers = NULL;
	}
	return rc;
}

void jp__status_view_free(jp__status_view *v)
{
	free(v->workers);
	v->workers = NULL;
}

const char *jp__wstate_name(uint32_t state)
{
	switch (state) {
	case JP__WS_STARTING: return "starting";
	case JP__WS_IDLE: return "idle";
	case JP__WS_BUSY: return "busy";
	case JP__WS_DEAD: return "dead";
	default: return "none";
	}
}

const char *jp__dtype_name(int32_t dtype)
{
	static const char *const names[] = {
		[JP_BOOL] = "bool",       [JP_INT8] = "int8",       [JP_INT16] = "int16",
		[JP_INT32] = "int32",     [JP_INT64] = "int64",     [JP_UINT8] = "uint8",
		[JP_UINT16] = "uint16",   [JP_UINT32] = "uint32",   [JP_UINT64] = "uint64",
		[JP_FLOAT32] = "float32", [JP_FLOAT64] = "float64", [JP_COMPLEX64] = "complex64",
		[JP_COMPLEX128] = "complex128",
	};
	if (dtype <= 0 || (size_t)dtype >= sizeof names / sizeof names[0] || !names[dtype])
		return "unknown";
	return names[dtype];
}
