package reputation_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/testclock"
	"github.com/maxwell-milter/maxwell/reputation"
	"github.com/maxwell-milter/maxwell/store"
)

var ctx = context.Background()

const secret = "a-shared-secret-of-some-length"

// The score and its decay on a fake clock: (good-bad)/(good+bad+prior),
// counts halved every half-life.
func TestScoreAndDecay(t *testing.T) {
	c := testclock.New()
	const hl = 30 * 24 * time.Hour
	r := store.Reputation{ID: "spf:example.com", Good: 10, Bad: 0, Updated: c.Now()}
	tests := []struct {
		after          time.Duration
		score, evident float64
	}{
		{0, 10.0 / 15, 10},
		{hl, 5.0 / 10, 5},
		{2 * hl, 2.5 / 7.5, 2.5},
		{-time.Hour, 10.0 / 15, 10}, // a clock behind the update decays nothing
	}
	for _, tt := range tests {
		score, evidence := reputation.Own(r, c.Now().Add(tt.after), hl, 5)
		if math.Abs(score-tt.score) > 1e-12 || math.Abs(evidence-tt.evident) > 1e-12 {
			t.Errorf("after %v: score %v evidence %v, want %v %v", tt.after, score, evidence, tt.score, tt.evident)
		}
	}
	for _, tt := range []struct{ good, bad, prior, want float64 }{
		{0, 0, 5, 0}, {0, 1, 5, -1.0 / 6}, {0, 20, 5, -0.8}, {1e300, 0, 5, 1}, {0, 0, 0, 0},
	} {
		if got := reputation.Score(tt.good, tt.bad, tt.prior); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Score(%v, %v, %v) = %v, want %v", tt.good, tt.bad, tt.prior, got, tt.want)
		}
	}
}

