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
	"syscall"
	"testing"
	"text/template"
	"time"
)

// Postfix is a private Postfix instance.
type Postfix struct {
	Dir  string // config in Dir/etc, queue in Dir/spool, log in Dir/maillog
	Addr string // smtpd, host:port on 127.0.0.1
}

// PostfixOptions configure an instance.
type PostfixOptions struct {
	Milter   string // smtpd_milters, e.g. "inet:127.0.0.1:8895"
	RelayTo  string // host:port of the sink all mail goes to
	Domains  string // relay_domains: mail for these is accepted from anyone
	Hostname string // myhostname; "" for mx.example.org
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

	p := &Postfix{Dir: dir, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))}
	relayHost, relayPort, err := net.SplitHostPort(o.RelayTo)
	if err != nil {
		t.Fatalf("RelayTo: %v", err)
	}
	if o.Hostname == "" {
		o.Hostname = "mx.example.org"
	}
	vars := struct {
		PostfixOptions
		Dir, Addr, RelayHost, RelayPort string
	}{o, dir, p.Addr, relayHost, relayPort}
	for name, tmpl := range map[string]*template.Template{"main.cf": mainCf, "master.cf": masterCf} {
		var b bytes.Buffer
		if err := tmpl.Execute(&b, vars); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "etc", name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("postfix", "-c", filepath.Join(dir, "etc"), "start").CombinedOutput(); err != nil {
		t.Fatalf("postfix start: %v\n%s\n%s", err, out, p.Log())
	}
	t.Cleanup(p.stop)
	if err := waitListen(p.Addr, 10*time.Second); err != nil {
		t.Fatalf("postfix smtpd: %v\n%s", err, p.Log())
	}
	return p
}

// Log returns Postfix's log.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "maillog"))
	return string(b)
}

// stop stops the master by its PID.
func (p *Postfix) stop() { stopByPIDFile(filepath.Join(p.Dir, "spool", "pid", "master.pid")) }

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
queue_directory = {{.Dir}}/spool
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
{{.Addr}} inet n - n - - smtpd
cleanup   unix n - n - 0 cleanup
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
