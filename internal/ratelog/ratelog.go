// Package ratelog logs warnings an outsider can cause as often as they
// like (once per connection, or once per retry while a shortage lasts)
// a few times a minute: the rest are counted, and the count logged when
// the minute is over.
package ratelog

import (
	"bytes"
	"log"
	"log/slog"
	"sync"
	"time"
)

// How many lines of one kind of warning are logged, and per how long.
const (
	maxLines  = 10
	perPeriod = time.Minute
)

// Log logs one kind of warning at most burst times per period and holds
// the rest back. When a period in which some were held back ends, it
// logs how many: the log shows that they happened, and how often,
// without a line for each.
type Log struct {
	kind   string              // what the warnings are, for the line that counts them
	logger func() *slog.Logger // where they go, looked up at each line
	burst  int
	period time.Duration
	now    func() time.Time
	after  func(time.Duration, func()) // runs f after d: time.AfterFunc

	mu     sync.Mutex
	start  time.Time // of the current period
	logged int       // lines logged in the current period
	held   int       // warnings held back and not yet counted in the log
}

// New returns a Log of 10 lines a minute, on the real clock, for
// the kind of warning named; logger says where the lines go (looked up
// at each line, so that it may be slog.Default).
func New(kind string, logger func() *slog.Logger) *Log {
	return &Log{kind: kind, logger: logger, burst: maxLines, period: perPeriod,
		now: time.Now, after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
}

// Warn logs msg with args at warning level, unless the period's lines
// are spent.
func (l *Log) Warn(msg string, args ...any) {
	l.mu.Lock()
	now := l.now()
	if now.Sub(l.start) >= l.period {
		l.start, l.logged = now, 0
	}
	if l.logged < l.burst {
		l.logged++
		l.mu.Unlock()
		l.logger().Warn(msg, args...)
		return
	}
	l.held++
	if l.held == 1 { // the first held back: count them at the end of the period
		l.after(l.start.Add(l.period).Sub(now), l.flush)
	}
	l.mu.Unlock()
}

// flush logs how many warnings were held back since the last count.
func (l *Log) flush() {
	l.mu.Lock()
	n := l.held
	l.held = 0
	l.mu.Unlock()
	if n > 0 {
		l.logger().Warn("more warnings of this kind were not logged", "warning", l.kind, "count", n, "within", l.period.String())
	}
}

// Std returns a log.Logger each line of which is a warning of l: for a
// library that logs through one, as net/http's Server.ErrorLog.
func (l *Log) Std() *log.Logger { return log.New(lineWriter{l}, "", 0) }

// lineWriter turns what a log.Logger writes, one line per Write, into
// warnings.
type lineWriter struct{ l *Log }

func (w lineWriter) Write(p []byte) (int, error) {
	w.l.Warn(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
