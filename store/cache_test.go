package store_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/store"
)

// The cache answers from memory for up to its ttl: a change made through
// another handle (another process, another MX host) is seen once the
// remembered answer is ttl old; a change through the cache at once.
func TestCacheStaleness(t *testing.T) {
	const ttl = 10 * time.Second
	path := filepath.Join(t.TempDir(), "maxwell.db")
	open := func() (store.Store, error) { return store.OpenSQLite(ctx, path, 5*time.Second) }
	db := mustOpen(t, open)
	other := mustOpen(t, open) // `maxwell blacklist` in its own process
	cached := store.Cached(db, ttl, store.DefaultCacheKeys)
	const ip = "192.0.2.7"
	ban := store.Ban{Kind: store.BanIP, Key: ip, Reason: "by hand", Created: t0, Expires: t0.Add(time.Hour)}

	type question struct {
		name string
		ask  func(now time.Time) bool // true: banned or listed
	}
	questions := []question{
		{"Banned", func(now time.Time) bool {
			b, err := cached.Banned(ctx, store.BanIP, ip, now)
			if err != nil {
				t.Fatal(err)
			}
			return b != nil
		}},
		{"BansOn", func(now time.Time) bool {
			bs, err := cached.BansOn(ctx, ip, now, store.BanIP, store.BanClient)
			if err != nil {
				t.Fatal(err)
			}
			return len(bs) > 0
		}},
	}
	for _, q := range questions {
		t.Run(q.name, func(t *testing.T) {
			if _, err := other.Unban(ctx, store.BanIP, ip); err != nil {
				t.Fatal(err)
			}
			start := t0.Add(-time.Hour) // answers of earlier cases are older than ttl
			if q.ask(start) {
				t.Fatal("banned before any ban")
			}
			if err := other.Ban(ctx, ban); err != nil {
				t.Fatal(err)
			}
			if q.ask(start.Add(ttl - time.Millisecond)) {
				t.Error("a ban made elsewhere seen before the answer was ttl old: the cache is not used")
			}
			if !q.ask(start.Add(ttl)) {
				t.Error("a ban made elsewhere not seen once the answer is ttl old")
			}
			if _, err := cached.Unban(ctx, store.BanIP, ip); err != nil {
				t.Fatal(err)
			}
			if q.ask(start.Add(ttl + time.Millisecond)) {
				t.Error("a ban lifted through the cache still in force")
			}
			if err := cached.Ban(ctx, ban); err != nil {
				t.Fatal(err)
			}
			if !q.ask(start.Add(ttl + 2*time.Millisecond)) {
				t.Error("a ban made through the cache not seen at once")
			}
			// Remembered bans end on time, whatever the answer's age.
			if q.ask(ban.Expires) {
				t.Error("a remembered ban outlived its expiry")
			}
		})
	}

	t.Run("Listed", func(t *testing.T) {
		const sender = "friend@example.net"
		wttl := 60 * 24 * time.Hour
		if ok, _ := cached.Listed(ctx, store.KindSender, sender, t0, wttl); ok {
			t.Fatal("listed before any pass")
		}
		if _, err := other.CountPass(ctx, store.KindSender, sender, t0, wttl, 1); err != nil {
			t.Fatal(err)
		}
		if ok, _ := cached.Listed(ctx, store.KindSender, sender, t0.Add(ttl/2), wttl); ok {
			t.Error("listed elsewhere and seen before ttl: the cache is not used")
		}
		if ok, _ := cached.Listed(ctx, store.KindSender, sender, t0.Add(ttl), wttl); !ok {
			t.Error("listed elsewhere and not seen after ttl")
		}
		if _, err := cached.Unlist(ctx, store.KindSender, sender); err != nil {
			t.Fatal(err)
		}
		if ok, _ := cached.Listed(ctx, store.KindSender, sender, t0.Add(ttl+time.Second), wttl); ok {
			t.Error("unlisted through the cache and still listed")
		}
	})

	t.Run("earlier now", func(t *testing.T) {
		// An answer is not used for a now before it was read (a clock
		// stepped back): the store is asked again.
		const key = "192.0.2.99"
		if b, _ := cached.Banned(ctx, store.BanIP, key, t0); b != nil {
			t.Fatal("banned before any ban")
		}
		if err := other.Ban(ctx, store.Ban{Kind: store.BanIP, Key: key, Created: t0, Expires: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if b, _ := cached.Banned(ctx, store.BanIP, key, t0.Add(-time.Second)); b == nil {
			t.Error("an answer read later was used for an earlier now")
		}
	})
}

// A cache past its bound starts empty: it never holds more keys than
// asked, and answers stay right.
func TestCacheBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maxwell.db")
	open := func() (store.Store, error) { return store.OpenSQLite(ctx, path, 5*time.Second) }
	db := mustOpen(t, open)
	other := mustOpen(t, open)
	cached := store.Cached(db, time.Minute, 4)
	keys := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"}
	for _, k := range keys {
		if b, _ := cached.Banned(ctx, store.BanIP, k, t0); b != nil {
			t.Fatal("banned before any ban")
		}
	}
	for _, k := range keys {
		if err := other.Ban(ctx, store.Ban{Kind: store.BanIP, Key: k, Created: t0, Expires: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	// Four keys fit; the fifth emptied the cache, so only it is
	// remembered (as not banned) and the first four are read again.
	var seen int
	for _, k := range slices.Backward(keys) {
		if b, _ := cached.Banned(ctx, store.BanIP, k, t0.Add(time.Second)); b != nil {
			seen++
		}
	}
	if seen != 4 {
		t.Errorf("%d of 5 bans made elsewhere seen within ttl, want 4 (the cache holds at most 4 keys)", seen)
	}
}

// ttl ≤ 0 turns the cache off.
func TestCacheOff(t *testing.T) {
	db := mustOpen(t, func() (store.Store, error) {
		return store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "maxwell.db"), 5*time.Second)
	})
	if store.Cached(db, 0, store.DefaultCacheKeys) != db {
		t.Error("Cached with ttl 0 is not the store itself")
	}
}
