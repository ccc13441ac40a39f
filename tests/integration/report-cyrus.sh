#!/bin/bash
# quotachk-report against a private Cyrus with 1,000+ mailboxes, for both
# hierarchy separators; a users file; every output format; partial
# failure; an unreachable server; the atomic output file.
. "$(dirname "$0")/testlib.sh"
qc_require_servers

dirs=()
trap 'for d in "${dirs[@]}"; do bash "$QC_SERVERS/cyrus.sh" stop "$d" >/dev/null 2>&1; rm -rf "$d"; done' EXIT
R=$QC_BUILD/tools/quotachk-report
users=1000
fixtures=6   # alice bob carol dave erin canary (+ frank.smith with "/")

for sep in dot slash; do
	d=$(mktemp -d /tmp/qc-it-report.XXXXXX)
	dirs+=("$d")
	bash "$QC_SERVERS/cyrus.sh" start "$d" --sep "$sep" --users "$users" >/dev/null 2>&1 ||
		{ fail "cyrus start ($sep)"; continue; }
	. "$d/env"
	opts=(--imap_url="imap://127.0.0.1:$CYRUS_PORT/" --imap_tls=none --imap_user=cyrus
		--imap_password_file="$CYRUS_PASSWORD_FILE")
	expected=$((users + fixtures))
	[ "$sep" = slash ] && expected=$((expected + 1))
	s=$CYRUS_SEP

	"$R" "${opts[@]}" >"$d/report.json"
	expect_eq "[$sep] exit (complete)" "$?" 0
	# A sample checked against GETQUOTAROOT asked here, not by us.
	line=$(python3 "$QC_SERVERS/imap-tool.py" --port "$CYRUS_PORT" --user cyrus \
		--password-file "$CYRUS_PASSWORD_FILE" getquotaroot "user${s}user0500" | grep '^\* QUOTA ')
	kib=($(sed -n 's/.*(STORAGE \([0-9]*\) \([0-9]*\)).*/\1 \2/p' <<<"$line"))
	REPORT_JSON=$d/report.json REPORT_MAILBOXES=$expected \
	REPORT_SAMPLE="user${s}user0500 $((kib[0] * 1024)) $((kib[1] * 1024))" \
		"$QC_BUILD/tests/test_report_json" >"$d/crit.log" 2>&1
	expect_eq "[$sep] JSON parses back with json-c, count $expected, sample matches" "$?" 0
	grep -q Synthesis "$d/crit.log" && grep -q "Passing: 1" "$d/crit.log" ||
		fail "[$sep] json-c test did not run: $(cat "$d/crit.log")"
	bob=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); b=[m for m in r["mailboxes"] if m["mailbox"]==sys.argv[2]][0]; print(b["storage"]["used"], b["storage"]["limit"], b["storage"]["percent"], r["mailboxes"][0]["mailbox"])' "$d/report.json" "user${s}bob")
	expect_eq "[$sep] bob, fullest first" "$bob" "307200 102400 300.0 user${s}bob"

	out=$("$R" "${opts[@]}" --over=90 --sort=name --format=table)
	expect_eq "[$sep] --over=90 table rows" "$(tail -n +2 <<<"$out" | awk '{print $1}' | tr '\n' ' ')" \
		"user${s}bob user${s}erin "
	expect_contains "[$sep] table human units" "$out" "300.0 KiB"
	out=$("$R" "${opts[@]}" --format=json 'a*' 'b*')
	expect_eq "[$sep] PATTERN narrows" "$(python3 -c 'import json,sys; print(" ".join(sorted(m["mailbox"] for m in json.loads(sys.argv[1])["mailboxes"])))' "$out")" \
		"user${s}alice user${s}bob"
done

# Prometheus, checked line by line against the text exposition format.
"$R" "${opts[@]}" --format=prometheus --output="$d/quota.prom"
expect_eq "prometheus exit" "$?" 0
check=$(python3 - "$d/quota.prom" <<'PY'
import re, sys
metric = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\\n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\\n])*")*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$')
helped, typed, bad, samples = set(), set(), [], {}
for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.rstrip("\n")
    if line.startswith("# HELP "):
        helped.add(line.split()[2]); continue
    if line.startswith("# TYPE "):
        parts = line.split()
        if len(parts) != 4 or parts[3] not in ("gauge", "counter", "untyped", "summary", "histogram"):
            bad.append(n)
        typed.add(parts[2]); continue
    m = metric.match(line)
    if not m or m.group(1) not in typed or m.group(1) not in helped:
        bad.append(n); continue
    samples[m.group(1)] = samples.get(m.group(1), 0) + 1
