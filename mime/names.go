// Package mime scans a message for attachments that can carry a virus and
// replaces them with a warning. It reads the message as mail clients do:
// leniently (missing closing boundaries, boundaries garbled by folding,
// bad base64), streaming over the spooled body, and it rewrites only the
// parts it removes — every other byte stays as it was.
package mime

import (
	"bytes"
	"fmt"
	"io"
	stdmime "mime"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/emersion/go-message/charset"

	"github.com/maxwell-milter/maxwell/internal/oneline"
)

// Header is one header field, value unfolded or not.
type Header struct {
	Name, Value string
}

// Is says whether the field is called name, in any case. Whitespace
// before the colon (RFC 5322's obsolete syntax: "Content-Type : …") is
// not part of the name: mail clients read such a field by its name.
func (f Header) Is(name string) bool {
	return strings.EqualFold(strings.TrimRight(f.Name, " \t"), name)
}

// contentType returns the media type (lower case, "" if none) and the
// parameters of the Content-Type of header h. Where h has several that
// disagree on the type or the boundary, clients differ on which counts,
// so the structure of the part is not known: why says so. An empty
// field is no field: clients read the type as if it were absent.
func contentType(h []Header) (ctype string, params []param, why string) {
	seen := false
	for _, f := range h {
		if !f.Is("Content-Type") || strings.TrimSpace(unfold(f.Value)) == "" {
			continue
		}
		t, ps := parseField(f.Value)
		if !seen {
			ctype, params, seen = t, ps, true
			continue
		}
		if t != ctype || paramOf(ps, "boundary") != paramOf(params, "boundary") {
			why = fmt.Sprintf("two Content-Type fields that disagree (%s and %s)", oneline.Cut(ctype, 100), oneline.Cut(t, 100))
			return ctype, params, why
		}
	}
	return ctype, params, ""
}

// transferEncoding returns the Content-Transfer-Encoding of header h as
// a lower-case token ("" if none); why says so where h has several that
// disagree.
func transferEncoding(h []Header) (cte, why string) {
	seen := false
	for _, f := range h {
		if !f.Is("Content-Transfer-Encoding") {
			continue
		}
		v := strings.ToLower(strings.TrimSpace(unfold(f.Value)))
		if end := strings.IndexAny(v, " \t(;"); end >= 0 { // a comment after it
			v = v[:end]
		}
		if seen && v != cte {
			return cte, fmt.Sprintf("two Content-Transfer-Encoding fields that disagree (%s and %s)", oneline.Cut(cte, 100), oneline.Cut(v, 100))
		}
		cte, seen = v, true
	}
	return cte, ""
}

// isUUOrYEnc says whether transfer encoding cte (lower case) is a
// uuencode or a yEnc, in any of the names clients know them by
// (x-uuencode, uue, x-yencode …), which some clients decode and a scan
// does not.
func isUUOrYEnc(cte string) bool {
	return strings.Contains(cte, "uu") || strings.Contains(cte, "yenc")
}

// paramOf returns the value of the parameter called name, "" if none.
func paramOf(params []param, name string) string {
	for _, p := range params {
		if p.name == name {
			return p.value
		}
	}
	return ""
}

// param is one parameter of a structured field.
type param struct{ name, value string }

// parseField splits a Content-Type or Content-Disposition value into its
// lower-case token ("multipart/mixed", "attachment") and its parameters,
// RFC 2231 continuations joined and decoded, RFC 2047 words decoded. It
// is lenient: a parameter it cannot parse is skipped, the rest kept.
func parseField(v string) (token string, params []param) {
	v = strings.TrimLeft(unfold(v), " \t")
	// The token ends where clients end it: at whitespace, ";", "," or
	// a comment ("message/rfc822 (forwarded)").
	token = v
	if end := strings.IndexFunc(v, endsToken); end >= 0 {
		token = v[:end]
	}
	token = strings.ToLower(token)
	_, rest, _ := strings.Cut(v, ";")
	type segment struct {
		n       int
		encoded bool
		value   string
	}
	extended := map[string][]segment{}
	var order []string
	for rest != "" {
		var name, value string
		name, value, rest = nextParam(rest)
		if name == "" {
			continue
		}
		name = strings.ToLower(name)
		base, ext, isExt := strings.Cut(name, "*")
		if !isExt {
			params = append(params, param{name, decodeWords(value)})
			continue
		}
		seg := segment{encoded: strings.HasSuffix(ext, "*") || ext == "", value: value}
		if ext != "" {
			seg.n, _ = strconv.Atoi(strings.TrimSuffix(ext, "*"))
		}
		if _, seen := extended[base]; !seen {
			order = append(order, base)
		}
		extended[base] = append(extended[base], seg)
	}
	for _, base := range order {
		segs := extended[base]
		sort.SliceStable(segs, func(i, j int) bool { return segs[i].n < segs[j].n })
		var b strings.Builder
		cs := ""
		for i, s := range segs {
			val := s.value
			if s.encoded {
				if i == 0 { // charset'language'value
					if parts := strings.SplitN(val, "'", 3); len(parts) == 3 {
						cs, val = parts[0], parts[2]
					}
				}
				if u, err := url.PathUnescape(val); err == nil {
					val = u
				}
			}
			b.WriteString(val)
		}
		params = append(params, param{base, toUTF8(cs, b.String())})
	}
	return token, params
}

