package spf_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	// The module is not called: its testdata holds the suites.
	_ "blitiri.com.ar/go/spf"
	"github.com/miekg/dns"
	"gopkg.in/yaml.v3"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/spf"
)

// The SPF test suites shipped in the testdata of the
// blitiri.com.ar/go/spf module (RFC 7208's, RFC 4408's, pyspf's and the
// library's own), run through maxwell's spf package and resolver against
// each suite's zone data served over UDP by an in-process DNS server.

// suiteExceptions are the cases whose result differs from the suite's,
// and why. A case listed here that passes fails the test, so the list
// cannot go stale.
var suiteExceptions = map[string]string{
	// default= is a modifier of SPF's drafts before RFC 4408; RFC 7208 §6
	// says an unknown modifier is ignored, so the record ends neutral.
	// "ambiguous" is a result of pyspf's own, not of the RFC.
	"pyspf/default-modifier":       "default= is a pre-RFC 4408 modifier; RFC 7208 §6 ignores unknown modifiers",
	"pyspf/default-modifier-harsh": "default= is a pre-RFC 4408 modifier, and \"ambiguous\" is a pyspf result, not an RFC 7208 one",
}

// suiteReasons are cases that must end for a given reason, not only with
// the given result: the limits of RFC 7208 §4.6.4 and the errors of
// include and redirect. The problem reported must contain the text.
var suiteReasons = map[string]string{
	"blitirispf/resolution-with-11-lookups": "more than 10 DNS-querying terms",
	"blitirispf/lookup-limit-over-a":        "more than 10 DNS-querying terms",
	"blitirispf/lookup-limit-over-mx":       "more than 10 DNS-querying terms",
	"blitirispf/lookup-limit-over-exists":   "more than 10 DNS-querying terms",
	"blitirispf/lookup-limit-over-ptr":      "more than 10 DNS-querying terms",
	"blitirispf/lookup-limit-over-no-match": "more than 10 DNS-querying terms",
	"blitirispf/mx-resolution-11-terms":     "more than 10 DNS-querying terms",
	"blitirispf/ptr-resolution-11-terms":    "more than 10 DNS-querying terms",
	"blitirispf/ptr-resolution-mixed-terms": "more than 10 DNS-querying terms",
	"blitirispf/void-limit-over-a":          "more than 2 void DNS lookups",
	"blitirispf/void-limit-over-mx":         "more than 2 void DNS lookups",
	"blitirispf/void-limit-over-exists":     "more than 2 void DNS lookups",
	"blitirispf/void-limit-over-ptr":        "more than 2 void DNS lookups",
	"blitirispf/void-limit-over-in-include": "more than 2 void DNS lookups",
	"blitirispf/include-not-found":          "include:doesnotexist.test in the SPF record of d02.test: doesnotexist.test publishes no SPF record",
	"blitirispf/redirect-not-found":         "redirect=doesnotexist.test in the SPF record of d03.test: doesnotexist.test publishes no SPF record",
	"blitirispf/macro-digit-zero":           "syntax error",
	"rfc7208/include-loop":                  "more than 10 DNS-querying terms",
	"rfc7208/redirect-loop":                 "more than 10 DNS-querying terms",
	"rfc7208/void-over-limit":               "more than 2 void DNS lookups",
}

type suite struct {
	Description string
	Tests       map[string]suiteTest
	ZoneData    map[string][]zoneRecord `yaml:"zonedata"`
}

type suiteTest struct {
	Helo     string
	Host     string
	MailFrom string `yaml:"mailfrom"`
	Result   strings1
}

type zoneRecord struct {
	A         strings1 `yaml:"A"`
	AAAA      strings1 `yaml:"AAAA"`
	MX        []any    `yaml:"MX"`
	SPF       strings1 `yaml:"SPF"`
	TXT       strings1 `yaml:"TXT"`
	PTR       strings1 `yaml:"PTR"`
	CNAME     string   `yaml:"CNAME"`
	TIMEOUT   bool     `yaml:"TIMEOUT"`
	SERVFAIL  bool     `yaml:"SERVFAIL"`
	CNAMELOOP bool     `yaml:"CNAMELOOP"`
}

// strings1 is a string or a list of strings.
type strings1 []string

func (s *strings1) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.SequenceNode {
		return n.Decode((*[]string)(s))
	}
	var one string
	if err := n.Decode(&one); err != nil {
		return err
	}
	*s = strings1{one}
	return nil
}

