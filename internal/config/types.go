package config

import (
	"fmt"
	"log/syslog"
	"math"
	"net"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/internal/oneline"
)

// Duration is a time span written as a Go duration string ("90s", "10m")
// or, as in bms.py, a number of seconds.
type Duration time.Duration

// UnmarshalTOML accepts an integer (seconds) or a duration string.
func (d *Duration) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		*d = Duration(time.Duration(v) * time.Second)
		return nil
	case string:
		p, err := parseDuration(v)
		if err != nil {
			return fmt.Errorf("invalid duration %s (write e.g. \"90s\", \"10m\", \"35d\" or a number of seconds)", oneline.Quote(v))
		}
		*d = Duration(p)
		return nil
	}
	return fmt.Errorf("a duration is expected, not %s: write e.g. \"10m\" or a number of seconds", kindOfValue(v))
}

// parseDuration is time.ParseDuration with days in front: "35d",
// "1d12h".
func parseDuration(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseUint(days, 10, 16)
	if err != nil {
		return 0, err
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 {
			return 0, fmt.Errorf("invalid duration %s", oneline.Quote(s))
		}
		d += r
	}
	return d, nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as UnmarshalTOML reads it back: whole days as
// "35d", as the documentation writes them, anything else as Go does
// ("10m0s").
func (d Duration) MarshalText() ([]byte, error) {
	const day = Duration(24 * time.Hour)
	if d >= day && d%day == 0 && d/day <= math.MaxUint16 {
		return fmt.Appendf(nil, "%dd", d/day), nil
	}
	return []byte(d.String()), nil
}

// Socket is a milter listen address as administrators write it:
// libmilter style inet:PORT@HOST, inet6:PORT@HOST, unix:/path, local:/path,
// or Postfix style inet:HOST:PORT.
type Socket struct {
	Network string // "tcp", "tcp6" or "unix"
	Address string // host:port or a path
	text    string
}

// ParseSocket parses a listen address.
func ParseSocket(s string) (Socket, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Socket{}, fmt.Errorf("invalid socket %s: want inet:PORT@HOST, inet:HOST:PORT or unix:/path", oneline.Quote(s))
	}
	switch strings.ToLower(kind) {
	case "unix", "local":
		if !strings.HasPrefix(rest, "/") {
			return Socket{}, fmt.Errorf("invalid socket %s: a unix socket needs an absolute path", oneline.Quote(s))
		}
		return Socket{Network: "unix", Address: rest, text: s}, nil
	case "inet", "inet6":
		network := "tcp"
		if strings.ToLower(kind) == "inet6" {
			network = "tcp6"
		}
		var host, port string
		if p, h, ok := strings.Cut(rest, "@"); ok {
			port, host = p, h
		} else if h, p, err := net.SplitHostPort(rest); err == nil {
			host, port = h, p
		} else {
			port = rest // libmilter: inet:PORT listens on every address
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return Socket{}, fmt.Errorf("invalid socket %s: bad port %s", oneline.Quote(s), oneline.Quote(port))
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
			host = "localhost" // LOCALHOST and localhost. too: names are case-blind, and may end in a dot
		}
		return Socket{Network: network, Address: net.JoinHostPort(host, port), text: s}, nil
	}
	return Socket{}, fmt.Errorf("invalid socket %s: unknown kind %s (want inet, inet6, unix or local)", oneline.Quote(s), oneline.Quote(kind))
}

// MustSocket is ParseSocket for constants.
func MustSocket(s string) Socket {
	sk, err := ParseSocket(s)
	if err != nil {
		panic(err)
	}
	return sk
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Socket) UnmarshalText(b []byte) error {
	sk, err := ParseSocket(string(b))
	if err != nil {
		return err
	}
	*s = sk
	return nil
}

func (s Socket) String() string { return s.text }

// MarshalText writes the socket as it was written.
func (s Socket) MarshalText() ([]byte, error) { return []byte(s.text), nil }

// CheckHost refuses a TCP socket to listen on whose host is a name:
// maxwell listens on an address of this host, and a name would be looked
// up at every start (in the DNS, as like as not: a start that depends
// on it, and an answer that may not be this host's). localhost stands
// for the loopback address; no host at all, for every address.
func (s Socket) CheckHost() error {
	if s.Network == "unix" {
		return nil
	}
	host, port, _ := net.SplitHostPort(s.Address)
	if _, err := netip.ParseAddr(host); err == nil || host == "" || host == "localhost" {
		return nil
	}
	return fmt.Errorf("the host %s is not an address: write one of this host's addresses (inet:%s@127.0.0.1), localhost, or none (every address)", oneline.Quote(host), port)
}

// Loopback reports whether a TCP socket listens on loopback only. A unix
// socket counts as loopback.
func (s Socket) Loopback() bool {
	if s.Network == "unix" {
		return true
	}
	host, _, _ := net.SplitHostPort(s.Address)
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ExceptionPolicy is how a panic or internal error in a check is answered
// (bms.py: Milter.set_exception_policy).
type ExceptionPolicy string

// The exception policies.
const (
	ExceptionTempfail ExceptionPolicy = "tempfail"
	ExceptionContinue ExceptionPolicy = "continue"
	ExceptionReject   ExceptionPolicy = "reject"
)

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *ExceptionPolicy) UnmarshalText(b []byte) error {
	return oneOf(p, b, ExceptionTempfail, ExceptionContinue, ExceptionReject)
}

