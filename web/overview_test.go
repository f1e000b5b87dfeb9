package web

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/internal/testclock"
	"github.com/maxwell-milter/maxwell/logindex"
	"github.com/maxwell-milter/maxwell/store"
)

// at is the time d after the tests' clock, as the mail log writes it.
func at(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }

// indexed gives the console an index of a mail log of lines.
func indexed(t *testing.T, lines string) func(*config.Config, *Deps) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "mail.log")
	if err := os.WriteFile(log, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	x, err := logindex.Open(filepath.Join(dir, "logindex.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	if _, err := x.Update(context.Background(), log); err != nil {
		t.Fatal(err)
	}
	return func(_ *config.Config, d *Deps) { d.Index, d.LogFile = x, log }
}

// overviewLog is three connections of the last ten minutes: a refusal,
// an accepted message, and a greylisted one whose sender and reason are
// HTML.
func overviewLog() string {
	return fmt.Sprintf(`%[1]s conn=1 event=connect ip=192.0.2.1 host=unknown class=EXTERNAL
%[1]s conn=1 event="mail from" from=Alice@example.com
%[1]s conn=1 event=decision tag=REJECT reason="SPF fail: -all" rcpt=bob@example.org code=550
%[2]s conn=2 event=connect ip=192.0.2.1 host=unknown class=EXTERNAL
%[2]s conn=2 event="mail from" from=alice@example.com
%[2]s conn=2 event=eom action=accept qid=4XyZ rcpts=1
%[3]s conn=3 event=connect ip=198.51.100.7 host=unknown class=EXTERNAL
%[3]s conn=3 event="mail from" from="<script>alert(1)</script>@example.com"
%[3]s conn=3 event=decision tag=GREYLISTED reason="<img src=x onerror=alert(2)>: new" code=451
`, at(-10*time.Minute), at(-5*time.Minute), at(-time.Minute))
}

// svgs parses the page's inline SVG drawings, as XML.
type svgDrawing struct {
	Polygons []struct {
		Points string `xml:"points,attr"`
	} `xml:"polygon"`
	Rects []struct{} `xml:"rect"`
	Texts []string   `xml:"text"`
}

func svgs(t *testing.T, body string) []svgDrawing {
	t.Helper()
	var out []svgDrawing
	for _, s := range regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(body, -1) {
		var d svgDrawing
		if err := xml.Unmarshal([]byte(s), &d); err != nil {
			t.Fatalf("an SVG drawing that is not well-formed XML: %v\n%s", err, s)
		}
		out = append(out, d)
	}
	return out
}

// overviewPage asks for the overview at path, again until the greylist's
// first count, which runs in the background, is done.
func (f *fixture) overviewPage(c *http.Client, path string) (*http.Response, string) {
	f.t.Helper()
	var resp *http.Response
	var body string
	testclock.Poll(10*time.Second, 10*time.Millisecond, func() bool {
		resp, body = f.do(c, "GET", path, nil)
		return !strings.Contains(body, "The greylist is being counted")
	})
	return resp, body
}

func TestOverviewFigures(t *testing.T) {
	f := newFixture(t, indexed(t, overviewLog()))
	f.put(pending("192.0.2.0/24", "a@example.com", "x@example.org"))
	c := f.login("viewer", "battery staple")
	resp, body := f.overviewPage(c, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("overview: %s\n%s", resp.Status, body)
	}
	for _, want := range []string{
		// The top lists, their counts, and links to the log's search.
		`<td><a href="/log?kind=ip&amp;q=192.0.2.1">192.0.2.1</a></td><td>2</td>`,
		`<td><a href="/log?kind=ip&amp;q=198.51.100.7">198.51.100.7</a></td><td>1</td>`,
		`<td><a href="/log?kind=sender&amp;q=alice%40example.com">alice@example.com</a></td><td>2</td>`,
		`<td>SPF fail</td><td>1</td>`,
		// The greylist's counts, and when they were made.
		`<tr><th>Pending triplets</th><td>1</td></tr>`,
		"As of " + stamp(t0),
		"indexed up to " + stamp(t0.Add(-time.Minute)),
		"answers, in ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the overview lacks %s", want)
		}
	}
	if strings.Contains(body, "The mail log is not a file") {
		t.Error("an index, said missing")
	}
	ds := svgs(t, body)
	if len(ds) != 2 {
		t.Fatalf("%d SVG drawings, want the chart and the outcomes", len(ds))
	}
	// The chart: a band per outcome, accepted mail at the bottom, a
	// point per minute of the last 6 hours and this one.
	chart, bars := ds[0], ds[1]
	points := int(t0.Sub(t0.Truncate(time.Hour).Add(-6*time.Hour))/time.Minute) + 1
	if len(chart.Polygons) != 3 {
		t.Fatalf("%d bands, want 3", len(chart.Polygons))
	}
	for _, p := range chart.Polygons {
		if n := len(strings.Fields(p.Points)); n != 2*points {
			t.Errorf("a band of %d points, want %d", n, 2*points)
		}
	}
	legend := strings.Join(chart.Texts, "|")
	if !strings.Contains(legend, "ACCEPT 1|GREYLISTED 1|REJECT 1") {
		t.Errorf("the chart's legend: %s", legend)
	}
	if len(bars.Rects) != 3 || strings.Join(bars.Texts, " ") != "ACCEPT 1 GREYLISTED 1 REJECT 1" {
		t.Errorf("the outcomes: %d bars, %q", len(bars.Rects), bars.Texts)
	}
}

