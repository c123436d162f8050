#!/bin/sh
# jobpool-inspect against real pools (tests/inspect-target): list, show
# --json checked against what the pool itself says, watch under a
# pseudo-terminal, clean after a SIGKILLed master (and never a live pool,
# never another user's files), file on good and bad .npy files, trace on a
# trace of examples/matmul --small, cache on a result cache (whole, then
# with a cut entry), and the exit codes. Everything goes to
# a folder of its own; nothing is left behind: no process, no file.
top="${top_builddir:-.}"
I="$top/tools/jobpool-inspect"
T="$top/tests/inspect-target"
for p in "$I" "$T"; do
	[ -x "$p" ] || { echo "FAIL: $p not built"; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/jpt-inspect.XXXXXX") || exit 1
export JOBPOOL_STATUS_DIR="$work/status"
export JOBPOOL_TEMP_FOLDER="$work/temp"
unset JOBPOOL_TRACE JOBPOOL_STATUS
mkdir -m 700 "$work/temp"
mark="jpt-inspect-$$"
fails=0
have_py=no
command -v python3 >/dev/null 2>&1 && have_py=yes
have_script=no
script -qec true /dev/null >/dev/null 2>&1 && have_script=yes
tmo=
command -v timeout >/dev/null 2>&1 && tmo="timeout 30"

ok() { echo "PASS: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
# check WHAT COMMAND...: the command's success is the check's
check() { what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# code WANT WHAT COMMAND...: the command exits with status WANT
code() {
	want=$1 what=$2; shift 2
	"$@" > "$work/out" 2> "$work/err"; got=$?
	if [ "$got" -eq "$want" ]; then ok "$what (exit $got)"; else
		bad "$what: exit $got, not $want"; cat "$work/out" "$work/err"; fi
}
py() { [ $have_py = yes ] && python3 - "$@"; }

# start NAME ARGS...: a target in the background, its stdin a FIFO held open
# on fd 3 (NAME a b c: fds 3, 4, 5); waits for READY
fd_of() { case $1 in a) echo 3 ;; b) echo 4 ;; c) echo 5 ;; esac; }
start() {
	name=$1; shift
	mkfifo "$work/$name.in"
	JPT_INSPECT_MARK=$mark "$@" < "$work/$name.in" > "$work/$name.out" 2>&1 &
	eval "exec $(fd_of "$name")>\"\$work/\$name.in\""
	wait_line "$name" READY || { bad "$name never got ready"; cat "$work/$name.out"; }
	eval "${name}_pid=\$(awk '/^pid /{print \$2}' \"\$work/\$name.out\")"
}
wait_line() {
	i=0
	while [ $i -lt 300 ]; do
		grep -q "^$2\$" "$work/$1.out" 2>/dev/null && return 0
		sleep 0.1; i=$((i + 1))
	done
	return 1
}
gone() { ! kill -0 "$1" 2>/dev/null; }

# ---- a live pool, quiet ------------------------------------------------------
start a "$T" --jobs 2 --stop "$work/stop" --items 3000
pid=$a_pid
code 0 "list" "$I" list
check "list shows pool $pid-1 idle" grep -q "^$pid-1 *idle *process *2 " "$work/out"
if [ $have_py = yes ]; then
	"$I" list --json > "$work/list.json"
	check "list --json is valid and right" py "$work/list.json" "$work/a.out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
me = dict(l.split(None, 1) for l in open(sys.argv[2]) if ' ' in l)
p = [x for x in d["pools"] if x["pid"] == int(me["pid"])]
assert len(p) == 1, p
p = p[0]
assert p["alive"] and p["state"] == "idle" and p["backend"] == "process", p
assert p["n_jobs"] == int(me["n_jobs"]) and p["calls_done"] == 1, p
assert p["temp_folder"] == me["temp_folder"].strip(), p
assert p["shared_bytes"] == 100 * 200 * 8, p
EOF
	"$I" show "$pid" --json > "$work/show.json"
	check "show --json at rest matches the pool's own view" py "$work/show.json" "$work/a.out" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
