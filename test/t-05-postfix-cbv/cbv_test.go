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

const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["example.org"]
hostname = "mx.example.org"

[greylist]
enabled = false  # t-03-postfix-greylist's subject

[spf]
access_file = %q

[cbv]
allow_private_mx = true  # the senders' mail server is on 127.0.0.1
port = %d
`

func TestPostfixCallback(t *testing.T) {
	mx := smtptest.Start(t, "mx.sender.example")
	access := filepath.Join(t.TempDir(), "access")
	os.WriteFile(access, []byte("SPF-Softfail:sender.example DSN\n"), 0o644)
	st := mtatest.StartStack(t, fmt.Sprintf(config, access, mx.Port), "example.org",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:192.0.2.1 ~all"`,
		"sender.example. MX 10 mx.sender.example.",
		"mx.sender.example. A 127.0.0.1",
	)
	send := func(t *testing.T, from string) mtatest.Reply {
		c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
		for _, cmd := range []string{"MAIL FROM:<" + from + ">", "RCPT TO:<bob@example.org>"} {
			if r := c.Cmd("%s", cmd); r.Code != 250 {
				t.Fatalf("%s: %s", cmd, r)
			}
		}
		return c.Data("From: <" + from + ">\r\nTo: <bob@example.org>\r\nSubject: softfail\r\n\r\nHello Bob.\r\n")
	}

	t.Run("the sender's server takes the DSN: the message is delivered", func(t *testing.T) {
		if r := send(t, "alice@sender.example"); r.Code != 250 {
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
		r := send(t, "ghost@sender.example")
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
