#!/bin/bash
# quotachk-report's progress line (issue 12 part 4) against a private
# Cyrus, under a real terminal (script(1) gives the report a pty): the
# terminal gets done/total with the right total, a rate and the time left,
# redrawn a few times a second, while stdout holds valid JSON; without a
# terminal (cron) nothing; --quiet silences it, --progress forces it; a
# server lost in mid-run clears the line before the error.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
command -v script >/dev/null || { echo "SKIP: script(1) (bsdutils) missing"; exit 77; }

d=$(mktemp -d /tmp/qc-it-progress.XXXXXX)
chmod 755 "$d" # Cyrus, as user cyrus, must reach its directory inside
trap 'bash "$QC_SERVERS/cyrus.sh" stop "$d/cyrus" >/dev/null 2>&1; qc_remove_tmp "$d"' EXIT
R=$QC_BUILD/tools/quotachk-report
users=300
expected=$((users + 6)) # + alice bob carol dave erin canary
qc_start_cyrus "$d/cyrus" --users "$users"
opts="--imap_url=imap://127.0.0.1:$CYRUS_PORT/ --imap_tls=none --imap_user=cyrus --imap_password_file=$CYRUS_PASSWORD_FILE"

# on_tty OUT CMD: run CMD with a pty as its terminal; what the terminal
# showed goes to OUT; prints CMD's exit status.
on_tty() {
	script -q -e -c "$2" /dev/null </dev/null >"$1" 2>&1
	echo $?
}

# frames FILE [SECONDS]: the progress lines drawn in FILE, checked: every
# line of counts has one total, done never goes back, rate and time left
# appear once something was asked; with SECONDS (the run's wall time) the
# number of redraws stays within five a second.
frames() {
	python3 - "$@" <<'PY'
import re, sys
data = open(sys.argv[1], "rb").read().decode("ascii", "replace")
lines = [l.rstrip(" ") for l in re.split(r"[\r\n]", data)]
frames = [l for l in lines if l.startswith("quotachk-report: ")]
count = re.compile(r"^quotachk-report: (\d+)/(\d+) mailboxes \((\d+)%\)"
                   r"(, ([0-9.]+)/s, (\d+:)?\d+:\d\d left)?$")
listing = [f for f in frames if re.match(r"^quotachk-report: listing mailboxes, \d+ so far$", f)]
counts = [count.match(f) for f in frames if " mailboxes (" in f]
bad = [f for f in frames if f not in listing and not count.match(f)]
totals = sorted(set(m.group(2) for m in counts if m))
done = [int(m.group(1)) for m in counts if m]
middle = [m for m in counts if m and 0 < int(m.group(1)) < int(m.group(2)) and m.group(4)]
print("listing=%s totals=%s bad=%d monotonic=%s middle=%s" % (
    "yes" if listing else "no", ",".join(totals), len(bad),
    "yes" if done == sorted(done) else "no", "yes" if middle else "no"))
print("first=%s" % (counts[0].group(0) if counts else "-"))
print("last=%s" % re.sub(r", [0-9.]+/s,", ", R/s,", counts[-1].group(0) if counts else "-"))
print("ends_with_newline=%s" % ("yes" if data.endswith("left\r\n") or data.endswith("left\n") else "no"))
if len(sys.argv) > 2:
    limit = 5 * float(sys.argv[2]) + 4   # first, phase change, final, rounding
    print("redraws_within_limit=%s (%d in %.2f s)" % (
        "yes" if 3 <= len(frames) <= limit else "no", len(frames), float(sys.argv[2])))
PY
}

json_count() {
	python3 -c 'import json,sys
try: print(len(json.load(open(sys.argv[1]))["mailboxes"]))
except Exception as e: print("INVALID-JSON", e)' "$1"
}

# A terminal, mailboxes listed (Cyrus LIST): the counting phase, then
# done/total with the total of the LIST, the final line ended.
rc=$(on_tty "$d/list.term" "$R $opts >$d/list.json")
expect_eq "tty list: exit" "$rc" 0
expect_eq "tty list: stdout is the JSON report" "$(json_count "$d/list.json")" "$expected"
out=$(frames "$d/list.term")
expect_contains "tty list: progress lines" "$out" "listing=yes totals=$expected bad=0 monotonic=yes"
expect_contains "tty list: starts at 0" "$out" "first=quotachk-report: 0/$expected mailboxes (0%)"
expect_contains "tty list: ends complete" "$out" \
	"last=quotachk-report: $expected/$expected mailboxes (100%), R/s, 0:00 left"
expect_contains "tty list: line ended" "$out" "ends_with_newline=yes"
expect_eq "tty list: no progress in stdout" "$(grep -c 'mailboxes (' "$d/list.json")" 0

