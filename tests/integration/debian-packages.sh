#!/bin/bash
# The Debian packages (issue 12): built from a copy of this tree with
# dpkg-buildpackage, checked by lintian (no E: line), installed on this
# machine and used as an administrator would - the tools and the daemon
# against a private Cyrus, the daemon dropping to the quotachk user with a
# root-only password file, the library through pkg-config - then purged,
# and nothing may be left.
#
# The machine ends as it started: the packages are purged (also when a
# check fails: trap), and the quotachk user, which purge keeps on purpose
# (debian/quotachk.postrm), is removed when this test created it.  The
# build happens in a temporary copy, never in the checkout (make check and
# run-all.sh build from it).  Runs with QC_INTEGRATION=1 as root
# (testlib.sh); about 25 s on 2 cores, half of it dpkg-buildpackage.
. "$(dirname "$0")/testlib.sh"
qc_require_servers
# The packages are built from the source, not from this build tree: on the
# sanitizer build (run-all.sh's second suite) the run would only repeat.
case ${CC:-} in
*-fsanitize=*) echo "SKIP: the plain suite builds and tests the packages"; exit 77 ;;
esac
QC_LOG_NAME=debian-packages
. "$QC_SERVERS/lib.sh"

PKGS=(quotachk libquotachk-dev libquotachk0)
CONF=/etc/quotachk/quotachk.conf
APT_OPTS=(-y -q -o DPkg::Lock::Timeout=300)

# same_lines WHAT GOT EXPECTED: two lists, a diff when they differ.
same_lines() {
	if [ "$2" = "$3" ]; then
		pass "$1 ($(printf '%s\n' "$3" | wc -l) lines)"
	else
		fail "$1:"
		diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | sed 's/^/#   /'
	fi
}
# pkg_state PACKAGE: dpkg's two-letter state ("ii", "rc"...), or "absent".
pkg_state() {
	local s
	s=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | tr -d ' ')
	case $s in "" | un) echo absent ;; *) echo "$s" ;; esac
}

for tool in dpkg-buildpackage dh lintian apt-get; do
	command -v "$tool" >/dev/null ||
		{ echo "FAIL - $tool missing (tests/servers/install-deps.sh installs it)"; exit 1; }
done
T_START=$(qc_now)
# One run at a time on this machine (other checkouts run this test too):
# they would install and purge the same packages under each other.
exec {lock}>/run/lock/quotachk-debian-packages.lock
flock -w 900 "$lock" || { echo "FAIL - another debian-packages.sh holds the lock"; exit 1; }
# A package already here (even just its conffiles) would be purged by this
# test: that is the machine's owner's, or a previous run left it.
for p in "${PKGS[@]}"; do
	if [ "$(pkg_state "$p")" != absent ]; then
		echo "FAIL - $p is already known to dpkg ($(pkg_state "$p")); purge it first"
		exit 1
	fi
done
user_existed=no
getent passwd quotachk >/dev/null && user_existed=yes
group_existed=no
getent group quotachk >/dev/null && group_existed=yes
etc_existed=no
[ -e /etc/quotachk ] && etc_existed=yes

WORK=$(mktemp -d /tmp/qc-it-deb.XXXXXX) || exit 1
# Open, so that only its own mode keeps the password file below from the
# quotachk user.
chmod 755 "$WORK"
CYRUS_D=
PD_PID=
installed=no

