package policy

import (
	"net/mail"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/oneline"
)

// checkPrivateRelay refuses external clients that send to a
// [milter] private_relay domain: mail for those domains must come from
// inside (bms.py: "Unauthorized relay").
func checkPrivateRelay(s *Session) (*Decision, error) {
	if s.Class&Internal != 0 {
		return nil, nil
	}
	d := senderDomain(s.Msg.Rcpt)
	if !config.MatchDomain(s.e.cfg.Milter.PrivateRelay, d) {
		return nil, nil
	}
	return reject(550, "5.7.1", "unauthorized relay for "+d, "Unauthorized relay for "+d), nil
}

// hidePath removes the Received fields of outgoing mail to a [scrub]
// hide_path domain, and any connection header (X-Maxwell-Connection) an
// earlier hop added, so that the recipients do not see the internal
// hosts the message went through; addConnectionHeader adds none to it.
// The MTA's own Received field is not shown to a milter (Postfix): the
// MTA's configuration removes that one (docs/configuration.md).
func hidePath(s *Session) (*Decision, error) {
	if !s.hidesPath() {
		return nil, nil
	}
	own := s.e.cfg.Milter.ConnectionHeader
	counts := map[string]int{}
	for _, h := range s.Msg.header {
		name := strings.ToLower(h.Name)
		counts[name]++
		if name == "received" || own != "" && strings.EqualFold(h.Name, own) {
			s.AddEdit(Edit{Kind: DeleteHeader, Name: h.Name, Index: counts[name]})
		}
	}
	if n := counts["received"] + counts[strings.ToLower(own)]; n > 0 {
		s.log("note", "reason", "Received and connection fields removed (hide_path)", "fields", n)
	}
	return nil, nil
}

// hidesPath tells whether the message is outgoing mail to a [scrub]
// hide_path domain: from an INTERNAL client, to one recipient there at
// least.
func (s *Session) hidesPath() bool {
	if s.Class&Internal == 0 || len(s.e.cfg.Scrub.HidePath) == 0 {
		return false
	}
	for _, r := range s.Msg.Rcpts {
		if config.MatchDomain(s.e.cfg.Scrub.HidePath, senderDomain(r)) {
			return true
		}
	}
	return false
}

// supplySender adds "Sender: <MAIL FROM>" to external mail whose From and
// Sender fields name none of the MAIL FROM's domain, so that mail clients
// show "sent by … on behalf of …": a phisher's own domain shows next to
// the bank's name ([spf] supply_sender).
func supplySender(s *Session) (*Decision, error) {
	m := s.Msg
	if !s.e.cfg.SPF.SupplySender || s.Class&Internal != 0 || m.Domain == "" {
		return nil, nil
	}
	senders := 0
	for _, h := range m.header {
		name := strings.ToLower(h.Name)
		if name != "from" && name != "sender" {
			continue
		}
		if name == "sender" {
			senders++
		}
		for _, d := range headerDomains(h.Value) {
			if d == m.Domain || strings.HasSuffix(d, "."+m.Domain) || strings.HasSuffix(m.Domain, "."+d) {
				return nil, nil
			}
		}
	}
	if len(m.Info.Sender) > maxAddress {
		s.log("note", "reason", "MAIL FROM too long to supply as Sender", "bytes", len(m.Info.Sender))
		return nil, nil
	}
	value := "<" + oneline.Clean(m.Info.Sender) + ">"
	if senders > 0 {
		s.AddEdit(Edit{Kind: ChangeHeader, Name: "Sender", Index: 1, Value: value})
	} else {
		s.AddEdit(Edit{Kind: InsertHeader, Name: "Sender", Value: value})
	}
	s.log("note", "reason", "Supplying MFROM as Sender", "sender", m.Info.Sender)
	return nil, nil
}

// headerDomains are the lower-case domains of the addresses in an
// address field; when the field does not parse, of every word with an @.
func headerDomains(v string) []string {
	var out []string
	if list, err := mail.ParseAddressList(decodeHeader(v)); err == nil {
		for _, a := range list {
			out = append(out, strings.ToLower(senderDomain(a.Address)))
		}
		return out
	}
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(" \t\r\n<>,;\"()", r) }) {
		if strings.Contains(w, "@") {
			out = append(out, strings.ToLower(senderDomain(w)))
		}
	}
	return out
}
