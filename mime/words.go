package mime

import (
	"io"
	"strings"
	"unicode/utf16"

	"github.com/emersion/go-message/charset"
)

// wordValues returns the values clients may read s as once its RFC 2047
// encoded words are decoded (many clients decode them in quoted
// parameter values, which RFC 2047 forbids): word by word, and with
// adjacent base64 words of one charset joined before they are decoded,
// as a client does that decodes a word split inside a base64 quantum
// (=?utf-8?B?ZXZpbC5le?= =?utf-8?B?GU=?=). Decoding is lenient: a
// language tag (=?utf-8*en?Q?…?=) is dropped, and a charset maxwell does
// not know is read as its bytes. nil if s holds no encoded word.
func wordValues(s string) []string {
	pieces := splitWords(s)
	if pieces == nil {
		return nil
	}
	return addValue([]string{joinWords(pieces, false)}, joinWords(pieces, true))
}

// wordPiece is an encoded word, or the text between two.
type wordPiece struct {
	text    string // the text; "" for a word
	charset string // the word's charset, language tag dropped
	base64  bool   // the word is in base64 (B), else quoted-printable (Q)
	payload string
}

// splitWords splits s into encoded words and the text between them; nil
// if it holds no word.
func splitWords(s string) []wordPiece {
	var pieces []wordPiece
	words := false
	for s != "" {
		i := strings.Index(s, "=?")
		if i < 0 {
			pieces = append(pieces, wordPiece{text: s})
			break
		}
		w, n, ok := parseWord(s[i:])
		if !ok {
			pieces = append(pieces, wordPiece{text: s[:i+2]})
			s = s[i+2:]
			continue
		}
		if i > 0 {
			pieces = append(pieces, wordPiece{text: s[:i]})
		}
		pieces, words = append(pieces, w), true
		s = s[i+n:]
	}
	if !words {
		return nil
	}
	return pieces
}

// parseWord reads the encoded word =?charset?B?payload?= that s starts
// with, and returns it and its length.
func parseWord(s string) (w wordPiece, n int, ok bool) {
	rest := s[2:]
	q := strings.IndexByte(rest, '?')
	if q <= 0 || len(rest) < q+3 || rest[q+2] != '?' {
		return w, 0, false
	}
	enc := rest[q+1] | 0x20 // lower case
	end := strings.Index(rest[q+3:], "?=")
	if (enc != 'b' && enc != 'q') || end < 0 || strings.ContainsAny(rest[:q+3+end], " \t") {
		return w, 0, false
	}
	cs, _, _ := strings.Cut(rest[:q], "*") // RFC 2231 language tag
	return wordPiece{charset: cs, base64: enc == 'b', payload: rest[q+3 : q+3+end]}, 2 + q + 3 + end + 2, true
}

// joinWords writes pieces decoded, whitespace between two words dropped;
// with joinBase64, adjacent base64 words of one charset are decoded as
// one.
func joinWords(pieces []wordPiece, joinBase64 bool) string {
	isWord := func(i int) bool { return i < len(pieces) && pieces[i].text == "" }
	// next is the index of the word that follows word i with nothing but
	// whitespace between, -1 if none does.
	next := func(i int) int {
		switch {
		case isWord(i + 1):
			return i + 1
		case i+1 < len(pieces) && strings.Trim(pieces[i+1].text, " \t") == "" && isWord(i+2):
			return i + 2
		}
		return -1
	}
	var b strings.Builder
	for i := 0; i < len(pieces); i++ {
		p := pieces[i]
		if !isWord(i) {
			if i == 0 || !isWord(i-1) || next(i-1) != i+1 {
				b.WriteString(p.text)
			}
			continue
		}
		payload := p.payload
		for j := next(i); joinBase64 && p.base64 && j > 0 && pieces[j].base64 && strings.EqualFold(pieces[j].charset, p.charset); j = next(i) {
			payload += pieces[j].payload
			i = j
		}
		b.WriteString(decodeWord(p.charset, p.base64, payload))
	}
	return b.String()
}

// decodeWord decodes the payload of an encoded word.
func decodeWord(cs string, base64 bool, payload string) string {
	var raw []byte
	if base64 {
		var d b64Decoder
		raw = d.end(d.feed(nil, []byte(payload)))
	} else {
		for i := 0; i < len(payload); i++ {
			switch c := payload[i]; {
			case c == '_':
				raw = append(raw, ' ')
			case c == '=' && i+2 < len(payload) && unhex(payload[i+1]) >= 0 && unhex(payload[i+2]) >= 0:
				raw = append(raw, byte(unhex(payload[i+1])<<4|unhex(payload[i+2])))
				i += 2
			default:
				raw = append(raw, c)
			}
		}
	}
	return toUTF8(cs, string(raw))
}

// toUTF8 converts s from charset cs (RFC 2231, RFC 2047), leaving it as
// it is when the charset is unknown: the extension is ASCII either way.
// UTF-7, which the charset tables lack, is decoded too: clients read it.
func toUTF8(cs, s string) string {
	switch l := strings.ToLower(cs); {
	case l == "" || l == "utf-8" || l == "us-ascii":
		return s
	case strings.Contains(l, "utf-7") || strings.Contains(l, "utf7"):
		return utf7(s)
	}
	r, err := charset.Reader(cs, strings.NewReader(s))
	if err != nil {
		return s
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return s
	}
	return string(b)
}

// utf7 decodes UTF-7 (RFC 2152): "+" starts UTF-16 in base64, ended by
// "-" (dropped) or any other character outside base64; "+-" is "+".
// Other bytes pass as they are.
func utf7(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '+' {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i + 1
		for j < len(s) && b64alphabet[s[j]] {
			j++
		}
		if j == i+1 {
			b.WriteByte('+')
		} else {
			var d b64Decoder
			raw := d.end(d.feed(nil, []byte(s[i+1:j])))
			units := make([]uint16, len(raw)/2)
			for k := range units {
				units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
			}
			b.WriteString(string(utf16.Decode(units)))
		}
		if j < len(s) && s[j] == '-' {
			j++
		}
		i = j
	}
	return b.String()
}
