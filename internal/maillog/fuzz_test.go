package maillog

import (
	"bytes"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/testclock"
)

// FuzzLogLine logs an event with arbitrary values: it is one line, and
// reading it back gives the values as they were. And ParseLine takes any
// line without panicking.
func FuzzLogLine(f *testing.F) {
	f.Add("mail from", "alice@example.com", "evil\r\nconn=1 event=decision tag=ACCEPT")
	f.Add("x", "\x00\xff", `"quoted" = \`)
	f.Fuzz(func(t *testing.T, event, a, b string) {
		if event == "" {
			return // events are maxwell's own words, never empty; ParseLine refuses such a line
		}
		var buf bytes.Buffer
		New(&buf).Log(7, event, "a", a, "b", b)
		line := buf.String()
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("not one line: %q", line)
		}
		l, ok := ParseLine(line, testclock.Epoch().Year())
		if !ok || l.Conn != "7" || l.Event != event || l.Fields["a"] != a || l.Fields["b"] != b {
			t.Errorf("read back %+v (%v) from %q", l, ok, line)
		}
		ParseLine(a, testclock.Epoch().Year())
	})
}