// Identities as an administrator writes them.
func TestParse(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"spf:Example.COM", "spf:example.com"},
		{"example.com", "spf:example.com"},
		{"helo:mx.example.com.", "helo:mx.example.com"},
		{"192.0.2.77", "net:192.0.2.0/24"},
		{"net:192.0.2.77/32", "net:192.0.2.0/24"},
		{"net:10.0.0.0/8", "net:10.0.0.0/8"},
		{"2001:db8:1:2:3::4", "net:2001:db8:1:2::/64"},
		{"spf:bad domain", ""},
		{"net:nonsense", ""},
		{strings.Repeat("a", 300), ""},
	} {
		got, err := reputation.Parse(tt.in, 24, 64)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("Parse(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// The bound: whatever the peers answer, the combined score is within
// Σ weight of the own score, and dropping one peer's answer moves it by
// at most that peer's weight. Checked over many random cases and the
// extremes a liar would send.
func TestCombineBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	liars := []float64{1, -1, 1e9, -1e9, math.Inf(1), math.Inf(-1), math.NaN()}
	for i := range 20000 {
		own := rng.Float64()*2 - 1
		var as []reputation.Answer
		sum := 0.0
		for range 1 + rng.IntN(4) {
			w := rng.Float64()*0.999 + 0.001
			v := rng.Float64()*4 - 2
			if rng.IntN(3) == 0 {
				v = liars[rng.IntN(len(liars))]
			}
			as = append(as, reputation.Answer{Peer: "p", Weight: w, Score: v})
			sum += w
		}
		got, _ := reputation.Combine(own, as)
		if math.IsNaN(got) || got < -1 || got > 1 || math.Abs(got-own) > sum+1e-12 {
			t.Fatalf("case %d: own %v, answers %+v: %v, beyond the weights %v", i, own, as, got, sum)
		}
		for j := range as {
			without := append(append([]reputation.Answer{}, as[:j]...), as[j+1:]...)
			other, _ := reputation.Combine(own, without)
			if math.Abs(got-other) > as[j].Weight+1e-12 {
				t.Fatalf("case %d: peer %d (weight %v, says %v) moved the score by %v", i, j, as[j].Weight, as[j].Score, math.Abs(got-other))
			}
		}
	}
	if got, _ := reputation.Combine(0.2, []reputation.Answer{{Weight: 0.3, Score: 1, Err: errors.New("x")}}); got != 0.2 {
		t.Errorf("a failed answer counted: %v", got)
	}
}

// peerConfig is a [reputation] section with one peer at url.
func peerConfig(t *testing.T, url string, weight float64) config.Reputation {
	t.Helper()
	cfg, err := config.Parse("t.toml", []byte(fmt.Sprintf(`[reputation]
enabled = true
[[reputation.peers]]
name = "other"
url = %q
secret = %q
weight = %v
`, url, secret, weight)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Reputation
}

// A real site: a server on a SQLite store that knows one spammer.
func startSite(t *testing.T, c *testclock.Clock) (url string, st store.Store) {
	t.Helper()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "a.db"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Learn(ctx, []store.Observation{{ID: "spf:spammer.example", Bad: 45}}, c.Now(), 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	srv := reputation.NewServer(peerConfig(t, "http://127.0.0.1:1", 0.3), st, c.Now)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := srv.NewHTTPServer()
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String(), st
}

// A peer's answer, signed, is read, remembered and weighed; a server
// answers only signed, fresh, new requests.
func TestPeerProtocol(t *testing.T) {
	c := testclock.New()
	url, _ := startSite(t, c)
	client := reputation.NewClient(peerConfig(t, url, 0.3), c.Now)
	got := client.Ask(ctx, []string{"spf:spammer.example", "spf:unknown.example"}, 10)
	if a := got[0]; len(a) != 1 || a[0].Err != nil || math.Abs(a[0].Score-(-45.0/50)) > 1e-9 || a[0].Observations != 45 {
		t.Fatalf("answer about the spammer: %+v", a)
	}
	if a := got[1]; len(a) != 1 || a[0].Err != nil || a[0].Score != 0 || a[0].Observations != 0 {
		t.Errorf("answer about an unknown: %+v", a)
	}
	score, peers := reputation.Combine(0, got[0])
	if math.Abs(score-0.3*-0.9) > 1e-9 || score != peers {
		t.Errorf("combined %v (peers %v), want 0.3 × -0.9", score, peers)
	}
	// Remembered: no question goes out, even with no budget.
	if again := client.Ask(ctx, []string{"spf:spammer.example"}, 0); len(again[0]) != 1 || again[0][0].Err != nil {
		t.Errorf("cached answer: %+v", again)
	}
	// No budget, nothing cached: nobody asked.
	if none := client.Ask(ctx, []string{"spf:other.example"}, 0); len(none[0]) != 0 {
		t.Errorf("asked beyond the budget: %+v", none)
	}

	get := func(id, ts, nonce, sig string) int {
		req, _ := http.NewRequest(http.MethodGet, url+reputation.Path+"?id="+id, nil)
		req.Header.Set(reputation.HeaderTime, ts)
		req.Header.Set(reputation.HeaderNonce, nonce)
		req.Header.Set(reputation.HeaderSignature, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	now := strconv.FormatInt(c.Now().Unix(), 10)
	nonce := strings.Repeat("ab", 16)
	good := reputation.SignRequest(secret, http.MethodGet, "spf:spammer.example", c.Now(), nonce)
	for _, tt := range []struct {
		name           string
		ts, nonce, sig string
		want           int
	}{
		{"unsigned", now, nonce, "", 401},
		{"another secret", now, nonce, reputation.SignRequest("not the secret", http.MethodGet, "spf:spammer.example", c.Now(), nonce), 401},
		{"stale", strconv.FormatInt(c.Now().Add(-6*time.Minute).Unix(), 10), nonce,
			reputation.SignRequest(secret, http.MethodGet, "spf:spammer.example", c.Now().Add(-6*time.Minute), nonce), 401},
		{"signed", now, nonce, good, 200},
		{"replayed", now, nonce, good, 401},
		{"short nonce", now, "ab", reputation.SignRequest(secret, http.MethodGet, "spf:spammer.example", c.Now(), "ab"), 401},
	} {
		if got := get("spf:spammer.example", tt.ts, tt.nonce, tt.sig); got != tt.want {
			t.Errorf("%s request: %d, want %d", tt.name, got, tt.want)
		}
	}
	if got := get(strings.Repeat("x", 2000), now, nonce, good); got != http.StatusRequestURITooLong {
		t.Errorf("huge request: %d", got)
	}
	// peer_rate (20) a second: the clock stands still, so the bucket,
	// spent by the questions above, empties.
	limited := 0
	for i := range 30 {
		n := fmt.Sprintf("%032x", i+1000)
		if get("spf:spammer.example", now, n, reputation.SignRequest(secret, http.MethodGet, "spf:spammer.example", c.Now(), n)) == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited < 10 {
		t.Errorf("only %d of 30 requests in one second limited", limited)
	}
}

// A lying peer — a real server, signing correctly, answering what it
// likes — moves the score by at most its weight; an answer that is not
// a score in [-1, 1] (1e9, NaN, not JSON, another identity's, unsigned)
// is refused and counts for nothing.
func TestLyingPeer(t *testing.T) {
	c := testclock.New()
	var body, id string
	sign := true
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := strings.ReplaceAll(body, "ID", id)
		if sign {
			w.Header().Set(reputation.HeaderSignature, reputation.SignAnswer(secret, r.Header.Get(reputation.HeaderNonce), []byte(b)))
		}
		w.Write([]byte(b))
	}))
	defer liar.Close()
	const weight = 0.25
	const own = -0.9 // the site knows a spammer
	for i, tt := range []struct {
		body  string
		sign  bool
		valid bool
	}{
		{`{"id":"ID","score":1,"observations":1e6}`, true, true},
		{`{"id":"ID","score":-1,"observations":0}`, true, true},
		{`{"id":"ID","score":1e9,"observations":1}`, true, false},
		{`{"id":"ID","score":-1e9,"observations":1}`, true, false},
		{`{"id":"ID","score":NaN,"observations":1}`, true, false},
		{`{"id":"ID","score":1e999,"observations":1}`, true, false},
		{`{"id":"ID","score":0.5,"observations":-3}`, true, false},
		{`{"id":"spf:someone-else.example","score":1,"observations":1}`, true, false},
		{`{"id":"ID","score":1,"observations":1,"extra":true}`, true, false},
		{`{"id":"ID","score":1`, true, false},
		{`not json`, true, false},
		{`{"id":"ID","score":1,"observations":1}`, false, false},
		{`{"id":"ID","score":"1","observations":1}`, true, false},
	} {
		body, sign = tt.body, tt.sign
		id = fmt.Sprintf("spf:spammer%d.example", i) // nothing cached
		client := reputation.NewClient(peerConfig(t, liar.URL, weight), c.Now)
		as := client.Ask(ctx, []string{id}, 1)[0]
		if len(as) != 1 || (as[0].Err == nil) != tt.valid {
			t.Errorf("%s: answer %+v, want valid %v", tt.body, as, tt.valid)
			continue
		}
		score, _ := reputation.Combine(own, as)
		if math.Abs(score-own) > weight+1e-12 || math.IsNaN(score) {
			t.Errorf("%s: score %v, pushed beyond the peer's weight %v from %v", tt.body, score, weight, own)
		}
		if !tt.valid && score != own {
			t.Errorf("%s: a refused answer moved the score to %v", tt.body, score)
		}
	}
}

// A peer that does not answer in time is skipped, within peer_timeout,
// and left alone for a while: the next message does not wait for it.
func TestSlowPeerSkipped(t *testing.T) {
	c := testclock.New()
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(stop)
	cfg := peerConfig(t, slow.URL, 0.3)
	cfg.PeerTimeout = config.Duration(50 * time.Millisecond)
	client := reputation.NewClient(cfg, c.Now)
	as := client.Ask(ctx, []string{"spf:a.example"}, 5)[0]
	if len(as) != 1 || as[0].Err == nil {
		t.Fatalf("slow peer: %+v", as)
	}
	if again := client.Ask(ctx, []string{"spf:b.example"}, 5)[0]; len(again) != 0 {
		t.Errorf("a peer that just failed was asked again: %+v", again)
	}
	c.Advance(time.Minute)
	if later := client.Ask(ctx, []string{"spf:c.example"}, 5)[0]; len(later) != 1 {
		t.Errorf("the peer was not asked again after its pause: %+v", later)
	}
}
