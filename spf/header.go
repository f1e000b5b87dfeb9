package spf

import (
	"net/netip"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/oneline"
)

// Report is what maxwell found about a message's sender identities, for
// the Received-SPF and Authentication-Results header fields.
type Report struct {
	Receiver   string     // our name: receiver= and the authserv-id
	IP         netip.Addr // the client
	Helo       string
	Sender     string  // MAIL FROM as given; "" for the null sender
	Check      Outcome // the MAIL FROM check (the HELO identity for the null sender)
	HeloResult Result  // the official result of the HELO check, when one was made
	HeloGuess  Result  // the HELO check's best guess, when it differs from HeloResult
	BestGuess  Result  // the result with best guess, when it differs from the official one
	Forwarder  string  // the trusted forwarder the client passed SPF for, if any
	PTR        string  // the client's forward-confirmed PTR name
	// IPRev is the iprev result (RFC 8601 §2.7.3): pass, fail (the PTR
	// names do not lead back to the address), permerror (no PTR record)
	// or temperror.
	IPRev string
}

// ReceivedSPF renders the Received-SPF field (RFC 7208 §9.1) with bms.py's
// x-bestguess and x-helo-spf, and x-helo-bestguess. Every value is a
// dot-atom or a quoted-string (RFC 5322), so everything the client chose
// (addresses, HELO) is quoted or escaped and cannot add a line, a field
// or a key-value pair.
func (r Report) ReceivedSPF() string {
	res := r.Check.Official()
	parts := []string{string(res) + " (" + comment(r.Receiver) + ": " + r.explain(res) + ")"}
	kv := func(k, v string) { parts = append(parts, k+"="+value(v)) }
	kv("client-ip", r.IP.String())
	kv("envelope-from", r.Sender)
	kv("helo", r.Helo)
	kv("receiver", r.Receiver)
	kv("identity", string(r.Check.Identity))
	switch {
	case res == PermError || res == TempError:
		kv("problem", r.Check.Problem)
	case r.Check.Mechanism != "" && !r.Check.Guessed:
		kv("mechanism", r.Check.Mechanism)
	}
	if r.Forwarder != "" {
		kv("x-trusted-forwarder", r.Forwarder)
	}
	if r.BestGuess != "" {
		kv("x-bestguess", string(r.BestGuess))
	}
	if r.HeloResult != "" && !strings.EqualFold(r.Helo, r.Check.Domain) {
		kv("x-helo-spf", string(r.HeloResult))
		if r.HeloGuess != "" {
			kv("x-helo-bestguess", string(r.HeloGuess))
		}
	}
	return fold(len("Received-SPF: "), parts[0], parts[1:], ";")
}

// explain is the comment of Received-SPF, in the words of RFC 7208 §9.1.
func (r Report) explain(res Result) string {
	who := "domain of " + comment(r.Check.Sender)
	ip := r.IP.String()
	switch res {
	case Pass:
		return who + " designates " + ip + " as permitted sender"
	case Fail:
		return who + " does not designate " + ip + " as permitted sender"
	case SoftFail:
		return "domain of transitioning " + comment(r.Check.Sender) + " does not designate " + ip + " as permitted sender"
	case Neutral:
		return ip + " is neither permitted nor denied by " + who
	case None:
		return who + " does not designate permitted sender hosts"
	case TempError:
		return "temporary error in processing during lookup of " + comment(r.Check.Sender)
	}
	return "permanent error in processing " + who
}

// AuthenticationResults renders the Authentication-Results field (RFC
// 8601) of the SPF checks alone.
func (r Report) AuthenticationResults() string {
	return AuthResults(r.Receiver, r.AuthResultParts())
}

// AuthResults renders an Authentication-Results value: receiver's
// authserv-id and the results, folded.
func AuthResults(receiver string, parts []string) string {
	return fold(len("Authentication-Results: "), ARValue(receiver)+";", parts, ";")
}

// AuthResultParts are the SPF results of an Authentication-Results
// field: the MAIL FROM's (or the HELO's, for the null sender) and the
// HELO's, each best guess in a comment, and iprev. Property values are
// tokens, local-part@domain, or quoted-strings (ARValue).
func (r Report) AuthResultParts() []string {
	var parts []string
	spfPart := "spf=" + string(r.Check.Official())
	if r.BestGuess != "" {
		spfPart += " (best guess " + string(r.BestGuess) + ")"
	}
	if r.Check.Identity == Helo {
		parts = append(parts, spfPart+" smtp.helo="+ARValue(r.Helo))
	} else {
		parts = append(parts, spfPart+" smtp.mailfrom="+ARValue(r.Sender))
		if r.HeloResult != "" {
			helo := "spf=" + string(r.HeloResult)
			if r.HeloGuess != "" {
				helo += " (best guess " + string(r.HeloGuess) + ")"
			}
			parts = append(parts, helo+" smtp.helo="+ARValue(r.Helo))
		}
	}
	if r.IPRev != "" {
		ipr := "iprev=" + r.IPRev
		if r.PTR != "" {
			ipr += " (" + ARComment(r.PTR) + ")"
		}
		parts = append(parts, ipr+" policy.iprev="+ARValue(r.IP.String()))
	}
	return parts
}

