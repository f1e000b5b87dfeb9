package policy_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/policy"
	"github.com/maxwell-milter/maxwell/store"
)

func TestDemeritsBanTheIP(t *testing.T) {
	env := enginetest.New(t, `
[milter]
max_demerits = 3
ban_time = "1d"
delayed_reject = false
hello_blacklist = ["mx.example.org"]
trusted_relay = ["198.51.100.50"]
[greylist]
enabled = false
[dns]
timeout = "200ms"
attempts = 1
`, "7.100.51.198.in-addr.arpa. PTR mail.sender.example.", "mail.sender.example. A 198.51.100.7",
		"50.100.51.198.in-addr.arpa. PTR relay.example.", "relay.example. A 198.51.100.50",
		`fail.example. TXT "v=spf1 -all"`)
	_, c, _ := withStore(t, env, 5*time.Second)
	conn := func(ip, port, helo string) policy.Outcome {
		return env.Engine.Run(policy.Transaction{
			Conn: policy.ConnInfo{IP: netip.MustParseAddr(ip), DaemonPort: port}, Helo: helo,
			Mail: policy.MailInfo{Sender: "joe@other.example"}, Rcpts: []string{"bob@example.org"},
		})
	}
	banned := func(o policy.Outcome) bool {
		return o.Final.Code == 550 && strings.Contains(o.Final.Reply(), "Banned for dictionary attacks")
	}

	// A HELO naming us: 4 demerits, past the limit of 3.
	if o := conn("198.51.100.7", "25", "mx.example.org"); o.Final.Action != policy.Reject || banned(o) {
		t.Fatalf("HELO blacklist: %v %q", o.Final.Action, o.Final.Reply())
	}
	if !strings.Contains(env.Log.String(), `event="banned ip" ip=198.51.100.7 demerits=4`) {
		t.Errorf("no ban logged:\n%s", env.Log)
	}
	if o := conn("198.51.100.7", "25", "mail.sender.example"); !banned(o) || o.Stages[0].Stage != "connect" {
		t.Errorf("next connection: %v %q at %s, want banned at connect", o.Final.Action, o.Final.Reply(), o.Stages[len(o.Stages)-1].Stage)
	}
	if o := conn("198.51.100.7", "587", "mail.sender.example"); banned(o) {
		t.Error("the submission port must stay open to a banned IP")
	}
	// A trusted relay is never banned, however it behaves.
	conn("198.51.100.50", "25", "mx.example.org")
	if o := conn("198.51.100.50", "25", "relay.example"); banned(o) {
		t.Error("a trusted relay was banned")
	}
	c.Advance(25 * time.Hour)
	if o := conn("198.51.100.7", "25", "mail.sender.example"); banned(o) {
		t.Error("still banned after ban_time")
	}
}

// Demerits add up over the messages of a connection: SPF rejections
// count one each.
func TestDemeritsAddUp(t *testing.T) {
	env := enginetest.New(t, "[milter]\nmax_demerits = 2\ndelayed_reject = false\n[greylist]\nenabled = false\n[dns]\ntimeout = \"200ms\"\n",
		`fail.example. TXT "v=spf1 -all"`)
	st, c, _ := withStore(t, env, 5*time.Second)
	s := env.Engine.NewSession()
	s.Connect(policy.ConnInfo{IP: netip.MustParseAddr("203.0.113.9")})
	s.Hello("x.example")
	for i := range 3 {
		if d := s.MailFrom(policy.MailInfo{Sender: "joe@fail.example"}); d.Action != policy.Reject {
			t.Fatalf("message %d: %v", i, d.Action)
		}
	}
	s.Close()
	if b, _ := st.Banned(context.Background(), store.BanIP, "203.0.113.9", c.Now()); b == nil || !strings.HasPrefix(b.Reason, "3 demerits") {
		t.Errorf("ban after 3 SPF rejections: %+v", b)
	}
}

// A client maxwell watch blacklisted is answered at connect, as [watch]
// answer says, until its entry expires; internal clients and the
// submission port are never refused.
func TestBlacklistedClientAnsweredAtConnect(t *testing.T) {
	for _, tc := range []struct {
		answer   string
		code     int
		action   policy.Action
		internal bool
		port     string
		refused  bool
	}{
		{answer: "tempfail", code: 421, action: policy.Tempfail, port: "25", refused: true},
		{answer: "reject", code: 550, action: policy.Reject, port: "25", refused: true},
		{answer: "tempfail", port: "587"},
		{answer: "tempfail", port: "25", internal: true},
	} {
		internal := ""
		if tc.internal {
			internal = `internal_connect = ["198.51.100.7"]`
		}
		env := enginetest.New(t, fmt.Sprintf("[milter]\n%s\n[greylist]\nenabled = false\n[watch]\nanswer = %q\n[dns]\ntimeout = \"200ms\"\nattempts = 1\n", internal, tc.answer),
			"7.100.51.198.in-addr.arpa. PTR mail.sender.example.", "mail.sender.example. A 198.51.100.7")
		st, c, _ := withStore(t, env, 5*time.Second)
		st.Ban(context.Background(), store.Ban{Kind: store.BanClient, Key: "198.51.100.7", Reason: "greylisted, then lost connection after RCPT",
			Created: c.Now(), Expires: c.Now().Add(7 * 24 * time.Hour)})
		run := func() policy.Outcome {
			return env.Engine.Run(policy.Transaction{
				Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7"), DaemonPort: tc.port}, Helo: "mail.sender.example",
				Mail: policy.MailInfo{Sender: "joe@sender.example"}, Rcpts: []string{"bob@example.org"},
			})
		}
		o := run()
		refused := o.Final.Action == tc.action && o.Final.Code == tc.code && len(o.Stages) == 1 &&
			strings.Contains(o.Final.Reply(), "Too many impolite connections")
		if refused != tc.refused {
			t.Errorf("%+v: %v %d %q after %d stages", tc, o.Final.Action, o.Final.Code, o.Final.Reply(), len(o.Stages))
		}
		if tc.refused && !strings.Contains(env.Log.String(), `tag=BLACKLIST reason="blacklisted: greylisted, then lost connection after RCPT"`) {
			t.Errorf("%+v: no BLACKLIST decision in the log:\n%s", tc, env.Log)
		}
		c.Advance(7*24*time.Hour + time.Second)
		if o := run(); o.Final.Code == tc.code && tc.refused {
			t.Errorf("%+v: still refused after the entry expired", tc)
		}
	}
}

// With [reputation] on, a demerit ban teaches the client's network
// ("ban"), once: the refusals after it teach "refused" as any refusal.
func TestDemeritBanTeachesReputation(t *testing.T) {
	env := enginetest.New(t, `
[milter]
max_demerits = 3
delayed_reject = false
hello_blacklist = ["mx.example.org"]
[greylist]
enabled = false
[reputation]
enabled = true
refused = 0
[dns]
timeout = "200ms"
attempts = 1
`, "7.100.51.198.in-addr.arpa. PTR mail.sender.example.", "mail.sender.example. A 198.51.100.7")
	st, _, _ := withStore(t, env, 5*time.Second)
	env.Engine.Run(policy.Transaction{
		Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7"), DaemonPort: "25"}, Helo: "mx.example.org",
		Mail: policy.MailInfo{Sender: "joe@other.example"}, Rcpts: []string{"bob@example.org"},
	})
	rs, err := st.Reputation(context.Background(), "net:198.51.100.0/24")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Bad != 5 || rs[0].Good != 0 || rs[0].Events != 1 {
		t.Errorf("the banned client's network: %+v, want bad 5 ([reputation] ban) in one event", rs)
	}
}
