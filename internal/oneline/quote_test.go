package oneline

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                        `"plain"`,
		"\x1b[2J\x1b]0;title\a":        `"\x1b[2J\x1b]0;title\a"`,
		"bad \xff utf-8":               `"bad \xff utf-8"`,
		"rtl \u202e override":          `"rtl \u202e override"`,
		strings.Repeat("é", 100):       `"` + strings.Repeat("é", 80) + `"… (200 bytes)`,
		strings.Repeat("x", MaxQuoted): `"` + strings.Repeat("x", MaxQuoted) + `"`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%.20q) = %s, want %s", in, got, want)
		}
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"/etc/maxwell/maxwell.toml":       "/etc/maxwell/maxwell.toml",
		"milter.datadir":                  "milter.datadir",
		"with space":                      `"with space"`,
		"esc\x1b[0m":                      `"esc\x1b[0m"`,
		"":                                `""`,
		"/" + strings.Repeat("long/", 40): "/" + strings.Repeat("long/", 40),
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestEscape(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"Key 'a.\x1b[2J' has already been defined.", 100, `Key 'a.\x1b[2J' has already been defined.`},
		{"line\nbreak\xfe", 100, `line\nbreak\xfe`},
		{"ünïcode stays", 100, "ünïcode stays"},
		{"abcdef", 3, "abc…"},
	} {
		if got := Escape(tc.in, tc.max); got != tc.want {
			t.Errorf("Escape(%q, %d) = %s, want %s", tc.in, tc.max, got, tc.want)
		}
	}
}
