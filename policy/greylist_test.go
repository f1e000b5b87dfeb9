package policy_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/internal/pgtest"
	"github.com/maxwell-milter/maxwell/internal/testclock"
	"github.com/maxwell-milter/maxwell/policy"
	"github.com/maxwell-milter/maxwell/store"
)

const greyConfig = `
[milter]
internal_connect = ["192.0.2.0/24"]
trusted_relay = ["198.51.100.50"]
hostname = "mx.example.org"
[dns]
timeout = "200ms"
attempts = 1
[greylist]
auto_whitelist_clients = 3
EXTRA
`

var greyZone = []string{
	"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
	"mail.sender.example. A 198.51.100.7",
	"8.100.51.198.in-addr.arpa. PTR liar.example.", // not confirmed: liar.example has no A
	`pool.example. TXT "v=spf1 ip4:198.51.100.0/24 ip4:203.0.113.0/24 -all"`,
	`sender.example. TXT "v=spf1 ip4:198.51.100.7 -all"`,
}

type greyEnv struct {
	*enginetest.Env
	clock *testclock.Clock
	path  string // the SQLite file
}

// newGreyEnv is an engine with greylisting on a fresh SQLite store and a
// clock that only moves when told; extra is more [greylist] settings.
func newGreyEnv(t *testing.T, extra string) *greyEnv {
	return newGreyEnvWaiting(t, extra, 5*time.Second)
}

// newGreyEnvWaiting is newGreyEnv with a store whose operations give up
// after timeout.
func newGreyEnvWaiting(t *testing.T, extra string, timeout time.Duration) *greyEnv {
	env := enginetest.New(t, strings.Replace(greyConfig, "EXTRA", extra, 1), greyZone...)
	_, c, path := withStore(t, env, timeout)
	return &greyEnv{env, c, path}
}

// withStore gives env's engine a SQLite store (at path), whose
// operations wait at most timeout, and a clock the test sets.
func withStore(t testing.TB, env *enginetest.Env, timeout time.Duration) (st store.Store, c *testclock.Clock, path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "grey.db")
	st, err := store.OpenSQLite(context.Background(), path, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c = testclock.New()
	env.Engine.UseStore(st)
	env.Engine.SetClock(c.Now)
	return st, c, path
}

// send runs one message from ip (HELO helo) from sender to rcpt.
func (g *greyEnv) send(ip, helo, sender, rcpt string) policy.Outcome {
	return g.Engine.Run(policy.Transaction{
		Conn:    policy.ConnInfo{IP: netip.MustParseAddr(ip)},
		Helo:    helo,
		Mail:    policy.MailInfo{Sender: sender},
		Rcpts:   []string{rcpt},
		Headers: []policy.Header{{Name: "Subject", Value: "hello"}},
	})
}

// greyHeader returns the X-Greylist value an outcome adds, "" if none.
func greyHeader(out policy.Outcome) string {
	for _, e := range out.Final.Edits {
		if e.Name == "X-Greylist" {
			return e.Value
		}
	}
	return ""
}

// step is one attempt of a timeline: after waiting, the answer expected.
type step struct {
	wait     time.Duration
	ip       string
	sender   string
	deferred bool
	text     string // part of the reply or of the X-Greylist header
}

func (g *greyEnv) timeline(t *testing.T, steps []step) {
	t.Helper()
	for i, s := range steps {
		g.clock.Advance(s.wait)
		ip, sender := s.ip, s.sender
		if ip == "" {
			ip = "198.51.100.7"
		}
		if sender == "" {
			sender = "joe@other.example"
		}
		out := g.send(ip, "mail.sender.example", sender, "bob@example.org")
		f := out.Final
		if s.deferred {
			if f.Action != policy.Tempfail || f.Code != 451 || f.XCode != "4.7.1" || !strings.Contains(f.Reply(), s.text) {
				t.Fatalf("step %d (+%v, %s %s): got %v %q, want 451 4.7.1 ...%s...\n%s", i, s.wait, ip, sender, f.Action, f.Reply(), s.text, g.Log)
			}
			continue
		}
		if f.Action != policy.Accept || !strings.Contains(greyHeader(out), s.text) || (s.text == "") != (greyHeader(out) == "") {
			t.Fatalf("step %d (+%v, %s %s): got %v %q X-Greylist %q, want accepted, X-Greylist %q\n%s", i, s.wait, ip, sender, f.Action, f.Reply(), greyHeader(out), s.text, g.Log)
		}
	}
}

