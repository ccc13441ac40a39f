#!/bin/bash
# End-to-end test of quotachk-policyd with a real Cyrus IMAPd and a real
# Postfix, all private on loopback in one temporary directory:
#
#   SMTP client -> Postfix smtpd -> check_policy_service -> quotachk-policyd -> Cyrus
#
# Checks the SMTP dialogue (250 / 452 4.2.2 / 552 by quota and SIZE=),
# unknown recipients (action_nouser), the policy protocol itself
# (pipelining, order, bad input closing only that client), faults (Cyrus
# hung: answer within imap_timeout; Cyrus stopped: fail open and log why;
# Cyrus back: right answers again), SIGHUP reload (a broken file keeps the
# old configuration), privileges, SIGTERM finishing requests in hand, and
# the same dialogue through Postfix spawn(8).
#
# Usage: tests/policyd-e2e.sh     (root; exit 0 pass, 1 fail, 77 skipped)
#   Under "make check" it runs only with QC_INTEGRATION=1, like the other
#   integration tests; run by hand it always runs.  About 20 s.
#   QC_KEEP=1 keeps the temporary directory for a post-mortem.
#   QC_BUILD=DIR (build tree) or QC_POLICYD=PATH tests another build.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
SERVERS=$HERE/servers
if [[ -n ${QC_BUILD:-} ]]; then BUILD=$QC_BUILD
elif [[ -x $PWD/tools/quotachk-policyd ]]; then BUILD=$PWD   # VPATH make check
else BUILD=$TOP; fi
POLICYD=${QC_POLICYD:-$BUILD/tools/quotachk-policyd}

skip() { echo "SKIP: $*"; exit 77; }
# The automake harness exports srcdir; by hand it is usually unset.
[[ -n ${srcdir:-} && ${QC_INTEGRATION:-0} != 1 ]] &&
    skip "set QC_INTEGRATION=1 to run against real servers"
[[ $EUID -eq 0 ]] || skip "needs root (Cyrus and Postfix run privately as root)"
[[ -x /usr/lib/cyrus/bin/master ]] || skip "Cyrus not installed (tests/servers/install-deps.sh)"
[[ -x /usr/sbin/postfix ]] || skip "Postfix not installed (tests/servers/install-deps.sh)"
[[ -x $POLICYD ]] || skip "$POLICYD not built"
command -v python3 >/dev/null || skip "python3 missing"

QC_LOG_NAME=policyd-e2e
. "$SERVERS/lib.sh"

TMP=$(mktemp -d /tmp/qc-pe2e.XXXXXX) || exit 1
chmod 755 "$TMP"
PD_PID=
HUNG_PIDS=
FAILS=0
CHECKS=0

