# maxwell -- make run: build and start the milter on its embedded defaults;
# make test: unit, protocol and end-to-end (Postfix) tests.

GO      ?= go
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test test-dates test-deb vet fmt clean bench bench-cooperation bench-web soak fuzz deb screenshots

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/maxwell ./cmd/maxwell

# CONFIG=path/to/maxwell.toml to run with a file instead of the defaults.
run: build
	./bin/maxwell serve $(if $(CONFIG),-c $(CONFIG),-defaults)

vet:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

# The end-to-end tests start a private Postfix and PostgreSQL: they need
# root and the postfix and postgresql packages (.ci/run installs them).
# Then every fuzz target runs for FUZZTIME.
test: vet
	$(GO) test -race -count=1 -timeout 20m ./...
	$(GO) test -count=1 -run '^TestIdleSessionsKeepSmallStacks$$' ./milter # not in race builds
	$(GO) test -count=1 -run '^TestCleanHTMLHuge$$' ./mime # not in race builds
	$(MAKE) --no-print-directory test-dates
	$(MAKE) --no-print-directory test-deb
	$(MAKE) --no-print-directory fuzz
	@$(GO) test -count=1 -run '^TestSPFSuites$$' -v ./spf | grep -o 'SPF suite .*'

# The tests that run on fixed dates take them from internal/testclock;
# here they run again with its epoch moved years ahead, to a new year's
# eve and to a leap day's week: the suite does not depend on the calendar.
TEST_DATES := 2031-12-31T22:00:00Z 2036-02-26T10:00:00Z
test-dates:
	@pkgs=$$($(GO) list -f '{{.ImportPath}}{{range .TestImports}} {{.}}{{end}}{{range .XTestImports}} {{.}}{{end}}' ./... | awk '/internal\/testclock/{print $$1}'); \
	for d in $(TEST_DATES); do \
		echo "MAXWELL_TEST_DATE=$$d"; \
		MAXWELL_TEST_DATE=$$d $(GO) test -count=1 $$pkgs || exit 1; \
	done

# docs/web/*.png, the screenshots of docs/web.md, as test/t-20-web's
# browser sees the pages.
screenshots:
	mkdir -p docs/web
	MAXWELL_SCREENSHOTS=$(CURDIR)/docs/web $(GO) test -count=1 -run '^TestWebConsoleInBrowser$$' ./test/t-20-web

# Loopback only: maxwell with every check off and with the default policy,
# next to the C and Go noop milters of ../shared/milterbench if present;
# ends with one line per performance target, met or missed, and writes its
# output into docs/performance.md (bench/docs.sh).
bench:
	BENCH_DOCS=docs/performance.md bench/run.sh

# DNS blocklists: their cost per message, lookups per message and the
# cache's share; maxwell's [dnsbl_server] against rbldnsd. Writes the
# output into docs/cooperation.md.
bench-cooperation:
	BENCH_DOCS=docs/cooperation.md bench/cooperation.sh

# The web console's answer times with a 1 GB mail log and 1 000 000
# greylist entries (made once in /var/tmp/maxwell-bench, minutes), next
# to a small store and log. Writes the output into docs/web.md.
bench-web:
	BENCH_DOCS=docs/web.md bench/web.sh

# The Debian package, built, installed, run as its unit runs it behind a
# private Postfix, and purged (test/t-15-deb): root only, on its own, as
# it installs into the machine's /etc, /usr and /var.
test-deb:
	$(GO) test -count=1 -tags debtest -timeout 10m ./test/t-15-deb

# The Debian package, maxwell_VERSION_amd64.deb, here (packaging/deb).
deb:
	packaging/deb/build.sh

clean:
	rm -rf bin maxwell_*.deb

# The full soak: 1 000 000 messages through the daemon at 64 concurrent
# sessions (test/t-12-soak; make test runs 20 000 of them).
soak:
	MAXWELL_SOAK_MESSAGES=1000000 $(GO) test -count=1 -timeout 3h -run '^TestSoak$$' -v ./test/t-12-soak

# The fuzz targets (package:target), each run for FUZZTIME (make test:
# 10s each; longer: make fuzz FUZZTIME=10m). What they find is kept in
# the package's testdata/fuzz and replayed by go test from then on.
# Go before 1.27 may fail a target with "context deadline exceeded" at
# the end of FUZZTIME although nothing was found (golang/go#75804: its
# coordinator races its own deadline): such a run, which wrote no failing
# input, is run again, twice at most; a failing input always fails.
FUZZ := mime:FuzzScan mime:FuzzFilterHTML internal/config:FuzzParse spf:FuzzParseAccessMap spf:FuzzEvaluate internal/maillog:FuzzLogLine \
	watch:FuzzParse report:FuzzRead templates:FuzzDSN policy:FuzzClientInput srs:FuzzAddress srs:FuzzMapRequest
FUZZTIME ?= 10s
fuzz:
	@for t in $(FUZZ); do \
		for try in 1 2 3; do \
			out=$$($(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*} 2>&1) && break; \
			case "$$out" in *"Failing input written"*|*"panic:"*) ;; *"context deadline exceeded"*) \
				[ $$try -lt 3 ] && { echo "fuzz $$t: Go's coordinator missed its own deadline, nothing found (golang/go#75804): again"; continue; } ;; esac; \
			echo "$$out"; exit 1; \
		done; \
		echo "fuzz $$t: $$(echo "$$out" | grep -o 'execs: [0-9]*' | tail -1) in $(FUZZTIME)"; \
	done
