# shellcheck shell=bash
# shellcheck disable=SC2034  # QC_* variables are used by the sourcing scripts
# Helpers shared by cyrus.sh and dovecot.sh (and usable by test scripts).
# Source it:  . "$(dirname "$0")/lib.sh"
#
# Everything here binds/probes 127.0.0.1 only and never touches processes it
# cannot tie to a private test directory (see stop_tree).

# Directory that holds these scripts (for imap-tool.py, install-deps.sh).
QC_SERVERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

qc_log() { printf '%s: %s\n' "${QC_LOG_NAME:-${0##*/}}" "$*" >&2; }
qc_die() { qc_log "error: $*"; exit 1; }

# Float seconds since the epoch (bash >= 5 has EPOCHREALTIME; avoid forking date).
qc_now() { printf '%s\n' "${EPOCHREALTIME/,/.}"; }

# qc_elapsed START -> seconds since START with millisecond precision.
qc_elapsed() {
    local now; now=$(qc_now)
    awk -v a="$1" -v b="$now" 'BEGIN { printf "%.3f\n", b - a }'
}

# Random hex secret (no shell/IMAP special characters, so it can be passed
# around in curl -u, passwd-files and sasldb without quoting problems).
qc_secret() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

# Paths go into imapd.conf/dovecot.conf and env files unquoted: refuse
# anything that could break those formats.
qc_check_dir_name() {
    case $1 in
        /*) ;;
        *) qc_die "directory must be absolute: $1" ;;
    esac
    [[ $1 =~ ^[A-Za-z0-9._/+-]+$ ]] ||
        qc_die "directory name has characters the server configs cannot take: $1"
}

# _qc_ports_in_use: every local TCP port (any state, IPv4 and IPv6) in decimal.
# (Plain POSIX awk: mawk has no strtonum, so bash does the hex conversion.)
_qc_ports_in_use() {
    local h
    awk 'FNR > 1 { n = split($2, a, ":"); print a[n] }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u |
        while read -r h; do echo $((16#$h)); done
}

# free_port [EXCLUDE...]: print a TCP port nothing on this host uses, chosen at
# random *below* the kernel's ephemeral range so outgoing connections cannot
# grab it between our check and the server's bind.  Parallel starts could
# still pick the same port; callers verify afterwards that their own server
# owns the listener (port_owned_by) and retry with another port if not.
free_port() {
    local lo hi used p tries
    read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
    hi=$((lo - 1)); lo=10000
    ((hi > lo + 1000)) || { lo=40000; hi=60999; }   # odd kernel settings
    used=" $(_qc_ports_in_use | tr '\n' ' ') $* "
    for ((tries = 0; tries < 200; tries++)); do
        p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
        [[ $used == *" $p "* ]] || { echo "$p"; return 0; }
    done
    qc_die "no free port found"
}

# port_listening PORT: true if something listens on 127.0.0.1:PORT (or any address).
port_listening() {
    local hex; hex=$(printf '%04X' "$1")
    awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# port_owned_by PORT PID...: true if the listening socket on PORT is an open
# file of one of PIDs.  Guards against a parallel test instance that bound the
# same port first: its greeting would look just like ours.
port_owned_by() {
    local port=$1; shift
    local hex inodes ino pid
    hex=$(printf '%04X' "$port")
    inodes=$(awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null)
    [[ -n $inodes ]] || return 1
    for pid in "$@"; do
        for ino in $inodes; do
            # find prints a line per fd that is this socket; -quit after the first.
            [[ -n $(find "/proc/$pid/fd" -lname "socket:\[$ino\]" -print -quit 2>/dev/null) ]] &&
                return 0
        done
    done
    return 1
}

# wait_listen PORT TIMEOUT: poll until something listens on PORT.
wait_listen() {
    local port=$1 deadline
    deadline=$(awk -v n="$(qc_now)" -v t="$2" 'BEGIN { printf "%.3f", n + t }')
    until port_listening "$port"; do
        awk -v n="$(qc_now)" -v d="$deadline" 'BEGIN { exit !(n < d) }' || return 1
        sleep 0.05
    done
}

# wait_greeting HOST PORT TIMEOUT: poll with bash /dev/tcp until the server
# sends its greeting ("* OK" for IMAP, "220 " for SMTP).  A connect that
# succeeds without a greeting (server stopped, backlog only) counts as "not
# yet".  A "* BYE" greeting (e.g. Cyrus "Fatal error") fails at once and is
# printed on stderr.  Returns 0 on success, 1 on timeout/failure.
wait_greeting() {
    local host=$1 port=$2 timeout=$3 deadline fd line left
    deadline=$(awk -v n="$(qc_now)" -v t="$timeout" 'BEGIN { printf "%.3f", n + t }')
    while :; do
        left=$(awk -v n="$(qc_now)" -v d="$deadline" 'BEGIN { printf "%.3f", d - n }')
        [[ $left == -* || $left == 0.000 ]] && return 1
        line=
        # The group's 2>/dev/null only hides the connect error; exec's own
        # redirection must not carry it, or the shell's stderr would be lost.
        if { exec {fd}<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
            # Never wait longer than 2 s (or what is left) for the greeting.
            IFS= read -r -t "$(awk -v l="$left" 'BEGIN { print (l < 2 ? l : 2) }')" -u "$fd" line || true
            exec {fd}>&-
            line=${line%$'\r'}
            case $line in
                '* OK'* | '220 '*) return 0 ;;
                '* BYE'*) qc_log "$host:$port greets with: $line"; return 1 ;;
            esac
        fi
        sleep 0.05
    done
}

# _qc_ancestors: PIDs of this shell and all its ancestors (never to be killed,
# e.g. "cyrus.sh stop DIR" itself has DIR in its argv).
_qc_ancestors() {
    local pid=$BASHPID s f
    while [[ -n $pid && $pid != 0 ]]; do
        echo "$pid"
        read -r s 2>/dev/null <"/proc/$pid/stat" || break
        s=${s##*) }            # drop "pid (comm) ": comm may contain blanks
        read -r -a f <<<"$s"
        pid=${f[1]}            # fields now: state ppid ...
    done
}

# _qc_descendants PID: all descendants of PID (children, grandchildren...).
_qc_descendants() {
    # /proc/PID/stat is "pid (comm) state ppid ..."; comm may contain spaces
    # and parentheses, so cut at the last ") ".  cat skips vanished PIDs.
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
        {
            i = match($0, /.*\) /)
            if (!i) next
            split(substr($0, RLENGTH + 1), f, " ")
            kids[f[2]] = kids[f[2]] " " $1
        }
        END {
            n = split(kids[root], q, " ")
            for (i = 1; i <= n; i++) {
                print q[i]
                m = split(kids[q[i]], more, " ")
                for (j = 1; j <= m; j++) q[++n] = more[j]
            }
        }'
}

# Executables (glob patterns) whose processes stop_tree may kill when it
# finds them only by the directory name in their argv/environment (orphans
# whose master already died).  Restricting stragglers to server binaries
# keeps a test harness that merely exported CYRUS_DIR=... from being shot.
# "*/usr/lib/cyrus/bin/*" also covers imapd unpacked into any cache dir.
QC_STOP_EXE_PATTERNS=${QC_STOP_EXE_PATTERNS:-"/usr/lib/cyrus/* */usr/lib/cyrus/bin/* /usr/sbin/cyrus* /usr/lib/dovecot/* /usr/sbin/dovecot /usr/bin/doveadm /usr/lib/postfix/* /usr/sbin/post*"}

# _qc_stragglers DIR [PATTERN...]: server processes whose argv or environment
# mentions DIR (or whose argv contains one of PATTERNs, e.g. a Dovecot
# instance name that shows up in process titles).
_qc_stragglers() {
    local dir=$1; shift
    local pid exe ok glob globs args env pat
    # Split without pathname expansion (the patterns must stay patterns).
    read -r -a globs <<<"$QC_STOP_EXE_PATTERNS"
    # One find lists every process's executable; only server binaries are
    # looked at more closely.
    while read -r pid exe; do
        ok=
        for glob in "${globs[@]}"; do
            # shellcheck disable=SC2053  # $glob is a pattern on purpose
            if [[ $exe == $glob ]]; then ok=1; break; fi
        done
        [[ -n $ok ]] || continue
        args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
        env=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null) || env=
        if [[ $args == *"$dir"* || $env == *"=$dir"* ]]; then
            echo "$pid"; continue
        fi
        for pat in "$@"; do
            if [[ -n $pat && $args == *"$pat"* ]]; then echo "$pid"; break; fi
        done
    done < <(find /proc -mindepth 2 -maxdepth 2 -path '/proc/[0-9]*/exe' \
        -printf '%h %l\n' 2>/dev/null | sed 's|^/proc/||')
}

