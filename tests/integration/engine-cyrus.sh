#!/bin/bash
# libquotachk's check engine from 8 threads at once against a real Cyrus
# (examples/engine-threads: the blocking call, as a threaded frontend
# uses it): every thread gets the same, right verdict for every address,
# with the cache on and off (coalescing then shares lookups); a check's
# own deadline answers QC_ERR_TIMEOUT before imap_timeout against a
# server that is slow for one mailbox, and the others are unaffected.
# Runs with QC_INTEGRATION=1 as root (testlib.sh); about 10 s.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=engine-cyrus
. "$QC_SERVERS/lib.sh"

PROG=$QC_BUILD/examples/engine-threads
[ -x "$PROG" ] || { echo "SKIP: $PROG not built"; exit 77; }
TMP=$(mktemp -d /tmp/qc-engine.XXXXXX) || exit 1
chmod 755 "$TMP"    # Cyrus runs as cyrus
FAKE_PID=
cleanup() {
	local rc=$?
	[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
	bash "$QC_SERVERS/cyrus.sh" stop "$TMP/cyrus" >/dev/null 2>&1
	qc_remove_tmp "$TMP" "$rc"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

qc_start_cyrus "$TMP/cyrus"
conf() { # FILE URL CACHE_TTL
	cat >"$1" <<CONF
imap_url = $2
imap_tls = none
imap_user = $CYRUS_ADMIN
imap_password_file = $CYRUS_PASSWORD_FILE
mailbox_format = user.%u
imap_timeout = 3s
imap_connections = 4
cache_ttl = $3
CONF
}
ADDRS="alice@example.test bob@example.test carol@example.test dave@example.test nosuch@example.test Bob+Tag@Example.TEST"
WANT="alice@example.test fits
bob@example.test overquota
carol@example.test noquota
dave@example.test overquota
nosuch@example.test nouser
Bob+Tag@Example.TEST overquota"
for ttl in 0 30s; do
	conf "$TMP/e.conf" "imap://127.0.0.1:$CYRUS_PORT/" "$ttl"
	out=$("$PROG" "$TMP/e.conf" 8 25 1000 $ADDRS)
	rc=$?
	expect_eq "[cache_ttl=$ttl] 8 threads agree (exit)" "$rc" 0
	expect_eq "[cache_ttl=$ttl] verdicts" "$(echo "$out" | head -n 6)" "$WANT"
	counters=$(echo "$out" | tail -n 1)
	echo "# cache_ttl=$ttl: $counters"
	expect_contains "[cache_ttl=$ttl] 1200 checks answered" "$counters" "checks=1200 "
	lookups=$(echo "$counters" | sed 's/.*lookups=\([0-9]*\).*/\1/')
	if [ "$ttl" = 0 ]; then
		[ "$lookups" -gt 0 ] && [ "$lookups" -le 1200 ] &&
			pass "[cache off] $lookups IMAP lookups for 1200 checks" ||
			fail "[cache off] lookups=$lookups"
	else
		[ "$lookups" -le 12 ] && pass "[cache on] $lookups IMAP lookups for 1200 checks" ||
			fail "[cache on] lookups=$lookups (the cache did not serve)"
	fi
done

# A server slow for one mailbox: that check's own deadline (300 ms)
# answers it; a fast mailbox is answered right in the same run.
coproc FAKE_IO { exec python3 "$QC_SERVERS/fake-imap.py" --slow-name user.slow --slow 2.5 ok; }
FAKE_PID=$FAKE_IO_PID
read -r _ fake_port <&"${FAKE_IO[0]}"
conf "$TMP/f.conf" "imap://127.0.0.1:$fake_port/" 0
start=$EPOCHREALTIME
out=$(QC_CHECK_TIMEOUT_MS=300 "$PROG" "$TMP/f.conf" 2 1 0 slow@example.test fast@example.test)
secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
expect_contains "the slow mailbox: its own deadline" "$out" "slow@example.test error QC_ERR_TIMEOUT"
expect_contains "the fast one: answered (the fake says over quota)" "$out" "fast@example.test overquota"
echo "# two threads, slow and fast mailbox, per-check timeout 300 ms: ${secs} s in all"
awk -v s="$secs" 'BEGIN { exit !(s < 2.5) }' && pass "before the server's 2.5 s and imap_timeout (3 s)" ||
	fail "took $secs s"
qc_summary
