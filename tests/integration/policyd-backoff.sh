#!/bin/bash
# The daemon's backoff and cache against fake IMAP peers (faults a real
# server cannot be made to produce on cue), issue 8:
#   1. the server refuses connections (backoff starts), then answers
#      every query with "NO Server(s) unavailable" (a Murder frontend back
#      before its backend: the backoff probe gets that NO), then answers
#      normally: right answers again within 2 s, no restart;
#   2. one recipient's BAD, or an unreadable figure, is that recipient's
#      error only: the next recipient is asked and answered at once, no
#      backoff for everyone;
#   3. a lookup started before a reload does not put its (old) answer
#      into the cache the reload emptied.
# Runs with QC_INTEGRATION=1 as root (testlib.sh); about 15 s.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=policyd-backoff
. "$QC_SERVERS/lib.sh"

POLICYD=$QC_BUILD/tools/quotachk-policyd
FAKE=$QC_SERVERS/fake-imap.py
[ -x "$POLICYD" ] || { echo "SKIP: $POLICYD not built"; exit 77; }

TMP=$(mktemp -d /tmp/qc-backoff.XXXXXX) || exit 1
chmod 755 "$TMP"
PD_PID=
FAKES=
cleanup() {
	local rc=$?
	for pid in $PD_PID $FAKES; do kill -TERM "$pid" 2>/dev/null; done
	for pid in $PD_PID $FAKES; do wait "$pid" 2>/dev/null; done
	qc_remove_tmp "$TMP" "$rc"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ERROR_ACTION="451 4.3.0 quotachk test: lookup failed"
OVER_ACTION="452 4.2.2 Mailbox full"
echo secret >"$TMP/imap.pass"
chown nobody "$TMP/imap.pass"
chmod 600 "$TMP/imap.pass"
PD_PORT=$(free_port)

# write_conf IMAP_PORT CACHE_TTL
write_conf() {
	cat >"$TMP/policyd.conf.tmp" <<CONF
imap_url = imap://127.0.0.1:$1/
imap_tls = none
imap_user = admin
imap_password_file = $TMP/imap.pass
mailbox_format = user.%u
imap_timeout = 2s
imap_connections = 2
cache_ttl = $2
action_error = $ERROR_ACTION
listen = inet:127.0.0.1:$PD_PORT
user = nobody
log = stderr
CONF
	chmod 644 "$TMP/policyd.conf.tmp"
	mv "$TMP/policyd.conf.tmp" "$TMP/policyd.conf"
}

# start_fake PORT ARGS...: a fake peer on PORT (0: any); sets FAKE_PORT.
start_fake() {
	local port=$1 out
	shift
	python3 "$FAKE" --port "$port" --log "$TMP/fake.log" "$@" >"$TMP/fake.out" &
	FAKES="$FAKES $!"
	LAST_FAKE=$!
	for _ in $(seq 50); do
		out=$(cat "$TMP/fake.out" 2>/dev/null)
		[ -n "$out" ] && break
		sleep 0.1
	done
	FAKE_PORT=${out#ready }
}

stop_fake() {
	kill -TERM "$LAST_FAKE" 2>/dev/null
	wait "$LAST_FAKE" 2>/dev/null
}

# ask RCPT...: one answer per recipient, on one connection, in order.
ask() {
	python3 - "$PD_PORT" "$@" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
for rcpt in sys.argv[2:]:
    s.sendall(("request=smtpd_access_policy\nprotocol_state=RCPT\n"
               "recipient=%s\nsize=0\n\n" % rcpt).encode())
    buf = b""
    while b"\n\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            print("EOF"); sys.exit(0)
        buf += chunk
    print(buf.split(b"\n\n")[0].decode().replace("action=", "", 1))
PY
}

# until_answer RCPT WANT LIMIT: seconds until RCPT is answered WANT, or never.
until_answer() {
	local start=$EPOCHREALTIME got
	while :; do
		got=$(ask "$1")
		if [ "$got" = "$2" ]; then
			echo "$EPOCHREALTIME $start" | awk '{ printf "%.2f\n", $1 - $2 }'
			return 0
		fi
		if awk -v s="$start" -v n="$EPOCHREALTIME" -v l="$3" 'BEGIN { exit !(n - s > l) }'; then
			echo "never (last answer: $got)"
			return 1
		fi
		sleep 0.05
	done
}

reload() {
	local n
	n=$(grep -c 'configuration reloaded' "$TMP/policyd.log")
	kill -HUP "$PD_PID"
	for _ in $(seq 100); do
		[ "$(grep -c 'configuration reloaded' "$TMP/policyd.log")" -gt "$n" ] && return 0
		sleep 0.05
	done
	fail "reload not logged"
}

# ---- 1. refused, then NO Server(s) unavailable, then normal -------------
IMAP_PORT=$(free_port "$PD_PORT")
write_conf "$IMAP_PORT" 0
"$POLICYD" -c "$TMP/policyd.conf" 2>"$TMP/policyd.log" &
PD_PID=$!
wait_listen "$PD_PORT" 10 || { cat "$TMP/policyd.log"; fail "daemon not listening"; exit 1; }

expect_eq "[refused] answer while nothing listens" "$(ask bob@example.test)" "$ERROR_ACTION"
expect_contains "[refused] backoff started" "$(cat "$TMP/policyd.log")" "IMAP lookups fail"
start_fake "$IMAP_PORT" unavailable
sleep 1.2    # past the backoff interval: the next lookup is the probe
expect_eq "[unavailable] the probe gets NO: action_error" "$(ask bob@example.test)" "$ERROR_ACTION"
sleep 1.2
expect_eq "[unavailable] still NO: action_error" "$(ask bob@example.test)" "$ERROR_ACTION"
n=$(grep -c 'GETQUOTAROOT' "$TMP/fake.log")
[ "$n" -ge 2 ] && pass "[unavailable] the daemon kept asking the frontend ($n queries)" ||
	fail "[unavailable] the daemon stopped asking after the probe ($n queries)"
stop_fake
start_fake "$IMAP_PORT" ok
t=$(until_answer bob@example.test "$OVER_ACTION" 10)
echo "# right answer $t s after the server answered normally"
awk -v t="$t" 'BEGIN { exit !(t + 0 == t && t <= 2.0) }' &&
	pass "[normal] right answer (452) within 2 s ($t s), without a restart" ||
	fail "[normal] right answer not within 2 s: $t"
stop_fake

# ---- 2. one recipient's BAD or unreadable figure -------------------------
start_fake 0 ok --bad-name user.evil --garbled-name user.garbled
write_conf "$FAKE_PORT" 0
reload
mark=$(wc -l <"$TMP/policyd.log")
got=$(ask evil@example.test bob@example.test garbled@example.test bob@example.test)
expect_eq "[BAD] evil (BAD), bob, garbled (bad number), bob" "$(printf '%s\n' "$got" | paste -sd '|')" \
	"$ERROR_ACTION|$OVER_ACTION|$ERROR_ACTION|$OVER_ACTION"
since=$(tail -n +"$((mark + 1))" "$TMP/policyd.log")
expect_not_contains "[BAD] no backoff for one mailbox's answer" "$since" "IMAP lookups fail"
expect_contains "[BAD] the error is logged for evil" "$since" "recipient=evil@example.test"
n=$(grep -c 'connection from' "$TMP/fake.log")
echo "# connections to the fake peer: $n"
stop_fake

# ---- 3. a lookup across a reload -----------------------------------------
start_fake 0 ok --slow-name user.bob --slow 1.5
OLD_PORT=$FAKE_PORT
start_fake 0 ok --storage "0 100"
NEW_PORT=$FAKE_PORT
write_conf "$OLD_PORT" 60s
reload
asked=$(grep -c 'command GETQUOTAROOT' "$TMP/fake.log")
( ask bob@example.test >"$TMP/slow.answer" ) &
slow=$!
# The reload must come while the slow lookup is under way on the old
# server: wait for its command there (the client's start-up time varies).
for _ in $(seq 200); do
	[ "$(grep -c 'command GETQUOTAROOT' "$TMP/fake.log")" -gt "$asked" ] && break
	sleep 0.05
done
write_conf "$NEW_PORT" 60s
reload
wait "$slow"
expect_eq "[reload] the request in hand gets the old server's answer" \
	"$(cat "$TMP/slow.answer")" "$OVER_ACTION"
expect_eq "[reload] the next one is asked of the new server (old answer not cached)" \
	"$(ask bob@example.test)" "DUNNO"

kill -TERM "$PD_PID"
wait "$PD_PID"
expect_eq "daemon exit status after SIGTERM" "$?" 0
PD_PID=
bad=$(grep -E 'Sanitizer|runtime error|panic|fatal' "$TMP/policyd.log" | head -3)
[ -z "$bad" ] && pass "no sanitizer report, panic or fatal in the daemon log" || fail "daemon log: $bad"
qc_summary
