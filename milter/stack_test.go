//go:build !race

// The race detector's instrumentation deepens every stack, so this file is
// left out of race builds; make test runs it in a plain one.

package milter

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/mtaclient"
)

// An idle session's goroutine keeps the stack it started with, after
// CONNECT and HELO and after a message: the policy's calls (DNS lookups,
// the store, the body scan) run deeper than that, but on a goroutine of
// their own, so go-milter's goroutine, which lives as long as the
// connection, never grows its stack (the garbage collector would not give
// the growth back: go-milter's read path uses more than a quarter of an
// 8 KiB stack).
//
// The runtime starts a new goroutine with the average stack it found at
// its last collection (GODEBUG adaptivestackstart). In the daemon the
// idle sessions themselves make that average; in a test binary the
// tests' own deep goroutines do, and the sessions may start at 8 KiB
// whatever maxwell does. So the test runs in a child test process whose
// goroutines all start at 4 KiB; make bench measures the daemon as it
// runs (10 000 idle sessions).
func TestIdleSessionsKeepSmallStacks(t *testing.T) {
	const fixedStart = "adaptivestackstart=0"
	if !strings.Contains(os.Getenv("GODEBUG"), fixedStart) {
		child := exec.Command(os.Args[0], "-test.run=^TestIdleSessionsKeepSmallStacks$", "-test.v", "-test.count=1")
		child.Env = append(os.Environ(), "GODEBUG="+strings.TrimPrefix(os.Getenv("GODEBUG")+","+fixedStart, ","))
		out, err := child.CombinedOutput()
		t.Logf("the test with %s:\n%s", fixedStart, out)
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestIdleSessionsKeepSmallStacks")) {
			t.Fatalf("with %s: %v", fixedStart, err)
		}
		return
	}
	for _, tc := range []struct {
		name    string
		message bool
	}{
		{"after HELO", false},
		{"after a message", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := start(t, idleEnv(t, false))
			const sessions = 500
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for range sessions {
				c, res, err := mtaclient.Dial("tcp", addr, idleClient, "mail1.sender.example")
				if err != nil || res != nil {
					t.Fatal(res, err)
				}
				defer c.Close()
				if tc.message {
					if r, err := c.Message(alice(), []string{"bob@example.org"}, headers, body); err != nil || !r.Accepted() {
						t.Fatal(r.Action, err)
					}
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			// The client holds no goroutine: the stacks grown are the
			// server's, its sessions' and its few stack workers'.
			perSession := (int64(after.StackInuse) - int64(before.StackInuse)) / sessions
			t.Logf("%d bytes of stack per idle session", perSession)
			if perSession > 6<<10 {
				t.Errorf("%d bytes of stack per idle session, want 4 KiB (not 8)", perSession)
			}
		})
	}
}