// maxValueLen bounds client-chosen text copied into a header.
const maxValueLen = 255

// value renders s as a Received-SPF value (RFC 7208 §9.1): a dot-atom or,
// when it holds anything else (an address's "@", an IPv6 address's ":",
// white space), a quoted-string; control characters and bytes outside
// ASCII become '?'.
func value(s string) string {
	s = printable(s)
	if isDotAtom(s) {
		return s
	}
	return quote(s)
}

// The escapes of a quoted-string and of a comment, built once: a
// Replacer costs more to build than to use.
var (
	quotedPair  = strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	commentPair = strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)
)

// quote renders printable ASCII s as an RFC 5322 quoted-string.
func quote(s string) string {
	return `"` + quotedPair.Replace(s) + `"`
}

// ARValue renders s as an Authentication-Results pvalue (RFC 8601 §2.2):
// an RFC 2045 token, local-part@domain-name with a local part that is
// both a dot-atom and a token (no "=", "/" or "?" to look like another
// property), or else a quoted-string. Control characters and bytes outside ASCII
// become '?', and so do ';', white space and parentheses: widely used parsers
// (go-msgauth's authres among them) split the field at every ';' and a
// result at white space, quoted or not, so a client's HELO could
// otherwise add a result for them; python3-authres takes a '(' in a
// quoted-string for a comment and refuses the field.
func ARValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == ';' || r == ' ' || r == '(' || r == ')' {
			return '?'
		}
		return r
	}, printable(s))
	if isToken(s) {
		return s
	}
	if at := strings.LastIndexByte(s, '@'); at > 0 {
		if local, domain := s[:at], s[at+1:]; isDotAtom(local) && isToken(local) && isDomainName(domain) {
			return s
		}
	}
	return quote(s)
}

// ARComment makes s safe in an Authentication-Results comment: as
// comment, with ';' replaced for the parsers ARValue tells of.
func ARComment(s string) string {
	return strings.ReplaceAll(comment(s), ";", "?")
}

// isToken reports whether s is an RFC 2045 token: printable ASCII but
// SPACE and tspecials.
func isToken(s string) bool {
	return s != "" && strings.Trim(s, tokenChars) == ""
}

// tokenChars is RFC 2045's token characters: printable ASCII but SPACE
// and tspecials ()<>@,;:\"/[]?=.
const tokenChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`{|}~"

// isDomainName reports whether s is RFC 6376's domain-name: labels of
// letters, digits and inner hyphens, at least two.
func isDomainName(s string) bool {
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || l[0] == '-' || l[len(l)-1] == '-' || strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
			return false
		}
	}
	return true
}

func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !dotAtomText[s[i]] {
			return false
		}
	}
	return true
}

// atext is RFC 5322's atom characters.
const atext = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"

// dotAtomText marks atext and '.': a table, as isDotAtom is asked of
// every value of two header fields a message.
var dotAtomText = func() (t [256]bool) {
	for _, c := range []byte(atext + ".") {
		t[c] = true
	}
	return t
}()

// comment makes s safe inside a header comment: parentheses and
// backslashes escaped.
func comment(s string) string {
	return commentPair.Replace(printable(s))
}

// printable bounds s, cut with a marker, and replaces control characters
// (CR and LF first of all) and non-ASCII bytes with '?'.
func printable(s string) string {
	s = oneline.Cut(s, maxValueLen)
	i := 0
	for i < len(s) && s[i] >= ' ' && s[i] <= '~' {
		i++
	}
	if i == len(s) {
		return s // nearly always: no copy
	}
	b := []byte(s)
	for i, c := range b {
		if c < ' ' || c > '~' {
			b[i] = '?'
		}
	}
	return string(b)
}

// fold joins head and parts with sep and a space, or a line break and a
// tab where a part would take the line past 78 characters; indent is the
// length of the field name and colon.
func fold(indent int, head string, parts []string, sep string) string {
	var b strings.Builder
	size := len(head)
	for _, p := range parts {
		size += len(sep) + 3 + len(p) // at most "\n\t" or " " before each
	}
	b.Grow(size)
	b.WriteString(head)
	col := indent + len(head)
	for i, p := range parts {
		if i > 0 {
			b.WriteString(sep)
			col += len(sep)
		}
		if col+1+len(p) > 78 {
			b.WriteString("\n\t")
			col = 8
		} else {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(p)
		col += len(p)
	}
	return b.String()
}