func TestOverviewEscapesMail(t *testing.T) {
	f := newFixture(t, indexed(t, overviewLog()))
	_, body := f.overviewPage(f.login("admin", "correct horse"), "/")
	if strings.Contains(body, "<script") || strings.Contains(body, "<img") {
		t.Fatalf("a value from mail unescaped:\n%s", body)
	}
	for _, want := range []string{
		`&lt;script&gt;alert(1)&lt;/script&gt;@example.com</a></td><td>1</td>`,
		`<td>&lt;img src=x onerror=alert(2)&gt;</td><td>1</td>`,
		`q=%3cscript%3ealert%281%29%3c%2fscript%3e%40example.com"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the overview lacks %s", want)
		}
	}
}

func TestOverviewHours(t *testing.T) {
	f := newFixture(t, indexed(t, overviewLog()))
	c := f.login("admin", "correct horse")
	for _, tc := range []struct {
		query string
		hours int
	}{{"", 6}, {"?hours=1", 1}, {"?hours=24", 24}, {"?hours=7", 6}, {"?hours=x", 6}} {
		_, body := f.overviewPage(c, "/"+tc.query)
		from := t0.Truncate(time.Hour).Add(-time.Duration(tc.hours) * time.Hour)
		if !strings.Contains(body, fmt.Sprintf("<strong>%d h</strong>", tc.hours)) || !strings.Contains(body, "from "+stamp(from)) {
			t.Errorf("%q: not the last %d hours", tc.query, tc.hours)
		}
		if !strings.Contains(body, `<td><a href="/log?kind=ip&amp;q=192.0.2.1">192.0.2.1</a></td><td>2</td>`) {
			t.Errorf("%q: the top client is missing", tc.query)
		}
	}
}

func TestOverviewWithoutIndex(t *testing.T) {
	f := newFixture(t)
	resp, body := f.overviewPage(f.login("admin", "correct horse"), "/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "The mail log is not a file") || strings.Contains(body, "<svg") {
		t.Errorf("no index: %s\n%s", resp.Status, body)
	}
	if !strings.Contains(body, "Pending triplets") {
		t.Error("no greylist counts without an index")
	}
}

// failingStore is a store that no longer answers.
type failingStore struct{ store.Store }

var errDown = errors.New("connection refused")

func (failingStore) Ping(context.Context) error { return errDown }
func (failingStore) GreylistStats(context.Context, time.Time) (store.Stats, error) {
	return store.Stats{}, errDown
}

func TestOverviewStoreFails(t *testing.T) {
	f := newFixture(t, indexed(t, overviewLog()), func(_ *config.Config, d *Deps) { d.Store = failingStore{d.Store} })
	resp, body := f.overviewPage(f.login("admin", "correct horse"), "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("overview: %s", resp.Status)
	}
	for _, want := range []string{"The greylist could not be counted", "<strong>failed: see the diagnostic log</strong>", "SPF fail"} {
		if !strings.Contains(body, want) {
			t.Errorf("the overview lacks %q", want)
		}
	}
	if strings.Contains(body, "connection refused") {
		t.Error("an internal error on the page")
	}
}

func TestOverviewDNS(t *testing.T) {
	srv, err := dnstest.Start("a.example. 300 A 192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.Fail("broken.example", dnstest.ServFail)
	var counts *resolver.Counts
	f := newFixture(t, func(_ *config.Config, d *Deps) { counts = resolver.NewCounts(d.Now); d.DNS = counts })
	r := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1, CacheSize: 10, MaxTTL: time.Hour})
	r.Count(counts)
	for _, name := range []string{"a.example", "a.example", "broken.example"} {
		r.Lookup(context.Background(), name, dns.TypeA)
	}
	c := f.login("admin", "correct horse")
	f.advance(10 * time.Minute)
	_, body := f.overviewPage(c, "/")
	for _, want := range []string{
		"<tr><th>DNS, last 5 minutes</th><td>0 queries sent, 0 failed; 0 answered from the cache</td></tr>",
		"<tr><th>DNS, last hour</th><td>2 queries sent, 1 failed; 1 answered from the cache</td></tr>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the overview lacks %s\n%s", want, body)
		}
	}
}

// The greylist is counted at most once a minute, in the background: a
// page never waits for a count.
func TestOverviewGreylistCached(t *testing.T) {
	f := newFixture(t)
	o := &overview{c: f.srv.Config.Handler.(*console)}
	f.put(pending("192.0.2.0/24", "a@example.com", "x@example.org"))
	wait := func() {
		o.mu.Lock()
		counting := o.counting
		o.mu.Unlock()
		if counting != nil {
			<-counting
		}
	}
	if g := o.greylist(f.clock()); !g.Counting || g.AsOf != "" {
		t.Fatalf("before the first count: %+v", g)
	}
	wait()
	if g := o.greylist(f.clock()); g.Pending != 1 || g.AsOf != stamp(t0) || g.Counting || g.Failed {
		t.Fatalf("first count: %+v", g)
	}
	f.put(pending("192.0.2.0/24", "b@example.com", "x@example.org"))
	f.advance(greylistEvery - time.Second)
	if g := o.greylist(f.clock()); g.Pending != 1 || g.AsOf != stamp(t0) {
		t.Errorf("counted again within a minute: %+v", g)
	}
	f.advance(time.Second)
	if g := o.greylist(f.clock()); g.Pending != 1 || g.Counting { // begins a count, shows the last
		t.Errorf("while counting again: %+v", g)
	}
	wait()
	if g := o.greylist(f.clock()); g.Pending != 2 || g.AsOf != stamp(t0.Add(greylistEvery)) {
		t.Errorf("a minute on: %+v", g)
	}
}

// The log page's Older link pages on: to the connections before the
// last one shown, as the link says (its query not escaped again).
func TestLogOlderLink(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= logPageSize+5; i++ {
		fmt.Fprintf(&b, "%s conn=%d event=connect ip=192.0.2.1 host=unknown class=EXTERNAL\n", at(time.Duration(i)*time.Second), i)
	}
	f := newFixture(t, indexed(t, b.String()))
	c := f.login("viewer", "battery staple")
	_, body := f.do(c, "GET", "/log?kind=ip&q=192.0.2.1", nil)
	m := regexp.MustCompile(`<a href="([^"]*)">Older</a>`).FindStringSubmatch(body)
	if m == nil || strings.Count(body, "/conn?id=") != logPageSize {
		t.Fatalf("no Older link, or not %d connections:\n%s", logPageSize, body)
	}
	_, body = f.do(c, "GET", html.UnescapeString(m[1]), nil)
	if n := strings.Count(body, "/conn?id="); n != 5 || !strings.Contains(body, `href="/conn?id=5"`) || strings.Contains(body, `href="/conn?id=6"`) {
		t.Errorf("the older page (%s) shows %d connections:\n%s", m[1], n, body)
	}
}
