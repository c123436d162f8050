/*
 * reuse-demo - a pool on the default options (all CPUs) runs several calls:
 * the same worker processes serve every one of them.
 *
 * Each call sums k*k over a range, split into one task per block; every
 * block reports which worker (slot and PID) computed it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jobpool.h>

struct block_sum {
	int64_t sum;
	int32_t slot, pid;
};

static int sum_squares(jp_task *t)
{
	struct block_sum r = { 0, jp_task_worker(t), (int32_t)getpid() };
	for (size_t k = jp_task_begin(t); k < jp_task_end(t); k++)
		r.sum += (int64_t)(k * k);
	return jp_task_set_result(t, &r, sizeof r);
}
JP_TASK(sum_squares);

int main(void)
{
	jp_options opt = JP_OPTIONS_INIT; /* n_jobs = -1: every CPU we may use */
	jp_pool *pool;
	if (jp_pool_open(&pool, &opt) < 0) {
		fprintf(stderr, "reuse-demo: %s\n", jp_pool_errmsg(NULL));
		return 1;
	}
	int n_jobs = jp_pool_n_jobs(pool);
	printf("pool: %d worker%s, PIDs", n_jobs, n_jobs == 1 ? " (the caller itself)" : "s");
	for (int s = 0; s < n_jobs; s++)
		printf(" %d", jp_pool_worker_pid(pool, s));
	printf("\n");

	const size_t n = 1000000;
	for (int call = 1; call <= 5; call++) {
		jp_call *c;
		const void *out;
		size_t len;
		if (jp_map_new(&c, pool, "sum_squares", n) < 0 || jp_call_run(c) < 0 ||
		    jp_call_output(c, &out, &len) < 0) {
			fprintf(stderr, "reuse-demo: call %d: %s\n", call, jp_pool_errmsg(pool));
			jp_call_free(c);
			jp_pool_close(pool);
			return 1;
		}
		const struct block_sum *b = out;
		size_t nb = len / sizeof *b;
		int64_t total = 0;
		printf("call %d: %zu blocks, served by PIDs", call, nb);
		for (size_t i = 0; i < nb; i++) {
			total += b[i].sum;
			bool seen = false;
			for (size_t j = 0; j < i; j++)
				seen |= b[j].pid == b[i].pid;
			if (!seen)
				printf(" %d", b[i].pid);
		}
		/* the closed form of the sum of k^2 for k < n */
		uint64_t m = n - 1, expect = m * (m + 1) / 2 * (2 * m + 1) / 3;
		printf("; sum of k^2 = %lld (%s)\n", (long long)total,
		       (uint64_t)total == expect ? "correct" : "WRONG");
		jp_call_free(c);
	}
	printf("processes started by the pool over 5 calls: %lu (one per worker, at open)\n",
	       jp_pool_spawn_count(pool));
	jp_pool_close(pool);
	return 0;
}
