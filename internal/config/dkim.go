package config

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/dnsname"
	"github.com/maxwell-milter/maxwell/internal/oneline"
)

// DKIM is the [dkim] section: verifying the DKIM signatures (RFC 6376)
// of incoming mail and signing the mail of internal and authenticated
// clients.
type DKIM struct {
	// Verify checks every signature of every message from outside at
	// end of message and reports it in Authentication-Results.
	Verify bool `toml:"verify"`
	// MaxSignatures bounds the signatures checked per message, from
	// the top; those below are neutral.
	MaxSignatures int `toml:"max_signatures"`
	// Keys sign the mail of internal and authenticated clients whose
	// From: domain is a key's domain or below it; a domain with two
	// keys (RSA and Ed25519, or the old and new of a rotation) gets two
	// signatures.
	Keys []DKIMKey `toml:"keys"`
	// SignHeaders are the fields signed, each as often as present;
	// OversignHeaders are signed once more, so that none can be added.
	SignHeaders     []string `toml:"sign_headers"`
	OversignHeaders []string `toml:"oversign_headers"`
	// Canonicalization is header/body: relaxed or simple each.
	Canonicalization string `toml:"canonicalization"`
}

// DKIMKey is one [[dkim.keys]] entry, named as bms.py's [dkim] keys were.
type DKIMKey struct {
	Domain   string `toml:"domain"`
	Selector string `toml:"selector"`
	PrivKey  string `toml:"privkey" redact:"none"` // the key file, relative to milter.datadir: the key is in the file
}

// DefaultSignHeaders are RFC 6376 §5.4.1's fields and the List-*
// fields a list manager must not rewrite.
var DefaultSignHeaders = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Resent-Date", "Resent-From", "Resent-To", "Resent-Cc",
	"In-Reply-To", "References", "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Subscribe", "List-Post", "List-Owner", "List-Archive",
}

// Canons splits Canonicalization into its header and body halves.
func (d DKIM) Canons() (header, body string) {
	h, b, ok := strings.Cut(d.Canonicalization, "/")
	if !ok {
		b = "simple" // RFC 6376 §3.5: c=relaxed is relaxed/simple
	}
	return h, b
}

// ValidSelector reports whether s is an RFC 6376 §3.1 selector: labels
// of letters, digits and hyphens, separated by dots.
func ValidSelector(s string) bool {
	return dnsname.Valid(s) && !strings.Contains(s, "_") && !strings.HasSuffix(s, ".")
}

// KeyPath is where a key's file is.
func (c *Config) KeyPath(k DKIMKey) string { return c.dataPath(k.PrivKey) }

func (d *DKIM) validate() []problem {
	var ps []problem
	if d.MaxSignatures < 1 {
		ps = append(ps, problem{"dkim.max_signatures", "must be at least 1"})
	}
	h, b := d.Canons()
	for _, c := range []string{h, b} {
		if c != "relaxed" && c != "simple" {
			ps = append(ps, problem{"dkim.canonicalization", fmt.Sprintf("%s: want relaxed or simple, header/body (e.g. \"relaxed/relaxed\")", oneline.Quote(d.Canonicalization))})
			break
		}
	}
	if !slices.ContainsFunc(d.SignHeaders, func(s string) bool { return strings.EqualFold(s, "From") }) {
		ps = append(ps, problem{"dkim.sign_headers", "must hold From (RFC 6376 §5.4)"})
	}
	seen := map[string]bool{}
	for i, k := range d.Keys {
		key := fmt.Sprintf("dkim.keys[%d]", i)
		if !dnsname.Valid(k.Domain) || !strings.Contains(k.Domain, ".") {
			ps = append(ps, problem{key + ".domain", fmt.Sprintf("%s is not a domain name", oneline.Quote(k.Domain))})
		}
		if !ValidSelector(k.Selector) {
			ps = append(ps, problem{key + ".selector", fmt.Sprintf("%s is not a selector (labels of letters, digits and hyphens, separated by dots)", oneline.Quote(k.Selector))})
		}
		if k.PrivKey == "" {
			ps = append(ps, problem{key + ".privkey", "must name the key file (maxwell dkim keygen writes one)"})
		}
		id := strings.ToLower(k.Selector + "._domainkey." + strings.TrimSuffix(k.Domain, "."))
		if seen[id] {
			ps = append(ps, problem{key, id + " is listed twice"})
		}
		seen[id] = true
	}
	return ps
}

