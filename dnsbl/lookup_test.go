package dnsbl

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/resolver"
)

func TestReverseIP(t *testing.T) {
	for _, c := range []struct{ ip, want string }{
		{"192.0.2.99", "99.2.0.192"},
		{"::ffff:192.0.2.99", "99.2.0.192"},
		{"127.0.0.2", "2.0.0.127"},
		// RFC 5782 §2.4's example.
		{"2001:db8:1:2:3:4:567:89ab", "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2"},
	} {
		ip := netip.MustParseAddr(c.ip)
		got := ReverseIP(ip)
		if got != c.want {
			t.Errorf("ReverseIP(%s) = %s, want %s", c.ip, got, c.want)
		}
		back, ok := ParseReverse(got)
		if !ok || back != ip.Unmap() {
			t.Errorf("ParseReverse(%s) = %v %v, want %s", got, back, ok, ip.Unmap())
		}
	}
	for _, bad := range []string{"", "1.2.3", "256.0.0.1", "01.0.0.1", "a.b.c.d", "1.2.3.4.5", "-1.0.0.1",
		strings.Repeat("g.", 31) + "g", strings.Repeat("10.", 31) + "1"} {
		if ip, ok := ParseReverse(bad); ok {
			t.Errorf("ParseReverse(%q) = %v, want not an address", bad, ip)
		}
	}
}

