/*
 * ioloop_uring.c - the ioloop.h engine on io_uring: one ring for all the
 * workers. Reads and writes are queued here and become SQEs at the next
 * jp__io_wait, which submits them and waits in the same io_uring_enter:
 * a round of dispatch is one system call, whatever the number of workers.
 *
 * Every operation has a slot in `ops`; its index is the SQE's user_data,
 * so a completion finds its operation even after the fd number was closed
 * and reused. A forgotten operation still in the kernel is cancelled and
 * waited for: its buffer is not written after jp__io_forget returns.
 */
#include "internal.h"
#include "ioloop.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Two operations per worker at most: 256 entries serve 128 workers a round
 * and more in several submissions; completions beyond the CQ's 512 wait
 * in the kernel (IORING_FEAT_NODROP). */
#define RING_ENTRIES 256
/* One SQE moves at most this much; a longer write is resumed like a short
 * one, a longer read completes short, as reads may. */
#define MAX_CHUNK (1u << 30)

/* user_data: an operation's index + 1, with UD_POLL for the readiness poll
 * that follows an -EAGAIN; the values at the top are the cancellations'
 * own completions and liburing's internal timeout. */
#define UD_POLL (1ull << 62)
#define UD_CANCEL_FD (UINT64_MAX - 1)
#define UD_CANCEL_OP (UINT64_MAX - 2)
#define UD_LIBURING_TIMEOUT UINT64_MAX

#ifndef IORING_SQ_TASKRUN
#define IORING_SQ_TASKRUN (1U << 2)
#endif

/* An operation waits in the queue for its SQE, is in the kernel, then is
 * done and in the ready list until jp__io_wait hands out its event. */
enum { OP_FREE, OP_QUEUED, OP_KERNEL, OP_DONE };

typedef struct uop {
	int fd;
	uint8_t kind;       /* JP__IO_READ, JP__IO_WRITE */
	uint8_t state;
	bool dead;          /* forgotten: its completion is dropped */
	bool poll_first;    /* the kernel said EAGAIN: wait for readiness first */
	uint8_t *buf;
	size_t len, done;
	uint64_t tag;
	uint64_t ud;        /* the user_data of its SQE in the kernel */
	ssize_t res;        /* OP_DONE: the event's */
	uint32_t next_free;
} uop;

typedef struct uring_io {
	jp__io base;
	struct io_uring ring;
	pid_t owner;        /* a child forked by the host has no ring mapped */
	bool dontfork;
	bool cancel_fd;     /* IORING_ASYNC_CANCEL_FD works (Linux 5.19) */

	uop *ops;
	uint32_t nops, free_head;
	uint32_t *queue;    /* operations waiting for their SQE, in order */
	size_t nqueue;
	size_t live;        /* operations not forgotten and not completed */

	uint32_t *ready;    /* done, event not handed out yet: [rhead, nready) */
	size_t rhead, nready;

	int cancel_res;     /* the last fd cancellation's result */
	unsigned cancels;   /* fd cancellations whose completion is due */
} uring_io;

#define NO_OP UINT32_MAX

/* The queue and the ready list grow with the slots, so that neither can
 * fail later, in the middle of taking in a completion: an operation is in
 * one of them at most, once. */
static int new_op(uring_io *io, uint32_t *idx)
{
	if (io->free_head == NO_OP) {
		uint32_t cap = io->nops ? io->nops * 2 : 16;
		uint32_t *q = realloc(io->queue, cap * sizeof *q);
		if (q)
			io->queue = q;
		uint32_t *r = q ? realloc(io->ready, cap * sizeof *r) : NULL;
		if (r)
			io->ready = r;
		uop *p = r ? realloc(io->ops, cap * sizeof *p) : NULL;
		if (!p)
			return -ENOMEM;
		for (uint32_t i = io->nops; i < cap; i++)
			p[i] = (uop){ .state = OP_FREE, .next_free = i + 1 < cap ? i + 1 : NO_OP };
		io->ops = p;
		io->free_head = io->nops;
		io->nops = cap;
	}
	*idx = io->free_head;
	io->free_head = io->ops[*idx].next_free;
	return 0;
}

