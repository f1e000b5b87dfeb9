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

// Text returns a plain-text message (header and body, CRLF line ends) as
// an MX host receives it from the sender's mail server: the header block
// a mail client (Thunderbird) writes, below the Received fields of the
// sender's two servers, 12 fields, and a body of exactly size bytes.
// from and to are the addresses in From and To.
func Text(from, to string, size int) []byte {
	_, domain, _ := bytes.Cut([]byte(from), []byte("@"))
	date := "Tue, 1 Dec 2026 11:00:00 +0100"
	var b bytes.Buffer
	fmt.Fprintf(&b, "Received: from smtp.%[1]s (smtp.%[1]s [10.20.0.5])\r\n\tby mail1.%[1]s (Postfix) with ESMTPS id 4XbQ2k1Zz8z9t\r\n"+
		"\tfor <%[2]s>; Tue,  1 Dec 2026 10:00:01 +0000 (UTC)\r\n", domain, to)
	fmt.Fprintf(&b, "Received: from [192.168.1.20] (dsl-203-0-113-9.isp.example [203.0.113.9])\r\n\tby smtp.%[1]s (Postfix) with ESMTPSA id 4XbQ2j6vQHz1x\r\n"+
		"\tfor <%[2]s>; Tue,  1 Dec 2026 10:00:00 +0000 (UTC)\r\n", domain, to)
	fmt.Fprintf(&b, "Message-ID: <a1b2c3d4-e5f6-7890-abcd-ef0123456789@%s>\r\nDate: %s\r\nMIME-Version: 1.0\r\nUser-Agent: Mozilla Thunderbird\r\n"+
		"Content-Language: en-US\r\nTo: <%s>\r\nFrom: <%s>\r\nSubject: the report\r\n"+
		"Content-Type: text/plain; charset=UTF-8; format=flowed\r\nContent-Transfer-Encoding: 7bit\r\n\r\n", domain, date, to, from)
	const line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
	body := bytes.Repeat([]byte(line), size/len(line)+1)[:size]
	if size >= 2 { // the last line ends as lines do
		copy(body[size-2:], "\r\n")
	}
	return append(b.Bytes(), body...)
}
