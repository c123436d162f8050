/*
 * jobpool-inspect - see the live pools of this user, their workers, calls
 * and shared arrays; clean up after pools whose master died; read a .npy
 * header; summarise a trace. Reads the pools' status pages (lib/status.h)
 * and never writes to them: a pool never knows it is watched.
 *
 *   jobpool-inspect list [--json]
 *   jobpool-inspect show PID[-N] [--json]
 *   jobpool-inspect watch PID[-N] [--count N] [--interval S]
 *   jobpool-inspect clean [--dry-run]
 *   jobpool-inspect file PATH [--json]
 *   jobpool-inspect trace PATH
 *   jobpool-inspect cache DIR [--json]
 *
 * Exit status: 0 done, 1 usage, 2 no such pool, 3 permission denied,
 * 4 bad file, 5 any other failure. See jobpool-inspect(1).
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jobpool.h>

#include "internal.h"
#include "memory.h"
#include "npy.h"
#include "status.h"

enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_NOPOOL = 2,
	EXIT_PERM = 3,
	EXIT_BADFILE = 4,
	EXIT_ERROR = 5,
};

static const char *prog = "jobpool-inspect";

static int fail(int code, const char *fmt, ...) JP_PRINTF(2, 3);

static int fail(int code, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static int exit_for(int err)
{
	return err == -EACCES || err == -EPERM ? EXIT_PERM : err == -ENOENT ? EXIT_NOPOOL : EXIT_ERROR;
}

/* ---- formatting -------------------------------------------------------------- */

static const char *fmt_bytes(char *buf, size_t cap, double b)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%.0f B", b);
	else
		snprintf(buf, cap, "%.1f %s", b, units[u]);
	return buf;
}

static const char *fmt_dur(char *buf, size_t cap, double s)
{
	if (s < 0 || !isfinite(s))
		snprintf(buf, cap, "-");
	else if (s < 10)
		snprintf(buf, cap, "%.2fs", s);
	else if (s < 60)
		snprintf(buf, cap, "%.1fs", s);
	else if (s < 3600)
		snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
	else if (s < 86400)
		snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
	else
		snprintf(buf, cap, "%dd%02dh", (int)(s / 86400), (int)fmod(s / 3600, 24));
	return buf;
}

static const char *fmt_shape(char *buf, size_t cap, int ndim, const uint64_t *shape, int listed,
			     const char *sep)
{
	size_t k = 0;
	buf[0] = '\0';
	if (ndim == 0)
		snprintf(buf, cap, "scalar");
	for (int d = 0; d < ndim && d < listed && k < cap; d++)
		k += (size_t)snprintf(buf + k, cap - k, "%s%llu", d ? sep : "",
				      (unsigned long long)shape[d]);
	if (ndim > listed && k < cap)
		snprintf(buf + k, cap - k, "%s...", sep);
	return buf;
}

/* ---- JSON output ----------------------------------------------------------------- */

typedef struct jw {
	FILE *f;
	int depth;
	bool first[64];
} jw;

static void jw_sep(jw *w, const char *key)
{
	if (w->depth > 0) {
		fputs(w->first[w->depth] ? "\n" : ",\n", w->f);
		w->first[w->depth] = false;
		fprintf(w->f, "%*s", 2 * w->depth, "");
	}
	if (key)
		fprintf(w->f, "\"%s\": ", key);
}

static void jw_raw_str(jw *w, const char *s)
{
	fputc('"', w->f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(w->f, "\\%c", c);
		else if (c < 0x20)
			fprintf(w->f, "\\u%04x", c);
		else
			fputc(c, w->f);
	}
	fputc('"', w->f);
}

static void jw_open(jw *w, const char *key, char bracket)
{
	jw_sep(w, key);
	fputc(bracket, w->f);
	w->depth++;
	w->first[w->depth] = true;
}

static void jw_close(jw *w, char bracket)
{
	bool empty = w->first[w->depth];
	w->depth--;
	if (!empty)
		fprintf(w->f, "\n%*s", 2 * w->depth, "");
	fputc(bracket, w->f);
	if (w->depth == 0)
		fputc('\n', w->f);
}

static void jw_str(jw *w, const char *key, const char *v)
{
	jw_sep(w, key);
	if (v)
		jw_raw_str(w, v);
	else
		fputs("null", w->f);
}

static void jw_int(jw *w, const char *key, long long v)
{
	jw_sep(w, key);
	fprintf(w->f, "%lld", v);
}

static void jw_uint(jw *w, const char *key, unsigned long long v)
{
	jw_sep(w, key);
	fprintf(w->f, "%llu", v);
}

static void jw_num(jw *w, const char *key, double v)
{
	jw_sep(w, key);
	if (isfinite(v))
		fprintf(w->f, "%.6f", v);
	else
		fputs("null", w->f);
}

static void jw_bool(jw *w, const char *key, bool v)
{
	jw_sep(w, key);
	fputs(v ? "true" : "false", w->f);
}

static void jw_null(jw *w, const char *key)
{
	jw_sep(w, key);
	fputs("null", w->f);
}

/* ---- /proc -------------------------------------------------------------------- */

typedef struct procinfo {
	bool ok;
	double cpu_s, utime_s, stime_s;
	uint64_t rss_bytes;
} procinfo;

static procinfo proc_info(int pid)
{
	procinfo pi = { 0 };
	jp__proc_stat st;
	if (pid <= 0 || jp__proc_stat_read(pid, &st))
		return pi;
	double tck = (double)sysconf(_SC_CLK_TCK);
	pi.ok = true;
	pi.utime_s = (double)st.utime / tck;
	pi.stime_s = (double)st.stime / tck;
	pi.cpu_s = pi.utime_s + pi.stime_s;
	pi.rss_bytes = st.rss_pages * (uint64_t)sysconf(_SC_PAGESIZE);
	/* statm's resident count is the same figure, more directly */
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/statm", pid);
	FILE *f = fopen(path, "re");
	unsigned long long size, resident;
	if (f && fscanf(f, "%llu %llu", &size, &resident) == 2)
		pi.rss_bytes = resident * (uint64_t)sysconf(_SC_PAGESIZE);
	if (f)
		fclose(f);
	return pi;
}

/* Everything left to read from fd, NUL-terminated, its length in *len;
 * NULL when memory runs out. Files of /proc say no size, so it grows. */
static char *read_all(int fd, size_t *len)
{
	size_t have = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	while (buf) {
		if (cap - have < 4096) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + have, cap - have - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	if (buf) {
		buf[have] = '\0';
		*len = have;
	}
	return buf;
}

/* The text of /proc/PID/maps, or NULL. */
static char *read_maps(int pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t len;
	char *text = read_all(fd, &len);
	close(fd);
	return text;
}

/* How many of the pool's processes (master and workers) map each listed
 * array's file. */
static void count_mappings(const jp__status_view *v, int *mapped)
{
	memset(mapped, 0, sizeof(int) * JP__STATUS_ARRAYS);
	int npids = 1 + (v->head.backend == JP__STATUS_PROCESS ? (int)v->head.nworkers : 0);
	for (int k = 0; k < npids; k++) {
		int pid = k == 0 ? v->head.pid : v->workers[k - 1].pid;
		if (k > 0 && (v->workers[k - 1].state == JP__WS_DEAD || pid <= 0))
			continue;
		char *maps = read_maps(pid);
		if (!maps)
			continue;
		for (int i = 0; i < JP__STATUS_ARRAYS; i++) {
			const jp__page_array *a = &v->shared.arrays[i];
			if (!a->id || !a->path[0])
				continue;
			/* a path, then a newline or " (deleted)" */
			for (const char *s = maps; (s = strstr(s, a->path)); s++) {
				char after = s[strlen(a->path)];
				if (after == '\n' || after == ' ' || after == '\0') {
					mapped[i]++;
					break;
				}
			}
		}
		free(maps);
	}
}

/* ---- the pages ------------------------------------------------------------------ */

typedef struct pages {
	char dir[PATH_MAX];
	int dirfd;              /* -1: the folder does not exist */
	jp__status_view *v;
	size_t n;
} pages;

static void pages_free(pages *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		jp__status_view_free(&ps->v[i]);
	free(ps->v);
	if (ps->dirfd >= 0)
		close(ps->dirfd);
	ps->v = NULL;
	ps->n = 0;
	ps->dirfd = -1;
}

static int cmp_view(const void *a, const void *b)
{
	const jp__status_view *x = a, *y = b;
	if (x->head.pid != y->head.pid)
		return x->head.pid < y->head.pid ? -1 : 1;
	return x->head.pool_id < y->head.pool_id ? -1 : x->head.pool_id > y->head.pool_id;
}

/* Open the folder of pages, checked: ours, not writable by others. 0 (and
 * dirfd -1 when there is no folder: no pool), or an exit code. */
static int open_pages_dir(pages *ps)
{
	ps->dirfd = -1;
	if (jp__status_dir(ps->dir, sizeof ps->dir))
		return fail(EXIT_ERROR, "the status folder's path is too long");
	int fd = open(ps->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return fail(errno == EACCES || errno == ELOOP || errno == ENOTDIR ? EXIT_PERM : EXIT_ERROR,
			    "%s: %s", ps->dir, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
		close(fd);
		return fail(EXIT_PERM, "%s is not a folder of this user's (or others may write to it): refusing to read it",
			    ps->dir);
	}
	ps->dirfd = fd;
	return 0;
}

/* Every readable page (pools still opening are left out). */
static int load_pages(pages *ps)
{
	int rc = open_pages_dir(ps);
	if (rc || ps->dirfd < 0)
		return rc;
	int fd = dup(ps->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return fail(EXIT_ERROR, "%s: %s", ps->dir, strerror(errno));
	}
	struct dirent *de;
	size_t cap = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (ps->n == cap) {
			cap = cap ? 2 * cap : 16;
			jp__status_view *nv = realloc(ps->v, cap * sizeof *nv);
			if (!nv) {
				closedir(d);
				return fail(EXIT_ERROR, "out of memory");
			}
			ps->v = nv;
		}
		char err[256];
		if (jp__status_read(ps->dirfd, de->d_name, &ps->v[ps->n], err, sizeof err) == 0)
			ps->n++;
	}
	closedir(d);
	qsort(ps->v, ps->n, sizeof *ps->v, cmp_view);
	return 0;
}

/* "PID" or "PID-N". */
static bool parse_target(const char *s, int *pid, long long *id)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || v <= 0 || v > INT_MAX)
		return false;
	*pid = (int)v;
	*id = -1;
	if (*end == '-') {
		const char *p = end + 1;
		long long n = strtoll(p, &end, 10);
		if (end == p || n <= 0)
			return false;
		*id = n;
	}
	return *end == '\0';
}

