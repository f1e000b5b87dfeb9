// Package oneline makes text from the outside safe to put on one line of
// a reply, a header or a message: control characters (CR, LF, TAB, NUL…)
// become spaces, so they can never start a line of their own.
package oneline

import "strings"

// Clean returns s with every control character replaced by a space.
func Clean(s string) string {
	if strings.IndexFunc(s, isControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
