package milter

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/config"
	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/maillog"
	"github.com/maxwell-milter/maxwell/internal/resolver"

	"github.com/maxwell-milter/maxwell/internal/enginetest"
	"github.com/maxwell-milter/maxwell/internal/mtaclient"
	"github.com/maxwell-milter/maxwell/policy"
)

// BenchmarkMessage sends 8 KiB messages through the real server, one per
// milter connection as Postfix does, with every check off (the cost of
// the protocol, the session and the body spool) and with the default
// policy for an internal client. Server and client share the process:
// compare the two, not the absolute figure.
//
//	go test -run '^$' -bench Message -cpuprofile cpu.out ./milter
func BenchmarkMessage(b *testing.B) {
	for _, tc := range []struct{ name, config string }{
		{"noop", "[milter]\ninternal_connect = [\"0.0.0.0/0\"]\nconnection_header = \"\"\n[defang]\nbanned_exts = []\nscan_zip = false\nscan_rfc822 = false\n"},
		{"internal-default", "[milter]\ninternal_connect = [\"0.0.0.0/0\"]\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			env := enginetest.New(b, tc.config+"[dns]\ntimeout = \"1s\"\n")
			addr := start(b, env)
			body := make([]byte, 0, 8192)
			for len(body) < 8192 {
				body = append(body, "The quick brown fox jumps over the lazy dog, again and again and again.\r\n"...)
			}
			tx := policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr("192.0.2.7")}, Helo: "pc.example.org",
				Mail: policy.MailInfo{Sender: "alice@example.org"}, Rcpts: []string{"bob@example.org"}, Headers: headers}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if r, err := mtaclient.Send("tcp", addr, tx, body); err != nil || !r.Accepted() {
						b.Fatal(r.Action, err)
					}
				}
			})
		})
	}
}

// idleClientEnv carries the server's address to the client process of
// BenchmarkIdleSessions.
const idleClientEnv = "MAXWELL_IDLE_CLIENT"

// idleSessions is how many sessions BenchmarkIdleSessions holds.
const idleSessions = 1000

// BenchmarkIdleSessions holds idleSessions milter sessions open on the
// real server with the default policy for an external client
// (negotiated, CONNECT and HELO done, as `maxwell bench -idle` holds
// them) and reports per session: the live heap after a collection
// (live-B), the heap spans it occupies (heap-B: the live objects share
// their spans with the slots the garbage left), the goroutine stack and
// the goroutines the server keeps, and what it allocated on the way
// (alloc-B, most of it garbage, resident until a collection). The MTA
// side runs in a process of its own (this test binary, as
// TestIdleClientProcess), so that only the server's memory is counted.
//
//	go test -run '^$' -bench IdleSessions -benchtime 1x ./milter
func BenchmarkIdleSessions(b *testing.B) {
	env := idleEnv(b, true)
	addr := start(b, env)
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		goroutines := runtime.NumGoroutine()

		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientProcess$")
		cmd.Env = append(os.Environ(), idleClientEnv+"="+addr)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		if line != "held\n" {
			stdin.Close()
			cmd.Wait()
			b.Fatalf("client process: %q", line)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		held := float64(idleSessions)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/held, "live-B/session")
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/held, "heap-B/session")
		b.ReportMetric(float64(after.StackInuse-before.StackInuse)/held, "stack-B/session")
		b.ReportMetric(float64(runtime.NumGoroutine()-goroutines)/held, "goroutines/session")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/held, "alloc-B/session")
		stdin.Close() // the client closes its sessions and exits
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// idleEnv is the default policy, with a DNS zone for idleClient and the
// mail log discarded (kept in memory, as enginetest keeps it, it would
// count as the sessions' memory); greylisting off if not greylist.
func idleEnv(t testing.TB, greylist bool) *enginetest.Env {
	dns, err := dnstest.Start("1.100.51.198.in-addr.arpa. PTR mail1.sender.example.", "mail1.sender.example. A 198.51.100.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	cfg := config.Default()
	cfg.DNS.Servers, cfg.DNS.Timeout = []string{dns.Addr}, config.Duration(time.Second)
	cfg.Milter.DataDir = t.TempDir()
	cfg.Greylist.Enabled = greylist
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := policy.New(cfg, resolver.FromConfig(cfg.DNS), maillog.New(io.Discard), discard)
	if err != nil {
		t.Fatal(err)
	}
	return &enginetest.Env{Engine: eng, DNS: dns}
}

// idleClient is the SMTP client of the idle sessions.
var idleClient = policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.1"), Port: 40000}

// TestIdleClientProcess is BenchmarkIdleSessions's MTA, speaking as
// Postfix does (as `maxwell bench -idle`): it opens
// idleSessions sessions to the server named in $MAXWELL_IDLE_CLIENT,
// says "held", and closes them when its standard input ends. Without
// the variable it does nothing.
func TestIdleClientProcess(t *testing.T) {
	addr := os.Getenv(idleClientEnv)
	if addr == "" {
		t.Skip("the client process of BenchmarkIdleSessions")
	}
	var conns []*mtaclient.PostfixConn
	for i := range idleSessions {
		c, err := mtaclient.DialPostfix("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		a, err := c.Connect(mtaclient.DefaultMTA, idleClient.IP, uint16(32768+i), "mail1.sender.example")
		if err == nil && a.Accepted() {
			a, err = c.Helo("mail1.sender.example")
		}
		if err != nil || !a.Accepted() {
			t.Fatal(a, err)
		}
	}
	fmt.Println("held")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}