// endsToken says whether r ends a media type or a disposition type as
// clients read one: whitespace, a control character, ";", "," or "(".
func endsToken(r rune) bool {
	return r <= ' ' || r == 0x7f || r == ';' || r == ',' || r == '('
}

// nextParam reads `; name=value` (value a token or a quoted string) from
// s and returns the rest. A malformed piece yields an empty name.
func nextParam(s string) (name, value, rest string) {
	s = strings.TrimLeft(s, " \t;")
	eq := strings.IndexAny(s, "=;")
	if eq < 0 || s[eq] == ';' {
		if eq < 0 {
			return "", "", ""
		}
		return "", "", s[eq+1:]
	}
	name = strings.TrimSpace(s[:eq])
	s = strings.TrimLeft(s[eq+1:], " \t")
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
		}
		rest = ""
		if i < len(s) {
			rest = s[i+1:]
		}
		if semi := strings.IndexByte(rest, ';'); semi >= 0 {
			rest = rest[semi:]
		} else {
			rest = ""
		}
		return name, b.String(), rest
	}
	end := strings.IndexByte(s, ';')
	if end < 0 {
		return name, strings.TrimSpace(s), ""
	}
	return name, strings.TrimSpace(s[:end]), s[end:]
}

var wordDecoder = &stdmime.WordDecoder{CharsetReader: charset.Reader}

// decodeWords decodes RFC 2047 encoded words, which many clients put in
// quoted parameter values although RFC 2047 forbids it.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// toUTF8 converts s from charset cs (RFC 2231), leaving it as it is when
// the charset is unknown: the extension is ASCII either way.
func toUTF8(cs, s string) string {
	if cs == "" || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "us-ascii") {
		return s
	}
	r, err := charset.Reader(cs, strings.NewReader(s))
	if err != nil {
		return s
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return s
	}
	return string(b)
}

// unfold joins folded lines.
func unfold(v string) string {
	if !strings.ContainsAny(v, "\r\n") {
		return v
	}
	return strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
}

// names are the names a part goes by: every Content-Type parameter value,
// whatever its attribute (Klez hid ".scr" in "ord="), and every
// Content-Disposition parameter value (filename) — of every such field,
// where a part has two.
func names(h []Header) []string {
	var out []string
	for _, f := range h {
		if !f.Is("Content-Type") && !f.Is("Content-Disposition") {
			continue
		}
		_, ps := parseField(f.Value)
		for _, p := range ps {
			if p.value != "" {
				out = append(out, p.value)
			}
		}
	}
	return out
}

// bannedExt returns the banned extension ("exe") that one of the names
// a client may save name under ends with, case-insensitively; "" if
// none does.
func bannedExt(name string, exts []string) string {
	for _, n := range savedNames(name) {
		n = strings.ToLower(n)
		for _, ext := range exts {
			if strings.HasSuffix(n, "."+strings.ToLower(ext)) {
				return ext
			}
		}
	}
	return ""
}

// isZip says whether a client may save name as a .zip file.
func isZip(name string) bool { return bannedExt(name, []string{"zip"}) != "" }

// savedNames are the names a client may save an attachment called name
// under, so that each is judged: the name as given; cut at its first
// control character (a C string ends at NUL: "evil.exe\x00.txt" is
// saved as evil.exe); with its control characters removed; and each of
// those without an NTFS stream suffix ("evil.exe::$DATA" and
// "evil.exe:Zone.Identifier" write evil.exe). Trailing dots and spaces
// are dropped, as Windows drops them.
func savedNames(name string) []string {
	out := []string{name}
	isControl := func(r rune) bool { return r < 0x20 || r == 0x7f }
	if i := strings.IndexFunc(name, isControl); i >= 0 {
		out = append(out, name[:i], strings.Map(func(r rune) rune {
			if isControl(r) {
				return -1
			}
			return r
		}, name))
	}
	for _, n := range out {
		base := strings.LastIndexAny(n, `/\`) + 1 // a drive's colon is before the file name
		if colon := strings.IndexByte(n[base:], ':'); colon >= 0 {
			out = append(out, n[:base+colon])
		}
	}
	for i, n := range out {
		out[i] = strings.TrimRight(n, ". \t")
	}
	return out
}

// SplitMessage splits a whole message into its header fields (values as
// written, folding kept) and its body.
func SplitMessage(raw []byte) ([]Header, []byte) {
	var h []Header
	rest := raw
	for len(rest) > 0 {
		end := bytes.IndexByte(rest, '\n')
		if end < 0 {
			end = len(rest) - 1
		}
		line := rest[:end+1]
		t := bytes.TrimRight(line, "\r\n")
		if len(t) == 0 {
			return h, rest[end+1:]
		}
		if (t[0] == ' ' || t[0] == '\t') && len(h) > 0 {
			h[len(h)-1].Value += "\r\n" + string(t)
		} else if name, value, ok := bytes.Cut(t, []byte(":")); ok {
			h = append(h, Header{Name: string(name), Value: strings.TrimLeft(string(value), " \t")})
		} else {
			return h, rest // no blank line: the body starts here
		}
		rest = rest[end+1:]
	}
	return h, nil
}
