package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/pgtest"
	"github.com/maxwell-milter/maxwell/store"
)

var ctx = context.Background()

// t0 is the suite's "now"; times are kept to the millisecond.
var t0 = time.UnixMilli(1_795_000_000_123)

// backend opens an empty store; reopen opens the same database again (a
// second process, or a restart).
type backend struct {
	name string
	open func(t *testing.T) (st store.Store, reopen func() (store.Store, error))
}

func backends(t *testing.T) []backend {
	pg := pgtest.Start(t)
	return []backend{
		{"sqlite", func(t *testing.T) (store.Store, func() (store.Store, error)) {
			path := filepath.Join(t.TempDir(), "data", "maxwell.db")
			reopen := func() (store.Store, error) { return store.OpenSQLite(ctx, path, 5*time.Second) }
			return mustOpen(t, reopen), reopen
		}},
		// The daemon's store: SQLite behind the cache of Banned, BansOn
		// and Listed. Every change goes through it here, so it answers as
		// the store does.
		{"sqlite-cached", func(t *testing.T) (store.Store, func() (store.Store, error)) {
			path := filepath.Join(t.TempDir(), "data", "maxwell.db")
			reopen := func() (store.Store, error) {
				st, err := store.OpenSQLite(ctx, path, 5*time.Second)
				return store.Cached(st, 10*time.Second, store.DefaultCacheKeys), err
			}
			return mustOpen(t, reopen), reopen
		}},
		{"postgres", func(t *testing.T) (store.Store, func() (store.Store, error)) {
			dsn := pg.NewDB(t)
			reopen := func() (store.Store, error) { return store.OpenPostgres(ctx, dsn, 5*time.Second) }
			return mustOpen(t, reopen), reopen
		}},
	}
}

func mustOpen(t *testing.T, open func() (store.Store, error)) store.Store {
	t.Helper()
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestConformance runs every case on every backend.
func TestConformance(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, st store.Store, reopen func() (store.Store, error))
	}{
		{"triplet update", testTripletUpdate},
		{"triplet filters", testTripletFilters},
		{"concurrent updates", testConcurrentUpdates},
		{"concurrent deciders", testConcurrentDeciders},
		{"stats", testStats},
		{"states agree", testStatesAgree},
		{"auto-whitelist", testAutoWhitelist},
		{"cbv cache", testCBVCache},
		{"blacklist", testBlacklist},
		{"ban pages", testBanPage},
		{"expire in batches", testExpire},
		{"reopen keeps state", testReopen},
		{"ping", testPing},
		{"reputation", testReputation},
		{"concurrent learners", testConcurrentLearners},
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					st, reopen := b.open(t)
					c.run(t, st, reopen)
				})
			}
		})
	}
}

var trip = store.Triplet{Client: "192.0.2.0/24", Sender: "joe@example.com", Rcpt: "ann@example.org"}

