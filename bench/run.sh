#!/bin/bash
# make bench: measure maxwell against the reference milters, on loopback
# only, in one run, and print the figures as ratios.
#
#   maxwell-noop     every check off (internal clients, nothing scanned for)
#   maxwell-default  the default policy for external clients: PTR and HELO,
#                    SPF through a DNS server on 127.0.0.1 (bench/zone.txt),
#                    greylisting on SQLite with the bench's triplets already
#                    passed, MIME scan, the headers
#   c-noop, go-noop  the peers of ../shared/milterbench (if it is there and
#                    libmilter-dev is installed)
#
# Then the concurrency ladder (c = 8, 64, 512, 2000) and 10 000 idle
# sessions, both on maxwell-default. Every process is started here and
# stopped by its PID; everything runs on 127.0.0.1.
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

echo "building ..."
go build -o "$TMP/maxwell" ./cmd/maxwell && go build -o "$TMP/dnszone" ./bench/dnszone || exit 1
MX=$TMP/maxwell

"$TMP/dnszone" -zone bench/zone.txt -addr-file "$TMP/dns.addr" >/dev/null &
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
datadir = "$TMP/default-data"
[dns]
servers = ["$DNS"]
[log]
mail_log = "$TMP/default.log"
EOT

# Greylisting sees the bench's triplets as passed, as a server in steady
# state sees most of its mail.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start_maxwell() { # name config port
	listening "$3" && { echo "port $3 is already in use"; exit 1; }
	"$MX" serve -c "$2" 2>"$TMP/$1.stderr" &
	local pid=$!
	PIDS+=($pid)
	eval "PID_$3=$pid"
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		listening "$3" && return
		sleep 0.1
	done
	echo "maxwell ($1) did not start:"; cat "$TMP/$1.stderr"; exit 1
}
start_maxwell maxwell-noop "$TMP/noop.toml" 7390
start_maxwell maxwell-default "$TMP/default.toml" 7391
# The bench's triplets have passed greylisting (only serve creates the
# store, so this comes after it started).
for f in ${FROMS//,/ }; do
	"$MX" greylist allow -c "$TMP/default.toml" --client sender.example --sender "$f" --rcpt bob@example.org >/dev/null || exit 1
done

ROWS=()
add() { ROWS+=("$1 $2 $3"); }   # name port pid
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

bench() { # label port pid n c [more flags]: one row (maxwell bench -row)
	local label=$1 port=$2 pid=$3 n=$4 c=$5
	shift 5
	"$MX" bench -q -row "$label" -addr "inet:127.0.0.1:$port" -pid "$pid" -n "$n" -c "$c" \
		-ips "$IPS" -ptr "$PTRS" -from "$FROMS" -rcpt bob@example.org -helo mail1.sender.example "$@"
}

echo
echo "n=$N c=$C, 8 KiB bodies, one message per milter connection, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs"
for row in "${ROWS[@]}"; do
	read -r name port pid <<<"$row"
	bench warmup "$port" "$pid" 1000 "$C" >/dev/null
	bench "$name" "$port" "$pid" "$N" "$C"
done | awk 'BEGIN { printf "%-16s %9s %8s %6s %11s %8s  %s\n", "milter", "msgs/s", "p99_ms", "vs_C", "cpu_ms/msg", "rss_MiB", "actions" }
	$1 == "c-noop" { base = $2 }
	{ printf "%-16s %9.1f %8.3f %6s %11.3f %8.1f  %s\n", $1, $2, $3, base ? sprintf("%.2f", $2 / base) : "-", $4, $5, $7 }'

echo
echo "concurrency ladder, maxwell-default"
for c in 8 64 512 2000; do
	bench "$c" 7391 "$PID_7391" $((N > 4 * c ? N : 4 * c)) "$c"
done | awk 'BEGIN { printf "%-8s %9s %8s %11s\n", "c", "msgs/s", "vs_c=8", "cpu_ms/msg" }
	NR == 1 { first = $2 }
	{ printf "%-8s %9.1f %8.2f %11.3f\n", $1, $2, $2 / first, $4 }'

echo
bench idle 7391 "$PID_7391" 1 1 -idle 10000 -hold 3s |
	awk '{ printf "10000 idle sessions on maxwell-default: %d held, %.1f MiB resident\n", $6, $5 }'
