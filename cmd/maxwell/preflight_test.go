package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
		setup  func(dir string) // plants what breaks it
		want   string           // in the error, after DIR/maxwell.toml:
	}{
		{"a PostgreSQL DSN that does not parse", base + "[store]\ndriver = \"postgres\"\ndsn = \"postgres://maxwell:s3cret@db.example:notaport/maxwell\"\n",
			nil, "store.dsn: cannot be parsed"},
		{"a mail log in a directory that does not exist", base + "[log]\nmail_log = \"DIR/nodir/mail.log\"\n",
			nil, "log.mail_log: DIR/nodir does not exist: create the directory, or give a path in one that does"},
		{"a link planted as the mail log", base + "[log]\nmail_log = \"DIR/mail.log\"\n",
			func(dir string) { os.Symlink(filepath.Join(dir, "victim"), filepath.Join(dir, "mail.log")) },
			"log.mail_log: DIR/mail.log is a symbolic link (to DIR/victim); maxwell does not follow one for a file it writes"},
		{"a link planted as the archive", base + "[wiretap]\narchive = \"DIR/archive.mbox\"\n",
			func(dir string) { os.Symlink(filepath.Join(dir, "victim"), filepath.Join(dir, "archive.mbox")) },
			"wiretap.archive: DIR/archive.mbox is a symbolic link (to DIR/victim)"},
		{"a world-writable data directory", base,
			func(dir string) {
				os.Mkdir(filepath.Join(dir, "data"), 0o700)
				os.Chmod(filepath.Join(dir, "data"), 0o777)
			},
			"milter.datadir: data is writable by its group and others (mode 0777): anyone who can write there could have maxwell overwrite other files; run chmod go-w data, or give maxwell a directory of its own"},
		{"a data directory that is a link", base,
			func(dir string) { os.Symlink(os.TempDir(), filepath.Join(dir, "data")) },
			"milter.datadir: data is a symbolic link (to " + os.TempDir() + "); maxwell does not follow one for a directory it keeps state in"},
		{"a linked save directory", base,
			func(dir string) {
				os.Mkdir(filepath.Join(dir, "data"), 0o700)
				os.Symlink(dir, filepath.Join(dir, "data", "save"))
			},
			"milter.datadir: data/save is a symbolic link (to DIR)"},
		{"a link planted as the SQLite file", base,
			func(dir string) {
				os.Mkdir(filepath.Join(dir, "data"), 0o700)
				os.Symlink(filepath.Join(dir, "victim"), filepath.Join(dir, "data", "maxwell.db-wal"))
			},
			"store.path: data/maxwell.db-wal is a symbolic link (to DIR/victim)"},
		{"a socket in a directory that does not exist", "[milter]\nsocket = \"unix:DIR/nodir/m.sock\"\n",
			nil, "milter.socket: DIR/nodir does not exist"},
		{"a file where the socket goes", base,
			func(dir string) { os.WriteFile(filepath.Join(dir, "m.sock"), nil, 0o600) },
			"milter.socket: DIR/m.sock exists and is not a socket; not removing it"},
		{"a socket group that does not exist", base + "socket_group = \"no-such-group-here\"\n",
			nil, "milter.socket_group: unknown group \"no-such-group-here\""},
		{"a blacklist file that does not exist", base + "[whitelist]\nblacklist_file = \"DIR/nothere\"\n",
			nil, "whitelist.blacklist_file: DIR/nothere does not exist"},
		{"no configuration file", "",
			func(dir string) { os.Remove(filepath.Join(dir, "maxwell.toml")) },
			"does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
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

			check := exec.Command(bin, "config", "check", cfgPath)
			check.Dir = dir
			out, err := check.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(string(out), want) {
				t.Errorf("config check: %v\n%s\nwant exit status 2 and %q", err, out, want)
			}
			if strings.Contains(string(out), "s3cret") {
				t.Errorf("config check shows the password: %s", out)
			}

			m := mtatest.RunMaxwell(t, dir, bin, "serve", "-c", cfgPath)
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

// maxwell running as root warns about a state directory another user
// owns (who could plant links there), without refusing it: the admin
// commands run as root on the daemon user's directory.
func TestForeignOwnerWarned(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the warning is for maxwell running as root")
	}
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "data"), 0o750)
	if err := os.Chown(filepath.Join(dir, "data"), 65534, -1); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "maxwell.toml")
	os.WriteFile(cfgPath, []byte("[milter]\nsocket = \"unix:"+dir+"/m.sock\"\n"), 0o644)
	check := exec.Command(mtatest.BuildMaxwell(t, t.TempDir()), "config", "check", cfgPath)
	check.Dir = dir
	out, err := check.CombinedOutput()
	if want := cfgPath + ": warning: milter.datadir: data belongs to uid 65534, who could plant there links to files maxwell, running as root, would then write: run maxwell as that user, or chown root data"; err != nil || !strings.Contains(string(out), want) {
		t.Errorf("config check: %v\n%s\nwant status 0 and %q", err, out, want)
	}
}
