package policy

import (
	"strconv"
	"strings"

	"github.com/maxwell-milter/maxwell/reputation"
	"github.com/maxwell-milter/maxwell/spf"
	"github.com/maxwell-milter/maxwell/store"
)

// repMessage is what reputation made of a message, and what the message
// taught, learned once when it ends (learnReputation).
type repMessage struct {
	skipGrey  bool // good reputation: spared greylisting
	forceGrey bool // bad reputation: greylisted even where it would be spared
	refusedBy bool // refused for its reputation: the refusal teaches nothing
	refused   bool // a check answered 5xx (once a message, whatever the recipients)
	cbvRefuse bool // the call-back was refused
	defanged  bool // an attachment was replaced
}

// standing is the reputation of one of the message's identities.
type standing struct {
	id                    string
	own, evidence, peers  float64
	score                 float64
	answered, failedPeers int
}

// reputationOn reports whether reputation is learned and used for the
// session's client: external, with an address, a store to keep it in.
func (s *Session) reputationOn() bool {
	return s.e.cfg.Reputation.Enabled && s.e.store != nil && s.Conn.IP.IsValid() && s.Class&(Internal|Trusted) == 0
}

// reputationIDs are the identities of the message: its SPF-pass domain,
// its HELO name if verified (HELO SPF pass, or the forward-confirmed
// PTR name), its client network.
func (s *Session) reputationIDs() []string {
	var ids []string
	if id := reputation.SPF(s.spfPassDomain()); id != "" {
		ids = append(ids, id)
	}
	heloPass := s.Msg.SPF != nil && s.Msg.SPF.Report.HeloResult == spf.Pass
	if h := strings.TrimSuffix(s.Helo, "."); heloPass || h != "" && strings.EqualFold(h, s.PTR) {
		if id := reputation.Helo(h); id != "" {
			ids = append(ids, id)
		}
	}
	return append(ids, s.netID())
}

// netID is the identity of the client's network, as greylisting knows
// it ([greylist] ipv4_prefix, ipv6_prefix).
func (s *Session) netID() string {
	return reputation.KindNet + GreylistNetwork(&s.e.cfg.Greylist, s.Conn.IP)
}

// checkReputation weighs the message's identities at MAIL FROM, the
// site's own knowledge and its peers': a good one spares the message
// greylisting ([reputation] skip_greylist, with min_observations of the
// site's own); a bad one greylists it even where it would be spared
// (greylist_below), asks for a call-back (callback_below) or refuses it
// (refuse_below). The worst identity decides the bad; the best known one
// the good.
func checkReputation(s *Session) (*Decision, error) {
	if !s.reputationOn() {
		return nil, nil
	}
	cfg, m := &s.e.cfg.Reputation, s.Msg
	ids := s.reputationIDs()
	now := s.e.now()
	stands := make([]standing, len(ids))
	rs, err := s.e.store.Reputation(s.ctx, ids...)
	if err != nil { // a convenience: mail goes on without it
		s.e.diag.Warn("cannot read reputations", "conn", s.ID, "error", err)
	}
	var asked [][]reputation.Answer
	if s.e.peers != nil {
		asked = s.e.peers.Ask(s.ctx, ids, cfg.MaxPeerQueries)
	}
	worst, best := -1, -1
	for i, id := range ids {
		st := &stands[i]
		st.id = id
		for _, r := range rs {
			if r.ID == id {
				st.own, st.evidence = reputation.Own(r, now, cfg.HalfLife.D(), cfg.Prior)
			}
		}
		if asked != nil {
			for _, a := range asked[i] {
				if a.Err != nil {
					st.failedPeers++
					s.e.diag.Warn("reputation peer skipped", "conn", s.ID, "id", id, "error", a.Err)
					continue
				}
				st.answered++
			}
			st.score, st.peers = reputation.Combine(st.own, asked[i])
		} else {
			st.score = st.own
		}
		if worst < 0 || st.score < stands[worst].score {
			worst = i
		}
		if st.evidence >= cfg.MinObservations && st.evidence > 0 && (best < 0 || st.score > stands[best].score) {
			best = i
		}
	}
	w := stands[worst]
	action, decided := "none", w
	var d *Decision
	switch {
	case cfg.RefuseBelow < 0 && w.score < cfg.RefuseBelow:
		action = "refuse"
		m.rep.refusedBy = true
		_, name, _ := strings.Cut(w.id, ":")
		d = delayable(reject(550, "5.7.1", "bad reputation: "+w.id+" "+formatScore(w.score),
			"Mail from "+name+" is refused here for its bad reputation"))
	case cfg.CallbackBelow < 0 && w.score < cfg.CallbackBelow && m.Info.Sender != "":
		action = "callback"
		if m.callback == nil {
			m.callback = &Callback{Policy: spf.CBV, Sender: m.Info.Sender, Template: "reputation"}
			s.log("cbv", "tag", "CBV", "status", "pending", "policy", spf.CBV, "sender", m.Info.Sender, "template", "reputation")
		}
		m.rep.forceGrey = cfg.GreylistBelow < 0 && w.score < cfg.GreylistBelow
	case cfg.GreylistBelow < 0 && w.score < cfg.GreylistBelow:
		action = "greylist"
		m.rep.forceGrey = true
	case best >= 0 && cfg.SkipGreylist > 0 && stands[best].score >= cfg.SkipGreylist:
		action, decided = "skip_greylist", stands[best]
		m.rep.skipGrey = true
	}
	kv := []any{"id", decided.id, "score", formatScore(decided.score), "own", formatScore(decided.own),
		"evidence", formatScore(decided.evidence), "peers", formatScore(decided.peers), "action", action}
	if s.e.peers != nil {
		kv = append(kv, "answered", decided.answered)
		if decided.failedPeers > 0 {
			kv = append(kv, "failed", decided.failedPeers)
		}
	}
	s.log("reputation", kv...)
	return d, nil
}

