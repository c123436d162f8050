/*
 * call_memory.c - a call with a result cache (jp_call_set_memory): its
 * arguments hashed as they are added, its keys, the hits taken from disk,
 * the misses run on the pool as a call of their own, their results stored.
 *
 * Builder calls are cached item by item. The misses of a call with some
 * hits become a second call holding only them, which the scheduler runs as
 * any other (sched.c knows nothing of caches); its items keep their
 * original indices (jp_call.origin) for tasks and messages, and its result
 * frames and slots move into the first call. A call that hits nothing runs
 * as it is, and one that hits everything dispatches nothing.
 *
 * A map is cached whole, keyed by its task, version, n and shared
 * arguments: its results are per batch and batches change with the batch
 * size, so items have no result of their own to store.
 */
#include "memory.h"
#include "pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashing the arguments ----------------------------------------------- */

int jp_call_set_memory(jp_call *c, jp_memory *mem)
{
	if (!c)
		return -EINVAL;
	if (c->make_item) {
		jp__pool_set_error(c->pool, "jp_call_set_memory: a call whose items are made on demand (jp_call_generate) cannot have a cache in this version");
		return JP_ENOTSUP;
	}
	if ((!c->is_map && c->n) || c->nshared || c->run.active) {
		jp__pool_set_error(c->pool, "jp_call_set_memory: give the call its cache before adding any argument or item (arguments are hashed as they are added)");
		return -EINVAL;
	}
	if (!mem) {
		jp__memo_free(c);
		return 0;
	}
	if (c->memo) {
		c->memo->mem = mem;
		return 0;
	}
	jp__call_memo *mo = calloc(1, sizeof *mo);
	if (!mo)
		return -ENOMEM;
	int err = jp__hasher_new(&mo->shared);
	if (!err)
		err = jp__hasher_new(&mo->item);
	if (err) {
		jp__hasher_free(mo->shared);
		free(mo);
		return err;
	}
	mo->mem = mem;
	mo->cur = SIZE_MAX;
	c->memo = mo;
	return 0;
}

/* The digest of the item being hashed, kept: the item hasher then serves
 * the next one. Taking it leaves the state as it was, so an argument added
 * to the same item after a run still counts. */
static void take_item_digest(jp__call_memo *mo)
{
	if (mo->cur != SIZE_MAX)
		mo->items[mo->cur] = jp__hasher_digest(mo->item);
}

int jp__memo_item(jp_call *c, size_t index)
{
	jp__call_memo *mo = c->memo;
	if (index >= mo->items_cap) {
		size_t cap = mo->items_cap ? mo->items_cap * 2 : 64;
		while (cap <= index)
			cap *= 2;
		jp__digest *d = realloc(mo->items, cap * sizeof *d);
		if (!d)
			return -ENOMEM;
		mo->items = d;
		mo->items_cap = cap;
	}
	take_item_digest(mo);
	jp__hasher_reset(mo->item);
	mo->cur = index;
	mo->items[index] = (jp__digest){ 0 };
	return 0;
}

/* Where an argument goes: as call.c's arg_target decides. */
static jp__hasher *target(jp_call *c)
{
	return c->n && !c->is_map ? c->memo->item : c->memo->shared;
}

/* Each argument is its kind and length, then its bytes: a sequence of
 * arguments cannot be read two ways. */
struct arg_head {
	uint32_t kind;
	uint32_t pad;
	uint64_t len;
};

void jp__memo_scalar(jp_call *c, uint32_t kind, const void *data, size_t len)
{
	jp__hasher *h = target(c);
	struct arg_head head = { .kind = kind, .len = len };
	jp__hasher_update(h, &head, sizeof head);
	jp__hasher_update(h, data, len);
	c->memo->mem->stats.hashed_bytes += len;
}

void jp__memo_array(jp_call *c, const jp_array *a)
{
	jp__hasher *h = target(c);
	size_t nbytes = jp_array_nbytes(a);
	struct {
		struct arg_head head;
		uint32_t dtype, ndim, fortran, pad;
	} head = { .head = { .kind = JP__ARG_ARRAY, .len = nbytes }, .dtype = (uint32_t)a->dtype,
		   .ndim = (uint32_t)a->ndim, .fortran = (a->flags & JP_ARRAY_FORTRAN) != 0 };
	jp__hasher_update(h, &head, sizeof head);
	for (int d = 0; d < a->ndim; d++) {
		uint64_t n = a->shape[d];
		jp__hasher_update(h, &n, sizeof n);
	}
	jp__hasher_update(h, a->data, nbytes);
	c->memo->mem->stats.hashed_bytes += nbytes;
}

