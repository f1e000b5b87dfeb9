package report

// DMARC aggregate reports (RFC 7489 §7.2, Appendix C) made from the
// event=dmarc lines of the mail log: one report per policy domain, its
// messages grouped into records as the RFC groups them, so that memory
// grows with the number of distinct records, not of messages.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/internal/maillog"
)

// Feedback is one aggregate report: the <feedback> element of RFC 7489
// Appendix C, its elements in the schema's order.
type Feedback struct {
	XMLName  xml.Name        `xml:"feedback"`
	Version  string          `xml:"version"`
	Metadata ReportMetadata  `xml:"report_metadata"`
	Policy   PolicyPublished `xml:"policy_published"`
	Records  []Record        `xml:"record"`
}

// ReportMetadata says who reports, on which period, under which id.
type ReportMetadata struct {
	OrgName          string    `xml:"org_name"`
	Email            string    `xml:"email"`
	ExtraContactInfo string    `xml:"extra_contact_info,omitempty"`
	ReportID         string    `xml:"report_id"`
	DateRange        DateRange `xml:"date_range"`
	Errors           []string  `xml:"error,omitempty"`
}

// DateRange is the period a report covers, in seconds since 1970 UTC,
// both ends included.
type DateRange struct {
	Begin int64 `xml:"begin"`
	End   int64 `xml:"end"`
}

// PolicyPublished is the DMARC record of the policy domain, as the last
// message of the period found it.
type PolicyPublished struct {
	Domain string `xml:"domain"`
	ADKIM  string `xml:"adkim"`
	ASPF   string `xml:"aspf"`
	P      string `xml:"p"`
	SP     string `xml:"sp"` // p's when the record has no sp= (RFC 7489 §6.3)
	Pct    int    `xml:"pct"`
	// FO is fo= when the mail log gives it, else the RFC's default, "0":
	// the schema requires the element.
	FO string `xml:"fo"`
}

// Record is a group of messages alike in every reported respect: their
// client, what was done with them, their identifiers and their
// authentication results.
type Record struct {
	Row         Row         `xml:"row"`
	Identifiers Identifiers `xml:"identifiers"`
	AuthResults AuthResults `xml:"auth_results"`
}

// Row is a record's client, its number of messages and what DMARC made
// of them.
type Row struct {
	SourceIP        string          `xml:"source_ip"`
	Count           int             `xml:"count"`
	PolicyEvaluated PolicyEvaluated `xml:"policy_evaluated"`
}

// PolicyEvaluated is what was done with the messages (disposition), and
// whether DKIM and SPF passed aligned with the From: domain.
type PolicyEvaluated struct {
	Disposition string                 `xml:"disposition"`
	DKIM        string                 `xml:"dkim"` // pass or fail
	SPF         string                 `xml:"spf"`  // pass or fail
	Reasons     []PolicyOverrideReason `xml:"reason"`
}

// PolicyOverrideReason says why the disposition is not what the policy
// asked: forwarded, sampled_out, trusted_forwarder, mailing_list,
// local_policy or other.
type PolicyOverrideReason struct {
	Type    string `xml:"type"`
	Comment string `xml:"comment,omitempty"`
}

// Identifiers are the domains of the envelope and of the From: header.
type Identifiers struct {
	EnvelopeTo   string `xml:"envelope_to,omitempty"`
	EnvelopeFrom string `xml:"envelope_from"`
	HeaderFrom   string `xml:"header_from"`
}

// AuthResults are the DKIM and SPF results, whatever their alignment.
type AuthResults struct {
	DKIM []DKIMAuthResult `xml:"dkim"`
	SPF  []SPFAuthResult  `xml:"spf"`
}

// DKIMAuthResult is one DKIM signature's domain, selector and result.
type DKIMAuthResult struct {
	Domain      string `xml:"domain"`
	Selector    string `xml:"selector,omitempty"`
	Result      string `xml:"result"`
	HumanResult string `xml:"human_result,omitempty"`
}

// SPFAuthResult is the SPF result of the envelope sender's domain.
type SPFAuthResult struct {
	Domain string `xml:"domain"`
	Scope  string `xml:"scope"` // mfrom
	Result string `xml:"result"`
}

