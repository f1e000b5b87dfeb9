package spf

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/maxwell-milter/maxwell/internal/resolver"
)

// txt returns the TXT strings of name: none when it does not exist.
func (ev *evaluation) txt(ctx context.Context, name string) ([]string, error) {
	a, err := ev.lookup(ctx, name, dns.TypeTXT)
	if a == nil || err != nil {
		return nil, err
	}
	txts := make([]string, 0, len(a.RRs))
	for _, rr := range a.RRs {
		txts = append(txts, unescape(strings.Join(rr.(*dns.TXT).Txt, "")))
	}
	if ev.trace != nil {
		ev.trace("  TXT %s: %q", name, txts)
	}
	return txts, nil
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

// mxHosts returns the names of name's MX hosts.
func (ev *evaluation) mxHosts(ctx context.Context, name string) (hosts []string, nx bool, err error) {
	a, err := ev.lookup(ctx, name, dns.TypeMX)
	if a == nil || err != nil {
		return nil, a == nil && err == nil, err
	}
	hosts = make([]string, 0, len(a.RRs))
	for _, rr := range a.RRs {
		hosts = append(hosts, rr.(*dns.MX).Mx)
	}
	if ev.trace != nil {
		ev.trace("  MX %s: %d hosts", name, len(hosts))
	}
	return hosts, false, nil
}

// lookupAddrs returns name's A records (v4) or AAAA records: one
// question, of the address family the term asks for (RFC 7208 §5).
func (ev *evaluation) lookupAddrs(ctx context.Context, name string, v4 bool) (addrs []netip.Addr, nx bool, err error) {
	qtype := dns.TypeAAAA
	if v4 {
		qtype = dns.TypeA
	}
	a, err := ev.lookup(ctx, name, qtype)
	if a == nil || err != nil {
		return nil, a == nil && err == nil, err
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
			addrs = append(addrs, addr.Unmap())
		}
	}
	if ev.trace != nil {
		ev.trace("  %s %s: %v", dns.TypeToString[qtype], name, addrs)
	}
	return addrs, false, nil
}

// ptrNames returns the client's PTR names: those the session already
// looked up, or asked now.
func (ev *evaluation) ptrNames(ctx context.Context) ([]string, error) {
	names := ev.ptr
	if names == nil {
		var err error
		if names, err = ev.res.PTR(ctx, ev.client); err != nil {
			if ev.trace != nil {
				ev.trace("  PTR %s: %v", ev.client, err)
			}
			return nil, err
		}
	}
	if ev.trace != nil {
		ev.trace("  PTR %s: %v", ev.client, names)
	}
	return names, nil
}

// lookup asks one question. It returns a nil answer and no error when
// the name does not exist, or cannot (not a domain name); errors are
// temporary: a timeout, SERVFAIL, the lookup budget spent.
func (ev *evaluation) lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	if _, ok := dns.IsDomainName(name); !ok || strings.Trim(name, ".") == "" || !isPrintableName(name) {
		if ev.trace != nil {
			ev.trace("  %s %q: not a domain name", dns.TypeToString[qtype], name)
		}
		return nil, nil
	}
	a, err := ev.res.Lookup(ctx, name, qtype)
	if err != nil {
		if ev.trace != nil {
			ev.trace("  %s %s: %v", dns.TypeToString[qtype], name, err)
		}
		return nil, err
	}
	if a.NXDomain {
		if ev.trace != nil {
			ev.trace("  %s %s: no such domain", dns.TypeToString[qtype], name)
		}
		return nil, nil
	}
	return a, nil
}

// isPrintableName reports whether name holds printable ASCII and spaces
// only (%_ expands to a space), and no backslash: a macro may put
// anything of the sender's into a name; a control byte cannot be asked
// for, and a backslash would be read as an escape, giving another name
// than the one expanded.
func isPrintableName(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < ' ' || c > '~' || c == '\\' {
			return false
		}
	}
	return true
}

func isRecord(txt string) bool {
	l := strings.ToLower(txt)
	return l == "v=spf1" || strings.HasPrefix(l, "v=spf1 ")
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
