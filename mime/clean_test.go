package mime

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	stdmime "mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// htmlOptions are testOptions with [defang] scan_html on.
func htmlOptions(t testing.TB) *Options {
	o := testOptions(t)
	o.ScanHTML = true
	return o
}

// crlf writes a message given with "\n" line ends with "\r\n".
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

// defangMessage scans the message raw and defangs it as the milter
// would, its header changed as the policy changes it for a Top part: the
// message as delivered.
func defangMessage(t *testing.T, raw []byte, o *Options) (*Result, []byte) {
	t.Helper()
	h, body := SplitMessage(raw)
	res := Scan(h, bytes.NewReader(body), int64(len(body)), o)
	if len(res.Banned) == 0 {
		return res, raw
	}
	var out bytes.Buffer
	for _, f := range h {
		switch {
		case res.Banned[0].Top && res.Banned[0].Clean && f.Is("Content-Transfer-Encoding"):
		case res.Banned[0].Top && !res.Banned[0].Clean && (f.Is("Content-Type") || f.Is("Content-Transfer-Encoding")):
		default:
			fmt.Fprintf(&out, "%s: %s\r\n", f.Name, f.Value)
		}
	}
	switch {
	case res.Banned[0].Top && res.Banned[0].Clean:
		out.WriteString("Content-Transfer-Encoding: quoted-printable\r\n")
	case res.Banned[0].Top:
		out.WriteString("Content-Type: text/plain\r\n")
	}
	out.WriteString("\r\n")
	if err := Defang(&out, bytes.NewReader(body), int64(len(body)), res.Banned, "mx.example.org:/x.eml"); err != nil {
		t.Fatal(err)
	}
	return res, out.Bytes()
}

// goLeaf is a leaf part as Go's net/mail and mime/multipart read it.
type goLeaf struct {
	Type    string
	Header  string // the fields, as written
	Raw     []byte // the body as written
	Decoded []byte
}

// goLeaves reads a message with Go's standard library: its leaves, in
// order, attached messages opened.
func goLeaves(t *testing.T, raw []byte) []goLeaf {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail: %v", err)
	}
	var out []goLeaf
	var walk func(get func(string) string, header string, body io.Reader, depth int)
	walk = func(get func(string) string, header string, body io.Reader, depth int) {
		ctype, params, err := stdmime.ParseMediaType(get("Content-Type"))
		if err != nil {
			ctype = "text/plain"
		}
		switch {
		case strings.HasPrefix(ctype, "multipart/"):
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatalf("mime/multipart, depth %d: %v", depth, err)
				}
				var hb strings.Builder
				for _, k := range slices.Sorted(maps.Keys(p.Header)) {
					for _, v := range p.Header[k] {
						hb.WriteString(k + ": " + v + "\n")
					}
				}
				walk(p.Header.Get, hb.String(), p, depth+1)
			}
		case ctype == "message/rfc822":
			inner, err := mail.ReadMessage(body)
			if err != nil {
				t.Fatalf("net/mail, attached message: %v", err)
			}
			walk(inner.Header.Get, "", inner.Body, depth+1)
		default:
			b, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			var dec []byte
			switch strings.ToLower(strings.TrimSpace(get("Content-Transfer-Encoding"))) {
			case "quoted-printable":
				dec, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
			case "base64":
				dec, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(b)))
			default:
				dec = b
			}
			if err != nil {
				t.Fatalf("decoding a %s part: %v", ctype, err)
			}
			out = append(out, goLeaf{Type: ctype, Header: header, Raw: b, Decoded: dec})
		}
	}
	walk(m.Header.Get, "", m.Body, 0)
	return out
}

