package mime

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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
	d := config.Default().Defang
	return &Options{BannedExts: d.BannedExts, ScanZip: true, ZipDepth: d.ZipDepth, ZipMaxExpand: int64(d.ZipMaxExpand),
		ZipMaxEntries: d.ZipMaxEntries, ScanRFC822: true, TempDir: t.TempDir(), MemThreshold: 1 << 20}
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
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			h, body := readMessage(t, tt.file)
			res := Scan(h, bytes.NewReader(body), int64(len(body)), testOptions(t))
			if res.Malformed != "" {
				t.Errorf("malformed: %s", res.Malformed)
			}
			banned := res.Banned()
			if tt.banned == "" {
				if len(banned) != 0 {
					t.Fatalf("banned %+v, want none", banned)
				}
				return
			}
			if len(banned) != 1 || banned[0].Banned != tt.banned || !strings.HasPrefix(banned[0].Reason, tt.reason) || banned[0].Top != tt.top {
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
	if len(again.Banned()) != 0 || again.Malformed != "" {
		t.Errorf("after defanging: banned %+v, malformed %q\n%s", again.Banned(), again.Malformed, got)
	}
	warnings := 0
	for _, q := range again.Parts {
		for _, n := range q.Names {
			if n == WarningName {
				warnings++
				break
			}
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

func TestScanOptions(t *testing.T) {
	h, body := readMessage(t, "rfc822-pif.eml")
	o := testOptions(t)
	o.ScanRFC822 = false
	if b := Scan(h, bytes.NewReader(body), int64(len(body)), o).Banned(); len(b) != 0 {
		t.Errorf("scan_rfc822 off: banned %+v", b)
	}
	h, body = readMessage(t, "zip-exe.eml")
	o = testOptions(t)
	o.ScanZip = false
	if b := Scan(h, bytes.NewReader(body), int64(len(body)), o).Banned(); len(b) != 0 {
		t.Errorf("scan_zip off: banned %+v", b)
	}
	h, body = readMessage(t, "vbs.eml")
	o = testOptions(t)
	o.BannedExts = nil
	if b := Scan(h, bytes.NewReader(body), int64(len(body)), o).Banned(); len(b) != 0 {
		t.Errorf("banned_exts empty: banned %+v", b)
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
		{"40 nested multiparts", "multipart/mixed; boundary=b0", deep.String(), "nested deeper than 32"},
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
	_, params := parseField(field(h, "Content-Type"))
	closing := []byte("--" + params[1].value + "--")
	start := bytes.Index(body, []byte("Content-Type: message/rfc822"))
	end := bytes.LastIndex(body, closing)
	if params[1].name != "boundary" || start < 0 || end < start {
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
	got := res.Banned()
	switch {
	case banned == "" && len(got) != 0:
		t.Fatalf("banned %+v, want none", got)
	case banned != "" && (len(got) != 1 || got[0].Banned != banned):
		t.Fatalf("banned %+v, want %s", got, banned)
	case banned != "":
		checkDefanged(t, h, body, got)
	}
}
