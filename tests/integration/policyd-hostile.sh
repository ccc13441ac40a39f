#!/bin/bash
# Hostile Postfix-side clients (issue 5, item 4): quotachk-policyd stays up,
# keeps serving a well-behaved client right, and closes each offender with
# a warning that names it.
#
# One daemon (standalone, inet on loopback, log to a file) in front of a
# private Cyrus.  A good client asks for alice (DUNNO) and bob
# (452 4.2.2) on one connection, over and over, for the whole test, while
# tests/integration/policyd-hostile.py plays, one after the other or side
# by side:
#   nonl           10 MiB without a newline
#   attrs          one request with 10,000 attributes
#   nul            a good request, one with a NUL byte, another good one
#   slowloris      a request at one byte per second
#   halfopen-idle  half a request, then silence
#   halfopen-shut  half a request, then shutdown(SHUT_WR)
#   noread         millions of pipelined requests, answers never read
#   specials       recipients with every IMAP-special character, 8-bit and
#                  UTF-8 bytes, very long local parts, empty: one sane
#                  answer each and nothing else
#   bursts         pipelined bursts of mixed answers in one write, ending
#                  exactly on the output buffer's sizes
#   flood          100 connections more than max_clients allows
# Checked: the daemon keeps its PID; the good client's answers are all
# right and prompt; each offender is closed (or, beyond max_clients, never
# served) with a warning naming it; afterwards the open fds are back to
# where they were and RSS has not grown beyond a bound; on a sanitizer
# build (configure --enable-sanitizers) ASan/LSan/UBSan report nothing.
#
# Runs with QC_INTEGRATION=1 as root (testlib.sh); about 15 s.
# QC_KEEP=1 keeps the temporary directory (daemon log, client outputs).
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=policyd-hostile
. "$QC_SERVERS/lib.sh"

