package config

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/dnsname"
	"github.com/maxwell-milter/maxwell/internal/oneline"
)

// DNSBL is the [dnsbl] section: the DNS blocklists (RFC 5782) maxwell
// asks about its clients, and what their listings do. Each list that
// lists a connection or message adds its weight to a score; the
// thresholds below say what a score does.
type DNSBL struct {
	Lists []DNSBLList `toml:"lists"`
	// RejectScore refuses the message (550 5.7.1 naming the lists).
	RejectScore float64 `toml:"reject_score"`
	// GreylistScore greylists the message even where greylisting would
	// spare it (only_suspicious, the auto-whitelist, an SPF-pass sender
	// whitelisted by domain).
	GreylistScore float64 `toml:"greylist_score"`
	// StrikeScore counts the listing as one of the three strikes: a
	// listed client is refused for two of them (no valid PTR, no valid
	// HELO, no SPF pass) instead of three.
	StrikeScore float64 `toml:"strike_score"`
	// CallbackScore asks for a call-back verification of the sender.
	CallbackScore float64 `toml:"callback_score"`
	// OnError is what a list that cannot be asked (timeout, SERVFAIL,
	// lookup budget spent) does: DNSBLIgnore or DNSBLTempfail.
	OnError DNSBLOnError `toml:"on_error"`
	// Text is the refusal's first line; {lists} is replaced by the
	// zones that listed the client. The first list's TXT record, if
	// any, is a second line.
	Text string `toml:"text"`
}

// DNSBLList is one [[dnsbl.lists]] entry.
type DNSBLList struct {
	Zone   string   `toml:"zone"`
	Type   string   `toml:"type"`   // DNSBLTypeIP or DNSBLTypeDomain
	Weight *float64 `toml:"weight"` // nil is 1; 0 logs the list's listings and counts them for nothing
	Codes  []string `toml:"codes"`  // answers that count: addresses, prefixes, ranges a-b
	Mask   int      `toml:"mask"`   // bits of the answer's last octet that count, 0 for any
	Check  []string `toml:"check"`  // domain lists: the names asked, of DNSBLChecks
	Server string   `toml:"server"` // host:port asked instead of [dns] servers
	TXT    *bool    `toml:"txt"`    // ask the TXT record of a listed entry; unset is true
}

// The types of list.
const (
	DNSBLTypeIP     = "ip"     // client addresses, reversed (RFC 5782 §2.1, §2.4)
	DNSBLTypeDomain = "domain" // domain names (RHSBL, RFC 5782 §2.3)
)

// DNSBLChecks are the names a domain list may be asked about.
var DNSBLChecks = []string{"sender", "helo", "ptr"}

// DNSBLOnError is what a list that cannot be asked does.
type DNSBLOnError string

// The answers to a list that cannot be asked.
const (
	DNSBLIgnore   DNSBLOnError = "ignore"   // as if it did not list the client
	DNSBLTempfail DNSBLOnError = "tempfail" // 451 4.4.3, as for any DNS failure
)

// UnmarshalText implements encoding.TextUnmarshaler.
func (o *DNSBLOnError) UnmarshalText(b []byte) error {
	return oneOf(o, b, DNSBLIgnore, DNSBLTempfail)
}

// DefaultDNSBLCodes are the answers that count when a list says none:
// 127.0.0.2 and up (RFC 5782 §2.1), but not 127.255.255.0/24, where
// Spamhaus answers "query refused" and others their errors.
var DefaultDNSBLCodes = []string{"127.0.0.2-127.255.254.255"}

// WantTXT reports whether the list's TXT record is asked for a listing.
func (l *DNSBLList) WantTXT() bool { return l.TXT == nil || *l.TXT }

// EffectiveWeight is the list's weight, 1 when unset.
func (l *DNSBLList) EffectiveWeight() float64 {
	if l.Weight == nil {
		return 1
	}
	return *l.Weight
}

// EffectiveCheck is what a domain list is asked about, every name of
// DNSBLChecks when unset; an IP list is asked about the client.
func (l *DNSBLList) EffectiveCheck() []string {
	if l.Type == DNSBLTypeIP {
		return []string{"client"}
	}
	if len(l.Check) == 0 {
		return DNSBLChecks
	}
	return l.Check
}

