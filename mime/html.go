package mime

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"strings"
	"sync"
)

// Removing active content from HTML ([defang] scan_html), as pymilter's
// HTMLScriptFilter did, and more: FilterHTML streams a document through,
// copying every byte it keeps as it came, and drops
//
//   - script and iframe elements, start tag, content and end tag (nested
//     ones counted, as pymilter counted them), each replaced by one
//     comment, "<!-- WARNING: embedded script removed -->" (pymilter's)
//     or "<!-- WARNING: embedded iframe removed -->";
//   - the start tags of object, embed, applet, frame and frameset (their
//     content, the fallback a browser shows when it does not load them,
//     is kept, and so are their end tags, which do nothing alone), each
//     replaced by such a comment ("embedded object removed" …);
//   - event handler attributes (on…, any case) of every start tag;
//   - attributes whose value is a javascript: or vbscript: URL, as a
//     browser reads one (character references decoded, tabs and line
//     breaks removed, leading spaces and control characters ignored).
//
// It reads as HTML5's tokenizer does — comments (ended by "-->", "--!>",
// or at once by "<!-->" and "<!--->"), declarations, "<![if …]>" and
// "<?…>" (to the first ">"), quoted attribute values — and where a
// browser may read a stretch either as markup or as text (the content of
// style, textarea, title, xmp, noscript, noembed, noframes and plaintext,
// text in HTML and markup in SVG or MathML; a CDATA section, markup in
// HTML and text in SVG), it reads it as markup, but lets nothing begun in
// it — a comment, a tag, a quoted value — run past the first place where
// the other reading ends it ("</style", "]]>"). What is in a comment
// stays: a browser runs none of it. One reading of the bytes cannot
// follow every browser's (a stale CDATA or raw text stretch, SVG's
// <style>, a charset): what it leaves is parsed again as a browser
// parses it before it is used (activeLeft, htmlcheck.go).
//
// It holds a few kilobytes whatever the document (one attribute's start,
// never a whole tag); a document that ends inside a script drops the
// rest.

// htmlElements are the elements FilterHTML removes: the first
// dropContent with their content, the others their tags only.
var htmlElements = [...]string{"script", "iframe", "object", "embed", "applet", "frame", "frameset"}

const dropContent = 2

// rawElements are those whose content HTML reads as text and SVG or
// MathML as markup: the first end tag of one ends what began in it.
var rawElements = [...]string{"style", "textarea", "title", "xmp", "noscript", "noembed", "noframes", "plaintext"}

// maxTagName is longer than the names above: a longer one is none of them.
const maxTagName = 10

// maxHold bounds the bytes of an attribute held until it is judged;
// a value whose start is still undecided then is judged on its start.
const maxHold = 8 << 10

// HTMLStats counts what FilterHTML removed.
type HTMLStats struct {
	Elements [len(htmlElements)]int // by htmlElements
	Handlers int                    // on… attributes
	URLs     int                    // attributes whose value is a javascript: or vbscript: URL
}

// Removed is the number of things removed.
func (s HTMLStats) Removed() int {
	n := s.Handlers + s.URLs
	for _, e := range s.Elements {
		n += e
	}
	return n
}

// String lists what was removed: "script 2, on* attribute 1, script URL 1".
func (s HTMLStats) String() string {
	var parts []string
	for i, n := range s.Elements {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", htmlElements[i], n))
		}
	}
	if s.Handlers > 0 {
		parts = append(parts, fmt.Sprintf("on* attribute %d", s.Handlers))
	}
	if s.URLs > 0 {
		parts = append(parts, fmt.Sprintf("script URL %d", s.URLs))
	}
	return strings.Join(parts, ", ")
}

// FilterHTML copies the HTML document r to w without its active content
// (above) and says what it removed. Only a read or write error fails it.
func FilterHTML(w io.Writer, r io.Reader) (HTMLStats, error) {
	f := htmlFilters.Get().(*htmlFilter)
	f.r.Reset(r)
	f.w.Reset(w)
	defer func() {
		f.r.Reset(nil)
		f.w.Reset(nil)
		*f = htmlFilter{r: f.r, w: f.w, pend: f.pend[:0]}
		htmlFilters.Put(f)
	}()
	f.run()
	if err := f.w.Flush(); err != nil {
		return f.stats, err
	}
	return f.stats, f.err
}

// htmlFilters keeps the buffers of finished filters: a scan filters every
// HTML part of a message, and a message may have a thousand.
var htmlFilters = sync.Pool{New: func() any {
	return &htmlFilter{r: bufio.NewReaderSize(nil, 16<<10), w: bufio.NewWriterSize(nil, 16<<10)}
}}

