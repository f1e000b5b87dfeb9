package policy

import (
	"context"
	"fmt"
	"io"
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
		m.dkim.verify = dkim.NewVerifier(s.ctx, m.dkim.header, s.e.cfg.DKIM.MaxSignatures, s.e.lookupTXT)
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
	froms := s.fromDomains()
	if len(froms) != 1 {
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
// internal clients: over the body as received, or over the body that
// replaced it (a defanged attachment).
func signDKIM(s *Session) (*Decision, error) {
	m := s.Msg
	sg := m.dkim.sign
	if sg == nil {
		return nil, nil
	}
	m.dkim.sign = nil
	for _, e := range m.edits {
		if e.Kind != ReplaceBody {
			continue
		}
		sg.Abort()
		var err error
		if sg, err = dkim.NewSigning(m.dkim.header, m.dkim.keys, s.e.signOptions()); err != nil {
			return nil, err
		}
		if err := e.Body(writerFunc(func(p []byte) (int, error) { return sg.Write(p) })); err != nil {
			sg.Abort()
			return nil, fmt.Errorf("signing the new body: %w", err)
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

// writerFunc makes a function an io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ io.Writer = writerFunc(nil)

// fromDomains are the domains of the addresses of the message's From:
// fields.
func (s *Session) fromDomains() []string {
	var out []string
	for _, h := range s.Msg.header {
		if strings.EqualFold(h.Name, "From") {
			out = append(out, addressDomains(h.Value)...)
		}
	}
	return out
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
// groups are skipped; what cannot be parsed is read for its last
// "@domain".
func addressDomains(v string) []string {
	var out []string
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
	v = unfold.Replace(v)
	list, err := mail.ParseAddressList(v)
	if err != nil {
		// Unparseable: every "@domain" counts, so that a broken field
		// cannot hide its domain from DMARC.
		for _, m := range atDomain.FindAllStringSubmatch(v, -1) {
			add(m[1])
		}
		return out
	}
	for _, a := range list {
		if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
			add(a.Address[at+1:])
		}
	}
	return out
}

// atDomain finds the domains of addresses in text.
var atDomain = regexp.MustCompile(`@([A-Za-z0-9][A-Za-z0-9.-]*)`)