/* ---- results taken from the cache ------------------------------------------ */

static int hold(jp__call_memo *mo, const jp__memory_held *h)
{
	if (mo->nheld == mo->held_cap) {
		size_t cap = mo->held_cap ? mo->held_cap * 2 : 16;
		jp__memory_held *v = realloc(mo->held, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		mo->held = v;
		mo->held_cap = cap;
	}
	mo->held[mo->nheld++] = *h;
	return 0;
}

void jp__memo_drop(jp_call *c)
{
	jp__call_memo *mo = c->memo;
	for (size_t i = 0; i < mo->nheld; i++)
		jp__memory_release(&mo->held[i]);
	mo->nheld = 0;
}

void jp__memo_free(jp_call *c)
{
	jp__call_memo *mo = c->memo;
	if (!mo)
		return;
	jp__memo_drop(c);
	free(mo->held);
	free(mo->items);
	jp__hasher_free(mo->shared);
	jp__hasher_free(mo->item);
	free(mo);
	c->memo = NULL;
}

/* Look a key up; on a hit the result is held by the call. */
static int lookup(jp_call *c, const jp__digest *key, const char *task, uint64_t version,
		  const void **data, size_t *len)
{
	jp__call_memo *mo = c->memo;
	const jp__config *cfg = &c->pool->cfg;
	jp__memory_held h;
	/* results map as arguments do: above max_nbytes, with mmap_mode */
	int hit = jp__memory_lookup(mo->mem, key, task, version, cfg->max_nbytes, (int)cfg->mmap_mode,
				    &h, data, len, cfg->verbose);
	if (hit && hold(mo, &h)) {
		jp__memory_release(&h);
		hit = 0;
	}
	if (hit)
		mo->mem->stats.hits++;
	else
		mo->mem->stats.misses++;
	return hit;
}

static uint64_t version_of(const char *task)
{
	const jp__task_entry *e = jp__task_lookup(task, strlen(task));
	return e ? e->version : 0;
}

/* ---- maps: the whole output ------------------------------------------------ */

static int run_map(jp_call *c, const jp__digest *shared)
{
	jp_memory *m = c->memo->mem;
	const char *task = c->names[0];
	uint64_t version = version_of(task);
	jp__digest key = jp__memory_key(task, version, true, c->n, shared, NULL);
	int err = jp__call_reset(c);
	if (err)
		return err;
	const void *data;
	size_t len;
	if (lookup(c, &key, task, version, &data, &len)) {
		if ((err = jp__call_reserve_slots(c, 1)))
			return err;
		c->slots[0] = (jp__slot){ .status = 0, .begin = 0, .end = c->n, .data = data, .len = len };
		c->nslots = 1;
		jp__call_finish(c);
		if (c->progress)
			c->progress(c->n, c->n, c->progress_ctx);
		jp__memory_note(m, 2, c->pool->cfg.verbose, false, "map of \"%s\" over %zu items from the cache",
				task, c->n);
		return 0;
	}
	err = jp__call_run_plain(c);
	if (!err && (err = jp_call_output(c, &data, &len)) == 0) {
		jp__memory_store(m, &key, task, version, data, len, c->pool->cfg.verbose);
		jp__memory_trim(m, c->pool->cfg.verbose);
	}
	return c->err ? c->err : err;
}

/* ---- builder calls: item by item ------------------------------------------- */

struct progress_offset {
	jp_call *c;
	size_t hits;
};

/* The misses' call reports progress as the whole call's. */
static void offset_progress(size_t done, size_t total, void *ctx)
{
	struct progress_offset *po = ctx;
	jp_call *c = po->c;
	c->progress(done + po->hits, total + po->hits, c->progress_ctx);
}

/* A call of the misses alone: the same tasks, shared arguments and batch
 * size, each missed item's encoded arguments as they are (a shared array's
 * reference included: its file belongs to c, which outlives this call). */
static int misses_call(jp_call *c, const size_t *miss, size_t k, jp_call **out)
{
	jp_call *m;
	int err = jp_call_new(&m, c->pool);
	if (err)
		return err;
	m->batch_size = c->batch_size;
	m->items = malloc(k * sizeof *m->items);
	err = m->items ? 0 : -ENOMEM;
	/* c's names are distinct: each takes its own index, in order (a call
	 * the pool kept comes with names of its own, which these replace) */
	for (uint32_t t = 0, idx; !err && t < c->ntasks; t++)
		err = jp__call_task_index(m, c->names[t], &idx);
	if (!err && c->shared.len)
		err = jp__buf_append(&m->shared, c->shared.data, c->shared.len);
	m->nshared = c->nshared;
	m->items_cap = k;
	for (size_t j = 0; !err && j < k; j++) {
		const jp__item *it = &c->items[miss[j]];
		if ((err = jp__buf_pad(&m->item_args, 64)))
			break;
		size_t off = m->item_args.len;
		if (it->len && (err = jp__buf_append(&m->item_args, c->item_args.data + it->off, it->len)))
			break;
		m->items[j] = (jp__item){ .task = it->task, .nargs = it->nargs, .off = off, .len = it->len };
		m->n++;
	}
	if (err) {
		jp_call_free(m);
		return err;
	}
	m->origin = miss;
	*out = m;
	return 0;
}

/* Run the misses, then take their results into c. */
static int run_misses(jp_call *c, const size_t *miss, size_t k, size_t hits)
{
	jp_call *m;
	int err = misses_call(c, miss, k, &m);
	if (err)
		return err;
	struct progress_offset po = { .c = c, .hits = hits };
	if (c->progress) {
		m->progress = offset_progress;
		m->progress_ctx = &po;
	}
	int rc = jp_call_run(m);
	if (m->ran && !(err = jp__call_adopt_blocks(c, m))) {
		for (size_t j = 0; j < k; j++)
			c->slots[miss[j]] = m->slots[j]; /* begin and end are origin's */
	}
	if (m->err)
		jp__call_fail(c, m->err, m->err_index, "%s", m->errmsg);
	else if (rc || err)
		jp__call_fail(c, rc ? rc : err, miss[0], "%s",
			      rc && !c->inline_run ? c->pool->errmsg : jp_strerror(rc ? rc : err));
	m->origin = NULL;
	jp_call_free(m);
	/* r+ and w+ arrays: the workers of the misses wrote into c's files */
	int back = jp__call_copy_back(c);
	if (back && !c->err)
		jp__call_fail(c, back, 0, "copying shared arrays back: %s", jp_strerror(back));
	jp__call_finish(c);
	return c->err;
}

static int run_items(jp_call *c, const jp__digest *shared)
{
	jp__call_memo *mo = c->memo;
	jp_memory *m = mo->mem;
	size_t n = c->n;
	uint64_t *versions = malloc((c->ntasks ? c->ntasks : 1) * sizeof *versions);
	jp__digest *keys = malloc((n ? n : 1) * sizeof *keys);
	size_t *miss = malloc((n ? n : 1) * sizeof *miss), k = 0;
	int err = versions && keys && miss ? jp__call_reset(c) : -ENOMEM;
	for (uint32_t t = 0; !err && t < c->ntasks; t++)
		versions[t] = version_of(c->names[t]);
	for (size_t i = 0; !err && i < n; i++) {
		uint32_t t = c->items[i].task;
		keys[i] = jp__memory_key(c->names[t], versions[t], false, 0, shared, &mo->items[i]);
		const void *data;
		size_t len;
		if (lookup(c, &keys[i], c->names[t], versions[t], &data, &len))
			c->slots[i] = (jp__slot){ .status = 0, .task = t, .begin = i, .end = i + 1,
						  .data = data, .len = len };
		else
			miss[k++] = i;
	}
	if (!err)
		jp__memory_note(m, 2, c->pool->cfg.verbose, false, "%zu of %zu items from the cache",
				n - k, n);
	if (err) {
		/* nothing ran */
	} else if (k == n) {
		err = jp__call_run_plain(c); /* no hit: the call as it is */
	} else if (k == 0) {
		jp__call_finish(c); /* every result from disk: nothing to dispatch */
		if (c->progress)
			c->progress(n, n, c->progress_ctx);
	} else {
		err = run_misses(c, miss, k, n - k);
	}
	/* what was computed is stored, even when other items failed */
	size_t stored = 0;
	for (size_t j = 0; keys && miss && j < k && c->ran; j++) {
		const jp__slot *s = &c->slots[miss[j]];
		if (s->status == 0) {
			uint32_t t = s->task;
			jp__memory_store(m, &keys[miss[j]], c->names[t], versions[t], s->data, s->len,
					 c->pool->cfg.verbose);
			stored++;
		}
	}
	if (stored)
		jp__memory_trim(m, c->pool->cfg.verbose);
	free(versions);
	free(keys);
	free(miss);
	return c->err ? c->err : err;
}

int jp__memo_run(jp_call *c)
{
	jp__call_memo *mo = c->memo;
	take_item_digest(mo);
	jp__digest shared = jp__hasher_digest(mo->shared);
	return c->is_map ? run_map(c, &shared) : run_items(c, &shared);
}