func TestGreylistTimeline(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name  string
		extra string
		steps []step
	}{
		{"defer, early retry, pass, renewal, expiry", "", []step{
			{0, "", "", true, "Greylisted, please retry in 300 seconds"},
			{time.Minute, "", "", true, "retry in 240 seconds"},
			{5 * time.Minute, "", "", false, "delayed 360 seconds by maxwell-dev at mx.example.org;"},
			{time.Minute, "", "", false, ""},                   // passed: no header
			{34 * day, "", "", false, ""},                      // renewed a minute ago +35d
			{35*day + time.Hour, "", "", true, "retry in 300"}, // 35 days without mail: forgotten
		}},
		{"late first retry starts over", "", []step{
			{0, "", "", true, "300 seconds"},
			{49 * time.Hour, "", "", true, "300 seconds"},
			{6 * time.Minute, "", "", false, "delayed 360 seconds"},
		}},
		{"too_soon counts from the first attempt, and a reset restarts the round", `too_soon = "3m"`, []step{
			{0, "", "", true, "300 seconds"},
			{time.Minute, "", "", true, "300 seconds"},                    // too soon after the first: the round starts again
			{2*time.Minute + 30*time.Second, "", "", true, "300 seconds"}, // too soon after the reset: again
			{3*time.Minute + 30*time.Second, "", "", true, "90 seconds"},  // 3m30s after the reset: only early
			{time.Minute, "", "", true, "30 seconds"},                     // a minute after the previous attempt: still only early
			{30 * time.Second, "", "", false, "delayed 300 seconds"},      // 5m after the reset
		}},
		// Kamaelia's isGreylisted with its constants: min_defer_time
		// 3600 s, too_soon 180 s, max_defer_time 25000 s, max_grey
		// 3000000 s; every pending timer counts from the first attempt.
		{"kamaelia: retries at 0, 3500 and 3650 s pass at 3650 s", `preset = "kamaelia"`, []step{
			{0, "", "", true, "3600 seconds"},
			{3500 * time.Second, "", "", true, "100 seconds"},
			{150 * time.Second, "", "", false, "delayed 3650 seconds"},
		}},
		{"kamaelia: a retry after max_defer_time starts over", `preset = "kamaelia"`, []step{
			{0, "", "", true, "3600 seconds"},
			{25001 * time.Second, "", "", true, "3600 seconds"},
			{3600 * time.Second, "", "", false, "delayed 3600 seconds"},
		}},
		{"kamaelia: a pass lasts max_grey after the latest accepted message", `preset = "kamaelia"`, []step{
			{0, "", "", true, "3600 seconds"},
			{3600 * time.Second, "", "", false, "delayed 3600 seconds"},
			{3000000 * time.Second, "", "", false, ""}, // renewed
			{3000000 * time.Second, "", "", false, ""}, // renewed again
			{3000001 * time.Second, "", "", true, "3600 seconds"},
		}},
		{"too_soon off: retries do not reset", "", []step{
			{0, "", "", true, "300 seconds"},
			{time.Minute, "", "", true, "240 seconds"},
			{4*time.Minute + 30*time.Second, "", "", false, "delayed 330 seconds"},
		}},
		{"the SPF-pass domain is the client: a pool retries from another network", "", []step{
			{0, "198.51.100.7", "news@pool.example", true, "300 seconds"},
			{6 * time.Minute, "203.0.113.9", "news@pool.example", false, "delayed 360 seconds"},
		}},
		{"without SPF pass, another /24 is another client", "", []step{
			{0, "198.51.100.7", "news@nospf.example", true, "300 seconds"},
			{6 * time.Minute, "203.0.113.9", "news@nospf.example", true, "300 seconds"},
			{0, "198.51.100.99", "news@nospf.example", false, "delayed 360 seconds"}, // same /24 as the first
		}},
		{"IPv6 clients are grouped by /64", "", []step{
			{0, "2001:db8:1:2::5", "", true, "300 seconds"},
			{6 * time.Minute, "2001:db8:1:3::5", "", true, "300 seconds"},
			{0, "2001:db8:1:2::99", "", false, "delayed 360 seconds"},
		}},
		{"prefixes are configurable", "ipv4_prefix = 32\nipv6_prefix = 128", []step{
			{0, "198.51.100.7", "", true, "300 seconds"},
			{6 * time.Minute, "198.51.100.8", "", true, "300 seconds"},
			{6 * time.Minute, "2001:db8::1", "", true, "300 seconds"},
			{6 * time.Minute, "2001:db8::2", "", true, "300 seconds"},
		}},
		{"senders are normalised", "", []step{
			{0, "", "prvs=1234abcdef=Joe+list-17@Other.Example", true, "300 seconds"},
			{6 * time.Minute, "", "joe+other@other.example", false, "delayed 360"},
			{0, "", "bounce-4711-joe@other.example", true, "300 seconds"},
			{6 * time.Minute, "", "bounce-815-joe@other.example", false, "delayed 360"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newGreyEnv(t, tt.extra).timeline(t, tt.steps)
		})
	}
}

