/*
 * test-errors-doc.c - doc/errors.md is checked against the library: every
 * row names a case below, and the case must return the row's code with a
 * message that contains the row's text. Every case must have its row.
 *
 *   test-errors-doc          check doc/errors.md (the default, in make check)
 *   test-errors-doc --print  print the rows as the library behaves now
 */
#define _GNU_SOURCE
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef JPT_SRCDIR
#define JPT_SRCDIR "."
#endif

static int echo(jp_task *t)
{
	return jp_task_set_result(t, "x", 1);
}
JP_TASK(echo);

/* ---- the cases: each fills msg (the message the caller can read) ------ */

#define MSG_CAP 512

static int open_with(jp_options o, char *msg)
{
	jp_pool *pool;
	int rc = jp_pool_open(&pool, &o);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(NULL));
	if (rc == 0)
		jp_pool_close(pool);
	return rc;
}

#define OPTION_CASE(name, field, value)                 \
	static int name(char *msg)                     \
	{                                              \
		jp_options o = JP_OPTIONS_INIT;        \
		o.n_jobs = 2;                          \
		o.field = value;                       \
		return open_with(o, msg);              \
	}

OPTION_CASE(n_jobs_zero, n_jobs, 0)
OPTION_CASE(backend_unknown, backend, "gpu")
OPTION_CASE(max_nbytes_bad, max_nbytes, "1MB")
OPTION_CASE(mmap_mode_unknown, mmap_mode, "rw")
OPTION_CASE(batch_size_zero, batch_size, "0")
OPTION_CASE(batch_size_negative, batch_size, "-3")
OPTION_CASE(batch_size_fraction, batch_size, "2.5")
OPTION_CASE(pre_dispatch_bad, pre_dispatch, "3*jobs")
OPTION_CASE(timeout_negative, timeout, -1)
OPTION_CASE(temp_folder_empty, temp_folder, "")
OPTION_CASE(initializer_unknown, initializer, "nope")
OPTION_CASE(retries_negative, retries, -1)
OPTION_CASE(on_error_unknown, on_error, "ignore")
OPTION_CASE(max_tasks_negative, max_tasks_per_worker, -1)
OPTION_CASE(max_rss_growth_bad, max_rss_growth, "lots")
OPTION_CASE(wait_policy_unknown, wait_policy, "spin")
OPTION_CASE(spin_s_too_long, spin_s, 5)

static int timeout_threads(char *msg)
{
	jp_options o = JP_OPTIONS_INIT;
	o.n_jobs = 2;
	o.backend = "threading";
	o.timeout = 2;
	return open_with(o, msg);
}

static int io_engine_unknown(char *msg)
{
	jp_options o = JP_OPTIONS_INIT;
	o.n_jobs = 2;
	setenv("JOBPOOL_IO", "bogus", 1);
	int rc = open_with(o, msg);
	unsetenv("JOBPOOL_IO");
	return rc;
}

static int timeout_one_job(char *msg)
{
	jp_options o = JP_OPTIONS_INIT;
	o.n_jobs = 1;
	o.timeout = 2;
	return open_with(o, msg);
}

/* (not jpt_open: --print runs outside check) */
static jp_pool *pool2(void)
{
	jp_options o = JP_OPTIONS_INIT;
	o.n_jobs = 2;
	jp_pool *p;
	if (jp_pool_open(&p, &o)) {
		fprintf(stderr, "cannot open a pool: %s\n", jp_pool_errmsg(NULL));
		exit(1);
	}
	return p;
}

static int map_unknown_task(char *msg)
{
	jp_pool *p = pool2();
	jp_call *c;
	int rc = jp_map_new(&c, p, "nope", 10);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_pool_close(p);
	return rc;
}

static int add_unknown_task(char *msg)
{
	jp_pool *p = pool2();
	jp_call *c;
	jp_call_new(&c, p);
	int rc = (int)jp_call_add(c, "nope");
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_call_free(c);
	jp_pool_close(p);
	return rc;
}

static int run_null(char *msg)
{
	msg[0] = '\0';
	return jp_call_run(NULL);
}

static int run_while_streaming(char *msg)
{
	jp_pool *p = pool2();
	jp_call *a, *b;
	jp_map_new(&a, p, "echo", 100);
	jp_map_new(&b, p, "echo", 100);
	jp_call_start(a, JP_ORDERED);
	int rc = jp_call_run(b);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_call_free(a);
	jp_call_free(b);
	jp_pool_close(p);
	return rc;
}

