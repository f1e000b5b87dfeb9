package store

import (
	"context"
	"errors"
	"time"
)

// The passed triplets of Cached. A message on a passed triplet — most of
// a server's mail in steady state — renews its entry: one pass more, its
// latest message, its expiry pushed back. Written at every message, that
// is a transaction a message. Cached instead remembers a passed
// triplet's entry for ttl after the store wrote it and renews it in
// memory; the renewals are written with the triplet's first message
// after ttl, or by RenewTriplets once the triplet has been quiet for
// ttl, or when the store is read or closed. A crash loses at most the
// renewals of the last ttl: counts of passes and the dates of latest
// messages, never a triplet or a decision.

// passedTriplet is a passed triplet as this process knows it.
type passedTriplet struct {
	entry  Entry     // as the store wrote it, with the renewals made since
	read   time.Time // when the store wrote it (its Last); zero for a renewal only waiting to be written
	passes int       // passes of entry not written yet
}

// renewal is what p holds that the store does not.
func (p *passedTriplet) renewal() Renewal {
	e := &p.entry
	return Renewal{Triplet: e.Triplet, Passed: e.Passed, Passes: p.passes, Last: e.Last, Expires: e.Expires}
}

// isRenewal tells whether next is old renewed: the same pass, with as
// many passes or more and a later latest message and expiry.
func isRenewal(old, next *Entry) bool {
	return !old.Pending() && next.Passed.Equal(old.Passed) && next.First.Equal(old.First) &&
		next.Attempts == old.Attempts && next.Delay == old.Delay && next.Passes >= old.Passes &&
		!next.Last.Before(old.Last) && !next.Expires.Before(old.Expires)
}

func (c *cachedStore) UpdateTriplet(ctx context.Context, t Triplet, update func(old *Entry) Entry) (Entry, error) {
	e, hit, held := c.renewInMemory(t, update)
	if hit {
		c.flushStale(ctx, e.Last)
		return e, nil
	}
	// The renewals this process holds are written with this update, if
	// it renews the same pass.
	next, err := c.Store.UpdateTriplet(ctx, t, func(old *Entry) Entry {
		e := update(old)
		if held.Passes > 0 && old != nil && old.Passed.Equal(held.Passed) && isRenewal(old, &e) {
			e.Passes += held.Passes
		}
		return e
	})
	if err != nil {
		c.hold(held)
		return Entry{}, err
	}
	c.rememberTriplet(next)
	c.flushStale(ctx, next.Last)
	return next, nil
}

// renewInMemory applies update to the remembered entry of t and keeps
// the result, if it is a renewal made less than ttl after the store
// wrote the entry. Otherwise the entry is forgotten, and what it held
// that the store does not is returned for the caller to write.
func (c *cachedStore) renewInMemory(t Triplet, update func(old *Entry) Entry) (e Entry, hit bool, held Renewal) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	p := c.triplets[t]
	if p == nil {
		return Entry{}, false, Renewal{}
	}
	if !p.read.IsZero() {
		old := p.entry // update may change what it is given
		e = update(&old)
		e.Triplet = t
		if isRenewal(&p.entry, &e) && !e.Last.Before(p.read) && e.Last.Sub(p.read) < c.ttl {
			p.passes += e.Passes - p.entry.Passes
			p.entry = e
			return e, true, Renewal{}
		}
	}
	delete(c.triplets, t)
	return Entry{}, false, p.renewal()
}

// rememberTriplet keeps the entry the store just wrote, if it is passed
// and there is room; renewals still held for the same pass stay.
func (c *cachedStore) rememberTriplet(e Entry) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	p := c.triplets[e.Triplet]
	if e.Pending() {
		delete(c.triplets, e.Triplet) // started over: renewals of an older pass are moot
		return
	}
	if p == nil && len(c.triplets) >= c.max {
		return // every message on it is written, as without the cache
	}
	n := &passedTriplet{entry: e, read: e.Last}
	if p != nil && p.entry.Passed.Equal(e.Passed) {
		n.passes = p.passes
		n.entry.Passes += p.passes
	}
	c.triplets[e.Triplet] = n
}

