#!/bin/bash
# What the daemon looks like to other local users once it has dropped
# root (issue 8):
#   - it is not dumpable after setuid(), which sets the flag to the
#     fs.suid_dumpable sysctl: /proc/PID/status stays owned by root
#     although it runs as nobody, so no process of that user can ptrace it
#     or read its memory.  With the default fs.suid_dumpable = 0 the
#     kernel already sees to it; with 1 (set for debugging) only the
#     daemon's own prctl after the drop does.  QC_SUID_DUMPABLE=1 makes
#     this test set fs.suid_dumpable = 1 while the daemon starts (about
#     0.2 s; restored at once: it is global) so that the check bites;
#     off by default, as it changes the whole machine's setting;
#   - a unix listen socket is 0660 by default, not 0666: only its group
#     may ask quotas; listen_group sets that group (Postfix's smtpd runs
#     as user postfix), and an unknown group is a configuration error.
# No IMAP server is needed: a request without recipient is answered at
# once.  Runs with QC_INTEGRATION=1 as root (testlib.sh); a few seconds.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=policyd-privs
. "$QC_SERVERS/lib.sh"

POLICYD=$QC_BUILD/tools/quotachk-policyd
[ -x "$POLICYD" ] || { echo "SKIP: $POLICYD not built"; exit 77; }
command -v setpriv >/dev/null || { echo "SKIP: setpriv missing"; exit 77; }
GROUP=mail              # a group nobody is not in
getent group "$GROUP" >/dev/null || { echo "SKIP: no group $GROUP"; exit 77; }

TMP=$(mktemp -d /tmp/qc-privs.XXXXXX) || exit 1
chmod 755 "$TMP"
PD_PID=

cleanup() {
	local rc=$?
	restore_suid_dumpable
	if [ -n "$PD_PID" ]; then
		kill -TERM "$PD_PID" 2>/dev/null
		wait "$PD_PID" 2>/dev/null
	fi
	qc_remove_tmp "$TMP" "$rc"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

printf 'secret\n' >"$TMP/imap.pass"
chmod 600 "$TMP/imap.pass"
cat >"$TMP/policyd.conf" <<CONF
imap_url = imap://127.0.0.1:1/
imap_tls = none
imap_user = qc
imap_password_file = $TMP/imap.pass
user = nobody
log = stderr
CONF
chmod 644 "$TMP/policyd.conf"

# A request without recipient: action_fits at once, no IMAP needed.
cat >"$TMP/ask.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect: %s" % e.strerror)
    sys.exit(0)
s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\n\n")
s.settimeout(10)
print(s.recv(4096).split(b"\n")[0].decode())
PY

SUID_DUMPABLE_WAS=
restore_suid_dumpable() {
	[ -z "$SUID_DUMPABLE_WAS" ] || echo "$SUID_DUMPABLE_WAS" >/proc/sys/fs/suid_dumpable
	SUID_DUMPABLE_WAS=
}

# start NAME ARGS...: the daemon on unix:$TMP/NAME.sock.
start() {
	local name=$1 i rc=1
	shift
	if [ "${QC_SUID_DUMPABLE:-0}" = 1 ]; then
		SUID_DUMPABLE_WAS=$(cat /proc/sys/fs/suid_dumpable)
		echo 1 >/proc/sys/fs/suid_dumpable
	fi
	"$POLICYD" -c "$TMP/policyd.conf" --listen="unix:$TMP/$name.sock" "$@" \
		2>"$TMP/$name.log" &
	PD_PID=$!
	for ((i = 0; i < 100; i++)); do
		if [ -S "$TMP/$name.sock" ] && grep -q starting "$TMP/$name.log"; then
			rc=0
			break
		fi
		sleep 0.05
	done
	restore_suid_dumpable
	[ "$rc" = 0 ] || fail "$name: daemon not serving: $(cat "$TMP/$name.log")"
	return "$rc"
}
stop() { kill -TERM "$PD_PID"; wait "$PD_PID" 2>/dev/null; PD_PID=; }
# Another local user.  /usr/bin/python3: root's PATH may lead to a
# python3 that user cannot run.
PY=/usr/bin/python3
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

if start default; then
	expect_eq "runs as" "$(awk '/^Uid:/ { print $2 }' "/proc/$PD_PID/status")" "$(id -u nobody)"
	sd=$(cat /proc/sys/fs/suid_dumpable)
	[ "${QC_SUID_DUMPABLE:-0}" = 1 ] && sd=1
	expect_eq "not dumpable after the drop (/proc/PID/status owner; fs.suid_dumpable = $sd at start)" \
		"$(stat -c %U "/proc/$PD_PID/status")" root
	expect_eq "socket mode by default" "$(stat -c %a "$TMP/default.sock")" 660
	expect_eq "socket group without listen_group" "$(stat -c %G "$TMP/default.sock")" root
	expect_eq "root may ask" "$(python3 "$TMP/ask.py" "$TMP/default.sock")" "action=DUNNO"
	expect_eq "another user may not" "$(as_nobody $PY "$TMP/ask.py" "$TMP/default.sock")" \
		"connect: Permission denied"
	expect_contains "a warning says how to let Postfix in" "$(cat "$TMP/default.log")" \
		"listen_group"
	stop
fi

if start group --listen_group="$GROUP"; then
	expect_eq "socket group with listen_group" "$(stat -c %G "$TMP/group.sock")" "$GROUP"
	expect_eq "socket mode with listen_group" "$(stat -c %a "$TMP/group.sock")" 660
	expect_eq "a member of listen_group may ask" \
		"$(setpriv --reuid=nobody --regid="$GROUP" --clear-groups $PY "$TMP/ask.py" "$TMP/group.sock")" \
		"action=DUNNO"
	expect_eq "a non-member may not" "$(as_nobody $PY "$TMP/ask.py" "$TMP/group.sock")" \
		"connect: Permission denied"
	expect_not_contains "no socket warning with listen_group" "$(cat "$TMP/group.log")" "listen_group"
	stop
fi

"$POLICYD" -c "$TMP/policyd.conf" --listen="unix:$TMP/bad.sock" \
	--listen_group=nosuchgroup-qc 2>"$TMP/bad.log" &
PD_PID=$!
wait "$PD_PID"
rc=$?
PD_PID=
expect_eq "unknown listen_group: exit" "$rc" 78
expect_contains "unknown listen_group: message" "$(cat "$TMP/bad.log")" \
	"listen_group = nosuchgroup-qc"
qc_summary
