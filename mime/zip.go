package mime

import (
	"bufio"
	"bytes"
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
	ends := &endRecords{w: data}
	// A failing temporary file leaves the zip unread: defanged.
	if _, err := io.Copy(ends, r); err != nil {
		return "(the zip)", "unreadable zip: " + err.Error()
	}
	if data.Size() == 0 {
		return "", ""
	}
	return z.list(data, data.Size(), ends.at, 1, o)
}

// list reads the zip in ra, size bytes, nested depth deep: it returns
// the offending entry and why, or "". Its directory is the one the last
// end-of-central-directory record says; where zips were put one after
// another, clients differ (7-Zip lists the first, others the last), and
// the directory of every other end record found (ends) is listed too.
func (z *zipBudget) list(ra io.ReaderAt, size int64, ends []int64, depth int, o *Options) (banned, reason string) {
	dir, err := findDirectory(ra, size)
	if err != nil {
		return "(the zip)", "unreadable zip: " + err.Error() // an EXE named as ZIP, say
	}
	dirs := []zipDir{dir}
	for _, at := range ends {
		if d, err := directoryAt(ra, size, at); err == nil && at != dir.end {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		if b, why := z.listDirectory(ra, size, d, depth, o); b != "" {
			return b, why
		}
	}
	return "", ""
}

// listDirectory reads the central directory dir of the zip in ra.
func (z *zipBudget) listDirectory(ra io.ReaderAt, size int64, dir zipDir, depth int, o *Options) (banned, reason string) {
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
		e.readLocal(ra, dir.base)
		names := []string{e.name, e.unicode, e.localName, e.localUnicode}
		if name, ext := bannedName(names, o.BannedExts); name != "" {
			return name, "banned extension ." + ext + " in zip"
		}
		name, _ := bannedName(names, []string{"zip"})
		if name == "" {
			continue
		}
		if depth >= o.ZipDepth {
			return name, fmt.Sprintf("zips nested deeper than %d", o.ZipDepth)
		}
		inner, ends, why := z.decompress(ra, dir.base, &e, o)
		if why != "" {
			return name, why
		}
		b, why := z.list(inner, inner.Size(), ends, depth+1, o)
		inner.Close()
		if b != "" {
			return name + ": " + b, why
		}
	}
}

// maxEndRecords bounds the end-of-central-directory records noted in a
// zip besides its last.
const maxEndRecords = 16

// endRecords passes what is written on to w, noting where the first
// maxEndRecords end-of-central-directory signatures (PK\5\6) are: each
// of zips put one after another ends with one.
type endRecords struct {
	w     io.Writer
	n     int64  // bytes written
	carry []byte // the last bytes written, up to 3: a signature may go on in the next write
	at    []int64
}

func (e *endRecords) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	p = p[:n]
	sig := []byte("PK\x05\x06")
	joined := append(e.carry[:len(e.carry):len(e.carry)], p[:min(len(p), 3)]...)
	for i := 0; i < len(e.carry) && i+4 <= len(joined); i++ {
		if bytes.Equal(joined[i:i+4], sig) {
			e.note(e.n - int64(len(e.carry)) + int64(i))
		}
	}
	for i := 0; ; {
		j := bytes.Index(p[i:], sig)
		if j < 0 {
			break
		}
		e.note(e.n + int64(i+j))
		i += j + 1
	}
	if len(p) >= 3 {
		joined = p
	}
	e.carry = append(e.carry[:0], joined[max(len(joined)-3, 0):]...)
	e.n += int64(n)
	return n, err
}

func (e *endRecords) note(at int64) {
	if len(e.at) < maxEndRecords {
		e.at = append(e.at, at)
	}
}

// zipDir is where a zip's central directory starts.
type zipDir struct {
	start int64 // offset of the first record
	base  int64 // what the zip's own offsets are off by (data put before it)
	end   int64 // offset of the end-of-central-directory record
	empty bool  // a zip of no entries
}

// findDirectory reads the end of the zip: the last end-of-central-
// directory record that fits says where the directory is.
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
	return directoryAt(ra, size, size-tail+int64(i))
}

// directoryAt reads the end-of-central-directory record at offset end
// of the zip in ra, size bytes (with its ZIP64 form if there is one),
// and returns where the directory it says is.
func directoryAt(ra io.ReaderAt, size, end int64) (zipDir, error) {
	var rec [22]byte
	if readFull(ra, rec[:], end) != nil || le32(rec[:]) != sigEnd || end+22+int64(le16(rec[20:])) > size {
		return zipDir{}, errors.New("no end of central directory")
	}
	records, dirSize, dirOffset := uint64(le16(rec[10:])), uint64(le32(rec[12:])), uint64(le32(rec[16:]))
	var loc [20]byte
	if (records == math.MaxUint16 || dirSize == math.MaxUint32 || dirOffset == math.MaxUint32) && readFull(ra, loc[:], end-20) == nil && le32(loc[:]) == sigLocator64 {
		var rec [56]byte
		at := le64(loc[8:])
		if at < uint64(size) && readFull(ra, rec[:], int64(at)) == nil && le32(rec[:]) == sigEnd64 {
			records, dirSize, dirOffset = le64(rec[32:]), le64(rec[40:]), le64(rec[48:])
		}
	}
	if records == 0 && dirSize == 0 {
		return zipDir{end: end, empty: true}, nil
	}
	if dirSize > uint64(end) || dirOffset > uint64(end) {
		return zipDir{}, errors.New("central directory outside the zip")
	}
	// The directory is at its offset, or, when data was put before the
	// zip (a self-extractor), just before the end record.
	for _, start := range []int64{int64(dirOffset), end - int64(dirSize)} {
		var sig [4]byte
		if readFull(ra, sig[:], start) == nil && le32(sig[:]) == sigCentral {
			return zipDir{start: start, base: start - int64(dirOffset), end: end}, nil
		}
	}
	return zipDir{}, errors.New("no central directory")
}

