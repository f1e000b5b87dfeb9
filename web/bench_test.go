package web

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/maillogtest"
	"github.com/maxwell-milter/maxwell/logindex"
	"github.com/maxwell-milter/maxwell/store"
)

// The console is held to an answer under 100 ms for every page with a
// 1 GB mail log and 1 000 000 greylist entries (issue 24). The defaults
// are small, for a quick `go test -bench`; bench/web.sh runs the figure
// of the docs:
//
//	go test -run '^$' -bench Pages ./web -args -greylist 1000000 -logsize 1GB
//
// The store, the log and its index are made once per size in
// $MAXWELL_BENCH_DIR (else the system's temp dir) and kept for the next
// runs: a 1 GB log takes minutes to write and to index.
var (
	benchEntries = flag.Int("greylist", 20000, "greylist entries in BenchmarkPages's store")
	benchLogSize = flag.String("logsize", "20MB", "size of BenchmarkPages's mail log (20MB, 1GB, or bytes)")
)

// Greylist populations: every client network has entries for 20
// recipients in a row, every recipient 50 entries; senders at random.
const (
	benchNetworks = 50000
	benchPerRcpt  = 50
	benchBans     = 10000 // of each of two kinds
)

func benchNetwork(i int) string { return fmt.Sprintf("10.%d.%d.0/24", i>>8&255, i&255) }

// benchEntry is the i-th greylist entry: 12 in 20 pending, 7 passed, 1
// expired, as of testclock's epoch (the console's clock in the
// benchmark).
func benchEntry(i int, r *rand.Rand, now time.Time) store.Entry {
	e := store.Entry{Triplet: store.Triplet{Client: benchNetwork(i % benchNetworks), Sender: maillogtest.Sender(r.IntN(maillogtest.Senders)),
		Rcpt: maillogtest.Rcpt(i / benchPerRcpt)}, First: now.Add(-time.Duration(r.IntN(48*3600)) * time.Second), Attempts: 1}
	e.Last, e.Expires = e.First, e.First.Add(48*time.Hour)
	switch i % 20 {
	case 12, 13, 14, 15, 16, 17, 18:
		e.Passed, e.Delay, e.Passes = e.First.Add(10*time.Minute), 10*time.Minute, 1+r.IntN(20)
		e.Expires = e.Passed.Add(35 * 24 * time.Hour)
	case 19:
		e.Expires = now.Add(-time.Minute)
	}
	return e
}

