/*
 * registry.c - the task table: names to functions. The one piece of
 * process-wide mutable state, filled before main() by JP_TASK and read by
 * workers, which inherit it when they are forked.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

/* A worker is forked while other threads of the host may be registering:
 * the lock is taken around fork so the child never inherits it held. */
static void lock_registry(void) { pthread_mutex_lock(&registry_lock); }
static void unlock_registry(void) { pthread_mutex_unlock(&registry_lock); }

__attribute__((constructor)) static void registry_atfork(void)
{
	pthread_atfork(lock_registry, unlock_registry, unlock_registry);
}
/* Entries are allocated one by one so a pointer handed out stays valid when
 * the table grows. */
static jp__task_entry **entries;
static size_t nentries, capacity;

static jp__task_entry *find_locked(const char *name, size_t len)
{
	for (size_t i = 0; i < nentries; i++)
		if (strlen(entries[i]->name) == len && !memcmp(entries[i]->name, name, len))
			return entries[i];
	return NULL;
}

static int grow_locked(void)
{
	size_t cap = capacity ? capacity * 2 : 16;
	jp__task_entry **p = realloc(entries, cap * sizeof *p);
	if (!p)
		return -ENOMEM;
	entries = p;
	capacity = cap;
	return 0;
}

int jp_task_register(const char *name, jp_task_fn fn)
{
	return jp_task_register_version(name, fn, 0);
}

int jp_task_register_version(const char *name, jp_task_fn fn, uint64_t version)
{
	if (!name || !fn || !*name || strlen(name) > JP__MAX_TASK_NAME)
		return -EINVAL;
	int err = 0;
	pthread_mutex_lock(&registry_lock);
	jp__task_entry *e = find_locked(name, strlen(name));
	if (e) {
		/* two versions of one name would make cached results ambiguous */
		err = e->fn == fn && e->version == version ? 0 : -EEXIST;
	} else if (nentries == capacity && grow_locked()) {
		err = -ENOMEM;
	} else if (!(e = malloc(sizeof *e)) || !(e->name = strdup(name))) {
		free(e);
		err = -ENOMEM;
	} else {
		e->fn = fn;
		e->version = version;
		entries[nentries++] = e;
	}
	pthread_mutex_unlock(&registry_lock);
	return err;
}

const jp__task_entry *jp__task_lookup(const char *name, size_t len)
{
	pthread_mutex_lock(&registry_lock);
	const jp__task_entry *e = find_locked(name, len);
	pthread_mutex_unlock(&registry_lock);
	return e;
}
