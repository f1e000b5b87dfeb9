package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	libspf "blitiri.com.ar/go/spf"
	"github.com/miekg/dns"

	"github.com/maxwell-milter/maxwell/internal/resolver"
)

// evaluation is the state of one check: it answers the SPF library's DNS
// questions through maxwell's resolver, substitutes the delegate or
// best-guess record for the checked domain, and remembers what the
// library did, to name the mechanism or the problem afterwards.
type evaluation struct {
	res      *resolver.Resolver
	ipv6     bool // the client is IPv6: AAAA records matter, not only A
	delegate string
	guess    string
	record   string
	client   netip.Addr
	ptr      []string                         // the client's PTR names, if known
	trace    func(format string, args ...any) // nil unless tracing; callers test it first, so that untraced checks box no arguments

	asked     bool // the checked domain's record has been asked for
	guessed   bool
	delegated bool

	syntaxErr  error  // the syntax error that made the result permerror
	matched    string // the last term the library reported as deciding
	lastDomain string // the last domain whose record was fetched
	lastRecord string
}

// LookupTXT returns the TXT strings of name. The first question is always
// for the checked domain (the library starts there), and that is where a
// substitute record may stand in; included and redirected domains get
// their published records only.
func (ev *evaluation) LookupTXT(ctx context.Context, name string) ([]string, error) {
	first := !ev.asked
	ev.asked = true
	if first && ev.record != "" {
		ev.guessed = true
		return ev.found(name, []string{ev.record})
	}
	txts, err := ev.txt(ctx, name)
	if !first || hasRecord(txts) || (err != nil && !isNotFound(err)) {
		if err != nil {
			return nil, err
		}
		return ev.found(name, txts)
	}
	if ev.delegate != "" {
		sub := strings.TrimSuffix(name, ".") + "._spf." + ev.delegate
		dtxts, derr := ev.txt(ctx, sub)
		if derr != nil && !isNotFound(derr) {
			return nil, derr
		}
		if hasRecord(dtxts) {
			ev.delegated = true
			return ev.found(name, dtxts)
		}
	}
	if ev.guess != "" {
		ev.guessed = true
		return ev.found(name, []string{ev.guess})
	}
	return txts, err
}

// found remembers the SPF record of name, for problem reports, and checks
// its syntax: a record with an error is answered as a permanent DNS
// failure, which the library turns into permerror.
func (ev *evaluation) found(name string, txts []string) ([]string, error) {
	ev.lastDomain, ev.lastRecord = strings.TrimSuffix(name, "."), ""
	n := 0
	for _, t := range txts {
		if isRecord(t) {
			ev.lastRecord = t
			n++
		}
	}
	if n == 1 {
		if err := checkSyntax(ev.lastRecord); err != nil {
			ev.syntaxErr = err
			return nil, &net.DNSError{Err: "SPF syntax error: " + err.Error(), Name: name}
		}
	}
	return txts, nil
}

func (ev *evaluation) txt(ctx context.Context, name string) ([]string, error) {
	a, err := ev.lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(a.RRs))
	for _, rr := range a.RRs {
		out = append(out, unescape(strings.Join(rr.(*dns.TXT).Txt, "")))
	}
	if ev.trace != nil {
		ev.trace("  TXT %s: %q", name, out)
	}
	return out, nil
}

// unescape undoes miekg/dns's presentation escapes in TXT strings
// (\" and \\, and \DDD for bytes outside printable ASCII), giving the
// bytes published.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b = append(b, s[i])
			continue
		}
		if i+3 < len(s) && isDigits(s[i+1:i+4]) {
			n, _ := strconv.Atoi(s[i+1 : i+4])
			b = append(b, byte(n))
			i += 3
			continue
		}
		i++
		b = append(b, s[i])
	}
	return string(b)
}

// LookupMX returns the MX records of name.
func (ev *evaluation) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	a, err := ev.lookup(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, 0, len(a.RRs))
	for _, rr := range a.RRs {
		mx := rr.(*dns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	if ev.trace != nil {
		ev.trace("  MX %s: %d hosts", name, len(out))
	}
	return out, nil
}

// LookupIPAddr returns the addresses of name: A records, and AAAA records
// too for an IPv6 client (an IPv4 client can only match an A record, and
// exists: looks at A records only).
func (ev *evaluation) LookupIPAddr(ctx context.Context, name string) ([]net.IPAddr, error) {
	types := []uint16{dns.TypeA}
	if ev.ipv6 {
		types = append(types, dns.TypeAAAA)
	}
	var out []net.IPAddr
	for _, qt := range types {
		a, err := ev.lookup(ctx, name, qt)
		if err != nil {
			return nil, err
		}
		for _, rr := range a.RRs {
			switch rr := rr.(type) {
			case *dns.A:
				out = append(out, net.IPAddr{IP: rr.A})
			case *dns.AAAA:
				out = append(out, net.IPAddr{IP: rr.AAAA})
			}
		}
	}
	if ev.trace != nil {
		ev.trace("  A/AAAA %s: %v", name, out)
	}
	return out, nil
}

// LookupAddr returns the PTR names of addr, fully qualified.
func (ev *evaluation) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "invalid address", Name: addr, IsNotFound: true}
	}
	known := ev.ptr
	if known == nil || ip.Unmap() != ev.client {
		if known, err = ev.res.PTR(ctx, ip); err != nil {
			return nil, dnsError(addr, err)
		}
	}
	names := make([]string, len(known))
	for i, n := range known {
		names[i] = dns.Fqdn(n)
	}
	if ev.trace != nil {
		ev.trace("  PTR %s: %v", addr, names)
	}
	return names, nil
}

