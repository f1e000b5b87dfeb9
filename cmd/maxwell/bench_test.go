package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/mailgen"
	"github.com/maxwell-milter/maxwell/internal/mtaclient"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"github.com/maxwell-milter/maxwell/mime"
	"github.com/maxwell-milter/maxwell/policy"
)

// BenchmarkLargeMessagesRSS sends 50 messages of 10 MB with attachments
// at once through the milter protocol to a maxwell daemon, and reports
// the daemon's peak resident memory (VmHWM) against its idle size
// measured just before, in the same run.
//
//	go test -run '^$' -bench LargeMessagesRSS -benchtime 1x ./cmd/maxwell
func BenchmarkLargeMessagesRSS(b *testing.B) {
	const sessions, size = 50, 10 << 20
	dir := b.TempDir()
	port := mtatest.FreePort(b)
	cfg := filepath.Join(dir, "maxwell.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[milter]\nsocket = \"inet:%d@127.0.0.1\"\ninternal_connect = [\"192.0.2.0/24\"]\n[greylist]\nenabled = false\n"+
		"[dns]\nservers = [\"127.0.0.1:9\"]\ntimeout = \"100ms\"\nattempts = 1\n[log]\nmail_log = %q\n", port,
		filepath.Join(dir, "mail.log"))), 0o644)
	m := mtatest.StartMaxwell(b, dir, cfg)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	m.WaitListen(b, addr)
	idle := procStat(m.Cmd.Process.Pid).peak

	h, body := mime.SplitMessage(mailgen.Multipart(size, 1))
	tx := policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr("192.0.2.7")}, Helo: "pc.example.org",
		Mail: policy.MailInfo{Sender: "alice@example.org"}, Rcpts: []string{"bob@example.org"}, Headers: h}
	b.SetBytes(int64(sessions * len(body)))
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make(chan error, sessions)
		for range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := mtaclient.Send("tcp", addr, tx, body)
				if err == nil && !r.Accepted() {
					err = fmt.Errorf("not accepted: %v", r.Action)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(idle, "idle-RSS-MiB")
	b.ReportMetric(procStat(m.Cmd.Process.Pid).peak, "peak-RSS-MiB")
}
