#!/bin/bash
# quotachk against a private Dovecot 2.3 through a master user: the
# master logs in as each recipient (SASL authzid) and asks for INBOX,
# because Dovecot answers any GETQUOTAROOT with the logged-in user's own
# quota.  Unknown users fail the login with [AUTHORIZATIONFAILED]: that is
# "no such mailbox"; a wrong master password is an error.
. "$(dirname "$0")/testlib.sh"
qc_require_servers

d=$(mktemp -d /tmp/qc-it-dovecot.XXXXXX)
trap 'bash "$QC_SERVERS/dovecot.sh" stop "$d" >/dev/null 2>&1; rm -rf "$d"' EXIT
bash "$QC_SERVERS/dovecot.sh" start "$d" >/dev/null 2>&1 || { fail "dovecot start"; qc_summary; exit; }
. "$d/env"
QC=$QC_BUILD/tools/quotachk
K=1024
opts=(--imap_url="imap://127.0.0.1:$DOVECOT_PORT/" --imap_tls=none
	--imap_user="$DOVECOT_MASTER" --imap_password_file="$DOVECOT_PASSWORD_FILE"
	--imap_authzid=%u --mailbox_format=INBOX)

run_case() {
	local label=$1 want=$2
	shift 2
	out=$("$QC" "${opts[@]}" --json "$@" 2>/dev/null)
	expect_eq "$label: exit" "$?" "$want"
}

run_case "alice fits" 0 alice@example.test 1000
expect_eq "alice verdict" "$(json_get "$out" verdict)" fits
expect_eq "alice mailbox" "$(json_get "$out" mailbox)" INBOX
expect_eq "alice quota root" "$(json_get "$out" quota_root)" "User quota"
expect_eq "alice storage.limit" "$(json_get "$out" storage.limit)" $((1000 * K))
used=$(json_get "$out" storage.used)
free=$((1000 * K - used))
run_case "alice exactly the free space" 0 alice@example.test "$free"
run_case "alice one byte over" 1 alice@example.test $((free + 1))
run_case "alice larger than the limit" 1 alice@example.test $((1000 * K + 1))
expect_eq "alice too large" "$(json_get "$out" verdict)" toolarge
run_case "plus-addressed, mixed case" 0 Alice+Tag@Example.TEST
run_case "bob over on storage" 1 bob@example.test
expect_eq "bob verdict" "$(json_get "$out" verdict)" overquota
run_case "carol no quota (bare OK No quota)" 0 carol@example.test 99999999
expect_eq "carol verdict" "$(json_get "$out" verdict)" noquota
run_case "dave over on messages" 1 dave@example.test 10
expect_eq "dave messages.limit" "$(json_get "$out" messages.limit)" 2
run_case "erin at the limit" 1 erin@example.test
out=$("$QC" "${opts[@]}" --mailbox_format=auto --json bob@example.test 2>/dev/null)
expect_eq "mailbox_format=auto with a per-user authzid asks INBOX" \
	"$?:$(json_get "$out" mailbox):$(json_get "$out" verdict)" "1:INBOX:overquota"
run_case "unknown user" 2 nosuchuser@example.test
expect_eq "unknown verdict" "$(json_get "$out" verdict)" nouser

# One client, many recipients: one login per recipient (authzid changes).
out=$(printf 'alice@example.test\nbob@example.test\nnosuch@example.test\nalice@example.test\n' |
	"$QC_BUILD/tests/qc-driver" "${opts[@]}")
expect_eq "driver verdicts" "$(cut -f3 <<<"$out" | head -4 | tr '\n' ' ')" \
	"fits overquota nouser fits "
expect_contains "a login per recipient change" "$out" "connects=4 errors=0"

# A fixed authzid keeps its connection.
out=$(printf 'alice@example.test\nbob@example.test\n' |
	"$QC_BUILD/tests/qc-driver" "${opts[@]}" --imap_authzid=alice)
expect_contains "fixed authzid reuses the connection" "$out" "connects=1 errors=0"

# quotachk-report with a users file through the master user: Dovecot
# cannot list other users' mailboxes, so this is how reports run there.
printf 'alice@example.test\nbob@example.test\ncarol@example.test\ndave@example.test\nnosuchuser@example.test\n' >"$d/report-users"
out=$("$QC_BUILD/tools/quotachk-report" "${opts[@]}" --users-file="$d/report-users" --sort=name)
expect_eq "report: exit (partial: one unknown user)" "$?" 1
expect_eq "report: values" "$(python3 -c '
import json, sys
r = json.loads(sys.argv[1])
for m in r["mailboxes"]:
    s, g = m["storage"], m["messages"]
    print(m["mailbox"], s and s["used"], s and s["limit"], g and g["used"], g and g["limit"], end="; ")
print("errors:", [e["mailbox"] for e in r["errors"]])' "$out")" \
	"alice@example.test $used $((1000 * K)) None None; bob@example.test $((300 * K)) $((100 * K)) None None; carol@example.test None None None None; dave@example.test $((3 * K)) $((5000 * K)) 3 2; errors: ['nosuchuser@example.test']"

bad=$(mktemp /tmp/qc-it-pw.XXXXXX); echo wrong >"$bad"; chmod 600 "$bad"
out=$("$QC" "${opts[@]}" --imap_password_file="$bad" --json alice@example.test 2>&1)
expect_eq "wrong master password: exit" "$?" 3
expect_contains "wrong master password: error" "$(json_get "$out" error)" "AUTHENTICATIONFAILED"
rm -f "$bad"
qc_summary
