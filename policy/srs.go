package policy

import (
	"slices"
	"strings"

	"github.com/maxwell-milter/maxwell/spf"
	"github.com/maxwell-milter/maxwell/srs"
)

// checkSignedBounce is bms.py's SRS and SES check of a bounce's
// recipient (null sender, or a banned_users local part) in one of our
// protected domains ([srs] fwdomain, ses, sign, srs): an address we
// signed or rewrote is let through, and spares the user list and
// greylisting; from outside, one that looks signed but is not is
// refused at once (call-back verifiers learn it at RCPT), and with
// [srs] reject_spoofed an unsigned one is refused too, at DATA for
// postmaster and abuse. Unlike bms.py, a recipient that looks signed
// but is not is refused whatever the sender: the MTA's reverse map
// would hand it on as it came.
func checkSignedBounce(s *Session) (*Decision, error) {
	site, m := s.e.srs, s.Msg
	rcpt := plainAddress(m.Rcpt)
	at := strings.LastIndexByte(rcpt, '@')
	if site == nil || m.rcptSigned || at < 0 || !site.Protected(rcpt[at+1:]) {
		return nil, nil
	}
	local := strings.TrimPrefix(rcpt[:at], `"`)
	if !m.IsBounce && !srs.IsSRS(local) && !srs.IsSES(local) {
		return nil, nil // mail to a plain address: not ours to judge here
	}
	orig, err := site.Reverse(rcpt)
	if err == nil {
		m.rcptSigned = true
		s.log("srs", "rcpt", m.Rcpt, "original", orig, "signed", signature(local))
		return nil, nil
	}
	if s.Class&(Internal|Trusted) != 0 {
		return nil, nil
	}
	switch {
	case srs.IsSRS(local):
		return reject(550, "5.7.1", "srs spoofed: "+m.Rcpt+" ("+err.Error()+")", "Invalid SRS signature"), nil
	case srs.IsSES(local):
		return reject(550, "5.7.1", "ses spoofed: "+m.Rcpt+" ("+err.Error()+")", "Invalid SES signature"), nil
	case !m.IsBounce || !s.e.cfg.SRS.RejectSpoofed:
		return nil, nil
	}
	d := s.forgedBounce()
	if u := strings.ToLower(local); u == "postmaster" || u == "abuse" {
		// Refused at DATA, as bms.py did: a call-back verifier may
		// still ask whether postmaster exists.
		s.log("delay", "tag", d.Tag, "reason", d.Reason, "stage", StageRcpt)
		m.pending = d
		return nil, nil
	}
	return d, nil
}

// checkRRSAlias takes mail to an RRS alias of ours (srs/rrs.go) from the
// forwarder it was made for — a client that passes SPF for that domain,
// or for "v=spf1 a mx" of it, as [spf] trusted_forwarder checks; from
// anyone else it is refused, as is an alias whose hash is not ours.
// When every recipient taken is such an alias, rrsRelease lets go at
// DATA of the SPF refusal of the MAIL FROM, which the forwarder did not
// rewrite.
func checkRRSAlias(s *Session) (*Decision, error) {
	site, m := s.e.srs, s.Msg
	rcpt := plainAddress(m.Rcpt)
	at := strings.LastIndexByte(rcpt, '@')
	if site == nil || at < 0 || !srs.IsRRS(strings.TrimPrefix(rcpt[:at], `"`)) || s.Class&(Internal|Trusted) != 0 {
		return nil, nil
	}
	fwd, orig, err := site.SRS.ReverseRRS(rcpt)
	if err != nil {
		return reject(550, "5.7.1", "rrs spoofed: "+m.Rcpt+" ("+err.Error()+")", "Invalid RRS alias"), nil
	}
	o := s.e.spfChecker.Check(s.ctx, spf.Query{IP: s.Conn.IP, Helo: fwd, Guess: spf.HeloGuessRecord})
	switch {
	case o.Result == spf.TempError:
		return tempfail(451, "4.4.3", "rrs alias for "+fwd+": SPF temperror: "+o.Problem,
			"Temporary DNS failure, try again later"), nil
	case o.Result != spf.Pass:
		return reject(550, "5.7.1", "rrs alias for "+fwd+" from "+s.Conn.IP.String(),
			"This address takes mail from "+fwd+" only"), nil
	}
	m.rcptSigned = true
	s.log("srs", "rcpt", m.Rcpt, "original", orig, "signed", "rrs", "forwarder", fwd)
	switch {
	case m.rrs.rcpts == 0:
		m.rrs.forwarder, m.rrs.check = fwd, o
	case m.rrs.forwarder != fwd:
		m.rrs.forwarder = "" // aliases of two forwarders: no SPF refusal goes
	}
	m.rrs.rcpts++
	return nil, nil
}

