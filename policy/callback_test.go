package policy_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/internal/smtptest"
	"github.com/maxwell-milter/maxwell/policy"
	"github.com/maxwell-milter/maxwell/store"
)

// cbvEnv is an engine that makes call-backs, with a CBV cache, and the
// mail server of soft.example (softfail: CBV) and dsn.example (softfail:
// DSN, by the access map).
type cbvEnv struct {
	*enginetest.Env
	mx *smtptest.Server
}

func newCBVEnv(t *testing.T, banner string) *cbvEnv {
	return newCBVEnvWith(t, banner, "allow_private_mx = true")
}

// newCBVEnvWith is newCBVEnv with cbv as the [cbv] keys beside the MX
// port and the timeouts.
func newCBVEnvWith(t *testing.T, banner, cbv string) *cbvEnv {
	dir := t.TempDir()
	mx := smtptest.Start(t, banner)
	access := filepath.Join(dir, "access")
	os.WriteFile(access, []byte("SPF-Softfail:dsn.example DSN\n"), 0o644)
	env := enginetest.New(t, fmt.Sprintf(`
[milter]
hostname = "mx.example.org"
datadir = %q
[greylist]
enabled = false
[spf]
access_file = %q
[cbv]
%s
port = %d
connect_timeout = "1s"
command_timeout = "2s"
[dns]
timeout = "500ms"
attempts = 1
`, dir, access, cbv, mx.Port),
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`soft.example. TXT "v=spf1 ip4:192.0.2.200 ~all"`,
		"soft.example. MX 10 mx.soft.example.",
		"mx.soft.example. A 127.0.0.1",
		`dsn.example. TXT "v=spf1 ip4:192.0.2.200 ~all"`,
		"dsn.example. MX 10 mx.soft.example.",
		`nomail.example. TXT "v=spf1 ip4:192.0.2.200 ~all"`,
	)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "cbv.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	env.Engine.UseStore(st)
	env.Engine.EnableCallbacks()
	return &cbvEnv{env, mx}
}

func (c *cbvEnv) send(sender, subject string) policy.Outcome {
	return c.Engine.Run(policy.Transaction{
		Conn:    policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")},
		Helo:    "mail.sender.example",
		Mail:    policy.MailInfo{Sender: sender},
		Rcpts:   []string{"bob@example.org"},
		Headers: []policy.Header{{Name: "Subject", Value: subject}},
	})
}

func TestCallbackAnswers(t *testing.T) {
	tests := []struct {
		name, banner string
		setup        func(*smtptest.Server)
		sender       string
		action       policy.Action
		code         int
		text         string
		log          string
	}{
		{"CBV accepted", "mx.soft.example", nil, "joe@soft.example", policy.Accept, 0, "",
			"event=cbv tag=CBV status=accepted policy=CBV sender=joe@soft.example mx=mx.soft.example code=250"},
		{"user unknown", "mx.soft.example", func(s *smtptest.Server) { s.RcptReply = smtptest.Reply(550, "user unknown") },
			"joe@soft.example", policy.Reject, 550, "550 5.7.1 user unknown", `event=decision tag=REJECT reason="CBV: 550 user unknown"`},
		{"try later", "mx.soft.example", func(s *smtptest.Server) { s.RcptReply = smtptest.Reply(451, "busy") },
			"joe@soft.example", policy.Tempfail, 450, "450 4.2.0 451 busy", "status=tempfail"},
		{"no MX, no A", "mx.soft.example", nil, "joe@nomail.example", policy.Tempfail, 450, "450 4.2.0 No MX servers available", "status=tempfail"},
		{"banner names us", "mx.example.org", nil, "joe@soft.example", policy.Reject, 553, "553 5.7.1 Fraudulent MX for soft.example", "status=fraud"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCBVEnv(t, tt.banner)
			if tt.setup != nil {
				tt.setup(c.mx)
			}
			f := c.send(tt.sender, "hello").Final
			if f.Action != tt.action || f.Code != tt.code || !strings.Contains(f.Reply(), tt.text) {
				t.Errorf("%v %q, want %v %d %q\n%s", f.Action, f.Reply(), tt.action, tt.code, tt.text, c.Log)
			}
			if !strings.Contains(c.Log.String(), tt.log) {
				t.Errorf("mail log lacks %q:\n%s", tt.log, c.Log)
			}
		})
	}
}

