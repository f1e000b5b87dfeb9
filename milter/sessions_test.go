package milter

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

// pkt frames one milter command.
func pkt(code byte, data string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(data)+1)), append([]byte{code}, data...)...)
}

// The mail log's connect and close events pair up, whatever the MTA
// sends: maxwell_sessions_open is counted from them, and went negative
// when a connection negotiated and quit without CONNECT.
func TestConnectAndCloseEventsPair(t *testing.T) {
	optneg := pkt('O', "\x00\x00\x00\x06\x00\x00\x01\xff\x00\x1f\xff\xff")
	connect := pkt('C', "pc1.example.org\x004\x00\x19127.0.0.1\x00")
	helo := pkt('H', "pc1.example.org\x00")
	quit, quitNewConn := pkt('Q', ""), pkt('K', "")
	for _, tc := range []struct {
		name     string
		commands [][]byte
		sessions int
	}{
		{"negotiated, then QUIT", [][]byte{optneg, quit}, 0},
		{"negotiated, HELO without CONNECT", [][]byte{optneg, helo, quit}, 0},
		{"one SMTP connection", [][]byte{optneg, connect, helo, quit}, 1},
		{"two on one milter connection (QUIT_NC)", [][]byte{optneg, connect, quitNewConn, connect, quit}, 2},
		{"CONNECT twice", [][]byte{optneg, connect, connect, quit}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, true)
			conn, err := net.Dial("tcp", start(t, env))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			for _, c := range tc.commands {
				conn.Write(c)
			}
			// The server closes the connection after the session's end
			// is logged.
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadAll(conn); err != nil {
				t.Fatalf("the server did not close the connection: %v", err)
			}
			connects, closes := len(env.Log.Lines("event=connect")), len(env.Log.Lines("event=close"))
			if connects != tc.sessions || closes != tc.sessions {
				t.Errorf("%d connect and %d close events, want %d of each:\n%s", connects, closes, tc.sessions, env.Log)
			}
		})
	}
}

// The sessions the open-file limit allows: two files each beyond 64, at
// least one; the default limit never goes past its ceiling.
func TestFileBudget(t *testing.T) {
	for _, tc := range []struct{ files, want int }{
		{256, 96},
		{1024, 480},
		{524288, 262112},
		{10, 1},
	} {
		if got := budgetFor(tc.files); got != tc.want {
			t.Errorf("%d open files: %d sessions, want %d", tc.files, got, tc.want)
		}
	}
	if n := DefaultMaxSessions(); n < 1 || n > defaultSessionsCap || n > FileBudget() {
		t.Errorf("DefaultMaxSessions() = %d: FileBudget() is %d, the ceiling %d", n, FileBudget(), defaultSessionsCap)
	}
}

// docs/configuration.md gives the default max_sessions as the code
// computes it: its example and where the ceiling is reached. (It said
// "half of it less 64", which reads as limit/2 − 64: 64 for 256 files.)
func TestDefaultMaxSessionsAsDocumented(t *testing.T) {
	docs, err := os.ReadFile(filepath.Join("..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`sized to the open-file limit — [^|]*\(limit − 64\) / 2, so (\d+) for a limit of (\d+) — at most ([\d ]+) \(reached at a limit of ([\d ]+)\)`).FindStringSubmatch(string(docs))
	if m == nil {
		t.Fatal("docs/configuration.md no longer gives the default max_sessions as (limit − 64) / 2 with an example")
	}
	n := func(s string) int { v, _ := strconv.Atoi(strings.ReplaceAll(s, " ", "")); return v }
	if got := budgetFor(n(m[2])); got != n(m[1]) {
		t.Errorf("docs: %s sessions for %s files; the code: %d", m[1], m[2], got)
	}
	if got := min(defaultSessionsCap, budgetFor(n(m[4]))); got != n(m[3]) || budgetFor(n(m[4])-2) >= defaultSessionsCap {
		t.Errorf("docs: at most %s, reached at %s files; the code: %d there, ceiling %d", m[3], m[4], got, defaultSessionsCap)
	}
}

// Past the session limit a connection is closed unanswered and counted;
// once a session ends, its place is free. Over TCP and a unix socket.
func TestSessionLimit(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = filepath.Join(t.TempDir(), "maxwell.sock")
			}
			ln, err := net.Listen(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			var diag mtatest.Buffer
			srv := NewServer(newEnv(t, true).Engine, slog.New(slog.NewTextHandler(&diag, nil)), 10*time.Second)
			srv.LimitSessions(2)
			var refused atomic.Int32
			srv.ObserveRefused(func() { refused.Add(1) })
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			defer func() {
				srv.Shutdown(context.Background())
				<-done
			}()

			// negotiated opens a connection and says whether the server
			// answered the option negotiation.
			negotiated := func() (net.Conn, bool) {
				c, err := net.Dial(network, ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				c.Write(pkt('O', "\x00\x00\x00\x06\x00\x00\x01\xff\x00\x1f\xff\xff"))
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err = io.ReadFull(c, make([]byte, 4))
				return c, err == nil
			}
			first, ok1 := negotiated()
			second, ok2 := negotiated()
			defer second.Close()
			third, ok3 := negotiated()
			third.Close()
			if !ok1 || !ok2 || ok3 {
				t.Fatalf("sessions answered: %v %v %v, want the first two", ok1, ok2, ok3)
			}
			if refused.Load() != 1 || len(diag.Lines("connection refused: max_sessions sessions are open", "max_sessions=2")) != 1 {
				t.Errorf("%d refusals counted; diagnostics:\n%s", refused.Load(), &diag)
			}
			first.Close()
			waitFor(t, func() bool {
				c, ok := negotiated()
				c.Close()
				return ok
			})
		})
	}
}
