//go:build debtest

// Package deb is end-to-end scenario t-15: the Debian package, installed.
// It builds maxwell_*.deb (packaging/deb/build.sh), installs it with
// dpkg, checks it with lintian, the unit with systemd-analyze, the man
// pages with man, the files' owners and modes; starts maxwell as the
// unit does (its ExecStart, as its User and Group, under its UMask, in
// the directories it declares — without its sandbox, which only systemd
// sets up, and CI runs no systemd), points a private Postfix at the
// socket in Postfix's spool, sends mail through it, then purges the
// package and checks that nothing of it is left.
//
// It installs into the machine's own /etc, /usr and /var, so it needs
// root, refuses to run where maxwell is installed already, and runs on
// its own, after the other tests (make test-deb, from make test):
// go test -tags debtest ./test/t-15-deb.
package deb

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/dnstest"
	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

const (
	unitPath = "/lib/systemd/system/maxwell.service"
	conffile = "/etc/maxwell/maxwell.toml"
	socket   = "/var/spool/postfix/maxwell/maxwell.sock"
)

// What the package installs or its service makes, all gone after a purge.
var leftovers = []string{
	"/usr/sbin/maxwell", "/etc/maxwell", conffile, "/etc/logrotate.d/maxwell", unitPath,
	"/usr/lib/sysusers.d/maxwell.conf", "/usr/lib/tmpfiles.d/maxwell.conf",
	"/usr/share/man/man8/maxwell.8.gz", "/usr/share/man/man5/maxwell.toml.5.gz", "/usr/share/doc/maxwell",
	"/var/lib/maxwell", "/var/log/maxwell", "/run/maxwell", "/var/spool/postfix/maxwell",
	"/etc/systemd/system/multi-user.target.wants/maxwell.service",
}

func TestInstalledPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("installing a package needs root (CI runs as root)")
	}
	// Any trace of the package (installed, or its configuration kept)
	// is an administrator's, which this test would purge.
	if out, _ := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Status}", "maxwell").Output(); len(out) > 0 && string(out) != "not-installed" {
		t.Fatalf("maxwell is on this machine (%s): this test installs and purges its own; remove it first (dpkg --purge maxwell)", out)
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		// The package would start the real unit, and this test its own
		// maxwell beside it: run it where systemd does not run (CI).
		t.Fatal("systemd runs here: the package's postinst would start maxwell.service; run this test in a container without systemd, as CI does")
	}
	deb := buildPackage(t)
	run(t, "dpkg", "-i", deb)
	t.Cleanup(func() { exec.Command("dpkg", "--purge", "maxwell").Run() })

	t.Run("lintian", func(t *testing.T) {
		if _, err := exec.LookPath("lintian"); err != nil {
			t.Fatal("lintian is not installed: apt-get install lintian (.ci/run does)")
		}
		out, err := exec.Command("lintian", "--fail-on", "error,warning", deb).CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "E:") || strings.HasPrefix(line, "W:") {
				t.Errorf("lintian: %s", line)
			}
		}
		if err != nil && !t.Failed() {
			t.Errorf("lintian: %v\n%s", err, out)
		}
	})
	t.Run("unit, man pages, files", func(t *testing.T) {
		run(t, "systemd-analyze", "verify", unitPath)
		for _, page := range []string{"maxwell", "maxwell.toml"} {
			cmd := exec.Command("man", "--warnings", page)
			cmd.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || !strings.Contains(string(out), "NAME") || stderr.Len() > 0 {
				t.Errorf("man %s: %v\n%s\n%s", page, err, stderr.String(), out)
			}
		}
		for _, f := range []struct {
			path, owner, group string
			mode               os.FileMode
		}{
			{conffile, "root", "maxwell", 0o640}, // it may hold a database password
			{filepath.Dir(socket), "maxwell", "postfix", 0o750 | os.ModeDir},
			{"/etc/systemd/system/multi-user.target.wants/maxwell.service", "", "", 0}, // enabled
		} {
			checkFile(t, f.path, f.owner, f.group, f.mode)
		}
	})

	t.Run("the conffile is what setup-postfix.md shows", func(t *testing.T) {
		checkQuickstartConf(t)
	})

	unit := readUnit(t, unitPath)
	dns, err := dnstest.Start(
		"sender.example. TXT \"v=spf1 ip4:198.51.100.0/24 -all\"",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	// As an administrator would: the DNS server in the installed file
	// (here the test's, on loopback).
	setDNS(t, dns.Addr)
	daemon := startAsUnit(t, unit)
	checkFile(t, socket, "maxwell", "postfix", 0o660|os.ModeSocket)

	sink := mtatest.StartSink(t)
	pf := mtatest.StartPostfix(t, mtatest.PostfixOptions{Milter: "unix:" + socket, RelayTo: sink.Addr, Domains: "example.org"})

	t.Run("a local message", func(t *testing.T) {
		c := mtatest.DialSMTP(t, pf.Addr)
		for _, cmd := range []string{"EHLO localhost", "MAIL FROM:<root@localhost>", "RCPT TO:<bob@example.org>"} {
			if r := c.Cmd("%s", cmd); r.Code != 250 {
				t.Fatalf("%s: %s\n%s", cmd, r, daemon.log())
			}
		}
		if r := c.Data("Subject: from the package\r\n\r\nHello.\r\n"); r.Code != 250 {
			t.Fatalf("end of data: %s\n%s", r, daemon.log())
		}
		m := sink.Wait(t, 30*time.Second)
		if !strings.Contains(m.Data, "\r\nX-Maxwell-Connection: ") && !strings.HasPrefix(m.Data, "X-Maxwell-Connection: ") {
			t.Errorf("no X-Maxwell-Connection in the delivered message:\n%s", m.Data)
		}
	})

	t.Run("an external message, its triplet allowed from the command line", func(t *testing.T) {
		// The admin command, run as root without -c: the installed
		// configuration and the daemon's store.
		// SPF passes for sender.example: greylisting knows the client by
		// that domain.
		out, err := exec.Command("/usr/sbin/maxwell", "greylist", "allow", "--client", "sender.example",
			"--sender", "alice@sender.example", "--rcpt", "bob@example.org").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "configuration "+conffile+", store /var/lib/maxwell/maxwell.db") {
			t.Fatalf("greylist allow: %v\n%s", err, out)
		}
		c, _ := mtatest.Session(t, pf.Addr, "198.51.100.7", "mail.sender.example")
		for _, cmd := range []string{"MAIL FROM:<alice@sender.example>", "RCPT TO:<bob@example.org>"} {
			if r := c.Cmd("%s", cmd); r.Code != 250 {
				t.Fatalf("%s: %s\n%s", cmd, r, daemon.log())
			}
		}
		if r := c.Data("From: alice@sender.example\r\nSubject: hello\r\n\r\nHello Bob.\r\n"); r.Code != 250 {
			t.Fatalf("end of data: %s\n%s", r, daemon.log())
		}
		m := sink.Wait(t, 30*time.Second)
		head, _, _ := strings.Cut(m.Data, "\r\n\r\n")
		for _, want := range []string{"Received-SPF: pass", "Authentication-Results: ", "X-Maxwell-Connection: class=\"EXTERNAL\""} {
			if !strings.Contains("\r\n"+head, "\r\n"+want) {
				t.Errorf("the delivered message lacks %q:\n%s", want, head)
			}
		}
	})

	daemon.stop(t)
	// Written at the latest at the stop.
	if b, err := os.ReadFile("/var/log/maxwell/mail.log"); err != nil || strings.Count(string(b), "event=eom action=accept") != 2 {
		t.Errorf("the mail log does not hold the two messages accepted (%v):\n%s", err, b)
	}
	run(t, "dpkg", "--purge", "maxwell")
	for _, p := range leftovers {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is left after dpkg --purge", p)
		}
	}
	// Debian leaves a system user in place: files it owned elsewhere (a
	// backup of the store, say) keep an owner by name.
	if _, err := user.Lookup("maxwell"); err != nil {
		t.Errorf("the maxwell user is gone after the purge: %v", err)
	}
}

// checkFile checks that path exists with owner, group and mode, where
// they are given.
func checkFile(t *testing.T, path, owner, group string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if mode != 0 && fi.Mode()&(os.ModeType|os.ModePerm) != mode {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
	}
	if owner != "" {
		if u, err := user.LookupId(strconv.Itoa(int(st.Uid))); err != nil || u.Username != owner {
			t.Errorf("%s: owner %d, want %s", path, st.Uid, owner)
		}
	}
	if group != "" {
		if g, err := user.LookupGroupId(strconv.Itoa(int(st.Gid))); err != nil || g.Name != group {
			t.Errorf("%s: group %d, want %s", path, st.Gid, group)
		}
	}
}

// buildPackage runs make deb's script into a temporary directory.
func buildPackage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("packaging/deb/build.sh")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "OUT="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("packaging/deb/build.sh: %v\n%s", err, err.(*exec.ExitError).Stderr)
	}
	return strings.TrimSpace(string(out))
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// readUnit reads the [Service] settings of a unit file.
func readUnit(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			if k, v, ok := strings.Cut(line, "="); ok {
				settings[k] = v
			}
		}
	}
	return settings
}