// A DSN is delivered to the sender's server, rendered from its template;
// the answer is cached, so a second message from the sender causes no
// connection (and no second DSN).
func TestCallbackDSNAndCache(t *testing.T) {
	c := newCBVEnv(t, "mx.soft.example")
	if f := c.send("joe@dsn.example", "Quarterly\r\nBcc: victim@example.net").Final; f.Action != policy.Accept {
		t.Fatalf("%v %q\n%s", f.Action, f.Reply(), c.Log)
	}
	msgs := c.mx.Messages()
	if len(msgs) != 1 || strings.Join(c.mx.Rcpts(), ",") != "joe@dsn.example" {
		t.Fatalf("%d DSNs to %v", len(msgs), c.mx.Rcpts())
	}
	dsn := string(msgs[0])
	for _, want := range []string{"From: postmaster@mx.example.org\r\n", "To: <joe@dsn.example>\r\n",
		"Auto-Submitted: auto-generated\r\n", "Subject: SPF softfail for your message to bob@example.org (QuarterlyBcc: victim@example.net)\r\n",
		"arrived from\r\n198.51.100.7 (HELO \"mail.sender.example\")", "Received-SPF: softfail (mx.example.org:"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("DSN lacks %q:\n%s", want, dsn)
		}
	}
	if strings.Contains(dsn, "\r\nBcc:") {
		t.Errorf("the subject made a header of its own:\n%s", dsn)
	}
	before := c.mx.Connections.Load()
	if f := c.send("joe@dsn.example", "again").Final; f.Action != policy.Accept {
		t.Fatalf("second message: %v", f.Action)
	}
	if c.mx.Connections.Load() != before || len(c.mx.Messages()) != 1 {
		t.Errorf("the second message caused a connection (%d → %d) or a DSN", before, c.mx.Connections.Load())
	}
	if !strings.Contains(c.Log.String(), "event=cbv tag=CBV status=cached sender=joe@dsn.example code=250") {
		t.Errorf("no cached answer logged:\n%s", c.Log)
	}
}

// The null sender refused for the DSN: it is sent again from
// postmaster@ our name.
func TestCallbackDSNFromPostmaster(t *testing.T) {
	c := newCBVEnv(t, "mx.soft.example")
	c.mx.RefuseNullFrom = true
	if f := c.send("joe@dsn.example", "hi").Final; f.Action != policy.Accept {
		t.Fatalf("%v %q\n%s", f.Action, f.Reply(), c.Log)
	}
	if froms := c.mx.Froms(); len(froms) != 1 || froms[0] != "postmaster@mx.example.org" || len(c.mx.Messages()) != 1 {
		t.Errorf("MAIL FROM %v, %d messages", froms, len(c.mx.Messages()))
	}
}

// A call-back that is not made answers with why, not with "no answer
// from the mail servers": the rate limits (451 4.7.1), mail servers the
// Internet cannot reach (450 4.1.8), an address that cannot be asked
// about (450 4.1.7). No connection is made, and the log says why.
func TestCallbackNotMade(t *testing.T) {
	tests := []struct {
		name, cbv string
		senders   []string // the last one is not verified
		reply     string
		log       []string
	}{
		{"rate limit", "allow_private_mx = true\ndomain_rate = 1", []string{"joe@soft.example", "ann@soft.example"},
			"451 4.7.1 Cannot verify the sender now: too many call-backs, try again later",
			[]string{`event=cbv tag=CBV status=limited policy=CBV sender=ann@soft.example error="too many call-backs: 1 an hour to soft.example"`,
				`event=decision tag=TEMPFAIL reason="CBV not made: too many call-backs: 1 an hour to soft.example"`}},
		{"rate limit per MX address", "allow_private_mx = true\ndomain_rate = 1", []string{"joe@soft.example", "ann@dsn.example"},
			"451 4.7.1 Cannot verify the sender now: too many call-backs, try again later",
			[]string{`status=limited policy=DSN sender=ann@dsn.example error="MX mx.soft.example: too many call-backs: 1 an hour to mail server 127.0.0.1"`}},
		{"MX on loopback", "", []string{"joe@soft.example"},
			"450 4.1.8 The mail servers of soft.example are not reachable from the Internet",
			[]string{`event=cbv tag=CBV status=private policy=CBV sender=joe@soft.example error="the mail servers are not reachable from the Internet: MX mx.soft.example is at 127.0.0.1 (Loopback)"`,
				`event=decision tag=TEMPFAIL reason="CBV not made: the mail servers are not reachable from the Internet: MX mx.soft.example is at 127.0.0.1 (Loopback)"`}},
		{"MX at a NAT64 address of a private one", "", []string{"joe@nat64.example"},
			"450 4.1.8 The mail servers of nat64.example are not reachable from the Internet",
			[]string{`status=private policy=CBV sender=joe@nat64.example error="the mail servers are not reachable from the Internet: MX mx.nat64.example is at 64:ff9b::a00:1 (NAT64 of 10.0.0.1: Private-Use)"`}},
		{"an address that cannot be written in RCPT TO", "allow_private_mx = true", []string{`"joe smith"@soft.example`},
			"450 4.1.7 The sender address cannot be verified",
			[]string{`status=invalid policy=CBV sender="\"joe smith\"@soft.example"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCBVEnvWith(t, "mx.soft.example", tt.cbv)
			c.DNS.Add(`nat64.example. TXT "v=spf1 ip4:192.0.2.200 ~all"`, "nat64.example. MX 10 mx.nat64.example.", "mx.nat64.example. AAAA 64:ff9b::a00:1")
			var f policy.Decision
			for _, sender := range tt.senders {
				f = c.send(sender, "hello").Final
			}
			if f.Reply() != tt.reply {
				t.Errorf("%v %q, want %q\n%s", f.Action, f.Reply(), tt.reply, c.Log)
			}
			if want := int32(len(tt.senders) - 1); c.mx.Connections.Load() != want {
				t.Errorf("%d connections to the MX, want %d", c.mx.Connections.Load(), want)
			}
			for _, want := range tt.log {
				if !strings.Contains(c.Log.String(), want) {
					t.Errorf("mail log lacks %s:\n%s", want, c.Log)
				}
			}
		})
	}
}
