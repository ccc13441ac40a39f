#!/bin/bash
# Truth test against real delivery (issue 9): Cyrus lmtpd with
# lmtp_strict_quota: no (the default; quotachk quota_rule = cyrus) and
# lmtp_strict_quota: yes (quota_rule = strict), one Cyrus instance with two
# lmtpd services.  truth-lmtp.py has the grid, the calibration and the
# rounding window; this prints its agreement table and fails when any
# point outside the window disagrees or one inside leans towards refusing.
. "$(dirname "$0")/testlib.sh"
qc_require_servers

d=$(mktemp -d /tmp/qc-it-truth-lmtp.XXXXXX)
trap 'bash "$QC_SERVERS/cyrus.sh" stop "$d" >/dev/null 2>&1; qc_remove_tmp "$d"' EXIT
bash "$QC_SERVERS/cyrus.sh" start "$d" --sep dot --lmtp-strict >/dev/null 2>&1 ||
	{ fail "cyrus start with lmtpd (see $d/master.log)"; qc_summary; exit; }
. "$d/env"
t0=$SECONDS
if python3 "$QC_TOP/tests/integration/truth-lmtp.py" --server cyrus --env "$d/env" \
	--quotachk "$QC_BUILD/tools/quotachk" \
	--setting "cyrus-lmtp_strict_quota-no:$CYRUS_LMTP_PORT:cyrus:0" \
	--setting "cyrus-lmtp_strict_quota-yes:$CYRUS_LMTP_STRICT_PORT:strict:0"; then
	pass "quotachk agrees with Cyrus lmtpd delivery ($((SECONDS - t0)) s)"
else
	fail "quotachk disagrees with Cyrus lmtpd delivery (see the FAIL lines above)"
fi
qc_summary
