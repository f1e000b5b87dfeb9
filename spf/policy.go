package spf

import (
	"fmt"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/oneline"
)

// Policy is what to do with a message given its SPF result, in bms.py's
// words.
type Policy string

// The policies.
const (
	OK        Policy = "OK"        // go on with the other checks
	CBV       Policy = "CBV"       // call-back verification of the sender before accepting
	DSN       Policy = "DSN"       // call-back with an explanatory DSN
	Reject    Policy = "REJECT"    // refuse (550)
	Tempfail  Policy = "TEMPFAIL"  // refuse for now (451)
	Whitelist Policy = "WHITELIST" // accept, sparing the later checks
	Ban       Policy = "BAN"       // refuse and count demerits against the client
)

// ParsePolicy reads a policy word, in any case.
func ParsePolicy(s string) (Policy, error) {
	p := Policy(strings.ToUpper(strings.TrimSpace(s)))
	switch p {
	case OK, CBV, DSN, Reject, Tempfail, Whitelist, Ban:
		return p, nil
	}
	return "", fmt.Errorf("%s is not a policy (OK, CBV, DSN, REJECT, TEMPFAIL, WHITELIST or BAN)", oneline.Quote(s))
}

// Policies chooses the policy for an SPF result: the access map first,
// then the [spf] lists, then bms.py's defaults.
type Policies struct {
	RejectNeutral  []config.DomainPattern // softfail and neutral are refused
	AcceptSoftfail []config.DomainPattern // softfail is accepted
	AcceptFail     []config.DomainPattern // fail gets a call-back, as softfail does
	RejectNoPTR    bool                   // three strikes are refused rather than called back
	Access         *AccessMap             // may be nil
}

// MailFrom is the policy for the result of the MAIL FROM check of sender
// (user@domain).
func (p *Policies) MailFrom(r Result, sender string) Policy {
	if pol, ok := p.Access.Lookup("spf-"+string(r), sender); ok {
		return pol
	}
	_, domain, _ := strings.Cut(sender, "@")
	switch r {
	case Fail:
		if config.MatchDomain(p.AcceptFail, domain) {
			return CBV
		}
		return Reject
	case SoftFail:
		switch {
		case config.MatchDomain(p.AcceptSoftfail, domain):
			return OK
		case config.MatchDomain(p.RejectNeutral, domain):
			return Reject
		}
		return CBV
	case Neutral:
		if config.MatchDomain(p.RejectNeutral, domain) {
			return Reject
		}
		return OK
	case None: // asked only for the three strikes
		if p.RejectNoPTR {
			return Reject
		}
		return CBV
	case PermError:
		return Reject
	case TempError:
		return Tempfail
	}
	return OK
}

// Helo is the policy for the result of the HELO check of name, when the
// MAIL FROM did not pass: a HELO name whose own record disowns the client
// is a forgery.
func (p *Policies) Helo(r Result, name string) Policy {
	if pol, ok := p.Access.Lookup("helo-"+string(r), name); ok {
		return pol
	}
	switch r {
	case Fail, SoftFail, Neutral:
		return Reject
	}
	return OK
}
