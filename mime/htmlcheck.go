package mime

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"

	xhtml "golang.org/x/net/html"
	"golang.org/x/net/html/charset"
)

// Checking what FilterHTML leaves. FilterHTML reads one stream of bytes
// with one tokenizer; a browser builds a tree (where SVG and MathML read
// a <style> as markup) from text it first decodes from the part's
// charset (a byte order mark, the Content-Type's charset, a <meta>).
// Where the two readings part, something FilterHTML took for text or for
// a value may run. So every HTML part's filtered content is parsed again
// as a browser parses it (golang.org/x/net/html, after the charset a
// browser would pick); if anything active is left, the part cannot be
// cleaned in place and is replaced whole: a check that fails closed.

// maxHTMLCheck bounds the HTML, decoded and filtered, that is parsed
// whole to check it: a larger part cannot be checked in bounded memory
// and is replaced whole when scan_html is on.
const maxHTMLCheck = 1 << 20

// errHTMLTooLarge stops a filter whose output passes maxHTMLCheck.
var errHTMLTooLarge = errors.New("HTML part too large to check")

// checkBuffer is FilterHTML's output, kept up to maxHTMLCheck bytes.
type checkBuffer struct{ bytes.Buffer }

func (b *checkBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxHTMLCheck {
		return 0, errHTMLTooLarge
	}
	return b.Buffer.Write(p)
}

// activeLeft says what active content a browser would find in the HTML
// document doc, sent with Content-Type contentType: "" for none, or what
// the first thing found is ("script element", "on* attribute", "script
// URL").
func activeLeft(doc []byte, contentType string) string {
	enc, _, _ := charset.DetermineEncoding(doc, contentType)
	text, err := io.ReadAll(enc.NewDecoder().Reader(bytes.NewReader(doc)))
	if err != nil {
		return "text not in its charset"
	}
	root, err := xhtml.Parse(bytes.NewReader(text))
	if err != nil {
		return "unreadable HTML"
	}
	return activeIn(root)
}

// activeIn is activeLeft for a parsed tree.
func activeIn(n *xhtml.Node) string {
	if n.Type == xhtml.ElementNode {
		if slices.Contains(htmlElements[:], n.Data) {
			return n.Data + " element"
		}
		for _, a := range n.Attr {
			switch {
			case len(a.Key) > 2 && strings.EqualFold(a.Key[:2], "on"):
				return "on* attribute"
			case scriptScheme(a.Val, true):
				return "script URL"
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if what := activeIn(c); what != "" {
			return what
		}
	}
	return ""
}
