#!/bin/bash
# quotachk against a private Cyrus 3.6: exit codes and JSON for every
# fixture, with "." and "/" hierarchy separators (mailbox_format = auto,
# discovered with LIST) and with virtdomains names (user.%u@%d).
. "$(dirname "$0")/testlib.sh"
qc_require_servers

dirs=()
cleanup() {
	for d in "${dirs[@]}"; do
		bash "$QC_SERVERS/cyrus.sh" stop "$d" >/dev/null 2>&1 || true
		rm -rf "$d"
	done
}
trap cleanup EXIT

QC=$QC_BUILD/tools/quotachk
K=1024

# run_case LABEL EXIT ADDRESS [SIZE] -- runs quotachk --json, checks the
# exit code and stores the JSON in $out.
run_case() {
	local label=$1 want=$2
	shift 2
	out=$("$QC" "${opts[@]}" --json "$@" 2>/dev/null)
	local rc=$?
	expect_eq "$label: exit" "$rc" "$want"
}

check_server() {
	local sep=$1 vd=$2 fmt=$3 domain=example.test
	local d
	d=$(mktemp -d /tmp/qc-it-cyrus.XXXXXX)
	dirs+=("$d")
	local args=(--sep "$sep")
	[ "$vd" = 1 ] && args+=(--virtdomains)
	bash "$QC_SERVERS/cyrus.sh" start "$d" "${args[@]}" >/dev/null 2>&1 ||
		{ fail "cyrus start ($sep vd=$vd)"; return; }
	. "$d/env"
	opts=(--imap_url="imap://127.0.0.1:$CYRUS_PORT/" --imap_tls=none
		--imap_user=cyrus --imap_password_file="$CYRUS_PASSWORD_FILE"
		--mailbox_format="$fmt")
	local s=$CYRUS_SEP t="[$sep vd=$vd $fmt]"
	local mb_alice="user${s}alice"
	[ "$fmt" != auto ] && mb_alice=$(echo "$fmt" | sed "s/%u/alice/; s/%d/$domain/")

	run_case "$t alice fits" 0 alice@$domain 1000
	expect_eq "$t alice verdict" "$(json_get "$out" verdict)" fits
	expect_eq "$t alice mailbox" "$(json_get "$out" mailbox)" "$mb_alice"
	expect_eq "$t alice storage.limit" "$(json_get "$out" storage.limit)" $((1000 * K))
	expect_eq "$t alice storage.used" "$(json_get "$out" storage.used)" $((300 * K))
	expect_eq "$t alice messages" "$(json_get "$out" messages)" null
	expect_eq "$t alice size" "$(json_get "$out" size)" 1000
	expect_eq "$t alice error" "$(json_get "$out" error)" null
	run_case "$t alice exactly the free space" 0 alice@$domain $((700 * K))
	run_case "$t alice one byte over" 1 alice@$domain $((700 * K + 1))
	expect_eq "$t alice one byte over verdict" "$(json_get "$out" verdict)" overquota
	run_case "$t alice larger than the limit" 1 alice@$domain $((1000 * K + 1))
	expect_eq "$t alice too large verdict" "$(json_get "$out" verdict)" toolarge
	run_case "$t plus-addressed, mixed case" 0 Alice+Lists@Example.TEST
	expect_eq "$t plus-addressed mailbox" "$(json_get "$out" mailbox)" "$mb_alice"
	run_case "$t bob over on storage" 1 bob@$domain
	expect_eq "$t bob verdict" "$(json_get "$out" verdict)" overquota
	run_case "$t carol no quota" 0 carol@$domain 99999999
	expect_eq "$t carol verdict" "$(json_get "$out" verdict)" noquota
	expect_eq "$t carol storage" "$(json_get "$out" storage)" null
	run_case "$t dave over on messages" 1 dave@$domain 10
	expect_eq "$t dave messages.used" "$(json_get "$out" messages.used)" 3
	expect_eq "$t dave messages.limit" "$(json_get "$out" messages.limit)" 2
	run_case "$t erin at the limit" 1 erin@$domain
	expect_eq "$t erin verdict" "$(json_get "$out" verdict)" overquota
	run_case "$t unknown mailbox" 2 nosuchuser@$domain
	expect_eq "$t unknown verdict" "$(json_get "$out" verdict)" nouser
	run_case "$t domain not in domains" 0 alice@other.test --domains=example.test
	expect_eq "$t not checked verdict" "$(json_get "$out" verdict)" notchecked
	if [ "$sep" = slash ] && [ "$vd" = 0 ]; then
		run_case "$t dot in local part" 0 frank.smith@$domain
		expect_eq "$t frank.smith mailbox" "$(json_get "$out" mailbox)" user/frank.smith
	fi
}

