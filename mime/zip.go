package mime

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"

	"github.com/maxwell-milter/maxwell/internal/spool"
)

// decoded collects a part's body and decodes its transfer encoding.
type decoded struct {
	cte string
	raw *spool.Spool
}

func (s *scanner) newContent(cte string) *decoded {
	return &decoded{cte: strings.ToLower(strings.TrimSpace(cte)), raw: spool.New(s.o.TempDir, s.o.MemThreshold, s.size)}
}

func (c *decoded) write(p []byte) {
	if len(p) > 0 {
		c.raw.Write(p) // a failing temporary file leaves the zip short: unreadable, so defanged
	}
}

// open returns the decoded body in a spool of its own.
func (c *decoded) open(o *Options) (*spool.Spool, error) {
	var r io.Reader = c.raw.Reader()
	switch c.cte {
	case "base64":
		r = &lenientBase64{r: r}
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	out := spool.New(o.TempDir, o.MemThreshold, c.raw.Size()+1)
	_, err := io.Copy(out, r)
	return out, err
}

func (c *decoded) close() { c.raw.Close() }

// lenientBase64 decodes base64 as mail clients do: characters outside
// the alphabet (line breaks, stray spaces) and missing or misplaced
// padding are ignored.
type lenientBase64 struct {
	r       io.Reader
	in      [16 << 10]byte
	pending []byte // alphabet characters not decoded yet
	out     []byte // decoded, not read yet
	done    bool
}

// b64alphabet marks the base64 alphabet.
var b64alphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = true
	}
	return t
}()

func (b *lenientBase64) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.done {
			return 0, io.EOF
		}
		n, err := b.r.Read(b.in[:])
		for _, c := range b.in[:n] {
			if b64alphabet[c] {
				b.pending = append(b.pending, c)
			}
		}
		whole := len(b.pending) / 4 * 4
		if err != nil { // the end: a short last quantum decodes to what it holds
			whole, b.done = len(b.pending), true
			if whole%4 == 1 {
				whole-- // a lone character holds no byte
			}
		}
		dec := make([]byte, base64.RawStdEncoding.DecodedLen(whole))
		m, _ := base64.RawStdEncoding.Decode(dec, b.pending[:whole])
		b.out = dec[:m]
		b.pending = append(b.pending[:0], b.pending[whole:]...)
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

// zipBudget is what one message may still cost in zip listing.
type zipBudget struct {
	expand  int64 // bytes that may still be decompressed (nested zips)
	entries int   // entries that may still be listed
}

// check lists the zip in content: it returns the offending entry and why,
// or "" for a clean (or empty) zip.
func (z *zipBudget) check(content *decoded, o *Options) (banned, reason string) {
	data, err := content.open(o)
	if err != nil {
		data.Close()
		return "(the zip)", "unreadable zip: " + err.Error()
	}
	defer data.Close()
	if data.Size() == 0 {
		return "", ""
	}
	return z.list(data, data.Size(), 1, o)
}

func (z *zipBudget) list(ra io.ReaderAt, size int64, depth int, o *Options) (banned, reason string) {
	if n, ok := zipEntryCount(ra, size); ok && n > z.entries {
		return "(the zip)", fmt.Sprintf("more than %d zip entries", o.ZipMaxEntries)
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return "(the zip)", "unreadable zip: " + err.Error() // an EXE named as ZIP, say
	}
	for _, f := range zr.File {
		if z.entries--; z.entries < 0 {
			return f.Name, fmt.Sprintf("more than %d zip entries", o.ZipMaxEntries)
		}
		if ext := bannedExt(f.Name, o.BannedExts); ext != "" {
			return f.Name, "banned extension ." + ext + " in zip"
		}
		if !isZip(f.Name) {
			continue
		}
		if depth >= o.ZipDepth {
			return f.Name, fmt.Sprintf("zips nested deeper than %d", o.ZipDepth)
		}
		inner, why := z.decompress(f)
		if why != "" {
			return f.Name, why
		}
		if b, r := z.list(bytes.NewReader(inner), int64(len(inner)), depth+1, o); b != "" {
			return f.Name + ": " + b, r
		}
	}
	return "", ""
}

// expand decompresses a nested zip within the budget.
func (z *zipBudget) decompress(f *zip.File) ([]byte, string) {
	rc, err := f.Open()
	if err != nil {
		return nil, "unreadable nested zip: " + err.Error()
	}
	defer rc.Close()
	inner, err := io.ReadAll(io.LimitReader(rc, z.expand+1))
	if int64(len(inner)) > z.expand {
		return nil, "zip expands past its size limit (a zip bomb?)"
	}
	z.expand -= int64(len(inner))
	if err != nil {
		return nil, "unreadable nested zip: " + err.Error()
	}
	return inner, ""
}

// zipEntryCount reads the entry count from the end-of-central-directory
// record, so that a directory of a million entries is refused before it
// is parsed.
func zipEntryCount(ra io.ReaderAt, size int64) (int, bool) {
	tail := min(size, 22+65535)
	buf := make([]byte, tail)
	if _, err := ra.ReadAt(buf, size-tail); err != nil && err != io.EOF {
		return 0, false
	}
	i := bytes.LastIndex(buf, []byte("PK\x05\x06"))
	if i < 0 || i+12 > len(buf) {
		return 0, false
	}
	n := int(binary.LittleEndian.Uint16(buf[i+10:]))
	return n, n != 0xffff // 0xffff: ZIP64, the count is elsewhere
}
