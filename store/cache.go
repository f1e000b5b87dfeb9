package store

import (
	"context"
	"strings"
	"sync"
	"time"
)

// DefaultCacheKeys bounds how many keys a Cached store remembers. Past it
// the cache starts empty again: a client cycling through addresses costs
// it its hits, never memory.
const DefaultCacheKeys = 16384

// Cached wraps st so that the reads asked at every message — Banned,
// BansOn and Listed, for the client, its IP and the sender — are answered
// from memory for up to ttl after the store answered them. A change made
// through the returned Store (a ban, an unban, a counted pass) drops what
// was remembered of its key at once; a change made elsewhere (`maxwell
// blacklist`, `maxwell watch` in its own process, another MX host on the
// same PostgreSQL) is seen within ttl. Errors are never remembered.
//
// It also remembers passed triplets and makes the renewals of their
// entries in memory, written in the background at most ttl later
// instead of at every message (cache_triplets.go): a triplet deleted
// elsewhere passes here for up to ttl more. Close writes what it holds,
// then closes st.
//
// Age is measured on the now the caller passes (for triplets, the time
// of the entries' latest message), the clock its decisions run on; a
// now earlier than when an answer was read does not use it. ttl ≤ 0
// returns st itself.
func Cached(st Store, ttl time.Duration, maxKeys int) Store {
	if ttl <= 0 {
		return st
	}
	return &cachedStore{Store: st, ttl: ttl, max: maxKeys, keys: map[string]*cachedKey{},
		triplets: map[Triplet]*passedTriplet{}}
}

type cachedStore struct {
	Store
	ttl time.Duration
	max int

	mu   sync.Mutex
	keys map[string]*cachedKey // by key (an IP, a client, a sender)
	// gen counts forgets: an answer read while a change went through
	// this store may predate the change and is not remembered.
	gen uint64

	tmu      sync.Mutex
	triplets map[Triplet]*passedTriplet // passed triplets, at most max
	timer    *time.Timer                // the next flushTick, while triplets are remembered
	closed   bool
	fmu      sync.Mutex // one flush at a time, Close's last
}

// cachedKey is what is remembered of one key, by the question asked.
type cachedKey struct {
	answers map[string]cachedAnswer
}

type cachedAnswer struct {
	read   time.Time // the now the store answered at
	bans   []Ban     // Banned (zero or one) and BansOn
	listed bool      // Listed
}

// lookup returns the answer to question q about key if one read at most
// ttl before now is remembered; if not, the generation to remember the
// store's answer under.
func (c *cachedStore) lookup(key, q string, now time.Time) (a cachedAnswer, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.keys[key]; k != nil {
		a, ok = k.answers[q]
		if ok && !now.Before(a.read) && now.Sub(a.read) < c.ttl {
			return a, true, 0
		}
	}
	return cachedAnswer{}, false, c.gen
}

// remember keeps the store's answer, unless something was forgotten
// since lookup returned gen.
func (c *cachedStore) remember(key, q string, gen uint64, a cachedAnswer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	k := c.keys[key]
	if k == nil {
		if len(c.keys) >= c.max {
			c.keys = map[string]*cachedKey{}
		}
		k = &cachedKey{answers: map[string]cachedAnswer{}}
		c.keys[key] = k
	}
	k.answers[q] = a
}

// forget drops every answer about key: it changed through this store.
func (c *cachedStore) forget(key string) {
	c.mu.Lock()
	delete(c.keys, key)
	c.gen++
	c.mu.Unlock()
}

// inForce keeps the bans that have not expired at now: a remembered ban
// ends on time even when its answer is younger than ttl.
func inForce(bans []Ban, now time.Time) []Ban {
	for i, b := range bans {
		if !b.Expires.After(now) {
			kept := append([]Ban(nil), bans[:i]...)
			for _, b := range bans[i+1:] {
				if b.Expires.After(now) {
					kept = append(kept, b)
				}
			}
			return kept
		}
	}
	return bans
}

func (c *cachedStore) Banned(ctx context.Context, kind, key string, now time.Time) (*Ban, error) {
	q := "banned " + kind
	a, ok, gen := c.lookup(key, q, now)
	if ok {
		if bans := inForce(a.bans, now); len(bans) > 0 {
			b := bans[0]
			return &b, nil
		}
		return nil, nil
	}
	b, err := c.Store.Banned(ctx, kind, key, now)
	if err != nil {
		return nil, err
	}
	a = cachedAnswer{read: now}
	if b != nil {
		a.bans = []Ban{*b}
	}
	c.remember(key, q, gen, a)
	return b, nil
}

func (c *cachedStore) BansOn(ctx context.Context, key string, now time.Time, kinds ...string) ([]Ban, error) {
	q := "bans " + strings.Join(kinds, " ")
	a, ok, gen := c.lookup(key, q, now)
	if ok {
		return inForce(a.bans, now), nil
	}
	bans, err := c.Store.BansOn(ctx, key, now, kinds...)
	if err != nil {
		return nil, err
	}
	c.remember(key, q, gen, cachedAnswer{read: now, bans: bans})
	return bans, nil
}

func (c *cachedStore) Listed(ctx context.Context, kind, key string, now time.Time, ttl time.Duration) (bool, error) {
	q := "listed " + kind + " " + ttl.String()
	a, ok, gen := c.lookup(key, q, now)
	if ok {
		return a.listed, nil
	}
	listed, err := c.Store.Listed(ctx, kind, key, now, ttl)
	if err != nil {
		return false, err
	}
	c.remember(key, q, gen, cachedAnswer{read: now, listed: listed})
	return listed, nil
}

func (c *cachedStore) Ban(ctx context.Context, b Ban) error {
	defer c.forget(b.Key)
	return c.Store.Ban(ctx, b)
}

func (c *cachedStore) Unban(ctx context.Context, kind, key string) (bool, error) {
	defer c.forget(key)
	return c.Store.Unban(ctx, kind, key)
}

func (c *cachedStore) CountPass(ctx context.Context, kind, key string, now time.Time, ttl time.Duration, threshold int) (bool, error) {
	defer c.forget(key)
	return c.Store.CountPass(ctx, kind, key, now, ttl, threshold)
}

func (c *cachedStore) Unlist(ctx context.Context, kind, key string) (bool, error) {
	defer c.forget(key)
	return c.Store.Unlist(ctx, kind, key)
}
