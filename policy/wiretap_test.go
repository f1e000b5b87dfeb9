package policy_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/policy"
)

func wiretapEnv(t *testing.T, blind bool) (*enginetest.Env, string) {
	archive := filepath.Join(t.TempDir(), "archive.mbox")
	return enginetest.New(t, fmt.Sprintf(`
[milter]
internal_connect = ["192.0.2.0/24"]
connection_header = ""
[spf]
headers = []
[wiretap]
users = ["suspect@example.org"]
dest = "audit@example.org"
blind = %v
discard = ["leaker@example.org"]
archive = %q
smart_alias = [["@partner.example", "sales@example.org", "ann@example.org", "joe@example.org"]]
[dns]
timeout = "200ms"
attempts = 1
`, blind, archive)), archive
}

// edits renders the recipient and header edits of an outcome.
func edits(o policy.Outcome) string {
	var out []string
	for _, e := range o.Final.Edits {
		switch e.Kind {
		case policy.AddRecipient:
			out = append(out, "+"+e.Name)
		case policy.DeleteRecipient:
			out = append(out, "-"+e.Name)
		case policy.InsertHeader:
			out = append(out, e.Name+": "+e.Value)
		}
	}
	return strings.Join(out, " ")
}

func TestWiretapAndSmartAlias(t *testing.T) {
	tx := func(ip, from, rcpt string) policy.Transaction {
		return policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr(ip)}, Helo: "mail.partner.example",
			Mail: policy.MailInfo{Sender: from}, Rcpts: []string{rcpt},
			Headers: []policy.Header{{Name: "Subject", Value: "hi"}}, Body: []byte("Hello\r\nFrom here on\r\n")}
	}
	env, _ := wiretapEnv(t, true)
	tests := []struct {
		name, ip, from, rcpt string
		action               policy.Action
		edits                string
	}{
		{"mail to a wiretapped user", "198.51.100.7", "x@other.example", "suspect@example.org", policy.Accept, "+audit@example.org"},
		{"mail from a wiretapped user", "192.0.2.7", "suspect@example.org", "x@other.example", policy.Accept, "+audit@example.org"},
		{"outgoing mail from a discard user", "192.0.2.7", "leaker@example.org", "press@news.example", policy.Discard, ""},
		{"smart alias", "198.51.100.7", "bob@partner.example", "sales@example.org", policy.Accept, "-sales@example.org +ann@example.org +joe@example.org"},
		{"smart alias: another sender", "198.51.100.7", "bob@else.example", "sales@example.org", policy.Accept, ""},
	}
	for _, tt := range tests {
		out := env.Engine.Run(tx(tt.ip, tt.from, tt.rcpt))
		if out.Final.Action != tt.action || edits(out) != tt.edits {
			t.Errorf("%s: %v with %q; want %v with %q", tt.name, out.Final.Action, edits(out), tt.action, tt.edits)
		}
	}
	for _, want := range []string{`event="discard rcpt" rcpt=sales@example.org reason="smart alias"`, `event="append rcpt" rcpt=audit@example.org reason=wiretap`} {
		if !strings.Contains(env.Log.String(), want) {
			t.Errorf("mail log lacks %q", want)
		}
	}
	env, _ = wiretapEnv(t, false)
	if got := edits(env.Engine.Run(tx("198.51.100.7", "x@other.example", "suspect@example.org"))); got != "Cc: audit@example.org +audit@example.org" {
		t.Errorf("not blind: %q", got)
	}
}

// Fifty messages archived at once: each is whole in the mbox, none
// interleaved with another.
func TestArchiveConcurrent(t *testing.T) {
	env, archive := wiretapEnv(t, true)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := strings.Repeat(fmt.Sprintf("line of message %d\r\n", i), 2000)
			env.Engine.Run(policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr("192.0.2.7")}, Helo: "pc.example.org",
				Mail: policy.MailInfo{Sender: fmt.Sprintf("user%d@example.org", i)}, Rcpts: []string{"x@other.example"},
				Headers: []policy.Header{{Name: "Subject", Value: fmt.Sprintf("message %d", i)}}, Body: []byte(body)})
		}()
	}
	wg.Wait()
	raw, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	msgs := strings.Split(string(raw), "\nFrom user")
	if len(msgs) != 50 {
		t.Fatalf("%d messages in the archive, want 50", len(msgs))
	}
	for _, m := range msgs {
		var n int
		fmt.Sscanf(m[strings.Index(m, "Subject: message ")+len("Subject: message "):], "%d", &n)
		if c := strings.Count(m, fmt.Sprintf("line of message %d\n", n)); c != 2000 || strings.Count(m, "line of message") != 2000 {
			t.Fatalf("message %d is not whole in the archive (%d of its lines, %d in all)", n, c, strings.Count(m, "line of message"))
		}
	}
	if fi, _ := os.Stat(archive); fi.Mode().Perm() != 0o600 {
		t.Errorf("archive mode %v, want 0600", fi.Mode().Perm())
	}
}
