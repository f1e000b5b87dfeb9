package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/internal/dnsname"
	"github.com/maxwell-milter/maxwell/internal/oneline"
)

// PresetKamaelia is [greylist] preset = "kamaelia": the timers of the
// Kamaelia greylisting server's isGreylisted, for its users.
const PresetKamaelia = "kamaelia"

// kamaeliaTimers are the Kamaelia server's constants: min_defer_time
// 3600 s, too_soon 180 s, max_defer_time 25000 s, max_grey 3000000 s.
var kamaeliaTimers = struct{ delay, tooSoon, window, ttl Duration }{
	Duration(3600 * time.Second), Duration(180 * time.Second), Duration(25000 * time.Second), Duration(3000000 * time.Second),
}

// applyPreset sets the timers of the preset that the file does not set
// itself (isDefined reports which keys it does).
func (g *Greylist) applyPreset(isDefined func(key ...string) bool) {
	if g.Preset != PresetKamaelia {
		return
	}
	for _, t := range []struct {
		key string
		d   *Duration
		v   Duration
	}{
		{"delay", &g.Delay, kamaeliaTimers.delay},
		{"too_soon", &g.TooSoon, kamaeliaTimers.tooSoon},
		{"retry_window", &g.RetryWindow, kamaeliaTimers.window},
		{"pass_ttl", &g.PassTTL, kamaeliaTimers.ttl},
	} {
		if !isDefined("greylist", t.key) {
			*t.d = t.v
		}
	}
}

// Triple is one of Kamaelia's whitelisted triples, written as an array of
// three strings. Standard: ["IP or CIDR", "sender", "recipient"].
// Non-standard (for clients that retry from other addresses):
// ["claimed HELO name", "IP prefix", "recipient"], where the prefix is a
// CIDR or Kamaelia's dotted form ("192.0.2" for 192.0.2.0/24).
type Triple struct {
	Helo   string       // non-standard triples only, lower case
	Client netip.Prefix // the client addresses
	Sender string       // standard triples only, lower case; "" is the null sender
	Rcpt   string       // lower case
	fields [3]string    // as written, trimmed and lower case: what MarshalTOML writes back
}

// UnmarshalTOML reads the array of three strings. Which kind it is comes
// from its key; both are parsed alike except for the first two fields.
func (tr *Triple) UnmarshalTOML(v any) error {
	arr, ok := v.([]any)
	if !ok || len(arr) != 3 {
		what := kindOfValue(v)
		if ok {
			what = fmt.Sprintf("a list of %d", len(arr))
		}
		return fmt.Errorf("a triple is a list of three strings, not %s", what)
	}
	var f [3]string
	for i, x := range arr {
		if f[i], ok = x.(string); !ok {
			return fmt.Errorf("a triple is a list of three strings, not a list holding %s", kindOfValue(x))
		}
		f[i] = strings.ToLower(strings.TrimSpace(f[i]))
	}
	tr.fields = f
	if !strings.Contains(f[2], "@") {
		return fmt.Errorf("triple %s: %s is not a recipient address", oneline.Quote(tr.String()), oneline.Quote(f[2]))
	}
	tr.Rcpt = f[2]
	if p, err := parseClientPrefix(f[0]); err == nil { // standard: IP, sender, recipient
		tr.Client = p
		tr.Sender = strings.Trim(f[1], "<>")
		return nil
	}
	// non-standard: HELO, IP prefix, recipient
	p, err := parseClientPrefix(f[1])
	if err != nil || !dnsname.Valid(f[0]) {
		return fmt.Errorf("triple %s: want [IP or CIDR, sender, recipient] or [HELO name, IP prefix, recipient]", oneline.Quote(tr.String()))
	}
	tr.Helo, tr.Client = f[0], p
	return nil
}

// Standard reports whether this is an (IP, sender, recipient) triple.
func (tr Triple) Standard() bool { return tr.Helo == "" }

func (tr Triple) String() string { return strings.Join(tr.fields[:], " ") }

