package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maxwell-milter/maxwell/internal/mtatest"
)

// Whatever `serve` refuses at start, `config check` refuses too, with the
// same words and exit status 2: a file that passes the check does not
// stop the daemon. Each case is a configuration (DIR is the test's
// directory, where maxwell runs) and what breaks it.
func TestConfigCheckRefusesWhatServeRefuses(t *testing.T) {
	bin := mtatest.BuildMaxwell(t, t.TempDir())
	const base = "[milter]\nsocket = \"unix:DIR/m.sock\"\n"
	for _, tc := range []struct {
		name   string
		config string
		setup  func(dir string)   // plants what breaks it
		want   string             // in the error, after "DIR/maxwell.toml: " (or "DIR/maxwell.toml" for ":LINE: …")
		noLog  bool               // run where nothing listens on /dev/log
		needs  func(t *testing.T) // skips the case where it cannot be shown
		cwd    string             // where maxwell runs, under DIR (through a link: $PWD names it so)
	}{
		{name: "a PostgreSQL DSN that does not parse", config: base + "[store]\ndriver = \"postgres\"\ndsn = \"postgres://maxwell:s3cret@db.example:notaport/maxwell\"\n",
			want: "store.dsn: cannot be parsed"},
		{name: "a mail log in a directory that does not exist", config: base + "[log]\nmail_log = \"DIR/nodir/mail.log\"\n",
			want: "log.mail_log: DIR/nodir does not exist: create the directory, or give a path in one that does"},
		{name: "a link planted as the mail log", config: base + "[log]\nmail_log = \"DIR/mail.log\"\n",
			setup: func(dir string) { os.Symlink(filepath.Join(dir, "victim"), filepath.Join(dir, "mail.log")) },
			want:  "log.mail_log: DIR/mail.log is a symbolic link (to DIR/victim); maxwell does not follow one for a file it writes"},
		{name: "a link planted as the archive", config: base + "[wiretap]\narchive = \"DIR/archive.mbox\"\n",
			setup: func(dir string) { os.Symlink(filepath.Join(dir, "victim"), filepath.Join(dir, "archive.mbox")) },
			want:  "wiretap.archive: DIR/archive.mbox is a symbolic link (to DIR/victim)"},
		{name: "a world-writable data directory", config: base,
			setup: func(dir string) {
				os.Mkdir(filepath.Join(dir, "data"), 0o700)
				os.Chmod(filepath.Join(dir, "data"), 0o777)
				os.WriteFile(filepath.Join(dir, "data", "maxwell.db"), nil, 0o600) // the store's file is on the way too: named once
			},
			want: "milter.datadir: data is writable by its group and others (mode 0777): anyone who can write there could have maxwell overwrite other files; run chmod go-w data, or give maxwell a directory of its own"},
		{name: "a data directory that is a link", config: base,
			setup: func(dir string) { os.Symlink(os.TempDir(), filepath.Join(dir, "data")) },
			want:  "milter.datadir: data is a symbolic link (to " + os.TempDir() + "); maxwell does not follow one for a directory it keeps state in"},
		{name: "a linked save directory", config: base,
			setup: func(dir string) {
				os.Mkdir(filepath.Join(dir, "data"), 0o700)
				os.Symlink(dir, filepath.Join(dir, "data", "save"))
			},
			want: "milter.tempdir: data/save is a symbolic link (to DIR)"},
		{name: "a link planted as the SQLite file", config: base,
			setup: func(dir string) {
				os.Mkdir(filepath.Join(dir, "data"), 0o700)
				os.Symlink(filepath.Join(dir, "victim"), filepath.Join(dir, "data", "maxwell.db-wal"))
			},
			want: "store.path: data/maxwell.db-wal is a symbolic link (to DIR/victim)"},
		{name: "a socket in a directory that does not exist", config: "[milter]\nsocket = \"unix:DIR/nodir/m.sock\"\n",
			want: "milter.socket: DIR/nodir does not exist"},
		{name: "a file where the socket goes", config: base,
			setup: func(dir string) { os.WriteFile(filepath.Join(dir, "m.sock"), nil, 0o600) },
			want:  "milter.socket: DIR/m.sock exists and is not a socket; not removing it"},
		{name: "a socket group that does not exist", config: base + "socket_group = \"no-such-group-here\"\n",
			want: "milter.socket_group: unknown group \"no-such-group-here\""},
		{name: "a blacklist file that does not exist", config: base + "[whitelist]\nblacklist_file = \"DIR/nothere\"\n",
			want: "whitelist.blacklist_file: DIR/nothere does not exist"},
		{name: "a world-writable directory holding the data directory", config: base + "datadir = \"DIR/open/data\"\n", setup: openDir,
			want: "milter.datadir: DIR/open is writable by its group and others (mode 0777), on the way to DIR/open/data: whoever can write there could swap in a link and have maxwell write other files; run chmod go-w DIR/open (or chmod +t, as /tmp has)"},
		{name: "a world-writable directory on the way, through a link", config: base + "datadir = \"DIR/via/data\"\n",
			setup: func(dir string) { openDir(dir); os.Symlink(filepath.Join(dir, "open"), filepath.Join(dir, "via")) },
			want:  "milter.datadir: DIR/open is writable by its group and others (mode 0777), on the way to DIR/via/data"},
		{name: "a world-writable directory holding the mail log", config: base + "[log]\nmail_log = \"DIR/open/mail.log\"\n", setup: openDir,
			want: "log.mail_log: DIR/open is writable by its group and others (mode 0777), on the way to DIR/open/mail.log"},
		{name: "a world-writable directory holding the archive", config: base + "[wiretap]\narchive = \"DIR/open/archive.mbox\"\n", setup: openDir,
			want: "wiretap.archive: DIR/open is writable by its group and others (mode 0777), on the way to DIR/open/archive.mbox"},
		{name: "a world-writable directory holding the SQLite file", config: base + "[store]\npath = \"DIR/open/db/maxwell.db\"\n", setup: openDir,
			want: "store.path: DIR/open is writable by its group and others (mode 0777), on the way to DIR/open/db"},
		{name: "a world-writable directory holding the watcher's state", config: base + "[watch]\nmta_log = \"DIR/mta.log\"\nstate_file = \"DIR/open/watch/watch.state\"\n",
			setup: func(dir string) { openDir(dir); os.WriteFile(filepath.Join(dir, "mta.log"), nil, 0o600) },
			want:  "watch.state_file: DIR/open is writable by its group and others (mode 0777), on the way to DIR/open/watch"},
		{name: "a world-writable directory reached by .. after a link", config: base + "datadir = \"lnk/../data\"\n", setup: linkIntoOpenDir,
			want: "milter.datadir: DIR/open is writable by its group and others (mode 0777), on the way to lnk/../data"},
		{name: "a mail log reached by .. after a link", config: base + "[log]\nmail_log = \"lnk/../mail.log\"\n", setup: linkIntoOpenDir,
			want: "log.mail_log: DIR/open is writable by its group and others (mode 0777), on the way to lnk/../mail.log"},
		{name: "a working directory reached through a link", config: base + "datadir = \"../data\"\n", setup: linkIntoOpenDir, cwd: "lnk",
			want: "milter.datadir: DIR/open is writable by its group and others (mode 0777), on the way to ../data"},
		{name: "a world-writable directory holding the socket", config: "[milter]\nsocket = \"unix:DIR/open/m.sock\"\n", setup: openDir,
			want: "milter.socket: DIR/open is writable by its group and others (mode 0777), on the way to DIR/open/m.sock"},
		{name: "a mail log others may write to", config: base + "[log]\nmail_log = \"DIR/mail.log\"\n",
			setup: func(dir string) { openFile(filepath.Join(dir, "mail.log")) },
			want:  "log.mail_log: DIR/mail.log is writable by its group and others (mode 0666): whoever else can write to it could change what maxwell writes there; run chmod go-w DIR/mail.log"},
		{name: "an archive others may write to", config: base + "[wiretap]\narchive = \"DIR/archive.mbox\"\n",
			setup: func(dir string) { openFile(filepath.Join(dir, "archive.mbox")) },
			want:  "wiretap.archive: DIR/archive.mbox is writable by its group and others (mode 0666)"},
		{name: "a socket on a host name", config: "[milter]\nsocket = \"inet:7906@no.such.host.invalid\"\n",
			want: `:2: milter.socket: the host "no.such.host.invalid" is not an address: write one of this host's addresses (inet:7906@127.0.0.1), localhost, or none (every address)`},
		{name: "a socket on an address not of this host", config: "[milter]\nsocket = \"inet:7906@192.0.2.1\"\n",
			want: "milter.socket: cannot listen on 192.0.2.1:7906: 192.0.2.1 is not an address of this host", needs: localBindOnly},
		{name: "metrics on an address not of this host", config: base + "[metrics]\nlisten = \"192.0.2.1:9437\"\n",
			want: "metrics.listen: cannot listen on 192.0.2.1:9437: 192.0.2.1 is not an address of this host", needs: localBindOnly},
		{name: "a mail log to syslog, and no syslog daemon", config: base + "[log]\nmail_log = \"syslog\"\n", noLog: true,
			want: "log.mail_log: cannot reach syslog: nothing answers on /dev/log; start a syslog daemon (rsyslog, systemd-journald), or log to a file"},
		{name: "no configuration file", config: "",
			setup: func(dir string) { os.Remove(filepath.Join(dir, "maxwell.toml")) },
			want:  "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needs != nil {
				tc.needs(t)
			}
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "maxwell.toml")
			os.WriteFile(filepath.Join(dir, "victim"), []byte("precious\n"), 0o600)
			if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(tc.config, "DIR", dir)), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(dir)
			}
			want := cfgPath + ": " + strings.ReplaceAll(tc.want, "DIR", dir)
			if strings.HasPrefix(tc.want, ":") {
				want = cfgPath + tc.want
			}

			run := []string{bin}
			if tc.noLog {
				run = withoutSyslog(t, bin)
			}
			check := exec.Command(run[0], append(run[1:], "config", "check", cfgPath)...)
			check.Dir = filepath.Join(dir, tc.cwd)
			out, err := check.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(string(out), want) {
				t.Errorf("config check: %v\n%s\nwant exit status 2 and %q", err, out, want)
			}
			if n := strings.Count(string(out), cfgPath); n != 1 {
				t.Errorf("config check: %d problems:\n%s\nwant one", n, out)
			}
			if strings.Contains(string(out), "s3cret") {
				t.Errorf("config check shows the password: %s", out)
			}

			m := mtatest.RunMaxwell(t, filepath.Join(dir, tc.cwd), run[0], append(run[1:], "serve", "-c", cfgPath)...)
			select {
			case <-m.Exited:
			case <-time.After(10 * time.Second):
				t.Fatalf("serve started:\n%s", m.Stderr)
			}
			if !errors.As(m.Err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(m.Stderr.String(), want) {
				t.Errorf("serve: %v\n%s\nwant exit status 2 and %q", m.Err, m.Stderr, want)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "victim")); string(b) != "precious\n" {
				t.Errorf("a link's target now holds %q", b)
			}
		})
	}
}

