package mime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Cleaning HTML parts ([defang] scan_html): a scan finds the HTML parts
// that hold active content (FilterHTML) and marks them Clean; Defang
// writes each again, its header's Content-Transfer-Encoding made
// quoted-printable and its content filtered. A part that cannot be
// rewritten so for every mail program is replaced by the warning.

// htmlExts make an application/octet-stream part HTML by its name, as
// clients open it (pymilter's check_html took ".htm").
var htmlExts = []string{"htm", "html"}

// html judges a leaf part the scan did not ban (header h from hstart,
// media type ctype, content from start to end, ended by a delimiter if
// delimited, its replacement taking rg): an HTML part with active
// content is to be cleaned, or replaced where it cannot be.
func (s *scanner) html(h []Header, ctype string, hstart, start, end int64, delimited bool, rg *region) {
	ns, _ := names(h, true)
	name, _ := bannedName(ns, htmlExts)
	if ctype != "text/html" && (ctype != "application/octet-stream" || name == "") {
		return
	}
	if named, _ := names(h, false); name == "" && len(named) > 0 {
		name = named[0]
	} else if name == "" {
		name = "(" + ctype + ")"
	}
	// What a client decodes: each transfer encoding the part has, where
	// it has two that disagree (which one a client takes varies).
	var ctes []string
	for _, f := range h {
		if v := cteToken(f.Value); f.Is("Content-Transfer-Encoding") && !slices.Contains(ctes, v) {
			ctes = append(ctes, v)
		}
	}
	if len(ctes) == 0 {
		ctes = []string{""}
	}
	brk := 0 // the line break before the delimiter, not the content's
	if delimited {
		var tail [2]byte
		n := min(end-start, 2)
		s.body.ReadAt(tail[2-n:], end-n)
		switch {
		case n == 2 && string(tail[:]) == "\r\n":
			brk = 2
		case n >= 1 && tail[1] == '\n':
			brk = 1
		}
	}
	contentType := ""
	if i := slices.IndexFunc(h, func(f Header) bool { return f.Is("Content-Type") }); i >= 0 {
		contentType = h[i].Value
	}
	var removed HTMLStats
	for _, cte := range ctes {
		if isUUOrYEnc(cte) {
			s.ban(ctype, name, "HTML in transfer encoding "+cte+", which maxwell does not decode", rg)
			return
		}
		var out checkBuffer
		st, err := FilterHTML(&out, decoder(io.NewSectionReader(s.body, start, end-int64(brk)-start), cte))
		if errors.Is(err, errHTMLTooLarge) {
			s.ban(ctype, name, fmt.Sprintf("HTML part over %d MiB, too large to check: removed whole", maxHTMLCheck>>20), rg)
			return
		}
		if err != nil {
			s.malformed(fmt.Sprintf("an HTML part that could not be read: %v", err))
			return
		}
		if left := activeLeft(out.Bytes(), contentType); left != "" {
			s.ban(ctype, name, "active content in HTML that cannot be removed in place (a "+left+" a browser would read): removed whole", rg)
			return
		}
		if st.Removed() > removed.Removed() {
			removed = st
		}
	}
	reason := removed.String()
	switch {
	case removed.Removed() == 0:
		return
	case len(ctes) > 1:
		s.ban(ctype, name, "active content in HTML ("+reason+"), in two transfer encodings that disagree: removed whole", rg)
		return
	case s.asWritten || s.twoWays:
		s.ban(ctype, name, "active content in HTML ("+reason+"), in a part whose header mail programs read in two ways: removed whole", rg)
		return
	case s.encoded != nil: // ban says which
		s.ban(ctype, name, "active content in HTML ("+reason+")", rg)
		return
	}
	s.clean = append(s.clean, Part{Type: cut(ctype), Name: cut(name), Reason: reason,
		Start: max(hstart, 0), End: end, Top: hstart < 0,
		Clean: true, Body: start, CTE: ctes[0], Break: brk})
}

// clean writes Clean part p of body again: its header without its
// Content-Transfer-Encoding fields and with "Content-Transfer-Encoding:
// quoted-printable" (for a Top part the caller changes the message's),
// its content decoded, filtered and encoded so, and the line break that
// follows it.
func clean(w io.Writer, body io.ReaderAt, p Part) error {
	eol := "\r\n"
	if !p.Top {
		var err error
		if eol, err = cleanHeader(w, io.NewSectionReader(body, p.Start, p.Body-p.Start)); err != nil {
			return err
		}
	}
	content := p.End - int64(p.Break) - p.Body
	q := &qpWriter{w: bufio.NewWriter(w), eol: eol}
	if _, err := FilterHTML(q, decoder(io.NewSectionReader(body, p.Body, content), p.CTE)); err != nil {
		return err
	}
	if err := q.Close(); err != nil {
		return err
	}
	_, err := io.Copy(w, io.NewSectionReader(body, p.Body+content, int64(p.Break)))
	return err
}

