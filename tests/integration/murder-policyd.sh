#!/bin/bash
# quotachk-policyd (imap_url = fe1 only) answers right again within 2 s of
# a Murder backend's return, without a restart, also when the lookups
# after the outage got "NO Server(s) unavailable" from the frontend:
#   1. healthy: bob (on be2) gets 452;
#   2. fe1 and be2 stopped: lookups fail to connect, the daemon backs off;
#   3. fe1 started, be2 still down: lookups reach fe1, which answers
#      "NO Server(s) unavailable to complete operation"; bob gets
#      action_error (never action_nouser: the mailbox exists);
#   4. be2 started: bob must get 452 again within 2 s.
# Prints "# figures: recovery_s=".  Runs with QC_INTEGRATION=1 as root;
# about 15 s.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=murder-policyd
. "$QC_SERVERS/lib.sh"
TMP=$(mktemp -d /tmp/qc-it-murder-pd.XXXXXX) || exit 1
chmod 755 "$TMP"
. "$(dirname "$0")/murderlib.sh"
[ -x "$POLICYD" ] || { echo "SKIP: $POLICYD not built"; exit 77; }
trap murder_cleanup EXIT
trap 'exit 1' INT TERM
RECOVERY_MAX=2.0

t0=$(qc_now)
murder_start
PD_LOG_ALL=1 daemon_start "$FE1"

t=$(probe bob@example.test "$OVER_ACTION" 5 "$(qc_now)")
[ "$t" != never ] && pass "[healthy] bob gets 452" || fail "[healthy] bob: no 452 within 5 s"

node stop-node fe1 || fail "stop fe1"
node stop-node be2 || fail "stop be2"
t=$(probe bob@example.test "$ERROR_ACTION" 5 "$(qc_now)")
[ "$t" != never ] && pass "[fe1 and be2 down] bob gets action_error" ||
	fail "[fe1 and be2 down] bob: no action_error within 5 s"
sleep 1.5   # past the daemon's first backoff interval

node start-node fe1 || fail "restart fe1"
# The daemon must really ask fe1 and get the backend-down NO.
seen=
for ((i = 0; i < 80; i++)); do
	probe bob@example.test "$ERROR_ACTION" 1 "$(qc_now)" >/dev/null
	if grep -q 'Server(s) unavailable' "$TMP/policyd.log"; then seen=1; break; fi
	sleep 0.1
done
[ -n "$seen" ] && pass "[fe1 up, be2 down] lookups got NO Server(s) unavailable" ||
	fail "[fe1 up, be2 down] no lookup reached fe1 within 8 s of its restart"
t=$(probe bob@example.test "$ERROR_ACTION" 3 "$(qc_now)")
[ "$t" != never ] && pass "[fe1 up, be2 down] bob gets action_error, not action_nouser" ||
	fail "[fe1 up, be2 down] bob: no action_error"

node start-node be2 || fail "restart be2"
rec=$(probe bob@example.test "$OVER_ACTION" 10 "$(qc_now)")
echo "# figures: recovery_s=$rec"
if [ "$rec" != never ] && awk -v t="$rec" -v m="$RECOVERY_MAX" 'BEGIN { exit !(t <= m) }'; then
	pass "[be2 back] bob gets 452 again ${rec}s after be2's return (<= ${RECOVERY_MAX}s)"
else
	fail "[be2 back] bob gets 452 again: $rec s after be2's return, allowed ${RECOVERY_MAX}s"
	grep -v ' recipient=' "$TMP/policyd.log" | tail -5 | sed 's/^/# daemon: /'
fi
echo "# total $(qc_elapsed "$t0")s"
qc_summary
