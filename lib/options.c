/*
 * options.c - jp_options, as the user writes it, parsed once into the
 * jp__config the pool runs with. Every rejection quotes the bad value.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_blank(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	return *s == '\0';
}

/* A whole string as a positive integer that fits in size_t. */
static int parse_count(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || !is_blank(end) || v == 0 || v > SIZE_MAX)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

/* "1M", "512K", "1.5G", "1024" (bytes); K, M, G are powers of 1024 and
 * either case, as joblib's memstr_to_bytes. */
int jp__parse_bytes(const char *s, int64_t *out)
{
	char *end;
	if (!s || !(isdigit((unsigned char)*s) || *s == '.'))
		return -EINVAL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	double unit = 1;
	switch (*end) {
	case 'k': case 'K': unit = 1024.0; end++; break;
	case 'm': case 'M': unit = 1024.0 * 1024; end++; break;
	case 'g': case 'G': unit = 1024.0 * 1024 * 1024; end++; break;
	default: break;
	}
	if (!is_blank(end) || v * unit >= 9.2e18)
		return -EINVAL;
	if (unit == 1 && v != floor(v))
		return -EINVAL; /* a fraction of a byte */
	*out = (int64_t)(v * unit);
	return 0;
}

int jp__parse_batch_size(const char *s, size_t *out)
{
	if (!s || !strcmp(s, "auto")) {
		*out = 0;
		return 0;
	}
	return parse_count(s, out);
}

/* "all", "N", "n_jobs", "k*n_jobs" or "n_jobs*k", blanks allowed around the
 * parts: the expressions joblib users write, without evaluating code. */
int jp__parse_pre_dispatch(const char *s, int n_jobs, size_t *out)
{
	if (!s)
		return -EINVAL;
	while (isspace((unsigned char)*s))
		s++;
	if (!strncmp(s, "all", 3) && is_blank(s + 3)) {
		*out = SIZE_MAX;
		return 0;
	}
	unsigned long long k = 1;
	bool seen_n = false, seen_k = false, want_term = true;
	const char *p = s;
	while (*p) {
		while (isspace((unsigned char)*p))
			p++;
		if (!want_term) {
			if (*p != '*')
				return -EINVAL;
			p++;
			want_term = true;
			continue;
		}
		if (!strncmp(p, "n_jobs", 6) && !seen_n) {
			seen_n = true;
			p += 6;
		} else if (isdigit((unsigned char)*p) && !seen_k) {
			char *end;
			errno = 0;
			k = strtoull(p, &end, 10);
			if (errno || k == 0 || k > SIZE_MAX / 1024)
				return -EINVAL;
			seen_k = true;
			p = end;
		} else {
			return -EINVAL;
		}
		want_term = false;
		while (isspace((unsigned char)*p))
			p++;
	}
	if (want_term)
		return -EINVAL;
	if (seen_n && __builtin_mul_overflow((size_t)k, (size_t)n_jobs, out))
		return -EINVAL;
	if (!seen_n)
		*out = (size_t)k;
	return 0;
}

/* The active wait's default bound on spinning: two cross-CPU wake-ups'
 * worth on the VM we measured. 25 µs already took nearly all the gain on
 * small calls, longer bounds little more (doc/performance.md), and every
 * worker spends it after each result. */
#define DEFAULT_SPIN_S 50e-6