lines = [l.split() for l in open(sys.argv[2])]
me = {l[0]: l[1] for l in lines if len(l) == 2}
workers = {int(l[1]): int(l[2]) for l in lines if l and l[0] == "worker"}
assert s["pid"] == int(me["pid"]) and s["alive"] and not s["torn"], s
assert s["options"]["n_jobs"] == int(me["n_jobs"]) == len(s["workers"]), s["options"]
assert s["options"]["backend"] == "process" and s["options"]["batch_size"] == 1
assert s["options"]["mmap_mode"] == "r" and s["options"]["max_nbytes"] == 1 << 20
assert s["temp_folder"] == me["temp_folder"], s["temp_folder"]
assert s["engine"] in ("poll", "io_uring"), s["engine"]
assert s["janitor_pid"] > 0 and s["state"] == "idle" and s["calls_done"] == 1
c = s["call"]
assert c["id"] == 1 and not c["active"] and c["done"] == 10 and c["total"] == 10, c
assert c["tasks"] == ["quick"], c
done = 0
for w in s["workers"]:
    assert w["pid"] == workers[w["slot"]], (w, workers)
    assert w["state"] == "idle" and w["task"] is None and w["respawns"] == 0, w
    assert w["rss_bytes"] > 0 and w["cpu_s"] >= 0, w
    done += w["tasks_done"]
assert done == 10, done
assert sum(1 for w in s["workers"]) == int(me["spawned"])
assert s["master"]["pid"] == s["pid"] and s["master"]["rss_bytes"] > 0
sh = s["shared"]
assert sh["arrays"] == 1 and sh["bytes"] == 160000, sh
a = sh["list"][0]
assert a["dtype"] == "float64" and a["shape"] == [100, 200] and a["bytes"] == 160000, a
assert a["file"].startswith(me["temp_folder"] + "/"), a
assert a["mapped_by"] == 3, a   # the master and both workers
EOF
fi
code 0 "show (text)" "$I" show "$pid"
check "show names its workers" grep -q "$(awk '/^worker 0 /{print $3}' "$work/a.out")" "$work/out"

# ---- the same pool, busy ---------------------------------------------------------
echo go >&3
wait_line a RUNNING || bad "the slow call never ran"
sleep 0.3
if [ $have_py = yes ]; then
	"$I" show "$pid" --json > "$work/busy.json"
	check "show --json while busy: each worker's task and item" py "$work/busy.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
c = s["call"]
assert c["active"] and c["total"] == 3000 and c["tasks"] == ["slow_item"], c
assert 0 < c["done"] < 3000 and c["rate_per_s"] > 0 and c["eta_s"] is not None, c
assert s["state"] == "running" and s["calls_done"] == 1
busy = [w for w in s["workers"] if w["state"] == "busy"]
assert busy, s["workers"]
for w in busy:
    assert w["task"] == "slow_item" and 0 <= w["item"] < 3000 and w["count"] == 1, w
    assert w["busy_s"] > 0 and w["queued"] >= 1, w
