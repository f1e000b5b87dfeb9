package callback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/internal/smtptest"
	"github.com/maxwell-milter/maxwell/internal/testclock"
)

// newVerifier is a verifier whose DNS has the zone, with MX hosts on
// port of 127.0.0.1 allowed.
func newVerifier(t *testing.T, port int, limit *Limiter, zone ...string) *Verifier {
	v, _ := newVerifierDNS(t, port, limit, zone...)
	return v
}

// newVerifierDNS is newVerifier and its DNS server.
func newVerifierDNS(t *testing.T, port int, limit *Limiter, zone ...string) (*Verifier, *dnstest.Server) {
	dns, err := dnstest.Start(zone...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	res := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: time.Second, Attempts: 1})
	if limit == nil {
		limit = NewLimiter(100, 100)
	}
	return New(Config{Port: port, ConnectTimeout: time.Second, CommandTimeout: 2 * time.Second, AllowPrivateMX: true, MaxHosts: 5}, res, limit), dns
}

var zone = []string{
	"sender.example. MX 10 mx.sender.example.",
	"mx.sender.example. A 127.0.0.1",
	"nullmx.example. MX 0 .",
	"amx.example. A 127.0.0.1", // no MX: the A record is the mail host
	// A "." among real hosts is no null MX: the real hosts are tried.
	"halfnull.example. MX 0 .",
	"halfnull.example. MX 10 mx.sender.example.",
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name    string
		banner  string
		setup   func(*smtptest.Server)
		sender  string
		code    int
		fraud   bool
		err     error
		greeted bool // the conversation went past the banner
	}{
		{"accepted", "mx.sender.example", nil, "joe@sender.example", 250, false, nil, true},
		{"user unknown", "mx.sender.example", func(s *smtptest.Server) { s.RcptReply = smtptest.Reply(550, "user unknown") },
			"joe@sender.example", 550, false, nil, true},
		{"try later", "mx.sender.example", func(s *smtptest.Server) { s.RcptReply = smtptest.Reply(451, "busy") },
			"joe@sender.example", 451, false, nil, true},
		{"banner names us", "mx.example.org", nil, "joe@sender.example", 220, true, nil, false},
		{"no MX: the A record", "amx.example", nil, "joe@amx.example", 250, false, nil, true},
		{"null MX", "mx.sender.example", nil, "joe@nullmx.example", 0, false, ErrNullMX, false},
		{"no MX, no A", "mx.sender.example", nil, "joe@nowhere.example", 0, false, ErrNoMX, false},
		{"a null MX among hosts", "mx.sender.example", nil, "joe@halfnull.example", 0, false, ErrNoMX, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.banner)
			if tt.setup != nil {
				tt.setup(srv)
			}
			v := newVerifier(t, srv.Port, nil, zone...)
			o := v.Verify(context.Background(), "mx.example.org", tt.sender, nil, testclock.Epoch())
			if o.Code != tt.code || o.Fraud != tt.fraud || !errors.Is(o.Err, tt.err) {
				t.Errorf("outcome %+v; want code %d fraud %v err %v", o, tt.code, tt.fraud, tt.err)
			}
			if errors.Is(o.Err, ErrNullMX) && tt.err != ErrNullMX {
				t.Errorf("outcome %+v is a null MX", o)
			}
			if got := srv.Connections.Load() > 0; got != tt.greeted {
				t.Errorf("greeted = %v, want %v", got, tt.greeted)
			}
			if tt.code == 250 && len(srv.Messages()) != 0 {
				t.Error("a CBV must not send DATA")
			}
		})
	}
}

// NullMX tells a null MX (RFC 7505: one MX record, ".") from a domain
// without MX records, one that does not exist, and a "." among hosts.
func TestNullMX(t *testing.T) {
	v, dns := newVerifierDNS(t, 25, nil, zone...)
	dns.Fail("flaky.example", dnstest.ServFail)
	for _, tt := range []struct {
		domain string
		null   bool
		err    bool
	}{
		{"nullmx.example", true, false},
		{"NullMX.Example.", true, false},
		{"sender.example", false, false},
		{"amx.example", false, false},
		{"nowhere.example", false, false},
		{"halfnull.example", false, false},
		{"flaky.example", false, true},
	} {
		null, err := v.NullMX(context.Background(), tt.domain)
		if null != tt.null || (err != nil) != tt.err {
			t.Errorf("NullMX(%s) = %v, %v; want %v, error %v", tt.domain, null, err, tt.null, tt.err)
		}
	}
}

