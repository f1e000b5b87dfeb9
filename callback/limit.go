package callback

import (
	"strings"
	"sync"
	"time"
)

// Limiter bounds how many call-backs maxwell makes per hour, to each
// domain and in all, so that nobody can use it to flood a third party
// with connections or DSNs (backscatter).
type Limiter struct {
	mu        sync.Mutex
	perDomain int
	global    int
	window    time.Time // start of the current hour
	counts    map[string]int
	total     int
}

// NewLimiter allows perDomain call-backs to one domain and global in all
// per hour.
func NewLimiter(perDomain, global int) *Limiter {
	return &Limiter{perDomain: perDomain, global: global, counts: map[string]int{}}
}

// Allow counts a call-back to domain at now, if the limits allow it.
func (l *Limiter) Allow(domain string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= time.Hour {
		l.window, l.counts, l.total = now, map[string]int{}, 0 // the map never holds more than an hour's domains
	}
	domain = strings.ToLower(domain)
	if l.total >= l.global || l.counts[domain] >= l.perDomain {
		return false
	}
	l.total++
	l.counts[domain]++
	return true
}
