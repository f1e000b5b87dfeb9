// Package cbv is the end-to-end call-back scenario: a private Postfix
// with maxwell as its milter, and the mail server of the senders'
// domains (an SMTP server run by the test on 127.0.0.1).
package cbv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"github.com/maxwell-milter/maxwell/internal/smtptest"
)

// config is maxwell's configuration, with the [spf] and [cbv] keys and
// the port of the senders' mail server to fill in.
const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["example.org"]
hostname = "mx.example.org"

[greylist]
enabled = false  # t-03-postfix-greylist's subject

[spf]
%s

[cbv]
%s
port = %d
`

// client is the sending client: 198.51.100.7, mail.sender.example, whose
// address no SPF record below authorises (softfail: a call-back).
var client = []string{
	"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
	"mail.sender.example. A 198.51.100.7",
}

// send sends a message from the client, through Postfix, and returns
// the reply to its end of data.
func send(t *testing.T, st *mtatest.Stack, from string) mtatest.Reply {
	c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
	for _, cmd := range []string{"MAIL FROM:<" + from + ">", "RCPT TO:<bob@example.org>"} {
		if r := c.Cmd("%s", cmd); r.Code != 250 {
			t.Fatalf("%s: %s", cmd, r)
		}
	}
	return c.Data("From: <" + from + ">\r\nTo: <bob@example.org>\r\nSubject: softfail\r\n\r\nHello Bob.\r\n")
}

func TestPostfixCallback(t *testing.T) {
	mx := smtptest.Start(t, "mx.sender.example")
	access := filepath.Join(t.TempDir(), "access")
	os.WriteFile(access, []byte("SPF-Softfail:sender.example DSN\n"), 0o644)
	st := mtatest.StartStack(t, fmt.Sprintf(config, fmt.Sprintf("access_file = %q", access),
		"allow_private_mx = true  # the senders' mail server is on 127.0.0.1", mx.Port), "example.org",
		append(client,
			`sender.example. TXT "v=spf1 ip4:192.0.2.1 ~all"`,
			"sender.example. MX 10 mx.sender.example.",
			"mx.sender.example. A 127.0.0.1",
		)...)

	t.Run("the sender's server takes the DSN: the message is delivered", func(t *testing.T) {
		if r := send(t, st, "alice@sender.example"); r.Code != 250 {
			t.Fatalf("end of data: %s", r)
		}
		m := st.Sink.Wait(t, 30*time.Second)
		if !strings.Contains(m.Data, "Hello Bob.") {
			t.Errorf("delivered:\n%s", m.Data)
		}
		dsns := mx.Messages()
		if len(dsns) != 1 || !strings.Contains(string(dsns[0]), "To: <alice@sender.example>\r\n") ||
			!strings.Contains(string(dsns[0]), "Subject: SPF softfail for your message to bob@example.org (softfail)\r\n") {
			t.Errorf("DSNs at the sender's server: %q", dsns)
		}
	})

	t.Run("the sender's server refuses the address: 550", func(t *testing.T) {
		mx.RcptReply = smtptest.Reply(550, "no such user here")
		r := send(t, st, "ghost@sender.example")
		if r.Code != 550 || !strings.Contains(r.Text, "5.7.1 no such user here") {
			t.Errorf("end of data: %s, want 550 5.7.1 no such user here", r)
		}
	})

	for _, want := range []string{
		`event=cbv tag=CBV status=accepted policy=DSN sender=alice@sender.example mx=mx.sender.example code=250`,
		`event=cbv tag=CBV status=refused policy=DSN sender=ghost@sender.example mx=mx.sender.example code=550 text="no such user here"`,
		`event=decision tag=REJECT reason="CBV: 550 no such user here"`,
	} {
		if !strings.Contains(st.Log(), want) {
			t.Errorf("mail log lacks %q", want)
		}
	}
}

// A call-back maxwell does not make is answered with why, not with "no
// answer from the mail servers": subdomains that share one MX host share
// its allowance (domain_rate per MX address); a domain whose mail
// servers the Internet cannot reach is told so, and its servers are
// left alone.
func TestPostfixCallbackNotMade(t *testing.T) {
	t.Run("subdomains sharing one MX host: 451 4.7.1 past domain_rate", func(t *testing.T) {
		mx := smtptest.Start(t, "mx.shared.example")
		zone := append(client, "mx.shared.example. A 127.0.0.1")
		for i := range 6 {
			zone = append(zone, fmt.Sprintf(`d%d.shared.example. TXT "v=spf1 ip4:192.0.2.1 ~all"`, i),
				fmt.Sprintf("d%d.shared.example. MX 10 mx.shared.example.", i))
		}
		st := mtatest.StartStack(t, fmt.Sprintf(config, "", "allow_private_mx = true\ndomain_rate = 3", mx.Port), "example.org", zone...)
		for i := range 6 {
			r := send(t, st, fmt.Sprintf("alice@d%d.shared.example", i))
			if i < 3 && r.Code != 250 {
				t.Errorf("message %d: %s, want 250", i, r)
			}
			if want := "4.7.1 Cannot verify the sender now: too many call-backs, try again later"; i >= 3 && (r.Code != 451 || r.Text != want) {
				t.Errorf("message %d: %s, want 451 %s", i, r, want)
			}
		}
		if n := mx.Connections.Load(); n != 3 {
			t.Errorf("%d call-backs reached the shared MX host, want 3", n)
		}
		want := `event=cbv tag=CBV status=limited policy=CBV sender=alice@d5.shared.example error="MX mx.shared.example: too many call-backs: 3 an hour to mail server 127.0.0.1"`
		if !strings.Contains(st.Log(), want) {
			t.Errorf("mail log lacks %s", want)
		}
	})

	t.Run("MX on loopback without allow_private_mx: 450 4.1.8, no connection", func(t *testing.T) {
		mx := smtptest.Start(t, "mx.loopback.example")
		st := mtatest.StartStack(t, fmt.Sprintf(config, "", "", mx.Port), "example.org", append(client,
			`loopback.example. TXT "v=spf1 ip4:192.0.2.1 ~all"`,
			"loopback.example. MX 10 mx.loopback.example.",
			"mx.loopback.example. A 127.0.0.1",
		)...)
		r := send(t, st, "alice@loopback.example")
		if want := "4.1.8 The mail servers of loopback.example are not reachable from the Internet"; r.Code != 450 || r.Text != want {
			t.Errorf("end of data: %s, want 450 %s", r, want)
		}
		if n := mx.Connections.Load(); n != 0 {
			t.Errorf("%d connections to the MX host on loopback", n)
		}
		for _, want := range []string{
			`event=cbv tag=CBV status=private policy=CBV sender=alice@loopback.example error="the mail servers are not reachable from the Internet: MX mx.loopback.example is at 127.0.0.1 (Loopback)"`,
			`event=decision tag=TEMPFAIL reason="CBV not made: the mail servers are not reachable from the Internet: MX mx.loopback.example is at 127.0.0.1 (Loopback)"`,
		} {
			if !strings.Contains(st.Log(), want) {
				t.Errorf("mail log lacks %s", want)
			}
		}
	})
}