// benchStore opens the store of n entries, making it if need be.
func benchStore(b *testing.B, dir string, n int, now time.Time) store.Store {
	ctx := context.Background()
	path := filepath.Join(dir, fmt.Sprintf("greylist-%d-%d.db", n, now.Unix()))
	done := path + ".done"
	if _, err := os.Stat(done); err != nil {
		os.Remove(path)
		start := time.Now() // wall clock: a stopwatch
		st, err := store.OpenSQLite(ctx, path, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		r := rand.New(rand.NewPCG(5, 6))
		batch := make([]store.Entry, 0, 10000)
		for i := range n {
			if batch = append(batch, benchEntry(i, r, now)); len(batch) == cap(batch) || i == n-1 {
				if err := st.PutTriplets(ctx, batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		for i := range benchBans { // bans of two kinds, for the blacklist pages
			for _, kind := range []string{store.BanClient, store.BanIP} {
				if err := st.Ban(ctx, store.Ban{Kind: kind, Key: maillogtest.IP(i), Reason: "benchmark", Created: now, Expires: now.Add(24 * time.Hour)}); err != nil {
					b.Fatal(err)
				}
			}
		}
		st.Close()
		b.Logf("made %s (%d entries) in %v", path, n, time.Since(start).Round(time.Millisecond)) // wall clock: a stopwatch
		if err := os.WriteFile(done, nil, 0o640); err != nil {
			b.Fatal(err)
		}
	}
	st, err := store.OpenSQLite(ctx, path, time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// benchLog returns the mail log of about size bytes and its index, made
// if need be, and how many connections and messages the log holds.
func benchLog(b *testing.B, dir string, size int64) (logFile string, x *logindex.Index, conns, msgs int) {
	logFile = filepath.Join(dir, fmt.Sprintf("mail-%d.log", size))
	counts := logFile + ".counts"
	if c, err := os.ReadFile(counts); err == nil {
		if _, err := fmt.Sscan(string(c), &conns, &msgs); err != nil {
			b.Fatal(err)
		}
	} else {
		start := time.Now() // wall clock: a stopwatch
		if conns, msgs, err = maillogtest.Generate(logFile, size); err != nil {
			b.Fatal(err)
		}
		b.Logf("wrote %s in %v", logFile, time.Since(start).Round(time.Millisecond)) // wall clock: a stopwatch
		if err := os.WriteFile(counts, fmt.Appendf(nil, "%d %d", conns, msgs), 0o640); err != nil {
			b.Fatal(err)
		}
	}
	x, err := logindex.Open(filepath.Join(dir, fmt.Sprintf("index-%d.db", size)))
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now() // wall clock: a stopwatch
	if n, err := x.Update(context.Background(), logFile); err != nil {
		b.Fatal(err)
	} else if n > 0 {
		b.Logf("indexed %d lines in %v", n, time.Since(start).Round(time.Millisecond)) // wall clock: a stopwatch
	}
	return logFile, x, conns, msgs
}

// logEnd is the time of the log's last line.
func logEnd(b *testing.B, logFile string) time.Time {
	f, err := os.Open(logFile)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	tail := make([]byte, min(fi.Size(), 4096))
	if _, err := f.ReadAt(tail, fi.Size()-int64(len(tail))); err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(tail), "\n"), "\n")
	l, ok := maillog.ParseLine(lines[len(lines)-1], 0)
	if !ok || l.Time.IsZero() {
		b.Fatalf("%s: the last line has no time", logFile)
	}
	return l.Time
}

// benchData is what the pages' searches are drawn from.
type benchData struct {
	n, conns, msgs int // greylist entries; the log's connections and messages
	now            time.Time
}

// benchPage is a page as the benchmark asks it: path draws a search.
type benchPage struct {
	name string
	path func() string
}

// benchPages are the pages BenchmarkPages measures, and docs/web.md
// shows.
func benchPages(d *benchData) []benchPage {
	r := rand.New(rand.NewPCG(7, 8))
	q := url.QueryEscape
	return []benchPage{
		{"overview", func() string { return "/" }},
		{"overview-24h", func() string { return "/?hours=24" }},
		{"greylist", func() string { return "/greylist" }},
		{"greylist-ip", func() string {
			return "/greylist?client=" + q(fmt.Sprintf("10.%d.%d.9", r.IntN(benchNetworks)>>8&255, r.IntN(256)))
		}},
		{"greylist-sender", func() string { return "/greylist?sender=" + q(maillogtest.Sender(r.IntN(maillogtest.Senders))) }},
		{"greylist-rcpt", func() string { return "/greylist?rcpt=" + q(maillogtest.Rcpt(r.IntN(max(1, d.n/benchPerRcpt)))) }},
		{"greylist-prefix", func() string { return "/greylist?sender=" + q("user"+strconv.Itoa(1+r.IntN(9))+"*") }},
		{"greylist-passed", func() string { return "/greylist?state=passed" }},
		{"greylist-expired", func() string { return "/greylist?state=expired" }},
		{"greylist-next", func() string {
			e := benchEntry(r.IntN(d.n), rand.New(rand.NewPCG(0, 0)), d.now)
			return "/greylist?after_client=" + q(e.Client) + "&after_sender=" + q(e.Sender) + "&after_rcpt=" + q(e.Rcpt)
		}},
		{"log-ip", func() string { return "/log?kind=ip&q=" + q(maillogtest.IP(r.IntN(maillogtest.IPs))) }},
		{"log-sender", func() string { return "/log?kind=sender&q=" + q(maillogtest.Sender(r.IntN(maillogtest.Senders))) }},
		{"log-rcpt", func() string { return "/log?kind=rcpt&q=" + q(maillogtest.Rcpt(r.IntN(maillogtest.Rcpts))) }},
		{"log-qid", func() string { return "/log?kind=qid&q=" + q(maillogtest.QID(1+r.IntN(d.msgs))) }},
		{"conn", func() string { return "/conn?id=" + strconv.Itoa(maillogtest.FirstConn+1+r.IntN(max(1, d.conns-40))) }},
		{"blacklist", func() string { return "/blacklist?kind=client" }},
		{"blacklist-prefix", func() string { return "/blacklist?kind=ip&q=" + q(fmt.Sprintf("11.%d.*", r.IntN(4))) }},
		{"blacklist-next", func() string {
			return "/blacklist?kind=client&after=" + q(maillogtest.IP(r.IntN(benchBans)))
		}},
		{"check", func() string { return "/check" }},
		{"config", func() string { return "/config" }},
	}
}

// BenchmarkPages asks each page of the console, through HTTP as a
// browser would, with searches drawn from the store's and the log's
// populations, and reports each page's median, 99th percentile and
// slowest answer in milliseconds.
func BenchmarkPages(b *testing.B) {
	size, err := maillogtest.ParseSize(*benchLogSize)
	if err != nil {
		b.Fatalf("-logsize %q: %v", *benchLogSize, err)
	}
	dir := os.Getenv("MAXWELL_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "maxwell-web-bench")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		b.Fatal(err)
	}
	logFile, x, conns, msgs := benchLog(b, dir, size)
	defer x.Close()
	now := logEnd(b, logFile) // the console's clock: the log's last line was just written
	st := benchStore(b, dir, *benchEntries, now)
	defer st.Close()

	cfg := config.Default()
	cfg.Web.Listen = "127.0.0.1:0"
	cfg.Web.Users = []config.WebUser{{Name: "admin", PasswordHash: hash(b, "correct horse")}}
	srv := httptest.NewServer(New(cfg, Deps{Store: st, Index: x, LogFile: logFile, Log: maillog.New(io.Discard),
		Now: func() time.Time { return now }, Diag: slog.New(slog.NewTextHandler(os.Stderr, nil))}))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(srv.URL+"/login", url.Values{"user": {"admin"}, "password": {"correct horse"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		b.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()

	// The overview's greylist counts, made in the background at most
	// once a minute: a read of the whole greylist, timed three times
	// whatever -benchtime says (a million entries take most of a
	// second).
	b.Run("greylist-count", func(b *testing.B) {
		var took []time.Duration
		for range 3 {
			start := time.Now() // wall clock: a stopwatch
			if _, err := st.GreylistStats(context.Background(), now); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(start)) // wall clock: a stopwatch
		}
		slices.Sort(took)
		b.ReportMetric(float64(took[1].Microseconds())/1000, "count-ms")
	})
	for _, p := range benchPages(&benchData{n: *benchEntries, conns: conns, msgs: msgs, now: now}) {
		b.Run(p.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				path := p.path()
				start := time.Now() // wall clock: a stopwatch
				resp, err := c.Get(srv.URL + path)
				if err != nil {
					b.Fatal(err)
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				took = append(took, time.Since(start)) // wall clock: a stopwatch
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("GET %s: %s %v", path, resp.Status, err)
				}
			}
			slices.Sort(took)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
			b.ReportMetric(ms(took[len(took)*99/100]), "p99-ms")
			b.ReportMetric(ms(took[len(took)-1]), "max-ms")
		})
	}
}

// docs/web.md carries a whole bench/web.sh run, as bench/docs.sh wrote
// it: the date, the commit and the machine, a line for every page
// benchPages measures, and the target, met or missed. A page added to
// the benchmark without a new run fails here.
func TestWebDocHoldsABenchWebRun(t *testing.T) {
	doc, err := os.ReadFile("../docs/web.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin = "<!-- make bench-web: begin. bench/docs.sh writes this block from the latest run; do not edit it by hand. -->\n"
	_, rest, ok := strings.Cut(string(doc), begin)
	block, _, ok2 := strings.Cut(rest, "<!-- make bench-web: end -->\n")
	if !ok || !ok2 {
		t.Fatal("docs/web.md has no make bench-web block")
	}
	lines := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
	if len(lines) < 4 || lines[0] != "```text" || lines[len(lines)-1] != "```" {
		t.Fatalf("the block is not one text block:\n%s", block)
	}
	if !regexp.MustCompile(`^make bench-web \d{4}-\d\d-\d\dT\d\d:\d\dZ, commit [0-9a-f]{7,}$`).MatchString(lines[1]) {
		t.Errorf("the block does not start with the run's date and commit: %q", lines[1])
	}
	if !regexp.MustCompile(`^\d+ CPUs: \S`).MatchString(lines[2]) {
		t.Errorf("the block does not say the machine: %q", lines[2])
	}
	for _, p := range benchPages(&benchData{}) {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(p.name) + ` +[0-9.]+ +[0-9.]+ +[0-9.]+ +x[0-9.]+$`).MatchString(block) {
			t.Errorf("no figures for the page %s", p.name)
		}
	}
	if !regexp.MustCompile(`(?m)^targets\n(met|missed) +every page under 100 ms`).MatchString(block) {
		t.Errorf("the block has no target line:\n%s", block)
	}
}
