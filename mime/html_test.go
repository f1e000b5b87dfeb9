package mime

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

const scriptWarning = "<!-- WARNING: embedded script removed -->"

// pymilter's testHTML: what comes before the script is copied as it is
// (an illegal declaration, a conditional section, a comment), the
// script is one warning comment.
const pymilterHTML = `<! Illegal declaration used as comment>
      <![if conditional]> Optional SGML <![endif]>
      <!-- Legal SGML comment -->
    `

func TestFilterHTML(t *testing.T) {
	long := strings.Repeat("x", 3*maxHold)
	tests := []struct {
		name, in, want string
		removed        string // HTMLStats.String()
	}{
		{"pymilter's testHTML", pymilterHTML + "<script lang=javascript> Dangerous script </script>", pymilterHTML + scriptWarning, "script 1"},
		{"nothing active", `<!DOCTYPE html><html><head><title>t</title><style><!-- p { color: red } --></style></head>` +
			`<body bgcolor="#FFFFFF" text=black><a href="https://example.org/?a=1&amp;b=2" title='on'>on click</a>` +
			`<img src=x.png alt="javascript is fun"><p>&lt;script&gt; &amp; a < b, c<1, <\n</body></html>`, "", ""},
		{"uppercase", `a<SCRIPT LANGUAGE="JavaScript">x()</SCRIPT>b`, "a" + scriptWarning + "b", "script 1"},
		{"mixed case end tag", `a<ScRiPt>x()</sCrIpT >b`, "a" + scriptWarning + "b", "script 1"},
		{"nested scripts counted", `a<script>document.write("<script>y()</script>")</script>b`, "a" + scriptWarning + "b", "script 1"},
		{"two scripts", `<script>1</script>a<script src="x.js"></script>`, scriptWarning + "a" + scriptWarning, "script 2"},
		{"unterminated script: dropped to the end", "a<script>var x = 1;\r\n<p>more</p>", "a" + scriptWarning, "script 1"},
		{"unterminated script tag", `a<script src="x.js`, "a" + scriptWarning, "script 1"},
		{"script in a comment stays", `a<!-- <script>x()</script> -->b`, "", ""},
		{"script after a comment ended by --!>", `<!-- x --!><script>x()</script>`, "<!-- x --!>" + scriptWarning, "script 1"},
		{"script after an abrupt empty comment", `<!--><script>x()</script>-->`, "<!-->" + scriptWarning + "-->", "script 1"},
		{"script after <!--->", `<!---><script>x()</script>-->`, "<!--->" + scriptWarning + "-->", "script 1"},
		{"script in a downlevel-revealed conditional", `<![if !IE]><script>x()</script><![endif]>`, "<![if !IE]>" + scriptWarning + "<![endif]>", "script 1"},
		{"the end tag's quoted attribute", `<script>x()</script a=">">b`, scriptWarning + "b", "script 1"},
		{"self-closing script: the tag only", `<svg><script href="x.js"/><circle r="1"/></svg>`, "<svg>" + scriptWarning + `<circle r="1"/></svg>`, "script 1"},
		{"script tag whose name is cut", `<scriptx>a</scriptx>`, "", ""},
		{"on* attributes go, others stay byte for byte",
			`<body bgcolor="#FFFFFF" link="#003399"  onLoad="document.searchform.elements[1].focus()" text=#000000>`,
			`<body bgcolor="#FFFFFF" link="#003399" text=#000000>`, "on* attribute 1"},
		{"on* attribute unquoted, last", `<img src=x onerror=alert(1)>`, `<img src=x>`, "on* attribute 1"},
		{"on* attribute without value", `<div onclick>x</div>`, `<div>x</div>`, "on* attribute 1"},
		{"on* attribute with spaces around =", `<div onclick = "x()" id=a>`, `<div id=a>`, "on* attribute 1"},
		{"on* attribute after a slash", `<svg/onload=alert(1)>`, `<svg>`, "on* attribute 1"},
		{"on* attribute after a quoted value without space", `<a href="x"onclick="y()">`, `<a href="x">`, "on* attribute 1"},
		{"on* attribute in single quotes holding >", `<a onmouseover='a>b' href=x>`, `<a href=x>`, "on* attribute 1"},
		{"two on* attributes", `<a ONCLICK="x" OnMouseOver=y>t</a>`, `<a>t</a>`, "on* attribute 2"},
		{"attributes named on and o stay", `<x on o=1 one>`, `<x on o=1>`, "on* attribute 1"},
		{"javascript: href", `<a href="javascript:launch('/demo',788,444)">demo</a>`, `<a>demo</a>`, "script URL 1"},
		{"javascript: href unquoted", `<a href=javascript:launch() title=t>demo</a>`, `<a title=t>demo</a>`, "script URL 1"},
		{"javascript: with entities, case and whitespace", `<a href=" &#x20;JaVa&#x09;Script&colon;x()">d</a>`, `<a>d</a>`, "script URL 1"},
		{"javascript: with a decimal reference", `<a href="&#106;avascript:x()">d</a>`, `<a>d</a>`, "script URL 1"},
		{"vbscript: in any attribute", `<form action='vbscript:x'><svg><animate values="javascript:x()"/></svg>`, `<form><svg><animate/></svg>`, "script URL 2"},
		{"a javascript: word that is no URL stays", `<a href="/javascript:x">d</a><p title="about javascript: x">`, "", ""},
		{"a long value is judged on its start", `<a title="` + long + `" href="` + strings.Repeat(" ", 2*maxHold) + `javascript:x()">`,
			`<a title="` + long + `">`, "script URL 1"},
		{"a long harmless value stays", `<a href="https://example.org/` + long + `" onclick=x>`, `<a href="https://example.org/` + long + `">`, "on* attribute 1"},
		{"iframe with content", `a<iframe src="https://evil.example/"><p>no frames</p></iframe>b`, "a<!-- WARNING: embedded iframe removed -->b", "iframe 1"},
		{"object and embed: tags go, fallback stays", `<object data="x.swf"><param name=movie value=x.swf><embed src="x.swf">Flash</object>`,
			`<!-- WARNING: embedded object removed --><param name=movie value=x.swf><!-- WARNING: embedded embed removed -->Flash</object>`, "object 1, embed 1"},
		{"applet, frameset and frame", `<frameset cols="*"><frame src=a.html></frameset><applet code=A.class>x</applet>`,
			`<!-- WARNING: embedded frameset removed --><!-- WARNING: embedded frame removed --></frameset><!-- WARNING: embedded applet removed -->x</applet>`, "applet 1, frame 1, frameset 1"},
		{"style text that would hide a script in a comment", `<style><!--</style><script>x()</script>-->`,
			"<style><!--</style>" + scriptWarning + "-->", "script 1"},
		{"textarea text that would hide a handler in a value", `<textarea><a title="</textarea><img src=x onerror=y()>">`,
			`<textarea><a title="</textarea><img src=x>">`, "on* attribute 1"},
		{"svg style: markup there", `<svg><style><script>x()</script></style></svg>`, "<svg><style>" + scriptWarning + "</style></svg>", "script 1"},
		{"a script cut short by the end of a style", `<style><script>x()</style><p>`, "<style>" + scriptWarning + "</style><p>", "script 1"},
		{"cdata: markup after it", `<svg><![CDATA[ > <!-- ]]> <script>x()</script> -->`, "<svg><![CDATA[ > <!-- ]]> " + scriptWarning + " -->", "script 1"},
		{"unterminated comment", `a<!-- <script>x()</script>`, "", ""},
		{"unterminated tag", `a<img src=x onerror="y()`, `a<img src=x`, "on* attribute 1"},
		{"< as text", `a <<script>x</script> 1<2 </ x> </>`, "a <" + scriptWarning + " 1<2 </ x> </>", "script 1"},
		{"processing instruction", `<?xml version="1.0"?><svg onload="x()"/>`, `<?xml version="1.0"?><svg/>`, "on* attribute 1"},
		{"end tag attributes stay", `</p onclick=x>`, "", ""},
		{"a tag with a long name", `<` + strings.Repeat("a", 20) + ` onclick=x>`, `<` + strings.Repeat("a", 20) + `>`, "on* attribute 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == "" && tt.removed == "" {
				want = tt.in
			}
			var out bytes.Buffer
			st, err := FilterHTML(&out, strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != want {
				t.Errorf("got\n%q\nwant\n%q", out.String(), want)
			}
			if st.String() != tt.removed {
				t.Errorf("removed %q, want %q", st.String(), tt.removed)
			}
			// One byte at a time: no look-ahead beyond what is read.
			var slow bytes.Buffer
			if _, err := FilterHTML(&slow, iotest.OneByteReader(strings.NewReader(tt.in))); err != nil || slow.String() != want {
				t.Errorf("read a byte at a time: %v\n%q", err, slow.String())
			}
			// What is kept holds nothing more to remove.
			var again bytes.Buffer
			if st, _ := FilterHTML(&again, strings.NewReader(want)); st.Removed() != 0 || again.String() != want {
				t.Errorf("filtered again: removed %s\n%q", st, again.String())
			}
		})
	}
}

