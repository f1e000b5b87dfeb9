package dnsbl

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/dnsname"
	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/resolver"
)

// List is one blocklist maxwell asks ([[dnsbl.lists]]).
type List struct {
	Zone   string
	Type   string   // config.DNSBLTypeIP or config.DNSBLTypeDomain
	Weight float64  // added to the score when the list lists
	Check  []string // what the list is asked about: "client", or of config.DNSBLChecks

	codes [][2]netip.Addr // answers that count, inclusive ranges
	mask  byte            // bits of the answer's last octet that count; 0 for any
	txt   bool            // ask the TXT record of a listing
	res   *resolver.Resolver
}

// Checks reports whether the list is asked about what ("client",
// "sender", "helo", "ptr").
func (l *List) Checks(what string) bool {
	for _, c := range l.Check {
		if c == what {
			return true
		}
	}
	return false
}

// Checker asks the configured lists. It is safe for concurrent use.
type Checker struct {
	Lists []*List
}

// New builds the lists of [dnsbl]. Lists with a server of their own get
// a resolver of their own, with [dns]'s timeouts and cache size; the
// others use res.
func New(c config.DNSBL, dnsCfg config.DNS, res *resolver.Resolver) (*Checker, error) {
	ch := &Checker{}
	for _, lc := range c.Lists {
		codes, err := lc.CodeRanges()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", lc.Zone, err)
		}
		l := &List{Zone: lc.Zone, Type: lc.Type, Weight: lc.EffectiveWeight(), Check: lc.EffectiveCheck(),
			codes: codes, mask: byte(lc.Mask), txt: lc.WantTXT(), res: res}
		if lc.Server != "" {
			own := dnsCfg
			own.Servers = []string{lc.Server}
			l.res = resolver.FromConfig(own)
		}
		ch.Lists = append(ch.Lists, l)
	}
	return ch, nil
}

// Result is what one list said about one address or name.
type Result struct {
	List   *List
	What   string     // "client", "sender", "helo" or "ptr"
	Key    string     // the address or name asked about
	Listed bool       // an answer the list counts
	Answer netip.Addr // the answer that counted, or the one ignored
	Reason string     // the listing's TXT record, one line
	// Ignored is an answer outside 127.0.0.0/8, which RFC 5782 does not
	// allow: a list that died and whose domain answers everything.
	Ignored bool
	Cached  bool  // the A answer came from the cache
	Err     error // the list could not be asked: no answer, SERVFAIL, budget spent
}

// Client asks the IP lists about ip.
func (c *Checker) Client(ctx context.Context, ip netip.Addr) []Result {
	if !ip.IsValid() {
		return nil
	}
	return c.ask(ctx, "client", ip.Unmap().String(), func(l *List) string {
		if l.Type != config.DNSBLTypeIP {
			return ""
		}
		return ReverseIP(ip) + "." + l.Zone
	})
}

// Name asks the domain lists that check what ("sender", "helo", "ptr")
// about a domain name. A name that is not a valid domain (an address
// literal, a HELO of garbage) is asked nowhere.
func (c *Checker) Name(ctx context.Context, what, name string) []Result {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if !dnsname.Valid(name) || !strings.Contains(name, ".") {
		return nil
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return nil
	}
	return c.ask(ctx, what, name, func(l *List) string {
		if l.Type != config.DNSBLTypeDomain || !l.Checks(what) {
			return ""
		}
		q := name + "." + l.Zone
		if len(q) > 253 {
			return "" // no such name can exist
		}
		return q
	})
}

// ask asks every list that query names a question for. The cache
// answers what it can; the rest are asked at once, so that a list that
// times out does not hold up the others. The results are in the lists'
// order.
func (c *Checker) ask(ctx context.Context, what, key string, query func(*List) string) []Result {
	results := make([]Result, len(c.Lists))
	queries := make([]string, len(c.Lists))
	var uncached []int
	for i, l := range c.Lists {
		if queries[i] = query(l); queries[i] == "" {
			continue
		}
		if r, ok := l.cached(queries[i]); ok {
			results[i] = r
		} else {
			uncached = append(uncached, i)
		}
	}
	if len(uncached) == 1 { // no goroutine for one question
		i := uncached[0]
		results[i] = c.Lists[i].lookup(ctx, queries[i])
	} else if len(uncached) > 1 {
		var wg sync.WaitGroup
		for _, i := range uncached {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = c.Lists[i].lookup(ctx, queries[i])
			}()
		}
		wg.Wait()
	}
	out := results[:0]
	for _, r := range results {
		if r.List != nil {
			r.What, r.Key = what, key
			out = append(out, r)
		}
	}
	return out
}

// cached is the list's answer to query name q from the cache alone,
// TXT record included; ok is false when the cache cannot answer it
// whole, and the list must be asked.
func (l *List) cached(q string) (r Result, ok bool) {
	a, ok := l.res.Cached(q, dns.TypeA)
	if !ok {
		return Result{}, false
	}
	r = l.read(a)
	r.Cached = true
	if r.Listed && l.txt {
		t, ok := l.res.Cached(q, dns.TypeTXT)
		if !ok {
			return Result{}, false // the TXT lookup goes with the others, at once
		}
		r.Reason = txtOf(t)
	}
	return r, true
}

