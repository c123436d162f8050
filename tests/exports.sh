#!/bin/sh
# The shared library exports the public API (jp_*) and nothing else.
lib=$(ls "${top_builddir:-.}"/lib/.libs/libjobpool.so.* 2>/dev/null | head -n 1)
[ -n "$lib" ] || { echo "SKIP: no shared library built"; exit 77; }
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}' | grep -v '^jp_' || true)
if [ -n "$bad" ]; then
	echo "FAIL: exported symbols outside jp_*:"; echo "$bad"; exit 1
fi
n=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/' | grep -c ' jp_')
echo "PASS: $n symbols exported, all jp_*"
