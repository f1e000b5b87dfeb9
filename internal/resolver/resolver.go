// Package resolver is maxwell's DNS client on github.com/miekg/dns:
// explicit servers, a timeout per query, a TTL-respecting cache with a size
// bound, and a lookup budget per message. A timeout or SERVFAIL is reported
// as a *TempError, so that policy can answer 451 instead of guessing.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/dnsname"
)

// Config configures a Resolver.
type Config struct {
	Servers   []string      // host:port; empty means those of /etc/resolv.conf
	Timeout   time.Duration // per query and server
	Attempts  int           // rounds over all servers
	CacheSize int           // entries; 0 disables the cache
	MaxTTL    time.Duration // cap on cached lifetimes
}

// Resolver answers DNS questions. It is safe for concurrent use.
type Resolver struct {
	servers  []string
	attempts int
	udp, tcp *dns.Client
	cache    *cache
	maxTTL   time.Duration

	mu       sync.Mutex
	inflight map[cacheKey]*call
	observe  func(qtype string, took time.Duration, err error)
	counts   *Counts // nil: not counted
}

// Observe makes the resolver report every query it sends to the servers
// (cached answers are not queries): its type, how long it took, and its
// error. Call it before the resolver is used.
func (r *Resolver) Observe(f func(qtype string, took time.Duration, err error)) { r.observe = f }

// Ping checks that at least one server answers (whatever the answer),
// bypassing the cache: for health checks.
func (r *Resolver) Ping(ctx context.Context) error {
	m := new(dns.Msg)
	m.SetQuestion(".", dns.TypeNS)
	var errs []string
	for _, srv := range r.servers {
		if _, err := r.exchange(ctx, m, srv); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", srv, err))
			continue
		}
		return nil
	}
	if len(errs) == 0 {
		return errors.New("no DNS servers")
	}
	return errors.New(strings.Join(errs, "; "))
}

// FromConfig returns a Resolver for the [dns] section.
func FromConfig(c config.DNS) *Resolver {
	servers := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		servers[i], _ = config.ServerAddr(s) // validated with the configuration
	}
	return New(Config{
		Servers:   servers,
		Timeout:   c.Timeout.D(),
		Attempts:  c.Attempts,
		CacheSize: c.CacheSize,
		MaxTTL:    c.MaxTTL.D(),
	})
}

// ResolvConf is where the default servers come from.
const ResolvConf = "/etc/resolv.conf"

// New returns a Resolver. Without servers it reads ResolvConf, and falls
// back to 127.0.0.1:53 when that has none.
func New(cfg Config) *Resolver {
	servers := cfg.Servers
	if len(servers) == 0 {
		servers = systemServers()
	}
	if cfg.Attempts < 1 {
		cfg.Attempts = 1
	}
	return &Resolver{
		servers:  servers,
		attempts: cfg.Attempts,
		udp:      &dns.Client{Net: "udp", Timeout: cfg.Timeout, UDPSize: 1232},
		tcp:      &dns.Client{Net: "tcp", Timeout: cfg.Timeout},
		cache:    newCache(cfg.CacheSize),
		maxTTL:   cfg.MaxTTL,
		inflight: map[cacheKey]*call{},
	}
}

func systemServers() []string {
	cc, err := dns.ClientConfigFromFile(ResolvConf)
	if err != nil || len(cc.Servers) == 0 {
		return []string{"127.0.0.1:53"}
	}
	out := make([]string, len(cc.Servers))
	for i, s := range cc.Servers {
		out[i] = net.JoinHostPort(s, cc.Port)
	}
	return out
}

// Servers returns the servers in use.
func (r *Resolver) Servers() []string { return r.servers }

// TempError is a temporary failure: every server timed out or answered
// SERVFAIL (or similar), or the lookup budget ran out. The answer might be
// different later, so mail that depends on it must be tempfailed.
type TempError struct {
	Name   string
	Type   string
	Reason string
}

func (e *TempError) Error() string {
	return fmt.Sprintf("DNS %s %s: %s", e.Type, e.Name, e.Reason)
}

// IsTemporary reports whether err is, or wraps, a *TempError.
func IsTemporary(err error) bool {
	var te *TempError
	return errors.As(err, &te)
}

// Answer is the outcome of one question.
type Answer struct {
	RRs      []dns.RR // answer records of the asked type (CNAMEs followed)
	NXDomain bool     // the name does not exist

	ttl time.Duration // how long the answer may be cached
}

// Lookup asks one question, from the cache when it can. A lookup that goes
// to the network is charged to the Budget in ctx, if any.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	a, _, err := r.LookupCached(ctx, name, qtype)
	return a, err
}

// Cached returns the cached answer to a question, if there is one, and
// asks no server: for callers that ask many questions at once and go to
// the network (in parallel) only for those the cache cannot answer.
func (r *Resolver) Cached(name string, qtype uint16) (*Answer, bool) {
	a, ok := r.cache.get(cacheKey{dnsname.Canonical(name), qtype})
	if ok {
		r.counts.add(true, false)
	}
	return a, ok
}

