package policy

import (
	"net/url"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/spf"
)

// Callback is a call-back verification a message still needs before it
// may be accepted: SPF policy CBV or DSN (bms.py's cbv_needed). The
// accepting Decision carries it.
type Callback struct {
	Policy   spf.Policy // spf.CBV or spf.DSN
	Sender   string     // the address to verify
	Template string     // why, naming the DSN template: "softfail", "strike3", ...
}

// SPFVerdict is what the SPF policy made of a message.
type SPFVerdict struct {
	Report spf.Report // the checks, as the headers tell them
	Result spf.Result // the result the policy went by: the official one, the best guess, or pass for a trusted forwarder
	Policy spf.Policy // the policy applied; "" when none was called for
}

// checkSPF is bms.py's SPF policy, run at MAIL FROM for external clients
// that are neither trusted nor authenticated: the MAIL FROM and HELO
// checks, best guess, "three strikes", and the policy each result calls
// for. Messages it lets through get Received-SPF and
// Authentication-Results at the end (addSPFHeaders).
func checkSPF(s *Session) (*Decision, error) {
	if s.Class&(Internal|Trusted) != 0 || !s.Conn.IP.IsValid() {
		return nil, nil
	}
	j := spfJudgement{s: s, m: s.Msg, v: &SPFVerdict{Report: spf.Report{
		Receiver: s.hostname(), IP: s.Conn.IP, Helo: s.Helo, Sender: s.Msg.Info.Sender,
		PTR: s.PTR, IPRev: s.iprev(),
	}}}
	s.Msg.SPF = j.v
	d := j.judge()
	s.Msg.spfRefusal = d
	j.log(d)
	switch {
	case j.v.Policy == spf.Ban:
		s.offence(demeritSPFBan, "SPF policy BAN")
	case d != nil && d.Action == Reject:
		s.offence(demeritSPFReject, d.Reason)
	}
	return d, nil
}

// spfJudgement is the state of one message's SPF policy.
type spfJudgement struct {
	s *Session
	m *Message
	v *SPFVerdict // filled in as the checks go
}

func (j *spfJudgement) judge() *Decision {
	s, m, e := j.s, j.m, j.s.e
	checker, cfg := e.spfChecker, &e.cfg.SPF
	q := spf.Query{IP: s.Conn.IP, Helo: s.Helo, Sender: m.Info.Sender, PTR: s.PTRNames}
	if cfg.BestGuess {
		q.Guess = spf.GuessRecord
		if s.Class&Dyn != 0 {
			q.Guess = spf.GuessRecordNoPTR
		}
	}
	for _, fwd := range cfg.TrustedForwarder {
		o := checker.Check(s.ctx, spf.Query{IP: s.Conn.IP, Helo: fwd, Guess: spf.HeloGuessRecord})
		if o.Result == spf.Pass { // the MAIL FROM is not ours to judge
			j.v.Report.Check, j.v.Report.Forwarder, j.v.Result = o, fwd, spf.Pass
			return j.applyResult()
		}
	}
	j.v.Report.Check = checker.Check(s.ctx, q)
	o := j.v.Report.Check
	official := o.Official()
	j.v.Result = official

	if official == spf.TempError {
		if d := j.apply(e.spfPolicies.MailFrom(spf.TempError, o.Sender), "temperror", tempfail(451, e.codes.spfTempError,
			"SPF temperror: "+o.Problem,
			"We cannot accept your email until the DNS server for "+o.Domain,
			"answers our queries for its SPF record.")); d != nil {
			return delayable(d)
		}
		official, j.v.Result = spf.None, spf.None // the policy said to go on: as if there were no record
	}

	if j.v.Result != spf.Pass {
		heloRes := j.v.Result // what the HELO counts as below: with its best guess
		if m.Info.Sender != "" {
			d, res := j.checkHelo()
			if d != nil {
				return d
			}
			heloRes = res
		}
		if official == spf.None && config.MatchDomain(s.e.cfg.Milter.InternalDomains, m.Domain) {
			return delayable(reject(550, "5.7.1", "spam from self: "+m.Domain, "I hate talking to myself!"))
		}
		if official == spf.None && o.Guessed {
			j.v.Result = o.Result
			if j.v.Result != spf.Pass && heloRes == spf.Pass && domainMatch(s.Helo, m.Domain) {
				j.v.Result = spf.Pass // a valid HELO within the sender's domain
			}
			if j.v.Result != official {
				j.v.Report.BestGuess = j.v.Result
			}
		}
		if official == spf.None && j.v.Result != spf.Pass {
			if d := j.strikes(heloRes); d != nil {
				j.v.Result = spf.None
				return j.apply(e.spfPolicies.MailFrom(spf.None, o.Sender), "strike3", d)
			}
		}
	}
	return j.applyResult()
}

