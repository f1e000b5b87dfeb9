package maillog

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/testclock"
)

func TestLineFormat(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf)
	now := testclock.At(time.Second)
	l.now = func() time.Time { return now }
	l.Log(71207, "connect", "ip", "80.134.52.146", "class", "EXTERNAL DYN", "n", 3, "ok", true, "list", []string{"a", "b"})
	want := now.Format("2006-01-02T15:04:05Z") + ` conn=71207 event=connect ip=80.134.52.146 class="EXTERNAL DYN" n=3 ok=true list=a,b` + "\n"
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
}

// Nothing a client sends can split a line or forge a field.
func TestValuesCannotSplitLines(t *testing.T) {
	tests := map[string]string{
		"":                              `""`,
		"plain":                         `plain`,
		"two words":                     `"two words"`,
		"evil\r\nconn=1 event=decision": `"evil\r\nconn=1 event=decision"`,
		`quote"inside`:                  `"quote\"inside"`,
		"k=v":                           `"k=v"`,
		"tab\there":                     `"tab\there"`,
		"nul\x00":                       `"nul\x00"`,
		"bad utf8 \xff":                 `"bad utf8 \xff"`,
		"Grüße":                         `Grüße`,
		"line\u2028separator":           `"line\u2028separator"`,
		`back\slash`:                    `"back\\slash"`,
	}
	for in, want := range tests {
		if got := string(AppendValue(nil, in)); got != want {
			t.Errorf("AppendValue(%q) = %s, want %s", in, got, want)
		}
	}
	var buf bytes.Buffer
	New(&buf).Log(1, "hello", "helo", "x\r\n2026-01-01T00:00:00Z conn=2 event=decision")
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Errorf("one event wrote %d lines: %q", n, buf.String())
	}
}

func TestFileReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mail.log")
	l, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Log(1, "connect")
	if err := os.Rename(path, path+".1"); err != nil { // logrotate
		t.Fatal(err)
	}
	l.Log(1, "hello")
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Log(1, "close")
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if strings.Count(string(old), "\n") != 2 || !strings.Contains(string(cur), "event=close") || strings.Contains(string(cur), "event=hello") {
		t.Errorf("rotated file %q, new file %q", old, cur)
	}
}
