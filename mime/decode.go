package mime

import (
	"bufio"
	"encoding/base64"
	"io"
	"slices"
)

// decoder returns what reads raw, in transfer encoding cte (a token as
// transferEncoding returns it), decoded: base64 and quoted-printable are
// decoded as leniently as mail clients decode them; any other encoding
// is read as it is.
func decoder(raw io.Reader, cte string) io.Reader {
	switch cte {
	case "base64":
		return &lenientBase64{r: raw}
	case "quoted-printable":
		return &lenientQP{r: bufio.NewReaderSize(raw, 16<<10)}
	}
	return raw
}

// lenientBase64 decodes base64 as mail clients do (b64Decoder).
type lenientBase64 struct {
	r    io.Reader
	in   [16 << 10]byte
	dec  b64Decoder
	buf  []byte // decoded
	out  []byte // what of buf is not read yet
	done bool
}

func (b *lenientBase64) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.done {
			return 0, io.EOF
		}
		n, err := b.r.Read(b.in[:])
		b.buf = b.dec.feed(b.buf[:0], b.in[:n])
		if err != nil {
			b.buf, b.done = b.dec.end(b.buf), true
		}
		b.out = b.buf
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

// b64Decoder decodes base64 as mail clients do: characters outside the
// alphabet (line breaks, stray spaces) and missing padding are ignored;
// padding inside a quantum ends it, and what follows starts a new one, as
// Thunderbird decodes a message made of base64 pieces each padded
// ("QQ==QkI=" is "ABB"). (Python's email stops at the first padding: what
// it reads is the start of what Thunderbird reads.)
type b64Decoder struct {
	pending []byte // alphabet characters not decoded yet
}

// b64alphabet marks the base64 alphabet.
var b64alphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = true
	}
	return t
}()

// feed appends to out what in decodes to, keeping a quantum that in
// leaves unfinished for the next call.
func (d *b64Decoder) feed(out, in []byte) []byte {
	for _, c := range in {
		switch {
		case b64alphabet[c]:
			d.pending = append(d.pending, c)
		case c == '=' && len(d.pending)%4 != 0:
			out = d.end(out)
		}
	}
	whole := len(d.pending) / 4 * 4
	out = appendBase64(out, d.pending[:whole])
	d.pending = append(d.pending[:0], d.pending[whole:]...)
	return out
}

// end appends to out what the last, short quantum holds (a lone
// character holds no byte).
func (d *b64Decoder) end(out []byte) []byte {
	n := len(d.pending)
	if n%4 == 1 {
		n--
	}
	out = appendBase64(out, d.pending[:n])
	d.pending = d.pending[:0]
	return out
}

// appendBase64 appends to out the bytes of base64 characters without
// padding.
func appendBase64(out, chars []byte) []byte {
	n := len(out)
	out = slices.Grow(out, base64.RawStdEncoding.DecodedLen(len(chars)))
	m, _ := base64.RawStdEncoding.Decode(out[n:n+base64.RawStdEncoding.DecodedLen(len(chars))], chars)
	return out[:n+m]
}

// lenientQP decodes quoted-printable as mail clients do: "=" and two hex
// digits is a byte, "=" at the end of a line (or of the text: the line
// break before a boundary is the boundary's) a soft line break, and
// anything else — a stray "=", a control character, a line of any
// length — passes as it is. (mime/quotedprintable stops at the first of
// these, and at lines over 4 KiB.)
type lenientQP struct {
	r *bufio.Reader
}

func (q *lenientQP) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := q.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if c == '=' {
			next, _ := q.r.Peek(2)
			switch {
			case len(next) == 0:
				continue
			case next[0] == '\n':
				q.r.Discard(1)
				continue
			case len(next) == 2 && next[0] == '\r' && next[1] == '\n':
				q.r.Discard(2)
				continue
			case len(next) == 2 && unhex(next[0]) >= 0 && unhex(next[1]) >= 0:
				c = byte(unhex(next[0])<<4 | unhex(next[1]))
				q.r.Discard(2)
			}
		}
		p[n] = c
		n++
	}
	return n, nil
}

// unhex is the value of hex digit c, -1 if it is none.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