/* Why no page matches pid: an exit code with a message. */
static int no_pool(int pid)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof path, "/proc/%d", pid);
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return fail(EXIT_NOPOOL, "no process %d", pid);
	if ((kill(pid, 0) < 0 && errno == EPERM) || (stat(path, &st) == 0 && st.st_uid != geteuid()))
		return fail(EXIT_PERM, "process %d belongs to another user: permission denied", pid);
	return fail(EXIT_NOPOOL,
		    "process %d has no open pool with a status page (not a jobpool program, or JOBPOOL_STATUS=0)",
		    pid);
}

/* The one page a target names; its index in ps, or -1 with *rc set. */
static long find_target(pages *ps, const char *target, int *rc)
{
	int pid;
	long long id;
	if (!parse_target(target, &pid, &id)) {
		*rc = fail(EXIT_USAGE, "\"%s\": expected a PID, or PID-N for the Nth pool of a process",
			   target);
		return -1;
	}
	if ((*rc = load_pages(ps)))
		return -1;
	long found = -1;
	size_t matches = 0;
	for (size_t i = 0; i < ps->n; i++)
		if (ps->v[i].head.pid == pid && (id < 0 || ps->v[i].head.pool_id == (uint64_t)id)) {
			if (found < 0)
				found = (long)i;
			matches++;
		}
	if (found < 0) {
		*rc = id < 0 ? no_pool(pid)
			     : fail(EXIT_NOPOOL, "process %d has no pool number %lld", pid, id);
		return -1;
	}
	if (matches > 1) {
		fprintf(stderr, "%s: process %d has %zu pools; name one:", prog, pid, matches);
		for (size_t i = 0; i < ps->n; i++)
			if (ps->v[i].head.pid == pid)
				fprintf(stderr, " %s", ps->v[i].name);
		fputc('\n', stderr);
		*rc = EXIT_USAGE;
		return -1;
	}
	return found;
}

/* ---- what a page says, computed --------------------------------------------------- */

static const char *backend_name(const jp__status_view *v)
{
	return v->head.backend == JP__STATUS_SEQUENTIAL ? "sequential" : "process";
}

static const char *pool_state(const jp__status_view *v, int alive)
{
	if (alive == 0)
		return "dead";
	switch (v->pool.state) {
	case JP__POOL_OPENING: return "opening";
	case JP__POOL_OPEN: return v->pool.call_active ? "running" : "idle";
	case JP__POOL_CLOSING: return "closing";
	default: return "unknown";
	}
}

static const char *temp_folder(const jp__status_view *v)
{
	const jp__page_shared *s = &v->shared;
	if (!s->nfolders)
		return NULL;
	return s->folders[s->cur < s->nfolders ? s->cur : s->nfolders - 1];
}

typedef struct callinfo {
	bool any, active, total_known;
	double elapsed, rate, eta;   /* eta < 0: unknown */
	double frac;                 /* done / total, or -1 */
} callinfo;

static callinfo call_info(const jp__status_view *v, double now)
{
	const jp__page_pool *c = &v->pool;
	callinfo ci = { .eta = -1, .frac = -1 };
	ci.any = c->call_id != 0;
	if (!ci.any)
		return ci;
	ci.active = c->call_active;
	ci.total_known = c->total_known;
	double end = c->call_active || c->call_end_mono <= 0 ? now : c->call_end_mono;
	ci.elapsed = end - c->call_start_mono;
	if (ci.elapsed < 0)
		ci.elapsed = 0;
	ci.rate = ci.elapsed > 0 ? (double)c->done / ci.elapsed : 0;
	if (c->total_known && c->total) {
		ci.frac = (double)c->done / (double)c->total;
		if (ci.frac > 1)
			ci.frac = 1;
		if (ci.active && ci.rate > 0)
			ci.eta = (double)(c->total - (c->done < c->total ? c->done : c->total)) / ci.rate;
		else if (!ci.active)
			ci.eta = 0;
	}
	return ci;
}

/* Seconds a worker has been busy, its current batch included. */
static double busy_now(const jp__page_worker *w, double now)
{
	double b = w->busy_s;
	if (w->state == JP__WS_BUSY && w->busy_since_mono > 0 && now > w->busy_since_mono)
		b += now - w->busy_since_mono;
	return b;
}

static const char *task_of(const jp__status_view *v, const jp__page_worker *w)
{
	if (w->state != JP__WS_BUSY)
		return NULL;
	if (w->call_id == v->pool.call_id && w->task < v->pool.ntasks)
		return v->pool.tasks[w->task];
	return "?";
}

/* ---- list ------------------------------------------------------------------------ */

static int cmd_list(bool json)
{
	pages ps = { .dirfd = -1 };
	int rc = load_pages(&ps);
	if (rc)
		return rc;
	double now = jp__now();
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	double wall_now = (double)wall.tv_sec + (double)wall.tv_nsec * 1e-9;
	size_t dead = 0;
	jw w = { .f = stdout };
	if (json) {
		jw_open(&w, NULL, '{');
		jw_str(&w, "status_dir", ps.dir);
		jw_open(&w, "pools", '[');
	} else if (ps.n) {
		printf("%-12s %-8s %-10s %5s %-9s %6s %9s %10s  %s\n", "POOL", "STATE", "BACKEND", "JOBS",
		       "ENGINE", "CALLS", "UPTIME", "SHARED", "TEMP FOLDER");
	}
	for (size_t i = 0; i < ps.n; i++) {
		const jp__status_view *v = &ps.v[i];
		int alive = jp__status_master_alive(&v->head);
		dead += alive == 0;
		/* a dead master's uptime is meaningless beside its page's age */
		double up = alive ? now - v->head.start_mono : wall_now - v->head.start_wall;
		const char *tf = temp_folder(v);
		if (json) {
			jw_open(&w, NULL, '{');
			jw_str(&w, "name", v->name);
			jw_int(&w, "pid", v->head.pid);
			jw_uint(&w, "pool_id", v->head.pool_id);
			jw_bool(&w, "alive", alive != 0);
			jw_str(&w, "state", pool_state(v, alive));
			jw_str(&w, "command", v->head.comm);
			jw_int(&w, "n_jobs", v->head.n_jobs);
			jw_str(&w, "backend", backend_name(v));
			jw_str(&w, "engine", v->pool.engine);
			jw_str(&w, "temp_folder", tf);
			jw_uint(&w, "shared_bytes", v->shared.live_bytes);
			jw_uint(&w, "spare_bytes", v->shared.spare_bytes);
			jw_num(&w, "uptime_s", up);
			jw_uint(&w, "calls_done", v->pool.calls_done);
			jw_close(&w, '}');
		} else {
			char upb[32], sh[32];
			printf("%-12s %-8s %-10s %5d %-9s %6llu %9s %10s  %s\n", v->name, pool_state(v, alive),
			       backend_name(v), v->head.n_jobs, v->pool.engine,
			       (unsigned long long)v->pool.calls_done, fmt_dur(upb, sizeof upb, up),
			       fmt_bytes(sh, sizeof sh, (double)v->shared.live_bytes), tf ? tf : "-");
		}
	}
	if (json) {
		jw_close(&w, ']');
		jw_close(&w, '}');
	} else if (!ps.n) {
		printf("no pool (status pages in %s)\n", ps.dir);
	} else if (dead) {
		printf("\n%zu pool%s whose master is dead: `%s clean` removes what %s left\n", dead,
		       dead > 1 ? "s" : "", prog, dead > 1 ? "they" : "it");
	}
	pages_free(&ps);
	return EXIT_OK;
}

/* ---- show ------------------------------------------------------------------------ */

