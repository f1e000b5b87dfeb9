package store

import (
	"context"
	"time"
)

// PassTriplet lets a triplet through by hand (`maxwell greylist allow`,
// the web console): a pending entry passes now, a passed one is
// renewed, a missing one is made passed; each then lasts until
// now+ttl.
func PassTriplet(ctx context.Context, s Store, t Triplet, now time.Time, ttl time.Duration) (Entry, error) {
	return s.UpdateTriplet(ctx, t, func(old *Entry) Entry {
		e := Entry{Triplet: t, First: now}
		if old != nil {
			e = *old
		}
		e.Last, e.Expires = now, now.Add(ttl)
		if e.Pending() {
			e.Passed, e.Delay = now, now.Sub(e.First)
		}
		return e
	})
}