static void free_op(uring_io *io, uint32_t i)
{
	io->ops[i] = (uop){ .state = OP_FREE, .next_free = io->free_head };
	io->free_head = i;
}

static void enqueue(uring_io *io, uint32_t i)
{
	io->queue[io->nqueue++] = i;
	io->ops[i].state = OP_QUEUED;
}

static void push_ready(uring_io *io, uint32_t k, ssize_t res)
{
	if (io->nready == io->nops) { /* then rhead > 0: k is not in the list */
		memmove(io->ready, io->ready + io->rhead, (io->nready - io->rhead) * sizeof *io->ready);
		io->nready -= io->rhead;
		io->rhead = 0;
	}
	io->ready[io->nready++] = k;
	io->ops[k].res = res;
	io->ops[k].state = OP_DONE;
	io->live--;
}

static bool have_ready(const uring_io *io)
{
	return io->rhead < io->nready;
}

/* ---- submission --------------------------------------------------------- */

static struct io_uring_sqe *get_sqe(uring_io *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
	if (!sqe && io_uring_submit(&io->ring) >= 0)
		sqe = io_uring_get_sqe(&io->ring);
	return sqe;
}

/* Turn queued operations into SQEs; what finds no SQE stays queued. */
static void fill_sqes(uring_io *io)
{
	size_t i = 0;
	for (; i < io->nqueue; i++) {
		uint32_t k = io->queue[i];
		uop *o = &io->ops[k];
		struct io_uring_sqe *sqe = get_sqe(io);
		if (!sqe)
			break;
		size_t left = o->len - o->done;
		unsigned chunk = left > MAX_CHUNK ? MAX_CHUNK : (unsigned)left;
		if (o->poll_first)
			io_uring_prep_poll_add(sqe, o->fd, o->kind == JP__IO_READ ? POLLIN : POLLOUT);
		else if (o->kind == JP__IO_READ)
			io_uring_prep_read(sqe, o->fd, o->buf, chunk, (uint64_t)-1);
		else /* MSG_WAITALL: the kernel resumes a short send itself (5.19) */
			io_uring_prep_send(sqe, o->fd, o->buf + o->done, chunk,
					   MSG_NOSIGNAL | MSG_WAITALL);
		o->ud = ((uint64_t)k + 1) | (o->poll_first ? UD_POLL : 0);
		sqe->user_data = o->ud;
		o->state = OP_KERNEL;
	}
	memmove(io->queue, io->queue + i, (io->nqueue - i) * sizeof *io->queue);
	io->nqueue -= i;
}

static void get_events(uring_io *io)
{
	/* runs the task work that completes operations (COOP_TASKRUN) and
	 * flushes completions that overflowed the CQ */
	(void)syscall(__NR_io_uring_enter, io->ring.ring_fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
}

static bool kernel_has_more(const uring_io *io)
{
	return IO_URING_READ_ONCE(*io->ring.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW);
}

/* ---- completion --------------------------------------------------------- */

static void complete(uring_io *io, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	if (ud == UD_LIBURING_TIMEOUT || ud == UD_CANCEL_OP)
		return;
	if (ud == UD_CANCEL_FD) {
		io->cancels--;
		io->cancel_res = cqe->res;
		return;
	}
	uint32_t k = (uint32_t)((ud & ~UD_POLL) - 1);
	if (k >= io->nops || io->ops[k].state != OP_KERNEL || io->ops[k].ud != ud)
		return; /* cannot happen: every SQE is for a live slot */
	uop *o = &io->ops[k];
	if (o->dead) {
		free_op(io, k);
		return;
	}
	int res = cqe->res;
	if (ud & UD_POLL) {
		/* ready (or an error the operation itself will report): retry */
		o->poll_first = false;
		enqueue(io, k);
		return;
	}
	if (res == -EAGAIN || res == -EINTR || res == -ECANCELED) {
		/* a file without nowait support (wait for readiness, then try
		 * again), a signal, or a cancellation nobody here asked for:
		 * the kernel cancels what a thread submitted when the thread
		 * exits, and a pool may be used by a thread that then leaves */
		o->poll_first = res == -EAGAIN;
		enqueue(io, k);
		return;
	}
	ssize_t r = res;
	if (o->kind == JP__IO_WRITE && res > 0) {
		o->done += (size_t)res;
		if (o->done < o->len) {
			enqueue(io, k); /* the rest, at the next submission */
			return;
		}
		r = (ssize_t)o->len;
	} else if (o->kind == JP__IO_WRITE && res == 0) {
		/* a stream socket that takes nothing and reports no error */
		r = o->done == o->len ? (ssize_t)o->len : -EIO;
	}
	push_ready(io, k, r);
}

/* Take in every completion the kernel has posted. */
static void reap(uring_io *io)
{
	for (int round = 0; round < 64; round++) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&io->ring, head, cqe) {
			complete(io, cqe);
			n++;
		}
		io_uring_cq_advance(&io->ring, n);
		if (!(IO_URING_READ_ONCE(*io->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW))
			break;
		get_events(io);
	}
}

