// Package report reads maxwell's mail log and sums it up: per day and in
// all, what came, what was accepted, refused (by tag and reason),
// greylisted and passed later, defanged, called back; the busiest
// clients, sender domains and reasons. It streams: memory grows with the
// number of distinct keys counted, not with the number of lines. From
// the same log it also makes DMARC aggregate reports (ReadAggregate).
package report

import (
	"bufio"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/internal/maillog"
)

// Counts are the figures of one day, or of the whole log.
type Counts struct {
	Connections int            `json:"connections"`
	Messages    int            `json:"messages"`
	Accepted    int            `json:"accepted"`
	Rejected    int            `json:"rejected"`
	Tempfailed  int            `json:"tempfailed"`
	Greylisted  int            `json:"greylisted"` // deferrals by greylisting
	Defanged    int            `json:"defanged"`   // attachments replaced
	ByTag       map[string]int `json:"by_tag"`     // decisions by tag
	CBV         map[string]int `json:"cbv"`        // call-backs by status
	Reputation  map[string]int `json:"reputation"` // reputation lines by action
}

// RefusedShare is the part of the answered messages and recipients that
// was refused, for good or for now.
func (c *Counts) RefusedShare() float64 {
	if n := c.Accepted + c.Rejected + c.Tempfailed; n > 0 {
		return float64(c.Rejected+c.Tempfailed) / float64(n)
	}
	return 0
}

// Greylist is what greylisting did over the log.
type Greylist struct {
	Triplets     int            `json:"triplets"`      // new triplets deferred
	Passed       int            `json:"passed"`        // of those, retried and passed
	NeverRetried float64        `json:"never_retried"` // share of new triplets not seen again
	Delays       map[string]int `json:"delays"`        // passed triplets by delay bucket
}

// DNSBL is what the DNS blocklists said over the log (dnsbl events).
type DNSBL struct {
	Lookups int            `json:"lookups"` // questions asked of the lists
	Cached  int            `json:"cached"`  // of those, answered from the cache
	Errors  int            `json:"errors"`  // lists that could not be asked
	Listed  map[string]int `json:"listed"`  // listings by zone
	Refused int            `json:"refused"` // refusals for a listing (reasons "DNSBL…")
}

// CacheShare is the part of the lookups answered from the cache.
func (d *DNSBL) CacheShare() float64 {
	if d.Lookups == 0 {
		return 0
	}
	return float64(d.Cached) / float64(d.Lookups)
}

// Report is the whole summary.
type Report struct {
	Total      Counts             `json:"total"`
	Days       map[string]*Counts `json:"days"`
	Hours      map[string]int     `json:"decisions_per_hour"` // "2006-01-02T15" → decisions
	Greylist   Greylist           `json:"greylist"`
	DNSBL      DNSBL              `json:"dnsbl"`
	TopClients []Count            `json:"top_clients"`
	TopDomains []Count            `json:"top_sender_domains"`
	TopReasons []Count            `json:"top_reasons"`
	Lines      int                `json:"lines"`
	Unparsed   int                `json:"unparsed_lines"`
	FirstBad   string             `json:"first_unparsed,omitempty"`
	// MTALines are lines not understood that an MTA wrote (Postfix's,
	// Sendmail's): the report was given the MTA's log, not maxwell's.
	MTALines int `json:"mta_lines,omitempty"`

	From time.Time `json:"from,omitzero"` // the first and the last line's time
	To   time.Time `json:"to,omitzero"`
	// What the caller says of the report: the logs read, the host it ran
	// on, when.
	Sources   []string  `json:"sources,omitempty"`
	Host      string    `json:"host,omitempty"`
	Generated time.Time `json:"generated,omitzero"`
}

// mtaLine tells a line Postfix or Sendmail wrote to syslog.
var mtaLine = regexp.MustCompile(` (postfix(-[\w.-]+)?/[\w./-]+|sm-mta|sendmail|sm-msp-queue)\[\d+\]: `)

// Count is a key and how often it came.
type Count struct {
	Key string `json:"key"`
	N   int    `json:"n"`
}

// delayBuckets name the delays passed triplets waited.
var delayBuckets = []struct {
	name string
	max  time.Duration
}{{"under 5m", 5 * time.Minute}, {"5-15m", 15 * time.Minute}, {"15m-1h", time.Hour}, {"1-6h", 6 * time.Hour}, {"over 6h", 1 << 62}}

