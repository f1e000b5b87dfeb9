// Package callback makes call-back verifications: it asks the mail
// servers of a sender's domain whether they would take a delivery status
// notification for the sender (MAIL FROM:<>, RCPT TO:<sender>), and, for
// an explanatory DSN, delivers one. It is bms.py's CBV and DSN policy.
package callback

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/resolver"
)

// Config is how call-backs are made.
type Config struct {
	Port           int           // the SMTP port of the sender's MX hosts (25)
	ConnectTimeout time.Duration // per MX host
	CommandTimeout time.Duration // per SMTP command
	AllowPrivateMX bool          // talk to MX hosts at addresses that are not globally reachable (registry)
	MaxHosts       int           // MX addresses tried at most
}

// Verifier makes call-backs.
type Verifier struct {
	cfg   Config
	res   *resolver.Resolver
	limit *Limiter
	// dial opens the connection to an MX address. Tests that must see
	// which addresses would be dialed, without sending a packet to an
	// address off the loopback, replace it.
	dial func(ctx context.Context, addr netip.AddrPort) (net.Conn, error)
}

// New returns a verifier resolving through res, within limit.
func New(cfg Config, res *resolver.Resolver, limit *Limiter) *Verifier {
	d := &net.Dialer{Timeout: cfg.ConnectTimeout}
	dial := func(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", addr.String()) // an address literal: no name is resolved again
	}
	return &Verifier{cfg: cfg, res: res, limit: limit, dial: dial}
}

// Outcome is what the sender's mail server said.
type Outcome struct {
	Code int    // its answer to RCPT TO (or to the DSN's end of data); 0 if none answered
	Text string // that answer's text, one line
	Host string // the MX host that answered
	// Fraud: the MX host greeted with our own name, or with nothing: a
	// domain pointing its MX at us, or a trap.
	Fraud bool
	// Sender is the MAIL FROM the answer was given to: "" (null sender)
	// or postmaster@Hostname when the null sender was refused.
	Sender string
	Err    error // why no server answered (no MX, timeouts, refused connections)
}

// Permanent reports whether the server refused for good (5xx).
func (o Outcome) Permanent() bool { return o.Code >= 500 }

// Accepted reports whether the server took the address (2xx).
func (o Outcome) Accepted() bool { return o.Code >= 200 && o.Code < 300 }

// ErrNoMX is the outcome for a domain with no mail server to try.
var ErrNoMX = errors.New("no MX servers available")

// ErrNullMX is the outcome for a domain that publishes a null MX (RFC
// 7505: one MX record, "0 ."): it says it takes no mail at all. It is
// also an ErrNoMX.
var ErrNullMX = fmt.Errorf("%w: the domain publishes a null MX", ErrNoMX)

// ErrNonPublicMX is the outcome when every address of the domain's mail
// servers is one the Internet cannot reach (loopback, private, shared,
// documentation, …: see registry) and AllowPrivateMX is off: no
// connection was made.
var ErrNonPublicMX = errors.New("the mail servers are not reachable from the Internet")

// ErrBadSender is the outcome for an address that cannot be asked about:
// no connection was made.
var ErrBadSender = errors.New("the address cannot be verified")

// Verify asks the mail servers of sender's domain about sender, saying
// HELO with our name, hostname. With a dsn (a whole message, CRLF line
// ends), it is delivered with DATA. An outcome without a Host is a
// call-back that was not made: its Err (ErrBadSender, ErrRateLimited,
// ErrNonPublicMX, ErrNoMX or a DNS failure) says why.
func (v *Verifier) Verify(ctx context.Context, hostname, sender string, dsn []byte, now time.Time) Outcome {
	at := strings.LastIndexByte(sender, '@')
	if at < 0 {
		return Outcome{Err: fmt.Errorf("%w: %q has no domain", ErrBadSender, sender)}
	}
	if strings.ContainsFunc(sender, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '<' || r == '>' }) {
		// It would go into RCPT TO:<…> to someone else's server.
		return Outcome{Err: fmt.Errorf("%w: %q cannot be written in an SMTP command", ErrBadSender, sender)}
	}
	domain := sender[at+1:]
	if err := v.limit.Allow(domain, now); err != nil {
		return Outcome{Err: err}
	}
	hosts, err := v.mxHosts(ctx, domain)
	if err != nil {
		return Outcome{Err: err}
	}
	// When no server gives an answer that settles it, the last server's
	// answer stands; if none was asked, why not: a rate limit (a retry
	// may get through), a host whose addresses are unknown, addresses
	// the Internet cannot reach — in that order.
	var answered Outcome
	var limited, lookup, nonPublic error
	tried := 0
hosts:
	for _, h := range hosts {
		addrs, err := v.res.Addrs(ctx, h)
		if err != nil {
			lookup = err
			continue
		}
		for _, a := range addrs {
			if why := notGloballyReachable(a); why != "" && !v.cfg.AllowPrivateMX {
				nonPublic = fmt.Errorf("%w: MX %s is at %s (%s)", ErrNonPublicMX, h, a, why)
				continue
			}
			if tried == v.cfg.MaxHosts {
				break hosts
			}
			if err := v.limit.AllowHost(a, now); err != nil {
				limited = fmt.Errorf("MX %s: %w", h, err)
				continue
			}
			tried++
			o := v.talk(ctx, hostname, h, a, sender, dsn) // the address just checked: no second lookup
			if o.Err == nil && o.Code < 400 || o.Permanent() || o.Fraud {
				return o
			}
			answered = o // 4xx or no answer: the next MX host
		}
	}
	if answered.Host != "" {
		return answered
	}
	for _, err := range []error{limited, lookup, nonPublic} {
		if err != nil {
			return Outcome{Err: err}
		}
	}
	return Outcome{Err: ErrNoMX}
}

