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
// Postfix or Sendmail, and a sink that the MTA delivers to.
type Stack struct {
	DNS      *dnstest.Server
	Maxwell  *Maxwell
	Postfix  *Postfix  // set by StartStack
	Sendmail *Sendmail // set by StartSendmailStack
	Sink     *Sink
	MailLog  string // maxwell's mail log file
	Dir      string // maxwell's working directory: the binary, its configuration, data/
	Config   string // maxwell's configuration file
	Port     int    // maxwell's milter port on 127.0.0.1
	Unix     string // or its unix socket, when config says socket = "unix:{socket}"
}

// StartStack starts a Stack with Postfix. config is maxwell's
// configuration, where {port} stands for the milter port (and {socket}
// for a unix socket path in the test's directory); the stack adds
// the [dns] section (its DNS server, a 1s timeout, one attempt) and the
// [log] section (the mail log file), so config has neither. domains are
// Postfix's relay_domains. Everything stops when the test ends; if it
// failed, the logs are shown.
func StartStack(t *testing.T, config, domains string, zone ...string) *Stack {
	t.Helper()
	st := StartMilter(t, config, zone...)
	st.Postfix = StartPostfix(t, PostfixOptions{
		Milter:  fmt.Sprintf("inet:127.0.0.1:%d", st.Port),
		RelayTo: st.Sink.Addr,
		Domains: domains,
	})
	st.showLogs(t, "Postfix", st.Postfix.Log)
	return st
}

// StartSendmailStack starts a Stack with Sendmail, whose INPUT_MAIL_FILTER
// has flags (F=, "" for T); otherwise as StartStack.
func StartSendmailStack(t *testing.T, config, flags, domains string, zone ...string) *Stack {
	t.Helper()
	st := StartMilter(t, config, zone...)
	milter := fmt.Sprintf("inet:%d@127.0.0.1", st.Port)
	if st.Unix != "" {
		milter = "local:" + st.Unix
	}
	st.Sendmail = StartSendmail(t, SendmailOptions{
		Milter:  milter,
		Flags:   flags,
		RelayTo: st.Sink.Addr,
		Domains: domains,
	})
	st.showLogs(t, "Sendmail", st.Sendmail.Log)
	return st
}

// StartMilter starts the DNS server, maxwell and the sink, without an
// MTA: for tests that play the MTA themselves (miltertest).
func StartMilter(t *testing.T, config string, zone ...string) *Stack {
	t.Helper()
	return startMilter(t, 0, config, zone...)
}

// StartMilterWithFiles is StartMilter with maxwell allowed at most nofile
// open files (prlimit --nofile, soft and hard), to run it out of file
// descriptors. The PID is still maxwell's (prlimit execs it), but
// Maxwell.Cmd.Path is prlimit's.
func StartMilterWithFiles(t *testing.T, nofile int, config string, zone ...string) *Stack {
	t.Helper()
	return startMilter(t, nofile, config, zone...)
}

// startMilter is StartMilter; nofile > 0 limits maxwell's open files.
func startMilter(t *testing.T, nofile int, config string, zone ...string) *Stack {
	t.Helper()
	dir := t.TempDir()
	dns, err := dnstest.Start(zone...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	cfg := filepath.Join(dir, "maxwell.toml")
	st := &Stack{DNS: dns, MailLog: filepath.Join(dir, "mail.log"), Dir: dir, Config: cfg, Port: FreePort(t)}
	if strings.Contains(config, "{socket}") {
		st.Unix = filepath.Join(dir, "maxwell.sock")
	}
	// The scenarios read the mail log (Log) as soon as the MTA has
	// answered: each line is written at once (flush_interval = "0s"), not
	// up to 100 ms later. Buffering is tested in internal/maillog and by
	// cmd/maxwell TestStopKeepsMailLog.
	text := strings.NewReplacer("{port}", fmt.Sprint(st.Port), "{socket}", st.Unix).Replace(config) +
		fmt.Sprintf("\n[dns]\nservers = [%q]\ntimeout = \"1s\"\nattempts = 1\n\n[log]\nmail_log = %q\nflush_interval = \"0s\"\n", dns.Addr, st.MailLog)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if nofile > 0 {
		st.Maxwell = RunMaxwell(t, dir, "prlimit", fmt.Sprintf("--nofile=%d", nofile), BuildMaxwell(t, dir), "serve", "-c", cfg)
	} else {
		st.Maxwell = StartMaxwell(t, dir, cfg)
	}
	if st.Unix != "" {
		st.Maxwell.WaitListen(t, st.Unix)
	} else {
		st.Maxwell.WaitListen(t, fmt.Sprintf("127.0.0.1:%d", st.Port))
	}
	// The socket takes connections from the moment it listens, a little
	// before the start line is written.
	st.Maxwell.WaitFor(t, "the start line", func() bool { return strings.Contains(st.Maxwell.Stderr.String(), "maxwell started") })
	st.Sink = StartSink(t)
	return st
}

// showLogs shows the MTA's and maxwell's logs when the test has failed.
func (st *Stack) showLogs(t *testing.T, mta string, mtaLog func() string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s\nmaxwell mail log:\n%s\nmaxwell stderr:\n%s", mta, mtaLog(), st.Log(), st.Maxwell.Stderr)
		}
	})
}

// Log returns maxwell's mail log so far.
func (st *Stack) Log() string {
	b, _ := os.ReadFile(st.MailLog)
	return string(b)
}
