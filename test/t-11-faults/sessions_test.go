package faults

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtaclient"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"github.com/maxwell-milter/maxwell/policy"
)

// sessionsConfig holds negotiated sessions open for 30s, long enough for
// a test to count them; %s is more [milter] keys.
const sessionsConfig = `
[milter]
socket = "inet:{port}@127.0.0.1"
timeout = "30s"
internal_domains = ["example.org"]
%s

[greylist]
enabled = false
`

// What an MTA sends first on a new milter connection: the option
// negotiation, then CONNECT and HELO of a client on 127.0.0.1.
var (
	optneg  = packet('O', "\x00\x00\x00\x06", "\x00\x00\x01\xff", "\x00\x1f\xff\xff")
	connect = packet('C', "pc1.example.org\x00", "4", "\x00\x19", "127.0.0.1\x00")
	helo    = packet('H', "pc1.example.org\x00")
)

// opened is what became of connections a test opened.
type opened struct {
	conns    []net.Conn
	answered int // the daemon answered the negotiation: a session is open
	closed   int // closed by the daemon without an answer: refused
	waiting  int // no answer yet: not accepted, or accepted and not yet read
}

// closeAll closes the test's end of every connection.
func (o opened) closeAll() {
	for _, c := range o.conns {
		c.Close()
	}
}

// openSessions opens n milter connections to the daemon at addr, as an
// MTA does, sends each the commands (the option negotiation if none) and
// waits up to 10s for the daemon's answers. The connections stay open
// until closeAll.
func openSessions(t *testing.T, m *mtatest.Maxwell, addr string, n int, commands ...[]byte) opened {
	t.Helper()
	if len(commands) == 0 {
		commands = [][]byte{optneg}
	}
	var o opened
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			o.closeAll()
			running(t, m)
			t.Fatalf("connection %d: %v", len(o.conns)+1, err)
		}
		o.conns = append(o.conns, c)
		for _, cmd := range commands {
			c.Write(cmd) // a connection the daemon closed at once may refuse it: counted below
		}
	}
	results := make(chan error, n)
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range o.conns {
		go func() {
			c.SetReadDeadline(deadline)
			results <- readReplies(c, len(commands))
		}()
	}
	for range n {
		var ne net.Error
		switch err := <-results; {
		case err == nil:
			o.answered++
		case errors.As(err, &ne) && ne.Timeout():
			o.waiting++
		default: // EOF, reset
			o.closed++
		}
	}
	return o
}

// readReplies reads n milter packets from c.
func readReplies(c net.Conn, n int) error {
	for range n {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return err
		}
		if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(size[:]))); err != nil {
			return err
		}
	}
	return nil
}

// sendNormal runs one normal session and fails the test if it is not
// accepted.
func sendNormal(t *testing.T, addr string) {
	t.Helper()
	if err := normalSession(addr); err != nil {
		t.Fatalf("a normal session: %v", err)
	}
}

// normalSession runs one normal session: nil if it was accepted.
func normalSession(addr string) error {
	r, err := mtaclient.Send("tcp", addr, policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr("127.0.0.1")},
		Helo: "pc1.example.org", Mail: policy.MailInfo{Sender: "carol@example.org"}, Rcpts: []string{"bob@example.org"}}, []byte("Hi\r\n"))
	if err == nil && !r.Accepted() {
		err = fmt.Errorf("answered %v at %s", r.Action, r.Stage)
	}
	return err
}

// servesAgain waits until the daemon serves a normal session: once it
// has read the end of the connections a test closed, their places are
// free.
func servesAgain(t *testing.T, m *mtatest.Maxwell, addr string) {
	t.Helper()
	m.WaitFor(t, "a normal session to be served", func() bool { return normalSession(addr) == nil })
	running(t, m)
}

// running fails the test if maxwell has exited.
func running(t *testing.T, m *mtatest.Maxwell) {
	t.Helper()
	select {
	case <-m.Exited:
		t.Fatalf("maxwell exited (%v):\n%s", m.Err, m.Stderr)
	default:
	}
}

// maxWarnings bounds the lines of one kind of warning a test may see in a
// burst: maxwell lets through a few a minute and then counts them.
const maxWarnings = 12

