package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"regexp"
	"strings"

	"github.com/miekg/dns"

	"github.com/maxwell-milter/maxwell/dkim"
	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/resolver"
	"github.com/maxwell-milter/maxwell/spf"
)

// dkimMessage is what DKIM makes of one message: the signatures checked
// while the body arrives, and those made for it.
type dkimMessage struct {
	header  []byte // the header block as the client sent it, for signing again a replaced body
	verify  *dkim.Verifier
	sign    *dkim.Signing
	keys    []dkim.Key
	results []dkim.Result // the verdicts, at end of message
}

// loadDKIMKeys reads the [dkim] keys.
func loadDKIMKeys(cfg *config.Config) ([]dkim.Key, error) {
	var keys []dkim.Key
	for _, k := range cfg.DKIM.Keys {
		signer, err := dkim.LoadKey(cfg.KeyPath(k))
		if errors.Is(err, fs.ErrPermission) {
			err = fmt.Errorf("%w (the key must be readable by the user maxwell runs as: chown maxwell: %s)", err, cfg.KeyPath(k))
		}
		if err != nil {
			return nil, fmt.Errorf("dkim.keys %s._domainkey.%s: %w", k.Selector, k.Domain, err)
		}
		keys = append(keys, dkim.Key{Domain: strings.ToLower(strings.TrimSuffix(k.Domain, ".")), Selector: k.Selector, Signer: signer})
	}
	return keys, nil
}

// lookupTXT fetches TXT records through maxwell's resolver (its cache,
// and the message's lookup budget in ctx) for DKIM keys and DMARC
// policies.
func (e *Engine) lookupTXT(ctx context.Context, name string) ([]string, error) {
	ans, err := e.resolver.Lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		if resolver.IsTemporary(err) {
			return nil, &dkim.TemporaryError{Err: err}
		}
		return nil, err
	}
	var out []string
	for _, rr := range ans.RRs {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, nil
}

// external reports whether the connection is from outside: neither an
// internal client nor a trusted relay. SPF, DKIM and DMARC judge its
// mail.
func (s *Session) external() bool {
	return s.Class&(Internal|Trusted) == 0 && s.Conn.IP.IsValid()
}

// startDKIM, at the end of the header, sets up the checking of the
// message's signatures (mail from outside) and its signing (mail of
// internal clients from a domain with a key), both fed the body as it
// arrives (Body).
func (s *Session) startDKIM() {
	m := s.Msg
	verify := s.e.cfg.DKIM.Verify && s.external() && m.hasField("DKIM-Signature")
	keys := s.signingKeys()
	if !verify && len(keys) == 0 {
		return
	}
	var hb dkim.HeaderBuilder
	for _, h := range m.header {
		hb.Add(h.Name, h.Value, false)
	}
	m.dkim.header = hb.Bytes()
	if verify {
		// Key lookups have a budget of their own, a lookup per
		// signature checked: the message's may be spent by SPF.
		max := s.e.cfg.DKIM.MaxSignatures
		ctx := resolver.WithBudget(s.base, resolver.NewBudget(max))
		m.dkim.verify = dkim.NewVerifier(ctx, m.dkim.header, max, s.e.lookupTXT)
	}
	if len(keys) > 0 && !m.headersCut {
		var err error
		if m.dkim.sign, err = dkim.NewSigning(m.dkim.header, keys, s.e.signOptions()); err != nil {
			s.log("error", "where", "dkim sign", "error", err)
		}
		m.dkim.keys = keys
	}
}

// signOptions are the [dkim] settings of signing.
func (e *Engine) signOptions() dkim.SignOptions {
	h, b := e.cfg.DKIM.Canons()
	return dkim.SignOptions{Headers: e.cfg.DKIM.SignHeaders, Oversign: e.cfg.DKIM.OversignHeaders, HeaderCanon: h, BodyCanon: b}
}

// signingKeys are the keys the message is signed with: those of its
// From: domain or the nearest domain above it, for internal and
// authenticated clients only.
func (s *Session) signingKeys() []dkim.Key {
	if s.Class&Internal == 0 || len(s.e.dkimKeys) == 0 {
		return nil
	}
	froms, hidden := s.fromDomains()
	if len(froms) != 1 || hidden || s.Msg.fromFields() != 1 {
		return nil
	}
	var keys []dkim.Key
	best := ""
	for _, k := range s.e.dkimKeys {
		if !domainMatch(froms[0], k.Domain) || len(k.Domain) < len(best) {
			continue
		}
		if len(k.Domain) > len(best) {
			keys, best = nil, k.Domain
		}
		keys = append(keys, k)
	}
	return keys
}

