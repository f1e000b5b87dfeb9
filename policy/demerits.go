package policy

import (
	"fmt"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"

	"github.com/maxwell-milter/maxwell/store"
)

// Demerits per offence, as bms.py counted them.
const (
	demeritHeloBlacklist = 4 // a HELO naming us
	demeritHeloAfterMail = 2 // HELO again in the middle of a message
	demeritSPFReject     = 1 // mail the SPF policy rejected
	demeritSPFBan        = 3 // SPF policy BAN
	demeritUnknownUser   = 1 // a recipient check_user does not know
	demeritBlacklisted   = 2 // a sender on the local blacklist
)

// offence adds demerits to the connection ([milter] max_demerits); past
// the limit the client's IP is banned, in the store, so that every MX
// host sharing it refuses the client's later connections. Trusted relays
// and the submission port are never banned (bms.py's offense).
func (s *Session) offence(n int, why string) {
	s.demerits += n
	max := s.e.cfg.Milter.MaxDemerits
	if max == 0 || s.demerits <= max || s.banned || s.e.store == nil || !s.Conn.IP.IsValid() ||
		s.Class&Trusted != 0 || s.Conn.DaemonPort == "587" {
		return
	}
	now := s.e.now()
	err := s.e.store.Ban(s.ctx, store.Ban{Kind: store.BanIP, Key: s.Conn.IP.String(),
		Reason: fmt.Sprintf("%d demerits, last: %s", s.demerits, why), Created: now, Expires: now.Add(s.e.cfg.Milter.BanTime.D())})
	if err != nil {
		s.e.diag.Warn("cannot store the ban", "conn", s.ID, "ip", s.Conn.IP, "error", err)
		return
	}
	s.banned = true
	s.log("banned ip", "ip", s.Conn.IP, "demerits", s.demerits, "reason", why, "until", now.Add(s.e.cfg.Milter.BanTime.D()).UTC().Format(time.RFC3339))
	s.learnBan()
}

// checkBanned refuses a client whose IP is banned for demerits. bms.py
// delayed this rejection.
func checkBanned(s *Session) (*Decision, error) {
	b := s.ban(store.BanIP)
	if b == nil {
		return nil, nil
	}
	return delayable(reject(550, "5.7.1", "BANNED IP: "+b.Reason, "Banned for dictionary attacks")), nil
}

// checkBlacklisted answers a client that maxwell watch blacklisted for
// hanging up after greylisting ([watch] answer), at connect: until it
// has behaved for [watch] good_behaviour, it does not get as far as
// greylisting again.
func checkBlacklisted(s *Session) (*Decision, error) {
	if s.Class&Internal != 0 {
		return nil, nil // never greylisted, so never blacklisted by the watcher
	}
	b := s.ban(store.BanClient)
	if b == nil {
		return nil, nil
	}
	w := s.e.cfg.Watch
	d := tempfail(421, "4.7.0", "blacklisted: "+b.Reason, w.Text)
	if w.Answer == config.WatchReject {
		d = reject(550, "5.7.1", "blacklisted: "+b.Reason, w.Text)
	}
	d.Tag = "BLACKLIST"
	return d, nil
}

// ban returns the client's IP ban of a kind in force, nil if none. Trusted
// relays and the submission port (587) are never banned: users whose home
// address was banned can still send. Both kinds are read in one query,
// the first time either is asked for on the connection.
func (s *Session) ban(kind string) *store.Ban {
	if s.e.store == nil || !s.Conn.IP.IsValid() || s.Class&Trusted != 0 || s.Conn.DaemonPort == "587" {
		return nil
	}
	if !s.ipBansOK {
		s.ipBansOK = true
		bans, err := s.e.store.BansOn(s.ctx, s.Conn.IP.String(), s.e.now(), store.BanIP, store.BanClient)
		if err != nil {
			s.e.diag.Warn("cannot read the blacklist", "conn", s.ID, "error", err)
			return nil // the list is a convenience: mail goes on without it
		}
		s.ipBans = bans
	}
	for i := range s.ipBans {
		if s.ipBans[i].Kind == kind {
			return &s.ipBans[i]
		}
	}
	return nil
}