// Out of file descriptors: with 256 files and max_sessions above what
// they allow, 300 connections make accept() fail (EMFILE). The daemon
// logs it, waits and tries again, as net/http does, instead of exiting;
// once connections close it serves again.
func TestOutOfFileDescriptors(t *testing.T) {
	st := mtatest.StartMilterWithFiles(t, 256, fmt.Sprintf(sessionsConfig, "max_sessions = 1000"))
	addr := fmt.Sprintf("127.0.0.1:%d", st.Port)
	o := openSessions(t, st.Maxwell, addr, 300)
	t.Logf("300 connections under 256 files: %d sessions, %d refused, %d waiting", o.answered, o.closed, o.waiting)
	running(t, st.Maxwell)
	if o.answered >= 256 {
		t.Fatalf("%d sessions open with 256 files: the test did not exhaust them", o.answered)
	}
	errs := st.Maxwell.Stderr.Lines("too many open files")
	if len(errs) == 0 {
		t.Errorf("running out of file descriptors was not logged:\n%s", st.Maxwell.Stderr)
	}
	if len(errs) > maxWarnings {
		t.Errorf("%d lines for one shortage of file descriptors, want at most %d", len(errs), maxWarnings)
	}
	if len(errs) > 0 {
		t.Logf("%d lines; the first: %s", len(errs), errs[0])
	}
	// The sessions open go on meanwhile.
	first := o.conns[0]
	first.Write(connect)
	first.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := readReplies(first, 1); err != nil {
		t.Errorf("a session open while accept fails: no answer to CONNECT: %v", err)
	}
	o.closeAll()
	servesAgain(t, st.Maxwell, addr)
}

// Out of file descriptors, the metrics server's accept fails too, and
// net/http retries it with the same backoff (5 ms doubling to 1 s),
// logging each retry: its lines are rate-limited as the milter
// listener's are (it printed one a second for as long as the shortage
// lasted).
func TestMetricsOutOfFileDescriptors(t *testing.T) {
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", mtatest.FreePort(t))
	st := mtatest.StartMilterWithFiles(t, 256, fmt.Sprintf(sessionsConfig, fmt.Sprintf("max_sessions = 1000\n\n[metrics]\nlisten = %q", metricsAddr)))
	st.Maxwell.WaitListen(t, metricsAddr)
	addr := fmt.Sprintf("127.0.0.1:%d", st.Port)
	o := openSessions(t, st.Maxwell, addr, 300)
	defer o.closeAll()
	scrape, err := net.DialTimeout("tcp", metricsAddr, 5*time.Second) // waits in the backlog
	if err != nil {
		t.Fatal(err)
	}
	defer scrape.Close()
	// 8 s of retries: 13 of them, past what the rate limit lets through.
	for deadline := time.Now().Add(8 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if len(st.Maxwell.Stderr.Lines("http: Accept error")) > maxWarnings {
			break
		}
	}
	running(t, st.Maxwell)
	lines := st.Maxwell.Stderr.Lines("http: Accept error")
	switch {
	case len(lines) == 0:
		t.Fatalf("the metrics server's failing accept was not logged (were the file descriptors exhausted?):\n%s", st.Maxwell.Stderr)
	case len(lines) > maxWarnings:
		t.Errorf("%d lines from the metrics server for one shortage of file descriptors, want at most %d; the last: %s", len(lines), maxWarnings, lines[len(lines)-1])
	}
	t.Logf("%d lines; the first: %s", len(lines), lines[0])
	o.closeAll()
	servesAgain(t, st.Maxwell, addr)
	if m := mtatest.Scrape(t, metricsAddr); len(m) == 0 {
		t.Error("the metrics are not served again")
	}
}

