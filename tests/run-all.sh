#!/bin/bash
# run-all.sh - the README's test command: everything, from a clean
# checkout on a fresh Debian 12 machine, as root (another user: through
# sudo, which it calls itself when sudo is installed).
#
#   1. install what is missing (apt) and bootstrap autotools;
#   2. build with -Wall -Wextra -Werror and run the whole suite: unit
#      tests, export and install checks, integration tests against private
#      Cyrus, Dovecot and Postfix instances started here on loopback;
#   3. the same suite again on an AddressSanitizer + UBSan build (a leak,
#      overflow or undefined behaviour fails it);
#   4. every libFuzzer target for QC_FUZZ_SECONDS (default 60) each;
#   5. make distcheck (the tarball builds and passes its unit tests).
#
# Build trees go to _build/ and _build-asan/ (override with QC_BUILD_ROOT).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
root=${QC_BUILD_ROOT:-$top}
jobs=$(nproc 2>/dev/null || echo 2)
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

. tests/servers/need-root.sh
qc_need_root "$top/tests/run-all.sh" "$@"

step "dependencies"
bash tests/servers/install-deps.sh

step "bootstrap"
autoreconf -fi >/dev/null

export QC_INTEGRATION=1
run_suite() { # run_suite DIR CONFIGURE_ARGS...
	local dir=$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@" CFLAGS="-g -O2 -Werror" &&
		make -j"$jobs" >/dev/null &&
		make -j1 check) || {
		find "$dir/tests" -name '*.log' -newer "$dir/config.status" \
			-exec grep -l -E '^(FAIL|ERROR)|FAIL -' {} + 2>/dev/null |
			while read -r log; do echo "--- $log"; tail -n 40 "$log"; done
		return 1
	}
}

step "build and full test suite"
run_suite "$root/_build"

step "full test suite under AddressSanitizer + UBSan"
# Reports go to files as well as exit codes: Criterion runs each test in a
# child whose leak report does not change the runner's status, and some
# integration checks look at output only.  Any report file fails the run.
# The daemon drops to nobody: it must be able to write its report too,
# so the reports go to /tmp, not under a checkout nobody may not reach
# (/root is 0700 on a fresh Debian).
san_logs=$(mktemp -d /tmp/qc-sanitizer-reports.XXXXXX)
chmod 1777 "$san_logs"
ASAN_OPTIONS=detect_leaks=1:log_path=$san_logs/asan \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$san_logs/ubsan \
	run_suite "$root/_build-asan" --enable-sanitizers
if compgen -G "$san_logs/*" >/dev/null; then
	echo "sanitizer reports:" >&2
	head -n 60 "$san_logs"/* >&2
	exit 1
fi
rmdir "$san_logs"
echo "no sanitizer reports"

step "fuzzing (${QC_FUZZ_SECONDS:-60} s per target)"
QC_FUZZ_DIR=$root/_build-fuzz bash tests/fuzz/run-fuzz.sh "${QC_FUZZ_SECONDS:-60}"

step "make distcheck"
(cd "$root/_build" && QC_INTEGRATION=0 make -j"$jobs" distcheck >/dev/null)
echo "distcheck ok"

step "all tests passed"
