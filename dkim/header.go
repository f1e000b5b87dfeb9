package dkim

import (
	"bytes"
	"strings"
)

// HeaderBuilder rebuilds the header block of a message from the fields
// a milter is given, as the client sent them, for signatures to be
// checked and made over it.
type HeaderBuilder struct{ b bytes.Buffer }

// Add appends one field. raw says value is all the client sent after
// the colon (the MTA agreed to SMFIP_HDR_LEADSPC); otherwise the MTA
// swallowed a space, which is put back unless the value starts with a
// tab (Sendmail eats one space, not a tab). Folded lines get CRLF line
// ends.
func (h *HeaderBuilder) Add(name, value string, raw bool) {
	h.b.WriteString(name)
	h.b.WriteByte(':')
	if !raw && !strings.HasPrefix(value, "\t") {
		h.b.WriteByte(' ')
	}
	for {
		line, rest, more := strings.Cut(value, "\n")
		h.b.WriteString(strings.TrimSuffix(line, "\r"))
		h.b.WriteString("\r\n")
		if !more {
			return
		}
		value = rest
	}
}

// Bytes returns the header block, without the empty line that ends it.
func (h *HeaderBuilder) Bytes() []byte { return h.b.Bytes() }

// signatureFields returns the values of the DKIM-Signature fields of
// header, top first.
func signatureFields(header []byte) []string {
	var out []string
	for _, f := range splitFields(string(header)) {
		name, value, ok := strings.Cut(f, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), "DKIM-Signature") {
			out = append(out, value)
		}
	}
	return out
}

// splitFields splits a header block into its fields, folded lines kept
// with the field they continue.
func splitFields(h string) []string {
	var out []string
	for h != "" {
		end := 0
		for {
			i := strings.Index(h[end:], "\r\n")
			if i < 0 {
				end = len(h)
				break
			}
			end += i + 2
			if end >= len(h) || (h[end] != ' ' && h[end] != '\t') {
				break
			}
		}
		out = append(out, h[:end])
		h = h[end:]
	}
	return out
}

// describe reads what a result tells of a signature from its tags.
func describe(value string) Result {
	tags := parseTags(value)
	r := Result{Domain: strings.ToLower(tags["d"]), Selector: tags["s"], Algorithm: strings.ToLower(tags["a"]), Identifier: tags["i"]}
	if r.Identifier == "" && r.Domain != "" {
		r.Identifier = "@" + r.Domain
	}
	r.B = tags["b"]
	if len(r.B) > bLen {
		r.B = r.B[:bLen]
	}
	return r
}

// parseTags reads an RFC 6376 §3.2 tag list leniently, white space
// removed from the values: what is malformed is go-msgauth's to refuse.
func parseTags(s string) map[string]string {
	tags := map[string]string{}
	for _, t := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := tags[k]; !dup {
			tags[k] = strings.Join(strings.Fields(v), "")
		}
	}
	return tags
}
