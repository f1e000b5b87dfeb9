// Package alias is the end-to-end smart-alias scenario: mail from a
// partner domain to sales@ is redirected by maxwell, through a private
// Postfix, to the people who handle it — and only to them.
package alias

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

[greylist]
enabled = false  # t-03-postfix-greylist's subject

[wiretap]
smart_alias = [["@sender.example", "sales@example.org", "ann@example.org"]]
`

func TestPostfixSmartAlias(t *testing.T) {
	st := mtatest.StartStack(t, config, "example.org",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
	)
	c, _ := mtatest.Session(t, st.Postfix.Addr, "198.51.100.7", "mail.sender.example")
	for _, cmd := range []string{"MAIL FROM:<alice@sender.example>", "RCPT TO:<sales@example.org>"} {
		if r := c.Cmd("%s", cmd); r.Code != 250 {
			t.Fatalf("%s: %s", cmd, r)
		}
	}
	if r := c.Data("From: <alice@sender.example>\r\nTo: <sales@example.org>\r\nSubject: an order\r\n\r\n10 boxes, please.\r\n"); r.Code != 250 {
		t.Fatalf("end of data: %s", r)
	}
	m := st.Sink.Wait(t, 30*time.Second)
	if strings.Join(m.To, ",") != "ann@example.org" {
		t.Errorf("delivered to %v, want ann@example.org only", m.To)
	}
	if !strings.Contains(m.Data, "10 boxes, please.") || !strings.Contains(m.Data, "To: <sales@example.org>") {
		t.Errorf("delivered:\n%s", m.Data)
	}
	for _, want := range []string{`event="discard rcpt" rcpt=sales@example.org reason="smart alias"`,
		`event="append rcpt" rcpt=ann@example.org reason="smart alias for sales@example.org"`} {
		if !strings.Contains(st.Log(), want) {
			t.Errorf("mail log lacks %q", want)
		}
	}
}
