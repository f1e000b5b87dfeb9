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
		FwDomain:   strings.ToLower(strings.TrimSuffix(c.FwDomain, ".")),
		SESDomains: lower(c.SES), SignDomains: lower(c.Sign), SRSDomains: lower(c.SRS), NoSRS: lower(c.NoSRS),
	}, nil
}

func lower(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strings.ToLower(strings.TrimSuffix(s, "."))
	}
	return out
}