// htmlFilter is one document going through FilterHTML.
type htmlFilter struct {
	r     *bufio.Reader
	w     *bufio.Writer
	err   error // a read error
	stats HTMLStats
	raw   uint16 // rawElements whose first end tag ends what is read
	cdata bool   // a CDATA section may be open: "]]>" ends what is read
	pend  []byte // bytes of a tag held until they are judged
	n     int64  // bytes read
}

// Where a byte read goes.
const (
	keepIt = iota // written
	holdIt        // held in pend
	dropIt        // dropped
)

// peek returns the next byte, false at the end.
func (f *htmlFilter) peek() (byte, bool) {
	b, err := f.r.Peek(1)
	if len(b) == 0 {
		if err != nil && err != io.EOF && f.err == nil {
			f.err = err
		}
		return 0, false
	}
	return b[0], true
}

// take reads n bytes (fewer at the end) and sends them where mode says.
func (f *htmlFilter) take(n int, mode int) {
	b, _ := f.r.Peek(n)
	switch mode {
	case keepIt:
		f.w.Write(b)
	case holdIt:
		f.pend = append(f.pend, b...)
	}
	f.r.Discard(len(b))
	f.n += int64(len(b))
}

// advance reads up to the next byte of stops (not read) or the end,
// sending what it reads where mode says; false at the end.
func (f *htmlFilter) advance(mode int, stops string) bool {
	for {
		if _, ok := f.peek(); !ok {
			return false
		}
		buf, _ := f.r.Peek(f.r.Buffered())
		i := bytes.IndexAny(buf, stops)
		if i < 0 {
			i = len(buf)
		}
		f.take(i, mode)
		if i < len(buf) {
			return true
		}
	}
}

// stops are the bytes advance stops at besides those of a state: those
// that may start a boundary.
func (f *htmlFilter) stops(s string) string {
	if f.raw != 0 {
		s += "<"
	}
	if f.cdata {
		s += "]"
	}
	return s
}

// boundary says whether what is read next ends a stretch that a browser
// may read as text ("</style" of a style element open, "]]>" of a CDATA
// section): whatever began in it ends here.
func (f *htmlFilter) boundary() bool {
	c, ok := f.peek()
	switch {
	case !ok:
		return false
	case c == '<' && f.raw != 0:
		p, _ := f.r.Peek(2 + maxTagName + 1)
		if len(p) < 3 || p[1] != '/' {
			return false
		}
		for i, name := range rawElements {
			if f.raw&(1<<i) != 0 && tagAt(p[2:], name) {
				return true
			}
		}
	case c == ']' && f.cdata:
		p, _ := f.r.Peek(3)
		return string(p) == "]]>"
	}
	return false
}

// tagAt says whether p starts with the tag name name (any case) and a
// byte that ends it.
func tagAt(p []byte, name string) bool {
	return len(p) > len(name) && bytes.EqualFold(p[:len(name)], []byte(name)) && endsTagName(p[len(name)])
}

func endsTagName(c byte) bool { return isSpace(c) || c == '/' || c == '>' }

// isSpace is HTML's whitespace (a CR is read as a line feed).
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }

func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// run reads the document: text, and markup at each '<'.
func (f *htmlFilter) run() {
	for {
		stops := "<"
		if f.cdata {
			stops += "]"
		}
		if !f.advance(keepIt, stops) {
			return
		}
		if c, _ := f.peek(); c == ']' {
			if f.boundary() { // the end of a CDATA section
				f.take(3, keepIt)
				f.cdata = false
			} else {
				f.take(1, keepIt)
			}
			continue
		}
		f.markup()
	}
}

// markup reads what starts at a '<'.
func (f *htmlFilter) markup() {
	p, _ := f.r.Peek(9)
	switch {
	case len(p) < 2:
		f.take(1, keepIt)
	case p[1] == '!' && len(p) >= 4 && p[2] == '-' && p[3] == '-':
		f.comment()
	case p[1] == '!':
		if string(p) == "<![CDATA[" {
			f.take(9, keepIt)
			f.cdata = true
			f.bogus(0)
		} else {
			f.bogus(2)
		}
	case p[1] == '?':
		f.bogus(2)
	case p[1] == '/' && len(p) >= 3 && isLetter(p[2]):
		f.tag(true)
	case p[1] == '/' && len(p) >= 3 && p[2] == '>': // "</>": nothing
		f.take(3, keepIt)
	case p[1] == '/' && len(p) >= 3:
		f.bogus(2)
	case isLetter(p[1]):
		f.tag(false)
	default: // "<" as text
		f.take(1, keepIt)
	}
}

