package mtatest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Maxwell is a maxwell daemon started by a test from a freshly built
// binary.
type Maxwell struct {
	Cmd    *exec.Cmd
	Stderr *Buffer
	Exited chan struct{} // closed when the process has ended
	Err    error         // its exit status, once Exited is closed
}

// BuildMaxwell compiles cmd/maxwell into dir and returns the binary.
func BuildMaxwell(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "maxwell")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/maxwell-milter/maxwell/cmd/maxwell").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// StartMaxwell builds maxwell and runs `maxwell serve -c config` in dir,
// so that a relative [milter] datadir (the default, "data") is under dir.
// When the test ends it is stopped by its PID: SIGTERM, then SIGKILL
// after 10s.
func StartMaxwell(t testing.TB, dir, config string) *Maxwell {
	t.Helper()
	return RunMaxwell(t, dir, BuildMaxwell(t, dir), "serve", "-c", config)
}

// RunMaxwell runs the binary bin with args in dir, as StartMaxwell does:
// for a second maxwell process (maxwell watch) next to the daemon.
func RunMaxwell(t testing.TB, dir, bin string, args ...string) *Maxwell {
	t.Helper()
	m := &Maxwell{Cmd: exec.Command(bin, args...), Stderr: &Buffer{}, Exited: make(chan struct{})}
	m.Cmd.Dir = dir
	m.Cmd.Stderr = m.Stderr
	if err := m.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		m.Err = m.Cmd.Wait()
		close(m.Exited)
	}()
	t.Cleanup(func() { Stop(m.Cmd.Process, m.Exited, syscall.SIGTERM) })
	return m
}

// Stop ends a process a test started, by its PID: sig, then SIGKILL if
// it has not exited (exited closed) within 10s. A process that has
// already exited is left alone.
func Stop(p *os.Process, exited <-chan struct{}, sig os.Signal) {
	select {
	case <-exited:
		return
	default:
	}
	p.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		p.Kill()
		<-exited
	}
}

// WaitFor waits up to 10s for cond; on timeout it fails the test and
// shows maxwell's diagnostics.
func (m *Maxwell) WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s; maxwell's stderr:\n%s", what, m.Stderr)
}

// WaitListen waits until maxwell accepts connections at a TCP address or
// unix socket path.
func (m *Maxwell) WaitListen(t testing.TB, addr string) {
	t.Helper()
	m.WaitFor(t, "maxwell to listen on "+addr, func() bool {
		if filepath.IsAbs(addr) {
			_, err := os.Stat(addr)
			return err == nil
		}
		return waitListen(addr, 0) == nil
	})
}

// Buffer is a bytes.Buffer that a process may write while the test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// Reset empties the buffer.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Lines returns the lines that contain every one of the substrings.
func (b *Buffer) Lines(substrings ...string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		ok := l != ""
		for _, s := range substrings {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}
