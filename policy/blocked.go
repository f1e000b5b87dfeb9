package policy

import (
	"strings"

	"github.com/maxwell-milter/maxwell/internal/config"
)

// addrSet matches addresses against entries that are a whole address
// ("joe@example.com"), a domain ("@example.com") or a local part at any
// domain ("postmaster@"). Domains compare case-insensitively, and local
// parts too unless the set is case-sensitive ([milter]
// case_sensitive_localpart, bms.py's).
type addrSet struct {
	entries       map[string]bool
	caseSensitive bool
}

func newAddrSet(entries []string, caseSensitive bool) addrSet {
	s := addrSet{entries: map[string]bool{}, caseSensitive: caseSensitive}
	for _, e := range entries {
		s.add(e)
	}
	return s
}

// add adds an entry.
func (s addrSet) add(entry string) {
	if entry = s.key(strings.TrimSpace(entry)); entry != "" {
		s.entries[entry] = true
	}
}

// key is an address, or an entry, as the set keeps it.
func (s addrSet) key(a string) string {
	at := strings.LastIndexByte(a, '@')
	switch {
	case !s.caseSensitive:
		return strings.ToLower(a)
	case at < 0: // a bare local part
		return a
	}
	return a[:at] + strings.ToLower(a[at:])
}

// has reports whether the set holds entry as it is.
func (s addrSet) has(entry string) bool { return s.entries[s.key(entry)] }

func (s addrSet) match(addr string) bool {
	if len(s.entries) == 0 {
		return false
	}
	a := s.key(addr)
	if s.entries[a] {
		return true
	}
	at := strings.LastIndexByte(a, '@')
	return at >= 0 && (s.entries[a[at:]] || s.entries[a[:at+1]])
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
	return at > 0 && e.blockedExcept.has(rcpt[:at]) && e.ourDomain(rcpt[at+1:])
}

// ourDomain reports whether mail to domain is ours: one of [milter]
// internal_domains, or [milter] hostname.
func (e *Engine) ourDomain(domain string) bool {
	m := &e.cfg.Milter
	return config.MatchDomain(m.InternalDomains, domain) ||
		m.Hostname != "" && strings.EqualFold(strings.TrimSuffix(domain, "."), strings.TrimSuffix(m.Hostname, "."))
}
