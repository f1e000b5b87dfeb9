package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/d--j/go-milter"

	"github.com/maxwell-milter/maxwell/internal/mtaclient"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
	"github.com/maxwell-milter/maxwell/policy"
)

// maxwell srs and maxwell ses, as an administrator runs them: one result
// a line, what fails on stderr with the exit status.
func TestSRSCommands(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "maxwell.toml")
	os.WriteFile(conf, []byte("[milter]\ndatadir = \""+dir+"\"\n[srs]\nsecret = [\"cli secret\"]\nfwdomain = \"fwd.example\"\nses = [\"ours.example\"]\n"), 0o600)
	run1 := func(args ...string) (int, string, string) {
		t.Helper()
		return capture(t, func() int { return run(append(args[:2:2], append([]string{"-c", conf}, args[2:]...)...)) })
	}

	code, out, stderr := run1("srs", "forward", "bob@remote.example", `"john smith"@remote.example`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 2 || !strings.HasPrefix(lines[0], "SRS0=") || !strings.HasSuffix(lines[0], "=remote.example=bob@fwd.example") {
		t.Fatalf("srs forward: exit %d\n%s%s", code, out, stderr)
	}
	code, out, _ = run1("srs", "reverse", lines[0], lines[1])
	if code != exitOK || out != "bob@remote.example\n\"john smith\"@remote.example\n" {
		t.Errorf("srs reverse: exit %d, %q", code, out)
	}
	code, out, stderr = run1("srs", "reverse", "SRS0=AAAAAAAA=AA=x.example=y@fwd.example", lines[0])
	if code != exitFailure || out != "bob@remote.example\n" || !strings.Contains(stderr, `"SRS0=AAAAAAAA=AA=x.example=y@fwd.example": Invalid hash`) {
		t.Errorf("srs reverse of a forgery: exit %d, %q, %q", code, out, stderr)
	}
	code, out, _ = run1("srs", "forward", "--fwdomain", "other.example", "bob@remote.example")
	if code != exitOK || !strings.HasSuffix(out, "@other.example\n") {
		t.Errorf("srs forward --fwdomain: exit %d, %q", code, out)
	}
	// As the forward map: our own senders are left as they are; flags
	// may follow the addresses.
	code, out, stderr = capture(t, func() int {
		return run([]string{"srs", "forward", "alice@ours.example", "bob@fwd.example", "-c", conf})
	})
	if code != exitOK || out != "alice@ours.example\nbob@fwd.example\n" {
		t.Errorf("srs forward of our own senders, -c last: exit %d, %q %s", code, out, stderr)
	}

	code, out, _ = run1("srs", "rrs", "--forwarder", "alumni.example", "alice@ours.example")
	alias := strings.TrimSpace(out)
	if code != exitOK || !strings.HasPrefix(alias, "RRS=") {
		t.Fatalf("srs rrs: exit %d, %q", code, out)
	}
	if code, out, _ := run1("srs", "reverse", alias); code != exitOK || out != "alice@ours.example\n" {
		t.Errorf("srs reverse of the RRS alias: exit %d, %q", code, out)
	}
	if code, _, stderr := run1("srs", "rrs", "alice@ours.example"); code != exitUsage || !strings.Contains(stderr, "--forwarder") {
		t.Errorf("srs rrs without --forwarder: exit %d, %q", code, stderr)
	}
	if code, _, stderr := run1("srs", "rrs", "--forwarder", "192.0.2.1", "alice@ours.example"); code != exitFailure || !strings.Contains(stderr, "is not a forwarder's domain") {
		t.Errorf("srs rrs --forwarder of an address: exit %d, %q", code, stderr)
	}

	code, out, _ = run1("ses", "sign", "Alice@Ours.Example")
	signed := strings.TrimSpace(out)
	if code != exitOK || !strings.HasPrefix(signed, "SES=") || !strings.HasSuffix(signed, "=alice@Ours.Example") {
		t.Fatalf("ses sign: exit %d, %q, want SES=…=alice@Ours.Example (the local part in lower case)", code, out)
	}
	if code, out, _ := run1("ses", "check", strings.ToLower(signed)); code != exitOK || out != "alice@ours.example\n" {
		t.Errorf("ses check in lower case: exit %d, %q", code, out)
	}
	if code, _, stderr := run1("ses", "check", "SES=AAAA=alice@ours.example"); code != exitFailure || !strings.Contains(stderr, "Invalid SES signature") {
		t.Errorf("ses check of a forgery: exit %d, %q", code, stderr)
	}

	// Without a secret, or without an operation, it says so.
	os.WriteFile(conf, []byte("[milter]\ndatadir = \""+dir+"\"\n"), 0o600)
	if code, _, stderr := run1("srs", "forward", "bob@remote.example"); code != exitUsage || !strings.Contains(stderr, "[srs] secret is not set") {
		t.Errorf("without a secret: exit %d, %q", code, stderr)
	}
	if code, _, stderr := capture(t, func() int { return run([]string{"ses", "verify"}) }); code != exitUsage || !strings.Contains(stderr, "usage: maxwell ses sign|check") {
		t.Errorf("ses verify: exit %d, %q", code, stderr)
	}
}