EOF
fi
# watch, plain (not a terminal): frames, no escape sequence
code 0 "watch --count 2 into a file" $tmo "$I" watch "$pid" --count 2 --interval 0.2
check "watch's plain frames" grep -q "slow_item" "$work/out"
check "watch's plain frames have no escape sequence" sh -c "! grep -q \"$(printf '\033')\" \"$work/out\""
if [ $have_script = yes ]; then
	# under a pseudo-terminal: the alternate screen, and the terminal as it was
	code 0 "watch --count 2 under a pseudo-terminal" $tmo script -qec \
		"stty -g > $work/tty.before; $I watch $pid --count 2 --interval 0.2; echo rc=\$?; stty -g > $work/tty.after" /dev/null
	check "watch drew two frames" sh -c "[ \$(grep -c 'SLOT' \"$work/out\") -eq 2 ]"
	check "watch showed the busy workers" grep -q "busy.*slow_item" "$work/out"
	check "watch entered and left the alternate screen" sh -c \
		"grep -q \"$(printf '\033')\\[?1049h\" \"$work/out\" && grep -q \"$(printf '\033')\\[?1049l\" \"$work/out\""
	check "watch exited 0" grep -q "rc=0" "$work/out"
	check "watch restored the terminal's modes" cmp -s "$work/tty.before" "$work/tty.after"
	# a terminal narrower than the table: lines are cut, bars keep 10 cells
	code 0 "watch in a 60-column terminal" $tmo script -qec \
		"stty cols 60; $I watch $pid --count 1" /dev/null
	check "watch's bars keep 10 cells in 60 columns" grep -Eq 'busy +\[[#.]{10}\]' "$work/out"
	# q quits, and so does Ctrl-C, with the modes restored
	rm -f "$work/tty.before" "$work/tty.after"
	(sleep 1; printf q) | $tmo script -qec \
		"stty -g > $work/tty.before; $I watch $pid --interval 0.2; echo rc=\$?; stty -g > $work/tty.after" /dev/null > "$work/out" 2>&1
	check "watch quits on q" grep -q "rc=0" "$work/out"
	check "q left the terminal as it was" cmp -s "$work/tty.before" "$work/tty.after"
	rm -f "$work/tty.before" "$work/tty.after"
	# Ctrl-C sends SIGINT to the whole foreground group, the shell that
	# script(1) runs included: the trap keeps that shell (dash, where
	# SHELL is /bin/sh as in CI) alive to report watch's own exit status,
	# and watch, which a trap does not reach, still gets the default action
	# unless it handles SIGINT itself
	(sleep 1; printf '\003') | $tmo script -qec \
		"trap : INT; stty -g > $work/tty.before; $I watch $pid --interval 0.2; echo rc=\$?; stty -g > $work/tty.after" /dev/null > "$work/out" 2>&1
	check "watch quits on Ctrl-C" grep -q "rc=0" "$work/out"
	check "Ctrl-C left the terminal as it was" cmp -s "$work/tty.before" "$work/tty.after"
else
	echo "SKIP: watch under a pseudo-terminal (no script(1))"
fi

# ---- clean: a live pool is never touched --------------------------------------------
folder_a=$(awk '/^temp_folder /{print $2}' "$work/a.out")
code 0 "clean beside a live pool" "$I" clean
check "clean left the live pool's page" test -f "$JOBPOOL_STATUS_DIR/$pid-1"
check "clean left the live pool's folder" test -d "$folder_a"

# ---- a SIGKILLed master, its janitor and workers with it ---------------------------------
start b setsid "$T" --jobs 2
pid_b=$b_pid
folder_b=$(awk '/^temp_folder /{print $2}' "$work/b.out")
kill -KILL "-$pid_b" 2>/dev/null || kill -KILL "$pid_b"
wait "$pid_b" 2>/dev/null
exec 4>&-
i=0; while [ $i -lt 50 ] && ! gone "$pid_b"; do sleep 0.1; i=$((i + 1)); done
check "the killed pool left its page" test -f "$JOBPOOL_STATUS_DIR/$pid_b-1"
check "the killed pool left its folder" test -d "$folder_b"
code 0 "list with a dead pool" "$I" list
check "list says it is dead" grep -q "^$pid_b-1 *dead " "$work/out"
code 0 "show a dead pool" "$I" show "$pid_b"
code 0 "clean --dry-run" "$I" clean --dry-run
check "clean --dry-run names the page" grep -q "would remove status page .*$pid_b-1" "$work/out"
check "clean --dry-run names the folder" grep -q "would remove $folder_b" "$work/out"
check "clean --dry-run removed nothing" test -f "$JOBPOOL_STATUS_DIR/$pid_b-1" -a -d "$folder_b"
code 0 "clean" "$I" clean
check "clean says what it removed" grep -q "removed $folder_b" "$work/out"
check "clean says what it freed" grep -q "^freed .*1 folder, 1 status page" "$work/out"
check "clean removed the dead pool's page" test ! -e "$JOBPOOL_STATUS_DIR/$pid_b-1"
check "clean removed the dead pool's folder" test ! -e "$folder_b"
check "clean left the live pool's page" test -f "$JOBPOOL_STATUS_DIR/$pid-1"
check "clean left the live pool's folder" test -d "$folder_a"
code 2 "show a pool cleaned away" "$I" show "$pid_b"

