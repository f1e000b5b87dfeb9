package spf

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/resolver"
)

// The limits of RFC 7208 §4.6.4.
const (
	maxLookups     = 10 // terms that cause DNS lookups: include, a, mx, ptr, exists, redirect
	maxVoidLookups = 2  // lookups of those terms that find no such name, or no records
	maxMXNames     = 10 // MX records one mx term may have
	maxPTRNames    = 10 // PTR names the ptr term and %{p} validate
)

// evaluation is one run of check_host() (RFC 7208 §4) and what it has
// counted and learned on the way. maxwell evaluates records itself,
// rather than through an SPF library, because which DNS question a term
// asks depends on the term and on the client's address family (§5.3,
// §5.4, §5.7), and a library's resolver interface does not say which term
// is asking.
type evaluation struct {
	res      *resolver.Resolver
	client   netip.Addr // unmapped: an IPv4-mapped IPv6 client is IPv4
	helo     string
	sender   string // local@domain, local "postmaster" when the sender had none
	delegate string
	guess    string
	record   string
	ptr      []string                         // the client's PTR names, if known
	trace    func(format string, args ...any) // nil unless tracing; callers test it first, so that untraced checks box no arguments

	lookups, voids int
	names          []string // the client's PTR names, the first ten, once looked up
	namesDone      bool
	confirmed      map[string]bool // PTR names checked against the client's address

	guessed   bool // the checked domain publishes no record: a guess or Query.Record stood in
	delegated bool // the checked domain's record came from [spf] delegate
}

// verdict is how an evaluation ended: its result, and the term that
// decided it, or the problem for permerror and temperror.
type verdict struct {
	result  Result
	term    string // "-all", "include:spf.example.net"; "default" when nothing matched
	problem string
}

// The problem names domains a macro may have made of the sender's bytes:
// control characters become spaces.
func permerror(format string, args ...any) verdict {
	return verdict{result: PermError, problem: oneline.Clean(fmt.Sprintf(format, args...))}
}

func temperror(err error) verdict {
	return verdict{result: TempError, problem: oneline.Clean(err.Error())}
}

var qualifiers = map[byte]Result{'+': Pass, '-': Fail, '~': SoftFail, '?': Neutral}

// checkHost evaluates the SPF record of domain. top is the checked
// domain itself, for which a substitute record may stand in; included and
// redirected domains are judged by their published records only.
func (ev *evaluation) checkHost(ctx context.Context, domain string, top bool) verdict {
	record, v := ev.recordOf(ctx, domain, top)
	if v.result != "" {
		return v
	}
	if err := checkSyntax(record); err != nil {
		return permerror("syntax error in the SPF record of %s: %v: %q", domain, err, record)
	}
	redirect := ""
	for _, term := range strings.Split(record, " ")[1:] {
		if term == "" {
			continue
		}
		if name, value, ok := modifier(term); ok {
			if strings.EqualFold(name, "redirect") {
				redirect = value
			}
			continue // exp= explains a fail to the sender; maxwell's replies say their own
		}
		q, mech := Pass, term
		if r, ok := qualifiers[term[0]]; ok {
			q, mech = r, term[1:]
		}
		matched, v := ev.mechanism(ctx, mech, domain)
		if ev.trace != nil {
			ev.trace("  %s: match=%v%s", term, matched, traceResult(v))
		}
		if v.result != "" {
			return v
		}
		if matched {
			return verdict{result: q, term: qualifier(q) + mech}
		}
	}
	if redirect == "" {
		return verdict{result: Neutral, term: "default"}
	}
	// §6.1: the redirected domain's result is this domain's, but a domain
	// that publishes nothing is an error in this record.
	target, v := ev.target(ctx, "redirect="+redirect, redirect, domain)
	if v.result != "" {
		return v
	}
	v = ev.checkHost(ctx, target, false)
	if v.result == None {
		return permerror("redirect=%s in the SPF record of %s: %s publishes no SPF record", redirect, domain, target)
	}
	return v
}

func traceResult(v verdict) string {
	if v.result == "" {
		return ""
	}
	return ", " + string(v.result) + ": " + v.problem
}

// recordOf returns the SPF record of domain, or how the evaluation ends
// without one: none, or an error.
func (ev *evaluation) recordOf(ctx context.Context, domain string, top bool) (string, verdict) {
	if top && ev.record != "" {
		ev.guessed = true
		return ev.record, verdict{}
	}
	// §4.3: a name that is not a multi-label domain has no record; it is
	// not asked for.
	var txts []string
	if isMultiLabel(domain) {
		var err error
		if txts, err = ev.txt(ctx, domain); err != nil {
			return "", temperror(err)
		}
	}
	records := spfRecords(txts)
	switch {
	case len(records) > 1:
		return "", permerror("%s publishes more than one SPF record", domain)
	case len(records) == 1:
		return records[0], verdict{}
	case !top:
		return "", verdict{result: None}
	}
	if ev.delegate != "" && isMultiLabel(domain) {
		sub := strings.TrimSuffix(domain, ".") + "._spf." + ev.delegate
		dtxts, err := ev.txt(ctx, sub)
		if err != nil {
			return "", temperror(err)
		}
		if records = spfRecords(dtxts); len(records) == 1 {
			ev.delegated = true
			if ev.trace != nil {
				ev.trace("  %s publishes no SPF record: the record of %s stands in", domain, sub)
			}
			return records[0], verdict{}
		}
	}
	if ev.guess != "" {
		ev.guessed = true
		if ev.trace != nil {
			ev.trace("  %s publishes no SPF record: the guess %q stands in", domain, ev.guess)
		}
		return ev.guess, verdict{}
	}
	return "", verdict{result: None}
}