// BlockedAction is what happens to mail from a blocked sender.
type BlockedAction string

// The blocked-sender actions.
const (
	BlockedDefer  BlockedAction = "defer"
	BlockedReject BlockedAction = "reject"
)

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *BlockedAction) UnmarshalText(b []byte) error {
	return oneOf(a, b, BlockedDefer, BlockedReject)
}

// HostPattern matches a connecting client, as bms.py's internal_connect
// and trusted_relay did: a CIDR ("192.0.2.0/24"), an address, a glob over
// the address ("127.*") or a host name or glob matched against the
// client's forward-confirmed PTR name ("*.example.com").
type HostPattern struct {
	prefix netip.Prefix // valid for CIDR and address entries
	ipGlob string       // glob over the textual address
	name   string       // glob over the PTR name, lower case
	text   string
}

// ParseHostPattern parses one entry.
func ParseHostPattern(s string) (HostPattern, error) {
	t := strings.TrimSpace(s)
	hp := HostPattern{text: t}
	switch {
	case t == "":
		return hp, fmt.Errorf("empty host pattern")
	case strings.Contains(t, "/"):
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return hp, fmt.Errorf("invalid CIDR %s", oneline.Quote(t))
		}
		hp.prefix = p.Masked()
	default:
		if ip, err := netip.ParseAddr(t); err == nil {
			hp.prefix = netip.PrefixFrom(ip, ip.BitLen())
			break
		}
		if _, err := path.Match(t, ""); err != nil || strings.ContainsAny(t, " \t@") {
			return hp, fmt.Errorf("invalid host pattern %s", oneline.Quote(t))
		}
		if strings.Contains(t, ":") || strings.Trim(t, "0123456789.*?[]-!") == "" {
			hp.ipGlob = strings.ToLower(t)
		} else {
			hp.name = strings.ToLower(strings.TrimSuffix(t, "."))
		}
	}
	return hp, nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *HostPattern) UnmarshalText(b []byte) error {
	p, err := ParseHostPattern(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

func (h HostPattern) String() string { return h.text }

// MarshalText writes the pattern as it was written.
func (h HostPattern) MarshalText() ([]byte, error) { return []byte(h.text), nil }

// Match reports whether the client at ip, whose confirmed PTR name is ptr
// (empty if none), matches.
func (h HostPattern) Match(ip netip.Addr, ptr string) bool {
	switch {
	case h.prefix.IsValid():
		return h.prefix.Contains(ip.Unmap())
	case h.ipGlob != "":
		ok, _ := path.Match(h.ipGlob, ip.Unmap().String())
		return ok
	case ptr != "":
		ok, _ := path.Match(h.name, strings.ToLower(strings.TrimSuffix(ptr, ".")))
		return ok
	}
	return false
}

// MatchAny reports whether any pattern in ps matches.
func MatchAny(ps []HostPattern, ip netip.Addr, ptr string) bool {
	for _, p := range ps {
		if p.Match(ip, ptr) {
			return true
		}
	}
	return false
}

// DomainPattern is a domain or a glob over domains ("*.example.com"),
// matched case-insensitively, as bms.py's internal_domains.
type DomainPattern struct{ glob string }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *DomainPattern) UnmarshalText(b []byte) error {
	g := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(string(b)), "."))
	if _, err := path.Match(g, ""); err != nil || g == "" || strings.ContainsAny(g, " \t@/") {
		return fmt.Errorf("invalid domain pattern %s", oneline.Quote(string(b)))
	}
	d.glob = g
	return nil
}

// NewDomainPattern returns a pattern for tests and defaults.
func NewDomainPattern(s string) (DomainPattern, error) {
	var d DomainPattern
	err := d.UnmarshalText([]byte(s))
	return d, err
}

func (d DomainPattern) String() string { return d.glob }

// MarshalText writes the pattern as it matches: lower case, without a
// final dot.
func (d DomainPattern) MarshalText() ([]byte, error) { return []byte(d.glob), nil }

// Match reports whether domain matches.
func (d DomainPattern) Match(domain string) bool {
	ok, _ := path.Match(d.glob, strings.ToLower(strings.TrimSuffix(domain, ".")))
	return ok
}

// WordPattern compiles a porn_words entry: case-insensitive, with the
// character classes {a} {e} {i} {o} for the usual substitutions.
func WordPattern(w string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("(?i)")
	for rest := w; rest != ""; {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:open]))
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("word %s: unclosed {", oneline.Quote(w))
		}
		class, ok := wordClasses[rest[open+1:open+end]]
		if !ok {
			return nil, fmt.Errorf("word %s: unknown class %s (known: {a} {e} {i} {o})", oneline.Quote(w), oneline.Quote(rest[open:open+end+1]))
		}
		b.WriteString(class)
		rest = rest[open+end+1:]
	}
	if len(strings.TrimSpace(w)) < 2 {
		return nil, fmt.Errorf("word %s is too short (bms.py ignored words under 2 characters)", oneline.Quote(w))
	}
	return regexp.Compile(b.String())
}