// openDir makes DIR/open a directory anyone may write to (mode 0777,
// without the sticky bit).
func openDir(dir string) {
	os.Mkdir(filepath.Join(dir, "open"), 0o700)
	os.Chmod(filepath.Join(dir, "open"), 0o777)
}

// linkIntoOpenDir makes DIR/lnk a link to DIR/open/sub, in the
// world-writable DIR/open: lnk/.. is DIR/open to the kernel.
func linkIntoOpenDir(dir string) {
	openDir(dir)
	os.Mkdir(filepath.Join(dir, "open", "sub"), 0o755)
	os.Symlink(filepath.Join(dir, "open", "sub"), filepath.Join(dir, "lnk"))
}

// openFile makes a file anyone may write to (mode 0666).
func openFile(path string) {
	os.WriteFile(path, nil, 0o600)
	os.Chmod(path, 0o666)
}

// localBindOnly skips a case when this host lets a process listen on an
// address it does not have (net.ipv4.ip_nonlocal_bind): then serve
// listens on 192.0.2.1, and there is nothing to refuse.
func localBindOnly(t *testing.T) {
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_nonlocal_bind"); strings.TrimSpace(string(b)) == "1" {
		t.Skip("net.ipv4.ip_nonlocal_bind = 1: any address can be listened on here")
	}
}

