package policy_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/policy"
)

const relayConfig = `
[milter]
internal_connect = ["192.0.2.0/24"]
private_relay = ["private.example", "*.private.example"]
connection_header = ""
[spf]
supply_sender = true
headers = []
[scrub]
hide_path = ["partner.example"]
[dns]
timeout = "200ms"
attempts = 1
`

func relayTx(ip, from, rcpt string, headers ...policy.Header) policy.Transaction {
	return policy.Transaction{
		Conn: policy.ConnInfo{IP: netip.MustParseAddr(ip)}, Helo: "mail.sender.example",
		Mail: policy.MailInfo{Sender: from}, Rcpts: []string{rcpt}, Headers: headers,
	}
}

func TestPrivateRelay(t *testing.T) {
	env := enginetest.New(t, relayConfig)
	if f := env.Engine.Run(relayTx("198.51.100.7", "a@sender.example", "x@dept.private.example")).Final; f.Code != 550 || f.Reply() != "550 5.7.1 Unauthorized relay for dept.private.example" {
		t.Errorf("external to a private relay domain: %q", f.Reply())
	}
	if f := env.Engine.Run(relayTx("192.0.2.7", "a@example.org", "x@private.example")).Final; f.Action != policy.Accept {
		t.Errorf("internal to a private relay domain: %v %q", f.Action, f.Reply())
	}
}

func TestHidePath(t *testing.T) {
	env := enginetest.New(t, relayConfig)
	received := []policy.Header{{Name: "Received", Value: "from pc7.lan"}, {Name: "Subject", Value: "x"}, {Name: "Received", Value: "from gw.lan"}}
	f := env.Engine.Run(relayTx("192.0.2.7", "a@example.org", "x@partner.example", received...)).Final
	var got []string
	for _, e := range f.Edits {
		if e.Kind == policy.DeleteHeader {
			got = append(got, fmt.Sprintf("%s %d", e.Name, e.Index))
		}
	}
	if fmt.Sprint(got) != "[Received 2 Received 1]" {
		t.Errorf("deletions %v, want both Received fields, last first", got)
	}
	if f := env.Engine.Run(relayTx("192.0.2.7", "a@example.org", "x@other.example", received...)).Final; len(f.Edits) != 0 {
		t.Errorf("to another domain: edits %+v", f.Edits)
	}
}

func TestSupplySender(t *testing.T) {
	env := enginetest.New(t, relayConfig)
	tests := []struct {
		name    string
		headers []policy.Header
		want    string // the Sender edit, "" for none
	}{
		{"From of another domain", []policy.Header{{Name: "From", Value: `"Your Bank" <service@bank.example>`}}, "insert <a@phish.example>"},
		{"From of the MAIL FROM domain", []policy.Header{{Name: "From", Value: "Alice <alice@phish.example>"}}, ""},
		{"From of a subdomain", []policy.Header{{Name: "From", Value: "news@mail.phish.example"}}, ""},
		{"Sender matches", []policy.Header{{Name: "From", Value: "x@bank.example"}, {Name: "Sender", Value: "a@phish.example"}}, ""},
		{"Sender of another domain", []policy.Header{{Name: "From", Value: "x@bank.example"}, {Name: "Sender", Value: "y@bank.example"}}, "change <a@phish.example>"},
		{"From that does not parse", []policy.Header{{Name: "From", Value: "service@bank.example (\"unclosed"}}, "insert <a@phish.example>"},
	}
	for _, tt := range tests {
		f := env.Engine.Run(relayTx("198.51.100.7", "a@phish.example", "bob@example.org", tt.headers...)).Final
		got := ""
		for _, e := range f.Edits {
			if e.Name == "Sender" {
				got = map[policy.EditKind]string{policy.InsertHeader: "insert ", policy.ChangeHeader: "change "}[e.Kind] + e.Value
			}
		}
		if got != tt.want {
			t.Errorf("%s: Sender edit %q, want %q", tt.name, got, tt.want)
		}
	}
}

// hide_path also keeps maxwell's own connection header, which names the
// internal client, off outgoing mail: none is added, and one an earlier
// hop added is removed. Mail to other domains keeps it.
func TestHidePathHidesTheConnection(t *testing.T) {
	env := enginetest.New(t, strings.Replace(relayConfig, "connection_header = \"\"\n", "", 1))
	headers := []policy.Header{{Name: "X-Maxwell-Connection", Value: `class="INTERNAL"; ip=192.0.2.9`}, {Name: "Received", Value: "from pc7.lan"}}
	edits := func(rcpt string) []string {
		var got []string
		for _, e := range env.Engine.Run(relayTx("192.0.2.7", "a@example.org", rcpt, headers...)).Final.Edits {
			got = append(got, fmt.Sprintf("%v %s %d", e.Kind, e.Name, e.Index))
		}
		return got
	}
	if got := fmt.Sprint(edits("x@partner.example")); strings.Contains(got, fmt.Sprint(policy.InsertHeader)) ||
		!strings.Contains(got, fmt.Sprintf("%v X-Maxwell-Connection 1", policy.DeleteHeader)) || !strings.Contains(got, fmt.Sprintf("%v Received 1", policy.DeleteHeader)) {
		t.Errorf("to a hide_path domain: edits %s, want the Received and X-Maxwell-Connection fields deleted, none inserted", got)
	}
	if got := fmt.Sprint(edits("x@other.example")); !strings.Contains(got, fmt.Sprintf("%v X-Maxwell-Connection 0", policy.InsertHeader)) {
		t.Errorf("to another domain: edits %s, want X-Maxwell-Connection inserted", got)
	}
}
