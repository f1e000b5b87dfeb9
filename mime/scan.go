package mime

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Options are what a scan looks for and how far it may go.
type Options struct {
	BannedExts    []string // without the dot; empty: no extension is banned
	ScanZip       bool     // list the entries of .zip parts
	ZipDepth      int      // nested zips looked into
	ZipMaxExpand  int64    // bytes decompressed per message to look into nested zips
	ZipMaxEntries int      // zip entries listed per message
	ScanRFC822    bool     // look into attached messages
	TempDir       string   // where a large zip part is decoded
	MemThreshold  int64    // a zip part larger than this is decoded to a file
}

// maxDepth bounds the nesting of multiparts and attached messages.
const maxDepth = 32

// maxHeaderBytes bounds the header of one part.
const maxHeaderBytes = 64 << 10

// Part is a leaf part of the message.
type Part struct {
	Type   string   // media type, lower case
	Names  []string // the names it goes by (parameter values)
	Banned string   // the offending name ("x.exe", "x.zip: y.exe"); "" if clean
	Reason string   // why it is banned

	// Start and End delimit the bytes of the body that replace the part
	// when it is defanged: the whole multipart child it stands in (with
	// its header), or for Top the whole body.
	Start, End int64
	Top        bool // the message has no enclosing multipart: its own header must change
}

// Result is what a scan found.
type Result struct {
	Parts     []Part // leaf parts, in order
	Malformed string // why the structure could not be recovered; "" if it could
}

// Banned returns the parts to defang.
func (r *Result) Banned() []Part {
	var out []Part
	for _, p := range r.Parts {
		if p.Banned != "" {
			out = append(out, p)
		}
	}
	return out
}

// region is the stretch of the body a leaf's replacement takes.
type region struct {
	start, end int64
	top        bool
}

// delimiter is a boundary line found in the body.
type delimiter struct {
	level      int  // index in the boundary stack
	closing    bool // "--boundary--"
	start, end int64
}

// scanner walks the body once, line by line, keeping offsets.
type scanner struct {
	o       *Options
	body    io.ReaderAt
	size    int64
	r       *bufio.Reader
	off     int64 // offset of the next unread byte
	midLine bool  // the last slice read did not end a line
	res     *Result
	regions []*region // of res.Parts, filled in when known
	zip     zipBudget
}

// Scan reads a message: top is its header, body the rest, size bytes.
func Scan(top []Header, body io.ReaderAt, size int64, o *Options) *Result {
	s := &scanner{o: o, body: body, size: size, res: &Result{}, zip: zipBudget{expand: o.ZipMaxExpand, entries: o.ZipMaxEntries}}
	s.seek(0)
	whole := &region{start: 0, end: size, top: true}
	s.entity(top, 0, nil, whole)
	for i, rg := range s.regions {
		s.res.Parts[i].Start, s.res.Parts[i].End, s.res.Parts[i].Top = rg.start, rg.end, rg.top
	}
	return s.res
}

func (s *scanner) seek(off int64) {
	s.off = off
	s.midLine = false
	sr := io.NewSectionReader(s.body, off, s.size-off)
	if s.r == nil { // the body's size, up to 64 KiB: most bodies are small
		s.r = bufio.NewReaderSize(sr, int(min(max(s.size+1, 4096), 64<<10)))
	} else {
		s.r.Reset(sr)
	}
}

// line returns the next line with its terminator (or a piece of a very
// long line), whether it starts a line, and its offset; nil at the end.
func (s *scanner) line() (l []byte, atStart bool, start int64) {
	l, err := s.r.ReadSlice('\n')
	if len(l) == 0 && err != nil {
		return nil, false, s.off
	}
	start, atStart = s.off, !s.midLine
	s.off += int64(len(l))
	s.midLine = l[len(l)-1] != '\n'
	return l, atStart, start
}

// boundary is one enclosing multipart's boundary, with the form it takes
// if the header folded it (whitespace removed).
type boundary struct{ b, squeezed string }

// delimiterOf says whether l is a delimiter line of one of the enclosing
// multiparts, innermost first.
func delimiterOf(l []byte, bounds []boundary) (level int, closing, ok bool) {
	if !bytes.HasPrefix(l, []byte("--")) {
		return 0, false, false
	}
	rest := bytes.TrimRight(l[2:], " \t\r\n")
	for i := len(bounds) - 1; i >= 0; i-- {
		for _, b := range []string{bounds[i].b, bounds[i].squeezed} {
			if b == "" || !bytes.HasPrefix(rest, []byte(b)) {
				continue
			}
			switch tail := rest[len(b):]; {
			case len(tail) == 0:
				return i, false, true
			case bytes.Equal(tail, []byte("--")):
				return i, true, true
			}
		}
	}
	return 0, false, false
}

// header reads a part's header up to the blank line. A line that cannot
// be a header field starts the body: the part then has no header.
func (s *scanner) header(bounds []boundary) (h []Header, d *delimiter) {
	size := 0
	for {
		mark := s.off
		l, atStart, start := s.line()
		if l == nil {
			return h, nil
		}
		if atStart {
			if lvl, closing, ok := delimiterOf(l, bounds); ok {
				return h, &delimiter{level: lvl, closing: closing, start: start, end: s.off}
			}
		}
		t := bytes.TrimRight(l, "\r\n")
		if len(t) == 0 {
			return h, nil
		}
		if (t[0] == ' ' || t[0] == '\t') && len(h) > 0 {
			if size += len(t); size <= maxHeaderBytes {
				h[len(h)-1].Value += "\r\n" + string(t)
			}
			continue
		}
		name, value, ok := bytes.Cut(t, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			s.seek(mark) // body text without a header
			return h, nil
		}
		if size += len(t); size <= maxHeaderBytes {
			h = append(h, Header{Name: string(name), Value: strings.TrimLeft(string(value), " \t")})
		}
	}
}

