//go:build debtest

// Package deb is end-to-end scenario t-15: the Debian package, installed
// as docs/setup-postfix.md and docs/setup-sendmail.md say, and those two
// pages followed verbatim: every fenced block in them is run or applied,
// and the test fails for one it did not use (docs_test.go). It builds
// the package with the pages' make deb and installs it with their apt
// install; checks it with lintian, the unit with systemd-analyze, the man
// pages with man, the files' owners and modes; starts maxwell as the unit
// does (its ExecStart, as its User and Group, under its UMask, in the
// directories it declares — without its sandbox, which only systemd sets
// up, and CI runs no systemd); runs a private Postfix as Debian's runs,
// in /var/spool/postfix, chrooted, on port 25, with the pages' main.cf
// lines; runs the pages' swaks checks and their watcher
// setup; then Sendmail on port 25 with the page's maxwell.toml and
// sendmail.mc lines and its checks; then purges the package and checks
// that nothing of it is left.
//
// It installs into the machine's own /etc, /usr and /var and runs its
// MTAs on port 25, so it needs root, refuses to run where maxwell is
// installed already or a Postfix runs, and runs on its own, after the
// other tests (make test-deb, from make test):
// go test -tags debtest ./test/t-15-deb.
package deb

import (
	"bufio"
	"fmt"
	"net"
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
	// The package's socket, in Postfix's spool.
	postfixSocket = "/var/spool/postfix/maxwell/maxwell.sock"
	// The syslog file setup-postfix.md has the watcher read.
	mailLog = "/var/log/mail.log"
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
	// The setup documents' Postfix runs as Debian's does: in
	// /var/spool/postfix, listening on port 25, logging (for the
	// watcher) to /var/log/postfix.log; the Sendmail one on port 25 too.
	if pid, err := os.ReadFile("/var/spool/postfix/pid/master.pid"); err == nil {
		if n, _ := strconv.Atoi(strings.TrimSpace(string(pid))); n > 1 && syscall.Kill(n, 0) == nil {
			t.Fatalf("a Postfix master (pid %d) runs in /var/spool/postfix: stop it (postfix stop); this test runs its own there", n)
		}
	}
	if c, err := net.Dial("tcp", "127.0.0.1:25"); err == nil {
		c.Close()
		t.Fatal("something listens on 127.0.0.1:25: this test runs the setup documents' MTAs there")
	}
	if _, err := os.Lstat(mailLog); err == nil {
		t.Fatalf("%s exists: it is an administrator's; this test would write and remove it", mailLog)
	}
	t.Cleanup(func() { os.Remove(mailLog) })

	docs := readSetupDocs(t, "setup-postfix.md", "setup-sendmail.md")
	deb := installAsDocumented(t, docs)
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
			{filepath.Dir(postfixSocket), "maxwell", "postfix", 0o750 | os.ModeDir},
			{"/etc/systemd/system/multi-user.target.wants/maxwell.service", "", "", 0}, // enabled
		} {
			checkFile(t, f.path, f.owner, f.group, f.mode)
		}
	})

	t.Run("the conffile is what setup-postfix.md shows", func(t *testing.T) {
		checkQuickstartConf(t, docs.take(t, "setup-postfix.md", "# "+conffile, 2)[0])
	})

	unit := readUnit(t, unitPath)
	// The sender of the tests' own domain, and the three IANA example
	// domains as the DNS has them: each publishes "v=spf1 -all".
	dns, err := dnstest.Start(
		"sender.example. TXT \"v=spf1 ip4:198.51.100.0/24 -all\"",
		"7.100.51.198.in-addr.arpa. PTR mail.sender.example.",
		"mail.sender.example. A 198.51.100.7",
		"example.com. TXT \"v=spf1 -all\"",
		"example.net. TXT \"v=spf1 -all\"",
		"example.org. TXT \"v=spf1 -all\"",
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	// As an administrator would: the DNS server in the installed file
	// (here the test's, on loopback).
	setDNS(t, dns.Addr)
	daemon := startAsUnit(t, unit, postfixSocket)
	checkFile(t, postfixSocket, "maxwell", "postfix", 0o660|os.ModeSocket)

	// The syslog file, as Debian's rsyslog makes it: root:adm 0640.
	if err := os.WriteFile(mailLog, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	run(t, "chgrp", "adm", mailLog)
	sink := mtatest.StartSink(t)
	pf := mtatest.StartPostfix(t, mtatest.PostfixOptions{
		RelayTo: sink.Addr, Domains: "example.org", Addr: "127.0.0.1:25",
		QueueDir: "/var/spool/postfix", Chroot: true,
		// Where rsyslog would write Postfix's lines (CI runs no
		// syslog daemon): Postfix writes them there itself.
		MainCf: "maillog_file_prefixes = /var\nmaillog_file = " + mailLog + "\n" +
			strings.Join(docs.take(t, "setup-postfix.md", "# /etc/postfix/main.cf", 2), ""),
	})
	checks := docs.commands("setup-postfix.md")
	if len(checks) != 4 {
		t.Fatalf("docs/setup-postfix.md shows %d commands, want 4 (internal, SPF fail, greylisted, numeric HELO)", len(checks))
	}

	t.Run("setup-postfix.md: a message from the server itself", func(t *testing.T) {
		runCommand(t, checks[0], "/")
		checkDelivered(t, sink, daemon, `X-Maxwell-Connection: class="INTERNAL LOCAL"`)
	})
	t.Run("a message submitted with sendmail (non_smtpd_milters)", func(t *testing.T) {
		pf.Submit(t, "root", "you@example.org", "Subject: submitted locally\n\nHello.\n")
		checkDelivered(t, sink, daemon, `X-Maxwell-Connection: class="INTERNAL LOCAL"`)
	})
	t.Run("setup-postfix.md: SPF fail, greylisting, a numeric HELO", func(t *testing.T) {
		for _, c := range checks[1:] {
			runCommand(t, c, "/")
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
		c := envelope(t, pf, daemon, "198.51.100.7", "mail.sender.example", "MAIL FROM:<alice@sender.example>", "RCPT TO:<bob@example.org>")
		if r := c.Data("From: alice@sender.example\r\nSubject: hello\r\n\r\nHello Bob.\r\n"); r.Code != 250 {
			t.Fatalf("end of data: %s\n%s", r, daemon.log())
		}
		checkDelivered(t, sink, daemon, "Received-SPF: pass", "Authentication-Results: ", `X-Maxwell-Connection: class="EXTERNAL"`)
	})

	// setup-postfix.md's watcher: maxwell in group adm, restarted with
	// [watch] mta_log.
	run(t, "adduser", "maxwell", "adm")
	t.Cleanup(func() { exec.Command("gpasswd", "-d", "maxwell", "adm").Run() })
	applyToml(t, docs.take(t, "setup-postfix.md", "# "+conffile, 2)[1])
	daemon.stop(t)
	daemon = startAsUnit(t, unit, postfixSocket)
	t.Run("setup-postfix.md: the watcher reads the syslog file", func(t *testing.T) {
		checkWatcher(t, pf, daemon)
	})

	pf.Stop()
	daemon.stop(t)
	// Written at the latest at the stop.
	if b, err := os.ReadFile("/var/log/maxwell/mail.log"); err != nil || strings.Count(string(b), "event=eom action=accept") != 3 {
		t.Errorf("the mail log does not hold the three messages accepted (%v):\n%s", err, b)
	}

	t.Run("setup-sendmail.md", func(t *testing.T) {
		sendmailAsDocumented(t, docs, unit, sink)
	})

	docs.checkAllUsed(t)
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

// installAsDocumented runs setup-postfix.md's install commands (as root,
// without sudo): make deb in the source tree, with the package written
// to a temporary directory, and apt install there. It returns the
// package's path.
func installAsDocumented(t *testing.T, docs setupDocs) string {
	t.Helper()
	steps := strings.Split(strings.TrimSuffix(docs.take(t, "setup-postfix.md", "make deb", 1)[0], "\n"), "\n")
	if len(steps) != 1 || !strings.HasPrefix(steps[0], "sudo ") {
		t.Fatalf("docs/setup-postfix.md: after make deb, one sudo command expected: %q", steps)
	}
	dir := t.TempDir()
	build := exec.Command("make", "deb")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "OUT="+dir)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "maxwell_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb made %q", debs)
	}
	install := exec.Command("sh", "-c", strings.TrimPrefix(steps[0], "sudo "))
	install.Dir = dir
	install.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", steps[0], err, out)
	}
	return debs[0]
}

