// Package miltertest drives maxwell with miltertest (Debian package
// miltertest, from the Sendmail project's libmilter): an implementation
// of the MTA side of the milter protocol that nobody here wrote. Each
// .lua script here is one scenario; it fails with error() and ends with
// mt.echo("ok: NAME").
package miltertest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const config = `
[milter]
socket = "inet:{port}@127.0.0.1"
delayed_reject = false
internal_domains = ["example.org"]
hostname = "mx.example.org"
`

func TestMiltertestScripts(t *testing.T) {
	if _, err := exec.LookPath("miltertest"); err != nil {
		t.Fatal("miltertest is not installed: apt-get install miltertest (.ci/run does)")
	}
	scripts, _ := filepath.Glob("*.lua")
	if len(scripts) == 0 {
		t.Fatal("no scripts")
	}
	st := mtatest.StartMilter(t, config,
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		`sender.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
		`strict.example. TXT "v=spf1 ip4:192.0.2.1 -all"`)
	socket := fmt.Sprintf("inet:%d@127.0.0.1", st.Port)
	for _, script := range scripts {
		name := strings.TrimSuffix(script, ".lua")
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command("miltertest", "-D", "socket="+socket, "-s", script).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "ok: "+name) {
				t.Errorf("miltertest -s %s: %v\n%s\nmaxwell mail log:\n%s", script, err, out, st.Log())
			}
		})
	}
}
