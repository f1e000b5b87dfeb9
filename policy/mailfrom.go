package policy

import "github.com/maxwell-milter/maxwell/internal/config"

// checkMissingHelo refuses MAIL FROM from an external client that never
// said HELO: 503 5.5.1, a bad sequence of commands (RFC 5321 §4.1.4,
// RFC 3463).
func checkMissingHelo(s *Session) (*Decision, error) {
	if s.Class&Internal != 0 || s.Helo != "" {
		return nil, nil
	}
	c := s.e.codes
	return reject(c.missingHelo, c.missingHeloX, "missing HELO", "It's polite to say HELO first."), nil
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

// checkInternalDomains applies [milter] internal_domains to internal,
// unauthenticated clients: one using another domain is a zombie PC. (An
// external client using ours is judged with its SPF result.) Null and
// unqualified senders are not judged, as in bms.py.
func checkInternalDomains(s *Session) (*Decision, error) {
	domains := s.e.cfg.Milter.InternalDomains
	// An authenticated user, a trusted relay or the host itself is
	// trusted not to be a zombie.
	if len(domains) == 0 || s.Msg.Domain == "" || s.Class&Internal == 0 || s.Class&(Auth|Trusted|Local) != 0 {
		return nil, nil
	}
	if config.MatchDomain(domains, s.Msg.Domain) {
		return nil, nil
	}
	return reject(550, "5.7.1", "zombie PC at "+s.Conn.IP.String()+" sending MAIL FROM "+s.Msg.Info.Sender,
		"Your PC is using an unauthorized MAIL FROM.",
		"It is either badly misconfigured or controlled by organized crime."), nil
}
