#!/bin/bash
# A hierarchy separator in a local part must not reach another user's
# folder (issue 8.4), on a real Cyrus with each separator:
#   "." (unixhierarchysep off): bob.smith@ is user.bob^smith, never
#       user.bob.smith (a folder of bob, answered with bob's quota); a user
#       with a dot in the name (user.frank^smith, made here) is found;
#   "/" (on): bob/x@ names no mailbox (nouser), never user/bob/x.
# Both with mailbox_format = auto and with an explicit format.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
[ -x /usr/lib/cyrus/bin/master ] || { echo "SKIP: Cyrus not installed"; exit 77; }

QC=$QC_BUILD/tools/quotachk
dirs=()
cleanup() {
	local rc=$? d
	for d in "${dirs[@]}"; do
		bash "$QC_SERVERS/cyrus.sh" stop "$d" >/dev/null 2>&1 || true
		qc_remove_tmp "$d" "$rc"
	done
	exit "$rc"
}
trap cleanup EXIT

# check LABEL FORMAT ADDRESS EXIT VERDICT [MAILBOX]
check() {
	local out rc
	out=$("$QC" "${opts[@]}" --mailbox_format="$2" --json "$3" 2>/dev/null)
	rc=$?
	expect_eq "$1: $3 ($2) exit" "$rc" "$4"
	expect_eq "$1: $3 ($2) verdict" "$(json_get "$out" verdict)" "$5"
	[ -z "${6:-}" ] || expect_eq "$1: $3 ($2) mailbox" "$(json_get "$out" mailbox)" "$6"
}

start() { # start SEP: a Cyrus with that separator; sets opts
	local d
	d=$(mktemp -d /tmp/qc-it-sep.XXXXXX)
	dirs+=("$d")
	bash "$QC_SERVERS/cyrus.sh" start "$d" --sep "$1" >/dev/null 2>"$d.log" ||
		{ fail "cyrus start --sep $1: $(tail -3 "$d.log")"; rm -f "$d.log"; return 1; }
	rm -f "$d.log"
	. "$d/env"
	opts=(--imap_url="imap://127.0.0.1:$CYRUS_PORT/" --imap_tls=none
		--imap_user=cyrus --imap_password_file="$CYRUS_PASSWORD_FILE")
	tool=(python3 "$QC_SERVERS/imap-tool.py" --host 127.0.0.1 --port "$CYRUS_PORT"
		--user cyrus --password-file "$CYRUS_PASSWORD_FILE")
}

if start dot; then
	# bob has a folder "smith"; a user with a dot in the name
	# (user.frank^smith) is what lmtpd delivers frank.smith@ to.
	printf '%s\n' "create user.bob.smith" "create user.frank^smith" \
		"append user.frank^smith 102400 1" "setquota user.frank^smith 1000" |
		"${tool[@]}" batch >/dev/null || fail "creating the folders"
	# The hole: bob's folder is answered with bob's quota root.
	echo "# Cyrus '.': GETQUOTAROOT user.bob.smith -> $("${tool[@]}" getquotaroot user.bob.smith 2>&1 | tr '\r\n' '  ')"
	for fmt in user.%u auto; do
		check "[.]" "$fmt" bob.smith@example.test 2 nouser user.bob^smith
		check "[.]" "$fmt" frank.smith@example.test 0 fits user.frank^smith
		check "[.]" "$fmt" bob@example.test 1 overquota user.bob
	done
	check "[.]" user.%u@%d bob.smith@example.test 2 nouser user.bob^smith@example.test
fi

if start slash; then
	echo "create user/bob/x" | "${tool[@]}" batch >/dev/null || fail "creating user/bob/x"
	echo "# Cyrus '/': GETQUOTAROOT user/bob/x -> $("${tool[@]}" getquotaroot user/bob/x 2>&1 | tr '\r\n' '  ')"
	for fmt in user/%u auto; do
		check "[/]" "$fmt" bob/x@example.test 2 nouser
		check "[/]" "$fmt" frank.smith@example.test 0 fits user/frank.smith
		check "[/]" "$fmt" bob@example.test 1 overquota user/bob
	done
fi
qc_summary
