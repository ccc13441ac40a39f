#!/bin/bash
# murder-bench.sh - quotachk-policyd through Cyrus Murder frontends, next
# to the raw GETQUOTAROOT ceiling through the same frontends, in one run
# (issue 10, part 4).  A private Murder (tests/servers/murder.sh: mupdate
# master, two backends, two frontends on loopback) gets USERS numbered
# mailboxes with quotas, half on each backend, besides its fixtures; then
# every round measures, one after the other:
#
#   (a) raw GETQUOTAROOT through fe1 (bench/raw-ceiling) on as many
#       connections as the daemon keeps (IMAP_CONNS);
#   (b) the daemon, cache_ttl = 0, imap_url = fe1, 64 policy connections
#       (bench/policy-load), and its ratio to (a)              (>= 0.90 x);
#   (c) raw through both frontends (connection i to frontend i mod 2),
#       and the daemon with imap_url = fe1, fe2 (its worker i starts at
#       URL i mod 2), cache off, and their ratio;
#   (d) the daemon of (c) with the cache on (warmed first), 64 conns;
#   (r) for reference, raw directly at the two backends (connection i
#       to backend i mod 2, its own mailboxes only): what the frontend
#       hop costs.
#
# Every answer is checked: the recipients are the numbered users (all
# under quota: DUNNO) and the Murder fixtures (bob, dave, erin over quota
# on be2: 452), each with the action it must get, so policy-load counts
# any other answer as "wrong"; action_error is distinct from both.  The
# raw ceiling must get no tagged NO (every mailbox exists: a NO would be
# an error measured as a lookup).  A wrong, missing or NO answer makes
# the run broken: the table is printed, the exit status is 1.  A slow
# run is not broken: the table says MISSED, the exit status is 0.
#
# Every figure is the median of ROUNDS rounds.  Servers, daemon and load
# generator share this machine, so the load average is printed too.
#
# Usage: bench/murder-bench.sh [BUILD_DIR]   (as root: Cyrus' master)
#   env: ROUNDS=3 BENCH_SECONDS=5 USERS=1000 IMAP_CONNS=4 QC_KEEP=1
#   BUILD_DIR must be a normal build (no --enable-sanitizers, -O2).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top}" && pwd)
rounds=${ROUNDS:-3}
secs=${BENCH_SECONDS:-5}
users=${USERS:-1000}
imap_conns=${IMAP_CONNS:-4}
servers=$top/tests/servers
policyd=$build/tools/quotachk-policyd
load=$build/bench/policy-load
raw=$build/bench/raw-ceiling
over_action="452 4.2.2 Mailbox full"

QC_LOG_NAME=murder-bench
. "$servers/lib.sh"

[[ $(id -u) == 0 ]] || qc_die "must run as root (Cyrus' master binds as root, then becomes cyrus)"
[[ $users =~ ^[0-9]+$ ]] && ((users >= 2 && users <= 9999)) || qc_die "USERS must be 2..9999"

# ---- refuse builds whose numbers would mean nothing ----------------------

check_build() {
	local f
	for f in "$policyd" "$load" "$raw"; do
		[[ -x $f ]] || qc_die "$f not built (make -C $build)"
	done
	grep -q '^QC_SAN_CFLAGS = *$' "$build/Makefile" ||
		qc_die "$build was configured with --enable-sanitizers; use a normal build"
	grep -Eq '^CFLAGS = .*-O2' "$build/Makefile" ||
		qc_die "$build is not built with -O2 (CFLAGS: $(sed -n 's/^CFLAGS = //p' "$build/Makefile"))"
	f=$build/tools/.libs/quotachk-policyd
	[[ -x $f ]] || f=$policyd
	! grep -q __asan_init "$f" || qc_die "$f is linked with ASan"
}
check_build

dir=$(mktemp -d /tmp/qc-mbench.XXXXXX) || exit 1
chmod 755 "$dir"
PD_PIDS=()