// checkDelivered waits for the next message at the sink and checks that
// its header holds each of the fields given (by their start).
func checkDelivered(t *testing.T, sink *mtatest.Sink, daemon *unitDaemon, fields ...string) {
	t.Helper()
	m, ok := sink.Next(30 * time.Second)
	if !ok {
		t.Fatalf("nothing delivered in 30 s\n%s", daemon.log())
	}
	head, _, _ := strings.Cut(m.Data, "\r\n\r\n")
	for _, want := range fields {
		if !strings.Contains("\r\n"+head, "\r\n"+want) {
			t.Errorf("the delivered message lacks %q:\n%s", want, head)
		}
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
func startAsUnit(t *testing.T, unit map[string]string, socket string) *unitDaemon {
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
// shows as the package's (block) are, line for line, the settings of the
// installed configuration: the keys set there, and no other.
func checkQuickstartConf(t *testing.T, block string) {
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

// applyToml sets in the installed configuration the keys of a block of
// a setup document, section by section, as an administrator edits the
// file: each replaces the line that sets it or shows it commented out
// at its default in that section.
func applyToml(t *testing.T, block string) {
	t.Helper()
	b, err := os.ReadFile(conffile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	section := ""
	for _, l := range strings.Split(block, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "["):
			section = l
		default:
			key, _, _ := strings.Cut(l, " = ")
			if !setTomlLine(lines, section, key, l) {
				t.Fatalf("%s: no %s %s line to change for %q", conffile, section, key, l)
			}
		}
	}
	if err := os.WriteFile(conffile, []byte(strings.Join(lines, "\n")), 0o640); err != nil {
		t.Fatal(err)
	}
}

// setTomlLine replaces, in the section of a configuration file's lines,
// the line that sets key, or else the one that shows it commented out at
// its default ("# key = ").
func setTomlLine(lines []string, section, key, line string) bool {
	for _, prefix := range []string{key + " = ", "# " + key + " = "} {
		cur := ""
		for i, l := range lines {
			switch {
			case strings.HasPrefix(l, "["):
				cur = strings.TrimSpace(l)
			case cur == section && strings.HasPrefix(l, prefix):
				lines[i] = line
				return true
			}
		}
	}
	return false
}

// envelope opens a session to Postfix as the client ip, named helo
// (XCLIENT), and sends commands, each of which must be accepted.
func envelope(t *testing.T, pf *mtatest.Postfix, daemon *unitDaemon, ip, helo string, commands ...string) *mtatest.Client {
	t.Helper()
	c, _ := mtatest.Session(t, pf.Addr, ip, helo)
	for _, cmd := range commands {
		if r := c.Cmd("%s", cmd); r.Code != 250 {
			t.Fatalf("%s: %s\n%s", cmd, r, daemon.log())
		}
	}
	return c
}

// checkWatcher checks setup-postfix.md's watcher section, maxwell in
// group adm and restarted with its [watch] mta_log, Postfix logging to
// that file as rsyslog makes it: a client greylisted that then hangs up
// is blacklisted.
func checkWatcher(t *testing.T, pf *mtatest.Postfix, daemon *unitDaemon) {
	t.Helper()
	if !strings.Contains(daemon.log(), `msg="watching the MTA log" log=`+mailLog) {
		t.Errorf("maxwell does not say it watches %s:\n%s", mailLog, daemon.log())
	}
	checkFile(t, mailLog, "root", "adm", 0o640)
	// A bounce is greylisted at DATA.
	c := envelope(t, pf, daemon, "192.0.2.2", "mail.example.net", "MAIL FROM:<>", "RCPT TO:<you@example.org>")
	if r := c.Cmd("DATA"); r.Code != 451 {
		t.Fatalf("DATA from a new client: %s, want 451 (greylisted)\n%s", r, daemon.log())
	}
	c.Drop() // no QUIT
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err := exec.Command("/usr/sbin/maxwell", "blacklist", "list").CombinedOutput()
		if err == nil && strings.Contains(string(out), "192.0.2.2") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("192.0.2.2 not blacklisted 30 s after it hung up when greylisted (%v):\n%s\nmaxwell:\n%s\nPostfix:\n%s", err, out, daemon.log(), pf.Log())
		}
	}
}

// sendmailAsDocumented follows setup-sendmail.md with the installed
// package: its maxwell.toml lines, maxwell restarted, a private Sendmail
// on port 25 with its INPUT_MAIL_FILTER line; then its checks from
// loopback.
func sendmailAsDocumented(t *testing.T, docs setupDocs, unit map[string]string, sink *mtatest.Sink) {
	blocks := docs.take(t, "setup-sendmail.md", "# "+conffile, 2)
	applyToml(t, blocks[0])
	socket := strings.TrimPrefix(tomlValue(t, blocks[0], "socket"), "unix:")
	daemon := startAsUnit(t, unit, socket)
	defer daemon.stop(t)
	checkFile(t, socket, "maxwell", "maxwell", 0o660|os.ModeSocket)
	filter := docs.take(t, "setup-sendmail.md", "dnl # /etc/mail/sendmail.mc", 1)[0]
	mtatest.StartSendmail(t, mtatest.SendmailOptions{Filter: filter, RelayTo: sink.Addr, Domains: "example.org", Addr: "127.0.0.1:25"})
	checks := docs.commands("setup-sendmail.md")
	if len(checks) != 3 {
		t.Fatalf("docs/setup-sendmail.md shows %d commands, want 3 (internal, SPF fail, greylisted)", len(checks))
	}
	runCommand(t, checks[0], "/")
	checkDelivered(t, sink, daemon, `X-Maxwell-Connection: class="INTERNAL LOCAL"`)
	// loopback_internal is read again on SIGHUP (ExecReload).
	applyToml(t, blocks[1])
	daemon.cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(daemon.log(), "configuration reloaded"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no reload 10 s after SIGHUP:\n%s", daemon.log())
		}
	}
	for _, c := range checks[1:] {
		runCommand(t, c, "/")
	}
}

// tomlValue is the string a block of a setup document gives key.
func tomlValue(t *testing.T, block, key string) string {
	t.Helper()
	for _, l := range strings.Split(block, "\n") {
		if k, v, ok := strings.Cut(l, " = "); ok && k == key {
			if s, err := strconv.Unquote(v); err == nil {
				return s
			}
		}
	}
	t.Fatalf("no %s in\n%s", key, block)
	return ""
}
