package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/maxwell-milter/maxwell/dnsbl"
	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/spf"
)

// DNS blocklists ([dnsbl]): the client's address and its PTR name are
// asked at connect, the HELO name at HELO, the sender's domain at MAIL
// FROM. Each list that lists any of them adds its weight to the
// message's score, once; the score is then judged against [dnsbl]'s
// thresholds: refused, greylisted whatever spares it, counted as a
// strike, or verified by call-back.

// checkDNSBLClient asks the IP lists about the client and the domain
// lists about its forward-confirmed PTR name.
func checkDNSBLClient(s *Session) (*Decision, error) {
	if !s.asksDNSBL() {
		return nil, nil
	}
	rs := s.e.dnsbl.Client(s.ctx, s.Conn.IP)
	if err := s.noteDNSBL("client", s.Conn.IP.String(), rs); err != nil {
		return nil, err
	}
	s.dnsblClient = rs
	if s.PTR != "" {
		rs = s.e.dnsbl.Name(s.ctx, "ptr", s.PTR)
		if err := s.noteDNSBL("ptr", s.PTR, rs); err != nil {
			return nil, err
		}
		s.dnsblClient = append(s.dnsblClient, rs...)
	}
	return s.dnsblRefusal(), nil
}

// checkDNSBLHelo asks the domain lists about the HELO name, again at
// each HELO.
func checkDNSBLHelo(s *Session) (*Decision, error) {
	if !s.asksDNSBL() {
		return nil, nil
	}
	s.dnsblHelo = s.e.dnsbl.Name(s.ctx, "helo", s.Helo)
	if err := s.noteDNSBL("helo", s.Helo, s.dnsblHelo); err != nil {
		return nil, err
	}
	return s.dnsblRefusal(), nil
}

// checkDNSBLSender asks the domain lists about the sender's domain. It
// runs before the SPF check, whose three strikes may count the listing.
func checkDNSBLSender(s *Session) (*Decision, error) {
	if !s.asksDNSBL() {
		return nil, nil
	}
	m := s.Msg
	if m.Domain != "" {
		m.dnsbl = s.e.dnsbl.Name(s.ctx, "sender", m.Domain)
		if err := s.noteDNSBL("sender", m.Domain, m.dnsbl); err != nil {
			return nil, err
		}
	}
	return s.dnsblRefusal(), nil
}

// checkDNSBLCallback asks for a call-back verification of the sender
// when the score reaches [dnsbl] callback_score and the SPF policy has
// not asked for one already (its DSN templates say more).
func checkDNSBLCallback(s *Session) (*Decision, error) {
	m := s.Msg
	if !s.asksDNSBL() || m.Info.Sender == "" || m.callback != nil || !s.dnsblReached(s.e.cfg.DNSBL.CallbackScore) {
		return nil, nil
	}
	_, hits := s.dnsblScore()
	m.callback = &Callback{Policy: spf.CBV, Sender: m.Info.Sender, Template: "dnsbl"}
	s.log("cbv", "tag", "CBV", "status", "pending", "policy", spf.CBV, "sender", m.Info.Sender,
		"template", "dnsbl", "lists", strings.Join(hitNames(hits), ","))
	return nil, nil
}

// asksDNSBL reports whether the connection's names are asked about:
// lists are configured and the client is external and not trusted.
func (s *Session) asksDNSBL() bool {
	return s.e.dnsbl != nil && s.Class&(Internal|Trusted) == 0 && s.Conn.IP.IsValid()
}

