#!/bin/bash
# quotachk-policyd applies quota_rule (issue 9): the same three requests in
# spawn mode under "strict" and "cyrus" against the Cyrus fixtures, and a
# decision inside the KiB rounding window logged with window=yes.  Also
# qc_client_check() (through tests/qc-driver) follows the config's rule.
#   erin:  200 KiB of 200 (exactly at the limit as reported)
#   alice: 300 KiB of 1000, a message bigger than the whole limit
#   bob:   300 KiB of 100 (over)
. "$(dirname "$0")/testlib.sh"
qc_require_servers

d=$(mktemp -d /tmp/qc-it-policyd-rule.XXXXXX)
trap 'bash "$QC_SERVERS/cyrus.sh" stop "$d" >/dev/null 2>&1; qc_remove_tmp "$d"' EXIT
bash "$QC_SERVERS/cyrus.sh" start "$d" --sep dot >/dev/null 2>&1 || { fail "cyrus start"; qc_summary; exit; }
. "$d/env"

req() { printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=%s\nsize=%s\n\n' "$1" "$2"; }
ask() { # ask RULE: the three answers on one line; the log in $d/RULE.log
	{ req erin@example.test 1000; req alice@example.test 2000000; req bob@example.test 1; } |
		timeout 30 "$QC_BUILD/tools/quotachk-policyd" --imap_url="imap://127.0.0.1:$CYRUS_PORT/" \
			--imap_tls=none --imap_user=cyrus --imap_password_file="$CYRUS_PASSWORD_FILE" \
			--log=stderr --quota_rule="$1" 2>"$d/$1.log" | grep . | tr '\n' '|'
}

out=$(ask strict)
expect_eq "strict: erin at the limit, alice too large, bob over" "$out" \
	"action=452 4.2.2 Mailbox full|action=552 5.2.3 Message larger than the mailbox quota|action=452 4.2.2 Mailbox full|"
log=$(cat "$d/strict.log")
expect_not_contains "strict: no decision inside the window" "$log" "window=yes"

out=$(ask cyrus)
expect_eq "cyrus: erin and alice delivered by lmtpd, bob over" "$out" \
	"action=DUNNO|action=DUNNO|action=452 4.2.2 Mailbox full|"
log=$(cat "$d/cyrus.log")
expect_contains "cyrus: erin's decision is flagged as inside the window" "$log" \
	'recipient=erin@example.test mailbox=user.erin used=204800 limit=204800 size=1000 verdict=fits action="DUNNO"'
erin=$(grep 'recipient=erin@' "$d/cyrus.log")
case $erin in
*' window=yes') pass "cyrus: erin's line ends in window=yes" ;;
*) fail "cyrus: erin's line does not end in window=yes: $erin" ;;
esac
alice=$(grep 'recipient=alice@' "$d/cyrus.log")
expect_not_contains "cyrus: alice is not in the window" "$alice" "window=yes"

drive() { # drive RULE: qc_client_check() verdicts for erin, alice (2 MB)
	printf 'erin@example.test\nalice@example.test\n' |
		"$QC_BUILD/tests/qc-driver" --imap_url="imap://127.0.0.1:$CYRUS_PORT/" \
			--imap_tls=none --imap_user=cyrus --imap_password_file="$CYRUS_PASSWORD_FILE" \
			--size=2000000 --quota_rule="$1" | grep @ | cut -f3 | tr '\n' ' '
}
expect_eq "qc_client_check, strict" "$(drive strict)" "toolarge toolarge "
expect_eq "qc_client_check, cyrus" "$(drive cyrus)" "fits fits "

out=$("$QC_BUILD/tools/quotachk-policyd" --imap_url="imap://127.0.0.1:$CYRUS_PORT/" \
	--imap_tls=none --imap_user=cyrus --imap_password_file="$CYRUS_PASSWORD_FILE" \
	--log=stderr --quota_rule=lmtp </dev/null 2>&1)
expect_contains "a bad quota_rule names the key and what is allowed" "$out" \
	'quota_rule = lmtp: must be "strict", "cyrus" or "dovecot"'
qc_summary
