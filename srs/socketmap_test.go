package srs

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startMap serves site's socket map on a loopback port; it stops with
// the test. The answers logged are collected in the returned log.
func startMap(t *testing.T, site *Site) (addr string, log func() string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	m := NewMapServer(site, func(mapName, key, answer string, why error) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf("%s %q %q %v", mapName, key, answer, why))
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- m.Serve(ln) }()
	t.Cleanup(func() {
		m.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(lines, "\n")
	}
}

func testSite(t *testing.T) *Site {
	t.Helper()
	r, err := New(Options{Secrets: []string{"map secret"}})
	if err != nil {
		t.Fatal(err)
	}
	ses, _ := NewSES([]string{"map secret"}, 8, nil)
	return &Site{SRS: r, SES: ses, FwDomain: "fwd.example", SESDomains: []string{"ours.example"}, SignDomains: []string{"signed.example"}, NoSRS: []string{"partner.example"}}
}

// postmapDir is a Postfix configuration directory for postmap, made
// once: postmap's first run in a new one takes seconds.
var postmapDir = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "maxwell-postmap-")
	if err != nil {
		return "", err
	}
	// myhostname and mydomain spare postmap a look-up of this host's name.
	return dir, os.WriteFile(filepath.Join(dir, "main.cf"), []byte("compatibility_level = 3.6\n"+
		"maillog_file = /dev/stderr\nmaillog_file_prefixes = /dev/stderr\nmyhostname = maptest.example\nmydomain = example\n"), 0o644)
})

func TestMain(m *testing.M) {
	code := m.Run()
	if dir, err := postmapDir(); err == nil && dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// postmap asks the map as Postfix does: Postfix's own socketmap client
// (postmap -q). It returns the answer, and false for not found.
func postmap(t *testing.T, addr, mapName, key string) (string, bool) {
	t.Helper()
	if _, err := exec.LookPath("postmap"); err != nil {
		t.Fatal("postmap is not installed: apt-get install postfix (.ci/run does)")
	}
	dir, err := postmapDir()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("postmap", "-c", dir, "-q", key, "socketmap:inet:"+addr+":"+mapName)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 && stderr.Len() == 0 {
			return "", false // not found
		}
		t.Fatalf("postmap -q %s: %v\n%s", key, err, stderr.String())
	}
	return strings.TrimSuffix(string(out), "\n"), true
}

// The forward and reverse maps, asked by Postfix's postmap: a foreign
// sender is forwarded, and the answer reverses; our own senders are
// left to the milter to sign, and what it signs reverses too.
func TestMapWithPostmap(t *testing.T) {
	site := testSite(t)
	addr, log := startMap(t, site)
	for _, sender := range []string{"bob@remote.example", "Bob.Smith@Remote.Example", `"john smith"@remote.example`} {
		out, ok := postmap(t, addr, "forward", sender)
		if !ok {
			t.Errorf("forward %s: not found", sender)
			continue
		}
		back, ok := postmap(t, addr, "reverse", out)
		if !ok || back != sender {
			t.Errorf("reverse %s = %q (%v), want %s", out, back, ok, sender)
		}
	}
	for _, sender := range []string{"Alice@ours.example", "carol@signed.example"} {
		signed, _, _ := site.Sign(sender)
		if back, ok := postmap(t, addr, "reverse", signed); !ok || !strings.EqualFold(back, sender) {
			t.Errorf("reverse %s = %q (%v), want %s", signed, back, ok, sender)
		}
		// Postfix's smtpd asks in lower case.
		if back, ok := postmap(t, addr, "reverse", strings.ToLower(signed)); !ok || !strings.EqualFold(back, sender) {
			t.Errorf("reverse %s = %q (%v), want %s", strings.ToLower(signed), back, ok, sender)
		}
	}
	for _, key := range []string{"user@fwd.example", "Alice@ours.example", "carol@signed.example", "unqualified", "@remote.example", ""} {
		if out, ok := postmap(t, addr, "forward", key); ok {
			t.Errorf("forward %q = %q, want not found", key, out)
		}
	}
	fwd, _ := site.SRS.Forward("bob@remote.example", "fwd.example")
	if out, ok := postmap(t, addr, "forward", fwd); ok {
		t.Errorf("forward of our own SRS address %q = %q: rewritten twice", fwd, out)
	}
	for _, key := range []string{"someone@fwd.example", "SRS0=AAAAAAAA=AA=x.example=y@fwd.example"} {
		if out, ok := postmap(t, addr, "reverse", key); ok {
			t.Errorf("reverse %q = %q, want not found", key, out)
		}
	}
	if l := log(); !strings.Contains(l, `reverse "SRS0=AAAAAAAA=AA=x.example=y@fwd.example" "NOTFOUND " Invalid hash`) || strings.Contains(l, "someone@fwd.example") {
		t.Errorf("the log of answers should hold the refused SRS address, not the plain NOTFOUND:\n%s", l)
	}
}