func moduleDir(t *testing.T, module string) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", module, err)
	}
	return strings.TrimSpace(string(out))
}

func readSuites(t *testing.T, path string) []suite {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var suites []suite
	dec := yaml.NewDecoder(f)
	for {
		var s suite
		if err := dec.Decode(&s); errors.Is(err, io.EOF) {
			return suites
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		suites = append(suites, s)
	}
}

// serveZone loads a suite's zone data into srv.
func serveZone(t *testing.T, srv *dnstest.Server, zone map[string][]zoneRecord) {
	for name, records := range zone {
		owner := dns.Fqdn(name)
		hdr := func(rrtype uint16) dns.RR_Header {
			return dns.RR_Header{Name: owner, Rrtype: rrtype, Class: dns.ClassINET, Ttl: 300}
		}
		hasTXT := false
		for _, r := range records {
			hasTXT = hasTXT || len(r.TXT) > 0
		}
		// "TXT: NONE" says the name has no TXT record (and, with
		// TIMEOUT, that the TXT question is the one that times out).
		for _, r := range records {
			for _, a := range r.A {
				srv.AddRR(&dns.A{Hdr: hdr(dns.TypeA), A: net.ParseIP(a)})
			}
			for _, a := range r.AAAA {
				srv.AddRR(&dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.ParseIP(a)})
			}
			if len(r.MX) == 2 {
				prio, _ := r.MX[0].(int)
				host, _ := r.MX[1].(string)
				srv.AddRR(&dns.MX{Hdr: hdr(dns.TypeMX), Preference: uint16(prio), Mx: dns.Fqdn(host)})
			}
			for _, txt := range r.TXT {
				if txt == "NONE" {
					continue
				}
				srv.AddRR(&dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: chunks(txt)})
			}
			// Old cases publish type SPF records only. Nothing asks for
			// those any more (RFC 7208 §3.1), so, like the library's own
			// test, serve them as TXT when there is no TXT: one record
			// of several strings.
			if len(r.SPF) > 0 && !hasTXT {
				srv.AddRR(&dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: r.SPF})
			}
			for _, p := range r.PTR {
				srv.AddRR(&dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: dns.Fqdn(p)})
			}
			if r.CNAME != "" {
				srv.AddRR(&dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: dns.Fqdn(r.CNAME)})
			}
			switch {
			case r.TIMEOUT:
				// As in pyspf's test driver: the types the name has
				// records of are answered, the rest time out.
				srv.FailUnlisted(name, dnstest.Silent)
			case r.SERVFAIL:
				srv.Fail(name, dnstest.ServFail)
			case r.CNAMELOOP:
				srv.AddRR(&dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: owner})
			}
		}
	}
}

// chunks splits a TXT string into the 255-byte strings DNS carries.
func chunks(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}

// The suites blitiri.com.ar/go/spf ships, each with the least number of
// cases that must pass: a suite file that shrinks fails the test.
var suiteFiles = []struct {
	name, file string
	atLeast    int
}{
	{"rfc7208", "rfc7208-tests.yml", 200},
	{"rfc4408", "rfc4408-tests.yml", 190},
	{"pyspf", "pyspf-tests.yml", 16},
	{"blitirispf", "blitirispf-tests.yml", 80},
}

// TestSPFSuites runs the suites and holds docs/policy.md to the figures
// it measures: the table of cases passed, and every case that does not
// pass named there.
func TestSPFSuites(t *testing.T) {
	dir := filepath.Join(moduleDir(t, "blitiri.com.ar/go/spf"), "testdata")
	docs, err := os.ReadFile("../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, sf := range suiteFiles {
		t.Run(sf.name, func(t *testing.T) {
			passed, total := 0, 0
			for _, s := range readSuites(t, filepath.Join(dir, sf.file)) {
				if sf.name == "blitirispf" {
					qualifyNames(&s)
				}
				p, n := runSuite(t, sf.name, s, seen)
				passed, total = passed+p, total+n
			}
			t.Logf("SPF suite %s: %d of %d cases pass", sf.name, passed, total)
			if total < sf.atLeast {
				t.Fatalf("read only %d cases from %s", total, sf.file)
			}
			if row := fmt.Sprintf("| %s | %d | %d |", sf.name, total, passed); !strings.Contains(string(docs), row) {
				t.Errorf("docs/policy.md lacks the row %q", row)
			}
		})
	}
	for name := range suiteExceptions {
		if !strings.Contains(string(docs), "`"+name+"`") {
			t.Errorf("docs/policy.md does not say why %s does not pass", name)
		}
	}
	for _, m := range []map[string]string{suiteExceptions, suiteReasons} {
		for name := range m {
			if !seen[name] {
				t.Errorf("%q is listed, but is not in the suites", name)
			}
		}
	}
}

