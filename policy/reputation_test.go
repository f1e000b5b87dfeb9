package policy_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/policy"
	"github.com/maxwell-milter/maxwell/reputation"
	"github.com/maxwell-milter/maxwell/store"
)

// repConfig turns reputation on (after the [greylist] settings of
// greyConfig); more are more [reputation] settings.
func repConfig(more string) string {
	return "[reputation]\nenabled = true\n" + more
}

const (
	halfLife = 30 * 24 * time.Hour
	goodSPF  = "spf:sender.example" // 198.51.100.7, HELO mail.sender.example, passes SPF for it
)

// learn seeds the engine's store.
func (g *greyEnv) learn(t *testing.T, id string, good, bad float64) {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), g.path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Learn(context.Background(), []store.Observation{{ID: id, Good: good, Bad: bad}}, g.clock.Now(), halfLife); err != nil {
		t.Fatal(err)
	}
}

func (g *greyEnv) reputations(t *testing.T, ids ...string) map[string]store.Reputation {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), g.path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs, err := st.Reputation(context.Background(), ids...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Reputation{}
	for _, r := range rs {
		out[r.ID] = r
	}
	return out
}

// The acceptance: a domain with a good reputation skips
// greylisting; one with a bad reputation is refused. A domain nobody
// knows is greylisted as ever.
func TestReputationDecides(t *testing.T) {
	tests := []struct {
		name       string
		good, bad  float64
		action     policy.Action
		reply, log string
	}{
		{"unknown: greylisted", 0, 0, policy.Tempfail, "451 4.7.1", "action=none"},
		{"good: skips greylisting", 20, 0, policy.Accept, "", `id=spf:sender.example score=0.800 own=0.800 evidence=20.000 peers=0.000 action=skip_greylist`},
		{"good but too little known: greylisted", 4, 0, policy.Tempfail, "451 4.7.1", "action=none"},
		{"bad: refused", 0, 45, policy.Reject, "550 5.7.1 Mail from sender.example is refused here for its bad reputation", "score=-0.900 own=-0.900 evidence=45.000 peers=0.000 action=refuse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGreyEnv(t, repConfig("refuse_below = -0.7\n"))
			if tt.good+tt.bad > 0 {
				g.learn(t, goodSPF, tt.good, tt.bad)
			}
			out := g.send("198.51.100.7", "mail.sender.example", "joe@sender.example", "bob@example.org")
			f := out.Final
			if f.Action != tt.action || !strings.HasPrefix(f.Reply(), tt.reply) {
				t.Fatalf("got %v %q, want %v %q\n%s", f.Action, f.Reply(), tt.action, tt.reply, g.Log)
			}
			if len(g.Log.Lines("event=reputation", tt.log)) != 1 {
				t.Errorf("no reputation line with %q:\n%s", tt.log, g.Log)
			}
			if tt.action == policy.Accept && len(g.Log.Lines("event=greylist", `reason="good reputation"`)) != 1 {
				t.Errorf("greylisting skipped without saying why:\n%s", g.Log)
			}
		})
	}
}

// A bad reputation greylists where greylisting would spare the client
// (only_suspicious), and asks for a call-back.
func TestReputationTightens(t *testing.T) {
	g := newGreyEnv(t, "only_suspicious = true\n"+repConfig("refuse_below = 0\n"))
	out := g.send("198.51.100.7", "mail.sender.example", "joe@sender.example", "bob@example.org")
	if out.Final.Action != policy.Accept {
		t.Fatalf("not suspicious, no reputation: %v %q\n%s", out.Final.Action, out.Final.Reply(), g.Log)
	}
	g.learn(t, goodSPF, 0, 7) // -7/12 = -0.58: below greylist_below and callback_below
	out = g.send("198.51.100.7", "mail.sender.example", "joe@sender.example", "bob@example.org")
	if out.Final.Action != policy.Tempfail || out.Final.XCode != "4.7.1" {
		t.Fatalf("bad reputation, only_suspicious: %v %q, want greylisted\n%s", out.Final.Action, out.Final.Reply(), g.Log)
	}
	if len(g.Log.Lines("event=reputation", "action=callback")) != 1 || len(g.Log.Lines("event=cbv", "template=reputation")) != 1 {
		t.Errorf("no call-back asked for:\n%s", g.Log)
	}
}

