package main

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtaclient"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"github.com/maxwell-milter/maxwell/policy"
)

const serveConfig = `
[milter]
socket = "unix:SOCK"
shutdown_timeout = "20s"
HELO

[greylist]
enabled = false

[dns]
servers = ["DNS"]
timeout = "300ms"

[log]
mail_log = "LOG"
`

// The daemon: unix socket, reload on SIGHUP (a broken file is refused),
// log reopening, and a graceful stop on SIGTERM that lets the session in
// flight finish and exits 0.
func TestServeSignals(t *testing.T) {
	dir := t.TempDir()
	sock, logPath := filepath.Join(dir, "maxwell.sock"), filepath.Join(dir, "mail.log")
	conf := func(helo string) string {
		return strings.NewReplacer("SOCK", sock, "LOG", logPath, "HELO", helo).Replace(serveConfig)
	}
	cfgPath, dnsAddr := writeConfig(t, dir, conf(""))
	write := func(text string) {
		if err := os.WriteFile(cfgPath, []byte(strings.Replace(text, "DNS", dnsAddr, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	m := mtatest.StartMaxwell(t, dir, cfgPath)
	cmd, stderr := m.Cmd, m.Stderr
	m.WaitListen(t, sock)
	if fi, _ := os.Stat(sock); fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want 0660", fi.Mode().Perm())
	}

	send := func(helo string) mtaclient.Result {
		t.Helper()
		r, err := mtaclient.Send("unix", sock, policy.Transaction{
			Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, Helo: helo,
			Mail: policy.MailInfo{Sender: "alice@sender.example"}, Rcpts: []string{"bob@example.org"},
		}, []byte("Hi\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := send("mx.example.org"); !r.Accepted() {
		t.Fatalf("first message: %s", r.Action)
	}

	// A broken file is refused; the running configuration goes on.
	write(conf("hello_blacklist = [\"mx.example.org\"]\nbogus_key = 1"))
	cmd.Process.Signal(syscall.SIGHUP)
	m.WaitFor(t, "the reload to be refused", func() bool {
		return strings.Contains(stderr.String(), "configuration reload refused") && strings.Contains(stderr.String(), "milter.bogus_key")
	})
	if r := send("mx.example.org"); !r.Accepted() {
		t.Fatalf("after a refused reload: %s", r.Action)
	}

	// A good one is taken, and the mail log is reopened (logrotate).
	os.Rename(logPath, logPath+".1")
	write(conf("hello_blacklist = [\"mx.example.org\"]"))
	cmd.Process.Signal(syscall.SIGHUP)
	m.WaitFor(t, "the reload", func() bool { return strings.Contains(stderr.String(), "configuration reloaded") })
	if r := send("mx.example.org"); r.Accepted() || r.Stage != "helo" {
		t.Fatalf("after the reload: %s at %s, want the HELO refused", r.Action, r.Stage)
	}
	m.WaitFor(t, "the decision in the reopened mail log", func() bool { return strings.Contains(mustRead(t, logPath), "spam from self") })

	// SIGTERM with a message in flight: no new sessions, the open one
	// finishes, exit status 0.
	c, _, err := mtaclient.Dial("unix", sock, policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, "mail.sender.example")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	m.WaitFor(t, "the socket to close", func() bool { _, err := os.Stat(sock); return err != nil })
	r, err := c.Message(policy.MailInfo{Sender: "alice@sender.example"}, []string{"bob@example.org"}, nil, []byte("Hi\r\n"))
	if err != nil || !r.Accepted() {
		t.Fatalf("message in flight during shutdown: %v %v", r.Action, err)
	}
	c.Close()
	select {
	case <-m.Exited:
		if m.Err != nil {
			t.Fatalf("exit: %v\n%s", m.Err, stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("maxwell did not exit after its last session ended")
	}
}

// SIGTERM and SIGINT lose no mail-log line: with lines kept in memory
// for up to an hour (so only the stop can write them), every line of
// every message answered before the signal is in the file after the exit.
// The two daemons, one started after the other, number their
// connections apart: no conn= of the first is one of the second's.
func TestStopKeepsMailLog(t *testing.T) {
	const messages = 20
	var firstConn []uint64 // the first connection's number, by run
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			sock, logPath := filepath.Join(dir, "maxwell.sock"), filepath.Join(dir, "mail.log")
			cfgPath, _ := writeConfig(t, dir, strings.NewReplacer("SOCK", sock, "LOG", logPath, "HELO", "").Replace(serveConfig)+
				"flush_interval = \"1h\"\n")
			m := mtatest.StartMaxwell(t, dir, cfgPath)
			m.WaitListen(t, sock)
			for i := range messages {
				r, err := mtaclient.Send("unix", sock, policy.Transaction{
					Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, Helo: "mail.sender.example",
					Mail: policy.MailInfo{Sender: fmt.Sprintf("alice%d@sender.example", i)}, Rcpts: []string{"bob@example.org"},
				}, []byte("Hi\r\n"))
				if err != nil || !r.Accepted() {
					t.Fatalf("message %d: %v %v", i, r.Action, err)
				}
			}
			if log := mustRead(t, logPath); log != "" { // under 64 KiB and an hour: all waits
				t.Fatalf("lines written before the stop: the test shows nothing\n%s", log)
			}
			m.Cmd.Process.Signal(sig)
			select {
			case <-m.Exited:
				if m.Err != nil {
					t.Fatalf("exit: %v\n%s", m.Err, m.Stderr)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("maxwell did not exit")
			}
			log := mustRead(t, logPath)
			connect := regexp.MustCompile(` conn=(\d+) event=connect `).FindStringSubmatch(log)
			if connect == nil {
				t.Fatalf("no connection in the mail log:\n%s", log)
			}
			first, _ := strconv.ParseUint(connect[1], 10, 64)
			for _, before := range firstConn {
				if first < before+messages {
					t.Errorf("connections numbered from %d after a run numbered from %d: numbers reused", first, before)
				}
			}
			firstConn = append(firstConn, first)
			for i := range messages {
				conn := fmt.Sprintf(" conn=%d ", first+uint64(i))
				for _, want := range []string{conn + "event=connect ", conn + "event=hello ", conn + fmt.Sprintf("event=\"mail from\" from=alice%d@sender.example", i),
					conn + `event="rcpt to" to=bob@example.org`, conn + "event=eom action=accept ", conn + "event=close "} {
					if !strings.Contains(log, want) {
						t.Errorf("the mail log lacks %q", want)
					}
				}
			}
			if t.Failed() {
				t.Logf("mail log:\n%s", log)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The metrics endpoint: its counters move as messages go through the
// daemon over the milter protocol.
func TestServeMetrics(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "maxwell.sock")
	addr := fmt.Sprintf("127.0.0.1:%d", mtatest.FreePort(t))
	cfgPath, _ := writeConfig(t, dir, strings.NewReplacer("SOCK", sock, "LOG", filepath.Join(dir, "mail.log"), "HELO", "",
		"[greylist]\nenabled = false", fmt.Sprintf("[metrics]\nlisten = %q", addr)).Replace(serveConfig))
	m := mtatest.StartMaxwell(t, dir, cfgPath)
	m.WaitListen(t, sock)
	m.WaitListen(t, addr)

	scrape := func() map[string]float64 { return mtatest.Scrape(t, addr) }
	before := scrape()
	c, _, err := mtaclient.Dial("unix", sock, policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, "mail.sender.example")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if r, err := c.Message(policy.MailInfo{Sender: "alice@sender.example"}, []string{"bob@example.org"}, nil, []byte("Hi\r\n")); err != nil || !strings.HasPrefix(r.Stage, "rcpt") || r.Accepted() {
			t.Fatalf("message: %v at %s, %v; want greylisted at RCPT", r.Action, r.Stage, err)
		}
	}
	during := scrape()
	c.Close()
	m.WaitFor(t, "the session to close", func() bool { return scrape()["maxwell_sessions_open"] == 0 })
	after := scrape()

	for _, tc := range []struct {
		name        string
		from, to    map[string]float64
		least, most float64
	}{
		{"maxwell_sessions_open", before, during, 1, 1},
		{"maxwell_messages_total", before, after, 2, 2},
		{`maxwell_decisions_total{action="tempfail",reason="greylisted"}`, before, after, 2, 2},
		{`maxwell_greylist_steps_total{step="new"}`, before, after, 1, 1},
		{`maxwell_greylist_steps_total{step="early"}`, before, after, 1, 1},
		{"maxwell_greylist_pending", before, after, 1, 1},
		{`maxwell_store_op_seconds_count{op="update_triplet"}`, before, after, 2, 2},
		{`maxwell_dns_query_seconds_count{type="PTR"}`, before, after, 1, 1},
		{`maxwell_dns_query_seconds_count{type="TXT"}`, before, after, 1, 10},
	} {
		if d := tc.to[tc.name] - tc.from[tc.name]; d < tc.least || d > tc.most {
			t.Errorf("%s moved by %v, want %v to %v", tc.name, d, tc.least, tc.most)
		}
	}

	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "store: ok\ndns: ok\n" {
		t.Errorf("/healthz: %d %q", resp.StatusCode, body)
	}
}

// serve --watch: the daemon tails the MTA log itself and answers the
// clients it blacklists at connect, 421, as soon as it has read them.
func TestServeWatch(t *testing.T) {
	dir := t.TempDir()
	sock, mtaLog := filepath.Join(dir, "maxwell.sock"), filepath.Join(dir, "postfix.log")
	cfgPath, _ := writeConfig(t, dir, strings.NewReplacer("SOCK", sock, "LOG", filepath.Join(dir, "mail.log"), "HELO", "").Replace(serveConfig))
	m := mtatest.RunMaxwell(t, dir, mtatest.BuildMaxwell(t, dir), "serve", "-c", cfgPath, "--watch", mtaLog)
	m.WaitListen(t, sock)

	// Real Postfix lines (watch/testdata), dated now.
	b, err := os.ReadFile("../../watch/testdata/postfix.log")
	if err != nil {
		t.Fatal(err)
	}
	stamp := time.Now().Format(time.Stamp)
	var lines []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if len(l) > len(stamp) {
			lines = append(lines, stamp+l[len(stamp):])
		}
	}
	if err := os.WriteFile(mtaLog, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	m.WaitFor(t, "the rat to be blacklisted", func() bool {
		return strings.Contains(mustRead(t, filepath.Join(dir, "mail.log")), "event=blacklist ip=198.51.100.7 ")
	})
	_, r, err := mtaclient.Dial("unix", sock, policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, "mail.sender.example")
	if err != nil {
		t.Fatal(err)
	}
	if r == nil || r.Stage != "connect" || r.Action.SMTPCode != 421 {
		t.Fatalf("a blacklisted client at connect: %+v, want 421", r)
	}
	// A polite client of the same log is not refused.
	r2, err := mtaclient.Send("unix", sock, policy.Transaction{
		Conn: policy.ConnInfo{IP: netip.MustParseAddr("203.0.113.20")}, Helo: "mail.polite.example",
		Mail: policy.MailInfo{Sender: "alice@polite.example"}, Rcpts: []string{"bob@example.org"},
	}, []byte("Hi\r\n"))
	if err != nil || r2.Stage == "connect" || r2.Action.SMTPCode == 421 {
		t.Errorf("a polite client: %v at %s, %v", r2.Action, r2.Stage, err)
	}
}
