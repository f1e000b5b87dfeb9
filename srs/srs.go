// Package srs holds the Sender Rewriting Scheme and Signed Envelope
// Sender, as pysrs (the companion of bms.py, Debian's python3-srs)
// writes and reads them, so that maxwell and pysrs can share a secret:
//
//   - SRS0=HHHH=TT=orig.example=user@fwd.example, a forwarded sender
//     (Guarded SRS, the SRS paper's default): a keyed hash, a day stamp,
//     the original domain and local part;
//   - SRS1=HHHH=first.example==HHHH=TT=orig.example=user@fwd.example,
//     an SRS0 address forwarded once more;
//   - SRS0=HHHH=TT==user@our.example, pysrs's "signing mode": our own
//     sender, signed so that bounces to it can be told from forgeries;
//   - SES=SIG=user@our.example, pysrs's SES, a signature with a time
//     code and a message number in base 38.
package srs

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/internal/dnsname"
)

// The SRS tags and the separator inside an SRS address.
const (
	tag0 = "SRS0"
	tag1 = "SRS1"
	sep  = "="
)

// Defaults as bms.py read them ([srs] maxage and hashlength).
const (
	DefaultMaxAge     = 8 // days
	DefaultHashLength = 8 // base64 characters
	// MaxHashLength is the longest hash: base64 of a SHA-1 HMAC is 27
	// characters and a padding '='.
	MaxHashLength = 27
	// MinHashLength is the shortest hash maxwell accepts in its
	// configuration; fewer characters are guessed too easily.
	MinHashLength = 4
)

// stampDigits are the day-stamp digits, upper case (pysrs's BASE32).
const stampDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

const (
	day       = 24 * time.Hour
	tickSlots = 32 * 32 // two base32 characters of days
)

// Kind is why an address could not be reversed or checked.
type Kind int

// The kinds of Error.
const (
	NotSRS    Kind = iota // not an SRS (or SES) address at all
	Malformed             // says SRS but its fields are missing
	BadHash               // the hash (signature) is not ours
	Expired               // signed by us, but more than maxage days ago
)

// Error is a refused address, with pysrs's words for it.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// KindOf returns the Kind of err, and false if err is not an *Error.
func KindOf(err error) (Kind, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, true
	}
	return 0, false
}

// Options configure a Rewriter.
type Options struct {
	// Secrets: the first signs, every one is accepted, so a secret can
	// be replaced while addresses made with the old one are in flight.
	Secrets    []string
	MaxAge     int    // days an address stays valid; 0 is DefaultMaxAge
	HashLength int    // characters of hash written; 0 is DefaultHashLength
	Separator  string // after the SRS tag: "=" (default), "+" or "-"
	// AlwaysRewrite forwards a sender even when it is already in the
	// forwarding domain (pysrs's alwaysrewrite).
	AlwaysRewrite bool
	Now           func() time.Time // the clock; nil is time.Now
}

// Rewriter makes and reverses SRS addresses. It is safe for concurrent
// use.
type Rewriter struct {
	secrets    [][]byte
	maxAge     int
	hashLength int
	separator  string
	always     bool
	now        func() time.Time
}

// New returns a Rewriter, or an error naming what is wrong with o.
func New(o Options) (*Rewriter, error) {
	r := &Rewriter{maxAge: o.MaxAge, hashLength: o.HashLength, separator: o.Separator, always: o.AlwaysRewrite, now: o.Now}
	if len(o.Secrets) == 0 {
		return nil, errors.New("no secret: SRS needs at least one")
	}
	for _, s := range o.Secrets {
		if s == "" {
			return nil, errors.New("an empty secret")
		}
		r.secrets = append(r.secrets, []byte(s))
	}
	if r.maxAge == 0 {
		r.maxAge = DefaultMaxAge
	}
	if r.maxAge < 1 || r.maxAge >= tickSlots {
		return nil, fmt.Errorf("maxage %d days: want 1 to %d", r.maxAge, tickSlots-1)
	}
	if r.hashLength == 0 {
		r.hashLength = DefaultHashLength
	}
	if r.hashLength < 1 || r.hashLength > MaxHashLength {
		return nil, fmt.Errorf("hashlength %d: want 1 to %d", r.hashLength, MaxHashLength)
	}
	if r.separator == "" {
		r.separator = "="
	}
	if !ValidSeparator(r.separator) {
		return nil, fmt.Errorf("separator %q: want =, + or -", r.separator)
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// ValidSeparator reports whether s may follow the SRS tag.
func ValidSeparator(s string) bool { return s == "=" || s == "+" || s == "-" }

// MaxAge is how many days an address stays valid.
func (r *Rewriter) MaxAge() int { return r.maxAge }

// IsSRS reports whether an address (or its local part) has the form of
// an SRS address: SRS0 or SRS1 and a separator, in any case.
func IsSRS(addr string) bool {
	return len(addr) > 4 && (hasTag(addr, tag0) || hasTag(addr, tag1))
}

// hasTag reports whether local starts with tag and a separator.
func hasTag(local, tag string) bool {
	return len(local) > len(tag) && strings.EqualFold(local[:len(tag)], tag) && strings.IndexByte("=+-", local[len(tag)]) >= 0
}

// splitAddr splits an address at its last '@' and takes the quotes off
// a quoted local part, as pysrs's parse_addr does. The domain must be
// one an SRS address can hold: not empty, without '='.
func splitAddr(addr string) (quote, local, domain string, err error) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", "", "", &Error{Malformed, fmt.Sprintf("sender %q must contain exactly one @", addr)}
	}
	if d := addr[at+1:]; d == "" || strings.Contains(d, sep) {
		return "", "", "", &Error{Malformed, fmt.Sprintf("%q is not a domain an SRS address can hold", d)}
	}
	local, domain = addr[:at], addr[at+1:]
	if len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"' {
		return `"`, local[1 : len(local)-1], domain, nil
	}
	return "", local, domain, nil
}

