/*
 * test-ncpu.c - n_jobs as joblib reads it, and the CPU count behind -1:
 * affinity, a faked cgroup tree (v2 and v1), the environment cap.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(n_jobs_semantics)
{
	int ncpu = jp_cpu_count();
	ck_assert_int_ge(ncpu, 1);
	ck_assert_int_eq(jp_effective_n_jobs(0), JP_EOPTION);
	ck_assert_int_eq(jp_effective_n_jobs(3), 3);
	ck_assert_int_eq(jp_effective_n_jobs(64), 64);
	ck_assert_int_eq(jp_effective_n_jobs(-1), ncpu);
	ck_assert_int_eq(jp_effective_n_jobs(-2), ncpu > 1 ? ncpu - 1 : 1);
	ck_assert_int_eq(jp_effective_n_jobs(-1000), 1);
}
END_TEST

START_TEST(env_caps_cpu_count)
{
	setenv("JOBPOOL_MAX_CPU_COUNT", "1", 1);
	ck_assert_int_eq(jp_cpu_count(), 1);
	ck_assert_int_eq(jp_effective_n_jobs(-1), 1);
	setenv("JOBPOOL_MAX_CPU_COUNT", "junk", 1);
	ck_assert_int_ge(jp_cpu_count(), 1);
	unsetenv("JOBPOOL_MAX_CPU_COUNT");
}
END_TEST

START_TEST(affinity_limits_cpu_count)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	ck_assert_int_eq(sched_setaffinity(0, sizeof set, &set), 0);
	ck_assert_int_eq(jp_cpu_count(), 1);
	/* -1 on one CPU is the sequential backend: no process at all */
	jp_pool *pool = jpt_open(-1);
	ck_assert_int_eq(jp_pool_n_jobs(pool), 1);
	ck_assert_int_eq(jp_pool_worker_pid(pool, 0), getpid());
	jpt_assert_no_children();
	jp_pool_close(pool);
}
END_TEST

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void make_dirs(const char *root, const char *rel)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0700);
			*p = '/';
		}
	mkdir(path, 0700);
}

START_TEST(cgroup_v2_quota)
{
	char root[] = "/tmp/jp-test-cgroup-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(root));
	char dir[PATH_MAX];
	make_dirs(root, "a/b");
	write_file(root, "cpu.max", "max 100000\n");
	snprintf(dir, sizeof dir, "%s/a/b", root);
	write_file(dir, "cpu.max", "150000 100000\n");
	ck_assert_int_eq(jp__cgroup_cpu_limit(root, "0::/a/b\n"), 2);
	/* a parent's tighter quota binds the child */
	snprintf(dir, sizeof dir, "%s/a", root);
	write_file(dir, "cpu.max", "50000 100000\n");
	ck_assert_int_eq(jp__cgroup_cpu_limit(root, "0::/a/b\n"), 1);
	/* no quota anywhere */
	ck_assert_int_eq(jp__cgroup_cpu_limit(root, "0::/\n"), 0);
	ck_assert_int_eq(jp__cgroup_cpu_limit(root, "0::/missing/dir\n"), 0);
	ck_assert_int_eq(jp__cgroup_cpu_limit(root, "garbage"), 0);
	jpt_remove_tree(root);
}
END_TEST

START_TEST(cgroup_v1_quota)
{
	char root[] = "/tmp/jp-test-cgroup-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(root));
	char dir[PATH_MAX];
	make_dirs(root, "cpu/x");
	snprintf(dir, sizeof dir, "%s/cpu/x", root);
	write_file(dir, "cpu.cfs_quota_us", "300000\n");
	write_file(dir, "cpu.cfs_period_us", "100000\n");
	snprintf(dir, sizeof dir, "%s/cpu", root);
	write_file(dir, "cpu.cfs_quota_us", "-1\n");
	write_file(dir, "cpu.cfs_period_us", "100000\n");
	ck_assert_int_eq(jp__cgroup_cpu_limit(root, "4:cpu,cpuacct:/x\n1:name=systemd:/\n"), 3);
	ck_assert_int_eq(jp__cgroup_cpu_limit(root, "4:cpuacct:/x\n"), 0);
	jpt_remove_tree(root);
}
END_TEST

START_TEST(minus_one_opens_cpu_count_workers)
{
	jp_pool *pool = jpt_open(-1);
	ck_assert_int_eq(jp_pool_n_jobs(pool), jp_cpu_count());
	jp_pool_close(pool);
	jpt_assert_no_children();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ncpu");
	TCase *tc = jpt_tcase("ncpu");
	tcase_add_test(tc, n_jobs_semantics);
	tcase_add_test(tc, env_caps_cpu_count);
	tcase_add_test(tc, affinity_limits_cpu_count);
	tcase_add_test(tc, cgroup_v2_quota);
	tcase_add_test(tc, cgroup_v1_quota);
	tcase_add_test(tc, minus_one_opens_cpu_count_workers);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
