package milter

import (
	"log/slog"
	"sync"
	"time"
)

// Warnings a peer can cause once per connection (a connection left idle,
// refused past max_sessions, malformed) or that repeat while a shortage
// lasts (accept failing) are logged a few times a minute; the rest are
// counted and the count logged when the minute is over.
const (
	warningBurst  = 10
	warningPeriod = time.Minute
)

// limitedLog logs one kind of warning at most burst times per period and
// holds the rest back. When a period in which some were held back ends,
// it logs how many: the log shows that they happened, and how often,
// without a line for each.
type limitedLog struct {
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

// newLimitedLog returns a limitedLog of warningBurst lines per
// warningPeriod, on the real clock.
func newLimitedLog(kind string, logger func() *slog.Logger) *limitedLog {
	return &limitedLog{kind: kind, logger: logger, burst: warningBurst, period: warningPeriod,
		now: time.Now, after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
}

// Warn logs msg with args at warning level, unless the period's lines
// are spent.
func (l *limitedLog) Warn(msg string, args ...any) {
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
func (l *limitedLog) flush() {
	l.mu.Lock()
	n := l.held
	l.held = 0
	l.mu.Unlock()
	if n > 0 {
		l.logger().Warn("more warnings of this kind were not logged", "warning", l.kind, "count", n, "within", l.period.String())
	}
}
