// Package safefile opens the files and directories maxwell's
// configuration names the way an administrator expects and an attacker
// cannot bend: a file read at start is a regular file of bounded size; a
// file appended to is never reached through a symbolic link or a second
// hard link, and no one but its owner may write to it; a state directory
// is a real directory nobody else may write to; and no one else can
// change the way to either, walked as the kernel walks it (Way).
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/maxwell-milter/maxwell/internal/oneline"
)

// MaxSize is the most maxwell reads of a configuration or list file:
// 8 MiB.
const MaxSize = 8 << 20

// Error is a file or directory maxwell refuses, and why.
type Error struct {
	Path    string
	Problem string // "is not a regular file (a named pipe)", ...
	err     error  // the cause, if it is one errors.Is should see
}

func (e *Error) Error() string { return oneline.Name(e.Path) + " " + e.Problem }

// Unwrap returns fs.ErrNotExist for a file or directory that does not
// exist.
func (e *Error) Unwrap() error { return e.err }

func refuse(path, format string, args ...any) error {
	return &Error{Path: path, Problem: fmt.Sprintf(format, args...)}
}

// Read returns the content of a regular file of at most MaxSize bytes. A
// symbolic link to one is fine: administrators link configuration files.
// A named pipe, a device or a directory is refused without being read.
func Read(path string) ([]byte, error) {
	// O_NONBLOCK: a named pipe opens at once instead of waiting for a
	// writer, and is refused below.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, openError(path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, refuse(path, "is a directory, not a file")
	}
	if err := regular(path, fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, refuse(path, "is larger than %d MiB, the most maxwell reads of a configuration or list file", MaxSize>>20)
	}
	return b, nil
}

// Append opens path for appending, creating it with perm if need be. It
// refuses a symbolic link (one planted where the file should be would
// have maxwell write to its target), anything but a regular file, a
// file with another hard link, and one its group or others may write to.
func Append(path string, perm os.FileMode) (*os.File, error) {
	// O_NONBLOCK: a named pipe without a reader fails at once (ENXIO)
	// instead of blocking; regular files ignore the flag.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, perm)
	if err != nil {
		return nil, openError(path, err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = appendable(path, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// CheckAppend tells, without creating anything, whether Append would
// open path safely: the directories on the way to it pass Way, its
// directory exists, and the file, if it is there already, is a regular
// file with a single name that no one but its owner may write to.
func CheckAppend(path string) error {
	if _, err := Way(path); err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		dir := Parent(path)
		di, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return missingDir(dir)
		case err != nil:
			return err
		case !di.IsDir():
			return refuse(dir, "is not a directory")
		}
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return symlink(path, "a file it writes")
	}
	return appendable(path, fi)
}

// appendable refuses a file maxwell must not append to: not a regular
// file, one with another name (a hard link to a file maxwell must not
// write), or one that others may write to (made, mode 0666, by another
// user in a directory anyone may write to, as /tmp: whoever can write to
// it can change what maxwell wrote).
func appendable(path string, fi fs.FileInfo) error {
	if err := regular(path, fi); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return refuse(path, "has %d hard links: another name of it may be a file maxwell must not write; give maxwell a file of its own", st.Nlink)
	}
	if writableByOthers(fi) {
		return refuse(path, "is writable by %s (mode %04o): whoever else can write to it could change what maxwell writes there; run chmod go-w %s",
			writers(fi.Mode()), octal(fi.Mode()), oneline.Name(path))
	}
	return nil
}

// regular refuses what is not a regular file.
func regular(path string, fi fs.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	return refuse(path, "is not a regular file (%s)", kind(fi.Mode()))
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "a special file"
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := os.Stat(Parent(path)); errors.Is(serr, fs.ErrNotExist) {
			return missingDir(Parent(path))
		}
		return &Error{Path: path, Problem: "does not exist", err: fs.ErrNotExist}
	case errors.Is(err, syscall.ELOOP):
		return symlink(path, "a file it writes")
	case errors.Is(err, syscall.ENXIO):
		return refuse(path, "is not a regular file (a named pipe or a device)")
	}
	return err
}

func missingDir(dir string) error {
	return &Error{Path: dir, Problem: "does not exist: create the directory, or give a path in one that does", err: fs.ErrNotExist}
}

func symlink(path, what string) error {
	target, _ := os.Readlink(path)
	return refuse(path, "is a symbolic link (to %s); maxwell does not follow one for %s: remove the link, or give the real path", oneline.Name(target), what)
}

// MakeDir makes path, and its parents, a directory (mode 0750) if it is
// not one yet, and checks it as CheckDir does.
func MakeDir(path string) error {
	if err := CheckDir(path); err != nil {
		return err
	}
	if err := os.MkdirAll(path, 0o750); err != nil {
		return err
	}
	return CheckDir(path)
}