func TestVerifyDSN(t *testing.T) {
	srv := smtptest.Start(t, "mx.sender.example")
	v := newVerifier(t, srv.Port, nil, zone...)
	msg := []byte("From: postmaster@mx.example.org\r\nSubject: x\r\n\r\n.leading dot\r\nbye\r\n")
	o := v.Verify(context.Background(), "mx.example.org", "joe@sender.example", msg, testclock.Epoch())
	if o.Code != 250 || o.Sender != "" {
		t.Fatalf("outcome %+v", o)
	}
	got := srv.Messages()
	if len(got) != 1 || !strings.Contains(string(got[0]), "\r\n.leading dot\r\n") || strings.Join(srv.Froms(), ",") != "" {
		t.Errorf("delivered %q from %q", got, srv.Froms())
	}

	// The null sender refused: again from postmaster@
	srv2 := smtptest.Start(t, "mx.sender.example")
	srv2.RefuseNullFrom = true
	v = newVerifier(t, srv2.Port, nil, zone...)
	o = v.Verify(context.Background(), "mx.example.org", "joe@sender.example", msg, testclock.Epoch())
	if o.Code != 250 || o.Sender != "postmaster@mx.example.org" || len(srv2.Messages()) != 1 {
		t.Errorf("outcome %+v, %d messages", o, len(srv2.Messages()))
	}
}

// MX hosts on loopback are not talked to unless allowed, and the limit
// per domain holds.
func TestVerifyLimits(t *testing.T) {
	srv := smtptest.Start(t, "mx.sender.example")
	v := newVerifier(t, srv.Port, NewLimiter(2, 3), zone...)
	v.cfg.AllowPrivateMX = false
	o := v.Verify(context.Background(), "mx.example.org", "joe@sender.example", nil, testclock.Epoch())
	if !errors.Is(o.Err, ErrNonPublicMX) || !strings.Contains(o.Err.Error(), "127.0.0.1 (Loopback)") || srv.Connections.Load() != 0 {
		t.Errorf("loopback MX: %+v, %d connections", o, srv.Connections.Load())
	}
	v.cfg.AllowPrivateMX = true
	now := testclock.Epoch()
	for i, want := range []bool{true, false} { // the first call above counted
		o := v.Verify(context.Background(), "mx.example.org", "joe@sender.example", nil, now)
		if got := !errors.Is(o.Err, ErrRateLimited); got != want {
			t.Errorf("call %d allowed = %v, want %v (%v)", i+2, got, want, o.Err)
		}
	}
	if o := v.Verify(context.Background(), "mx.example.org", "joe@sender.example", nil, now.Add(time.Hour)); errors.Is(o.Err, ErrRateLimited) {
		t.Error("the limits did not reset after an hour")
	}
}

// The limits per domain, per MX address (an IPv6 /64 counting as one)
// and in all, each on its own, and a new hour clears them.
func TestLimiter(t *testing.T) {
	now := testclock.Epoch()
	l := NewLimiter(2, 5)
	allow := func(domain string) error { return l.Allow(domain, now) }
	host := func(a string) error { return l.AllowHost(netip.MustParseAddr(a), now) }
	steps := []struct {
		call    func(string) error
		arg     string
		limited string // the error's text when the limit holds, "" when allowed
	}{
		{allow, "a.example", ""},
		{allow, "A.example", ""},
		{allow, "a.example", "too many call-backs: 2 an hour to a.example"},
		{allow, "b.example", ""},
		{allow, "c.example", ""},
		{allow, "d.example", ""},
		{allow, "e.example", "too many call-backs: 5 an hour in all"},
		{host, "192.0.2.1", ""},
		{host, "::ffff:192.0.2.1", ""},
		{host, "192.0.2.1", "too many call-backs: 2 an hour to mail server 192.0.2.1"},
		{host, "192.0.2.2", ""},
		{host, "2001:db8::1", ""},
		{host, "2001:db8::ffff:2", ""},
		{host, "2001:db8::3", "too many call-backs: 2 an hour to mail servers in 2001:db8::/64"},
		{host, "2001:db8:0:1::1", ""},
	}
	for i, s := range steps {
		err := s.call(s.arg)
		if got := fmt.Sprint(err); s.limited == "" && err != nil || s.limited != "" && (got != s.limited || !errors.Is(err, ErrRateLimited)) {
			t.Errorf("step %d (%s): %v, want %q", i, s.arg, err, s.limited)
		}
	}
	now = now.Add(time.Hour)
	if err := allow("a.example"); err != nil {
		t.Errorf("a new hour: %v", err)
	}
	if err := host("192.0.2.1"); err != nil {
		t.Errorf("a new hour: %v", err)
	}
}

