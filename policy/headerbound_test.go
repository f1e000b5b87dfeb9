package policy_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/policy"
)

// The header fields maxwell writes are folded and bounded, however long
// the HELO name, the MAIL FROM, the MTA's name or the AUTH user a client
// or MTA sends: no line past RFC 5322's 998 octets, long values cut with
// a marker; a MAIL FROM longer than an address can be is not supplied as
// Sender. Reply lines stay within RFC 5321's 512 octets.
func TestHeaderFieldsBounded(t *testing.T) {
	helo := strings.Repeat("a", 64<<10) + ".example"
	env := enginetest.New(t, "[milter]\nhello_blacklist = [\"mx.example.org\"]\n[spf]\nsupply_sender = true\n[greylist]\nenabled = false\n[dns]\ntimeout = \"200ms\"\nattempts = 1\n")
	sender := strings.Repeat("b", 64<<10) + "@" + strings.Repeat("c", 1000) + ".example"
	run := func(helo, sender, auth string) policy.Outcome {
		return env.Engine.Run(policy.Transaction{
			Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7"), MTAName: strings.Repeat("m", 5000) + ".example"},
			Helo: helo, Mail: policy.MailInfo{Sender: sender, AuthUser: auth},
			Rcpts:   []string{"bob@example.org"},
			Headers: []policy.Header{{Name: "From", Value: "<x@y.example>"}, {Name: "Subject", Value: "hi"}},
		})
	}
	for _, tc := range []struct {
		name   string
		out    policy.Outcome
		fields []string
	}{
		{"external", run(helo, sender, ""), []string{"X-Maxwell-Connection", "Received-SPF", "Authentication-Results"}},
		{"authenticated", run(helo, sender, strings.Repeat("u", 5000)), []string{"X-Maxwell-Connection"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.out.Final.Action != policy.Accept {
				t.Fatalf("%v %q", tc.out.Final.Action, tc.out.Final.Reply())
			}
			got := map[string]string{}
			for _, e := range tc.out.Final.Edits {
				got[e.Name] = e.Value
				for i, line := range strings.Split(e.Name+": "+e.Value, "\n") {
					if len(line) > oneline.MaxLine {
						t.Errorf("%s: line %d is %d octets", e.Name, i, len(line))
					}
				}
			}
			for _, name := range tc.fields {
				if v, ok := got[name]; !ok || !strings.Contains(v, "aaa"+oneline.Marker) {
					t.Errorf("%s: %.200q…, want the HELO name cut with %q", name, v, oneline.Marker)
				}
			}
			if v, ok := got["Sender"]; ok {
				t.Errorf("Sender supplied from a %d-byte MAIL FROM: %.100q…", len(sender), v)
			}
		})
	}
	if len(env.Log.Lines("event=note", `reason="MAIL FROM too long to supply as Sender"`)) != 1 {
		t.Errorf("the Sender not supplied is not logged:\n%.3000s", env.Log)
	}
	// A reply that quotes the sender: SPF fail's "see" URL.
	fail := enginetest.New(t, "[milter]\ndelayed_reject = false\n[dns]\ntimeout = \"200ms\"\nattempts = 1\n", `fail.example. TXT "v=spf1 -all"`)
	d := fail.Engine.Run(policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, Helo: "x.example",
		Mail: policy.MailInfo{Sender: strings.Repeat("b", 64<<10) + "@fail.example"}}).Final
	if d.Code != 550 || len(d.Text) != 2 || !strings.HasSuffix(d.Text[1], oneline.Marker) {
		t.Errorf("SPF fail reply %.300q…, want two lines, the second cut", d.Reply())
	}
	for _, line := range strings.Split(d.Reply(), "\n") {
		if len("550-")+len(line)+len("\r\n") > 512 {
			t.Errorf("reply line of %d octets: %.100q…", len(line), line)
		}
	}
}