// hold keeps a renewal that could not be written, for the next write of
// its triplet or the next flush. Without room for it, it is lost.
func (c *cachedStore) hold(r Renewal) {
	if r.Passes <= 0 {
		return
	}
	c.tmu.Lock()
	defer c.tmu.Unlock()
	p := c.triplets[r.Triplet]
	switch {
	case p == nil && len(c.triplets) < c.max:
		c.triplets[r.Triplet] = &passedTriplet{
			entry:  Entry{Triplet: r.Triplet, Passed: r.Passed, Last: r.Last, Expires: r.Expires, Passes: r.Passes},
			passes: r.Passes,
		}
	case p != nil && p.entry.Passed.Equal(r.Passed):
		p.passes += r.Passes
		p.entry.Passes += r.Passes
		p.entry.Last = later(p.entry.Last, r.Last)
		p.entry.Expires = later(p.entry.Expires, r.Expires)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// flushStale writes, at most once per ttl, the renewals of the triplets
// the store wrote ttl or more before now, and forgets those triplets:
// the map holds only the triplets of the last ttl or two.
func (c *cachedStore) flushStale(ctx context.Context, now time.Time) {
	c.tmu.Lock()
	if now.Sub(c.flushed) < c.ttl && !now.Before(c.flushed) {
		c.tmu.Unlock()
		return
	}
	c.flushed = now
	due := c.takeLocked(func(p *passedTriplet) bool {
		return p.read.IsZero() || now.Before(p.read) || now.Sub(p.read) >= c.ttl
	})
	c.tmu.Unlock()
	c.renew(ctx, due)
}

// flushAll writes every renewal held and forgets every triplet, so that
// what is read from the store next is what this process did.
func (c *cachedStore) flushAll(ctx context.Context) error {
	c.tmu.Lock()
	due := c.takeLocked(func(*passedTriplet) bool { return true })
	c.tmu.Unlock()
	return c.renew(ctx, due)
}

// takeLocked forgets the triplets that match and returns their renewals
// not written yet; c.tmu is held.
func (c *cachedStore) takeLocked(match func(*passedTriplet) bool) []Renewal {
	var due []Renewal
	for t, p := range c.triplets {
		if match(p) {
			if p.passes > 0 {
				due = append(due, p.renewal())
			}
			delete(c.triplets, t)
		}
	}
	return due
}

// renew writes renewals; those that fail are held for the next try.
func (c *cachedStore) renew(ctx context.Context, due []Renewal) error {
	if len(due) == 0 {
		return nil
	}
	err := c.Store.RenewTriplets(ctx, due)
	if err != nil {
		for _, r := range due {
			c.hold(r)
		}
	}
	return err
}

// The triplet operations that read or replace entries see the renewals
// held first.

func (c *cachedStore) RenewTriplets(ctx context.Context, renewals []Renewal) error {
	if err := c.flushAll(ctx); err != nil {
		return err
	}
	return c.Store.RenewTriplets(ctx, renewals)
}

func (c *cachedStore) PutTriplets(ctx context.Context, entries []Entry) error {
	if err := c.flushAll(ctx); err != nil {
		return err
	}
	return c.Store.PutTriplets(ctx, entries)
}

func (c *cachedStore) Triplets(ctx context.Context, f Filter) ([]Entry, error) {
	if err := c.flushAll(ctx); err != nil {
		return nil, err
	}
	return c.Store.Triplets(ctx, f)
}

func (c *cachedStore) DeleteTriplets(ctx context.Context, f Filter) (int, error) {
	if err := c.flushAll(ctx); err != nil {
		return 0, err
	}
	return c.Store.DeleteTriplets(ctx, f)
}

func (c *cachedStore) GreylistStats(ctx context.Context, now time.Time) (Stats, error) {
	if err := c.flushAll(ctx); err != nil {
		return Stats{}, err
	}
	return c.Store.GreylistStats(ctx, now)
}

// Close writes the renewals held, then closes the store.
func (c *cachedStore) Close() error {
	return errors.Join(c.flushAll(context.Background()), c.Store.Close())
}