// LookupCached is Lookup that also says whether the answer came from the
// cache, for those who count their hit rate (DNS blocklists).
func (r *Resolver) LookupCached(ctx context.Context, name string, qtype uint16) (ans *Answer, cached bool, err error) {
	name = dnsname.Canonical(name)
	key := cacheKey{name, qtype}
	if a, ok := r.cache.get(key); ok {
		r.counts.add(true, false)
		return a, true, nil
	}
	if b := budgetFrom(ctx); b != nil && !b.take() {
		return nil, false, &TempError{name, dns.TypeToString[qtype], fmt.Sprintf("lookup budget of %d exhausted", b.limit)}
	}

	// One query on the wire per question, however many sessions ask.
	r.mu.Lock()
	if c, ok := r.inflight[key]; ok {
		r.mu.Unlock()
		select {
		case <-c.done:
			return c.ans, false, c.err
		case <-ctx.Done():
			return nil, false, &TempError{name, dns.TypeToString[qtype], ctx.Err().Error()}
		}
	}
	c := &call{done: make(chan struct{})}
	r.inflight[key] = c
	r.mu.Unlock()

	c.ans, c.err = r.query(ctx, name, qtype)
	if c.err == nil {
		r.cache.put(key, c.ans, min(c.ans.ttl, r.maxTTL))
	}
	r.mu.Lock()
	delete(r.inflight, key)
	r.mu.Unlock()
	close(c.done)
	return c.ans, false, c.err
}

type call struct {
	done chan struct{}
	ans  *Answer
	err  error
}

// query sends the question to each server in turn, for the configured
// number of rounds, and returns the first NOERROR or NXDOMAIN answer.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (ans *Answer, err error) {
	if r.observe != nil {
		defer func(start time.Time) { r.observe(dns.TypeToString[qtype], time.Since(start), err) }(time.Now())
	}
	defer func() { r.counts.add(false, err != nil) }()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	last := "no servers"
	for round := 0; round < r.attempts; round++ {
		for _, srv := range r.servers {
			if err := ctx.Err(); err != nil {
				return nil, &TempError{name, dns.TypeToString[qtype], err.Error()}
			}
			resp, err := r.exchange(ctx, m, srv)
			if err != nil {
				last = fmt.Sprintf("%s: %v", srv, err)
				continue
			}
			switch resp.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError:
				return answerOf(resp, name, qtype), nil
			}
			last = fmt.Sprintf("%s: %s", srv, dns.RcodeToString[resp.Rcode])
		}
	}
	return nil, &TempError{name, dns.TypeToString[qtype], last}
}

// exchange does one UDP query, repeated over TCP when the answer was
// truncated, and checks that the answer is for the question asked.
func (r *Resolver) exchange(ctx context.Context, m *dns.Msg, srv string) (*dns.Msg, error) {
	resp, _, err := r.udp.ExchangeContext(ctx, m, srv)
	if err == nil && resp.Truncated {
		resp, _, err = r.tcp.ExchangeContext(ctx, m, srv)
	}
	if err != nil {
		return nil, err
	}
	if len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, m.Question[0].Name) ||
		resp.Question[0].Qtype != m.Question[0].Qtype {
		return nil, errors.New("answer for another question")
	}
	return resp, nil
}

// answerOf keeps the records of the asked type for name and the names its
// CNAME chain leads to. The chain is followed by owner name, not in the
// order the records arrive: a server may list a target before its CNAME.
func answerOf(resp *dns.Msg, name string, qtype uint16) *Answer {
	a := &Answer{NXDomain: resp.Rcode == dns.RcodeNameError}
	owners := map[string]bool{name: true}
	if qtype != dns.TypeCNAME {
		cnames := map[string]string{}
		for _, rr := range resp.Answer {
			if cn, ok := rr.(*dns.CNAME); ok {
				cnames[strings.ToLower(cn.Hdr.Name)] = strings.ToLower(cn.Target)
			}
		}
		// Each hop adds a new owner, so a loop ends the walk.
		for at := cnames[name]; at != "" && !owners[at]; at = cnames[at] {
			owners[at] = true
		}
	}
	for _, rr := range resp.Answer {
		if h := rr.Header(); h.Rrtype == qtype && owners[strings.ToLower(h.Name)] {
			a.RRs = append(a.RRs, rr)
		}
	}
	a.ttl = negativeTTL
	for i, rr := range a.RRs {
		if t := ttlOf(rr.Header().Ttl); i == 0 || t < a.ttl {
			a.ttl = t
		}
	}
	if len(a.RRs) > 0 {
		a.NXDomain = false
		return a
	}
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok { // RFC 2308: negative TTL
			a.ttl = ttlOf(min(soa.Hdr.Ttl, soa.Minttl))
		}
	}
	return a
}

// negativeTTL is how long "no such record" is remembered when the answer
// carries no SOA to say.
const negativeTTL = time.Minute

func ttlOf(seconds uint32) time.Duration { return time.Duration(seconds) * time.Second }

// PTR returns the PTR names of ip, without the trailing dot. No PTR is an
// empty list, not an error.
func (r *Resolver) PTR(ctx context.Context, ip netip.Addr) ([]string, error) {
	rev, err := dns.ReverseAddr(ip.Unmap().String())
	if err != nil {
		return nil, err
	}
	a, err := r.Lookup(ctx, rev, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(a.RRs))
	for _, rr := range a.RRs {
		names = append(names, strings.TrimSuffix(rr.(*dns.PTR).Ptr, "."))
	}
	return names, nil
}

// Addrs returns the A and AAAA addresses of name.
func (r *Resolver) Addrs(ctx context.Context, name string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		a, err := r.Lookup(ctx, name, qt)
		if err != nil {
			return nil, err
		}
		for _, rr := range a.RRs {
			var ip net.IP
			switch rr := rr.(type) {
			case *dns.A:
				ip = rr.A
			case *dns.AAAA:
				ip = rr.AAAA
			}
			if addr, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, addr.Unmap())
			}
		}
		if a.NXDomain {
			break // no such name: no point asking for AAAA
		}
	}
	return out, nil
}
