#!/bin/bash
# Install what the quotachk build and integration tests need (Debian 12, root).
#
#   install-deps.sh                 install missing packages, ensure Cyrus
#                                   imapd, mupdate and the unpacked Sendmail
#   install-deps.sh --print-imapd   same, then print the path of the imapd binary
#   install-deps.sh --print-mupdate same, then print the path of mupdate
#   install-deps.sh --imapd-only [--print-imapd] [--print-mupdate]
#                                   only ensure the Cyrus binaries (no package
#                                   check; used by cyrus.sh and murder.sh at
#                                   every start)
#   install-deps.sh --sendmail-only --print-sendmail
#                                   only ensure the unpacked Sendmail and print
#                                   its root (sendmail.sh at every start)
#   install-deps.sh --print-promtool
#                                   only ensure promtool (one in PATH, or the
#                                   prometheus package unpacked) and print it
#
# Idempotent and a fast no-op when everything is present (one dpkg-query).
#
# Why imapd is special: the cyrus-imapd package conflicts with dovecot-imapd
# (both "imap-server"), and we need both servers.  cyrus-imapd only ships
# imapd/idled/squatter, whose libraries come from cyrus-common, so we
# "apt-get download" the cyrus-imapd .deb of exactly cyrus-common's version and
# unpack it with dpkg-deb -x into a cache directory; dpkg's state is untouched.
# The same goes for mupdate (Cyrus Murder, tests/servers/murder.sh): it is
# only in cyrus-murder, which depends on cyrus-imapd and so conflicts with
# dovecot-imapd too; it is therefore not in PACKAGES but unpacked alike.
# Sendmail (tests/servers/sendmail.sh) likewise: sendmail-bin conflicts with
# postfix (both "mail-transport-agent"), so sendmail-bin and sendmail-cf (the
# m4 files that build sendmail.cf) are unpacked side by side; the libraries
# sendmail links with and m4 are ordinary packages in PACKAGES.
# Cache: ${QC_CACHE_DIR:-/var/cache/quotachk-test}/<package>-<version>/
set -eu
# The cache is used by the cyrus user (imapd is exec'd after master drops
# root): never let a restrictive caller umask make it unreadable.
umask 022

QC_LOG_NAME=install-deps.sh
. "$(dirname "$0")/lib.sh"

CACHE_DIR=${QC_CACHE_DIR:-/var/cache/quotachk-test}

PACKAGES=(
    cyrus-common cyrus-admin sasl2-bin libsasl2-modules
    dovecot-core dovecot-imapd dovecot-lmtpd postfix swaks curl openssl
    libcurl4-openssl-dev libjson-c-dev libcriterion-dev
    autoconf automake libtool pkg-config make gcc python3
    debhelper lintian       # debian-packages.sh (dpkg-dev comes with debhelper)
    valgrind clang libclang-rt-14-dev procps
    libmilter-dev miltertest
    m4 libdb5.3 libnsl2 libwrap0 libldap-2.5-0   # the unpacked sendmail (ldd)
)

# missing_packages: print the PACKAGES that are not fully installed.
missing_packages() {
    local installed
    # Unknown packages make dpkg-query exit 1; their names are simply absent
    # from the output, which is all we need.
    installed=" $(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${PACKAGES[@]}" 2>/dev/null |
        awk '$1 == "ii" { printf "%s ", $2 }') "
    local p
    for p in "${PACKAGES[@]}"; do
        [[ $installed == *" $p "* ]] || echo "$p"
    done
}