// dkimBody gives a piece of the body to the signatures being checked
// and made.
func (m *Message) dkimBody(chunk []byte) {
	if m.dkim.verify != nil {
		m.dkim.verify.Write(chunk) // a verifier that failed has its verdict already
	}
	if m.dkim.sign != nil {
		if _, err := m.dkim.sign.Write(chunk); err != nil {
			m.dkim.sign.Abort()
			m.dkim.sign = nil
		}
	}
}

// dkimAbort stops what DKIM was doing for a message that went away.
func (m *Message) dkimAbort() {
	if m.dkim.verify != nil {
		m.dkim.verify.Abort()
	}
	if m.dkim.sign != nil {
		m.dkim.sign.Abort()
	}
}

// checkDKIM, at end of message, takes the verdicts on the message's
// signatures and logs them. A header maxwell could not keep whole
// leaves every signature neutral.
func checkDKIM(s *Session) (*Decision, error) {
	m := s.Msg
	v := m.dkim.verify
	if v == nil {
		return nil, nil
	}
	m.dkim.verify = nil
	if m.headersCut {
		m.dkim.results = v.Truncated("header too large to be kept whole")
	} else {
		m.dkim.results = v.Close()
	}
	for _, r := range m.dkim.results {
		kv := []any{"result", r.Status, "d", r.Domain, "s", r.Selector, "a", r.Algorithm, "i", r.Identifier, "b", r.B}
		if r.Reason != "" {
			kv = append(kv, "reason", r.Reason)
		}
		s.log("dkim", kv...)
	}
	return nil, nil
}

// dkimParts are the DKIM results of Authentication-Results (RFC 8601
// §2.7.1, header.b from RFC 6008), why a signature failed in a comment.
func (m *Message) dkimParts() []string {
	var parts []string
	for _, r := range m.dkim.results {
		p := "dkim=" + string(r.Status)
		if r.Reason != "" {
			// No "=" either: go-msgauth reads a comment's words as properties.
			p += " (" + strings.ReplaceAll(spf.ARComment(r.Reason), "=", ":") + ")"
		}
		if r.Domain != "" {
			p += " header.d=" + spf.ARValue(r.Domain)
		}
		if r.Selector != "" {
			p += " header.s=" + spf.ARValue(r.Selector)
		}
		if r.Algorithm != "" {
			p += " header.a=" + spf.ARValue(r.Algorithm)
		}
		if r.B != "" {
			p += " header.b=" + spf.ARValue(r.B)
		}
		parts = append(parts, p)
	}
	return parts
}

// signDKIM, last at end of message, adds the signatures of mail from
// internal clients. When maxwell changed the message — replaced its body
// (a defanged attachment), changed or added fields it signs — the
// message is signed again as it will leave: the new header, and the new
// body or the spooled one.
func signDKIM(s *Session) (*Decision, error) {
	m := s.Msg
	sg := m.dkim.sign
	if sg == nil {
		return nil, nil
	}
	m.dkim.sign = nil
	if s.changedSigned() {
		sg.Abort()
		var err error
		if sg, err = s.signAgain(); sg == nil {
			return nil, err
		}
	}
	sigs, err := sg.Close()
	if err != nil {
		return nil, err
	}
	for i, v := range sigs {
		k := m.dkim.keys[i]
		s.log("dkim sign", "d", k.Domain, "s", k.Selector, "a", k.Algorithm())
		// Inserted as made: folding it again would break it.
		m.edits = append(m.edits, Edit{Kind: InsertHeader, Name: "DKIM-Signature", Value: v})
	}
	return nil, nil
}

// changedSigned reports whether an edit of the message touches what a
// signature covers: the body, or a field of [dkim] sign_headers.
func (s *Session) changedSigned() bool {
	for _, e := range s.Msg.edits {
		switch e.Kind {
		case ReplaceBody:
			return true
		case InsertHeader, ChangeHeader, DeleteHeader:
			for _, n := range s.e.cfg.DKIM.SignHeaders {
				if strings.EqualFold(n, e.Name) {
					return true
				}
			}
		}
	}
	return false
}

