package mtatest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
)

// Stack is what an end-to-end scenario runs: a DNS server with the
// scenario's zone, maxwell (the real binary) as the milter of a private
// Postfix, and a sink that Postfix delivers to.
type Stack struct {
	DNS     *dnstest.Server
	Maxwell *Maxwell
	Postfix *Postfix
	Sink    *Sink
	MailLog string // maxwell's mail log file
	Dir     string // maxwell's working directory: the binary, its configuration, data/
	Config  string // maxwell's configuration file
}

// StartStack starts a Stack. config is maxwell's configuration, where
// {port} stands for the milter port; the stack adds the [dns] section
// (its DNS server, a 1s timeout, one attempt) and the [log] section (the
// mail log file), so config has neither. domains are Postfix's
// relay_domains. Everything stops when the test ends; if it failed, the
// logs are shown.
func StartStack(t *testing.T, config, domains string, zone ...string) *Stack {
	t.Helper()
	dir := t.TempDir()
	dns, err := dnstest.Start(zone...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	cfg := filepath.Join(dir, "maxwell.toml")
	st := &Stack{DNS: dns, MailLog: filepath.Join(dir, "mail.log"), Dir: dir, Config: cfg}
	port := FreePort(t)
	text := strings.Replace(config, "{port}", fmt.Sprint(port), -1) +
		fmt.Sprintf("\n[dns]\nservers = [%q]\ntimeout = \"1s\"\nattempts = 1\n\n[log]\nmail_log = %q\n", dns.Addr, st.MailLog)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	st.Maxwell = StartMaxwell(t, dir, cfg)
	st.Maxwell.WaitListen(t, fmt.Sprintf("127.0.0.1:%d", port))
	st.Sink = StartSink(t)
	st.Postfix = StartPostfix(t, PostfixOptions{
		Milter:  fmt.Sprintf("inet:127.0.0.1:%d", port),
		RelayTo: st.Sink.Addr,
		Domains: domains,
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Postfix log:\n%s\nmaxwell mail log:\n%s\nmaxwell stderr:\n%s", st.Postfix.Log(), st.Log(), st.Maxwell.Stderr)
		}
	})
	return st
}

// Log returns maxwell's mail log so far.
func (st *Stack) Log() string {
	b, _ := os.ReadFile(st.MailLog)
	return string(b)
}