// lookup asks the list about one query name.
func (l *List) lookup(ctx context.Context, q string) Result {
	a, cached, err := l.res.LookupCached(ctx, q, dns.TypeA)
	if err != nil {
		return Result{List: l, Err: err}
	}
	r := l.read(a)
	r.Cached = cached
	if r.Listed && l.txt {
		// The listing stands without its reason if that cannot be had.
		if t, err := l.res.Lookup(ctx, q, dns.TypeTXT); err == nil {
			r.Reason = txtOf(t)
		}
	}
	return r
}

// read is what the list's A answer says: listed or not, by which
// answer.
func (l *List) read(a *resolver.Answer) Result {
	r := Result{List: l}
	for _, rr := range a.RRs {
		ip, ok := netip.AddrFromSlice(rr.(*dns.A).A)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !loopback8.Contains(ip) {
			r.Answer, r.Ignored = ip, true
			continue
		}
		if l.counts(ip) {
			r.Listed, r.Answer, r.Ignored = true, ip, false
			break
		}
		if !r.Answer.IsValid() {
			r.Answer = ip // an answer the list does not count, shown in the log
		}
	}
	return r
}

// loopback8 is where RFC 5782 §2.1 puts every answer of a list.
var loopback8 = netip.MustParsePrefix("127.0.0.0/8")

// counts reports whether an answer is one of the list's codes.
func (l *List) counts(ip netip.Addr) bool {
	if l.mask != 0 && ip.As4()[3]&l.mask == 0 {
		return false
	}
	for _, r := range l.codes {
		if !ip.Less(r[0]) && !r[1].Less(ip) {
			return true
		}
	}
	return false
}

// txtOf is a listing's reason from its TXT answer: the first record,
// one line of at most 255 bytes; "" when there is none.
func txtOf(a *resolver.Answer) string {
	if len(a.RRs) == 0 {
		return ""
	}
	return oneline.Cut(oneline.Clean(strings.Join(a.RRs[0].(*dns.TXT).Txt, "")), 255)
}

// Probe asks the list about its RFC 5782 §5 test entries: an IP list
// must list 127.0.0.2 and not 127.0.0.1, a domain list must list TEST
// and not INVALID.
func (l *List) Probe(ctx context.Context) error {
	listed, unlisted := ReverseIP(netip.MustParseAddr("127.0.0.2")), ReverseIP(netip.MustParseAddr("127.0.0.1"))
	if l.Type == config.DNSBLTypeDomain {
		listed, unlisted = "test", "invalid"
	}
	if r := l.lookup(ctx, listed+"."+l.Zone); r.Err != nil {
		return r.Err
	} else if !r.Listed {
		return fmt.Errorf("%s is not listed: the list is not answering (or refuses this site)", listed+"."+l.Zone)
	}
	if r := l.lookup(ctx, unlisted+"."+l.Zone); r.Err != nil {
		return r.Err
	} else if r.Listed || r.Ignored {
		return fmt.Errorf("%s is listed (%s): the list answers every name, and would refuse every client", unlisted+"."+l.Zone, r.Answer)
	}
	return nil
}

// ReverseIP is how a list is asked about an address (RFC 5782 §2.1,
// §2.4): an IPv4 address's octets reversed, "2.0.0.127"; an IPv6
// address's 32 nibbles reversed, "1.0.0.0.…".
func ReverseIP(ip netip.Addr) string { return reverse(ip.Unmap()) }

// reverse is ReverseIP without unmapping: an IPv4-mapped IPv6 address
// (RFC 5782 §5's ::FFFF:7F00:2) by its nibbles.
func reverse(ip netip.Addr) string {
	if ip.Is4() {
		b := ip.As4()
		return fmt.Sprintf("%d.%d.%d.%d", b[3], b[2], b[1], b[0])
	}
	b := ip.As16()
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 63)
	for i := 15; i >= 0; i-- {
		if len(out) > 0 {
			out = append(out, '.')
		}
		out = append(out, hex[b[i]&0xf], '.', hex[b[i]>>4])
	}
	return string(out)
}

// ParseReverse is ReverseIP undone: the address a query name's labels
// below the zone stand for.
func ParseReverse(labels string) (netip.Addr, bool) {
	parts := strings.Split(labels, ".")
	switch len(parts) {
	case 4:
		var b [4]byte
		for i, p := range parts {
			n, ok := octet(p)
			if !ok {
				return netip.Addr{}, false
			}
			b[3-i] = n
		}
		return netip.AddrFrom4(b), true
	case 32:
		var b [16]byte
		for i, p := range parts {
			if len(p) != 1 {
				return netip.Addr{}, false
			}
			v := strings.IndexByte("0123456789abcdef", p[0]|0x20)
			if v < 0 {
				return netip.Addr{}, false
			}
			byteAt := 15 - i/2
			if i%2 == 0 {
				b[byteAt] |= byte(v)
			} else {
				b[byteAt] |= byte(v) << 4
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// octet reads a decimal octet as written in a query name: 0 to 255, no
// sign, no leading zeros.
func octet(s string) (byte, bool) {
	if s == "" || len(s) > 3 || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return byte(n), n <= 255
}
