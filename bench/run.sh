#!/bin/bash
# make bench: measure maxwell against the reference milters, on loopback
# only, in one run, print the figures as ratios, then one line per target
# of issue 19, met or missed, with its figure.
#
#   maxwell-noop     every check off (internal clients, nothing scanned for)
#   maxwell-default  the default policy for external clients: PTR and HELO,
#                    SPF through a DNS server on 127.0.0.1 (bench/zone.txt),
#                    greylisting on SQLite with the bench's triplets already
#                    passed, MIME scan, DMARC, the headers
#   maxwell-dkim     the same daemon, each message with one DKIM signature
#                    (RSA 2048, relaxed/relaxed) to verify: what DKIM costs
#   c-noop, go-noop  the peers of ../shared/milterbench (if it is there and
#                    libmilter-dev is installed)
#
# Then the .eml corpus of the attachment tests (mime/testdata) through
# maxwell-default, the concurrency ladder (c = 8, 64, 512, 2000), 10 000
# idle sessions, the greylist decision benchmarks (SQLite; PostgreSQL if
# its binaries are installed) and the allocation benchmark. Every process
# is started here and stopped by its PID; everything runs on 127.0.0.1.
#
# With BENCH_DOCS=FILE (make bench sets docs/performance.md) the output
# replaces the block between the "make bench" markers of FILE, verbatim.
#
# N=10000 C=8 bench/run.sh     (make bench)
set -u
cd "$(dirname "$0")/.."
N=${N:-10000}
C=${C:-8}
TMP=${BENCH_TMP:-/tmp/maxwell-bench}
MB=${MILTERBENCH:-$(cd .. && pwd)/shared/milterbench}
rm -rf "$TMP" && mkdir -p "$TMP"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "${PEERS:-}" ] && for p in $PEERS; do "$MB/peers/peer.sh" stop "$p" >/dev/null 2>&1; done
	wait 2>/dev/null
}
trap cleanup EXIT

echo "building ..." >&2
go build -o "$TMP/maxwell" ./cmd/maxwell && go build -o "$TMP/dnszone" ./bench/dnszone || exit 1
MX=$TMP/maxwell
# BENCH_MAXWELL: another maxwell binary to measure as the daemon (an
# older commit's, for a before-and-after table of the same run); the
# load generator and the figures' scripts stay this tree's.
MXD=${BENCH_MAXWELL:-$MX}

