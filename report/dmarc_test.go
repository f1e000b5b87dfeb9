package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dmarcLog is the log the tests read: two policy domains (example.com,
// example.org), a line the day before and one the day after 3 December,
// lines without a policy, four lines that cannot be read.
const dmarcLog = "testdata/dmarc.log"

func readTestLog(t *testing.T, opt AggregateOptions) *Aggregate {
	t.Helper()
	f, err := os.Open(dmarcLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if opt.Org == "" {
		opt.Org, opt.Email = "mx.example.net", "dmarc-reports@example.net"
	}
	opt.Year = 2026
	agg, err := ReadAggregate(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	return agg
}

// The test log's days and times: its dates are the test's clock.
func day(d int) time.Time { return at(fmt.Sprintf("2026-12-%02dT00:00:00Z", d)) }

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Each policy domain gets its file, named as RFC 7489 §7.2.1.1 says, over
// the period asked for (or that of the lines read); messages alike are
// one record; lines without a policy are in none; lines that cannot be
// read are skipped and counted.
func TestDMARCAggregateFiles(t *testing.T) {
	type file struct{ records, messages int }
	for _, tc := range []struct {
		name         string
		since, until time.Time
		begin, end   time.Time // of the period reported
		files        map[string]file
		skipped      int
		noPolicy     int
	}{
		{name: "the whole log", begin: at("2026-12-02T23:59:59Z"), end: day(4),
			files: map[string]file{
				// 192.0.2.99; 192.0.2.1 twice; 198.51.100.7; 198.51.100.8;
				// 2001:db8::25; 192.0.2.1 sampled out on 4 December
				"example.com": {6, 7},
				"example.org": {1, 2}, // a line of maxwell's, one through syslog
			},
			skipped: 4, noPolicy: 2},
		{name: "3 December", since: day(3), until: day(4), begin: day(3), end: day(4).Add(-time.Second),
			files:   map[string]file{"example.com": {4, 5}, "example.org": {1, 2}},
			skipped: 4, noPolicy: 2},
		{name: "since 11:00", since: at("2026-12-03T11:00:00Z"), begin: at("2026-12-03T11:00:00Z"), end: day(4),
			files:   map[string]file{"example.com": {4, 4}, "example.org": {1, 2}},
			skipped: 4, noPolicy: 2},
		{name: "until 10:30", until: at("2026-12-03T10:30:00Z"),
			begin: at("2026-12-02T23:59:59Z"), end: at("2026-12-03T10:29:59Z"),
			files:   map[string]file{"example.com": {2, 3}},
			skipped: 1}, // the line that is no mail-log line has no time: it is told whatever the period
		{name: "a period without lines", since: day(10), files: map[string]file{}, skipped: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agg := readTestLog(t, AggregateOptions{Since: tc.since, Until: tc.until})
			if agg.Skipped != tc.skipped || agg.NoPolicy != tc.noPolicy {
				t.Errorf("skipped %d (first: %s), without a policy %d; want %d, %d", agg.Skipped, agg.FirstSkipped, agg.NoPolicy, tc.skipped, tc.noPolicy)
			}
			dir := t.TempDir()
			written, err := agg.WriteFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(written) != len(tc.files) {
				t.Errorf("%d files written, want %d: %+v", len(written), len(tc.files), written)
			}
			for _, w := range written {
				name := filepath.Base(w.Path)
				parts := strings.Split(strings.TrimSuffix(name, ".xml"), "!")
				if len(parts) != 4 || parts[0] != "mx.example.net" || !strings.HasSuffix(name, ".xml") {
					t.Errorf("file name %q is not receiver!policy-domain!begin!end.xml", name)
					continue
				}
				if want := []string{fmtUnix(tc.begin), fmtUnix(tc.end)}; parts[2] != want[0] || parts[3] != want[1] {
					t.Errorf("%s: period %s to %s, want %s to %s", name, parts[2], parts[3], want[0], want[1])
				}
				want, ok := tc.files[parts[1]]
				if !ok {
					t.Errorf("unexpected report %s", name)
					continue
				}
				if w.Records != want.records || w.Messages != want.messages {
					t.Errorf("%s: %d records, %d messages; want %d, %d", name, w.Records, w.Messages, want.records, want.messages)
				}
				fb := parseReport(t, w.Path)
				if len(fb.Records) != want.records || fb.Messages() != want.messages {
					t.Errorf("%s holds %d records, %d messages", name, len(fb.Records), fb.Messages())
				}
				if fb.Metadata.DateRange.Begin != tc.begin.Unix() || fb.Metadata.DateRange.End != tc.end.Unix() {
					t.Errorf("%s: date_range %+v", name, fb.Metadata.DateRange)
				}
			}
		})
	}
}

func fmtUnix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// parseReport reads a report file back with encoding/xml, after checking
// that it is well-formed and that its elements come in the schema's
// order.
func parseReport(t *testing.T, path string) *Feedback {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Errorf("%s does not begin with the XML declaration", path)
	}
	checkSchemaOrder(t, data)
	var fb Feedback
	if err := xml.Unmarshal(data, &fb); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &fb
}

// child is an element a parent of the RFC 7489 Appendix C schema may
// hold, and how often.
type child struct {
	name     string
	min, max int // max -1: unbounded
}

// schema is the element order of RFC 7489 Appendix C, by parent element
// (auth_results/dkim and auth_results/spf, told from policy_evaluated's
// dkim and spf, which hold text); elements not here hold text. The xs:all types (date_range, policy_published) are
// checked in the order the report writes them.
var schema = map[string][]child{
	"":                  {{"feedback", 1, 1}},
	"feedback":          {{"version", 1, 1}, {"report_metadata", 1, 1}, {"policy_published", 1, 1}, {"record", 1, -1}},
	"report_metadata":   {{"org_name", 1, 1}, {"email", 1, 1}, {"extra_contact_info", 0, 1}, {"report_id", 1, 1}, {"date_range", 1, 1}, {"error", 0, -1}},
	"date_range":        {{"begin", 1, 1}, {"end", 1, 1}},
	"policy_published":  {{"domain", 1, 1}, {"adkim", 0, 1}, {"aspf", 0, 1}, {"p", 1, 1}, {"sp", 1, 1}, {"pct", 1, 1}, {"fo", 1, 1}},
	"record":            {{"row", 1, 1}, {"identifiers", 1, 1}, {"auth_results", 1, 1}},
	"row":               {{"source_ip", 1, 1}, {"count", 1, 1}, {"policy_evaluated", 1, 1}},
	"policy_evaluated":  {{"disposition", 1, 1}, {"dkim", 1, 1}, {"spf", 1, 1}, {"reason", 0, -1}},
	"reason":            {{"type", 1, 1}, {"comment", 0, 1}},
	"identifiers":       {{"envelope_to", 0, 1}, {"envelope_from", 1, 1}, {"header_from", 1, 1}},
	"auth_results":      {{"dkim", 0, -1}, {"spf", 1, -1}},
	"auth_results/dkim": {{"domain", 1, 1}, {"selector", 0, 1}, {"result", 1, 1}, {"human_result", 0, 1}},
	"auth_results/spf":  {{"domain", 1, 1}, {"scope", 1, 1}, {"result", 1, 1}},
}

// checkSchemaOrder walks a report's elements and checks that each holds
// the children the schema allows, in its order, as often as it allows.
func checkSchemaOrder(t *testing.T, data []byte) {
	t.Helper()
	type open struct {
		name, key string
		children  []string
	}
	stack := []*open{{}}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			parent := stack[len(stack)-1]
			parent.children = append(parent.children, e.Name.Local)
			key := e.Name.Local
			if parent.name == "auth_results" {
				key = "auth_results/" + key
			}
			stack = append(stack, &open{name: e.Name.Local, key: key})
		case xml.EndElement:
			el := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			checkChildren(t, el.key, el.children)
		}
	}
	checkChildren(t, "", stack[0].children)
}