// Forward rewrites sender into the forwarding domain alias (a domain,
// or an address whose domain is used). A sender already in that domain
// is returned as it is, unless AlwaysRewrite; an SRS0 sender becomes
// SRS1, an SRS1 sender stays SRS1 with our hash over its first hop.
func (r *Rewriter) Forward(sender, alias string) (string, error) {
	quote, local, host, err := splitAddr(sender)
	if err != nil {
		return "", err
	}
	aliasHost := alias[strings.LastIndexByte(alias, '@')+1:]
	if strings.EqualFold(aliasHost, host) && !r.always {
		return sender, nil
	}
	data, err := r.compile(host, local, "")
	if err != nil {
		return "", err
	}
	return quote + data + quote + "@" + aliasHost, nil
}

// Sign rewrites sender in its own domain (pysrs's signing mode):
// SRS0=HHHH=TT==local@domain, so that a bounce to it can be checked.
func (r *Rewriter) Sign(sender string) (string, error) {
	quote, local, host, err := splitAddr(sender)
	if err != nil {
		return "", err
	}
	data, err := r.compile(host, local, host)
	if err != nil {
		return "", err
	}
	return quote + data + quote + "@" + host, nil
}

// compile is pysrs's Guarded.compile: the local part of the new address.
// srsHost, when it is the sender's own host, leaves the host out
// (signing mode).
func (r *Rewriter) compile(host, local, srsHost string) (string, error) {
	if !validDomain(host) {
		return "", &Error{Malformed, fmt.Sprintf("%q is not a domain an SRS address can hold", host)}
	}
	if hasTag(local, tag1) {
		// SRS1=HHHH=first.example==HHHH=TT=orig=user: keep the first
		// hop and the SRS0 part as they are; only the hash is ours.
		parts := strings.SplitN(local[len(tag1)+1:], sep, 3)
		if len(parts) < 3 || !srs1Fields(parts[1], parts[2]) { // as parse would refuse it
			return "", &Error{Malformed, "Invalid SRS1 address"}
		}
		first, rest := parts[1], parts[2]
		return tag1 + r.separator + strings.Join([]string{r.hash(first, rest), first, rest}, sep), nil
	}
	if hasTag(local, tag0) {
		// The SRS0 part, separator and all, goes into an SRS1 address.
		rest := local[len(tag0):]
		return tag1 + r.separator + strings.Join([]string{r.hash(host, rest), host, rest}, sep), nil
	}
	stamp := r.stamp()
	h := r.hash(stamp, host, local)
	if host == srsHost {
		host = ""
	}
	return tag0 + r.separator + strings.Join([]string{h, stamp, host, local}, sep), nil
}

// Reverse returns the address an SRS address stands for: the original
// sender of an SRS0 address, the SRS0 address of the first hop of an
// SRS1 address. Quotes around the local part are kept.
func (r *Rewriter) Reverse(addr string) (string, error) {
	quote, local, host, err := splitAddr(addr)
	if err != nil {
		return "", err
	}
	origHost, origLocal, err := r.parse(local, host)
	if err != nil {
		return "", err
	}
	return quote + origLocal + quote + "@" + origHost, nil
}

// ReverseAll reverses addr until it is no SRS address of ours: an SRS1
// address of ours becomes the SRS0 address of the first hop, which is
// ours too when we were the first hop as well.
func (r *Rewriter) ReverseAll(addr string) (string, error) {
	out, err := r.Reverse(addr)
	if err != nil {
		return "", err
	}
	for i := 0; i < 2 && IsSRS(out); i++ {
		next, err := r.Reverse(out)
		if err != nil {
			break // the first hop's SRS0: another site's to check
		}
		out = next
	}
	return out, nil
}

