package report

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// FuzzRead sums up arbitrary logs: nothing panics, and the text, JSON
// and HTML outputs are written.
func FuzzRead(f *testing.F) {
	f.Add("2026-11-23T10:00:01Z conn=1 event=connect ip=198.51.100.7 class=EXTERNAL\n" +
		"2026-11-23T10:00:02Z conn=1 event=decision tag=REJECT reason=\"SPF fail: -all\" code=550\n")
	f.Add("Nov 23 10:00:01 host maxwell[42]: conn=2 event=greylist client=a sender=b rcpt=c step=pass delay=300\ngarbage\n")
	f.Fuzz(func(t *testing.T, log string) {
		rep, err := Read(strings.NewReader(log), 2026, 5)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		for _, write := range []func(io.Writer) error{rep.WriteText, rep.WriteJSON, rep.WriteHTML} {
			if err := write(&out); err != nil {
				t.Fatal(err)
			}
		}
	})
}