// After auto_whitelist_clients passed triplets a client is not
// greylisted any more, until pass_ttl after its latest message.
func TestGreylistAutoWhitelist(t *testing.T) {
	g := newGreyEnv(t, "")
	for i := range 3 {
		sender := fmt.Sprintf("user%d@other.example", i)
		if f := g.send("198.51.100.7", "mail.sender.example", sender, "bob@example.org").Final; f.Action != policy.Tempfail {
			t.Fatalf("triplet %d first attempt: %v", i, f.Action)
		}
		g.clock.Advance(6 * time.Minute)
		if f := g.send("198.51.100.7", "mail.sender.example", sender, "bob@example.org").Final; f.Action != policy.Accept {
			t.Fatalf("triplet %d retry: %v %s", i, f.Action, f.Reply())
		}
	}
	if len(g.Log.Lines("event=greylist", "auto_whitelisted=true")) != 1 {
		t.Errorf("the third pass should list the client:\n%s", g.Log)
	}
	if f := g.send("198.51.100.9", "mail.sender.example", "new@other.example", "carol@example.org").Final; f.Action != policy.Accept {
		t.Fatalf("auto-whitelisted client, new triplet: %v %s", f.Action, f.Reply())
	}
	if len(g.Log.Lines("event=greylist", `reason="auto-whitelisted client"`)) != 1 {
		t.Errorf("no skip logged:\n%s", g.Log)
	}
	if f := g.send("203.0.113.9", "x.example", "new@other.example", "carol@example.org").Final; f.Action != policy.Tempfail {
		t.Errorf("another client: %v, want greylisted", f.Action)
	}
	g.clock.Advance(36 * 24 * time.Hour)
	if f := g.send("198.51.100.9", "mail.sender.example", "later@other.example", "carol@example.org").Final; f.Action != policy.Tempfail {
		t.Errorf("after pass_ttl without mail: %v, want greylisted again", f.Action)
	}
}

