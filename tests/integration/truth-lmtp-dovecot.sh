#!/bin/bash
# Truth test against real delivery (issue 9): Dovecot LMTP with
# quota_grace = 10% (Dovecot's default) and 0, quotachk quota_rule =
# dovecot with the same quota_grace.  quota_grace is a global setting, so
# each runs its own instance.  See truth-lmtp.py for the grid.
. "$(dirname "$0")/testlib.sh"
qc_require_servers

if [ ! -x /usr/lib/dovecot/lmtp ]; then
	fail "Dovecot LMTP is missing: install dovecot-lmtpd (tests/servers/install-deps.sh)"
	qc_summary
	exit
fi
d=$(mktemp -d /tmp/qc-it-truth-lmtp-dovecot.XXXXXX)
trap 'for g in 10 0; do bash "$QC_SERVERS/dovecot.sh" stop "$d/g$g" >/dev/null 2>&1; done; qc_remove_tmp "$d"' EXIT
# Dovecot's unprivileged processes must reach the instances inside.
chmod 0755 "$d"
for g in 10 0; do
	mkdir "$d/g$g"
	bash "$QC_SERVERS/dovecot.sh" start "$d/g$g" --lmtp --grace "$g%" >/dev/null 2>&1 ||
		{ fail "dovecot start with LMTP, quota_grace=$g% (see $d/g$g/dovecot.log)"; qc_summary; exit; }
done
for g in 10 0; do
	port=$(sed -n 's/^DOVECOT_LMTP_PORT=//p' "$d/g$g/env")
	t0=$SECONDS
	if python3 "$QC_TOP/tests/integration/truth-lmtp.py" --server dovecot \
		--env "$d/g$g/env" --quotachk "$QC_BUILD/tools/quotachk" \
		--setting "dovecot-lmtp-quota_grace-$g%:$port:dovecot:$g%"; then
		pass "quotachk agrees with Dovecot LMTP delivery, quota_grace=$g% ($((SECONDS - t0)) s)"
	else
		fail "quotachk disagrees with Dovecot LMTP delivery, quota_grace=$g% (see the FAIL lines above)"
	fi
done
qc_summary
