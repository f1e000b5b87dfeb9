package srs

import (
	"strings"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
)

// FromConfig builds the Site the [srs] section describes; nil when SRS
// is off (no secret). now is the clock (nil: time.Now).
func FromConfig(c config.SRS, now func() time.Time) (*Site, error) {
	if !c.Enabled() {
		return nil, nil
	}
	r, err := New(Options{Secrets: c.Secret, MaxAge: c.MaxAge, HashLength: c.HashLength, Separator: c.Separator, Now: now})
	if err != nil {
		return nil, err
	}
	ses, err := NewSES(c.Secret, c.MaxAge, now)
	if err != nil {
		return nil, err
	}
	return &Site{
		SRS: r, SES: ses,
		FwDomain:   canonical(c.FwDomain),
		SESDomains: canonicalAll(c.SES), SignDomains: canonicalAll(c.Sign), SRSDomains: canonicalAll(c.SRS), NoSRS: canonicalAll(c.NoSRS),
	}, nil
}

// canonical is a domain as Site compares them: lower case, without a
// final dot.
func canonical(d string) string { return strings.ToLower(strings.TrimSuffix(d, ".")) }

func canonicalAll(list []string) []string {
	out := make([]string, len(list))
	for i, d := range list {
		out[i] = canonical(d)
	}
	return out
}