# A terminal, a users file long enough to be redrawn while it runs: rate
# and time left in mid-run, at most five redraws a second.
for i in $(seq 1 5); do for u in $(seq 1 "$users"); do printf 'user%04d@example.test\n' "$u"; done; done >"$d/users"
t0=$(date +%s.%N)
rc=$(on_tty "$d/users.term" "$R $opts --mailbox_format=auto --users-file=$d/users --format=table >$d/users.table")
t1=$(date +%s.%N)
expect_eq "tty users file: exit" "$rc" 0
expect_eq "tty users file: report rows" "$(($(wc -l <"$d/users.table") - 1))" $((users * 5))
out=$(frames "$d/users.term" "$(awk "BEGIN { print $t1 - $t0 }")")
expect_contains "tty users file: progress" "$out" "totals=$((users * 5)) bad=0 monotonic=yes middle=yes"
expect_contains "tty users file: rate limited" "$out" "redraws_within_limit=yes"
expect_contains "tty users file: ends complete" "$out" \
	"last=quotachk-report: $((users * 5))/$((users * 5)) mailboxes (100%), R/s, 0:00 left"

# No terminal (cron, a plain redirect): no progress at all.
"$R" $opts >"$d/cron.json" 2>"$d/cron.err"
expect_eq "cron: exit" "$?" 0
expect_eq "cron: stderr empty" "$(wc -c <"$d/cron.err")" 0
expect_eq "cron: JSON" "$(json_count "$d/cron.json")" "$expected"

# --quiet on a terminal: nothing on it.
rc=$(on_tty "$d/quiet.term" "$R $opts --quiet >$d/quiet.json")
expect_eq "tty --quiet: exit" "$rc" 0
expect_eq "tty --quiet: terminal empty" "$(wc -c <"$d/quiet.term")" 0
expect_eq "tty --quiet: JSON" "$(json_count "$d/quiet.json")" "$expected"

# --progress without a terminal: progress on stderr (a file), never stdout.
"$R" $opts --progress >"$d/forced.json" 2>"$d/forced.err"
expect_eq "--progress: exit" "$?" 0
expect_eq "--progress: JSON on stdout" "$(json_count "$d/forced.json")" "$expected"
out=$(frames "$d/forced.err")
expect_contains "--progress: on stderr" "$out" "listing=yes totals=$expected bad=0"
expect_contains "--progress: ends complete" "$out" \
	"last=quotachk-report: $expected/$expected mailboxes (100%), R/s, 0:00 left"

# Both: a usage error.
"$R" $opts --progress --quiet >/dev/null 2>"$d/both.err"
expect_eq "--progress --quiet: exit" "$?" 64
expect_contains "--progress --quiet: says why" "$(cat "$d/both.err")" "exclude each other"

# A server never reached: no progress, only the error.
rc=$(on_tty "$d/down.term" "$R --imap_url=imap://127.0.0.1:1/ --imap_tls=none --imap_user=cyrus --imap_password_file=$CYRUS_PASSWORD_FILE >$d/down.json")
expect_eq "unreachable: exit" "$rc" 3
expect_eq "unreachable: terminal shows only the error" \
	"$(tr -d '\r' <"$d/down.term" | cut -c1-55)" "quotachk-report: cannot connect to the IMAP server; che"

# The server lost in mid-run: the progress line is blanked, the error is
# printed on a clean line, exit 3.
for i in $(seq 1 20); do cat "$d/users"; done >"$d/many"
(on_tty "$d/lost.term" "$R $opts --mailbox_format=auto --users-file=$d/many >$d/lost.json" >"$d/lost.rc") &
runner=$!
for i in $(seq 1 50); do grep -q 'left' "$d/lost.term" 2>/dev/null && break; sleep 0.1; done
bash "$QC_SERVERS/cyrus.sh" stop "$d/cyrus" >/dev/null 2>&1
wait "$runner"
expect_eq "server lost: exit" "$(cat "$d/lost.rc")" 3
out=$(python3 - "$d/lost.term" <<'PY'
import re, sys
data = open(sys.argv[1], newline="").read()
m = re.search(r"\r( +)\r(quotachk-report: [^\r\n]*)\r?\n$", data)
drawn = re.findall(r"\rquotachk-report: \d+/\d+ mailboxes[^\r]*", data)
print("blanked=%s drawn_before=%s error=%s" % (
    "yes" if m and len(m.group(1)) >= len(drawn[-1]) - 1 else "no",
    "yes" if drawn else "no", m.group(2)[:40] if m else "-"))
PY
)
expect_eq "server lost: line blanked, error on its own" "$out" \
	"blanked=yes drawn_before=yes error=quotachk-report: cannot connect to the I"
qc_summary
