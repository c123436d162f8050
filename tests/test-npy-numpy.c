/*
 * test-npy-numpy.c - round trips with NumPy itself: NumPy loads what
 * jp_dump writes, jp_load loads what NumPy writes (tests/npy-numpy.py is
 * NumPy's half). Skipped (exit 77) when no python3 can import numpy; CI
 * installs python3-numpy so it runs there.
 */
#include "config.h" /* first: _GNU_SOURCE before any system header */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *python;
static char script[4096];
static char folder[4096];

/* Run argv, its output to stderr (or nowhere); its exit status, or -1. */
static int run(char *const argv[], bool quiet)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (quiet) {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	} else {
		posix_spawn_file_actions_adddup2(&fa, 2, 1);
	}
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		return -1;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The first of $PYTHON, python3, /usr/bin/python3 that imports numpy. */
static const char *find_python(void)
{
	static const char *cands[] = { NULL, "python3", "/usr/bin/python3" };
	cands[0] = getenv("PYTHON");
	for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
		if (!cands[i] || !*cands[i])
			continue;
		char *argv[] = { (char *)cands[i], "-c", "import numpy", NULL };
		if (run(argv, true) == 0)
			return cands[i];
	}
	return NULL;
}

/* Each test works in its own folder inside `root`, which the runner
 * removes after the test case whether the tests passed or died. */
static char root[2048];

static void root_make(void)
{
	jpt_mkdtemp(root, sizeof root, "npyrt");
}

static void root_remove(void)
{
	jpt_remove_tree(root);
}

static void folder_make(void)
{
	snprintf(folder, sizeof folder, "%s/t.XXXXXX", root);
	ck_assert_msg(mkdtemp(folder) != NULL, "mkdtemp: %s", strerror(errno));
}

static void folder_remove(void)
{
	DIR *d = opendir(folder);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	char p[8192];
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(p, sizeof p, "%s/%s", folder, de->d_name);
			unlink(p);
		}
	closedir(d);
	ck_assert_int_eq(rmdir(folder), 0);
}

static int run_script(const char *what)
{
	char *argv[] = { (char *)python, script, (char *)what, folder, NULL };
	return run(argv, false);
}

/* ---- the values both sides agree on (npy-numpy.py's value()) ---------- */

static const struct {
	const char *tok;
	jp_dtype dtype;
} toks[] = {
	{ "b1", JP_BOOL },    { "i1", JP_INT8 },    { "i2", JP_INT16 },   { "i4", JP_INT32 },
	{ "i8", JP_INT64 },   { "u1", JP_UINT8 },   { "u2", JP_UINT16 },  { "u4", JP_UINT32 },
	{ "u8", JP_UINT64 },  { "f4", JP_FLOAT32 }, { "f8", JP_FLOAT64 }, { "c8", JP_COMPLEX64 },
	{ "c16", JP_COMPLEX128 },
};

/* Element k (C order of the indices) of a case, in native byte order. */
static void value(jp_dtype t, size_t k, void *out)
{
	int64_t s = (int64_t)((k * 37) % 251) - 125;
	uint64_t u = (k * 37) % 251;
	double f = (double)k * 0.25 - 7.5, im = (double)k * 0.5 + 1;
	switch (t) {
	case JP_BOOL: *(uint8_t *)out = k % 3 == 0; break;
	case JP_INT8: *(int8_t *)out = (int8_t)s; break;
	case JP_INT16: *(int16_t *)out = (int16_t)s; break;
	case JP_INT32: *(int32_t *)out = (int32_t)s; break;
	case JP_INT64: *(int64_t *)out = s; break;
	case JP_UINT8: *(uint8_t *)out = (uint8_t)u; break;
	case JP_UINT16: *(uint16_t *)out = (uint16_t)u; break;
	case JP_UINT32: *(uint32_t *)out = (uint32_t)u; break;
	case JP_UINT64: *(uint64_t *)out = u; break;
	case JP_FLOAT32: *(float *)out = (float)f; break;
	case JP_FLOAT64: *(double *)out = f; break;
	case JP_COMPLEX64: ((float *)out)[0] = (float)f; ((float *)out)[1] = (float)im; break;
	case JP_COMPLEX128: ((double *)out)[0] = f; ((double *)out)[1] = im; break;
	}
}

/* Where element k (C order of the indices) lives in an array's memory. */
static size_t position(const jp_array *a, size_t k)
{
	if (!(a->flags & JP_ARRAY_FORTRAN))
		return k;
	size_t idx[JP_MAX_NDIM];
	for (int d = a->ndim - 1; d >= 0; d--) {
		idx[d] = k % a->shape[d];
		k /= a->shape[d];
	}
	size_t pos = 0;
	for (int d = a->ndim - 1; d >= 0; d--)
		pos = pos * a->shape[d] + idx[d];
	return pos;
}

static size_t count(const jp_array *a)
{
	size_t n = 1;
	for (int d = 0; d < a->ndim; d++)
		n *= a->shape[d];
	return n;
}

static void fill(jp_array *a)
{
	size_t size = jp_dtype_size(a->dtype);
	for (size_t k = 0; k < count(a); k++)
		value(a->dtype, k, (uint8_t *)a->data + position(a, k) * size);
}

/* The first element that differs, or -1. */
static long differs(const jp_array *a)
{
	size_t size = jp_dtype_size(a->dtype);
	uint8_t want[16];
	for (size_t k = 0; k < count(a); k++) {
		value(a->dtype, k, want);
		if (memcmp((uint8_t *)a->data + position(a, k) * size, want, size))
			return (long)k;
	}
	return -1;
}

/* ---- jp_dump, then NumPy loads ---------------------------------------- */

