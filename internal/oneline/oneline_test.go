package oneline

import "testing"

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
