package store

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// The passed triplets of Cached. A message on a passed triplet — most of
// a server's mail in steady state — renews its entry: one pass more, its
// latest message, its expiry pushed back. Written at every message, that
// is a transaction a message. Cached instead remembers a passed
// triplet's entry for ttl after the store wrote it and renews it in
// memory. The renewals are written in the background, at most ttl after
// they were made (RenewTriplets, in batches, never on a message's path),
// with the triplet's own next write to the store, and at Close. A crash
// loses at most the renewals of the last ttl: counts of passes and the
// dates of latest messages, never a triplet or a decision.

// renewBatch bounds the renewals written in one transaction, so that a
// flush never holds the database for long.
const renewBatch = 500

// passedTriplet is a passed triplet as this process knows it.
type passedTriplet struct {
	entry Entry     // as the store wrote it, with the renewals made since
	read  time.Time // when the store wrote it (its Last); zero for renewals only waiting to be written
	held  Renewal   // what the store does not have yet; held.Passes may be 0 with Last moved
	dirty bool      // held is to be written
	used  bool      // renewed since the last flush: kept in memory
}

// samePass tells whether next is old renewed: the same pass, with as
// many passes or more. Its latest message and expiry may move either
// way: a session that read the clock before another may write after it.
func samePass(old, next *Entry) bool {
	return !old.Pending() && next.Passed.Equal(old.Passed) && next.First.Equal(old.First) &&
		next.Attempts == old.Attempts && next.Delay == old.Delay && next.Passes >= old.Passes
}

// add adds renewal r (of the same pass) to what h holds.
func (h *Renewal) add(r Renewal) {
	h.Triplet, h.Passed = r.Triplet, r.Passed
	h.Passes += r.Passes
	h.Last, h.Expires = later(h.Last, r.Last), later(h.Expires, r.Expires)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (c *cachedStore) UpdateTriplet(ctx context.Context, t Triplet, update func(old *Entry) Entry) (next Entry, err error) {
	e, hit, held := c.renewInMemory(t, update)
	if hit {
		return e, nil
	}
	// The renewals held for this triplet are written with this update,
	// if it keeps the same pass; if it fails or panics, they are held
	// again.
	written := false
	defer func() {
		if !written {
			c.hold(held)
		}
	}()
	next, err = c.Store.UpdateTriplet(ctx, t, func(old *Entry) Entry {
		e := update(old)
		if held.Passes > 0 || !held.Last.IsZero() {
			if old != nil && old.Passed.Equal(held.Passed) && samePass(old, &e) {
				e.Passes += held.Passes
				if held.Last.After(e.Last) { // a later message was passed in memory
					e.Last, e.Expires = held.Last, later(e.Expires, held.Expires)
				}
			}
		}
		return e
	})
	if err != nil {
		return Entry{}, err
	}
	written = true
	c.rememberTriplet(next)
	return next, nil
}

// renewInMemory applies update to the remembered entry of t and keeps
// the result, if it renews the same pass less than ttl after the store
// wrote the entry. Otherwise the entry is forgotten, and its renewals
// not written yet are returned for the caller to write.
func (c *cachedStore) renewInMemory(t Triplet, update func(old *Entry) Entry) (e Entry, hit bool, held Renewal) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	p := c.triplets[t]
	if p == nil {
		return Entry{}, false, Renewal{}
	}
	if !p.read.IsZero() && !c.closed {
		old := p.entry // update may change what it is given
		e = update(&old)
		e.Triplet = t
		if samePass(&p.entry, &e) && !e.Last.Before(p.read) && e.Last.Sub(p.read) < c.ttl {
			p.held.add(Renewal{Triplet: t, Passed: e.Passed, Passes: e.Passes - p.entry.Passes, Last: e.Last, Expires: e.Expires})
			p.entry.Passes = e.Passes
			p.entry.Last, p.entry.Expires = later(p.entry.Last, e.Last), later(p.entry.Expires, e.Expires)
			p.dirty, p.used = true, true
			c.armFlushLocked()
			return e, true, Renewal{}
		}
	}
	delete(c.triplets, t)
	if !p.dirty {
		return Entry{}, false, Renewal{}
	}
	return Entry{}, false, p.held
}

