package policy

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/maxwell-milter/maxwell/internal/oneline"
)

// addConnectionHeader inserts, at the top of accepted messages, what
// maxwell learnt about the connection ([milter] connection_header), so
// that delivery agents and users' filters can act on it:
//
//	X-Maxwell-Connection: class="EXTERNAL DYN"; ip=198.51.100.7;
//	    ptr=host.example.net; helo=mail.example.org; by=mx.example.org
func addConnectionHeader(s *Session) (*Decision, error) {
	name := s.e.cfg.Milter.ConnectionHeader
	if name == "" || s.hidesPath() { // it would name the inside
		return nil, nil
	}
	var b strings.Builder
	b.WriteString(`class="` + s.Class.String() + `"`)
	if s.Conn.IP.IsValid() {
		b.WriteString("; ip=" + s.Conn.IP.String())
	}
	if s.PTR != "" {
		b.WriteString("; ptr=" + headerToken(s.PTR))
	}
	if s.Helo != "" {
		b.WriteString("; helo=" + headerToken(s.Helo))
	}
	if s.AuthUser != "" {
		b.WriteString("; auth=" + headerToken(s.AuthUser))
	}
	if s.Conn.MTAName != "" {
		b.WriteString("; by=" + headerToken(s.Conn.MTAName))
	}
	if score, hits := s.dnsblScore(); len(hits) > 0 {
		b.WriteString("; dnsbl=" + headerToken(strings.Join(hitNames(hits), ",")) + "; dnsbl_score=" + strconv.FormatFloat(score, 'g', 4, 64))
	}
	s.AddEdit(Edit{Kind: InsertHeader, Name: name, Value: b.String(), Index: 0})
	return nil, nil
}

// maxTokenLen bounds client-supplied text copied into a header.
const maxTokenLen = 255

// headerToken makes client-supplied text safe in a header value: printable
// ASCII only (anything else becomes '?'), no ';' or '"' that would split
// the fields, and at most maxTokenLen bytes, cut with a marker. A HELO
// name can thus never add a line to the header.
func headerToken(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r >= 0x7f || r == ';' || r == '"' || r == utf8.RuneError {
			return '?'
		}
		return r
	}, oneline.Cut(s, maxTokenLen))
}
