/*
 * ioloop.h - the master's I/O engine, one interface for io_uring
 * (ioloop_uring.c) and poll(2) (ioloop_poll.c), chosen at run time
 * (ioloop.c). It is completion-based (the engine performs the reads and
 * writes, as io_uring does) so the scheduler never cares which engine runs.
 *
 * A write completes when all its bytes are sent; the fd must be a socket
 * (sends use MSG_NOSIGNAL, so a dead worker is EPIPE, never SIGPIPE in the
 * host). A read completes with at least one byte, 0 at end of file, or
 * -errno. At most one read and one write may be pending per fd.
 */
#ifndef JOBPOOL_IOLOOP_H
#define JOBPOOL_IOLOOP_H

#include "internal.h"

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

/* Open an engine: io_uring for JP__IO_AUTO and JP__IO_URING where this
 * build has liburing and the kernel lets this process set up a ring, poll(2)
 * otherwise. *uring_err (may be NULL) says why io_uring does not run: 0 when
 * it does, -errno from the kernel (ENOSYS, EPERM...), JP_ENOTSUP in a build
 * without liburing; for JP__IO_POLL it is 0. */
int jp__io_new(jp__io **io, enum jp__io_choice want, int *uring_err);
void jp__io_free(jp__io *io);
/* "io_uring" or "poll". */
const char *jp__io_engine(const jp__io *io);
/* The active wait: jp__io_wait polls for completions without blocking for
 * up to `seconds` before it blocks; 0 (the default) blocks at once. */
void jp__io_set_spin(jp__io *io, double seconds);

/* Returns 0 when the whole buffer went out at once (no event follows),
 * 1 when it is pending (a JP__IO_WRITE event follows), or -errno. The
 * io_uring engine never returns 0: its writes are submitted with the next
 * jp__io_wait or jp__io_flush, all in one system call. */
int jp__io_write(jp__io *io, int fd, const void *buf, size_t len, uint64_t tag);
/* Queue a read; its JP__IO_READ event follows. 0 or -errno. */
int jp__io_read(jp__io *io, int fd, void *buf, size_t len, uint64_t tag);
/* Drop whatever is pending on fd, before it is closed: once it returns, no
 * event for fd is reported and no buffer given for fd is written to. */
void jp__io_forget(jp__io *io, int fd);
/* Wait for completions: their count, or -errno. timeout_ms < 0: no limit.
 * -EDEADLK when nothing is pending that could ever complete. */
int jp__io_wait(jp__io *io, jp__io_event *ev, int max, int timeout_ms);
/* Start the writes queued so far without waiting for anything: for frames
 * sent outside a call, which no jp__io_wait follows. */
void jp__io_flush(jp__io *io);

/* ---- for the engines ------------------------------------------------ */

typedef struct jp__io_ops {
	const char *name;
	void (*free)(jp__io *io);
	int (*write)(jp__io *io, int fd, const void *buf, size_t len, uint64_t tag);
	int (*read)(jp__io *io, int fd, void *buf, size_t len, uint64_t tag);
	void (*forget)(jp__io *io, int fd);
	int (*wait)(jp__io *io, jp__io_event *ev, int max, int timeout_ms);
	void (*flush)(jp__io *io); /* NULL: writes go out when they are made */
} jp__io_ops;

/* Every engine's state starts with this. */
struct jp__io {
	const jp__io_ops *ops;
	double spin_s; /* see jp__io_set_spin */
};

int jp__io_poll_open(jp__io **io);
#ifdef HAVE_LIBURING
/* -errno when the kernel refuses a ring or lacks an operation we use. */
int jp__io_uring_open(jp__io **io);
#endif

/* The active wait's bound for a jp__io_wait that may block timeout_ms
 * (< 0: no limit): the jp__now() at which spinning stops, 0 for none. */
double jp__io_spin_until(const jp__io *io, int timeout_ms);
/* One turn of a spin loop: let whatever else wants this CPU run first. */
void jp__io_spin_pause(void);

#endif