// max_sessions bounds the sessions open at once. A connection beyond it
// is closed at once, before negotiation (the MTA applies its
// milter_default_action), logged without flooding the log, and the
// daemon serves again as soon as sessions end.
func TestMaxSessions(t *testing.T) {
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", mtatest.FreePort(t))
	st := mtatest.StartMilter(t, fmt.Sprintf(sessionsConfig, fmt.Sprintf("max_sessions = 20\n\n[metrics]\nlisten = %q", metricsAddr)))
	st.Maxwell.WaitListen(t, metricsAddr)
	// The harness's probe of the milter port is a session until the
	// daemon reads its end: on a loaded machine, not yet.
	st.Maxwell.WaitFor(t, "no session open", func() bool { return mtatest.Scrape(t, metricsAddr)["maxwell_sessions_open"] == 0 })
	addr := fmt.Sprintf("127.0.0.1:%d", st.Port)
	o := openSessions(t, st.Maxwell, addr, 50)
	defer o.closeAll()
	if o.answered != 20 || o.closed != 30 {
		t.Errorf("50 connections with max_sessions = 20: %d sessions, %d refused, %d waiting; want 20, 30, 0", o.answered, o.closed, o.waiting)
	}
	if n := mtatest.Scrape(t, metricsAddr)["maxwell_sessions_refused_total"]; n != 30 {
		t.Errorf("maxwell_sessions_refused_total = %v, want 30", n)
	}
	refused := st.Maxwell.Stderr.Lines("max_sessions")
	if len(refused) < 2 || len(refused) > maxWarnings { // the start line, then the refusals
		t.Errorf("%d lines about max_sessions for 30 connections refused, want 2 to %d:\n%s", len(refused), maxWarnings, st.Maxwell.Stderr)
	}
	o.closeAll()
	servesAgain(t, st.Maxwell, addr)
}

// By default max_sessions is sized to the open-file limit, as
// docs/configuration.md says ((limit − 64) / 2: 96 for 256 files), and
// under 256 files 300 connections never run the daemon out of file
// descriptors.
func TestMaxSessionsDefault(t *testing.T) {
	st := mtatest.StartMilterWithFiles(t, 256, fmt.Sprintf(sessionsConfig, ""))
	addr := fmt.Sprintf("127.0.0.1:%d", st.Port)
	const limit = (256 - 64) / 2
	if len(st.Maxwell.Stderr.Lines("maxwell started", fmt.Sprintf("max_sessions=%d", limit))) != 1 {
		t.Fatalf("the start line does not give max_sessions=%d:\n%s", limit, st.Maxwell.Stderr)
	}
	o := openSessions(t, st.Maxwell, addr, 300)
	defer o.closeAll()
	t.Logf("300 connections under 256 files, max_sessions %d: %d sessions, %d refused, %d waiting", limit, o.answered, o.closed, o.waiting)
	if o.answered != limit || o.closed != 300-limit {
		t.Errorf("%d sessions and %d refused, want %d and %d", o.answered, o.closed, limit, 300-limit)
	}
	if lines := st.Maxwell.Stderr.Lines("too many open files"); len(lines) > 0 {
		t.Errorf("the daemon ran out of file descriptors: %s", lines[0])
	}
	o.closeAll()
	servesAgain(t, st.Maxwell, addr)
}

// Through Postfix: with max_sessions sessions busy, the next SMTP client
// gets Postfix's milter_default_action (451, retried later: nothing
// lost, nothing unchecked); once one ends, mail goes through again.
func TestMaxSessionsThroughPostfix(t *testing.T) {
	st := mtatest.StartStack(t, fmt.Sprintf(sessionsConfig, "max_sessions = 1"), "example.org")
	busy := openSessions(t, st.Maxwell, fmt.Sprintf("127.0.0.1:%d", st.Port), 1)
	defer busy.closeAll()
	if busy.answered != 1 {
		t.Fatalf("the one session allowed was not opened: %+v", busy)
	}
	r := sendSMTP(t, st.Postfix.Addr)
	t.Logf("max_sessions reached: %s", r)
	if r.Code != 451 {
		t.Errorf("max_sessions reached: %s, want 451", r)
	}
	busy.closeAll() // the daemon frees its place once it reads the end
	st.Maxwell.WaitFor(t, "mail to go through after the busy session ended", func() bool {
		return sendSMTP(t, st.Postfix.Addr).Code == 250
	})
}