// setDNS points the installed configuration's [dns] servers at addr.
func setDNS(t *testing.T, addr string) {
	t.Helper()
	b, err := os.ReadFile(conffile)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "\n[dns]\n", fmt.Sprintf("\n[dns]\nservers = [%q]\n", addr), 1)
	if text == string(b) {
		t.Fatalf("%s has no [dns] section", conffile)
	}
	if err := os.WriteFile(conffile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// unitDaemon is maxwell started as its unit would start it.
type unitDaemon struct {
	cmd    *exec.Cmd
	stderr *mtatest.Buffer
	done   chan error
}

// startAsUnit makes the directories the unit declares, owned by its
// user, and runs its ExecStart as that user, in its WorkingDirectory,
// under its UMask, as systemd would.
func startAsUnit(t *testing.T, unit map[string]string) *unitDaemon {
	t.Helper()
	u, err := user.Lookup(unit["User"])
	if err != nil {
		t.Fatalf("the unit's User=%s: %v (the package's postinst creates it)", unit["User"], err)
	}
	g, err := user.LookupGroup(unit["Group"])
	if err != nil {
		t.Fatalf("the unit's Group=%s: %v", unit["Group"], err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	var groups []uint32
	ids, _ := u.GroupIds()
	for _, id := range ids {
		n, _ := strconv.Atoi(id)
		groups = append(groups, uint32(n))
	}
	for _, d := range []struct{ key, root string }{{"StateDirectory", "/var/lib"}, {"LogsDirectory", "/var/log"}, {"RuntimeDirectory", "/run"}} {
		name := unit[d.key]
		if name == "" {
			t.Fatalf("the unit has no %s", d.key)
		}
		mode, err := strconv.ParseUint(unit[d.key+"Mode"], 8, 32)
		if err != nil {
			t.Fatalf("%sMode=%q: %v", d.key, unit[d.key+"Mode"], err)
		}
		path := filepath.Join(d.root, name)
		if err := os.MkdirAll(path, os.FileMode(mode)); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, os.FileMode(mode))
		if err := os.Chown(path, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	umask, err := strconv.ParseUint(unit["UMask"], 8, 32)
	if err != nil {
		t.Fatalf("UMask=%q: %v", unit["UMask"], err)
	}
	argv := strings.Fields(unit["ExecStart"])
	cmd := exec.Command("/bin/sh", append([]string{"-c", fmt.Sprintf("umask %04o && exec \"$0\" \"$@\"", umask)}, argv...)...)
	cmd.Dir = unit["WorkingDirectory"]
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}}
	d := &unitDaemon{cmd: cmd, stderr: &mtatest.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if fi, err := os.Stat(socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return d
		}
		select {
		case err := <-d.done:
			t.Fatalf("maxwell exited: %v\n%s", err, d.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket at %s after 10 s\n%s", socket, d.stderr)
		}
	}
}

func (d *unitDaemon) log() string { return d.stderr.String() }

// stop sends the unit's KillSignal and waits for a clean exit.
func (d *unitDaemon) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("maxwell's exit on SIGTERM: %v\n%s", err, d.stderr)
		}
	case <-time.After(45 * time.Second):
		t.Errorf("maxwell did not exit within the unit's TimeoutStopSec\n%s", d.stderr)
	}
}

// checkQuickstartConf checks that the settings docs/setup-postfix.md
// shows as the package's (its first toml block) are, line for line, the
// settings of the installed configuration: the keys set there, and no
// other.
func checkQuickstartConf(t *testing.T) {
	doc, err := os.ReadFile("../../docs/setup-postfix.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```toml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("docs/setup-postfix.md has no toml block")
	}
	conf, err := os.ReadFile(conffile)
	if err != nil {
		t.Fatal(err)
	}
	settings := func(text string) []string { // the sections and key lines, in order
		var out []string
		for _, l := range strings.Split(text, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		return out
	}
	var confKeys []string
	for _, l := range settings(string(conf)) {
		if !strings.HasPrefix(l, "[") {
			confKeys = append(confKeys, l)
		}
	}
	var docKeys []string
	for _, l := range settings(block) {
		if !strings.HasPrefix(l, "[") {
			docKeys = append(docKeys, l)
		}
	}
	if strings.Join(confKeys, "\n") != strings.Join(docKeys, "\n") {
		t.Errorf("%s sets\n%s\nbut docs/setup-postfix.md shows\n%s", conffile, strings.Join(confKeys, "\n"), strings.Join(docKeys, "\n"))
	}
}
