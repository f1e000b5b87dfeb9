package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/maxwell-milter/maxwell/internal/svgchart"
)

// WriteText prints the report as tables.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintln(w, r.Heading())
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "day\tconnections\tmessages\taccepted\trejected\ttempfailed\tgreylisted\tdefanged\trefused\t")
	row := func(name string, c *Counts) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.0f%%\t\n", name, c.Connections, c.Messages, c.Accepted,
			c.Rejected, c.Tempfailed, c.Greylisted, c.Defanged, 100*c.RefusedShare())
	}
	for _, day := range r.dayNames() {
		row(day, r.Days[day])
	}
	row("total", &r.Total)
	tw.Flush()
	fmt.Fprintf(w, "\ndecisions by tag: %s\n", countList(r.Total.ByTag))
	if len(r.Total.CBV) > 0 {
		fmt.Fprintf(w, "call-backs: %s\n", countList(r.Total.CBV))
	}
	if len(r.Total.Reputation) > 0 {
		fmt.Fprintf(w, "reputation: %s\n", countList(r.Total.Reputation))
	}
	g := r.Greylist
	fmt.Fprintf(w, "greylisting: %d new triplets, %d passed later, %.0f%% never retried; delays of the passed: %s\n",
		g.Triplets, g.Passed, 100*g.NeverRetried, delayList(g.Delays))
	if b := r.DNSBL; b.Lookups > 0 {
		perMessage := 0.0
		if r.Total.Messages > 0 {
			perMessage = float64(b.Lookups) / float64(r.Total.Messages)
		}
		fmt.Fprintf(w, "DNS blocklists: %d lookups (%.2f per message, %.0f%% from the cache), %d failed, %d refusals; listings by list: %s\n",
			b.Lookups, perMessage, 100*b.CacheShare(), b.Errors, b.Refused, countList(b.Listed))
	}
	for _, t := range []struct {
		title string
		list  []Count
	}{{"top clients", r.TopClients}, {"top sender domains", r.TopDomains}, {"top reasons", r.TopReasons}} {
		fmt.Fprintf(w, "\n%s\n", t.title)
		for _, c := range t.list {
			fmt.Fprintf(w, "%8d  %s\n", c.N, c.Key)
		}
	}
	fmt.Fprintf(w, "\n%d lines read", r.Lines)
	if r.Unparsed > 0 {
		fmt.Fprintf(w, ", %d not understood, the first: %q", r.Unparsed, r.FirstBad)
	}
	_, err := fmt.Fprintln(w)
	if r.MTALines > 0 {
		_, err = fmt.Fprintf(w, "%d of them were written by the MTA (Postfix, Sendmail): give maxwell report maxwell's own mail log ([log] mail_log), not the MTA's\n", r.MTALines)
	}
	return err
}

// Heading says what the report covers: the period of its lines, the
// logs read, and where and when it was made.
func (r *Report) Heading() string {
	period := "no dated line"
	if !r.From.IsZero() {
		period = r.From.UTC().Format("2006-01-02 15:04:05") + " to " + r.To.UTC().Format("2006-01-02 15:04:05") + " UTC"
	}
	h := "maxwell report: " + period
	if len(r.Sources) > 0 {
		h += ", from " + strings.Join(r.Sources, ", ")
	}
	if r.Host != "" {
		h += ", on " + r.Host
	}
	if !r.Generated.IsZero() {
		h += ", made " + r.Generated.UTC().Format("2006-01-02 15:04:05") + " UTC"
	}
	return h
}

// WriteJSON prints the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *Report) dayNames() []string {
	days := make([]string, 0, len(r.Days))
	for d := range r.Days {
		days = append(days, d)
	}
	sort.Strings(days)
	return days
}

func countList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func delayList(m map[string]int) string {
	var parts []string
	for _, b := range delayBuckets {
		if n := m[b.name]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", b.name, n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// chartValues are counts as a chart's values.
func chartValues(list []Count) []svgchart.Value {
	out := make([]svgchart.Value, len(list))
	for i, c := range list {
		out[i] = svgchart.Value{Label: c.Key, N: c.N}
	}
	return out
}

// WriteHTML writes one self-contained page: the tables, and bar charts
// in inline SVG of decisions per day and per hour, tags and reasons. No
// script, no style sheet or font from elsewhere.
func (r *Report) WriteHTML(w io.Writer) error {
	var text strings.Builder
	r.WriteText(&text)
	var perDay, perHour []Count
	for _, d := range r.dayNames() {
		c := r.Days[d]
		perDay = append(perDay, Count{d, c.Rejected + c.Tempfailed})
	}
	hours := make([]string, 0, len(r.Hours))
	for h := range r.Hours {
		hours = append(hours, h)
	}
	sort.Strings(hours)
	for _, h := range hours {
		perHour = append(perHour, Count{h + ":00", r.Hours[h]})
	}
	tags := topN(r.Total.ByTag, len(r.Total.ByTag))
	charts := []*svgchart.BarChart{
		svgchart.Bars("Refusals per day", chartValues(perDay)),
		svgchart.Bars("Decisions per hour", chartValues(perHour)),
		svgchart.Bars("Decisions by tag", chartValues(tags)),
		svgchart.Bars("Top reasons", chartValues(r.TopReasons)),
	}
	return page.Execute(w, map[string]any{"Text": text.String(), "Charts": charts, "Total": r.Total,
		"Refused": fmt.Sprintf("%.0f%%", 100*r.Total.RefusedShare()), "Heading": r.Heading()})
}

// page is the report's HTML, its charts drawn by svgchart's templates.
var page = func() *template.Template {
	t := template.Must(template.New("report").Parse(pageHTML))
	template.Must(t.New("svgchart").Parse(svgchart.Templates))
	return t
}()

const pageHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>maxwell report</title>
<style>body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em}svg text{font-size:12px}</style>
</head><body>
<h1>maxwell report</h1>
<p>{{.Heading}}</p>
<p>{{.Total.Messages}} messages from {{.Total.Connections}} connections; {{.Total.Accepted}} accepted, {{.Total.Rejected}} rejected, {{.Total.Tempfailed}} deferred: {{.Refused}} refused.</p>
{{range .Charts}}<h2>{{.Title}}</h2>
{{template "svgchart-bars" .}}
{{end}}<h2>Figures</h2>
<pre>{{.Text}}</pre>
</body></html>
`
