// Package watch is the end-to-end scenario of maxwell watch at an Exim
// site: a private Exim 4 (unpacked from Debian's packages, see
// mtatest.StartExim) greylists in its own RCPT ACL, as Exim has no
// milter, and writes its main log; maxwell watch tails it next to the
// daemon and blacklists, in the shared store, the client that was
// greylisted and hung up without QUIT, and none of the polite ones. It
// runs with Debian's default log_selector and with one that names each
// connection.
package watch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["example.org"]

[greylist]
delay = "2s"

[store]
cache_ttl = "1s"
`

func TestEximWatch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		selector string // log_selector
		main     string
		message  string // the ACL's greylisting message
	}{
		// Debian's default (exim4-config's MAIN_LOG_SELECTOR): the lines
		// of a connection share only the client's address; a QUIT is
		// not logged.
		{"Debian's log_selector", "+smtp_protocol_error +smtp_syntax_error +tls_certificate_verified +tls_peerdn", "",
			"451 4.7.1 Greylisted, please retry in 2 seconds"},
		// Every connection named by its process and port, its start and
		// QUIT logged, times to the millisecond with their zone, and a
		// message that leaves Exim to choose the code (451).
		{"+pid +incoming_port +smtp_connection", "+pid +incoming_port +smtp_connection +millisec",
			"log_timezone = true", "Greylisted, please retry in 2 seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eximWatch(t, tc.selector, tc.main, tc.message)
		})
	}
}

func eximWatch(t *testing.T, selector, main, message string) {
	exim := mtatest.StartExim(t, mtatest.EximOptions{
		LogSelector: selector,
		Main:        main,
		// The greylisting: a sender in {dir}/passed has passed it.
		RcptACL: "  accept  senders = lsearch;{dir}/passed\n" +
			"  defer   message = " + message,
	})
	st := mtatest.StartMilter(t, config) // maxwell serve: it makes the store
	passed := filepath.Join(exim.Dir, "passed")
	if err := os.WriteFile(passed, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Exim's main log:\n%s\nmaxwell's mail log:\n%s", exim.Log(), st.Log())
		}
	})
	bin := st.Maxwell.Cmd.Path
	w := mtatest.RunMaxwell(t, st.Dir, bin, "watch", "-c", st.Config, exim.MainLog)

	// greylisted connects from ip, is greylisted at RCPT and returns the
	// client, still connected.
	greylisted := func(ip, helo, from string) *mtatest.Client {
		t.Helper()
		c := mtatest.DialSMTPFrom(t, exim.Addr, ip)
		if r := c.Cmd("EHLO %s", helo); r.Code != 250 {
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

	// A mail server: greylisted, QUIT, back after the delay (it has
	// passed the greylisting then), and its message is queued.
	start := time.Now()
	greylisted("127.0.0.3", "mail.polite.example", "alice@polite.example").Cmd("QUIT")
	if err := os.WriteFile(passed, []byte("alice@polite.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(start.Add(2500 * time.Millisecond)))
	c := mtatest.DialSMTPFrom(t, exim.Addr, "127.0.0.3")
	c.Cmd("EHLO mail.polite.example")
	c.Cmd("MAIL FROM:<alice@polite.example>")
	if r := c.Cmd("RCPT TO:<bob@example.org>"); r.Code != 250 {
		t.Fatalf("the retry: %s", r)
	}
	if r := c.Data("Subject: hello\r\n\r\nhello\r\n"); r.Code != 250 {
		t.Fatalf("the retry's data: %s", r)
	}
	c.Cmd("QUIT")
	// The same server hangs up in its next transaction, greylisted on no
	// connection since the first: not an offence. With the default
	// log_selector the lines share only the address, and only D= on
	// this one tells its connection from the first.
	c = mtatest.DialSMTPFrom(t, exim.Addr, "127.0.0.3")
	c.Cmd("EHLO mail.polite.example")
	c.Cmd("MAIL FROM:<alice@polite.example>")
	if r := c.Cmd("RCPT TO:<bob@example.org>"); r.Code != 250 {
		t.Fatalf("the next transaction: %s", r)
	}
	c.Drop()
	// Another client hangs up without QUIT, never greylisted.
	c = mtatest.DialSMTPFrom(t, exim.Addr, "127.0.0.5")
	c.Cmd("EHLO mail.other.example")
	c.Drop()
	// The rat: greylisted, then hangs up without QUIT. It is last: once
	// it is blacklisted, the watcher has read the lines before.
	greylisted("127.0.0.2", "mail.sender.example", "rat@spam.example").Drop()

	blacklisted := func(ip string) int { return strings.Count(st.Log(), "event=blacklist ip="+ip+" ") }
	w.WaitFor(t, "127.0.0.2 blacklisted", func() bool { return blacklisted("127.0.0.2") == 1 })
	if !strings.Contains(st.Log(), `event=blacklist ip=127.0.0.2 reason="greylisted, then unexpected disconnection while reading SMTP command"`) {
		t.Errorf("the blacklisting does not say why:\n%s", st.Log())
	}
	list := exec.Command(bin, "blacklist", "list", "-c", st.Config)
	list.Dir = st.Dir // the store is under the daemon's directory
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("maxwell blacklist list: %v\n%s", err, out)
	}
	for ip, want := range map[string]bool{"127.0.0.2": true, "127.0.0.3": false, "127.0.0.5": false} {
		if got := strings.Contains(string(out), "client  "+ip+" "); got != want {
			t.Errorf("blacklist list: %s listed %v, want %v:\n%s", ip, got, want, out)
		}
	}
}
