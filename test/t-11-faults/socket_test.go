package faults

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtaclient"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"github.com/maxwell-milter/maxwell/policy"
)

// socketConfig: sessions idle for 4s are closed; the metrics tell the
// daemon's goroutines and memory.
const socketConfig = `
[milter]
socket = "inet:{port}@127.0.0.1"
timeout = "4s"
internal_domains = ["example.org"]

[greylist]
enabled = false

[metrics]
listen = "%s"
`

// gauges reads the daemon's goroutine count, resident memory and open
// sessions.
func gauges(t *testing.T, addr string) (goroutines, rss, sessions float64) {
	t.Helper()
	m := mtatest.Scrape(t, addr)
	return m["go_goroutines"], m["process_resident_memory_bytes"], m["maxwell_sessions_open"]
}

// packet frames one milter command.
func packet(cmd byte, data ...string) []byte {
	body := []byte{cmd}
	for _, d := range data {
		body = append(body, d...)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// A daemon facing a thousand idle sessions, a thousand connections never
// used and a client that stops reading keeps serving; it closes them
// after its timeouts, and its goroutines and open sessions come back to
// where they were.
func TestSocketFaults(t *testing.T) {
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", mtatest.FreePort(t))
	st := mtatest.StartMilter(t, fmt.Sprintf(socketConfig, metricsAddr))
	st.Maxwell.WaitListen(t, metricsAddr)
	milterAddr := fmt.Sprintf("127.0.0.1:%d", st.Port)
	send := func() {
		t.Helper()
		r, err := mtaclient.Send("tcp", milterAddr, policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr("127.0.0.1")},
			Helo: "pc1.example.org", Mail: policy.MailInfo{Sender: "carol@example.org"}, Rcpts: []string{"bob@example.org"}}, []byte("Hi\r\n"))
		if err != nil || !r.Accepted() {
			t.Fatalf("a normal session: %v %v", r.Action, err)
		}
	}
	send()
	base, baseRSS, _ := gauges(t, metricsAddr)

	// waitBack waits until no session is open and the goroutines are
	// back near the baseline.
	waitBack := func(what string, within time.Duration) {
		t.Helper()
		var g, open float64
		for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if g, _, open = gauges(t, metricsAddr); g <= base+5 && open == 0 {
				return
			}
		}
		t.Errorf("%s: %v goroutines and %v sessions %v after, baseline %v", what, g, open, within, base)
	}

	// idle opens a thousand connections with open, checks the daemon
	// serves meanwhile and closes them after timeout.
	idle := func(t *testing.T, what string, open func() []net.Conn, timeout time.Duration) {
		t.Helper()
		conns := open()
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		send() // served meanwhile
		g, rss, _ := gauges(t, metricsAddr)
		t.Logf("1000 %s: %v goroutines (baseline %v), RSS %.1f MiB (baseline %.1f)", what, g, base, rss/(1<<20), baseRSS/(1<<20))
		if g > base+2*1000+10 {
			t.Errorf("%v goroutines for 1000 %s, baseline %v", g, what, base)
		}
		if rss > baseRSS+64<<20 {
			t.Errorf("RSS grew by %.1f MiB for 1000 %s", (rss-baseRSS)/(1<<20), what)
		}
		waitBack(what+" after the timeout", timeout+10*time.Second)
		conns[0].SetReadDeadline(time.Now().Add(time.Second))
		if _, err := io.ReadAll(conns[0]); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: one is still open", what)
		}
	}

	t.Run("a thousand negotiated sessions left idle", func(t *testing.T) {
		idle(t, "idle sessions", func() []net.Conn {
			o := openSessions(t, st.Maxwell, milterAddr, 1000)
			if o.answered != 1000 {
				t.Errorf("%d of 1000 sessions opened", o.answered)
			}
			return o.conns
		}, 4*time.Second) // [milter] timeout
	})

	t.Run("a thousand connections never used", func(t *testing.T) {
		idle(t, "connections never used", func() []net.Conn {
			var conns []net.Conn
			for range 1000 {
				c, err := net.Dial("tcp", milterAddr)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			return conns
		}, time.Second) // go-milter's wait for the negotiation
	})

	t.Run("a client that stops reading", func(t *testing.T) {
		c, err := net.Dial("tcp", milterAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4096)
		w := bufio.NewWriter(c)
		w.Write(optneg)
		w.Write(packet('C', "mail.sender.example\x00", "4", "\x00\x19", "127.0.0.1\x00"))
		w.Write(packet('H', "pc1.example.org\x00"))
		w.Write(packet('M', "<carol@example.org>\x00"))
		w.Write(packet('R', "<bob@example.org>\x00"))
		w.Write(packet('L', "Content-Type\x00", "multipart/mixed; boundary=b\x00"))
		w.Write(packet('N'))
		// 16 MiB of text and an attachment to defang: the new body the
		// daemon sends back is far more than the socket buffers hold.
		w.Write(packet('B', "--b\r\nContent-Type: text/plain\r\n\r\n"))
		line := strings.Repeat("x", 998) + "\r\n"
		chunk := strings.Repeat(line, 60)
		for range (16 << 20) / len(chunk) {
			w.Write(packet('B', chunk))
		}
		w.Write(packet('B', "--b\r\nContent-Type: application/octet-stream; name=\"x.pif\"\r\n\r\nMZ\r\n--b--\r\n"))
		w.Write(packet('E'))
		if err := w.Flush(); err != nil {
			t.Fatalf("sending: %v", err)
		}
		send() // served meanwhile
		// Once the normal session's close is counted, the stuck one is
		// the only one open.
		var open float64
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if _, _, open = gauges(t, metricsAddr); open == 1 {
				break
			}
		}
		if open != 1 {
			t.Fatalf("%v sessions open, want the one stuck writing to the client", open)
		}
		start := time.Now()
		waitBack("a client that stopped reading (10s write timeout)", 20*time.Second)
		t.Logf("the stuck session was closed after %v", time.Since(start).Round(time.Second))
	})

	send()
	_, rss, _ := gauges(t, metricsAddr)
	t.Logf("RSS at the end %.1f MiB, baseline %.1f MiB", rss/(1<<20), baseRSS/(1<<20))
}