# purge: the packages still known to dpkg (a signal may come in the middle).
purge() {
	local p todo=()
	for p in "${PKGS[@]}"; do
		[ "$(pkg_state "$p")" = absent ] || todo+=("$p")
	done
	[ "${#todo[@]}" = 0 ] ||
		apt-get purge "${APT_OPTS[@]}" "${todo[@]}" >>"$WORK/purge.log" 2>&1
}
remove_user() {
	if [ "$user_existed" = no ] && getent passwd quotachk >/dev/null; then
		deluser --system --quiet quotachk 2>>"$WORK/deluser.log"
	fi
	if [ "$group_existed" = no ] && getent group quotachk >/dev/null; then
		delgroup --system --quiet quotachk 2>>"$WORK/deluser.log"
	fi
}
cleanup() {
	local rc=$?
	if [ -n "$PD_PID" ]; then
		kill -TERM "$PD_PID" 2>/dev/null
		wait "$PD_PID" 2>/dev/null
	fi
	if [ -n "$CYRUS_D" ]; then
		bash "$QC_SERVERS/cyrus.sh" stop "$CYRUS_D" >/dev/null 2>&1
		rm -rf "$CYRUS_D"
	fi
	if [ "$installed" = yes ]; then
		purge || echo "# purge failed, see $WORK/purge.log" >&2
		rc=1
	fi
	remove_user
	qc_remove_tmp "$WORK" "$rc"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- The source: the tree as it is, without build trees --------------------

SRC=$WORK/quotachk
mkdir "$SRC"
if git -C "$QC_TOP" rev-parse --git-dir >/dev/null 2>&1; then
	# Tracked and new files with their uncommitted edits, nothing git
	# ignores (_build*/, configure, Makefile.in ...).
	(cd "$QC_TOP" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
		tar --null -T - -cf -) | tar -C "$SRC" -xf -
else
	tar -C "$QC_TOP" --exclude='./_build*' --exclude=./autom4te.cache \
		-cf - . | tar -C "$SRC" -xf -
fi
[ -x "$SRC/debian/rules" ] || { fail "no debian/rules in the copy of $QC_TOP"; exit 1; }
# Every file of debian/ must reach the release tarball too.
for f in $(cd "$SRC" && find debian -type f | sort); do
	grep -q "$f" "$SRC/debian/debian.am" || fail "$f not in debian/debian.am EXTRA_DIST"
done
pkg_version=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
ac_version=$(sed -n 's/^AC_INIT(\[quotachk\], \[\([^]]*\)\].*/\1/p' "$SRC/configure.ac")
expect_eq "debian/changelog version (native) = AC_INIT version" "$pkg_version" "$ac_version"
# The symbols file lists the upstream export list (the build checks it
# against the .so itself: dh_makeshlibs -- -c4).
same_lines "debian/libquotachk0.symbols names = tests/exports.txt" \
	"$(sed -n 's/^ \(qc_[a-z0-9_]*\)@Base .*/\1/p' "$SRC/debian/libquotachk0.symbols" | sort)" \
	"$(sort "$SRC/tests/exports.txt")"
debian_before=$(find "$QC_TOP/debian" 2>/dev/null | sort)

# --- Build and lintian -------------------------------------------------------

t0=$(qc_now)
# make check's environment must not reach the package build: CC carries
# the sanitizer flags of the ASan suite, MAKEFLAGS the jobserver.
if (cd "$SRC" && env -u CC -u CFLAGS -u LDFLAGS -u CPPFLAGS -u MAKE \
	-u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u ASAN_OPTIONS -u UBSAN_OPTIONS \
	DEB_BUILD_OPTIONS="nocheck parallel=2" \
	dpkg-buildpackage -b -us -uc) >"$WORK/build.log" 2>&1; then
	pass "dpkg-buildpackage -b -us -uc ($(qc_elapsed "$t0") s)"
else
	fail "dpkg-buildpackage failed ($WORK/build.log):"
	grep -E -A12 '(^|: )error' "$WORK/build.log" | head -n 40 | sed 's/^/#   /'
	exit 1
fi
same_lines "the checkout's debian/ unchanged by the build" \
	"$(find "$QC_TOP/debian" 2>/dev/null | sort)" "$debian_before"
changes=$(ls "$WORK"/quotachk_*.changes)
lintian --tag-display-limit 0 "$changes" >"$WORK/lintian.log" 2>&1
lintian_rc=$?
grep -v 'running with root privileges' "$WORK/lintian.log" | sed 's/^/# lintian: /'
grep -q '^[EWIPX]:' "$WORK/lintian.log" || echo "# lintian: no tags"
expect_eq "lintian E: lines" "$(grep -c '^E:' "$WORK/lintian.log")" 0
expect_eq "lintian exit" "$lintian_rc" 0

debs=()
for p in libquotachk0 libquotachk-dev quotachk; do
	debs+=("$WORK/${p}_${pkg_version}_$(dpkg --print-architecture).deb")
done
ls "${debs[@]}" >/dev/null || { fail "not all three .debs built"; exit 1; }

# --- Install -------------------------------------------------------------------

installed=yes
# apt resolves the dependencies and waits for a dpkg lock another test
# may hold; it installs the files given, as dpkg -i would.
if apt-get install "${APT_OPTS[@]}" --no-install-recommends "${debs[@]}" \
	>"$WORK/install.log" 2>&1; then
	pass "the three packages installed"
else
	fail "apt-get install:"; tail -n 30 "$WORK/install.log"; exit 1
fi
for p in "${PKGS[@]}"; do
	expect_eq "$p state" "$(pkg_state "$p")" ii
done
# What purge must take away again: every file and link they installed.
for p in "${PKGS[@]}"; do dpkg -L "$p"; done |
	while read -r f; do [ ! -d "$f" ] && echo "$f"; done >"$WORK/files"
grep -qx /usr/sbin/quotachk-policyd "$WORK/files" &&
	pass "dpkg -L lists $(wc -l <"$WORK/files") files" ||
	fail "dpkg -L does not list /usr/sbin/quotachk-policyd"

out=$(/usr/bin/quotachk --version 2>&1); rc=$?
expect_eq "quotachk --version: exit" "$rc" 0
expect_contains "quotachk --version" "$out" "$pkg_version"
out=$(/usr/sbin/quotachk-policyd --help 2>&1); rc=$?
expect_eq "quotachk-policyd --help: exit" "$rc" 0
expect_contains "quotachk-policyd --help: default config" "$out" "default: $CONF)"
out=$(/usr/bin/quotachk-report --help 2>&1); rc=$?
expect_eq "quotachk-report --help: exit" "$rc" 0
out=$(/usr/sbin/quotachk-milter --help 2>&1); rc=$?
expect_eq "quotachk-milter --help: exit" "$rc" 0
expect_contains "quotachk-milter --help: default config" "$out" "default: $CONF)"
help=$(/usr/bin/quotachk --help 2>&1)
expect_contains "quotachk --help: default config" "$help" "default: $CONF)"
for m in man1/quotachk.1 man1/quotachk-report.1 man5/quotachk.conf.5 \
	man8/quotachk-policyd.8 man8/quotachk-milter.8; do
	[ -f "/usr/share/man/$m.gz" ] && pass "$m installed" || fail "$m missing"
done
expect_eq "man pages that name /etc/quotachk.conf, not $CONF" \
	"$(zgrep -l '/etc/quotachk\.conf' /usr/share/man/man*/quotachk*.gz)" ""

# The conffile: listed as such, root 0644, and it names every key the
# programs know with its default ("#key = default"; "quotachk --help"
# prints "--key=VALUE" then "... (default: X)", "empty" for none).
expect_contains "conffiles" "$(dpkg-query -W -f='${Conffiles}' quotachk)" "$CONF"
expect_eq "$CONF owner and mode" "$(stat -c '%U:%G %a' "$CONF")" "root:root 644"
keys=0
while read -r key def; do
	keys=$((keys + 1))
	[ "$def" = empty ] && line="#$key =" || line="#$key = $def"
	grep -qxF "$line" "$CONF" || fail "$CONF lacks the line '$line'"
done < <(printf '%s\n' "$help" | sed -n '/^Every configuration key/,$p' |
	awk '/^  --/ { k = substr($1, 3); sub(/=VALUE$/, "", k); next }
	     k != "" && match($0, /\(default: [^()]*\)$/) {
		print k, substr($0, RSTART + 10, RLENGTH - 11); k = "" }')
[ "$keys" -gt 20 ] && pass "$CONF names all $keys keys with their defaults" ||
	fail "only $keys keys read from quotachk --help"
expect_eq "$CONF: the daemon's user" "$(grep '^user' "$CONF")" "user = quotachk"

# The units: the package's config, not enabled before it is configured.
for d in policyd milter; do
	unit=/lib/systemd/system/quotachk-$d.service
	expect_contains "$unit ExecStart" "$(grep '^ExecStart=' "$unit")" "-c $CONF"
	expect_eq "quotachk-$d.service not enabled at installation" \
		"$(find /etc/systemd/system -name "quotachk-$d.service" | wc -l)" 0
	# Offline: the syntax, the binary and the man pages it names.
	if command -v systemd-analyze >/dev/null; then
		out=$(systemd-analyze verify "$unit" 2>&1)
		expect_eq "systemd-analyze verify $unit: exit" "$?" 0
		[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/# /'
	fi
done

# The user: a system account without home or shell, the postinst again
# (as on an upgrade or dpkg-reconfigure) keeps it as it was.
if pw=$(getent passwd quotachk); then
	uid=$(echo "$pw" | cut -d: -f3)
	[ "$uid" -lt 1000 ] && pass "quotachk is a system user (uid $uid)" ||
		fail "quotachk uid $uid is not a system uid"
	expect_eq "quotachk home, shell" "$(echo "$pw" | cut -d: -f6-)" "/nonexistent:/usr/sbin/nologin"
	expect_eq "quotachk primary group" "$(id -gn quotachk)" quotachk
	[ -e /nonexistent ] && fail "/nonexistent was created"
	/var/lib/dpkg/info/quotachk.postinst configure "$pkg_version" >"$WORK/postinst.log" 2>&1
	expect_eq "postinst configure again: exit" "$?" 0
	expect_eq "postinst again: same account" "$(getent passwd quotachk)" "$pw"
else
	fail "no quotachk user after installation"
fi

# --- The library as a user of libquotachk-dev sees it ------------------------

expect_eq "pkg-config --modversion quotachk" "$(pkg-config --modversion quotachk 2>&1)" "$pkg_version"
example=/usr/share/doc/libquotachk-dev/examples/quota-check.c
# gcc, not $CC: the ASan suite's CC would need libasan at run time.
# shellcheck disable=SC2046 # pkg-config's words are separate flags
if gcc -Wall -Wextra -Werror -o "$WORK/quota-check" "$example" \
	$(pkg-config --cflags --libs quotachk) 2>"$WORK/cc.log"; then
	pass "$example compiles against the installed package"
	out=$(env -u LD_LIBRARY_PATH "$WORK/quota-check"); rc=$?
	expect_eq "quota-check: exit" "$rc" 0
	expect_contains "quota-check" "$out" "libquotachk $pkg_version"
	so=$(env -u LD_LIBRARY_PATH ldd "$WORK/quota-check" |
		awk '$1 == "libquotachk.so.0" { print $3 }')
	expect_eq "quota-check links the packaged library" "$(readlink -f "$so")" \
		"$(readlink -f "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libquotachk.so.0")"
else
	fail "$example does not compile: $(cat "$WORK/cc.log")"
fi
same_lines "installed symbols file names = tests/exports.txt" \
	"$(sed -n 's/^ \(qc_[a-z0-9_]*\)@Base .*/\1/p' /var/lib/dpkg/info/libquotachk0:*.symbols | sort)" \
	"$(sort "$SRC/tests/exports.txt")"

# --- Against a private Cyrus -----------------------------------------------

CYRUS_D=$(mktemp -d /tmp/qc-it-deb-cyrus.XXXXXX)
if bash "$QC_SERVERS/cyrus.sh" start "$CYRUS_D" >"$WORK/cyrus.log" 2>&1; then
	. "$CYRUS_D/env"
	# Root-only, as README.Debian allows: the daemon must open it before
	# it drops to quotachk.
	install -m 0600 -o root -g root "$CYRUS_PASSWORD_FILE" "$WORK/imap.pass"
	imap=(--imap_url="imap://127.0.0.1:$CYRUS_PORT/" --imap_tls=none
		--imap_user=cyrus --imap_password_file="$WORK/imap.pass")
	out=$(/usr/bin/quotachk -c "$CONF" "${imap[@]}" --json alice@example.test 1000); rc=$?
	expect_eq "installed quotachk, alice: exit" "$rc" 0
	expect_eq "installed quotachk, alice: verdict" "$(json_get "$out" verdict)" fits
	expect_eq "installed quotachk, alice: storage.used" "$(json_get "$out" storage.used)" $((300 * 1024))
	/usr/bin/quotachk -c "$CONF" "${imap[@]}" bob@example.test >/dev/null
	expect_eq "installed quotachk, bob over quota: exit" "$?" 1
	/usr/bin/quotachk -c "$CONF" "${imap[@]}" nosuchuser@example.test >/dev/null
	expect_eq "installed quotachk, unknown mailbox: exit" "$?" 2

	port=$(free_port "$CYRUS_PORT")
	/usr/sbin/quotachk-policyd -c "$CONF" "${imap[@]}" --log=stderr \
		--listen="inet:127.0.0.1:$port" 2>"$WORK/policyd.log" &
	PD_PID=$!
	for ((i = 0; i < 100; i++)); do
		port_listening "$port" && grep -q starting "$WORK/policyd.log" && break
		kill -0 "$PD_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$PD_PID" 2>/dev/null ||
		fail "daemon exited: $(tail -n 3 "$WORK/policyd.log")"
	expect_eq "daemon runs as (user = quotachk from $CONF)" \
		"$(ps -o user= -p "$PD_PID" 2>/dev/null)" quotachk
	if ! getent passwd quotachk >/dev/null; then
		fail "no quotachk user to try the password file as"
	elif runuser -u quotachk -- cat "$WORK/imap.pass" >/dev/null 2>&1; then
		fail "the quotachk user can read the root-only password file"
	else
		pass "the password file is root-only (root:root 0600)"
	fi
	ask() { # ask RECIPIENT: the daemon's action line
		python3 - "$port" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\n"
          b"recipient=%s\nsize=1000\n\n" % sys.argv[2].encode())
print(s.makefile("rb").readline().decode().rstrip("\n"))
PY
	}
	expect_eq "daemon, alice" "$(ask alice@example.test)" "action=DUNNO"
	expect_eq "daemon, bob" "$(ask bob@example.test)" "action=452 4.2.2 Mailbox full"
	kill -TERM "$PD_PID"
	wait "$PD_PID"
	expect_eq "daemon exit after SIGTERM" "$?" 0
	PD_PID=
else
	fail "cyrus start: $(tail -n 5 "$WORK/cyrus.log")"
fi

# --- Purge: nothing may be left ----------------------------------------------

if purge; then pass "apt-get purge"; else fail "apt-get purge: $(tail -n 20 "$WORK/purge.log")"; fi
installed=no
for p in "${PKGS[@]}"; do
	expect_eq "$p after purge" "$(pkg_state "$p")" absent
done
left=$(while read -r f; do [ -e "$f" ] || [ -L "$f" ] && echo "$f"; done <"$WORK/files")
expect_eq "installed files left after purge" "$left" ""
[ "$etc_existed" = no ] && [ -e /etc/quotachk ] && fail "/etc/quotachk left after purge"
expect_eq "systemd state left after purge" \
	"$(find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled \
		-name 'quotachk*' 2>/dev/null)" ""
# Kept on purpose (debian/quotachk.postrm); this test removes it itself.
getent passwd quotachk >/dev/null && pass "purge keeps the quotachk user" ||
	fail "purge removed the quotachk user"
remove_user
getent passwd quotachk >/dev/null && [ "$user_existed" = no ] &&
	fail "quotachk user still there"

echo "# $(qc_elapsed "$T_START") s in all"
qc_summary