# ---- a sequential pool: marked so, and no janitor to clean after it ---------------------
start c "$T" --jobs 1
pid_c=$c_pid
code 0 "list a sequential pool" "$I" list
check "list says sequential" grep -q "^$pid_c-1 .* sequential " "$work/out"
if [ $have_py = yes ]; then
	"$I" show "$pid_c" --json > "$work/seq.json"
	check "show --json of a sequential pool" py "$work/seq.json" "$pid_c" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
pid = int(sys.argv[2])
assert s["options"]["backend"] == "sequential" and s["engine"] == "none", s
assert len(s["workers"]) == 1 and s["workers"][0]["pid"] == pid, s["workers"]
assert s["workers"][0]["tasks_done"] == 10 and s["janitor_pid"] == 0, s
EOF
fi
kill -KILL "$pid_c"; wait "$pid_c" 2>/dev/null
exec 5>&-
code 0 "clean after a sequential pool" "$I" clean
check "clean removed its page" test ! -e "$JOBPOOL_STATUS_DIR/$pid_c-1"

# ---- another user's files are never touched ----------------------------------------------
# Needs root that can give a file away: in a user namespace (a rootless
# container) uid 65534 may not be mapped, and chown fails with EINVAL.
: > "$work/chown-probe"
if [ "$(id -u)" = 0 ] && chown 65534 "$work/chown-probe" 2>/dev/null; then
	ghost=4000000   # above any pid_max: no such process
	mkdir -p -m 700 "$JOBPOOL_STATUS_DIR"
	head -c 4096 /dev/zero > "$JOBPOOL_STATUS_DIR/$ghost-1"
	mkdir "$work/temp/jobpool-$ghost-AbCdEf"
	chown 65534 "$JOBPOOL_STATUS_DIR/$ghost-1" "$work/temp/jobpool-$ghost-AbCdEf"
	code 0 "clean beside another user's page and folder" "$I" clean
	check "clean says it skipped another user's page" grep -q "skipped .*$ghost-1" "$work/out"
	check "clean left another user's page" test -f "$JOBPOOL_STATUS_DIR/$ghost-1"
	check "clean left another user's folder" test -d "$work/temp/jobpool-$ghost-AbCdEf"
	rm -f "$JOBPOOL_STATUS_DIR/$ghost-1"; rmdir "$work/temp/jobpool-$ghost-AbCdEf"
	if [ $have_py = yes ]; then
		python3 -c "import os, time; os.setgid(65534); os.setuid(65534); time.sleep(30)" &
		other=$!
		i=0   # until it has become the other user
		while [ $i -lt 100 ] && [ "$(stat -c %u "/proc/$other" 2>/dev/null)" != 65534 ]; do
			sleep 0.05; i=$((i + 1))
		done
		if [ "$(stat -c %u "/proc/$other" 2>/dev/null)" = 65534 ]; then
			code 3 "show another user's process" "$I" show "$other"
		else
			echo "SKIP: show another user's process (could not become uid 65534)"
		fi
		kill "$other" 2>/dev/null; wait "$other" 2>/dev/null
	fi
else
	echo "SKIP: other users' files (not root, or root that cannot chown to uid 65534)"
fi
rm -f "$work/chown-probe"

# ---- exit codes -------------------------------------------------------------------------------
code 1 "no command" "$I"
code 1 "an unknown command" "$I" frobnicate
code 1 "show without a PID" "$I" show
code 1 "show of something not a PID" "$I" show abc
code 1 "clean --json" "$I" clean --json
code 2 "show of no process" "$I" show 4000000
code 2 "show of a process with no pool" "$I" show $$
code 2 "show of a pool number it does not have" "$I" show "$pid-7"

# ---- file ---------------------------------------------------------------------------------------
"$T" --npy "$work" || bad "inspect-target --npy"
code 0 "file on a good .npy" "$I" file "$work/good.npy"
check "file says int32, (3, 4), Fortran order" sh -c \
	"grep -q 'int32' '$work/out' && grep -q '(3, 4)' '$work/out' && grep -q 'Fortran' '$work/out'"
if [ $have_py = yes ]; then
	"$I" file --json "$work/good.npy" > "$work/npy.json"
	check "file --json" py "$work/npy.json" "$work/good.npy" <<'EOF'