static void show_json(const jp__status_view *v)
{
	double now = jp__now();
	int alive = jp__status_master_alive(&v->head);
	const jp__page_head *h = &v->head;
	jw w = { .f = stdout };
	jw_open(&w, NULL, '{');
	jw_str(&w, "name", v->name);
	jw_int(&w, "pid", h->pid);
	jw_uint(&w, "pool_id", h->pool_id);
	jw_bool(&w, "alive", alive != 0);
	jw_str(&w, "state", pool_state(v, alive));
	jw_bool(&w, "torn", v->torn);
	jw_str(&w, "command", h->comm);
	jw_num(&w, "start_time", h->start_wall);
	if (alive)
		jw_num(&w, "uptime_s", now - h->start_mono);
	else
		jw_null(&w, "uptime_s");
	jw_str(&w, "engine", v->pool.engine);
	jw_int(&w, "janitor_pid", v->pool.janitor);
	jw_open(&w, "options", '{');
	jw_int(&w, "n_jobs", h->n_jobs);
	jw_str(&w, "backend", backend_name(v));
	if (h->batch_size)
		jw_uint(&w, "batch_size", h->batch_size);
	else
		jw_str(&w, "batch_size", "auto");
	if (h->pre_dispatch == UINT64_MAX)
		jw_str(&w, "pre_dispatch", "all");
	else
		jw_uint(&w, "pre_dispatch", h->pre_dispatch);
	if (h->max_nbytes < 0)
		jw_null(&w, "max_nbytes");
	else
		jw_int(&w, "max_nbytes", h->max_nbytes);
	jw_str(&w, "mmap_mode", h->mmap_mode);
	jw_num(&w, "timeout", h->timeout);
	jw_int(&w, "verbose", h->verbose);
	jw_str(&w, "initializer", h->initializer[0] ? h->initializer : NULL);
	jw_close(&w, '}');
	jw_str(&w, "temp_folder", temp_folder(v));
	jw_str(&w, "temp_root", h->temp_root[0] ? h->temp_root : NULL);
	jw_open(&w, "temp_folders", '[');
	for (uint32_t i = 0; i < v->shared.nfolders; i++)
		jw_str(&w, NULL, v->shared.folders[i]);
	jw_close(&w, ']');
	jw_uint(&w, "calls_done", v->pool.calls_done);

	callinfo ci = call_info(v, now);
	if (ci.any) {
		jw_open(&w, "call", '{');
		jw_uint(&w, "id", v->pool.call_id);
		jw_bool(&w, "active", ci.active);
		jw_uint(&w, "done", v->pool.done);
		if (ci.total_known)
			jw_uint(&w, "total", v->pool.total);
		else
			jw_null(&w, "total");
		jw_uint(&w, "batches_done", v->pool.batches_done);
		jw_uint(&w, "batch_size", v->pool.batch_size);
		jw_num(&w, "elapsed_s", ci.elapsed);
		jw_num(&w, "rate_per_s", ci.rate);
		if (ci.eta >= 0)
			jw_num(&w, "eta_s", ci.eta);
		else
			jw_null(&w, "eta_s");
		jw_open(&w, "tasks", '[');
		for (uint32_t i = 0; i < v->pool.ntasks; i++)
			jw_str(&w, NULL, v->pool.tasks[i]);
		jw_close(&w, ']');
		jw_close(&w, '}');
	} else {
		jw_null(&w, "call");
	}

	procinfo mp = proc_info(h->pid);
	jw_open(&w, "master", '{');
	jw_int(&w, "pid", h->pid);
	if (mp.ok) {
		jw_uint(&w, "rss_bytes", mp.rss_bytes);
		jw_num(&w, "cpu_s", mp.cpu_s);
	}
	jw_close(&w, '}');

	jw_open(&w, "workers", '[');
	for (uint32_t i = 0; i < h->nworkers; i++) {
		const jp__page_worker *wk = &v->workers[i];
		jw_open(&w, NULL, '{');
		jw_int(&w, "slot", (long long)i);
		jw_int(&w, "pid", wk->pid);
		jw_str(&w, "state", jp__wstate_name(wk->state));
		jw_str(&w, "task", task_of(v, wk));
		if (wk->state == JP__WS_BUSY) {
			jw_uint(&w, "item", wk->item);
			jw_uint(&w, "count", wk->count);
			jw_num(&w, "busy_for_s", now - wk->busy_since_mono);
		} else {
			jw_null(&w, "item");
			jw_null(&w, "count");
			jw_null(&w, "busy_for_s");
		}
		jw_uint(&w, "queued", wk->queued);
		jw_uint(&w, "tasks_done", wk->tasks_done);
		jw_uint(&w, "batches_done", wk->batches_done);
		jw_num(&w, "busy_s", busy_now(wk, now));
		jw_uint(&w, "respawns", wk->spawns ? wk->spawns - 1 : 0);
		procinfo pi = wk->state == JP__WS_DEAD ? (procinfo){ 0 } : proc_info(wk->pid);
		if (pi.ok) {
			jw_uint(&w, "rss_bytes", pi.rss_bytes);
			jw_num(&w, "cpu_s", pi.cpu_s);
			jw_num(&w, "utime_s", pi.utime_s);
			jw_num(&w, "stime_s", pi.stime_s);
		} else {
			jw_null(&w, "rss_bytes");
			jw_null(&w, "cpu_s");
		}
		jw_close(&w, '}');
	}
	jw_close(&w, ']');

	int mapped[JP__STATUS_ARRAYS];
	count_mappings(v, mapped);
	jw_open(&w, "shared", '{');
	jw_uint(&w, "arrays", v->shared.live);
	jw_uint(&w, "bytes", v->shared.live_bytes);
	jw_uint(&w, "unlisted", v->shared.unlisted);
	jw_uint(&w, "spare_files", v->shared.spares);
	jw_uint(&w, "spare_bytes", v->shared.spare_bytes);
	jw_open(&w, "list", '[');
	for (int i = 0; i < JP__STATUS_ARRAYS; i++) {
		const jp__page_array *a = &v->shared.arrays[i];
		if (!a->id)
			continue;
		jw_open(&w, NULL, '{');
		jw_str(&w, "file", a->path);
		jw_str(&w, "dtype", jp__dtype_name(a->dtype));
		jw_open(&w, "shape", '[');
		for (int d = 0; d < a->ndim && d < JP__STATUS_DIMS; d++)
			jw_uint(&w, NULL, a->shape[d]);
		jw_close(&w, ']');
		jw_int(&w, "ndim", a->ndim);
		jw_uint(&w, "bytes", a->nbytes);
		jw_int(&w, "mapped_by", mapped[i]);
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	jw_close(&w, '}');
	jw_close(&w, '}');
}

static void show_text(const jp__status_view *v)
{
	double now = jp__now();
	int alive = jp__status_master_alive(&v->head);
	const jp__page_head *h = &v->head;
	char b1[32], b2[32], b3[32];
	printf("pool %s: %s (%s), master %d, %s backend, n_jobs %d, engine %s%s\n", v->name,
	       pool_state(v, alive), h->comm, h->pid, backend_name(v), h->n_jobs, v->pool.engine,
	       v->torn ? " (page torn: its writer died mid-update)" : "");
	time_t started = (time_t)h->start_wall;
	struct tm tm;
	char when[64] = "?";
	if (localtime_r(&started, &tm))
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	printf("  started     %s (%s%s), %llu call%s done\n", when, alive ? "up " : "its master is gone",
	       alive ? fmt_dur(b1, sizeof b1, now - h->start_mono) : "",
	       (unsigned long long)v->pool.calls_done, v->pool.calls_done == 1 ? "" : "s");
	char bs[32], pd[32], mb[32];
	if (h->batch_size)
		snprintf(bs, sizeof bs, "%llu", (unsigned long long)h->batch_size);
	else
		snprintf(bs, sizeof bs, "auto");
	if (h->pre_dispatch == UINT64_MAX)
		snprintf(pd, sizeof pd, "all");
	else
		snprintf(pd, sizeof pd, "%llu", (unsigned long long)h->pre_dispatch);
	if (h->max_nbytes < 0)
		snprintf(mb, sizeof mb, "none");
	else
		fmt_bytes(mb, sizeof mb, (double)h->max_nbytes);
	printf("  options     batch_size %s, pre_dispatch %s, max_nbytes %s, mmap_mode %s, timeout %s%s%s\n",
	       bs, pd, mb, h->mmap_mode, h->timeout > 0 ? fmt_dur(b2, sizeof b2, h->timeout) : "none",
	       h->initializer[0] ? ", initializer " : "", h->initializer);
	const char *tf = temp_folder(v);
	printf("  temp        %s\n", tf ? tf : h->temp_root[0] ? "(none made yet)" : "-");
	if (v->pool.janitor)
		printf("  janitor     pid %d\n", v->pool.janitor);
	procinfo mp = proc_info(h->pid);
	if (mp.ok)
		printf("  master      pid %d, RSS %s, CPU %s\n", h->pid, fmt_bytes(b1, sizeof b1, (double)mp.rss_bytes),
		       fmt_dur(b2, sizeof b2, mp.cpu_s));
	callinfo ci = call_info(v, now);
	if (ci.any) {
		char tot[32];
		snprintf(tot, sizeof tot, ci.total_known ? "%llu" : "?", (unsigned long long)v->pool.total);
		printf("  call %-6llu %s: %llu/%s done, %s elapsed, %.1f tasks/s%s%s\n",
		       (unsigned long long)v->pool.call_id, ci.active ? "running" : "finished",
		       (unsigned long long)v->pool.done, tot, fmt_dur(b1, sizeof b1, ci.elapsed), ci.rate,
		       ci.active && ci.eta >= 0 ? ", ETA " : "",
		       ci.active && ci.eta >= 0 ? fmt_dur(b2, sizeof b2, ci.eta) : "");
	}
	printf("\n  %4s %8s %-8s %-16s %12s %10s %9s %9s %10s %5s\n", "SLOT", "PID", "STATE", "TASK", "ITEMS",
	       "DONE", "BUSY", "CPU", "RSS", "RESP");
	for (uint32_t i = 0; i < h->nworkers; i++) {
		const jp__page_worker *wk = &v->workers[i];
		procinfo pi = wk->state == JP__WS_DEAD ? (procinfo){ 0 } : proc_info(wk->pid);
		char items[32] = "-";
		if (wk->state == JP__WS_BUSY)
			snprintf(items, sizeof items, "[%llu,%llu)", (unsigned long long)wk->item,
				 (unsigned long long)(wk->item + wk->count));
		const char *task = task_of(v, wk);
		printf("  %4u %8d %-8s %-16.16s %12s %10llu %9s %9s %10s %5u\n", i, wk->pid,
		       jp__wstate_name(wk->state), task ? task : "-", items,
		       (unsigned long long)wk->tasks_done, fmt_dur(b1, sizeof b1, busy_now(wk, now)),
		       pi.ok ? fmt_dur(b2, sizeof b2, pi.cpu_s) : "-",
		       pi.ok ? fmt_bytes(b3, sizeof b3, (double)pi.rss_bytes) : "-",
		       wk->spawns ? wk->spawns - 1 : 0);
	}
	printf("\n  shared      %llu array%s, %s", (unsigned long long)v->shared.live,
	       v->shared.live == 1 ? "" : "s", fmt_bytes(b1, sizeof b1, (double)v->shared.live_bytes));
	if (v->shared.spares)
		printf("; %llu spare file%s kept for reuse, %s", (unsigned long long)v->shared.spares,
		       v->shared.spares == 1 ? "" : "s", fmt_bytes(b2, sizeof b2, (double)v->shared.spare_bytes));
	printf("\n");
	int mapped[JP__STATUS_ARRAYS];
	count_mappings(v, mapped);
	for (int i = 0; i < JP__STATUS_ARRAYS; i++) {
		const jp__page_array *a = &v->shared.arrays[i];
		if (!a->id)
			continue;
		char shape[128];
		printf("    %-40s %-10s %-16s %10s  mapped by %d\n", a->path, jp__dtype_name(a->dtype),
		       fmt_shape(shape, sizeof shape, a->ndim, a->shape, JP__STATUS_DIMS, "x"),
		       fmt_bytes(b1, sizeof b1, (double)a->nbytes), mapped[i]);
	}
	if (v->shared.unlisted)
		printf("    and %u more\n", (unsigned)v->shared.unlisted);
}

static int cmd_show(const char *target, bool json)
{
	pages ps = { .dirfd = -1 };
	int rc;
	long i = find_target(&ps, target, &rc);
	if (i >= 0) {
		if (json)
			show_json(&ps.v[i]);
		else
			show_text(&ps.v[i]);
	}
	pages_free(&ps);
	return i >= 0 ? EXIT_OK : rc;
}

/* ---- watch ------------------------------------------------------------------------ */

static struct termios saved_tio;
static volatile sig_atomic_t raw_on, quit_now, redraw, alt_screen;

static void term_restore(void)
{
	if (alt_screen) {
		static const char leave[] = "\033[?25h\033[?1049l";
		(void)!write(STDOUT_FILENO, leave, sizeof leave - 1);
		alt_screen = 0;
	}
	if (raw_on) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
		raw_on = 0;
	}
}

static void term_enter(bool tty_in, bool tty_out)
{
	if (tty_in && !raw_on) {
		struct termios t = saved_tio;
		/* keys one by one, no echo; ISIG stays, so Ctrl-C is SIGINT */
		t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		t.c_cc[VMIN] = 0;
		t.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0)
			raw_on = 1;
	}
	if (tty_out && !alt_screen) {
		static const char enter[] = "\033[?1049h\033[?25l\033[H\033[2J";
		(void)!write(STDOUT_FILENO, enter, sizeof enter - 1);
		alt_screen = 1;
	}
}

