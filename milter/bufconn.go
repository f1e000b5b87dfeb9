package milter

import (
	"bufio"
	"encoding/binary"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// readBuffer is what one read from the MTA's socket may bring in ahead of
// go-milter. It holds the macro packet and the command an MTA sends
// together, or a run of header packets (maxwell asks for no reply to
// those). A body chunk bigger than it is read straight into go-milter's
// buffer.
const readBuffer = 1024

// readers and writers are the buffers of bufConn. A session takes one
// only while it holds bytes: a reader once the socket has data, until
// go-milter has read it all; a writer from the first byte go-milter
// writes until they are sent. An idle session, waiting for the MTA,
// holds neither.
var (
	readers = sync.Pool{New: func() any { return new([readBuffer]byte) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}
)

// progressCode is the command of a milter progress packet (SMFIR_PROGRESS).
const progressCode = 'p'

// bufConn buffers a milter connection in both directions. go-milter reads
// a packet in two reads (length, then the rest) and writes it in two
// writes, each between two deadline calls; unbuffered, that is a system
// call per read and per write. bufConn reads ahead and sends all the
// packets of one reply (the edits and the verdict at end of message, say)
// in one write, just before go-milter reads again: the MTA waits for the
// reply before it sends more, so nothing may stay buffered once go-milter
// waits. A progress packet goes out at once: it is sent while maxwell is
// still working, to keep the MTA from timing out.
//
// Deadlines are kept and set on the socket only before a socket read or
// write, since go-milter sets and clears one around each packet; the
// socket read or write is then bound by the deadline go-milter set last
// before the bytes concerned. Only the goroutine that reads may set the
// read deadline (as go-milter does): one set from elsewhere does not end a
// read already waiting.
type bufConn struct {
	net.Conn

	raw    syscall.RawConn    // the socket's file descriptor, to wait for data holding no buffer; nil if it has none
	readFD func(uintptr) bool // c.readFromFD, made once (a method value passed on is allocated)
	rbuf   *[readBuffer]byte  // from readers while it holds unread bytes, else nil
	rd     []byte             // the unread bytes in rbuf
	rp     []byte             // readSocket's p
	rn     int                // what the last read on the file descriptor returned
	rerr   error
	rdl    deadline // read deadline as go-milter last set it
	rdlSet deadline // read deadline set on the socket

	wmu    sync.Mutex    // Close may come from another goroutine (go-milter's Server.Close)
	wr     *bufio.Writer // from writers while it holds bytes, else nil
	wdl    deadline      // write deadline as go-milter last set it
	wdlOut deadline      // the deadline in force when the buffered bytes were written
	wdlSet deadline      // write deadline set on the socket
	out    outFrame
}

// newBufConn buffers conn.
func newBufConn(conn net.Conn) *bufConn {
	c := &bufConn{Conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw, c.readFD = raw, c.readFromFD
		}
	}
	return c
}

// Read flushes what go-milter wrote before it, then reads through the
// buffer.
func (c *bufConn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	if len(c.rd) == 0 {
		if len(p) >= readBuffer { // as bufio: nothing to gain from the buffer
			return c.readSocket(p)
		}
		n, err := c.readSocket(nil)
		if n == 0 {
			c.dropReader()
			return 0, err
		}
		c.rd = c.rbuf[:n] // an error with data comes again at the next socket read
	}
	n := copy(p, c.rd)
	c.rd = c.rd[n:]
	if len(c.rd) == 0 {
		c.dropReader()
	}
	return n, nil
}

// dropReader gives the read buffer back.
func (c *bufConn) dropReader() {
	if c.rbuf != nil {
		readers.Put(c.rbuf)
		c.rbuf, c.rd = nil, nil
	}
}

// readSocket makes one socket read, bound by the read deadline go-milter
// set last, into p or, if p is nil, into c.rbuf, taken from readers. On a
// socket with a file descriptor it reads as the net package does (read,
// and on EAGAIN wait for data and read again), but takes the buffer only
// for the read that finds data.
func (c *bufConn) readSocket(p []byte) (int, error) {
	if c.rdl != c.rdlSet {
		if err := c.Conn.SetReadDeadline(c.rdl.time()); err != nil {
			return 0, err
		}
		c.rdlSet = c.rdl
	}
	c.rp = p
	if c.raw == nil {
		return c.Conn.Read(c.into())
	}
	if err := c.raw.Read(c.readFD); err != nil {
		return 0, err // the deadline passed or the connection was closed
	}
	switch {
	case c.rerr != nil:
		return 0, &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", c.rerr)}
	case c.rn == 0:
		return 0, io.EOF
	}
	return c.rn, nil
}

// into is where readSocket reads to.
func (c *bufConn) into() []byte {
	if c.rp != nil {
		return c.rp
	}
	if c.rbuf == nil {
		c.rbuf = readers.Get().(*[readBuffer]byte)
	}
	return c.rbuf[:]
}

// readFromFD is readSocket's read on the file descriptor; false means "wait
// for data and call again".
func (c *bufConn) readFromFD(fd uintptr) bool {
	for {
		c.rn, c.rerr = syscall.Read(int(fd), c.into())
		if c.rerr != syscall.EINTR {
			break
		}
	}
	if c.rerr == syscall.EAGAIN {
		c.dropReader() // nothing to read: wait holding no buffer
		return false
	}
	return true
}

// Write buffers p; it sends what is buffered at once if p completes a
// progress packet.
func (c *bufConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wr == nil {
		c.wr = writers.Get().(*bufio.Writer)
		c.wr.Reset((*socketWriter)(c))
	}
	c.wdlOut = c.wdl
	n, err := c.wr.Write(p)
	if err == nil && c.out.scan(p[:n]) {
		err = c.flushLocked()
	}
	return n, err
}

// Close sends what is buffered (go-milter writes a last reply, on an
// error, then closes) and closes the connection. If another goroutine is
// in Write, Close does not wait for it: that write may be stuck on an MTA
// that reads nothing, which only closing ends, and a reply written while
// the connection is being closed may be lost buffered or not.
func (c *bufConn) Close() error {
	if c.wmu.TryLock() {
		c.flushLocked()
		c.wmu.Unlock()
	}
	return c.Conn.Close()
}

// SetDeadline sets both deadlines, as net.Conn's does.
func (c *bufConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline keeps t for the next socket read.
func (c *bufConn) SetReadDeadline(t time.Time) error {
	c.rdl = deadlineOf(t)
	return nil
}

// SetWriteDeadline keeps t for bytes written after it.
func (c *bufConn) SetWriteDeadline(t time.Time) error {
	c.wmu.Lock()
	c.wdl = deadlineOf(t)
	c.wmu.Unlock()
	return nil
}

func (c *bufConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

// flushLocked sends the buffered bytes and gives the buffer back. After a
// failed write the connection is of no further use: what is left is
// dropped.
func (c *bufConn) flushLocked() error {
	if c.wr == nil {
		return nil
	}
	err := c.wr.Flush()
	c.wr.Reset(nil)
	writers.Put(c.wr)
	c.wr = nil
	return err
}

// socketWriter is the socket side of the write buffer; the caller holds
// wmu.
type socketWriter bufConn

func (w *socketWriter) Write(p []byte) (int, error) {
	if w.wdlOut != w.wdlSet {
		if err := w.Conn.SetWriteDeadline(w.wdlOut.time()); err != nil {
			return 0, err
		}
		w.wdlSet = w.wdlOut
	}
	return w.Conn.Write(p)
}

// A deadline is a time go-milter set, in nanoseconds since the Unix
// epoch, 0 for none: in time.Time the five of a bufConn would make every
// session's 80 bytes bigger. What it drops, the monotonic clock reading,
// matters only if the wall clock is set between go-milter making the
// deadline and the socket taking it (time.Until) at the next read or
// write, a moment later.
type deadline int64

// lastDeadline is the latest time a deadline holds (in the year 2262):
// one set later is taken as that.
var lastDeadline = time.Unix(0, math.MaxInt64)

func deadlineOf(t time.Time) deadline {
	switch {
	case t.IsZero():
		return 0
	case t.After(lastDeadline):
		return math.MaxInt64
	case t.UnixNano() == 0: // the epoch is as past as the nanosecond after it
		return 1
	}
	return deadline(t.UnixNano())
}

func (d deadline) time() time.Time {
	if d == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(d))
}

// outFrame follows the packet boundaries in what go-milter writes, in
// whatever pieces it writes them, to find progress packets.
type outFrame struct {
	hdr  [5]byte // length and command of the current packet
	n    int     // bytes of hdr seen
	left uint32  // bytes of the current packet's data still to come
}

// scan advances over b and reports whether a progress packet ended in it.
func (f *outFrame) scan(b []byte) (progress bool) {
	for len(b) > 0 {
		if f.n < len(f.hdr) {
			k := copy(f.hdr[f.n:], b)
			f.n += k
			b = b[k:]
			if f.n < len(f.hdr) {
				break
			}
			// The length counts the command byte; go-milter never
			// writes 0, which would otherwise wrap around.
			f.left = max(binary.BigEndian.Uint32(f.hdr[:4]), 1) - 1
		} else {
			k := min(uint32(len(b)), f.left)
			f.left -= k
			b = b[k:]
		}
		if f.left == 0 {
			progress = progress || f.hdr[4] == progressCode
			f.n = 0
		}
	}
	return progress
}
