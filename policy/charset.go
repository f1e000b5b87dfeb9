package policy

import (
	"mime"
	"regexp"
	"slices"
	"strings"
)

// encodedWordCharset finds the charsets of RFC 2047 encoded words
// (=?charset*lang?B?...?=).
var encodedWordCharset = regexp.MustCompile(`=\?([^?*\s]+)(\*[^?\s]*)?\?[bBqQ]\?`)

// charsetParam finds a charset parameter in a Content-Type field that
// does not parse as RFC 2045 has it.
var charsetParam = regexp.MustCompile(`(?i)(?:^|[;\s])charset\s*=\s*"?([^";\s()]+)`)

// checkCharsets refuses mail from outside written in a character set of
// [defang] block_charsets (bms.py's block_chinese, generalised): in an
// encoded word of the Subject, or the message's Content-Type charset.
func checkCharsets(s *Session) (*Decision, error) {
	blocked := s.e.cfg.Defang.BlockCharsets
	if len(blocked) == 0 || s.Class&Internal != 0 || s.Msg.Whitelisted {
		return nil, nil
	}
	for _, h := range s.Msg.header {
		var found []string
		switch strings.ToLower(h.Name) {
		case "subject":
			for _, m := range encodedWordCharset.FindAllStringSubmatch(h.Value, -1) {
				found = append(found, m[1])
			}
		case "content-type":
			// Leniently, as mail programs read it: a field that does not
			// parse strictly (a stray word, a comment) still names its
			// charset for them.
			if _, params, err := mime.ParseMediaType(h.Value); err == nil && params["charset"] != "" {
				found = append(found, params["charset"])
			} else if m := charsetParam.FindStringSubmatch(h.Value); m != nil {
				found = append(found, m[1])
			}
		}
		for _, cs := range found {
			if slices.ContainsFunc(blocked, func(b string) bool { return strings.EqualFold(b, cs) }) {
				cs = strings.ToLower(cs)
				return reject(550, "5.7.1", h.Name+" in charset "+cs, "We do not read mail in "+cs), nil
			}
		}
	}
	return nil, nil
}