// strikes is bms.py's "three strikes" for a sender without SPF pass: a
// client with no valid PTR name whose HELO name is not valid either is
// refused. A DNS blocklist listing at [dnsbl] strike_score counts as a
// strike too, so that a listed client is refused for two of the three.
func (j *spfJudgement) strikes(heloRes spf.Result) *Decision {
	s, domain := j.s, j.v.Report.Check.Domain
	dyn, listed := s.Class&Dyn != 0, s.dnsblReached(s.e.cfg.DNSBL.StrikeScore)
	if !dyn && !listed {
		return nil
	}
	badHelo := !(dyn && listed) && heloRes != spf.Pass && !j.heloNearClient()
	var reason, first string
	switch {
	case dyn && badHelo:
		reason, first = "no PTR, HELO or SPF", "Your mail server has no valid PTR name, its HELO name is not"
	case dyn && listed:
		reason, first = "DNSBL listed, no PTR or SPF", "Your mail server is on a DNS blocklist, it has no valid PTR name,"
	case listed && badHelo:
		reason, first = "DNSBL listed, no HELO or SPF", "Your mail server is on a DNS blocklist, its HELO name is not"
	default:
		return nil
	}
	// Without a valid PTR or HELO the rest would not have been asked
	// for: a reverse DNS validation that failed (RFC 7372).
	return delayable(reject(550, s.e.codes.reverseDNS, reason, first,
		"validated and "+domain+" publishes no SPF record for it:",
		"nothing tells us that "+s.Conn.IP.String()+" may send mail for "+domain+"."))
}

// checkHelo checks the HELO name (RFC 7208 §2.3) when the MAIL FROM did
// not pass: a HELO that its own record disowns is refused, as an SPF
// validation that failed (5.7.23, RFC 7372): RFC 7208 §2.3 makes the
// HELO an SPF identity like the MAIL FROM. It returns the result the
// rest of the policy counts the HELO by, the best guess for a HELO
// without a record; the report gets the official result, and the guess
// apart.
func (j *spfJudgement) checkHelo() (*Decision, spf.Result) {
	s, e := j.s, j.s.e
	q := spf.Query{IP: s.Conn.IP, Helo: s.Helo}
	// A dynamic HELO name gets no guess, or zombies would pass as their
	// ISP's customers.
	if e.cfg.SPF.BestGuess && !isDynamic(s.Helo, s.Conn.IP) {
		q.Guess = spf.HeloGuessRecord
	}
	helo := e.spfChecker.Check(s.ctx, q)
	res := helo.Official()
	j.v.Report.HeloResult = res
	if helo.Result != res {
		j.v.Report.HeloGuess = helo.Result
	}
	return j.apply(e.spfPolicies.Helo(res, s.Helo), "heloerror", delayable(reject(550, e.codes.heloCode(res),
		"hello SPF: "+string(res),
		"hello SPF "+string(res)+": "+s.Helo+" does not designate "+s.Conn.IP.String(),
		"The hostname given in your MTA's HELO response is not listed",
		"as a legitimate MTA in the SPF records for your domain.  If you",
		"get this bounce, the message was not in fact a forgery, and you",
		"should IMMEDIATELY notify your email administrator of the problem."))), helo.Result
}

