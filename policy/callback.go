package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/maxwell-milter/maxwell/callback"
	"github.com/maxwell-milter/maxwell/spf"
	"github.com/maxwell-milter/maxwell/store"
	"github.com/maxwell-milter/maxwell/templates"
)

// EnableCallbacks lets the engine make the call-backs the SPF policy asks
// for (CBV, DSN): connections to the senders' mail servers. Offline
// engines (maxwell check, maxwell spf) leave them off and only report
// them. Call it before sessions start.
func (e *Engine) EnableCallbacks() { e.callbacks = true }

// checkCallback makes the call-back the SPF policy asked for at MAIL
// FROM, now that the message is complete (bms.py did it at the end of
// the message too): CBV asks the sender's mail server whether it would
// take a DSN for the sender; DSN sends one, explaining why. The answer
// decides: taken → accept; refused → 550; a null MX (RFC 7505) → 550
// 5.7.27; no answer → 450; a call-back not made (limits, unreachable
// servers) → a 4xx saying so. Answers are
// cached in the store, so a sender is asked (and sent a DSN) at most once
// per cache period.
func checkCallback(s *Session) (*Decision, error) {
	cb := s.Msg.callback
	if cb == nil || !s.e.callbacks {
		return nil, nil
	}
	now := s.e.now()
	if s.e.store != nil {
		r, err := s.e.store.CBV(s.ctx, cb.Sender, now)
		switch {
		case err != nil: // no cache: ask anyway
			s.e.diag.Warn("CBV cache unavailable", "conn", s.ID, "error", err)
		case r != nil:
			s.log("cbv", "tag", "CBV", "status", "cached", "sender", cb.Sender, "code", r.Code, "text", r.Text)
			s.Msg.rep.cbvRefuse = r.Code >= 500
			return callbackAnswer(cb, callback.Outcome{Code: r.Code, Text: r.Text}), nil
		}
	}
	var dsn []byte
	if cb.Policy == spf.DSN {
		var err error
		if dsn, err = s.e.templates.DSN(cb.Template, s.dsnFields(cb), now); err != nil {
			return nil, err
		}
	}
	o := s.e.verifier.Verify(s.ctx, s.hostname(), cb.Sender, dsn, now)
	kv := []any{"tag", "CBV", "status", outcomeStatus(o), "policy", cb.Policy, "sender", cb.Sender}
	if o.Host != "" {
		kv = append(kv, "mx", o.Host)
	}
	if o.Code != 0 {
		kv = append(kv, "code", o.Code, "text", o.Text)
	}
	if o.Sender != "" {
		kv = append(kv, "from", o.Sender)
	}
	if o.Err != nil {
		kv = append(kv, "error", o.Err)
	}
	s.log("cbv", kv...)
	s.Msg.rep.cbvRefuse = o.Permanent() || o.Fraud
	if s.e.store != nil && o.Err == nil && (o.Accepted() || o.Permanent() || o.Fraud) {
		r := store.CBVResult{Sender: cb.Sender, Code: o.Code, Text: o.Text, Checked: now, Expires: now.Add(s.e.cfg.CBV.PositiveTTL.D())}
		if !o.Accepted() {
			r.Expires = now.Add(s.e.cfg.CBV.NegativeTTL.D())
		}
		if o.Fraud {
			r.Code, r.Text = 553, "Fraudulent MX for "+senderDomain(cb.Sender)
		}
		if err := s.e.store.PutCBV(s.ctx, r); err != nil {
			s.e.diag.Warn("CBV cache unavailable", "conn", s.ID, "error", err)
		}
	}
	if d := s.e.codes.nullMXAnswer(o, cb.Sender); d != nil {
		return d, nil
	}
	return callbackAnswer(cb, o), nil
}

// notMade are the call-backs that were not made, by why: the status the
// log gives them and what the client is told (DOMAIN: the sender's).
var notMade = []struct {
	err         error
	status      string
	code        int
	xcode, text string
}{
	{callback.ErrRateLimited, "limited", 451, "4.7.1", "Cannot verify the sender now: too many call-backs, try again later"},
	{callback.ErrNonPublicMX, "private", 450, "4.1.8", "The mail servers of DOMAIN are not reachable from the Internet"},
	{callback.ErrBadSender, "invalid", 450, "4.1.7", "The sender address cannot be verified"},
}

// outcomeStatus names an outcome in the log.
func outcomeStatus(o callback.Outcome) string {
	switch {
	case o.Fraud:
		return "fraud"
	case o.Accepted():
		return "accepted"
	case o.Permanent():
		return "refused"
	case errors.Is(o.Err, callback.ErrNullMX):
		return "nullmx"
	}
	for _, n := range notMade {
		if errors.Is(o.Err, n.err) {
			return n.status
		}
	}
	return "tempfail"
}

// callbackAnswer is the decision a call-back's outcome calls for.
func callbackAnswer(cb *Callback, o callback.Outcome) *Decision {
	switch {
	case o.Fraud:
		return reject(553, "5.7.1", "CBV: fraudulent MX "+o.Host, "Fraudulent MX for "+senderDomain(cb.Sender))
	case o.Accepted():
		return nil
	case o.Permanent():
		return reject(550, "5.7.1", fmt.Sprintf("CBV: %d %s", o.Code, o.Text), o.Text)
	}
	for _, n := range notMade {
		if errors.Is(o.Err, n.err) {
			return tempfail(n.code, n.xcode, "CBV not made: "+o.Err.Error(), strings.ReplaceAll(n.text, "DOMAIN", senderDomain(cb.Sender)))
		}
	}
	why := o.Text
	switch {
	case errors.Is(o.Err, callback.ErrNoMX):
		why = "No MX servers available"
	case o.Err != nil:
		why = "no answer from the mail servers of " + senderDomain(cb.Sender)
	case o.Code != 0:
		why = fmt.Sprintf("%d %s", o.Code, o.Text)
	}
	reason := "CBV: " + why
	if o.Err != nil {
		reason += " (" + o.Err.Error() + ")"
	}
	return tempfail(450, "4.2.0", reason, why)
}

// dsnFields are what a DSN template may say about the message.
func (s *Session) dsnFields(cb *Callback) templates.Fields {
	m := s.Msg
	f := templates.Fields{
		Sender: cb.Sender, Receiver: s.hostname(), IP: s.Conn.IP.String(), Helo: s.Helo,
		Domain: senderDomain(cb.Sender), Recipients: strings.Join(m.Rcpts, ", "),
	}
	if len(m.Subjects) > 0 {
		f.Subject = m.Subjects[0]
	}
	if v := m.SPF; v != nil {
		f.Result, f.PermError = string(v.Result), v.Report.Check.Problem
		for _, h := range v.Headers([]string{"received-spf"}) {
			f.SPFHeader = h.Name + ": " + h.Value
		}
	}
	return f
}

func senderDomain(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		return addr[at+1:]
	}
	return addr
}
