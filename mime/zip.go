package mime

import (
	"bufio"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/maxwell-milter/maxwell/internal/spool"
)

// A zip is listed from its central directory, one record at a time, so
// that what a listing holds does not grow with the number of entries:
// archive/zip would hold every entry (name, extra field, comment) at once.

// nestedInMemory is how much of a decompressed nested zip is held in
// memory; the rest goes to a file, like a large zip part.
const nestedInMemory = 64 << 10

// The signatures of the zip records read.
const (
	sigLocal     = 0x04034b50
	sigCentral   = 0x02014b50
	sigEnd       = 0x06054b50
	sigEnd64     = 0x06064b50
	sigLocator64 = 0x07064b50
)

// zipBudget is what one message may still cost in zip listing.
type zipBudget struct {
	expand  int64 // bytes that may still be decompressed (nested zips)
	entries int   // entries that may still be listed
}

// check decodes a zip part's body (raw, in transfer encoding cte, a
// token as transferEncoding returns it) and
// lists the zip: it returns the offending entry and why, or "" for a
// clean (or empty) zip.
func (z *zipBudget) check(raw io.Reader, cte string, o *Options) (banned, reason string) {
	r := decoder(raw, cte)
	data := spool.New(o.TempDir, o.MemThreshold, math.MaxInt64)
	defer data.Close()
	// A failing temporary file leaves the zip unread: defanged.
	if _, err := io.Copy(data, r); err != nil {
		return "(the zip)", "unreadable zip: " + err.Error()
	}
	if data.Size() == 0 {
		return "", ""
	}
	return z.list(data, data.Size(), 1, o)
}

// list reads the central directory of the zip in ra, size bytes, nested
// depth deep: it returns the offending entry and why, or "".
func (z *zipBudget) list(ra io.ReaderAt, size int64, depth int, o *Options) (banned, reason string) {
	dir, err := findDirectory(ra, size)
	if err != nil {
		return "(the zip)", "unreadable zip: " + err.Error() // an EXE named as ZIP, say
	}
	if dir.empty {
		return "", ""
	}
	r := bufio.NewReaderSize(io.NewSectionReader(ra, dir.start, size-dir.start), 16<<10)
	var e zipEntry
	for {
		more, err := e.next(r)
		if err != nil {
			return "(the zip)", "unreadable zip: " + err.Error()
		}
		if !more {
			return "", ""
		}
		if z.entries--; z.entries < 0 {
			return e.name, fmt.Sprintf("more than %d zip entries", o.ZipMaxEntries)
		}
		if ext := bannedExt(e.name, o.BannedExts); ext != "" {
			return e.name, "banned extension ." + ext + " in zip"
		}
		if !isZip(e.name) {
			continue
		}
		if depth >= o.ZipDepth {
			return e.name, fmt.Sprintf("zips nested deeper than %d", o.ZipDepth)
		}
		inner, why := z.decompress(ra, dir.base, &e, o)
		if why != "" {
			return e.name, why
		}
		b, why := z.list(inner, inner.Size(), depth+1, o)
		inner.Close()
		if b != "" {
			return e.name + ": " + b, why
		}
	}
}

// zipDir is where a zip's central directory starts.
type zipDir struct {
	start int64 // offset of the first record
	base  int64 // what the zip's own offsets are off by (data put before it)
	empty bool  // a zip of no entries
}

// findDirectory reads the end of the zip: the last end-of-central-
// directory record that fits (with its ZIP64 form if there is one) says
// where the directory is.
func findDirectory(ra io.ReaderAt, size int64) (zipDir, error) {
	tail := min(size, 22+math.MaxUint16)
	buf := make([]byte, tail)
	if _, err := ra.ReadAt(buf, size-tail); err != nil && err != io.EOF {
		return zipDir{}, err
	}
	i := len(buf) - 22
	for ; i >= 0; i-- {
		if le32(buf[i:]) == sigEnd && i+22+int(le16(buf[i+20:])) <= len(buf) {
			break
		}
	}
	if i < 0 {
		return zipDir{}, errors.New("no end of central directory")
	}
	end := size - tail + int64(i)
	records, dirSize, dirOffset := uint64(le16(buf[i+10:])), uint64(le32(buf[i+12:])), uint64(le32(buf[i+16:]))
	if (records == math.MaxUint16 || dirSize == math.MaxUint32 || dirOffset == math.MaxUint32) && i >= 20 && le32(buf[i-20:]) == sigLocator64 {
		var rec [56]byte
		at := le64(buf[i-20+8:])
		if at < uint64(size) && readFull(ra, rec[:], int64(at)) == nil && le32(rec[:]) == sigEnd64 {
			records, dirSize, dirOffset = le64(rec[32:]), le64(rec[40:]), le64(rec[48:])
		}
	}
	if records == 0 && dirSize == 0 {
		return zipDir{empty: true}, nil
	}
	if dirSize > uint64(end) || dirOffset > uint64(end) {
		return zipDir{}, errors.New("central directory outside the zip")
	}
	// The directory is at its offset, or, when data was put before the
	// zip (a self-extractor), just before the end record.
	for _, start := range []int64{int64(dirOffset), end - int64(dirSize)} {
		var sig [4]byte
		if readFull(ra, sig[:], start) == nil && le32(sig[:]) == sigCentral {
			return zipDir{start: start, base: start - int64(dirOffset)}, nil
		}
	}
	return zipDir{}, errors.New("no central directory")
}