// heloNearClient reports whether the HELO name's addresses or MX hosts
// are within the client's /24: enough, for the three strikes, to count
// the HELO as valid. Dynamic-looking HELO names do not count.
func (j *spfJudgement) heloNearClient() bool {
	s := j.s
	if isDynamic(s.Helo, s.Conn.IP) {
		return false
	}
	o := s.e.spfChecker.Check(s.ctx, spf.Query{IP: s.Conn.IP, Helo: s.Helo, Record: spf.GuessRecordNoPTR})
	return o.Result == spf.Pass
}

// applyResult applies the policy for the MAIL FROM result. The
// refusals of fail, softfail and neutral are SPF validations that failed
// (5.7.23, RFC 7372): softfail and neutral are refused only where the
// local policy asks for a pass, and the reply says so. A permerror is
// 5.7.24 and names what was wrong. A pass refused by the access map is
// no SPF failure: 5.7.1.
func (j *spfJudgement) applyResult() *Decision {
	s, o, c := j.s, j.v.Report.Check, j.s.e.codes
	pol := s.e.spfPolicies.MailFrom(j.v.Result, o.Sender)
	ip, domain := s.Conn.IP.String(), o.Domain
	switch j.v.Result {
	case spf.Fail:
		text := []string{"SPF fail: " + domain + " does not designate " + ip + " as a permitted sender"}
		if why := s.whyURL(o.Sender); why != "" {
			text = append(text, "see "+why)
		}
		return j.apply(pol, "fail", delayable(reject(550, c.spfFail, "SPF fail: "+o.Mechanism, text...)))
	case spf.SoftFail:
		return j.apply(pol, "softfail", delayable(reject(550, c.spfFail, "SPF softfail: "+o.Mechanism,
			"SPF softfail: If you get this Delivery Status Notice, your email",
			"was probably legitimate.  Your administrator has published SPF",
			"records in a testing mode.  The SPF record reported your email as",
			"a forgery, which is a mistake if you are reading this.  Please",
			"notify your administrator of the problem immediately.")))
	case spf.Neutral:
		return j.apply(pol, "neutral", delayable(reject(550, c.spfFail, "SPF neutral for "+o.Sender,
			"mail from "+domain+" must pass SPF",
			"The "+domain+" domain is one that spammers love to forge.  Due to",
			"the volume of forged mail, we can only accept mail that",
			"the SPF record for "+domain+" explicitly designates as legitimate.",
			"Sending your email through the recommended outgoing SMTP",
			"servers for "+domain+" should accomplish this.")))
	case spf.PermError:
		return j.apply(pol, "permerror", delayable(reject(550, c.spfError, "SPF permerror: "+o.Problem,
			"SPF permerror: "+shorten(o.Problem),
			"There is an error in the SPF record for "+domain,
			"We cannot accept mail from "+domain+" until this is corrected.")))
	case spf.Pass:
		return j.apply(pol, "pass", reject(550, "5.7.1", "SPF pass for "+o.Sender,
			"We don't accept mail from "+domain,
			"Your email from "+domain+" comes from an authorized server, however",
			"we still don't want it - we just don't like "+domain+"."))
	}
	return nil
}

// apply carries out a policy, as bms.py's need_cbv did: OK goes on, CBV
// and DSN note a call-back for the end of the message, WHITELIST marks
// the message, and REJECT, BAN and TEMPFAIL refuse it with refusal
// (TEMPFAIL turns a rejection into 451).
func (j *spfJudgement) apply(pol spf.Policy, template string, refusal *Decision) *Decision {
	j.v.Policy = pol
	switch pol {
	case spf.OK:
		return nil
	case spf.CBV, spf.DSN:
		if j.m.Info.Sender != "" && j.m.callback == nil {
			j.m.callback = &Callback{Policy: pol, Sender: j.v.Report.Check.Sender, Template: template}
		}
		return nil
	case spf.Whitelist:
		j.m.Whitelisted = true
		return nil
	case spf.Tempfail:
		if refusal.Action == Reject {
			t := tempfail(451, "4."+refusal.XCode[2:], refusal.Reason, refusal.Text...)
			t.Delayable = refusal.Delayable
			return t
		}
	}
	return refusal
}

