// Package greylist is the end-to-end greylisting scenario: a private
// Postfix with maxwell as its milter, a 2-second greylist delay, and the
// SQLite store under maxwell's data directory.
package greylist

import (
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["example.org"]
hostname = "mx.example.org"

[greylist]
delay = "2s"
`

func TestPostfixGreylist(t *testing.T) {
	st := mtatest.StartStack(t, config, "example.org",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
	)
	// attempt sends one message; it returns the RCPT TO reply, and the
	// end-of-data reply when the recipient was accepted.
	attempt := func(t *testing.T) (rcpt, data mtatest.Reply) {
		c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
		if r := c.Cmd("MAIL FROM:<alice@sender.example>"); r.Code != 250 {
			t.Fatalf("MAIL FROM: %s", r)
		}
		if rcpt = c.Cmd("RCPT TO:<bob@example.org>"); rcpt.Code != 250 {
			return rcpt, data
		}
		return rcpt, c.Data("From: Alice <alice@sender.example>\r\nTo: Bob <bob@example.org>\r\nSubject: greylisting\r\n\r\nHello Bob.\r\n")
	}
	deferred := func(t *testing.T, r mtatest.Reply) {
		t.Helper()
		if r.Code != 451 || !strings.HasPrefix(r.Text, "4.7.1 Greylisted, please retry in ") {
			t.Fatalf("RCPT TO: %s, want 451 4.7.1 Greylisted", r)
		}
	}

	first := time.Now()
	rcpt, _ := attempt(t)
	deferred(t, rcpt)
	rcpt, _ = attempt(t) // at once: too early
	deferred(t, rcpt)

	time.Sleep(time.Until(first.Add(2500 * time.Millisecond)))
	rcpt, data := attempt(t)
	if rcpt.Code != 250 || data.Code != 250 {
		t.Fatalf("retry after the delay: RCPT %s, DATA %s; want both 250", rcpt, data)
	}
	m := st.Sink.Wait(t, 30*time.Second)
	head, _, _ := strings.Cut(m.Data, "\r\n\r\n")
	if !strings.Contains(head, "\r\nX-Greylist: delayed 2 seconds by maxwell-") || !strings.Contains(head, " at mx.example.org;\r\n\t") {
		t.Errorf("the delivered message lacks X-Greylist:\n%s", head)
	}
	for _, want := range []string{
		`event=greylist client=sender.example sender=alice@sender.example rcpt=bob@example.org step=new`,
		`event=greylist client=sender.example sender=alice@sender.example rcpt=bob@example.org step=early`,
		`event=greylist client=sender.example sender=alice@sender.example rcpt=bob@example.org step=pass delay=2`,
		`event=decision tag=GREYLISTED reason="greylisted sender.example alice@sender.example bob@example.org"`,
	} {
		if !strings.Contains(st.Log(), want) {
			t.Errorf("mail log lacks %q", want)
		}
	}
}
