package mtatest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/hdrcheck"
)

// Message is one message a Sink received.
type Message struct {
	From string
	To   []string
	Data string // as received, dot-unstuffed, CRLF line ends
}

// Sink is an SMTP server on 127.0.0.1 that takes every message and hands
// it to the test. Every message it takes has the Received-SPF and
// Authentication-Results fields on top of it (maxwell's) checked by
// internal/hdrcheck: strict RFC 7208 §9.1 grammar, go-msgauth and
// python3-authres. A field that fails fails the test, whether or not the
// test waits for that message.
type Sink struct {
	Addr    string
	ln      net.Listener
	msgs    chan Message
	unknown map[string]bool // recipients refused

	mu       sync.Mutex
	problems []string // header fields that failed hdrcheck, not yet reported
	checked  int      // messages checked
}

// check runs hdrcheck on a message as it arrives.
func (s *Sink) check(m Message) {
	errs := hdrcheck.Message(m.Data)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checked++
	for _, err := range errs {
		s.problems = append(s.problems, fmt.Sprintf("message from <%s>: %v", m.From, err))
	}
}

// report fails t with the problems found so far.
func (s *Sink) report(t testing.TB) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.problems {
		t.Errorf("delivered header does not parse: %s", p)
	}
	s.problems = nil
}

// Checked returns how many delivered messages had their header fields
// checked.
func (s *Sink) Checked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checked
}

// StartSink starts a sink; it stops with the test. The recipients in
// unknown are refused with 550 5.1.1, as a mailbox server refuses an
// unknown user: an MTA that relays to the sink bounces them.
func StartSink(t testing.TB, unknown ...string) *Sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Sink{Addr: ln.Addr().String(), ln: ln, msgs: make(chan Message, 100), unknown: map[string]bool{}}
	for _, u := range unknown {
		s.unknown[strings.ToLower(u)] = true
	}
	t.Cleanup(func() {
		ln.Close()
		s.report(t)
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

// Wait returns the next message, or fails the test after d. It fails
// the test (without stopping it) if a delivered message's header fields
// did not parse.
func (s *Sink) Wait(t testing.TB, d time.Duration) Message {
	t.Helper()
	m, ok := s.Next(d)
	if !ok {
		t.Fatalf("no message reached the sink within %v", d)
	}
	s.report(t)
	return m
}

// Next returns the next message if one arrives within d.
func (s *Sink) Next(d time.Duration) (Message, bool) {
	select {
	case m := <-s.msgs:
		return m, true
	case <-time.After(d):
		return Message{}, false
	}
}

func (s *Sink) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	tp := textproto.NewConn(c)
	tp.PrintfLine("220 sink.test ESMTP")
	var m Message
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO", "HELO":
			tp.PrintfLine("250 sink.test")
		case "MAIL":
			m = Message{From: angle(line)}
			tp.PrintfLine("250 2.1.0 Ok")
		case "RCPT":
			if rcpt := angle(line); s.unknown[strings.ToLower(rcpt)] {
				tp.PrintfLine("550 5.1.1 <%s>: Recipient address rejected: User unknown", rcpt)
			} else {
				m.To = append(m.To, rcpt)
				tp.PrintfLine("250 2.1.5 Ok")
			}
		case "DATA":
			tp.PrintfLine("354 End data with <CR><LF>.<CR><LF>")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.Data = strings.ReplaceAll(string(data), "\n", "\r\n")
			s.check(m)
			s.msgs <- m
			tp.PrintfLine("250 2.0.0 Ok: queued")
		case "RSET", "NOOP":
			tp.PrintfLine("250 2.0.0 Ok")
		case "QUIT":
			tp.PrintfLine("221 2.0.0 Bye")
			return
		default:
			tp.PrintfLine("502 5.5.2 Error: command not recognized")
		}
	}
}

func angle(line string) string {
	if i := strings.IndexByte(line, '<'); i >= 0 {
		if j := strings.IndexByte(line[i:], '>'); j >= 0 {
			return line[i+1 : i+j]
		}
	}
	return ""
}

// Client is an SMTP client that shows every reply to the test.
type Client struct {
	t  testing.TB
	tp *textproto.Conn
}

// Reply is an SMTP reply: its code and its text, lines joined with "\n"
// (without the codes).
type Reply struct {
	Code int
	Text string
}

func (r Reply) String() string { return fmt.Sprintf("%d %s", r.Code, r.Text) }

// DialSMTP connects and reads the greeting.
func DialSMTP(t testing.TB, addr string) *Client { return DialSMTPFrom(t, addr, "") }

// DialSMTPFrom connects from a local loopback address (127.0.0.2, say:
// a client the MTA sees as other than 127.0.0.1; "" for any) and reads
// the greeting.
func DialSMTPFrom(t testing.TB, addr, local string) *Client {
	t.Helper()
	c, r := Connect(t, addr, local)
	if r.Code != 220 {
		t.Fatalf("greeting: %s", r)
	}
	return c
}

// Connect connects as DialSMTPFrom does and returns the greeting,
// whatever it is.
func Connect(t testing.TB, addr, local string) (*Client, Reply) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	cl := &Client{t: t, tp: textproto.NewConn(c)}
	t.Cleanup(func() { cl.tp.Close() })
	return cl, cl.read()
}

func (c *Client) read() Reply {
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil && code == 0 {
		c.t.Fatalf("reading reply: %v", err)
	}
	return Reply{code, msg}
}

// Cmd sends one command line and returns the reply.
func (c *Client) Cmd(format string, args ...any) Reply {
	c.t.Helper()
	if err := c.tp.PrintfLine(format, args...); err != nil {
		c.t.Fatalf("sending %q: %v", fmt.Sprintf(format, args...), err)
	}
	return c.read()
}

// Data sends DATA and the message (with CRLF line ends, dot-stuffed) and
// returns the reply to the final dot, or the refusal of DATA.
func (c *Client) Data(msg string) Reply {
	c.t.Helper()
	if r := c.Cmd("DATA"); r.Code != 354 {
		return r
	}
	var b bytes.Buffer
	sc := bufio.NewScanner(strings.NewReader(msg))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.HasPrefix(line, ".") {
			line = "." + line
		}
		b.WriteString(line + "\r\n")
	}
	b.WriteString(".\r\n")
	if _, err := c.tp.W.Write(b.Bytes()); err != nil || c.tp.W.Flush() != nil {
		c.t.Fatalf("sending the message: %v", err)
	}
	return c.read()
}

// Drop closes the connection without QUIT, as impolite clients do.
func (c *Client) Drop() { c.tp.Close() }

// Session opens a connection that presents itself, through Postfix's
// XCLIENT, as a client at ip named ptr (empty: no name), and says EHLO
// helo. The reply to EHLO is returned.
func Session(t testing.TB, addr, ip, helo string) (*Client, Reply) {
	t.Helper()
	c := DialSMTP(t, addr)
	if r := c.Cmd("EHLO test.client"); r.Code != 250 {
		t.Fatalf("EHLO: %s", r)
	}
	if r := c.Cmd("XCLIENT ADDR=%s NAME=[UNAVAILABLE]", ip); r.Code != 220 {
		t.Fatalf("XCLIENT: %s", r)
	}
	return c, c.Cmd("EHLO %s", helo)
}