/* ---- the interface ---------------------------------------------------- */

static int uring_write(jp__io *base, int fd, const void *buf, size_t len, uint64_t tag)
{
	uring_io *io = (uring_io *)base;
	uint32_t k;
	int err = new_op(io, &k);
	if (err)
		return err;
	io->ops[k] = (uop){ .fd = fd, .kind = JP__IO_WRITE, .buf = (uint8_t *)buf, .len = len,
			    .tag = tag };
	enqueue(io, k);
	io->live++;
	return 1;
}

static int uring_read(jp__io *base, int fd, void *buf, size_t len, uint64_t tag)
{
	uring_io *io = (uring_io *)base;
	uint32_t k;
	int err = new_op(io, &k);
	if (err)
		return err;
	io->ops[k] = (uop){ .fd = fd, .kind = JP__IO_READ, .buf = buf, .len = len, .tag = tag };
	enqueue(io, k);
	io->live++;
	return 0;
}

static void uring_flush(jp__io *base)
{
	uring_io *io = (uring_io *)base;
	if (io->nqueue)
		fill_sqes(io);
	if (io_uring_sq_ready(&io->ring))
		(void)io_uring_submit(&io->ring);
}

/* Ask the kernel to cancel the dead operations on fd (on every fd for
 * fd < 0): all of them by fd where the kernel can, else one by one. */
static void cancel(uring_io *io, int fd)
{
#ifdef IORING_ASYNC_CANCEL_FD
	if (io->cancel_fd && fd >= 0) {
		struct io_uring_sqe *sqe = get_sqe(io);
		if (sqe) {
			io_uring_prep_rw(IORING_OP_ASYNC_CANCEL, sqe, fd, NULL, 0, 0);
			sqe->cancel_flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
			sqe->user_data = UD_CANCEL_FD;
			io->cancels++;
			io->cancel_res = 0;
		}
		return;
	}
#endif
	for (uint32_t k = 0; k < io->nops; k++) {
		uop *o = &io->ops[k];
		if (o->state != OP_KERNEL || !o->dead || (fd >= 0 && o->fd != fd))
			continue;
		struct io_uring_sqe *sqe = get_sqe(io);
		if (!sqe)
			return;
		io_uring_prep_rw(IORING_OP_ASYNC_CANCEL, sqe, -1, NULL, 0, 0);
		sqe->addr = o->ud;
		sqe->user_data = UD_CANCEL_OP;
	}
}

static size_t dead_in_kernel(const uring_io *io, int fd)
{
	size_t n = 0;
	for (uint32_t k = 0; k < io->nops; k++)
		n += io->ops[k].state == OP_KERNEL && io->ops[k].dead && (fd < 0 || io->ops[k].fd == fd);
	return n;
}

/* Wait until the kernel has given back every dead operation on fd (all
 * fds for fd < 0); completions of others meanwhile are kept as events. */
