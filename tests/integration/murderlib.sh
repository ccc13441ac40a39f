# murderlib.sh - sourced by the Murder tests that run quotachk-policyd:
# start the Murder (tests/servers/murder.sh) and the daemon, ask it, and
# look at its IMAP connections.  Needs testlib.sh, servers/lib.sh and
# $TMP (a scratch directory) set before it is sourced.
POLICYD=$QC_BUILD/tools/quotachk-policyd
LOAD=$QC_BUILD/bench/policy-load
OVER_ACTION="452 4.2.2 Mailbox full"
# Distinct from DUNNO, so an error can never pass for a right answer.
ERROR_ACTION="DEFER_IF_PERMIT quotachk could not tell"
PD_PID=
FROZEN=

murder_cleanup() {
	local rc=$?
	[ -n "$FROZEN" ] && kill -CONT $FROZEN 2>/dev/null
	[ -n "$PD_PID" ] && kill -TERM "$PD_PID" 2>/dev/null && wait "$PD_PID" 2>/dev/null
	bash "$QC_SERVERS/murder.sh" stop "$TMP/murder" >/dev/null 2>&1
	qc_remove_tmp "$TMP" "$rc"
	exit $rc
}

# murder_start: the Murder in $TMP/murder, its env sourced.
murder_start() {
	bash "$QC_SERVERS/murder.sh" start "$TMP/murder" >/dev/null 2>"$TMP/murder.log" ||
		{ cat "$TMP/murder.log"; fail "murder start"; qc_summary; exit 1; }
	. "$TMP/murder/env"
	FE1=imap://127.0.0.1:$MURDER_FE1_PORT/
	FE2=imap://127.0.0.1:$MURDER_FE2_PORT/
}

node() { bash "$QC_SERVERS/murder.sh" "$1" "$TMP/murder" "$2" >/dev/null 2>>"$TMP/murder.log"; }

node_pids() {
	local master
	master=$(cat "$TMP/murder/$1/master.pid") || return 1
	echo "$master" $(_qc_descendants "$master")
}

# daemon_start URLS: quotachk-policyd on a free port with the cache off,
# so every request asks a frontend.
daemon_start() {
	install -o nobody -m 600 "$MURDER_PASSWORD_FILE" "$TMP/imap.pass"
	PD_PORT=$(free_port)
	cat >"$TMP/policyd.conf" <<CONF
imap_url = $1
imap_tls = none
imap_user = $MURDER_ADMIN
imap_password_file = $TMP/imap.pass
mailbox_format = user.%u
imap_timeout = 2s
imap_connections = 4
cache_ttl = 0
action_error = $ERROR_ACTION
listen = inet:127.0.0.1:$PD_PORT
user = nobody
log = stderr
CONF
	chmod 644 "$TMP/policyd.conf"
	# Under load the per-decision lines would be millions: PD_LOG_ALL=1
	# keeps them (light tests that look at what the lookups got).
	local drop=' recipient='
	[ "${PD_LOG_ALL:-0}" = 1 ] && drop='^$'
	"$POLICYD" -c "$TMP/policyd.conf" 2> >(grep --line-buffered -v "$drop" >"$TMP/policyd.log") &
	PD_PID=$!
	wait_listen "$PD_PORT" 10 || { fail "daemon not listening"; cat "$TMP/policyd.log"; qc_summary; exit 1; }
	# Recipients with the answer a healthy cluster gives.
	printf '%s\t%s\n' alice@example.test DUNNO bob@example.test "$OVER_ACTION" \
		carol@example.test DUNNO dave@example.test "$OVER_ACTION" \
		erin@example.test "$OVER_ACTION" Canary+x@Example.TEST DUNNO \
		nosuch@example.test DUNNO >"$TMP/rcpts"
}

# probe RCPT WANT LIMIT SINCE: ask for RCPT every 20 ms until the answer
# is WANT; prints the seconds from SINCE (qc_now) to it, or "never".
cat >"$TMP/probe.py" <<'EOF_PY'
import socket, sys, time
port, rcpt, want, limit, since = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
req = ("request=smtpd_access_policy\nprotocol_state=RCPT\n"
       "client_address=192.0.2.1\nrecipient=%s\nsize=0\n\n" % rcpt).encode()
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(limit + 5)
buf, start = b"", time.monotonic()
while time.monotonic() - start < limit:
    s.sendall(req)
    while b"\n\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            print("never (connection closed)"); sys.exit(1)
        buf += chunk
    answer, buf = buf.split(b"\n\n", 1)
    if answer.decode("ascii", "replace") == "action=" + want:
        print("%.3f" % (time.time() - since)); sys.exit(0)
    time.sleep(0.02)
print("never"); sys.exit(1)
EOF_PY
probe() { python3 "$TMP/probe.py" "$PD_PORT" "$@"; }

# conns_to PORT: the daemon's established TCP connections to 127.0.0.1:PORT.
conns_to() {
	local hex ino n=0
	hex=$(printf '%04X' "$1")
	for ino in $(awk -v p=":$hex" '$4 == "01" && substr($3, length($3) - 4) == p { print $10 }' /proc/net/tcp); do
		[ -n "$(find "/proc/$PD_PID/fd" -lname "socket:\[$ino\]" -print -quit 2>/dev/null)" ] && n=$((n + 1))
	done
	echo "$n"
}

# field NAME FILE: NAME= of a policy-load summary line.
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p; s/^$1=\([0-9.]*\).*/\1/p" "$2" | head -1; }
