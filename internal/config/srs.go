package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/dnsname"
	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/safefile"
)

// SRS is the [srs] section, with bms.py's keys and those of pysrs's
// configuration it shared: forwarded senders rewritten with SRS, our
// own senders signed (SES, or SRS in signing mode), and bounces to
// unsigned addresses of ours refused.
type SRS struct {
	// Config is pysrs's configuration file (/etc/mail/pysrs.cfg): its
	// [srs] keys replace this section's, as bms.py read it.
	Config string `toml:"config"`
	// Secret: the first signs; all are accepted, so a secret can be
	// replaced. One string or a list.
	Secret        Secrets  `toml:"secret" redact:"secret"`
	MaxAge        int      `toml:"maxage"`                   // days
	HashLength    int      `toml:"hashlength" redact:"none"` // base64 characters
	Database      string   `toml:"database"`                 // pysrs's SRS.DB: not supported, refused
	FwDomain      string   `toml:"fwdomain"`
	RejectSpoofed bool     `toml:"reject_spoofed"`
	SES           []string `toml:"ses"`
	Sign          []string `toml:"sign"`
	SRS           []string `toml:"srs"`
	NoSRS         []string `toml:"nosrs"`
	Separator     string   `toml:"separator"`
	BannedUsers   []string `toml:"banned_users"`
	// Socketmap is where the SRS socket map listens ("" for nowhere):
	// unix:/path or inet:PORT@HOST.
	Socketmap string `toml:"socketmap"`
}

// Secrets are SRS secrets: TOML gives one string or a list of them.
type Secrets []string

// UnmarshalTOML accepts a string or a list of strings.
func (s *Secrets) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*s = Secrets{v}
		return nil
	case []any:
		out := make(Secrets, 0, len(v))
		for _, x := range v {
			str, ok := x.(string)
			if !ok {
				return fmt.Errorf("a secret is a string, not %s", kindOfValue(x))
			}
			out = append(out, str)
		}
		*s = out
		return nil
	}
	return fmt.Errorf("a secret (a string) or a list of them is expected, not %s", kindOfValue(v))
}

// Enabled reports whether SRS and SES are on: a secret is set.
func (s *SRS) Enabled() bool { return len(s.Secret) > 0 }

// readPysrs reads the [srs] section of pysrs's configuration file (an
// INI file) over this section, as bms.py read it after milter.cfg: its
// secret (with pysrs's old secrets secret.0 to secret.2 after it),
// maxage, hashlength, separator, database, fwdomain, ses, sign, srs,
// nosrs and banned_users replace this section's. Old secrets without a
// secret follow this section's. Every problem in the file is reported.
func (s *SRS) readPysrs() error {
	src, err := safefile.Read(s.Config)
	if err != nil {
		return err
	}
	entries, err := parseINI(s.Config, src)
	if err != nil {
		return err
	}
	var secret, old Secrets
	var problems []error
	lists := map[string]*[]string{"ses": &s.SES, "sign": &s.Sign, "srs": &s.SRS, "nosrs": &s.NoSRS, "banned_users": &s.BannedUsers}
	ints := map[string]*int{"maxage": &s.MaxAge, "hashlength": &s.HashLength}
	strs := map[string]*string{"separator": &s.Separator, "fwdomain": &s.FwDomain, "database": &s.Database}
	for _, e := range entries {
		if e.section != "srs" {
			continue
		}
		switch {
		case e.key == "secret":
			secret = Secrets{e.value}
		case e.key == "secret.0" || e.key == "secret.1" || e.key == "secret.2":
			old = append(old, e.value)
		case lists[e.key] != nil:
			*lists[e.key] = splitINIList(e.value)
		case ints[e.key] != nil:
			n, err := strconv.Atoi(e.value)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s:%d: %s: %s is not a number", s.Config, e.line, e.key, oneline.Quote(e.value)))
				continue
			}
			*ints[e.key] = n
		case strs[e.key] != nil:
			*strs[e.key] = e.value
		}
	}
	if secret != nil {
		s.Secret = append(secret, old...)
	} else {
		s.Secret = append(s.Secret, old...)
	}
	return errors.Join(problems...)
}

// splitINIList splits a ConfigParser list: comma separated, blanks
// around each item dropped.
func splitINIList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// The bounds of [srs] maxage and hashlength: a day stamp counts 1024
// days; a hash is at most the 27 base64 characters of an HMAC-SHA1, and
// fewer than 4 are guessed too easily.
const (
	maxSRSAge     = 1023
	minHashLength = 4
	maxHashLength = 27
)

func (s *SRS) validate() []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{"srs." + key, fmt.Sprintf(format, args...)})
	}
	if s.MaxAge < 1 || s.MaxAge > maxSRSAge {
		add("maxage", "must be between 1 and %d days", maxSRSAge)
	}
	if s.HashLength < minHashLength || s.HashLength > maxHashLength {
		add("hashlength", "must be between %d and %d characters", minHashLength, maxHashLength)
	}
	if s.Separator != "=" && s.Separator != "+" && s.Separator != "-" {
		add("separator", "%s: must be =, + or -", oneline.Quote(s.Separator))
	}
	if s.Database != "" {
		add("database", "maxwell writes self-contained SRS addresses (pysrs's Guarded scheme) and keeps no SRS database; remove this key (addresses pysrs's SRS.DB made cannot be reversed)")
	}
	for i, k := range s.Secret {
		if k == "" {
			add("secret", "secret %d is empty", i+1)
		}
	}
	if !s.Enabled() {
		for _, k := range []struct {
			key string
			set bool
		}{{"fwdomain", s.FwDomain != ""}, {"ses", len(s.SES) > 0}, {"sign", len(s.Sign) > 0}, {"srs", len(s.SRS) > 0},
			{"reject_spoofed", s.RejectSpoofed}, {"socketmap", s.Socketmap != ""}} {
			if k.set {
				add(k.key, "needs srs.secret: SRS and SES sign with it")
			}
		}
	}
	if s.Socketmap != "" {
		if sock, err := ParseSocket(s.Socketmap); err != nil {
			add("socketmap", "%s", err)
		} else if err := sock.CheckHost(); err != nil {
			add("socketmap", "%s", err)
		} else if s.FwDomain == "" && len(s.SES) == 0 && len(s.Sign) == 0 {
			add("socketmap", "its forward map needs srs.fwdomain (or ses or sign domains)")
		}
	}
	if d := strings.TrimSuffix(s.FwDomain, "."); d != "" && dnsname.Valid(d) && !strings.Contains(d, ".") {
		add("fwdomain", "%s: an SRS address needs a domain of two labels or more, one whose MX is this server", oneline.Quote(s.FwDomain))
	}
	return ps // the domains' syntax: with the others' in Config.validate
}
