#!/bin/bash
# quotachk-milter end to end with a real Sendmail (issue 11): a private
# Cyrus, the milter, and a private Sendmail 8.17 (tests/servers/sendmail.sh:
# unpacked from the .debs, sendmail.cf built with m4 from sendmail-cf) with
# INPUT_MAIL_FILTER(`quotachk', `S=inet:PORT@127.0.0.1, F=, T=R:30s'):
#   - one message for three recipients (roomy, full, unknown): 250 /
#     452 4.2.2 / 250 (action_nouser), the message accepted (queued) for the
#     others only, and counted once, for alice;
#   - SIZE= over the free space 452, over the whole limit 552;
#   - the milter stopped: with F= Sendmail goes on without it (250), with
#     F=T (a second Sendmail) it defers the mail (4xx).
# Accepted mail is only queued (queue-only, no queue runner): nothing is
# sent anywhere.  Runs with QC_INTEGRATION=1 as root (testlib.sh); ~10 s.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=milter-sendmail
. "$QC_SERVERS/lib.sh"

MILTER=$QC_BUILD/tools/quotachk-milter
[ -x "$MILTER" ] || { echo "SKIP: $MILTER not built (libmilter-dev)"; exit 77; }
command -v m4 >/dev/null || { echo "SKIP: m4 not installed"; exit 77; }
# sendmail.sh runs Sendmail in its own UTS and mount namespace (see there).
unshare --uts --mount true 2>/dev/null ||
	{ echo "SKIP: unshare --uts --mount not permitted here"; exit 77; }

TMP=$(mktemp -d /tmp/qc-milter-sm.XXXXXX) || exit 1
chmod 755 "$TMP"
M_PID=
SM_STOPPED=
cleanup() {
	local rc=$?
	[ -n "$M_PID" ] && kill -TERM "$M_PID" 2>/dev/null && wait "$M_PID" 2>/dev/null
	if [ -z "$SM_STOPPED" ]; then
		bash "$QC_SERVERS/sendmail.sh" stop "$TMP/sendmail" >/dev/null 2>&1
		bash "$QC_SERVERS/sendmail.sh" stop "$TMP/sendmail-ft" >/dev/null 2>&1
	fi
	bash "$QC_SERVERS/cyrus.sh" stop "$TMP/cyrus" >/dev/null 2>&1
	qc_remove_tmp "$TMP" "$rc"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

qc_start_cyrus "$TMP/cyrus"
install -o root -m 600 "$CYRUS_PASSWORD_FILE" "$TMP/imap.pass"
M_PORT=$(free_port)
cat >"$TMP/milter.conf" <<CONF
imap_url = imap://127.0.0.1:$CYRUS_PORT/
imap_tls = none
imap_user = $CYRUS_ADMIN
imap_password_file = $TMP/imap.pass
imap_timeout = 2s
action_overquota = 452 4.2.2 Mailbox full
milter_socket = inet:$M_PORT@127.0.0.1
user = nobody
log = stderr
CONF
chmod 644 "$TMP/milter.conf"
"$MILTER" -c "$TMP/milter.conf" 2>"$TMP/milter.log" &
M_PID=$!
wait_listen "$M_PORT" 10 || { cat "$TMP/milter.log"; fail "milter not listening"; exit 1; }

# Debian's python3 directly: a pyenv shim first in PATH costs seconds per
# SMTP dialogue on a loaded machine.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
start_sendmail() { # DIR [sendmail.sh options]
	local dir=$1
	shift
	bash "$QC_SERVERS/sendmail.sh" start "$dir" --milter "inet:$M_PORT@127.0.0.1" "$@" \
		>/dev/null 2>"$dir.log" || { cat "$dir.log"; return 1; }
}
# Both at once (each start takes seconds): the second, with F=T, is only
# used once the milter is stopped.
start_sendmail "$TMP/sendmail" &
s1=$!
start_sendmail "$TMP/sendmail-ft" --milter-equates "F=T, T=R:30s" &
s2=$!
wait "$s1" && wait "$s2" || { fail "Sendmail did not start"; exit 1; }
. "$TMP/sendmail/env"
smtp() { "$PY" "$QC_SERVERS/smtp-client.py" --port "$SENDMAIL_SMTP_PORT" --timeout 30 "$@"; }
line() { awk -v k="$1" -v r="${2:-}" '$1 == k && (r == "" || $2 == r) { $1 = ""; if (r != "") $2 = ""; sub(/^ +/, ""); print; exit }'; }

out=$(smtp --data alice@example.test bob@example.test nosuch@example.test)
expect_contains "Sendmail: three recipients: alice" "$(echo "$out" | line RCPT alice@example.test)" "250 "
expect_contains "Sendmail: three recipients: bob (over quota)" "$(echo "$out" | line RCPT bob@example.test)" "452 4.2.2 Mailbox full"
expect_contains "Sendmail: three recipients: nosuch (action_nouser)" "$(echo "$out" | line RCPT nosuch@example.test)" "250 "
expect_contains "Sendmail: the message is accepted for the others" "$(echo "$out" | line DATA)" "250 2.0.0"
# The queue file's recipient lines ("rRFC822; ADDR") say whom Sendmail
# took the message for.
rcpts=$(cat "$SENDMAIL_QUEUE_DIR"/qf* 2>/dev/null | sed -n 's/^rRFC822; //p' | sort | tr '\n' ' ')
expect_eq "Sendmail queued the message for alice and nosuch, not bob" "$rcpts" \
	"alice@example.test nosuch@example.test "
sleep 0.3
expect_contains "the accepted message was counted once, for alice" \
	"$(grep 'state=END-OF-MESSAGE' "$TMP/milter.log")" "recipients=2 size="
expect_contains "... on one mailbox" "$(grep 'state=END-OF-MESSAGE' "$TMP/milter.log")" "counted=1"
expect_contains "SIZE over the free space: 452" \
	"$(smtp --size 800000 alice@example.test | line RCPT alice@example.test)" "452 4.2.2"
expect_contains "SIZE over the whole limit: 552" \
	"$(smtp --size 2000000 alice@example.test | line RCPT alice@example.test)" "552 5.2.3"

# The milter stopped: F= (empty) goes on without it; F=T defers.
kill -TERM "$M_PID"
wait "$M_PID"
expect_eq "milter exit status after SIGTERM" "$?" 0
M_PID=
expect_contains "milter stopped, F=: Sendmail accepts without the filter" \
	"$(smtp bob@example.test | line RCPT bob@example.test)" "250 "
ft=$("$PY" "$QC_SERVERS/smtp-client.py" \
	--port "$(sed -n 's/^SENDMAIL_SMTP_PORT=//p' "$TMP/sendmail-ft/env")" \
	--timeout 30 bob@example.test 2>&1)
expect_contains "milter stopped, F=T: Sendmail defers the mail" "$(echo "$ft" | line MAIL)" "451 4.3.2"

bash "$QC_SERVERS/sendmail.sh" stop "$TMP/sendmail" >/dev/null 2>&1 &&
	bash "$QC_SERVERS/sendmail.sh" stop "$TMP/sendmail-ft" >/dev/null 2>&1 &&
	SM_STOPPED=1 && pass "both Sendmails stopped" || fail "a Sendmail did not stop"
bad=$(grep -E 'Sanitizer|runtime error|panic|fatal' "$TMP/milter.log" | head -3)
[ -z "$bad" ] && pass "no sanitizer report, panic or fatal in the milter log" || fail "milter log: $bad"
qc_summary
