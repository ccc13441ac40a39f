#!/bin/bash
# quotachk and quotachk-report against a real Cyrus Murder
# (tests/servers/murder.sh: mupdate master, backends be1 and be2, frontends
# fe1 and fe2), always through a frontend:
#   - every fixture's verdict and exit code, plus-address, unknown mailbox;
#   - quotachk-report lists the mailboxes of both backends;
#   - a backend down: the frontend answers "NO Server(s) unavailable",
#     which is exit 3 / verdict error, never "no such mailbox" (exit 2),
#     also with two frontends listed (a NO is an answer: no failover);
#   - failover, imap_url = fe1, fe2: fe1 stopped (refuses connections),
#     SIGKILLed, or hung (SIGSTOP: connects, never greets): the same exit
#     codes as with one healthy frontend, a refused fe1 costs no time, a
#     hung one less than imap_timeout; both down: exit 3 naming both.
# Runs with QC_INTEGRATION=1 as root; about 20 s.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=murder-test
. "$QC_SERVERS/lib.sh"

QC=$QC_BUILD/tools/quotachk
R=$QC_BUILD/tools/quotachk-report
K=1024
D=$(mktemp -d /tmp/qc-it-murder.XXXXXX) || exit 1
FROZEN=

cleanup() {
	local rc=$?
	[ -n "$FROZEN" ] && kill -CONT $FROZEN 2>/dev/null
	bash "$QC_SERVERS/murder.sh" stop "$D" >/dev/null 2>&1
	qc_remove_tmp "$D" "$rc"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

t0=$(qc_now)
bash "$QC_SERVERS/murder.sh" start "$D" >/dev/null 2>"$D.start.log" ||
	{ cat "$D.start.log"; rm -f "$D.start.log"; fail "murder start"; qc_summary; exit 1; }
rm -f "$D.start.log"
. "$D/env"
echo "# murder up in $(qc_elapsed "$t0")s"
FE1=imap://127.0.0.1:$MURDER_FE1_PORT/
FE2=imap://127.0.0.1:$MURDER_FE2_PORT/
base=(--imap_tls=none --imap_user="$MURDER_ADMIN"
	--imap_password_file="$MURDER_PASSWORD_FILE" --mailbox_format=auto)

# run_case LABEL EXIT URL ADDRESS [SIZE...]: quotachk --json; the JSON goes
# to $out, the seconds it took to $took.
run_case() {
	local label=$1 want=$2 url=$3 start rc
	shift 3
	start=$(qc_now)
	out=$("$QC" "${base[@]}" --imap_url="$url" --json "$@" 2>/dev/null)
	rc=$?
	took=$(qc_elapsed "$start")
	expect_eq "$label: exit" "$rc" "$want"
}

# fixtures URL TAG: every fixture through URL, as on a single server.
fixtures() {
	local url=$1 t=$2
	run_case "$t alice fits" 0 "$url" alice@example.test 1000
	expect_eq "$t alice verdict" "$(json_get "$out" verdict)" fits
	expect_eq "$t alice storage.used" "$(json_get "$out" storage.used)" $((300 * K))
	expect_eq "$t alice storage.limit" "$(json_get "$out" storage.limit)" $((1000 * K))
	run_case "$t alice one byte over" 1 "$url" alice@example.test $((700 * K + 1))
	run_case "$t plus-address" 0 "$url" Alice+Lists@Example.TEST
	expect_eq "$t plus-address mailbox" "$(json_get "$out" mailbox)" user.alice
	run_case "$t bob over quota" 1 "$url" bob@example.test
	expect_eq "$t bob verdict" "$(json_get "$out" verdict)" overquota
	run_case "$t carol no quota" 0 "$url" carol@example.test 99999999
	expect_eq "$t carol verdict" "$(json_get "$out" verdict)" noquota
	run_case "$t dave over on messages" 1 "$url" dave@example.test
	expect_eq "$t dave messages.limit" "$(json_get "$out" messages.limit)" 2
	run_case "$t unknown mailbox" 2 "$url" nosuch@example.test
	expect_eq "$t unknown verdict" "$(json_get "$out" verdict)" nouser
}

# fast LABEL LIMIT: $took is below LIMIT seconds.
fast() {
	if awk -v t="$took" -v l="$2" 'BEGIN { exit !(t < l) }'; then
		pass "$1: ${took}s < ${2}s"
	else
		fail "$1: took ${took}s, allowed < ${2}s"
	fi
}

node_pids() {
	local master
	master=$(cat "$D/$1/master.pid") || return 1
	echo "$master" $(_qc_descendants "$master")
}

# ---- through a frontend, as on one server ----------------------------------
fixtures "$FE1" "[fe1]"
fixtures "$FE2" "[fe2]"

# ---- quotachk-report: the whole cluster through one frontend ----------------
json=$("$R" "${base[@]}" --imap_url="$FE1" --format=json)
expect_eq "report: exit (complete)" "$?" 0
expect_eq "report: mailboxes of both backends" \
	"$(python3 -c 'import json,sys; print(" ".join(sorted(m["mailbox"] for m in json.loads(sys.argv[1])["mailboxes"])))' "$json")" \
	"user.alice user.bob user.canary user.carol user.dave user.erin"
expect_eq "report: bob (on be2) storage" \
	"$(python3 -c 'import json,sys; b=[m for m in json.loads(sys.argv[1])["mailboxes"] if m["mailbox"]=="user.bob"][0]; print(b["storage"]["used"], b["storage"]["limit"])' "$json")" \
	"$((300 * K)) $((100 * K))"

# ---- a backend down: "NO Server(s) unavailable" is an error, not nouser ------
bash "$QC_SERVERS/murder.sh" stop-node "$D" be2 >/dev/null 2>&1 || fail "stop be2"
for urls in "$FE1" "$FE1, $FE2"; do
	t="[be2 down, imap_url=$urls]"
	run_case "$t bob" 3 "$urls" bob@example.test
	expect_eq "$t bob verdict" "$(json_get "$out" verdict)" error
	expect_contains "$t bob error" "$(json_get "$out" error)" "Server(s) unavailable"
	fast "$t bob answered at once (a NO is an answer, no failover)" 1
	run_case "$t alice on be1 still fits" 0 "$urls" alice@example.test
	run_case "$t unknown mailbox still nouser" 2 "$urls" nosuch@example.test
done
json=$("$R" "${base[@]}" --imap_url="$FE1" --format=json)
expect_eq "[be2 down] report: exit (partial)" "$?" 1
expect_eq "[be2 down] report: listed | errors" \
	"$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(" ".join(sorted(m["mailbox"] for m in r["mailboxes"])), "|", " ".join(sorted(e["mailbox"] for e in r["errors"])))' "$json")" \
	"user.alice user.canary user.carol | user.bob user.dave user.erin"
expect_not_contains "[be2 down] report errors" "$json" "no such mailbox"
bash "$QC_SERVERS/murder.sh" start-node "$D" be2 >/dev/null 2>&1 || fail "restart be2"
run_case "[be2 back] bob" 1 "$FE1" bob@example.test

# ---- failover between frontends ---------------------------------------------
base+=(--imap_timeout=3s)
run_case "[fe1, fe2 both up] alice" 0 "$FE1, $FE2" alice@example.test

bash "$QC_SERVERS/murder.sh" stop-node "$D" fe1 >/dev/null 2>&1 || fail "stop fe1"
run_case "[fe1 stopped] fe1 alone: could not tell" 3 "$FE1" alice@example.test
fixtures "$FE1, $FE2" "[fe1 stopped, imap_url=fe1, fe2]"
json=$("$R" "${base[@]}" --imap_url="$FE1, $FE2" --format=json)
expect_eq "[fe1 stopped] report through fe2: exit" "$?" 0
expect_eq "[fe1 stopped] report: every mailbox" \
	"$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["mailboxes"]))' "$json")" 6
run_case "[fe1 stopped] space separated" 1 "$FE1 $FE2" bob@example.test
fast "[fe1 stopped] refused fe1 costs no time" 1
expect_eq "[fe1 stopped] no error reported" "$(json_get "$out" error)" null

bash "$QC_SERVERS/murder.sh" start-node "$D" fe1 >/dev/null 2>&1 || fail "restart fe1"
run_case "[fe1 restarted] fe1 alone" 0 "$FE1" alice@example.test
kill -KILL $(node_pids fe1)
sleep 0.2
run_case "[fe1 SIGKILLed] bob" 1 "$FE1,$FE2" bob@example.test
fast "[fe1 SIGKILLed] within imap_timeout" 3
run_case "[fe1 SIGKILLed] unknown" 2 "$FE1,$FE2" nosuch@example.test

bash "$QC_SERVERS/murder.sh" start-node "$D" fe1 >/dev/null 2>&1 || fail "restart fe1"
FROZEN=$(node_pids fe1)
kill -STOP $FROZEN
run_case "[fe1 hung] fe1 alone: timeout" 3 "$FE1" alice@example.test
fast "[fe1 hung] fe1 alone bounded by imap_timeout" 4
run_case "[fe1 hung] alice through fe2" 0 "$FE1, $FE2" alice@example.test
fast "[fe1 hung] within imap_timeout" 3
run_case "[fe1 hung] bob through fe2" 1 "$FE1, $FE2" bob@example.test
kill -CONT $FROZEN
FROZEN=

bash "$QC_SERVERS/murder.sh" stop-node "$D" fe1 >/dev/null 2>&1
bash "$QC_SERVERS/murder.sh" stop-node "$D" fe2 >/dev/null 2>&1
run_case "[both frontends down]" 3 "$FE1, $FE2" alice@example.test
err=$(json_get "$out" error)
expect_contains "[both down] error names fe1" "$err" "$FE1"
expect_contains "[both down] error names fe2" "$err" "$FE2"

# ---- a list that is wrong is a configuration error --------------------------
cfg=$D/quotachk.conf
printf 'imap_url = %s,\n  ftp://127.0.0.1/\nimap_user = cyrus\n' "$FE1" >"$cfg"
out=$("$QC" -c "$cfg" alice@example.test 2>&1)
expect_eq "bad URL in the list: exit" "$?" 78
expect_contains "bad URL in the list: message" "$out" "$cfg line 1: imap_url = "
expect_contains "bad URL in the list: which one" "$out" "URL 2 (ftp://127.0.0.1/) must be imap://"

echo "# total $(qc_elapsed "$t0")s"
qc_summary
