#!/bin/bash
# quotachk-policyd with two Murder frontends (imap_url = fe1, fe2) under
# load while fe1 is SIGKILLed and, 3 s later, started again:
#   - the daemon's workers spread over both frontends (worker i starts at
#     URL i mod 2: qc_client_prefer_url);
#   - during the whole run no request is unanswered, no answer is wrong
#     (action_error is not DUNNO here, so an error cannot pass for a right
#     answer), none is later than imap_timeout + 1 s;
#   - once fe1 is back the daemon uses it again, without a restart;
#   - then fe1 hung (SIGSTOP) for 4 s of load: the same checks.
# Prints "# figures [PHASE]: unanswered= wrong= max_ms= ...".
# Runs with QC_INTEGRATION=1 as root; about 25 s.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=murder-failover
. "$QC_SERVERS/lib.sh"
TMP=$(mktemp -d /tmp/qc-it-murder-fo.XXXXXX) || exit 1
chmod 755 "$TMP"
. "$(dirname "$0")/murderlib.sh"
for f in "$POLICYD" "$LOAD"; do
	[ -x "$f" ] || { echo "SKIP: $f not built"; exit 77; }
done
trap murder_cleanup EXIT
trap 'exit 1' INT TERM

t0=$(qc_now)
murder_start
daemon_start "$FE1, $FE2"

# Warm-up: every worker connected; both frontends carry some.
"$LOAD" -p "$PD_PORT" -c 16 -w 4 -d 1 -f "$TMP/rcpts" >"$TMP/warmup.load" 2>&1
expect_eq "warm-up: wrong answers" "$(field wrong "$TMP/warmup.load")" 0
n1=$(conns_to "$MURDER_FE1_PORT") n2=$(conns_to "$MURDER_FE2_PORT")
expect_eq "workers spread over the frontends (fe1 fe2 connections)" "$n1 $n2" "2 2"

# The load runs 12 s: fe1 dies at 2 s and is back at 5 s.
"$LOAD" -p "$PD_PORT" -c 16 -w 4 -d 12 -L 3000 -D 10 -f "$TMP/rcpts" \
	>"$TMP/failover.load" 2>"$TMP/failover.load.err" &
load_pid=$!
sleep 2
kill -KILL $(node_pids fe1)
sleep 3
node start-node fe1 || fail "restart fe1"
back=$(qc_now)
# The workers return to fe1 when their backoff for it (1 s doubling to
# 10 s) has passed: poll while the load still runs.
returned=never
for ((i = 0; i < 120; i++)); do
	if [ "$(conns_to "$MURDER_FE1_PORT")" -gt 0 ]; then returned=$(qc_elapsed "$back"); break; fi
	sleep 0.1
done
wait "$load_pid"
# check_load NAME: the load generator's verdict on a phase, and its figures.
check_load() {
	local out=$TMP/$1.load max_us k
	for k in unanswered wrong closed late; do
		expect_eq "[$1] $k" "$(field "$k" "$out")" 0
	done
	max_us=$(field max_us "$out")
	[ -n "$max_us" ] || fail "[$1] no summary from the load generator: $(cat "$out" "$out.err")"
	echo "# figures [$1]: decisions=$(field decisions "$out") unanswered=$(field unanswered "$out")" \
		"wrong=$(field wrong "$out") max_ms=$(awk -v u="${max_us:-0}" 'BEGIN { printf "%.0f", u / 1000 }')" \
		"p99_ms=$(awk -v u="$(field p99_us "$out")" 'BEGIN { printf "%.1f", u / 1000 }')"
}
check_load failover
[ "$returned" != never ] && pass "the daemon uses fe1 again ${returned}s after its restart" ||
	fail "the daemon does not use fe1 again within 12 s of its restart"
echo "# figures: fe1_used_again_after_s=$returned"

# fe1 hung (SIGSTOP: connections accepted, nothing answered) for 4 s of an
# 8 s load: lookups on fe1 give up after half of imap_timeout and go on
# through fe2.
"$LOAD" -p "$PD_PORT" -c 16 -w 4 -d 8 -L 3000 -D 10 -f "$TMP/rcpts" \
	>"$TMP/hung.load" 2>"$TMP/hung.load.err" &
load_pid=$!
sleep 2
FROZEN=$(node_pids fe1)
kill -STOP $FROZEN
sleep 4
kill -CONT $FROZEN
FROZEN=
wait "$load_pid"
check_load hung
grep -q 'IMAP lookups fail' "$TMP/policyd.log" &&
	fail "the daemon reported failing lookups: $(grep -m3 'IMAP lookups fail' "$TMP/policyd.log")" ||
	pass "no failing lookups in the daemon log"
bad=$(grep -E 'Sanitizer|runtime error|panic|fatal' "$TMP/policyd.log" | head -3)
expect_eq "daemon log: no sanitizer report, panic or fatal" "$bad" ""
echo "# total $(qc_elapsed "$t0")s"
qc_summary
