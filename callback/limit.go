package callback

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// ErrRateLimited is the outcome of a call-back the limits did not allow:
// no connection was made.
var ErrRateLimited = errors.New("too many call-backs")

// Limiter bounds how many call-backs maxwell makes per hour — to one
// domain, to one mail server address, and in all — so that nobody can
// use it to flood a third party with connections or DSNs (backscatter).
// The per-address bound keeps subdomains that share one MX host (as
// many as anyone cares to make up) within one domain's allowance.
type Limiter struct {
	mu        sync.Mutex
	perDomain int
	global    int
	window    time.Time // start of the current hour
	domains   map[string]int
	hosts     map[netip.Addr]int // by hostKey
	total     int
}

// NewLimiter allows perDomain call-backs to one domain, as many to one
// MX address, and global in all per hour.
func NewLimiter(perDomain, global int) *Limiter {
	return &Limiter{perDomain: perDomain, global: global}
}

// roll starts a new hour when the current one is over: the maps never
// hold more than an hour's domains and addresses.
func (l *Limiter) roll(now time.Time) {
	if l.domains == nil || now.Sub(l.window) >= time.Hour {
		l.window, l.domains, l.hosts, l.total = now, map[string]int{}, map[netip.Addr]int{}, 0
	}
}

// Allow counts a call-back to domain at now, if the limits allow it; if
// not, the error (ErrRateLimited) says which limit held.
func (l *Limiter) Allow(domain string, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll(now)
	domain = strings.ToLower(domain)
	switch {
	case l.total >= l.global:
		return fmt.Errorf("%w: %d an hour in all", ErrRateLimited, l.global)
	case l.domains[domain] >= l.perDomain:
		return fmt.Errorf("%w: %d an hour to %s", ErrRateLimited, l.perDomain, domain)
	}
	l.total++
	l.domains[domain]++
	return nil
}

// AllowHost counts a connection to the MX address a at now, if the
// per-domain limit, applied to the address, allows it.
func (l *Limiter) AllowHost(a netip.Addr, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll(now)
	k := hostKey(a)
	if l.hosts[k] >= l.perDomain {
		what := "mail server " + k.String()
		if a.Is6() {
			what = "mail servers in " + netip.PrefixFrom(k, 64).String()
		}
		return fmt.Errorf("%w: %d an hour to %s", ErrRateLimited, l.perDomain, what)
	}
	l.hosts[k]++
	return nil
}

// hostKey is what the per-address limit counts by: the address, or for
// IPv6 its /64 — one host can answer on every address of its subnet.
func hostKey(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a
}