// CheckDir tells whether path is fit to keep maxwell's state in: a real
// directory (not a symbolic link to one), not writable by its group or
// others, who could otherwise plant links there to files maxwell would
// then write, on a way that passes Way. A directory that does not exist
// yet passes if it can be made: its nearest existing parent is a
// directory.
func CheckDir(path string) error {
	if _, err := Way(path); err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return checkParent(path)
	}
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return symlink(path, "a directory it keeps state in")
	case !fi.IsDir():
		return refuse(path, "is not a directory (%s)", kind(fi.Mode()))
	case writableByOthers(fi):
		return refuse(path, "is writable by %s (mode %04o): anyone who can write there could have maxwell overwrite other files; run chmod go-w %s, or give maxwell a directory of its own",
			writers(fi.Mode()), octal(fi.Mode()), oneline.Name(path))
	}
	return nil
}

// writableByOthers reports whether someone other than the owner of a
// directory or file may write to it: its mode lets others write, or its
// group, unless that group is its owner's private group (Debian's user private groups:
// with umask 002 a user's directories are 0775, and no one else is in the
// group), as Debian's OpenSSH judges it.
func writableByOthers(fi fs.FileInfo) bool {
	switch m := fi.Mode().Perm(); {
	case m&0o002 != 0:
		return true
	case m&0o020 == 0:
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || !privateGroup(st.Gid, st.Uid)
}

// Where privateGroup looks the groups and users up; tests point them
// elsewhere.
var groupFile, passwdFile = "/etc/group", "/etc/passwd"

// privateGroup reports whether group gid has no member but user uid: no
// one is listed in it in /etc/group but that user, and no other user of
// /etc/passwd has it as primary group. A group not in /etc/group (from
// NSS elsewhere) is not known to be private.
func privateGroup(gid, uid uint32) bool {
	owner, found := "", false
	for _, f := range colonFile(passwdFile) {
		if len(f) < 4 {
			continue
		}
		switch {
		case f[2] == fmt.Sprint(uid):
			owner = f[0]
		case f[3] == fmt.Sprint(gid):
			return false // another user's primary group
		}
	}
	for _, f := range colonFile(groupFile) {
		if len(f) < 4 || f[2] != fmt.Sprint(gid) {
			continue
		}
		found = true
		for _, m := range strings.Split(f[3], ",") {
			if m != "" && m != owner {
				return false
			}
		}
	}
	return found && owner != ""
}

// colonFile reads a file of colon-separated records, as /etc/group.
func colonFile(path string) [][]string {
	b, err := Read(path)
	if err != nil {
		return nil
	}
	var out [][]string
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, strings.Split(line, ":"))
		}
	}
	return out
}

// octal is a mode as chmod writes it.
func octal(m fs.FileMode) uint32 {
	o := uint32(m.Perm())
	if m&fs.ModeSticky != 0 {
		o |= 0o1000
	}
	return o
}

func writers(m fs.FileMode) string {
	switch m.Perm() & 0o022 {
	case 0o020:
		return "its group"
	case 0o002:
		return "others"
	}
	return "its group and others"
}