func TestGreylistWhitelists(t *testing.T) {
	const extra = `
whitelist_clients = ["203.0.113.0/28", "mail.sender.example", "liar.example"]
whitelist_senders = ["sender.example", "*.friends.example"]
whitelisted_triples = [["198.51.100.20", "news@list.example", "bob@example.org"]]
whitelisted_nonstandard_triples = [["relay.bigisp.example", "198.51.101", "bob@example.org"]]
`
	tests := []struct {
		name, ip, helo, sender, rcpt, auth string
		greylisted                         bool
	}{
		{"postmaster@ by default", "203.0.113.99", "x.example", "a@b.example", "postmaster@example.org", "", false},
		{"abuse@ by default", "203.0.113.99", "x.example", "a@b.example", "Abuse@example.net", "", false},
		{"other recipients are not", "203.0.113.99", "x.example", "a@b.example", "bob@example.org", "", true},
		{"client CIDR", "203.0.113.5", "x.example", "a@b.example", "bob@example.org", "", false},
		{"client name, forward-confirmed", "198.51.100.7", "x.example", "a@b.example", "bob@example.org", "", false},
		{"client name not confirmed", "198.51.100.8", "x.example", "a@b.example", "bob@example.org", "", true},
		{"sender domain with SPF pass", "198.51.100.7", "x.example", "joe@sender.example", "bob@example.org", "", false},
		{"sender domain glob, no SPF record", "203.0.113.99", "x.example", "joe@a.friends.example", "bob@example.org", "", true},
		{"standard triple", "198.51.100.20", "x.example", "News@list.example", "bob@example.org", "", false},
		{"standard triple, other sender", "198.51.100.20", "x.example", "other@list.example", "bob@example.org", "", true},
		{"non-standard triple", "198.51.101.77", "relay.bigisp.example", "x@any.example", "bob@example.org", "", false},
		{"non-standard triple, other HELO", "198.51.101.77", "relay.other.example", "x@any.example", "bob@example.org", "", true},
		{"internal client", "192.0.2.10", "pc.example.org", "x@any.example", "bob@example.org", "", false},
		{"trusted relay", "198.51.100.50", "relay.example", "x@any.example", "bob@example.org", "", false},
		{"SMTP AUTH", "203.0.113.99", "x.example", "x@any.example", "bob@example.org", "joe", false},
	}
	g := newGreyEnv(t, extra)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := g.Engine.Run(policy.Transaction{
				Conn:  policy.ConnInfo{IP: netip.MustParseAddr(tt.ip)},
				Helo:  tt.helo,
				Mail:  policy.MailInfo{Sender: tt.sender, AuthUser: tt.auth},
				Rcpts: []string{tt.rcpt},
			})
			if got := out.Final.Action == policy.Tempfail && out.Final.Tag == "GREYLISTED"; got != tt.greylisted {
				t.Errorf("greylisted = %v, want %v (%v %q)\n%s", got, tt.greylisted, out.Final.Action, out.Final.Reply(), g.Log)
			}
		})
	}
}

// Selective mode greylists only clients that look like spam sources.
func TestGreylistOnlySuspicious(t *testing.T) {
	g := newGreyEnv(t, "only_suspicious = true")
	tests := []struct {
		name, ip, sender string
		greylisted       bool
	}{
		{"good PTR and SPF pass", "198.51.100.7", "joe@sender.example", false},
		{"good PTR, no SPF pass", "198.51.100.7", "joe@nospf.example", true},
		{"no PTR, SPF pass", "203.0.113.9", "joe@pool.example", true},
	}
	for _, tt := range tests {
		out := g.send(tt.ip, "mail.sender.example", tt.sender, "bob@example.org")
		if got := out.Final.Tag == "GREYLISTED"; got != tt.greylisted {
			t.Errorf("%s: greylisted = %v, want %v", tt.name, got, tt.greylisted)
		}
	}
}

// A null sender is deferred at DATA, so a recipient call-out (MAIL
// FROM:<>, RCPT TO, QUIT) gets its answer.
func TestGreylistNullSenderAtData(t *testing.T) {
	g := newGreyEnv(t, "")
	out := g.send("203.0.113.9", "mx.bounce.example", "", "bob@example.org")
	var rcpt, data policy.Decision
	for _, s := range out.Stages {
		switch {
		case strings.HasPrefix(s.Stage, "rcpt to"):
			rcpt = s.Decision
		case s.Stage == "data":
			data = s.Decision
		}
	}
	if rcpt.Action != policy.Continue {
		t.Errorf("RCPT: %v %q, want continue", rcpt.Action, rcpt.Reply())
	}
	if data.Action != policy.Tempfail || data.Tag != "GREYLISTED" || data.Code != 451 {
		t.Errorf("DATA: %v %s %q, want 451 GREYLISTED", data.Action, data.Tag, data.Reply())
	}
	if len(g.Log.Lines("event=decision", "tag=GREYLISTED", "delayed=true")) != 1 {
		t.Errorf("the deferral at DATA is not logged:\n%s", g.Log)
	}
}

