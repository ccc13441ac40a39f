#!/bin/bash
# TLS: quotachk works over imaps:// and over STARTTLS (imap:// with
# imap_tls = required, the default) against Cyrus and Dovecot whose
# certificates come from a private CA given as imap_ca_file, under both
# names the certificate carries (localhost and 127.0.0.1).  It refuses,
# with exit 3 and a message that names TLS and the cause, when:
#   - the CA is wrong (a second private CA made here),
#   - the host name is wrong (the server reloaded with a certificate from
#     the right CA for imap.other.invalid),
#   - the server offers no STARTTLS (a Cyrus without TLS, and the fake
#     peer) while imap_tls = required.
# In every refusal the password was never sent: the client talks through
# tests/servers/record-proxy.py, which records what it sends, and
#   - the plaintext part (before STARTTLS, or all of it without TLS)
#     holds no LOGIN, no AUTHENTICATE, and neither the password nor any
#     base64 form of it (PLAIN with or without authzid, LOGIN);
#   - after the TLS ClientHello, at most one encrypted record (type 23)
#     is longer than 19 bytes: that one is the client's Finished message
#     (69 bytes with TLS 1.3 and SHA-384); every other record carries at
#     most 2 bytes of plaintext (19 = 2 + content type + 16-byte AEAD
#     tag), which is an alert and cannot be an IMAP command.  With a wrong
#     CA the handshake stops before Finished; with a wrong name libcurl
#     completes it, then checks the name and closes with an alert.
# The same analysis of successful sessions finds the encrypted commands,
# which shows it would see a login.  Dovecot's log adds the server's view
# ("no auth attempts").
#
# Runs with QC_INTEGRATION=1 as root (testlib.sh); about 15 s.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
QC_LOG_NAME=tls
. "$QC_SERVERS/lib.sh"

QC=$QC_BUILD/tools/quotachk
[ -x "$QC" ] || { echo "SKIP: $QC not built"; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }

TMP=$(mktemp -d /tmp/qc-tls.XXXXXX) || exit 1
chmod 755 "$TMP"   # the servers drop root and must reach their directories
PIDS=()          # record proxies and fake peers, stopped by PID

