package faults

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"github.com/maxwell-milter/maxwell/internal/pgtest"
)

// PostgreSQL stopped in the middle of a load and started again: while it
// is down greylisting answers 451 4.3.0 ([greylist] fail_open = false);
// once it is back greylisting goes on, without restarting maxwell; every
// message gets an answer.
func TestPostgresDownUnderLoad(t *testing.T) {
	pg := pgtest.Start(t)
	st := mtatest.StartMilter(t, fmt.Sprintf(`
[milter]
socket = "inet:{port}@127.0.0.1"
internal_domains = ["example.org"]

[store]
driver = "postgres"
dsn = %q
timeout = "1s"
`, pg.NewDB(t)), "7.100.51.198.in-addr.arpa. PTR mail.sender.example.", "mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`)

	bench := exec.Command(st.Maxwell.Cmd.Path, "bench", "-q", "-json", "-addr", fmt.Sprintf("inet:%d@127.0.0.1", st.Port),
		"-n", "1000000", "-c", "8", "-per-conn", "5", "-ips", "198.51.100.7", "-from", "alice@sender.example",
		"-rcpt", "bob@example.org", "-max-duration", "8s")
	var out strings.Builder
	bench.Stdout = &out
	if err := bench.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	pg.Stop()
	stopped := time.Now()
	time.Sleep(2 * time.Second)
	pg.Restart(t)
	restarted := time.Now()
	if err := bench.Wait(); err != nil {
		t.Fatalf("maxwell bench: %v\n%s", err, out.String())
	}
	var rep struct {
		Messages, Failed int
		Actions          map[string]int
		Errors           map[string]int
	}
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("maxwell bench: %v\n%s", err, out.String())
	}
	t.Logf("%d messages, %d failed, %v; PostgreSQL down %v", rep.Messages, rep.Failed, rep.Actions, restarted.Sub(stopped).Round(100*time.Millisecond))
	if rep.Failed != 0 || rep.Messages == 0 {
		t.Errorf("%d of %d messages without an answer: %v", rep.Failed, rep.Messages+rep.Failed, rep.Errors)
	}
	log := st.Log()
	last := strings.LastIndex(log, "event=greylist client=sender.example sender=alice@sender.example rcpt=bob@example.org step=error")
	if last < 0 || !strings.Contains(log[last:], "step=early") {
		t.Errorf("want greylist errors while PostgreSQL was down (%d), then greylisting again", strings.Count(log, "step=error"))
	}
	if !strings.Contains(log, `code=451 xcode=4.3.0 text="Temporary local problem, try again later"`) {
		t.Error("the outage was not answered 451 4.3.0")
	}
}
