package logindex

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"github.com/maxwell-milter/maxwell/internal/testclock"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// logSize is the synthetic log's size: small by default so that
// `go test -bench` is quick; -logsize=1GB (or LOGINDEX_BENCH_BYTES) for
// the figure the console is held to (issue 24: under 100 ms on 1 GB).
var logSize = flag.String("logsize", "", "size of BenchmarkSearch's synthetic mail log (20MB, 1GB, or bytes)")

// Populations the synthetic log draws from, and the benchmark searches.
const (
	benchIPs     = 200000
	benchSenders = 100000
	benchRcpts   = 20000
)

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if strings.HasSuffix(strings.ToUpper(s), u.suffix) {
			s, mult = s[:len(s)-len(u.suffix)], u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

func benchIP(i int) string { return fmt.Sprintf("%d.%d.%d.%d", 11+i>>16, i>>8&255, i&255, 7) }
func benchSender(i int) string {
	return fmt.Sprintf("user%d@sender%d.example", i, i%5000)
}
func benchRcpt(i int) string { return fmt.Sprintf("rcpt%d@example.net", i) }
func benchQID(i int) string  { return fmt.Sprintf("4Q%08X", i) }

// genLog writes a mail log of about size bytes: connections of one to
// three messages with realistic events, 40 of them open at a time, their
// lines interleaved as the daemon writes them. It returns how many
// connections and messages it made.
func genLog(path string, size int64) (conns, msgs int, err error) {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return 0, 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	t := testclock.Epoch()
	const open = 40
	active := make([][]string, open)
	next := func() []string {
		conns++
		id := 1767225600000000 + conns
		ip := benchIP(r.IntN(benchIPs))
		var ls []string
		ls = append(ls, fmt.Sprintf("conn=%d event=connect ip=%s host=unknown ptr=host-%s.dyn.example.com class=\"EXTERNAL DYN\"", id, ip, strings.ReplaceAll(ip, ".", "-")))
		ls = append(ls, fmt.Sprintf("conn=%d event=hello helo=mail%d.example.com", id, r.IntN(50000)))
		ls = append(ls, fmt.Sprintf("conn=%d event=dnsbl what=client key=%s lists=2 cached=1", id, ip))
		for range 1 + r.IntN(3) {
			msgs++
			qid := benchQID(msgs)
			ls = append(ls, fmt.Sprintf("conn=%d event=\"mail from\" from=%s qid=%s args=SIZE=%d", id, benchSender(r.IntN(benchSenders)), qid, 1000+r.IntN(100000)))
			ls = append(ls, fmt.Sprintf("conn=%d event=spf result=pass identity=mailfrom domain=sender.example policy=OK", id))
			rc := benchRcpt(r.IntN(benchRcpts))
			ls = append(ls, fmt.Sprintf("conn=%d event=\"rcpt to\" to=%s", id, rc))
			switch r.IntN(4) {
			case 0:
				ls = append(ls, fmt.Sprintf("conn=%d event=decision tag=GREYLISTED reason=\"greylisted %s/24\" rcpt=%s code=451 xcode=4.7.1 text=\"Greylisted, try again later\"", id, ip, rc))
			case 1:
				ls = append(ls, fmt.Sprintf("conn=%d event=decision tag=REJECT reason=\"SPF fail: -all\" rcpt=%s code=550 xcode=5.7.1 text=\"SPF fail\"", id, rc))
			default:
				ls = append(ls, fmt.Sprintf("conn=%d event=header name=Subject value=\"Invoice %d\"", id, r.IntN(1e6)))
				ls = append(ls, fmt.Sprintf("conn=%d event=eom action=accept qid=%s rcpts=1 edits=0", id, qid))
			}
		}
		return append(ls, fmt.Sprintf("conn=%d event=close messages=1", id))
	}
	for i := range active {
		active[i] = next()
	}
	var written int64
	for written < size {
		i := r.IntN(open)
		if len(active[i]) == 0 {
			active[i] = next()
		}
		if r.IntN(8) == 0 {
			t = t.Add(time.Second)
		}
		n, err := fmt.Fprintf(w, "%s %s\n", t.Format(time.RFC3339), active[i][0])
		if err != nil {
			f.Close()
			return 0, 0, err
		}
		written += int64(n)
		active[i] = active[i][1:]
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, 0, err
	}
	if err := f.Close(); err != nil {
		return 0, 0, err
	}
	return conns, msgs, os.Rename(path+".tmp", path)
}

// benchFixture is the log and its index, made once per size and kept
// (in $MAXWELL_BENCH_DIR, else the system's temp dir) for the next runs.
type benchFixture struct {
	log         string
	x           *Index
	conns, msgs int
}

var (
	fixtureOnce sync.Once
	fixture     benchFixture
	fixtureErr  error
)

func getFixture(b *testing.B) *benchFixture {
	fixtureOnce.Do(func() {
		s := *logSize
		if s == "" {
			s = os.Getenv("LOGINDEX_BENCH_BYTES")
		}
		if s == "" {
			s = "20MB"
		}
		size, err := parseSize(s)
		if err != nil {
			fixtureErr = fmt.Errorf("log size %q: %w", s, err)
			return
		}
		dir := os.Getenv("MAXWELL_BENCH_DIR")
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "maxwell-logindex-bench")
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			fixtureErr = err
			return
		}
		fixture.log = filepath.Join(dir, fmt.Sprintf("mail-%d.log", size))
		meta := fixture.log + ".counts"
		if m, err := os.ReadFile(meta); err == nil {
			_, err = fmt.Sscan(string(m), &fixture.conns, &fixture.msgs)
			fixtureErr = err
		} else {
			start := time.Now() // wall clock: a stopwatch
			if fixture.conns, fixture.msgs, fixtureErr = genLog(fixture.log, size); fixtureErr != nil {
				return
			}
			b.Logf("generated %s (%d connections, %d messages) in %v", fixture.log, fixture.conns, fixture.msgs, time.Since(start).Round(time.Millisecond)) // wall clock: a stopwatch
			fixtureErr = os.WriteFile(meta, fmt.Appendf(nil, "%d %d", fixture.conns, fixture.msgs), 0o640)
		}
		if fixtureErr != nil {
			return
		}
		dbPath := filepath.Join(dir, fmt.Sprintf("index-%d.db", size))
		if fixture.x, fixtureErr = Open(dbPath); fixtureErr != nil {
			return
		}
		start := time.Now() // wall clock: a stopwatch
		n, err := fixture.x.Update(context.Background(), fixture.log)
		if fixtureErr = err; err != nil {
			return
		}
		if n > 0 {
			fi, _ := os.Stat(fixture.log)
			db, _ := os.Stat(dbPath)
			wal, _ := os.Stat(dbPath + "-wal")
			walSize := int64(0)
			if wal != nil {
				walSize = wal.Size()
			}
			b.Logf("indexed %d lines of %d MB in %v: index %d MB (+%d MB WAL)", n, fi.Size()>>20,
				time.Since(start).Round(time.Millisecond), db.Size()>>20, walSize>>20) // wall clock: a stopwatch
		}
	})
	if fixtureErr != nil {
		b.Fatal(fixtureErr)
	}
	return &fixture
}

