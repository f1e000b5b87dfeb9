package policy

import (
	"math/rand/v2"
	"strconv"
	"strings"

	msgauth "github.com/emersion/go-msgauth/dmarc"

	"github.com/maxwell-milter/maxwell/dkim"
	"github.com/maxwell-milter/maxwell/dmarc"
	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/spf"
)

// newDMARC is the engine's DMARC checker: policies fetched through its
// resolver, pct= drawn at random.
func (e *Engine) newDMARC() *dmarc.Checker {
	return &dmarc.Checker{Lookup: e.lookupTXT, Percent: func() int { return rand.IntN(100) }}
}

// checkDMARC, at end of message and after the DKIM verdicts, evaluates
// the DMARC policy of the From: domain of mail from outside and does
// what [dmarc] says with a message that fails it: refuse it, have the
// MTA quarantine it, or only report it. Mailing lists and trusted
// forwarders named in [dmarc] are spared, as are messages pct= leaves
// out.
func checkDMARC(s *Session) (*Decision, error) {
	m, cfg := s.Msg, &s.e.cfg.DMARC
	if !cfg.Enabled || !s.external() {
		return nil, nil
	}
	switch n := m.fromFields(); {
	case n == 0:
		// Nobody to impersonate: RFC 7489 §6.6.1 leaves it to local policy.
		v := dmarc.Verdict{Result: dmarc.None, Reason: "no From: field"}
		m.dmarc = &v
		s.log("dmarc", "result", v.Result, "reason", v.Reason, "ip", s.Conn.IP)
		return nil, nil
	case n > 1:
		// Which one would the reader see? Checking one and showing the
		// other is the oldest way around DMARC (§6.6.1).
		v := dmarc.Verdict{Result: dmarc.PermError, Reason: strconv.Itoa(n) + " From: fields"}
		m.dmarc = &v
		s.log("dmarc", "result", v.Result, "reason", v.Reason, "ip", s.Conn.IP)
		if cfg.MalformedFrom == config.MalformedFromReject {
			return reject(550, "5.7.1", "DMARC: "+v.Reason, "A message must have exactly one From: field (RFC 5322)"), nil
		}
		return nil, nil
	}
	v := s.e.dmarc.Check(s.ctx, s.fromDomains(), s.dmarcIdentifiers())
	m.dmarc = &v
	disposition, override := s.dmarcDisposition(v)
	s.logDMARC(v, disposition, override)
	switch disposition {
	case dmarc.PolicyReject:
		text := strings.ReplaceAll(cfg.RejectText, "{domain}", v.From)
		return reject(550, "5.7.1", "DMARC policy "+string(v.Policy)+" of "+v.From, text), nil
	case dmarc.PolicyQuarantine:
		m.hold = &Decision{Action: Quarantine, Tag: "QUARANTINE", Reason: "DMARC policy " + string(v.Policy) + " of " + v.From,
			Text: []string{"DMARC policy of " + v.From}}
	}
	return nil, nil
}

// dmarcIdentifiers are what SPF and DKIM authenticated of the message:
// the MAIL FROM domain (the HELO name for the null sender) if SPF
// passed for it, and the domains of the signatures that passed.
func (s *Session) dmarcIdentifiers() dmarc.Identifiers {
	m := s.Msg
	ids := dmarc.Identifiers{SPFDomain: m.Domain}
	if m.Info.Sender == "" {
		ids.SPFDomain = strings.ToLower(s.Helo)
	}
	if m.SPF != nil {
		ids.SPFPass = m.SPF.Report.Check.Official() == spf.Pass
	}
	for _, r := range m.dkim.results {
		if r.Status == dkim.Pass {
			ids.DKIM = append(ids.DKIM, r.Domain)
		}
	}
	return ids
}

