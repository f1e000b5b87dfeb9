package milter

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/maxwell-milter/maxwell/internal/netaccept"
	"github.com/maxwell-milter/maxwell/internal/ratelog"
)

// File descriptors the default session limit leaves for everything that
// is not a session (store, logs, listeners, DNS), the descriptors it
// counts per session (its milter connection and, at times, a spool file,
// a DNS query or a call-back connection), and its ceiling.
const (
	reservedFiles      = 64
	filesPerSession    = 2
	defaultSessionsCap = 10000
)

// DefaultMaxSessions is the session limit when [milter] max_sessions is
// 0: FileBudget, at most defaultSessionsCap (which bounds the memory
// idle sessions take).
func DefaultMaxSessions() int { return min(defaultSessionsCap, FileBudget()) }

// FileBudget is the number of sessions the open-file limit allows, at
// filesPerSession each beyond reservedFiles; past it, accept() and the
// sessions may run out of file descriptors.
func FileBudget() int { return budgetFor(openFileLimit()) }

func budgetFor(files int) int { return max(1, (files-reservedFiles)/filesPerSession) }

// openFileLimit is the process's open-file limit (the Go runtime raises
// the soft limit to the hard one at start).
func openFileLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 1 << 30
	}
	return int(lim.Cur)
}

// sessionListener is the listener go-milter serves: it keeps at most max
// sessions open, closing a connection beyond them at once (the MTA then
// applies its milter_default_action, as when maxwell is down), waits out
// temporary accept errors instead of returning them (go-milter's Serve
// ends at the first error, and running out of file descriptors is
// temporary), and wraps each connection in a guardConn over a bufConn.
type sessionListener struct {
	net.Listener
	max      int64
	open     atomic.Int64
	observe  func() // called for each connection refused; may be nil
	refused  *ratelog.Log
	failures *ratelog.Log
	done     chan struct{} // closed by Close: a wait between retries ends
	closing  sync.Once
}

// The listener's warnings.
const (
	refusedWarning = "connection refused: max_sessions sessions are open"
	acceptWarning  = "cannot accept a connection; trying again"
)

func newSessionListener(ln net.Listener, maxSessions int, refused func(), diag *slog.Logger) *sessionListener {
	logger := func() *slog.Logger { return diag }
	return &sessionListener{
		Listener: ln,
		max:      int64(maxSessions),
		observe:  refused,
		refused:  ratelog.New(refusedWarning, logger),
		failures: ratelog.New(acceptWarning, logger),
		done:     make(chan struct{}),
	}
}

// Accept returns the next connection to serve.
func (l *sessionListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			if !netaccept.Temporary(err) {
				return nil, err
			}
			delay = netaccept.Backoff(delay)
			l.failures.Warn(acceptWarning, "error", err, "retry_in", delay.String())
			select {
			case <-time.After(delay):
			case <-l.done:
				return nil, net.ErrClosed
			}
			continue
		}
		delay = 0
		if l.max > 0 && l.open.Add(1) > l.max {
			l.open.Add(-1)
			if l.observe != nil {
				l.observe()
			}
			l.refused.Warn(refusedWarning, "max_sessions", l.max, "remote", conn.RemoteAddr())
			conn.Close() // once counted and logged: the peer sees it after
			continue
		}
		return &sessionConn{Conn: &guardConn{Conn: newBufConn(conn)}, l: l}, nil
	}
}

// Close stops Accept, also while it waits to try again.
func (l *sessionListener) Close() error {
	l.closing.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// sessionConn gives its place back to the listener when it is closed.
type sessionConn struct {
	net.Conn
	l      *sessionListener
	closed atomic.Bool
}

func (c *sessionConn) Close() error {
	if c.closed.CompareAndSwap(false, true) && c.l.max > 0 {
		c.l.open.Add(-1)
	}
	return c.Conn.Close()
}