// BenchmarkSearch measures a search of each kind and a trace on an
// indexed synthetic log (see logSize). Values are drawn at random from
// the log's populations, most of which it names.
func BenchmarkSearch(b *testing.B) {
	fx := getFixture(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name  string
		query func() Query
	}{
		{"ip", func() Query { return Query{Kind: "ip", Value: benchIP(r.IntN(benchIPs))} }},
		{"sender", func() Query { return Query{Kind: "sender", Value: benchSender(r.IntN(benchSenders))} }},
		{"rcpt", func() Query { return Query{Kind: "rcpt", Value: benchRcpt(r.IntN(benchRcpts))} }},
		{"qid", func() Query { return Query{Kind: "qid", Value: benchQID(1 + r.IntN(fx.msgs))} }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			found := 0
			for b.Loop() {
				cs, err := fx.x.Search(ctx, tc.query())
				if err != nil {
					b.Fatal(err)
				}
				found += len(cs)
			}
			b.ReportMetric(float64(found)/float64(b.N), "conns/op")
		})
	}
	b.Run("trace", func(b *testing.B) {
		lines := 0
		for b.Loop() {
			tr, err := fx.x.Trace(ctx, fx.log, uint64(1767225600000000+1+r.IntN(fx.conns-40)))
			if err != nil {
				b.Fatal(err)
			}
			lines += len(tr)
		}
		b.ReportMetric(float64(lines)/float64(b.N), "lines/op")
	})
}

// BenchmarkSummarize measures the overview's queries on the indexed
// synthetic log (see logSize): the last 1, 6 and 24 hours before its
// newest line, whose hours each hold more senders and clients than
// TopKeep.
func BenchmarkSummarize(b *testing.B) {
	fx := getFixture(b)
	ctx := context.Background()
	s, err := fx.x.Summarize(ctx, time.Time{}, time.Time{}, 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, hours := range []int{1, 6, 24} {
		b.Run(fmt.Sprintf("%dh", hours), func(b *testing.B) {
			rows := 0
			for b.Loop() {
				s, err := fx.x.Summarize(ctx, s.Newest.Add(-time.Duration(hours)*time.Hour), s.Newest, 10)
				if err != nil {
					b.Fatal(err)
				}
				rows = len(s.Minutes)
			}
			b.ReportMetric(float64(rows), "minutes/op")
		})
	}
}