// dmarcDisposition is what maxwell does with a message given its
// verdict (RFC 7489's DispositionType) and, when that is less than the
// policy asks, why (its PolicyOverrideType).
func (s *Session) dmarcDisposition(v dmarc.Verdict) (dmarc.Policy, string) {
	cfg := &s.e.cfg.DMARC
	if v.Result != dmarc.Fail {
		return dmarc.PolicyNone, ""
	}
	override := ""
	if !v.Sampled {
		override = "sampled_out"
	}
	if v.Policy == dmarc.PolicyNone {
		return dmarc.PolicyNone, override
	}
	switch {
	case config.MatchAny(cfg.TrustedForwarders, s.Conn.IP, s.PTR):
		return dmarc.PolicyNone, "trusted_forwarder"
	case s.listExempt():
		return dmarc.PolicyNone, "mailing_list"
	}
	action := cfg.OnReject
	if v.Policy == dmarc.PolicyQuarantine {
		action = cfg.OnQuarantine
	}
	switch action {
	case config.DMARCRefuse:
		return dmarc.PolicyReject, override
	case config.DMARCQuarantine:
		return dmarc.PolicyQuarantine, override
	}
	return dmarc.PolicyNone, "local_policy"
}

// listExempt reports whether the message comes from a mailing list of
// [dmarc] list_ids, by its List-Id field (RFC 2919: "name <id>").
func (s *Session) listExempt() bool {
	for _, h := range s.Msg.header {
		if !strings.EqualFold(h.Name, "List-Id") {
			continue
		}
		id := h.Value
		if i := strings.LastIndexByte(id, '<'); i >= 0 {
			id = id[i+1:]
		}
		id = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(id), ">"))
		if s.e.cfg.DMARC.ListExempt(id) {
			return true
		}
	}
	return false
}

// logDMARC writes the dmarc line of the mail log: what `maxwell report
// --dmarc-aggregate` builds its reports from.
func (s *Session) logDMARC(v dmarc.Verdict, disposition dmarc.Policy, override string) {
	m := s.Msg
	kv := []any{"result", v.Result, "from", v.From}
	if r := v.Record; r != nil {
		pct := 100
		if r.Percent != nil {
			pct = *r.Percent
		}
		kv = append(kv, "policy_domain", v.PolicyDomain, "p", string(r.Policy), "sp", string(r.SubdomainPolicy),
			"pct", pct, "adkim", string(r.DKIMAlignment), "aspf", string(r.SPFAlignment), "fo", failureOptions(r.FailureOptions),
			"policy", v.Policy, "disposition", disposition)
		if override == "" {
			override = "none"
		}
		kv = append(kv, "override", override)
	}
	ids := s.dmarcIdentifiers()
	spfResult := "none"
	if m.SPF != nil {
		spfResult = string(m.SPF.Report.Check.Official())
	}
	aligned := v.DKIMAligned
	if aligned == "" {
		aligned = "none"
	}
	var sigs []string
	for _, r := range m.dkim.results {
		sigs = append(sigs, r.Domain+"/"+r.Selector+":"+string(r.Status))
	}
	scope := "mfrom"
	if m.Info.Sender == "" {
		scope = "helo"
	}
	kv = append(kv, "ip", s.Conn.IP, "mailfrom", ids.SPFDomain, "spf", spfResult, "spf_scope", scope, "spf_aligned", v.SPFAligned,
		"dkim_aligned", aligned, "dkim", strings.Join(sigs, " "))
	if qid := m.Info.QueueID; qid != "" {
		kv = append(kv, "qid", qid)
	}
	if v.Reason != "" && v.Result != dmarc.Fail {
		kv = append(kv, "reason", v.Reason)
	}
	s.log("dmarc", kv...)
}

// failureOptions renders fo= as published ("0" when absent), for the
// aggregate reports' policy_published.
func failureOptions(fo msgauth.FailureOptions) string {
	var opts []string
	for _, o := range []struct {
		bit  msgauth.FailureOptions
		name string
	}{{msgauth.FailureAll, "0"}, {msgauth.FailureAny, "1"}, {msgauth.FailureDKIM, "d"}, {msgauth.FailureSPF, "s"}} {
		if fo&o.bit != 0 {
			opts = append(opts, o.name)
		}
	}
	if len(opts) == 0 {
		return "0"
	}
	return strings.Join(opts, ":")
}

// dmarcPart is the DMARC result of Authentication-Results (RFC 7489
// §11.2), the policy and disposition in a comment as others write them.
func (m *Message) dmarcPart() []string {
	v := m.dmarc
	if v == nil {
		return nil
	}
	p := "dmarc=" + string(v.Result)
	if v.Record != nil {
		p += " (p=" + string(v.Record.Policy) + ")"
	}
	if v.From != "" {
		p += " header.from=" + spf.ARValue(v.From)
	}
	return []string{p}
}
