package mailgen

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
)

// Shape is a hostile message of a given size, built to cost a milter as
// much memory as its size allows.
type Shape struct {
	Name string
	Make func(size int) []byte
}

// Shapes are the worst messages the benchmarks know, each about size
// bytes (header and body, CRLF line ends).
var Shapes = []Shape{
	{"many-parts", manyParts},
	{"many-banned-parts", manyBannedParts},
	{"long-banned-names", longBannedNames},
	{"long-banned-names-both-fields", longBannedNamesBothFields},
	{"deep-nesting", deepNesting},
	{"encoded-nesting", encodedNesting},
	{"split-headers", splitHeaders},
	{"many-zip-entries", manyZipEntries},
	{"zip-expansion", zipExpansion},
	{"many-headers", manyHeaders},
	{"many-part-headers", manyPartHeaders},
	{"attachments", func(size int) []byte { return Multipart(size, 1) }},
}

// head is a top header announcing a multipart/mixed with boundary b.
func head(b string) *bytes.Buffer {
	var m bytes.Buffer
	fmt.Fprintf(&m, "From: Mallory <mallory@sender.example>\r\nTo: Bob <bob@example.org>\r\nSubject: shape\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=%q\r\n\r\n", b)
	return &m
}

// fill repeats the part unit until the message m is about size bytes,
// then closes boundary b.
func fill(m *bytes.Buffer, size int, unit, b string) []byte {
	for m.Len()+len(unit)+len(b)+8 <= size {
		m.WriteString(unit)
	}
	m.WriteString("--" + b + "--\r\n")
	return m.Bytes()
}

// manyParts is the smallest part there is, over and over: a delimiter,
// an empty header, one line (10 bytes a part).
func manyParts(size int) []byte { return fill(head("b"), size, "--b\r\n\r\nx\r\n", "b") }

// manyBannedParts is parts that each must be defanged.
func manyBannedParts(size int) []byte {
	return fill(head("b"), size, "--b\r\nContent-Type: a/b; name=x.exe\r\n\r\nx\r\n", "b")
}

// longBannedNames is parts that each must be defanged, each named with
// 60 000 bytes (within the 64 KiB of Content- fields a part may have) in
// its Content-Type: a scan that kept each name, or the field it came
// from, would keep the message's size again.
func longBannedNames(size int) []byte {
	name := strings.Repeat("A", 60000) + ".exe"
	return fill(head("b"), size, "--b\r\nContent-Type: application/octet-stream; name=\""+name+"\"\r\n\r\nx\r\n", "b")
}

// longBannedNamesBothFields is the same with names of 30 000 bytes in
// Content-Type name= and in Content-Disposition filename=.
func longBannedNamesBothFields(size int) []byte {
	name := strings.Repeat("A", 30000) + ".exe"
	return fill(head("b"), size, "--b\r\nContent-Type: application/octet-stream; name=\""+name+"\"\r\n"+
		"Content-Disposition: attachment; filename=\""+name+"\"\r\n\r\nx\r\n", "b")
}

// deepNesting is multiparts nested 30 deep (inside the 32 levels a
// message may have), again and again.
func deepNesting(size int) []byte {
	var chain strings.Builder
	for i := range 30 {
		fmt.Fprintf(&chain, "--n%d\r\nContent-Type: multipart/mixed; boundary=n%d\r\n\r\n", i, i+1)
	}
	chain.WriteString("--n30\r\n\r\nx\r\n")
	for i := 30; i > 0; i-- {
		fmt.Fprintf(&chain, "--n%d--\r\n", i)
	}
	return fill(head("n0"), size, chain.String(), "n0")
}

// encodedNesting is attached messages in quoted-printable (RFC 2046
// forbids it; clients decode it), nested 30 deep around a banned part: a
// scan decodes each level into a spool of its own, all open at once. The
// chain is as large as 30 levels may be when a message may decode the
// default [milter] max_scan_size (50 MiB) in all; filler text makes up
// the rest of the message.
func encodedNesting(size int) []byte {
	const levels = 30
	chain := min(size, 50<<20/(levels+1))
	var in strings.Builder
	in.WriteString("Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n" +
		"Content-Type: application/octet-stream; name=\"evil.exe\"\r\n\r\nMZ\r\n--in\r\nContent-Type: text/plain\r\n\r\n")
	line := strings.Repeat("filler ", 10) + "\r\n"
	for in.Len()+len(line)+levels*80 < chain {
		in.WriteString(line)
	}
	in.WriteString("--in--\r\n")
	msg := in.String()
	for range levels {
		msg = "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + strings.ReplaceAll(msg, "=", "=3D")
	}
	m := head("e")
	m.WriteString("--e\r\nContent-Type: text/plain\r\n\r\n")
	for m.Len()+len(line)+len(msg)+20 < size {
		m.WriteString(line)
	}
	m.WriteString("--e\r\n" + msg + "\r\n--e--\r\n")
	return m.Bytes()
}