// DMARC is the [dmarc] section: enforcing the DMARC policies (RFC 7489)
// of the From: domains of incoming mail.
type DMARC struct {
	// Enabled evaluates DMARC for mail from outside (it needs
	// [dkim] verify for DKIM alignment; without it only SPF aligns).
	Enabled bool `toml:"enabled"`
	// OnReject and OnQuarantine say what maxwell does with a message
	// that fails a p=reject or p=quarantine policy.
	OnReject     DMARCAction `toml:"on_reject"`
	OnQuarantine DMARCAction `toml:"on_quarantine"`
	// RejectText is the refusal's text; {domain} is the From: domain.
	RejectText string `toml:"reject_text"`
	// ListIDs are mailing lists (globs over the List-Id's id, as
	// "*.lists.debian.org") whose mail is not held to its authors'
	// policies: lists rewrite subjects and footers, breaking signatures.
	ListIDs []string `toml:"list_ids"`
	// TrustedForwarders are clients (as [milter] internal_connect:
	// addresses, networks, PTR globs) whose forwarded mail is not held
	// to policies.
	TrustedForwarders []HostPattern `toml:"trusted_forwarders"`
	// MalformedFrom is what becomes of mail with several From: fields
	// (RFC 7489 §6.6.1): reject or accept. Mail with none is accepted,
	// dmarc=none: it impersonates nobody.
	MalformedFrom DMARCMalformed `toml:"malformed_from"`
}

// DMARCAction is what a failing message's policy becomes.
type DMARCAction string

// The actions.
const (
	DMARCRefuse     DMARCAction = "refuse"     // 550 5.7.1 at end of message
	DMARCQuarantine DMARCAction = "quarantine" // held in the MTA's quarantine (Postfix hold queue)
	DMARCReport     DMARCAction = "report"     // only logged and in Authentication-Results
)

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *DMARCAction) UnmarshalText(b []byte) error {
	return oneOf(a, b, DMARCRefuse, DMARCQuarantine, DMARCReport)
}

// DMARCMalformed is what a message with several From: fields gets.
type DMARCMalformed string

// The answers to several From: fields.
const (
	MalformedFromReject DMARCMalformed = "reject" // 550 5.7.1
	MalformedFromAccept DMARCMalformed = "accept" // dmarc=permerror, delivered
)

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *DMARCMalformed) UnmarshalText(b []byte) error {
	return oneOf(m, b, MalformedFromReject, MalformedFromAccept)
}

// ListExempt reports whether a List-Id's id is one of ListIDs.
func (d *DMARC) ListExempt(id string) bool {
	id = strings.ToLower(id)
	for _, p := range d.ListIDs {
		if ok, _ := path.Match(strings.ToLower(p), id); ok {
			return true
		}
	}
	return false
}

func (d *DMARC) validate() []problem {
	var ps []problem
	for _, p := range d.ListIDs {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			ps = append(ps, problem{"dmarc.list_ids", fmt.Sprintf("%s is not a glob", oneline.Quote(p))})
		}
	}
	return ps
}

func defaultDKIM() DKIM {
	return DKIM{Verify: true, MaxSignatures: 5, SignHeaders: slices.Clone(DefaultSignHeaders),
		OversignHeaders: []string{"From"}, Canonicalization: "relaxed/relaxed"}
}

func defaultDMARC() DMARC {
	return DMARC{Enabled: true, OnReject: DMARCRefuse, OnQuarantine: DMARCQuarantine,
		RejectText: "Message refused by the DMARC policy of {domain}", MalformedFrom: MalformedFromReject}
}