// lookup asks one question. Errors are *net.DNSError, which is what the
// library understands: not found (NXDOMAIN, or a name that cannot exist)
// or temporary (timeout, SERVFAIL, lookup budget spent).
func (ev *evaluation) lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	if _, ok := dns.IsDomainName(name); !ok || strings.Trim(name, ".") == "" {
		if ev.trace != nil {
			ev.trace("  %s %q: not a domain name", dns.TypeToString[qtype], name)
		}
		return nil, &net.DNSError{Err: "not a domain name", Name: name, IsNotFound: true}
	}
	a, err := ev.res.Lookup(ctx, name, qtype)
	if err != nil {
		if ev.trace != nil {
			ev.trace("  %s %s: %v", dns.TypeToString[qtype], name, err)
		}
		return nil, dnsError(name, err)
	}
	if a.NXDomain {
		if ev.trace != nil {
			ev.trace("  %s %s: no such domain", dns.TypeToString[qtype], name)
		}
		return nil, &net.DNSError{Err: "no such domain", Name: name, IsNotFound: true}
	}
	return a, nil
}

func dnsError(name string, err error) error {
	return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: resolver.IsTemporary(err)}
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

func isRecord(txt string) bool {
	l := strings.ToLower(txt)
	return l == "v=spf1" || strings.HasPrefix(l, "v=spf1 ")
}

func hasRecord(txts []string) bool {
	for _, t := range txts {
		if isRecord(t) {
			return true
		}
	}
	return false
}

// libTrace follows the library's evaluation. The terms it reports as
// deciding are remembered: the last one reported is the outermost, the
// term of the checked domain's own record.
func (ev *evaluation) libTrace(format string, args ...any) {
	switch format {
	case "%q %v, %v": // a term matched, or failed
		if len(args) == 3 {
			field, _ := args[0].(string)
			res, _ := args[1].(libspf.Result)
			ev.matched = qualifier(Result(res)) + field
		}
	case "all: %v":
		if len(args) == 1 {
			res, _ := args[0].(libspf.Result)
			ev.matched = qualifier(Result(res)) + "all"
		}
	case "fallback to neutral":
		ev.matched = "default"
	}
	if ev.trace != nil {
		ev.trace("  spf: "+format, args...)
	}
}

func qualifier(r Result) string {
	switch r {
	case Fail:
		return "-"
	case SoftFail:
		return "~"
	case Neutral:
		return "?"
	}
	return ""
}

// mechanism names the term that decided res.
func (ev *evaluation) mechanism(res Result, err error) string {
	if res == None {
		return ""
	}
	if ev.matched != "" {
		return ev.matched
	}
	// The library's trace did not say (it is not a stable interface):
	// name the kind of mechanism from the error it returned.
	for _, m := range []struct {
		err  error
		name string
	}{
		{libspf.ErrMatchedAll, "all"}, {libspf.ErrMatchedA, "a"}, {libspf.ErrMatchedMX, "mx"},
		{libspf.ErrMatchedIP, "ip"}, {libspf.ErrMatchedPTR, "ptr"}, {libspf.ErrMatchedExists, "exists"},
	} {
		if errors.Is(err, m.err) {
			return qualifier(res) + m.name
		}
	}
	return "default"
}

// problem describes a permerror: what the library found wrong, and the
// record it was reading.
func (ev *evaluation) problem(err error) string {
	msg := fmt.Sprint(err)
	switch {
	case ev.syntaxErr != nil:
		return fmt.Sprintf("syntax error in the SPF record of %s: %v: %q", ev.lastDomain, ev.syntaxErr, ev.lastRecord)
	case errors.Is(err, libspf.ErrMultipleRecords):
		return ev.lastDomain + " publishes more than one SPF record"
	case ev.lastRecord != "":
		return fmt.Sprintf("%s in the SPF record of %s: %q", msg, ev.lastDomain, ev.lastRecord)
	case ev.lastDomain != "":
		return msg + " (" + ev.lastDomain + ")"
	}
	return msg
}
