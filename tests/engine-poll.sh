#!/bin/sh
# The pool suites on the poll(2) engine. make check runs every suite on the
# default engine (io_uring where the kernel allows it, see test-engine);
# this runs the ones that drive workers again with JOBPOOL_IO=poll, so both
# engines pass them. One line per suite; a failing suite's output follows.
dir="${top_builddir:-.}/tests"
fail=0
for s in test-pool test-errors test-lifecycle test-share test-matmul test-threads test-stream test-faults test-memory; do
	if [ ! -x "$dir/$s" ]; then
		echo "FAIL: $s: $dir/$s not built"; fail=1; continue
	fi
	out=$(JOBPOOL_IO=poll "$dir/$s" 2>&1)
	rc=$?
	summary=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks' | tail -n 1)
	if [ "$rc" -ne 0 ]; then
		echo "FAIL: $s on poll (exit status $rc): $summary"
		printf '%s\n' "$out"
		fail=1
	else
		echo "PASS: $s on poll: $summary"
	fi
done
# and the chaos bench, whose workers die mid-call, seen by poll(2)
chaos="${srcdir:-.}/tests/chaos.sh"
if [ -f "$chaos" ]; then
	out=$(JOBPOOL_IO=poll sh "$chaos" 2>&1)
	rc=$?
	if [ "$rc" -eq 77 ]; then
		echo "SKIP: chaos.sh on poll: $out"
	elif [ "$rc" -eq 0 ]; then
		echo "PASS: chaos.sh on poll: $(printf '%s\n' "$out" | grep -c '^PASS') checks"
	else
		echo "FAIL: chaos.sh on poll (exit status $rc)"
		printf '%s\n' "$out"
		fail=1
	fi
else
	echo "FAIL: chaos.sh on poll: $chaos not found"; fail=1
fi
exit $fail