cleanup() {
	local rc=$? pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	bash "$QC_SERVERS/cyrus.sh" stop "$TMP/cyrus" >/dev/null 2>&1
	bash "$QC_SERVERS/cyrus.sh" stop "$TMP/cyrus-plain" >/dev/null 2>&1
	bash "$QC_SERVERS/dovecot.sh" stop "$TMP/dovecot" >/dev/null 2>&1
	qc_remove_tmp "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- what the client sent --------------------------------------------------
# analyze.py CAPTURE USER PASSWORD [AUTHZID]: reads the bytes the client
# sent, prints one line (plaintext commands, TLS records as TYPE/LENGTH)
# and exits 0 when no credential can have left, 1 when one did (or may
# have: encrypted data beyond Finished and alerts), 2 on a capture it
# cannot parse.
cat >"$TMP/analyze.py" <<'EOF'
import base64, sys
data = open(sys.argv[1], "rb").read()
user, password = sys.argv[2].encode(), sys.argv[3].encode()
authzid = sys.argv[4].encode() if len(sys.argv) > 4 else b""
secrets = [password] + [base64.b64encode(s) for s in (
    b"\0" + user + b"\0" + password,            # PLAIN
    authzid + b"\0" + user + b"\0" + password,  # PLAIN with authzid
    password, user)]                            # LOGIN mechanism
# Plaintext IMAP lines until the first TLS record (ClientHello: 0x16 0x03).
pos, lines = 0, []
while pos < len(data) and data[pos:pos + 2] != b"\x16\x03":
    end = data.find(b"\r\n", pos)
    if end < 0:
        end = len(data) - 2
    lines.append(data[pos:end])
    pos = end + 2
plain, records = data[:pos], []
while pos + 5 <= len(data):
    kind, length = data[pos], int.from_bytes(data[pos + 3:pos + 5], "big")
    records.append((kind, length))
    pos += 5 + length
if pos != len(data) and records:
    print("unparsable TLS records"); sys.exit(2)
leaks = [w for w in (b"LOGIN", b"AUTHENTICATE") if w in plain.upper()]
leaks += ["a secret (raw or base64)" for s in secrets if s and s in data][:1]
# TLS 1.3 encrypted records: one Finished, then alerts (19 bytes) only.
completed = len([n for t, n in records if t == 23 and n > 19]) > 1
print("plaintext=%s tls_records=%s%s%s" % (
    "|".join(l.decode("ascii", "replace")[:40] for l in lines) or "-",
    " ".join("%d/%d" % r for r in records) or "-",
    " LEAK:" + ",".join(str(l) for l in leaks) if leaks else "",
    " data-sent-encrypted" if completed else ""))
sys.exit(1 if leaks or completed else 0)
EOF

# through_proxy NAME TARGET_PORT: start a record proxy to TARGET_PORT; sets
# PROXY_PORT; the client's bytes land in $TMP/NAME.capture.
through_proxy() {
	local fifo=$TMP/$1.ready line
	PROXY_PORT=$(free_port)
	mkfifo "$fifo"
	python3 "$QC_SERVERS/record-proxy.py" "$PROXY_PORT" "$2" "$TMP/$1.capture" >"$fifo" &
	PIDS+=($!)
	read -r line <"$fifo"
	rm -f "$fifo"
	: >>"$TMP/$1.capture"
}

# run_qc NAME URL CA SERVER...: quotachk for bob (over quota everywhere);
# sets RC and OUT (stderr and stdout).  SERVER is cyrus or dovecot.
run_qc() {
	local name=$1 url=$2 ca=$3 server=$4
	local opts=(--imap_url="$url" --imap_ca_file="$ca" --imap_timeout=5s)
	if [ "$server" = dovecot ]; then
		opts+=(--imap_user="$DOVECOT_MASTER" --imap_password_file="$DOVECOT_PASSWORD_FILE"
			--imap_authzid=%u --mailbox_format=INBOX)
	else
		opts+=(--imap_user=cyrus --imap_password_file="$CYRUS_PASSWORD_FILE"
			--mailbox_format=user.%u)
	fi
	OUT=$("$QC" "${opts[@]}" bob@example.test 2>&1)
	RC=$?
}

# analyze NAME SERVER: the analysis of NAME's capture; sets ANALYSIS, AN_RC.
analyze() {
	if [ "$2" = dovecot ]; then
		ANALYSIS=$(python3 "$TMP/analyze.py" "$TMP/$1.capture" "$DOVECOT_MASTER" \
			"$(head -1 "$DOVECOT_PASSWORD_FILE")" bob)
	else
		ANALYSIS=$(python3 "$TMP/analyze.py" "$TMP/$1.capture" cyrus \
			"$(head -1 "$CYRUS_PASSWORD_FILE")")
	fi
	AN_RC=$?
}

# works NAME SERVER SCHEME HOST PORT CA: a right answer (bob over quota,
# exit 1) over TLS; through the proxy, the login is seen encrypted.
works() {
	local name=$1 server=$2 scheme=$3 host=$4 port=$5 ca=$6
	run_qc "$name" "$scheme://$host:$port/" "$ca" "$server"
	expect_eq "[$name] bob over quota over TLS: exit" "$RC" 1
	through_proxy "$name" "$port"
	run_qc "$name" "$scheme://$host:$PROXY_PORT/" "$ca" "$server"
	analyze "$name" "$server"
	echo "#   $name: $ANALYSIS"
	expect_eq "[$name] through the proxy: exit" "$RC" 1
	expect_eq "[$name] the analysis sees the encrypted commands (control)" "$AN_RC" 1
	expect_not_contains "[$name] capture" "$ANALYSIS" "LEAK"
}

# refuses NAME SERVER TARGET_PORT CA SCHEME HOST WHY...: through a proxy
# to TARGET_PORT: exit 3, a message naming TLS and each WHY, and nothing
# secret on the wire.
refuses() {
	local name=$1 server=$2 target=$3 ca=$4 scheme=$5 host=$6 why
	shift 6
	through_proxy "$name" "$target"
	run_qc "$name" "$scheme://$host:$PROXY_PORT/" "$ca" "$server"
	echo "#   $name: $OUT"
	expect_eq "[$name] exit" "$RC" 3
	expect_contains "[$name] message" "$OUT" "TLS failed, not logging in"
	for why in "$@"; do
		expect_contains "[$name] message" "$OUT" "$why"
	done
	analyze "$name" "$server"
	echo "#   $name: $ANALYSIS"
	expect_eq "[$name] the password never left (analysis exit)" "$AN_RC" 0
}

# ---- servers -------------------------------------------------------------
bash "$QC_SERVERS/cyrus.sh" start "$TMP/cyrus" --tls >/dev/null 2>"$TMP/start.log" &&
	bash "$QC_SERVERS/dovecot.sh" start "$TMP/dovecot" --tls >/dev/null 2>>"$TMP/start.log" &&
	bash "$QC_SERVERS/cyrus.sh" start "$TMP/cyrus-plain" >/dev/null 2>>"$TMP/start.log" ||
	{ cat "$TMP/start.log"; fail "server start"; qc_summary; exit 1; }
. "$TMP/cyrus-plain/env"
PLAIN_PORT=$CYRUS_PORT
. "$TMP/dovecot/env"
. "$TMP/cyrus/env"
# A second CA that signed nothing these servers use.
make_test_ca "$TMP/otherca" root:root
WRONG_CA=$TMP/otherca/ca.pem

# ---- it works --------------------------------------------------------------
# The certificates name DNS:localhost and IP:127.0.0.1: both names work.
echo "# right CA, right name"
for host in 127.0.0.1 localhost; do
	works "cyrus-starttls-$host" cyrus imap "$host" "$CYRUS_PORT" "$CYRUS_CA_FILE"
	works "cyrus-imaps-$host" cyrus imaps "$host" "$CYRUS_IMAPS_PORT" "$CYRUS_CA_FILE"
	works "dovecot-starttls-$host" dovecot imap "$host" "$DOVECOT_PORT" "$DOVECOT_CA_FILE"
	works "dovecot-imaps-$host" dovecot imaps "$host" "$DOVECOT_IMAPS_PORT" "$DOVECOT_CA_FILE"
done

# ---- wrong CA --------------------------------------------------------------
echo "# wrong CA"
dovecot_no_auth() { grep -c 'no auth attempts' "$DOVECOT_DIR/dovecot.log"; }
before=$(dovecot_no_auth)
refuses cyrus-starttls-wrong-ca cyrus "$CYRUS_PORT" "$WRONG_CA" imap 127.0.0.1 certificate imap_ca_file
refuses cyrus-imaps-wrong-ca cyrus "$CYRUS_IMAPS_PORT" "$WRONG_CA" imaps 127.0.0.1 certificate imap_ca_file
refuses dovecot-starttls-wrong-ca dovecot "$DOVECOT_PORT" "$WRONG_CA" imap 127.0.0.1 certificate imap_ca_file
refuses dovecot-imaps-wrong-ca dovecot "$DOVECOT_IMAPS_PORT" "$WRONG_CA" imaps 127.0.0.1 certificate imap_ca_file
sleep 0.5 # Dovecot logs the disconnect asynchronously
expect_eq "Dovecot saw two sessions without any login attempt" "$(($(dovecot_no_auth) - before))" 2

# ---- wrong host name ----------------------------------------------------------
# Same CA, certificate for another name; the servers read it at start.
echo "# certificate for another host name"
other_cert() { # DIR OWNER: DIR/server.{pem,key} for imap.other.invalid
	(
		cd "$1" || exit 1
		umask 077
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout server.key -out other.csr -subj "/CN=imap.other.invalid" 2>/dev/null &&
		printf 'subjectAltName=DNS:imap.other.invalid\nextendedKeyUsage=serverAuth\n' >other.ext &&
		openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-days 30 -extfile other.ext -out server.pem 2>/dev/null &&
		chmod 0644 server.pem && chmod 0640 server.key && chown "$2" server.key server.pem
	) || fail "making a certificate for imap.other.invalid in $1"
}
bash "$QC_SERVERS/cyrus.sh" stop "$TMP/cyrus" >/dev/null 2>&1
bash "$QC_SERVERS/dovecot.sh" stop "$TMP/dovecot" >/dev/null 2>&1
other_cert "$TMP/cyrus/tls" cyrus:mail
other_cert "$TMP/dovecot/tls" root:root   # as dovecot.sh makes it
bash "$QC_SERVERS/cyrus.sh" start "$TMP/cyrus" >/dev/null 2>>"$TMP/start.log" &&
	bash "$QC_SERVERS/dovecot.sh" start "$TMP/dovecot" >/dev/null 2>>"$TMP/start.log" ||
	{ cat "$TMP/start.log"; fail "server restart"; qc_summary; exit 1; }
for host in 127.0.0.1 localhost; do
	refuses "cyrus-starttls-wrong-name-$host" cyrus "$CYRUS_PORT" "$CYRUS_CA_FILE" imap "$host" "$host"
	refuses "cyrus-imaps-wrong-name-$host" cyrus "$CYRUS_IMAPS_PORT" "$CYRUS_CA_FILE" imaps "$host" "$host"
done
before=$(dovecot_no_auth)
refuses dovecot-starttls-wrong-name dovecot "$DOVECOT_PORT" "$DOVECOT_CA_FILE" imap localhost localhost
refuses dovecot-imaps-wrong-name dovecot "$DOVECOT_IMAPS_PORT" "$DOVECOT_CA_FILE" imaps localhost localhost
sleep 0.5
expect_eq "Dovecot saw two more sessions without any login attempt" "$(($(dovecot_no_auth) - before))" 2

# ---- no STARTTLS ---------------------------------------------------------------
echo "# server without STARTTLS, imap_tls = required"
refuses cyrus-no-starttls cyrus "$PLAIN_PORT" "$CYRUS_CA_FILE" imap 127.0.0.1 "offers no STARTTLS"
coproc FAKE_IO { exec python3 "$QC_SERVERS/fake-imap.py" ok; }
PIDS+=("$FAKE_IO_PID")
read -r _ fake_port <&"${FAKE_IO[0]}"
refuses fake-no-starttls cyrus "$fake_port" "$CYRUS_CA_FILE" imap 127.0.0.1 "offers no STARTTLS"
# And the same fake peer is usable without TLS: the refusal was the TLS rule.
out=$("$QC" --imap_url="imap://127.0.0.1:$fake_port/" --imap_tls=none --imap_user=cyrus \
	--imap_password_file="$CYRUS_PASSWORD_FILE" --mailbox_format=user.%u bob@example.test 2>&1)
expect_eq "fake peer with imap_tls = none: exit (over quota)" "$?" 1
qc_summary