func checkChildren(t *testing.T, key string, got []string) {
	t.Helper()
	want, ok := schema[key]
	if !ok {
		if len(got) > 0 {
			t.Errorf("<%s> holds elements %v, the schema none", key, got)
		}
		return
	}
	i := 0
	for _, c := range want {
		n := 0
		for i < len(got) && got[i] == c.name {
			n, i = n+1, i+1
		}
		if n < c.min || c.max >= 0 && n > c.max {
			t.Errorf("<%s> holds %d <%s> (of %v), the schema wants %d to %d", key, n, c.name, got, c.min, c.max)
		}
	}
	if i < len(got) {
		t.Errorf("<%s>: <%s> is out of the schema's order %v", key, got[i], got)
	}
}

// The report of example.com for 3 December, read back, holds what the
// log says, field by field: the policy of the last line, the messages
// grouped, the override reasons, the DKIM and SPF results.
func TestDMARCAggregateXML(t *testing.T) {
	agg := readTestLog(t, AggregateOptions{Since: day(3), Until: day(4)})
	written, err := agg.WriteFiles(t.TempDir())
	if err != nil || len(written) != 2 {
		t.Fatalf("%v, %+v", err, written)
	}
	got := parseReport(t, written[0].Path)
	want := &Feedback{
		XMLName: xml.Name{Local: "feedback"},
		Version: "1.0",
		Metadata: ReportMetadata{OrgName: "mx.example.net", Email: "dmarc-reports@example.net", ReportID: got.Metadata.ReportID,
			DateRange: DateRange{Begin: day(3).Unix(), End: day(4).Unix() - 1}},
		// from the last line of the day, at 13:00: pct=50 adkim=s
		Policy: PolicyPublished{Domain: "example.com", ADKIM: "s", ASPF: "r", P: "reject", SP: "quarantine", Pct: 50, FO: "0"},
		Records: []Record{
			{ // 10:00:02 and 10:05:00, From: Example.COM read as example.com
				Row:         Row{SourceIP: "192.0.2.1", Count: 2, PolicyEvaluated: PolicyEvaluated{Disposition: "reject", DKIM: "fail", SPF: "fail"}},
				Identifiers: Identifiers{EnvelopeFrom: "bounce.example.net", HeaderFrom: "example.com"},
				AuthResults: AuthResults{
					DKIM: []DKIMAuthResult{{Domain: "example.net", Selector: "sel1", Result: "pass"}, {Domain: "example.com", Selector: "s2", Result: "fail"}},
					SPF:  []SPFAuthResult{{Domain: "bounce.example.net", Scope: "mfrom", Result: "pass"}}},
			},
			{
				Row:         Row{SourceIP: "198.51.100.7", Count: 1, PolicyEvaluated: PolicyEvaluated{Disposition: "none", DKIM: "pass", SPF: "pass"}},
				Identifiers: Identifiers{EnvelopeFrom: "example.com", HeaderFrom: "example.com"},
				AuthResults: AuthResults{
					DKIM: []DKIMAuthResult{{Domain: "example.com", Selector: "s2", Result: "pass"}},
					SPF:  []SPFAuthResult{{Domain: "example.com", Scope: "mfrom", Result: "pass"}}},
			},
			{ // a subdomain, sp=quarantine, left out by pct=50
				Row: Row{SourceIP: "198.51.100.8", Count: 1, PolicyEvaluated: PolicyEvaluated{Disposition: "none", DKIM: "fail", SPF: "fail",
					Reasons: []PolicyOverrideReason{{Type: "sampled_out"}}}},
				Identifiers: Identifiers{EnvelopeFrom: "news.example.com", HeaderFrom: "news.example.com"},
				AuthResults: AuthResults{SPF: []SPFAuthResult{{Domain: "news.example.com", Scope: "mfrom", Result: "softfail"}}},
			},
			{ // forwarded: not rejected as the policy asked
				Row: Row{SourceIP: "2001:db8:0:0:0:0:0:25", Count: 1, PolicyEvaluated: PolicyEvaluated{Disposition: "none", DKIM: "fail", SPF: "fail",
					Reasons: []PolicyOverrideReason{{Type: "forwarded"}}}},
				Identifiers: Identifiers{EnvelopeFrom: "mx.forwarder.example", HeaderFrom: "example.com"},
				AuthResults: AuthResults{SPF: []SPFAuthResult{{Domain: "mx.forwarder.example", Scope: "mfrom", Result: "none"}}},
			},
		},
	}
	if len(got.Metadata.ReportID) != 32 {
		t.Errorf("report_id %q", got.Metadata.ReportID)
	}
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"XMLName", got.XMLName, want.XMLName},
		{"version", got.Version, want.Version},
		{"report_metadata", got.Metadata, want.Metadata},
		{"policy_published", got.Policy, want.Policy},
		{"number of records", len(got.Records), len(want.Records)},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.field, c.got, c.want)
		}
	}
	for i := range min(len(got.Records), len(want.Records)) {
		g, w := got.Records[i], want.Records[i]
		for _, c := range []struct {
			field     string
			got, want any
		}{
			{"row", g.Row, w.Row},
			{"identifiers", g.Identifiers, w.Identifiers},
			{"auth_results/dkim", g.AuthResults.DKIM, w.AuthResults.DKIM},
			{"auth_results/spf", g.AuthResults.SPF, w.AuthResults.SPF},
		} {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("record %d, %s:\n got %+v\nwant %+v", i, c.field, c.got, c.want)
			}
		}
	}

	// example.org publishes no sp=: its p= stands for subdomains.
	org := parseReport(t, written[1].Path)
	wantOrg := PolicyPublished{Domain: "example.org", ADKIM: "r", ASPF: "r", P: "none", SP: "none", Pct: 100, FO: "0"}
	if org.Policy != wantOrg {
		t.Errorf("example.org policy_published %+v, want %+v", org.Policy, wantOrg)
	}
	if r := org.Records; len(r) != 1 || r[0].Row.Count != 2 || r[0].Row.PolicyEvaluated.DKIM != "pass" || r[0].Row.PolicyEvaluated.SPF != "fail" ||
		len(r[0].Row.PolicyEvaluated.Reasons) != 0 {
		t.Errorf("example.org records %+v", r)
	}
}

