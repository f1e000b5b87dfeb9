package mime

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/config"
)

// readMessage splits a corpus file into its header fields (values as
// written, folded) and its body.
func readMessage(t testing.TB, name string) ([]Header, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return SplitMessage(raw)
}

func testOptions(t testing.TB) *Options {
	cfg := config.Default()
	d := cfg.Defang
	return &Options{BannedExts: d.BannedExts, ScanZip: true, ZipDepth: d.ZipDepth, ZipMaxExpand: int64(d.ZipMaxExpand),
		ZipMaxEntries: d.ZipMaxEntries, ScanRFC822: true, MaxDecode: int64(cfg.Milter.MaxScanSize), MaxParts: d.MaxParts,
		TempDir: t.TempDir(), MemThreshold: 1 << 20}
}

func TestScanCorpus(t *testing.T) {
	tests := []struct {
		file   string
		banned string // the banned name, "" for a clean message
		reason string
		top    bool
	}{
		{"vbs.eml", "LOVE-LETTER-FOR-YOU.TXT.vbs", "banned extension .vbs", false},
		{"pif.eml", "photo.pif", "banned extension .pif", false},
		{"wav-exe-noclose.eml", "readme.exe", "banned extension .exe", false},
		{"folded-boundary.eml", "setup.scr", "banned extension .scr", false},
		{"single-exe.eml", "update.exe", "banned extension .exe", true},
		{"rfc822-pif.eml", "game.pif", "banned extension .pif", false},
		{"klez.eml", "x.scr", "banned extension .scr", false},
		{"zip-exe.eml", "docs.zip: zip.doc            .exe", "banned extension .exe in zip", false},
		{"zip-empty.eml", "", "", false},
		{"zip-corrupt.eml", "invoice.zip: (the zip)", "unreadable zip", false},
		{"zip-nested.eml", "outer.zip: level2.zip: level3.zip: evil.exe", "banned extension .exe in zip", false},
		{"zip-bomb.eml", "bomb.zip: big.zip", "zip expands past its size limit", false},
		{"zip-deep.eml", "deep.zip: layer5.zip: layer4.zip: layer3.zip: layer2.zip", "zips nested deeper than 4", false},
		{"zip-clean.eml", "", "", false},
		{"rfc2231.eml", "ärger.exe", "banned extension .exe", false},
		{"rfc2231-continued.eml", "ärger.exe", "banned extension .exe", false},
		{"rfc2047.eml", "ärger.exe", "banned extension .exe", false},
		{"long-names.eml", "", "", false},
		{"alternative.eml", "", "", false},
		{"name-nul.eml", "evil.exe\x00.txt", "banned extension .exe", false},
		{"name-stream.eml", "evil.exe::$DATA", "banned extension .exe", false},
		{"exe-type.eml", "(application/x-msdownload)", "executable type application/x-msdownload", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			h, body := readMessage(t, tt.file)
			res := Scan(h, bytes.NewReader(body), int64(len(body)), testOptions(t))
			if res.Malformed != "" {
				t.Errorf("malformed: %s", res.Malformed)
			}
			banned := res.Banned
			if tt.banned == "" {
				if len(banned) != 0 {
					t.Fatalf("banned %+v, want none", banned)
				}
				return
			}
			if len(banned) != 1 || banned[0].Name != tt.banned || !strings.HasPrefix(banned[0].Reason, tt.reason) || banned[0].Top != tt.top {
				t.Fatalf("banned %+v\nwant %q (%s), top %v", banned, tt.banned, tt.reason, tt.top)
			}
			checkDefanged(t, h, body, banned)
		})
	}
}

// checkDefanged replaces the banned parts and checks the result: the
// warning is there, nothing banned is left, and the bytes before and
// after the replaced part are the original's.
func checkDefanged(t *testing.T, h []Header, body []byte, banned []Part) {
	t.Helper()
	var out bytes.Buffer
	if err := Defang(&out, bytes.NewReader(body), int64(len(body)), banned, "mx.example.org:/var/lib/maxwell/save/x.eml"); err != nil {
		t.Fatal(err)
	}
	p := banned[0]
	got := out.Bytes()
	if !bytes.HasPrefix(got, body[:p.Start]) || !bytes.HasSuffix(got, body[p.End:]) {
		t.Errorf("bytes outside the banned part changed:\n%s", got)
	}
	if !bytes.Contains(got, []byte("mx.example.org:/var/lib/maxwell/save/x.eml")) {
		t.Errorf("the warning does not say where the original is:\n%s", got)
	}
	if p.Top {
		h = []Header{{"Content-Type", `text/plain; charset=us-ascii; name="WARNING.TXT"`}}
	}
	again := Scan(h, bytes.NewReader(got), int64(len(got)), testOptions(t))
	if len(again.Banned) != 0 || again.Malformed != "" {
		t.Errorf("after defanging: banned %+v, malformed %q\n%s", again.Banned, again.Malformed, got)
	}
	// The warning parts are the ones a scan banning .txt finds.
	o := testOptions(t)
	o.BannedExts = []string{"txt"}
	warnings := 0
	for _, q := range Scan(h, bytes.NewReader(got), int64(len(got)), o).Banned {
		if q.Name == WarningName {
			warnings++
		}
	}
	if warnings != 1 {
		t.Errorf("%d WARNING.TXT parts after defanging, want 1:\n%s", warnings, got)
	}
}

