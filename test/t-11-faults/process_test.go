package faults

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

// SIGTERM under load: the sessions in flight finish, new connections are
// refused, and the daemon exits 0. maxwell bench keeps 16 sessions busy.
func TestSIGTERMUnderLoad(t *testing.T) {
	st := mtatest.StartMilter(t, "[milter]\nsocket = \"inet:{port}@127.0.0.1\"\nshutdown_timeout = \"20s\"\ninternal_domains = [\"example.org\"]\n")
	bench := exec.Command(st.Maxwell.Cmd.Path, "bench", "-q", "-json", "-addr", fmt.Sprintf("inet:%d@127.0.0.1", st.Port),
		"-n", "1000000", "-c", "16", "-per-conn", "5", "-ips", "127.0.0.1", "-from", "carol@example.org", "-max-duration", "6s")
	var out strings.Builder
	bench.Stdout = &out
	if err := bench.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	st.Maxwell.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-st.Maxwell.Exited:
	case <-time.After(30 * time.Second):
		t.Fatal("maxwell did not exit after SIGTERM")
	}
	if st.Maxwell.Err != nil {
		t.Errorf("exit: %v\n%s", st.Maxwell.Err, st.Maxwell.Stderr)
	}
	bench.Wait()
	var rep struct {
		Messages, Failed int
		Errors           map[string]int
	}
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("maxwell bench: %v\n%s", err, out.String())
	}
	t.Logf("%d messages answered before and during the shutdown, %d attempts after; errors %v", rep.Messages, rep.Failed, rep.Errors)
	if rep.Messages == 0 {
		t.Fatal("no message went through before the SIGTERM")
	}
	// After the listener closes, connections are refused; those the
	// kernel had queued are reset before negotiation (an MTA applies
	// its milter_default_action). No session may break mid-message.
	for e := range rep.Errors {
		if !strings.HasPrefix(e, "milter: session create: ") && !strings.HasPrefix(e, "milter: negotiate: ") {
			t.Errorf("a session broke after negotiation: %q", e)
		}
	}
	if !strings.Contains(st.Maxwell.Stderr.String(), `msg=stopped`) {
		t.Errorf("no clean stop logged:\n%s", st.Maxwell.Stderr)
	}
}
