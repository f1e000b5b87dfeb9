package dnsbl

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/maxwell-milter/maxwell/store"
)

// The server answers RFC 5782 queries for the bans in the store: new
// bans once it has read the store again, an authoritative NXDOMAIN with
// the zone's SOA for the rest of the zone, REFUSED outside it, over UDP
// and TCP.
func TestServer(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "maxwell.db"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	if err := st.Ban(ctx, store.Ban{Kind: store.BanClient, Key: "192.0.2.7", Reason: "rat", Created: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var counted atomic.Int64
	srv := &Server{Zone: "rats.example", TTL: 5 * time.Minute, Refresh: 50 * time.Millisecond, Store: st, Now: time.Now,
		Count: func(string) { counted.Add(1) }}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	ask := func(net, name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), qtype)
		r, _, err := (&dns.Client{Net: net, Timeout: 2 * time.Second}).Exchange(m, srv.Addr())
		if err != nil {
			t.Fatalf("%s %s: %v", net, name, err)
		}
		return r
	}
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
		ans   int // answer records
		soa   bool
	}{
		{"7.2.0.192.rats.example", dns.TypeA, dns.RcodeSuccess, 1, false},
		{"7.2.0.192.RATS.example.", dns.TypeTXT, dns.RcodeSuccess, 1, false},
		{"7.2.0.192.rats.example", dns.TypeANY, dns.RcodeSuccess, 2, false},
		{"7.2.0.192.rats.example", dns.TypeMX, dns.RcodeSuccess, 0, true}, // the name exists, not with that type
		{"2.0.0.127.rats.example", dns.TypeA, dns.RcodeSuccess, 1, false},
		{"1.0.0.127.rats.example", dns.TypeA, dns.RcodeNameError, 0, true},
		{"07.2.0.192.rats.example", dns.TypeA, dns.RcodeNameError, 0, true},
		{"x.7.2.0.192.rats.example", dns.TypeA, dns.RcodeNameError, 0, true},
		{"rats.example", dns.TypeSOA, dns.RcodeSuccess, 1, false},
		{"rats.example", dns.TypeA, dns.RcodeSuccess, 0, true},
		{"7.2.0.192.other.example", dns.TypeA, dns.RcodeRefused, 0, false},
		{"xrats.example", dns.TypeA, dns.RcodeRefused, 0, false},
	} {
		for _, net := range []string{"udp", "tcp"} {
			r := ask(net, tc.name, tc.qtype)
			hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA && r.Ns[0].(*dns.SOA).Minttl == 300
			if r.Rcode != tc.rcode || len(r.Answer) != tc.ans || hasSOA != tc.soa {
				t.Errorf("%s %s %s: %s", net, tc.name, dns.TypeToString[tc.qtype], r)
			}
		}
	}
	if got := counted.Load(); got != 24 {
		t.Errorf("%d queries counted, want 24", got)
	}

	// A ban made now is served after the next refresh; a lifted one is
	// gone.
	if err := st.Ban(ctx, store.Ban{Kind: store.BanIP, Key: "2001:db8::25", Reason: "demerits", Created: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	st.Unban(ctx, store.BanClient, "192.0.2.7")
	v6 := ReverseIP(netip.MustParseAddr("2001:db8::25")) + ".rats.example"
	deadline := time.Now().Add(5 * time.Second)
	for ask("udp", v6, dns.TypeA).Rcode != dns.RcodeSuccess {
		if time.Now().After(deadline) {
			t.Fatal("a new ban is not served after several refreshes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := ask("udp", "7.2.0.192.rats.example", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("a lifted ban is still served: %s", r)
	}
}