// Messages is the number of messages a report counts.
func (f *Feedback) Messages() int {
	n := 0
	for _, r := range f.Records {
		n += r.Row.Count
	}
	return n
}

// FileName is the report's file name as RFC 7489 §7.2.1.1 has it:
// receiver!policy-domain!begin-timestamp!end-timestamp.xml, the receiver
// being the reporting organization (org_name).
func (f *Feedback) FileName() string {
	return fmt.Sprintf("%s!%s!%d!%d.xml", f.Metadata.OrgName, f.Policy.Domain, f.Metadata.DateRange.Begin, f.Metadata.DateRange.End)
}

// WriteXML writes the report as an XML document, indented.
func (f *Feedback) WriteXML(w io.Writer) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(f); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// AggregateOptions are what the reports are made of besides the log.
type AggregateOptions struct {
	// Since and Until bound the period: lines from Since on, before
	// Until. A zero time does not bound; the period then begins with the
	// first line read in it, or ends with the last.
	Since, Until time.Time
	// Org is the reporting organization, a domain name: org_name and
	// the receiver in the file names. Email is its contact address.
	Org, Email string
	// Year dates syslog lines, which carry none.
	Year int
}

// Aggregate is what the DMARC lines of a mail log add up to: a report
// per policy domain, and the lines that could not be used.
type Aggregate struct {
	Reports []*Feedback // by policy domain
	// Begin and End are the period reported, both included; zero when no
	// line fell in it.
	Begin, End time.Time
	Lines      int // lines read
	DMARCLines int // event=dmarc lines in the period
	// Skipped counts the event=dmarc lines left out for a value that
	// cannot be read (or too long a line); FirstSkipped says why the first
	// was, with its line number.
	Skipped      int
	FirstSkipped string
	// NoPolicy counts the DMARC lines of messages without a policy to
	// report to (result=none, or no record could be had): they are in no
	// report, as the RFC wants.
	NoPolicy int
}

