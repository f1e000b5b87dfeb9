package mtatest

import (
	"bytes"
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

// Exim is a private Exim 4 daemon.
type Exim struct {
	Dir     string // exim.conf, the spool (Dir/spool) and the logs (Dir/log)
	Addr    string // the daemon, host:port on 127.0.0.1
	MainLog string // Dir/log/mainlog
	cmd     *exec.Cmd
	exited  chan struct{}
}

// EximOptions configure an instance.
type EximOptions struct {
	// LogSelector is the log_selector option's value ("+pid
	// +incoming_port"); "" leaves Exim's default.
	LogSelector string
	// Main holds more main configuration lines ("log_timezone = true").
	Main string
	// RcptACL is the body of the RCPT ACL (acl_smtp_rcpt); "{dir}" in it
	// is the instance's directory. "" accepts everything.
	RcptACL string
}

// EximRoot is where Exim's Debian packages are unpacked: $MAXWELL_EXIM_ROOT,
// by default /opt/maxwell-test/exim. exim4-daemon-light conflicts with
// postfix as a package (both are a mail-transport-agent), so .ci/run
// unpacks it and exim4-base there with apt-get download and dpkg -x.
func EximRoot() string {
	if d := os.Getenv("MAXWELL_EXIM_ROOT"); d != "" {
		return d
	}
	return "/opt/maxwell-test/exim"
}

// eximUser is the user Debian's Exim is built to run as (EXIM_USER): it
// looks it up before it reads any configuration, and refuses uid 0.
const eximUser = "Debian-exim"

// StartExim starts an instance as a daemon in the foreground (-bdf), and
// stops it by its PID when the test ends. It needs root, unshare and the
// unpacked packages (.ci/run provides them). Where the system has no
// Debian-exim user (exim4-base's postinst makes it; unpacked, there is
// none) the daemon runs in a private mount namespace whose /etc/passwd
// and /etc/group name nobody's ids Debian-exim: the system's are not
// changed.
func StartExim(t testing.TB, o EximOptions) *Exim {
	t.Helper()
	root := EximRoot()
	bin := filepath.Join(root, "usr/sbin/exim4")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no Exim under %s: .ci/run unpacks it (apt-get download exim4-daemon-light exim4-base; dpkg -x)", root)
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare is not installed (.ci/run installs it)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("a private Exim daemon needs root")
	}
	dir, err := os.MkdirTemp("", "maxwell-exim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // the Exim user reads the ACL's files here

	uid, gid := eximIDs(t, dir)
	for _, sub := range []string{"spool", "log"} {
		p := filepath.Join(dir, sub)
		if err := os.Mkdir(p, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	e := &Exim{Dir: dir, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t))),
		MainLog: filepath.Join(dir, "log", "mainlog"), exited: make(chan struct{})}
	o.RcptACL = strings.ReplaceAll(o.RcptACL, "{dir}", dir)
	if o.RcptACL == "" {
		o.RcptACL = "accept"
	}
	var conf bytes.Buffer
	if err := eximConf.Execute(&conf, struct {
		EximOptions
		Dir, Bin string
	}{o, dir, bin}); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(e.Addr)
	// -oX: the port, and no pid file (Exim writes one only for its
	// default ports, or with -oP). -bdf: the daemon stays in the
	// foreground, its PID the command's.
	args := []string{bin, "-C", confPath, "-bdf", "-oX", port}
	if _, err := user.Lookup(eximUser); err != nil {
		args = append([]string{"unshare", "-m", "sh", "-c",
			`mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && exec "$@"`, "sh",
			filepath.Join(dir, "passwd"), filepath.Join(dir, "group")}, args...)
	}
	var stderr Buffer
	e.cmd = exec.Command(args[0], args[1:]...)
	e.cmd.Stdout, e.cmd.Stderr = &stderr, &stderr
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		e.cmd.Wait()
		close(e.exited)
	}()
	t.Cleanup(e.stop)
	if err := waitListen(e.Addr, 10*time.Second); err != nil {
		t.Fatalf("exim: %v\n%s\n%s", err, stderr.String(), e.Log())
	}
	return e
}

// eximIDs returns the uid and gid Exim runs as: Debian-exim's, or, when
// there is no such user, nobody's, named Debian-exim in a passwd and a
// group file it writes in dir for StartExim's mount namespace.
func eximIDs(t testing.TB, dir string) (uid, gid int) {
	t.Helper()
	if u, err := user.Lookup(eximUser); err == nil {
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		return uid, gid
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("neither %s nor nobody is a user here: %v", eximUser, err)
	}
	for _, f := range []struct{ name, line string }{
		{"passwd", eximUser + ":x:" + nobody.Uid + ":" + nobody.Gid + "::/nonexistent:/usr/sbin/nologin\n"},
		{"group", eximUser + ":x:" + nobody.Gid + ":\n"},
	} {
		b, err := os.ReadFile(filepath.Join("/etc", f.name))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && !bytes.HasSuffix(b, []byte("\n")) {
			b = append(b, '\n')
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), append(b, f.line...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ = strconv.Atoi(nobody.Uid)
	gid, _ = strconv.Atoi(nobody.Gid)
	return uid, gid
}

// Log returns the instance's main log so far.
func (e *Exim) Log() string {
	b, err := os.ReadFile(e.MainLog)
	if err != nil {
		return "(no main log: " + err.Error() + ")"
	}
	return string(b)
}

// stop ends the daemon by its PID; the processes it forked for the
// connections end with them.
func (e *Exim) stop() { Stop(e.cmd.Process, e.exited, syscall.SIGTERM) }

// The instance: loopback only, no DNS, no TLS, nothing delivered
// (queue_only; the router would throw it away).
var eximConf = template.Must(template.New("exim.conf").Parse(`# private test instance written by maxwell's mtatest
primary_hostname = mx.example.org
qualify_domain = example.org
local_interfaces = <; 127.0.0.1
spool_directory = {{.Dir}}/spool
log_file_path = {{.Dir}}/log/%slog
exim_path = {{.Bin}}
keep_environment =
tls_advertise_hosts =
host_lookup =
rfc1413_hosts =
queue_only = true
{{with .LogSelector}}log_selector = {{.}}
{{end}}{{with .Main}}{{.}}
{{end}}acl_smtp_rcpt = acl_rcpt

begin acl

acl_rcpt:
{{.RcptACL}}

begin routers

blackhole:
  driver = redirect
  data = :blackhole:
`))