static bool watch_tty_in, watch_tty_out;

static void on_quit(int sig)
{
	(void)sig;
	quit_now = 1;
}

static void on_winch(int sig)
{
	(void)sig;
	redraw = 1;
}

/* Ctrl-Z: give the terminal back before stopping, take it again after. */
static void on_tstp(int sig)
{
	int saved = errno;
	term_restore();
	signal(SIGTSTP, SIG_DFL);
	raise(SIGTSTP);
	/* here again after SIGCONT */
	struct sigaction sa = { .sa_handler = on_tstp };
	sigaction(SIGTSTP, &sa, NULL);
	term_enter(watch_tty_in, watch_tty_out);
	redraw = 1;
	errno = saved;
	(void)sig;
}

typedef struct sbuf {
	char *s;
	size_t len, cap;
	size_t line;     /* where the current line starts */
	int cols;        /* lines are cut to this width; 0: not cut */
	bool tty;        /* a terminal: each line erases what was left of the old */
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) JP_PRINTF(2, 3);

static void sb_printf(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t cap = (b->len + (size_t)n + 1) * 2;
		char *s = realloc(b->s, cap);
		if (!s)
			return;
		b->s = s;
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* End a line: cut to the terminal's width (a wrapped line would scroll the
 * view), the rest of the old line erased. */
static void sb_eol(sbuf *b)
{
	if (b->cols > 0 && b->len - b->line > (size_t)b->cols)
		b->len = b->line + (size_t)b->cols;
	sb_printf(b, b->tty ? "\033[K\n" : "\n");
	b->line = b->len;
}

static void sb_bar(sbuf *b, double frac, int width)
{
	if (frac < 0)
		frac = 0;
	if (frac > 1)
		frac = 1;
	int fill = (int)(frac * width + 0.5);
	sb_printf(b, "[");
	for (int i = 0; i < width; i++)
		sb_printf(b, "%c", i < fill ? '#' : '.');
	sb_printf(b, "]");
}

typedef struct prev_sample {
	double t;
	double *busy;   /* per slot */
	int *pid;
	uint32_t n;
} prev_sample;

/* The worker table's optional columns, shown in this order of priority
 * while the width allows. */
enum { COL_CPU, COL_RSS, COL_BUSY, COL_RESP, NCOLS };
static const struct {
	const char *title;
	int width;
} opt_cols[NCOLS] = { { "CPU", 8 }, { "RSS", 10 }, { "BUSY", 8 }, { "RESP", 5 } };

/* slot, pid, state, bar brackets and percentage, task, item, done */
#define CORE_COLS (5 + 8 + 9 + 2 + 5 + 13 + 10 + 8)

static void render(sbuf *b, const jp__status_view *v, prev_sample *prev, int cols, double interval)
{
	double now = jp__now();
	int alive = jp__status_master_alive(&v->head);
	const jp__page_head *h = &v->head;
	char b1[32], b2[32], b3[32];
	b->line = b->len;
	sb_printf(b, "pool %s (%s)  %s  %s x%d  engine %s  up %s  %llu call%s done", v->name, h->comm,
		  pool_state(v, alive), backend_name(v), h->n_jobs, v->pool.engine,
		  fmt_dur(b1, sizeof b1, now - h->start_mono), (unsigned long long)v->pool.calls_done,
		  v->pool.calls_done == 1 ? "" : "s");
	sb_eol(b);
	const char *tf = temp_folder(v);
	sb_printf(b, "shared %s in %llu array%s", fmt_bytes(b1, sizeof b1, (double)v->shared.live_bytes),
		  (unsigned long long)v->shared.live, v->shared.live == 1 ? "" : "s");
	if (v->shared.spares)
		sb_printf(b, " (+%s spare)", fmt_bytes(b2, sizeof b2, (double)v->shared.spare_bytes));
	sb_printf(b, "  temp %s", tf ? tf : "-");
	sb_eol(b);
	sb_eol(b);

	/* the call: the bar takes what the words leave */
	callinfo ci = call_info(v, now);
	if (ci.any) {
		const char *task = v->pool.ntasks ? v->pool.tasks[0] : "?";
		char tail[160];
		int n = 0;
		if (ci.total_known)
			n = snprintf(tail, sizeof tail, " %3.0f%% %llu/%llu", 100 * (ci.frac < 0 ? 0 : ci.frac),
				     (unsigned long long)v->pool.done, (unsigned long long)v->pool.total);
		else
			n = snprintf(tail, sizeof tail, "%llu done, total not known yet",
				     (unsigned long long)v->pool.done);
		n += snprintf(tail + n, sizeof tail - (size_t)n, "  %.0f/s", ci.rate);
		if (ci.active)
			n += snprintf(tail + n, sizeof tail - (size_t)n, "  ETA %s",
				      ci.eta >= 0 ? fmt_dur(b1, sizeof b1, ci.eta) : "?");
		snprintf(tail + n, sizeof tail - (size_t)n, "  %s %s", ci.active ? "elapsed" : "took",
			 fmt_dur(b2, sizeof b2, ci.elapsed));
		sb_printf(b, "call %-4llu %-12.12s ", (unsigned long long)v->pool.call_id, task);
		if (ci.total_known) {
			int barw = cols - 23 - 2 - (int)strlen(tail);
			sb_bar(b, ci.frac, barw < 10 ? 10 : barw > 50 ? 50 : barw);
		}
		sb_printf(b, "%s", tail);
	} else {
		sb_printf(b, "no call yet");
	}
	sb_eol(b);
	sb_eol(b);

	/* the workers: as many optional columns as fit beside a bar of 10 */
	bool show[NCOLS] = { false };
	int used = CORE_COLS + 10;
	for (int k = 0; k < NCOLS; k++)
		if (used + opt_cols[k].width <= cols) {
			show[k] = true;
			used += opt_cols[k].width;
		}
	/* never under 10, or a narrow terminal would show "[]": the line is
	 * cut at the terminal's width instead */
	int barw = 10 + (cols > used ? cols - used : 0);
	if (barw > 30)
		barw = 30;
	sb_printf(b, "%4s %7s %-8s %-*s %-12s %9s %7s", "SLOT", "PID", "STATE", barw + 7, "UTIL", "TASK",
		  "ITEM", "DONE");
	for (int k = 0; k < NCOLS; k++)
		if (show[k])
			sb_printf(b, " %*s", opt_cols[k].width - 1, opt_cols[k].title);
	sb_eol(b);
	if (prev->n != h->nworkers) {
		free(prev->busy);
		free(prev->pid);
		prev->busy = calloc(h->nworkers, sizeof *prev->busy);
		prev->pid = calloc(h->nworkers, sizeof *prev->pid);
		prev->n = prev->busy && prev->pid ? h->nworkers : 0;
		prev->t = 0;
	}
	for (uint32_t i = 0; i < h->nworkers; i++) {
		const jp__page_worker *wk = &v->workers[i];
		double busy = busy_now(wk, now), util;
		if (prev->n && prev->t > 0 && prev->pid[i] == wk->pid && now > prev->t)
			util = (busy - prev->busy[i]) / (now - prev->t);
		else /* the first look: since the pool opened */
			util = now > h->start_mono ? busy / (now - h->start_mono) : 0;
		util = util < 0 ? 0 : util > 1 ? 1 : util;
		if (prev->n) {
			prev->busy[i] = busy;
			prev->pid[i] = wk->pid;
		}
		char item[32] = "-";
		if (wk->state == JP__WS_BUSY)
			snprintf(item, sizeof item, wk->count > 1 ? "%llu+" : "%llu",
				 (unsigned long long)wk->item);
		const char *task = task_of(v, wk);
		sb_printf(b, "%4u %7d %-8s ", i, wk->pid, jp__wstate_name(wk->state));
		sb_bar(b, util, barw);
		sb_printf(b, " %3.0f%% %-12.12s %9s %7llu", 100 * util, task ? task : "-", item,
			  (unsigned long long)wk->tasks_done);
		procinfo pi = wk->state == JP__WS_DEAD ? (procinfo){ 0 } : proc_info(wk->pid);
		for (int k = 0; k < NCOLS; k++) {
			if (!show[k])
				continue;
			const char *cell = "-";
			if (k == COL_CPU && pi.ok)
				cell = fmt_dur(b1, sizeof b1, pi.cpu_s);
			else if (k == COL_RSS && pi.ok)
				cell = fmt_bytes(b2, sizeof b2, (double)pi.rss_bytes);
			else if (k == COL_BUSY)
				cell = fmt_dur(b3, sizeof b3, busy);
			else if (k == COL_RESP) {
				snprintf(b3, sizeof b3, "%u", wk->spawns ? wk->spawns - 1 : 0);
				cell = b3;
			}
			sb_printf(b, " %*s", opt_cols[k].width - 1, cell);
		}
		sb_eol(b);
	}
	prev->t = now;
	sb_eol(b);

	/* the shared arrays */
	sb_printf(b, "SHARED ARRAYS");
	sb_eol(b);
	int mapped[JP__STATUS_ARRAYS], listed = 0;
	count_mappings(v, mapped);
	for (int i = 0; i < JP__STATUS_ARRAYS; i++) {
		const jp__page_array *a = &v->shared.arrays[i];
		if (!a->id)
			continue;
		const char *base = strrchr(a->path, '/');
		char shape[96];
		sb_printf(b, "  %-16s %-10s %-18s %10s  mapped by %d", base ? base + 1 : a->path,
			  jp__dtype_name(a->dtype),
			  fmt_shape(shape, sizeof shape, a->ndim, a->shape, JP__STATUS_DIMS, "x"),
			  fmt_bytes(b1, sizeof b1, (double)a->nbytes), mapped[i]);
		sb_eol(b);
		listed++;
	}
	if (v->shared.unlisted) {
		sb_printf(b, "  and %u more", (unsigned)v->shared.unlisted);
		sb_eol(b);
	}
	if (!listed && !v->shared.unlisted) {
		sb_printf(b, "  none");
		sb_eol(b);
	}
	sb_eol(b);
	sb_printf(b, "%s refresh every %.1fs", watch_tty_in ? "q: quit," : "Ctrl-C: quit,", interval);
	sb_eol(b);
}

