package milter

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
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
