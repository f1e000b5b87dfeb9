// Package testclock is the one place tests get a fixed date from. A test
// runs on one clock: either the real one throughout, or a Clock from here
// throughout, never a date of its own on one side and time.Now on the
// other. Epoch is 2026-11-23T10:00:00Z unless MAXWELL_TEST_DATE moves it
// (RFC 3339 or YYYY-MM-DD), which is how the suite shows it does not
// depend on the calendar: make test-dates runs the date-bound packages
// with the epoch years ahead.
package testclock

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// EnvVar names the environment variable that moves Epoch.
const EnvVar = "MAXWELL_TEST_DATE"

// defaultEpoch is the date the tests were written on.
var defaultEpoch = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

var epoch = sync.OnceValue(func() time.Time { return parseEpoch(os.Getenv(EnvVar)) })

// parseEpoch reads the value of MAXWELL_TEST_DATE; a value it cannot
// read stops the tests rather than run them on another date.
func parseEpoch(v string) time.Time {
	if v == "" {
		return defaultEpoch
	}
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC()
		}
	}
	panic(fmt.Sprintf("%s=%q: want RFC 3339 (2031-02-27T10:00:00Z) or a date (2031-02-27)", EnvVar, v))
}

// Epoch is the instant the tests' fixed dates count from, in UTC.
func Epoch() time.Time { return epoch() }

// At is the instant d after Epoch.
func At(d time.Duration) time.Time { return Epoch().Add(d) }

// Day is midnight, in loc, days days after Epoch's date there, plus
// clock: for tests of formats that carry local times (syslog stamps).
func Day(days int, clock time.Duration, loc *time.Location) time.Time {
	e := Epoch().In(loc)
	return time.Date(e.Year(), e.Month(), e.Day()+days, 0, 0, 0, 0, loc).Add(clock)
}

// Clock is a test's time: it moves only when told. It is safe for
// concurrent use, as an engine's sessions may read it from several
// goroutines.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New is a Clock at Epoch.
func New() *Clock { return &Clock{t: Epoch()} }

// Now is the clock's time; pass c.Now where a func() time.Time is wanted.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock d forward (back, if d < 0).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Poll calls cond every interval until it holds or timeout has passed on
// the real clock, and says whether it held: for waiting on real events (a
// store coming back, a server starting) in tests whose dates are a
// Clock's. Timing is not what it asserts.
func Poll(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
	return true
}