// rrsMessage is what checkRRSAlias found of a message's recipients.
type rrsMessage struct {
	rcpts     int         // RRS aliases taken
	forwarder string      // the forwarder they are all for; "" if several
	check     spf.Outcome // the client's SPF pass for it
}

// rrsRelease, at DATA, lets go of the SPF refusal of the MAIL FROM kept
// for DATA when every recipient taken is an RRS alias of one forwarder
// that sent it, and then runs the MAIL FROM checks that the refusal
// stopped (sender blacklist, null MX). The Received-SPF field then tells
// the forwarder's pass. A message with another recipient stays refused:
// an alias vouches for its own recipient only.
func (s *Session) rrsRelease() Decision {
	m := s.Msg
	if m.pending == nil || m.pending != m.spfRefusal || m.rrs.rcpts == 0 || m.rrs.rcpts != m.accepted || m.rrs.forwarder == "" {
		return Decision{Action: Continue}
	}
	s.log("cancel", "tag", m.pending.Tag, "reason", m.pending.Reason, "rrs", m.rrs.forwarder)
	m.pending = nil
	if v := m.SPF; v != nil {
		v.Report.Check, v.Report.Forwarder, v.Result = m.rrs.check, m.rrs.forwarder, spf.Pass
	}
	return s.runChecks(StageMail, s.e.checksAfter(StageMail, "spf"))
}

// plainAddress is a recipient as the MTA delivers it: without a source
// route (<@relay.example:user@domain>), its domain without a final dot.
func plainAddress(addr string) string {
	if strings.HasPrefix(addr, "@") {
		if colon := strings.IndexByte(addr, ':'); colon >= 0 {
			addr = addr[colon+1:]
		}
	}
	return strings.TrimSuffix(addr, ".")
}

// forgedBounce is bms.py's refusal of a bounce to an address we did
// not sign, in its words.
func (s *Session) forgedBounce() *Decision {
	if sender := s.Msg.Info.Sender; sender != "" {
		local, _, _ := strings.Cut(sender, "@")
		return reject(550, "5.7.1", "bogus DSN from "+sender,
			"I do not accept normal mail from "+local+".",
			"All such mail has turned out to be Delivery Status Notifications",
			"which failed to be marked as such.  Please send a real DSN if",
			"you need to.  Use another MAIL FROM if you need to send me mail.")
	}
	return reject(550, "5.7.1", "bounce with no SRS encoding to "+s.Msg.Rcpt,
		"I did not send you that message. Please consider implementing SPF",
		"(https://www.open-spf.org) to avoid bouncing mail to spoofed senders.",
		"Thank you.")
}

// signature names how an address of ours is signed, for the log.
func signature(local string) string {
	if srs.IsSES(local) {
		return "ses"
	}
	return "srs"
}

// signSender is the milter's part of SES: a message an internal client
// sends from an [srs] ses or sign domain to someone outside leaves with
// its envelope sender signed, so that a bounce to it can be told from
// backscatter (bms.py left this to pysrs's socket map; pysrs's own
// milter did it as maxwell does).
func signSender(s *Session) (*Decision, error) {
	site, m := s.e.srs, s.Msg
	if site == nil || m.IsBounce || m.Domain == "" || s.Class&Internal == 0 || !site.Signs(m.Domain) || !s.mailsOut() {
		return nil, nil
	}
	signed, how, err := site.Sign(m.Info.Sender)
	if err != nil {
		s.log("note", "reason", "sender not signed: "+err.Error(), "from", m.Info.Sender)
		return nil, nil
	}
	if how == srs.Unchanged {
		return nil, nil
	}
	s.AddEdit(Edit{Kind: ChangeSender, Name: signed})
	s.log("srs", "from", m.Info.Sender, "signed", string(how), "sender", signed)
	return nil, nil
}

// mailsOut reports whether a recipient of the message is outside our
// protected domains and not in [srs] nosrs.
func (s *Session) mailsOut() bool {
	for _, r := range s.Msg.Rcpts {
		at := strings.LastIndexByte(r, '@')
		if at < 0 {
			continue // unqualified: a local user
		}
		d := strings.ToLower(r[at+1:])
		if !s.e.srs.Protected(d) && !slices.Contains(s.e.srs.NoSRS, d) {
			return true
		}
	}
	return false
}
