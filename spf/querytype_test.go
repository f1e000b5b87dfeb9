package spf_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/spf"
)

// Each mechanism asks the DNS question RFC 7208 gives it: a, mx and the
// ptr validation ask for the client's address family only (§5.3, §5.4,
// §5.5), exists asks for A records whatever the client (§5.7). The names
// here answer the right question and never answer the wrong one, as a
// server that does not know a type may do: asking it costs a timeout,
// and a temperror instead of the result.
func TestQueryTypesFollowTheClient(t *testing.T) {
	const v6, v4 = "2001:db8::25", "192.0.2.25"
	srv, err := dnstest.Start(
		`a6.example. TXT "v=spf1 a:host6.example -all"`,
		"host6.example. AAAA "+v6,
		`mx6.example. TXT "v=spf1 mx -all"`,
		"mx6.example. MX 10 mail6.example.",
		"mail6.example. AAAA "+v6,
		`ex.example. TXT "v=spf1 exists:%{ir}.%{v}.list.example -all"`,
		"5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.list.example. A 127.0.0.2",
		"25.2.0.192.in-addr.list.example. A 127.0.0.2",
		`ptr6.example. TXT "v=spf1 ptr -all"`,
		"5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. PTR named6.ptr6.example.",
		"named6.ptr6.example. AAAA "+v6,
		`a4.example. TXT "v=spf1 a:host4.example -all"`,
		"host4.example. A "+v4,
		// The AAAA questions of an IPv6 client find nothing here: three
		// void lookups, one more than §4.6.4 allows.
		`void6.example. TXT "v=spf1 a:only4a.example a:only4b.example a:only4c.example ip6:2001:db8::/32 -all"`,
		"only4a.example. A "+v4, "only4b.example. A "+v4, "only4c.example. A "+v4,
	)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, name := range []string{"host6.example", "mail6.example", "named6.ptr6.example", "host4.example",
		"5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.list.example", "25.2.0.192.in-addr.list.example"} {
		srv.FailUnlisted(name, dnstest.Silent)
	}
	checker := &spf.Checker{Resolver: resolver.New(resolver.Config{
		Servers: []string{srv.Addr}, Timeout: 300 * time.Millisecond, Attempts: 1, CacheSize: 100, MaxTTL: time.Hour,
	})}

	for _, c := range []struct {
		name, ip, domain string
		want             spf.Result
		problem          string
	}{
		{"a, IPv6 client: AAAA only", v6, "a6.example", spf.Pass, ""},
		{"mx, IPv6 client: the MX host's AAAA only", v6, "mx6.example", spf.Pass, ""},
		{"exists, IPv6 client: A only", v6, "ex.example", spf.Pass, ""},
		{"exists, IPv4 client: A", v4, "ex.example", spf.Pass, ""},
		{"ptr, IPv6 client: validated by AAAA", v6, "ptr6.example", spf.Pass, ""},
		{"a, IPv4 client: A only", v4, "a4.example", spf.Pass, ""},
		{"a, IPv4-mapped client: A only", "::ffff:" + v4, "a4.example", spf.Pass, ""},
		{"void AAAA answers count", v6, "void6.example", spf.PermError, "more than 2 void DNS lookups"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := checker.Check(context.Background(), spf.Query{IP: netip.MustParseAddr(c.ip), Helo: "mail." + c.domain, Sender: "alice@" + c.domain})
			if o.Result != c.want || !strings.Contains(o.Problem, c.problem) {
				t.Errorf("%s from %s: %s (%s%s), want %s %q", c.domain, c.ip, o.Result, o.Mechanism, o.Problem, c.want, c.problem)
			}
		})
	}
}

// A client's PTR names are its own network's to publish, and may be slow
// on purpose: the ptr mechanism validates only the names that could
// match, the first that does ends the search, and a check that runs past
// its time limit ends in temperror (RFC 7208 §4.6.4), whatever the terms
// after the slow ones would have said.
func TestSlowPTRNames(t *testing.T) {
	srv, err := dnstest.Start(
		`sender.example. TXT "v=spf1 ptr -all"`,
		`slowsender.example. TXT "v=spf1 ptr:slow.example -all"`,
		"50.2.0.192.in-addr.arpa. PTR slow1.attacker.example.",
		"50.2.0.192.in-addr.arpa. PTR slow2.attacker.example.",
		"50.2.0.192.in-addr.arpa. PTR good.sender.example.",
		"good.sender.example. A 192.0.2.50",
		"51.2.0.192.in-addr.arpa. PTR a.slow.example.",
		"51.2.0.192.in-addr.arpa. PTR b.slow.example.",
		"51.2.0.192.in-addr.arpa. PTR c.slow.example.",
		"51.2.0.192.in-addr.arpa. PTR d.slow.example.",
	)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, n := range []string{"slow1.attacker.example", "slow2.attacker.example", "a.slow.example", "b.slow.example", "c.slow.example", "d.slow.example"} {
		srv.Fail(n, dnstest.Silent)
	}
	res := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 200 * time.Millisecond, Attempts: 1, CacheSize: 100, MaxTTL: time.Hour})

	c := &spf.Checker{Resolver: res}
	o := c.Check(context.Background(), spf.Query{IP: netip.MustParseAddr("192.0.2.50"), Helo: "good.sender.example", Sender: "alice@sender.example"})
	if o.Result != spf.Pass {
		t.Errorf("ptr with a name under the target: %s (%s), want pass", o.Result, o.Problem)
	}
	for _, n := range []string{"slow1.attacker.example", "slow2.attacker.example"} {
		if q := srv.QueriesFor(n); q != 0 {
			t.Errorf("%s, which cannot match, was asked %d times", n, q)
		}
	}

	// Four names that never answer: 0.8 s of lookups, skipped one by one
	// (§5.5), against a limit of 0.3 s.
	c = &spf.Checker{Resolver: res, Timeout: 300 * time.Millisecond}
	o = c.Check(context.Background(), spf.Query{IP: netip.MustParseAddr("192.0.2.51"), Helo: "x.slowsender.example", Sender: "bob@slowsender.example"})
	if o.Result != spf.TempError || !strings.Contains(o.Problem, "took longer than 300ms") {
		t.Errorf("slow PTR names past the time limit: %s (%s), want temperror for the time limit", o.Result, o.Problem)
	}
}
