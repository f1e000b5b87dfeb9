package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/internal/svgchart"
	"github.com/maxwell-milter/maxwell/logindex"
	"github.com/maxwell-milter/maxwell/store"
)

// Bounds of the overview (docs/web.md, "Overview").
const (
	// overviewTop is how many clients, senders and reasons it lists.
	overviewTop = 10
	// defaultHours is the span shown unless another of overviewHours
	// is asked for.
	defaultHours = 6
	// maxPoints bounds the chart's points: past it, each point sums 2,
	// 3, ... minutes.
	maxPoints = 480
	// greylistEvery is how often at most the greylist is counted: a
	// count reads the whole greylist.
	greylistEvery = time.Minute
	// greylistTimeout bounds a count.
	greylistTimeout = 30 * time.Second
	// pingTimeout bounds the store's health check.
	pingTimeout = 500 * time.Millisecond
	// dnsRecent is the recent span of the DNS figures, in minutes.
	dnsRecent = 5
)

// overviewHours are the spans offered, in hours.
var overviewHours = []int{1, 6, 24}

func init() {
	// The overview's charts are drawn by svgchart's templates, as the
	// report's are.
	template.Must(pages["overview"].New("svgchart").Parse(svgchart.Templates))
}

// overview serves the overview page and keeps the greylist's counts.
type overview struct {
	c *console

	mu       sync.Mutex
	stats    store.Stats
	asOf     time.Time     // when stats were counted; zero before the first count
	tried    time.Time     // when the last count began
	failed   bool          // the last count failed
	counting chan struct{} // closed when the count in flight ends; nil when none runs
}

// overviewData is the overview page's data.
type overviewData struct {
	Hours    int
	Choices  []int
	From, To string
	// Indexed: the mail log is a file, indexed; IndexError when its
	// index could not be read.
	Indexed    bool
	IndexError string
	Newest     string // the newest line indexed
	Chart      *svgchart.StackChart
	Outcomes   *svgchart.BarChart
	Clients    []logindex.Count
	Senders    []logindex.Count
	Reasons    []logindex.Count
	Greylist   greylistCounts
	Store      storeView
	DNS        *dnsView // nil: not counted
}

// greylistCounts is the greylist's counts as shown.
type greylistCounts struct {
	store.Stats
	AsOf     string // "" before the first count
	Failed   bool   // the last count failed
	Counting bool   // the first count is still running
}

// storeView is the store's health.
type storeView struct {
	OK   bool
	Took string // how long the ping took, or why it failed
}

// dnsView is DNS's health: the lookups of the last dnsRecent minutes
// and of the last hour.
type dnsView struct {
	Recent, Hour resolver.Tally
	Minutes      int
}

func (o *overview) serve(w http.ResponseWriter, r *http.Request, s *session) {
	c := o.c
	now := c.deps.Now().UTC()
	hours := defaultHours
	if h, err := strconv.Atoi(r.URL.Query().Get("hours")); err == nil && slices.Contains(overviewHours, h) {
		hours = h
	}
	// Whole clock hours, the current one included: the top lists are
	// counted by hour.
	from := now.Truncate(time.Hour).Add(-time.Duration(hours) * time.Hour)
	d := &overviewData{Hours: hours, Choices: overviewHours, From: stamp(from), To: stamp(now),
		Indexed: c.deps.Index != nil, Greylist: o.greylist(now), Store: o.ping(r.Context())}
	if c.deps.DNS != nil {
		d.DNS = &dnsView{Recent: c.deps.DNS.Last(dnsRecent), Hour: c.deps.DNS.Last(60), Minutes: dnsRecent}
	}
	if c.deps.Index != nil {
		sum, err := c.deps.Index.Summarize(r.Context(), from, now, overviewTop)
		if err != nil {
			c.deps.Diag.Error("web: summing up the mail log", "error", err)
			d.IndexError = "The mail log's index could not be read: see the diagnostic log."
		} else {
			d.fill(sum, from, now)
		}
	}
	v := c.base(s, "Overview")
	v.Data = d
	c.render(w, http.StatusOK, "overview", v)
}