// comment reads a comment, "<!--" and on, as HTML5 ends one.
func (f *htmlFilter) comment() {
	f.take(4, keepIt)
	if p, _ := f.r.Peek(2); len(p) > 0 && p[0] == '>' {
		f.take(1, keepIt) // "<!-->"
		return
	} else if string(p) == "->" {
		f.take(2, keepIt) // "<!--->"
		return
	}
	dashes, bang := 0, false
	for {
		before := f.n
		if !f.advance(keepIt, f.stops("-!>")) {
			return
		}
		if f.n != before { // text
			dashes, bang = 0, false
		}
		if f.boundary() {
			return
		}
		c, _ := f.peek()
		f.take(1, keepIt)
		switch {
		case c == '-' && bang:
			dashes, bang = 1, false
		case c == '-':
			dashes++
		case c == '>' && (dashes >= 2 || bang):
			return
		case c == '!' && dashes >= 2:
			dashes, bang = 0, true
		default:
			dashes, bang = 0, false
		}
	}
}

// bogus reads a declaration, processing instruction or other bogus
// comment up to its '>', its first n bytes ("<!") known.
func (f *htmlFilter) bogus(n int) {
	f.take(n, keepIt)
	for f.advance(keepIt, f.stops(">")) {
		if f.boundary() {
			return
		}
		c, _ := f.peek()
		f.take(1, keepIt)
		if c == '>' {
			return
		}
	}
}

// tag reads a start or end tag.
func (f *htmlFilter) tag(end bool) {
	f.pend = f.pend[:0]
	if end {
		f.take(2, holdIt)
	} else {
		f.take(1, holdIt)
	}
	var name [maxTagName]byte
	n, long := 0, false
	for {
		c, ok := f.peek()
		if !ok || endsTagName(c) || f.boundary() {
			break
		}
		if n == len(name) { // none of those looked for: it streams
			long = true
			f.flush()
			for {
				c, ok := f.peek()
				if !ok || endsTagName(c) || f.boundary() {
					break
				}
				f.take(1, keepIt)
			}
			break
		}
		name[n] = c | 0x20
		if !isLetter(c) {
			name[n] = c
		}
		n++
		f.take(1, holdIt)
	}
	element, raw := -1, -1
	if !long {
		for i, e := range htmlElements {
			if string(name[:n]) == e {
				element = i
			}
		}
		for i, e := range rawElements {
			if string(name[:n]) == e {
				raw = i
			}
		}
	}
	switch {
	case end: // "</object>" alone does nothing: it stays
		if raw >= 0 {
			f.raw &^= 1 << raw
		}
		f.flush()
		f.rest(keepIt)
	case element >= 0:
		f.pend = f.pend[:0]
		f.stats.Elements[element]++
		f.w.WriteString("<!-- WARNING: embedded " + htmlElements[element] + " removed -->")
		selfClosing, closed := f.rest(dropIt)
		if element < dropContent && closed && !selfClosing {
			f.dropElement(htmlElements[element])
		}
	default:
		if f.attributes() && raw >= 0 {
			f.raw |= 1 << raw
		}
	}
}

// flush writes what is held.
func (f *htmlFilter) flush() {
	f.w.Write(f.pend)
	f.pend = f.pend[:0]
}

// The states of HTML5's tokenizer in a tag, after its name.
const (
	beforeName = iota
	inName
	afterName
	beforeValue
	inDoubleQuoted
	inSingleQuoted
	inUnquoted
	afterQuoted
	selfClosingTag
	tagEnded
)

// step moves the tag state st (not tagEnded, where a tag is read) past
// byte c, as HTML5's tokenizer does; reconsume says c starts the next
// state (an attribute's name) rather than ending this one.
func step(st int, c byte) (next int, reconsume bool) {
	switch st {
	case inDoubleQuoted, inSingleQuoted:
		if c == '"' && st == inDoubleQuoted || c == '\'' && st == inSingleQuoted {
			return afterQuoted, false
		}
		return st, false
	case selfClosingTag:
		if c == '>' {
			return tagEnded, false
		}
		return beforeName, true
	}
	switch {
	case c == '>':
		return tagEnded, false
	case isSpace(c):
		switch st {
		case inName:
			return afterName, false
		case inUnquoted, afterQuoted:
			return beforeName, false
		}
		return st, false // before a name or a value, after a name
	case st == beforeValue && c == '"':
		return inDoubleQuoted, false
	case st == beforeValue && c == '\'':
		return inSingleQuoted, false
	case st == beforeValue, st == inUnquoted:
		return inUnquoted, false
	case c == '/':
		return selfClosingTag, false
	case c == '=' && (st == inName || st == afterName):
		return beforeValue, false
	case st == afterQuoted: // an attribute with no space before it
		return beforeName, true
	}
	return inName, false
}