import json, os, sys
f = json.load(open(sys.argv[1]))
assert f["dtype"] == "int32" and f["descr"] == "<i4" and f["shape"] == [3, 4], f
assert f["order"] == "F" and f["fortran_order"] and f["version"] == "1.0", f
assert f["data_offset"] % 64 == 0 and f["data_bytes"] == 48 and f["items"] == 12, f
assert f["file_bytes"] == os.path.getsize(sys.argv[2]) == f["data_offset"] + 48, f
EOF
fi
size=$(wc -c < "$work/good.npy")
head -c 20 "$work/good.npy" > "$work/cut-header.npy"
head -c $((size - 4)) "$work/good.npy" > "$work/cut-data.npy"
echo "not a numpy file at all" > "$work/text.npy"
sed 's/<i4/<q9/' "$work/good.npy" > "$work/bad-descr.npy"
code 4 "file on a header cut short" "$I" file "$work/cut-header.npy"
code 4 "file on data cut short" "$I" file "$work/cut-data.npy"
check "  ...says how short" grep -q "bytes" "$work/err"
code 4 "file on a text file" "$I" file "$work/text.npy"
check "  ...says why" grep -q "not a valid .npy file" "$work/err"
code 4 "file on a bad descr" "$I" file "$work/bad-descr.npy"
code 4 "file on no file" "$I" file "$work/none.npy"
code 4 "file on a folder" "$I" file "$work"