// splitHeaders is attached messages nested 30 deep around a banned
// part and filler text, each header holding a line that is not a field:
// Thunderbird skips such a line, Python's email ends the header there,
// and a scan reads each level both ways — as written, the rest of the
// message once more for each level.
func splitHeaders(size int) []byte {
	const levels = 30
	var msg strings.Builder
	for range levels {
		msg.WriteString("Content-Type: message/rfc822\r\nX Junk\r\n\r\n")
	}
	msg.WriteString("Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n" +
		"Content-Type: application/octet-stream; name=\"evil.exe\"\r\n\r\nMZ\r\n--in\r\nContent-Type: text/plain\r\n\r\n")
	m := head("s")
	m.WriteString("--s\r\n")
	m.WriteString(msg.String())
	line := strings.Repeat("filler ", 10) + "\r\n"
	for m.Len()+len(line)+20 < size {
		m.WriteString(line)
	}
	m.WriteString("--in--\r\n--s--\r\n")
	return m.Bytes()
}

// manyZipEntries is a zip of empty entries, as many as fit in the
// message once base64-encoded (far more than a scan lists), whose end
// record says it holds 5: a reader that trusts the count before it
// reads the directory reads it all.
func manyZipEntries(size int) []byte {
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	// Each entry takes its local header, a data descriptor and its
	// central directory record (46 bytes and the name): base64 and line
	// ends make 4/3 * 78/76 of it.
	for i := 0; (z.Len()+i*58)*4/3*78/76 < size-1000; i++ {
		zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("f%07d.txt", i), Method: zip.Store})
		if i%1000 == 0 {
			zw.Flush()
		}
	}
	zw.Close()
	zipped := z.Bytes()
	end := bytes.LastIndex(zipped, []byte("PK\x05\x06"))
	binary.LittleEndian.PutUint16(zipped[end+8:], 5)
	binary.LittleEndian.PutUint16(zipped[end+10:], 5)
	return attach(head("z"), "z", "entries.zip", zipped)
}

// zipExpansion is a zip holding a zip that expands to just under the
// default [defang] zip_max_expand (20 MiB): a scan that lists the inner
// zip decompresses all of it. The rest of the message is filler text.
func zipExpansion(size int) []byte {
	var inner bytes.Buffer
	zw := zip.NewWriter(&inner)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "zeros.bin", Method: zip.Store})
	w.Write(make([]byte, 19<<20))
	zw.Close()
	var outer bytes.Buffer
	zw = zip.NewWriter(&outer)
	w, _ = zw.CreateHeader(&zip.FileHeader{Name: "inner.zip", Method: zip.Deflate})
	w.Write(inner.Bytes())
	zw.Close()
	m := head("e")
	m.WriteString("--e\r\nContent-Type: text/plain\r\n\r\n")
	line := strings.Repeat("filler ", 10) + "\r\n"
	for m.Len()+len(line)+outer.Len()*4/3+1000 < size {
		m.WriteString(line)
	}
	return attach(m, "e", "expands.zip", outer.Bytes())
}

// manyHeaders is a top header of short fields, as many as fit.
func manyHeaders(size int) []byte {
	var m bytes.Buffer
	m.WriteString("From: Mallory <mallory@sender.example>\r\nTo: Bob <bob@example.org>\r\nSubject: shape\r\n")
	for i := 0; m.Len()+40 < size; i++ {
		fmt.Fprintf(&m, "X-H: %d\r\n", i)
	}
	m.WriteString("\r\nhello\r\n")
	return m.Bytes()
}

// manyPartHeaders is one part whose header is short fields, as many as
// fit.
func manyPartHeaders(size int) []byte {
	m := head("h")
	m.WriteString("--h\r\nContent-Type: text/plain\r\n")
	for i := 0; m.Len()+40 < size; i++ {
		fmt.Fprintf(m, "X-H: %d\r\n", i)
	}
	m.WriteString("\r\nhello\r\n--h--\r\n")
	return m.Bytes()
}

// attach adds data as a base64 attachment called name and closes
// boundary b.
func attach(m *bytes.Buffer, b, name string, data []byte) []byte {
	fmt.Fprintf(m, "--%s\r\nContent-Type: application/zip; name=%q\r\nContent-Transfer-Encoding: base64\r\n\r\n", b, name)
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		m.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	m.WriteString(enc + "\r\n--" + b + "--\r\n")
	return m.Bytes()
}