// startLists serves the lists of the tests: ip.test lists as RFC 5782
// §5 says, 127.0.0.2 and ::ffff:7f00:2 with a TXT, not 127.0.0.1;
// zen.test answers as Spamhaus ZEN does (several codes, the error code
// of a refused query); bits.test is a bitmask list; dead.test answers
// every name from outside 127/8, as a list whose domain was sold does;
// dbl.test is a domain list.
func startLists(t *testing.T) *dnstest.Server {
	t.Helper()
	srv, err := dnstest.Start(
		"2.0.0.127.ip.test. 60 A 127.0.0.2",
		`2.0.0.127.ip.test. 60 TXT "test entry, see https://ip.test/lookup?2.0.0.127"`,
		reverse(netip.MustParseAddr("::ffff:7f00:2"))+".ip.test. 60 A 127.0.0.2",
		"9.2.0.192.ip.test. 60 A 127.0.0.2",
		"9.2.0.192.zen.test. 60 A 127.0.0.4",
		"9.2.0.192.zen.test. 60 A 127.0.0.10",
		"10.2.0.192.zen.test. 60 A 127.0.0.10",
		"11.2.0.192.zen.test. 60 A 127.255.255.254",
		"9.2.0.192.bits.test. 60 A 127.0.0.8",
		"10.2.0.192.bits.test. 60 A 127.0.0.2",
		"9.2.0.192.dead.test. 60 A 192.0.2.250",
		"spam.example.dbl.test. 60 A 127.0.1.2",
		"test.dbl.test. 60 A 127.0.1.2",
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func checker(t *testing.T, srv *dnstest.Server, lists ...config.DNSBLList) *Checker {
	t.Helper()
	dnsCfg := config.Default().DNS
	dnsCfg.Servers, dnsCfg.Timeout = []string{srv.Addr}, config.Duration(300*time.Millisecond)
	c, err := New(config.DNSBL{Lists: lists}, dnsCfg, resolver.FromConfig(dnsCfg))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientLists(t *testing.T) {
	srv := startLists(t)
	c := checker(t, srv,
		config.DNSBLList{Zone: "ip.test", Type: "ip"},
		// ZEN's SBL (2), XBL (4-7), not the PBL (10, 11).
		config.DNSBLList{Zone: "zen.test", Type: "ip", Codes: []string{"127.0.0.2", "127.0.0.4/30"}, Weight: new(0.5)},
		config.DNSBLList{Zone: "bits.test", Type: "ip", Mask: 8},
		config.DNSBLList{Zone: "dead.test", Type: "ip"},
	)
	type want struct {
		listed  bool
		answer  string
		ignored bool
	}
	for _, tc := range []struct {
		ip   string
		want map[string]want
	}{
		{"127.0.0.2", map[string]want{"ip.test": {listed: true, answer: "127.0.0.2"}}},
		{"::ffff:127.0.0.2", map[string]want{"ip.test": {listed: true, answer: "127.0.0.2"}}},
		{"127.0.0.1", map[string]want{}},
		{"192.0.2.9", map[string]want{"ip.test": {listed: true, answer: "127.0.0.2"}, "zen.test": {listed: true, answer: "127.0.0.4"},
			"bits.test": {listed: true, answer: "127.0.0.8"}, "dead.test": {ignored: true, answer: "192.0.2.250"}}},
		// Listed by the PBL only, which this site does not count.
		{"192.0.2.10", map[string]want{"zen.test": {answer: "127.0.0.10"}, "bits.test": {answer: "127.0.0.2"}}},
		// Spamhaus's "query refused": in 127/8, outside the codes.
		{"192.0.2.11", map[string]want{"zen.test": {answer: "127.255.255.254"}}},
	} {
		rs := c.Client(context.Background(), netip.MustParseAddr(tc.ip))
		if len(rs) != 4 {
			t.Fatalf("%s: %d results, want one per IP list", tc.ip, len(rs))
		}
		for i, r := range rs {
			if r.List != c.Lists[i] {
				t.Errorf("%s: result %d is of %s, not in the lists' order", tc.ip, i, r.List.Zone)
			}
			w := tc.want[r.List.Zone]
			got := want{r.Listed, "", r.Ignored}
			if r.Answer.IsValid() {
				got.answer = r.Answer.String()
			}
			if got != w || r.Err != nil || r.What != "client" {
				t.Errorf("%s on %s: %+v err %v, want %+v", tc.ip, r.List.Zone, got, r.Err, w)
			}
		}
	}
	rs := c.Client(context.Background(), netip.MustParseAddr("127.0.0.2"))
	if rs[0].Reason != "test entry, see https://ip.test/lookup?2.0.0.127" {
		t.Errorf("TXT reason %q", rs[0].Reason)
	}
	if !rs[0].Cached {
		t.Error("the second question about 127.0.0.2 was not answered from the cache")
	}
}

// An IPv6 client is asked by its nibbles (RFC 5782 §2.4), and the
// IPv6 test entry ::FFFF:7F00:2 is listed.
func TestIPv6Client(t *testing.T) {
	srv := startLists(t)
	c := checker(t, srv, config.DNSBLList{Zone: "ip.test", Type: "ip"})
	// ::ffff:7f00:2 as an IPv6 query is the IPv4-mapped 127.0.0.2, which
	// a client of maxwell is asked as IPv4; the nibble name is served
	// for the lists that ask so.
	a, err := c.Lists[0].res.Lookup(context.Background(), reverse(netip.MustParseAddr("::ffff:7f00:2"))+".ip.test", 1)
	if err != nil || len(a.RRs) != 1 {
		t.Fatalf("nibble query: %v %v", a, err)
	}
	rs := c.Client(context.Background(), netip.MustParseAddr("2001:db8::1"))
	if len(rs) != 1 || rs[0].Listed || rs[0].Err != nil {
		t.Errorf("2001:db8::1: %+v", rs)
	}
	if srv.QueriesFor("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip.test") != 1 {
		t.Error("2001:db8::1 was not asked by its nibbles")
	}
}

func TestDomainLists(t *testing.T) {
	srv := startLists(t)
	c := checker(t, srv,
		config.DNSBLList{Zone: "ip.test", Type: "ip"},
		config.DNSBLList{Zone: "dbl.test", Type: "domain", Check: []string{"sender", "helo"}},
	)
	ctx := context.Background()
	if rs := c.Name(ctx, "sender", "Spam.Example."); len(rs) != 1 || !rs[0].Listed || rs[0].Key != "spam.example" || rs[0].Answer.String() != "127.0.1.2" {
		t.Errorf("sender spam.example: %+v", rs)
	}
	if rs := c.Name(ctx, "ptr", "spam.example"); len(rs) != 0 {
		t.Errorf("a list that checks sender and helo was asked about a PTR name: %+v", rs)
	}
	for _, garbage := range []string{"", "[192.0.2.1]", "192.0.2.1", "localhost", "a..b", "x y.example", strings.Repeat("a", 64) + ".example",
		strings.Repeat("abcdefghi.", 25) + "example"} {
		if rs := c.Name(ctx, "helo", garbage); len(rs) != 0 {
			t.Errorf("HELO %q was asked: %+v", garbage, rs)
		}
	}
}

// A list that does not answer is reported as an error of its own; the
// others answer.
func TestListFails(t *testing.T) {
	srv := startLists(t)
	srv.Fail("9.2.0.192.zen.test", dnstest.Silent)
	srv.Fail("9.2.0.192.bits.test", dnstest.ServFail)
	c := checker(t, srv,
		config.DNSBLList{Zone: "ip.test", Type: "ip"},
		config.DNSBLList{Zone: "zen.test", Type: "ip"},
		config.DNSBLList{Zone: "bits.test", Type: "ip"},
	)
	rs := c.Client(context.Background(), netip.MustParseAddr("192.0.2.9"))
	if !rs[0].Listed || rs[1].Err == nil || rs[2].Err == nil || !resolver.IsTemporary(rs[1].Err) {
		t.Errorf("%+v", rs)
	}
	// The lookup budget bounds the lists too.
	ctx := resolver.WithBudget(context.Background(), resolver.NewBudget(1))
	rs = c.Client(ctx, netip.MustParseAddr("192.0.2.10"))
	failed := 0
	for _, r := range rs {
		if r.Err != nil && strings.Contains(r.Err.Error(), "budget") {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("with a budget of one lookup, %d lists failed for the budget, want 2: %+v", failed, rs)
	}
}

func TestProbe(t *testing.T) {
	srv := startLists(t)
	c := checker(t, srv,
		config.DNSBLList{Zone: "ip.test", Type: "ip"},
		config.DNSBLList{Zone: "dbl.test", Type: "domain"},
		config.DNSBLList{Zone: "typo.test", Type: "ip"},
	)
	srv.Add("1.0.0.127.typo.test. 60 A 127.0.0.2") // lists everything, even 127.0.0.1
	for i, wantErr := range []string{"", "", "2.0.0.127.typo.test is not listed"} {
		err := c.Lists[i].Probe(context.Background())
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("%s: %v, want %q", c.Lists[i].Zone, err, wantErr)
		}
	}
	srv.Add("2.0.0.127.typo.test. 60 A 127.0.0.2")
	c = checker(t, srv, config.DNSBLList{Zone: "typo.test", Type: "ip"}) // without the cache's "not listed"
	if err := c.Lists[0].Probe(context.Background()); err == nil || !strings.Contains(err.Error(), "answers every name") {
		t.Errorf("a list listing 127.0.0.1: %v", err)
	}
}
