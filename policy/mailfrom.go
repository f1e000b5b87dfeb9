package policy

import "github.com/maxwell-milter/maxwell/internal/config"

// checkMissingHelo refuses MAIL FROM from an external client that never
// said HELO.
func checkMissingHelo(s *Session) (*Decision, error) {
	if s.Class&Internal != 0 || s.Helo != "" {
		return nil, nil
	}
	return reject(550, "5.7.1", "missing HELO", "It's polite to say HELO first."), nil
}

// checkInternalMTA refuses a DSN (null sender, or a banned_users local
// part) from an internal IP that is not one of [milter] internal_mta: a PC
// that is not a mail server has no business sending DSNs.
func checkInternalMTA(s *Session) (*Decision, error) {
	mta := s.e.cfg.Milter.InternalMTA
	if len(mta) == 0 || !s.Msg.IsBounce || s.Class&Internal == 0 || s.Class&(Local|Auth) != 0 {
		return nil, nil
	}
	if config.MatchAny(mta, s.Conn.IP, s.PTR) {
		return nil, nil
	}
	return reject(550, "5.7.1", "pretend MTA at "+s.Conn.IP.String()+" sending MAIL FROM <"+s.Msg.Info.Sender+">",
		"Your PC is trying to send a DSN even though it is not an MTA.",
		"If you are running MS Outlook, it is broken.  If you want to",
		"send return receipts, use a more standards compliant email client."), nil
}

// checkInternalDomains applies [milter] internal_domains: an internal,
// unauthenticated client using another domain is a zombie PC; an external
// one using ours is a forgery. Null and unqualified senders are not
// judged, as in bms.py.
func checkInternalDomains(s *Session) (*Decision, error) {
	domains := s.e.cfg.Milter.InternalDomains
	if len(domains) == 0 || s.Msg.Domain == "" {
		return nil, nil
	}
	ours := false
	for _, d := range domains {
		if d.Match(s.Msg.Domain) {
			ours = true
			break
		}
	}
	switch {
	case s.Class&Internal != 0:
		// An authenticated user, a trusted relay or the host itself is
		// trusted not to be a zombie.
		if ours || s.Class&(Auth|Trusted|Local) != 0 {
			return nil, nil
		}
		return reject(550, "5.7.1", "zombie PC at "+s.Conn.IP.String()+" sending MAIL FROM "+s.Msg.Info.Sender,
			"Your PC is using an unauthorized MAIL FROM.",
			"It is either badly misconfigured or controlled by organized crime."), nil
	case ours && s.Class&Trusted == 0:
		return delayable(reject(550, "5.7.1", "spam from self: "+s.Msg.Domain, "I hate talking to myself!")), nil
	}
	return nil, nil
}
