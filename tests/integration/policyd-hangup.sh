#!/bin/bash
# A client that hangs up while its lookup is pending must not make the
# daemon spin (issue 8.6).  A Postfix client sends a request and closes
# at once; the IMAP peer (tests/servers/fake-imap.py, mode silent at the
# command) never answers, so the lookup stays pending until imap_timeout.
# Meanwhile the daemon must sleep: its CPU time (utime + stime from
# /proc/PID/stat) over SPAN_S seconds must stay under CPU_MAX_S.  Before
# the fix a unix-socket client made it use 3.5 s of CPU in 4 s: epoll
# kept reporting the hang-up of a connection that no longer asked for
# input.  Checked for unix:, inet: and spawn mode (stdin a pipe whose
# writer is gone); then the daemon still answers a new client.
#
# Runs with QC_INTEGRATION=1 as root (testlib.sh); about 25 s.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=policyd-hangup
. "$QC_SERVERS/lib.sh"

POLICYD=$QC_BUILD/tools/quotachk-policyd
FAKE=$QC_SERVERS/fake-imap.py
[ -x "$POLICYD" ] || { echo "SKIP: $POLICYD not built"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }

IMAP_TIMEOUT_S=6        # the lookup stays pending longer than we measure
SPAN_S=4
CPU_MAX_S=0.5

TMP=$(mktemp -d /tmp/qc-hangup.XXXXXX) || exit 1
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

# cpu_ticks PID: utime + stime (fields 14 and 15 of /proc/PID/stat).
cpu_ticks() {
	local s f
	read -r s <"/proc/$1/stat" || { echo 0; return; }
	s=${s##*) }
	read -r -a f <<<"$s"
	echo $((f[11] + f[12]))
}
HZ=$(getconf CLK_TCK)

# check_cpu NAME: the daemon's CPU time over SPAN_S seconds, now.
check_cpu() {
	local t0 t1 secs
	t0=$(cpu_ticks "$PD_PID")
	sleep "$SPAN_S"
	t1=$(cpu_ticks "$PD_PID")
	secs=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }')
	if awk -v s="$secs" -v m="$CPU_MAX_S" 'BEGIN { exit !(s < m) }'; then
		pass "$1: ${secs} s of CPU in ${SPAN_S} s with a hung-up client's lookup pending (< ${CPU_MAX_S} s)"
	else
		fail "$1: ${secs} s of CPU in ${SPAN_S} s with a hung-up client's lookup pending (wanted < ${CPU_MAX_S} s)"
	fi
}

# client ADDRESS MODE: one request to unix:PATH or inet:PORT; MODE
# "hangup" closes right after sending, "wait" prints the answer.
cat >"$TMP/client.py" <<'PY'
import socket, sys
addr, mode = sys.argv[1], sys.argv[2]
if addr.startswith("unix:"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(addr[5:])
else:
    s = socket.create_connection(("127.0.0.1", int(addr[5:])))
s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\n"
          b"recipient=alice@example.test\nsize=0\n\n")
if mode == "hangup":
    s.close()
    sys.exit(0)
s.settimeout(30)
buf = b""
while b"\n\n" not in buf:
    chunk = s.recv(4096)
    if not chunk:
        break
    buf += chunk
print(buf.split(b"\n\n")[0].decode("ascii", "replace"))
PY

coproc FAKE_IO { exec python3 "$FAKE" --stage command --log "$TMP/fake.log" silent; }
FAKE_PID=$FAKE_IO_PID
read -r _ fake_port <&"${FAKE_IO[0]}"
printf 'secret\n' >"$TMP/imap.pass"
chown nobody "$TMP/imap.pass"
chmod 600 "$TMP/imap.pass"
cat >"$TMP/policyd.conf" <<CONF
imap_url = imap://127.0.0.1:$fake_port/
imap_tls = none
imap_user = qc
imap_password_file = $TMP/imap.pass
mailbox_format = user.%u
imap_timeout = ${IMAP_TIMEOUT_S}s
imap_connections = 1
cache_ttl = 0
listen_mode = 0666
user = nobody
log = stderr
CONF
chmod 644 "$TMP/policyd.conf"

# start_daemon NAME LISTEN: the daemon on LISTEN, waiting until it serves.
start_daemon() {
	"$POLICYD" -c "$TMP/policyd.conf" --listen="$2" 2>"$TMP/$1.log" &
	PD_PID=$!
	for _ in $(seq 1 100); do
		case $2 in
		unix:*) [ -S "${2#unix:}" ] && return 0 ;;
		inet:*) port_listening "${2##*:}" && return 0 ;;
		esac
		sleep 0.05
	done
	fail "$1: daemon not serving $2: $(cat "$TMP/$1.log")"
	return 1
}

stop_daemon() {
	kill -TERM "$PD_PID"
	wait "$PD_PID" 2>/dev/null
	PD_PID=
}

# run_case NAME LISTEN ADDRESS
run_case() {
	local fds
	start_daemon "$1" "$2" || return
	sleep 0.2
	fds=$(ls "/proc/$PD_PID/fd" | wc -l)
	python3 "$TMP/client.py" "$3" hangup
	sleep 0.5       # the daemon has read the request and the hang-up
	check_cpu "$1"
	answer=$(python3 "$TMP/client.py" "$3" wait)
	expect_eq "$1: a new client is answered (action_error after imap_timeout)" "$answer" "action=DUNNO"
	# The lookup has ended: the hung-up connection is closed too.
	for _ in $(seq 1 20); do
		[ "$(ls "/proc/$PD_PID/fd" | wc -l)" -le "$fds" ] && break
		sleep 0.1
	done
	expect_eq "$1: open fds once the lookup ended" "$(ls "/proc/$PD_PID/fd" | wc -l)" "$fds"
	kill -0 "$PD_PID" 2>/dev/null && pass "$1: daemon still running" || fail "$1: daemon died"
	stop_daemon
}

run_case unix "unix:$TMP/policy.sock" "unix:$TMP/policy.sock"
PORT=$(free_port)
run_case inet "inet:127.0.0.1:$PORT" "inet:$PORT"

# spawn(8): stdin is a pipe whose writer has gone after one request.
{ printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=alice@example.test\nsize=0\n\n'; } >"$TMP/spawn.in"
mkfifo "$TMP/spawn.fifo"
(
	echo "$BASHPID" >"$TMP/spawn.pid"
	exec "$POLICYD" -c "$TMP/policyd.conf" --listen= <"$TMP/spawn.fifo" 2>"$TMP/spawn.log"
) | cat >"$TMP/spawn.out" &
cat "$TMP/spawn.in" >"$TMP/spawn.fifo"
sleep 0.5
read -r PD_PID <"$TMP/spawn.pid" || fail "spawn: daemon not started"
if [ -n "$PD_PID" ]; then
	check_cpu spawn
	for _ in $(seq 1 $((IMAP_TIMEOUT_S * 10 + 50))); do
		kill -0 "$PD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$PD_PID" 2>/dev/null && fail "spawn: daemon did not exit after answering" ||
		pass "spawn: daemon exited after answering"
	PD_PID=
	sleep 0.2   # cat has written what it read
	expect_eq "spawn: the request was answered" "$(head -n 1 "$TMP/spawn.out")" "action=DUNNO"
fi
qc_summary
