package milter

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/maxwell-milter/maxwell/internal/config"
)

// A unix socket is made with mode 0660 as it is bound, never changed by
// name afterwards: a chmod of the path would follow a link that another
// user swapped in for the new socket, and open the link's target to the
// group. inotify tells every change of a name's attributes (IN_ATTRIB):
// there is none. The process's umask is as it was.
func TestSocketModeWithoutChmod(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.sock")
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE|syscall.IN_ATTRIB); err != nil {
		t.Fatal(err)
	}
	umask := syscall.Umask(0o022)
	syscall.Umask(umask)

	ln, err := Listen(config.MustSocket("unix:"+path), "")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket: %v, %v; want a socket, mode 0660", fi.Mode(), err)
	}
	events := inotifyEvents(t, fd)
	if want := "create m.sock"; len(events) != 1 || events[0] != want {
		t.Errorf("changes in the socket's directory: %q, want only %q", events, want)
	}
	if now := syscall.Umask(umask); now != umask {
		t.Errorf("umask after Listen: %04o, want %04o", now, umask)
	}
}

// inotifyEvents reads what has happened so far, as "create NAME" or
// "attrib NAME".
func inotifyEvents(t *testing.T, fd int) []string {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := syscall.Read(fd, buf)
	if err == syscall.EAGAIN {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for b := buf[:n]; len(b) >= syscall.SizeofInotifyEvent; {
		var e syscall.InotifyEvent
		binary.Read(bytes.NewReader(b), binary.NativeEndian, &e)
		name := strings.TrimRight(string(b[syscall.SizeofInotifyEvent:syscall.SizeofInotifyEvent+int(e.Len)]), "\x00")
		kind := "attrib"
		if e.Mask&syscall.IN_CREATE != 0 {
			kind = "create"
		}
		events = append(events, kind+" "+name)
		b = b[syscall.SizeofInotifyEvent+int(e.Len):]
	}
	return events
}

// With socket_group, the socket gets that group (lchown, which does not
// follow a link) before anyone may connect, and mode 0660.
func TestSocketGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving the socket a group not our own needs root")
	}
	g, err := user.LookupGroupId("65534")
	if err != nil {
		t.Skip("no group 65534 here")
	}
	path := filepath.Join(t.TempDir(), "m.sock")
	ln, err := Listen(config.MustSocket("unix:"+path), g.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); strconv.Itoa(int(st.Gid)) != g.Gid || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket: group %d, mode %v; want group %s, mode 0660", st.Gid, fi.Mode().Perm(), g.Gid)
	}
}

// The socket's directory, and every directory on the way to it, is
// checked as the way to any file maxwell writes: one others may write to
// without the sticky bit is refused by CheckListen (config check) and by
// Listen; a sticky one (/tmp) is fine.
func TestSocketDirectoryChecked(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"open", 0o777}, {"sticky", 0o777 | os.ModeSticky}} {
		os.Mkdir(filepath.Join(dir, d.name), 0o700)
		os.Chmod(filepath.Join(dir, d.name), d.mode)
	}
	open := config.MustSocket("unix:" + filepath.Join(dir, "open", "m.sock"))
	want := filepath.Join(dir, "open") + " is writable by its group and others (mode 0777), on the way to " + filepath.Join(dir, "open", "m.sock")
	if err := CheckListen(open); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("CheckListen(%s) = %v, want %q", open, err, want)
	}
	if ln, err := Listen(open, ""); err == nil || !strings.Contains(err.Error(), want) {
		if err == nil {
			ln.Close()
		}
		t.Errorf("Listen(%s) = %v, want %q", open, err, want)
	}
	sticky := config.MustSocket("unix:" + filepath.Join(dir, "sticky", "m.sock"))
	if err := CheckListen(sticky); err != nil {
		t.Errorf("CheckListen(%s) = %v", sticky, err)
	}
	ln, err := Listen(sticky, "")
	if err != nil {
		t.Fatalf("Listen(%s) = %v", sticky, err)
	}
	ln.Close()
}
