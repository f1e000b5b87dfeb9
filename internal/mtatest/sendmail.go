package mtatest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"
)

// Sendmail is a private Sendmail 8 instance.
type Sendmail struct {
	Dir  string // sendmail.cf, its queue (Dir/queue) and log (Dir/maillog)
	Addr string // the MTA daemon, host:port on 127.0.0.1
}

// SendmailOptions configure an instance.
type SendmailOptions struct {
	Milter  string // INPUT_MAIL_FILTER's socket, S=: "inet:8895@127.0.0.1" or "local:/path"
	Flags   string // its F=: "T" (tempfail when the milter is down, the default) or "R"
	RelayTo string // host:port of the sink all mail goes to
	Domains string // relayed for anyone: RELAY_DOMAIN
	// Filter, when set, is the whole INPUT_MAIL_FILTER line, in place
	// of the one Milter and Flags make: a documented snippet, verbatim.
	Filter string
	// Addr is the daemon's host:port; "" for a free port on 127.0.0.1.
	Addr string
	// Hostname is the instance's own name; "" for mx.example.org.
	Hostname string
	// Mc holds sendmail.mc lines for before the MAILER lines (FEATUREs),
	// AfterMailers lines for after them (HACKs); "{dir}" in them is the
	// instance's directory, where Maps are.
	Mc, AfterMailers string
	// Hacks are m4 files for the cf tree's hack/ directory, by name
	// ("pysrs.m4"), where HACK() finds them: the instance then builds its
	// .mc from a cf tree of its own, Sendmail's with these added.
	Hacks map[string][]byte
	// Maps are hash maps made with makemap in the instance's directory,
	// by name ("virtusertable"), from their text.
	Maps map[string]string
}

// SendmailRoot is where Sendmail's Debian packages are unpacked:
// $MAXWELL_SENDMAIL_ROOT, by default /opt/maxwell-test/sendmail. sendmail-bin
// conflicts with postfix as a package, so .ci/run unpacks it there with
// apt-get download and dpkg -x.
func SendmailRoot() string {
	if d := os.Getenv("MAXWELL_SENDMAIL_ROOT"); d != "" {
		return d
	}
	return "/opt/maxwell-test/sendmail"
}

// StartSendmail starts an instance as a daemon and stops it by its PID
// when the test ends. It needs root, m4, unshare and the unpacked
// packages (.ci/run provides them all). Sendmail logs only to syslog: if
// nothing listens on /dev/log, the instance's lines are caught there for
// the test (Log).
func StartSendmail(t testing.TB, o SendmailOptions) *Sendmail {
	t.Helper()
	root := SendmailRoot()
	bin := filepath.Join(root, "usr/libexec/sendmail/sendmail")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no Sendmail under %s: .ci/run unpacks it (apt-get download sendmail-bin sendmail-cf sendmail-base; dpkg -x)", root)
	}
	for _, tool := range []string{"m4", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (.ci/run installs it)", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("a private Sendmail daemon needs root")
	}
	dir, err := os.MkdirTemp("", "maxwell-sendmail-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	if err := os.Mkdir(filepath.Join(dir, "queue"), 0o700); err != nil {
		t.Fatal(err)
	}
	if o.Flags == "" {
		o.Flags = "T"
	}
	if o.Hostname == "" {
		o.Hostname = "mx.example.org"
	}
	cfDir := filepath.Join(root, "usr/share/sendmail/cf")
	if len(o.Hacks) > 0 {
		cfDir = privateCfTree(t, cfDir, filepath.Join(dir, "cf"), o.Hacks)
	}
	o.Mc = strings.ReplaceAll(o.Mc, "{dir}", dir)
	o.AfterMailers = strings.ReplaceAll(o.AfterMailers, "{dir}", dir)
	s := &Sendmail{Dir: dir, Addr: o.Addr}
	if s.Addr == "" {
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
	}
	catchSyslog(t, filepath.Join(dir, "maillog"))

	relayHost, relayPort, err := net.SplitHostPort(o.RelayTo)
	if err != nil {
		t.Fatalf("RelayTo: %v", err)
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	var mc bytes.Buffer
	if err := sendmailMc.Execute(&mc, struct {
		SendmailOptions
		CfDir, Dir, Port, RelayHost, RelayPort string
	}{o, cfDir, dir, port, relayHost, relayPort}); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"sendmail.mc": mc.String(),
		// Sendmail finds its own name before it reads its configuration;
		// the instance runs with its host name (unshare -u), and looks
		// names up in these files only: no DNS.
		"hosts":          "127.0.0.1 " + o.Hostname + " localhost\n",
		"service.switch": "hosts files\naliases files\n",
		"aliases":        "",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m4 := exec.Command("m4", filepath.Join(dir, "sendmail.mc"))
	var m4err bytes.Buffer
	m4.Stderr = &m4err
	cf, err := m4.Output()
	if err != nil || m4err.Len() > 0 { // a hack's warning too (pysrs.m4: HACK before MAILER)
		t.Fatalf("m4 sendmail.mc: %v\n%s", err, m4err.String())
	}
	cfPath := filepath.Join(dir, "sendmail.cf")
	if err := os.WriteFile(cfPath, cf, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, text := range o.Maps {
		makemap := exec.Command(filepath.Join(root, "usr/sbin/makemap"), "-C", cfPath, "hash", filepath.Join(dir, name))
		makemap.Stdin = strings.NewReader(text)
		if out, err := makemap.CombinedOutput(); err != nil {
			t.Fatalf("makemap hash %s: %v\n%s", name, err, out)
		}
	}
	start := exec.Command("unshare", "-u", "sh", "-c", `hostname "$2" && exec "$0" -C "$1" -bd`, bin, cfPath, o.Hostname)
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("sendmail -bd: %v\n%s\n%s", err, out, s.Log())
	}
	t.Cleanup(s.stop)
	if err := waitListen(s.Addr, 10*time.Second); err != nil {
		t.Fatalf("sendmail: %v\n%s", err, s.Log())
	}
	return s
}

