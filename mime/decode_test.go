package mime

import (
	"io"
	"strings"
	"testing"
)

// TestLenientDecoders decodes base64 as Thunderbird does: characters
// outside the alphabet are skipped, and padding ends a quantum, the
// base64 after it decoded on (a message made of base64 pieces each
// padded; Python's email stops at the first padding, a prefix of it);
// and quoted-printable as clients do: a soft line break at the end of a
// line or of the text, anything that is no escape as it is.
func TestLenientDecoders(t *testing.T) {
	tests := []struct{ cte, in, want string }{
		{"base64", "aGVsbG8=", "hello"},
		{"base64", "aGVs\r\nbG8=\r\n", "hello"},
		{"base64", "aG Vs!bG8", "hello"},
		{"base64", "aGVs=bG8=", "hello"},
		{"base64", "QQ==QkI=", "ABB"},
		{"base64", "QQ=QkI=", "ABB"},
		{"base64", "QQ==\r\nQkJC", "ABBB"},
		{"base64", "aGVsbG8=\r\n=", "hello"},
		{"base64", "Q", ""},
		{"quoted-printable", "a=3Db", "a=b"},
		{"quoted-printable", "a=\r\nb=\nc", "abc"},
		{"quoted-printable", "a=", "a"},
		{"quoted-printable", "a=4", "a=4"},
		{"quoted-printable", "a=zz =\tb", "a=zz =\tb"},
		{"quoted-printable", "=C3=BC\r\n", "\u00fc\r\n"},
	}
	for _, tt := range tests {
		got, err := io.ReadAll(decoder(strings.NewReader(tt.in), tt.cte))
		if err != nil || string(got) != tt.want {
			t.Errorf("%q decodes to %q (%v), want %q", tt.in, got, err, tt.want)
		}
	}
}
