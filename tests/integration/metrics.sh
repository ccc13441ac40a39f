#!/bin/bash
# Prometheus metrics (stats_listen, issue 12.3) from quotachk-policyd and
# quotachk-milter against a private Cyrus:
#   - policyd, stats_listen on inet: a known set of requests (fits twice,
#     the second from the cache, overquota, nouser, an address that names
#     no mailbox, a domain not checked) and exactly those counts in
#     /metrics; promtool check metrics accepts it; Content-Type; 404,
#     405, HEAD; SIGUSR1 still logs its stats line;
#   - hostile clients (silent, slowloris, 1 MiB headers, more connections
#     than the endpoint serves) for a few seconds: /metrics and policy
#     answers still come at once, the daemon's descriptors stay bounded;
#   - quotachk-milter through miltertest: its decisions counted, promtool;
#   - Cyrus stopped: the error counted by kind, the backoff gauge at 1;
#   - a reload that changes stats_listen warns; a bad value is refused;
#     stats_listen on a unix socket gets listen_mode; spawn mode ignores
#     it (with a warning) and still answers.
# Runs with QC_INTEGRATION=1 as root (testlib.sh); about 20 s.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=metrics
. "$QC_SERVERS/lib.sh"

POLICYD=$QC_BUILD/tools/quotachk-policyd
MILTER=$QC_BUILD/tools/quotachk-milter
CLIENT="python3 $(dirname "$0")/metrics.py"
[ -x "$POLICYD" ] || { echo "SKIP: $POLICYD not built"; exit 77; }
PROMTOOL=$(bash "$QC_SERVERS/install-deps.sh" --print-promtool) ||
	{ fail "no promtool (tests/servers/install-deps.sh --print-promtool)"; exit 1; }
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }

TMP=$(mktemp -d /tmp/qc-metrics.XXXXXX) || exit 1
chmod 755 "$TMP"
PD_PID=
M_PID=
HOSTILE_PID=
cleanup() {
	local rc=$?
	for pid in $HOSTILE_PID $PD_PID $M_PID; do kill -TERM "$pid" 2>/dev/null; done
	for pid in $HOSTILE_PID $PD_PID $M_PID; do wait "$pid" 2>/dev/null; done
	bash "$QC_SERVERS/cyrus.sh" stop "$TMP/cyrus" >/dev/null 2>&1
	qc_remove_tmp "$TMP" "$rc"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

qc_start_cyrus "$TMP/cyrus"
install -o root -m 600 "$CYRUS_PASSWORD_FILE" "$TMP/imap.pass"
P_PORT=$(free_port)
S_PORT=$(free_port "$P_PORT")
write_conf() { # FILE STATS_LISTEN [EXTRA LINE]
	cat >"$1" <<CONF
imap_url = imap://127.0.0.1:$CYRUS_PORT/
imap_tls = none
imap_user = $CYRUS_ADMIN
imap_password_file = $TMP/imap.pass
mailbox_format = user.%u
imap_timeout = 2s
domains = example.test
listen = inet:127.0.0.1:$P_PORT
stats_listen = $2
listen_mode = 0640
user = nobody
log = stderr
${3:-}
CONF
	chmod 644 "$1"
}

# scrape ADDR: GET /metrics into $TMP/scrape (headers) and $TMP/body.
scrape() {
	$CLIENT get "$1" >"$TMP/response"
	sed '/^$/q' "$TMP/response" >"$TMP/scrape"
	sed '1,/^$/d' "$TMP/response" >"$TMP/body"
}
# metric SAMPLE: its value in $TMP/body, or MISSING.
metric() {
	awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print "MISSING" }' "$TMP/body"
}
expect_metric() { # SAMPLE VALUE [WHAT]
	expect_eq "${3:-}${3:+: }$1" "$(metric "$1")" "$2"
}
promtool_ok() { # WHAT
	if out=$("$PROMTOOL" check metrics <"$TMP/body" 2>&1); then
		pass "$1: promtool check metrics accepts it"
	else
		fail "$1: promtool check metrics: $out"
	fi
}
D='quotachk_decisions_total'

# ---- quotachk-policyd, stats_listen on inet ----
write_conf "$TMP/pd.conf" "inet:127.0.0.1:$S_PORT"
"$POLICYD" -c "$TMP/pd.conf" 2>"$TMP/pd.log" &
PD_PID=$!
wait_listen "$S_PORT" 10 && wait_listen "$P_PORT" 10 ||
	{ cat "$TMP/pd.log"; fail "policyd not listening"; exit 1; }