// Log returns what the instance logged, as far as it was caught.
func (s *Sendmail) Log() string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "maillog"))
	if err != nil {
		return "(Sendmail's log went to the system's syslog)"
	}
	return string(b)
}

// QueueFile returns the queue file of message qid: "qf" for a queued
// message, "hf" for a quarantined one; "" when there is none.
func (s *Sendmail) QueueFile(kind, qid string) string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "queue", kind+qid))
	if err != nil {
		return ""
	}
	return string(b)
}

// privateCfTree makes a cf tree at dir: links to Sendmail's directories
// at cfDir, and a hack/ directory of links to its hacks and the files
// hacks; it returns dir.
func privateCfTree(t testing.TB, cfDir, dir string, hacks map[string][]byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "hack"), 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(cfDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "hack" {
			os.Symlink(filepath.Join(cfDir, e.Name()), filepath.Join(dir, e.Name()))
		}
	}
	sendmails, _ := filepath.Glob(filepath.Join(cfDir, "hack", "*.m4"))
	for _, h := range sendmails {
		os.Symlink(h, filepath.Join(dir, "hack", filepath.Base(h)))
	}
	for name, text := range hacks {
		os.Remove(filepath.Join(dir, "hack", name))
		if err := os.WriteFile(filepath.Join(dir, "hack", name), text, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// stop ends the daemon by the PID in its pid file.
func (s *Sendmail) stop() { stopByPIDFile(filepath.Join(s.Dir, "sendmail.pid")) }

// syslogPath is where syslog(3) writes.
const syslogPath = "/dev/log"

var syslogMu sync.Mutex

// catchSyslog receives syslog datagrams on /dev/log into path until the
// test ends, when nothing else listens there (CI starts no syslog
// daemon). Otherwise the lines go to that daemon.
func catchSyslog(t testing.TB, path string) {
	syslogMu.Lock()
	defer syslogMu.Unlock()
	if _, err := os.Stat(syslogPath); !errors.Is(err, fs.ErrNotExist) {
		return
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: syslogPath, Net: "unixgram"})
	if err != nil {
		t.Logf("cannot catch syslog on %s: %v", syslogPath, err)
		return
	}
	os.Chmod(syslogPath, 0o666)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 16<<10)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			// "<22>Nov 29 22:06:55 sendmail[26958]: …": the priority off,
			// and a host name in, as a syslog daemon writes the line.
			line := string(buf[:n])
			if i := strings.IndexByte(line, '>'); strings.HasPrefix(line, "<") && i > 0 {
				line = line[i+1:]
			}
			if len(line) > 16 {
				line = line[:16] + "mx " + line[16:]
			}
			fmt.Fprintln(f, strings.TrimRight(line, "\n"))
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
		f.Close()
		os.Remove(syslogPath)
	})
}

// The instance: loopback only, no DNS (names from its own files), the
// milter as the test says, everything relayed to the sink. m4 quotes
// with a backquote, written « here.
var sendmailMc = template.Must(template.New("sendmail.mc").Parse(strings.ReplaceAll(`divert(-1)
# private test instance written by maxwell's mtatest
divert(0)dnl
define(«_CF_DIR_', «{{.CfDir}}/')dnl
include(«{{.CfDir}}/m4/cf.m4')dnl
OSTYPE(«linux')dnl
define(«confDOMAIN_NAME', «{{.Hostname}}')dnl
define(«confDONT_PROBE_INTERFACES', «true')dnl
define(«confSERVICE_SWITCH_FILE', «{{.Dir}}/service.switch')dnl
define(«confHOSTS_FILE', «{{.Dir}}/hosts')dnl
define(«ALIAS_FILE', «{{.Dir}}/aliases')dnl
define(«QUEUE_DIR', «{{.Dir}}/queue')dnl
define(«confPID_FILE', «{{.Dir}}/sendmail.pid')dnl
define(«STATUS_FILE', «{{.Dir}}/statistics')dnl
define(«confLOG_LEVEL', «14')dnl
dnl the tests' milter sockets live under /tmp
define(«confDONT_BLAME_SENDMAIL', «TrustStickyBit')dnl
define(«confDELIVERY_MODE', «background')dnl
define(«SMART_HOST', «[{{.RelayHost}}]')dnl
define(«RELAY_MAILER_ARGS', «TCP $h {{.RelayPort}}')dnl
define(«ESMTP_MAILER_ARGS', «TCP $h {{.RelayPort}}')dnl
define(«confTO_CONNECT', «5s')dnl
define(«confTO_ICONNECT', «5s')dnl
FEATURE(«nocanonify')dnl
FEATURE(«accept_unresolvable_domains')dnl
FEATURE(«no_default_msa')dnl
RELAY_DOMAIN(«{{.Domains}}')dnl
{{with .Mc}}{{.}}
{{end}}DAEMON_OPTIONS(«Port={{.Port}}, Addr=127.0.0.1, Name=MTA')dnl
{{if .Filter}}{{.Filter}}
{{else}}INPUT_MAIL_FILTER(«maxwell', «S={{.Milter}}, F={{.Flags}}, T=C:5m;S:20s;R:5m;E:5m')dnl
{{end}}MAILER(«smtp')dnl
{{with .AfterMailers}}{{.}}
{{end}}
`, "«", "`")))
