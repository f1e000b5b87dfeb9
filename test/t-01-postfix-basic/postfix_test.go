// Package postfixbasic is end-to-end scenario t-01: a private Postfix with
// maxwell as its milter, driven over real SMTP. Clients present
// themselves with Postfix's XCLIENT, so external and internal addresses
// can be played from loopback; names resolve through a DNS server run by
// the test; delivered mail lands in a sink run by the test.
package postfixbasic

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_connect = ["192.0.2.0/24"]
internal_domains = ["example.org"]

[blocked_senders]
senders = ["pest@annoying.example"]
exceptions = ["lawyer"]  # a bare local part: lawyer at example.org

[greylist]
enabled = false  # t-03-postfix-greylist's subject
`

func TestPostfixBasic(t *testing.T) {
	st := mtatest.StartStack(t, config, "example.org",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
	)
	pf, sink := st.Postfix, st.Sink

	// Postfix answers a rejection at HELO at the next MAIL FROM; its EHLO
	// reply then offers no extensions.
	t.Run("numeric HELO is rejected", func(t *testing.T) {
		c, r := mtatest.Session(t, pf.Addr, "198.51.100.7", "198.51.100.7")
		if r.Code != 250 || strings.Contains(r.Text, "PIPELINING") {
			t.Errorf("EHLO 198.51.100.7: %s", r)
		}
		if r = c.Cmd("MAIL FROM:<alice@sender.example>"); r.Code != 550 || r.Text != "5.7.1 hello name cannot be numeric ip" {
			t.Errorf("MAIL FROM after a numeric HELO: %s", r)
		}
	})

	t.Run("zombie MAIL FROM is rejected", func(t *testing.T) {
		c, r := mtatest.Session(t, pf.Addr, "192.0.2.10", "pc10.example.org")
		if r.Code != 250 {
			t.Fatalf("EHLO: %s", r)
		}
		r = c.Cmd("MAIL FROM:<someone@elsewhere.example>")
		want := "5.7.1 Your PC is using an unauthorized MAIL FROM.\n5.7.1 It is either badly misconfigured or controlled by organized crime."
		if r.Code != 550 || r.Text != want {
			t.Errorf("MAIL FROM: %s, want 550 %q", r, want)
		}
	})

	t.Run("blocked sender is deferred", func(t *testing.T) {
		c, _ := mtatest.Session(t, pf.Addr, "198.51.100.7", "mail.sender.example")
		if r := c.Cmd("MAIL FROM:<pest@annoying.example>"); r.Code != 250 {
			t.Fatalf("MAIL FROM: %s", r)
		}
		if r := c.Cmd("RCPT TO:<bob@example.org>"); r.Code != 452 || r.Text != "4.2.2 Mailbox full, retry later" {
			t.Errorf("RCPT TO: %s", r)
		}
	})

	// An exception written as a bare local part, as in Exim's
	// exceptions.list, is that user at our domains (internal_domains).
	t.Run("blocked sender reaches a bare-local-part exception", func(t *testing.T) {
		c, _ := mtatest.Session(t, pf.Addr, "198.51.100.7", "mail.sender.example")
		if r := c.Cmd("MAIL FROM:<pest@annoying.example>"); r.Code != 250 {
			t.Fatalf("MAIL FROM: %s", r)
		}
		if r := c.Cmd("RCPT TO:<Lawyer@example.org>"); r.Code != 250 {
			t.Errorf("RCPT TO the exception: %s", r)
		}
		if r := c.Cmd("RCPT TO:<lawyer.assistant@example.org>"); r.Code != 452 || r.Text != "4.2.2 Mailbox full, retry later" {
			t.Errorf("RCPT TO another user: %s", r)
		}
	})

	t.Run("clean message is delivered with maxwell's header", func(t *testing.T) {
		c, _ := mtatest.Session(t, pf.Addr, "198.51.100.7", "mail.sender.example")
		for _, cmd := range []string{"MAIL FROM:<alice@sender.example>", "RCPT TO:<bob@example.org>"} {
			if r := c.Cmd("%s", cmd); r.Code != 250 {
				t.Fatalf("%s: %s", cmd, r)
			}
		}
		r := c.Data("From: Alice <alice@sender.example>\r\nTo: Bob <bob@example.org>\r\nSubject: e2e hello\r\n\r\nHello Bob.\r\n")
		if r.Code != 250 {
			t.Fatalf("end of data: %s", r)
		}
		qid := regexp.MustCompile(`queued as (\w+)`).FindStringSubmatch(r.Text)
		m := sink.Wait(t, 30*time.Second)
		if m.From != "alice@sender.example" || len(m.To) != 1 || m.To[0] != "bob@example.org" {
			t.Errorf("envelope at the sink: %s -> %v", m.From, m.To)
		}
		want := `X-Maxwell-Connection: class="EXTERNAL"; ip=198.51.100.7; ptr=mail.sender.example; helo=mail.sender.example; by=mx.example.org`
		if head, _, _ := strings.Cut(m.Data, "\r\n\r\n"); !strings.Contains(head+"\r\n", "\n"+want+"\r\n") || !strings.Contains(m.Data, "\r\n\r\nHello Bob.") {
			t.Errorf("delivered message lacks %q in its header:\n%s", want, m.Data)
		}
		if qid == nil || !strings.Contains(st.Log(), "event=eom action=accept qid="+qid[1]) {
			t.Errorf("the mail log lacks the accepted message (reply %q)", r.Text)
		}
	})

	// The mail log tells the same story, one line per event.
	for _, want := range []string{
		`event=decision tag=REJECT reason="numeric hello name: 198.51.100.7" code=550 xcode=5.7.1`,
		`event=decision tag=REJECT reason="zombie PC at 192.0.2.10 sending MAIL FROM someone@elsewhere.example"`,
		`event=decision tag=TEMPFAIL reason="blocked sender pest@annoying.example" rcpt=bob@example.org code=452 xcode=4.2.2`,
	} {
		if !strings.Contains(st.Log(), want) {
			t.Errorf("mail log lacks %q", want)
		}
	}
}