// entity reads one entity (its header h already read) until the end of
// the body or a delimiter of an enclosing multipart, which it returns.
func (s *scanner) entity(h []Header, depth int, bounds []boundary, rg *region) *delimiter {
	ctype, params := parseField(field(h, "Content-Type"))
	if depth > maxDepth {
		s.malformed(fmt.Sprintf("parts nested deeper than %d", maxDepth))
		return s.skip(bounds, nil)
	}
	switch {
	case strings.HasPrefix(ctype, "multipart/"):
		b := ""
		for _, p := range params {
			if p.name == "boundary" {
				b = p.value
			}
		}
		return s.multipart(b, depth, bounds)
	case ctype == "message/rfc822" && s.o.ScanRFC822:
		inner, d := s.header(bounds)
		if d != nil {
			return d
		}
		return s.entity(inner, depth+1, bounds, rg)
	}
	return s.leaf(h, ctype, bounds, rg)
}

// multipart reads a multipart body: preamble, parts, epilogue.
func (s *scanner) multipart(b string, depth int, bounds []boundary) *delimiter {
	mine := boundary{b: b, squeezed: strings.Join(strings.Fields(b), "")}
	if mine.squeezed == b {
		mine.squeezed = ""
	}
	inner := append(bounds[:len(bounds):len(bounds)], mine)
	level := len(inner) - 1
	// The preamble, up to the first delimiter. If the declared boundary
	// never comes (garbled), the first "--" line of the preamble is taken
	// for it, as mail clients do. If there is none either, the multipart
	// has no parts — a returned header that announces a multipart, or a
	// returned message cut short — and no client finds one in it: what
	// it holds is a preamble, which clients ignore or show as text.
	var guess int64 = -1
	var d *delimiter
	for d == nil {
		l, atStart, start := s.line()
		if l == nil {
			break
		}
		if !atStart {
			continue
		}
		if lvl, closing, ok := delimiterOf(l, inner); ok {
			d = &delimiter{level: lvl, closing: closing, start: start, end: s.off}
			break
		}
		if guess < 0 && bytes.HasPrefix(l, []byte("--")) && len(bytes.TrimSpace(l)) > 2 {
			guess = start
		}
	}
	if d == nil || d.level < level {
		if guess < 0 {
			return d
		}
		s.seek(guess)
		l, _, _ := s.line()
		mine = boundary{b: strings.TrimSuffix(string(bytes.TrimRight(l[2:], " \t\r\n")), "--")}
		inner[level] = mine
		d = &delimiter{level: level, start: guess, end: s.off}
	}
	// The parts.
	for d != nil && d.level == level && !d.closing {
		child := &region{start: d.end}
		h, hd := s.header(inner)
		if hd != nil {
			d = hd
		} else {
			d = s.entity(h, depth+1, inner, child)
		}
		child.end = s.off
		if d != nil {
			child.end = d.start
		}
	}
	if d == nil || d.level < level {
		return d // missing closing delimiter, or an enclosing one came first
	}
	return s.skip(bounds, nil) // the epilogue
}

// leaf records a leaf part and reads past its body, decoding it when a
// zip inside must be listed.
func (s *scanner) leaf(h []Header, ctype string, bounds []boundary, rg *region) *delimiter {
	p := Part{Type: ctype, Names: names(h)}
	for _, n := range p.Names {
		if ext := bannedExt(n, s.o.BannedExts); ext != "" {
			p.Banned, p.Reason = n, "banned extension ."+ext
			break
		}
	}
	var zipName string
	if p.Banned == "" && s.o.ScanZip {
		for _, n := range p.Names {
			if isZip(n) {
				zipName = n
				break
			}
		}
	}
	var d *delimiter
	if zipName != "" {
		content := s.newContent(field(h, "Content-Transfer-Encoding"))
		d = s.skip(bounds, content)
		if banned, reason := s.zip.check(content, s.o); banned != "" {
			p.Banned, p.Reason = zipName+": "+banned, reason
		}
		content.close()
	} else {
		d = s.skip(bounds, nil)
	}
	s.res.Parts = append(s.res.Parts, p)
	s.regions = append(s.regions, rg)
	return d
}

// skip reads lines until a delimiter of bounds or the end, feeding them
// to content if it is not nil. The line break before a delimiter belongs
// to the delimiter (RFC 2046), so content does not get it.
func (s *scanner) skip(bounds []boundary, content *decoded) *delimiter {
	var held []byte // the last line's break, held back until we know what follows
	for {
		l, atStart, start := s.line()
		if l == nil {
			return nil
		}
		if atStart && len(bounds) > 0 {
			if lvl, closing, ok := delimiterOf(l, bounds); ok {
				return &delimiter{level: lvl, closing: closing, start: start, end: s.off}
			}
		}
		if content != nil {
			content.write(held)
			body := bytes.TrimRight(l, "\r\n")
			content.write(body)
			held = append(held[:0], l[len(body):]...)
		}
	}
}

func (s *scanner) malformed(why string) {
	if s.res.Malformed == "" {
		s.res.Malformed = why
	}
}