check_server dot 0 auto
check_server slash 0 auto
check_server dot 1 'user.%u@%d'
check_server slash 1 'user/%u@%d'

# Failure modes, on the last server.
. "${dirs[-1]}/env"
base=(--imap_url="imap://127.0.0.1:$CYRUS_PORT/" --imap_tls=none --imap_user=cyrus)
pw=$(head -n1 "$CYRUS_PASSWORD_FILE")

bad=$(mktemp /tmp/qc-it-pw.XXXXXX); echo "wrong-$pw" >"$bad"; chmod 600 "$bad"
out=$("$QC" "${base[@]}" --imap_password_file="$bad" --json alice@example.test 2>&1); rc=$?
expect_eq "wrong password: exit" "$rc" 3
expect_eq "wrong password: verdict" "$(json_get "$out" verdict)" error
expect_not_contains "wrong password output" "$out" "wrong-$pw"
chmod 644 "$bad"
out=$("$QC" "${base[@]}" --imap_password_file="$bad" alice@example.test 2>&1); rc=$?
expect_eq "world-readable password file: exit" "$rc" 78
expect_contains "world-readable password file: message" "$out" "readable by everyone"
rm -f "$bad"

out=$("$QC" --imap_url=imap://127.0.0.1:1/ --imap_tls=none --imap_user=cyrus \
	--imap_password_file="$CYRUS_PASSWORD_FILE" --imap_timeout=2s alice@example.test 2>&1); rc=$?
expect_eq "server down: exit" "$rc" 3
expect_not_contains "server down output" "$out" "$pw"

out=$("$QC" "${base[@]}" alice@example.test 2>&1); rc=$?
expect_eq "no imap_password_file: exit" "$rc" 78
expect_contains "no imap_password_file: message" "$out" "imap_password_file"
out=$("$QC" "${base[@]}" --imap_password_file="$CYRUS_PASSWORD_FILE" --imap_timeout=never a@b 2>&1); rc=$?
expect_eq "bad value: exit" "$rc" 78
expect_contains "bad value: message" "$out" "imap_timeout"
out=$("$QC" "${base[@]}" --no_such_key=1 a@b 2>&1); rc=$?
expect_eq "unknown key: exit" "$rc" 78
out=$("$QC" "${base[@]}" --imap_password_file="$CYRUS_PASSWORD_FILE" 2>&1); rc=$?
expect_eq "missing address: exit" "$rc" 64
out=$("$QC" "${base[@]}" --imap_password_file="$CYRUS_PASSWORD_FILE" a@b 12x 2>&1); rc=$?
expect_eq "bad size: exit" "$rc" 64
out=$("$QC" --frobnicate 2>&1); rc=$?
expect_eq "unknown option: exit" "$rc" 64
cfg=$(mktemp /tmp/qc-it-conf.XXXXXX)
printf 'imap_url = imap://127.0.0.1:%s/\nimap_tls = none\nimap_user = cyrus\nimap_password_file = %s\n' \
	"$CYRUS_PORT" "$CYRUS_PASSWORD_FILE" >"$cfg"
out=$("$QC" -c "$cfg" --mailbox_format='user/%u@%d' bob@example.test 2>&1); rc=$?
expect_eq "config file + override: exit" "$rc" 1
out=$("$QC" --config="$cfg" --mailbox_format='user/%u@%d' --json erin@example.test 2>&1); rc=$?
expect_eq "--config=FILE: verdict" "$(json_get "$out" verdict)" overquota
echo "imap_timeout = 5 parsecs" >>"$cfg"
out=$("$QC" -c "$cfg" a@b 2>&1); rc=$?
expect_eq "bad config file: exit" "$rc" 78
expect_contains "bad config file: names file and line" "$out" "$cfg line 5"
rm -f "$cfg"
out=$("$QC" --help); rc=$?
expect_eq "--help: exit" "$rc" 0
expect_contains "--help lists keys" "$out" "--imap_password_file=VALUE"
out=$("$QC" --version); rc=$?
expect_eq "--version: exit" "$rc" 0
expect_contains "--version" "$out" "quotachk"

qc_summary