// The report id is the same for the same input, and another for another
// domain, period or log.
func TestDMARCAggregateReportID(t *testing.T) {
	ids := func(agg *Aggregate) []string {
		var out []string
		for _, f := range agg.Reports {
			out = append(out, f.Metadata.ReportID)
		}
		return out
	}
	a := ids(readTestLog(t, AggregateOptions{Since: day(3), Until: day(4)}))
	b := ids(readTestLog(t, AggregateOptions{Since: day(3), Until: day(4)}))
	c := ids(readTestLog(t, AggregateOptions{Since: day(3)}))
	if len(a) != 2 || !reflect.DeepEqual(a, b) {
		t.Errorf("the same input made ids %v, then %v", a, b)
	}
	if a[0] == a[1] || len(c) != 2 || c[0] == a[0] || c[1] == a[1] {
		t.Errorf("ids %v and %v are not unique", a, c)
	}
	more := "2026-12-03T18:00:00Z conn=40 event=dmarc result=pass from=example.org policy_domain=example.org p=none pct=100 adkim=r aspf=r policy=none disposition=none override=none ip=203.0.113.9 mailfrom=example.org spf=pass spf_aligned=true dkim_aligned=none\n"
	data, _ := os.ReadFile(dmarcLog)
	agg, err := ReadAggregate(io.MultiReader(bytes.NewReader(data), strings.NewReader(more)),
		AggregateOptions{Since: day(3), Until: day(4), Org: "mx.example.net", Email: "dmarc-reports@example.net", Year: 2026})
	if err != nil {
		t.Fatal(err)
	}
	if d := ids(agg); d[0] != a[0] || d[1] == a[1] {
		t.Errorf("a message more for example.org: ids %v, were %v", d, a)
	}
}

