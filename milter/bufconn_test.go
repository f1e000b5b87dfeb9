package milter

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/internal/mtaclient"
	"github.com/maxwell-milter/maxwell/internal/testclock"
	"github.com/maxwell-milter/maxwell/policy"
)

// socketLog stands for a socket: it records the calls that reach it, one
// letter each (r read, w write, d read deadline, e write deadline), and
// what was written.
type socketLog struct {
	net.Conn // nil: the tests call nothing else
	mu       sync.Mutex
	calls    []byte
	writes   [][]byte
	in       []byte // what reads return
}

func (s *socketLog) note(c byte) { s.mu.Lock(); s.calls = append(s.calls, c); s.mu.Unlock() }

func (s *socketLog) Read(p []byte) (int, error) {
	s.note('r')
	n := copy(p, s.in)
	s.in = s.in[n:]
	return n, nil
}

func (s *socketLog) Write(p []byte) (int, error) {
	s.note('w')
	s.mu.Lock()
	s.writes = append(s.writes, append([]byte(nil), p...))
	s.mu.Unlock()
	return len(p), nil
}

func (s *socketLog) SetReadDeadline(time.Time) error  { s.note('d'); return nil }
func (s *socketLog) SetWriteDeadline(time.Time) error { s.note('e'); return nil }
func (s *socketLog) Close() error                     { s.note('c'); return nil }

func (s *socketLog) String() string { s.mu.Lock(); defer s.mu.Unlock(); return string(s.calls) }

// The packets of one reply go out in one write, when go-milter reads
// again; reads come from the buffer while it holds data, without a
// deadline call.
func TestBufConnBatches(t *testing.T) {
	sock := &socketLog{in: append(pkt('D', "Cj\x00mx\x00"), pkt('H', "pc.example.org\x00")...)}
	c := &bufConn{Conn: sock}
	deadline := testclock.At(time.Minute) // a value to pass along, never reached: the socket is fake
	for _, p := range [][]byte{pkt('h', "X-A\x00a\x00"), pkt('h', "X-B\x00b\x00"), pkt('a', "")} {
		c.SetWriteDeadline(deadline)
		c.Write(p[:5]) // as go-milter: length and command, then the data
		c.Write(p[5:])
		c.SetWriteDeadline(time.Time{})
	}
	if got := sock.String(); got != "" {
		t.Fatalf("socket calls before the next read = %q, want none", got)
	}
	for range 4 { // two packets, each as length, then the rest
		c.SetReadDeadline(deadline)
		var b [4]byte
		if _, err := c.Read(b[:]); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Time{})
	}
	if got, want := sock.String(), "ewdr"; got != want {
		t.Errorf("socket calls = %q, want %q", got, want)
	}
	if want := string(pkt('h', "X-A\x00a\x00")) + string(pkt('h', "X-B\x00b\x00")) + string(pkt('a', "")); len(sock.writes) != 1 || string(sock.writes[0]) != want {
		t.Errorf("written %q, want %q in one write", sock.writes, want)
	}
}

// A progress packet goes out at once, however it is split, with what was
// buffered before it; a reply written before Close goes out before the
// close.
func TestBufConnProgressAndClose(t *testing.T) {
	sock := &socketLog{}
	c := &bufConn{Conn: sock}
	c.Write(pkt('h', "X-A\x00p\x00")) // a 'p' in data is not a progress packet
	progress := pkt('p', "")
	c.Write(progress[:2])
	c.Write(progress[2:])
	if got, want := sock.String(), "w"; got != want {
		t.Fatalf("socket calls after progress = %q, want %q", got, want)
	}
	c.Write(pkt('r', ""))
	c.Close()
	if got, want := sock.String(), "wwc"; got != want {
		t.Errorf("socket calls after close = %q, want %q", got, want)
	}
	if got, want := bytes.Join(sock.writes, nil), append(append(pkt('h', "X-A\x00p\x00"), progress...), pkt('r', "")...); !bytes.Equal(got, want) {
		t.Errorf("written %q, want %q", got, want)
	}
}

// countingListener hands out connections that log the calls reaching
// the socket.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*countingConn
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

// countingConn is a real socket whose calls are logged as socketLog's.
type countingConn struct {
	net.Conn
	log socketLog
}

func (c *countingConn) Read(p []byte) (int, error)  { c.log.note('r'); return c.Conn.Read(p) }
func (c *countingConn) Write(p []byte) (int, error) { c.log.note('w'); return c.Conn.Write(p) }
func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.log.note('d')
	return c.Conn.SetReadDeadline(t)
}
func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.log.note('e')
	return c.Conn.SetWriteDeadline(t)
}
func (c *countingConn) Close() error { c.log.note('c'); return c.Conn.Close() }

