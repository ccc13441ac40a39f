# need-root.sh - sourced by the README's two commands (contrib/demo.sh,
# tests/run-all.sh), which install packages and start private servers.
#
#   qc_need_root "$0" "$@"
#
# Root goes on.  Another user is run again through sudo when sudo is
# installed; without it the message says what to do.  So the commands are
# written without "sudo" and work as written on a fresh Debian, where root
# has no sudo, and for a user who has it.
qc_need_root() {
	local script=$1
	[ "$(id -u)" = 0 ] && return 0
	if command -v sudo >/dev/null 2>&1; then
		echo "$(basename "$script"): needs root (apt, private servers); running it with sudo" >&2
		exec sudo --preserve-env=CI,QC_FUZZ_SECONDS,QC_BUILD_ROOT,QC_KEEP bash "$@"
	fi
	echo "$(basename "$script"): run as root (it installs packages and starts private servers), e.g. su -c 'bash $script'" >&2
	exit 1
}
