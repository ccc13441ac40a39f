#!/bin/bash
# An IMAP server that freezes mid-session (stops reading and answering,
# the TCP connection left open: SIGSTOPped, wedged) must cost a worker no
# more than imap_timeout (issue 8).  Closing that connection must not wait
# for the server: a client that sent LOGOUT on close and waited for its
# answer (libcurl's default server-response timeout is 120 s) would keep
# the worker busy long after the lookup was answered, and every lookup
# queued behind it would be answered action_error.
#
# One worker (imap_connections = 1), imap_timeout = 2s, cache off;
# tests/servers/fake-imap.py freezes the first connection at the quota
# query and behaves on later ones (every mailbox over quota there).  The
# first request gets action_error at imap_timeout; then a right answer
# (452) must come within RIGHT_MAX_S of it: the backoff (1 s) plus a new
# connection, not a wait on the frozen one.  The seconds are printed.
# Runs with QC_INTEGRATION=1 as root (testlib.sh); about 5 s.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=policyd-freeze
. "$QC_SERVERS/lib.sh"

POLICYD=$QC_BUILD/tools/quotachk-policyd
[ -x "$POLICYD" ] || { echo "SKIP: $POLICYD not built"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }

TIMEOUT_S=2
RIGHT_MAX_S=3
TMP=$(mktemp -d /tmp/qc-freeze.XXXXXX) || exit 1
chmod 755 "$TMP"
PD_PID=
FAKE_PID=

cleanup() {
	local rc=$?
	for pid in $PD_PID $FAKE_PID; do kill -TERM "$pid" 2>/dev/null; done
	for pid in $PD_PID $FAKE_PID; do wait "$pid" 2>/dev/null; done
	qc_remove_tmp "$TMP" "$rc"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

coproc FAKE_IO { exec python3 "$QC_SERVERS/fake-imap.py" --faults 1 --log "$TMP/fake.log" freeze; }
FAKE_PID=$FAKE_IO_PID
read -r _ fake_port <&"${FAKE_IO[0]}"
printf 'secret\n' >"$TMP/imap.pass"
chmod 600 "$TMP/imap.pass"
PD_PORT=$(free_port)
cat >"$TMP/policyd.conf" <<CONF
imap_url = imap://127.0.0.1:$fake_port/
imap_tls = none
imap_user = qc
imap_password_file = $TMP/imap.pass
mailbox_format = user.%u
imap_timeout = ${TIMEOUT_S}s
imap_connections = 1
cache_ttl = 0
action_error = DEFER_IF_PERMIT test: lookup error
listen = inet:127.0.0.1:$PD_PORT
user = nobody
log = stderr
CONF
chmod 644 "$TMP/policyd.conf"
"$POLICYD" -c "$TMP/policyd.conf" 2>"$TMP/policyd.log" &
PD_PID=$!
wait_listen "$PD_PORT" 10 || { fail "daemon not listening: $(cat "$TMP/policyd.log")"; qc_summary; exit 1; }

# First the frozen lookup, then the same connection asks every 50 ms
# until the answer is right; prints "FIRST_ANSWER SECONDS_TO_RIGHT".
out=$(python3 - "$PD_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
f = s.makefile("rb")
def ask(rcpt):
    s.sendall(("request=smtpd_access_policy\nprotocol_state=RCPT\n"
               "recipient=%s\nsize=0\n\n" % rcpt).encode())
    line = f.readline().decode().rstrip("\n")
    f.readline()
    return line
first = ask("alice@example.test").replace(" ", "_")
t = time.monotonic()
while time.monotonic() - t < 30:
    if ask("bob@example.test") == "action=452 4.2.2 Mailbox full":
        print(first, "%.2f" % (time.monotonic() - t))
        sys.exit(0)
    time.sleep(0.05)
print(first, "never")
PY
)
read -r first secs <<<"$out"
expect_eq "the frozen lookup is answered" "$first" "action=DEFER_IF_PERMIT_test:_lookup_error"
echo "# right answer ${secs} s after the frozen lookup's answer"
if [ "$secs" != never ] && awk -v s="$secs" -v m="$RIGHT_MAX_S" 'BEGIN { exit !(s <= m) }'; then
	pass "the worker is free again: right answer ${secs} s later (<= ${RIGHT_MAX_S} s)"
else
	fail "the worker stayed busy: right answer ${secs} s later (wanted <= ${RIGHT_MAX_S} s)"
fi
n=$(grep -c 'connection from' "$TMP/fake.log")
[ "$n" -ge 2 ] && pass "a new IMAP connection replaced the frozen one ($n connections)" ||
	fail "the fake peer saw $n connections, wanted >= 2"
qc_summary
