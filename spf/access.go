package spf

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/safefile"
)

// AccessMap is the SPF part of a sendmail access file, as bms.py read it:
// lines "SPF-Fail:example.com REJECT", "HELO-Neutral: OK", ...
//
// Keys are PREFIX:WHAT, where PREFIX is SPF-result or HELO-result and WHAT
// is user@domain, domain, .parent-domain (any subdomain), or nothing (the
// default for that result). Keys are case-insensitive. Lines with other
// prefixes (Connect:, From:, To: …) belong to sendmail and are ignored, so
// the map can be the MTA's own access file.
type AccessMap struct {
	entries map[string]Policy // lower-case key
}

var accessResults = []Result{Pass, Fail, SoftFail, Neutral, None, PermError, TempError}

// LoadAccessMap reads an access file: a regular file of at most
// safefile.MaxSize bytes.
func LoadAccessMap(path string) (*AccessMap, error) {
	b, err := safefile.Read(path)
	if err != nil {
		return nil, err
	}
	return ParseAccessMap(oneline.Name(path), bytes.NewReader(b))
}

// ParseAccessMap reads access-file text; name is used in errors.
func ParseAccessMap(name string, r io.Reader) (*AccessMap, error) {
	m := &AccessMap{entries: map[string]Policy{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, safefile.MaxSize)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		fields := strings.Fields(text)
		key := strings.ToLower(fields[0])
		prefix, _, found := strings.Cut(key, ":")
		if !found || !isSPFPrefix(prefix) {
			continue // sendmail's
		}
		if !knownPrefix(prefix) {
			return nil, fmt.Errorf("%s:%d: %s: unknown SPF result (want SPF- or HELO- and one of pass, fail, softfail, neutral, none, permerror, temperror)", name, line, oneline.Quote(fields[0]))
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: %s: want KEY POLICY", name, line, oneline.Quote(text))
		}
		pol, err := ParsePolicy(fields[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		m.entries[key] = pol
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return m, nil
}

func isSPFPrefix(p string) bool { return strings.HasPrefix(p, "spf-") || strings.HasPrefix(p, "helo-") }

func knownPrefix(p string) bool {
	_, res, _ := strings.Cut(p, "-")
	for _, r := range accessResults {
		if res == string(r) {
			return true
		}
	}
	return false
}

// Len is the number of SPF entries.
func (m *AccessMap) Len() int {
	if m == nil {
		return 0
	}
	return len(m.entries)
}

// Lookup finds the policy for prefix ("spf-fail", "helo-neutral") and
// who (user@domain, or a domain), trying in order PREFIX:user@domain,
// PREFIX:domain, PREFIX:.parent for each parent domain, and PREFIX:.
func (m *AccessMap) Lookup(prefix, who string) (Policy, bool) {
	if m == nil || len(m.entries) == 0 {
		return "", false
	}
	pfx := strings.ToLower(prefix) + ":"
	who = strings.ToLower(strings.TrimSuffix(who, "."))
	domain := who
	if at := strings.LastIndexByte(who, '@'); at >= 0 {
		if p, ok := m.entries[pfx+who]; ok {
			return p, true
		}
		domain = who[at+1:]
	}
	if domain != "" {
		if p, ok := m.entries[pfx+domain]; ok {
			return p, true
		}
		for rest := domain; ; {
			dot := strings.IndexByte(rest, '.')
			if dot < 0 {
				break
			}
			rest = rest[dot+1:]
			if p, ok := m.entries[pfx+"."+rest]; ok {
				return p, true
			}
		}
	}
	p, ok := m.entries[pfx]
	return p, ok
}