// Which lines are skipped, and why: bad values, lines cut short, lines
// longer than a megabyte; nothing crashes, and what can be read is
// reported.
func TestDMARCAggregateSkips(t *testing.T) {
	good := "2026-12-03T10:00:00Z conn=1 event=dmarc result=fail from=example.com policy_domain=example.com p=reject sp=quarantine pct=100 adkim=r aspf=r policy=reject disposition=reject override=none ip=192.0.2.1 mailfrom=example.net spf=pass spf_aligned=false dkim_aligned=none dkim=example.net/s:pass"
	for _, tc := range []struct {
		name, line, why string
	}{
		{"good", good, ""},
		{"no policy", strings.Replace(good, "result=fail", "result=none", 1), "no policy"},
		{"temperror without a record", "2026-12-03T10:00:00Z conn=1 event=dmarc result=temperror from=example.com ip=192.0.2.1", "no policy"},
		{"bad result", strings.Replace(good, "result=fail", "result=maybe", 1), `bad result "maybe"`},
		{"bad disposition", strings.Replace(good, "disposition=reject", "disposition=bounce", 1), `bad disposition "bounce"`},
		{"bad sp", strings.Replace(good, "sp=quarantine", "sp=drop", 1), `bad sp "drop"`},
		{"bad pct", strings.Replace(good, "pct=100", "pct=101", 1), `bad pct "101"`},
		{"bad adkim", strings.Replace(good, "adkim=r", "adkim=x", 1), `bad adkim "x"`},
		{"bad override", strings.Replace(good, "override=none", "override=whim", 1), `bad override "whim"`},
		{"bad ip", strings.Replace(good, "ip=192.0.2.1", "ip=192.0.2.300", 1), `bad ip "192.0.2.300"`},
		{"no ip", strings.Replace(good, "ip=192.0.2.1", "", 1), `bad ip ""`},
		{"bad spf", strings.Replace(good, "spf=pass", "spf=ok", 1), `bad spf "ok"`},
		{"bad spf_aligned", strings.Replace(good, "spf_aligned=false", "spf_aligned=maybe", 1), `bad spf_aligned "maybe"`},
		{"a bad dkim signature is left out, not the message", strings.Replace(good, "dkim=example.net/s:pass", `dkim="example.net/s:pass example.com/t:great /:permerror"`, 1), ""},
		{"policy domain as a path", strings.Replace(good, "policy_domain=example.com", "policy_domain=../x", 1), `bad policy_domain "../x"`},
		{"from with a control character", strings.Replace(good, "from=example.com", `from="exa\rmple.com"`, 1), `bad from "exa\rmple.com"`},
		{"cut short", good[:40] + `"`, "not a mail-log line"},
		{"no time", good[len("2026-12-03T10:00:00Z "):], "no time"},
		{"too long", good + " pad=" + strings.Repeat("x", maxLine), "line too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := "2026-12-03T09:00:00Z conn=0 event=connect ip=192.0.2.1\n" + tc.line + "\n" + good + "\n"
			agg, err := ReadAggregate(strings.NewReader(log), AggregateOptions{Org: "mx.example.net", Email: "a@example.net"})
			if err != nil {
				t.Fatal(err)
			}
			want := 2 // messages reported
			switch tc.why {
			case "":
			case "no policy":
				want = 1
				if agg.NoPolicy != 1 || agg.Skipped != 0 {
					t.Errorf("without a policy %d, skipped %d", agg.NoPolicy, agg.Skipped)
				}
			default:
				want = 1
				if agg.Skipped != 1 || agg.FirstSkipped != "line 2: "+tc.why {
					t.Errorf("skipped %d, the first %q; want line 2: %s", agg.Skipped, agg.FirstSkipped, tc.why)
				}
			}
			if agg.Lines != 3 || len(agg.Reports) != 1 || agg.Reports[0].Messages() != want {
				t.Errorf("%d lines, reports %+v; want %d messages", agg.Lines, agg.Reports, want)
			}
		})
	}
}

