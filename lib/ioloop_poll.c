/*
 * ioloop_poll.c - the ioloop.h engine on poll(2): it keeps the pending
 * operations, polls their fds, and performs the reads and writes that are
 * ready. One poll per round for all workers; a write is tried at once, so
 * a round costs one send per worker, one poll and one read per result.
 */
#include "internal.h"
#include "ioloop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct op {
	int fd;
	int kind;
	uint8_t *buf;
	size_t len, done;
	uint64_t tag;
} op;

typedef struct poll_io {
	jp__io base;
	op *ops;
	size_t nops, cap;
	struct pollfd *pfds;
	size_t pfd_cap;
} poll_io;

static void poll_free(jp__io *base)
{
	poll_io *io = (poll_io *)base;
	free(io->ops);
	free(io->pfds);
	free(io);
}

static int add_op(poll_io *io, op o)
{
	if (io->nops == io->cap) {
		size_t cap = io->cap ? io->cap * 2 : 16;
		op *p = realloc(io->ops, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		io->ops = p;
		io->cap = cap;
	}
	io->ops[io->nops++] = o;
	return 0;
}

/* Send what the socket takes now; -errno on a real error. */
static ssize_t send_some(int fd, const uint8_t *buf, size_t len)
{
	for (;;) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	}
}

static int poll_write(jp__io *base, int fd, const void *buf, size_t len, uint64_t tag)
{
	poll_io *io = (poll_io *)base;
	/* Most dispatches fit in the socket buffer: try at once, so a round
	 * costs one send and no poll. */
	ssize_t n = send_some(fd, buf, len);
	if (n < 0)
		return (int)n;
	if ((size_t)n == len)
		return 0;
	int err = add_op(io, (op){ .fd = fd, .kind = JP__IO_WRITE, .buf = (uint8_t *)buf,
				   .len = len, .done = (size_t)n, .tag = tag });
	return err ? err : 1;
}

static int poll_read(jp__io *base, int fd, void *buf, size_t len, uint64_t tag)
{
	return add_op((poll_io *)base, (op){ .fd = fd, .kind = JP__IO_READ, .buf = buf, .len = len, .tag = tag });
}

static void poll_forget(jp__io *base, int fd)
{
	poll_io *io = (poll_io *)base;
	size_t j = 0;
	for (size_t i = 0; i < io->nops; i++)
		if (io->ops[i].fd != fd)
			io->ops[j++] = io->ops[i];
	io->nops = j;
}

/* Perform a ready operation; true when it completed into *ev. */
static bool perform(op *o, jp__io_event *ev)
{
	if (o->kind == JP__IO_READ) {
		ssize_t n;
		do
			n = read(o->fd, o->buf, o->len);
		while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		*ev = (jp__io_event){ .tag = o->tag, .kind = JP__IO_READ, .res = n < 0 ? -errno : n };
		return true;
	}
	ssize_t n = send_some(o->fd, o->buf + o->done, o->len - o->done);
	if (n >= 0 && (o->done += (size_t)n) < o->len)
		return false;
	*ev = (jp__io_event){ .tag = o->tag, .kind = JP__IO_WRITE,
			      .res = n < 0 ? n : (ssize_t)o->len };
	return true;
}

/* poll, spinning first for the active wait: poll(…, 0) until something is
 * ready or the spin bound passes, then poll with the caller's timeout. */
static int poll_spin(poll_io *io, int timeout_ms)
{
	double until = jp__io_spin_until(&io->base, timeout_ms);
	if (until) {
		double start = jp__now();
		for (;;) {
			int n = poll(io->pfds, io->nops, 0);
			if (n != 0)
				return n;
			if (jp__now() >= until)
				break;
			jp__io_spin_pause();
		}
		if (timeout_ms > 0) {
			int spent = (int)((jp__now() - start) * 1e3);
			timeout_ms = spent < timeout_ms ? timeout_ms - spent : 0;
		}
	}
	return poll(io->pfds, io->nops, timeout_ms);
}

static int poll_wait(jp__io *base, jp__io_event *ev, int max, int timeout_ms)
{
	poll_io *io = (poll_io *)base;
	if (io->nops == 0)
		return -EDEADLK; /* nothing could ever complete */
	if (io->pfd_cap < io->nops) {
		struct pollfd *p = realloc(io->pfds, io->nops * sizeof *p);
		if (!p)
			return -ENOMEM;
		io->pfds = p;
		io->pfd_cap = io->nops;
	}
	for (size_t i = 0; i < io->nops; i++)
		io->pfds[i] = (struct pollfd){ .fd = io->ops[i].fd,
					       .events = io->ops[i].kind == JP__IO_READ ? POLLIN : POLLOUT };
	int n = poll_spin(io, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;

	int got = 0;
	size_t j = 0, nops = io->nops;
	for (size_t i = 0; i < nops; i++) {
		op o = io->ops[i];
		if (got < max && io->pfds[i].revents && perform(&o, &ev[got])) {
			got++;
			continue; /* completed: drop it */
		}
		io->ops[j++] = o;
	}
	io->nops = j;
	return got;
}

static const jp__io_ops poll_ops = {
	.name = "poll",
	.free = poll_free,
	.write = poll_write,
	.read = poll_read,
	.forget = poll_forget,
	.wait = poll_wait,
};

int jp__io_poll_open(jp__io **io)
{
	poll_io *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->base.ops = &poll_ops;
	*io = &p->base;
	return 0;
}