cleanup() {
	local p
	for p in "${PD_PIDS[@]}"; do stop_policyd "$p"; done
	bash "$servers/murder.sh" stop "$dir/murder" >/dev/null 2>&1
	if [[ ${QC_KEEP:-0} == 1 ]]; then echo "# kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ulimit -n 8192 2>/dev/null || ulimit -n 4096 || true

# ---- helpers ---------------------------------------------------------------

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print 0 }'; }
field() { sed -n "s/^\(.* \)\{0,1\}$1=\([0-9.]*\).*/\2/p"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# broken WHAT: the run measured something other than right answers.
broken() { echo "# BROKEN: $*" >&2; echo "$*" >>"$dir/broken"; }

# start_policyd NAME CACHE_TTL URLS: a daemon on a free port; sets
# PD_PORT and PD_PID.  The per-decision lines are kept only where the
# cache figures need them (cache_ttl != 0).
start_policyd() {
	local name=$1 ttl=$2 urls=$3 drop=' recipient='
	PD_PORT=$(free_port)
	cat >"$dir/$name.conf" <<-EOF
	imap_url = $urls
	imap_tls = none
	imap_user = $MURDER_ADMIN
	imap_password_file = $dir/imap.pass
	mailbox_format = user$MURDER_SEP%u
	imap_connections = $imap_conns
	cache_ttl = $ttl
	action_error = DEFER_IF_PERMIT bench: lookup failed
	listen = inet:127.0.0.1:$PD_PORT
	user = nobody
	log = stderr
	EOF
	[[ $ttl == 0 ]] || drop='^$'
	"$policyd" -c "$dir/$name.conf" 2> >(grep --line-buffered -v "$drop" >"$dir/$name.log") &
	PD_PID=$!
	PD_PIDS+=("$PD_PID")
	wait_listen "$PD_PORT" 10 || { cat "$dir/$name.log" >&2; qc_die "$name: daemon not listening"; }
}

stop_policyd() {
	local p=$1
	kill -0 "$p" 2>/dev/null || return 0
	kill -TERM "$p" 2>/dev/null
	for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done
	kill -KILL "$p" 2>/dev/null
}

# run_load NAME PORT CONNS: one policy-load run; its line goes to NAME.out.
run_load() {
	local name=$1 port=$2 conns=$3 out
	out=$("$load" -p "$port" -c "$conns" -d "$secs" -f "$dir/rcpts.txt" 2>"$dir/$name.err") ||
		broken "$name: policy-load failed: $out $(head -3 "$dir/$name.err")"
	echo "$out" >>"$dir/$name.out"
	grep -Eq ' wrong=0$' <<<"$out" && ! grep -Eq ' (unanswered|closed)=[1-9]' <<<"$out" ||
		broken "$name: wrong, unanswered or dropped requests: $out $(head -3 "$dir/$name.err")"
	grep -Fq "[action=DEFER_IF_PERMIT" <<<"$out" && broken "$name: lookups failed: $out"
	return 0
}

# raw_parallel NAME N PORT...: N raw-ceiling clients at once, client i
# on PORT[i mod count], each going through all mailboxes as often as
# fits in about BENCH_SECONDS (at NAME's last rate); the sum of their
# rates goes to NAME.rate.
# Each starts at another place in the list: in lockstep they would ask
# for the same mailbox at the same moment and queue on its locks, which
# the daemon's workers, given different recipients, do not.
raw_parallel() {
	local name=$1 n=$2; shift 2
	local ports=("$@") nm repeat rate i pids=() f port list gv=GUESS_$name guess
	guess=${!gv:-1000}
	for ((i = 0; i < n; i++)); do
		port=${ports[i % ${#ports[@]}]}
		# A backend knows only its own mailboxes.
		list=$dir/mboxes.txt
		[[ -f $dir/mboxes.$port.lst ]] && list=$dir/mboxes.$port.lst
		nm=$(wc -l <"$list")
		repeat=$(( (secs * guess / n + nm - 1) / nm ))
		((repeat > 0)) || repeat=1
		{ tail -n +$((i * nm / n + 1)) "$list"
		  head -n $((i * nm / n)) "$list"; } >"$dir/mboxes.$i"
		"$raw" 127.0.0.1 "$port" "$MURDER_ADMIN" "$MURDER_PASSWORD_FILE" \
			"$repeat" <"$dir/mboxes.$i" >"$dir/raw.$i" 2>&1 &
		pids+=($!)
	done
	for ((i = 0; i < n; i++)); do
		wait "${pids[i]}" || broken "$name: raw-ceiling $i failed: $(cat "$dir/raw.$i")"
	done
	for ((i = 0; i < n; i++)); do
		f=$dir/raw.$i
		grep -q ' no=0$' "$f" || broken "$name: raw ceiling got NO answers: $(cat "$f")"
		cat "$f" >>"$dir/$name.out"
	done
	rate=$(cat "$dir"/raw.[0-9]* | field rate | awk '{ s += $1 } END { print s + 0 }')
	rm -f "$dir"/raw.[0-9]*
	echo "$rate" >>"$dir/$name.rate"
	printf -v "$gv" '%s' "$rate"
}

# ---- the Murder and its mailboxes ------------------------------------------

echo "# load average before: $(loadavg) ($(nproc) cores)"
t0=$(qc_now)
bash "$servers/murder.sh" start "$dir/murder" >/dev/null 2>"$dir/murder.start.log" ||
	{ cat "$dir/murder.start.log" >&2; qc_die "the Murder did not start"; }
. "$dir/murder/env"
install -o nobody -m 600 "$MURDER_PASSWORD_FILE" "$dir/imap.pass"
tool() {
	python3 "$servers/imap-tool.py" --host 127.0.0.1 --port "$1" --user "$MURDER_ADMIN" \
		--password-file "$MURDER_PASSWORD_FILE" "${@:2}"
}
# Half on each backend; a backend CREATE registers the mailbox with the
# mupdate master, from which both frontends learn it.
half=$((users / 2))
tool "$MURDER_BE1_PORT" mkusers "user${MURDER_SEP}user%04d" "$half" "$QC_NUMBERED_STORAGE_KIB" 1 ||
	qc_die "creating user0001..$half on be1 failed"
tool "$MURDER_BE2_PORT" mkusers "user${MURDER_SEP}user%04d" $((users - half)) \
	"$QC_NUMBERED_STORAGE_KIB" $((half + 1)) || qc_die "creating the users on be2 failed"
{
	# Alternating backends: policy-load hands consecutive recipients to
	# its 64 connections, so in creation order all lookups in flight
	# would go to one backend while the raw clients, each starting
	# elsewhere in the list, spread over both.
	for ((i = 1; i <= half; i++)); do
		printf 'user%04d@example.test\tDUNNO\n' "$i"
		((half + i > users)) || printf 'user%04d@example.test\tDUNNO\n' $((half + i))
	done
	((users - half > half)) && printf 'user%04d@example.test\tDUNNO\n' "$users"
	printf '%s\t%s\n' alice@example.test DUNNO carol@example.test DUNNO \
		bob@example.test "$over_action" dave@example.test "$over_action" \
		erin@example.test "$over_action"
} >"$dir/rcpts.txt"
sed "s/@example.test.*//; s/^/user$MURDER_SEP/" "$dir/rcpts.txt" >"$dir/mboxes.txt"
nmbox=$(wc -l <"$dir/mboxes.txt")
awk -v h="$half" '/^user.(alice|carol)$/ || (/user[0-9]+$/ && substr($0, length($0) - 3) + 0 <= h)' \
	"$dir/mboxes.txt" >"$dir/mboxes.$MURDER_BE1_PORT.lst"
grep -vxFf "$dir/mboxes.$MURDER_BE1_PORT.lst" "$dir/mboxes.txt" >"$dir/mboxes.$MURDER_BE2_PORT.lst"
# mupdate propagation is asynchronous: wait until both frontends answer
# OK for every mailbox (one raw pass each, which also opens the
# frontends' connections to the backends).
for fe in "$MURDER_FE1_PORT" "$MURDER_FE2_PORT"; do
	for ((i = 0; ; i++)); do
		"$raw" 127.0.0.1 "$fe" "$MURDER_ADMIN" "$MURDER_PASSWORD_FILE" 1 \
			<"$dir/mboxes.txt" >"$dir/sync.out" 2>&1 && grep -q ' no=0$' "$dir/sync.out" && break
		((i < 60)) || qc_die "frontend :$fe does not know every mailbox after 30 s: $(cat "$dir/sync.out")"
		sleep 0.5
	done
done
echo "# Murder with $nmbox mailboxes ready in $(qc_elapsed "$t0") s"

fe1=imap://127.0.0.1:$MURDER_FE1_PORT/
fe2=imap://127.0.0.1:$MURDER_FE2_PORT/
start_policyd one 0 "$fe1"
pd_one=$PD_PORT
start_policyd both 0 "$fe1, $fe2"
pd_both=$PD_PORT
start_policyd cache 600s "$fe1, $fe2"
pd_cache=$PD_PORT
# Fill the cache: until every recipient was looked up once (a loaded
# machine may need more than one pass), then the cached runs are hits.
for ((i = 0; ; i++)); do
	"$load" -p "$pd_cache" -c 8 -d 3 -f "$dir/rcpts.txt" >"$dir/warm.out" 2>&1 ||
		qc_die "cache warm-up failed: $(cat "$dir/warm.out")"
	warm=$(grep 'cached=no' "$dir/cache.log" | grep -o ' recipient=[^ ]*' | sort -u | wc -l)
	((warm >= nmbox)) && break
	((i < 20)) || qc_die "cache warm-up: $warm of $nmbox recipients looked up after 60 s"
done
warm_misses=$(grep -c 'cached=no' "$dir/cache.log")

# ---- the rounds --------------------------------------------------------------

for ((r = 1; r <= rounds; r++)); do
	echo "# round $r/$rounds (load $(loadavg))"
	raw_parallel raw1 "$imap_conns" "$MURDER_FE1_PORT"
	run_load one64 "$pd_one" 64
	raw_parallel raw2 "$imap_conns" "$MURDER_FE1_PORT" "$MURDER_FE2_PORT"
	run_load both64 "$pd_both" 64
	run_load cache64 "$pd_cache" 64
	raw_parallel rawbe "$imap_conns" "$MURDER_BE1_PORT" "$MURDER_BE2_PORT"
done
late_misses=$(( $(grep -c 'cached=no' "$dir/cache.log") - warm_misses ))
echo "# load average after: $(loadavg)"

# ---- the table ---------------------------------------------------------------

med() { field "$2" <"$dir/$1.out" | median; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
verdict() { awk "BEGIN { exit !($1) }" && echo ok || echo MISSED; }
count() { field "$2" <"$dir/$1.out" | awk '{ s += $1 } END { print s + 0 }'; }

a_rate=$(median <"$dir/raw1.rate")
c_raw=$(median <"$dir/raw2.rate")
b_rate=$(med one64 rate); c_rate=$(med both64 rate); d_rate=$(med cache64 rate)
b_ratio=$(ratio "$b_rate" "$a_rate")
c_ratio=$(ratio "$c_rate" "$c_raw")
row() { printf '%-46s %9s %8s %8s %10s  %-16s %s\n' "$@"; }

echo
echo "quotachk-policyd through a Cyrus Murder (3.6: mupdate, 2 backends, 2 frontends),"
echo "$nmbox mailboxes ($half numbered + alice, carol on be1; $((users - half)) + bob, dave, erin on be2), loopback,"
echo "$(nproc) cores shared by the 5 Cyrus nodes, daemon and load generator;"
echo "medians of $rounds rounds of ${secs} s; imap_connections = $imap_conns; 1 request in flight per policy conn;"
echo "daemon built with CFLAGS = $(sed -n 's/^CFLAGS = //p' "$build/Makefile"), no sanitizers"
echo
row measurement "per s" "p50 ms" "p99 ms" ratio target result
row "(a) raw GETQUOTAROOT via fe1, $imap_conns conns" "$a_rate" - - - - -
row "(b) policyd cache off, fe1, 64 conns" "$b_rate" "$(ms "$(med one64 p50_us)")" \
	"$(ms "$(med one64 p99_us)")" "${b_ratio}x(a)" ">= 0.90 x (a)" "$(verdict "$b_ratio >= 0.9")"
row "(c) raw via fe1+fe2, $imap_conns conns" "$c_raw" - - - - -
row "(c) policyd cache off, fe1+fe2, 64 conns" "$c_rate" "$(ms "$(med both64 p50_us)")" \
	"$(ms "$(med both64 p99_us)")" "${c_ratio}x" ">= 0.90 x raw" "$(verdict "$c_ratio >= 0.9")"
row "(d) policyd cache on, fe1+fe2, 64 conns" "$d_rate" "$(ms "$(med cache64 p50_us)")" \
	"$(ms "$(med cache64 p99_us)")" "$(ratio "$d_rate" "$c_raw")x" - -
row "(r) raw at the backends, no frontend, $imap_conns conns" "$(median <"$dir/rawbe.rate")" - - - - -
echo
echo "answers checked: policyd wrong=$(( $(count one64 wrong) + $(count both64 wrong) + $(count cache64 wrong) ))" \
	"unanswered=$(( $(count one64 unanswered) + $(count both64 unanswered) + $(count cache64 unanswered) ))," \
	"raw NO answers=$(( $(count raw1 no) + $(count raw2 no) + $(count rawbe no) ))"
echo "cache misses during the cache-on rounds: $late_misses (after a warm-up of every recipient)"
echo "runs: raw fe1 $(tr '\n' ' ' <"$dir/raw1.rate")/ policyd fe1 $(field rate <"$dir/one64.out" | tr '\n' ' ')" \
	"/ raw fe1+fe2 $(tr '\n' ' ' <"$dir/raw2.rate")/ policyd fe1+fe2 $(field rate <"$dir/both64.out" | tr '\n' ' ')" \
	"/ cached $(field rate <"$dir/cache64.out" | tr '\n' ' ')/ raw backends $(tr '\n' ' ' <"$dir/rawbe.rate")"
if [[ -s $dir/broken ]]; then
	echo "BROKEN RUN ($(wc -l <"$dir/broken") problems; first: $(head -1 "$dir/broken"))"
	exit 1
fi
exit 0