// CodeRanges parses the list's codes (or DefaultDNSBLCodes) into
// inclusive address ranges.
func (l *DNSBLList) CodeRanges() ([][2]netip.Addr, error) {
	codes := l.Codes
	if len(codes) == 0 {
		codes = DefaultDNSBLCodes
	}
	var out [][2]netip.Addr
	for _, c := range codes {
		r, err := parseCodeRange(c)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// parseCodeRange reads "127.0.0.2", "127.0.0.4/30" or
// "127.0.0.10-127.0.0.11" as an inclusive range of IPv4 addresses.
func parseCodeRange(c string) ([2]netip.Addr, error) {
	c = strings.TrimSpace(c)
	bad := fmt.Errorf("%s is not an IPv4 address, prefix or range a-b", oneline.Quote(c))
	if lo, hi, ok := strings.Cut(c, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
		b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || !a.Is4() || !b.Is4() || b.Less(a) {
			return [2]netip.Addr{}, bad
		}
		return [2]netip.Addr{a, b}, nil
	}
	if strings.Contains(c, "/") {
		p, err := netip.ParsePrefix(c)
		if err != nil || !p.Addr().Is4() {
			return [2]netip.Addr{}, bad
		}
		p = p.Masked()
		last := p.Addr().As4()
		for i := p.Bits(); i < 32; i++ {
			last[i/8] |= 1 << (7 - i%8)
		}
		return [2]netip.Addr{p.Addr(), netip.AddrFrom4(last)}, nil
	}
	a, err := netip.ParseAddr(c)
	if err != nil || !a.Is4() {
		return [2]netip.Addr{}, bad
	}
	return [2]netip.Addr{a, a}, nil
}

// maxDNSBLLists bounds the lists, each of which costs lookups at every
// connection.
const maxDNSBLLists = 32

func (d *DNSBL) validate() []problem {
	var ps []problem
	if len(d.Lists) > maxDNSBLLists {
		ps = append(ps, problem{"dnsbl.lists", fmt.Sprintf("%d lists: at most %d (each costs lookups at every connection)", len(d.Lists), maxDNSBLLists)})
	}
	seen := map[string]bool{}
	for i := range d.Lists {
		l := &d.Lists[i]
		key := fmt.Sprintf("dnsbl.lists[%d]", i)
		zone := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(l.Zone), "."))
		l.Zone = zone
		switch {
		case zone == "":
			ps = append(ps, problem{key + ".zone", "must be set, e.g. \"zen.spamhaus.org\""})
		case !dnsname.Valid(zone) || !strings.Contains(zone, "."):
			ps = append(ps, problem{key + ".zone", fmt.Sprintf("%s is not a domain name of two labels or more", oneline.Quote(zone))})
		case seen[zone+" "+l.Type]:
			ps = append(ps, problem{key + ".zone", fmt.Sprintf("%s is listed twice", zone)})
		}
		seen[zone+" "+l.Type] = true
		switch l.Type {
		case DNSBLTypeIP:
			if len(l.Check) > 0 {
				ps = append(ps, problem{key + ".check", "is for domain lists: an IP list is asked about the client's address"})
			}
		case DNSBLTypeDomain:
			for _, c := range l.Check {
				if !slices.Contains(DNSBLChecks, c) {
					ps = append(ps, problem{key + ".check", fmt.Sprintf("%s is not one of %s", oneline.Quote(c), strings.Join(DNSBLChecks, ", "))})
				}
			}
		default:
			ps = append(ps, problem{key + ".type", fmt.Sprintf("%s is neither %q nor %q", oneline.Quote(l.Type), DNSBLTypeIP, DNSBLTypeDomain)})
		}
		if w := l.EffectiveWeight(); math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
			ps = append(ps, problem{key + ".weight", "must be 0 (listings logged, counted for nothing) or a positive number (unset is 1)"})
		}
		if _, err := l.CodeRanges(); err != nil {
			ps = append(ps, problem{key + ".codes", err.Error()})
		}
		if l.Mask < 0 || l.Mask > 255 {
			ps = append(ps, problem{key + ".mask", "must be 0 (any answer) to 255: the bits of the answer's last octet that count"})
		}
		if l.Server != "" {
			if _, err := ServerAddr(l.Server); err != nil {
				ps = append(ps, problem{key + ".server", err.Error()})
			}
		}
	}
	for _, t := range []struct {
		key string
		v   float64
	}{{"dnsbl.reject_score", d.RejectScore}, {"dnsbl.greylist_score", d.GreylistScore}, {"dnsbl.strike_score", d.StrikeScore}, {"dnsbl.callback_score", d.CallbackScore}} {
		if math.IsNaN(t.v) || math.IsInf(t.v, 0) || t.v < 0 {
			ps = append(ps, problem{t.key, "must be a positive number, or 0 for off"})
		}
	}
	return ps
}

// DNSBLServer is the [dnsbl_server] section: maxwell answers RFC 5782
// queries for its own blacklist (watch's rats, demerit bans, blacklist
// add), so that other sites' MTAs and filters can use it.
type DNSBLServer struct {
	Listen  string   `toml:"listen"`  // host:port, UDP and TCP; "" is off
	Zone    string   `toml:"zone"`    // the zone served, e.g. "rats.example.org"
	TTL     Duration `toml:"ttl"`     // of the answers
	Refresh Duration `toml:"refresh"` // how often the blacklist is read again from the store
}

func (d *DNSBLServer) validate() []problem {
	if d.Listen == "" {
		return nil
	}
	var ps []problem
	if _, err := netip.ParseAddrPort(d.Listen); err != nil {
		ps = append(ps, problem{"dnsbl_server.listen", fmt.Sprintf("%s is not an address:port, e.g. \"127.0.0.1:5353\"", oneline.Quote(d.Listen))})
	}
	d.Zone = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d.Zone), "."))
	if d.Zone == "" || !dnsname.Valid(d.Zone) || !strings.Contains(d.Zone, ".") {
		ps = append(ps, problem{"dnsbl_server.zone", fmt.Sprintf("%s is not a domain name of two labels or more (required with listen)", oneline.Quote(d.Zone))})
	}
	if d.TTL <= 0 {
		ps = append(ps, problem{"dnsbl_server.ttl", "must be a positive duration"})
	}
	if d.Refresh <= 0 {
		ps = append(ps, problem{"dnsbl_server.refresh", "must be a positive duration"})
	}
	return ps
}