// noteDNSBL logs what the lists said about one address or name (the
// dnsbl event: how many asked, how many answers came from the cache,
// the listings and the failures), and returns the failure to answer
// 451 with when [dnsbl] on_error says so.
func (s *Session) noteDNSBL(what, key string, rs []dnsbl.Result) error {
	if len(rs) == 0 {
		return nil
	}
	cached := 0
	var listed, ignored, failed []string
	reason := ""
	var tempErr error
	for _, r := range rs {
		if r.Cached {
			cached++
		}
		switch {
		case r.Err != nil:
			failed = append(failed, r.List.Zone+": "+r.Err.Error())
			if tempErr == nil {
				tempErr = r.Err
			}
		case r.Listed:
			listed = append(listed, r.List.Zone+":"+r.Answer.String())
			if reason == "" {
				reason = r.Reason
			}
		case r.Ignored:
			ignored = append(ignored, r.List.Zone+":"+r.Answer.String())
		}
	}
	kv := []any{"what", what, "key", key, "lists", len(rs), "cached", cached}
	if len(listed) > 0 {
		score, _ := s.dnsblScore(rs)
		kv = append(kv, "listed", strings.Join(listed, ","), "weight", strconv.FormatFloat(score, 'g', 4, 64))
		if reason != "" {
			kv = append(kv, "reason", reason)
		}
	}
	if len(ignored) > 0 {
		kv = append(kv, "ignored", strings.Join(ignored, ","))
	}
	if len(failed) > 0 {
		kv = append(kv, "error", strings.Join(failed, "; "))
	}
	s.log("dnsbl", kv...)
	if tempErr != nil && s.e.cfg.DNSBL.OnError == config.DNSBLTempfail {
		return tempErr
	}
	return nil
}

// dnsblResults are every answer so far that concerns the message (or
// the connection, outside one).
func (s *Session) dnsblResults() [][]dnsbl.Result {
	rs := [][]dnsbl.Result{s.dnsblClient, s.dnsblHelo}
	if s.Msg != nil {
		rs = append(rs, s.Msg.dnsbl)
	}
	return rs
}

// dnsblScore is the sum of the weights of the lists that listed any of
// results (those of the message when none are given), each list once,
// and the first listing of each of those lists.
func (s *Session) dnsblScore(results ...[]dnsbl.Result) (score float64, hits []dnsbl.Result) {
	if results == nil {
		results = s.dnsblResults()
	}
	for _, rs := range results {
		for _, r := range rs {
			if r.Listed && !slices.ContainsFunc(hits, func(h dnsbl.Result) bool { return h.List == r.List }) {
				score += r.List.Weight
				hits = append(hits, r)
			}
		}
	}
	return score, hits
}

// hitNames names listings as the log and the header show them:
// "zone/answer".
func hitNames(hits []dnsbl.Result) []string {
	names := make([]string, len(hits))
	for i, h := range hits {
		names[i] = h.List.Zone + "/" + h.Answer.String()
	}
	return names
}

// dnsblReached reports whether the score is at a [dnsbl] threshold (0:
// off).
func (s *Session) dnsblReached(threshold float64) bool {
	if s.e.dnsbl == nil || threshold <= 0 {
		return false
	}
	score, _ := s.dnsblScore()
	return score >= threshold
}

// dnsblRefusal refuses once the score reaches [dnsbl] reject_score,
// with the first listing's TXT record as the reply's second line. Like
// the other connection checks, it waits for DATA with delayed_reject.
func (s *Session) dnsblRefusal() *Decision {
	c := &s.e.cfg.DNSBL
	if !s.dnsblReached(c.RejectScore) {
		return nil
	}
	score, hits := s.dnsblScore()
	zones, reason := make([]string, len(hits)), ""
	for i, h := range hits {
		zones[i] = h.List.Zone
	}
	for _, rs := range s.dnsblResults() {
		for _, r := range rs {
			if r.Listed && reason == "" {
				reason = r.Reason
			}
		}
	}
	text := []string{strings.ReplaceAll(c.Text, "{lists}", strings.Join(zones, ", "))}
	if reason != "" {
		text = append(text, reason)
	}
	return delayable(reject(550, "5.7.1", fmt.Sprintf("DNSBL: %s (score %s)", strings.Join(hitNames(hits), " "),
		strconv.FormatFloat(score, 'g', 4, 64)), text...))
}
