package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/spf"
	"github.com/maxwell-milter/maxwell/store"
)

// Version is maxwell's version, named in the X-Greylist header. The
// command sets it at start.
var Version = "dev"

// greyTimers are the Kamaelia server's four timers. As in its
// isGreylisted, every pending timer counts from the first attempt of the
// round (the triplet's first sight, or the latest reset), not from the
// previous attempt: a client retrying at 0, 3500 and 3650 s with a delay
// of 3600 s passes at 3650 s.
type greyTimers struct {
	delay   time.Duration // min_defer_time: a retry earlier than this after the first attempt is deferred again
	tooSoon time.Duration // too_soon: a retry this soon after the first attempt restarts the round (0: off)
	window  time.Duration // max_defer_time: a retry later than this after the first attempt starts over
	ttl     time.Duration // max_grey: a passed triplet stays passed this long after its latest message
}

// greyStep is what became of one attempt.
type greyStep string

// The greylist steps, as the mail log names them.
const (
	greyNew     greyStep = "new"     // first attempt: deferred
	greyEarly   greyStep = "early"   // retry before the delay: deferred
	greyReset   greyStep = "reset"   // retry sooner than too_soon after the first attempt: deferred, round restarted
	greyRestart greyStep = "restart" // retry after the window or after the pass expired: deferred as new
	greyPass    greyStep = "pass"    // first retry after the delay: passed
	greyPassed  greyStep = "passed"  // a triplet that passed before: passed, renewed
)

// next is the greylist state machine: the entry after an attempt at now,
// given the entry before (nil for none). The tests are Kamaelia's, in
// its order.
func (t greyTimers) next(old *store.Entry, now time.Time) (store.Entry, greyStep) {
	fresh := store.Entry{First: now, Last: now, Expires: now.Add(t.window), Attempts: 1}
	if old == nil {
		return fresh, greyNew
	}
	if !old.Pending() {
		if now.After(old.Expires) { // grey too long: forgotten, seen anew
			return fresh, greyRestart
		}
		e := *old
		e.Last, e.Expires, e.Passes = now, now.Add(t.ttl), e.Passes+1
		return e, greyPassed
	}
	since := now.Sub(old.First)
	switch {
	case since < t.tooSoon:
		fresh.Attempts = old.Attempts + 1
		return fresh, greyReset
	case since < t.delay:
		e := *old
		e.Last, e.Attempts = now, e.Attempts+1
		return e, greyEarly
	case since > t.window:
		return fresh, greyRestart
	}
	e := *old
	e.Passed, e.Last, e.Delay, e.Passes, e.Expires = now, now, since, 1, now.Add(t.ttl)
	return e, greyPass
}

// checkGreylist defers, per recipient, a delivery attempt whose triplet
// (client, sender, recipient) has not been seen long enough ago. Real
// mail servers retry; most spam software does not. A transaction that
// is refused anyway at DATA (a refusal delayed by [milter]
// delayed_reject) is not greylisted: it gets its refusal, and leaves no
// triplet behind, so a forger cannot pass triplets by retrying.
func checkGreylist(s *Session) (*Decision, error) {
	e, m := s.e, s.Msg
	if !e.cfg.Greylist.Enabled || e.store == nil || s.Class&(Internal|Trusted) != 0 {
		return nil, nil
	}
	key := store.Triplet{Client: s.greylistClient(), Sender: clip(NormaliseSender(m.Info.Sender)), Rcpt: clip(strings.ToLower(m.Rcpt))}
	logKV := []any{"client", key.Client, "sender", key.Sender, "rcpt", key.Rcpt}
	if d := s.condemned(); d != nil {
		s.log("greylist", append(logKV, "step", "skip", "reason", "refused at DATA", "tag", d.Tag)...)
		return nil, nil
	}
	if why := s.greylistExempt(); why != "" {
		s.log("greylist", append(logKV, "step", "skip", "reason", why)...)
		return nil, nil
	}
	now := e.now()
	listed, err := e.store.Listed(s.ctx, store.KindClient, key.Client, now, e.grey.ttl)
	if err != nil {
		return s.greylistUnavailable(err, logKV), nil
	}
	if listed && !s.forceGreylist() {
		s.log("greylist", append(logKV, "step", "skip", "reason", "auto-whitelisted client")...)
		return nil, nil
	}
	var step greyStep
	entry, err := e.store.UpdateTriplet(s.ctx, key, func(old *store.Entry) store.Entry {
		var next store.Entry
		next, step = e.grey.next(old, now)
		return next
	})
	if err != nil {
		return s.greylistUnavailable(err, logKV), nil
	}
	switch step {
	case greyPass:
		s.log("greylist", append(logKV, "step", step, "delay", int(entry.Delay.Seconds()), "attempts", entry.Attempts)...)
		m.greyDelay = max(m.greyDelay, entry.Delay)
		m.greyPass = append(m.greyPass, key.Client)
		return nil, nil
	case greyPassed:
		s.log("greylist", append(logKV, "step", step, "passes", entry.Passes)...)
		return nil, nil
	}
	wait := e.grey.delay - now.Sub(entry.First)
	s.log("greylist", append(logKV, "step", step, "attempts", entry.Attempts, "wait", int(wait.Seconds()))...)
	d := tempfail(451, "4.7.1", fmt.Sprintf("greylisted %s %s %s", key.Client, key.Sender, key.Rcpt),
		strings.ReplaceAll(e.cfg.Greylist.Text, "{seconds}", strconv.Itoa(int(wait.Round(time.Second).Seconds()))))
	d.Tag = "GREYLISTED"
	if m.Info.Sender == "" {
		// A null sender is deferred at DATA: recipient call-outs (MAIL
		// FROM:<> RCPT TO, QUIT) must still be answered.
		if m.greyData == nil {
			s.log("delay", "tag", d.Tag, "reason", d.Reason, "stage", StageRcpt)
			m.greyData = d
		}
		return nil, nil
	}
	return d, nil
}