// checkPython reads messages with Python's email package, if there is a
// python3 (one process for all): each must have the leaves Go reads in
// it, of the same media types and decoded content, and no defects.
func checkPython(t *testing.T, msgs ...[]byte) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Log("no python3: the messages are not read with Python's email")
		return
	}
	const script = `
import email, email.policy, json, sys, base64
res = []
for raw in json.load(sys.stdin):
    m = email.message_from_bytes(base64.b64decode(raw), policy=email.policy.compat32)
    res.append({"leaves": [[p.get_content_type(), base64.b64encode(p.get_payload(decode=True) or b"").decode()]
                           for p in m.walk() if not p.is_multipart()],
                "defects": [str(d) for p in m.walk() for d in p.defects]})
print(json.dumps(res))
`
	in, _ := json.Marshal(msgs)
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var res []struct {
		Leaves  [][2]string
		Defects []string
	}
	if err := json.Unmarshal(b, &res); err != nil || len(res) != len(msgs) {
		t.Fatalf("python3 said %s: %v", b, err)
	}
	for i, r := range res {
		if len(r.Defects) > 0 {
			t.Errorf("message %d: Python's email finds defects: %v", i, r.Defects)
		}
		leaves := goLeaves(t, msgs[i])
		if len(r.Leaves) != len(leaves) {
			t.Errorf("message %d: Python's email reads %d leaves, Go %d", i, len(r.Leaves), len(leaves))
			continue
		}
		for j, l := range r.Leaves {
			d, _ := base64.StdEncoding.DecodeString(l[1])
			if l[0] != leaves[j].Type || !bytes.Equal(d, leaves[j].Decoded) {
				t.Errorf("message %d, leaf %d: Python's email reads %s %q, Go %s %q", i, j, l[0], d, leaves[j].Type, leaves[j].Decoded)
			}
		}
	}
}

// filtered is what an HTML part's content becomes: filtered, its line
// breaks LF (quoted-printable's hard line breaks are the message's).
func filtered(t *testing.T, html []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if _, err := FilterHTML(&out, bytes.NewReader(html)); err != nil {
		t.Fatal(err)
	}
	return lf(out.Bytes())
}

func lf(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }

// checkCleaned compares the leaves of a message before and after
// defanging, as Go reads them (and Python, if it is there): the cleaned
// ones (by their index) hold the filtered HTML, the others are as they
// were, byte for byte. A scan of the result finds nothing more.
// (checkPython reads the result as Python does.)
func checkCleaned(t *testing.T, raw, out []byte, cleaned ...int) {
	t.Helper()
	before, after := goLeaves(t, raw), goLeaves(t, out)
	if len(before) != len(after) {
		t.Fatalf("%d leaves before, %d after:\n%s", len(before), len(after), out)
	}
	for i := range before {
		b, a := before[i], after[i]
		if !containsInt(cleaned, i) {
			if b.Header != a.Header || !bytes.Equal(b.Raw, a.Raw) {
				t.Errorf("leaf %d (%s) changed:\n%s%q\nwas\n%s%q", i, b.Type, a.Header, a.Raw, b.Header, b.Raw)
			}
			continue
		}
		if a.Type != b.Type || !bytes.Equal(lf(a.Decoded), filtered(t, b.Decoded)) {
			t.Errorf("leaf %d, %s, decodes to\n%q\nwant\n%q", i, a.Type, a.Decoded, filtered(t, b.Decoded))
		}
		if a.Header != "" && !strings.Contains(a.Header, "Content-Transfer-Encoding: quoted-printable\n") {
			t.Errorf("leaf %d is not announced quoted-printable:\n%s", i, a.Header)
		}
		checkQP(t, a.Raw)
	}
	h, body := SplitMessage(out)
	if again := Scan(h, bytes.NewReader(body), int64(len(body)), htmlOptions(t)); len(again.Banned) > 0 || again.Malformed != "" {
		t.Errorf("scanned again: %+v, malformed %q", again.Banned, again.Malformed)
	}
}

func containsInt(l []int, n int) bool {
	for _, m := range l {
		if m == n {
			return true
		}
	}
	return false
}