// parse is pysrs's Guarded.parse: the host and local part an SRS local
// part stands for, its hash and age checked.
func (r *Rewriter) parse(local, srsHost string) (host, user string, err error) {
	switch {
	case hasTag(local, tag1):
		parts := strings.SplitN(local[len(tag1)+1:], sep, 3)
		if len(parts) < 3 {
			return "", "", &Error{Malformed, "Invalid SRS1 address"}
		}
		h, first, rest := parts[0], parts[1], parts[2]
		if strings.Contains(h, ".") {
			return "", "", &Error{Malformed, "Hashless SRS1 address received when AllowUnsafeSrs is not set"}
		}
		if !srs1Fields(first, rest) {
			return "", "", &Error{Malformed, "Invalid SRS1 address"}
		}
		if !r.hashOK(h, first, rest) {
			return "", "", &Error{BadHash, "Invalid hash"}
		}
		return first, tag0 + rest, nil
	case hasTag(local, tag0):
		parts := strings.SplitN(local[len(tag0)+1:], sep, 4)
		if len(parts) < 4 {
			return "", "", &Error{Malformed, "Invalid SRS0 address"}
		}
		h, stamp, host, user := parts[0], parts[1], parts[2], parts[3]
		if host == "" {
			host = srsHost
		}
		if !validDomain(host) {
			return "", "", &Error{Malformed, "Invalid SRS0 address"}
		}
		if !r.hashOK(h, stamp, host, user) {
			return "", "", &Error{BadHash, "Invalid hash"}
		}
		if !r.stampOK(stamp) {
			return "", "", &Error{Expired, "Invalid timestamp"}
		}
		return host, user, nil
	}
	return "", "", &Error{NotSRS, "Reverse address does not match ^SRS0[-+=]"}
}

// srs1Fields reports whether the first hop and the rest of an SRS1
// address are what an SRS1 address holds: a domain, and an SRS0 local
// part from its separator on. pysrs takes any two strings, which lets a
// sender choose what our hash is computed over: these bounds narrow it.
func srs1Fields(first, rest string) bool {
	return validDomain(first) && rest != "" && strings.IndexByte("=+-", rest[0]) >= 0
}

// validDomain reports whether s is a domain as mail is sent to, of two
// labels at least. pysrs takes any string; a hash over an odd one is a
// hash a sender chose.
func validDomain(s string) bool {
	return dnsname.Valid(s) && strings.Contains(strings.TrimSuffix(s, "."), ".")
}

// hash is pysrs's hash_create: HMAC-SHA1 under the first secret of the
// fields in lower case (ASCII only, as Python's bytes.lower), base64,
// cut to hashlength characters.
func (r *Rewriter) hash(fields ...string) string {
	return mac(r.secrets[0], fields)[:r.hashLength]
}

// mac is the whole base64 HMAC of fields under one secret.
func mac(secret []byte, fields []string) string {
	m := hmac.New(sha1.New, secret)
	for _, f := range fields {
		m.Write([]byte(asciiLower(f)))
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// hashOK is pysrs's hash_verify: a hash of at least hashlength
// characters that some secret made, compared as written, then, as a
// remote MTA may have changed the case of the local part, in any case.
func (r *Rewriter) hashOK(h string, fields ...string) bool {
	if len(h) < r.hashLength || len(h) > MaxHashLength {
		return false
	}
	valid := make([]string, len(r.secrets))
	for i, s := range r.secrets {
		valid[i] = mac(s, fields)[:len(h)]
		if hmac.Equal([]byte(valid[i]), []byte(h)) {
			return true
		}
	}
	for _, v := range valid {
		if strings.EqualFold(v, h) {
			return true
		}
	}
	return false
}

// stamp is today's day stamp: the day number's low ten bits, two stampDigits
// characters.
func (r *Rewriter) stamp() string {
	d := r.now().Unix() / int64(day/time.Second)
	return string([]byte{stampDigits[(d>>5)&31], stampDigits[d&31]})
}

// stampOK is pysrs's timestamp_check: the stamp is from one of the last
// maxage days (counting today), the day count wrapping every 1024 days.
func (r *Rewriter) stampOK(stamp string) bool {
	if len(stamp) != 2 {
		return false
	}
	ts := 0
	for _, c := range strings.ToUpper(stamp) {
		d := strings.IndexRune(stampDigits, c)
		if d < 0 {
			return false
		}
		ts = ts*32 + d
	}
	now := int(r.now().Unix()/int64(day/time.Second)) % tickSlots
	for now < ts {
		now += tickSlots
	}
	return now <= ts+r.maxAge
}

// asciiLower lowers ASCII letters only, as Python's bytes.lower does.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
