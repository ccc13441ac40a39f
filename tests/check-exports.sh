#!/bin/sh
# The shared library exports exactly the qc_ symbols in tests/exports.txt:
# nothing internal leaks into the ABI, and nothing public goes missing.
set -eu
so=${abs_top_builddir:-.}/lib/.libs/libquotachk.so
expected=${abs_top_srcdir:-.}/tests/exports.txt
got=$(nm -D --defined-only "$so" | awk '$2 == "T" || $2 == "D" || $2 == "B" { print $3 }' | sort)
if [ "$got" = "$(sort "$expected")" ]; then
	echo "ok - $(echo "$got" | wc -l) exported symbols match $expected"
	exit 0
fi
echo "FAIL - exported symbols differ from $expected:"
echo "$got" | diff "$expected" - || true
exit 1