# _qc_alive PID: running and not a zombie (PID 1 in a container may never
# reap orphans, so a dead server can linger as <defunct>).
_qc_alive() {
    local s
    # Not s=$(<file): under set -e bash exits when that redirection fails
    # (the process vanished), even on the left of ||.
    read -r s 2>/dev/null <"/proc/$1/stat" || return 1
    s=${s##*) }
    [[ ${s:0:1} != Z ]]
}

# stop_tree PIDFILE DIR [PATTERN...]: stop a server started in DIR.
#   1. the master PID from PIDFILE (only if its argv mentions DIR, so a stale
#      PID file cannot make us kill an unrelated process that reused the PID),
#   2. its descendants,
#   3. stragglers: server processes whose argv/environ mentions DIR, or whose
#      argv contains one of PATTERNs.
# SIGTERM first, SIGKILL whatever is still alive after QC_STOP_GRACE seconds
# (default 5).  Returns 0 when nothing is left.
stop_tree() {
    local pidfile=$1 dir=$2; shift 2
    local master='' pids=() keep p i grace=${QC_STOP_GRACE:-5}
    if [[ -r $pidfile ]]; then
        read -r master <"$pidfile" || true
        if [[ $master =~ ^[0-9]+$ ]] && _qc_alive "$master" &&
            [[ $(tr '\0' ' ' <"/proc/$master/cmdline" 2>/dev/null) == *"$dir"* ]]; then
            pids+=("$master")
            mapfile -t -O ${#pids[@]} pids < <(_qc_descendants "$master")
        fi
    fi
    mapfile -t -O ${#pids[@]} pids < <(_qc_stragglers "$dir" "$@")
    keep=" $(_qc_ancestors | tr '\n' ' ') "
    local -A seen=()
    local targets=()
    for p in "${pids[@]}"; do
        [[ -n $p && -z ${seen[$p]:-} && $keep != *" $p "* ]] || continue
        seen[$p]=1; targets+=("$p")
    done
    ((${#targets[@]})) || return 0
    # Master first so it does not respawn children we are about to kill.
    # SIGCONT: a test may have SIGSTOPped the server ("IMAP hung"); a stopped
    # process only acts on SIGTERM once continued.
    kill -TERM "${targets[@]}" 2>/dev/null || true
    kill -CONT "${targets[@]}" 2>/dev/null || true
    for ((i = 0; i < grace * 20; i++)); do
        local left=()
        for p in "${targets[@]}"; do
            if _qc_alive "$p"; then left+=("$p"); fi
        done
        ((${#left[@]})) || return 0
        sleep 0.05
    done
    qc_log "SIGKILL after ${grace}s: ${left[*]}"
    kill -KILL "${left[@]}" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        local still=()
        for p in "${left[@]}"; do
            if _qc_alive "$p"; then still+=("$p"); fi
        done
        ((${#still[@]})) || return 0
        sleep 0.05
    done
    qc_log "still alive after SIGKILL: ${still[*]}"
    return 1
}

# make_test_ca TLSDIR OWNER: private CA + server certificate for
# CN=localhost, SAN DNS:localhost, IP:127.0.0.1 (EC P-256: key generation is
# instant, unlike RSA).  Files: ca.pem ca.key server.pem server.key.
# The server key is readable by OWNER (user:group) only.
make_test_ca() {
    local d=$1 owner=$2
    mkdir -p "$d"
    (
        cd "$d"
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout ca.key -out ca.pem -days 3650 -subj "/CN=quotachk test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
        printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -days 3650 -extfile server.ext -out server.pem 2>/dev/null
        rm -f server.csr server.ext ca.srl
        chmod 0644 ca.pem server.pem
        chmod 0640 server.key
        chown "$owner" server.key server.pem
    ) || qc_die "creating the test CA in $d failed"
}

# write_env_file FILE KEY=VALUE...: atomically write a shell-sourceable file
# of plain KEY=VALUE lines (values are checked to need no quoting, so simple
# non-shell parsers can read it too).
write_env_file() {
    local file=$1 kv; shift
    for kv in "$@"; do
        [[ $kv =~ ^[A-Z_][A-Z0-9_]*=[A-Za-z0-9._/:@+-]*$ ]] ||
            qc_die "env value needs quoting: $kv"
    done
    printf '%s\n' "$@" >"$file.tmp"
    mv -f "$file.tmp" "$file"
}

# The named fixtures both servers get (single source of truth; tests may
# source this file to know what to expect).  Columns:
#   name  messages  octets-per-message  STORAGE-limit-KiB  MESSAGE-limit
# "-" means no such limit; carol has no quota at all.  Over-quota fixtures
# are filled first and get their (lower) limit afterwards, because the
# servers refuse an APPEND beyond the quota.
#   alice   300 KiB of 1000       under quota
#   bob     300 KiB of 100        over on storage
#   carol   no quota root / rule
#   dave    3 KiB of 5000, 3 messages of 2   over on message count only
#   erin    200 KiB of 200        exactly at the limit (any APPEND > 0 octets fails)
#   canary  1 KiB of 1000         injection tests check it stays untouched
QC_FIXTURES=(
    "alice  3 102400 1000 -"
    "bob    3 102400 100  -"
    "carol  0 0      -    -"
    "dave   3 1024   5000 2"
    "erin   2 102400 200  -"
    "canary 1 1024   1000 -"
)
# Numbered load-test users user0001..userNNNN: empty, this STORAGE limit.
QC_NUMBERED_STORAGE_KIB=10000
# Domain used for virtual-domain fixtures.
QC_DOMAIN=example.test

# qc_numbered_user I: user0001 style name.
qc_numbered_user() { printf 'user%04d\n' "$1"; }

# take_dir KIND: create $DIR, make it absolute, check its name and claim it
# for a KIND test server (the common start of cyrus.sh and dovecot.sh).
take_dir() {
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd -P)
    qc_check_dir_name "$DIR"
    claim_dir "$DIR" "$1"
}

# claim_dir DIR KIND: DIR must be empty or already belong to a KIND test
# server (marker file DIR/.qc-server).  Keeps a typo in DIR from making a
# start script write (and clean up) inside some unrelated directory.
claim_dir() {
    local dir=$1 kind=$2 marker
    if [[ -e $dir/.qc-server ]]; then
        read -r marker <"$dir/.qc-server" || true
        [[ $marker == "$kind" ]] || qc_die "$dir belongs to a '$marker' test server, not $kind"
        return 0
    fi
    [[ -z $(ls -A "$dir") ]] || qc_die "$dir is not empty and was not made by $kind.sh"
    echo "$kind" >"$dir/.qc-server"
}
