/*
 * ncpu.c - how many CPUs this process may really use, as loky counts them:
 * the smallest of the online CPUs, the affinity mask and the cgroup CPU
 * quota (rounded up), capped by $JOBPOOL_MAX_CPU_COUNT.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *read_small_file(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *buf = malloc(4096);
	size_t n = buf ? fread(buf, 1, 4095, f) : 0;
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

/* Quota / period from cgroup v2's "cpu.max" ("max 100000" or "50000 100000")
 * or v1's cfs files; 0 when unlimited or unreadable. */
static int v2_limit(const char *dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/cpu.max", dir);
	char *s = read_small_file(path);
	if (!s)
		return 0;
	long long quota, period;
	int n = 0;
	if (sscanf(s, "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0)
		n = (int)ceil((double)quota / (double)period);
	free(s);
	return n;
}

static int v1_limit(const char *dir)
{
	char path[PATH_MAX];
	long long quota = -1, period = -1;
	snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
	char *s = read_small_file(path);
	if (s) {
		quota = strtoll(s, NULL, 10);
		free(s);
	}
	snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
	if ((s = read_small_file(path))) {
		period = strtoll(s, NULL, 10);
		free(s);
	}
	return quota > 0 && period > 0 ? (int)ceil((double)quota / (double)period) : 0;
}

static int min_limit(int a, int b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/* The tightest limit on the cgroup's path and every ancestor: a parent's
 * quota binds its children too. */
static int walk_up(const char *mount, const char *cgpath, int (*limit)(const char *))
{
	char dir[PATH_MAX];
	int best = 0;
	snprintf(dir, sizeof dir, "%s%s", mount, cgpath);
	size_t root = strlen(mount);
	for (;;) {
		size_t len = strlen(dir);
		while (len > root && dir[len - 1] == '/')
			dir[--len] = '\0';
		best = min_limit(best, limit(dir));
		char *slash = strrchr(dir, '/');
		if (len <= root || !slash || (size_t)(slash - dir) < root)
			break;
		*slash = '\0';
	}
	return best;
}

int jp__cgroup_cpu_limit(const char *sysfs_root, const char *proc_cgroup)
{
	int best = 0;
	char mount[PATH_MAX];
	const char *line = proc_cgroup;
	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char buf[PATH_MAX];
		if (len < sizeof buf) {
			memcpy(buf, line, len);
			buf[len] = '\0';
			/* hierarchy-id:controllers:path */
			char *c1 = strchr(buf, ':');
			char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
			if (c2) {
				*c1 = *c2 = '\0';
				const char *ctrl = c1 + 1, *path = c2 + 1;
				if (!strcmp(buf, "0") && !*ctrl) {
					best = min_limit(best, walk_up(sysfs_root, path, v2_limit));
				} else {
					/* v1: look for the cpu controller in the list */
					char list[256];
					snprintf(list, sizeof list, ",%s,", ctrl);
					if (strstr(list, ",cpu,")) {
						snprintf(mount, sizeof mount, "%s/cpu", sysfs_root);
						best = min_limit(best, walk_up(mount, path, v1_limit));
					}
				}
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return best;
}

int jp_cpu_count(void)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	int n = online > 0 ? (int)online : 1;

	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0) {
		int aff = CPU_COUNT(&set);
		if (aff > 0 && aff < n)
			n = aff;
	}

	char *cg = read_small_file("/proc/self/cgroup");
	if (cg) {
		int quota = jp__cgroup_cpu_limit("/sys/fs/cgroup", cg);
		free(cg);
		if (quota > 0 && quota < n)
			n = quota;
	}

	const char *cap = getenv("JOBPOOL_MAX_CPU_COUNT");
	if (cap && *cap) {
		char *end;
		long v = strtol(cap, &end, 10);
		if (*end == '\0' && v > 0 && v < n)
			n = (int)v;
	}
	return n > 0 ? n : 1;
}

int jp_effective_n_jobs(int n_jobs)
{
	if (n_jobs == 0)
		return JP_EOPTION;
	if (n_jobs > 0)
		return n_jobs;
	int n = jp_cpu_count() + 1 + n_jobs;
	return n > 1 ? n : 1;
}
