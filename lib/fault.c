/*
 * fault.c - fault injection for the tests: a failure armed here makes the
 * next N attempts of that operation fail as the system would (fork with
 * EAGAIN, mmap with ENOMEM), so the paths that handle them are exercised
 * on any machine, as root too (where rlimits do not bite). Unarmed, a
 * check is one load of a counter.
 */
#include "internal.h"

unsigned jp__faults_armed[JP__FAULT_COUNT];

void jp__fault_arm(enum jp__fault f, unsigned times)
{
	__atomic_store_n(&jp__faults_armed[f], times, __ATOMIC_RELAXED);
}

unsigned jp__fault_left(enum jp__fault f)
{
	return __atomic_load_n(&jp__faults_armed[f], __ATOMIC_RELAXED);
}

bool jp__fault_take(enum jp__fault f)
{
	unsigned n = __atomic_load_n(&jp__faults_armed[f], __ATOMIC_RELAXED);
	while (n) {
		if (__atomic_compare_exchange_n(&jp__faults_armed[f], &n, n - 1, false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			return true;
	}
	return false;
}
