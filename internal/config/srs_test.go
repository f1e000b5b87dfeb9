package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// [srs] config reads pysrs's file over the section, as bms.py read it
// after milter.cfg: its secret with secret.0 as an older one, its
// lists, its numbers replace the section's; what it does not set stays.
// Old secrets alone come after the section's secret. Every problem in
// the file is told.
func TestSRSConfigFromPysrs(t *testing.T) {
	cfg, err := Parse("t.toml", []byte(`
[srs]
config = "testdata/pysrs.cfg"
secret = "mine"
maxage = 10
fwdomain = "fwd.example"
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.SRS
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"secrets: the file's, the current first", slices.Clone(s.Secret), Secrets{`"from pysrs.cfg"`, "an older secret"}},
		{"maxage: the file's", s.MaxAge, 30},
		{"hashlength from the file", s.HashLength, 6},
		{"separator from the file", s.Separator, "+"},
		{"fwdomain set here, not in the file", s.FwDomain, "fwd.example"},
		{"ses from the file", s.SES, []string{"ours.example", "other.example"}},
		{"nosrs from the file", s.NoSRS, []string{"braindead.example"}},
	} {
		if !equal(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}

	dir := t.TempDir()
	write := func(text string) string {
		p := filepath.Join(dir, "pysrs.cfg")
		os.WriteFile(p, []byte(text), 0o600)
		return p
	}
	cfg, err = Parse("t.toml", []byte("[srs]\nconfig = \""+write("[srs]\nsecret.0 = older\n")+"\"\nsecret = [\"mine\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.SRS.Secret, Secrets{"mine", "older"}) {
		t.Errorf("secret = %q, want this file's and the old one after it", cfg.SRS.Secret)
	}
	if !cfg.SRS.Enabled() || Default().SRS.Enabled() {
		t.Error("SRS is on exactly when a secret is set")
	}

	_, err = Parse("t.toml", []byte("[srs]\nconfig = \""+write("[srs]\nsecret = abc\nmaxage = twenty\nhashlength = x\nseparator = _\ndatabase = /var/db\n")+"\"\n"))
	got := fmt.Sprint(err)
	for _, want := range []string{`maxage: "twenty" is not a number`, `hashlength: "x" is not a number`, `srs.separator: "_": must be =, + or -`, "srs.database: maxwell writes"} {
		if !strings.Contains(got, want) {
			t.Errorf("a bad pysrs.cfg: the errors lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "needs srs.secret") {
		t.Errorf("the file's secret was not taken:\n%s", got)
	}
}

func equal(a, b any) bool {
	switch a := a.(type) {
	case []string:
		return slices.Equal(a, b.([]string))
	case Secrets:
		return slices.Equal(a, b.(Secrets))
	}
	return a == b
}
