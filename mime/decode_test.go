package mime

import (
	"io"
	"strings"
	"testing"
)

// TestLenientBase64 decodes base64 as Thunderbird does: characters
// outside the alphabet are skipped, and padding ends a quantum, the
// base64 after it decoded on (a message made of base64 pieces each
// padded; Python's email stops at the first padding, a prefix of it).
func TestLenientBase64(t *testing.T) {
	tests := []struct{ in, want string }{
		{"aGVsbG8=", "hello"},
		{"aGVs\r\nbG8=\r\n", "hello"},
		{"aG Vs!bG8", "hello"},
		{"aGVs=bG8=", "hello"},
		{"QQ==QkI=", "ABB"},
		{"QQ=QkI=", "ABB"},
		{"QQ==\r\nQkJC", "ABBB"},
		{"aGVsbG8=\r\n=", "hello"},
		{"Q", ""},
	}
	for _, tt := range tests {
		got, err := io.ReadAll(decoder(strings.NewReader(tt.in), "base64"))
		if err != nil || string(got) != tt.want {
			t.Errorf("%q decodes to %q (%v), want %q", tt.in, got, err, tt.want)
		}
	}
}
