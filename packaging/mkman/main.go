// Command mkman turns a page of maxwell's Markdown documentation into a
// man page, for the Debian package (make deb). It knows the Markdown the
// docs use: headings, paragraphs, bullet lists, code blocks, tables and
// definition items (a term, then lines starting ":   "). A table
// becomes one tagged paragraph per row, the first cell its tag: the
// tables of keys in docs/configuration.md read as a man page's list of
// options, not as a grid wider than the terminal.
//
//	mkman -name maxwell.toml -section 5 -what "configuration file of maxwell(8)" \
//	      -manual "File Formats Manual" < docs/configuration.md > maxwell.toml.5
//
// The page's own first line, a level-1 heading (its title), gives way to
// the NAME section made of -name and -what.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

func main() {
	name := flag.String("name", "", "the page's `name` (maxwell)")
	section := flag.String("section", "", "its manual `section` (8)")
	what := flag.String("what", "", "what it is, for the NAME section")
	manual := flag.String("manual", "", "the manual's `title` (System Manager's Manual)")
	date := flag.String("date", "", "the page's `date`, for its header and footer")
	flag.Parse()
	if *name == "" || *section == "" || *what == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	src, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkman:", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	render(w, page{*name, *section, *what, *manual, *date}, string(src))
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "mkman:", err)
		os.Exit(1)
	}
}

// page is what the header and the NAME section say.
type page struct{ name, section, what, manual, date string }

// render writes the man page of the Markdown src.
func render(w io.Writer, p page, src string) {
	fmt.Fprintf(w, ".TH %s %s %s maxwell %s\n", quoteArg(strings.ToUpper(p.name)), p.section, quoteArg(p.date), quoteArg(p.manual))
	// No hyphenation: paths and option names are split only where they
	// are written with a break.
	fmt.Fprintf(w, ".nh\n.SH NAME\n%s \\- %s\n", escape(p.name), escape(p.what))
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	if len(lines) > 0 && strings.HasPrefix(lines[0], "# ") {
		lines = lines[1:] // the title: NAME says it
	}
	for _, l := range lines { // text before the first heading is the description
		if strings.HasPrefix(l, "#") {
			break
		}
		if strings.TrimSpace(l) != "" {
			fmt.Fprintln(w, ".SH DESCRIPTION")
			break
		}
	}
	for i := 0; i < len(lines); {
		i = block(w, lines, i)
	}
}

// block writes the block that starts at lines[i] and returns the index
// of the line after it.
func block(w io.Writer, lines []string, i int) int {
	line := lines[i]
	trimmed := strings.TrimSpace(line)
	switch {
	case trimmed == "" || strings.HasPrefix(trimmed, "<!--"):
		return i + 1
	case strings.HasPrefix(line, "#"):
		level := len(line) - len(strings.TrimLeft(line, "#"))
		text := inline(strings.TrimSpace(line[level:]))
		if level <= 2 {
			fmt.Fprintf(w, ".SH %s\n", quoteArg(text))
		} else {
			fmt.Fprintf(w, ".SS %s\n", quoteArg(text))
		}
		return i + 1
	case strings.HasPrefix(trimmed, "```"):
		fmt.Fprintln(w, ".PP\n.RS 4\n.nf")
		i++
		for ; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
			fmt.Fprintln(w, verbatim(lines[i]))
		}
		fmt.Fprintln(w, ".fi\n.RE")
		return i + 1
	case strings.HasPrefix(trimmed, "|"):
		return table(w, lines, i)
	case bullet.MatchString(line):
		return list(w, lines, i)
	case i+1 < len(lines) && strings.HasPrefix(lines[i+1], ":   "):
		fmt.Fprintf(w, ".TP\n%s\n", inline(trimmed))
		var body []string
		for i++; i < len(lines) && (strings.HasPrefix(lines[i], ":   ") || strings.HasPrefix(lines[i], "    ")); i++ {
			body = append(body, strings.TrimPrefix(lines[i], ":"))
		}
		fmt.Fprintln(w, text(body))
		return i
	}
	var para []string
	for ; i < len(lines) && paragraphGoesOn(lines, i); i++ {
		para = append(para, lines[i])
	}
	fmt.Fprintf(w, ".PP\n%s\n", text(para))
	return i
}

// text is the roff of the lines of one paragraph or item, converted as
// a whole: a code span may go on over a line end.
func text(lines []string) string {
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return inline(strings.Join(lines, "\n"))
}

var bullet = regexp.MustCompile(`^( *)[-*] `)

// paragraphGoesOn tells whether lines[i] still belongs to the paragraph
// above it.
func paragraphGoesOn(lines []string, i int) bool {
	t := strings.TrimSpace(lines[i])
	return t != "" && !strings.HasPrefix(lines[i], "#") && !strings.HasPrefix(t, "```") &&
		!strings.HasPrefix(t, "|") && !bullet.MatchString(lines[i])
}