cleanup() {
    local rc=$?
    [[ -n $HUNG_PIDS ]] && kill -CONT $HUNG_PIDS 2>/dev/null
    if [[ -n $PD_PID ]] && kill -0 "$PD_PID" 2>/dev/null; then
        kill -TERM "$PD_PID" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$PD_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$PD_PID" 2>/dev/null
    fi
    "$SERVERS/postfix.sh" stop "$TMP/postfix" >/dev/null 2>&1
    "$SERVERS/postfix.sh" stop "$TMP/postfix-spawn" >/dev/null 2>&1
    "$SERVERS/cyrus.sh" stop "$TMP/cyrus" >/dev/null 2>&1
    if [[ ${QC_KEEP:-0} == 1 || $FAILS -gt 0 ]]; then
        echo "# kept $TMP (policyd.log, spawn.log, postfix*/maillog)"
    else
        rm -rf "$TMP"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { CHECKS=$((CHECKS + 1)); echo "ok - $*"; }
not_ok() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
# expect NAME PATTERN TEXT: TEXT must match the extended regex PATTERN.
expect() {
    if [[ $3 =~ $2 ]]; then ok "$1"; else not_ok "$1: got '$3', wanted /$2/"; fi
}
log_has() { # NAME PATTERN [LOGFILE]
    if grep -Eq -- "$2" "${3:-$TMP/policyd.log}"; then ok "$1"; else not_ok "$1: no /$2/ in ${3:-policyd.log}"; fi
}

# ---- a small policy-protocol client ----------------------------------------
cat >"$TMP/policy.py" <<'EOF'
import socket, sys, time
def answers(s, n, timeout):
    buf, out, end = b"", [], time.time() + timeout
    while len(out) < n:
        s.settimeout(max(0.01, end - time.time()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            out.append("TIMEOUT"); break
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            out.append("EOF"); break
        buf += chunk
        while b"\n\n" in buf and len(out) < n:
            a, buf = buf.split(b"\n\n", 1)
            out.append(a.decode("ascii", "replace"))
    return out
def req(rcpt, size=0, state="RCPT"):
    return ("request=smtpd_access_policy\nprotocol_state=%s\nclient_address=192.0.2.1\n"
            "recipient=%s\nsize=%d\n\n" % (state, rcpt, size)).encode()
mode, port = sys.argv[1], int(sys.argv[2])
if mode == "ask":     # ask PORT TIMEOUT RCPT[:SIZE]...: pipelined on one connection
    s = socket.create_connection(("127.0.0.1", port))
    rs = [a.rsplit(":", 1) if ":" in a else [a, "0"] for a in sys.argv[4:]]
    s.sendall(b"".join(req(r, int(z)) for r, z in rs))
    print("\n".join(answers(s, len(rs), float(sys.argv[3]))))
elif mode == "raw":   # raw PORT N < bytes
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(sys.stdin.buffer.read())
    print("\n".join(answers(s, int(sys.argv[3]), 5)))
elif mode == "bad":   # bad PORT KIND: KIND closes its client only
    bad = {"long": b"recipient=" + b"a" * 5000 + b"\n\n",
           "nul": b"protocol_state=RCPT\nrecipient=a\x00b@example.test\n\n",
           "attrs": b"".join(b"x%d=1\n" % i for i in range(101)) + b"\n",
           "syntax": b"hello world\n\n"}[sys.argv[3]]
    a = socket.create_connection(("127.0.0.1", port))
    a.sendall(req("alice@example.test"))
    first = answers(a, 1, 5)
    b = socket.create_connection(("127.0.0.1", port))
    b.sendall(req("carol@example.test") + bad)
    got_b = answers(b, 3, 5)
    a.sendall(req("bob@example.test"))
    second = answers(a, 1, 5)
    print("a1=%s b=%s a2=%s" % (first[0], ",".join(got_b), second[0]))
EOF
policy() { python3 "$TMP/policy.py" "$@"; }
# ask_timed PORT TIMEOUT RCPT: one request from this shell, its action
# line printed; for the checks that time an answer (no client start-up
# in the figure).
ask_timed() {
    local fd line
    exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\nrecipient=%s\nsize=0\n\n' "$3" >&"$fd"
    IFS= read -r -t "$2" -u "$fd" line || line=
    exec {fd}<&-
    echo "$line"
}
smtp() { python3 "$SERVERS/smtp-client.py" --port "$SMTP_PORT" --timeout 30 "$@"; }
rcpt_reply() { # RCPT line of the dialogue for one recipient: "CODE TEXT"
    smtp "$@" | awk '$1 == "RCPT" { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }'
}

# ---- Cyrus ----------------------------------------------------------------
echo "# starting Cyrus"
"$SERVERS/cyrus.sh" start "$TMP/cyrus" >/dev/null 2>"$TMP/cyrus.start.log" ||
    { cat "$TMP/cyrus.start.log"; echo "FAIL - Cyrus did not start"; exit 1; }
. "$TMP/cyrus/env"

# The daemon runs as nobody and re-reads these on SIGHUP: give it copies.
install -o nobody -m 600 "$CYRUS_PASSWORD_FILE" "$TMP/imap.pass"
PD_PORT=$(free_port)
write_conf() { # FILE [extra lines...]
    local f=$1; shift
    {
        echo "imap_url = imap://127.0.0.1:$CYRUS_PORT/"
        echo "imap_tls = none"
        echo "imap_user = $CYRUS_ADMIN"
        echo "imap_password_file = $TMP/imap.pass"
        echo "mailbox_format = auto"
        echo "imap_timeout = 2s"
        echo "imap_connections = 2"
        echo "cache_ttl = 1s"
        echo "user = nobody"
        echo "log = stderr"
        printf '%s\n' "$@"
    } >"$f"
    chmod 644 "$f"
}
write_conf "$TMP/policyd.conf" "listen = inet:127.0.0.1:$PD_PORT"

# ---- privileges -----------------------------------------------------------
"$POLICYD" -c "$TMP/policyd.conf" --user=root --listen=inet:127.0.0.1:$(free_port "$PD_PORT") \
    >"$TMP/root.out" 2>&1
rc=$?
expect "refuses to serve as root (exit 78)" '^78$' "$rc"
log_has "says why it refuses root" 'refusing to serve as root' "$TMP/root.out"

# ---- the daemon -----------------------------------------------------------
"$POLICYD" -c "$TMP/policyd.conf" 2>"$TMP/policyd.log" &
PD_PID=$!
wait_listen "$PD_PORT" 10 || { cat "$TMP/policyd.log"; echo "FAIL - daemon not listening"; exit 1; }
uid=$(awk '/^Uid:/ { print $3 }' "/proc/$PD_PID/status")
expect "daemon dropped root to nobody" "^$(id -u nobody)\$" "$uid"

# ---- Postfix in front -----------------------------------------------------
echo "# starting Postfix"
"$SERVERS/postfix.sh" start "$TMP/postfix" --policy "inet:127.0.0.1:$PD_PORT" \
    >/dev/null 2>"$TMP/postfix.start.log" ||
    { cat "$TMP/postfix.start.log"; echo "FAIL - Postfix did not start"; exit 1; }
. "$TMP/postfix/env"
SMTP_PORT=$POSTFIX_SMTP_PORT

smtp_checks() { # LABEL LOGFILE
    local l=$1 log=$2
    expect "$l: alice (under quota) 250" '^250 ' "$(rcpt_reply alice@example.test)"
    expect "$l: bob (over storage) 452 4.2.2" '^452 4\.2\.2 ' "$(rcpt_reply bob@example.test)"
    expect "$l: Bob+Tag@Example.TEST normalised, 452" '^452 4\.2\.2 ' "$(rcpt_reply Bob+Tag@Example.TEST)"
    expect "$l: dave (over message count) 452" '^452 4\.2\.2 ' "$(rcpt_reply dave@example.test)"
    expect "$l: carol (no quota) 250" '^250 ' "$(rcpt_reply carol@example.test)"
    expect "$l: alice SIZE > free space 452" '^452 4\.2\.2 ' "$(rcpt_reply --size 800000 alice@example.test)"
    expect "$l: alice SIZE > whole limit 552" '^552 5\.2\.3 ' "$(rcpt_reply --size 2000000 alice@example.test)"
    expect "$l: unknown recipient -> action_nouser (DUNNO) 250" '^250 ' "$(rcpt_reply nosuch@example.test)"
    log_has "$l: unknown recipient logged as nouser" 'recipient=nosuch@example.test .*verdict=nouser action="DUNNO"' "$log"
    log_has "$l: decision line has every key" 'recipient=bob@example.test mailbox=user\.bob used=[0-9]+ limit=[0-9]+ size=[0-9]+ verdict=overquota action="452 4\.2\.2 Mailbox full" cached=(yes|no|coalesced) ms=[0-9.]+' "$log"
}
echo "# SMTP through check_policy_service inet:"
smtp_checks "inet" "$TMP/policyd.log"

# ---- the policy protocol directly -----------------------------------------
echo "# policy protocol"
out=$(policy ask "$PD_PORT" 5 alice@example.test bob@example.test alice@example.test:2000000 \
      carol@example.test alice@example.test:800000 nosuch@example.test | tr '\n' '|')
expect "pipelined requests answered in order" \
    '^action=DUNNO\|action=452 4\.2\.2 Mailbox full\|action=552 5\.2\.3 [^|]*\|action=DUNNO\|action=452 4\.2\.2 Mailbox full\|action=DUNNO\|$' "$out"
for kind in long nul attrs syntax; do
    out=$(policy bad "$PD_PORT" "$kind")
    expect "bad input ($kind) closes that client only" \
        '^a1=action=DUNNO b=action=DUNNO,EOF a2=action=452 4\.2\.2 Mailbox full$' "$out"
done
log_has "warning names the client (line too long)" 'warning: client 127\.0\.0\.1:[0-9]+: line longer than 4096 bytes; disconnecting'
log_has "warning names the client (NUL)" 'warning: client 127\.0\.0\.1:[0-9]+: NUL byte in input; disconnecting'
log_has "warning names the client (attributes)" 'warning: client 127\.0\.0\.1:[0-9]+: more than 100 attributes'
out=$(printf 'request=smtpd_access_policy\nprotocol_state=DATA\nrecipient=bob@example.test\n\nrequest=smtpd_access_policy\nprotocol_state=DATA\nrecipient=bob@example.test\n\n' |
      policy raw "$PD_PORT" 2 | tr '\n' '|')
expect "other protocol_state -> action_fits" '^action=DUNNO\|action=DUNNO\|$' "$out"
n=$(grep -c 'unexpected protocol_state "DATA"' "$TMP/policyd.log")
expect "one warning per connection, naming the fix" '^1$' "$n"
log_has "the warning says how to configure Postfix" 'smtpd_recipient_restrictions'

# Coalescing: ten requests for one uncached recipient, one IMAP lookup.
sleep 1.1 # let the cache (1s) forget erin
kill -USR1 "$PD_PID"; sleep 0.3
before=$(grep 'stats:' "$TMP/policyd.log" | tail -1 | sed -E 's/.* lookups=([0-9]+).*/\1/')
out=$(policy ask "$PD_PORT" 5 erin@example.test erin@example.test erin@example.test erin@example.test \
      erin@example.test erin@example.test erin@example.test erin@example.test erin@example.test erin@example.test | sort | uniq -c | tr -s ' ')
expect "ten pipelined requests for erin (at limit) all 452" '^ ?10 action=452 4\.2\.2 Mailbox full$' "$out"
kill -USR1 "$PD_PID"; sleep 0.3
after=$(grep 'stats:' "$TMP/policyd.log" | tail -1 | sed -E 's/.* lookups=([0-9]+).*/\1/')
expect "... answered by one IMAP lookup (coalesced)" '^1$' "$((after - before))"
log_has "SIGUSR1 stats line" 'stats: uptime=[0-9]+s requests=[0-9]+ .*cache_hits=[0-9]+ .*coalesced=[0-9]+ .*imap_errors=[0-9]+ .*latency_p99_us=[0-9]+'

# ---- reload ----------------------------------------------------------------
echo "# SIGHUP"
cp "$TMP/policyd.conf" "$TMP/policyd.conf.good"
echo "imap_timeout = soon" >>"$TMP/policyd.conf"
kill -HUP "$PD_PID"; sleep 0.5
log_has "broken config on SIGHUP: old one kept, reason logged" 'reload: .*imap_timeout = soon.*keeping the running configuration'
expect "still answering after a failed reload" '^452 4\.2\.2 ' "$(rcpt_reply bob@example.test)"
cp "$TMP/policyd.conf.good" "$TMP/policyd.conf"
sed -i 's/^action_overquota.*//' "$TMP/policyd.conf"
echo "action_overquota = 452 4.2.2 Mailbox full (reloaded)" >>"$TMP/policyd.conf"
kill -HUP "$PD_PID"; sleep 0.5
log_has "good config on SIGHUP is loaded" 'reload: configuration reloaded'
expect "new action text in use after reload" '^452 4\.2\.2 .*\(reloaded\)' "$(rcpt_reply bob@example.test)"
cp "$TMP/policyd.conf.good" "$TMP/policyd.conf"
kill -HUP "$PD_PID"; sleep 0.5

# ---- faults ----------------------------------------------------------------
echo "# Cyrus hung (SIGSTOP)"
mpid=$(cat "$TMP/cyrus/master.pid")
HUNG_PIDS="$mpid $(_qc_descendants "$mpid" | tr '\n' ' ')"
kill -STOP $HUNG_PIDS
sleep 1.1 # cache_ttl
t0=$(qc_now)
out=$(ask_timed "$PD_PORT" 10 bob@example.test)
dt=$(qc_elapsed "$t0")
expect "hung server: answered action_error (DUNNO)" '^action=DUNNO$' "$out"
expect "hung server: within imap_timeout (2s) + 1s (took ${dt}s)" '^[0-2]\.' "$dt"
t0=$(qc_now)
out=$(ask_timed "$PD_PORT" 10 dave@example.test)
dt=$(qc_elapsed "$t0")
expect "backoff: next lookup answered at once (took ${dt}s)" '^0\.[0-4]' "$dt"
log_has "hung server logged" 'IMAP lookups fail \(QC_ERR_TIMEOUT'
# SIGTERM must still answer a request in hand: start one, then stop.
# (Tested later, on a daemon we can afford to lose.)
kill -CONT $HUNG_PIDS
HUNG_PIDS=
ok=
for _ in $(seq 1 30); do
    out=$(policy ask "$PD_PORT" 5 bob@example.test)
    [[ $out == "action=452 4.2.2 Mailbox full" ]] && { ok=1; break; }
    sleep 0.5
done
[[ -n $ok ]] && ok "server back: right answers again without a restart" ||
    not_ok "server back: still '$out' after 15s"

echo "# Cyrus stopped"
"$SERVERS/cyrus.sh" stop "$TMP/cyrus" >/dev/null 2>&1
sleep 1.1
expect "Cyrus down: bob accepted (fail open) 250" '^250 ' "$(rcpt_reply bob@example.test)"
log_has "Cyrus down: the daemon logs why" 'recipient=bob@example.test .*verdict=error action="DUNNO" .*error=QC_ERR_(CONNECT|CLOSED|PROTOCOL)'
log_has "Cyrus down: backoff announced" 'IMAP lookups fail \(QC_ERR_(CONNECT|CLOSED|PROTOCOL).*answering with that error \(action_error\) for [0-9]+ ms'
"$SERVERS/cyrus.sh" start "$TMP/cyrus" >/dev/null 2>"$TMP/cyrus.restart.log" || cat "$TMP/cyrus.restart.log"
ok=
for _ in $(seq 1 30); do
    out=$(rcpt_reply bob@example.test)
    [[ $out == "452 4.2.2 "* ]] && { ok=1; break; }
    sleep 0.5
done
[[ -n $ok ]] && ok "Cyrus restarted: 452 again without restarting the daemon" ||
    not_ok "Cyrus restarted: still '$out' after 15s"
log_has "recovery logged" 'IMAP server answers again'

# ---- SIGTERM finishes requests in hand --------------------------------------
echo "# SIGTERM"
mpid=$(cat "$TMP/cyrus/master.pid")
HUNG_PIDS="$mpid $(_qc_descendants "$mpid" | tr '\n' ' ')"
sleep 1.1
kill -STOP $HUNG_PIDS
# The request is written from this shell, so it is in the daemon's hands
# before SIGTERM whatever a client program's start-up costs.
ask_timed "$PD_PORT" 10 carol@example.test >"$TMP/term.out" &
client=$!
sleep 0.5
kill -TERM "$PD_PID"
wait "$client"
expect "SIGTERM: request in hand still answered" '^action=DUNNO$' "$(cat "$TMP/term.out")"
wait "$PD_PID"
rc=$?
PD_PID=
expect "SIGTERM: exit 0" '^0$' "$rc"
kill -CONT $HUNG_PIDS
HUNG_PIDS=
log_has "SIGTERM logged" 'SIGTERM: stopping'

# ---- spawn(8) ----------------------------------------------------------------
echo "# SMTP through spawn(8)"
"$SERVERS/postfix.sh" stop "$TMP/postfix" >/dev/null 2>&1
write_conf "$TMP/spawn.conf"
# spawn(8) connects stderr to smtpd too: the wrapper sends the log to a file.
: >"$TMP/spawn.log"
chown nobody "$TMP/spawn.log"
# spawn(8) runs the daemon as nobody, who may not reach the build tree
# (a checkout in /root, mode 0700, on a fresh Debian): it gets a copy in
# $TMP, with the library beside it when the build tree's program is
# libtool's wrapper script.
spawn_bin=$TMP/spawn-bin
mkdir -p "$spawn_bin"
if [[ -z ${QC_POLICYD:-} && -x $BUILD/tools/.libs/quotachk-policyd ]]; then
    cp "$BUILD/tools/.libs/quotachk-policyd" "$spawn_bin/"
    cp -P "$BUILD"/lib/.libs/libquotachk.so* "$spawn_bin/"
else
    cp "$POLICYD" "$spawn_bin/"
fi
chmod -R a+rX "$spawn_bin"
cat >"$TMP/policyd-spawn" <<EOF
#!/bin/sh
LD_LIBRARY_PATH=$spawn_bin exec "$spawn_bin/quotachk-policyd" -c "$TMP/spawn.conf" 2>>"$TMP/spawn.log"
EOF
chmod 755 "$TMP/policyd-spawn"
"$SERVERS/postfix.sh" start "$TMP/postfix-spawn" --spawn "$TMP/policyd-spawn" \
    >/dev/null 2>"$TMP/postfix.start.log" ||
    { cat "$TMP/postfix.start.log"; echo "FAIL - Postfix (spawn) did not start"; exit 1; }
. "$TMP/postfix-spawn/env"
SMTP_PORT=$POSTFIX_SMTP_PORT
smtp_checks "spawn" "$TMP/spawn.log"
log_has "spawn: served in spawn mode" 'starting: spawn mode' "$TMP/spawn.log"

# ---- secrets ------------------------------------------------------------------
# After login failures, faults, reloads and SIGTERM, neither log holds the
# IMAP password, plain or base64-encoded.
PW=$(head -n1 "$TMP/imap.pass")
PW64=$(printf '%s' "$PW" | base64 | tr -d '=')
for f in "$TMP/policyd.log" "$TMP/spawn.log"; do
    if grep -qF -e "$PW" -e "$PW64" "$f"; then not_ok "password found in ${f##*/}"
    else ok "no password in ${f##*/}"; fi
done

echo "# $CHECKS checks, $FAILS failed"
((FAILS == 0))