// formatScore writes a score or a count for the log: three decimals.
func formatScore(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

// noteRefusal marks the message refused, when a decision is a 5xx: the
// message teaches its identities that, once, however many recipients
// were refused.
func (s *Session) noteRefusal(d Decision) {
	if s.Msg != nil && d.Code >= 500 {
		s.Msg.rep.refused = true
	}
}

// learnReputation writes, once, what the message that ends taught of its
// identities: good for mail accepted (more after greylisting passed),
// bad for a 5xx refusal, an SPF fail, a refused call-back, a defanged
// attachment. A refusal for reputation itself teaches nothing, or a bad
// name would feed on itself.
func (s *Session) learnReputation(accepted bool) {
	if !s.reputationOn() {
		return
	}
	cfg, m := &s.e.cfg.Reputation, s.Msg
	var good, bad float64
	if accepted {
		good += cfg.Accepted
		if m.greyDelay > 0 {
			good += cfg.GreylistPassed
		}
	}
	if m.rep.refused && !m.rep.refusedBy {
		bad += cfg.Refused
	}
	if m.SPF != nil && m.SPF.Report.Check.Official() == spf.Fail {
		bad += cfg.SPFFail
	}
	if m.rep.cbvRefuse {
		bad += cfg.CallbackRefused
	}
	if m.rep.defanged {
		bad += cfg.Attachment
	}
	if good == 0 && bad == 0 {
		return
	}
	var obs []store.Observation
	for _, id := range s.reputationIDs() {
		obs = append(obs, store.Observation{ID: id, Good: good, Bad: bad})
	}
	if err := s.e.store.Learn(s.ctx, obs, s.e.now(), cfg.HalfLife.D()); err != nil {
		s.e.diag.Warn("cannot learn reputations", "conn", s.ID, "error", err)
	}
}

// learnBan teaches the client's network that it was banned for demerits.
func (s *Session) learnBan() {
	if !s.reputationOn() || s.e.cfg.Reputation.Ban == 0 {
		return
	}
	obs := []store.Observation{{ID: s.netID(), Bad: s.e.cfg.Reputation.Ban}}
	if err := s.e.store.Learn(s.ctx, obs, s.e.now(), s.e.cfg.Reputation.HalfLife.D()); err != nil {
		s.e.diag.Warn("cannot learn reputations", "conn", s.ID, "error", err)
	}
}