# ---- trace ----------------------------------------------------------------------------------------
if [ -x "$top/examples/matmul" ]; then
	mkdir "$work/trace"
	JOBPOOL_TRACE="$work/trace/t-%p-%n.json" "$top/examples/matmul" --small > /dev/null 2>&1 ||
		bad "examples/matmul --small with JOBPOOL_TRACE"
	n=0; valid=0
	for f in "$work"/trace/*.json; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		if [ $have_py = yes ]; then
			python3 -m json.tool "$f" > /dev/null && valid=$((valid + 1))
		fi
	done
	check "matmul --small left a trace per pool" test "$n" -gt 0
	[ $have_py = yes ] && check "every trace is valid JSON (python3 -m json.tool)" test "$valid" -eq "$n"
	big=$(ls -S "$work"/trace/*.json | head -n 1)
	if [ $have_py = yes ]; then
		check "the trace has what Perfetto needs" py "$big" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
ev = t["traceEvents"]
x = [e for e in ev if e["ph"] == "X"]
assert x, "no complete event"
for e in x:
    for k in ("name", "ph", "ts", "dur", "pid", "tid", "args"):
        assert k in e, (k, e)
    assert e["dur"] >= 0 and isinstance(e["tid"], int)
b = [e for e in x if e.get("cat") == "batch"]
assert b and all(e["args"]["count"] >= 1 for e in b)
assert any(e["ph"] == "M" and e["name"] == "thread_name" for e in ev)
assert t["otherData"]["master_pid"] == x[0]["pid"]
EOF
	fi
	code 0 "trace summarises it" "$I" trace "$big"
	# a line for every worker that ran a batch (which workers do is the
	# scheduler's choice: one may run none)
	if [ $have_py = yes ]; then
		tids=$(python3 -c 'import json, sys
t = json.load(open(sys.argv[1]))
print(" ".join(str(k) for k in sorted({e["tid"] for e in t["traceEvents"] if e.get("cat") == "batch"})))' "$big")
		listed=yes
		for k in $tids; do
			grep -q "^worker $k (pid" "$work/out" || listed=no
		done
		check "trace gives each worker's utilisation" test -n "$tids" -a "$listed" = yes
	else
		check "trace gives each worker's utilisation" grep -q "^worker [0-9]* (pid" "$work/out"
	fi
	check "trace lists the longest batches" grep -q "^longest batches" "$work/out"
	check "trace lists the idle gaps" grep -q "^largest idle gaps" "$work/out"
	printf '{"traceEvents": [' > "$work/trace/cut.json"
	code 4 "trace on a file cut short" "$I" trace "$work/trace/cut.json"
	code 4 "trace on a .npy file" "$I" trace "$work/good.npy"
else
	echo "SKIP: trace (examples/matmul not built)"
fi

# ---- cache -------------------------------------------------------------------------------------------
if "$T" --cache "$work/cache"; then
	code 0 "cache on a result cache" "$I" cache "$work/cache"
	check "cache counts 5 entries" grep -q "^cache $work/cache: 5 entries" "$work/out"
	check "cache lists cached_block version 7 three times" \
		test "$(grep -c ' cached_block  *7 ' "$work/out")" -eq 3
	check "cache totals per task" grep -q "^quick  *2 " "$work/out"
	"$I" cache --json "$work/cache" > "$work/cache.json"
	check "cache --json" py "$work/cache.json" "$work/cache" <<'EOF'
import json, os, sys
d = json.load(open(sys.argv[1]))
assert d["dir"] == sys.argv[2], d["dir"]
e = d["entries"]
assert len(e) == 5, e
assert [x["last_used"] for x in e] == sorted((x["last_used"] for x in e), reverse=True)
blocks = [x for x in e if x["task"] == "cached_block"]
# used in the order 1000, 2000, 3000 bytes: the most recent first
assert [x["payload_bytes"] for x in blocks] == [3000, 2000, 1000], blocks
assert all(x["version"] == 7 and x["ok"] and x["problem"] is None for x in blocks)
assert all(x["version"] == 0 for x in e if x["task"] == "quick")
for x in e:
    p = os.path.join(sys.argv[2], x["key"] + ".jpc")
    assert os.path.getsize(p) == x["bytes"], x
t = d["totals"]
assert t["entries"] == 5 and t["bad_entries"] == 0 and t["temporary_files"] == 0, t
assert t["bytes"] == sum(x["bytes"] for x in e), t
assert t["payload_bytes"] == 6000, t
assert {k["task"]: k["entries"] for k in t["tasks"]} == {"cached_block": 3, "quick": 2}, t
EOF
	# a cut entry is listed with its problem; a store's leftover is counted
	cut=$(ls "$work/cache"/*.jpc | head -n 1)
	truncate -s 50 "$cut"
	: > "$work/cache/.jpc-tmp-0123456789abcdef"
	code 0 "cache with a cut entry" "$I" cache "$work/cache"
	check "cache says one entry is unreadable" grep -q "1 unreadable" "$work/out"
	check "cache names the problem" grep -q "not a cache entry" "$work/out"
	check "cache counts the temporary file" grep -q "1 temporary file" "$work/out"
	"$I" cache --json "$work/cache" > "$work/cache.json"
	check "cache --json marks the cut entry" py "$work/cache.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
bad = [x for x in d["entries"] if not x["ok"]]
assert len(bad) == 1 and bad[0]["task"] is None and "not a cache entry" in bad[0]["problem"], bad
assert d["totals"]["bad_entries"] == 1 and d["totals"]["temporary_files"] == 1, d["totals"]
EOF
	code 2 "cache on a missing folder" "$I" cache "$work/no-such-cache"
	code 4 "cache on a file" "$I" cache "$cut"
	code 1 "cache without a folder" "$I" cache
	rm -rf "$work/cache"
else
	bad "inspect-target --cache failed"
fi

# ---- the live pool ends; nothing is left ------------------------------------------------------------
touch "$work/stop"
wait_line a CLOSED || bad "the busy pool never closed"
exec 3>&-
wait "$pid" 2>/dev/null
check "the closed pool's page is gone" test ! -e "$JOBPOOL_STATUS_DIR/$pid-1"
check "the closed pool's folder is gone" test ! -e "$folder_a"
code 0 "list with no pool" "$I" list
check "list says there is none" grep -q "^no pool" "$work/out"
left=
i=0
while [ $i -lt 50 ]; do
	left=$(grep -l "JPT_INSPECT_MARK=$mark" /proc/[0-9]*/environ 2>/dev/null)
	[ -z "$left" ] && break
	sleep 0.1; i=$((i + 1))
done
check "no process left behind" test -z "$left"
check "no folder left in the temp folder" test -z "$(ls -A "$work/temp")"
check "the status folder went with its last page" test ! -e "$JOBPOOL_STATUS_DIR"
rm -rf "$work"
echo "$fails failed"
[ "$fails" -eq 0 ]
