package maillog

import (
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLog logs from 8 goroutines at once, as sessions do, to a
// file: line by line (flush_interval = "0s") and buffered as serve does
// by default. Per line: the time, and the writes (system calls) made.
func BenchmarkLog(b *testing.B) {
	const goroutines = 8
	for _, flush := range []time.Duration{0, 100 * time.Millisecond} {
		b.Run("flush="+flush.String(), func(b *testing.B) {
			l, err := Open(filepath.Join(b.TempDir(), "mail.log"), 0, flush)
			if err != nil {
				b.Fatal(err)
			}
			w := &countWrites{w: l.w}
			l.w = w
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for g := range goroutines {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						l.Log(uint64(g), "decision", "tag", "REJECT", "reason", "hello SPF: fail", "code", 550, "xcode", "5.7.1",
							"text", "SPF fail: see http://www.openspf.org/Why?id=alice%40sender.example&ip=198.51.100.7")
					}
				})
			}
			wg.Wait()
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(w.n.Load())/float64(b.N), "writes/line")
		})
	}
}

// countWrites counts the writes to w.
type countWrites struct {
	w io.Writer
	n atomic.Int64
}

func (c *countWrites) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.w.Write(p)
}
