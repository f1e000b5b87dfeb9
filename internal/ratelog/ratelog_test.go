package ratelog

import (
	"log/slog"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"github.com/maxwell-milter/maxwell/internal/testclock"
)

// A flood of one warning gives burst lines a period, then one line that
// counts the rest when the period ends; the next period starts afresh.
func TestLog(t *testing.T) {
	clock := testclock.New()
	var buf mtatest.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	var pending []func() // what the log asked to run at the end of the period
	var waits []time.Duration
	l := &Log{kind: "idle connection closed", logger: func() *slog.Logger { return logger },
		burst: 3, period: time.Minute, now: clock.Now,
		after: func(d time.Duration, f func()) { waits, pending = append(waits, d), append(pending, f) }}

	for i := range 1000 {
		l.Warn("idle connection closed", "n", i)
		if i == 500 {
			clock.Advance(20 * time.Second)
		}
	}
	if got := len(buf.Lines("idle connection closed")); got != 3 {
		t.Errorf("%d lines for 1000 warnings within a period, want 3:\n%s", got, &buf)
	}
	if len(pending) != 1 || waits[0] != time.Minute {
		t.Fatalf("count scheduled %d times after %v, want once after the period (1m)", len(pending), waits)
	}
	clock.Advance(40 * time.Second)
	pending[0]()
	counts := buf.Lines(`msg="more warnings of this kind were not logged"`, `warning="idle connection closed"`, "count=997", "within=1m0s")
	if len(counts) != 1 {
		t.Errorf("no line counting the 997 held back:\n%s", &buf)
	}

	buf.Reset()
	l.Warn("idle connection closed", "n", 1000)
	pending[0]() // a second count with nothing held back says nothing
	if lines := buf.Lines(""); len(lines) != 1 || len(buf.Lines("n=1000")) != 1 {
		t.Errorf("the next period, want the warning alone:\n%s", &buf)
	}
}

// A library's log.Logger (net/http's ErrorLog) writes warnings of the
// Log, as rate-limited: one for each line.
func TestStd(t *testing.T) {
	var buf mtatest.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	std := New("from the metrics server", func() *slog.Logger { return logger }).Std()
	for range 100 {
		std.Printf("http: Accept error: %v; retrying in %v", "accept4: too many open files", 5*time.Millisecond)
	}
	lines := buf.Lines(`level=WARN msg="http: Accept error: accept4: too many open files; retrying in 5ms"`)
	if len(lines) != maxLines || len(buf.Lines("")) != maxLines {
		t.Errorf("100 lines written gave %d warnings (%d lines in all), want %d:\n%s", len(lines), len(buf.Lines("")), maxLines, &buf)
	}
}
