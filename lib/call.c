/*
 * call.c - building a call (a map over [0, n), items added one by one, or
 * items made on demand) and keeping its results: in submission order until
 * the call is freed, or handed out as a stream.
 *
 * Results are not copied out of the frames they arrive in: a call keeps the
 * frames (one block each) and its slots point into them. A stream frees a
 * frame once every slot in it was handed out, and keeps only the slots not
 * yet handed out.
 */
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int jp__call_task_index(jp_call *c, const char *task, uint32_t *idx)
{
	for (uint32_t i = 0; i < c->ntasks; i++)
		if (!strcmp(c->names[i], task)) {
			*idx = i;
			return 0;
		}
	/* the call the pool kept held this name next: registered then, so
	 * now (tasks are never unregistered) */
	if (c->ntasks < c->names_held) {
		if (!strcmp(c->names[c->ntasks], task)) {
			*idx = c->ntasks++;
			return 0;
		}
		for (uint32_t i = c->ntasks; i < c->names_held; i++)
			free(c->names[i]);
		c->names_held = c->ntasks;
	}
	if (!jp__task_lookup(task, strlen(task))) {
		jp__pool_set_error(c->pool, "no task \"%s\" is registered: register it with JP_TASK or jp_task_register before jp_pool_open", task);
		return JP_ENOTASK;
	}
	char **names = realloc(c->names, (c->ntasks + 1) * sizeof *names);
	if (!names)
		return -ENOMEM;
	c->names = names;
	if (!(names[c->ntasks] = strdup(task)))
		return -ENOMEM;
	*idx = c->ntasks++;
	c->names_held = c->ntasks;
	return 0;
}

/*
 * The pool keeps the last call freed for its next one: a warm call of a
 * few tasks otherwise allocates its struct and its slot, block and name
 * arrays anew each time, and glibc consolidates its fast bins at each
 * jp_call_new, whose struct is a large request: about a tenth of the
 * master's time in a 2-task call. One call is kept, taken and given back
 * with atomic exchanges (calls may be made and freed in several threads),
 * and only small arrays come with it: a call of a million items does not
 * leave a million slots behind.
 */
#define KEPT_CAP_MAX 1024
#define KEPT_OUTPUT_MAX (64u << 10)

static jp_call *empty_call(jp_pool *pool, jp_call *from)
{
	jp_call *c = from ? from : calloc(1, sizeof *c);
	if (!c)
		return NULL;
	if (from) {
		jp__slot *slots = c->slots;
		jp__block **blocks = c->blocks, *free_blocks[2] = { c->free_blocks[0], c->free_blocks[1] };
		char **names = c->names;
		size_t slots_cap = c->slots_cap, blocks_cap = c->blocks_cap;
		size_t nfree_blocks[2] = { c->nfree_blocks[0], c->nfree_blocks[1] };
		uint32_t names_held = c->names_held;
		jp__buf output = c->output;
		memset(c, 0, sizeof *c);
		c->output = output; /* empty: drop_results kept its storage alone */
		c->slots = slots;
		c->slots_cap = slots_cap;
		c->blocks = blocks;
		c->blocks_cap = blocks_cap;
		memcpy(c->free_blocks, free_blocks, sizeof free_blocks);
		memcpy(c->nfree_blocks, nfree_blocks, sizeof nfree_blocks);
		c->names = names; /* grown one name at a time: no capacity */
		c->names_held = names_held; /* their strings too, for the next call */
	}
	c->pool = pool;
	return c;
}

/* Keep c, freed but for its arrays, for the pool's next call; false if the
 * pool keeps one already. */
