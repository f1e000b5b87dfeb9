// Package watch is the end-to-end scenario of maxwell watch: a private
// Postfix writes its own log (maillog_file); maxwell watch tails it next
// to the daemon and blacklists, in the shared SQLite store, the clients
// that were greylisted and hung up without QUIT. The daemon then answers
// them 421 at connect. The log is rotated mid-tail with `postfix
// logrotate`, and the watcher is restarted.
package watch

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["example.org"]
delayed_reject = false

[greylist]
delay = "2s"

[store]
cache_ttl = "1s"
`

func TestPostfixWatch(t *testing.T) {
	st := mtatest.StartStack(t, config, "example.org",
		`spam.example. TXT "v=spf1 ip4:198.51.100.0/24 ip4:192.0.2.0/24 ip4:203.0.113.0/24 -all"`,
		`polite.example. TXT "v=spf1 ip4:203.0.113.0/24 -all"`)
	bin := st.Maxwell.Cmd.Path
	postfixLog := filepath.Join(st.Postfix.Dir, "maillog")
	startWatch := func() *mtatest.Maxwell {
		return mtatest.RunMaxwell(t, st.Dir, bin, "watch", "-c", st.Config, postfixLog)
	}
	w := startWatch()
	// admin runs maxwell blacklist where the daemon runs, on its store.
	admin := func(args ...string) ([]byte, error) {
		cmd := exec.Command(bin, append([]string{"blacklist", args[0], "-c", st.Config}, args[1:]...)...)
		cmd.Dir = st.Dir
		return cmd.CombinedOutput()
	}

	// greylisted opens a session as ip, is greylisted at RCPT and
	// returns the client, still connected.
	greylisted := func(ip, from string) *mtatest.Client {
		t.Helper()
		c, r := mtatest.Session(t, st.Postfix.Addr, ip, "mail.sender.example")
		if r.Code != 250 {
			t.Fatalf("%s: EHLO: %s", ip, r)
		}
		if r := c.Cmd("MAIL FROM:<%s>", from); r.Code != 250 {
			t.Fatalf("%s: MAIL FROM: %s", ip, r)
		}
		if r := c.Cmd("RCPT TO:<bob@example.org>"); r.Code != 451 || !strings.Contains(r.Text, "Greylisted") {
			t.Fatalf("%s: RCPT TO: %s, want greylisted", ip, r)
		}
		return c
	}
	blacklisted := func(ip string) int { return strings.Count(st.Log(), "event=blacklist ip="+ip+" ") }
	waitBlacklisted := func(m *mtatest.Maxwell, ip string) {
		t.Helper()
		m.WaitFor(t, ip+" blacklisted", func() bool { return blacklisted(ip) == 1 })
	}

	// A rat: greylisted, then hangs up without QUIT.
	greylisted("198.51.100.7", "rat1@spam.example").Drop()
	// A mail server: greylisted, QUIT, back after the delay.
	start := time.Now()
	greylisted("203.0.113.20", "alice@polite.example").Cmd("QUIT")
	time.Sleep(time.Until(start.Add(2500 * time.Millisecond)))
	c, _ := mtatest.Session(t, st.Postfix.Addr, "203.0.113.20", "mail.polite.example")
	c.Cmd("MAIL FROM:<alice@polite.example>")
	if r := c.Cmd("RCPT TO:<bob@example.org>"); r.Code != 250 {
		t.Fatalf("the retry: %s", r)
	}
	if r := c.Data("Subject: hello\r\n\r\nhello\r\n"); r.Code != 250 {
		t.Fatalf("the retry's data: %s", r)
	}
	c.Cmd("QUIT")
	st.Sink.Wait(t, 30*time.Second)

	waitBlacklisted(w, "198.51.100.7")
	if !strings.Contains(st.Log(), `event=blacklist ip=198.51.100.7 reason="greylisted, then lost connection after RCPT"`) {
		t.Errorf("the blacklisting does not say why:\n%s", st.Log())
	}
	// The daemon answers the rat at connect now; Postfix answers 421 in
	// its own words, not maxwell's (docs/setup-postfix.md), and hangs up.
	// (What the daemon read of the rat's bans at its first connection,
	// more than 2.5 s ago, is older than cache_ttl.)
	rat := mtatest.DialSMTP(t, st.Postfix.Addr)
	rat.Cmd("EHLO test.client")
	if r := rat.Cmd("XCLIENT ADDR=198.51.100.7 NAME=[UNAVAILABLE]"); r.Code != 421 || r.Text != "mx.example.org Service unavailable - try again later" {
		t.Errorf("a blacklisted client at connect: %s, want 421 mx.example.org Service unavailable - try again later", r)
	}
	if !strings.Contains(st.Log(), `event=decision tag=BLACKLIST reason="blacklisted: greylisted, then lost connection after RCPT" code=421`) {
		t.Errorf("no BLACKLIST decision in maxwell's log")
	}

	// Rotation mid-tail: the next rat is read from the new file.
	if out, err := exec.Command("postfix", "-c", filepath.Join(st.Postfix.Dir, "etc"), "logrotate").CombinedOutput(); err != nil {
		t.Fatalf("postfix logrotate: %v\n%s", err, out)
	}
	rotated, _ := filepath.Glob(postfixLog + ".*")
	if len(rotated) != 1 {
		t.Fatalf("postfix logrotate left %v", rotated)
	}
	greylisted("192.0.2.30", "rat2@spam.example").Drop()
	waitBlacklisted(w, "192.0.2.30")

	// Restart: the watcher goes on where it stopped. The second rat
	// (in the current file) is taken off the list by hand; reading the
	// file again would put it back.
	mtatest.Stop(w.Cmd.Process, w.Exited, syscall.SIGTERM)
	if out, err := admin("delete", "--client", "192.0.2.30"); err != nil {
		t.Fatalf("maxwell blacklist delete: %v\n%s", err, out)
	}
	cl := greylisted("203.0.113.40", "rat3@spam.example") // while the watcher is down
	cl.Drop()
	w = startWatch()
	waitBlacklisted(w, "203.0.113.40")
	time.Sleep(1500 * time.Millisecond) // a round more, to be sure nothing else comes
	for _, ip := range []string{"198.51.100.7", "192.0.2.30"} {
		if n := blacklisted(ip); n != 1 {
			t.Errorf("%s blacklisted %d times, want once: lines were read twice", ip, n)
		}
	}
	out, err := admin("list")
	if err != nil {
		t.Fatalf("maxwell blacklist list: %v\n%s", err, out)
	}
	for ip, want := range map[string]bool{"198.51.100.7": true, "192.0.2.30": false, "203.0.113.40": true, "203.0.113.20": false} {
		if got := strings.Contains(string(out), "client  "+ip+" "); got != want {
			t.Errorf("blacklist list: %s listed %v, want %v:\n%s", ip, got, want, out)
		}
	}
}
