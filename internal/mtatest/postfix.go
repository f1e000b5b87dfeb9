// Package mtatest runs real MTAs for end-to-end tests: a private Postfix
// with its own configuration, queue and data directories in a temporary
// directory, listening on a loopback port, relaying everything to a sink
// SMTP server run by the test; and an SMTP client to talk to it.
package mtatest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// Postfix is a private Postfix instance.
type Postfix struct {
	Dir   string // config in Dir/etc, queue in Dir/spool, log in Dir/maillog (see PostfixOptions)
	Addr  string // smtpd, host:port on 127.0.0.1
	queue string // queue_directory
	log   string // maillog_file
	stop  sync.Once
}

// PostfixOptions configure an instance.
type PostfixOptions struct {
	Milter   string // smtpd_milters, e.g. "inet:127.0.0.1:8895"
	RelayTo  string // host:port of the sink all mail goes to
	Domains  string // relay_domains: mail for these is accepted from anyone
	Hostname string // myhostname; "" for mx.example.org

	// The settings below run an instance as an administrator's would,
	// to test documented snippets verbatim.

	// MainCf holds main.cf lines: each replaces the instance's own
	// setting of that name, or is added.
	MainCf string
	// MasterCf holds master.cf lines: each replaces the instance's own
	// service of that name and type, or is added.
	MasterCf string
	// QueueDir is queue_directory, "" for Dir/spool: Debian's
	// /var/spool/postfix runs the instance where the package's socket
	// directory is (a master of its own must not run there).
	QueueDir string
	// Chroot runs smtpd, cleanup and pickup chrooted in the queue
	// directory, as Debian's master.cf does.
	Chroot bool
	// Addr is smtpd's host:port; "" for a free port on 127.0.0.1.
	Addr string
}