// sendSMTP sends one message from 127.0.0.1 through the MTA at addr and
// returns the first reply that is not 2xx/3xx, or the reply to the final
// dot.
func sendSMTP(t *testing.T, addr string) mtatest.Reply {
	t.Helper()
	c, r := mtatest.Connect(t, addr, "")
	if r.Code != 220 {
		return r
	}
	defer c.Cmd("QUIT")
	for _, cmd := range []string{"EHLO pc1.example.org", "MAIL FROM:<carol@example.org>", "RCPT TO:<bob@example.org>"} {
		if r := c.Cmd("%s", cmd); r.Code >= 400 {
			return r
		}
	}
	return c.Data("From: Carol <carol@example.org>\r\nSubject: minutes\r\n\r\nThe minutes.\r\n")
}

// Connections opened and never used are closed after the negotiation
// timeout, each with a warning from the milter library: 300 of them give
// a few lines, not 300.
func TestIdleWarningsLimited(t *testing.T) {
	st := mtatest.StartMilter(t, fmt.Sprintf(sessionsConfig, ""))
	addr := fmt.Sprintf("127.0.0.1:%d", st.Port)
	var conns []net.Conn
	for range 300 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for _, c := range conns { // each is closed by the daemon
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("an idle connection is still open after 10s")
		}
	}
	sendNormal(t, addr)
	warnings := st.Maxwell.Stderr.Lines("level=WARN")
	t.Logf("300 idle connections: %d warning lines", len(warnings))
	if len(warnings) > maxWarnings {
		t.Errorf("%d warning lines for 300 idle connections, want at most %d; the first: %s", len(warnings), maxWarnings, warnings[0])
	}
}

// The memory an idle session costs, on a fresh daemon for each kind: n
// sessions negotiated and waiting for CONNECT, and n after CONNECT and
// HELO waiting for MAIL FROM (as an MTA's, while its SMTP client says
// nothing); both are held until [milter] timeout. Measured over a few
// seconds as the garbage collector settles. docs/reliability.md gives
// these figures.
func TestIdleMemory(t *testing.T) {
	const n = 5000
	for _, kind := range []struct {
		name     string
		commands [][]byte
	}{
		{"negotiated", [][]byte{optneg}},
		{"after CONNECT and HELO", [][]byte{optneg, connect, helo}},
	} {
		t.Run(kind.name, func(t *testing.T) {
			metricsAddr := fmt.Sprintf("127.0.0.1:%d", mtatest.FreePort(t))
			st := mtatest.StartMilter(t, fmt.Sprintf(sessionsConfig, fmt.Sprintf("\n[metrics]\nlisten = %q", metricsAddr)))
			st.Maxwell.WaitListen(t, metricsAddr)
			addr := fmt.Sprintf("127.0.0.1:%d", st.Port)
			sendNormal(t, addr)
			before := mtatest.Scrape(t, metricsAddr)
			o := openSessions(t, st.Maxwell, addr, n, kind.commands...)
			defer o.closeAll()
			if o.answered != n {
				t.Fatalf("%d of %d sessions opened", o.answered, n)
			}
			var worst float64
			for i := range 4 {
				if i > 0 {
					time.Sleep(time.Second)
				}
				after := mtatest.Scrape(t, metricsAddr)
				rss := after["process_resident_memory_bytes"] - before["process_resident_memory_bytes"]
				heap := after["go_memstats_heap_inuse_bytes"] - before["go_memstats_heap_inuse_bytes"]
				stacks := after["go_memstats_stack_inuse_bytes"] - before["go_memstats_stack_inuse_bytes"]
				t.Logf("%d idle sessions %s, after %ds: %v goroutines (%v before), RSS %.1f → %.1f MiB: %.1f KiB each (heap in use %.1f KiB, stack %.1f KiB)",
					n, kind.name, i, after["go_goroutines"], before["go_goroutines"], before["process_resident_memory_bytes"]/(1<<20),
					after["process_resident_memory_bytes"]/(1<<20), rss/n/1024, heap/n/1024, stacks/n/1024)
				worst = max(worst, rss/n)
			}
			if worst > 32<<10 {
				t.Errorf("%.1f KiB of RSS per idle session", worst/1024)
			}
		})
	}
}
