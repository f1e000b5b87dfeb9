package resolver

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/testclock"
)

func newTest(t *testing.T, records ...string) (*Resolver, *dnstest.Server) {
	t.Helper()
	srv, err := dnstest.Start(records...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return New(Config{Servers: []string{srv.Addr}, Timeout: 200 * time.Millisecond, Attempts: 2, CacheSize: 100, MaxTTL: time.Hour}), srv
}

func TestPTRAndAddrs(t *testing.T) {
	r, _ := newTest(t,
		"7.100.51.198.in-addr.arpa. 300 PTR mail.example.net.",
		"mail.example.net. 300 A 198.51.100.7",
		"mail.example.net. 300 AAAA 2001:db8::7",
		"alias.example.net. 300 CNAME mail.example.net.",
	)
	ctx := context.Background()
	names, err := r.PTR(ctx, netip.MustParseAddr("198.51.100.7"))
	if err != nil || !slices.Equal(names, []string{"mail.example.net"}) {
		t.Fatalf("PTR = %v, %v", names, err)
	}
	addrs, err := r.Addrs(ctx, "alias.example.net")
	want := []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8::7")}
	if err != nil || !slices.Equal(addrs, want) {
		t.Fatalf("Addrs via CNAME = %v, %v; want %v", addrs, err, want)
	}
	none, err := r.PTR(ctx, netip.MustParseAddr("198.51.100.8"))
	if err != nil || len(none) != 0 {
		t.Fatalf("missing PTR = %v, %v; want none, no error", none, err)
	}
}

func TestTemporaryFailures(t *testing.T) {
	tests := []struct {
		name string
		fail dnstest.Failure
	}{
		{"servfail", dnstest.ServFail},
		{"silent server", dnstest.Silent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, srv := newTest(t)
			srv.Fail("broken.example", tt.fail)
			_, err := r.Lookup(context.Background(), "broken.example", dns.TypeA)
			if !IsTemporary(err) {
				t.Fatalf("err = %v, want a TempError", err)
			}
			if got := srv.Queries(); got != 2 {
				t.Errorf("server saw %d queries, want 2 (attempts)", got)
			}
		})
	}
	t.Run("CNAME loop", func(t *testing.T) {
		r, _ := newTest(t, "a.example. CNAME b.example.", "b.example. CNAME a.example.")
		if _, err := r.Lookup(context.Background(), "a.example", dns.TypeA); !IsTemporary(err) {
			t.Fatalf("err = %v, want a TempError", err)
		}
	})
	t.Run("no server listening", func(t *testing.T) {
		r := New(Config{Servers: []string{"127.0.0.1:1"}, Timeout: 200 * time.Millisecond, Attempts: 1})
		if _, err := r.Lookup(context.Background(), "x.example", dns.TypeA); !IsTemporary(err) {
			t.Fatalf("err = %v, want a TempError", err)
		}
	})
}

func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	r, srv := newTest(t, "big.example. 300 TXT \"v=spf1 -all\"")
	srv.Fail("big.example", dnstest.Truncate)
	a, err := r.Lookup(context.Background(), "big.example", dns.TypeTXT)
	if err != nil || len(a.RRs) != 1 {
		t.Fatalf("got %v, %v; want the TXT record over TCP", a, err)
	}
}

func TestCache(t *testing.T) {
	r, srv := newTest(t, "a.example. 300 A 192.0.2.1", "zero.example. 0 A 192.0.2.2")
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := r.Lookup(ctx, "A.example.", dns.TypeA); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Lookup(ctx, "nx.example", dns.TypeA); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Lookup(ctx, "zero.example", dns.TypeA); err != nil {
			t.Fatal(err)
		}
	}
	// a and nx once each (names are case-insensitive, NXDOMAIN is cached);
	// zero three times (TTL 0 is not cached).
	if got := srv.Queries(); got != 5 {
		t.Errorf("server saw %d queries, want 5", got)
	}

	// Expiry follows the TTL.
	now := time.Now() // wall clock: the resolver stamped its entries by it
	r.cache.now = func() time.Time { return now.Add(301 * time.Second) }
	if _, ok := r.cache.get(cacheKey{"a.example.", dns.TypeA}); ok {
		t.Error("entry outlived its TTL")
	}
}

