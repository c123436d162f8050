/*
 * ioloop.h - the master's I/O engine, one interface for poll(2) now and
 * io_uring later. It is completion-based (the engine performs the reads
 * and writes, as io_uring does) so the scheduler never cares which engine
 * runs.
 *
 * A write completes when all its bytes are sent; the fd must be a socket
 * (sends use MSG_NOSIGNAL, so a dead worker is EPIPE, never SIGPIPE in the
 * host). A read completes with at least one byte, 0 at end of file, or
 * -errno. At most one read and one write may be pending per fd.
 */
#ifndef JOBPOOL_IOLOOP_H
#define JOBPOOL_IOLOOP_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct jp__io jp__io;

enum jp__io_kind { JP__IO_READ = 1, JP__IO_WRITE = 2 };

typedef struct jp__io_event {
	uint64_t tag;
	int kind;
	ssize_t res; /* bytes, 0 (EOF), or -errno */
} jp__io_event;

int jp__io_new(jp__io **io);
void jp__io_free(jp__io *io);
const char *jp__io_engine(const jp__io *io);

/* Returns 0 when the whole buffer went out at once (no event follows),
 * 1 when it is pending (a JP__IO_WRITE event follows), or -errno. */
int jp__io_write(jp__io *io, int fd, const void *buf, size_t len, uint64_t tag);
/* Queue a read; its JP__IO_READ event follows. 0 or -errno. */
int jp__io_read(jp__io *io, int fd, void *buf, size_t len, uint64_t tag);
/* Drop whatever is pending on fd, before it is closed. */
void jp__io_forget(jp__io *io, int fd);
/* Wait for completions: their count, or -errno. timeout_ms < 0: no limit. */
int jp__io_wait(jp__io *io, jp__io_event *ev, int max, int timeout_ms);

#endif