need = ["quotachk_storage_used_bytes", "quotachk_storage_limit_bytes", "quotachk_messages_used",
        "quotachk_messages_limit", "quotachk_report_success", "quotachk_report_duration_seconds"]
print("bad=%s missing=%s storage_samples=%d" % (bad, [k for k in need if k not in samples],
      samples.get("quotachk_storage_used_bytes", 0)))
PY
)
expect_contains "prometheus format" "$check" "bad=[] missing=[]"
expect_contains "prometheus success" "$(cat "$d/quota.prom")" "quotachk_report_success 1"
grep -q 'quotachk_storage_used_bytes{mailbox="user/bob"} 307200' "$d/quota.prom" &&
	pass "prometheus bob sample" || fail "prometheus bob sample"

# Nagios: each status from its thresholds.
nag() { "$R" "${opts[@]}" --format=nagios "$@" >"$d/nag.out"; echo "$? $(cut -d' ' -f2 "$d/nag.out")"; }
expect_eq "nagios OK" "$(nag --warning=50 --critical=90 alice)" "0 OK"
expect_eq "nagios WARNING" "$(nag --warning=20 --critical=90 alice)" "1 WARNING"
expect_eq "nagios CRITICAL" "$(nag 'b*')" "2 CRITICAL"
expect_contains "nagios perfdata" "$(cat "$d/nag.out")" "| mailboxes=1 critical=1"

# Partial failure: a users file with an unknown and an unusable address.
printf 'alice@example.test\n# a comment\n\nnosuchuser@example.test\ncaf\xc3\xa9@example.test\nbob+x@example.test\n' >"$d/users"
out=$("$R" "${opts[@]}" --mailbox_format=auto --users-file="$d/users")
expect_eq "partial: exit" "$?" 1
# Names are printed as ASCII: a byte outside it as \xHH, so the JSON stays valid.
expect_eq "partial: listed and errors" "$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(" ".join(sorted(m["mailbox"] for m in r["mailboxes"])), "|", " ".join(sorted(e["mailbox"] for e in r["errors"])), r["success"])' "$out")" \
	'alice@example.test bob+x@example.test | caf\xc3\xa9@example.test nosuchuser@example.test True'
expect_eq "partial: nagios UNKNOWN" "$(nag --users-file="$d/users")" "3 UNKNOWN"

# Unreachable server: exit 3, and still a valid Prometheus file.
down=(--imap_url=imap://127.0.0.1:1/ --imap_tls=none --imap_user=cyrus --imap_password_file="$CYRUS_PASSWORD_FILE")
"$R" "${down[@]}" --format=prometheus --output="$d/down.prom" 2>"$d/down.err"
expect_eq "unreachable: exit" "$?" 3
expect_contains "unreachable: prometheus" "$(cat "$d/down.prom")" "quotachk_report_success 0"
expect_contains "unreachable: clear error" "$(cat "$d/down.err")" "cannot connect"
"$R" "${down[@]}" --format=nagios >"$d/nag.out"
expect_eq "unreachable: nagios" "$? $(cut -d' ' -f2 "$d/nag.out")" "3 UNKNOWN"

# Atomic output: a reader polling the file never sees a partial report,
# and no temporary file is left behind.
python3 - "$d/quota.prom" >"$d/reader.out" <<'PY' &
import sys, time
end, reads, partial = time.time() + 6, 0, 0
while time.time() < end:
    try:
        data = open(sys.argv[1]).read()
    except FileNotFoundError:
        continue
    reads += 1
    if not data.rstrip("\n").split("\n")[-1].startswith("quotachk_report_timestamp_seconds"):
        partial += 1
print("reads=%d partial=%d" % (reads, partial))
PY
reader=$!
for i in $(seq 1 15); do "$R" "${opts[@]}" --format=prometheus --output="$d/quota.prom"; done
wait "$reader"
expect_contains "atomic output under concurrent reads" "$(cat "$d/reader.out")" "partial=0"
expect_eq "no temporary files left" "$(ls "$d" | grep -c 'quota.prom.tmp')" 0
qc_summary