// FreePort returns a loopback TCP port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartPostfix starts an instance and stops it (by its master's PID) when
// the test ends. It needs root and the postfix package; CI's .ci/run
// installs it.
func StartPostfix(t testing.TB, o PostfixOptions) *Postfix {
	t.Helper()
	if _, err := exec.LookPath("postfix"); err != nil {
		t.Fatal("postfix is not installed: apt-get install postfix (.ci/run does)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("a private Postfix needs root to start its master process")
	}
	pfUser, err := user.Lookup("postfix")
	if err != nil {
		t.Fatal("no postfix user: install the postfix package")
	}
	// Postfix's unprivileged processes must reach the queue, so the
	// directory must be traversable (t.TempDir's are not).
	dir, err := os.MkdirTemp("", "maxwell-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"etc", "spool", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(dir, 0o755)
	uid, _ := strconv.Atoi(pfUser.Uid)
	os.Chown(filepath.Join(dir, "data"), uid, -1)

	p := &Postfix{Dir: dir, Addr: o.Addr, queue: o.QueueDir, log: filepath.Join(dir, "maillog")}
	if p.Addr == "" {
		p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
	}
	if p.queue == "" {
		p.queue = filepath.Join(dir, "spool")
	}
	relayHost, relayPort, err := net.SplitHostPort(o.RelayTo)
	if err != nil {
		t.Fatalf("RelayTo: %v", err)
	}
	if o.Hostname == "" {
		o.Hostname = "mx.example.org"
	}
	chroot := "n"
	if o.Chroot {
		chroot = "y"
	}
	vars := struct {
		PostfixOptions
		Dir, Addr, Queue, RelayHost, RelayPort, Chroot string
	}{o, dir, p.Addr, p.queue, relayHost, relayPort, chroot}
	for _, f := range []struct {
		name  string
		tmpl  *template.Template
		lines string
		key   func(line string) string
	}{{"main.cf", mainCf, o.MainCf, mainCfKey}, {"master.cf", masterCf, o.MasterCf, masterCfKey}} {
		var b bytes.Buffer
		if err := f.tmpl.Execute(&b, vars); err != nil {
			t.Fatal(err)
		}
		text := replaceLines(b.String(), f.lines, f.key)
		if f.name == "main.cf" {
			p.log = postconfValue(text, "maillog_file", p.log)
		}
		if err := os.WriteFile(filepath.Join(dir, "etc", f.name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("postfix", "-c", filepath.Join(dir, "etc"), "start").CombinedOutput(); err != nil {
		t.Fatalf("postfix start: %v\n%s\n%s", err, out, p.Log())
	}
	t.Cleanup(p.Stop)
	if err := waitListen(p.Addr, 10*time.Second); err != nil {
		t.Fatalf("postfix smtpd: %v\n%s", err, p.Log())
	}
	return p
}

// Log returns Postfix's log.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// Held waits up to d for messages in the hold queue (quarantined by a
// milter) and returns their queue files.
func (p *Postfix) Held(d time.Duration) []string {
	var held []string
	for deadline := time.Now().Add(d); len(held) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		held, _ = filepath.Glob(filepath.Join(p.queue, "hold", "*"))
	}
	return held
}

// LogPath is the file Postfix logs to (its maillog_file).
func (p *Postfix) LogPath() string { return p.log }

// Submit submits a message as a local user would, with Postfix's
// sendmail command and this instance's configuration: it goes through
// postdrop, pickup and cleanup (non_smtpd_milters).
func (p *Postfix) Submit(t testing.TB, from, to, message string) {
	t.Helper()
	cmd := exec.Command("sendmail", "-C", filepath.Join(p.Dir, "etc"), "-f", from, "--", to)
	cmd.Stdin = strings.NewReader(message)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sendmail -f %s %s: %v\n%s\n%s", from, to, err, out, p.Log())
	}
}

// Stop stops the master by its PID, before the test ends (it is
// stopped then anyway).
func (p *Postfix) Stop() {
	p.stop.Do(func() { stopByPIDFile(filepath.Join(p.queue, "pid", "master.pid")) })
}

// replaceLines puts lines into a configuration file's text: each
// replaces the file's line of the same key, or is added at the end.
func replaceLines(text, lines string, key func(string) string) string {
	out := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for _, l := range strings.Split(lines, "\n") {
		k := key(l)
		if k == "" {
			continue
		}
		replaced := false
		for i, old := range out {
			if key(old) == k {
				out[i], replaced = l, true
			}
		}
		if !replaced {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// mainCfKey is the parameter a main.cf line sets, "" for a comment or a
// blank line.
func mainCfKey(line string) string {
	k, _, ok := strings.Cut(line, "=")
	if !ok || strings.HasPrefix(strings.TrimSpace(line), "#") {
		return ""
	}
	return strings.TrimSpace(k)
}

// masterCfKey is the service (name and type) a master.cf line defines.
func masterCfKey(line string) string {
	f := strings.Fields(line)
	if len(f) < 8 || strings.HasPrefix(f[0], "#") {
		return ""
	}
	return f[0] + " " + f[1]
}

// postconfValue is the value main.cf's text gives key, or def.
func postconfValue(text, key, def string) string {
	for _, l := range strings.Split(text, "\n") {
		if mainCfKey(l) == key {
			_, v, _ := strings.Cut(l, "=")
			def = strings.TrimSpace(v)
		}
	}
	return def
}

// stopByPIDFile ends the daemon whose PID is the first line of path:
// SIGTERM, then SIGKILL if it is still there after 10s.
func stopByPIDFile(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 1 {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// waitListen waits until something accepts TCP connections on addr.
func waitListen(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %v", addr, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The instance: loopback only, no DNS, XCLIENT from loopback so tests can
// present any client address and name (IPv6 ones too, "ADDR=IPV6:...",
// which Postfix accepts only with IPv6 among its inet_protocols; smtpd
// still listens on 127.0.0.1 only), everything relayed to the sink.
var mainCf = template.Must(template.New("main.cf").Parse(`# private test instance written by maxwell's mtatest
compatibility_level = 3.6
queue_directory = {{.Queue}}
data_directory = {{.Dir}}/data
maillog_file = {{.Dir}}/maillog
maillog_file_prefixes = {{.Dir}}
syslog_name = postfix-maxwell-test
mail_owner = postfix
myhostname = {{.Hostname}}
mydomain = example.org
myorigin = $myhostname
mydestination =
local_recipient_maps =
relay_domains = {{.Domains}}
alias_maps =
alias_database =
relayhost = [{{.RelayHost}}]:{{.RelayPort}}
inet_interfaces = loopback-only
inet_protocols = all
mynetworks = 127.0.0.0/8
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_relay_restrictions = permit_auth_destination, reject
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_milters = {{.Milter}}
non_smtpd_milters =
milter_protocol = 6
milter_default_action = tempfail
biff = no
`))

var masterCf = template.Must(template.New("master.cf").Parse(`# service type private unpriv chroot wakeup maxproc command
{{.Addr}} inet n - {{.Chroot}} - - smtpd
pickup    unix n - {{.Chroot}} 60 1 pickup
cleanup   unix n - {{.Chroot}} - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
showq     unix n - n - - showq
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`))