// A server that greets with an empty banner is taken for a fraud too.
func TestVerifyEmptyBanner(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("220 \r\n"))
			time.Sleep(100 * time.Millisecond)
			c.Close()
		}
	}()
	v := newVerifier(t, ln.Addr().(*net.TCPAddr).Port, nil, zone...)
	if o := v.Verify(context.Background(), "mx.example.org", "joe@sender.example", nil, testclock.Epoch()); !o.Fraud {
		t.Errorf("empty banner: %+v, want fraud", o)
	}
}

// An address that would break out of RCPT TO:<…> is never sent to
// anyone's server.
func TestVerifyRefusesAddressesThatInjectCommands(t *testing.T) {
	srv := smtptest.Start(t, "mx.sender.example")
	v := newVerifier(t, srv.Port, nil, zone...)
	for _, sender := range []string{"victim@elsewhere.example>\r\nRSET\r\nMAIL FROM:<joe@sender.example", "joe\nDATA@sender.example", "a b@sender.example", "<joe>@sender.example", "joe\x00@sender.example"} {
		if o := v.Verify(context.Background(), "mx.example.org", sender, nil, testclock.Epoch()); o.Err == nil {
			t.Errorf("%q: %+v", sender, o)
		}
	}
	if n := srv.Connections.Load(); n != 0 {
		t.Errorf("%d connections to the sender's MX", n)
	}
}

// recordDials makes v dial nothing: it keeps the addresses v would have
// connected to and answers as a refused connection would, so that a test
// can name MX hosts off the loopback without a packet going to them.
func recordDials(v *Verifier) *[]netip.AddrPort {
	var dialed []netip.AddrPort
	v.dial = func(_ context.Context, addr netip.AddrPort) (net.Conn, error) {
		dialed = append(dialed, addr)
		return nil, errors.New("connection refused (not dialed: test)")
	}
	return &dialed
}

// mxZone gives each address its own domain, dN.example, whose one MX
// host, mxN.example, has that address.
func mxZone(addrs []string) []string {
	var zone []string
	for i, a := range addrs {
		rr := "A"
		if strings.Contains(a, ":") {
			rr = "AAAA"
		}
		zone = append(zone, fmt.Sprintf("d%d.example. MX 10 mx%d.example.", i, i), fmt.Sprintf("mx%d.example. %s %s", i, rr, a))
	}
	return zone
}