// What a message teaches is learned once, when it ends: good for mail
// accepted after greylisting, for every identity; bad for a refusal,
// once however many recipients were refused, and more for an SPF fail.
func TestReputationLearns(t *testing.T) {
	g := newGreyEnv(t, repConfig(""))
	send := func() policy.Outcome {
		return g.send("198.51.100.7", "mail.sender.example", "joe@sender.example", "bob@example.org")
	}
	send()
	g.clock.Advance(10 * time.Minute)
	if out := send(); out.Final.Action != policy.Accept {
		t.Fatalf("retry: %v\n%s", out.Final.Action, g.Log)
	}
	ids := []string{goodSPF, "helo:mail.sender.example", "net:198.51.100.0/24"}
	got := g.reputations(t, ids...)
	for _, id := range ids {
		if r := got[id]; r.Good != 2 || r.Bad != 0 || r.Events != 1 {
			t.Errorf("%s = %+v, want good 2 (accepted, after greylisting) in one event", id, r)
		}
	}

	// An SPF fail, refused at DATA, to three recipients.
	out := g.Engine.Run(policy.Transaction{
		Conn: policy.ConnInfo{IP: netip.MustParseAddr("203.0.113.9")}, Helo: "mail.sender.example",
		Mail: policy.MailInfo{Sender: "joe@sender.example"}, Rcpts: []string{"a@example.org", "b@example.org", "c@example.org"},
	})
	if out.Final.Action != policy.Reject {
		t.Fatalf("SPF fail: %v %q", out.Final.Action, out.Final.Reply())
	}
	if r := g.reputations(t, "net:203.0.113.0/24")["net:203.0.113.0/24"]; r.Bad != 3 || r.Good != 0 || r.Events != 1 {
		t.Errorf("after an SPF fail to 3 recipients: %+v, want bad 3 (refused once, SPF fail 2)", r)
	}
}

// Two sites, each with its own store and peer server on loopback: site
// A learns from its own mail that a domain sends what it refuses; site
// B, which never saw the domain, asks A, and refuses it — when B weighs
// A enough. A's word never counts for more than its weight.
func TestReputationPeers(t *testing.T) {
	const secret = "a-secret-the-two-sites-share"
	// Site A refuses every message of joe@sender.example (blocked
	// sender), and so learns its domain's bad name (refusing none for
	// it: each refusal is then learned).
	a := newGreyEnv(t, repConfig("refuse_below = 0\n")+"[blocked_senders]\nsenders = [\"joe@sender.example\"]\naction = \"reject\"\n")
	for range 20 {
		if out := a.send("198.51.100.7", "mail.sender.example", "joe@sender.example", "bob@example.org"); out.Final.Code != 550 {
			t.Fatalf("site A: %q", out.Final.Reply())
		}
	}
	aURL := servePeers(t, a, "b", "http://127.0.0.1:1", secret)

	for _, tt := range []struct {
		weight  float64
		refused bool
	}{{0.3, true}, {0.2, false}} {
		t.Run(fmt.Sprintf("weight %v", tt.weight), func(t *testing.T) {
			b := newGreyEnv(t, repConfig(fmt.Sprintf(`refuse_below = -0.2
[[reputation.peers]]
name = "a"
url = %q
secret = %q
weight = %v
`, aURL, secret, tt.weight)))
			servePeers(t, b, "a", aURL, secret)
			out := b.send("198.51.100.7", "mail.sender.example", "joe@sender.example", "bob@example.org")
			// A's score: -20/25 = -0.8; B's: 0 + weight × -0.8.
			want := fmt.Sprintf("score=%.3f own=0.000 evidence=0.000 peers=%.3f", tt.weight*-0.8, tt.weight*-0.8)
			if len(b.Log.Lines("event=reputation", want, "answered=1")) != 1 {
				t.Errorf("no reputation line with %q:\n%s", want, b.Log)
			}
			if refused := out.Final.Action == policy.Reject; refused != tt.refused {
				t.Errorf("refused = %v (%q), want %v\n%s", refused, out.Final.Reply(), tt.refused, b.Log)
			}
		})
	}
}

// servePeers starts g's peer server on 127.0.0.1:0, answering the peer
// name at url with secret, and returns its URL.
func servePeers(t *testing.T, g *greyEnv, name, url, secret string) string {
	t.Helper()
	cfg, err := config.Parse("t.toml", []byte(fmt.Sprintf("[reputation]\nenabled = true\n[[reputation.peers]]\nname = %q\nurl = %q\nsecret = %q\n", name, url, secret)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), g.path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := reputation.NewServer(cfg.Reputation, st, g.clock.Now).NewHTTPServer()
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String()
}
