package mime

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/maxwell-milter/maxwell/internal/oneline"
	"github.com/maxwell-milter/maxwell/internal/spool"
)

// Options are what a scan looks for and how far it may go.
type Options struct {
	BannedExts    []string // without the dot; empty: no extension is banned
	ScanZip       bool     // list the entries of .zip parts
	ZipDepth      int      // nested zips looked into
	ZipMaxExpand  int64    // bytes decompressed per message to look into nested zips
	ZipMaxEntries int      // zip entries listed per message
	ScanRFC822    bool     // look into attached messages
	ScanHTML      bool     // remove active content from HTML parts (FilterHTML)
	MaxDecode     int64    // bytes decoded per message from multiparts and attached messages in base64 or quoted-printable
	MaxParts      int      // parts read per message; a message with more is malformed
	TempDir       string   // where a large zip part is decoded
	MemThreshold  int64    // a zip part larger than this is decoded to a file
}

// maxDepth bounds the nesting of multiparts and attached messages.
const maxDepth = 32

// maxHeaderBytes bounds the fields a scan keeps of one part's header.
const maxHeaderBytes = 64 << 10

// maxNameLen bounds the type, name and reason a part to defang is kept
// with, once judged: what a scan keeps is then at most Options.MaxParts
// times a few hundred bytes, whatever the names.
const maxNameLen = 255

// Part is a leaf part to defang: to replace with a warning, or (Clean)
// an HTML part to rewrite without its active content.
type Part struct {
	Type   string // media type, lower case
	Name   string // the offending name ("x.exe", "x.zip: y.exe"), cut to maxNameLen bytes
	Reason string // why it is banned, or what is removed from it (Clean)

	// Start and End delimit the bytes of the body that replace the part
	// when it is defanged: the whole multipart child it stands in (with
	// its header), or for Top the whole body.
	Start, End int64
	Top        bool // the message has no enclosing multipart: its own header must change

	// Clean marks an HTML part whose active content is removed
	// (Options.ScanHTML): its header, Start to Body (none for Top), is
	// written again with its Content-Transfer-Encoding made
	// quoted-printable; its content, Body to End in transfer encoding
	// CTE, is decoded, filtered and encoded so, but for its last Break
	// bytes: the line break before the delimiter that follows it.
	Clean bool
	Body  int64
	CTE   string
	Break int
}