static int cmd_watch(const char *target, long count, double interval)
{
	pages ps = { .dirfd = -1 };
	int rc;
	long i = find_target(&ps, target, &rc);
	if (i < 0) {
		pages_free(&ps);
		return rc;
	}
	char name[64];
	snprintf(name, sizeof name, "%s", ps.v[i].name);
	int dirfd = dup(ps.dirfd);
	pages_free(&ps);
	if (dirfd < 0)
		return fail(EXIT_ERROR, "dup: %s", strerror(errno));

	watch_tty_in = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0;
	watch_tty_out = isatty(STDOUT_FILENO);
	struct sigaction sa = { .sa_handler = on_quit }; /* no SA_RESTART: poll wakes */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_winch;
	sigaction(SIGWINCH, &sa, NULL);
	if (watch_tty_in) {
		sa.sa_handler = on_tstp;
		sigaction(SIGTSTP, &sa, NULL);
	}
	atexit(term_restore);
	term_enter(watch_tty_in, watch_tty_out);

	prev_sample prev = { 0 };
	sbuf b = { 0 };
	rc = EXIT_OK;
	const char *ended = NULL;
	for (long frame = 0; !quit_now && (count <= 0 || frame < count); frame++) {
		jp__status_view v;
		char err[256];
		int e = jp__status_read(dirfd, name, &v, err, sizeof err);
		if (e == -ENOENT) {
			ended = "closed";
			break;
		}
		if (e) {
			term_restore();
			rc = fail(exit_for(e), "%s", err);
			break;
		}
		/* a terminal's width (80 if it says none); elsewhere nothing is cut */
		int cols = 80;
		struct winsize ws;
		if (watch_tty_out && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col)
			cols = ws.ws_col;
		else if (!watch_tty_out)
			cols = 132;
		b.len = 0;
		b.tty = watch_tty_out;
		b.cols = watch_tty_out ? cols : 0;
		if (watch_tty_out)
			sb_printf(&b, redraw ? "\033[H\033[2J" : "\033[H");
		else if (frame)
			sb_printf(&b, "\n");
		redraw = 0;
		render(&b, &v, &prev, cols, interval);
		if (watch_tty_out)
			sb_printf(&b, "\033[J");
		bool dead = jp__status_master_alive(&v.head) == 0;
		jp__status_view_free(&v);
		for (size_t off = 0; off < b.len;) {
			ssize_t n = write(STDOUT_FILENO, b.s + off, b.len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				quit_now = 1;
				break;
			}
			off += (size_t)n;
		}
		if (dead) {
			ended = "gone: its master died";
			break;
		}
		if (count > 0 && frame + 1 >= count)
			break;
		/* wait for the next refresh, a key, or a signal */
		double until = jp__now() + interval;
		while (!quit_now && !redraw) {
			double left = until - jp__now();
			if (left <= 0)
				break;
			struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
			int n = poll(&pfd, watch_tty_in ? 1 : 0, (int)(left * 1000) + 1);
			if (n > 0 && (pfd.revents & POLLIN)) {
				char key[16];
				ssize_t k = read(STDIN_FILENO, key, sizeof key);
				for (ssize_t j = 0; j < k; j++)
					if (key[j] == 'q' || key[j] == 'Q' || key[j] == 3)
						quit_now = 1;
			}
		}
	}
	term_restore();
	if (ended)
		printf("pool %s %s\n", name, ended);
	free(b.s);
	free(prev.busy);
	free(prev.pid);
	close(dirfd);
	return rc;
}

/* ---- clean ----------------------------------------------------------------------- */

typedef struct cleaning {
	bool dry_run;
	uint64_t freed;
	unsigned folders, pages, skipped;
	char **done;           /* folders handled, so the scan does not count them twice */
	size_t ndone;
} cleaning;

static void remember(cleaning *cl, const char *path)
{
	char **d = realloc(cl->done, (cl->ndone + 1) * sizeof *d);
	if (d && (d[cl->ndone] = strdup(path))) {
		cl->done = d;
		cl->ndone++;
	} else if (d) {
		cl->done = d;
	}
}

static bool handled(const cleaning *cl, const char *path)
{
	for (size_t i = 0; i < cl->ndone; i++)
		if (!strcmp(cl->done[i], path))
			return true;
	return false;
}

/* Remove a pool folder of a dead master: the files in it (never below,
 * never through a link, never another user's), then the folder. */
static void remove_pool_folder(cleaning *cl, const char *dir, const char *why)
{
	if (handled(cl, dir))
		return;
	remember(cl, dir);
	struct stat st;
	if (lstat(dir, &st) < 0)
		return; /* gone already */
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
		printf("skipped %s: not a folder of this user's\n", dir);
		cl->skipped++;
		return;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		printf("skipped %s: %s\n", dir, strerror(errno));
		cl->skipped++;
		return;
	}
	uint64_t bytes = 0;
	unsigned files = 0, kept = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat fs;
		if (fstatat(dfd, de->d_name, &fs, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(fs.st_mode) || fs.st_uid != geteuid()) {
			kept++;
			continue;
		}
		if (cl->dry_run || unlinkat(dfd, de->d_name, 0) == 0) {
			bytes += (uint64_t)fs.st_blocks * 512;
			files++;
		} else {
			kept++;
		}
	}
	closedir(d);
	char b[32];
	if (!cl->dry_run && rmdir(dir) < 0) {
		printf("removed %u file%s (%s) from %s (%s), but not the folder: %s\n", files,
		       files == 1 ? "" : "s", fmt_bytes(b, sizeof b, (double)bytes), dir, why,
		       kept ? "it holds what is not ours" : strerror(errno));
		cl->skipped++;
	} else {
		printf("%s %s (%s): %u file%s, %s\n", cl->dry_run ? "would remove" : "removed", dir, why,
		       files, files == 1 ? "" : "s", fmt_bytes(b, sizeof b, (double)bytes));
		cl->folders++;
	}
	cl->freed += bytes;
}

/* "<pid>-..." at the start of a name: the PID, or 0. */
static int leading_pid(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	return end != s && *end == '-' && v > 0 && v <= INT_MAX ? (int)v : 0;
}

static bool pid_gone(int pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

static void remove_page(cleaning *cl, int dirfd, const char *dir, const char *name, const char *why)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		printf("skipped %s/%s: not a status page of this user's\n", dir, name);
		cl->skipped++;
		return;
	}
	if (!cl->dry_run && unlinkat(dirfd, name, 0) < 0) {
		printf("could not remove %s/%s: %s\n", dir, name, strerror(errno));
		cl->skipped++;
		return;
	}
	char b[32];
	uint64_t bytes = (uint64_t)st.st_blocks * 512;
	printf("%s status page %s/%s (%s): %s\n", cl->dry_run ? "would remove" : "removed", dir, name, why,
	       fmt_bytes(b, sizeof b, (double)bytes));
	cl->freed += bytes;
	cl->pages++;
}

/* Folders "jobpool-<pid>-XXXXXX" of dead PIDs under a temp root: a pool's,
 * left when its janitor died too (or its status page was off). */
static void scan_root(cleaning *cl, const char *root)
{
	if (!root || !*root)
		return;
	DIR *d = opendir(root);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "jobpool-", 8) || !strncmp(de->d_name, "jobpool-status-", 15))
			continue;
		int pid = leading_pid(de->d_name + 8);
		const char *rest = pid ? strchr(de->d_name + 8, '-') : NULL;
		/* mkdtemp's six characters, nothing else */
		if (!pid || !rest || strlen(rest + 1) != 6 || !pid_gone(pid))
			continue;
		char path[PATH_MAX];
		if (snprintf(path, sizeof path, "%s/%s", root, de->d_name) >= (int)sizeof path)
			continue;
		struct stat st;
		if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (st.st_uid != geteuid())
			continue; /* another user's: not ours to judge */
		char why[64];
		snprintf(why, sizeof why, "master %d is gone", pid);
		remove_pool_folder(cl, path, why);
	}
	closedir(d);
}

static int cmd_clean(bool dry_run)
{
	cleaning cl = { .dry_run = dry_run };
	pages ps = { .dirfd = -1 };
	int rc = open_pages_dir(&ps);
	if (rc)
		return rc;
	char *roots[8] = { 0 };
	size_t nroots = 0;
	if (ps.dirfd >= 0) {
		int fd = dup(ps.dirfd);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			jp__status_view v;
			char err[256], why[96];
			int e = jp__status_read(ps.dirfd, de->d_name, &v, err, sizeof err);
			if (e == -EPERM) {
				printf("skipped %s/%s: not a status page of this user's\n", ps.dir, de->d_name);
				cl.skipped++;
				continue;
			}
			if (e) {
				/* unreadable (opening, another version, cut short): judged
				 * by the PID in its name alone */
				int pid = leading_pid(de->d_name);
				if (pid && pid_gone(pid)) {
					snprintf(why, sizeof why, "master %d is gone", pid);
					remove_page(&cl, ps.dirfd, ps.dir, de->d_name, why);
				}
				continue;
			}
			if (jp__status_master_alive(&v.head) != 0) {
				jp__status_view_free(&v);
				continue; /* live, or cannot tell: left alone */
			}
			snprintf(why, sizeof why, "pool %s, master %d is gone", v.name, v.head.pid);
			for (uint32_t i = 0; i < v.shared.nfolders; i++) {
				/* only what a pool names its folders: jobpool-<its pid>-... */
				const char *f = v.shared.folders[i];
				const char *base = strrchr(f, '/');
				if (base && !strncmp(base + 1, "jobpool-", 8) &&
				    leading_pid(base + 9) == v.head.pid)
					remove_pool_folder(&cl, f, why);
			}
			if (v.head.temp_root[0] && nroots < 8)
				roots[nroots++] = strdup(v.head.temp_root);
			remove_page(&cl, ps.dirfd, ps.dir, de->d_name, why);
			jp__status_view_free(&v);
		}
		if (d)
			closedir(d);
		else if (fd >= 0)
			close(fd);
		/* the folder goes with its last page */
		if (!dry_run)
			rmdir(ps.dir);
	}
	/* folders whose page is gone or was never made */
	scan_root(&cl, getenv("JOBPOOL_TEMP_FOLDER"));
	scan_root(&cl, "/dev/shm");
	scan_root(&cl, getenv("TMPDIR"));
	scan_root(&cl, "/tmp");
	for (size_t i = 0; i < nroots; i++) {
		scan_root(&cl, roots[i]);
		free(roots[i]);
	}
	char b[32];
	if (!cl.folders && !cl.pages)
		printf("nothing to clean: no pool of a dead master left anything\n");
	else
		printf("%s %s: %u folder%s, %u status page%s\n", dry_run ? "would free" : "freed",
		       fmt_bytes(b, sizeof b, (double)cl.freed), cl.folders, cl.folders == 1 ? "" : "s",
		       cl.pages, cl.pages == 1 ? "" : "s");
	for (size_t i = 0; i < cl.ndone; i++)
		free(cl.done[i]);
	free(cl.done);
	pages_free(&ps);
	return EXIT_OK;
}