// withoutSyslog is the command line that runs bin where nothing listens
// on /dev/log: in a mount namespace of its own, with an empty /dev (a
// syslog daemon, or a test catching syslog, may listen on this host's).
func withoutSyslog(t *testing.T, bin string) []string {
	if os.Geteuid() != 0 {
		t.Skip("hiding /dev/log needs root (unshare --mount), as the end-to-end tests do")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare is not installed (.ci/run installs it)")
	}
	return []string{"unshare", "--mount", "sh", "-c", `mount -t tmpfs tmpfs /dev && exec "$0" "$@"`, bin}
}

// maxwell running as root warns about a state directory another user
// owns (who could plant links there), or a directory on the way to one,
// and about a mail log or archive another user owns (who can read what
// root writes there, made in a sticky directory anyone may write to),
// without refusing them: the admin commands run as root on the daemon
// user's directory. config check and serve warn in the same words.
func TestForeignOwnerWarned(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the warning is for maxwell running as root")
	}
	dir := t.TempDir()
	for _, d := range []string{"data", "home", "home/maxwell", "tmp"} {
		os.Mkdir(filepath.Join(dir, d), 0o750)
	}
	os.Chmod(filepath.Join(dir, "tmp"), 0o777|os.ModeSticky)
	os.WriteFile(filepath.Join(dir, "tmp", "mail.log"), nil, 0o600)
	for _, f := range []string{"data", "home", "tmp/mail.log"} {
		if err := os.Chown(filepath.Join(dir, f), 65534, -1); err != nil {
			t.Fatal(err)
		}
	}
	bin := mtatest.BuildMaxwell(t, t.TempDir())
	const data = "milter.datadir: data belongs to uid 65534, who could plant there links to files maxwell, running as root, would then write: run maxwell as that user, or chown root data"
	for _, tc := range []struct {
		config string
		want   []string // the warnings
	}{
		{"", []string{data}},
		{"[log]\nmail_log = \"DIR/home/maxwell/mail.log\"\n", []string{data,
			"log.mail_log: DIR/home belongs to uid 65534, who could plant there links to files maxwell, running as root, would then write: run maxwell as that user, or chown root DIR/home"}},
		{"[log]\nmail_log = \"DIR/tmp/mail.log\"\n", []string{data,
			"log.mail_log: DIR/tmp/mail.log belongs to uid 65534, who can read and change what maxwell, running as root, writes there: run maxwell as that user, or chown root DIR/tmp/mail.log"}},
	} {
		cfgPath := filepath.Join(dir, "maxwell.toml")
		os.WriteFile(cfgPath, []byte(strings.ReplaceAll("[milter]\nsocket = \"unix:DIR/m.sock\"\n"+tc.config, "DIR", dir)), 0o644)
		check := exec.Command(bin, "config", "check", cfgPath)
		check.Dir = dir
		out, err := check.CombinedOutput()
		if err != nil || strings.Count(string(out), ": warning: ") != len(tc.want) {
			t.Errorf("config check: %v\n%s\nwant status 0 and %d warnings", err, out, len(tc.want))
		}
		m := mtatest.RunMaxwell(t, dir, bin, "serve", "-c", cfgPath)
		m.WaitFor(t, "maxwell to start", func() bool { return strings.Contains(m.Stderr.String(), "maxwell started") })
		mtatest.Stop(m.Cmd.Process, m.Exited, syscall.SIGTERM)
		for _, w := range tc.want {
			want := cfgPath + ": warning: " + strings.ReplaceAll(w, "DIR", dir)
			if !strings.Contains(string(out), want) {
				t.Errorf("config check:\n%s\nwant %q", out, want)
			}
			if !strings.Contains(m.Stderr.String(), want) {
				t.Errorf("serve:\n%s\nwant %q", m.Stderr, want)
			}
		}
	}
}
