package main

import (
	"strings"
	"testing"
)

func TestCells(t *testing.T) {
	for _, tc := range []struct {
		row  string
		want []string
	}{
		{"| `socket` | `\"inet:8895@127.0.0.1\"` | Where the MTA connects. |", []string{"`socket`", "`\"inet:8895@127.0.0.1\"`", "Where the MTA connects."}},
		{"| a | `x|y` shows | b \\| c |", []string{"a", "`x|y` shows", "b | c"}},
		{"|key|default|", []string{"key", "default"}},
	} {
		if got := cells(tc.row); strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") {
			t.Errorf("cells(%q) = %q, want %q", tc.row, got, tc.want)
		}
	}
}

func TestInline(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"`-c FILE` or **-defaults**", `\fB\-c FILE\fR or \fB\-defaults\fR`},
		{"see [greylisting.md](greylisting.md#the-store)", "see greylisting.md"},
		{"[RFC 7208](https://www.rfc-editor.org/rfc/rfc7208)", "RFC 7208 <https://www.rfc\\-editor.org/rfc/rfc7208>"},
		{"[*flags*] and *FILE*", `[\fIflags\fR] and \fIFILE\fR`},
		{`a \ b`, `a \e b`},
		{".starts with a dot", `\&.starts with a dot`},
		{"'quoted at the start", `\&'quoted at the start`},
		{"`*.exe` stays", `\fB*.exe\fR stays`},
	} {
		if got := inline(tc.in); got != tc.want {
			t.Errorf("inline(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A page: the title gives way to NAME, the text before the first heading
// is the DESCRIPTION; sections, a code span over a line end, a table as
// tagged paragraphs, a code block kept verbatim, a nested list, a
// definition.
func TestRender(t *testing.T) {
	src := "# Configuration reference\n\nIntro `x`, a `code\nspan` over a line end.\n\n## [milter]\n\n| key | default | meaning |\n|---|---|---|\n" +
		"| `socket` | `\"a\"` | Where. |\n\n```\n.not a request\n```\n\n- one\n  more\n  - nested\n\nterm\n:   its meaning\n"
	var b strings.Builder
	render(&b, page{"maxwell.toml", "5", "configuration file", "File Formats Manual", "2026-12-02"}, src)
	want := `.TH "MAXWELL.TOML" 5 "2026-12-02" maxwell "File Formats Manual"
.nh
.SH NAME
maxwell.toml \- configuration file
.SH DESCRIPTION
.PP
Intro \fBx\fR, a \fBcode
span\fR over a line end.
.SH "[milter]"
.TP
\fBsocket\fR
.br
default: \fB"a"\fR
.br
Where.
.PP
.RS 4
.nf
\&.not a request
.fi
.RE
.IP \(bu 2
one
more
.RS 2
.IP \(bu 2
nested
.RE
.TP
term
its meaning
`
	if b.String() != want {
		t.Errorf("render:\n%s\nwant:\n%s", b.String(), want)
	}
}
