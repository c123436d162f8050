/*
 * npyio.c - jp_dump and jp_load: arrays to and from .npy files, the file
 * work around npy.c's format code.
 *
 * These functions have no pool to keep a message in; like errno, the
 * detail of the last failure is kept per thread (jp_npy_errmsg).
 */
#include "internal.h"
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static _Thread_local char npy_errmsg[JP__ERRMSG_MAX];

const char *jp_npy_errmsg(void)
{
	return npy_errmsg;
}

static int fail(int err, const char *fmt, ...) JP_PRINTF(2, 3);

static int fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	jp__vmsgf(npy_errmsg, sizeof npy_errmsg, fmt, ap);
	va_end(ap);
	return err;
}

/* A system call of jp_load failed: the code, and a message naming the file
 * and the call. */
static int sys_fail(const char *path, const char *call)
{
	int err = -errno;
	return fail(err, "jp_load %s: %s: %s", path, call, jp_strerror(err));
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		/* Linux writes at most about 2 GiB at a time; ask for no more. */
		ssize_t w = write(fd, b, n < ((size_t)1 << 30) ? n : (size_t)1 << 30);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly n bytes at off; -EIO if the file ends first (it shrank). */
static int pread_all(int fd, void *p, size_t n, off_t off)
{
	uint8_t *b = p;
	while (n) {
		ssize_t r = pread(fd, b, n < ((size_t)1 << 30) ? n : (size_t)1 << 30, off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		b += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* ---- dump ---------------------------------------------------------------- */

/*
 * A temporary name beside `path`: ".NAME.XXXXXXXXXXXX.tmp" in the same
 * folder, so the final rename stays within one file system.
 */
static char *temp_name(const char *path)
{
	uint64_t r;
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
		r = (uint64_t)getpid() << 32 ^ (uint64_t)(jp__now() * 1e9);
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	size_t len = strlen(path) + 32;
	char *t = malloc(len);
	if (t)
		snprintf(t, len, "%.*s.%s.%012llx.tmp", (int)dirlen, path, path + dirlen,
			 (unsigned long long)(r & 0xffffffffffffULL));
	return t;
}

int jp_dump(const jp_array *a, const char *path)
{
	npy_errmsg[0] = '\0';
	if (!a || !path || !*path)
		return fail(-EINVAL, "jp_dump: %s is NULL or empty", !a ? "the array" : "the path");
	size_t nbytes = jp_array_nbytes(a);
	if (nbytes == SIZE_MAX)
		return fail(-EINVAL, "jp_dump %s: malformed array (dtype %d, ndim %d, or its size overflows)",
			    path, (int)a->dtype, a->ndim);
	if (nbytes && !a->data)
		return fail(-EINVAL, "jp_dump %s: array of %zu bytes has no data", path, nbytes);
	uint8_t header[JP__NPY_FORMAT_MAX];
	long hlen = jp__npy_format_header(a, header, sizeof header);
	if (hlen < 0)
		return fail((int)hlen, "jp_dump %s: cannot format the header", path);

	/* Write a temporary file and rename it over path: a reader sees the
	 * old file or the new one, never half of one, and a failed dump
	 * leaves nothing. The mode is 0666 less the umask, as np.save's. */
	int fd = -1, err = 0;
	char *tmp = NULL;
	for (int tries = 0; fd < 0 && tries < 16; tries++) {
		free(tmp);
		if (!(tmp = temp_name(path)))
			return fail(-ENOMEM, "jp_dump %s: out of memory", path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		err = -errno;
		fail(err, "jp_dump %s: create %s: %s", path, tmp, jp_strerror(err));
		free(tmp);
		return err;
	}
	if ((err = write_all(fd, header, (size_t)hlen)) || (err = write_all(fd, a->data, nbytes))) {
		fail(err, "jp_dump %s: write: %s", path, jp_strerror(err));
		close(fd);
		goto undo;
	}
	/* close reports late write errors on some file systems (NFS) */
	if (close(fd)) {
		err = -errno;
		fail(err, "jp_dump %s: close: %s", path, jp_strerror(err));
		goto undo;
	}
	if (rename(tmp, path)) {
		err = -errno;
		fail(err, "jp_dump %s: rename %s to it: %s", path, tmp, jp_strerror(err));
		goto undo;
	}
	free(tmp);
	return 0;
undo:
	unlink(tmp);
	free(tmp);
	return err;
}

/* ---- load ---------------------------------------------------------------- */

/* The header at the start of fd, whose file is `size` bytes long. */
static int read_header(int fd, const char *path, uint64_t size, jp__npy_header *h)
{
	size_t want = size < 4096 ? (size_t)size : 4096;
	uint8_t *buf = NULL;
	int err;
	for (int round = 0; round < 2; round++) {
		uint8_t *nb = realloc(buf, want ? want : 1);
		if (!nb) {
			err = fail(-ENOMEM, "jp_load %s: out of memory", path);
			goto out;
		}
		buf = nb;
		if ((err = pread_all(fd, buf, want, 0))) {
			fail(err, "jp_load %s: read: %s", path, jp_strerror(err));
			goto out;
		}
		err = jp__npy_parse_header(buf, want, h);
		if (err != -EAGAIN)
			break;
		/* -EAGAIN: the header is longer than what we read, or than the file */
		if (h->data_offset > size) {
			err = fail(-EINVAL, "jp_load %s: truncated: %llu bytes, the header needs %zu",
				   path, (unsigned long long)size, h->data_offset);
			goto out;
		}
		want = h->data_offset;
	}
	if (err == -EAGAIN) /* the file changed between the two reads */
		err = fail(-EIO, "jp_load %s: the file changed while being read", path);
	else if (err)
		fail(err, "jp_load %s: %s", path, h->msg);
	else if ((err = jp__npy_check_size(h, size)))
		fail(err, "jp_load %s: %s", path, h->msg);
out:
	free(buf);
	return err;
}

static int load_memory(int fd, const char *path, const jp__npy_header *h, jp_array *out)
{
	jp_backing *b = calloc(1, sizeof *b);
	void *data = NULL;
	/* 64-byte aligned, as every array the library hands out */
	if (!b || posix_memalign(&data, 64, h->nbytes ? h->nbytes : 1)) {
		free(b);
		return fail(-ENOMEM, "jp_load %s: out of memory for %zu bytes", path, h->nbytes);
	}
	int err = pread_all(fd, data, h->nbytes, (off_t)h->data_offset);
	if (err) {
		free(data);
		free(b);
		return fail(err, "jp_load %s: read: %s", path, jp_strerror(err));
	}
	if (h->big_endian != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__))
		jp__npy_swap(data, h->nbytes, jp__npy_swap_unit(h->dtype));
	*b = (jp_backing){ .kind = JP__BACK_HEAP, .base = data, .len = h->nbytes ? h->nbytes : 1 };
	out->data = data;
	out->backing = b;
	return 0;
}

static int load_mapped(int fd, const char *path, const jp__npy_header *h, char mode, jp_array *out)
{
	bool swap = h->big_endian != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
	size_t len = h->data_offset + h->nbytes;
	int prot = mode == 'r' ? PROT_READ : PROT_READ | PROT_WRITE;
	int flags = mode == 'c' ? MAP_PRIVATE : MAP_SHARED;
	jp_backing *b = calloc(1, sizeof *b);
	char *real = realpath(path, NULL);
	if (!b || !real) {
		int err = !b ? -ENOMEM : -errno;
		free(b);
		free(real);
		return fail(err, "jp_load %s: realpath: %s", path, jp_strerror(err));
	}
	void *base = mmap(NULL, len, prot, flags, fd, 0);
	if (base == MAP_FAILED) {
		int err = sys_fail(path, "mmap");
		free(b);
		free(real);
		return err;
	}
	/* "c" only: the swap writes this process's private copy of the pages */
	if (swap)
		jp__npy_swap((uint8_t *)base + h->data_offset, h->nbytes, jp__npy_swap_unit(h->dtype));
	*b = (jp_backing){ .kind = JP__BACK_MAP, .base = base, .len = len, .path = real,
			   .offset = h->data_offset, .writable = mode != 'r',
			   .private_map = mode == 'c' };
	out->data = (uint8_t *)base + h->data_offset;
	out->backing = b;
	if (mode == 'r')
		out->flags |= JP_ARRAY_READONLY | JP_ARRAY_SHARED;
	else if (mode == '+')
		out->flags |= JP_ARRAY_SHARED;
	return 0;
}

int jp_load(const char *path, const char *mmap_mode, jp_array *out)
{
	npy_errmsg[0] = '\0';
	if (out)
		memset(out, 0, sizeof *out);
	if (!path || !*path || !out)
		return fail(-EINVAL, "jp_load: %s is NULL or empty", !out ? "the array" : "the path");
	/* mode: 0 read into memory, 'r', '+' (r+), 'c' */
	char mode;
	if (!mmap_mode)
		mode = 0;
	else if (!strcmp(mmap_mode, "r"))
		mode = 'r';
	else if (!strcmp(mmap_mode, "r+"))
		mode = '+';
	else if (!strcmp(mmap_mode, "c"))
		mode = 'c';
	else if (!strcmp(mmap_mode, "w+"))
		return fail(-EINVAL,
			    "jp_load %s: mmap_mode \"w+\" creates a new array and loads nothing: use NULL, \"r\", \"r+\" or \"c\"",
			    path);
	else
		return fail(-EINVAL, "jp_load %s: mmap_mode \"%.16s\" is not NULL, \"r\", \"r+\" or \"c\"",
			    path, mmap_mode);

	int fd;
	do
		fd = open(path, (mode == '+' ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return sys_fail(path, "open");
	struct stat st;
	int err;
	if (fstat(fd, &st)) {
		err = sys_fail(path, "fstat");
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = fail(S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL, "jp_load %s: not a regular file",
			   path);
		goto out;
	}

	jp__npy_header h;
	if ((err = read_header(fd, path, (uint64_t)st.st_size, &h)))
		goto out;
	bool swap = h.big_endian != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
	if (swap && (mode == 'r' || mode == '+')) {
		err = fail(JP_ENOTSUP,
			   "jp_load %s: the data is %s-endian, this host is not: map it with \"c\" or read it with NULL, which convert it",
			   path, h.big_endian ? "big" : "little");
		goto out;
	}
	if (mode && (err = jp__npy_check_align(&h))) {
		fail(err, "jp_load %s: %s", path, h.msg);
		goto out;
	}
	out->dtype = h.dtype;
	out->ndim = h.ndim;
	memcpy(out->shape, h.shape, sizeof h.shape);
	out->flags = h.fortran_order ? JP_ARRAY_FORTRAN : 0;
	err = mode ? load_mapped(fd, path, &h, mode, out) : load_memory(fd, path, &h, out);
	if (err)
		memset(out, 0, sizeof *out);
out:
	close(fd);
	return err;
}