// rest reads the rest of a tag, its bytes sent where mode says: whether
// it ends "/>" (selfClosing), and whether it ends at all (closed) — not
// at the end of the document or a boundary.
func (f *htmlFilter) rest(mode int) (selfClosing, closed bool) {
	st := beforeName
	for {
		c, ok := f.peek()
		if !ok || f.boundary() {
			return false, false
		}
		prev := st
		var again bool
		if st, again = step(st, c); again {
			st, _ = step(st, c)
		}
		f.take(1, mode)
		if st == tagEnded {
			return prev == selfClosingTag, true
		}
	}
}

// What becomes of an attribute of a start tag that is kept.
const (
	undecided = iota // held in pend, with the whitespace before it
	keepAttr         // written as it is read
	dropAttr         // dropped, the whitespace before it too
	headOut          // its name was too long to hold: written; its value is held to be judged
	dropValue        // its name written, its value dropped (written as "")
)

// attributes reads the attributes of a start tag that is kept (its
// "<name" held in pend) and drops those that run scripts: on…
// attributes, and those whose value is a script URL, judged on the
// whole value or its first maxHold bytes. It returns false if the tag
// does not end (the end of the document, a boundary).
func (f *htmlFilter) attributes() bool {
	f.flush()
	st := beforeName
	a := attr{f: f, value: -1}
	for {
		c, ok := f.peek()
		if !ok || f.boundary() {
			// What a value cut here would go on with starts "</" or
			// "]]>", which makes no script URL of it; a browser drops a
			// tag the document ends in.
			a.finish(true)
			f.flush()
			return false
		}
		prev := st
		next, again := step(st, c)
		if again { // an attribute right after a quoted value, or after "/"
			a.finish(true)
			prev, next = beforeName, inName
			if st == selfClosingTag {
				next, _ = step(beforeName, c)
			}
		}
		st = next
		switch st {
		case inName:
			if prev != inName { // an attribute starts
				a.finish(true)
				a.start()
			}
			a.nameByte(c)
		case afterName:
			if prev == inName {
				a.endName()
			}
			f.take(1, holdIt) // the attribute's if "=" follows, else the next one's
		case beforeValue:
			if prev == inName || prev == afterName {
				a.equals()
			}
			a.byteOf(c)
		case inDoubleQuoted, inSingleQuoted, inUnquoted:
			if prev == beforeValue {
				a.valueStarts()
			}
			a.byteOf(c)
		case afterQuoted:
			a.byteOf(c)
			a.judge(true)
		case beforeName, selfClosingTag:
			a.finish(true)
			f.take(1, holdIt)
			if len(f.pend) > maxHold {
				f.flush()
			}
		case tagEnded:
			a.finish(true)
			f.flush()
			f.take(1, keepIt)
			return true
		}
	}
}

// attr is the attribute attributes is reading.
type attr struct {
	f       *htmlFilter
	on      bool // an attribute is being read
	handler bool // its name starts "on" so far
	fate    int
	name    int // bytes of its name read
	nameEnd int // where its name ends in pend (undecided)
	value   int // where its value starts in pend; -1 before it
	judged  bool
}

// start begins an attribute: pend holds the whitespace before it.
func (a *attr) start() {
	*a = attr{f: a.f, on: true, value: -1, nameEnd: -1}
	if len(a.f.pend) > maxHold/2 { // too much to hold: it stays
		a.f.flush()
	}
}

// nameByte reads a byte of the name; "on" and one more make it an event
// handler, dropped.
func (a *attr) nameByte(c byte) {
	f := a.f
	if a.name < 3 && a.fate == undecided {
		lc := c | 0x20
		switch a.name {
		case 0:
			a.handler = lc == 'o'
		case 1:
			a.handler = a.handler && lc == 'n'
		case 2:
			if a.handler {
				f.stats.Handlers++
				f.pend = f.pend[:0]
				a.fate = dropAttr
			}
		}
	}
	a.name++
	a.byteOf(c)
}

// nameEnd marks where the name ends (what follows may be the next
// attribute's whitespace).
func (a *attr) endName() {
	if a.fate == undecided {
		a.nameEnd = len(a.f.pend)
	}
}