// list writes a bullet list, nested by indentation, with its items'
// continuation lines.
func list(w io.Writer, lines []string, i int) int {
	depth := 0
	for i < len(lines) {
		m := bullet.FindStringSubmatch(lines[i])
		if m == nil {
			break
		}
		d := len(m[1]) / 2
		for ; depth < d; depth++ {
			fmt.Fprintln(w, ".RS 2")
		}
		for ; depth > d; depth-- {
			fmt.Fprintln(w, ".RE")
		}
		item := []string{lines[i][len(m[0]):]}
		for i++; i < len(lines) && strings.HasPrefix(lines[i], strings.Repeat(" ", len(m[0]))) && strings.TrimSpace(lines[i]) != "" &&
			!bullet.MatchString(lines[i]); i++ {
			item = append(item, lines[i])
		}
		fmt.Fprintf(w, ".IP \\(bu 2\n%s\n", text(item))
	}
	for ; depth > 0; depth-- {
		fmt.Fprintln(w, ".RE")
	}
	return i
}

// table writes a table as tagged paragraphs: the first cell is the tag,
// the middle ones "heading: value" lines, the last the paragraph.
func table(w io.Writer, lines []string, i int) int {
	head := cells(lines[i])
	i++
	if i < len(lines) && strings.Trim(strings.TrimSpace(lines[i]), "|-: ") == "" {
		i++ // the separator row
	}
	for ; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "|"); i++ {
		row := cells(lines[i])
		if len(row) == 0 {
			continue
		}
		// .br: the row's first line under the tag, however short the tag.
		fmt.Fprintf(w, ".TP\n%s\n.br\n", inline(row[0]))
		for j := 1; j < len(row); j++ {
			if j == len(row)-1 {
				fmt.Fprintln(w, inline(row[j]))
				continue
			}
			label := ""
			if j < len(head) && head[j] != "" {
				label = head[j] + ": "
			}
			fmt.Fprintf(w, "%s\n.br\n", inline(label+row[j]))
		}
	}
	return i
}

// cells splits a table row at the bars outside code spans; \| is a bar
// within a cell.
func cells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(row, "|")
	row = strings.TrimSuffix(row, "|")
	var out []string
	var cell strings.Builder
	inCode := false
	for k := 0; k < len(row); k++ {
		c := row[k]
		switch {
		case c == '\\' && k+1 < len(row) && row[k+1] == '|':
			cell.WriteByte('|')
			k++
		case c == '`':
			inCode = !inCode
			cell.WriteByte(c)
		case c == '|' && !inCode:
			out = append(out, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(c)
		}
	}
	return append(out, strings.TrimSpace(cell.String()))
}

var (
	codeSpan = regexp.MustCompile("`([^`]+)`")
	strong   = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	emphasis = regexp.MustCompile(`(^|[\s(\[|])\*([^*\s][^*]*)\*`)
	link     = regexp.MustCompile(`\[([^\]]+)\]\(([^)\s]+)\)`)
)

// inline converts a line's Markdown spans to font changes: code and
// strong in bold, emphasis in italics; a link keeps its text, and a web
// address after it.
func inline(s string) string {
	var codes []string
	s = codeSpan.ReplaceAllStringFunc(s, func(m string) string {
		// \: lets a long path or address break after a slash.
		codes = append(codes, strings.ReplaceAll(escape(m[1:len(m)-1]), "/", `/\:`))
		return fmt.Sprintf("\x00%d\x00", len(codes)-1)
	})
	s = link.ReplaceAllStringFunc(s, func(m string) string {
		sub := link.FindStringSubmatch(m)
		if strings.HasPrefix(sub[2], "http://") || strings.HasPrefix(sub[2], "https://") {
			return sub[1] + " <" + sub[2] + ">"
		}
		return sub[1]
	})
	s = escape(s)
	s = strong.ReplaceAllString(s, `\fB$1\fR`)
	s = emphasis.ReplaceAllString(s, `$1\fI$2\fR`)
	for k, c := range codes {
		s = strings.Replace(s, fmt.Sprintf("\x00%d\x00", k), `\fB`+c+`\fR`, 1)
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = protectLine(l)
	}
	return strings.Join(lines, "\n")
}

// escape makes text safe in a roff line: backslashes printed, and dashes
// written as the minus signs they are in options and file names.
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

// verbatim is a line of a code block: escaped, nothing else.
func verbatim(s string) string { return protectLine(escape(s)) }

// protectLine keeps a line that starts with a control character from
// being read as a request.
func protectLine(s string) string {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		return `\&` + s
	}
	return s
}

// quoteArg quotes a macro argument.
func quoteArg(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `\(dq`) + `"`
}