// TestBannedNames judges every name a client may save an attachment
// under: a decoded NUL ends the name in C, an NTFS stream suffix
// (":stream:$DATA") writes the file before the colon, Windows drops
// trailing dots and spaces.
func TestBannedNames(t *testing.T) {
	exts := []string{"exe", "scr"}
	tests := []struct{ name, want string }{
		{"evil.exe", "exe"},
		{"EVIL.EXE", "exe"},
		{"evil.exe .", "exe"},
		{"evil.exe\x00.txt", "exe"},
		{"evil.exe\x00", "exe"},
		{"evil.e\x00xe", "exe"},
		{"evil.exe\r\n.txt", "exe"},
		{"evil.exe::$DATA", "exe"},
		{"evil.exe:$DATA", "exe"},
		{"evil.exe:Zone.Identifier:$DATA", "exe"},
		{"evil.scr::$DATA .", "scr"},
		{`C:\temp\evil.exe::$DATA`, "exe"},
		{"C:evil.exe", "exe"},
		{"evil.txt::$DATA", ""},
		{"report.pdf", ""},
		{"evil.exe.txt", ""},
		{"exe", ""},
		{"a:b.txt", ""},
		{`C:\temp\notes.txt`, ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := bannedExt(tt.name, exts); got != tt.want {
			t.Errorf("bannedExt(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestScanNames: a name is judged in every reading a client may have of
// it (the second review). Each header is a part's own, sent as the whole
// message with a body of "MZ"; banned is the reading that bans it, ""
// for a part that is clean.
func TestScanNames(t *testing.T) {
	var irregular, regular strings.Builder
	for i := range 17 {
		fmt.Fprintf(&irregular, "; filename*%d=a", 16-i)
		fmt.Fprintf(&regular, "; name*%d=a", i)
	}
	tests := []struct {
		file      string // in testdata, or:
		header    string // the part's header fields
		banned    string
		malformed string
	}{
		// A token is cut at its first whitespace (Thunderbird saves
		// evil.exe); a quoted string is not.
		{file: "bypass-name-token-space.eml", banned: "evil.exe"},
		{header: "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=evil.exe junk", banned: "evil.exe"},
		{header: "Content-Type: application/octet-stream; name=\"evil.exe x\""},
		// RFC 2231 continuations: every prefix of the segments as written,
		// where they are not numbered 0, 1, 2 … (a client stops at a bad or
		// repeated one), and the segments sorted.
		{file: "bypass-name-2231-repeated-segment.eml", banned: "evil.exe"},
		{header: "Content-Type: a/b; name*0=evil; name*1=.exe; name*01=.txt", banned: "evil.exe"},
		{header: "Content-Type: a/b; name*0=evil.exe; name*x=.txt", banned: "evil.exe"},
		{header: "Content-Type: a/b; name*1=.exe; name*0=evil", banned: "evil.exe"},
		{header: "Content-Type: a/b; name*0*=utf-8''R%C3%A9sum; name*1*=%C3%A9.pdf; name*2=\" (2).pdf\""},
		{header: "Content-Type: a/b" + regular.String() + "; name*17=.exe", banned: strings.Repeat("a", 17) + ".exe"},
		{header: "Content-Type: a/b" + irregular.String(), malformed: "17 RFC 2231 segments out of order"},
		// Percent-escapes that are not escapes stay as they are.
		{header: "Content-Type: a/b; name*=utf-8''%ZZevil%2Eexe", banned: "%ZZevil.exe"},
		// RFC 2047 words maxwell's decoder refused: a language tag, a
		// charset it does not know (read as its bytes), UTF-7, base64
		// words split inside a quantum, and words inside an RFC 2231 value.
		{file: "bypass-name-2047-language.eml", banned: "evil.exe"},
		{header: "Content-Type: a/b; name=\"=?x-unknown?Q?evil.exe?=\"", banned: "evil.exe"},
		{header: "Content-Type: a/b; name=\"=?unknown-8bit?q?evil=2Eexe?=\"", banned: "evil.exe"},
		{header: "Content-Type: a/b; name=\"=?x-unknown?Q?a?= =?utf-8?Q?evil.exe?=\"", banned: "aevil.exe"},
		{header: "Content-Type: a/b; name=\"=?utf-8?B?ZXZpbC5le?= =?utf-8?B?GU=?=\"", banned: "evil.exe"},
		{header: "Content-Type: a/b; name=\"=?utf-7?Q?evil+AC4-exe?=\"", banned: "evil.exe"},
		{header: "Content-Type: a/b; name*=utf-7''evil+AC4-exe", banned: "evil.exe"},
		{file: "bypass-name-2231-2047.eml", banned: "evil.exe"},
		{header: "Content-Type: a/b; name*0=\"=?utf-8?Q?evil\"; name*1=\".exe?=\"", banned: "evil.exe"},
		{header: "Content-Type: a/b; name=\"=?iso-8859-1?q?r=E9sum=E9.pdf?=\"; x-mac-type=\"=?bogus\""},
	}
	for _, tt := range tests {
		name := tt.file
		if name == "" {
			name = tt.header
		}
		t.Run(name, func(t *testing.T) {
			var h []Header
			var body []byte
			if tt.file != "" {
				h, body = readMessage(t, tt.file)
			} else {
				h, body = SplitMessage([]byte(tt.header + "\r\n\r\nMZ\r\n"))
			}
			res := Scan(h, bytes.NewReader(body), int64(len(body)), testOptions(t))
			switch {
			case tt.malformed != "" || res.Malformed != "":
				if !strings.Contains(res.Malformed, tt.malformed) || tt.malformed == "" {
					t.Errorf("malformed %q, want %q", res.Malformed, tt.malformed)
				}
			case tt.banned == "" && len(res.Banned) != 0:
				t.Errorf("banned %+v, want none", res.Banned)
			case tt.banned != "" && (len(res.Banned) != 1 || res.Banned[0].Name != tt.banned):
				t.Errorf("banned %+v, want %q", res.Banned, tt.banned)
			}
		})
	}
}

func TestScanOptions(t *testing.T) {
	h, body := readMessage(t, "rfc822-pif.eml")
	o := testOptions(t)
	o.ScanRFC822 = false
	if b := Scan(h, bytes.NewReader(body), int64(len(body)), o).Banned; len(b) != 0 {
		t.Errorf("scan_rfc822 off: banned %+v", b)
	}
	h, body = readMessage(t, "zip-exe.eml")
	o = testOptions(t)
	o.ScanZip = false
	if b := Scan(h, bytes.NewReader(body), int64(len(body)), o).Banned; len(b) != 0 {
		t.Errorf("scan_zip off: banned %+v", b)
	}
	for _, file := range []string{"vbs.eml", "exe-type.eml"} {
		h, body = readMessage(t, file)
		o = testOptions(t)
		o.BannedExts = nil
		if b := Scan(h, bytes.NewReader(body), int64(len(body)), o).Banned; len(b) != 0 {
			t.Errorf("%s, banned_exts empty: banned %+v", file, b)
		}
	}
}

// TestScanStructure: what is malformed (docs/attachments.md) and what is
// only unusual.
func TestScanStructure(t *testing.T) {
	var deep strings.Builder
	for i := range 40 {
		fmt.Fprintf(&deep, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
	}
	tests := []struct {
		name      string
		top       string // the message's Content-Type
		body      string
		malformed string // "" if it is not
	}{
		{"a multipart with text but no delimiter: a preamble", "multipart/mixed", "no parts here at all\r\n", ""},
		{"a multipart with no body", "multipart/mixed; boundary=b", "", ""},
		{"a multipart with blank lines only", "multipart/mixed; boundary=b", "\r\n\r\n", ""},
		{"an attached message with no body", "multipart/mixed; boundary=a",
			"--a\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--a--\r\n", ""},
		{"an attached message cut in its header", "multipart/mixed; boundary=a",
			"--a\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\nContent-Type: multipart/mixed;\r\n--a--\r\n", ""},
		{"40 nested multiparts", "multipart/mixed; boundary=b0", deep.String(), "parts nested deeper than 32"},
		{"1 000 parts", "multipart/mixed; boundary=b", strings.Repeat("--b\r\n\r\nx\r\n", 999), ""},
		{"1 001 parts", "multipart/mixed; boundary=b", strings.Repeat("--b\r\n\r\nx\r\n", 1000), "more than 1000 MIME parts"},
		{"many header fields in a part", "multipart/mixed; boundary=b",
			"--b\r\n" + strings.Repeat("X-Filler: 0123456789\r\n", 100000) + "Content-Type: text/plain\r\n\r\nx\r\n--b--\r\n", ""},
		{"a part's Content-Type over 64 KiB", "multipart/mixed; boundary=b",
			"--b\r\nContent-Type: text/plain;\r\n" + strings.Repeat(" a=b;\r\n", 10000) + "\r\nx\r\n--b--\r\n", "Content- header fields are over 65536 bytes"},
		{"a Content-Type line over 64 KiB", "multipart/mixed; boundary=b",
			"--b\r\nContent-Type: text/plain; x=\"" + strings.Repeat("a", 100000) + "\"\r\n\r\nx\r\n--b--\r\n", "Content- header fields are over 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := []Header{{"Content-Type", tt.top}}
			res := Scan(top, strings.NewReader(tt.body), int64(len(tt.body)), testOptions(t))
			if tt.malformed == "" && res.Malformed != "" || !strings.Contains(res.Malformed, tt.malformed) {
				t.Errorf("malformed = %q, want %q", res.Malformed, tt.malformed)
			}
		})
	}
}

// TestScanBypasses: messages built to carry a banned attachment past the
// scan (issue 17's review, with maxwell check). Each is either read as a
// mail client reads it, the attachment defanged, or malformed: maxwell
// cannot be sure it has seen every name a client could save a part under
// (docs/attachments.md).
func TestScanBypasses(t *testing.T) {
	exe := "Content-Type: application/octet-stream; name=\"evil.exe\"\r\n\r\nMZ\r\n"
	inner := "Subject: x\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n" + exe + "--in--\r\n"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name        string
		file        string // in testdata, or:
		ctype, body string // the message's Content-Type and body
		banned      string // the name of what is defanged, or
		malformed   string
		top         bool // the whole body replaced
	}{
		// a. An attached message or a multipart in base64 or
		// quoted-printable (RFC 2045 and 2046 forbid it; clients decode
		// it) is decoded and scanned; the whole part is replaced.
		{name: "a base64 message/rfc822", file: "bypass-rfc822-base64.eml", banned: "evil.exe"},
		{name: "a quoted-printable message/rfc822", file: "bypass-rfc822-qp.eml", banned: "evil.exe"},
		{name: "a base64 multipart", file: "bypass-multipart-base64.eml", banned: "evil.exe"},
		{name: "the message a base64 multipart", ctype: "multipart/mixed; boundary=in\r\nContent-Transfer-Encoding: base64",
			body: b64("--in\r\n" + exe + "--in--\r\n"), banned: "evil.exe", top: true},
		{name: "base64 in base64", ctype: "multipart/mixed; boundary=a", body: "--a\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			b64("Subject: y\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: BASE64\r\n\r\n"+b64(inner)) + "\r\n--a--\r\n", banned: "evil.exe"},
		{name: "a message/rfc822 in x-uuencode", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 m\r\nend\r\n--a--\r\n", malformed: "in transfer encoding x-uuencode"},
		{name: "a message/rfc822 in uue", file: "bypass-rfc822-uue.eml", malformed: "in transfer encoding uue"},
		{name: "a message/rfc822 in x-yencode", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: X-yEncode\r\n\r\n=ybegin line=128 size=1 name=m\r\nk\r\n=yend size=1\r\n--a--\r\n", malformed: "in transfer encoding x-yencode"},
		{name: "a multipart in yenc", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: multipart/mixed; boundary=in\r\nContent-Transfer-Encoding: yenc\r\n\r\n--in\r\n" + exe + "--in--\r\n--a--\r\n", malformed: "in transfer encoding yenc"},
		{name: "quoted-printable as clients read it: stray =, long lines", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nX-Junk: a=zb =\x01\r\nX-Long: " +
				strings.Repeat("=41", 3000) + "\r\n" + strings.ReplaceAll(inner, "=", "=3D") + "\r\n--a--\r\n", banned: "evil.exe"},
		{name: "a base64 message/rfc822 in pieces, each padded", file: "bypass-rfc822-base64-padding.eml", banned: "evil.exe"},
		{name: "a base64 message/rfc822 that is clean", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64("Subject: y\r\n\r\nhello\r\n") + "\r\n--a--\r\n"},
		// Both readings of a multipart or an attached message in base64
		// or quoted-printable: Thunderbird decodes it, Python's email
		// reads it as it is. Sent as it is, the banned part is cut out.
		{name: "a base64 multipart sent as it is", file: "bypass-multipart-base64-sent-plain.eml", banned: "evil.exe"},
		{name: "the message a base64 multipart sent as it is", file: "bypass-top-base64-sent-plain.eml", banned: "evil.exe"},
		{name: "a base64 message/rfc822 sent as it is", file: "bypass-rfc822-base64-sent-plain.eml", banned: "evil.exe"},
		{name: "a quoted-printable message/rfc822 sent as it is", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + inner + "--a--\r\n", banned: "evil.exe"},
		// b. The other attached-message types clients open.
		{name: "message/global", file: "bypass-message-global.eml", banned: "evil.exe"},
		{name: "message/x-rfc822", file: "bypass-message-x-rfc822.eml", banned: "evil.exe"},
		{name: "message/news", ctype: "message/news", body: inner, banned: "evil.exe"},
		{name: "message/rfc2822", ctype: "message/rfc2822", body: inner, banned: "evil.exe"},
		{name: "message/external-body", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: message/external-body; access-type=x\r\n\r\n" + inner + "--a--\r\n", banned: "evil.exe"},
		{name: "a multipart/digest's parts are messages", ctype: "multipart/digest; boundary=a",
			body: "--a\r\n\r\n" + inner + "\r\n--a--\r\n", banned: "evil.exe"},
		// A media type is read as clients read it: up to whitespace, ";",
		// "," or "(".
		{name: "message/rfc822 (comment)", file: "bypass-rfc822-comment.eml", banned: "evil.exe"},
		{name: "message/rfc822(c)", ctype: "message/rfc822(c)", body: inner, banned: "evil.exe"},
		{name: "message/rfc822 x", ctype: "message/rfc822 x", body: inner, banned: "evil.exe"},
		{name: "message/rfc822,x", ctype: "message/rfc822,x; y=z", body: inner, banned: "evil.exe"},
		{name: "multipart/digest (x)", ctype: "multipart/digest (x); boundary=a", body: "--a\r\n\r\n" + inner + "\r\n--a--\r\n", banned: "evil.exe"},
		{name: "application/zip (c)", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: application/zip (c)\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				b64(string(zipOf(zip.Deflate, "run.exe", []byte("MZ")))) + "\r\n--a--\r\n", banned: "(application/zip): run.exe"},
		// A multipart or an attached message with a name: a client may
		// save the part itself under it.
		{name: "message/rfc822 named evil.exe", file: "bypass-rfc822-named-exe.eml", banned: "evil.exe"},
		{name: "message/rfc822 with filename=evil.bat", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"evil.bat\"\r\n\r\nSubject: s\r\n\r\ncalc.exe\r\n--a--\r\n", banned: "evil.bat"},
		{name: "a multipart named evil.exe", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: multipart/mixed; boundary=q; name=\"evil.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--a--\r\n", banned: "evil.exe"},
		{name: "a boundary is no name", ctype: "multipart/mixed; boundary=\"=_mail.example.com\"",
			body: "--=_mail.example.com\r\nContent-Type: text/plain\r\n\r\nhello\r\n--=_mail.example.com--\r\n"},
		{name: "message/partial", file: "bypass-message-partial.eml", malformed: "message/partial"},
		// c. Two Content-Type fields: clients differ on which counts.
		{name: "two Content-Type fields", file: "bypass-two-content-types.eml", malformed: "two Content-Type fields that disagree"},
		{name: "two Content-Type fields in a part", ctype: "multipart/mixed; boundary=a",
			body:      "--a\r\nContent-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n" + exe + "--in--\r\n--a--\r\n",
			malformed: "two Content-Type fields that disagree"},
		{name: "two Content-Type fields, boundaries apart", ctype: "multipart/mixed; boundary=a",
			body:      "--a\r\nContent-Type: multipart/mixed; boundary=x\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n" + exe + "--in--\r\n--a--\r\n",
			malformed: "two Content-Type fields that disagree"},
		// Two boundary parameters that disagree: Thunderbird prefers the
		// RFC 2231 one, others the first or the last.
		{name: "boundary= and boundary*=", file: "bypass-boundary-2231.eml", malformed: "two boundary parameters that disagree (zz and b1)"},
		{name: "boundary= and boundary*0= boundary*1=", ctype: "multipart/mixed; boundary=\"zz\"; boundary*0=\"b\"; boundary*1=\"1\"",
			body: "--zz\r\n\r\n--b1\r\n" + exe + "--b1--\r\n--zz--\r\n", malformed: "two boundary parameters that disagree (zz and b1)"},
		{name: "boundary= twice", ctype: "multipart/mixed; boundary=\"zz\"; boundary=b1",
			body: "--zz\r\n\r\n--b1\r\n" + exe + "--b1--\r\n--zz--\r\n", malformed: "two boundary parameters that disagree (zz and b1)"},
		{name: "a boundary token with a space", ctype: "multipart/mixed; boundary=b1 zz",
			body: "--zz\r\n\r\n--b1\r\n" + exe + "--b1--\r\n--zz--\r\n", malformed: "two boundary parameters that disagree (b1 zz and b1)"},
		{name: "boundary= and boundary*= alike", ctype: "multipart/mixed; boundary=\"b1\"; boundary*=''b1",
			body: "--b1\r\n" + exe + "--b1--\r\n", banned: "evil.exe"},
		{name: "two Content-Type fields alike", ctype: "multipart/mixed; boundary=a",
			body:   "--a\r\nContent-Type: multipart/mixed; boundary=in\r\nContent-Type: multipart/mixed;\r\n boundary=\"in\"\r\n\r\n--in\r\n" + exe + "--in--\r\n--a--\r\n",
			banned: "evil.exe"},
		{name: "an empty Content-Type field is absent", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type:  \r\nContent-Type: application/octet-stream; name=evil.exe\r\n\r\nMZ\r\n--a--\r\n", banned: "evil.exe"},
		{name: "two Content-Transfer-Encoding fields", ctype: "multipart/mixed; boundary=a",
			body:      "--a\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(inner) + "\r\n--a--\r\n",
			malformed: "two Content-Transfer-Encoding fields that disagree"},
		// A line in a part's header that is not a field: Python's email
		// ends the header there, Thunderbird skips the line and reads on.
		// Both readings are scanned.
		{name: "a line without a colon", file: "bypass-header-line-not-a-field.eml", banned: "evil.exe"},
		{name: "a field name with a space", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nX Junk: 1\r\n" + exe + "--a--\r\n", banned: "evil.exe"},
		{name: "a first line of whitespace", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\n \r\n" + exe + "--a--\r\n", banned: "evil.exe"},
		{name: "a field without a name", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\n: x\r\n" + exe + "--a--\r\n", banned: "evil.exe"},
		{name: "such a line in an attached message's header", ctype: "message/rfc822",
			body: "From: x@example.net\r\nBogus line\r\n" + strings.TrimPrefix(inner, "Subject: x\r\n"), banned: "evil.exe"},
		{name: "such a line before the message an attached message holds", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: message/rfc822\r\nBogus\r\n\r\n" + inner + "--a--\r\n", banned: "evil.exe"},
		{name: "such a line before a zip with no blank line", ctype: "multipart/mixed; boundary=a",
			body:   "--a\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\nBogu\r\n" + b64(string(zipOf(zip.Store, "run.exe", []byte("MZ")))) + "\r\n--a--\r\n",
			banned: "(application/zip): run.exe"},
		{name: "a part without a header", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nhello: this is text\r\nno header here\r\n\r\nsee you\r\n--a--\r\n"},
		// An mbox From line that starts an attached message is skipped.
		{name: "an mbox From line", file: "bypass-rfc822-mbox-from.eml", banned: "evil.exe"},
		// A bare CR before a boundary or a field: a client that ends lines
		// at CR (as old Mac mail did) sees parts there that this scan,
		// ending them at LF, does not.
		{name: "a delimiter line ended by a bare CR", file: "bypass-bare-cr.eml", malformed: "bare CR"},
		{name: "a delimiter after a bare CR in text", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: text/plain\r\n\r\nhello\r--a\rContent-Type: application/octet-stream; name=evil.exe\r\rMZ\r--a--\r\n--a--\r\n", malformed: "bare CR"},
		{name: "a delimiter after a bare CR that ends a 64 KiB read", ctype: "multipart/mixed; boundary=a",
			body:      "--a\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("x", 64<<10-1) + "\r--a\rContent-Type: application/octet-stream; name=evil.exe\r\rMZ\r\n--a--\r\n",
			malformed: "bare CR"},
		{name: "a field after a bare CR in a header", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nX-Note: x\rContent-Type: message/rfc822\r\n\r\n" + inner + "--a--\r\n", malformed: "bare CR"},
		{name: "bare CRs in text", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: text/plain\r\n\r\nold\rMac\rtext --a\r-- a\r\n--a\r \r\n\r\nx\r\n--a--\r\n"},
		// d. Whitespace before the colon (RFC 5322's obsolete syntax).
		{name: "Content-Type : at the top", file: "bypass-space-before-colon.eml", banned: "evil.exe"},
		{name: "Content-Type : in a part", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type\t : multipart/mixed; boundary=in\r\n\r\n--in\r\n" + exe + "--in--\r\n--a--\r\n", banned: "evil.exe"},
		// Programs known by their type: a client names an unnamed part
		// from its type (application/x-msdownload: .exe).
		{name: "an unnamed application/x-msdownload", ctype: "multipart/mixed; boundary=a",
			body:   "--a\r\nContent-Type: application/x-msdownload\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--a--\r\n",
			banned: "(application/x-msdownload)"},
		{name: "an application/hta named without an extension", ctype: "application/hta; name=invoice", body: "<script>x</script>\r\n", banned: "invoice", top: true},
		{name: "an application/x-msdos-program named notes.txt", ctype: "application/x-msdos-program; name=\"notes.txt\"", body: "MZ\r\n"},
		// e. Zips known by their type.
		{name: "a zip entry's Unicode Path", file: "bypass-zip-unicode-path.eml", banned: "a.zip: evil.exe"},
		{name: "a zip, then another", file: "bypass-zip-concatenated.eml", banned: "a.zip: evil.exe"},
		{name: "an unnamed application/zip", file: "bypass-zip-type.eml", banned: "(application/zip): run.exe"},
		{name: "an application/x-zip-compressed called invoice.pdf", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: application/x-zip-compressed; name=invoice.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				b64(string(zipOf(zip.Deflate, "run.exe", []byte("MZ")))) + "\r\n--a--\r\n", banned: "invoice.pdf: run.exe"},
		{name: "an application/x-zip, clean", ctype: "multipart/mixed; boundary=a",
			body: "--a\r\nContent-Type: application/x-zip\r\n\r\n" + string(zipOf(zip.Store, "a.txt", []byte("x"))) + "\r\n--a--\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, body := []Header{{"Content-Type", tt.ctype}}, []byte(tt.body)
			if tt.file != "" {
				h, body = readMessage(t, tt.file)
			} else if ctype, cte, ok := strings.Cut(tt.ctype, "\r\n"); ok {
				h = []Header{{"Content-Type", ctype}, {"Content-Transfer-Encoding", strings.TrimPrefix(cte, "Content-Transfer-Encoding: ")}}
			}
			res := Scan(h, bytes.NewReader(body), int64(len(body)), testOptions(t))
			if tt.malformed == "" && res.Malformed != "" || !strings.Contains(res.Malformed, tt.malformed) {
				t.Fatalf("malformed %q, want %q", res.Malformed, tt.malformed)
			}
			if tt.malformed != "" {
				return
			}
			banned := res.Banned
			if tt.banned == "" {
				if len(banned) != 0 {
					t.Fatalf("banned %+v, want none", banned)
				}
				return
			}
			if len(banned) != 1 || banned[0].Name != tt.banned || banned[0].Top != tt.top {
				t.Fatalf("banned %+v\nwant %q, top %v", banned, tt.banned, tt.top)
			}
			checkDefanged(t, h, body, banned)
		})
	}
}

// TestScanCleanMail: mail as clients and servers really send it is
// accepted as it came: nothing banned, nothing malformed. The clean-*.eml
// messages are the shapes the second review checked (testdata/SOURCES.md).
func TestScanCleanMail(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "clean-*.eml"))
	if len(files) < 14 {
		t.Fatalf("%d clean-*.eml messages, want 14", len(files))
	}
	files = append(files,
		// A multipart/digest part with an empty Content-Type field: the
		// field is absent, the part a message/rfc822 (not two
		// Content-Type fields that disagree).
		filepath.Join("testdata", "digest-empty-content-type.eml"),
	)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			h, body := readMessage(t, filepath.Base(file))
			res := Scan(h, bytes.NewReader(body), int64(len(body)), testOptions(t))
			if res.Malformed != "" || len(res.Banned) != 0 {
				t.Errorf("malformed %q, banned %+v; want it clean", res.Malformed, res.Banned)
			}
		})
	}
}

// TestScanDecodeBudget: the encoded parts of a message decode to at most
// Options.MaxDecode bytes in all ([milter] max_scan_size): quoted-printable
// does not shrink what it holds, so nested levels would each cost the
// message's size again, in a spool of their own.
func TestScanDecodeBudget(t *testing.T) {
	msg := "Content-Type: application/octet-stream; name=evil.exe\r\n\r\n" + strings.Repeat("MZ filler\r\n", 10000)
	for range 3 {
		msg = "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + strings.ReplaceAll(msg, "=", "=3D")
	}
	h, body := SplitMessage([]byte(msg))
	for _, tt := range []struct {
		budget    int64
		malformed string
	}{
		{int64(len(body)) * 3, ""},
		{int64(len(body)) * 2, "decode to more than"},
	} {
		o := testOptions(t)
		o.MaxDecode = tt.budget
		res := Scan(h, bytes.NewReader(body), int64(len(body)), o)
		if tt.malformed == "" && (res.Malformed != "" || len(res.Banned) != 1) || !strings.Contains(res.Malformed, tt.malformed) {
			t.Errorf("%d bytes decoded at most: malformed %q, banned %+v; want malformed %q", tt.budget, res.Malformed, res.Banned, tt.malformed)
		}
	}
}

// Real bounces (testdata/SOURCES.md says where each comes from) are read
// as far as they go: never malformed, and a banned attachment in a
// returned message is defanged.
func TestScanBounces(t *testing.T) {
	tests := []struct{ file, banned string }{
		{"pymilter-bounce1.eml", ""},
		{"pymilter-bound.eml", ""},
		{"postfix-dsn.eml", "pictures.pif"},
		{"postfix-dsn-headers.eml", ""},
		{"postfix-dsn-large.eml", ""},
		{"sendmail-dsn.eml", ""},
		{"sendmail-dsn-headers.eml", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			h, body := readMessage(t, tt.file)
			checkBounce(t, h, body, tt.banned)
		})
	}
}

// TestScanTruncatedBounce cuts the message Postfix returned after each of
// its lines, as an MTA that returns only the start of a message does.
func TestScanTruncatedBounce(t *testing.T) {
	h, body := readMessage(t, "postfix-dsn.eml")
	_, params, _ := contentType(h)
	closing := []byte("--" + paramOf(params, "boundary") + "--")
	start := bytes.Index(body, []byte("Content-Type: message/rfc822"))
	end := bytes.LastIndex(body, closing)
	if len(closing) < 10 || start < 0 || end < start {
		t.Fatal("postfix-dsn.eml is not the DSN this test knows")
	}
	for cut := start; cut < end; {
		cut += bytes.IndexByte(body[cut:], '\n') + 1
		short := append(append(bytes.Clone(body[:cut]), '\r', '\n'), body[end:]...)
		banned := ""
		if bytes.Contains(body[start:cut], []byte(`name="pictures.pif"`)) {
			banned = "pictures.pif"
		}
		t.Run(fmt.Sprintf("cut at %d", cut), func(t *testing.T) { checkBounce(t, h, short, banned) })
	}
}

// checkBounce scans a bounce: not malformed, the part called banned (if
// any) the only one banned, and defanged.
func checkBounce(t *testing.T, h []Header, body []byte, banned string) {
	t.Helper()
	res := Scan(h, bytes.NewReader(body), int64(len(body)), testOptions(t))
	if res.Malformed != "" {
		t.Fatalf("malformed: %s", res.Malformed)
	}
	got := res.Banned
	switch {
	case banned == "" && len(got) != 0:
		t.Fatalf("banned %+v, want none", got)
	case banned != "" && (len(got) != 1 || got[0].Name != banned):
		t.Fatalf("banned %+v, want %s", got, banned)
	case banned != "":
		checkDefanged(t, h, body, got)
	}
}

// TestScanMemoryIndependentOfParts: what a scan keeps of a message does
// not grow with its number of parts (issue 17: 3.6 million tiny parts
// took maxwell to 1.12 GB).
func TestScanMemoryIndependentOfParts(t *testing.T) {
	for _, n := range []int{1000, 200000} {
		var b strings.Builder
		for range n {
			b.WriteString("--b\r\nContent-Type: a/b; name=x.pdf\r\n\r\nx\r\n")
		}
		body := b.String()
		top := []Header{{"Content-Type", "multipart/mixed; boundary=b"}}
		o := testOptions(t)
		o.MaxParts = n + 1 // read every part
		res, kept := retained(func() *Result { return Scan(top, strings.NewReader(body), int64(len(body)), o) })
		runtime.KeepAlive(body)
		if res.Malformed != "" || res.Parts != n+1 || len(res.Banned) != 0 {
			t.Fatalf("%d parts: read %d, %d banned, malformed %q", n, res.Parts, len(res.Banned), res.Malformed)
		}
		if kept > 1<<20 {
			t.Errorf("%d parts: the scan's result keeps %.1f MiB", n, float64(kept)/(1<<20))
		}
	}
}

// TestScanMemoryIndependentOfNames: what a scan keeps of a part to
// defang is small whatever its names (issue 17: 16 messages of 166 parts
// named with 60 KB of "A" and ".exe" took maxwell to 326 MiB). A name
// is judged whole, then kept cut to maxNameLen bytes; nothing kept holds
// on to the header value it was taken from.
func TestScanMemoryIndependentOfNames(t *testing.T) {
	long := strings.Repeat("A", 60000)
	tests := []struct {
		name, header string // the part's header: a name, or a field, of 60 KB
		banned       string // the name the part is kept under
	}{
		{"Content-Type name=", "Content-Type: application/octet-stream; name=\"" + long + ".exe\"", long[:maxNameLen-3] + "..."},
		{"Content-Disposition filename=", "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"" + long + ".exe\"", long[:maxNameLen-3] + "..."},
		{"a short name beside a long parameter", "Content-Type: application/octet-stream; x=\"" + long + "\"; name=x.exe", "x.exe"},
		{"a long media type", "Content-Type: application/" + strings.ToLower(long) + "; name=x.exe", "x.exe"},
	}
	const n = 300
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			for range n {
				b.WriteString("--b\r\n" + tt.header + "\r\n\r\nMZ\r\n")
			}
			b.WriteString("--b--\r\n")
			body := b.String()
			top := []Header{{"Content-Type", "multipart/mixed; boundary=b"}}
			o := testOptions(t)
			res, kept := retained(func() *Result { return Scan(top, strings.NewReader(body), int64(len(body)), o) })
			runtime.KeepAlive(body)
			if res.Malformed != "" || len(res.Banned) != n {
				t.Fatalf("%d banned, malformed %q", len(res.Banned), res.Malformed)
			}
			if p := res.Banned[0]; p.Name != tt.banned || p.Reason != "banned extension .exe" || len(p.Type) > maxNameLen {
				t.Errorf("kept as %.80q (%d bytes), %q, a type of %d bytes; want %.80q", p.Name, len(p.Name), p.Reason, len(p.Type), tt.banned)
			}
			if kept/n > 1024 {
				t.Errorf("the scan's result keeps %d bytes a part to defang (%.1f MiB for %d)", kept/n, float64(kept)/(1<<20), n)
			}
		})
	}
}

// retained runs scan and returns its result and the heap it holds: the
// heap after the scan, garbage collected, less the heap before. What the
// caller made before must stay alive until after (runtime.KeepAlive).
func retained(scan func() *Result) (*Result, int64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res := scan()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(res)
	return res, int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// zipOf writes a zip of entries (a name, and content: nil for an empty
// file) with method (zip.Store or zip.Deflate).
func zipOf(method uint16, entries ...any) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i := 0; i < len(entries); i += 2 {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: entries[i].(string), Method: method})
		if data, _ := entries[i+1].([]byte); data != nil {
			w.Write(data)
		}
	}
	zw.Close()
	return b.Bytes()
}

// TestZipListing lists zips that archive/zip's reader would hold whole in
// memory, or that differ from the usual layout.
func TestZipListing(t *testing.T) {
	many := func(n int) []any {
		var es []any
		for i := range n {
			es = append(es, fmt.Sprintf("f%d.txt", i), nil)
		}
		return es
	}
	liar := zipOf(zip.Store, many(12000)...)
	end := bytes.LastIndex(liar, []byte("PK\x05\x06"))
	binary.LittleEndian.PutUint16(liar[end+8:], 5) // the entry counts say 5
	binary.LittleEndian.PutUint16(liar[end+10:], 5)
	nested := zipOf(zip.Deflate, "readme.txt", []byte("hello"), "inner.zip", zipOf(zip.Deflate, "evil.exe", []byte("MZ")))
	method := zipOf(zip.Store, "inner.zip", zipOf(zip.Store, "a.txt", []byte("x")))
	local := bytes.Index(method, []byte("PK\x03\x04"))
	central := bytes.LastIndex(method, []byte("PK\x01\x02")) // the inner zip's come first
	binary.LittleEndian.PutUint16(method[local+8:], 99)      // a method no one knows
	binary.LittleEndian.PutUint16(method[central+10:], 99)

	// An Info-ZIP Unicode Path extra field (0x7075): version 1, the CRC
	// of the name it stands for, the name clients show.
	upath := func(name string) []byte {
		f := binary.LittleEndian.AppendUint16(nil, 0x7075)
		f = binary.LittleEndian.AppendUint16(f, uint16(5+len(name)))
		f = append(f, 1)
		f = binary.LittleEndian.AppendUint32(f, crc32.ChecksumIEEE([]byte("readme.txt")))
		return append(f, name...)
	}
	var unicode bytes.Buffer
	zw := zip.NewWriter(&unicode)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "readme.txt", Method: zip.Store, Extra: upath("evil.exe")})
	w.Write([]byte("MZ"))
	zw.Close()
	localName := zipOf(zip.Store, "readme.txt", []byte("MZ"))
	copy(localName[30:], "evil01.exe") // the local header's name: what a streaming reader shows
	clean := zipOf(zip.Deflate, "readme.txt", []byte("hi"))
	evil := zipOf(zip.Deflate, "readme.txt", []byte("hi"), "evil.exe", []byte("MZ"))
	// A nested zip whose central directory states size as its
	// uncompressed size, whatever it really is (the budget is 1 MiB below).
	statedSize := func(data []byte, size uint64) []byte {
		var deflated bytes.Buffer
		fw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
		fw.Write(data)
		fw.Close()
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, _ := zw.CreateRaw(&zip.FileHeader{Name: "inner.zip", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(data),
			CompressedSize64: uint64(deflated.Len()), UncompressedSize64: size})
		w.Write(deflated.Bytes())
		zw.Close()
		return b.Bytes()
	}
	big := zipOf(zip.Store, "zeros.txt", make([]byte, 2<<20))

	tests := []struct {
		name         string
		zip          []byte
		banned, want string // the entry banned and the reason's start; "" for a clean zip
	}{
		{"a Unicode Path extra field", unicode.Bytes(), "evil.exe", "banned extension .exe in zip"},
		{"a local header's name", localName, "evil01.exe", "banned extension .exe in zip"},
		{"a zip, then another (7-Zip lists the first)", append(append([]byte(nil), evil...), clean...), "evil.exe", "banned extension .exe in zip"},
		{"a zip, then another (maxwell's reader lists the last)", append(append([]byte(nil), clean...), evil...), "evil.exe", "banned extension .exe in zip"},
		{"70 000 entries: a ZIP64 end record", zipOf(zip.Store, many(70000)...), "f10000.txt", "more than 10000 zip entries"},
		{"12 000 entries, the count says 5", liar, "f10000.txt", "more than 10000 zip entries"},
		{"a nested zip, deflated", nested, "inner.zip: evil.exe", "banned extension .exe in zip"},
		{"a nested zip, stored", zipOf(zip.Store, "inner.zip", zipOf(zip.Store, "evil.scr", []byte("MZ"))), "inner.zip: evil.scr", "banned extension .scr in zip"},
		{"data before the zip (a self-extractor)", append(bytes.Repeat([]byte("MZ stub "), 1000), nested...), "inner.zip: evil.exe", "banned extension .exe in zip"},
		{"a nested zip in a method no one knows", method, "inner.zip", "unreadable nested zip: compression method 99"},
		{"an EXE named as ZIP", []byte("MZ\x90\x00 this is not a zip"), "(the zip)", "unreadable zip: no end of central directory"},
		{"a zip cut short", nested[:len(nested)-30], "(the zip)", "unreadable zip"},
		{"a clean zip", zipOf(zip.Deflate, "a.txt", []byte("x"), "b.pdf", []byte("y")), "", ""},
		{"an empty zip", zipOf(zip.Deflate), "", ""},
		{"a nested zip said to expand past the budget", statedSize(clean, 2<<20), "inner.zip", "zip expands past its size limit"},
		{"a nested zip past the budget, said to be small", statedSize(big, 100), "inner.zip", "zip expands past its size limit"},
		{"a nested zip within the budget, said to be small", statedSize(evil, 1), "inner.zip: evil.exe", "banned extension .exe in zip"},
	}
	o := testOptions(t)
	o.ZipMaxExpand = 1 << 20
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := zipBudget{expand: o.ZipMaxExpand, entries: o.ZipMaxEntries}
			banned, reason := z.check(bytes.NewReader(tt.zip), "binary", o)
			if banned != tt.banned || !strings.HasPrefix(reason, tt.want) || (tt.want == "") != (reason == "") {
				t.Errorf("banned %q (%s), want %q (%s…)", banned, reason, tt.banned, tt.want)
			}
		})
	}
}