static void drain_dead(uring_io *io, int fd)
{
	double deadline = jp__now() + 5.0;
	while (dead_in_kernel(io, fd)) {
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 };
		struct io_uring_cqe *cqe;
		(void)io_uring_submit(&io->ring);
		int rc = io_uring_wait_cqe_timeout(&io->ring, &cqe, &ts);
		reap(io);
		if (!dead_in_kernel(io, fd))
			break;
		if (io->cancel_fd && io->cancels == 0 && io->cancel_res == -EINVAL) {
			io->cancel_fd = false; /* a kernel before 5.19 */
			cancel(io, fd);
		} else if (rc == -ETIME) {
			/* an operation the kernel was running when asked: ask again */
			if (jp__now() > deadline)
				break; /* never seen; its completion is still dropped */
			cancel(io, fd);
		}
	}
}

static void uring_forget(jp__io *base, int fd)
{
	uring_io *io = (uring_io *)base;
	size_t j = io->rhead;
	for (size_t i = io->rhead; i < io->nready; i++) {
		uint32_t k = io->ready[i];
		if (io->ops[k].fd == fd)
			free_op(io, k);
		else
			io->ready[j++] = k;
	}
	io->nready = j;
	j = 0;
	for (size_t i = 0; i < io->nqueue; i++) {
		uint32_t k = io->queue[i];
		if (io->ops[k].fd == fd) {
			free_op(io, k);
			io->live--;
		} else {
			io->queue[j++] = k;
		}
	}
	io->nqueue = j;
	size_t inflight = 0;
	for (uint32_t k = 0; k < io->nops; k++) {
		uop *o = &io->ops[k];
		if (o->state == OP_KERNEL && o->fd == fd && !o->dead) {
			o->dead = true;
			io->live--;
			inflight++;
		}
	}
	if (inflight) {
		cancel(io, fd);
		drain_dead(io, fd);
	}
}

/* Block until a completion arrives or timeout_ms passes, submitting what
 * is in the SQ in the same system call where liburing can. */
static int block(uring_io *io, int timeout_ms)
{
	if (timeout_ms < 0)
		return io_uring_submit_and_wait(&io->ring, 1);
	int rc = io_uring_submit(&io->ring);
	if (rc < 0)
		return rc;
	struct __kernel_timespec ts = { .tv_sec = timeout_ms / 1000,
					.tv_nsec = (long long)(timeout_ms % 1000) * 1000000 };
	struct io_uring_cqe *cqe;
	return io_uring_wait_cqe_timeout(&io->ring, &cqe, &ts);
}

/* The active wait: submit, then watch the CQ (shared memory: no system
 * call) until a completion shows or the spin bound passes. */
static void spin(uring_io *io, double until)
{
	if (io_uring_sq_ready(&io->ring))
		(void)io_uring_submit(&io->ring);
	for (;;) {
		reap(io);
		if (have_ready(io) || jp__now() >= until)
			break;
		if (io->nqueue) {
			/* a write resumed after a short send */
			fill_sqes(io);
			(void)io_uring_submit(&io->ring);
		}
		if (kernel_has_more(io))
			get_events(io);
		else
			jp__io_spin_pause();
	}
}

static int uring_wait(jp__io *base, jp__io_event *ev, int max, int timeout_ms)
{
	uring_io *io = (uring_io *)base;
	if (!have_ready(io) && io->live == 0)
		return -EDEADLK; /* nothing could ever complete */
	/* a look, and nothing to submit, reap or report: the scheduler asks
	 * so at every call and every few spins (a worker's exit, a big frame) */
	if (timeout_ms == 0 && !have_ready(io) && !io->nqueue && !io_uring_sq_ready(&io->ring) &&
	    !io_uring_cq_ready(&io->ring) && !kernel_has_more(io))
		return 0;
	fill_sqes(io);
	reap(io);
	double until = have_ready(io) ? 0 : jp__io_spin_until(base, timeout_ms);
	if (until) {
		double start = jp__now();
		spin(io, until);
		if (timeout_ms > 0) {
			int spent = (int)((jp__now() - start) * 1e3);
			timeout_ms = spent < timeout_ms ? timeout_ms - spent : 0;
		}
	}
	while (!have_ready(io)) {
		if (io->live == 0)
			return -EDEADLK;
		/* what a completion put back in the queue (a short send, a
		 * cancellation by a thread's exit) goes out in this round */
		fill_sqes(io);
		int rc = timeout_ms == 0 ? io_uring_submit(&io->ring) : block(io, timeout_ms);
		reap(io);
		if (rc == -ETIME || rc == -EINTR || timeout_ms >= 0)
			break; /* one blocking round: the caller loops */
		if (rc < 0 && rc != -EBUSY && rc != -EAGAIN)
			return rc;
	}
	if (io->nqueue)
		fill_sqes(io);
	if (io_uring_sq_ready(&io->ring))
		(void)io_uring_submit(&io->ring); /* what was queued goes out now */
	int n = 0;
	while (n < max && have_ready(io)) {
		uint32_t k = io->ready[io->rhead++];
		uop *o = &io->ops[k];
		ev[n++] = (jp__io_event){ .tag = o->tag, .kind = o->kind, .res = o->res };
		free_op(io, k);
	}
	if (!have_ready(io))
		io->rhead = io->nready = 0;
	return n;
}