static int start_bad_order(char *msg)
{
	jp_pool *p = pool2();
	jp_call *c;
	jp_map_new(&c, p, "echo", 10);
	int rc = jp_call_start(c, 7);
	msg[0] = '\0';
	jp_call_free(c);
	jp_pool_close(p);
	return rc;
}

static int lazy_make(jp_call *c, size_t i, void *ctx)
{
	(void)c, (void)i, (void)ctx;
	return 0; /* "made" an item without adding one */
}

static int generator_adds_nothing(char *msg)
{
	jp_pool *p = pool2();
	jp_call *c;
	jp_call_new(&c, p);
	jp_call_generate(c, lazy_make, NULL);
	int rc = jp_call_run(c);
	const char *m;
	jp_call_error(c, NULL, &m);
	snprintf(msg, MSG_CAP, "%s", m);
	jp_call_free(c);
	jp_pool_close(p);
	return rc;
}

static int run_in_forked_child(char *msg)
{
	jp_pool *p = pool2();
	jp_call *c;
	jp_map_new(&c, p, "echo", 10);
	int fds[2];
	if (pipe(fds))
		return -errno;
	pid_t pid = fork();
	if (pid == 0) {
		int rc = jp_call_run(c);
		char m[MSG_CAP] = "";
		snprintf(m, sizeof m, "%s", jp_pool_errmsg(p));
		if (write(fds[1], &rc, sizeof rc) != sizeof rc || write(fds[1], m, sizeof m) != sizeof m)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	int rc = 0;
	if (read(fds[0], &rc, sizeof rc) != sizeof rc || read(fds[0], msg, MSG_CAP) != MSG_CAP)
		rc = -EIO;
	close(fds[0]);
	waitpid(pid, NULL, 0);
	jp_call_free(c);
	jp_pool_close(p);
	return rc;
}

/* ---- result caches -------------------------------------------------------- */

static int memory_open_with(const char *dir, jp_memory_options o, char *msg)
{
	jp_memory *m;
	int rc = jp_memory_open(&m, dir, &o);
	snprintf(msg, MSG_CAP, "%s", jp_memory_errmsg(NULL));
	jp_memory_close(m);
	return rc;
}

static int memory_not_a_directory(char *msg)
{
	/* a folder under a regular file: even root cannot make it */
	char file[64] = "/tmp/jpt-errors-doc.XXXXXX", dir[96];
	int fd = mkstemp(file);
	if (fd < 0)
		return -errno;
	close(fd);
	snprintf(dir, sizeof dir, "%s/cache", file);
	int rc = memory_open_with(dir, (jp_memory_options)JP_MEMORY_OPTIONS_INIT, msg);
	unlink(file);
	return rc;
}

static int memory_dir_empty(char *msg)
{
	return memory_open_with("", (jp_memory_options)JP_MEMORY_OPTIONS_INIT, msg);
}

static int memory_bytes_limit_bad(char *msg)
{
	jp_memory_options o = JP_MEMORY_OPTIONS_INIT;
	o.bytes_limit = "lots";
	return memory_open_with("/tmp", o, msg);
}

static int memory_on_unwritable_unknown(char *msg)
{
	jp_memory_options o = JP_MEMORY_OPTIONS_INIT;
	o.on_unwritable = "ignore";
	return memory_open_with("/tmp", o, msg);
}

/* A call of p with a cache whose folder cannot be made ("compute"): the
 * cases below refuse before any file would be touched. */
static jp_memory *no_store(void)
{
	jp_memory_options o = JP_MEMORY_OPTIONS_INIT;
	o.on_unwritable = "compute";
	jp_memory *m = NULL;
	jp_memory_open(&m, "/dev/null/cache", &o);
	return m;
}

static int memory_stream(char *msg)
{
	jp_pool *p = pool2();
	jp_memory *m = no_store();
	jp_call *c;
	jp_call_new(&c, p);
	jp_call_set_memory(c, m);
	jp_call_add(c, "echo");
	int rc = jp_call_start(c, JP_ORDERED);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_call_free(c);
	jp_memory_close(m);
	jp_pool_close(p);
	return rc;
}

static int memory_generate(char *msg)
{
	jp_pool *p = pool2();
	jp_memory *m = no_store();
	jp_call *c;
	jp_call_new(&c, p);
	jp_call_set_memory(c, m);
	int rc = jp_call_generate(c, lazy_make, NULL);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_call_free(c);
	jp_memory_close(m);
	jp_pool_close(p);
	return rc;
}

static int memory_after_arguments(char *msg)
{
	jp_pool *p = pool2();
	jp_memory *m = no_store();
	jp_call *c;
	jp_map_new(&c, p, "echo", 10);
	jp_call_arg_i64(c, 1);
	int rc = jp_call_set_memory(c, m);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	jp_call_free(c);
	jp_memory_close(m);
	jp_pool_close(p);
	return rc;
}

static jp_array mat(jp_dtype t, size_t r, size_t k)
{
	jp_array a = { .dtype = t, .ndim = 2, .shape = { r, k } };
	size_t n = r * k, es = jp_dtype_size(t);
	a.data = calloc(n ? n : 1, es ? es : 1);
	return a;
}

static int matmul_case(jp_array a, jp_array b, jp_array *c, char *msg)
{
	jp_pool *p = pool2();
	int rc = jp_matmul(p, &a, &b, c);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	free(a.data);
	free(b.data);
	jp_pool_close(p);
	return rc;
}

static int matmul_shapes(char *msg)
{
	jp_array c = { 0 };
	return matmul_case(mat(JP_FLOAT64, 3, 4), mat(JP_FLOAT64, 5, 2), &c, msg);
}

static int matmul_dtypes(char *msg)
{
	jp_array c = { 0 };
	return matmul_case(mat(JP_INT64, 3, 4), mat(JP_FLOAT64, 4, 2), &c, msg);
}

static int matmul_dtype_unsupported(char *msg)
{
	jp_array c = { 0 };
	return matmul_case(mat(JP_UINT8, 3, 4), mat(JP_UINT8, 4, 2), &c, msg);
}

static int matmul_not_2d(char *msg)
{
	jp_array a = mat(JP_FLOAT64, 3, 4), c = { 0 };
	a.ndim = 1;
	return matmul_case(a, mat(JP_FLOAT64, 4, 2), &c, msg);
}

static int matmul_null(char *msg)
{
	return matmul_case(mat(JP_FLOAT64, 3, 4), mat(JP_FLOAT64, 4, 2), NULL, msg);
}

static int matmul_c_shape(char *msg)
{
	jp_array c = mat(JP_FLOAT64, 3, 3);
	int rc = matmul_case(mat(JP_FLOAT64, 3, 4), mat(JP_FLOAT64, 4, 2), &c, msg);
	free(c.data);
	return rc;
}

static int dot_case(jp_dtype t, size_t na, size_t nb, bool integer, char *msg)
{
	jp_pool *p = pool2();
	jp_array a = { .dtype = t, .ndim = 1, .shape = { na } }, b = a;
	b.shape[0] = nb;
	a.data = calloc(na + 1, 8);
	b.data = calloc(nb + 1, 8);
	double d;
	int64_t i;
	int rc = integer ? jp_dot_int(p, &a, &b, &i) : jp_dot(p, &a, &b, &d);
	snprintf(msg, MSG_CAP, "%s", jp_pool_errmsg(p));
	free(a.data);
	free(b.data);
	jp_pool_close(p);
	return rc;
}

static int dot_lengths(char *msg)
{
	return dot_case(JP_FLOAT64, 10, 11, false, msg);
}

static int dot_given_integers(char *msg)
{
	return dot_case(JP_INT64, 10, 10, false, msg);
}

static int dot_int_given_floats(char *msg)
{
	return dot_case(JP_FLOAT64, 10, 10, true, msg);
}

/* .npy files */
static int load_file(const char *bytes, size_t len, const char *mode, char *msg)
{
	char path[] = "/tmp/jpt-errdoc-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || (len && write(fd, bytes, len) != (ssize_t)len))
		return -EIO;
	close(fd);
	jp_array a;
	int rc = jp_load(path, mode, &a);
	/* the message names the file: keep what follows its name */
	const char *m = jp_npy_errmsg(), *after = strstr(m, path);
	snprintf(msg, MSG_CAP, "%s", after ? after + strlen(path) : m);
	if (rc == 0)
		jp_array_release(&a);
	unlink(path);
	return rc;
}

static int npy_missing(char *msg)
{
	jp_array a;
	int rc = jp_load("/nonexistent/a.npy", NULL, &a);
	snprintf(msg, MSG_CAP, "%s", jp_npy_errmsg());
	return rc;
}

static int npy_bad_magic(char *msg)
{
	return load_file("NOTNUMPY-at-all-this-is-text", 28, NULL, msg);
}

static int npy_truncated_header(char *msg)
{
	static const char head[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f8', 'fortran_";
	return load_file(head, sizeof head - 1, NULL, msg);
}

static int npy_bad_descr(char *msg)
{
	char buf[128];
	memset(buf, ' ', sizeof buf);
	static const char dict[] = "{'descr': '<x9', 'fortran_order': False, 'shape': (3,), }";
	memcpy(buf, "\x93NUMPY\x01\x00\x76\x00", 10);
	memcpy(buf + 10, dict, sizeof dict - 1);
	buf[127] = '\n';
	return load_file(buf, sizeof buf, NULL, msg);
}

static int npy_bad_mode(char *msg)
{
	jp_array a;
	int rc = jp_load("/dev/null", "rw", &a);
	snprintf(msg, MSG_CAP, "%s", jp_npy_errmsg());
	return rc;
}

static const struct errcase {
	const char *id;
	int (*run)(char *msg);
} cases[] = {
	{ "n_jobs-zero", n_jobs_zero },
	{ "backend-unknown", backend_unknown },
	{ "max_nbytes-bad", max_nbytes_bad },
	{ "mmap_mode-unknown", mmap_mode_unknown },
	{ "batch_size-zero", batch_size_zero },
	{ "batch_size-negative", batch_size_negative },
	{ "batch_size-fraction", batch_size_fraction },
	{ "pre_dispatch-bad", pre_dispatch_bad },
	{ "timeout-negative", timeout_negative },
	{ "timeout-one-job", timeout_one_job },
	{ "temp_folder-empty", temp_folder_empty },
	{ "initializer-unknown", initializer_unknown },
	{ "retries-negative", retries_negative },
	{ "on_error-unknown", on_error_unknown },
	{ "max_tasks-negative", max_tasks_negative },
	{ "max_rss_growth-bad", max_rss_growth_bad },
	{ "wait_policy-unknown", wait_policy_unknown },
	{ "spin_s-too-long", spin_s_too_long },
	{ "timeout-threads", timeout_threads },
	{ "JOBPOOL_IO-unknown", io_engine_unknown },
	{ "map-unknown-task", map_unknown_task },
	{ "add-unknown-task", add_unknown_task },
	{ "run-null", run_null },
	{ "run-while-streaming", run_while_streaming },
	{ "start-bad-order", start_bad_order },
	{ "generator-adds-nothing", generator_adds_nothing },
	{ "run-in-forked-child", run_in_forked_child },
	{ "matmul-shapes", matmul_shapes },
	{ "matmul-dtypes", matmul_dtypes },
	{ "matmul-dtype-unsupported", matmul_dtype_unsupported },
	{ "matmul-not-2d", matmul_not_2d },
	{ "matmul-null", matmul_null },
	{ "matmul-c-shape", matmul_c_shape },
	{ "dot-lengths", dot_lengths },
	{ "dot-given-integers", dot_given_integers },
	{ "dot_int-given-floats", dot_int_given_floats },
	{ "npy-missing", npy_missing },
	{ "npy-bad-magic", npy_bad_magic },
	{ "npy-truncated-header", npy_truncated_header },
	{ "npy-bad-descr", npy_bad_descr },
	{ "npy-bad-mode", npy_bad_mode },
	{ "memory-not-a-directory", memory_not_a_directory },
	{ "memory-dir-empty", memory_dir_empty },
	{ "memory-bytes_limit-bad", memory_bytes_limit_bad },
	{ "memory-on_unwritable-unknown", memory_on_unwritable_unknown },
	{ "memory-stream", memory_stream },
	{ "memory-generate", memory_generate },
	{ "memory-after-arguments", memory_after_arguments },
};
#define NCASES (sizeof cases / sizeof cases[0])

static const char *code_name(int rc)
{
	static char buf[32];
	static const struct {
		int code;
		const char *name;
	} names[] = {
		{ JP_ETASK, "JP_ETASK" },     { JP_EWORKER, "JP_EWORKER" },
		{ JP_ETIMEOUT, "JP_ETIMEOUT" }, { JP_EFRAME, "JP_EFRAME" },
		{ JP_ENOTASK, "JP_ENOTASK" }, { JP_EOPTION, "JP_EOPTION" },
		{ JP_ECANCELED, "JP_ECANCELED" }, { JP_ENOTSUP, "JP_ENOTSUP" },
		{ JP_EINTR, "JP_EINTR" },     { -EINVAL, "-EINVAL" },
		{ -EBUSY, "-EBUSY" },         { -ECHILD, "-ECHILD" },
		{ -ENOENT, "-ENOENT" },       { -EIO, "-EIO" },
		{ -ENOMEM, "-ENOMEM" },       { -ENOTDIR, "-ENOTDIR" },
		{ 0, "0" },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].code == rc)
			return names[i].name;
	snprintf(buf, sizeof buf, "%d", rc);
	return buf;
}

/* ---- the document -------------------------------------------------------- */

struct row {
	char id[64], code[32], msg[MSG_CAP];
};

/* Rows are "| `id` | what | `code` | `message` |"; the message cell may be
 * "-" (no message). */
static size_t read_rows(struct row *rows, size_t max)
{
	FILE *f = fopen(JPT_SRCDIR "/doc/errors.md", "r");
	ck_assert_msg(f != NULL, "cannot open %s/doc/errors.md", JPT_SRCDIR);
	char line[2048];
	size_t n = 0;
	while (n < max && fgets(line, sizeof line, f)) {
		if (strncmp(line, "| `", 3))
			continue;
		char *cell[5];
		int k = 0;
		for (char *p = line; k < 5 && (p = strchr(p, '|')); p++)
			cell[k++] = p + 1;
		ck_assert_msg(k == 5, "malformed row: %s", line);
		struct row *r = &rows[n++];
		ck_assert(sscanf(cell[0], " `%63[^`]`", r->id) == 1);
		ck_assert(sscanf(cell[2], " `%31[^`]`", r->code) == 1);
		r->msg[0] = '\0';
		char *m = strchr(cell[3], '`'), *e = m ? strrchr(m + 1, '`') : NULL;
		if (m && e && e > m) {
			snprintf(r->msg, sizeof r->msg, "%.*s", (int)(e - m - 1), m + 1);
			/* a literal | in a message is written \| in the table */
			for (char *s = r->msg; (s = strstr(s, "\\|"));)
				memmove(s, s + 1, strlen(s));
		}
	}
	fclose(f);
	return n;
}

START_TEST(errors_md_matches_the_library)
{
	static struct row rows[256];
	size_t n = read_rows(rows, 256);
	bool documented[NCASES] = { false };
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		while (k < NCASES && strcmp(cases[k].id, rows[i].id))
			k++;
		ck_assert_msg(k < NCASES, "doc/errors.md row `%s` names no case", rows[i].id);
		documented[k] = true;
		char msg[MSG_CAP];
		int rc = cases[k].run(msg);
		ck_assert_msg(!strcmp(code_name(rc), rows[i].code), "`%s`: the doc says %s, the library returns %s (%s)",
			      rows[i].id, rows[i].code, code_name(rc), msg);
		ck_assert_msg(strstr(msg, rows[i].msg) != NULL, "`%s`: the message \"%s\" lacks the doc's \"%s\"",
			      rows[i].id, msg, rows[i].msg);
	}
	for (size_t k = 0; k < NCASES; k++)
		ck_assert_msg(documented[k], "case `%s` has no row in doc/errors.md", cases[k].id);
	jpt_assert_no_children();
}
END_TEST

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--print")) {
		for (size_t k = 0; k < NCASES; k++) {
			char msg[MSG_CAP];
			int rc = cases[k].run(msg);
			printf("| `%s` | | `%s` | `%s` |\n", cases[k].id, code_name(rc), msg);
		}
		return 0;
	}
	Suite *s = suite_create("errors-doc");
	TCase *tc = jpt_tcase("errors-doc");
	tcase_add_test(tc, errors_md_matches_the_library);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