# A DKIM key of sender.example, its record in the bench's zone.
"$MX" dkim keygen --dir "$TMP" sender.example bench >"$TMP/keygen" || exit 1
cp bench/zone.txt "$TMP/zone.txt"
echo "bench._domainkey.sender.example. TXT $(sed -n '/IN TXT (/,/)/p' "$TMP/keygen" | grep -o '"[^"]*"' | paste -sd' ')" >>"$TMP/zone.txt"
"$TMP/dnszone" -zone "$TMP/zone.txt" -addr-file "$TMP/dns.addr" >/dev/null &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$TMP/dns.addr" ] && break; sleep 0.1; done
DNS=$(cat "$TMP/dns.addr")

IPS=198.51.100.1,198.51.100.2,198.51.100.3,198.51.100.4,198.51.100.5,198.51.100.6,198.51.100.7,198.51.100.8
# their names, as Postfix (smtpd_peername_lookup = yes) finds them in bench/zone.txt
PTRS=$(seq -s, -f 'mail%g.sender.example' 1 8)
FROMS=$(seq -s, -f 'user%g@sender.example' 1 20)

cat > "$TMP/noop.toml" <<EOT
[milter]
socket = "inet:7390@127.0.0.1"
internal_connect = ["0.0.0.0/0", "::/0"]
connection_header = ""
datadir = "$TMP/noop-data"
[greylist]
enabled = false
[defang]
banned_exts = []
scan_zip = false
scan_rfc822 = false
[dns]
servers = ["$DNS"]
[log]
mail_log = "$TMP/noop.log"
EOT
cat > "$TMP/default.toml" <<EOT
[milter]
socket = "inet:7391@127.0.0.1"
hostname = "mx.example.org"
# 10 000 idle sessions are measured: more than the default limit where
# the open-file limit is 20 000 (half of it is kept for spool files).
max_sessions = 10100
datadir = "$TMP/default-data"
[dns]
servers = ["$DNS"]
[log]
mail_log = "$TMP/default.log"
EOT

# Greylisting sees the bench's triplets as passed, as a server in steady
# state sees most of its mail.
. bench/lib.sh
start_maxwell maxwell-noop "$TMP/noop.toml" 7390
start_maxwell maxwell-default "$TMP/default.toml" 7391
# The bench's triplets have passed greylisting (only serve creates the
# store, so this comes after it started).
for f in ${FROMS//,/ }; do
	"$MXD" greylist allow -c "$TMP/default.toml" --client sender.example --sender "$f" --rcpt bob@example.org >/dev/null || exit 1
done

ROWS=()
add() { ROWS+=("$1 $2 $3 ${4:-}"); }   # name port pid [bench flags]
PEERS=""
if [ -x "$MB/peers/peer.sh" ] && "$MB/build.sh" >/dev/null 2>&1; then
	for p in c-noop go-noop; do
		"$MB/peers/peer.sh" start "$p" >/dev/null && PEERS="$PEERS $p"
	done
	[[ $PEERS == *c-noop* ]] && add c-noop 7361 "$("$MB/peers/peer.sh" pids c-noop | head -1)"
	[[ $PEERS == *go-noop* ]] && add go-noop 7363 "$("$MB/peers/peer.sh" pids go-noop | head -1)"
else
	echo "note: no peers ($MB missing, or libmilter-dev not installed): maxwell only"
fi
add maxwell-noop 7390 "$PID_7390"
add maxwell-default 7391 "$PID_7391"
add maxwell-dkim 7391 "$PID_7391" "-dkim-key $TMP/sender.example.bench.key"

bench() { # label port pid n c [more flags]: one row (maxwell bench -row)
	local label=$1 port=$2 pid=$3 n=$4 c=$5
	shift 5
	"$MX" bench -q -row "$label" -addr "inet:127.0.0.1:$port" -pid "$pid" -n "$n" -c "$c" \
		-ips "$IPS" -ptr "$PTRS" -from "$FROMS" -rcpt bob@example.org -helo mail1.sender.example "$@"
}

# Every figure lands in $FIG as "name value", for the targets at the end.
FIG=$TMP/figures
: >"$FIG"
fig() { echo "$1 $2" >>"$FIG"; }
figure() { awk -v k="$1" '$1 == k { v = $2 } END { print v }' "$FIG"; }

measure() {
	local commit
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
	echo "make bench $(date -u +%Y-%m-%dT%H:%MZ), commit $commit"
	echo "$(nproc) CPUs: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
	[ "$MXD" != "$MX" ] && echo "the daemon measured: $MXD ($("$MXD" version 2>&1 | head -1)); the go test figures are this tree's"
	echo
	echo "n=$N c=$C, 8 KiB bodies, one message per milter connection"
	for row in "${ROWS[@]}"; do
		read -r name port pid extra <<<"$row"
		# shellcheck disable=SC2086 # extra is flags, split on purpose
		bench warmup "$port" "$pid" 1000 "$C" $extra >/dev/null
		# shellcheck disable=SC2086
		bench "$name" "$port" "$pid" "$N" "$C" $extra
	done >"$TMP/rows"
	awk 'BEGIN { printf "%-16s %9s %8s %6s %11s %8s  %s\n", "milter", "msgs/s", "p99_ms", "vs_C", "cpu_ms/msg", "rss_MiB", "actions" }
	$1 == "c-noop" { base = $2 }
	{ printf "%-16s %9.1f %8.3f %6s %11.3f %8.1f  %s\n", $1, $2, $3, base ? sprintf("%.2f", $2 / base) : "-", $4, $5, $7 }' "$TMP/rows"
	while read -r name rate _ cpu _; do
		fig "$name.rate" "$rate"
		fig "$name.cpu" "$cpu"
	done <"$TMP/rows"
	awk -v d="$(figure maxwell-dkim.cpu)" -v b="$(figure maxwell-default.cpu)" 'BEGIN {
		if (d != "" && b > 0) printf "DKIM verification of one signature: %+.3f ms CPU per message (maxwell-dkim - maxwell-default), x%.2f\n", d - b, d / b }'

	echo
	echo "the .eml corpus of the attachment tests (mime/testdata), maxwell-default, c=$C"
	bench corpus 7391 "$PID_7391" "$N" "$C" -eml-dir mime/testdata >"$TMP/corpus"
	awk '{ printf "%d messages of %d files: %.1f msgs/s, %.3f ms CPU per message; %s\n", n, files, $2, $4, $7 }' \
		n="$N" files="$(ls mime/testdata/*.eml | wc -l)" "$TMP/corpus"
	fig corpus.cpu "$(awk '{ print $4 }' "$TMP/corpus")"

	echo
	echo "concurrency ladder, maxwell-default"
	for c in 8 64 512 2000; do
		bench "$c" 7391 "$PID_7391" $((N > 4 * c ? N : 4 * c)) "$c"
	done >"$TMP/ladder"
	awk 'BEGIN { printf "%-8s %9s %8s %11s\n", "c", "msgs/s", "vs_c=8", "cpu_ms/msg" }
	NR == 1 { first = $2 }
	{ printf "%-8s %9.1f %8.2f %11.3f\n", $1, $2, $2 / first, $4 }' "$TMP/ladder"
	while read -r c _ _ cpu _; do fig "ladder.$c.cpu" "$cpu"; done <"$TMP/ladder"

	echo
	bench idle 7391 "$PID_7391" 1 1 -idle 10000 -hold 3s >"$TMP/idle"
	awk '{ printf "10000 idle sessions on maxwell-default: %d held, %.1f MiB resident\n", $6, $5 }' "$TMP/idle"
	fig idle.held "$(awk '{ print $6 }' "$TMP/idle")"
	fig idle.rss "$(awk '{ print $5 }' "$TMP/idle")"

	echo
	greylist_figures
	echo
	allocation_figures

	echo
	targets
}

# The greylist decision, 32 sessions on SQLite, and 4 stores (as 4
# maxwell processes would have) sharing one PostgreSQL.
greylist_figures() {
	echo "greylist decisions (go test -bench GreylistDecision ./policy: 100 000 triplets, 9 decisions in 10 on known ones)"
	go test -run '^$' -bench 'GreylistDecision/^(sqlite|postgres)$/^(sessions=32|engines=4)$' -benchtime 20000x ./policy >"$TMP/greylist" 2>&1
	awk '/^Benchmark/ { for (i = 1; i <= NF; i++) if ($i == "decisions/s") printf "%-64s %8.0f decisions/s\n", $1, $(i-1) }' "$TMP/greylist"
	if ! grep -q '^BenchmarkGreylistDecision/postgres' "$TMP/greylist"; then
		echo "(no PostgreSQL figures: are PostgreSQL's binaries installed? internal/pgtest starts one)"
	fi
	fig greylist.sqlite "$(awk '/^BenchmarkGreylistDecision\/sqlite\/sessions=32/ { for (i = 1; i <= NF; i++) if ($i == "decisions/s") print $(i-1) }' "$TMP/greylist")"
	fig greylist.postgres "$(awk '/^BenchmarkGreylistDecision\/postgres\/engines=4/ { for (i = 1; i <= NF; i++) if ($i == "decisions/s") print $(i-1) }' "$TMP/greylist")"
	grep -E '^(--- FAIL|FAIL|panic)' "$TMP/greylist" && cat "$TMP/greylist"
}

# What one default-policy message allocates in the engine.
allocation_figures() {
	echo "allocation per default-policy message (go test -bench DefaultPolicyMessage -benchmem ./policy)"
	go test -run '^$' -bench 'DefaultPolicyMessage$' -benchmem -benchtime 20000x ./policy >"$TMP/alloc" 2>&1
	awk '/^BenchmarkDefaultPolicyMessage/ { for (i = 1; i <= NF; i++) { if ($i == "B/op") b = $(i-1); if ($i == "allocs/op") a = $(i-1) } printf "%.1f KB, %d allocations per message\n", b / 1000, a }' "$TMP/alloc"
	fig alloc.bytes "$(awk '/^BenchmarkDefaultPolicyMessage/ { for (i = 1; i <= NF; i++) if ($i == "B/op") print $(i-1) }' "$TMP/alloc")"
}

# One line per target, met or missed, with its figure. A target whose
# figure was not measured (no peers, no PostgreSQL) is missed.
targets() {
	local c_cpu go_cpu
	c_cpu=$(figure c-noop.cpu)
	go_cpu=$(figure go-noop.cpu)
	echo "targets"
	{
		ratio "maxwell-default CPU per message, × c-noop's" "$(figure maxwell-default.cpu)" "$c_cpu" "<=" 1.0
		ratio "maxwell-default msgs/s, × c-noop's" "$(figure maxwell-default.rate)" "$(figure c-noop.rate)" ">=" 1.0
		ratio "maxwell-noop CPU per message, × go-noop's" "$(figure maxwell-noop.cpu)" "$go_cpu" "<=" 0.8
		ratio "ladder: CPU per message at c=2000, × c=8's" "$(figure ladder.2000.cpu)" "$(figure ladder.8.cpu)" "<=" 1.15
		limit "10000 idle sessions, MiB resident" "$(figure idle.rss)" "<=" 100
		limit "greylist decisions/s, SQLite, 32 sessions" "$(figure greylist.sqlite)" ">=" 10000
		limit "greylist decisions/s, 4 stores on one PostgreSQL" "$(figure greylist.postgres)" ">=" 20000
		limit ".eml corpus, ms CPU per message" "$(figure corpus.cpu)" "<=" 0.8
		limit "allocation per default-policy message, KB" "$(awk -v b="$(figure alloc.bytes)" 'BEGIN { if (b != "") print b / 1000 }')" "<=" 20
	}
}

# ratio label figure base op bound: figure ÷ base against bound.
ratio() {
	if [ -z "$2" ] || [ -z "$3" ]; then
		printf "missed  %-50s not measured\n" "$1"
		return
	fi
	limit "$1" "$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.6f", a / b }')" "$4" "$5" "%.3f"
}

# limit label figure op bound [format]: the figure as measured against
# the bound; format only for printing it.
limit() {
	if [ -z "$2" ]; then
		printf "missed  %-50s not measured\n" "$1"
		return
	fi
	awk -v l="$1" -v f="$2" -v op="$3" -v b="$4" -v fmt="${5:-%s}" 'BEGIN {
		ok = (op == "<=") ? f + 0 <= b + 0 : f + 0 >= b + 0
		printf "%-7s %-50s %10s  (%s %s)\n", ok ? "met" : "missed", l, sprintf(fmt, f), op == "<=" ? "≤" : "≥", b }'
}

measure | tee "$TMP/bench.txt"

if [ -n "${BENCH_DOCS:-}" ]; then
	bench/docs.sh "$BENCH_DOCS" "$TMP/bench.txt" && echo "$BENCH_DOCS: the make bench block rewritten" >&2
fi
