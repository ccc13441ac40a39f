#!/bin/bash
# quotachk-milter end to end: a private Cyrus, the milter, and a private
# Postfix with smtpd_milters pointing at it (issue 11):
#   - one message for three recipients (roomy, full, unknown): 250 /
#     452 4.2.2 / 250 (action_nouser), the message accepted for the others
#     and counted once, for alice;
#   - SIZE= over the free space 452, over the whole limit 552;
#   - miltertest (an independent milter client) with tests/integration/
#     milter.lua, hostile recipients included;
#   - SIGHUP reloads (a new action_overquota text is used), SIGUSR1 logs
#     the counters;
#   - Cyrus stopped: mail still accepted (action_error) within imap_timeout;
#   - the milter stopped: Postfix's milter_default_action (accept) applies.
# Runs with QC_INTEGRATION=1 as root (testlib.sh); about 20 s.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=milter-postfix
. "$QC_SERVERS/lib.sh"

MILTER=$QC_BUILD/tools/quotachk-milter
[ -x "$MILTER" ] || { echo "SKIP: $MILTER not built (libmilter-dev)"; exit 77; }
[ -x /usr/sbin/postfix ] || { echo "SKIP: Postfix not installed"; exit 77; }
command -v miltertest >/dev/null || { echo "SKIP: miltertest not installed"; exit 77; }

TMP=$(mktemp -d /tmp/qc-milter.XXXXXX) || exit 1
chmod 755 "$TMP"
M_PID=
cleanup() {
	local rc=$?
	[ -n "$M_PID" ] && kill -TERM "$M_PID" 2>/dev/null && wait "$M_PID" 2>/dev/null
	bash "$QC_SERVERS/postfix.sh" stop "$TMP/postfix" >/dev/null 2>&1
	bash "$QC_SERVERS/cyrus.sh" stop "$TMP/cyrus" >/dev/null 2>&1
	qc_remove_tmp "$TMP" "$rc"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

qc_start_cyrus "$TMP/cyrus"
install -o root -m 600 "$CYRUS_PASSWORD_FILE" "$TMP/imap.pass"
M_PORT=$(free_port)
write_conf() { # OVERQUOTA_TEXT
	cat >"$TMP/milter.conf" <<CONF
imap_url = imap://127.0.0.1:$CYRUS_PORT/
imap_tls = none
imap_user = $CYRUS_ADMIN
# root:root 0600: read before the milter drops to nobody, kept for reloads
imap_password_file = $TMP/imap.pass
imap_timeout = 2s
action_overquota = $1
milter_socket = inet:$M_PORT@127.0.0.1
user = nobody
log = stderr
CONF
	chmod 644 "$TMP/milter.conf"
}
write_conf "452 4.2.2 Mailbox full"
"$MILTER" -c "$TMP/milter.conf" 2>"$TMP/milter.log" &
M_PID=$!
wait_listen "$M_PORT" 10 || { cat "$TMP/milter.log"; fail "milter not listening"; exit 1; }
uid=$(awk '/^Uid:/ { print $3 }' "/proc/$M_PID/status")
expect_eq "the milter dropped root" "$uid" "$(id -u nobody)"

# No policy service here: the milter alone decides.
bash "$QC_SERVERS/postfix.sh" start "$TMP/postfix" --policy "inet:127.0.0.1:1" \
	--set "smtpd_recipient_restrictions = reject_unauth_destination, permit" \
	--set "smtpd_milters = inet:127.0.0.1:$M_PORT" \
	--set "milter_default_action = accept" \
	--set "milter_command_timeout = 30s" >/dev/null 2>"$TMP/postfix.log" ||
	{ cat "$TMP/postfix.log"; fail "Postfix did not start"; exit 1; }
. "$TMP/postfix/env"
smtp() { python3 "$QC_SERVERS/smtp-client.py" --port "$POSTFIX_SMTP_PORT" --timeout 30 "$@"; }
line() { awk -v k="$1" -v r="${2:-}" '$1 == k && (r == "" || $2 == r) { $1 = ""; if (r != "") $2 = ""; sub(/^ +/, ""); print; exit }'; }

out=$(smtp --data alice@example.test bob@example.test nosuch@example.test)
expect_contains "three recipients: alice" "$(echo "$out" | line RCPT alice@example.test)" "250 "
expect_contains "three recipients: bob (over quota)" "$(echo "$out" | line RCPT bob@example.test)" "452 4.2.2"
expect_contains "three recipients: nosuch (action_nouser)" "$(echo "$out" | line RCPT nosuch@example.test)" "250 "
expect_contains "the message is accepted for the others" "$(echo "$out" | line DATA)" "250 "
sleep 0.3
expect_contains "the accepted message was counted once, for alice" \
	"$(grep 'state=END-OF-MESSAGE' "$TMP/milter.log")" "recipients=2 size="
expect_contains "... on one mailbox" "$(grep 'state=END-OF-MESSAGE' "$TMP/milter.log")" "counted=1"
expect_contains "SIZE over the free space: 452" \
	"$(smtp --size 800000 alice@example.test | line RCPT alice@example.test)" "452 4.2.2"
expect_contains "SIZE over the whole limit: 552" \
	"$(smtp --size 2000000 alice@example.test | line RCPT alice@example.test)" "552 5.2.3"
expect_contains "Postfix logged the milter's refusal" "$(cat "$POSTFIX_MAILLOG")" "milter-reject: RCPT"

if miltertest -D port="$M_PORT" -s "$(dirname "$0")/milter.lua" >"$TMP/miltertest.out" 2>&1; then
	pass "miltertest: $(grep -c '^ok - ' "$TMP/miltertest.out") steps"
else
	fail "miltertest: $(tail -n 3 "$TMP/miltertest.out")"
fi
kill -0 "$M_PID" && pass "the milter survived the hostile recipients" || fail "the milter died"

write_conf "452 4.2.2 Mailbox full (reloaded)"
kill -HUP "$M_PID"
for _ in $(seq 50); do grep -q 'configuration reloaded' "$TMP/milter.log" && break; sleep 0.1; done
expect_contains "SIGHUP: the new action text is used" \
	"$(smtp bob@example.test | line RCPT bob@example.test)" "(reloaded)"
kill -USR1 "$M_PID"
sleep 0.5
expect_contains "SIGUSR1: counters logged" "$(cat "$TMP/milter.log")" "stats: checks="

bash "$QC_SERVERS/cyrus.sh" stop "$TMP/cyrus" >/dev/null 2>&1
start=$EPOCHREALTIME
got=$(smtp erin@example.test | line RCPT erin@example.test)
secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
expect_contains "Cyrus stopped: mail still accepted (action_error) in ${secs} s" "$got" "250 "
awk -v s="$secs" 'BEGIN { exit !(s < 4) }' && pass "answered within imap_timeout + 2 s" ||
	fail "took $secs s"

kill -TERM "$M_PID"
wait "$M_PID"
expect_eq "milter exit status after SIGTERM" "$?" 0
M_PID=
expect_contains "milter stopped: milter_default_action = accept applies" \
	"$(smtp bob@example.test | line RCPT bob@example.test)" "250 "
bad=$(grep -E 'Sanitizer|runtime error|panic|fatal' "$TMP/milter.log" | head -3)
[ -z "$bad" ] && pass "no sanitizer report, panic or fatal in the milter log" || fail "milter log: $bad"
qc_summary
