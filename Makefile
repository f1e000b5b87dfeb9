# maxwell -- make run: build and start the milter on its embedded defaults;
# make test: unit, protocol and end-to-end (Postfix) tests.

GO      ?= go
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test vet fmt clean bench soak

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/maxwell ./cmd/maxwell

# CONFIG=path/to/maxwell.toml to run with a file instead of the defaults.
run: build
	./bin/maxwell serve $(if $(CONFIG),-c $(CONFIG))

vet:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

# The end-to-end tests start a private Postfix and PostgreSQL: they need
# root and the postfix and postgresql packages (.ci/run installs them).
# The MIME scanner is fuzzed for 20 seconds.
test: vet
	$(GO) test -race -count=1 -timeout 20m ./...
	$(GO) test -run '^$$' -fuzz '^FuzzScan$$' -fuzztime 20s ./mime
	@$(GO) test -count=1 -run '^TestRFC7208Suite$$' -v ./spf | grep -o 'RFC 7208 suite: .*'

# Loopback only: maxwell with every check off and with the default policy,
# next to the C and Go noop milters of ../shared/milterbench if present.
bench:
	bench/run.sh

clean:
	rm -rf bin

# The full soak: 1 000 000 messages through the daemon at 64 concurrent
# sessions (test/t-12-soak; make test runs 20 000 of them).
soak:
	MAXWELL_SOAK_MESSAGES=1000000 $(GO) test -count=1 -timeout 3h -run '^TestSoak$$' -v ./test/t-12-soak
