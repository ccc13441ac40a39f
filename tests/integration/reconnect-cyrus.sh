#!/bin/bash
# The client keeps one connection across lookups and, when the server has
# closed it while idle (imapd killed, as after an autologout), reopens it
# once, transparently: the next lookup still answers right.
. "$(dirname "$0")/testlib.sh"
qc_require_servers

d=$(mktemp -d /tmp/qc-it-reconnect.XXXXXX)
trap 'bash "$QC_SERVERS/cyrus.sh" stop "$d" >/dev/null 2>&1; rm -rf "$d"' EXIT
bash "$QC_SERVERS/cyrus.sh" start "$d" --sep dot >/dev/null 2>&1 || { fail "cyrus start"; qc_summary; exit; }
. "$d/env"
opts=(--imap_url="imap://127.0.0.1:$CYRUS_PORT/" --imap_tls=none --imap_user=cyrus
	--imap_password_file="$CYRUS_PASSWORD_FILE")

imapd_pids() { for p in $(pgrep -x imapd); do grep -qF "$d" /proc/$p/cmdline 2>/dev/null && echo -n "$p "; done; }

for sig in TERM KILL; do
	printf 'alice@example.test\nnosuch@example.test\nbob@example.test\n!sleep 2\nalice@example.test\nbob@example.test\n' |
		"$QC_BUILD/tests/qc-driver" "${opts[@]}" >"$d/out" &
	driver=$!
	sleep 1
	pids=$(imapd_pids)
	[ -n "$pids" ] && kill -"$sig" $pids
	wait "$driver"
	out=$(cat "$d/out")
	expect_eq "[$sig] lookups before the drop" "$(head -3 "$d/out" | cut -f2,3 | tr '\t\n' ' ')" \
		"QC_OK fits QC_OK nouser QC_OK overquota "
	expect_eq "[$sig] lookups after the drop" "$(sed -n 4,5p "$d/out" | cut -f2,3 | tr '\t\n' ' ')" \
		"QC_OK fits QC_OK overquota "
	expect_contains "[$sig] one reconnect, no more" "$out" "connects=2 errors=0"
done

# Without a drop: one connection for everything, "no such mailbox" included.
out=$(printf 'alice@example.test\nnosuch@example.test\nbob@example.test\nnosuch2@example.test\ncarol@example.test\n' |
	"$QC_BUILD/tests/qc-driver" "${opts[@]}")
expect_contains "connection kept after NO" "$out" "connects=1 errors=0"
qc_summary
