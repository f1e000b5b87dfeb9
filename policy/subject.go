package policy

import (
	"mime"
	"strings"

	"github.com/emersion/go-message/charset"
)

// wordDecoder decodes RFC 2047 encoded words in any charset go-message
// knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// unfold removes the line breaks of a folded header value; built once, as
// a Replacer costs more to build than to use.
var unfold = strings.NewReplacer("\r\n", "", "\n", "", "\r", "")

// decodeHeader unfolds a header value and decodes its encoded words, so
// checks see what the reader sees. Undecodable words stay as they were.
func decodeHeader(v string) string {
	v = strings.TrimSpace(unfold.Replace(v))
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// Advertising markers bms.py refused at the start or end of a Subject.
var (
	advPrefixes = []string{"adv:", "adv.", "adv ", "<adv>", "<ad>", "[adv]", "(adv)", "advt:", "advert:", "[spam]"}
	advSuffixes = []string{"adv", "(adv)", "[adv]", "(non-spam)"}
)

// checkSubject refuses external mail whose decoded Subject holds a
// [defang] spam_words entry (case-sensitive), a porn_words entry
// (case-insensitive, with character classes), or, with reject_adv, an
// advertising marker.
func checkSubject(s *Session) (*Decision, error) {
	if s.Class&Internal != 0 || s.Msg.Whitelisted {
		return nil, nil
	}
	for _, subj := range s.Msg.Subjects {
		if d := s.e.judgeSubject(subj); d != nil {
			return d, nil
		}
	}
	return nil, nil
}

func (e *Engine) judgeSubject(subj string) *Decision {
	reason := "Subject: " + subj
	for _, w := range e.spamWords {
		if strings.Contains(subj, w) {
			return reject(550, "5.7.1", reason, "That subject is not allowed")
		}
	}
	lval := strings.ToLower(strings.TrimSpace(subj))
	if e.cfg.Defang.RejectAdv {
		for _, p := range advPrefixes {
			if strings.HasPrefix(lval, p) {
				return reject(550, "5.7.1", reason, "No soliciting allowed")
			}
		}
		for _, p := range advSuffixes {
			if strings.HasSuffix(lval, p) {
				return reject(550, "5.7.1", reason, "No soliciting allowed")
			}
		}
	}
	for _, re := range e.pornWords {
		if re.MatchString(lval) {
			return reject(550, "5.7.1", reason, "That subject is not allowed")
		}
	}
	return nil
}
