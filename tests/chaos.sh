#!/bin/sh
# jobpool-bench chaos, briefly: 4000 tasks of 0.1 ms on 2 workers while a
# separate process SIGKILLs one of them every 20 ms, once with retries 2 and
# once with retries 0 (where batches do fail). The bench checks every
# result and every report against what the workers and the killer saw
# (doc/jobpool-bench.1); this checks its JSON line field by field, that it
# exits 0, and that nothing is left behind: no process (the bench, its
# workers, janitor and killer inherit a marker in their environment),
# nothing in the pool's temp folder or status folder. Skipped (77) without
# python3, which reads the JSON.
top="${top_builddir:-.}"
bench="$top/tools/jobpool-bench"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: no python3 to read the bench's JSON"; exit 77; }
[ -x "$bench" ] || { echo "FAIL: $bench not built"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/jpt-chaos.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM
mkdir -m 700 "$work/temp"
export JOBPOOL_TEMP_FOLDER="$work/temp"
export JOBPOOL_STATUS_DIR="$work/status"
unset JOBPOOL_TRACE JOBPOOL_STATUS
mark="jpt-chaos-$$"
tmo=
command -v timeout >/dev/null 2>&1 && tmo="timeout 60"
n=4000
fails=0

# chaos RETRIES: one run, its JSON checked
chaos() {
	r=$1
	JPT_CHAOS_MARK=$mark $tmo "$bench" --jobs 2 --n $n --kill-every-ms 20 --retries "$r" chaos \
		>"$work/out" 2>"$work/err"
	rc=$?
	if python3 - "$work/out" "$rc" "$r" "$n" <<'EOF'; then :; else fails=$((fails + 1)); cat "$work/out" "$work/err"; fi
import json, sys
path, rc, retries, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
bad = []
try:
    d = json.loads(open(path).read())
except ValueError as e:
    print("FAIL: chaos --retries %d: no JSON line (%s), exit %d" % (retries, e, rc))
    sys.exit(1)
def want(what, cond):
    if not cond:
        bad.append(what)
want("exit status 0 (it was %d)" % rc, rc == 0)
want("ok", d["ok"] is True)
want("n", d["n"] == n and d["retries"] == retries)
want("every task correct or failed", d["tasks_ok"] + d["tasks_failed"] == n)
want("none cancelled", d["tasks_cancelled"] == 0)
want("results_wrong 0", d["results_wrong"] == 0)
want("every failure explained", d["tasks_failed"] == d["tasks_failed_explained"])
want("no batch rerun beyond retries or without a kill", d["tasks_rerun_wrongly"] == 0)
want("the call's error explained", d["error_explained"] is True)
want("a kill for each death of each failed batch", d["kills_cover_failures"] is True
     and d["workers_killed"] >= (retries + 1) * d["batches_failed"])
want("failed batches and tasks agree", (d["batches_failed"] > 0) == (d["tasks_failed"] > 0))
want("workers were killed and respawned", d["workers_killed"] >= 1 and d["respawns"] >= 1)
want("leaked_files 0", d["leaked_files"] == 0)
want("zombies 0", d["zombies"] == 0)
want("pool usable", d["pool_usable"] is True)
want("call_status", d["call_status"] == ("ok" if d["tasks_failed"] == 0 else
                                         "a worker died while running a task"))
if retries == 0:
    want("with retries 0, some tasks failed", d["tasks_failed"] > 0)
what = "chaos --retries %d: %d killed, %d respawned, %d ok, %d failed in %d batches" % (
    retries, d["workers_killed"], d["respawns"], d["tasks_ok"], d["tasks_failed"], d["batches_failed"])
if bad:
    print("FAIL: %s: not %s" % (what, "; not ".join(bad)))
    sys.exit(1)
print("PASS: " + what)
EOF
}

chaos 2
chaos 0

left=
i=0
while [ $i -lt 50 ]; do
	left=$(grep -l "JPT_CHAOS_MARK=$mark" /proc/[0-9]*/environ 2>/dev/null)
	[ -z "$left" ] && break
	sleep 0.1; i=$((i + 1))
done
if [ -z "$left" ]; then echo "PASS: no process left behind"; else
	echo "FAIL: processes left behind: $left"; fails=$((fails + 1)); fi
if [ -z "$(ls -A "$work/temp")" ]; then echo "PASS: nothing left in the temp folder"; else
	echo "FAIL: left in the temp folder: $(ls -A "$work/temp")"; fails=$((fails + 1)); fi
if [ -z "$(ls -A "$work/status" 2>/dev/null)" ]; then echo "PASS: nothing left in the status folder"; else
	echo "FAIL: left in the status folder: $(ls -A "$work/status")"; fails=$((fails + 1)); fi
echo "$fails failed"
[ "$fails" -eq 0 ]
