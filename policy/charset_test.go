package policy_test

import (
	"net/netip"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/policy"
)

// block_charsets refuses mail from outside written in those charsets: an
// encoded word of the Subject, or the message's Content-Type; internal
// mail, and other charsets, pass.
func TestBlockCharsets(t *testing.T) {
	env := enginetest.New(t, `
[milter]
internal_connect = ["192.0.2.0/24"]
[defang]
block_charsets = ["big5", "ISO-2022-JP"]
[dns]
timeout = "200ms"
attempts = 1
`)
	for _, tc := range []struct {
		name, ip string
		headers  []policy.Header
		refused  string // "" for none
	}{
		{"a big5 Subject", "198.51.100.7", []policy.Header{{Name: "Subject", Value: "=?big5?B?pOWmcg==?="}}, "550 5.7.1 We do not read mail in big5"},
		{"an encoded word later in the Subject", "198.51.100.7", []policy.Header{{Name: "Subject", Value: "Re: =?iso-2022-jp?B?GyRCJUYlOSVIGyhC?="}}, "550 5.7.1 We do not read mail in iso-2022-jp"},
		{"the body's charset", "198.51.100.7", []policy.Header{{Name: "Content-Type", Value: `text/plain; charset="BIG5"`}}, "550 5.7.1 We do not read mail in big5"},
		{"a charset in a field that does not parse strictly", "198.51.100.7", []policy.Header{{Name: "Content-Type", Value: "text/plain; charset=big5; x"}}, "550 5.7.1 We do not read mail in big5"},
		{"a charset before a comment", "198.51.100.7", []policy.Header{{Name: "Content-Type", Value: "text/plain; format=flowed; charset=big5 (Chinese); delsp"}}, "550 5.7.1 We do not read mail in big5"},
		{"another charset", "198.51.100.7", []policy.Header{{Name: "Subject", Value: "=?utf-8?Q?caf=C3=A9?="}, {Name: "Content-Type", Value: "text/plain; charset=utf-8"}}, ""},
		{"internal mail", "192.0.2.7", []policy.Header{{Name: "Subject", Value: "=?big5?B?pOWmcg==?="}}, ""},
	} {
		out := env.Engine.Run(policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr(tc.ip)}, Helo: "mail.sender.example",
			Mail: policy.MailInfo{Sender: "a@sender.example"}, Rcpts: []string{"bob@example.org"}, Headers: tc.headers})
		got := ""
		if out.Final.Code != 0 {
			got = out.Final.Reply()
		}
		if got != tc.refused {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.refused)
		}
	}
}
