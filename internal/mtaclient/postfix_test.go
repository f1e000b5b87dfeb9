package mtaclient

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/d--j/go-milter"

	"github.com/maxwell-milter/maxwell/policy"
)

// eventMilter records what it is told, and refuses the sender or
// recipients it is set to refuse.
type eventMilter struct {
	milter.NoOpMilter
	mu         *sync.Mutex
	events     *[]string
	refuseFrom string
	refuseRcpt string
	closed     chan struct{}
}

func (m eventMilter) add(format string, a ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	*m.events = append(*m.events, fmt.Sprintf(format, a...))
}

func (m eventMilter) MailFrom(from, args string, _ milter.Modifier) (*milter.Response, error) {
	m.add("mail %s %s", from, args)
	if from == m.refuseFrom {
		return milter.RespReject, nil
	}
	return milter.RespContinue, nil
}

func (m eventMilter) RcptTo(rcpt, _ string, _ milter.Modifier) (*milter.Response, error) {
	m.add("rcpt %s", rcpt)
	if rcpt == m.refuseRcpt {
		return milter.RespReject, nil
	}
	return milter.RespContinue, nil
}

func (m eventMilter) Data(mod milter.Modifier) (*milter.Response, error) {
	m.add("data i=%s", mod.Get("i"))
	return milter.RespContinue, nil
}

func (m eventMilter) Header(name, value string, _ milter.Modifier) (*milter.Response, error) {
	m.add("header %s:%q", name, value)
	return milter.RespContinue, nil
}

func (m eventMilter) BodyChunk(chunk []byte, _ milter.Modifier) (*milter.Response, error) {
	m.add("body %d", len(chunk))
	return milter.RespContinue, nil
}

func (m eventMilter) EndOfMessage(mod milter.Modifier) (*milter.Response, error) {
	mod.AddHeader("X-Seen", "yes")
	m.add("eom")
	return milter.RespAccept, nil
}

func (m eventMilter) Cleanup(milter.Modifier) { close(m.closed) }

func (m eventMilter) Abort(milter.Modifier) error {
	m.add("abort")
	return nil
}

// A PostfixConn sends what Postfix sends: a folded field's lines joined by
// LF, the space after the colon only to a milter that asks for it, the
// body in chunks of 65 535 bytes, a refused recipient left out, no DATA
// without a recipient, ABORT after every transaction. (go-milter calls
// Abort once for the ABORT after a message and the one before QUIT.)
func TestPostfixConnMessages(t *testing.T) {
	headers := []policy.Header{{Name: "Received", Value: "from a\r\n\tby b"}, {Name: "Subject", Value: "hi"}}
	for _, tc := range []struct {
		name       string
		proto      milter.OptProtocol
		from       string
		rcpts      []string
		body       int
		want       []string
		answer     string // stage and reply code
		wantAccept bool
	}{
		{"a large body", 0, "a@x.example", []string{"b@y.example"}, 2*PostfixChunk + 100,
			[]string{"mail a@x.example SIZE=9", "rcpt b@y.example", "data i=00000000001", `header Received:"from a\n\tby b"`,
				`header Subject:"hi"`, "body 65535", "body 65535", "body 100", "eom", "abort"}, "eom a", true},
		{"a milter that wants the leading space", milter.OptHeaderLeadingSpace, "a@x.example", []string{"b@y.example"}, 10,
			[]string{"mail a@x.example SIZE=9", "rcpt b@y.example", "data i=00000000001", `header Received:" from a\n\tby b"`,
				`header Subject:" hi"`, "body 10", "eom", "abort"}, "eom a", true},
		{"one recipient refused", 0, "a@x.example", []string{"no@y.example", "b@y.example"}, 10,
			[]string{"mail a@x.example SIZE=9", "rcpt no@y.example", "rcpt b@y.example", "data i=00000000001",
				`header Received:"from a\n\tby b"`, `header Subject:"hi"`, "body 10", "eom", "abort"}, "eom a", true},
		{"every recipient refused", 0, "a@x.example", []string{"no@y.example"}, 10,
			[]string{"mail a@x.example SIZE=9", "rcpt no@y.example", "abort"}, "rcpt r", false},
		{"the sender refused", 0, "bad@x.example", []string{"b@y.example"}, 10,
			[]string{"mail bad@x.example SIZE=9", "abort"}, "mail r", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var events []string
			closed := make(chan struct{})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := milter.NewServer(milter.WithProtocols(tc.proto), milter.WithAction(milter.OptAddHeader), milter.WithMilter(func() milter.Milter {
				return eventMilter{mu: &mu, events: &events, refuseFrom: "bad@x.example", refuseRcpt: "no@y.example", closed: closed}
			}))
			go srv.Serve(ln)
			defer srv.Close()

			c, err := DialPostfix("tcp", ln.Addr().String(), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.queue = new(atomic.Uint64) // this test's messages from 1 on
			if a, err := c.Connect(DefaultMTA, netip.MustParseAddr("198.51.100.7"), 40000, ""); err != nil || a.Code != 'c' {
				t.Fatalf("connect: %+v %v", a, err)
			}
			if a, err := c.Helo("mail.x.example"); err != nil || a.Code != 'c' {
				t.Fatalf("helo: %+v %v", a, err)
			}
			a, err := c.Message(tc.from, "SIZE=9", tc.rcpts, headers, []byte(strings.Repeat("x", tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Fields(a.Stage)[0] + " " + string(a.Code); got != tc.answer || a.Accepted() != tc.wantAccept {
				t.Errorf("answered %q (accepted %v), want %q", got, a.Accepted(), tc.answer)
			}
			if tc.wantAccept && !slices.Equal(a.Mods, []byte{'h'}) {
				t.Errorf("modifications %q, want the added header", a.Mods)
			}
			c.Close() // ABORT and QUIT
			<-closed
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(events, tc.want) {
				t.Errorf("the milter saw\n%s\nwant\n%s", strings.Join(events, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
