#!/bin/bash
# make bench-cooperation: what DNS blocklists cost and how often the cache
# answers, and how fast maxwell serves its own blacklist, in one run, on
# loopback only. Figures are ratios against a baseline of the same run:
#
#   maxwell-default  the default policy (PTR, HELO, SPF, greylisting with
#                    the triplets passed, MIME scan), no [dnsbl] list
#   maxwell-clean    the same with three lists that list none of the
#                    clients: what asking costs
#   maxwell-dnsbl    the same with three lists: two IP lists (weights 1
#                    and 0.5) and a domain list (sender, HELO, PTR), the
#                    first refusing one client in ten at DATA
#
# 254 clients (203.0.113.1-254, each with a PTR name) send in turn;
# the IP lists list one client in 10 and one in 4. The lists are served
# by a DNS server on 127.0.0.1 with a TTL of 300 s for listings and 60 s
# for NXDOMAIN, as a public list's answers are cached. maxwell report
# then reads the mail log of maxwell-dnsbl: lookups per message, the
# share from the cache.
#
# Then the blacklist served to other sites: 1000 banned addresses,
# queried by bench/dnsq (8 clients, UDP, one in two listed) at maxwell's
# [dnsbl_server] and at Debian's rbldnsd serving `maxwell blacklist
# export` of the same store.
#
# With BENCH_DOCS=FILE (make bench-cooperation sets docs/cooperation.md)
# the output replaces FILE's "make bench-cooperation" block.
#
# N=20000 C=8 bench/cooperation.sh
set -u
cd "$(dirname "$0")/.."
N=${N:-20000}
C=${C:-8}
Q=${Q:-100000}
TMP=${BENCH_TMP:-/tmp/maxwell-bench-cooperation}
rm -rf "$TMP" && mkdir -p "$TMP"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT

echo "building ..." >&2
go build -o "$TMP/maxwell" ./cmd/maxwell && go build -o "$TMP/dnszone" ./bench/dnszone && go build -o "$TMP/dnsq" ./bench/dnsq || exit 1
MX=$TMP/maxwell
command -v rbldnsd >/dev/null || { echo "rbldnsd is not installed: apt-get install rbldnsd"; exit 1; }

# The zone: the clients, their names, the sender's SPF record, the lists.
{
	echo 'sender.example. TXT "v=spf1 ip4:203.0.113.0/24 -all"'
	for i in $(seq 254); do
		echo "$i.113.0.203.in-addr.arpa. PTR mail$i.sender.example."
		echo "mail$i.sender.example. A 203.0.113.$i"
		if ((i % 10 == 0)); then
			echo "$i.113.0.203.ip.bl.test. 300 A 127.0.0.2"
			echo "$i.113.0.203.ip.bl.test. 300 TXT \"listed, see https://ip.bl.test/203.0.113.$i\""
		fi
		((i % 4 == 0)) && echo "$i.113.0.203.soft.bl.test. 300 A 127.0.0.3"
	done
	# RFC 5782 §5 test entries, which serve asks at start.
	for z in ip.bl.test soft.bl.test ip.clean.test soft.clean.test; do echo "2.0.0.127.$z. 300 A 127.0.0.2"; done
	for z in dbl.bl.test dbl.clean.test; do echo "test.$z. 300 A 127.0.1.2"; done
	# The negative TTL: NXDOMAIN answers are kept 60 s.
	for z in ip.bl.test soft.bl.test dbl.bl.test ip.clean.test soft.clean.test dbl.clean.test; do
		echo "$z. 300 SOA ns.$z. hostmaster.$z. 1 300 300 86400 60"
	done
} >"$TMP/zone.txt"
"$TMP/dnszone" -zone "$TMP/zone.txt" -addr-file "$TMP/dns.addr" >/dev/null &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$TMP/dns.addr" ] && break; sleep 0.1; done
DNS=$(cat "$TMP/dns.addr")

IPS=$(seq -s, -f '203.0.113.%g' 1 254)
PTRS=$(seq -s, -f 'mail%g.sender.example' 1 254)
FROMS=$(seq -s, -f 'user%g@sender.example' 1 20)

write_config() { # name port extra
	cat >"$TMP/$1.toml" <<EOT
[milter]
socket = "inet:$2@127.0.0.1"
hostname = "mx.example.org"
datadir = "$TMP/$1-data"
[dns]
servers = ["$DNS"]
[log]
mail_log = "$TMP/$1.log"
$3
EOT
}
write_config maxwell-default 7491 ""
lists() { # suffix
	printf '%s\n' "[[dnsbl.lists]]" "zone = \"ip.$1\"" 'type = "ip"' \
		"[[dnsbl.lists]]" "zone = \"soft.$1\"" 'type = "ip"' 'weight = 0.5' \
		"[[dnsbl.lists]]" "zone = \"dbl.$1\"" 'type = "domain"' 'weight = 0.5'
}
write_config maxwell-clean 7496 "$(lists clean.test)"
write_config maxwell-dnsbl 7492 "$(lists bl.test)"
write_config maxwell-server 7493 '
[dnsbl_server]
listen = "127.0.0.1:7494"
zone = "rats.bench.test"
refresh = "1h"'

