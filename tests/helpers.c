/*
 * helpers.c - shared test helpers.
 */
#define _GNU_SOURCE /* nftw */
#include "helpers.h"

#include <ctype.h>
#include <signal.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int jpt_children(pid_t *pids, int max)
{
	/* Scan /proc rather than trusting /proc/self/task/N/children, which
	 * needs a kernel option. */
	DIR *d = opendir("/proc");
	int n = 0;
	if (!d)
		return -1;
	struct dirent *de;
	pid_t self = getpid();
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[len] = '\0';
		/* pid (comm) state ppid: comm may hold spaces and parens */
		char *rp = strrchr(buf, ')');
		char state;
		int ppid;
		if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == self) {
			if (n < max)
				pids[n] = (pid_t)atoi(de->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

void jpt_assert_no_children(void)
{
	pid_t pids[16];
	int n = jpt_children(pids, 16);
	ck_assert_msg(n == 0, "%d child process(es) left behind, first pid %d", n,
		      n > 0 ? (int)pids[0] : 0);
}

/* Entries in dir, without . and ..; -1 if it cannot be read. */
static int entries_in(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d)
		return -1;
	struct dirent *de;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

void jpt_mkdtemp(char *buf, size_t cap, const char *prefix)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(buf, cap, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
	if (!mkdtemp(buf)) {
		perror(buf);
		exit(1);
	}
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

void jpt_remove_tree(const char *dir)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

jp_pool *jpt_open(int n_jobs)
{
	jp_options opt = JP_OPTIONS_INIT;
	opt.n_jobs = n_jobs;
	jp_pool *pool = NULL;
	int err = jp_pool_open(&pool, &opt);
	ck_assert_msg(err == 0, "jp_pool_open(n_jobs=%d): %s: %s", n_jobs, jp_strerror(err),
		      jp_pool_errmsg(NULL));
	return pool;
}

TCase *jpt_tcase(const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, 120);
	return tc;
}

int jpt_run(Suite *s)
{
	/* The suite's pools put their folders in a folder of its own, so what
	 * they leave behind is seen even while other suites run beside it. */
	char folder[] = "/tmp/jpt-suite-XXXXXX";
	if (!mkdtemp(folder)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	setenv("JOBPOOL_TEMP_FOLDER", folder, 1);
	/* Workers a test leaks outlive the test's own process: as a subreaper
	 * this process inherits them, and counts them below. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* Each test ran in its own child, which check reaped; what is left is
	 * what the tests leaked. */
	pid_t pids[16];
	int kids = jpt_children(pids, 16);
	int left = entries_in(folder);
	if (kids > 0) {
		fprintf(stderr, "FAIL: %d process(es) left behind by the suite\n", kids);
		if (getenv("JPT_DEBUG")) {
			/* which ones, and whether they are zombies */
			char cmd[80];
			snprintf(cmd, sizeof cmd, "ps -o pid,ppid,stat,etimes,cmd --ppid %d", (int)getpid());
			if (system(cmd) != 0)
				fprintf(stderr, "(ps failed)\n");
		}
		failed++;
		for (int i = 0; i < kids && i < 16; i++) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
	}
	if (left != 0) {
		fprintf(stderr, "FAIL: %d pool folder(s) left in %s\n", left, folder);
		failed++;
		jpt_remove_tree(folder);
	} else {
		rmdir(folder);
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