// cleanHeader copies a part's header, its fields and the blank line
// that ends it, without its Content-Transfer-Encoding fields and with
// one saying quoted-printable before the blank line. It returns the
// line break the blank line is written with (the header's own).
func cleanHeader(w io.Writer, hdr io.Reader) (eol string, err error) {
	r := bufio.NewReaderSize(hdr, 4096)
	drop, atStart := false, true
	for {
		l, rerr := r.ReadSlice('\n')
		if len(l) > 0 {
			t := bytes.TrimRight(l, "\r\n")
			switch {
			case !atStart, len(t) > 0 && (t[0] == ' ' || t[0] == '\t'): // the field goes on
			case len(t) == 0: // the blank line
				eol, drop = string(l), false
				if _, err := io.WriteString(w, "Content-Transfer-Encoding: quoted-printable"+eol); err != nil {
					return "", err
				}
			default:
				name, _, ok := fieldOf(t)
				drop = ok && bytes.EqualFold(name, []byte("Content-Transfer-Encoding"))
			}
			if !drop {
				if _, err := w.Write(l); err != nil {
					return "", err
				}
			}
			atStart = l[len(l)-1] == '\n'
		}
		switch {
		case rerr == io.EOF:
			if eol == "" { // a scan marks no part so, but a header cut short still gets the field
				eol = "\r\n"
				_, err := io.WriteString(w, "Content-Transfer-Encoding: quoted-printable"+eol+eol)
				return eol, err
			}
			return eol, nil
		case rerr != nil && rerr != bufio.ErrBufferFull:
			return "", rerr
		}
	}
}

// qpWriter encodes text in quoted-printable (RFC 2045 §6.7) for a part
// among others: a line break ("\r\n" or "\n") is a hard line break,
// written eol; lines are at most 76 characters with soft breaks; "=",
// control characters (a lone CR too), bytes past ASCII and whitespace
// before a line break are encoded, and so is a "-" that starts a line,
// so that no line of it can be taken for a boundary.
type qpWriter struct {
	w    *bufio.Writer
	eol  string
	line int  // characters on the line being written
	cr   bool // a CR read: a line break if a LF follows
	ws   byte // a space or tab read, written once what follows is known; 0 none
}

func (q *qpWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		if q.cr {
			q.cr = false
			if c == '\n' {
				q.lineBreak()
				continue
			}
			q.byte('\r')
		}
		switch c {
		case '\r':
			q.cr = true
		case '\n':
			q.lineBreak()
		default:
			q.byte(c)
		}
	}
	return len(p), nil // an error of w shows at Close
}

// byte writes c, not a line break.
func (q *qpWriter) byte(c byte) {
	if q.ws != 0 { // something follows it on the line: it stays as it is
		q.put(q.ws, false)
		q.ws = 0
	}
	if c == ' ' || c == '\t' {
		q.ws = c
		return
	}
	q.put(c, c == '=' || c < ' ' || c > '~')
}

// put writes c, encoded if enc, after a soft line break if the line is
// full.
func (q *qpWriter) put(c byte, enc bool) {
	n := 1
	if enc {
		n = 3
	}
	if q.line+n > 75 {
		q.w.WriteString("=" + q.eol)
		q.line = 0
	}
	if q.line == 0 && c == '-' {
		enc, n = true, 3
	}
	if enc {
		const hex = "0123456789ABCDEF"
		q.w.Write([]byte{'=', hex[c>>4], hex[c&15]})
	} else {
		q.w.WriteByte(c)
	}
	q.line += n
}

// lineBreak ends the line: whitespace before it is encoded.
func (q *qpWriter) lineBreak() {
	if q.ws != 0 {
		q.put(q.ws, true)
		q.ws = 0
	}
	q.w.WriteString(q.eol)
	q.line = 0
}

// Close writes what is held (a CR, whitespace, encoded: a line break of
// the message follows) and flushes.
func (q *qpWriter) Close() error {
	if q.cr {
		q.cr = false
		q.byte('\r')
	}
	if q.ws != 0 {
		q.put(q.ws, true)
		q.ws = 0
	}
	return q.w.Flush()
}