func runSuite(t *testing.T, suiteName string, s suite, seen map[string]bool) (passed, total int) {
	srv, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	serveZone(t, srv, s.ZoneData)
	checker := &spf.Checker{Resolver: resolver.New(resolver.Config{
		Servers: []string{srv.Addr}, Timeout: 200 * time.Millisecond, Attempts: 1, CacheSize: 1000, MaxTTL: time.Hour,
	})}
	names := make([]string, 0, len(s.Tests))
	for name := range s.Tests {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		tc := s.Tests[name]
		total++
		key := suiteName + "/" + name
		seen[key] = true
		o := checker.Check(context.Background(), spf.Query{
			IP: netip.MustParseAddr(tc.Host), Helo: tc.Helo, Sender: tc.MailFrom,
		})
		ok := slices.Contains(tc.Result, string(o.Result))
		if why, ok2 := suiteReasons[key]; ok && ok2 && !strings.Contains(o.Problem, why) {
			t.Errorf("%s (%s): %s for the wrong reason: %q, want %q", key, s.Description, o.Result, o.Problem, why)
			continue
		}
		reason, excepted := suiteExceptions[key]
		switch {
		case ok && excepted:
			t.Errorf("%s (%s): now passes (%s); remove it from suiteExceptions", key, s.Description, o.Result)
		case ok:
			passed++
		case excepted:
			t.Logf("%s: got %s, suite wants %v: expected difference: %s", key, o.Result, tc.Result, reason)
		default:
			t.Errorf("%s (%s): got %s (%s%s), suite wants %v", key, s.Description, o.Result, o.Mechanism, o.Problem, tc.Result)
		}
	}
	return passed, total
}

// qualifyNames moves the single-label names of a suite under ".test".
// blitirispf's cases use names such as "d11" and "foo@at10", which RFC
// 7208 does not allow: a domain-spec ends in a top-level label (§12), a
// single-label domain has no record (§4.3). Kept as they are, its
// lookup-limit cases would end in a syntax error, the right result for
// the wrong reason; moved, they test the limits they are about.
func qualifyNames(s *suite) {
	fq := func(name string) string {
		if name == "" || strings.ContainsAny(name, ".%") {
			return name
		}
		return name + ".test"
	}
	for name, tc := range s.Tests {
		if local, domain, ok := strings.Cut(tc.MailFrom, "@"); ok {
			tc.MailFrom = local + "@" + fq(domain)
		}
		s.Tests[name] = tc
	}
	zone := map[string][]zoneRecord{}
	for owner, records := range s.ZoneData {
		for i, r := range records {
			if len(r.MX) == 2 {
				if host, ok := r.MX[1].(string); ok {
					r.MX[1] = fq(host)
				}
			}
			for j := range r.PTR {
				r.PTR[j] = fq(r.PTR[j])
			}
			r.CNAME = fq(r.CNAME)
			for j := range r.SPF {
				r.SPF[j] = qualifyRecord(r.SPF[j], fq)
			}
			for j := range r.TXT {
				r.TXT[j] = qualifyRecord(r.TXT[j], fq)
			}
			records[i] = r
		}
		zone[fq(owner)] = records
	}
	s.ZoneData = zone
}

// qualifyRecord applies fq to the domain of each term of an SPF record
// that names one.
func qualifyRecord(record string, fq func(string) string) string {
	if !strings.HasPrefix(record, "v=spf1") {
		return record
	}
	terms := strings.Fields(record)
	for i, term := range terms {
		for _, prefix := range []string{"include:", "a:", "mx:", "ptr:", "exists:", "redirect="} {
			rest, ok := strings.CutPrefix(strings.TrimLeft(term, "+-~?"), prefix)
			if !ok {
				continue
			}
			domain, cidr, _ := strings.Cut(rest, "/")
			if cidr != "" {
				cidr = "/" + cidr
			}
			terms[i] = term[:len(term)-len(rest)] + fq(domain) + cidr
		}
	}
	return strings.Join(terms, " ")
}
