package policy

import "testing"

func TestMTAPTR(t *testing.T) {
	for macro, want := range map[string]string{
		"":                   "",
		"unknown":            "",
		"[198.51.100.7]":     "",
		"mail.example.net.":  "mail.example.net",
		" mail.example.net ": "mail.example.net",
	} {
		got := mtaPTR(macro)
		if (want == "") != (got == nil) || want != "" && got[0] != want {
			t.Errorf("mtaPTR(%q) = %v, want %q", macro, got, want)
		}
	}
}
