package policy

import (
	"strings"

	"github.com/maxwell-milter/maxwell/internal/config"
)

// addrSet matches addresses against entries that are a whole address
// ("joe@example.com"), a domain ("@example.com") or a local part at any
// domain ("postmaster@"), all case-insensitive.
type addrSet map[string]bool

func newAddrSet(entries []string) addrSet {
	s := addrSet{}
	for _, e := range entries {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
			s[e] = true
		}
	}
	return s
}

func (s addrSet) match(addr string) bool {
	if len(s) == 0 {
		return false
	}
	a := strings.ToLower(addr)
	if s[a] {
		return true
	}
	at := strings.LastIndexByte(a, '@')
	return at >= 0 && (s[a[at:]] || s[a[:at+1]])
}

// checkBlockedSender refuses mail from [blocked_senders] senders to every
// recipient but the listed exceptions: deferred with an innocuous text
// ("Mailbox full, retry later") or rejected, as configured. It answers per
// recipient, so exception recipients still get their copy.
func checkBlockedSender(s *Session) (*Decision, error) {
	bs := &s.e.cfg.BlockedSenders
	if !s.e.blockedSenders.match(s.Msg.Info.Sender) || s.e.blockedException(s.Msg.Rcpt) {
		return nil, nil
	}
	reason := "blocked sender " + s.Msg.Info.Sender
	if bs.Action == config.BlockedReject {
		return reject(550, "5.2.1", reason, bs.RejectText), nil
	}
	return tempfail(452, "4.2.2", reason, bs.DeferText), nil
}

// blockedException reports whether rcpt is a [blocked_senders] exception:
// listed as an address, a domain or "local@", or at one of our domains
// (internal_domains, hostname) with its local part listed bare ("bob", as
// the Exim ACL's exceptions.list has them).
func (e *Engine) blockedException(rcpt string) bool {
	if e.blockedExcept.match(rcpt) {
		return true
	}
	at := strings.LastIndexByte(rcpt, '@')
	return at > 0 && e.blockedExcept[strings.ToLower(rcpt[:at])] && e.ourDomain(rcpt[at+1:])
}

// ourDomain reports whether mail to domain is ours: one of [milter]
// internal_domains, or [milter] hostname.
func (e *Engine) ourDomain(domain string) bool {
	m := &e.cfg.Milter
	return config.MatchDomain(m.InternalDomains, domain) ||
		m.Hostname != "" && strings.EqualFold(strings.TrimSuffix(domain, "."), strings.TrimSuffix(m.Hostname, "."))
}
