#!/bin/bash
# lookup-bench.sh - one libquotachk client doing sequential lookups
# against a private Cyrus with 1,000 mailboxes, next to the raw ceiling of
# the same server measured in the same run (bench/raw-ceiling: one plain
# connection, GETQUOTAROOT after GETQUOTAROOT).  Runs each measurement
# ROUNDS times, alternating, and prints medians and ratios.
#
# Usage: bench/lookup-bench.sh [BUILD_DIR]   (env: LOOKUPS=10000 ROUNDS=3)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top}
lookups=${LOOKUPS:-10000}
rounds=${ROUNDS:-3}
users=1000

dir=$(mktemp -d /tmp/qc-bench.XXXXXX)
trap 'bash "$top/tests/servers/cyrus.sh" stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
bash "$top/tests/servers/cyrus.sh" start "$dir" --users "$users" >/dev/null
. "$dir/env"

# Recipients: all existing, and a mix with every tenth one unknown.
for i in $(seq 1 $users); do printf 'user%04d@example.test\n' "$i"; done >"$dir/known.txt"
for i in $(seq 1 $users); do
	if [ $((i % 10)) -eq 0 ]; then printf 'nosuch%04d@example.test\n' "$i"
	else printf 'user%04d@example.test\n' "$i"; fi
done >"$dir/mixed.txt"
for f in known mixed; do
	sed "s/@example.test//; s/^/user${CYRUS_SEP}/" "$dir/$f.txt" >"$dir/$f.mbox"
done
repeat=$((lookups / users))
qc_opts=(--imap_url="imap://127.0.0.1:$CYRUS_PORT/" --imap_tls=none
	--imap_user="$CYRUS_ADMIN" --imap_password_file="$CYRUS_PASSWORD_FILE"
	--cache_ttl=0 --summary --repeat="$repeat")

rate() { sed -n 's/.*rate=\([0-9]*\).*/\1/p'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for set in known mixed; do
	: >"$dir/raw.$set"; : >"$dir/qc.$set"; : >"$dir/conn.$set"
	for r in $(seq 1 "$rounds"); do
		"$build/bench/raw-ceiling" 127.0.0.1 "$CYRUS_PORT" "$CYRUS_ADMIN" \
			"$CYRUS_PASSWORD_FILE" "$repeat" <"$dir/$set.mbox" | rate >>"$dir/raw.$set"
		out=$("$build/tests/qc-driver" "${qc_opts[@]}" <"$dir/$set.txt")
		echo "$out" | rate >>"$dir/qc.$set"
		echo "$out" | sed -n 's/.*connects=\([0-9]*\).*/\1/p' >>"$dir/conn.$set"
	done
done

printf '%-28s %12s %12s %7s %9s\n' "recipients ($lookups lookups)" "raw/s" "libqc/s" "ratio" "connects"
for set in known mixed; do
	raw=$(median <"$dir/raw.$set"); qc=$(median <"$dir/qc.$set")
	label=$([ $set = known ] && echo "all existing" || echo "10% unknown")
	printf '%-28s %12s %12s %7.2f %9s\n' "$label" "$raw" "$qc" \
		"$(awk -v a="$qc" -v b="$raw" 'BEGIN { print a / b }')" "$(median <"$dir/conn.$set")"
done
echo "(medians of $rounds alternating rounds; target: ratio >= 0.90)"