// --since and --until take RFC 3339 times, dates, today and yesterday.
func TestDMARCReportTime(t *testing.T) {
	now := at("2026-12-03T00:30:00+01:00") // 2 December, 23:30 UTC
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2026-12-01", day(1)},
		{"2026-12-01T10:00:00Z", at("2026-12-01T10:00:00Z")},
		{"2026-12-01T10:00:00+01:00", at("2026-12-01T09:00:00Z")},
		{"today", day(2)},
		{"yesterday", day(1)},
		{"tomorrow", time.Time{}},
		{"2026-13-01", time.Time{}},
		{"", time.Time{}},
	} {
		got, err := ParseReportTime(tc.in, now)
		if tc.want.IsZero() {
			if err == nil {
				t.Errorf("%q: %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%q: %v (%v), want %v", tc.in, got, err, tc.want)
		}
	}
}

// A report rewritten for the same period replaces the file; no
// temporary file is left.
func TestDMARCAggregateRewrite(t *testing.T) {
	dir := t.TempDir()
	if err := CheckReportDir(dir); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := readTestLog(t, AggregateOptions{Since: day(3), Until: day(4)}).WriteFiles(dir); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	want := []string{"mx.example.net!example.com!1796256000!1796342399.xml", "mx.example.net!example.org!1796256000!1796342399.xml"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("files %v, want %v", names, want)
	}
	if err := CheckReportDir(filepath.Join(dir, want[0])); err == nil {
		t.Error("a file passed for a report directory")
	}
	if err := CheckReportDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing directory passed")
	}
}