// A store that cannot answer (here: SQLite locked by another process
// past the busy timeout) defers, or with fail_open accepts; it never
// crashes the session.
func TestGreylistStoreUnavailable(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail_open=%v", failOpen), func(t *testing.T) {
			g := newGreyEnvWaiting(t, fmt.Sprintf("fail_open = %v", failOpen), time.Second)
			unlock := lockSQLite(t, g.path)
			out := g.send("203.0.113.9", "x.example", "a@b.example", "bob@example.org")
			if failOpen {
				if out.Final.Action != policy.Accept {
					t.Errorf("fail_open: %v %q, want accept", out.Final.Action, out.Final.Reply())
				}
			} else if f := out.Final; f.Action != policy.Tempfail || f.Code != 451 || f.XCode != "4.3.0" {
				t.Errorf("store locked: %v %q, want 451 4.3.0", f.Action, f.Reply())
			}
			if len(g.Log.Lines("event=greylist", "step=error", "no answer within 1s")) != 1 {
				t.Errorf("the store error is not logged:\n%s", g.Log)
			}
			unlock()
			if f := g.send("203.0.113.9", "x.example", "a@b.example", "bob@example.org").Final; f.Tag != "GREYLISTED" {
				t.Errorf("after the lock is gone: %v %q, want greylisted", f.Action, f.Reply())
			}
		})
	}
}

// lockSQLite holds an exclusive lock on a SQLite file, as another process
// writing to it would, until unlock is called.
func lockSQLite(t *testing.T, path string) (unlock func()) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
		db.Close()
	}
}

func TestNormaliseSender(t *testing.T) {
	tests := map[string]string{
		"":                                        "<>",
		"Joe@Example.COM":                         "joe@example.com",
		"joe+lists@example.com":                   "joe@example.com",
		"prvs=1234abcdef=joe@example.com":         "joe@example.com",
		"msprvs1=17abcdEFgh=joe@example.com":      "joe@example.com",
		"bounce-12345-678@lists.example":          "bounce-#-#@lists.example",
		"owner-list_12@lists.example":             "owner-list_12@lists.example", // _ is a word character
		"user42@example.com":                      "user42@example.com",
		"42@example.com":                          "#@example.com",
		"a.2026.11.b@example.com":                 "a.#.#.b@example.com",
		"prvs=1234abcdef=bounce+x-99@example.com": "bounce@example.com",
		"no-at-sign":                              "no-at-sign",
	}
	for in, want := range tests {
		if got := policy.NormaliseSender(in); got != want {
			t.Errorf("NormaliseSender(%q) = %q, want %q", in, got, want)
		}
	}
}