// signAgain signs the message as maxwell's edits leave it. It returns
// nil, and logs why, when that body is not at hand (past [milter]
// max_scan_size): the message then leaves unsigned.
func (s *Session) signAgain() (*dkim.Signing, error) {
	m := s.Msg
	var hb dkim.HeaderBuilder
	for _, h := range m.editedHeader() {
		hb.Add(h.Name, h.Value, false)
	}
	writeBody := func(w io.Writer) error {
		if m.body == nil {
			return nil
		}
		_, err := io.Copy(w, m.body.Reader())
		return err
	}
	replaced := false
	for _, e := range m.edits {
		if e.Kind == ReplaceBody {
			writeBody, replaced = e.Body, true
		}
	}
	if !replaced && m.body != nil && m.body.Truncated() {
		s.log("error", "where", "dkim sign", "error", "not signed: the message was changed and its body is larger than max_scan_size")
		return nil, nil
	}
	sg, err := dkim.NewSigning(hb.Bytes(), m.dkim.keys, s.e.signOptions())
	if err != nil {
		return nil, err
	}
	if err := writeBody(sg); err != nil {
		sg.Abort()
		return nil, fmt.Errorf("signing the changed message: %w", err)
	}
	return sg, nil
}

// editedHeader is the header as the MTA will have it once the edits
// are made: inserted fields on top, in the order they were added;
// changed fields changed, deleted ones gone (Index counts the fields
// of that name from 1, as the milter protocol does).
func (m *Message) editedHeader() []Header {
	var out []Header
	for _, e := range m.edits {
		if e.Kind == InsertHeader {
			out = append(out, Header{Name: e.Name, Value: e.Value})
		}
	}
	seen := map[string]int{}
	for _, h := range m.header {
		name := strings.ToLower(h.Name)
		seen[name]++
		keep := true
		for _, e := range m.edits {
			if (e.Kind == ChangeHeader || e.Kind == DeleteHeader) && strings.EqualFold(e.Name, h.Name) && e.Index == seen[name] {
				if e.Kind == DeleteHeader || e.Value == "" {
					keep = false
				} else {
					h.Value = e.Value
				}
			}
		}
		if keep {
			out = append(out, h)
		}
	}
	return out
}

// fromDomains are the domains of the addresses of the message's From:
// fields, and whether a field holds an '@' maxwell could not read as
// an address (its domain hidden from DMARC, not from the reader).
func (s *Session) fromDomains() (domains []string, hidden bool) {
	for _, h := range s.Msg.header {
		if strings.EqualFold(h.Name, "From") {
			ds, ok := addressDomains(h.Value)
			domains, hidden = append(domains, ds...), hidden || !ok
		}
	}
	return domains, hidden
}

// hasField reports whether the message has a field called name.
func (m *Message) hasField(name string) bool {
	for _, h := range m.header {
		if strings.EqualFold(h.Name, name) {
			return true
		}
	}
	return false
}

// fromFields counts the message's From: fields.
func (m *Message) fromFields() int {
	n := 0
	for _, h := range m.header {
		if strings.EqualFold(h.Name, "From") {
			n++
		}
	}
	return n
}

// addressDomains returns the domains of the addresses in an address
// list field, lower case, each once. Comments, display names and
// groups are skipped; what net/mail cannot parse is read for every
// "@domain". ok is false when the field, its encoded words decoded,
// holds an '@' and yet no domain was found.
func addressDomains(v string) (out []string, ok bool) {
	add := func(d string) {
		d = strings.ToLower(strings.Trim(d, " \t\r\n.>"))
		for _, o := range out {
			if o == d {
				return
			}
		}
		if d != "" {
			out = append(out, d)
		}
	}
	// Comments may sit anywhere, even between '@' and the domain
	// (RFC 5322 §3.4.1's CFWS), where net/mail does not take them.
	v = stripComments(unfold.Replace(v))
	if list, err := mail.ParseAddressList(v); err == nil {
		for _, a := range list {
			if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
				add(a.Address[at+1:])
			}
		}
	} else {
		// obs-domain allows white space around the dots.
		for _, m := range atDomain.FindAllStringSubmatch(spacedDots.ReplaceAllString(v, "."), -1) {
			add(m[1])
		}
	}
	return out, len(out) > 0 || !strings.Contains(decodeHeader(v), "@")
}

// stripComments removes the comments of a structured field value:
// parenthesized, nested, with quoted-pairs, not within quoted-strings.
func stripComments(v string) string {
	if !strings.Contains(v, "(") {
		return v
	}
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && (quoted || depth > 0) && i+1 < len(v):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(v[i+1])
			}
			i++
			continue
		case c == '"' && depth == 0:
			quoted = !quoted
		case c == '(' && !quoted:
			depth++
			continue
		case c == ')' && !quoted && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// spacedDots are dots with white space around them.
var spacedDots = regexp.MustCompile(`\s*\.\s*`)

// atDomain finds the domains of addresses in text.
var atDomain = regexp.MustCompile(`@\s*\[?([\pL\pN][\pL\pN.-]*)`)