// The daemon with [srs]: the socket map on a unix socket of mode 0660,
// the milter signing an internal sender (chgfrom, over the milter
// protocol), and a reload replacing the secret: addresses made with the
// old one stay good while it is listed, and no longer once dropped.
func TestServeSRS(t *testing.T) {
	dir := t.TempDir()
	sock, mapSock, logPath := filepath.Join(dir, "maxwell.sock"), filepath.Join(dir, "srs.sock"), filepath.Join(dir, "mail.log")
	conf := func(secret string) string {
		return strings.NewReplacer("SOCK", sock, "LOG", logPath, "HELO", "").Replace(serveConfig) +
			"\n[srs]\nsecret = " + secret + "\nfwdomain = \"fwd.example\"\nses = [\"example.org\"]\nsocketmap = \"unix:" + mapSock + "\"\n"
	}
	cfgPath, dnsAddr := writeConfig(t, dir, conf(`"one"`))
	m := mtatest.StartMaxwell(t, dir, cfgPath)
	m.WaitListen(t, sock)
	m.WaitListen(t, mapSock)
	if fi, _ := os.Stat(mapSock); fi.Mode().Perm() != 0o660 {
		t.Errorf("socket map mode %v, want 0660", fi.Mode().Perm())
	}
	ask := func(mapName, key string) string {
		t.Helper()
		c, err := net.Dial("unix", mapSock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		req := mapName + " " + key
		fmt.Fprintf(c, "%d:%s,", len(req), req)
		var n int
		if _, err := fmt.Fscanf(c, "%d:", &n); err != nil {
			t.Fatalf("%s %s: %v", mapName, key, err)
		}
		b := make([]byte, n+1)
		io.ReadFull(c, b)
		return string(b[:n])
	}
	fwd := ask("forward", "alice@sender.example")
	if !strings.HasPrefix(fwd, "OK SRS0=") {
		t.Fatalf("forward: %q", fwd)
	}
	fwd = strings.TrimPrefix(fwd, "OK ")

	// An internal client's message from example.org to outside: its
	// sender is changed to an SES address.
	r, err := mtaclient.Send("unix", sock, policy.Transaction{
		Conn: policy.ConnInfo{IP: netip.MustParseAddr("127.0.0.1")}, Helo: "pc.example.org",
		Mail: policy.MailInfo{Sender: "Bob@example.org"}, Rcpts: []string{"carol@remote.example"},
	}, []byte("Hi\r\n"))
	if err != nil || !r.Accepted() {
		t.Fatalf("internal message: %v %v", r.Action, err)
	}
	var from string
	for _, mod := range r.Mods {
		if mod.Type == milter.ActionChangeFrom {
			from = mod.From
		}
	}
	if !strings.HasPrefix(from, "<SES=") || !strings.HasSuffix(from, "=bob@example.org>") {
		t.Errorf("chgfrom %q, want <SES=…=bob@example.org>", from)
	}

	reload := func(secret string) {
		t.Helper()
		m.Stderr.Reset()
		os.WriteFile(cfgPath, []byte(strings.Replace(conf(secret), "DNS", dnsAddr, 1)), 0o644)
		m.Cmd.Process.Signal(syscall.SIGHUP)
		m.WaitFor(t, "the reload", func() bool { return strings.Contains(m.Stderr.String(), "configuration reloaded") })
	}
	reload(`["two", "one"]`)
	if got := ask("reverse", fwd); got != "OK alice@sender.example" {
		t.Errorf("after the new secret, the old address: %q", got)
	}
	if got := ask("forward", "alice@sender.example"); got == "OK "+fwd {
		t.Errorf("the new secret does not sign: %q", got)
	}
	reload(`"two"`)
	if got := ask("reverse", fwd); got != "NOTFOUND " {
		t.Errorf("the old secret dropped, the old address: %q", got)
	}
	m.WaitFor(t, "the refusal in the mail log", func() bool {
		return strings.Contains(mustRead(t, logPath), `event=srsmap map=reverse key="`+fwd+`" answer="NOTFOUND " reason="Invalid hash"`)
	})
}
