package policy_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/policy"
)

func TestHeaderAndRecipientChecks(t *testing.T) {
	env := enginetest.New(t, `
[milter]
internal_connect = ["192.0.2.0/24"]
check_user = ["bob@example.org", "carol@example.org", "boss@example.org"]
[defang]
from_words = ["c{a}s{i}no"]
block_forward = ["boss@example.org"]
[dns]
timeout = "200ms"
attempts = 1
`)
	h := func(name, value string) policy.Header { return policy.Header{Name: name, Value: value} }
	tests := []struct {
		name    string
		ip      string
		sender  string
		rcpts   []string
		headers []policy.Header
		code    int
		text    string // part of the reply; "" for accepted
	}{
		{"short Message-ID", "198.51.100.7", "a@sender.example", []string{"bob@example.org"}, []policy.Header{h("Message-ID", "<>")}, 550, "Message-ID too short"},
		{"a normal Message-ID", "198.51.100.7", "a@sender.example", []string{"bob@example.org"}, []policy.Header{h("Message-ID", "<1234@sender.example>")}, 0, ""},
		{"bulk mailer", "198.51.100.7", "a@sender.example", []string{"bob@example.org"}, []policy.Header{h("X-Mailer", "Direct Email 4.2")}, 550, "Your mailer is not allowed here"},
		{"from_words", "198.51.100.7", "a@sender.example", []string{"bob@example.org"}, []policy.Header{h("From", `"Lucky C@S1NO" <a@sender.example>`)}, 550, "That From is not allowed"},
		{"from_words in an encoded name", "198.51.100.7", "a@sender.example", []string{"bob@example.org"}, []policy.Header{h("From", "=?utf-8?q?Casino?= <a@sender.example>")}, 550, "That From is not allowed"},
		{"unedited forward to block_forward", "198.51.100.7", "a@sender.example", []string{"boss@example.org"}, []policy.Header{h("Subject", "Fwd: joke")}, 550, "unedited forwards"},
		{"forward to someone else", "198.51.100.7", "a@sender.example", []string{"bob@example.org"}, []policy.Header{h("Subject", "Fwd: joke")}, 0, ""},
		{"internal mail is not checked", "192.0.2.7", "a@example.org", []string{"bob@example.org"}, []policy.Header{h("X-Mailer", "Mail Bomber")}, 0, ""},
		{"unknown user", "198.51.100.7", "a@sender.example", []string{"dave@example.org"}, nil, 550, "No such user here"},
		{"user of a domain not checked", "198.51.100.7", "a@sender.example", []string{"dave@example.net"}, nil, 0, ""},
		{"robot recipient", "198.51.100.7", "a@sender.example", []string{"MAILER-DAEMON@example.org"}, nil, 550, "Robots do not read mail"},
		{"DSN to two recipients", "198.51.100.7", "", []string{"bob@example.org", "carol@example.org"}, nil, 550, "goes to one recipient"},
		{"DSN to one recipient", "198.51.100.7", "", []string{"bob@example.org"}, nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := env.Engine.Run(policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr(tt.ip)}, Helo: "mail.sender.example",
				Mail: policy.MailInfo{Sender: tt.sender}, Rcpts: tt.rcpts, Headers: tt.headers})
			refused := ""
			for _, st := range out.Stages {
				if st.Decision.Code != 0 {
					refused = st.Decision.Reply()
				}
			}
			if tt.text == "" && refused != "" || tt.text != "" && !strings.Contains(refused, tt.text) {
				t.Errorf("refused %q, want %q", refused, tt.text)
			}
		})
	}
}