func TestCacheBound(t *testing.T) {
	c := newCache(2)
	for i, name := range []string{"a", "b", "c"} {
		c.put(cacheKey{name, dns.TypeA}, &Answer{}, time.Duration(i+1)*time.Minute)
	}
	if c.len() != 2 {
		t.Errorf("cache holds %d entries, bound is 2", c.len())
	}
	if _, ok := c.get(cacheKey{"a", dns.TypeA}); ok {
		t.Error("the least recently used entry was kept")
	}
}

func TestBudget(t *testing.T) {
	r, srv := newTest(t, "a.example. 300 A 192.0.2.1")
	ctx := WithBudget(context.Background(), NewBudget(2))
	for _, name := range []string{"a.example", "a.example", "b.example"} {
		if _, err := r.Lookup(ctx, name, dns.TypeA); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	_, err := r.Lookup(ctx, "c.example", dns.TypeA)
	if !IsTemporary(err) {
		t.Fatalf("third query to the network: err = %v, want the budget to stop it", err)
	}
	if got := srv.Queries(); got != 2 {
		t.Errorf("server saw %d queries, want 2", got)
	}
}

// A CNAME chain is followed by owner name, whatever order the server
// lists the records in (issue 18: a target before its CNAME gave none).
func TestAnswerFollowsCNAMEByOwner(t *testing.T) {
	tests := []struct {
		name    string
		records []string // the answer section, in the order sent
		want    int      // A records kept
	}{
		{"chain in order", []string{"a.example. CNAME b.example.", "b.example. A 192.0.2.1"}, 1},
		{"target first", []string{"b.example. A 192.0.2.1", "a.example. CNAME b.example."}, 1},
		{"two hops reversed", []string{"c.example. A 192.0.2.1", "b.example. CNAME c.example.", "a.example. CNAME b.example."}, 1},
		{"two hops shuffled", []string{"b.example. CNAME C.example.", "c.example. A 192.0.2.1", "c.example. A 192.0.2.2", "A.example. CNAME b.example."}, 2},
		{"a record of a name off the chain", []string{"a.example. CNAME b.example.", "x.example. A 192.0.2.9"}, 0},
		{"a loop", []string{"b.example. CNAME a.example.", "a.example. CNAME b.example."}, 0},
		{"the name's own record", []string{"a.example. A 192.0.2.1"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := new(dns.Msg)
			for _, s := range tt.records {
				rr, err := dns.NewRR(s)
				if err != nil {
					t.Fatal(err)
				}
				resp.Answer = append(resp.Answer, rr)
			}
			if got := answerOf(resp, "a.example.", dns.TypeA); len(got.RRs) != tt.want {
				t.Errorf("kept %v; want %d A records", got.RRs, tt.want)
			}
		})
	}
}

func TestCounts(t *testing.T) {
	r, srv := newTest(t, "a.example. 300 A 192.0.2.1")
	srv.Fail("broken.example", dnstest.ServFail)
	now := testclock.Epoch()
	c := NewCounts(func() time.Time { return now })
	r.Count(c)
	ctx := context.Background()
	r.Lookup(ctx, "a.example", dns.TypeA)      // sent
	r.Lookup(ctx, "a.example", dns.TypeA)      // from the cache
	r.Cached("a.example", dns.TypeA)           // from the cache
	r.Cached("b.example", dns.TypeA)           // not there: nothing asked
	r.Lookup(ctx, "broken.example", dns.TypeA) // sent, failed (on each attempt: one lookup)
	if got, want := c.Last(1), (Tally{Queries: 2, Errors: 1, Hits: 2}); got != want {
		t.Errorf("this minute: %+v, want %+v", got, want)
	}
	now = now.Add(2 * time.Minute)
	r.Cached("a.example", dns.TypeA)
	for _, tc := range []struct {
		minutes int
		want    Tally
	}{{1, Tally{Hits: 1}}, {2, Tally{Hits: 1}}, {3, Tally{Queries: 2, Errors: 1, Hits: 3}}, {1000, Tally{Queries: 2, Errors: 1, Hits: 3}}} {
		if got := c.Last(tc.minutes); got != tc.want {
			t.Errorf("last %d minutes: %+v, want %+v", tc.minutes, got, tc.want)
		}
	}
	// An hour on, the old minutes are forgotten, even where their slots
	// were not used again.
	now = now.Add(time.Hour)
	if got := c.Last(60); got != (Tally{}) {
		t.Errorf("an hour on: %+v", got)
	}
}
