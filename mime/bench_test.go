package mime

import (
	"bufio"
	"bytes"
	"os"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/mailgen"
)

// BenchmarkScan scans a 10 MB message with three attachments (one a zip
// of many entries, listed). The baseline is one pass over the same body
// that only splits it into lines: the least any scan must do.
//
//	go test -run '^$' -bench Scan ./mime
func BenchmarkScan(b *testing.B) {
	h, body := SplitMessage(mailgen.Multipart(10<<20, 1))
	o := testOptions(b)
	b.Run("baseline=lines", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			sc := bufio.NewScanner(bytes.NewReader(body))
			sc.Buffer(make([]byte, 64<<10), 64<<10)
			for sc.Scan() {
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if res := Scan(h, bytes.NewReader(body), int64(len(body)), o); res.Parts != 5 || len(res.Banned) != 0 || res.Malformed != "" {
				b.Fatalf("scan found %+v", res)
			}
		}
	})
}

// BenchmarkScanHTML scans pymilter's amazon message (two HTML parts, one
// with a script) without and with [defang] scan_html: the filter, and
// the browser's parse that checks what it leaves, against the scan alone.
//
//	go test -run '^$' -bench ScanHTML ./mime
func BenchmarkScanHTML(b *testing.B) {
	raw, err := os.ReadFile("testdata/html-amazon.eml")
	if err != nil {
		b.Fatal(err)
	}
	h, body := SplitMessage(raw)
	for _, c := range []struct {
		name  string
		o     *Options
		clean int
	}{{"baseline=scan", testOptions(b), 0}, {"scan_html", htmlOptions(b), 1}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if res := Scan(h, bytes.NewReader(body), int64(len(body)), c.o); len(res.Banned) != c.clean {
					b.Fatalf("scan found %+v", res)
				}
			}
		})
	}
}
