package policy_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/testclock"
	"github.com/maxwell-milter/maxwell/policy"
)

// FuzzClientInput runs messages whose HELO, MAIL FROM, RCPT TO, Subject
// and attachment name are arbitrary bytes (CR, LF, NUL, non-UTF-8, very
// long): every mail-log line stays one well-formed line, no reply line and
// no header field maxwell writes carries a line break of its own or
// passes the length of its line, and the body maxwell writes has only
// CRLF line ends.
func FuzzClientInput(f *testing.F) {
	f.Add("mail.sender.example", "alice@sender.example", "bob@example.org", "hello", "x.pif")
	f.Add("evil\r\nX-Injected: 1", "a\r\n@b\x00", "<bob@example.org>\r\nRCPT TO:<c@d>", "=?utf-8?q?a=0D=0Ab?=\r\nBcc: x", "a\"\r\n.pif")
	f.Add("[198.51.100.7]", "", "postmaster@example.org", strings.Repeat("\xff", 300), strings.Repeat("a", 5000)+".exe")
	env := enginetest.New(f, "[milter]\ndelayed_reject = false\ninternal_domains = [\"example.org\"]\nhello_blacklist = [\"mx.example.org\"]\n[greylist]\nenabled = false\n[dns]\ntimeout = \"50ms\"\nattempts = 1\n",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.", "mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 ?all"`)
	f.Fuzz(func(t *testing.T, helo, sender, rcpt, subject, filename string) {
		env.Log.Reset()
		body := "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream; name=\"" + filename +
			"\"\r\nContent-Disposition: attachment; filename=\"" + filename + "\"\r\n\r\nMZ\r\n--b--\r\n"
		out := env.Engine.Run(policy.Transaction{
			Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, Helo: helo,
			Mail: policy.MailInfo{Sender: sender}, Rcpts: []string{rcpt},
			Headers: []policy.Header{{Name: "Subject", Value: subject}, {Name: "MIME-Version", Value: "1.0"},
				{Name: "Content-Type", Value: "multipart/mixed; boundary=b"}},
			Body: []byte(body),
		})
		for _, line := range strings.SplitAfter(env.Log.String(), "\n") {
			if line == "" {
				continue
			}
			if l, ok := maillog.ParseLine(line, testclock.Epoch().Year()); !ok || l.Conn == "" || strings.Count(line, "\n") != 1 {
				t.Fatalf("mail-log line not well formed: %q", line)
			}
		}
		for _, s := range out.Stages {
			for _, text := range s.Decision.Text {
				if strings.ContainsAny(text, "\r\n\x00") || len(text) > 500 {
					t.Fatalf("reply line with a line break, or longer than a reply line may be: %.200q", text)
				}
			}
			for _, e := range s.Decision.Edits {
				// Folded lines are joined by "\n\t" (the milter protocol's
				// line end, which the MTA turns into CRLF).
				value := strings.ReplaceAll(strings.ReplaceAll(e.Value, "\n\t", ""), "\n ", "")
				if strings.ContainsAny(value, "\r\n\x00") || strings.ContainsAny(e.Name, "\r\n: \x00") {
					t.Fatalf("header field %q: %q breaks its line", e.Name, e.Value)
				}
				for _, line := range strings.Split(e.Name+": "+e.Value, "\n") {
					if len(line) > oneline.MaxLine {
						t.Fatalf("header field %q: a line of %d octets", e.Name, len(line))
					}
				}
			}
		}
		if out.Body != nil && strings.Count(string(out.Body), "\n") != strings.Count(string(out.Body), "\r\n") {
			t.Fatalf("bare LF in the defanged body")
		}
	})
}
