package srs

import (
	"slices"
	"strings"
)

// Site is a site's SRS and SES settings together: which senders leave
// signed, which forwarded, which recipients must carry a signature. The
// socket map, the milter and `maxwell srs` all decide through it.
type Site struct {
	SRS *Rewriter
	SES *SES
	// FwDomain is the domain forwarded senders are rewritten into
	// ([srs] fwdomain); "" forwards nothing.
	FwDomain string
	// SESDomains are signed with SES, SignDomains with SRS in signing
	// mode ([srs] ses, sign); SRSDomains are other domains whose SRS
	// addresses are ours to check ([srs] srs). NoSRS are recipient
	// domains mail to which is never rewritten ([srs] nosrs). All lower
	// case.
	SESDomains, SignDomains, SRSDomains, NoSRS []string
}

// How says what Sign or Forward did to a sender.
type How string

// The ways a sender leaves.
const (
	Unchanged How = ""
	Forwarded How = "srs"  // SRS0/SRS1 in FwDomain
	SignedSRS How = "sign" // SRS0=HHHH=TT==user@ its own domain
	SignedSES How = "ses"  // SES=SIG=user@ its own domain
)

// Outgoing is the envelope sender a message from sender leaves with, as
// pysrs's make_srs chose it: signed if Sign signs it, else forwarded
// if Forward forwards it.
func (s *Site) Outgoing(sender string) (string, How, error) {
	if out, how, err := s.Sign(sender); how != Unchanged || err != nil {
		return out, how, err
	}
	return s.Forward(sender)
}

// Sign signs a sender of an [srs] ses domain with SES, of a sign domain
// with SRS in signing mode. Others, and one already signed, it returns
// Unchanged. An SES signature is made over the local part in lower case
// (the address given to the MTA is in lower case too): Postfix's smtpd
// asks for recipients in lower case, and a signature over "Dave" would
// not verify as "dave".
func (s *Site) Sign(sender string) (string, How, error) {
	domain, ok := s.qualified(sender)
	switch {
	case !ok:
		return sender, Unchanged, nil
	case slices.Contains(s.SESDomains, domain):
		signed, err := s.SignSES(sender)
		return signed, SignedSES, err
	case slices.Contains(s.SignDomains, domain):
		signed, err := s.SRS.Sign(sender)
		return signed, SignedSRS, err
	}
	return sender, Unchanged, nil
}

// SignSES signs sender with SES, its local part in lower case (see
// Sign), whatever its domain.
func (s *Site) SignSES(sender string) (string, error) {
	at := strings.LastIndexByte(sender, '@')
	if at < 0 {
		return s.SES.Sign(sender) // refused there
	}
	return s.SES.Sign(asciiLower(sender[:at]) + sender[at:])
}

// Forward rewrites a sender of another domain into FwDomain with SRS, so
// that forwarded mail passes SPF at the next hop. A sender of FwDomain
// or of an ses or sign domain (ours: our servers send for them), and
// one already ours, it returns Unchanged.
func (s *Site) Forward(sender string) (string, How, error) {
	domain, ok := s.qualified(sender)
	if !ok || s.FwDomain == "" || domain == s.FwDomain || s.Signs(domain) {
		return sender, Unchanged, nil
	}
	fwd, err := s.SRS.Forward(sender, s.FwDomain)
	return fwd, Forwarded, err
}

// qualified returns the domain of a sender that may be rewritten: not
// the null sender, nor an unqualified one, nor Postfix's "@domain" key
// (an answer would rewrite every address of the domain), nor an address
// we signed or rewrote already.
func (s *Site) qualified(sender string) (string, bool) {
	at := strings.LastIndexByte(sender, '@')
	if at <= 0 || s.Ours(sender) {
		return "", false
	}
	return strings.ToLower(sender[at+1:]), true
}

// Ours reports whether addr is an SRS or SES address we made and that
// is still valid.
func (s *Site) Ours(addr string) bool {
	_, err := s.Reverse(addr)
	return err == nil
}

// Reverse returns the address an SES or SRS address of ours, or an RRS
// alias, stands for, an SRS address reversed as far as it is ours. An address that is
// neither is an *Error of Kind NotSRS.
func (s *Site) Reverse(addr string) (string, error) {
	local := addr
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		local = addr[:at]
	}
	local = strings.TrimPrefix(local, `"`)
	switch {
	case IsSES(local) && s.SES != nil:
		return s.SES.Verify(addr)
	case IsSRS(local):
		return s.SRS.ReverseAll(addr)
	case IsRRS(local):
		_, orig, err := s.SRS.ReverseRRS(addr)
		return orig, err
	}
	return "", &Error{NotSRS, "not an SRS, SES or RRS address"}
}

// Protected reports whether recipients in domain are ours to guard: a
// bounce to them must be to an address we signed. They are the
// forwarding domain and the ses, sign and srs domains (bms.py's
// srs_domain).
func (s *Site) Protected(domain string) bool {
	domain = strings.ToLower(domain)
	return domain != "" && (domain == s.FwDomain || slices.Contains(s.SESDomains, domain) ||
		slices.Contains(s.SignDomains, domain) || slices.Contains(s.SRSDomains, domain))
}

// Signs reports whether mail from domain leaves signed (ses or sign).
func (s *Site) Signs(domain string) bool {
	domain = strings.ToLower(domain)
	return slices.Contains(s.SESDomains, domain) || slices.Contains(s.SignDomains, domain)
}
