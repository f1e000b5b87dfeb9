// Package hdrcheck checks the trace header fields maxwell writes the way
// their readers will parse them: Received-SPF with a strict parser of the
// RFC 7208 §9.1 grammar (written here, on RFC 5322's lexical tokens, with
// no obsolete syntax and no 8-bit bytes), and Authentication-Results
// (RFC 8601) with two independent parsers, github.com/emersion/go-msgauth's
// authres and Debian's python3-authres. The end-to-end tests run every
// message they receive through Message.
package hdrcheck

import (
	"fmt"
	"strings"
)

// ReceivedSPF is a parsed Received-SPF field.
type ReceivedSPF struct {
	Result  string // lower case: pass, fail, softfail, neutral, none, temperror, permerror
	Comment string // the comment after the result, its quoted-pairs decoded; "" if none
	Pairs   []Pair // the key-value pairs, in order
}

// Pair is one key-value pair of a Received-SPF field. Value is the
// dot-atom or the content of the quoted-string, its quoted-pairs
// decoded.
type Pair struct {
	Key, Value string
	Quoted     bool // the value was a quoted-string
}

// Get returns the value of the first pair called key (case-insensitive),
// and whether there is one.
func (r ReceivedSPF) Get(key string) (string, bool) {
	for _, p := range r.Pairs {
		if strings.EqualFold(p.Key, key) {
			return p.Value, true
		}
	}
	return "", false
}

// The results of RFC 7208 §9.1 and the keys it defines.
var (
	spfResults = []string{"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"}
	spfKeys    = []string{"client-ip", "envelope-from", "helo", "problem", "receiver", "identity", "mechanism"}
)

// ParseReceivedSPF parses the value of a Received-SPF field (what follows
// the colon, folded with CRLF or LF followed by white space, without the
// final line break) by RFC 7208 §9.1:
//
//	header-field   = "Received-SPF:" [CFWS] result FWS [comment FWS]
//	                 [ key-value-list ] CRLF
//	key-value-list = key-value-pair *( ";" [CFWS] key-value-pair ) [";"]
//	key-value-pair = key [CFWS] "=" ( dot-atom / quoted-string )
//	key            = "client-ip" / "envelope-from" / "helo" / "problem" /
//	                 "receiver" / "identity" / "mechanism" / name
//	name           = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
//
// dot-atom, quoted-string, comment, CFWS and FWS are RFC 5322's, without
// the obsolete forms and without RFC 6532's UTF-8. It is stricter than the
// grammar in two ways a writer can always satisfy: a key is one the RFC
// lists or an extension starting "x-", and identity= is mailfrom, helo or
// a name.
func ParseReceivedSPF(v string) (ReceivedSPF, error) {
	p := &lexer{s: strings.ReplaceAll(v, "\r\n", "\n")}
	var r ReceivedSPF
	if err := p.check(); err != nil {
		return r, err
	}
	p.cfws()
	start := p.i
	for p.i < len(p.s) && isAlpha(p.s[p.i]) {
		p.i++
	}
	r.Result = strings.ToLower(p.s[start:p.i])
	if !contains(spfResults, r.Result) {
		return r, p.errorf("a result (%s) expected", strings.Join(spfResults, ", "))
	}
	if p.i == len(p.s) {
		return r, p.errorf("FWS expected after the result") // header-field requires it
	}
	if !p.fws() {
		return r, p.errorf("FWS expected after the result")
	}
	if p.peek() == '(' {
		c, err := p.comment()
		if err != nil {
			return r, err
		}
		r.Comment = c
		if !p.fws() {
			return r, p.errorf("FWS expected after the comment")
		}
	}
	for p.i < len(p.s) {
		pair, err := p.pair()
		if err != nil {
			return r, err
		}
		r.Pairs = append(r.Pairs, pair)
		if p.i == len(p.s) {
			break
		}
		if p.s[p.i] != ';' {
			return r, p.errorf(`";" expected after a key-value pair`)
		}
		p.i++
		p.cfws()
	}
	for _, pair := range r.Pairs {
		if pair.Key == "identity" && pair.Value != "mailfrom" && pair.Value != "helo" && !isName(pair.Value) {
			return r, fmt.Errorf("identity=%q is not mailfrom, helo or a name", pair.Value)
		}
	}
	return r, nil
}

// pair reads key [CFWS] "=" ( dot-atom / quoted-string ).
func (p *lexer) pair() (Pair, error) {
	start := p.i
	for p.i < len(p.s) && (isAlpha(p.s[p.i]) || isDigit(p.s[p.i]) || strings.IndexByte("-_.", p.s[p.i]) >= 0) {
		p.i++
	}
	key := p.s[start:p.i]
	switch {
	case !isName(key):
		p.i = start
		return Pair{}, p.errorf("a key expected")
	case !contains(spfKeys, strings.ToLower(key)) && !strings.HasPrefix(strings.ToLower(key), "x-"):
		return Pair{}, fmt.Errorf("key %q is neither one of RFC 7208's nor an x- extension", key)
	}
	p.cfws()
	if p.peek() != '=' {
		return Pair{}, p.errorf(`"=" expected after key %s`, key)
	}
	p.i++
	p.cfws()
	var pair Pair
	pair.Key = strings.ToLower(key)
	if p.peek() == '"' {
		v, err := p.quotedString()
		if err != nil {
			return Pair{}, err
		}
		pair.Value, pair.Quoted = v, true
	} else {
		v, err := p.dotAtomText()
		if err != nil {
			return Pair{}, fmt.Errorf("%s: %w", key, err)
		}
		pair.Value = v
	}
	p.cfws()
	return pair, nil
}

