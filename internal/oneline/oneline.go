// Package oneline makes text from the outside safe to put on one line of
// a reply, a header or a message: control characters (CR, LF, TAB, NUL…)
// become spaces, so they can never start a line of their own.
package oneline

import (
	"strings"
	"unicode/utf8"
)

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

// Marker ends text that Cut had to shorten.
const Marker = "..."

// Cut returns s if it is at most n bytes long; otherwise its beginning,
// ended at a UTF-8 character boundary, and Marker, n bytes at most in
// all. What a client chose (a HELO name, an address) goes through Cut
// before maxwell writes it into a header, a reply or a DSN.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	end := max(n-len(Marker), 0)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + Marker
}

// Header line lengths (RFC 5322 §2.1.1): a line should not pass 78
// characters and must not pass 998 octets, CRLF excluded.
const (
	softLine = 78
	MaxLine  = 998
)

// Fold folds a header field's value, as it follows "name: ", so that no
// line passes 998 octets: a line that would is folded before spaces or
// tabs into lines of 78 characters where it can, and a run without
// whitespace that still passes the limit is cut with Marker. Lines within
// the limit, and the breaks already in value ("\n", the MTA writes
// CRLF), stay as they are.
func Fold(name, value string) string {
	col := len(name) + len(": ")
	if !overLong(value, col) {
		return value // nearly always: no copy
	}
	var b strings.Builder
	b.Grow(len(value) + len(value)/softLine + 8)
	for i, line := range strings.Split(value, "\n") {
		if i > 0 {
			b.WriteByte('\n')
			col = 0
		}
		if col+len(line) > MaxLine {
			line = foldLine(&b, line, col)
		}
		b.WriteString(line)
	}
	return b.String()
}

// overLong reports whether a line of value, the first starting at col,
// passes MaxLine.
func overLong(value string, col int) bool {
	for {
		line, rest, more := strings.Cut(value, "\n")
		if col+len(line) > MaxLine {
			return true
		}
		if !more {
			return false
		}
		value, col = rest, 0
	}
}

// foldLine writes the first parts of an over-long line that starts at
// col, each broken before whitespace, and returns the last part, cut to
// the limit if there was no whitespace left to break at.
func foldLine(b *strings.Builder, line string, col int) string {
	for col+len(line) > softLine {
		at := breakAt(line, softLine-col, MaxLine-col)
		if at < 0 {
			return Cut(line, MaxLine-col)
		}
		b.WriteString(line[:at])
		b.WriteByte('\n')
		line, col = line[at:], 0
	}
	return line
}

// breakAt is where to fold line so that its first part is at most soft
// long: the last space or tab before soft, else the first one after, if
// the first part then stays within hard; -1 if there is none. Never 0:
// a continuation line starts with the whitespace it was folded before.
func breakAt(line string, soft, hard int) int {
	soft = min(max(soft, 0), len(line))
	if i := strings.LastIndexAny(line[:soft], " \t"); i > 0 {
		return i
	}
	if len(line) > 1 {
		if i := strings.IndexAny(line[1:], " \t"); i >= 0 && i+1 <= hard {
			return i + 1
		}
	}
	return -1
}