MXD=$MX
. bench/lib.sh
start_maxwell maxwell-default "$TMP/maxwell-default.toml" 7491
start_maxwell maxwell-clean "$TMP/maxwell-clean.toml" 7496
start_maxwell maxwell-dnsbl "$TMP/maxwell-dnsbl.toml" 7492
for name in maxwell-default maxwell-clean maxwell-dnsbl; do
	for f in ${FROMS//,/ }; do
		"$MX" greylist allow -c "$TMP/$name.toml" --client sender.example --sender "$f" --rcpt bob@example.org >/dev/null || exit 1
	done
done

bench() { # label port pid n
	"$MX" bench -q -row "$1" -addr "inet:127.0.0.1:$2" -pid "$3" -n "$4" -c "$C" \
		-ips "$IPS" -ptr "$PTRS" -from "$FROMS" -rcpt bob@example.org -helo mail1.sender.example
}

measure() {
	local commit
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
	echo "make bench-cooperation $(date -u +%Y-%m-%dT%H:%MZ), commit $commit"
	echo "$(nproc) CPUs: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
	echo
	echo "n=$N c=$C, 254 clients in turn, 8 KiB bodies, one message per milter connection"
	for row in "maxwell-default 7491" "maxwell-clean 7496" "maxwell-dnsbl 7492"; do
		read -r name port <<<"$row"
		eval "pid=\$PID_$port"
		bench warmup "$port" "$pid" 1000 >/dev/null
		bench "$name" "$port" "$pid" "$N"
	done >"$TMP/rows"
	awk 'BEGIN { printf "%-16s %9s %8s %11s %9s  %s\n", "milter", "msgs/s", "p99_ms", "cpu_ms/msg", "vs_base", "actions" }
	NR == 1 { base = $4 }
	{ printf "%-16s %9.1f %8.3f %11.3f %9.2f  %s\n", $1, $2, $3, $4, $4 / base, $7 }' "$TMP/rows"
	echo "(vs_base: CPU per message, × maxwell-default's; maxwell-dnsbl refuses one message in ten at DATA, before its body)"
	echo
	echo "maxwell report of maxwell-dnsbl's mail log:"
	"$MX" report "$TMP/maxwell-dnsbl.log" | grep -E '^DNS blocklists:|^ *total ' | sed 's/^ */  /'

	echo
	echo "the blacklist served to other sites: 1000 banned addresses, $Q queries, c=$C, UDP, one in two listed"
	dnsbl_server_figures
}

dnsbl_server_figures() {
	start_maxwell maxwell-server "$TMP/maxwell-server.toml" 7493
	local banned=() asked=() i rbl
	for i in $(seq 0 999); do banned+=("198.18.$((i / 250)).$((i % 250 + 1))"); done
	for i in $(seq 0 999); do
		"$MX" blacklist add -c "$TMP/maxwell-server.toml" --client "${banned[$i]}" --reason "bench $i" >/dev/null 2>&1 || exit 1
	done
	# Half the addresses asked are listed, half are not.
	for i in $(seq 0 499); do asked+=("${banned[$((i * 2))]}" "198.19.$((i / 250)).$((i % 250 + 1))"); done
	local ips
	ips=$(IFS=,; echo "${asked[*]}")
	# maxwell read the store at start: start it again to serve the bans.
	kill "$PID_7493"; wait "$PID_7493" 2>/dev/null
	start_maxwell maxwell-server "$TMP/maxwell-server.toml" 7493
	for _ in $(seq 50); do "$TMP/dnsq" -addr 127.0.0.1:7494 -zone rats.bench.test -ips 127.0.0.2 -n 1 -c 1 >/dev/null 2>&1 && break; sleep 0.1; done
	"$MX" blacklist export -c "$TMP/maxwell-server.toml" --ttl 5m >"$TMP/rbldnsd.zone" || exit 1
	rbldnsd -n -b 127.0.0.1/7495 -r "$TMP" -u nobody rats.bench.test:combined:rbldnsd.zone >"$TMP/rbldnsd.out" 2>&1 &
	rbl=$!
	for _ in $(seq 50); do "$TMP/dnsq" -addr 127.0.0.1:7495 -zone rats.bench.test -ips 127.0.0.2 -n 1 -c 1 2>/dev/null | awk '{ exit !($3 == 1) }' && break; sleep 0.1; done
	{
		"$TMP/dnsq" -label rbldnsd -addr 127.0.0.1:7495 -zone rats.bench.test -ips "$ips" -n "$Q" -c "$C"
		"$TMP/dnsq" -label maxwell -addr 127.0.0.1:7494 -zone rats.bench.test -ips "$ips" -n "$Q" -c "$C"
	} >"$TMP/servers"
	# This runs in measure's pipeline, a subshell: what it started, it stops.
	kill "$PID_7493" "$rbl"
	wait "$PID_7493" "$rbl" 2>/dev/null
	awk 'BEGIN { printf "%-10s %10s %9s %8s %7s %7s\n", "server", "queries/s", "vs_rbl", "listed", "p99_ms", "failed" }
	NR == 1 { base = $2 }
	{ printf "%-10s %10.0f %9.2f %8.3f %7.3f %7d\n", $1, $2, $2 / base, $3, $4, $5 }' "$TMP/servers"
}

measure | tee "$TMP/bench.txt"

if [ -n "${BENCH_DOCS:-}" ]; then
	bench/docs.sh "$BENCH_DOCS" "$TMP/bench.txt" bench-cooperation && echo "$BENCH_DOCS: the make bench-cooperation block rewritten" >&2
fi
