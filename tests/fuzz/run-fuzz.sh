#!/bin/bash
# run-fuzz.sh - build every libFuzzer target with clang (ASan + UBSan)
# and run each for SECONDS (default 60), starting from seeds made of the
# real server transcripts, the test configs and sample recipients.  Any
# crash, leak or sanitizer report fails; the reproducer is kept under
# $QC_FUZZ_DIR/crashes and should become a regression test case.
#
# Usage: tests/fuzz/run-fuzz.sh [SECONDS]     (env: QC_FUZZ_DIR, QC_FUZZ_TARGETS)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
work=${QC_FUZZ_DIR:-$(mktemp -d /tmp/qc-fuzz.XXXXXX)}
mkdir -p "$work/crashes"
cc=${CLANG:-clang}
flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-D_GNU_SOURCE -I"$top/include" -I"$top/lib" -I"$top/tools")
pure=("$top"/lib/{address,cache_key,config,config_backends,decide,errors,imap_parse,imap_quote,password,rule,url_list}.c)

seed_imap() {
	local out=$1 n=0 f
	mkdir -p "$out"
	# The server side of every transcript, with our tag, one file each.
	for f in "$top"/tests/data/transcripts/*.txt; do
		sed -n 's/^< //p' "$f" | sed 's/^A00[0-9]/Q1/; s/$/\r/' >"$out/t$((n++))"
	done
	printf '* QUOTAROOT {5}\r\nab cd {3}\r\nr"1\r\n* QUOTA {3}\r\nr"1 (STORAGE 10 20 MESSAGE 1 2)\r\nQ1 OK\r\n' >"$out/literal"
	printf '* LIST (\\Noselect) "/" ""\r\n* LIST () NIL {3}\r\nabc\r\nQ1 OK\r\n' >"$out/list"
}
seed_config() {
	local out=$1
	mkdir -p "$out"
	printf 'imap_url = imap://127.0.0.1:143/\nimap_user = cyrus\nimap_password_file = /x\nimap_timeout = 2500ms\naction_overquota = 452 4.2.2\n  Mailbox full\n# c\n' >"$out/good"
	printf 'imap_tls = maybe\nfoo = bar\n' >"$out/bad"
}
seed_address() {
	local out=$1 i=0 a
	mkdir -p "$out"
	for a in 'alice@example.test' 'Bob+Tag@Example.TEST' 'john.doe@x' 'x"y\\z@x' \
		'{40+}@x' 'a%b*c@x' '"q@q"@x'; do
		printf '\001%s' "$a" >"$out/a$((i++))"
		printf '\202%s' "$a" >"$out/a$((i++))"
	done
}

targets=${QC_FUZZ_TARGETS:-"imap_response config address $(ls "$top"/tests/fuzz/fuzz_*.c | sed -n 's|.*/fuzz_\(policy[a-z_]*\)\.c|\1|p' | tr '\n' ' ')"}
status=0
for t in $targets; do
	src=$top/tests/fuzz/fuzz_$t.c
	extra=()
	[ -f "$top/tests/fuzz/fuzz_$t.sources" ] &&
		mapfile -t extra < <(sed "s|^|$top/|" "$top/tests/fuzz/fuzz_$t.sources")
	"$cc" "${flags[@]}" -o "$work/fuzz_$t" "$src" "${pure[@]}" "${extra[@]}"
	corpus=$work/corpus_$t
	case $t in
	imap_response) seed_imap "$corpus" ;;
	config) seed_config "$corpus" ;;
	address) seed_address "$corpus" ;;
	*) mkdir -p "$corpus"; [ -d "$top/tests/fuzz/seeds_$t" ] && cp "$top/tests/fuzz/seeds_$t"/* "$corpus"/ ;;
	esac
	start=$(date +%s)
	if "$work/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$work/crashes/$t-" -print_final_stats=1 "$corpus" \
		>"$work/$t.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
		echo "fuzz $t: ok, $runs runs in $(( $(date +%s) - start )) s CPU-bound, corpus $(ls "$corpus" | wc -l) inputs"
	else
		echo "fuzz $t: FAILED; reproducer(s): $(ls "$work/crashes" | grep "^$t-" | tr '\n' ' ')"
		grep -E 'ERROR|SUMMARY|==[0-9]+==' "$work/$t.log" | head -n 20
		status=1
	fi
done
exit $status