install_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    ((${#missing[@]})) || return 0
    [[ $(id -u) == 0 ]] || qc_die "missing packages (${missing[*]}); run as root"
    qc_log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Without a preseed, postfix's postinst waits on a debconf dialog.
    # "No configuration" leaves /etc/postfix/main.cf absent: the tests run
    # private Postfix instances with their own config directory.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -q >&2
    apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" >&2
    mapfile -t missing < <(missing_packages)
    ((${#missing[@]} == 0)) || qc_die "still missing after apt-get install: ${missing[*]}"
}

# ensure_cyrus_bin PACKAGE BINARY: print the path of BINARY (under
# usr/lib/cyrus/bin) from PACKAGE at exactly cyrus-common's version.
ensure_cyrus_bin() {
    local pkg=$1 name=$2 version
    version=$(dpkg-query -W -f='${Version}' cyrus-common 2>/dev/null) ||
        qc_die "cyrus-common is not installed (run install-deps.sh as root)"
    [[ -n $version ]] || qc_die "cyrus-common is not installed (run install-deps.sh as root)"
    ensure_unpacked "$CACHE_DIR/$pkg-$version" "usr/lib/cyrus/bin/$name" "$pkg=$version"
    echo "$CACHE_DIR/$pkg-$version/usr/lib/cyrus/bin/$name"
}

# ensure_unpacked DEST RELPATH PKG=VERSION...: unless DEST/RELPATH is an
# executable already, download the packages and unpack them all into DEST;
# then check that RELPATH finds its libraries.
ensure_unpacked() {
    local dest=$1 rel=$2 lock; shift 2
    if [[ ! -x $dest/$rel ]]; then
        mkdir -p "$CACHE_DIR"
        # Parallel test runs may all find the cache empty: one downloads,
        # the others wait on the lock and then find the binary.
        exec {lock}>"$CACHE_DIR/.lock"
        flock "$lock"
        if [[ ! -x $dest/$rel ]]; then
            download_pkgs "$dest" "$rel" "$@"
        fi
        exec {lock}>&-
    fi
    if ldd "$dest/$rel" 2>/dev/null | grep -q 'not found'; then
        qc_die "$dest/$rel has unresolved libraries: $(ldd "$dest/$rel" | grep 'not found' | tr -s ' \n' ' ')"
    fi
}

# ensure_imapd: print the path of a Cyrus imapd matching cyrus-common.
ensure_imapd() {
    # An explicit override, or a real cyrus-imapd installation, wins.
    if [[ -n ${QC_CYRUS_IMAPD:-} ]]; then
        [[ -x $QC_CYRUS_IMAPD ]] || qc_die "QC_CYRUS_IMAPD=$QC_CYRUS_IMAPD is not executable"
        echo "$QC_CYRUS_IMAPD"; return 0
    fi
    if [[ -x /usr/lib/cyrus/bin/imapd ]]; then
        echo /usr/lib/cyrus/bin/imapd; return 0
    fi
    ensure_cyrus_bin cyrus-imapd imapd
}

# ensure_mupdate: print the path of a Cyrus mupdate matching cyrus-common.
ensure_mupdate() {
    if [[ -n ${QC_CYRUS_MUPDATE:-} ]]; then
        [[ -x $QC_CYRUS_MUPDATE ]] || qc_die "QC_CYRUS_MUPDATE=$QC_CYRUS_MUPDATE is not executable"
        echo "$QC_CYRUS_MUPDATE"; return 0
    fi
    if [[ -x /usr/lib/cyrus/bin/mupdate ]]; then
        echo /usr/lib/cyrus/bin/mupdate; return 0
    fi
    ensure_cyrus_bin cyrus-murder mupdate
}

# download_pkgs DEST RELPATH PKG=VERSION...: fetch the packages and unpack
# them together into DEST, which must then hold the executable RELPATH.
download_pkgs() {
    local dest=$1 rel=$2 tmp deb pv; shift 2
    tmp=$(mktemp -d "$CACHE_DIR/.dl.XXXXXX")
    # apt drops privileges to _apt for downloads; let it write there.
    chown _apt "$tmp" 2>/dev/null || true
    qc_log "downloading $* into $CACHE_DIR"
    if ! (cd "$tmp" && apt-get download -q "$@") >&2; then
        # The package lists may be missing or older than what is installed.
        [[ $(id -u) == 0 ]] || { rm -rf "$tmp"; qc_die "apt-get download failed (not root, cannot apt-get update)"; }
        apt-get update -q >&2
        (cd "$tmp" && apt-get download -q "$@") >&2 || {
            rm -rf "$tmp"
            qc_die "apt-get download $* failed"
        }
    fi
    # Unpack next to the final place, then rename: a half-unpacked tree is
    # never visible under the final name.
    for pv in "$@"; do
        deb=$(find "$tmp" -maxdepth 1 -name "${pv%%=*}_*.deb" -print -quit)
        [[ -n $deb ]] || { rm -rf "$tmp"; qc_die "no .deb downloaded for $pv"; }
        dpkg-deb -x "$deb" "$tmp/root"
    done
    [[ -x $tmp/root/$rel ]] || { rm -rf "$tmp"; qc_die "$* have no $rel"; }
    rm -rf "$dest"
    chmod 0755 "$tmp/root"
    mv "$tmp/root" "$dest"
    rm -rf "$tmp"
}

# ensure_sendmail: print the root under which usr/libexec/sendmail/sendmail
# and usr/share/sendmail/cf are (/ for a real installation, else the cache).
ensure_sendmail() {
    if [[ -n ${QC_SENDMAIL_ROOT:-} ]]; then
        [[ -x $QC_SENDMAIL_ROOT/usr/libexec/sendmail/sendmail ]] ||
            qc_die "QC_SENDMAIL_ROOT=$QC_SENDMAIL_ROOT has no usr/libexec/sendmail/sendmail"
        echo "$QC_SENDMAIL_ROOT"; return 0
    fi
    if [[ -x /usr/libexec/sendmail/sendmail && -r /usr/share/sendmail/cf/m4/cf.m4 ]]; then
        echo /; return 0
    fi
    local version cached
    # Nothing installed pins a version (sendmail only needs its libraries,
    # which ldd checks): any unpacked one will do, the newest; else the
    # candidate, the same for both packages (sendmail-bin depends on
    # sendmail-cf of its version).
    cached=$(ls -d "$CACHE_DIR"/sendmail-*/usr/libexec/sendmail/sendmail 2>/dev/null | sort -V | tail -n 1)
    if [[ -n $cached ]]; then
        version=${cached#"$CACHE_DIR"/sendmail-}
        version=${version%%/*}
    else
        version=$(sendmail_candidate)
    fi
    if [[ -z $version ]]; then
        [[ $(id -u) == 0 ]] || qc_die "no sendmail-bin in the package lists (run install-deps.sh as root)"
        apt-get update -q >&2
        version=$(sendmail_candidate)
        [[ -n $version ]] || qc_die "no sendmail-bin package available"
    fi
    ensure_unpacked "$CACHE_DIR/sendmail-$version" usr/libexec/sendmail/sendmail \
        "sendmail-bin=$version" "sendmail-cf=$version"
    [[ -r $CACHE_DIR/sendmail-$version/usr/share/sendmail/cf/m4/cf.m4 ]] ||
        qc_die "sendmail-cf=$version has no usr/share/sendmail/cf/m4/cf.m4"
    echo "$CACHE_DIR/sendmail-$version"
}

# ensure_promtool: print the path of a promtool (metrics.sh checks the
# exposition format with it).  Installing the prometheus package would
# also enable and start a Prometheus server on *:9090 on a machine with
# systemd, so the package is unpacked into the cache instead; promtool is a
# static Go program.  One in PATH wins.
ensure_promtool() {
    local installed version
    if installed=$(command -v promtool); then
        echo "$installed"; return 0
    fi
    version=$(ls -d "$CACHE_DIR"/prometheus-*/usr/bin/promtool 2>/dev/null | sort -V | tail -n 1)
    if [[ -n $version ]]; then
        echo "$version"; return 0
    fi
    version=$(package_candidate prometheus)
    if [[ -z $version ]]; then
        [[ $(id -u) == 0 ]] || qc_die "no prometheus in the package lists (run install-deps.sh as root)"
        apt-get update -q >&2
        version=$(package_candidate prometheus)
        [[ -n $version ]] || qc_die "no prometheus package available (for promtool)"
    fi
    ensure_unpacked "$CACHE_DIR/prometheus-$version" usr/bin/promtool "prometheus=$version"
    echo "$CACHE_DIR/prometheus-$version/usr/bin/promtool"
}

# package_candidate PACKAGE: the version apt would install, or nothing.
package_candidate() {
    apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

sendmail_candidate() {
    apt-cache policy sendmail-bin 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

main() {
    local print='' print_mupdate='' imapd_only='' print_sendmail='' sendmail_only=''
    while (($#)); do
        case $1 in
            --print-imapd) print=1 ;;
            --print-mupdate) print_mupdate=1 ;;
            --imapd-only) imapd_only=1 ;;
            --print-sendmail) print_sendmail=1 ;;
            --sendmail-only) sendmail_only=1 ;;
            --print-promtool) ensure_promtool; exit ;;
            -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
            *) qc_die "unknown argument: $1" ;;
        esac
        shift
    done
    if [[ -n $sendmail_only ]]; then
        local root
        root=$(ensure_sendmail)
        [[ -z $print_sendmail ]] || echo "$root"
        return 0
    fi
    [[ -n $imapd_only ]] || install_packages
    local bin mupdate="" sendmail_root=
    bin=$(ensure_imapd)
    # cyrus.sh alone needs no mupdate: do not make it depend on a download.
    if [[ -z $imapd_only || -n $print_mupdate ]]; then
        mupdate=$(ensure_mupdate)
    fi
    if [[ -z $imapd_only || -n $print_sendmail ]]; then
        sendmail_root=$(ensure_sendmail)
    fi
    # Downloaded now, with the rest, rather than in the middle of the tests.
    [[ -n $imapd_only ]] || ensure_promtool >/dev/null
    [[ -z $print ]] || echo "$bin"
    [[ -z $print_mupdate ]] || echo "$mupdate"
    [[ -z $print_sendmail ]] || echo "$sendmail_root"
}

main "$@"
