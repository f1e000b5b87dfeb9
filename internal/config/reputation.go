package config

import (
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/internal/oneline"
)

// Reputation is the [reputation] section: what maxwell learns of the
// senders it sees (their SPF-pass domains, verified HELO names and
// networks), how that changes its decisions, and the peers it asks and
// answers, as bms.py's GOSSiP server did.
type Reputation struct {
	Enabled         bool     `toml:"enabled"`
	HalfLife        Duration `toml:"half_life"`
	Prior           float64  `toml:"prior"`
	MinObservations float64  `toml:"min_observations"`
	SkipGreylist    float64  `toml:"skip_greylist"`
	GreylistBelow   float64  `toml:"greylist_below"`
	CallbackBelow   float64  `toml:"callback_below"`
	RefuseBelow     float64  `toml:"refuse_below"`
	// The weights of the events learned, good then bad.
	GreylistPassed  float64 `toml:"greylist_passed"`
	Accepted        float64 `toml:"accepted"`
	Refused         float64 `toml:"refused"`
	SPFFail         float64 `toml:"spf_fail"`
	CallbackRefused float64 `toml:"callback_refused"`
	Attachment      float64 `toml:"attachment"`
	Rat             float64 `toml:"rat"`
	Ban             float64 `toml:"ban"`
	// The peer protocol.
	Listen         string   `toml:"listen"`
	PeerTimeout    Duration `toml:"peer_timeout"`
	PeerCacheTTL   Duration `toml:"peer_cache_ttl"`
	PeerCacheSize  int      `toml:"peer_cache_size"`
	MaxPeerQueries int      `toml:"max_peer_queries"`
	PeerRate       int      `toml:"peer_rate"`
	Peers          []Peer   `toml:"peers"`
}

// Peer is one [[reputation.peers]] entry: a site maxwell asks, and
// answers, signing with the secret the two share.
type Peer struct {
	Name   string   `toml:"name"`
	URL    string   `toml:"url" redact:"password"` // a password in it is one
	Secret string   `toml:"secret" redact:"secret"`
	Weight *float64 `toml:"weight"` // nil: DefaultPeerWeight
}

// DefaultPeerWeight is the weight of a peer whose entry sets none.
const DefaultPeerWeight = 0.3

// EffectiveWeight is the peer's weight, DefaultPeerWeight when unset.
func (p *Peer) EffectiveWeight() float64 {
	if p.Weight == nil {
		return DefaultPeerWeight
	}
	return *p.Weight
}

// MinSecretLength is the length below which a peer's secret is warned
// about: 16 random bytes, written as 22 or more characters.
const MinSecretLength = 22

// defaultReputation is [reputation] as maxwell runs without a file: off.
func defaultReputation() Reputation {
	return Reputation{
		HalfLife:        Duration(30 * 24 * time.Hour),
		Prior:           5,
		MinObservations: 5,
		SkipGreylist:    0.5,
		GreylistBelow:   -0.2,
		CallbackBelow:   -0.4,
		RefuseBelow:     0, // off: see docs/cooperation.md, Limits
		GreylistPassed:  1,
		Accepted:        1,
		Refused:         1,
		SPFFail:         2,
		CallbackRefused: 3,
		Attachment:      3,
		Rat:             5,
		Ban:             5,
		Listen:          "127.0.0.1:8026",
		PeerTimeout:     Duration(300 * time.Millisecond),
		PeerCacheTTL:    Duration(10 * time.Minute),
		PeerCacheSize:   10000,
		MaxPeerQueries:  6,
		PeerRate:        20,
	}
}

// validate checks the thresholds, weights and peers.
func (r *Reputation) validate() []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{"reputation." + key, fmt.Sprintf(format, args...)})
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if r.HalfLife <= 0 {
		add("half_life", "must be a positive duration")
	}
	if !finite(r.Prior) || r.Prior <= 0 {
		add("prior", "must be a positive number (it keeps a few events from making a verdict)")
	}
	if !finite(r.MinObservations) || r.MinObservations < 0 {
		add("min_observations", "must not be negative")
	}
	if !finite(r.SkipGreylist) || r.SkipGreylist < 0 || r.SkipGreylist > 1 {
		add("skip_greylist", "must be between 0 (off) and 1")
	}
	for _, t := range []struct {
		key string
		v   float64
	}{{"greylist_below", r.GreylistBelow}, {"callback_below", r.CallbackBelow}, {"refuse_below", r.RefuseBelow}} {
		if !finite(t.v) || t.v < -1 || t.v > 0 {
			add(t.key, "must be between -1 and 0 (off)")
		}
	}
	for _, w := range []struct {
		key string
		v   float64
	}{
		{"greylist_passed", r.GreylistPassed}, {"accepted", r.Accepted}, {"refused", r.Refused}, {"spf_fail", r.SPFFail},
		{"callback_refused", r.CallbackRefused}, {"attachment", r.Attachment}, {"rat", r.Rat}, {"ban", r.Ban},
	} {
		if !finite(w.v) || w.v < 0 || w.v > 100 {
			add(w.key, "must be between 0 (not learned) and 100")
		}
	}
	if r.Listen != "" {
		if _, err := netip.ParseAddrPort(r.Listen); err != nil {
			add("listen", "%s is not an address:port, e.g. \"127.0.0.1:8026\"", oneline.Quote(r.Listen))
		}
	}
	if r.PeerTimeout <= 0 {
		add("peer_timeout", "must be a positive duration")
	}
	if r.PeerCacheTTL < 0 {
		add("peer_cache_ttl", "must not be negative (0: answers are not kept)")
	}
	if r.PeerCacheSize < 0 {
		add("peer_cache_size", "must not be negative")
	}
	if r.MaxPeerQueries < 0 {
		add("max_peer_queries", "must not be negative (0: peers are not asked)")
	}
	if r.PeerRate < 1 {
		add("peer_rate", "must be at least 1")
	}
	names := map[string]bool{}
	for i := range r.Peers {
		p := &r.Peers[i]
		switch {
		case p.Name == "" || len(p.Name) > 64 || strings.ContainsAny(p.Name, " \t\r\n\"\\"):
			add("peers", "peer %d: name %s: give each peer a short name without spaces or quotes", i+1, oneline.Quote(p.Name))
		case names[p.Name]:
			add("peers", "peer %s is named twice", oneline.Quote(p.Name))
		}
		names[p.Name] = true
		if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("peers", "peer %s: url %s is not an http:// or https:// URL", oneline.Quote(p.Name), oneline.Quote(p.URL))
		}
		if p.Secret == "" {
			add("peers", "peer %s: no secret: the requests and answers are signed with it", oneline.Quote(p.Name))
		}
		if w := p.EffectiveWeight(); !finite(w) || w <= 0 || w > 1 {
			add("peers", "peer %s: weight %v must be above 0 and at most 1: a peer's word never counts more than the site's own (to stop asking a peer, remove it)", oneline.Quote(p.Name), w)
		}
	}
	return ps
}

// Warnings are what is allowed but unwise: short secrets.
func (r *Reputation) Warnings() []string {
	var ws []string
	for _, p := range r.Peers {
		if p.Secret != "" && len(p.Secret) < MinSecretLength {
			ws = append(ws, fmt.Sprintf("reputation.peers: peer %s: the secret is %d characters; use at least %d random ones (openssl rand -base64 24)",
				oneline.Quote(p.Name), len(p.Secret), MinSecretLength))
		}
	}
	return ws
}
