/*
 * ioloop_poll.c - the ioloop.h engine on poll(2): it keeps the pending
 * operations, polls their fds, and performs the reads and writes that are
 * ready. One poll per round for all workers.
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

struct jp__io {
	op *ops;
	size_t nops, cap;
	struct pollfd *pfds;
	size_t pfd_cap;
};

int jp__io_new(jp__io **io)
{
	*io = calloc(1, sizeof **io);
	return *io ? 0 : -ENOMEM;
}

void jp__io_free(jp__io *io)
{
	if (!io)
		return;
	free(io->ops);
	free(io->pfds);
	free(io);
}

const char *jp__io_engine(const jp__io *io)
{
	(void)io;
	return "poll";
}

static int add_op(jp__io *io, op o)
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

int jp__io_write(jp__io *io, int fd, const void *buf, size_t len, uint64_t tag)
{
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

int jp__io_read(jp__io *io, int fd, void *buf, size_t len, uint64_t tag)
{
	return add_op(io, (op){ .fd = fd, .kind = JP__IO_READ, .buf = buf, .len = len, .tag = tag });
}

void jp__io_forget(jp__io *io, int fd)
{
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

int jp__io_wait(jp__io *io, jp__io_event *ev, int max, int timeout_ms)
{
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
	int n = poll(io->pfds, io->nops, timeout_ms);
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
