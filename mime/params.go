package mime

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/oneline"
)

// param is one parameter of a structured field: its name (lower case)
// and the values clients may read it as, the one most read first.
type param struct {
	name   string
	values []string
}

// paramOf returns the value of the parameter called name, "" if none.
func paramOf(params []param, name string) string {
	for _, p := range params {
		if p.name == name {
			return p.values[0]
		}
	}
	return ""
}

// valuesOf returns every value clients may read the parameters called
// name as, each once.
func valuesOf(params []param, name string) []string {
	var out []string
	for _, p := range params {
		if p.name == name {
			for _, v := range p.values {
				out = addValue(out, v)
			}
		}
	}
	return out
}

// addValue appends v to values unless it is there already.
func addValue(values []string, v string) []string {
	for _, w := range values {
		if w == v {
			return values
		}
	}
	return append(values, v)
}

// maxIrregularSegments bounds the RFC 2231 segments of a parameter that
// are not numbered 0, 1, 2 … as written: each prefix of them is judged.
const maxIrregularSegments = 16

// parseField splits a Content-Type or Content-Disposition value into its
// lower-case token ("multipart/mixed", "attachment") and its parameters,
// each with every value clients may read it as: a token value also cut
// at its first whitespace, RFC 2231 segments joined and decoded. It is
// lenient: a parameter it cannot parse is skipped, the rest kept. why
// says so when a parameter's values are too many to judge.
func parseField(v string) (token string, params []param, why string) {
	v = strings.TrimLeft(unfold(v), " \t")
	// The token ends where clients end it: at whitespace, ";", "," or
	// a comment ("message/rfc822 (forwarded)").
	token = v
	if end := strings.IndexFunc(v, endsToken); end >= 0 {
		token = v[:end]
	}
	token = strings.ToLower(token)
	_, rest, _ := strings.Cut(v, ";")
	type extended struct {
		segs    []segment
		charset string
	}
	ext := map[string]*extended{}
	var order []string
	for rest != "" {
		var name, value string
		var quoted bool
		name, value, quoted, rest = nextParam(rest)
		if name == "" {
			continue
		}
		name = strings.ToLower(name)
		base, suffix, isExt := strings.Cut(name, "*")
		if !isExt {
			values := []string{value}
			if i := strings.IndexAny(value, " \t"); i > 0 && !quoted { // name=evil.exe x: Thunderbird saves evil.exe
				values = append(values, value[:i])
			}
			params = append(params, param{name, values})
			continue
		}
		num, encoded := strings.CutSuffix(suffix, "*")
		e := ext[base]
		if e == nil {
			e = &extended{}
			ext[base], order = e, append(order, base)
		}
		if encoded || suffix == "" {
			if cs, rest, ok := cutCharset(value); ok && (num == "0" || num == "") {
				value = rest
				if len(e.segs) == 0 || e.charset == "" {
					e.charset = cs
				}
			}
			value = percentDecode(value)
		}
		e.segs = append(e.segs, segment{num, value})
	}
	for _, base := range order {
		values, bad := segmentValues(ext[base].segs, ext[base].charset)
		if bad != "" && why == "" {
			why = fmt.Sprintf("a parameter %s in %s: clients differ on where it ends", oneline.Cut(base, 100), bad)
		}
		params = append(params, param{base, values})
	}
	return token, params, why
}

// segment is one piece of an RFC 2231 parameter: its number as written
// ("0", "1"; "" for name*=) and its value, percent-decoded if encoded.
type segment struct{ num, value string }

// segmentValues returns the values clients may read the segments of
// one parameter as, converted from charset cs. Numbered 0, 1, 2 … as
// written, they are joined. Otherwise clients differ: each prefix of
// them as written is a value (a client stops at a bad or repeated
// number), and so are all of them sorted by number (Python's email sorts
// them, then repeated numbers by value). why says so when they are more
// than maxIrregularSegments.
func segmentValues(segs []segment, cs string) (values []string, why string) {
	join := func(segs []segment) string {
		var b strings.Builder
		for _, s := range segs {
			b.WriteString(s.value)
		}
		return toUTF8(cs, b.String())
	}
	regular := true
	for i, s := range segs {
		regular = regular && (s.num == strconv.Itoa(i) || len(segs) == 1 && s.num == "")
	}
	if regular {
		return []string{join(segs)}, ""
	}
	number := func(s segment) int {
		if n, err := strconv.Atoi(s.num); err == nil && n >= 0 {
			return n
		}
		return int(^uint(0) >> 1) // not a number: last
	}
	sorted := append([]segment(nil), segs...)
	sort.SliceStable(sorted, func(i, j int) bool { return number(sorted[i]) < number(sorted[j]) })
	values = []string{join(sorted)}
	if len(segs) > maxIrregularSegments {
		return values, fmt.Sprintf("%d RFC 2231 segments out of order", len(segs))
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := number(sorted[i]), number(sorted[j])
		return a < b || a == b && sorted[i].value < sorted[j].value
	})
	values = addValue(values, join(sorted))
	for k := 1; k <= len(segs); k++ {
		values = addValue(values, join(segs[:k]))
	}
	return values, ""
}

// cutCharset splits an RFC 2231 value charset'language'value.
func cutCharset(v string) (cs, rest string, ok bool) {
	cs, rest, ok = strings.Cut(v, "'")
	if !ok {
		return "", v, false
	}
	if _, rest, ok = strings.Cut(rest, "'"); !ok {
		return "", v, false
	}
	return cs, rest, true
}

// percentDecode decodes %XX escapes; a "%" that starts none stays as it
// is, as clients leave it ("%ZZevil%2Eexe" is "%ZZevil.exe").
func percentDecode(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	b := []byte(s[:i])
	for ; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0 {
			b = append(b, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// endsToken says whether r ends a media type or a disposition type as
// clients read one: whitespace, a control character, ";", "," or "(".
func endsToken(r rune) bool {
	return r <= ' ' || r == 0x7f || r == ';' || r == ',' || r == '('
}

// nextParam reads `; name=value` (value a token or a quoted string) from
// s and returns the rest. A malformed piece yields an empty name.
func nextParam(s string) (name, value string, quoted bool, rest string) {
	s = strings.TrimLeft(s, " \t;")
	eq := strings.IndexAny(s, "=;")
	if eq < 0 || s[eq] == ';' {
		if eq < 0 {
			return "", "", false, ""
		}
		return "", "", false, s[eq+1:]
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
		return name, b.String(), true, rest
	}
	end := strings.IndexByte(s, ';')
	if end < 0 {
		return name, strings.TrimSpace(s), false, ""
	}
	return name, strings.TrimSpace(s[:end]), false, s[end:]
}
