#!/bin/bash
# The figures of docs/reliability.md, in one run: the fault and hostile-
# input tests of its tables (each with -v, for what they measured), the
# resource bombs, memory under hostile MIME, the soak and the fuzzers.
# Prints the date, machine and commit first; paste what it prints into
# the doc's "Figures from the last run". Loopback only; every process is
# started and stopped by the tests. Needs what make test needs (.ci/run).
#
#   SOAK=1000000 FUZZTIME=90s bench/reliability.sh     (about 45 minutes)
#   SOAK=20000 FUZZTIME=10s bench/reliability.sh       (a quick look)
set -u
cd "$(dirname "$0")/.."
SOAK=${SOAK:-1000000}
FUZZTIME=${FUZZTIME:-90s}
GO=${GO:-go}
export MAXWELL_SENDMAIL_ROOT="${MAXWELL_SENDMAIL_ROOT:-/opt/maxwell-test/sendmail}"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "# docs/reliability.md figures"
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "commit:  $(git describe --always --dirty)"
echo

# run NAME ARGS...: go test -v, kept in $OUT/NAME; prints nothing.
run() {
	local name=$1
	shift
	$GO test -count=1 -v "$@" >"$OUT/$name" 2>&1
	echo $? >"$OUT/$name.rc"
}
# logs NAME: the lines the tests logged (their measurements), trimmed.
logs() { grep -E '^\s+[a-z_]+_test\.go:[0-9]+: ' "$OUT/$1" | sed -E 's/^\s+[a-z_]+_test\.go:[0-9]+: /  /'; }
# verdict NAME: tests and subtests passed and failed.
verdict() {
	echo "  $(grep -c -- '--- PASS' "$OUT/$1") passed, $(grep -c -- '--- FAIL' "$OUT/$1") failed (go test exit $(cat "$OUT/$1.rc"))"
}

run faults-e2e -timeout 30m ./test/t-10-milter-down ./test/t-11-faults
run faults-units -timeout 20m \
	-run 'TestGarbage|TestClientGoneMidMessage|TestPanicInCheck|TestCrashKeepsAnsweredTriplets|TestServeSignals|TestConfigCheckRefusesWhatServeRefuses|TestGreylistStore|TestAttachmentAnswers|TestPlantedLinks|TestListFilesHostile|TestHeaderFieldsBounded' \
	./milter ./cmd/maxwell ./policy
echo "faults (test/t-10, test/t-11, and the unit tests the tables name):"
verdict faults-e2e
verdict faults-units
logs faults-e2e
echo

run bombs -run '^TestResourceBombs$' ./policy
echo "resource bombs through the engine (policy TestResourceBombs):"
verdict bombs
logs bombs
echo

$GO test -count=1 -run '^$' -bench 'WorstShapesRSS' -benchtime 1x -timeout 60m ./cmd/maxwell >"$OUT/shapes" 2>&1
echo "memory under hostile MIME (cmd/maxwell BenchmarkWorstShapesRSS, 16 messages of 10 MB at once per shape):"
grep -E '^Benchmark|--- FAIL|^(ok|FAIL)' "$OUT/shapes" | sed 's/^/  /'
echo

$GO test -count=3 -run '^$' -bench 'ParseUnknownKeys' ./internal/config >"$OUT/keys" 2>&1
echo "configuration files with many unknown keys (internal/config BenchmarkParseUnknownKeys, 3 runs):"
grep -E '^Benchmark|--- FAIL|^(ok|FAIL)' "$OUT/keys" | sed 's/^/  /'
echo

MAXWELL_SOAK_MESSAGES=$SOAK run soak -timeout 3h -run '^TestSoak$' ./test/t-12-soak
echo "soak ($SOAK messages):"
verdict soak
logs soak
echo

echo "fuzzing, $FUZZTIME per target (executions):"
make --no-print-directory fuzz FUZZTIME="$FUZZTIME" 2>&1 | sed 's/^/  /'