// MarshalTOML writes the triple back as the list of three strings it
// was read from.
func (tr Triple) MarshalTOML() ([]byte, error) {
	return []byte("[" + tomlQuote(tr.fields[0]) + ", " + tomlQuote(tr.fields[1]) + ", " + tomlQuote(tr.fields[2]) + "]"), nil
}

// parseClientPrefix reads an address, a CIDR, or a dotted IPv4 prefix of
// one to three octets ("192.0.2").
func parseClientPrefix(s string) (netip.Prefix, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()), nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	octets := strings.Split(strings.TrimSuffix(s, "."), ".")
	if len(octets) < 4 {
		full := append(octets, make([]string, 4-len(octets))...)
		for i := len(octets); i < 4; i++ {
			full[i] = "0"
		}
		if ip, err := netip.ParseAddr(strings.Join(full, ".")); err == nil {
			return netip.PrefixFrom(ip, 8*len(octets)), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%s is not an IP address, CIDR or dotted prefix", oneline.Quote(s))
}

func (g *Greylist) validate() []problem {
	var ps []problem
	if g.Preset != "" && g.Preset != PresetKamaelia {
		ps = append(ps, problem{"greylist.preset", fmt.Sprintf("%q is not a preset: \"\" (maxwell's timers) or %q", g.Preset, PresetKamaelia)})
	}
	if g.TooSoon < 0 {
		ps = append(ps, problem{"greylist.too_soon", "must not be negative (0 turns it off)"})
	}
	if g.TooSoon >= g.Delay {
		ps = append(ps, problem{"greylist.too_soon", fmt.Sprintf("must be shorter than greylist.delay (%s): a retry after the delay passes", g.Delay)})
	}
	if g.RetryWindow <= g.Delay {
		ps = append(ps, problem{"greylist.retry_window", fmt.Sprintf("must be longer than greylist.delay (%s)", g.Delay)})
	}
	if g.IPv4Prefix < 8 || g.IPv4Prefix > 32 {
		ps = append(ps, problem{"greylist.ipv4_prefix", "must be between 8 and 32"})
	}
	if g.IPv6Prefix < 16 || g.IPv6Prefix > 128 {
		ps = append(ps, problem{"greylist.ipv6_prefix", "must be between 16 and 128"})
	}
	if g.AutoWhitelistClients < 0 {
		ps = append(ps, problem{"greylist.auto_whitelist_clients", "must not be negative (0 turns it off)"})
	}
	for _, r := range g.WhitelistRecipients {
		if !strings.Contains(r, "@") {
			ps = append(ps, problem{"greylist.whitelist_recipients", fmt.Sprintf("%s is not an address, user@ or @domain", oneline.Quote(r))})
		}
	}
	for _, tr := range g.WhitelistedTriples {
		if !tr.Standard() {
			ps = append(ps, problem{"greylist.whitelisted_triples", fmt.Sprintf("%s: want [IP or CIDR, sender, recipient]", oneline.Quote(tr.String()))})
		}
	}
	for _, tr := range g.WhitelistedNonstd {
		if tr.Standard() {
			ps = append(ps, problem{"greylist.whitelisted_nonstandard_triples", fmt.Sprintf("%s: want [HELO name, IP prefix, recipient]", oneline.Quote(tr.String()))})
		}
	}
	return ps
}

func (s *Store) validate() []problem {
	var ps []problem
	switch s.Driver {
	case DriverSQLite:
		if s.Path == "" {
			ps = append(ps, problem{"store.path", "must name the SQLite file"})
		}
	case DriverPostgres:
		if s.DSN == "" {
			ps = append(ps, problem{"store.dsn", "the postgres driver needs a connection string"})
		}
	default:
		ps = append(ps, problem{"store.driver", fmt.Sprintf("%s is not %q or %q", oneline.Quote(s.Driver), DriverSQLite, DriverPostgres)})
	}
	if s.ExpireBatch < 1 {
		ps = append(ps, problem{"store.expire_batch", "must be at least 1"})
	}
	if s.CacheTTL < 0 {
		ps = append(ps, problem{"store.cache_ttl", "must not be negative (0 turns the cache off)"})
	}
	return ps
}