// Result is what a scan found. What it holds does not grow with the
// number of parts, only with the number of parts to defang, which
// Options.MaxParts bounds, and each of those is a few hundred bytes
// (maxNameLen), whatever its names.
type Result struct {
	Parts     int    // parts read: leaves, multiparts and attached messages
	Banned    []Part // the parts to defang, in order: replaced, or cleaned (Clean)
	Malformed string // why the message cannot be defanged safely; "" if it can
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

// scanner walks a body once, line by line, keeping offsets: the
// message's, or the decoded content of an encoded part.
type scanner struct {
	*scan
	body    io.ReaderAt
	size    int64
	r       *bufio.Reader
	off     int64 // offset of the next unread byte
	midLine bool  // the last slice read did not end a line
	lastCR  bool  // the last slice read ended with a CR
	afterCR bool  // the last slice read goes on a line whose slice before ended with a CR

	// encoded is set while the scanner reads the decoded content of a
	// multipart or attached message sent in base64 or quoted-printable:
	// that part's region in the message, which a part to defang in it
	// takes, and what it is ("base64 message/rfc822").
	encoded   *region
	encodedAs string

	// asWritten is set while the scanner reads as Python's email reads
	// a message, where it differs from Thunderbird: the transfer
	// encoding of a multipart or an attached message is ignored (the
	// parts in it, and the encoded parts in those, are not decoded), and
	// a line that is not a header field ends a part's header. A scanner
	// reads as Thunderbird does, and starts one that reads as written
	// where the two part ways (decoded, part).
	asWritten bool

	// twoWays is set while a scanner that reads as Thunderbird does
	// reads a part whose header Python's email ends early (headerSplit):
	// the two read what is in it differently.
	twoWays bool
}

// scan is what one Scan keeps across the bodies its scanners read.
type scan struct {
	o       *Options
	res     *Result
	regions []*region // of res.Banned, filled in when known
	zip     zipBudget
	decode  int64  // bytes of encoded parts that may still be decoded
	clean   []Part // the HTML parts to clean (Clean), in the message's offsets
}

// Scan reads a message: top is its header, body the rest, size bytes. It
// stops at the first reason the message is malformed.
func Scan(top []Header, body io.ReaderAt, size int64, o *Options) *Result {
	s := &scanner{scan: &scan{o: o, res: &Result{}, zip: zipBudget{expand: o.ZipMaxExpand, entries: o.ZipMaxEntries}, decode: o.MaxDecode},
		body: body, size: size}
	s.seek(0)
	defer s.release()
	whole := &region{start: 0, end: size, top: true}
	s.entity(top, -1, 0, nil, whole)
	for i, rg := range s.regions {
		s.res.Banned[i].Start, s.res.Banned[i].End, s.res.Banned[i].Top = rg.start, rg.end, rg.top
	}
	s.res.Banned = outermost(s.res.Banned)
	// An HTML part in one that is replaced goes with it.
	for _, c := range s.clean {
		if !slices.ContainsFunc(s.res.Banned, func(b Part) bool { return b.Start <= c.Start && c.End <= b.End }) {
			s.res.Banned = append(s.res.Banned, c)
		}
	}
	sort.SliceStable(s.res.Banned, func(i, j int) bool { return s.res.Banned[i].Start < s.res.Banned[j].Start })
	return s.res
}

// outermost returns the parts to defang that no other one holds, in
// their order: a part found by both readings of an encoded part (as it
// is and decoded) is replaced once, with that part whole. Regions are
// nested or apart, never overlapping otherwise.
func outermost(parts []Part) []Part {
	order := make([]int, len(parts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := parts[order[i]], parts[order[j]]
		return a.Start < b.Start || a.Start == b.Start && a.End > b.End
	})
	held := make([]bool, len(parts))
	end := int64(-1)
	for _, i := range order {
		if parts[i].End <= end {
			held[i] = true
		} else {
			end = parts[i].End
		}
	}
	var out []Part
	for i, p := range parts {
		if !held[i] {
			out = append(out, p)
		}
	}
	return out
}

func (s *scanner) seek(off int64) {
	s.off = off
	s.midLine, s.lastCR, s.afterCR = false, false, false
	sr := io.NewSectionReader(s.body, off, s.size-off)
	if s.r == nil { // the body's size, up to 64 KiB: most bodies are small
		s.r = getReader(sr, s.size+1)
	} else {
		s.r.Reset(sr)
	}
}

// readers holds the line readers of finished scans, by size: 4 KiB, 8,
// 16, 32 and 64 KiB. A busy server scans one body after another, and
// each would otherwise allocate a buffer as big as its body.
var readers [5]sync.Pool

// readerClass is the pool of a reader for n bytes: the smallest that
// holds them, or the largest.
func readerClass(n int64) int {
	c := 0
	for c < len(readers)-1 && int64(4096)<<c < n {
		c++
	}
	return c
}

// getReader returns a line reader of r for a body of n bytes.
func getReader(r io.Reader, n int64) *bufio.Reader {
	c := readerClass(n)
	if br, ok := readers[c].Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, 4096<<c)
}

