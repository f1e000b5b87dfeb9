package oneline

import (
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":             "plain text",
		"evil\r\nBcc: x@example": "evil  Bcc: x@example",
		"tab\there\x00\x7f":      "tab here  ",
		"ünïcode stays":          "ünïcode stays",
	} {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a longer text", 10, "a longe..."},
		{"ééééé", 8, "éé..."}, // never half a character
		{"abc", 2, "..."},
	} {
		if got := Cut(tc.in, tc.n); got != tc.want || len(got) > max(tc.n, len(Marker)) {
			t.Errorf("Cut(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// Fold leaves a field alone while its lines are within 998 octets; an
// over-long line is folded into lines of 78 characters where whitespace
// allows, and cut with the marker where it does not. Unfolded (RFC 5322:
// the line breaks removed) it is the value it was given, but for a cut.
func TestFold(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		same, cut   bool
	}{
		{"Subject", "short", true, false},
		{"X-Maxwell-Connection", `class="EXTERNAL DYN"; ip=198.51.100.7; ptr=` + strings.Repeat("p", 255) + "; helo=" + strings.Repeat("h", 255) + "; by=mx.example.org", true, false},
		{"Received-SPF", "none (mx.example.org: domain of a@b.example does not designate permitted sender hosts)\n\tclient-ip=198.51.100.7;", true, false},
		{"X-Maxwell-Connection", `class="EXTERNAL DYN"; ip=198.51.100.7; ptr=` + strings.Repeat("p", 255) + "; helo=" + strings.Repeat("h", 255) + "; auth=" + strings.Repeat("u", 255) + "; by=" + strings.Repeat("m", 255), false, false},
		{"X-Words", strings.Repeat("word ", 1000), false, false},
		{"Sender", "<" + strings.Repeat("x", 5000) + ">", false, true},
		{"X-Two", "a " + strings.Repeat("y", 5000), false, true},
		{"X-Long-Name-" + strings.Repeat("n", 90), "value with spaces", true, false},
	} {
		got := Fold(tc.name, tc.value)
		if (got == tc.value) != tc.same {
			t.Errorf("%s: changed = %v, want %v", tc.name, got != tc.value, !tc.same)
		}
		for i, line := range strings.Split(tc.name+": "+got, "\n") {
			if len(line) > MaxLine {
				t.Errorf("%s: line %d is %d octets", tc.name, i, len(line))
			}
			if i > 0 && line != "" && line[0] != ' ' && line[0] != '\t' {
				t.Errorf("%s: continuation line %d does not start with whitespace: %.20q", tc.name, i, line)
			}
			if !tc.same && !tc.cut && len(line) > softLine && strings.ContainsAny(strings.TrimLeft(line, " \t")[1:], " \t") {
				t.Errorf("%s: folded line %d is %d characters, with whitespace to fold at", tc.name, i, len(line))
			}
		}
		if unfolded := strings.ReplaceAll(got, "\n", ""); !tc.cut && unfolded != strings.ReplaceAll(tc.value, "\n", "") {
			t.Errorf("%s: unfolds to %.60q…, want the value", tc.name, unfolded)
		}
		if tc.cut != strings.Contains(got, Marker) {
			t.Errorf("%s: marker %v, want %v", tc.name, !tc.cut, tc.cut)
		}
	}
}
