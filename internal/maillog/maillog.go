// Package maillog writes maxwell's mail log: one logfmt line per event,
// always with the connection id, for people and for log tailers
// (`maxwell report`, `maxwell watch`). Values are quoted and escaped so that
// nothing a client sends can split a line or forge another.
package maillog

import (
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/maxwell-milter/maxwell/internal/safefile"
)

// Logger writes mail-log lines to stderr, a file or syslog. It is safe for
// concurrent use.
//
// A Logger from Open with a flush interval buffers lines (not for syslog):
// they wait, whole, in memory until 64 KiB wait or the first of them is
// the interval old, then go out in one write. Close and Reopen write what
// waits first. A crash (SIGKILL, a panic nothing recovers, power) loses
// what waits: the lines of at most the last interval, and never more than
// 64 KiB.
type Logger struct {
	mu     sync.Mutex
	w      io.Writer
	path   string         // set when writing to a file, for Reopen
	file   *os.File       // the open file, if any
	syslog *syslog.Writer // set when writing to syslog
	now    func() time.Time
	// observe, when set, sees every event too: metrics are counted from
	// the same events the log records, so the two never disagree.
	observe func(event string, kv []any)

	// interval > 0 buffers: buf holds whole lines not yet written, the
	// first of them logged at first; timer writes them when that one comes
	// of age and no later line has. After Close, lines go out at once.
	interval time.Duration
	buf      []byte
	first    time.Time
	timer    *time.Timer
	closed   bool
}

// flushSize is the most a buffering Logger keeps before it writes: one
// write every 64 KiB under load, about 50 messages' lines.
const flushSize = 64 << 10

// Observe makes f see every event logged from now on, with its key/value
// pairs as given to Log. Call it before the Logger is used.
func (l *Logger) Observe(f func(event string, kv []any)) { l.observe = f }

// Path is the file the log is written to, "" when it goes to stderr,
// stdout or syslog.
func (l *Logger) Path() string { return l.path }

// New returns a Logger writing to w.
func New(w io.Writer) *Logger { return &Logger{w: w, now: time.Now} }

// Open returns a Logger for a destination as configured: "stderr",
// "stdout", "syslog" (with the given facility) or a file path, appended to.
// Lines to a file, stderr or stdout are buffered for at most flush (0:
// each written at once); syslog gets each line as it is logged, one
// message a line.
func Open(dest string, facility syslog.Priority, flush time.Duration) (*Logger, error) {
	var l *Logger
	switch dest {
	case "", "stderr":
		l = New(os.Stderr)
	case "stdout":
		l = New(os.Stdout)
	case "syslog":
		sw, err := openSyslog(facility)
		if err != nil {
			return nil, fmt.Errorf("mail log: %w", err)
		}
		return &Logger{w: sw, syslog: sw, now: time.Now}, nil
	default:
		f, err := openFile(dest)
		if err != nil {
			return nil, err
		}
		l = &Logger{w: f, file: f, path: dest, now: time.Now}
	}
	l.interval = flush
	return l, nil
}

// IsFile reports whether a destination is a file path.
func IsFile(dest string) bool {
	switch dest {
	case "", "stderr", "stdout", "syslog":
		return false
	}
	return true
}

// Check tells, without creating anything, whether Open could open a
// destination: a file's directory is there and no link is planted where
// the file goes (see openFile); syslog answers (connected to, then
// closed: nothing is logged). stderr and stdout pass.
func Check(dest string) error {
	switch {
	case dest == "syslog":
		sw, err := openSyslog(syslog.LOG_MAIL) // the facility does not matter to reach it
		if err != nil {
			return err
		}
		return sw.Close()
	case IsFile(dest):
		return safefile.CheckAppend(dest)
	}
	return nil
}

// openSyslog connects to the local syslog daemon, as log/syslog does:
// /dev/log (or /var/run/syslog, /var/run/log), a datagram socket, else a
// stream one.
func openSyslog(facility syslog.Priority) (*syslog.Writer, error) {
	sw, err := syslog.New(facility|syslog.LOG_INFO, "maxwell")
	if err != nil {
		// log/syslog says only "Unix syslog delivery error".
		return nil, errors.New("cannot reach syslog: nothing answers on /dev/log; start a syslog daemon (rsyslog, systemd-journald), or log to a file")
	}
	return sw, nil
}

// openFile opens the log file for appending (mode 0640 if new): never
// through a symbolic link, which anyone who can write to the directory
// could plant to have maxwell append to another file.
func openFile(path string) (*os.File, error) {
	f, err := safefile.Append(path, 0o640)
	if err != nil {
		return nil, fmt.Errorf("mail log: %w", err)
	}
	return f, nil
}

