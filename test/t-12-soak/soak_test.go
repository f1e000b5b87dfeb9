// Package soak is scenario t-12: a long run of messages through the
// daemon with its default policy (SPF through the test's DNS server,
// greylisting on SQLite, the MIME scan, header edits), driven by maxwell
// bench at 64 concurrent sessions. Every message must be answered, none
// may fail, and afterwards the daemon's goroutines are back where they
// were. `make test` sends MAXWELL_SOAK_MESSAGES (default 20 000);
// `make soak` sends 1 000 000.
package soak

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["example.org"]

# The three triplets pass after a second (the test waits for it before
# the run): the run is accepted, with maxwell's header fields.
[greylist]
delay = "1s"

[metrics]
listen = "%s"
`

func TestSoak(t *testing.T) {
	n := 20000
	if s := os.Getenv("MAXWELL_SOAK_MESSAGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			t.Fatalf("MAXWELL_SOAK_MESSAGES=%q is not a count", s)
		}
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", mtatest.FreePort(t))
	zone := []string{`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`}
	var ips []string
	for i := 1; i <= 16; i++ {
		zone = append(zone, fmt.Sprintf("%d.100.51.198.in-addr.arpa. PTR mail%d.sender.example.", i, i),
			fmt.Sprintf("mail%d.sender.example. A 198.51.100.%d", i, i))
		ips = append(ips, fmt.Sprintf("198.51.100.%d", i))
	}
	st := mtatest.StartMilter(t, fmt.Sprintf(config, metricsAddr), zone...)
	st.Maxwell.WaitListen(t, metricsAddr)

	type report struct {
		Messages, Failed int
		PerSecond        float64            `json:"msgs_per_second"`
		Latency          map[string]float64 `json:"latency_ms"`
		Actions          map[string]int
		Errors           map[string]int
		CPUPerMsg        float64 `json:"milter_cpu_ms_per_msg"`
		PeakRSS          float64 `json:"milter_peak_rss_mib"`
	}
	bench := func(n, c int) report {
		t.Helper()
		out, err := exec.Command(st.Maxwell.Cmd.Path, "bench", "-q", "-json", "-addr", fmt.Sprintf("inet:%d@127.0.0.1", st.Port),
			"-n", strconv.Itoa(n), "-c", strconv.Itoa(c), "-per-conn", "10", "-body-bytes", "4096", "-ips", strings.Join(ips, ","),
			"-from", "alice@sender.example,bob@sender.example,carol@sender.example", "-rcpt", "dave@example.org",
			"-pid", strconv.Itoa(st.Maxwell.Cmd.Process.Pid), "-max-duration", "2h").Output()
		var rep report
		if jerr := json.Unmarshal(out, &rep); err != nil || jerr != nil {
			t.Fatalf("maxwell bench: %v %v\n%s", err, jerr, out)
		}
		return rep
	}
	// The triplets first: once they have passed greylisting, how much
	// of the run is accepted does not depend on how fast it goes.
	passed := func() bool { w := bench(48, 4); return w.Actions["accept"] == w.Messages }
	for deadline := time.Now().Add(30 * time.Second); !passed(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the soak's triplets do not pass greylisting")
		}
	}
	before := mtatest.Scrape(t, metricsAddr)
	rep := bench(n, 64)
	answered := 0
	for _, k := range rep.Actions {
		answered += k
	}
	if rep.Messages != n || rep.Failed != 0 || len(rep.Errors) != 0 || answered != n || rep.Actions["accept"] < n/2 {
		t.Errorf("%d messages, %d failed, %d answered (%v), errors %v; want all %d answered, most accepted", rep.Messages, rep.Failed, answered, rep.Actions, rep.Errors, n)
	}

	const goroutines, rss, heap = "go_goroutines", "process_resident_memory_bytes", "go_memstats_heap_inuse_bytes"
	var after map[string]float64
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if after = mtatest.Scrape(t, metricsAddr); after[goroutines] <= before[goroutines]+5 {
			break
		}
	}
	if after[goroutines] > before[goroutines]+5 {
		t.Errorf("goroutines: %v before, %v after the load", before[goroutines], after[goroutines])
	}
	const mib = 1 << 20
	t.Logf("%d messages at c=64: %.0f msgs/s, p99 %.1f ms, %.2f ms CPU/msg, actions %v", n, rep.PerSecond, rep.Latency["p99"], rep.CPUPerMsg, rep.Actions)
	t.Logf("goroutines %v → %v; RSS %.1f → %.1f MiB (peak %.1f); heap in use %.1f → %.1f MiB",
		before[goroutines], after[goroutines], before[rss]/mib, after[rss]/mib, rep.PeakRSS, before[heap]/mib, after[heap]/mib)
	if after[rss] > 2*before[rss]+128*mib {
		t.Errorf("RSS grew from %.1f to %.1f MiB", before[rss]/mib, after[rss]/mib)
	}
}
