package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/d--j/go-milter"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
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

// shapeAnswers is how maxwell answers each of mailgen's hostile shapes
// from an external client (docs/attachments.md): accepted as it is,
// accepted with the body replaced (defanged), or refused as malformed.
var shapeAnswers = map[string]string{
	"many-parts":                    "554", // more than [defang] max_parts
	"many-banned-parts":             "554",
	"long-banned-names":             "defanged", // 166 parts, within max_parts
	"long-banned-names-both-fields": "defanged",
	"deep-nesting":                  "554",
	"encoded-nesting":               "defanged", // 30 levels, within max_scan_size decoded
	"split-headers":                 "defanged", // 30 levels, each read both ways
	"many-zip-entries":              "defanged", // more than zip_max_entries: a zip bomb
	"zip-expansion":                 "accepted", // within zip_max_expand
	"many-headers":                  "554",      // past the 1 000 header fields a session keeps
	"many-part-headers":             "accepted",
	"attachments":                   "accepted",
}

// BenchmarkWorstShapesRSS sends, for each hostile shape of
// internal/mailgen, 16 messages of 10 MB (under Postfix's default
// message_size_limit) at once from an external client through the milter
// protocol to a maxwell daemon started for that shape, and reports the
// daemon's peak resident memory (VmHWM) and its idle size measured just
// before, in the same run. Every message must be answered as documented.
// docs/reliability.md gives the figures.
//
//	go test -run '^$' -bench WorstShapesRSS -benchtime 1x ./cmd/maxwell
func BenchmarkWorstShapesRSS(b *testing.B) {
	const sessions, size = 16, 10_000_000
	bin := mtatest.BuildMaxwell(b, b.TempDir())
	dns, err := dnstest.Start("7.100.51.198.in-addr.arpa. PTR mail.sender.example.", "mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`)
	if err != nil {
		b.Fatal(err)
	}
	defer dns.Close()
	for _, shape := range mailgen.Shapes {
		b.Run(shape.Name, func(b *testing.B) {
			dir := b.TempDir()
			port := mtatest.FreePort(b)
			cfg := filepath.Join(dir, "maxwell.toml")
			os.WriteFile(cfg, []byte(fmt.Sprintf("[milter]\nsocket = \"inet:%d@127.0.0.1\"\ninternal_domains = [\"example.org\"]\n"+
				"[greylist]\nenabled = false\n[dns]\nservers = [%q]\n[log]\nmail_log = %q\n", port, dns.Addr,
				filepath.Join(dir, "mail.log"))), 0o644)
			m := mtatest.RunMaxwell(b, dir, bin, "serve", "-c", cfg)
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			m.WaitListen(b, addr)
			idle := procStat(m.Cmd.Process.Pid).peak

			h, body := mime.SplitMessage(shape.Make(size))
			tx := policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")}, Helo: "mail.sender.example",
				Mail: policy.MailInfo{Sender: "mallory@sender.example"}, Rcpts: []string{"bob@example.org"}, Headers: h}
			b.SetBytes(int64(sessions * len(body)))
			for b.Loop() {
				answers := make(chan string, sessions)
				var wg sync.WaitGroup
				for range sessions {
					wg.Add(1)
					go func() {
						defer wg.Done()
						// Postfix's milter_content_timeout: a shape of a
						// million header fields takes minutes on a busy machine.
						answers <- answerOf(mtaclient.Send("tcp", addr, tx, body,
							milter.WithReadTimeout(300*time.Second), milter.WithWriteTimeout(300*time.Second)))
					}()
				}
				wg.Wait()
				close(answers)
				for a := range answers {
					if a != shapeAnswers[shape.Name] {
						b.Fatalf("answered %s, want %s; maxwell's stderr:\n%s", a, shapeAnswers[shape.Name], m.Stderr)
					}
				}
			}
			b.ReportMetric(idle, "idle-RSS-MiB")
			b.ReportMetric(procStat(m.Cmd.Process.Pid).peak, "peak-RSS-MiB")
		})
	}
}

// answerOf sums up how a message was answered: "accepted", "defanged"
// (accepted, body replaced), the SMTP code of a refusal, or the error.
func answerOf(r mtaclient.Result, err error) string {
	switch {
	case err != nil:
		return "error: " + err.Error()
	case r.Accepted():
		for _, mod := range r.Mods {
			if mod.Type == milter.ActionReplaceBody {
				return "defanged"
			}
		}
		return "accepted"
	}
	code, _, _ := mtaclient.Reply(r.Action)
	return fmt.Sprint(code)
}
