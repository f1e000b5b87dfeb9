package spf

import (
	"strings"
	"testing"
)

// FuzzParseAccessMap feeds the access-map parser arbitrary files: an
// error names the file and line, and nothing panics.
func FuzzParseAccessMap(f *testing.F) {
	f.Add("SPF-Fail:example.com\tREJECT\nSPF-Neutral:\tCBV\n# comment\nConnect:192.0.2.1 OK\n")
	f.Add("SPF-Softfail:sender.example DSN\nSPF-None:@example.com REJECT\n")
	f.Add("SPF-Pass:x\n\n\x00\xff")
	f.Fuzz(func(t *testing.T, src string) {
		if _, err := ParseAccessMap("access", strings.NewReader(src)); err != nil && !strings.HasPrefix(err.Error(), "access") {
			t.Errorf("error does not name the file: %v", err)
		}
	})
}
