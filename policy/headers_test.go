package policy_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/resolver"
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

// check_user's file: entries, as bms.py's: a file named for its domain,
// under datadir, listing that domain's users.
func TestCheckUserFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bigcorp.example"), []byte("joe mary # the founders\nsue@bigcorp.example\n"), 0o644)
	env := enginetest.New(t, fmt.Sprintf(`
[milter]
datadir = %q
check_user = ["file:bigcorp.example", "bob@example.org"]
[dns]
timeout = "200ms"
attempts = 1
`, dir))
	for rcpt, known := range map[string]bool{"joe@bigcorp.example": true, "Mary@BigCorp.example": true, "sue@bigcorp.example": true,
		"founders@bigcorp.example": false, "dave@bigcorp.example": false, "bob@example.org": true, "dave@example.org": false,
		`"joe@x"@bigcorp.example`: false} {
		out := env.Engine.Run(policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, Helo: "mail.sender.example",
			Mail: policy.MailInfo{Sender: "a@sender.example"}, Rcpts: []string{rcpt}})
		refused := false
		for _, st := range out.Stages {
			refused = refused || strings.Contains(st.Decision.Reply(), "No such user here")
		}
		if refused == known {
			t.Errorf("%s: refused %v, want %v", rcpt, refused, !known)
		}
	}

	// A line that names another domain's user is an error with its line.
	os.WriteFile(filepath.Join(dir, "bigcorp.example"), []byte("joe\nsue@other.example\n"), 0o644)
	cfg := config.Default()
	cfg.Milter.DataDir, cfg.Milter.CheckUser = dir, []string{"file:bigcorp.example"}
	if _, err := policy.New(cfg, resolver.FromConfig(cfg.DNS), maillog.New(io.Discard), slog.New(slog.DiscardHandler)); err == nil ||
		!strings.Contains(err.Error(), `bigcorp.example:2: "sue@other.example" is not a user of bigcorp.example`) {
		t.Errorf("a foreign user in the file: %v", err)
	}
}

// case_sensitive_localpart: listed local parts match only as written;
// domains in any case. Off, in any case.
func TestCaseSensitiveLocalpart(t *testing.T) {
	for _, cs := range []bool{false, true} {
		env := enginetest.New(t, fmt.Sprintf(`
[milter]
check_user = ["Joe@example.org"]
case_sensitive_localpart = %v
[dns]
timeout = "200ms"
attempts = 1
`, cs))
		for rcpt, knownWhenSensitive := range map[string]bool{"Joe@example.org": true, "Joe@EXAMPLE.ORG": true, "joe@example.org": false} {
			out := env.Engine.Run(policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, Helo: "mail.sender.example",
				Mail: policy.MailInfo{Sender: "a@sender.example"}, Rcpts: []string{rcpt}})
			refused := false
			for _, st := range out.Stages {
				refused = refused || strings.Contains(st.Decision.Reply(), "No such user here")
			}
			if want := cs && !knownWhenSensitive; refused != want {
				t.Errorf("case_sensitive_localpart = %v, %s: refused %v, want %v", cs, rcpt, refused, want)
			}
		}
	}
}
