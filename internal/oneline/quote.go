package oneline

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxQuoted is how many characters of a value Quote shows.
const MaxQuoted = 80

// Quote returns s as a double-quoted Go string literal, for a message that
// shows a value from a file: control characters, terminal escapes and
// invalid UTF-8 are escaped (\x1b), and a value longer than MaxQuoted
// characters is cut there, followed by "…" and its length in bytes.
func Quote(s string) string {
	head, cut := clip(s, MaxQuoted)
	if !cut {
		return strconv.Quote(s)
	}
	return strconv.Quote(head) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// Name returns a name (a path) as it can be shown: bare when it is
// plain printable text without spaces, of at most 4096 bytes (PATH_MAX),
// quoted as by Quote otherwise.
func Name(s string) string {
	if s == "" || len(s) > 4096 || strings.ContainsFunc(s, func(r rune) bool {
		return r == utf8.RuneError || r == ' ' || r == '"' || r == '\\' || !strconv.IsPrint(r)
	}) {
		return Quote(s)
	}
	return s
}

// Escape returns text that may carry bytes from outside (a library's
// error message quoting a file) fit for a terminal: what is not printable
// is escaped as in a Go literal, and the text is cut after max
// characters, marked "…".
func Escape(s string, max int) string {
	s, cut := clip(s, max)
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case strconv.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	if cut {
		b.WriteString("…")
	}
	return b.String()
}

// clip returns the first max characters of s (an invalid byte counts as
// one), and whether there was more.
func clip(s string, max int) (string, bool) {
	n := 0
	for i := range s {
		if n == max {
			return s[:i], true
		}
		n++
	}
	return s, false
}
