package maillog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// Log rotation: the lines logged before Reopen are in the moved file,
// the later ones in the new file; Close writes what waits. Buffered or
// not: with an hour's interval, only Reopen and Close write the lines.
func TestFileReopen(t *testing.T) {
	for _, flush := range []time.Duration{0, time.Hour} {
		t.Run(flush.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mail.log")
			l, err := Open(path, 0, flush)
			if err != nil {
				t.Fatal(err)
			}
			l.now = testclock.New().Now
			l.Log(1, "connect")
			if err := os.Rename(path, path+".1"); err != nil { // logrotate
				t.Fatal(err)
			}
			l.Log(1, "hello")
			if err := l.Reopen(); err != nil {
				t.Fatal(err)
			}
			l.Log(1, "close")
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			old, _ := os.ReadFile(path + ".1")
			cur, _ := os.ReadFile(path)
			if !strings.Contains(string(old), "event=connect") || !strings.Contains(string(old), "event=hello") ||
				strings.Count(string(old), "\n") != 2 || string(cur) != testclock.Epoch().Format(time.RFC3339)+" conn=1 event=close\n" {
				t.Errorf("rotated file %q, new file %q", old, cur)
			}
		})
	}
}

// A buffered line reaches the file once it is the flush interval old: by
// the timer when no other line follows, or with the next line logged.
// Before that, it waits. The lines' age is on the test's clock; the
// timer's wake-up is real, and waited for. Where the next line is to
// write them, the interval is an hour, so that no real timer can flush
// first (it did, now and then, when the test's clock said the lines
// were due and the third line then waited on a clock that stood still).
func TestFlushAfterInterval(t *testing.T) {
	for _, tc := range []struct {
		name     string
		next     bool // a second line is logged after the interval
		interval time.Duration
	}{
		{"timer", false, 20 * time.Millisecond},
		{"next line", true, time.Hour},
	} {
		interval := tc.interval
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mail.log")
			l, err := Open(path, 0, interval)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			clock := testclock.New()
			l.now = clock.Now
			read := func() string { b, _ := os.ReadFile(path); return string(b) }

			l.Log(1, "connect")
			clock.Advance(interval - 1)
			if tc.next {
				l.Log(1, "hello")
			}
			// Not due on the test's clock: the timer, however often it
			// wakes, leaves the lines waiting.
			if !tc.next {
				l.flushDue()
			}
			if got := read(); got != "" {
				t.Fatalf("written before the interval: %q", got)
			}
			clock.Advance(1)
			want := 1
			if tc.next {
				l.Log(1, "mail from") // the first line is now due: all three go out
				want = 3
			}
			if !testclock.Poll(10*time.Second, time.Millisecond, func() bool { return strings.Count(read(), "\n") == want }) {
				t.Fatalf("after the interval the file holds %q, want %d lines", read(), want)
			}
		})
	}
}

// Lines logged from many goroutines at once come out whole, each once,
// never two run together or one cut: every write holds whole lines only,
// whether lines are written one by one or buffered (written when 64 KiB
// wait, and at Close). Some values are long, a few longer than the buffer.
func TestConcurrentLinesWhole(t *testing.T) {
	const writers, perWriter = 8, 400
	for _, flush := range []time.Duration{0, time.Hour} {
		t.Run(flush.String(), func(t *testing.T) {
			var w wholeLines
			l := New(&w)
			l.now, l.interval = testclock.New().Now, flush
			var wg sync.WaitGroup
			for g := range writers {
				wg.Go(func() {
					for i := range perWriter {
						l.Log(uint64(g), "decision", "i", i, "text", text(i))
					}
				})
			}
			wg.Wait()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if w.err != nil {
				t.Fatal(w.err)
			}
			seen := map[string]bool{}
			for _, line := range strings.SplitAfter(w.all.String(), "\n") {
				if line == "" {
					continue
				}
				p, ok := ParseLine(line, testclock.Epoch().Year())
				key := p.Conn + " " + p.Fields["i"]
				if !ok || p.Fields["text"] != text(atoi(t, p.Fields["i"])) || seen[key] {
					t.Fatalf("a line cut, mixed or twice: %.200q", line)
				}
				seen[key] = true
			}
			if len(seen) != writers*perWriter {
				t.Errorf("%d lines in the file, want %d", len(seen), writers*perWriter)
			}
			if flush > 0 && w.writes >= writers*perWriter/10 {
				t.Errorf("buffered: %d writes for %d lines", w.writes, writers*perWriter)
			}
		})
	}
}

// wholeLines is a writer that keeps what it is given and checks that
// each write ends a line.
type wholeLines struct {
	mu     sync.Mutex
	all    bytes.Buffer
	writes int
	err    error
}

func (w *wholeLines) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	if len(b) == 0 || b[len(b)-1] != '\n' {
		w.err = fmt.Errorf("write %d does not end a line: ...%q", w.writes, b[max(0, len(b)-80):])
	}
	return w.all.Write(b)
}

// text is line i's value: mostly short, one in a hundred longer (quoted)
// than the 64 KiB buffer.
func text(i int) string {
	if i%100 == 0 {
		return strings.Repeat("x\n", 25000)
	}
	return strings.Repeat("x\n", i%60)
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}
