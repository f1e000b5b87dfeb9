package metrics

import (
	"context"
	"time"

	"github.com/maxwell-milter/maxwell/store"
)

// Store returns st with the operations sessions make timed
// (maxwell_store_op_seconds); the others pass through.
func (m *Metrics) Store(st store.Store) store.Store { return timedStore{st, m} }

type timedStore struct {
	store.Store
	m *Metrics
}

// observe records one operation that began at start.
func (s timedStore) observe(op string, start time.Time, err error) {
	s.m.storeTime.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.storeErrs.WithLabelValues(op).Inc()
	}
}

func (s timedStore) UpdateTriplet(ctx context.Context, t store.Triplet, update func(old *store.Entry) store.Entry) (e store.Entry, err error) {
	defer func(start time.Time) { s.observe("update_triplet", start, err) }(time.Now())
	return s.Store.UpdateTriplet(ctx, t, update)
}

func (s timedStore) CountPass(ctx context.Context, kind, key string, now time.Time, ttl time.Duration, threshold int) (listed bool, err error) {
	defer func(start time.Time) { s.observe("count_pass", start, err) }(time.Now())
	return s.Store.CountPass(ctx, kind, key, now, ttl, threshold)
}

func (s timedStore) Listed(ctx context.Context, kind, key string, now time.Time, ttl time.Duration) (listed bool, err error) {
	defer func(start time.Time) { s.observe("listed", start, err) }(time.Now())
	return s.Store.Listed(ctx, kind, key, now, ttl)
}

func (s timedStore) PutCBV(ctx context.Context, r store.CBVResult) (err error) {
	defer func(start time.Time) { s.observe("put_cbv", start, err) }(time.Now())
	return s.Store.PutCBV(ctx, r)
}

func (s timedStore) CBV(ctx context.Context, sender string, now time.Time) (r *store.CBVResult, err error) {
	defer func(start time.Time) { s.observe("cbv", start, err) }(time.Now())
	return s.Store.CBV(ctx, sender, now)
}

func (s timedStore) Ban(ctx context.Context, b store.Ban) (err error) {
	defer func(start time.Time) { s.observe("ban", start, err) }(time.Now())
	return s.Store.Ban(ctx, b)
}

func (s timedStore) Banned(ctx context.Context, kind, key string, now time.Time) (b *store.Ban, err error) {
	defer func(start time.Time) { s.observe("banned", start, err) }(time.Now())
	return s.Store.Banned(ctx, kind, key, now)
}

func (s timedStore) BansOn(ctx context.Context, key string, now time.Time, kinds ...string) (bs []store.Ban, err error) {
	defer func(start time.Time) { s.observe("banned", start, err) }(time.Now())
	return s.Store.BansOn(ctx, key, now, kinds...)
}
