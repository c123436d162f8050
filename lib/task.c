/*
 * task.c - what a running task sees: its range, its slot, its arguments,
 * and the one place its result goes.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *jp_task_name(const jp_task *t) { return t->name; }
size_t jp_task_begin(const jp_task *t) { return t->begin; }
size_t jp_task_end(const jp_task *t) { return t->end; }
int jp_task_worker(const jp_task *t) { return t->slot; }
size_t jp_task_nargs(const jp_task *t) { return t->nargs; }

static int get_arg(const jp_task *t, size_t i, uint32_t kind, const jp__arg **arg)
{
	if (!t || i >= t->nargs)
		return -EINVAL;
	if (t->args[i].kind != kind)
		return -EPROTOTYPE;
	*arg = &t->args[i];
	return 0;
}

int jp_task_arg_i64(const jp_task *t, size_t i, int64_t *value)
{
	const jp__arg *a;
	int err = get_arg(t, i, JP__ARG_I64, &a);
	if (!err)
		memcpy(value, a->data, sizeof *value);
	return err;
}

int jp_task_arg_f64(const jp_task *t, size_t i, double *value)
{
	const jp__arg *a;
	int err = get_arg(t, i, JP__ARG_F64, &a);
	if (!err)
		memcpy(value, a->data, sizeof *value);
	return err;
}

int jp_task_arg_bytes(const jp_task *t, size_t i, const void **data, size_t *len)
{
	const jp__arg *a;
	int err = get_arg(t, i, JP__ARG_BYTES, &a);
	if (!err) {
		*data = a->data;
		*len = a->len;
	}
	return err;
}

int jp_task_arg_array(const jp_task *t, size_t i, jp_array *array)
{
	if (!t || i >= t->nargs)
		return -EINVAL;
	const jp__arg *a = &t->args[i];
	if (a->kind < JP__ARG_ARRAY)
		return -EPROTOTYPE;
	jp__shared_ref ref;
	int err = jp__array_record_decode(a, array, &ref);
	if (!err && a->kind == JP__ARG_SHARED) {
		array->data = a->mapped;
		array->flags |= JP_ARRAY_SHARED | (a->readonly ? JP_ARRAY_READONLY : 0);
	}
	return err;
}

void *jp_task_result_alloc(jp_task *t, size_t len)
{
	if (!t || t->result_off != SIZE_MAX)
		return NULL;
	size_t off;
	void *p = jp__result_reserve(t->out, len, &off);
	if (p) {
		t->result_off = off;
		t->result_len = len;
	}
	return p;
}

int jp_task_set_result(jp_task *t, const void *data, size_t len)
{
	if (!t || (len && !data))
		return -EINVAL;
	if (t->result_off != SIZE_MAX)
		return -EALREADY;
	void *p = jp_task_result_alloc(t, len);
	if (!p)
		return -ENOMEM;
	if (len)
		memcpy(p, data, len);
	return 0;
}

int jp_task_fail(jp_task *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	jp__vmsgf(t->errmsg, sizeof t->errmsg, fmt, ap);
	va_end(ap);
	t->failed = true;
	return JP_ETASK;
}