// spfRecords picks the SPF records out of a name's TXT strings (§4.5).
func spfRecords(txts []string) []string {
	var out []string
	for _, t := range txts {
		if isRecord(t) {
			out = append(out, t)
		}
	}
	return out
}

// isMultiLabel reports whether name can be checked at all (§4.3): a
// domain name of at least two labels, none empty or over 63 octets.
func isMultiLabel(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 || !strings.Contains(name, ".") {
		return false
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

// mechanism evaluates one mechanism of domain's record, its qualifier
// removed. A verdict with a result ends the evaluation: an error.
func (ev *evaluation) mechanism(ctx context.Context, mech, domain string) (bool, verdict) {
	name, arg := mech, ""
	if i := strings.IndexAny(mech, ":/"); i >= 0 {
		name, arg = mech[:i], mech[i:]
	}
	switch strings.ToLower(name) {
	case "all":
		return true, verdict{}
	case "ip4", "ip6":
		return ev.ipMatch(arg[1:]), verdict{}
	case "include":
		return ev.include(ctx, mech, arg[1:], domain)
	case "a":
		spec, v4, v6 := dualCIDR(arg, domain)
		target, v := ev.target(ctx, mech, spec, domain)
		if v.result != "" {
			return false, v
		}
		addrs, v := ev.addrs(ctx, mech, domain, target, ev.client.Is4())
		return ev.within(addrs, v4, v6), v
	case "mx":
		spec, v4, v6 := dualCIDR(arg, domain)
		target, v := ev.target(ctx, mech, spec, domain)
		if v.result != "" {
			return false, v
		}
		return ev.mx(ctx, mech, domain, target, v4, v6)
	case "ptr":
		spec := domain
		if arg != "" {
			spec = arg[1:]
		}
		target, v := ev.target(ctx, mech, spec, domain)
		if v.result != "" {
			return false, v
		}
		names, void := ev.clientNames(ctx)
		if v := ev.countVoid(mech, domain, void); v.result != "" {
			return false, v
		}
		// §5.5: a validated name at or below the target matches; only
		// those can, so only those are validated.
		for _, n := range names {
			if isSubdomain(n, target) && ev.confirms(ctx, n) {
				return true, verdict{}
			}
		}
		return false, verdict{}
	case "exists":
		target, v := ev.target(ctx, mech, arg[1:], domain)
		if v.result != "" {
			return false, v
		}
		// §5.7: an A lookup, whatever the client's address family.
		addrs, v := ev.addrs(ctx, mech, domain, target, true)
		return len(addrs) > 0, v
	}
	// checkSyntax refuses any other mechanism before evaluation starts.
	return false, permerror("unknown mechanism %q", name)
}

// target counts a term of domain's record that causes DNS lookups
// against the limit (§4.6.4, checked before the lookup, so the eleventh
// term is never evaluated) and expands the term's domain-spec.
func (ev *evaluation) target(ctx context.Context, term, spec, domain string) (string, verdict) {
	if ev.lookups++; ev.lookups > maxLookups {
		return "", permerror("more than %d DNS-querying terms (RFC 7208 section 4.6.4): %s in the SPF record of %s", maxLookups, term, domain)
	}
	return ev.expand(ctx, spec, domain), verdict{}
}

// include: the included domain's pass is a match; fail, softfail and
// neutral are not; none and errors end the evaluation (§5.2).
func (ev *evaluation) include(ctx context.Context, term, spec, domain string) (bool, verdict) {
	target, v := ev.target(ctx, term, spec, domain)
	if v.result != "" {
		return false, v
	}
	v = ev.checkHost(ctx, target, false)
	switch v.result {
	case Pass:
		return true, verdict{}
	case Fail, SoftFail, Neutral:
		return false, verdict{}
	case None:
		return false, permerror("%s in the SPF record of %s: %s publishes no SPF record", term, domain, target)
	}
	return false, v
}

// mx matches when the client is within v4/v6 of an address of one of
// target's MX hosts, asked in the client's address family.
func (ev *evaluation) mx(ctx context.Context, term, domain, target string, v4, v6 int) (bool, verdict) {
	hosts, nx, err := ev.mxHosts(ctx, target)
	if v := ev.countVoid(term, domain, nx || (err == nil && len(hosts) == 0)); v.result != "" {
		return false, v
	}
	if err != nil {
		return false, temperror(err)
	}
	if len(hosts) > maxMXNames {
		return false, permerror("%s in the SPF record of %s: %s has %d MX records, more than %d (RFC 7208 section 4.6.4)", term, domain, target, len(hosts), maxMXNames)
	}
	for _, h := range hosts {
		if h == "." || h == "" {
			continue // a null MX (RFC 7505) has no addresses
		}
		addrs, _, err := ev.lookupAddrs(ctx, h, ev.client.Is4())
		if err != nil {
			return false, temperror(err)
		}
		if ev.within(addrs, v4, v6) {
			return true, verdict{}
		}
	}
	return false, verdict{}
}

// addrs is the lookup of a or exists: target's A records (v4) or AAAA
// records. A void answer counts against the void limit.
func (ev *evaluation) addrs(ctx context.Context, term, domain, target string, v4 bool) ([]netip.Addr, verdict) {
	addrs, nx, err := ev.lookupAddrs(ctx, target, v4)
	if v := ev.countVoid(term, domain, nx || (err == nil && len(addrs) == 0)); v.result != "" {
		return nil, v
	}
	if err != nil {
		return nil, temperror(err)
	}
	return addrs, verdict{}
}

// countVoid counts a lookup that found nothing (§4.6.4): more than two
// end the evaluation, at once, even on the last term.
func (ev *evaluation) countVoid(term, domain string, void bool) verdict {
	if !void {
		return verdict{}
	}
	if ev.voids++; ev.voids > maxVoidLookups {
		return permerror("more than %d void DNS lookups (RFC 7208 section 4.6.4): %s in the SPF record of %s", maxVoidLookups, term, domain)
	}
	return verdict{}
}

// within reports whether the client is one of addrs, or within the given
// prefix length of one.
func (ev *evaluation) within(addrs []netip.Addr, v4, v6 int) bool {
	bits := v6
	if ev.client.Is4() {
		bits = v4
	}
	for _, a := range addrs {
		if p, err := a.Prefix(bits); err == nil && p.Contains(ev.client) {
			return true
		}
	}
	return false
}

// ipMatch: ip4 and ip6 match clients of their own family only (§5.6).
func (ev *evaluation) ipMatch(network string) bool {
	if strings.Contains(network, "/") {
		p, err := netip.ParsePrefix(network)
		return err == nil && p.Addr().Is4() == ev.client.Is4() && p.Contains(ev.client)
	}
	a, err := netip.ParseAddr(network)
	return err == nil && a == ev.client
}

// dualCIDR splits the argument of a or mx, ":domain/24//64", into the
// domain-spec (domain when none is given) and the prefix lengths, full
// when not given. A domain-spec may itself contain '/' (§12): only a
// trailing "/digits" is a length.
func dualCIDR(arg, domain string) (spec string, v4, v6 int) {
	v4, v6 = 32, 128
	if i := strings.LastIndex(arg, "//"); i >= 0 && isDigits(arg[i+2:]) {
		v6, _ = strconv.Atoi(arg[i+2:])
		arg = arg[:i]
	}
	if i := strings.LastIndexByte(arg, '/'); i >= 0 && isDigits(arg[i+1:]) {
		v4, _ = strconv.Atoi(arg[i+1:])
		arg = arg[:i]
	}
	if arg == "" {
		return domain, v4, v6
	}
	return arg[1:], v4, v6
}

// clientNames returns the client's PTR names, the first ten (§4.6.4),
// looked up once per evaluation. A failed reverse lookup is no names, not
// an error: the reverse zone belongs to the client's network, not to the
// domain whose record is evaluated. void is true for the call that looked
// and found no name.
func (ev *evaluation) clientNames(ctx context.Context) (names []string, void bool) {
	if ev.namesDone {
		return ev.names, false
	}
	ev.namesDone = true
	ptr, err := ev.ptrNames(ctx)
	if err != nil {
		return nil, false
	}
	ev.names = ptr[:min(len(ptr), maxPTRNames)]
	return ev.names, len(ptr) == 0
}

// confirms reports whether name resolves to the client's address, in its
// family (§5.5); a name whose lookup fails does not.
func (ev *evaluation) confirms(ctx context.Context, name string) bool {
	if ok, known := ev.confirmed[name]; known {
		return ok
	}
	addrs, _, err := ev.lookupAddrs(ctx, name, ev.client.Is4())
	ok := err == nil && slices.Contains(addrs, ev.client)
	if ev.confirmed == nil {
		ev.confirmed = map[string]bool{}
	}
	ev.confirmed[name] = ok
	return ok
}

// isSubdomain reports whether name is domain or below it, comparing
// labels with ASCII case folding only (RFC 4343).
func isSubdomain(name, domain string) bool {
	name, domain = strings.TrimSuffix(name, "."), strings.TrimSuffix(domain, ".")
	if len(name) < len(domain) || !asciiEqualFold(name[len(name)-len(domain):], domain) {
		return false
	}
	return len(name) == len(domain) || name[len(name)-len(domain)-1] == '.'
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
