package resolver

import (
	"sync"
	"time"
)

// countMinutes is how far back Counts remembers.
const countMinutes = 60

// Tally is what Counts counts.
type Tally struct {
	Queries int // questions sent to the servers (not answered from the cache)
	Errors  int // of those, failed: every server timed out, or answered SERVFAIL or the like
	Hits    int // questions answered from the cache
}

// Counts tallies lookups minute by minute over the last hour, for the
// web console's overview, which shows how DNS fares lately; one Counts
// can serve the resolvers a daemon makes across its reloads. It is safe
// for concurrent use.
type Counts struct {
	now  func() time.Time
	mu   sync.Mutex
	mins [countMinutes]struct {
		at int64 // the Unix minute counted, or an older one
		Tally
	}
}

// NewCounts returns empty counts on the clock now.
func NewCounts(now func() time.Time) *Counts { return &Counts{now: now} }

// Count makes the resolver tally its lookups in c. Call it before the
// resolver is used.
func (r *Resolver) Count(c *Counts) { r.counts = c }

// add counts a lookup: from the cache, or sent and failed or not.
func (c *Counts) add(hit, failed bool) {
	if c == nil {
		return
	}
	m := c.now().Unix() / 60
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &c.mins[m%countMinutes]
	if b.at != m {
		b.at, b.Tally = m, Tally{}
	}
	switch {
	case hit:
		b.Hits++
	case failed:
		b.Queries++
		b.Errors++
	default:
		b.Queries++
	}
}

// Last is the tally of the last minutes minutes (at most 60), the
// current one included.
func (c *Counts) Last(minutes int) Tally {
	m := c.now().Unix() / 60
	c.mu.Lock()
	defer c.mu.Unlock()
	var t Tally
	for _, b := range c.mins {
		if b.at <= m && b.at > m-int64(min(minutes, countMinutes)) {
			t.Queries += b.Queries
			t.Errors += b.Errors
			t.Hits += b.Hits
		}
	}
	return t
}
