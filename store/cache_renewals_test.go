package store_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/pgtest"
	"github.com/maxwell-milter/maxwell/store"
)

// aTriplet is the triplet these tests pass again and again.
var aTriplet = store.Triplet{Client: "192.0.2.0/24", Sender: "alice@example.com", Rcpt: "bob@example.org"}

// A session whose now is a little earlier than the entry the store last
// wrote (it read the clock before a concurrent session, then waited; or
// the clock stepped back) still counts its pass and those held in
// memory: four passes, with the cache as without.
func TestCacheCountsLateMessages(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprint("cached=", cached), func(t *testing.T) {
			open := sqliteOpener(t)
			other := mustOpen(t, open)
			st, err := open()
			if err != nil {
				t.Fatal(err)
			}
			if cached {
				st = store.Cached(st, 10*time.Second, store.DefaultCacheKeys)
			}
			for _, ms := range []int{
				0,      // first pass, written
				10_500, // past ttl: written, read at 10.5 s
				11_000, // renewed in memory: one pass held
				10_000, // a session whose now is 0.5 s behind: miss, held pass dropped
			} {
				if _, err := st.UpdateTriplet(ctx, aTriplet, renewOrPass(msAfter(ms))); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if p := storedPasses(t, other, aTriplet); p != 4 {
				t.Errorf("after Close the store holds %d passes, want 4", p)
			}
		})
	}
}

