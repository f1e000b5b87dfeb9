package policy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/pgtest"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/store"
)

// The greylist decision at RCPT (auto-whitelist lookup, through the
// daemon's cache, then the triplet's read-modify-write) on a store holding 100 000 triplets: 1000
// client networks × 100 senders, half of them passed. Nine decisions in
// ten are about known triplets, one in ten about a new one. On
// PostgreSQL, engines=4 is four engines, each on its own store handle
// (its own connection pool), sharing one database as four MX hosts
// would, each deciding for 32 sessions. Each engine first makes
// warm-up decisions, untimed. On SQLite, where the whole store runs in
// the process, the CPU time per decision is reported too.
//
//	go test -run '^$' -bench Greylist -benchtime 10000x ./policy
func BenchmarkGreylistDecision(b *testing.B) {
	const entries = 100_000
	ctx := context.Background()
	backends := []struct {
		name    string
		engines int
		// where returns an opener of store handles on one new database.
		where func(b *testing.B) func(b *testing.B) store.Store
	}{
		{"sqlite", 1, func(b *testing.B) func(b *testing.B) store.Store {
			path := filepath.Join(b.TempDir(), "bench.db")
			return func(b *testing.B) store.Store {
				st, err := store.OpenSQLite(ctx, path, 5*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				return st
			}
		}},
		{"postgres", 4, func(b *testing.B) func(b *testing.B) store.Store {
			dsn := pgtest.Start(b).NewDB(b)
			return func(b *testing.B) store.Store {
				st, err := store.OpenPostgres(ctx, dsn, 5*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				return st
			}
		}},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			open := be.where(b)
			st := open(b)
			defer st.Close()
			now := time.Now() // wall clock: the engines below run on it too
			batch := make([]store.Entry, 0, 5000)
			for i := range entries {
				e := store.Entry{Triplet: benchTriplet(i), First: now.Add(-time.Minute), Last: now.Add(-time.Minute),
					Expires: now.Add(48 * time.Hour), Attempts: 1}
				if i%2 == 1 {
					e.Passed, e.Delay, e.Passes, e.Expires = now, 10*time.Minute, 1, now.Add(35*24*time.Hour)
				}
				if batch = append(batch, e); len(batch) == cap(batch) {
					if err := st.PutTriplets(ctx, batch); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			e := benchEngine(b, st)
			// Warm up, as make bench warms up each milter: the figures are
			// of a store in use, not of the first seconds after a bulk load
			// (cold caches; PostgreSQL has not analysed the table yet).
			decideShared(b, []*Engine{e}, 32, 5000, entries)
			// The baseline: one indexed read through the same store, the
			// least a decision can cost.
			b.Run("baseline=point-read", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if _, err := st.Listed(ctx, store.KindClient, benchTriplet(i%entries).Client, now, time.Hour); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
			})
			for _, sessions := range []int{1, 32} {
				b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
					b.SetParallelism((sessions + 1) / 2) // × GOMAXPROCS (2 here) goroutines
					if sessions == 1 {
						b.SetParallelism(1)
					}
					cpu := cpuTime(b)
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						s := e.NewSession()
						r := rand.New(rand.NewPCG(rand.Uint64(), 0))
						for pb.Next() {
							benchDecide(b, s, r, entries)
						}
					})
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
					if be.engines == 1 { // the whole store runs in this process
						b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/decision")
					}
				})
			}
			if be.engines < 2 {
				return
			}
			engines := []*Engine{e}
			for range be.engines - 1 {
				st := open(b)
				defer st.Close()
				engines = append(engines, benchEngine(b, st))
			}
			decideShared(b, engines, 32, 5000, entries) // each its connections opened, its queries prepared
			b.Run(fmt.Sprintf("engines=%d/sessions=32", be.engines), func(b *testing.B) {
				b.ResetTimer()
				decideShared(b, engines, 32, b.N, entries)
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
			})
		})
	}
}

// decideShared makes n decisions in all, with sessions goroutines on
// each engine sharing them out as they go: a fast engine takes more, as
// a real MX would.
func decideShared(b *testing.B, engines []*Engine, sessions, n, entries int) {
	var next sync.Mutex
	left := n
	take := func() bool {
		next.Lock()
		defer next.Unlock()
		left--
		return left >= 0
	}
	var wg sync.WaitGroup
	for _, e := range engines {
		for range sessions {
			wg.Go(func() {
				s := e.NewSession()
				r := rand.New(rand.NewPCG(rand.Uint64(), 0))
				for take() {
					benchDecide(b, s, r, entries)
				}
			})
		}
	}
	wg.Wait()
}

// cpuTime is the CPU time the process has used so far, user and system:
// on a machine shared with other work, a steadier figure than the rate.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchEngine is an engine on the default configuration deciding on st,
// through the cache of auto-whitelist answers and bans that maxwell serve
// puts before its store ([store] cache_ttl), one cache per engine as one
// per MX host.
func benchEngine(b *testing.B, st store.Store) *Engine {
	cfg := config.Default()
	e, err := New(cfg, resolver.FromConfig(cfg.DNS), maillog.New(io.Discard), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	e.UseStore(store.Cached(st, cfg.Store.CacheTTL.D(), store.DefaultCacheKeys))
	return e
}

// benchDecide makes one greylist decision in s: about a known triplet
// nine times in ten, a new one the tenth.
func benchDecide(b *testing.B, s *Session, r *rand.Rand, entries int) {
	i := r.IntN(entries)
	if r.IntN(10) == 0 {
		i = entries + r.IntN(1<<30) // a new triplet
	}
	t := benchTriplet(i)
	s.Conn.IP = netip.MustParsePrefix(t.Client).Addr().Next()
	s.Msg = &Message{Info: MailInfo{Sender: t.Sender}, Rcpt: t.Rcpt}
	if _, err := checkGreylist(s); err != nil {
		b.Error(err)
	}
}

// benchTriplet is the i-th triplet of the benchmark's store.
func benchTriplet(i int) store.Triplet {
	net := i / 100 % 1000
	return store.Triplet{
		Client: fmt.Sprintf("10.%d.%d.0/24", net/256, net%256),
		Sender: fmt.Sprintf("sender%d@example.com", i),
		Rcpt:   "rcpt@example.org",
	}
}
