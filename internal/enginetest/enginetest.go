// Package enginetest builds policy engines for tests: configuration from
// TOML text, DNS from an in-process server with the test's zone data, the
// mail log in memory.
package enginetest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/policy"
)

// Env is an engine and what it talks to.
type Env struct {
	Engine *policy.Engine
	Config *config.Config
	DNS    *dnstest.Server
	Log    *Buffer // the mail log
}

// New builds an engine from toml (over the defaults), resolving through a
// DNS server that serves records (zone-file syntax). Both stop with the test.
func New(t testing.TB, toml string, records ...string) *Env {
	t.Helper()
	srv, err := dnstest.Start(records...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg, err := config.Parse("test.toml", []byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DNS.Servers = []string{srv.Addr}
	log := &Buffer{}
	eng, err := policy.New(cfg, resolver.FromConfig(cfg.DNS), maillog.New(log), slog.New(slog.NewTextHandler(diagWriter{log}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Engine: eng, Config: cfg, DNS: srv, Log: log}
}

// Buffer collects log lines; it is safe for concurrent use.
type Buffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	diag bytes.Buffer // the diagnostic log
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the lines containing every one of the substrings.
func (b *Buffer) Lines(substrings ...string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		ok := l != ""
		for _, s := range substrings {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// Diagnostics returns the diagnostic log (errors with their stacks).
func (b *Buffer) Diagnostics() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.diag.String()
}

type diagWriter struct{ b *Buffer }

func (w diagWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.b.diag.Write(p)
}
