package main

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/mtaclient"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"github.com/maxwell-milter/maxwell/policy"
)

// A client banned for demerits by the daemon is refused on its next
// connection; maxwell blacklist lists the ban and lifts it. What the
// command changes, in its own process, reaches the daemon within [store]
// cache_ttl (1 s here).
func TestBlacklistCommands(t *testing.T) {
	dir := t.TempDir()
	port := mtatest.FreePort(t)
	cfg, _ := writeConfig(t, dir, fmt.Sprintf(`
[milter]
socket = "inet:%d@127.0.0.1"
datadir = %q
max_demerits = 1
delayed_reject = false
hello_blacklist = ["mx.example.org"]
[greylist]
enabled = false
[store]
cache_ttl = "1s"
[dns]
servers = ["DNS"]
timeout = "300ms"
[log]
mail_log = %q
`, port, filepath.Join(dir, "data"), filepath.Join(dir, "mail.log")))
	m := mtatest.StartMaxwell(t, dir, cfg)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	m.WaitListen(t, addr)
	send := func(helo string) mtaclient.Result {
		r, err := mtaclient.Send("tcp", addr, policy.Transaction{Conn: policy.ConnInfo{IP: netip.MustParseAddr("198.51.100.7")},
			Helo: helo, Mail: policy.MailInfo{Sender: "alice@sender.example"}, Rcpts: []string{"bob@example.org"}}, []byte("Hi\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := send("mx.example.org"); r.Stage != "helo" {
		t.Fatalf("HELO blacklist: %v at %s", r.Action, r.Stage)
	}
	if r := send("mail.sender.example"); r.Stage != "connect" || !strings.Contains(r.Action.SMTPReply, "Banned for dictionary attacks") {
		t.Fatalf("after the ban: %v at %s", r.Action, r.Stage)
	}
	code, out, _ := capture(t, func() int { return run([]string{"blacklist", "list", "-c", cfg}) })
	if code != 0 || !strings.Contains(out, "ip    198.51.100.7") || !strings.Contains(out, "4 demerits, last: HELO mx.example.org") {
		t.Errorf("blacklist list: %d\n%s", code, out)
	}
	if code, out, _ := capture(t, func() int { return run([]string{"blacklist", "delete", "-c", cfg, "--ip", "198.51.100.7"}) }); code != 0 || !strings.Contains(out, "ban lifted") {
		t.Errorf("blacklist delete: %d %s", code, out)
	}
	m.WaitFor(t, "the client accepted after the ban was lifted", func() bool { return send("mail.sender.example").Accepted() })
	if code, _, errs := capture(t, func() int { return run([]string{"blacklist", "delete", "-c", cfg, "--ip", "198.51.100.7"}) }); code != exitFailure || !strings.Contains(errs, "not banned") {
		t.Errorf("deleting a ban that is not there: %d %s", code, errs)
	}
	// A sender put on the blacklist by hand.
	if code, out, _ := capture(t, func() int {
		return run([]string{"blacklist", "add", "-c", cfg, "--sender", "Alice@Sender.example", "--reason", "complaints"})
	}); code != 0 || !strings.Contains(out, "sender alice@sender.example: banned") {
		t.Errorf("blacklist add --sender: %d %s", code, out)
	}
	m.WaitFor(t, "the sender blacklisted by hand refused", func() bool {
		r := send("mail.sender.example")
		return !r.Accepted() && strings.Contains(r.Action.SMTPReply, "Sender email local blacklist")
	})
	// A reason that would break a line of the listing or the mail log.
	if code, _, errs := capture(t, func() int {
		return run([]string{"blacklist", "add", "-c", cfg, "--ip", "192.0.2.99", "--reason", "a\nb"})
	}); code != exitUsage || !strings.Contains(errs, "no control characters") {
		t.Errorf("a reason with a line break: %d %q", code, errs)
	}
	if code, _, _ := capture(t, func() int { return run([]string{"blacklist", "add", "-c", cfg, "--sender", "nobody"}) }); code != exitUsage {
		t.Errorf("a sender without @: status %d", code)
	}
}