// condemned is the refusal that awaits the transaction at DATA, nil if
// none does.
func (s *Session) condemned() *Decision {
	if s.pending != nil {
		return s.pending
	}
	return s.Msg.pending
}

// countGreylistPasses counts, once the message is accepted, the triplets
// it passed towards their client's auto-whitelist ([greylist]
// auto_whitelist_clients): only mail actually taken counts, not a
// retry refused later for its content.
func (s *Session) countGreylistPasses() {
	n := s.e.cfg.Greylist.AutoWhitelistClients
	if n <= 0 || s.e.store == nil {
		return
	}
	now := s.e.now()
	for _, client := range s.Msg.greyPass {
		listed, err := s.e.store.CountPass(s.ctx, store.KindClient, client, now, s.e.grey.ttl, n)
		switch {
		case err != nil: // the message is accepted all the same
			s.log("greylist", "client", client, "step", "error", "error", err)
		case listed:
			s.log("greylist", "client", client, "step", "listed", "auto_whitelisted", true)
		}
	}
}

// clip bounds what a client can make maxwell store per address.
func clip(s string) string {
	if len(s) > maxAddress {
		return s[:maxAddress]
	}
	return s
}

// greylistUnavailable answers when the store cannot be reached:
// tempfail, or let the recipient through with [greylist] fail_open.
func (s *Session) greylistUnavailable(err error, logKV []any) *Decision {
	s.e.diag.Warn("greylist store unavailable", "conn", s.ID, "error", err)
	if s.e.cfg.Greylist.FailOpen {
		s.log("greylist", append(logKV, "step", "error", "error", err, "fail_open", true)...)
		return nil
	}
	s.log("greylist", append(logKV, "step", "error", "error", err)...)
	return tempfail(451, "4.3.0", "greylist store unavailable: "+err.Error(), "Temporary local problem, try again later")
}

// greylistClient is who a retry is expected from: the domain whose SPF
// record the client passed, as big providers retry from other addresses
// of their pool; otherwise the client's network ([greylist]
// ipv4_prefix, ipv6_prefix).
func (s *Session) greylistClient() string {
	if d := s.spfPassDomain(); d != "" {
		return d
	}
	return GreylistNetwork(&s.e.cfg.Greylist, s.Conn.IP)
}

// GreylistNetwork is the client identity of an address without an
// SPF-pass domain: its network, "192.0.2.0/24" or "2001:db8:1:2::/64".
func GreylistNetwork(g *config.Greylist, ip netip.Addr) string {
	if !ip.IsValid() {
		return "local"
	}
	ip = ip.Unmap()
	bits := g.IPv4Prefix
	if ip.Is6() {
		bits = g.IPv6Prefix
	}
	p, _ := ip.Prefix(bits)
	return p.String()
}

// GreylistSearch is a search of the greylist as an administrator types
// it (maxwell greylist, the web console).
type GreylistSearch struct {
	IP     string // a client address, searched as the network greylisting keys it by
	Client string // a client identity: a network ("192.0.2.0/24") or an SPF-pass domain
	Sender string // an address, normalised as greylisting keys it; "<>" for the null sender
	Rcpt   string
	State  string // "", store.StatePending, StatePassed or StateExpired
}

// Filter is the store filter of the search, its states judged at now.
// Each part may be a '*' glob (an IP may not); its error says which
// part is wrong.
func (q GreylistSearch) Filter(g *config.Greylist, now time.Time) (store.Filter, error) {
	f := store.Filter{Client: strings.ToLower(strings.TrimSpace(q.Client)), Rcpt: strings.ToLower(strings.TrimSpace(q.Rcpt)), State: q.State}
	if ip := strings.TrimSpace(q.IP); ip != "" {
		if f.Client != "" {
			return f, errors.New("give an IP address or a client, not both")
		}
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return f, fmt.Errorf("%s is not an IP address", oneline.Quote(ip))
		}
		f.Client = GreylistNetwork(g, addr)
	}
	switch s := strings.TrimSpace(q.Sender); {
	case s == "<>":
		f.Sender = "<>"
	case strings.Contains(s, "*"):
		f.Sender = strings.ToLower(s)
	case s != "":
		f.Sender = NormaliseSender(s)
	}
	switch f.State {
	case "":
	case store.StatePending, store.StatePassed, store.StateExpired:
		f.Now = now
	default:
		return f, fmt.Errorf("the state %s is not pending, passed or expired", oneline.Quote(f.State))
	}
	return f, nil
}