// checkQP checks quoted-printable text as written: lines of at most 76
// characters, none starting "-" (no boundary can hide there), no
// whitespace before a line break, no bare CR or LF.
func checkQP(t *testing.T, raw []byte) {
	t.Helper()
	eol := []byte("\n")
	if bytes.Contains(raw, []byte("\r\n")) {
		eol = []byte("\r\n")
	}
	lines := bytes.Split(raw, eol)
	for i, l := range lines {
		switch {
		case len(l) > 76:
			t.Errorf("quoted-printable line %d of %d characters: %q", i, len(l), l)
		case bytes.HasPrefix(l, []byte("-")):
			t.Errorf("quoted-printable line %d starts with '-': %q", i, l)
		case len(l) > 0 && (l[len(l)-1] == ' ' || l[len(l)-1] == '\t'):
			t.Errorf("quoted-printable line %d ends with whitespace: %q", i, l)
		case bytes.ContainsAny(l, "\r\n"):
			t.Errorf("quoted-printable line %d holds a bare CR or LF: %q", i, l)
		}
	}
}

// pymilter's amazon test message, cut down: a multipart/alternative of
// text and HTML, then an inline HTML page with onLoad=, a script,
// javascript: links and an iframe. The page is cleaned, nothing else
// changes.
func TestCleanAmazon(t *testing.T) {
	full, err := os.ReadFile(filepath.Join("testdata", "html-amazon.eml"))
	if err != nil {
		t.Fatal(err)
	}
	h, raw := SplitMessage(full)
	res, out := defangMessage(t, full, htmlOptions(t))
	if res.Malformed != "" || len(res.Banned) != 1 {
		t.Fatalf("scan: %+v, malformed %q", res.Banned, res.Malformed)
	}
	p := res.Banned[0]
	if !p.Clean || p.Top || p.Name != "103-3111065-2579065" || p.Type != "text/html" || p.CTE != "7bit" || p.Break != 2 ||
		p.Reason != "script 1, iframe 1, on* attribute 2, script URL 1" {
		t.Errorf("part %+v", p)
	}
	if !bytes.HasPrefix(raw[p.Start:], []byte("Content-Type: text/html; charset=us-ascii;\r\n name=")) || !bytes.HasPrefix(raw[p.End-2:], []byte("\r\n--")) {
		t.Errorf("the part is not where it should be: %q … %q", raw[p.Start:p.Start+40], raw[p.End-10:])
	}
	checkCleaned(t, full, out, 2)
	checkPython(t, out)
	for _, gone := range []string{"<script", "onLoad", "onmouseover", "javascript:", "<iframe", "track.js"} {
		if bytes.Contains(out, []byte(gone)) {
			t.Errorf("%s is left:\n%s", gone, out)
		}
	}
	for _, kept := range []string{
		"Content-Base: \"http://www.amazon.example/exec/obidos/subs\r\n\tt/home/redirect.html/103-3111065-25\r\n\t79065\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<html>\r\n",
		`<body bgcolor=3D"#FFFFFF" link=3D"#003399" alink=3D"#FF9933" vlink=3D"#9966=` + "\r\n" + `33" text=3D"#000000">`,
		"search-handle-form/103-3111065=\r\n=2D2579065", // a soft break before a '-'

		"<!-- WARNING: embedded script removed -->\r\n</head>",
		`<a>Demo</a>`,
		"size=3D\"15\"> =20\r\n</form>", // whitespace before a line break
		"</html>\r\n\r\n--------------59A46341C90BA737DD47867B--\r\n",
	} {
		if !bytes.Contains(out, []byte(kept)) {
			t.Errorf("output lacks %q:\n%s", kept, out)
		}
	}
	// Without scan_html, nothing.
	if res := Scan(h, bytes.NewReader(raw), int64(len(raw)), testOptions(t)); len(res.Banned) != 0 {
		t.Errorf("scan_html off: %+v", res.Banned)
	}
}