var wordClasses = map[string]string{
	"a": "[a@ãä]",
	"e": "[eë]",
	"i": "[i1í]",
	"o": "[o0ö]",
}

// ServerAddr normalises a DNS server ("192.0.2.53", "[::1]:5353") to
// host:port.
func ServerAddr(s string) (string, error) {
	if host, _, err := net.SplitHostPort(s); err == nil {
		// An address, not a name: a name would be looked up by the
		// system's resolver, not maxwell's.
		if _, err := netip.ParseAddr(host); err == nil {
			return s, nil
		}
	}
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return net.JoinHostPort(ip.String(), "53"), nil
	}
	return "", fmt.Errorf("invalid DNS server %s: want an address (not a name), optionally with :port (53 by default)", oneline.Quote(s))
}

// SyslogFacility maps a facility name to its syslog value.
func SyslogFacility(name string) (syslog.Priority, error) {
	f, ok := facilities[strings.ToLower(name)]
	if !ok {
		return 0, fmt.Errorf("unknown syslog facility %s", oneline.Quote(name))
	}
	return f, nil
}

var facilities = map[string]syslog.Priority{
	"mail": syslog.LOG_MAIL, "daemon": syslog.LOG_DAEMON, "user": syslog.LOG_USER,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2,
	"local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5,
	"local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// MatchDomain reports whether domain matches any of the patterns.
func MatchDomain(patterns []DomainPattern, domain string) bool {
	for _, p := range patterns {
		if p.Match(domain) {
			return true
		}
	}
	return false
}

// Size is a number of bytes, written as an integer or with a unit:
// "512KiB", "20MiB", "1GiB" (also KB, MB, GB, as powers of 1024).
type Size int64

// UnmarshalTOML accepts an integer (bytes) or a string with a unit.
func (s *Size) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return fmt.Errorf("invalid size %d: must not be negative", v)
		}
		*s = Size(v)
		return nil
	case string:
		t := strings.TrimSpace(v)
		num := strings.TrimRight(t, "KMGiBb ")
		unit := strings.ToUpper(strings.TrimSpace(t[len(num):]))
		n, err := strconv.ParseUint(num, 10, 40)
		mult, ok := map[string]uint64{"": 1, "B": 1, "KB": 1 << 10, "KIB": 1 << 10, "MB": 1 << 20, "MIB": 1 << 20, "GB": 1 << 30, "GIB": 1 << 30}[unit]
		if err != nil || !ok {
			return fmt.Errorf("invalid size %s (write e.g. 1048576, \"512KiB\" or \"20MiB\")", oneline.Quote(v))
		}
		*s = Size(n * mult)
		return nil
	}
	return fmt.Errorf("a size is expected, not %s: write a number of bytes or a string like \"20MiB\"", kindOfValue(v))
}

// MarshalTOML writes s with the largest unit it is a whole number of
// ("20MiB"), or as a number of bytes.
func (s Size) MarshalTOML() ([]byte, error) {
	for _, u := range []struct {
		name string
		n    Size
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s > 0 && s%u.n == 0 && s/u.n < 1<<40 { // the bound UnmarshalTOML reads a number with a unit to
			return []byte(`"` + strconv.FormatInt(int64(s/u.n), 10) + u.name + `"`), nil
		}
	}
	return strconv.AppendInt(nil, int64(s), 10), nil
}

// MalformedAction is what [defang] malformed does with external mail
// whose MIME structure cannot be recovered.
type MalformedAction string

// The malformed actions.
const (
	MalformedReject     MalformedAction = "reject"
	MalformedAccept     MalformedAction = "accept"
	MalformedQuarantine MalformedAction = "quarantine" // accepted into the MTA's hold queue
)

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *MalformedAction) UnmarshalText(b []byte) error {
	return oneOf(a, b, MalformedReject, MalformedAccept, MalformedQuarantine)
}

// LargeAction is what [milter] large_message does with a message too
// large to scan.
type LargeAction string

// The large-message actions.
const (
	LargeAccept   LargeAction = "accept"
	LargeTempfail LargeAction = "tempfail"
	LargeReject   LargeAction = "reject"
)

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *LargeAction) UnmarshalText(b []byte) error {
	return oneOf(a, b, LargeAccept, LargeTempfail, LargeReject)
}

// oneOf sets *v to the choice b names (any case), or says which there are.
func oneOf[T ~string](v *T, b []byte, choices ...T) error {
	want := T(strings.ToLower(string(b)))
	names := make([]string, len(choices))
	for i, c := range choices {
		if c == want {
			*v = c
			return nil
		}
		names[i] = string(c)
	}
	return fmt.Errorf("%s is not one of %s", oneline.Quote(string(b)), strings.Join(names, ", "))
}