/* $JOBPOOL_IO: which engine the master's I/O runs on. */
static int parse_io_engine(enum jp__io_choice *out, char *err, size_t errlen)
{
	const char *v = getenv("JOBPOOL_IO");
	if (!v || !*v || !strcmp(v, "auto"))
		*out = JP__IO_AUTO;
	else if (!strcmp(v, "poll"))
		*out = JP__IO_POLL;
	else if (!strcmp(v, "uring") || !strcmp(v, "io_uring"))
		*out = JP__IO_URING;
	else {
		jp__msgf(err, errlen, "JOBPOOL_IO \"%s\": expected \"uring\", \"poll\" or \"auto\"", v);
		return JP_EOPTION;
	}
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int jp__config_parse(jp__config *cfg, const jp_options *opt, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof *cfg);

	const char *backend = opt->backend ? opt->backend : "process";
	if (!strcmp(backend, "process") || !strcmp(backend, "loky") ||
	    !strcmp(backend, "multiprocessing")) {
		cfg->backend = JP__PROCESS;
	} else if (!strcmp(backend, "sequential")) {
		cfg->backend = JP__SEQUENTIAL;
	} else if (!strcmp(backend, "thread") || !strcmp(backend, "threading")) {
		cfg->backend = JP__THREAD;
	} else {
		jp__msgf(err, errlen, "backend \"%s\": expected \"process\" (or \"loky\", \"multiprocessing\"), \"threading\" (or \"thread\") or \"sequential\"", backend);
		return JP_EOPTION;
	}

	if (opt->n_jobs == 0) {
		jp__msgf(err, errlen, "n_jobs == 0 has no meaning: use a positive count, -1 for all CPUs, or -2 for all but one");
		return JP_EOPTION;
	}
	cfg->n_jobs = jp_effective_n_jobs(opt->n_jobs);
	if (cfg->backend == JP__SEQUENTIAL)
		cfg->n_jobs = 1;

	if (!opt->max_nbytes || !strcasecmp(opt->max_nbytes, "none")) {
		cfg->max_nbytes = -1;
	} else if (jp__parse_bytes(opt->max_nbytes, &cfg->max_nbytes)) {
		jp__msgf(err, errlen, "max_nbytes \"%s\": expected a byte count such as \"1M\", \"512K\", \"1.5G\" or \"none\"", opt->max_nbytes);
		return JP_EOPTION;
	}

	const char *mm = opt->mmap_mode ? opt->mmap_mode : "r";
	if (!strcmp(mm, "r"))
		cfg->mmap_mode = JP__MMAP_R;
	else if (!strcmp(mm, "r+"))
		cfg->mmap_mode = JP__MMAP_RPLUS;
	else if (!strcmp(mm, "w+"))
		cfg->mmap_mode = JP__MMAP_WPLUS;
	else if (!strcmp(mm, "c"))
		cfg->mmap_mode = JP__MMAP_C;
	else {
		jp__msgf(err, errlen, "mmap_mode \"%s\": expected \"r\", \"r+\", \"w+\" or \"c\"", mm);
		return JP_EOPTION;
	}

	if (jp__parse_batch_size(opt->batch_size, &cfg->batch_size)) {
		jp__msgf(err, errlen, "batch_size \"%s\": expected \"auto\" or a positive integer", opt->batch_size);
		return JP_EOPTION;
	}
	const char *pd = opt->pre_dispatch ? opt->pre_dispatch : "2*n_jobs";
	if (jp__parse_pre_dispatch(pd, cfg->n_jobs, &cfg->pre_dispatch)) {
		jp__msgf(err, errlen, "pre_dispatch \"%s\": expected \"all\", a positive integer, or an expression such as \"3*n_jobs\"", pd);
		return JP_EOPTION;
	}

	if (!isfinite(opt->timeout) || opt->timeout < 0) {
		jp__msgf(err, errlen, "timeout %g: expected seconds >= 0 (0 for none)", opt->timeout);
		return JP_EOPTION;
	}
	if (opt->timeout > 0 && cfg->backend == JP__THREAD) {
		jp__msgf(err, errlen, "timeout %g: the thread backend cannot stop a task (a thread cannot be killed); use the process backend or timeout 0", opt->timeout);
		return JP_EOPTION;
	}
	if (opt->timeout > 0 && (cfg->backend == JP__SEQUENTIAL || cfg->n_jobs == 1)) {
		jp__msgf(err, errlen, "timeout %g: with n_jobs = 1 tasks run in the calling process, where no timeout can stop them; use n_jobs >= 2 or timeout 0", opt->timeout);
		return JP_EOPTION;
	}
	cfg->timeout = opt->timeout;
	cfg->verbose = opt->verbose < 0 ? 0 : opt->verbose;
	cfg->progress_bar = opt->progress_bar != 0;
	if (opt->retries < 0) {
		jp__msgf(err, errlen, "retries %d: expected a count >= 0", opt->retries);
		return JP_EOPTION;
	}
	cfg->retries = opt->retries;
	const char *oe = opt->on_error ? opt->on_error : "cancel";
	if (strcmp(oe, "cancel") && strcmp(oe, "continue")) {
		jp__msgf(err, errlen, "on_error \"%s\": expected \"cancel\" or \"continue\"", oe);
		return JP_EOPTION;
	}
	cfg->continue_on_error = !strcmp(oe, "continue");
	if (opt->max_tasks_per_worker < 0) {
		jp__msgf(err, errlen, "max_tasks_per_worker %ld: expected a count >= 0 (0 for no limit)",
			 opt->max_tasks_per_worker);
		return JP_EOPTION;
	}
	cfg->max_tasks = (unsigned long)opt->max_tasks_per_worker;
	if (!opt->max_rss_growth || !strcasecmp(opt->max_rss_growth, "none")) {
		cfg->max_rss_growth = -1;
	} else if (jp__parse_bytes(opt->max_rss_growth, &cfg->max_rss_growth)) {
		jp__msgf(err, errlen, "max_rss_growth \"%s\": expected a byte count such as \"300M\" or \"none\"", opt->max_rss_growth);
		return JP_EOPTION;
	}

	const char *wp = opt->wait_policy ? opt->wait_policy : "active";
	if (!strcmp(wp, "active"))
		cfg->wait_active = true;
	else if (strcmp(wp, "passive")) {
		jp__msgf(err, errlen, "wait_policy \"%s\": expected \"active\" or \"passive\"", wp);
		return JP_EOPTION;
	}
	if (!isfinite(opt->spin_s) || opt->spin_s < 0 || opt->spin_s > 1) {
		jp__msgf(err, errlen, "spin_s %g: expected seconds in [0, 1] (0 for the default, %g)",
			 opt->spin_s, DEFAULT_SPIN_S);
		return JP_EOPTION;
	}
	cfg->spin_s = opt->spin_s > 0 ? opt->spin_s : DEFAULT_SPIN_S;
	int ioerr = parse_io_engine(&cfg->io, err, errlen);
	if (ioerr)
		return ioerr;

	if (opt->temp_folder && !*opt->temp_folder) {
		jp__msgf(err, errlen, "temp_folder \"\": expected a directory or NULL for automatic");
		return JP_EOPTION;
	}
	if (opt->initializer &&
	    !jp__task_lookup(opt->initializer, strlen(opt->initializer))) {
		jp__msgf(err, errlen, "initializer \"%s\": no task is registered under that name", opt->initializer);
		return JP_ENOTASK;
	}
	cfg->temp_folder = dup_or_null(opt->temp_folder);
	cfg->initializer = dup_or_null(opt->initializer);
	if ((opt->temp_folder && !cfg->temp_folder) || (opt->initializer && !cfg->initializer)) {
		jp__config_free(cfg);
		jp__msgf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

void jp__config_free(jp__config *cfg)
{
	free(cfg->temp_folder);
	free(cfg->initializer);
	cfg->temp_folder = cfg->initializer = NULL;
}
