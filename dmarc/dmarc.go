// Package dmarc evaluates DMARC (RFC 7489): the policy a From: domain
// publishes, whether SPF or DKIM authenticated an identifier aligned with
// it, and what the policy asks done with a message that fails. Records
// are parsed by go-msgauth; organizational domains come from the public
// suffix list (golang.org/x/net/publicsuffix).
package dmarc

import (
	"context"
	"strings"

	msgauth "github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Result is an RFC 8601 §2.7.4 DMARC result.
type Result string

// The results.
const (
	Pass      Result = "pass"
	Fail      Result = "fail"
	None      Result = "none"      // the domain publishes no policy
	TempError Result = "temperror" // the policy could not be fetched now
	PermError Result = "permerror" // the policy record is malformed
)

// Policy is what a domain asks done with mail that fails.
type Policy string

// The policies, in increasing strictness.
const (
	PolicyNone       Policy = "none"
	PolicyQuarantine Policy = "quarantine"
	PolicyReject     Policy = "reject"
)

func (p Policy) strictness() int {
	switch p {
	case PolicyReject:
		return 2
	case PolicyQuarantine:
		return 1
	}
	return 0
}

// DKIMPass is a DKIM signature that verified: its d= domain.
type DKIMPass struct{ Domain string }

// Identifiers are what SPF and DKIM authenticated of a message.
type Identifiers struct {
	SPFDomain string   // the MAIL FROM domain (the HELO name for the null sender)
	SPFPass   bool     // SPF passed for it
	DKIM      []string // the d= domains of the signatures that passed
}

// Verdict is the DMARC evaluation of one message.
type Verdict struct {
	Result       Result
	From         string // the From: domain the verdict is about
	PolicyDomain string // where the record was found: From or its organizational domain
	Record       *msgauth.Record
	// Policy is what the record asks for this message: p=, or sp= for a
	// subdomain, lowered one step when pct= left the message out.
	Policy      Policy
	Sampled     bool   // pct= chose this message for the policy (always, without pct=)
	SPFAligned  bool   // SPF passed for a domain aligned with From
	DKIMAligned string // the d= of a passing signature aligned with From, if any
	Reason      string // why the result is not pass or none
	// BadFrom: the From: domain is no domain name (an empty label, one
	// of more than 63 octets): permerror, and the message is as one
	// with several From: fields.
	BadFrom bool
}

// LookupTXT fetches the TXT records of a name, as dkim.LookupTXT does:
// none for a name that does not exist; an error for one that could not
// be asked.
type LookupTXT func(ctx context.Context, name string) ([]string, error)

// Checker evaluates DMARC. Percent draws a number in [0, 100) for pct=
// sampling.
type Checker struct {
	Lookup  LookupTXT
	Percent func() int
}

// OrgDomain is a domain's organizational domain (RFC 7489 §3.2): the
// public suffix and one label more; a public suffix is its own.
func OrgDomain(domain string) string {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if od, err := publicsuffix.EffectiveTLDPlusOne(domain); err == nil {
		return od
	}
	return domain
}

// Aligned reports whether domain a is aligned with b: the same domain
// (strict), or of the same organizational domain (relaxed).
func Aligned(a, b string, mode msgauth.AlignmentMode) bool {
	a, b = strings.ToLower(strings.TrimSuffix(a, ".")), strings.ToLower(strings.TrimSuffix(b, "."))
	if a == "" || b == "" {
		return false
	}
	if a == b {
		return true
	}
	return mode != msgauth.AlignmentStrict && OrgDomain(a) == OrgDomain(b)
}

// Check evaluates the message for each From: domain (RFC 7489 §6.6.1:
// several addresses are each checked, and the strictest failure
// stands).
func (c *Checker) Check(ctx context.Context, fromDomains []string, ids Identifiers) Verdict {
	var worst *Verdict
	for _, d := range fromDomains {
		v := c.checkOne(ctx, d, ids)
		if worst == nil || worse(v, *worst) {
			worst = &v
		}
	}
	if worst == nil {
		return Verdict{Result: None, Reason: "no From: domain"}
	}
	return *worst
}

// worse orders verdicts: a From: domain that is no domain name first,
// then failures that a policy refuses or holds, a temporary error (what
// its policy would ask is unknown), a failure under p=none, a
// malformed record, and last a pass or none. A domain that cannot be
// looked up must not hide another that fails.
func worse(a, b Verdict) bool { return a.rank() > b.rank() }

func (v Verdict) rank() int {
	switch {
	case v.BadFrom:
		return 6
	case v.Result == Fail && v.Policy != PolicyNone:
		return 3 + v.Policy.strictness() // 4, 5
	case v.Result == TempError:
		return 3
	case v.Result == Fail:
		return 2
	case v.Result == PermError:
		return 1
	}
	return 0
}

func (c *Checker) checkOne(ctx context.Context, from string, ids Identifiers) Verdict {
	from = strings.ToLower(strings.TrimSuffix(from, "."))
	v := Verdict{From: from, Result: None}
	// An internationalized domain publishes its policy under its
	// A-labels (RFC 5890).
	ascii, err := idna.Lookup.ToASCII(from)
	if err == nil && !strings.Contains(ascii, ".") {
		v.Reason = "a From: domain of one label publishes no policy"
		return v // root@localhost
	}
	if err != nil || !validName(ascii) {
		v.Result, v.BadFrom, v.Reason = PermError, true, "the From: domain is not a domain name"
		return v
	}
	from = ascii
	v.From = from
	rec, where, err := c.discover(ctx, from)
	switch {
	case err != nil && isTemporary(err):
		v.Result, v.Reason = TempError, err.Error()
		return v
	case err != nil:
		v.Result, v.Reason, v.PolicyDomain = PermError, err.Error(), where
		return v
	case rec == nil:
		return v
	}
	v.Record, v.PolicyDomain = rec, where
	v.SPFAligned = ids.SPFPass && Aligned(ids.SPFDomain, from, rec.SPFAlignment)
	for _, d := range ids.DKIM {
		if Aligned(d, from, rec.DKIMAlignment) {
			v.DKIMAligned = d
			break
		}
	}
	if v.SPFAligned || v.DKIMAligned != "" {
		v.Result, v.Policy, v.Sampled = Pass, PolicyNone, true
		return v
	}
	v.Result = Fail
	v.Reason = "neither SPF nor DKIM authenticated a domain aligned with " + from
	v.Policy = Policy(rec.Policy)
	if where != from && rec.SubdomainPolicy != "" {
		v.Policy = Policy(rec.SubdomainPolicy)
	}
	v.Policy, v.Sampled = c.sample(v.Policy, rec.Percent)
	return v
}

// sample applies pct= (RFC 7489 §6.6.4): a message left out gets the
// next laxer policy.
func (c *Checker) sample(p Policy, pct *int) (Policy, bool) {
	if pct == nil || *pct >= 100 || c.Percent() < *pct {
		return p, true
	}
	switch p {
	case PolicyReject:
		return PolicyQuarantine, false
	case PolicyQuarantine:
		return PolicyNone, false
	}
	return p, false
}

// discover finds the policy record (RFC 7489 §6.6.3): at the From:
// domain, else at its organizational domain. No record is nil.
func (c *Checker) discover(ctx context.Context, from string) (*msgauth.Record, string, error) {
	rec, err := c.record(ctx, from)
	if rec != nil || err != nil {
		return rec, from, err
	}
	org := OrgDomain(from)
	if org == from {
		return nil, "", nil
	}
	rec, err = c.record(ctx, org)
	return rec, org, err
}

// record fetches and parses the record at _dmarc.domain. Several
// records are as none (§6.6.3 step 3).
func (c *Checker) record(ctx context.Context, domain string) (*msgauth.Record, error) {
	txts, err := c.Lookup(ctx, "_dmarc."+domain)
	if err != nil {
		return nil, err
	}
	var found []string
	for _, t := range txts {
		if strings.HasPrefix(strings.TrimSpace(t), "v=DMARC1") {
			found = append(found, t)
		}
	}
	if len(found) != 1 {
		return nil, nil
	}
	rec, err := msgauth.Parse(found[0])
	if err != nil {
		return nil, &RecordError{Domain: domain, Err: err}
	}
	return rec, nil
}

// validName reports whether name can be looked up: labels of 1 to 63
// octets, 253 in all.
func validName(name string) bool {
	if len(name) > 253 {
		return false
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

// RecordError is a malformed policy record.
type RecordError struct {
	Domain string
	Err    error
}

func (e *RecordError) Error() string { return "_dmarc." + e.Domain + ": " + e.Err.Error() }

// isTemporary reports whether a lookup error may go away.
func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}
