package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

// maxwell bench against a maxwell daemon: a few hundred messages, as a
// smoke test of the tool (its figures are not checked).
func TestBenchTool(t *testing.T) {
	dir := t.TempDir()
	port := mtatest.FreePort(t)
	cfg, _ := writeConfig(t, dir, fmt.Sprintf("[milter]\nsocket = \"inet:%d@127.0.0.1\"\ninternal_connect = [\"192.0.2.0/24\"]\n"+
		"[dns]\nservers = [\"DNS\"]\ntimeout = \"300ms\"\n[log]\nmail_log = %q\n", port, dir+"/mail.log"))
	m := mtatest.StartMaxwell(t, dir, cfg)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	m.WaitListen(t, addr)

	code, out, errs := capture(t, func() int {
		return run([]string{"bench", "-q", "--json", "--addr", "inet:" + addr, "-n", "300", "-c", "4", "-per-conn", "3",
			"-ips", "192.0.2.7,198.51.100.7", "-from", "alice@sender.example", "-rcpt", "bob@example.org"})
	})
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil {
		t.Fatalf("status %d, %v\n%s%s", code, err, out, errs)
	}
	// Internal clients are accepted with a header; the external one is
	// greylisted at RCPT.
	if rep.Messages != 300 || rep.Failed != 0 || rep.Connections != 100 ||
		rep.Actions["accept"] != 150 || rep.Actions["tempfail at rcpt"] != 150 || rep.Mods["insert_header"] != 150 {
		t.Errorf("report %+v", rep)
	}
	if code, _, errs := capture(t, func() int { return run([]string{"bench", "--addr", "inet:192.0.2.1:25", "-n", "1"}) }); code != exitUsage || !strings.Contains(errs, "not on this host") {
		t.Errorf("a remote milter: status %d, %s", code, errs)
	}
}