// Read sums up a mail log; year dates syslog lines, which carry none.
func Read(r io.Reader, year int, top int) (*Report, error) {
	rep := &Report{Days: map[string]*Counts{}, Hours: map[string]int{}, Greylist: Greylist{Delays: map[string]int{}},
		DNSBL: DNSBL{Listed: map[string]int{}}}
	rep.Total = newCounts()
	clients, domains, reasons := map[string]int{}, map[string]int{}, map[string]int{}
	newTriplets, passed := map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rep.Lines++
		l, ok := maillog.ParseLine(sc.Text(), year)
		if !ok {
			if strings.TrimSpace(sc.Text()) != "" {
				rep.Unparsed++
				if rep.FirstBad == "" {
					rep.FirstBad = sc.Text()
				}
				if mtaLine.MatchString(sc.Text()) {
					rep.MTALines++
				}
			}
			continue
		}
		if t := l.Time; !t.IsZero() {
			if rep.From.IsZero() || t.Before(rep.From) {
				rep.From = t
			}
			if t.After(rep.To) {
				rep.To = t
			}
		}
		day := "unknown"
		if !l.Time.IsZero() {
			day = l.Time.UTC().Format("2006-01-02")
		}
		d := rep.Days[day]
		if d == nil {
			c := newCounts()
			d = &c
			rep.Days[day] = d
		}
		f := l.Fields
		add := func(fn func(c *Counts)) { fn(&rep.Total); fn(d) }
		switch l.Event {
		case "connect":
			add(func(c *Counts) { c.Connections++ })
			clients[f["ip"]]++
		case "mail from":
			add(func(c *Counts) { c.Messages++ })
			if _, dom, ok := strings.Cut(f["from"], "@"); ok {
				domains[strings.ToLower(dom)]++
			} else if f["from"] == "" {
				domains["<>"]++
			}
		case "eom":
			add(func(c *Counts) { c.Accepted++ })
		case "decision":
			code, _ := strconv.Atoi(f["code"])
			tag := f["tag"]
			add(func(c *Counts) {
				c.ByTag[tag]++
				switch {
				case code >= 500 || tag == "REJECT" && code == 0:
					c.Rejected++
				case code >= 400 || tag == "TEMPFAIL" || tag == "GREYLISTED":
					c.Tempfailed++
				}
				if tag == "GREYLISTED" {
					c.Greylisted++
				}
			})
			reasons[maillog.ReasonKind(f["reason"])]++
			if strings.HasPrefix(f["reason"], "DNSBL") && code >= 400 {
				rep.DNSBL.Refused++
			}
			if !l.Time.IsZero() {
				rep.Hours[l.Time.UTC().Format("2006-01-02T15")]++
			}
		case "defang":
			add(func(c *Counts) { c.Defanged++ })
		case "dnsbl":
			lists, _ := strconv.Atoi(f["lists"])
			cached, _ := strconv.Atoi(f["cached"])
			rep.DNSBL.Lookups += lists
			rep.DNSBL.Cached += cached
			if e := f["error"]; e != "" {
				rep.DNSBL.Errors += strings.Count(e, "; ") + 1
			}
			if l := f["listed"]; l != "" {
				for _, hit := range strings.Split(l, ",") {
					zone, _, _ := strings.Cut(hit, ":")
					rep.DNSBL.Listed[zone]++
				}
			}
		case "cbv":
			if st := f["status"]; st != "pending" {
				add(func(c *Counts) { c.CBV[st]++ })
			}
		case "reputation":
			add(func(c *Counts) { c.Reputation[f["action"]]++ })
		case "greylist":
			key := f["client"] + " " + f["sender"] + " " + f["rcpt"]
			switch f["step"] {
			case "new", "restart":
				newTriplets[key] = true
			case "pass":
				passed[key] = true
				secs, _ := strconv.Atoi(f["delay"])
				for _, b := range delayBuckets {
					if time.Duration(secs)*time.Second < b.max {
						rep.Greylist.Delays[b.name]++
						break
					}
				}
			}
		}
	}
	rep.Greylist.Triplets, rep.Greylist.Passed = len(newTriplets), 0
	for k := range newTriplets {
		if passed[k] {
			rep.Greylist.Passed++
		}
	}
	if rep.Greylist.Triplets > 0 {
		rep.Greylist.NeverRetried = 1 - float64(rep.Greylist.Passed)/float64(rep.Greylist.Triplets)
	}
	rep.TopClients, rep.TopDomains, rep.TopReasons = topN(clients, top), topN(domains, top), topN(reasons, top)
	return rep, sc.Err()
}

func newCounts() Counts {
	return Counts{ByTag: map[string]int{}, CBV: map[string]int{}, Reputation: map[string]int{}}
}

func topN(m map[string]int, n int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].N > out[j].N || out[i].N == out[j].N && out[i].Key < out[j].Key })
	if len(out) > n {
		out = out[:n]
	}
	return out
}
