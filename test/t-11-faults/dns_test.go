// Package faults is end-to-end scenario t-11: maxwell under faults. Each
// case asserts what the client sees (through the private Postfix where
// the SMTP answer matters) and that the daemon goes on serving.
package faults

import (
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const dnsConfig = `
[milter]
socket = "inet:{port}@127.0.0.1"
delayed_reject = false
internal_domains = ["example.org"]

[greylist]
enabled = false
`

// DNS failures where maxwell needs the answer are 451: the sender
// retries; never a 5xx, never a silent accept of what SPF would refuse.
func TestDNSFaults(t *testing.T) {
	st := mtatest.StartStack(t, dnsConfig, "example.org",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`truncated.example. TXT "v=spf1 ip4:198.51.100.7 -all"`,
		`strict.example. TXT "v=spf1 ip4:192.0.2.1 -all"`,
		"loop.example. CNAME loop2.example.",
		"loop2.example. CNAME loop.example.",
		"8.100.51.198.in-addr.arpa. PTR mail.silent-ptr.example.",
	)
	for name, f := range map[string]dnstest.Failure{
		"silent.example":              dnstest.Silent,
		"servfail.example":            dnstest.ServFail,
		"truncated.example":           dnstest.Truncate,
		"wrongid.example":             dnstest.WrongID,
		"9.100.51.198.in-addr.arpa":   dnstest.Silent,
		"mail.silent-ptr.example":     dnstest.ServFail,
		"_spf.strict-include.example": dnstest.ServFail,
	} {
		st.DNS.Fail(name, f)
	}
	st.DNS.Add(`strict-include.example. TXT "v=spf1 include:_spf.strict-include.example -all"`)

	// mail runs one transaction from ip and returns the first refusal, or
	// the RCPT TO reply.
	mail := func(ip, from string) mtatest.Reply {
		t.Helper()
		c, r := mtatest.Session(t, st.Postfix.Addr, ip, "mail.sender.example")
		if r.Code != 250 {
			return r
		}
		if r := c.Cmd("MAIL FROM:<%s>", from); r.Code != 250 {
			return r
		}
		return c.Cmd("RCPT TO:<bob@example.org>")
	}
	for _, tc := range []struct {
		name, ip, from string
		code           int
		text           string
	}{
		{"TXT never answered", "198.51.100.7", "a@silent.example", 451, "4.7.24"},
		{"TXT SERVFAIL", "198.51.100.7", "a@servfail.example", 451, "4.7.24"},
		{"TXT answered with a wrong ID", "198.51.100.7", "a@wrongid.example", 451, "4.7.24"},
		{"CNAME loop", "198.51.100.7", "a@loop.example", 451, "4.7.24"},
		{"an include SERVFAILs", "198.51.100.7", "a@strict-include.example", 451, "4.7.24"},
		{"truncated UDP, TCP answers", "198.51.100.7", "a@truncated.example", 250, ""},
		{"PTR never answered", "198.51.100.9", "a@truncated.example", 451, "4.4.3"},
		{"the PTR name's address SERVFAILs", "198.51.100.8", "a@truncated.example", 451, "4.4.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mail(tc.ip, tc.from)
			if r.Code != tc.code || !strings.HasPrefix(r.Text, tc.text) {
				t.Errorf("%s from %s: %s, want %d %s…", tc.from, tc.ip, r, tc.code, tc.text)
			}
		})
	}
	// And after all that, a plain SPF fail is still refused.
	if r := mail("198.51.100.7", "a@strict.example"); r.Code != 550 {
		t.Errorf("SPF fail after the faults: %s", r)
	}
}
