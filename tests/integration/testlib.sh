# testlib.sh - sourced by the integration tests: assertions that count,
# and a skip unless the real servers may be started (QC_INTEGRATION=1,
# root).  Every test prints one line per check; the script fails when any
# check failed.
set -u
QC_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QC_BUILD=${QC_BUILD:-${abs_top_builddir:-$QC_TOP}}
QC_SERVERS=$QC_TOP/tests/servers
QC_PASSED=0
QC_FAILED=0

qc_require_servers() {
	if [ "${QC_INTEGRATION:-0}" != 1 ]; then
		echo "SKIP: set QC_INTEGRATION=1 to run against real servers"
		exit 77
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: starting Cyrus/Dovecot/Postfix needs root"
		exit 77
	fi
}

pass() { QC_PASSED=$((QC_PASSED + 1)); echo "ok   - $*"; }
fail() { QC_FAILED=$((QC_FAILED + 1)); echo "FAIL - $*"; }

# expect_eq WHAT GOT EXPECTED
expect_eq() {
	if [ "$2" = "$3" ]; then pass "$1 = $3"
	else fail "$1: got '$2', expected '$3'"; fi
}

# expect_contains WHAT HAYSTACK NEEDLE
expect_contains() {
	case $2 in
	*"$3"*) pass "$1 contains '$3'" ;;
	*) fail "$1: '$3' not in: $2" ;;
	esac
}

expect_not_contains() {
	case $2 in
	*"$3"*) fail "$1 must not contain '$3': $2" ;;
	*) pass "$1 does not contain '$3'" ;;
	esac
}

# json_get JSON PATH: prints the value at a dotted path ("storage.used"),
# "null" for JSON null, or MISSING; fails the check on invalid JSON.
json_get() {
	python3 -c '
import json, sys
try:
    v = json.loads(sys.argv[1])
except Exception as e:
    print("INVALID-JSON"); sys.exit(0)
for k in sys.argv[2].split("."):
    if isinstance(v, dict) and k in v: v = v[k]
    else: print("MISSING"); sys.exit(0)
print("null" if v is None else v)' "$1" "$2"
}

# qc_remove_tmp DIR [RC]: remove a test's scratch directory, but keep it
# (and say so) when QC_KEEP=1, a check failed or RC is not 0, to debug.
qc_remove_tmp() {
	if [ "${QC_KEEP:-0}" = 1 ] || [ "$QC_FAILED" -gt 0 ] || [ "${2:-0}" -ne 0 ]; then
		echo "# kept $1"
	else
		rm -rf "$1"
	fi
}

# qc_start_cyrus DIR [cyrus.sh options]: a private Cyrus in DIR, its env
# (CYRUS_PORT, CYRUS_ADMIN, CYRUS_PASSWORD_FILE, ...) sourced; on failure
# the start log is shown and the test ends.
qc_start_cyrus() {
	local dir=$1
	shift
	if ! bash "$QC_SERVERS/cyrus.sh" start "$dir" "$@" >/dev/null 2>"$dir.log"; then
		cat "$dir.log"
		fail "Cyrus did not start"
		exit 1
	fi
	. "$dir/env"
}

qc_summary() {
	echo "# passed=$QC_PASSED failed=$QC_FAILED"
	[ "$QC_FAILED" -eq 0 ]
}