static void uring_free(jp__io *base)
{
	uring_io *io = (uring_io *)base;
	if (io->owner == getpid()) {
		/* nothing the kernel holds may outlive the buffers it writes to */
		bool any = false;
		for (uint32_t k = 0; k < io->nops; k++)
			if (io->ops[k].state == OP_KERNEL) {
				io->ops[k].dead = true;
				any = true;
			}
		if (any) {
			cancel(io, -1);
			drain_dead(io, -1);
		}
		io_uring_queue_exit(&io->ring);
	} else if (io->dontfork) {
		/* a child of the host: the ring's memory was not inherited,
		 * only its descriptor */
		close(io->ring.ring_fd);
	} else {
		io_uring_queue_exit(&io->ring);
	}
	free(io->ops);
	free(io->queue);
	free(io->ready);
	free(io);
}

static const jp__io_ops uring_ops = {
	.name = "io_uring",
	.free = uring_free,
	.write = uring_write,
	.read = uring_read,
	.forget = uring_forget,
	.wait = uring_wait,
	.flush = uring_flush,
};

/* The operations this engine uses, all in Linux 5.6. */
static int probe_ops(struct io_uring *ring)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	if (!p)
		return -ENOSYS;
	static const int need[] = { IORING_OP_READ, IORING_OP_SEND, IORING_OP_POLL_ADD,
				    IORING_OP_ASYNC_CANCEL };
	int err = 0;
	for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
		if (!io_uring_opcode_supported(p, need[i]))
			err = -ENOSYS;
	io_uring_free_probe(p);
	return err;
}

int jp__io_uring_open(jp__io **out)
{
	uring_io *io = calloc(1, sizeof *io);
	if (!io)
		return -ENOMEM;
	/* Completions run as task work when the master next enters the
	 * kernel rather than by interrupting it (COOP_TASKRUN, 5.19), with a
	 * flag in the SQ ring telling a spinning master to enter. Older
	 * kernels refuse the flags: then the defaults. */
	static const unsigned flag_sets[] = {
#if defined(IORING_SETUP_COOP_TASKRUN) && defined(IORING_SETUP_TASKRUN_FLAG) && defined(IORING_SETUP_SUBMIT_ALL)
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
#endif
		0,
	};
	int err = -EINVAL;
	for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0] && err == -EINVAL; i++) {
		struct io_uring_params params = { .flags = flag_sets[i] };
		err = io_uring_queue_init_params(RING_ENTRIES, &io->ring, &params);
		if (!err && !(params.features & IORING_FEAT_NODROP)) {
			io_uring_queue_exit(&io->ring);
			err = -ENOSYS; /* a full CQ would lose completions */
		}
	}
	if (!err && (err = probe_ops(&io->ring)))
		io_uring_queue_exit(&io->ring);
	if (err) {
		free(io);
		return err;
	}
	/* workers forked later do not map the ring (nor keep it alive) */
	io->dontfork = io_uring_ring_dontfork(&io->ring) == 0;
	io->owner = getpid();
#ifdef IORING_ASYNC_CANCEL_FD
	io->cancel_fd = true;
#endif
	io->free_head = NO_OP;
	io->base.ops = &uring_ops;
	*out = &io->base;
	return 0;
}
