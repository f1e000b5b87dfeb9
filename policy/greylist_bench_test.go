package policy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/pgtest"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/store"
)

// The greylist decision at RCPT (auto-whitelist lookup, then the
// triplet's read-modify-write) on a store holding 100 000 triplets: 1000
// client networks × 100 senders, half of them passed. Nine decisions in
// ten are about known triplets, one in ten about a new one.
//
//	go test -run '^$' -bench Greylist -benchtime 10000x ./policy
func BenchmarkGreylistDecision(b *testing.B) {
	const entries = 100_000
	ctx := context.Background()
	backends := []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"sqlite", func(b *testing.B) store.Store {
			st, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "bench.db"), 5*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			return st
		}},
		{"postgres", func(b *testing.B) store.Store {
			st, err := store.OpenPostgres(ctx, pgtest.Start(b).NewDB(b), 5*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			return st
		}},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			defer st.Close()
			now := time.Now() // wall clock: the engine below runs on it too
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
			e, err := New(config.Default(), resolver.FromConfig(config.Default().DNS), maillog.New(io.Discard), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			e.UseStore(st)
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
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						r := rand.New(rand.NewPCG(rand.Uint64(), 0))
						s := e.NewSession()
						for pb.Next() {
							i := r.IntN(entries)
							if r.IntN(10) == 0 {
								i = entries + r.IntN(1<<30) // a new triplet
							}
							t := benchTriplet(i)
							s.Conn.IP = netip.MustParsePrefix(t.Client).Addr().Next()
							s.Msg = &Message{Info: MailInfo{Sender: t.Sender}, Rcpt: t.Rcpt}
							if _, err := checkGreylist(s); err != nil {
								b.Fatal(err)
							}
						}
					})
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
				})
			}
		})
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
