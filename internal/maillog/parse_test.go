package maillog

import (
	"bytes"
	"testing"
	"time"
)

// What Log writes, ParseLine reads back, whatever the values hold.
func TestParseWhatLogWrites(t *testing.T) {
	var b bytes.Buffer
	l := New(&b)
	l.now = func() time.Time { return time.Date(2026, 11, 23, 10, 0, 1, 0, time.UTC) }
	l.Log(7, "decision", "tag", "REJECT", "reason", "Subject: \"hi\"\r\nX-Evil: 1", "code", 550)
	got, ok := ParseLine(b.String(), 2026)
	if !ok || got.Conn != "7" || got.Event != "decision" || got.Fields["tag"] != "REJECT" ||
		got.Fields["reason"] != "Subject: \"hi\"\r\nX-Evil: 1" || got.Fields["code"] != "550" || !got.Time.Equal(l.now()) {
		t.Errorf("ParseLine(%q) = %+v, %v", b.String(), got, ok)
	}
	sys, ok := ParseLine(`Nov 23 10:00:01 mx maxwell[42]: conn=9 event="mail from" from=a@b.example`, 2026)
	if !ok || sys.Event != "mail from" || sys.Fields["from"] != "a@b.example" || sys.Time.Year() != 2026 || sys.Time.Month() != time.November {
		t.Errorf("syslog line: %+v, %v", sys, ok)
	}
	for _, bad := range []string{"", "random text", `conn=1 event="unterminated`, "conn=1 noequals"} {
		if _, ok := ParseLine(bad, 2026); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