// pymilter's testHTML, as a message that is one HTML part: what comes
// before the script stays, the script is one warning comment.
func TestCleanPymilterTestHTML(t *testing.T) {
	raw := append(crlf("From: a@example.com\nContent-Type: text/html\nContent-Transfer-Encoding: 7bit\n\n"),
		pymilterHTML+"<script lang=javascript> Dangerous script </script>"...)
	res, out := defangMessage(t, raw, htmlOptions(t))
	if len(res.Banned) != 1 || !res.Banned[0].Top || !res.Banned[0].Clean || res.Banned[0].Reason != "script 1" {
		t.Fatalf("%+v", res.Banned)
	}
	leaves := goLeaves(t, out)
	want := strings.ReplaceAll(pymilterHTML, "\n", "\r\n") + scriptWarning
	if len(leaves) != 1 || string(leaves[0].Decoded) != want {
		t.Errorf("got %q\nwant %q", leaves[0].Decoded, want)
	}
	checkCleaned(t, raw, out, 0)
	checkPython(t, out)
}

// b64 encodes s in base64 lines of 76 characters.
func b64(s string) string {
	e := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(e) > 76 {
		b.WriteString(e[:76] + "\n")
		e = e[76:]
	}
	return b.String() + e
}

// TestCleanHTMLParts: HTML parts between two text parts, each cleaned,
// replaced whole, or left as it is; the text parts stay byte for byte.
func TestCleanHTMLParts(t *testing.T) {
	mixed := func(part string) []byte {
		return crlf("From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n" +
			"--b\nContent-Type: text/plain\n\nhello\n--b\n" + part + "\n--b\nContent-Type: text/plain\n\nbye\n--b--\n")
	}
	const script = "<p>a</p><script>x()</script>\n"
	tests := []struct {
		name   string
		raw    []byte
		want   string // "clean", "replaced" or "" (untouched)
		reason string // the part's, or a start of it
		leaf   int    // the leaf cleaned, as Go reads the message
	}{
		{"7bit", mixed("Content-Type: text/html\n\n" + script), "clean", "script 1", 1},
		{"base64", mixed("Content-Type: text/html\nContent-Transfer-Encoding: base64\n\n" + b64(script+"<a onclick=y>z</a>\n")),
			"clean", "script 1, on* attribute 1", 1},
		{"quoted-printable, soft breaks inside the tags", mixed("Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
			"<p>Gr=C3=BC=C3=9Fe</p><scr=\nipt>alert(1)</sc=\nript><a hr=\nef=3D\"java=\nscript:x()\">l</a>=\n"), "clean", "script 1, script URL 1", 1},
		{"quoted-printable ending in a soft break before the delimiter", mixed("Content-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n" +
			"<script>x</script>a="), "clean", "script 1", 1},
		{"8bit UTF-8", mixed("Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n<p>Grüße = Grüße</p>\t\n" + script), "clean", "script 1", 1},
		{"binary with a bare CR", mixed("Content-Type: text/html\nContent-Transfer-Encoding: BINARY\n\n<p>a\rb</p>" + script), "clean", "script 1", 1},
		{"an unknown transfer encoding: read as it is", mixed("Content-Type: text/html\nContent-Transfer-Encoding: x-foo\n\n" + script), "clean", "script 1", 1},
		{"unterminated script: dropped to the part's end", mixed("Content-Type: text/html\n\n<p>a</p><script>x()\n<p>b</p>"), "clean", "script 1", 1},
		{"no line break before the delimiter", []byte(strings.Replace(string(mixed("Content-Type: text/html\n\n"+script)), "</script>\n\r\n--b", "</script>\r\n--b", 1)),
			"clean", "script 1", 1},
		{"a delimiter in the decoded content stays hidden", mixed("Content-Type: text/html\nContent-Transfer-Encoding: base64\n\n" +
			b64(script+"--b\r\nContent-Type: text/html\r\n\r\n<p>not a part</p>\r\n--b--\r\n")), "clean", "script 1", 1},
		{"application/octet-stream named .html", mixed("Content-Type: application/octet-stream; name=\"page.html\"\nContent-Transfer-Encoding: base64\n\n" + b64(script)),
			"clean", "script 1", 1},
		{"application/octet-stream named .HTM by its filename", mixed("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=PAGE.HTM\n\n" + script),
			"clean", "script 1", 1},
		{"HTML in an attached message", mixed("Content-Type: message/rfc822\n\nFrom: x@example.com\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n<b onmouseover=3Dx>b</b>"),
			"clean", "on* attribute 1", 1},
		{"nothing to remove", mixed("Content-Type: text/html\nContent-Transfer-Encoding: base64\n\n" + b64("<p class=x>hi</p>\n")), "", "", 0},
		{"an empty HTML part", mixed("Content-Type: text/html\n"), "", "", 0},
		{"application/octet-stream named .txt", mixed("Content-Type: application/octet-stream; name=x.txt\n\n" + script), "", "", 0},
		{"text/plain", mixed("Content-Type: text/plain\n\n" + script), "", "", 0},
		{"a header mail programs read in two ways", mixed("X-Junk\nContent-Type: text/html\n\n" + script),
			"replaced", "active content in HTML (script 1), in a part whose header mail programs read in two ways", 0},
		{"HTML in a base64 multipart", mixed("Content-Type: multipart/alternative; boundary=\"in\"\nContent-Transfer-Encoding: base64\n\n" +
			b64("--in\r\nContent-Type: text/html\r\n\r\n"+script+"\r\n--in--\r\n")),
			"replaced", "active content in HTML (script 1), in a base64 multipart/alternative part removed whole", 0},
		{"two transfer encodings that disagree", mixed("Content-Type: text/html\nContent-Transfer-Encoding: 7bit\nContent-Transfer-Encoding: base64\n\n" + b64(script)),
			"replaced", "active content in HTML (script 1), in two transfer encodings that disagree", 0},
		{"uuencoded HTML", mixed("Content-Type: text/html\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x.html\n`\nend"),
			"replaced", "HTML in transfer encoding x-uuencode", 0},
		{"HTML named .exe: banned by its name", mixed("Content-Type: text/html; name=\"evil.exe\"\n\n" + script), "replaced", "banned extension .exe", 0},
		{"line ends LF", []byte(strings.ReplaceAll(string(mixed("Content-Type: text/html\nContent-Transfer-Encoding: base64\n\n"+b64(script+"-x\n"))), "\r\n", "\n")),
			"clean", "script 1", 1},
	}
	var outs [][]byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, out := defangMessage(t, tt.raw, htmlOptions(t))
			outs = append(outs, out)
			if res.Malformed != "" {
				t.Fatalf("malformed: %s", res.Malformed)
			}
			if tt.want == "" {
				if len(res.Banned) != 0 {
					t.Fatalf("%+v, want nothing", res.Banned)
				}
				return
			}
			if len(res.Banned) != 1 || res.Banned[0].Clean != (tt.want == "clean") || !strings.HasPrefix(res.Banned[0].Reason, tt.reason) {
				t.Fatalf("%+v\nwant %s, %q", res.Banned, tt.want, tt.reason)
			}
			if tt.want == "clean" {
				checkCleaned(t, tt.raw, out, tt.leaf)
				_, body := SplitMessage(out)
				if _, raw := SplitMessage(tt.raw); bytes.Contains(raw, []byte("\r")) != bytes.Contains(body, []byte("\r")) {
					t.Errorf("line ends changed:\n%q", body)
				}
				return
			}
			after := goLeaves(t, out)
			if len(after) != 3 || string(after[0].Raw) != "hello" || string(after[2].Raw) != "bye" || !strings.Contains(after[1].Header, WarningName) {
				t.Errorf("replaced:\n%s", out)
			}
			h, body := SplitMessage(out)
			if again := Scan(h, bytes.NewReader(body), int64(len(body)), htmlOptions(t)); len(again.Banned) > 0 || again.Malformed != "" {
				t.Errorf("scanned again: %+v, malformed %q", again.Banned, again.Malformed)
			}
		})
	}
	checkPython(t, outs...)
}

// defangCount defangs body to nowhere and counts the bytes.
func defangCount(body []byte, parts []Part) (int64, error) {
	var c countWriter
	err := Defang(&c, bytes.NewReader(body), int64(len(body)), parts, "x")
	return int64(c), err
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