// ValidDomain reports whether s is a domain name in ASCII, as the policy
// domain and the receiver must be to go into a file name: letters,
// digits, hyphens and underscores in dot-separated labels.
func ValidDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ParseReportTime reads the time of --since or --until: RFC 3339
// (2026-12-03T10:00:00Z), a date (2026-12-03: its midnight UTC), "today"
// or "yesterday" (their midnight UTC, as of now).
func ParseReportTime(s string, now time.Time) (time.Time, error) {
	now = now.UTC()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	switch s {
	case "today":
		return midnight, nil
	case "yesterday":
		return midnight.AddDate(0, 0, -1), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("bad time %q: give an RFC 3339 time (2026-12-03T00:00:00Z), a date (2026-12-03, its midnight UTC), today or yesterday", s)
}

// maxLine is the longest line read; a longer one is skipped.
const maxLine = 1 << 20

// aggKey is what the messages of a record share.
type aggKey struct {
	ip, disposition, override string
	dkimPass, spfPass         bool
	headerFrom, envelopeFrom  string
	spf, spfScope             string // the SPF result, of "mfrom" or "helo" (the null sender's)
	dkim                      string // the signatures as "domain/selector:result ...", lower case
}

// domainAgg is a policy domain's records so far.
type domainAgg struct {
	policy     PolicyPublished
	policyTime time.Time // of the line policy comes from
	rows       map[aggKey]int
}

// dmarcLine is an event=dmarc line read.
type dmarcLine struct {
	policyDomain string
	policy       PolicyPublished
	key          aggKey
}

var (
	dispositions = map[string]bool{"none": true, "quarantine": true, "reject": true}
	overrides    = map[string]bool{"none": true, "forwarded": true, "sampled_out": true, "trusted_forwarder": true,
		"mailing_list": true, "local_policy": true, "other": true}
	spfResults  = map[string]bool{"pass": true, "fail": true, "softfail": true, "neutral": true, "none": true, "temperror": true, "permerror": true}
	dkimResults = map[string]bool{"pass": true, "fail": true, "policy": true, "neutral": true, "none": true, "temperror": true, "permerror": true}
	alignments  = map[string]bool{"r": true, "s": true}
)

// errNoPolicy marks a DMARC line without a policy to report to.
var errNoPolicy = errors.New("no policy")

// Aggregator adds up the event=dmarc lines of mail logs, read one after
// the other, into aggregate reports.
type Aggregator struct {
	opt         AggregateOptions
	agg         Aggregate
	domains     map[string]*domainAgg
	seen        bool // a line in the period was read
	first, last time.Time
}

// NewAggregator returns an Aggregator for the reports opt describes.
func NewAggregator(opt AggregateOptions) *Aggregator {
	return &Aggregator{opt: opt, domains: map[string]*domainAgg{}}
}

// ReadAggregate reads mail-log lines and adds up their event=dmarc lines
// into aggregate reports: NewAggregator, Read and Aggregate in one.
func ReadAggregate(r io.Reader, opt AggregateOptions) (*Aggregate, error) {
	a := NewAggregator(opt)
	err := a.Read("", r)
	return a.Aggregate(), err
}

// Read adds the lines of a log, named name (for the lines it skips;
// "" for none). A line it cannot read is skipped and counted, never an
// error; the error is the reader's.
func (a *Aggregator) Read(name string, r io.Reader) error {
	n := 0
	skip := func(why string) {
		a.agg.Skipped++
		if a.agg.FirstSkipped == "" {
			a.agg.FirstSkipped = fmt.Sprintf("line %d: %s", n, why)
			if name != "" {
				a.agg.FirstSkipped = name + ", " + a.agg.FirstSkipped
			}
		}
	}
	return eachLine(r, func(text string, tooLong bool) {
		n++
		a.agg.Lines++
		if tooLong {
			if strings.Contains(text, "event=dmarc") {
				skip("line too long")
			}
			return
		}
		l, ok := maillog.ParseLine(text, a.opt.Year)
		if !ok {
			if strings.Contains(text, "event=dmarc") {
				skip("not a mail-log line")
			}
			return
		}
		if l.Time.IsZero() {
			if l.Event == "dmarc" {
				skip("no time")
			}
			return
		}
		if !a.opt.Since.IsZero() && l.Time.Before(a.opt.Since) || !a.opt.Until.IsZero() && !l.Time.Before(a.opt.Until) {
			return
		}
		if !a.seen || l.Time.Before(a.first) {
			a.first = l.Time
		}
		if !a.seen || l.Time.After(a.last) {
			a.last = l.Time
		}
		a.seen = true
		if l.Event != "dmarc" {
			return
		}
		a.agg.DMARCLines++
		d, err := parseDMARC(l.Fields)
		switch {
		case errors.Is(err, errNoPolicy):
			a.agg.NoPolicy++
			return
		case err != nil:
			skip(err.Error())
			return
		}
		da := a.domains[d.policyDomain]
		if da == nil {
			da = &domainAgg{rows: map[aggKey]int{}, policy: d.policy, policyTime: l.Time}
			a.domains[d.policyDomain] = da
		}
		da.rows[d.key]++
		if !l.Time.Before(da.policyTime) {
			da.policy, da.policyTime = d.policy, l.Time
		}
	})
}

// Aggregate makes the reports of the lines read so far.
func (a *Aggregator) Aggregate() *Aggregate {
	agg := a.agg
	if !a.seen {
		return &agg
	}
	agg.Begin, agg.End = a.first, a.last
	if !a.opt.Since.IsZero() {
		agg.Begin = a.opt.Since
	}
	if !a.opt.Until.IsZero() {
		agg.End = a.opt.Until.Add(-time.Nanosecond)
	}
	names := make([]string, 0, len(a.domains))
	for name := range a.domains {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		agg.Reports = append(agg.Reports, a.domains[name].feedback(a.opt, agg.Begin.Unix(), agg.End.Unix()))
	}
	return &agg
}

// feedback makes the report of a policy domain.
func (da *domainAgg) feedback(opt AggregateOptions, begin, end int64) *Feedback {
	keys := make([]aggKey, 0, len(da.rows))
	for k := range da.rows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if da.rows[a] != da.rows[b] {
			return da.rows[a] > da.rows[b]
		}
		return a.String() < b.String()
	})
	f := &Feedback{
		Version: "1.0",
		Metadata: ReportMetadata{OrgName: opt.Org, Email: opt.Email,
			DateRange: DateRange{Begin: begin, End: end}},
		Policy: da.policy,
	}
	id := sha256.New()
	fmt.Fprintf(id, "%s\x00%s\x00%d\x00%d\x00", opt.Org, da.policy.Domain, begin, end)
	for _, k := range keys {
		n := da.rows[k]
		fmt.Fprintf(id, "%s\x00%d\x00", k.String(), n)
		f.Records = append(f.Records, k.record(n))
	}
	f.Metadata.ReportID = hex.EncodeToString(id.Sum(nil)[:16])
	return f
}