// release gives the scanner's line reader back for the next scan.
func (s *scanner) release() {
	if s.r != nil {
		s.r.Reset(nil)
		readers[readerClass(int64(s.r.Size()))].Put(s.r)
		s.r = nil
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
	s.afterCR = s.midLine && s.lastCR
	s.midLine, s.lastCR = l[len(l)-1] != '\n', l[len(l)-1] == '\r'
	return l, atStart, start
}

// checkCR makes the message malformed if line l, as line returned it,
// holds structure behind a bare CR: a delimiter of bounds, or in a part's
// header (inHeader) a field the scan reads, that a client ending lines
// at a bare CR (as old Mac mail did) sees and this scan, ending them at
// LF, does not. A bare CR elsewhere is left alone.
func (s *scanner) checkCR(l []byte, atStart, inHeader bool, bounds []boundary) {
	cr := bytes.IndexByte(l, '\r')
	if !s.afterCR && (cr < 0 || cr == len(l)-1 || cr == len(l)-2 && l[cr+1] == '\n') {
		return // no bare CR: the common case, first
	}
	t := bytes.TrimRight(l, "\r\n")
	if _, _, ok := delimiterOf(l, bounds); ok && atStart {
		return // a delimiter either way
	}
	for first := true; ; first = false {
		cr := bytes.IndexByte(t, '\r')
		seg := t
		if cr >= 0 {
			seg = t[:cr]
		}
		afterCR := !first || s.afterCR
		_, _, isDelimiter := delimiterOf(seg, bounds)
		name, _, isField := fieldOf(seg)
		if (afterCR || atStart) && isDelimiter || afterCR && inHeader && isField && isScanned(name) {
			s.malformed("a bare CR before a boundary or a Content- field: clients that end lines at a CR see parts there that others do not")
			return
		}
		if cr < 0 {
			return
		}
		t = t[cr+1:]
	}
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

// header reads a part's header up to the blank line and returns the
// fields a scan reads (Content-Type, Content-Disposition,
// Content-Transfer-Encoding): more than maxHeaderBytes of them make the
// message malformed. "From " lines (an mbox envelope) are skipped, as
// clients skip them.
//
// A line that is not a field (no colon, a name with a space in it) is
// read as Thunderbird reads it: skipped, the fields after it read on to
// the blank line. Python's email ends the header there, and reads the
// rest as the body; split says where (it.at < 0 if the header has no
// such line), for a second reading (part). Read as written, the header
// ends there. A part without a header — its body text where the header
// would be — is the same thing.
func (s *scanner) header(bounds []boundary) (h []Header, d *delimiter, split headerSplit) {
	var value []byte // of the field kept last, while it is read
	size, fields, keep := 0, 0, false
	split.at = -1
	add := func(p []byte) {
		if size += len(p); size > maxHeaderBytes {
			s.malformed(fmt.Sprintf("a part's Content- header fields are over %d bytes", maxHeaderBytes))
			keep = false
			return
		}
		value = append(value, p...)
	}
	next := func(keepNext bool) { // a field ends
		if keep {
			h[len(h)-1].Value = string(value)
		}
		keep, value = keepNext, value[:0]
	}
	for {
		mark := s.off
		l, atStart, start := s.line()
		if l == nil {
			next(false)
			return h, nil, split
		}
		s.checkCR(l, atStart, true, bounds)
		t := bytes.TrimRight(l, "\r\n")
		switch {
		case !atStart: // the rest of a line longer than the read buffer
			if keep {
				add(t)
			}
			continue
		case len(t) > 0 && (t[0] == ' ' || t[0] == '\t'): // folded, or a stray one clients skip
			if keep {
				add([]byte("\r\n"))
				add(t)
			}
			continue
		}
		next(false)
		if lvl, closing, ok := delimiterOf(l, bounds); ok {
			return h, &delimiter{level: lvl, closing: closing, start: start, end: s.off}, split
		}
		if len(t) == 0 {
			return h, nil, split
		}
		if endsPythonHeader(t) {
			if s.asWritten {
				s.seek(mark) // the body
				return h, nil, split
			}
			if split.at < 0 {
				split = headerSplit{at: mark, fields: len(h)}
			}
		}
		name, v, ok := fieldOf(t)
		if !ok {
			continue // skipped, as Thunderbird skips it
		}
		fields++
		if isScanned(name) && s.res.Malformed == "" {
			h = append(h, Header{Name: string(name)})
			next(true)
			add(bytes.TrimLeft(v, " \t"))
		}
	}
}

// headerSplit is where Python's email ends a part's header that
// Thunderbird reads on: the offset of that line, and how many of the
// fields come before it.
type headerSplit struct {
	at     int64 // -1: nowhere
	fields int
}

// endsPythonHeader says whether header line t (not folded) ends the
// header as Python's email reads it: a line that is not "From " nor a
// field whose name is printable ASCII without a space (so "Content-Type :"
// ends it too).
func endsPythonHeader(t []byte) bool {
	if bytes.HasPrefix(t, []byte("From ")) {
		return false
	}
	colon := bytes.IndexByte(t, ':')
	if colon < 0 {
		return true
	}
	for _, c := range t[:colon] {
		if c <= ' ' || c >= 0x7f {
			return true
		}
	}
	return false
}

// fieldOf splits a header line into its field's name and value; ok is
// false if it is not a field as Thunderbird reads one: no colon, or a
// name that is empty or holds whitespace. Whitespace before the colon
// is not part of the name (RFC 5322's obsolete "Content-Type : …").
func fieldOf(t []byte) (name, value []byte, ok bool) {
	name, value, ok = bytes.Cut(t, []byte(":"))
	name = bytes.TrimRight(name, " \t")
	return name, value, ok && len(name) > 0 && !bytes.ContainsAny(name, " \t")
}

// part reads a part whose header h the scanner has read (hd, the
// delimiter that ended it, if one did), as Thunderbird reads it; and
// where the header has a line that ends it for Python's email (split),
// reads it as written too: a header of the fields before that line, a
// body from it on. In a multipart/digest (digest), a part without a
// Content-Type is a message/rfc822. hstart is where its header starts.
// It returns the delimiter that ends the part.
func (s *scanner) part(h []Header, hd *delimiter, split headerSplit, digest bool, hstart int64, depth int, bounds []boundary, rg *region) *delimiter {
	typed := func(h []Header) []Header {
		if !digest {
			return h
		}
		if ctype, _, _ := contentType(h); ctype == "" {
			return append(h[:len(h):len(h)], Header{Name: "Content-Type", Value: "message/rfc822"})
		}
		return h
	}
	d := hd
	if d == nil {
		twoWays := s.twoWays
		s.twoWays = twoWays || split.at >= 0
		d = s.entity(typed(h), hstart, depth, bounds, rg)
		s.twoWays = twoWays
	}
	if split.at >= 0 && s.res.Malformed == "" {
		end := s.off
		if d != nil {
			end = d.start
		}
		s.asWrittenFrom(split.at, end).entity(typed(h[:split.fields]), hstart, depth, nil, rg)
	}
	return d
}

// isScanned says whether a scan reads the header field called name.
func isScanned(name []byte) bool {
	for _, f := range []string{"Content-Type", "Content-Disposition", "Content-Transfer-Encoding"} {
		if bytes.EqualFold(name, []byte(f)) {
			return true
		}
	}
	return false
}

// entity reads one entity (its header h already read, from hstart in the
// body; -1: the message's own) until the end of the body or a delimiter
// of an enclosing multipart, which it returns.
func (s *scanner) entity(h []Header, hstart int64, depth int, bounds []boundary, rg *region) *delimiter {
	switch s.res.Parts++; {
	case s.res.Parts > s.o.MaxParts:
		s.malformed(fmt.Sprintf("more than %d MIME parts", s.o.MaxParts))
	case depth > maxDepth:
		s.malformed(fmt.Sprintf("parts nested deeper than %d", maxDepth))
	}
	ctype, params, why := contentType(h)
	s.malformed(why)
	if ctype == "message/partial" {
		s.malformed("a message/partial part: a fragment of a message cannot be judged alone")
	}
	if s.res.Malformed != "" {
		return nil // the answer is known: the rest is not read
	}
	if !strings.HasPrefix(ctype, "multipart/") && !(isMessage(ctype) && s.o.ScanRFC822) {
		return s.leaf(h, ctype, hstart, bounds, rg)
	}
	// A client may save a multipart or an attached message itself under
	// its name (message/rfc822; name="evil.exe"): it goes whole.
	ns, why := names(h, false)
	s.malformed(why)
	if name, ext := bannedName(ns, s.o.BannedExts); name != "" {
		s.ban(ctype, name, "banned extension ."+ext, rg)
		return s.skip(bounds)
	}
	cte, why := transferEncoding(h)
	switch {
	case why != "":
		s.malformed(why)
		return nil
	case (cte == "base64" || cte == "quoted-printable") && !s.asWritten:
		return s.decoded(ctype, params, cte, depth, bounds, rg)
	case isUUOrYEnc(cte):
		s.malformed(fmt.Sprintf("a %s part in transfer encoding %s, which clients decode and maxwell does not", ctype, cte))
		return nil
	}
	return s.container(ctype, params, depth, bounds, rg)
}

// isMessage says whether a part of media type ctype is a message that
// clients may open as one: message/rfc822 and the names it also goes by
// (message/global, message/x-rfc822, message/news …), and every other
// message/ type, which Python's email opens the same way
// (message/rfc2822, message/external-body, a DSN's
// message/delivery-status: header fields only).
func isMessage(ctype string) bool {
	return strings.HasPrefix(ctype, "message/")
}

// container reads the body of a multipart or an attached message.
func (s *scanner) container(ctype string, params []param, depth int, bounds []boundary, rg *region) *delimiter {
	if strings.HasPrefix(ctype, "multipart/") {
		return s.multipart(paramOf(params, "boundary"), ctype == "multipart/digest", depth, bounds)
	}
	hstart := s.off
	inner, d, split := s.header(bounds)
	return s.part(inner, d, split, false, hstart, depth+1, bounds, rg)
}

// asWrittenFrom returns a scanner that reads the body from start to end
// as written (asWritten).
func (s *scanner) asWrittenFrom(start, end int64) *scanner {
	w := &scanner{scan: s.scan, body: s.body, size: end, encoded: s.encoded, encodedAs: s.encodedAs, asWritten: true}
	w.seek(start)
	return w
}

// decoded reads a multipart or an attached message sent in base64 or
// quoted-printable, which RFC 2045 forbids. Clients differ: Thunderbird
// decodes it, Python's email reads it as it is (as it was sent, if the
// header lies). Both readings are scanned. As it is, a part to defang is
// cut out as anywhere else; decoded — the content decoded into a spool
// and scanned there — it cannot be cut out of the encoding: it takes the
// whole encoded part (rg) with it.
func (s *scanner) decoded(ctype string, params []param, cte string, depth int, bounds []boundary, rg *region) *delimiter {
	start := s.off
	d := s.skip(bounds)
	end := s.off
	if d != nil {
		end = d.start
	}
	s.asWrittenFrom(start, end).container(ctype, params, depth, nil, rg)
	data := spool.New(s.o.TempDir, min(s.o.MemThreshold, nestedInMemory), s.decode+1)
	defer data.Close()
	n, err := io.Copy(data, io.LimitReader(decoder(io.NewSectionReader(s.body, start, end-start), cte), s.decode+1))
	switch s.decode -= n; {
	case err != nil:
		s.malformed(fmt.Sprintf("a %s %s part that could not be decoded: %v", cte, ctype, err))
		return d
	case s.decode < 0:
		s.malformed(fmt.Sprintf("parts in base64 or quoted-printable that decode to more than %d bytes", s.o.MaxDecode))
		return d
	}
	in := &scanner{scan: s.scan, body: data, size: data.Size(), encoded: s.encoded, encodedAs: s.encodedAs}
	if in.encoded == nil {
		in.encoded, in.encodedAs = rg, cte+" "+ctype
	}
	in.seek(0)
	in.container(ctype, params, depth, nil, rg)
	return d
}

// multipart reads a multipart body: preamble, parts, epilogue.
// In a multipart/digest (digest), a part without a Content-Type is a
// message/rfc822.
func (s *scanner) multipart(b string, digest bool, depth int, bounds []boundary) *delimiter {
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
		s.checkCR(l, atStart, false, inner)
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
		h, hd, split := s.header(inner)
		d = s.part(h, hd, split, digest, child.start, depth+1, inner, child)
		child.end = s.off
		if d != nil {
			child.end = d.start
		}
	}
	if d == nil || d.level < level {
		return d // missing closing delimiter, or an enclosing one came first
	}
	return s.skip(bounds) // the epilogue
}

// leaf reads past a leaf part's body (its header from hstart) and
// records the part if it must be defanged.
func (s *scanner) leaf(h []Header, ctype string, hstart int64, bounds []boundary, rg *region) *delimiter {
	start := s.off
	d := s.skip(bounds)
	end := s.off
	if d != nil {
		end = d.start
	}
	if name, reason := s.judge(h, ctype, io.NewSectionReader(s.body, start, end-start)); name != "" {
		s.ban(ctype, name, reason, rg)
	} else if s.o.ScanHTML && s.res.Malformed == "" {
		s.html(h, ctype, hstart, start, end, d != nil, rg)
	}
	return d
}

// ban records a part to defang: of type ctype, banned by its name for
// reason, its replacement taking rg — or, where the scanner reads an
// encoded part decoded, that part whole.
func (s *scanner) ban(ctype, name, reason string, rg *region) {
	if s.encoded != nil {
		rg, reason = s.encoded, reason+", in a "+s.encodedAs+" part removed whole"
	}
	s.res.Banned = append(s.res.Banned, Part{Type: cut(ctype), Name: cut(name), Reason: cut(reason)})
	s.regions = append(s.regions, rg)
}

// judge returns the name that bans a leaf part (header h, media type
// ctype, body content in its transfer encoding) and why; "" if the part
// is clean. A part is a zip to list when a client may save it as one (a
// name ending .zip) or its type says it is one.
func (s *scanner) judge(h []Header, ctype string, content io.Reader) (name, reason string) {
	ns, why := names(h, true)
	if why != "" {
		s.malformed(why)
		return "", ""
	}
	if name, ext := bannedName(ns, s.o.BannedExts); name != "" {
		return name, "banned extension ." + ext
	}
	if executableTypes[ctype] && len(s.o.BannedExts) > 0 {
		named, _ := names(h, false)
		if !slices.ContainsFunc(named, hasExtension) {
			name := "(" + ctype + ")"
			if len(named) > 0 {
				name = named[0]
			}
			return name, "executable type " + ctype + " without a file name extension"
		}
	}
	if !s.o.ScanZip {
		return "", ""
	}
	zipName := ""
	for _, n := range ns {
		if isZip(n) {
			zipName = n
			break
		}
	}
	if zipName == "" && isZipType(ctype) {
		zipName = "(" + ctype + ")"
		if len(ns) > 0 {
			zipName = ns[0]
		}
	}
	if zipName == "" {
		return "", ""
	}
	cte, why := transferEncoding(h)
	if why != "" {
		s.malformed(why)
		return "", ""
	}
	if banned, reason := s.zip.check(content, cte, s.o); banned != "" {
		return zipName + ": " + banned, reason
	}
	return "", ""
}

// executableTypes are the media types of programs: a client saves a
// part of one that has no file name extension under a name it makes up
// from the type (application/x-msdownload: .exe), which runs.
var executableTypes = map[string]bool{
	"application/x-msdownload":                      true, // .exe, .dll
	"application/x-msdos-program":                   true, // .exe, .com, .bat (Debian's mime.types)
	"application/x-dosexec":                         true, // what file(1) says of an .exe
	"application/vnd.microsoft.portable-executable": true,
	"application/x-ms-installer":                    true, // .msi
	"application/x-msi":                             true,
	"application/x-ms-shortcut":                     true, // .lnk
	"application/x-ms-application":                  true, // ClickOnce
	"application/hta":                               true,
	"application/x-bat":                             true,
	"application/x-sh":                              true,
	"application/x-csh":                             true,
	"application/javascript":                        true, // Windows Script Host runs .js
	"application/x-javascript":                      true,
	"text/javascript":                               true,
	"text/vbscript":                                 true,
	"application/x-vbscript":                        true,
}

// hasExtension says whether a client saving a file called name keeps an
// extension of its own: a dot in its last path element, not last.
func hasExtension(name string) bool {
	base := strings.TrimRight(name[strings.LastIndexAny(name, `/\`)+1:], ". \t")
	dot := strings.LastIndexByte(base, '.')
	return dot >= 0 && dot < len(base)-1
}

// isZipType says whether media type ctype is a zip's.
func isZipType(ctype string) bool {
	switch ctype {
	case "application/zip", "application/x-zip-compressed", "application/x-zip":
		return true
	}
	return false
}

// skip reads lines until a delimiter of bounds or the end.
func (s *scanner) skip(bounds []boundary) *delimiter {
	for {
		l, atStart, start := s.line()
		if l == nil {
			return nil
		}
		s.checkCR(l, atStart, false, bounds)
		if atStart && len(bounds) > 0 {
			if lvl, closing, ok := delimiterOf(l, bounds); ok {
				return &delimiter{level: lvl, closing: closing, start: start, end: s.off}
			}
		}
	}
}

// cut returns s as a part to defang keeps it: cut to maxNameLen bytes
// with a marker (the warning and the log show no more), in a string of
// its own — a name is often a slice of a header value of up to 64 KiB,
// which it would otherwise hold on to.
func cut(s string) string { return strings.Clone(oneline.Cut(s, maxNameLen)) }

// malformed records why the message cannot be defanged safely, unless
// an earlier reason was recorded ("" records nothing).
func (s *scanner) malformed(why string) {
	if s.res.Malformed == "" {
		s.res.Malformed = why
	}
}