// A document of any size goes through holding a few kilobytes: a huge
// tag, a huge script.
func TestFilterHTMLLarge(t *testing.T) {
	in := "<a title=\"" + strings.Repeat("y", 4<<20) + "\" onclick=x>" + "<script>" + strings.Repeat("z", 4<<20) + "</script>end"
	var out bytes.Buffer
	st, err := FilterHTML(&out, strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := "<a title=\"" + strings.Repeat("y", 4<<20) + "\">" + scriptWarning + "end"
	if out.String() != want || st.String() != "script 1, on* attribute 1" {
		t.Errorf("%s; output %d bytes, want %d", st, out.Len(), len(want))
	}
}

// FuzzFilterHTML: whatever the document, the filter does not fail, keeps
// a document without active content as it is, and what it keeps has
// nothing more to remove.
func FuzzFilterHTML(f *testing.F) {
	for _, s := range []string{pymilterHTML + "<script>x</script>", `<a href="javascript:x" onclick=y>`, `<style><!--</style><script>`,
		`<svg><![CDATA[ > <!-- ]]><iframe>`, `<object><embed src=x></object>`, `<!--> <x onload=y> -->`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		st, err := FilterHTML(&out, bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if st.Removed() == 0 && !bytes.Equal(out.Bytes(), in) {
			t.Fatalf("nothing removed, but the document changed:\n%q\n%q", in, out.Bytes())
		}
		var again bytes.Buffer
		if st, _ := FilterHTML(&again, bytes.NewReader(out.Bytes())); st.Removed() != 0 {
			t.Fatalf("filtered again, %s removed:\n%q\n%q\n%q", st, in, out.Bytes(), again.Bytes())
		}
	})
}
