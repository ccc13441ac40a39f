#!/bin/bash
# Hostile recipients against the real Cyrus, through a recording relay:
# the library must send nothing but GETQUOTAROOT of a safely quoted name
# (or nothing at all), the connection must stay in sync (alice answers
# right after every hostile lookup, one login for the whole run), and the
# canary mailbox must be untouched.
. "$(dirname "$0")/testlib.sh"
. "$QC_SERVERS/lib.sh"
qc_require_servers

d=$(mktemp -d /tmp/qc-it-inject.XXXXXX)
proxy_pid=
cleanup() {
	[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
	bash "$QC_SERVERS/cyrus.sh" stop "$d" >/dev/null 2>&1
	rm -rf "$d"
}
trap cleanup EXIT
bash "$QC_SERVERS/cyrus.sh" start "$d" --sep dot >/dev/null 2>&1 || { fail "cyrus start"; qc_summary; exit; }
. "$d/env"
tool=(python3 "$QC_SERVERS/imap-tool.py" --port "$CYRUS_PORT" --user cyrus
	--password-file "$CYRUS_PASSWORD_FILE")

canary_state() {
	"${tool[@]}" getquotaroot user.canary
	"${tool[@]}" status user.canary
	"${tool[@]}" raw 'LIST "" "*"' | grep -c '^\* LIST'
}
before=$(canary_state)

port=$(free_port)
python3 "$QC_SERVERS/record-proxy.py" "$port" "$CYRUS_PORT" "$d/sent.log" >"$d/proxy.out" 2>&1 &
proxy_pid=$!
for _ in $(seq 50); do grep -q ready "$d/proxy.out" 2>/dev/null && break; sleep 0.1; done

# One hostile recipient per line (C escapes), each followed by alice.
# recipient_delimiter is "-" so "+" survives and {N+} reaches the mapper.
hostile=(
	'x"y@example.test'
	'x\\y@example.test'
	'x" DELETE "user.canary@example.test'
	'canary"\\" (STORAGE 1)@example.test'
	'50%@example.test'
	'*@example.test'
	'%@example.test'
	'x{5}@example.test'
	'x {40+}@example.test'
	'{40+}@example.test'
	'x\r\nQ1 DELETE user.canary@example.test'
	'x\rDELETE user.canary@example.test'
	'x\nDELETE user.canary@example.test'
	'nul\x00DELETE user.canary@example.test'
	'caf\xc3\xa9@example.test'
	'\xff\xfe@example.test'
	'x\x7f@example.test'
	'tab\there@example.test'
	')(@example.test'
	'"quoted local"@example.test'
	'a@b@example.test'
	'canary@example.test'
)
input=
for h in "${hostile[@]}"; do input+="$h"$'\n''alice@example.test'$'\n'; done
out=$(printf '%s' "$input" | "$QC_BUILD/tests/qc-driver" \
	--imap_url="imap://127.0.0.1:$port/" --imap_tls=none --imap_user=cyrus \
	--imap_password_file="$CYRUS_PASSWORD_FILE" --mailbox_format=auto \
	--recipient_delimiter=-)
kill "$proxy_pid"; proxy_pid=

n=0
while IFS=$'\t' read -r addr status verdict mailbox storage msgs err; do
	case $addr in
	lookups=*) continue ;;
	alice@example.test)
		expect_eq "alice after '${hostile[n]}'" "$status $verdict $storage" \
			"QC_OK fits 307200/1024000"
		n=$((n + 1)) ;;
	*) case $status in
		QC_OK|QC_ERR_ADDRESS) pass "hostile '${hostile[n]}': $status $verdict" ;;
		*) fail "hostile '${hostile[n]}': $status $err" ;;
		esac ;;
	esac
done <<<"$out"
expect_eq "alice checks done" "$n" "${#hostile[@]}"
expect_contains "one connection for the whole run" "$out" "connects=1"
expect_eq "connections seen by the relay" "$(cat "$d/sent.log.count")" 1

# Every command line on the wire: curl's login, then ours only.
python3 - "$d/sent.log" >"$d/wire.txt" <<'PY'
import re, sys
data = open(sys.argv[1], "rb").read()
ok = re.compile(rb'^(A\d{3} (CAPABILITY|AUTHENTICATE PLAIN [A-Za-z0-9+/=]+)'
                rb'|Q\d+ GETQUOTAROOT "([\x20\x21\x23-\x5b\x5d-\x7e]|\\\\|\\")*"'
                rb'|Q\d+ LIST "" ""'
                rb'|A\d{3} LOGOUT)$')
lines = data.split(b"\r\n")
assert lines[-1] == b"", "data after the last CRLF"
bad = [l for l in lines[:-1] if not ok.match(l)]
gq = sum(1 for l in lines if b" GETQUOTAROOT " in l)
print("lines=%d bad=%d getquotaroot=%d" % (len(lines) - 1, len(bad), gq))
for l in bad:
    print("BAD LINE: %r" % l)
PY
wire=$(cat "$d/wire.txt")
expect_contains "wire" "$wire" "bad=0"
# Refused addresses (control, 8-bit) send nothing: count what was sent.
refused=$(grep -c $'\tQC_ERR_ADDRESS\t' <<<"$out")
expect_eq "GETQUOTAROOT sent" "$(sed -n 's/.*getquotaroot=\([0-9]*\).*/\1/p' <<<"$wire")" \
	$((2 * ${#hostile[@]} - refused))
expect_eq "canary untouched" "$(canary_state)" "$before"
qc_summary
