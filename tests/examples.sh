#!/bin/sh
# The examples run at their --small size, check their own results (a
# non-zero exit is a failure), and leave nothing behind: no process (workers
# and janitor inherit a marker in their environment) and no temp folder of
# their pool (jobpool-PID-*, PID the example's).
dir="${top_builddir:-.}/examples"
progs="poly_grid vectorize matmul dot"
fail=0
for p in $progs; do
	prog="$dir/$p"
	if [ ! -x "$prog" ]; then
		echo "FAIL: $p: $prog not built"; fail=1; continue
	fi
	mark="jobpool-examples-$$-$p"
	# the libtool wrapper execs the program, so $! is the master's PID
	JOBPOOL_EXAMPLE_MARK=$mark "$prog" --small &
	pid=$!
	wait "$pid"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "FAIL: $p --small exited with status $rc"; fail=1
	fi
	# a janitor removes the folder of a master that died; give it a moment
	left=
	for try in 1 2 3 4 5 6 7 8 9 10; do
		left=$(grep -l "JOBPOOL_EXAMPLE_MARK=$mark" /proc/[0-9]*/environ 2>/dev/null)
		for d in ${JOBPOOL_TEMP_FOLDER:-} /dev/shm "${TMPDIR:-/tmp}" /tmp; do
			for f in "$d"/jobpool-"$pid"-*; do
				[ -e "$f" ] && left="$left $f"
			done
		done
		[ -z "$left" ] && break
		sleep 0.1
	done
	if [ -n "$left" ]; then
		echo "FAIL: $p left behind:$left"; fail=1
	elif [ "$rc" -eq 0 ]; then
		echo "PASS: $p --small (no process, no temp folder left)"
	fi
done
exit $fail
