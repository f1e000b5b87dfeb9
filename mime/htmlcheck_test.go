package mime

import (
	"bytes"
	"encoding/base64"
	"mime/quotedprintable"
	"strings"
	"testing"
	"unicode/utf16"

	xhtml "golang.org/x/net/html"
	"golang.org/x/text/encoding/japanese"
)

// htmlBypasses are documents where FilterHTML's reading of the bytes and
// a browser's part (a CDATA section or a raw text element where HTML
// reads neither, <style> inside SVG and MathML, an attribute removed
// between two without space), or that hide in their charset. Whatever
// the filter makes of them, the delivered part must run nothing.
var htmlBypasses = []string{
	`<![CDATA[><img src=x alt="]]>" onerror=alert(1)>`,
	`<![CDATA[><a title="]]><!--"><script>alert(1)</script>-->`,
	`<title><style></title><img src=x alt="</style>" onerror=alert(1)>`,
	`<textarea><xmp></textarea><a title="</xmp><!--"><script>alert(1)</script>-->`,
	`<svg><style/></svg><img src=x alt="</style>" onerror=alert(1)>`,
	`<svg><style><a title="</style><!--"><script>alert(1)</script>-->`,
	`<svg><style><image href=x alt="</style>" onerror=alert(1)/></svg>`,
	`<math><style><a title="</style><!--"><img src=x onerror=alert(1)>-->`,
	`<svg><title><!--</title><g x='--><x onload=alert(1)>`,
	`<img src=x alt="javascript:"title=" onerror=alert(1) x=">`,
	`<p x="javascript:"y="><script>alert(1)</script>">`,
	`<a onclick="x"title="><script>alert(1)</script>">`,
	`<a href="javascript:x"title="><img src=x onerror=alert(1)>">click</a>`,
	`<script>x</script><div onmouseover=""class="<svg onload=alert(1)>">`,
	`<a x onclick=y =="><script>alert(1)</script>">`,
	`<a download href=javascript:x =="><script>alert(1)</script>">`,
	`<svg><![CDATA[><img src=x onerror=alert(1)>]]>`,
	`<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>`,
	`<svg><set attributeName=href to="javascript:alert(1)"/></svg>`,
	`<noscript><p title="</noscript><img src=x onerror=alert(1)>">`,
	`<a href="&#x6A&#x61vascript:alert(1)">x</a>`,
	`<a href="` + strings.Repeat("\t", 9000) + `javascript:alert(1)">x</a>`,
	strings.Repeat("x", 16384-1) + `<img src=x onerror=alert(1)>`,
	`<![CDATA[` + strings.Repeat("x", 16380) + `><img src=x alt="]]>" onerror=alert(1)>`,
}

func TestCleanHTMLBypasses(t *testing.T) {
	type doc struct {
		name, ctype, cte, body string
		decode                 func([]byte) []byte // the charset, as a browser decodes it
	}
	var docs []doc
	for i, h := range htmlBypasses {
		var qp bytes.Buffer
		w := quotedprintable.NewWriter(&qp)
		w.Write([]byte(h))
		w.Close()
		docs = append(docs,
			doc{name: "7bit", ctype: "text/html", body: h},
			doc{name: "quoted-printable", ctype: "text/html", cte: "quoted-printable", body: qp.String()},
			doc{name: "base64", ctype: "text/html", cte: "base64", body: base64.StdEncoding.EncodeToString([]byte(h))})
		for j := len(docs) - 3; j < len(docs); j++ {
			docs[j].name = htmlBypasses[i][:min(len(h), 40)] + ", " + docs[j].name
		}
	}
	utf16LE := func(s string) string {
		b := []byte{0xff, 0xfe}
		for _, c := range utf16.Encode([]rune(s)) {
			b = append(b, byte(c), byte(c>>8))
		}
		return string(b)
	}
	fromUTF16 := func(b []byte) []byte {
		var u []uint16
		for i := 2; i+1 < len(b); i += 2 {
			u = append(u, uint16(b[i])|uint16(b[i+1])<<8)
		}
		return []byte(string(utf16.Decode(u)))
	}
	fromJIS := func(b []byte) []byte {
		out, _ := japanese.ISO2022JP.NewDecoder().Bytes(b)
		return out
	}
	jis := "<img src=x a\x1b$B=\"\x1b(B onerror=alert(1) b=\"\">"
	docs = append(docs,
		doc{"UTF-16 with a byte order mark", "text/html; charset=utf-16", "base64", base64.StdEncoding.EncodeToString([]byte(utf16LE(`<script>alert(1)</script>`))), fromUTF16},
		doc{"ISO-2022-JP by its Content-Type", "text/html; charset=iso-2022-jp", "7bit", jis, fromJIS},
		doc{"ISO-2022-JP by a meta", "text/html", "7bit", "<meta charset=iso-2022-jp>" + jis, fromJIS})

	for _, d := range docs {
		head := "From: a@example.org\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=BB\n\n--BB\nContent-Type: text/plain\n\nhi\n--BB\nContent-Type: " + d.ctype + "\n"
		if d.cte != "" {
			head += "Content-Transfer-Encoding: " + d.cte + "\n"
		}
		raw := append(append(crlf(head+"\n"), d.body...), crlf("\n--BB--\n")...)
		res, out := defangMessage(t, raw, htmlOptions(t))
		for _, l := range goLeaves(t, out) {
			if l.Type != "text/html" {
				continue
			}
			text := l.Decoded
			if d.decode != nil { // the part kept its bytes, and its charset
				text = d.decode(text)
			}
			if what := browserSees(t, text); what != "" {
				t.Errorf("%q: the delivered part still has %s (%+v):\n%q", d.name, what, res.Banned, l.Decoded)
			}
		}
	}
}

// browserSees parses doc as a browser does and names the first thing in
// it that may run, "" if nothing: written apart from the code it checks.
func browserSees(t *testing.T, doc []byte) string {
	root, err := xhtml.Parse(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *xhtml.Node) string
	walk = func(n *xhtml.Node) string {
		if n.Type == xhtml.ElementNode {
			switch n.Data {
			case "script", "iframe", "object", "embed", "applet", "frame", "frameset":
				return "<" + n.Data + ">"
			}
			for _, a := range n.Attr {
				v := strings.ToLower(strings.Map(func(r rune) rune {
					if r == '\t' || r == '\n' || r == '\r' {
						return -1
					}
					return r
				}, strings.TrimLeft(a.Val, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f \t\n\r")))
				if strings.HasPrefix(strings.ToLower(a.Key), "on") || strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "vbscript:") {
					return a.Key + "=" + a.Val
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if what := walk(c); what != "" {
				return what
			}
		}
		return ""
	}
	return walk(root)
}