// Store faults while the daemon runs: each is answered as [greylist]
// fail_open says (451 4.3.0 here), and greylisting recovers by itself
// once the store is back, without a restart.
func TestGreylistStoreFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		during string // the answer to a new triplet during the fault
		// room: new triplets the store may still take, rightly, before
		// the fault shows (a full disk: the log's pages already there)
		room  int
		store func(t *testing.T) (st store.Store, fault, repair func())
	}{
		{"PostgreSQL stopped and restarted", "451 4.3.0 Temporary local problem, try again later", 0, func(t *testing.T) (store.Store, func(), func()) {
			pg := pgtest.Start(t)
			st, err := store.OpenPostgres(context.Background(), pg.NewDB(t), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			return st, pg.Stop, func() { pg.Restart(t) }
		}},
		{"SQLite file deleted while open", "451 4.7.1 Greylisted, please retry in 300 seconds", 0, func(t *testing.T) (store.Store, func(), func()) {
			path := filepath.Join(t.TempDir(), "grey.db")
			st, err := store.OpenSQLite(context.Background(), path, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			// SQLite goes on with the open file; nothing is refused, and
			// the state is lost only at the next start.
			return st, func() { os.Remove(path); os.Remove(path + "-wal"); os.Remove(path + "-shm") }, func() {}
		}},
		// SQLite reuses its write-ahead log once a checkpoint has copied
		// it into the database: the first commits of a full disk may
		// still find their pages there.
		{"disk full", "451 4.3.0 Temporary local problem, try again later", 50, func(t *testing.T) (store.Store, func(), func()) {
			dir := t.TempDir()
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
				t.Fatalf("a small tmpfs for a full disk (needs root): %v %s", err, out)
			}
			t.Cleanup(func() { exec.Command("umount", dir).Run() })
			st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "grey.db"), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			filler := filepath.Join(dir, "filler")
			fill := func() {
				f, _ := os.Create(filler)
				defer f.Close()
				for _, err := f.Write(make([]byte, 64<<10)); err == nil; _, err = f.Write(make([]byte, 4096)) {
				}
			}
			return st, fill, func() { os.Remove(filler) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGreyEnv(t, "")
			st, fault, repair := tc.store(t)
			t.Cleanup(func() { st.Close() })
			g.Engine.UseStore(st)
			greylisted := func(sender string) bool {
				return g.send("203.0.113.9", "x.example", sender, "bob@example.org").Final.Tag == "GREYLISTED"
			}
			if !greylisted("a@b.example") {
				t.Fatal("not greylisted before the fault")
			}
			fault()
			for i := 0; ; i++ {
				f := g.send("203.0.113.9", "x.example", fmt.Sprintf("c%d@b.example", i), "bob@example.org").Final
				if f.Reply() == tc.during {
					break
				}
				if i >= tc.room || f.Tag != "GREYLISTED" {
					t.Errorf("during the fault, new triplet %d: %v %q, want %q", i+1, f.Action, f.Reply(), tc.during)
					break
				}
			}
			repair()
			if !testclock.Poll(10*time.Second, 200*time.Millisecond, func() bool { return greylisted("d@b.example") }) {
				t.Errorf("greylisting did not recover:\n%s", g.Log)
			}
		})
	}
}

