package policy

import (
	"math/rand/v2"
	"strconv"
	"strings"

	msgauth "github.com/emersion/go-msgauth/dmarc"

	"github.com/maxwell-milter/maxwell/dkim"
	"github.com/maxwell-milter/maxwell/dmarc"
	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/dnsname"
	"github.com/maxwell-milter/maxwell/internal/resolver"
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
	domains, hidden := s.fromDomains()
	switch n := m.fromFields(); {
	case n == 0:
		// Nobody to impersonate: RFC 7489 §6.6.1 leaves it to local policy.
		return s.malformedFrom(dmarc.None, "no From: field", false), nil
	case n > 1:
		// Which one would the reader see? Checking one and showing the
		// other is the oldest way around DMARC (§6.6.1).
		return s.malformedFrom(dmarc.PermError, strconv.Itoa(n)+" From: fields", true), nil
	case len(domains) > maxFromDomains:
		return s.malformedFrom(dmarc.PermError, strconv.Itoa(len(domains))+" From: domains", true), nil
	case hidden:
		// An address maxwell cannot read is one whose domain the
		// reader's program may well show.
		return s.malformedFrom(dmarc.PermError, "a From: address that cannot be read", true), nil
	}
	// DMARC's lookups have a budget of their own: a sender must not be
	// able to spend the message's (an SPF record of many lookups) and
	// get a temperror delivered in place of a failure.
	ctx := resolver.WithBudget(s.base, resolver.NewBudget(2*max(len(domains), 1)))
	ids := s.dmarcIdentifiers()
	v := s.e.dmarc.Check(ctx, domains, ids)
	m.dmarc = &v
	if v.BadFrom {
		return s.malformedFrom(dmarc.PermError, v.Reason+": "+v.From, true), nil
	}
	disposition, override := s.dmarcDisposition(v, ids)
	s.logDMARC(v, ids, disposition, override)
	if disposition != dmarc.PolicyNone && s.authUnknown() || v.Result == dmarc.TempError {
		// What the policy asks, or whether the message passes, cannot
		// be known now: the sender retries (as for any DNS failure).
		return tempfail(451, "4.4.3", "DMARC: temporary failure of "+v.From, "Temporary DNS failure, try again later"), nil
	}
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

// maxFromDomains bounds the domains of a From: field checked; a field
// with more is malformed (each costs up to two lookups).
const maxFromDomains = 10

// malformedFrom logs a message whose From: DMARC cannot judge, and,
// when it is refused by [dmarc] malformed_from, answers 550 5.7.1.
func (s *Session) malformedFrom(result dmarc.Result, reason string, refuse bool) *Decision {
	v := dmarc.Verdict{Result: result, Reason: reason}
	s.Msg.dmarc = &v
	s.log("dmarc", "result", v.Result, "reason", v.Reason, "ip", s.Conn.IP)
	if refuse && s.e.cfg.DMARC.MalformedFrom == config.MalformedFromReject {
		return reject(550, "5.7.1", "DMARC: "+reason, "A message must have exactly one From: field (RFC 5322) with an address that can be read")
	}
	return nil
}

// authUnknown reports whether SPF or a DKIM signature could not be
// checked for a temporary reason: a failure may then be a pass.
func (s *Session) authUnknown() bool {
	m := s.Msg
	if m.SPF != nil && m.SPF.Report.Check.Official() == spf.TempError {
		return true
	}
	for _, r := range m.dkim.results {
		if r.Status == dkim.TempError {
			return true
		}
	}
	return false
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
	if r := m.SPF; r != nil {
		// The pass counts for the identity it was for, not one that a
		// trusted forwarder passed for.
		want := spf.MailFrom
		if m.Info.Sender == "" {
			want = spf.Helo
		}
		ids.SPFPass = r.Report.Check.Official() == spf.Pass && r.Report.Check.Identity == want && r.Report.Forwarder == ""
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
func (s *Session) dmarcDisposition(v dmarc.Verdict, ids dmarc.Identifiers) (dmarc.Policy, string) {
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
	case s.listExempt(ids):
		return dmarc.PolicyNone, "mailing_list"
	}
	action := cfg.OnReject
	if v.Policy == dmarc.PolicyQuarantine {
		action = cfg.OnQuarantine
	}
	disposition := dmarc.PolicyNone
	switch action {
	case config.DMARCRefuse:
		disposition = dmarc.PolicyReject
	case config.DMARCQuarantine:
		disposition = dmarc.PolicyQuarantine
	}
	if disposition != v.Policy {
		override = "local_policy" // [dmarc] on_reject, on_quarantine
	}
	return disposition, override
}

// listExempt reports whether the message comes from a mailing list of
// [dmarc] list_ids, by its List-Id field (RFC 2919: "name <id>"), and
// the list vouches for it: SPF passed for its MAIL FROM, or a DKIM
// signature passed, of the organizational domain of the list's id.
// Anyone can write a List-Id field.
func (s *Session) listExempt(ids dmarc.Identifiers) bool {
	for _, h := range s.Msg.header {
		if !strings.EqualFold(h.Name, "List-Id") {
			continue
		}
		id := h.Value
		if i := strings.LastIndexByte(id, '<'); i >= 0 {
			id = id[i+1:]
		}
		id = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(id), ">"))
		if !s.e.cfg.DMARC.ListExempt(id) {
			continue
		}
		if ids.SPFPass && dmarc.Aligned(ids.SPFDomain, id, msgauth.AlignmentRelaxed) {
			return true
		}
		for _, d := range ids.DKIM {
			if dmarc.Aligned(d, id, msgauth.AlignmentRelaxed) {
				return true
			}
		}
	}
	return false
}

// logDMARC writes the dmarc line of the mail log: what `maxwell report
// --dmarc-aggregate` builds its reports from.
func (s *Session) logDMARC(v dmarc.Verdict, ids dmarc.Identifiers, disposition dmarc.Policy, override string) {
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
		// A signature without a domain and selector that can be read
		// says nothing a report could carry.
		if dnsname.Valid(r.Domain) && dnsname.Valid(r.Selector) {
			sigs = append(sigs, r.Domain+"/"+r.Selector+":"+string(r.Status))
		}
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
