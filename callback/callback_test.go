package callback

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/internal/smtptest"
)

// newVerifier is a verifier whose DNS has the zone, with MX hosts on
// port of 127.0.0.1 allowed.
func newVerifier(t *testing.T, port int, limit *Limiter, zone ...string) *Verifier {
	dns, err := dnstest.Start(zone...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	res := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: time.Second, Attempts: 1})
	if limit == nil {
		limit = NewLimiter(100, 100)
	}
	return New(Config{Port: port, ConnectTimeout: time.Second, CommandTimeout: 2 * time.Second, AllowPrivateMX: true, MaxHosts: 5}, res, limit)
}

var zone = []string{
	"sender.example. MX 10 mx.sender.example.",
	"mx.sender.example. A 127.0.0.1",
	"nullmx.example. MX 0 .",
	"amx.example. A 127.0.0.1", // no MX: the A record is the mail host
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
		{"null MX", "mx.sender.example", nil, "joe@nullmx.example", 0, false, ErrNoMX, false},
		{"no MX, no A", "mx.sender.example", nil, "joe@nowhere.example", 0, false, ErrNoMX, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.banner)
			if tt.setup != nil {
				tt.setup(srv)
			}
			v := newVerifier(t, srv.Port, nil, zone...)
			o := v.Verify(context.Background(), "mx.example.org", tt.sender, nil, time.Now())
			if o.Code != tt.code || o.Fraud != tt.fraud || !errors.Is(o.Err, tt.err) {
				t.Errorf("outcome %+v; want code %d fraud %v err %v", o, tt.code, tt.fraud, tt.err)
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

func TestVerifyDSN(t *testing.T) {
	srv := smtptest.Start(t, "mx.sender.example")
	v := newVerifier(t, srv.Port, nil, zone...)
	msg := []byte("From: postmaster@mx.example.org\r\nSubject: x\r\n\r\n.leading dot\r\nbye\r\n")
	o := v.Verify(context.Background(), "mx.example.org", "joe@sender.example", msg, time.Now())
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
	o = v.Verify(context.Background(), "mx.example.org", "joe@sender.example", msg, time.Now())
	if o.Code != 250 || o.Sender != "postmaster@mx.example.org" || len(srv2.Messages()) != 1 {
		t.Errorf("outcome %+v, %d messages", o, len(srv2.Messages()))
	}
}

// MX hosts on private addresses are not talked to unless allowed, and
// the rate limits hold.
func TestVerifyLimits(t *testing.T) {
	srv := smtptest.Start(t, "mx.sender.example")
	v := newVerifier(t, srv.Port, NewLimiter(2, 3), zone...)
	v.cfg.AllowPrivateMX = false
	o := v.Verify(context.Background(), "mx.example.org", "joe@sender.example", nil, time.Now())
	if o.Err == nil || !strings.Contains(o.Err.Error(), "private address") || srv.Connections.Load() != 0 {
		t.Errorf("loopback MX: %+v, %d connections", o, srv.Connections.Load())
	}
	v.cfg.AllowPrivateMX = true
	now := time.Now()
	for i, want := range []bool{true, false} { // the first call above counted
		o := v.Verify(context.Background(), "mx.example.org", "joe@sender.example", nil, now)
		if got := !errors.Is(o.Err, ErrRateLimited); got != want {
			t.Errorf("call %d allowed = %v, want %v", i+2, got, want)
		}
	}
	if o := v.Verify(context.Background(), "mx.example.org", "x@amx.example", nil, now); errors.Is(o.Err, ErrRateLimited) {
		t.Error("another domain was limited before the global limit")
	}
	if o := v.Verify(context.Background(), "mx.example.org", "y@amx.example", nil, now); !errors.Is(o.Err, ErrRateLimited) {
		t.Error("the global limit (3) did not hold")
	}
	if o := v.Verify(context.Background(), "mx.example.org", "joe@sender.example", nil, now.Add(time.Hour)); errors.Is(o.Err, ErrRateLimited) {
		t.Error("the limits did not reset after an hour")
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
	if o := v.Verify(context.Background(), "mx.example.org", "joe@sender.example", nil, time.Now()); !o.Fraud {
		t.Errorf("empty banner: %+v, want fraud", o)
	}
}

// An address that would break out of RCPT TO:<…> is never sent to
// anyone's server.
func TestVerifyRefusesAddressesThatInjectCommands(t *testing.T) {
	srv := smtptest.Start(t, "mx.sender.example")
	v := newVerifier(t, srv.Port, nil, zone...)
	for _, sender := range []string{"victim@elsewhere.example>\r\nRSET\r\nMAIL FROM:<joe@sender.example", "joe\nDATA@sender.example", "a b@sender.example", "<joe>@sender.example", "joe\x00@sender.example"} {
		if o := v.Verify(context.Background(), "mx.example.org", sender, nil, time.Now()); o.Err == nil {
			t.Errorf("%q: %+v", sender, o)
		}
	}
	if n := srv.Connections.Load(); n != 0 {
		t.Errorf("%d connections to the sender's MX", n)
	}
}
