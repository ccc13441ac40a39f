#!/bin/bash
# demo.sh - the README's "main job" command: on a fresh Debian 12 machine
# (as root, or through sudo when run by another user) installs what is
# missing, builds quotachk from this checkout,
# starts a private Cyrus IMAPd on loopback with sample mailboxes and shows
# quotachk deciding for a roomy, a full and an unknown mailbox; then, when
# quotachk-policyd is built, a private Postfix asking it at RCPT time.
# Everything runs in a temporary directory and is stopped at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/servers/need-root.sh
qc_need_root "$top/contrib/demo.sh" "$@"

bash tests/servers/install-deps.sh
if [ ! -x _build/tools/quotachk ]; then
	autoreconf -fi >/dev/null
	mkdir -p _build
	(cd _build && ../configure -q && make -j"$(nproc)" >/dev/null)
fi
build=$top/_build

dir=$(mktemp -d /tmp/qc-demo.XXXXXX)
# The servers drop root (cyrus, postfix, nobody): let them reach their dirs.
chmod 0755 "$dir"
stop_all() {
	[ -f "$dir/postfix/env" ] && bash tests/servers/postfix.sh stop "$dir/postfix" >/dev/null 2>&1
	[ -f "$dir/policyd.pid" ] && kill "$(cat "$dir/policyd.pid")" 2>/dev/null
	bash tests/servers/cyrus.sh stop "$dir/cyrus" >/dev/null 2>&1
	rm -rf "$dir"
}
trap stop_all EXIT

echo "== starting a private Cyrus IMAPd 3.6 on loopback"
mkdir -p "$dir/cyrus"
bash tests/servers/cyrus.sh start "$dir/cyrus" >/dev/null
. "$dir/cyrus/env"
cat >"$dir/quotachk.conf" <<CONF
# Private demo instance: plain IMAP on loopback only.
imap_url = imap://127.0.0.1:$CYRUS_PORT/
imap_tls = none
imap_user = cyrus
imap_password_file = $CYRUS_PASSWORD_FILE
mailbox_format = auto
CONF
echo "   config: $dir/quotachk.conf"
echo
echo "== quotachk: one-shot checks (exit 0 fits, 1 over quota, 2 no such mailbox)"
for args in "alice@example.test 50000" "bob@example.test 50000" \
	"nobody-here@example.test 50000"; do
	echo "\$ quotachk -c quotachk.conf $args"
	set +e
	"$build/tools/quotachk" -c "$dir/quotachk.conf" $args
	echo "  -> exit $?"
	set -e
done
echo "\$ quotachk -c quotachk.conf --json alice@example.test 2000000"
"$build/tools/quotachk" -c "$dir/quotachk.conf" --json alice@example.test 2000000 || true

policyd=$build/tools/quotachk-policyd
if [ -x "$policyd" ] && [ -f tests/servers/postfix.sh ]; then
	. tests/servers/lib.sh
	port=$(free_port)
	cat >>"$dir/quotachk.conf" <<CONF
listen = inet:127.0.0.1:$port
log = stderr
user = nobody
CONF
	chmod 0644 "$dir/quotachk.conf"
	chmod 0640 "$CYRUS_PASSWORD_FILE"; chgrp nogroup "$CYRUS_PASSWORD_FILE"
	echo
	echo "== quotachk-policyd on 127.0.0.1:$port, and a private Postfix asking it"
	"$policyd" -c "$dir/quotachk.conf" 2>"$dir/policyd.log" &
	echo $! >"$dir/policyd.pid"
	mkdir -p "$dir/postfix"
	# Asked at RCPT and again after DATA, where an accepted message is
	# counted (README: accounting).
	bash tests/servers/postfix.sh start "$dir/postfix" --policy "inet:127.0.0.1:$port" \
		--set "smtpd_end_of_data_restrictions = check_policy_service { inet:127.0.0.1:$port, timeout=30s, default_action=DUNNO }" >/dev/null
	. "$dir/postfix/env"
	smtp() { echo "\$ smtp $*"; python3 tests/servers/smtp-client.py --port "$POSTFIX_SMTP_PORT" "$@" | sed 's/^/  /'; }
	smtp alice@example.test
	smtp bob@example.test
	smtp --size 800000 alice@example.test
	smtp --size 2000000 alice@example.test
	smtp nobody-here@example.test
	smtp --data alice@example.test carol@example.test
	echo
	echo "== Cyrus stopped: the daemon fails open (action_error = DUNNO), mail is still accepted"
	bash tests/servers/cyrus.sh stop "$dir/cyrus" >/dev/null 2>&1
	smtp carol@example.test
	echo
	echo "== the daemon's decision log"
	grep -E 'recipient=|warning|error' "$dir/policyd.log" | sed 's/^/  /' || true
fi
echo
echo "demo done; everything is stopped and removed."
