package dmarc

import (
	"context"
	"errors"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dmarc"
)

// zone is the DNS of these tests: TXT records by name.
type zone map[string][]string

func (z zone) lookup(_ context.Context, name string) ([]string, error) {
	if name == "_dmarc.broken.example" {
		return nil, tempErr{}
	}
	return z[name], nil
}

type tempErr struct{}

func (tempErr) Error() string   { return "i/o timeout" }
func (tempErr) Temporary() bool { return true }

// The alignment examples of RFC 7489 Appendix B.1.
func TestAlignmentAppendixB1(t *testing.T) {
	for _, tc := range []struct {
		a, b    string
		mode    msgauth.AlignmentMode
		aligned bool
	}{
		// B.1.1: MAIL FROM example.com, From: example.com.
		{"example.com", "example.com", msgauth.AlignmentStrict, true},
		// MAIL FROM child.example.com: relaxed only.
		{"child.example.com", "example.com", msgauth.AlignmentRelaxed, true},
		{"child.example.com", "example.com", msgauth.AlignmentStrict, false},
		// B.1.2: d=example.com, From: example.com; d=child.example.com.
		{"EXAMPLE.com.", "example.com", msgauth.AlignmentStrict, true},
		{"child.example.com", "example.com", msgauth.AlignmentStrict, false},
		// Different organizations never align; nor do siblings under a public suffix.
		{"example.net", "example.com", msgauth.AlignmentRelaxed, false},
		{"a.co.uk", "b.co.uk", msgauth.AlignmentRelaxed, false},
		{"mail.a.co.uk", "a.co.uk", msgauth.AlignmentRelaxed, true},
		{"", "example.com", msgauth.AlignmentRelaxed, false},
	} {
		if got := Aligned(tc.a, tc.b, tc.mode); got != tc.aligned {
			t.Errorf("Aligned(%q, %q, %s) = %v, want %v", tc.a, tc.b, tc.mode, got, tc.aligned)
		}
	}
}

func TestCheck(t *testing.T) {
	z := zone{
		"_dmarc.example.com":           {"v=DMARC1; p=reject; sp=quarantine; aspf=s"},
		"_dmarc.none.example":          {"v=DMARC1; p=none; rua=mailto:d@none.example"},
		"_dmarc.half.example":          {"v=DMARC1; p=reject; pct=50"},
		"_dmarc.twice.example":         {"v=DMARC1; p=reject", "v=DMARC1; p=none"},
		"_dmarc.bad.example":           {"v=DMARC1; p=sometimes"},
		"_dmarc.other.example":         {"some other record", "v=DMARC1; p=quarantine; adkim=s"},
		"_dmarc.sub.example.com":       nil,
		"_dmarc.xn--bcher-kva.example": {"v=DMARC1; p=reject"},
	}
	for _, tc := range []struct {
		name    string
		from    []string
		ids     Identifiers
		draw    int // Percent's draw
		result  Result
		policy  Policy
		sampled bool
		where   string
	}{
		{"SPF aligned (strict aspf)", []string{"example.com"}, Identifiers{SPFDomain: "example.com", SPFPass: true}, 0, Pass, PolicyNone, true, "example.com"},
		{"SPF of a child fails strict aspf", []string{"example.com"}, Identifiers{SPFDomain: "child.example.com", SPFPass: true}, 0, Fail, PolicyReject, true, "example.com"},
		{"DKIM of a child aligns relaxed", []string{"example.com"}, Identifiers{DKIM: []string{"child.example.com"}}, 0, Pass, PolicyNone, true, "example.com"},
		{"SPF not passing does not align", []string{"example.com"}, Identifiers{SPFDomain: "example.com"}, 0, Fail, PolicyReject, true, "example.com"},
		{"subdomain policy from the organizational domain", []string{"sub.example.com"}, Identifiers{DKIM: []string{"example.net"}}, 0, Fail, PolicyQuarantine, true, "example.com"},
		{"no policy", []string{"example.org"}, Identifiers{}, 0, None, "", false, ""},
		{"p=none fails with policy none", []string{"none.example"}, Identifiers{}, 0, Fail, PolicyNone, true, "none.example"},
		{"pct=50 draws in", []string{"half.example"}, Identifiers{}, 49, Fail, PolicyReject, true, "half.example"},
		{"pct=50 draws out: one step laxer", []string{"half.example"}, Identifiers{}, 50, Fail, PolicyQuarantine, false, "half.example"},
		{"two records are none", []string{"twice.example"}, Identifiers{}, 0, None, "", false, ""},
		{"malformed record", []string{"bad.example"}, Identifiers{}, 0, PermError, "", false, "bad.example"},
		{"other TXT records ignored; strict adkim", []string{"other.example"}, Identifiers{DKIM: []string{"mail.other.example"}}, 0, Fail, PolicyQuarantine, true, "other.example"},
		{"temporary failure", []string{"broken.example"}, Identifiers{}, 0, TempError, "", false, ""},
		{"several From: domains: the strictest failure", []string{"none.example", "example.com", "example.org"}, Identifiers{}, 0, Fail, PolicyReject, true, "example.com"},
		{"no From: domain", nil, Identifiers{}, 0, None, "", false, ""},
		{"a failure p=reject refuses outranks a temporary error", []string{"broken.example", "example.com"}, Identifiers{}, 0, Fail, PolicyReject, true, "example.com"},
		{"a temporary error outranks p=none", []string{"none.example", "broken.example"}, Identifiers{}, 0, TempError, "", false, ""},
		{"a label of 64 octets is no domain", []string{strings.Repeat("a", 64) + ".example.com"}, Identifiers{}, 0, PermError, "", false, ""},
		{"an empty label is no domain", []string{"a..example.com"}, Identifiers{}, 0, PermError, "", false, ""},
		{"one label: no policy", []string{"localhost"}, Identifiers{}, 0, None, "", false, ""},
		{"an internationalized domain by its A-labels", []string{"Bücher.example"}, Identifiers{}, 0, Fail, PolicyReject, true, "xn--bcher-kva.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Checker{Lookup: z.lookup, Percent: func() int { return tc.draw }}
			v := c.Check(context.Background(), tc.from, tc.ids)
			if v.Result != tc.result || v.Policy != tc.policy || v.Sampled != tc.sampled || v.PolicyDomain != tc.where {
				t.Errorf("got %s policy %q sampled %v at %q (%s); want %s policy %q sampled %v at %q",
					v.Result, v.Policy, v.Sampled, v.PolicyDomain, v.Reason, tc.result, tc.policy, tc.sampled, tc.where)
			}
		})
	}
}

func TestMalformedRecordError(t *testing.T) {
	c := &Checker{Lookup: zone{"_dmarc.bad.example": {"v=DMARC1; p=sometimes"}}.lookup, Percent: func() int { return 0 }}
	_, _, err := c.discover(context.Background(), "bad.example")
	var re *RecordError
	if !errors.As(err, &re) || re.Domain != "bad.example" {
		t.Errorf("discover: %v, want a RecordError for bad.example", err)
	}
}

func TestOrgDomain(t *testing.T) {
	for in, want := range map[string]string{
		"mail.example.com": "example.com", "example.com": "example.com", "a.b.example.co.uk": "example.co.uk",
		"co.uk": "co.uk", "Example.COM.": "example.com",
	} {
		if got := OrgDomain(in); got != want {
			t.Errorf("OrgDomain(%q) = %q, want %q", in, got, want)
		}
	}
}