port_owned_by "$S_PORT" "$PD_PID" && pass "stats_listen is the daemon's socket" ||
	fail "another process owns port $S_PORT"

answers=$($CLIENT policy "inet:$P_PORT" alice@example.test bob@example.test \
	nosuch@example.test alice@example.test @example.test x@other.test 2>/dev/null | tr '\n' '|')
expect_eq "policy answers" "$answers" \
	"action=DUNNO|action=452 4.2.2 Mailbox full|action=DUNNO|action=DUNNO|action=DUNNO|action=DUNNO|"
# The daemon notices the client's close in its next pass.
for _ in $(seq 20); do
	scrape "inet:$S_PORT"
	[ "$(metric quotachk_client_connections)" = 0 ] && break
	sleep 0.1
done
expect_eq "status line" "$(head -n 1 "$TMP/scrape")" "HTTP/1.0 200 OK"
expect_contains "headers" "$(cat "$TMP/scrape")" "Content-Type: text/plain; version=0.0.4"
promtool_ok policyd
expect_metric "$D{verdict=\"fits\",action=\"fits\"}" 2
expect_metric "$D{verdict=\"overquota\",action=\"overquota\"}" 1
expect_metric "$D{verdict=\"nouser\",action=\"nouser\"}" 1
expect_metric "$D{verdict=\"notchecked\",action=\"fits\"}" 1
expect_metric "$D{verdict=\"error\",action=\"nouser\"}" 1
expect_metric "$D{verdict=\"error\",action=\"error\"}" 0
expect_metric 'quotachk_decision_errors_total{kind="QC_ERR_ADDRESS"}' 1
expect_metric 'quotachk_decision_errors_total{kind="QC_ERR_CONNECT"}' 0
expect_metric quotachk_cache_hits_total 1
expect_metric quotachk_cache_misses_total 3
expect_metric quotachk_imap_lookups_total 3
expect_metric quotachk_imap_errors_total 0
expect_metric quotachk_checks_total 6
expect_metric quotachk_cache_entries 3
expect_metric quotachk_backoff 0
expect_metric quotachk_pending_checks 0
expect_metric quotachk_client_connections 0
expect_metric quotachk_client_connections_total 1
expect_metric quotachk_decision_duration_seconds_count 6
expect_metric 'quotachk_decision_duration_seconds_bucket{le="+Inf"}' 6
expect_metric 'quotachk_info{program="quotachk-policyd",version="0.1.0"}' 1
expect_not_contains "no secret in /metrics" "$(cat "$TMP/body")" "$(cat "$TMP/imap.pass")"

expect_eq "GET /other" "$($CLIENT get "inet:$S_PORT" /other | head -n 1)" "HTTP/1.0 404 Not Found"
expect_eq "POST /metrics" "$($CLIENT get "inet:$S_PORT" /metrics POST | head -n 1)" "HTTP/1.0 405 Method Not Allowed"
head_out=$($CLIENT get "inet:$S_PORT" /metrics HEAD)
expect_eq "HEAD /metrics: headers, no body" "$(echo "$head_out" | head -n 1)|$(echo "$head_out" | sed '1,/^$/d' | wc -c)" "HTTP/1.0 200 OK|0"
expect_eq "garbage request" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 -X 'BAD REQUEST' "http://127.0.0.1:$S_PORT/metrics")" "400"

kill -USR1 "$PD_PID"
for _ in $(seq 20); do grep -q 'stats: uptime=' "$TMP/pd.log" && break; sleep 0.1; done
expect_contains "SIGUSR1 still logs the stats line" "$(grep 'stats: uptime=' "$TMP/pd.log")" "requests=6 fits=2"

# ---- hostile clients on the stats socket ----
fds0=$(ls "/proc/$PD_PID/fd" | wc -l)
$CLIENT hostile "inet:$S_PORT" 4 >"$TMP/hostile.out" 2>&1 &
HOSTILE_PID=$!
for _ in $(seq 200); do grep -q ready "$TMP/hostile.out" && break; sleep 0.1; done
grep -q ready "$TMP/hostile.out" || fail "the hostile clients did not start"
sleep 0.5
got=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 3 "http://127.0.0.1:$S_PORT/metrics")
awk -v t="${got#* }" 'BEGIN { exit !(t < 2) }' && [ "${got% *}" = 200 ] &&
	pass "under attack: /metrics answered in ${got#* } s" || fail "under attack: /metrics: $got"