// spfPassDomain is the domain that the MAIL FROM (or, for the null
// sender, the HELO) officially passed SPF for, "" if none.
func (s *Session) spfPassDomain() string {
	if v := s.Msg.SPF; v != nil && v.Report.Check.Official() == spf.Pass && v.Report.Forwarder == "" {
		return strings.ToLower(v.Report.Check.Domain)
	}
	return ""
}

// greylistExempt says why the message is not greylisted, "" if it is.
func (s *Session) greylistExempt() string {
	g, m, ip := &s.e.cfg.Greylist, s.Msg, s.Conn.IP
	switch {
	case m.Whitelisted:
		return "whitelisted sender"
	case m.rcptSigned:
		return "bounce to an address we signed"
	case s.e.greyRcpts.match(m.Rcpt):
		return "recipient whitelisted"
	case config.MatchAny(g.WhitelistClients, ip, s.PTR):
		return "client whitelisted"
	case m.Domain != "" && s.spfPassDomain() == m.Domain && config.MatchDomain(g.WhitelistSenders, m.Domain):
		return "sender domain whitelisted with SPF pass"
	case matchTriple(g.WhitelistedTriples, ip, "", m.Info.Sender, m.Rcpt):
		return "whitelisted triple"
	case matchTriple(g.WhitelistedNonstd, ip, s.Helo, "", m.Rcpt):
		return "whitelisted non-standard triple"
	case m.rep.skipGrey && !s.dnsblReached(s.e.cfg.DNSBL.GreylistScore):
		return "good reputation"
	case g.OnlySuspicious && s.Class&Dyn == 0 && s.PTR != "" && s.spfPassDomain() != "" && !s.forceGreylist():
		return "not suspicious"
	}
	return ""
}

// forceGreylist reports whether the message is greylisted even where
// only_suspicious or the auto-whitelist would spare it: a DNS blocklist
// listing at [dnsbl] greylist_score, or a reputation below [reputation]
// greylist_below.
func (s *Session) forceGreylist() bool {
	return s.Msg.rep.forceGrey || s.dnsblReached(s.e.cfg.DNSBL.GreylistScore)
}

// matchTriple reports whether a Kamaelia triple matches: standard
// triples by IP, sender and recipient, non-standard ones by HELO, IP and
// recipient.
func matchTriple(ts []config.Triple, ip netip.Addr, helo, sender, rcpt string) bool {
	for _, t := range ts {
		if t.Client.Contains(ip) && strings.EqualFold(t.Rcpt, rcpt) &&
			(t.Standard() && strings.EqualFold(t.Sender, sender) || !t.Standard() && strings.EqualFold(t.Helo, helo)) {
			return true
		}
	}
	return false
}

// addGreylistHeader tells, on a message that was delayed, for how long:
//
//	X-Greylist: delayed 312 seconds by maxwell-1.0 at mx.example.org;
//	    Mon, 23 Nov 2026 10:00:01 +0000
func addGreylistHeader(s *Session) (*Decision, error) {
	name, delay := s.e.cfg.Greylist.Header, s.Msg.greyDelay
	if name == "" || delay <= 0 {
		return nil, nil
	}
	s.AddEdit(Edit{Kind: InsertHeader, Name: name, Value: fmt.Sprintf("delayed %d seconds by maxwell-%s at %s;\n\t%s",
		int(delay.Seconds()), Version, oneline.Clean(s.hostname()), s.e.now().UTC().Format(time.RFC1123Z))})
	return nil, nil
}

// NormaliseSender folds the parts of an envelope sender that change from
// message to message, as postgrey does: lower case, BATV tag
// (prvs=TAG=user), +extension, numbers in VERP addresses. The null
// sender is "<>".
func NormaliseSender(addr string) string {
	if addr == "" {
		return "<>"
	}
	addr = strings.ToLower(addr)
	local, domain, ok := strings.Cut(addr, "@")
	if !ok {
		return addr
	}
	for _, tag := range []string{"prvs=", "msprvs1="} {
		if rest, ok := strings.CutPrefix(local, tag); ok {
			if _, user, ok := strings.Cut(rest, "="); ok && user != "" {
				local = user
			}
			break
		}
	}
	if plus := strings.IndexByte(local, '+'); plus > 0 {
		local = local[:plus]
	}
	return foldNumbers(local) + "@" + domain
}

// foldNumbers replaces every number standing as a word of its own
// (Perl's \b\d+\b) with '#': bounce-12345-x becomes bounce-#-x, but
// user42 stays.
func foldNumbers(s string) string {
	word := func(i int) bool {
		if i < 0 || i >= len(s) {
			return false
		}
		c := s[i]
		return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j > i && !word(i-1) && !word(j) {
			b.WriteByte('#')
			i = j
			continue
		}
		if j == i {
			j++
		}
		b.WriteString(s[i:j])
		i = j
	}
	return b.String()
}
