#!/bin/bash
# Truth test: for a grid of message sizes around a mailbox's free space
# and several usage levels, quotachk's verdict must equal what Cyrus itself
# does when a message of that size is APPENDed (then expunged again).
#
# Cyrus reports STORAGE in KiB rounded down, but enforces in bytes, so the
# real usage is up to 1023 bytes above what any client can know.  Sizes in
# that window (free space as reported minus up to 1023 bytes) are
# unknowable from the QUOTA answer: they are counted and reported apart,
# not hidden; every other case must agree.
. "$(dirname "$0")/testlib.sh"
qc_require_servers

d=$(mktemp -d /tmp/qc-it-truth.XXXXXX)
trap 'bash "$QC_SERVERS/cyrus.sh" stop "$d" >/dev/null 2>&1; rm -rf "$d"' EXIT
bash "$QC_SERVERS/cyrus.sh" start "$d" --sep dot >/dev/null 2>&1 || { fail "cyrus start"; qc_summary; exit; }
. "$d/env"
tool=(python3 "$QC_SERVERS/imap-tool.py" --port "$CYRUS_PORT" --user cyrus
	--password-file "$CYRUS_PASSWORD_FILE")
qc=("$QC_BUILD/tools/quotachk" --imap_url="imap://127.0.0.1:$CYRUS_PORT/" --imap_tls=none
	--imap_user=cyrus --imap_password_file="$CYRUS_PASSWORD_FILE")
mbox=user.truth
limit_kib=100
L=$((limit_kib * 1024))
"${tool[@]}" create "$mbox" >/dev/null
"${tool[@]}" setquota "$mbox" "$limit_kib" >/dev/null

fill() { # fill BYTES: empty the mailbox, then append that many bytes
	"${tool[@]}" expunge-all "$mbox" >/dev/null
	[ "$1" -gt 0 ] && "${tool[@]}" append "$mbox" "$1" >/dev/null
	return 0
}

agree=0 disagree=0 unknowable=0 unknowable_agree=0 total=0
for level in 0 30000 71500 102000; do
	fill "$level"
	out=$("${qc[@]}" --json truth@example.test 1)
	U=$(json_get "$out" storage.used)
	free=$((L - U))
	# imap-tool's smallest message is 206 bytes (its headers).
	for size in 256 $((free - 1024)) $((free - 1)) $free $((free + 1)) \
		$((free + 1024)) $L $((L + 1)) $((2 * L)); do
		[ "$size" -ge 256 ] || continue
		total=$((total + 1))
		"${qc[@]}" truth@example.test "$size" >/dev/null
		case $? in 0) ours=accept ;; 1) ours=reject ;; *) ours=error ;; esac
		said=$("${tool[@]}" append-try "$mbox" "$size" 2>&1)
		case $? in
		0) theirs=accept; fill "$level" ;;
		1) case $said in
			*[Qq]uota*) theirs=reject ;;
			*) theirs="error($said)" ;;
			esac ;;
		*) theirs="error($said)" ;;
		esac
		# Unknowable: the exact usage may be up to 1023 bytes more
		# than reported, so a size in (free - 1024, free] may or may
		# not fit.
		if [ "$size" -gt $((free - 1024)) ] && [ "$size" -le "$free" ]; then
			unknowable=$((unknowable + 1))
			[ "$ours" = "$theirs" ] && unknowable_agree=$((unknowable_agree + 1))
			echo "info - level=$level used=$U size=$size: ours=$ours cyrus=$theirs (in the KiB rounding window)"
		elif [ "$ours" = "$theirs" ]; then
			agree=$((agree + 1))
			pass "level=$level used=$U size=$size: ours=$ours cyrus=$theirs"
		else
			disagree=$((disagree + 1))
			fail "level=$level used=$U size=$size: ours=$ours cyrus=$theirs"
		fi
	done
done
echo "# truth: $total cases; $agree agree, $disagree disagree outside the rounding window;" \
	"$unknowable in the KiB rounding window ($unknowable_agree of them agree)"
qc_summary
