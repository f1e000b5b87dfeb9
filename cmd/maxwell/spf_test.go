package main

import (
	"strings"
	"testing"
)

func TestSPFCommand(t *testing.T) {
	cfgPath, _ := writeConfig(t, t.TempDir(), checkConfig)
	for _, c := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"pass", []string{"--ip", "198.51.100.7", "--helo", "mail.sender.example", "--sender", "alice@sender.example"}, exitOK, []string{
			"mailfrom   pass (domain sender.example; ip4:198.51.100.0/24)",
			"policy     OK (for pass)",
			"Received-SPF: pass (mx.example.org: domain of alice@sender.example designates 198.51.100.7",
			"Authentication-Results: ",
			"iprev=pass (mail.sender.example) policy.iprev=198.51.100.7",
		}},
		{"fail, traced", []string{"--trace", "--ip", "198.51.100.7", "--helo", "mail.sender.example", "--sender", "<bob@forged.example>"}, exitReject, []string{
			`  TXT forged.example: ["v=spf1 mx -all"]`,
			"  MX forged.example: 0 hosts",
			"mailfrom   fail (domain forged.example; -all)",
			"helo       none (best guess pass)",
			"policy     REJECT (for fail)",
			"answer     reject 550 5.7.23 SPF fail: forged.example does not designate 198.51.100.7 as a permitted sender",
		}},
		{"null sender", []string{"--ip", "198.51.100.7", "--helo", "mail.sender.example"}, exitOK, []string{
			"helo       none (domain mail.sender.example; no SPF record)",
			"guess      pass (a/24)",
			"Received-SPF: none (mx.example.org: domain of postmaster@mail.sender.example does not designate permitted sender hosts)",
		}},
		{"internal client", []string{"--ip", "192.0.2.10", "--helo", "pc10", "--sender", "carol@example.org"}, exitOK, []string{
			"no SPF check: the client is internal or trusted",
		}},
		{"no address", []string{"--helo", "x"}, exitUsage, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := capture(t, func() int { return run(append([]string{"spf", "-c", cfgPath}, c.args...)) })
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s%s", code, c.code, out, errOut)
			}
			if testing.Verbose() {
				t.Log(out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
