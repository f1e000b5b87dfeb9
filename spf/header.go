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
	HeloResult Result  // the HELO check, when one was made
	BestGuess  Result  // the result with best guess, when it differs from the official one
	Forwarder  string  // the trusted forwarder the client passed SPF for, if any
	PTR        string  // the client's forward-confirmed PTR name
	IPRev      string  // pass, fail or temperror (RFC 8601 §3)
}

// ReceivedSPF renders the Received-SPF field (RFC 7208 §9.1) with bms.py's
// x-bestguess and x-helo-spf. Everything the client chose (addresses,
// HELO) is quoted or escaped, so it cannot add a line or a field.
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
// 8601): the SPF results of the MAIL FROM (or HELO, for the null sender)
// and of the HELO, and iprev.
func (r Report) AuthenticationResults() string {
	var parts []string
	spfPart := "spf=" + string(r.Check.Official())
	if r.BestGuess != "" {
		spfPart += " (best guess " + string(r.BestGuess) + ")"
	}
	if r.Check.Identity == Helo {
		parts = append(parts, spfPart+" smtp.helo="+value(r.Helo))
	} else {
		parts = append(parts, spfPart+" smtp.mailfrom="+value(r.Sender))
		if r.HeloResult != "" {
			parts = append(parts, "spf="+string(r.HeloResult)+" smtp.helo="+value(r.Helo))
		}
	}
	if r.IPRev != "" {
		ipr := "iprev=" + r.IPRev
		if r.PTR != "" {
			ipr += " (" + comment(r.PTR) + ")"
		}
		parts = append(parts, ipr+" policy.iprev="+r.IP.String())
	}
	return fold(len("Authentication-Results: "), value(r.Receiver)+";", parts, ";")
}

// maxValueLen bounds client-chosen text copied into a header.
const maxValueLen = 255

// value renders s as a dot-atom or, when it holds anything else, as a
// quoted-string; control characters and bytes outside ASCII become '?'.
func value(s string) string {
	s = printable(s)
	if isDotAtom(s) {
		return s
	}
	if at := strings.LastIndexByte(s, '@'); at > 0 { // local@domain, each part a dot-atom
		if local, domain := s[:at], s[at+1:]; isDotAtom(local) && isDotAtom(domain) {
			return s
		}
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func isDotAtom(s string) bool {
	return s != "" && strings.Trim(s, atext+".") == "" && s[0] != '.' && s[len(s)-1] != '.' && !strings.Contains(s, "..")
}

// atext is RFC 5322's atom characters.
const atext = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"

// comment makes s safe inside a header comment: parentheses and
// backslashes escaped.
func comment(s string) string {
	return strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`).Replace(printable(s))
}

// printable bounds s, cut with a marker, and replaces control characters
// (CR and LF first of all) and non-ASCII bytes with '?'.
func printable(s string) string {
	b := []byte(oneline.Cut(s, maxValueLen))
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
