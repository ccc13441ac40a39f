#!/bin/bash
# Reload (SIGHUP) with the set-up the systemd unit implies (issue 8.3):
# the daemon started as root with user = nobody, imap_password_file owned
# by root, mode 0600 - a file the daemon cannot open once it is nobody.
# It keeps the descriptor it opened as root and re-reads the password
# through it.  Checked:
#   1. a changed config value (action_overquota) takes effect, the log
#      says "reloaded", and lookups still log in and answer right;
#   2. the password edited in place (same file, same inode) is re-read:
#      a wrong one makes lookups fail, the right one again makes them work;
#   3. the password file replaced by another file (new inode: mv, install,
#      most editors) cannot be read: the reload is refused with a message
#      that says to restart, and the running configuration keeps working.
# Runs with QC_INTEGRATION=1 as root (testlib.sh); about 10 s.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=policyd-reload
. "$QC_SERVERS/lib.sh"

POLICYD=$QC_BUILD/tools/quotachk-policyd
[ -x "$POLICYD" ] || { echo "SKIP: $POLICYD not built"; exit 77; }
[ -x /usr/lib/cyrus/bin/master ] || { echo "SKIP: Cyrus not installed"; exit 77; }

ERROR_ACTION="DEFER_IF_PERMIT test: lookup error"
TMP=$(mktemp -d /tmp/qc-reload.XXXXXX) || exit 1
chmod 755 "$TMP"
PD_PID=

cleanup() {
	local rc=$?
	if [ -n "$PD_PID" ]; then
		kill -TERM "$PD_PID" 2>/dev/null
		wait "$PD_PID" 2>/dev/null
	fi
	bash "$QC_SERVERS/cyrus.sh" stop "$TMP/cyrus" >/dev/null 2>&1
	qc_remove_tmp "$TMP" "$rc"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cat >"$TMP/ask.py" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(("request=smtpd_access_policy\nprotocol_state=RCPT\n"
           "recipient=%s\nsize=0\n\n" % sys.argv[2]).encode())
buf = b""
while b"\n\n" not in buf:
    chunk = s.recv(4096)
    if not chunk:
        break
    buf += chunk
print(buf.split(b"\n\n")[0].decode("ascii", "replace"))
PY
ask() { python3 "$TMP/ask.py" "$PD_PORT" "$1"; }

# reload NAME PATTERN: SIGHUP, then wait for a log line after the mark
# that matches PATTERN (reloaded, or the refusal); prints those lines.
reload() {
	local mark i
	mark=$(wc -l <"$TMP/policyd.log")
	kill -HUP "$PD_PID"
	for ((i = 0; i < 50; i++)); do
		tail -n +"$((mark + 1))" "$TMP/policyd.log" | grep -Eq 'reload: ' && break
		sleep 0.1
	done
	sleep 0.1
	RELOAD_LOG=$(tail -n +"$((mark + 1))" "$TMP/policyd.log" | grep 'reload: ')
	echo "# [$1] $RELOAD_LOG"
}

bash "$QC_SERVERS/cyrus.sh" start "$TMP/cyrus" >/dev/null 2>"$TMP/cyrus.log" ||
	{ cat "$TMP/cyrus.log"; fail "Cyrus start"; qc_summary; exit 1; }
. "$TMP/cyrus/env"
PASS_FILE=$TMP/imap.pass
install -o root -g root -m 600 "$CYRUS_PASSWORD_FILE" "$PASS_FILE"
PD_PORT=$(free_port)
cat >"$TMP/policyd.conf" <<CONF
imap_url = imap://127.0.0.1:$CYRUS_PORT/
imap_tls = none
imap_user = $CYRUS_ADMIN
imap_password_file = $PASS_FILE
mailbox_format = user.%u
imap_timeout = 3s
imap_connections = 2
cache_ttl = 0
action_error = $ERROR_ACTION
listen = inet:127.0.0.1:$PD_PORT
user = nobody
log = stderr
CONF
chmod 644 "$TMP/policyd.conf"
"$POLICYD" -c "$TMP/policyd.conf" 2>"$TMP/policyd.log" &
PD_PID=$!
wait_listen "$PD_PORT" 10 || { fail "daemon not listening: $(cat "$TMP/policyd.log")"; qc_summary; exit 1; }
expect_eq "before reload: alice" "$(ask alice@example.test)" "action=DUNNO"
expect_eq "before reload: bob" "$(ask bob@example.test)" "action=452 4.2.2 Mailbox full"

# 1. A changed value, password file root:root 0600.
echo "action_overquota = 452 4.2.2 Mailbox full (reloaded)" >>"$TMP/policyd.conf"
reload "config changed"
expect_contains "reload with a root-only password file" "$RELOAD_LOG" "configuration reloaded"
expect_not_contains "reload with a root-only password file" "$RELOAD_LOG" "Permission denied"
expect_eq "after reload: bob gets the new action" "$(ask bob@example.test)" \
	"action=452 4.2.2 Mailbox full (reloaded)"
expect_eq "after reload: alice still looked up" "$(ask alice@example.test)" "action=DUNNO"

# 2. The password edited in place: re-read through the kept descriptor.
right=$(cat "$PASS_FILE")
printf 'wrong-password\n' >"$PASS_FILE"
reload "wrong password in place"
expect_contains "reload after an in-place edit" "$RELOAD_LOG" "configuration reloaded"
expect_eq "a wrong password (edited in place) is used" "$(ask alice@example.test)" "action=$ERROR_ACTION"
printf '%s\n' "$right" >"$PASS_FILE"
sleep 1.2   # the backoff after the failed login
reload "right password in place"
expect_eq "the right password again (edited in place)" "$(ask bob@example.test)" \
	"action=452 4.2.2 Mailbox full (reloaded)"

# 3. The file replaced (a new inode the daemon cannot open as nobody).
install -o root -g root -m 600 "$CYRUS_PASSWORD_FILE" "$PASS_FILE.new"
mv "$PASS_FILE.new" "$PASS_FILE"
sed -i 's/(reloaded)/(replaced)/' "$TMP/policyd.conf"
reload "file replaced"
expect_contains "reload after the file was replaced" "$RELOAD_LOG" "keeping the running configuration"
expect_contains "reload after the file was replaced says what to do" "$RELOAD_LOG" "restart"
expect_eq "the running configuration still answers" "$(ask bob@example.test)" \
	"action=452 4.2.2 Mailbox full (reloaded)"
kill -0 "$PD_PID" 2>/dev/null && pass "daemon still running" || fail "daemon died"
qc_summary