// A transaction that is refused at DATA anyway (delayed_reject, the
// default) is not greylisted at RCPT: the client gets its refusal, no
// triplet is created or passed, and however often a forger retries, its
// client never reaches the auto-whitelist.
func TestGreylistNotForCondemned(t *testing.T) {
	env := enginetest.New(t, `
[milter]
internal_domains = ["example.org"]
hostname = "mx.example.org"
[dns]
timeout = "200ms"
attempts = 1
[greylist]
auto_whitelist_clients = 2
`, append(greyZone, "77.113.0.203.in-addr.arpa. PTR localhost.", `fail.example. TXT "v=spf1 -all"`)...)
	st, clock, _ := withStore(t, env, 5*time.Second)
	send := func(ip, sender string) policy.Outcome {
		return env.Engine.Run(policy.Transaction{
			Conn: policy.ConnInfo{IP: netip.MustParseAddr(ip)}, Helo: "x.example",
			Mail: policy.MailInfo{Sender: sender}, Rcpts: []string{"bob@example.org"},
			Headers: []policy.Header{{Name: "Subject", Value: "hello"}},
		})
	}
	for _, tc := range []struct {
		name, ip, sender, reply string
	}{
		{"SPF fail", "203.0.113.9", "joe%d@fail.example", "550 5.7.23 SPF fail"},
		{"a whitelisted sender domain forged: SPF fail", "203.0.113.9", "joe%d@sender.example", "550 5.7.23 SPF fail"},
		{"our own domain from outside", "203.0.113.9", "boss%d@example.org", "550 5.7.1 I hate talking to myself!"},
		{"PTR localhost", "203.0.113.77", "joe%d@other.example", `550 5.7.25 "localhost" is not a reasonable PTR name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env.Log.Reset()
			for i := range 3 { // each sender twice, past the delay: retries that would pass greylisting
				for range 2 {
					out := send(tc.ip, fmt.Sprintf(tc.sender, i))
					last := out.Stages[len(out.Stages)-1]
					if f := out.Final; !strings.HasPrefix(f.Reply(), tc.reply) || last.Stage != "data" {
						t.Fatalf("sender %d: %v %q at %s, want %q at DATA\n%s", i, f.Action, f.Reply(), last.Stage, tc.reply, env.Log)
					}
					clock.Advance(6 * time.Minute)
				}
			}
			if l := env.Log.Lines("event=greylist", "step=skip", `reason="refused at DATA"`); len(l) != 6 {
				t.Errorf("%d greylist skips logged, want 6:\n%s", len(l), env.Log)
			}
		})
	}
	if es, err := st.Triplets(context.Background(), store.Filter{}); err != nil || len(es) != 0 {
		t.Errorf("condemned transactions left triplets: %+v %v", es, err)
	}
	// The forgers' networks are not auto-whitelisted: a new sender from
	// there is greylisted as anyone.
	for _, ip := range []string{"203.0.113.10", "203.0.113.78"} {
		if f := send(ip, "new@other.example").Final; f.Tag != "GREYLISTED" {
			t.Errorf("new sender from %s: %v %q, want greylisted", ip, f.Action, f.Reply())
		}
	}
}

// Only a message accepted at end of message counts towards its client's
// auto-whitelist: a retry that passes greylisting but is refused for its
// content does not.
func TestGreylistAutoWhitelistCountsAcceptedMail(t *testing.T) {
	g := newGreyEnv(t, "")
	g.Engine.Append(policy.Check{Name: "test: refuse 'spam'", Stage: policy.StageEOH, Run: func(s *policy.Session) (*policy.Decision, error) {
		if s.Msg.Subjects[0] == "spam" {
			return &policy.Decision{Action: policy.Reject, Code: 550, XCode: "5.7.1", Text: []string{"spam"}}, nil
		}
		return nil, nil
	}})
	send := func(sender, subject string) policy.Decision {
		return g.Engine.Run(policy.Transaction{
			Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, Helo: "mail.sender.example",
			Mail: policy.MailInfo{Sender: sender}, Rcpts: []string{"bob@example.org"},
			Headers: []policy.Header{{Name: "Subject", Value: subject}},
		}).Final
	}
	pass := func(sender, subject string, want policy.Action) {
		t.Helper()
		if f := send(sender, subject); f.Tag != "GREYLISTED" {
			t.Fatalf("%s, first attempt: %v %q", sender, f.Action, f.Reply())
		}
		g.clock.Advance(6 * time.Minute)
		if f := send(sender, subject); f.Action != want {
			t.Fatalf("%s, retry: %v %q, want %v", sender, f.Action, f.Reply(), want)
		}
	}
	for i := range 3 { // auto_whitelist_clients = 3: three refused passes
		pass(fmt.Sprintf("spammer%d@other.example", i), "spam", policy.Reject)
	}
	if f := send("new@other.example", "hello"); f.Tag != "GREYLISTED" {
		t.Fatalf("after three passes refused at end of headers: %v %q, want greylisted", f.Action, f.Reply())
	}
	for i := range 3 {
		pass(fmt.Sprintf("user%d@other.example", i), "hello", policy.Accept)
	}
	if l := g.Log.Lines("event=greylist", "client=198.51.100.0/24", "step=listed", "auto_whitelisted=true"); len(l) != 1 {
		t.Errorf("the third accepted pass should list the client once:\n%s", g.Log)
	}
	if f := send("newer@other.example", "hello"); f.Action != policy.Accept {
		t.Errorf("after three accepted passes: %v %q, want accepted (auto-whitelisted)", f.Action, f.Reply())
	}
}