// zipEntry is one record of the central directory, read into buffers
// that the next record reuses.
type zipEntry struct {
	name              string
	flags, method     uint16
	compressed, local uint64 // the compressed size; the offset of its local header
	buf               []byte
}

// next reads the next record from r: false when the directory ends
// (another record type follows, or nothing).
func (e *zipEntry) next(r *bufio.Reader) (bool, error) {
	var h [46]byte
	if _, err := io.ReadFull(r, h[:4]); err != nil || le32(h[:]) != sigCentral {
		return false, nil
	}
	if _, err := io.ReadFull(r, h[4:]); err != nil {
		return false, errors.New("central directory cut short")
	}
	e.flags, e.method = le16(h[8:]), le16(h[10:])
	e.compressed, e.local = uint64(le32(h[20:])), uint64(le32(h[42:]))
	nameLen, extraLen, commentLen := int(le16(h[28:])), int(le16(h[30:])), int(le16(h[32:]))
	if cap(e.buf) < nameLen+extraLen {
		e.buf = make([]byte, nameLen+extraLen)
	}
	b := e.buf[:nameLen+extraLen]
	if _, err := io.ReadFull(r, b); err != nil {
		return false, errors.New("central directory cut short")
	}
	if _, err := r.Discard(commentLen); err != nil {
		return false, errors.New("central directory cut short")
	}
	e.name = string(b[:nameLen])
	// The ZIP64 extra field holds, in this order, the values too large
	// for the record: the size, the compressed size, the offset.
	for extra := b[nameLen:]; len(extra) >= 4; {
		id, n := le16(extra), int(le16(extra[2:]))
		body := extra[4:min(4+n, len(extra))]
		extra = extra[min(4+n, len(extra)):]
		if id != 1 {
			continue
		}
		// ZIP64: in this order, the values the record holds as
		// 0xffffffff: the size, the compressed size, the offset.
		size := uint64(le32(h[24:]))
		for _, v := range []*uint64{&size, &e.compressed, &e.local} {
			if *v == math.MaxUint32 && len(body) >= 8 {
				*v, body = le64(body), body[8:]
			}
		}
	}
	return true, nil
}

// decompress reads entry e (a nested zip) of the zip in ra, whose
// offsets are off by base, into a spool, within the budget.
func (z *zipBudget) decompress(ra io.ReaderAt, base int64, e *zipEntry, o *Options) (*spool.Spool, string) {
	var h [30]byte
	at := base + int64(e.local)
	if e.local > math.MaxInt64/2 || e.compressed > math.MaxInt64/2 || at < 0 || readFull(ra, h[:], at) != nil || le32(h[:]) != sigLocal {
		return nil, "unreadable nested zip: no local header"
	}
	if e.flags&1 != 0 {
		return nil, "unreadable nested zip: encrypted"
	}
	var r io.Reader = io.NewSectionReader(ra, at+30+int64(le16(h[26:]))+int64(le16(h[28:])), int64(e.compressed))
	switch e.method {
	case 0: // stored
	case 8:
		fr := flate.NewReader(r)
		defer fr.Close()
		r = fr
	default:
		return nil, fmt.Sprintf("unreadable nested zip: compression method %d", e.method)
	}
	out := spool.New(o.TempDir, min(o.MemThreshold, nestedInMemory), z.expand+1)
	n, err := io.Copy(out, io.LimitReader(r, z.expand+1))
	switch {
	case n > z.expand:
		err = errors.New("zip expands past its size limit (a zip bomb?)")
	case err != nil:
		err = errors.New("unreadable nested zip: " + err.Error())
	}
	if err != nil {
		out.Close()
		return nil, err.Error()
	}
	z.expand -= n
	return out, ""
}

// readFull reads len(p) bytes at off.
func readFull(ra io.ReaderAt, p []byte, off int64) error {
	if off < 0 {
		return errors.New("negative offset")
	}
	if n, err := ra.ReadAt(p, off); n < len(p) {
		return errors.Join(io.ErrUnexpectedEOF, err)
	}
	return nil
}

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