// With no message coming, the renewals held are written in the
// background within ttl: a crash after that loses none. On the real
// clock throughout (the timer runs on it).
func TestCacheWritesRenewalsInTheBackground(t *testing.T) {
	open := sqliteOpener(t)
	other := mustOpen(t, open)
	const ttl = 50 * time.Millisecond
	cached := cachedOn(t, open, ttl)
	defer cached.Close()
	start := time.Now() // wall clock: the flush timer runs on it
	for i := range 3 {
		if _, err := cached.UpdateTriplet(ctx, aTriplet, renewOrPass(start.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(10 * ttl)
	if p := storedPasses(t, other, aTriplet); p != 3 {
		t.Errorf("%v after the last renewal (cache_ttl %v) the store holds %d passes of 3", 10*ttl, ttl, p)
	}
}

// A panic in update on the way to the store (update runs on the
// remembered entry, then on the store's) is raised in the caller, and
// the renewals held for the triplet are kept and written.
func TestCacheKeepsRenewalsThroughAPanic(t *testing.T) {
	open := sqliteOpener(t)
	other := mustOpen(t, open)
	cached := cachedOn(t, open, 10*time.Second)
	for _, ms := range []int{0, 1000, 2000} {
		if _, err := cached.UpdateTriplet(ctx, aTriplet, renewOrPass(msAfter(ms))); err != nil {
			t.Fatal(err)
		}
	}
	calls := 0
	func() {
		defer func() {
			if v := recover(); v == nil {
				t.Error("no panic")
			}
		}()
		cached.UpdateTriplet(ctx, aTriplet, func(old *store.Entry) store.Entry {
			if calls++; calls > 1 {
				panic("boom")
			}
			return renewOrPass(msAfter(12_000))(old)
		})
	}()
	if err := cached.Close(); err != nil {
		t.Fatal(err)
	}
	if p := storedPasses(t, other, aTriplet); p != 3 {
		t.Errorf("after Close: %d passes, want 3 (the panicking message not counted)", p)
	}
}

// Concurrent sessions, each reading a shared clock then updating, as
// checkGreylist does: every call is a pass, so after Close the store
// counts them all. Two caches on one database: two MX hosts.
func TestCacheCountsConcurrentPasses(t *testing.T) {
	pg := pgtest.Start(t)
	backends := map[string]func() (store.Store, error){
		"sqlite": sqliteOpener(t),
		"postgres": func() func() (store.Store, error) {
			dsn := pg.NewDB(t)
			return func() (store.Store, error) { return store.OpenPostgres(ctx, dsn, 5*time.Second) }
		}(),
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			other := mustOpen(t, open)
			var caches [2]store.Store
			for i := range caches {
				caches[i] = cachedOn(t, open, 10*time.Second)
			}
			// create the passed entry
			if _, err := caches[0].UpdateTriplet(ctx, aTriplet, renewOrPass(t0)); err != nil {
				t.Fatal(err)
			}
			var clock atomic.Int64 // ms after t0
			const workers, each = 16, 200
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range each {
						now := msAfter(int(clock.Add(50))) // 50 ms a message: ttl every 200 messages
						if _, err := caches[w%2].UpdateTriplet(ctx, aTriplet, renewOrPass(now)); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			var errs []error
			for _, c := range caches {
				errs = append(errs, c.Close())
			}
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if p, want := storedPasses(t, other, aTriplet), 1+workers*each; p != want {
				t.Errorf("after Close the store counts %d passes, want %d (%d lost)", p, want, want-p)
			}
		})
	}
}

// Two MX hosts on one database whose clocks are half a second apart:
// host A's held renewals are counted when host B wrote the triplet with
// a later latest message in between.
func TestCacheCountsPassesAcrossSkewedClocks(t *testing.T) {
	open := sqliteOpener(t)
	other := mustOpen(t, open)
	var hosts [2]store.Store
	for i := range hosts {
		hosts[i] = cachedOn(t, open, 10*time.Second)
	}
	const skew = 500 // host B's clock is 0.5 s ahead
	for _, s := range []struct{ host, ms int }{
		{0, 0}, {0, 1000}, {0, 2000}, {0, 3000}, // A: one pass written, three held
		{1, 9800 + skew}, // B, 9.8 s real time: written with Last 10.3 s
		{0, 10_000},      // A, 10 s real time: past ttl, to the store with its three held
	} {
		if _, err := hosts[s.host].UpdateTriplet(ctx, aTriplet, renewOrPass(msAfter(s.ms))); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range hosts {
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if p := storedPasses(t, other, aTriplet); p != 6 {
		t.Errorf("after Close: %d passes, want 6", p)
	}
}

// A reload that shortens [greylist] pass_ttl: a message whose expiry is
// sooner than the one held still counts, and so do the passes held.
func TestCacheCountsPassesWhenPassTTLShrinks(t *testing.T) {
	open := sqliteOpener(t)
	other := mustOpen(t, open)
	cached := cachedOn(t, open, 10*time.Second)
	renew := func(now time.Time, ttl time.Duration) func(*store.Entry) store.Entry {
		return func(old *store.Entry) store.Entry {
			e := renewOrPass(now)(old)
			e.Expires = now.Add(ttl)
			return e
		}
	}
	for _, s := range []struct {
		ms  int
		ttl time.Duration
	}{{0, 24 * time.Hour}, {1000, 24 * time.Hour}, {2000, 24 * time.Hour}, {3000, time.Hour}} {
		if _, err := cached.UpdateTriplet(ctx, aTriplet, renew(msAfter(s.ms), s.ttl)); err != nil {
			t.Fatal(err)
		}
	}
	if err := cached.Close(); err != nil {
		t.Fatal(err)
	}
	if p := storedPasses(t, other, aTriplet); p != 4 {
		t.Errorf("after Close: %d passes, want 4", p)
	}
}

// UpdateTriplet's contract, through the cache: what update returns is
// stored, also an update of a passed entry that moves Last and Expires
// without counting a pass.
func TestCacheWritesRenewalsWithoutPasses(t *testing.T) {
	open := sqliteOpener(t)
	other := mustOpen(t, open)
	cached := cachedOn(t, open, 10*time.Second)
	if _, err := cached.UpdateTriplet(ctx, aTriplet, renewOrPass(t0)); err != nil {
		t.Fatal(err)
	}
	want := msAfter(1000).Add(30 * 24 * time.Hour)
	got, err := cached.UpdateTriplet(ctx, aTriplet, func(old *store.Entry) store.Entry {
		e := *old
		e.Last, e.Expires = msAfter(1000), want
		return e
	})
	if err != nil || !got.Expires.Equal(want) {
		t.Fatalf("UpdateTriplet: %+v, %v", got, err)
	}
	if err := cached.Close(); err != nil {
		t.Fatal(err)
	}
	es, err := other.Triplets(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !es[0].Expires.Equal(want) {
		t.Errorf("after Close the store's entry expires %v, UpdateTriplet returned %v", es[0].Expires, want)
	}
}

// A full cache of renewals (DefaultCacheKeys passed triplets, each
// renewed once: what an attacker could make with RCPT commands once its
// triplets have passed) is written in batches, each within a store
// timeout of 500 ms, in the background and at Close: every pass counted.
func TestCacheWritesAFullMapOfRenewals(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDB(t)
	other := mustOpen(t, func() (store.Store, error) { return store.OpenPostgres(ctx, dsn, 5*time.Second) })
	cached := cachedOn(t, func() (store.Store, error) { return store.OpenPostgres(ctx, dsn, 500*time.Millisecond) }, 10*time.Second)
	n := store.DefaultCacheKeys
	tr := func(i int) store.Triplet {
		return store.Triplet{Client: "203.0.113.0/24", Sender: fmt.Sprintf("s%d@example.net", i), Rcpt: "victim@example.org"}
	}
	for _, at := range []int{0, 1000} {
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
					if _, err := cached.UpdateTriplet(ctx, tr(i), renewOrPass(msAfter(at))); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	if err := cached.Close(); err != nil {
		t.Fatal(err)
	}
	es, err := other.Triplets(ctx, store.Filter{Client: tr(0).Client})
	if err != nil {
		t.Fatal(err)
	}
	passes := 0
	for _, e := range es {
		passes += e.Passes
	}
	if len(es) != n || passes != 2*n {
		t.Errorf("after Close: %d triplets with %d passes, want %d with %d", len(es), passes, n, 2*n)
	}
}

// msAfter is ms milliseconds after t0.
func msAfter(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// sqliteOpener opens handles on one new SQLite store.
func sqliteOpener(t *testing.T) (open func() (store.Store, error)) {
	path := filepath.Join(t.TempDir(), "maxwell.db")
	return func() (store.Store, error) { return store.OpenSQLite(ctx, path, 5*time.Second) }
}

// storedPasses is the passes st holds for tr.
func storedPasses(t *testing.T, st store.Store, tr store.Triplet) int {
	t.Helper()
	es, err := st.Triplets(ctx, store.Filter{Client: tr.Client, Sender: tr.Sender, Rcpt: tr.Rcpt})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Fatalf("%d entries", len(es))
	}
	return es[0].Passes
}

// cachedOn opens a handle with open, behind the daemon's cache of ttl.
func cachedOn(t *testing.T, open func() (store.Store, error), ttl time.Duration) store.Store {
	t.Helper()
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	return store.Cached(st, ttl, store.DefaultCacheKeys)
}
