#!/bin/sh
# bench/compare-joblib --quick on tiny sizes, and bench/plot on what it
# wrote: a smoke test of the comparison with joblib, NumPy and
# multiprocessing.Pool. It asserts no timing, only that the table comes out
# whole (every case, every cell a time or a ratio, or "-") and that nothing
# is left behind: no process (all of them inherit a marker in their
# environment) and nothing in the temp folder that jobpool and joblib were
# given. Skipped (77) without Debian's python3 with joblib and NumPy.
srcdir=${srcdir:-.}
top_builddir=${top_builddir:-.}
python=${PYTHON:-/usr/bin/python3}
bench="$top_builddir/tools/jobpool-bench"

if ! "$python" -c 'import joblib, numpy' 2>/dev/null; then
	echo "SKIP: $python lacks joblib or NumPy (apt-get install python3-joblib python3-numpy)"
	exit 77
fi
[ -x "$bench" ] || { echo "FAIL: no $bench"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/jobpool-compare-XXXXXX") || exit 1
# the pools' folders, jobpool's and joblib's, where the test can see them:
# in /dev/shm as by default, when there is one
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	tmp=$(mktemp -d /dev/shm/jobpool-compare-XXXXXX) || exit 1
else
	tmp=$(mktemp -d "$work/tmp-XXXXXX") || exit 1
fi
cleanup() { rm -rf "$work" "$tmp"; }
trap cleanup EXIT
trap 'exit 1' INT TERM

mark="jobpool-compare-$$"
fail=0
JOBPOOL_COMPARE_MARK=$mark JOBPOOL_TEMP_FOLDER=$tmp JOBLIB_TEMP_FOLDER=$tmp \
JOBPOOL_STATUS_DIR=$tmp/status \
	"$python" "$srcdir/bench/compare-joblib" --quick --reps 2 --memmap-size 1048576 \
	--bench "$bench" --out "$work/out" >"$work/stdout" 2>"$work/stderr"
rc=$?
if [ "$rc" -ne 0 ]; then
	echo "FAIL: compare-joblib --quick exited with status $rc"
	cat "$work/stderr"
	fail=1
fi

# the table: the same cases in the text on standard output, table.md and
# table.csv; every jobpool cell a time, every peer column filled where the
# case has that peer
"$python" - "$work/out" "$work/stdout" <<'EOF' || fail=1
import csv, json, os, re, sys
out, stdout = sys.argv[1], sys.argv[2]
want = ["dot N=1000", "dot N=1000, passive wait", "dot N=100000",
        "A.B int64 200x200, n_jobs 2", "A.B float64 200x200, n_jobs 2",
        "poly grid 10^4 tuples x 50 points", "vectorize N=100",
        "vectorize N=100, threads (joblib: threading)", "vectorize N=200",
        "vectorize N=200, threads (joblib: threading)", "overhead, 1000 trivial tasks",
        "memmap 1 MiB, first call", "memmap 1 MiB, second call"]
bad = []
time_re = re.compile(r"^[0-9.]+(e[-+][0-9]+)? (µs|ms|s)$")
ratio_re = re.compile(r"^[0-9.]+(e[-+][0-9]+)?$")
with open(os.path.join(out, "table.md")) as f:
    lines = f.read().splitlines()
head = [c.strip() for c in lines[0].strip("|").split("|")]
if head[:2] != ["case", "jobpool"] or len(head) != 10:
    bad.append("table.md header: %r" % lines[0])
if not re.match(r"^\|---(\|---:)+\|$", lines[1]):
    bad.append("table.md separator: %r" % lines[1])
rows = {}
for l in lines[2:]:
    cells = [c.strip() for c in l.strip("|").split("|")]
    if len(cells) != len(head):
        bad.append("table.md row of %d cells: %r" % (len(cells), l))
        continue
    rows[cells[0]] = cells
    if not time_re.match(cells[1]):
        bad.append("%s: jobpool cell %r" % (cells[0], cells[1]))
    for c in cells[2:6]:
        if c != "-" and not time_re.match(c):
            bad.append("%s: time cell %r" % (cells[0], c))
    for c in cells[6:]:
        if c != "-" and not ratio_re.match(c):
            bad.append("%s: ratio cell %r" % (cells[0], c))
    if cells[2] == "-" or cells[6] == "-":
        bad.append("%s: no joblib figure" % cells[0])
if list(rows) != want:
    bad.append("table.md cases %r, expected %r" % (list(rows), want))
with open(os.path.join(out, "table.csv")) as f:
    recs = list(csv.DictReader(f))
if [r["case"] for r in recs] != want:
    bad.append("table.csv cases differ from table.md")
for r in recs:
    for k, v in r.items():
        if k in ("workload", "case") or v == "":
            continue
        try:
            if not float(v) > 0:
                bad.append("table.csv %s %s = %s" % (r["case"], k, v))
        except ValueError:
            bad.append("table.csv %s %s = %r" % (r["case"], k, v))
with open(stdout) as f:
    text = f.read()
for case in want:
    if case not in text:
        bad.append("standard output lacks %r" % case)
res = json.load(open(os.path.join(out, "results.json")))
if len(res["cases"]) != 9 or not res["machine"].get("cpu"):
    bad.append("results.json: %d cases, machine %r" % (len(res["cases"]), res["machine"]))
# the floors the overhead workload measures beside its calls
floors = res["machine"].get("floors", {})
for k in ("pipe_rtt_s", "spin_handoff_s"):
    if not floors.get(k, {}).get("median", 0) > 0:
        bad.append("results.json: no floor %s in %r" % (k, sorted(floors)))
for b in bad:
    print("FAIL: " + b)
sys.exit(1 if bad else 0)
EOF

# the plots, where gnuplot is installed
if command -v gnuplot >/dev/null 2>&1 && [ "$rc" -eq 0 ]; then
	if "$python" "$srcdir/bench/plot" "$work/out" >/dev/null 2>"$work/plot.err"; then
		for w in dot matmul poly vectorize overhead memmap; do
			magic=$(head -c 4 "$work/out/$w.png" 2>/dev/null | od -An -c | tr -d ' ')
			[ "$magic" = "211PNG" ] || { echo "FAIL: $w.png is not a PNG"; fail=1; }
		done
	else
		echo "FAIL: bench/plot"; cat "$work/plot.err"; fail=1
	fi
else
	echo "(no gnuplot: the plots are not tried)"
fi

# nothing left: no process, no file in the pools' folder
left=
for try in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	left=$(grep -l "JOBPOOL_COMPARE_MARK=$mark" /proc/[0-9]*/environ 2>/dev/null)
	files=$(find "$tmp" -mindepth 1 ! -path "$tmp/status" 2>/dev/null)
	[ -z "$left" ] && [ -z "$files" ] && break
	sleep 0.25
done
if [ -n "$left" ]; then
	echo "FAIL: processes left behind: $left"; fail=1
fi
if [ -n "$files" ]; then
	echo "FAIL: left in the temp folder: $files"; fail=1
fi
[ "$fail" -eq 0 ] && echo "PASS: compare-joblib --quick: a whole table, plots, nothing left behind"
exit $fail
