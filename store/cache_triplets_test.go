package store_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/store"
)

// renewOrPass is greylisting's update of a triplet that passes at now:
// a new entry passes at once here, a passed one is renewed.
func renewOrPass(now time.Time) func(old *store.Entry) store.Entry {
	return func(old *store.Entry) store.Entry {
		if old == nil {
			return store.Entry{First: now, Last: now, Passed: now, Expires: now.Add(24 * time.Hour), Passes: 1}
		}
		e := *old
		e.Last, e.Expires, e.Passes = now, now.Add(24*time.Hour), e.Passes+1
		return e
	}
}

// A passed triplet's renewals are made in memory for ttl after the store
// wrote its entry, and written with its first message after ttl or at
// Close (and in the background: TestCacheWritesRenewalsInTheBackground);
// no pass is lost or counted twice, and a triplet deleted elsewhere is
// not brought back.
func TestCacheRenewsPassedTriplets(t *testing.T) {
	const ttl = 10 * time.Second
	a := store.Triplet{Client: "192.0.2.0/24", Sender: "alice@example.com", Rcpt: "bob@example.org"}
	b := store.Triplet{Client: "198.51.100.0/24", Sender: "carol@example.net", Rcpt: "bob@example.org"}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	type step struct {
		cache int // which of two caches on the database: 0 or 1
		t     store.Triplet
		at    int // seconds after t0; -1: Close cache, -2: delete t through another handle
	}
	cases := []struct {
		name  string
		steps []step
		// what another handle reads of a after the steps, before and
		// after both caches are closed; passes 0: no entry
		passes, lastAt, closedPasses, closedLastAt int
	}{
		{"renewed in memory within ttl", []step{{0, a, 0}, {0, a, 1}, {0, a, 9}}, 1, 0, 3, 9},
		{"written with the first message after ttl", []step{{0, a, 0}, {0, a, 1}, {0, a, 10}}, 3, 10, 3, 10},
		{"written at Close", []step{{0, a, 0}, {0, a, 1}, {0, a, 2}, {0, a, -1}}, 3, 2, 3, 2},
		{"two MX hosts", []step{{0, a, 0}, {1, a, 1}, {0, a, 2}, {1, a, 3}, {1, a, 4}}, 2, 1, 5, 4},
		{"deleted elsewhere: not brought back", []step{{0, a, 0}, {0, a, 1}, {0, a, -2}, {0, a, 2}, {0, b, 11}}, 0, 0, 0, 0},
		{"deleted elsewhere: a new pass after ttl", []step{{0, a, 0}, {0, a, 1}, {0, a, -2}, {0, a, 10}}, 1, 10, 1, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "maxwell.db")
			open := func() (store.Store, error) { return store.OpenSQLite(ctx, path, 5*time.Second) }
			other := mustOpen(t, open)
			var caches [2]store.Store
			for i := range caches {
				caches[i] = cachedOn(t, open, ttl)
			}
			passes := map[int]int{} // what each cache answered last, by cache
			for _, s := range tc.steps {
				switch s.at {
				case -1:
					if err := caches[s.cache].Close(); err != nil {
						t.Fatal(err)
					}
					caches[s.cache] = nil
				case -2:
					if _, err := other.DeleteTriplets(ctx, store.Filter{Client: s.t.Client, Sender: s.t.Sender, Rcpt: s.t.Rcpt}); err != nil {
						t.Fatal(err)
					}
				default:
					e, err := caches[s.cache].UpdateTriplet(ctx, s.t, renewOrPass(at(s.at)))
					if err != nil {
						t.Fatal(err)
					}
					if e.Triplet != s.t || !e.Last.Equal(at(s.at)) {
						t.Fatalf("at %d s: UpdateTriplet returned %+v", s.at, e)
					}
					passes[s.cache] = e.Passes
				}
			}
			check := func(when string, wantPasses, wantLast int) {
				t.Helper()
				es, err := other.Triplets(ctx, store.Filter{Client: a.Client, Sender: a.Sender, Rcpt: a.Rcpt})
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case wantPasses == 0 && len(es) != 0:
					t.Errorf("%s: the store holds %+v, want no entry", when, es[0])
				case wantPasses == 0:
				case len(es) != 1:
					t.Errorf("%s: the store holds no entry, want %d passes", when, wantPasses)
				case es[0].Passes != wantPasses || !es[0].Last.Equal(at(wantLast)):
					t.Errorf("%s: the store holds %d passes, the latest at %v s; want %d at %d s",
						when, es[0].Passes, es[0].Last.Sub(t0).Seconds(), wantPasses, wantLast)
				}
			}
			check("before Close", tc.passes, tc.lastAt)
			for _, c := range caches {
				if c != nil {
					if err := c.Close(); err != nil {
						t.Fatal(err)
					}
				}
			}
			check("after Close", tc.closedPasses, tc.closedLastAt)
		})
	}
}

// Reading triplets through the cache writes the renewals it holds
// first: a caller of the cache reads what it did.
func TestCacheTripletsReadTheirRenewals(t *testing.T) {
	st := mustOpen(t, func() (store.Store, error) {
		return store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "maxwell.db"), 5*time.Second)
	})
	cached := store.Cached(st, time.Minute, store.DefaultCacheKeys)
	tr := store.Triplet{Client: "192.0.2.0/24", Sender: "alice@example.com", Rcpt: "bob@example.org"}
	for s := range 3 {
		if _, err := cached.UpdateTriplet(ctx, tr, renewOrPass(t0.Add(time.Duration(s)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	es, err := cached.Triplets(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Passes != 3 {
		t.Errorf("Triplets through the cache: %+v, want one entry of 3 passes", es)
	}
}