// rememberTriplet keeps the entry the store just wrote, if it is passed
// and there is room; renewals held for the same pass stay.
func (c *cachedStore) rememberTriplet(e Entry) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	p := c.triplets[e.Triplet]
	if e.Pending() || c.closed {
		if p != nil && !p.dirty {
			delete(c.triplets, e.Triplet)
		}
		return
	}
	if p == nil && len(c.triplets) >= c.max {
		return // every message on it is written, as without the cache
	}
	n := &passedTriplet{entry: e, read: e.Last, used: true}
	if p != nil && p.dirty && p.held.Passed.Equal(e.Passed) {
		n.held, n.dirty = p.held, true
		n.entry.Passes += p.held.Passes
	}
	c.triplets[e.Triplet] = n
	c.armFlushLocked()
}

// hold keeps renewals that could not be written, for the next flush or
// the next write of their triplet. Without room for them, they are lost
// (logged).
func (c *cachedStore) hold(r Renewal) {
	if r.Passes == 0 && r.Last.IsZero() {
		return
	}
	c.tmu.Lock()
	defer c.tmu.Unlock()
	p := c.triplets[r.Triplet]
	switch {
	case p != nil && !p.entry.Passed.Equal(r.Passed):
		return // the triplet passed anew since: renewals of the old pass are moot
	case p == nil && len(c.triplets) >= c.max:
		slog.Warn("greylist renewals lost: no room to keep them", "triplet", r.Client+" "+r.Sender+" "+r.Rcpt, "passes", r.Passes)
		return
	case p == nil:
		p = &passedTriplet{entry: Entry{Triplet: r.Triplet, Passed: r.Passed}}
		c.triplets[r.Triplet] = p
	}
	p.held.add(r)
	p.dirty = true
	c.armFlushLocked()
}

// armFlushLocked starts the flush timer if it is not running; c.tmu is
// held.
func (c *cachedStore) armFlushLocked() {
	if c.timer == nil && !c.closed {
		c.timer = time.AfterFunc(c.ttl, c.flushTick)
	}
}

// flushTick writes the renewals held, forgets the triplets not renewed
// since the tick before, and starts the timer again while triplets are
// remembered.
func (c *cachedStore) flushTick() {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	c.tmu.Lock()
	due := c.takeLocked(true)
	c.timer = nil
	if len(c.triplets) > 0 {
		c.armFlushLocked()
	}
	c.tmu.Unlock()
	if err := c.renew(context.Background(), due); err != nil {
		slog.Warn("greylist renewals not written; kept for the next try", "renewals", len(due), "error", err)
	}
}

// flushAll writes every renewal held and forgets every triplet, so that
// what is read from the store next is what this process did.
func (c *cachedStore) flushAll(ctx context.Context) error {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	c.tmu.Lock()
	due := c.takeLocked(false)
	c.tmu.Unlock()
	return c.renew(ctx, due)
}

// takeLocked takes the renewals held. A tick keeps the triplets renewed
// since the tick before, marked as not renewed since; otherwise every
// triplet is forgotten. c.tmu is held.
func (c *cachedStore) takeLocked(tick bool) []Renewal {
	var due []Renewal
	for t, p := range c.triplets {
		if p.dirty {
			due = append(due, p.held)
			p.held, p.dirty = Renewal{}, false
		}
		if tick && p.used && !p.read.IsZero() {
			p.used = false
			continue
		}
		delete(c.triplets, t)
	}
	return due
}

// renew writes renewals, renewBatch at a time; those that fail are held
// again for the next try.
func (c *cachedStore) renew(ctx context.Context, due []Renewal) error {
	var errs error
	for len(due) > 0 {
		n := min(len(due), renewBatch)
		if err := c.Store.RenewTriplets(ctx, due[:n]); err != nil {
			errs = errors.Join(errs, err)
			for _, r := range due[:n] {
				c.hold(r)
			}
		}
		due = due[n:]
	}
	return errs
}

// The triplet operations that read or replace entries see the renewals
// held first, so that a caller of this store reads what it did.

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

// Close stops the flush timer, writes the renewals held, then closes
// the store. An update after Close goes to the store, which is closed.
func (c *cachedStore) Close() error {
	c.tmu.Lock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.tmu.Unlock()
	return errors.Join(c.flushAll(context.Background()), c.Store.Close())
}