// Reopen reopens a log file (after logrotate moved it), the lines logged
// until then written to the old one. For other destinations it writes
// what waits. On error the old file stays in use.
func (l *Logger) Reopen() error {
	if l.path == "" {
		l.mu.Lock()
		l.flushLocked()
		l.mu.Unlock()
		return nil
	}
	f, err := openFile(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.flushLocked()
	old := l.file
	l.file, l.w = f, f
	l.mu.Unlock()
	return old.Close()
}

// Close writes what waits and closes a file or syslog destination. A
// line logged later is written at once (to stderr or stdout; to a closed
// file or syslog, it is lost).
func (l *Logger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	l.closed = true
	switch {
	case l.file != nil:
		return l.file.Close()
	case l.syslog != nil:
		return l.syslog.Close()
	}
	return nil
}

// Log writes one line: the time (not for syslog, which stamps its own),
// conn=ID, event=EVENT, then the key/value pairs of kv in order. Keys are
// strings and plain words; values may be anything and are escaped.
func (l *Logger) Log(conn uint64, event string, kv ...any) {
	if l.observe != nil {
		l.observeCopy(event, kv)
	}
	bp := lines.Get().(*[]byte)
	b := (*bp)[:0]
	var now time.Time // syslog stamps its own, and syslog does not buffer
	if l.syslog == nil {
		now = l.now()
		b = now.UTC().AppendFormat(b, time.RFC3339)
		b = append(b, ' ')
	}
	b = append(b, "conn="...)
	b = strconv.AppendUint(b, conn, 10)
	b = append(b, " event="...)
	b = AppendValue(b, event)
	for i := 0; i+1 < len(kv); i += 2 {
		b = append(b, ' ')
		key, _ := kv[i].(string)
		b = append(b, key...)
		b = append(b, '=')
		b = AppendValue(b, format(kv[i+1]))
	}
	b = append(b, '\n')
	l.mu.Lock()
	l.writeLocked(b, now)
	l.mu.Unlock()
	if cap(b) <= 4096 {
		*bp = b
		lines.Put(bp)
	}
}

// observeCopy hands the observer a pooled copy of kv: handed kv itself,
// which it might keep for all the compiler knows, every caller's
// key/value slice would be allocated on the heap.
func (l *Logger) observeCopy(event string, kv []any) {
	op := observed.Get().(*[]any)
	*op = append((*op)[:0], kv...)
	l.observe(event, *op)
	clear(*op)
	observed.Put(op)
}

// writeLocked writes line b, logged at now, or keeps it in buf: an
// io.Writer does not keep b, and buf takes a copy. A line is written
// whole, in one write with those before it, so a tailer never reads half
// of one. Each line checks the age of the first as well as the timer, so
// lines stay within the interval on a machine too busy to run the timer.
func (l *Logger) writeLocked(b []byte, now time.Time) {
	if l.interval <= 0 || l.closed {
		_, _ = l.w.Write(b)
		return
	}
	if len(l.buf) == 0 {
		l.first = now
		l.arm(l.interval)
	}
	l.buf = append(l.buf, b...)
	if len(l.buf) >= flushSize || now.Sub(l.first) >= l.interval {
		l.flushLocked()
	}
}

// arm has the timer call flushDue after d.
func (l *Logger) arm(d time.Duration) {
	if l.timer == nil {
		l.timer = time.AfterFunc(d, l.flushDue)
		return
	}
	l.timer.Reset(d)
}

// flushDue writes buf once its first line is the interval old. The timer
// may find a younger first line, one logged after buf was written for
// its size while the timer was already on its way: it waits the rest.
func (l *Logger) flushDue() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) == 0 || l.closed {
		return
	}
	if age := l.now().Sub(l.first); age < l.interval {
		l.arm(l.interval - age)
		return
	}
	l.flushLocked()
}

// flushLocked writes the lines that wait, in one write. On a write error
// they are dropped, as an unbuffered line would be: keeping them would
// grow without bound while the disk is full.
func (l *Logger) flushLocked() {
	if len(l.buf) == 0 {
		return
	}
	_, _ = l.w.Write(l.buf)
	l.buf = l.buf[:0]
	if cap(l.buf) > 4*flushSize { // after a huge line: give it back
		l.buf = nil
	}
	l.timer.Stop()
}

// lines holds the buffers of lines written, for the next: a message
// writes about nine.
var lines = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// observed holds the copies of key/value pairs handed to an observer.
var observed = sync.Pool{New: func() any { kv := make([]any, 0, 16); return &kv }}

func format(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case bool:
		return strconv.FormatBool(v)
	case []string:
		return strings.Join(v, ",")
	case fmt.Stringer:
		return v.String()
	case error:
		return v.Error()
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// AppendValue appends s as a logfmt value: bare when it is a plain word,
// otherwise double-quoted with Go escapes, so CR, LF, quotes and invalid
// UTF-8 can never end the line or the value early.
func AppendValue(b []byte, s string) []byte {
	if needsQuote(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