// fill sets the figures of the index's summary of from to now.
func (d *overviewData) fill(sum *logindex.Summary, from, now time.Time) {
	d.Clients, d.Senders, d.Reasons = sum.Clients, sum.Senders, sum.Reasons
	if !sum.Newest.IsZero() {
		d.Newest = stamp(sum.Newest)
	}
	first, last := from.Unix()/60, now.Unix()/60
	step := (last - first + maxPoints) / maxPoints // minutes a point sums
	points := int((last-first)/step) + 1
	values := map[string][]int{}
	totals := map[string]int{}
	for _, m := range sum.Minutes {
		i := int((m.Minute.Unix()/60 - first) / step)
		if i < 0 || i >= points {
			continue
		}
		if values[m.Outcome] == nil {
			values[m.Outcome] = make([]int, points)
		}
		values[m.Outcome][i] += m.N
		totals[m.Outcome] += m.N
	}
	if len(values) == 0 {
		return
	}
	var series []svgchart.Series
	var outcomes []svgchart.Value
	for _, name := range outcomeOrder(totals) {
		series = append(series, svgchart.Series{Label: fmt.Sprintf("%s %d", name, totals[name]), Color: outcomeColor(name), Values: values[name]})
		outcomes = append(outcomes, svgchart.Value{Label: name, N: totals[name]})
	}
	// A tick on the hour, or every 10 minutes for an hour; every 4 hours for a day.
	every := int64(d.Hours) * 10
	labels := make([]string, points)
	for i := range labels {
		start := first + int64(i)*step
		if tick := (start + step - 1) / every * every; tick >= start {
			labels[i] = time.Unix(tick*60, 0).UTC().Format("15:04")
		}
	}
	title := "Messages per minute, by outcome"
	if step > 1 {
		title = fmt.Sprintf("Messages per %d minutes, by outcome", step)
	}
	d.Chart = svgchart.Stack(title, labels, series)
	d.Outcomes = svgchart.Bars("Outcomes", outcomes)
	for i := range d.Outcomes.Bars {
		d.Outcomes.Bars[i].Color = outcomeColor(d.Outcomes.Bars[i].Label)
	}
}

// outcomeStyles are the outcomes in the order they are stacked, accepted
// mail at the bottom, with their colours; others come after them, by
// name.
var outcomeStyles = []struct{ name, color string }{
	{logindex.OutcomeAccept, "#3a9a4a"},
	{"GREYLISTED", "#e0b020"},
	{"TEMPFAIL", "#e07a20"},
	{"REJECT", "#c8352e"},
	{"BLACKLIST", "#333333"},
	{"QUARANTINE", "#8a4fb5"},
	{"DISCARD", "#888888"},
	{"CONTINUE", "#4a7ab5"},
}

// otherColor is the colour of an outcome not in outcomeStyles.
const otherColor = "#6bb0c9"

func outcomeOrder(totals map[string]int) []string {
	var names []string
	for _, o := range outcomeStyles {
		if totals[o.name] > 0 {
			names = append(names, o.name)
		}
	}
	n := len(names)
	for name := range totals {
		if outcomeColor(name) == otherColor {
			names = append(names, name)
		}
	}
	slices.Sort(names[n:])
	return names
}

func outcomeColor(name string) string {
	for _, o := range outcomeStyles {
		if o.name == name {
			return o.color
		}
	}
	return otherColor
}

// greylist returns the greylist's counts: those of the last count,
// begun at most greylistEvery ago, or failing that begun now, in the
// background. A page never waits for a count: until the first is done,
// it says that one is running.
func (o *overview) greylist(now time.Time) greylistCounts {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counting == nil && (o.tried.IsZero() || now.Sub(o.tried) >= greylistEvery) {
		o.tried, o.counting = now, make(chan struct{})
		go o.count(now, o.counting)
	}
	g := greylistCounts{Stats: o.stats, Failed: o.failed, Counting: o.asOf.IsZero() && o.counting != nil}
	g.AvgDelay = g.AvgDelay.Round(time.Second)
	if !o.asOf.IsZero() {
		g.AsOf = stamp(o.asOf)
	}
	return g
}

// count counts the greylist as of now, and closes done.
func (o *overview) count(now time.Time, done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithTimeout(context.Background(), greylistTimeout)
	defer cancel()
	st, err := o.c.deps.Store.GreylistStats(ctx, now)
	if err != nil {
		o.c.deps.Diag.Error("web: counting the greylist", "error", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed = err != nil
	if err == nil {
		o.stats, o.asOf = st, now
	}
	o.counting = nil
}

// ping checks that the store answers, within pingTimeout.
func (o *overview) ping(ctx context.Context) storeView {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	start := time.Now() // wall clock: a stopwatch
	err := o.c.deps.Store.Ping(ctx)
	took := time.Since(start) // wall clock: a stopwatch
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		o.c.deps.Diag.Error("web: the store's health check", "error", err)
		return storeView{Took: "no answer within " + pingTimeout.String()}
	case err != nil:
		o.c.deps.Diag.Error("web: the store's health check", "error", err)
		return storeView{Took: "failed: see the diagnostic log"}
	}
	return storeView{OK: true, Took: took.Round(10 * time.Microsecond).String()}
}
