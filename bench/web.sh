#!/bin/bash
# bench/web.sh: how fast the web console answers (docs/web.md). Issue
# 24 holds every page to under 100 ms with a 1 GB mail log and 1 000 000
# greylist entries; this runs web's BenchmarkPages at that size, and
# first at a small one (20 000 entries, a 20 MB log) as the baseline of
# the same run: the ratio of the two shows that no page grows with the
# data (its searches are ranges of indexes, not scans). Each page is
# asked N times through HTTP, with searches drawn at random from the
# data. The data are made once and kept in $MAXWELL_BENCH_DIR
# (/var/tmp/maxwell-bench): the 1 GB log takes minutes to write and to
# index. With BENCH_DOCS=FILE, the output goes into FILE's make
# bench-web block (bench/docs.sh).
#
# Environment: WEB_BENCH_ENTRIES (1000000), WEB_BENCH_LOG (1GB),
# WEB_BENCH_N (200 requests a page).
set -eu
cd "$(dirname "$0")/.."
export MAXWELL_BENCH_DIR=${MAXWELL_BENCH_DIR:-/var/tmp/maxwell-bench}
entries=${WEB_BENCH_ENTRIES:-1000000} logsize=${WEB_BENCH_LOG:-1GB} n=${WEB_BENCH_N:-200}
limit_ms=100
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() { # ENTRIES LOGSIZE OUT
	go test -run '^$' -bench Pages -benchtime "${n}x" -timeout 3h ./web -args -greylist "$1" -logsize "$2" >"$3" 2>&1 || {
		cat "$3"
		exit 1
	}
}
run 20000 20MB "$tmp/small"
run "$entries" "$logsize" "$tmp/large"

{
	echo "make bench-web $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
	echo "$(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); $n requests a page"
	echo "SQLite store of $entries greylist entries and 20000 bans; mail log of $logsize, indexed"
	echo "baseline: the same pages on 20000 entries and a 20MB log"
	echo
	awk -v limit="$limit_ms" '
		# BenchmarkPages/NAME-2  N  X ns/op  A max-ms  B p50-ms  C p99-ms
		function metric(unit,   i) { for (i = 3; i < NF; i++) if ($(i + 1) == unit) return $i; return "" }
		/^BenchmarkPages\/greylist-count/ { # not a page: the overview counts in the background
			if (FILENAME !~ /small$/) count = metric("count-ms")
			next
		}
		/^BenchmarkPages\// {
			name = $1; sub(/^BenchmarkPages\//, "", name); sub(/-[0-9]+$/, "", name)
			if (FILENAME ~ /small$/) { base[name] = metric("p50-ms"); next }
			order[++pages] = name
			p50[name] = metric("p50-ms"); p99[name] = metric("p99-ms"); mx[name] = metric("max-ms")
		}
		END {
			printf "%-18s %9s %9s %9s %9s\n", "page", "p50 ms", "p99 ms", "max ms", "p50/base"
			worst = ""; missed = 0
			for (i = 1; i <= pages; i++) {
				p = order[i]
				ratio = base[p] > 0 ? sprintf("x%.2f", p50[p] / base[p]) : "-"
				printf "%-18s %9.2f %9.2f %9.2f %9s\n", p, p50[p], p99[p], mx[p], ratio
				if (worst == "" || p99[p] + 0 > p99[worst] + 0) worst = p
				if (p99[p] + 0 >= limit) missed++
			}
			if (pages == 0) { print "no pages measured"; exit 1 }
			printf "\nthe overview'"'"'s greylist count, in the background at most once a minute: %.0f ms\n", count
			print ""
			print "targets"
			printf "%-7s every page under %d ms (99th percentile; slowest: %s, %.2f ms)\n", missed ? "missed" : "met", limit, worst, p99[worst]
		}' "$tmp/small" "$tmp/large"
} >"$tmp/out"
cat "$tmp/out"
if [ -n "${BENCH_DOCS:-}" ]; then
	bench/docs.sh "$BENCH_DOCS" "$tmp/out" bench-web
fi