POLICYD=$QC_BUILD/tools/quotachk-policyd
HOSTILE=$QC_TOP/tests/integration/policyd-hostile.py
[ -x "$POLICYD" ] || { echo "SKIP: $POLICYD not built"; exit 77; }
[ -x /usr/lib/cyrus/bin/master ] || { echo "SKIP: Cyrus not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }

IDLE_S=2                # client_idle_timeout: short, so the test is too
MAX_CLIENTS=50
IMAP_TIMEOUT_S=3
NOUSER="PREPEND X-Quotachk: nouser"   # action_nouser, told apart from DUNNO
RSS_GROWTH_MAX_KIB=4096

TMP=$(mktemp -d /tmp/qc-hostile.XXXXXX) || exit 1
chmod 755 "$TMP"        # the daemon runs as nobody
PD_PID=
GOOD_PID=
BG_PIDS=()

cleanup() {
	local rc=$? p
	for p in $GOOD_PID "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	if [ -n "$PD_PID" ] && kill -0 "$PD_PID" 2>/dev/null; then
		kill -TERM "$PD_PID" 2>/dev/null
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$PD_PID" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$PD_PID" 2>/dev/null
	fi
	bash "$QC_SERVERS/cyrus.sh" stop "$TMP/cyrus" >/dev/null 2>&1
	qc_remove_tmp "$TMP" "$rc"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- helpers -------------------------------------------------------------

fd_count() { ls "/proc/$PD_PID/fd" | wc -l; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$PD_PID/status"; }
# val LINE KEY: the value of KEY=... in a client's result line.
val() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# hostile NAME MODE ARGS...: run one client, keep its line in NAME.out
# and in $OUT.
hostile() {
	local name=$1
	shift
	OUT=$(timeout 60 python3 "$HOSTILE" "$1" "$PD_PORT" "${@:2}" 2>"$TMP/$name.err")
	echo "$OUT" >"$TMP/$name.out"
	echo "# $OUT"
}

# warned NAME PORT PATTERN: the log has a warning for client 127.0.0.1:PORT
# matching PATTERN.
warned() {
	local line
	line=$(grep -E "warning: client 127\.0\.0\.1:$2: $3" "$TMP/policyd.log" | head -n 1)
	if [ -n "$line" ]; then pass "$1: warning names the client (127.0.0.1:$2)"
	else fail "$1: no warning for 127.0.0.1:$2 matching /$3/ in policyd.log"; fi
}

# wait_fds N SECONDS: until the daemon has at most N fds open.
wait_fds() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ "$(fd_count)" -le "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

alive() {
	if kill -0 "$PD_PID" 2>/dev/null; then pass "daemon still running (PID $PD_PID) after $1"
	else fail "daemon died during $1"; fi
}

# ---- servers ---------------------------------------------------------------

bash "$QC_SERVERS/cyrus.sh" start "$TMP/cyrus" >/dev/null 2>"$TMP/cyrus.start.log" ||
	{ cat "$TMP/cyrus.start.log"; echo "FAIL - Cyrus did not start"; exit 1; }
. "$TMP/cyrus/env"
# Owned by the daemon's user: a reload (SIGHUP) reads it again.
install -o nobody -m 600 "$CYRUS_PASSWORD_FILE" "$TMP/imap.pass"

PD_PORT=$(free_port)
cat >"$TMP/policyd.conf" <<EOF
imap_url = imap://127.0.0.1:$CYRUS_PORT/
imap_tls = none
imap_user = $CYRUS_ADMIN
imap_password_file = $TMP/imap.pass
mailbox_format = auto
imap_timeout = ${IMAP_TIMEOUT_S}s
imap_connections = 2
# Short: lookups keep going to Cyrus while the hostile clients run.
cache_ttl = 1s
action_error = DEFER_IF_PERMIT test: lookup error
action_nouser = $NOUSER
max_clients = $MAX_CLIENTS
client_idle_timeout = ${IDLE_S}s
listen = inet:127.0.0.1:$PD_PORT
user = nobody
log = stderr
EOF
chmod 644 "$TMP/policyd.conf"

# Sanitizer reports go to files (a normal build ignores these options).
mkdir -p "$TMP/san"
chmod 777 "$TMP/san"    # written after the drop to nobody
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:log_path=$TMP/san/asan \
UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1:log_path=$TMP/san/ubsan \
	"$POLICYD" -c "$TMP/policyd.conf" 2>"$TMP/policyd.log" &
PD_PID=$!
wait_listen "$PD_PORT" 15 || { cat "$TMP/policyd.log"; echo "FAIL - daemon not listening"; exit 1; }
SANITIZED=0
grep -q libasan "/proc/$PD_PID/maps" 2>/dev/null && SANITIZED=1

# The good client, for the whole test.
python3 "$HOSTILE" good "$PD_PORT" "$TMP/good.stop" >"$TMP/good.out" 2>&1 &
GOOD_PID=$!
sleep 1
FDS_BEFORE=$(fd_count)
RSS_BEFORE=$(rss_kib)
echo "# daemon PID $PD_PID, fds $FDS_BEFORE, RSS $RSS_BEFORE KiB, sanitizers $SANITIZED"

# ---- bad input: closed at once --------------------------------------------

hostile nonl nonl 10
expect_eq "nonl: closed by the daemon" "$(val "$OUT" closed)" 1
expect_eq "nonl: no answer" "$(val "$OUT" answers)" 0
warned nonl "$(val "$OUT" port)" "line longer than 4096 bytes; disconnecting"

hostile attrs attrs 10000
expect_eq "attrs: closed by the daemon" "$(val "$OUT" closed)" 1
expect_eq "attrs: no answer" "$(val "$OUT" answers)" 0
warned attrs "$(val "$OUT" port)" "more than 100 attributes in one request; disconnecting"

hostile nul nul
expect_eq "nul: closed by the daemon" "$(val "$OUT" closed)" 1
expect_eq "nul: only the request before the NUL answered" "$(val "$OUT" answers)" 1
warned nul "$(val "$OUT" port)" "NUL byte in input; disconnecting"

hostile halfopen-shut halfopen-shut
expect_eq "halfopen-shut: closed by the daemon" "$(val "$OUT" closed)" 1
expect_eq "halfopen-shut: half a request is not answered" "$(val "$OUT" answers)" 0
warned halfopen-shut "$(val "$OUT" port)" "closed the connection in the middle of a request"
alive "bad input"

# ---- slow and stuck clients: closed after client_idle_timeout -------------
# Side by side, so the daemon has all of them at once.

timeout 60 python3 "$HOSTILE" slowloris "$PD_PORT" $((IDLE_S * 5)) >"$TMP/slowloris.out" 2>&1 &
BG_PIDS+=($!)
timeout 60 python3 "$HOSTILE" halfopen-idle "$PD_PORT" $((IDLE_S * 5)) >"$TMP/halfopen-idle.out" 2>&1 &
BG_PIDS+=($!)
timeout 60 python3 "$HOSTILE" noread "$PD_PORT" 3000000 $((IDLE_S * 8)) >"$TMP/noread.out" 2>&1 &
BG_PIDS+=($!)
sleep 1
RSS_STUCK=$(rss_kib)
wait "${BG_PIDS[@]}"
BG_PIDS=()
# The daemon looks at idle clients about once a second.
limit=$((IDLE_S + 3))
for name in slowloris halfopen-idle noread; do
	OUT=$(cat "$TMP/$name.out")
	echo "# $OUT"
	expect_eq "$name: closed by the daemon" "$(val "$OUT" closed)" 1
	secs=$(val "$OUT" secs)
	if awk -v s="${secs:-99}" -v l="$limit" 'BEGIN { exit !(s <= l) }'; then
		pass "$name: closed after $secs s (client_idle_timeout ${IDLE_S}s)"
	else
		fail "$name: closed after ${secs:-?} s, wanted <= $limit s"
	fi
done
warned slowloris "$(val "$(cat "$TMP/slowloris.out")" port)" "request not complete after [0-9]+ ms"
warned halfopen-idle "$(val "$(cat "$TMP/halfopen-idle.out")" port)" "request not complete after [0-9]+ ms"
warned noread "$(val "$(cat "$TMP/noread.out")" port)" "has not read its answers for [0-9]+ ms"
echo "# RSS while stuck clients held: $RSS_STUCK KiB"
alive "slow and stuck clients"

# ---- hostile recipients: exactly one sane answer each ------------------------
# 24 requests: two are answered action_fits (an empty recipient; alice with
# an extension "+{40+}"), the others name no mailbox (8-bit, spaces, too
# long, or unknown to Cyrus after careful quoting): action_nouser.  An
# action_error would mean the IMAP connection suffered.

hostile specials specials
expect_eq "specials: one answer per request" "$(val "$OUT" answers)" "$(val "$OUT" requests)"
expect_eq "specials: connection kept" "$(val "$OUT" closed)" 0
expect_eq "specials: answers by kind" "$(val "$OUT" kinds)" \
	"action=DUNNO:2,action=${NOUSER// /_}:22"
alive "hostile recipients"

# ---- pipelined bursts of mixed answers --------------------------------------------
# Over quota, fits, unknown and too large, each burst in one write and
# answered from the cache in one pass, sized so the answers end exactly on
# the output buffer's sizes (512, 1024, 2048) and a byte either side: an
# answer that fills the buffer to the last byte must not write past it
# (a NUL after it was a heap overflow that AddressSanitizer reports).

hostile bursts bursts "$NOUSER"
expect_eq "bursts: every answer right, in order" "$(val "$OUT" wrong)" 0
expect_eq "bursts: answers" "$(val "$OUT" requests)" 430
alive "pipelined bursts"

# ---- a flood beyond max_clients ----------------------------------------------
# The good client holds one slot; 100 more than the rest arrive at once.
# Those beyond the limit must not be served (the daemon stops accepting
# and says so), the good client must not notice, and once the flood is
# gone every one of its connections must be gone from the daemon too.
# A long client_idle_timeout for this part (SIGHUP reload), so that idle
# closes do not free slots while the flood is counted.

sed -i "s/^client_idle_timeout = .*/client_idle_timeout = 60s/" "$TMP/policyd.conf"
kill -HUP "$PD_PID"
for _ in $(seq 1 50); do
	grep -q 'reload: configuration reloaded' "$TMP/policyd.log" && break
	sleep 0.1
done
grep -q 'reload: configuration reloaded' "$TMP/policyd.log" ||
	fail "flood: reload to client_idle_timeout = 60s not seen"
hostile flood flood $((MAX_CLIENTS + 100)) 1
answered=$(val "$OUT" answered)
if [ "${answered:-999}" -le $((MAX_CLIENTS - 1)) ] && [ "${answered:-0}" -ge 1 ]; then
	pass "flood: $answered of $((MAX_CLIENTS + 100)) served (at most max_clients - 1)"
else
	fail "flood: ${answered:-?} served, wanted 1..$((MAX_CLIENTS - 1))"
fi
if grep -Eq "warning: $MAX_CLIENTS clients connected, max_clients = $MAX_CLIENTS" "$TMP/policyd.log"; then
	pass "flood: warning at max_clients"
else
	fail "flood: no max_clients warning in policyd.log"
fi
# Connections left waiting unaccepted are taken once slots free, seen
# closed, and dropped; then a newcomer is served again.
if wait_fds "$FDS_BEFORE" $((IDLE_S * 4 + 5)); then
	pass "flood: all flood connections gone (fds back to $FDS_BEFORE)"
else
	fail "flood: fds $(fd_count), wanted <= $FDS_BEFORE"
fi
hostile after-flood specials
expect_eq "after the flood: a new client is served" "$(val "$OUT" answers)" 24
alive "the flood"

# ---- the good client, fds, memory ----------------------------------------------

touch "$TMP/good.stop"
wait "$GOOD_PID"
GOOD_PID=
OUT=$(cat "$TMP/good.out")
echo "# $OUT"
expect_eq "good client: no wrong answer" "$(val "$OUT" bad)" 0
expect_eq "good client: never disconnected" "$(val "$OUT" closed)" 0
ok=$(val "$OUT" ok)
if [ "${ok:-0}" -ge 200 ]; then pass "good client: $ok right answers throughout"
else fail "good client: only ${ok:-0} answers"; fi
max_ms=$(val "$OUT" max_ms)
if awk -v m="${max_ms:-1e9}" -v t="$IMAP_TIMEOUT_S" 'BEGIN { exit !(m < t * 1000) }'; then
	pass "good client: slowest answer $max_ms ms (< imap_timeout)"
else
	fail "good client: slowest answer ${max_ms:-?} ms"
fi

# The good client's connection is gone too now: one fd less than before.
if wait_fds $((FDS_BEFORE - 1)) $((IDLE_S + 3)); then
	pass "no fd growth: $FDS_BEFORE with the good client, $(fd_count) without"
else
	fail "fd growth: $FDS_BEFORE before, $(fd_count) after"
	ls -l "/proc/$PD_PID/fd" | sed 's/^/# /'
fi
RSS_AFTER=$(rss_kib)
if [ "$SANITIZED" = 1 ]; then
	echo "# RSS check skipped on a sanitizer build ($RSS_BEFORE -> $RSS_AFTER KiB)"
elif [ "$RSS_AFTER" -le $((RSS_BEFORE + RSS_GROWTH_MAX_KIB)) ]; then
	pass "RSS bounded: $RSS_BEFORE -> $RSS_AFTER KiB (peak seen $RSS_STUCK)"
else
	fail "RSS grew: $RSS_BEFORE -> $RSS_AFTER KiB"
fi
alive "everything"

# ---- a clean stop, and no sanitizer report -------------------------------------

kill -TERM "$PD_PID"
wait "$PD_PID"
expect_eq "daemon exit status after SIGTERM" "$?" 0
PD_PID=
bad=$(grep -E 'Sanitizer|runtime error|panic|fatal' "$TMP/policyd.log" | head -n 3)
[ -z "$bad" ] && pass "no sanitizer report, panic or fatal in the daemon log" || fail "daemon log: $bad"
if compgen -G "$TMP/san/*" >/dev/null; then
	fail "sanitizer report files: $(ls "$TMP/san")"
	head -n 40 "$TMP"/san/* | sed 's/^/# /'
else
	pass "no sanitizer report files"
fi
qc_summary