// String is the key in one string, for sorting and the report id.
func (k aggKey) String() string {
	return strings.Join([]string{k.ip, k.disposition, k.override, strconv.FormatBool(k.dkimPass), strconv.FormatBool(k.spfPass),
		k.headerFrom, k.envelopeFrom, k.spf, k.spfScope, k.dkim}, "\x00")
}

// record is the record of the messages of key k.
func (k aggKey) record(n int) Record {
	passFail := func(b bool) string {
		if b {
			return "pass"
		}
		return "fail"
	}
	r := Record{
		Row: Row{SourceIP: k.ip, Count: n, PolicyEvaluated: PolicyEvaluated{
			Disposition: k.disposition, DKIM: passFail(k.dkimPass), SPF: passFail(k.spfPass)}},
		Identifiers: Identifiers{EnvelopeFrom: k.envelopeFrom, HeaderFrom: k.headerFrom},
		AuthResults: AuthResults{SPF: []SPFAuthResult{{Domain: k.envelopeFrom, Scope: k.spfScope, Result: k.spf}}},
	}
	if k.override != "none" {
		r.Row.PolicyEvaluated.Reasons = []PolicyOverrideReason{{Type: k.override}}
	}
	for _, sig := range strings.Fields(k.dkim) {
		dom, res, _ := cutLast(sig, ":")
		dom, sel, _ := strings.Cut(dom, "/")
		r.AuthResults.DKIM = append(r.AuthResults.DKIM, DKIMAuthResult{Domain: dom, Selector: sel, Result: res})
	}
	return r
}

