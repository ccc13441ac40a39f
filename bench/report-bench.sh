#!/bin/bash
# report-bench.sh - quotachk-report over 10,000 mailboxes on a private
# loopback Cyrus, next to the raw GETQUOTAROOT ceiling of the same server
# in the same run.  Target: the whole report in <= 10 s.
#
# Usage: bench/report-bench.sh [BUILD_DIR]   (env: USERS=10000 ROUNDS=3)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top}
users=${USERS:-10000}
rounds=${ROUNDS:-3}

dir=$(mktemp -d /tmp/qc-rbench.XXXXXX)
trap 'bash "$top/tests/servers/cyrus.sh" stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
t0=$(date +%s.%N)
bash "$top/tests/servers/cyrus.sh" start "$dir" --users "$users" >/dev/null 2>&1
echo "fixture: $users mailboxes created in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
. "$dir/env"
opts=(--imap_url="imap://127.0.0.1:$CYRUS_PORT/" --imap_tls=none
	--imap_user="$CYRUS_ADMIN" --imap_password_file="$CYRUS_PASSWORD_FILE")
for i in $(seq 1 "$users"); do printf 'user%suser%04d\n' "$CYRUS_SEP" "$i"; done >"$dir/mboxes"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for r in $(seq 1 "$rounds"); do
	"$build/bench/raw-ceiling" 127.0.0.1 "$CYRUS_PORT" "$CYRUS_ADMIN" \
		"$CYRUS_PASSWORD_FILE" 1 <"$dir/mboxes" >"$dir/raw.out"
	# Every mailbox exists: a NO would mean the ceiling measured errors.
	grep -q ' no=0$' "$dir/raw.out" || { echo "raw ceiling got NO answers: $(cat "$dir/raw.out")" >&2; exit 1; }
	sed -n 's/.*rate=\([0-9]*\).*/\1/p' "$dir/raw.out" >>"$dir/raw"
	s=$(date +%s.%N)
	"$build/tools/quotachk-report" "${opts[@]}" --output="$dir/report.json"
	e=$(date +%s.%N)
	awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f\n", b - a }' >>"$dir/secs"
done
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["mailboxes"]))' "$dir/report.json")
secs=$(median <"$dir/secs"); raw=$(median <"$dir/raw")
rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
printf '%-34s %10s\n' "mailboxes in the report" "$n"
printf '%-34s %10s\n' "report wall time (median, s)" "$secs"
printf '%-34s %10s\n' "report mailboxes/s" "$rate"
printf '%-34s %10s\n' "raw GETQUOTAROOT ceiling /s" "$raw"
printf '%-34s %10s\n' "ratio" "$(awk -v a="$rate" -v b="$raw" 'BEGIN { printf "%.2f", a / b }')"
echo "(medians of $rounds rounds; target: <= 10 s for 10,000 mailboxes)"