// zipEntry is one record of the central directory, read into buffers
// that the next record reuses, with the names it goes by: clients show
// the Info-ZIP Unicode Path (extra field 0x7075) over the name, and
// streaming readers the local header's.
type zipEntry struct {
	name, unicode           string // in the central directory
	localName, localUnicode string // in the local header
	flags, method           uint16
	compressed, local       uint64 // the compressed size; the offset of its local header
	size                    uint64 // the uncompressed size, as the directory says
	buf, localBuf           []byte
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
	e.compressed, e.local, e.size = uint64(le32(h[20:])), uint64(le32(h[42:])), uint64(le32(h[24:]))
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
	e.unicode = unicodePath(b[nameLen:])
	if body := extraField(b[nameLen:], 1); body != nil {
		// ZIP64: in this order, the values the record holds as
		// 0xffffffff: the size, the compressed size, the offset.
		for _, v := range []*uint64{&e.size, &e.compressed, &e.local} {
			if *v == math.MaxUint32 && len(body) >= 8 {
				*v, body = le64(body), body[8:]
			}
		}
	}
	return true, nil
}

// readLocal reads the names in the local header of entry e of the zip in
// ra, whose offsets are off by base; none if it cannot be read (a client
// cannot either).
func (e *zipEntry) readLocal(ra io.ReaderAt, base int64) {
	e.localName, e.localUnicode = "", ""
	at := base + int64(e.local)
	if e.local > math.MaxInt64/2 || at < 0 {
		return
	}
	// One read for the header and, most often, its name and extra field.
	if cap(e.localBuf) < 512 {
		e.localBuf = make([]byte, 512)
	}
	n, _ := ra.ReadAt(e.localBuf[:cap(e.localBuf)], at)
	h := e.localBuf[:n]
	if n < 30 || le32(h) != sigLocal {
		return
	}
	nameLen, extraLen := int(le16(h[26:])), int(le16(h[28:]))
	if need := 30 + nameLen + extraLen; need > n {
		if need > cap(e.localBuf) {
			e.localBuf = append(e.localBuf[:n], make([]byte, need-n)...)
		}
		if readFull(ra, e.localBuf[n:need], at+int64(n)) != nil {
			return
		}
		h = e.localBuf[:need]
	}
	e.localName, e.localUnicode = string(h[30:30+nameLen]), unicodePath(h[30+nameLen:30+nameLen+extraLen])
}

// extraField returns the body of the field id in the extra fields of a
// zip record, nil if it has none.
func extraField(extra []byte, id uint16) []byte {
	for len(extra) >= 4 {
		n := min(4+int(le16(extra[2:])), len(extra))
		if le16(extra) == id {
			return extra[4:n]
		}
		extra = extra[n:]
	}
	return nil
}

// unicodePath returns the name an Info-ZIP Unicode Path extra field
// (0x7075: a version, the CRC of the name it replaces, the name) gives,
// "" if there is none.
func unicodePath(extra []byte) string {
	if body := extraField(extra, 0x7075); len(body) > 5 {
		return string(body[5:])
	}
	return ""
}

// decompress reads entry e (a nested zip) of the zip in ra, whose
// offsets are off by base, into a spool, within the budget; ends are
// where the end-of-central-directory records in it are.
func (z *zipBudget) decompress(ra io.ReaderAt, base int64, e *zipEntry, o *Options) (out *spool.Spool, ends []int64, why string) {
	var h [30]byte
	at := base + int64(e.local)
	if e.local > math.MaxInt64/2 || e.compressed > math.MaxInt64/2 || at < 0 || readFull(ra, h[:], at) != nil || le32(h[:]) != sigLocal {
		return nil, nil, "unreadable nested zip: no local header"
	}
	if e.flags&1 != 0 {
		return nil, nil, "unreadable nested zip: encrypted"
	}
	if e.size > uint64(z.expand) {
		// Said to expand past the budget: a bomb, without spending the
		// budget's CPU and disk to confirm it. A size that lies low is
		// caught by the limit below.
		return nil, nil, errZipExpands
	}
	var r io.Reader = io.NewSectionReader(ra, at+30+int64(le16(h[26:]))+int64(le16(h[28:])), int64(e.compressed))
	switch e.method {
	case 0: // stored
	case 8:
		fr := flate.NewReader(r)
		defer fr.Close()
		r = fr
	default:
		return nil, nil, fmt.Sprintf("unreadable nested zip: compression method %d", e.method)
	}
	out = spool.New(o.TempDir, min(o.MemThreshold, nestedInMemory), z.expand+1)
	w := &endRecords{w: out}
	n, err := io.Copy(w, io.LimitReader(r, z.expand+1))
	if n > z.expand || err != nil {
		out.Close()
		if n > z.expand {
			return nil, nil, errZipExpands
		}
		return nil, nil, "unreadable nested zip: " + err.Error()
	}
	z.expand -= n
	return out, w.at, ""
}

// errZipExpands is why a nested zip that expands past the budget is
// refused.
const errZipExpands = "zip expands past its size limit (a zip bomb?)"

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
