// Package sendmailbasic is end-to-end scenario t-09: a private Sendmail 8
// (INPUT_MAIL_FILTER, F=T) with maxwell as its milter, driven over real
// SMTP. Sendmail has no XCLIENT: external clients connect from 127.0.0.2
// and 127.0.0.3, which maxwell checks as any client with
// loopback_internal = false; names resolve through the test's DNS server.
package sendmailbasic

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
loopback_internal = false
delayed_reject = false
internal_domains = ["example.org"]
hostname = "mx.example.org"

[greylist]
delay = "2s"

[defang]
malformed = "quarantine"
`

var zone = []string{
	"2.0.0.127.in-addr.arpa. PTR mail.sender.example.",
	"mail.sender.example. A 127.0.0.2",
	`sender.example. TXT "v=spf1 ip4:127.0.0.2 -all"`,
	`strict.example. TXT "v=spf1 ip4:192.0.2.1 -all"`,
}

// pif is a message whose attachment can carry a virus.
const pif = "From: Alice <alice@sender.example>\r\nTo: Bob <bob@example.org>\r\nSubject: the pictures\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\nHello Bob.\r\n" +
	"--b\r\nContent-Type: application/octet-stream; name=\"pictures.pif\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b--\r\n"

func TestSendmailBasic(t *testing.T) {
	st := mtatest.StartSendmailStack(t, config, "", "example.org", zone...)
	sm := st.Sendmail

	// session connects from ip, says EHLO helo and gives MAIL FROM; it
	// returns the client and the first refusal's reply, if any.
	session := func(ip, helo, from string) (*mtatest.Client, mtatest.Reply) {
		t.Helper()
		c := mtatest.DialSMTPFrom(t, sm.Addr, ip)
		if r := c.Cmd("EHLO %s", helo); r.Code != 250 {
			return c, r
		}
		return c, c.Cmd("MAIL FROM:<%s>", from)
	}

	// A client on the blacklist ([watch] answer = "tempfail") is refused
	// at connect: Sendmail greets it with a 421 of its own words, not
	// maxwell's (docs/setup-sendmail.md); the reason is in maxwell's log.
	t.Run("a blacklisted client gets Sendmail's 421 at connect", func(t *testing.T) {
		cmd := exec.Command(st.Maxwell.Cmd.Path, "blacklist", "add", "-c", st.Config, "--client", "127.0.0.9", "--reason", "by hand")
		cmd.Dir = st.Dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("maxwell blacklist add: %v\n%s", err, out)
		}
		if _, r := mtatest.Connect(t, sm.Addr, "127.0.0.9"); r.Code != 421 || r.Text != "4.7.0 mx.example.org closing connection" {
			t.Errorf("greeting of a blacklisted client: %s, want 421 4.7.0 mx.example.org closing connection", r)
		}
		want := `event=decision tag=BLACKLIST reason="blacklisted: by hand" code=421`
		st.Maxwell.WaitFor(t, "the BLACKLIST decision in the mail log", func() bool { return strings.Contains(st.Log(), want) })
	})

	t.Run("numeric HELO is rejected", func(t *testing.T) {
		_, r := session("127.0.0.3", "[127.0.0.3]", "alice@sender.example")
		if r.Code != 550 || r.Text != "5.7.1 hello name cannot be numeric ip" {
			t.Errorf("after EHLO [127.0.0.3]: %s", r)
		}
	})

	t.Run("SPF fail is rejected", func(t *testing.T) {
		c, r := session("127.0.0.2", "mail.sender.example", "mallory@strict.example")
		if r.Code == 250 {
			r = c.Cmd("RCPT TO:<bob@example.org>")
		}
		// Sendmail puts the address before the milter's text.
		if want := "5.7.23 <mallory@strict.example>... SPF fail: strict.example does not designate 127.0.0.2"; r.Code != 550 || !strings.HasPrefix(r.Text, want) {
			t.Errorf("SPF fail: %s, want 550 %s…", r, want)
		}
	})

	// Greylisted, then passed after the delay; the message arrives with
	// maxwell's header fields on top and its banned attachment defanged.
	t.Run("greylisted, then passed and defanged", func(t *testing.T) {
		start := time.Now()
		c, r := session("127.0.0.2", "mail.sender.example", "alice@sender.example")
		if r.Code != 250 {
			t.Fatalf("MAIL FROM: %s", r)
		}
		if r := c.Cmd("RCPT TO:<bob@example.org>"); r.Code != 451 || !strings.HasPrefix(r.Text, "4.7.1 Greylisted, please retry in ") {
			t.Fatalf("first RCPT TO: %s, want 451 4.7.1 Greylisted", r)
		}
		c.Cmd("QUIT")
		time.Sleep(time.Until(start.Add(2500 * time.Millisecond)))
		c, _ = session("127.0.0.2", "mail.sender.example", "alice@sender.example")
		if r := c.Cmd("RCPT TO:<bob@example.org>"); r.Code != 250 {
			t.Fatalf("RCPT TO after the delay: %s", r)
		}
		if r := c.Data(pif); r.Code != 250 {
			t.Fatalf("end of data: %s", r)
		}
		c.Cmd("QUIT")
		m := st.Sink.Wait(t, 30*time.Second)
		head, body, _ := strings.Cut(m.Data, "\r\n\r\n")
		if !strings.HasPrefix(head, "Received-SPF: pass ") || !strings.Contains(head, "\r\nX-Greylist: delayed 2 seconds by maxwell-") ||
			!strings.Contains(head, "\r\nX-Maxwell-Connection: class=\"EXTERNAL\"; ip=127.0.0.2; ptr=mail.sender.example;") {
			t.Errorf("maxwell's fields are not on top of the delivered header:\n%s", head)
		}
		if i, j := strings.Index(head, "X-Maxwell-Connection:"), strings.Index(head, "\r\nReceived: from "); j < i {
			t.Errorf("Sendmail's Received line is above maxwell's fields:\n%s", head)
		}
		if !strings.Contains(body, "name=\"WARNING.TXT\"") || strings.Contains(body, "TVqQAAMAAAAEAAAA") || !strings.Contains(body, "Hello Bob.") {
			t.Errorf("the body was not defanged:\n%s", body)
		}
	})

	// A message that cannot be defanged safely (parts nested deeper than
	// maxwell looks) is accepted into Sendmail's quarantine: its queue file becomes an hf file with the
	// reason, and it is not delivered.
	t.Run("malformed message is quarantined", func(t *testing.T) {
		c, _ := session("127.0.0.2", "mail.sender.example", "alice@sender.example")
		if r := c.Cmd("RCPT TO:<bob@example.org>"); r.Code != 250 {
			t.Fatalf("RCPT TO: %s", r)
		}
		r := c.Data(tooDeep())
		c.Cmd("QUIT")
		fields := strings.Fields(r.Text)
		if r.Code != 250 || len(fields) < 2 {
			t.Fatalf("end of data: %s", r)
		}
		qf := sm.QueueFile("hf", fields[1])
		if !strings.Contains(qf, "\nqMALFORMED: ") {
			t.Errorf("no quarantined queue file hf%s with the reason:\n%s", fields[1], qf)
		}
		if m, ok := st.Sink.Next(2 * time.Second); ok {
			t.Errorf("the quarantined message was delivered:\n%s", m.Data)
		}
	})

	for _, want := range []string{
		`event=decision tag=QUARANTINE reason="MALFORMED: `,
		`event=decision tag=REJECT reason="numeric hello name: [127.0.0.3]"`,
		`event=decision tag=REJECT reason="SPF fail`,
		`event=greylist client=sender.example sender=alice@sender.example rcpt=bob@example.org step=pass delay=2`,
		`event=defang name=pictures.pif reason="banned extension .pif"`,
	} {
		if !strings.Contains(st.Log(), want) {
			t.Errorf("mail log lacks %q", want)
		}
	}
}

// tooDeep is a message whose parts are nested 40 levels deep, deeper
// than maxwell looks: malformed.
func tooDeep() string {
	var b strings.Builder
	b.WriteString("From: Alice <alice@sender.example>\r\nSubject: nested\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := range 40 {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
	}
	return b.String()
}
