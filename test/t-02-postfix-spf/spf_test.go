// Package postfixspf is end-to-end scenario t-02: SPF through a private
// Postfix with maxwell as its milter. A domain whose record does not list
// the client is refused at MAIL FROM with the explanation; a passing one
// is delivered with Received-SPF on top and Authentication-Results (a
// forged one claiming our name removed); a DNS server that never answers
// gets the client a 451. The replies carry the registered enhanced status
// codes (RFC 7372, RFC 7505, RFC 3463) through Postfix: a sender domain
// with a null MX is refused 550 5.7.27, MAIL FROM without HELO 503 5.5.1.
package postfixspf

import (
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["example.org"]
delayed_reject = false

[greylist]
enabled = false  # t-03-postfix-greylist's subject
`

func TestPostfixSPF(t *testing.T) {
	st := mtatest.StartStack(t, config, "example.org",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
		`strict.example. TXT "v=spf1 ip4:192.0.2.1 -all"`,
		"nullmx.example. MX 0 .",
		`nullmx.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
	)
	st.DNS.Fail("slow.example", dnstest.Silent)

	t.Run("SPF fail is refused at MAIL FROM", func(t *testing.T) {
		c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
		r := c.Cmd("MAIL FROM:<bob@strict.example>")
		want := "5.7.23 SPF fail: strict.example does not designate 198.51.100.7 as a permitted sender\n" +
			"5.7.23 see https://www.open-spf.org/Why?s=mfrom&id=bob%40strict.example&ip=198.51.100.7&r=mx.example.org"
		if r.Code != 550 || r.Text != want {
			t.Errorf("MAIL FROM: %s\nwant 550 %s", r, want)
		}
	})

	t.Run("SPF pass is delivered with Received-SPF first", func(t *testing.T) {
		c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
		for _, cmd := range []string{"MAIL FROM:<alice@sender.example>", "RCPT TO:<bob@example.org>"} {
			if r := c.Cmd("%s", cmd); r.Code != 250 {
				t.Fatalf("%s: %s", cmd, r)
			}
		}
		r := c.Data("Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=boss@example.org\r\n" +
			"Authentication-Results: other.example; dkim=pass header.d=sender.example\r\n" +
			"From: Alice <alice@sender.example>\r\nTo: Bob <bob@example.org>\r\nSubject: SPF\r\n\r\nHello Bob.\r\n")
		if r.Code != 250 {
			t.Fatalf("end of data: %s", r)
		}
		m := st.Sink.Wait(t, 30*time.Second)
		head, _, _ := strings.Cut(m.Data, "\r\n\r\n")
		first := "Received-SPF: pass (mx.example.org: domain of alice@sender.example designates 198.51.100.7 as permitted sender)\r\n"
		if !strings.HasPrefix(head, first) {
			t.Errorf("the message does not start with %q:\n%s", first, head)
		}
		for _, want := range []string{
			"\tclient-ip=198.51.100.7; envelope-from=alice@sender.example;\r\n",
			"\r\nAuthentication-Results: mx.example.org;\r\n\tspf=pass smtp.mailfrom=alice@sender.example;\r\n\tiprev=pass (mail.sender.example) policy.iprev=198.51.100.7\r\n",
			"\r\nAuthentication-Results: other.example; dkim=pass header.d=sender.example\r\n",
		} {
			if !strings.Contains(head, want) {
				t.Errorf("the header lacks %q:\n%s", want, head)
			}
		}
		if strings.Contains(head, "boss@example.org") {
			t.Errorf("the forged Authentication-Results was delivered:\n%s", head)
		}
	})

	t.Run("a DNS server that never answers gets a 451", func(t *testing.T) {
		c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
		r := c.Cmd("MAIL FROM:<bob@slow.example>")
		if r.Code != 451 || !strings.HasPrefix(r.Text, "4.7.24 We cannot accept your email until the DNS server for slow.example") {
			t.Errorf("MAIL FROM: %s, want 451 4.7.24", r)
		}
	})

	t.Run("a sender domain with a null MX is refused at MAIL FROM", func(t *testing.T) {
		c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
		r := c.Cmd("MAIL FROM:<bob@nullmx.example>")
		if r.Code != 550 || r.Text != "5.7.27 Sender address has null MX" {
			t.Errorf("MAIL FROM: %s, want 550 5.7.27 Sender address has null MX", r)
		}
	})

	t.Run("MAIL FROM without HELO is a bad sequence", func(t *testing.T) {
		c := mtatest.DialSMTP(t, st.Postfix.Addr)
		if r := c.Cmd("EHLO test.client"); r.Code != 250 {
			t.Fatalf("EHLO: %s", r)
		}
		if r := c.Cmd("XCLIENT ADDR=198.51.100.7 NAME=[UNAVAILABLE]"); r.Code != 220 {
			t.Fatalf("XCLIENT: %s", r)
		}
		r := c.Cmd("MAIL FROM:<alice@sender.example>")
		if r.Code != 503 || r.Text != "5.5.1 It's polite to say HELO first." {
			t.Errorf("MAIL FROM: %s, want 503 5.5.1 It's polite to say HELO first.", r)
		}
	})

	for _, want := range []string{
		`event=decision tag=REJECT reason="null MX: nullmx.example" code=550 xcode=5.7.27`,
		`event=decision tag=REJECT reason="missing HELO" code=503 xcode=5.5.1`,
		`event=spf result=fail identity=mailfrom domain=strict.example mechanism=-all helo_result=pass policy=REJECT`,
		`event=spf result=pass identity=mailfrom domain=sender.example mechanism=ip4:198.51.100.0/24 policy=OK`,
		`event=note reason="forged Authentication-Results removed"`,
		`event=spf result=temperror identity=mailfrom domain=slow.example problem=`,
		`event=decision tag=TEMPFAIL reason="SPF temperror: `,
	} {
		if !strings.Contains(st.Log(), want) {
			t.Errorf("mail log lacks %q", want)
		}
	}
}