// lexer reads RFC 5322's lexical tokens from s, with "\n" for CRLF.
type lexer struct {
	s string
	i int
}

func (p *lexer) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *lexer) errorf(format string, args ...any) error {
	near := p.s[p.i:]
	if len(near) > 20 {
		near = near[:20] + "..."
	}
	return fmt.Errorf("at byte %d (%q): %s", p.i, near, fmt.Sprintf(format, args...))
}

// check refuses what no token may hold anywhere: bytes outside printable
// ASCII other than HTAB and the line breaks of folding, bare CR, and a
// line break not followed by white space.
func (p *lexer) check() error {
	for i := 0; i < len(p.s); i++ {
		c := p.s[i]
		switch {
		case c == '\n':
			if i+1 == len(p.s) || (p.s[i+1] != ' ' && p.s[i+1] != '\t') {
				return fmt.Errorf("at byte %d: a line break not followed by white space", i)
			}
			if i+1 < len(p.s) && strings.Trim(lineAfter(p.s[i+1:]), " \t") == "" {
				return fmt.Errorf("at byte %d: a line of white space only", i)
			}
		case c == '\r':
			return fmt.Errorf("at byte %d: a CR without LF", i)
		case c >= 0x80:
			return fmt.Errorf("at byte %d: 8-bit byte 0x%02x", i, c)
		case c < ' ' && c != '\t', c == 0x7f:
			return fmt.Errorf("at byte %d: control byte 0x%02x", i, c)
		}
	}
	return nil
}

func lineAfter(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// fws reads FWS: ([*WSP CRLF] 1*WSP). It reports whether there was any.
func (p *lexer) fws() bool {
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
	return p.i > start
}

// cfws reads optional CFWS; a malformed comment is left for the caller to
// stumble on.
func (p *lexer) cfws() {
	for {
		p.fws()
		if p.peek() != '(' {
			return
		}
		save := p.i
		if _, err := p.comment(); err != nil {
			p.i = save
			return
		}
	}
}

// comment reads "(" *([FWS] ccontent) [FWS] ")" and returns its text.
func (p *lexer) comment() (string, error) {
	start := p.i
	var b strings.Builder
	depth := 0
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '(':
			if depth > 0 {
				b.WriteByte(c)
			}
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				p.i++
				return b.String(), nil
			}
			b.WriteByte(c)
		case c == '\\':
			if p.i+1 == len(p.s) || !isQuotable(p.s[p.i+1]) {
				return "", p.errorf("a backslash not followed by VCHAR or WSP in a comment")
			}
			p.i++
			b.WriteByte(p.s[p.i])
		case c == '\n':
		case isCtext(c) || c == ' ' || c == '\t':
			b.WriteByte(c)
		default:
			return "", p.errorf("byte %q not allowed in a comment", c)
		}
		p.i++
	}
	p.i = start
	return "", p.errorf("unbalanced comment")
}

// quotedString reads DQUOTE *([FWS] qcontent) [FWS] DQUOTE and returns its
// content, quoted-pairs decoded and folding removed.
func (p *lexer) quotedString() (string, error) {
	start := p.i
	p.i++ // the opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c == '\\':
			if p.i+1 == len(p.s) || !isQuotable(p.s[p.i+1]) {
				return "", p.errorf("a backslash not followed by VCHAR or WSP in a quoted-string")
			}
			p.i++
			b.WriteByte(p.s[p.i])
		case c == '\n':
		case isQtext(c) || c == ' ' || c == '\t':
			b.WriteByte(c)
		default:
			return "", p.errorf("byte %q not allowed in a quoted-string", c)
		}
		p.i++
	}
	p.i = start
	return "", p.errorf("unterminated quoted-string")
}

// dotAtomText reads 1*atext *("." 1*atext).
func (p *lexer) dotAtomText() (string, error) {
	start := p.i
	for p.i < len(p.s) && (isAtext(p.s[p.i]) || p.s[p.i] == '.') {
		p.i++
	}
	v := p.s[start:p.i]
	if !IsDotAtom(v) {
		p.i = start
		return "", p.errorf("a dot-atom or a quoted-string expected")
	}
	if p.i < len(p.s) && !strings.ContainsRune(" \t\n(;", rune(p.s[p.i])) {
		return "", p.errorf("byte %q not allowed in a dot-atom", p.s[p.i])
	}
	return v, nil
}

// IsDotAtom reports whether s is RFC 5322's dot-atom-text.
func IsDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAtext(s[i]) && s[i] != '.' {
			return false
		}
	}
	return true
}

func isName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && !isDigit(c) && strings.IndexByte("-_.", c) < 0 {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isAtext is RFC 5322 atext.
func isAtext(c byte) bool {
	return isAlpha(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// isCtext is RFC 5322 ctext: printable ASCII but "(", ")" and "\".
func isCtext(c byte) bool { return c >= 33 && c <= 126 && c != '(' && c != ')' && c != '\\' }

// isQtext is RFC 5322 qtext: printable ASCII but `"` and "\".
func isQtext(c byte) bool { return c >= 33 && c <= 126 && c != '"' && c != '\\' }

// isQuotable is what may follow a backslash in a quoted-pair: VCHAR / WSP.
func isQuotable(c byte) bool { return c >= 33 && c <= 126 || c == ' ' || c == '\t' }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