// ns is s as a netstring.
func ns(s string) string { return fmt.Sprintf("%d:%s,", len(s), s) }

// ask sends raw bytes on a new connection and returns what came back
// before the server closed it.
func ask(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, raw)
	c.(*net.TCPConn).CloseWrite() // the server answers, then sees the end
	b, _ := io.ReadAll(c)
	return string(b)
}

// The protocol as Sendmail speaks it, and what the server does with
// garbage: no answer, the connection closed, the server still serving.
func TestMapProtocol(t *testing.T) {
	site := testSite(t)
	addr, _ := startMap(t, site)
	fwd, _ := site.SRS.Forward("bob@remote.example", "fwd.example")
	tests := []struct {
		name, raw, want string
	}{
		{"two requests on one connection", ns("forward bob@remote.example") + ns("reverse"), ns("OK "+fwd) + ns("NOTFOUND ")},
		{"pysrs's make_srs, as HACK(pysrs) asks", ns("make_srs relay\x9bbob<@remote.example.>"), ns("OK " + toSendmail(fwd))},
		{"make_srs of the null sender", ns("make_srs <@>"), ns("OK <@>")},
		{"make_srs to a nosrs mailer host", ns("make_srs partner.example\x9bbob@remote.example"), ns("OK bob@remote.example")},
		{"make_srs of a sender of fwdomain", ns("make_srs relay\x9bbob<@fwd.example.>"), ns("OK bob<@fwd.example.>")},
		{"reverse_srs of ours", ns("reverse_srs " + fwd), ns("OK bob<@remote.example.>")},
		{"reverse_srs of an address not ours", ns("reverse_srs bob<@remote.example.>"), ns("NOTFOUND ")},
		{"unknown map", ns("nomap key"), ns(`PERM unknown map "nomap"`)},
		{"not a netstring", "hello\r\n", ""},
		{"length past the limit", "99999:forward x,", ""},
		{"no comma", "3:abcX", ""},
		{"cut short", "30:forward bob", ""},
		{"a length of 8 digits", "12345678:x,", ""},
	}
	for _, tt := range tests {
		if got := ask(t, addr, tt.raw); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := ask(t, addr, ns("forward x@y.example")); !strings.Contains(got, ":OK SRS0=") {
		t.Errorf("after the garbage: %q", got)
	}
}

// readNetstring reads what it is given and refuses the rest.
func TestReadNetstring(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
		ok   bool
	}{{"0:,", "", true}, {"3:abc,", "abc", true}, {":abc,", "", false}, {"3abc,", "", false}, {"-1:,", "", false}, {"5:ab,", "", false}} {
		got, err := readNetstring(bufio.NewReader(strings.NewReader(tt.in)), 100)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("readNetstring(%q) = %q, %v", tt.in, got, err)
		}
	}
}

// flakyListener fails its first Accepts as a process out of file
// descriptors does, then hands out one end of a pipe.
type flakyListener struct {
	failures int
	conn     net.Conn
	closed   chan struct{}
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures > 0 {
		l.failures--
		return nil, &net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	if c := l.conn; c != nil {
		l.conn = nil
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}
func (l *flakyListener) Close() error   { close(l.closed); return nil }
func (l *flakyListener) Addr() net.Addr { return &net.TCPAddr{} }

// Out of file descriptors is waited out, not the end of the map; past
// MaxConns a connection is closed at once, and the others are served.
func TestMapSurvivesShortages(t *testing.T) {
	site := testSite(t)
	server, client := net.Pipe()
	ln := &flakyListener{failures: 3, conn: server, closed: make(chan struct{})}
	m := NewMapServer(site, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- m.Serve(ln) }()
	client.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(client, ns("reverse nobody@x.example"))
	b := make([]byte, len(ns("NOTFOUND ")))
	if _, err := io.ReadFull(client, b); err != nil || string(b) != ns("NOTFOUND ") {
		t.Errorf("after three EMFILE: %q, %v", b, err)
	}
	client.Close()
	m.Close()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}

	addr, _ := startMap(t, site)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range MaxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The server may not have accepted them all yet: ask on the last,
	// which it must then have taken.
	io.WriteString(conns[MaxConns-1], ns("reverse nobody@x.example"))
	conns[MaxConns-1].SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(conns[MaxConns-1], b); err != nil {
		t.Fatalf("the %dth connection: %v", MaxConns, err)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(extra, ns("reverse nobody@x.example"))
	if n, err := extra.Read(b); err == nil {
		t.Errorf("connection %d answered %q: want it closed", MaxConns+1, b[:n])
	}
	if _, err := io.WriteString(conns[0], ns("reverse nobody@x.example")); err != nil {
		t.Fatal(err)
	}
	conns[0].SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(conns[0], b); err != nil {
		t.Errorf("the first connection, after the extra one was refused: %v", err)
	}
}