// equals reads the "=": the whitespace held since the name is the
// attribute's.
func (a *attr) equals() {
	f := a.f
	switch a.fate {
	case dropAttr:
		f.pend = f.pend[:0]
	case keepAttr:
		f.flush()
	case headOut:
		f.flush()
	}
	a.nameEnd = -1
}

// valueStarts marks the start of the value, which is judged.
func (a *attr) valueStarts() {
	if a.fate == headOut {
		a.f.flush()
	}
	a.value = len(a.f.pend)
}

// byteOf reads a byte of the attribute.
func (a *attr) byteOf(c byte) {
	f := a.f
	switch a.fate {
	case keepAttr:
		f.take(1, keepIt)
	case dropAttr, dropValue:
		f.take(1, dropIt)
	default:
		f.take(1, holdIt)
		if len(f.pend) <= maxHold {
			return
		}
		if a.value >= 0 { // a long value: judged on its start
			a.judge(false)
		} else { // a long name: written; its value is judged alone
			f.flush()
			a.fate = headOut
		}
	}
}

// judge decides on the value read (whole, or its start): a script URL
// goes, with the attribute if it is held whole.
func (a *attr) judge(whole bool) {
	f := a.f
	if a.value < 0 || a.judged || a.fate != undecided && a.fate != headOut {
		return
	}
	a.judged = true
	v := f.pend[a.value:]
	if len(v) > 0 && (v[0] == '"' || v[0] == '\'') {
		q := v[0]
		v = v[1:]
		if whole && len(v) > 0 && v[len(v)-1] == q {
			v = v[:len(v)-1]
		}
	}
	switch {
	case !scriptURL(v, whole):
		if a.fate == undecided {
			a.fate = keepAttr
		}
		f.flush()
	case a.fate == undecided:
		f.stats.URLs++
		f.pend = f.pend[:0]
		a.fate = dropAttr
	default: // headOut
		f.stats.URLs++
		f.pend = append(f.pend[:a.value], `""`...)
		f.flush()
		a.fate = dropValue
	}
	if a.fate == headOut {
		a.fate = keepAttr
	}
}

// finish ends the attribute being read, if any (whole: read to its
// end): what is held of it is written, unless it goes.
func (a *attr) finish(whole bool) {
	if !a.on {
		return
	}
	f := a.f
	a.judge(whole)
	switch a.fate {
	case undecided, headOut:
		end := len(f.pend)
		if a.nameEnd >= 0 {
			end = a.nameEnd
		}
		f.w.Write(f.pend[:end])
		f.pend = append(f.pend[:0], f.pend[end:]...)
	}
	a.on = false
}

// dropElement drops the content and end tag of a script or iframe
// element whose start tag was dropped: up to its end tag, nested ones
// counted, or to a boundary or the end of the document.
func (f *htmlFilter) dropElement(name string) {
	depth := 1
	for f.advance(dropIt, f.stops("<")) {
		if f.boundary() {
			return
		}
		c, _ := f.peek()
		if c != '<' {
			f.take(1, dropIt)
			continue
		}
		p, _ := f.r.Peek(2 + len(name) + 1)
		switch {
		case len(p) > 1 && p[1] == '/' && tagAt(p[2:], name):
			if depth--; depth == 0 {
				f.take(2+len(name), dropIt)
				f.rest(dropIt)
				return
			}
			f.take(2+len(name), dropIt)
		case tagAt(p[1:], name):
			depth++
			f.take(1+len(name), dropIt)
		default:
			f.take(1, dropIt)
		}
	}
}

// scriptURL says whether attribute value v, as written, is a javascript:
// or vbscript: URL as a browser reads it: character references decoded,
// tabs and line breaks removed, leading spaces and control characters
// ignored, in any case. Where v is only the start of the value (not
// whole), one that may still become such a URL counts as one.
func scriptURL(v []byte, whole bool) bool {
	if !whole { // a character reference cut short would decode to another
		if amp := bytes.LastIndexByte(v, '&'); amp >= 0 && len(v)-amp < 40 && !bytes.ContainsAny(v[amp:], "; \t\r\n\f") {
			v = v[:amp]
		}
	}
	return scriptScheme(html.UnescapeString(string(v)), whole)
}

// scriptScheme is scriptURL for a value whose character references are
// decoded (as a parser gives it).
func scriptScheme(s string, whole bool) bool {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
	s = strings.TrimLeft(s, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	if len(s) > 16 {
		s = s[:16]
	}
	s = strings.ToLower(s)
	for _, scheme := range []string{"javascript:", "vbscript:"} {
		if strings.HasPrefix(s, scheme) || !whole && strings.HasPrefix(scheme, s) {
			return true
		}
	}
	return false
}
