#!/bin/bash
# Accounting of quotachk-policyd (issue 8): a refusal rests only on the
# server's own figures plus messages Postfix really accepted.  A private
# Cyrus, the daemon, and a private Postfix that asks the daemon at RCPT
# and again at END-OF-MESSAGE (smtpd_end_of_data_restrictions, the set-up
# README recommends); policyd-accounting.py drives the scenarios: the
# SIZE=<free space> probe attack, repeated and 50 concurrent RCPTs, RSET
# and QUIT after RCPT, a multi-recipient message, a burst of real
# messages, a recipient refused by a later restriction, and a message
# that no longer fits at END-OF-MESSAGE.
#
# Runs with QC_INTEGRATION=1 as root (testlib.sh); about 15 s.
# QC_KEEP=1 keeps the temporary directory (daemon log, Postfix maillog).
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=policyd-accounting
. "$QC_SERVERS/lib.sh"

POLICYD=$QC_BUILD/tools/quotachk-policyd
[ -x "$POLICYD" ] || { echo "SKIP: $POLICYD not built"; exit 77; }
[ -x /usr/sbin/postfix ] || { echo "SKIP: Postfix not installed"; exit 77; }

TMP=$(mktemp -d /tmp/qc-acct.XXXXXX) || exit 1
chmod 755 "$TMP"
PD_PID=
cleanup() {
	local rc=$?
	[ -n "$PD_PID" ] && kill -TERM "$PD_PID" 2>/dev/null && wait "$PD_PID" 2>/dev/null
	bash "$QC_SERVERS/postfix.sh" stop "$TMP/postfix" >/dev/null 2>&1
	bash "$QC_SERVERS/cyrus.sh" stop "$TMP/cyrus" >/dev/null 2>&1
	qc_remove_tmp "$TMP" "$rc"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

qc_start_cyrus "$TMP/cyrus"
install -o nobody -m 600 "$CYRUS_PASSWORD_FILE" "$TMP/imap.pass"
PD_PORT=$(free_port)
cat >"$TMP/policyd.conf" <<CONF
imap_url = imap://127.0.0.1:$CYRUS_PORT/
imap_tls = none
imap_user = $CYRUS_ADMIN
imap_password_file = $TMP/imap.pass
imap_timeout = 5s
imap_connections = 2
# Long enough that nothing expires during the test: every figure the
# daemon uses is the server's first answer plus what it counted.
cache_ttl = 300s
listen = inet:127.0.0.1:$PD_PORT
user = nobody
log = stderr
CONF
chmod 644 "$TMP/policyd.conf"
"$POLICYD" -c "$TMP/policyd.conf" 2>"$TMP/policyd.log" &
PD_PID=$!
wait_listen "$PD_PORT" 10 || { cat "$TMP/policyd.log"; fail "daemon not listening"; exit 1; }

# Another timeout than the RCPT check's: Postfix then asks over another
# connection, as it does whenever the two specifications differ (or the
# first connection was closed meanwhile): the daemon must tie the two by
# the message's instance, not by the connection.
policy="check_policy_service { inet:127.0.0.1:$PD_PORT, timeout=25s, default_action=DUNNO }"
bash "$QC_SERVERS/postfix.sh" start "$TMP/postfix" --policy "inet:127.0.0.1:$PD_PORT" \
	--policy-timeout 20s --set "smtpd_end_of_data_restrictions = $policy" \
	--set "smtpd_recipient_restrictions = reject_unauth_destination, check_policy_service { inet:127.0.0.1:$PD_PORT, timeout=20s, default_action=DUNNO }, check_recipient_access inline:{ canary@example.test=REJECT }, permit" \
	--set "message_size_limit = 20000000" >/dev/null 2>"$TMP/postfix.log" ||
	{ cat "$TMP/postfix.log"; fail "Postfix did not start"; exit 1; }
. "$TMP/postfix/env"

python3 "$(dirname "$0")/policyd-accounting.py" "$POSTFIX_SMTP_PORT" "$PD_PORT" \
	"$PD_PID" "$TMP/policyd.log"
rc=$?
expect_eq "accounting scenarios (policyd-accounting.py exit)" "$rc" 0
bad=$(grep -E 'Sanitizer|runtime error|panic|fatal' "$TMP/policyd.log" | head -3)
[ -z "$bad" ] && pass "no sanitizer report, panic or fatal in the daemon log" ||
	fail "daemon log: $bad"
qc_summary
