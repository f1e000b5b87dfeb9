// Package mailgen makes test and benchmark messages of a given size: a
// text part and attachments (a document, a zip of many entries, a
// picture), base64-encoded as mail clients send them.
package mailgen

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
)

// Multipart returns a whole message (header and body, CRLF line ends) of
// about size bytes. The same seed gives the same message.
func Multipart(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	// base64 grows data by 4/3, plus line ends: a third each for the
	// document, the zip and the picture.
	raw := size * 3 / 4 / 3
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	for i := 0; zipped.Len() < raw && i < 1000; i++ {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("scan-%03d.jpg", i), Method: zip.Store})
		w.Write(random(max(raw/200, 64)))
		zw.Flush()
	}
	zw.Close()

	var b bytes.Buffer
	b.WriteString("From: Alice <alice@sender.example>\r\nTo: Bob <bob@example.org>\r\nSubject: the files\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_mailgen\"\r\n\r\n" +
		"--=_mailgen\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob, the files.\r\n")
	for _, a := range []struct {
		ctype, name string
		data        []byte
	}{
		{"application/pdf", "report.pdf", random(raw)},
		{"application/zip", "scans.zip", zipped.Bytes()},
		{"image/jpeg", "photo.jpg", random(raw)},
	} {
		fmt.Fprintf(&b, "--=_mailgen\r\nContent-Type: %s; name=%q\r\nContent-Transfer-Encoding: base64\r\n"+
			"Content-Disposition: attachment; filename=%q\r\n\r\n", a.ctype, a.name, a.name)
		enc := base64.StdEncoding.EncodeToString(a.data)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--=_mailgen--\r\n")
	return b.Bytes()
}