/* ---- file ---------------------------------------------------------------------- */

static char dtype_kind(jp_dtype t)
{
	switch (t) {
	case JP_BOOL: return 'b';
	case JP_INT8: case JP_INT16: case JP_INT32: case JP_INT64: return 'i';
	case JP_UINT8: case JP_UINT16: case JP_UINT32: case JP_UINT64: return 'u';
	case JP_FLOAT32: case JP_FLOAT64: return 'f';
	default: return 'c';
	}
}

static int cmd_file(const char *path, bool json)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(errno == EACCES ? EXIT_PERM : EXIT_BADFILE, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(EXIT_BADFILE, "%s: not a regular file", path);
	}
	size_t want = 4096, have = 0;
	uint8_t *buf = NULL;
	jp__npy_header h;
	int err = -EAGAIN;
	while (err == -EAGAIN) {
		if (want > JP__NPY_HEADER_MAX + 64)
			want = JP__NPY_HEADER_MAX + 64;
		uint8_t *nb = realloc(buf, want);
		if (!nb) {
			err = -ENOMEM;
			break;
		}
		buf = nb;
		while (have < want) {
			ssize_t n = pread(fd, buf + have, want - have, (off_t)have);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			have += (size_t)n;
		}
		err = jp__npy_parse_header(buf, have, &h);
		if (err == -EAGAIN) {
			if (have < want || h.data_offset <= have) {
				/* the file ends inside its header */
				snprintf(h.msg, sizeof h.msg, "the file ends inside its header (%zu bytes)", have);
				err = -EINVAL;
			} else {
				want = h.data_offset;
			}
		}
	}
	close(fd);
	free(buf);
	if (!err)
		err = jp__npy_check_size(&h, (uint64_t)st.st_size);
	if (err == -ENOMEM)
		return fail(EXIT_ERROR, "out of memory");
	if (err)
		return fail(EXIT_BADFILE, "%s: %s .npy file: %s", path,
			    err == JP_ENOTSUP ? "unsupported" : "not a valid", h.msg);
	char descr[16];
	snprintf(descr, sizeof descr, "%c%c%zu", h.itemsize == 1 ? '|' : h.big_endian ? '>' : '<',
		 dtype_kind(h.dtype), h.itemsize);
	uint64_t items = 1;
	for (int d = 0; d < h.ndim; d++)
		items *= h.shape[d];
	uint64_t trailing = (uint64_t)st.st_size - h.data_offset - h.nbytes;
	if (json) {
		jw w = { .f = stdout };
		jw_open(&w, NULL, '{');
		jw_str(&w, "path", path);
		char ver[16];
		snprintf(ver, sizeof ver, "%d.%d", h.major, h.minor);
		jw_str(&w, "version", ver);
		jw_str(&w, "dtype", jp__dtype_name((int32_t)h.dtype));
		jw_str(&w, "descr", descr);
		jw_str(&w, "byte_order", h.itemsize == 1 ? "none" : h.big_endian ? "big" : "little");
		jw_open(&w, "shape", '[');
		for (int d = 0; d < h.ndim; d++)
			jw_uint(&w, NULL, h.shape[d]);
		jw_close(&w, ']');
		jw_str(&w, "order", h.fortran_order ? "F" : "C");
		jw_bool(&w, "fortran_order", h.fortran_order);
		jw_uint(&w, "items", items);
		jw_uint(&w, "itemsize", h.itemsize);
		jw_uint(&w, "data_offset", h.data_offset);
		jw_uint(&w, "data_bytes", h.nbytes);
		jw_uint(&w, "file_bytes", (uint64_t)st.st_size);
		jw_uint(&w, "trailing_bytes", trailing);
		jw_bool(&w, "aligned", h.data_offset % 64 == 0);
		jw_close(&w, '}');
	} else {
		char shape[1024], b[32];
		uint64_t shp[JP_MAX_NDIM];
		for (int d = 0; d < h.ndim; d++)
			shp[d] = h.shape[d];
		fmt_shape(shape, sizeof shape, h.ndim, shp, JP_MAX_NDIM, ", ");
		printf("%s: NumPy .npy, format version %d.%d\n", path, h.major, h.minor);
		printf("  dtype        %s ('%s', %s)\n", jp__dtype_name((int32_t)h.dtype), descr,
		       h.itemsize == 1 ? "no byte order" : h.big_endian ? "big-endian" : "little-endian");
		printf("  shape        (%s%s)\n", shape, h.ndim == 1 ? "," : "");
		printf("  order        %s\n", h.fortran_order ? "Fortran (column-major)" : "C (row-major)");
		printf("  items        %llu\n", (unsigned long long)items);
		printf("  data offset  %zu%s\n", h.data_offset,
		       h.data_offset % 64 == 0 ? " (64-byte aligned)" : "");
		printf("  data bytes   %zu (%s)\n", h.nbytes, fmt_bytes(b, sizeof b, (double)h.nbytes));
		printf("  file bytes   %llu", (unsigned long long)st.st_size);
		if (trailing)
			printf(" (%llu after the data)", (unsigned long long)trailing);
		printf("\n");
	}
	return EXIT_OK;
}

/* ---- trace: a small JSON reader ---------------------------------------------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jval {
	enum jtype type;
	double num;
	char *str;           /* J_STR */
	struct jval *items;  /* J_ARR, J_OBJ (values) */
	char **keys;         /* J_OBJ */
	size_t n;
} jval;

typedef struct jparser {
	const char *s, *end, *start;
	char err[128];
	int depth;
} jparser;

static void jfree(jval *v)
{
	if (v->type == J_STR)
		free(v->str);
	for (size_t i = 0; i < v->n; i++) {
		jfree(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	*v = (jval){ 0 };
}

static bool jerr(jparser *p, const char *what)
{
	if (!p->err[0])
		snprintf(p->err, sizeof p->err, "%s at byte %td", what, p->s - p->start);
	return false;
}

static void jws(jparser *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
		p->s++;
}

static void put_utf8(char *out, size_t *k, unsigned cp)
{
	if (cp < 0x80) {
		out[(*k)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*k)++] = (char)(0xc0 | cp >> 6);
		out[(*k)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*k)++] = (char)(0xe0 | cp >> 12);
		out[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*k)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*k)++] = (char)(0xf0 | cp >> 18);
		out[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*k)++] = (char)(0x80 | (cp & 0x3f));
	}
}

static bool jstring(jparser *p, char **out)
{
	p->s++; /* the opening quote */
	const char *q = p->s;
	while (q < p->end && *q != '"')
		q += *q == '\\' ? 2 : 1;
	if (q >= p->end)
		return jerr(p, "unterminated string");
	char *str = malloc((size_t)(q - p->s) * 2 + 1);
	if (!str)
		return jerr(p, "out of memory");
	size_t k = 0;
	while (*p->s != '"') {
		unsigned char c = (unsigned char)*p->s++;
		if (c < 0x20) {
			free(str);
			return jerr(p, "control character in a string");
		}
		if (c != '\\') {
			str[k++] = (char)c;
			continue;
		}
		char e = *p->s++;
		switch (e) {
		case '"': case '\\': case '/': str[k++] = e; break;
		case 'b': str[k++] = '\b'; break;
		case 'f': str[k++] = '\f'; break;
		case 'n': str[k++] = '\n'; break;
		case 'r': str[k++] = '\r'; break;
		case 't': str[k++] = '\t'; break;
		case 'u': {
			unsigned cp = 0;
			for (int i = 0; i < 4; i++) {
				char h = p->s < p->end ? *p->s++ : 0;
				if (!isxdigit((unsigned char)h)) {
					free(str);
					return jerr(p, "bad \\u escape");
				}
				cp = cp * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
			}
			put_utf8(str, &k, cp);
			break;
		}
		default:
			free(str);
			return jerr(p, "bad escape");
		}
	}
	p->s++;
	str[k] = '\0';
	*out = str;
	return true;
}

static bool jvalue(jparser *p, jval *v);

static bool jpush(jval *v, jval *item, char *key)
{
	if ((v->n & (v->n - 1)) == 0) { /* 0, 1, 2, 4...: grow */
		size_t cap = v->n ? 2 * v->n : 1;
		jval *items = realloc(v->items, cap * sizeof *items);
		if (!items)
			return false;
		v->items = items;
		if (v->type == J_OBJ) {
			char **keys = realloc(v->keys, cap * sizeof *keys);
			if (!keys)
				return false;
			v->keys = keys;
		}
	}
	v->items[v->n] = *item;
	if (v->type == J_OBJ)
		v->keys[v->n] = key;
	v->n++;
	return true;
}

static bool jcontainer(jparser *p, jval *v, bool obj)
{
	*v = (jval){ .type = obj ? J_OBJ : J_ARR };
	if (++p->depth > 64)
		return jerr(p, "nested too deep");
	p->s++;
	jws(p);
	if (p->s < p->end && *p->s == (obj ? '}' : ']')) {
		p->s++;
		p->depth--;
		return true;
	}
	for (;;) {
		char *key = NULL;
		jws(p);
		if (obj) {
			if (p->s >= p->end || *p->s != '"' || !jstring(p, &key))
				return jerr(p, "expected a key");
			jws(p);
			if (p->s >= p->end || *p->s != ':') {
				free(key);
				return jerr(p, "expected ':'");
			}
			p->s++;
		}
		jval item;
		if (!jvalue(p, &item)) {
			free(key);
			return false;
		}
		if (!jpush(v, &item, key)) {
			jfree(&item);
			free(key);
			return jerr(p, "out of memory");
		}
		jws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == (obj ? '}' : ']')) {
			p->s++;
			p->depth--;
			return true;
		}
		return jerr(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static bool jvalue(jparser *p, jval *v)
{
	*v = (jval){ 0 };
	jws(p);
	if (p->s >= p->end)
		return jerr(p, "unexpected end");
	char c = *p->s;
	if (c == '{' || c == '[')
		return jcontainer(p, v, c == '{');
	if (c == '"') {
		v->type = J_STR;
		return jstring(p, &v->str);
	}
	static const struct {
		const char *lit;
		enum jtype t;
		double num;
	} lits[] = { { "true", J_BOOL, 1 }, { "false", J_BOOL, 0 }, { "null", J_NULL, 0 } };
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(lits[i].lit);
		if ((size_t)(p->end - p->s) >= n && !memcmp(p->s, lits[i].lit, n)) {
			p->s += n;
			v->type = lits[i].t;
			v->num = lits[i].num;
			return true;
		}
	}
	if (c == '-' || isdigit((unsigned char)c)) {
		char *end;
		v->type = J_NUM;
		v->num = strtod(p->s, &end);
		if (end == p->s || end > p->end)
			return jerr(p, "bad number");
		p->s = end;
		return true;
	}
	return jerr(p, "unexpected character");
}

static const jval *jget(const jval *o, const char *key)
{
	if (!o || o->type != J_OBJ)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->keys[i], key))
			return &o->items[i];
	return NULL;
}

