/*
 * ioloop.c - which engine runs, and the calls that reach it. io_uring is
 * tried first where the build has it; the kernel may still refuse it (too
 * old, kernel.io_uring_disabled, a container's seccomp filter), and then
 * poll(2) runs, which every kernel has.
 */
#include "internal.h"
#include "ioloop.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>

int jp__io_new(jp__io **io, enum jp__io_choice want, int *uring_err)
{
	int uerr = 0;
	*io = NULL;
	if (want != JP__IO_POLL) {
#ifdef HAVE_LIBURING
		uerr = jp__io_uring_open(io);
		if (uerr == -ENOMEM)
			return uerr; /* not the kernel's refusal: do not hide it */
#else
		uerr = JP_ENOTSUP;
#endif
	}
	if (uring_err)
		*uring_err = uerr;
	if (*io)
		return 0;
	return jp__io_poll_open(io);
}

void jp__io_free(jp__io *io)
{
	if (io)
		io->ops->free(io);
}

const char *jp__io_engine(const jp__io *io)
{
	return io->ops->name;
}

void jp__io_set_spin(jp__io *io, double seconds)
{
	io->spin_s = seconds > 0 ? seconds : 0;
}

int jp__io_write(jp__io *io, int fd, const void *buf, size_t len, uint64_t tag)
{
	return io->ops->write(io, fd, buf, len, tag);
}

int jp__io_read(jp__io *io, int fd, void *buf, size_t len, uint64_t tag)
{
	return io->ops->read(io, fd, buf, len, tag);
}

void jp__io_forget(jp__io *io, int fd)
{
	if (fd >= 0)
		io->ops->forget(io, fd);
}

int jp__io_wait(jp__io *io, jp__io_event *ev, int max, int timeout_ms)
{
	return io->ops->wait(io, ev, max, timeout_ms);
}

void jp__io_flush(jp__io *io)
{
	if (io && io->ops->flush)
		io->ops->flush(io);
}

double jp__io_spin_until(const jp__io *io, int timeout_ms)
{
	if (io->spin_s <= 0 || timeout_ms == 0)
		return 0;
	double spin = io->spin_s;
	if (timeout_ms > 0 && spin > timeout_ms * 1e-3)
		spin = timeout_ms * 1e-3;
	return jp__now() + spin;
}

void jp__io_spin_pause(void)
{
	/* A spinner must not keep a worker that has real work off the CPU on
	 * a machine with as many CPUs as processes: yielding hands the CPU to
	 * anything runnable there and costs a system call when nothing is. */
	sched_yield();
}