// sourceIP writes an address as the schema's IPAddress pattern has it:
// IPv4 dotted, IPv6 in its eight groups, without "::" (2001:db8:0:0:0:0:0:25),
// which the pattern does not know.
func sourceIP(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	b := ip.As16()
	groups := make([]string, 8)
	for i := range groups {
		groups[i] = strconv.FormatUint(uint64(b[2*i])<<8|uint64(b[2*i+1]), 16)
	}
	return strings.Join(groups, ":")
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// parseDMARC reads the fields of an event=dmarc line; errNoPolicy for
// one without a policy, another error for a value it cannot read.
func parseDMARC(f map[string]string) (dmarcLine, error) {
	var d dmarcLine
	switch f["result"] {
	case "none":
		return d, errNoPolicy
	case "temperror", "permerror":
		if f["p"] == "" {
			return d, errNoPolicy // no record, so no rua either
		}
	case "pass", "fail":
	default:
		return d, fmt.Errorf("bad result %q", f["result"])
	}
	bad := func(key string) error { return fmt.Errorf("bad %s %q", key, f[key]) }
	d.policyDomain = strings.ToLower(strings.TrimSuffix(f["policy_domain"], "."))
	if !ValidDomain(d.policyDomain) {
		return d, bad("policy_domain")
	}
	for _, key := range []string{"p", "policy", "disposition"} {
		if !dispositions[f[key]] {
			return d, bad(key)
		}
	}
	sp := f["sp"]
	if sp == "" {
		sp = f["p"]
	} else if !dispositions[sp] {
		return d, bad("sp")
	}
	pct, err := strconv.Atoi(f["pct"])
	if err != nil || pct < 0 || pct > 100 {
		return d, bad("pct")
	}
	for _, key := range []string{"adkim", "aspf"} {
		if !alignments[f[key]] {
			return d, bad(key)
		}
	}
	fo := f["fo"]
	if fo == "" {
		fo = "0"
	} else if !printableWord(fo) {
		return d, bad("fo")
	}
	d.policy = PolicyPublished{Domain: d.policyDomain, ADKIM: f["adkim"], ASPF: f["aspf"], P: f["p"], SP: sp, Pct: pct, FO: fo}

	k := &d.key
	k.disposition = f["disposition"]
	k.override = f["override"]
	if k.override == "" {
		k.override = "none"
	}
	if !overrides[k.override] {
		return d, bad("override")
	}
	ip, err := netip.ParseAddr(f["ip"])
	if err != nil || ip.Zone() != "" {
		return d, bad("ip")
	}
	k.ip = sourceIP(ip)
	k.headerFrom = strings.ToLower(strings.TrimSuffix(f["from"], "."))
	if k.headerFrom == "" || !printableWord(k.headerFrom) {
		return d, bad("from")
	}
	k.envelopeFrom = strings.ToLower(strings.TrimSuffix(f["mailfrom"], "."))
	if k.envelopeFrom != "" && !printableWord(k.envelopeFrom) {
		return d, bad("mailfrom")
	}
	k.spf = f["spf"]
	if !spfResults[k.spf] {
		return d, bad("spf")
	}
	switch k.spfScope = f["spf_scope"]; k.spfScope {
	case "":
		k.spfScope = "mfrom"
	case "mfrom", "helo":
	default:
		return d, bad("spf_scope")
	}
	switch f["spf_aligned"] {
	case "true":
		k.spfPass = true
	case "false":
	default:
		return d, bad("spf_aligned")
	}
	switch da := f["dkim_aligned"]; {
	case da == "" || da == "none":
	case printableWord(da):
		k.dkimPass = true
	default:
		return d, bad("dkim_aligned")
	}
	// A signature that cannot be read is left out, not the message: a
	// sender could otherwise hide its spoofing from the report with a
	// junk signature.
	var sigs []string
	for _, sig := range strings.Fields(f["dkim"]) {
		dom, res, ok := cutLast(sig, ":")
		dom, sel, _ := strings.Cut(dom, "/")
		if !ok || dom == "" || !printableWord(sig) || !dkimResults[res] {
			continue
		}
		if sel != "" {
			sel = "/" + sel
		}
		sigs = append(sigs, strings.ToLower(strings.TrimSuffix(dom, "."))+sel+":"+res)
	}
	k.dkim = strings.Join(sigs, " ")
	return d, nil
}

// printableWord reports whether s is valid UTF-8 without spaces or
// control characters, as a domain or a DKIM selector is.
func printableWord(s string) bool {
	if len(s) > 255 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == 0xfffd || 0x80 <= r && r < 0xa0 {
			return false
		}
	}
	return true
}

// eachLine calls fn with each line of r that is not empty, without its
// end; a line longer than maxLine is cut there, tooLong set, and the rest
// of it dropped.
func eachLine(r io.Reader, fn func(line string, tooLong bool)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong && len(buf)+len(chunk) <= maxLine {
			buf = append(buf, chunk...)
		} else {
			tooLong = true
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if line := bytes.TrimRight(buf, "\r\n"); len(line) > 0 || tooLong {
			fn(string(line), tooLong)
		}
		buf, tooLong = buf[:0], false
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// WrittenReport is a report file written: its path, records and messages.
type WrittenReport struct {
	Path     string
	Records  int
	Messages int
}

// CheckReportDir tells whether reports can be written into dir: it is a
// directory where a file can be made.
func CheckReportDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".maxwell-check-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// WriteFiles writes each report into dir under its FileName, replacing a
// file of the same name (the same receiver, domain and period). Each
// file appears whole: it is written under a temporary name first.
func (a *Aggregate) WriteFiles(dir string) ([]WrittenReport, error) {
	var written []WrittenReport
	for _, f := range a.Reports {
		path := filepath.Join(dir, f.FileName())
		if err := writeFileAtomic(path, f.WriteXML); err != nil {
			return written, err
		}
		written = append(written, WrittenReport{Path: path, Records: len(f.Records), Messages: f.Messages()})
	}
	return written, nil
}

func writeFileAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".maxwell-report-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, removes nothing
	bw := bufio.NewWriter(tmp)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Chmod(0o640)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return err
}
