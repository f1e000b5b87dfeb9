package safefile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	file := write(t, dir, "list", "a@example.org\n")
	link := filepath.Join(dir, "link")
	symlinkTo(t, file, link)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(link); err != nil || string(b) != "a@example.org\n" {
		t.Errorf("Read(a link to a file) = %q, %v", b, err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/dev/zero", "is not a regular file (a character device)"},
		{fifo, "is not a regular file (a named pipe)"},
		{dir, "is a directory, not a file"},
		{write(t, dir, "big", strings.Repeat("x", MaxSize+1)), "is larger than 8 MiB"},
		{filepath.Join(dir, "missing"), "missing does not exist"},
		{filepath.Join(dir, "nodir", "list"), "nodir does not exist: create the directory"},
	} {
		if _, err := Read(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Read(%s) = %v, want %q", tc.path, err, tc.want)
		}
	}
}

// A link planted where maxwell appends (the mail log, the archive) is
// refused, and its target left alone; so is a second hard link.
func TestAppendRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	victim := write(t, dir, "victim", "precious\n")
	planted := filepath.Join(dir, "mail.log")
	symlinkTo(t, victim, planted)
	hard := filepath.Join(dir, "hard.log")
	if err := os.Link(victim, hard); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{planted, "is a symbolic link (to " + victim + ")"},
		{hard, "has 2 hard links"},
	} {
		if err := CheckAppend(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckAppend(%s) = %v, want %q", tc.path, err, tc.want)
		}
		f, err := Append(tc.path, 0o600)
		if err == nil {
			f.WriteString("appended\n")
			f.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Append(%s) = %v, want %q", tc.path, err, tc.want)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("the victim now holds %q", b)
	}

	fresh := filepath.Join(dir, "fresh.log")
	if err := CheckAppend(fresh); err != nil {
		t.Errorf("CheckAppend(a new file) = %v", err)
	}
	f, err := Append(fresh, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o640 {
		t.Errorf("a new file has mode %v", fi.Mode())
	}
	if err := CheckAppend(filepath.Join(dir, "nodir", "mail.log")); err == nil || !strings.Contains(err.Error(), "nodir does not exist") {
		t.Errorf("CheckAppend in a missing directory = %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Append(fifo, 0o600); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("Append(a named pipe) = %v", err)
	}
}

// State directories: a link or a directory others may write to is
// refused with the fix; a missing one is made, mode 0750.
func TestStateDirs(t *testing.T) {
	sharedGroup(t)
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o777)
	sticky := filepath.Join(dir, "sticky")
	if err := os.Mkdir(sticky, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(sticky, 0o777|os.ModeSticky)
	group := filepath.Join(dir, "group")
	if err := os.Mkdir(group, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(group, 0o770)
	linked := filepath.Join(dir, "linked")
	symlinkTo(t, t.TempDir(), linked)
	file := write(t, dir, "file", "")
	for _, tc := range []struct{ path, want string }{
		{open, "is writable by its group and others (mode 0777): anyone who can write there could have maxwell overwrite other files; run chmod go-w " + open},
		{sticky, "(mode 1777)"},
		{group, "is writable by its group (mode 0770)"},
		{linked, "is a symbolic link (to "},
		{file, "is not a directory (a regular file)"},
		{filepath.Join(file, "sub"), file + " is not a directory"},
	} {
		if err := CheckDir(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckDir(%s) = %v, want %q", tc.path, err, tc.want)
		}
		if err := MakeDir(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("MakeDir(%s) = %v, want %q", tc.path, err, tc.want)
		}
	}
	fresh := filepath.Join(dir, "new", "state")
	if err := CheckDir(fresh); err != nil {
		t.Errorf("CheckDir(a directory still to make) = %v", err)
	}
	if err := MakeDir(fresh); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o750&^umask() {
		t.Errorf("made %v, %v", fi.Mode(), err)
	}
}

func umask() os.FileMode {
	old := syscall.Umask(0)
	syscall.Umask(old)
	return os.FileMode(old)
}

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func symlinkTo(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// Every directory on the way to what maxwell writes is checked, not only
// the last: one others may write to (without the sticky bit) is refused
// with the fix, wherever it is on the way and whether the way reaches it
// through a link or not; a sticky one (as /tmp) is fine. The checks of
// state directories and of files appended to both walk the way.
func TestWay(t *testing.T) {
	sharedGroup(t)
	dir := t.TempDir()
	mkdir := func(name string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	open := mkdir("open", 0o777)
	group := mkdir("group", 0o770)
	mkdir("sticky", 0o777|os.ModeSticky)
	safe := mkdir("safe", 0o755)
	mkdir("safe/open", 0o757)
	symlinkTo(t, open, filepath.Join(dir, "to-open"))
	symlinkTo(t, "../open", filepath.Join(safe, "up-to-open"))
	symlinkTo(t, safe, filepath.Join(dir, "to-safe"))
	symlinkTo(t, filepath.Join(dir, "loop"), filepath.Join(dir, "loop"))
	file := write(t, dir, "file", "")
	for _, tc := range []struct {
		path string // under dir
		want string // "" for fine
	}{
		{"open/data", open + " is writable by its group and others (mode 0777), on the way to " + filepath.Join(dir, "open/data") + ": whoever can write there could swap in a link and have maxwell write other files; run chmod go-w " + open + " (or chmod +t, as /tmp has)"},
		{"open/deeper/data", open + " is writable by its group and others (mode 0777)"},
		{"group/data", group + " is writable by its group (mode 0770)"},
		{"safe/open/data", filepath.Join(safe, "open") + " is writable by others (mode 0757)"},
		{"to-open/data", open + " is writable by its group and others (mode 0777), on the way to " + filepath.Join(dir, "to-open/data")},
		{"safe/up-to-open/data", open + " is writable by its group and others"},
		{"loop/data", filepath.Join(dir, "loop") + " leads through more than 40 symbolic links"},
		{"file/data", file + " is not a directory"},
		{"sticky/data", ""},
		{"safe/data", ""},
		{"to-safe/data", ""},
		{"new/deeper/data", ""},
	} {
		path := filepath.Join(dir, tc.path)
		for _, check := range []struct {
			name string
			f    func(string) error
		}{{"Way", func(p string) error { _, err := Way(p); return err }}, {"CheckDir", CheckDir}, {"CheckAppend", CheckAppend}, {"MakeDir", MakeDir}} {
			err := check.f(path)
			if tc.want == "" && err != nil && check.name != "CheckAppend" {
				t.Errorf("%s(%s) = %v", check.name, tc.path, err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("%s(%s) = %v, want %q", check.name, tc.path, err, tc.want)
			}
		}
		if _, err := os.Lstat(path); tc.want != "" && err == nil {
			t.Errorf("MakeDir made %s", tc.path)
		}
	}
	if walked, err := Way(filepath.Join(dir, "to-safe", "data", "save")); err != nil || walked[len(walked)-1] != filepath.Join(safe, "data") {
		t.Errorf("Way through a link walked %v (%v), want it to end at %s", walked, err, filepath.Join(safe, "data"))
	}

	// A relative path is on the way from the current directory.
	t.Chdir(open)
	if err := CheckDir("data"); err == nil || !strings.Contains(err.Error(), open+" is writable") {
		t.Errorf("CheckDir(data) in %s = %v", open, err)
	}
}

// A link on the way is followed when no one else could have put it
// there: one that belongs to another user, in a sticky directory anyone
// may write to, is refused; in a directory only its owner may write to,
// whoever made the link, it is followed.
func TestWayLinkOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("links of another user need root to make")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.Mkdir(target, 0o755)
	sticky := filepath.Join(dir, "sticky")
	os.Mkdir(sticky, 0o755)
	os.Chmod(sticky, 0o777|os.ModeSticky)
	for _, d := range []string{sticky, dir} {
		for _, owner := range []int{0, 65534} {
			link := filepath.Join(d, fmt.Sprintf("link-%d", owner))
			symlinkTo(t, target, link)
			if err := os.Lchown(link, owner, -1); err != nil {
				t.Fatal(err)
			}
			_, err := Way(filepath.Join(link, "data"))
			switch {
			case d == sticky && owner != 0:
				if want := link + " is a symbolic link (to " + target + ") that uid 65534 put in " + sticky + ", where anyone may write: maxwell does not follow it"; err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Way through %s = %v, want %q", link, err, want)
				}
			case err != nil:
				t.Errorf("Way through %s = %v", link, err)
			}
		}
	}
}

// groupFiles points privateGroup at passwd and group files of the test's
// own, as long as the test runs.
func groupFiles(t *testing.T, passwd, group string) {
	dir := t.TempDir()
	groupFile, passwdFile = filepath.Join(dir, "group"), filepath.Join(dir, "passwd")
	os.WriteFile(passwdFile, []byte(passwd), 0o644)
	os.WriteFile(groupFile, []byte(group), 0o644)
	t.Cleanup(func() { groupFile, passwdFile = "/etc/group", "/etc/passwd" })
}

// sharedGroup has the test's group shared with another user, eve: the
// directories its group may write to are not private.
func sharedGroup(t *testing.T) {
	groupFiles(t, fmt.Sprintf("me:x:%d:%d::/home/me:/bin/sh\n", os.Getuid(), os.Getgid()), fmt.Sprintf("me:x:%d:eve\n", os.Getgid()))
}

// A directory its group may write to is fine on the way and as a state
// directory when the group is its owner's private group (Debian's user
// private groups: umask 002, directories 0775), and refused when anyone
// else is in the group.
func TestUserPrivateGroup(t *testing.T) {
	uid, gid := os.Getuid(), os.Getgid()
	dir := t.TempDir()
	checkout := filepath.Join(dir, "checkout")
	os.Mkdir(checkout, 0o775)
	os.Chmod(checkout, 0o775) // whatever the umask
	state := filepath.Join(checkout, "data")
	for _, tc := range []struct {
		name, passwd, group string
		ok                  bool
	}{
		{"the owner's private group", fmt.Sprintf("me:x:%d:%d::/home/me:/bin/sh\n", uid, gid), fmt.Sprintf("me:x:%d:\n", gid), true},
		{"the owner listed in it", fmt.Sprintf("me:x:%d:%d::/home/me:/bin/sh\n", uid, gid), fmt.Sprintf("me:x:%d:me\n", gid), true},
		{"another member", fmt.Sprintf("me:x:%d:%d::/home/me:/bin/sh\n", uid, gid), fmt.Sprintf("me:x:%d:me,eve\n", gid), false},
		{"another user's primary group", fmt.Sprintf("me:x:%d:%d::/home/me:/bin/sh\neve:x:%d:%d::/home/eve:/bin/sh\n", uid, gid, uid+1000, gid), fmt.Sprintf("me:x:%d:\n", gid), false},
		{"a group /etc/group does not know", fmt.Sprintf("me:x:%d:%d::/home/me:/bin/sh\n", uid, gid), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			groupFiles(t, tc.passwd, tc.group)
			if err := MakeDir(state); (err == nil) != tc.ok {
				t.Errorf("MakeDir under a 0775 directory: %v, want ok %v", err, tc.ok)
			}
			os.Chmod(state, 0o770)
			if err := CheckDir(state); tc.ok && err != nil {
				t.Errorf("a 0770 state directory: %v", err)
			}
			os.Remove(state)
		})
	}
}

// The way is walked as the kernel walks it when maxwell opens the path:
// a relative path from the working directory as it really is (not as
// $PWD names it, through a link), and ".." from the directory actually
// reached after the links before it, not by editing the text. Both ways
// round a world-writable directory that cleaning the text would skip are
// refused, and a ".." after a link leads where the kernel goes.
func TestWayWalksAsTheKernel(t *testing.T) {
	dir := t.TempDir()
	mkdir := func(name string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	open := mkdir("open", 0o777)
	mkdir("open/sub", 0o755)
	safe := mkdir("safe", 0o755)
	mkdir("safe/sub", 0o755)
	home := mkdir("home", 0o755)
	symlinkTo(t, filepath.Join(open, "sub"), filepath.Join(home, "to-open"))
	symlinkTo(t, filepath.Join(safe, "sub"), filepath.Join(home, "to-safe"))
	const refused = "open is writable by its group and others (mode 0777), on the way to "
	for _, tc := range []struct {
		cwd  string // under home; t.Chdir sets $PWD to it, through the link
		path string
		want string // after dir/; "" for fine
	}{
		{".", "to-open/../data", refused + "to-open/../data"},
		{".", "to-open/../mail.log", refused + "to-open/../mail.log"},
		{"to-open", "../data", refused + "../data"},
		{"to-open", "data", refused + "data"},
		{".", "to-safe/../data", ""},
		{"to-safe", "../data", ""},
	} {
		t.Run(tc.cwd+" "+tc.path, func(t *testing.T) {
			t.Chdir(filepath.Join(home, tc.cwd))
			for _, check := range []struct {
				name string
				f    func(string) error
			}{{"Way", func(p string) error { _, err := Way(p); return err }}, {"CheckDir", CheckDir}, {"CheckAppend", CheckAppend}, {"MakeDir", MakeDir}} {
				err := check.f(tc.path)
				switch want := dir + "/" + tc.want; {
				case tc.want == "" && err != nil:
					t.Errorf("%s(%s) = %v", check.name, tc.path, err)
				case tc.want != "" && (err == nil || !strings.Contains(err.Error(), want)):
					t.Errorf("%s(%s) = %v, want %q", check.name, tc.path, err, want)
				}
			}
			made := filepath.Join(safe, "data")
			if tc.want != "" {
				made = filepath.Join(open, "data")
			}
			if _, err := os.Lstat(made); (err == nil) != (tc.want == "") {
				t.Errorf("MakeDir(%s) made %s: %v", tc.path, made, err == nil)
			}
			os.Remove(filepath.Join(open, "data"))
			os.Remove(filepath.Join(safe, "data"))
		})
	}
	// ".." after a link goes up from the link's target: the way to
	// to-safe/../data/x ends in safe/data, where MakeDir made it.
	t.Chdir(home)
	os.Mkdir(filepath.Join(safe, "data"), 0o755)
	if walked, err := Way("to-safe/../data/x"); err != nil || walked[len(walked)-1] != filepath.Join(safe, "data") {
		t.Errorf("Way(to-safe/../data/x) walked %v (%v), want it to end at %s", walked, err, filepath.Join(safe, "data"))
	}
}

// An existing file maxwell appends to (the mail log, the archive, the
// SQLite files) that its group or others may write to is refused, as a
// directory is: in a sticky directory anyone may write to, another user
// may have made it, mode 0666, to read what maxwell writes. One its
// owner's private group may write to is fine.
func TestAppendRefusesSharedFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, mode os.FileMode) string {
		path := write(t, dir, name, "precious\n")
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name   string
		mode   os.FileMode
		shared bool // the file's group has another member
		want   string
	}{
		{"open.log", 0o666, false, "open.log is writable by its group and others (mode 0666): whoever else can write to it could change what maxwell writes there; run chmod go-w "},
		{"others.log", 0o602, false, "others.log is writable by others (mode 0602)"},
		{"group.log", 0o660, true, "group.log is writable by its group (mode 0660)"},
		{"private.log", 0o660, false, ""},
		{"mine.log", 0o640, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.shared {
				sharedGroup(t)
			} else {
				groupFiles(t, fmt.Sprintf("me:x:%d:%d::/home/me:/bin/sh\n", os.Getuid(), os.Getgid()), fmt.Sprintf("me:x:%d:\n", os.Getgid()))
			}
			path := file(tc.name, tc.mode)
			err := CheckAppend(path)
			f, aerr := Append(path, 0o600)
			if aerr == nil {
				f.Close()
			}
			for name, err := range map[string]error{"CheckAppend": err, "Append": aerr} {
				switch {
				case tc.want == "" && err != nil:
					t.Errorf("%s(%s) = %v", name, tc.name, err)
				case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
					t.Errorf("%s(%s) = %v, want %q", name, tc.name, err, tc.want)
				}
			}
		})
	}
}

// Parent and Join keep what the kernel would read differently once
// cleaned: a ".." after a name that may be a link.
func TestParentAndJoin(t *testing.T) {
	for _, tc := range []struct{ path, parent string }{
		{"/var/lib/maxwell/maxwell.db", "/var/lib/maxwell"},
		{"lnk/../mail.log", "lnk/.."},
		{"../data", ".."},
		{"data/", "."},
		{"data", "."},
		{"/data", "/"},
		{"//data//", "/"},
		{"/", "/"},
		{"a//b", "a"},
	} {
		if got := Parent(tc.path); got != tc.parent {
			t.Errorf("Parent(%q) = %q, want %q", tc.path, got, tc.parent)
		}
	}
	for _, tc := range []struct{ dir, name, joined string }{
		{"data", "spool", "data/spool"},
		{"./data/", "spool", "data/spool"},
		{"/var/lib/maxwell", "../maxwell.db", "/var/lib/maxwell/../maxwell.db"},
		{"lnk/../data", "spool", "lnk/../data/spool"},
		{"data/", "../x", "data/../x"},
		{"/", "data", "/data"},
	} {
		if got := Join(tc.dir, tc.name); got != tc.joined {
			t.Errorf("Join(%q, %q) = %q, want %q", tc.dir, tc.name, got, tc.joined)
		}
	}
}