answer=$($CLIENT policy "inet:$P_PORT" alice@example.test 2>"$TMP/time")
secs=$(sed -n 's/^seconds=//p' "$TMP/time")
expect_eq "under attack: a policy request answered" "$answer" "action=DUNNO"
# Generous for a loaded machine: a blocked daemon would take seconds
# (each hostile client holds on for STATS_HTTP_TIMEOUT_MS, 5 s).
awk -v s="$secs" 'BEGIN { exit !(s != "" && s < 2) }' && pass "... in $secs s" || fail "policy answer took '$secs' s"
fds=$(ls "/proc/$PD_PID/fd" | wc -l)
[ "$fds" -le $((fds0 + 17)) ] && pass "under attack: $fds descriptors (before: $fds0; at most 16 HTTP clients)" ||
	fail "under attack: $fds descriptors, $fds0 before"
wait "$HOSTILE_PID"
HOSTILE_PID=
echo "# $(tail -n 1 "$TMP/hostile.out")"
sleep 0.5
kill -0 "$PD_PID" 2>/dev/null && pass "daemon survived the hostile clients" || fail "daemon died"
expect_eq "descriptors after the attack" "$(ls "/proc/$PD_PID/fd" | wc -l)" "$fds0"
scrape "inet:$S_PORT"
expect_metric "$D{verdict=\"fits\",action=\"fits\"}" 3 "after the attack"

# ---- quotachk-milter ----
if [ -x "$MILTER" ] && command -v miltertest >/dev/null; then
	M_PORT=$(free_port "$P_PORT" "$S_PORT")
	MS_PORT=$(free_port "$P_PORT" "$S_PORT" "$M_PORT")
	write_conf "$TMP/m.conf" "inet:127.0.0.1:$MS_PORT" "milter_socket = inet:$M_PORT@127.0.0.1"
	"$MILTER" -c "$TMP/m.conf" 2>"$TMP/m.log" &
	M_PID=$!
	wait_listen "$MS_PORT" 10 && wait_listen "$M_PORT" 10 ||
		{ cat "$TMP/m.log"; fail "milter not listening"; exit 1; }
	if miltertest -D port="$M_PORT" -s "$(dirname "$0")/metrics.lua" >"$TMP/miltertest.out" 2>&1; then
		pass "miltertest: $(grep -c '^ok - ' "$TMP/miltertest.out") steps"
	else
		fail "miltertest: $(tail -n 3 "$TMP/miltertest.out")"
	fi
	for _ in $(seq 20); do
		scrape "inet:$MS_PORT"
		[ "$(metric quotachk_client_connections)" = 0 ] && break
		sleep 0.1
	done
	promtool_ok milter
	expect_metric 'quotachk_info{program="quotachk-milter",version="0.1.0"}' 1 milter
	expect_metric "$D{verdict=\"fits\",action=\"fits\"}" 1 milter
	expect_metric "$D{verdict=\"overquota\",action=\"overquota\"}" 1 milter
	expect_metric "$D{verdict=\"nouser\",action=\"nouser\"}" 1 milter
	expect_metric "$D{verdict=\"error\",action=\"nouser\"}" 1 milter
	expect_metric "$D{verdict=\"toolarge\",action=\"toolarge\"}" 1 milter
	expect_metric "$D{verdict=\"noquota\",action=\"fits\"}" 1 milter
	expect_metric 'quotachk_decision_errors_total{kind="QC_ERR_ADDRESS"}' 1 milter
	expect_metric quotachk_decision_duration_seconds_count 6 milter
	expect_metric quotachk_client_connections_total 1 milter
	expect_metric quotachk_client_connections 0 milter
	expect_metric quotachk_messages_counted_total 1 milter
	expect_metric quotachk_imap_lookups_total 4 milter
	expect_metric quotachk_cache_hits_total 1 milter
	kill -USR1 "$M_PID"
	for _ in $(seq 20); do grep -q 'stats: checks=' "$TMP/m.log" && break; sleep 0.1; done
	expect_contains "milter: SIGUSR1 still logs the stats line" "$(cat "$TMP/m.log")" "stats: checks=6 "
	kill -TERM "$M_PID"
	wait "$M_PID"
	expect_eq "milter exit status after SIGTERM" "$?" 0
	M_PID=
