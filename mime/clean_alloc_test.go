//go:build !race

// The race detector drops sync.Pool items at random, so what a scan
// allocates is not measured in race builds: make test runs this file in a
// plain one.

package mime

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// An HTML part up to maxHTMLCheck is checked whole and rewritten in
// constant memory; a huge one is replaced whole, without being held.
func TestCleanHTMLHuge(t *testing.T) {
	const line = "<p class=x>some text of a page, and more text &amp; more.</p>\n"
	for _, tc := range []struct {
		lines int
		clean bool // else replaced whole
	}{
		{maxHTMLCheck/len(line) - 10, true},
		{1 << 19, false}, // 32 MiB
	} {
		html := "<html><body>\n" + strings.Repeat(line, tc.lines) + "<script>x()</script></body></html>\n"
		raw := crlf("From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n" +
			b64(html) + "\n--b--\n")
		h, body := SplitMessage(raw)
		var before, scanned, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		res := Scan(h, bytes.NewReader(body), int64(len(body)), htmlOptions(t))
		runtime.ReadMemStats(&scanned)
		n, err := defangCount(body, res.Banned)
		runtime.ReadMemStats(&after)
		if err != nil || len(res.Banned) != 1 || res.Banned[0].Clean != tc.clean {
			t.Fatalf("%d lines: %+v %v", tc.lines, res.Banned, err)
		}
		// The check holds the part, decoded, and its tree: a few times
		// maxHTMLCheck at most, whatever the part's size.
		if alloc := scanned.TotalAlloc - before.TotalAlloc; alloc > 16*maxHTMLCheck {
			t.Errorf("scanning a part of %d MiB allocated %.1f MiB", len(body)>>20, float64(alloc)/(1<<20))
		}
		if alloc := after.TotalAlloc - scanned.TotalAlloc; alloc > 2<<20 {
			t.Errorf("rewriting a part of %d MiB allocated %.1f MiB", len(body)>>20, float64(alloc)/(1<<20))
		}
		if tc.clean && (n < int64(len(html)) || n > int64(len(body))*2) {
			t.Errorf("%d bytes written for a body of %d", n, len(body))
		}
	}
}
