#!/bin/bash
# quotachk against IMAP peers that fail in ways a real server will not
# (tests/servers/fake-imap.py): never greets, drips a byte a second,
# sends garbage, closes mid-response, an endless line, freezes with the
# connection open (closing it must not wait for a LOGOUT answer).  Each must end
# with exit 3 ("could not tell") within imap_timeout (+ 1 s of slack for
# process start-up), whatever stage the fault strikes: imap_timeout
# bounds the whole lookup, connect and login included.
. "$(dirname "$0")/testlib.sh"
. "$QC_SERVERS/lib.sh"
qc_require_servers

d=$(mktemp -d /tmp/qc-it-qfaults.XXXXXX)
fake_pid=
trap '[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null; rm -rf "$d"' EXIT
printf 'not-the-password\n' >"$d/pw"; chmod 600 "$d/pw"

for mode in silent drip garbage close endless freeze; do
	for stage in greeting command; do
		port=$(free_port)
		python3 "$QC_SERVERS/fake-imap.py" --port "$port" --stage "$stage" "$mode" \
			>"$d/fake.log" 2>&1 &
		fake_pid=$!
		wait_listen "$port" 5 || { fail "fake peer did not listen"; continue; }
		start=$(date +%s%N)
		"$QC_BUILD/tools/quotachk" --imap_url="imap://127.0.0.1:$port/" --imap_tls=none \
			--imap_user=cyrus --imap_password_file="$d/pw" --imap_timeout=2s \
			--json bob@example.test >"$d/out" 2>/dev/null
		rc=$?
		ms=$(( ($(date +%s%N) - start) / 1000000 ))
		kill "$fake_pid" 2>/dev/null; wait "$fake_pid" 2>/dev/null; fake_pid=
		expect_eq "$mode at $stage: exit" "$rc" 3
		expect_eq "$mode at $stage: verdict" "$(json_get "$(cat "$d/out")" verdict)" error
		if [ "$ms" -le 3000 ]; then pass "$mode at $stage: answered in $ms ms (<= 3000)"
		else fail "$mode at $stage: took $ms ms, imap_timeout is 2000"; fi
	done
done
qc_summary