// log writes the spf line of the mail log, and the pending call-back.
func (j *spfJudgement) log(d *Decision) {
	o, r := j.v.Report.Check, &j.v.Report
	kv := []any{"result", o.Official(), "identity", o.Identity, "domain", o.Domain}
	if r.BestGuess != "" {
		kv = append(kv, "guess", r.BestGuess)
	}
	switch {
	case o.Problem != "":
		kv = append(kv, "problem", o.Problem)
	case o.Mechanism != "" && !o.Guessed:
		kv = append(kv, "mechanism", o.Mechanism)
	}
	if o.Delegated {
		kv = append(kv, "delegated", true)
	}
	if r.HeloResult != "" {
		kv = append(kv, "helo_result", r.HeloResult)
	}
	if r.HeloGuess != "" {
		kv = append(kv, "helo_guess", r.HeloGuess)
	}
	if r.Forwarder != "" {
		kv = append(kv, "tag", "TRUSTED_FORWARDER", "forwarder", r.Forwarder)
	}
	if j.v.Policy != "" {
		kv = append(kv, "policy", j.v.Policy)
	}
	j.s.log("spf", kv...)
	if cb := j.m.callback; cb != nil && d == nil {
		j.s.log("cbv", "tag", "CBV", "status", "pending", "policy", cb.Policy, "sender", cb.Sender, "template", cb.Template)
	}
}

// addAuthHeaders inserts Received-SPF (when SPF was checked) and one
// Authentication-Results field with the SPF, DKIM and DMARC results, as
// [spf] headers names them, into messages that reached the end:
// rendered only for mail that is accepted.
func addAuthHeaders(s *Session) (*Decision, error) {
	m := s.Msg
	for _, n := range s.e.cfg.SPF.Headers {
		switch n {
		case config.HeaderReceivedSPF:
			if m.SPF != nil {
				s.AddEdit(Edit{Kind: InsertHeader, Name: "Received-SPF", Value: m.SPF.Report.ReceivedSPF()})
			}
		case config.HeaderAuthResults:
			var parts []string
			if m.SPF != nil {
				parts = m.SPF.Report.AuthResultParts()
			}
			parts = append(append(parts, m.dkimParts()...), m.dmarcPart()...)
			if len(parts) > 0 {
				s.AddEdit(Edit{Kind: InsertHeader, Name: "Authentication-Results", Value: spf.AuthResults(s.hostname(), parts)})
			}
		}
	}
	return nil, nil
}

// Headers renders the fields [spf] headers names, in its order.
func (v *SPFVerdict) Headers(names []string) []Header {
	var hs []Header
	for _, n := range names {
		switch n {
		case config.HeaderReceivedSPF:
			hs = append(hs, Header{Name: "Received-SPF", Value: v.Report.ReceivedSPF()})
		case config.HeaderAuthResults:
			hs = append(hs, Header{Name: "Authentication-Results", Value: v.Report.AuthenticationResults()})
		}
	}
	return hs
}

// whyURL fills in [spf] why_url for sender.
func (s *Session) whyURL(sender string) string {
	return strings.NewReplacer(
		"{sender}", url.QueryEscape(sender),
		"{ip}", url.QueryEscape(s.Conn.IP.String()),
		"{receiver}", url.QueryEscape(s.hostname()),
	).Replace(s.e.cfg.SPF.WhyURL)
}

// iprev is the RFC 8601 iprev result (§2.7.3): pass for a
// forward-confirmed PTR name, permerror when the address has no PTR
// record, temperror when the lookups failed, and fail when the names do
// not lead back.
func (s *Session) iprev() string {
	switch {
	case s.ptrErr != nil:
		return "temperror"
	case s.PTR != "": // forward-confirmed, whether or not the name looks dynamic
		return "pass"
	case len(s.PTRNames) == 0:
		return "permerror"
	}
	return "fail"
}

// domainMatch reports whether host is domain or within it.
func domainMatch(host, domain string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return domain != "" && (host == domain || strings.HasSuffix(host, "."+domain))
}

// shorten bounds text quoted back in a reply line.
func shorten(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
