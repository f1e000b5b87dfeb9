package policy

import (
	"regexp"
	"strings"
)

// Bulk-mail programs bms.py refused by their X-Mailer.
var spamMailers = []string{"direct email", "calypso", "mail bomber", "optin"}

// checkHeaders refuses external mail by its header, as bms.py's header
// callback did: a Message-ID under 4 characters, an X-Mailer of bulk
// mail software, a From display name with a [defang] from_words entry,
// and an unedited forward ("Fwd:", "[Fw") to a [defang] block_forward
// recipient.
func checkHeaders(s *Session) (*Decision, error) {
	if s.Class&Internal != 0 || s.Msg.Whitelisted {
		return nil, nil
	}
	m := s.Msg
	for _, h := range m.header {
		name, v := strings.ToLower(h.Name), decodeHeader(h.Value)
		switch name {
		case "message-id":
			if len(strings.TrimSpace(v)) < 4 {
				return reject(550, "5.7.1", "Message-ID: "+v, "Message-ID too short"), nil
			}
		case "x-mailer":
			lv := strings.ToLower(v)
			for _, w := range spamMailers {
				if strings.Contains(lv, w) {
					return reject(550, "5.7.1", "X-Mailer: "+v, "Your mailer is not allowed here"), nil
				}
			}
		case "from":
			if matchWord(s.e.fromWords, v) {
				return reject(550, "5.7.1", "From: "+v, "That From is not allowed"), nil
			}
		}
	}
	if len(s.e.blockForward.entries) > 0 {
		for _, subj := range m.Subjects {
			l := strings.ToLower(strings.TrimSpace(subj))
			if !strings.HasPrefix(l, "fwd:") && !strings.HasPrefix(l, "[fw") {
				continue
			}
			for _, r := range m.Rcpts {
				if s.e.blockForward.match(r) {
					return reject(550, "5.7.1", "unedited forward to "+r,
						"I find unedited forwards annoying.  Please add a comment of your own."), nil
				}
			}
		}
	}
	return nil, nil
}

func matchWord(words []*regexp.Regexp, v string) bool {
	for _, re := range words {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

// Recipients that are programs, not people: they never read mail.
var robotUsers = map[string]bool{"mailer-daemon": true, "auto-notify": true}

// checkRecipient refuses, per recipient: mail to a robot address, a DSN
// (null sender) to more than one recipient — a real bounce has one —
// and unknown users of the domains [milter] check_user lists (one
// demerit each, as bms.py counted dictionary attacks).
func checkRecipient(s *Session) (*Decision, error) {
	m := s.Msg
	rcpt := strings.ToLower(m.Rcpt)
	local, domain := rcpt, ""
	if at := strings.LastIndexByte(rcpt, '@'); at >= 0 { // a quoted local part may hold an @
		local, domain = rcpt[:at], rcpt[at+1:]
	}
	switch {
	case robotUsers[local] && s.Class&Internal == 0:
		return reject(550, "5.7.1", "mail to a robot: "+m.Rcpt, "Robots do not read mail"), nil
	case m.Info.Sender == "" && len(m.Rcpts) > 1:
		return reject(550, "5.7.1", "DSN to several recipients", "A delivery status notification goes to one recipient"), nil
	case s.e.checkUser[domain] && !m.rcptSigned && !s.e.knownUsers.match(m.Rcpt):
		s.offence(demeritUnknownUser, "unknown user "+m.Rcpt)
		return reject(550, "5.1.1", "no such user "+m.Rcpt, "No such user here"), nil
	}
	return nil, nil
}