else
	echo "# quotachk-milter or miltertest missing: milter part not run"
fi

# ---- Cyrus stopped: errors by kind, backoff ----
bash "$QC_SERVERS/cyrus.sh" stop "$TMP/cyrus" >/dev/null 2>&1
$CLIENT policy "inet:$P_PORT" carol@example.test then-get "inet:$S_PORT" >"$TMP/response" 2>/dev/null
expect_eq "Cyrus stopped: action_error" "$(head -n 1 "$TMP/response")" "action=DUNNO"
sed '1,/^$/d' "$TMP/response" >"$TMP/body"
expect_metric "$D{verdict=\"error\",action=\"error\"}" 1 "Cyrus stopped"
expect_metric 'quotachk_decision_errors_total{kind="QC_ERR_CONNECT"}' 1 "Cyrus stopped"
expect_metric quotachk_imap_errors_total 1 "Cyrus stopped"
expect_metric quotachk_backoff 1 "Cyrus stopped"
promtool_ok "Cyrus stopped"
cp "$TMP/body" "$TMP/sample"

# ---- reload, a bad value, a unix socket ----
write_conf "$TMP/pd.conf" "inet:127.0.0.1:$(free_port "$P_PORT" "$S_PORT")"
kill -HUP "$PD_PID"
for _ in $(seq 30); do grep -q 'configuration reloaded' "$TMP/pd.log" && break; sleep 0.1; done
expect_contains "reload: a changed stats_listen takes a restart" "$(cat "$TMP/pd.log")" \
	"reload: stats_listen changed; it takes a restart"
scrape "inet:$S_PORT"
expect_eq "reload: still served on the old socket" "$(head -n 1 "$TMP/scrape")" "HTTP/1.0 200 OK"
kill -TERM "$PD_PID"
wait "$PD_PID"
expect_eq "policyd exit status after SIGTERM" "$?" 0
PD_PID=

"$POLICYD" -c "$TMP/pd.conf" --stats-listen=tcp:127.0.0.1:1 2>"$TMP/bad.log"
expect_eq "stats_listen = tcp:...: configuration error" "$?" 78
expect_contains "... naming the key" "$(cat "$TMP/bad.log")" "stats_listen"

# spawn(8) mode: one process per Postfix client; they cannot all bind it.
spawn_out=$(printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=x@other.test\nsize=0\n\n' |
	"$POLICYD" -c "$TMP/pd.conf" --listen= --stats-listen="inet:127.0.0.1:$S_PORT" 2>"$TMP/spawn.log")
expect_eq "spawn mode with stats_listen: still answers" "$(echo "$spawn_out" | head -n 1)" "action=DUNNO"
expect_contains "... and says stats_listen is ignored" "$(cat "$TMP/spawn.log")" "stats_listen is ignored"

"$POLICYD" -c "$TMP/pd.conf" --stats-listen="unix:$TMP/stats.sock" 2>"$TMP/pd-unix.log" &
PD_PID=$!
for _ in $(seq 100); do [ -S "$TMP/stats.sock" ] && break; sleep 0.05; done
expect_eq "unix stats socket mode (listen_mode)" "$(stat -c %a "$TMP/stats.sock" 2>&1)" 640
scrape "unix:$TMP/stats.sock"
expect_eq "unix: status line" "$(head -n 1 "$TMP/scrape")" "HTTP/1.0 200 OK"
promtool_ok unix
expect_eq "unix: curl --unix-socket" \
	"$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 --unix-socket "$TMP/stats.sock" http://localhost/metrics)" 200
kill -TERM "$PD_PID"
wait "$PD_PID"
PD_PID=
bad=$(cat "$TMP/pd.log" "$TMP/pd-unix.log" "$TMP/m.log" 2>/dev/null |
	grep -E 'Sanitizer|runtime error|panic|fatal' | head -3)
[ -z "$bad" ] && pass "no sanitizer report, panic or fatal in the logs" || fail "logs: $bad"
echo "# one scrape (policyd, Cyrus stopped):"
sed 's/^/#   /' "$TMP/sample" | grep -v '^#   #' | head -n 80
qc_summary