// SyscallConn passes on the socket's file descriptor, as a real socket
// does, logging each read bufConn makes on it.
func (c *countingConn) SyscallConn() (syscall.RawConn, error) {
	raw, err := c.Conn.(syscall.Conn).SyscallConn()
	return &hookedRaw{RawConn: raw, read: func() { c.log.note('r') }}, err
}

// hookedRaw calls read before each read on the file descriptor and wait
// when the read found nothing and the caller waits for data.
type hookedRaw struct {
	syscall.RawConn
	read, wait func()
}

func (r *hookedRaw) Read(f func(uintptr) bool) error {
	return r.RawConn.Read(func(fd uintptr) bool {
		if r.read != nil {
			r.read()
		}
		done := f(fd)
		if !done && r.wait != nil {
			r.wait()
		}
		return done
	})
}

// A session waiting for the MTA holds no read buffer: it takes one for
// the read that finds data and gives it back once go-milter has read
// every byte of it.
func TestBufConnWaitsWithoutBuffer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	mta, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer mta.Close()
	sock, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := newBufConn(sock)
	defer c.Close()
	var held []bool // whether a buffer was held at each wait
	waiting := make(chan struct{})
	c.raw = &hookedRaw{RawConn: c.raw, wait: func() {
		held = append(held, c.rbuf != nil)
		if len(held) == 1 {
			close(waiting)
		}
	}}
	packets := append(pkt('C', "pc\x004\x00\x19192.0.2.7\x00"), pkt('H', "pc.example.org\x00")...)
	go func() {
		<-waiting
		mta.Write(packets)
	}()
	var got []byte
	for len(got) < len(packets) {
		var b [4]byte // as go-milter: the length, then the rest in pieces
		n, err := c.Read(b[:])
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b[:n]...)
		if buffered := len(got) < len(packets); (c.rbuf != nil) != buffered {
			t.Fatalf("after %d of %d bytes: buffer held %v, want %v", len(got), len(packets), c.rbuf != nil, buffered)
		}
	}
	if !bytes.Equal(got, packets) {
		t.Errorf("read %q, want %q", got, packets)
	}
	if len(held) == 0 || slices.Contains(held, true) {
		t.Errorf("buffer held at the waits: %v, want false at each (and one wait at least)", held)
	}
}

// A message through the real server: every reply is one socket write,
// made before the next socket read, and a deadline is set only right
// before the read or write it bounds. (How many reads there are depends
// on how the MTA's packets arrive, so that is not counted.)
func TestOneWritePerReply(t *testing.T) {
	env := enginetest.New(t, "[milter]\ninternal_connect = [\"0.0.0.0/0\"]\n[dns]\ntimeout = \"1s\"\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	srv := NewServer(env.Engine, slog.New(slog.NewTextHandler(io.Discard, nil)), 10*time.Second)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(cl) }()
	defer func() { srv.Shutdown(t.Context()); <-done }()

	tx := policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr("192.0.2.7")}, Helo: "pc.example.org",
		Mail: policy.MailInfo{Sender: "alice@example.org"}, Rcpts: []string{"bob@example.org"}, Headers: headers}
	if r, err := mtaclient.Send("tcp", ln.Addr().String(), tx, []byte("Hello.\r\n")); err != nil || !r.Accepted() {
		t.Fatal(r.Action, err)
	}
	cl.mu.Lock()
	conns := cl.conns
	cl.mu.Unlock()
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1", len(conns))
	}
	// The session may still be closing.
	testclock.Poll(5*time.Second, time.Millisecond, func() bool { return strings.HasSuffix(conns[0].log.String(), "c") })
	calls := conns[0].log.String()
	t.Logf("socket calls: %s", calls)
	for _, bad := range []string{"ww", "dd", "ee", "dw", "de", "ed", "er"} {
		if strings.Contains(calls, bad) {
			t.Errorf("socket calls %q contain %q", calls, bad)
		}
	}
	if n := strings.Count(calls, "w"); n < 8 {
		t.Errorf("%d writes, want one per reply (at least 8)", n)
	}
}

// A deadline keeps what go-milter set: none, an instant (to the
// nanosecond), or, past what nanoseconds since 1970 hold, the latest it
// can; a deadline at the epoch is still one, in the past.
func TestDeadline(t *testing.T) {
	now := testclock.Epoch()
	for _, tc := range []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"none", time.Time{}, time.Time{}},
		{"now", now, now},
		{"past", now.Add(-time.Hour), now.Add(-time.Hour)},
		{"the epoch", time.Unix(0, 0), time.Unix(0, 1)},
		{"the year 3000", now.AddDate(1000, 0, 0), lastDeadline},
	} {
		if got := deadlineOf(tc.in).time(); !got.Equal(tc.want) || got.IsZero() != tc.want.IsZero() {
			t.Errorf("%s: %v → %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}