func checkParent(path string) error {
	for dir := Parent(path); ; dir = Parent(dir) {
		fi, err := os.Stat(dir)
		if (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && dir != Parent(dir) {
			continue
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return refuse(dir, "is not a directory")
		}
		return nil
	}
}

// maxLinks is how many symbolic links Way follows on one path, as the
// kernel does (ELOOP past 40).
const maxLinks = 40

// Way checks the directories on the way to path — from the root down to
// the one that holds it, as the kernel will walk them when maxwell opens
// path — and returns them, links resolved. No directory on the way may be
// writable by its group or others unless it has the sticky bit (as
// /tmp): whoever can write there could rename what follows and put a
// link in its place, and have maxwell write where they please. A
// symbolic link on the way (/var/run → /run) is followed, and its
// target's way checked in turn, unless someone else could have put it
// there: a link in a sticky directory others may write to must belong to
// root or to the user maxwell runs as. The walk ends at the first name
// that does not exist yet: maxwell makes what is missing, not writable by
// others.
//
// The walk is the kernel's, not the path's text: a relative path starts
// from the working directory as it really is (not $PWD, which may name it
// through a link), and ".." goes up from the directory actually reached,
// after the links before it (in lnk/.. it is the parent of lnk's
// target, not the directory holding lnk).
func Way(path string) ([]string, error) {
	full := path
	if !strings.HasPrefix(path, "/") {
		wd, err := syscall.Getwd() // the kernel's, links resolved
		if err != nil {
			return nil, err
		}
		full = wd + "/" + path
	}
	dir := "/"
	di, err := os.Lstat(dir)
	if err != nil {
		return nil, err
	}
	if err := shared(dir, di, path); err != nil {
		return nil, err
	}
	walked := []string{dir}
	todo := names(Parent(full))
	for links := 0; len(todo) > 0; {
		name := todo[0]
		todo = todo[1:]
		if name == ".." { // dir is reached with its links resolved: its parent is the kernel's
			dir = filepath.Dir(dir)
			if di, err = os.Lstat(dir); err != nil {
				return walked, err
			}
			continue
		}
		next := filepath.Join(dir, name)
		fi, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return walked, nil // made by maxwell
		case err != nil:
			return walked, err
		case fi.Mode()&fs.ModeSymlink != 0:
			if links++; links > maxLinks {
				return walked, refuse(next, "leads through more than %d symbolic links", maxLinks)
			}
			if err := planted(next, fi, dir, di); err != nil {
				return walked, err
			}
			target, err := os.Readlink(next)
			if err != nil {
				return walked, err
			}
			if filepath.IsAbs(target) {
				dir = "/"
				if di, err = os.Lstat(dir); err != nil {
					return walked, err
				}
			}
			todo = append(names(target), todo...)
			continue
		case !fi.IsDir():
			return walked, refuse(next, "is not a directory")
		}
		if err := shared(next, fi, path); err != nil {
			return walked, err
		}
		dir, di = next, fi
		walked = append(walked, dir)
	}
	return walked, nil
}

// Parent is the directory that holds path, as the kernel finds it: path
// without its last name. Unlike filepath.Dir it leaves the rest as it
// is: cleaning lnk/../x to x would go up from the directory holding the
// link lnk, where the kernel goes up from its target.
func Parent(path string) string {
	trimmed := strings.TrimRight(path, "/")
	i := strings.LastIndex(trimmed, "/")
	switch {
	case trimmed == "":
		return "/"
	case i < 0:
		return "."
	case strings.TrimRight(trimmed[:i], "/") == "":
		return "/"
	}
	return strings.TrimRight(trimmed[:i], "/")
}

// Join is name in directory dir, as the kernel will find it: as
// filepath.Join, but a path with ".." in it is left as it is (see
// Parent).
func Join(dir, name string) string {
	joined := strings.TrimRight(dir, "/") + "/" + name
	if dir == "" {
		joined = name
	}
	if slices.Contains(strings.Split(joined, "/"), "..") {
		return joined
	}
	return filepath.Clean(joined)
}

// names are the names a path is made of, without empty ones and ".".
func names(path string) []string {
	var ns []string
	for _, n := range strings.Split(path, "/") {
		if n != "" && n != "." {
			ns = append(ns, n)
		}
	}
	return ns
}

// shared refuses a directory on the way to path that others may write
// to, unless it has the sticky bit.
func shared(dir string, fi fs.FileInfo, path string) error {
	if !writableByOthers(fi) || fi.Mode()&fs.ModeSticky != 0 {
		return nil
	}
	return refuse(dir, "is writable by %s (mode %04o), on the way to %s: whoever can write there could swap in a link and have maxwell write other files; run chmod go-w %s (or chmod +t, as /tmp has)",
		writers(fi.Mode()), octal(fi.Mode()), oneline.Name(path), oneline.Name(dir))
}

// planted refuses a link that someone else could have put on the way:
// one in a sticky directory others may write to (as /tmp), that belongs
// to neither root nor the user maxwell runs as. Elsewhere the directory
// holding the link has passed shared: only its owner could have put it
// there.
func planted(link string, fi fs.FileInfo, dir string, di fs.FileInfo) error {
	if di.Mode()&fs.ModeSticky == 0 || di.Mode().Perm()&0o022 == 0 {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 || int(st.Uid) == os.Geteuid() {
		return nil
	}
	target, _ := os.Readlink(link)
	return refuse(link, "is a symbolic link (to %s) that uid %d put in %s, where anyone may write: maxwell does not follow it; give the real path", oneline.Name(target), st.Uid, oneline.Name(dir))
}

// ForeignOwner reports the owner of path when maxwell runs as root and
// path belongs to another user, who could then plant in it links to
// files root would write (a directory), or read and change what root
// writes (a file): a risk worth a warning, not a refusal (the
// administrator's own tools run as root on the daemon user's directory).
func ForeignOwner(path string) (uid int, foreign bool) {
	fi, err := os.Lstat(path)
	if err != nil || os.Geteuid() != 0 {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), ok && st.Uid != 0
}
