// Package enginetest builds policy engines for tests: configuration from
// TOML text, DNS from an in-process server with the test's zone data, the
// mail log in memory.
package enginetest

import (
	"log/slog"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/policy"
)

// Env is an engine and what it talks to.
type Env struct {
	Engine *policy.Engine
	DNS    *dnstest.Server
	Log    *mtatest.Buffer // the mail log
	Diag   *mtatest.Buffer // the diagnostic log: errors with their stacks
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
	if cfg.Milter.DataDir == config.Default().Milter.DataDir {
		// The saved originals and spool files go to the test's own
		// directory, not the package's.
		cfg.Milter.DataDir = t.TempDir()
	}
	log, diag := &mtatest.Buffer{}, &mtatest.Buffer{}
	eng, err := policy.New(cfg, resolver.FromConfig(cfg.DNS), maillog.New(log), slog.New(slog.NewTextHandler(diag, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Engine: eng, DNS: srv, Log: log, Diag: diag}
}
