// Package reputation is maxwell's GOSSiP: a reputation per identity
// (the SPF-pass domain of a sender, a verified HELO name, a client
// network), learned from what maxwell decides, decaying with time, kept
// in the store that the MX hosts share; and a small signed protocol over
// HTTP by which sites ask each other for theirs. The policy engine calls
// it; it knows nothing of SMTP.
package reputation

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/internal/dnsname"
	"github.com/maxwell-milter/maxwell/store"
)

// MaxID bounds an identity: a prefix and a domain name of 255 octets.
const MaxID = 5 + 255

// The kinds of identity, as their IDs begin.
const (
	KindSPF  = "spf:"  // the domain the MAIL FROM (or a null sender's HELO) passed SPF for
	KindHelo = "helo:" // a HELO name verified: HELO SPF pass, or the client's forward-confirmed PTR name
	KindNet  = "net:"  // the client's network, as greylisting knows it (192.0.2.0/24, 2001:db8::/64)
)

// SPF is the identity of an SPF-pass domain, "" for none.
func SPF(domain string) string { return nameID(KindSPF, domain) }

// Helo is the identity of a verified HELO name, "" for none.
func Helo(name string) string { return nameID(KindHelo, name) }

func nameID(kind, name string) string {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == "" || len(kind)+len(name) > MaxID {
		return ""
	}
	return kind + name
}

// Net is the identity of a client network.
func Net(p netip.Prefix) string { return KindNet + p.Masked().String() }

// ErrBadID is an identity that is none of the kinds.
var ErrBadID = errors.New("not an identity: want spf:DOMAIN, helo:NAME, net:PREFIX, a domain or an IP address")

// Parse reads an identity as an administrator writes it: spf:DOMAIN,
// helo:NAME, net:PREFIX, or bare — a domain stands for spf:DOMAIN, an
// address or prefix for its network (v4bits, v6bits: [greylist]
// ipv4_prefix, ipv6_prefix).
func Parse(s string, v4bits, v6bits int) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxID {
		return "", fmt.Errorf("%w (%d characters, at most %d)", ErrBadID, len(s), MaxID)
	}
	bits := func(a netip.Addr) int {
		if a.Unmap().Is4() {
			return v4bits
		}
		return v6bits
	}
	netOf := func(v string) (string, bool) {
		if p, err := netip.ParsePrefix(v); err == nil {
			return Net(netip.PrefixFrom(p.Addr().Unmap(), min(p.Bits(), bits(p.Addr())))), true
		}
		if a, err := netip.ParseAddr(v); err == nil {
			p, _ := a.Unmap().Prefix(bits(a))
			return Net(p), true
		}
		return "", false
	}
	name := func(kind, v string) (string, error) {
		if !dnsname.Valid(strings.TrimSuffix(v, ".")) {
			return "", fmt.Errorf("%w: %q is not a domain name", ErrBadID, v)
		}
		return nameID(kind, v), nil
	}
	switch {
	case strings.HasPrefix(s, KindSPF):
		return name(KindSPF, s[len(KindSPF):])
	case strings.HasPrefix(s, KindHelo):
		return name(KindHelo, s[len(KindHelo):])
	case strings.HasPrefix(s, KindNet):
		if id, ok := netOf(s[len(KindNet):]); ok {
			return id, nil
		}
		return "", fmt.Errorf("%w: %q is not a network", ErrBadID, s)
	}
	if id, ok := netOf(s); ok {
		return id, nil
	}
	return name(KindSPF, s)
}

// Score is an identity's standing in [-1, 1] from its decayed counts:
// (good-bad)/(good+bad+prior). The prior keeps a few events from making
// a verdict: with prior 5, one bad message is -0.17, twenty are -0.8.
func Score(good, bad, prior float64) float64 {
	if d := good + bad + prior; d > 0 {
		return clamp((good - bad) / d)
	}
	return 0
}

// Own is the site's own knowledge of an identity at now: its score and
// the evidence behind it (the decayed good and bad counts together).
func Own(r store.Reputation, now time.Time, halfLife time.Duration, prior float64) (score, evidence float64) {
	r = r.At(now, halfLife)
	return Score(r.Good, r.Bad, prior), r.Good + r.Bad
}

// Combine weighs the peers' answers into the site's own score:
//
//	clamp(own + Σ weight_i · clamp(peer_i, -1, 1), -1, 1)
//
// with each weight in (0, 1]. Clamping moves nothing further from own,
// so the result differs from own by at most Σ weight_i, and whatever
// one peer answers moves it by at most that peer's weight: a lying peer
// can push a score no further than its weight. Failed answers count
// for nothing. It returns the score and the peers' part.
func Combine(own float64, answers []Answer) (score, peers float64) {
	for _, a := range answers {
		if a.Err == nil {
			peers += a.Weight * clamp(a.Score)
		}
	}
	return clamp(own + peers), peers
}

// clamp bounds v to [-1, 1]; NaN, which no comparison bounds, is 0.
func clamp(v float64) float64 {
	switch {
	case math.IsNaN(v):
		return 0
	case v < -1:
		return -1
	case v > 1:
		return 1
	}
	return v
}
