/*
 * helpers.h - what every suite needs: running a suite in check's fork mode,
 * and the leftover checks (no child process, no file in /dev/shm).
 */
#ifndef JOBPOOL_TEST_HELPERS_H
#define JOBPOOL_TEST_HELPERS_H

#include <check.h>
#include <sys/types.h>

#include <jobpool.h>

/* PIDs of this process's live or zombie children; returns the count. */
int jpt_children(pid_t *pids, int max);

/* Fail the test if this process has any child left. */
void jpt_assert_no_children(void);

/* A new folder "<$TMPDIR or /tmp>/<prefix>.XXXXXX" into buf; exits on
 * failure (it runs in fixtures, outside any test). */
void jpt_mkdtemp(char *buf, size_t cap, const char *prefix);

/* Remove a folder and everything below it. */
void jpt_remove_tree(const char *dir);

/* Open a pool with n_jobs workers and the other options at their defaults. */
jp_pool *jpt_open(int n_jobs);

/* Run the suite in fork mode; returns the process exit status. */
int jpt_run(Suite *s);

/* A test case with the timeout that tests starting workers need. */
TCase *jpt_tcase(const char *name);

#endif