static bool keep_call(jp_call *c)
{
	jp_pool *p = c->pool;
	if (c->slots_cap > KEPT_CAP_MAX) {
		free(c->slots);
		c->slots = NULL;
		c->slots_cap = 0;
	}
	if (c->blocks_cap > KEPT_CAP_MAX) {
		free(c->blocks);
		c->blocks = NULL;
		c->blocks_cap = 0;
	}
	/* emptied when it is taken (empty_call): its other fields were freed
	 * and are never looked at before */
	jp_call *none = NULL;
	return __atomic_compare_exchange_n(&p->kept_call, &none, c, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

static void free_call_arrays(jp_call *c)
{
	for (uint32_t i = 0; i < c->names_held; i++)
		free(c->names[i]);
	free(c->names);
	free(c->blocks);
	free(c->slots);
	jp__buf_free(&c->output);
	for (int k = 0; k < 2; k++) {
		while (c->free_blocks[k]) {
			jp__block *b = c->free_blocks[k];
			c->free_blocks[k] = b->frame;
			free(b);
		}
		c->nfree_blocks[k] = 0;
	}
}

void jp__call_free_kept(jp_pool *p)
{
	jp_call *c = __atomic_exchange_n(&p->kept_call, NULL, __ATOMIC_ACQ_REL);
	if (c) {
		free_call_arrays(c);
		free(c);
	}
}

int jp_call_new(jp_call **call, jp_pool *pool)
{
	*call = NULL;
	if (!pool)
		return -EINVAL;
	jp_call *c = empty_call(pool, __atomic_exchange_n(&pool->kept_call, NULL, __ATOMIC_ACQ_REL));
	if (!c)
		return -ENOMEM;
	*call = c;
	return 0;
}

int jp_map_new(jp_call **call, jp_pool *pool, const char *task, size_t n)
{
	uint32_t idx;
	*call = NULL;
	if (!task && pool)
		jp__pool_set_error(pool, "jp_map_new: the task name is NULL");
	int err = task ? jp_call_new(call, pool) : -EINVAL;
	if (err)
		return err;
	(*call)->is_map = true;
	(*call)->n = n;
	if ((err = jp__call_task_index(*call, task, &idx))) {
		jp_call_free(*call);
		*call = NULL;
	}
	return err;
}

long jp_call_add(jp_call *c, const char *task)
{
	if (!c)
		return -EINVAL;
	if (!task || c->is_map || (c->make_item && !c->making)) {
		/* a generator's items are added by it alone */
		jp__pool_set_error(c->pool, "jp_call_add: %s",
				   !task ? "the task name is NULL"
				   : c->is_map ? "a map (jp_map_new) takes no items: its items are the indices [0, n)"
				   : "the call's items are made by its generator (jp_call_generate): add them there, one per callback");
		return -EINVAL;
	}
	uint32_t idx;
	int err = jp__call_task_index(c, task, &idx);
	if (err)
		return err;
	size_t k = c->n - c->item_base;
	if (k == c->items_cap) {
		size_t cap = c->items_cap ? c->items_cap * 2 : 64;
		jp__item *p = realloc(c->items, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		c->items = p;
		c->items_cap = cap;
	}
	/* an item's arguments start 64-byte aligned, as they will in a frame */
	if ((err = jp__buf_pad(&c->item_args, 64)))
		return err;
	if (c->memo && (err = jp__memo_item(c, c->n)))
		return err;
	c->items[k] = (jp__item){ .task = idx, .off = c->item_args.len };
	return (long)c->n++;
}

/* Arguments go to the last item, or to the shared list before any. */
static int add_arg(jp_call *c, int err_or_zero, size_t before)
{
	if (err_or_zero) {
		if (c->n && !c->is_map)
			c->item_args.len = before;
		else
			c->shared.len = before;
		return err_or_zero;
	}
	if (c->n && !c->is_map) {
		jp__item *it = &c->items[c->n - 1 - c->item_base];
		it->nargs++;
		it->len = c->item_args.len - it->off;
	} else {
		c->nshared++;
	}
	return 0;
}

static jp__buf *arg_target(jp_call *c)
{
	return c->n && !c->is_map ? &c->item_args : &c->shared;
}

/* Arguments need a target: the shared list before any item (and before a
 * run), else the last item, which a generator's freed items are not. */
static bool arg_allowed(const jp_call *c)
{
	if (c->n == 0 || c->is_map)
		return !c->run.active;
	return c->n > c->item_base;
}

/* 0 if an argument may be added now; else -EINVAL, and the pool's message
 * says why. */
static int arg_check(jp_call *c, const char *who)
{
	if (!c)
		return -EINVAL;
	if (arg_allowed(c))
		return 0;
	if (c->n == 0 || c->is_map)
		jp__pool_set_error(c->pool, "%s: the call is running: add shared arguments before jp_call_run or jp_call_start",
				   who);
	else
		jp__pool_set_error(c->pool, "%s: the call's items are made by its generator: add an item's arguments in the generator, after its jp_call_add",
				   who);
	return -EINVAL;
}

int jp_call_arg_i64(jp_call *c, int64_t v)
{
	int err = arg_check(c, "jp_call_arg_i64");
	if (err)
		return err;
	size_t before = arg_target(c)->len;
	err = add_arg(c, jp__args_put_i64(arg_target(c), v), before);
	if (!err && c->memo)
		jp__memo_scalar(c, JP__ARG_I64, &v, sizeof v);
	return err;
}

int jp_call_arg_f64(jp_call *c, double v)
{
	int err = arg_check(c, "jp_call_arg_f64");
	if (err)
		return err;
	size_t before = arg_target(c)->len;
	err = add_arg(c, jp__args_put_f64(arg_target(c), v), before);
	if (!err && c->memo)
		jp__memo_scalar(c, JP__ARG_F64, &v, sizeof v);
	return err;
}

int jp_call_arg_bytes(jp_call *c, const void *data, size_t len)
{
	int err = arg_check(c, "jp_call_arg_bytes");
	if (err)
		return err;
	if (len && !data) {
		jp__pool_set_error(c->pool, "jp_call_arg_bytes: data is NULL for %zu bytes", len);
		return -EINVAL;
	}
	size_t before = arg_target(c)->len;
	err = add_arg(c, jp__args_put_bytes(arg_target(c), data, len), before);
	if (!err && c->memo)
		jp__memo_scalar(c, JP__ARG_BYTES, data, len);
	return err;
}

static int push_id(jp_call *c, uint64_t id)
{
	for (size_t i = 0; i < c->nmapped; i++)
		if (c->mapped_ids[i] == id)
			return 0;
	uint64_t *ids = realloc(c->mapped_ids, (c->nmapped + 1) * sizeof *ids);
	if (!ids)
		return -ENOMEM;
	c->mapped_ids = ids;
	ids[c->nmapped++] = id;
	return 0;
}

/* The file an array goes through, dumped once per call however many items
 * name it. With w+ nothing is copied in: the workers fill it. */
static int dump_once(jp_call *c, const jp_array *a, size_t nbytes, uint32_t mode,
		     jp_backing **out)
{
	for (size_t i = 0; i < c->ndumps; i++)
		if (c->dumps[i].src == a->data && c->dumps[i].nbytes == nbytes) {
			*out = c->dumps[i].b;
			return 0;
		}
	jp__call_dump *d = realloc(c->dumps, (c->ndumps + 1) * sizeof *d);
	if (!d)
		return -ENOMEM;
	c->dumps = d;
	/* with r and c no process writes the file: its bytes stay the
	 * caller's, and a later call may recognise them */
	int err = jp__share_dump(c->pool, a, mode != JP__MMAP_WPLUS,
				 mode == JP__MMAP_R || mode == JP__MMAP_C, out);
	if (err)
		return err;
	d[c->ndumps++] = (jp__call_dump){ .src = a->data, .nbytes = nbytes, .b = *out,
					  .copy_back = mode == JP__MMAP_RPLUS || mode == JP__MMAP_WPLUS };
	return 0;
}

/* Pass an array the cheapest way the pool allows: as it is, to a task in
 * this process (the sequential and thread backends: never a file, whatever
 * max_nbytes and mmap_mode say); by reference, when its bytes are in a
 * file already; through a file dumped for this call, above max_nbytes;
 * inline otherwise. */
static int put_array(jp_call *c, jp__buf *blob, const jp_array *a, int mode_override)
{
	jp_pool *p = c->pool;
	size_t nbytes = jp_array_nbytes(a);
	if (nbytes == SIZE_MAX || (nbytes && !a->data))
		return -EINVAL;
	if (!p->n_workers)
		return jp__args_put_local(blob, a);
	jp_backing *b = a->backing;
	uint32_t mode = mode_override >= 0 ? (uint32_t)mode_override : p->cfg.mmap_mode;
	jp__shared_ref ref;
	/* where the data sits in a file's mapping (base maps the file from its
	 * first byte), if it does */
	const uint8_t *data = a->data, *base = b ? b->base : NULL;
	bool in_file = b && base && (b->kind == JP__BACK_POOL || (b->kind == JP__BACK_MAP && !b->private_map)) &&
		       data >= base && nbytes <= b->len && (size_t)(data - base) <= b->len - nbytes;
	if (in_file) {
		if (!b->writable)
			mode = JP__MMAP_R; /* never wider than the caller's own map */
		if (b->kind == JP__BACK_MAP) {
			if (!b->id)
				b->id = jp__share_next_id();
			int err = push_id(c, b->id);
			if (err)
				return err;
		}
		jp__share_ref(b, mode, &ref);
		ref.offset = (uint64_t)(data - base);
		return jp__args_put_shared(blob, a, &ref);
	}
	if (p->cfg.max_nbytes >= 0 && nbytes > (uint64_t)p->cfg.max_nbytes) {
		int err = dump_once(c, a, nbytes, mode, &b);
		if (err)
			return err;
		jp__share_ref(b, mode, &ref);
		return jp__args_put_shared(blob, a, &ref);
	}
	return jp__args_put_array(blob, a);
}

int jp_call_arg_array(jp_call *c, const jp_array *a)
{
	return jp__call_arg_array_mode(c, a, -1);
}

int jp__call_arg_array_mode(jp_call *c, const jp_array *a, int mode)
{
	int err = arg_check(c, "jp_call_arg_array");
	if (err)
		return err;
	char why[64] = "the array is NULL";
	err = a ? jp__array_check(a, why, sizeof why) : -EINVAL;
	if (!err && jp_array_nbytes(a) && !a->data) {
		jp__msgf(why, sizeof why, "the array has %zu bytes but its data is NULL", jp_array_nbytes(a));
		err = -EINVAL;
	}
	if (err) {
		jp__pool_set_error(c->pool, "jp_call_arg_array: %s", why);
		return err;
	}
	size_t before = arg_target(c)->len;
	err = add_arg(c, put_array(c, arg_target(c), a, mode), before);
	if (!err && c->memo)
		jp__memo_array(c, a);
	return err;
}

/* r+ and w+: what the workers wrote into a dumped array goes back to the
 * caller's array. */
int jp__call_copy_back(jp_call *c)
{
	for (size_t i = 0; i < c->ndumps; i++) {
		jp__call_dump *d = &c->dumps[i];
		if (!d->copy_back || !d->nbytes)
			continue;
		int fd = open(d->b->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		size_t done = 0;
		while (done < d->nbytes) {
			ssize_t n = pread(fd, (uint8_t *)d->src + done, d->nbytes - done, (off_t)done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				int err = n < 0 ? -errno : -EIO;
				close(fd);
				return err;
			}
			done += (size_t)n;
		}
		close(fd);
	}
	return 0;
}

size_t jp_call_size(const jp_call *c)
{
	return c ? c->n : 0;
}

/* ---- encoding for the scheduler ---------------------------------- */

int jp__call_encode_frame(jp_call *c, uint64_t call_id, jp__buf *b)
{
	return jp__call_encode(b, call_id, c->names, c->ntasks, &c->shared, c->nshared,
			       c->pool->cfg.continue_on_error ? JP__CALL_CONTINUE : 0);
}

/* Room for slots up to seq n (exclusive). */
static int ensure_slots(jp_call *c, size_t n)
{
	n -= c->slot_base;
	if (n <= c->slots_cap)
		return 0;
	size_t cap = c->slots_cap ? c->slots_cap : 16;
	while (cap < n)
		cap *= 2;
	jp__slot *s = realloc(c->slots, cap * sizeof *s);
	if (!s)
		return -ENOMEM;
	c->slots = s;
	c->slots_cap = cap;
	return 0;
}

int jp__call_reserve_slots(jp_call *c, size_t n)
{
	return ensure_slots(c, n);
}

int jp__call_encode_batch(jp_call *c, uint64_t call_id, size_t seq, size_t first,
			  size_t count, jp__buf *b)
{
	size_t start;
	int err = jp__batch_begin(b, call_id, &start);
	if (err)
		return err;
	if (c->is_map) {
		if ((err = ensure_slots(c, seq + 1)))
			return err;
		*jp__call_slot(c, seq) = (jp__slot){ .status = JP__PENDING, .begin = first,
						     .end = first + count };
		if (seq >= c->nslots)
			c->nslots = seq + 1;
		jp__unit u = { .seq = seq, .begin = first, .end = first + count };
		err = jp__batch_add(b, start, &u);
	} else {
		if ((err = ensure_slots(c, first + count)))
			return err;
		for (size_t i = first; i < first + count && !err; i++) {
			const jp__item *it = &c->items[i - c->item_base];
			size_t at = jp__call_item_index(c, i);
			*jp__call_slot(c, i) = (jp__slot){ .status = JP__PENDING, .task = it->task,
							   .begin = at, .end = at + 1 };
			if (i >= c->nslots)
				c->nslots = i + 1;
			jp__unit u = { .seq = i, .begin = at, .end = at + 1, .task = it->task,
				       .nargs = it->nargs, .args = c->item_args.data + it->off,
				       .args_len = it->len };
			err = jp__batch_add(b, start, &u);
		}
	}
	if (!err)
		jp__frame_end(b, start);
	return err;
}

/* ---- results ------------------------------------------------------ */

/*
 * The blocks a call frees are kept for its next frames, up to
 * FREE_BLOCKS_MAX of each size, and go with the call the pool keeps: a small
 * result frame then costs a copy, where a 64-byte aligned buffer and a
 * block of its own, allocated and freed for each result, were a fifth of
 * the master's instructions in a warm 2-task call (callgrind) and made
 * glibc consolidate its heap at each call.
 */
#define FREE_BLOCKS_MAX 64

/* A block for a frame of len bytes: large if the frame fits only that. */
static jp__block *new_block(jp_call *c, size_t len)
{
	int large = len > JP__BLOCK_SMALL - JP__BLOCK_HDR && len <= JP__BLOCK_FRAME_MAX;
	jp__block *b = c->free_blocks[large];
	if (b) {
		c->free_blocks[large] = b->frame;
		c->nfree_blocks[large]--;
	} else {
		void *m;
		if (posix_memalign(&m, 64, large ? JP__BLOCK_LARGE : JP__BLOCK_SMALL))
			return NULL;
		b = m;
	}
	b->large = large;
	return b;
}

static bool frame_in_block(const jp__block *b)
{
	return b->frame == (const uint8_t *)b + JP__BLOCK_HDR;
}

static void free_block(jp_call *c, jp__block *b)
{
	if (!frame_in_block(b))
		jp__bufcache_give(&c->pool->big_bufs, b->frame, b->cap);
	if (c->nfree_blocks[b->large] >= FREE_BLOCKS_MAX) {
		free(b);
		return;
	}
	b->frame = c->free_blocks[b->large];
	c->free_blocks[b->large] = b;
	c->nfree_blocks[b->large]++;
}

static void drop_results(jp_call *c)
{
	for (size_t i = 0; i < c->nblocks; i++)
		free_block(c, c->blocks[i]);
	c->nblocks = 0;
	if (c->memo)
		jp__memo_drop(c);
	c->nslots = c->slot_base = 0;
	/* a small output's storage serves the next run (and the pool's next
	 * call): one allocation less per warm call */
	if (c->output.cap > KEPT_OUTPUT_MAX) {
		size_t cap = c->output.cap;
		jp__bufcache_give(&c->pool->big_bufs, jp__buf_take(&c->output), cap);
	}
	c->output.len = 0;
	c->output_ready = false;
	c->ran = false;
	c->err = 0;
	c->err_index = 0;
	c->errmsg[0] = '\0';
}

/* A builder's slots, one per item, before a run: items [0, n) are all
 * there (not freed yet). */
static int layout_item_slots(jp_call *c)
{
	int err = ensure_slots(c, c->n);
	if (err)
		return err;
	for (size_t i = 0; i < c->n; i++) {
		size_t at = jp__call_item_index(c, i);
		c->slots[i] = (jp__slot){ .status = JP__PENDING, .task = c->items[i].task,
					  .begin = at, .end = at + 1 };
	}
	c->nslots = c->n;
	return 0;
}

/* Forget the previous run and lay out the slots of a builder call. A
 * generator starts again from its first item. */
int jp__call_reset(jp_call *c)
{
	drop_results(c);
	if (c->is_map)
		return 0;
	if (c->make_item) {
		c->n = c->item_base = 0;
		c->item_args.len = 0;
		c->made_all = false;
		return 0;
	}
	return layout_item_slots(c);
}

const char *jp__call_task_of(const jp_call *c, size_t seq)
{
	return c->names[jp__call_slot(c, seq)->task];
}

int jp__call_make_items(jp_call *c, size_t upto)
{
	while (c->make_item && !c->made_all && c->n < upto && !c->err) {
		size_t before = c->n;
		c->making = true;
		int rc = c->make_item(c, before, c->make_ctx);
		c->making = false;
		if (rc == 1 && c->n == before) {
			c->made_all = true;
		} else if (rc < 0) {
			/* the generator's own code: the pool's message may be an
			 * older one */
			jp__call_fail(c, rc, before, "making item %zu: the generator returned %s", before,
				      jp_strerror(rc));
			return rc;
		} else if (rc != 0 || c->n != before + 1) {
			jp__call_fail(c, -EINVAL, before,
				      "making item %zu: the generator must add exactly one item and return 0, or add none and return 1 (it added %zu and returned %d)",
				      before, c->n - before, rc);
			return -EINVAL;
		}
	}
	return 0;
}

int jp__call_make_all_items(jp_call *c)
{
	int err = jp__call_make_items(c, SIZE_MAX);
	return err ? err : layout_item_slots(c);
}

void jp__call_drop_made_items(jp_call *c)
{
	if (!c->make_item)
		return;
	c->item_base = c->n;
	c->item_args.len = 0;
}

void jp__call_release_slot(jp_call *c, jp__slot *s)
{
	s->delivered = true;
	if (s->block && --s->block->refs == 0)
		free_block(c, s->block);
	s->block = NULL;
	s->data = NULL;
}

void jp__call_compact_slots(jp_call *c, size_t below)
{
	/* slide the window once half of it is handed out: amortised, each slot
	 * moves at most once per window length */
	size_t drop = below - c->slot_base, keep = c->nslots - below;
	if (drop < 1024 || drop < keep)
		return;
	memmove(c->slots, c->slots + drop, keep * sizeof *c->slots);
	c->slot_base = below;
}

void jp__call_fail(jp_call *c, int err, size_t index, const char *fmt, ...)
{
	if (c->err)
		return; /* the first failure is the one reported */
	c->err = err;
	c->err_index = index;
	va_list ap;
	va_start(ap, fmt);
	jp__vmsgf(c->errmsg, sizeof c->errmsg, fmt, ap);
	va_end(ap);
	if (!c->inline_run)
		jp__pool_set_error(c->pool, "%s", c->errmsg);
}

/* "task 7 (\"name\")" or, for a map's batch, "tasks [8, 16) of \"name\"". */
void jp__call_describe(const jp_call *c, size_t seq, char *buf, size_t cap)
{
	const jp__slot *s = jp__call_slot(c, seq);
	if (s->end - s->begin == 1)
		jp__msgf(buf, cap, "task %zu (\"%s\")", s->begin, jp__call_task_of(c, seq));
	else
		jp__msgf(buf, cap, "tasks [%zu, %zu) of \"%s\"", s->begin, s->end,
			 jp__call_task_of(c, seq));
}

static int reserve_blocks(jp_call *c, size_t more)
{
	if (c->nblocks + more > c->blocks_cap) {
		size_t cap = c->blocks_cap ? c->blocks_cap * 2 : 16;
		while (cap < c->nblocks + more)
			cap *= 2;
		jp__block **b = realloc(c->blocks, cap * sizeof *b);
		if (!b)
			return -ENOMEM;
		c->blocks = b;
		c->blocks_cap = cap;
	}
	return 0;
}

static int keep_block(jp_call *c, jp__block *block)
{
	if (reserve_blocks(c, 1))
		return -ENOMEM;
	c->blocks[c->nblocks++] = block;
	return 0;
}

int jp__call_adopt_blocks(jp_call *c, jp_call *from)
{
	if (reserve_blocks(c, from->nblocks))
		return -ENOMEM;
	memcpy(c->blocks + c->nblocks, from->blocks, from->nblocks * sizeof *c->blocks);
	c->nblocks += from->nblocks;
	from->nblocks = 0;
	return 0;
}

int jp__call_ingest(jp_call *c, uint64_t call_id, const uint8_t *frame, size_t len, jp__buf *own,
		    const char *who, size_t *nunits)
{
	/* a collected call keeps every frame until it is freed; a stream's
	 * frame goes when its last slot has been handed out */
	jp__block *block = new_block(c, len);
	if (!block) {
		if (own)
			jp__buf_free(own);
		return -ENOMEM;
	}
	if (len <= JP__BLOCK_FRAME_MAX) {
		block->frame = (uint8_t *)block + JP__BLOCK_HDR;
		memcpy(block->frame, frame, len);
	} else if (own) {
		block->cap = own->cap;
		block->frame = jp__buf_take(own);
	} else {
		jp__buf copy = { 0 };
		jp__bufcache_take(&c->pool->big_bufs, len, &copy);
		if (jp__buf_reserve_exact(&copy, len)) {
			block->frame = (uint8_t *)block + JP__BLOCK_HDR;
			free_block(c, block);
			return -ENOMEM;
		}
		jp__buf_append(&copy, frame, len); /* reserved: cannot fail */
		block->cap = copy.cap;
		block->frame = jp__buf_take(&copy);
	}
	frame = block->frame;
	block->refs = 1; /* this function's own */
	if (c->run.mode == JP__COLLECT && keep_block(c, block)) {
		free_block(c, block);
		return -ENOMEM;
	}
	uint64_t id;
	jp__iter it;
	jp__result r;
	int got;
	*nunits = 0;
	int err = 0;
	if (jp__result_decode(frame, len, &id, &it) || id != call_id)
		err = JP_EFRAME;
	while (!err && (got = jp__result_next(&it, &r)) == 1) {
		if (r.seq < c->slot_base || r.seq >= c->nslots ||
		    jp__call_slot(c, r.seq)->status != JP__PENDING) {
			err = JP_EFRAME;
			break;
		}
		jp__slot *s = jp__call_slot(c, r.seq);
		s->status = r.status;
		s->data = r.data;
		s->len = r.len;
		s->block = block;
		block->refs++;
		(*nunits)++;
		if (c->run.mode == JP__UNORDERED && (err = jp__sched_ready(c, r.seq)))
			break;
		if (r.status == 0 || r.status == JP_ECANCELED)
			continue;
		char what[128];
		jp__call_describe(c, r.seq, what, sizeof what);
		if (r.status == JP_ETASK)
			jp__call_fail(c, JP_ETASK, s->begin, "%s failed in %s: %.*s", what, who,
				      (int)r.len, (const char *)r.data);
		else
			jp__call_fail(c, r.status, s->begin, "%s: %.*s", what, (int)r.len,
				      (const char *)r.data);
	}
	if (!err && got < 0)
		err = got;
	if (c->run.mode != JP__COLLECT && --block->refs == 0)
		free_block(c, block); /* a stream's frame of no slot */
	return err;
}

/* Slots that never got a result were cancelled by the failure. */
void jp__call_finish(jp_call *c)
{
	for (size_t i = c->slot_base; i < c->nslots; i++)
		if (jp__call_slot(c, i)->status == JP__PENDING)
			jp__call_slot(c, i)->status = JP_ECANCELED;
	c->ran = c->run.mode == JP__COLLECT;
}

/* Take the pool for this call: a call at a time, from its own process. */
static int begin_run(jp_call *c)
{
	jp_pool *p = c->pool;
	if (c->run.active) {
		jp__pool_set_error(p, "this call is streaming: take its results with jp_call_next, or jp_call_stop it");
		return -EBUSY;
	}
	if ((p->n_workers || p->threads) && p->owner != jp__self_pid()) {
		/* the workers (or threads) and their pipes belong to the parent:
		 * writing to them from here would interleave with its own calls */
		jp__pool_set_error(p, "this pool was opened by process %d; a forked child cannot run calls on it (open a pool of its own)",
				   (int)p->owner);
		return -ECHILD;
	}
	if (__atomic_exchange_n(&p->busy, true, __ATOMIC_ACQUIRE)) {
		jp__pool_set_error(p, "the pool is already running a call: one call at a time per pool");
		return -EBUSY;
	}
	int err = jp__call_reset(c);
	if (err)
		__atomic_store_n(&p->busy, false, __ATOMIC_RELEASE);
	return err;
}

/* Give the pool back once the run is over; the call's outcome. */
static int end_run(jp_call *c, int err)
{
	jp_pool *p = c->pool;
	int back = jp__call_copy_back(c);
	if (!err && back) {
		jp__pool_set_error(p, "copying shared arrays back: %s", jp_strerror(back));
		err = back;
	}
	__atomic_store_n(&p->busy, false, __ATOMIC_RELEASE);
	jp__call_finish(c);
	if (err && !c->err)
		jp__call_fail(c, err, 0, "%s", p->errmsg[0] ? p->errmsg : jp_strerror(err));
	return c->err;
}

int jp_call_run(jp_call *c)
{
	if (!c)
		return -EINVAL;
	if (c->memo) {
		c->inline_run = jp__runs_tasks_of(c->pool);
		return jp__memo_run(c);
	}
	return jp__call_run_plain(c);
}

int jp__call_run_plain(jp_call *c)
{
	/* A task calling the pool that runs it: the pool is busy with the call
	 * the task belongs to, so this one runs here, in the task's thread, as
	 * joblib runs a nested call sequentially. */
	c->inline_run = jp__runs_tasks_of(c->pool);
	if (c->inline_run) {
		int err = jp__call_reset(c);
		if (!err && c->make_item)
			err = jp__call_make_all_items(c);
		if (!err)
			err = jp__threads_run_here(c);
		jp__call_finish(c);
		if (err && !c->err)
			jp__call_fail(c, err, 0, "%s", jp_strerror(err));
		return c->err;
	}
	int err = begin_run(c);
	if (err)
		return err;
	return end_run(c, jp__sched_run(c));
}

int jp_call_generate(jp_call *c, jp_item_fn make_item, void *ctx)
{
	if (!c)
		return -EINVAL;
	if (!make_item || c->is_map || c->n || c->run.active) {
		jp__pool_set_error(c->pool, "jp_call_generate: %s",
				   !make_item ? "make_item is NULL"
				   : c->is_map ? "a map (jp_map_new) takes no items: its items are the indices [0, n)"
				   : c->n ? "the call has items already: a generator makes all of a call's items"
				   : "the call is running");
		return -EINVAL;
	}
	if (c->memo) {
		jp__pool_set_error(c->pool, "jp_call_generate: a call with a cache (jp_call_set_memory) cannot make its items on demand in this version: add them with jp_call_add");
		return JP_ENOTSUP;
	}
	c->make_item = make_item;
	c->make_ctx = ctx;
	return 0;
}

int jp_call_set_progress(jp_call *c, jp_progress_fn fn, void *ctx)
{
	if (!c)
		return -EINVAL;
	if (c->run.active) {
		jp__pool_set_error(c->pool, "jp_call_set_progress: the call is running: set its callback before jp_call_run or jp_call_start");
		return -EINVAL;
	}
	c->progress = fn;
	c->progress_ctx = ctx;
	return 0;
}

int jp_call_start(jp_call *c, int order)
{
	if (!c)
		return -EINVAL;
	if (order != JP_ORDERED && order != JP_UNORDERED) {
		jp__pool_set_error(c->pool, "jp_call_start: order %d: expected JP_ORDERED (0) or JP_UNORDERED (1)", order);
		return -EINVAL;
	}
	if (c->memo) {
		/* refused rather than run without the cache the caller asked for */
		jp__pool_set_error(c->pool, "a call with a cache (jp_call_set_memory) cannot be streamed in this version: run it with jp_call_run");
		return JP_ENOTSUP;
	}
	if (jp__runs_tasks_of(c->pool)) {
		/* its results would come while the task's own call waits on it */
		jp__call_fail(c, -EDEADLK, 0, "a task cannot stream a call on the pool that runs it: use jp_call_run, which runs the call in the task's thread");
		return -EDEADLK;
	}
	int err = begin_run(c);
	if (err)
		return err;
	err = jp__sched_start(c, order == JP_ORDERED ? JP__ORDERED : JP__UNORDERED);
	if (err) {
		jp__sched_stop(c);
		return end_run(c, err);
	}
	return 0;
}

int jp_call_next(jp_call *c, jp_result *out)
{
	if (!c)
		return -EINVAL;
	if (!out) {
		jp__pool_set_error(c->pool, "jp_call_next: result is NULL");
		return -EINVAL;
	}
	if (!c->run.active && !c->run.ended) {
		jp__pool_set_error(c->pool, "jp_call_next: the call is not streaming: start it with jp_call_start");
		return -EINVAL;
	}
	if (!c->run.active)
		return c->err ? c->err : 0;
	jp__slot *s;
	int rc = jp__sched_next(c, &s);
	if (rc == 1) {
		*out = (jp_result){ .index = s->begin, .count = s->end - s->begin, .data = s->data,
				    .len = s->len };
		return 1;
	}
	jp__sched_stop(c);
	return end_run(c, rc);
}

void jp_call_stop(jp_call *c)
{
	if (!c || !c->run.active)
		return;
	jp__sched_stop(c);
	end_run(c, 0);
}

int jp_call_stream(jp_call *c, int order, jp_result_fn fn, void *ctx)
{
	if (!c)
		return -EINVAL;
	if (!fn) {
		jp__pool_set_error(c->pool, "jp_call_stream: fn is NULL");
		return -EINVAL;
	}
	int rc = jp_call_start(c, order);
	jp_result r;
	while (!rc && (rc = jp_call_next(c, &r)) == 1)
		if ((rc = fn(&r, ctx)) != 0)
			jp_call_stop(c);
	return rc;
}

static const char not_run[] =
	"the call has not run: run it with jp_call_run (a stream's results come from jp_call_next)";

int jp_call_result(const jp_call *c, size_t i, const void **data, size_t *len)
{
	if (!c)
		return -EINVAL;
	if (c->is_map) {
		jp__pool_set_error(c->pool, "jp_call_result: a map's results are read whole, with jp_call_output");
		return -EINVAL;
	}
	if (i >= c->n) {
		jp__pool_set_error(c->pool, "jp_call_result: index %zu is out of range: the call has %zu item(s)", i,
				   c->n);
		return -EINVAL;
	}
	if (!c->ran) {
		jp__pool_set_error(c->pool, "jp_call_result: %s", not_run);
		return -EAGAIN;
	}
	const jp__slot *s = &c->slots[i];
	if (s->status)
		return s->status;
	*data = s->data;
	*len = s->len;
	return 0;
}

int jp_call_output(jp_call *c, const void **data, size_t *len)
{
	if (!c)
		return -EINVAL;
	if (!c->ran) {
		jp__pool_set_error(c->pool, "jp_call_output: %s", not_run);
		return -EAGAIN;
	}
	if (c->err)
		return c->err;
	if (c->nslots == 1) {
		/* one batch: its frame is the output, no copy */
		*data = c->slots[0].data;
		*len = c->slots[0].len;
		return 0;
	}
	if (!c->output_ready) {
		size_t total = 0;
		for (size_t i = 0; i < c->nslots; i++)
			total += c->slots[i].len;
		jp__bufcache_take(&c->pool->big_bufs, total, &c->output);
		int err = jp__buf_reserve(&c->output, total ? total : 1);
		if (err)
			return err;
		for (size_t i = 0; i < c->nslots; i++)
			jp__buf_append(&c->output, c->slots[i].data, c->slots[i].len);
		c->output_ready = true;
	}
	*data = c->output.data;
	*len = c->output.len;
	return 0;
}

int jp_call_error(const jp_call *c, size_t *index, const char **message)
{
	if (!c)
		return -EINVAL;
	if (index)
		*index = c->err ? c->err_index : 0;
	if (message)
		*message = c->errmsg;
	return c->err;
}

void jp_call_free(jp_call *c)
{
	if (!c)
		return;
	jp_call_stop(c);
	drop_results(c);
	jp__memo_free(c);
	/* the files dumped for this call go, and workers unmap the caller's */
	for (size_t i = 0; i < c->ndumps; i++)
		jp__share_release(c->dumps[i].b);
	if (c->nmapped && c->pool->n_workers)
		jp__sched_release(c->pool, c->mapped_ids, (uint32_t)c->nmapped);
	free(c->dumps);
	free(c->mapped_ids);
	free(c->items); /* the names stay with a kept call: free_call_arrays */
	jp__buf_free(&c->shared);
	jp__buf_free(&c->item_args);
	if (!keep_call(c)) {
		free_call_arrays(c);
		free(c);
	}
}
