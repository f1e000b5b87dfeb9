package spf

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/resolver"
)

// FuzzParseAccessMap feeds the access-map parser arbitrary files: an
// error names the file and line, and nothing panics.
func FuzzParseAccessMap(f *testing.F) {
	f.Add("SPF-Fail:example.com\tREJECT\nSPF-Neutral:\tCBV\n# comment\nConnect:192.0.2.1 OK\n")
	f.Add("SPF-Softfail:sender.example DSN\nSPF-None:@example.com REJECT\n")
	f.Add("SPF-Pass:x\n\n\x00\xff")
	f.Fuzz(func(t *testing.T, src string) {
		if _, err := ParseAccessMap("access", strings.NewReader(src)); err != nil && !strings.HasPrefix(err.Error(), "access") {
			t.Errorf("error does not name the file: %v", err)
		}
	})
}

// FuzzEvaluate evaluates arbitrary records, as a hostile domain could
// publish them, for IPv4 and IPv6 clients and senders with arbitrary
// local parts. Every outcome is an SPF result; a permerror and a
// temperror say what went wrong; nothing panics, and nothing of the
// record reaches the mechanism or the problem as a raw control byte.
func FuzzEvaluate(f *testing.F) {
	srv, err := dnstest.Start(
		"host.example. A 192.0.2.1", "host.example. AAAA 2001:db8::1",
		"example. MX 10 host.example.",
		`inc.example. TXT "v=spf1 a:host.example ~all"`,
	)
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	c := &Checker{Resolver: resolver.New(resolver.Config{
		Servers: []string{srv.Addr}, Timeout: 100 * time.Millisecond, Attempts: 1, CacheSize: 1000, MaxTTL: time.Hour,
	})}
	for _, r := range []string{
		"v=spf1 a mx ptr -all", "v=spf1 include:inc.example redirect=inc.example",
		"v=spf1 exists:%{ir}.%{v}.%{l1r-}.%{p}.%{d2}.example a:%{H}.example//64 -all",
		"v=spf1 a:foo:bar/baz.example/24//64 mx:%{o}/0 ?all", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 exp=%{c}",
	} {
		f.Add(r, "a..b", false)
	}
	f.Fuzz(func(t *testing.T, record, local string, v6 bool) {
		ip := netip.MustParseAddr("192.0.2.1")
		if v6 {
			ip = netip.MustParseAddr("2001:db8::1")
		}
		o := c.Check(context.Background(), Query{IP: ip, Helo: "host.example", Sender: local + "@example", Record: record})
		switch o.Result {
		case Pass, Fail, SoftFail, Neutral, None:
		case PermError, TempError:
			if o.Problem == "" {
				t.Errorf("%s without a problem for %q", o.Result, record)
			}
		default:
			t.Fatalf("result %q for %q", o.Result, record)
		}
		if strings.ContainsAny(o.Mechanism+o.Problem, "\r\n\x00") {
			t.Errorf("control byte in %q / %q", o.Mechanism, o.Problem)
		}
	})
}