// mxHosts are the domain's mail hosts by preference; the domain itself
// when it has no MX record; none for a null MX (RFC 7505).
func (v *Verifier) mxHosts(ctx context.Context, domain string) ([]string, error) {
	a, err := v.res.Lookup(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	if a.NXDomain {
		return nil, ErrNoMX
	}
	mxs := make([]*dns.MX, 0, len(a.RRs))
	for _, rr := range a.RRs {
		mxs = append(mxs, rr.(*dns.MX))
	}
	if len(mxs) == 0 {
		return []string{domain}, nil
	}
	if IsNullMX(mxs) {
		return nil, ErrNullMX
	}
	sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Preference < mxs[j].Preference })
	var hosts []string
	for _, mx := range mxs {
		if mx.Mx == "." {
			return nil, ErrNoMX // null MX: the domain takes no mail
		}
		hosts = append(hosts, strings.TrimSuffix(mx.Mx, "."))
	}
	return hosts, nil
}

// IsNullMX reports whether mxs, a domain's MX records, are a null MX
// (RFC 7505 §3): a single record whose host is the root ".". A "." among
// other hosts is a broken record set, not a null MX: the other hosts may
// still take mail. The preference is not judged (§3 says 0, but the
// meaning of the record does not depend on it).
func IsNullMX(mxs []*dns.MX) bool {
	return len(mxs) == 1 && mxs[0].Mx == "."
}

// NullMX reports whether domain publishes a null MX (RFC 7505). A
// domain without MX records, or one that does not exist, does not.
func (v *Verifier) NullMX(ctx context.Context, domain string) (bool, error) {
	a, err := v.res.Lookup(ctx, domain, dns.TypeMX)
	if err != nil || a.NXDomain {
		return false, err
	}
	var mxs []*dns.MX
	for _, rr := range a.RRs {
		if mx, ok := rr.(*dns.MX); ok {
			mxs = append(mxs, mx)
		}
	}
	return IsNullMX(mxs), nil
}

// talk runs one SMTP conversation.
func (v *Verifier) talk(ctx context.Context, hostname, host string, ip netip.Addr, sender string, dsn []byte) Outcome {
	o := Outcome{Host: host}
	conn, err := v.dial(ctx, netip.AddrPortFrom(ip, uint16(v.cfg.Port)))
	if err != nil {
		o.Err = err
		return o
	}
	defer conn.Close()
	c := &smtpConn{conn: conn, tp: textproto.NewConn(conn), timeout: v.cfg.CommandTimeout}
	code, text, err := c.read()
	if err != nil {
		o.Err = err
		return o
	}
	if word, _, _ := strings.Cut(text, " "); word == "" || strings.EqualFold(strings.TrimSuffix(word, "."), hostname) {
		o.Fraud, o.Code, o.Text = true, code, text
		return o
	}
	if code != 220 {
		o.Code, o.Text = code, text
		return o
	}
	if code, text, err = c.cmd("EHLO %s", hostname); err == nil && code != 250 {
		code, text, err = c.cmd("HELO %s", hostname)
	}
	if err != nil || code != 250 {
		o.Code, o.Text, o.Err = code, text, err
		return o
	}
	defer c.cmd("QUIT")
	for _, from := range []string{"", "postmaster@" + hostname} {
		o.Sender = from
		if code, text, err = c.cmd("MAIL FROM:<%s>", from); err != nil || code != 250 {
			o.Code, o.Text, o.Err = code, text, err
			if dsn != nil && from == "" && code >= 500 { // the null sender refused: try again as postmaster
				c.cmd("RSET")
				continue
			}
			return o
		}
		break
	}
	if code, text, err = c.cmd("RCPT TO:<%s>", sender); err != nil || code/100 != 2 || dsn == nil {
		o.Code, o.Text, o.Err = code, text, err
		return o
	}
	if code, text, err = c.cmd("DATA"); err != nil || code != 354 {
		o.Code, o.Text, o.Err = code, text, err
		return o
	}
	o.Code, o.Text, o.Err = c.data(dsn)
	return o
}

// smtpConn is the client side of one SMTP connection.
type smtpConn struct {
	conn    net.Conn
	tp      *textproto.Conn
	timeout time.Duration
}

// read reads one reply; multi-line texts are joined by "; ".
func (c *smtpConn) read() (int, string, error) {
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	code, msg, err := c.tp.ReadResponse(0)
	var perr *textproto.Error
	if errors.As(err, &perr) {
		err = nil
	}
	return code, oneline.Clean(strings.ReplaceAll(stripEnhanced(msg), "\n", "; ")), err
}

// stripEnhanced removes the enhanced status code ("5.1.1 ") a reply text
// starts with: maxwell's own answer carries its own.
func stripEnhanced(msg string) string {
	code, rest, ok := strings.Cut(msg, " ")
	if !ok || strings.Count(code, ".") != 2 || strings.Trim(code, "0123456789.") != "" || code[0] < '2' || code[0] > '5' {
		return msg
	}
	return rest
}

func (c *smtpConn) cmd(format string, args ...any) (int, string, error) {
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	if err := c.tp.PrintfLine(format, args...); err != nil {
		return 0, "", err
	}
	return c.read()
}

// data sends the message, dot-stuffed, and reads the server's verdict.
func (c *smtpConn) data(msg []byte) (int, string, error) {
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	w := c.tp.DotWriter()
	bw := bufio.NewWriter(w)
	if _, err := bw.Write(msg); err != nil {
		return 0, "", err
	}
	if err := bw.Flush(); err != nil {
		return 0, "", err
	}
	if err := w.Close(); err != nil {
		return 0, "", err
	}
	return c.read()
}
