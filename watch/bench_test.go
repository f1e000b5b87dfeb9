package watch

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/maillog"
)

// BenchmarkParse reads the harness's Postfix lines.
func BenchmarkParse(b *testing.B) {
	lines := postfixLog(b)
	b.ResetTimer()
	for i := range b.N {
		Parse(lines[i%len(lines)], now)
	}
}

// BenchmarkProcess runs the harness's Postfix lines through a watcher
// on SQLite, each round from a new set of client addresses: two of its
// seven connections are rats, so a round writes two bans.
func BenchmarkProcess(b *testing.B) {
	lines := postfixLog(b)
	f := newFixture(b, nil)
	w := New(f.cfg, f.st, maillog.New(f.log), slog.New(slog.DiscardHandler))
	w.SetClock(func() time.Time { return f.clock })
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		for _, l := range lines {
			ev, ok := Parse(l, f.clock)
			if !ok {
				continue
			}
			if ev.IP.Is4() && !ev.IP.IsLoopback() {
				a := ev.IP.As4()
				a[2], a[3] = byte(i>>8), byte(i)
				ev.IP = netip.AddrFrom4(a)
			}
			ev.Process = fmt.Sprint(ev.Process, i)
			if err := w.Process(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "lines/s")
}