static void dump_case(size_t t, bool fortran, int ndim, const size_t *shape)
{
	jp_array a = { .dtype = toks[t].dtype, .ndim = ndim,
		       .flags = fortran ? JP_ARRAY_FORTRAN : 0 };
	char name[8192], dims[64] = "s";
	int n = 0;
	for (int d = 0; d < ndim; d++) {
		a.shape[d] = shape[d];
		n += snprintf(dims + n, sizeof dims - (size_t)n, "%s%zu", d ? "x" : "", shape[d]);
	}
	a.data = malloc(jp_array_nbytes(&a) + 1);
	fill(&a);
	snprintf(name, sizeof name, "%s/%s-%s_%s_%s_v1.npy", folder,
		 jp_dtype_size(a.dtype) == 1 ? "na" : "le", toks[t].tok, fortran ? "F" : "C", dims);
	int rc = jp_dump(&a, name);
	ck_assert_msg(rc == 0, "jp_dump: %s", jp_npy_errmsg());
	free(a.data);
}

START_TEST(numpy_loads_our_files)
{
	folder_make();
	size_t s34[] = { 3, 4 }, s432[] = { 4, 3, 2 }, s03[] = { 0, 3 }, s7[] = { 7 };
	for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++) {
		dump_case(t, false, 2, s34);
		dump_case(t, true, 3, s432);
	}
	dump_case(10, false, 0, NULL); /* f8 0-d */
	dump_case(3, false, 2, s03);   /* i4 empty */
	dump_case(12, false, 1, s7);   /* c16 1-d */
	int rc = run_script("check");
	ck_assert_msg(rc == 0, "npy-numpy.py check exited with %d", rc);
	folder_remove();
}
END_TEST

/* ---- NumPy saves, then jp_load ---------------------------------------- */

/* Parse a case's file name: BYTEORDER-DTYPE_ORDER_SHAPE_vVERSION.npy */
static void parse_name(const char *name, jp_dtype *dtype, bool *big, bool *fortran, int *ndim,
		       size_t *shape)
{
	char tok[8], order, dims[64];
	ck_assert_msg(sscanf(name, "%*2s-%7[a-z0-9]_%c_%63[0-9xs]_v", tok, &order, dims) == 3,
		      "bad case name %s", name);
	*big = !strncmp(name, "be", 2);
	*fortran = order == 'F';
	*dtype = 0;
	for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++)
		if (!strcmp(toks[t].tok, tok))
			*dtype = toks[t].dtype;
	ck_assert_msg(*dtype, "unknown dtype in %s", name);
	*ndim = 0;
	if (strcmp(dims, "s"))
		for (char *p = dims, *end; *p; p = *end ? end + 1 : end)
			shape[(*ndim)++] = strtoul(p, &end, 10);
}

START_TEST(we_load_numpy_files)
{
	folder_make();
	int rc = run_script("save");
	ck_assert_msg(rc == 0, "npy-numpy.py save exited with %d", rc);
	DIR *d = opendir(folder);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	int files = 0, big_files = 0;
	while ((de = readdir(d))) {
		if (!strstr(de->d_name, ".npy"))
			continue;
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", folder, de->d_name);
		jp_dtype dtype;
		bool big, fortran;
		int ndim;
		size_t shape[JP_MAX_NDIM];
		parse_name(de->d_name, &dtype, &big, &fortran, &ndim, shape);
		static const char *const modes[] = { NULL, "c", "r", "r+" };
		for (int m = 0; m < 4; m++) {
			jp_array a;
			rc = jp_load(path, modes[m], &a);
			if (big && m >= 2) {
				ck_assert_msg(rc == JP_ENOTSUP, "%s mode %s: %d", de->d_name, modes[m], rc);
				continue;
			}
			ck_assert_msg(rc == 0, "%s mode %s: %s", de->d_name, modes[m] ? modes[m] : "NULL",
				      jp_npy_errmsg());
			ck_assert_int_eq(a.dtype, dtype);
			ck_assert_int_eq(a.ndim, ndim);
			for (int i = 0; i < ndim; i++)
				ck_assert_uint_eq(a.shape[i], shape[i]);
			ck_assert_msg(!!(a.flags & JP_ARRAY_FORTRAN) == fortran, "%s: order", de->d_name);
			long k = differs(&a);
			ck_assert_msg(k < 0, "%s mode %s: element %ld differs", de->d_name,
				      modes[m] ? modes[m] : "NULL", k);
			jp_array_release(&a);
		}
		files++;
		big_files += big;
	}
	closedir(d);
	ck_assert_int_ge(files, 25);
	ck_assert_int_ge(big_files, 8);
	folder_remove();
}
END_TEST

int main(void)
{
	python = find_python();
	if (!python) {
		printf("SKIP: no python3 that can import numpy (install python3-numpy, or set PYTHON)\n");
		return 77;
	}
#ifdef JPT_SRCDIR
	snprintf(script, sizeof script, "%s/tests/npy-numpy.py", JPT_SRCDIR);
#else
	const char *srcdir = getenv("srcdir");
	snprintf(script, sizeof script, "%s/tests/npy-numpy.py", srcdir ? srcdir : ".");
#endif
	printf("using %s with numpy, %s\n", python, script);
	fflush(stdout);
	Suite *s = suite_create("npy-numpy");
	TCase *tc = jpt_tcase("numpy");
	tcase_add_test(tc, numpy_loads_our_files);
	tcase_add_test(tc, we_load_numpy_files);
	tcase_add_unchecked_fixture(tc, root_make, root_remove);
	suite_add_tcase(s, tc);
	return jpt_run(s);
}
