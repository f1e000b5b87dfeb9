package spf_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/spf"
)

// The cost of an SPF check once its answers are cached (the common case
// for the big senders), against the baseline of one cached DNS lookup.
func benchChecker(b *testing.B) *spf.Checker {
	srv, err := dnstest.Start(
		`big.example. TXT "v=spf1 include:_spf.big.example mx -all"`,
		`_spf.big.example. TXT "v=spf1 ip4:192.0.2.0/25 ip4:198.51.100.0/24 ip6:2001:db8::/32 -all"`,
		"big.example. MX 10 mx.big.example.",
		"mx.big.example. A 192.0.2.200",
	)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	return &spf.Checker{Resolver: resolver.New(resolver.Config{
		Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1, CacheSize: 100, MaxTTL: time.Hour,
	})}
}

func BenchmarkLookupCached(b *testing.B) {
	c := benchChecker(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Resolver.Lookup(ctx, "big.example", dns.TypeTXT); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckCached(b *testing.B) {
	c := benchChecker(b)
	q := spf.Query{IP: netip.MustParseAddr("198.51.100.7"), Helo: "mail.big.example", Sender: "alice@big.example"}
	for b.Loop() {
		if o := c.Check(context.Background(), q); o.Result != spf.Pass {
			b.Fatal(o)
		}
	}
}