// Without allow_private_mx, no MX address that IANA's special-purpose
// registries (or the IPv6 address space registry) say is not globally
// reachable is dialed — nor one that only wraps such an IPv4 address
// (NAT64, 6to4, IPv4-mapped) — and the address dialed is the one
// checked. Globally reachable addresses, special or not, are dialed.
func TestVerifyNeverDialsSpecialPurposeMX(t *testing.T) {
	refused := []string{
		"0.0.0.1", "10.1.2.3", "100.64.0.1", "100.127.255.254", "127.0.0.2", "169.254.169.254",
		"172.16.0.1", "172.31.255.255", "192.0.0.1", "192.0.0.8", "192.0.0.170", "192.0.2.1",
		"192.88.99.1", "192.168.1.1", "198.18.0.1", "198.19.255.255", "198.51.100.1", "203.0.113.1",
		"224.0.0.1", "239.255.255.255", "240.0.0.1", "255.255.255.255",
		"::", "::1", "::ffff:10.0.0.1", "::127.0.0.1", "::ffff:0:7f00:1",
		"64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b::6440:1", "64:ff9b:1::1",
		"100::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:2::1", "2001:10::1", "2001:1ff::1",
		"2001:db8::1", "2002:7f00:1::1", "2002:c0a8:101::1", "2002:6440:1::1", "3fff::1", "3fff:fff::1", "5f00::1",
		"fc00::1", "fd12:3456::1", "fe80::1", "fec0::1", "feff::1", "ff02::1", "4000::1", "1::1",
	}
	allowed := []string{
		"93.184.216.34", "100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1", "198.17.255.255",
		"198.20.0.1", "223.255.255.255", "192.0.0.9", "192.0.0.10", "192.31.196.1", "192.52.193.1", "192.175.48.1",
		"::ffff:93.184.216.34", "64:ff9b::5db8:d822", "2002:5db8:d822::1",
		"2001:1::1", "2001:1::3", "2001:3::1", "2001:4:112::1", "2001:20::1", "2001:30::1", "2001:200::1",
		"2620:4f:8000::1", "2a00:1450:4001::1", "3000::1", "3fff:1000::1",
	}
	v := newVerifier(t, 25, NewLimiter(1000, 1000), mxZone(append(refused, allowed...))...)
	v.cfg.AllowPrivateMX = false
	dialed := recordDials(v)
	now := testclock.Epoch()
	for i, a := range refused {
		o := v.Verify(context.Background(), "mx.example.org", fmt.Sprintf("joe@d%d.example", i), nil, now)
		if len(*dialed) != 0 {
			t.Errorf("MX at %s: dialed %v", a, *dialed)
			*dialed = nil
		}
		if !errors.Is(o.Err, ErrNonPublicMX) || !strings.Contains(o.Err.Error(), fmt.Sprintf("mx%d.example", i)) {
			t.Errorf("MX at %s: %+v, want %v naming the host", a, o, ErrNonPublicMX)
		}
	}
	for j, a := range allowed {
		i := len(refused) + j
		v.Verify(context.Background(), "mx.example.org", fmt.Sprintf("joe@d%d.example", i), nil, now)
		want := netip.AddrPortFrom(netip.MustParseAddr(a).Unmap(), 25)
		if len(*dialed) != 1 || (*dialed)[0] != want {
			t.Errorf("MX at %s: dialed %v, want %v", a, *dialed, want)
		}
		*dialed = nil
	}
}

// Subdomains sharing one MX host do not multiply the per-domain limit:
// it holds per MX address as well (the review: 30 domains, one MX, 19
// call-backs with domain_rate = 5).
func TestVerifyLimitsCallbacksPerMXAddress(t *testing.T) {
	srv := smtptest.Start(t, "mx.shared.example")
	zone := []string{"mx.shared.example. A 127.0.0.1"}
	for i := range 30 {
		zone = append(zone, fmt.Sprintf("d%d.shared.example. MX 10 mx.shared.example.", i))
	}
	v := newVerifier(t, srv.Port, NewLimiter(5, 600), zone...)
	now := testclock.Epoch()
	limited := 0
	for i := range 30 {
		o := v.Verify(context.Background(), "mx.example.org", fmt.Sprintf("joe@d%d.shared.example", i), nil, now)
		if errors.Is(o.Err, ErrRateLimited) {
			limited++
		}
	}
	if n := srv.Connections.Load(); n != 5 || limited != 25 {
		t.Errorf("%d call-backs reached the shared MX and %d were limited; want 5 and 25", n, limited)
	}
}

// A domain's other mail servers are still tried past one at a private
// address; and "not reachable from the Internet" is said only when every
// address is known to be so.
func TestVerifyPrivateMXAmongOthers(t *testing.T) {
	v, dns := newVerifierDNS(t, 25, nil,
		"mixed.example. MX 10 mx1.mixed.example.", "mixed.example. MX 20 mx2.mixed.example.",
		"mx1.mixed.example. A 10.0.0.1", "mx2.mixed.example. A 93.184.216.34",
		"broken.example. MX 10 mx1.mixed.example.", "broken.example. MX 20 mx.broken.example.",
	)
	v.cfg.AllowPrivateMX = false
	dialed := recordDials(v)
	o := v.Verify(context.Background(), "mx.example.org", "joe@mixed.example", nil, testclock.Epoch())
	if want := netip.MustParseAddrPort("93.184.216.34:25"); len(*dialed) != 1 || (*dialed)[0] != want || o.Host != "mx2.mixed.example" {
		t.Errorf("dialed %v (outcome %+v), want %v only", *dialed, o, want)
	}
	*dialed = nil
	dns.Fail("mx.broken.example", dnstest.ServFail)
	o = v.Verify(context.Background(), "mx.example.org", "joe@broken.example", nil, testclock.Epoch())
	var temp *resolver.TempError
	if len(*dialed) != 0 || !errors.As(o.Err, &temp) {
		t.Errorf("one MX private, the other's addresses unknown: dialed %v, %+v; want the DNS failure", *dialed, o)
	}
}
