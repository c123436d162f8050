/*
 * test-options.c - parsing and validation of jp_options.
 */
#include "helpers.h"
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

START_TEST(bytes_parse)
{
	int64_t v;
	ck_assert_int_eq(jp__parse_bytes("1M", &v), 0);
	ck_assert_int_eq(v, 1048576);
	ck_assert_int_eq(jp__parse_bytes("512K", &v), 0);
	ck_assert_int_eq(v, 512 * 1024);
	ck_assert_int_eq(jp__parse_bytes("1.5G", &v), 0);
	ck_assert_int_eq(v, 1536LL * 1024 * 1024);
	ck_assert_int_eq(jp__parse_bytes("2m", &v), 0);
	ck_assert_int_eq(v, 2 * 1048576);
	ck_assert_int_eq(jp__parse_bytes("100", &v), 0);
	ck_assert_int_eq(v, 100);
	ck_assert_int_eq(jp__parse_bytes("0", &v), 0);
	ck_assert_int_eq(v, 0);
	const char *bad[] = { "", "M", "1X", "-1K", "1.5", "abc", "1M2", " 1M", "1e30G", "nan" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(jp__parse_bytes(bad[i], &v) == -EINVAL, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(batch_size_parse)
{
	size_t v;
	ck_assert_int_eq(jp__parse_batch_size("auto", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(jp__parse_batch_size("5", &v), 0);
	ck_assert_uint_eq(v, 5);
	const char *bad[] = { "0", "-1", "1.5", "x", "", "5x", "Auto" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(jp__parse_batch_size(bad[i], &v) == -EINVAL, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(pre_dispatch_parse)
{
	size_t v;
	ck_assert_int_eq(jp__parse_pre_dispatch("all", 4, &v), 0);
	ck_assert_uint_eq(v, SIZE_MAX);
	ck_assert_int_eq(jp__parse_pre_dispatch("2*n_jobs", 4, &v), 0);
	ck_assert_uint_eq(v, 8);
	ck_assert_int_eq(jp__parse_pre_dispatch(" 3 * n_jobs ", 2, &v), 0);
	ck_assert_uint_eq(v, 6);
	ck_assert_int_eq(jp__parse_pre_dispatch("n_jobs*5", 3, &v), 0);
	ck_assert_uint_eq(v, 15);
	ck_assert_int_eq(jp__parse_pre_dispatch("n_jobs", 3, &v), 0);
	ck_assert_uint_eq(v, 3);
	ck_assert_int_eq(jp__parse_pre_dispatch("10", 3, &v), 0);
	ck_assert_uint_eq(v, 10);
	const char *bad[] = { "", "2*", "*n_jobs", "2*n_jobs*3", "n_jobs+1", "0*n_jobs",
			      "foo", "2**n_jobs", "n_jobs*n_jobs", "-2*n_jobs", "all*2",
			      "99999999999999*n_jobs" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(jp__parse_pre_dispatch(bad[i], 1 << 20, &v) == -EINVAL, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(defaults_are_joblibs)
{
	jp_options opt = JP_OPTIONS_INIT;
	ck_assert_int_eq(opt.n_jobs, -1);
	ck_assert_str_eq(opt.backend, "process");
	ck_assert_str_eq(opt.max_nbytes, "1M");
	ck_assert_ptr_null(opt.temp_folder);
	ck_assert_str_eq(opt.mmap_mode, "r");
	ck_assert_str_eq(opt.batch_size, "auto");
	ck_assert_str_eq(opt.pre_dispatch, "2*n_jobs");
	ck_assert(opt.timeout == 0.0);
	ck_assert_int_eq(opt.verbose, 0);

	jp__config cfg;
	char err[256];
	ck_assert_int_eq(jp__config_parse(&cfg, &opt, err, sizeof err), 0);
	ck_assert_int_eq(cfg.n_jobs, jp_cpu_count());
	ck_assert_int_eq(cfg.max_nbytes, 1048576);
	ck_assert_uint_eq(cfg.pre_dispatch, 2 * (size_t)cfg.n_jobs);
	ck_assert_uint_eq(cfg.batch_size, 0);
	jp__config_free(&cfg);
}
END_TEST

/* Open with one option changed; expect the code and a message quoting it. */
static void expect_rejected(jp_options opt, int code, const char *quoted)
{
	jp_pool *pool = (jp_pool *)1;
	int err = jp_pool_open(&pool, &opt);
	ck_assert_msg(err == code, "expected %s, got %s (%s)", jp_strerror(code), jp_strerror(err),
		      jp_pool_errmsg(NULL));
	ck_assert_ptr_null(pool);
	ck_assert_msg(strstr(jp_pool_errmsg(NULL), quoted), "message \"%s\" lacks \"%s\"",
		      jp_pool_errmsg(NULL), quoted);
	jpt_assert_no_children();
}

START_TEST(open_rejects_bad_values)
{
	jp_options o = JP_OPTIONS_INIT;
	o.n_jobs = 0;
	expect_rejected(o, JP_EOPTION, "n_jobs == 0");
	o = (jp_options)JP_OPTIONS_INIT;
	o.max_nbytes = "1X";
	expect_rejected(o, JP_EOPTION, "\"1X\"");
	o = (jp_options)JP_OPTIONS_INIT;
	o.mmap_mode = "rw";
	expect_rejected(o, JP_EOPTION, "\"rw\"");
	o = (jp_options)JP_OPTIONS_INIT;
	o.backend = "dask";
	expect_rejected(o, JP_EOPTION, "\"dask\"");
	o = (jp_options)JP_OPTIONS_INIT;
	o.timeout = -1;
	expect_rejected(o, JP_EOPTION, "timeout -1");
	o = (jp_options)JP_OPTIONS_INIT;
	o.timeout = NAN;
	expect_rejected(o, JP_EOPTION, "timeout");
	o = (jp_options)JP_OPTIONS_INIT;
	o.batch_size = "0";
	expect_rejected(o, JP_EOPTION, "batch_size \"0\"");
	o = (jp_options)JP_OPTIONS_INIT;
	o.pre_dispatch = "3*cores";
	expect_rejected(o, JP_EOPTION, "\"3*cores\"");
	o = (jp_options)JP_OPTIONS_INIT;
	o.initializer = "no_such_task";
	expect_rejected(o, JP_ENOTASK, "\"no_such_task\"");
	o = (jp_options)JP_OPTIONS_INIT;
	o.temp_folder = "";
	expect_rejected(o, JP_EOPTION, "temp_folder");
}
END_TEST

START_TEST(open_accepts_later_options)
{
	/* Options the next releases put in force are validated and accepted. */
	jp_options o = JP_OPTIONS_INIT;
	o.n_jobs = 2;
	o.max_nbytes = "none";
	o.mmap_mode = "r+";
	o.timeout = 2.5;
	o.temp_folder = "/tmp";
	o.batch_size = "3";
	o.pre_dispatch = "all";
	jp_pool *pool;
	ck_assert_int_eq(jp_pool_open(&pool, &o), 0);
	ck_assert_int_eq(jp_pool_n_jobs(pool), 2);
	jp_pool_close(pool);
	ck_assert_int_eq(jp_pool_open(&pool, NULL), 0);
	ck_assert_int_eq(jp_pool_n_jobs(pool), jp_cpu_count());
	jp_pool_close(pool);
	/* joblib's name for the thread backend, and ours */
	const char *threads[] = { "threading", "thread" };
	for (size_t i = 0; i < 2; i++) {
		o = (jp_options)JP_OPTIONS_INIT;
		o.n_jobs = 2;
		o.backend = threads[i];
		ck_assert_int_eq(jp_pool_open(&pool, &o), 0);
		ck_assert_int_eq(jp_pool_n_jobs(pool), 2);
		ck_assert_int_eq(jp_pool_worker_pid(pool, 1), (int)getpid());
		jp_pool_close(pool);
	}
	jpt_assert_no_children();
}
END_TEST

START_TEST(strerror_names_every_code)
{
	int codes[] = { JP_ETASK, JP_EWORKER, JP_ETIMEOUT, JP_EFRAME,
			JP_ENOTASK, JP_EOPTION, JP_ECANCELED, JP_ENOTSUP };
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		ck_assert_str_ne(jp_strerror(codes[i]), "unknown error");
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(jp_strerror(codes[i]), jp_strerror(codes[j]));
	}
	ck_assert_str_eq(jp_strerror(0), "success");
	ck_assert_str_eq(jp_strerror(-ENOENT), "No such file or directory");
	ck_assert_str_eq(jp_strerror(-99999), "unknown error");
	ck_assert_int_eq(jp_pool_open(NULL, NULL), -EINVAL);
	ck_assert_int_eq(jp_task_set_result(NULL, "x", 1), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("options");
	TCase *tc = jpt_tcase("parse");
	tcase_add_test(tc, bytes_parse);
	tcase_add_test(tc, batch_size_parse);
	tcase_add_test(tc, pre_dispatch_parse);
	tcase_add_test(tc, defaults_are_joblibs);
	tcase_add_test(tc, strerror_names_every_code);
	suite_add_tcase(s, tc);
	tc = jpt_tcase("open");
	tcase_add_test(tc, open_rejects_bad_values);
	tcase_add_test(tc, open_accepts_later_options);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