func testTripletUpdate(t *testing.T, st store.Store, _ func() (store.Store, error)) {
	first := store.Entry{First: t0, Last: t0, Expires: t0.Add(48 * time.Hour), Attempts: 1}
	got, err := st.UpdateTriplet(ctx, trip, func(old *store.Entry) store.Entry {
		if old != nil {
			t.Errorf("new triplet: old = %+v, want nil", old)
		}
		return first
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Triplet != trip {
		t.Errorf("entry triplet = %+v, want %+v", got.Triplet, trip)
	}
	passed := t0.Add(6 * time.Minute)
	_, err = st.UpdateTriplet(ctx, trip, func(old *store.Entry) store.Entry {
		want := first
		want.Triplet = trip
		if old == nil || !equalEntry(*old, want) {
			t.Errorf("second update: old = %+v, want %+v", old, want)
		}
		e := *old
		e.Passed, e.Last, e.Delay, e.Passes, e.Expires = passed, passed, 6*time.Minute, 1, passed.Add(35*24*time.Hour)
		return e
	})
	if err != nil {
		t.Fatal(err)
	}
	es, err := st.Triplets(ctx, store.Filter{})
	if err != nil || len(es) != 1 {
		t.Fatalf("Triplets = %v, %v; want one entry", es, err)
	}
	if e := es[0]; e.Pending() || !e.Passed.Equal(passed) || e.Delay != 6*time.Minute || e.Passes != 1 || e.Attempts != 1 {
		t.Errorf("stored entry = %+v", e)
	}
}

func equalEntry(a, b store.Entry) bool {
	return a.Triplet == b.Triplet && a.First.Equal(b.First) && a.Last.Equal(b.Last) && a.Passed.Equal(b.Passed) &&
		a.Expires.Equal(b.Expires) && a.Attempts == b.Attempts && a.Passes == b.Passes && a.Delay == b.Delay
}

// entry is a triplet seen at t0+age.
func entry(client, sender, rcpt string, age time.Duration, passed bool) store.Entry {
	e := store.Entry{Triplet: store.Triplet{Client: client, Sender: sender, Rcpt: rcpt},
		First: t0.Add(age), Last: t0.Add(age), Expires: t0.Add(age + 48*time.Hour), Attempts: 1}
	if passed {
		e.Passed, e.Delay, e.Passes = t0.Add(age+10*time.Minute), 10*time.Minute, 1
	}
	return e
}

func testTripletFilters(t *testing.T, st store.Store, _ func() (store.Store, error)) {
	put := []store.Entry{
		entry("192.0.2.0/24", "a@example.com", "x@example.org", 0, false),
		entry("192.0.2.0/24", "b@example.com", "y@example.org", time.Second, true),
		entry("example.net", "b@example.net", "x@example.org", 2*time.Second, true),
		entry("198.51.100.0/24", "100%_c@example.com", "x@example.org", 3*time.Second, false),
	}
	if err := st.PutTriplets(ctx, put); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		f    store.Filter
		want []int // indexes into put, in order
	}{
		{store.Filter{}, []int{0, 1, 2, 3}},
		{store.Filter{Client: "192.0.2.0/24"}, []int{0, 1}},
		{store.Filter{Sender: "*@example.com"}, []int{0, 1, 3}},
		{store.Filter{Rcpt: "x@example.org", State: store.StatePending, Now: t0}, []int{0, 3}},
		{store.Filter{State: store.StatePassed, Now: t0}, []int{1, 2}},
		{store.Filter{State: store.StatePassed, Now: t0.Add(49 * time.Hour)}, nil},
		{store.Filter{State: store.StateExpired, Now: t0.Add(48*time.Hour + time.Second)}, []int{0, 1}},
		{store.Filter{Sender: "100%_c@*"}, []int{3}},
		{store.Filter{Sender: "100__c@*"}, nil}, // LIKE's wildcards are literal
		{store.Filter{Limit: 2}, []int{0, 1}},
		// In key order, paged after a triplet: the byte order of the
		// clients puts 198.51.100.0/24 before example.net.
		{store.Filter{ByKey: true}, []int{0, 1, 3, 2}},
		{store.Filter{ByKey: true, Limit: 2}, []int{0, 1}},
		{store.Filter{ByKey: true, After: &put[1].Triplet}, []int{3, 2}},
		{store.Filter{ByKey: true, After: &put[2].Triplet}, nil},
		{store.Filter{ByKey: true, Client: "19*"}, []int{0, 1, 3}},
		{store.Filter{ByKey: true, Client: "19*", After: &put[0].Triplet, Limit: 1}, []int{1}},
		{store.Filter{ByKey: true, Client: "192.0.2.0/24", After: &put[0].Triplet}, []int{1}},
		{store.Filter{ByKey: true, Rcpt: "x@example.org"}, []int{0, 3, 2}},
		{store.Filter{ByKey: true, Rcpt: "x@example.org", After: &put[3].Triplet}, []int{2}},
		{store.Filter{ByKey: true, Sender: "b@example.com", After: &put[1].Triplet}, nil},
		{store.Filter{ByKey: true, Sender: "b@*", State: store.StatePassed, Now: t0}, []int{1, 2}},
		{store.Filter{ByKey: true, Client: "192.0.2.0/24", Sender: "a@example.com", Rcpt: "x@example.org"}, []int{0}},
		{store.Filter{ByKey: true, Client: "192.0.2.0/24", Sender: "a@example.com", Rcpt: "x@example.org", After: &put[0].Triplet}, nil},
		{store.Filter{ByKey: true, Sender: "100%_c@*"}, []int{3}},
		{store.Filter{ByKey: true, Sender: "*@example.com"}, []int{3, 0, 1}}, // in the order of the index by sender
	}
	for _, tt := range tests {
		got, err := st.Triplets(ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		var want []store.Triplet
		for _, i := range tt.want {
			want = append(want, put[i].Triplet)
		}
		var have []store.Triplet
		for _, e := range got {
			have = append(have, e.Triplet)
		}
		if fmt.Sprint(have) != fmt.Sprint(want) {
			t.Errorf("Triplets(%+v) = %v, want %v", tt.f, have, want)
		}
	}
	for _, bad := range []store.Filter{{State: store.StatePending}, {State: "done", Now: t0}} {
		if _, err := st.Triplets(ctx, bad); err == nil {
			t.Errorf("Triplets(%+v): no error", bad)
		}
	}
	n, err := st.DeleteTriplets(ctx, store.Filter{Rcpt: "x@example.org", State: store.StatePassed, Now: t0})
	if err != nil || n != 1 {
		t.Errorf("DeleteTriplets = %d, %v; want 1", n, err)
	}
	if left, _ := st.Triplets(ctx, store.Filter{}); len(left) != 3 {
		t.Errorf("%d entries left, want 3", len(left))
	}
}

// Updates of one triplet from many sessions at once, starting with no
// row, are applied one after the other: none is lost.
func testConcurrentUpdates(t *testing.T, st store.Store, reopen func() (store.Store, error)) {
	other := mustOpen(t, reopen) // a second process on the same database
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func(s store.Store) {
			defer wg.Done()
			_, err := s.UpdateTriplet(ctx, trip, func(old *store.Entry) store.Entry {
				if old == nil {
					return store.Entry{First: t0, Last: t0, Expires: t0.Add(time.Hour), Attempts: 1}
				}
				e := *old
				e.Attempts++
				return e
			})
			errs <- err
		}([]store.Store{st, other}[i%2])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	es, _ := st.Triplets(ctx, store.Filter{})
	if len(es) != 1 || es[0].Attempts != n {
		t.Errorf("after %d concurrent updates: %+v, want one entry with %d attempts", n, es, n)
	}
}

// Many sessions deciding at once, on one store handle (32 sessions of
// one maxwell) or on four sharing the database (four MX hosts, 8
// sessions each), on triplets they share and on triplets of their own:
// every attempt is counted once, and each triplet has one row.
func testConcurrentDeciders(t *testing.T, st store.Store, reopen func() (store.Store, error)) {
	const perSession = 40
	shared := []store.Triplet{trip, {Client: "198.51.100.0/24", Sender: "<>", Rcpt: "ann@example.org"}, {Client: "example.net", Sender: "bob@example.net", Rcpt: "cid@example.org"}}
	for _, shape := range []struct{ handles, sessions int }{{1, 32}, {4, 8}} {
		t.Run(fmt.Sprintf("%dx%d", shape.handles, shape.sessions), func(t *testing.T) {
			if _, err := st.DeleteTriplets(ctx, store.Filter{}); err != nil {
				t.Fatal(err)
			}
			handles := []store.Store{st}
			for len(handles) < shape.handles {
				handles = append(handles, mustOpen(t, reopen))
			}
			var mu sync.Mutex
			sent := map[store.Triplet]int{}
			var wg sync.WaitGroup
			for h, s := range handles {
				for i := range shape.sessions {
					wg.Go(func() {
						for j := range perSession {
							tr := shared[j%len(shared)]
							if j%2 == 1 { // every other attempt on a triplet of this session's own
								tr = store.Triplet{Client: fmt.Sprintf("%d.%d", h, i), Sender: fmt.Sprintf("s%d@example.com", j%5), Rcpt: "ann@example.org"}
							}
							_, err := s.UpdateTriplet(ctx, tr, func(old *store.Entry) store.Entry {
								if old == nil {
									return store.Entry{First: t0, Last: t0, Expires: t0.Add(time.Hour), Attempts: 1}
								}
								e := *old
								e.Attempts++
								return e
							})
							if err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							sent[tr]++
							mu.Unlock()
						}
					})
				}
			}
			wg.Wait()
			es, err := st.Triplets(ctx, store.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			rows := map[store.Triplet]int{}
			for _, e := range es {
				if rows[e.Triplet]++; rows[e.Triplet] > 1 {
					t.Errorf("triplet %+v has %d rows", e.Triplet, rows[e.Triplet])
				}
				if e.Attempts != sent[e.Triplet] {
					t.Errorf("triplet %+v: %d attempts counted, %d made", e.Triplet, e.Attempts, sent[e.Triplet])
				}
			}
			if len(rows) != len(sent) {
				t.Errorf("%d triplets stored, %d decided on", len(rows), len(sent))
			}
		})
	}
}

func testStats(t *testing.T, st store.Store, _ func() (store.Store, error)) {
	expired := entry("203.0.113.0/24", "old@example.com", "x@example.org", -72*time.Hour, false)
	long := entry("example.net", "b@example.net", "y@example.org", 0, true)
	long.Delay = 20 * time.Minute
	if err := st.PutTriplets(ctx, []store.Entry{
		entry("192.0.2.0/24", "a@example.com", "x@example.org", 0, false),
		entry("192.0.2.0/24", "b@example.com", "y@example.org", 0, true), // delay 10m
		long, expired,
	}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := st.CountPass(ctx, store.KindClient, "example.net", t0, time.Hour, 2); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.GreylistStats(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Stats{Pending: 1, Passed: 2, Expired: 1, Whitelisted: 1, AvgDelay: 15 * time.Minute}
	if got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

// Triplets filtered by state, Entry.State and GreylistStats count the
// same: an entry past its expiry is expired, whether it had passed or not,
// and is what Expire removes.
func testStatesAgree(t *testing.T, st store.Store, _ func() (store.Store, error)) {
	expiredPassed := entry("192.0.2.0/24", "d@example.com", "x@example.org", -40*24*time.Hour, true)
	put := []store.Entry{
		entry("192.0.2.0/24", "a@example.com", "x@example.org", 0, false),
		entry("192.0.2.0/24", "b@example.com", "x@example.org", -72*time.Hour, false),
		entry("192.0.2.0/24", "c@example.com", "x@example.org", -time.Hour, true),
		expiredPassed,
		entry("192.0.2.0/24", "e@example.com", "x@example.org", -48*time.Hour, false), // expires at t0 exactly
	}
	if err := st.PutTriplets(ctx, put); err != nil {
		t.Fatal(err)
	}
	stats, err := st.GreylistStats(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	for state, want := range map[string]int{store.StatePending: 1, store.StatePassed: 1, store.StateExpired: 3} {
		es, err := st.Triplets(ctx, store.Filter{State: state, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.State(t0) != state {
				t.Errorf("%s listed as %s, but its State is %s", e.Sender, state, e.State(t0))
			}
		}
		counted := map[string]int{store.StatePending: stats.Pending, store.StatePassed: stats.Passed, store.StateExpired: stats.Expired}[state]
		if len(es) != want || counted != want {
			t.Errorf("%s: %d listed, %d counted; want %d", state, len(es), counted, want)
		}
	}
	if n, err := st.Expire(ctx, t0, 100); err != nil || n != stats.Expired {
		t.Errorf("Expire removed %d (%v); the expired were %d", n, err, stats.Expired)
	}
}

func testAutoWhitelist(t *testing.T, st store.Store, _ func() (store.Store, error)) {
	const key = "192.0.2.0/24"
	ttl := 35 * 24 * time.Hour
	for i := 1; i <= 3; i++ {
		listed, err := st.CountPass(ctx, store.KindClient, key, t0, ttl, 3)
		if err != nil {
			t.Fatal(err)
		}
		if listed != (i == 3) {
			t.Errorf("after %d passes listed = %v, want %v", i, listed, i == 3)
		}
	}
	if ok, err := st.Listed(ctx, store.KindSender, key, t0, ttl); ok || err != nil {
		t.Errorf("another kind's key: Listed = %v, %v", ok, err)
	}
	// Using the entry renews it: still listed just before the renewed expiry.
	later := t0.Add(ttl - time.Hour)
	if ok, _ := st.Listed(ctx, store.KindClient, key, later, ttl); !ok {
		t.Error("not listed before its expiry")
	}
	if ok, _ := st.Listed(ctx, store.KindClient, key, later.Add(ttl-time.Minute), ttl); !ok {
		t.Error("use did not renew the entry")
	}
	if ok, _ := st.Listed(ctx, store.KindClient, key, later.Add(3*ttl), ttl); ok {
		t.Error("listed after its expiry")
	}
	if listed, _ := st.CountPass(ctx, store.KindSender, "friend@example.net", t0, ttl, 1); !listed {
		t.Error("threshold 1: not listed at once")
	}
	ws, err := st.Whitelist(ctx, "")
	if err != nil || len(ws) != 2 || ws[0].Kind != store.KindClient || ws[0].Count != 3 || ws[0].Listed.IsZero() {
		t.Errorf("Whitelist = %+v, %v", ws, err)
	}
	if ok, err := st.Unlist(ctx, store.KindClient, key); !ok || err != nil {
		t.Errorf("Unlist = %v, %v", ok, err)
	}
	if ok, _ := st.Listed(ctx, store.KindClient, key, t0, ttl); ok {
		t.Error("listed after Unlist")
	}
}

func testCBVCache(t *testing.T, st store.Store, _ func() (store.Store, error)) {
	r := store.CBVResult{Sender: "joe@example.com", Code: 550, Text: "5.1.1 no such user", Checked: t0, Expires: t0.Add(time.Hour)}
	if err := st.PutCBV(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := st.CBV(ctx, r.Sender, t0.Add(time.Minute))
	if err != nil || got == nil || got.Code != 550 || got.Text != r.Text || !got.Checked.Equal(t0) {
		t.Errorf("CBV = %+v, %v", got, err)
	}
	r.Code, r.Text = 250, "ok"
	if err := st.PutCBV(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.CBV(ctx, r.Sender, t0); got == nil || got.Code != 250 {
		t.Errorf("replaced CBV = %+v", got)
	}
	if got, _ := st.CBV(ctx, r.Sender, t0.Add(2*time.Hour)); got != nil {
		t.Errorf("expired CBV = %+v, want nil", got)
	}
	if got, _ := st.CBV(ctx, "other@example.com", t0); got != nil {
		t.Errorf("unknown sender CBV = %+v, want nil", got)
	}
}

func testBlacklist(t *testing.T, st store.Store, _ func() (store.Store, error)) {
	bans := []store.Ban{
		{Kind: store.BanIP, Key: "192.0.2.7", Reason: "dictionary attack", Created: t0, Expires: t0.Add(time.Hour)},
		{Kind: store.BanSender, Key: "spam@example.com", Reason: "local blacklist", Created: t0}, // forever
	}
	for _, b := range bans {
		if err := st.Ban(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := st.Banned(ctx, store.BanIP, "192.0.2.7", t0); err != nil || b == nil || b.Reason != "dictionary attack" {
		t.Errorf("Banned = %+v, %v", b, err)
	}
	if b, _ := st.Banned(ctx, store.BanIP, "192.0.2.7", t0.Add(2*time.Hour)); b != nil {
		t.Errorf("expired ban in force: %+v", b)
	}
	if b, _ := st.Banned(ctx, store.BanSender, "spam@example.com", t0.Add(1000*time.Hour)); b == nil {
		t.Error("a ban without expiry lapsed")
	}
	if all, _ := st.Bans(ctx, "", t0); len(all) != 2 {
		t.Errorf("Bans = %+v, want 2", all)
	}

	// An IP's two kinds in one query: the ones in force, of those kinds.
	for _, b := range []store.Ban{
		{Kind: store.BanClient, Key: "192.0.2.7", Reason: "rat", Created: t0, Expires: t0.Add(3 * time.Hour)},
		{Kind: store.BanSender, Key: "192.0.2.7", Reason: "not an IP kind", Created: t0},
	} {
		if err := st.Ban(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	kinds := func(bs []store.Ban) (out []string) {
		for _, b := range bs {
			out = append(out, b.Kind+":"+b.Reason)
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct {
		at   time.Time
		want []string
	}{
		{t0, []string{"client:rat", "ip:dictionary attack"}},
		{t0.Add(2 * time.Hour), []string{"client:rat"}},
		{t0.Add(4 * time.Hour), nil},
	} {
		bs, err := st.BansOn(ctx, "192.0.2.7", c.at, store.BanIP, store.BanClient)
		if got := kinds(bs); err != nil || !slices.Equal(got, c.want) {
			t.Errorf("BansOn at %v = %v, %v; want %v", c.at.Sub(t0), got, err, c.want)
		}
	}
	if _, err := st.BansOn(ctx, "192.0.2.7", t0, store.BanIP, store.BanClient, store.BanSender); err == nil {
		t.Error("BansOn of three kinds: no error")
	}
	for _, k := range []string{store.BanClient, store.BanSender} {
		if _, err := st.Unban(ctx, k, "192.0.2.7"); err != nil {
			t.Fatal(err)
		}
	}
	if ips, _ := st.Bans(ctx, store.BanIP, t0.Add(2*time.Hour)); len(ips) != 0 {
		t.Errorf("Bans(ip) after expiry = %+v", ips)
	}
	if ok, err := st.Unban(ctx, store.BanSender, "spam@example.com"); !ok || err != nil {
		t.Errorf("Unban = %v, %v", ok, err)
	}
	if ok, _ := st.Unban(ctx, store.BanSender, "spam@example.com"); ok {
		t.Error("Unban of a lifted ban reported a removal")
	}
}

// BanPage lists one kind's bans in force, by key, a page at a time, and
// finds a key or the keys that start with a prefix (a character past
// ASCII last, whose successor has another first byte in UTF-8).
func testBanPage(t *testing.T, st store.Store, _ func() (store.Store, error)) {
	for _, b := range []store.Ban{
		{Kind: store.BanClient, Key: "192.0.2.1", Reason: "rat", Created: t0, Expires: t0.Add(time.Hour)},
		{Kind: store.BanClient, Key: "192.0.2.10", Reason: "rat", Created: t0, Expires: t0.Add(time.Hour)},
		{Kind: store.BanClient, Key: "192.0.2.11", Reason: "lapsed", Created: t0.Add(-2 * time.Hour), Expires: t0.Add(-time.Hour)},
		{Kind: store.BanClient, Key: "192.0.2.12", Reason: "rat", Created: t0, Expires: t0.Add(time.Hour)},
		{Kind: store.BanClient, Key: "192.0.2.2", Reason: "rat", Created: t0, Expires: t0.Add(time.Hour)},
		{Kind: store.BanClient, Key: "2001:db8::1", Reason: "rat", Created: t0, Expires: t0.Add(time.Hour)},
		{Kind: store.BanLifted, Key: "192.0.2.13", Reason: "lifted by hand", Created: t0, Expires: t0.Add(time.Hour)},
		{Kind: store.BanIP, Key: "192.0.2.14", Reason: "demerits", Created: t0, Expires: t0.Add(time.Hour)},
		{Kind: store.BanSender, Key: "x\u00bfa@example.com", Reason: "complaints", Created: t0},
		{Kind: store.BanSender, Key: "x\u00c0@example.com", Reason: "complaints", Created: t0},
	} {
		if err := st.Ban(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		f    store.BanFilter
		want []string
	}{
		{"a kind", store.BanFilter{Kind: store.BanClient}, []string{"192.0.2.1", "192.0.2.10", "192.0.2.12", "192.0.2.2", "2001:db8::1"}},
		{"a key", store.BanFilter{Kind: store.BanClient, Key: "192.0.2.1"}, []string{"192.0.2.1"}},
		{"a key of another kind", store.BanFilter{Kind: store.BanClient, Key: "192.0.2.14"}, nil},
		{"a lapsed key", store.BanFilter{Kind: store.BanClient, Key: "192.0.2.11"}, nil},
		{"a prefix", store.BanFilter{Kind: store.BanClient, Key: "192.0.2.1", Prefix: true}, []string{"192.0.2.1", "192.0.2.10", "192.0.2.12"}},
		{"a prefix after a key", store.BanFilter{Kind: store.BanClient, Key: "192.0.2.1", Prefix: true, After: "192.0.2.1"}, []string{"192.0.2.10", "192.0.2.12"}},
		{"a prefix, limited", store.BanFilter{Kind: store.BanClient, Key: "192.", Prefix: true, Limit: 2}, []string{"192.0.2.1", "192.0.2.10"}},
		{"a prefix past ASCII", store.BanFilter{Kind: store.BanSender, Key: "x\u00bf", Prefix: true}, []string{"x\u00bfa@example.com"}},
		{"the lifted are no bans", store.BanFilter{Kind: store.BanLifted}, []string{"192.0.2.13"}},
		{"later, none in force", store.BanFilter{Kind: store.BanClient, Now: t0.Add(time.Hour)}, nil},
	} {
		f := c.f
		if f.Now.IsZero() {
			f.Now = t0
		}
		if f.Limit == 0 {
			f.Limit = 100
		}
		bs, err := st.BanPage(ctx, f)
		var got []string
		for _, b := range bs {
			if b.Kind != f.Kind {
				t.Errorf("%s: a ban of kind %q", c.name, b.Kind)
			}
			got = append(got, b.Key)
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: BanPage = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if bs, _ := st.BanPage(ctx, store.BanFilter{Kind: store.BanClient, Key: "192.0.2.12", Now: t0, Limit: 1}); len(bs) != 1 ||
		bs[0].Reason != "rat" || !bs[0].Created.Equal(t0) || !bs[0].Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("the ban read back: %+v", bs)
	}

	// Pages of two: each ban once, in order, until a short page.
	var all []string
	for after := ""; ; {
		bs, err := st.BanPage(ctx, store.BanFilter{Kind: store.BanClient, After: after, Now: t0, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			all = append(all, b.Key)
		}
		if len(bs) < 2 {
			break
		}
		after = bs[len(bs)-1].Key
	}
	if want := []string{"192.0.2.1", "192.0.2.10", "192.0.2.12", "192.0.2.2", "2001:db8::1"}; !slices.Equal(all, want) {
		t.Errorf("paged: %v, want %v", all, want)
	}

	for _, bad := range []store.BanFilter{{Limit: 10, Now: t0}, {Kind: store.BanIP, Now: t0}, {Kind: store.BanSender, Key: "\xff", Limit: 1, Now: t0}} {
		if _, err := st.BanPage(ctx, bad); err == nil {
			t.Errorf("BanPage(%+v): no error", bad)
		}
	}
}

// Expire removes at most a batch per kind per call and never what is
// still valid.
func testExpire(t *testing.T, st store.Store, _ func() (store.Store, error)) {
	var es []store.Entry
	for i := range 25 {
		es = append(es, entry("192.0.2.0/24", fmt.Sprintf("s%d@example.com", i), "x@example.org", -49*time.Hour, false))
	}
	for i := range 5 {
		es = append(es, entry("192.0.2.0/24", fmt.Sprintf("keep%d@example.com", i), "x@example.org", 0, false))
	}
	if err := st.PutTriplets(ctx, es); err != nil {
		t.Fatal(err)
	}
	st.PutCBV(ctx, store.CBVResult{Sender: "old@example.com", Code: 250, Checked: t0, Expires: t0.Add(-time.Second)})
	st.Ban(ctx, store.Ban{Kind: store.BanIP, Key: "192.0.2.9", Created: t0})                                // forever
	st.Ban(ctx, store.Ban{Kind: store.BanIP, Key: "192.0.2.8", Created: t0, Expires: t0.Add(-time.Second)}) // lapsed
	st.CountPass(ctx, store.KindClient, "old", t0.Add(-2*time.Hour), time.Hour, 5)

	var removed []int
	for {
		n, err := st.Expire(ctx, t0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		removed = append(removed, n)
	}
	if fmt.Sprint(removed) != "[13 10 5]" { // 10 greylist + cbv + ban + whitelist, then 10, then 5
		t.Errorf("removed per call = %v, want [13 10 5]", removed)
	}
	if left, _ := st.Triplets(ctx, store.Filter{}); len(left) != 5 {
		t.Errorf("%d triplets left, want the 5 valid ones", len(left))
	}
	if b, _ := st.Banned(ctx, store.BanIP, "192.0.2.9", t0); b == nil {
		t.Error("a ban without expiry was expired")
	}
}

func testReopen(t *testing.T, st store.Store, reopen func() (store.Store, error)) {
	if err := st.PutTriplets(ctx, []store.Entry{entry("192.0.2.0/24", "a@example.com", "x@example.org", 0, true)}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	again := mustOpen(t, reopen) // migrations run again: nothing to do
	if v, err := store.Version(ctx, again); err != nil || v != store.SchemaVersion {
		t.Errorf("schema version = %d, %v; want %d", v, err, store.SchemaVersion)
	}
	if es, err := again.Triplets(ctx, store.Filter{}); err != nil || len(es) != 1 || es[0].Pending() {
		t.Errorf("after reopening: %+v, %v", es, err)
	}
}

// A database migrated by a newer maxwell is refused, not written.
func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maxwell.db")
	st, err := store.OpenSQLite(ctx, path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_version VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := store.OpenSQLite(ctx, path, time.Second); !errors.Is(err, store.ErrNewerSchema) {
		t.Errorf("Open = %v, want ErrNewerSchema", err)
	}
}

func testPing(t *testing.T, st store.Store, _ func() (store.Store, error)) {
	if err := st.Ping(ctx); err != nil {
		t.Errorf("Ping of an open store: %v", err)
	}
	st.Close()
	if err := st.Ping(ctx); err == nil {
		t.Error("Ping of a closed store succeeded")
	}
}

// OpenExisting* open only a store that is there, and create nothing: no
// file or directory for SQLite, no table in an empty file or database.
// A file that is not a SQLite database (an empty one, or anything else),
// and a database of something else, are no store either, and are left
// byte for byte as they were: SQLite would otherwise write its header
// into the empty file, or turn the other database to WAL mode. Once the
// daemon's Open* has created a store, they open it.
func TestOpenExistingCreatesNothing(t *testing.T) {
	pg := pgtest.Start(t)
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		return path
	}
	empty := file("empty.db", "")
	text := file("text.db", "greylist: none\n")
	other := filepath.Join(dir, "other.db")
	exec(t, "sqlite", other, `CREATE TABLE other (x INTEGER)`)
	emptyDSN, otherDSN := pg.NewDB(t), pg.NewDB(t)
	exec(t, "pgx", otherDSN, `CREATE TABLE other (x INTEGER)`)
	for _, tt := range []struct {
		name     string
		existing func() (store.Store, error)
		why      string                      // in the error
		create   func() (store.Store, error) // nil: the daemon cannot make a store there either
		nothing  func(t *testing.T)          // asserts nothing was created or changed
	}{
		{"sqlite, no file",
			func() (store.Store, error) {
				return store.OpenExistingSQLite(ctx, filepath.Join(dir, "data", "maxwell.db"), time.Second)
			},
			"(no such file)",
			func() (store.Store, error) {
				return store.OpenSQLite(ctx, filepath.Join(dir, "data", "maxwell.db"), time.Second)
			},
			func(t *testing.T) {
				if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
					t.Errorf("the directory was created (%v)", err)
				}
			}},
		{"sqlite, empty file",
			func() (store.Store, error) { return store.OpenExistingSQLite(ctx, empty, time.Second) },
			"(the file is empty, not a SQLite database)",
			func() (store.Store, error) { return store.OpenSQLite(ctx, empty, time.Second) },
			unchanged(empty)},
		{"sqlite, a file of something else",
			func() (store.Store, error) { return store.OpenExistingSQLite(ctx, text, time.Second) },
			`(not a SQLite database: the file begins "greylist: none\n")`,
			nil, unchanged(text)},
		{"sqlite, a database of something else",
			func() (store.Store, error) { return store.OpenExistingSQLite(ctx, other, time.Second) },
			"(no maxwell tables in the file)",
			nil, unchanged(other)},
		{"postgres, empty database",
			func() (store.Store, error) { return store.OpenExistingPostgres(ctx, emptyDSN, time.Second) },
			"(no maxwell tables in the database)",
			func() (store.Store, error) { return store.OpenPostgres(ctx, emptyDSN, time.Second) },
			func(t *testing.T) {
				if tables := count(t, "pgx", emptyDSN, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'`); tables != 0 {
					t.Errorf("%d tables were created", tables)
				}
			}},
		{"postgres, a database of something else",
			func() (store.Store, error) { return store.OpenExistingPostgres(ctx, otherDSN, time.Second) },
			"(no maxwell tables in the database)",
			nil,
			func(t *testing.T) {
				if tables := count(t, "pgx", otherDSN, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'`); tables != 1 {
					t.Errorf("%d tables, want the 1 there was", tables)
				}
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := tt.existing()
			if !errors.Is(err, store.ErrNoStore) || !strings.Contains(err.Error(), tt.why) {
				if st != nil {
					st.Close()
				}
				t.Fatalf("OpenExisting = %v, want ErrNoStore %s", err, tt.why)
			}
			tt.nothing(t)
			if tt.create == nil {
				return
			}
			mustOpen(t, tt.create).Close()
			st = mustOpen(t, tt.existing)
			if err := st.Ping(ctx); err != nil {
				t.Errorf("the created store: %v", err)
			}
		})
	}
}

// unchanged returns a check that the SQLite file at path holds what it
// held when unchanged was called, and that no -wal or -shm file was made
// beside it.
func unchanged(path string) func(t *testing.T) {
	before, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return func(t *testing.T) {
		if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, before) {
			t.Errorf("%s changed: %d bytes, then %d (%v)", filepath.Base(path), len(before), len(after), err)
		}
		for _, suffix := range []string{"-wal", "-shm", "-journal"} {
			if _, err := os.Lstat(path + suffix); !os.IsNotExist(err) {
				t.Errorf("%s%s was made (%v)", filepath.Base(path), suffix, err)
			}
		}
	}
}

// exec runs one statement on a database.
func exec(t *testing.T, driver, dsn, stmt string) {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatal(err)
	}
}

// count runs a COUNT query on a database.
func count(t *testing.T, driver, dsn, query string) int {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Learn decays an identity's counts to now and adds the observation; a
// reputation is read back as stored, and expires twenty half-lives
// after its last update.
func testReputation(t *testing.T, st store.Store, _ func() (store.Store, error)) {
	const hl = 30 * 24 * time.Hour
	if err := st.Learn(ctx, []store.Observation{{ID: "spf:example.com", Good: 4}, {ID: "net:192.0.2.0/24", Bad: 2}}, t0, hl); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(hl)
	if err := st.Learn(ctx, []store.Observation{{ID: "spf:example.com", Good: 1, Bad: 1}}, later, hl); err != nil {
		t.Fatal(err)
	}
	rs, err := st.Reputation(ctx, "spf:example.com", "net:192.0.2.0/24", "spf:unknown.example")
	if err != nil || len(rs) != 2 {
		t.Fatalf("Reputation = %+v, %v; want two", rs, err)
	}
	net, spf := rs[0], rs[1] // by id
	if spf.ID != "spf:example.com" || spf.Good != 3 || spf.Bad != 1 || spf.Events != 2 || !spf.First.Equal(t0) || !spf.Updated.Equal(later) {
		t.Errorf("spf:example.com = %+v, want good 4/2+1, bad 1, 2 events, first t0, updated t0+half-life", spf)
	}
	if net.Good != 0 || net.Bad != 2 || net.Events != 1 {
		t.Errorf("net = %+v", net)
	}
	if d := net.At(t0.Add(2*hl), hl); d.Bad != 0.5 || !d.Updated.Equal(t0) {
		t.Errorf("decayed two half-lives: %+v, want bad 0.5", d)
	}
	if d := net.At(t0.Add(-time.Hour), hl); d.Bad != 2 {
		t.Errorf("decayed to a time before the update: %+v, want unchanged", d)
	}
	all, err := st.Reputations(ctx, 0)
	if err != nil || len(all) != 2 || all[0].ID != "spf:example.com" {
		t.Errorf("Reputations = %+v, %v; want the latest updated first", all, err)
	}
	if one, _ := st.Reputations(ctx, 1); len(one) != 1 {
		t.Errorf("Reputations(limit 1) = %d rows", len(one))
	}
	n, err := st.Expire(ctx, t0.Add(20*hl+time.Millisecond), 100)
	if err != nil || n != 1 {
		t.Errorf("Expire = %d, %v; want the net (not updated for 20 half-lives) only", n, err)
	}
	if rs, _ := st.Reputation(ctx, "net:192.0.2.0/24"); len(rs) != 0 {
		t.Errorf("expired reputation still there: %+v", rs)
	}
}

// Learners at once, in several goroutines (and through PostgreSQL,
// several connections), lose no observation.
func testConcurrentLearners(t *testing.T, st store.Store, _ func() (store.Store, error)) {
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- st.Learn(ctx, []store.Observation{{ID: "spf:busy.example", Good: 1}, {ID: fmt.Sprintf("net:198.51.100.%d/32", i), Bad: 1}}, t0, time.Hour)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rs, err := st.Reputation(ctx, "spf:busy.example")
	if err != nil || len(rs) != 1 || rs[0].Good != n || rs[0].Events != n {
		t.Errorf("after %d learners: %+v, %v", n, rs, err)
	}
}
