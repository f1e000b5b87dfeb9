package policy

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/safefile"
	"github.com/maxwell-milter/maxwell/spf"
	"github.com/maxwell-milter/maxwell/store"
)

// autoReply recognises the Subjects of robots' answers (read receipts,
// vacation messages, moderation notices): their recipients are not
// people our users chose to write to (bms.py's reautoreply).
var autoReply = regexp.MustCompile(`(?i)^read:|\bautoreply:|^return receipt|^your message\b.*\bawaits moderator approval`)

// learnCorrespondents puts the external recipients of mail from a
// [whitelist] senders user on the auto-whitelist, so that their answers
// are not greylisted or refused for content (bms.py: whitelist_senders).
func learnCorrespondents(s *Session) (*Decision, error) {
	m, cfg := s.Msg, s.e.cfg
	if s.Class&Internal == 0 || s.e.store == nil || !s.e.whitelistSenders.match(m.Info.Sender) {
		return nil, nil
	}
	for _, subj := range m.Subjects {
		if autoReply.MatchString(strings.TrimSpace(subj)) {
			s.log("auto-whitelist", "status", "skipped", "reason", "auto-reply", "subject", subj)
			return nil, nil
		}
	}
	for _, h := range m.header {
		if strings.EqualFold(h.Name, "User-Agent") && strings.HasPrefix(strings.ToLower(strings.TrimSpace(h.Value)), "vacation") {
			s.log("auto-whitelist", "status", "skipped", "reason", "auto-reply", "user_agent", h.Value)
			return nil, nil
		}
	}
	now := s.e.now()
	for _, r := range m.Rcpts {
		if config.MatchDomain(cfg.Milter.InternalDomains, senderDomain(r)) {
			continue
		}
		addr := strings.ToLower(r)
		if _, err := s.e.store.CountPass(s.ctx, store.KindSender, addr, now, cfg.Whitelist.TTL.D(), 1); err != nil {
			s.e.diag.Warn("cannot update the auto-whitelist", "conn", s.ID, "error", err)
			return nil, nil
		}
		s.log("auto-whitelist", "status", "added", "sender", addr, "by", m.Info.Sender)
	}
	return nil, nil
}

// checkSenderLists runs at MAIL FROM after SPF: a sender on the
// blacklist (file or store) is refused; one on the auto-whitelist is
// spared greylisting and content checks, if SPF vouches for it —
// without an SPF pass it is on probation, checked as anyone.
func checkSenderLists(s *Session) (*Decision, error) {
	m := s.Msg
	if m.Info.Sender == "" || s.Class&Internal != 0 {
		return nil, nil
	}
	sender := strings.ToLower(m.Info.Sender)
	if s.e.senderBlacklist.match(sender) {
		return s.blacklisted("file"), nil
	}
	if s.e.store == nil {
		return nil, nil
	}
	now := s.e.now()
	if b, err := s.e.store.Banned(s.ctx, store.BanSender, sender, now); err == nil && b != nil {
		return s.blacklisted(b.Reason), nil
	}
	listed, err := s.e.store.Listed(s.ctx, store.KindSender, sender, now, s.e.cfg.Whitelist.TTL.D())
	if err != nil || !listed {
		return nil, nil
	}
	if v := m.SPF; v != nil && v.Report.Check.Official() == spf.Pass && strings.EqualFold(v.Report.Check.Domain, m.Domain) {
		m.Whitelisted = true
		s.log("auto-whitelist", "status", "listed", "sender", sender)
		return nil, nil
	}
	s.log("auto-whitelist", "status", "probation", "sender", sender, "tag", "PROBATION")
	return nil, nil
}

func (s *Session) blacklisted(why string) *Decision {
	s.offence(demeritBlacklisted, "blacklisted sender "+s.Msg.Info.Sender)
	return reject(550, "5.7.1", "blacklisted sender "+s.Msg.Info.Sender+" ("+why+")", "Sender email local blacklist")
}

// loadAddrFile reads an address list file: one address, @domain or
// user@ per line; # starts a comment.
func loadAddrFile(path string, caseSensitive bool) (addrSet, error) {
	set := newAddrSet(nil, caseSensitive)
	if path == "" {
		return set, nil
	}
	b, err := safefile.Read(path)
	if err != nil {
		return addrSet{}, err
	}
	for n, raw := range strings.Split(string(b), "\n") {
		entry, _, _ := strings.Cut(raw, "#")
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if !strings.Contains(entry, "@") || strings.ContainsAny(entry, " \t") {
			// The line as the administrator wrote it, to find it by.
			return addrSet{}, fmt.Errorf("%s:%d: %s is not an address, @domain or user@", oneline.Name(path), n+1, oneline.Quote(raw))
		}
		set.add(entry)
	}
	return set, nil
}

// loadUserFile reads a [milter] check_user file, as bms.py did: the
// users of the domain the file is named for (its base name), as local
// parts separated by white space or line ends (a whole address of that
// domain is taken too; # starts a comment). They go into users; the
// domain is returned.
func loadUserFile(path string, users addrSet) (string, error) {
	b, err := safefile.Read(path)
	if err != nil {
		return "", err
	}
	domain := strings.ToLower(filepath.Base(path))
	for n, raw := range strings.Split(string(b), "\n") {
		line, _, _ := strings.Cut(raw, "#")
		for _, u := range strings.Fields(line) {
			local, d, whole := strings.Cut(u, "@")
			if local == "" || whole && !strings.EqualFold(d, domain) {
				return "", fmt.Errorf("%s:%d: %s is not a user of %s", oneline.Name(path), n+1, oneline.Quote(u), domain)
			}
			users.add(local + "@" + domain)
		}
	}
	return domain, nil
}