static double jnum(const jval *o, const char *key, double dflt)
{
	const jval *v = jget(o, key);
	return v && v->type == J_NUM ? v->num : dflt;
}

static const char *jstr(const jval *o, const char *key)
{
	const jval *v = jget(o, key);
	return v && v->type == J_STR ? v->str : NULL;
}

/* ---- trace: the summary ----------------------------------------------------------- */

typedef struct tbatch {
	double ts, dur, waited;
	const char *name;
	long long first, count, call;
	int tid;
} tbatch;

typedef struct ttrack {
	int tid;
	const char *name;
	size_t nbatches;
	long long items;
	double busy, waited, first_ts, last_end;
	double idle, largest_gap, largest_gap_at;
} ttrack;

static int cmp_batch_tid_ts(const void *a, const void *b)
{
	const tbatch *x = a, *y = b;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return (x->ts > y->ts) - (x->ts < y->ts);
}

static int cmp_dur_desc(const void *a, const void *b)
{
	const tbatch *x = *(tbatch *const *)a, *y = *(tbatch *const *)b;
	return (x->dur < y->dur) - (x->dur > y->dur);
}

typedef struct tgap {
	int tid;
	double at, len;
} tgap;

static int cmp_gap_desc(const void *a, const void *b)
{
	const tgap *x = a, *y = b;
	return (x->len < y->len) - (x->len > y->len);
}

static char *slurp(const char *path, size_t *len, int *rc)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*rc = fail(errno == EACCES ? EXIT_PERM : EXIT_BADFILE, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*rc = fail(EXIT_BADFILE, "%s: not a regular file", path);
		return NULL;
	}
	char *buf = read_all(fd, len);
	close(fd);
	if (!buf)
		*rc = fail(EXIT_ERROR, "out of memory");
	return buf;
}

static int cmd_trace(const char *path)
{
	int rc = EXIT_OK;
	size_t len;
	char *text = slurp(path, &len, &rc);
	if (!text)
		return rc;
	jparser p = { .s = text, .start = text, .end = text + len };
	jval root;
	bool ok = jvalue(&p, &root);
	if (ok) {
		jws(&p);
		if (p.s != p.end) {
			jerr(&p, "text after the JSON value");
			ok = false;
			jfree(&root);
		}
	}
	free(text);
	if (!ok)
		return fail(EXIT_BADFILE, "%s: not valid JSON: %s", path, p.err);
	/* the object form, or the bare array form Chrome also takes */
	const jval *events = root.type == J_ARR ? &root : jget(&root, "traceEvents");
	if (!events || events->type != J_ARR) {
		jfree(&root);
		return fail(EXIT_BADFILE, "%s: not a Chrome trace: no \"traceEvents\" array", path);
	}
	tbatch *bs = malloc((events->n + 1) * sizeof *bs);
	const char **tnames = NULL;
	int *tname_tid = NULL;
	size_t nb = 0, ntn = 0, ncalls = 0;
	double calls_time = 0;
	int master = -1;
	for (size_t i = 0; bs && i < events->n; i++) {
		const jval *e = &events->items[i];
		const char *ph = jstr(e, "ph"), *cat = jstr(e, "cat"), *name = jstr(e, "name");
		if (!ph)
			continue;
		if (!strcmp(ph, "M") && name && !strcmp(name, "thread_name")) {
			const char *tn = jstr(jget(e, "args"), "name");
			const char **n1 = realloc(tnames, (ntn + 1) * sizeof *n1);
			int *n2 = realloc(tname_tid, (ntn + 1) * sizeof *n2);
			if (n1)
				tnames = n1;
			if (n2)
				tname_tid = n2;
			if (n1 && n2 && tn) {
				tnames[ntn] = tn;
				tname_tid[ntn++] = (int)jnum(e, "tid", -1);
			}
			continue;
		}
		if (strcmp(ph, "X"))
			continue;
		if (cat && !strcmp(cat, "call")) {
			ncalls++;
			calls_time += jnum(e, "dur", 0) * 1e-6;
			continue;
		}
		const jval *args = jget(e, "args");
		bs[nb] = (tbatch){ .ts = jnum(e, "ts", 0) * 1e-6, .dur = jnum(e, "dur", 0) * 1e-6,
				   .waited = jnum(args, "waited_us", 0) * 1e-6, .name = name ? name : "?",
				   .first = (long long)jnum(args, "first", -1),
				   .count = (long long)jnum(args, "count", 1),
				   .call = (long long)jnum(args, "call", 0), .tid = (int)jnum(e, "tid", 0) };
		if (master < 0)
			master = (int)jnum(e, "pid", -1);
		nb++;
	}
	if (!bs) {
		jfree(&root);
		return fail(EXIT_ERROR, "out of memory");
	}
	const jval *other = jget(&root, "otherData");
	if (!nb) {
		printf("%s: a trace with no batch in it\n", path);
		free(bs);
		free(tnames);
		free(tname_tid);
		jfree(&root);
		return EXIT_OK;
	}
	qsort(bs, nb, sizeof *bs, cmp_batch_tid_ts);
	double t0 = bs[0].ts, t1 = bs[0].ts + bs[0].dur;
	for (size_t i = 0; i < nb; i++) {
		if (bs[i].ts < t0)
			t0 = bs[i].ts;
		if (bs[i].ts + bs[i].dur > t1)
			t1 = bs[i].ts + bs[i].dur;
	}
	double span = t1 - t0;
	ttrack *tr = calloc(nb, sizeof *tr);
	tgap *gaps = calloc(nb * 2 + 2, sizeof *gaps);
	size_t ntr = 0, ngaps = 0;
	for (size_t i = 0; tr && gaps && i < nb; i++) {
		const tbatch *b = &bs[i];
		if (!ntr || tr[ntr - 1].tid != b->tid) {
			tr[ntr] = (ttrack){ .tid = b->tid, .first_ts = b->ts, .last_end = t0 };
			for (size_t k = 0; k < ntn; k++)
				if (tname_tid[k] == b->tid)
					tr[ntr].name = tnames[k];
			ntr++;
		}
		ttrack *t = &tr[ntr - 1];
		double gap = b->ts - t->last_end;
		if (gap > 0) {
			t->idle += gap;
			gaps[ngaps++] = (tgap){ .tid = b->tid, .at = t->last_end, .len = gap };
			if (gap > t->largest_gap) {
				t->largest_gap = gap;
				t->largest_gap_at = t->last_end;
			}
		}
		t->nbatches++;
		t->items += b->count;
		t->busy += b->dur;
		t->waited += b->waited;
		if (b->ts + b->dur > t->last_end)
			t->last_end = b->ts + b->dur;
	}
	if (!tr || !gaps) {
		free(tr);
		free(gaps);
		free(bs);
		free(tnames);
		free(tname_tid);
		jfree(&root);
		return fail(EXIT_ERROR, "out of memory");
	}
	for (size_t k = 0; k < ntr; k++) {
		/* idle after its last batch, to the end of the traced span */
		double tail = t1 - tr[k].last_end;
		if (tail > 0) {
			tr[k].idle += tail;
			gaps[ngaps++] = (tgap){ .tid = tr[k].tid, .at = tr[k].last_end, .len = tail };
			if (tail > tr[k].largest_gap) {
				tr[k].largest_gap = tail;
				tr[k].largest_gap_at = tr[k].last_end;
			}
		}
	}
	const char *backend = jstr(other, "backend");
	printf("%s: %zu batches on %zu worker%s over %.6f s", path, nb, ntr, ntr == 1 ? "" : "s", span);
	if (master >= 0)
		printf(", master %d", master);
	if (backend)
		printf(" (%s, n_jobs %d)", backend, (int)jnum(other, "n_jobs", 0));
	printf("\n");
	if (ncalls)
		printf("%zu call%s, %.6f s in calls\n", ncalls, ncalls == 1 ? "" : "s", calls_time);
	printf("\n%-28s %8s %10s %11s %7s %11s %11s %11s\n", "WORKER", "BATCHES", "ITEMS", "BUSY s",
	       "UTIL", "WAITED s", "IDLE s", "MAX GAP s");
	for (size_t k = 0; k < ntr; k++) {
		char label[64];
		if (tr[k].name)
			snprintf(label, sizeof label, "%.27s", tr[k].name);
		else
			snprintf(label, sizeof label, "tid %d", tr[k].tid);
		printf("%-28s %8zu %10lld %11.6f %6.1f%% %11.6f %11.6f %11.6f\n", label, tr[k].nbatches,
		       tr[k].items, tr[k].busy, span > 0 ? 100 * tr[k].busy / span : 100.0, tr[k].waited,
		       tr[k].idle, tr[k].largest_gap);
	}
	size_t top = nb < 5 ? nb : 5;
	tbatch **order = malloc(nb * sizeof *order);
	if (order) {
		for (size_t i = 0; i < nb; i++)
			order[i] = &bs[i];
		qsort(order, nb, sizeof *order, cmp_dur_desc);
		printf("\nlongest batches:\n");
		for (size_t i = 0; i < top; i++)
			printf("  %11.6f s  tid %-3d %-20.20s items [%lld, %lld)  call %lld  at %.6f s\n",
			       order[i]->dur, order[i]->tid, order[i]->name, order[i]->first,
			       order[i]->first + order[i]->count, order[i]->call, order[i]->ts - t0);
		free(order);
	}
	qsort(gaps, ngaps, sizeof *gaps, cmp_gap_desc);
	printf("\nlargest idle gaps:\n");
	if (!ngaps)
		printf("  none: every worker was busy from the first batch to the last\n");
	for (size_t i = 0; i < ngaps && i < 5; i++)
		printf("  %11.6f s  tid %-3d from %.6f s\n", gaps[i].len, gaps[i].tid, gaps[i].at - t0);
	free(tr);
	free(gaps);
	free(bs);
	free(tnames);
	free(tname_tid);
	jfree(&root);
	return EXIT_OK;
}

/* ---- cache: a result cache's entries ------------------------------------------- */

typedef struct centry {
	jp__memory_entry e;
	bool ok;
	char why[256];
} centry;

typedef struct ctask {
	char task[256];
	uint64_t entries, bytes;
} ctask;

