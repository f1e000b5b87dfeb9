package maillog

import (
	"bytes"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/testclock"
)

// What Log writes, ParseLine reads back, whatever the values hold.
func TestParseWhatLogWrites(t *testing.T) {
	var b bytes.Buffer
	l := New(&b)
	now := testclock.At(time.Second)
	l.now = func() time.Time { return now }
	l.Log(7, "decision", "tag", "REJECT", "reason", "Subject: \"hi\"\r\nX-Evil: 1", "code", 550)
	got, ok := ParseLine(b.String(), now.Year())
	if !ok || got.Conn != "7" || got.Event != "decision" || got.Fields["tag"] != "REJECT" ||
		got.Fields["reason"] != "Subject: \"hi\"\r\nX-Evil: 1" || got.Fields["code"] != "550" || !got.Time.Equal(l.now()) {
		t.Errorf("ParseLine(%q) = %+v, %v", b.String(), got, ok)
	}
	// A syslog stamp has no year: the caller says which.
	sys, ok := ParseLine(now.Format(time.Stamp)+` mx maxwell[42]: conn=9 event="mail from" from=a@b.example`, now.Year())
	if !ok || sys.Event != "mail from" || sys.Fields["from"] != "a@b.example" || !sys.Time.Equal(now) {
		t.Errorf("syslog line: %+v, %v", sys, ok)
	}
	for _, bad := range []string{"", "random text", `conn=1 event="unterminated`, "conn=1 noequals"} {
		if _, ok := ParseLine(bad, now.Year()); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
