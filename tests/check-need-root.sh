#!/bin/bash
# The README's two commands are written without sudo (a fresh Debian's
# root has none) and must still work for a user who has it:
# tests/servers/need-root.sh goes on as root, runs the script again
# through sudo for another user, and without sudo says what to do.
# Checked as nobody, with a stand-in sudo that records how it was called.
# Needs root (to become nobody); skips (77) otherwise.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to run as nobody"; exit 77; }
command -v runuser >/dev/null || { echo "SKIP: runuser missing"; exit 77; }
tmp=$(mktemp -d /tmp/qc-needroot.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
fails=0
check() { if [ "$2" = 1 ]; then echo "ok - $1"; else echo "FAIL - $1"; fails=$((fails + 1)); fi; }

# A copy: the checkout may be where nobody cannot read.
cp "$top/tests/servers/need-root.sh" "$tmp/need-root.sh"
chmod 644 "$tmp/need-root.sh"
cat >"$tmp/script.sh" <<SCRIPT
. "$tmp/need-root.sh"
qc_need_root "$tmp/script.sh" "\$@"
echo "running as \$(id -u) with \$*"
SCRIPT
mkdir "$tmp/bin"
cat >"$tmp/bin/sudo" <<'SUDO'
#!/bin/sh
echo "sudo called with: $*"
SUDO
chmod 755 "$tmp/bin/sudo" "$tmp/script.sh"

out=$(bash "$tmp/script.sh" a b 2>&1)
check "root goes on without sudo" "$([ "$out" = "running as 0 with a b" ] && echo 1)"
out=$(runuser -u nobody -- env PATH="$tmp/bin:/usr/bin:/bin" bash "$tmp/script.sh" a b 2>&1)
check "another user is run again through sudo, with its arguments" \
	"$(case $out in *"sudo called with: "*"bash $tmp/script.sh a b"*) echo 1 ;; esac)"
out=$(runuser -u nobody -- env PATH=/nonexistent:/usr/bin:/bin bash -c "
	command -v sudo >/dev/null && exit 3; bash '$tmp/script.sh' a b" 2>&1)
rc=$?
if [ "$rc" = 3 ]; then
	echo "# sudo is installed here: the no-sudo case is not checked"
else
	check "without sudo: exit 1 and a message naming root" \
		"$([ "$rc" = 1 ] && case $out in *"run as root"*) echo 1 ;; esac)"
fi
for f in contrib/demo.sh tests/run-all.sh; do
	check "$f uses need-root.sh" "$(grep -q '^qc_need_root ' "$top/$f" && echo 1)"
done
cmds=$(sed -n '/^Two commands/,/^quotachk: the one-shot/p' "$top/README" | grep -E '^    [a-z]')
check "README's two commands do not start with sudo: $(echo $cmds)" \
	"$([ "$(echo "$cmds" | wc -l)" = 2 ] && ! echo "$cmds" | grep -q sudo && echo 1)"
[ "$fails" = 0 ]