static int cmp_centry_recent(const void *a, const void *b)
{
	const centry *x = a, *y = b;
	return (x->e.last_used < y->e.last_used) - (x->e.last_used > y->e.last_used);
}

static const char *fmt_when(char *buf, size_t cap, double t)
{
	time_t secs = (time_t)t;
	struct tm tm;
	if (!localtime_r(&secs, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, cap, "-");
	return buf;
}

/* An entry the header of which cannot be read is listed with its problem:
 * a reader of the cache would compute it again. */
static int cmd_cache(const char *dir, bool json)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail(errno == ENOTDIR ? EXIT_BADFILE : exit_for(-errno), "%s: %s", dir, strerror(errno));
	int lfd = dup(dfd);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!d) {
		int e = errno;
		if (lfd >= 0)
			close(lfd);
		close(dfd);
		return fail(exit_for(-e), "%s: %s", dir, strerror(e));
	}
	centry *v = NULL;
	size_t n = 0, cap = 0, temps = 0, bad = 0;
	uint64_t total = 0, payload = 0, temp_bytes = 0;
	int rc = EXIT_OK;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		bool entry = jp__memory_is_entry_name(de->d_name);
		if (!entry && !jp__memory_is_temp_name(de->d_name))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone meanwhile */
		if (!entry) {
			temps++;
			temp_bytes += (uint64_t)st.st_size;
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			centry *nv = realloc(v, cap * sizeof *nv);
			if (!nv) {
				rc = fail(EXIT_ERROR, "out of memory");
				break;
			}
			v = nv;
		}
		centry *c = &v[n++];
		memset(c, 0, sizeof *c);
		int err = jp__memory_entry_read(dfd, de->d_name, &c->e, c->why, sizeof c->why);
		c->ok = err == 0;
		if (err && err != -EBADMSG)
			snprintf(c->why, sizeof c->why, "%s", strerror(-err));
		if (!c->ok) {
			/* what the file itself says: its name is its key */
			bad++;
			snprintf(c->e.task, sizeof c->e.task, "?");
			c->e.file_len = (uint64_t)st.st_size;
			c->e.last_used = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec * 1e-9;
			unsigned long long hi = 0, lo = 0;
			sscanf(de->d_name, "%16llx%16llx", &hi, &lo);
			c->e.key = (jp__digest){ .lo = lo, .hi = hi };
		}
		total += c->e.file_len;
		payload += c->ok ? c->e.payload_len : 0;
	}
	closedir(d);
	close(dfd);
	if (rc) {
		free(v);
		return rc;
	}
	qsort(v, n, sizeof *v, cmp_centry_recent);
	/* per task, in order of last use */
	ctask *tasks = calloc(n ? n : 1, sizeof *tasks);
	size_t ntasks = 0;
	for (size_t i = 0; tasks && i < n; i++) {
		size_t k = 0;
		while (k < ntasks && strcmp(tasks[k].task, v[i].e.task))
			k++;
		if (k == ntasks)
			snprintf(tasks[ntasks++].task, sizeof tasks[0].task, "%s", v[i].e.task);
		tasks[k].entries++;
		tasks[k].bytes += v[i].e.file_len;
	}
	struct timespec now_ts;
	clock_gettime(CLOCK_REALTIME, &now_ts);
	double now_s = (double)now_ts.tv_sec + (double)now_ts.tv_nsec * 1e-9;
	char key[40], b1[32], b2[32], b3[32];
	if (json) {
		jw w = { .f = stdout };
		jw_open(&w, NULL, '{');
		jw_str(&w, "dir", dir);
		jw_open(&w, "entries", '[');
		for (size_t i = 0; i < n; i++) {
			const centry *c = &v[i];
			snprintf(key, sizeof key, "%016llx%016llx", (unsigned long long)c->e.key.hi,
				 (unsigned long long)c->e.key.lo);
			jw_open(&w, NULL, '{');
			jw_str(&w, "key", key);
			if (c->ok) {
				jw_str(&w, "task", c->e.task);
				jw_uint(&w, "version", c->e.version);
				jw_uint(&w, "payload_bytes", c->e.payload_len);
				jw_num(&w, "created", c->e.created);
			} else {
				jw_null(&w, "task");
				jw_null(&w, "version");
				jw_null(&w, "payload_bytes");
				jw_null(&w, "created");
			}
			jw_uint(&w, "bytes", c->e.file_len);
			jw_num(&w, "last_used", c->e.last_used);
			jw_bool(&w, "ok", c->ok);
			if (c->ok)
				jw_null(&w, "problem");
			else
				jw_str(&w, "problem", c->why);
			jw_close(&w, '}');
		}
		jw_close(&w, ']');
		jw_open(&w, "totals", '{');
		jw_uint(&w, "entries", n);
		jw_uint(&w, "bytes", total);
		jw_uint(&w, "payload_bytes", payload);
		jw_uint(&w, "bad_entries", bad);
		jw_uint(&w, "temporary_files", temps);
		jw_uint(&w, "temporary_bytes", temp_bytes);
		jw_open(&w, "tasks", '[');
		for (size_t k = 0; tasks && k < ntasks; k++) {
			jw_open(&w, NULL, '{');
			jw_str(&w, "task", tasks[k].task);
			jw_uint(&w, "entries", tasks[k].entries);
			jw_uint(&w, "bytes", tasks[k].bytes);
			jw_close(&w, '}');
		}
		jw_close(&w, ']');
		jw_close(&w, '}');
		jw_close(&w, '}');
	} else {
		printf("cache %s: %zu entr%s, %s", dir, n, n == 1 ? "y" : "ies",
		       fmt_bytes(b1, sizeof b1, (double)total));
		if (bad)
			printf(", %zu unreadable (recomputed on use)", bad);
		if (temps)
			printf(", %zu temporary file%s (%s) of stores in progress or interrupted", temps,
			       temps == 1 ? "" : "s", fmt_bytes(b2, sizeof b2, (double)temp_bytes));
		printf("\n");
		if (n) {
			printf("\n%-19s %8s  %-24s %8s %10s  %s\n", "LAST USED", "AGO", "TASK", "VERSION", "SIZE", "KEY");
			for (size_t i = 0; i < n; i++) {
				const centry *c = &v[i];
				char ver[24];
				snprintf(key, sizeof key, "%016llx%016llx", (unsigned long long)c->e.key.hi,
					 (unsigned long long)c->e.key.lo);
				snprintf(ver, sizeof ver, c->ok ? "%llu" : "?", (unsigned long long)c->e.version);
				printf("%-19s %8s  %-24s %8s %10s  %s%s%s\n", fmt_when(b1, sizeof b1, c->e.last_used),
				       fmt_dur(b2, sizeof b2, now_s - c->e.last_used), c->e.task, ver,
				       fmt_bytes(b3, sizeof b3, (double)c->e.file_len), key, c->ok ? "" : "  ",
				       c->ok ? "" : c->why);
			}
			printf("\n%-24s %8s %10s\n", "TASK", "ENTRIES", "SIZE");
			for (size_t k = 0; tasks && k < ntasks; k++)
				printf("%-24s %8llu %10s\n", tasks[k].task, (unsigned long long)tasks[k].entries,
				       fmt_bytes(b1, sizeof b1, (double)tasks[k].bytes));
			printf("%-24s %8zu %10s\n", "total", n, fmt_bytes(b1, sizeof b1, (double)total));
		}
	}
	free(tasks);
	free(v);
	return EXIT_OK;
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s COMMAND [OPTIONS]\n\n"
		"  list [--json]                 the live pools of this user\n"
		"  show PID[-N] [--json]         one pool in full: options, workers, call, shared arrays\n"
		"  watch PID[-N] [--count N] [--interval S]\n"
		"                                a live view, refreshed every S seconds (1); q quits\n"
		"  clean [--dry-run]             remove what pools of dead masters left behind\n"
		"  file PATH [--json]            the header of a .npy file, validated\n"
		"  trace PATH                    summarise a JOBPOOL_TRACE file per worker\n"
		"  cache DIR [--json]            a result cache's entries (task, version, size, last use)\n\n"
		"Exit status: 0 done, 1 usage, 2 no such pool, 3 permission denied, 4 bad file,\n"
		"5 other failure. Status pages are read from $JOBPOOL_STATUS_DIR, else\n"
		"/dev/shm/jobpool-status-UID. See jobpool-inspect(1).\n",
		prog);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "count", required_argument, NULL, 'c' },
		{ "interval", required_argument, NULL, 'i' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	bool json = false, dry_run = false;
	long count = 0;
	double interval = 1.0;
	int c;
	while ((c = getopt_long(argc, argv, "jc:i:nhV", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'n':
			dry_run = true;
			break;
		case 'c':
			errno = 0;
			count = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || count < 1)
				return fail(EXIT_USAGE, "--count \"%s\": expected a count >= 1", optarg);
			break;
		case 'i':
			errno = 0;
			interval = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(interval >= 0.05 && interval <= 3600))
				return fail(EXIT_USAGE, "--interval \"%s\": expected seconds, 0.05 to 3600", optarg);
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("jobpool-inspect %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[optind];
	int nargs = argc - optind - 1;
	char **args = argv + optind + 1;
	struct {
		const char *name;
		int nargs;
		bool json, count, dry;
	} const cmds[] = {
		{ "list", 0, true, false, false },  { "show", 1, true, false, false },
		{ "watch", 1, false, true, false }, { "clean", 0, false, false, true },
		{ "file", 1, true, false, false },  { "trace", 1, false, false, false },
		{ "cache", 1, true, false, false },
	};
	size_t k = 0;
	while (k < sizeof cmds / sizeof cmds[0] && strcmp(cmds[k].name, cmd))
		k++;
	if (k == sizeof cmds / sizeof cmds[0])
		return fail(EXIT_USAGE, "no command \"%s\"; --help lists them", cmd);
	if (nargs != cmds[k].nargs)
		return fail(EXIT_USAGE, "%s takes %s", cmd,
			    cmds[k].nargs ? (k == 4 || k == 5 ? "one PATH" : k == 6 ? "one DIR" : "one PID")
					  : "no argument");
	if ((json && !cmds[k].json) || (count && !cmds[k].count) || (dry_run && !cmds[k].dry) ||
	    (interval != 1.0 && !cmds[k].count))
		return fail(EXIT_USAGE, "%s does not take that option; --help says which it takes", cmd);
	switch (k) {
	case 0: return cmd_list(json);
	case 1: return cmd_show(args[0], json);
	case 2: return cmd_watch(args[0], count, interval);
	case 3: return cmd_clean(dry_run);
	case 4: return cmd_file(args[0], json);
	case 5: return cmd_trace(args[0]);
	default: return cmd_cache(args[0], json);
	}
}
