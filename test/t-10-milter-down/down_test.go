// Package milterdown is end-to-end scenario t-10: Sendmail reaching
// maxwell over a unix socket (S=local:), and what each MTA answers when
// maxwell is down, as docs/setup-sendmail.md and docs/setup-postfix.md
// recommend: Sendmail F=T and Postfix milter_default_action = tempfail
// defer the mail (nothing lost, nothing unchecked); Sendmail F=R refuses it.
package milterdown

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const config = `
[milter]
socket = "unix:{socket}"
internal_domains = ["example.org"]
hostname = "mx.example.org"
`

// send sends one message from 127.0.0.1 and returns the first reply that
// is not 2xx/3xx (the greeting included), or the reply to the final dot.
func send(t *testing.T, addr string) mtatest.Reply {
	t.Helper()
	c, r := mtatest.Connect(t, addr, "")
	if r.Code != 220 {
		return r
	}
	for _, cmd := range []string{"EHLO pc1.example.org", "MAIL FROM:<carol@example.org>", "RCPT TO:<bob@example.org>"} {
		if r := c.Cmd("%s", cmd); r.Code >= 400 {
			return r
		}
	}
	r = c.Data("From: Carol <carol@example.org>\r\nSubject: minutes\r\n\r\nThe minutes.\r\n")
	c.Cmd("QUIT") // maxwell's graceful stop waits for the MTA's session to end
	return r
}

func TestMilterDown(t *testing.T) {
	st := mtatest.StartSendmailStack(t, config, "T", "example.org")
	if r := send(t, st.Sendmail.Addr); r.Code != 250 {
		t.Fatalf("through the unix socket: %s", r)
	}
	m := st.Sink.Wait(t, 30*time.Second)
	if !strings.HasPrefix(m.Data, "X-Maxwell-Connection: class=\"INTERNAL LOCAL\"; ip=127.0.0.1;") {
		t.Errorf("the message did not go through maxwell:\n%s", m.Data)
	}

	mtatest.Stop(st.Maxwell.Cmd.Process, st.Maxwell.Exited, syscall.SIGTERM)
	for _, tc := range []struct {
		name  string
		start func() string // the MTA's address
		code  int
	}{
		{"Sendmail F=T", func() string { return st.Sendmail.Addr }, 451},
		{"Sendmail F=R", func() string {
			return mtatest.StartSendmail(t, mtatest.SendmailOptions{Milter: "local:" + st.Unix, Flags: "R", RelayTo: st.Sink.Addr, Domains: "example.org"}).Addr
		}, 554},
		{"Postfix milter_default_action = tempfail", func() string {
			return mtatest.StartPostfix(t, mtatest.PostfixOptions{Milter: "unix:" + st.Unix, RelayTo: st.Sink.Addr, Domains: "example.org"}).Addr
		}, 451},
	} {
		r := send(t, tc.start())
		t.Logf("%s, maxwell down: %s", tc.name, r)
		if r.Code != tc.code {
			t.Errorf("%s, maxwell down: %s, want %d", tc.name, r, tc.code)
		}
	}
}
