// Package mime scans a message for attachments that can carry a virus and
// replaces them with a warning. It reads the message as mail clients do:
// leniently (missing closing boundaries, boundaries garbled by folding,
// bad base64), streaming over the spooled body, and it rewrites only the
// parts it removes — every other byte stays as it was.
package mime

import (
	"bytes"
	"fmt"
	"strings"

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
		t, ps, bad := parseField(f.Value)
		if bad != "" {
			return t, ps, bad
		}
		if !seen {
			ctype, params, seen = t, ps, true
			continue
		}
		if t != ctype || paramOf(ps, "boundary") != paramOf(params, "boundary") {
			why = fmt.Sprintf("two Content-Type fields that disagree (%s and %s)", oneline.Cut(ctype, 100), oneline.Cut(t, 100))
			return ctype, params, why
		}
	}
	// Thunderbird takes boundary*= over boundary=, others the first or the
	// last: the parts differ between them.
	if bs := valuesOf(params, "boundary"); strings.HasPrefix(ctype, "multipart/") && len(bs) > 1 {
		why = fmt.Sprintf("two boundary parameters that disagree (%s and %s)", oneline.Cut(bs[0], 100), oneline.Cut(bs[1], 100))
	}
	return ctype, params, why
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
		v := cteToken(f.Value)
		if seen && v != cte {
			return cte, fmt.Sprintf("two Content-Transfer-Encoding fields that disagree (%s and %s)", oneline.Cut(cte, 100), oneline.Cut(v, 100))
		}
		cte, seen = v, true
	}
	return cte, ""
}

// cteToken is the transfer encoding a Content-Transfer-Encoding field's
// value v names, a lower-case token.
func cteToken(v string) string {
	v = strings.ToLower(strings.TrimSpace(unfold(v)))
	if end := strings.IndexAny(v, " \t(;"); end >= 0 { // a comment after it
		v = v[:end]
	}
	return v
}

// isUUOrYEnc says whether transfer encoding cte (lower case) is a
// uuencode or a yEnc, in any of the names clients know them by
// (x-uuencode, uue, x-yencode …), which some clients decode and a scan
// does not.
func isUUOrYEnc(cte string) bool {
	return strings.Contains(cte, "uu") || strings.Contains(cte, "yenc")
}

// unfold joins folded lines.
func unfold(v string) string {
	if !strings.ContainsAny(v, "\r\n") {
		return v
	}
	return strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
}

// names are the names a part goes by, in every reading clients may have
// of them (parseField, wordValues): for a leaf (all), every Content-Type
// parameter value, whatever its attribute (Klez hid ".scr" in "ord="),
// and every Content-Disposition parameter value — of every such field,
// where a part has two; for a multipart or an attached message, the name
// and filename parameters only (a boundary is no name). why says so when
// they are too many to judge.
func names(h []Header, all bool) (out []string, why string) {
	for _, f := range h {
		if !f.Is("Content-Type") && !f.Is("Content-Disposition") {
			continue
		}
		_, ps, bad := parseField(f.Value)
		if why == "" {
			why = bad
		}
		for _, p := range ps {
			if !all && p.name != "name" && p.name != "filename" {
				continue
			}
			for _, v := range p.values {
				if v != "" {
					out = append(append(out, v), wordValues(v)...)
				}
			}
		}
	}
	return out, why
}

// bannedName returns the first of names that is banned, and the
// extension that bans it; "" if none is.
func bannedName(names, exts []string) (name, ext string) {
	for _, n := range names {
		if ext := bannedExt(n, exts); ext != "" {
			return n, ext
		}
	}
	return "", ""
}

// bannedExt returns the banned extension ("exe") that one of the names
// a client may save name under ends with, case-insensitively; "" if
// none does.
func bannedExt(name string, exts []string) string {
	if name == "" {
		return ""
	}
	for _, n := range savedNames(name) {
		for _, ext := range exts {
			if i := len(n) - len(ext); i > 0 && n[i-1] == '.' && strings.EqualFold(n[i:], ext) {
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
